/*
 * util.c: parsing, time, files, buffers and base64url. See util.h.
 */
#include "util.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

/* ---------------------------------------------------------------------
 * Numbers and durations
 * ------------------------------------------------------------------- */

int
ca_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
    char *end = NULL;
    unsigned long long v;

    /* strtoull accepts "-1" (wrapping) and leading blanks: refuse both. */
    if (s == NULL || *s < '0' || *s > '9')
        return -1;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < min || v > max)
        return -1;
    *out = (uint64_t)v;
    return 0;
}

int
ca_parse_double(const char *s, double min, double max, double *out)
{
    char *end = NULL;
    double v;

    if (s == NULL || *s == '\0')
        return -1;
    errno = 0;
    v = strtod(s, &end);
    if (errno != 0 || *end != '\0' || !isfinite(v) || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

int
ca_parse_duration(const char *s, int64_t *out_s)
{
    char *end = NULL;
    long long v;
    int64_t unit = 1;

    if (s == NULL || *s < '0' || *s > '9')
        return -1;
    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno != 0 || v <= 0)
        return -1;
    if (*end != '\0') {
        switch (*end) {
        case 's':
            unit = 1;
            break;
        case 'm':
            unit = 60;
            break;
        case 'h':
            unit = 3600;
            break;
        case 'd':
            unit = 86400;
            break;
        default:
            return -1;
        }
        if (end[1] != '\0')
            return -1;
    }
    /* Ten years is far beyond any sensible interval; it also keeps every
     * product of seconds below INT64_MAX. */
    if (v > 10LL * 366 * 86400 / unit)
        return -1;
    *out_s = (int64_t)v * unit;
    return 0;
}

/* ---------------------------------------------------------------------
 * ISO 8601 in UTC
 * ------------------------------------------------------------------- */

static int
digits(const char *s, int n, int *out)
{
    int v = 0;

    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

int
ca_parse_iso8601(const char *s, int64_t *out_s)
{
    struct tm tm;
    int y, mo, d, h, mi, se;
    const char *p;
    time_t t;

    memset(&tm, 0, sizeof(tm));
    if (s == NULL || strlen(s) < 20 || s[4] != '-' || s[7] != '-' ||
        s[10] != 'T' || s[13] != ':' || s[16] != ':')
        return -1;
    if (digits(s, 4, &y) || digits(s + 5, 2, &mo) || digits(s + 8, 2, &d) ||
        digits(s + 11, 2, &h) || digits(s + 14, 2, &mi) ||
        digits(s + 17, 2, &se))
        return -1;
    if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 ||
        se > 60)
        return -1;
    p = s + 19;
    if (*p == '.') {
        for (p++; *p >= '0' && *p <= '9'; p++)
            ;
    }
    if (p[0] != 'Z' || p[1] != '\0')
        return -1;
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = se;
    t = timegm(&tm);
    /* timegm normalises 2026-02-31 to March 3rd: refuse such dates. */
    if (t == (time_t)-1 || tm.tm_mday != d || tm.tm_mon != mo - 1)
        return -1;
    *out_s = (int64_t)t;
    return 0;
}

void
ca_format_iso8601(int64_t t, char *buf, size_t size)
{
    time_t tt = (time_t)t;
    struct tm tm;

    if (gmtime_r(&tt, &tm) == NULL ||
        strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0) {
        if (size > 0)
            buf[0] = '\0';
    }
}

/* ---------------------------------------------------------------------
 * Files
 * ------------------------------------------------------------------- */

int
ca_mkdir_p(const char *dir)
{
    char path[4096];
    size_t n = strlen(dir);

    if (n == 0 || n >= sizeof(path))
        return -ENAMETOOLONG;
    memcpy(path, dir, n + 1);
    /* Create each prefix ending before a '/', then the whole path. */
    for (size_t i = 1; i <= n; i++) {
        if (path[i] != '/' && path[i] != '\0')
            continue;
        char saved = path[i];
        path[i] = '\0';
        if (mkdir(path, 0755) != 0 && errno != EEXIST)
            return -errno;
        path[i] = saved;
    }
    return 0;
}

char *
ca_read_file(const char *path, size_t *len_out)
{
    FILE *f = fopen(path, "rb");
    struct ca_buf b = {0};
    char chunk[65536];
    size_t n;
    int err;

    if (f == NULL)
        return NULL;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        ca_buf_add(&b, chunk, n);
    err = ferror(f) ? EIO : 0;
    (void)fclose(f);
    ca_buf_add(&b, "", 1);
    if (err != 0 || !ca_buf_ok(&b)) {
        ca_buf_fini(&b);
        errno = err != 0 ? err : ENOMEM;
        return NULL;
    }
    if (len_out != NULL)
        *len_out = b.len - 1;
    return b.data;
}

/* ---------------------------------------------------------------------
 * Buffers
 * ------------------------------------------------------------------- */

void
ca_buf_add(struct ca_buf *b, const char *s, size_t n)
{
    if (b->failed)
        return;
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        char *p;

        while (cap < b->len + n)
            cap *= 2;
        p = realloc(b->data, cap);
        if (p == NULL) {
            b->failed = 1;
            return;
        }
        b->data = p;
        b->cap = cap;
    }
    memcpy(b->data + b->len, s, n);
    b->len += n;
}

void
ca_buf_adds(struct ca_buf *b, const char *s)
{
    ca_buf_add(b, s, strlen(s));
}

int
ca_buf_ok(const struct ca_buf *b)
{
    return !b->failed;
}

void
ca_buf_fini(struct ca_buf *b)
{
    free(b->data);
    memset(b, 0, sizeof(*b));
}

/* ---------------------------------------------------------------------
 * base64url (RFC 4648 section 5, no padding)
 * ------------------------------------------------------------------- */

static const char b64[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

void
ca_b64url_encode(const unsigned char *in, size_t n, char *out)
{
    size_t o = 0;

    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16;
        size_t left = n - i;

        if (left > 1)
            v |= (uint32_t)in[i + 1] << 8;
        if (left > 2)
            v |= in[i + 2];
        out[o++] = b64[(v >> 18) & 63];
        out[o++] = b64[(v >> 12) & 63];
        if (left > 1)
            out[o++] = b64[(v >> 6) & 63];
        if (left > 2)
            out[o++] = b64[v & 63];
    }
    out[o] = '\0';
}

long
ca_b64url_decode(const char *s, unsigned char *out, size_t cap)
{
    uint32_t acc = 0;
    int bits = 0;
    size_t o = 0;

    for (; *s != '\0'; s++) {
        const char *p = strchr(b64, *s);

        if (p == NULL)
            return -1;
        acc = (acc << 6) | (uint32_t)(p - b64);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (o >= cap)
                return -1;
            out[o++] = (unsigned char)((acc >> bits) & 0xff);
        }
    }
    /* A lone trailing character (6 bits) cannot come from an encoder. */
    if (bits >= 6)
        return -1;
    return (long)o;
}
