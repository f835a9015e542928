/*
 * engine.c -- rule evaluation for clipbus-alert (see engine.h for the
 * state machine). Req 4.1 (conditions), 4.2 (timing: for, repeat,
 * cooldown), 4.3 (thresholds, static and dynamic).
 *
 * Data layout:
 *  - a route cache maps an input's identity (type, name, labels,
 *    producer, consumer) to the stores and instances it feeds, so the
 *    rule matchers (fnmatch) run once per distinct series, not per record;
 *  - a store is a ring of sub-windows for one series over one length,
 *    shared by the rules that need it (latency histograms are 20 KiB each
 *    and allocated only in stores some latency rule reads);
 *  - an instance is one (rule, series) alert with its state.
 */
#include <errno.h>
#include <fnmatch.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agg.h"
#include "engine.h"

#define NSUB      10 /* sub-windows of a window */
#define NSUB_BASE 24 /* sub-windows of a baseline */

/* ---- a small string-keyed hash map -------------------------------------- */

struct ment {
    struct ment *next;
    uint64_t h;
    char *key;
    void *val;
};

struct map {
    struct ment **b;
    size_t nb, n;
};

static uint64_t
fnv(const char *s, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (uint8_t)s[i]) * 0x100000001b3ull;
    return h;
}

static void *
map_get(const struct map *m, const char *key)
{
    if (m->nb == 0)
        return NULL;
    uint64_t h = fnv(key, strlen(key));
    for (struct ment *x = m->b[h & (m->nb - 1)]; x; x = x->next)
        if (x->h == h && strcmp(x->key, key) == 0)
            return x->val;
    return NULL;
}

static int
map_put(struct map *m, const char *key, void *val)
{
    if (m->n + 1 > m->nb) {
        size_t nb = m->nb ? m->nb * 2 : 64;
        struct ment **b = calloc(nb, sizeof *b);
        if (b == NULL)
            return -ENOMEM;
        for (size_t i = 0; i < m->nb; i++)
            for (struct ment *x = m->b[i], *nx; x; x = nx) {
                nx = x->next;
                x->next = b[x->h & (nb - 1)];
                b[x->h & (nb - 1)] = x;
            }
        free(m->b);
        m->b = b;
        m->nb = nb;
    }
    struct ment *x = malloc(sizeof *x);
    char *k = strdup(key);
    if (x == NULL || k == NULL) {
        free(x);
        free(k);
        return -ENOMEM;
    }
    x->h = fnv(key, strlen(key));
    x->key = k;
    x->val = val;
    x->next = m->b[x->h & (m->nb - 1)];
    m->b[x->h & (m->nb - 1)] = x;
    m->n++;
    return 0;
}

static void
map_free(struct map *m, void (*fn)(void *))
{
    for (size_t i = 0; i < m->nb; i++)
        for (struct ment *x = m->b[i], *nx; x; x = nx) {
            nx = x->next;
            if (fn)
                fn(x->val);
            free(x->key);
            free(x);
        }
    free(m->b);
    memset(m, 0, sizeof *m);
}

/* ---- stores --------------------------------------------------------------- */

struct sub {
    uint64_t start;  /* UINT64_MAX: empty */
    double sum;      /* counter deltas, event counts */
    uint64_t n;      /* calls, updates, samples */
    uint64_t errs;
    double last;     /* gauge */
    uint64_t last_ts;
    struct cb_hist *h;
};

struct store {
    uint64_t width;
    int nsub;
    int hist;         /* keep latency histograms */
    uint64_t gen;     /* eval generation of the cache */
    struct cb_hist *merged;
    struct sub s[];
};

static struct store *
store_new(uint64_t len, int nsub, int hist)
{
    struct store *st = calloc(1, sizeof *st + (size_t)nsub * sizeof(struct sub));
    if (st == NULL)
        return NULL;
    st->width = len / (uint64_t)nsub ? len / (uint64_t)nsub : 1;
    st->nsub = nsub;
    st->hist = hist;
    st->gen = UINT64_MAX;
    for (int i = 0; i < nsub; i++)
        st->s[i].start = UINT64_MAX;
    return st;
}

static void
store_free(void *p)
{
    struct store *st = p;
    for (int i = 0; i < st->nsub; i++)
        free(st->s[i].h);
    free(st->merged);
    free(st);
}

/* The sub-window of record time ts, recycled if it held an older one;
 * NULL when ts is older than the ring. */
static struct sub *
store_slot(struct store *st, uint64_t ts)
{
    uint64_t start = ts / st->width * st->width;
    struct sub *s = &st->s[(ts / st->width) % (uint64_t)st->nsub];
    if (s->start == start)
        return s;
    if (s->start != UINT64_MAX && s->start > start)
        return NULL;
    s->start = start;
    s->sum = 0;
    s->n = s->errs = 0;
    s->last = 0;
    s->last_ts = 0;
    if (s->h)
        cb_hist_reset(s->h);
    return s;
}

static void
store_add(struct store *st, const struct al_input *in)
{
    struct sub *s = store_slot(st, in->ts_ns);
    if (s == NULL)
        return;
    switch (in->type) {
    case AL_IN_CALL:
        s->n++;
        s->errs += in->error != 0;
        if (st->hist) {
            if (s->h == NULL && (s->h = malloc(sizeof *s->h)) != NULL)
                cb_hist_init(s->h);
            if (s->h)
                cb_hist_add(s->h, in->dur_ns);
        }
        break;
    case AL_IN_GAUGE:
        s->n++;
        if (in->ts_ns >= s->last_ts) {
            s->last = in->value;
            s->last_ts = in->ts_ns;
        }
        break;
    case AL_IN_LOST:
        s->n++;
        s->sum += (double)in->count;
        break;
    default: /* COUNT: value is the delta; events: one each */
        s->n++;
        s->sum += in->type == AL_IN_COUNT ? in->value : 1.0;
        break;
    }
}

/* Totals of the sub-windows whose start lies in [lo, hi). */
struct tot {
    double sum, last;
    uint64_t n, errs, last_ts;
};

static void
store_total(const struct store *st, uint64_t lo, uint64_t hi, struct tot *t)
{
    memset(t, 0, sizeof *t);
    for (int i = 0; i < st->nsub; i++) {
        const struct sub *s = &st->s[i];
        if (s->start == UINT64_MAX || s->start < lo || s->start >= hi)
            continue;
        t->sum += s->sum;
        t->n += s->n;
        t->errs += s->errs;
        if (s->n && s->last_ts >= t->last_ts) {
            t->last = s->last;
            t->last_ts = s->last_ts;
        }
    }
}

static double
store_percentile(struct store *st, uint64_t lo, uint64_t hi, double p,
                 uint64_t gen)
{
    if (st->merged == NULL) {
        st->merged = malloc(sizeof *st->merged);
        if (st->merged == NULL)
            return NAN;
        cb_hist_init(st->merged);
        st->gen = UINT64_MAX;
    }
    if (st->gen != gen) {
        cb_hist_reset(st->merged);
        for (int i = 0; i < st->nsub; i++) {
            const struct sub *s = &st->s[i];
            if (s->h && s->start != UINT64_MAX && s->start >= lo &&
                s->start < hi)
                cb_hist_merge(st->merged, s->h);
        }
        st->gen = gen;
    }
    if (st->merged->count == 0)
        return NAN;
    return (double)cb_hist_percentile(st->merged, p) / 1e9;
}

/* ---- instances ---------------------------------------------------------- */

struct sess {
    uint64_t sid, last_ns;
};

struct inst {
    const struct cbc_alert_rule *rule;
    size_t rule_idx;
    char *series;            /* canonical "k=v\n" labels of the series */
    char *name;              /* function/metric/session/producer shown */
    char *producer;
    struct al_label labels[AL_MAX_LABELS];
    size_t n_labels;
    char *label_buf;
    uint64_t fp;
    struct store *st, *base; /* base: dynamic thresholds */
    int state, notified, dead;
    uint64_t since_ns, active_ns, notified_ns, resolved_ns;
    uint64_t warm_until, last_seen, born_ns;
    double infl_cur, infl_last;
    struct sess *sess;
    size_t n_sess, cap_sess;
    double value, threshold;
};

struct route {
    size_t n_st, n_inst;
    struct store **st;
    struct inst **inst;
};

struct al_engine {
    const struct cbc_alert_config *cfg;
    struct al_engine_cbs cbs;
    struct map stores, insts, routes;
    struct inst **all;
    size_t n_all, cap_all;
    uint64_t gen, inputs, now;
};

static void
inst_free(void *p)
{
    struct inst *x = p;
    free(x->series);
    free(x->name);
    free(x->producer);
    free(x->label_buf);
    free(x->sess);
    free(x);
}

static void
route_free(void *p)
{
    struct route *r = p;
    free(r->st);
    free(r->inst);
    free(r);
}

uint64_t
al_fingerprint(const struct al_label *l, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++) {
        for (const char *p = l[i].key; *p; p++)
            h = (h ^ (uint8_t)*p) * 0x100000001b3ull;
        h = (h ^ '=') * 0x100000001b3ull;
        for (const char *p = l[i].value; *p; p++)
            h = (h ^ (uint8_t)*p) * 0x100000001b3ull;
        h = (h ^ '\n') * 0x100000001b3ull;
    }
    return h;
}

static int
label_cmp(const void *a, const void *b)
{
    const struct al_label *x = a, *y = b;
    return strcmp(x->key, y->key);
}

static void
add_label(struct al_label *l, size_t *n, const char *k, const char *v)
{
    for (size_t i = 0; i < *n; i++)
        if (strcmp(l[i].key, k) == 0) {
            l[i].value = v;
            return;
        }
    if (*n < AL_MAX_LABELS) {
        l[*n].key = k;
        l[*n].value = v;
        (*n)++;
    }
}

/* Splits "k=v\n..." (series) in place into labels. */
static void
split_series(char *buf, struct al_label *l, size_t *n)
{
    for (char *p = buf; *p;) {
        char *nl = strchr(p, '\n');
        char *eq = strchr(p, '=');
        if (nl == NULL || eq == NULL || eq > nl)
            break;
        *eq = '\0';
        *nl = '\0';
        add_label(l, n, p, eq + 1);
        p = nl + 1;
    }
}

static const char *
series_get(const struct al_label *l, size_t n, const char *k)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(l[i].key, k) == 0)
            return l[i].value;
    return "";
}

/* Builds the instance's alert labels: alertname, severity, the series'
 * labels, the rule's labels (which win). */
static int
inst_labels(struct inst *x)
{
    const struct cbc_alert_rule *r = x->rule;
    size_t len = strlen(x->series) + 1;
    for (size_t i = 0; i < r->n_labels; i++)
        len += strlen(r->labels[i]) + 1;
    x->label_buf = malloc(len);
    if (x->label_buf == NULL)
        return -ENOMEM;
    char *p = x->label_buf;
    strcpy(p, x->series);
    x->n_labels = 0;
    add_label(x->labels, &x->n_labels, "alertname", r->name);
    add_label(x->labels, &x->n_labels, "severity",
              cbc_alert_severity_name(r->severity));
    split_series(p, x->labels, &x->n_labels);
    p += strlen(x->series) + 1;
    for (size_t i = 0; i < r->n_labels; i++) {
        strcpy(p, r->labels[i]);
        char *eq = strchr(p, '=');
        *eq = '\0';
        add_label(x->labels, &x->n_labels, p, eq + 1);
        p += strlen(r->labels[i]) + 1;
    }
    qsort(x->labels, x->n_labels, sizeof x->labels[0], label_cmp);
    x->fp = al_fingerprint(x->labels, x->n_labels);
    return 0;
}

/* ---- matching ----------------------------------------------------------- */

int
al_match(const char *const *m, size_t n, const struct al_label *l, size_t nl)
{
    char key[128];
    for (size_t i = 0; i < n; i++) {
        const char *eq = strchr(m[i], '=');
        size_t kl = (size_t)(eq - m[i]);
        int neg = kl > 0 && m[i][kl - 1] == '!';
        if (neg)
            kl--;
        if (kl >= sizeof key)
            return 0;
        memcpy(key, m[i], kl);
        key[kl] = '\0';
        int hit = fnmatch(eq + 1, series_get(l, nl, key), 0) == 0;
        if (hit == neg)
            return 0;
    }
    return 1;
}

static int
rule_has_fn_matcher(const struct cbc_alert_rule *r)
{
    for (size_t i = 0; i < r->n_match; i++)
        if (strncmp(r->match[i], "function=", 9) == 0)
            return 1;
    return 0;
}

/* Which rules an input type feeds. */
static int
rule_takes(const struct cbc_alert_rule *r, int type)
{
    switch (r->kind) {
    case CBC_AK_ERROR_COUNT:
    case CBC_AK_ERROR_RATE:
    case CBC_AK_LATENCY:
        return type == AL_IN_CALL;
    case CBC_AK_COUNTER_RATE:
        return type == AL_IN_COUNT;
    case CBC_AK_GAUGE:
        return type == AL_IN_GAUGE;
    case CBC_AK_ABSENCE:
        return rule_has_fn_matcher(r)
                   ? type == AL_IN_CALL || type == AL_IN_COUNT ||
                         type == AL_IN_GAUGE
                   : type == AL_IN_SEEN;
    case CBC_AK_PRODUCER_DIED:
        return type == AL_IN_DIED;
    case CBC_AK_RECORDS_LOST:
        return type == AL_IN_LOST;
    case CBC_AK_SESSION_ABORTED:
        return type == AL_IN_ABORTED;
    case CBC_AK_SESSION_STALLED:
        return type == AL_IN_SESSION || type == AL_IN_SESS_END;
    case CBC_AK_INFLIGHT:
        return type == AL_IN_INFLIGHT;
    default:
        return 0;
    }
}

/* Labels of an input, for matching; record labels parsed from "k=v,..."
 * into buf. Returns the count. */
static size_t
input_labels(const struct al_input *in, struct al_label *l, char *buf,
             size_t len)
{
    size_t n = 0;
    const char *nm = in->name ? in->name : "";
    if (in->type == AL_IN_ABORTED || in->type == AL_IN_SESSION ||
        in->type == AL_IN_SESS_END)
        add_label(l, &n, "session", nm);
    else if (in->type != AL_IN_DIED && in->type != AL_IN_LOST &&
             in->type != AL_IN_SEEN)
        add_label(l, &n, "function", nm);
    if (in->producer && in->producer[0])
        add_label(l, &n, "producer", in->producer);
    if (in->type == AL_IN_LOST)
        add_label(l, &n, "consumer", in->consumer ? in->consumer : "");
    if (in->labels && in->labels[0]) {
        snprintf(buf, len, "%s", in->labels);
        for (char *p = buf; p && *p;) {
            char *comma = strchr(p, ',');
            if (comma)
                *comma = '\0';
            char *eq = strchr(p, '=');
            if (eq && eq != p) {
                *eq = '\0';
                if (strcmp(p, "function") && strcmp(p, "producer"))
                    add_label(l, &n, p, eq + 1);
            }
            p = comma ? comma + 1 : NULL;
        }
    }
    return n;
}

/* The series labels a rule's instance keeps, as canonical text. */
static void
series_text(const struct cbc_alert_rule *r, const struct al_input *in,
            const struct al_label *l, size_t n, char *out, size_t len)
{
    struct al_label keep[AL_MAX_LABELS];
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        const char *key = l[i].key;
        int take;
        switch (r->kind) {
        case CBC_AK_PRODUCER_DIED:
            take = strcmp(key, "producer") == 0;
            break;
        case CBC_AK_RECORDS_LOST:
            take = strcmp(key, "consumer") == 0;
            break;
        case CBC_AK_SESSION_ABORTED:
        case CBC_AK_SESSION_STALLED:
            take = strcmp(key, "session") == 0 || strcmp(key, "producer") == 0;
            break;
        case CBC_AK_ABSENCE:
            take = in->type == AL_IN_SEEN ? strcmp(key, "producer") == 0
                                          : strcmp(key, "producer") != 0;
            break;
        default: /* per function/metric and record label set */
            take = strcmp(key, "producer") != 0;
            break;
        }
        if (take)
            keep[k++] = l[i];
    }
    qsort(keep, k, sizeof keep[0], label_cmp);
    size_t off = 0;
    out[0] = '\0';
    for (size_t i = 0; i < k && off < len; i++) {
        int w = snprintf(out + off, len - off, "%s=%s\n", keep[i].key,
                         keep[i].value);
        if (w < 0)
            break;
        off += (size_t)w;
    }
}

/* ---- instance and store creation ---------------------------------------- */

static int
store_class(int kind)
{
    switch (kind) {
    case CBC_AK_ERROR_COUNT:
    case CBC_AK_ERROR_RATE:
    case CBC_AK_LATENCY:
        return AL_IN_CALL;
    case CBC_AK_COUNTER_RATE:
        return AL_IN_COUNT;
    case CBC_AK_GAUGE:
        return AL_IN_GAUGE;
    case CBC_AK_PRODUCER_DIED:
        return AL_IN_DIED;
    case CBC_AK_RECORDS_LOST:
        return AL_IN_LOST;
    case CBC_AK_SESSION_ABORTED:
        return AL_IN_ABORTED;
    default:
        return 0;
    }
}

static struct store *
get_store(struct al_engine *e, int cls, const char *series, uint64_t len,
          uint64_t win, int nsub, int hist)
{
    char key[1200];
    snprintf(key, sizeof key, "%d|%llu|%llu|%s", cls, (unsigned long long)len,
             (unsigned long long)win, series);
    struct store *st = map_get(&e->stores, key);
    if (st == NULL) {
        st = store_new(len, nsub, hist);
        if (st == NULL || map_put(&e->stores, key, st) < 0) {
            free(st);
            return NULL;
        }
    } else if (hist && !st->hist) {
        st->hist = 1; /* a latency rule arrived late: start keeping them */
    }
    return st;
}

static int
attach_stores(struct al_engine *e, struct inst *x)
{
    const struct cbc_alert_rule *r = x->rule;
    int cls = store_class(r->kind);
    if (cls == 0)
        return 0;
    int hist = r->kind == CBC_AK_LATENCY;
    x->st = get_store(e, cls, x->series, r->window_ns, 0, NSUB, hist);
    if (x->st == NULL)
        return -ENOMEM;
    if (r->threshold != CBC_ATH_STATIC) {
        x->base = get_store(e, cls, x->series, r->baseline_ns, r->window_ns,
                            NSUB_BASE, hist);
        if (x->base == NULL)
            return -ENOMEM;
    }
    return 0;
}

static struct inst *
make_inst(struct al_engine *e, size_t ri, const char *series, uint64_t now)
{
    char key[1200];
    snprintf(key, sizeof key, "%zu|%s", ri, series);
    struct inst *x = map_get(&e->insts, key);
    if (x != NULL)
        return x;
    x = calloc(1, sizeof *x);
    if (x == NULL)
        return NULL;
    x->rule = &e->cfg->rules[ri];
    x->rule_idx = ri;
    x->series = strdup(series);
    x->born_ns = now;
    x->last_seen = now;
    if (x->series == NULL || inst_labels(x) < 0 || attach_stores(e, x) < 0)
        goto fail;
    const char *nm = series_get(x->labels, x->n_labels, "function");
    if (!nm[0])
        nm = series_get(x->labels, x->n_labels, "session");
    if (!nm[0])
        nm = series_get(x->labels, x->n_labels, "consumer");
    if (!nm[0])
        nm = series_get(x->labels, x->n_labels, "producer");
    x->name = strdup(nm);
    x->producer = strdup(series_get(x->labels, x->n_labels, "producer"));
    if (x->name == NULL || x->producer == NULL)
        goto fail;
    if (e->n_all == e->cap_all) {
        size_t cap = e->cap_all ? e->cap_all * 2 : 64;
        struct inst **a = realloc(e->all, cap * sizeof *a);
        if (a == NULL)
            goto fail;
        e->all = a;
        e->cap_all = cap;
    }
    if (map_put(&e->insts, key, x) < 0)
        goto fail;
    e->all[e->n_all++] = x;
    return x;
fail:
    inst_free(x);
    return NULL;
}

static int
push_unique(void ***arr, size_t *n, void *p)
{
    for (size_t i = 0; i < *n; i++)
        if ((*arr)[i] == p)
            return 0;
    void **a = realloc(*arr, (*n + 1) * sizeof *a);
    if (a == NULL)
        return -ENOMEM;
    a[(*n)++] = p;
    *arr = a;
    return 0;
}

/* Appends s (NULL: "") and `sep` at *at, within key[0, cap); 0 if it
 * does not fit (the caller then formats the key the slow way). */
static int
key_part(char *key, size_t cap, size_t *at, const char *s, char sep)
{
    size_t n = s ? strlen(s) : 0;
    if (*at + n + 2 > cap)
        return 0;
    memcpy(key + *at, s ? s : "", n);
    *at += n;
    key[(*at)++] = sep;
    key[*at] = '\0';
    return 1;
}

/* The route key "cls|name|labels|producer|consumer" of an input: built
 * with memcpy, as it is for every record (snprintf with five strings
 * was a visible part of the watcher's CPU). */
static void
route_key(char *key, size_t cap, int cls, const struct al_input *in)
{
    size_t at = 0;

    if (cls >= 0 && cls <= 99) { /* "%d|": the input kinds are 1-11 */
        if (cls >= 10)
            key[at++] = (char)('0' + cls / 10);
        key[at++] = (char)('0' + cls % 10);
        key[at++] = '|';
    }
    if (at == 0 ||
        !key_part(key, cap, &at, in->name, '|') ||
        !key_part(key, cap, &at, in->labels, '|') ||
        !key_part(key, cap, &at, in->producer, '|') ||
        !key_part(key, cap, &at, in->consumer, '\0'))
        snprintf(key, cap, "%d|%s|%s|%s|%s", cls, in->name ? in->name : "",
                 in->labels ? in->labels : "",
                 in->producer ? in->producer : "",
                 in->consumer ? in->consumer : "");
}

/* The stores and instances fed by inputs like `in` (made once). */
static struct route *
get_route(struct al_engine *e, const struct al_input *in)
{
    char key[1400], buf[512], series[1024];
    int cls = in->type == AL_IN_SESS_END ? AL_IN_SESSION : in->type;
    route_key(key, sizeof key, cls, in);
    struct route *rt = map_get(&e->routes, key);
    if (rt != NULL)
        return rt;
    rt = calloc(1, sizeof *rt);
    if (rt == NULL || map_put(&e->routes, key, rt) < 0) {
        free(rt);
        return NULL;
    }
    struct al_label l[AL_MAX_LABELS];
    size_t n = input_labels(in, l, buf, sizeof buf);
    for (size_t ri = 0; ri < e->cfg->n_rules; ri++) {
        const struct cbc_alert_rule *r = &e->cfg->rules[ri];
        if (!rule_takes(r, cls) || !al_match(r->match, r->n_match, l, n))
            continue;
        series_text(r, in, l, n, series, sizeof series);
        struct inst *x = make_inst(e, ri, series, in->ts_ns);
        if (x == NULL)
            continue;
        push_unique((void ***)&rt->inst, &rt->n_inst, x);
        if (x->st)
            push_unique((void ***)&rt->st, &rt->n_st, x->st);
        if (x->base)
            push_unique((void ***)&rt->st, &rt->n_st, x->base);
        /* A real series replaces the dead-man placeholder of its rule. */
        for (size_t i = 0; r->kind == CBC_AK_ABSENCE && i < e->n_all; i++)
            if (e->all[i]->rule_idx == ri && e->all[i]->series[0] == '#')
                e->all[i]->dead = 1;
    }
    return rt;
}

/* ---- feeding ------------------------------------------------------------ */

static void
sess_update(struct inst *x, const struct al_input *in)
{
    for (size_t i = 0; i < x->n_sess; i++)
        if (x->sess[i].sid == in->sid) {
            if (in->type == AL_IN_SESS_END)
                x->sess[i] = x->sess[--x->n_sess];
            else if (in->ts_ns > x->sess[i].last_ns)
                x->sess[i].last_ns = in->ts_ns;
            return;
        }
    if (in->type == AL_IN_SESS_END)
        return;
    if (x->n_sess == x->cap_sess) {
        size_t cap = x->cap_sess ? x->cap_sess * 2 : 4;
        struct sess *s = realloc(x->sess, cap * sizeof *s);
        if (s == NULL)
            return;
        x->sess = s;
        x->cap_sess = cap;
    }
    x->sess[x->n_sess].sid = in->sid;
    x->sess[x->n_sess].last_ns = in->ts_ns;
    x->n_sess++;
}

void
al_engine_feed(struct al_engine *e, const struct al_input *in)
{
    e->inputs++;
    if (in->type == AL_IN_INFL_DONE) {
        for (size_t i = 0; i < e->n_all; i++)
            if (e->all[i]->rule->kind == CBC_AK_INFLIGHT) {
                e->all[i]->infl_last = e->all[i]->infl_cur;
                e->all[i]->infl_cur = 0;
            }
        return;
    }
    struct route *rt = get_route(e, in);
    if (rt == NULL)
        return;
    for (size_t i = 0; i < rt->n_st; i++)
        store_add(rt->st[i], in);
    for (size_t i = 0; i < rt->n_inst; i++) {
        struct inst *x = rt->inst[i];
        if (in->ts_ns > x->last_seen)
            x->last_seen = in->ts_ns;
        /* {producer} in templates: the last producer that fed it. */
        if (in->producer && in->producer[0] &&
            strcmp(x->producer, in->producer) != 0) {
            char *p = strdup(in->producer);
            if (p) {
                free(x->producer);
                x->producer = p;
            }
        }
        if (x->rule->kind == CBC_AK_SESSION_STALLED)
            sess_update(x, in);
        else if (x->rule->kind == CBC_AK_INFLIGHT &&
                 (double)in->dur_ns / 1e9 > x->infl_cur)
            x->infl_cur = (double)in->dur_ns / 1e9;
    }
}

/* ---- evaluation --------------------------------------------------------- */

/* The value of a store-based rule over [lo, hi) of st; NAN without
 * enough samples (min). */
static double
store_value(struct al_engine *e, const struct cbc_alert_rule *r,
            struct store *st, uint64_t lo, uint64_t hi, int64_t min,
            uint64_t len)
{
    struct tot t;
    store_total(st, lo, hi, &t);
    switch (r->kind) {
    case CBC_AK_ERROR_COUNT:
        return t.n >= (uint64_t)min ? (double)t.errs : NAN;
    case CBC_AK_ERROR_RATE:
        return t.n >= (uint64_t)min && t.n > 0
                   ? 100.0 * (double)t.errs / (double)t.n
                   : NAN;
    case CBC_AK_LATENCY:
        return t.n >= (uint64_t)min && t.n > 0
                   ? store_percentile(st, lo, hi, r->percentile, e->gen)
                   : NAN;
    case CBC_AK_COUNTER_RATE:
        return t.n >= (uint64_t)min ? t.sum / ((double)len / 1e9) : NAN;
    case CBC_AK_GAUGE:
        return t.n >= (uint64_t)min && t.n > 0 ? t.last : NAN;
    default: /* event counts: none is 0, not "no data" */
        return t.sum;
    }
}

static double
inst_value(struct al_engine *e, struct inst *x, uint64_t now, double *thr,
           double *clr)
{
    const struct cbc_alert_rule *r = x->rule;
    double v = NAN;
    *thr = r->fire;
    *clr = r->clear;
    switch (r->kind) {
    case CBC_AK_ABSENCE:
        if (x->last_seen == 0) /* a placeholder counts from the start */
            x->last_seen = now;
        return now > x->last_seen ? (double)(now - x->last_seen) / 1e9 : 0;
    case CBC_AK_INFLIGHT:
        return x->infl_last;
    case CBC_AK_SESSION_STALLED:
        v = 0;
        for (size_t i = 0; i < x->n_sess; i++)
            if (now > x->sess[i].last_ns &&
                (double)(now - x->sess[i].last_ns) / 1e9 > v)
                v = (double)(now - x->sess[i].last_ns) / 1e9;
        return v;
    default:
        break;
    }
    uint64_t lo = now > r->window_ns ? now - r->window_ns : 0;
    v = store_value(e, r, x->st, lo, now + 1, r->min_count, r->window_ns);
    if (r->threshold == CBC_ATH_STATIC || isnan(v))
        return v;
    uint64_t blo = lo > r->baseline_ns ? lo - r->baseline_ns : 0;
    /* The baseline's sub-windows end before the current window starts,
     * so a slow spell does not raise its own threshold. */
    double b = store_value(e, r, x->base, blo,
                           lo >= x->base->width ? lo - x->base->width + 1 : 0,
                           r->baseline_min_count, r->baseline_ns);
    if (isnan(b))
        return NAN;
    if (r->threshold == CBC_ATH_RATIO) {
        *thr = r->fire * b;
        *clr = r->clear * b;
    } else {
        *thr = b + r->fire;
        *clr = b + r->clear;
    }
    return v;
}

static void
persist(struct al_engine *e, const struct inst *x)
{
    if (e->cbs.state == NULL)
        return;
    struct al_state s = {
        .rule = x->rule->name,
        .fingerprint = x->fp,
        .series = x->series,
        .state = x->dead ? AL_ST_INACTIVE : x->state,
        .notified = x->notified,
        .since_ns = x->since_ns,
        .active_ns = x->active_ns,
        .notified_ns = x->notified_ns,
        .resolved_ns = x->resolved_ns,
    };
    e->cbs.state(e->cbs.arg, &s);
}

static void
note(struct al_engine *e, struct inst *x, int firing, int repeat, uint64_t now)
{
    char summary[1024], desc[4096];
    /* Templates see the producer even when the series is not keyed by
     * it (a function's calls from any producer). */
    struct al_label tl[AL_MAX_LABELS + 1];
    size_t nt = x->n_labels;
    memcpy(tl, x->labels, nt * sizeof tl[0]);
    if (!series_get(x->labels, x->n_labels, "producer")[0] &&
        x->producer[0]) {
        tl[nt].key = "producer";
        tl[nt++].value = x->producer;
    }
    al_render(summary, sizeof summary, x->rule->summary, x->rule, tl, nt,
              x->value, x->threshold);
    al_render(desc, sizeof desc, x->rule->description, x->rule, tl, nt,
              x->value, x->threshold);
    struct al_note n = {
        .rule = x->rule,
        .firing = firing,
        .repeat = repeat,
        .fingerprint = x->fp,
        .starts_ns = x->since_ns,
        .ends_ns = firing ? 0 : now,
        .at_ns = now,
        .value = x->value,
        .threshold = x->threshold,
        .n_labels = x->n_labels,
        .labels = x->labels,
        .summary = summary,
        .description = desc,
    };
    e->cbs.note(e->cbs.arg, &n);
}

static int
silenced(struct al_engine *e, const struct inst *x, uint64_t now)
{
    return e->cbs.silenced &&
           e->cbs.silenced(e->cbs.arg, x->labels, x->n_labels, now);
}

/* Req 4.2: page a firing instance unless silenced or cooling down;
 * repeat while it keeps firing. */
static void
maybe_page(struct al_engine *e, struct inst *x, uint64_t now)
{
    const struct cbc_alert_rule *r = x->rule;
    if (silenced(e, x, now))
        return;
    if (x->notified) {
        if (r->repeat_ns && now - x->notified_ns >= r->repeat_ns) {
            note(e, x, 1, 1, now);
            x->notified_ns = now;
            persist(e, x);
        }
        return;
    }
    if (x->resolved_ns && now - x->resolved_ns < r->cooldown_ns)
        return;
    note(e, x, 1, 0, now);
    x->notified = 1;
    x->notified_ns = now;
    persist(e, x);
}

static void
resolve(struct al_engine *e, struct inst *x, uint64_t now)
{
    if (x->notified) {
        note(e, x, 0, 0, now);
        x->resolved_ns = now;
    }
    x->state = AL_ST_INACTIVE;
    x->notified = 0;
    persist(e, x);
}

static int
cond(int op, double v, double t)
{
    return op == CBC_AOP_ABOVE ? v > t : v < t;
}

static void
step(struct al_engine *e, struct inst *x, uint64_t now)
{
    const struct cbc_alert_rule *r = x->rule;
    double thr, clr;
    double v = inst_value(e, x, now, &thr, &clr);
    if (isnan(v) && now < x->warm_until)
        return; /* restored after a restart: wait for data */
    x->value = v;
    x->threshold = thr;
    if (x->dead) {
        if (x->state == AL_ST_FIRING)
            resolve(e, x, now);
        x->state = AL_ST_INACTIVE;
        return;
    }
    switch (x->state) {
    case AL_ST_INACTIVE:
        if (!cond(r->op, v, thr))
            return;
        x->since_ns = now;
        x->state = AL_ST_PENDING;
        /* With for == 0 it fires at once. */
        __attribute__((fallthrough));
    case AL_ST_PENDING:
        if (!cond(r->op, v, thr)) {
            x->state = AL_ST_INACTIVE;
            persist(e, x);
        } else if (now - x->since_ns >= r->for_ns) {
            x->state = AL_ST_FIRING;
            x->active_ns = now;
            x->notified = 0;
            persist(e, x);
            maybe_page(e, x, now);
        } else if (x->since_ns == now) {
            persist(e, x);
        }
        return;
    default:
        x->threshold = cond(r->op, v, clr) || isnan(v) ? thr : clr;
        if (!cond(r->op, v, clr))
            resolve(e, x, now);
        else
            maybe_page(e, x, now);
        return;
    }
}

void
al_engine_eval(struct al_engine *e, uint64_t now)
{
    e->gen++;
    e->now = now;
    for (size_t i = 0; i < e->n_all; i++)
        step(e, e->all[i], now);
}

/* ---- life cycle --------------------------------------------------------- */

/* Dead-man's switch: an absence rule on functions that never appeared
 * still needs an instance, labelled with the rule's matchers. */
static void
placeholders(struct al_engine *e)
{
    for (size_t ri = 0; ri < e->cfg->n_rules; ri++) {
        const struct cbc_alert_rule *r = &e->cfg->rules[ri];
        if (r->kind != CBC_AK_ABSENCE)
            continue;
        char series[1024] = "#";
        size_t off = 1;
        for (size_t i = 0; i < r->n_match && off < sizeof series; i++)
            if (strstr(r->match[i], "!=") == NULL) {
                int w = snprintf(series + off, sizeof series - off, "%s\n",
                                 r->match[i]);
                if (w > 0)
                    off += (size_t)w;
            }
        struct inst *x = make_inst(e, ri, series, 0);
        if (x)
            x->last_seen = 0; /* set at the first evaluation */
    }
}

struct al_engine *
al_engine_create(const struct cbc_alert_config *cfg,
                 const struct al_engine_cbs *cbs)
{
    struct al_engine *e = calloc(1, sizeof *e);
    if (e == NULL)
        return NULL;
    e->cfg = cfg;
    e->cbs = *cbs;
    placeholders(e);
    return e;
}

void
al_engine_destroy(struct al_engine *e)
{
    if (e == NULL)
        return;
    map_free(&e->routes, route_free);
    map_free(&e->insts, inst_free);
    map_free(&e->stores, store_free);
    free(e->all);
    free(e);
}

int
al_engine_restore(struct al_engine *e, const struct al_state *s,
                  uint64_t start_ns)
{
    size_t ri = 0;
    while (ri < e->cfg->n_rules && strcmp(e->cfg->rules[ri].name, s->rule))
        ri++;
    if (ri == e->cfg->n_rules)
        return -ENOENT;
    struct inst *x = make_inst(e, ri, s->series, start_ns);
    if (x == NULL)
        return -ENOMEM;
    x->state = s->state;
    x->notified = s->notified;
    x->since_ns = s->since_ns;
    x->active_ns = s->active_ns;
    x->notified_ns = s->notified_ns;
    x->resolved_ns = s->resolved_ns;
    x->warm_until = start_ns + x->rule->window_ns;
    x->last_seen = start_ns;
    return 0;
}

void
al_engine_stats(const struct al_engine *e, struct al_engine_stats *out)
{
    memset(out, 0, sizeof *out);
    out->inputs = e->inputs;
    out->instances = e->n_all;
    out->stores = e->stores.n;
    out->evals = e->gen;
    for (size_t i = 0; i < e->n_all; i++) {
        out->firing += e->all[i]->state == AL_ST_FIRING;
        out->pending += e->all[i]->state == AL_ST_PENDING;
    }
}

void
al_engine_each_firing(const struct al_engine *e,
                      void (*fn)(void *arg, const struct al_note *n),
                      void *arg)
{
    for (size_t i = 0; i < e->n_all; i++) {
        const struct inst *x = e->all[i];
        if (x->state != AL_ST_FIRING)
            continue;
        struct al_note n = {.rule = x->rule, .firing = 1,
                            .fingerprint = x->fp, .starts_ns = x->since_ns,
                            .at_ns = x->notified_ns, .value = x->value,
                            .threshold = x->threshold,
                            .n_labels = x->n_labels, .labels = x->labels,
                            .repeat = x->notified};
        fn(arg, &n);
    }
}

/* ---- templates ---------------------------------------------------------- */

static void
fmt_num(char *b, size_t len, double v)
{
    if (isnan(v))
        snprintf(b, len, "no data");
    else
        snprintf(b, len, "%.4g", v);
}

void
al_render(char *buf, size_t len, const char *tpl,
          const struct cbc_alert_rule *r, const struct al_label *l, size_t nl,
          double value, double threshold)
{
    size_t o = 0;
    char tmp[64], field[80];
    if (len == 0)
        return;
    for (const char *p = tpl; *p && o + 1 < len; p++) {
        const char *v = NULL;
        if ((*p == '{' && p[1] == '{') || (*p == '}' && p[1] == '}')) {
            buf[o++] = *p++;
            continue;
        }
        const char *end = *p == '{' ? strchr(p, '}') : NULL;
        if (end == NULL || (size_t)(end - p) >= sizeof field) {
            buf[o++] = *p;
            continue;
        }
        memcpy(field, p + 1, (size_t)(end - p - 1));
        field[end - p - 1] = '\0';
        if (!strcmp(field, "rule"))
            v = r->name;
        else if (!strcmp(field, "function"))
            v = series_get(l, nl, "function");
        else if (!strcmp(field, "target")) {
            static const char *const keys[] = {"function", "session",
                                               "consumer", "producer"};
            for (size_t k = 0; k < 4 && (v == NULL || !v[0]); k++)
                v = series_get(l, nl, keys[k]);
        } else if (!strcmp(field, "producer"))
            v = series_get(l, nl, "producer");
        else if (!strcmp(field, "severity"))
            v = cbc_alert_severity_name(r->severity);
        else if (!strcmp(field, "kind"))
            v = cbc_alert_kind_name(r->kind);
        else if (!strcmp(field, "value"))
            fmt_num(tmp, sizeof tmp, value), v = tmp;
        else if (!strcmp(field, "threshold"))
            fmt_num(tmp, sizeof tmp, threshold), v = tmp;
        else if (!strcmp(field, "window"))
            snprintf(tmp, sizeof tmp, "%gs", (double)r->window_ns / 1e9),
                v = tmp;
        else if (!strcmp(field, "baseline"))
            snprintf(tmp, sizeof tmp, "%gs", (double)r->baseline_ns / 1e9),
                v = tmp;
        else if (!strncmp(field, "labels.", 7))
            v = series_get(l, nl, field + 7);
        if (v == NULL) {
            buf[o++] = *p;
            continue;
        }
        int w = snprintf(buf + o, len - o, "%s", v);
        o += w > 0 ? (size_t)w : 0;
        if (o >= len)
            o = len - 1;
        p = end;
    }
    buf[o] = '\0';
}
