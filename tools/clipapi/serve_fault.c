/*
 * serve_fault.c: the seeded fault plan and the counters of clipapi-serve.
 *
 * Each eligible request draws one uniform number u from a xoshiro256**
 * stream seeded with --fault-seed; the rates partition [0, 1) in the order
 * of enum sv_fault (latency, timeout, 429, 500, 503, truncated, bad JSON)
 * and the part u falls in is the request's fault; past the sum of the
 * rates, no fault. So a request gets at most one fault, each kind appears
 * at its rate, and the same sequence of requests gets the same faults.
 * A second draw (aux) picks the details of the fault. Draws and counters
 * share one mutex: the draw order is the order requests arrive in.
 */
#include "serve.h"
#include "util.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const sv_fault_names[SV_FAULT_KINDS] = {
    "latency",  "timeout",   "http_429", "http_500",
    "http_503", "truncated", "bad_json",
};

/* Rate-limit window, as Helix: a bucket refilled every minute. */
#define WINDOW_S 60

static void
lock(struct sv_faults *f)
{
    int err = pthread_mutex_lock(&f->mu);

    /* Only EINVAL/EDEADLK are possible, both programming errors. */
    if (err != 0)
        abort();
}

static void
unlock(struct sv_faults *f)
{
    if (pthread_mutex_unlock(&f->mu) != 0)
        abort();
}

void
sv_faults_init(struct sv_faults *f, const struct sv_fault_cfg *cfg)
{
    memset(f, 0, sizeof(*f));
    f->cfg = *cfg;
    if (pthread_mutex_init(&f->mu, NULL) != 0)
        abort();
    ca_prng_init(&f->rng, cfg->seed);
}

void
sv_faults_fini(struct sv_faults *f)
{
    (void)pthread_mutex_destroy(&f->mu);
}

struct sv_decision
sv_faults_draw(struct sv_faults *f)
{
    struct sv_decision d = {SV_NO_FAULT, 0.0};
    double u, edge = 0.0;

    lock(f);
    u = ca_prng_unit(&f->rng);
    d.aux = ca_prng_unit(&f->rng);
    for (int k = 0; k < SV_FAULT_KINDS; k++) {
        edge += f->cfg.rate[k];
        if (u < edge) {
            d.kind = (enum sv_fault)k;
            f->injected[k]++;
            break;
        }
    }
    unlock(f);
    return d;
}

void
sv_faults_count_request(struct sv_faults *f, int control)
{
    lock(f);
    if (control)
        f->control_requests++;
    else
        f->requests++;
    unlock(f);
}

void
sv_faults_count_status(struct sv_faults *f, unsigned status)
{
    lock(f);
    if (status < 600)
        f->status[status]++;
    unlock(f);
}

int
sv_faults_ratelimit(struct sv_faults *f, int64_t now_s, int64_t *remaining,
                    int64_t *reset_s)
{
    int rc = 0;

    lock(f);
    if (now_s >= f->window_start_s + WINDOW_S) {
        f->window_start_s = now_s - now_s % WINDOW_S;
        f->window_used = 0;
    }
    if (f->window_used < f->cfg.ratelimit_limit)
        f->window_used++;
    else if (f->cfg.enforce_ratelimit) {
        f->rate_limited++;
        rc = -1;
    }
    *remaining = f->cfg.ratelimit_limit - f->window_used;
    *reset_s = f->window_start_s + WINDOW_S;
    unlock(f);
    return rc;
}

char *
sv_faults_stats_json(struct sv_faults *f, unsigned snapshot)
{
    json_t *faults = json_object(), *status = json_object(), *root;
    uint64_t total = 0;
    char key[8];
    char *s;

    lock(f);
    for (int k = 0; k < SV_FAULT_KINDS; k++) {
        json_object_set_new(faults, sv_fault_names[k],
                            json_integer((json_int_t)f->injected[k]));
        total += f->injected[k];
    }
    for (unsigned st = 100; st < 600; st++) {
        if (f->status[st] == 0)
            continue;
        snprintf(key, sizeof(key), "%u", st);
        json_object_set_new(status, key,
                            json_integer((json_int_t)f->status[st]));
    }
    root =
        json_pack("{s:I, s:I, s:o, s:I, s:I, s:o, s:i, s:I}", "requests",
                  (json_int_t)f->requests, "control_requests",
                  (json_int_t)f->control_requests, "faults", faults,
                  "faults_total", (json_int_t)total, "rate_limited",
                  (json_int_t)f->rate_limited, "responses", status, "snapshot",
                  (int)snapshot, "fault_seed", (json_int_t)f->cfg.seed);
    unlock(f);
    s = root != NULL ? json_dumps(root, JSON_INDENT(2)) : NULL;
    json_decref(root);
    return s;
}
