/*
 * tests/bus/prop_performance_tracking.c -- Property 4 of seed task 2.4:
 * Universal Performance Tracking (Requirements 2.1, 2.2, 2.3, 2.4).
 *
 * For any sequence of calls to functions under CB_TRACK_PERFORMANCE (every
 * call measured) and CB_TRACK_PERFORMANCE_EVERY(n) (every n-th call, and
 * every call while the site is slow), where each call burns random CPU
 * time, sleeps a random number of times (sometimes longer than the slow
 * threshold), maps and touches or unmaps random amounts of memory, and
 * calls tracked children, a reader gets one call entry per call, in the
 * order the calls returned, and:
 *
 *  - duration: at least the wall time the call's body measured itself;
 *  - which calls carry resource readings: exactly the calls the sampling
 *    rule selects, given the recorded durations (a duration within 10 %
 *    of the threshold may count either way; the model then follows both);
 *  - CPU time: at least what the body measured on the thread CPU clock,
 *    at most the call's wall time (plus the readings' own cost), and, in
 *    a measured parent, at least the sum of its measured children's;
 *  - context switches: at least the call's sleeps (each sleep blocks
 *    once, or is pre-empted on its way), and voluntary ones at least the
 *    sum of its measured children's;
 *  - memory: the RSS change covers what the call mapped and touched minus
 *    what it unmapped, within the kernel's approximate RSS counters
 *    (per-CPU batches; see rss_tol_kb), the RSS after the call covers
 *    everything the program still holds, and the peak RSS is at least the
 *    RSS. Sanitizer builds add shadow memory, so there only the lower
 *    bounds are checked.
 *
 * A thread spinning beside the calls makes a process-wide CPU reading
 * (instead of the thread's) likely to exceed the wall-time bound.
 *
 * Seeded: CB_TEST_SEED replays a run, CB_TEST_ITERS sets how many
 * programs; every failure names the seed, program and call.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <clipbus/clipbus.h>
#include <clipbus/reader.h>

#include "cbt.h"
#include "selfseg.h"

#define DEFAULT_SEED  UINT64_C(0x9e4f0a4)
#define DEFAULT_PROGS 8
#define MAX_CALLS     64
#define MAX_KIDS      2
#define SLOW_US       4000 /* CLIPBUS_PERF_SLOW_US for this program */
#define MAX_HELD      6    /* mappings a program holds at once */

static struct selfseg g;

/* What the programs covered, printed at the end. */
static struct {
    uint64_t calls, measured, slow, mapped_mib, unmapped;
} g_seen;

enum site { SITE_ALWAYS, SITE_EVERY3, SITE_EVERY5, SITE_KID_EVERY2, NSITES };
static const char *const site_name[NSITES] = {
    "tp_always", "tp_every3", "tp_every5", "tp_kid_every2"};
static const unsigned site_every[NSITES] = {1, 3, 5, 2};

struct call {
    int site;
    /* what the body does */
    uint32_t burn_us;  /* thread CPU time to burn */
    int sleeps;        /* 1 ms sleeps */
    int slow_sleep;    /* one sleep of 2 x SLOW_US */
    uint32_t map_mib;  /* map and touch this much, keep it */
    int unmap;         /* unmap the oldest mapping held */
    int kids[MAX_KIDS], nkids;
    int parent;
    /* what the body measured (its own work and its children's) */
    uint64_t cpu_ns, wall_ns;
    int64_t net_kb;    /* mapped minus unmapped, children included */
    int64_t mapped_kb, freed_kb; /* the two parts of net_kb */
    int total_sleeps;  /* children included */
    uint64_t held_kb_after;
    /* what the entry said */
    uint64_t dur_ns;
    int measured;
    struct cb_perf perf;
};

static struct {
    struct call c[MAX_CALLS];
    int count;
    int roots[MAX_CALLS], nroots;
    void *held[MAX_HELD];
    size_t held_len[MAX_HELD];
    int nheld;
    uint64_t held_kb;
} P;

/* ---- the body of every tracked call ------------------------------------ */

static int run_call(int idx);

static int
call_body(struct call *c)
{
    uint64_t cpu0 = cbt_thread_cpu_ns(), wall0 = cbt_mono_ns();
    int64_t net = 0, mapped = 0, freed = 0;
    int sleeps = 0;

    cbt_burn_cpu_us(c->burn_us);
    for (int k = 0; k < c->sleeps; k++, sleeps++)
        cbt_sleep_us(1000);
    if (c->slow_sleep) {
        cbt_sleep_us(2 * SLOW_US);
        sleeps++;
    }
    if (c->unmap && P.nheld > 0) {
        size_t len = P.held_len[0];
        munmap(P.held[0], len);
        memmove(&P.held[0], &P.held[1], (size_t)(P.nheld - 1) *
                sizeof P.held[0]);
        memmove(&P.held_len[0], &P.held_len[1], (size_t)(P.nheld - 1) *
                sizeof P.held_len[0]);
        P.nheld--;
        P.held_kb -= len / 1024;
        freed += (int64_t)(len / 1024);
    }
    if (c->map_mib != 0 && P.nheld < MAX_HELD) {
        size_t len = (size_t)c->map_mib << 20;
        void *m = mmap(NULL, len, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (m != MAP_FAILED) {
            memset(m, 0x5a, len);
            P.held[P.nheld] = m;
            P.held_len[P.nheld++] = len;
            P.held_kb += len / 1024;
            mapped += (int64_t)(len / 1024);
        }
    }
    for (int k = 0; k < c->nkids; k++) {
        struct call *kid = &P.c[c->kids[k]];
        (void)run_call(c->kids[k]);
        mapped += kid->mapped_kb;
        freed += kid->freed_kb;
        sleeps += kid->total_sleeps;
    }
    net = mapped - freed;
    c->net_kb = net;
    c->mapped_kb = mapped;
    c->freed_kb = freed;
    c->total_sleeps = sleeps;
    c->held_kb_after = P.held_kb;
    c->cpu_ns = cbt_thread_cpu_ns() - cpu0;
    c->wall_ns = cbt_mono_ns() - wall0;
    return 0;
}

__attribute__((noinline)) static int
tp_always(struct call *c, int idx)
{
    CB_TRACK_PERFORMANCE(CB_INT("k", idx));
    return call_body(c);
}

__attribute__((noinline)) static int
tp_every3(struct call *c, int idx)
{
    CB_TRACK_PERFORMANCE_EVERY(3, CB_INT("k", idx));
    return call_body(c);
}

__attribute__((noinline)) static int
tp_every5(struct call *c, int idx)
{
    CB_TRACK_PERFORMANCE_EVERY(5, CB_INT("k", idx));
    return call_body(c);
}

__attribute__((noinline)) static int
tp_kid_every2(struct call *c, int idx)
{
    CB_TRACK_PERFORMANCE_EVERY(2, CB_INT("k", idx));
    return call_body(c);
}

static int
run_call(int idx)
{
    static int (*const fn[NSITES])(struct call *, int) = {
        tp_always, tp_every3, tp_every5, tp_kid_every2};
    return fn[P.c[idx].site](&P.c[idx], idx);
}

/* ---- generating -------------------------------------------------------- */

static void
gen_call(struct cbt_rng *r, struct call *c, int site)
{
    memset(c, 0, sizeof *c);
    c->site = site;
    c->parent = -1;
    c->burn_us = cbt_below(r, 3) ? (uint32_t)cbt_below(r, 1500) : 0;
    c->sleeps = (int)cbt_below(r, 3);
    c->slow_sleep = cbt_below(r, 6) == 0;
    if (cbt_below(r, 4) == 0)
        c->map_mib = 4 + (uint32_t)cbt_below(r, 13);
    c->unmap = cbt_below(r, 4) == 0;
}

static void
gen_prog(struct cbt_rng *r)
{
    int roots = 12 + (int)cbt_below(r, 20);

    P.count = 0;
    P.nroots = 0;
    for (int k = 0; k < roots && P.count < MAX_CALLS - MAX_KIDS; k++) {
        int idx = P.count++;
        int nk = cbt_below(r, 3) == 0 ? 1 + (int)cbt_below(r, MAX_KIDS) : 0;
        gen_call(r, &P.c[idx], (int)cbt_below(r, SITE_KID_EVERY2));
        P.roots[P.nroots++] = idx;
        for (int j = 0; j < nk; j++) {
            int kid = P.count++;
            gen_call(r, &P.c[kid], SITE_KID_EVERY2);
            P.c[kid].parent = idx;
            P.c[idx].kids[P.c[idx].nkids++] = kid;
        }
    }
}

/* ---- a spinning neighbour ---------------------------------------------- */

static int g_spin_stop;

static void *
spinner(void *arg)
{
    volatile uint64_t x = 0;
    (void)arg;
    while (!__atomic_load_n(&g_spin_stop, __ATOMIC_RELAXED))
        for (int k = 0; k < 10000; k++)
            x++;
    return NULL;
}

/* ---- checking ---------------------------------------------------------- */

#define PFAIL(seed, prog, idx, ...)                                            \
    do {                                                                       \
        char m_[512];                                                          \
        snprintf(m_, sizeof m_, __VA_ARGS__);                                  \
        fail_msg("Property 4 (Universal Performance Tracking) failed: "        \
                 "seed=0x%" PRIx64 " program=%" PRIu64 " call=%d: %s "         \
                 "(replay with CB_TEST_SEED=0x%" PRIx64 ")", (seed), (prog),   \
                 (idx), m_, (seed));                                           \
    } while (0)

/* How far two readings of /proc/self/statm may be off: the kernel keeps a
 * process's RSS in per-CPU counters (file, anon, shmem) that fold into the
 * total in batches of max(32, 2 x CPUs) pages, and statm reads the total
 * only; a difference of two readings may be off by twice that, per
 * counter. */
static int64_t
rss_tol_kb(void)
{
    long cpus = sysconf(_SC_NPROCESSORS_CONF);
    long page_kb = sysconf(_SC_PAGESIZE) / 1024;
    long batch;

    if (cpus < 1)
        cpus = 1;
    batch = cpus * 2 > 32 ? cpus * 2 : 32;
    return (int64_t)(3 * 2 * cpus * batch * page_kb) + 256;
}

/* Which calls of a site carry readings, given the recorded durations: the
 * states (counter mod n, slow) the site may be in; a duration near the
 * threshold forks the state. */
struct site_model {
    unsigned every;
    uint8_t possible[2][16]; /* [slow][counter % every] */
};

static void
model_init(struct site_model *m, unsigned every)
{
    memset(m, 0, sizeof *m);
    m->every = every;
    m->possible[0][0] = 1;
}

/* Returns 0 if `measured` is possible in some state, and advances. */
static int
model_step(struct site_model *m, int measured, uint64_t dur_ns)
{
    uint8_t next[2][16] = {{0}};
    double slow = (double)SLOW_US * 1000.0;
    int may_fast = (double)dur_ns < slow * 1.1;
    int may_slow = (double)dur_ns >= slow * 0.9;
    int any = 0;

    for (int s = 0; s < 2; s++)
        for (unsigned k = 0; k < m->every; k++) {
            unsigned k2 = k;
            int wants;
            if (!m->possible[s][k])
                continue;
            if (m->every <= 1 || s) {
                wants = 1;
            } else {
                k2 = (k + 1) % m->every;
                wants = k2 == 0;
            }
            if (wants != measured)
                continue;
            any = 1;
            if (m->every <= 1) {
                next[0][0] = 1;
                continue;
            }
            if (may_fast)
                next[0][k2] = 1;
            if (may_slow)
                next[1][k2] = 1;
        }
    memcpy(m->possible, next, sizeof next);
    return any ? 0 : -1;
}

static void
read_entries(uint64_t seed, uint64_t prog, struct cb_cursor *cur, int idx)
{
    struct call *c = &P.c[idx];
    struct cb_entry e;
    struct cb_field f[4];
    int nf, rc;

    for (int k = 0; k < c->nkids; k++)
        read_entries(seed, prog, cur, c->kids[k]);
    rc = selfseg_next(cur, &e);
    if (rc != 1)
        PFAIL(seed, prog, idx, "no entry (cb_cursor_next %d, lost %" PRIu64
              ")", rc, cur->lost);
    if (e.head.kind != CB_KIND_CALL ||
        !selfseg_name_is(&g, e.head.name_id, site_name[c->site]))
        PFAIL(seed, prog, idx, "entry of kind %u, name id %u; want a call "
              "of %s", e.head.kind, e.head.name_id, site_name[c->site]);
    if (e.head.status != CB_STATUS_OK)
        PFAIL(seed, prog, idx, "status %u", e.head.status);
    nf = selfseg_fields(&e, f, 4);
    if (nf < 1 || f[0].type != CB_FIELD_I64 || f[0].i != idx)
        PFAIL(seed, prog, idx, "parameter k is not %d", idx);
    c->measured = 0;
    for (int k = 1; k < nf; k++)
        if (f[k].type == CB_FIELD_PERF) {
            c->measured = 1;
            c->perf = f[k].perf;
        }
    c->dur_ns = cb_segment_ticks_ns(g.seg, e.head.value);
}

static void
check_call(uint64_t seed, uint64_t prog, int idx, struct site_model *sm)
{
    const struct call *c = &P.c[idx];
    const struct cb_perf *pf = &c->perf;
    int64_t tol = rss_tol_kb();
    int sanitized = 0;
#ifdef CBT_SLOW_BUILD
    sanitized = 1;
#endif

    /* The clock calibration (TSC to ns) may be off by a little. */
    if ((double)c->dur_ns < (double)c->wall_ns * 0.99 - 20000.0)
        PFAIL(seed, prog, idx, "duration %" PRIu64 " ns, but the body took "
              "%" PRIu64 " ns", c->dur_ns, c->wall_ns);
    g_seen.calls++;
    g_seen.measured += c->measured;
    g_seen.slow += c->dur_ns >= (uint64_t)SLOW_US * 1000u;
    g_seen.mapped_mib += c->net_kb > 0 && c->nkids == 0
                             ? (uint64_t)c->net_kb / 1024 : 0;
    g_seen.unmapped += c->net_kb < 0 && c->nkids == 0;
    if (model_step(&sm[c->site], c->measured, c->dur_ns) != 0)
        PFAIL(seed, prog, idx, "%s: call %s readings, which the sampling "
              "rule (every %u, and while slow) does not allow",
              site_name[c->site], c->measured ? "with" : "without",
              site_every[c->site]);
    if (!c->measured)
        return;
    if (pf->cpu_ns < c->cpu_ns)
        PFAIL(seed, prog, idx, "CPU %" PRIu64 " ns, but the body used %"
              PRIu64 " ns", pf->cpu_ns, c->cpu_ns);
    if ((double)pf->cpu_ns > (double)c->dur_ns * 1.01 +
                                 (sanitized ? 5e6 : 1e6))
        PFAIL(seed, prog, idx, "CPU %" PRIu64 " ns in a call of %" PRIu64
              " ns: not this thread's CPU time", pf->cpu_ns, c->dur_ns);
    /* A sleep blocks in schedule(), a voluntary switch, unless the thread
     * is pre-empted on its way there (an involuntary one) and runs again
     * only after the timer fired: nanosleep then returns without
     * blocking. Seen under ASan with ctest -j2 on 2 CPUs. */
    if (pf->vol_csw + pf->invol_csw < (uint64_t)c->total_sleeps)
        PFAIL(seed, prog, idx, "%" PRIu64 " voluntary and %" PRIu64
              " involuntary context switches, but the call slept %d times",
              pf->vol_csw, pf->invol_csw, c->total_sleeps);
    /* A sanitizer's shadow memory grows with what the call touches and,
     * under TSan, is given back with what it unmaps: there, growth is
     * checked only in calls that unmapped nothing, and shrinking (at
     * least 7/8 of what was unmapped) only in calls that mapped nothing. */
    if ((!sanitized || c->freed_kb == 0) &&
        pf->rss_delta_kb < c->net_kb - tol)
        PFAIL(seed, prog, idx, "RSS changed by %" PRId64 " KiB, but the call "
              "mapped and touched a net %" PRId64 " KiB (tolerance %" PRId64
              ")", pf->rss_delta_kb, c->net_kb, tol);
    if (!sanitized && pf->rss_delta_kb > c->net_kb + tol)
        PFAIL(seed, prog, idx, "RSS changed by %" PRId64 " KiB, but the call "
              "mapped and touched a net %" PRId64 " KiB (tolerance %" PRId64
              ")", pf->rss_delta_kb, c->net_kb, tol);
    if (sanitized && c->mapped_kb == 0 &&
        pf->rss_delta_kb > -(c->freed_kb * 7 / 8) + tol)
        PFAIL(seed, prog, idx, "RSS changed by %" PRId64 " KiB, but the call "
              "unmapped %" PRId64 " KiB (tolerance %" PRId64 ")",
              pf->rss_delta_kb, c->freed_kb, tol);
    if ((int64_t)pf->rss_kb < (int64_t)c->held_kb_after - tol)
        PFAIL(seed, prog, idx, "RSS %" PRIu64 " KiB after the call, but the "
              "program holds %" PRIu64 " KiB", pf->rss_kb, c->held_kb_after);
    if ((int64_t)pf->maxrss_kb < (int64_t)pf->rss_kb - tol)
        PFAIL(seed, prog, idx, "peak RSS %" PRIu64 " KiB below the RSS %"
              PRIu64 " KiB", pf->maxrss_kb, pf->rss_kb);
    {
        uint64_t kid_cpu = 0, kid_csw = 0;
        for (int k = 0; k < c->nkids; k++) {
            const struct call *kid = &P.c[c->kids[k]];
            if (kid->measured) {
                kid_cpu += kid->perf.cpu_ns;
                kid_csw += kid->perf.vol_csw;
            }
        }
        if (pf->cpu_ns < kid_cpu || pf->vol_csw < kid_csw)
            PFAIL(seed, prog, idx, "parent's CPU %" PRIu64 " ns / %" PRIu64
                  " switches below its children's %" PRIu64 " / %" PRIu64,
                  pf->cpu_ns, pf->vol_csw, kid_cpu, kid_csw);
    }
}

static void
run_program(uint64_t seed, uint64_t prog, struct site_model *sm)
{
    struct cbt_rng r = {cbt_mix(seed, prog)};
    struct cb_cursor cur;
    struct cb_entry e;
    uint32_t ring;
    pthread_t spin;
    int rc;

    gen_prog(&r);
    assert_int_equal(selfseg_ring_of(&g, (uint32_t)gettid(), &ring), 0);
    assert_int_equal(cb_cursor_init(&cur, g.seg, ring, CB_FROM_NOW), 0);
    __atomic_store_n(&g_spin_stop, 0, __ATOMIC_RELAXED);
    assert_int_equal(pthread_create(&spin, NULL, spinner, NULL), 0);
    for (int k = 0; k < P.nroots; k++)
        (void)run_call(P.roots[k]);
    __atomic_store_n(&g_spin_stop, 1, __ATOMIC_RELAXED);
    pthread_join(spin, NULL);

    /* Entries come in the order the calls returned; the sampling model of
     * a site goes by the order the calls began, which for a site's calls
     * (never nested in each other) is the same. */
    for (int k = 0; k < P.nroots; k++)
        read_entries(seed, prog, &cur, P.roots[k]);
    rc = selfseg_next(&cur, &e);
    if (rc != 0)
        PFAIL(seed, prog, -1, "an entry no call made (rc %d)", rc);
    if (cur.lost != 0)
        PFAIL(seed, prog, -1, "%" PRIu64 " records lost", cur.lost);
    for (int k = 0; k < P.nroots; k++) {
        const struct call *root = &P.c[P.roots[k]];
        for (int j = 0; j < root->nkids; j++)
            check_call(seed, prog, root->kids[j], sm);
        check_call(seed, prog, P.roots[k], sm);
    }
    while (P.nheld > 0) {
        P.nheld--;
        munmap(P.held[P.nheld], P.held_len[P.nheld]);
    }
    P.held_kb = 0;
}

static void
test_prop_performance_tracking(void **state)
{
    uint64_t seed = cbt_seed(DEFAULT_SEED), progs = cbt_iters(DEFAULT_PROGS);
    /* The sites keep their sampling state from program to program. */
    struct site_model sm[NSITES];

    char slow[32];

    (void)state;
    snprintf(slow, sizeof slow, "%d", SLOW_US);
    setenv("CLIPBUS_PERF_SLOW_US", slow, 1); /* read when the bus opens */
    assert_int_equal(selfseg_open(&g, "pperf"), 0);
    for (int s = 0; s < NSITES; s++)
        model_init(&sm[s], site_every[s]);
    for (uint64_t k = 0; k < progs; k++)
        run_program(seed, k, sm);
    selfseg_close(&g); /* on a failure, cbt's exit handler cleans up */
    printf("checked %" PRIu64 " calls in %" PRIu64 " programs: %" PRIu64
           " with readings, %" PRIu64 " slow; leaves mapped a net %" PRIu64
           " MiB, %" PRIu64 " leaves shrank\n", g_seen.calls, progs,
           g_seen.measured, g_seen.slow, g_seen.mapped_mib, g_seen.unmapped);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_prop_performance_tracking),
    };
    printf("Property 4: Universal Performance Tracking; seed=0x%" PRIx64
           " programs=%" PRIu64 "\n", cbt_seed(DEFAULT_SEED),
           cbt_iters(DEFAULT_PROGS));
    return cmocka_run_group_tests_name("bus.prop_performance_tracking", tests,
                                       NULL, NULL);
}
