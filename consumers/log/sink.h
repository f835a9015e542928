/*
 * sink.h -- clipbus-log's sink for the consumer runtime: every event
 * becomes rows of the structured log (logdb.h), written by the runtime's
 * worker thread.
 *
 * Resuming after a restart (or kill -9), exactly once: the runtime reads
 * every ring from its oldest record again, so the sink skips what an
 * earlier run already committed. An entry is named exactly by (producer
 * pid, start time, ring, record number); a producer the database already
 * knows (same pid and start time) is a restart. With each transaction the
 * sink stores, per (producer, ring), the record number after the last
 * entry handled (`cursors`); entries below it are skipped. Entries of a
 * ring come in record-number order, so this is exact.
 *
 * No loss goes uncounted across a kill: records of a ring that never
 * reached the sink (lapped, dropped at the hand-off) show as a gap in the
 * record numbers; the gap is counted (`losses`, source "gap") in the
 * transaction that moves the cursor past it, and the bus and hand-off
 * reports, which come later, count only what no gap counted. A resumed
 * ring re-read from its start reports as lost everything overwritten
 * since, stored or not: that report is held back until the ring's first
 * entry at or past the cursor, and the gap from the cursor counts what
 * is really missing. (Held-back loss of a ring that delivers no later
 * entry is recorded whole when its producer ends; hand-off loss during
 * the re-read and the bus report of the re-read's jump may count entries
 * stored before: the counts can only be too high, never too low.)
 *
 * A producer's end events -- its calls and sessions still open when it
 * ended (aborted) and the exit itself -- come after all its entries, in
 * the same order on every read of its segment: the pseudo ring
 * UINT32_MAX of `cursors` counts those stored.
 */
#ifndef CBL_SINK_H
#define CBL_SINK_H

#include <stdint.h>

#include "logdb.h"
#include "maint.h"
#include "runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

struct cbl_sink_opts {
    struct cbl_opts db;           /* the database */
    struct cbl_retention keep;    /* retention; re-read from the config */
    uint64_t maintenance_interval_ns;
    int use_config;               /* 1: re-read "log" retention via RCU */
    int verbose;
};

struct cbl_sink;

/* Allocates the sink state; the database is opened by the sink's start()
 * in the worker thread. NULL on ENOMEM. Pair with cbl_sink_destroy(). */
struct cbl_sink *cbl_sink_create(const struct cbl_sink_opts *opts);
void cbl_sink_destroy(struct cbl_sink *s);

/* The callbacks for cbc_rt_run(), with s as their argument. */
void cbl_sink_bind(struct cbl_sink *s, struct cbc_sink *out);

struct cbl_sink_stats {
    uint64_t events, rows_skipped, handoff_lost, bus_lost;
    struct cbl_db_stats db;
    int exit_status; /* non-zero when the database failed (corrupt) */
};
void cbl_sink_stats(const struct cbl_sink *s, struct cbl_sink_stats *out);

#ifdef __cplusplus
}
#endif
#endif /* CBL_SINK_H */
