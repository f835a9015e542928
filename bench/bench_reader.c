/*
 * bench_reader.c -- the reader process the benchmarks fork+exec: a plain
 * clipbus consumer that reads every ring of one bus and counts.
 *
 * Waiting mode (default, what consumers do): cb_bus_poll(); when it
 * returns 0, cb_bus_wait(bus, 10 ms). --busy never waits (spins on
 * cb_bus_poll). Prints "ready" on stdout once it has attached a producer
 * ring, and one JSON line with its totals when it ends (SIGTERM/SIGINT,
 * or with --until-exit when the producer has exited and is drained).
 *
 * --verify checks the cb_count stream bench_throughput writes: counter
 * "seq" with values 0, 1, 2, ... (one record each). Delivered values must
 * rise strictly; every gap must be matched by records the cursor counted
 * lost; at the end delivered + lost = published (the ring's head).
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clipbus/reader.h"

static volatile sig_atomic_t stop_flag;

static void
on_signal(int sig)
{
    (void)sig;
    stop_flag = 1;
}

struct state {
    int verify;
    long long expect;        /* --expect: seq records the producer writes */
    uint64_t entries;
    uint64_t loss_events;    /* sum of CB_EV_LOSS counts */
    uint64_t seq_delivered;  /* "seq" count records delivered */
    uint64_t seq_gaps;       /* seq values skipped */
    uint64_t seq_errors;     /* out of order / not bit-exact */
    uint64_t gap_episodes;   /* separate gaps */
    int64_t first_gap_at;    /* seq value after the first gap, -1 */
    uint64_t max_gap;
    int64_t seq_last;        /* last seq value, -1 before the first */
    uint32_t seq_name;       /* name id of "seq", 0 until found */
    uint64_t other;          /* entries that are not "seq" counts */
    int exited;              /* a producer ended (exit or died) */
    uint64_t published;      /* sum of ring heads at that moment */
    uint64_t bad;            /* refused segments */
};

static void
check_seq(struct state *st, const struct cb_entry *e)
{
    int64_t v;

    if (st->seq_name == 0) {
        char name[64];
        cb_segment_name_copy(e->seg, e->head.name_id, name, sizeof name);
        if (strcmp(name, "seq") != 0) {
            st->other++;
            return;
        }
        st->seq_name = e->head.name_id;
    }
    if (e->head.name_id != st->seq_name) {
        st->other++;
        return;
    }
    v = (int64_t)e->head.value;
    st->seq_delivered++;
    if (v <= st->seq_last || e->head.ext != 0 || e->head.data_len != 0) {
        st->seq_errors++;
    } else if (v != st->seq_last + 1) {
        uint64_t gap = (uint64_t)(v - st->seq_last - 1);
        st->seq_gaps += gap;
        st->gap_episodes++;
        if (st->first_gap_at < 0)
            st->first_gap_at = v;
        if (gap > st->max_gap)
            st->max_gap = gap;
    }
    if (v > st->seq_last)
        st->seq_last = v;
}

static int
on_event(void *arg, const struct cb_event *ev)
{
    struct state *st = arg;

    switch (ev->type) {
    case CB_EV_ENTRY:
        st->entries++;
        if (st->verify) {
            if (ev->entry->head.kind == CB_KIND_COUNT)
                check_seq(st, ev->entry);
            else
                st->other++;
        }
        break;
    case CB_EV_LOSS:
        st->loss_events += ev->count;
        break;
    case CB_EV_PRODUCER_EXIT:
    case CB_EV_PRODUCER_DIED:
        st->exited = 1;
        for (uint32_t r = 0; r < cb_segment_rings(ev->seg); r++)
            st->published += cb_segment_head(ev->seg, r);
        break;
    case CB_EV_BAD_SEGMENT:
        st->bad++;
        fprintf(stderr, "bench_reader: %s\n", ev->why);
        break;
    default:
        break;
    }
    return 0;
}

/* Reading from the oldest record: ready once the backlog is read. */
static int
caught_up(const struct cb_bus *bus, const struct cb_bus_stats *bs)
{
    uint64_t heads = 0;
    struct cb_segment *seg;

    for (size_t i = 0; (seg = cb_bus_producer(bus, i)) != NULL; i++)
        for (uint32_t r = 0; r < cb_segment_rings(seg); r++)
            heads += cb_segment_head(seg, r);
    return bs->delivered + bs->lost >= heads;
}

static void
usage(FILE *f)
{
    fprintf(f,
            "usage: bench_reader --bus NAME [--busy] [--verify] "
            "[--expect N] [--until-exit] [--from-now] [--timeout S]\n"
            "A clipbus reader for the benchmarks (started by bench_publish "
            "and bench_throughput).\n"
            "  --bus NAME     the bus to read (required)\n"
            "  --busy         never wait: spin on cb_bus_poll (default: "
            "poll, then cb_bus_wait 10 ms)\n"
            "  --verify       check the 'seq' counter stream of "
            "bench_throughput\n"
            "  --expect N     with --verify: the producer writes N seq "
            "records\n"
            "  --until-exit   end when the producer has exited and is "
            "drained\n"
            "  --from-now     read only records published after attaching "
            "(default: oldest)\n"
            "  --timeout S    give up after S seconds (default 600)\n"
            "Prints 'ready' once a producer ring is attached, then one JSON "
            "line with its totals at the end.\n");
}

int
main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"bus", required_argument, NULL, 'b'},
        {"busy", no_argument, NULL, 'B'},
        {"verify", no_argument, NULL, 'v'},
        {"expect", required_argument, NULL, 'e'},
        {"until-exit", no_argument, NULL, 'u'},
        {"from-now", no_argument, NULL, 'n'},
        {"timeout", required_argument, NULL, 't'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *busname = NULL;
    int busy = 0, until_exit = 0, c, err, ok;
    double timeout_s = 600;
    struct state st = {.seq_last = -1, .expect = -1, .first_gap_at = -1};
    struct cb_bus_opts bo = {.program = "bench_reader", .grace_s = 60,
                             .from = CB_FROM_OLDEST, .no_gc = 1};
    struct cb_bus *bus;
    struct cb_bus_stats bs;
    struct timespec t0, t1;
    char *end;
    struct sigaction sa;

    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'b':
            busname = optarg;
            break;
        case 'B':
            busy = 1;
            break;
        case 'v':
            st.verify = 1;
            break;
        case 'e':
            st.expect = strtoll(optarg, &end, 10);
            if (*end != '\0' || st.expect < 0) {
                fprintf(stderr, "bench_reader: --expect '%s' is not a "
                                "count\n", optarg);
                return 2;
            }
            break;
        case 'u':
            until_exit = 1;
            break;
        case 'n':
            bo.from = CB_FROM_NOW;
            break;
        case 't':
            timeout_s = strtod(optarg, &end);
            if (*end != '\0' || !(timeout_s > 0)) {
                fprintf(stderr, "bench_reader: --timeout '%s' is not a "
                                "positive number of seconds\n", optarg);
                return 2;
            }
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (busname == NULL || optind != argc) {
        fprintf(stderr, "bench_reader: --bus NAME is required (and no other "
                        "arguments); see --help\n");
        return 2;
    }
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);

    err = cb_bus_open(busname, &bo, &bus);
    if (err != 0) {
        fprintf(stderr, "bench_reader: cannot open bus '%s': %s\n", busname,
                cb_strerror(err));
        return 1;
    }
    clock_gettime(CLOCK_MONOTONIC, &t0);
    /* Ready once a producer ring is attached (cursors exist). */
    for (;;) {
        cb_bus_poll(bus, on_event, &st, 0);
        cb_bus_stats(bus, &bs);
        if (bs.rings > 0 && (bo.from == CB_FROM_NOW || caught_up(bus, &bs)))
            break;
        if (stop_flag)
            break;
        cb_bus_scan(bus, 1);
        usleep(1000);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        if ((double)(t1.tv_sec - t0.tv_sec) > 30) {
            fprintf(stderr, "bench_reader: no producer ring on bus '%s' "
                            "after 30 s\n", busname);
            cb_bus_close(bus);
            return 1;
        }
    }
    printf("ready\n");
    fflush(stdout);

    while (!stop_flag) {
        long n = cb_bus_poll(bus, on_event, &st, 0);
        if (until_exit && st.exited)
            break;
        if (n == 0 && !busy)
            cb_bus_wait(bus, 10);
        if (n == 0) {
            clock_gettime(CLOCK_MONOTONIC, &t1);
            if ((double)(t1.tv_sec - t0.tv_sec) > timeout_s) {
                fprintf(stderr, "bench_reader: timeout after %.0f s\n",
                        timeout_s);
                break;
            }
        }
    }
    if (!st.exited) /* count what happened while stopped, if anything */
        cb_bus_poll(bus, on_event, &st, 0);
    cb_bus_stats(bus, &bs);
    ok = 1;
    if (st.verify) {
        uint64_t tail = 0;
        if (st.expect >= 0 && st.seq_last < st.expect - 1)
            tail = (uint64_t)(st.expect - 1 - st.seq_last);
        /* Gaps in the values are records the cursor skipped. */
        ok = st.seq_errors == 0 && st.bad == 0 &&
             st.seq_gaps + tail <= bs.lost && st.loss_events == bs.lost;
        if (st.expect >= 0)
            ok = ok && st.seq_delivered + st.seq_gaps + tail ==
                           (uint64_t)st.expect;
        if (st.exited)
            ok = ok && bs.delivered + bs.lost == st.published;
        if (st.exited && st.expect >= 0) {
            /* The ring holds the seq records plus the thread record(s):
             * what of those was not delivered was lost, the rest of the
             * loss must be exactly the seq values missing. */
            uint64_t others = st.published - (uint64_t)st.expect;
            uint64_t other_got = bs.delivered - st.seq_delivered;
            uint64_t other_lost = others >= other_got ? others - other_got : 0;
            ok = ok && st.published >= (uint64_t)st.expect &&
                 st.seq_gaps + tail + other_lost == bs.lost;
        }
    }
    printf("{\"reader\":%d,\"delivered\":%llu,\"lost\":%llu,\"entries\":%llu,"
           "\"loss_events\":%llu,\"published\":%llu,\"exited\":%s,"
           "\"seq_delivered\":%llu,\"seq_gaps\":%llu,\"seq_errors\":%llu,"
           "\"seq_last\":%lld,\"gap_episodes\":%llu,\"first_gap_at\":%lld,"
           "\"max_gap\":%llu,\"other\":%llu,\"ok\":%s}\n",
           (int)getpid(), (unsigned long long)bs.delivered,
           (unsigned long long)bs.lost, (unsigned long long)st.entries,
           (unsigned long long)st.loss_events,
           (unsigned long long)st.published, st.exited ? "true" : "false",
           (unsigned long long)st.seq_delivered,
           (unsigned long long)st.seq_gaps,
           (unsigned long long)st.seq_errors, (long long)st.seq_last,
           (unsigned long long)st.gap_episodes, (long long)st.first_gap_at,
           (unsigned long long)st.max_gap, (unsigned long long)st.other, ok ? "true" : "false");
    fflush(stdout);
    cb_bus_close(bus);
    return ok ? 0 : 3;
}
