/*
 * tail_fmt.c -- rendering bus events for `clipbus tail`: a readable line,
 * or a JSON object whose fields are documented in docs/tail-jsonl.md
 * (that format is a test aid of other components: keep it stable; add
 * fields, never rename or retype one).
 *
 * Entry data is decoded with cb_field_next(); every string in it (names,
 * parameters, messages) is producer-written bytes and goes through the
 * escaping helpers of out.c. Meanings the ABI header does not spell out
 * are taken from producer.c: the status of a CB_KIND_PROGRESS record is
 * 0 advance, 1 step begin, 2 step end.
 */
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

static json_t *
seg_name_json(const struct cb_segment *seg, uint32_t id)
{
    char tmp[16];
    size_t len;
    const char *s;

    if (id == 0)
        return json_null();
    s = seg_name(seg, id, &len, tmp, sizeof tmp);
    return cli_json_text(s, len);
}

static void
sb_name(struct sbuf *b, const struct cb_segment *seg, uint32_t id, int quote)
{
    char tmp[16];
    size_t len;
    const char *s = seg_name(seg, id, &len, tmp, sizeof tmp);

    sb_add_escaped(b, s, len, quote);
}

static void
sb_num(struct sbuf *b, double d)
{
    sb_printf(b, "%.6g", d);
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
                sb_printf(b, "%lld", (long long)f.i);
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
        sb_printf(b, " %s ",
                  fmt_dur(d, sizeof d, cb_segment_ticks_ns(e->seg, h->value)));
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
        sb_printf(b, " %s +", progress_phase(h->status));
        sb_num(b, as_double(h->value));
        break;
    case TT_COUNT:
        sb_name(b, e->seg, h->name_id, 0);
        sb_printf(b, " %+lld", (long long)h->value);
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
    sb_printf(b, "%s ", fmt_time(tm, sizeof tm, wall, utc));
    if (ev->type == CB_EV_ENTRY && in != NULL) {
        sb_printf(b, "%u r%u/%u", (unsigned)in->pid, (unsigned)e->ring,
                  (unsigned)e->tid);
        if (e->head.session != 0)
            sb_printf(b, " s%u", (unsigned)e->head.session);
        sb_printf(b, " %-8s ", tail_type_name(t));
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
 * JSON
 * ------------------------------------------------------------------------ */
static json_t *
perf_json(const struct cb_perf *p)
{
    json_t *j = json_object();

    json_object_set_new(j, "cpu_ns", cli_json_u64(p->cpu_ns));
    json_object_set_new(j, "rss_delta_kb", json_integer(p->rss_delta_kb));
    json_object_set_new(j, "rss_kb", cli_json_u64(p->rss_kb));
    json_object_set_new(j, "maxrss_kb", cli_json_u64(p->maxrss_kb));
    json_object_set_new(j, "vol_csw", cli_json_u64(p->vol_csw));
    json_object_set_new(j, "invol_csw", cli_json_u64(p->invol_csw));
    return j;
}

/* Sets obj[key] = v for any key bytes: the key gets the same UTF-8 repair
 * as values, and may hold NUL bytes (json_object_setn_new). Steals v. */
static void
set_key(json_t *obj, const char *key, size_t key_len, json_t *v)
{
    json_t *k = cli_json_text(key, key_len);

    if (k == NULL || v == NULL ||
        json_object_setn_new(obj, json_string_value(k), json_string_length(k),
                             v) != 0)
        json_decref(v);
    json_decref(k);
}

/* "k=v,k2=v2" as {"k": "v", "k2": "v2"}; a word without '=' maps to "". */
static json_t *
labels_json(const char *s, size_t n)
{
    json_t *j = json_object();
    size_t i = 0;

    while (i < n) {
        size_t end = i, eq;
        while (end < n && s[end] != ',')
            end++;
        for (eq = i; eq < end && s[eq] != '='; eq++)
            ;
        set_key(j, s + i, eq - i,
                eq < end ? cli_json_text(s + eq + 1, end - eq - 1)
                         : json_string(""));
        i = end + 1;
    }
    return j;
}

/* Adds a field value to an object under the segment name of its id. */
static void
set_named(json_t *obj, const struct cb_segment *seg, uint32_t id, json_t *v)
{
    char tmp[16];
    size_t len;
    const char *s = seg_name(seg, id, &len, tmp, sizeof tmp);

    set_key(obj, s, len, v);
}

static void
json_fields(json_t *j, const struct cb_entry *e)
{
    json_t *params = json_object();
    struct cb_field f;
    size_t off = 0, len;
    const char *s;
    char tmp[16];
    int rc;

    while ((rc = cb_field_next(e->data, e->data_len, &off, &f)) == 1) {
        json_t *x;
        switch (f.type) {
        case CB_FIELD_I64:
            set_named(params, e->seg, f.name_id, json_integer(f.i));
            break;
        case CB_FIELD_F64:
            set_named(params, e->seg, f.name_id, cli_json_real(f.d));
            break;
        case CB_FIELD_STR:
            if (e->head.kind == CB_KIND_LOG)
                json_object_set_new(j, "message", cli_json_text(f.s, f.s_len));
            else if (e->head.kind == CB_KIND_THREAD)
                json_object_set_new(j, "thread_name",
                                    cli_json_text(f.s, f.s_len));
            else
                set_named(params, e->seg, f.name_id,
                          cli_json_text(f.s, f.s_len));
            break;
        case CB_FIELD_ERR:
            x = json_object();
            json_object_set_new(x, "code", json_integer(f.i));
            json_object_set_new(x, "message", cli_json_text(f.s, f.s_len));
            json_object_set_new(j, "error", x);
            break;
        case CB_FIELD_PERF:
            json_object_set_new(j, "perf", perf_json(&f.perf));
            break;
        case CB_FIELD_LABELS:
            s = seg_name(e->seg, f.name_id, &len, tmp, sizeof tmp);
            json_object_set_new(j, "labels", labels_json(s, len));
            json_object_set_new(j, "labels_text", cli_json_text(s, len));
            break;
        case CB_FIELD_TID:
            json_object_set_new(j, "tid", json_integer(f.i));
            break;
        default:
            break;
        }
    }
    if (e->head.kind == CB_KIND_CALL || json_object_size(params) != 0)
        json_object_set_new(j, "params", params);
    else
        json_decref(params);
    json_object_set_new(j, "truncated",
                        json_boolean(e->head.flags & CB_RF_TRUNCATED));
    if (rc < 0)
        json_object_set_new(j, "malformed", json_true());
}

static void
set_status(json_t *j, const char *key, const char *name, unsigned code)
{
    char tmp[32];

    if (name == NULL) {
        snprintf(tmp, sizeof tmp, "%s_%u", key, code);
        name = tmp;
    }
    json_object_set_new(j, key, json_string(name));
    snprintf(tmp, sizeof tmp, "%s_code", key);
    json_object_set_new(j, tmp, json_integer(code));
}

static void
json_entry(json_t *j, const struct cb_entry *e, enum tail_type t)
{
    const struct cb_record *h = &e->head;

    json_object_set_new(j, "recno", cli_json_u64(e->recno));
    json_object_set_new(j, "session", json_integer(h->session));
    json_object_set_new(j, "name", seg_name_json(e->seg, h->name_id));
    switch (t) {
    case TT_CALL:
        json_object_set_new(
            j, "dur_ns", cli_json_u64(cb_segment_ticks_ns(e->seg, h->value)));
        set_status(j, "status", call_status(h->status), h->status);
        break;
    case TT_SESSION_BEGIN:
        json_object_set_new(j, "total_weight",
                            cli_json_real(as_double(h->value)));
        break;
    case TT_SESSION_END:
        set_status(j, "status", session_status(h->status), h->status);
        break;
    case TT_PROGRESS:
        json_object_set_new(j, "phase", json_string(progress_phase(h->status)));
        json_object_set_new(j, "delta", cli_json_real(as_double(h->value)));
        break;
    case TT_COUNT:
        json_object_set_new(j, "value", json_integer((int64_t)h->value));
        break;
    case TT_GAUGE:
    case TT_OBSERVE:
        json_object_set_new(j, "value", cli_json_real(as_double(h->value)));
        break;
    case TT_LOG:
        set_status(j, "level", log_level(h->status), h->status);
        json_object_set_new(j, "message", json_string(""));
        break;
    case TT_THREAD:
        json_object_set_new(j, "thread_name", json_string(""));
        break;
    default:
        json_object_set_new(j, "kind_code", json_integer(h->kind));
        break;
    }
    json_fields(j, e);
}

json_t *
tail_json(const struct cb_event *ev, uint64_t now_ns)
{
    enum tail_type t = tail_type_of(ev);
    const struct cb_producer_info *in =
        ev->seg ? cb_segment_info(ev->seg) : NULL;
    json_t *j = json_object();
    uint64_t wall = now_ns;
    char tm[64];

    if (ev->type == CB_EV_ENTRY)
        wall = cb_segment_wall_ns(ev->seg, ev->entry->head.ts);
    json_object_set_new(j, "type", json_string(tail_type_name(t)));
    json_object_set_new(j, "time",
                        cli_json_str(fmt_time(tm, sizeof tm, wall, 1)));
    json_object_set_new(j, "ts_ns", cli_json_u64(wall));
    if (in != NULL) {
        json_object_set_new(j, "pid", json_integer(in->pid));
        json_object_set_new(j, "program", cli_json_str(in->program));
        json_object_set_new(j, "shm", cli_json_str(in->shm_name));
    }
    switch (ev->type) {
    case CB_EV_ENTRY:
        json_object_set_new(j, "ring", json_integer(ev->entry->ring));
        json_object_set_new(j, "tid", json_integer(ev->entry->tid));
        json_entry(j, ev->entry, t);
        break;
    case CB_EV_LOSS:
        json_object_set_new(j, "ring", json_integer(ev->ring));
        json_object_set_new(j, "count", cli_json_u64(ev->count));
        break;
    case CB_EV_BAD_SEGMENT:
        json_object_set_new(j, "why", cli_json_str(ev->why));
        break;
    default:
        break;
    }
    return j;
}
