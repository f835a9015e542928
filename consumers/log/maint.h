/*
 * maint.h -- retention and maintenance of the structured log (seed task
 * 12.1, Req 5.5): daily summaries, deletion of old rows in small
 * batches, a size cap, incremental vacuum. Runs on the writer's
 * connection between its batches, a time budget at a time, so ingest is
 * never held up for long.
 *
 * Order of a run, each step resumable:
 *  1. summarize every complete UTC day not yet summarized (daily_calls:
 *     calls, errors, aborted, duration sum/min/max and exact
 *     nearest-rank p50/p90/p99 per function; daily_metrics: samples,
 *     sum, min, max per metric, label set and kind). Days older than
 *     keep_summary are not summarized;
 *  1b. summarize again every day in `resummarize`: the writer puts a day
 *     there when a row arrives for it after it was summarized (a late
 *     row: a producer's clock, a restart re-reading old entries). Only
 *     while the day's raw rows are all kept (within keep_raw); older
 *     marks are dropped;
 *  2. delete raw rows older than keep_raw (calls, logs, metrics,
 *     progress, losses, ended sessions), DELETE_BATCH rows per
 *     transaction;
 *  3. delete summary rows older than keep_summary;
 *  4. size cap: while the live pages exceed max_size, delete the oldest
 *     raw rows, DELETE_BATCH at a time;
 *  5. PRAGMA incremental_vacuum: give free pages back to the file system.
 */
#ifndef CBL_MAINT_H
#define CBL_MAINT_H

#include <stdint.h>

#include <sqlite3.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CBL_DELETE_BATCH 5000

struct cbl_retention {
    uint64_t keep_raw_ns;     /* 0: keep forever */
    uint64_t keep_summary_ns; /* 0: keep forever */
    uint64_t max_size_bytes;  /* 0: no cap */
};

struct cbl_maint {
    int phase;                /* internal: where the run is */
    int table;
    int64_t day;              /* next day to summarize (ns, UTC midnight) */
    int64_t last_free;        /* free pages before the last vacuum step */
    /* What the run did. */
    uint64_t days_summarized;
    uint64_t days_resummarized; /* again, for late rows */
    uint64_t rows_deleted;    /* raw rows, by age */
    uint64_t summaries_deleted;
    uint64_t rows_capped;     /* raw rows deleted for the size cap */
    uint64_t pages_vacuumed;
    int rc;                   /* last SQLite error, 0 if none */
};

/* Starts a run (zeroes *m). */
void cbl_maint_begin(struct cbl_maint *m);

/* Continues the run for about budget_ns (0: to the end) at wall-clock
 * time now_ns. Returns 1 when there is more to do, 0 when the run is
 * complete, negative on an SQLite error (m->rc; the run may be retried).
 * No transaction may be open on h. */
int cbl_maint_step(sqlite3 *h, const struct cbl_retention *r, int64_t now_ns,
                   uint64_t budget_ns, struct cbl_maint *m);

#ifdef __cplusplus
}
#endif
#endif /* CBL_MAINT_H */
