/*
 * logdb.c -- the writer of the structured SQLite log (Req 1.5, seed task
 * 4.1): schema, pragmas, prepared statements, batched transactions.
 *
 * Why it is fast: every row is one sqlite3_step() of a statement prepared
 * once, inside a transaction of up to batch_rows rows; names are small
 * integers (the `names` side table), so a call row is a handful of
 * varints; the indexes are appended to near their right edge because
 * rows arrive in time order. Why it is durable: WAL with
 * synchronous=NORMAL, so a COMMIT that returned is in the WAL file before
 * the next write and survives kill -9 (not a power cut: that needs FULL).
 * Why the WAL stays bounded: the automatic PASSIVE checkpoint every 1000
 * pages, plus cbl_db_checkpoint() (TRUNCATE once the file exceeds
 * wal_max) and journal_size_limit.
 *
 * Error policy (see logdb.h): a statement that fails ends the batch: it
 * is rolled back, its rows are counted lost, and the next successful
 * transaction records the count in `losses`.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "logdb.h"

/* ======================================================================
 * Schema (docs/schema.md explains every column and index)
 * ====================================================================== */

/* Resume cursors (schema version 2: record numbers). */
static const char cursors_sql[] =
    "CREATE TABLE IF NOT EXISTS cursors(producer INTEGER NOT NULL,"
    " ring INTEGER NOT NULL, next_recno INTEGER NOT NULL,"
    " PRIMARY KEY(producer, ring)) WITHOUT ROWID;";

/* One statement per element (C99 limits a literal to 4095 bytes). */
static const char *const schema_sql[] = {
    "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value)"
    " WITHOUT ROWID;",
    "CREATE TABLE IF NOT EXISTS names(id INTEGER PRIMARY KEY,"
    " name TEXT NOT NULL UNIQUE);",
    "CREATE TABLE IF NOT EXISTS producers(id INTEGER PRIMARY KEY,"
    " pid INTEGER NOT NULL, start_time INTEGER NOT NULL,"
    " program TEXT NOT NULL, first_ns INTEGER NOT NULL, end_ns INTEGER,"
    " outcome TEXT, UNIQUE(pid, start_time));",
    cursors_sql,
    "CREATE TABLE IF NOT EXISTS sessions(id INTEGER PRIMARY KEY,"
    " producer INTEGER NOT NULL, sid INTEGER NOT NULL, name INTEGER,"
    " start_ns INTEGER, end_ns INTEGER, status INTEGER,"
    " total_weight REAL, done REAL, UNIQUE(producer, sid));",
    "CREATE INDEX IF NOT EXISTS sessions_start ON sessions(start_ns);",
    "CREATE TABLE IF NOT EXISTS calls(ts INTEGER PRIMARY KEY, dur_ns INTEGER NOT NULL, func INTEGER NOT NULL,"
    " status INTEGER NOT NULL, producer INTEGER NOT NULL, tid INTEGER,"
    " session INTEGER, err_code INTEGER, err_msg TEXT, params TEXT,"
    " perf TEXT, flags INTEGER);",
    /* No index on calls(func): rows arrive in time order, so an index
     * led by the function is inserted into in the middle, not at its
     * right edge -- 38% of the ingest CPU and 17 bytes per row
     * (docs/schema.md). Queries by function scan the time range. */
    "CREATE INDEX IF NOT EXISTS calls_failed_ts ON calls(ts)"
    " WHERE status <> 0;",
    "CREATE TABLE IF NOT EXISTS logs(ts INTEGER PRIMARY KEY, level INTEGER NOT NULL,"
    " producer INTEGER NOT NULL, tid INTEGER, session INTEGER,"
    " func INTEGER, msg TEXT, fields TEXT, flags INTEGER);",
    "CREATE TABLE IF NOT EXISTS progress(id INTEGER PRIMARY KEY,"
    " session INTEGER NOT NULL, ts INTEGER NOT NULL, step INTEGER,"
    " kind INTEGER NOT NULL, units REAL, fraction REAL);",
    "CREATE INDEX IF NOT EXISTS progress_session_ts ON progress(session, ts);",
    "CREATE INDEX IF NOT EXISTS progress_ts ON progress(ts);",
    "CREATE TABLE IF NOT EXISTS metrics(ts INTEGER PRIMARY KEY, name INTEGER NOT NULL, labels INTEGER,"
    " kind INTEGER NOT NULL, value REAL, producer INTEGER NOT NULL);",
    /* No index on metrics(name), for the reason calls(func) has none:
     * about 13% of clipbus-log's CPU on the analyzer's stream. Files
     * made before 2026-11-29 keep theirs (the planner still uses it). */
    "CREATE TABLE IF NOT EXISTS losses(id INTEGER PRIMARY KEY,"
    " ts INTEGER NOT NULL, producer INTEGER, ring INTEGER,"
    " count INTEGER NOT NULL, source TEXT NOT NULL);",
    "CREATE INDEX IF NOT EXISTS losses_ts ON losses(ts);",
    "CREATE TABLE IF NOT EXISTS daily_calls(day TEXT NOT NULL,"
    " func INTEGER NOT NULL, calls INTEGER NOT NULL, errors INTEGER NOT NULL,"
    " aborted INTEGER NOT NULL, dur_sum INTEGER, dur_min INTEGER,"
    " dur_max INTEGER, dur_p50 INTEGER, dur_p90 INTEGER, dur_p99 INTEGER,"
    " PRIMARY KEY(day, func)) WITHOUT ROWID;",
    /* Complete days already summarized that got late rows since. */
    "CREATE TABLE IF NOT EXISTS resummarize(day INTEGER PRIMARY KEY);",
    "CREATE TABLE IF NOT EXISTS daily_metrics(day TEXT NOT NULL,"
    " name INTEGER NOT NULL, labels INTEGER NOT NULL, kind INTEGER NOT NULL,"
    " samples INTEGER NOT NULL, sum REAL, min REAL, max REAL,"
    " PRIMARY KEY(day, name, labels, kind)) WITHOUT ROWID;",
    /* Views for people using the stock sqlite3 program. */
    "CREATE VIEW IF NOT EXISTS calls_v AS SELECT"
    " strftime('%Y-%m-%dT%H:%M:%fZ', c.ts / 1e9, 'unixepoch') AS time,"
    " n.name AS function, c.dur_ns / 1e6 AS ms,"
    " CASE c.status WHEN 0 THEN 'ok' WHEN 1 THEN 'error' ELSE 'aborted' END"
    " AS status, c.err_code, c.err_msg, sn.name AS session,"
    " p.program, p.pid, c.tid, c.params, c.ts"
    " FROM calls c JOIN names n ON n.id = c.func"
    " LEFT JOIN producers p ON p.id = c.producer"
    " LEFT JOIN sessions s ON s.id = c.session"
    " LEFT JOIN names sn ON sn.id = s.name;",
    "CREATE VIEW IF NOT EXISTS logs_v AS SELECT"
    " strftime('%Y-%m-%dT%H:%M:%fZ', l.ts / 1e9, 'unixepoch') AS time,"
    " CASE WHEN l.level >= 40 THEN 'error' WHEN l.level >= 30 THEN 'warn'"
    " WHEN l.level >= 20 THEN 'info' ELSE 'debug' END AS level,"
    " l.msg, n.name AS function, sn.name AS session, p.program, p.pid,"
    " l.tid, l.fields, l.ts"
    " FROM logs l LEFT JOIN names n ON n.id = l.func"
    " LEFT JOIN producers p ON p.id = l.producer"
    " LEFT JOIN sessions s ON s.id = l.session"
    " LEFT JOIN names sn ON sn.id = s.name;",
    "CREATE VIEW IF NOT EXISTS sessions_v AS SELECT s.id, n.name AS name,"
    " strftime('%Y-%m-%dT%H:%M:%fZ', s.start_ns / 1e9, 'unixepoch')"
    " AS start, strftime('%Y-%m-%dT%H:%M:%fZ', s.end_ns / 1e9, 'unixepoch')"
    " AS end, CASE s.status WHEN 0 THEN 'ok' WHEN 1 THEN 'failed'"
    " WHEN 2 THEN 'aborted' WHEN 3 THEN 'partial' ELSE 'running' END"
    " AS status, s.total_weight, s.done, p.program, p.pid"
    " FROM sessions s LEFT JOIN names n ON n.id = s.name"
    " LEFT JOIN producers p ON p.id = s.producer;",
    "CREATE VIEW IF NOT EXISTS metrics_v AS SELECT"
    " strftime('%Y-%m-%dT%H:%M:%fZ', m.ts / 1e9, 'unixepoch') AS time,"
    " n.name AS name, ln.name AS labels,"
    " CASE m.kind WHEN 7 THEN 'count' WHEN 8 THEN 'gauge' ELSE 'observe'"
    " END AS kind, m.value, p.program, p.pid, m.ts"
    " FROM metrics m JOIN names n ON n.id = m.name"
    " LEFT JOIN names ln ON ln.id = m.labels"
    " LEFT JOIN producers p ON p.id = m.producer;",
    "CREATE VIEW IF NOT EXISTS daily_calls_v AS SELECT d.day,"
    " n.name AS function, d.calls, d.errors, d.aborted,"
    " d.dur_sum / 1e6 / d.calls AS mean_ms, d.dur_p50 / 1e6 AS p50_ms,"
    " d.dur_p90 / 1e6 AS p90_ms, d.dur_p99 / 1e6 AS p99_ms,"
    " d.dur_max / 1e6 AS max_ms"
    " FROM daily_calls d JOIN names n ON n.id = d.func;",
};

/* ======================================================================
 * The writer
 * ====================================================================== */

enum stmt_id {
    S_BEGIN,
    S_COMMIT,
    S_ROLLBACK,
    S_NAME_GET,
    S_NAME_PUT,
    S_PROD_GET,
    S_PROD_PUT,
    S_PROD_END,
    S_CALL,
    S_LOG,
    S_METRIC,
    S_PROGRESS,
    S_LOSS,
    S_SESS_GET,
    S_SESS_PUT,
    S_SESS_BEGIN,
    S_SESS_END,
    S_CURSOR_PUT,
    S_CURSOR_GET,
    S_SESS_STATE,
    S_SUMMARIZED,
    S_MARK_DAY,
    S_COUNT
};

static const char *const stmt_sql[S_COUNT] = {
    /* IMMEDIATE: the write lock (or SQLITE_BUSY after busy_timeout) at
     * once, so what the batch reads first (summarized_until) cannot be
     * overtaken by another writer's commit. */
    [S_BEGIN] = "BEGIN IMMEDIATE",
    [S_COMMIT] = "COMMIT",
    [S_ROLLBACK] = "ROLLBACK",
    [S_NAME_GET] = "SELECT id FROM names WHERE name = ?1",
    [S_NAME_PUT] = "INSERT INTO names(name) VALUES(?1)",
    [S_PROD_GET] = "SELECT id FROM producers WHERE pid = ?1 AND "
                   "start_time = ?2",
    [S_PROD_PUT] = "INSERT INTO producers(pid, start_time, program, "
                   "first_ns) VALUES(?1, ?2, ?3, ?4)",
    [S_PROD_END] = "UPDATE producers SET end_ns = ?2, outcome = ?3 "
                   "WHERE id = ?1",
    [S_CALL] = "INSERT INTO calls(ts, dur_ns, func, status, producer, tid, "
               "session, err_code, err_msg, params, perf, flags) "
               "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
    [S_LOG] = "INSERT INTO logs(ts, level, producer, tid, session, func, "
              "msg, fields, flags) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    [S_METRIC] = "INSERT INTO metrics(ts, name, labels, kind, value, "
                 "producer) VALUES(?1, ?2, ?3, ?4, ?5, ?6)",
    [S_PROGRESS] = "INSERT INTO progress(session, ts, step, kind, units, "
                   "fraction) VALUES(?1, ?2, ?3, ?4, ?5, ?6)",
    [S_LOSS] = "INSERT INTO losses(ts, producer, ring, count, source) "
               "VALUES(?1, ?2, ?3, ?4, ?5)",
    [S_SESS_GET] = "SELECT id FROM sessions WHERE producer = ?1 AND sid = ?2",
    [S_SESS_PUT] = "INSERT INTO sessions(producer, sid) VALUES(?1, ?2)",
    [S_SESS_BEGIN] = "UPDATE sessions SET name = ?2, start_ns = ?3, "
                     "total_weight = ?4 WHERE id = ?1",
    [S_SESS_END] = "UPDATE sessions SET end_ns = ?2, status = ?3, done = ?4 "
                   "WHERE id = ?1 AND status IS NULL",
    [S_CURSOR_PUT] = "INSERT OR REPLACE INTO cursors(producer, ring, "
                     "next_recno) VALUES(?1, ?2, ?3)",
    [S_CURSOR_GET] = "SELECT ring, next_recno FROM cursors WHERE "
                     "producer = ?1",
    [S_SESS_STATE] = "SELECT total_weight, (SELECT total(units) FROM "
                     "progress WHERE session = ?1) FROM sessions WHERE "
                     "id = ?1",
    [S_SUMMARIZED] = "SELECT value FROM meta WHERE key = 'summarized_until'",
    [S_MARK_DAY] = "INSERT OR IGNORE INTO resummarize(day) VALUES(?1)",
};

struct cbl_db {
    sqlite3 *h;
    sqlite3_stmt *st[S_COUNT];
    struct cbl_opts opts;
    int in_txn;
    uint64_t txn_rows;     /* rows in the open transaction */
    uint64_t txn_start_ns; /* monotonic time of its first row */
    uint64_t pending_loss; /* lost rows not yet recorded in `losses` */
    uint64_t txn_loss;     /* counts of the `losses` rows in the batch */
    uint64_t retry_ns;     /* after a failure: drop rows until then */
    uint64_t rollbacks;    /* batches rolled back: cached ids are stale */
    int failed;            /* corrupt: stop */
    int64_t summarized_until; /* meta's, read at BEGIN; INT64_MIN: none */
    int64_t marked_day;    /* last day put in `resummarize` this batch */
    cbl_precommit_fn precommit;
    void *precommit_arg;
    struct cbl_db_stats stats;
};

static uint64_t
mono_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static uint64_t
real_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

/* Remembers a failure; a corrupt file stops the writer for good. */
static void
note_error(struct cbl_db *db, int rc)
{
    db->stats.last_rc = rc;
    snprintf(db->stats.last_error, sizeof db->stats.last_error, "%s",
             sqlite3_errmsg(db->h));
    rc &= 0xff;
    if (rc == SQLITE_CORRUPT || rc == SQLITE_NOTADB)
        db->failed = 1;
}

/* Ends a failed batch: roll back (SQLite may have done so already, e.g.
 * after SQLITE_FULL) and count its rows lost. */
static void
batch_fail(struct cbl_db *db, int rc)
{
    note_error(db, rc);
    db->stats.failures++;
    /* Locked, full or failing: rows are counted, not retried one by one
     * (each retry could wait busy_timeout), until a second has passed. */
    db->retry_ns = mono_ns() + 1000000000u;
    if (db->in_txn) {
        if (!sqlite3_get_autocommit(db->h)) {
            sqlite3_step(db->st[S_ROLLBACK]);
            sqlite3_reset(db->st[S_ROLLBACK]);
        }
        db->rollbacks++;
        db->stats.lost_rows += db->txn_rows;
        /* The batch's own loss reports are gone with it: kept for the
         * next `db` row, so no count of a loss is ever dropped. */
        db->pending_loss += db->txn_rows + db->txn_loss;
    }
    db->in_txn = 0;
    db->txn_rows = 0;
}

/* Runs a prepared statement with its bindings to completion. */
static int
run(struct cbl_db *db, enum stmt_id id)
{
    sqlite3_stmt *s = db->st[id];
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : rc;
}

static int
begin_if_needed(struct cbl_db *db)
{
    int rc;
    if (db->in_txn)
        return 0;
    if (db->failed)
        return SQLITE_CORRUPT;
    if (db->retry_ns && mono_ns() < db->retry_ns)
        return SQLITE_BUSY;
    db->retry_ns = 0;
    rc = run(db, S_BEGIN);
    if (rc != 0) {
        note_error(db, rc);
        return rc;
    }
    db->in_txn = 1;
    db->txn_rows = 0;
    db->txn_loss = 0;
    db->txn_start_ns = mono_ns();
    db->marked_day = INT64_MIN;
    db->summarized_until = INT64_MIN;
    {
        sqlite3_stmt *q = db->st[S_SUMMARIZED];
        if (sqlite3_step(q) == SQLITE_ROW &&
            sqlite3_column_type(q, 0) != SQLITE_NULL)
            db->summarized_until = sqlite3_column_int64(q, 0);
        sqlite3_reset(q);
    }
    if (db->pending_loss > 0) {
        /* The losses row of earlier failures joins this transaction: it
         * commits (and is counted as stored) only with it. */
        uint64_t n = db->pending_loss;
        db->pending_loss = 0;
        if (cbl_loss_add(db, (int64_t)real_ns(), 0, -1, n, "db") != 0)
            db->pending_loss += n;
    }
    return 0;
}

/* Before one data row: the batch's transaction is open, or the row is
 * counted lost (stats and the next losses row). Returns 0 or -EIO. */
static int
row_begin(struct cbl_db *db)
{
    if (begin_if_needed(db) == 0)
        return 0;
    db->stats.lost_rows++;
    db->pending_loss++;
    return -EIO;
}

int cbl_db_commit(struct cbl_db *db);

/* Steps statement `id` as one row of the batch. */
static int
add_row(struct cbl_db *db, enum stmt_id id)
{
    int rc = run(db, id);
    if (rc != 0) {
        batch_fail(db, rc);
        db->stats.lost_rows++;
        db->pending_loss++;
        return -EIO;
    }
    db->txn_rows++;
    if ((int64_t)db->txn_rows >= db->opts.batch_rows)
        return cbl_db_commit(db);
    return 0;
}

/* As add_row() for tables keyed by time (calls, logs, metrics: ts is the
 * INTEGER PRIMARY KEY, so the table is its own time index). A row whose
 * ns is taken is stored 1 ns later: two events in the same nanosecond are
 * kept 1 ns apart. A failed constraint undoes only the statement. */
static int
add_row_ts(struct cbl_db *db, enum stmt_id id, int64_t ts)
{
    sqlite3_stmt *s = db->st[id];
    int rc;
    for (int k = 1; k <= 1000; k++) {
        rc = sqlite3_step(s);
        if (rc != SQLITE_CONSTRAINT_PRIMARYKEY)
            break;
        sqlite3_reset(s);
        sqlite3_bind_int64(s, 1, ts + k);
    }
    /* No sqlite3_clear_bindings(): the row functions bind every
     * parameter of these statements each time. */
    sqlite3_reset(s);
    if (rc != SQLITE_DONE) {
        batch_fail(db, rc);
        db->stats.lost_rows++;
        db->pending_loss++;
        return -EIO;
    }
    db->txn_rows++;
    if ((int64_t)db->txn_rows >= db->opts.batch_rows)
        return cbl_db_commit(db);
    return 0;
}

int
cbl_db_commit(struct cbl_db *db)
{
    int rc;
    if (!db->in_txn)
        return 0;
    if (db->precommit && db->precommit(db->precommit_arg, db) != 0) {
        batch_fail(db, db->stats.last_rc ? db->stats.last_rc : SQLITE_ERROR);
        return -EIO;
    }
    rc = run(db, S_COMMIT);
    if (rc != 0) {
        batch_fail(db, rc);
        return -EIO;
    }
    db->stats.rows += db->txn_rows;
    db->stats.commits++;
    db->in_txn = 0;
    db->txn_rows = 0;
    return 0;
}

int
cbl_db_tick(struct cbl_db *db, uint64_t now)
{
    if (!db->in_txn) {
        /* Record earlier losses even when no row comes. */
        if (db->pending_loss == 0 || begin_if_needed(db) != 0)
            return 0;
    }
    if ((int64_t)db->txn_rows >= db->opts.batch_rows ||
        now - db->txn_start_ns >= db->opts.commit_interval_ns)
        return cbl_db_commit(db);
    return 0;
}

int64_t
cbl_db_checkpoint(struct cbl_db *db)
{
    struct stat st;
    char wal[4200];
    int64_t size = 0;
    int mode = SQLITE_CHECKPOINT_PASSIVE;

    snprintf(wal, sizeof wal, "%s-wal", db->opts.path);
    if (stat(wal, &st) == 0)
        size = st.st_size;
    if ((uint64_t)size > db->opts.wal_max_bytes)
        mode = SQLITE_CHECKPOINT_TRUNCATE;
    if (db->in_txn && cbl_db_commit(db) != 0)
        return -EIO;
    int rc = sqlite3_wal_checkpoint_v2(db->h, NULL, mode, NULL, NULL);
    if (rc != SQLITE_OK && rc != SQLITE_BUSY) {
        note_error(db, rc);
        return -EIO;
    }
    return size;
}

static int
exec(sqlite3 *h, const char *sql, char *err, size_t err_len, const char *path)
{
    char *msg = NULL;
    int rc = sqlite3_exec(h, sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK) {
        snprintf(err, err_len, "%s: %s", path, msg ? msg : sqlite3_errstr(rc));
        sqlite3_free(msg);
    }
    return rc;
}

/* The schema version in `meta`: 0 for a new file, -1 if it is not ours. */
static int
schema_version(sqlite3 *h)
{
    sqlite3_stmt *s = NULL;
    int v = -1;
    if (sqlite3_prepare_v2(h, "SELECT count(*) FROM sqlite_schema", -1, &s,
                           NULL) != SQLITE_OK)
        return -2;
    if (sqlite3_step(s) == SQLITE_ROW && sqlite3_column_int(s, 0) == 0)
        v = 0;
    sqlite3_finalize(s);
    if (v == 0)
        return 0;
    if (sqlite3_prepare_v2(h, "SELECT value FROM meta WHERE key = 'schema'",
                           -1, &s, NULL) != SQLITE_OK)
        return -1;
    if (sqlite3_step(s) == SQLITE_ROW)
        v = sqlite3_column_int(s, 0);
    sqlite3_finalize(s);
    return v;
}

/* Creates the tables of a new file (v 0) or upgrades version v, in one
 * transaction. Returns 0 or -EIO with the reason in err. */
_Static_assert(CBL_SCHEMA_VERSION == 2, "create_schema() writes version 2");

static int
create_schema(struct cbl_db *db, int v, char *err, size_t err_len)
{
    const char *path = db->opts.path;

    if (exec(db->h, "BEGIN IMMEDIATE", err, err_len, path))
        return -EIO;
    for (size_t i = 0; i < sizeof schema_sql / sizeof schema_sql[0]; i++)
        if (exec(db->h, schema_sql[i], err, err_len, path))
            goto fail;
    /* Version 1 kept a finish time per ring in `cursors`: resuming by
     * time could store an entry twice (the reader refines its clock
     * between runs). Version 2 keeps record numbers; the old cursors are
     * dropped (entries of producers still on the bus are then stored
     * again once, at the upgrade). */
    if (v == 1 && (exec(db->h, "DROP TABLE cursors", err, err_len, path) ||
                   exec(db->h, cursors_sql, err, err_len, path) ||
                   exec(db->h,
                        "UPDATE meta SET value = 2 WHERE key = 'schema'",
                        err, err_len, path)))
        goto fail;
    if (exec(db->h,
             "INSERT OR IGNORE INTO meta VALUES('schema', 2);"
             "INSERT OR IGNORE INTO meta VALUES('created_ns',"
             " CAST(strftime('%s','now') AS INTEGER) * 1000000000);",
             err, err_len, path) ||
        exec(db->h, "COMMIT", err, err_len, path))
        goto fail;
    return 0;
fail:
    sqlite3_exec(db->h, "ROLLBACK", NULL, NULL, NULL);
    return -EIO;
}

static int
setup(struct cbl_db *db, char *err, size_t err_len)
{
    const char *path = db->opts.path;
    char pragmas[256];
    int v;

    sqlite3_busy_timeout(db->h, (int)(db->opts.busy_timeout_ns / 1000000u));
    v = schema_version(db->h);
    if (v == -2) {
        snprintf(err, err_len, "%s: %s (is it a SQLite database?)", path,
                 sqlite3_errmsg(db->h));
        return -EINVAL;
    }
    if (v < 0 || v > CBL_SCHEMA_VERSION) {
        snprintf(err, err_len,
                 "%s: not a clipbus log of schema version %d (found %d); "
                 "use another file",
                 path, CBL_SCHEMA_VERSION, v);
        return -EINVAL;
    }
    /* Page size and auto_vacuum must be chosen before the first table
     * exists. 16 KiB pages: fewer page splits and b-tree levels per row
     * appended (about 3% less CPU than 4 KiB in bench_log). */
    if (v == 0 && exec(db->h,
                       "PRAGMA page_size=16384; PRAGMA auto_vacuum=INCREMENTAL",
                       err, err_len, path))
        return -EIO;
    if (exec(db->h, "PRAGMA journal_mode=WAL", err, err_len, path))
        return -EIO;
    snprintf(pragmas, sizeof pragmas,
             "PRAGMA synchronous=NORMAL; PRAGMA cache_size=-65536;"
             "PRAGMA temp_store=MEMORY; PRAGMA journal_size_limit=%llu;"
             "PRAGMA foreign_keys=OFF;",
             (unsigned long long)db->opts.wal_max_bytes);
    if (exec(db->h, pragmas, err, err_len, path))
        return -EIO;
    /* An existing log needs no schema work: that lets clipbus-log start
     * while another program holds the write lock (its rows are then
     * counted lost until the lock goes, see logdb.h). */
    if (v != CBL_SCHEMA_VERSION && create_schema(db, v, err, err_len) < 0)
        return -EIO;
    for (int i = 0; i < S_COUNT; i++)
        if (sqlite3_prepare_v3(db->h, stmt_sql[i], -1,
                               SQLITE_PREPARE_PERSISTENT, &db->st[i],
                               NULL) != SQLITE_OK) {
            snprintf(err, err_len, "%s: %s", path, sqlite3_errmsg(db->h));
            return -EIO;
        }
    return 0;
}

int
cbl_sqlite_setup(void)
{
    /* SQLITE_MISUSE once SQLite is initialized: then nothing changes. */
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
    return sqlite3_initialize() == SQLITE_OK ? 0 : -ENOMEM;
}

int
cbl_db_open(const struct cbl_opts *opts, struct cbl_db **out, char *err,
            size_t err_len)
{
    struct cbl_db *db = calloc(1, sizeof *db);
    int rc;

    *out = NULL;
    if (!db) {
        snprintf(err, err_len, "%s: out of memory", opts->path);
        return -ENOMEM;
    }
    db->opts = *opts;
    if (db->opts.batch_rows <= 0)
        db->opts.batch_rows = 50000;
    if (db->opts.commit_interval_ns == 0)
        db->opts.commit_interval_ns = 200000000u;
    if (db->opts.wal_max_bytes == 0)
        db->opts.wal_max_bytes = 64u << 20;
    rc = sqlite3_open_v2(opts->path, &db->h,
                         SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
                             SQLITE_OPEN_NOMUTEX,
                         NULL);
    if (rc != SQLITE_OK) {
        snprintf(err, err_len, "%s: cannot open: %s", opts->path,
                 db->h ? sqlite3_errmsg(db->h) : sqlite3_errstr(rc));
        cbl_db_close(db);
        return -EIO;
    }
    sqlite3_extended_result_codes(db->h, 1);
    rc = setup(db, err, err_len);
    if (rc < 0) {
        cbl_db_close(db);
        return rc;
    }
    *out = db;
    return 0;
}

void
cbl_db_close(struct cbl_db *db)
{
    if (!db)
        return;
    if (db->h && db->in_txn)
        cbl_db_commit(db);
    for (int i = 0; i < S_COUNT; i++)
        sqlite3_finalize(db->st[i]);
    sqlite3_close(db->h);
    free(db);
}

sqlite3 *
cbl_db_handle(struct cbl_db *db)
{
    return db->h;
}

void
cbl_db_set_precommit(struct cbl_db *db, cbl_precommit_fn fn, void *arg)
{
    db->precommit = fn;
    db->precommit_arg = arg;
}

void
cbl_db_stats(const struct cbl_db *db, struct cbl_db_stats *out)
{
    *out = db->stats;
}

void
cbl_db_count_lost(struct cbl_db *db, uint64_t rows)
{
    db->stats.lost_rows += rows;
    db->pending_loss += rows;
}

uint64_t
cbl_db_rollbacks(const struct cbl_db *db)
{
    return db->rollbacks;
}

int
cbl_db_failed(const struct cbl_db *db)
{
    return db->failed;
}

int
cbl_db_pending(const struct cbl_db *db)
{
    return db->in_txn || db->pending_loss != 0;
}

/* ======================================================================
 * Interning and the small tables
 * ====================================================================== */

/* Binds text that may be NULL; SQLITE_STATIC: the caller's bytes outlive
 * the step (every statement is reset before add_row returns). */
static void
bind_text(sqlite3_stmt *s, int i, const char *p, size_t n)
{
    if (p)
        sqlite3_bind_text(s, i, p, (int)n, SQLITE_STATIC);
    else
        sqlite3_bind_null(s, i);
}

static void
bind_id(sqlite3_stmt *s, int i, int64_t v)
{
    if (v)
        sqlite3_bind_int64(s, i, v);
    else
        sqlite3_bind_null(s, i);
}

/* Steps a single-row SELECT; its first column or 0. */
static int64_t
lookup(struct cbl_db *db, enum stmt_id id)
{
    sqlite3_stmt *s = db->st[id];
    int64_t v = 0;
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW)
        v = sqlite3_column_int64(s, 0);
    else if (rc != SQLITE_DONE)
        note_error(db, rc);
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return v;
}

int64_t
cbl_name_id(struct cbl_db *db, const char *s, size_t n)
{
    int64_t id;
    bind_text(db->st[S_NAME_GET], 1, s, n);
    id = lookup(db, S_NAME_GET);
    if (id || begin_if_needed(db) != 0)
        return id;
    bind_text(db->st[S_NAME_PUT], 1, s, n);
    if (run(db, S_NAME_PUT) != 0) {
        batch_fail(db, sqlite3_errcode(db->h));
        return 0;
    }
    return sqlite3_last_insert_rowid(db->h);
}

int64_t
cbl_producer_id(struct cbl_db *db, uint32_t pid, uint64_t start_time,
                const char *program, uint64_t now_ns, int *known)
{
    int64_t id;
    sqlite3_bind_int64(db->st[S_PROD_GET], 1, pid);
    sqlite3_bind_int64(db->st[S_PROD_GET], 2, (int64_t)start_time);
    id = lookup(db, S_PROD_GET);
    *known = id != 0;
    if (id || begin_if_needed(db) != 0)
        return id;
    sqlite3_stmt *s = db->st[S_PROD_PUT];
    sqlite3_bind_int64(s, 1, pid);
    sqlite3_bind_int64(s, 2, (int64_t)start_time);
    bind_text(s, 3, program, strlen(program));
    sqlite3_bind_int64(s, 4, (int64_t)now_ns);
    if (run(db, S_PROD_PUT) != 0) {
        batch_fail(db, sqlite3_errcode(db->h));
        return 0;
    }
    return sqlite3_last_insert_rowid(db->h);
}

int
cbl_producer_end(struct cbl_db *db, int64_t producer, uint64_t end_ns,
                 const char *outcome)
{
    sqlite3_stmt *s = db->st[S_PROD_END];
    if (begin_if_needed(db) != 0)
        return -EIO;
    sqlite3_bind_int64(s, 1, producer);
    sqlite3_bind_int64(s, 2, (int64_t)end_ns);
    bind_text(s, 3, outcome, strlen(outcome));
    return add_row(db, S_PROD_END);
}

/* ======================================================================
 * Rows
 * ====================================================================== */

/* A row for a day already summarized: marks the day for maintenance to
 * summarize again (maint.h), in the row's transaction. */
static void
late_row(struct cbl_db *db, int64_t ts)
{
    int64_t day;
    if (ts >= db->summarized_until)
        return;
    day = ts / CBL_DAY_NS * CBL_DAY_NS;
    if (ts < 0 || day == db->marked_day)
        return;
    sqlite3_bind_int64(db->st[S_MARK_DAY], 1, day);
    if (run(db, S_MARK_DAY) == 0)
        db->marked_day = day;
}

int
cbl_call_add(struct cbl_db *db, const struct cbl_call *c)
{
    sqlite3_stmt *s = db->st[S_CALL];
    if (row_begin(db) != 0)
        return -EIO;
    sqlite3_bind_int64(s, 1, c->ts);
    sqlite3_bind_int64(s, 2, c->dur_ns);
    sqlite3_bind_int64(s, 3, c->func);
    sqlite3_bind_int(s, 4, c->status);
    sqlite3_bind_int64(s, 5, c->producer);
    bind_id(s, 6, c->tid);
    bind_id(s, 7, c->session);
    if (c->has_err) {
        sqlite3_bind_int64(s, 8, c->err_code);
        bind_text(s, 9, c->err_msg, c->err_len);
    } else {
        sqlite3_bind_null(s, 8);
        sqlite3_bind_null(s, 9);
    }
    bind_text(s, 10, c->params, c->params_len);
    bind_text(s, 11, c->perf, c->perf_len);
    bind_id(s, 12, c->flags);
    late_row(db, c->ts);
    return add_row_ts(db, S_CALL, c->ts);
}

int
cbl_log_add(struct cbl_db *db, const struct cbl_log *l)
{
    sqlite3_stmt *s = db->st[S_LOG];
    if (row_begin(db) != 0)
        return -EIO;
    sqlite3_bind_int64(s, 1, l->ts);
    sqlite3_bind_int(s, 2, l->level);
    sqlite3_bind_int64(s, 3, l->producer);
    bind_id(s, 4, l->tid);
    bind_id(s, 5, l->session);
    bind_id(s, 6, l->func);
    bind_text(s, 7, l->msg ? l->msg : "", l->msg_len);
    bind_text(s, 8, l->fields, l->fields_len);
    bind_id(s, 9, l->flags);
    return add_row_ts(db, S_LOG, l->ts);
}

int
cbl_metric_add(struct cbl_db *db, const struct cbl_metric *m)
{
    sqlite3_stmt *s = db->st[S_METRIC];
    if (row_begin(db) != 0)
        return -EIO;
    sqlite3_bind_int64(s, 1, m->ts);
    sqlite3_bind_int64(s, 2, m->name);
    bind_id(s, 3, m->labels);
    sqlite3_bind_int(s, 4, m->kind);
    sqlite3_bind_double(s, 5, m->value); /* NaN binds as NULL */
    sqlite3_bind_int64(s, 6, m->producer);
    late_row(db, m->ts);
    return add_row_ts(db, S_METRIC, m->ts);
}

int
cbl_progress_add(struct cbl_db *db, int64_t session, int64_t ts, int64_t step,
                 int kind, double units, double fraction)
{
    sqlite3_stmt *s = db->st[S_PROGRESS];
    if (row_begin(db) != 0)
        return -EIO;
    sqlite3_bind_int64(s, 1, session);
    sqlite3_bind_int64(s, 2, ts);
    bind_id(s, 3, step);
    sqlite3_bind_int(s, 4, kind);
    sqlite3_bind_double(s, 5, units);
    if (fraction >= 0)
        sqlite3_bind_double(s, 6, fraction);
    return add_row(db, S_PROGRESS);
}

int
cbl_loss_add(struct cbl_db *db, int64_t ts, int64_t producer, int64_t ring,
             uint64_t count, const char *source)
{
    sqlite3_stmt *s = db->st[S_LOSS];
    if (begin_if_needed(db) != 0) {
        db->pending_loss += count;
        return -EIO;
    }
    sqlite3_bind_int64(s, 1, ts);
    bind_id(s, 2, producer);
    if (ring >= 0)
        sqlite3_bind_int64(s, 3, ring);
    sqlite3_bind_int64(s, 4, (int64_t)(count > INT64_MAX ? INT64_MAX : count));
    bind_text(s, 5, source, strlen(source));
    db->txn_loss += count;
    return add_row(db, S_LOSS);
}

int64_t
cbl_session_ref(struct cbl_db *db, int64_t producer, uint32_t sid)
{
    int64_t id;
    sqlite3_bind_int64(db->st[S_SESS_GET], 1, producer);
    sqlite3_bind_int64(db->st[S_SESS_GET], 2, sid);
    id = lookup(db, S_SESS_GET);
    if (id || begin_if_needed(db) != 0)
        return id;
    sqlite3_bind_int64(db->st[S_SESS_PUT], 1, producer);
    sqlite3_bind_int64(db->st[S_SESS_PUT], 2, sid);
    if (run(db, S_SESS_PUT) != 0) {
        batch_fail(db, sqlite3_errcode(db->h));
        return 0;
    }
    return sqlite3_last_insert_rowid(db->h);
}

int64_t
cbl_session_begin(struct cbl_db *db, int64_t producer, uint32_t sid,
                  int64_t name, int64_t start_ns, double total)
{
    int64_t id = cbl_session_ref(db, producer, sid);
    sqlite3_stmt *s = db->st[S_SESS_BEGIN];
    if (!id)
        return 0;
    sqlite3_bind_int64(s, 1, id);
    bind_id(s, 2, name);
    sqlite3_bind_int64(s, 3, start_ns);
    sqlite3_bind_double(s, 4, total);
    return add_row(db, S_SESS_BEGIN) == 0 ? id : 0;
}

int
cbl_session_end(struct cbl_db *db, int64_t session, int64_t end_ns, int status,
                double done)
{
    sqlite3_stmt *s = db->st[S_SESS_END];
    if (begin_if_needed(db) != 0)
        return -EIO;
    sqlite3_bind_int64(s, 1, session);
    sqlite3_bind_int64(s, 2, end_ns);
    sqlite3_bind_int(s, 3, status);
    sqlite3_bind_double(s, 4, done);
    return add_row(db, S_SESS_END);
}

int
cbl_cursor_put(struct cbl_db *db, int64_t producer, uint32_t ring,
               uint64_t next_recno)
{
    sqlite3_stmt *s = db->st[S_CURSOR_PUT];
    sqlite3_bind_int64(s, 1, producer);
    sqlite3_bind_int64(s, 2, ring);
    sqlite3_bind_int64(s, 3, (int64_t)next_recno);
    int rc = run(db, S_CURSOR_PUT);
    if (rc != 0)
        note_error(db, rc);
    return rc == 0 ? 0 : -EIO;
}

int
cbl_cursor_load(struct cbl_db *db, int64_t producer,
                void (*fn)(void *arg, uint32_t ring, uint64_t next_recno),
                void *arg)
{
    sqlite3_stmt *s = db->st[S_CURSOR_GET];
    int rc;
    sqlite3_bind_int64(s, 1, producer);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW)
        fn(arg, (uint32_t)sqlite3_column_int64(s, 0),
           (uint64_t)sqlite3_column_int64(s, 1));
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return rc == SQLITE_DONE ? 0 : -EIO;
}

int
cbl_session_state(struct cbl_db *db, int64_t session, double *total,
                  double *done)
{
    sqlite3_stmt *s = db->st[S_SESS_STATE];
    int rc;
    *total = 0;
    *done = 0;
    sqlite3_bind_int64(s, 1, session);
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        *total = sqlite3_column_double(s, 0); /* NULL reads as 0 */
        *done = sqlite3_column_double(s, 1);
    } else if (rc != SQLITE_DONE) {
        note_error(db, rc);
    }
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -EIO;
}

/* ======================================================================
 * Readers
 * ====================================================================== */

int
cbl_open_readonly(const char *path, sqlite3 **out, char *err, size_t err_len)
{
    sqlite3 *h = NULL;
    struct stat st;
    int v;

    *out = NULL;
    if (stat(path, &st) != 0) {
        snprintf(err, err_len, "%s: %s (is clipbus-log writing to another "
                               "file? see --db)",
                 path, strerror(errno));
        return -errno;
    }
    if (sqlite3_open_v2(path, &h, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        snprintf(err, err_len, "%s: cannot open: %s", path,
                 h ? sqlite3_errmsg(h) : "out of memory");
        sqlite3_close(h);
        return -EIO;
    }
    sqlite3_busy_timeout(h, 2000);
    sqlite3_exec(h, "PRAGMA query_only=1", NULL, NULL, NULL);
    v = schema_version(h);
    if (v == -2) {
        snprintf(err, err_len, "%s: %s (is it a SQLite database?)", path,
                 sqlite3_errmsg(h));
        sqlite3_close(h);
        return -EINVAL;
    }
    if (v <= 0 || v > CBL_SCHEMA_VERSION) {
        snprintf(err, err_len, "%s: not a clipbus log (schema version %d "
                               "expected)",
                 path, CBL_SCHEMA_VERSION);
        sqlite3_close(h);
        return -EINVAL;
    }
    *out = h;
    return 0;
}
