/*
 * bench_log.c -- ingest speed of the structured log (issue 6), against
 * two baselines measured in the same run:
 *   naive     the seed's design: one autocommit INSERT per call
 *             (rollback journal, synchronous=FULL: an fsync per row);
 *   plain     one transaction around a prepared INSERT loop into a table
 *             without indexes (names as text): SQLite's floor here;
 *   clipbus   logdb.c as clipbus-log uses it: parameters built as JSON
 *             per row, interned names, three indexes on calls, batches
 *             of 50000 rows, WAL + synchronous=NORMAL.
 * Then the database bytes per call row, and the time of a one-day query
 * (`clipbus query --since D --until D+1d`, all rows stepped and
 * formatted as CSV to /dev/null) on a database of QROWS rows spread
 * over 30 days.
 *
 * Usage: bench_log DIR [ROWS] [QROWS]   (defaults 2000000, 10000000)
 * One JSON line per result on stdout.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cblbuf.h"
#include "logdb.h"
#include "logq.h"

#define DAY_NS 86400000000000LL
#define BASE_NS 1700000000000000000LL

static double
now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* dir/name, with any earlier database and its side files removed. */
static void
path_in(char *buf, size_t len, const char *dir, const char *name)
{
    static const char *const sfx[] = {"-wal", "-shm", "-journal"};
    char p[4200];
    snprintf(buf, len, "%s/%s", dir, name);
    unlink(buf);
    for (int i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "%s%s", buf, sfx[i]);
        unlink(p);
    }
}

static double
naive(const char *dir, long rows, double max_s)
{
    char p[4096];
    sqlite3 *h;
    sqlite3_stmt *s;
    long i;
    path_in(p, sizeof p, dir, "naive.db");
    sqlite3_open(p, &h);
    sqlite3_exec(h, "CREATE TABLE calls(ts INTEGER, function TEXT, dur_ns "
                    "INTEGER, status TEXT, params TEXT)",
                 NULL, NULL, NULL);
    sqlite3_prepare_v2(h, "INSERT INTO calls VALUES(?, ?, ?, ?, ?)", -1, &s,
                       NULL);
    double t0 = now_s();
    for (i = 0; i < rows && now_s() - t0 < max_s; i++) {
        sqlite3_bind_int64(s, 1, BASE_NS + i * 1000);
        sqlite3_bind_text(s, 2, "fetch_page", -1, SQLITE_STATIC);
        sqlite3_bind_int64(s, 3, 1000 + i % 5000);
        sqlite3_bind_text(s, 4, "ok", -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 5, "{\"channel\":\"abc\",\"page\":3}", -1,
                          SQLITE_STATIC);
        sqlite3_step(s);
        sqlite3_reset(s);
    }
    double dt = now_s() - t0;
    sqlite3_finalize(s);
    sqlite3_close(h);
    printf("{\"bench\":\"log_ingest\",\"case\":\"naive-autocommit\","
           "\"rows\":%ld,\"seconds\":%.3f,\"rows_per_s\":%.0f}\n",
           i, dt, (double)i / dt);
    return (double)i / dt;
}

static double
plain(const char *dir, long rows)
{
    char p[4096];
    sqlite3 *h;
    sqlite3_stmt *s;
    path_in(p, sizeof p, dir, "plain.db");
    sqlite3_open(p, &h);
    sqlite3_exec(h, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
                    "CREATE TABLE calls(ts INTEGER, function TEXT, dur_ns "
                    "INTEGER, status INTEGER, params TEXT)",
                 NULL, NULL, NULL);
    sqlite3_prepare_v2(h, "INSERT INTO calls VALUES(?, ?, ?, ?, ?)", -1, &s,
                       NULL);
    double t0 = now_s();
    sqlite3_exec(h, "BEGIN", NULL, NULL, NULL);
    for (long i = 0; i < rows; i++) {
        sqlite3_bind_int64(s, 1, BASE_NS + i * 1000);
        sqlite3_bind_text(s, 2, "fetch_page", -1, SQLITE_STATIC);
        sqlite3_bind_int64(s, 3, 1000 + i % 5000);
        sqlite3_bind_int(s, 4, 0);
        sqlite3_bind_text(s, 5, "{\"channel\":\"abc\",\"page\":3}", -1,
                          SQLITE_STATIC);
        sqlite3_step(s);
        sqlite3_reset(s);
    }
    sqlite3_exec(h, "COMMIT", NULL, NULL, NULL);
    double dt = now_s() - t0;
    sqlite3_finalize(s);
    sqlite3_close(h);
    printf("{\"bench\":\"log_ingest\",\"case\":\"plain-one-transaction\","
           "\"rows\":%ld,\"seconds\":%.3f,\"rows_per_s\":%.0f}\n",
           rows, dt, (double)rows / dt);
    return (double)rows / dt;
}

/* Rows as clipbus-log writes them: JSON parameters built per row. */
static double
clipbus(const char *name, const char *dir, long rows, int64_t span_ns,
        char *path, size_t path_len)
{
    struct cbl_opts o = {0};
    struct cbl_db *db;
    struct cbl_buf json = {0};
    char err[512];
    static const char *const fn[] = {"fetch_page", "parse_clip",
                                     "score_clip", "rank_clips"};
    int64_t ids[4], prod;
    int known;

    path_in(path, path_len, dir, name);
    o.path = path;
    o.busy_timeout_ns = 1000000000u;
    if (cbl_db_open(&o, &db, err, sizeof err) < 0) {
        fprintf(stderr, "bench_log: %s\n", err);
        exit(1);
    }
    for (int k = 0; k < 4; k++)
        ids[k] = cbl_name_id(db, fn[k], strlen(fn[k]));
    prod = cbl_producer_id(db, 1234, 5678, "bench", BASE_NS, &known);
    int64_t step = span_ns / rows;
    double t0 = now_s();
    for (long i = 0; i < rows; i++) {
        struct cbl_call c = {0};
        cbl_buf_reset(&json);
        cbl_buf_add(&json, "{\"channel\":", 11);
        cbl_buf_json_str(&json, "abc", 3);
        cbl_buf_add(&json, ",\"page\":", 8);
        cbl_buf_i64(&json, i % 50); /* as the sink builds integers */
        cbl_buf_addc(&json, '}');
        c.ts = BASE_NS + i * step;
        c.dur_ns = 1000 + (i * 7919) % 500000;
        c.func = ids[i & 3];
        c.status = i % 97 == 0;
        c.producer = prod;
        c.tid = 4321;
        c.params = json.p;
        c.params_len = json.len;
        if (c.status) {
            c.has_err = 1;
            c.err_code = -5;
            c.err_msg = "HTTP 503";
            c.err_len = 8;
        }
        cbl_call_add(db, &c);
    }
    cbl_db_commit(db);
    double dt = now_s() - t0;
    struct cbl_db_stats st;
    cbl_db_stats(db, &st);
    cbl_db_checkpoint(db);
    cbl_db_close(db);
    cbl_buf_free(&json);
    if (st.lost_rows)
        fprintf(stderr, "bench_log: %llu rows lost: %s\n",
                (unsigned long long)st.lost_rows, st.last_error);
    return (double)rows / dt;
}

static long
file_bytes(const char *p)
{
    FILE *f = fopen(p, "rb");
    long n;
    if (!f)
        return 0;
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fclose(f);
    return n;
}

static void
day_query(const char *path, long rows)
{
    sqlite3 *h;
    sqlite3_stmt *st;
    char err[512];
    struct cbl_filter f = {0};
    struct cbl_write_opts wo = {0};
    FILE *null = fopen("/dev/null", "w");

    if (cbl_open_readonly(path, &h, err, sizeof err) < 0) {
        fprintf(stderr, "bench_log: %s\n", err);
        return;
    }
    f.table = CBL_T_CALLS;
    f.has_since = f.has_until = 1;
    f.since = BASE_NS + 10 * DAY_NS;
    f.until = f.since + DAY_NS;
    wo.format = CBL_F_CSV;
    wo.typed = 1;
    wo.header = 1;
    for (int rep = 0; rep < 3; rep++) {
        double t0 = now_s();
        cbl_query_prepare(h, &f, 0, &st, err, sizeof err);
        int64_t n = cbl_query_write(st, null, &wo, err, sizeof err);
        sqlite3_finalize(st);
        double dt = now_s() - t0;
        cbl_query_prepare(h, &f, 1, &st, err, sizeof err);
        double t1 = now_s();
        sqlite3_step(st);
        double dc = now_s() - t1;
        sqlite3_finalize(st);
        printf("{\"bench\":\"log_query\",\"case\":\"one-day-csv\",\"db_rows\":"
               "%ld,\"rows\":%lld,\"seconds\":%.3f,\"count_seconds\":%.4f,"
               "\"rep\":%d}\n",
               rows, (long long)n, dt, dc, rep);
    }
    fclose(null);
    sqlite3_close(h);
}

int
main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : ".";
    long rows = argc > 2 ? atol(argv[2]) : 2000000;
    long qrows = argc > 3 ? atol(argv[3]) : 10000000;
    char path[4096];

    cbl_sqlite_setup(); /* as clipbus-log does */
    /* BENCH_LOG_ONLY=clipbus skips the baselines (for profiling). */
    const char *only = getenv("BENCH_LOG_ONLY");
    if (!only || strcmp(only, "clipbus") != 0) {
        naive(dir, rows, 5.0);
        plain(dir, rows);
    }
    for (int rep = 0; rep < 3; rep++) {
        double r = clipbus("ingest.db", dir, rows, 3600LL * 1000000000,
                           path, sizeof path);
        printf("{\"bench\":\"log_ingest\",\"case\":\"clipbus\",\"rows\":%ld,"
               "\"rows_per_s\":%.0f,\"bytes_per_row\":%.1f,\"rep\":%d}\n",
               rows, r, (double)file_bytes(path) / (double)rows, rep);
    }
    if (qrows > 0) {
        double r = clipbus("query.db", dir, qrows, 30 * DAY_NS, path,
                           sizeof path);
        printf("{\"bench\":\"log_ingest\",\"case\":\"clipbus-30d\",\"rows\":"
               "%ld,\"rows_per_s\":%.0f,\"bytes_per_row\":%.1f}\n",
               qrows, r, (double)file_bytes(path) / (double)qrows);
        fflush(stdout);
        day_query(path, qrows);
    }
    return 0;
}
