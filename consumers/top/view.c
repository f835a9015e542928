/*
 * view.c -- clipbus-top's tables and frames (top.h).
 *
 * A view is a table: columns with a width and a priority, rows of cells
 * with numeric sort keys. A frame is what fits the terminal: the header
 * flowed into as many lines as the width needs (at 40 columns it stacks),
 * the table with the columns of lowest priority dropped until the rest
 * fits, rows filtered and sorted, cut to the height, and a status line.
 * Every line is cut to the width, so nothing ever wraps.
 */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <clipbus/reader.h>

#include "top.h"

static const char *const view_names[V_COUNT] = {
    "functions", "sessions", "metrics", "consumers", "errors"};

const char *
top_view_name(int v)
{
    return v >= 0 && v < V_COUNT ? view_names[v] : "?";
}

int
top_view_parse(const char *name)
{
    for (int v = 0; v < V_COUNT; v++)
        if (strcmp(name, view_names[v]) == 0)
            return v;
    return -1;
}

/* clang-format off */
static const struct top_col fn_cols[] = {
    {"FUNCTION", 12, 0, 0}, {"CALLS/S", 9, 1, 1}, {"ERR%", 6, 2, 1},
    {"P50", 8, 3, 1}, {"P95", 8, 5, 1}, {"P99", 8, 4, 1},
    {"INFL", 5, 6, 1}, {"LONGEST", 8, 7, 1}, {"CALLS", 9, 8, 1},
    {"ERRORS", 8, 9, 1}};
static const struct top_col ses_cols[] = {
    {"SESSION", 10, 0, 0}, {"PROGRAM/PID", 21, 4, 0}, {"STATE", 9, 2, 0},
    {"DONE%", 6, 1, 1}, {"STEP", 14, 6, 0}, {"IT/S", 8, 5, 1},
    {"ELAPSED", 8, 7, 1}, {"ETA", 9, 3, 1}};
static const struct top_col met_cols[] = {
    {"METRIC", 12, 0, 0}, {"KIND", 8, 2, 0}, {"VALUE", 11, 1, 1},
    {"MIN", 10, 4, 1}, {"MAX", 10, 3, 1}, {"N", 8, 5, 1},
    {"LABELS", 16, 6, 0}};
static const struct top_col con_cols[] = {
    {"CONSUMER", 12, 0, 0}, {"PID", 8, 3, 1}, {"LAG", 9, 1, 1},
    {"LOST", 9, 2, 1}, {"REC/S", 9, 4, 1}, {"HEARTBEAT", 9, 5, 1},
    {"SINK", 20, 6, 0}};
static const struct top_col err_cols[] = {
    {"TIME", 8, 1, 0}, {"PROGRAM/PID", 21, 3, 0}, {"FUNCTION", 14, 2, 0},
    {"CODE", 6, 4, 1}, {"MESSAGE", 12, 0, 0}};
/* clang-format on */

static const struct {
    const struct top_col *cols;
    int n;
    int dflt_sort; /* column sorted by at start */
    int dflt_asc;
} views[V_COUNT] = {
    {fn_cols, 10, 1, 0}, {ses_cols, 8, 3, 0}, {met_cols, 7, 0, 1},
    {con_cols, 7, 0, 1}, {err_cols, 5, 0, 0}};

int
top_view_ncols(int v)
{
    return views[v].n;
}

/* ---- formatting --------------------------------------------------------- */

static void
fmt_dur(char *b, size_t n, uint64_t ns)
{
    if (ns < 1000)
        snprintf(b, n, "%lluns", (unsigned long long)ns);
    else if (ns < 1000000)
        snprintf(b, n, "%.1fus", (double)ns / 1e3);
    else if (ns < 1000000000)
        snprintf(b, n, "%.1fms", (double)ns / 1e6);
    else
        snprintf(b, n, "%.2fs", (double)ns / 1e9);
}

static void
fmt_num(char *b, size_t n, double v)
{
    if (fabs(v) >= 1e9)
        snprintf(b, n, "%.2fG", v / 1e9);
    else if (fabs(v) >= 1e6)
        snprintf(b, n, "%.2fM", v / 1e6);
    else if (fabs(v) >= 1e4)
        snprintf(b, n, "%.1fk", v / 1e3);
    else if (v == floor(v))
        snprintf(b, n, "%.0f", v);
    else
        snprintf(b, n, "%.2f", v);
}

static struct top_row *
add_row(struct top_table *t)
{
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 32;
        struct top_row *r = realloc(t->rows, cap * sizeof *r);
        if (r == NULL)
            return NULL;
        t->rows = r;
        t->cap = cap;
    }
    struct top_row *r = &t->rows[t->n++];
    memset(r, 0, sizeof *r);
    for (int i = 0; i < TOP_COLS_MAX; i++)
        r->key[i] = NAN;
    return r;
}

#define CELL(r, i, ...) snprintf((r)->cell[i], TOP_CELL, __VA_ARGS__)

/* ---- the tables ----------------------------------------------------------- */

static void
build_functions(struct top_model *m, struct top_table *t)
{
    struct top_fig f;
    char a[32];
    for (size_t i = 0; i < m->nkeys; i++) {
        struct top_key *k = &m->keys[i];
        if (k->kind != CB_AGG_FUNCTION)
            continue;
        struct top_row *r = add_row(t);
        if (r == NULL)
            return;
        top_key_figures(m, k, &f);
        CELL(r, 0, "%s", k->name);
        CELL(r, 1, "%.1f", f.calls_per_s), r->key[1] = f.calls_per_s;
        CELL(r, 2, "%.1f", 100 * f.err_rate), r->key[2] = f.err_rate;
        fmt_dur(a, sizeof a, f.p50), CELL(r, 3, "%s", f.calls ? a : "-");
        fmt_dur(a, sizeof a, f.p95), CELL(r, 4, "%s", f.calls ? a : "-");
        fmt_dur(a, sizeof a, f.p99), CELL(r, 5, "%s", f.calls ? a : "-");
        r->key[3] = (double)f.p50, r->key[4] = (double)f.p95;
        r->key[5] = (double)f.p99;
        CELL(r, 6, "%u", k->inflight), r->key[6] = k->inflight;
        fmt_dur(a, sizeof a, k->longest_ns);
        CELL(r, 7, "%s", k->longest_ns ? a : "-");
        r->key[7] = (double)k->longest_ns;
        CELL(r, 8, "%llu", (unsigned long long)k->total_calls);
        r->key[8] = (double)k->total_calls;
        CELL(r, 9, "%llu", (unsigned long long)k->total_errors);
        r->key[9] = (double)k->total_errors;
        r->attr = f.err_rate > 0.05 ? TOP_A_BAD : TOP_A_NORMAL;
    }
}

static void
build_sessions(struct top_model *m, struct top_table *t)
{
    char a[32];
    for (size_t i = 0; i < m->sessions.n; i++) {
        const struct cbp_session *s = &m->sessions.v[i];
        struct top_row *r = add_row(t);
        double fr = cbp_session_fraction(s), eta;
        uint64_t end = s->end_ns ? s->end_ns : m->now_ns;
        if (r == NULL)
            return;
        top_safe(r->cell[0], TOP_CELL, s->name, sizeof s->name);
        char prog[24];
        top_safe(prog, sizeof prog, s->program, sizeof s->program);
        CELL(r, 1, "%s/%u", prog, s->pid), r->key[1] = s->pid;
        CELL(r, 2, "%s", s->stalled ? "STALLED" : cbp_state_name(s->state));
        if (fr >= 0)
            CELL(r, 3, "%.1f", 100 * fr), r->key[3] = fr;
        else
            CELL(r, 3, "?");
        top_safe(r->cell[4], TOP_CELL, cbp_session_step(s), CBP_NAME_MAX);
        CELL(r, 5, "%.1f", cbp_session_items_rate(s, m->now_ns));
        r->key[5] = cbp_session_items_rate(s, m->now_ns);
        double el = end > s->begin_ns ? (double)(end - s->begin_ns) / 1e9 : 0;
        CELL(r, 6, "%s", cbp_fmt_secs(a, sizeof a, el)), r->key[6] = el;
        if (cbp_session_eta(s, m->now_ns, &eta) == 0)
            CELL(r, 7, "%s", cbp_fmt_secs(a, sizeof a, eta)), r->key[7] = eta;
        else
            CELL(r, 7, "%s", s->state == CBP_RUNNING ? "unknown" : "-");
        r->attr = s->state == CBP_ABORTED || s->state == CBP_FAILED
                      ? TOP_A_BAD
                  : s->stalled || s->state == CBP_PARTIAL ? TOP_A_WARN
                  : s->state == CBP_OK                    ? TOP_A_GOOD
                                                          : TOP_A_NORMAL;
    }
}

static void
build_metrics(struct top_model *m, struct top_table *t)
{
    struct top_fig f;
    char a[32], b[32], c[32];
    for (size_t i = 0; i < m->nkeys; i++) {
        struct top_key *k = &m->keys[i];
        if (k->kind == CB_AGG_FUNCTION || k->kind == 0)
            continue;
        struct top_row *r = add_row(t);
        if (r == NULL)
            return;
        top_key_figures(m, k, &f);
        CELL(r, 0, "%s", k->name);
        CELL(r, 1, "%s", cb_agg_kind_name(k->kind));
        CELL(r, 6, "%s", k->labels);
        if (k->kind == CB_AGG_COUNTER) {
            fmt_num(a, sizeof a, f.rate_per_s);
            CELL(r, 2, "%s/s", a), r->key[2] = f.rate_per_s;
            CELL(r, 5, "%llu", (unsigned long long)f.calls);
        } else if (k->kind == CB_AGG_GAUGE) {
            fmt_num(a, sizeof a, k->g_last), fmt_num(b, sizeof b, k->g_min);
            fmt_num(c, sizeof c, k->g_max);
            CELL(r, 2, "%s", a), CELL(r, 3, "%s", b), CELL(r, 4, "%s", c);
            r->key[2] = k->g_last, r->key[3] = k->g_min, r->key[4] = k->g_max;
            CELL(r, 5, "%llu", (unsigned long long)k->g_n);
        } else { /* observe: p50 of the samples */
            fmt_num(a, sizeof a, (double)f.p50 / CB_AGG_OBSERVE_SCALE);
            CELL(r, 2, "p50 %s", a), r->key[2] = (double)f.p50;
            CELL(r, 5, "%llu", (unsigned long long)f.calls);
        }
    }
}

static void
build_consumers(struct top_model *m, struct top_table *t)
{
    for (size_t i = 0; i < m->nconsumers; i++) {
        const struct top_consumer *c = &m->consumers[i];
        struct top_row *r = add_row(t);
        if (r == NULL)
            return;
        CELL(r, 0, "%s", c->program);
        CELL(r, 1, "%u", c->pid), r->key[1] = c->pid;
        CELL(r, 2, "%llu", (unsigned long long)c->lag), r->key[2] = (double)c->lag;
        CELL(r, 3, "%llu", (unsigned long long)c->lost),
            r->key[3] = (double)c->lost;
        CELL(r, 4, "%llu", (unsigned long long)c->records_per_s);
        r->key[4] = (double)c->records_per_s;
        CELL(r, 5, "%.1fs", (double)c->heartbeat_age_ms / 1e3);
        r->key[5] = (double)c->heartbeat_age_ms;
        CELL(r, 6, "%s", c->sink);
        r->attr = c->lost ? TOP_A_BAD
                  : c->heartbeat_age_ms > 5000 ? TOP_A_WARN : TOP_A_NORMAL;
    }
}

static void
build_errors(struct top_model *m, struct top_table *t)
{
    for (size_t i = 0; i < m->errs_n; i++) {
        size_t at = (m->errs_head + m->errs_cap - 1 - i) % m->errs_cap;
        const struct top_error *e = &m->errors[at];
        struct top_row *r = add_row(t);
        time_t s = (time_t)(e->wall_ns / 1000000000u);
        struct tm tm;
        if (r == NULL)
            return;
        localtime_r(&s, &tm);
        CELL(r, 0, "%02d:%02d:%02d", tm.tm_hour, tm.tm_min, tm.tm_sec);
        r->key[0] = (double)e->wall_ns;
        CELL(r, 1, "%.20s/%u", e->program, e->pid);
        CELL(r, 2, "%s", e->fn);
        CELL(r, 3, "%d", e->code), r->key[3] = e->code;
        CELL(r, 4, "%s", e->msg);
        r->attr = TOP_A_BAD;
    }
}

void
top_tables_build(struct top_model *m, struct top_table t[V_COUNT])
{
    static const char *const empty[V_COUNT] = {
        "no monitored calls yet", "no sessions yet", "no metrics yet",
        "no consumer status segments", "no errors so far"};
    for (int v = 0; v < V_COUNT; v++) {
        t[v].n = 0;
        t[v].cols = views[v].cols;
        t[v].ncols = views[v].n;
        t[v].empty = empty[v];
    }
    build_functions(m, &t[V_FUNCTIONS]);
    build_sessions(m, &t[V_SESSIONS]);
    build_metrics(m, &t[V_METRICS]);
    build_consumers(m, &t[V_CONSUMERS]);
    build_errors(m, &t[V_ERRORS]);
}

void
top_tables_free(struct top_table t[V_COUNT])
{
    for (int v = 0; v < V_COUNT; v++) {
        free(t[v].rows);
        memset(&t[v], 0, sizeof t[v]);
    }
}

/* ---- frames --------------------------------------------------------------- */

static void
put(struct top_frame *f, int width, int attr, const char *text)
{
    if (f->n == f->cap) {
        int cap = f->cap ? f->cap * 2 : 64;
        struct top_line *l = realloc(f->lines, (size_t)cap * sizeof *l);
        if (l == NULL)
            return;
        f->lines = l;
        f->cap = cap;
    }
    struct top_line *l = &f->lines[f->n++];
    int w = width > 0 ? width : 1;
    if (w > (int)sizeof l->text - 1)
        w = (int)sizeof l->text - 1;
    {
        /* Cut to the width (bytes, as before: the views' texts are
         * ASCII but for names, which the table cells cut themselves). */
        size_t n = strnlen(text, (size_t)w);
        memcpy(l->text, text, n);
        l->text[n] = '\0';
    }
    l->attr = attr;
}

/* Flows "chips" (short texts) into lines no wider than width. */
static void
flow(struct top_frame *f, int width, int attr, const char *const *chips,
     int n, int max_lines)
{
    char line[512];
    int len = 0, lines = 0;
    line[0] = '\0';
    for (int i = 0; i < n && lines < max_lines; i++) {
        int cl = (int)strlen(chips[i]);
        if (len > 0 && len + 2 + cl > width) {
            put(f, width, attr, line);
            lines++;
            len = 0;
            line[0] = '\0';
            if (lines >= max_lines)
                break;
        }
        len += snprintf(line + len, sizeof line - (size_t)len, "%s%s",
                        len ? "  " : "", chips[i]);
        if (len >= (int)sizeof line)
            len = (int)sizeof line - 1;
    }
    if (len > 0 && lines < max_lines)
        put(f, width, attr, line);
}

static void
header(const struct top_model *m, const struct top_ui *ui, int width,
       int max_lines, struct top_frame *f)
{
    char c[8 + 16][96];
    const char *chips[8 + 16];
    int n = 0, alive = 0, exited = 0, dead = 0, running = 0;
    time_t now = (time_t)(m->now_ns / 1000000000u);
    struct tm tm;

    localtime_r(&now, &tm);
    for (size_t i = 0; i < m->nprods; i++) {
        alive += m->prods[i].state == CB_PRODUCER_ALIVE;
        exited += m->prods[i].state == CB_PRODUCER_EXITED;
        dead += m->prods[i].state == CB_PRODUCER_DEAD;
    }
    for (size_t i = 0; i < m->sessions.n; i++)
        running += m->sessions.v[i].state == CBP_RUNNING;
    snprintf(c[n++], 96, "clipbus-top %s%s", m->bus,
             ui->paused ? " [PAUSED]" : "");
    snprintf(c[n++], 96, "%02d:%02d:%02d", tm.tm_hour, tm.tm_min, tm.tm_sec);
    snprintf(c[n++], 96, "producers: %d alive, %d exited, %d dead", alive,
             exited, dead);
    snprintf(c[n++], 96, "rec/s %llu", (unsigned long long)m->records_per_s);
    snprintf(c[n++], 96, "lost %llu",
             (unsigned long long)(m->lost + m->handoff_lost));
    snprintf(c[n++], 96, "sessions %d running", running);
    snprintf(c[n++], 96, "errors %llu", (unsigned long long)m->errors_total);
    for (size_t i = 0; i < m->nprods && n < 8 + 16; i++) {
        const struct top_producer *p = &m->prods[m->nprods - 1 - i];
        snprintf(c[n++], 96, "%.30s/%u:%s", p->program, p->pid,
                 p->state == CB_PRODUCER_ALIVE    ? "alive"
                 : p->state == CB_PRODUCER_EXITED ? "exited"
                                                  : "DEAD");
    }
    for (int i = 0; i < n; i++)
        chips[i] = c[i];
    flow(f, width, TOP_A_TITLE, chips, n, max_lines);
}

/* Picks the columns that fit: by priority, the first column flexible. */
static int
fit_columns(const struct top_table *t, int width, int *use, int *w0)
{
    int total = t->cols[0].width, order[TOP_COLS_MAX], n = 0;
    for (int i = 0; i < t->ncols; i++)
        use[i] = i == 0;
    for (int p = 1; p < 16; p++)
        for (int i = 1; i < t->ncols; i++)
            if (t->cols[i].prio == p)
                order[n++] = i;
    for (int j = 0; j < n; j++) {
        int i = order[j];
        if (total + 1 + t->cols[i].width <= width) {
            use[i] = 1;
            total += 1 + t->cols[i].width;
        }
    }
    *w0 = t->cols[0].width + (width - total);
    if (*w0 > 60)
        *w0 = 60;
    return total;
}

static void
format_row(const struct top_table *t, const int *use, int w0,
           const char (*cells)[TOP_CELL], char *out, size_t len)
{
    int at = 0;
    for (int i = 0; i < t->ncols && (size_t)at < len; i++) {
        if (!use[i])
            continue;
        int w = i == 0 ? w0 : t->cols[i].width;
        char cell[TOP_CELL];
        snprintf(cell, sizeof cell, "%s", cells[i]);
        if ((int)strlen(cell) > w && w > 0) { /* cut, marked with '~' */
            cell[w - 1] = '~';
            cell[w] = '\0';
        }
        at += snprintf(out + at, len - (size_t)at, "%s%*s%-*s", at ? " " : "",
                       t->cols[i].right ? w : 0, t->cols[i].right ? cell : "",
                       t->cols[i].right ? 0 : w, t->cols[i].right ? "" : cell);
    }
}

static int g_col, g_asc; /* qsort context: one worker thread */

static int
cmp_rows(const void *a, const void *b)
{
    const struct top_row *x = a, *y = b;
    double kx = x->key[g_col], ky = y->key[g_col];
    int c;
    if (!isnan(kx) && !isnan(ky))
        c = kx < ky ? -1 : kx > ky;
    else if (isnan(kx) != isnan(ky))
        c = isnan(kx) ? -1 : 1;
    else
        c = strcasecmp(x->cell[g_col], y->cell[g_col]);
    if (c == 0)
        c = strcmp(x->cell[0], y->cell[0]);
    return g_asc ? c : -c;
}

static int
row_matches(const struct top_table *t, const struct top_row *r,
            const char *filter)
{
    if (filter[0] == '\0')
        return 1;
    for (int i = 0; i < t->ncols; i++)
        if (strcasestr(r->cell[i], filter) != NULL)
            return 1;
    return 0;
}

static void
help_screen(int width, struct top_frame *f)
{
    static const char *const lines[] = {
        "clipbus-top help (any key returns)",
        "",
        "f s m c e  views: functions, sessions, metrics,",
        "           consumers, recent errors; Tab: next view",
        "< >        sort by the column left / right",
        "1-9        sort by column N; r: reverse order",
        "/          filter rows by text (Enter keeps it,",
        "           Esc clears it)",
        "p, space   pause / resume refreshing",
        "h, ?       this help;  q: quit",
        "",
        "Rates and percentiles cover the last span/2..span",
        "of record time (top.span, default 10s).",
    };
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++)
        put(f, width, i == 0 ? TOP_A_TITLE : TOP_A_NORMAL, lines[i]);
}

static void
empty_state(const struct top_model *m, int width, struct top_frame *f)
{
    char a[160], b[160];
    snprintf(a, sizeof a, "No producers on bus '%s' yet.", m->bus);
    snprintf(b, sizeof b, "Start one with CLIPBUS_BUS=%s (e.g. clip-analyzer);",
             m->bus);
    put(f, width, TOP_A_NORMAL, a);
    put(f, width, TOP_A_NORMAL, b);
    put(f, width, TOP_A_NORMAL, "'clipbus status' lists the buses in use.");
}

static void
status_line(const struct top_ui *ui, const struct top_table *t, int width,
            struct top_frame *f)
{
    char s[512];
    if (ui->filtering)
        snprintf(s, sizeof s, "filter: %s_  (Enter keep, Esc clear)",
                 ui->filter);
    else
        snprintf(s, sizeof s, "[%s] sort %s%s%s%s  h:help q:quit",
                 top_view_name(ui->view), t->cols[ui->sort_col[ui->view]].title,
                 ui->sort_asc[ui->view] ? "^" : "v",
                 ui->filter[0] ? "  filter: " : "", ui->filter);
    put(f, width, TOP_A_HEAD, s);
}

void
top_frame_build(const struct top_model *m, struct top_table tables[V_COUNT],
                const struct top_ui *ui, int width, int height,
                struct top_frame *f)
{
    struct top_table *t = &tables[ui->view];
    char line[1024], titles[TOP_COLS_MAX][TOP_CELL];
    int use[TOP_COLS_MAX], w0;

    f->n = 0;
    if (width < 1)
        width = 1;
    if (ui->help) {
        help_screen(width, f);
        return;
    }
    header(m, ui, width, height ? (height > 12 ? 4 : 3) : 6, f);
    if (m->nprods == 0 && ui->view != V_CONSUMERS) {
        empty_state(m, width, f);
        status_line(ui, t, width, f);
        return;
    }
    fit_columns(t, width, use, &w0);
    g_col = ui->sort_col[ui->view];
    g_asc = ui->sort_asc[ui->view];
    if (t->n > 1)
        qsort(t->rows, t->n, sizeof t->rows[0], cmp_rows);
    for (int i = 0; i < t->ncols; i++)
        snprintf(titles[i], TOP_CELL, "%s%s", t->cols[i].title,
                 i == g_col ? (g_asc ? "^" : "v") : "");
    format_row(t, use, w0, (const char(*)[TOP_CELL])titles, line,
               sizeof line);
    put(f, width, TOP_A_HEAD, line);
    int room = height ? height - f->n - 1 : (int)t->n + 1, shown = 0;
    for (size_t i = 0; i < t->n && shown < room; i++) {
        if (!row_matches(t, &t->rows[i], ui->filter))
            continue;
        format_row(t, use, w0, (const char(*)[TOP_CELL])t->rows[i].cell, line,
                   sizeof line);
        put(f, width, t->rows[i].attr, line);
        shown++;
    }
    if (t->n == 0 && room > 0)
        put(f, width, TOP_A_DIM, t->empty);
    if (height) /* pad so the status line sits at the bottom */
        while (f->n < height - 1)
            put(f, width, TOP_A_NORMAL, "");
    status_line(ui, t, width, f);
}

void
top_frame_free(struct top_frame *f)
{
    free(f->lines);
    memset(f, 0, sizeof *f);
}
