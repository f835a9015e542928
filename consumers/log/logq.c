/*
 * logq.c -- filters to SQL for `clipbus query` and `clipbus export`
 * (seed tasks 4.1, 10.2; Req 5.1). One statement per query, built from
 * fixed fragments; every user value is a bound parameter, never spliced
 * into the text. The indexes of docs/schema.md serve these shapes: a
 * time range through <table>_ts; a function is resolved through `names`
 * and filters the rows of the time range (no calls(func) index: see
 * docs/schema.md).
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cblbuf.h"
#include "logdb.h"
#include "logq.h"

static const char *const table_names[CBL_T_COUNT] = {
    "calls",    "logs",   "sessions",    "metrics",
    "progress", "losses", "daily_calls", "daily_metrics",
};

const char *
cbl_table_name(int t)
{
    return t >= 0 && t < CBL_T_COUNT ? table_names[t] : "?";
}

int
cbl_table_parse(const char *s)
{
    for (int i = 0; i < CBL_T_COUNT; i++)
        if (strcmp(s, table_names[i]) == 0)
            return i;
    if (strcmp(s, "daily") == 0)
        return CBL_T_DAILY_CALLS;
    return -1;
}

int
cbl_format_parse(const char *s)
{
    static const char *const f[] = {"table", "csv", "json", "jsonl"};
    for (int i = 0; i < 4; i++)
        if (strcmp(s, f[i]) == 0)
            return i;
    return -1;
}

int
cbl_level_parse(const char *s)
{
    static const struct {
        const char *n;
        int v;
    } l[] = {{"debug", 10}, {"info", 20}, {"warn", 30},
             {"warning", 30}, {"error", 40}};
    char *end;
    for (size_t i = 0; i < sizeof l / sizeof l[0]; i++)
        if (strcasecmp(s, l[i].n) == 0)
            return l[i].v;
    long v = strtol(s, &end, 10);
    if (*s && !*end && v >= 0 && v <= 65535)
        return (int)v;
    return -1;
}

/* ---- per table: the select list, joins and filter columns --------------- */

struct tdef {
    const char *select; /* columns and FROM with joins */
    const char *ts;     /* time column for --since/--until, or NULL */
    const char *order;
    const char *name;   /* name id column for --function, or NULL */
    const char *status; /* status expression, or NULL */
    const char *sess;   /* session id column, or NULL */
    const char *level;  /* level column, or NULL */
    const char *grep;   /* LIKE target expression, or NULL */
    const char *prod;   /* producer id column, or NULL */
    int day;            /* 1: ts filters compare the day text */
};

#define STATUS_CALL                                                            \
    "CASE c.status WHEN 0 THEN 'ok' WHEN 1 THEN 'error' ELSE 'aborted' END"
#define STATUS_SESS                                                            \
    "CASE s.status WHEN 0 THEN 'ok' WHEN 1 THEN 'failed' WHEN 2 THEN "         \
    "'aborted' WHEN 3 THEN 'partial' ELSE 'running' END"
#define LEVEL_TEXT                                                             \
    "CASE WHEN l.level >= 40 THEN 'error' WHEN l.level >= 30 THEN 'warn' "    \
    "WHEN l.level >= 20 THEN 'info' ELSE 'debug' END"

static const struct tdef tdefs[CBL_T_COUNT] = {
    [CBL_T_CALLS] =
        {"SELECT c.ts AS time, n.name AS function, c.dur_ns, " STATUS_CALL
         " AS status, c.err_code AS error_code, c.err_msg AS error, "
         "sn.name AS session, c.session AS session_id, p.program, p.pid, "
         "c.tid, c.params, c.perf, c.ts AS ts_ns FROM calls c "
         "JOIN names n ON n.id = c.func "
         "LEFT JOIN producers p ON p.id = c.producer "
         "LEFT JOIN sessions s ON s.id = c.session "
         "LEFT JOIN names sn ON sn.id = s.name",
         "c.ts", "c.ts", "c.func", STATUS_CALL, "c.session", NULL,
         "coalesce(c.err_msg, '') || ' ' || coalesce(c.params, '')",
         "c.producer", 0},
    [CBL_T_LOGS] =
        {"SELECT l.ts AS time, " LEVEL_TEXT " AS level, l.msg AS message, "
         "n.name AS function, sn.name AS session, l.session AS session_id, "
         "p.program, p.pid, l.tid, l.fields, l.ts AS ts_ns FROM logs l "
         "LEFT JOIN names n ON n.id = l.func "
         "LEFT JOIN producers p ON p.id = l.producer "
         "LEFT JOIN sessions s ON s.id = l.session "
         "LEFT JOIN names sn ON sn.id = s.name",
         "l.ts", "l.ts", "l.func", NULL, "l.session", "l.level",
         "l.msg", "l.producer", 0},
    [CBL_T_SESSIONS] =
        {"SELECT s.start_ns AS time, n.name AS session, s.id AS session_id, "
         "s.end_ns AS end_time, " STATUS_SESS " AS status, s.total_weight, "
         "s.done, p.program, p.pid FROM sessions s "
         "LEFT JOIN names n ON n.id = s.name "
         "LEFT JOIN producers p ON p.id = s.producer",
         "s.start_ns", "s.start_ns, s.id", "s.name", STATUS_SESS, "s.id",
         NULL, NULL, "s.producer", 0},
    [CBL_T_METRICS] =
        {"SELECT m.ts AS time, n.name AS metric, ln.name AS labels, "
         "CASE m.kind WHEN 7 THEN 'count' WHEN 8 THEN 'gauge' ELSE "
         "'observe' END AS kind, m.value, p.program, p.pid, m.ts AS ts_ns "
         "FROM metrics m JOIN names n ON n.id = m.name "
         "LEFT JOIN names ln ON ln.id = m.labels "
         "LEFT JOIN producers p ON p.id = m.producer",
         "m.ts", "m.ts", "m.name", NULL, NULL, NULL, NULL,
         "m.producer", 0},
    [CBL_T_PROGRESS] =
        {"SELECT g.ts AS time, sn.name AS session, g.session AS session_id, "
         "st.name AS step, CASE g.kind WHEN 0 THEN 'advance' WHEN 1 THEN "
         "'begin' ELSE 'end' END AS kind, g.units, g.fraction, "
         "g.ts AS ts_ns FROM progress g "
         "LEFT JOIN sessions s ON s.id = g.session "
         "LEFT JOIN names sn ON sn.id = s.name "
         "LEFT JOIN names st ON st.id = g.step",
         "g.ts", "g.ts, g.id", "g.step", NULL, "g.session", NULL, NULL, NULL,
         0},
    [CBL_T_LOSSES] =
        {"SELECT x.ts AS time, x.source, x.count, x.ring, p.program, p.pid, "
         "x.ts AS ts_ns FROM losses x "
         "LEFT JOIN producers p ON p.id = x.producer",
         "x.ts", "x.ts, x.id", NULL, NULL, NULL, NULL, NULL, "x.producer", 0},
    [CBL_T_DAILY_CALLS] =
        {"SELECT d.day, n.name AS function, d.calls, d.errors, d.aborted, "
         "d.dur_sum, d.dur_min, d.dur_max, d.dur_p50, d.dur_p90, d.dur_p99 "
         "FROM daily_calls d JOIN names n ON n.id = d.func",
         "d.day", "d.day, n.name", "d.func", NULL, NULL, NULL, NULL, NULL, 1},
    [CBL_T_DAILY_METRICS] =
        {"SELECT d.day, n.name AS metric, ln.name AS labels, "
         "CASE d.kind WHEN 7 THEN 'count' WHEN 8 THEN 'gauge' ELSE "
         "'observe' END AS kind, d.samples, d.sum, d.min, d.max "
         "FROM daily_metrics d JOIN names n ON n.id = d.name "
         "LEFT JOIN names ln ON ln.id = d.labels",
         "d.day", "d.day, n.name", "d.name", NULL, NULL, NULL, NULL, NULL, 1},
};

static int
is_number(const char *s)
{
    if (!*s)
        return 0;
    for (; *s; s++)
        if (!isdigit((unsigned char)*s))
            return 0;
    return 1;
}

static int
status_ok(int table, const char *s)
{
    static const char *const calls[] = {"ok", "error", "aborted", NULL};
    static const char *const sess[] = {"ok",      "failed",  "aborted",
                                       "partial", "running", NULL};
    const char *const *v = table == CBL_T_CALLS ? calls : sess;
    for (; *v; v++)
        if (strcmp(*v, s) == 0)
            return 1;
    return 0;
}

int
cbl_filter_check(const struct cbl_filter *f, char *err, size_t err_len)
{
    const struct tdef *d = &tdefs[f->table];
    const char *t = table_names[f->table];
    const char *bad = NULL;

    if (f->name && !d->name)
        bad = "--function";
    else if (f->status && !d->status)
        bad = "--status";
    else if (f->session && !d->sess)
        bad = "--session";
    else if (f->level && !d->level)
        bad = "--level";
    else if (f->grep && !d->grep)
        bad = "--grep";
    else if (f->producer && !d->prod)
        bad = "--producer";
    if (bad) {
        snprintf(err, err_len, "%s does not apply to table %s", bad, t);
        return -EINVAL;
    }
    if (f->status && !status_ok(f->table, f->status)) {
        snprintf(err, err_len, "--status '%s' is not one of %s", f->status,
                 f->table == CBL_T_CALLS
                     ? "ok, error, aborted"
                     : "ok, failed, aborted, partial, running");
        return -EINVAL;
    }
    if (f->has_since && f->has_until && f->until <= f->since) {
        snprintf(err, err_len, "--until is not after --since");
        return -EINVAL;
    }
    return 0;
}

/* Appends the WHERE clause; parameters are named (:since ...). */
static void
where(struct cbl_buf *b, const struct cbl_filter *f, const struct tdef *d)
{
    const char *and = " WHERE ";
#define COND(...)                                                              \
    do {                                                                       \
        cbl_buf_add(b, and, strlen(and));                                      \
        cbl_buf_printf(b, __VA_ARGS__);                                        \
        and = " AND ";                                                         \
    } while (0)
    if (f->has_since)
        COND("%s >= :since", d->ts);
    if (f->has_until)
        COND("%s < :until", d->ts);
    if (f->name)
        COND("%s IN (SELECT id FROM names WHERE name GLOB :name)", d->name);
    if (f->status)
        COND("%s = :status", d->status);
    if (f->session)
        COND("%s IN (SELECT s2.id FROM sessions s2 LEFT JOIN names n2 ON "
             "n2.id = s2.name WHERE n2.name GLOB :session OR s2.id = "
             ":session_id)",
             d->sess);
    if (f->level)
        COND("%s >= :level", d->level);
    if (f->grep)
        COND("%s LIKE :grep ESCAPE '\\'", d->grep);
    if (f->producer)
        COND("%s IN (SELECT id FROM producers WHERE program GLOB :producer "
             "OR pid = :pid)",
             d->prod);
#undef COND
}

static void
bind_named(sqlite3_stmt *s, const char *name, const char *text, int64_t iv,
           int is_text)
{
    int i = sqlite3_bind_parameter_index(s, name);
    if (i == 0)
        return;
    if (is_text)
        sqlite3_bind_text(s, i, text, -1, SQLITE_TRANSIENT);
    else
        sqlite3_bind_int64(s, i, iv);
}

/* "%" + s with %, _ and \ escaped + "%", for LIKE ... ESCAPE '\'. */
static char *
like_pattern(const char *s)
{
    size_t n = strlen(s);
    char *p = malloc(2 * n + 3), *q = p;
    if (!p)
        return NULL;
    *q++ = '%';
    for (; *s; s++) {
        if (*s == '%' || *s == '_' || *s == '\\')
            *q++ = '\\';
        *q++ = *s;
    }
    *q++ = '%';
    *q = '\0';
    return p;
}

static void
bind_day(sqlite3_stmt *s, const char *name, int64_t ns)
{
    char day[16];
    cbl_fmt_day(day, sizeof day, ns);
    bind_named(s, name, day, 0, 1);
}

static void
bind_all(sqlite3_stmt *s, const struct cbl_filter *f, const struct tdef *d)
{
    if (d->day) {
        bind_day(s, ":since", f->since);
        bind_day(s, ":until", f->until);
    } else {
        bind_named(s, ":since", NULL, f->since, 0);
        bind_named(s, ":until", NULL, f->until, 0);
    }
    bind_named(s, ":name", f->name, 0, 1);
    bind_named(s, ":status", f->status, 0, 1);
    bind_named(s, ":session", f->session, 0, 1);
    bind_named(s, ":session_id", NULL,
               f->session && is_number(f->session) ? atoll(f->session) : -1,
               0);
    bind_named(s, ":level", NULL, f->level, 0);
    if (f->grep) {
        char *p = like_pattern(f->grep);
        int i = sqlite3_bind_parameter_index(s, ":grep");
        if (p && i)
            sqlite3_bind_text(s, i, p, -1, free);
        else
            free(p);
    }
    bind_named(s, ":producer", f->producer, 0, 1);
    bind_named(s, ":pid", NULL,
               f->producer && is_number(f->producer) ? atoll(f->producer)
                                                     : -1,
               0);
    bind_named(s, ":limit", NULL, f->limit, 0);
}

int
cbl_query_prepare(sqlite3 *h, const struct cbl_filter *f, int count_only,
                  sqlite3_stmt **out, char *err, size_t err_len)
{
    const struct tdef *d = &tdefs[f->table];
    struct cbl_buf b = {0};
    int rc;

    *out = NULL;
    if (cbl_filter_check(f, err, err_len) < 0)
        return -EINVAL;
    if (count_only) {
        cbl_buf_printf(&b, "SELECT count(*) FROM (%s", d->select);
        where(&b, f, d);
        if (f->limit > 0)
            cbl_buf_printf(&b, " LIMIT :limit");
        cbl_buf_addc(&b, ')');
    } else {
        cbl_buf_add(&b, d->select, strlen(d->select));
        where(&b, f, d);
        cbl_buf_printf(&b, " ORDER BY %s", d->order);
        if (f->limit > 0)
            cbl_buf_printf(&b, " LIMIT :limit");
    }
    if (b.failed) {
        cbl_buf_free(&b);
        snprintf(err, err_len, "out of memory");
        return -ENOMEM;
    }
    rc = sqlite3_prepare_v2(h, b.p, -1, out, NULL);
    cbl_buf_free(&b);
    if (rc != SQLITE_OK) {
        snprintf(err, err_len, "%s", sqlite3_errmsg(h));
        return -EIO;
    }
    bind_all(*out, f, d);
    return 0;
}
