/*
 * tests/consumers/test_agg.c -- the aggregation module (consumers/common/
 * hist.c, window.c, trend.c; agg.h).
 *
 * Property 5: Performance Aggregation Accuracy (Req 2.5): histogram
 * percentiles lie within CB_HIST_REL_ERROR of exact (sorted) percentiles
 * on random data sets of many shapes; count, sum, min and max are exact;
 * the merge of random splits equals the histogram of the whole bit for
 * bit; daily/weekly/monthly roll-ups equal the averages computed straight
 * from the raw values.
 *
 * Property 10: Trend Calculation Correctness (Req 5.2): slope and mean
 * agree with a plain reference computation, the direction has the right
 * sign, and the regression flag fires exactly when its condition holds.
 *
 * Seeds: CB_TEST_SEED (default below), iterations: CB_TEST_ITERS. Every
 * failure prints the seed, so `CB_TEST_SEED=<seed> test_consumers_agg`
 * replays it.
 */
/* cmocka needs these first, in this order. */
// clang-format off
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
// clang-format on

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agg.h"
#include "cbt.h"

#define DEFAULT_SEED UINT64_C(0xa66e5eed)
#define SEC          UINT64_C(1000000000)
#define DAY_NS       (86400 * SEC)

static uint64_t g_seed;
static const char *g_case = "";

/* Fails the test with the seed and the case, so the failure replays. */
#define PCHECK(cond, ...)                                                      \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "FAILED %s [%s] CB_TEST_SEED=0x%" PRIx64 ": ",     \
                    #cond, g_case, g_seed);                                    \
            fprintf(stderr, __VA_ARGS__);                                      \
            fputc('\n', stderr);                                               \
            fail();                                                            \
        }                                                                      \
    } while (0)

static struct cbt_rng
rng_for(int test_no)
{
    struct cbt_rng r = {cbt_mix(g_seed, (uint64_t)test_no)};
    return r;
}

static double
unit(struct cbt_rng *r)
{
    return (double)(cbt_next(r) >> 11) * 0x1p-53;
}

static double
normal(struct cbt_rng *r)
{
    double u = unit(r), v = unit(r);
    return sqrt(-2.0 * log(u + 0x1p-60)) * cos(2.0 * M_PI * v);
}

static uint64_t
from_double(double x)
{
    if (!(x > 0))
        return 0;
    if (x >= 9.2e18)
        return UINT64_C(9200000000000000000);
    return (uint64_t)x;
}

static struct cb_hist *
hist_new(void)
{
    struct cb_hist *h = malloc(sizeof(*h));
    assert_non_null(h);
    cb_hist_init(h);
    return h;
}

/* ========================================================================
 * Histogram
 * ======================================================================== */

/* Buckets tile [0, CB_HIST_MAX_VALUE] without gaps, each at most 1/64 of
 * its lower bound wide, and every value falls in its own bucket. */
static void
test_hist_buckets_tile_the_range(void **state)
{
    (void)state;
    g_case = "layout";
    uint64_t expect_lo = 0;
    for (uint32_t i = 0; i < CB_HIST_BUCKETS; i++) {
        uint64_t lo, hi;
        cb_hist_bucket_bounds(i, &lo, &hi);
        PCHECK(lo == expect_lo, "bucket %u starts at %" PRIu64, i, lo);
        PCHECK(hi >= lo, "bucket %u", i);
        if (lo >= CB_HIST_SUB)
            PCHECK((double)(hi - lo + 1) <= (double)lo / CB_HIST_SUB,
                   "bucket %u too wide", i);
        PCHECK(cb_hist_bucket_index(lo) == i && cb_hist_bucket_index(hi) == i,
               "bucket %u bounds map elsewhere", i);
        expect_lo = hi + 1;
    }
    PCHECK(expect_lo == CB_HIST_MAX_VALUE + 1, "last bucket ends at %" PRIu64,
           expect_lo - 1);
    PCHECK(cb_hist_bucket_index(CB_HIST_MAX_VALUE + 1) == CB_HIST_BUCKETS,
           "beyond the range");
    PCHECK(cb_hist_bucket_index(UINT64_MAX) == CB_HIST_BUCKETS, "max");
    /* 1 hour is tracked (issue 5). */
    PCHECK(cb_hist_bucket_index(3600 * SEC) < CB_HIST_BUCKETS, "1 hour");
}

/* Data set shapes of Property 5. */
enum shape { UNIFORM, LOGNORMAL, BIMODAL, CONSTANT, TINY, HUGE, NSHAPES };
static const char *shape_names[] = {"uniform",  "lognormal", "bimodal",
                                    "constant", "tiny",      "huge"};

static void
gen(struct cbt_rng *r, enum shape s, uint64_t *v, size_t n)
{
    static const uint64_t ranges[] = {10, 1000, 1000000, 1000000000,
                                      UINT64_C(1000000000000)};
    uint64_t range = ranges[cbt_below(r, 5)];
    uint64_t c = cbt_below(r, UINT64_C(1) << cbt_below(r, 46));
    double mu = log(1e3) + unit(r) * log(1e6), sigma = 0.2 + 2 * unit(r);
    for (size_t i = 0; i < n; i++) {
        switch (s) {
        case UNIFORM:
            v[i] = cbt_below(r, range) + 1;
            break;
        case LOGNORMAL:
            v[i] = from_double(exp(mu + sigma * normal(r)));
            break;
        case BIMODAL:
            /* cache hits around 2 us, misses around 50 ms */
            v[i] = from_double(cbt_below(r, 10) < 8
                                   ? exp(log(2e3) + 0.3 * normal(r))
                                   : exp(log(5e7) + 0.5 * normal(r)));
            break;
        case CONSTANT:
            v[i] = c;
            break;
        case TINY:
            v[i] = cbt_below(r, 100);
            break;
        default: /* HUGE: around and beyond the tracked range */
            v[i] = (UINT64_C(1) << (40 + cbt_below(r, 10))) +
                   cbt_below(r, UINT64_C(1) << 40);
            break;
        }
    }
}

static int
cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* The exact 128-bit sum, computed differently from hist.c: the high and
 * low 32-bit halves are summed apart (n < 2^32) and combined at the end. */
static void
exact_sum(const uint64_t *v, size_t n, uint64_t *lo, uint64_t *hi)
{
    uint64_t s_lo = 0, s_hi = 0;
    for (size_t i = 0; i < n; i++) {
        s_lo += v[i] & 0xffffffffu;
        s_hi += v[i] >> 32;
    }
    uint64_t low = s_hi << 32;
    *lo = low + s_lo;
    *hi = (s_hi >> 32) + (*lo < low);
}

/* Property 5: Performance Aggregation Accuracy -- percentiles. */
static void
check_percentiles(const struct cb_hist *h, const uint64_t *sorted, size_t n,
                  double p)
{
    uint64_t est = cb_hist_percentile(h, p);
    double r = ceil(p / 100.0 * (double)n);
    size_t rank = r < 1 ? 1 : (size_t)r;
    if (rank > n)
        rank = n;
    uint64_t exact = p <= 0     ? sorted[0]
                     : p >= 100 ? sorted[n - 1]
                                : sorted[rank - 1];
    if (exact > CB_HIST_MAX_VALUE) {
        PCHECK(est == h->max, "p%g among overflow values: %" PRIu64, p, est);
        return;
    }
    double err = fabs((double)est - (double)exact);
    PCHECK(err <= CB_HIST_REL_ERROR * (double)exact,
           "p%g of %zu values: estimate %" PRIu64 ", exact %" PRIu64
           " (rel %.5f > %.5f)",
           p, n, est, exact, exact ? err / (double)exact : err,
           CB_HIST_REL_ERROR);
}

static void
test_prop5_hist_percentiles_within_bound(void **state)
{
    (void)state;
    struct cbt_rng r = rng_for(1);
    uint64_t iters = cbt_iters(300);
    size_t cap = 20000;
    uint64_t *v = malloc(cap * sizeof(*v));
    assert_non_null(v);
    struct cb_hist *h = hist_new();
    static const double ps[] = {0,  0.1, 1,  10,   25,    50, 75,
                                90, 95,  99, 99.9, 99.99, 100};
    for (uint64_t it = 0; it < iters; it++) {
        enum shape s = (enum shape)(it % NSHAPES);
        g_case = shape_names[s];
        size_t n = 1 + cbt_below(&r, cbt_below(&r, 4) ? 2000 : cap);
        gen(&r, s, v, n);
        cb_hist_reset(h);
        for (size_t i = 0; i < n; i++)
            cb_hist_add(h, v[i]);
        uint64_t lo, hi;
        exact_sum(v, n, &lo, &hi);
        qsort(v, n, sizeof(*v), cmp_u64);
        PCHECK(h->count == n, "count %" PRIu64 " != %zu", h->count, n);
        PCHECK(h->min == v[0] && h->max == v[n - 1], "min/max");
        PCHECK(h->sum_lo == lo && h->sum_hi == hi, "sum");
        double mean = ((double)hi * 0x1p64 + (double)lo) / (double)n;
        PCHECK(fabs(cb_hist_mean(h) - mean) <= 1e-12 * mean, "mean");
        for (size_t k = 0; k < sizeof(ps) / sizeof(ps[0]); k++)
            check_percentiles(h, v, n, ps[k]);
        check_percentiles(h, v, n, unit(&r) * 100.0);
    }
    free(h);
    free(v);
}

/* Property 5: merging the histograms of a random split of a data set
 * gives exactly the histogram of the whole; merge order does not matter. */
static void
test_prop5_hist_merge_of_splits_is_exact(void **state)
{
    (void)state;
    struct cbt_rng r = rng_for(2);
    uint64_t iters = cbt_iters(200);
    enum { PARTS = 5, N = 3000 };
    uint64_t v[N];
    struct cb_hist *whole = hist_new(), *merged = hist_new();
    struct cb_hist *part[PARTS];
    for (int k = 0; k < PARTS; k++)
        part[k] = hist_new();
    for (uint64_t it = 0; it < iters; it++) {
        enum shape s = (enum shape)cbt_below(&r, NSHAPES);
        g_case = shape_names[s];
        size_t n = cbt_below(&r, N + 1);
        gen(&r, s, v, n);
        cb_hist_reset(whole);
        cb_hist_reset(merged);
        for (int k = 0; k < PARTS; k++)
            cb_hist_reset(part[k]);
        for (size_t i = 0; i < n; i++) {
            cb_hist_add(whole, v[i]);
            /* Some parts stay empty: they must merge as no-ops. */
            cb_hist_add(part[cbt_below(&r, 1 + it % PARTS)], v[i]);
        }
        int first = (int)cbt_below(&r, PARTS);
        for (int k = 0; k < PARTS; k++)
            cb_hist_merge(merged, part[(first + k) % PARTS]);
        PCHECK(cb_hist_equal(merged, whole), "merge of %d parts, n=%zu", PARTS,
               n);
        PCHECK(merged->lo_idx == whole->lo_idx &&
                   (whole->lo_idx > whole->hi_idx ||
                    merged->hi_idx == whole->hi_idx),
               "used range");
        for (int p = 1; p < 100; p += 7)
            PCHECK(cb_hist_percentile(merged, p) ==
                       cb_hist_percentile(whole, p),
                   "p%d", p);
    }
    for (int k = 0; k < PARTS; k++)
        free(part[k]);
    free(whole);
    free(merged);
}

/* cb_hist_add_n(v, n) equals n cb_hist_add(v); reset empties. */
static void
test_hist_add_n_and_reset(void **state)
{
    (void)state;
    g_case = "add_n";
    struct cb_hist *a = hist_new(), *b = hist_new();
    struct cbt_rng r = rng_for(3);
    for (int i = 0; i < 200; i++) {
        uint64_t v = cbt_next(&r) >> cbt_below(&r, 64);
        uint64_t n = cbt_below(&r, 5);
        cb_hist_add_n(a, v, n);
        for (uint64_t k = 0; k < n; k++)
            cb_hist_add(b, v);
    }
    PCHECK(cb_hist_equal(a, b), "add_n");
    cb_hist_reset(a);
    cb_hist_init(b);
    PCHECK(cb_hist_equal(a, b) && a->count == 0, "reset");
    PCHECK(cb_hist_percentile(a, 50) == 0 && cb_hist_mean(a) == 0, "empty");
    free(a);
    free(b);
}

/* Encoding round-trips; truncated or corrupted encodings are refused or
 * decode to a self-consistent histogram, never crash. */
static void
test_hist_encode_roundtrip_and_hostile(void **state)
{
    (void)state;
    struct cbt_rng r = rng_for(4);
    uint8_t *buf = malloc(CB_HIST_ENCODED_MAX);
    uint8_t *bad = malloc(CB_HIST_ENCODED_MAX);
    uint8_t *again = malloc(CB_HIST_ENCODED_MAX);
    assert_true(buf && bad && again);
    struct cb_hist *h = hist_new(), *d = hist_new(), *d2 = hist_new();
    uint64_t v[500];
    for (int it = 0; it < 60; it++) {
        enum shape s = (enum shape)(it % NSHAPES);
        g_case = shape_names[s];
        size_t n = it < NSHAPES ? 0 : 1 + cbt_below(&r, 500);
        gen(&r, s, v, n);
        cb_hist_reset(h);
        for (size_t i = 0; i < n; i++)
            cb_hist_add(h, v[i]);
        size_t len, need;
        PCHECK(cb_hist_encode(h, buf, 10, &need) == -ENOSPC, "small buf");
        PCHECK(cb_hist_encode(h, buf, CB_HIST_ENCODED_MAX, &len) == 0 &&
                   len == need,
               "encode");
        PCHECK(cb_hist_decode(buf, len, d) == 0 && cb_hist_equal(d, h),
               "roundtrip of %zu values (%zu bytes)", n, len);
        for (size_t cut = 0; cut < len; cut++)
            PCHECK(cb_hist_decode(buf, cut, d) == -EBADMSG, "cut at %zu", cut);
        for (int k = 0; k < 200; k++) {
            memcpy(bad, buf, len);
            bad[cbt_below(&r, len)] ^= (uint8_t)(1u << cbt_below(&r, 8));
            if (cb_hist_decode(bad, len, d) != 0) {
                PCHECK(d->count == 0, "refused decode leaves it empty");
                continue;
            }
            /* Accepted: it must be a histogram that behaves. */
            size_t l2;
            PCHECK(cb_hist_encode(d, again, CB_HIST_ENCODED_MAX, &l2) == 0 &&
                       cb_hist_decode(again, l2, d2) == 0 &&
                       cb_hist_equal(d, d2),
                   "re-encode of an accepted variant");
            (void)cb_hist_percentile(d, 99);
        }
    }
    free(h);
    free(d);
    free(d2);
    free(buf);
    free(bad);
    free(again);
}

/* ========================================================================
 * Windows
 * ======================================================================== */

/* Collects delivered windows: per (window start, late flag) and key, a
 * copy of the entry with its own histogram. */
#define MAXC 4096
struct copy {
    uint64_t start, len;
    int late;
    struct cb_agg_entry e;
    struct cb_hist *h;
};
struct sink {
    struct copy c[MAXC];
    int n;
    uint64_t last_start; /* of the regular windows */
    int regular;
    int order_ok;
};

static void
sink_close(void *arg, const struct cb_agg_window *w)
{
    struct sink *s = arg;
    if (!w->late) {
        if (s->regular && w->start_ns <= s->last_start)
            s->order_ok = 0;
        s->last_start = w->start_ns;
        s->regular++;
    }
    for (size_t i = 0; i < w->n; i++) {
        if (i > 0 && w->entries[i]->key <= w->entries[i - 1]->key)
            s->order_ok = 0;
        assert_true(s->n < MAXC);
        struct copy *c = &s->c[s->n++];
        c->start = w->start_ns;
        c->len = w->len_ns;
        c->late = w->late;
        c->e = *w->entries[i];
        c->h = NULL;
        if (w->entries[i]->hist) {
            c->h = hist_new();
            *c->h = *w->entries[i]->hist;
        }
        c->e.hist = c->h;
    }
}

static struct sink *
sink_new(void)
{
    struct sink *s = calloc(1, sizeof(*s));
    assert_non_null(s);
    s->order_ok = 1;
    return s;
}

static void
sink_free(struct sink *s)
{
    for (int i = 0; i < s->n; i++)
        free(s->c[i].h);
    free(s);
}

/* The sum of every delivered entry of (kind, name) whose window starts at
 * `start` (UINT64_MAX: all windows), regular and late. */
static void
sink_total(const struct sink *s, const char *name, uint64_t start,
           struct cb_agg_entry *out, struct cb_hist *h)
{
    memset(out, 0, sizeof(*out));
    out->gauge.min = INFINITY;
    out->gauge.max = -INFINITY;
    cb_hist_init(h);
    out->hist = h;
    int first = 1;
    for (int i = 0; i < s->n; i++) {
        const struct copy *c = &s->c[i];
        if (strcmp(c->e.name, name) ||
            (start != UINT64_MAX && c->start != start))
            continue;
        if (first)
            out->kind = c->e.kind;
        first = 0;
        struct cb_agg_entry src = c->e;
        if (!src.hist)
            out->hist = NULL;
        assert_int_equal(cb_agg_entry_merge(out, &src), 0);
        out->hist = h;
    }
}

/* The one delivered entry of `name` in the regular window at `start`
 * (fails if there is none or more than one). */
static const struct cb_agg_entry *
sink_find(const struct sink *s, const char *name, uint64_t start)
{
    const struct cb_agg_entry *found = NULL;
    for (int i = 0; i < s->n; i++) {
        const struct copy *c = &s->c[i];
        if (c->late || c->start != start || strcmp(c->e.name, name))
            continue;
        PCHECK(!found, "%s delivered twice at %" PRIu64, name, start);
        found = &c->e;
    }
    PCHECK(found, "%s missing at %" PRIu64, name, start);
    return found;
}

/* Events out of order across window boundaries (within the grace) land in
 * the windows of their own timestamps; nothing is late. */
static void
test_window_out_of_order_across_boundaries(void **state)
{
    (void)state;
    g_case = "out-of-order";
    struct cbt_rng r = rng_for(5);
    struct sink *s = sink_new();
    struct cb_agg_opts o = {.window_ns = 10 * SEC,
                            .grace_ns = 20 * SEC,
                            .on_close = sink_close,
                            .arg = s};
    struct cb_agg *a;
    assert_int_equal(cb_agg_create(&o, &a), 0);
    uint32_t f;
    assert_int_equal(cb_agg_key(a, CB_AGG_FUNCTION, "fetch", NULL, &f), 0);
    enum { N = 3000, WINDOWS = 30 };
    uint64_t base = 1700000000 * SEC; /* a multiple of 10 s */
    uint64_t expect[WINDOWS] = {0};
    uint64_t t = base;
    for (int i = 0; i < N; i++) {
        t += cbt_below(&r, 2 * 10 * SEC * WINDOWS / N);
        /* Jitter backwards by up to 15 s: across a boundary, within the
         * 20 s grace. */
        uint64_t back = cbt_below(&r, 15 * SEC);
        uint64_t ts = t - back < base ? base : t - back;
        int w = (int)((ts - base) / (10 * SEC));
        if (w >= WINDOWS)
            break;
        expect[w]++;
        PCHECK(cb_agg_call(a, f, ts, 1000 + (uint64_t)i, CB_AGG_OK, 0) == 0,
               "event %d filed late", i);
    }
    cb_agg_flush(a);
    struct cb_agg_stats st;
    cb_agg_stats(a, &st);
    PCHECK(st.late == 0 && st.pending_late == 0, "late %" PRIu64, st.late);
    PCHECK(s->order_ok, "windows delivered out of order");
    struct cb_agg_entry tot;
    struct cb_hist *h = hist_new();
    for (int w = 0; w < WINDOWS; w++) {
        sink_total(s, "fetch", base + (uint64_t)w * 10 * SEC, &tot, h);
        PCHECK(tot.fn.calls == expect[w] && h->count == expect[w],
               "window %d: %" PRIu64 " calls, expected %" PRIu64, w,
               tot.fn.calls, expect[w]);
    }
    free(h);
    cb_agg_destroy(a);
    sink_free(s);
}

/* A consumer that catches up after a pause reads two rings in batches:
 * ring A's batch runs ahead of ring B's, yet within the grace, so every
 * record is filed by record time, and each window is delivered once, in
 * order. */
static void
test_window_catch_up_files_by_record_time(void **state)
{
    (void)state;
    g_case = "catch-up";
    struct sink *s = sink_new();
    struct cb_agg_opts o = {.window_ns = 10 * SEC,
                            .grace_ns = 30 * SEC,
                            .on_close = sink_close,
                            .arg = s};
    struct cb_agg *a;
    assert_int_equal(cb_agg_create(&o, &a), 0);
    uint32_t ka, kb;
    assert_int_equal(cb_agg_key(a, CB_AGG_COUNTER, "a", "ring=1", &ka), 0);
    assert_int_equal(cb_agg_key(a, CB_AGG_COUNTER, "b", "ring=2", &kb), 0);
    /* Five minutes of records, one per 100 ms per ring, all read at once
     * "now": in batches of 100 records (10 s of record time) per ring. */
    uint64_t base = 1700000000 * SEC, step = SEC / 10;
    int n = 3000, ia = 0, ib = 0;
    while (ia < n || ib < n) {
        for (int k = 0; k < 100 && ia < n; k++, ia++)
            PCHECK(cb_agg_count(a, ka, base + (uint64_t)ia * step, 1) == 0,
                   "a %d late", ia);
        for (int k = 0; k < 100 && ib < n; k++, ib++)
            PCHECK(cb_agg_count(a, kb, base + (uint64_t)ib * step, 2) == 0,
                   "b %d late", ib);
    }
    cb_agg_flush(a);
    PCHECK(s->order_ok, "order");
    PCHECK(s->regular == 30, "%d windows", s->regular);
    struct cb_agg_entry tot;
    struct cb_hist *h = hist_new();
    for (int w = 0; w < 30; w++) {
        uint64_t start = base + (uint64_t)w * 10 * SEC;
        sink_total(s, "a", start, &tot, h);
        PCHECK(tot.counter.sum == 100 && tot.counter.n == 100, "a w%d", w);
        PCHECK(cb_agg_counter_rate(&tot.counter, 10 * SEC) == 10.0, "rate");
        sink_total(s, "b", start, &tot, h);
        PCHECK(tot.counter.sum == 200, "b w%d: %" PRId64, w, tot.counter.sum);
    }
    free(h);
    cb_agg_destroy(a);
    sink_free(s);
}

/* Records for windows already delivered are filed in late deltas, flagged
 * and counted; regular plus late windows add up to every record. */
static void
test_window_late_events_counted(void **state)
{
    (void)state;
    g_case = "late";
    struct cbt_rng r = rng_for(6);
    struct sink *s = sink_new();
    struct cb_agg_opts o = {.window_ns = 10 * SEC,
                            .grace_ns = CB_AGG_MANUAL,
                            .late_max = 4,
                            .on_close = sink_close,
                            .arg = s};
    struct cb_agg *a;
    assert_int_equal(cb_agg_create(&o, &a), 0);
    uint32_t f;
    assert_int_equal(cb_agg_key(a, CB_AGG_FUNCTION, "f", NULL, &f), 0);
    uint64_t base = 1700000000 * SEC;
    struct cb_hist *all = hist_new();
    uint64_t nlate = 0, total = 0;
    for (int round = 0; round < 20; round++) {
        uint64_t wm = base + (uint64_t)(round + 1) * 30 * SEC;
        for (int i = 0; i < 50; i++) {
            uint64_t ts = base + cbt_below(&r, wm + 20 * SEC - base);
            uint64_t dur = 1 + cbt_below(&r, 1000000);
            int rc = cb_agg_call(a, f, ts, dur, CB_AGG_OK, 0);
            struct cb_agg_stats st;
            cb_agg_stats(a, &st);
            int expect_late =
                ts - ts % (10 * SEC) + 10 * SEC <= st.watermark_ns;
            PCHECK(rc == expect_late, "ts %" PRIu64 ": rc %d", ts, rc);
            nlate += (uint64_t)rc;
            total++;
            cb_hist_add(all, dur);
        }
        cb_agg_advance(a, wm);
    }
    PCHECK(nlate > 100, "too few late records (%" PRIu64 ") to test", nlate);
    cb_agg_flush(a);
    struct cb_agg_stats st;
    cb_agg_stats(a, &st);
    PCHECK(st.late == nlate && st.records == total, "stats");
    PCHECK(s->order_ok, "order");
    uint64_t late_seen = 0, late_windows = 0;
    for (int i = 0; i < s->n; i++) {
        const struct copy *c = &s->c[i];
        PCHECK(c->late ? c->e.late == c->e.records : c->e.late == 0,
               "late counts of the window at %" PRIu64, c->start);
        late_seen += c->e.late;
        late_windows += (uint64_t)c->late;
    }
    PCHECK(late_seen == nlate && late_windows == st.late_windows,
           "late %" PRIu64 " of %" PRIu64, late_seen, nlate);
    struct cb_agg_entry tot;
    struct cb_hist *h = hist_new();
    sink_total(s, "f", UINT64_MAX, &tot, h);
    PCHECK(cb_hist_equal(h, all) && tot.fn.calls == total, "totals");
    free(h);
    free(all);
    cb_agg_destroy(a);
    sink_free(s);
}

/* Feeds one random event to both aggregators. */
static void
feed_both(struct cbt_rng *r, struct cb_agg **aggs, uint32_t keys[][6],
          uint64_t ts)
{
    int which = (int)cbt_below(r, 6);
    uint64_t dur = from_double(exp(log(1e5) + 2 * normal(r)));
    int outcome = (int)cbt_below(r, 10);
    outcome = outcome < 7   ? CB_AGG_OK
              : outcome < 9 ? CB_AGG_ERROR
                            : CB_AGG_ABORTED;
    int32_t code = -(int32_t)cbt_below(r, 6);
    int64_t delta = (int64_t)cbt_below(r, 100) - 20;
    double g = unit(r) * 100, ob = exp(2 * normal(r));
    uint64_t inflight = cbt_below(r, 50);
    for (int k = 0; k < 2; k++) {
        uint32_t *id = keys[k];
        int rc;
        switch (which) {
        case 0:
        case 1:
            rc = cb_agg_call(aggs[k], id[which], ts, dur, outcome, code);
            break;
        case 2:
            rc = cb_agg_count(aggs[k], id[2], ts, delta);
            break;
        case 3:
            rc = cb_agg_gauge(aggs[k], id[3], ts, g);
            break;
        case 4:
            rc = cb_agg_observe(aggs[k], id[4], ts, ob);
            break;
        default:
            rc = cb_agg_inflight(aggs[k], id[5], ts, inflight);
            break;
        }
        assert_true(rc >= 0);
    }
}

/* The close callback of a 10 s aggregator feeding a 1 min one. */
static void
merge_into(void *arg, const struct cb_agg_window *w)
{
    assert_true(cb_agg_merge_window(arg, w) >= 0);
}

/* Rolling the 10 s windows up into 1 min windows gives exactly what a
 * 1 min aggregator computes from the same events. */
static void
test_window_merge_equals_direct_aggregate(void **state)
{
    (void)state;
    g_case = "roll-up";
    struct cbt_rng r = rng_for(7);
    struct sink *direct = sink_new(), *rolled = sink_new();
    struct cb_agg *minute, *tens, *direct_agg;
    struct cb_agg_opts om = {.window_ns = 60 * SEC,
                             .grace_ns = CB_AGG_MANUAL,
                             .on_close = sink_close,
                             .arg = rolled};
    assert_int_equal(cb_agg_create(&om, &minute), 0);
    om.arg = direct;
    assert_int_equal(cb_agg_create(&om, &direct_agg), 0);
    struct cb_agg_opts ot = {.window_ns = 10 * SEC,
                             .grace_ns = 5 * SEC,
                             .on_close = merge_into,
                             .arg = minute};
    assert_int_equal(cb_agg_create(&ot, &tens), 0);
    static const char *names[6] = {"fetch", "score",   "clips",
                                   "queue", "http_ms", "fetch"};
    static const int kinds[6] = {CB_AGG_FUNCTION, CB_AGG_FUNCTION,
                                 CB_AGG_COUNTER,  CB_AGG_GAUGE,
                                 CB_AGG_OBSERVE,  CB_AGG_FUNCTION};
    uint32_t keys[2][6];
    struct cb_agg *aggs[2] = {tens, direct_agg};
    for (int k = 0; k < 2; k++)
        for (int i = 0; i < 6; i++)
            assert_int_equal(cb_agg_key(aggs[k], kinds[i], names[i],
                                        i == 2 ? "src=api" : NULL, &keys[k][i]),
                             0);
    uint64_t base = 1700000040 * SEC, t = base;
    for (int i = 0; i < 20000; i++) {
        t += cbt_below(&r, 300 * SEC / 1000);
        feed_both(&r, aggs, keys, t - cbt_below(&r, 3 * SEC));
    }
    cb_agg_flush(tens);
    cb_agg_flush(minute);
    cb_agg_flush(direct_agg);
    struct cb_agg_stats st;
    cb_agg_stats(tens, &st);
    PCHECK(st.late == 0, "late in the 10 s aggregator");
    int compared = 0;
    for (int i = 0; i < direct->n; i++) {
        const struct copy *d = &direct->c[i];
        g_case = d->e.name;
        PCHECK(!d->late, "late window in the direct aggregate");
        struct cb_agg_entry x = d->e;
        struct cb_agg_entry y = *sink_find(rolled, d->e.name, d->start);
        PCHECK(x.records == y.records && x.fn.calls == y.fn.calls &&
                   x.fn.errors == y.fn.errors && x.fn.aborted == y.fn.aborted &&
                   x.fn.nerrs == y.fn.nerrs && x.fn.errs_other == 0 &&
                   x.fn.inflight_max == y.fn.inflight_max &&
                   x.fn.inflight_last == y.fn.inflight_last,
               "function counts at %" PRIu64, d->start);
        for (uint32_t k = 0; k < x.fn.nerrs; k++) {
            uint64_t n = 0;
            for (uint32_t j = 0; j < y.fn.nerrs; j++)
                if (y.fn.errs[j].code == x.fn.errs[k].code)
                    n = y.fn.errs[j].n;
            PCHECK(n == x.fn.errs[k].n, "error code %d", x.fn.errs[k].code);
        }
        PCHECK(x.counter.sum == y.counter.sum && x.counter.n == y.counter.n,
               "counter");
        PCHECK(x.gauge.n == y.gauge.n && x.gauge.last == y.gauge.last &&
                   x.gauge.min == y.gauge.min && x.gauge.max == y.gauge.max &&
                   fabs(x.gauge.sum - y.gauge.sum) <= 1e-9 * fabs(x.gauge.sum),
               "gauge");
        PCHECK(!x.hist == !y.hist && (!x.hist || cb_hist_equal(x.hist, y.hist)),
               "histogram at %" PRIu64, d->start);
        compared++;
    }
    PCHECK(compared > 50 && rolled->n == direct->n, "compared %d, %d vs %d",
           compared, rolled->n, direct->n);
    cb_agg_destroy(tens);
    cb_agg_destroy(minute);
    cb_agg_destroy(direct_agg);
    sink_free(direct);
    sink_free(rolled);
}

/* One window, every kind, hand-checked values. */
static void
test_window_kinds_by_hand(void **state)
{
    (void)state;
    g_case = "kinds";
    struct sink *s = sink_new();
    struct cb_agg_opts o = {
        .grace_ns = CB_AGG_MANUAL, .on_close = sink_close, .arg = s};
    struct cb_agg *a;
    assert_int_equal(cb_agg_create(&o, &a), 0);
    uint32_t f, c, g, ob;
    assert_int_equal(cb_agg_key(a, CB_AGG_FUNCTION, "f", "", &f), 0);
    assert_int_equal(cb_agg_key(a, CB_AGG_COUNTER, "c", NULL, &c), 0);
    assert_int_equal(cb_agg_key(a, CB_AGG_GAUGE, "g", NULL, &g), 0);
    assert_int_equal(cb_agg_key(a, CB_AGG_OBSERVE, "o", NULL, &ob), 0);
    uint64_t t = 1000 * SEC;
    for (int i = 0; i < 10; i++) /* codes -1..-10: 8 counted, 2 "other" */
        assert_int_equal(cb_agg_call(a, f, t + 1, 100, CB_AGG_ERROR, -1 - i),
                         0);
    assert_int_equal(cb_agg_call(a, f, t + 2, 300, CB_AGG_OK, 0), 0);
    assert_int_equal(cb_agg_call(a, f, t + 3, 5 * SEC, CB_AGG_ABORTED, 0), 0);
    assert_int_equal(cb_agg_inflight(a, f, t + 9, 2), 0);
    assert_int_equal(cb_agg_inflight(a, f, t + 5, 7), 0);
    assert_int_equal(cb_agg_count(a, c, t, 5), 0);
    assert_int_equal(cb_agg_count(a, c, t, INT64_MAX), 0);
    assert_int_equal(cb_agg_gauge(a, g, t + 7, 3.0), 0);
    assert_int_equal(cb_agg_gauge(a, g, t + 4, -1.0), 0); /* older: not last */
    assert_int_equal(cb_agg_gauge(a, g, t + 6, NAN), 0);
    assert_int_equal(cb_agg_observe(a, ob, t, 1.5), 0);
    assert_int_equal(cb_agg_observe(a, ob, t, -2.0), 0);
    assert_int_equal(cb_agg_observe(a, ob, t, INFINITY), 0);
    assert_int_equal(cb_agg_flush(a), 1);
    assert_int_equal(s->n, 4);
    const struct cb_agg_entry *e = &s->c[0].e;
    assert_string_equal(e->name, "f");
    assert_int_equal(e->fn.calls, 11);
    assert_int_equal(e->fn.errors, 10);
    assert_int_equal(e->fn.aborted, 1);
    assert_int_equal(e->fn.nerrs, CB_AGG_ERRCODES);
    assert_int_equal(e->fn.errs_other, 2);
    assert_int_equal(e->fn.errs[0].code, -1);
    assert_int_equal(e->fn.inflight_max, 7);
    assert_int_equal(e->fn.inflight_last, 2);
    assert_int_equal(e->hist->count, 11);
    assert_int_equal(e->hist->max, 300); /* the aborted call is not in it */
    struct cb_agg_summary sum;
    struct cb_agg_window w = {.start_ns = s->c[0].start, .len_ns = s->c[0].len};
    assert_int_equal(cb_agg_summarize(&w, e, &sum), 0);
    assert_int_equal(sum.calls, 11);
    assert_int_equal(sum.sum_ns, 1300);
    assert_int_equal(sum.p50_ns, 100);
    assert_int_equal(sum.max_ns, 300);
    e = &s->c[1].e;
    assert_int_equal(e->counter.sum, INT64_MAX); /* saturated */
    assert_int_equal(cb_agg_summarize(&w, e, &sum), -EINVAL);
    e = &s->c[2].e;
    assert_true(e->gauge.last == 3.0 && e->gauge.min == -1.0 &&
                e->gauge.max == 3.0 && e->gauge.n == 2 && e->rejected == 1);
    e = &s->c[3].e;
    assert_int_equal(e->hist->count, 1);
    assert_int_equal(e->hist->min, 1500); /* 1.5 in 1/1000 units */
    assert_int_equal(e->rejected, 2);
    cb_agg_destroy(a);
    sink_free(s);
}

static void
test_agg_keys_and_bad_input(void **state)
{
    (void)state;
    g_case = "keys";
    struct cb_agg *a;
    assert_int_equal(cb_agg_create(NULL, &a), 0);
    uint32_t id1, id2, id3, id4;
    assert_int_equal(cb_agg_key(a, CB_AGG_COUNTER, "x", "k=v", &id1), 0);
    assert_int_equal(cb_agg_key(a, CB_AGG_COUNTER, "x", "k=v", &id2), 0);
    assert_int_equal(cb_agg_key(a, CB_AGG_GAUGE, "x", "k=v", &id3), 0);
    assert_int_equal(cb_agg_key(a, CB_AGG_COUNTER, "x", NULL, &id4), 0);
    assert_int_equal(id1, id2);
    assert_true(id3 != id1 && id4 != id1 && id4 != id3);
    assert_int_equal(cb_agg_key(a, 0, "x", NULL, &id4), -EINVAL);
    assert_int_equal(cb_agg_key(a, CB_AGG_GAUGE, "", NULL, &id4), -EINVAL);
    assert_int_equal(cb_agg_gauge(a, id1, 1, 1.0), -EINVAL); /* a counter */
    assert_int_equal(cb_agg_count(a, 999, 1, 1), -EINVAL);
    assert_int_equal(cb_agg_call(a, id1, 1, 1, 7, 0), -EINVAL);
    /* Many keys: the table and every open window grow. */
    char name[32];
    for (int i = 0; i < 1000; i++) {
        snprintf(name, sizeof(name), "fn%d", i);
        assert_int_equal(cb_agg_key(a, CB_AGG_FUNCTION, name, NULL, &id4), 0);
        assert_int_equal(id4, (uint32_t)i + 3);
        assert_int_equal(cb_agg_call(a, id4, 5 * SEC, 10, CB_AGG_OK, 0), 0);
    }
    struct cb_agg_stats st;
    cb_agg_stats(a, &st);
    assert_int_equal(st.keys, 1003);
    assert_int_equal(st.open_windows, 1);
    assert_string_equal(cb_agg_kind_name(CB_AGG_OBSERVE), "observe");
    assert_string_equal(cb_agg_kind_name(42), "?");
    cb_agg_destroy(a);
    cb_agg_destroy(NULL);
}

/* ========================================================================
 * Roll-ups (Property 5) and trends (Property 10)
 * ======================================================================== */

/* Independent calendar reference: libc's gmtime_r / timegm. */
static uint64_t
ref_period_start(int period, uint64_t ts_ns)
{
    time_t t = (time_t)(ts_ns / SEC);
    struct tm tm;
    gmtime_r(&t, &tm);
    tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
    if (period == CB_PERIOD_MONTH)
        tm.tm_mday = 1;
    time_t s = timegm(&tm);
    if (period == CB_PERIOD_WEEK) {
        s -= (time_t)((tm.tm_wday + 6) % 7) * 86400; /* back to Monday */
        if (s < 0)
            s = 0;
    }
    return (uint64_t)s * SEC;
}

static void
test_period_boundaries_match_libc(void **state)
{
    (void)state;
    g_case = "calendar";
    struct cbt_rng r = rng_for(8);
    /* 2024-02-29 12:34:56 UTC: a leap day, Thursday. */
    uint64_t t = UINT64_C(1709210096) * SEC;
    assert_int_equal(cb_period_start(CB_PERIOD_DAY, t), 1709164800 * SEC);
    assert_int_equal(cb_period_start(CB_PERIOD_WEEK, t), 1708905600 * SEC);
    assert_int_equal(cb_period_start(CB_PERIOD_MONTH, t), 1706745600 * SEC);
    assert_int_equal(cb_period_next(CB_PERIOD_MONTH, t), 1709251200 * SEC);
    for (int i = 0; i < 20000; i++) {
        uint64_t ts =
            cbt_below(&r, UINT64_C(4102444800)) * SEC + cbt_below(&r, SEC);
        if (i < 100)
            ts = (uint64_t)i * 3600 * SEC * 7; /* the epoch's first weeks */
        for (int p = CB_PERIOD_DAY; p <= CB_PERIOD_MONTH; p++) {
            uint64_t st = cb_period_start(p, ts), nx = cb_period_next(p, ts);
            PCHECK(st == ref_period_start(p, ts), "period %d of %" PRIu64, p,
                   ts);
            PCHECK(st <= ts && ts < nx && ref_period_start(p, nx) == nx &&
                       ref_period_start(p, nx - 1) == st,
                   "next period %d of %" PRIu64, p, ts);
        }
    }
}

/* Property 5: Performance Aggregation Accuracy -- daily, weekly and
 * monthly averages computed from window summaries equal the averages
 * computed straight from the raw calls (Req 2.5). */
struct rollup_sink {
    struct cb_rollup r[3];
    int bad;
};

static void
rollup_close(void *arg, const struct cb_agg_window *w)
{
    struct rollup_sink *s = arg;
    for (size_t i = 0; i < w->n; i++) {
        struct cb_agg_summary sum;
        if (cb_agg_summarize(w, w->entries[i], &sum) != 0)
            s->bad++;
        for (int p = 0; p < 3; p++)
            if (cb_rollup_add(&s->r[p], &sum) != 0 && sum.calls)
                s->bad += cb_period_start(p + 1, sum.start_ns) ==
                          s->r[p].start_ns; /* refused inside its period */
    }
}

static void
test_prop5_rollup_averages_match_raw(void **state)
{
    (void)state;
    struct cbt_rng r = rng_for(9);
    uint64_t iters = cbt_iters(40) / 4 + 1;
    enum { N = 4000 };
    static uint64_t ts[N], dur[N];
    static int err[N];
    for (uint64_t it = 0; it < iters; it++) {
        g_case = "rollup";
        struct rollup_sink s = {0};
        /* A random instant of 2020..2030; the call times spread over
         * [0, 40) days from it and each period keeps its own calls. */
        uint64_t t0 =
            (UINT64_C(1577836800) + cbt_below(&r, 10 * 365 * 86400)) * SEC;
        int period = 1 + (int)cbt_below(&r, 3);
        assert_int_equal(cb_rollup_init(&s.r[period - 1], period, t0), 0);
        for (int p = 1; p <= 3; p++)
            if (p != period)
                cb_rollup_init(&s.r[p - 1], p, t0);
        struct cb_agg_opts o = {
            .window_ns = 10 * SEC, .on_close = rollup_close, .arg = &s};
        struct cb_agg *a;
        assert_int_equal(cb_agg_create(&o, &a), 0);
        uint32_t f;
        assert_int_equal(cb_agg_key(a, CB_AGG_FUNCTION, "f", NULL, &f), 0);
        for (int i = 0; i < N; i++) {
            ts[i] = t0 + cbt_below(&r, 40 * DAY_NS);
            dur[i] = from_double(exp(log(1e6) + normal(&r)));
            err[i] = cbt_below(&r, 20) == 0;
        }
        qsort(ts, N, sizeof(ts[0]), cmp_u64);
        for (int i = 0; i < N; i++)
            assert_true(cb_agg_call(a, f, ts[i], dur[i],
                                    err[i] ? CB_AGG_ERROR : CB_AGG_OK,
                                    -5) == 0);
        cb_agg_flush(a);
        cb_agg_destroy(a);
        PCHECK(s.bad == 0, "summaries refused");
        for (int p = 1; p <= 3; p++) {
            g_case = p == 1 ? "daily" : p == 2 ? "weekly" : "monthly";
            const struct cb_rollup *ru = &s.r[p - 1];
            uint64_t calls = 0, errors = 0, mx = 0, mn = UINT64_MAX;
            double sum = 0; /* < 2^53 here: exact */
            for (int i = 0; i < N; i++) {
                if (ts[i] < ru->start_ns || ts[i] >= ru->end_ns)
                    continue;
                calls++;
                errors += (uint64_t)err[i];
                sum += (double)dur[i];
                mx = dur[i] > mx ? dur[i] : mx;
                mn = dur[i] < mn ? dur[i] : mn;
            }
            struct cb_rollup_avg avg;
            cb_rollup_result(ru, &avg);
            double secs = (double)(ru->end_ns - ru->start_ns) / 1e9;
            PCHECK(avg.calls == calls && avg.errors == errors,
                   "calls %" PRIu64 " vs %" PRIu64, avg.calls, calls);
            PCHECK(calls == 0 || (avg.max_ns == mx && avg.min_ns == mn),
                   "extremes");
            PCHECK(avg.calls_per_s == (double)calls / secs, "calls/s");
            PCHECK(calls == 0 || avg.mean_ns == sum / (double)calls,
                   "mean %.3f vs %.3f", avg.mean_ns, sum / (double)calls);
            PCHECK(calls == 0 ||
                       avg.error_rate == (double)errors / (double)calls,
                   "error rate");
        }
    }
}

/* Reference least squares: the textbook normal equations, in long double
 * where the machine has more than double (valgrind has not), on x and y
 * shifted by their first values. */
static void
ref_fit(const double *x, const double *y, size_t n, double *slope,
        double *mean_y)
{
    long double sx = 0, sy = 0, sxx = 0, sxy = 0, x0 = x[0], y0 = y[0];
    for (size_t i = 0; i < n; i++) {
        long double dx = x[i] - x0, dy = y[i] - y0;
        sx += dx;
        sy += dy;
        sxx += dx * dx;
        sxy += dx * dy;
    }
    long double nn = (long double)n;
    *slope = (double)((nn * sxy - sx * sy) / (nn * sxx - sx * sx));
    *mean_y = (double)(y0 + sy / nn);
}

/* Property 10: Trend Calculation Correctness. */
static void
test_prop10_trend_matches_reference(void **state)
{
    (void)state;
    struct cbt_rng r = rng_for(10);
    uint64_t iters = cbt_iters(2000);
    static double x[400], y[400];
    int checked_dir = 0, regressions = 0;
    for (uint64_t it = 0; it < iters; it++) {
        g_case = "trend";
        size_t n = 2 + cbt_below(&r, 399);
        double x0 = 1.7e9 + unit(&r) * 1e8; /* wall-clock seconds */
        double step = 60.0 * (1 + (double)cbt_below(&r, 1440));
        double b = (unit(&r) - 0.5) * 1e-3 * pow(10, (double)cbt_below(&r, 4));
        double a0 = 1e3 + unit(&r) * 1e6, noise = unit(&r) * 0.05 * a0;
        for (size_t i = 0; i < n; i++) {
            x[i] = x0 + (double)i * step + unit(&r) * step * 0.5;
            y[i] = a0 + b * (x[i] - x0) + noise * normal(&r);
        }
        struct cb_trend_opts o = {.flat_rel = unit(&r) * 0.1,
                                  .regress_rel = unit(&r) * 0.5,
                                  .lower_is_worse = (int)cbt_below(&r, 2)};
        struct cb_trend t;
        PCHECK(cb_trend_fit(x, y, n, &o, &t) == 0, "fit of %zu", n);
        double slope, my;
        ref_fit(x, y, n, &slope, &my);
        double span = x[n - 1] - x[0]; /* x is increasing */
        double scale = fabs(slope) + fabs(my) / span * 1e-9;
        PCHECK(fabs(t.slope - slope) <= 1e-8 * scale,
               "slope %.12g vs %.12g (n=%zu)", t.slope, slope, n);
        PCHECK(fabs(t.mean_y - my) <= 1e-12 * fabs(my), "mean");
        PCHECK(fabs(t.intercept + t.slope * t.mean_x - t.mean_y) <=
                   1e-9 * fabs(my),
               "the line passes through the means");
        /* Direction and flag from the definition (agg.h), with the
         * reference numbers; skip cases within rounding of a threshold. */
        double rel = slope * span / fabs(my);
        PCHECK(fabs(t.rel_change - rel) <= 1e-8 * fabs(rel) + 1e-15,
               "rel_change %.12g vs %.12g", t.rel_change, rel);
        if (fabs(fabs(rel) - o.flat_rel) > 1e-6 &&
            fabs(fabs(rel) - o.regress_rel) > 1e-6) {
            int dir = fabs(rel) <= o.flat_rel ? CB_TREND_FLAT
                      : rel > 0               ? CB_TREND_UP
                                              : CB_TREND_DOWN;
            int bad = o.lower_is_worse ? rel < 0 : rel > 0;
            int reg = bad && fabs(rel) > o.regress_rel;
            PCHECK(t.direction == dir, "direction %d, expected %d", t.direction,
                   dir);
            PCHECK(t.regression == reg,
                   "regression %d, expected %d (rel "
                   "%.6f, threshold %.6f)",
                   t.regression, reg, rel, o.regress_rel);
            checked_dir++;
            regressions += reg;
        }
        /* Sign: a strong built-in trend with little noise is found. */
        if (fabs(b) * span > 20 * noise + 0.5 * o.flat_rel * a0 &&
            fabs(b * span) > 2 * o.flat_rel * (a0 + b * span))
            PCHECK(t.direction == (b > 0 ? CB_TREND_UP : CB_TREND_DOWN),
                   "built-in slope %g found as direction %d", b, t.direction);
    }
    PCHECK(checked_dir > (int)iters / 2 && regressions > 0,
           "checked %d, regressions %d", checked_dir, regressions);
}

static void
test_prop10_trend_edges(void **state)
{
    (void)state;
    g_case = "trend-edges";
    double x[4] = {1, 2, 3, 4}, y[4] = {10, 10, 10, 10}, same[4] = {5, 5, 5, 5};
    struct cb_trend t;
    assert_int_equal(cb_trend_fit(x, y, 1, NULL, &t), -EINVAL);
    assert_int_equal(cb_trend_fit(same, y, 4, NULL, &t), -EDOM);
    assert_int_equal(cb_trend_fit(NULL, y, 4, NULL, &t), -EINVAL);
    assert_int_equal(cb_trend_fit(x, y, 4, NULL, &t), 0);
    assert_true(t.slope == 0 && t.direction == CB_TREND_FLAT && !t.regression &&
                t.mean_y == 10);
    double up[4] = {100, 110, 120, 130};
    assert_int_equal(cb_trend_fit(x, up, 4, NULL, &t), 0);
    assert_true(fabs(t.slope - 10) < 1e-12 && t.direction == CB_TREND_UP &&
                t.regression); /* +30 over a mean of 115: 26 % */
    struct cb_trend_opts thr = {
        .flat_rel = 0.02, .regress_rel = 0.10, .lower_is_worse = 1};
    assert_int_equal(cb_trend_fit(x, up, 4, &thr, &t), 0);
    assert_true(t.direction == CB_TREND_UP && !t.regression);
    double zero[4] = {-1, 1, -1, 1};
    assert_int_equal(cb_trend_fit(x, zero, 4, NULL, &t), 0);
    assert_true(isinf(t.rel_change) && t.rel_change > 0 && t.regression);
    y[2] = NAN;
    assert_int_equal(cb_trend_fit(x, y, 4, NULL, &t), -EINVAL);
}

/* Property 10: the regression flag of a period comparison fires exactly
 * when the change goes the bad way beyond the threshold (strictly). */
static void
test_prop10_change_flag_exact(void **state)
{
    (void)state;
    g_case = "change";
    struct cb_change c;
    struct cb_trend_opts o = {.flat_rel = 0.02, .regress_rel = 0.10};
    assert_int_equal(cb_change_eval(100, 110, &o, &c), 0);
    assert_true(c.rel == 0.10 && !c.regression && c.direction == CB_TREND_UP);
    assert_int_equal(cb_change_eval(100, 110.001, &o, &c), 0);
    assert_true(c.regression);
    assert_int_equal(cb_change_eval(100, 50, &o, &c), 0);
    assert_true(!c.regression && c.direction == CB_TREND_DOWN);
    assert_int_equal(cb_change_eval(0, 0, &o, &c), 0);
    assert_true(c.rel == 0 && c.direction == CB_TREND_FLAT && !c.regression);
    assert_int_equal(cb_change_eval(0, 1, &o, &c), 0);
    assert_true(isinf(c.rel) && c.regression);
    assert_int_equal(cb_change_eval(NAN, 1, &o, &c), -EINVAL);
    struct cbt_rng r = rng_for(11);
    for (int i = 0; i < 100000; i++) {
        double prev = unit(&r) * 1000, cur = unit(&r) * 1000;
        if (i % 3 == 0)
            cur = prev * (1 + o.regress_rel);
        o.lower_is_worse = i & 1;
        assert_int_equal(cb_change_eval(prev, cur, &o, &c), 0);
        double rel = (cur - prev) / prev;
        int bad = o.lower_is_worse ? cur < prev : cur > prev;
        PCHECK(c.regression == (bad && fabs(rel) > o.regress_rel),
               "%.17g -> %.17g", prev, cur);
    }
}

/* Two periods: p95 up 30 % and throughput halved are regressions, unless
 * a period has too few calls. */
static void
test_rollup_compare_flags_regressions(void **state)
{
    (void)state;
    g_case = "compare";
    struct cb_rollup_avg prev = {.calls = 1000,
                                 .calls_per_s = 10,
                                 .error_rate = 0.01,
                                 .mean_ns = 1e6,
                                 .p95_ns = 2e6,
                                 .p99_ns = 3e6};
    struct cb_rollup_avg cur = prev;
    struct cb_period_cmp cmp;
    assert_int_equal(cb_rollup_compare(&prev, &cur, NULL, 100, &cmp), 0);
    assert_false(cmp.regression);
    cur.p95_ns = 2.6e6;
    assert_int_equal(cb_rollup_compare(&prev, &cur, NULL, 100, &cmp), 0);
    assert_true(cmp.regression && cmp.p95_ns.regression &&
                fabs(cmp.p95_ns.rel - 0.3) < 1e-12 && !cmp.mean_ns.regression);
    cur = prev;
    cur.calls_per_s = 5;
    assert_int_equal(cb_rollup_compare(&prev, &cur, NULL, 100, &cmp), 0);
    assert_true(cmp.regression && cmp.calls_per_s.regression &&
                cmp.calls_per_s.direction == CB_TREND_DOWN);
    cur.calls = 10;
    assert_int_equal(cb_rollup_compare(&prev, &cur, NULL, 100, &cmp), 0);
    assert_false(cmp.regression);
    assert_true(cmp.calls_per_s.direction == CB_TREND_DOWN);
}

int
main(void)
{
    g_seed = cbt_seed(DEFAULT_SEED);
    printf("# CB_TEST_SEED=0x%" PRIx64 "\n", g_seed);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hist_buckets_tile_the_range),
        cmocka_unit_test(test_prop5_hist_percentiles_within_bound),
        cmocka_unit_test(test_prop5_hist_merge_of_splits_is_exact),
        cmocka_unit_test(test_hist_add_n_and_reset),
        cmocka_unit_test(test_hist_encode_roundtrip_and_hostile),
        cmocka_unit_test(test_window_out_of_order_across_boundaries),
        cmocka_unit_test(test_window_catch_up_files_by_record_time),
        cmocka_unit_test(test_window_late_events_counted),
        cmocka_unit_test(test_window_merge_equals_direct_aggregate),
        cmocka_unit_test(test_window_kinds_by_hand),
        cmocka_unit_test(test_agg_keys_and_bad_input),
        cmocka_unit_test(test_period_boundaries_match_libc),
        cmocka_unit_test(test_prop5_rollup_averages_match_raw),
        cmocka_unit_test(test_prop10_trend_matches_reference),
        cmocka_unit_test(test_prop10_trend_edges),
        cmocka_unit_test(test_prop10_change_flag_exact),
        cmocka_unit_test(test_rollup_compare_flags_regressions),
    };
    return cmocka_run_group_tests_name("consumers.agg", tests, NULL, NULL);
}
