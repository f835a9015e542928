/*
 * maint.c -- retention, daily summaries, size cap and incremental vacuum
 * of the structured log (seed task 12.1, Req 5.5). maint.h gives the
 * order of a run. Every step is a small transaction of its own, so a run
 * can stop at any point (budget spent, crash) and resume later; the
 * summary of a day and the meta row saying it is done commit together.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "logdb.h"
#include "maint.h"

#define DAY_NS 86400000000000LL

enum phase {
    P_SUMMARY_START,
    P_SUMMARY,
    P_RESUMMARIZE,
    P_EXPIRE_RAW,
    P_EXPIRE_SUMMARY,
    P_CAP,
    P_VACUUM,
    P_DONE
};

/* Raw tables and the time column their retention uses. */
static const char *const raw_tables[] = {"calls", "logs", "metrics",
                                         "progress", "losses"};
#define N_RAW (sizeof raw_tables / sizeof raw_tables[0])

static uint64_t
mono_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static int64_t
day_floor(int64_t ns)
{
    int64_t d = ns / DAY_NS;
    if (ns % DAY_NS < 0)
        d--;
    return d * DAY_NS;
}

/* Runs sql with up to two int64 bindings (?1, ?2; skipped when the
 * statement has fewer). Returns changes() or negative. */
static int64_t
exec2(sqlite3 *h, const char *sql, int64_t a, int64_t b, struct cbl_maint *m)
{
    sqlite3_stmt *s;
    int rc = sqlite3_prepare_v2(h, sql, -1, &s, NULL);
    if (rc != SQLITE_OK) {
        m->rc = rc;
        return -EIO;
    }
    if (sqlite3_bind_parameter_count(s) >= 1)
        sqlite3_bind_int64(s, 1, a);
    if (sqlite3_bind_parameter_count(s) >= 2)
        sqlite3_bind_int64(s, 2, b);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW)
        ;
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE) {
        m->rc = rc;
        return -EIO;
    }
    return sqlite3_changes64(h);
}

/* The first int64 column of a one-row query with up to two bindings;
 * `dflt` when there is no row or it is NULL. */
static int64_t
query1(sqlite3 *h, const char *sql, int64_t a, int64_t b, int64_t dflt)
{
    sqlite3_stmt *s;
    int64_t v = dflt;
    if (sqlite3_prepare_v2(h, sql, -1, &s, NULL) != SQLITE_OK)
        return dflt;
    if (sqlite3_bind_parameter_count(s) >= 1)
        sqlite3_bind_int64(s, 1, a);
    if (sqlite3_bind_parameter_count(s) >= 2)
        sqlite3_bind_int64(s, 2, b);
    if (sqlite3_step(s) == SQLITE_ROW &&
        sqlite3_column_type(s, 0) != SQLITE_NULL)
        v = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    return v;
}

void
cbl_maint_begin(struct cbl_maint *m)
{
    memset(m, 0, sizeof *m);
}

/* ---- 1. daily summaries ------------------------------------------------- */

/* Functions of one day and their call counts (from the INSERT). */
struct fcount {
    int64_t func, n;
};

static int
fcount_cmp(const void *a, const void *b)
{
    const struct fcount *x = a, *y = b;
    return x->func < y->func ? -1 : x->func > y->func;
}

static int
put_percentiles(sqlite3_stmt *u, int64_t func, const int64_t val[3])
{
    int rc;
    sqlite3_bind_int64(u, 2, func);
    for (int j = 0; j < 3; j++)
        sqlite3_bind_int64(u, 3 + j, val[j]);
    rc = sqlite3_step(u);
    sqlite3_reset(u);
    return rc == SQLITE_DONE ? 0 : rc;
}

/* Exact nearest-rank p50/p90/p99 of every function's durations on one
 * day: one pass over the day's rows sorted by (function, duration)
 * (SQLite's sorter spills to disk, so memory stays bounded; no index on
 * the function is needed), picking ranks ceil(p * n) of each function
 * with n from `fc` (sorted by function). */
static int
percentiles(sqlite3 *h, const char *day, const struct fcount *fc, size_t nf,
            int64_t a, int64_t b)
{
    static const int pct[3] = {50, 90, 99};
    sqlite3_stmt *s = NULL, *u = NULL;
    int64_t rank[3] = {0, 0, 0}, val[3] = {0, 0, 0}, i = 0, cur = 0;
    size_t k = 0;
    int have = 0, rc;

    rc = sqlite3_prepare_v2(h,
                            "SELECT func, dur_ns FROM calls WHERE ts >= ?1 "
                            "AND ts < ?2 ORDER BY func, dur_ns",
                            -1, &s, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(h,
                                "UPDATE daily_calls SET dur_p50 = ?3, "
                                "dur_p90 = ?4, dur_p99 = ?5 WHERE day = ?1 "
                                "AND func = ?2",
                                -1, &u, NULL);
    if (rc != SQLITE_OK)
        goto done;
    sqlite3_bind_int64(s, 1, a);
    sqlite3_bind_int64(s, 2, b);
    sqlite3_bind_text(u, 1, day, -1, SQLITE_TRANSIENT);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        int64_t f = sqlite3_column_int64(s, 0);
        if (!have || f != cur) {
            if (have && (rc = put_percentiles(u, cur, val)) != 0)
                goto done;
            while (k < nf && fc[k].func < f)
                k++;
            int64_t n = k < nf && fc[k].func == f ? fc[k].n : 0;
            for (int j = 0; j < 3; j++) {
                rank[j] = (pct[j] * n + 99) / 100; /* ceil(p/100 n) >= 1 */
                val[j] = 0;
            }
            cur = f;
            have = 1;
            i = 0;
        }
        i++;
        for (int j = 0; j < 3; j++)
            if (rank[j] == i)
                val[j] = sqlite3_column_int64(s, 1);
    }
    if (rc == SQLITE_DONE)
        rc = have ? put_percentiles(u, cur, val) : 0;
done:
    sqlite3_finalize(s);
    sqlite3_finalize(u);
    return rc == SQLITE_DONE ? 0 : rc;
}

static int
summarize_calls(sqlite3 *h, const char *day, int64_t a, int64_t b)
{
    sqlite3_stmt *s;
    struct fcount *fc = NULL;
    size_t nf = 0, cap = 0;
    int rc;

    rc = sqlite3_prepare_v2(
        h,
        "INSERT OR REPLACE INTO daily_calls(day, func, calls, errors, "
        "aborted, dur_sum, dur_min, dur_max) SELECT ?1, func, count(*), "
        "sum(status = 1), sum(status = 2), sum(dur_ns), min(dur_ns), "
        "max(dur_ns) FROM calls WHERE ts >= ?2 AND ts < ?3 GROUP BY func "
        "RETURNING func, calls",
        -1, &s, NULL);
    if (rc != SQLITE_OK)
        return rc;
    sqlite3_bind_text(s, 1, day, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(s, 2, a);
    sqlite3_bind_int64(s, 3, b);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (nf == cap) {
            size_t c = cap ? cap * 2 : 64;
            struct fcount *p = realloc(fc, c * sizeof *fc);
            if (!p) {
                rc = SQLITE_NOMEM;
                break;
            }
            fc = p;
            cap = c;
        }
        fc[nf].func = sqlite3_column_int64(s, 0);
        fc[nf].n = sqlite3_column_int64(s, 1);
        nf++;
    }
    sqlite3_finalize(s);
    if (rc == SQLITE_DONE) {
        /* RETURNING rows come in no promised order. */
        if (nf > 1)
            qsort(fc, nf, sizeof *fc, fcount_cmp);
        rc = nf ? percentiles(h, day, fc, nf, a, b) : 0;
    }
    free(fc);
    return rc == SQLITE_DONE ? 0 : rc;
}

/* Summarizes day [a, a + 1 day) and records it as done, atomically. */
static int
summarize_day(sqlite3 *h, int64_t a, struct cbl_maint *m)
{
    char day[16], sql[256];
    sqlite3_stmt *s;
    int rc;

    cbl_fmt_day(day, sizeof day, a);
    if ((rc = sqlite3_exec(h, "BEGIN IMMEDIATE", NULL, NULL, NULL)) != 0)
        goto fail;
    if ((rc = summarize_calls(h, day, a, a + DAY_NS)) != 0)
        goto fail;
    rc = sqlite3_prepare_v2(
        h,
        "INSERT OR REPLACE INTO daily_metrics(day, name, labels, kind, "
        "samples, sum, min, max) SELECT ?1, name, coalesce(labels, 0), kind, "
        "count(value), sum(value), min(value), max(value) FROM metrics "
        "WHERE ts >= ?2 AND ts < ?3 GROUP BY name, labels, kind",
        -1, &s, NULL);
    if (rc != SQLITE_OK)
        goto fail;
    sqlite3_bind_text(s, 1, day, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(s, 2, a);
    sqlite3_bind_int64(s, 3, a + DAY_NS);
    rc = sqlite3_step(s);
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE)
        goto fail;
    /* Never backwards: a day summarized again is an older one. */
    snprintf(sql, sizeof sql,
             "INSERT OR REPLACE INTO meta VALUES('summarized_until', "
             "max(%lld, coalesce((SELECT value FROM meta WHERE key = "
             "'summarized_until'), 0))); "
             "DELETE FROM resummarize WHERE day = %lld;",
             (long long)(a + DAY_NS), (long long)a);
    if ((rc = sqlite3_exec(h, sql, NULL, NULL, NULL)) != 0 ||
        (rc = sqlite3_exec(h, "COMMIT", NULL, NULL, NULL)) != 0)
        goto fail;
    m->days_summarized++;
    return 0;
fail:
    m->rc = rc ? rc : sqlite3_errcode(h);
    if (!sqlite3_get_autocommit(h))
        sqlite3_exec(h, "ROLLBACK", NULL, NULL, NULL);
    return -EIO;
}

/* The first day to summarize: the day after the last summarized one, or
 * the oldest row's day; never before what keep_summary would keep. */
static void
summary_start(sqlite3 *h, const struct cbl_retention *r, int64_t now,
              struct cbl_maint *m)
{
    int64_t until = query1(h,
                           "SELECT value FROM meta WHERE key = "
                           "'summarized_until'",
                           0, 0, INT64_MIN);
    if (until == INT64_MIN) {
        int64_t c = query1(h, "SELECT min(ts) FROM calls", 0, 0, INT64_MAX);
        int64_t x = query1(h, "SELECT min(ts) FROM metrics", 0, 0, INT64_MAX);
        until = c < x ? c : x;
        if (until != INT64_MAX)
            until = day_floor(until);
    }
    if (r->keep_summary_ns && until < now - (int64_t)r->keep_summary_ns)
        until = day_floor(now - (int64_t)r->keep_summary_ns);
    m->day = until;
}

/* ---- 2-4. deletion -------------------------------------------------------- */

/* Deletes up to CBL_DELETE_BATCH rows of `table` with ts < cut (oldest
 * first, through the table's ts index). Returns rows deleted or < 0. */
static int64_t
expire_batch(sqlite3 *h, const char *table, int64_t cut, struct cbl_maint *m)
{
    char sql[256];
    snprintf(sql, sizeof sql,
             "DELETE FROM %s WHERE rowid IN (SELECT rowid FROM %s WHERE "
             "ts < ?1 ORDER BY ts LIMIT %d)",
             table, table, CBL_DELETE_BATCH);
    return exec2(h, sql, cut, 0, m);
}

static int64_t
expire_sessions(sqlite3 *h, int64_t cut, struct cbl_maint *m)
{
    char sql[256];
    snprintf(sql, sizeof sql,
             "DELETE FROM sessions WHERE id IN (SELECT id FROM sessions "
             "WHERE start_ns < ?1 AND (end_ns IS NULL OR end_ns < ?1) "
             "LIMIT %d)",
             CBL_DELETE_BATCH);
    return exec2(h, sql, cut, 0, m);
}

/* Bytes held by live pages (the file minus its free list). */
static int64_t
live_bytes(sqlite3 *h)
{
    int64_t pages = query1(h, "PRAGMA page_count", 0, 0, 0);
    int64_t fl = query1(h, "PRAGMA freelist_count", 0, 0, 0);
    int64_t ps = query1(h, "PRAGMA page_size", 0, 0, 4096);
    return (pages - fl) * ps;
}

/* One size-cap batch: the oldest rows of whichever of calls, logs and
 * metrics holds the oldest row. Returns rows deleted (0: nothing left). */
static int64_t
cap_batch(sqlite3 *h, struct cbl_maint *m)
{
    static const char *const t[3] = {"calls", "logs", "metrics"};
    int best = -1;
    int64_t oldest = INT64_MAX;
    char sql[96];
    for (int i = 0; i < 3; i++) {
        snprintf(sql, sizeof sql, "SELECT min(ts) FROM %s", t[i]);
        int64_t v = query1(h, sql, 0, 0, INT64_MAX);
        if (v < oldest) {
            oldest = v;
            best = i;
        }
    }
    if (best < 0)
        return 0;
    snprintf(sql, sizeof sql,
             "DELETE FROM %s WHERE rowid IN (SELECT rowid FROM %s ORDER BY "
             "ts LIMIT %d)",
             t[best], t[best], CBL_DELETE_BATCH);
    return exec2(h, sql, 0, 0, m);
}

/* ---- the run -------------------------------------------------------------- */

static int
step_once(sqlite3 *h, const struct cbl_retention *r, int64_t now,
          struct cbl_maint *m)
{
    int64_t n, cut, day_ns;
    char day[16];

    switch (m->phase) {
    case P_SUMMARY_START:
        summary_start(h, r, now, m);
        m->phase = P_SUMMARY;
        return 0;
    case P_SUMMARY:
        /* Only complete days: the one containing `now` is not. */
        if (m->day == INT64_MAX || m->day + DAY_NS > day_floor(now)) {
            m->phase = P_RESUMMARIZE;
            return 0;
        }
        if (summarize_day(h, m->day, m) < 0)
            return -EIO;
        m->day += DAY_NS;
        return 0;
    case P_RESUMMARIZE:
        /* Days that got late rows after their summary (the writer marks
         * them): summarized again from their raw rows -- only while all
         * of those are kept, else the mark is dropped (the summary stays
         * as it was; the late rows go with the day's raw rows). */
        day_ns = query1(h, "SELECT min(day) FROM resummarize", 0, 0,
                        INT64_MAX);
        if (day_ns == INT64_MAX) {
            m->phase = P_EXPIRE_RAW;
            return 0;
        }
        if ((r->keep_raw_ns && day_ns < now - (int64_t)r->keep_raw_ns) ||
            (r->keep_summary_ns && day_ns < now - (int64_t)r->keep_summary_ns)) {
            if (exec2(h, "DELETE FROM resummarize WHERE day = ?1", day_ns, 0,
                      m) < 0)
                return -EIO;
            return 0;
        }
        if (summarize_day(h, day_ns, m) < 0)
            return -EIO;
        m->days_resummarized++;
        return 0;
    case P_EXPIRE_RAW:
        if (!r->keep_raw_ns) {
            m->phase = P_EXPIRE_SUMMARY;
            return 0;
        }
        cut = now - (int64_t)r->keep_raw_ns;
        if ((size_t)m->table < N_RAW)
            n = expire_batch(h, raw_tables[m->table], cut, m);
        else
            n = expire_sessions(h, cut, m);
        if (n < 0)
            return -EIO;
        m->rows_deleted += (uint64_t)n;
        if (n < CBL_DELETE_BATCH && ++m->table > (int)N_RAW) {
            m->table = 0;
            m->phase = P_EXPIRE_SUMMARY;
        }
        return 0;
    case P_EXPIRE_SUMMARY:
        if (r->keep_summary_ns) {
            cbl_fmt_day(day, sizeof day, now - (int64_t)r->keep_summary_ns);
            char sql[160];
            int64_t a, b;
            snprintf(sql, sizeof sql,
                     "DELETE FROM daily_calls WHERE day < '%s'", day);
            a = exec2(h, sql, 0, 0, m);
            snprintf(sql, sizeof sql,
                     "DELETE FROM daily_metrics WHERE day < '%s'", day);
            b = exec2(h, sql, 0, 0, m);
            if (a < 0 || b < 0)
                return -EIO;
            m->summaries_deleted += (uint64_t)(a + b);
        }
        m->phase = P_CAP;
        return 0;
    case P_CAP:
        if (!r->max_size_bytes || live_bytes(h) <= (int64_t)r->max_size_bytes) {
            m->phase = P_VACUUM;
            return 0;
        }
        n = cap_batch(h, m);
        if (n < 0)
            return -EIO;
        m->rows_capped += (uint64_t)n;
        if (n == 0)
            m->phase = P_VACUUM;
        return 0;
    case P_VACUUM:
        n = query1(h, "PRAGMA freelist_count", 0, 0, 0);
        /* A file made without auto_vacuum=INCREMENTAL cannot shrink
         * this way; a count that does not fall means the same. */
        if (n <= 0 || query1(h, "PRAGMA auto_vacuum", 0, 0, 0) != 2 ||
            n == m->last_free) {
            m->phase = P_DONE;
            return 0;
        }
        if (exec2(h, "PRAGMA incremental_vacuum(2000)", 0, 0, m) < 0)
            return -EIO;
        m->last_free = n;
        m->pages_vacuumed += (uint64_t)(n < 2000 ? n : 2000);
        return 0;
    default:
        return 0;
    }
}

int
cbl_maint_step(sqlite3 *h, const struct cbl_retention *r, int64_t now_ns,
               uint64_t budget_ns, struct cbl_maint *m)
{
    uint64_t t0 = mono_ns();
    while (m->phase != P_DONE) {
        if (step_once(h, r, now_ns, m) < 0)
            return -EIO;
        if (budget_ns && mono_ns() - t0 >= budget_ns)
            return m->phase != P_DONE;
    }
    return 0;
}
