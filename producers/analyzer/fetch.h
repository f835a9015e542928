/*
 * fetch.h -- fetch every channel's clips, in parallel, with retries.
 *
 * For each channel: its user record (login, display name), its follower
 * count, then its clips page by page. Each request is retried on transient
 * failures (timeouts, 429, 5xx, truncated or invalid bodies) with
 * exponential backoff and jitter, honouring Retry-After and pacing by the
 * Ratelimit headers; a channel has a retry budget, and when it is spent the
 * channel fails with a clear message while the others go on. A 401/403
 * stops the whole run: no token will start working on a retry.
 *
 * `jobs` worker threads take channels from a shared queue; each produces
 * on its own clipbus ring (automatic: one ring per thread).
 */
#ifndef CA_FETCH_H
#define CA_FETCH_H

#include <stddef.h>
#include <stdint.h>

#include "clip.h"
#include "helix.h"
#include "reason.h"
#include "transport.h"

struct ca_fetch_opts {
    int jobs;              /* worker threads, >= 1 */
    int retries;           /* retries per request after the first try */
    int retry_budget;      /* retries per channel, all requests together */
    long backoff_base_ms;  /* first retry waits about this long */
    long backoff_cap_ms;   /* no backoff step exceeds this */
    long max_wait_ms;      /* cap on any wait: Retry-After, pacing */
    int max_pages;         /* per channel; a cursor loop ends here */
    int64_t observed_at;   /* Unix seconds of this observation */
    int64_t window_s;      /* only clips created in the last window_s */
    uint64_t seed;         /* jitter PRNG seed */
    double step_weight;    /* progress units of one channel */
};

/* What happened to one channel. `id` is borrowed from the caller; the rest
 * is owned (free with ca_channel_result_fini()). */
struct ca_channel_result {
    const char *id;
    struct ca_channel info;    /* follower_count -1 until fetched */
    struct ca_clip_vec clips;  /* the good clips, in API order, no dups */
    int reason;                /* CA_OK, or why the channel failed */
    char errmsg[1280];
    int attempted;             /* 0 if the run stopped before it */
    int pages;                 /* clip pages parsed */
    int requests;              /* attempts, all endpoints */
    int retries;               /* attempts after a failure */
    int failures[CA_R_COUNT];  /* failed attempts by reason */
    struct ca_bad_values bad;  /* clips skipped for absurd values */
    int out_of_window;         /* clips older than the window, dropped */
    int duplicates;            /* clips listed twice, dropped */
    double elapsed_ms;
};

/* Fetches every channel of res[0..n) (res[i].id set by the caller, the
 * rest zero). Returns 0 when the fetch ran (each res[i] tells how its
 * channel went), or -1 with a message in err when it could not start
 * (transport or thread creation). curl_global_init() must have run. */
int ca_fetch_all(const struct ca_transport_cfg *tc,
                 const struct ca_fetch_opts *o,
                 struct ca_channel_result *res, size_t n, char *err,
                 size_t errsz);

void ca_channel_result_fini(struct ca_channel_result *r);

#endif /* CA_FETCH_H */
