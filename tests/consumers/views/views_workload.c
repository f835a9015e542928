/*
 * views_workload.c -- a synthetic, known workload for the tests and the
 * benchmark of clipbus-progress and clipbus-top: a real producer process
 * using clipbus.h, whose every number is set on the command line, so a
 * test can compare what the views show with the truth.
 *
 *   --session NAME      begin a session (weight --weight, default: steps)
 *   --steps N           N top-level steps of equal weight (default 10)
 *   --step-ms MS        each step lasts MS ms (default 100), made of
 *                       --sub K cb_progress() advances (default 4)
 *   --end ok|failed|partial|none   how the session ends (default ok)
 *   --die-at N          SIGKILL itself when step N begins (aborted session)
 *   --hang-at N         step N calls hang() and never returns (a call in
 *                       flight running long: stall) until killed
 *   --functions F       F distinct monitored functions fn000..fnF-1 (max
 *                       200), called round-robin by --threads threads
 *   --rate R            calls per second per function (default 20)
 *   --fail-every K      fn001's every K-th call fails (error rate 1/K)
 *   --slow-us U         fn000 takes U microseconds (latency check)
 *   --seconds S         how long the functions run (default: until the
 *                       session ends, or 2 s without a session)
 *   --log-every N       a WARN log line every N steps
 *   --bus NAME          the bus (else CLIPBUS_BUS)
 * Prints "ready <pid>" on stdout once its segment exists.
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <clipbus/clipbus.h>

static struct {
    const char *session, *bus;
    double weight;
    int steps, step_ms, sub, die_at, hang_at, functions, threads;
    int fail_every, slow_us, log_every, end;
    double rate, seconds;
} o = {.weight = 0, .steps = 10, .step_ms = 100, .sub = 4, .die_at = -1,
       .hang_at = -1, .threads = 1, .rate = 20, .seconds = -1};

static volatile int stop_functions;

static void
sleep_us(long us)
{
    struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static double
now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- 200 monitored functions -------------------------------------------- */
static unsigned long fail_count;

#define FN(n)                                                                  \
    static int fn##n(int i)                                                    \
    {                                                                          \
        CB_MONITOR_EXECUTION(CB_INT("i", i));                                  \
        return fn_body(1##n - 1000, i);                                                \
    }

static int
fn_body(int n, int i)
{
    if (n == 0 && o.slow_us > 0)
        sleep_us(o.slow_us);
    if (n == 1 && o.fail_every > 0 && i % o.fail_every == 0) {
        __atomic_fetch_add(&fail_count, 1, __ATOMIC_RELAXED);
        return cb_fail(-EIO, "synthetic failure %d of fn001", i);
    }
    return 0;
}

#define FN10(p)                                                                \
    FN(p##0) FN(p##1) FN(p##2) FN(p##3) FN(p##4)                               \
    FN(p##5) FN(p##6) FN(p##7) FN(p##8) FN(p##9)
FN10(00) FN10(01) FN10(02) FN10(03) FN10(04) FN10(05) FN10(06) FN10(07)
FN10(08) FN10(09) FN10(10) FN10(11) FN10(12) FN10(13) FN10(14) FN10(15)
FN10(16) FN10(17) FN10(18) FN10(19)

#define REF(n) fn##n,
#define REF10(p)                                                               \
    REF(p##0) REF(p##1) REF(p##2) REF(p##3) REF(p##4)                          \
    REF(p##5) REF(p##6) REF(p##7) REF(p##8) REF(p##9)
static int (*const fns[200])(int) = {
    REF10(00) REF10(01) REF10(02) REF10(03) REF10(04) REF10(05) REF10(06)
    REF10(07) REF10(08) REF10(09) REF10(10) REF10(11) REF10(12) REF10(13)
    REF10(14) REF10(15) REF10(16) REF10(17) REF10(18) REF10(19)};

/* Each thread takes every threads-th function and paces all its calls so
 * that each function is called `rate` times per second. */
static void *
caller(void *arg)
{
    int t = (int)(long)arg, round = 0;
    double t0 = now_s();
    int mine = 0;

    for (int f = t; f < o.functions; f += o.threads)
        mine++;
    while (!stop_functions && mine > 0) {
        for (int f = t; f < o.functions; f += o.threads)
            fns[f](round);
        round++;
        double due = t0 + round / o.rate, now = now_s();
        if (due > now)
            sleep_us((long)((due - now) * 1e6));
        if (o.seconds >= 0 && now_s() - t0 >= o.seconds)
            break;
    }
    return NULL;
}

/* ---- the session ---------------------------------------------------------- */
static void
hang(void)
{
    CB_MONITOR_EXECUTION(CB_STR("why", "test hang"));
    for (;;)
        pause();
}

static void
step(int k)
{
    CB_PROGRESS_STEP(1);
    cb_progress_total(o.sub);
    if (k == o.die_at)
        kill(getpid(), SIGKILL);
    if (k == o.hang_at)
        hang();
    for (int s = 0; s < o.sub; s++) {
        sleep_us((long)o.step_ms * 1000 / o.sub);
        cb_progress(1);
    }
    if (o.log_every > 0 && k % o.log_every == 0)
        cb_log(CB_LOG_WARN, "step %d of %d done", k + 1, o.steps);
}

static int
run_session(void)
{
    /* Each top-level step is worth weight/steps session units: the step
     * macro takes its weight in units of the session total. */
    cb_session_begin(o.session, o.weight);
    for (int k = 0; k < o.steps; k++) {
        /* CB_PROGRESS_STEP(1) inside step() is worth 1 unit; scale the
         * session so that the steps fill it exactly. */
        step(k);
    }
    if (o.end >= 0)
        cb_session_end(o.end);
    return 0;
}

static int
parse(int argc, char **argv)
{
    static const struct option lo[] = {
        {"session", 1, NULL, 'S'}, {"weight", 1, NULL, 'W'},
        {"steps", 1, NULL, 'n'},   {"step-ms", 1, NULL, 'm'},
        {"sub", 1, NULL, 'k'},     {"end", 1, NULL, 'e'},
        {"die-at", 1, NULL, 'd'},  {"hang-at", 1, NULL, 'H'},
        {"functions", 1, NULL, 'f'}, {"threads", 1, NULL, 't'},
        {"rate", 1, NULL, 'r'},    {"fail-every", 1, NULL, 'x'},
        {"slow-us", 1, NULL, 'u'}, {"seconds", 1, NULL, 's'},
        {"log-every", 1, NULL, 'l'}, {"bus", 1, NULL, 'b'},
        {NULL, 0, NULL, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        switch (c) {
        case 'S': o.session = optarg; break;
        case 'W': o.weight = atof(optarg); break;
        case 'n': o.steps = atoi(optarg); break;
        case 'm': o.step_ms = atoi(optarg); break;
        case 'k': o.sub = atoi(optarg) > 0 ? atoi(optarg) : 1; break;
        case 'e':
            o.end = !strcmp(optarg, "ok")        ? CB_SESSION_OK
                    : !strcmp(optarg, "failed")  ? CB_SESSION_FAILED
                    : !strcmp(optarg, "partial") ? CB_SESSION_PARTIAL
                                                 : -1;
            break;
        case 'd': o.die_at = atoi(optarg); break;
        case 'H': o.hang_at = atoi(optarg); break;
        case 'f': o.functions = atoi(optarg) > 200 ? 200 : atoi(optarg); break;
        case 't': o.threads = atoi(optarg) > 0 ? atoi(optarg) : 1; break;
        case 'r': o.rate = atof(optarg) > 0 ? atof(optarg) : 1; break;
        case 'x': o.fail_every = atoi(optarg); break;
        case 'u': o.slow_us = atoi(optarg); break;
        case 's': o.seconds = atof(optarg); break;
        case 'l': o.log_every = atoi(optarg); break;
        case 'b': o.bus = optarg; break;
        default:
            fprintf(stderr, "views_workload: bad option; see the source\n");
            return -1;
        }
    }
    return 0;
}

int
main(int argc, char **argv)
{
    pthread_t th[64];
    int nth;

    if (parse(argc, argv) < 0)
        return 2;
    if (cb_open(o.bus) != 0) {
        fprintf(stderr, "views_workload: cannot open the bus\n");
        return 1;
    }
    printf("ready %ld\n", (long)getpid());
    fflush(stdout);
    if (o.weight <= 0)
        o.weight = o.steps;
    if (o.session == NULL && o.seconds < 0)
        o.seconds = 2;
    nth = o.functions > 0 ? (o.threads > 64 ? 64 : o.threads) : 0;
    o.threads = nth ? nth : 1;
    for (int t = 0; t < nth; t++)
        pthread_create(&th[t], NULL, caller, (void *)(long)t);
    if (o.session != NULL) {
        /* A session's top-level steps are worth 1 unit each here; the
         * session's total is `weight` = steps unless given otherwise. */
        run_session();
        if (o.seconds < 0)
            stop_functions = 1;
    }
    for (int t = 0; t < nth; t++)
        pthread_join(th[t], NULL);
    printf("done failures=%lu\n", fail_count);
    return 0;
}
