/*
 * tests/bus/workload.c -- the deterministic record stream (workload.h).
 */
#include "workload.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <clipbus/clipbus.h>

#include "cbt.h"

#define KEY(t, seq) (((uint64_t)(t) << 40) | (seq))

static const char *const k_labels[4] = {"shard=0", "shard=1",
                                        "shard=2,reason=http_429", "shard=3"};
static const int k_levels[4] = {CB_LOG_DEBUG, CB_LOG_INFO, CB_LOG_WARN,
                                CB_LOG_ERROR};

/* What wl_emit() does for one (t, seq): derived, never stored. */
struct plan {
    uint32_t kind;  /* one WL_* bit */
    uint64_t key;
    int level;
    const char *labels;
    int fail;       /* 0, or the positive error number of cb_fail() */
    size_t text_len;
    char text[WL_LOG_MAX + 1];
};

static void
fill_text(struct cbt_rng *r, char *buf, size_t len)
{
    static const char alphabet[] = "abcdefghijklmnopqrstuvwxyz"
                                   "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 _-";
    for (size_t i = 0; i < len; i++)
        buf[i] = alphabet[cbt_below(r, sizeof alphabet - 1)];
    buf[len] = '\0';
}

static void
make_plan(const struct wl *w, uint32_t t, uint64_t seq, struct plan *p)
{
    uint32_t kinds = w->kinds ? w->kinds : WL_ALL;
    struct cbt_rng r = {cbt_mix(w->seed, KEY(t, seq))};
    uint32_t pick[5], n = 0;

    for (uint32_t b = 0; b < 5; b++)
        if (kinds & (1u << b))
            pick[n++] = 1u << b;
    p->kind = pick[cbt_below(&r, n)];
    p->key = KEY(t, seq);
    p->level = k_levels[cbt_below(&r, 4)];
    p->labels = k_labels[seq % 4];
    p->fail = cbt_below(&r, 8) == 0 ? (int)cbt_below(&r, 200) + 1 : 0;
    p->text_len = 0;
    if (p->kind == WL_LOG) {
        /* Half short (one record or two), half long (many). */
        uint32_t max = w->max_log ? w->max_log : WL_LOG_MAX;
        p->text_len = cbt_below(&r, 2) ? cbt_below(&r, 40)
                                       : cbt_below(&r, max + 1);
    } else if (p->kind == WL_CALL) {
        uint32_t max = w->max_str ? w->max_str : WL_STR_MAX;
        p->text_len = cbt_below(&r, max + 1);
    }
    fill_text(&r, p->text, p->text_len);
}

/* A monitored call: three parameters, optionally a failure. */
__attribute__((noinline)) static int
wl_call(int64_t key, const char *s, int fail)
{
    CB_MONITOR_EXECUTION(CB_INT("key", key), CB_STR("s", s),
                         CB_DBL("half", (double)key * 0.5));
    if (fail)
        return cb_fail(-fail, "wl fail %" PRId64 " code %d", key, fail);
    return 0;
}

void
wl_emit(const struct wl *w, uint32_t t, uint64_t seq)
{
    struct plan p;

    make_plan(w, t, seq, &p);
    switch (p.kind) {
    case WL_COUNT:
        cb_count("wl.count", (int64_t)p.key);
        break;
    case WL_GAUGE:
        cb_gauge("wl.gauge", (double)p.key);
        break;
    case WL_OBSERVE:
        cb_observe_l("wl.observe", (double)p.key, p.labels);
        break;
    case WL_LOG:
        cb_log(p.level, "wl %" PRIu32 " %" PRIu64 " %s", t, seq, p.text);
        break;
    default:
        (void)wl_call((int64_t)p.key, p.text, p.fail);
        break;
    }
}

void
wl_warm(const struct wl *w, uint32_t t, uint64_t base)
{
    (void)w;
    cb_count("wl.count", (int64_t)KEY(t, base));
    cb_gauge("wl.gauge", (double)KEY(t, base + 1));
    for (int i = 0; i < 4; i++)
        cb_observe_l("wl.observe", (double)KEY(t, base + 2), k_labels[i]);
    cb_log(CB_LOG_INFO, "wl %" PRIu32 " %" PRIu64 " %s", t, base + 3, "warm");
    (void)wl_call((int64_t)KEY(t, base + 4), "warm", 1);
}

/* ---- checking ----------------------------------------------------------- */

#define WHY(...) (snprintf(why, why_len, __VA_ARGS__), -1)

static int
name_is(const struct cb_entry *e, uint32_t id, const char *want)
{
    size_t len = 0;
    const char *s = cb_segment_name(e->seg, id, &len);
    return s != NULL && len == strlen(want) && memcmp(s, want, len) == 0;
}

static uint64_t
dbl_bits(double d)
{
    uint64_t u;
    memcpy(&u, &d, sizeof u);
    return u;
}

/* The fields of an entry, decoded; at most 8 are expected. */
struct fields {
    int n;
    struct cb_field f[8];
};

static int
decode(const struct cb_entry *e, struct fields *fs, char *why,
       size_t why_len)
{
    size_t off = 0;
    int rc;

    fs->n = 0;
    while ((rc = cb_field_next(e->data, e->data_len, &off,
                               &fs->f[fs->n < 7 ? fs->n : 7])) == 1) {
        if (++fs->n > 7)
            return WHY("more than 7 fields in %zu data bytes", e->data_len);
    }
    if (rc != 0)
        return WHY("malformed field data at byte %zu of %zu (rc %d)", off,
                   e->data_len, rc);
    return 0;
}

static const struct cb_field *
field_of(const struct fields *fs, int type)
{
    for (int i = 0; i < fs->n; i++)
        if (fs->f[i].type == type)
            return &fs->f[i];
    return NULL;
}

/* Counts fields other than CB_FIELD_TID, which the library may add. */
static int
nfields(const struct fields *fs)
{
    int n = 0;
    for (int i = 0; i < fs->n; i++)
        n += fs->f[i].type != CB_FIELD_TID;
    return n;
}

static int
check_metric(const struct cb_entry *e, const struct plan *p,
             const struct fields *fs, char *why, size_t why_len)
{
    const struct cb_record *h = &e->head;
    const char *name = p->kind == WL_COUNT   ? "wl.count"
                       : p->kind == WL_GAUGE ? "wl.gauge"
                                             : "wl.observe";
    uint16_t kind = p->kind == WL_COUNT   ? CB_KIND_COUNT
                    : p->kind == WL_GAUGE ? CB_KIND_GAUGE
                                          : CB_KIND_OBSERVE;
    uint64_t value = p->kind == WL_COUNT ? p->key : dbl_bits((double)p->key);

    if (h->kind != kind)
        return WHY("kind %u, want %u", h->kind, kind);
    if (!name_is(e, h->name_id, name))
        return WHY("name id %u does not resolve to %s", h->name_id, name);
    if (h->value != value)
        return WHY("value 0x%" PRIx64 ", want 0x%" PRIx64, h->value, value);
    if (p->kind == WL_OBSERVE) {
        const struct cb_field *l = field_of(fs, CB_FIELD_LABELS);
        if (l == NULL || nfields(fs) != 1)
            return WHY("observation without exactly one label field");
        if (!name_is(e, l->name_id, p->labels))
            return WHY("labels id %u is not \"%s\"", l->name_id, p->labels);
    } else if (nfields(fs) != 0) {
        return WHY("%d unexpected fields", nfields(fs));
    }
    return 0;
}

/* The text of a log entry: one STR field, or the raw data bytes. */
static void
log_text(const struct cb_entry *e, const struct fields *fs, int decoded,
         const char **s, size_t *len)
{
    const struct cb_field *f = decoded == 0 ? field_of(fs, CB_FIELD_STR)
                                            : NULL;
    if (f != NULL) {
        *s = f->s;
        *len = f->s_len;
    } else {
        *s = (const char *)e->data;
        *len = e->data_len;
    }
}

static int
check_log(const struct cb_entry *e, const struct plan *p, uint32_t t,
          uint64_t seq, const struct fields *fs, int decoded, char *why,
          size_t why_len)
{
    char want[WL_LOG_MAX + 64];
    const char *s;
    size_t len;
    int n = snprintf(want, sizeof want, "wl %" PRIu32 " %" PRIu64 " %s", t,
                     seq, p->text);

    if (e->head.status != p->level)
        return WHY("log level %u, want %d", e->head.status, p->level);
    log_text(e, fs, decoded, &s, &len);
    if (len != (size_t)n || memcmp(s, want, len) != 0)
        return WHY("log text of %zu bytes differs from the %d expected "
                   "(\"%.40s...\")", len, n, want);
    if (e->head.flags & CB_RF_TRUNCATED)
        return WHY("log flagged truncated");
    return 0;
}

static int
check_call(const struct cb_entry *e, const struct plan *p,
           const struct fields *fs, char *why, size_t why_len)
{
    const struct cb_field *fi = NULL, *fd = NULL, *fsf = NULL, *fe = NULL;
    char msg[96];
    int mlen;

    if (!name_is(e, e->head.name_id, "wl_call"))
        return WHY("call name id %u is not wl_call", e->head.name_id);
    for (int i = 0; i < fs->n; i++) {
        const struct cb_field *f = &fs->f[i];
        if (f->type == CB_FIELD_I64 && name_is(e, f->name_id, "key"))
            fi = f;
        else if (f->type == CB_FIELD_F64 && name_is(e, f->name_id, "half"))
            fd = f;
        else if (f->type == CB_FIELD_STR && name_is(e, f->name_id, "s"))
            fsf = f;
        else if (f->type == CB_FIELD_ERR)
            fe = f;
        else if (f->type != CB_FIELD_TID)
            return WHY("unexpected field type %d name %u", f->type,
                       f->name_id);
    }
    if (fi == NULL || fi->i != (int64_t)p->key)
        return WHY("int parameter key missing or wrong");
    if (fd == NULL || dbl_bits(fd->d) != dbl_bits((double)p->key * 0.5))
        return WHY("double parameter half missing or wrong");
    if (fsf == NULL || fsf->s_len != p->text_len ||
        memcmp(fsf->s, p->text, p->text_len) != 0)
        return WHY("string parameter s missing or differs (%zu bytes, "
                   "want %zu)", fsf ? fsf->s_len : 0, p->text_len);
    if (e->head.flags & CB_RF_TRUNCATED)
        return WHY("call flagged truncated");
    if (!p->fail) {
        if (e->head.status != CB_STATUS_OK || fe != NULL)
            return WHY("call status %u (err field %s), want OK",
                       e->head.status, fe ? "present" : "absent");
        return 0;
    }
    mlen = snprintf(msg, sizeof msg, "wl fail %" PRId64 " code %d",
                    (int64_t)p->key, p->fail);
    if (e->head.status != CB_STATUS_ERROR || fe == NULL)
        return WHY("failed call has status %u, err field %s",
                   e->head.status, fe ? "present" : "absent");
    if (fe->i != -p->fail || fe->s_len != (size_t)mlen ||
        memcmp(fe->s, msg, (size_t)mlen) != 0)
        return WHY("error field code %" PRId64 " \"%.*s\", want %d \"%s\"",
                   fe->i, (int)fe->s_len, fe->s ? fe->s : "", -p->fail,
                   msg);
    return 0;
}

/* The key an entry carries, found without trusting its kind's plan. */
static int
entry_key(const struct cb_entry *e, const struct fields *fs, int decoded,
          uint64_t *key)
{
    const struct cb_record *h = &e->head;
    double d;

    switch (h->kind) {
    case CB_KIND_COUNT:
        *key = h->value;
        return 0;
    case CB_KIND_GAUGE:
    case CB_KIND_OBSERVE:
        memcpy(&d, &h->value, sizeof d);
        if (!(d >= 0 && d < 9007199254740992.0))
            return -1;
        *key = (uint64_t)d;
        return 0;
    case CB_KIND_CALL:
        for (int i = 0; decoded == 0 && i < fs->n; i++)
            if (fs->f[i].type == CB_FIELD_I64) {
                *key = (uint64_t)fs->f[i].i;
                return 0;
            }
        return -1;
    case CB_KIND_LOG: {
        const char *s;
        size_t len;
        char buf[48];
        unsigned t;
        unsigned long long seq;
        log_text(e, fs, decoded, &s, &len);
        if (len >= sizeof buf)
            len = sizeof buf - 1;
        memcpy(buf, s, len);
        buf[len] = '\0';
        if (sscanf(buf, "wl %u %llu", &t, &seq) != 2)
            return -1;
        *key = KEY(t, (uint64_t)seq);
        return 0;
    }
    default:
        return -1;
    }
}

int
wl_check(const struct wl *w, const struct cb_entry *e, struct wl_id *id,
         char *why, size_t why_len)
{
    static const uint16_t kind_of[] = {0, CB_KIND_COUNT, CB_KIND_GAUGE, 0,
                                       CB_KIND_OBSERVE};
    struct fields fs;
    struct plan p;
    uint64_t key;
    int decoded;

    if (e->head.kind == CB_KIND_THREAD)
        return 1;
    decoded = decode(e, &fs, why, why_len);
    if (entry_key(e, &fs, decoded, &key) != 0)
        return WHY("kind %u entry carries no workload key (data_len %zu)",
                   e->head.kind, e->data_len);
    id->t = (uint32_t)(key >> 40);
    id->seq = key & ((UINT64_C(1) << 40) - 1);
    id->records = 1u + e->head.ext;
    if (e->data_len != e->head.data_len)
        return WHY("entry data_len %zu but head says %u", e->data_len,
                   e->head.data_len);
    make_plan(w, id->t, id->seq, &p);
    if (p.kind == WL_LOG) {
        if (e->head.kind != CB_KIND_LOG)
            return WHY("kind %u, want log", e->head.kind);
        return check_log(e, &p, id->t, id->seq, &fs, decoded, why, why_len);
    }
    if (decoded != 0)
        return -1; /* why was written by decode() */
    if (p.kind == WL_CALL) {
        if (e->head.kind != CB_KIND_CALL)
            return WHY("kind %u, want call", e->head.kind);
        return check_call(e, &p, &fs, why, why_len);
    }
    if (p.kind < sizeof kind_of / sizeof kind_of[0] &&
        kind_of[p.kind] != e->head.kind)
        return WHY("kind %u, want %u", e->head.kind, kind_of[p.kind]);
    return check_metric(e, &p, &fs, why, why_len);
}

int
wl_track_entry(struct wl_track *tr, const struct wl_id *id,
               const struct cb_entry *e, uint64_t cursor_lost, char *why,
               size_t why_len)
{
    if (tr->have) {
        if (id->t != tr->t)
            return WHY("entry of thread %u in the ring of thread %u", id->t,
                       tr->t);
        if (id->seq < tr->next_seq)
            return WHY("seq %" PRIu64 " after %" PRIu64 ": out of order or "
                       "repeated", id->seq, tr->next_seq - 1);
        if (id->seq != tr->next_seq && cursor_lost == tr->lost_seen)
            return WHY("seq %" PRIu64 " follows %" PRIu64 " but the cursor "
                       "counted no loss", id->seq, tr->next_seq - 1);
        /* Each skipped entry is at least one lost record. */
        if (cursor_lost - tr->lost_seen < id->seq - tr->next_seq)
            return WHY("%" PRIu64 " entries skipped but only %" PRIu64
                       " records counted lost", id->seq - tr->next_seq,
                       cursor_lost - tr->lost_seen);
        if (e->head.ts < tr->last_ts)
            return WHY("timestamp went back: %" PRIu64 " after %" PRIu64,
                       e->head.ts, tr->last_ts);
    }
    tr->have = 1;
    tr->t = id->t;
    tr->next_seq = id->seq + 1;
    tr->lost_seen = cursor_lost;
    tr->last_ts = e->head.ts;
    tr->entries++;
    tr->records += id->records;
    return 0;
}
