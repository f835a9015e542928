/*
 * config_units.c -- durations and byte sizes as the configuration file
 * writes them: "500ms", "10s", "1h30m", "90d", "1y"; "64KiB", "16MiB".
 *
 * Bare numbers are never accepted by the schema (the caller rejects them
 * with a message asking for a unit), because "10" could mean seconds or
 * milliseconds and a wrong guess is silent. A year is 366 days, as in
 * rrdtool's time specifications, so "1y" always covers a leap year.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "config_schema.h"

struct unit {
    const char *name;
    uint64_t mult;
};

/* Longest names first where one is a prefix of another ("ms" before "m",
 * "ns" is unambiguous): the parser takes the first name that matches. */
static const struct unit dur_units[] = {
    {"ns", 1},
    {"us", 1000},
    {"ms", 1000000},
    {"s", 1000000000},
    {"m", 60ull * 1000000000},
    {"h", 3600ull * 1000000000},
    {"d", 86400ull * 1000000000},
    {"w", 7ull * 86400 * 1000000000},
    {"y", 366ull * 86400 * 1000000000},
};
#define N_DUR (sizeof dur_units / sizeof dur_units[0])

/* The units canonical output uses, largest first ("w" is accepted on
 * input but 14d reads better than 2w next to 90d). */
static const int dur_fmt_order[] = {8, 6, 5, 4, 3, 2, 1, 0};

static const struct unit size_units[] = {
    {"B", 1},
    {"KiB", 1ull << 10},
    {"MiB", 1ull << 20},
    {"GiB", 1ull << 30},
    {"TiB", 1ull << 40},
};
#define N_SIZE (sizeof size_units / sizeof size_units[0])

/* Reads digits at *p into *v; -EINVAL without digits, -ERANGE when the
 * number does not fit in 64 bits. */
static int
read_digits(const char **p, uint64_t *v)
{
    const char *s = *p;
    uint64_t n = 0;
    if (*s < '0' || *s > '9')
        return -EINVAL;
    for (; *s >= '0' && *s <= '9'; s++) {
        uint64_t d = (uint64_t)(*s - '0');
        if (n > (UINT64_MAX - d) / 10)
            return -ERANGE;
        n = n * 10 + d;
    }
    *p = s;
    *v = n;
    return 0;
}

/* Matches the unit at *p exactly: the next character must be a digit or
 * the end. Returns its index or -1. */
static int
read_unit(const char **p, const struct unit *u, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(u[i].name);
        const char *after = *p + len;
        if (strncmp(*p, u[i].name, len) == 0 &&
            (*after == '\0' || (*after >= '0' && *after <= '9'))) {
            *p = after;
            return (int)i;
        }
    }
    return -1;
}

int
cbc__parse_duration(const char *s, uint64_t *ns)
{
    uint64_t total = 0;
    int range = 0;
    if (s == NULL || *s == '\0')
        return -EINVAL;
    while (*s != '\0') {
        uint64_t v = 0;
        int rc = read_digits(&s, &v);
        if (rc == -EINVAL)
            return rc;
        range |= rc == -ERANGE;
        if (rc == -ERANGE)
            while (*s >= '0' && *s <= '9')
                s++;
        int u = read_unit(&s, dur_units, N_DUR);
        if (u < 0)
            return -EINVAL;
        uint64_t m = dur_units[u].mult;
        if (v > UINT64_MAX / m || total > UINT64_MAX - v * m)
            range = 1;
        else
            total += v * m;
    }
    /* A syntax error anywhere wins over overflow: "99999999999y9x" is
     * not a duration at all. */
    if (range)
        return -ERANGE;
    *ns = total;
    return 0;
}

char *
cbc__fmt_duration(char *buf, size_t len, uint64_t ns)
{
    if (ns == 0) {
        snprintf(buf, len, "0s");
        return buf;
    }
    for (size_t i = 0; i < sizeof dur_fmt_order / sizeof dur_fmt_order[0];
         i++) {
        const struct unit *u = &dur_units[dur_fmt_order[i]];
        if (ns % u->mult == 0) {
            snprintf(buf, len, "%llu%s", (unsigned long long)(ns / u->mult),
                     u->name);
            return buf;
        }
    }
    snprintf(buf, len, "%lluns", (unsigned long long)ns);
    return buf;
}

int
cbc__parse_size(const char *s, uint64_t *bytes)
{
    uint64_t v = 0;
    if (s == NULL)
        return -EINVAL;
    int rc = read_digits(&s, &v);
    if (rc == -EINVAL)
        return rc;
    if (rc == -ERANGE) {
        while (*s >= '0' && *s <= '9')
            s++;
    }
    int u = read_unit(&s, size_units, N_SIZE);
    if (u < 0 || *s != '\0')
        return -EINVAL;
    if (rc == -ERANGE || v > UINT64_MAX / size_units[u].mult)
        return -ERANGE;
    *bytes = v * size_units[u].mult;
    return 0;
}

char *
cbc__fmt_size(char *buf, size_t len, uint64_t bytes)
{
    for (size_t i = N_SIZE; i-- > 1;) {
        if (bytes != 0 && bytes % size_units[i].mult == 0) {
            snprintf(buf, len, "%llu%s",
                     (unsigned long long)(bytes / size_units[i].mult),
                     size_units[i].name);
            return buf;
        }
    }
    snprintf(buf, len, "%lluB", (unsigned long long)bytes);
    return buf;
}
