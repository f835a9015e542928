/*
 * logprod.c -- a synthetic producer for the clipbus-log tests: a known,
 * seeded stream of monitored calls (parameters with hostile strings:
 * quotes, commas, newlines, invalid UTF-8), failures, log lines, one
 * session with progress, and metrics. The tests recompute what it sent
 * from the same seed (nasty.h).
 *
 * Usage: logprod BUS CALLS SEED [PAUSE_EVERY PAUSE_US]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <clipbus/clipbus.h>

#include "nasty.h"

static int
work(uint64_t seed, int i)
{
    char s[NASTY_MAX];
    nasty(seed, (uint64_t)i, s, sizeof s);
    CB_MONITOR_EXECUTION(CB_INT("i", i), CB_DBL("x", i * 0.5),
                         CB_STR("s", s));
    if (nasty_fails(seed, (uint64_t)i))
        return cb_fail(-(i % 100) - 1, "failed %d: %s", i, s);
    if (i % 10 == 0)
        cb_log(CB_LOG_INFO + 10 * (i % 3), "line %d: %s", i, s);
    return 0;
}

int
main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: logprod BUS CALLS SEED [PAUSE_EVERY "
                        "PAUSE_US]\n");
        return 2;
    }
    int n = atoi(argv[2]);
    uint64_t seed = strtoull(argv[3], NULL, 0);
    int every = argc > 4 ? atoi(argv[4]) : 0;
    int pause_us = argc > 5 ? atoi(argv[5]) : 0;

    if (cb_open(argv[1]) != 0)
        return 3;
    cb_session_begin("synthetic", n);
    for (int i = 0; i < n; i++) {
        work(seed, i);
        cb_progress(1);
        cb_count("items", 1);
        if (i % 100 == 0)
            cb_gauge_l("depth", i, "queue=main,x=\"y\"");
        if (every && i % every == every - 1)
            usleep((useconds_t)pause_us);
    }
    cb_session_end(CB_SESSION_OK);
    return 0;
}
