/*
 * tests/consumers/alert/alert_load.c -- a real producer (clipbus.h) for
 * the clipbus-alert tests and benchmark. Calls fetch_clip() every
 * --period-ms; after --fail-after-ms the calls fail (cb_fail) and the
 * counter fetch_failures{reason=429} counts them. Writes the wall-clock
 * ns of the first failing call to --mark FILE (the benchmark's start).
 * Runs --seconds, or until SIGTERM/SIGKILL.
 *
 * Usage: alert_load [--seconds S] [--period-ms P] [--fail-after-ms F]
 *                   [--mark FILE]
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <clipbus/clipbus.h>

static int failing;

static __attribute__((noinline)) int
fetch_clip(void)
{
    CB_MONITOR_EXECUTION();
    if (failing) {
        cb_count_l("fetch_failures", 1, "reason=429");
        return cb_fail(-EAGAIN, "HTTP 429");
    }
    return 0;
}

static uint64_t
now_ns(int clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int
main(int argc, char **argv)
{
    double seconds = 10, period_ms = 10, fail_after_ms = -1;
    const char *mark = NULL;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--seconds"))
            seconds = atof(argv[i + 1]);
        else if (!strcmp(argv[i], "--period-ms"))
            period_ms = atof(argv[i + 1]);
        else if (!strcmp(argv[i], "--fail-after-ms"))
            fail_after_ms = atof(argv[i + 1]);
        else if (!strcmp(argv[i], "--mark"))
            mark = argv[i + 1];
        else {
            fprintf(stderr, "alert_load: unknown option %s\n", argv[i]);
            return 2;
        }
    }
    uint64_t t0 = now_ns(CLOCK_MONOTONIC);
    struct timespec per = {.tv_sec = (time_t)(period_ms / 1000),
                           .tv_nsec = (long)(period_ms * 1e6) % 1000000000L};
    while ((double)(now_ns(CLOCK_MONOTONIC) - t0) / 1e9 < seconds) {
        double el_ms = (double)(now_ns(CLOCK_MONOTONIC) - t0) / 1e6;
        if (!failing && fail_after_ms >= 0 && el_ms >= fail_after_ms) {
            failing = 1;
            if (mark) {
                FILE *f = fopen(mark, "w");
                if (f) {
                    fprintf(f, "%llu\n",
                            (unsigned long long)now_ns(CLOCK_REALTIME));
                    fclose(f);
                }
            }
        }
        fetch_clip();
        nanosleep(&per, NULL);
    }
    return 0;
}
