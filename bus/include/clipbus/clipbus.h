/*
 * clipbus/clipbus.h -- the producer API: instrument a C program.
 *
 * The analyzer includes only this header. Each instrumented call writes a
 * fixed-size record into its thread's ring in the process's shared-memory
 * segment; consumer processes read them. The promise: emitting a record
 * makes no system call, takes no lock, allocates nothing and never reads a
 * consumer's state, whether zero or five consumers are attached. The
 * exceptions are a thread's set-up: its first record claims and backs the
 * start of its ring, and the record that first needs the rest backs it
 * (cb_thread_prepare() does both up front).
 *
 *   int fetch_page(const char *channel, int page)
 *   {
 *       CB_MONITOR_EXECUTION(CB_STR("channel", channel), CB_INT("page", page));
 *       if (http_get(...) != 200)
 *           return cb_fail(-EIO, "HTTP %d", status);   // marks the outcome
 *       return 0;                                        // success
 *   }
 *
 * Zero configuration: the first record opens the segment
 * /clipbus.<bus>.<pid> (bus from CLIPBUS_BUS, default "default"). If that
 * fails, every call below becomes a no-op, one line on stderr says why, and
 * the program runs on. Environment, read once at that moment:
 *   CLIPBUS_BUS           bus name, [A-Za-z0-9_-]{1,48}
 *   CLIPBUS_RING_RECORDS  records per thread ring, power of two, 64..2^24
 *                         (default 65536 = 4 MiB)
 *   CLIPBUS_RINGS         rings (threads recording at once), 1..1024 (64)
 *   CLIPBUS_NAMES_BYTES   name table bytes, 4096..64 MiB (262144)
 *   CLIPBUS_PERF_SLOW_US  CB_TRACK_PERFORMANCE_EVERY: calls at least this
 *                         long switch their site to full sampling (1000)
 *   CLIPBUS_DISABLE=1     switch instrumentation off at run time
 *   CLIPBUS_QUIET=1       do not print the one-line disable reason
 *
 * Building with -DCLIPBUS_DISABLE compiles every macro to nothing and every
 * function to an inline no-op: the program builds and runs without the
 * library.
 *
 * Which calls may run concurrently (liburcu's table, for this header):
 *
 *   call                         | any thread, at once | async-signal-safe
 *   -----------------------------+---------------------+------------------
 *   CB_MONITOR_EXECUTION, CB_TRACK_PERFORMANCE, cb_fail,
 *   CB_PROGRESS_STEP, cb_progress, cb_count/_gauge/_observe, cb_log
 *                                | yes (per-thread     | no
 *                                |  ring, no locks)    |
 *   cb_session_begin/_end        | yes; one current session per process
 *   cb_name_intern               | yes (first sight of a name takes a
 *                                |  process-local mutex; later lookups
 *                                |  are lock-free)
 *   cb_open / cb_close           | yes, but cb_close only at process end
 *
 * Do not longjmp() out of a function that uses CB_MONITOR_EXECUTION or
 * CB_PROGRESS_STEP: the scope-exit cleanup would not run and the thread's
 * in-flight stack would keep a dead frame.
 */
#ifndef CLIPBUS_CLIPBUS_H
#define CLIPBUS_CLIPBUS_H

#include <stddef.h>
#include <stdint.h>

#include "clipbus/segment.h" /* the record and ring layout the inline paths write */

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------
 * Error codes: 0, or negative. Codes equal -errno where errno fits;
 * clipbus-only codes start at -4000 and are never reused.
 * ------------------------------------------------------------------------ */
#define CB_EBADSEG   (-4001) /* a segment failed validation */
#define CB_EVERSION  (-4002) /* a segment of an unknown layout version */
#define CB_EBUSNAME  (-4003) /* bus name not [A-Za-z0-9_-]{1,48} */
#define CB_ENOTREADY (-4004) /* segment still being created */
#define CB_EDISABLED (-4005) /* instrumentation is switched off */
#define CB_EENV      (-4006) /* a CLIPBUS_* environment value is invalid */
#define CB_EFOREIGN  (-4007) /* segment owned by another user, or mode */
#define CB_ESTALE    (-4008) /* segment of a dead or exited process */


/* Log levels, stored in the record status. */
#define CB_LOG_DEBUG 10
#define CB_LOG_INFO  20
#define CB_LOG_WARN  30
#define CB_LOG_ERROR 40

/* Session outcomes for cb_session_end(). */
#define CB_SESSION_OK      0
#define CB_SESSION_FAILED  1
#define CB_SESSION_PARTIAL 3

/* ------------------------------------------------------------------------
 * Internal types the macros need. Treat their fields as private.
 * ------------------------------------------------------------------------ */
#define CB__CALL_DATA   192 /* parameter bytes kept per call */
#define CB__ERRMSG_MAX  160

struct cb_param {
    uint32_t tag;       /* CB_FIELD_* << 28 | name id */
    uint32_t type;      /* CB_FIELD_*, a constant the inline path folds */
    union {
        int64_t i;
        double d;
        const char *s;  /* borrowed; copied when the call begins */
    } u;
};

struct cb_perf_snap {
    uint64_t cpu_ns;
    uint64_t rss_kb;
    uint64_t vol_csw;
    uint64_t invol_csw;
};

struct cb_call {
    struct cb_call *parent;  /* the enclosing monitored call, or NULL */
    struct cb_perf_site *perf_site; /* CB_TRACK_PERFORMANCE*, or NULL */
    uint64_t t0;             /* start time, producer clock */
    uint32_t name_id;
    uint16_t flags;
    uint16_t data_len;
    int32_t err;
    uint16_t errmsg_len;
    uint16_t _pad0;
    struct cb_perf_snap perf0;
    uint8_t data[CB__CALL_DATA];
    char errmsg[CB__ERRMSG_MAX];
};

struct cb_step {
    struct cb_step *parent;
    double abs;       /* what this step is worth, in session units */
    double sub_total; /* units of nested steps and cb_progress(), or 0 */
    double emitted;   /* session units already reported for this step */
    uint32_t name_id;
    uint32_t session;
};

/* Perf sampling state of one CB_TRACK_PERFORMANCE_EVERY site. */
struct cb_perf_site {
    uint32_t every;
    uint32_t counter; /* racy by design: relaxed atomics, approximate */
    uint32_t slow;    /* 1 while the site's last call was slow */
    uint32_t _pad0;
};

#ifndef CLIPBUS_DISABLE

/* Returns a static string naming err (a CB_E* code or -errno). */
const char *cb_strerror(int err);

/* ------------------------------------------------------------------------
 * Set-up. Optional: the first record does it with the defaults.
 * ------------------------------------------------------------------------ */

/* Opens this process's segment on bus `bus` (NULL: CLIPBUS_BUS or
 * "default"). Returns 0, or a negative code after which instrumentation is
 * off for the life of the process (cb_open() is not retried). Calling it
 * again after success returns 0 and does nothing. */
int cb_open(const char *bus);

/* Marks the segment exited so readers know no more records will come, and
 * detaches. Registered with atexit() by cb_open(); call it yourself only if
 * the process ends another way. Records after it are dropped, silently. */
void cb_close(void);

/* 0 while instrumentation is on (or not yet started), else the negative
 * code that switched it off. */
int cb_state(void);

/* Claims the calling thread's ring now and backs all of it with memory.
 * Optional: a thread's first record claims its ring, with only its first
 * CB_RING_CHUNK slots backed (so a thread that writes a few records costs
 * 256 KiB of /dev/shm, not the whole ring), and the record that first
 * needs more backs the rest -- a one-time fallocate of a few MiB. Call
 * this first in a thread whose later records must make no system call at
 * all (before a seccomp sandbox, or a latency-critical loop). Returns 0,
 * or a negative code (the thread's records are then dropped and
 * counted, as they would have been). */
int cb_thread_prepare(void);

/* Returns the name id of `name` in this process's segment, interning it on
 * first sight; 0 when instrumentation is off. A full table yields the id of
 * "?", and the loss is counted in the segment header. */
uint32_t cb_name_intern(const char *name);

/* ------------------------------------------------------------------------
 * Monitored calls (Req 1.1-1.3: call, parameters, timestamps, outcome).
 * ------------------------------------------------------------------------ */

/* Parameters for CB_MONITOR_EXECUTION: a name (string literal) and a value.
 * Strings are copied when the call begins; all parameters of one call share
 * CB__CALL_DATA bytes and what does not fit is cut (flagged truncated). */
#define CB_INT(name, v)                                                        \
    ((struct cb_param){CB__TAG(1, name), 1, {.i = (int64_t)(v)}})
#define CB_DBL(name, v)                                                        \
    ((struct cb_param){CB__TAG(2, name), 2, {.d = (double)(v)}})
#define CB_STR(name, v)                                                        \
    ((struct cb_param){CB__TAG(3, name), 3, {.s = (v)}})

/* Place first in a function body. Records one call when the scope exits,
 * by any return: start time, duration, parameters, and the outcome, which
 * is success unless cb_fail() was called in this call. */
#define CB_MONITOR_EXECUTION(...) CB__CALL((struct cb_perf_site *)0, __VA_ARGS__)

/* As CB_MONITOR_EXECUTION, plus CPU time, RSS and context switches of the
 * call, measured on every call (four system calls, about 1 us; see the
 * README). Use one of the two macros per function, not both. */
#define CB_TRACK_PERFORMANCE(...) CB__CALL(&cb__perf_always, __VA_ARGS__)

/* As CB_TRACK_PERFORMANCE, but measures only every n-th call of this site,
 * and every call while the site is slow: once a call lasted at least
 * CLIPBUS_PERF_SLOW_US, calls are measured until one is fast again. */
#define CB_TRACK_PERFORMANCE_EVERY(n, ...)                                     \
    static struct cb_perf_site CB__CAT(cb__perf_site_, __LINE__) = {           \
        (n), 0, 0, 0};                                                         \
    CB__CALL(&CB__CAT(cb__perf_site_, __LINE__), __VA_ARGS__)

/* Marks the innermost monitored call of this thread as failed with `code`
 * and a printf-style message (cut to CB__ERRMSG_MAX - 1 bytes), and returns
 * `code`, so that an int-returning function can write
 *     return cb_fail(-ETIMEDOUT, "no answer in %d ms", ms);
 * Convention: for functions returning int, a negative return is a failure
 * only if cb_fail() marked it; nothing is inferred from the return value.
 * Without a monitored call in progress it only returns `code`. */
int cb_fail(int code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* ------------------------------------------------------------------------
 * Sessions and weighted progress (Req 1.4).
 * ------------------------------------------------------------------------ */

/* Begins a session (a run) worth `total_weight` units and makes it the
 * process's current session. Returns its id (> 0), or 0 when off. */
uint32_t cb_session_begin(const char *name, double total_weight);

/* Ends the current session with CB_SESSION_* `status`. */
void cb_session_end(int status);

/* Place first in a function body: the function's completion is worth
 * `weight` units of its parent -- the enclosing step's sub-total, or the
 * session's total for a top-level step. When the scope exits, whatever the
 * step has not yet reported is reported, so a step always counts exactly
 * its weight. Steps nest per thread: the first step on a worker thread is
 * top-level, its weight in units of the session's total. */
#define CB_PROGRESS_STEP(weight)                                               \
    CB__PROGRESS_STEP(weight, CB__CAT(cb__step_, __LINE__),                   \
                      CB__CAT(cb__step_site_, __LINE__))

/* Declares that nested steps and cb_progress() inside the current step
 * count in units of `sub_total` (the current step is worth all of them).
 * Without it, nested steps report nothing and the step reports its whole
 * weight at its end. */
void cb_progress_total(double sub_total);

/* Advances the current step by `units` of its sub-total (or, outside any
 * step, the session by `units` of its total weight). */
void cb_progress(double units);

/* ------------------------------------------------------------------------
 * Metrics. `name` must be a string literal (its id is cached at the call
 * site); `labels` is a run-time "k=v,k2=v2" string, interned on first sight.
 * ------------------------------------------------------------------------ */
#define cb_count(name, delta)                                                  \
    cb__metric_i_inline(CB_KIND_COUNT, CB__ID(name), (delta))
#define cb_gauge(name, v)                                                      \
    cb__metric_d_inline(CB_KIND_GAUGE, CB__ID(name), (v))
#define cb_observe(name, v)                                                    \
    cb__metric_d_inline(CB_KIND_OBSERVE, CB__ID(name), (v))
#define cb_count_l(name, delta, labels)                                        \
    cb__metric_i(7, CB__ID(name), (delta), (labels))
#define cb_gauge_l(name, v, labels)                                            \
    cb__metric_d(8, CB__ID(name), (v), (labels))
#define cb_observe_l(name, v, labels)                                          \
    cb__metric_d(9, CB__ID(name), (v), (labels))

/* A structured log line at CB_LOG_* `level`; the message is formatted into
 * the record (up to 1024 bytes; longer is cut and flagged). */
void cb_log(int level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* ------------------------------------------------------------------------
 * Internals used by the macros above.
 * ------------------------------------------------------------------------ */
extern struct cb_perf_site cb__perf_always;

/* Flags of struct cb_call. */
#define CB__CALL_OFF   0x01u /* instrumentation off: the end does nothing */
#define CB__CALL_PERF  0x02u /* take resource readings */
#define CB__CALL_TRUNC 0x04u /* parameters were cut */
#define CB__CALL_FAIL  0x08u /* cb_fail() was called */
#define CB__CALL_FAST  0x10u /* begun inline: data holds 0-2 numbers */

/* The calling thread's writer state. Private to libclipbus, but its
 * layout is part of the library's ABI: the inline fast paths below are
 * compiled into the program. Initial-exec TLS: one %fs-relative access. */
struct cb__thread {
    struct cb_ring_header *ring;  /* NULL until claimed */
    struct cb_record *slots;
    uint64_t head;                /* next record number to write */
    uint64_t mask;
    /* The inline paths may write record n while (int64_t)(istop - n) > 0:
     * the ring is claimed, its slot is backed, and the clock is the TSC.
     * The library's own limit is stop (no clock condition). */
    uint64_t istop;
    uint64_t stop;
    uint32_t ring_idx;
    uint32_t tid;
    uint32_t depth;               /* in-flight depth (mirror of ring's) */
    uint32_t unringed;            /* 1: no ring was free */
    uint32_t retry;               /* records dropped since last retry */
    uint32_t grow_failed;         /* 1: the ring's rest could not be backed */
    uint64_t pushes;              /* mirror of ring->pushes */
    struct cb_call *top;          /* innermost monitored call */
    struct cb_step *step;         /* innermost progress step */
};
extern __thread struct cb__thread cb__thr
    __attribute__((tls_model("initial-exec")));
/* The current session id, stored in every record (relaxed atomics). */
extern uint32_t cb__session;
uint32_t cb__name_cached(uint32_t *cache, const char *name);
void cb__call_begin(struct cb_call *c, uint32_t *site, const char *func,
                    struct cb_perf_site *perf, const struct cb_param *p,
                    size_t np);
void cb__call_end(struct cb_call *c);
void cb__step_begin(struct cb_step *s, uint32_t *site, const char *func,
                    double weight);
void cb__step_end(struct cb_step *s);
void cb__metric_i(int kind, uint32_t name_id, int64_t v, const char *labels);
void cb__metric_d(int kind, uint32_t name_id, double v, const char *labels);

/* The id of a string literal, cached in a static at the call site. The
 * empty strings around `lit` make a non-literal a compile error. The
 * static is read and written with relaxed atomics: two threads racing on a
 * first call both store the same id. */
#define CB__ID(lit)                                                            \
    __extension__({                                                            \
        static uint32_t cb__id_;                                               \
        uint32_t cb__v_ = __atomic_load_n(&cb__id_, __ATOMIC_RELAXED);         \
        if (__builtin_expect(cb__v_ == 0, 0))                                  \
            cb__v_ = cb__name_cached(&cb__id_, "" lit "");                     \
        cb__v_;                                                                \
    })
#define CB__TAG(type, name) (((uint32_t)(type) << 28) | CB__ID(name))

/* ------------------------------------------------------------------------
 * Inline fast paths. Once a thread has its ring and the clock is the TSC
 * (cb__inline_room), a metric without labels and a monitored call with up
 * to two numeric parameters are written by the code below, compiled into
 * the caller: two TLS loads, a clock read and stores into the thread's own
 * slot, with no call into the library. Everything else -- the thread's
 * first record, the record that needs the rest of its ring backed,
 * strings, labels, failures, CB_TRACK_PERFORMANCE, another clock -- takes
 * the out-of-line functions, which write the same records. The
 * ring protocol these stores follow is described in bus/src/ring.c. The
 * atomics are the compiler's (relaxed and release stores are plain moves
 * on x86-64), so a program needs no other header than this one.
 * ------------------------------------------------------------------------ */
#if defined(__x86_64__) && !defined(CB__NO_INLINE)
#define CB__INLINE 1
#define CB__TICKS() ((uint64_t)__builtin_ia32_rdtsc())
#else
#define CB__INLINE 0
#endif
#define CB__ALWAYS_INLINE static inline __attribute__((always_inline))

/* Writes words w0..w6 (record bytes 8..63) as record t->head and
 * publishes it: W1-W4 of the protocol. The words come as scalars so that
 * they stay in registers. */
CB__ALWAYS_INLINE void
cb__slot_put(struct cb__thread *t, uint64_t w0, uint64_t w1, uint64_t w2,
             uint64_t w3, uint64_t w4, uint64_t w5, uint64_t w6)
{
    uint64_t n = t->head;
    uint64_t *s = (uint64_t *)&t->slots[n & t->mask];

    /* W1: odd, so a reader copying this slot now sees seq change. */
    __atomic_store_n(&s[0], 2 * n + 1, __ATOMIC_RELAXED);
    /* W2: the odd mark is ordered before every payload store. */
    __atomic_thread_fence(__ATOMIC_RELEASE);
    /* W3: the payload. */
    __atomic_store_n(&s[1], w0, __ATOMIC_RELAXED);
    __atomic_store_n(&s[2], w1, __ATOMIC_RELAXED);
    __atomic_store_n(&s[3], w2, __ATOMIC_RELAXED);
    __atomic_store_n(&s[4], w3, __ATOMIC_RELAXED);
    __atomic_store_n(&s[5], w4, __ATOMIC_RELAXED);
    __atomic_store_n(&s[6], w5, __ATOMIC_RELAXED);
    __atomic_store_n(&s[7], w6, __ATOMIC_RELAXED);
    /* W4: publish; pairs with the reader's acquire load of seq (R1). */
    __atomic_store_n(&s[0], 2 * n + 2, __ATOMIC_RELEASE);
    t->head = n + 1;
}

/* Ends an entry: head tells lapped readers where the writer is. */
CB__ALWAYS_INLINE void
cb__entry_done(struct cb__thread *t)
{
    __atomic_store_n(&t->ring->head, t->head, __ATOMIC_RELEASE);
}

/* Record word at byte 8: kind, ext, flags, name id. */
CB__ALWAYS_INLINE uint64_t
cb__w0(uint32_t kind, uint32_t ext, uint32_t flags, uint32_t name_id)
{
    return (uint64_t)kind | (uint64_t)ext << 16 | (uint64_t)flags << 24 |
           (uint64_t)name_id << 32;
}

/* Record word at byte 32: session, status, data_len. */
CB__ALWAYS_INLINE uint64_t
cb__w3(uint32_t status, size_t len)
{
    return (uint64_t)__atomic_load_n(&cb__session, __ATOMIC_RELAXED) |
           (uint64_t)status << 32 | (uint64_t)len << 48;
}

/* 1 when the inline path may write the thread's next record. */
CB__ALWAYS_INLINE int
cb__inline_room(const struct cb__thread *t)
{
    return (int64_t)(t->istop - t->head) > 0;
}

#if CB__INLINE
CB__ALWAYS_INLINE void
cb__metric_put(uint32_t kind, uint32_t name_id, uint64_t bits)
{
    struct cb__thread *t = &cb__thr;
    uint64_t ts = CB__TICKS();

    cb__slot_put(t, cb__w0(kind, 0, 0, name_id), ts, bits, cb__w3(0, 0), 0,
                 0, 0);
    cb__entry_done(t);
}
#endif

CB__ALWAYS_INLINE void
cb__metric_i_inline(uint32_t kind, uint32_t name_id, int64_t v)
{
#if CB__INLINE
    if (__builtin_expect(cb__inline_room(&cb__thr), 1)) {
        cb__metric_put(kind, name_id, (uint64_t)v);
        return;
    }
#endif
    cb__metric_i((int)kind, name_id, v, NULL);
}

CB__ALWAYS_INLINE void
cb__metric_d_inline(uint32_t kind, uint32_t name_id, double v)
{
#if CB__INLINE
    if (__builtin_expect(cb__inline_room(&cb__thr), 1)) {
        union { double d; uint64_t u; } bits = {v};
        cb__metric_put(kind, name_id, bits.u);
        return;
    }
#endif
    cb__metric_d((int)kind, name_id, v, NULL);
}

/* The in-flight stack: a seqlock over the frames (pushes odd while a
 * frame is rewritten), then the depth. Mirrors live in *t. */
CB__ALWAYS_INLINE void
cb__inflight_push(struct cb__thread *t, uint32_t name_id, uint64_t ts)
{
    struct cb_ring_header *r = t->ring;
    uint32_t d = t->depth++;

    if (d < CB_INFLIGHT_MAX) {
        __atomic_store_n(&r->pushes, ++t->pushes, __ATOMIC_RELAXED);
        __atomic_thread_fence(__ATOMIC_RELEASE);
        __atomic_store_n(&r->frames[d].ts, ts, __ATOMIC_RELAXED);
        __atomic_store_n(&r->frames[d].name_id, name_id, __ATOMIC_RELAXED);
        __atomic_store_n(&r->pushes, ++t->pushes, __ATOMIC_RELEASE);
    }
    /* Release: a reader that sees the new depth sees its frame. */
    __atomic_store_n(&r->depth, t->depth, __ATOMIC_RELEASE);
}

CB__ALWAYS_INLINE void
cb__inflight_pop(struct cb__thread *t)
{
    if (t->depth > 0)
        t->depth--;
    __atomic_store_n(&t->ring->depth, t->depth, __ATOMIC_RELAXED);
}

/* 1 when the parameters fit the inline path: at most two numbers, whose
 * 12-byte fields fill the head record's 24 data bytes. Constant-folded. */
CB__ALWAYS_INLINE int
cb__params_inline(const struct cb_param *p, size_t np)
{
    return np <= 2 && (np < 1 || p[0].type != CB_FIELD_STR) &&
           (np < 2 || p[1].type != CB_FIELD_STR);
}

CB__ALWAYS_INLINE void
cb__call_begin_inline(struct cb_call *c, uint32_t *site, const char *func,
                      struct cb_perf_site *perf, const struct cb_param *p,
                      size_t np)
{
#if CB__INLINE
    struct cb__thread *t = &cb__thr;
    uint32_t id;

    if (__builtin_expect(perf == NULL && cb__params_inline(p, np) &&
                             cb__inline_room(t) &&
                             (id = __atomic_load_n(site, __ATOMIC_RELAXED)) != 0,
                         1)) {
        /* Fields as put_tag() lays them out: tag (4 bytes), value (8). */
        uint64_t d[3] = {0, 0, 0};
        if (np >= 1) {
            d[0] = p[0].tag | (uint64_t)p[0].u.i << 32;
            d[1] = (uint64_t)p[0].u.i >> 32;
        }
        if (np >= 2) {
            d[1] |= (uint64_t)p[1].tag << 32;
            d[2] = (uint64_t)p[1].u.i;
        }
        __builtin_memcpy(c->data, d, sizeof d);
        c->flags = CB__CALL_FAST;
        c->data_len = (uint16_t)(12 * np);
        c->name_id = id;
        c->perf_site = (struct cb_perf_site *)0;
        c->parent = t->top;
        t->top = c;
        c->t0 = CB__TICKS();
        cb__inflight_push(t, id, c->t0);
        return;
    }
#endif
    cb__call_begin(c, site, func, perf, p, np);
}

CB__ALWAYS_INLINE void
cb__call_end_inline(struct cb_call *c)
{
#if CB__INLINE
    struct cb__thread *t = &cb__thr;

    /* Not if cb_fail() marked the call, nor if the thread lost its ring
     * (fork) or reached the end of its ring's backed part since the call
     * began. */
    if (__builtin_expect(c->flags == CB__CALL_FAST && cb__inline_room(t),
                         1)) {
        uint64_t t1 = CB__TICKS(), d[3];
        t->top = c->parent;
        cb__inflight_pop(t);
        __builtin_memcpy(d, c->data, sizeof d);
        cb__slot_put(t, cb__w0(CB_KIND_CALL, 0, 0, c->name_id), c->t0,
                     t1 - c->t0, cb__w3(CB_STATUS_OK, c->data_len), d[0],
                     d[1], d[2]);
        cb__entry_done(t);
        return;
    }
#endif
    cb__call_end(c);
}

/* The parameter array starts with a dummy element so that an empty
 * argument list still gives a valid initializer ({x, } is legal C). */
#define CB__CALL(perf, ...)                                                    \
    CB__CALL_(CB__CAT(cb__call_, __LINE__),                                    \
              CB__CAT(cb__call_site_, __LINE__), perf, __VA_ARGS__)
#define CB__CALL_(call, site, perf, ...)                                       \
    static uint32_t site;                                                      \
    struct cb_call call __attribute__((cleanup(cb__call_end_inline)));        \
    {                                                                          \
        const struct cb_param cb__params[] = {{0, 0, {0}}, __VA_ARGS__};       \
        cb__call_begin_inline(&call, &site, __func__, (perf), cb__params + 1,  \
                              sizeof cb__params / sizeof cb__params[0] - 1);   \
    }                                                                          \
    (void)0
#define CB__PROGRESS_STEP(weight, step, site)                                  \
    static uint32_t site;                                                      \
    struct cb_step step __attribute__((cleanup(cb__step_end)));               \
    cb__step_begin(&step, &site, __func__, (double)(weight))
/* Names unique per line, so a nested scope's macro shadows nothing. */
#define CB__CAT_(a, b) a##b
#define CB__CAT(a, b)  CB__CAT_(a, b)

#else /* CLIPBUS_DISABLE: everything compiles to nothing. */

static inline const char *cb_strerror(int err)
{
    return err == CB_EDISABLED ? "instrumentation is compiled out"
                               : "clipbus is compiled out (CLIPBUS_DISABLE)";
}
static inline int cb_open(const char *bus)
{
    (void)bus;
    return CB_EDISABLED;
}
static inline void cb_close(void)
{
}
static inline int cb_state(void)
{
    return CB_EDISABLED;
}
static inline int cb_thread_prepare(void)
{
    return CB_EDISABLED;
}
static inline uint32_t cb_name_intern(const char *name)
{
    (void)name;
    return 0;
}
static inline uint32_t cb_session_begin(const char *name, double w)
{
    (void)name;
    (void)w;
    return 0;
}
static inline void cb_session_end(int status)
{
    (void)status;
}
static inline void cb_progress_total(double t)
{
    (void)t;
}
static inline void cb_progress(double u)
{
    (void)u;
}
/* A call, not a bare (code): `cb_fail(...);` as a statement must not warn
 * "statement with no effect" when instrumentation is compiled out. The
 * message arguments are evaluated (they rarely have side effects); the
 * format is checked. */
static inline int cb__fail_off(int code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static inline int cb__fail_off(int code, const char *fmt, ...)
{
    (void)fmt;
    return code;
}
/* Never called: only its type is taken (inside sizeof), so cb_log's
 * arguments are type- and format-checked but not evaluated. */
static inline int cb__log_off(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));
static inline int cb__log_off(const char *fmt, ...)
{
    (void)fmt;
    return 0;
}
/* Arguments are "used" without being evaluated (sizeof), so code whose
 * variables exist only for monitoring draws no unused warnings, and no
 * side effect of an argument runs -- the same contract as assert() under
 * NDEBUG. Format strings are still checked by the compiler. */
#define CB_INT(name, v)                    ((void)sizeof(v))
#define CB_DBL(name, v)                    ((void)sizeof(v))
#define CB_STR(name, v)                    ((void)sizeof(v))
#define CB_MONITOR_EXECUTION(...)          do { __VA_ARGS__; } while (0)
#define CB_TRACK_PERFORMANCE(...)          do { __VA_ARGS__; } while (0)
#define CB_TRACK_PERFORMANCE_EVERY(n, ...)                                     \
    do {                                                                       \
        (void)sizeof(n);                                                       \
        __VA_ARGS__;                                                           \
    } while (0)
#define CB_PROGRESS_STEP(weight)           ((void)sizeof(weight))
#define cb_fail(code, ...)                 cb__fail_off((code), __VA_ARGS__)
#define cb_count(name, delta)              ((void)sizeof(delta))
#define cb_gauge(name, v)                  ((void)sizeof(v))
#define cb_observe(name, v)                ((void)sizeof(v))
#define cb_count_l(name, delta, labels)    ((void)sizeof(delta), (void)sizeof(labels))
#define cb_gauge_l(name, v, labels)        ((void)sizeof(v), (void)sizeof(labels))
#define cb_observe_l(name, v, labels)      ((void)sizeof(v), (void)sizeof(labels))
#define cb_log(level, ...)                                                     \
    ((void)sizeof(level), (void)sizeof(cb__log_off(__VA_ARGS__)))

#endif /* CLIPBUS_DISABLE */

#ifdef __cplusplus
}
#endif
#endif /* CLIPBUS_CLIPBUS_H */
