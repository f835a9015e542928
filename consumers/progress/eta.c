/*
 * eta.c -- rate and ETA estimators (eta.h has the contract and the
 * reasoning behind the time-based EMA).
 */
#include <errno.h>
#include <math.h>
#include <string.h>

#include "eta.h"

#define NS_PER_S 1e9

static const char *const kind_names[] = {"ema", "mean", "window"};

const char *
cbp_eta_kind_name(int kind)
{
    return kind >= 0 && kind <= CBP_ETA_WINDOW ? kind_names[kind] : "?";
}

int
cbp_eta_kind_parse(const char *name)
{
    for (int k = 0; k <= CBP_ETA_WINDOW; k++)
        if (strcmp(name, kind_names[k]) == 0)
            return k;
    return -1;
}

int
cbp_eta_init(struct cbp_eta *e, const struct cbp_eta_opts *opts,
             uint64_t t0_ns)
{
    int rc = 0;

    memset(e, 0, sizeof *e);
    if (opts != NULL)
        e->o = *opts;
    if (e->o.kind < CBP_ETA_EMA || e->o.kind > CBP_ETA_WINDOW) {
        e->o.kind = CBP_ETA_EMA;
        rc = -EINVAL;
    }
    if (e->o.tau_ns == 0)
        e->o.tau_ns = CBP_ETA_TAU_DEFAULT_NS;
    if (e->o.window_ns == 0)
        e->o.window_ns = CBP_ETA_WINDOW_DEFAULT_NS;
    if (e->o.warmup_ns == 0)
        e->o.warmup_ns = CBP_ETA_WARMUP_DEFAULT_NS;
    e->t0_ns = t0_ns;
    e->last_ns = t0_ns;
    e->ring[0].t_ns = t0_ns;
    e->nring = 1;
    return rc;
}

/* The window estimator keeps at most CBP_ETA_RING samples, at least
 * window/(RING/2) apart, so the ring always spans the whole window
 * however often the producer reports. The newest state is last_ns and
 * last_done, not necessarily in the ring. */
static void
ring_push(struct cbp_eta *e, uint64_t t_ns, double done)
{
    uint64_t gap = e->o.window_ns / (CBP_ETA_RING / 2);
    const struct cbp_eta_sample *newest = &e->ring[e->ring_head];

    if (t_ns - newest->t_ns < gap)
        return;
    e->ring_head = (e->ring_head + 1) % CBP_ETA_RING;
    e->ring[e->ring_head].t_ns = t_ns;
    e->ring[e->ring_head].done = done;
    if (e->nring < CBP_ETA_RING)
        e->nring++;
}

void
cbp_eta_add(struct cbp_eta *e, uint64_t t_ns, double done)
{
    if (!isfinite(done))
        return;
    if (t_ns <= e->last_ns) {
        /* No time step: keep the units for the next step's rate. */
        e->cur_done = done;
        return;
    }
    if (done < e->last_done) {
        /* A reset (lost records, a confused producer): restart the base,
         * never feed a negative rate. */
        e->last_ns = t_ns;
        e->last_done = e->cur_done = done;
        return;
    }
    double dt = (double)(t_ns - e->last_ns) / NS_PER_S;
    double r = (done - e->last_done) / dt;
    if (!e->have_ema) {
        e->ema = r;
        e->have_ema = 1;
    } else {
        /* Weight of this interval in a continuous exponential filter
         * with time constant tau: 1 - exp(-dt / tau). */
        double w = -expm1(-dt * NS_PER_S / (double)e->o.tau_ns);
        e->ema += w * (r - e->ema);
    }
    e->last_ns = t_ns;
    e->last_done = e->cur_done = done;
    ring_push(e, t_ns, done);
}

/* Rate over the window: from the oldest ring sample inside it (or the
 * newest one before it, when none is) to the latest state. */
static double
window_rate(const struct cbp_eta *e)
{
    uint64_t from = e->last_ns > e->o.window_ns ? e->last_ns - e->o.window_ns
                                                : 0;
    const struct cbp_eta_sample *best = NULL;

    for (uint32_t i = 0; i < e->nring; i++) {
        uint32_t k = (e->ring_head + CBP_ETA_RING - i) % CBP_ETA_RING;
        const struct cbp_eta_sample *s = &e->ring[k];
        if (s->t_ns >= e->last_ns)
            continue;
        best = s;
        if (s->t_ns <= from)
            break;
    }
    if (best == NULL)
        return -1;
    return (e->last_done - best->done) /
           ((double)(e->last_ns - best->t_ns) / NS_PER_S);
}

double
cbp_eta_rate(const struct cbp_eta *e)
{
    if (e->cur_done <= 0 || e->last_ns - e->t0_ns < e->o.warmup_ns)
        return -1;
    switch (e->o.kind) {
    case CBP_ETA_MEAN:
        return e->last_done / ((double)(e->last_ns - e->t0_ns) / NS_PER_S);
    case CBP_ETA_WINDOW:
        return window_rate(e);
    default:
        return e->have_ema ? e->ema : -1;
    }
}

int
cbp_eta_get(const struct cbp_eta *e, uint64_t now_ns, double total,
            double *eta_s)
{
    double remaining = total - e->cur_done;

    if (e->cur_done > 0 && remaining <= 0) {
        *eta_s = 0;
        return 0;
    }
    double rate = cbp_eta_rate(e);
    if (!(rate > 0) || !isfinite(rate))
        return -1;
    double eta = remaining / rate;
    if (now_ns > e->last_ns)
        eta -= (double)(now_ns - e->last_ns) / NS_PER_S;
    *eta_s = eta > 0 ? eta : 0;
    return 0;
}
