/*
 * consumers/rrd/main.c -- clipbus-rrd: archive the bus into RRD files.
 *
 * Options and configuration here; the work is in sink.c (records to
 * updates), store.c (the files), names.c (file names and the index) and
 * graph.c (`graph-cmd`). docs/clipbus-rrd.md is the manual.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <urcu.h>

#include "cli.h"
#include "sched_class.h"
#include "config.h"
#include "config_schema.h"
#include "rrd_int.h"
#include "runtime.h"

#define EXIT_USAGE 2
#define PROG "clipbus-rrd"

static void
usage(FILE *f)
{
    fputs(
        "Usage: clipbus-rrd [OPTIONS]\n"
        "       clipbus-rrd graph-cmd [OPTIONS] NAME   (see graph-cmd --help)\n"
        "\n"
        "Archives the records of a clipbus bus into RRD files that the stock\n"
        "`rrdtool graph`, `fetch` and `info` read: one file per monitored\n"
        "function (calls/s, errors/s, mean, p95 and max duration in seconds)\n"
        "and per counter (rate/s), gauge (mean level) and observed metric\n"
        "(samples/s, mean, p95), per label set. Records are filed by their\n"
        "own timestamps in steps of rrd.step (10 s); a run that catches up\n"
        "on old records files them where they belong. DIR/index.json maps\n"
        "every file back to its function or metric.\n"
        "\n"
        "Options:\n"
        "  -c, --config PATH   configuration file (else $CLIPBUS_CONFIG, else\n"
        "                      built-in defaults); section \"rrd\"\n"
        "  -b, --bus NAME      bus to read (else bus.name, $CLIPBUS_BUS,\n"
        "                      \"default\")\n"
        "  -d, --dir DIR       archive directory (else rrd.dir: ./clipbus-rrd)\n"
        "  -D, --daemon ADDR   send every update through rrdcached at ADDR:\n"
        "                      unix:/path/to/sock (recommended) or\n"
        "                      127.0.0.1:PORT (paths then relative to the\n"
        "                      daemon's -b directory); else rrd.daemon\n"
        "      --direct        write the files directly even if rrd.daemon\n"
        "                      is set\n"
        "      --from WHERE    oldest (default: every record still in the\n"
        "                      rings) or now\n"
        "      --future DUR    refuse records stamped more than DUR ahead of\n"
        "                      the clock (default 5m)\n"
        "      --exit-idle MS  exit once every producer seen has ended and\n"
        "                      nothing happened for MS ms (one-shot runs)\n"
        CBC_CLI_SCHED_HELP
        "  -q, --quiet         no log lines on stderr (errors still exit)\n"
        "  -h, --help          this text\n"
        "\n"
        "Files: DIR/<kind>-<name>[-<labels>][-<hash>].rrd and DIR/index.json.\n"
        "With the default archives each file preallocates about 2.2 MB per\n"
        "data source (a function file, 5 sources: about 11 MB).\n"
        "Signals: SIGINT/SIGTERM write every open window and exit 0.\n"
        "Exit status: 0 ok, 1 the bus or the archive directory (or rrdcached)\n"
        "is unusable, 2 bad usage or configuration.\n"
        "Manual: docs/clipbus-rrd.md.\n",
        f);
}

struct args {
    const char *config, *bus, *dir, *daemon;
    int direct, quiet, from; /* from: CB_FROM_*, or -1 for the config's */
    int sched;               /* CBC_SCHED_*, or CBC_SCHED_UNSET */
    uint64_t future_ns;
    uint32_t exit_idle_ms;
};

static int
parse_one(void *arg, int opt, const char *val)
{
    struct args *a = arg;

    switch (opt) {
    case 'c': a->config = val; return 0;
    case 'b': a->bus = val; return 0;
    case 'D': a->daemon = val; return 0;
    case 'R': a->direct = 1; return 0;
    case 'q': a->quiet = 1; return 0;
    case 'F': return cbc_cli_from(PROG, val, &a->from);
    case 'X': return cbc_cli_exit_idle(PROG, val, &a->exit_idle_ms);
    case 'S': return cbc_cli_sched(PROG, val, &a->sched);
    case 'd':
        if (val[0] == '\0') {
            fprintf(stderr, PROG ": --dir: empty directory name\n");
            return -1;
        }
        a->dir = val;
        return 0;
    case 'U':
        if (cbc__parse_duration(val, &a->future_ns) != 0) {
            fprintf(stderr, PROG ": --future: '%s' is not a duration (e.g. "
                            "30s, 5m)\n", val);
            return -1;
        }
        return 0;
    default: return -1;
    }
}

/* 0: run; 1: --help shown; 2: bad command line. */
static int
parse_args(int argc, char **argv, struct args *a)
{
    static const struct option longs[] = {
        {"config", required_argument, NULL, 'c'},
        {"bus", required_argument, NULL, 'b'},
        {"dir", required_argument, NULL, 'd'},
        {"daemon", required_argument, NULL, 'D'},
        {"direct", no_argument, NULL, 'R'},
        {"from", required_argument, NULL, 'F'},
        {"future", required_argument, NULL, 'U'},
        {"exit-idle", required_argument, NULL, 'X'},
        {"sched", required_argument, NULL, 'S'},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };

    a->from = -1;
    a->sched = CBC_SCHED_UNSET;
    a->future_ns = 300ull * 1000000000u;
    return cbc_cli_parse(PROG, argc, argv, "c:b:d:D:qh", longs, usage,
                         parse_one, a);
}

/* The settings this run uses, copied out of the RCU-protected config
 * (the rrd section is read once: restart to apply a changed one). */
struct run_cfg {
    struct cbc_rrd_config rc;
    char *bus;
    uint32_t grace_s;
    int from;
    struct cbc_consumer_config consumer;
};

static char *
dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

static int
copy_config(struct run_cfg *r)
{
    const struct cbc_config *cfg;
    const struct cbc_rrd_config *src;
    struct cbc_rra *rras;
    const char **fns;

    rcu_read_lock();
    cfg = cbc_config_current();
    src = &cfg->rrd;
    r->rc = *src;
    rras = calloc(src->n_rras + 1, sizeof *rras);
    fns = calloc(src->n_functions + 1, sizeof *fns);
    if (rras == NULL || fns == NULL) {
        rcu_read_unlock();
        free(rras);
        free(fns);
        return -ENOMEM;
    }
    memcpy(rras, src->rras, src->n_rras * sizeof *rras);
    for (size_t i = 0; i < src->n_functions; i++)
        fns[i] = strdup(src->functions[i]);
    r->rc.rras = rras;
    r->rc.functions = fns;
    r->rc.dir = dup_or_null(src->dir);
    r->rc.daemon = dup_or_null(src->daemon);
    r->bus = dup_or_null(cfg->bus.name);
    r->grace_s = (uint32_t)(cfg->bus.grace_ns / 1000000000u);
    r->from = cfg->bus.from;
    r->consumer = cfg->consumer;
    rcu_read_unlock();
    return 0;
}

static void
free_config(struct run_cfg *r)
{
    for (size_t i = 0; i < r->rc.n_functions; i++)
        free((char *)r->rc.functions[i]);
    free((void *)r->rc.functions);
    free((void *)r->rc.rras);
    free((char *)r->rc.dir);
    free((char *)r->rc.daemon);
    free(r->bus);
}

int
main(int argc, char **argv)
{
    struct args a = {0};
    struct run_cfg r = {0};
    struct cbr_opts o = {0};
    struct cbc_rt_opts ro = {0};
    struct cbc_sink sink;
    struct cbr_sink *s = NULL;
    int rc;

    if (argc > 1 && strcmp(argv[1], "graph-cmd") == 0)
        return cbr_graph_main(argc - 1, argv + 1);
    if ((rc = parse_args(argc, argv, &a)) != 0)
        return rc == 1 ? 0 : EXIT_USAGE;
    if (cbc_config_init("clipbus-rrd", a.config) < 0)
        return CBC_CONFIG_EXIT;
    rcu_register_thread();
    if (copy_config(&r) != 0) {
        fprintf(stderr, "clipbus-rrd: out of memory\n");
        return 1;
    }
    rcu_unregister_thread();
    o.rc = &r.rc;
    o.dir = a.dir ? a.dir : r.rc.dir;
    o.daemon = a.direct ? NULL : (a.daemon ? a.daemon : r.rc.daemon);
    o.future_ns = a.future_ns;
    o.quiet = a.quiet;
    ro.program = "clipbus-rrd";
    /* Flushes are due every second at most: an idle archiver ticks that
     * often, not every 128 ms. */
    ro.idle_tick_ms = 1000;
    ro.bus = a.bus ? a.bus : r.bus;
    ro.grace_s = r.grace_s;
    ro.from = a.from >= 0 ? a.from : r.from;
    ro.exit_idle_ms = a.exit_idle_ms;
    ro.quiet = a.quiet;
    cbc_rt_opts_consumer(&ro, &r.consumer);
    if ((ro.sched = cbc_sched_resolve(PROG, a.sched, r.consumer.sched)) < 0) {
        free_config(&r);
        return EXIT_USAGE;
    }
    if (cbr_sink_create(&o, &s) != 0) {
        fprintf(stderr, "clipbus-rrd: out of memory\n");
        return 1;
    }
    cbr_sink_bind(s, &sink);
    rc = cbc_rt_run(&ro, &sink);
    if (rc < 0)
        rc = 1; /* the runtime printed why */
    else if (rc == 0)
        rc = cbr_sink_status(s);
    cbr_sink_destroy(s);
    free_config(&r);
    cbc_config_fini();
    return rc;
}
