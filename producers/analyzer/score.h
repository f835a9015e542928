/*
 * score.h -- the viral score (docs/scoring.md explains every term).
 *
 * Input: for each clip observed at time T, its creation time, its last few
 * view-count observations and its channel's follower count. Output: the
 * score parts, the score, and the items sorted best first.
 *
 * In short, with v1 the views per hour over the last interval, k = 0.25:
 *   S_c    = median log1p(views) of channel c's clips, pulled toward a
 *            robust line of S against log(followers)   (channel size)
 *   g(age) = running median over clips of similar age of
 *            log((v1 + k) / e^S_c)                      (age curve)
 *   resid  = log(v1 + k) - log(e^(S_c + g(age)) + k)    (vs. expectation)
 *   z      = resid / max(shrunk MAD_c(resid), 1)        (vs. the channel)
 *   heat   = z + w_growth * clamp(log((v1 + k) / (v0 + k)), -1, 1)
 *   score  = 10 * softplus(heat) * 2^(-age_h / half_life_h)
 * Pure computation: no I/O, thread-safe on distinct inputs.
 */
#ifndef CA_SCORE_H
#define CA_SCORE_H

#include <stddef.h>
#include <stdint.h>

#define CA_SERIES_MAX 3

struct ca_obs {
    int64_t t;      /* Unix seconds */
    int64_t views;
};

/* One clip to score. Strings are owned (free with ca_item_vec_fini()). */
struct ca_item {
    char *clip_id;
    char *channel_id;
    char *channel_name;
    char *title;
    char *url;
    int64_t created_at;
    int64_t followers;                 /* -1 when unknown */
    int nobs;                          /* observations, newest first */
    struct ca_obs obs[CA_SERIES_MAX];
    /* Outputs of ca_score_items(). */
    double age_h;     /* hours since creation at T */
    double vel_life;  /* views per hour since creation */
    double vel_last;  /* views per hour over the last interval */
    double vel_prev;  /* views per hour over the interval before */
    double accel;     /* views per hour per hour, last two intervals */
    double growth;    /* log((v1 + 0.5) / (v0 + 0.5)): the trend */
    double norm_vel;  /* v1 per 1000 followers */
    double resid;     /* e: robust z against clips of similar age */
    double z;         /* robust z of e within the channel */
    double decay;     /* recency factor in (0, 1] */
    double heat;      /* z + weighted growth */
    double score;
    int rank;         /* 1 = best */
};

struct ca_item_vec {
    struct ca_item *v;
    size_t n;
    size_t cap;
};

struct ca_score_params {
    double min_interval_h; /* shorter intervals count as this long */
    double pseudo_views_h; /* added to velocities: few views are noise */
    int age_window;        /* learning clips per point of the age curve */
    double learn_min_views;/* channels whose clip scale is at least this
                              teach the age curve */
    int prior_n;           /* pseudo-clips shrinking channel baselines */
    double mad_floor;      /* least spread of a robust z denominator */
    double w_growth;       /* weight of the velocity trend */
    double half_life_h;    /* recency half-life, hours */
};

void ca_score_params_default(struct ca_score_params *p);

/* Appends a zeroed item; returns it, or NULL when out of memory. */
struct ca_item *ca_item_vec_add(struct ca_item_vec *vec);
void ca_item_vec_fini(struct ca_item_vec *vec);

/* Median and scaled MAD (1.4826 * median |x - median|) of x[0..n), n > 0.
 * x is reordered. */
double ca_median(double *x, size_t n);
double ca_mad(double *x, size_t n, double median);

/* Scores every item as of time T and sorts items best first (ties by clip
 * id), setting rank. Items must have nobs >= 1 and obs[0].t <= T.
 * Returns 0, or -1 when out of memory (items unchanged). */
int ca_score_items(struct ca_item_vec *items, int64_t observed_at,
                   const struct ca_score_params *p);

#endif /* CA_SCORE_H */
