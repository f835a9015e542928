/*
 * consumers/rrd/graph.c -- `clipbus-rrd graph-cmd`: print the exact
 * `rrdtool graph` command lines for the usual trend graphs of one
 * function or metric, using the archive's index to find its file.
 *
 * It only prints text (no librrd call): run the output with sh. One line
 * per graph, every argument shell-quoted; paths inside DEF: have their
 * colons escaped, as rrdtool's syntax requires.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "agg.h"
#include "config.h"
#include "config_schema.h"
#include "rrd_int.h"

static void
graph_usage(FILE *f)
{
    fputs(
        "Usage: clipbus-rrd graph-cmd [OPTIONS] NAME\n"
        "\n"
        "Prints the `rrdtool graph` command line(s) for the usual trend\n"
        "graphs of function NAME (or of a metric, with --kind), one per\n"
        "line, ready for sh:  clipbus-rrd graph-cmd fetch_page | sh\n"
        "The file is looked up in DIR/index.json.\n"
        "\n"
        "Options:\n"
        "  -c, --config PATH  configuration file (for rrd.dir, rrd.daemon)\n"
        "  -d, --dir DIR      archive directory (else rrd.dir)\n"
        "  -D, --daemon ADDR  add --daemon ADDR (files kept by rrdcached)\n"
        "  -k, --kind KIND    function (default), counter, gauge, observe\n"
        "  -l, --labels L     the metric's label set, as sent (\"k=v,k2=v2\")\n"
        "  -w, --what WHAT    latency (p95, mean, max), errors (error rate\n"
        "                     in %), calls (calls/s), or all (default)\n"
        "  -s, --since DUR    time span ending now (default 7d)\n"
        "  -o, --out FILE     image file (default <file>-<what>.png in the\n"
        "                     working directory; .pdf/.svg switch format)\n"
        "  -h, --help         this text\n"
        "\n"
        "Exit status: 0 printed, 1 NAME has no archive, 2 bad usage.\n",
        f);
}

/* Appends s to out, single-quoted when it has anything special. */
static void
put_arg(FILE *out, const char *s, int first)
{
    int plain = *s != '\0';

    for (const char *c = s; *c; c++)
        if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                    "0123456789_./:=,+-#%@", *c))
            plain = 0;
    if (!first)
        fputc(' ', out);
    if (plain) {
        fputs(s, out);
        return;
    }
    fputc('\'', out);
    for (const char *c = s; *c; c++) {
        if (*c == '\'')
            fputs("'\\''", out);
        else
            fputc(*c, out);
    }
    fputc('\'', out);
}

/* path with ':' escaped for rrdtool's DEF syntax. */
static void
def_path(const char *path, char *out, size_t len)
{
    size_t j = 0;

    for (const char *c = path; *c && j + 2 < len; c++) {
        if (*c == ':' || *c == '\\')
            out[j++] = '\\';
        out[j++] = *c;
    }
    out[j] = '\0';
}

struct gctx {
    const char *path, *daemon, *title;
    char epath[4200];
    uint64_t since_s;
};

/* Prints one command: the common part, then argv items. */
static void
emit(const struct gctx *g, const char *out, const char *what,
     const char *vlabel, const char *const *items)
{
    char buf[4400], title[600];

    put_arg(stdout, "rrdtool", 1);
    put_arg(stdout, "graph", 0);
    put_arg(stdout, out, 0);
    if (g->daemon) {
        put_arg(stdout, "--daemon", 0);
        put_arg(stdout, g->daemon, 0);
    }
    snprintf(buf, sizeof buf, "end-%llus", (unsigned long long)g->since_s);
    put_arg(stdout, "--start", 0);
    put_arg(stdout, buf, 0);
    put_arg(stdout, "--end", 0);
    put_arg(stdout, "now", 0);
    snprintf(title, sizeof title, "%s: %s", g->title, what);
    put_arg(stdout, "--title", 0);
    put_arg(stdout, title, 0);
    put_arg(stdout, "--vertical-label", 0);
    put_arg(stdout, vlabel, 0);
    put_arg(stdout, "--width", 0);
    put_arg(stdout, "800", 0);
    put_arg(stdout, "--height", 0);
    put_arg(stdout, "250", 0);
    if (strstr(out, ".pdf") || strstr(out, ".svg")) {
        put_arg(stdout, "--imgformat", 0);
        put_arg(stdout, strstr(out, ".pdf") ? "PDF" : "SVG", 0);
    }
    for (; *items; items++) {
        /* "@" in an item stands for the escaped file path. */
        const char *at = strchr(*items, '@');
        if (at != NULL) {
            snprintf(buf, sizeof buf, "%.*s%s%s", (int)(at - *items), *items,
                     g->epath, at + 1);
            put_arg(stdout, buf, 0);
        } else {
            put_arg(stdout, *items, 0);
        }
    }
    fputc('\n', stdout);
}

static const char *const fn_latency[] = {
    "DEF:p95=@:p95:AVERAGE", "DEF:avg=@:avg:AVERAGE", "DEF:max=@:max:MAX",
    "LINE1:max#ff9900:max", "LINE2:p95#d62728:p95", "LINE1:avg#1f77b4:mean",
    "GPRINT:p95:AVERAGE:p95 average %.3lf %ss", "GPRINT:max:MAX:max %.3lf %ss",
    NULL};
static const char *const fn_errors[] = {
    "DEF:calls=@:calls:AVERAGE", "DEF:errors=@:errors:AVERAGE",
    "CDEF:pct=errors,calls,0,GT,calls,UNKN,IF,/,100,*",
    "LINE2:pct#d62728:error rate (% of calls)",
    "GPRINT:pct:AVERAGE:average %.2lf %%", "GPRINT:pct:MAX:max %.2lf %%",
    NULL};
static const char *const fn_calls[] = {
    "DEF:calls=@:calls:AVERAGE", "DEF:peak=@:calls:MAX",
    "AREA:calls#1f77b4:calls/s", "LINE1:peak#0b3d91:peak (max of steps)",
    "GPRINT:calls:AVERAGE:average %.2lf/s", NULL};
static const char *const ctr_rate[] = {
    "DEF:rate=@:rate:AVERAGE", "LINE2:rate#1f77b4:per second",
    "GPRINT:rate:AVERAGE:average %.2lf/s", NULL};
static const char *const gauge_value[] = {
    "DEF:v=@:value:AVERAGE", "DEF:vmax=@:value:MAX", "LINE2:v#1f77b4:mean",
    "LINE1:vmax#ff9900:max", NULL};
static const char *const obs_value[] = {
    "DEF:avg=@:avg:AVERAGE", "DEF:p95=@:p95:AVERAGE",
    "LINE2:p95#d62728:p95", "LINE1:avg#1f77b4:mean", NULL};

static int
kind_by_name(const char *s)
{
    for (int k = CB_AGG_FUNCTION; k <= CB_AGG_OBSERVE; k++)
        if (strcmp(cb_agg_kind_name(k), s) == 0)
            return k;
    return 0;
}

struct gopts {
    const char *config, *dir, *daemon, *labels, *what, *out, *name;
    int kind;
    uint64_t since_ns;
};

static int
graph_args(int argc, char **argv, struct gopts *o)
{
    static const struct option longs[] = {
        {"config", required_argument, NULL, 'c'},
        {"dir", required_argument, NULL, 'd'},
        {"daemon", required_argument, NULL, 'D'},
        {"kind", required_argument, NULL, 'k'},
        {"labels", required_argument, NULL, 'l'},
        {"what", required_argument, NULL, 'w'},
        {"since", required_argument, NULL, 's'},
        {"out", required_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;

    o->kind = CB_AGG_FUNCTION;
    o->what = "all";
    o->since_ns = 7ull * 86400 * 1000000000u;
    while ((c = getopt_long(argc, argv, "c:d:D:k:l:w:s:o:h", longs, NULL)) !=
           -1) {
        switch (c) {
        case 'c': o->config = optarg; break;
        case 'd': o->dir = optarg; break;
        case 'D': o->daemon = optarg; break;
        case 'l': o->labels = optarg; break;
        case 'o': o->out = optarg; break;
        case 'h': graph_usage(stdout); exit(0);
        case 'k':
            if ((o->kind = kind_by_name(optarg)) == 0) {
                fprintf(stderr, "clipbus-rrd graph-cmd: --kind: \"%s\" is "
                        "not function, counter, gauge or observe\n", optarg);
                return -1;
            }
            break;
        case 'w':
            if (strcmp(optarg, "latency") && strcmp(optarg, "errors") &&
                strcmp(optarg, "calls") && strcmp(optarg, "all")) {
                fprintf(stderr, "clipbus-rrd graph-cmd: --what: \"%s\" is "
                        "not latency, errors, calls or all\n", optarg);
                return -1;
            }
            o->what = optarg;
            break;
        case 's':
            if (cbc__parse_duration(optarg, &o->since_ns) != 0 ||
                o->since_ns < 60ull * 1000000000u) {
                fprintf(stderr, "clipbus-rrd graph-cmd: --since: \"%s\" is "
                        "not a duration of at least 1m (e.g. 6h, 7d, 1y)\n",
                        optarg);
                return -1;
            }
            break;
        default:
            fprintf(stderr, "Try 'clipbus-rrd graph-cmd --help'.\n");
            return -1;
        }
    }
    if (optind != argc - 1) {
        fprintf(stderr, "clipbus-rrd graph-cmd: give exactly one function "
                "or metric NAME; try --help\n");
        return -1;
    }
    o->name = argv[optind];
    return 0;
}

/* Reads rrd.dir and rrd.daemon from the configuration (if not given). */
static int
graph_config(struct gopts *o, char **dir, char **daemon)
{
    struct cbc_config *cfg = NULL;
    struct cbc_config_errors errs = {0};
    const char *path = cbc_config_path(o->config);

    if (cbc_config_load(path, &cfg, &errs) != 0) {
        fputs(errs.text ? errs.text : "invalid configuration\n", stderr);
        cbc_config_errors_fini(&errs);
        return -1;
    }
    *dir = strdup(o->dir ? o->dir : cfg->rrd.dir);
    *daemon = o->daemon ? strdup(o->daemon)
                        : (cfg->rrd.daemon ? strdup(cfg->rrd.daemon) : NULL);
    cbc_config_free(cfg);
    return *dir ? 0 : -1;
}

int
cbr_graph_main(int argc, char **argv)
{
    struct gopts o = {0};
    struct cbr_map map = {0};
    struct cbr_entry *e;
    struct gctx g = {0};
    char *dir = NULL, *daemon = NULL, why[600], file[256], path[4400];
    char out[4600], base[300];
    const char *w;
    struct stat st;
    int rc = 0;

    optind = 1;
    if (graph_args(argc, argv, &o) != 0)
        return 2;
    if (graph_config(&o, &dir, &daemon) != 0)
        return 2;
    if (cbr_map_load(&map, dir, why, sizeof why) != 0)
        fprintf(stderr, "clipbus-rrd graph-cmd: %s (using computed file "
                "names)\n", why);
    e = cbr_map_find(&map, o.kind, o.name, o.labels);
    if (e != NULL)
        snprintf(file, sizeof file, "%s", e->file);
    else
        cbr_file_name(o.kind, o.name, o.labels, 0, file, sizeof file);
    snprintf(path, sizeof path, "%s/%s", dir, file);
    if (e == NULL && stat(path, &st) != 0) {
        fprintf(stderr, "clipbus-rrd graph-cmd: no archive of %s \"%s\"%s%s "
                "in %s (not in index.json, no %s)\n",
                cb_agg_kind_name(o.kind), o.name, o.labels ? " labels " : "",
                o.labels ? o.labels : "", dir, file);
        rc = 1;
        goto done;
    }
    g.path = path;
    g.daemon = daemon;
    g.title = o.name;
    g.since_s = o.since_ns / 1000000000u;
    def_path(path, g.epath, sizeof g.epath);
    snprintf(base, sizeof base, "%.*s", (int)(strlen(file) - 4), file);
    w = o.what;
    if (o.kind != CB_AGG_FUNCTION) {
        snprintf(out, sizeof out, "%s", o.out ? o.out : "");
        if (!o.out)
            snprintf(out, sizeof out, "%s.png", base);
        emit(&g, out, cb_agg_kind_name(o.kind),
             o.kind == CB_AGG_COUNTER ? "per second" : "value",
             o.kind == CB_AGG_COUNTER  ? ctr_rate
             : o.kind == CB_AGG_GAUGE ? gauge_value
                                      : obs_value);
        goto done;
    }
    static const struct {
        const char *what, *title, *vlabel;
        const char *const *items;
    } graphs[] = {
        {"latency", "latency (p95, mean, max)", "seconds", fn_latency},
        {"errors", "error rate", "% of calls", fn_errors},
        {"calls", "calls per second", "calls/s", fn_calls},
    };
    for (size_t i = 0; i < 3; i++) {
        if (strcmp(w, "all") && strcmp(w, graphs[i].what))
            continue;
        if (o.out && strcmp(w, "all") != 0)
            snprintf(out, sizeof out, "%s", o.out);
        else
            snprintf(out, sizeof out, "%s-%s.png", base, graphs[i].what);
        emit(&g, out, graphs[i].title, graphs[i].vlabel, graphs[i].items);
    }
done:
    cbr_map_free(&map);
    free(dir);
    free(daemon);
    return rc;
}
