/*
 * logq.h -- reading the structured log: the filters of `clipbus query`
 * and `clipbus export` turned into one SQL statement (seed tasks 4.1,
 * 4.3, 10.2; Req 5.1, 5.4, 7.2), and the output formats, written row by
 * row as SQLite steps (constant memory for any number of rows).
 *
 * Formats: an aligned table (widths from the first rows), CSV (RFC 4180:
 * a header row, CRLF line ends, fields with a comma, quote, CR, LF or
 * edge space quoted, quotes doubled; text bytes are written as stored,
 * even when they are not UTF-8), one JSON array, or JSON lines. JSON
 * strings are always valid: bytes that are not UTF-8 become U+FFFD.
 * Columns named "time" or ending in "_time" hold ns since the epoch and
 * are written as ISO 8601 UTC; the JSON texts of "params", "fields" and
 * "perf" are embedded as objects in JSON output.
 */
#ifndef CBL_LOGQ_H
#define CBL_LOGQ_H

#include <stdint.h>
#include <stdio.h>

#include <sqlite3.h>

#ifdef __cplusplus
extern "C" {
#endif

enum cbl_table {
    CBL_T_CALLS,
    CBL_T_LOGS,
    CBL_T_SESSIONS,
    CBL_T_METRICS,
    CBL_T_PROGRESS,
    CBL_T_LOSSES,
    CBL_T_DAILY_CALLS,
    CBL_T_DAILY_METRICS,
    CBL_T_COUNT
};

enum cbl_format { CBL_F_TABLE, CBL_F_CSV, CBL_F_JSON, CBL_F_JSONL };

struct cbl_filter {
    int table;              /* enum cbl_table */
    int has_since, has_until;
    int64_t since, until;   /* ns since the epoch; [since, until) */
    const char *name;       /* glob: function, metric or session name */
    const char *status;     /* ok|error|aborted (calls); sessions also
                               failed|partial|running */
    const char *session;    /* session name glob, or its numeric id */
    int level;              /* minimum log level (CB_LOG_*), 0: any */
    const char *grep;       /* substring of message text (LIKE) */
    const char *producer;   /* program glob, or a pid */
    int64_t limit;          /* 0: no limit */
};

/* Name of a table ("calls") and back; -1 when unknown. */
const char *cbl_table_name(int t);
int cbl_table_parse(const char *s);
/* "table", "csv", "json", "jsonl"; -1 when unknown. */
int cbl_format_parse(const char *s);
/* "debug|info|warn|error" or a number; -1 when unknown. */
int cbl_level_parse(const char *s);

/* Checks that every filter set applies to f->table and has a valid
 * value. Returns 0, or -EINVAL with a one-line reason in err. */
int cbl_filter_check(const struct cbl_filter *f, char *err, size_t err_len);

/* Prepares the statement of f on h (count_only: SELECT count(*)).
 * Returns 0 and *out (sqlite3_finalize it), or negative with err. */
int cbl_query_prepare(sqlite3 *h, const struct cbl_filter *f, int count_only,
                      sqlite3_stmt **out, char *err, size_t err_len);

/* Progress callback of cbl_query_write: rows written so far. */
typedef void (*cbl_progress_fn)(void *arg, uint64_t rows);

struct cbl_write_opts {
    int format;          /* enum cbl_format */
    int typed;           /* 1: time and JSON columns get their special
                            treatment (built-in queries); 0 for --sql */
    int header;          /* table and csv: a header row (1) */
    cbl_progress_fn progress; /* called every 4096 rows, may be NULL */
    void *progress_arg;
};

/* Steps st to the end, writing each row to out. Returns rows written,
 * or negative: -EIO when SQLite failed (reason in err), -EPIPE when out
 * failed (e.g. a closed pipe, disk full: errno tells). */
int64_t cbl_query_write(sqlite3_stmt *st, FILE *out,
                        const struct cbl_write_opts *o, char *err,
                        size_t err_len);

/* `clipbus log status`: file, WAL and free-page sizes, row counts and
 * the oldest and newest row per table, as text or one JSON object. */
int cbl_status_write(sqlite3 *h, const char *path, FILE *out, int json,
                     char *err, size_t err_len);

#ifdef __cplusplus
}
#endif
#endif /* CBL_LOGQ_H */
