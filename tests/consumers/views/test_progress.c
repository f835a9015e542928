/*
 * tests/consumers/views/test_progress.c -- the ETA estimators on synthetic
 * time (eta.c), and the session table (sessions.c, inflight.c) against
 * real producer processes.
 *
 * Property 2: Progress Tracking Consistency (seed task 3.2, Req 1.4):
 * for random trees of weighted, nested steps -- on several threads, with
 * cb_progress() advances, steps that report less than their sub-total --
 * run by real producers, the completion the consumer computes never
 * decreases, never exceeds 1, and reaches exactly 1 (done == total) when
 * the session ends. CB_TEST_SEED / CB_TEST_ITERS replay and scale it.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <clipbus/clipbus.h>
#include <clipbus/reader.h>

#include "cbt.h"
#include "eta.h"
#include "inflight.h"
#include "runtime.h"
#include "sched_class.h"
#include "sessions.h"

#define S  1000000000ull
#define MS 1000000ull

/* ---- ETA on synthetic time ---------------------------------------------- */

static const int kinds[] = {CBP_ETA_EMA, CBP_ETA_MEAN, CBP_ETA_WINDOW};

static void
test_eta_unknown_before_first_progress(void **state)
{
    (void)state;
    for (size_t k = 0; k < 3; k++) {
        struct cbp_eta e;
        struct cbp_eta_opts o = {.kind = kinds[k]};
        double eta = -7;
        assert_int_equal(cbp_eta_init(&e, &o, 100 * S), 0);
        assert_int_equal(cbp_eta_get(&e, 100 * S, 1000, &eta), -1);
        assert_int_equal(cbp_eta_get(&e, 200 * S, 1000, &eta), -1);
        cbp_eta_add(&e, 150 * S, 0); /* time passes, nothing done */
        assert_int_equal(cbp_eta_get(&e, 160 * S, 1000, &eta), -1);
        assert_true(cbp_eta_rate(&e) < 0);
        assert_true(eta == -7); /* untouched */
        /* First progress, but before the warm-up (1 s of session). */
        cbp_eta_init(&e, &o, 100 * S);
        cbp_eta_add(&e, 100 * S + 500 * MS, 5);
        assert_int_equal(cbp_eta_get(&e, 100 * S + 500 * MS, 1000, &eta), -1);
        cbp_eta_add(&e, 101 * S + 500 * MS, 15);
        assert_int_equal(cbp_eta_get(&e, 101 * S + 500 * MS, 1000, &eta), 0);
        assert_true(eta > 0);
    }
    struct cbp_eta e;
    struct cbp_eta_opts bad = {.kind = 9};
    assert_int_equal(cbp_eta_init(&e, &bad, 0), -22);
}

/* Steady rate with seeded jitter in report times and sizes: after 20 %
 * progress every estimate is within 10 % of the truth, also between
 * reports (the estimate counts down). */
static void
test_eta_steady_rate_within_10pct_after_20pct(void **state)
{
    uint64_t seed = cbt_seed(0x5eed2);
    (void)state;
    for (size_t k = 0; k < 3; k++) {
        struct cbt_rng r = {cbt_mix(seed, k)};
        struct cbp_eta e;
        struct cbp_eta_opts o = {.kind = kinds[k]};
        const double rate = 12.5, total = 2000;
        uint64_t t0 = 1000 * S, t = t0;
        double done = 0, worst = 0;
        cbp_eta_init(&e, &o, t0);
        while (done < total) {
            /* Reports 50..450 ms apart, of whole items only, so reported
             * rates jitter around a constant true rate. */
            uint64_t dt = (50 + cbt_below(&r, 400)) * MS;
            t += dt;
            double exact = (double)(t - t0) / 1e9 * rate;
            done = floor(exact);
            if (done > total)
                done = total;
            cbp_eta_add(&e, t, done);
            if (done < 0.2 * total || done >= total)
                continue;
            for (uint64_t later = 0; later < dt; later += dt / 3 + 1) {
                double eta, truth = (total - exact) / rate - later / 1e9;
                if (truth <= 1)
                    continue;
                assert_int_equal(cbp_eta_get(&e, t + later, total, &eta), 0);
                double err = fabs(eta - truth) / truth;
                worst = err > worst ? err : worst;
                if (err > 0.10)
                    fail_msg("%s: eta %.2f s vs truth %.2f s at %.0f%% "
                             "(seed %#llx)",
                             cbp_eta_kind_name(kinds[k]), eta, truth,
                             100 * done / total, (unsigned long long)seed);
            }
        }
        print_message("%s: worst relative ETA error %.4f\n",
                      cbp_eta_kind_name(kinds[k]), worst);
    }
}

/* Chunky progress (a step of 50 units every 4 s) is steady work too: the
 * EMA's estimate swings by less than 5 % of the truth from report to
 * report once 20 % is done. */
static void
test_eta_chunky_steady_work_is_stable(void **state)
{
    struct cbp_eta e;
    double total = 1000, done = 0, prev = -1;
    uint64_t t = 0;
    (void)state;
    cbp_eta_init(&e, NULL, 0);
    while (done < total - 50) {
        t += 4 * S;
        done += 50;
        cbp_eta_add(&e, t, done);
        double eta, truth = (total - done) / 12.5;
        assert_int_equal(cbp_eta_get(&e, t, total, &eta), 0);
        if (done >= 200) {
            assert_true(fabs(eta - truth) <= 0.05 * truth);
            if (prev >= 0)
                assert_true(fabs((prev - 4) - eta) <= 0.05 * truth);
        }
        prev = eta;
    }
}

/* A change of pace: 20 u/s, then 5 u/s. The EMA's error is within 5 % of
 * the change after 3 tau and 1 % after 5 tau (the documented window:
 * exp(-t/tau)), and then its ETA is within 10 % of the truth; half a tau
 * after the change it is not yet (the test can fail). */
static void
test_eta_ema_converges_within_3tau(void **state)
{
    const uint64_t tau = 10 * S;
    struct cbp_eta e;
    struct cbp_eta_opts o = {.kind = CBP_ETA_EMA, .tau_ns = tau};
    double done = 0, total = 5000, eta;
    uint64_t t = 0, change = 60 * S;
    (void)state;
    cbp_eta_init(&e, &o, 0);
    for (t = 200 * MS; t <= change; t += 200 * MS) {
        done += 20 * 0.2;
        cbp_eta_add(&e, t, done);
    }
    assert_true(fabs(cbp_eta_rate(&e) - 20) < 1e-6);
    for (; t <= change + 5 * tau; t += 200 * MS) {
        done += 5 * 0.2;
        cbp_eta_add(&e, t, done);
        double rel = fabs(cbp_eta_rate(&e) - 5) / 15; /* of the change */
        if (t == change + tau / 2)
            assert_true(rel > 0.05);
        if (t == change + 3 * tau) {
            print_message("EMA after 3 tau: rate %.3f (%.2f%% of the "
                          "change)\n", cbp_eta_rate(&e), 100 * rel);
            assert_true(rel <= 0.05);
        }
    }
    t -= 200 * MS;
    double rel = fabs(cbp_eta_rate(&e) - 5) / 15;
    assert_true(rel <= 0.01);
    assert_int_equal(cbp_eta_get(&e, t, total, &eta), 0);
    double truth = (total - done) / 5;
    assert_true(fabs(eta - truth) <= 0.10 * truth);
    /* The mean estimator is still far off: the window matters. */
    struct cbp_eta m;
    struct cbp_eta_opts mo = {.kind = CBP_ETA_MEAN};
    cbp_eta_init(&m, &mo, 0);
    cbp_eta_add(&m, t, done);
    assert_true(fabs(cbp_eta_rate(&m) - 5) / 5 > 0.3);
}

static void
test_eta_hostile_samples(void **state)
{
    struct cbp_eta e;
    double eta;
    (void)state;
    cbp_eta_init(&e, NULL, 10 * S);
    cbp_eta_add(&e, 12 * S, NAN);
    cbp_eta_add(&e, 12 * S, INFINITY);
    cbp_eta_add(&e, 13 * S, 10);
    cbp_eta_add(&e, 11 * S, 5);  /* from the past: no time step */
    cbp_eta_add(&e, 14 * S, 2);  /* backwards: a reset, not a rate */
    cbp_eta_add(&e, 15 * S, 7);
    assert_true(cbp_eta_rate(&e) >= 0);
    assert_int_equal(cbp_eta_get(&e, 15 * S, 100, &eta), 0);
    assert_true(isfinite(eta) && eta >= 0);
    assert_int_equal(cbp_eta_get(&e, 15 * S, 7, &eta), 0);
    assert_true(eta == 0);
}

/* ---- the session table against real producers --------------------------- */

struct tree_cfg {
    const char *bus;
    uint64_t seed;
    int mode; /* 0 random tree, 1 fixed nested, 2 die mid-way, 3 hang */
    int fd;
};

static struct cbt_rng tree_rng;
static pthread_mutex_t tree_mu = PTHREAD_MUTEX_INITIALIZER;

static uint64_t
tree_below(uint64_t n)
{
    pthread_mutex_lock(&tree_mu);
    uint64_t v = cbt_below(&tree_rng, n);
    pthread_mutex_unlock(&tree_mu);
    return v;
}

/* A step worth w units of its parent, with up to 3 children and some
 * advances; children and advances may leave part of the sub-total
 * unreported (the step's end reports the rest). */
static void
node(double w, int depth)
{
    CB_PROGRESS_STEP(w);
    double sub = (double)(1 + tree_below(10)), left = sub;
    cb_progress_total(sub);
    int kids = depth < 3 ? (int)tree_below(4) : 0;
    for (int i = 0; i < kids && left > 0; i++) {
        double cw = left * (double)(1 + tree_below(4)) / 5.0;
        left -= cw;
        node(cw, depth + 1);
    }
    if (left > 0 && tree_below(2)) {
        double a = left * 0.5;
        cb_progress(a);
        cb_progress(a * 0.5);
    }
    if (tree_below(8) == 0)
        cbt_sleep_us(1000);
}

static void *
top_steps(void *arg)
{
    double *w = arg;
    node(w[0], 0);
    node(w[1], 0);
    return NULL;
}

static void
hang_call(int fd)
{
    CB_MONITOR_EXECUTION(CB_INT("fd", fd));
    if (write(fd, "x", 1) != 1)
        _exit(3);
    for (;;)
        pause();
}

static void
fixed_leaf(void)
{
    CB_PROGRESS_STEP(1);
}

static void
fixed_a(void)
{
    CB_PROGRESS_STEP(4);
    cb_progress_total(2);
    fixed_leaf();
    fixed_leaf();
}

static void
fixed_b(void)
{
    CB_PROGRESS_STEP(6);
    cb_progress_total(3);
    for (int i = 0; i < 3; i++)
        cb_progress(1);
}

static int
tree_producer(void *arg)
{
    const struct tree_cfg *c = arg;
    if (cb_open(c->bus) != 0)
        return 2;
    tree_rng.s = c->seed;
    if (c->mode == 1) {
        cb_session_begin("fixed", 10);
        fixed_a();
        fixed_b();
        cb_session_end(CB_SESSION_OK);
    } else if (c->mode >= 2) {
        cb_session_begin(c->mode == 2 ? "doomed" : "stuck", 10);
        fixed_a();
        if (c->mode == 3)
            hang_call(c->fd);
        kill(getpid(), SIGKILL);
    } else {
        /* Six top-level steps summing to the total: two here, two on
         * each of two worker threads at once. */
        double total = (double)(6 + tree_below(50)), w[6], sum = 0;
        for (int i = 0; i < 6; i++)
            sum += w[i] = (double)(1 + tree_below(9));
        for (int i = 0; i < 6; i++)
            w[i] *= total / sum;
        cb_session_begin("tree", total);
        pthread_t t1, t2;
        pthread_create(&t1, NULL, top_steps, &w[2]);
        pthread_create(&t2, NULL, top_steps, &w[4]);
        node(w[0], 0);
        node(w[1], 0);
        pthread_join(t1, NULL);
        pthread_join(t2, NULL);
        cb_session_end(CB_SESSION_OK);
    }
    cb_close();
    return 0;
}

struct watch {
    struct cbc_rt *rt;
    struct cbp_sessions t;
    double last_frac[64]; /* per producer id */
    int violations;
    char why[256];
    double fixed_seen[16];
    int nfixed;
};

static int
w_start(void *arg, struct cbc_rt *rt)
{
    ((struct watch *)arg)->rt = rt;
    return 0;
}

static void
w_event(void *arg, const struct cbc_event *ev)
{
    struct watch *w = arg;
    struct cbp_session *s = cbp_sessions_event(
        &w->t, ev, cbc_name(w->rt, ev->name),
        cbc_rt_producer(w->rt, ev->producer));
    if (s == NULL || s->total <= 0 || s->producer >= 64)
        return;
    double f = s->done / s->total;
    if (f < w->last_frac[s->producer] - 1e-12 || f > 1 + 1e-9) {
        if (!w->violations++)
            snprintf(w->why, sizeof w->why, "%s: fraction %.12f after %.12f",
                     s->name, f, w->last_frac[s->producer]);
    }
    w->last_frac[s->producer] = f;
    if (strcmp(s->name, "fixed") == 0 && ev->kind == CB_KIND_PROGRESS &&
        w->nfixed < 16 && s->done > 0 &&
        (w->nfixed == 0 || w->fixed_seen[w->nfixed - 1] != s->done))
        w->fixed_seen[w->nfixed++] = s->done;
}

static void
run_watch(const char *bus, struct watch *w)
{
    /* CLIPBUS_SCHED (CTest: normal), else idle, as a program would. */
    struct cbc_rt_opts o = {
        .program = "test-progress", .bus = bus, .exit_idle_ms = 300,
        .quiet = 1,
        .sched = cbc_sched_resolve("test-progress", CBC_SCHED_UNSET,
                                   CBC_SCHED_IDLE)};
    struct cbc_sink sink = {.arg = w, .start = w_start, .event = w_event};
    assert_int_equal(cbc_rt_run(&o, &sink), 0);
}

static void
test_property2_progress_tracking_consistency(void **state)
{
    uint64_t seed = cbt_seed(0xc0ffee02), iters = cbt_iters(12);
    char bus[64];
    (void)state;
    cbt_bus(bus, sizeof bus, "prog2");
    for (uint64_t base = 0; base < iters; base += 6) {
        struct tree_cfg cfg[6];
        pid_t pid[6];
        int n = 0, st;
        struct watch *w = calloc(1, sizeof *w);
        cbp_sessions_init(&w->t, NULL);
        for (uint64_t i = base; i < iters && n < 6; i++, n++) {
            cfg[n] = (struct tree_cfg){bus, cbt_mix(seed, i), 0, -1};
            pid[n] = cbt_fork(tree_producer, &cfg[n]);
        }
        for (int i = 0; i < n; i++) {
            assert_int_equal(cbt_wait(pid[i], 20000, &st), 0);
            assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
        }
        run_watch(bus, w);
        if (w->violations)
            fail_msg("%d violations, first: %s (seed %#llx)", w->violations,
                     w->why, (unsigned long long)seed);
        assert_int_equal(w->t.n, n);
        for (size_t i = 0; i < w->t.n; i++) {
            const struct cbp_session *s = &w->t.v[i];
            if (s->state != CBP_OK || fabs(s->done - s->total) > 1e-9 * s->total)
                fail_msg("session %zu: %s done %.12f of %.12f (seed %#llx)", i,
                         cbp_state_name(s->state), s->done, s->total,
                         (unsigned long long)seed);
        }
        cbp_sessions_fini(&w->t);
        free(w);
        cbt_unlink_bus(bus);
    }
}

/* total 10: A (4) = two children of 1 in a sub-total of 2; B (6) = three
 * advances of 1 in a sub-total of 3. Cumulative: 2 4 6 8 10. */
static void
test_nested_weights_sum_exactly(void **state)
{
    char bus[64];
    struct tree_cfg cfg;
    struct watch *w = calloc(1, sizeof *w);
    int st;
    (void)state;
    cbt_bus(bus, sizeof bus, "nest");
    cfg = (struct tree_cfg){bus, 1, 1, -1};
    cbp_sessions_init(&w->t, NULL);
    pid_t pid = cbt_fork(tree_producer, &cfg);
    assert_int_equal(cbt_wait(pid, 10000, &st), 0);
    run_watch(bus, w);
    const double want[] = {2, 4, 6, 8, 10};
    assert_int_equal(w->nfixed, 5);
    for (int i = 0; i < 5; i++)
        assert_true(fabs(w->fixed_seen[i] - want[i]) < 1e-12);
    assert_int_equal(w->t.n, 1);
    assert_int_equal(w->t.v[0].state, CBP_OK);
    assert_true(cbp_session_fraction(&w->t.v[0]) == 1.0);
    cbp_sessions_fini(&w->t);
    free(w);
}

/* A producer killed mid-session: its session is ABORTED at 40 %. */
static void
test_dead_producer_session_aborted(void **state)
{
    char bus[64];
    struct tree_cfg cfg;
    struct watch *w = calloc(1, sizeof *w);
    int st;
    (void)state;
    cbt_bus(bus, sizeof bus, "abort");
    cfg = (struct tree_cfg){bus, 1, 2, -1};
    cbp_sessions_init(&w->t, NULL);
    pid_t pid = cbt_fork(tree_producer, &cfg);
    assert_int_equal(cbt_wait(pid, 10000, &st), 0);
    assert_true(WIFSIGNALED(st));
    run_watch(bus, w);
    assert_int_equal(w->t.n, 1);
    const struct cbp_session *s = &w->t.v[0];
    assert_string_equal(s->name, "doomed");
    assert_int_equal(s->state, CBP_ABORTED);
    assert_true(fabs(cbp_session_fraction(s) - 0.4) < 1e-12);
    double eta;
    assert_int_equal(cbp_session_eta(s, s->end_ns + S, &eta), -1);
    cbp_sessions_fini(&w->t);
    free(w);
}

static void
on_call(void *arg, uint32_t producer, const char *fn, uint64_t dur_ns)
{
    cbp_sessions_long_call(arg, producer, fn, dur_ns);
}

/* Stalls: a call in flight (read from the producer's stack) past
 * long_call, and no progress for stall_after. */
static void
test_stalled_by_long_call_and_by_silence(void **state)
{
    char bus[64], shm[128];
    int fds[2];
    struct tree_cfg cfg;
    struct cbp_inflight f;
    struct cbp_sessions t;
    struct cbp_sessions_opts so = {.stall_ns = 5 * S, .long_call_ns = 50 * MS};
    (void)state;
    cbt_bus(bus, sizeof bus, "stall");
    assert_int_equal(pipe(fds), 0);
    cfg = (struct tree_cfg){bus, 1, 3, fds[1]};
    pid_t pid = cbt_fork(tree_producer, &cfg);
    char c;
    assert_int_equal(read(fds[0], &c, 1), 1); /* inside hang_call */
    assert_int_equal(cbt_wait_segment(bus, pid, shm, sizeof shm, 5000), 0);
    cbt_sleep_us(120 * 1000);

    cbp_sessions_init(&t, &so);
    struct cbc_event ev = {.type = CBC_EV_RECORD,
                           .kind = CB_KIND_SESSION_BEGIN,
                           .producer = 1,
                           .session = 1,
                           .wall_ns = cbt_real_ns()};
    double ten = 10;
    memcpy(&ev.value, &ten, sizeof ten);
    assert_non_null(cbp_sessions_event(&t, &ev, "stuck", NULL));
    cbp_inflight_init(&f);
    assert_int_equal(cbp_inflight_attach(&f, 1, shm), 0);
    cbp_sessions_long_call_reset(&t);
    size_t k = cbp_inflight_scan(&f, on_call, &t);
    assert_true(k >= 1);
    assert_string_equal(t.v[0].long_call, "hang_call");
    assert_true(t.v[0].long_call_ns >= 100 * MS);
    cbp_sessions_tick(&t, cbt_real_ns());
    assert_true(t.v[0].stalled);
    assert_non_null(strstr(t.v[0].stall_why, "hang_call running"));
    /* Silence alone: no long call, 6 s without progress. */
    cbp_sessions_long_call_reset(&t);
    cbp_sessions_tick(&t, t.v[0].last_ns + 4 * S);
    assert_false(t.v[0].stalled);
    cbp_sessions_tick(&t, t.v[0].last_ns + 6 * S);
    assert_true(t.v[0].stalled);
    assert_non_null(strstr(t.v[0].stall_why, "no progress for 6s"));
    kill(pid, SIGKILL);
    int st;
    cbt_wait(pid, 5000, &st);
    /* The dead producer's stacks are no longer scanned. */
    assert_int_equal(cbp_inflight_scan(&f, on_call, &t), 0);
    cbp_inflight_fini(&f);
    cbp_sessions_fini(&t);
    close(fds[0]);
    close(fds[1]);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_eta_unknown_before_first_progress),
        cmocka_unit_test(test_eta_steady_rate_within_10pct_after_20pct),
        cmocka_unit_test(test_eta_chunky_steady_work_is_stable),
        cmocka_unit_test(test_eta_ema_converges_within_3tau),
        cmocka_unit_test(test_eta_hostile_samples),
        cmocka_unit_test(test_property2_progress_tracking_consistency),
        cmocka_unit_test(test_nested_weights_sum_exactly),
        cmocka_unit_test(test_dead_producer_session_aborted),
        cmocka_unit_test(test_stalled_by_long_call_and_by_silence),
    };
    return cmocka_run_group_tests_name("consumers.views.progress", tests, NULL,
                                       NULL);
}
