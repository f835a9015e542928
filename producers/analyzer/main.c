/*
 * main.c -- clip-analyzer: one run = fetch, store, score, report.
 *
 * The run is one clipbus session whose progress is weighted by the work
 * each phase is expected to do (see CA_W_* below); each channel's fetch is
 * a progress step on the worker thread that fetches it.
 */
#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <clipbus/clipbus.h>

#include "config.h"
#include "fetch.h"
#include "report.h"
#include "score.h"
#include "store.h"
#include "timeutil.h"

/* Progress weights, in units of expected work, from the phase times of
 * four replayed snapshots of a 40-channel clipapi corpus (2,900 clips) on
 * loopback, read from the bus: per run, fetching took 35 ms (one worker),
 * saving 12 ms, loading and scoring 30 ms, the report under 1 ms. So per
 * channel fetch : store : score = 3 : 1 : 2.5. Against a remote API each
 * request adds network latency and fetching weighs more than this. */
#define CA_W_FETCH  3.0 /* per channel */
#define CA_W_STORE  1.0 /* per channel */
#define CA_W_SCORE  2.5 /* per channel: load the series, score */
#define CA_W_REPORT 0.5 /* per run */

struct run {
    const struct ca_config *cfg;
    FILE *out;
    struct ca_store *store;
    struct ca_channel_result *res;
    size_t n;
    struct ca_item_vec items;
    long clips_saved;
    char err[512];
};

/* Fetches every channel (progress steps live in the workers). */
static int
fetch_step(struct run *r)
{
    const struct ca_config *c = r->cfg;
    struct ca_transport_cfg tc = {c->api, c->timeout_ms, c->connect_timeout_ms,
                                  c->token, c->client_id};
    struct ca_fetch_opts fo = {
        .jobs = c->jobs,
        .retries = c->retries,
        .retry_budget = c->retry_budget,
        .backoff_base_ms = c->backoff_ms,
        .backoff_cap_ms = c->backoff_max_ms,
        .max_wait_ms = c->max_wait_ms,
        .max_pages = c->max_pages,
        .observed_at = c->observed_at,
        .window_s = c->window_s,
        .seed = c->seed,
        .step_weight = CA_W_FETCH,
    };
    return ca_fetch_all(&tc, &fo, r->res, r->n, r->err, sizeof r->err);
}

static int
store_step(struct run *r)
{
    CB_PROGRESS_STEP(CA_W_STORE * (double)r->n);
    cb_progress_total((double)r->n);
    r->clips_saved = ca_store_save(r->store, r->cfg->observed_at, r->res,
                                   r->n, r->err, sizeof r->err);
    return r->clips_saved < 0 ? -1 : 0;
}

static int
score_step(struct run *r)
{
    CB_PROGRESS_STEP(CA_W_SCORE * (double)r->n);
    const char **ids = calloc(r->n ? r->n : 1, sizeof *ids);
    if (ids == NULL)
        return -1;
    size_t k = 0;
    for (size_t i = 0; i < r->n; i++)
        if (r->res[i].reason == CA_OK)
            ids[k++] = r->res[i].id;
    int rc = ca_store_load(r->store, r->cfg->observed_at, ids, k, &r->items,
                           r->err, sizeof r->err);
    free(ids);
    if (rc != 0)
        return -1;
    struct ca_score_params p;
    ca_score_params_default(&p);
    p.half_life_h = r->cfg->half_life_h;
    if (ca_score_items(&r->items, r->cfg->observed_at, &p) != 0) {
        snprintf(r->err, sizeof r->err, "out of memory scoring");
        return -1;
    }
    return 0;
}

static int
report_step(struct run *r, const char *status)
{
    CB_PROGRESS_STEP(CA_W_REPORT);
    struct ca_run_summary sum = {r->cfg->observed_at, status, r->res, r->n,
                                 r->clips_saved};
    ca_report_problems(stderr, &sum);
    if (ca_report_write(r->out, r->cfg->format, &sum, &r->items,
                        r->cfg->top) != 0) {
        snprintf(r->err, sizeof r->err, "cannot write the ranking to %s: %s",
                 r->cfg->output ? r->cfg->output : "stdout", strerror(errno));
        return -1;
    }
    return 0;
}

/* The run's exit status and session outcome from the channel results. */
static int
outcome(const struct run *r, const char **status, int *session)
{
    struct ca_fetch_totals t;
    ca_fetch_totals_sum(r->res, r->n, &t);
    int auth = 0;
    for (size_t i = 0; i < r->n; i++)
        auth |= r->res[i].reason == CA_R_HTTP_401;
    *status = t.failed == 0 ? "ok" : t.ok > 0 && !auth ? "partial" : "failed";
    *session = t.failed == 0   ? CB_SESSION_OK
               : *status[0] == 'p' ? CB_SESSION_PARTIAL
                                   : CB_SESSION_FAILED;
    if (auth)
        return CA_EXIT_AUTH;
    if (t.failed == 0)
        return CA_EXIT_OK;
    return t.ok > 0 ? CA_EXIT_PARTIAL : CA_EXIT_NODATA;
}

static int
fail_run(struct run *r, int code)
{
    fprintf(stderr, "clip-analyzer: %s\n", r->err);
    cb_log(CB_LOG_ERROR, "%s", r->err);
    (void)cb_fail(-EIO, "%s", r->err); /* marks run() failed */
    cb_session_end(CB_SESSION_FAILED);
    return code;
}

/* One run. Returns the exit status. */
static int
run(struct run *r)
{
    const struct ca_config *c = r->cfg;
    CB_MONITOR_EXECUTION(CB_STR("api", c->api), CB_INT("channels", r->n),
                         CB_INT("jobs", c->jobs));
    int64_t started = ca_now_s();
    double n = (double)r->n;
    cb_session_begin("clip-analyzer",
                     n * (CA_W_FETCH + CA_W_STORE + CA_W_SCORE) + CA_W_REPORT);
    if (ca_store_open(c->db, &r->store, r->err, sizeof r->err) != 0)
        return fail_run(r, CA_EXIT_STORE);
    if (fetch_step(r) != 0)
        return fail_run(r, CA_EXIT_INTERNAL);
    if (store_step(r) != 0)
        return fail_run(r, CA_EXIT_STORE);
    if (score_step(r) != 0)
        return fail_run(r, CA_EXIT_STORE);
    const char *status;
    int session, code = outcome(r, &status, &session);
    if (report_step(r, status) != 0)
        return fail_run(r, CA_EXIT_INTERNAL);
    struct ca_fetch_totals t;
    ca_fetch_totals_sum(r->res, r->n, &t);
    if (ca_store_record_run(r->store, c->observed_at, started, status, t.ok,
                            t.failed, r->clips_saved, r->err,
                            sizeof r->err) != 0)
        fprintf(stderr, "clip-analyzer: warning: %s\n", r->err);
    cb_log(code ? CB_LOG_WARN : CB_LOG_INFO,
           "run %s: %d/%zu channels, %ld clips, %ld retries, %ld failures",
           status, t.ok, r->n, t.clips, t.retries, t.failures_total);
    cb_session_end(session);
    if (code != CA_EXIT_OK)
        (void)cb_fail(-EIO, "run %s: %d of %zu channels failed", status,
                      t.failed, r->n);
    return code;
}

static void
run_fini(struct run *r)
{
    for (size_t i = 0; i < r->n; i++)
        ca_channel_result_fini(&r->res[i]);
    free(r->res);
    ca_item_vec_fini(&r->items);
    ca_store_close(r->store);
}

int
main(int argc, char **argv)
{
    struct ca_config cfg;
    char err[512];
    if (ca_config_parse(argc, argv, &cfg, err, sizeof err) != 0) {
        fprintf(stderr, "clip-analyzer: %s\n", err);
        ca_config_fini(&cfg);
        return CA_EXIT_USAGE;
    }
    if (cfg.help || cfg.version) {
        if (cfg.help)
            ca_config_usage(stdout);
        else
            printf("clip-analyzer 0.1.0\n");
        ca_config_fini(&cfg);
        return CA_EXIT_OK;
    }
    struct run r = {.cfg = &cfg, .out = stdout, .n = cfg.nchannels};
    if (cfg.output != NULL && (r.out = fopen(cfg.output, "w")) == NULL) {
        fprintf(stderr, "clip-analyzer: --output %s: %s\n", cfg.output,
                strerror(errno));
        ca_config_fini(&cfg);
        return CA_EXIT_USAGE;
    }
    /* Once, before any thread exists (libcurl's rule). */
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fprintf(stderr, "clip-analyzer: cannot initialize libcurl\n");
        return CA_EXIT_INTERNAL;
    }
    r.res = calloc(r.n, sizeof *r.res);
    int code = CA_EXIT_INTERNAL;
    if (r.res == NULL) {
        fprintf(stderr, "clip-analyzer: out of memory\n");
    } else {
        for (size_t i = 0; i < r.n; i++)
            r.res[i].id = cfg.channels[i];
        code = run(&r);
    }
    run_fini(&r);
    if (r.out != stdout && fclose(r.out) != 0 && code == CA_EXIT_OK) {
        fprintf(stderr, "clip-analyzer: --output %s: %s\n", cfg.output,
                strerror(errno));
        code = CA_EXIT_INTERNAL;
    }
    curl_global_cleanup();
    ca_config_fini(&cfg);
    return code;
}
