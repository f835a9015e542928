/*
 * tests/bus/test_producer.c -- the producer API of clipbus.h
 * (bus/src/producer.c), read back through the reader API.
 *
 * This process is the producer: group set-up opens its segment on a bus of
 * its own, and a reader attached to the same segment reads each test's
 * records from the main thread's ring (a cursor started "from now" in
 * every test), or from another thread's ring found by its tid.
 *
 * Covered: CB_MONITOR_EXECUTION parameters, duration and outcome with
 * cb_fail (code and message, cut when long, early returns), nested calls,
 * the in-flight stack while calls run, CB_TRACK_PERFORMANCE and its
 * sampling, sessions with weighted and nested progress steps that add up
 * exactly to the total, metrics with labels, cb_log, thread records,
 * names, timestamps converted to wall-clock time, cb_strerror.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <clipbus/clipbus.h>
#include <clipbus/reader.h>

#include "cbt.h"
#include "selfseg.h"

static struct {
    struct selfseg s;      /* this process's bus and segment */
    struct cb_cursor *cur; /* main thread's ring */
    uint32_t main_ring;
} g;

/* ---- set-up and reading ------------------------------------------------- */

static int
group_setup(void **state)
{
    (void)state;
    setenv("CLIPBUS_PERF_SLOW_US", "1000", 1);
    if (selfseg_open(&g.s, "producer") != 0 || /* claims the main ring */
        selfseg_ring_of(&g.s, (uint32_t)gettid(), &g.main_ring) != 0)
        return -1;
    g.cur = malloc(sizeof *g.cur);
    return g.cur == NULL ? -1 : 0;
}

static int
group_teardown(void **state)
{
    (void)state;
    free(g.cur);
    selfseg_close(&g.s);
    return 0;
}

/* Each test reads only what it published. */
static int
test_setup(void **state)
{
    (void)state;
    return cb_cursor_init(g.cur, g.s.seg, g.main_ring, CB_FROM_NOW);
}

/* The next non-thread entry of cur, or a test failure. */
static void
next_of(struct cb_cursor *cur, struct cb_entry *e)
{
    int rc;
    do {
        rc = cb_cursor_next(cur, e);
        if (rc != 1)
            fail_msg("expected an entry, cb_cursor_next returned %d "
                     "(lost %" PRIu64 ")", rc, cur->lost);
    } while (e->head.kind == CB_KIND_THREAD);
    assert_int_equal(cur->lost, 0);
}

static void
next(struct cb_entry *e)
{
    next_of(g.cur, e);
}

static void
expect_no_more(void)
{
    struct cb_entry e;
    int rc = cb_cursor_next(g.cur, &e);
    if (rc != 0)
        fail_msg("unexpected entry of kind %u", e.head.kind);
}

static int
name_is(uint32_t id, const char *want)
{
    return selfseg_name_is(&g.s, id, want);
}

#define assert_name(id, want)                                                  \
    do {                                                                       \
        char nb_[128];                                                         \
        if (!name_is((id), (want)))                                            \
            fail_msg("name id %u is \"%s\", want \"%s\"", (id),                \
                     cb_segment_name_copy(g.s.seg, (id), nb_, sizeof nb_),       \
                     (want));                                                  \
    } while (0)

/* Decoded fields of an entry. */
struct fields {
    int n;
    struct cb_field f[16];
};

static void
fields_of(const struct cb_entry *e, struct fields *fs)
{
    fs->n = selfseg_fields(e, fs->f, 16);
    assert_true(fs->n >= 0); /* decoded to the end of the data */
}

static const struct cb_field *
field(const struct fields *fs, int type, const char *name)
{
    for (int i = 0; i < fs->n; i++)
        if (fs->f[i].type == type &&
            (name == NULL || name_is(fs->f[i].name_id, name)))
            return &fs->f[i];
    return NULL;
}

static double
dbl(uint64_t bits)
{
    double d;
    memcpy(&d, &bits, sizeof d);
    return d;
}

/* ---- monitored calls ---------------------------------------------------- */

__attribute__((noinline)) static int
mon_ok(int a, double x, const char *s)
{
    CB_MONITOR_EXECUTION(CB_INT("a", a), CB_DBL("x", x), CB_STR("s", s));
    cbt_sleep_us(2000);
    return a;
}

static void
test_producer_call_records_params_start_duration_success(void **state)
{
    struct cb_entry e;
    struct fields fs;
    const struct cb_field *f;
    uint64_t t0, t1, dur_ns;

    (void)state;
    t0 = cb_segment_now_ticks(g.s.seg);
    assert_int_equal(mon_ok(42, 2.5, "hello"), 42);
    t1 = cb_segment_now_ticks(g.s.seg);
    next(&e);
    assert_int_equal(e.head.kind, CB_KIND_CALL);
    assert_name(e.head.name_id, "mon_ok");
    assert_int_equal(e.head.status, CB_STATUS_OK);
    assert_int_equal(e.head.flags, 0);
    assert_int_equal(e.head.session, 0);
    assert_true(e.head.ts >= t0 && e.head.ts + e.head.value <= t1);
    dur_ns = cb_segment_ticks_ns(g.s.seg, e.head.value);
    assert_true(dur_ns >= 2000000u && dur_ns < 1000000000u);
    fields_of(&e, &fs);
    assert_int_equal(fs.n, 3);
    f = field(&fs, CB_FIELD_I64, "a");
    assert_non_null(f);
    assert_int_equal(f->i, 42);
    f = field(&fs, CB_FIELD_F64, "x");
    assert_non_null(f);
    assert_true(f->d == 2.5);
    f = field(&fs, CB_FIELD_STR, "s");
    assert_non_null(f);
    assert_int_equal(f->s_len, 5);
    assert_memory_equal(f->s, "hello", 5);
    assert_null(field(&fs, CB_FIELD_ERR, NULL));
    expect_no_more();
}

__attribute__((noinline)) static int
mon_fail(int ms, int early)
{
    CB_MONITOR_EXECUTION(CB_INT("ms", ms));
    if (early)
        return cb_fail(-ETIMEDOUT, "no answer in %d ms", ms);
    if (ms > 1000)
        return -1; /* negative but not marked: a success */
    return 0;
}

static void
test_producer_fail_marks_code_and_message_on_any_return(void **state)
{
    struct cb_entry e;
    struct fields fs;
    const struct cb_field *f;

    (void)state;
    assert_int_equal(mon_fail(250, 1), -ETIMEDOUT);
    assert_int_equal(mon_fail(2000, 0), -1);
    assert_int_equal(mon_fail(5, 0), 0);
    next(&e);
    assert_name(e.head.name_id, "mon_fail");
    assert_int_equal(e.head.status, CB_STATUS_ERROR);
    fields_of(&e, &fs);
    f = field(&fs, CB_FIELD_ERR, NULL);
    assert_non_null(f);
    assert_int_equal(f->i, -ETIMEDOUT);
    assert_int_equal(f->s_len, strlen("no answer in 250 ms"));
    assert_memory_equal(f->s, "no answer in 250 ms", f->s_len);
    /* Convention: a negative return without cb_fail() is a success. */
    next(&e);
    assert_int_equal(e.head.status, CB_STATUS_OK);
    fields_of(&e, &fs);
    assert_null(field(&fs, CB_FIELD_ERR, NULL));
    next(&e);
    assert_int_equal(e.head.status, CB_STATUS_OK);
    expect_no_more();
}

__attribute__((noinline)) static int
mon_long_fail(void)
{
    CB_MONITOR_EXECUTION();
    char big[400];
    memset(big, 'e', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    return cb_fail(-EIO, "%s", big);
}

static void
test_producer_fail_message_is_cut_to_limit(void **state)
{
    struct cb_entry e;
    struct fields fs;
    const struct cb_field *f;

    (void)state;
    assert_int_equal(mon_long_fail(), -EIO);
    next(&e);
    assert_int_equal(e.head.status, CB_STATUS_ERROR);
    fields_of(&e, &fs);
    assert_int_equal(fs.n, 1);
    f = field(&fs, CB_FIELD_ERR, NULL);
    assert_non_null(f);
    assert_int_equal(f->i, -EIO);
    assert_int_equal(f->s_len, CB__ERRMSG_MAX - 1);
    for (size_t i = 0; i < f->s_len; i++)
        assert_int_equal(f->s[i], 'e');
}

static void
test_producer_fail_outside_call_only_returns_code(void **state)
{
    (void)state;
    assert_int_equal(cb_fail(-7, "nobody is monitoring %d", 7), -7);
    assert_int_equal(cb_cursor_lag(g.cur), 0);
    expect_no_more();
}

__attribute__((noinline)) static int
nested_inner(int depth)
{
    CB_MONITOR_EXECUTION(CB_INT("depth", depth));
    return cb_fail(-depth, "inner failed");
}

__attribute__((noinline)) static int
nested_outer(void)
{
    CB_MONITOR_EXECUTION();
    (void)nested_inner(3);
    return 0; /* the inner failure does not mark the outer call */
}

static void
test_producer_nested_calls_inner_first_failure_stays_inner(void **state)
{
    struct cb_entry in, out;

    (void)state;
    assert_int_equal(nested_outer(), 0);
    next(&in);
    next(&out);
    assert_name(in.head.name_id, "nested_inner");
    assert_name(out.head.name_id, "nested_outer");
    assert_int_equal(in.head.status, CB_STATUS_ERROR);
    assert_int_equal(out.head.status, CB_STATUS_OK);
    /* The inner call lies within the outer one. */
    assert_true(out.head.ts <= in.head.ts);
    assert_true(in.head.ts + in.head.value <= out.head.ts + out.head.value);
    expect_no_more();
}

__attribute__((noinline)) static int
param_overflow(const char *s)
{
    CB_MONITOR_EXECUTION(CB_STR("s1", s), CB_STR("s2", s), CB_INT("i", 7));
    return 0;
}

static void
test_producer_params_beyond_call_data_are_cut_and_flagged(void **state)
{
    char big[300];
    struct cb_entry e;
    struct fields fs;

    (void)state;
    memset(big, 'p', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    param_overflow(big);
    next(&e);
    assert_true(e.head.flags & CB_RF_TRUNCATED);
    assert_true(e.data_len <= CB__CALL_DATA);
    fields_of(&e, &fs);
    assert_true(fs.n >= 1);
    /* What is there decodes and is a prefix of the parameter. */
    for (int i = 0; i < fs.n; i++)
        if (fs.f[i].type == CB_FIELD_STR)
            for (size_t k = 0; k < fs.f[i].s_len; k++)
                assert_int_equal(fs.f[i].s[k], 'p');
}

/* ---- in-flight stack ---------------------------------------------------- */

static struct {
    pthread_barrier_t entered, release;
    uint32_t tid;
    int depth;
} g_fl;

__attribute__((noinline)) static int
blocking_inner(int n)
{
    CB_MONITOR_EXECUTION(CB_INT("n", n));
    if (n > 1)
        return blocking_inner(n - 1);
    pthread_barrier_wait(&g_fl.entered);
    pthread_barrier_wait(&g_fl.release);
    return 0;
}

__attribute__((noinline)) static int
blocking_outer(void)
{
    CB_MONITOR_EXECUTION();
    return blocking_inner(g_fl.depth);
}

static void *
inflight_thread(void *arg)
{
    (void)arg;
    pthread_setname_np(pthread_self(), "inflight-t");
    __atomic_store_n(&g_fl.tid, (uint32_t)gettid(), __ATOMIC_RELEASE);
    blocking_outer();
    return NULL;
}

static void
inflight_case(int inner_depth)
{
    struct cb_inflight_frame fr[CB_INFLIGHT_MAX + 4];
    char tname[CB_THREAD_NAME_MAX];
    uint32_t ring = UINT32_MAX, depth = 0;
    uint32_t want = (uint32_t)inner_depth + 1;
    pthread_t th;
    int n;

    g_fl.depth = inner_depth;
    pthread_barrier_init(&g_fl.entered, NULL, 2);
    pthread_barrier_init(&g_fl.release, NULL, 2);
    pthread_create(&th, NULL, inflight_thread, NULL);
    pthread_barrier_wait(&g_fl.entered);
    assert_int_equal(selfseg_ring_of(&g.s, __atomic_load_n(&g_fl.tid,
                                                  __ATOMIC_ACQUIRE),
                                  &ring), 0);
    assert_int_equal(cb_segment_ring_owner(g.s.seg, ring, tname), g_fl.tid);
    assert_string_equal(tname, "inflight-t");
    n = cb_segment_inflight(g.s.seg, ring, fr, CB_INFLIGHT_MAX + 4, &depth);
    assert_int_equal(depth, want);
    assert_int_equal(n, want < CB_INFLIGHT_MAX ? want : CB_INFLIGHT_MAX);
    assert_name(fr[0].name_id, "blocking_outer");
    for (int i = 1; i < n; i++) {
        assert_name(fr[i].name_id, "blocking_inner");
        assert_true(fr[i].ts >= fr[i - 1].ts);
    }
    assert_true(fr[n - 1].ts <= cb_segment_now_ticks(g.s.seg));
    /* A short buffer gets the outermost frames. */
    n = cb_segment_inflight(g.s.seg, ring, fr, 1, &depth);
    assert_int_equal(n, 1);
    assert_int_equal(depth, want);
    assert_name(fr[0].name_id, "blocking_outer");
    pthread_barrier_wait(&g_fl.release);
    pthread_join(th, NULL);
    /* Returned and gone: an empty stack, a free ring. */
    n = cb_segment_inflight(g.s.seg, ring, fr, CB_INFLIGHT_MAX, &depth);
    assert_int_equal(n, 0);
    assert_int_equal(depth, 0);
    assert_int_equal(cb_segment_ring_owner(g.s.seg, ring, tname), 0);
    pthread_barrier_destroy(&g_fl.entered);
    pthread_barrier_destroy(&g_fl.release);
}

static void
test_producer_inflight_stack_shows_running_calls(void **state)
{
    (void)state;
    inflight_case(1);
}

static void
test_producer_inflight_stack_deeper_than_frames_reports_depth(void **state)
{
    (void)state;
    inflight_case(CB_INFLIGHT_MAX + 5);
}

/* ---- performance -------------------------------------------------------- */

__attribute__((noinline)) static int
perf_always(int ms)
{
    CB_TRACK_PERFORMANCE(CB_INT("ms", ms));
    cbt_burn_cpu_us((uint64_t)ms * 1000u);
    return 0;
}

__attribute__((noinline)) static int
perf_sampled(int ms)
{
    CB_TRACK_PERFORMANCE_EVERY(4, CB_INT("ms", ms));
    if (ms > 0)
        cbt_burn_cpu_us((uint64_t)ms * 1000u);
    return 0;
}

static int
has_perf(const struct cb_entry *e, struct cb_perf *out)
{
    struct fields fs;
    const struct cb_field *f;
    fields_of(e, &fs);
    f = field(&fs, CB_FIELD_PERF, NULL);
    if (f != NULL && out != NULL)
        *out = f->perf;
    return f != NULL;
}

static void
test_producer_track_performance_records_cpu_and_memory(void **state)
{
    struct cb_entry e;
    struct cb_perf p = {0}; /* set by has_perf; -O3 cannot tell */

    (void)state;
    perf_always(3);
    next(&e);
    assert_name(e.head.name_id, "perf_always");
    assert_true(has_perf(&e, &p));
    assert_true(p.cpu_ns >= 1000000u && p.cpu_ns < 1000000000u);
    assert_true(p.rss_kb > 0);
    assert_true(p.maxrss_kb >= p.rss_kb / 2);
}

static void
test_producer_track_performance_every_4th_and_while_slow(void **state)
{
    struct cb_entry e;
    int measured = 0;

    (void)state;
    for (int i = 0; i < 8; i++)
        perf_sampled(0);
    for (int i = 0; i < 8; i++) {
        next(&e);
        measured += has_perf(&e, NULL);
    }
    assert_int_equal(measured, 2);
    /* A call longer than CLIPBUS_PERF_SLOW_US (1000 us) switches the site
     * to measuring every call until one is fast again. */
    perf_sampled(3);
    perf_sampled(0);
    perf_sampled(0);
    next(&e); /* the slow call: may or may not have been measured */
    next(&e);
    assert_true(has_perf(&e, NULL));
    next(&e);
    (void)has_perf(&e, NULL);
}

/* ---- sessions and progress ---------------------------------------------- */

static double g_sum;
static int g_progress, g_bad_session;

/* Reads everything of this test and adds up the progress of session id. */
static void
sum_progress(uint32_t id, double *total, int *ended, int *status)
{
    struct cb_entry e;
    g_sum = 0;
    g_progress = 0;
    g_bad_session = 0;
    *total = -1;
    *ended = 0;
    while (cb_cursor_next(g.cur, &e) == 1) {
        switch (e.head.kind) {
        case CB_KIND_SESSION_BEGIN:
            assert_int_equal(e.head.session, id);
            *total = dbl(e.head.value);
            break;
        case CB_KIND_PROGRESS:
            g_bad_session += e.head.session != id;
            g_sum += dbl(e.head.value);
            g_progress++;
            break;
        case CB_KIND_SESSION_END:
            *ended = 1;
            *status = e.head.status;
            break;
        default:
            break;
        }
    }
    assert_int_equal(g.cur->lost, 0);
}

__attribute__((noinline)) static void
sub_step(void)
{
    CB_PROGRESS_STEP(1);
}

__attribute__((noinline)) static void
step_a(void)
{
    CB_PROGRESS_STEP(40);
    cb_progress_total(4);
    for (int i = 0; i < 4; i++)
        sub_step();
}

__attribute__((noinline)) static void
step_b(void)
{
    CB_PROGRESS_STEP(60); /* no sub-total: reports its whole weight */
}

static void
test_producer_session_weighted_steps_sum_exactly_to_total(void **state)
{
    double total;
    int ended, status;
    uint32_t id;

    (void)state;
    id = cb_session_begin("job", 100);
    assert_true(id > 0);
    step_a();
    step_b();
    cb_session_end(CB_SESSION_OK);
    sum_progress(id, &total, &ended, &status);
    assert_true(total == 100.0);
    assert_true(ended);
    assert_int_equal(status, CB_SESSION_OK);
    assert_int_equal(g_bad_session, 0);
    if (g_sum != 100.0)
        fail_msg("progress adds up to %.17g, want exactly 100", g_sum);
}

__attribute__((noinline)) static void
leaf(void)
{
    CB_PROGRESS_STEP(1);
}

__attribute__((noinline)) static void
mid(void)
{
    CB_PROGRESS_STEP(1);
    cb_progress_total(3);
    for (int i = 0; i < 3; i++)
        leaf();
}

__attribute__((noinline)) static void
partial(void)
{
    CB_PROGRESS_STEP(1);
    cb_progress_total(7);
    cb_progress(2); /* then returns early: the rest is reported at exit */
}

__attribute__((noinline)) static void
overcommitted(void)
{
    CB_PROGRESS_STEP(5);
    cb_progress_total(2);
    for (int i = 0; i < 3; i++)
        leaf(); /* three steps of 1 in a sub-total of 2 */
}

__attribute__((noinline)) static void
outer_step(void)
{
    CB_PROGRESS_STEP(30);
    cb_progress_total(4);
    mid();
    mid();
    partial();
    leaf();
}

static void
test_producer_nested_steps_roll_up_to_total(void **state)
{
    double total;
    int ended, status;
    uint32_t id;

    (void)state;
    id = cb_session_begin("nested", 50);
    cb_progress(10);  /* session-level progress outside any step */
    outer_step();     /* 30, in thirds and sevenths */
    overcommitted();  /* 5, never more */
    cb_progress(5);
    cb_session_end(CB_SESSION_PARTIAL);
    sum_progress(id, &total, &ended, &status);
    assert_true(total == 50.0);
    assert_int_equal(status, CB_SESSION_PARTIAL);
    if (fabs(g_sum - 50.0) > 1e-9)
        fail_msg("nested progress adds up to %.17g, want 50", g_sum);
}

static void
test_producer_sessions_get_increasing_ids(void **state)
{
    struct cb_segment_counters c0, c1;
    uint32_t a, b;

    (void)state;
    cb_segment_counters(g.s.seg, &c0);
    a = cb_session_begin("s1", 1);
    cb_session_end(CB_SESSION_OK);
    b = cb_session_begin("s2", 1);
    cb_session_end(CB_SESSION_FAILED);
    cb_segment_counters(g.s.seg, &c1);
    assert_true(a > 0 && b > a);
    assert_int_equal(c1.sessions, c0.sessions + 2);
}

/* ---- metrics, logs, names, time ----------------------------------------- */

static void
test_producer_metrics_carry_values_and_labels(void **state)
{
    struct cb_entry e;
    struct fields fs;
    const struct cb_field *l;
    char labels[32];

    (void)state;
    cb_count("requests", 3);
    cb_count_l("requests", 1, "reason=http_429");
    cb_gauge("temperature", 21.5);
    cb_observe_l("latency_s", 0.25, "route=/a,method=GET");
    snprintf(labels, sizeof labels, "shard=%d", 7); /* not a literal */
    cb_gauge_l("queue", -4.0, labels);

    next(&e);
    assert_int_equal(e.head.kind, CB_KIND_COUNT);
    assert_name(e.head.name_id, "requests");
    assert_int_equal(e.head.value, 3);
    assert_int_equal(e.data_len, 0);
    next(&e);
    assert_int_equal(e.head.value, 1);
    fields_of(&e, &fs);
    l = field(&fs, CB_FIELD_LABELS, NULL);
    assert_non_null(l);
    assert_name(l->name_id, "reason=http_429");
    next(&e);
    assert_int_equal(e.head.kind, CB_KIND_GAUGE);
    assert_name(e.head.name_id, "temperature");
    assert_true(dbl(e.head.value) == 21.5);
    next(&e);
    assert_int_equal(e.head.kind, CB_KIND_OBSERVE);
    assert_true(dbl(e.head.value) == 0.25);
    fields_of(&e, &fs);
    assert_name(field(&fs, CB_FIELD_LABELS, NULL)->name_id,
                "route=/a,method=GET");
    next(&e);
    assert_true(dbl(e.head.value) == -4.0);
    fields_of(&e, &fs);
    assert_name(field(&fs, CB_FIELD_LABELS, NULL)->name_id, "shard=7");
    expect_no_more();
}

__attribute__((noinline)) static void
logging_call(void)
{
    CB_MONITOR_EXECUTION();
    cb_log(CB_LOG_ERROR, "inside");
}

static void
test_producer_log_lines_carry_level_text_and_caller(void **state)
{
    struct cb_entry e;
    struct fields fs;
    const struct cb_field *s;
    char big[2100];

    (void)state;
    cb_log(CB_LOG_WARN, "hello %d %s", 5, "world");
    next(&e);
    assert_int_equal(e.head.kind, CB_KIND_LOG);
    assert_int_equal(e.head.status, CB_LOG_WARN);
    assert_int_equal(e.head.flags, 0);
    fields_of(&e, &fs);
    s = field(&fs, CB_FIELD_STR, NULL);
    assert_non_null(s);
    assert_int_equal(s->s_len, strlen("hello 5 world"));
    assert_memory_equal(s->s, "hello 5 world", s->s_len);

    logging_call();
    next(&e);
    assert_int_equal(e.head.kind, CB_KIND_LOG);
    assert_name(e.head.name_id, "logging_call");
    next(&e);
    assert_int_equal(e.head.kind, CB_KIND_CALL);

    /* Longer than 1024 bytes: cut and flagged, spread over
     * continuation records, delivered whole. */
    memset(big, 'L', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    cb_log(CB_LOG_DEBUG, "%s", big);
    next(&e);
    assert_true(e.head.flags & CB_RF_TRUNCATED);
    assert_true(e.head.ext >= 1024 / CB_CONT_DATA);
    fields_of(&e, &fs);
    s = field(&fs, CB_FIELD_STR, NULL);
    assert_non_null(s);
    assert_int_equal(s->s_len, 1024);
    for (size_t i = 0; i < s->s_len; i++)
        assert_int_equal(s->s[i], 'L');
    expect_no_more();
}

static void
test_producer_names_resolve_and_invalid_ids_do_not(void **state)
{
    char buf[64], big[2000];
    size_t len;
    uint32_t id, id2, idbig;

    (void)state;
    id = cb_name_intern("some.name");
    id2 = cb_name_intern("some.name");
    assert_true(id != 0);
    assert_int_equal(id, id2);
    assert_name(id, "some.name");
    assert_string_equal(cb_segment_name_copy(g.s.seg, id, buf, sizeof buf),
                        "some.name");
    /* Cut to the buffer. */
    assert_string_equal(cb_segment_name_copy(g.s.seg, id, buf, 5), "some");
    static const uint32_t bad[] = {0, 1, 2, 3, 4, 5, 7, 0x0fffffff,
                                   UINT32_MAX};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_null(cb_segment_name(g.s.seg, bad[i], &len));
        assert_string_equal(cb_segment_name_copy(g.s.seg, bad[i], buf,
                                                 sizeof buf), "?");
    }
    memset(big, 'n', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    idbig = cb_name_intern(big);
    assert_non_null(cb_segment_name(g.s.seg, idbig, &len));
    assert_true(len <= CB_NAME_LEN_MAX);
}

/* A reader converts with the rate it refines from its own clock readings
 * (at attach, then at every bus scan); the producer's 20 us estimate alone
 * is good to a few 10^-3, i.e. milliseconds off after a second or two of
 * the segment's life, more under TSan on a loaded machine. So each check
 * attaches the segment afresh, as a reader would hold it by then. */
static void
test_producer_timestamps_convert_to_wall_clock(void **state)
{
    struct cb_entry e;
    char why[256];

    (void)state;
    for (int i = 0; i < 3; i++) {
        struct cb_segment *seg = NULL;
        uint64_t r0 = cbt_real_ns();
        cb_count("tick", i);
        uint64_t r1 = cbt_real_ns();
        next(&e);
        assert_int_equal(cb_segment_attach(g.s.shm, 0, &seg, why, sizeof why),
                         0);
        uint64_t wall = cb_segment_wall_ns(seg, e.head.ts);
        cb_segment_detach(seg);
        if (wall + 3000000u < r0 || wall > r1 + 3000000u)
            fail_msg("record time %" PRIu64 " is %.3f ms off the wall clock "
                     "[%" PRIu64 ", %" PRIu64 "]", wall,
                     ((double)wall - (double)r0) / 1e6, r0, r1);
        cbt_sleep_us(100000);
    }
    assert_int_equal(cb_segment_ticks_ns(g.s.seg, 0), 0);
}

/* ---- threads ------------------------------------------------------------ */

static uint32_t g_worker_tid;

static void *
named_worker(void *arg)
{
    (void)arg;
    pthread_setname_np(pthread_self(), "worker-7");
    g_worker_tid = (uint32_t)gettid();
    cb_count("from.worker", 7);
    return NULL;
}

static void
test_producer_thread_record_names_the_thread(void **state)
{
    struct cb_cursor *cur = malloc(sizeof *cur);
    struct cb_entry e;
    struct fields fs;
    const struct cb_field *f;
    pthread_t th;
    uint32_t ring = UINT32_MAX;

    (void)state;
    assert_non_null(cur);
    pthread_create(&th, NULL, named_worker, NULL);
    pthread_join(th, NULL);
    /* The ring is free again; find it by its last thread record. */
    for (uint32_t r = 0; r < cb_segment_rings(g.s.seg) && ring == UINT32_MAX;
         r++) {
        assert_int_equal(cb_cursor_init(cur, g.s.seg, r, CB_FROM_OLDEST), 0);
        while (cb_cursor_next(cur, &e) == 1)
            if (e.head.kind == CB_KIND_THREAD && e.tid == g_worker_tid)
                ring = r;
    }
    assert_true(ring != UINT32_MAX);
    assert_int_equal(cb_cursor_init(cur, g.s.seg, ring, CB_FROM_OLDEST), 0);
    do
        assert_int_equal(cb_cursor_next(cur, &e), 1);
    while (!(e.head.kind == CB_KIND_THREAD && e.tid == g_worker_tid));
    fields_of(&e, &fs);
    f = field(&fs, CB_FIELD_TID, NULL);
    assert_non_null(f);
    assert_int_equal(f->i, g_worker_tid);
    f = field(&fs, CB_FIELD_STR, NULL);
    assert_non_null(f);
    assert_int_equal(f->s_len, strlen("worker-7"));
    assert_memory_equal(f->s, "worker-7", f->s_len);
    assert_int_equal(cb_cursor_next(cur, &e), 1);
    assert_int_equal(e.head.kind, CB_KIND_COUNT);
    assert_int_equal(e.tid, g_worker_tid);
    assert_int_equal(cur->tid, g_worker_tid);
    free(cur);
}

static void
test_producer_strerror_names_every_code(void **state)
{
    static const int codes[] = {CB_EBADSEG, CB_EVERSION, CB_EBUSNAME,
                                CB_ENOTREADY, CB_EDISABLED, CB_EENV,
                                CB_EFOREIGN, CB_ESTALE};
    (void)state;
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        const char *s = cb_strerror(codes[i]);
        assert_non_null(s);
        assert_true(strlen(s) > 5);
        for (size_t k = 0; k < i; k++)
            assert_string_not_equal(s, cb_strerror(codes[k]));
    }
    assert_string_equal(cb_strerror(-ENOENT), strerror(ENOENT));
    assert_non_null(cb_strerror(-3999));
    assert_non_null(cb_strerror(12345));
    assert_int_equal(cb_state(), 0);
    assert_int_equal(cb_open(g.s.bus), 0); /* again: nothing to do */
}

#define T(f) cmocka_unit_test_setup(f, test_setup)

int
main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_producer_call_records_params_start_duration_success),
        T(test_producer_fail_marks_code_and_message_on_any_return),
        T(test_producer_fail_message_is_cut_to_limit),
        T(test_producer_fail_outside_call_only_returns_code),
        T(test_producer_nested_calls_inner_first_failure_stays_inner),
        T(test_producer_params_beyond_call_data_are_cut_and_flagged),
        T(test_producer_inflight_stack_shows_running_calls),
        T(test_producer_inflight_stack_deeper_than_frames_reports_depth),
        T(test_producer_track_performance_records_cpu_and_memory),
        T(test_producer_track_performance_every_4th_and_while_slow),
        T(test_producer_session_weighted_steps_sum_exactly_to_total),
        T(test_producer_nested_steps_roll_up_to_total),
        T(test_producer_sessions_get_increasing_ids),
        T(test_producer_metrics_carry_values_and_labels),
        T(test_producer_log_lines_carry_level_text_and_caller),
        T(test_producer_names_resolve_and_invalid_ids_do_not),
        T(test_producer_timestamps_convert_to_wall_clock),
        T(test_producer_thread_record_names_the_thread),
        T(test_producer_strerror_names_every_code),
    };
    return cmocka_run_group_tests_name("bus.producer", tests, group_setup,
                                       group_teardown);
}
