/*
 * cmd_query.c -- `clipbus query`: rows of the structured log (clipbus-log's
 * SQLite database) filtered by time, function, status, session, level,
 * text and producer, as an aligned table, CSV, JSON or JSON lines; or
 * read-only SQL (seed tasks 4.1, 10.2; Req 5.1). Also the parts `clipbus
 * export` shares: option parsing and finding the database.
 *
 * Rows are streamed from SQLite to stdout as they are stepped: memory
 * stays constant for any number of rows.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "config.h"
#include "logdb.h"
#include "logq.h"
#include "query.h"

#define CMD "query"

/* clang-format off */
static void
usage(FILE *f)
{
    fprintf(f,
"Usage: clipbus query [TABLE] [filters] [--format FMT] [--db FILE]\n"
"       clipbus query --sql \"SELECT ...\" [--format FMT] [--db FILE]\n"
"Print rows of the structured log written by clipbus-log.\n"
"\n"
"TABLE is calls (default), logs, sessions, metrics, progress, losses,\n"
"daily_calls or daily_metrics (also --table TABLE).\n"
"\n"
"Filters (all optional, combined with AND):\n"
"  --since TIME       rows at or after TIME\n"
"  --until TIME       rows before TIME\n"
"                     TIME is ISO 8601 (2024-05-01, 2024-05-01T12:00,\n"
"                     2024-05-01T12:00:00.5Z, ...+02:00; no zone: local\n"
"                     time), 'now', or relative to now: 30m, 2h, 7d, 1h30m\n"
"  --function GLOB    function (calls, logs), metric (metrics), session\n"
"                     (sessions) or step (progress) name; * ? [..] globs\n"
"  --status S         calls: ok, error, aborted; sessions: also failed,\n"
"                     partial, running\n"
"  --session S        session name (glob) or numeric id\n"
"  --level L          logs at or above debug, info, warn or error\n"
"  --grep TEXT        message text contains TEXT (case-insensitive ASCII);\n"
"                     calls: error message or parameters\n"
"  --producer P       program name (glob) or pid\n"
"  --limit N          at most N rows\n"
"\n"
"Output:\n"
"  --format FMT       table (default on a terminal), csv (default\n"
"                     otherwise; RFC 4180 with a header row), json (one\n"
"                     array) or jsonl (one object per line)\n"
"  --no-header        table and csv: no header row\n"
"  --sql SQL          run one read-only SQL statement instead (the\n"
"                     database is opened read-only; writes are refused)\n"
"  --db FILE          the database (default: log.path of the config,\n"
"                     \"clipbus-log.db\")\n"
"  --config FILE      configuration file (default $CLIPBUS_CONFIG)\n"
"  -h, --help         this text\n"
"\n"
"Times are written in ISO 8601 UTC; ts_ns columns hold ns since the epoch.\n"
"Tables and columns: docs/schema.md. Exit status: 0 rows printed, 1 no\n"
"rows (or the database failed), 2 usage error.\n");
}
/* clang-format on */

enum {
    O_SINCE = 256,
    O_UNTIL,
    O_FUNCTION,
    O_STATUS,
    O_SESSION,
    O_LEVEL,
    O_GREP,
    O_PRODUCER,
    O_LIMIT,
    O_FORMAT,
    O_SQL,
    O_DB,
    O_CONFIG,
    O_TABLE,
    O_NOHEADER,
    O_OUTPUT,
};

static const struct option long_opts[] = {
    {"since", required_argument, NULL, O_SINCE},
    {"until", required_argument, NULL, O_UNTIL},
    {"function", required_argument, NULL, O_FUNCTION},
    {"name", required_argument, NULL, O_FUNCTION},
    {"status", required_argument, NULL, O_STATUS},
    {"session", required_argument, NULL, O_SESSION},
    {"level", required_argument, NULL, O_LEVEL},
    {"grep", required_argument, NULL, O_GREP},
    {"producer", required_argument, NULL, O_PRODUCER},
    {"limit", required_argument, NULL, O_LIMIT},
    {"format", required_argument, NULL, O_FORMAT},
    {"sql", required_argument, NULL, O_SQL},
    {"db", required_argument, NULL, O_DB},
    {"config", required_argument, NULL, O_CONFIG},
    {"table", required_argument, NULL, O_TABLE},
    {"no-header", no_argument, NULL, O_NOHEADER},
    {"output", required_argument, NULL, 'o'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static int
set_time(const char *cmd, const char *opt, const char *v, int *has,
         int64_t *out)
{
    if (cbl_parse_time(v, (int64_t)cli_real_ns(), out) < 0)
        return cli_usage_error(cmd, "%s '%s' is not a time (use ISO 8601 "
                                    "such as 2024-05-01T12:00:00Z, or 2h, "
                                    "30m, 7d before now)",
                               opt, v);
    *has = 1;
    return 0;
}

static int
one_opt(const char *cmd, int c, const char *v, struct query_args *a)
{
    struct cbl_filter *f = &a->f;
    uint64_t n;
    switch (c) {
    case O_SINCE:
        return set_time(cmd, "--since", v, &f->has_since, &f->since);
    case O_UNTIL:
        return set_time(cmd, "--until", v, &f->has_until, &f->until);
    case O_FUNCTION:
        f->name = v;
        return 0;
    case O_STATUS:
        f->status = v;
        return 0;
    case O_SESSION:
        f->session = v;
        return 0;
    case O_LEVEL:
        if ((f->level = cbl_level_parse(v)) < 0)
            return cli_usage_error(cmd, "--level '%s' is not debug, info, "
                                        "warn or error", v);
        return 0;
    case O_GREP:
        f->grep = v;
        return 0;
    case O_PRODUCER:
        f->producer = v;
        return 0;
    case O_LIMIT:
        if (cli_parse_u64(v, 1, INT64_MAX, &n) < 0)
            return cli_usage_error(cmd, "--limit '%s' is not a whole "
                                        "number of at least 1", v);
        f->limit = (int64_t)n;
        return 0;
    case O_FORMAT:
        if ((a->format = cbl_format_parse(v)) < 0)
            return cli_usage_error(cmd, "--format '%s' is not table, csv, "
                                        "json or jsonl", v);
        return 0;
    case O_TABLE:
        if ((f->table = cbl_table_parse(v)) < 0)
            return cli_usage_error(cmd, "no table '%s' (calls, logs, "
                                        "sessions, metrics, progress, "
                                        "losses, daily_calls, "
                                        "daily_metrics)", v);
        return 0;
    case O_SQL:
        a->sql = v;
        return 0;
    case O_DB:
        a->db = v;
        return 0;
    case O_CONFIG:
        a->config = v;
        return 0;
    case O_NOHEADER:
        a->no_header = 1;
        return 0;
    case 'o':
        a->output = v;
        return 0;
    default:
        return cli_usage_error(cmd, "unknown option");
    }
}

int
query_parse(const char *cmd, int argc, char **argv, struct query_args *a,
            void (*help)(FILE *))
{
    int c;
    memset(a, 0, sizeof *a);
    a->format = -1;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "ho:", long_opts, NULL)) != -1) {
        if (c == 'h') {
            help(stdout);
            return -1;
        }
        if (c == '?')
            return cli_usage_error(cmd, "unknown option or missing value "
                                        "'%s'", argv[optind - 1]);
        int rc = one_opt(cmd, c, optarg, a);
        if (rc)
            return rc;
    }
    if (optind < argc) {
        int t = cbl_table_parse(argv[optind]);
        if (t < 0)
            return cli_usage_error(cmd, "no table '%s'", argv[optind]);
        a->f.table = t;
        if (++optind < argc)
            return cli_usage_error(cmd, "unexpected argument '%s'",
                                   argv[optind]);
    }
    return 0;
}

const char *
query_db_path(const struct query_args *a, char *buf, size_t len)
{
    struct cbc_config *cfg = NULL;
    struct cbc_config_errors errs = {0};
    const char *path = cbc_config_path(a->config);

    if (a->db)
        return a->db;
    if (cbc_config_load(path, &cfg, &errs) < 0) {
        fputs(errs.text ? errs.text : "", stderr);
        cbc_config_errors_fini(&errs);
        return NULL;
    }
    snprintf(buf, len, "%s", cfg->log.path);
    cbc_config_free(cfg);
    return buf;
}

sqlite3 *
query_open(const char *cmd, const struct query_args *a)
{
    char pbuf[4096], err[512];
    const char *path = query_db_path(a, pbuf, sizeof pbuf);
    sqlite3 *h;
    if (!path) {
        fprintf(stderr, "clipbus %s: invalid configuration\n", cmd);
        return NULL;
    }
    if (cbl_open_readonly(path, &h, err, sizeof err) < 0) {
        fprintf(stderr, "clipbus %s: %s\n", cmd, err);
        return NULL;
    }
    return h;
}

/* --sql: one statement, refused unless it only reads. */
static int
run_sql(sqlite3 *h, const struct query_args *a,
        const struct cbl_write_opts *wo)
{
    sqlite3_stmt *st = NULL;
    const char *tail = NULL;
    char err[512];

    if (sqlite3_prepare_v2(h, a->sql, -1, &st, &tail) != SQLITE_OK) {
        fprintf(stderr, "clipbus query: --sql: %s\n", sqlite3_errmsg(h));
        return CLI_USAGE;
    }
    while (tail && (*tail == ' ' || *tail == '\n' || *tail == '\t' ||
                    *tail == ';' || *tail == '\r'))
        tail++;
    if (!st || (tail && *tail)) {
        sqlite3_finalize(st);
        fprintf(stderr, "clipbus query: --sql takes exactly one statement\n");
        return CLI_USAGE;
    }
    if (!sqlite3_stmt_readonly(st)) {
        sqlite3_finalize(st);
        fprintf(stderr, "clipbus query: --sql: refused: the statement would "
                        "write; the database is opened read-only (use the "
                        "sqlite3 program on a copy to change it)\n");
        return CLI_USAGE;
    }
    int64_t n = cbl_query_write(st, stdout, wo, err, sizeof err);
    sqlite3_finalize(st);
    if (n == -EPIPE && errno == EPIPE)
        return CLI_OK;
    if (n < 0) {
        fprintf(stderr, "clipbus query: --sql: %s\n", err);
        return CLI_PROBLEM;
    }
    return n > 0 ? CLI_OK : CLI_PROBLEM;
}

int
cmd_query(int argc, char **argv)
{
    struct query_args a;
    struct cbl_write_opts wo;
    sqlite3_stmt *st;
    sqlite3 *h;
    char err[512];
    int rc = query_parse(CMD, argc, argv, &a, usage);

    if (rc)
        return rc < 0 ? CLI_OK : rc;
    if (a.output)
        return cli_usage_error(CMD, "-o is an option of 'clipbus export'");
    if (!a.sql && cbl_filter_check(&a.f, err, sizeof err) < 0)
        return cli_usage_error(CMD, "%s", err);
    if (!(h = query_open(CMD, &a)))
        return CLI_PROBLEM;
    memset(&wo, 0, sizeof wo);
    wo.format = a.format >= 0 ? a.format
                : isatty(STDOUT_FILENO) ? CBL_F_TABLE
                                        : CBL_F_CSV;
    wo.header = !a.no_header;
    if (a.sql) {
        rc = run_sql(h, &a, &wo);
        sqlite3_close(h);
        return rc;
    }
    wo.typed = 1;
    if (cbl_query_prepare(h, &a.f, 0, &st, err, sizeof err) < 0) {
        fprintf(stderr, "clipbus query: %s\n", err);
        sqlite3_close(h);
        return CLI_PROBLEM;
    }
    int64_t n = cbl_query_write(st, stdout, &wo, err, sizeof err);
    sqlite3_finalize(st);
    sqlite3_close(h);
    if (n == -EPIPE && errno == EPIPE)
        return CLI_OK; /* the reader went away (head, less) */
    if (n < 0) {
        fprintf(stderr, "clipbus query: %s\n", err);
        return CLI_PROBLEM;
    }
    return n > 0 ? CLI_OK : CLI_PROBLEM;
}
