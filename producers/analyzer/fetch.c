/*
 * fetch.c -- the worker pool, the retry loop, and per-channel fetching.
 *
 * Threads: the main thread starts `jobs` workers and joins them. Workers
 * share only three things, each guarded: the queue index (atomic), the
 * stop flag (atomic, set on 401), and the rate-limit picture (mutex).
 * Everything a worker writes about a channel lives in that channel's
 * result, which no other thread touches until the join.
 */
#include "fetch.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <clipbus/clipbus.h>

#include "backoff.h"
#include "timeutil.h"

/* What the last response said about the server's rate-limit bucket. */
struct pacing {
    pthread_mutex_t mu;
    long limit;
    long remaining;
    int64_t reset_s;
};

struct pool {
    const struct ca_transport_cfg *tc;
    const struct ca_fetch_opts *o;
    struct ca_channel_result *res;
    size_t n;
    atomic_size_t next;
    atomic_int stop;       /* 1 once the API refused our credentials */
    struct pacing pace;
};

struct worker {
    struct pool *pool;
    struct ca_transport *t;
    uint64_t rng;
    int index;
};

/* Parses a good response into the channel; returns CA_OK or a reason. */
typedef int (*parse_fn)(const struct ca_response *resp, void *arg,
                        char *err, size_t errsz);

void
ca_channel_result_fini(struct ca_channel_result *r)
{
    ca_channel_fini(&r->info);
    ca_clip_vec_fini(&r->clips);
}

/* ------------------------------------------------------------------------
 * Pacing (Ratelimit headers)
 * ------------------------------------------------------------------------ */

/* Waits as long as the rate-limit picture asks, then counts the request
 * against the bucket so that workers starting together do not all see the
 * same "remaining". */
static void
pace_before_request(struct worker *w)
{
    struct pacing *p = &w->pool->pace;
    pthread_mutex_lock(&p->mu);
    long d = ca_ratelimit_delay_ms(p->limit, p->remaining, p->reset_s,
                                   ca_now_s(), w->pool->o->jobs,
                                   w->pool->o->max_wait_ms);
    if (p->remaining > 0)
        p->remaining--;
    pthread_mutex_unlock(&p->mu);
    if (d > 0) {
        cb_count("ratelimit_waits", 1);
        cb_log(CB_LOG_INFO, "rate limit nearly spent: pausing %ld ms", d);
        ca_sleep_ms(d);
    }
}

static void
pace_after_response(struct worker *w, const struct ca_response *resp)
{
    /* A 429 with Retry-After says exactly how long to wait; its
     * "Remaining: 0" must not also stall every worker until the reset. */
    if (resp->rl_remaining < 0 ||
        (resp->status == 429 && resp->retry_after_s >= 0))
        return;
    struct pacing *p = &w->pool->pace;
    pthread_mutex_lock(&p->mu);
    p->limit = resp->rl_limit;
    p->remaining = resp->rl_remaining;
    p->reset_s = resp->rl_reset;
    pthread_mutex_unlock(&p->mu);
    cb_gauge("ratelimit_remaining", (double)resp->rl_remaining);
}

/* ------------------------------------------------------------------------
 * One request with retries
 * ------------------------------------------------------------------------ */

/* How long to wait before retry number `attempt` after failure `reason`. */
static long
retry_delay_ms(struct worker *w, int reason, const struct ca_response *resp,
               int attempt)
{
    const struct ca_fetch_opts *o = w->pool->o;
    long d;
    if (reason == CA_R_HTTP_429 && resp->retry_after_s >= 0)
        d = resp->retry_after_s * 1000;
    else
        d = ca_backoff_delay_ms(attempt, o->backoff_base_ms, o->backoff_cap_ms,
                                ca_rand01(&w->rng));
    return d > o->max_wait_ms ? o->max_wait_ms : d;
}

static void
count_failure(struct ca_channel_result *r, int reason)
{
    r->failures[reason]++;
    cb_count_l("fetch_failures", 1, ca_reason_label(reason));
}

/* Sends req until it succeeds and `parse` accepts the body, a permanent
 * failure, or the retry limits. Returns CA_OK or the last reason, with
 * r->errmsg describing the failure. */
static int
request(struct worker *w, struct ca_channel_result *r,
        const struct ca_request *req, parse_fn parse, void *arg)
{
    const struct ca_fetch_opts *o = w->pool->o;
    int is_file = ca_transport_is_file(w->t);
    for (int attempt = 0;; attempt++) {
        if (atomic_load(&w->pool->stop)) {
            snprintf(r->errmsg, sizeof r->errmsg,
                     "stopped: the API refused the credentials");
            return CA_R_HTTP_401;
        }
        if (!is_file)
            pace_before_request(w);
        struct ca_response resp;
        char perr[256] = "";
        r->requests++;
        int reason = ca_transport_get(w->t, req, &resp);
        pace_after_response(w, &resp);
        if (reason == CA_OK)
            reason = parse(&resp, arg, perr, sizeof perr);
        if (reason == CA_OK) {
            ca_response_fini(&resp);
            return CA_OK;
        }
        count_failure(r, reason);
        snprintf(r->errmsg, sizeof r->errmsg, "%s%s%s", resp.errmsg,
                 *perr ? (*resp.errmsg ? ": " : "") : "", perr);
        if (*perr && !*resp.errmsg)
            snprintf(r->errmsg, sizeof r->errmsg, "%s: %s", resp.where, perr);
        long d = retry_delay_ms(w, reason, &resp, attempt + 1);
        ca_response_fini(&resp);
        if (reason == CA_R_HTTP_401)
            atomic_store(&w->pool->stop, 1);
        if (is_file || !ca_reason_transient(reason))
            return reason;
        if (attempt >= o->retries || r->retries >= o->retry_budget) {
            size_t l = strlen(r->errmsg);
            snprintf(r->errmsg + l, sizeof r->errmsg - l,
                     " (gave up after %d attempt%s; channel retry budget "
                     "%d/%d used)",
                     attempt + 1, attempt ? "s" : "", r->retries,
                     o->retry_budget);
            return reason;
        }
        r->retries++;
        cb_count("retries", 1);
        ca_sleep_ms(d);
    }
}

/* ------------------------------------------------------------------------
 * Endpoints
 * ------------------------------------------------------------------------ */

static int
parse_user(const struct ca_response *resp, void *arg, char *err, size_t errsz)
{
    struct ca_channel_result *r = arg;
    return ca_helix_parse_user(resp->body, resp->body_len, r->id, &r->info,
                               err, errsz);
}

static int
parse_followers(const struct ca_response *resp, void *arg, char *err,
                size_t errsz)
{
    struct ca_channel_result *r = arg;
    return ca_helix_parse_followers(resp->body, resp->body_len,
                                    &r->info.follower_count, err, errsz);
}

struct page_arg {
    struct ca_channel_result *r;
    struct ca_page_ctx ctx;
    struct ca_clip_vec clips;
    char *cursor;
};

static int
parse_page(const struct ca_response *resp, void *arg, char *err, size_t errsz)
{
    struct page_arg *pa = arg;
    return ca_helix_parse_clips(resp->body, resp->body_len, &pa->ctx,
                                &pa->clips, &pa->cursor, &pa->r->bad, err,
                                errsz);
}

static int
fetch_user(struct worker *w, struct ca_channel_result *r)
{
    CB_MONITOR_EXECUTION(CB_STR("channel", r->id));
    struct ca_request req = {CA_EP_USERS, r->id, NULL, 0, 0, 0};
    int reason = request(w, r, &req, parse_user, r);
    if (reason != CA_OK)
        (void)cb_fail(-EIO, "%s", r->errmsg);
    return reason;
}

static int
fetch_followers(struct worker *w, struct ca_channel_result *r)
{
    CB_MONITOR_EXECUTION(CB_STR("channel", r->id));
    struct ca_request req = {CA_EP_FOLLOWERS, r->id, NULL, 0, 0, 0};
    int reason = request(w, r, &req, parse_followers, r);
    if (reason != CA_OK)
        (void)cb_fail(-EIO, "%s", r->errmsg);
    return reason;
}

/* Moves the page's clips into the channel: drops clips older than the
 * window and clips an earlier page already listed. */
static void
keep_page_clips(struct worker *w, struct ca_channel_result *r,
                struct ca_clip_vec *page)
{
    const struct ca_fetch_opts *o = w->pool->o;
    int64_t oldest = o->window_s > 0 ? o->observed_at - o->window_s : INT64_MIN;
    for (size_t i = 0; i < page->n; i++) {
        struct ca_clip *c = &page->v[i];
        if (c->created_at < oldest) {
            r->out_of_window++;
            ca_clip_fini(c);
        } else if (ca_clip_vec_find(&r->clips, c->id) >= 0) {
            r->duplicates++;
            ca_clip_fini(c);
        } else if (ca_clip_vec_push(&r->clips, c) != 0) {
            ca_clip_fini(c);
        }
    }
    page->n = 0;
}

/* Fetches page number `page` (cursor NULL for the first) of the channel's
 * clips. On CA_OK *next is the next cursor (heap) or NULL at the end. */
static int
fetch_clip_page(struct worker *w, struct ca_channel_result *r, int page,
                const char *cursor, char **next)
{
    CB_MONITOR_EXECUTION(CB_STR("channel", r->id), CB_INT("page", page));
    const struct ca_fetch_opts *o = w->pool->o;
    struct page_arg pa = {r, {r->id, page, o->observed_at}, {0}, NULL};
    struct ca_request req = {CA_EP_CLIPS, r->id, cursor, page, 0, 0};
    if (o->window_s > 0) {
        req.started_at = o->observed_at - o->window_s;
        req.ended_at = o->observed_at;
    }
    int reason = request(w, r, &req, parse_page, &pa);
    if (reason != CA_OK) {
        ca_clip_vec_fini(&pa.clips);
        (void)cb_fail(-EIO, "%s", r->errmsg);
        return reason;
    }
    r->pages++;
    cb_count("pages_fetched", 1);
    cb_count("clips_fetched", (int64_t)pa.clips.n);
    keep_page_clips(w, r, &pa.clips);
    ca_clip_vec_fini(&pa.clips);
    *next = pa.cursor;
    return CA_OK;
}

static int
fetch_clips(struct worker *w, struct ca_channel_result *r)
{
    char *cursor = NULL;
    int reason = CA_OK;
    for (int page = 0;; page++) {
        if (page >= w->pool->o->max_pages) {
            snprintf(r->errmsg, sizeof r->errmsg,
                     "channel %s: more than %d pages (--max-pages); the "
                     "API's cursors may loop",
                     r->id, w->pool->o->max_pages);
            reason = CA_R_BAD_PAGE;
            break;
        }
        char *next = NULL;
        reason = fetch_clip_page(w, r, page, cursor, &next);
        if (reason == CA_OK && next != NULL && cursor != NULL &&
            strcmp(next, cursor) == 0) {
            snprintf(r->errmsg, sizeof r->errmsg,
                     "channel %s page %d: the API returned the same cursor "
                     "again",
                     r->id, page);
            reason = CA_R_BAD_PAGE;
        }
        free(cursor);
        cursor = next;
        if (reason != CA_OK || cursor == NULL)
            break;
    }
    free(cursor);
    return reason;
}

/* Fetches one channel into r: user, followers, clips. Req: a channel that
 * fails does not stop the others. */
static int
fetch_channel(struct worker *w, struct ca_channel_result *r)
{
    CB_MONITOR_EXECUTION(CB_STR("channel", r->id));
    CB_PROGRESS_STEP(w->pool->o->step_weight);
    double t0 = ca_mono_ms();
    r->attempted = 1;
    r->info.follower_count = -1;
    int reason = fetch_user(w, r);
    if (reason == CA_OK)
        reason = fetch_followers(w, r);
    if (reason == CA_OK)
        reason = fetch_clips(w, r);
    r->reason = reason;
    r->elapsed_ms = ca_mono_ms() - t0;
    if (r->bad.count > 0)
        cb_log(CB_LOG_WARN, "channel %s: skipped %d clip(s) with bad values; "
               "first: %s", r->id, r->bad.count, r->bad.first);
    if (reason != CA_OK) {
        ca_clip_vec_fini(&r->clips);
        cb_log(CB_LOG_WARN, "channel %s failed (%s): %s", r->id,
               ca_reason_name(reason), r->errmsg);
        return cb_fail(-EIO, "%s: %s", ca_reason_name(reason), r->errmsg);
    }
    return 0;
}

/* ------------------------------------------------------------------------
 * Worker pool
 * ------------------------------------------------------------------------ */

static void *
worker_main(void *arg)
{
    struct worker *w = arg;
    struct pool *p = w->pool;
    for (;;) {
        size_t i = atomic_fetch_add(&p->next, 1);
        if (i >= p->n || atomic_load(&p->stop))
            break;
        fetch_channel(w, &p->res[i]);
    }
    return NULL;
}

/* Marks channels the run never reached (after a 401). */
static void
mark_unattempted(struct pool *p)
{
    for (size_t i = 0; i < p->n; i++) {
        struct ca_channel_result *r = &p->res[i];
        if (r->attempted)
            continue;
        r->reason = CA_R_HTTP_401;
        snprintf(r->errmsg, sizeof r->errmsg,
                 "not fetched: the API refused the credentials");
    }
}

static void
workers_destroy(struct worker *ws, int n)
{
    for (int i = 0; i < n; i++)
        ca_transport_destroy(ws[i].t);
    free(ws);
}

int
ca_fetch_all(const struct ca_transport_cfg *tc, const struct ca_fetch_opts *o,
             struct ca_channel_result *res, size_t n, char *err, size_t errsz)
{
    CB_MONITOR_EXECUTION(CB_INT("channels", n), CB_INT("jobs", o->jobs));
    struct pool p = {.tc = tc, .o = o, .res = res, .n = n};
    atomic_init(&p.next, 0);
    atomic_init(&p.stop, 0);
    p.pace.limit = p.pace.remaining = -1;
    p.pace.reset_s = -1;
    pthread_mutex_init(&p.pace.mu, NULL);
    int jobs = o->jobs < 1 ? 1 : o->jobs;
    if ((size_t)jobs > n)
        jobs = n > 0 ? (int)n : 1;
    struct worker *ws = calloc((size_t)jobs, sizeof *ws);
    pthread_t *tids = calloc((size_t)jobs, sizeof *tids);
    int started = 0, rc = 0;
    if (ws == NULL || tids == NULL) {
        snprintf(err, errsz, "out of memory starting %d workers", jobs);
        rc = -1;
        goto out;
    }
    for (int i = 0; i < jobs; i++) {
        ws[i].pool = &p;
        ws[i].index = i;
        ws[i].rng = o->seed ^ (0x9e3779b97f4a7c15ULL * (uint64_t)(i + 1));
        if (ca_transport_create(tc, &ws[i].t, err, errsz) != 0) {
            rc = -1;
            goto out;
        }
    }
    for (; started < jobs; started++) {
        int e = pthread_create(&tids[started], NULL, worker_main,
                               &ws[started]);
        if (e != 0 && started > 0) {
            /* The workers already running drain the queue. */
            cb_log(CB_LOG_WARN, "only %d of %d workers started: %s", started,
                   jobs, strerror(e));
            break;
        }
        if (e != 0) {
            snprintf(err, errsz, "cannot start a worker thread: %s",
                     strerror(e));
            rc = -1;
            break;
        }
    }
out:
    for (int i = 0; i < started; i++)
        pthread_join(tids[i], NULL);
    if (rc == 0)
        mark_unattempted(&p);
    if (ws != NULL)
        workers_destroy(ws, jobs);
    free(tids);
    pthread_mutex_destroy(&p.pace.mu);
    if (rc != 0)
        (void)cb_fail(-EAGAIN, "%s", err);
    return rc;
}
