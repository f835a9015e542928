/*
 * tests/consumers/test_runtime.c -- the consumer runtime against real
 * producer processes: discovery during a run, names and timestamps,
 * producers that exit or die (their sessions and in-flight calls become
 * aborted events within 2 s), and a sink too slow for the producer (every
 * record is delivered or counted lost, never silently dropped), and a
 * stop that ends a sleeping reader at once.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <clipbus/clipbus.h>
#include <clipbus/reader.h>

#include "cbt.h"
#include "runtime.h"
#include "sched_class.h"

/* ---- producers (forked children) ---------------------------------------- */
struct pcfg {
    const char *bus;
    int calls;        /* monitored calls to make */
    int block;        /* 1: begin a session, enter a call, never return */
    int delay_ms;     /* before the first record */
    int fd;           /* block: write a byte here once inside the call */
};

static int
work(int i)
{
    CB_MONITOR_EXECUTION(CB_INT("i", i), CB_STR("tag", "runtime-test"));
    if (i % 10 == 9)
        return cb_fail(-5, "every tenth call fails (%d)", i);
    return i;
}

static void
stuck(int fd)
{
    CB_MONITOR_EXECUTION(CB_INT("fd", fd));
    if (write(fd, "x", 1) != 1)
        _exit(3);
    for (;;)
        pause();
}

static int
producer(void *arg)
{
    const struct pcfg *c = arg;

    if (c->delay_ms)
        cbt_sleep_us((uint64_t)c->delay_ms * 1000);
    if (cb_open(c->bus) != 0)
        return 2;
    cb_session_begin(c->block ? "doomed" : "batch", c->calls + 1);
    for (int i = 0; i < c->calls; i++) {
        work(i);
        cb_progress(1);
    }
    if (c->block)
        stuck(c->fd);
    cb_session_end(CB_SESSION_OK);
    cb_close(); /* what exit() does; cbt_fork's child leaves with _exit() */
    return 0;
}

/* ---- the sink ----------------------------------------------------------- */
struct seen {
    struct cbc_rt *rt;
    int new_, exited, died, calls, failed, sess_begin, sess_end;
    int sess_aborted, call_aborted, bad_names;
    uint64_t lost, handoff_lost, records, record_units;
    uint64_t st_delivered, st_lost;
    uint32_t st_producers;
    uint64_t abort_seen_ns;
    int slow_us;      /* sleep per event: a slow sink */
    char aborted_call[64], aborted_session[64];
    int inflight_stuck, inflight_done;
    int inflight_calls, last_snapshot_calls; /* since the last DONE; at it */
    uint64_t inflight_max_dur;
    uint64_t min_wall, max_wall;
};

static int
sink_start(void *arg, struct cbc_rt *rt)
{
    ((struct seen *)arg)->rt = rt;
    return 0;
}

/* Called last, in the worker: every record is in, the stats agree. */
static void
sink_stop(void *arg)
{
    struct seen *s = arg;
    struct cbc_rt_stats st;

    cbc_rt_stats(s->rt, &st);
    s->st_delivered = st.delivered;
    s->st_lost = st.lost;
    s->st_producers = st.producers;
}

static void
on_record(struct seen *s, const struct cbc_event *ev)
{
    const char *name = cbc_name(s->rt, ev->name);
    size_t off = 0;
    struct cb_field f;

    s->records++;
    /* Records behind this entry: the head and its continuations. */
    s->record_units += 1u + (ev->data_len > CB_HEAD_DATA
                                 ? (ev->data_len - CB_HEAD_DATA +
                                    CB_CONT_DATA - 1) / CB_CONT_DATA
                                 : 0);
    if (ev->wall_ns < s->min_wall || s->min_wall == 0)
        s->min_wall = ev->wall_ns;
    if (ev->wall_ns > s->max_wall)
        s->max_wall = ev->wall_ns;
    switch (ev->kind) {
    case CB_KIND_CALL:
        s->calls++;
        s->failed += ev->status == CB_STATUS_ERROR;
        if (strcmp(name, "work") != 0)
            s->bad_names++;
        /* Field names arrive as handles of this process. */
        while (cb_field_next(ev->data, ev->data_len, &off, &f) == 1)
            if (f.type == CB_FIELD_STR &&
                strcmp(cbc_name(s->rt, f.name_id), "tag") != 0)
                s->bad_names++;
        break;
    case CB_KIND_SESSION_BEGIN:
        s->sess_begin++;
        break;
    case CB_KIND_SESSION_END:
        s->sess_end++;
        break;
    default:
        break;
    }
}

static void
sink_event(void *arg, const struct cbc_event *ev)
{
    struct seen *s = arg;

    if (s->slow_us)
        cbt_sleep_us((uint64_t)s->slow_us);
    switch (ev->type) {
    case CBC_EV_RECORD:
        on_record(s, ev);
        break;
    case CBC_EV_PRODUCER_NEW:
        s->new_++;
        break;
    case CBC_EV_PRODUCER_EXIT:
        s->exited++;
        break;
    case CBC_EV_PRODUCER_DIED:
        s->died++;
        break;
    case CBC_EV_LOSS:
        if (ev->ring == CBC_RING_HANDOFF)
            s->handoff_lost += ev->count;
        else
            s->lost += ev->count;
        break;
    case CBC_EV_SESSION_ABORTED:
        s->sess_aborted++;
        s->abort_seen_ns = cbt_mono_ns();
        snprintf(s->aborted_session, sizeof s->aborted_session, "%s",
                 cbc_name(s->rt, ev->name));
        break;
    case CBC_EV_INFLIGHT:
        s->inflight_calls++;
        if (strcmp(cbc_name(s->rt, ev->name), "stuck") == 0) {
            s->inflight_stuck++;
            if (ev->dur_ns > s->inflight_max_dur)
                s->inflight_max_dur = ev->dur_ns;
        }
        break;
    case CBC_EV_INFLIGHT_DONE:
        s->inflight_done++;
        s->last_snapshot_calls = s->inflight_calls;
        s->inflight_calls = 0;
        break;
    case CBC_EV_CALL_ABORTED:
        s->call_aborted++;
        snprintf(s->aborted_call, sizeof s->aborted_call, "%s",
                 cbc_name(s->rt, ev->name));
        break;
    default:
        break;
    }
}

static const struct cbc_sink sink_tmpl = {
    .start = sink_start,
    .event = sink_event,
    .stop = sink_stop,
};

/* The scheduling class a program would take: CLIPBUS_SCHED, else idle.
 * CTest sets CLIPBUS_SCHED=normal (tests/CMakeLists.txt): in SCHED_IDLE a
 * runtime beside a busy test on a 2-CPU machine waits for an idle CPU,
 * and the timed checks below fail for that alone. */
static int
test_sched(void)
{
    return cbc_sched_resolve("test-runtime", CBC_SCHED_UNSET, CBC_SCHED_IDLE);
}

static int
run_rt(const char *bus, struct seen *s, uint32_t idle_ms, uint32_t batches)
{
    struct cbc_rt_opts o = {.program = "test-runtime", .bus = bus,
                            .grace_s = 60, .exit_idle_ms = idle_ms,
                            .inflight_ms = 100,
                            .handoff_batches = batches, .quiet = 1,
                            .sched = test_sched()};
    struct cbc_sink sk = sink_tmpl;

    sk.arg = s;
    return cbc_rt_run(&o, &sk);
}

/* ---- tests -------------------------------------------------------------- */
static void
test_runtime_discovers_producers_that_start_during_the_run(void **state)
{
    char bus[64];
    struct pcfg a = {.calls = 200}, b = {.calls = 300, .delay_ms = 300};
    struct seen s = {0};
    pid_t pa, pb;
    int st;
    uint64_t t0 = cbt_real_ns();

    (void)state;
    cbt_bus(bus, sizeof bus, "rt_disc");
    a.bus = b.bus = bus;
    pa = cbt_fork(producer, &a);
    pb = cbt_fork(producer, &b); /* starts its segment 300 ms later */
    assert_int_equal(run_rt(bus, &s, 1500, 0), 0);
    assert_int_equal(cbt_wait(pa, 5000, &st), 0);
    assert_int_equal(st, 0);
    assert_int_equal(cbt_wait(pb, 5000, &st), 0);
    assert_int_equal(st, 0);
    assert_int_equal(s.new_, 2);
    assert_int_equal(s.exited, 2);
    assert_int_equal(s.calls, 500);
    assert_int_equal(s.failed, 20 + 30);
    assert_int_equal(s.sess_begin, 2);
    assert_int_equal(s.sess_end, 2);
    assert_int_equal(s.sess_aborted, 0);
    assert_int_equal(s.bad_names, 0);
    assert_int_equal(s.lost + s.handoff_lost, 0);
    /* The runtime's own counters: every record the sink saw was read. */
    assert_int_equal(s.st_delivered, s.record_units);
    assert_int_equal(s.st_lost, 0);
    assert_int_equal(s.st_producers, 0); /* both ended */
    /* Record times are the producers' clocks, converted: within the run. */
    assert_true(s.min_wall >= t0 - 1000000000u);
    assert_true(s.max_wall <= cbt_real_ns());
}

static void
test_runtime_killed_producer_aborts_session_and_call_within_2s(void **state)
{
    char bus[64];
    int fds[2];
    struct pcfg c = {.calls = 5, .block = 1};
    struct seen s = {0};
    pid_t pid, waiter;
    char x;
    int st;
    uint64_t kill_ns;

    (void)state;
    cbt_bus(bus, sizeof bus, "rt_kill");
    assert_int_equal(pipe(fds), 0);
    c.bus = bus;
    c.fd = fds[1];
    pid = cbt_fork(producer, &c);
    close(fds[1]);
    assert_int_equal(read(fds[0], &x, 1), 1); /* inside stuck() now */
    close(fds[0]);
    /* A helper process kills the producer 500 ms into the run. */
    waiter = fork();
    if (waiter == 0) {
        cbt_sleep_us(500000);
        kill(pid, SIGKILL);
        _exit(0);
    }
    kill_ns = cbt_mono_ns() + 500000000u;
    assert_int_equal(run_rt(bus, &s, 3000, 0), 0);
    assert_int_equal(cbt_wait(waiter, 5000, &st), 0);
    assert_int_equal(cbt_wait(pid, 5000, &st), 0);
    assert_true(WIFSIGNALED(st));
    assert_int_equal(s.died, 1);
    assert_int_equal(s.sess_aborted, 1);
    assert_string_equal(s.aborted_session, "doomed");
    assert_int_equal(s.call_aborted, 1);
    assert_string_equal(s.aborted_call, "stuck");
    assert_int_equal(s.calls, 5);
    /* While it hung, 100 ms snapshots showed the call, running longer
     * each time: at least ~400 ms by the last one before the kill. */
    assert_true(s.inflight_done >= 3);
    assert_true(s.inflight_stuck >= 3);
    if (s.inflight_max_dur < 300000000u)
        fail_msg("longest in-flight duration seen %.3f s, expected >= 0.3 s",
                 (double)s.inflight_max_dur / 1e9);
    if (s.abort_seen_ns > kill_ns + 2000000000u)
        fail_msg("aborted %.2f s after the kill (limit 2 s)",
                 (double)(s.abort_seen_ns - kill_ns) / 1e9);
    /* Once it was gone, an empty snapshot emptied the sink's table. */
    assert_int_equal(s.last_snapshot_calls, 0);
}

/* With no producer running nothing can be in flight: the runtime sends
 * one empty snapshot and then none, rather than one every inflight_ms
 * (100 ms here), which would wake an idle consumer's worker each time. */
static void
test_runtime_no_inflight_snapshots_while_nothing_runs(void **state)
{
    char bus[64];
    struct seen s = {0};

    (void)state;
    cbt_bus(bus, sizeof bus, "rt_noinfl");
    assert_int_equal(run_rt(bus, &s, 1000, 0), 0); /* 1 s, empty bus */
    assert_true(s.inflight_done <= 1);
    assert_int_equal(s.last_snapshot_calls, 0);
}

static void
test_runtime_slow_sink_counts_every_record_it_misses(void **state)
{
    char bus[64];
    struct pcfg c = {.calls = 20000};
    struct seen s = {.slow_us = 50};
    pid_t pid;
    int st;
    char env[32];

    (void)state;
    cbt_bus(bus, sizeof bus, "rt_slow");
    c.bus = bus;
    /* Small producer ring and hand-off queue: losses must happen. */
    snprintf(env, sizeof env, "%d", 256);
    setenv("CLIPBUS_RING_RECORDS", env, 1);
    pid = cbt_fork(producer, &c);
    unsetenv("CLIPBUS_RING_RECORDS");
    assert_int_equal(run_rt(bus, &s, 1500, 2), 0);
    assert_int_equal(cbt_wait(pid, 10000, &st), 0);
    if (st != 0)
        fail_msg("the producer ended with status 0x%x", (unsigned)st);
    if (s.lost + s.handoff_lost == 0)
        fail_msg("no loss with a 256-record ring and a sink at 50 us per "
                 "event: saw %llu records in %llu entries, %d calls, "
                 "producers new %d exited %d",
                 (unsigned long long)s.record_units,
                 (unsigned long long)s.records, s.calls, s.new_, s.exited);
    /* Conservation, in records: what reached the sink plus what was
     * reported lost (on the bus or at the hand-off) is exactly what the
     * producer published. The segment outlives the run (grace 60 s). */
    {
        char shm[128], why[256];
        struct cb_segment *seg;
        uint64_t published = 0;
        assert_int_equal(cbt_find_segment(bus, pid, shm, sizeof shm), 0);
        assert_int_equal(cb_segment_attach(shm, 0, &seg, why, sizeof why), 0);
        for (uint32_t r = 0; r < cb_segment_rings(seg); r++)
            published += cb_segment_published(seg, r);
        cb_segment_detach(seg);
        if (s.record_units + s.lost + s.handoff_lost != published)
            fail_msg("sink %llu + bus lost %llu + hand-off lost %llu != "
                     "published %llu",
                     (unsigned long long)s.record_units,
                     (unsigned long long)s.lost,
                     (unsigned long long)s.handoff_lost,
                     (unsigned long long)published);
    }
}

/* A sink that stops the run from its tick (the worker thread, as
 * clipbus-top's q key does) once the reader is asleep. */
struct stopper {
    struct cbc_rt *rt;
    uint64_t start_ns, stop_ns;
};

static int
stopper_start(void *arg, struct cbc_rt *rt)
{
    struct stopper *t = arg;

    t->rt = rt;
    t->start_ns = cbt_mono_ns();
    return 0;
}

static void
stopper_tick(void *arg, uint64_t now_ns)
{
    struct stopper *t = arg;

    (void)now_ns;
    if (t->stop_ns == 0 && cbt_mono_ns() - t->start_ns >= 200000000u) {
        t->stop_ns = cbt_mono_ns();
        cbc_rt_stop(t->rt);
    }
}

/* With no producer, the reader sleeps 1 s at a time (the in-flight timer
 * off, no idle exit). A stop from another thread 200 ms into such a sleep
 * must end it at once, not when it times out 800 ms later: cbc_rt_stop
 * (like the SIGINT/SIGTERM handler) also makes the wait's descriptor
 * readable. The bound, 400 ms, tells "at once" from "at the timeout";
 * another process creating a file in the shm directory can only make
 * this pass early, never fail. */
static void
test_runtime_stop_ends_a_sleeping_reader_at_once(void **state)
{
    char bus[64];
    struct stopper t = {0};
    struct cbc_rt_opts o = {.program = "test-runtime", .bus = bus,
                            .tick_ms = 50, .quiet = 1,
                            .sched = test_sched()};
    struct cbc_sink sk = {.arg = &t, .start = stopper_start,
                          .tick = stopper_tick};
    uint64_t end;

    (void)state;
    cbt_bus(bus, sizeof bus, "rt_stop");
    assert_int_equal(cbc_rt_run(&o, &sk), 0);
    end = cbt_mono_ns();
    assert_true(t.stop_ns != 0);
    if (end - t.stop_ns >= 400000000u)
        fail_msg("the run ended %.0f ms after cbc_rt_stop",
                 (double)(end - t.stop_ns) / 1e6);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(
            test_runtime_discovers_producers_that_start_during_the_run),
        cmocka_unit_test(
            test_runtime_killed_producer_aborts_session_and_call_within_2s),
        cmocka_unit_test(test_runtime_no_inflight_snapshots_while_nothing_runs),
        cmocka_unit_test(test_runtime_slow_sink_counts_every_record_it_misses),
        cmocka_unit_test(test_runtime_stop_ends_a_sleeping_reader_at_once),
    };

    return cmocka_run_group_tests_name("consumers.runtime", tests, NULL, NULL);
}
