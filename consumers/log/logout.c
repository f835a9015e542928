/*
 * logout.c -- the output formats of `clipbus query` and `export`
 * (seed task 4.3, Req 5.4, 7.2): aligned table, CSV (RFC 4180), JSON,
 * JSON lines; and `clipbus log status`. logq.h states the rules. Rows are
 * formatted one at a time into a reused buffer: memory does not grow with
 * the number of rows (the table format keeps its first TABLE_SAMPLE rows
 * to size the columns).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cblbuf.h"
#include "logdb.h"
#include "logq.h"

#define TABLE_SAMPLE 200
#define TABLE_MAXW   60

enum col_kind { K_PLAIN, K_TIME, K_JSON };

struct out {
    const struct cbl_write_opts *o;
    FILE *f;
    int ncol;
    int kind[64];
    const char *name[64];
    struct cbl_buf row;
    int64_t rows;
    /* table: sampled rows, one string per cell, and widths */
    char **cells;
    int nsampled;
    int width[64];
};

static int
col_kind(const char *name, int typed)
{
    size_t n = strlen(name);
    if (!typed)
        return K_PLAIN;
    if (strcmp(name, "time") == 0 ||
        (n > 5 && strcmp(name + n - 5, "_time") == 0))
        return K_TIME;
    if (strcmp(name, "params") == 0 || strcmp(name, "fields") == 0 ||
        strcmp(name, "perf") == 0)
        return K_JSON;
    return K_PLAIN;
}

/* ---- one value as text ---------------------------------------------------- */

/* The value of column i for CSV and the table: text bytes as stored,
 * numbers in SQLite's own text form, times as ISO 8601. NULL: empty. */
static const char *
cell_text(struct out *w, sqlite3_stmt *st, int i, size_t *len, char *tmp,
          size_t tmp_len)
{
    int type = sqlite3_column_type(st, i);
    if (type == SQLITE_NULL) {
        *len = 0;
        return "";
    }
    if (w->kind[i] == K_TIME && type == SQLITE_INTEGER) {
        cbl_fmt_time(tmp, tmp_len, sqlite3_column_int64(st, i));
        *len = strlen(tmp);
        return tmp;
    }
    if (type == SQLITE_FLOAT) {
        snprintf(tmp, tmp_len, "%.17g", sqlite3_column_double(st, i));
        *len = strlen(tmp);
        return tmp;
    }
    const char *s = (const char *)sqlite3_column_text(st, i);
    *len = (size_t)sqlite3_column_bytes(st, i);
    return s ? s : "";
}

/* ---- CSV ---------------------------------------------------------------- */

static void
csv_field(struct cbl_buf *b, const char *s, size_t n)
{
    int quote = n > 0 && (s[0] == ' ' || s[n - 1] == ' ');
    for (size_t i = 0; i < n && !quote; i++)
        quote = s[i] == ',' || s[i] == '"' || s[i] == '\r' || s[i] == '\n';
    if (!quote) {
        cbl_buf_add(b, s, n);
        return;
    }
    cbl_buf_addc(b, '"');
    for (size_t i = 0, run = 0; i <= n; i++) {
        if (i == n || s[i] == '"') {
            cbl_buf_add(b, s + i - run, run);
            if (i < n)
                cbl_buf_add(b, "\"\"", 2);
            run = 0;
        } else {
            run++;
        }
    }
    cbl_buf_addc(b, '"');
}

static void
csv_row(struct out *w, sqlite3_stmt *st)
{
    char tmp[64];
    for (int i = 0; i < w->ncol; i++) {
        size_t n;
        const char *s = cell_text(w, st, i, &n, tmp, sizeof tmp);
        if (i)
            cbl_buf_addc(&w->row, ',');
        csv_field(&w->row, s, n);
    }
    cbl_buf_add(&w->row, "\r\n", 2);
}

/* ---- JSON ---------------------------------------------------------------- */

static void
json_value(struct out *w, sqlite3_stmt *st, int i)
{
    struct cbl_buf *b = &w->row;
    int type = sqlite3_column_type(st, i);
    char tmp[64];

    switch (type) {
    case SQLITE_NULL:
        cbl_buf_add(b, "null", 4);
        return;
    case SQLITE_INTEGER:
        if (w->kind[i] == K_TIME) {
            cbl_fmt_time(tmp, sizeof tmp, sqlite3_column_int64(st, i));
            cbl_buf_json_str(b, tmp, strlen(tmp));
        } else {
            cbl_buf_printf(b, "%lld", (long long)sqlite3_column_int64(st, i));
        }
        return;
    case SQLITE_FLOAT:
        cbl_buf_json_num(b, sqlite3_column_double(st, i));
        return;
    default:
        break;
    }
    const char *s = (const char *)sqlite3_column_text(st, i);
    size_t n = (size_t)sqlite3_column_bytes(st, i);
    /* Our own JSON texts go in as objects; anything else as a string. */
    if (w->kind[i] == K_JSON && n >= 2 && s[0] == '{' && s[n - 1] == '}')
        cbl_buf_add(b, s, n);
    else
        cbl_buf_json_str(b, s ? s : "", n);
}

static void
json_row(struct out *w, sqlite3_stmt *st)
{
    cbl_buf_addc(&w->row, '{');
    for (int i = 0; i < w->ncol; i++) {
        if (i)
            cbl_buf_addc(&w->row, ',');
        cbl_buf_json_str(&w->row, w->name[i], strlen(w->name[i]));
        cbl_buf_addc(&w->row, ':');
        json_value(w, st, i);
    }
    cbl_buf_addc(&w->row, '}');
}

/* ---- table ------------------------------------------------------------------ */

/* A cell for the terminal: control characters and invalid UTF-8 escaped
 * (\n, \xNN), cut to TABLE_MAXW bytes with "...". Owned by the caller. */
static char *
table_cell(const char *s, size_t n)
{
    struct cbl_buf b = {0};
    for (size_t i = 0; i < n && b.len < TABLE_MAXW;) {
        unsigned char c = (unsigned char)s[i];
        size_t l;
        if (c == '\n')
            cbl_buf_add(&b, "\\n", 2), i++;
        else if (c == '\t')
            cbl_buf_add(&b, "\\t", 2), i++;
        else if (c < 0x20 || c == 0x7f)
            cbl_buf_printf(&b, "\\x%02x", c), i++;
        else if ((l = cbl_utf8_len((const unsigned char *)s + i, n - i)) > 0)
            cbl_buf_add(&b, s + i, l), i += l;
        else
            cbl_buf_printf(&b, "\\x%02x", c), i++;
        if (b.len >= TABLE_MAXW && i < n)
            cbl_buf_add(&b, "...", 3);
    }
    if (!b.p)
        cbl_buf_add(&b, "", 0);
    return b.p ? b.p : strdup("");
}

/* Display width: UTF-8 characters (continuation bytes do not count). */
static int
dwidth(const char *s)
{
    int w = 0;
    for (; *s; s++)
        w += ((unsigned char)*s & 0xc0) != 0x80;
    return w;
}

static void
table_line(struct out *w, char **cells)
{
    for (int i = 0; i < w->ncol; i++) {
        int pad = w->width[i] - dwidth(cells[i]);
        cbl_buf_add(&w->row, cells[i], strlen(cells[i]));
        if (i + 1 < w->ncol) {
            for (int k = 0; k < pad + 2; k++)
                cbl_buf_addc(&w->row, ' ');
        }
    }
    cbl_buf_addc(&w->row, '\n');
}

static int
flush_row(struct out *w)
{
    if (w->row.failed) {
        errno = ENOMEM;
        return -1;
    }
    if (w->row.len && fwrite(w->row.p, 1, w->row.len, w->f) != w->row.len)
        return -1;
    cbl_buf_reset(&w->row);
    return 0;
}

/* Prints the sampled rows with the widths they give. */
static int
table_flush_sample(struct out *w)
{
    char *hdr[64];
    for (int i = 0; i < w->ncol; i++) {
        hdr[i] = (char *)w->name[i];
        if (dwidth(hdr[i]) > w->width[i])
            w->width[i] = dwidth(hdr[i]);
    }
    if (w->o->header)
        table_line(w, hdr);
    for (int r = 0; r < w->nsampled; r++) {
        table_line(w, w->cells + (size_t)r * (size_t)w->ncol);
        if (flush_row(w) < 0)
            return -1;
    }
    for (int k = 0; k < w->nsampled * w->ncol; k++)
        free(w->cells[k]);
    w->nsampled = -1; /* streaming from now on */
    return flush_row(w);
}

static int
table_row(struct out *w, sqlite3_stmt *st)
{
    char tmp[64], *cells[64];
    for (int i = 0; i < w->ncol; i++) {
        size_t n;
        const char *s = cell_text(w, st, i, &n, tmp, sizeof tmp);
        cells[i] = table_cell(s, n);
    }
    if (w->nsampled >= 0) {
        for (int i = 0; i < w->ncol; i++) {
            int d = dwidth(cells[i]);
            if (d > w->width[i])
                w->width[i] = d;
            w->cells[(size_t)w->nsampled * (size_t)w->ncol + (size_t)i] =
                cells[i];
        }
        if (++w->nsampled == TABLE_SAMPLE)
            return table_flush_sample(w);
        return 0;
    }
    table_line(w, cells);
    for (int i = 0; i < w->ncol; i++)
        free(cells[i]);
    return flush_row(w);
}

/* ---- the loop ------------------------------------------------------------------ */

static int
header(struct out *w)
{
    if (w->o->format == CBL_F_CSV && w->o->header) {
        for (int i = 0; i < w->ncol; i++) {
            if (i)
                cbl_buf_addc(&w->row, ',');
            csv_field(&w->row, w->name[i], strlen(w->name[i]));
        }
        cbl_buf_add(&w->row, "\r\n", 2);
    } else if (w->o->format == CBL_F_JSON) {
        cbl_buf_add(&w->row, "[", 1);
    } else if (w->o->format == CBL_F_TABLE) {
        w->cells = calloc((size_t)TABLE_SAMPLE * (size_t)w->ncol,
                          sizeof *w->cells);
        if (!w->cells)
            return -1;
    }
    return flush_row(w);
}

static int
one_row(struct out *w, sqlite3_stmt *st)
{
    switch (w->o->format) {
    case CBL_F_CSV:
        csv_row(w, st);
        break;
    case CBL_F_JSON:
        cbl_buf_add(&w->row, w->rows ? ",\n" : "\n", w->rows ? 2 : 1);
        json_row(w, st);
        break;
    case CBL_F_JSONL:
        json_row(w, st);
        cbl_buf_addc(&w->row, '\n');
        break;
    default:
        return table_row(w, st);
    }
    return flush_row(w);
}

static int
trailer(struct out *w)
{
    if (w->o->format == CBL_F_JSON)
        cbl_buf_add(&w->row, w->rows ? "\n]\n" : "]\n", w->rows ? 3 : 2);
    if (w->o->format == CBL_F_TABLE && w->nsampled >= 0 &&
        table_flush_sample(w) < 0)
        return -1;
    return flush_row(w);
}

static int64_t
sql_error(sqlite3_stmt *st, char *err, size_t err_len)
{
    snprintf(err, err_len, "%s", sqlite3_errmsg(sqlite3_db_handle(st)));
    return -EIO;
}

static int64_t
write_error(char *err, size_t err_len)
{
    snprintf(err, err_len, "write failed: %s", strerror(errno));
    return -EPIPE;
}

/* Writes the rows of st, whose first step returned rc: header, rows,
 * trailer. Returns the rows written or negative (err set). */
static int64_t
write_rows(struct out *w, sqlite3_stmt *st, int rc, char *err, size_t err_len)
{
    const struct cbl_write_opts *o = w->o;

    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return sql_error(st, err, err_len);
    if (header(w) < 0)
        return write_error(err, err_len);
    for (; rc == SQLITE_ROW; rc = sqlite3_step(st)) {
        if (one_row(w, st) < 0)
            return write_error(err, err_len);
        w->rows++;
        if (o->progress && (w->rows & 4095) == 0)
            o->progress(o->progress_arg, (uint64_t)w->rows);
    }
    if (rc != SQLITE_DONE)
        return sql_error(st, err, err_len);
    if (trailer(w) < 0 || fflush(w->f) != 0)
        return write_error(err, err_len);
    return w->rows;
}

int64_t
cbl_query_write(sqlite3_stmt *st, FILE *f, const struct cbl_write_opts *o,
                char *err, size_t err_len)
{
    struct out w;
    int rc;
    int64_t ret = 0;

    memset(&w, 0, sizeof w);
    w.o = o;
    w.f = f;
    /* Step first: the first step may re-prepare the statement (a bound
     * GLOB or LIKE pattern), which frees the column names. Copy them. */
    rc = sqlite3_step(st);
    w.ncol = sqlite3_column_count(st);
    if (w.ncol > 64)
        w.ncol = 64;
    for (int i = 0; i < w.ncol && ret == 0; i++) {
        const char *nm = sqlite3_column_name(st, i);
        w.name[i] = strdup(nm ? nm : "?");
        if (!w.name[i])
            ret = write_error(err, err_len);
        else
            w.kind[i] = col_kind(w.name[i], o->typed);
    }
    if (ret == 0)
        ret = write_rows(&w, st, rc, err, err_len);
    if (w.cells && w.nsampled > 0)
        for (int k = 0; k < w.nsampled * w.ncol; k++)
            free(w.cells[k]);
    free(w.cells);
    for (int i = 0; i < w.ncol; i++)
        free((char *)w.name[i]);
    cbl_buf_free(&w.row);
    return ret;
}

/* ---- status ------------------------------------------------------------------ */

static int64_t
q1(sqlite3 *h, const char *sql, int64_t dflt)
{
    sqlite3_stmt *s;
    int64_t v = dflt;
    if (sqlite3_prepare_v2(h, sql, -1, &s, NULL) != SQLITE_OK)
        return dflt;
    if (sqlite3_step(s) == SQLITE_ROW &&
        sqlite3_column_type(s, 0) != SQLITE_NULL)
        v = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    return v;
}

static int64_t
file_size(const char *path, const char *suffix)
{
    char p[4200];
    struct stat st;
    snprintf(p, sizeof p, "%s%s", path, suffix);
    return stat(p, &st) == 0 ? (int64_t)st.st_size : 0;
}

int
cbl_status_write(sqlite3 *h, const char *path, FILE *f, int json, char *err,
                 size_t err_len)
{
    static const char *const tabs[] = {"calls",    "logs",   "sessions",
                                       "metrics",  "progress", "losses",
                                       "daily_calls", "daily_metrics"};
    static const char *const tcol[] = {"ts", "ts", "start_ns", "ts", "ts",
                                       "ts", "day", "day"};
    struct cbl_buf b = {0};
    int64_t psize = q1(h, "PRAGMA page_size", 0);
    int64_t pages = q1(h, "PRAGMA page_count", 0);
    int64_t freep = q1(h, "PRAGMA freelist_count", 0);
    int64_t fsz = file_size(path, ""), wsz = file_size(path, "-wal");
    char sql[160], t1[64], t2[64];

    if (pages <= 0) {
        snprintf(err, err_len, "%s: %s", path, sqlite3_errmsg(h));
        return -EIO;
    }
    if (json)
        cbl_buf_printf(&b,
                       "{\"path\":%s\"file_bytes\":%lld,\"wal_bytes\":%lld,"
                       "\"page_size\":%lld,\"pages\":%lld,\"free_pages\":%lld,"
                       "\"free_bytes\":%lld,\"tables\":{",
                       "", (long long)fsz, (long long)wsz, (long long)psize,
                       (long long)pages, (long long)freep,
                       (long long)(freep * psize));
    else
        cbl_buf_printf(&b,
                       "database    %s\nfile        %lld bytes\nwal         "
                       "%lld bytes\nfree pages  %lld of %lld (%lld bytes)\n"
                       "\n%-14s %12s  %-27s  %s\n",
                       path, (long long)fsz, (long long)wsz, (long long)freep,
                       (long long)pages, (long long)(freep * psize), "table",
                       "rows", "oldest", "newest");
    for (size_t i = 0; i < sizeof tabs / sizeof tabs[0]; i++) {
        snprintf(sql, sizeof sql, "SELECT count(*) FROM %s", tabs[i]);
        int64_t n = q1(h, sql, -1);
        int day = tcol[i][0] == 'd';
        sqlite3_stmt *s = NULL;
        snprintf(sql, sizeof sql, "SELECT min(%s), max(%s) FROM %s", tcol[i],
                 tcol[i], tabs[i]);
        strcpy(t1, "");
        strcpy(t2, "");
        if (sqlite3_prepare_v2(h, sql, -1, &s, NULL) == SQLITE_OK &&
            sqlite3_step(s) == SQLITE_ROW &&
            sqlite3_column_type(s, 0) != SQLITE_NULL) {
            if (day) {
                snprintf(t1, sizeof t1, "%s", sqlite3_column_text(s, 0));
                snprintf(t2, sizeof t2, "%s", sqlite3_column_text(s, 1));
            } else {
                cbl_fmt_time(t1, sizeof t1, sqlite3_column_int64(s, 0));
                cbl_fmt_time(t2, sizeof t2, sqlite3_column_int64(s, 1));
            }
        }
        sqlite3_finalize(s);
        if (json) {
            cbl_buf_printf(&b, "%s\"%s\":{\"rows\":%lld,\"oldest\":", i ? "," : "",
                           tabs[i], (long long)n);
            if (*t1)
                cbl_buf_printf(&b, "\"%s\",\"newest\":\"%s\"}", t1, t2);
            else
                cbl_buf_printf(&b, "null,\"newest\":null}");
        } else {
            cbl_buf_printf(&b, "%-14s %12lld  %-27s  %s\n", tabs[i],
                           (long long)n, *t1 ? t1 : "-", *t2 ? t2 : "-");
        }
    }
    if (json)
        cbl_buf_add(&b, "}}\n", 3);
    if (json) {
        /* The path is arbitrary bytes: insert it JSON-escaped. */
        struct cbl_buf p = {0};
        cbl_buf_json_str(&p, path, strlen(path));
        cbl_buf_addc(&p, ',');
        size_t at = strlen("{\"path\":");
        fwrite(b.p, 1, at, f);
        fwrite(p.p, 1, p.len, f);
        fwrite(b.p + at, 1, b.len - at, f);
        cbl_buf_free(&p);
    } else {
        fwrite(b.p, 1, b.len, f);
    }
    cbl_buf_free(&b);
    return fflush(f) == 0 ? 0 : -EIO;
}
