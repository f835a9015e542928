/*
 * trend.c -- window summaries, calendar roll-ups, trends and period
 * comparisons (agg.h, "Summaries, roll-ups, trends").
 *
 * Req 2.5 (daily, weekly and monthly performance averages) is met by
 * cb_rollup: it sums window summaries exactly (calls, errors, the 128-bit
 * duration sum, min and max) and averages the windows' percentiles
 * weighted by their calls. A period's own exact percentile needs the
 * merged histograms instead: feed the windows into a cb_agg whose window
 * is the period (cb_agg_merge_window), which merges them bucket for
 * bucket.
 *
 * Req 5.2 (trend analysis and regression detection) is met by
 * cb_trend_fit, an ordinary least-squares line computed with centred sums
 * (two passes: the textbook one-pass formula loses every digit when x is
 * a wall-clock time in seconds, ~1.7e9, and the slope is small), and by
 * cb_change_eval / cb_rollup_compare for two periods.
 *
 * Calendar arithmetic is done on day numbers with H. Hinnant's
 * days_from_civil / civil_from_days ("chrono-Compatible Low-Level Date
 * Algorithms"), so no time zone or libc state is involved: all periods
 * are UTC.
 */
#include "agg.h"

#include <errno.h>
#include <math.h>
#include <string.h>

#define NS_PER_DAY (UINT64_C(86400) * 1000000000u)

/* ---- summaries ---------------------------------------------------------- */

int
cb_agg_summarize(const struct cb_agg_window *w, const struct cb_agg_entry *e,
                 struct cb_agg_summary *out)
{
    memset(out, 0, sizeof(*out));
    if (!e->hist || (e->kind != CB_AGG_FUNCTION && e->kind != CB_AGG_OBSERVE))
        return -EINVAL;
    const struct cb_hist *h = e->hist;
    out->start_ns = w->start_ns;
    out->len_ns = w->len_ns;
    if (e->kind == CB_AGG_FUNCTION) {
        out->calls = e->fn.calls;
        out->errors = e->fn.errors;
        out->aborted = e->fn.aborted;
    } else {
        out->calls = h->count;
    }
    out->sum_ns = h->sum_hi ? UINT64_MAX : h->sum_lo;
    out->min_ns = h->count ? h->min : 0;
    out->max_ns = h->max;
    out->p50_ns = cb_hist_percentile(h, 50.0);
    out->p95_ns = cb_hist_percentile(h, 95.0);
    out->p99_ns = cb_hist_percentile(h, 99.0);
    out->mean_ns = cb_hist_mean(h);
    return 0;
}

/* ---- calendar ----------------------------------------------------------- */

/* Days since 1970-01-01 of the proleptic Gregorian date y-m-d. */
static int64_t
days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

/* The year and month of day number z (days since 1970-01-01). */
static void
civil_from_days(int64_t z, int64_t *y, unsigned *m)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

uint64_t
cb_period_start(int period, uint64_t ts_ns)
{
    uint64_t day = ts_ns / NS_PER_DAY;
    switch (period) {
    case CB_PERIOD_DAY:
        return day * NS_PER_DAY;
    case CB_PERIOD_WEEK: {
        /* 1970-01-01 was a Thursday: Monday-based weekday = (day+3) % 7.
         * The first days of 1970 belong to a week that began before the
         * epoch; it is cut at 0. */
        uint64_t back = (day + 3) % 7;
        return day < back ? 0 : (day - back) * NS_PER_DAY;
    }
    case CB_PERIOD_MONTH: {
        int64_t y;
        unsigned m;
        civil_from_days((int64_t)day, &y, &m);
        return (uint64_t)days_from_civil(y, m, 1) * NS_PER_DAY;
    }
    default:
        return ts_ns;
    }
}

uint64_t
cb_period_next(int period, uint64_t ts_ns)
{
    uint64_t start = cb_period_start(period, ts_ns);
    switch (period) {
    case CB_PERIOD_DAY:
        return start + NS_PER_DAY;
    case CB_PERIOD_WEEK:
        /* The cut first week (see above) ends on Monday 1970-01-05. */
        return start + (start == 0 ? 4 : 7) * NS_PER_DAY;
    case CB_PERIOD_MONTH: {
        int64_t y;
        unsigned m;
        civil_from_days((int64_t)(start / NS_PER_DAY), &y, &m);
        if (m == 12) {
            y++;
            m = 0;
        }
        return (uint64_t)days_from_civil(y, m + 1, 1) * NS_PER_DAY;
    }
    default:
        return ts_ns;
    }
}

/* ---- roll-ups (Req 2.5) ------------------------------------------------- */

int
cb_rollup_init(struct cb_rollup *r, int period, uint64_t ts_ns)
{
    memset(r, 0, sizeof(*r));
    if (period < CB_PERIOD_DAY || period > CB_PERIOD_MONTH)
        return -EINVAL;
    r->period = period;
    r->start_ns = cb_period_start(period, ts_ns);
    r->end_ns = cb_period_next(period, ts_ns);
    r->min_ns = UINT64_MAX;
    return 0;
}

int
cb_rollup_add(struct cb_rollup *r, const struct cb_agg_summary *s)
{
    if (s->start_ns < r->start_ns || s->start_ns >= r->end_ns ||
        s->len_ns > r->end_ns - s->start_ns)
        return -ERANGE;
    r->windows++;
    r->calls += s->calls;
    r->errors += s->errors;
    r->aborted += s->aborted;
    uint64_t old = r->sum_lo;
    r->sum_lo += s->sum_ns;
    r->sum_hi += r->sum_lo < old;
    if (s->calls) {
        if (s->max_ns > r->max_ns)
            r->max_ns = s->max_ns;
        if (s->min_ns < r->min_ns)
            r->min_ns = s->min_ns;
        double c = (double)s->calls;
        r->p50_w += c * (double)s->p50_ns;
        r->p95_w += c * (double)s->p95_ns;
        r->p99_w += c * (double)s->p99_ns;
    }
    return 0;
}

void
cb_rollup_result(const struct cb_rollup *r, struct cb_rollup_avg *out)
{
    memset(out, 0, sizeof(*out));
    out->start_ns = r->start_ns;
    out->end_ns = r->end_ns;
    out->calls = r->calls;
    out->errors = r->errors;
    out->aborted = r->aborted;
    out->max_ns = r->max_ns;
    out->min_ns = r->calls ? r->min_ns : 0;
    double secs = (double)(r->end_ns - r->start_ns) / 1e9;
    if (secs > 0)
        out->calls_per_s = (double)r->calls / secs;
    if (r->calls == 0)
        return;
    double c = (double)r->calls;
    double sum = (double)r->sum_hi * 18446744073709551616.0 + (double)r->sum_lo;
    out->error_rate = (double)r->errors / c;
    out->mean_ns = sum / c;
    out->p50_ns = r->p50_w / c;
    out->p95_ns = r->p95_w / c;
    out->p99_ns = r->p99_w / c;
}

/* ---- trends and changes (Req 5.2) --------------------------------------- */

static const struct cb_trend_opts default_opts = {
    .flat_rel = 0.02,
    .regress_rel = 0.10,
    .lower_is_worse = 0,
};

/* Direction and regression flag of a relative change (agg.h). */
static void
judge(double rel, const struct cb_trend_opts *o, int *direction,
      int *regression)
{
    if (fabs(rel) <= o->flat_rel)
        *direction = CB_TREND_FLAT;
    else
        *direction = rel > 0 ? CB_TREND_UP : CB_TREND_DOWN;
    int bad = o->lower_is_worse ? rel < 0 : rel > 0;
    *regression = bad && fabs(rel) > o->regress_rel;
}

/* change relative to |base|; a change from 0 is 0 or +-INFINITY. */
static double
relative(double change, double base)
{
    if (base != 0.0)
        return change / fabs(base);
    if (change == 0.0)
        return 0.0;
    return change > 0 ? INFINITY : -INFINITY;
}

int
cb_trend_fit(const double *x, const double *y, size_t n,
             const struct cb_trend_opts *opts, struct cb_trend *out)
{
    memset(out, 0, sizeof(*out));
    if (!x || !y || n < 2)
        return -EINVAL;
    const struct cb_trend_opts *o = opts ? opts : &default_opts;
    double sx = 0, sy = 0, xmin = x[0], xmax = x[0];
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(x[i]) || !isfinite(y[i]))
            return -EINVAL;
        sx += x[i];
        sy += y[i];
        xmin = x[i] < xmin ? x[i] : xmin;
        xmax = x[i] > xmax ? x[i] : xmax;
    }
    double mx = sx / (double)n, my = sy / (double)n;
    double sxx = 0, sxy = 0;
    for (size_t i = 0; i < n; i++) {
        double dx = x[i] - mx;
        sxx += dx * dx;
        sxy += dx * (y[i] - my);
    }
    if (xmin == xmax || sxx == 0.0)
        return -EDOM;
    out->n = n;
    out->mean_x = mx;
    out->mean_y = my;
    out->slope = sxy / sxx;
    out->intercept = my - out->slope * mx;
    out->rel_change = relative(out->slope * (xmax - xmin), my);
    judge(out->rel_change, o, &out->direction, &out->regression);
    return 0;
}

int
cb_change_eval(double prev, double cur, const struct cb_trend_opts *opts,
               struct cb_change *out)
{
    memset(out, 0, sizeof(*out));
    if (!isfinite(prev) || !isfinite(cur))
        return -EINVAL;
    const struct cb_trend_opts *o = opts ? opts : &default_opts;
    out->prev = prev;
    out->cur = cur;
    out->rel = relative(cur - prev, prev);
    judge(out->rel, o, &out->direction, &out->regression);
    return 0;
}

int
cb_rollup_compare(const struct cb_rollup_avg *prev,
                  const struct cb_rollup_avg *cur,
                  const struct cb_trend_opts *opts, uint64_t min_calls,
                  struct cb_period_cmp *out)
{
    memset(out, 0, sizeof(*out));
    struct cb_trend_opts up = opts ? *opts : default_opts;
    struct cb_trend_opts down = up;
    up.lower_is_worse = 0;   /* latency and errors: rising is bad */
    down.lower_is_worse = 1; /* throughput: falling is bad */
    int rc = 0;
    rc |= cb_change_eval(prev->calls_per_s, cur->calls_per_s, &down,
                         &out->calls_per_s);
    rc |= cb_change_eval(prev->error_rate, cur->error_rate, &up,
                         &out->error_rate);
    rc |= cb_change_eval(prev->mean_ns, cur->mean_ns, &up, &out->mean_ns);
    rc |= cb_change_eval(prev->p95_ns, cur->p95_ns, &up, &out->p95_ns);
    rc |= cb_change_eval(prev->p99_ns, cur->p99_ns, &up, &out->p99_ns);
    if (rc)
        return -EINVAL;
    struct cb_change *all[5] = {&out->calls_per_s, &out->error_rate,
                                &out->mean_ns, &out->p95_ns, &out->p99_ns};
    int enough = prev->calls >= min_calls && cur->calls >= min_calls;
    for (int i = 0; i < 5; i++) {
        if (!enough)
            all[i]->regression = 0;
        out->regression |= all[i]->regression;
    }
    return 0;
}
