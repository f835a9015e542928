/*
 * consumers/alert/main.c -- clipbus-alert: options and subcommands. The
 * watcher is watch.c, the engine engine.c; docs/clipbus-alert.md is the
 * manual.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "alert.h"
#include "cli.h"
#include "sched_class.h"
#include "config.h"
#include "config_schema.h"

#define EXIT_USAGE 2

void
cba_usage(FILE *f)
{
    fputs(
        "Usage: clipbus-alert [OPTIONS]                 watch the bus\n"
        "       clipbus-alert check CONFIG              validate the rules\n"
        "       clipbus-alert test [--json] [-q] RULES TIMELINE\n"
        "       clipbus-alert status [OPTIONS] [--json]\n"
        "       clipbus-alert silence add --match L=GLOB [--match ...]\n"
        "                     [--for DUR | --until TIME] [--comment TEXT]\n"
        "       clipbus-alert silence list | expire ID\n"
        "\n"
        "Watches a clipbus bus and notifies people when the monitored\n"
        "program misbehaves: rules from the \"alert\" section of the\n"
        "configuration (error counts and rates, latency percentiles with\n"
        "static or baseline-relative thresholds, counter rates, gauges,\n"
        "absence, producer deaths, lost records, aborted or stalled\n"
        "sessions, calls running too long) with `for`, hysteresis, repeat,\n"
        "cooldown and resolved notifications; channels: webhook\n"
        "(Alertmanager v4 JSON), email (SMTP) and file (JSON lines).\n"
        "Notifications go through a durable outbox (STATE/alert.db) and\n"
        "are delivered at least once, in order per channel, with retries;\n"
        "alert state and silences survive restarts.\n"
        "\n"
        "Options (watcher, status, silence):\n"
        "  -c, --config PATH   configuration file (else $CLIPBUS_CONFIG);\n"
        "                      reloaded when it changes\n"
        "  -b, --bus NAME      bus to read (else bus.name, $CLIPBUS_BUS)\n"
        "  -s, --state DIR     state directory (else alert.state_dir,\n"
        "                      ./clipbus-alert)\n"
        "      --from WHERE    oldest (default) or now\n"
        "      --exit-idle MS  exit once every producer has ended and\n"
        "                      nothing happened for MS ms\n"
        CBC_CLI_SCHED_HELP
        "  -q, --quiet         no log line per notification\n"
        "  -h, --help          this text\n"
        "\n"
        "test: RULES is a config file, TIMELINE a JSON timeline of inputs\n"
        "(see the manual); prints every notification the rules would send\n"
        "and, when the timeline has \"expect\", checks them (exit 1 on a\n"
        "mismatch) -- for CI, like `promtool test rules`.\n"
        "\n"
        "Exit status: 0 ok, 1 runtime failure or failed test, 2 bad usage\n"
        "or configuration.\n"
        "Manual: docs/clipbus-alert.md.\n",
        f);
}

/* ---- check -------------------------------------------------------------- */

static int
cmd_check(int argc, char **argv)
{
    if (argc != 2 || argv[1][0] == '-') {
        if (argc == 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
            cba_usage(stdout);
            return 0;
        }
        fprintf(stderr, "clipbus-alert check: need one CONFIG file; try "
                        "'clipbus-alert --help'\n");
        return EXIT_USAGE;
    }
    struct cbc_config *cfg = NULL;
    struct cbc_config_errors errs = {0};
    if (cbc_config_load(argv[1], &cfg, &errs) != 0) {
        fputs(errs.text ? errs.text : "", stderr);
        fprintf(stderr, "clipbus-alert check: %s is invalid (%zu error%s)\n",
                argv[1], errs.count, errs.count == 1 ? "" : "s");
        cbc_config_errors_fini(&errs);
        return EXIT_USAGE;
    }
    const struct cbc_alert_config *a = &cfg->alert;
    printf("%s: ok: %zu rules, %zu channels, %zu routes, %zu maintenance "
           "windows\n", argv[1], a->n_rules, a->n_channels, a->n_routes,
           a->n_maintenance);
    for (size_t i = 0; i < a->n_rules; i++)
        printf("  rule %-24s %-16s %s\n", a->rules[i].name,
               cbc_alert_kind_name(a->rules[i].kind),
               cbc_alert_severity_name(a->rules[i].severity));
    cbc_config_free(cfg);
    return 0;
}

/* ---- shared options ----------------------------------------------------- */

struct opts {
    const char *cmd; /* for messages: "clipbus-alert silence" */
    const char *config, *bus, *state, *until, *comment;
    const char *match[AL_SIL_MATCH_MAX];
    size_t n_match;
    uint64_t for_ns;
    uint32_t exit_idle_ms;
    int quiet, json, from; /* from: CB_FROM_*, or -1 for the config's */
    int first;             /* argv index of the first non-option */
    int sched;             /* CBC_SCHED_*, or CBC_SCHED_UNSET */
};

static int
parse_one(void *arg, int opt, const char *val)
{
    struct opts *o = arg;

    switch (opt) {
    case 'c': o->config = val; return 0;
    case 'b': o->bus = val; return 0;
    case 's': o->state = val; return 0;
    case 'u': o->until = val; return 0;
    case 'C': o->comment = val; return 0;
    case 'j': o->json = 1; return 0;
    case 'q': o->quiet = 1; return 0;
    case 'F': return cbc_cli_from(o->cmd, val, &o->from);
    case 'X': return cbc_cli_exit_idle(o->cmd, val, &o->exit_idle_ms);
    case 'S': return cbc_cli_sched(o->cmd, val, &o->sched);
    case 'm':
        if (o->n_match == AL_SIL_MATCH_MAX || strchr(val, ',') ||
            strchr(val, '=') == NULL || val[0] == '=') {
            fprintf(stderr, "%s: --match \"%s\": use LABEL=GLOB (no "
                            "commas; at most %d)\n", o->cmd, val,
                    AL_SIL_MATCH_MAX);
            return -1;
        }
        o->match[o->n_match++] = val;
        return 0;
    case 'f':
        if (cbc__parse_duration(val, &o->for_ns) != 0 || o->for_ns == 0) {
            fprintf(stderr, "%s: --for \"%s\": not a duration (%s)\n",
                    o->cmd, val, CBC_DURATION_HELP);
            return -1;
        }
        return 0;
    default: return -1;
    }
}

/* Every command's options (each takes what it needs); the arguments left
 * start at argv[o->first]. 0: run; 1: --help shown; 2: bad usage. */
static int
parse_opts(int argc, char **argv, struct opts *o, const char *cmd)
{
    static const struct option longs[] = {
        {"config", required_argument, NULL, 'c'},
        {"bus", required_argument, NULL, 'b'},
        {"state", required_argument, NULL, 's'},
        {"from", required_argument, NULL, 'F'},
        {"exit-idle", required_argument, NULL, 'X'},
        {"sched", required_argument, NULL, 'S'},
        {"match", required_argument, NULL, 'm'},
        {"for", required_argument, NULL, 'f'},
        {"until", required_argument, NULL, 'u'},
        {"comment", required_argument, NULL, 'C'},
        {"json", no_argument, NULL, 'j'},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };

    o->cmd = cmd;
    o->from = -1;
    o->sched = CBC_SCHED_UNSET;
    return cbc_cli_parse_args(cmd, argc, argv, "c:b:s:m:qh", longs, cba_usage,
                              parse_one, o, &o->first);
}

/* The state directory and an open alert.db, for status and silence. */
static int
open_state(const struct opts *o, const char *cmd, sqlite3 **db,
           struct cbc_config **cfg)
{
    struct cbc_config_errors errs = {0};
    char err[512];
    if (cbc_config_load(cbc_config_path(o->config), cfg, &errs) != 0) {
        fputs(errs.text ? errs.text : "", stderr);
        cbc_config_errors_fini(&errs);
        return EXIT_USAGE;
    }
    const char *dir = o->state ? o->state : (*cfg)->alert.state_dir;
    if (cba_db_open(dir, db, err, sizeof err) != 0) {
        fprintf(stderr, "%s: %s\n", cmd, err);
        cbc_config_free(*cfg);
        return 1;
    }
    return 0;
}

/* ---- silence ------------------------------------------------------------ */

static int
silence_list(sqlite3 *db, int json)
{
    struct al_silences s = {0};
    cba_silences_load(db, cba_now_ns(), &s);
    for (size_t i = 0; i < s.n; i++) {
        char a[40], b[40], m[1024] = "";
        size_t o = 0;
        for (size_t k = 0; k < s.v[i].n_match; k++)
            o += (size_t)snprintf(m + o, sizeof m - o, "%s%s", k ? "," : "",
                                  s.v[i].match[k]);
        cba_fmt_time(a, sizeof a, s.v[i].start_ns);
        cba_fmt_time(b, sizeof b, s.v[i].end_ns);
        if (json)
            printf("{\"id\":%" PRId64 ",\"match\":\"%s\",\"starts\":\"%s\","
                   "\"ends\":\"%s\"}\n", s.v[i].id, m, a, b);
        else
            printf("%-5" PRId64 " %-40s %s .. %s  %s\n", s.v[i].id, m, a, b,
                   s.v[i].comment);
    }
    if (s.n == 0 && !json)
        printf("no active silences\n");
    al_silences_clear(&s);
    return 0;
}

static int
cmd_silence(int argc, char **argv)
{
    const char *cmd = "clipbus-alert silence";
    if (argc < 2) {
        fprintf(stderr, "%s: add, list or expire; try 'clipbus-alert "
                        "--help'\n", cmd);
        return EXIT_USAGE;
    }
    const char *verb = argv[1];
    if (!strcmp(verb, "-h") || !strcmp(verb, "--help")) {
        cba_usage(stdout);
        return 0;
    }
    struct opts o = {0};
    int rc = parse_opts(argc - 1, argv + 1, &o, cmd);
    if (rc != 0)
        return rc == 1 ? 0 : EXIT_USAGE;
    int rest = argc - 1 - o.first;
    char **args = argv + 1 + o.first;
    if (strcmp(verb, "add") && strcmp(verb, "list") && strcmp(verb, "expire")) {
        fprintf(stderr, "%s: unknown action \"%s\": use add, list or "
                        "expire\n", cmd, verb);
        return EXIT_USAGE;
    }
    if (!strcmp(verb, "add") && (o.n_match == 0 || rest != 0)) {
        fprintf(stderr, "%s add: need at least one --match LABEL=GLOB (e.g. "
                        "--match function=fetch_*) and no other arguments\n",
                cmd);
        return EXIT_USAGE;
    }
    if (!strcmp(verb, "expire") && rest != 1) {
        fprintf(stderr, "%s expire: need the silence ID (see 'silence "
                        "list')\n", cmd);
        return EXIT_USAGE;
    }
    uint64_t now = cba_now_ns(), end = now + (o.for_ns ? o.for_ns
                                                        : 3600000000000ull);
    if (o.until && cbc_alert_parse_time(o.until, &end) != 0) {
        fprintf(stderr, "%s: --until \"%s\": use a UTC time like "
                        "2025-01-31T02:00:00Z\n", cmd, o.until);
        return EXIT_USAGE;
    }
    sqlite3 *db;
    struct cbc_config *cfg;
    rc = open_state(&o, cmd, &db, &cfg);
    if (rc != 0)
        return rc;
    if (!strcmp(verb, "list")) {
        rc = silence_list(db, o.json);
    } else if (!strcmp(verb, "add")) {
        char m[4096] = "";
        size_t off = 0;
        for (size_t i = 0; i < o.n_match; i++)
            off += (size_t)snprintf(m + off, sizeof m - off, "%s%s",
                                    i ? "," : "", o.match[i]);
        int64_t id = cba_silence_add(db, m, now, end, o.comment);
        if (id < 0) {
            fprintf(stderr, "%s add: could not store the silence\n", cmd);
            rc = 1;
        } else {
            char b[40];
            cba_fmt_time(b, sizeof b, end);
            printf("silence %" PRId64 " until %s\n", id, b);
        }
    } else {
        char *e;
        long long id = strtoll(args[0], &e, 10);
        if (*e || cba_silence_expire(db, id, now) != 0) {
            fprintf(stderr, "%s expire: no active silence %s (see 'silence "
                            "list')\n", cmd, args[0]);
            rc = 1;
        } else {
            printf("silence %lld expired\n", id);
        }
    }
    sqlite3_close(db);
    cbc_config_free(cfg);
    return rc;
}

/* ---- status ------------------------------------------------------------- */

static int
cmd_status(int argc, char **argv)
{
    const char *cmd = "clipbus-alert status";
    struct opts o = {0};
    sqlite3 *db;
    struct cbc_config *cfg;
    int rc = parse_opts(argc, argv, &o, cmd);
    if (rc != 0)
        return rc == 1 ? 0 : EXIT_USAGE;
    if (o.first < argc) {
        fprintf(stderr, "%s: unexpected argument '%s'; see clipbus-alert "
                        "--help\n", cmd, argv[o.first]);
        return EXIT_USAGE;
    }
    rc = open_state(&o, cmd, &db, &cfg);
    if (rc != 0)
        return rc;
    sqlite3_stmt *st;
    printf("alerts:\n");
    sqlite3_prepare_v2(db, "SELECT rule, series, state, notified, since_ns "
                           "FROM alerts WHERE state > 0 ORDER BY rule", -1,
                       &st, NULL);
    int n = 0;
    while (st && sqlite3_step(st) == SQLITE_ROW) {
        char since[40], series[512];
        snprintf(series, sizeof series, "%s",
                 (const char *)sqlite3_column_text(st, 1));
        for (char *p = series; *p; p++)
            if (*p == '\n')
                *p = p[1] ? ',' : '\0';
        cba_fmt_time(since, sizeof since,
                     (uint64_t)sqlite3_column_int64(st, 4));
        printf("  %-8s %-24s {%s} since %s%s\n",
               sqlite3_column_int(st, 2) == AL_ST_FIRING ? "firing"
                                                         : "pending",
               sqlite3_column_text(st, 0), series, since,
               sqlite3_column_int(st, 3) ? "" : " (not paged)");
        n++;
    }
    sqlite3_finalize(st);
    if (n == 0)
        printf("  none\n");
    printf("silences:\n");
    silence_list(db, 0);
    printf("channels:\n");
    for (size_t i = 0; i < cfg->alert.n_channels; i++) {
        const char *name = cfg->alert.channels[i].name;
        int64_t depth = cba_outbox_depth(db, name);
        int64_t ok = 0, failed = 0, dropped = 0, last_fail = 0, last_ok = 0;
        const char *err = "";
        sqlite3_prepare_v2(db, "SELECT delivered, failed, dropped, last_ok_ns,"
                               " last_fail_ns, last_error FROM channels "
                               "WHERE name=?1", -1, &st, NULL);
        sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
        char ebuf[300] = "";
        if (sqlite3_step(st) == SQLITE_ROW) {
            ok = sqlite3_column_int64(st, 0);
            failed = sqlite3_column_int64(st, 1);
            dropped = sqlite3_column_int64(st, 2);
            last_ok = sqlite3_column_int64(st, 3);
            last_fail = sqlite3_column_int64(st, 4);
            if (sqlite3_column_text(st, 5))
                snprintf(ebuf, sizeof ebuf, "%s", sqlite3_column_text(st, 5));
            err = ebuf;
        }
        sqlite3_finalize(st);
        const char *health = last_fail > last_ok ? "failing" : "ok";
        printf("  %-16s %-7s %-7s outbox %" PRId64 ", delivered %" PRId64
               ", failed attempts %" PRId64 ", dropped %" PRId64 "%s%s\n",
               name, cbc_alert_channel_type_name(cfg->alert.channels[i].type),
               health, depth, ok, failed, dropped, err[0] ? ", last error: " : "",
               last_fail > last_ok ? err : "");
    }
    if (cfg->alert.n_channels == 0)
        printf("  none configured\n");
    sqlite3_close(db);
    cbc_config_free(cfg);
    return 0;
}

/* ---- the watcher -------------------------------------------------------- */


static int
cmd_watch(int argc, char **argv)
{
    struct opts o = {0};
    int rc = parse_opts(argc, argv, &o, "clipbus-alert");
    if (rc != 0)
        return rc == 1 ? 0 : EXIT_USAGE;
    if (o.first < argc) {
        fprintf(stderr, "clipbus-alert: unknown command \"%s\"; try "
                        "'clipbus-alert --help'\n", argv[o.first]);
        return EXIT_USAGE;
    }
    if (cbc_config_init("clipbus-alert", o.config) < 0)
        return CBC_CONFIG_EXIT;
    struct cbc_config_watch_opts wo = {.quiet = o.quiet != 0};
    cbc_config_watch_start(&wo);
    struct cba_watch_opts w = {o.config, o.bus,        o.state, o.from,
                               o.exit_idle_ms, o.quiet, o.sched};
    rc = cba_watch_run(&w);
    cbc_config_watch_stop();
    cbc_config_fini();
    return rc;
}

int
main(int argc, char **argv)
{
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0) {
        fprintf(stderr, "clipbus-alert: libcurl failed to initialise\n");
        return 1;
    }
    int rc;
    const char *sub = argc > 1 ? argv[1] : "";
    if (!strcmp(sub, "check"))
        rc = cmd_check(argc - 1, argv + 1);
    else if (!strcmp(sub, "test"))
        rc = cba_cmd_test(argc - 1, argv + 1);
    else if (!strcmp(sub, "status"))
        rc = cmd_status(argc - 1, argv + 1);
    else if (!strcmp(sub, "silence"))
        rc = cmd_silence(argc - 1, argv + 1);
    else
        rc = cmd_watch(argc, argv);
    curl_global_cleanup();
    return rc;
}
