/*
 * tests/consumers/rrd/rrd_load.c -- a real producer (clipbus.h, the
 * analyzer's API) that calls K distinct monitored functions, flat out or
 * paced, and reports its own throughput: for the kill-under-load stress
 * script and the clipbus-rrd benchmark.
 *
 * Usage: rrd_load [--seconds S] [--functions K] [--rate CALLS_PER_S]
 * Prints one JSON line at the end:
 *   {"calls": N, "seconds": S, "calls_per_s": R, "median_1s": M,
 *    "cpu_s": C, "calls_per_cpu_s": P}
 * where median_1s is the median of the per-second call counts (robust
 * against a single stalled second on a shared machine) and
 * calls_per_cpu_s the calls per second of the producer's own CPU time:
 * what a consumer could slow down by making the producer WAIT (it never
 * should), as opposed to competing with it for a core. --rate 0 (the
 * default) runs flat out. The bus is $CLIPBUS_BUS.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <clipbus/clipbus.h>

#define FN(n)                                                                  \
    static __attribute__((noinline)) void fn_##n(void)                        \
    {                                                                          \
        CB_MONITOR_EXECUTION();                                                \
    }
#define FN10(d) FN(d##0) FN(d##1) FN(d##2) FN(d##3) FN(d##4) FN(d##5)         \
    FN(d##6) FN(d##7) FN(d##8) FN(d##9)
#define FN100(c) FN10(c##0) FN10(c##1) FN10(c##2) FN10(c##3) FN10(c##4)       \
    FN10(c##5) FN10(c##6) FN10(c##7) FN10(c##8) FN10(c##9)
FN100(1)
FN100(2)

#define P(n) fn_##n,
#define P10(d) P(d##0) P(d##1) P(d##2) P(d##3) P(d##4) P(d##5) P(d##6)        \
    P(d##7) P(d##8) P(d##9)
#define P100(c) P10(c##0) P10(c##1) P10(c##2) P10(c##3) P10(c##4) P10(c##5)  \
    P10(c##6) P10(c##7) P10(c##8) P10(c##9)
static void (*const fns[])(void) = {P100(1) P100(2)};
#define NFNS (sizeof fns / sizeof fns[0])

static double
now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int
cmp_u64(const void *a, const void *b)
{
    unsigned long long x = *(const unsigned long long *)a;
    unsigned long long y = *(const unsigned long long *)b;
    return x < y ? -1 : x > y;
}

int
main(int argc, char **argv)
{
    double seconds = 3, rate = 0;
    size_t k = 1;
    unsigned long long per_s[3600] = {0}, calls = 0;

    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--seconds") == 0)
            seconds = atof(argv[i + 1]);
        else if (strcmp(argv[i], "--functions") == 0)
            k = (size_t)atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--rate") == 0)
            rate = atof(argv[i + 1]);
        else {
            fprintf(stderr, "usage: rrd_load [--seconds S] [--functions K] "
                    "[--rate CALLS_PER_S]\n");
            return 2;
        }
    }
    if (k < 1 || k > NFNS || seconds <= 0 || seconds > 3600) {
        fprintf(stderr, "rrd_load: --functions 1..%zu, --seconds 0..3600\n",
                NFNS);
        return 2;
    }
    if (cb_open(NULL) != 0)
        return 1;
    double t0 = now_s(), t = t0;
    while (t - t0 < seconds) {
        for (int b = 0; b < 256; b++)
            fns[(calls + (unsigned long long)b) % k]();
        calls += 256;
        t = now_s();
        if ((size_t)(t - t0) < 3600)
            per_s[(size_t)(t - t0)] += 256;
        if (rate > 0) {
            double ahead = (double)calls / rate - (t - t0);
            if (ahead > 0) {
                struct timespec ts = {(time_t)ahead,
                                      (long)((ahead - (double)(time_t)ahead) *
                                             1e9)};
                nanosleep(&ts, NULL);
                t = now_s();
            }
        }
    }
    size_t whole = (size_t)seconds;
    if (whole == 0)
        whole = 1;
    qsort(per_s, whole, sizeof per_s[0], cmp_u64);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
                 (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
    printf("{\"calls\": %llu, \"seconds\": %.3f, \"calls_per_s\": %.0f, "
           "\"median_1s\": %llu, \"cpu_s\": %.3f, \"calls_per_cpu_s\": "
           "%.0f}\n",
           calls, t - t0, (double)calls / (t - t0), per_s[whole / 2], cpu,
           cpu > 0 ? (double)calls / cpu : 0.0);
    return 0;
}
