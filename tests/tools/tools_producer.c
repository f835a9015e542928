/*
 * tools_producer.c -- a small instrumented program for the tests of the
 * clipbus tool: it emits a known, deterministic set of records so that the
 * scripts can check `clipbus tail --jsonl` with exact counts, and it can
 * stay in a monitored call, stay alive, or die, for `status` and `gc`.
 *
 * What it emits (N = --calls, default 10), on the main thread:
 *   session "tools_session", total weight N
 *   N x step_item (progress step, weight 1) -> process_item(index, label,
 *       ratio): a monitored call; every item with index % 3 == 2 fails
 *       with code -5 and "item <i> failed"; count "items" +1 each, count
 *       "errors" +1 with labels "reason=io" per failure
 *   gauge "queue_depth" 3.5, observe "latency_ms" 12.25
 *   weird_text(text): a string with invalid UTF-8, quotes, a newline,
 *       a tab and an ESC sequence
 *   long_param(long): a 150-byte string (continuation records)
 *   perf_call(): CB_TRACK_PERFORMANCE
 *   log info "processed <N> items", log warn with invalid UTF-8
 *   session end OK
 * --threads adds a thread named "worker" with 2 calls of worker_call(n).
 * --burst M then publishes M more count records "burst" (fills rings).
 * Then: --block enters blocking_call() until SIGUSR1; --hold waits for
 * SIGTERM (SIGUSR2 meanwhile publishes another burst); --die ends with
 * SIGKILL instead of a normal exit. --ready PATH is created once the
 * program waits (blocked or holding).
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <clipbus/clipbus.h>

static volatile sig_atomic_t got_usr1, got_usr2, got_term;

static void
on_signal(int sig)
{
    if (sig == SIGUSR1)
        got_usr1 = 1;
    else if (sig == SIGUSR2)
        got_usr2 = 1;
    else
        got_term = 1;
}

/* Sleeps 5 ms: waiting loops poll their flag (pause() could miss a
 * signal that arrives just before it). */
static void
nap(void)
{
    struct timespec ts = {0, 5000000};

    nanosleep(&ts, NULL);
}

static int
process_item(int i, const char *label, double ratio)
{
    CB_MONITOR_EXECUTION(CB_INT("index", i), CB_STR("label", label),
                         CB_DBL("ratio", ratio));
    cb_count("items", 1);
    if (i % 3 == 2) {
        cb_count_l("errors", 1, "reason=io");
        return cb_fail(-5, "item %d failed", i);
    }
    return 0;
}

static void
step_item(int i)
{
    CB_PROGRESS_STEP(1);
    char label[32];

    snprintf(label, sizeof label, "item-%d", i);
    process_item(i, label, i / 2.0);
}

static void
weird_text(const char *text)
{
    CB_MONITOR_EXECUTION(CB_STR("text", text));
}

static void
long_param(const char *s)
{
    CB_MONITOR_EXECUTION(CB_STR("long", s));
}

static void
perf_call(void)
{
    CB_TRACK_PERFORMANCE();
    volatile unsigned x = 0;

    for (unsigned i = 0; i < 100000; i++)
        x += i;
}

static void
worker_call(int n)
{
    CB_MONITOR_EXECUTION(CB_INT("n", n));
}

static void *
worker(void *arg)
{
    (void)arg;
    /* Named before its first record: the THREAD record carries the name. */
    pthread_setname_np(pthread_self(), "worker");
    for (int i = 0; i < 2; i++)
        worker_call(i);
    return NULL;
}

static void
blocking_call(const char *ready)
{
    CB_MONITOR_EXECUTION(CB_STR("why", "test"));
    FILE *f = ready ? fopen(ready, "w") : NULL;

    if (f != NULL)
        fclose(f);
    while (!got_usr1 && !got_term)
        nap();
}

static void
burst(long n)
{
    for (long i = 0; i < n; i++)
        cb_count("burst", 1);
}

static void
emit_all(int calls, int threads)
{
    char longs[151];
    pthread_t t;

    cb_session_begin("tools_session", calls);
    for (int i = 0; i < calls; i++)
        step_item(i);
    cb_gauge("queue_depth", 3.5);
    cb_observe("latency_ms", 12.25);
    weird_text("bad\xff\xfe \"q\" nl\n tab\t esc\x1b[31m end");
    memset(longs, 'x', 150);
    longs[0] = 'L';
    longs[149] = 'E';
    longs[150] = '\0';
    long_param(longs);
    perf_call();
    cb_log(CB_LOG_INFO, "processed %d items", calls);
    cb_log(CB_LOG_WARN, "odd bytes \xc3\x28 here");
    cb_session_end(CB_SESSION_OK);
    if (threads) {
        if (pthread_create(&t, NULL, worker, NULL) != 0) {
            fprintf(stderr, "tools_producer: pthread_create failed\n");
            exit(1);
        }
        pthread_join(t, NULL);
    }
}

static void
usage(void)
{
    fprintf(stderr, "usage: tools_producer [--calls N] [--threads] "
                    "[--burst M] [--block | --hold] [--die] "
                    "[--ready PATH]\n");
    exit(2);
}

int
main(int argc, char **argv)
{
    int calls = 10, threads = 0, block = 0, hold = 0, die = 0;
    long nburst = 0;
    const char *ready = NULL;
    struct sigaction sa;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--calls") == 0 && i + 1 < argc)
            calls = atoi(argv[++i]);
        else if (strcmp(argv[i], "--burst") == 0 && i + 1 < argc)
            nburst = atol(argv[++i]);
        else if (strcmp(argv[i], "--ready") == 0 && i + 1 < argc)
            ready = argv[++i];
        else if (strcmp(argv[i], "--threads") == 0)
            threads = 1;
        else if (strcmp(argv[i], "--block") == 0)
            block = 1;
        else if (strcmp(argv[i], "--hold") == 0)
            hold = 1;
        else if (strcmp(argv[i], "--die") == 0)
            die = 1;
        else
            usage();
    }
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGUSR1, &sa, NULL);
    sigaction(SIGUSR2, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    if (cb_open(NULL) != 0) {
        fprintf(stderr, "tools_producer: cb_open failed: %s\n",
                cb_strerror(cb_state()));
        return 1;
    }
    emit_all(calls, threads);
    burst(nburst);
    if (block)
        blocking_call(ready);
    if (hold) {
        FILE *f = ready ? fopen(ready, "w") : NULL;
        if (f != NULL)
            fclose(f);
        while (!got_term) {
            nap();
            if (got_usr2) {
                got_usr2 = 0;
                burst(nburst ? nburst : 1000);
            }
        }
    }
    if (die)
        raise(SIGKILL);
    return 0;
}
