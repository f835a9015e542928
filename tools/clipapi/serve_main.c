/*
 * serve_main.c: clipapi-serve, a Helix-shaped clip API on 127.0.0.1 that
 * serves a clipapi-gen corpus and injects faults from a seed.
 *
 * Startup: parse options, load the corpus, block SIGINT/SIGTERM (so that
 * libmicrohttpd's threads inherit the mask and only sigwait() sees them),
 * start the daemon on the loopback address, publish the port. Shutdown on
 * SIGINT/SIGTERM: wake faulted connections, stop the daemon (it joins its
 * threads), write --stats-file. Exit status: 0 clean stop, 1 runtime
 * failure (corpus, bind, files), 2 bad command line.
 */
#include "serve.h"
#include "util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* clang-format off */
static void
usage(FILE *f)
{
    fprintf(f,
"Usage: " SV_PROG " --corpus DIR [options]\n"
"Serve a clipapi-gen corpus as a Twitch-Helix-shaped API on 127.0.0.1 only,\n"
"injecting faults at given rates from a seed (reproducible for the same\n"
"sequence of requests; at most one fault per request).\n"
"\n"
"  --corpus DIR          corpus written by clipapi-gen (required)\n"
"  --snapshot K          snapshot served at start (default 0)\n"
"  --port N              TCP port on 127.0.0.1; 0 picks a free one (default 0)\n"
"  --port-file FILE      write the port there once listening\n"
"  --require-token TOK   answer 401 unless 'Authorization: Bearer TOK'\n"
"  --stats-file FILE     write the /control/stats JSON there on exit\n"
"  --verbose             log each request to stderr\n"
"Faults (rates are probabilities per request, summing to at most 1):\n"
"  --fault-seed N        seed of the fault sequence (default 1)\n"
"  --latency-rate R      answer after --latency-ms (default 200) more\n"
"  --timeout-rate R      never answer: hold the connection --timeout-s\n"
"                        (default 30) or until shutdown, then close it\n"
"  --rate-429 R          429 with Retry-After: --retry-after S (default 2)\n"
"                        and Ratelimit-Remaining: 0\n"
"  --rate-500 R, --rate-503 R   server errors with a Helix error body\n"
"  --truncate-rate R     200 whose body is cut (Content-Length matches)\n"
"  --bad-json-rate R     200 whose body is not valid JSON\n"
"  --fault-only-clips    faults only on /helix/clips\n"
"  --ratelimit-limit N   Ratelimit-Limit points per minute (default 800)\n"
"  --enforce-ratelimit   answer 429 once the minute's points are spent\n"
"  --help                show this help\n"
"\n"
"Endpoints: GET /helix/clips?broadcaster_id=B&first=N&after=CURSOR\n"
"[&started_at=T&ended_at=T], /helix/clips?id=C, /helix/users?id=B|login=L,\n"
"/helix/channels/followers?broadcaster_id=B, /control/snapshot?set=K,\n"
"/control/stats. /control/* is never faulted nor authenticated.\n");
}
/* clang-format on */

struct cli {
    const char *corpus;
    const char *port_file;
    const char *stats_file;
    const char *token;
    uint64_t snapshot;
    uint64_t port;
    int verbose;
    struct sv_fault_cfg f;
};

static int
bad(const char *opt, const char *val, const char *want)
{
    fprintf(stderr,
            SV_PROG ": bad value for %s: '%s' (expected %s); "
                    "see --help\n",
            opt, val, want);
    return 2;
}

enum {
    O_CORPUS = 256,
    O_SNAPSHOT,
    O_PORT,
    O_PORT_FILE,
    O_TOKEN,
    O_STATS,
    O_VERBOSE,
    O_FSEED,
    O_LAT_MS,
    O_RETRY,
    O_TIMEOUT_S,
    O_ONLY_CLIPS,
    O_RL_LIMIT,
    O_RL_ENFORCE,
    O_HELP,
    /* one per fault kind, in enum sv_fault order */
    O_RATE0
};

static const struct option opts[] = {
    {"corpus", required_argument, NULL, O_CORPUS},
    {"snapshot", required_argument, NULL, O_SNAPSHOT},
    {"port", required_argument, NULL, O_PORT},
    {"port-file", required_argument, NULL, O_PORT_FILE},
    {"require-token", required_argument, NULL, O_TOKEN},
    {"stats-file", required_argument, NULL, O_STATS},
    {"verbose", no_argument, NULL, O_VERBOSE},
    {"fault-seed", required_argument, NULL, O_FSEED},
    {"latency-ms", required_argument, NULL, O_LAT_MS},
    {"retry-after", required_argument, NULL, O_RETRY},
    {"timeout-s", required_argument, NULL, O_TIMEOUT_S},
    {"fault-only-clips", no_argument, NULL, O_ONLY_CLIPS},
    {"ratelimit-limit", required_argument, NULL, O_RL_LIMIT},
    {"enforce-ratelimit", no_argument, NULL, O_RL_ENFORCE},
    {"help", no_argument, NULL, O_HELP},
    {"latency-rate", required_argument, NULL, O_RATE0 + SV_LATENCY},
    {"timeout-rate", required_argument, NULL, O_RATE0 + SV_TIMEOUT},
    {"rate-429", required_argument, NULL, O_RATE0 + SV_HTTP_429},
    {"rate-500", required_argument, NULL, O_RATE0 + SV_HTTP_500},
    {"rate-503", required_argument, NULL, O_RATE0 + SV_HTTP_503},
    {"truncate-rate", required_argument, NULL, O_RATE0 + SV_TRUNCATED},
    {"bad-json-rate", required_argument, NULL, O_RATE0 + SV_BAD_JSON},
    {NULL, 0, NULL, 0},
};

static const char *
opt_name(int opt)
{
    for (const struct option *o = opts; o->name != NULL; o++) {
        if (o->val == opt)
            return o->name;
    }
    return "?";
}

/* Parses an integer option value into *dst; 0 or exit status 2. */
static int
int_opt(int opt, const char *arg, uint64_t lo, uint64_t hi, int64_t *dst)
{
    char name[40], want[64];
    uint64_t v;

    if (ca_parse_u64(arg, lo, hi, &v) == 0) {
        *dst = (int64_t)v;
        return 0;
    }
    snprintf(name, sizeof(name), "--%s", opt_name(opt));
    snprintf(want, sizeof(want), "an integer %llu .. %llu",
             (unsigned long long)lo, (unsigned long long)hi);
    return bad(name, arg, want);
}

static int
apply_opt(struct cli *cl, int opt, const char *arg)
{
    int64_t v = 0;
    int rc;

    if (opt >= O_RATE0 && opt < O_RATE0 + SV_FAULT_KINDS) {
        char name[40];
        snprintf(name, sizeof(name), "--%s", opt_name(opt));
        if (ca_parse_double(arg, 0.0, 1.0, &cl->f.rate[opt - O_RATE0]) != 0)
            return bad(name, arg, "a rate from 0 to 1");
        return 0;
    }
    switch (opt) {
    case O_CORPUS:
        cl->corpus = arg;
        return 0;
    case O_PORT_FILE:
        cl->port_file = arg;
        return 0;
    case O_STATS:
        cl->stats_file = arg;
        return 0;
    case O_TOKEN:
        cl->token = arg;
        return 0;
    case O_VERBOSE:
        cl->verbose = 1;
        return 0;
    case O_ONLY_CLIPS:
        cl->f.only_clips = 1;
        return 0;
    case O_RL_ENFORCE:
        cl->f.enforce_ratelimit = 1;
        return 0;
    case O_SNAPSHOT:
        rc = int_opt(opt, arg, 0, 1000000, &v);
        cl->snapshot = (uint64_t)v;
        return rc;
    case O_PORT:
        rc = int_opt(opt, arg, 0, 65535, &v);
        cl->port = (uint64_t)v;
        return rc;
    case O_FSEED:
        rc = int_opt(opt, arg, 0, INT64_MAX, &v);
        cl->f.seed = (uint64_t)v;
        return rc;
    case O_LAT_MS:
        return int_opt(opt, arg, 0, 600000, &cl->f.latency_ms);
    case O_RETRY:
        return int_opt(opt, arg, 1, 3600, &cl->f.retry_after_s);
    case O_TIMEOUT_S:
        return int_opt(opt, arg, 1, 3600, &cl->f.timeout_s);
    case O_RL_LIMIT:
        return int_opt(opt, arg, 1, 1000000, &cl->f.ratelimit_limit);
    default:
        return 2;
    }
}

static int
parse_cli(int argc, char **argv, struct cli *cl)
{
    double sum = 0.0;
    int opt, rc;

    memset(cl, 0, sizeof(*cl));
    cl->f = (struct sv_fault_cfg){.seed = 1,
                                  .latency_ms = 200,
                                  .retry_after_s = 2,
                                  .timeout_s = 30,
                                  .ratelimit_limit = 800};
    opterr = 0;
    while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (opt == O_HELP) {
            usage(stdout);
            exit(0);
        }
        if (opt == '?') {
            fprintf(stderr,
                    SV_PROG ": unknown option or missing value: %s; "
                            "see --help\n",
                    argv[optind - 1]);
            return 2;
        }
        if ((rc = apply_opt(cl, opt, optarg)) != 0)
            return rc;
    }
    if (optind < argc) {
        fprintf(stderr, SV_PROG ": unexpected argument '%s'; see --help\n",
                argv[optind]);
        return 2;
    }
    if (cl->corpus == NULL) {
        fprintf(stderr, SV_PROG ": --corpus DIR is required; see --help\n");
        return 2;
    }
    for (int k = 0; k < SV_FAULT_KINDS; k++)
        sum += cl->f.rate[k];
    /* A small epsilon lets rates such as 0.1 x 10 sum to 1. */
    if (sum > 1.0 + 1e-9) {
        fprintf(stderr,
                SV_PROG ": the fault rates sum to %g; at most one "
                        "fault per request, so the sum must be <= 1\n",
                sum);
        return 2;
    }
    return 0;
}

/* ---------------------------------------------------------------------
 * Files, daemon, signals
 * ------------------------------------------------------------------- */

/* Writes text to path through a temporary file and rename(), so a reader
 * polling for the file never sees it half written. */
static int
write_atomic(const char *path, const char *text)
{
    char tmp[4200];
    FILE *f;

    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    f = fopen(tmp, "w");
    if (f == NULL || fputs(text, f) < 0 || fclose(f) != 0 ||
        rename(tmp, path) != 0) {
        fprintf(stderr, SV_PROG ": cannot write %s: %s\n", path,
                strerror(errno));
        return -1;
    }
    return 0;
}

/* libmicrohttpd's own messages (client resets, closed connections): only
 * with --verbose, they are routine for a fault injector. */
/* The format attribute tells -Wformat-nonliteral that fmt is checked at
 * libmicrohttpd's call sites. */
__attribute__((format(printf, 2, 0))) static void
mhd_log(void *cls, const char *fmt, va_list ap)
{
    const struct sv_server *s = cls;

    if (s->verbose) {
        fputs(SV_PROG ": libmicrohttpd: ", stderr);
        vfprintf(stderr, fmt, ap);
    }
}

static struct MHD_Daemon *
start_daemon(struct sv_server *s, uint16_t port)
{
    struct sockaddr_in lo;

    /* Req: loopback only. INADDR_LOOPBACK, never INADDR_ANY. */
    memset(&lo, 0, sizeof(lo));
    lo.sin_family = AF_INET;
    lo.sin_port = htons(port);
    lo.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return MHD_start_daemon(
        MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
            MHD_USE_AUTO | MHD_USE_ERROR_LOG,
        0, NULL, NULL, sv_http_handler, s, MHD_OPTION_SOCK_ADDR,
        (struct sockaddr *)&lo, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned int)120, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, s,
        MHD_OPTION_END);
}

/* Blocks until SIGINT or SIGTERM arrives (they are blocked in all
 * threads, so only this sigwait() receives them). */
static int
wait_for_signal(const sigset_t *set)
{
    int sig = 0;

    while (sigwait(set, &sig) != 0)
        ;
    return sig;
}

/* Publishes the port on stdout and in --port-file. */
static int
announce(const struct cli *cl, struct MHD_Daemon *d, unsigned k,
         const struct sv_corpus *c)
{
    const union MHD_DaemonInfo *info =
        MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    unsigned port = info != NULL ? info->port : 0;
    char text[32];

    if (port == 0) {
        fprintf(stderr, SV_PROG ": cannot read the bound port\n");
        return -1;
    }
    printf(SV_PROG ": listening on http://127.0.0.1:%u/helix/ "
                   "(%zu channels, snapshot %u of %zu)\n",
           port, c->n_ch, k, c->n_snap);
    fflush(stdout);
    snprintf(text, sizeof(text), "%u\n", port);
    return cl->port_file != NULL ? write_atomic(cl->port_file, text) : 0;
}

static int
run(const struct cli *cl, struct sv_server *s, const sigset_t *set)
{
    struct MHD_Daemon *d = start_daemon(s, (uint16_t)cl->port);
    int sig, rc = 0;
    char *stats;

    if (d == NULL) {
        fprintf(stderr,
                SV_PROG ": cannot listen on 127.0.0.1:%u: %s; try "
                        "another --port or --port 0\n",
                (unsigned)cl->port, strerror(errno));
        return 1;
    }
    if (announce(cl, d, (unsigned)cl->snapshot, s->corpus) != 0) {
        rc = 1;
        sig = 0;
    } else {
        sig = wait_for_signal(set);
    }
    sv_server_stop(s);
    MHD_stop_daemon(d);
    stats = sv_faults_stats_json(s->faults, atomic_load(&s->snapshot));
    if (cl->stats_file != NULL &&
        (stats == NULL || write_atomic(cl->stats_file, stats) != 0))
        rc = 1;
    if (sig != 0)
        fprintf(stderr, SV_PROG ": stopped by signal %d\n", sig);
    free(stats);
    return rc;
}

int
main(int argc, char **argv)
{
    struct cli cl;
    struct sv_corpus corpus;
    struct sv_faults faults;
    struct sv_server s = {0};
    sigset_t set;
    int rc = parse_cli(argc, argv, &cl);

    if (rc != 0)
        return rc;
    if (sv_corpus_load(cl.corpus, &corpus) != 0)
        return 1;
    if (cl.snapshot >= corpus.n_snap) {
        fprintf(stderr,
                SV_PROG ": --snapshot %llu: the corpus has snapshots "
                        "0 .. %zu\n",
                (unsigned long long)cl.snapshot, corpus.n_snap - 1);
        sv_corpus_fini(&corpus);
        return 2;
    }
    (void)signal(SIGPIPE, SIG_IGN);
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    if (pthread_sigmask(SIG_BLOCK, &set, NULL) != 0 || sv_server_init(&s) != 0)
        abort();
    sv_faults_init(&faults, &cl.f);
    s.corpus = &corpus;
    s.faults = &faults;
    s.token = cl.token;
    s.verbose = cl.verbose;
    atomic_init(&s.snapshot, (unsigned)cl.snapshot);
    rc = run(&cl, &s, &set);
    sv_faults_fini(&faults);
    sv_server_fini(&s);
    sv_corpus_fini(&corpus);
    return rc;
}
