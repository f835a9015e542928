/*
 * query.h -- what `clipbus query`, `export` and `log` share: their
 * options and finding and opening the structured log read-only.
 */
#ifndef CLIPBUS_TOOL_QUERY_H
#define CLIPBUS_TOOL_QUERY_H

#include <stdio.h>

#include <sqlite3.h>

#include "logq.h"

struct query_args {
    struct cbl_filter f;
    int format;          /* enum cbl_format, -1: not given */
    int no_header;
    const char *sql, *db, *config, *output;
};

/* Parses the options of `clipbus <cmd>` into *a. Returns 0, -1 after
 * printing help (exit 0), or CLI_USAGE after a one-line message. */
int query_parse(const char *cmd, int argc, char **argv, struct query_args *a,
                void (*help)(FILE *));

/* The database path: --db, else log.path of the config (--config or
 * $CLIPBUS_CONFIG), else the default. NULL after printing config errors. */
const char *query_db_path(const struct query_args *a, char *buf, size_t len);

/* Opens the database read-only, or prints why not and returns NULL. */
sqlite3 *query_open(const char *cmd, const struct query_args *a);

#endif /* CLIPBUS_TOOL_QUERY_H */
