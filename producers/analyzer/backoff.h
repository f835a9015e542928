/*
 * backoff.h -- how long to wait before the next request.
 *
 * Pure functions, so the policy can be tested without a network:
 *   - exponential backoff with jitter after a failed attempt,
 *   - the server's Retry-After after a 429,
 *   - pacing from the Ratelimit-* headers, so that a run slows down before
 *     the server starts refusing it.
 * Thread-safe: nothing here has state except the caller's PRNG word.
 */
#ifndef CA_BACKOFF_H
#define CA_BACKOFF_H

#include <stdint.h>

/* splitmix64: a small, good, seedable PRNG. *state is the caller's. */
uint64_t ca_rand_next(uint64_t *state);

/* A uniform double in [0, 1) from *state. */
double ca_rand01(uint64_t *state);

/* Delay before retry number `attempt` (1 for the first retry) with
 * "equal jitter": half of min(cap, base * 2^(attempt-1)) is fixed, the
 * other half is scaled by `u` in [0, 1). The fixed half guarantees the
 * server real rest; the random half spreads clients that failed together.
 * base_ms <= 0 gives 0. */
long ca_backoff_delay_ms(int attempt, long base_ms, long cap_ms, double u);

/* Parses an HTTP Retry-After value: delta seconds ("3") or an HTTP date is
 * not supported and gives -1, as does anything malformed. Returns seconds
 * >= 0, or -1. */
long ca_retry_after_parse(const char *value);

/* Pacing from the Ratelimit headers. `limit` is the bucket size,
 * `remaining` the requests left, `reset_s` the Unix time the bucket refills,
 * `now_s` the current time, `jobs` how many workers share the bucket.
 * Returns 0 while remaining is comfortably above what the workers can use
 * at once; below that, spreads the remaining requests over the time left
 * ((reset - now) / (remaining + 1)), and with nothing remaining waits for
 * the reset. Unknown values (< 0) give 0. Capped at cap_ms. */
long ca_ratelimit_delay_ms(long limit, long remaining, int64_t reset_s,
                           int64_t now_s, int jobs, long cap_ms);

#endif /* CA_BACKOFF_H */
