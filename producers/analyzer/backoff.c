/*
 * backoff.c -- retry delays, Retry-After, and Ratelimit pacing.
 */
#include "backoff.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>

uint64_t
ca_rand_next(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

double
ca_rand01(uint64_t *state)
{
    /* The top 53 bits fill a double's mantissa exactly. */
    return (double)(ca_rand_next(state) >> 11) * 0x1.0p-53;
}

long
ca_backoff_delay_ms(int attempt, long base_ms, long cap_ms, double u)
{
    if (base_ms <= 0 || attempt <= 0)
        return 0;
    if (u < 0)
        u = 0;
    if (u >= 1)
        u = 0.999999;
    double exp_ms = (double)base_ms;
    for (int i = 1; i < attempt && exp_ms < (double)cap_ms; i++)
        exp_ms *= 2;
    if (cap_ms > 0 && exp_ms > (double)cap_ms)
        exp_ms = (double)cap_ms;
    return (long)(exp_ms / 2 + u * (exp_ms / 2));
}

long
ca_retry_after_parse(const char *value)
{
    if (value == NULL)
        return -1;
    while (*value == ' ' || *value == '\t')
        value++;
    if (!isdigit((unsigned char)*value))
        return -1;
    char *end;
    errno = 0;
    long v = strtol(value, &end, 10);
    while (*end == ' ' || *end == '\t' || *end == '\r' || *end == '\n')
        end++;
    if (errno != 0 || *end != '\0' || v < 0)
        return -1;
    return v;
}

long
ca_ratelimit_delay_ms(long limit, long remaining, int64_t reset_s,
                      int64_t now_s, int jobs, long cap_ms)
{
    if (limit <= 0 || remaining < 0 || reset_s < 0 || reset_s <= now_s)
        return 0;
    /* Comfortable: more left than the workers could spend in one round
     * plus a 10% reserve of the bucket. */
    long reserve = limit / 10;
    if (remaining > (long)jobs + reserve)
        return 0;
    double left_ms = (double)(reset_s - now_s) * 1000.0;
    double d = remaining == 0 ? left_ms : left_ms / (double)(remaining + 1);
    if (cap_ms >= 0 && d > (double)cap_ms)
        d = (double)cap_ms;
    return (long)d;
}
