/*
 * logdb.h -- the structured SQLite log: the database of clipbus-log and
 * the code that reads it for `clipbus query`, `export` and `log status`.
 *
 * One SQLite file in WAL mode (synchronous=NORMAL: a committed
 * transaction survives a crash of the process; docs/schema.md has the
 * tables, indexes and views). The writer (cbl_db) appends rows inside an
 * open transaction with prepared statements and commits every
 * `batch_rows` rows or `commit_interval` after the first row, whichever
 * comes first. Names (functions, metrics, sessions, label sets) are
 * interned once in the `names` table.
 *
 * Failure policy of the writer (issue 6, "Bad input"): it never waits
 * longer than busy_timeout for a lock. Rows it cannot store -- lock not
 * obtained, disk full, I/O error -- are counted (cbl_db_stats.lost_rows)
 * and written as one `losses` row (source "db") by the next transaction
 * that succeeds, so a loss is always visible in the log itself. A corrupt
 * file is fatal (cbl_db_failed()).
 *
 * Which calls may run concurrently: a cbl_db belongs to one thread at a
 * time (the runtime's worker). Readers open their own connections
 * (cbl_open_readonly()); SQLite's WAL lets them read while it writes.
 */
#ifndef CBL_LOGDB_H
#define CBL_LOGDB_H

#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CBL_SCHEMA_VERSION 2

#define CBL_DAY_NS 86400000000000LL

/* Call status values (calls.status), as segment.h's CB_STATUS_*. */
#define CBL_OK      0
#define CBL_ERROR   1
#define CBL_ABORTED 2

/* Session status values (sessions.status); NULL while running. */
#define CBL_SESSION_OK      0
#define CBL_SESSION_FAILED  1
#define CBL_SESSION_ABORTED 2
#define CBL_SESSION_PARTIAL 3

/* progress.kind: CB_PROGRESS_* of segment.h. */

struct cbl_opts {
    const char *path;
    int64_t batch_rows;          /* 0: 50000 */
    uint64_t commit_interval_ns; /* 0: 200 ms */
    uint64_t busy_timeout_ns;    /* lock waits; 0 means do not wait */
    uint64_t wal_max_bytes;      /* 0: 64 MiB */
};

struct cbl_db;

/* Process-wide SQLite set-up for a writer: turns off SQLite's memory
 * statistics (a global mutex taken on every allocation: ~5% of ingest).
 * Call once at program start, before any thread uses SQLite; later calls
 * (or calls after SQLite was used) change nothing. Returns 0. */
int cbl_sqlite_setup(void);

/* Opens (creating if needed) the database at opts->path for writing and
 * checks its schema version. Returns 0 and *out (pair with
 * cbl_db_close()), or negative with a one-line reason in err (naming the
 * file and what to do) and *out NULL. */
int cbl_db_open(const struct cbl_opts *opts, struct cbl_db **out, char *err,
                size_t err_len);

/* Commits what is pending and closes. NULL is fine. */
void cbl_db_close(struct cbl_db *db);

/* The connection, for maintenance and tests (same thread only). */
sqlite3 *cbl_db_handle(struct cbl_db *db);

/* Called right before each COMMIT, inside the transaction: the sink
 * writes its resume cursors there so they commit with the rows. */
typedef int (*cbl_precommit_fn)(void *arg, struct cbl_db *db);
void cbl_db_set_precommit(struct cbl_db *db, cbl_precommit_fn fn, void *arg);

/* ---- interning (inside or outside a batch) ------------------------------ */

/* The id of name s[0, n) in `names`, inserted on first sight; 0 when it
 * could not be stored (the row using it is then dropped and counted). */
int64_t cbl_name_id(struct cbl_db *db, const char *s, size_t n);

/* The producers row of (pid, start_time), inserted on first sight; 0 on
 * failure. *known is set to 1 when the row existed before this process
 * (a restart: its cursors are valid). */
int64_t cbl_producer_id(struct cbl_db *db, uint32_t pid, uint64_t start_time,
                        const char *program, uint64_t now_ns, int *known);

/* Marks a producer ended ("exited" or "died") at end_ns. */
int cbl_producer_end(struct cbl_db *db, int64_t producer, uint64_t end_ns,
                     const char *outcome);

/* ---- rows ---------------------------------------------------------------- */

struct cbl_call {
    int64_t ts, dur_ns, func, producer, tid, session; /* session 0: none */
    int status;
    int has_err;
    int64_t err_code;
    const char *err_msg;  /* bytes, any content */
    size_t err_len;
    const char *params;   /* JSON text or NULL */
    size_t params_len;
    const char *perf;     /* JSON text or NULL */
    size_t perf_len;
    int flags;            /* CB_RF_* */
};

struct cbl_log {
    int64_t ts, producer, tid, session, func; /* 0: none */
    int level;
    const char *msg;
    size_t msg_len;
    const char *fields;   /* JSON text or NULL */
    size_t fields_len;
    int flags;
};

struct cbl_metric {
    int64_t ts, name, labels, producer; /* labels 0: none */
    int kind;             /* CB_KIND_COUNT, _GAUGE, _OBSERVE */
    double value;
};

/* Each appends one row to the open batch (starting one if needed).
 * Returns 0, or negative when the row could not be stored (counted in
 * lost_rows). */
int cbl_call_add(struct cbl_db *db, const struct cbl_call *c);
int cbl_log_add(struct cbl_db *db, const struct cbl_log *l);
int cbl_metric_add(struct cbl_db *db, const struct cbl_metric *m);
int cbl_progress_add(struct cbl_db *db, int64_t session, int64_t ts,
                     int64_t step, int kind, double units, double fraction);
/* source: "bus" (lapped on the ring), "handoff" (the worker was too
 * slow), "db" (this writer could not store rows). */
int cbl_loss_add(struct cbl_db *db, int64_t ts, int64_t producer,
                 int64_t ring, uint64_t count, const char *source);

/* Sessions: begin inserts (or completes a placeholder), end sets the
 * outcome, done the progress so far. Each returns the sessions row id or
 * 0 on failure. cbl_session_ref() finds or creates a placeholder row for a
 * session whose beginning was not seen. */
int64_t cbl_session_begin(struct cbl_db *db, int64_t producer, uint32_t sid,
                          int64_t name, int64_t start_ns, double total);
int64_t cbl_session_ref(struct cbl_db *db, int64_t producer, uint32_t sid);
int cbl_session_end(struct cbl_db *db, int64_t session, int64_t end_ns,
                    int status, double done);

/* Resume cursor of (producer, ring): the record number after the last
 * entry of that ring whose rows are stored (entries with a smaller
 * record number are never stored again). Written inside the batch (from
 * the precommit hook), so it commits with the rows or not at all. */
int cbl_cursor_put(struct cbl_db *db, int64_t producer, uint32_t ring,
                   uint64_t next_recno);
/* Loads every cursor of `producer`: fn(arg, ring, next_recno) for each.
 * Returns 0 or -EIO. */
int cbl_cursor_load(struct cbl_db *db, int64_t producer,
                    void (*fn)(void *arg, uint32_t ring, uint64_t next_recno),
                    void *arg);

/* A stored session's total weight and the units of its stored progress
 * rows (both 0 when unknown): a restarted writer continues `done` from
 * there. Returns 0 or -EIO. */
int cbl_session_state(struct cbl_db *db, int64_t session, double *total,
                      double *done);

/* ---- batches ------------------------------------------------------------- */

/* Commits if the batch is full or older than commit_interval at now_ns
 * (CLOCK_MONOTONIC). Returns 0 or negative (rows counted lost). */
int cbl_db_tick(struct cbl_db *db, uint64_t mono_ns);
/* Commits now. */
int cbl_db_commit(struct cbl_db *db);
/* Runs a checkpoint (TRUNCATE when the WAL exceeds wal_max, else
 * PASSIVE). Returns the WAL size in bytes seen before, or negative. */
int64_t cbl_db_checkpoint(struct cbl_db *db);

struct cbl_db_stats {
    uint64_t rows;        /* rows committed by this process */
    uint64_t commits;
    uint64_t lost_rows;   /* rows that could not be stored */
    uint64_t failures;    /* failed transactions */
    int last_rc;          /* last SQLite error code, 0 if none */
    char last_error[160]; /* its message */
};
void cbl_db_stats(const struct cbl_db *db, struct cbl_db_stats *out);

/* Counts rows the caller could not even build (their producer or name
 * could not be stored): recorded like every other lost row. */
void cbl_db_count_lost(struct cbl_db *db, uint64_t rows);

/* Batches rolled back so far. Ids returned by cbl_name_id(),
 * cbl_producer_id() and the session calls since the last change of this
 * number may name rows that were rolled back: forget them. */
uint64_t cbl_db_rollbacks(const struct cbl_db *db);

/* 1 once the file proved corrupt (or not a database): stop writing. */
int cbl_db_failed(const struct cbl_db *db);

/* 1 while rows wait in an open transaction or losses wait to be
 * recorded: a tick must still come to commit them. */
int cbl_db_pending(const struct cbl_db *db);

/* ---- readers ------------------------------------------------------------- */

/* Opens `path` read-only (it must exist and be a clipbus log of a known
 * schema version). query_only and a bounded busy timeout are set. Returns
 * 0 and *out, or negative with a one-line reason in err. */
int cbl_open_readonly(const char *path, sqlite3 **out, char *err,
                      size_t err_len);

/* ---- time helpers -------------------------------------------------------- */

/* ISO 8601 UTC with microseconds: "2024-05-01T12:00:00.123456Z". */
char *cbl_fmt_time(char *buf, size_t len, int64_t ns);

/* Parses a --since/--until value into ns since the epoch: absolute
 * "2024-05-01", "2024-05-01T12:00[:SS[.frac]]" with "Z", "+hh:mm" or no
 * zone (local time), a space instead of 'T'; "now"; or relative "2h",
 * "30m", "7d", "1h30m" (before now_ns). Returns 0 or -EINVAL. */
int cbl_parse_time(const char *s, int64_t now_ns, int64_t *out);

/* The UTC day "YYYY-MM-DD" containing ns. */
char *cbl_fmt_day(char *buf, size_t len, int64_t ns);

#ifdef __cplusplus
}
#endif
#endif /* CBL_LOGDB_H */
