/*
 * clipbus/reader.h -- the consumer side: attach to producer segments and
 * read their records.
 *
 * Two levels:
 *  - segment and cursor: attach one producer segment (read-only mapping,
 *    validated as hostile input) and read one ring with a private cursor;
 *  - bus: discover every producer segment of a bus (also ones that appear
 *    later), read all their rings, report losses and producer lifecycle as
 *    events, publish this reader's status segment, and remove segments that
 *    are drained and past their grace period.
 *
 * Per cursor, always: delivered + lost = published, and what is delivered
 * is bit-exact and in order (ring.c explains why). Losses are counted in
 * records; an entry that cannot be read whole is lost whole.
 *
 * Which calls may run concurrently:
 *
 *   object          | rule
 *   ----------------+-----------------------------------------------------
 *   struct cb_bus   | one thread at a time (it is not locked); several
 *                   | cb_bus objects in one process are independent
 *   cb_segment      | attach/detach: one thread; the read-only queries
 *                   | (name, wall time, liveness, in-flight) may run in
 *                   | several threads at once
 *   cb_cursor       | one thread per cursor; cursors are independent
 *
 * Views: pointers returned by cb_segment_name() and the data of a
 * struct cb_entry point into memory owned by the segment or cursor. Names
 * stay valid until cb_segment_detach(); entry data until the next
 * cb_cursor_next() or cb_bus_poll() callback return.
 */
#ifndef CLIPBUS_READER_H
#define CLIPBUS_READER_H

#include <stddef.h>
#include <stdint.h>

#include "clipbus.h"
#include "segment.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------
 * Segments
 * ------------------------------------------------------------------------ */
struct cb_segment;

/* What attach learned about a producer; copied out of the header once the
 * header validated, so it cannot change under the reader afterwards. */
struct cb_producer_info {
    char shm_name[96];     /* "/clipbus.<bus>.<pid>[.<n>]" */
    char program[CB_PROGRAM_MAX];
    char bus[CB_PROGRAM_MAX];
    uint32_t pid;
    uint32_t uid;
    uint64_t start_time;   /* ticks since boot, as /proc/<pid>/stat */
    uint64_t created_real_ns;
    uint32_t ring_count;
    uint32_t ring_records;
    uint32_t names_size;
    uint32_t clock_kind;
    uint64_t segment_size;
};

/* Producer liveness. */
#define CB_PRODUCER_ALIVE  1
#define CB_PRODUCER_EXITED 2 /* marked its segment exited */
#define CB_PRODUCER_DEAD   3 /* pid gone, or reused by another process */

/* Attaches the segment with POSIX shm name `shm_name` read-only and
 * validates its header. On success *out is the segment (pair with
 * cb_segment_detach()); on failure *out is NULL, the return is negative
 * (CB_EBADSEG, CB_EVERSION, CB_ENOTREADY, CB_EFOREIGN, -errno) and, when
 * `why` is not NULL, a one-line reason naming the segment is written to it.
 * `allow_foreign` = 0 refuses segments not owned by this user or whose mode
 * grants anything to others. */
int cb_segment_attach(const char *shm_name, int allow_foreign,
                      struct cb_segment **out, char *why, size_t why_len);

/* Unmaps and frees. Views into the segment become invalid. */
void cb_segment_detach(struct cb_segment *seg);

/* 1 once a read of the segment faulted because its file was truncated
 * under the reader (the call that hit it returned CB_EBADSEG; every later
 * call on it fails at once). Detach it. */
int cb_segment_faulted(const struct cb_segment *seg);

/* Borrowed; valid until detach. */
const struct cb_producer_info *cb_segment_info(const struct cb_segment *seg);

/* CB_PRODUCER_ALIVE, _EXITED or _DEAD, from the header state and the
 * process table (pid plus start time). Makes system calls. */
int cb_segment_liveness(const struct cb_segment *seg);

/* Rings that have ever been claimed: valid ring indexes are [0, result). */
uint32_t cb_segment_rings(const struct cb_segment *seg);

/* The writer's head of `ring`: the record number after the last whole
 * entry, or 0 if the ring index is out of range. */
uint64_t cb_segment_head(const struct cb_segment *seg, uint32_t ring);

/* Record number after the last published record of `ring`: head, plus
 * records published after it (a writer between publishing a record and
 * moving head, or killed there). Equals head while no entry is under way.
 * Records published since the ring's first = result - base. */
uint64_t cb_segment_published(const struct cb_segment *seg, uint32_t ring);

/* The name with id `id`; *len gets its length. Returns NULL for an id
 * that is not a valid, published entry of the table. Not NUL-terminated. */
const char *cb_segment_name(const struct cb_segment *seg, uint32_t id,
                            size_t *len);

/* Copies the name with id `id` into buf (NUL-terminated, cut to fit);
 * writes "?" for an invalid id. Returns buf. */
char *cb_segment_name_copy(const struct cb_segment *seg, uint32_t id,
                           char *buf, size_t buf_len);

/* Producer clock to wall-clock time (ns since the epoch), and a tick
 * difference to nanoseconds, using the header's calibration. */
uint64_t cb_segment_wall_ns(const struct cb_segment *seg, uint64_t ticks);
uint64_t cb_segment_ticks_ns(const struct cb_segment *seg, uint64_t ticks);

/* The producer's current clock reading, as the producer would take it
 * (same machine): lets a reader tell how long an in-flight call has run. */
uint64_t cb_segment_now_ticks(const struct cb_segment *seg);

/* Snapshot of the in-flight (running) monitored calls of `ring`, outermost
 * first. Fills up to `max` frames; *depth gets the true depth (it may
 * exceed CB_INFLIGHT_MAX, in which case only the outer frames are known).
 * Returns the number of frames written, or a negative code. */
int cb_segment_inflight(const struct cb_segment *seg, uint32_t ring,
                        struct cb_inflight_frame *out, size_t max,
                        uint32_t *depth);

/* Kernel thread id and name of the thread owning `ring` now (0 and "" if
 * free). name must hold CB_THREAD_NAME_MAX bytes. */
uint32_t cb_segment_ring_owner(const struct cb_segment *seg, uint32_t ring,
                               char *name);

/* Counters of the producer's lifecycle line. */
struct cb_segment_counters {
    uint64_t names_used;
    uint64_t names_dropped;
    uint64_t threads_unringed;
    uint64_t records_unringed;
    uint64_t sessions;
    uint64_t exit_real_ns;
    uint32_t state;
};
void cb_segment_counters(const struct cb_segment *seg,
                         struct cb_segment_counters *out);

/* ------------------------------------------------------------------------
 * Cursors and entries
 * ------------------------------------------------------------------------ */
#define CB_ENTRY_DATA_MAX (CB_HEAD_DATA + CB_EXT_MAX * CB_CONT_DATA)

struct cb_entry {
    struct cb_record head;  /* the head record, as published */
    uint64_t recno;         /* record number of the head in its ring */
    uint32_t ring;
    uint32_t tid;           /* thread that wrote it, 0 if unknown */
    const uint8_t *data;    /* data_len bytes; a view, see top of file */
    size_t data_len;
    struct cb_segment *seg;
};

struct cb_cursor {
    struct cb_segment *seg;
    uint32_t ring;
    uint32_t tid;           /* from the last CB_KIND_THREAD entry */
    uint64_t next;          /* record number to read next */
    uint64_t delivered;     /* records delivered (continuations included) */
    uint64_t lost;          /* records lost: lapped or part of a lost entry */
    int from;               /* CB_FROM_*, applied when the ring is ready */
    int pending;            /* 1 until the ring's slots are set up */
    int broken;             /* the ring contradicts itself: abandoned */
    uint8_t data[CB_ENTRY_DATA_MAX];
};

#define CB_FROM_OLDEST 0 /* everything still in the ring */
#define CB_FROM_NOW    1 /* only records published from now on */

/* Sets up `cur` (caller's memory) to read `ring` of `seg`. Pair: nothing to
 * free. Returns 0, or CB_EBADSEG for a ring index out of range. A ring
 * another thread is still setting up is fine: the cursor binds to its
 * first record once it is ready (until then cb_cursor_next() returns 0). */
int cb_cursor_init(struct cb_cursor *cur, struct cb_segment *seg,
                   uint32_t ring, int from);

/* Reads the next whole entry into *out. Returns 1 with an entry, 0 when
 * nothing new is published yet, negative on a malformed entry (which is
 * skipped and counted lost, so the next call goes on). Records the cursor
 * skipped because the writer lapped it are added to cur->lost. A ring
 * whose sequence words contradict its head word (only a corrupt or hostile
 * segment does that) returns CB_EBADSEG once and sets cur->broken; every
 * later call returns 0, so a loop that reads until 0 always ends. One
 * call does a bounded amount of work. */
int cb_cursor_next(struct cb_cursor *cur, struct cb_entry *out);

/* Records published but not yet read by this cursor. */
uint64_t cb_cursor_lag(const struct cb_cursor *cur);

/* For a producer that is dead or has exited: counts as lost what the
 * cursor can never deliver -- the records of an entry the producer did
 * not finish -- and moves the cursor to the end of what was published.
 * Returns the records so counted. Afterwards, delivered + lost equals
 * cb_segment_published(). Never call it while the producer may still
 * write that ring. */
uint64_t cb_cursor_finish(struct cb_cursor *cur);

/* ------------------------------------------------------------------------
 * Fields of an entry's data (see segment.h for the encoding).
 * ------------------------------------------------------------------------ */
struct cb_field {
    int type;               /* CB_FIELD_* */
    uint32_t name_id;
    int64_t i;              /* I64; ERR: the code; TID: the tid */
    double d;               /* F64 */
    const char *s;          /* STR, ERR: a view into the data */
    size_t s_len;
    struct cb_perf perf;    /* PERF */
};

/* Decodes the field at *off of data[0, len) into *f and advances *off.
 * Returns 1 with a field, 0 at the end, CB_EBADSEG on malformed data. */
int cb_field_next(const uint8_t *data, size_t len, size_t *off,
                  struct cb_field *f);

/* ------------------------------------------------------------------------
 * Bus: discovery, reading every ring, events.
 * ------------------------------------------------------------------------ */
struct cb_bus;

struct cb_bus_opts {
    const char *program;    /* shown in `clipbus status`; NULL: "reader" */
    uint32_t grace_s;       /* keep exited segments this long (60) */
    int from;               /* CB_FROM_OLDEST (default) or CB_FROM_NOW */
    int no_status;          /* 1: publish no status segment */
    int no_gc;              /* 1: never unlink producer segments */
    int allow_foreign;      /* 1: accept other users' segments */
    uint32_t status_interval_ms; /* refresh the status segment (100) */
    uint32_t ring_batch;    /* cb_bus_poll: records per ring per pass
                             * before the next ring (4096) */
    uint32_t max_nap_ms;    /* cb_bus_wait's longest nap, rounded down to
                             * a power of two of ms (32; at most 1000) */
    int dir_watched;        /* 1: the caller watches the shm directory
                             * (cb_shm_watch_open, opened before this bus)
                             * and calls cb_bus_scan(bus, 1) when
                             * cb_shm_watch_drain says so: scans then
                             * re-list the directory every 2 s, not every
                             * 100 ms */
};

/* Event types passed to the callback of cb_bus_poll(). */
#define CB_EV_ENTRY         1 /* entry: a record entry */
#define CB_EV_LOSS          2 /* count records of (seg, ring) lost */
#define CB_EV_PRODUCER_NEW  3 /* seg attached */
#define CB_EV_PRODUCER_EXIT 4 /* seg exited and is drained */
#define CB_EV_PRODUCER_DIED 5 /* seg's process died without exiting */
#define CB_EV_BAD_SEGMENT   6 /* why: a segment was refused */

struct cb_event {
    int type;
    struct cb_segment *seg;        /* NULL for CB_EV_BAD_SEGMENT */
    const struct cb_entry *entry;  /* CB_EV_ENTRY */
    uint32_t ring;                 /* CB_EV_LOSS */
    uint64_t count;                /* CB_EV_LOSS */
    const char *why;               /* CB_EV_BAD_SEGMENT */
};

/* The callback returns 0 to go on, non-zero to stop the poll early. */
typedef int (*cb_event_fn)(void *arg, const struct cb_event *ev);

/* Opens bus `bus` (NULL: CLIPBUS_BUS or "default") for reading. *out is
 * owned by the caller: pair with cb_bus_close(). Attaches the producers
 * present now. Returns 0 or negative (CB_EBUSNAME, -errno). */
int cb_bus_open(const char *bus, const struct cb_bus_opts *opts,
                struct cb_bus **out);

/* Detaches everything and removes this reader's status segment. */
void cb_bus_close(struct cb_bus *bus);

/* Looks for new producer segments and checks the liveness of known ones.
 * Cheap to call often: it does either at most every 100 ms unless `force`,
 * and lists the shm directory then (every 2 s with opts.dir_watched, or
 * when forced). Returns the number of producers attached, or negative. */
int cb_bus_scan(struct cb_bus *bus, int force);

/* Reads up to `max` entries across all rings (0: no limit but one pass),
 * calling fn for each event. Scans for producers, publishes the status
 * segment and removes drained, expired segments along the way. Returns
 * the number of entries delivered. */
long cb_bus_poll(struct cb_bus *bus, cb_event_fn fn, void *arg, size_t max);

/* Blocks up to `timeout_ms` for new records, sleeping in naps paced to
 * the producers (the producer is never signalled): 1 ms for a stream that
 * fills 1/64 of a ring in a millisecond, up to max_nap_ms for a slow one.
 * Naps end on multiples of their length on CLOCK_MONOTONIC, so readers
 * wake together; the timeout is rounded up to that grid (less than a nap
 * late). A signal caught by a handler while the wait sleeps ends it at
 * once (the thread that sleeps here must be one the signal can reach).
 * One that lands between two naps, while the wait looks at the rings,
 * interrupts no sleep: the caller sees its flag after the next nap (at
 * most max_nap_ms), or, in cb_bus_wait_fd with no producer alive, after
 * the timeout -- so keep timeouts short (the consumers use 1 s). Returns 1 if
 * records are ready, 0 on timeout or signal. */
int cb_bus_wait(struct cb_bus *bus, int timeout_ms);

/* As cb_bus_wait, but the naps also end when `fd` becomes readable, and
 * then it returns 1: for a reader that watches the shm directory with
 * inotify (IN_CREATE | IN_MOVED_TO), so that a new producer is read at
 * once instead of after the current nap. While no attached producer is
 * alive it sleeps the whole timeout, trusting `fd` to announce the next
 * one. */
int cb_bus_wait_fd(struct cb_bus *bus, int timeout_ms, int fd);

/* Totals of this reader. */
struct cb_bus_stats {
    uint64_t delivered;   /* records */
    uint64_t lost;        /* records */
    uint64_t entries;
    uint32_t producers;   /* attached now */
    uint32_t rings;
};
void cb_bus_stats(const struct cb_bus *bus, struct cb_bus_stats *out);

/* Sets the free-text sink state shown by `clipbus status` (cut to 63). */
void cb_bus_set_sink_state(struct cb_bus *bus, const char *text);

/* Iterates attached producers: index 0..n-1, NULL past the end. */
struct cb_segment *cb_bus_producer(const struct cb_bus *bus, size_t i);

/* The validated bus name, from `bus`, CLIPBUS_BUS or "default"; NULL with
 * *err set when invalid. Returns a static or borrowed pointer: `bus`
 * itself when it names a bus, so never copy the result into `bus`
 * (snprintf onto itself is undefined). */
const char *cb_bus_name_resolve(const char *bus, int *err);

/* ------------------------------------------------------------------------
 * Listing and cleaning the shm directory (for `clipbus status` and `gc`).
 * ------------------------------------------------------------------------ */
#define CB_SHM_PRODUCER 1
#define CB_SHM_STATUS   2

/* The directory where POSIX shared-memory objects appear as files
 * ("/dev/shm" on Linux): what to watch for new producers. */
const char *cb_shm_dir(void);

/* An inotify descriptor (non-blocking, close-on-exec) that becomes
 * readable when an object is created in (or moved into) the shm
 * directory: the `fd` for cb_bus_wait_fd(). -errno if inotify is not
 * available (then cb_bus_wait's scans still find new producers, within
 * 100 ms). */
int cb_shm_watch_open(void);

/* Empties the descriptor's queue; 1 if anything was created since the
 * last call (then cb_bus_scan(bus, 1) attaches it), else 0. */
int cb_shm_watch_drain(int fd);

/* Calls fn(arg, kind, shm_name) for each clipbus object of bus `bus`
 * (NULL: every bus) in the shm directory. Returns the count or -errno. */
int cb_shm_list(const char *bus,
                int (*fn)(void *arg, int kind, const char *shm_name),
                void *arg);

/* Reads a reader-status segment into *out (a consistent snapshot): the
 * header and rings[0, nrings); the entries past nrings are left as they
 * were. Returns 0 or negative (CB_EBADSEG, -errno). */
int cb_status_read(const char *shm_name, struct cb_status_header *out);

/* 1 if the process pid with start time start_time is alive, else 0. */
int cb_process_alive(uint32_t pid, uint64_t start_time);

#ifdef __cplusplus
}
#endif
#endif /* CLIPBUS_READER_H */
