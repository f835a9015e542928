/*
 * sessions.h -- the live table of progress sessions, built from bus events
 * (Req 1.4: "track execution progress across multiple functions, calculate
 * estimated completion times, maintain session state for batch
 * operations"). Shared by clipbus-progress and clipbus-top.
 *
 * What the bus says (segment.h, "Record kinds"):
 *   SESSION_BEGIN  value: the session's total weight (double bits)
 *   PROGRESS       value: session units this record completes (double);
 *                  status BEGIN (a step began; name = step; value 0),
 *                  ADVANCE, END (the step's remainder)
 *   SESSION_END    status CB_SESSION_OK / FAILED / PARTIAL
 *   CBC_EV_SESSION_ABORTED  an open session of a producer that ended
 * The producer rolls nested steps up into session units before it writes
 * (clipbus.h, CB_PROGRESS_STEP), so a session's completion is simply the
 * sum of its progress values over its total weight: nothing is re-derived
 * here, and worker threads' steps add up like any others.
 *
 * A session is known by (producer id, session id). Progress for a session
 * whose BEGIN was never seen (the consumer started late and the ring had
 * moved on) opens it with an unknown total: its units and rate are shown,
 * its fraction and ETA are not.
 *
 * THREADS: one thread at a time per table (a consumer's worker).
 */
#ifndef CBP_SESSIONS_H
#define CBP_SESSIONS_H

#include <stddef.h>
#include <stdint.h>

#include "eta.h"
#include "runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Session states. */
#define CBP_RUNNING 0
#define CBP_OK      1
#define CBP_FAILED  2
#define CBP_PARTIAL 3
#define CBP_ABORTED 4 /* its producer died (or exited) with it open */

#define CBP_NAME_MAX  80
#define CBP_STEPS_MAX 8 /* open steps remembered per session */

struct cbp_step_open {
    uint32_t tid;
    char name[CBP_NAME_MAX];
};

struct cbp_session {
    uint32_t producer;  /* cbc_rt_producer() id */
    uint32_t id;        /* session id within the producer */
    uint32_t pid;
    char program[64];
    char name[CBP_NAME_MAX];
    double total;       /* weight; 0 when the BEGIN was not seen */
    double done;        /* units completed */
    uint64_t items;     /* ADVANCE and END records: work items seen */
    uint64_t begin_ns;  /* wall clock of BEGIN (or the first record) */
    uint64_t last_ns;   /* latest progress (begin_ns before any) */
    uint64_t end_ns;    /* 0 while running */
    int state;          /* CBP_* */
    int stalled;        /* set by cbp_sessions_tick() while running */
    char stall_why[96]; /* "no progress for 42 s", "fetch_page running 31 s" */
    uint64_t long_call_ns;          /* longest in-flight call of its
                                       producer at the last scan, or 0 */
    char long_call[CBP_NAME_MAX];   /* that call's function */
    uint32_t nsteps;
    struct cbp_step_open steps[CBP_STEPS_MAX]; /* innermost last */
    struct cbp_eta eta;
};

struct cbp_sessions_opts {
    struct cbp_eta_opts eta;
    uint64_t stall_ns;     /* no progress this long: stalled (0: 30 s) */
    uint64_t long_call_ns; /* an in-flight call this long: stalled
                              (0: 60 s) */
    uint64_t keep_ended_ns; /* ended sessions stay listed (0: 60 s) */
    size_t max;            /* sessions kept; the oldest ended go first
                              (0: 1024) */
};

struct cbp_sessions {
    struct cbp_sessions_opts o;
    struct cbp_session *v;
    size_t n, cap;
    uint64_t dropped; /* sessions forgotten because the table was full */
};

/* Sets up an empty table (opts NULL: defaults). Pair with
 * cbp_sessions_fini(). */
void cbp_sessions_init(struct cbp_sessions *t,
                       const struct cbp_sessions_opts *opts);
void cbp_sessions_fini(struct cbp_sessions *t);

/*
 * Feeds one runtime event. `name` is the string of ev->name and `p` the
 * event's producer (either may be NULL). Events of other kinds are
 * ignored. Returns the session the event changed, or NULL. A session that
 * this event ended has state != CBP_RUNNING and end_ns set (the caller
 * may print its final line). The pointer is valid until the next call
 * that changes the table.
 */
struct cbp_session *cbp_sessions_event(struct cbp_sessions *t,
                                       const struct cbc_event *ev,
                                       const char *name,
                                       const struct cbc_producer *p);

/* Marks stalled sessions at wall time now_ns and forgets ended sessions
 * older than keep_ended_ns. */
void cbp_sessions_tick(struct cbp_sessions *t, uint64_t now_ns);

/* In-flight calls, from a scan of the producers' stacks: reset forgets
 * the previous scan; each call then reports one running call `fname` of
 * `producer`, running for dur_ns. Every running session of that producer
 * keeps the longest; cbp_sessions_tick() turns it into a stall once it
 * reaches long_call_ns. */
void cbp_sessions_long_call_reset(struct cbp_sessions *t);
void cbp_sessions_long_call(struct cbp_sessions *t, uint32_t producer,
                            const char *fname, uint64_t dur_ns);

/* Completion in [0, 1], or a negative value when the total is unknown. */
double cbp_session_fraction(const struct cbp_session *s);

/* Seconds to completion at now_ns, or -1 (unknown; ended sessions too). */
int cbp_session_eta(const struct cbp_session *s, uint64_t now_ns,
                    double *eta_s);

/* Units per second, or negative while unknown. */
double cbp_session_rate(const struct cbp_session *s);

/* Work items (progress records) per second over the session so far, at
 * now_ns (ended: over its duration). */
double cbp_session_items_rate(const struct cbp_session *s, uint64_t now_ns);

/* The innermost open step's name, or "". */
const char *cbp_session_step(const struct cbp_session *s);

/* "running", "ok", "failed", "partial", "aborted". */
const char *cbp_state_name(int state);

/* Formats seconds as "12s", "3m04s", "2h05m", "3d04h" into buf (at least
 * 8 bytes); negative: "?". Returns buf. */
char *cbp_fmt_secs(char *buf, size_t len, double s);

#ifdef __cplusplus
}
#endif
#endif /* CBP_SESSIONS_H */
