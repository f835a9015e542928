/*
 * runtime.h -- the consumer runtime: everything a clipbus consumer needs
 * between the bus and its sink, written once.
 *
 * Two threads:
 *  - the reader thread owns the bus (reader.h): it discovers producers
 *    (inotify on the shm directory; the bus lists it itself every 2 s
 *    in case a notification was missed),
 *    reads every ring in batches, converts timestamps to wall-clock time,
 *    resolves names into process-wide handles, turns dead producers' open
 *    sessions and in-flight calls into "aborted" events, and hands batches
 *    of events to the worker through a Concurrency Kit SPSC ring. It never
 *    does slow I/O and never waits for the worker: if the worker has no
 *    free batch buffer to give back, the events are counted as hand-off
 *    loss and reported (CBC_EV_LOSS with ring CBC_RING_HANDOFF).
 *  - the worker thread runs the sink's callbacks: the slow part (RRD
 *    files, SQLite, HTTP, a terminal).
 * Waiting is adaptive: a reader of a fast stream polls back to back; one
 * of a slow stream naps between polls, paced to its producers (1 ms up to
 * consumer.max_nap, 32 ms: cb_bus_wait); one with no producer running
 * sleeps until a new segment appears (at most a second).
 * SIGINT and SIGTERM end cbc_rt_run() cleanly: the reader reads what is
 * there, the worker drains its queue and the sink's stop() runs last.
 *
 * Which calls may run concurrently:
 *   cbc_rt_run            once per process at a time (it owns SIGINT/TERM)
 *   sink callbacks        the worker thread only, one at a time
 *   cbc_name, cbc_rt_producer  the worker (and sink callbacks), for
 *                         handles and ids received in events
 *   cbc_rt_stop, cbc_rt_set_sink_state, cbc_rt_stats  any thread
 */
#ifndef CBC_RUNTIME_H
#define CBC_RUNTIME_H

#include <stddef.h>
#include <stdint.h>

#include <clipbus/reader.h>

#include "config.h"

#ifdef __cplusplus
extern "C" {
#endif

struct cbc_rt;

/* Event types the sink receives. */
#define CBC_EV_RECORD        1 /* a record entry (kind: CB_KIND_*) */
#define CBC_EV_LOSS          2 /* count records lost (ring, producer) */
#define CBC_EV_PRODUCER_NEW  3
#define CBC_EV_PRODUCER_EXIT 4 /* exited and drained */
#define CBC_EV_PRODUCER_DIED 5 /* died (pid gone or reused) and drained */
#define CBC_EV_SESSION_ABORTED 6 /* an open session of an ended producer */
#define CBC_EV_CALL_ABORTED  7 /* a call still in flight when it ended */
#define CBC_EV_BAD_SEGMENT   8 /* text: why (a refused segment) */
#define CBC_EV_INFLIGHT      9 /* a call running at snapshot `count` */
#define CBC_EV_INFLIGHT_DONE 10 /* snapshot `count` is complete */

/* LOSS events for records the worker was too slow to take. */
#define CBC_RING_HANDOFF UINT32_MAX

/*
 * One event. Views: valid during the callback only. Names are handles
 * (cbc_name()), process-wide and stable: the same string always has the
 * same handle, whichever producer sent it. In `data`, the field tags'
 * name ids are rewritten to handles too, so cb_field_next() decodes it
 * and f.name_id is a handle.
 */
struct cbc_event {
    uint16_t type;      /* CBC_EV_* */
    uint16_t kind;      /* CBC_EV_RECORD: CB_KIND_*; else 0 */
    uint16_t status;    /* record status (outcome, level, ...) */
    uint16_t flags;     /* record flags (CB_RF_*) */
    uint32_t producer;  /* cbc_rt_producer() id; 0 for BAD_SEGMENT */
    uint32_t ring;      /* ring index, or CBC_RING_HANDOFF */
    uint32_t tid;       /* writing thread, 0 if unknown */
    uint32_t name;      /* name handle: function, metric, session... */
    uint32_t session;   /* session id within the producer */
    uint32_t records;   /* RECORD: records the entry spans (head plus
                           continuations): the next entry's recno is
                           recno + records */
    uint64_t recno;     /* RECORD: the entry's record number in its ring:
                           with (producer pid, start time, ring) it names
                           the entry exactly, e.g. to resume after a
                           restart without storing an entry twice */
    uint32_t data_len;
    uint64_t wall_ns;   /* record time (call: start), ns since the epoch */
    uint64_t dur_ns;    /* CALL and CALL_ABORTED: duration (so far) */
    uint64_t value;     /* the record's value word (i64 or double bits) */
    uint64_t count;     /* LOSS: records lost */
    const uint8_t *data; /* fields (segment.h encoding), or the text of
                            BAD_SEGMENT (not NUL-terminated) */
};

/* A producer as the runtime knew it; ids start at 1 and are never
 * reused in the life of the process. */
struct cbc_producer {
    uint32_t id;
    uint32_t pid;
    uint64_t start_time;
    uint64_t created_ns;
    char program[CB_PROGRAM_MAX];
    char shm_name[96];
};

struct cbc_sink {
    void *arg;
    /* Worker thread, before any event. Non-zero ends the run (it is the
     * run's exit status). May be NULL. */
    int (*start)(void *arg, struct cbc_rt *rt);
    /* Worker thread, for each event, in order per ring. */
    void (*event)(void *arg, const struct cbc_event *ev);
    /* Worker thread, every `tick_ms` (default 100) rounded up to a power
     * of two of milliseconds (100 -> 128, 50 -> 64), at multiples of that
     * period on CLOCK_MONOTONIC -- the grid the bus's naps end on, so a
     * machine's consumers wake together: lets a sink close windows by
     * time and flush. now_ns is the wall clock. */
    void (*tick)(void *arg, uint64_t now_ns);
    /* Worker thread, last: every event before it has been delivered. */
    void (*stop)(void *arg);
    /* Worker thread, after a tick, only with opts.idle_tick_ms: 1 if the
     * sink has nothing to finish by time (an open transaction, say), so
     * that its ticks may slow to idle_tick_ms. NULL: always 1. */
    int (*quiet)(void *arg);
};

struct cbc_rt_opts {
    const char *program;   /* shown in `clipbus status` */
    const char *bus;       /* NULL: CLIPBUS_BUS or "default" */
    uint32_t grace_s;      /* producer segment grace (0: 60) */
    int from;              /* CB_FROM_OLDEST (0) or CB_FROM_NOW */
    uint32_t tick_ms;      /* sink tick (0: 100) */
    /* While no attached producer is running, no event came since the last
     * tick and the sink is quiet(), tick only this often (rounded up to a
     * power of two of milliseconds like tick_ms); the next event brings
     * the tick_ms ticks back at once. 0: always tick_ms. An idle consumer
     * then wakes about twice a second instead of ten times. */
    uint32_t idle_tick_ms;
    uint32_t handoff_batches; /* batches in flight (0: 64) */
    uint32_t batch_bytes;  /* bytes per batch (0: 256 KiB) */
    /* Exit on its own once every producer seen has ended and been
     * drained and none appeared for this long (0: run until a signal).
     * For tests and one-shot archiving of finished runs. */
    uint32_t exit_idle_ms;
    int quiet;             /* 1: do not print bad segments to stderr */
    /* Every this many ms (0: never), snapshot the calls running in every
     * live producer: one CBC_EV_INFLIGHT per running call (name, ring,
     * tid, wall_ns = its start, dur_ns = how long it has run so far,
     * status = its depth, outermost 0), then CBC_EV_INFLIGHT_DONE; both
     * carry the snapshot number in `count`. A sink replaces its in-flight
     * table at each DONE. While no producer is running, one empty
     * snapshot comes, then none until one runs again. */
    uint32_t inflight_ms;
    /* CPU scheduling class, CBC_SCHED_* (sched_class.h; 0 is idle), applied to
     * every thread of the process before the run starts. The program
     * resolves it (cbc_sched_resolve: --sched, CLIPBUS_SCHED, config). */
    int sched;
    /* The "consumer" section's settings (cbc_rt_opts_consumer): status
     * segment refresh (0: 100 ms) and records per ring per pass (0:
     * 4096). */
    uint32_t status_interval_ms;
    uint32_t ring_batch;
    uint32_t max_nap_ms;   /* longest nap between looks (0: 32 ms) */
};

/* Takes status_interval_ms, ring_batch and max_nap_ms from a configuration's
 * "consumer" section (its sched is resolved by the program). */
void cbc_rt_opts_consumer(struct cbc_rt_opts *o,
                          const struct cbc_consumer_config *c);

/* Runs the consumer until SIGINT/SIGTERM, cbc_rt_stop(), or exit_idle_ms.
 * Returns 0, the sink's start() status, or a negative code (the bus could
 * not be opened: CB_EBUSNAME, -errno), with a message on stderr. */
int cbc_rt_run(const struct cbc_rt_opts *opts, const struct cbc_sink *sink);

/* Asks a running cbc_rt_run() to end (async-signal-safe). */
void cbc_rt_stop(struct cbc_rt *rt);

/* The string of a name handle (never NULL: "?" for 0 or unknown). */
const char *cbc_name(const struct cbc_rt *rt, uint32_t handle);

/* The producer with runtime id `id`, or NULL. */
const struct cbc_producer *cbc_rt_producer(const struct cbc_rt *rt,
                                           uint32_t id);

/* Sets the text `clipbus status` shows for this consumer's sink (cut to
 * 63 bytes). Any thread. */
void cbc_rt_set_sink_state(struct cbc_rt *rt, const char *text);

struct cbc_rt_stats {
    uint64_t delivered;    /* records read from the bus */
    uint64_t lost;         /* records lost on the bus (lapped, unfinished) */
    uint64_t handoff_lost; /* records the worker was too slow to take */
    uint64_t events;       /* events passed to the sink */
    uint32_t producers;    /* announced and not yet ended */
    uint32_t names;        /* name handles */
};
void cbc_rt_stats(const struct cbc_rt *rt, struct cbc_rt_stats *out);

#ifdef __cplusplus
}
#endif
#endif /* CBC_RUNTIME_H */
