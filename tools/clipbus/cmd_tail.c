/*
 * cmd_tail.c -- `clipbus tail`: a consumer that prints every event of a
 * bus, as readable lines or as JSON lines (docs/tail-jsonl.md).
 *
 * It is an ordinary reader (cb_bus_open, program "clipbus-tail"), so it
 * shows up in `clipbus status` with its lag and losses, and like every
 * consumer it removes the segment of an ended producer once it has read
 * it all and the grace period (60 s) has passed. (It cannot simply leave
 * them: with no_gc the bus forgets a segment after the grace period and
 * then attaches it again as a new producer, printing it all twice.)
 *
 * Loop: poll; when nothing came, either wait (cb_bus_wait_fd sleeps in
 * short steps, or until a new segment appears when no producer is alive:
 * no spinning) or, with --no-follow, count idle passes and stop
 * after a few in a row, i.e. once every producer present is drained.
 * SIGINT/SIGTERM end the loop at once, whatever the wait: the handler
 * also makes an eventfd readable that the wait watches (waitset.h), so an
 * idle tail can sleep a second at a time; cb_bus_close() then removes the
 * status segment. A failed write to stdout (EPIPE from `| head`) ends it
 * quietly.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "sched_class.h"
#include "tail.h"
#include "waitset.h"

#define CMD         "tail"
#define IDLE_PASSES 3   /* --no-follow: empty polls in a row to stop */
#define WAIT_MS     1000 /* follow, no producer alive: longest sleep */

struct tail_opts {
    const char *bus;
    int jsonl;
    int from;
    int follow;
    int utc;
    uint64_t count; /* 0: no limit */
    unsigned kinds; /* mask over enum tail_type */
    const char *grep;
    int sched; /* CBC_SCHED_*, or CBC_SCHED_UNSET */
};

struct tail_ctx {
    const struct tail_opts *o;
    struct sbuf line;
    const struct cb_segment **seen; /* producers with a producer_new line */
    size_t nseen, capseen;
    uint64_t printed;
    int stop; /* count reached, or stdout failed */
};

static volatile sig_atomic_t got_signal;
static int g_stop_fd = -1; /* made readable by on_signal */

/* clang-format off */
static void
usage(FILE *f)
{
    fprintf(f,
"Usage: clipbus tail [--bus NAME] [--jsonl] [--from oldest|now]\n"
"                    [-f | --follow | --no-follow] [--count N]\n"
"                    [--kind LIST] [--grep TEXT] [--utc]\n"
"                    [--sched idle|batch|normal]\n"
"Print every event of a bus as one line: records of every producer\n"
"(calls, sessions, progress, metrics, logs, threads), losses, producers\n"
"appearing, exiting or dying, and segments that cannot be read.\n"
"\n"
"  --bus NAME        the bus (default: $CLIPBUS_BUS, else \"default\")\n"
"  --jsonl           one JSON object per line (fields: docs/tail-jsonl.md)\n"
"  --from oldest     start with the oldest record still in each ring\n"
"                    (default)\n"
"  --from now        skip what running producers published before now\n"
"                    (producers that start later are read from their start)\n"
"  -f, --follow      keep waiting for new events until SIGINT/SIGTERM\n"
"                    (default)\n"
"  --no-follow       stop once every producer present is drained\n"
"  --count N         stop after printing N events\n"
"  --kind LIST       print only these types, comma-separated: call, log,\n"
"                    thread, session (session_begin, session_end),\n"
"                    progress, metric (count, gauge, observe), loss,\n"
"                    producer (producer_new, producer_exit, producer_died),\n"
"                    bad (bad_segment)\n"
"  --grep TEXT       print only lines containing TEXT (matched against the\n"
"                    printed line, JSON or text)\n"
"  --utc             times in UTC (text output; JSON is always UTC)\n"
"  --sched CLASS     CPU scheduling class: idle, batch or normal (default:\n"
"                    $CLIPBUS_SCHED, else normal when stdout is a\n"
"                    terminal, idle otherwise: docs/consumers.md)\n"
"  -h, --help        this text\n"
"\n"
"Line format: TIME PID rRING/TID [sSESSION] TYPE NAME DETAILS, e.g.\n"
"  2024-05-01T12:00:00.123+02:00 4242 r0/4242 s1 call     fetch_page 1.52 ms ok page=3\n"
"\n"
"Exit status: 0 ok (also when stdout was closed by the reader of a pipe);\n"
"1 the bus could not be opened; 2 usage error.\n");
}
/* clang-format on */

static void
on_signal(int sig)
{
    got_signal = sig;
    cbc_waitset_kick(g_stop_fd);
}

static int print_event(struct tail_ctx *c, const struct cb_event *ev);

/* Remembers seg as announced; 1 if it was new. A segment pointer is
 * valid as a key while the bus keeps the producer attached; tail keeps
 * them attached until their grace period ends, and then the producer is
 * forgotten with its segment (cb_bus_poll reports its exit first). */
static int
seen_add(struct tail_ctx *c, const struct cb_segment *seg)
{
    for (size_t i = 0; i < c->nseen; i++)
        if (c->seen[i] == seg)
            return 0;
    if (c->nseen == c->capseen) {
        size_t cap = c->capseen ? 2 * c->capseen : 16;
        const struct cb_segment **nv = realloc(c->seen, cap * sizeof *nv);
        if (nv == NULL)
            return 1; /* announce again later rather than never */
        c->seen = nv;
        c->capseen = cap;
    }
    c->seen[c->nseen++] = seg;
    return 1;
}

static void
seen_drop(struct tail_ctx *c, const struct cb_segment *seg)
{
    for (size_t i = 0; i < c->nseen; i++)
        if (c->seen[i] == seg) {
            c->seen[i] = c->seen[--c->nseen];
            return;
        }
}

/* The bus callback. cb_bus_poll() reports CB_EV_PRODUCER_NEW only for
 * producers its own scan found (not those found by cb_bus_open() or by
 * the scan inside cb_bus_wait()), so tail announces every producer itself
 * before its first event and drops the library's duplicate. */
static int
on_event(void *arg, const struct cb_event *ev)
{
    struct tail_ctx *c = arg;
    int rc = 0;

    if (ev->seg != NULL && seen_add(c, ev->seg)) {
        struct cb_event nev = {.type = CB_EV_PRODUCER_NEW, .seg = ev->seg};
        rc = print_event(c, &nev);
    } else if (ev->type == CB_EV_PRODUCER_NEW) {
        return 0;
    }
    if (rc == 0 && ev->type != CB_EV_PRODUCER_NEW)
        rc = print_event(c, ev);
    if (ev->type == CB_EV_PRODUCER_EXIT || ev->type == CB_EV_PRODUCER_DIED)
        seen_drop(c, ev->seg);
    return rc;
}

static int
print_event(struct tail_ctx *c, const struct cb_event *ev)
{
    const struct tail_opts *o = c->o;
    enum tail_type t = tail_type_of(ev);
    uint64_t now;

    if (c->stop)
        return 1;
    if (!(o->kinds & (1u << t)))
        return 0;
    now = cli_real_ns();
    sb_reset(&c->line);
    if (o->jsonl) {
        tail_jsonl(&c->line, ev, now);
    } else {
        tail_line(&c->line, ev, now, o->utc);
    }
    if (c->line.len == 0)
        return 0;
    if (o->grep != NULL &&
        memmem(c->line.p, c->line.len, o->grep, strlen(o->grep)) == NULL)
        return 0;
    if (cli_out_line(c->line.p, c->line.len) != 0) {
        c->stop = 1;
        return 1;
    }
    c->printed++;
    if (o->count != 0 && c->printed >= o->count) {
        c->stop = 1;
        return 1;
    }
    return 0;
}

enum {
    O_JSONL = 256,
    O_FROM,
    O_NOFOLLOW,
    O_COUNT,
    O_KIND,
    O_GREP,
    O_UTC,
    O_BUS,
    O_SCHED
};

/* Applies option c with argument arg. Returns 0, -1 after --help, or
 * CLI_USAGE after printing the problem. */
static int
parse_one(int c, const char *arg, const char *opt, struct tail_opts *o)
{
    char bad[64];

    switch (c) {
    case O_BUS:
        o->bus = arg;
        return 0;
    case O_JSONL:
        o->jsonl = 1;
        return 0;
    case O_FROM:
        if (strcmp(arg, "oldest") == 0)
            o->from = CB_FROM_OLDEST;
        else if (strcmp(arg, "now") == 0)
            o->from = CB_FROM_NOW;
        else
            return cli_usage_error(CMD, "--from '%s': expected oldest or now",
                                   arg);
        return 0;
    case 'f':
    case O_NOFOLLOW:
        o->follow = c == 'f';
        return 0;
    case O_COUNT:
        if (cli_parse_u64(arg, 1, UINT64_MAX, &o->count) != 0)
            return cli_usage_error(
                CMD, "--count '%s': expected a whole number >= 1", arg);
        return 0;
    case O_KIND:
        o->kinds = tail_kind_mask(arg, bad, sizeof bad);
        if (o->kinds == 0)
            return cli_usage_error(CMD, "--kind: unknown type '%s'", bad);
        return 0;
    case O_GREP:
        o->grep = arg;
        return 0;
    case O_UTC:
        o->utc = 1;
        return 0;
    case O_SCHED:
        if ((o->sched = cbc_sched_parse(arg)) < 0)
            return cli_usage_error(
                CMD, "--sched '%s': expected idle, batch or normal", arg);
        return 0;
    case 'h':
        usage(stdout);
        return -1;
    case ':':
        return cli_usage_error(CMD, "%s needs a value", opt);
    default:
        return cli_usage_error(CMD, "unknown option '%s'", opt);
    }
}

static int
parse(int argc, char **argv, struct tail_opts *o)
{
    static const struct option longs[] = {
        {"bus", required_argument, NULL, O_BUS},
        {"jsonl", no_argument, NULL, O_JSONL},
        {"from", required_argument, NULL, O_FROM},
        {"follow", no_argument, NULL, 'f'},
        {"no-follow", no_argument, NULL, O_NOFOLLOW},
        {"count", required_argument, NULL, O_COUNT},
        {"kind", required_argument, NULL, O_KIND},
        {"grep", required_argument, NULL, O_GREP},
        {"utc", no_argument, NULL, O_UTC},
        {"sched", required_argument, NULL, O_SCHED},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c, rc;

    opterr = 0;
    optind = 1;
    /* getopt_long keeps global state: fine in this single-threaded tool. */
    while ((c = getopt_long(argc, argv, ":hf", longs, NULL)) != /* NOLINT */
           -1)
        if ((rc = parse_one(c, optarg, argv[optind - 1], o)) != 0)
            return rc;
    if (optind < argc)
        return cli_usage_error(CMD, "unexpected argument '%s'", argv[optind]);
    return 0;
}

static void
signals_install(void)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal; /* no SA_RESTART: sleeps end early */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

/* cb_bus_poll() reports CB_EV_PRODUCER_NEW only for producers found after
 * cb_bus_open(); those attached by the open itself get theirs here, so
 * every producer has a producer_new line before its records. */
static void
announce(struct cb_bus *bus, struct tail_ctx *c)
{
    struct cb_segment *seg;

    for (size_t i = 0; (seg = cb_bus_producer(bus, i)) != NULL; i++) {
        struct cb_event ev = {.type = CB_EV_PRODUCER_NEW, .seg = seg};
        if (on_event(c, &ev) != 0)
            break;
    }
}

/* Polls until done; `watch` is the shm directory's watch or -1. Returns
 * CLI_OK. */
static int
run(struct cb_bus *bus, struct tail_ctx *c, int watch)
{
    const struct tail_opts *o = c->o;
    int idle = 0;
    int wait_fd = cbc_waitset_open(watch, g_stop_fd);

    while (!got_signal && !c->stop) {
        if (cb_shm_watch_drain(watch))
            cb_bus_scan(bus, 1);
        long n = cb_bus_poll(bus, on_event, c, 0);
        if (c->stop || cli_out_flush() != 0)
            break;
        if (n > 0) {
            idle = 0;
            continue;
        }
        if (!o->follow) {
            if (++idle >= IDLE_PASSES)
                break;
            /* Gives a writer caught mid-entry time to finish it. */
            cb_bus_wait(bus, 2);
            continue;
        }
        cb_bus_wait_fd(bus, WAIT_MS, wait_fd);
    }
    if (wait_fd >= 0 && wait_fd != watch)
        close(wait_fd);
    return CLI_OK;
}

int
cmd_tail(int argc, char **argv)
{
    struct tail_opts o = {.from = CB_FROM_OLDEST,
                          .follow = 1,
                          .kinds = (1u << TT_COUNT_) - 1,
                          .sched = CBC_SCHED_UNSET};
    struct tail_ctx c = {.o = &o};
    struct cb_bus_opts bo = {0};
    struct cb_bus *bus;
    const char *name;
    int rc = parse(argc, argv, &o), watch;

    if (rc != 0)
        return rc < 0 ? CLI_OK : rc;
    if ((name = cli_bus(CMD, o.bus)) == NULL)
        return CLI_USAGE;
    /* Lines on a terminal are read by a person as they come: a normal
     * task; into a pipe or a file, background work (sched_class.h). */
    o.sched = cbc_sched_resolve("clipbus tail", o.sched,
                                isatty(STDOUT_FILENO) ? CBC_SCHED_NORMAL
                                                      : CBC_SCHED_IDLE);
    if (o.sched < 0)
        return CLI_USAGE;
    (void)cbc_sched_apply("clipbus tail", o.sched);
    bo.program = "clipbus-tail";
    bo.from = o.from;
    g_stop_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC); /* -1: naps end it */
    signals_install();
    /* Following: new producers are attached as soon as their segment
     * appears, and an idle tail sleeps until then (cb_bus_wait_fd). The
     * watch comes first, so that nothing created after the bus's first
     * scan goes unnoticed, and the bus need not list the directory often
     * itself. */
    watch = o.follow ? cb_shm_watch_open() : -1;
    bo.dir_watched = watch >= 0;
    rc = cb_bus_open(name, &bo, &bus);
    if (rc != 0) {
        fprintf(stderr, "clipbus tail: cannot open bus \"%s\": %s\n", name,
                cb_strerror(rc));
        if (watch >= 0)
            close(watch);
        return CLI_PROBLEM;
    }
    cb_bus_set_sink_state(bus, o.jsonl ? "stdout jsonl" : "stdout text");
    announce(bus, &c);
    rc = run(bus, &c, watch);
    cb_bus_close(bus);
    if (watch >= 0)
        close(watch);
    if (g_stop_fd >= 0) {
        int fd = g_stop_fd;
        g_stop_fd = -1; /* a late signal writes nowhere */
        close(fd);
    }
    sb_free(&c.line);
    free(c.seen);
    return rc;
}
