/*
 * tests/bus/test_ring.c -- Property 1: Event delivery completeness.
 *
 * Property: for every reader and every ring, at any moment and in
 * particular once the producer has finished,
 *     delivered + lost == published        (published = head - base)
 * and every delivered entry is bit-exact what the producer wrote, in the
 * order it was written, with a gap only where the cursor counted a loss.
 *
 * Set-up of one run: a producer process (forked, with small rings set
 * through CLIPBUS_RING_RECORDS so that readers get lapped) runs several
 * threads publishing the deterministic workload of workload.c: counts,
 * gauges, labelled observations, log lines with long text (continuation
 * records) and monitored calls with string parameters, some failing.
 * Readers run at different speeds -- flat out, random pauses, bursts,
 * slow, stalled until the producer is done -- both as threads inside the
 * producer process and as separate processes, with cursors
 * (cb_segment_attach, cb_cursor_*) or through the bus API (cb_bus_poll:
 * entry and loss events, whose records must add up the same way). Each reader regenerates every
 * entry it receives from (seed, thread, seq) and compares, tracks order per
 * ring, and at the end checks the accounting identity against the ring's
 * head and base read straight from the segment ABI (ringabi.c).
 *
 * Variants start the record numbers just below a wrap-around (test hook
 * cb__test_set_ring_base): below 2^64 (record numbers wrap), below 2^63
 * (the sequence words 2n+2 wrap) and below 2^32 (catches 32-bit
 * truncation).
 *
 * Deterministic: CB_TEST_SEED picks the workload and the reader pacing;
 * CB_TEST_ITERS the entries per producer thread. Every failure prints the
 * seed; replay with CB_TEST_SEED=<seed>. (Thread scheduling still varies
 * from run to run: the property must hold for every interleaving.)
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <clipbus/clipbus.h>
#include <clipbus/reader.h>

#include "bus_int.h" /* cb__test_set_ring_base() */
#include "cbt.h"
#include "ringabi.h"
#include "workload.h"

#define DEFAULT_SEED UINT64_C(0xc11b0b05eed00001)
#define MAX_RINGS    16
#define MAX_READERS  8
#define RUN_MS       120000

#ifdef CBT_SLOW_BUILD
#define DEFAULT_ENTRIES 20000
#else
#define DEFAULT_ENTRIES 50000
#endif

/* Reader speeds, one character each in a config's speed strings. */
#define SP_FAST    'f' /* flat out */
#define SP_RANDOM  'r' /* random short pauses */
#define SP_BURSTY  'b' /* bursts, then 1-5 ms pauses */
#define SP_SLOW    's' /* slow until the producer is done */
#define SP_STALLED 'z' /* reads nothing until the producer is done */
#define SP_BUS     'B' /* a process reading through cb_bus_poll() */

struct p1_cfg {
    const char *label;
    uint32_t ring_records;
    uint32_t producers;
    const char *thread_speeds; /* reader threads in the producer process */
    const char *proc_speeds;   /* reader processes */
    uint64_t ring_base;        /* 0: library default (0) */
    uint32_t kinds;            /* WL_* mask */
};

struct run {
    const struct p1_cfg *cfg;
    uint64_t seed;
    uint64_t entries;
    struct wl wl;
    char bus[64];
    pid_t producer;
    int ready[2]; /* reader processes -> producer: "attached" */
};

/* One reader, thread or process. */
struct ring_state {
    int init;
    struct cb_cursor cur;
    struct wl_track tr;
    uint64_t start;          /* cursor's first record number */
    uint64_t thread_records; /* records of CB_KIND_THREAD entries */
    uint64_t last_recno;
};

struct reader {
    const struct run *run;
    char shm[128];
    char speed;
    int id;
    int in_process;          /* 1: a thread of the producer process */
    int *done;               /* in-process: the producer's done flag */
    int ready_fd;
    struct cbt_rng rng;
    int failed;
    char why[600];
    uint64_t delivered, lost, published;
    uint32_t rings;
};

/* ---- reading ------------------------------------------------------------ */

static int
reader_fail(struct reader *rd, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (rd->failed)
        return -1;
    rd->failed = 1;
    n = snprintf(rd->why, sizeof rd->why,
                 "seed=0x%" PRIx64 " run=%s reader=%d(%c%s): ", rd->run->seed,
                 rd->run->cfg->label, rd->id, rd->speed,
                 rd->in_process ? ",thread" : ",process");
    va_start(ap, fmt);
    vsnprintf(rd->why + n, sizeof rd->why - (size_t)n, fmt, ap);
    va_end(ap);
    return -1;
}

/* Whether the producer has published its last record. */
static int
producer_done(struct reader *rd, struct cb_segment *seg)
{
    struct cb_segment_counters c;

    if (rd->in_process)
        return __atomic_load_n(rd->done, __ATOMIC_ACQUIRE);
    cb_segment_counters(seg, &c);
    return c.state == CB_SEG_EXITED;
}

static void
pace(struct reader *rd, int fin, uint64_t *burst)
{
    switch (rd->speed) {
    case SP_RANDOM:
        if (cbt_below(&rd->rng, 64) == 0)
            cbt_sleep_us(cbt_below(&rd->rng, 300));
        break;
    case SP_BURSTY:
        if (*burst == 0) {
            cbt_sleep_us(1000 + cbt_below(&rd->rng, 4000));
            *burst = 1 + cbt_below(&rd->rng, 2000);
        }
        --*burst;
        break;
    case SP_SLOW:
        if (!fin && cbt_below(&rd->rng, 8) == 0)
            cbt_sleep_us(50);
        break;
    default:
        break;
    }
}

static int
take_entry(struct reader *rd, struct ring_state *rs, uint32_t ring,
           struct cb_segment *seg, const struct cb_entry *e)
{
    struct wl_id id;
    char why[400];
    int rc;

    if (e->seg != seg || e->ring != ring)
        return reader_fail(rd, "ring %u: entry names seg %p ring %u", ring,
                           (void *)e->seg, e->ring);
    if (rs->tr.entries + rs->thread_records > 0 &&
        e->recno - rs->last_recno - 1 > (UINT64_C(1) << 62))
        return reader_fail(rd, "ring %u: recno %" PRIu64 " after %" PRIu64,
                           ring, e->recno, rs->last_recno);
    rs->last_recno = e->recno;
    rc = wl_check(&rd->run->wl, e, &id, why, sizeof why);
    if (rc == 1) {
        rs->thread_records += 1u + e->head.ext;
        return 0;
    }
    if (rc != 0)
        return reader_fail(rd, "ring %u recno %" PRIu64 ": %s", ring,
                           e->recno, why);
    if (wl_track_entry(&rs->tr, &id, e, rs->cur.lost, why, sizeof why) != 0)
        return reader_fail(rd, "ring %u recno %" PRIu64 ": %s", ring,
                           e->recno, why);
    return 0;
}

/* One pass over every ring; sets *drained when every cursor is at the
 * end. Returns entries read, or -1 on failure. */
static long
read_pass(struct reader *rd, struct cb_segment *seg, struct ring_state *rs,
          int fin, uint64_t *burst, int *drained)
{
    uint32_t n = cb_segment_rings(seg);
    long got = 0;

    if (n > MAX_RINGS)
        return reader_fail(rd, "%u rings, more than the %u configured", n,
                           MAX_RINGS);
    *drained = 1;
    for (uint32_t i = 0; i < n; i++) {
        struct ring_state *r = &rs[i];
        int k;
        if (!r->init) {
            int rc = cb_cursor_init(&r->cur, seg, i, CB_FROM_OLDEST);
            if (rc != 0)
                return reader_fail(rd, "cb_cursor_init(ring %u): %s", i,
                                   cb_strerror(rc));
            r->init = 1;
            r->start = r->cur.next;
        }
        for (k = 0; k < 256; k++) {
            struct cb_entry e;
            int rc = cb_cursor_next(&r->cur, &e);
            if (rc == 0)
                break;
            if (rc < 0)
                return reader_fail(rd, "ring %u: cb_cursor_next: %s at "
                                   "record %" PRIu64, i, cb_strerror(rc),
                                   r->cur.next);
            if (take_entry(rd, r, i, seg, &e) != 0)
                return -1;
            got++;
            pace(rd, fin, burst);
        }
        if (k == 256)
            *drained = 0;
    }
    return got;
}

static int
check_final(struct reader *rd, struct cb_segment *seg, struct ring_state *rs)
{
    uint32_t n = cb_segment_rings(seg);
    uint32_t seen = 0;

    rd->rings = n;
    for (uint32_t i = 0; i < n; i++) {
        struct ring_state *r = &rs[i];
        uint64_t base, head, published, api_head;
        if (ringabi_read(rd->shm, i, &base, &head) != 0)
            return reader_fail(rd, "ring %u: cannot read its header", i);
        published = head - base;
        rd->delivered += r->cur.delivered;
        rd->lost += r->cur.lost;
        rd->published += published;
        if (r->cur.delivered + r->cur.lost != published)
            return reader_fail(rd, "ring %u: delivered %" PRIu64 " + lost %"
                               PRIu64 " != published %" PRIu64 " (base %"
                               PRIu64 " head %" PRIu64 " cursor start %"
                               PRIu64 " next %" PRIu64 ")", i,
                               r->cur.delivered, r->cur.lost, published,
                               base, head, r->start, r->cur.next);
        if (r->cur.next != head || cb_cursor_lag(&r->cur) != 0)
            return reader_fail(rd, "ring %u: drained cursor at %" PRIu64
                               " (lag %" PRIu64 "), head %" PRIu64, i,
                               r->cur.next, cb_cursor_lag(&r->cur), head);
        api_head = cb_segment_head(seg, i);
        if (api_head != head || cb_segment_published(seg, i) != head)
            return reader_fail(rd, "ring %u: cb_segment_head %" PRIu64
                               ", cb_segment_published %" PRIu64
                               ", ABI head %" PRIu64 " base %" PRIu64, i,
                               api_head, cb_segment_published(seg, i), head,
                               base);
        if (r->tr.records + r->thread_records != r->cur.delivered)
            return reader_fail(rd, "ring %u: entries hold %" PRIu64
                               " records, cursor says %" PRIu64
                               " delivered", i,
                               r->tr.records + r->thread_records,
                               r->cur.delivered);
        if (!r->tr.have || r->tr.next_seq != rd->run->entries)
            return reader_fail(rd, "ring %u: last entry delivered is seq %"
                               PRIu64 ", the producer wrote %" PRIu64
                               " (the tail is never overwritten)", i,
                               r->tr.have ? r->tr.next_seq - 1 : 0,
                               rd->run->entries);
        if (r->tr.t >= 32 || (seen & (1u << r->tr.t)))
            return reader_fail(rd, "ring %u: thread %u seen twice", i,
                               r->tr.t);
        seen |= 1u << r->tr.t;
    }
    if (seen != (1u << rd->run->cfg->producers) - 1)
        return reader_fail(rd, "threads seen 0x%x, want %u threads", seen,
                           rd->run->cfg->producers);
    return 0;
}

static int
attach_retry(struct reader *rd, struct cb_segment **seg)
{
    uint64_t end = cbt_mono_ns() + UINT64_C(10000000000);
    char why[256] = "";
    int rc;

    for (;;) {
        rc = cb_segment_attach(rd->shm, 0, seg, why, sizeof why);
        if (rc == 0)
            return 0;
        /* CB_EBADSEG too: a segment caught between shm_open() and
         * ftruncate() is 0 bytes long (see test_bus.c, mid-creation). */
        if ((rc != CB_ENOTREADY && rc != -ENOENT && rc != CB_EBADSEG) ||
            cbt_mono_ns() > end)
            return reader_fail(rd, "cb_segment_attach(%s): %s: %s", rd->shm,
                               cb_strerror(rc), why);
        cbt_sleep_us(200);
    }
}

static int
reader_run(struct reader *rd)
{
    struct cb_segment *seg = NULL;
    struct ring_state *rs = NULL;
    uint64_t burst = 0, polls = 0;
    int drained = 0;

    if (attach_retry(rd, &seg) != 0)
        goto out;
    if (rd->ready_fd >= 0 && write(rd->ready_fd, "r", 1) != 1) {
        reader_fail(rd, "ready pipe: %s", strerror(errno));
        goto out;
    }
    rs = calloc(MAX_RINGS, sizeof *rs);
    if (rs == NULL) {
        reader_fail(rd, "out of memory");
        goto out;
    }
    while (rd->speed == SP_STALLED && !producer_done(rd, seg))
        cbt_sleep_us(2000);
    for (;;) {
        int fin = producer_done(rd, seg);
        long got = read_pass(rd, seg, rs, fin, &burst, &drained);
        if (got < 0)
            goto out;
        if (fin && drained)
            break;
        if (!rd->in_process && ++polls % 4096 == 0 &&
            cb_segment_liveness(seg) == CB_PRODUCER_DEAD) {
            reader_fail(rd, "the producer died");
            goto out;
        }
        if (got == 0)
            cbt_sleep_us(fin ? 0 : 30);
    }
    check_final(rd, seg, rs);
out:
    free(rs);
    if (seg != NULL)
        cb_segment_detach(seg);
    return rd->failed;
}

static void *
reader_thread(void *arg)
{
    reader_run(arg);
    return NULL;
}

/* ---- a reader of the whole bus (cb_bus_*) -------------------------------- */

struct bus_reader {
    struct reader *rd;
    struct ring_state rs[MAX_RINGS];
    uint64_t lost[MAX_RINGS];  /* from CB_EV_LOSS */
    int exited, died, fresh;
    uint64_t burst;
};

static int
bus_event(void *arg, const struct cb_event *ev)
{
    struct bus_reader *br = arg;
    struct reader *rd = br->rd;

    switch (ev->type) {
    case CB_EV_ENTRY: {
        struct ring_state *r;
        struct wl_id id;
        char why[400];
        int rc;
        if (ev->entry->ring >= MAX_RINGS)
            return reader_fail(rd, "entry of ring %u", ev->entry->ring);
        r = &br->rs[ev->entry->ring];
        rc = wl_check(&rd->run->wl, ev->entry, &id, why, sizeof why);
        if (rc == 1) {
            r->thread_records += 1u + ev->entry->head.ext;
            return 0;
        }
        if (rc != 0)
            return reader_fail(rd, "bus: ring %u recno %" PRIu64 ": %s",
                               ev->entry->ring, ev->entry->recno, why);
        /* Loss events come after the entries of a batch, so a gap is
         * checked against the final accounting, not here: pass a loss
         * count that always allows it. */
        r->tr.lost_seen = 0;
        if (wl_track_entry(&r->tr, &id, ev->entry, UINT64_MAX / 2, why,
                           sizeof why) != 0)
            return reader_fail(rd, "bus: ring %u recno %" PRIu64 ": %s",
                               ev->entry->ring, ev->entry->recno, why);
        pace(rd, 0, &br->burst);
        return 0;
    }
    case CB_EV_LOSS:
        if (ev->ring < MAX_RINGS)
            br->lost[ev->ring] += ev->count;
        return 0;
    case CB_EV_PRODUCER_NEW:
        br->fresh++;
        return 0;
    case CB_EV_PRODUCER_EXIT:
        br->exited++;
        return 0;
    case CB_EV_PRODUCER_DIED:
        br->died++;
        return 0;
    case CB_EV_BAD_SEGMENT:
        return reader_fail(rd, "bus: bad segment: %s", ev->why);
    default:
        return 0;
    }
}

/* Reads the run through cb_bus_poll() until the producer's EXIT event,
 * then checks per ring: records of delivered entries + loss events ==
 * published, and the bus totals. */
static int
bus_reader_run(struct reader *rd)
{
    struct cb_bus_opts o = {.program = "p1-bus", .no_gc = 1};
    struct bus_reader *br = calloc(1, sizeof *br);
    struct cb_bus_stats st;
    struct cb_bus *b = NULL;
    uint64_t end = cbt_mono_ns() + (uint64_t)RUN_MS * 1000000u;
    uint64_t published = 0;
    int rc;

    if (br == NULL)
        return reader_fail(rd, "out of memory");
    br->rd = rd;
    rc = cb_bus_open(rd->run->bus, &o, &b);
    if (rc != 0) {
        free(br);
        return reader_fail(rd, "cb_bus_open: %s", cb_strerror(rc));
    }
    if (rd->ready_fd >= 0 && write(rd->ready_fd, "r", 1) != 1)
        reader_fail(rd, "ready pipe: %s", strerror(errno));
    while (!rd->failed && br->exited == 0 && br->died == 0 &&
           cbt_mono_ns() < end) {
        if (cb_bus_poll(b, bus_event, br, 1 + cbt_below(&rd->rng, 3000)) < 0)
            reader_fail(rd, "cb_bus_poll failed");
        if (cbt_below(&rd->rng, 4) == 0)
            cbt_sleep_us(cbt_below(&rd->rng, 500));
    }
    cb_bus_stats(b, &st);
    if (!rd->failed && (br->exited != 1 || br->died != 0 || br->fresh != 1))
        reader_fail(rd, "bus: %d EXIT, %d DIED, %d NEW events (want 1, 0, "
                    "1)", br->exited, br->died, br->fresh);
    for (uint32_t i = 0; !rd->failed && i < rd->run->cfg->producers; i++) {
        struct ring_state *r = &br->rs[i];
        uint64_t base, head;
        if (ringabi_read(rd->shm, i, &base, &head) != 0) {
            reader_fail(rd, "bus: ring %u: cannot read its header", i);
            break;
        }
        published += head - base;
        rd->delivered += r->tr.records + r->thread_records;
        rd->lost += br->lost[i];
        if (r->tr.records + r->thread_records + br->lost[i] != head - base)
            reader_fail(rd, "bus: ring %u: entries hold %" PRIu64
                        " records, loss events %" PRIu64 ", published %"
                        PRIu64, i, r->tr.records + r->thread_records,
                        br->lost[i], head - base);
        else if (!r->tr.have || r->tr.next_seq != rd->run->entries)
            reader_fail(rd, "bus: ring %u: last entry is not the last "
                        "published", i);
    }
    rd->published = published;
    rd->rings = rd->run->cfg->producers;
    if (!rd->failed && (st.delivered + st.lost != published ||
                        st.lost != rd->lost))
        reader_fail(rd, "bus: stats delivered %" PRIu64 " + lost %" PRIu64
                    " != published %" PRIu64 " (loss events %" PRIu64 ")",
                    st.delivered, st.lost, published, rd->lost);
    cb_bus_close(b);
    free(br);
    return rd->failed;
}

static int
reader_proc(void *arg)
{
    struct reader *rd = arg;
    if (rd->speed == SP_BUS)
        bus_reader_run(rd);
    else
        reader_run(rd);
    if (rd->failed)
        fprintf(stderr, "FAIL %s\n", rd->why);
    else
        printf("    %s reader %d (%c, process): rings %u delivered %" PRIu64
               " lost %" PRIu64 " published %" PRIu64 "\n",
               rd->run->cfg->label, rd->id, rd->speed, rd->rings,
               rd->delivered, rd->lost, rd->published);
    return rd->failed ? 1 : 0;
}

/* ---- producing ---------------------------------------------------------- */

struct prod {
    const struct run *run;
    uint32_t t;
};

static void *
producer_thread(void *arg)
{
    const struct prod *p = arg;
    struct cbt_rng r = {cbt_mix(p->run->seed, 0xbeef00u + p->t)};
    uint64_t burst = 1 + cbt_below(&r, 1000);
    char name[16];

    snprintf(name, sizeof name, "p1-prod-%u", p->t);
    pthread_setname_np(pthread_self(), name);
    for (uint64_t seq = 0; seq < p->run->entries; seq++) {
        wl_emit(&p->run->wl, p->t, seq);
        if (--burst == 0) {
            /* Bursts flat out (readers get lapped), then pauses, some
             * long enough for fast readers to catch up (no loss). */
            cbt_sleep_us(cbt_below(&r, 4) == 0 ? 1000 + cbt_below(&r, 2000)
                                               : cbt_below(&r, 300));
            burst = 1 + cbt_below(&r, 1000);
        }
    }
    return NULL;
}

static int
wait_ready(int fd, size_t n)
{
    char buf[MAX_READERS];
    size_t got = 0;

    while (got < n) {
        struct pollfd pfd = {fd, POLLIN, 0};
        if (poll(&pfd, 1, 10000) <= 0)
            return -1;
        ssize_t k = read(fd, buf, n - got);
        if (k <= 0)
            return -1;
        got += (size_t)k;
    }
    return 0;
}

/* The producer process: reader threads, then producer threads. */
static int
producer_main(void *arg)
{
    struct run *run = arg;
    const struct p1_cfg *cfg = run->cfg;
    size_t nt = strlen(cfg->thread_speeds);
    pthread_t rt[MAX_READERS], pt[32];
    struct reader *rds = calloc(MAX_READERS, sizeof *rds);
    struct prod prods[32];
    char env[32];
    int done = 0, fails = 0, rc;

    snprintf(env, sizeof env, "%u", cfg->ring_records);
    setenv("CLIPBUS_RING_RECORDS", env, 1);
    setenv("CLIPBUS_RINGS", "8", 1);
    if (cfg->ring_base != 0)
        cb__test_set_ring_base(cfg->ring_base);
    rc = cb_open(run->bus);
    if (rc != 0 || rds == NULL) {
        fprintf(stderr, "FAIL seed=0x%" PRIx64 " run=%s: cb_open: %s\n",
                run->seed, cfg->label, cb_strerror(rc));
        return 2;
    }
    for (size_t i = 0; i < nt; i++) {
        struct reader *rd = &rds[i];
        rd->run = run;
        rd->speed = cfg->thread_speeds[i];
        rd->id = (int)i;
        rd->in_process = 1;
        rd->done = &done;
        rd->ready_fd = -1;
        rd->rng.s = cbt_mix(run->seed, 0x7ead00u + i);
        if (cbt_find_segment(run->bus, getpid(), rd->shm, sizeof rd->shm))
            return 3;
        pthread_create(&rt[i], NULL, reader_thread, rd);
    }
    if (wait_ready(run->ready[0], strlen(cfg->proc_speeds)) != 0) {
        fprintf(stderr, "FAIL seed=0x%" PRIx64 " run=%s: reader processes "
                "did not attach in 10 s\n", run->seed, cfg->label);
        fails++;
    }
    for (uint32_t t = 0; t < cfg->producers; t++) {
        prods[t].run = run;
        prods[t].t = t;
        pthread_create(&pt[t], NULL, producer_thread, &prods[t]);
    }
    for (uint32_t t = 0; t < cfg->producers; t++)
        pthread_join(pt[t], NULL);
    __atomic_store_n(&done, 1, __ATOMIC_RELEASE);
    for (size_t i = 0; i < nt; i++) {
        pthread_join(rt[i], NULL);
        if (rds[i].failed) {
            fprintf(stderr, "FAIL %s\n", rds[i].why);
            fails++;
        } else {
            printf("    %s reader %zu (%c, thread): rings %u delivered %"
                   PRIu64 " lost %" PRIu64 " published %" PRIu64 "\n",
                   cfg->label, i, rds[i].speed, rds[i].rings,
                   rds[i].delivered, rds[i].lost, rds[i].published);
        }
    }
    free(rds);
    cb_close();
    return fails ? 1 : 0;
}

/* ---- one run ------------------------------------------------------------ */

static void
run_property(const struct p1_cfg *cfg)
{
    struct run run;
    struct reader rds[MAX_READERS];
    pid_t readers[MAX_READERS];
    size_t np = strlen(cfg->proc_speeds);
    char buf[64];
    int status, failed = 0;

    memset(&run, 0, sizeof run);
    run.cfg = cfg;
    run.seed = cbt_seed(DEFAULT_SEED);
    for (const char *l = cfg->label; *l != '\0'; l++)
        run.seed = cbt_mix(run.seed, (uint8_t)*l); /* one stream per run */
    run.entries = cbt_iters(DEFAULT_ENTRIES);
    run.wl.seed = run.seed;
    run.wl.kinds = cfg->kinds;
    cbt_bus(run.bus, sizeof run.bus, "p1");
    assert_int_equal(pipe(run.ready), 0);

    run.producer = cbt_fork(producer_main, &run);
    assert_true(run.producer > 0);
    for (size_t i = 0; i < np; i++) {
        struct reader *rd = &rds[i];
        memset(rd, 0, sizeof *rd);
        rd->run = &run;
        rd->speed = cfg->proc_speeds[i];
        rd->id = (int)(10 + i);
        rd->ready_fd = run.ready[1];
        rd->rng.s = cbt_mix(run.seed, 0x9e0c00u + i);
        if (cbt_wait_segment(run.bus, run.producer, rd->shm, sizeof rd->shm,
                             10000) != 0) {
            failed = 1;
            print_error("seed=0x%" PRIx64 " run=%s: no segment of producer "
                        "%ld\n", run.seed, cfg->label, (long)run.producer);
            np = i;
            break;
        }
        readers[i] = cbt_fork(reader_proc, rd);
    }
    if (cbt_wait(run.producer, RUN_MS, &status) != 0 || status != 0) {
        failed = 1;
        print_error("seed=0x%" PRIx64 " run=%s: producer process: %s\n",
                    run.seed, cfg->label, cbt_status_str(status, buf,
                                                         sizeof buf));
    }
    for (size_t i = 0; i < np; i++) {
        if (cbt_wait(readers[i], RUN_MS, &status) != 0 || status != 0) {
            failed = 1;
            print_error("seed=0x%" PRIx64 " run=%s: reader process %zu: %s\n",
                        run.seed, cfg->label, i,
                        cbt_status_str(status, buf, sizeof buf));
        }
    }
    close(run.ready[0]);
    close(run.ready[1]);
    cbt_unlink_bus(run.bus);
    if (failed)
        fail_msg("Property 1 failed: seed=0x%" PRIx64 " run=%s (replay with "
                 "CB_TEST_SEED=0x%" PRIx64 ")", run.seed, cfg->label,
                 cbt_seed(DEFAULT_SEED));
}

/* ---- the tests ---------------------------------------------------------- */

static void
test_p1_threads_small_ring_every_reader_accounts_exactly(void **state)
{
    static const struct p1_cfg c = {"threads64", 64, 2, "frbz", "", 0, 0};
    (void)state;
    run_property(&c);
}

static void
test_p1_processes_every_reader_accounts_exactly(void **state)
{
    static const struct p1_cfg c = {"procs256", 256, 2, "", "frszB", 0, 0};
    (void)state;
    run_property(&c);
}

static void
test_p1_threads_and_processes_mixed(void **state)
{
    static const struct p1_cfg c = {"mixed1024", 1024, 3, "fb", "rzB", 0, 0};
    (void)state;
    run_property(&c);
}

static void
test_p1_record_numbers_wrap_past_2_64(void **state)
{
    static const struct p1_cfg c = {"wrap64", 64, 2, "fr", "bzB",
                                     UINT64_MAX - 150, 0};
    (void)state;
    run_property(&c);
}

static void
test_p1_sequence_words_wrap_past_2_64(void **state)
{
    /* Record 2^63 - 1 has sequence 2n+2 = 2^64: the publication words
     * wrap here even though record numbers do not. */
    static const struct p1_cfg c = {"wrapseq", 128, 2, "fr", "bz",
                                    (UINT64_C(1) << 63) - 150, 0};
    (void)state;
    run_property(&c);
}

static void
test_p1_record_numbers_cross_2_32(void **state)
{
    static const struct p1_cfg c = {"wrap32", 256, 2, "fb", "rz",
                                    (UINT64_C(1) << 32) - 150, 0};
    (void)state;
    run_property(&c);
}

static void
test_p1_long_entries_only_on_minimum_ring(void **state)
{
    /* Log lines of up to 900 bytes are 20-record entries: a 64-record ring
     * holds three. Readers must get them whole or count them lost whole. */
    static const struct p1_cfg c = {"logs64", 64, 2, "fr", "sz", 0, WL_LOG};
    (void)state;
    run_property(&c);
}

/* ---- a reader at the overwrite point ------------------------------------ */

/* Readers that keep up, or that jump with slack after being lapped, rarely
 * copy a slot at the moment the writer overwrites it. This one does so on
 * purpose: it places its cursor (caller's memory, public fields) on the
 * oldest record of the ring -- the slot the writer overwrites next -- and
 * reads, again and again, while a thread publishes one-record counts flat
 * out. Record number minus count value is the same for every record of
 * the ring, so a copy mixing two laps is caught by its value. */
struct race {
    struct wl wl;
    char shm[128];
    uint64_t stop_ns;
    int done;
};

static void *
race_writer(void *arg)
{
    struct race *r = arg;
    for (uint64_t seq = 0; cbt_mono_ns() < r->stop_ns; seq++)
        wl_emit(&r->wl, 0, seq);
    __atomic_store_n(&r->done, 1, __ATOMIC_RELEASE);
    return NULL;
}

static int
race_main(void *arg)
{
    struct race *r = arg;
    struct cb_segment *seg = NULL;
    struct cb_cursor *cur = malloc(sizeof *cur);
    struct cb_entry e;
    struct cbt_rng rng = {r->wl.seed};
    uint64_t base, head, reads = 0, torn = 0, got = 0;
    char why[256];
    pthread_t th;

    setenv("CLIPBUS_RING_RECORDS", "64", 1);
    if (cur == NULL || cb_open(r->shm) != 0)
        return 2;
    cb_count("race.warm", 0); /* main thread: ring 0, unused after */
    if (cbt_find_segment(r->shm, getpid(), why, sizeof why) != 0 ||
        cb_segment_attach(why, 0, &seg, NULL, 0) != 0)
        return 3;
    pthread_create(&th, NULL, race_writer, r);
    while (cb_segment_rings(seg) < 2)
        cbt_sleep_us(100);
    if (cb_cursor_init(cur, seg, 1, CB_FROM_OLDEST) != 0)
        return 4;
    /* Bind the cursor; the first count fixes recno - value, the same for
     * every record of this ring (one-record entries only). */
    while (cb_cursor_next(cur, &e) != 1 || e.head.kind != CB_KIND_COUNT)
        ;
    base = e.recno - e.head.value;
    while (!__atomic_load_n(&r->done, __ATOMIC_ACQUIRE)) {
        head = cb_segment_head(seg, 1);
        cur->next = head - 64 + cbt_below(&rng, 3);
        if (cb_cursor_next(cur, &e) == 1 && e.head.kind == CB_KIND_COUNT) {
            uint64_t want = e.recno - base; /* thread 0: key == seq */
            got++;
            if (e.head.value != want) {
                if (torn++ == 0)
                    fprintf(stderr, "FAIL record %" PRIu64 " carries count "
                            "%" PRIu64 ", expected %" PRIu64 ": a torn "
                            "copy\n", e.recno, e.head.value, want);
            }
        }
        reads++;
    }
    pthread_join(th, NULL);
    printf("    overwrite-point reader: %" PRIu64 " reads, %" PRIu64
           " records delivered, %" PRIu64 " torn\n", reads, got, torn);
    cb_segment_detach(seg);
    free(cur);
    cb_close();
    return torn == 0 && got > 0 ? 0 : 1;
}

static void
test_p1_reader_at_overwrite_point_never_gets_torn_record(void **state)
{
    struct race r;
    char st[64];
    int status;
    pid_t pid;

    (void)state;
    memset(&r, 0, sizeof r);
    r.wl.seed = cbt_seed(DEFAULT_SEED);
    r.wl.kinds = WL_COUNT;
    cbt_bus(r.shm, sizeof r.shm, "race");
    r.stop_ns = cbt_mono_ns() + 300000000u;
    pid = cbt_fork(race_main, &r);
    assert_true(pid > 0);
    assert_int_equal(cbt_wait(pid, RUN_MS, &status), 0);
    cbt_unlink_bus(r.shm);
    if (status != 0)
        fail_msg("seed=0x%" PRIx64 ": overwrite-point reader: %s", r.wl.seed,
                 cbt_status_str(status, st, sizeof st));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_p1_threads_small_ring_every_reader_accounts_exactly),
        cmocka_unit_test(test_p1_processes_every_reader_accounts_exactly),
        cmocka_unit_test(test_p1_threads_and_processes_mixed),
        cmocka_unit_test(test_p1_record_numbers_wrap_past_2_64),
        cmocka_unit_test(test_p1_sequence_words_wrap_past_2_64),
        cmocka_unit_test(test_p1_record_numbers_cross_2_32),
        cmocka_unit_test(test_p1_long_entries_only_on_minimum_ring),
        cmocka_unit_test(test_p1_reader_at_overwrite_point_never_gets_torn_record),
    };
    printf("Property 1: Event delivery completeness; seed=0x%" PRIx64
           " entries/thread=%" PRIu64 "\n", cbt_seed(DEFAULT_SEED),
           cbt_iters(DEFAULT_ENTRIES));
    return cmocka_run_group_tests_name("bus.ring", tests, NULL, NULL);
}
