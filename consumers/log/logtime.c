/*
 * logtime.c -- the times of the structured log: ns since the epoch in the
 * database, ISO 8601 (UTC) in output, absolute or relative times on the
 * command line (--since 2h, --until 2024-05-01T12:00+02:00).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config_schema.h"
#include "logdb.h"

#define NS 1000000000LL

/* Floor division: times before 1970 format correctly too. */
static int64_t
floor_div(int64_t a, int64_t b)
{
    return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

char *
cbl_fmt_time(char *buf, size_t len, int64_t ns)
{
    time_t s = (time_t)floor_div(ns, NS);
    long us = (long)((ns - (int64_t)s * NS) / 1000);
    struct tm tm;
    if (!gmtime_r(&s, &tm)) {
        snprintf(buf, len, "?");
        return buf;
    }
    snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ",
             tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
             tm.tm_min, tm.tm_sec, us);
    return buf;
}

char *
cbl_fmt_day(char *buf, size_t len, int64_t ns)
{
    time_t s = (time_t)floor_div(ns, NS);
    struct tm tm;
    if (!gmtime_r(&s, &tm)) {
        snprintf(buf, len, "?");
        return buf;
    }
    snprintf(buf, len, "%04d-%02d-%02d", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday);
    return buf;
}

/* Reads exactly n digits at *p into *v. */
static int
digits(const char **p, int n, int *v)
{
    *v = 0;
    for (int i = 0; i < n; i++) {
        if ((*p)[i] < '0' || (*p)[i] > '9')
            return -1;
        *v = *v * 10 + ((*p)[i] - '0');
    }
    *p += n;
    return 0;
}

/* Parses an optional zone: "Z", "+hh:mm", "+hhmm", "-hh"; *off_s gets
 * its offset east of UTC; *has 0 when there was none (local time). */
static int
parse_zone(const char **p, int *has, long *off_s)
{
    int h = 0, m = 0, sign;
    *has = 0;
    *off_s = 0;
    if (**p == 'Z' || **p == 'z') {
        (*p)++;
        *has = 1;
        return 0;
    }
    if (**p != '+' && **p != '-')
        return 0;
    sign = **p == '-' ? -1 : 1;
    (*p)++;
    if (digits(p, 2, &h) < 0 || h > 23)
        return -1;
    if (**p == ':')
        (*p)++;
    if (**p >= '0' && **p <= '9' && (digits(p, 2, &m) < 0 || m > 59))
        return -1;
    *has = 1;
    *off_s = sign * (h * 3600L + m * 60L);
    return 0;
}

/* Parses the clock part "hh:mm[:ss[.frac]]" after the date. */
static int
parse_clock(const char **p, struct tm *tm, int64_t *frac_ns)
{
    if (digits(p, 2, &tm->tm_hour) < 0 || tm->tm_hour > 23 || **p != ':')
        return -1;
    (*p)++;
    if (digits(p, 2, &tm->tm_min) < 0 || tm->tm_min > 59)
        return -1;
    if (**p != ':')
        return 0;
    (*p)++;
    if (digits(p, 2, &tm->tm_sec) < 0 || tm->tm_sec > 60)
        return -1;
    if (**p != '.' && **p != ',')
        return 0;
    (*p)++;
    int64_t scale = NS / 10;
    if (**p < '0' || **p > '9')
        return -1;
    for (; **p >= '0' && **p <= '9'; (*p)++, scale /= 10)
        *frac_ns += (**p - '0') * scale;
    return 0;
}

static int
days_in_month(int y, int m)
{
    static const int d[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 ? 28 + leap : d[m - 1];
}

static int
parse_absolute(const char *s, int64_t *out)
{
    struct tm tm;
    int64_t frac = 0;
    int has_zone = 0, y, mo, d;
    long off = 0;
    time_t t;
    const char *p = s;

    memset(&tm, 0, sizeof tm);
    if (digits(&p, 4, &y) < 0 || *p++ != '-' || digits(&p, 2, &mo) < 0 ||
        *p++ != '-' || digits(&p, 2, &d) < 0)
        return -EINVAL;
    if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo))
        return -EINVAL;
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    if (*p == 'T' || *p == 't' || *p == ' ') {
        p++;
        if (parse_clock(&p, &tm, &frac) < 0)
            return -EINVAL;
    }
    if (parse_zone(&p, &has_zone, &off) < 0 || *p != '\0')
        return -EINVAL;
    if (has_zone) {
        t = timegm(&tm);
        t -= off;
    } else {
        tm.tm_isdst = -1;
        t = mktime(&tm);
    }
    if (t == (time_t)-1 && !(tm.tm_year == 69))
        return -EINVAL;
    *out = (int64_t)t * NS + frac;
    return 0;
}

int
cbl_parse_time(const char *s, int64_t now_ns, int64_t *out)
{
    uint64_t ago;
    if (!s || !*s)
        return -EINVAL;
    if (strcmp(s, "now") == 0) {
        *out = now_ns;
        return 0;
    }
    if (strlen(s) >= 10 && s[4] == '-')
        return parse_absolute(s, out);
    if (cbc__parse_duration(s, &ago) == 0 && ago <= (uint64_t)now_ns) {
        *out = now_ns - (int64_t)ago;
        return 0;
    }
    return -EINVAL;
}
