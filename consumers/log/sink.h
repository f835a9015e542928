/*
 * sink.h -- clipbus-log's sink for the consumer runtime: every event
 * becomes rows of the structured log (logdb.h), written by the runtime's
 * worker thread.
 *
 * Resuming after a restart (or kill -9): the runtime reads every ring
 * from its oldest record again, so the sink skips what an earlier run
 * already committed. Records of one ring are written in the order they
 * were finished, and a record's finish time -- wall_ns + dur_ns for a
 * call (wall_ns is its start), wall_ns for everything else -- never goes
 * back within a ring. The sink stores, with each transaction, the finish
 * time of the last row per (producer, ring) (`cursors`); a producer the
 * database already knows (same pid and start time) has its rows at or
 * before that time skipped.
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
