/*
 * tests/bus/test_bus.c -- reading a whole bus (bus/src/bus.c): discovery,
 * lifecycle events, loss events, the grace-period lifetime of exited
 * segments, garbage collection, the reader-status segment.
 *
 * Producers are forked children driven over a pipe (struct ctl): "publish
 * n counts", "exit" (cb_close, then _exit), or killed with SIGKILL, so
 * each test decides exactly when a producer publishes, exits or dies.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/inotify.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <clipbus/clipbus.h>
#include <clipbus/reader.h>

#include "cbt.h"
#include "ringabi.h"

/* ---- a producer child driven over a pipe -------------------------------- */

struct ctl {
    char bus[64];
    const char *ring_records; /* CLIPBUS_RING_RECORDS or NULL */
    int cmd[2];               /* test -> producer */
    int ack[2];               /* producer -> test */
    pid_t pid;
    uint64_t next_value;      /* count values published so far */
};

struct cmd {
    char op; /* 'c': publish n counts; 'x': exit */
    uint32_t n;
};

static int
ctl_main(void *arg)
{
    struct ctl *c = arg;
    struct cmd m;
    uint64_t v = 0;

    close(c->cmd[1]);
    close(c->ack[0]);
    if (c->ring_records != NULL)
        setenv("CLIPBUS_RING_RECORDS", c->ring_records, 1);
    setenv("CLIPBUS_RINGS", "2", 1);
    if (cb_open(c->bus) != 0)
        return 2;
    /* The segment is complete (magic published): tell the test. */
    if (write(c->ack[1], "o", 1) != 1)
        return 3;
    while (read(c->cmd[0], &m, sizeof m) == sizeof m) {
        if (m.op == 'x')
            break;
        for (uint32_t i = 0; i < m.n; i++)
            cb_count("bus.count", (int64_t)v++);
        if (write(c->ack[1], "k", 1) != 1)
            return 3;
    }
    cb_close();
    return 0;
}

static void
ctl_start(struct ctl *c, const char *tag, const char *ring_records)
{
    char shm[128];

    memset(c, 0, sizeof *c);
    cbt_bus(c->bus, sizeof c->bus, tag);
    c->ring_records = ring_records;
    assert_int_equal(pipe(c->cmd), 0);
    assert_int_equal(pipe(c->ack), 0);
    c->pid = cbt_fork(ctl_main, c);
    assert_true(c->pid > 0);
    close(c->cmd[0]);
    close(c->ack[1]);
    assert_int_equal(read(c->ack[0], shm, 1), 1);
    assert_int_equal(cbt_find_segment(c->bus, c->pid, shm, sizeof shm), 0);
}

/* A second producer on the same bus as `other`. */
static void
ctl_start_on(struct ctl *c, const struct ctl *other)
{
    char shm[128];

    memset(c, 0, sizeof *c);
    snprintf(c->bus, sizeof c->bus, "%s", other->bus);
    assert_int_equal(pipe(c->cmd), 0);
    assert_int_equal(pipe(c->ack), 0);
    c->pid = cbt_fork(ctl_main, c);
    assert_true(c->pid > 0);
    close(c->cmd[0]);
    close(c->ack[1]);
    assert_int_equal(read(c->ack[0], shm, 1), 1);
    assert_int_equal(cbt_find_segment(c->bus, c->pid, shm, sizeof shm), 0);
}

static void
ctl_publish(struct ctl *c, uint32_t n)
{
    struct cmd m = {'c', n};
    char k;

    assert_int_equal(write(c->cmd[1], &m, sizeof m), sizeof m);
    assert_int_equal(read(c->ack[0], &k, 1), 1);
    c->next_value += n;
}

static void
ctl_exit(struct ctl *c)
{
    struct cmd m = {'x', 0};
    int status;

    assert_int_equal(write(c->cmd[1], &m, sizeof m), sizeof m);
    assert_int_equal(cbt_wait(c->pid, 10000, &status), 0);
    assert_int_equal(status, 0);
    close(c->cmd[1]);
    close(c->ack[0]);
}

static void
ctl_kill(struct ctl *c)
{
    int status;

    kill(c->pid, SIGKILL);
    assert_int_equal(cbt_wait(c->pid, 10000, &status), 0);
    close(c->cmd[1]);
    close(c->ack[0]);
}

/* ---- an event recorder -------------------------------------------------- */

#define MAX_VALUES 100000

struct rec {
    int fresh, exits, died, bad;
    uint64_t entries, counts, loss_events, lost;
    uint64_t dup_values;
    uint64_t last_exit_entries; /* entries seen when the EXIT came */
    uint8_t *seen;              /* per count value */
    char bad_why[300];
};

static int
on_event(void *arg, const struct cb_event *ev)
{
    struct rec *r = arg;

    switch (ev->type) {
    case CB_EV_ENTRY:
        r->entries++;
        if (ev->entry->head.kind == CB_KIND_COUNT) {
            uint64_t v = ev->entry->head.value;
            r->counts++;
            if (r->seen != NULL && v < MAX_VALUES)
                r->dup_values += r->seen[v]++ != 0;
        }
        break;
    case CB_EV_LOSS:
        r->loss_events++;
        r->lost += ev->count;
        break;
    case CB_EV_PRODUCER_NEW:
        r->fresh++;
        if (getenv("CBT_DEBUG"))
            fprintf(stderr, "NEW %s\n", cb_segment_info(ev->seg)->shm_name);
        break;
    case CB_EV_PRODUCER_EXIT:
        r->exits++;
        r->last_exit_entries = r->entries;
        break;
    case CB_EV_PRODUCER_DIED:
        r->died++;
        break;
    case CB_EV_BAD_SEGMENT:
        r->bad++;
        snprintf(r->bad_why, sizeof r->bad_why, "%s",
                 ev->why ? ev->why : "");
        break;
    default:
        break;
    }
    return 0;
}

/* Static: a failing test (longjmp) leaks nothing. One recorder at a time. */
static uint8_t g_seen[MAX_VALUES];

static void
rec_init(struct rec *r)
{
    memset(r, 0, sizeof *r);
    memset(g_seen, 0, sizeof g_seen);
    r->seen = g_seen;
}

static void
rec_fini(struct rec *r)
{
    r->seen = NULL;
}

/* Polls until cond(r) or timeout_ms; returns whether cond held. */
static int
poll_until(struct cb_bus *b, struct rec *r, int (*cond)(const struct rec *),
           int timeout_ms)
{
    uint64_t end = cbt_mono_ns() + (uint64_t)timeout_ms * 1000000u;
    for (;;) {
        assert_true(cb_bus_poll(b, on_event, r, 0) >= 0);
        if (cond(r))
            return 1;
        if (cbt_mono_ns() > end)
            return 0;
        cbt_sleep_us(2000);
    }
}

static int
has_exit(const struct rec *r)
{
    return r->exits > 0;
}

static int
has_died(const struct rec *r)
{
    return r->died > 0;
}

/* ---- discovery and events ----------------------------------------------- */

static void
test_bus_producer_present_at_open_gets_new_event(void **state)
{
    struct cb_bus_opts o = {.program = "t-new", .no_status = 1};
    struct cb_bus *b = NULL;
    struct ctl c;
    struct rec r;

    (void)state;
    rec_init(&r);
    ctl_start(&c, "new1", NULL);
    ctl_publish(&c, 10);
    assert_int_equal(cb_bus_open(c.bus, &o, &b), 0);
    assert_true(cb_bus_poll(b, on_event, &r, 0) >= 0);
    assert_true(cb_bus_poll(b, on_event, &r, 0) >= 0);
    ctl_exit(&c);
    cb_bus_close(b);
    cbt_unlink_bus(c.bus);
    if (r.fresh != 1)
        fail_msg("%d CB_EV_PRODUCER_NEW events for the producer that was "
                 "there when the bus was opened, want 1", r.fresh);
    assert_int_equal(r.counts, 10);
    rec_fini(&r);
}

static void
test_bus_producer_appearing_later_is_discovered_once(void **state)
{
    struct cb_bus_opts o = {.program = "t-new", .no_status = 1};
    struct cb_bus *b = NULL;
    struct ctl c1, c2;
    struct rec r;

    (void)state;
    rec_init(&r);
    ctl_start(&c1, "new2", NULL);
    assert_int_equal(cb_bus_open(c1.bus, &o, &b), 0);
    assert_true(cb_bus_poll(b, on_event, &r, 0) >= 0);
    int fresh0 = r.fresh;
    ctl_start_on(&c2, &c1);
    ctl_publish(&c2, 25);
    /* Discovery rescans at most every 100 ms unless forced. */
    for (int i = 0; i < 20 && r.counts < 25; i++) {
        cbt_sleep_us(20000);
        assert_true(cb_bus_poll(b, on_event, &r, 0) >= 0);
    }
    assert_int_equal(cb_bus_scan(b, 1), 2);
    assert_true(cb_bus_poll(b, on_event, &r, 0) >= 0);
    ctl_exit(&c1);
    ctl_exit(&c2);
    cb_bus_close(b);
    cbt_unlink_bus(c1.bus);
    assert_int_equal(r.counts, 25);
    assert_int_equal(r.fresh - fresh0, 1);
    rec_fini(&r);
}

static void
test_bus_dead_producer_is_reported_died_after_drain(void **state)
{
    struct cb_bus_opts o = {.program = "t-died", .no_status = 1};
    struct cb_bus *b = NULL;
    struct ctl c;
    struct rec r;

    (void)state;
    rec_init(&r);
    ctl_start(&c, "died", NULL);
    ctl_publish(&c, 100);
    ctl_kill(&c);
    assert_int_equal(cb_bus_open(c.bus, &o, &b), 0);
    assert_true(poll_until(b, &r, has_died, 5000));
    assert_int_equal(r.exits, 0);
    assert_int_equal(r.counts, 100);
    assert_int_equal(r.dup_values, 0);
    cb_bus_close(b);
    cbt_unlink_bus(c.bus);
    rec_fini(&r);
}

static void
test_bus_segment_caught_mid_creation_is_read_once_complete(void **state)
{
    struct cb_bus_opts o = {.program = "t-creating", .no_status = 1,
                            .no_gc = 1};
    struct cb_bus *b = NULL;
    struct ctl c;
    struct rec r;
    char shm[128], early[140];
    uint8_t *copy;
    size_t len;

    (void)state;
    rec_init(&r);
    ctl_start(&c, "creating", NULL);
    ctl_publish(&c, 5);
    assert_int_equal(cbt_find_segment(c.bus, c.pid, shm, sizeof shm), 0);
    copy = cbt_shm_read(shm, &len);
    assert_non_null(copy);
    /* A second producer between shm_open(O_CREAT|O_EXCL) and ftruncate():
     * its object exists and is empty. */
    snprintf(early, sizeof early, "%s.1", shm);
    assert_int_equal(cbt_shm_write(early, NULL, 0), 0);
    assert_int_equal(cb_bus_open(c.bus, &o, &b), 0);
    assert_true(cb_bus_poll(b, on_event, &r, 0) >= 0);
    /* It finishes creating its segment (same pid, records 0..4). */
    assert_int_equal(cbt_shm_write(early, copy, len), 0);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(cb_bus_scan(b, 1) >= 0, 1);
        assert_true(cb_bus_poll(b, on_event, &r, 0) >= 0);
    }
    cb_bus_close(b);
    ctl_exit(&c);
    cbt_unlink_bus(c.bus);
    free(copy);
    if (r.bad != 0 || r.counts != 10)
        fail_msg("a segment seen while 0 bytes long was %s (\"%s\"); %"
                 PRIu64 " of 10 counts read: a scan between shm_open and "
                 "ftruncate must not refuse it for good",
                 r.bad ? "refused" : "missed", r.bad_why, r.counts);
    assert_int_equal(r.fresh, 2);
    rec_fini(&r);
}

/* Producers made one after another by a child while the test scans flat
 * out: a scan that meets a segment between shm_open and ftruncate, at any
 * point of its looks, must neither refuse it nor miss it. (Found with
 * seven consumers on one bus: a reader saw 0 bytes when it attached, the
 * producer sized the file before the reader's second look, and the segment
 * was refused for good -- its records never read nor counted.) */
#define SPAWN_RECORDS 3u

struct spawn {
    char bus[64];
    uint32_t n;
};

static int
spawn_one(void *arg)
{
    const struct spawn *sp = arg;

    setenv("CLIPBUS_RINGS", "1", 1);
    if (cb_open(sp->bus) != 0)
        return 2;
    for (uint32_t i = 0; i < SPAWN_RECORDS; i++)
        cb_count("bus.spawned", 1);
    cb_close();
    return 0;
}

static int
spawn_main(void *arg)
{
    const struct spawn *sp = arg;
    int status;

    for (uint32_t i = 0; i < sp->n; i++) {
        pid_t pid = cbt_fork(spawn_one, (void *)sp);
        if (pid < 0 || cbt_wait(pid, 10000, &status) != 0 || status != 0)
            return 4;
    }
    return 0;
}

static void
test_bus_segments_created_during_scans_are_all_read(void **state)
{
    struct cb_bus_opts o = {.program = "t-spawn", .no_status = 1};
    struct cb_bus *b = NULL;
    struct spawn sp;
    struct rec r;
    pid_t spawner;
    int status = -1, done = 0;

    (void)state;
    memset(&r, 0, sizeof r); /* values repeat across producers: no seen[] */
    cbt_bus(sp.bus, sizeof sp.bus, "spawn");
    sp.n = (uint32_t)cbt_iters(300);
    assert_int_equal(cb_bus_open(sp.bus, &o, &b), 0);
    /* Woken by the creation itself, as the consumers' runtime is: the scan
     * then runs while the producer is between shm_open and ftruncate. */
    int in = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    assert_true(in >= 0);
    assert_true(inotify_add_watch(in, cb_shm_dir(), IN_CREATE) >= 0);
    spawner = cbt_fork(spawn_main, &sp);
    assert_true(spawner > 0);
    while (!done) {
        struct pollfd pf = {.fd = in, .events = POLLIN};
        char evbuf[4096];
        done = waitpid(spawner, &status, WNOHANG) == spawner;
        if (poll(&pf, 1, 1) > 0)
            while (read(in, evbuf, sizeof evbuf) > 0)
                ;
        assert_true(cb_bus_scan(b, 1) >= 0);
        assert_true(cb_bus_poll(b, on_event, &r, 0) >= 0);
    }
    close(in);
    for (int i = 0; i < 50 && r.counts < (uint64_t)sp.n * SPAWN_RECORDS;
         i++) {
        assert_true(cb_bus_scan(b, 1) >= 0);
        assert_true(cb_bus_poll(b, on_event, &r, 0) >= 0);
        cbt_sleep_us(2000);
    }
    cb_bus_close(b);
    cbt_unlink_bus(sp.bus);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    if (r.bad != 0 || r.counts != (uint64_t)sp.n * SPAWN_RECORDS)
        fail_msg("%u producers created while scanning: %d refused (last: "
                 "\"%s\"), %" PRIu64 " of %u records read, %d seen",
                 sp.n, r.bad, r.bad_why, r.counts, sp.n * SPAWN_RECORDS,
                 r.fresh);
    assert_int_equal(r.fresh, (int)sp.n);
}

/* ---- lifetime ----------------------------------------------------------- */

static void
test_bus_short_run_before_any_reader_is_read_whole(void **state)
{
    struct cb_bus_opts o = {.program = "t-late"};
    struct cb_bus_stats st;
    struct cb_bus *b = NULL;
    struct ctl c;
    struct rec r;

    (void)state;
    rec_init(&r);
    ctl_start(&c, "late", NULL);
    ctl_publish(&c, 5000);
    ctl_exit(&c);
    /* The producer is gone before any reader exists. */
    cbt_sleep_us(100000);
    assert_int_equal(cb_bus_open(c.bus, &o, &b), 0);
    assert_true(poll_until(b, &r, has_exit, 5000));
    assert_int_equal(r.counts, 5000);
    assert_int_equal(r.dup_values, 0);
    for (uint64_t v = 0; v < 5000; v++)
        if (!r.seen[v])
            fail_msg("count %" PRIu64 " of the exited producer missing", v);
    /* EXIT comes after every entry of that producer. */
    assert_int_equal(r.last_exit_entries, r.entries);
    cb_bus_stats(b, &st);
    assert_int_equal(st.lost, 0);
    assert_int_equal(st.entries, r.entries);
    /* Within the (default, 60 s) grace period the segment stays. */
    assert_int_equal(cbt_shm_count(c.bus, 0), 1);
    cb_bus_close(b);
    assert_int_equal(cbt_shm_count(c.bus, 0), 1);
    cbt_unlink_bus(c.bus);
    rec_fini(&r);
}

static void
test_bus_exited_segment_removed_only_after_grace_once_drained(void **state)
{
    struct cb_bus_opts o = {.program = "t-grace", .grace_s = 1,
                            .no_status = 1};
    struct cb_bus *b = NULL;
    struct ctl c;
    struct rec r;
    uint64_t t0;

    (void)state;
    rec_init(&r);
    ctl_start(&c, "grace", NULL);
    ctl_publish(&c, 200);
    ctl_exit(&c);
    assert_int_equal(cb_bus_open(c.bus, &o, &b), 0);
    t0 = cbt_mono_ns();
    /* Drained at once, but younger than the grace: kept. */
    assert_true(poll_until(b, &r, has_exit, 5000));
    assert_int_equal(r.counts, 200);
    while (cbt_mono_ns() - t0 < 700000000u) {
        assert_true(cb_bus_poll(b, on_event, &r, 0) >= 0);
        assert_int_equal(cbt_shm_count(c.bus, 0), 1);
        cbt_sleep_us(50000);
    }
    /* Past the grace: removed. */
    for (int i = 0; i < 100 && cbt_shm_count(c.bus, 0) != 0; i++) {
        cbt_sleep_us(20000);
        assert_true(cb_bus_poll(b, on_event, &r, 0) >= 0);
    }
    assert_int_equal(cbt_shm_count(c.bus, 0), 0);
    assert_true(cbt_mono_ns() - t0 >= 1000000000u);
    assert_int_equal(r.exits, 1);
    cb_bus_close(b);
    rec_fini(&r);
}

static void
test_bus_undrained_segment_is_kept_past_grace(void **state)
{
    struct cb_bus_opts o = {.program = "t-undrained", .grace_s = 1,
                            .no_status = 1};
    struct cb_bus *b = NULL;
    struct ctl c;
    struct rec r;

    (void)state;
    rec_init(&r);
    ctl_start(&c, "undrained", NULL);
    ctl_publish(&c, 300);
    ctl_exit(&c);
    assert_int_equal(cb_bus_open(c.bus, &o, &b), 0);
    /* Read a few entries only, then let the grace period pass. */
    assert_true(cb_bus_poll(b, on_event, &r, 5) >= 0);
    cbt_sleep_us(1300000);
    for (int i = 0; i < 10; i++) {
        assert_true(cb_bus_poll(b, on_event, &r, 1) >= 0);
        if (cbt_shm_count(c.bus, 0) != 1)
            fail_msg("segment removed after %" PRIu64 " of 300 counts "
                     "were read", r.counts);
    }
    /* Drain: then it goes. */
    for (int i = 0; i < 100 && cbt_shm_count(c.bus, 0) != 0; i++) {
        assert_true(cb_bus_poll(b, on_event, &r, 0) >= 0);
        cbt_sleep_us(10000);
    }
    assert_int_equal(r.counts, 300);
    assert_int_equal(cbt_shm_count(c.bus, 0), 0);
    cb_bus_close(b);
    rec_fini(&r);
}

static void
test_bus_no_gc_never_rereads_an_expired_segment(void **state)
{
    struct cb_bus_opts o = {.program = "t-nogc", .grace_s = 1,
                            .no_status = 1, .no_gc = 1};
    struct cb_bus *b = NULL;
    struct ctl c;
    struct rec r;

    (void)state;
    rec_init(&r);
    ctl_start(&c, "nogc", NULL);
    ctl_publish(&c, 50);
    ctl_exit(&c);
    assert_int_equal(cb_bus_open(c.bus, &o, &b), 0);
    assert_true(poll_until(b, &r, has_exit, 5000));
    cbt_sleep_us(1200000);
    /* Past the grace: the reader lets go of the segment but may not unlink
     * it; later scans must not attach it again as a new producer. */
    for (int i = 0; i < 8; i++) {
        assert_true(cb_bus_poll(b, on_event, &r, 0) >= 0);
        cbt_sleep_us(120000);
    }
    assert_int_equal(cbt_shm_count(c.bus, 0), 1);
    cb_bus_close(b);
    cbt_unlink_bus(c.bus);
    if (r.counts != 50 || r.exits != 1)
        fail_msg("no_gc: %" PRIu64 " counts delivered for 50 published, %d "
                 "EXIT events: the expired segment was read again",
                 r.counts, r.exits);
    rec_fini(&r);
}

/* ---- losses and the status segment -------------------------------------- */

static void
test_bus_loss_events_add_up_to_lost(void **state)
{
    struct cb_bus_opts o = {.program = "t-loss", .no_status = 1};
    struct cb_bus_stats st;
    struct cb_bus *b = NULL;
    struct ctl c;
    struct rec r;
    char shm[128];
    uint64_t base, head, published = 0;

    (void)state;
    rec_init(&r);
    ctl_start(&c, "loss", "64");
    assert_int_equal(cb_bus_open(c.bus, &o, &b), 0);
    ctl_publish(&c, 40);
    assert_true(cb_bus_poll(b, on_event, &r, 0) >= 0);
    ctl_publish(&c, 5000); /* laps the 64-record ring */
    ctl_exit(&c);
    assert_true(poll_until(b, &r, has_exit, 5000));
    cb_bus_stats(b, &st);
    assert_int_equal(cbt_find_segment(c.bus, c.pid, shm, sizeof shm), 0);
    for (uint32_t i = 0; ringabi_read(shm, i, &base, &head) == 0 && i < 2;
         i++)
        published += head - base;
    assert_true(r.lost > 0);
    assert_int_equal(r.lost, st.lost);
    assert_int_equal(st.delivered + st.lost, published);
    assert_int_equal(r.entries, st.entries);
    /* The newest records are never lost: the last count arrived. */
    assert_true(r.seen[5039]);
    cb_bus_close(b);
    cbt_unlink_bus(c.bus);
    rec_fini(&r);
}

static void
test_bus_status_segment_shows_this_reader(void **state)
{
    struct cb_bus_opts o = {.program = "t-status"};
    struct cb_status_header *sh = malloc(sizeof *sh);
    struct cb_bus_stats st;
    struct cb_bus *b = NULL;
    struct ctl c;
    struct rec r;
    char name[128];
    uint64_t now;

    (void)state;
    assert_non_null(sh);
    rec_init(&r);
    ctl_start(&c, "status", NULL);
    ctl_publish(&c, 123);
    assert_int_equal(cb_bus_open(c.bus, &o, &b), 0);
    cb_bus_set_sink_state(b, "sink ok");
    assert_true(cb_bus_poll(b, on_event, &r, 0) >= 0);
    cbt_sleep_us(120000); /* status is published at most every 100 ms */
    assert_true(cb_bus_poll(b, on_event, &r, 0) >= 0);
    cb_bus_stats(b, &st);
    snprintf(name, sizeof name, "/clipbus-r.%s.%ld", c.bus, (long)getpid());
    assert_int_equal(cb_status_read(name, sh), 0);
    now = cbt_real_ns();
    assert_int_equal(sh->pid, (uint32_t)getpid());
    assert_string_equal(sh->program, "t-status");
    assert_string_equal(sh->sink, "sink ok");
    assert_int_equal(sh->delivered, st.delivered);
    assert_int_equal(sh->lost, st.lost);
    assert_int_equal(sh->producers, 1);
    assert_true(sh->nrings >= 1);
    assert_int_equal(sh->rings[0].producer_pid, (uint32_t)c.pid);
    assert_int_equal(sh->rings[0].cursor, sh->rings[0].head);
    assert_true(sh->heartbeat_real_ns <= now &&
                now - sh->heartbeat_real_ns < 2000000000u);
    ctl_exit(&c);
    cb_bus_close(b);
    assert_int_equal(cb_status_read(name, sh), -ENOENT);
    cbt_unlink_bus(c.bus);
    free(sh);
    rec_fini(&r);
}

/* cb_bus_opts.ring_batch bounds what one pass takes from a ring, and
 * status_interval_ms how often the status segment is rewritten (the
 * consumers' consumer.batch and consumer.status_interval). */
static void
test_bus_ring_batch_and_status_interval_are_honoured(void **state)
{
    struct cb_bus_opts o = {.program = "t-batch", .ring_batch = 10,
                            .status_interval_ms = 400};
    struct cb_status_header *sh = malloc(sizeof *sh);
    struct cb_bus *b = NULL;
    struct ctl c;
    struct rec r;
    char name[128];
    uint64_t h1, h2, h3;
    int passes = 0;

    (void)state;
    assert_non_null(sh);
    rec_init(&r);
    ctl_start(&c, "batch", NULL);
    ctl_publish(&c, 100);
    assert_int_equal(cb_bus_open(c.bus, &o, &b), 0);
    snprintf(name, sizeof name, "/clipbus-r.%s.%ld", c.bus, (long)getpid());
    while (r.counts < 100 && passes < 1000) {
        int before = r.counts;
        assert_true(cb_bus_poll(b, on_event, &r, 0) >= 0);
        if (r.counts - before > 10)
            fail_msg("one pass read %d records of one ring, ring_batch 10",
                     r.counts - before);
        passes++;
    }
    assert_int_equal(r.counts, 100);
    assert_true(passes >= 10);
    assert_int_equal(cb_status_read(name, sh), 0);
    h1 = sh->heartbeat_real_ns;
    cbt_sleep_us(150000); /* the default interval (100 ms) would publish */
    assert_true(cb_bus_poll(b, on_event, &r, 0) >= 0);
    assert_int_equal(cb_status_read(name, sh), 0);
    h2 = sh->heartbeat_real_ns;
    cbt_sleep_us(300000);
    assert_true(cb_bus_poll(b, on_event, &r, 0) >= 0);
    assert_int_equal(cb_status_read(name, sh), 0);
    h3 = sh->heartbeat_real_ns;
    ctl_exit(&c);
    cb_bus_close(b);
    cbt_unlink_bus(c.bus);
    free(sh);
    rec_fini(&r);
    if (h2 != h1)
        fail_msg("status rewritten %.0f ms after the last time, interval "
                 "400 ms", (double)(h2 - h1) / 1e6);
    assert_true(h3 > h1);
}

static void
test_bus_wait_wakes_on_records_and_times_out(void **state)
{
    struct cb_bus_opts o = {.program = "t-wait", .no_status = 1};
    struct cb_bus *b = NULL;
    struct ctl c;
    struct rec r;
    uint64_t t0;

    (void)state;
    rec_init(&r);
    ctl_start(&c, "wait", NULL);
    ctl_publish(&c, 1);
    assert_int_equal(cb_bus_open(c.bus, &o, &b), 0);
    assert_true(cb_bus_poll(b, on_event, &r, 0) >= 0);
    t0 = cbt_mono_ns();
    assert_int_equal(cb_bus_wait(b, 200), 0);
    assert_true(cbt_mono_ns() - t0 >= 190000000u);
    ctl_publish(&c, 3);
    t0 = cbt_mono_ns();
    assert_int_equal(cb_bus_wait(b, 5000), 1);
    assert_true(cbt_mono_ns() - t0 < 1000000000u);
    ctl_exit(&c);
    cb_bus_close(b);
    cbt_unlink_bus(c.bus);
    rec_fini(&r);
}

static volatile sig_atomic_t alarms;

static void
on_alarm(int sig)
{
    (void)sig;
    alarms++;
}

/* SIGALRM every `ms` milliseconds, caught by on_alarm (no SA_RESTART);
 * 0 stops it. Repeated, not once: a signal that lands between two naps
 * (while the reader scans, or waits for a CPU after a nap) interrupts no
 * sleep -- the caller sees its flag after that nap -- so a test waiting
 * for "a signal ends the wait" needs one that lands in a sleep. On a
 * loaded machine, several may not. */
static void
alarm_every_ms(long ms)
{
    struct sigaction sa;
    struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
    struct itimerval it = {.it_value = tv, .it_interval = tv};

    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm;
    sigemptyset(&sa.sa_mask);
    if (ms > 0)
        assert_int_equal(sigaction(SIGALRM, &sa, NULL), 0);
    assert_int_equal(setitimer(ITIMER_REAL, &it, NULL), 0);
}

/* The alarm's handler ran. ThreadSanitizer runs a handler at its next
 * intercepted call, not when the signal interrupts the system call: give
 * it a few. */
static void
handled_alarm(void)
{
    for (int i = 0; i < 100 && alarms == 0; i++)
        usleep(10000);
    assert_true(alarms >= 1);
}

/* Waits (5 s timeout) under a 100 ms alarm until the wait returns 0, and
 * checks it did so at a signal: well before the timeout, with the
 * handler run. With fd, the wait also returns 1 for anything created in
 * the shm directory -- by any process; the test suite runs others beside
 * this one -- and is then simply waited again. */
static void
wait_ends_at_signal(struct cb_bus *b, int fd)
{
    uint64_t t0 = cbt_mono_ns();
    int rc;

    alarms = 0;
    alarm_every_ms(100);
    do {
        rc = fd >= 0 ? cb_bus_wait_fd(b, 5000, fd) : cb_bus_wait(b, 5000);
        if (rc != 0 && fd >= 0)
            (void)cb_shm_watch_drain(fd);
    } while (rc != 0 && fd >= 0 && cbt_mono_ns() - t0 < 2500000000u);
    alarm_every_ms(0);
    assert_int_equal(rc, 0);
    assert_true(cbt_mono_ns() - t0 < 2500000000u);
    handled_alarm();
}

/* A signal caught by a handler while cb_bus_wait or cb_bus_wait_fd
 * sleeps ends the wait at once (0), whether it naps for a live producer
 * or sleeps out the timeout with nothing alive: a consumer that sleeps
 * long still stops on SIGTERM without delay. The 5 s waits end at a
 * signal of the 100 ms alarm; the bound checked, 2.5 s, only tells "at a
 * signal" from "at the timeout". */
static void
test_bus_wait_ends_on_a_caught_signal(void **state)
{
    struct cb_bus_opts o = {.program = "t-wait-sig", .no_status = 1};
    struct cb_bus *b = NULL;
    struct ctl c;
    struct rec r;
    int fd = cb_shm_watch_open();

    (void)state;
    assert_true(fd >= 0);
    rec_init(&r);
    ctl_start(&c, "waitsig", NULL);
    ctl_publish(&c, 1);
    assert_int_equal(cb_bus_open(c.bus, &o, &b), 0);
    /* Everything read, the new ring's first look done: the waits below
     * have nothing to return for but the signal or the timeout. */
    for (int i = 0; i < 100 && (cb_bus_poll(b, on_event, &r, 0) > 0 ||
                                cb_bus_wait(b, 20) != 0);
         i++)
        ;
    (void)cb_shm_watch_drain(fd); /* the producer's own segment */
    wait_ends_at_signal(b, -1);
    wait_ends_at_signal(b, fd);
    /* Nothing alive: cb_bus_wait_fd sleeps the whole timeout, trusting
     * fd to announce a producer; a signal still ends it. */
    ctl_exit(&c);
    usleep(200000); /* past a liveness scan */
    cb_bus_scan(b, 1);
    while (cb_bus_poll(b, on_event, &r, 0) > 0)
        ;
    (void)cb_shm_watch_drain(fd);
    wait_ends_at_signal(b, fd);
    signal(SIGALRM, SIG_DFL);
    close(fd);
    cb_bus_close(b);
    cbt_unlink_bus(c.bus);
    rec_fini(&r);
}

/* A reader whose caller watches the shm directory (opts.dir_watched) lists
 * it only when told (cb_bus_scan(b, 1), on the watch's word) or every 2 s
 * as a safety net, not every 100 ms: listing a busy /dev/shm ten times a
 * second in every consumer was a tenth of their CPU time. Both ways still
 * find a new producer: at once when told, within the safety net's period
 * when a notification was missed. */
static void
test_bus_watched_directory_is_listed_when_told_and_every_2s(void **state)
{
    struct cb_bus_opts o = {.program = "t-watched", .no_status = 1,
                            .dir_watched = 1};
    struct cb_bus *b = NULL;
    struct ctl c1, c2;
    struct rec r;
    uint64_t t0;
    int fd = cb_shm_watch_open();

    (void)state;
    assert_true(fd >= 0);
    rec_init(&r);
    ctl_start(&c1, "watched", NULL);
    assert_int_equal(cb_bus_open(c1.bus, &o, &b), 0);
    t0 = cbt_mono_ns();
    (void)cb_bus_poll(b, on_event, &r, 0);
    assert_int_equal(r.fresh, 1);
    (void)cb_shm_watch_drain(fd);

    /* A second producer, not announced by a forced scan: 300 ms of polls
     * (three ordinary scan periods) do not list the directory. Only
     * checked while the 2 s period is surely not over. */
    ctl_start_on(&c2, &c1);
    assert_int_equal(cb_shm_watch_drain(fd), 1);
    while (cbt_mono_ns() - t0 < 300000000u) {
        (void)cb_bus_poll(b, on_event, &r, 0);
        usleep(5000);
    }
    if (cbt_mono_ns() - t0 < 1900000000u)
        assert_int_equal(r.fresh, 1);
    /* Told: attached at once. */
    assert_int_equal(cb_bus_scan(b, 1), 2);
    (void)cb_bus_poll(b, on_event, &r, 0);
    assert_int_equal(r.fresh, 2);
    ctl_exit(&c2);

    /* A notification missed (the watch is not asked): the safety net
     * lists the directory within about 2 s. */
    t0 = cbt_mono_ns();
    ctl_start_on(&c2, &c1);
    while (r.fresh < 3 && cbt_mono_ns() - t0 < 10000000000u) {
        (void)cb_bus_poll(b, on_event, &r, 0);
        usleep(10000);
    }
    assert_int_equal(r.fresh, 3);
    ctl_exit(&c2);
    ctl_exit(&c1);
    close(fd);
    cb_bus_close(b);
    cbt_unlink_bus(c1.bus);
    rec_fini(&r);
}

/* Voluntary context switches of this thread: one per nap. */
static long
thread_naps(void)
{
    struct rusage ru;

    assert_int_equal(getrusage(RUSAGE_THREAD, &ru), 0);
    return ru.ru_nvcsw;
}

static int
cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

    return x < y ? -1 : x > y;
}

/* Each nap is a wake-up the whole machine pays for (docs/consumers.md,
 * "Wake-ups"). A reader of a live but silent producer naps up to
 * max_nap_ms (32 ms by default), and its naps end on multiples of their
 * length on CLOCK_MONOTONIC, the grid every reader shares, so that the
 * readers of one machine wake together. The counts are upper bounds where
 * a slow machine could only lower them. */
static void
test_bus_wait_naps_are_long_and_on_a_shared_grid(void **state)
{
    struct cb_bus_opts o = {.program = "t-nap", .no_status = 1};
    struct cb_bus_opts o4 = {.program = "t-nap4", .no_status = 1,
                             .max_nap_ms = 4};
    struct cb_bus *b = NULL, *b4 = NULL;
    struct ctl c;
    struct rec r;
    uint64_t phase[9];
    long naps, naps4;

    (void)state;
    rec_init(&r);
    ctl_start(&c, "nap", NULL);
    ctl_publish(&c, 1);
    assert_int_equal(cb_bus_open(c.bus, &o, &b), 0);
    assert_int_equal(cb_bus_open(c.bus, &o4, &b4), 0);
    assert_true(cb_bus_poll(b, on_event, &r, 0) >= 0);
    assert_true(cb_bus_poll(b4, on_event, &r, 0) >= 0);

    /* 640 ms of silence: 20 naps of 32 ms, and the climb from 1 ms. */
    naps = thread_naps();
    assert_int_equal(cb_bus_wait(b, 640), 0);
    naps = thread_naps() - naps;
    if (naps > 30)
        fail_msg("%ld naps in 640 ms of silence; at most 32 ms each "
                 "should take about 24", naps);

    /* Timeouts of at least a nap end on the 32 ms grid too: the
     * distance past a multiple of 32 ms is the wake-up latency, not a
     * uniform spread over 0-32 ms (median 16 ms). */
    for (int i = 0; i < 9; i++) {
        assert_int_equal(cb_bus_wait(b, 40), 0);
        phase[i] = cbt_mono_ns() % 32000000u;
    }
    qsort(phase, 9, sizeof phase[0], cmp_u64);
    if (phase[4] > 8000000u)
        fail_msg("waits end %.1f ms past the 32 ms grid (median of 9)",
                 (double)phase[4] / 1e6);

    /* max_nap_ms 4: the same silence takes about 160 naps. */
    naps4 = thread_naps();
    assert_int_equal(cb_bus_wait(b4, 640), 0);
    naps4 = thread_naps() - naps4;
    if (naps4 < 60)
        fail_msg("%ld naps in 640 ms with max_nap_ms 4", naps4);

    ctl_exit(&c);
    cb_bus_close(b);
    cb_bus_close(b4);
    cbt_unlink_bus(c.bus);
    rec_fini(&r);
}

static void
test_bus_from_now_skips_old_records_of_running_producers(void **state)
{
    struct cb_bus_opts o = {.program = "t-now", .no_status = 1,
                            .from = CB_FROM_NOW};
    struct cb_bus *b = NULL;
    struct ctl c1, c2;
    struct rec r;

    (void)state;
    rec_init(&r);
    ctl_start(&c1, "fromnow", NULL);
    ctl_publish(&c1, 10);                 /* values 0..9: skipped */
    assert_int_equal(cb_bus_open(c1.bus, &o, &b), 0);
    assert_true(cb_bus_poll(b, on_event, &r, 0) >= 0);
    ctl_publish(&c1, 5);                  /* values 10..14: read */
    ctl_start_on(&c2, &c1);
    ctl_publish(&c2, 7);                  /* new producer: from its start */
    cbt_sleep_us(150000);
    assert_int_equal(cb_bus_scan(b, 1), 2);
    assert_true(cb_bus_poll(b, on_event, &r, 0) >= 0);
    ctl_exit(&c1);
    ctl_exit(&c2);
    cb_bus_close(b);
    cbt_unlink_bus(c1.bus);
    for (int v = 0; v < 7; v++)
        assert_true(r.seen[v]);           /* c2's 0..6 */
    assert_false(r.seen[7] || r.seen[8] || r.seen[9]);
    for (int v = 10; v < 15; v++)
        assert_true(r.seen[v]);
    assert_int_equal(r.counts, 12);
    rec_fini(&r);
}

static void
test_bus_foreign_segment_is_reported_once(void **state)
{
    struct cb_bus_opts o = {.program = "t-foreign", .no_status = 1,
                            .no_gc = 1};
    struct cb_bus *b = NULL;
    struct ctl c;
    struct rec r;
    char shm[128];
    int fd;

    (void)state;
    rec_init(&r);
    ctl_start(&c, "foreign", NULL);
    ctl_publish(&c, 3);
    ctl_exit(&c);
    assert_int_equal(cbt_find_segment(c.bus, c.pid, shm, sizeof shm), 0);
    fd = shm_open(shm, O_RDWR, 0);
    assert_true(fd >= 0);
    /* Root gives the segment to another user (the owner half of the
     * rule); anyone else makes it readable by others (the mode half):
     * either way it is foreign, and the test runs everywhere. */
    if (geteuid() == 0)
        assert_int_equal(fchown(fd, 65534, 65534), 0);
    else
        assert_int_equal(fchmod(fd, 0644), 0);
    close(fd);
    assert_int_equal(cb_bus_open(c.bus, &o, &b), 0);
    for (int i = 0; i < 3; i++) {
        assert_true(cb_bus_poll(b, on_event, &r, 0) >= 0);
        assert_int_equal(cb_bus_scan(b, 1), 0);
    }
    assert_true(cb_bus_poll(b, on_event, &r, 0) >= 0);
    cb_bus_close(b);
    cbt_unlink_bus(c.bus);
    assert_int_equal(r.bad, 1);
    assert_non_null(strstr(r.bad_why, shm));
    assert_int_equal(r.counts, 0);
    rec_fini(&r);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bus_producer_present_at_open_gets_new_event),
        cmocka_unit_test(test_bus_producer_appearing_later_is_discovered_once),
        cmocka_unit_test(test_bus_dead_producer_is_reported_died_after_drain),
        cmocka_unit_test(test_bus_segment_caught_mid_creation_is_read_once_complete),
        cmocka_unit_test(test_bus_short_run_before_any_reader_is_read_whole),
        cmocka_unit_test(test_bus_exited_segment_removed_only_after_grace_once_drained),
        cmocka_unit_test(test_bus_undrained_segment_is_kept_past_grace),
        cmocka_unit_test(test_bus_no_gc_never_rereads_an_expired_segment),
        cmocka_unit_test(test_bus_loss_events_add_up_to_lost),
        cmocka_unit_test(test_bus_status_segment_shows_this_reader),
        cmocka_unit_test(test_bus_ring_batch_and_status_interval_are_honoured),
        cmocka_unit_test(test_bus_wait_naps_are_long_and_on_a_shared_grid),
        cmocka_unit_test(test_bus_wait_wakes_on_records_and_times_out),
        cmocka_unit_test(test_bus_wait_ends_on_a_caught_signal),
        cmocka_unit_test(test_bus_from_now_skips_old_records_of_running_producers),
        cmocka_unit_test(test_bus_foreign_segment_is_reported_once),
        cmocka_unit_test(test_bus_segments_created_during_scans_are_all_read),
        cmocka_unit_test(test_bus_watched_directory_is_listed_when_told_and_every_2s),
    };
    return cmocka_run_group_tests_name("bus.bus", tests, NULL, NULL);
}
