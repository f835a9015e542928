/*
 * consumers/common/agg.h -- aggregation for consumers: latency histograms,
 * record-time windows, roll-ups and trends.
 *
 * Three layers, each usable alone (docs/aggregation.md is the long form):
 *
 *   cb_hist    a fixed-size log-linear histogram of uint64 values
 *              (nanoseconds): exact count/sum/min/max, percentiles within
 *              a relative error of 1/128, exact bucket-wise merge, and a
 *              compact byte encoding.                          (hist.c)
 *   cb_agg     per-key statistics over aligned windows of RECORD time:
 *              functions (calls, errors by code, durations), counters,
 *              gauges and observed values. Finished windows are handed to
 *              a callback in time order; records for an already closed
 *              window are filed in a "late delta" window and counted.
 *                                                            (window.c)
 *   cb_rollup, cb_trend, cb_change
 *              daily/weekly/monthly averages from window summaries, a
 *              least-squares trend with direction and regression flag, and
 *              the comparison of two periods.                 (trend.c)
 *
 * THREADS. Nothing here locks. A cb_hist, a cb_agg and a cb_rollup belong
 * to one thread at a time (in a consumer: its worker thread); two threads
 * may use two different objects at once. The pure functions (cb_trend_fit,
 * cb_change_eval, cb_period_*, cb_hist_bucket_*) may run anywhere.
 *
 *   call                                   | concurrently with itself
 *   ---------------------------------------+--------------------------------
 *   cb_hist_*, cb_agg_*, cb_rollup_*       | only on different objects
 *   cb_trend_fit, cb_change_eval,          | yes (no state)
 *   cb_period_*, cb_hist_bucket_*          |
 *
 * COST. cb_hist_add and the cb_agg add calls allocate nothing and make no
 * system call once a key's slot exists in the current window: slots and
 * histograms of closed windows are recycled. Allocation happens when a key
 * is first seen, and while the pools grow to the steady-state number of
 * open windows.
 *
 * Errors: 0 or a negative errno value (-EINVAL, -ENOMEM, -ENOSPC,
 * -EBADMSG, -ERANGE), as everywhere in clipbus.
 */
#ifndef CLIPBUS_AGG_H
#define CLIPBUS_AGG_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ========================================================================
 * Histogram
 * ======================================================================== */

/*
 * Buckets. Values below 2^CB_HIST_SUB_BITS (64) have a bucket each. Above,
 * every power-of-two range [2^e, 2^(e+1)) is cut into 64 equal buckets of
 * width 2^(e-6), so a bucket is at most 1/64 of its lower bound wide.
 * A percentile is reported as the middle of its bucket (clamped to
 * [min, max]), which is within 1/128 (0.79 %) of the exact value: see
 * CB_HIST_REL_ERROR. Values up to 2^CB_HIST_MAX_EXP - 1 ns (about 4.9
 * hours) are tracked; larger ones are counted in `overflow` (and in count,
 * sum, min, max), and a percentile that falls among them reports max.
 */
#define CB_HIST_SUB_BITS  6
#define CB_HIST_SUB       (1u << CB_HIST_SUB_BITS)
#define CB_HIST_MAX_EXP   44
#define CB_HIST_MAX_VALUE ((UINT64_C(1) << CB_HIST_MAX_EXP) - 1)
#define CB_HIST_BUCKETS                                                        \
    ((uint32_t)((CB_HIST_MAX_EXP - CB_HIST_SUB_BITS + 1) * CB_HIST_SUB))
#define CB_HIST_REL_ERROR (1.0 / (2.0 * CB_HIST_SUB))

/* Largest result of cb_hist_encode(): header plus two 10-byte varints per
 * bucket. Typical encodings are far smaller (sparse). */
#define CB_HIST_ENCODED_MAX (64u + 20u * CB_HIST_BUCKETS)

/*
 * A histogram: about 20 KiB, caller-allocated (embed it or allocate it;
 * there are no pointers inside, so it may be copied with memcpy). Fields
 * are readable; change them only through the functions below.
 */
struct cb_hist {
    uint64_t count;    /* values added, overflow included */
    uint64_t overflow; /* values above CB_HIST_MAX_VALUE */
    uint64_t min;      /* exact; UINT64_MAX while count is 0 */
    uint64_t max;      /* exact; 0 while count is 0 */
    uint64_t sum_lo;   /* exact 128-bit sum of the values: */
    uint64_t sum_hi;   /*   sum_hi * 2^64 + sum_lo */
    uint32_t lo_idx;   /* lowest and highest non-empty bucket; */
    uint32_t hi_idx;   /*   lo_idx > hi_idx while no bucket is used */
    uint64_t buckets[CB_HIST_BUCKETS];
};

/* Makes *h empty, whatever it held. Pair: none (nothing to release). */
void cb_hist_init(struct cb_hist *h);

/* Makes a valid *h empty; cheaper than cb_hist_init() for a sparse one. */
void cb_hist_reset(struct cb_hist *h);

/* Adds one value (ns). No allocation, no system call. */
void cb_hist_add(struct cb_hist *h, uint64_t v);

/* Adds `n` copies of value v (n may be 0). */
void cb_hist_add_n(struct cb_hist *h, uint64_t v, uint64_t n);

/* dst += src, exactly: bucket-wise sums, so merging the histograms of the
 * parts of a data set gives bit for bit the histogram of the whole. src is
 * unchanged; dst == src is allowed (doubles it). */
void cb_hist_merge(struct cb_hist *dst, const struct cb_hist *src);

/* The p-th percentile (p in [0, 100], nearest-rank: the value of rank
 * ceil(p/100 * count), at least 1) estimated within CB_HIST_REL_ERROR of
 * the exact value. p <= 0 gives min, p >= 100 max (both exact); 0 when
 * empty; NaN p is treated as 0. */
uint64_t cb_hist_percentile(const struct cb_hist *h, double p);

/* The exact mean of the values (as a double), 0 when empty. */
double cb_hist_mean(const struct cb_hist *h);

/* The sum of the values as a double (exact below 2^53). */
double cb_hist_sum(const struct cb_hist *h);

/* 1 if a and b hold the same data (all fields, all buckets), else 0. */
int cb_hist_equal(const struct cb_hist *a, const struct cb_hist *b);

/* The bucket that value v falls in (values above CB_HIST_MAX_VALUE give
 * the last bucket index + 1, i.e. CB_HIST_BUCKETS). */
uint32_t cb_hist_bucket_index(uint64_t v);

/* The values [*lo, *hi] that bucket idx (< CB_HIST_BUCKETS) covers. */
void cb_hist_bucket_bounds(uint32_t idx, uint64_t *lo, uint64_t *hi);

/*
 * Serialization: a little-endian, versioned byte string ("CBH1", the
 * bucket layout, the exact fields, then the non-empty buckets as varint
 * index deltas and counts). cb_hist_encode() writes at most `cap` bytes to
 * buf and sets *len to the encoded size; -ENOSPC (and *len = the size
 * needed) when cap is too small, buf untouched then.
 * cb_hist_decode() treats buf as untrusted input: it checks the magic,
 * layout, every index and that the counts and extremes agree, and returns
 * 0, or -EBADMSG with *h emptied. decode(encode(h)) equals h.
 */
int cb_hist_encode(const struct cb_hist *h, uint8_t *buf, size_t cap,
                   size_t *len);
int cb_hist_decode(const uint8_t *buf, size_t len, struct cb_hist *h);

/* ========================================================================
 * Windows
 * ======================================================================== */

/* Key kinds. */
#define CB_AGG_FUNCTION 1 /* monitored calls: counts, errors, durations */
#define CB_AGG_COUNTER  2 /* cb_count: sum of deltas and rate */
#define CB_AGG_GAUGE    3 /* cb_gauge: last, min, max, mean */
#define CB_AGG_OBSERVE  4 /* cb_observe: a histogram of the samples */

/* Call outcomes; equal to CB_STATUS_* of segment.h. */
#define CB_AGG_OK      0
#define CB_AGG_ERROR   1
#define CB_AGG_ABORTED 2

/* Distinct error codes counted per function and window; further codes are
 * summed in errs_other. */
#define CB_AGG_ERRCODES 8

/* Observed values (doubles) are kept in a histogram as integers of
 * 1/CB_AGG_OBSERVE_SCALE units: milliseconds keep microseconds. */
#define CB_AGG_OBSERVE_SCALE 1000.0

/* Default window length and the value of grace_ns for manual closing. */
#define CB_AGG_WINDOW_DEFAULT_NS (UINT64_C(10) * 1000000000u)
#define CB_AGG_MANUAL            UINT64_MAX

struct cb_agg_errcount {
    int32_t code;
    uint32_t _pad0;
    uint64_t n;
};

/* CB_AGG_FUNCTION. */
struct cb_agg_fn {
    uint64_t calls;         /* returned calls, OK or ERROR (== hist->count) */
    uint64_t errors;        /* of which ERROR */
    uint64_t aborted;       /* ended by the consumer (producer died) */
    uint64_t inflight_n;    /* in-flight reports (cb_agg_inflight) */
    uint64_t inflight_max;  /* highest in-flight count reported */
    uint64_t inflight_last; /* the latest report, by record time */
    uint64_t inflight_ts;   /* its record time */
    uint64_t errs_other;    /* errors whose code found no free slot */
    uint32_t nerrs;         /* used entries of errs, in first-seen order */
    uint32_t _pad0;
    struct cb_agg_errcount errs[CB_AGG_ERRCODES];
};

/* CB_AGG_COUNTER. The rate is sum / window length. */
struct cb_agg_counter {
    int64_t sum; /* saturates at INT64_MIN / INT64_MAX */
    uint64_t n;  /* updates */
};

/* CB_AGG_GAUGE. last is the sample with the latest record time (on equal
 * times, the later added). */
struct cb_agg_gauge {
    uint64_t n;
    double last, min, max;
    double sum;       /* for the mean; merged sums may differ in rounding */
    uint64_t last_ts; /* record time of last */
};

/*
 * One key's statistics in one window. name and labels are views owned by
 * the cb_agg that made the entry (valid until cb_agg_destroy()). hist is
 * the duration histogram (FUNCTION, ns) or the sample histogram (OBSERVE,
 * scaled), NULL for the other kinds.
 */
struct cb_agg_entry {
    uint32_t key; /* key id in the cb_agg that made the entry */
    int kind;     /* CB_AGG_* */
    const char *name;
    const char *labels; /* "" when none */
    uint64_t records;   /* adds filed here */
    uint64_t late;      /* of which arrived after their window closed */
    uint64_t rejected;  /* OBSERVE: negative or non-finite samples;
                           GAUGE: non-finite values */
    struct cb_agg_fn fn;
    struct cb_agg_counter counter;
    struct cb_agg_gauge gauge;
    struct cb_hist *hist;
};

/*
 * A finished window, as passed to the close callback. Valid only during
 * the callback (entries and histograms are recycled afterwards): copy or
 * merge what you keep. entries are sorted by key id.
 *
 * late == 0: the window [start_ns, start_ns + len_ns) of record time;
 * windows are delivered in increasing start_ns, each start at most once.
 * late == 1: a late delta: records whose window had already been
 * delivered. Its start_ns is that earlier window; add it to what you
 * stored for that slot, or count it. Late deltas are delivered before the
 * next regular window and by cb_agg_flush().
 */
struct cb_agg_window {
    uint64_t start_ns;
    uint64_t len_ns;
    int late;
    size_t n;
    struct cb_agg_entry *const *entries;
};

/* The close callback. It may read w and call cb_agg_merge_window() on
 * ANOTHER cb_agg, but must not call any cb_agg function on the cb_agg
 * that invoked it. */
typedef void (*cb_agg_close_fn)(void *arg, const struct cb_agg_window *w);

struct cb_agg_opts {
    uint64_t window_ns; /* 0: CB_AGG_WINDOW_DEFAULT_NS (10 s) */
    /* Windows close when the newest record time seen passes their end by
     * grace_ns (records up to that much out of order still land in their
     * window), or when cb_agg_advance() says so. 0: two windows.
     * CB_AGG_MANUAL: only cb_agg_advance() and cb_agg_flush() close. */
    uint64_t grace_ns;
    uint32_t late_max;        /* late deltas held before the oldest is sent
                                 on (0: 32) */
    cb_agg_close_fn on_close; /* may be NULL: windows are dropped */
    void *arg;
};

struct cb_agg_stats {
    uint64_t records;        /* adds accepted */
    uint64_t late;           /* of which filed in late deltas */
    uint64_t dropped;        /* adds refused for lack of memory */
    uint64_t windows_closed; /* regular windows delivered */
    uint64_t late_windows;   /* late deltas delivered */
    uint64_t watermark_ns;   /* windows ending at or before are closed */
    uint64_t newest_ns;      /* newest record time seen */
    uint32_t keys;
    uint32_t open_windows;
    uint32_t pending_late;
};

struct cb_agg;

/* Makes an aggregator (opts may be NULL for the defaults). *out is owned
 * by the caller: pair with cb_agg_destroy(). Returns 0, -EINVAL (window
 * length 0 after defaults cannot happen; a grace of CB_AGG_MANUAL is
 * fine), or -ENOMEM with *out = NULL. */
int cb_agg_create(const struct cb_agg_opts *opts, struct cb_agg **out);

/* Frees everything; windows still open are dropped (call cb_agg_flush()
 * first to deliver them). NULL is a no-op. */
void cb_agg_destroy(struct cb_agg *a);

/* The id of key (kind, name, labels), made on first sight (name and
 * labels are copied; labels NULL or "" for none). Same triple, same id,
 * for the life of the cb_agg; ids count from 0. A caller caches the id so
 * the add calls need no string hashing. -EINVAL for an unknown kind or an
 * empty name, -ENOMEM. */
int cb_agg_key(struct cb_agg *a, int kind, const char *name, const char *labels,
               uint32_t *id);

/*
 * The add calls. ts_ns is the record's own time (wall-clock ns), never
 * the arrival time. Each returns 0 when filed in its regular window, 1
 * when filed in a late delta, -EINVAL for an unknown key id or a key of
 * another kind, -ENOMEM (counted as dropped). They may invoke the close
 * callback (auto closing, see grace_ns).
 *
 * cb_agg_call: a returned call of dur_ns (OK or ERROR; err_code is
 * counted for ERROR) or an ABORTED one (counted only: its duration is not
 * a real one).
 * cb_agg_inflight: n calls of this function were running at ts_ns.
 * cb_agg_observe: v is scaled by CB_AGG_OBSERVE_SCALE, rounded; negative
 * or non-finite values are counted in `rejected` only.
 */
int cb_agg_call(struct cb_agg *a, uint32_t key, uint64_t ts_ns, uint64_t dur_ns,
                int outcome, int32_t err_code);
int cb_agg_inflight(struct cb_agg *a, uint32_t key, uint64_t ts_ns, uint64_t n);
int cb_agg_count(struct cb_agg *a, uint32_t key, uint64_t ts_ns, int64_t delta);
int cb_agg_gauge(struct cb_agg *a, uint32_t key, uint64_t ts_ns, double v);
int cb_agg_observe(struct cb_agg *a, uint32_t key, uint64_t ts_ns, double v);

/* Declares that records older than watermark_ns are not expected any
 * more: delivers pending late deltas, then every window ending at or
 * before it, in time order. A watermark below the current one is
 * ignored. The consumer runtime calls it with e.g. the oldest of its
 * rings' newest record times, or wall-clock time minus a margin when all
 * rings are idle. Returns the number of regular windows delivered. */
int cb_agg_advance(struct cb_agg *a, uint64_t watermark_ns);

/* Delivers every pending late delta and every open window (shutdown, or
 * the end of a test). Later records for those windows are late. Returns
 * the number of regular windows delivered. */
int cb_agg_flush(struct cb_agg *a);

/*
 * Adds a finished window (from another cb_agg's callback) into `dst`,
 * whose window length must be a multiple of w->len_ns so that w fits in
 * one dst window: a 10 s aggregator feeds a 1 min one, exactly (counts,
 * histograms bucket for bucket). Keys are matched by (kind, name,
 * labels). The records count as arriving at w's last instant, so a late
 * delta of w lands in dst's same window again (or a late delta of dst).
 * Returns 0, 1 (filed late), -EINVAL (lengths do not fit), -ENOMEM.
 */
int cb_agg_merge_window(struct cb_agg *dst, const struct cb_agg_window *w);

/* dst += src for one entry of the same kind (dst->hist must exist for
 * FUNCTION and OBSERVE). Exact for counts, sums, min/max, last and
 * histograms; error codes exact while they fit CB_AGG_ERRCODES. */
int cb_agg_entry_merge(struct cb_agg_entry *dst,
                       const struct cb_agg_entry *src);

void cb_agg_stats(const struct cb_agg *a, struct cb_agg_stats *out);

/* "function", "counter", "gauge", "observe", or "?" */
const char *cb_agg_kind_name(int kind);

/* The per-second rate of a counter over a window of len_ns. */
double cb_agg_counter_rate(const struct cb_agg_counter *c, uint64_t len_ns);

/* ========================================================================
 * Summaries, roll-ups, trends (Req 2.5, 5.2)
 * ======================================================================== */

/* What one window says about one FUNCTION or OBSERVE key: what the log
 * stores per window and what roll-ups average. Durations in ns (OBSERVE:
 * scaled units). */
struct cb_agg_summary {
    uint64_t start_ns, len_ns;
    uint64_t calls, errors, aborted; /* OBSERVE: calls = samples */
    uint64_t sum_ns;                 /* saturates at UINT64_MAX */
    uint64_t min_ns, max_ns, p50_ns, p95_ns, p99_ns;
    double mean_ns;
};

/* Fills *out from entry e of window w (FUNCTION or OBSERVE; -EINVAL for
 * the other kinds, *out zeroed). */
int cb_agg_summarize(const struct cb_agg_window *w,
                     const struct cb_agg_entry *e, struct cb_agg_summary *out);

/* Calendar periods in UTC. A week starts on Monday 00:00 (ISO 8601). */
#define CB_PERIOD_DAY   1
#define CB_PERIOD_WEEK  2
#define CB_PERIOD_MONTH 3

/* The start of the period containing ts_ns, and the start of the next
 * one. An unknown period gives ts_ns itself. */
uint64_t cb_period_start(int period, uint64_t ts_ns);
uint64_t cb_period_next(int period, uint64_t ts_ns);

/* Req 2.5: a period's averages, accumulated from window summaries. */
struct cb_rollup {
    int period;
    uint64_t start_ns, end_ns; /* [start, end) */
    uint64_t windows;
    uint64_t calls, errors, aborted;
    uint64_t sum_lo, sum_hi; /* exact 128-bit duration sum (ns) */
    uint64_t max_ns;
    uint64_t min_ns;            /* UINT64_MAX while empty */
    double p50_w, p95_w, p99_w; /* sum of calls x window percentile */
};

struct cb_rollup_avg {
    uint64_t start_ns, end_ns;
    uint64_t calls, errors, aborted;
    double calls_per_s;            /* calls / period length */
    double error_rate;             /* errors / calls; 0 without calls */
    double mean_ns;                /* exact: duration sum / calls */
    double p50_ns, p95_ns, p99_ns; /* call-weighted mean of the windows'
                                       percentiles (an average, not the
                                       period's own percentile) */
    uint64_t min_ns, max_ns;       /* exact */
};

/* Starts the period of kind `period` containing ts_ns (-EINVAL for an
 * unknown period, *r zeroed). */
int cb_rollup_init(struct cb_rollup *r, int period, uint64_t ts_ns);

/* Adds one window summary; -ERANGE (nothing added) when the window does
 * not lie inside the period. */
int cb_rollup_add(struct cb_rollup *r, const struct cb_agg_summary *s);

void cb_rollup_result(const struct cb_rollup *r, struct cb_rollup_avg *out);

/* Direction of a trend or change. */
#define CB_TREND_DOWN (-1)
#define CB_TREND_FLAT 0
#define CB_TREND_UP   1

struct cb_trend_opts {
    double flat_rel;    /* |relative change| at or below: FLAT (0.02) */
    double regress_rel; /* relative change in the bad direction above
                           which `regression` is set (0.10) */
    int lower_is_worse; /* 0: rising is bad (latency, errors);
                           1: falling is bad (throughput) */
};

/*
 * Req 5.2: the least-squares line y = intercept + slope * x over n points
 * (x e.g. in seconds). rel_change is the fitted change across the span,
 * slope * (x_max - x_min), relative to |mean_y| (0 when mean_y is 0 and
 * the line is flat; +-INFINITY when mean_y is 0 and it is not).
 * direction: FLAT when |rel_change| <= flat_rel, else the sign of slope.
 * regression: 1 exactly when the change goes the bad way and
 * |rel_change| > regress_rel.
 */
struct cb_trend {
    size_t n;
    double mean_x, mean_y;
    double slope, intercept;
    double rel_change;
    int direction;
    int regression;
};

/* Fits the trend (opts NULL: defaults). Returns 0; -EINVAL when n < 2,
 * a pointer is NULL or a value is not finite; -EDOM when all x are equal.
 * *out is zeroed on failure. */
int cb_trend_fit(const double *x, const double *y, size_t n,
                 const struct cb_trend_opts *opts, struct cb_trend *out);

/*
 * The change of one metric from a previous period to the current one:
 * rel = (cur - prev) / prev (prev == 0: 0 when cur == 0, else +INFINITY
 * with the sign of cur). direction as for trends, with flat_rel;
 * regression exactly when the change goes the bad way and |rel| >
 * regress_rel. Returns 0, or -EINVAL for a non-finite input.
 */
struct cb_change {
    double prev, cur, rel;
    int direction;
    int regression;
};
int cb_change_eval(double prev, double cur, const struct cb_trend_opts *opts,
                   struct cb_change *out);

/* Two periods compared (Req 5.3 builds its reports on this): latency and
 * errors rising are bad, throughput falling is. A change counts as a
 * regression only if both periods have at least min_calls calls. */
struct cb_period_cmp {
    struct cb_change calls_per_s, error_rate, mean_ns, p95_ns, p99_ns;
    int regression; /* any of the above */
};
int cb_rollup_compare(const struct cb_rollup_avg *prev,
                      const struct cb_rollup_avg *cur,
                      const struct cb_trend_opts *opts, uint64_t min_calls,
                      struct cb_period_cmp *out);

#ifdef __cplusplus
}
#endif

#endif /* CLIPBUS_AGG_H */
