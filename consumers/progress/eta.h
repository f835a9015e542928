/*
 * eta.h -- rate and ETA estimators for weighted progress (Req 1.4).
 *
 * Pure functions over (time, done) samples: a session's clock and its
 * cumulative session units. Nothing here reads a clock, so tests drive it
 * with synthetic time.
 *
 * Three estimators of the rate (units per second):
 *
 *   CBP_ETA_EMA     (default) an exponential moving average in TIME, with
 *                   time constant tau: each sample moves the estimate
 *                   toward the rate since the previous sample by
 *                   1 - exp(-dt / tau). Unlike tqdm's per-update smoothing
 *                   (alpha 0.3 per update), the result does not depend on
 *                   how often the producer reports: a million tiny
 *                   updates per second weigh the same as one big one.
 *                   After a change of the true rate the estimate is
 *                   within exp(-k) of the new rate after k * tau, so
 *                   within 5 % after 3 tau (30 s with the default 10 s):
 *                   that is the documented convergence window.
 *   CBP_ETA_MEAN    units done / time since the session began: the most
 *                   stable, slowest to follow a change.
 *   CBP_ETA_WINDOW  units done over the last `window_ns` of samples,
 *                   divided by that time: follows changes within one
 *                   window, noisier.
 *
 * The estimate stays "unknown" until there is enough to go on: some
 * progress (done > 0) and at least `warmup_ns` of session time between the
 * beginning and the latest sample. Samples with no time step are merged
 * into the next one (their units are not lost).
 *
 * ETA at time `now`: remaining units / rate, minus the time since the last
 * sample (the estimate counts down between reports, as a wall clock
 * would), never below zero.
 *
 * THREADS: a struct cbp_eta belongs to one thread at a time.
 */
#ifndef CBP_ETA_H
#define CBP_ETA_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CBP_ETA_EMA    0
#define CBP_ETA_MEAN   1
#define CBP_ETA_WINDOW 2

/* Defaults: tau of the EMA, window of CBP_ETA_WINDOW, warm-up. */
#define CBP_ETA_TAU_DEFAULT_NS    (UINT64_C(10) * 1000000000u)
#define CBP_ETA_WINDOW_DEFAULT_NS (UINT64_C(30) * 1000000000u)
#define CBP_ETA_WARMUP_DEFAULT_NS (UINT64_C(1) * 1000000000u)

/* Samples the window estimator keeps (older ones are thinned). */
#define CBP_ETA_RING 64

struct cbp_eta_opts {
    int kind;           /* CBP_ETA_* */
    uint64_t tau_ns;    /* EMA time constant (0: default) */
    uint64_t window_ns; /* WINDOW length (0: default) */
    uint64_t warmup_ns; /* minimum session time before an estimate
                           (0: default; use 1 for "as soon as possible") */
};

struct cbp_eta_sample {
    uint64_t t_ns;
    double done;
};

/* Caller-allocated; no pointers inside. Fields are private. */
struct cbp_eta {
    struct cbp_eta_opts o;
    uint64_t t0_ns;      /* session start */
    uint64_t last_ns;    /* time of the latest sample with a time step */
    double last_done;    /* done at last_ns (the base of the next step) */
    double cur_done;     /* the latest done (may be newer than last_ns) */
    double ema;          /* units/s; valid when have_ema */
    int have_ema;
    uint32_t nring, ring_head;
    struct cbp_eta_sample ring[CBP_ETA_RING];
};

/* Starts an estimator for a session that began at t0_ns with 0 units
 * done. opts NULL: EMA with the defaults. Returns 0, or -EINVAL for an
 * unknown kind (*e is then set up as EMA). Pair: nothing to free. */
int cbp_eta_init(struct cbp_eta *e, const struct cbp_eta_opts *opts,
                 uint64_t t0_ns);

/* Adds a sample: at t_ns the session has `done` units in total (not a
 * delta). Samples older than the latest one are treated as arriving at
 * the latest time; a done below the previous one (a counter reset) is
 * ignored for the rate. Non-finite values are ignored. */
void cbp_eta_add(struct cbp_eta *e, uint64_t t_ns, double done);

/* The current rate estimate in units per second, or a negative value
 * while unknown. */
double cbp_eta_rate(const struct cbp_eta *e);

/* Seconds until `total` units are done, as seen at `now_ns`: 0 and the
 * estimate in *eta_s, or -1 while unknown (*eta_s untouched). A done
 * session (done >= total) has an ETA of 0. */
int cbp_eta_get(const struct cbp_eta *e, uint64_t now_ns, double total,
                double *eta_s);

/* "ema", "mean", "window"; "?" for anything else. */
const char *cbp_eta_kind_name(int kind);

/* The CBP_ETA_* of a name, or -1. */
int cbp_eta_kind_parse(const char *name);

#ifdef __cplusplus
}
#endif
#endif /* CBP_ETA_H */
