/*
 * tests/bus/test_seccomp.c -- the publish path makes no system call.
 *
 * A child process opens its segment, claims its ring and backs it whole
 * (cb_thread_prepare), and warms every call site (first records, first
 * sight of every name and label: those slow paths may make system calls). Then it installs a seccomp filter under
 * which every system call but exit(2) traps, and publishes a million
 * entries of every kind: counts, gauges, labelled observations, log lines
 * (long ones with continuation records), monitored calls with string
 * parameters and cb_fail(), progress steps with nested progress, sessions
 * begun and ended. It leaves with syscall(SYS_exit, 0). Exit status 0
 * proves the path made no system call; a trapped call makes the child
 * write its number into shared memory and exit 99, and the test names it.
 * The parent then reads the ring (lapped many times): delivered + lost ==
 * published, everything delivered passes the workload check, and the last
 * entry is the end marker.
 *
 * Why a filter and not SECCOMP_MODE_STRICT: on x86 strict mode also sets
 * TIF_NOTSC, so the next RDTSC -- the producer's clock -- faults with
 * SIGSEGV (si_code SI_KERNEL) before any system call is made. A filter
 * that traps every system call proves the same property and leaves the
 * TSC alone.
 *
 * CB_TRACK_PERFORMANCE is exempt: it is documented to make system calls.
 * Not built where seccomp is not available, nor under TSan (whose runtime
 * makes system calls of its own on any path).
 *
 * CB_TEST_ITERS: entries published under the filter (default 1000000).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <clipbus/clipbus.h>
#include <clipbus/reader.h>

#include "cbt.h"
#include "clipbus_config.h"
#include "ringabi.h"
#include "workload.h"

/* CMake builds this test only where seccomp filters exist, and not under
 * TSan, whose runtime makes system calls of its own on any path. */
#if !CB_HAVE_SECCOMP_STRICT
#error "test_seccomp.c needs seccomp (CB_HAVE_SECCOMP_STRICT)"
#endif
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/mman.h>
#include <sys/prctl.h>

#define DEFAULT_SEED UINT64_C(0xc11b0b05eed00005)
#ifdef CBT_SLOW_BUILD
#define DEFAULT_ENTRIES 500000
#else
#define DEFAULT_ENTRIES 1000000
#endif

struct ctx {
    char bus[64];
    struct wl wl;
    uint64_t entries;
    int strict;                /* 1: SECCOMP_MODE_STRICT, 0: a filter */
};

/* Shared with the child: the number of a trapped system call, or -1. */
static volatile long *g_trapped;

__attribute__((noinline)) static void
sc_substep(void)
{
    CB_PROGRESS_STEP(1);
    cb_progress_total(4);
    cb_progress(1);
    cb_progress(2);
}

__attribute__((noinline)) static void
sc_step(void)
{
    CB_PROGRESS_STEP(2);
    cb_progress_total(2);
    sc_substep();
    sc_substep();
}

/* SIGSYS from the filter: note the call and leave by exit(2), the one
 * call allowed (returning would need rt_sigreturn, which would trap). */
static void
on_sigsys(int sig, siginfo_t *si, void *uc)
{
    (void)sig;
    (void)uc;
    *g_trapped = si->si_syscall;
    syscall(SYS_exit, 99);
}

static int
install_filter(void)
{
    struct sock_filter f[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
                 (uint32_t)offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_exit, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_TRAP),
    };
    struct sock_fprog prog = {(unsigned short)(sizeof f / sizeof f[0]), f};
    struct sigaction sa;

    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_sigsys;
    sa.sa_flags = SA_SIGINFO;
    if (sigaction(SIGSYS, &sa, NULL) != 0 ||
        prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
        return -1;
    return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog);
}

static int
publishing_child(void *arg)
{
    const struct ctx *c = arg;

    setenv("CLIPBUS_RINGS", "2", 1);
    if (cb_open(c->bus) != 0)
        return 2;
    /* The ring, claimed and backed whole: without this, the thread's
     * 4097th record backs the rest of the ring (a fallocate). */
    if (cb_thread_prepare() != 0)
        return 5;
    /* Warm-up: names, labels, every call site. */
    wl_warm(&c->wl, 0, 0);
    (void)cb_session_begin("seccomp.session", 1e9);
    sc_step();
    cb_session_end(CB_SESSION_OK);
    (void)cb_session_begin("seccomp.session", 1e9);
    cb_count("seccomp.done", 0);

    if (c->strict ? prctl(PR_SET_SECCOMP, SECCOMP_MODE_STRICT)
                  : install_filter())
        return 3;
    /* From here on, any system call but exit(2) is fatal. */
    for (uint64_t i = 0; i < c->entries; i++) {
        wl_emit(&c->wl, 0, 5 + i);
        if ((i & 15) == 0)
            sc_step();
        if ((i & 0xffff) == 0) {
            cb_session_end(CB_SESSION_OK);
            (void)cb_session_begin("seccomp.session", 1e9);
        }
    }
    cb_count("seccomp.done", (int64_t)c->entries);
    syscall(SYS_exit, 0);
    return 4; /* not reached */
}

/* Checks what the child left in its ring. */
static void
check_ring(const struct ctx *c, pid_t pid)
{
    struct cb_segment *seg;
    struct cb_cursor *cur = malloc(sizeof *cur);
    struct cb_entry e, last;
    char shm[128], why[400];
    uint64_t base, head, checked = 0;
    int rc;

    assert_non_null(cur);
    assert_int_equal(cbt_find_segment(c->bus, pid, shm, sizeof shm), 0);
    assert_int_equal(cb_segment_attach(shm, 0, &seg, why, sizeof why), 0);
    assert_int_equal(cb_segment_rings(seg), 1);
    /* It left without cb_close(): dead, not exited. */
    assert_int_equal(cb_segment_liveness(seg), CB_PRODUCER_DEAD);
    assert_int_equal(cb_cursor_init(cur, seg, 0, CB_FROM_OLDEST), 0);
    memset(&last, 0, sizeof last);
    while ((rc = cb_cursor_next(cur, &e)) == 1) {
        struct wl_id id;
        last = e;
        if (e.head.kind != CB_KIND_LOG && e.head.kind != CB_KIND_CALL &&
            e.head.kind != CB_KIND_COUNT && e.head.kind != CB_KIND_GAUGE &&
            e.head.kind != CB_KIND_OBSERVE)
            continue; /* progress and session records */
        if (e.head.kind == CB_KIND_COUNT &&
            e.head.value == (uint64_t)c->entries)
            continue; /* the end marker */
        rc = wl_check(&c->wl, &e, &id, why, sizeof why);
        if (rc != 0)
            fail_msg("seed=0x%" PRIx64 " record %" PRIu64 ": %s", c->wl.seed,
                     e.recno, rc == 1 ? "thread record" : why);
        checked++;
    }
    assert_int_equal(rc, 0);
    assert_int_equal(ringabi_read(shm, 0, &base, &head), 0);
    assert_int_equal(cur->delivered + cur->lost, head - base);
    assert_int_equal(cur->next, head);
    assert_true(checked > 100);
    assert_int_equal(last.head.kind, CB_KIND_COUNT);
    assert_int_equal(last.head.value, c->entries);
    print_message("    %" PRIu64 " entries (%" PRIu64 " records) published "
                  "under seccomp; %" PRIu64 " read back and checked\n",
                  c->entries, head - base, checked);
    cb_segment_detach(seg);
    free(cur);
}

static void
run_case(int strict)
{
    struct ctx c;
    char st[64];
    int status;
    pid_t pid;

    memset(&c, 0, sizeof c);
    cbt_bus(c.bus, sizeof c.bus, strict ? "strict" : "seccomp");
    c.wl.seed = cbt_seed(DEFAULT_SEED);
    c.entries = cbt_iters(DEFAULT_ENTRIES);
    c.strict = strict;
    *g_trapped = -1;
    pid = cbt_fork(publishing_child, &c);
    assert_true(pid > 0);
    assert_int_equal(cbt_wait(pid, 120000, &status), 0);
    if (*g_trapped >= 0)
        fail_msg("seed=0x%" PRIx64 ": system call %ld made on the publish "
                 "path", c.wl.seed, *g_trapped);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fail_msg("seed=0x%" PRIx64 ": the publishing child ended with %s%s",
                 c.wl.seed, cbt_status_str(status, st, sizeof st),
                 WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL
                     ? ": a system call on the publish path"
                     : "");
    check_ring(&c, pid);
    cbt_unlink_bus(c.bus);
}

static int
group_setup(void **state)
{
    (void)state;
    g_trapped = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
                     MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    return g_trapped == MAP_FAILED ? -1 : 0;
}

static void
test_seccomp_publish_path_makes_no_syscall(void **state)
{
    (void)state;
    run_case(0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_seccomp_publish_path_makes_no_syscall),
    };
    return cmocka_run_group_tests_name("bus.seccomp", tests, group_setup,
                                       NULL);
}
