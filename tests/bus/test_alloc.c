/*
 * tests/bus/test_alloc.c -- fail each allocation in turn (curl's
 * torture tests): the reader API and the producer's open path survive an
 * allocation failure at any point, report it, leak nothing, and lose or
 * duplicate no record.
 *
 * No LD_PRELOAD and no library hook: the test program is linked with
 * -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc,--wrap=free, so every
 * allocation of the statically linked library (and of this file) goes
 * through the __wrap_ functions below. libc's own internal allocations
 * (opendir, stdio) are not affected. While "armed", the n-th allocation
 * fails; the wrapper also counts live blocks, so a leak shows as a count
 * that does not return to zero.
 *
 * Scenarios, each run for n = 1, 2, ... until a run makes fewer than n
 * allocations:
 *  - cb_segment_attach + reading + detach;
 *  - cb_bus_open + cb_bus_poll (two producers, one exited) + cb_bus_close,
 *    then, allocations working again, every published record must still
 *    arrive exactly once;
 *  - a producer process whose open fails at the n-th allocation: it
 *    switches itself off (cb_state() < 0) and the program runs on.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <clipbus/clipbus.h>
#include <clipbus/reader.h>

#include "cbt.h"

/* ---- the allocator wrapper ---------------------------------------------- */

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t m);
void *__real_realloc(void *p, size_t n);
void __real_free(void *p);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t m);
void *__wrap_realloc(void *p, size_t n);
void __wrap_free(void *p);

/* Single-threaded use only (no reader threads in this file). */
static struct {
    int armed;
    long fail_at;  /* the allocation number that fails (1-based) */
    long count;    /* allocations attempted while armed */
    long live;     /* blocks allocated and not freed, while counting */
    int failed;    /* the armed failure happened */
} A;

static int
should_fail(void)
{
    if (!A.armed)
        return 0;
    if (++A.count == A.fail_at) {
        A.failed = 1;
        return 1;
    }
    return 0;
}

void *
__wrap_malloc(size_t n)
{
    void *p;
    if (should_fail())
        return NULL;
    p = __real_malloc(n);
    A.live += p != NULL;
    return p;
}

void *
__wrap_calloc(size_t n, size_t m)
{
    void *p;
    if (should_fail())
        return NULL;
    p = __real_calloc(n, m);
    A.live += p != NULL;
    return p;
}

void *
__wrap_realloc(void *p, size_t n)
{
    void *q;
    if (should_fail())
        return NULL;
    q = __real_realloc(p, n);
    if (p == NULL && q != NULL)
        A.live++;
    return q;
}

void
__wrap_free(void *p)
{
    A.live -= p != NULL;
    __real_free(p);
}

static void
arm(long n)
{
    A.fail_at = n;
    A.count = 0;
    A.failed = 0;
    A.armed = 1;
}

static void
disarm(void)
{
    A.armed = 0;
}

/* ---- fixtures: real segments -------------------------------------------- */

struct prod_ctx {
    char bus[64];
    int n;
    int exit_after; /* 1: cb_close and leave; 0: stay until killed */
    int ready[2];
};

static int
producer(void *arg)
{
    struct prod_ctx *c = arg;
    if (cb_open(c->bus) != 0)
        return 2;
    for (int i = 0; i < c->n; i++)
        cb_count("alloc.count", i);
    cb_log(CB_LOG_INFO, "a log line long enough for a continuation record "
                        "%0100d", 7);
    cb_close();
    if (write(c->ready[1], "r", 1) != 1)
        return 3;
    if (!c->exit_after)
        pause();
    return 0;
}

static pid_t
start_producer(struct prod_ctx *c)
{
    char b;
    assert_int_equal(pipe(c->ready), 0);
    pid_t pid = cbt_fork(producer, c);
    assert_true(pid > 0);
    assert_int_equal(read(c->ready[0], &b, 1), 1);
    close(c->ready[0]);
    close(c->ready[1]);
    return pid;
}

/* ---- scenarios ---------------------------------------------------------- */

static void
test_alloc_segment_attach_survives_each_failure(void **state)
{
    struct prod_ctx c = {.n = 100, .exit_after = 1};
    char shm[128], why[256];
    static struct cb_cursor cur_mem; /* static: a failure leaks nothing */
    struct cb_cursor *cur = &cur_mem;
    int status;
    long n;

    (void)state;
    assert_non_null(cur);
    cbt_bus(c.bus, sizeof c.bus, "alloc1");
    pid_t pid = start_producer(&c);
    assert_int_equal(cbt_wait(pid, 10000, &status), 0);
    assert_int_equal(cbt_find_segment(c.bus, pid, shm, sizeof shm), 0);
    for (n = 1;; n++) {
        struct cb_segment *seg = (struct cb_segment *)cur; /* poison */
        struct cb_entry e;
        long live0 = A.live;
        arm(n);
        int rc = cb_segment_attach(shm, 0, &seg, why, sizeof why);
        if (rc == 0) {
            uint64_t entries = 0;
            assert_int_equal(cb_cursor_init(cur, seg, 0, CB_FROM_OLDEST), 0);
            while (cb_cursor_next(cur, &e) == 1)
                entries++;
            assert_int_equal(entries, 102); /* thread, counts, log */
            cb_segment_detach(seg);
        } else {
            assert_null(seg);
            assert_int_equal(rc, -ENOMEM);
            assert_non_null(strstr(why, shm));
        }
        disarm();
        if (A.live != live0)
            fail_msg("allocation %ld failing: %ld blocks leaked", n,
                     A.live - live0);
        if (!A.failed)
            break;
    }
    print_message("    cb_segment_attach: %ld allocation(s) failed in turn\n",
                  n - 1);
    assert_true(n > 1);
    cbt_unlink_bus(c.bus);
}

struct tally {
    uint64_t counts, dups;
    uint8_t seen[2][1000];
    pid_t pids[2];
};

static int
on_event(void *arg, const struct cb_event *ev)
{
    struct tally *t = arg;
    if (ev->type != CB_EV_ENTRY || ev->entry->head.kind != CB_KIND_COUNT)
        return 0;
    int p = cb_segment_info(ev->seg)->pid == (uint32_t)t->pids[1];
    uint64_t v = ev->entry->head.value;
    if (v < 1000) {
        t->dups += t->seen[p][v]++ != 0;
        t->counts++;
    }
    return 0;
}

static void
test_alloc_bus_open_poll_close_survive_each_failure(void **state)
{
    struct prod_ctx live = {.n = 300, .exit_after = 0};
    struct prod_ctx gone = {.n = 200, .exit_after = 1};
    struct cb_bus_opts o = {.program = "alloc", .no_gc = 1};
    static struct tally tally_mem; /* static: a failure leaks nothing */
    struct tally *t = &tally_mem;
    int status;
    long n, opened = 0;

    (void)state;
    assert_non_null(t);
    cbt_bus(live.bus, sizeof live.bus, "alloc2");
    snprintf(gone.bus, sizeof gone.bus, "%s", live.bus);
    pid_t p0 = start_producer(&live);
    pid_t p1 = start_producer(&gone);
    assert_int_equal(cbt_wait(p1, 10000, &status), 0);
    for (n = 1;; n++) {
        struct cb_bus *b = NULL;
        long live0 = A.live;
        memset(t, 0, sizeof *t);
        t->pids[0] = p0;
        t->pids[1] = p1;
        arm(n);
        int rc = cb_bus_open(live.bus, &o, &b);
        if (rc == 0) {
            opened++;
            for (int i = 0; i < 3; i++)
                assert_true(cb_bus_poll(b, on_event, t, 0) >= 0);
            /* Allocations work again: whatever a failure skipped must
             * come now, and nothing twice. */
            disarm();
            for (int i = 0; i < 3; i++) {
                assert_true(cb_bus_scan(b, 1) >= 0);
                assert_true(cb_bus_poll(b, on_event, t, 0) >= 0);
            }
            cb_bus_close(b); /* first: a failure below leaks nothing */
            if (t->counts != 500 || t->dups != 0)
                fail_msg("allocation %ld failing: %" PRIu64 " counts of 500 "
                         "delivered, %" PRIu64 " twice", n, t->counts,
                         t->dups);
        } else {
            disarm();
            assert_null(b);
            assert_true(rc < 0);
        }
        if (A.live != live0)
            fail_msg("allocation %ld failing: %ld blocks leaked", n,
                     A.live - live0);
        if (!A.failed)
            break;
    }
    print_message("    cb_bus_*: %ld allocation(s) failed in turn, bus "
                  "opened %ld times\n", n - 1, opened);
    assert_true(n > 3);
    kill(p0, 9);
    assert_int_equal(cbt_wait(p0, 10000, &status), 0);
    cbt_unlink_bus(live.bus);
}

struct open_ctx {
    char bus[64];
    long fail_at;
};

static int
failing_open(void *arg)
{
    struct open_ctx *c = arg;
    arm(c->fail_at);
    int rc = cb_open(c->bus);
    cb_count("after.open", 1);
    cb_log(CB_LOG_INFO, "still running");
    disarm();
    if (A.failed && rc == 0 && cb_state() == 0)
        return 10 + (int)A.count; /* failure swallowed? */
    if (rc != cb_state())
        return 4;
    if (!A.failed)
        return 99; /* no allocation was left to fail */
    return 0;
}

static void
test_alloc_producer_open_failure_switches_off_and_runs_on(void **state)
{
    struct open_ctx c;
    char err[1024], st[64];
    long n;

    (void)state;
    for (n = 1;; n++) {
        int status;
        cbt_bus(c.bus, sizeof c.bus, "alloc3");
        c.fail_at = n;
        assert_int_equal(cbt_run(failing_open, &c, 10000, &status, err,
                                 sizeof err), 0);
        cbt_unlink_bus(c.bus);
        if (WIFEXITED(status) && WEXITSTATUS(status) == 99)
            break;
        if (status != 0)
            fail_msg("allocation %ld of the producer's open failing: %s; "
                     "stderr: %s", n, cbt_status_str(status, st, sizeof st),
                     err);
        if (cbt_lines(err) != 1)
            fail_msg("allocation %ld failing: want one stderr line, got "
                     "\"%s\"", n, err);
    }
    print_message("    cb_open: %ld allocation(s) failed in turn\n", n - 1);
    assert_true(n > 1);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_alloc_segment_attach_survives_each_failure),
        cmocka_unit_test(test_alloc_bus_open_poll_close_survive_each_failure),
        cmocka_unit_test(test_alloc_producer_open_failure_switches_off_and_runs_on),
    };
    return cmocka_run_group_tests_name("bus.alloc", tests, NULL, NULL);
}
