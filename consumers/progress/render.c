/*
 * render.c -- clipbus-progress output: bars on a terminal, plain lines
 * elsewhere, and the JSON snapshot.
 *
 * TERMINAL. The bars occupy the last `drawn` rows above the cursor. A
 * redraw moves the cursor up over them, clears to the end of the screen
 * and writes them again; lines that must stay (log lines, a session's
 * final line) are written first, in the cleared space, so they scroll up
 * above the bars and are never overwritten. Every row is cut to the
 * terminal width minus one, so no row ever wraps and the count of rows to
 * move up is exact; after a resize the rows drawn for the old width are
 * re-counted for the new one (a terminal that re-wraps long rows on
 * shrinking makes them taller).
 *
 * Names come from producers, i.e. from untrusted shared memory: every
 * byte outside printable ASCII is shown as '?', so a hostile name cannot
 * move the cursor or change the terminal's state.
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "progress.h"

#define ESC "\x1b"

static const char *
state_color(const struct cbp_session *s)
{
    if (s->state == CBP_ABORTED || s->state == CBP_FAILED)
        return ESC "[31m";
    if (s->stalled || s->state == CBP_PARTIAL)
        return ESC "[33m";
    if (s->state == CBP_OK)
        return ESC "[32m";
    return "";
}

static int
term_width(const struct cbp_app *a)
{
    struct winsize ws;
    if (ioctl(fileno(a->out), TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
        return ws.ws_col;
    return 80;
}

/* Copies src into dst (cap bytes), printable ASCII only, at most `max`
 * characters; a cut name ends in '~'. Returns the length. */
static int
safe_copy(char *dst, size_t cap, const char *src, int max)
{
    int n = 0, len = (int)strlen(src);
    if (max < 0)
        max = 0;
    if ((size_t)max >= cap)
        max = (int)cap - 1;
    for (; n < max && n < len; n++) {
        unsigned char c = (unsigned char)src[n];
        dst[n] = c >= 0x20 && c < 0x7f ? (char)c : '?';
    }
    if (len > max && max > 0)
        dst[max - 1] = '~';
    dst[n] = '\0';
    return n;
}

static void
label_of(const struct cbp_session *s, char *buf, size_t len)
{
    char name[CBP_NAME_MAX], prog[64];
    safe_copy(name, sizeof name, s->name, (int)sizeof name - 1);
    safe_copy(prog, sizeof prog, s->program, (int)sizeof prog - 1);
    snprintf(buf, len, "%s (%s/%u)", name, prog[0] ? prog : "?", s->pid);
}

static void
eta_text(const struct cbp_session *s, uint64_t now, char *buf, size_t len)
{
    char t[16];
    double eta;

    switch (s->state) {
    case CBP_ABORTED:
        snprintf(buf, len, " !! ABORTED (producer died)");
        return;
    case CBP_OK:
    case CBP_FAILED:
    case CBP_PARTIAL:
        snprintf(buf, len, " %s in %s", cbp_state_name(s->state),
                 cbp_fmt_secs(t, sizeof t,
                              (double)(s->end_ns - s->begin_ns) / 1e9));
        return;
    default:
        break;
    }
    if (s->stalled) {
        char why[96];
        safe_copy(why, sizeof why, s->stall_why, (int)sizeof why - 1);
        snprintf(buf, len, " STALLED: %s", why);
    } else if (cbp_session_eta(s, now, &eta) == 0) {
        snprintf(buf, len, " ETA %s", cbp_fmt_secs(t, sizeof t, eta));
    } else {
        snprintf(buf, len, " ETA unknown");
    }
}

static int
append(char *buf, size_t len, int at, const char *s)
{
    int n = snprintf(buf + at, len - (size_t)at, "%s", s);
    return n < 0 ? at : at + n;
}

/* Row layout, by priority: label (at least 8 columns), percentage and
 * ETA always; then, while they fit, elapsed time, items/s, the current
 * step and the bar (which takes what is left, up to 40 columns). */
int
cbp_format_bar(const struct cbp_app *a, const struct cbp_session *s,
               uint64_t now, int width, char *buf, size_t len)
{
    char label[200], pct[16], eta[128], el[24], rate[32], step[96], t[16];
    double f = cbp_session_fraction(s);
    uint64_t end = s->end_ns ? s->end_ns : now;
    int w = width - 1;
    (void)a;

    label_of(s, label, sizeof label);
    if (f >= 0)
        snprintf(pct, sizeof pct, " %5.1f%%", f * 100);
    else
        snprintf(pct, sizeof pct, " %.4gu", s->done);
    eta_text(s, now, eta, sizeof eta);
    snprintf(el, sizeof el, " %s",
             cbp_fmt_secs(t, sizeof t,
                          end > s->begin_ns ? (double)(end - s->begin_ns) / 1e9
                                            : 0));
    snprintf(rate, sizeof rate, " %.1fit/s", cbp_session_items_rate(s, now));
    step[0] = '\0';
    if (cbp_session_step(s)[0]) {
        char sn[64];
        safe_copy(sn, sizeof sn, cbp_session_step(s), 24);
        snprintf(step, sizeof step, " <%s>", sn);
    }
    int lab = (int)strlen(label), fixed = (int)(strlen(pct) + strlen(eta));
    int minlab = lab < 8 ? lab : 8;
    int room = w - minlab - fixed;
    int use_el = room >= (int)strlen(el), use_rate, use_step, bar = 0;
    room -= use_el ? (int)strlen(el) : 0;
    use_rate = room >= (int)strlen(rate);
    room -= use_rate ? (int)strlen(rate) : 0;
    use_step = step[0] && room >= (int)strlen(step);
    room -= use_step ? (int)strlen(step) : 0;
    /* The label gets what it needs, the bar the rest (10..40 columns). */
    int extra = room - (lab - minlab);
    if (extra >= 13 && f >= 0)
        bar = extra - 3 > 40 ? 40 : extra - 3;
    room -= bar ? bar + 3 : 0;
    int lw = minlab + (room > 0 ? room : 0);
    if (lw > lab)
        lw = lab;

    int at = safe_copy(buf, len, label, lw);
    if (bar) {
        int fill = (int)floor(f * bar + 1e-9);
        at = append(buf, len, at, " [");
        for (int i = 0; i < bar && (size_t)at + 2 < len; i++)
            buf[at++] = i < fill ? '#' : '.';
        buf[at] = '\0';
        at = append(buf, len, at, "]");
    }
    at = append(buf, len, at, pct);
    if (use_step)
        at = append(buf, len, at, step);
    if (use_rate)
        at = append(buf, len, at, rate);
    if (use_el)
        at = append(buf, len, at, el);
    at = append(buf, len, at, eta);
    if (at > w && w >= 0) { /* the fixed parts alone are too wide */
        buf[w] = '\0';
        at = w;
    }
    return at;
}

/* Moves the cursor to the top of the drawn bars and clears from there. */
static void
clear_bars(struct cbp_app *a)
{
    int width = term_width(a), rows = 0;

    for (int i = 0; i < a->drawn && i < 256; i++) {
        int l = a->drawn_len[i];
        /* A row as wide as the new width or wider may have wrapped. */
        rows += width > 0 && l >= width ? (l + width - 1) / width : 1;
    }
    if (rows > 0)
        fprintf(a->out, "\r" ESC "[%dA", rows);
    fputs("\r" ESC "[J", a->out);
    a->drawn = 0;
}

/* cut: 1 to cut the line to the width (0: it already fits, and may hold
 * colour sequences that must not be cut off). */
static void
out_line(struct cbp_app *a, const char *line, int cut)
{
    if (a->bad_output)
        return;
    if (a->tty) {
        /* Cut to the width like the bars: a wrapped line would throw off
         * the count of rows to move up over. */
        clear_bars(a);
        a->dirty = 1;
        fprintf(a->out, "%.*s\n", cut ? term_width(a) - 1 : INT_MAX, line);
    } else {
        fputs(line, a->out);
        fputc('\n', a->out);
    }
    if (!a->tty && fflush(a->out) != 0)
        a->bad_output = 1;
}

void
cbp_out_line(struct cbp_app *a, const char *line)
{
    out_line(a, line, 1);
}

void
cbp_out_ended(struct cbp_app *a, const struct cbp_session *s)
{
    char line[512], row[400];
    int width = a->tty ? term_width(a) : 400;

    cbp_format_bar(a, s, s->end_ns, width, row, sizeof row);
    if (a->tty && a->color)
        snprintf(line, sizeof line, "%s%s" ESC "[0m", state_color(s), row);
    else if (a->tty)
        snprintf(line, sizeof line, "%s", row);
    else
        snprintf(line, sizeof line, "end %s", row);
    out_line(a, line, 0);
}

void
cbp_draw_bars(struct cbp_app *a, uint64_t now)
{
    char row[1024];
    int width = term_width(a);
    size_t shown = 0;

    if (a->bad_output)
        return;
    clear_bars(a);
    for (size_t i = 0; i < a->sessions.n && a->drawn < 255; i++) {
        const struct cbp_session *s = &a->sessions.v[i];
        if (s->state != CBP_RUNNING)
            continue;
        int n = cbp_format_bar(a, s, now, width, row, sizeof row);
        if (a->color && state_color(s)[0])
            fprintf(a->out, "%s%s" ESC "[0m\n", state_color(s), row);
        else
            fprintf(a->out, "%s\n", row);
        a->drawn_len[a->drawn++] = n;
        shown++;
    }
    if (shown == 0) {
        int n = snprintf(row, sizeof row, "%.*s", width > 1 ? width - 1 : 0,
                         "clipbus-progress: no running session (start a "
                         "program that calls cb_session_begin)");
        fprintf(a->out, "%s\n", row);
        a->drawn_len[a->drawn++] = n;
    }
    a->drawn_width = width;
    if (fflush(a->out) != 0)
        a->bad_output = 1;
    a->dirty = 0;
}

void
cbp_print_lines(struct cbp_app *a, uint64_t now)
{
    char row[1024], line[1100];

    for (size_t i = 0; i < a->sessions.n; i++) {
        const struct cbp_session *s = &a->sessions.v[i];
        if (s->state != CBP_RUNNING)
            continue;
        cbp_format_bar(a, s, now, 400, row, sizeof row);
        snprintf(line, sizeof line, "progress %s", row);
        cbp_out_line(a, line);
    }
}

void
cbp_term_restore(struct cbp_app *a)
{
    if (a->tty && !a->bad_output) {
        fputs(ESC "[0m" ESC "[?25h", a->out);
        fflush(a->out);
    }
}

/* ---- JSON snapshot ------------------------------------------------------- */

static json_t *
num_or_null(int known, double v)
{
    return known && isfinite(v) ? json_real(v) : json_null();
}

static json_t *
session_json(const struct cbp_session *s, uint64_t now)
{
    char name[CBP_NAME_MAX], prog[64], step[CBP_NAME_MAX], why[96];
    double f = cbp_session_fraction(s), rate = cbp_session_rate(s), eta = 0;
    int eta_ok = cbp_session_eta(s, now, &eta) == 0;
    uint64_t end = s->end_ns ? s->end_ns : now;

    safe_copy(name, sizeof name, s->name, (int)sizeof name - 1);
    safe_copy(prog, sizeof prog, s->program, (int)sizeof prog - 1);
    safe_copy(step, sizeof step, cbp_session_step(s), (int)sizeof step - 1);
    safe_copy(why, sizeof why, s->stall_why, (int)sizeof why - 1);
    return json_pack(
        "{s:s, s:s, s:I, s:I, s:s, s:b, s:s?, s:o, s:f, s:o, s:I, s:f, "
        "s:o, s:f, s:o, s:s, s:I, s:o}",
        "name", name, "program", prog, "pid", (json_int_t)s->pid,
        "session", (json_int_t)s->id, "state", cbp_state_name(s->state),
        "stalled", s->stalled, "stall_reason", s->stalled ? why : NULL,
        "total", num_or_null(s->total > 0, s->total), "done", s->done,
        "fraction", num_or_null(f >= 0, f), "items", (json_int_t)s->items,
        "items_per_s", cbp_session_items_rate(s, now), "units_per_s",
        num_or_null(rate >= 0, rate), "elapsed_s",
        end > s->begin_ns ? (double)(end - s->begin_ns) / 1e9 : 0.0, "eta_s",
        num_or_null(eta_ok, eta), "step", step, "begin_ns",
        (json_int_t)s->begin_ns, "end_ns",
        s->end_ns ? json_integer((json_int_t)s->end_ns) : json_null());
}

/* An unchanged snapshot is rewritten only this often, so that time_ns
 * still tells a reader the program is there; otherwise an idle progress
 * would create a file a second, disk writes and all. */
#define JSON_SAME_REWRITE_NS (60ull * 1000000000u)

int
cbp_write_json(struct cbp_app *a, uint64_t now, int force)
{
    char tmp[4200];
    json_t *root, *arr;
    char *body;
    int rc = 0;

    if (a->json_path == NULL)
        return 0;
    arr = json_array();
    for (size_t i = 0; i < a->sessions.n; i++)
        json_array_append_new(arr, session_json(&a->sessions.v[i], now));
    root = json_pack("{s:s, s:I, s:o}", "eta_estimator",
                     cbp_eta_kind_name(a->sessions.o.eta.kind),
                     "sessions_dropped", (json_int_t)a->sessions.dropped,
                     "sessions", arr);
    if (root == NULL)
        return -ENOMEM;
    body = json_dumps(root, JSON_COMPACT | JSON_SORT_KEYS);
    if (!force && body != NULL && a->json_last != NULL &&
        strcmp(body, a->json_last) == 0 &&
        now - a->json_last_ns < JSON_SAME_REWRITE_NS) {
        free(body);
        json_decref(root);
        return 0;
    }
    free(a->json_last);
    a->json_last = body;
    a->json_last_ns = now;
    json_object_set_new(root, "time_ns", json_integer((json_int_t)now));
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", a->json_path, (long)getpid());
    if (json_dump_file(root, tmp, JSON_INDENT(2) | JSON_SORT_KEYS) != 0)
        rc = -EIO;
    else if (rename(tmp, a->json_path) != 0)
        rc = -errno;
    if (rc != 0)
        unlink(tmp);
    json_decref(root);
    return rc;
}
