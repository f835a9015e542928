/*
 * cmd_export.c -- `clipbus export`: a table of the structured log, with
 * the filters of `clipbus query`, streamed to a file as CSV, JSON or JSON
 * lines (seed task 4.3, Req 5.4, 7.2). The file is written under a
 * temporary name and renamed when complete, so a failed export (disk
 * full) never leaves a truncated file that looks finished. On a terminal
 * a progress bar shows rows written out of the total.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "logdb.h"
#include "logq.h"
#include "query.h"

#define CMD "export"

/* clang-format off */
static void
usage(FILE *f)
{
    fprintf(f,
"Usage: clipbus export [--table TABLE] [--since TIME] [--until TIME]\n"
"                      [filters] --format csv|json|jsonl -o FILE\n"
"Write rows of the structured log (clipbus-log's database) to FILE,\n"
"streaming: memory stays constant for any number of rows.\n"
"\n"
"  --table TABLE   calls (default), logs, sessions, metrics, progress,\n"
"                  losses, daily_calls, daily_metrics\n"
"  --since, --until, --function, --status, --session, --level, --grep,\n"
"  --producer, --limit\n"
"                  filters, as in 'clipbus query --help'\n"
"  --format FMT    csv (default; RFC 4180 with a header row), json (one\n"
"                  array) or jsonl (one object per line)\n"
"  -o FILE         the output file; '-' is stdout. Written as FILE.part\n"
"                  and renamed when complete\n"
"  --db FILE       the database (default: log.path of the config)\n"
"  --config FILE   configuration file (default $CLIPBUS_CONFIG)\n"
"  -h, --help      this text\n"
"\n"
"On a terminal, a progress bar on stderr shows rows written.\n"
"Exit status: 0 exported (also zero rows), 1 the database or the file\n"
"failed, 2 usage error.\n");
}
/* clang-format on */

struct bar {
    uint64_t total;
    uint64_t last_ns;
};

static void
bar_draw(struct bar *b, uint64_t rows, int final)
{
    uint64_t now = cli_real_ns();
    if (!final && now - b->last_ns < 100000000u)
        return;
    b->last_ns = now;
    int pct = b->total ? (int)(rows * 100 / b->total) : 100;
    int fill = pct * 30 / 100;
    fprintf(stderr, "\r[%.*s%*s] %3d%% %llu/%llu rows", fill,
            "##############################", 30 - fill, "", pct,
            (unsigned long long)rows, (unsigned long long)b->total);
    if (final)
        fputc('\n', stderr);
    fflush(stderr);
}

static void
on_progress(void *arg, uint64_t rows)
{
    bar_draw(arg, rows, 0);
}

static uint64_t
count_rows(sqlite3 *h, const struct cbl_filter *f)
{
    sqlite3_stmt *st;
    char err[256];
    uint64_t n = 0;
    if (cbl_query_prepare(h, f, 1, &st, err, sizeof err) < 0)
        return 0;
    if (sqlite3_step(st) == SQLITE_ROW)
        n = (uint64_t)sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return n;
}

static int
export(sqlite3 *h, const struct query_args *a, FILE *out, int tty)
{
    struct cbl_write_opts wo;
    struct bar b = {0, 0};
    sqlite3_stmt *st;
    char err[512];

    memset(&wo, 0, sizeof wo);
    wo.format = a->format >= 0 ? a->format : CBL_F_CSV;
    wo.typed = 1;
    wo.header = !a->no_header;
    if (tty) {
        b.total = count_rows(h, &a->f);
        wo.progress = on_progress;
        wo.progress_arg = &b;
    }
    if (cbl_query_prepare(h, &a->f, 0, &st, err, sizeof err) < 0) {
        fprintf(stderr, "clipbus export: %s\n", err);
        return -1;
    }
    int64_t n = cbl_query_write(st, out, &wo, err, sizeof err);
    sqlite3_finalize(st);
    if (n < 0) {
        if (tty)
            fputc('\n', stderr);
        fprintf(stderr, "clipbus export: %s: %s\n",
                a->output ? a->output : "-", err);
        return -1;
    }
    if (tty)
        bar_draw(&b, (uint64_t)n, 1);
    return 0;
}

int
cmd_export(int argc, char **argv)
{
    struct query_args a;
    char err[512], part[4200];
    sqlite3 *h;
    FILE *out;
    int rc = query_parse(CMD, argc, argv, &a, usage);

    if (rc)
        return rc < 0 ? CLI_OK : rc;
    if (a.sql)
        return cli_usage_error(CMD, "--sql is an option of 'clipbus query'");
    if (!a.output)
        return cli_usage_error(CMD, "-o FILE is missing ('-' for stdout)");
    if (a.format == CBL_F_TABLE)
        return cli_usage_error(CMD, "--format is csv, json or jsonl");
    if (cbl_filter_check(&a.f, err, sizeof err) < 0)
        return cli_usage_error(CMD, "%s", err);
    if (!(h = query_open(CMD, &a)))
        return CLI_PROBLEM;
    int to_stdout = strcmp(a.output, "-") == 0;
    if (to_stdout) {
        out = stdout;
    } else {
        snprintf(part, sizeof part, "%s.part", a.output);
        if (!(out = fopen(part, "w"))) {
            fprintf(stderr, "clipbus export: %s: %s\n", part,
                    strerror(errno));
            sqlite3_close(h);
            return CLI_PROBLEM;
        }
    }
    rc = export(h, &a, out, !to_stdout && isatty(STDERR_FILENO));
    sqlite3_close(h);
    if (to_stdout)
        return rc < 0 ? CLI_PROBLEM : CLI_OK;
    if (fclose(out) != 0 && rc == 0) {
        fprintf(stderr, "clipbus export: %s: %s\n", part, strerror(errno));
        rc = -1;
    }
    if (rc == 0 && rename(part, a.output) != 0) {
        fprintf(stderr, "clipbus export: %s: %s\n", a.output,
                strerror(errno));
        rc = -1;
    }
    if (rc < 0)
        unlink(part);
    return rc < 0 ? CLI_PROBLEM : CLI_OK;
}
