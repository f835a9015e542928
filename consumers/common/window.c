/*
 * window.c -- per-key statistics over aligned windows of record time
 * (agg.h, "Windows").
 *
 * TIME. A record with time ts belongs to the window starting at
 * ts - ts % len, whatever its arrival time: a consumer that catches up
 * after a pause files every record where it belongs (issue 5, "Event
 * timestamps"). The watermark says which windows are finished: every
 * window whose end is at or before it has been delivered, and no regular
 * window is ever delivered twice. It rises when the caller says so
 * (cb_agg_advance) and, unless grace_ns is CB_AGG_MANUAL, to the newest
 * record time seen minus grace_ns.
 *
 * LATE RECORDS. A record whose window was already delivered is not
 * dropped and not forced into a wrong window: it goes into a "late delta"
 * window with the same start, flagged late, delivered before the next
 * regular window (or when more than late_max deltas are pending, or at
 * flush). Summing every delivered window, regular and late, therefore
 * gives exactly the totals of all records; each entry counts its late
 * records, and cb_agg_stats() the total.
 *
 * MEMORY. Keys are interned once (a small open-addressing table maps
 * (kind, name, labels) to a dense id), so a window finds a key's entry by
 * indexing an array with the id: no hashing on the add path. Entries
 * (with their histogram for FUNCTION and OBSERVE keys) and windows are
 * recycled through free lists when a window has been delivered, so the
 * steady state allocates nothing.
 *
 * Single-threaded: one cb_agg belongs to one thread (agg.h, THREADS).
 */
#include "agg.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "clipbus/segment.h"

_Static_assert(CB_AGG_OK == CB_STATUS_OK, "outcomes are record statuses");
_Static_assert(CB_AGG_ERROR == CB_STATUS_ERROR, "outcomes are statuses");
_Static_assert(CB_AGG_ABORTED == CB_STATUS_ABORTED, "outcomes are statuses");

/* An entry and the free-list link it needs while recycled. The entry is
 * the first member, so an entry pointer is a slot pointer. */
struct slot {
    struct cb_agg_entry e;
    struct slot *next;
};

struct win {
    struct cb_agg_window pub;
    struct cb_agg_entry **by_key; /* slot_cap pointers, NULL: unused */
    struct cb_agg_entry **list;   /* pub.n used entries */
    struct win *next;             /* free list */
};

struct key {
    int kind;
    const char *name; /* name and labels share one allocation */
    const char *labels;
    uint64_t hash;
};

/* A sorted (by start) array of windows. */
struct winset {
    struct win **w;
    uint32_t n, cap;
};

struct cb_agg {
    uint64_t len, grace;
    uint32_t late_max;
    cb_agg_close_fn on_close;
    void *arg;

    struct key *keys;
    uint32_t nkeys, keys_cap;
    uint32_t *table; /* key id + 1; 0: empty */
    uint32_t table_cap;
    uint32_t slot_cap; /* by_key and list capacity of every window */

    struct winset open, late;
    struct win *cur; /* the regular window used last */
    struct win *free_wins;
    struct slot *free_small; /* COUNTER, GAUGE */
    struct slot *free_big;   /* FUNCTION, OBSERVE: with a histogram */

    uint64_t watermark, newest;
    uint64_t records, nlate, dropped, closed, late_closed;
};

/* ---- keys --------------------------------------------------------------- */

static uint64_t
key_hash(int kind, const char *name, const char *labels)
{
    /* FNV-1a over kind, name, a separator and labels. */
    uint64_t h = UINT64_C(0xcbf29ce484222325) ^ (uint64_t)kind;
    h *= UINT64_C(0x100000001b3);
    for (const char *p = name; *p; p++)
        h = (h ^ (uint8_t)*p) * UINT64_C(0x100000001b3);
    h = (h ^ 0xffu) * UINT64_C(0x100000001b3);
    for (const char *p = labels; *p; p++)
        h = (h ^ (uint8_t)*p) * UINT64_C(0x100000001b3);
    return h;
}

static uint32_t *
table_find(struct cb_agg *a, int kind, const char *name, const char *labels,
           uint64_t h)
{
    uint32_t mask = a->table_cap - 1;
    for (uint32_t i = (uint32_t)h & mask;; i = (i + 1) & mask) {
        uint32_t *t = &a->table[i];
        if (*t == 0)
            return t;
        const struct key *k = &a->keys[*t - 1];
        if (k->hash == h && k->kind == kind && !strcmp(k->name, name) &&
            !strcmp(k->labels, labels))
            return t;
    }
}

static int
table_grow(struct cb_agg *a)
{
    uint32_t cap = a->table_cap ? a->table_cap * 2 : 64;
    uint32_t *t = calloc(cap, sizeof(*t));
    if (!t)
        return -ENOMEM;
    free(a->table);
    a->table = t;
    a->table_cap = cap;
    for (uint32_t id = 0; id < a->nkeys; id++) {
        const struct key *k = &a->keys[id];
        *table_find(a, k->kind, k->name, k->labels, k->hash) = id + 1;
    }
    return 0;
}

static int
win_grow(struct win *w, uint32_t cap)
{
    struct cb_agg_entry **b =
        realloc(w->by_key, cap * sizeof(struct cb_agg_entry *));
    if (!b)
        return -ENOMEM;
    w->by_key = b;
    struct cb_agg_entry **l =
        realloc(w->list, cap * sizeof(struct cb_agg_entry *));
    if (!l)
        return -ENOMEM;
    w->list = l;
    return 0;
}

/* Gives every window room for `cap` keys; the new by_key cells are NULL. */
static int
slots_grow(struct cb_agg *a, uint32_t cap)
{
    struct winset *sets[2] = {&a->open, &a->late};
    for (int s = 0; s < 2; s++) {
        for (uint32_t i = 0; i < sets[s]->n; i++) {
            struct win *w = sets[s]->w[i];
            if (win_grow(w, cap))
                return -ENOMEM;
            memset(w->by_key + a->slot_cap, 0,
                   (cap - a->slot_cap) * sizeof(struct cb_agg_entry *));
        }
    }
    for (struct win *w = a->free_wins; w; w = w->next) {
        if (win_grow(w, cap))
            return -ENOMEM;
        memset(w->by_key + a->slot_cap, 0,
               (cap - a->slot_cap) * sizeof(struct cb_agg_entry *));
    }
    a->slot_cap = cap;
    return 0;
}

static int
key_add(struct cb_agg *a, int kind, const char *name, const char *labels,
        uint64_t h, uint32_t *id)
{
    if (a->nkeys == a->keys_cap) {
        uint32_t cap = a->keys_cap ? a->keys_cap * 2 : 32;
        struct key *k = realloc(a->keys, cap * sizeof(*k));
        if (!k)
            return -ENOMEM;
        a->keys = k;
        a->keys_cap = cap;
    }
    if (a->nkeys == a->slot_cap && slots_grow(a, a->keys_cap))
        return -ENOMEM;
    size_t nl = strlen(name) + 1, ll = strlen(labels) + 1;
    char *copy = malloc(nl + ll);
    if (!copy)
        return -ENOMEM;
    memcpy(copy, name, nl);
    memcpy(copy + nl, labels, ll);
    struct key *k = &a->keys[a->nkeys];
    k->kind = kind;
    k->name = copy;
    k->labels = copy + nl;
    k->hash = h;
    *id = a->nkeys++;
    return 0;
}

int
cb_agg_key(struct cb_agg *a, int kind, const char *name, const char *labels,
           uint32_t *id)
{
    if (kind < CB_AGG_FUNCTION || kind > CB_AGG_OBSERVE || !name || !*name)
        return -EINVAL;
    if (!labels)
        labels = "";
    /* Keep the table at most half full: probes stay short. */
    if (2 * (a->nkeys + 1) > a->table_cap && table_grow(a))
        return -ENOMEM;
    uint64_t h = key_hash(kind, name, labels);
    uint32_t *t = table_find(a, kind, name, labels, h);
    if (*t) {
        *id = *t - 1;
        return 0;
    }
    int rc = key_add(a, kind, name, labels, h, id);
    if (rc == 0)
        *t = *id + 1;
    return rc;
}

/* ---- windows and entries ------------------------------------------------ */

static uint64_t
win_end(const struct cb_agg *a, uint64_t start)
{
    return start > UINT64_MAX - a->len ? UINT64_MAX : start + a->len;
}

/* The index of the first window in s starting at or after start. */
static uint32_t
winset_lower(const struct winset *s, uint64_t start)
{
    uint32_t lo = 0, hi = s->n;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (s->w[mid]->pub.start_ns < start)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static struct win *
win_new(struct cb_agg *a)
{
    struct win *w = a->free_wins;
    if (w) {
        a->free_wins = w->next;
        return w;
    }
    w = calloc(1, sizeof(*w));
    if (!w)
        return NULL;
    w->by_key =
        calloc(a->slot_cap ? a->slot_cap : 1, sizeof(struct cb_agg_entry *));
    w->list =
        calloc(a->slot_cap ? a->slot_cap : 1, sizeof(struct cb_agg_entry *));
    if (!w->by_key || !w->list) {
        free(w->by_key);
        free(w->list);
        free(w);
        return NULL;
    }
    return w;
}

/* The window of s starting at `start`, made if missing; NULL: no memory. */
static struct win *
winset_get(struct cb_agg *a, struct winset *s, uint64_t start, int late)
{
    uint32_t i = winset_lower(s, start);
    if (i < s->n && s->w[i]->pub.start_ns == start)
        return s->w[i];
    if (s->n == s->cap) {
        uint32_t cap = s->cap ? s->cap * 2 : 8;
        struct win **v = realloc(s->w, cap * sizeof(struct win *));
        if (!v)
            return NULL;
        s->w = v;
        s->cap = cap;
    }
    struct win *w = win_new(a);
    if (!w)
        return NULL;
    w->pub.start_ns = start;
    w->pub.len_ns = a->len;
    w->pub.late = late;
    w->pub.n = 0;
    w->pub.entries = NULL;
    memmove(&s->w[i + 1], &s->w[i], (s->n - i) * sizeof(struct win *));
    s->w[i] = w;
    s->n++;
    return w;
}

static void
entry_clear(struct cb_agg_entry *e)
{
    struct cb_hist *h = e->hist;
    memset(e, 0, sizeof(*e));
    e->hist = h;
    e->gauge.min = INFINITY;
    e->gauge.max = -INFINITY;
}

static struct slot *
slot_new(struct cb_agg *a, int big)
{
    struct slot **list = big ? &a->free_big : &a->free_small;
    struct slot *s = *list;
    if (s) {
        *list = s->next;
        return s;
    }
    s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    if (big) {
        s->e.hist = malloc(sizeof(*s->e.hist));
        if (!s->e.hist) {
            free(s);
            return NULL;
        }
        cb_hist_init(s->e.hist);
    }
    return s;
}

/* Key id's entry in w, made if missing; NULL: no memory. */
static struct cb_agg_entry *
win_entry(struct cb_agg *a, struct win *w, uint32_t id)
{
    struct cb_agg_entry *e = w->by_key[id];
    if (e)
        return e;
    const struct key *k = &a->keys[id];
    int big = k->kind == CB_AGG_FUNCTION || k->kind == CB_AGG_OBSERVE;
    struct slot *s = slot_new(a, big);
    if (!s)
        return NULL;
    e = &s->e;
    entry_clear(e);
    e->key = id;
    e->kind = k->kind;
    e->name = k->name;
    e->labels = k->labels;
    w->by_key[id] = e;
    w->list[w->pub.n++] = e;
    return e;
}

static int
by_key_id(const void *x, const void *y)
{
    const struct cb_agg_entry *a = *(struct cb_agg_entry *const *)x;
    const struct cb_agg_entry *b = *(struct cb_agg_entry *const *)y;
    return (a->key > b->key) - (a->key < b->key);
}

/* Hands w to the callback, then recycles it and its entries. */
static void
win_deliver(struct cb_agg *a, struct win *w)
{
    qsort(w->list, w->pub.n, sizeof(struct cb_agg_entry *), by_key_id);
    w->pub.entries = w->list;
    if (a->on_close)
        a->on_close(a->arg, &w->pub);
    if (w->pub.late)
        a->late_closed++;
    else
        a->closed++;
    for (size_t i = 0; i < w->pub.n; i++) {
        struct cb_agg_entry *e = w->list[i];
        struct slot *s = (struct slot *)e;
        w->by_key[e->key] = NULL;
        if (e->hist) {
            cb_hist_reset(e->hist);
            s->next = a->free_big;
            a->free_big = s;
        } else {
            s->next = a->free_small;
            a->free_small = s;
        }
    }
    w->pub.n = 0;
    w->pub.entries = NULL;
    if (a->cur == w)
        a->cur = NULL;
    w->next = a->free_wins;
    a->free_wins = w;
}

/* Delivers and removes the first `n` windows of s. */
static void
winset_deliver(struct cb_agg *a, struct winset *s, uint32_t n)
{
    if (n == 0)
        return; /* s->w may still be NULL */
    for (uint32_t i = 0; i < n; i++)
        win_deliver(a, s->w[i]);
    memmove(&s->w[0], &s->w[n], (s->n - n) * sizeof(struct win *));
    s->n -= n;
}

int
cb_agg_advance(struct cb_agg *a, uint64_t watermark_ns)
{
    if (watermark_ns <= a->watermark)
        return 0;
    a->watermark = watermark_ns;
    uint32_t n = 0;
    while (n < a->open.n &&
           win_end(a, a->open.w[n]->pub.start_ns) <= watermark_ns)
        n++;
    if (n == 0)
        return 0;
    /* Late deltas first: they belong to slots older than any open one. */
    winset_deliver(a, &a->late, a->late.n);
    winset_deliver(a, &a->open, n);
    return (int)n;
}

int
cb_agg_flush(struct cb_agg *a)
{
    int n = (int)a->open.n;
    winset_deliver(a, &a->late, a->late.n);
    if (n > 0) {
        uint64_t end = win_end(a, a->open.w[n - 1]->pub.start_ns);
        if (end > a->watermark)
            a->watermark = end;
    }
    winset_deliver(a, &a->open, a->open.n);
    return n;
}

/* ---- the add path ------------------------------------------------------- */

/*
 * Finds (or makes) the entry of key `id` for record time ts. *late is set
 * when it is a late delta. NULL with *err set for a bad key or no memory.
 */
static struct cb_agg_entry *
entry_for(struct cb_agg *a, uint32_t id, int kind, uint64_t ts, int *late,
          int *err)
{
    if (id >= a->nkeys || a->keys[id].kind != kind) {
        *err = -EINVAL;
        return NULL;
    }
    uint64_t start = ts - ts % a->len;
    struct win *w = a->cur;
    *late = 0;
    if (!w || w->pub.start_ns != start) {
        if (win_end(a, start) <= a->watermark) {
            *late = 1;
            w = winset_get(a, &a->late, start, 1);
        } else {
            w = winset_get(a, &a->open, start, 0);
            a->cur = w;
        }
    }
    struct cb_agg_entry *e = w ? win_entry(a, w, id) : NULL;
    if (!e) {
        a->dropped++;
        *err = -ENOMEM;
    }
    return e;
}

/* Counts one record filed in e. */
static void
filed(struct cb_agg *a, struct cb_agg_entry *e, int late)
{
    a->records++;
    e->records++;
    if (late) {
        a->nlate++;
        e->late++;
    }
}

/* After a record: moves the watermark along (auto closing) and keeps the
 * number of pending late deltas bounded. Returns `late` (0 or 1). */
static int
after_add(struct cb_agg *a, uint64_t ts, int late)
{
    if (late && a->late.n > a->late_max)
        winset_deliver(a, &a->late, 1);
    if (ts > a->newest) {
        a->newest = ts;
        if (a->grace != CB_AGG_MANUAL && ts > a->grace)
            cb_agg_advance(a, ts - a->grace);
    }
    return late;
}

static void
err_count(struct cb_agg_fn *f, int32_t code, uint64_t n)
{
    for (uint32_t i = 0; i < f->nerrs; i++) {
        if (f->errs[i].code == code) {
            f->errs[i].n += n;
            return;
        }
    }
    if (f->nerrs < CB_AGG_ERRCODES) {
        f->errs[f->nerrs].code = code;
        f->errs[f->nerrs].n = n;
        f->nerrs++;
        return;
    }
    f->errs_other += n;
}

int
cb_agg_call(struct cb_agg *a, uint32_t key, uint64_t ts_ns, uint64_t dur_ns,
            int outcome, int32_t err_code)
{
    int late, err;
    if (outcome < CB_AGG_OK || outcome > CB_AGG_ABORTED)
        return -EINVAL;
    struct cb_agg_entry *e =
        entry_for(a, key, CB_AGG_FUNCTION, ts_ns, &late, &err);
    if (!e)
        return err;
    filed(a, e, late);
    if (outcome == CB_AGG_ABORTED) {
        e->fn.aborted++;
    } else {
        e->fn.calls++;
        cb_hist_add(e->hist, dur_ns);
        if (outcome == CB_AGG_ERROR) {
            e->fn.errors++;
            err_count(&e->fn, err_code, 1);
        }
    }
    return after_add(a, ts_ns, late);
}

int
cb_agg_inflight(struct cb_agg *a, uint32_t key, uint64_t ts_ns, uint64_t n)
{
    int late, err;
    struct cb_agg_entry *e =
        entry_for(a, key, CB_AGG_FUNCTION, ts_ns, &late, &err);
    if (!e)
        return err;
    filed(a, e, late);
    struct cb_agg_fn *f = &e->fn;
    f->inflight_n++;
    if (n > f->inflight_max)
        f->inflight_max = n;
    if (ts_ns >= f->inflight_ts) {
        f->inflight_ts = ts_ns;
        f->inflight_last = n;
    }
    return after_add(a, ts_ns, late);
}

static int64_t
sat_add(int64_t x, int64_t y)
{
    int64_t r;
    if (__builtin_add_overflow(x, y, &r))
        return y > 0 ? INT64_MAX : INT64_MIN;
    return r;
}

int
cb_agg_count(struct cb_agg *a, uint32_t key, uint64_t ts_ns, int64_t delta)
{
    int late, err;
    struct cb_agg_entry *e =
        entry_for(a, key, CB_AGG_COUNTER, ts_ns, &late, &err);
    if (!e)
        return err;
    filed(a, e, late);
    e->counter.sum = sat_add(e->counter.sum, delta);
    e->counter.n++;
    return after_add(a, ts_ns, late);
}

int
cb_agg_gauge(struct cb_agg *a, uint32_t key, uint64_t ts_ns, double v)
{
    int late, err;
    struct cb_agg_entry *e =
        entry_for(a, key, CB_AGG_GAUGE, ts_ns, &late, &err);
    if (!e)
        return err;
    filed(a, e, late);
    struct cb_agg_gauge *g = &e->gauge;
    if (!isfinite(v)) {
        e->rejected++;
        return after_add(a, ts_ns, late);
    }
    g->n++;
    g->sum += v;
    if (v < g->min)
        g->min = v;
    if (v > g->max)
        g->max = v;
    if (ts_ns >= g->last_ts) {
        g->last_ts = ts_ns;
        g->last = v;
    }
    return after_add(a, ts_ns, late);
}

int
cb_agg_observe(struct cb_agg *a, uint32_t key, uint64_t ts_ns, double v)
{
    int late, err;
    struct cb_agg_entry *e =
        entry_for(a, key, CB_AGG_OBSERVE, ts_ns, &late, &err);
    if (!e)
        return err;
    filed(a, e, late);
    double scaled = v * CB_AGG_OBSERVE_SCALE;
    if (!(scaled >= 0.0) || isinf(scaled)) {
        e->rejected++;
    } else if (scaled >= 18446744073709551615.0) {
        cb_hist_add(e->hist, UINT64_MAX); /* counted as overflow */
    } else {
        cb_hist_add(e->hist, (uint64_t)(scaled + 0.5));
    }
    return after_add(a, ts_ns, late);
}

/* ---- merging ------------------------------------------------------------ */

static void
fn_merge(struct cb_agg_fn *d, const struct cb_agg_fn *s)
{
    d->calls += s->calls;
    d->errors += s->errors;
    d->aborted += s->aborted;
    if (s->inflight_n) {
        if (s->inflight_max > d->inflight_max)
            d->inflight_max = s->inflight_max;
        if (d->inflight_n == 0 || s->inflight_ts >= d->inflight_ts) {
            d->inflight_ts = s->inflight_ts;
            d->inflight_last = s->inflight_last;
        }
        d->inflight_n += s->inflight_n;
    }
    for (uint32_t i = 0; i < s->nerrs; i++)
        err_count(d, s->errs[i].code, s->errs[i].n);
    d->errs_other += s->errs_other;
}

static void
gauge_merge(struct cb_agg_gauge *d, const struct cb_agg_gauge *s)
{
    if (s->n == 0)
        return;
    if (d->n == 0 || s->last_ts >= d->last_ts) {
        d->last_ts = s->last_ts;
        d->last = s->last;
    }
    if (s->min < d->min)
        d->min = s->min;
    if (s->max > d->max)
        d->max = s->max;
    d->sum += s->sum;
    d->n += s->n;
}

int
cb_agg_entry_merge(struct cb_agg_entry *dst, const struct cb_agg_entry *src)
{
    if (dst->kind != src->kind)
        return -EINVAL;
    int big = src->kind == CB_AGG_FUNCTION || src->kind == CB_AGG_OBSERVE;
    if (big && (!dst->hist || !src->hist))
        return -EINVAL;
    dst->records += src->records;
    dst->late += src->late;
    dst->rejected += src->rejected;
    fn_merge(&dst->fn, &src->fn);
    dst->counter.sum = sat_add(dst->counter.sum, src->counter.sum);
    dst->counter.n += src->counter.n;
    gauge_merge(&dst->gauge, &src->gauge);
    if (big)
        cb_hist_merge(dst->hist, src->hist);
    return 0;
}

int
cb_agg_merge_window(struct cb_agg *dst, const struct cb_agg_window *w)
{
    if (w->len_ns == 0 || dst->len % w->len_ns != 0 ||
        w->start_ns % dst->len + w->len_ns > dst->len)
        return -EINVAL;
    uint64_t ts = w->start_ns + (w->len_ns - 1);
    int any_late = 0;
    for (size_t i = 0; i < w->n; i++) {
        const struct cb_agg_entry *src = w->entries[i];
        uint32_t id;
        int late, err = cb_agg_key(dst, src->kind, src->name, src->labels, &id);
        if (err)
            return err;
        struct cb_agg_entry *e = entry_for(dst, id, src->kind, ts, &late, &err);
        if (!e)
            return err;
        /* The merge adds src's records and late counts; filed late here,
         * all of src's records are late. */
        cb_agg_entry_merge(e, src);
        dst->records += src->records;
        if (late) {
            e->late += src->records - src->late;
            dst->nlate += src->records;
        }
        any_late |= late;
        if (late && dst->late.n > dst->late_max)
            winset_deliver(dst, &dst->late, 1);
    }
    after_add(dst, ts, 0);
    return any_late;
}

/* ---- life cycle and small readers --------------------------------------- */

int
cb_agg_create(const struct cb_agg_opts *opts, struct cb_agg **out)
{
    struct cb_agg_opts o = {0};
    if (opts)
        o = *opts;
    *out = NULL;
    struct cb_agg *a = calloc(1, sizeof(*a));
    if (!a)
        return -ENOMEM;
    a->len = o.window_ns ? o.window_ns : CB_AGG_WINDOW_DEFAULT_NS;
    a->grace = o.grace_ns ? o.grace_ns : 2 * a->len;
    a->late_max = o.late_max ? o.late_max : 32;
    a->on_close = o.on_close;
    a->arg = o.arg;
    if (table_grow(a)) {
        free(a);
        return -ENOMEM;
    }
    *out = a;
    return 0;
}

static void
win_free(struct win *w)
{
    for (size_t i = 0; i < w->pub.n; i++) {
        free(w->list[i]->hist);
        free(w->list[i]);
    }
    free(w->by_key);
    free(w->list);
    free(w);
}

static void
slots_free(struct slot *s)
{
    while (s) {
        struct slot *next = s->next;
        free(s->e.hist);
        free(s);
        s = next;
    }
}

void
cb_agg_destroy(struct cb_agg *a)
{
    if (!a)
        return;
    struct winset *sets[2] = {&a->open, &a->late};
    for (int s = 0; s < 2; s++) {
        for (uint32_t i = 0; i < sets[s]->n; i++)
            win_free(sets[s]->w[i]);
        free(sets[s]->w);
    }
    while (a->free_wins) {
        struct win *next = a->free_wins->next;
        win_free(a->free_wins);
        a->free_wins = next;
    }
    slots_free(a->free_small);
    slots_free(a->free_big);
    for (uint32_t i = 0; i < a->nkeys; i++)
        free((char *)a->keys[i].name);
    free(a->keys);
    free(a->table);
    free(a);
}

void
cb_agg_stats(const struct cb_agg *a, struct cb_agg_stats *out)
{
    memset(out, 0, sizeof(*out));
    out->records = a->records;
    out->late = a->nlate;
    out->dropped = a->dropped;
    out->windows_closed = a->closed;
    out->late_windows = a->late_closed;
    out->watermark_ns = a->watermark;
    out->newest_ns = a->newest;
    out->keys = a->nkeys;
    out->open_windows = a->open.n;
    out->pending_late = a->late.n;
}

const char *
cb_agg_kind_name(int kind)
{
    switch (kind) {
    case CB_AGG_FUNCTION:
        return "function";
    case CB_AGG_COUNTER:
        return "counter";
    case CB_AGG_GAUGE:
        return "gauge";
    case CB_AGG_OBSERVE:
        return "observe";
    default:
        return "?";
    }
}

double
cb_agg_counter_rate(const struct cb_agg_counter *c, uint64_t len_ns)
{
    if (len_ns == 0)
        return 0.0;
    return (double)c->sum / ((double)len_ns / 1e9);
}
