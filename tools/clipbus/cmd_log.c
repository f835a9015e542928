/*
 * cmd_log.c -- `clipbus log status`: the state of the structured log's
 * database (seed task 12.1): file, WAL and free-page sizes, row counts
 * and the oldest and newest row of every table.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "logq.h"
#include "query.h"

#define CMD "log"

/* clang-format off */
static void
usage(FILE *f)
{
    fprintf(f,
"Usage: clipbus log status [--json] [--db FILE] [--config FILE]\n"
"Show the structured log's database (written by clipbus-log): file size,\n"
"write-ahead log size, free pages (given back by incremental vacuum),\n"
"and per table the row count and the oldest and newest row.\n"
"\n"
"  --json          one JSON object instead of text\n"
"  --db FILE       the database (default: log.path of the config,\n"
"                  \"clipbus-log.db\")\n"
"  --config FILE   configuration file (default $CLIPBUS_CONFIG)\n"
"  -h, --help      this text\n"
"\n"
"Exit status: 0 shown, 1 the database cannot be read, 2 usage error.\n");
}
/* clang-format on */

int
cmd_log(int argc, char **argv)
{
    struct query_args a;
    char err[512], pbuf[4096];
    int json = 0;

    if (argc < 2 || strcmp(argv[1], "--help") == 0 ||
        strcmp(argv[1], "-h") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? CLI_USAGE : CLI_OK;
    }
    if (strcmp(argv[1], "status") != 0)
        return cli_usage_error(CMD, "unknown subcommand '%s'", argv[1]);
    /* Take --json out before the shared parser sees the rest. */
    char *rest[64];
    int n = 0;
    for (int i = 1; i < argc && n < 63; i++) {
        if (strcmp(argv[i], "--json") == 0)
            json = 1;
        else
            rest[n++] = argv[i];
    }
    rest[n] = NULL;
    int rc = query_parse(CMD, n, rest, &a, usage);
    if (rc)
        return rc < 0 ? CLI_OK : rc;
    sqlite3 *h = query_open(CMD, &a);
    if (!h)
        return CLI_PROBLEM;
    const char *path = query_db_path(&a, pbuf, sizeof pbuf);
    rc = cbl_status_write(h, path ? path : "?", stdout, json, err,
                          sizeof err);
    sqlite3_close(h);
    if (rc < 0) {
        fprintf(stderr, "clipbus log: %s\n", err);
        return CLI_PROBLEM;
    }
    return CLI_OK;
}
