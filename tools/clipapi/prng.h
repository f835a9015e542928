/*
 * prng.h: the deterministic random numbers of the clip API tools.
 *
 * xoshiro256** (Blackman and Vigna, 2018) seeded through splitmix64, as the
 * authors recommend. Never rand(): its sequence differs between C libraries
 * and its state is global. Every entity of the generated corpus (a channel, a
 * clip, a clip at one snapshot) draws from its own stream, derived from the
 * corpus seed and the entity's tag and index by ca_prng_stream(), so the
 * values of one entity do not depend on how many others were drawn before it.
 *
 * Not thread-safe: one struct ca_prng per thread, or a lock around it.
 */
#ifndef CLIPAPI_PRNG_H
#define CLIPAPI_PRNG_H

#include <stdint.h>

struct ca_prng {
    uint64_t s[4];
};

/* Advances *state and returns the next splitmix64 output. */
uint64_t ca_splitmix64(uint64_t *state);

/* Seeds *p from one 64-bit seed (any value, zero included). */
void ca_prng_init(struct ca_prng *p, uint64_t seed);

/* Seeds *p with the stream of entity (tag, index) of corpus seed `seed`. */
void ca_prng_stream(struct ca_prng *p, uint64_t seed, uint64_t tag,
                    uint64_t index);

/* The next 64 random bits. */
uint64_t ca_prng_next(struct ca_prng *p);

/* A uniform double in [0, 1) with 53 random bits. */
double ca_prng_unit(struct ca_prng *p);

/* A uniform double in [lo, hi). */
double ca_prng_range(struct ca_prng *p, double lo, double hi);

/* A uniform integer in [0, n); n > 0. Unbiased (rejection). */
uint64_t ca_prng_below(struct ca_prng *p, uint64_t n);

/* A standard normal deviate (Box-Muller, one value per call). */
double ca_prng_normal(struct ca_prng *p);

/* exp(N(mu, sigma)): a log-normal deviate with median exp(mu). */
double ca_prng_lognormal(struct ca_prng *p, double mu, double sigma);

#endif
