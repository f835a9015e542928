/*
 * prng.c: xoshiro256** seeded by splitmix64. See prng.h.
 *
 * Reference: https://prng.di.unimi.it/ (public-domain reference code of
 * xoshiro256starstar.c and splitmix64.c, transcribed here).
 */
#include "prng.h"

#include <math.h>

uint64_t
ca_splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15u);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

void
ca_prng_init(struct ca_prng *p, uint64_t seed)
{
    uint64_t sm = seed;

    /* splitmix64 never yields four zero words in a row, so the xoshiro
     * state is never the all-zero fixed point. */
    for (int i = 0; i < 4; i++)
        p->s[i] = ca_splitmix64(&sm);
}

void
ca_prng_stream(struct ca_prng *p, uint64_t seed, uint64_t tag, uint64_t index)
{
    uint64_t mix = seed;
    uint64_t a = ca_splitmix64(&mix);

    /* Hash (seed, tag, index) through splitmix64 rounds: neighbouring
     * indices give unrelated streams. */
    mix = a ^ (tag * 0xd1342543de82ef95u);
    a = ca_splitmix64(&mix);
    mix = a ^ (index * 0x9e3779b97f4a7c15u);
    ca_prng_init(p, ca_splitmix64(&mix));
}

static uint64_t
rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

uint64_t
ca_prng_next(struct ca_prng *p)
{
    uint64_t *s = p->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;

    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double
ca_prng_unit(struct ca_prng *p)
{
    /* The top 53 bits fill a double's mantissa exactly. */
    return (double)(ca_prng_next(p) >> 11) * 0x1.0p-53;
}

double
ca_prng_range(struct ca_prng *p, double lo, double hi)
{
    return lo + (hi - lo) * ca_prng_unit(p);
}

uint64_t
ca_prng_below(struct ca_prng *p, uint64_t n)
{
    /* Reject the incomplete last block of 2^64 mod n values. */
    uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t x;

    do {
        x = ca_prng_next(p);
    } while (x >= limit);
    return x % n;
}

double
ca_prng_normal(struct ca_prng *p)
{
    /* 1 - unit is in (0, 1], so log() never sees zero. */
    double u1 = 1.0 - ca_prng_unit(p);
    double u2 = ca_prng_unit(p);

    return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

double
ca_prng_lognormal(struct ca_prng *p, double mu, double sigma)
{
    return exp(mu + sigma * ca_prng_normal(p));
}
