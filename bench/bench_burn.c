/*
 * bench_burn.c -- a calibrated CPU load for bench_analyzer.sh's control
 * configuration (g): as much CPU time as the consumers use, spent doing
 * nothing a consumer does.
 *
 *   bench_burn --ms-per-s N [--period-ms P] [--touch-kib K] [--sched idle|normal]
 *
 * Every P ms (default 2, on CLOCK_MONOTONIC) it wakes and spins until its
 * thread has used N * P / 1000 ms more CPU time, then sleeps to the next
 * period: N ms of CPU a second, in short bursts, like a consumer's reader
 * waking between records. With --touch-kib K the spin walks a K KiB buffer
 * a cache line at a time (a working set of that size) instead of only
 * reading the clock. It puts itself in SCHED_IDLE by default, the
 * consumers' class. A period missed (stopped with SIGSTOP, say) is not
 * caught up. SIGTERM and SIGINT end it with status 0.
 *
 * If the analyzer slows as much beside this as beside the consumers, what
 * costs is CPU time on this machine as such, not anything the consumers
 * do with it.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* SCHED_IDLE */
#endif
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static volatile sig_atomic_t done;

static void
on_signal(int sig)
{
    (void)sig;
    done = 1;
}

static uint64_t
ns(clockid_t c)
{
    struct timespec ts;
    clock_gettime(c, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void
usage(FILE *f)
{
    fputs("Usage: bench_burn --ms-per-s N [--period-ms P] [--touch-kib K]\n"
          "                  [--sched idle|normal]\n"
          "Spends N ms of CPU a second in bursts every P ms (default 2),\n"
          "walking a K KiB buffer while it spins if --touch-kib is given,\n"
          "in SCHED_IDLE unless --sched normal. Ends on SIGTERM/SIGINT.\n",
          f);
}

static int
number(const char *opt, const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) {
        fprintf(stderr, "bench_burn: %s must be a whole number from %ld to %ld, not '%s'\n",
                opt, lo, hi, s);
        return -1;
    }
    *out = v;
    return 0;
}

int
main(int argc, char **argv)
{
    long ms_per_s = -1, period_ms = 2, touch_kib = 0;
    int idle = 1;
    for (int i = 1; i < argc; i += 2) { /* an option and its value */
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        }
        if (!v) {
            fprintf(stderr, "bench_burn: unknown option or missing value: '%s'\n", a);
            usage(stderr);
            return 2;
        }
        int rc = 0;
        if (!strcmp(a, "--ms-per-s"))
            rc = number(a, v, 0, 1000, &ms_per_s);
        else if (!strcmp(a, "--period-ms"))
            rc = number(a, v, 1, 1000, &period_ms);
        else if (!strcmp(a, "--touch-kib"))
            rc = number(a, v, 0, 1 << 20, &touch_kib);
        else if (!strcmp(a, "--sched") && (!strcmp(v, "idle") || !strcmp(v, "normal")))
            idle = !strcmp(v, "idle");
        else {
            fprintf(stderr, "bench_burn: unknown option '%s' (or bad value '%s')\n", a, v);
            return 2;
        }
        if (rc)
            return 2;
    }
    if (ms_per_s < 0) {
        usage(stderr);
        return 2;
    }
    if (idle) {
        struct sched_param sp = {0};
        if (sched_setscheduler(0, SCHED_IDLE, &sp) != 0) {
            perror("bench_burn: SCHED_IDLE");
            return 1;
        }
    }
    size_t bytes = (size_t)touch_kib * 1024;
    volatile uint8_t *buf = NULL;
    if (bytes) {
        buf = malloc(bytes);
        if (!buf) {
            fputs("bench_burn: out of memory\n", stderr);
            return 1;
        }
        memset((void *)buf, 1, bytes);
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);

    const uint64_t period = (uint64_t)period_ms * 1000000u;
    const uint64_t burst = (uint64_t)ms_per_s * period / 1000u;
    uint64_t next = ns(CLOCK_MONOTONIC);
    size_t at = 0;
    while (!done) {
        uint64_t until = ns(CLOCK_THREAD_CPUTIME_ID) + burst;
        while (ns(CLOCK_THREAD_CPUTIME_ID) < until) {
            if (buf)
                for (int k = 0; k < 64; k++) {
                    buf[at] = (uint8_t)(buf[at] + 1);
                    at = (at + 64) % bytes;
                }
        }
        next += period;
        uint64_t now = ns(CLOCK_MONOTONIC);
        if (now > next + period)
            next = now; /* stopped, or starved: do not catch up */
        struct timespec ts = {(time_t)(next / 1000000000u), (long)(next % 1000000000u)};
        while (!done && clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
            ;
    }
    return 0;
}
