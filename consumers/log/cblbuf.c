/*
 * cblbuf.c -- growable buffer and JSON string escaping (cblbuf.h).
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cblbuf.h"

void
cbl_buf_reset(struct cbl_buf *b)
{
    b->len = 0;
    b->failed = 0;
}

void
cbl_buf_free(struct cbl_buf *b)
{
    free(b->p);
    memset(b, 0, sizeof *b);
}

static int
reserve(struct cbl_buf *b, size_t n)
{
    if (b->len + n + 1 <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + n + 1)
        cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) {
        b->failed = 1;
        return -1;
    }
    b->p = p;
    b->cap = cap;
    return 0;
}

void
cbl_buf_add(struct cbl_buf *b, const char *s, size_t n)
{
    if (reserve(b, n) < 0)
        return;
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

void
cbl_buf_addc(struct cbl_buf *b, char c)
{
    cbl_buf_add(b, &c, 1);
}

void
cbl_buf_printf(struct cbl_buf *b, const char *fmt, ...)
{
    va_list ap;
    char tmp[256];
    int n;

    va_start(ap, fmt);
    n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n < sizeof tmp) {
        cbl_buf_add(b, tmp, (size_t)n);
        return;
    }
    if (reserve(b, (size_t)n) < 0)
        return;
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

size_t
cbl_utf8_len(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    size_t len;
    unsigned min;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        len = 2, min = 0x80;
    else if (c >= 0xe0 && c <= 0xef)
        len = 3, min = 0x800;
    else if (c >= 0xf0 && c <= 0xf4)
        len = 4, min = 0x10000;
    else
        return 0;
    if (n < len)
        return 0;
    unsigned cp = c & (0x3fu >> (len - 1));
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (s[i] & 0x3fu);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

void
cbl_buf_json_str(struct cbl_buf *b, const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0, run = 0;

    cbl_buf_addc(b, '"');
    while (i < n) {
        unsigned c = u[i];
        size_t l;
        if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
            i++;
            run++;
            continue;
        }
        cbl_buf_add(b, s + i - run, run);
        run = 0;
        if (c == '"' || c == '\\') {
            char e[2] = {'\\', (char)c};
            cbl_buf_add(b, e, 2);
            i++;
        } else if (c < 0x20) {
            char e[8];
            const char *m = c == '\n' ? "\\n" : c == '\t' ? "\\t"
                          : c == '\r' ? "\\r" : NULL;
            if (m)
                cbl_buf_add(b, m, 2);
            else {
                snprintf(e, sizeof e, "\\u%04x", c);
                cbl_buf_add(b, e, 6);
            }
            i++;
        } else if ((l = cbl_utf8_len(u + i, n - i)) > 0) {
            cbl_buf_add(b, s + i, l);
            i += l;
        } else {
            cbl_buf_add(b, "\xef\xbf\xbd", 3); /* U+FFFD */
            i++;
        }
    }
    cbl_buf_add(b, s + i - run, run);
    cbl_buf_addc(b, '"');
}

void
cbl_buf_json_num(struct cbl_buf *b, double d)
{
    if (!isfinite(d))
        cbl_buf_add(b, "null", 4);
    else
        cbl_buf_printf(b, "%.17g", d);
}

void
cbl_buf_i64(struct cbl_buf *b, int64_t v)
{
    char tmp[24];
    size_t i = sizeof tmp;
    /* Through uint64_t: -INT64_MIN does not fit in int64_t. */
    uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
    do {
        tmp[--i] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        tmp[--i] = '-';
    cbl_buf_add(b, tmp + i, sizeof tmp - i);
}
