/*
 * tests/bus/test_ring_kill.c -- a producer killed with SIGKILL mid-write,
 * repeatedly: readers never deliver a torn record, and the accounting
 * still holds.
 *
 * Each round forks a producer that publishes the workload of workload.c
 * flat out from two threads (many entries are multi-record log lines, so a
 * kill often lands between the records of one entry), while this process
 * reads concurrently with a cursor per ring. After a random 1-30 ms the
 * producer is killed. Then:
 *  - the concurrent reader drains what is left, and a second reader that
 *    attaches only now reads from the oldest record;
 *  - every delivered entry must pass the workload check (bit-exact, in
 *    order; a torn copy would fail it);
 *  - per ring, after cb_cursor_finish() (which counts an entry the
 *    producer never finished as lost), delivered + lost == published,
 *    where published is head plus the records published after the last
 *    head store, read from the slots (ringabi.c) and compared with
 *    cb_segment_published(); the cursors end exactly there;
 *  - the segment reads as dead (cb_segment_liveness).
 * The rounds also count how often the kill left a record half-written
 * (an odd sequence) or records published past head, to show that the
 * interesting cases were hit.
 *
 * CB_TEST_ITERS: rounds (default 20); CB_TEST_SEED: workload and timing.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <clipbus/clipbus.h>
#include <clipbus/reader.h>

#include "cbt.h"
#include "ringabi.h"
#include "workload.h"

#define DEFAULT_SEED UINT64_C(0xc11b0b05eed00002)
#define NTHREADS     2
#define MAX_RINGS    4

#ifdef CBT_SLOW_BUILD
#define DEFAULT_ROUNDS 12
#else
#define DEFAULT_ROUNDS 20
#endif

struct kill_ctx {
    uint64_t seed;
    uint32_t round;
    uint32_t ring_records;
    struct wl wl;
    char bus[64];
};

/* ---- the victim --------------------------------------------------------- */

struct victim_thread {
    const struct kill_ctx *k;
    uint32_t t;
};

static void *
victim_thread(void *arg)
{
    const struct victim_thread *v = arg;
    for (uint64_t seq = 0;; seq++)
        wl_emit(&v->k->wl, v->t, seq);
    return NULL;
}

static int
victim_main(void *arg)
{
    const struct kill_ctx *k = arg;
    struct victim_thread vt[NTHREADS];
    pthread_t th[NTHREADS];
    char env[16];

    snprintf(env, sizeof env, "%u", k->ring_records);
    setenv("CLIPBUS_RING_RECORDS", env, 1);
    setenv("CLIPBUS_RINGS", "4", 1);
    if (cb_open(k->bus) != 0)
        return 2;
    for (uint32_t t = 0; t < NTHREADS; t++) {
        vt[t].k = k;
        vt[t].t = t;
        pthread_create(&th[t], NULL, victim_thread, &vt[t]);
    }
    for (;;)
        pause();
}

/* ---- the readers -------------------------------------------------------- */

struct kreader {
    struct cb_cursor cur[MAX_RINGS];
    struct wl_track tr[MAX_RINGS];
    int init[MAX_RINGS];
    uint64_t thread_records[MAX_RINGS];
    uint64_t entries;
};

/* Reads what is there on every ring. Returns 0, or -1 after fail_msg. */
static int
kread(const struct kill_ctx *k, struct cb_segment *seg, struct kreader *r,
      const char *who)
{
    uint32_t n = cb_segment_rings(seg);
    char why[400];

    if (n > MAX_RINGS)
        fail_msg("seed=0x%" PRIx64 " round %u: %u rings", k->seed, k->round,
                 n);
    for (uint32_t i = 0; i < n; i++) {
        struct cb_entry e;
        struct wl_id id;
        int rc;
        if (!r->init[i]) {
            assert_int_equal(cb_cursor_init(&r->cur[i], seg, i,
                                             CB_FROM_OLDEST), 0);
            r->init[i] = 1;
        }
        while ((rc = cb_cursor_next(&r->cur[i], &e)) == 1) {
            rc = wl_check(&k->wl, &e, &id, why, sizeof why);
            if (rc == 1) {
                r->thread_records[i] += 1u + e.head.ext;
                continue;
            }
            if (rc != 0 || wl_track_entry(&r->tr[i], &id, &e,
                                          r->cur[i].lost, why,
                                          sizeof why) != 0)
                fail_msg("seed=0x%" PRIx64 " round %u %s reader ring %u "
                         "recno %" PRIu64 ": %s", k->seed, k->round, who, i,
                         e.recno, why);
            r->entries++;
        }
        if (rc < 0)
            fail_msg("seed=0x%" PRIx64 " round %u %s reader ring %u: "
                     "cb_cursor_next: %s", k->seed, k->round, who, i,
                     cb_strerror(rc));
    }
    return 0;
}

static void
kcheck(const struct kill_ctx *k, struct cb_segment *seg, struct kreader *r,
       const char *shm, const char *who)
{
    uint32_t n = cb_segment_rings(seg);

    for (uint32_t i = 0; i < n; i++) {
        uint64_t base, head, lost0;
        /* "Published" of a killed producer: head plus the records it
         * published after its last head store (a whole single-record
         * entry is deliverable; an unfinished entry is never whole). */
        assert_int_equal(ringabi_published(shm, i, &base, &head), 0);
        if (!r->init[i])
            fail_msg("seed=0x%" PRIx64 " round %u %s reader: ring %u never "
                     "read", k->seed, k->round, who, i);
        if (cb_segment_published(seg, i) != head)
            fail_msg("seed=0x%" PRIx64 " round %u ring %u: "
                     "cb_segment_published %" PRIu64 ", the slots say %"
                     PRIu64, k->seed, k->round, i,
                     cb_segment_published(seg, i), head);
        /* What can never be delivered is counted lost, once. */
        lost0 = r->cur[i].lost;
        uint64_t fin = cb_cursor_finish(&r->cur[i]);
        if (r->cur[i].lost != lost0 + fin || cb_cursor_finish(&r->cur[i]))
            fail_msg("seed=0x%" PRIx64 " round %u ring %u: "
                     "cb_cursor_finish returned %" PRIu64 " but lost went "
                     "from %" PRIu64 " to %" PRIu64 " (or counted twice)",
                     k->seed, k->round, i, fin, lost0, r->cur[i].lost);
        if (r->cur[i].delivered + r->cur[i].lost != head - base ||
            r->cur[i].next != head)
            fail_msg("seed=0x%" PRIx64 " round %u %s reader ring %u: "
                     "delivered %" PRIu64 " + lost %" PRIu64 " vs published %"
                     PRIu64 ", cursor %" PRIu64 " published up to %" PRIu64,
                     k->seed,
                     k->round, who, i, r->cur[i].delivered, r->cur[i].lost,
                     head - base, r->cur[i].next, head);
        if (r->tr[i].records + r->thread_records[i] != r->cur[i].delivered)
            fail_msg("seed=0x%" PRIx64 " round %u %s reader ring %u: "
                     "entries hold %" PRIu64 " records, delivered says %"
                     PRIu64, k->seed, k->round, who, i,
                     r->tr[i].records + r->thread_records[i],
                     r->cur[i].delivered);
    }
}

/* How the kill left ring i: bit 0 set when a record was half-written
 * (an odd sequence right after the published records), bit 1 when
 * records were published after the last head store. */
static int
kill_state(const char *shm, uint32_t ring)
{
    struct stat st;
    int fd = shm_open(shm, O_RDONLY, 0), state = 0;
    uint64_t base, head;
    void *map;

    if (fd < 0 || ringabi_read(shm, ring, &base, &head) != 0 ||
        fstat(fd, &st) != 0) {
        if (fd >= 0)
            close(fd);
        return 0;
    }
    map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
    close(fd);
    if (map == MAP_FAILED)
        return 0;
    const struct cb_seg_header *h = map;
    const struct cb_record *slots =
        (const struct cb_record *)((const char *)map + h->rings_offset +
                                   ring * h->ring_stride +
                                   CB_RING_HEADER_SIZE);
    uint64_t mask = h->ring_records - 1;
    for (uint64_t n = head; n < head + h->ring_records; n++) {
        uint64_t seq = slots[n & mask].seq;
        if (seq == 2 * n + 1)
            state |= 1;
        if (seq != 2 * n + 2)
            break;
        state |= 2;
    }
    munmap(map, (size_t)st.st_size);
    return state;
}

static void
test_sigkill_mid_write_never_delivers_torn_record(void **unused)
{
    uint64_t seed = cbt_seed(DEFAULT_SEED);
    uint64_t rounds = cbt_iters(DEFAULT_ROUNDS);
    struct cbt_rng rng = {seed};
    struct kreader *live = malloc(sizeof *live);
    struct kreader *late = malloc(sizeof *late);
    static const uint32_t sizes[] = {64, 256, 1024, 4096};
    unsigned mid_record = 0, mid_entry = 0;
    uint64_t delivered = 0, lost = 0;

    (void)unused;
    assert_non_null(live);
    assert_non_null(late);
    for (uint32_t round = 0; round < rounds; round++) {
        struct kill_ctx k;
        struct cb_segment *seg = NULL, *seg2 = NULL;
        char shm[128], why[256];
        pid_t pid;
        int status;

        memset(&k, 0, sizeof k);
        k.seed = seed;
        k.round = round;
        k.ring_records = sizes[cbt_below(&rng, 4)];
        k.wl.seed = cbt_mix(seed, round);
        cbt_bus(k.bus, sizeof k.bus, "kill");
        memset(live, 0, sizeof *live);
        memset(late, 0, sizeof *late);

        pid = cbt_fork(victim_main, &k);
        assert_true(pid > 0);
        if (cbt_wait_segment(k.bus, pid, shm, sizeof shm, 10000) != 0) {
            kill(pid, SIGKILL);
            fail_msg("seed=0x%" PRIx64 " round %u: no segment", seed, round);
        }
        for (int tries = 0;; tries++) {
            int rc = cb_segment_attach(shm, 0, &seg, why, sizeof why);
            if (rc == 0)
                break;
            /* A segment caught between shm_open() and ftruncate() is
             * 0 bytes long; the library calls that CB_EBADSEG (see
             * test_bus.c, mid-creation): retry it like CB_ENOTREADY. */
            if ((rc != CB_ENOTREADY && rc != CB_EBADSEG) || tries > 10000) {
                kill(pid, SIGKILL);
                fail_msg("attach %s: %s: %s", shm, cb_strerror(rc), why);
            }
            cbt_sleep_us(100);
        }
        /* Read concurrently for a while, then kill. */
        uint64_t until = cbt_mono_ns() + (1 + cbt_below(&rng, 30)) * 1000000u;
        while (cbt_mono_ns() < until)
            kread(&k, seg, live, "live");
        kill(pid, SIGKILL);
        assert_int_equal(cbt_wait(pid, 10000, &status), 0);
        if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL) {
            char st[64];
            fail_msg("seed=0x%" PRIx64 " round %u: the producer ended with "
                     "%s before it was killed", seed, round,
                     cbt_status_str(status, st, sizeof st));
        }

        kread(&k, seg, live, "live");
        kread(&k, seg, live, "live");
        kcheck(&k, seg, live, shm, "live");
        assert_int_equal(cb_segment_liveness(seg), CB_PRODUCER_DEAD);

        assert_int_equal(cb_segment_attach(shm, 0, &seg2, why, sizeof why),
                         0);
        kread(&k, seg2, late, "late");
        kcheck(&k, seg2, late, shm, "late");

        for (uint32_t i = 0; i < cb_segment_rings(seg); i++) {
            int ks = kill_state(shm, i);
            mid_record += (ks & 1) != 0;
            mid_entry += (ks & 2) != 0;
            delivered += live->cur[i].delivered;
            lost += live->cur[i].lost;
        }
        cb_segment_detach(seg2);
        cb_segment_detach(seg);
        cbt_unlink_bus(k.bus);
    }
    printf("    %" PRIu64 " rounds: kills left %u records half-written and "
           "%u rings with records published past head; live reader delivered %" PRIu64
           " records, lost %" PRIu64 "\n", rounds, mid_record, mid_entry,
           delivered, lost);
    free(live);
    free(late);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sigkill_mid_write_never_delivers_torn_record),
    };
    printf("SIGKILL mid-write; seed=0x%" PRIx64 " rounds=%" PRIu64 "\n",
           cbt_seed(DEFAULT_SEED), cbt_iters(DEFAULT_ROUNDS));
    return cmocka_run_group_tests_name("bus.ring_kill", tests, NULL, NULL);
}
