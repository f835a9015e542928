/*
 * notify.c -- from engine notes to outbox rows (Req 4.4): routing by
 * severity and labels, grouping per (channel, rule) within group_wait,
 * and the bodies: the Alertmanager webhook format version 4 (so existing
 * receivers work), a plain-text mail with proper headers, a JSON line.
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "alert.h"

struct cba_notify {
    const struct cbc_alert_config *cfg;
    sqlite3 *db;
    uint64_t msg_seq;
    /* 0 only when the notes table is known to be empty: a flush then has
     * nothing to do and makes no SQLite call (it runs 10 times a second;
     * preparing its three statements was most of an idle watcher's CPU). */
    int maybe_notes;
};

struct cba_notify *
cba_notify_create(const struct cbc_alert_config *cfg, sqlite3 *db)
{
    struct cba_notify *n = calloc(1, sizeof *n);
    if (n) {
        n->cfg = cfg;
        n->db = db;
        n->maybe_notes = 1; /* a restart may find notes left waiting */
    }
    return n;
}

void
cba_notify_destroy(struct cba_notify *n)
{
    free(n);
}

void
cba_fmt_time(char *buf, size_t len, uint64_t ns)
{
    time_t t = (time_t)(ns / 1000000000u);
    struct tm tm;
    gmtime_r(&t, &tm);
    char b[32];
    strftime(b, sizeof b, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf, len, "%s.%03uZ", b, (unsigned)(ns / 1000000u % 1000u));
}

uint64_t
cba_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- one alert ---------------------------------------------------------- */

static json_t *
alert_json(const struct cbc_alert_config *cfg, const struct al_note *n)
{
    char starts[40], ends[40], fp[20], url[1200];
    json_t *labels = json_object(), *ann = json_object();
    for (size_t i = 0; i < n->n_labels; i++)
        json_object_set_new(labels, n->labels[i].key,
                            json_string(n->labels[i].value));
    json_object_set_new(ann, "summary", json_string(n->summary));
    if (n->description && n->description[0])
        json_object_set_new(ann, "description", json_string(n->description));
    if (!isnan(n->value)) {
        char v[40];
        snprintf(v, sizeof v, "%.6g", n->value);
        json_object_set_new(ann, "value", json_string(v));
    }
    cba_fmt_time(starts, sizeof starts, n->starts_ns);
    if (n->firing) /* Alertmanager's zero time: no end yet */
        snprintf(ends, sizeof ends, "0001-01-01T00:00:00Z");
    else
        cba_fmt_time(ends, sizeof ends, n->ends_ns);
    snprintf(fp, sizeof fp, "%016" PRIx64, n->fingerprint);
    snprintf(url, sizeof url, "%s#%s", cfg->external_url, n->rule->name);
    return json_pack("{s:s, s:o, s:o, s:s, s:s, s:s, s:s}", "status",
                     n->firing ? "firing" : "resolved", "labels", labels,
                     "annotations", ann, "startsAt", starts, "endsAt", ends,
                     "generatorURL", url, "fingerprint", fp);
}

static int
route_takes(const struct cbc_alert_route *r, const struct al_note *n)
{
    if (r->n_severities) {
        int ok = 0;
        const char *sev = cbc_alert_severity_name(n->rule->severity);
        for (size_t i = 0; i < r->n_severities; i++)
            ok |= strcmp(r->severities[i], sev) == 0;
        if (!ok)
            return 0;
    }
    return al_match(r->match, r->n_match, n->labels, n->n_labels);
}

void
cba_notify_note(struct cba_notify *nt, const struct al_note *n)
{
    const struct cbc_alert_config *cfg = nt->cfg;
    json_t *a = alert_json(cfg, n);
    char *js = a ? json_dumps(a, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    char text[2048], starts[40];
    size_t o;
    cba_fmt_time(starts, sizeof starts, n->starts_ns);
    o = (size_t)snprintf(text, sizeof text, "[%s] %s\n  since %s\n",
                         n->firing ? "FIRING" : "RESOLVED", n->summary,
                         starts);
    for (size_t i = 0; i < n->n_labels && o < sizeof text; i++)
        o += (size_t)snprintf(text + o, sizeof text - o, "  %s = %s\n",
                              n->labels[i].key, n->labels[i].value);
    if (n->description[0] && o < sizeof text)
        snprintf(text + o, sizeof text - o, "  %s\n", n->description);
    json_decref(a);
    if (js == NULL)
        return;
    /* Req 4.4: routes in order; none configured: every channel. */
    int *take = calloc(cfg->n_channels + 1, sizeof *take);
    if (take == NULL) {
        free(js);
        return;
    }
    if (cfg->n_routes == 0)
        for (size_t c = 0; c < cfg->n_channels; c++)
            take[c] = 1;
    for (size_t r = 0; r < cfg->n_routes; r++) {
        const struct cbc_alert_route *rt = &cfg->routes[r];
        if (!route_takes(rt, n))
            continue;
        for (size_t k = 0; k < rt->n_channels; k++)
            for (size_t c = 0; c < cfg->n_channels; c++)
                if (strcmp(cfg->channels[c].name, rt->channels[k]) == 0)
                    take[c] = 1;
        if (rt->stop)
            break;
    }
    for (size_t c = 0; c < cfg->n_channels; c++)
        if (take[c]) {
            nt->maybe_notes = 1;
            cba_note_add(nt->db, cfg->channels[c].name, n->rule->name,
                         n->firing, js, text, n->at_ns);
        }
    free(take);
    free(js);
}

/* ---- groups to outbox rows ---------------------------------------------- */

struct group {
    const struct cbc_alert_channel *ch;
    const char *rule;
    json_t *alerts;  /* array */
    char *text;      /* concatenated mail text */
    size_t text_len;
    int firing;
};

/* Labels (or annotations) every alert of the group shares. */
static json_t *
common(json_t *alerts, const char *field)
{
    json_t *first = json_object_get(json_array_get(alerts, 0), field);
    json_t *out = json_object();
    const char *k;
    json_t *v;
    json_object_foreach(first, k, v)
    {
        int all = 1;
        for (size_t i = 1; i < json_array_size(alerts) && all; i++) {
            json_t *o = json_object_get(json_array_get(alerts, i), field);
            all = json_equal(json_object_get(o, k), v);
        }
        if (all)
            json_object_set(out, k, v);
    }
    return out;
}

static char *
webhook_body(const struct cbc_alert_config *cfg, struct group *g)
{
    char key[600];
    snprintf(key, sizeof key, "{}:{alertname=\"%s\"}", g->rule);
    json_t *b = json_pack(
        "{s:s, s:s, s:i, s:s, s:s, s:{s:s}, s:o, s:o, s:s, s:O}", "version",
        "4", "groupKey", key, "truncatedAlerts", 0, "status",
        g->firing ? "firing" : "resolved", "receiver", g->ch->name,
        "groupLabels", "alertname", g->rule, "commonLabels",
        common(g->alerts, "labels"), "commonAnnotations",
        common(g->alerts, "annotations"), "externalURL", cfg->external_url,
        "alerts", g->alerts);
    char *s = b ? json_dumps(b, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(b);
    return s;
}

/* Subject line: "[FIRING:2] Rule (critical): first summary". */
static void
subject(char *buf, size_t len, struct group *g)
{
    json_t *a0 = json_array_get(g->alerts, 0);
    json_t *lab = json_object_get(a0, "labels");
    const char *sev = json_string_value(json_object_get(lab, "severity"));
    const char *sum = json_string_value(
        json_object_get(json_object_get(a0, "annotations"), "summary"));
    snprintf(buf, len, "[%s:%zu] %s (%s): %s",
             g->firing ? "FIRING" : "RESOLVED", json_array_size(g->alerts),
             g->rule, sev ? sev : "?", sum ? sum : "");
    for (char *p = buf; *p; p++) /* one header line */
        if (*p == '\r' || *p == '\n')
            *p = ' ';
}

/* A header value as RFC 2047 "=?utf-8?B?...?=" words when it is not
 * plain ASCII (a summary may carry any UTF-8 text); else as is. */
static void
header_text(char *out, size_t len, const char *s)
{
    static const char b64[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    int plain = 1;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        plain &= *p >= 0x20 && *p < 0x7f;
    if (plain || len < 16) {
        snprintf(out, len, "%s", s);
        return;
    }
    /* Encoded words of at most 45 input bytes (60 base64 chars), split
     * only between UTF-8 characters, folded onto continuation lines. */
    size_t o = 0, n = strlen(s);
    for (size_t i = 0; i < n;) {
        size_t k = n - i < 45 ? n - i : 45;
        while (k > 1 && i + k < n && ((unsigned char)s[i + k] & 0xc0) == 0x80)
            k--;
        if (o + 16 + (k + 2) / 3 * 4 + 4 >= len)
            break;
        o += (size_t)snprintf(out + o, len - o, "%s=?utf-8?B?",
                              i ? "\r\n " : "");
        for (size_t j = 0; j < k; j += 3) {
            uint32_t v = (uint32_t)(unsigned char)s[i + j] << 16;
            if (j + 1 < k)
                v |= (uint32_t)(unsigned char)s[i + j + 1] << 8;
            if (j + 2 < k)
                v |= (unsigned char)s[i + j + 2];
            out[o++] = b64[v >> 18 & 63];
            out[o++] = b64[v >> 12 & 63];
            out[o++] = j + 1 < k ? b64[v >> 6 & 63] : '=';
            out[o++] = j + 2 < k ? b64[v & 63] : '=';
        }
        o += (size_t)snprintf(out + o, len - o, "?=");
        i += k;
    }
    out[o < len ? o : len - 1] = '\0';
}

/* RFC 5322 caps a line at 998 octets: longer text lines are broken. */
#define MAIL_LINE_MAX 900

static char *
mail_body(struct cba_notify *nt, struct group *g, const char *subj)
{
    const struct cbc_alert_channel *ch = g->ch;
    char date[64], host[128] = "localhost", hsubj[2048];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    /* RFC 5322 date; the names are spelled out (no locale). */
    static const char *const wd[] = {"Sun", "Mon", "Tue", "Wed",
                                     "Thu", "Fri", "Sat"};
    static const char *const mo[] = {"Jan", "Feb", "Mar", "Apr",
                                     "May", "Jun", "Jul", "Aug",
                                     "Sep", "Oct", "Nov", "Dec"};
    snprintf(date, sizeof date, "%s, %02d %s %04d %02d:%02d:%02d +0000",
             wd[tm.tm_wday % 7], tm.tm_mday, mo[tm.tm_mon % 12],
             tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
    gethostname(host, sizeof host - 1);
    host[sizeof host - 1] = '\0';
    header_text(hsubj, sizeof hsubj, subj);
    size_t cap = 1024 + strlen(hsubj) + strlen(ch->from) + strlen(g->rule) +
                 strlen(host) + g->text_len * 2 + g->text_len / MAIL_LINE_MAX * 2;
    for (size_t i = 0; i < ch->n_to; i++)
        cap += strlen(ch->to[i]) + 4;
    char *m = malloc(cap);
    if (m == NULL)
        return NULL;
    size_t o = (size_t)snprintf(m, cap, "From: %s\r\nTo: ", ch->from);
    for (size_t i = 0; i < ch->n_to; i++)
        o += (size_t)snprintf(m + o, cap - o, "%s%s", i ? ", " : "", ch->to[i]);
    o += (size_t)snprintf(
        m + o, cap - o,
        "\r\nDate: %s\r\nMessage-ID: <%" PRIu64 ".%d.%" PRIu64
        "@%s>\r\nSubject: %s\r\nMIME-Version: 1.0\r\nContent-Type: "
        "text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n"
        "X-Clipbus-Alert: %s\r\n\r\n",
        date, cba_now_ns(), (int)getpid(), ++nt->msg_seq, host, hsubj, g->rule);
    size_t col = 0;
    for (const char *p = g->text; p && *p && o + 4 < cap; p++) {
        if (*p == '\r')
            continue;
        if (*p == '\n' || (col >= MAIL_LINE_MAX &&
                           ((unsigned char)*p & 0xc0) != 0x80)) {
            m[o++] = '\r';
            m[o++] = '\n';
            col = 0;
            if (*p == '\n')
                continue;
        }
        m[o++] = *p;
        col++;
    }
    m[o] = '\0';
    return m;
}

static int
emit(struct cba_notify *nt, struct group *g, uint64_t now)
{
    char subj[512];
    char *body;
    subject(subj, sizeof subj, g);
    if (g->ch->type == CBC_ACH_EMAIL)
        body = mail_body(nt, g, subj);
    else
        body = webhook_body(nt->cfg, g);
    if (body == NULL)
        return -1;
    sqlite3_stmt *st = NULL;
    sqlite3_prepare_v2(nt->db,
                       "INSERT INTO outbox(channel, created_ns, subject, body)"
                       " VALUES(?1,?2,?3,?4)",
                       -1, &st, NULL);
    sqlite3_bind_text(st, 1, g->ch->name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, (int64_t)now);
    sqlite3_bind_text(st, 3, subj, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, body, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
    sqlite3_finalize(st);
    free(body);
    return rc;
}

static void
group_reset(struct group *g)
{
    json_decref(g->alerts);
    free(g->text);
    g->alerts = json_array();
    g->text = NULL;
    g->text_len = 0;
    g->firing = 0;
}

/* Adds one note to g; a second note of the same alert starts a new body
 * first, so each body holds an alert once and order is kept. */
static int
group_add(struct cba_notify *nt, struct group *g, const char *alert,
          const char *text, int firing, uint64_t now)
{
    json_t *a = json_loads(alert, 0, NULL);
    int made = 0;
    if (a == NULL)
        return 0;
    json_t *fp = json_object_get(a, "fingerprint");
    for (size_t i = 0; i < json_array_size(g->alerts); i++)
        if (json_equal(json_object_get(json_array_get(g->alerts, i),
                                       "fingerprint"), fp)) {
            made += emit(nt, g, now) == 0;
            group_reset(g);
            break;
        }
    json_array_append_new(g->alerts, a);
    size_t tl = strlen(text);
    char *t = realloc(g->text, g->text_len + tl + 2);
    if (t) {
        memcpy(t + g->text_len, text, tl + 1);
        g->text = t;
        g->text_len += tl;
    }
    g->firing |= firing;
    return made;
}

static const struct cbc_alert_channel *
channel(const struct cbc_alert_config *cfg, const char *name)
{
    for (size_t i = 0; i < cfg->n_channels; i++)
        if (strcmp(cfg->channels[i].name, name) == 0)
            return &cfg->channels[i];
    return NULL;
}

int
cba_notify_pending(const struct cba_notify *nt)
{
    return nt->maybe_notes;
}

int
cba_notify_flush(struct cba_notify *nt, uint64_t now, int force)
{
    sqlite3_stmt *gs = NULL, *ns = NULL, *del = NULL;
    int made = 0;
    uint64_t wait = force ? 0 : nt->cfg->group_wait_ns;
    if (!nt->maybe_notes)
        return 0;
    sqlite3_prepare_v2(nt->db,
                       "SELECT channel, rule, min(id) m FROM notes GROUP BY "
                       "channel, rule HAVING min(created_ns) <= ?1 ORDER BY m",
                       -1, &gs, NULL);
    sqlite3_prepare_v2(nt->db,
                       "SELECT id, alert, text, firing FROM notes WHERE "
                       "channel=?1 AND rule=?2 ORDER BY id",
                       -1, &ns, NULL);
    sqlite3_prepare_v2(nt->db, "DELETE FROM notes WHERE id=?1", -1, &del,
                       NULL);
    if (gs == NULL || ns == NULL || del == NULL)
        goto out;
    sqlite3_bind_int64(gs, 1, (int64_t)(now > wait ? now - wait : 0));
    /* Collect the due groups first: the loop below deletes notes. */
    char **keys = NULL;
    size_t nk = 0;
    while (sqlite3_step(gs) == SQLITE_ROW) {
        char **k = realloc(keys, (nk + 2) * sizeof *k);
        if (k == NULL)
            break;
        keys = k;
        keys[nk++] = strdup((const char *)sqlite3_column_text(gs, 0));
        keys[nk++] = strdup((const char *)sqlite3_column_text(gs, 1));
    }
    for (size_t i = 0; i + 1 < nk; i += 2) {
        const char *chn = keys[i], *rule = keys[i + 1];
        if (chn == NULL || rule == NULL)
            continue;
        const struct cbc_alert_channel *ch = channel(nt->cfg, chn);
        struct group g = {.ch = ch, .rule = rule};
        group_reset(&g);
        sqlite3_reset(ns);
        sqlite3_bind_text(ns, 1, chn, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(ns, 2, rule, -1, SQLITE_TRANSIENT);
        while (sqlite3_step(ns) == SQLITE_ROW) {
            if (ch != NULL)
                made += group_add(nt, &g,
                                  (const char *)sqlite3_column_text(ns, 1),
                                  (const char *)sqlite3_column_text(ns, 2),
                                  sqlite3_column_int(ns, 3), now);
            sqlite3_reset(del);
            sqlite3_bind_int64(del, 1, sqlite3_column_int64(ns, 0));
            sqlite3_step(del);
        }
        /* A channel gone from the config after a reload: its notes are
         * dropped (the routes that chose it are gone too). */
        if (ch != NULL && json_array_size(g.alerts) > 0)
            made += emit(nt, &g, now) == 0;
        json_decref(g.alerts);
        free(g.text);
    }
    for (size_t i = 0; i < nk; i++)
        free(keys[i]);
    free(keys);
    /* Notes still waiting for their group (or none left). */
    sqlite3_finalize(gs);
    gs = NULL;
    if (sqlite3_prepare_v2(nt->db, "SELECT EXISTS(SELECT 1 FROM notes)", -1,
                           &gs, NULL) == SQLITE_OK &&
        sqlite3_step(gs) == SQLITE_ROW)
        nt->maybe_notes = sqlite3_column_int(gs, 0) != 0;
out:
    sqlite3_finalize(gs);
    sqlite3_finalize(ns);
    sqlite3_finalize(del);
    return made;
}
