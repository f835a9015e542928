/*
 * out.c -- text and JSON output of the clipbus tool.
 *
 * Everything printed may come from a segment, i.e. from bytes another
 * process wrote: names, parameters, log lines. Two rules keep the output
 * safe whatever those bytes are:
 *  - human text goes through sb_add_escaped(): one event is always one
 *    line, and no escape sequence reaches the terminal;
 *  - JSON strings go through cli_json_text(): jansson refuses invalid
 *    UTF-8 (json_stringn returns NULL), so invalid bytes are replaced by
 *    U+FFFD first and the document is always valid.
 * stdout errors are sticky: after EPIPE every write returns -1 and the
 * commands stop without a message (`clipbus tail | head` is normal use).
 */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"

/* ------------------------------------------------------------------------
 * Text buffer
 * ------------------------------------------------------------------------ */
static int
sb_grow(struct sbuf *b, size_t extra)
{
    size_t cap;
    char *np;

    if (b->failed)
        return -1;
    if (b->len + extra + 1 <= b->cap)
        return 0;
    cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra + 1)
        cap *= 2;
    np = realloc(b->p, cap);
    if (np == NULL) {
        b->failed = 1;
        return -1;
    }
    b->p = np;
    b->cap = cap;
    return 0;
}

void
sb_reset(struct sbuf *b)
{
    b->len = 0;
    b->failed = 0;
    if (b->p != NULL)
        b->p[0] = '\0';
}

void
sb_free(struct sbuf *b)
{
    free(b->p);
    memset(b, 0, sizeof *b);
}

void
sb_add_grow(struct sbuf *b, const char *s, size_t n)
{
    if (sb_grow(b, n) != 0)
        return;
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

void
sb_printf(struct sbuf *b, const char *fmt, ...)
{
    va_list ap;
    int n;

    /* Into the room there is; only a text that does not fit is formatted
     * a second time, after growing. */
    if (b->failed || sb_grow(b, 64) != 0)
        return;
    va_start(ap, fmt);
    n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->p[b->len] = '\0';
        return;
    }
    if ((size_t)n >= b->cap - b->len) {
        if (sb_grow(b, (size_t)n) != 0) {
            b->p[b->len] = '\0';
            return;
        }
        va_start(ap, fmt);
        vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
        va_end(ap);
    }
    b->len += (size_t)n;
}

/* Writes u's decimal digits ending just before `end`; returns the first. */
static char *
digits_before(char *end, uint64_t u)
{
    do
        *--end = (char)('0' + u % 10);
    while ((u /= 10) != 0);
    return end;
}

void
sb_i64(struct sbuf *b, int64_t v)
{
    char tmp[24], *p;
    uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;

    p = digits_before(tmp + sizeof tmp, u);
    if (v < 0)
        *--p = '-';
    sb_add(b, p, (size_t)(tmp + sizeof tmp - p));
}

void
sb_u64(struct sbuf *b, uint64_t v)
{
    char tmp[24], *p = digits_before(tmp + sizeof tmp, v);

    sb_add(b, p, (size_t)(tmp + sizeof tmp - p));
}

int
cli_is_whole(double d, double below)
{
    /* The range test first: the cast is defined only inside int64_t. */
    return d > -below && d < below && d == (double)(int64_t)d &&
           (d != 0 || !signbit(d));
}

void
sb_num(struct sbuf *b, double d)
{
    /* Whole numbers below 10^6 are their digits under "%.6g" too. */
    if (cli_is_whole(d, 1e6)) {
        sb_i64(b, (int64_t)d);
        return;
    }
    sb_printf(b, "%.6g", d);
}

const char *
sb_str(const struct sbuf *b)
{
    return b->p ? b->p : "";
}

/* Length of the valid UTF-8 sequence at s[0, n), or 0 if it is not one
 * (overlong forms, surrogates and code points past U+10FFFF included). */
size_t
cli_utf8_len(const unsigned char *s, size_t n, uint32_t *cp)
{
    uint32_t c = s[0], min;
    size_t len;

    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    if (c >= 0xc2 && c <= 0xdf) {
        len = 2, c &= 0x1f, min = 0x80;
    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3, c &= 0x0f, min = 0x800;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4, c &= 0x07, min = 0x10000;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        c = c << 6 | (s[i] & 0x3fu);
    }
    if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
        return 0;
    *cp = c;
    return len;
}

void
sb_add_escaped(struct sbuf *b, const char *s, size_t n, int quote)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;

    while (i < n) {
        uint32_t cp;
        size_t l, run = i;
        /* Printable ASCII other than the escaped two: copied in runs. */
        while (run < n && u[run] >= 0x20 && u[run] < 0x7f && u[run] != '\\' &&
               (u[run] != '"' || !quote))
            run++;
        if (run > i) {
            sb_add(b, s + i, run - i);
            i = run;
            continue;
        }
        l = cli_utf8_len(u + i, n - i, &cp);
        if (l == 0) {
            sb_printf(b, "\\x%02x", u[i]);
            i++;
            continue;
        }
        if (cp == '\\' || (quote && cp == '"')) {
            sb_add(b, "\\", 1);
            sb_add(b, s + i, 1);
        } else if (cp == '\n') {
            sb_add(b, "\\n", 2);
        } else if (cp == '\t') {
            sb_add(b, "\\t", 2);
        } else if (cp == '\r') {
            sb_add(b, "\\r", 2);
        } else if (cp < 0x20 || cp == 0x7f) {
            sb_printf(b, "\\x%02x", (unsigned)cp);
        } else if (cp >= 0x80 && cp < 0xa0) {
            sb_printf(b, "\\u%04x", (unsigned)cp); /* C1 controls */
        } else {
            sb_add(b, s + i, l);
        }
        i += l;
    }
}

/* ------------------------------------------------------------------------
 * Durations, sizes, times
 * ------------------------------------------------------------------------ */
/* ns / step / 10^dec with `dec` decimals and `unit` after, as printf's
 * "%.*f" prints the double quotient: rounding the integer to the nearest
 * step gives the same digits (the quotient is within an ulp of the exact
 * value, far from the halfway points a whole ns can be near), except at
 * an exact tie, where printf rounds the binary value half to even: -1,
 * and the caller asks printf. `clipbus tail` formats one per call. */
static int
fmt_fixed(char *buf, size_t len, uint64_t ns, uint64_t step, int dec,
          const char *unit)
{
    uint64_t q = ns / step, r = ns % step;
    char tmp[40], *p = tmp + sizeof tmp; /* 20 digits, '.', 2, a unit */
    size_t ul = strlen(unit), n;

    if (r * 2 == step)
        return -1;
    if (r * 2 > step)
        q++;
    p -= ul;
    memcpy(p, unit, ul);
    for (int i = 0; i < dec; i++, q /= 10)
        *--p = (char)('0' + q % 10);
    if (dec > 0)
        *--p = '.';
    p = digits_before(p, q);
    n = (size_t)(tmp + sizeof tmp - p);
    if (n + 1 > len)
        return -1;
    memcpy(buf, p, n);
    buf[n] = '\0';
    return 0;
}

char *
fmt_dur(char *buf, size_t len, uint64_t ns)
{
    uint64_t s = ns / 1000000000u;

    if (ns < 1000u) {
        if (fmt_fixed(buf, len, ns, 1u, 0, " ns") != 0)
            snprintf(buf, len, "%llu ns", (unsigned long long)ns);
    } else if (ns < 1000000u) {
        if (fmt_fixed(buf, len, ns, 100u, 1, " us") != 0)
            snprintf(buf, len, "%.1f us", (double)ns / 1e3);
    } else if (ns < 1000000000u) {
        if (fmt_fixed(buf, len, ns, 10000u, 2, " ms") != 0)
            snprintf(buf, len, "%.2f ms", (double)ns / 1e6);
    } else if (ns < UINT64_C(60000000000)) {
        if (fmt_fixed(buf, len, ns, 10000000u, 2, " s") != 0)
            snprintf(buf, len, "%.2f s", (double)ns / 1e9);
    } else if (s < 3600u)
        snprintf(buf, len, "%llum%02llus", (unsigned long long)(s / 60),
                 (unsigned long long)(s % 60));
    else if (s < 86400u)
        snprintf(buf, len, "%lluh%02llum", (unsigned long long)(s / 3600),
                 (unsigned long long)(s % 3600 / 60));
    else
        snprintf(buf, len, "%llud%02lluh", (unsigned long long)(s / 86400),
                 (unsigned long long)(s % 86400 / 3600));
    return buf;
}

char *
fmt_bytes(char *buf, size_t len, uint64_t bytes)
{
    if (bytes < 1024u)
        snprintf(buf, len, "%llu B", (unsigned long long)bytes);
    else if (bytes < UINT64_C(1) << 20)
        snprintf(buf, len, "%.1f KiB", (double)bytes / 1024.0);
    else if (bytes < UINT64_C(1) << 30)
        snprintf(buf, len, "%.1f MiB", (double)bytes / 1048576.0);
    else
        snprintf(buf, len, "%.1f GiB", (double)bytes / 1073741824.0);
    return buf;
}

/* The date and zone parts of the last second formatted, per clock: a
 * stream of records mostly stays within one second. The tool is single
 * threaded. */
struct time_cache {
    time_t t;
    int valid;
    char base[32], zone[8];
};

char *
fmt_time(char *buf, size_t len, uint64_t wall_ns, int utc)
{
    static struct time_cache cache[2];
    struct time_cache *c = &cache[utc != 0];
    time_t t = (time_t)(wall_ns / 1000000000u);
    unsigned ms = (unsigned)(wall_ns % 1000000000u / 1000000u);

    if (!c->valid || c->t != t) {
        struct tm tm;
        c->valid = 0;
        if ((utc ? gmtime_r(&t, &tm) : localtime_r(&t, &tm)) == NULL) {
            snprintf(buf, len, "@%llu", (unsigned long long)wall_ns);
            return buf;
        }
        strftime(c->base, sizeof c->base, "%Y-%m-%dT%H:%M:%S", &tm);
        /* %z gives "+0200"; ISO 8601 extended format wants "+02:00". */
        strftime(c->zone, sizeof c->zone, "%z", &tm);
        if (strlen(c->zone) == 5) {
            memmove(c->zone + 4, c->zone + 3, 3);
            c->zone[3] = ':';
        }
        c->t = t;
        c->valid = 1;
    }
    {
        /* "%s.%03u%s" without printf: once per line of `clipbus tail`. */
        const char *z = utc ? "Z" : c->zone;
        size_t bl = strlen(c->base), zl = strlen(z);
        if (bl + zl + 5 > len) {
            snprintf(buf, len, "%s.%03u%s", c->base, ms, z);
            return buf;
        }
        memcpy(buf, c->base, bl);
        buf[bl] = '.';
        buf[bl + 1] = (char)('0' + ms / 100);
        buf[bl + 2] = (char)('0' + ms / 10 % 10);
        buf[bl + 3] = (char)('0' + ms % 10);
        memcpy(buf + bl + 4, z, zl + 1);
    }
    return buf;
}

/* ------------------------------------------------------------------------
 * JSON
 * ------------------------------------------------------------------------ */
json_t *
cli_json_text(const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    struct sbuf b = {0};
    json_t *j;
    size_t i = 0;

    if (s == NULL)
        return json_null();
    /* The common case, valid UTF-8: one pass to check it, no copy, and
     * jansson need not check it again. */
    while (i < n) {
        uint32_t cp;
        size_t l = u[i] < 0x80 ? 1 : cli_utf8_len(u + i, n - i, &cp);
        if (l == 0)
            break;
        i += l;
    }
    if (i == n)
        return json_stringn_nocheck(s, n);
    i = 0;
    while (i < n) {
        uint32_t cp;
        size_t l = cli_utf8_len(u + i, n - i, &cp);
        if (l == 0) {
            sb_add(&b, "\xef\xbf\xbd", 3); /* U+FFFD */
            i++;
        } else {
            sb_add(&b, s + i, l);
            i += l;
        }
    }
    j = b.failed ? NULL : json_stringn(b.p ? b.p : "", b.len);
    sb_free(&b);
    return j;
}

json_t *
cli_json_str(const char *s)
{
    return cli_json_text(s, s ? strlen(s) : 0);
}

json_t *
cli_json_u64(uint64_t v)
{
    return json_integer(v > INT64_MAX ? INT64_MAX : (json_int_t)v);
}

json_t *
cli_json_real(double d)
{
    json_t *j = json_real(d); /* NULL for NaN and infinities */

    return j ? j : json_null();
}

/* ------------------------------------------------------------------------
 * stdout
 * ------------------------------------------------------------------------ */
static int out_failed;

void
cli_out_init(void)
{
    signal(SIGPIPE, SIG_IGN);
}

int
cli_out_line(const char *s, size_t n)
{
    if (out_failed)
        return -1;
    if (fwrite(s, 1, n, stdout) != n || putchar('\n') == EOF) {
        out_failed = 1;
        return -1;
    }
    return 0;
}

int
cli_out_json(const json_t *j, int indent)
{
    size_t flags = indent ? JSON_INDENT(indent) : JSON_COMPACT;
    char *s = json_dumps(j, flags | JSON_ENCODE_ANY);
    int rc;

    if (s == NULL) {
        fprintf(stderr, "clipbus: cannot encode JSON (out of memory?)\n");
        return -1;
    }
    rc = cli_out_line(s, strlen(s));
    free(s);
    return rc;
}

int
cli_out_flush(void)
{
    if (out_failed)
        return -1;
    if (fflush(stdout) != 0) {
        out_failed = 1;
        return -1;
    }
    return 0;
}

int
cli_out_failed(void)
{
    return out_failed;
}
