/*
 * model.c -- what clipbus-top knows, built from bus events (top.h).
 *
 * LATENCY AND RATES. Calls and metrics go into a cb_agg (agg.h) with
 * 1 s windows of RECORD time, closed by hand at each refresh up to one
 * second before now (records that late still land in their window; later
 * ones arrive as late deltas and are merged all the same). Each closed
 * window is merged into the "current half" of every key; when the current
 * half covers span/2, all keys rotate at once (current becomes previous,
 * a new current starts). The display covers previous + current: between
 * span/2 and span of record time, so a function that stops being called
 * fades out within one span, and percentiles come from merged histograms
 * (exact bucket-wise merge, within 0.8 % of the true value), never from
 * averaged percentiles.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <clipbus/clipbus.h>
#include <clipbus/reader.h>

#include "top.h"

#define NS        1000000000ull
#define FN_MAP_MAX (1u << 20) /* handles mapped directly; more: by name */

static struct cb_hist scratch; /* percentile merges (worker thread only) */

void
top_safe(char *dst, size_t cap, const char *src, size_t len)
{
    size_t n = 0;
    for (; n + 1 < cap && n < len && src[n]; n++) {
        unsigned char c = (unsigned char)src[n];
        dst[n] = c >= 0x20 && c < 0x7f ? (char)c : '?';
    }
    dst[n] = '\0';
}

/* ---- keys ------------------------------------------------------------------ */

static struct top_key *
key_at(struct top_model *m, uint32_t id, int kind, const char *name,
       const char *labels)
{
    if (id >= m->capkeys) {
        size_t cap = m->capkeys ? m->capkeys : 64;
        while (cap <= id)
            cap *= 2;
        struct top_key *k = realloc(m->keys, cap * sizeof *k);
        if (k == NULL)
            return NULL;
        memset(k + m->capkeys, 0, (cap - m->capkeys) * sizeof *k);
        m->keys = k;
        m->capkeys = cap;
    }
    struct top_key *k = &m->keys[id];
    if (k->kind == 0) {
        k->kind = kind;
        top_safe(k->name, sizeof k->name, name, strlen(name));
        top_safe(k->labels, sizeof k->labels, labels ? labels : "",
                 labels ? strlen(labels) : 0);
        if (kind == CB_AGG_FUNCTION || kind == CB_AGG_OBSERVE) {
            k->cur.hist = malloc(sizeof *k->cur.hist);
            k->prev.hist = malloc(sizeof *k->prev.hist);
            if (k->cur.hist == NULL || k->prev.hist == NULL) {
                free(k->cur.hist);
                free(k->prev.hist);
                k->cur.hist = k->prev.hist = NULL;
            } else {
                cb_hist_init(k->cur.hist);
                cb_hist_init(k->prev.hist);
            }
        }
    }
    if (id >= m->nkeys)
        m->nkeys = id + 1;
    return k;
}

static void
half_reset(struct top_half *h, uint64_t start)
{
    struct cb_hist *hist = h->hist;
    memset(h, 0, sizeof *h);
    h->hist = hist;
    h->start_ns = start;
    if (hist != NULL)
        cb_hist_reset(hist);
}

/* Every key's current half becomes its previous one. */
static void
rotate(struct top_model *m, uint64_t start)
{
    m->prev_start_ns = m->cur_start_ns;
    m->cur_start_ns = start;
    for (size_t i = 0; i < m->nkeys; i++) {
        struct top_key *k = &m->keys[i];
        struct top_half t = k->prev;
        k->prev = k->cur;
        k->cur = t;
        half_reset(&k->cur, start);
    }
}

static void
merge_entry(struct top_key *k, const struct cb_agg_entry *e)
{
    switch (e->kind) {
    case CB_AGG_FUNCTION:
        k->cur.calls += e->fn.calls;
        k->cur.errors += e->fn.errors;
        k->cur.aborted += e->fn.aborted;
        k->total_calls += e->fn.calls;
        k->total_errors += e->fn.errors;
        if (k->cur.hist != NULL && e->hist != NULL)
            cb_hist_merge(k->cur.hist, e->hist);
        break;
    case CB_AGG_OBSERVE:
        k->cur.calls += e->hist ? e->hist->count : 0;
        if (k->cur.hist != NULL && e->hist != NULL)
            cb_hist_merge(k->cur.hist, e->hist);
        break;
    case CB_AGG_COUNTER:
        k->cur.sum += e->counter.sum;
        k->cur.calls += e->counter.n;
        break;
    case CB_AGG_GAUGE:
        if (e->gauge.n == 0)
            break;
        k->g_min = k->g_n ? fmin(k->g_min, e->gauge.min) : e->gauge.min;
        k->g_max = k->g_n ? fmax(k->g_max, e->gauge.max) : e->gauge.max;
        k->g_last = e->gauge.last;
        k->g_n += e->gauge.n;
        break;
    default:
        break;
    }
}

static void
on_window(void *arg, const struct cb_agg_window *w)
{
    struct top_model *m = arg;
    uint64_t half = m->span_ns / 2;

    if (!w->late && m->cur_start_ns == 0)
        m->cur_start_ns = w->start_ns;
    if (!w->late && m->cur_start_ns + half <= w->start_ns)
        rotate(m, w->start_ns);
    for (size_t i = 0; i < w->n; i++) {
        const struct cb_agg_entry *e = w->entries[i];
        struct top_key *k = key_at(m, e->key, e->kind, e->name, e->labels);
        if (k == NULL) {
            m->oom++;
            continue;
        }
        merge_entry(k, e);
    }
}

void
top_key_figures(struct top_model *m, struct top_key *k, struct top_fig *o)
{
    uint64_t from = m->prev_start_ns ? m->prev_start_ns : m->cur_start_ns;
    uint64_t end = m->watermark_ns;
    double secs;

    memset(o, 0, sizeof *o);
    /* The span ends at the watermark (every window before it is closed),
     * so a silent key's rate falls as time passes. */
    secs = end > from && from ? (double)(end - from) / 1e9 : 0;
    o->calls = k->prev.calls + k->cur.calls;
    o->errors = k->prev.errors + k->cur.errors;
    o->calls_per_s = secs > 0 ? (double)o->calls / secs : 0;
    o->err_rate = o->calls ? (double)o->errors / (double)o->calls : 0;
    o->rate_per_s =
        secs > 0 ? (double)(k->prev.sum + k->cur.sum) / secs : 0;
    if (k->cur.hist != NULL && k->prev.hist != NULL) {
        cb_hist_reset(&scratch);
        cb_hist_merge(&scratch, k->prev.hist);
        cb_hist_merge(&scratch, k->cur.hist);
        o->p50 = cb_hist_percentile(&scratch, 50);
        o->p95 = cb_hist_percentile(&scratch, 95);
        o->p99 = cb_hist_percentile(&scratch, 99);
    }
}

/* ---- lifecycle -------------------------------------------------------------- */

int
top_model_init(struct top_model *m, const char *bus, uint64_t span_ns,
               size_t errors_cap, const struct cbp_sessions_opts *so)
{
    struct cb_agg_opts ao = {.window_ns = NS,
                             .grace_ns = CB_AGG_MANUAL,
                             .on_close = on_window,
                             .arg = m};
    memset(m, 0, sizeof *m);
    snprintf(m->bus, sizeof m->bus, "%s", bus);
    m->span_ns = span_ns;
    m->errs_cap = errors_cap;
    m->errors = calloc(errors_cap, sizeof *m->errors);
    cb_hist_init(&scratch);
    cbp_sessions_init(&m->sessions, so);
    cbp_inflight_init(&m->inflight);
    if (m->errors == NULL || cb_agg_create(&ao, &m->agg) < 0)
        return -ENOMEM;
    return 0;
}

void
top_model_fini(struct top_model *m)
{
    cb_agg_destroy(m->agg);
    for (size_t i = 0; i < m->nkeys; i++) {
        free(m->keys[i].cur.hist);
        free(m->keys[i].prev.hist);
    }
    free(m->keys);
    free(m->fn_key);
    free(m->prods);
    free(m->errors);
    cbp_sessions_fini(&m->sessions);
    cbp_inflight_fini(&m->inflight);
    memset(m, 0, sizeof *m);
}

/* ---- events ----------------------------------------------------------------- */

static const struct cbc_producer *
producer_of(struct top_model *m, uint32_t id)
{
    return cbc_rt_producer(m->rt, id);
}

static void
producer_state(struct top_model *m, uint32_t id, int state)
{
    const struct cbc_producer *p = producer_of(m, id);
    for (size_t i = 0; i < m->nprods; i++)
        if (m->prods[i].id == id) {
            m->prods[i].state = state;
            return;
        }
    if (m->nprods == m->capprods) {
        size_t cap = m->capprods ? m->capprods * 2 : 16;
        struct top_producer *v = realloc(m->prods, cap * sizeof *v);
        if (v == NULL)
            return;
        m->prods = v;
        m->capprods = cap;
    }
    struct top_producer *t = &m->prods[m->nprods++];
    memset(t, 0, sizeof *t);
    t->id = id;
    t->state = state;
    if (p != NULL) {
        t->pid = p->pid;
        top_safe(t->program, sizeof t->program, p->program,
                 sizeof p->program);
        if (state == CB_PRODUCER_ALIVE)
            cbp_inflight_attach(&m->inflight, id, p->shm_name);
    }
}

static void
push_error(struct top_model *m, const struct cbc_event *ev, int32_t code,
           const char *msg, size_t msg_len)
{
    const struct cbc_producer *p = producer_of(m, ev->producer);
    struct top_error *e = &m->errors[m->errs_head];
    const char *fn = cbc_name(m->rt, ev->name);

    m->errs_head = (m->errs_head + 1) % m->errs_cap;
    if (m->errs_n < m->errs_cap)
        m->errs_n++;
    m->errors_total++;
    e->wall_ns = ev->wall_ns;
    e->pid = p ? p->pid : 0;
    e->code = code;
    top_safe(e->program, sizeof e->program, p ? p->program : "?", 63);
    top_safe(e->fn, sizeof e->fn, fn, strlen(fn));
    top_safe(e->msg, sizeof e->msg, msg, msg_len);
}

/* The function key of a name handle, cached by handle. */
static int
fn_key(struct top_model *m, uint32_t handle, uint32_t *id)
{
    if (handle < m->nfn_key && m->fn_key[handle] > 0) {
        *id = (uint32_t)m->fn_key[handle] - 1;
        return 0;
    }
    int rc = cb_agg_key(m->agg, CB_AGG_FUNCTION, cbc_name(m->rt, handle),
                        NULL, id);
    if (rc < 0 || handle >= FN_MAP_MAX)
        return rc;
    if (handle >= m->nfn_key) {
        size_t n = m->nfn_key ? m->nfn_key : 256;
        while (n <= handle)
            n *= 2;
        int32_t *v = realloc(m->fn_key, n * sizeof *v);
        if (v == NULL)
            return 0;
        memset(v + m->nfn_key, 0, (n - m->nfn_key) * sizeof *v);
        m->fn_key = v;
        m->nfn_key = n;
    }
    m->fn_key[handle] = (int32_t)*id + 1;
    return 0;
}

static void
on_call(struct top_model *m, const struct cbc_event *ev)
{
    struct cb_field f;
    size_t off = 0;
    int32_t code = 0;
    uint32_t id;
    int outcome = ev->type == CBC_EV_CALL_ABORTED ? CB_AGG_ABORTED
                  : ev->status == CB_STATUS_ERROR ? CB_AGG_ERROR
                                                  : CB_AGG_OK;

    if (fn_key(m, ev->name, &id) < 0)
        return;
    if (outcome == CB_AGG_ERROR) {
        const char *msg = "";
        size_t len = 0;
        while (cb_field_next(ev->data, ev->data_len, &off, &f) == 1)
            if (f.type == CB_FIELD_ERR) {
                code = (int32_t)f.i;
                msg = f.s;
                len = f.s_len;
                break;
            }
        push_error(m, ev, code, msg, len);
    }
    if (cb_agg_call(m->agg, id, ev->wall_ns, ev->dur_ns, outcome, code) < 0)
        m->oom++;
}

static void
on_metric(struct top_model *m, const struct cbc_event *ev)
{
    static const int kinds[] = {[CB_KIND_COUNT] = CB_AGG_COUNTER,
                                [CB_KIND_GAUGE] = CB_AGG_GAUGE,
                                [CB_KIND_OBSERVE] = CB_AGG_OBSERVE};
    const char *labels = NULL;
    struct cb_field f;
    size_t off = 0;
    uint32_t id;
    double d;

    while (cb_field_next(ev->data, ev->data_len, &off, &f) == 1)
        if (f.type == CB_FIELD_LABELS)
            labels = cbc_name(m->rt, f.name_id);
    if (cb_agg_key(m->agg, kinds[ev->kind], cbc_name(m->rt, ev->name), labels,
                   &id) < 0)
        return;
    memcpy(&d, &ev->value, sizeof d);
    int rc = ev->kind == CB_KIND_COUNT
                 ? cb_agg_count(m->agg, id, ev->wall_ns, (int64_t)ev->value)
             : ev->kind == CB_KIND_GAUGE ? cb_agg_gauge(m->agg, id, ev->wall_ns, d)
                                         : cb_agg_observe(m->agg, id, ev->wall_ns, d);
    if (rc < 0)
        m->oom++;
}

static void
on_log(struct top_model *m, const struct cbc_event *ev)
{
    struct cb_field f;
    size_t off = 0;

    if (ev->status < CB_LOG_ERROR)
        return;
    while (cb_field_next(ev->data, ev->data_len, &off, &f) == 1)
        if (f.type == CB_FIELD_STR && f.name_id == 0) {
            push_error(m, ev, 0, f.s, f.s_len);
            return;
        }
    push_error(m, ev, 0, "", 0);
}

void
top_model_event(struct top_model *m, const struct cbc_event *ev)
{
    if (ev->type == CBC_EV_RECORD) /* the head and its continuations */
        m->records += 1u + (ev->data_len > CB_HEAD_DATA
                                ? (ev->data_len - CB_HEAD_DATA +
                                   CB_CONT_DATA - 1) / CB_CONT_DATA
                                : 0);
    switch (ev->type) {
    case CBC_EV_PRODUCER_NEW:
        producer_state(m, ev->producer, CB_PRODUCER_ALIVE);
        return;
    case CBC_EV_PRODUCER_EXIT:
    case CBC_EV_PRODUCER_DIED:
        producer_state(m, ev->producer, ev->type == CBC_EV_PRODUCER_EXIT
                                            ? CB_PRODUCER_EXITED
                                            : CB_PRODUCER_DEAD);
        cbp_inflight_detach(&m->inflight, ev->producer);
        return;
    case CBC_EV_CALL_ABORTED:
        on_call(m, ev);
        return;
    case CBC_EV_SESSION_ABORTED:
        break;
    case CBC_EV_RECORD:
        switch (ev->kind) {
        case CB_KIND_CALL:
            on_call(m, ev);
            return;
        case CB_KIND_COUNT:
        case CB_KIND_GAUGE:
        case CB_KIND_OBSERVE:
            on_metric(m, ev);
            return;
        case CB_KIND_LOG:
            on_log(m, ev);
            return;
        default:
            break;
        }
        break;
    default:
        return;
    }
    cbp_sessions_event(&m->sessions, ev, cbc_name(m->rt, ev->name),
                       producer_of(m, ev->producer));
}

/* ---- refresh ---------------------------------------------------------------- */

static void
on_inflight(void *arg, uint32_t producer, const char *fn, uint64_t dur)
{
    struct top_model *m = arg;
    uint32_t id;

    cbp_sessions_long_call(&m->sessions, producer, fn, dur);
    if (cb_agg_key(m->agg, CB_AGG_FUNCTION, fn, NULL, &id) < 0)
        return;
    struct top_key *k = key_at(m, id, CB_AGG_FUNCTION, fn, NULL);
    if (k == NULL)
        return;
    k->inflight++;
    if (dur > k->longest_ns)
        k->longest_ns = dur;
}

static int
on_shm(void *arg, int kind, const char *name)
{
    struct top_model *m = arg;
    struct cb_status_header *st;

    if (kind != CB_SHM_STATUS || m->nconsumers >= 64)
        return 0;
    st = malloc(sizeof *st);
    if (st == NULL || cb_status_read(name, st) != 0) {
        free(st);
        return 0; /* vanished or being created: not shown this time */
    }
    struct top_consumer *c = &m->consumers[m->nconsumers++];
    memset(c, 0, sizeof *c);
    c->pid = st->pid;
    top_safe(c->program, sizeof c->program, st->program, sizeof st->program);
    top_safe(c->sink, sizeof c->sink, st->sink, sizeof st->sink);
    c->lost = st->lost;
    c->delivered = st->delivered;
    c->records_per_s = st->records_per_s;
    for (uint32_t i = 0; i < st->nrings && i < CB_STATUS_RINGS_MAX; i++)
        if (st->rings[i].head > st->rings[i].cursor)
            c->lag += st->rings[i].head - st->rings[i].cursor;
    c->heartbeat_age_ms = m->now_ns > st->heartbeat_real_ns
                              ? (m->now_ns - st->heartbeat_real_ns) / 1000000
                              : 0;
    free(st);
    return 0;
}

void
top_model_refresh(struct top_model *m, uint64_t now)
{
    struct cbc_rt_stats s;

    m->now_ns = now;
    /* Windows end on whole seconds: close those ending a second ago. */
    uint64_t wm = now > NS ? (now - NS) / NS * NS : 0;
    cb_agg_advance(m->agg, wm);
    if (m->cur_start_ns && m->cur_start_ns + m->span_ns / 2 <= wm)
        rotate(m, wm);
    if (m->cur_start_ns && wm > m->watermark_ns)
        m->watermark_ns = wm;
    for (size_t i = 0; i < m->nkeys; i++) {
        m->keys[i].inflight = 0;
        m->keys[i].longest_ns = 0;
    }
    cbp_sessions_long_call_reset(&m->sessions);
    cbp_inflight_scan(&m->inflight, on_inflight, m);
    cbp_sessions_tick(&m->sessions, now);
    m->nconsumers = 0;
    cb_shm_list(m->bus, on_shm, m);
    cbc_rt_stats(m->rt, &s);
    /* Counted here: cbc_rt_stats().delivered stays 0 in this runtime
     * version (reported). */
    if (m->last_refresh_ns && now > m->last_refresh_ns)
        m->records_per_s = (uint64_t)((double)(m->records - m->last_delivered) /
                                      ((double)(now - m->last_refresh_ns) / 1e9));
    m->last_delivered = m->records;
    m->last_refresh_ns = now;
    m->lost = s.lost;
    m->handoff_lost = s.handoff_lost;
}
