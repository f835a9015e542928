/*
 * tail_fmt.c -- rendering bus events for `clipbus tail`: a readable line,
 * or a JSON object whose fields are documented in docs/tail-jsonl.md
 * (that format is a test aid of other components: keep it stable; add
 * fields, never rename or retype one).
 *
 * Both are written straight into a line buffer, without building objects:
 * this is the per-record cost of the most common consumer.
 *
 * Entry data is decoded with cb_field_next(); every string in it (names,
 * parameters, messages) is producer-written bytes and goes through the
 * escaping helpers of out.c. Meanings the ABI header does not spell out
 * are taken from producer.c: the status of a CB_KIND_PROGRESS record is
 * 0 advance, 1 step begin, 2 step end.
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "tail.h"

static const char *const type_names[TT_COUNT_] = {
    [TT_THREAD] = "thread",
    [TT_CALL] = "call",
    [TT_SESSION_BEGIN] = "session_begin",
    [TT_SESSION_END] = "session_end",
    [TT_PROGRESS] = "progress",
    [TT_COUNT] = "count",
    [TT_GAUGE] = "gauge",
    [TT_OBSERVE] = "observe",
    [TT_LOG] = "log",
    [TT_LOSS] = "loss",
    [TT_PRODUCER_NEW] = "producer_new",
    [TT_PRODUCER_EXIT] = "producer_exit",
    [TT_PRODUCER_DIED] = "producer_died",
    [TT_BAD_SEGMENT] = "bad_segment",
    [TT_UNKNOWN] = "unknown",
};

enum tail_type
tail_type_of(const struct cb_event *ev)
{
    switch (ev->type) {
    case CB_EV_LOSS:
        return TT_LOSS;
    case CB_EV_PRODUCER_NEW:
        return TT_PRODUCER_NEW;
    case CB_EV_PRODUCER_EXIT:
        return TT_PRODUCER_EXIT;
    case CB_EV_PRODUCER_DIED:
        return TT_PRODUCER_DIED;
    case CB_EV_BAD_SEGMENT:
        return TT_BAD_SEGMENT;
    case CB_EV_ENTRY:
        break;
    default:
        return TT_UNKNOWN;
    }
    switch (ev->entry->head.kind) {
    case CB_KIND_THREAD:
        return TT_THREAD;
    case CB_KIND_CALL:
        return TT_CALL;
    case CB_KIND_SESSION_BEGIN:
        return TT_SESSION_BEGIN;
    case CB_KIND_SESSION_END:
        return TT_SESSION_END;
    case CB_KIND_PROGRESS:
        return TT_PROGRESS;
    case CB_KIND_COUNT:
        return TT_COUNT;
    case CB_KIND_GAUGE:
        return TT_GAUGE;
    case CB_KIND_OBSERVE:
        return TT_OBSERVE;
    case CB_KIND_LOG:
        return TT_LOG;
    default:
        return TT_UNKNOWN;
    }
}

const char *
tail_type_name(enum tail_type t)
{
    return (unsigned)t < TT_COUNT_ ? type_names[t] : "unknown";
}

unsigned
tail_kind_mask(const char *list, char *bad, size_t bad_len)
{
    static const struct {
        const char *word;
        unsigned mask;
    } aliases[] = {
        {"session", 1u << TT_SESSION_BEGIN | 1u << TT_SESSION_END},
        {"metric", 1u << TT_COUNT | 1u << TT_GAUGE | 1u << TT_OBSERVE},
        {"producer", 1u << TT_PRODUCER_NEW | 1u << TT_PRODUCER_EXIT |
                         1u << TT_PRODUCER_DIED},
        {"bad", 1u << TT_BAD_SEGMENT},
        {"lost", 1u << TT_LOSS},
    };
    unsigned mask = 0;
    const char *p = list;

    while (*p != '\0') {
        size_t n = strcspn(p, ",");
        unsigned m = 0;
        for (int t = 0; t < TT_COUNT_ && m == 0; t++)
            if (strlen(type_names[t]) == n && strncmp(p, type_names[t], n) == 0)
                m = 1u << t;
        for (size_t i = 0; i < sizeof aliases / sizeof aliases[0] && m == 0;
             i++)
            if (strlen(aliases[i].word) == n &&
                strncmp(p, aliases[i].word, n) == 0)
                m = aliases[i].mask;
        if (m == 0) {
            snprintf(bad, bad_len, "%.*s", (int)n, p);
            return 0;
        }
        mask |= m;
        p += n;
        if (*p == ',')
            p++;
    }
    if (mask == 0)
        snprintf(bad, bad_len, "(empty)");
    return mask;
}

/* ------------------------------------------------------------------------
 * Small decoders
 * ------------------------------------------------------------------------ */
static double
as_double(uint64_t bits)
{
    double d;

    memcpy(&d, &bits, sizeof d);
    return d;
}

static const char *
call_status(unsigned s)
{
    switch (s) {
    case CB_STATUS_OK:
        return "ok";
    case CB_STATUS_ERROR:
        return "error";
    case CB_STATUS_ABORTED:
        return "aborted";
    default:
        return NULL;
    }
}

static const char *
session_status(unsigned s)
{
    switch (s) {
    case CB_SESSION_OK:
        return "ok";
    case CB_SESSION_FAILED:
        return "failed";
    case CB_STATUS_ABORTED:
        return "aborted";
    case CB_SESSION_PARTIAL:
        return "partial";
    default:
        return NULL;
    }
}

static const char *
log_level(unsigned l)
{
    switch (l) {
    case CB_LOG_DEBUG:
        return "debug";
    case CB_LOG_INFO:
        return "info";
    case CB_LOG_WARN:
        return "warn";
    case CB_LOG_ERROR:
        return "error";
    default:
        return NULL;
    }
}

static const char *
progress_phase(unsigned s)
{
    return s == 1 ? "begin" : s == 2 ? "end" : "advance";
}

/* A name of the segment: *len set; "" for id 0, "#<id>" (in tmp) for an
 * id that does not resolve. */
static const char *
seg_name(const struct cb_segment *seg, uint32_t id, size_t *len, char *tmp,
         size_t tmp_len)
{
    const char *s;

    if (id == 0) {
        *len = 0;
        return "";
    }
    s = cb_segment_name(seg, id, len);
    if (s != NULL)
        return s;
    snprintf(tmp, tmp_len, "#%u", (unsigned)id);
    *len = strlen(tmp);
    return tmp;
}

static void
sb_name(struct sbuf *b, const struct cb_segment *seg, uint32_t id, int quote)
{
    char tmp[16];
    size_t len;
    const char *s = seg_name(seg, id, &len, tmp, sizeof tmp);

    sb_add_escaped(b, s, len, quote);
}

/* ------------------------------------------------------------------------
 * Human lines
 * ------------------------------------------------------------------------ */
static void
line_perf(struct sbuf *b, const struct cb_perf *p)
{
    char d[32];

    sb_printf(b, " cpu=%s rss%+lldKiB rss=%lluKiB maxrss=%lluKiB csw=%llu/%llu",
              fmt_dur(d, sizeof d, p->cpu_ns), (long long)p->rss_delta_kb,
              (unsigned long long)p->rss_kb, (unsigned long long)p->maxrss_kb,
              (unsigned long long)p->vol_csw, (unsigned long long)p->invol_csw);
}

/* The fields of an entry, as " k=v" words. */
static void
line_fields(struct sbuf *b, const struct cb_entry *e)
{
    struct cb_field f;
    size_t off = 0;
    int rc;

    while ((rc = cb_field_next(e->data, e->data_len, &off, &f)) == 1) {
        switch (f.type) {
        case CB_FIELD_I64:
        case CB_FIELD_F64:
        case CB_FIELD_STR:
            sb_add(b, " ", 1);
            sb_name(b, e->seg, f.name_id, 0);
            sb_add(b, "=", 1);
            if (f.type == CB_FIELD_I64)
                sb_i64(b, f.i);
            else if (f.type == CB_FIELD_F64)
                sb_num(b, f.d);
            else {
                sb_add(b, "\"", 1);
                sb_add_escaped(b, f.s, f.s_len, 1);
                sb_add(b, "\"", 1);
            }
            break;
        case CB_FIELD_ERR:
            sb_printf(b, " error=%lld \"", (long long)f.i);
            sb_add_escaped(b, f.s, f.s_len, 1);
            sb_add(b, "\"", 1);
            break;
        case CB_FIELD_PERF:
            line_perf(b, &f.perf);
            break;
        case CB_FIELD_LABELS:
            sb_add(b, " {", 2);
            sb_name(b, e->seg, f.name_id, 0);
            sb_add(b, "}", 1);
            break;
        default: /* TID: shown by the caller */
            break;
        }
    }
    if (rc < 0)
        sb_add(b, " [malformed data]", 17);
    if (e->head.flags & CB_RF_TRUNCATED)
        sb_add(b, " [truncated]", 12);
}

/* The string field of a log or thread entry. */
static int
entry_text(const struct cb_entry *e, const char **s, size_t *len)
{
    struct cb_field f;
    size_t off = 0;

    while (cb_field_next(e->data, e->data_len, &off, &f) == 1)
        if (f.type == CB_FIELD_STR) {
            *s = f.s;
            *len = f.s_len;
            return 1;
        }
    *s = "";
    *len = 0;
    return 0;
}

static void
line_entry(struct sbuf *b, const struct cb_entry *e, enum tail_type t)
{
    const struct cb_record *h = &e->head;
    const char *st, *s;
    char d[32];
    size_t len;

    switch (t) {
    case TT_CALL:
        sb_name(b, e->seg, h->name_id, 0);
        st = call_status(h->status);
        fmt_dur(d, sizeof d, cb_segment_ticks_ns(e->seg, h->value));
        sb_add(b, " ", 1);
        sb_add(b, d, strlen(d));
        sb_add(b, " ", 1);
        if (st != NULL)
            sb_add(b, st, strlen(st));
        else
            sb_printf(b, "status=%u", (unsigned)h->status);
        line_fields(b, e);
        return;
    case TT_SESSION_BEGIN:
        sb_name(b, e->seg, h->name_id, 0);
        sb_add(b, " total_weight=", 14);
        sb_num(b, as_double(h->value));
        break;
    case TT_SESSION_END:
        st = session_status(h->status);
        if (st != NULL)
            sb_printf(b, "status=%s", st);
        else
            sb_printf(b, "status=%u", (unsigned)h->status);
        break;
    case TT_PROGRESS:
        sb_name(b, e->seg, h->name_id, 0);
        st = progress_phase(h->status);
        sb_add(b, " ", 1);
        sb_add(b, st, strlen(st));
        sb_add(b, " +", 2);
        sb_num(b, as_double(h->value));
        break;
    case TT_COUNT:
        sb_name(b, e->seg, h->name_id, 0);
        {
            int64_t v = (int64_t)h->value; /* " %+lld" */
            sb_add(b, v < 0 ? " " : " +", v < 0 ? 1 : 2);
            sb_i64(b, v);
        }
        break;
    case TT_GAUGE:
    case TT_OBSERVE:
        sb_name(b, e->seg, h->name_id, 0);
        sb_add(b, t == TT_GAUGE ? " = " : " ", t == TT_GAUGE ? 3 : 1);
        sb_num(b, as_double(h->value));
        break;
    case TT_LOG:
        st = log_level(h->status);
        if (st != NULL)
            sb_printf(b, "%-5s", st);
        else
            sb_printf(b, "level=%u", (unsigned)h->status);
        if (h->name_id != 0) {
            sb_add(b, " [", 2);
            sb_name(b, e->seg, h->name_id, 0);
            sb_add(b, "]", 1);
        }
        entry_text(e, &s, &len);
        sb_add(b, " ", 1);
        sb_add_escaped(b, s, len, 0);
        if (h->flags & CB_RF_TRUNCATED)
            sb_add(b, " [truncated]", 12);
        return;
    case TT_THREAD:
        entry_text(e, &s, &len);
        sb_add(b, "\"", 1);
        sb_add_escaped(b, s, len, 1);
        sb_add(b, "\"", 1);
        return;
    default:
        sb_printf(b, "kind=%u", (unsigned)h->kind);
        break;
    }
    line_fields(b, e);
}

void
tail_line(struct sbuf *b, const struct cb_event *ev, uint64_t now_ns, int utc)
{
    enum tail_type t = tail_type_of(ev);
    const struct cb_producer_info *in =
        ev->seg ? cb_segment_info(ev->seg) : NULL;
    const struct cb_entry *e = ev->entry;
    char tm[64];
    uint64_t wall = now_ns;

    if (t != TT_LOSS && ev->type == CB_EV_ENTRY)
        wall = cb_segment_wall_ns(ev->seg, e->head.ts);
    fmt_time(tm, sizeof tm, wall, utc);
    sb_add(b, tm, strlen(tm));
    sb_add(b, " ", 1);
    if (ev->type == CB_EV_ENTRY && in != NULL) {
        /* "%u r%u/%u[ s%u] %-8s " by hand: once per line. */
        const char *tn = tail_type_name(t);
        size_t tl = strlen(tn);
        sb_u64(b, in->pid);
        sb_add(b, " r", 2);
        sb_u64(b, e->ring);
        sb_add(b, "/", 1);
        sb_u64(b, e->tid);
        if (e->head.session != 0) {
            sb_add(b, " s", 2);
            sb_u64(b, e->head.session);
        }
        sb_add(b, " ", 1);
        sb_add(b, tn, tl);
        sb_add(b, "         ", tl < 8 ? 9 - tl : 1);
        line_entry(b, e, t);
        return;
    }
    if (in == NULL) { /* only a bad segment has no producer */
        sb_add(b, "bad_segment ", 12);
        sb_add_escaped(b, ev->why ? ev->why : "", ev->why ? strlen(ev->why) : 0,
                       0);
        return;
    }
    sb_printf(b, "%u ", (unsigned)in->pid);
    switch (t) {
    case TT_LOSS:
        sb_printf(b, "r%u LOST %llu records from pid %u ring %u",
                  (unsigned)ev->ring, (unsigned long long)ev->count,
                  (unsigned)in->pid, (unsigned)ev->ring);
        return;
    case TT_PRODUCER_NEW:
    case TT_PRODUCER_EXIT:
    case TT_PRODUCER_DIED:
        sb_printf(b, "%s \"", tail_type_name(t));
        sb_add_escaped(b, in->program, strlen(in->program), 1);
        sb_printf(b, "\" %s", in->shm_name);
        return;
    default:
        sb_printf(b, "event %d", ev->type);
        return;
    }
}

/* ------------------------------------------------------------------------
 * JSON, written straight into the line buffer. The document is what
 * jansson's json_dumps(JSON_COMPACT) made of the same object, byte for
 * byte (keys in insertion order, a key set twice keeps its first place
 * and its last value, reals as "%.17g" with ".0" added to whole numbers
 * and the exponent's '+' and leading zeros dropped), at a fraction of the
 * cost: building a jansson object per record took 3.6 us, most of it in
 * malloc, and `clipbus tail --jsonl` is the consumer people pipe into
 * other tools.
 * ------------------------------------------------------------------------ */

/* A JSON string: bytes that are not valid UTF-8 become U+FFFD (as
 * cli_json_text does), '"', '\\' and control characters are escaped as
 * jansson escapes them. */
static void
js_str(struct sbuf *b, const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0, run = 0;

    sb_add(b, "\"", 1);
    while (i < n) {
        unsigned c = u[i];
        const char *esc = NULL;
        char tmp[8];
        size_t l = 1;
        if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
            /* The common case, ASCII that stays as it is: a tight loop. */
            size_t j = i + 1;
            while (j < n && u[j] >= 0x20 && u[j] < 0x80 && u[j] != '"' &&
                   u[j] != '\\')
                j++;
            run += j - i;
            i = j;
            continue;
        }
        if (c >= 0x80) {
            uint32_t cp;
            l = cli_utf8_len(u + i, n - i, &cp);
            if (l == 0)
                esc = "\xef\xbf\xbd", l = 1;
        } else if (c == '"') {
            esc = "\\\"";
        } else if (c == '\\') {
            esc = "\\\\";
        } else if (c < 0x20) {
            switch (c) {
            case '\b': esc = "\\b"; break;
            case '\f': esc = "\\f"; break;
            case '\n': esc = "\\n"; break;
            case '\r': esc = "\\r"; break;
            case '\t': esc = "\\t"; break;
            default:
                snprintf(tmp, sizeof tmp, "\\u%04X", c);
                esc = tmp;
            }
        }
        if (esc != NULL) {
            sb_add(b, s + i - run, run);
            sb_add(b, esc, strlen(esc));
            run = 0;
        } else {
            run += l;
        }
        i += l;
    }
    sb_add(b, s + i - run, run);
    sb_add(b, "\"", 1);
}

static void
js_cstr(struct sbuf *b, const char *s)
{
    if (s == NULL)
        sb_add(b, "null", 4);
    else
        js_str(b, s, strlen(s));
}

/* ,"key": -- or "key": for the first member (*first is then cleared).
 * Keys are this file's own names, plain ASCII: nothing to escape. */
static void
js_key(struct sbuf *b, int *first, const char *key)
{
    if (!*first)
        sb_add(b, ",\"", 2);
    else
        sb_add(b, "\"", 1);
    *first = 0;
    sb_add(b, key, strlen(key));
    sb_add(b, "\":", 2);
}

static void
js_i64(struct sbuf *b, int64_t v)
{
    sb_i64(b, v);
}

/* cli_json_u64: clamped to the largest JSON integer jansson writes. */
static void
js_u64(struct sbuf *b, uint64_t v)
{
    js_i64(b, v > INT64_MAX ? INT64_MAX : (int64_t)v);
}

/* jansson's jsonp_dtostr() at precision 17, step by step; NaN and
 * infinities, which jansson refuses, are null (cli_json_real). */
static void
js_real(struct sbuf *b, double d)
{
    char buf[64], *start, *end;
    size_t length;

    if (!isfinite(d)) {
        sb_add(b, "null", 4);
        return;
    }
    /* Whole numbers below 10^15 print as their digits under "%.17g"; the
     * ".0" follows as below. */
    if (cli_is_whole(d, 1e15)) {
        sb_i64(b, (int64_t)d);
        sb_add(b, ".0", 2);
        return;
    }
    length = (size_t)snprintf(buf, sizeof buf - 3, "%.17g", d);
    /* A dot or an 'e', so that a reader keeps it a real. */
    if (strchr(buf, '.') == NULL && strchr(buf, 'e') == NULL) {
        memcpy(buf + length, ".0", 3);
        length += 2;
    }
    /* No '+' and no leading zeros in the exponent. */
    start = strchr(buf, 'e');
    if (start != NULL) {
        start++;
        end = start + 1;
        if (*start == '-')
            start++;
        while (*end == '0')
            end++;
        if (end != start) {
            memmove(start, end, length + 1 - (size_t)(end - buf));
            length -= (size_t)(end - start);
        }
    }
    sb_add(b, buf, length);
}

/* A small ordered map for params and labels: a key set twice keeps its
 * first place and takes the last value. Values are JSON text. */
/* A label set of CB_NAME_LEN_MAX bytes has at most this many members. */
#define JS_MAP_MAX 520
struct js_map {
    struct sbuf keys, vals;   /* the JSON of each key and value, packed */
    size_t koff[JS_MAP_MAX + 1], voff[JS_MAP_MAX + 1];
    size_t vlen[JS_MAP_MAX];
    size_t n;
};

static void
js_map_put(struct js_map *m, const char *key, size_t key_len,
           const struct sbuf *val)
{
    size_t at = m->keys.len;

    js_str(&m->keys, key, key_len);
    for (size_t i = 0; i < m->n; i++) {
        size_t kl = m->koff[i + 1] - m->koff[i];
        if (kl == m->keys.len - at &&
            memcmp(m->keys.p + m->koff[i], m->keys.p + at, kl) == 0) {
            m->keys.len = at; /* known key: new value, same place */
            m->voff[i] = m->vals.len;
            m->vlen[i] = val->len;
            sb_add(&m->vals, val->p ? val->p : "", val->len);
            return;
        }
    }
    if (m->n == JS_MAP_MAX) {
        m->keys.len = at; /* more members than a name can hold */
        return;
    }
    m->koff[m->n] = at;
    m->koff[m->n + 1] = m->keys.len;
    m->voff[m->n] = m->vals.len;
    m->vlen[m->n] = val->len;
    sb_add(&m->vals, val->p ? val->p : "", val->len);
    m->n++;
}

static void
js_map_write(struct sbuf *b, const struct js_map *m)
{
    sb_add(b, "{", 1);
    for (size_t i = 0; i < m->n; i++) {
        if (i != 0)
            sb_add(b, ",", 1);
        sb_add(b, m->keys.p + m->koff[i], m->koff[i + 1] - m->koff[i]);
        sb_add(b, ":", 1);
        sb_add(b, m->vals.p + m->voff[i], m->vlen[i]);
    }
    sb_add(b, "}", 1);
}

/* Empties m, keeping its buffers for the next entry. */
static void
js_map_reset(struct js_map *m)
{
    sb_reset(&m->keys);
    sb_reset(&m->vals);
    m->n = 0;
}

/* "k=v,k2=v2" as {"k": "v", "k2": "v2"}; a word without '=' maps to "". */
static void
js_labels(struct sbuf *b, const char *s, size_t n)
{
    /* Static: the buffers are reused from one record to the next (the
     * tool is single threaded), and the map's arrays are not cleared. */
    static struct js_map m;
    static struct sbuf v;
    size_t i = 0;

    js_map_reset(&m);

    while (i < n) {
        size_t end = i, eq;
        while (end < n && s[end] != ',')
            end++;
        for (eq = i; eq < end && s[eq] != '='; eq++)
            ;
        sb_reset(&v);
        if (eq < end)
            js_str(&v, s + eq + 1, end - eq - 1);
        else
            sb_add(&v, "\"\"", 2);
        js_map_put(&m, s + i, eq - i, &v);
        i = end + 1;
    }
    js_map_write(b, &m);
}

static void
js_perf(struct sbuf *b, const struct cb_perf *p)
{
    int first = 1;

    sb_add(b, "{", 1);
    js_key(b, &first, "cpu_ns");
    js_u64(b, p->cpu_ns);
    js_key(b, &first, "rss_delta_kb");
    js_i64(b, p->rss_delta_kb);
    js_key(b, &first, "rss_kb");
    js_u64(b, p->rss_kb);
    js_key(b, &first, "maxrss_kb");
    js_u64(b, p->maxrss_kb);
    js_key(b, &first, "vol_csw");
    js_u64(b, p->vol_csw);
    js_key(b, &first, "invol_csw");
    js_u64(b, p->invol_csw);
    sb_add(b, "}", 1);
}

/* What an entry's fields contribute, gathered before writing: members the
 * head fields already placed (message, thread_name, tid) take the last
 * value a field gives them, and the rest follow in the order fields first
 * set them. */
struct js_fields {
    struct js_map params;
    struct sbuf tail;   /* error, perf, labels, labels_text: in order */
    const char *text;   /* message or thread_name from a string field */
    size_t text_len;
    int has_text;
    int64_t tid;
    int has_tid;
    int malformed;
    /* where error/perf/labels/labels_text are in tail, for "set twice" */
    size_t at[4], len[4];
    int set[4], order[4], norder;
};

enum { JF_ERROR, JF_PERF, JF_LABELS, JF_LABELS_TEXT };

static void
jf_set(struct js_fields *jf, int which, const struct sbuf *val)
{
    if (!jf->set[which]) {
        jf->set[which] = 1;
        jf->order[jf->norder++] = which;
    }
    jf->at[which] = jf->tail.len;
    jf->len[which] = val->len;
    sb_add(&jf->tail, val->p ? val->p : "", val->len);
}

static void
jf_gather(struct js_fields *jf, const struct cb_entry *e)
{
    static struct sbuf v;
    struct cb_field f;
    size_t off = 0, len;
    const char *s;
    char tmp[16];
    int rc;

    while ((rc = cb_field_next(e->data, e->data_len, &off, &f)) == 1) {
        sb_reset(&v);
        switch (f.type) {
        case CB_FIELD_I64:
            js_i64(&v, f.i);
            s = seg_name(e->seg, f.name_id, &len, tmp, sizeof tmp);
            js_map_put(&jf->params, s, len, &v);
            break;
        case CB_FIELD_F64:
            js_real(&v, f.d);
            s = seg_name(e->seg, f.name_id, &len, tmp, sizeof tmp);
            js_map_put(&jf->params, s, len, &v);
            break;
        case CB_FIELD_STR:
            if (e->head.kind == CB_KIND_LOG ||
                e->head.kind == CB_KIND_THREAD) {
                jf->text = f.s;
                jf->text_len = f.s_len;
                jf->has_text = 1;
            } else {
                js_str(&v, f.s, f.s_len);
                s = seg_name(e->seg, f.name_id, &len, tmp, sizeof tmp);
                js_map_put(&jf->params, s, len, &v);
            }
            break;
        case CB_FIELD_ERR: {
            int first = 1;
            sb_add(&v, "{", 1);
            js_key(&v, &first, "code");
            js_i64(&v, f.i);
            js_key(&v, &first, "message");
            js_str(&v, f.s, f.s_len);
            sb_add(&v, "}", 1);
            jf_set(jf, JF_ERROR, &v);
            break;
        }
        case CB_FIELD_PERF:
            js_perf(&v, &f.perf);
            jf_set(jf, JF_PERF, &v);
            break;
        case CB_FIELD_LABELS:
            s = seg_name(e->seg, f.name_id, &len, tmp, sizeof tmp);
            js_labels(&v, s, len);
            jf_set(jf, JF_LABELS, &v);
            sb_reset(&v);
            js_str(&v, s, len);
            jf_set(jf, JF_LABELS_TEXT, &v);
            break;
        case CB_FIELD_TID:
            jf->tid = f.i;
            jf->has_tid = 1;
            break;
        default:
            break;
        }
    }
    jf->malformed = rc < 0;
}

static void
js_status(struct sbuf *b, int *first, const char *key, const char *name,
          unsigned code)
{
    char tmp[32];

    js_key(b, first, key);
    if (name == NULL) {
        snprintf(tmp, sizeof tmp, "%s_%u", key, code);
        name = tmp;
    }
    js_cstr(b, name);
    /* ,"<key>_code": -- after the key above, never the first member */
    sb_add(b, ",\"", 2);
    sb_add(b, key, strlen(key));
    sb_add(b, "_code\":", 7);
    js_i64(b, code);
}

static void
js_name(struct sbuf *b, const struct cb_segment *seg, uint32_t id)
{
    char tmp[16];
    size_t len;
    const char *s;

    if (id == 0) {
        sb_add(b, "null", 4);
        return;
    }
    s = seg_name(seg, id, &len, tmp, sizeof tmp);
    js_str(b, s, len);
}

static void
js_entry(struct sbuf *b, int *first, const struct cb_entry *e,
         enum tail_type t)
{
    static const char *const key[] = {"error", "perf", "labels",
                                      "labels_text"};
    const struct cb_record *h = &e->head;
    /* Static for its buffers, as in js_labels; reset field by field. */
    static struct js_fields jf;

    js_map_reset(&jf.params);
    sb_reset(&jf.tail);
    jf.text = NULL;
    jf.text_len = 0;
    jf.has_text = jf.has_tid = jf.malformed = 0;
    jf.tid = 0;
    memset(jf.set, 0, sizeof jf.set);
    jf.norder = 0;
    jf_gather(&jf, e);
    js_key(b, first, "ring");
    js_i64(b, e->ring);
    js_key(b, first, "tid");
    js_i64(b, jf.has_tid ? jf.tid : (int64_t)e->tid);
    js_key(b, first, "recno");
    js_u64(b, e->recno);
    js_key(b, first, "session");
    js_i64(b, h->session);
    js_key(b, first, "name");
    js_name(b, e->seg, h->name_id);
    switch (t) {
    case TT_CALL:
        js_key(b, first, "dur_ns");
        js_u64(b, cb_segment_ticks_ns(e->seg, h->value));
        js_status(b, first, "status", call_status(h->status), h->status);
        break;
    case TT_SESSION_BEGIN:
        js_key(b, first, "total_weight");
        js_real(b, as_double(h->value));
        break;
    case TT_SESSION_END:
        js_status(b, first, "status", session_status(h->status), h->status);
        break;
    case TT_PROGRESS:
        js_key(b, first, "phase");
        js_cstr(b, progress_phase(h->status));
        js_key(b, first, "delta");
        js_real(b, as_double(h->value));
        break;
    case TT_COUNT:
        js_key(b, first, "value");
        js_i64(b, (int64_t)h->value);
        break;
    case TT_GAUGE:
    case TT_OBSERVE:
        js_key(b, first, "value");
        js_real(b, as_double(h->value));
        break;
    case TT_LOG:
        js_status(b, first, "level", log_level(h->status), h->status);
        js_key(b, first, "message");
        js_str(b, jf.has_text ? jf.text : "", jf.has_text ? jf.text_len : 0);
        break;
    case TT_THREAD:
        js_key(b, first, "thread_name");
        js_str(b, jf.has_text ? jf.text : "", jf.has_text ? jf.text_len : 0);
        break;
    default:
        js_key(b, first, "kind_code");
        js_i64(b, h->kind);
        break;
    }
    /* A string field of any other kind than log and thread is a param;
     * of those two, it went into message/thread_name above. */
    for (int i = 0; i < jf.norder; i++) {
        int w = jf.order[i];
        js_key(b, first, key[w]);
        sb_add(b, jf.tail.p + jf.at[w], jf.len[w]);
    }
    if (h->kind == CB_KIND_CALL || jf.params.n != 0) {
        js_key(b, first, "params");
        js_map_write(b, &jf.params);
    }
    js_key(b, first, "truncated");
    if (h->flags & CB_RF_TRUNCATED)
        sb_add(b, "true", 4);
    else
        sb_add(b, "false", 5);
    if (jf.malformed) {
        js_key(b, first, "malformed");
        sb_add(b, "true", 4);
    }
}

void
tail_jsonl(struct sbuf *b, const struct cb_event *ev, uint64_t now_ns)
{
    enum tail_type t = tail_type_of(ev);
    const struct cb_producer_info *in =
        ev->seg ? cb_segment_info(ev->seg) : NULL;
    uint64_t wall = now_ns;
    char tm[64];
    int first = 1;

    if (ev->type == CB_EV_ENTRY)
        wall = cb_segment_wall_ns(ev->seg, ev->entry->head.ts);
    sb_add(b, "{", 1);
    js_key(b, &first, "type");
    js_cstr(b, tail_type_name(t));
    js_key(b, &first, "time");
    js_cstr(b, fmt_time(tm, sizeof tm, wall, 1));
    js_key(b, &first, "ts_ns");
    js_u64(b, wall);
    if (in != NULL) {
        js_key(b, &first, "pid");
        js_i64(b, in->pid);
        js_key(b, &first, "program");
        js_cstr(b, in->program);
        js_key(b, &first, "shm");
        js_cstr(b, in->shm_name);
    }
    switch (ev->type) {
    case CB_EV_ENTRY:
        js_entry(b, &first, ev->entry, t);
        break;
    case CB_EV_LOSS:
        js_key(b, &first, "ring");
        js_i64(b, ev->ring);
        js_key(b, &first, "count");
        js_u64(b, ev->count);
        break;
    case CB_EV_BAD_SEGMENT:
        js_key(b, &first, "why");
        js_cstr(b, ev->why);
        break;
    default:
        break;
    }
    sb_add(b, "}", 1);
}
