/*
 * consumers/rrd/sink.c -- the clipbus-rrd sink: records in, RRD updates
 * out.
 *
 * FLOW. Every record is filed in a cb_agg (agg.h) by its own time: calls
 * per function, counters, gauges and observed values per name and label
 * set. The aggregator's window is the RRD step, so a closed window
 * [start, start + step) becomes exactly one update of its file at time
 * start + step (an RRD primary data point is stamped with its END). The
 * updates of each file are queued and applied in batches (one librrd or
 * rrdcached call per file per second, or per PENDING_MAX updates).
 *
 * TIME. Windows close when the newest record time passes their end by
 * GRACE_STEPS steps (so records up to a minute out of order still land in
 * their window), and, when no record has arrived for IDLE_MS, the
 * watermark is moved to wall-clock time minus the same grace: the last
 * windows of a producer that went quiet still get written. A consumer
 * that catches up on old records therefore files them where they belong.
 *
 * GAPS. RRD turns an interval longer than the heartbeat into "unknown",
 * INCLUDING the step the late update closes. So before an update that
 * follows a gap, the sink writes the gap itself: zeros (calls, errors,
 * counts and rates) when this run was watching and simply saw nothing --
 * every window up to the aggregator's watermark is closed, so a key
 * without an entry had no records there -- or an explicit unknown when
 * the gap predates this run (the consumer was not running: we do not
 * know). Gauges are never zero-filled: a level without a sample is
 * unknown. While no producer is attached, zeros stop at the newest
 * record's window: the bus says nothing about the time after it.
 *
 * WHAT CANNOT BE ARCHIVED is counted, shown in the sink state and logged
 * (the first time per file, then a summary at most every minute):
 *   late     records whose window was already written (cb_agg's late
 *            deltas): RRD cannot change the past;
 *   past     windows at or before the file's last update (a restart
 *            re-reading records it had archived, or out-of-order data);
 *   future   records stamped more than --future ahead of the clock (they
 *            would block every later update);
 *   errors   failed creates and updates (disk full, refused file).
 * A file that is not ours (corrupt, truncated, another schema) is refused
 * once and left untouched; the other files go on.
 *
 * Worker thread only: all callbacks below run there (runtime.h).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fnmatch.h>
#include <stdarg.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <rrd.h>

#include "agg.h"
#include "rrd_int.h"
#include "runtime.h"

#define NS            1000000000ull
#define GRACE_STEPS   6
#define IDLE_MS       2000
#define FLUSH_MS      1000
#define PENDING_MAX   512
#define RETRY_S       30
#define FILL_MAX      8640 /* zero-fill at most a day of steps at once */
#define SUMMARY_S     60

enum fstate { FS_NEW, FS_OK, FS_RETRY, FS_BROKEN };

/* One archive file during this run. */
struct afile {
    size_t map_idx;       /* its entry in s->map */
    uint32_t key;         /* its cb_agg key id */
    int kind;
    enum fstate state;
    int active;           /* updated in this run: gaps are zeros */
    uint64_t last_s;      /* last update, in the file or queued */
    uint64_t retry_s;     /* FS_RETRY: next attempt (wall seconds) */
    char *buf;            /* queued update strings, NUL-separated */
    size_t blen, bcap;
    int nq;
    uint64_t updates, late, past, errors, dropped;
};

/* (kind, name handle, labels handle) -> file index, open addressing. */
struct slot {
    uint32_t kind, name, labels;
    int32_t idx; /* >= 0 file; -1 not archived (filter); -2 refused */
    uint32_t key; /* idx >= 0: the cb_agg key id */
    int used;
};

struct cbr_sink {
    struct cbr_opts o;
    uint64_t step_ns, step_s;
    struct cbc_rt *rt;
    struct cbr_store *store;
    struct cbr_map map;
    struct cb_agg *agg;
    int status;

    struct afile *files;
    size_t nfiles, files_cap;
    int32_t *by_key;      /* cb_agg key id -> file index */
    size_t by_key_cap;
    struct slot *tab;
    size_t tab_cap, tab_used;

    uint64_t last_event_mono_ns, last_flush_mono_ns, last_summary_s;
    uint64_t updates, late, past, future, errors, refused, lost, entries;
    int64_t producers;    /* attached: NEW minus EXIT and DIED events */
    uint64_t late_logged, past_logged, future_logged;
    int index_warned, refused_warned;
};

static uint64_t
mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * NS + (uint64_t)ts.tv_nsec;
}

static uint64_t
real_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * NS + (uint64_t)ts.tv_nsec;
}

static const char *
file_of(const struct cbr_sink *s, const struct afile *f)
{
    return s->map.v[f->map_idx].file;
}

static void
logf_(const struct cbr_sink *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void
logf_(const struct cbr_sink *s, const char *fmt, ...)
{
    va_list ap;

    if (s->o.quiet)
        return;
    va_start(ap, fmt);
    fputs("clipbus-rrd: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

/* ---- queueing updates ----------------------------------------------------- */

static int
push_str(struct afile *f, const char *str)
{
    size_t n = strlen(str) + 1;

    if (f->blen + n > f->bcap) {
        size_t cap = f->bcap ? 2 * f->bcap : 4096;
        while (cap < f->blen + n)
            cap *= 2;
        char *b = realloc(f->buf, cap);
        if (b == NULL)
            return -ENOMEM;
        f->buf = b;
        f->bcap = cap;
    }
    memcpy(f->buf + f->blen, str, n);
    f->blen += n;
    f->nq++;
    return 0;
}

/* Applies the queued updates of f in one call. */
static void
flush_file(struct cbr_sink *s, struct afile *f)
{
    const char **argv;
    char why[600];
    const char *p = f->buf;

    if (f->nq == 0)
        return;
    argv = malloc((size_t)f->nq * sizeof *argv);
    if (argv == NULL) {
        f->errors++, s->errors++;
        goto done;
    }
    for (int i = 0; i < f->nq; i++, p += strlen(p) + 1)
        argv[i] = p;
    if (cbr_store_update(s->store, file_of(s, f), f->nq, argv, why,
                         sizeof why) == 0) {
        f->updates += (uint64_t)f->nq;
        s->updates += (uint64_t)f->nq;
    } else {
        if (f->errors == 0)
            logf_(s, "%s", why);
        f->errors++, s->errors++;
    }
    free(argv);
done:
    f->nq = 0;
    f->blen = 0;
}

/* First use of a file in this run: create it or check it is ours. */
static void
prepare(struct cbr_sink *s, struct afile *f, uint64_t t_s)
{
    char why[700];
    uint64_t now_s = real_ns() / NS;
    int err;

    if (f->state == FS_RETRY && now_s < f->retry_s)
        return;
    err = cbr_store_prepare(s->store, f->kind, file_of(s, f), t_s,
                            &f->last_s, why, sizeof why);
    if (err == 0) {
        if (f->state == FS_RETRY)
            logf_(s, "%s: archiving again", file_of(s, f));
        f->state = FS_OK;
        return;
    }
    f->errors++, s->errors++;
    if (err == -EBADF) {
        f->state = FS_BROKEN;
        logf_(s, "%s", why);
    } else {
        if (f->state != FS_RETRY)
            logf_(s, "%s (retrying every %d s)", why, RETRY_S);
        f->state = FS_RETRY;
        f->retry_s = now_s + RETRY_S;
    }
}

static int
fmt_blank(const struct afile *f, uint64_t t_s, int zero, char *buf,
          size_t len)
{
    switch (f->kind) {
    case CB_AGG_FUNCTION:
        return snprintf(buf, len, "%" PRIu64 "%s", t_s,
                        zero ? ":0:0:U:U:U" : ":U:U:U:U:U");
    case CB_AGG_OBSERVE:
        return snprintf(buf, len, "%" PRIu64 "%s", t_s,
                        zero ? ":0:U:U" : ":U:U:U");
    default:
        return snprintf(buf, len, "%" PRIu64 "%s", t_s, zero ? ":0" : ":U");
    }
}

/* Fills the steps after f->last_s up to and including `to_s`: zeros when
 * this run saw the interval, else one explicit unknown at `to_s`. */
static void
fill_gap(struct cbr_sink *s, struct afile *f, uint64_t to_s)
{
    char buf[64];
    uint64_t n = (to_s - f->last_s) / s->step_s;

    if (f->active && f->kind != CB_AGG_GAUGE && n <= FILL_MAX) {
        for (uint64_t t = f->last_s + s->step_s; t <= to_s; t += s->step_s) {
            fmt_blank(f, t, 1, buf, sizeof buf);
            if (push_str(f, buf) != 0)
                return;
            if (f->nq >= PENDING_MAX)
                flush_file(s, f);
        }
    } else {
        fmt_blank(f, to_s, 0, buf, sizeof buf);
        push_str(f, buf);
    }
    f->last_s = to_s;
}

/* Queues the update "t_s:vals" for f. */
static void
queue(struct cbr_sink *s, struct afile *f, uint64_t t_s, const char *vals)
{
    char buf[300];

    if (f->state == FS_NEW || f->state == FS_RETRY)
        prepare(s, f, t_s);
    if (f->state != FS_OK) {
        f->dropped++;
        return;
    }
    if (t_s <= f->last_s) {
        f->past++, s->past++;
        return;
    }
    if (t_s > f->last_s + s->step_s)
        fill_gap(s, f, t_s - s->step_s);
    snprintf(buf, sizeof buf, "%" PRIu64 ":%s", t_s, vals);
    if (push_str(f, buf) != 0) {
        f->errors++, s->errors++;
        return;
    }
    f->last_s = t_s;
    f->active = 1;
    if (f->nq >= PENDING_MAX)
        flush_file(s, f);
}

/* ---- windows -> values --------------------------------------------------- */

static void
fmt_num(char *buf, size_t len, double v)
{
    snprintf(buf, len, "%.10g", v);
}

/* The values (without the time) of entry e over a window of len_ns. */
static void
entry_values(const struct cb_agg_entry *e, uint64_t len_ns, char *out,
             size_t len)
{
    double secs = (double)len_ns / 1e9;
    char a[32], b[32], c[32], d[32], x[32];

    switch (e->kind) {
    case CB_AGG_FUNCTION: {
        /* Aborted calls (their producer died inside them) count as calls
         * and as errors: they did not succeed. */
        uint64_t calls = e->fn.calls + e->fn.aborted;
        uint64_t errs = e->fn.errors + e->fn.aborted;
        fmt_num(a, sizeof a, (double)calls / secs);
        fmt_num(b, sizeof b, (double)errs / secs);
        if (e->hist != NULL && e->hist->count > 0) {
            fmt_num(c, sizeof c, cb_hist_mean(e->hist) / 1e9);
            fmt_num(d, sizeof d,
                    (double)cb_hist_percentile(e->hist, 95.0) / 1e9);
            fmt_num(x, sizeof x, (double)e->hist->max / 1e9);
        } else {
            strcpy(c, "U"), strcpy(d, "U"), strcpy(x, "U");
        }
        snprintf(out, len, "%s:%s:%s:%s:%s", a, b, c, d, x);
        break;
    }
    case CB_AGG_COUNTER:
        fmt_num(out, len, cb_agg_counter_rate(&e->counter, len_ns));
        break;
    case CB_AGG_GAUGE:
        if (e->gauge.n > 0)
            fmt_num(out, len, e->gauge.sum / (double)e->gauge.n);
        else
            snprintf(out, len, "U");
        break;
    case CB_AGG_OBSERVE:
        if (e->hist != NULL && e->hist->count > 0) {
            fmt_num(a, sizeof a, (double)e->hist->count / secs);
            fmt_num(b, sizeof b,
                    cb_hist_mean(e->hist) / CB_AGG_OBSERVE_SCALE);
            fmt_num(c, sizeof c,
                    (double)cb_hist_percentile(e->hist, 95.0) /
                        CB_AGG_OBSERVE_SCALE);
            snprintf(out, len, "%s:%s:%s", a, b, c);
        } else {
            snprintf(out, len, "0:U:U");
        }
        break;
    default:
        snprintf(out, len, "U");
    }
}

static struct afile *
file_by_key(struct cbr_sink *s, uint32_t key)
{
    if (key >= s->by_key_cap || s->by_key[key] < 0)
        return NULL;
    return &s->files[s->by_key[key]];
}

static void
on_close(void *arg, const struct cb_agg_window *w)
{
    struct cbr_sink *s = arg;
    uint64_t t_s = (w->start_ns + w->len_ns) / NS;
    char vals[256];

    for (size_t i = 0; i < w->n; i++) {
        const struct cb_agg_entry *e = w->entries[i];
        struct afile *f = file_by_key(s, e->key);
        if (f == NULL)
            continue;
        if (w->late) {
            if (f->late == 0)
                logf_(s, "%s: %" PRIu64 " record(s) arrived after their "
                      "window (ending %" PRIu64 ") was archived; counted, "
                      "not archived",
                      file_of(s, f), e->records, t_s);
            f->late += e->records;
            s->late += e->records;
            continue;
        }
        entry_values(e, w->len_ns, vals, sizeof vals);
        queue(s, f, t_s, vals);
    }
}

/* ---- keys -> files ---------------------------------------------------- */

static uint64_t
slot_hash(uint32_t kind, uint32_t name, uint32_t labels)
{
    uint64_t h = ((uint64_t)name << 32 | labels) ^ ((uint64_t)kind << 61);
    h ^= h >> 33;
    h *= UINT64_C(0xff51afd7ed558ccd);
    h ^= h >> 33;
    return h;
}

static struct slot *
slot_find(struct cbr_sink *s, uint32_t kind, uint32_t name, uint32_t labels)
{
    size_t mask = s->tab_cap - 1;
    size_t i = (size_t)slot_hash(kind, name, labels) & mask;

    for (;; i = (i + 1) & mask) {
        struct slot *x = &s->tab[i];
        if (!x->used || (x->kind == kind && x->name == name &&
                         x->labels == labels))
            return x;
    }
}

static int
tab_grow(struct cbr_sink *s)
{
    struct slot *old = s->tab;
    size_t old_cap = s->tab_cap;

    s->tab_cap = old_cap ? 2 * old_cap : 256;
    s->tab = calloc(s->tab_cap, sizeof *s->tab);
    if (s->tab == NULL) {
        s->tab = old;
        s->tab_cap = old_cap;
        return -ENOMEM;
    }
    for (size_t i = 0; i < old_cap; i++)
        if (old[i].used)
            *slot_find(s, old[i].kind, old[i].name, old[i].labels) = old[i];
    free(old);
    return 0;
}

static int
function_wanted(const struct cbr_sink *s, const char *name)
{
    const struct cbc_rrd_config *rc = s->o.rc;

    for (size_t i = 0; i < rc->n_functions; i++)
        if (fnmatch(rc->functions[i], name, 0) == 0)
            return 1;
    return 0;
}

/* Makes the file of a new key. Returns its index or -2 (refused). */
static int32_t
new_file(struct cbr_sink *s, int kind, const char *name, const char *labels)
{
    struct cbr_entry *e;
    struct afile *f;
    uint32_t key;

    if ((int64_t)s->nfiles >= s->o.rc->max_files) {
        if (!s->refused_warned++)
            logf_(s, "rrd.max_files (%" PRId64 ") reached: %s \"%s\" and "
                  "later keys are not archived",
                  s->o.rc->max_files, cb_agg_kind_name(kind), name);
        s->refused++;
        return -2;
    }
    if (s->nfiles == s->files_cap) {
        size_t cap = s->files_cap ? 2 * s->files_cap : 64;
        struct afile *v = realloc(s->files, cap * sizeof *v);
        if (v == NULL)
            return -2;
        s->files = v;
        s->files_cap = cap;
    }
    e = cbr_map_add(&s->map, kind, name, labels);
    if (e == NULL || cb_agg_key(s->agg, kind, name, labels, &key) != 0)
        return -2;
    if (key >= s->by_key_cap) {
        size_t cap = s->by_key_cap ? 2 * s->by_key_cap : 64;
        while (cap <= key)
            cap *= 2;
        int32_t *v = realloc(s->by_key, cap * sizeof *v);
        if (v == NULL)
            return -2;
        for (size_t i = s->by_key_cap; i < cap; i++)
            v[i] = -1;
        s->by_key = v;
        s->by_key_cap = cap;
    }
    f = &s->files[s->nfiles];
    memset(f, 0, sizeof *f);
    f->map_idx = (size_t)(e - s->map.v);
    f->kind = kind;
    f->key = key;
    f->state = FS_NEW;
    s->by_key[key] = (int32_t)s->nfiles;
    return (int32_t)s->nfiles++;
}

/* The cb_agg key id for (kind, name, labels handles), or -1 when the key
 * is not archived. */
static int64_t
key_of(struct cbr_sink *s, int kind, uint32_t name, uint32_t labels)
{
    struct slot *x;

    if (s->tab_used * 2 >= s->tab_cap && tab_grow(s) != 0)
        return -1;
    x = slot_find(s, (uint32_t)kind, name, labels);
    if (!x->used) {
        const char *n = cbc_name(s->rt, name);
        const char *l = labels ? cbc_name(s->rt, labels) : "";
        x->used = 1;
        x->kind = (uint32_t)kind;
        x->name = name;
        x->labels = labels;
        s->tab_used++;
        if (kind == CB_AGG_FUNCTION && !function_wanted(s, n))
            x->idx = -1;
        else
            x->idx = new_file(s, kind, n, l);
        if (x->idx >= 0)
            x->key = s->files[x->idx].key;
    }
    return x->idx < 0 ? -1 : (int64_t)x->key;
}

/* ---- events ------------------------------------------------------------ */

static void
call_fields(const struct cbc_event *ev, int32_t *code)
{
    struct cb_field f;
    size_t off = 0;

    *code = 0;
    while (cb_field_next(ev->data, ev->data_len, &off, &f) == 1)
        if (f.type == CB_FIELD_ERR)
            *code = (int32_t)f.i;
}

static uint32_t
labels_of(const struct cbc_event *ev)
{
    struct cb_field f;
    size_t off = 0;

    while (cb_field_next(ev->data, ev->data_len, &off, &f) == 1)
        if (f.type == CB_FIELD_LABELS)
            return f.name_id;
    return 0;
}

static int
agg_kind(uint16_t kind)
{
    switch (kind) {
    case CB_KIND_CALL:
        return CB_AGG_FUNCTION;
    case CB_KIND_COUNT:
        return CB_AGG_COUNTER;
    case CB_KIND_GAUGE:
        return CB_AGG_GAUGE;
    case CB_KIND_OBSERVE:
        return CB_AGG_OBSERVE;
    default:
        return 0;
    }
}

static void
on_record(struct cbr_sink *s, const struct cbc_event *ev, int aborted)
{
    int kind = agg_kind(ev->kind);
    uint32_t labels = 0;
    int64_t key;
    int32_t code;
    double d;

    if (kind == 0)
        return;
    if (ev->wall_ns > real_ns() + s->o.future_ns) {
        s->future++;
        return;
    }
    if (kind != CB_AGG_FUNCTION)
        labels = labels_of(ev);
    key = key_of(s, kind, ev->name, labels);
    if (key < 0)
        return;
    memcpy(&d, &ev->value, sizeof d);
    switch (kind) {
    case CB_AGG_FUNCTION:
        call_fields(ev, &code);
        cb_agg_call(s->agg, (uint32_t)key, ev->wall_ns, ev->dur_ns,
                    aborted ? CB_AGG_ABORTED
                            : (ev->status == CB_STATUS_ERROR ? CB_AGG_ERROR
                                                             : CB_AGG_OK),
                    code);
        break;
    case CB_AGG_COUNTER:
        cb_agg_count(s->agg, (uint32_t)key, ev->wall_ns, (int64_t)ev->value);
        break;
    case CB_AGG_GAUGE:
        cb_agg_gauge(s->agg, (uint32_t)key, ev->wall_ns, d);
        break;
    default:
        cb_agg_observe(s->agg, (uint32_t)key, ev->wall_ns, d);
    }
}

static void
sink_event(void *arg, const struct cbc_event *ev)
{
    struct cbr_sink *s = arg;

    switch (ev->type) {
    case CBC_EV_RECORD:
        s->entries++;
        s->last_event_mono_ns = mono_ns();
        on_record(s, ev, 0);
        break;
    case CBC_EV_CALL_ABORTED:
        on_record(s, ev, 1);
        break;
    case CBC_EV_LOSS:
        s->lost += ev->count;
        break;
    case CBC_EV_PRODUCER_NEW:
        s->producers++;
        break;
    case CBC_EV_PRODUCER_EXIT:
    case CBC_EV_PRODUCER_DIED:
        s->producers--;
        break;
    default:
        break;
    }
}

/* ---- periodic work ------------------------------------------------------ */

static void
flush_all(struct cbr_sink *s)
{
    for (size_t i = 0; i < s->nfiles; i++)
        flush_file(s, &s->files[i]);
    if (s->map.dirty) {
        int err = cbr_map_save(&s->map, s->o.dir, s->step_ns);
        if (err != 0 && !s->index_warned++)
            logf_(s, "%s/index.json: cannot write: %s (will retry)",
                  s->o.dir, strerror(-err));
        else if (err == 0)
            s->index_warned = 0;
    }
}

/* Zeros for the steps every watched file had no record in, up to the
 * aggregator's watermark (all windows ending there are closed). */
static void
fill_to_watermark(struct cbr_sink *s)
{
    struct cb_agg_stats st;
    uint64_t w_s;

    cb_agg_stats(s->agg, &st);
    w_s = st.watermark_ns / NS / s->step_s * s->step_s;
    /* With no producer attached, the bus says nothing about the time
     * after its newest record (a finished run archived later): stop the
     * zeros at the window of that record; later steps stay unknown.
     * (Counted from the producer events: cbc_rt_stats().producers is
     * not maintained by the runtime.) */
    if (s->producers == 0) {
        uint64_t newest_s = (st.newest_ns / NS / s->step_s + 1) * s->step_s;
        if (newest_s < w_s)
            w_s = newest_s;
    }
    for (size_t i = 0; i < s->nfiles; i++) {
        struct afile *f = &s->files[i];
        if (f->state == FS_OK && f->active && f->kind != CB_AGG_GAUGE &&
            f->last_s < w_s)
            fill_gap(s, f, w_s);
    }
}

static void
publish_state(struct cbr_sink *s)
{
    char text[128];

    snprintf(text, sizeof text,
             "files %zu upd %" PRIu64 " late %" PRIu64 " past %" PRIu64
             " err %" PRIu64,
             s->nfiles, s->updates, s->late, s->past, s->errors);
    cbc_rt_set_sink_state(s->rt, text);
}

static void
maybe_summary(struct cbr_sink *s, uint64_t now_s)
{
    if (now_s < s->last_summary_s + SUMMARY_S)
        return;
    s->last_summary_s = now_s;
    if (s->past > s->past_logged)
        logf_(s, "%" PRIu64 " window(s) at or before their file's last "
              "update were skipped (already archived, or out of order)",
              s->past - s->past_logged);
    if (s->future > s->future_logged)
        logf_(s, "%" PRIu64 " record(s) stamped in the future were refused",
              s->future - s->future_logged);
    s->past_logged = s->past;
    s->future_logged = s->future;
}

static void
sink_tick(void *arg, uint64_t now_ns)
{
    struct cbr_sink *s = arg;
    uint64_t m = mono_ns(), grace = GRACE_STEPS * s->step_ns;

    if (s->agg == NULL)
        return;
    if (m - s->last_event_mono_ns >= (uint64_t)IDLE_MS * 1000000u &&
        now_ns > grace)
        cb_agg_advance(s->agg, now_ns - grace);
    if (m - s->last_flush_mono_ns < (uint64_t)FLUSH_MS * 1000000u)
        return;
    s->last_flush_mono_ns = m;
    fill_to_watermark(s);
    flush_all(s);
    publish_state(s);
    maybe_summary(s, now_ns / NS);
}

static int
sink_start(void *arg, struct cbc_rt *rt)
{
    struct cbr_sink *s = arg;
    struct cb_agg_opts ao = {0};
    char why[600];
    int err;

    s->rt = rt;
    rrd_get_context();
    err = cbr_store_open(s->o.rc, s->o.dir, s->o.daemon, &s->store, why,
                         sizeof why);
    if (err != 0) {
        fprintf(stderr, "clipbus-rrd: %s\n", why);
        s->status = 1;
        return 1;
    }
    err = cbr_map_load(&s->map, s->o.dir, why, sizeof why);
    if (err != 0) {
        /* The index is only a map for people: start a fresh one, and keep
         * the damaged file for inspection. */
        fprintf(stderr, "clipbus-rrd: %s; starting a new index (the old "
                "file is kept as index.json.bad)\n", why);
        char a[4200], b[4300];
        snprintf(a, sizeof a, "%s/index.json", s->o.dir);
        snprintf(b, sizeof b, "%s/index.json.bad", s->o.dir);
        if (rename(a, b) != 0)
            fprintf(stderr, "clipbus-rrd: %s: %s\n", a, strerror(errno));
    }
    ao.window_ns = s->step_ns;
    ao.grace_ns = GRACE_STEPS * s->step_ns;
    ao.on_close = on_close;
    ao.arg = s;
    if (cb_agg_create(&ao, &s->agg) != 0) {
        fprintf(stderr, "clipbus-rrd: out of memory\n");
        s->status = 1;
        return 1;
    }
    s->last_event_mono_ns = mono_ns();
    s->last_summary_s = real_ns() / NS;
    publish_state(s);
    return 0;
}

static void
sink_stop(void *arg)
{
    struct cbr_sink *s = arg;
    struct cbc_rt_stats rs;
    size_t broken = 0;

    if (s->agg == NULL)
        return;
    cb_agg_flush(s->agg);
    flush_all(s);
    publish_state(s);
    maybe_summary(s, UINT64_MAX / 2);
    for (size_t i = 0; i < s->nfiles; i++)
        broken += s->files[i].state == FS_BROKEN;
    cbc_rt_stats(s->rt, &rs);
    logf_(s, "%" PRIu64 " update(s) to %zu file(s); late %" PRIu64
          " record(s), past %" PRIu64 ", future %" PRIu64 ", errors %" PRIu64
          ", refused files %zu, records lost on the bus %" PRIu64
          " (read %" PRIu64 " entries, lost %" PRIu64 " + %" PRIu64
          " in hand-off)",
          s->updates, s->nfiles, s->late, s->past, s->future, s->errors,
          broken, s->lost, s->entries, rs.lost, rs.handoff_lost);
}

int
cbr_sink_create(const struct cbr_opts *o, struct cbr_sink **out)
{
    struct cbr_sink *s = calloc(1, sizeof *s);

    *out = NULL;
    if (s == NULL)
        return -ENOMEM;
    s->o = *o;
    s->step_ns = o->rc->step_ns;
    s->step_s = s->step_ns / NS;
    *out = s;
    return 0;
}

void
cbr_sink_destroy(struct cbr_sink *s)
{
    if (s == NULL)
        return;
    for (size_t i = 0; i < s->nfiles; i++)
        free(s->files[i].buf);
    free(s->files);
    free(s->by_key);
    free(s->tab);
    cb_agg_destroy(s->agg);
    cbr_store_close(s->store);
    cbr_map_free(&s->map);
    free(s);
}

void
cbr_sink_bind(struct cbr_sink *s, struct cbc_sink *sink)
{
    memset(sink, 0, sizeof *sink);
    sink->arg = s;
    sink->start = sink_start;
    sink->event = sink_event;
    sink->tick = sink_tick;
    sink->stop = sink_stop;
}

int
cbr_sink_status(const struct cbr_sink *s)
{
    return s->status;
}
