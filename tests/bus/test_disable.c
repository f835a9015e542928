/*
 * tests/bus/test_disable.c -- a program built with -DCLIPBUS_DISABLE uses
 * every macro and function of clipbus.h and runs.
 *
 * Built without the library (the CMake target links only cmocka): had a
 * macro not compiled to nothing, the link would fail. Also checks that no
 * segment appears in the shm directory for this process.
 *
 * Parameters and variables used only inside the macros (page, score, w,
 * labels, level below) are how real code looks. The program itself is
 * built with "unused" warnings off so that they cannot break the build;
 * the CTest test bus.disable.warnings compiles it again with the project
 * warnings and -Werror and fails if the disabled macros draw any.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <clipbus/clipbus.h>

#ifndef CLIPBUS_DISABLE
#error "this test must be built with -DCLIPBUS_DISABLE"
#endif

static int calls;

static int
fetch_page(const char *channel, int page, double score)
{
    CB_MONITOR_EXECUTION(CB_STR("channel", channel), CB_INT("page", page),
                         CB_DBL("score", score));
    calls++;
    if (page < 0)
        return cb_fail(-EINVAL, "bad page %d of %s", page, channel);
    return 0;
}

static int
measured(int n)
{
    CB_TRACK_PERFORMANCE(CB_INT("n", n));
    calls++;
    return n;
}

static int
sampled(int n)
{
    CB_TRACK_PERFORMANCE_EVERY(8, CB_INT("n", n));
    calls++;
    return n;
}

static void
step(double w)
{
    CB_PROGRESS_STEP(w);
    cb_progress_total(4);
    cb_progress(1);
    calls++;
}

static void
test_disabled_build_runs_every_macro(void **state)
{
    const char *labels = "reason=http_429";
    int level = CB_LOG_INFO;

    (void)state;
    assert_int_equal(cb_open("default"), CB_EDISABLED);
    assert_int_equal(cb_open(NULL), CB_EDISABLED);
    assert_int_equal(cb_state(), CB_EDISABLED);
    assert_int_equal(cb_name_intern("x"), 0);
    assert_int_equal(fetch_page("news", 3, 0.5), 0);
    assert_int_equal(fetch_page("news", -1, 0.5), -EINVAL);
    assert_int_equal(measured(5), 5);
    assert_int_equal(sampled(6), 6);
    assert_int_equal(cb_session_begin("run", 10.0), 0);
    step(2.0);
    cb_session_end(CB_SESSION_OK);
    cb_count("clips", 1);
    cb_count_l("clips", 1, labels);
    cb_gauge("queue", 2.5);
    cb_gauge_l("queue", 2.5, labels);
    cb_observe("latency", 0.1);
    cb_observe_l("latency", 0.1, labels);
    cb_log(level, "hello %d", 42);
    assert_int_equal(cb_fail(-5, "outside %s", "calls"), -5);
    cb_close();
    assert_int_equal(calls, 5);
}

/* No segment of this process in the shm directory. */
static void
test_disabled_build_creates_no_segment(void **state)
{
    char suffix[32];
    struct dirent *e;
    DIR *d = opendir("/dev/shm");

    (void)state;
    if (d == NULL)
        fail_msg("cannot list /dev/shm: the check needs it");
    snprintf(suffix, sizeof suffix, ".%ld", (long)getpid());
    while ((e = readdir(d)) != NULL) {
        size_t n = strlen(e->d_name), sl = strlen(suffix);
        if (strncmp(e->d_name, "clipbus", 7) == 0 && n > sl &&
            strcmp(e->d_name + n - sl, suffix) == 0)
            fail_msg("segment %s exists", e->d_name);
    }
    closedir(d);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_disabled_build_runs_every_macro),
        cmocka_unit_test(test_disabled_build_creates_no_segment),
    };
    return cmocka_run_group_tests_name("bus.disable", tests, NULL, NULL);
}
