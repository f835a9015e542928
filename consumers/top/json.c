/*
 * json.c -- clipbus-top's snapshot as JSON (--once --json, -b --json):
 * the same figures as the views. Keys are documented in
 * docs/clipbus-top.md.
 */
#include <math.h>

#include <clipbus/reader.h>

#include "top.h"

static json_t *
fn_json(struct top_model *m, struct top_key *k)
{
    struct top_fig f;
    top_key_figures(m, k, &f);
    return json_pack("{s:s, s:f, s:I, s:I, s:f, s:I, s:I, s:I, s:I, s:I, "
                     "s:I, s:I}",
                     "name", k->name, "calls_per_s", f.calls_per_s,
                     "calls", (json_int_t)f.calls, "errors",
                     (json_int_t)f.errors, "error_rate", f.err_rate,
                     "p50_ns", (json_int_t)f.p50, "p95_ns", (json_int_t)f.p95,
                     "p99_ns", (json_int_t)f.p99, "inflight",
                     (json_int_t)k->inflight, "longest_ns",
                     (json_int_t)k->longest_ns, "total_calls",
                     (json_int_t)k->total_calls, "total_errors",
                     (json_int_t)k->total_errors);
}

static json_t *
metric_json(struct top_model *m, struct top_key *k)
{
    struct top_fig f;
    top_key_figures(m, k, &f);
    json_t *o = json_pack("{s:s, s:s, s:s}", "name", k->name, "kind",
                          cb_agg_kind_name(k->kind), "labels", k->labels);
    if (k->kind == CB_AGG_COUNTER)
        json_object_set_new(o, "rate_per_s", json_real(f.rate_per_s));
    else if (k->kind == CB_AGG_GAUGE && k->g_n)
        json_object_set_new(o, "last", json_real(k->g_last));
    else if (k->kind == CB_AGG_OBSERVE)
        json_object_set_new(
            o, "p50", json_real((double)f.p50 / CB_AGG_OBSERVE_SCALE));
    return o;
}

static json_t *
session_json(struct top_model *m, const struct cbp_session *s)
{
    char name[CBP_NAME_MAX], prog[64];
    double fr = cbp_session_fraction(s), eta;
    int eta_ok = cbp_session_eta(s, m->now_ns, &eta) == 0;
    top_safe(name, sizeof name, s->name, sizeof s->name);
    top_safe(prog, sizeof prog, s->program, sizeof s->program);
    return json_pack("{s:s, s:s, s:I, s:s, s:b, s:o, s:f, s:o}", "name", name,
                     "program", prog, "pid", (json_int_t)s->pid, "state",
                     cbp_state_name(s->state), "stalled", s->stalled,
                     "fraction", fr >= 0 ? json_real(fr) : json_null(),
                     "done", s->done, "eta_s",
                     eta_ok ? json_real(eta) : json_null());
}

static const char *
pstate(int s)
{
    return s == CB_PRODUCER_ALIVE    ? "alive"
           : s == CB_PRODUCER_EXITED ? "exited"
                                     : "dead";
}

json_t *
top_json(struct top_model *m)
{
    json_t *fns = json_array(), *mets = json_array(), *ses = json_array();
    json_t *prods = json_array(), *cons = json_array(), *errs = json_array();

    for (size_t i = 0; i < m->nkeys; i++) {
        struct top_key *k = &m->keys[i];
        if (k->kind == CB_AGG_FUNCTION)
            json_array_append_new(fns, fn_json(m, k));
        else if (k->kind != 0)
            json_array_append_new(mets, metric_json(m, k));
    }
    for (size_t i = 0; i < m->sessions.n; i++)
        json_array_append_new(ses, session_json(m, &m->sessions.v[i]));
    for (size_t i = 0; i < m->nprods; i++)
        json_array_append_new(
            prods, json_pack("{s:s, s:I, s:s}", "program", m->prods[i].program,
                             "pid", (json_int_t)m->prods[i].pid, "state",
                             pstate(m->prods[i].state)));
    for (size_t i = 0; i < m->nconsumers; i++) {
        const struct top_consumer *c = &m->consumers[i];
        json_array_append_new(
            cons, json_pack("{s:s, s:I, s:I, s:I, s:I, s:s}", "program",
                            c->program, "pid", (json_int_t)c->pid, "lag",
                            (json_int_t)c->lag, "lost", (json_int_t)c->lost,
                            "heartbeat_age_ms",
                            (json_int_t)c->heartbeat_age_ms, "sink", c->sink));
    }
    for (size_t i = 0; i < m->errs_n && i < 50; i++) {
        size_t at = (m->errs_head + m->errs_cap - 1 - i) % m->errs_cap;
        const struct top_error *e = &m->errors[at];
        json_array_append_new(
            errs, json_pack("{s:I, s:s, s:I, s:s, s:i, s:s}", "time_ns",
                            (json_int_t)e->wall_ns, "program", e->program,
                            "pid", (json_int_t)e->pid, "function", e->fn,
                            "code", e->code, "message", e->msg));
    }
    return json_pack("{s:s, s:I, s:I, s:I, s:I, s:o, s:o, s:o, s:o, s:o, "
                     "s:o}",
                     "bus", m->bus, "time_ns", (json_int_t)m->now_ns,
                     "records_per_s", (json_int_t)m->records_per_s, "lost",
                     (json_int_t)(m->lost + m->handoff_lost), "errors_total",
                     (json_int_t)m->errors_total, "producers", prods,
                     "sessions", ses, "functions", fns, "metrics", mets,
                     "consumers", cons, "recent_errors", errs);
}
