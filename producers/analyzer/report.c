/*
 * report.c -- writes the ranking as an aligned table, CSV (RFC 4180) or
 * JSON (jansson), and the per-channel problems to stderr.
 */
#include "report.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <string.h>

#include <clipbus/clipbus.h>

#include "timeutil.h"

void
ca_fetch_totals_sum(const struct ca_channel_result *res, size_t n,
                    struct ca_fetch_totals *t)
{
    memset(t, 0, sizeof *t);
    for (size_t i = 0; i < n; i++) {
        const struct ca_channel_result *r = &res[i];
        if (r->reason == CA_OK)
            t->ok++;
        else
            t->failed++;
        t->requests += r->requests;
        t->pages += r->pages;
        t->clips += (long)r->clips.n;
        t->retries += r->retries;
        t->bad_values += r->bad.count;
        t->out_of_window += r->out_of_window;
        for (int k = 0; k < CA_R_COUNT; k++) {
            t->failures[k] += r->failures[k];
            t->failures_total += r->failures[k];
        }
    }
}

const char *
ca_format_name(enum ca_format fmt)
{
    static const char *const names[] = {"table", "csv", "json"};
    return (unsigned)fmt < 3 ? names[fmt] : "?";
}

int
ca_format_parse(const char *s, enum ca_format *out)
{
    for (int f = CA_FMT_TABLE; f <= CA_FMT_JSON; f++)
        if (strcmp(s, ca_format_name((enum ca_format)f)) == 0) {
            *out = (enum ca_format)f;
            return 0;
        }
    return -1;
}

static size_t
shown(const struct ca_item_vec *items, int top)
{
    return top > 0 && (size_t)top < items->n ? (size_t)top : items->n;
}

/* ------------------------------------------------------------------------
 * Table
 * ------------------------------------------------------------------------ */

/* Prints s in a column `width` characters wide (UTF-8 aware: continuation
 * bytes take no column), cutting with "~" when it does not fit. */
static void
put_col(FILE *f, const char *s, int width)
{
    int cols = 0;
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        size_t len = 1;
        while ((p[len] & 0xc0) == 0x80)
            len++;
        if (cols == width - 1 && p[len] != '\0') {
            fputc('~', f);
            cols++;
            break;
        }
        if (*p >= 0x20)
            fwrite(p, 1, len, f);
        else
            fputc(' ', f);
        cols++;
        p += len;
    }
    for (; cols < width; cols++)
        fputc(' ', f);
}

static void
write_table(FILE *f, const struct ca_run_summary *sum,
            const struct ca_item_vec *items, int top)
{
    struct ca_fetch_totals t;
    ca_fetch_totals_sum(sum->res, sum->n, &t);
    char when[32];
    fprintf(f,
            "Viral clips at %s: %zu channel(s), %d ok, %d failed; %zu clip(s) "
            "scored; run %s\n\n",
            ca_time_format(sum->observed_at, when, sizeof when), sum->n, t.ok,
            t.failed, items->n, sum->status);
    fprintf(f, "%4s %7s  %-24s %-16s %9s %9s %9s %6s %6s %6s  %s\n", "rank",
            "score", "clip", "channel", "views", "v/h last", "v/h life",
            "growth", "z", "age h", "title");
    for (size_t i = 0; i < shown(items, top); i++) {
        const struct ca_item *it = &items->v[i];
        fprintf(f, "%4d %7.2f  ", it->rank, it->score);
        put_col(f, it->clip_id, 24);
        fputc(' ', f);
        put_col(f, it->channel_name[0] ? it->channel_name : it->channel_id, 16);
        fprintf(f, " %9lld %9.1f %9.1f %+6.2f %6.2f %6.1f  ",
                (long long)it->obs[0].views, it->vel_last, it->vel_life,
                it->growth, it->z, it->age_h);
        put_col(f, it->title, 48);
        fputc('\n', f);
    }
    if (items->n == 0)
        fprintf(f, "(no clips observed)\n");
}

/* ------------------------------------------------------------------------
 * CSV
 * ------------------------------------------------------------------------ */

static void
csv_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"')
            fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

static void
write_csv(FILE *f, const struct ca_item_vec *items, int top)
{
    fprintf(f, "rank,score,clip_id,channel_id,channel,views,followers,"
               "vel_last,vel_life,vel_prev,accel,growth,norm_vel,resid,z,decay,age_h,"
               "created_at,title,url\r\n");
    for (size_t i = 0; i < shown(items, top); i++) {
        const struct ca_item *it = &items->v[i];
        char when[32];
        fprintf(f, "%d,%.4f,", it->rank, it->score);
        csv_str(f, it->clip_id);
        fputc(',', f);
        csv_str(f, it->channel_id);
        fputc(',', f);
        csv_str(f, it->channel_name);
        fprintf(f, ",%lld,%lld,%.3f,%.3f,%.3f,%.3f,%.4f,%.4f,%.4f,%.4f,%.4f,%.3f,%s,",
                (long long)it->obs[0].views, (long long)it->followers,
                it->vel_last, it->vel_life, it->vel_prev, it->accel,
                it->growth, it->norm_vel, it->resid, it->z, it->decay, it->age_h,
                ca_time_format(it->created_at, when, sizeof when));
        csv_str(f, it->title);
        fputc(',', f);
        csv_str(f, it->url);
        fputs("\r\n", f);
    }
}

/* ------------------------------------------------------------------------
 * JSON
 * ------------------------------------------------------------------------ */

/* JSON has no NaN or infinity: such a value becomes null. */
static json_t *
num(double x)
{
    return isfinite(x) ? json_real(x) : json_null();
}

static json_t *
json_item(const struct ca_item *it)
{
    char when[32];
    return json_pack(
        "{s:i, s:o, s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:o, s:o, s:o,"
        " s:o, s:o, s:o, s:o, s:o, s:o, s:o}",
        "rank", it->rank, "score", num(it->score), "id", it->clip_id,
        "channel_id", it->channel_id, "channel", it->channel_name, "title",
        it->title, "url", it->url, "created_at",
        ca_time_format(it->created_at, when, sizeof when), "views",
        (json_int_t)it->obs[0].views, "followers", (json_int_t)it->followers,
        "vel_last", num(it->vel_last), "vel_life", num(it->vel_life),
        "vel_prev", num(it->vel_prev), "accel", num(it->accel), "growth",
        num(it->growth), "norm_vel", num(it->norm_vel), "resid",
        num(it->resid), "z", num(it->z), "decay",
        num(it->decay), "age_h", num(it->age_h));
}

static json_t *
json_run(const struct ca_run_summary *sum)
{
    struct ca_fetch_totals t;
    ca_fetch_totals_sum(sum->res, sum->n, &t);
    json_t *fails = json_object(), *failed = json_array();
    for (int k = 1; k < CA_R_COUNT; k++)
        json_object_set_new(fails, ca_reason_name(k),
                            json_integer(t.failures[k]));
    for (size_t i = 0; i < sum->n; i++) {
        const struct ca_channel_result *r = &sum->res[i];
        if (r->reason != CA_OK)
            json_array_append_new(
                failed, json_pack("{s:s, s:s, s:s}", "id", r->id, "reason",
                                  ca_reason_name(r->reason), "message",
                                  r->errmsg));
    }
    char when[32];
    return json_pack(
        "{s:s, s:s, s:{s:I, s:i, s:i, s:o}, s:{s:I, s:I, s:I, s:I, s:I, s:I,"
        " s:I, s:o}, s:I}",
        "observed_at", ca_time_format(sum->observed_at, when, sizeof when),
        "status", sum->status, "channels", "requested", (json_int_t)sum->n,
        "ok", t.ok, "failed", t.failed, "failures", failed, "fetch",
        "requests", (json_int_t)t.requests, "pages", (json_int_t)t.pages,
        "clips", (json_int_t)t.clips, "retries", (json_int_t)t.retries,
        "failures_total", (json_int_t)t.failures_total, "bad_values",
        (json_int_t)t.bad_values, "out_of_window",
        (json_int_t)t.out_of_window, "failures", fails, "clips_saved",
        (json_int_t)sum->clips_saved);
}

static int
write_json(FILE *f, const struct ca_run_summary *sum,
           const struct ca_item_vec *items, int top)
{
    json_t *clips = json_array();
    for (size_t i = 0; i < shown(items, top); i++)
        json_array_append_new(clips, json_item(&items->v[i]));
    json_t *root = json_pack("{s:o, s:I, s:o}", "run", json_run(sum),
                             "scored", (json_int_t)items->n, "clips", clips);
    if (root == NULL)
        return -1;
    int rc = json_dumpf(root, f, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    fputc('\n', f);
    json_decref(root);
    return rc;
}

int
ca_report_write(FILE *f, enum ca_format fmt, const struct ca_run_summary *sum,
                const struct ca_item_vec *items, int top)
{
    CB_MONITOR_EXECUTION(CB_STR("format", ca_format_name(fmt)),
                         CB_INT("rows", shown(items, top)));
    int rc = 0;
    if (fmt == CA_FMT_TABLE)
        write_table(f, sum, items, top);
    else if (fmt == CA_FMT_CSV)
        write_csv(f, items, top);
    else
        rc = write_json(f, sum, items, top);
    if (fflush(f) != 0 || ferror(f) || rc != 0)
        return cb_fail(-EIO, "cannot write the %s report",
                       ca_format_name(fmt));
    return 0;
}

void
ca_report_problems(FILE *f, const struct ca_run_summary *sum)
{
    for (size_t i = 0; i < sum->n; i++) {
        const struct ca_channel_result *r = &sum->res[i];
        if (r->reason != CA_OK)
            fprintf(f, "clip-analyzer: channel %s failed (%s): %s\n", r->id,
                    ca_reason_name(r->reason), r->errmsg);
        if (r->bad.count > 0)
            fprintf(f, "clip-analyzer: channel %s: skipped %d clip(s) with "
                       "bad values; first: %s\n",
                    r->id, r->bad.count, r->bad.first);
    }
}
