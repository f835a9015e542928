/*
 * score.c -- velocities, robust channel baselines, and the viral score.
 *
 * See docs/scoring.md for the reasoning and a worked example; the
 * constants of ca_score_params_default() are discussed there.
 */
#include "score.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <clipbus/clipbus.h>

void
ca_score_params_default(struct ca_score_params *p)
{
    p->min_interval_h = 1.0;
    p->pseudo_views_h = 0.25;
    p->age_window = 201;
    p->learn_min_views = 50;
    p->prior_n = 5;
    p->mad_floor = 1.0;
    p->w_growth = 0.1;
    p->half_life_h = 72.0;
}

struct ca_item *
ca_item_vec_add(struct ca_item_vec *vec)
{
    if (vec->n == vec->cap) {
        size_t cap = vec->cap ? vec->cap * 2 : 64;
        struct ca_item *v = realloc(vec->v, cap * sizeof *v);
        if (v == NULL)
            return NULL;
        vec->v = v;
        vec->cap = cap;
    }
    struct ca_item *it = &vec->v[vec->n++];
    memset(it, 0, sizeof *it);
    it->followers = -1;
    return it;
}

void
ca_item_vec_fini(struct ca_item_vec *vec)
{
    for (size_t i = 0; i < vec->n; i++) {
        struct ca_item *it = &vec->v[i];
        free(it->clip_id);
        free(it->channel_id);
        free(it->channel_name);
        free(it->title);
        free(it->url);
    }
    free(vec->v);
    memset(vec, 0, sizeof *vec);
}

/* ------------------------------------------------------------------------
 * Robust statistics
 * ------------------------------------------------------------------------ */

static int
cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double
ca_median(double *x, size_t n)
{
    qsort(x, n, sizeof *x, cmp_double);
    return n % 2 ? x[n / 2] : (x[n / 2 - 1] + x[n / 2]) / 2;
}

double
ca_mad(double *x, size_t n, double median)
{
    for (size_t i = 0; i < n; i++)
        x[i] = fabs(x[i] - median);
    /* 1.4826 makes the MAD estimate the standard deviation of a normal
     * distribution, so z below reads like an ordinary z-score. */
    return 1.4826 * ca_median(x, n);
}

/* ------------------------------------------------------------------------
 * Per-clip velocities
 * ------------------------------------------------------------------------ */

/* Views per hour between two points, the interval at least min_h long. */
static double
rate(int64_t t1, int64_t v1, int64_t t0, int64_t v0, double min_h)
{
    double h = (double)(t1 - t0) / 3600.0;
    if (h < min_h)
        h = min_h;
    double dv = (double)(v1 - v0);
    /* A count that went down (an API correction) is no growth, not
     * negative growth. */
    return dv > 0 ? dv / h : 0.0;
}

/* The velocities of one clip. Its creation is an observation of zero
 * views, so a clip seen once still has a "last interval". */
static void
velocities(struct ca_item *it, int64_t T, const struct ca_score_params *p)
{
    struct ca_obs pts[CA_SERIES_MAX + 1];
    int n = 0;
    for (int i = 0; i < it->nobs && i < CA_SERIES_MAX; i++)
        if (it->obs[i].t > it->created_at)
            pts[n++] = it->obs[i];
    if (n == 0)
        pts[n++] = it->obs[0]; /* seen at its creation: all views so far */
    pts[n].t = it->created_at;
    pts[n].views = 0;
    n++;
    double age_h = (double)(T - it->created_at) / 3600.0;
    it->age_h = age_h > 0 ? age_h : 0;
    it->vel_life = (double)pts[0].views / fmax(it->age_h, p->min_interval_h);
    it->vel_last = rate(pts[0].t, pts[0].views, pts[1].t, pts[1].views,
                        p->min_interval_h);
    if (n >= 3) {
        it->vel_prev = rate(pts[1].t, pts[1].views, pts[2].t, pts[2].views,
                            p->min_interval_h);
        double mid_h = (double)(pts[0].t - pts[2].t) / 7200.0;
        it->accel = (it->vel_last - it->vel_prev) /
                    fmax(mid_h, p->min_interval_h);
    } else {
        it->vel_prev = it->vel_last;
        it->accel = 0;
    }
    double k = p->pseudo_views_h;
    it->growth = log((it->vel_last + k) / (it->vel_prev + k));
    double f = it->followers < 100 ? 100.0 : (double)it->followers;
    it->norm_vel = it->vel_last * 1000.0 / f;
    it->decay = exp2(-it->age_h / p->half_life_h);
}

/* Log velocity. The pseudo velocity keeps a clip with no new views finite
 * and damps the noise of rates built on a handful of views. */
static double
log_vel(const struct ca_item *it, const struct ca_score_params *p)
{
    return log(it->vel_last + p->pseudo_views_h);
}

static double
log_followers(const struct ca_item *it)
{
    return log(it->followers < 100 ? 100.0 : (double)it->followers);
}

/* ------------------------------------------------------------------------
 * Channel baselines
 * ------------------------------------------------------------------------ */

/* One channel: items [lo, hi) after sorting by channel. */
struct chan {
    size_t lo, hi;
    double log_f;   /* log followers */
    double med;     /* median log1p(views) of its clips: the clip scale */
    double mad;     /* MAD of the same */
};

static int
cmp_channel(const void *a, const void *b)
{
    const struct ca_item *x = a, *y = b;
    int c = strcmp(x->channel_id, y->channel_id);
    return c ? c : strcmp(x->clip_id, y->clip_id);
}

/* Splits the items (sorted by channel) into channels and computes each
 * channel's median and MAD of log1p(views). Returns the count. */
static size_t
channels_of(const struct ca_item *v, size_t n, struct chan *ch, double *tmp)
{
    size_t nc = 0, lo = 0;
    while (lo < n) {
        size_t hi = lo + 1;
        while (hi < n && strcmp(v[hi].channel_id, v[lo].channel_id) == 0)
            hi++;
        for (size_t i = lo; i < hi; i++)
            tmp[i - lo] = log1p((double)v[i].obs[0].views);
        struct chan *c = &ch[nc++];
        c->lo = lo;
        c->hi = hi;
        c->log_f = log_followers(&v[lo]);
        c->med = ca_median(tmp, hi - lo);
        c->mad = ca_mad(tmp, hi - lo, c->med);
        lo = hi;
    }
    return nc;
}

/* Normalization by channel size: a robust line (Theil-Sen: the median of
 * pairwise slopes) of the channels' clip scale against log followers.
 * Channels with few clips are pulled toward it. Slope 0 with fewer than
 * two channels of different sizes. */
static void
size_line(const struct chan *ch, size_t nc, double *tmp, double *slope,
          double *icept)
{
    size_t m = 0;
    for (size_t i = 0; i < nc; i++)
        for (size_t j = i + 1; j < nc; j++)
            if (fabs(ch[j].log_f - ch[i].log_f) > 1e-9)
                tmp[m++] = (ch[j].med - ch[i].med) / (ch[j].log_f - ch[i].log_f);
    *slope = m > 0 ? ca_median(tmp, m) : 0.0;
    for (size_t i = 0; i < nc; i++)
        tmp[i] = ch[i].med - *slope * ch[i].log_f;
    *icept = ca_median(tmp, nc);
}

/* The channel's clip scale: its median log1p(views), pulled toward the
 * size line by prior_n pseudo-clips. */
static double
channel_scale(const struct chan *c, double slope, double icept,
              const struct ca_score_params *p)
{
    double n = (double)(c->hi - c->lo), k = (double)p->prior_n;
    return (n * c->med + k * (icept + slope * c->log_f)) / (n + k);
}

struct aged {
    double age_h;
    double y;  /* log((v1 + k) / scale) */
};

static int
cmp_aged(const void *a, const void *b)
{
    const struct aged *x = a, *y = b;
    return (x->age_h > y->age_h) - (x->age_h < y->age_h);
}

/* The age curve: the running median of y over the age_window learning
 * clips nearest in age to age_h (learn[] sorted by age). */
static double
age_curve_at(const struct aged *learn, size_t m, double age_h, double *tmp,
             const struct ca_score_params *p)
{
    size_t w = (size_t)p->age_window < m ? (size_t)p->age_window : m;
    size_t lo = 0, hi = m;
    while (lo < hi) { /* first learning clip at least age_h old */
        size_t mid = lo + (hi - lo) / 2;
        if (learn[mid].age_h < age_h)
            lo = mid + 1;
        else
            hi = mid;
    }
    size_t start = lo >= w / 2 ? lo - w / 2 : 0;
    if (start + w > m)
        start = m - w;
    for (size_t j = 0; j < w; j++)
        tmp[j] = learn[start + j].y;
    return ca_median(tmp, w);
}

/* Sets, for every item, resid = log(v1 + k) - log(expected + k), with
 * expected = scale * exp(age curve): what a typical clip of this channel
 * does at this age. The age curve is learned from the channels whose
 * clips have enough views (scale >= learn_min_views) for velocities not
 * to drown in count noise; all channels if there are too few. */
static int
age_residuals(struct ca_item *v, size_t n, const double *scale,
              const struct ca_score_params *p)
{
    struct aged *learn = malloc(n * sizeof *learn);
    double *tmp = malloc(n * sizeof *tmp);
    if (learn == NULL || tmp == NULL) {
        free(learn);
        free(tmp);
        return -1;
    }
    size_t m = 0;
    for (int pass = 0; pass < 2 && m < (size_t)p->age_window; pass++) {
        m = 0;
        for (size_t i = 0; i < n; i++)
            if (pass == 1 || exp(scale[i]) >= p->learn_min_views)
                learn[m++] = (struct aged){v[i].age_h,
                                           log_vel(&v[i], p) - scale[i]};
    }
    qsort(learn, m, sizeof *learn, cmp_aged);
    for (size_t i = 0; i < n; i++) {
        double g = age_curve_at(learn, m, v[i].age_h, tmp, p);
        double expected = exp(scale[i] + g);
        v[i].resid = log_vel(&v[i], p) -
                     log(expected + p->pseudo_views_h);
    }
    free(learn);
    free(tmp);
    return 0;
}

/* z = resid over the channel's spread of resid (MAD), pulled toward the
 * typical channel's spread by prior_n pseudo-clips and floored, so that a
 * channel whose residuals are squeezed by count noise is not amplified. */
static int
channel_z(struct ca_item *v, const struct chan *ch, size_t nc, double *tmp,
          const struct ca_score_params *p)
{
    double *mads = malloc(nc * sizeof *mads), *sorted = malloc(nc * sizeof *sorted);
    if (mads == NULL || sorted == NULL) {
        free(mads);
        free(sorted);
        return -1;
    }
    for (size_t c = 0; c < nc; c++) {
        size_t n = ch[c].hi - ch[c].lo;
        for (size_t i = 0; i < n; i++)
            tmp[i] = v[ch[c].lo + i].resid;
        mads[c] = sorted[c] = ca_mad(tmp, n, ca_median(tmp, n));
    }
    double typ = ca_median(sorted, nc), k = (double)p->prior_n;
    for (size_t c = 0; c < nc; c++) {
        double n = (double)(ch[c].hi - ch[c].lo);
        double s = sqrt((n * mads[c] * mads[c] + k * typ * typ) / (n + k));
        if (s < p->mad_floor)
            s = p->mad_floor;
        for (size_t i = ch[c].lo; i < ch[c].hi; i++)
            v[i].z = v[i].resid / s;
    }
    free(mads);
    free(sorted);
    return 0;
}

/* Sets resid and z of every item; reorders the items by channel. */
static int
baselines(struct ca_item *v, size_t n, const struct ca_score_params *p)
{
    qsort(v, n, sizeof *v, cmp_channel);
    struct chan *ch = malloc(n * sizeof *ch);
    size_t tmp_n = n > 64 ? n : 64;
    double *tmp = malloc(tmp_n * sizeof *tmp);
    if (ch == NULL || tmp == NULL) {
        free(ch);
        free(tmp);
        return -1;
    }
    size_t nc = channels_of(v, n, ch, tmp);
    double *pairs = malloc((nc * (nc - 1) / 2 + nc + 1) * sizeof *pairs);
    if (pairs == NULL) {
        free(ch);
        free(tmp);
        return -1;
    }
    double slope, icept;
    size_line(ch, nc, pairs, &slope, &icept);
    double *scale = malloc(n * sizeof *scale);
    int rc = -1;
    if (scale != NULL) {
        for (size_t c = 0; c < nc; c++)
            for (size_t i = ch[c].lo; i < ch[c].hi; i++)
                scale[i] = channel_scale(&ch[c], slope, icept, p);
        rc = age_residuals(v, n, scale, p);
        free(scale);
    }
    if (rc == 0)
        rc = channel_z(v, ch, nc, tmp, p);
    free(pairs);
    free(ch);
    free(tmp);
    return rc;
}

static int
cmp_score(const void *a, const void *b)
{
    const struct ca_item *x = a, *y = b;
    if (x->score != y->score)
        return x->score < y->score ? 1 : -1;
    return strcmp(x->clip_id, y->clip_id);
}

static double
softplus(double x)
{
    return x > 30 ? x : log1p(exp(x));
}

int
ca_score_items(struct ca_item_vec *items, int64_t T,
               const struct ca_score_params *p)
{
    CB_TRACK_PERFORMANCE(CB_INT("clips", items->n));
    size_t n = items->n;
    struct ca_item *v = items->v;
    if (n == 0)
        return 0;
    for (size_t i = 0; i < n; i++)
        velocities(&v[i], T, p);
    if (baselines(v, n, p) != 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        struct ca_item *it = &v[i];
        double g = fmax(-1.0, fmin(1.0, it->growth));
        it->heat = it->z + p->w_growth * g;
        it->score = 10.0 * softplus(it->heat) * it->decay;
    }
    qsort(v, n, sizeof *v, cmp_score);
    for (size_t i = 0; i < n; i++)
        v[i].rank = (int)i + 1;
    return 0;
}
