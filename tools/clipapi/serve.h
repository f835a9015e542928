/*
 * serve.h: the parts of clipapi-serve.
 *
 *   serve_corpus.c  loads a clipapi-gen corpus into memory: per snapshot and
 *                   channel, each clip pre-serialised as compact JSON, so a
 *                   request only concatenates strings (no shared jansson
 *                   objects between connection threads).
 *   serve_fault.c   the seeded fault plan, the rate-limit bucket and the
 *                   request and fault counters, all behind one mutex.
 *   serve_http.c    the libmicrohttpd handler: Helix endpoints, /control/...,
 *                   authentication and fault application.
 *   serve_main.c    the command line, the daemon, signals.
 *
 * Threads: libmicrohttpd runs one thread per connection. The corpus is
 * read-only after loading; the served snapshot is one atomic word; every
 * other mutable datum is in struct sv_faults under its mutex.
 */
#ifndef CLIPAPI_SERVE_H
#define CLIPAPI_SERVE_H

#include "prng.h"

#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define SV_PROG "clipapi-serve"

/* ---- serve_corpus.c ---- */

struct sv_clip {
    char *id;
    int64_t created_s;
    char *json; /* the clip object, compact */
    size_t len;
};

struct sv_chan_snap {
    struct sv_clip *clips; /* in page order */
    size_t n;
    char *user_json; /* the users data[0] object, compact */
    int64_t followers;
};

struct sv_snapshot {
    int64_t observed_s;
    char observed_at[32];
    struct sv_chan_snap *ch; /* indexed like sv_corpus.ids */
};

struct sv_corpus {
    size_t n_ch;
    char **ids;
    char **logins;
    size_t n_snap;
    struct sv_snapshot *snaps;
};

/* Loads the corpus under dir into *c (caller's memory). Returns 0, or -1
 * after printing one line naming the file and the problem; *c is then
 * empty. Pair with sv_corpus_fini(). */
int sv_corpus_load(const char *dir, struct sv_corpus *c);
void sv_corpus_fini(struct sv_corpus *c);

/* Index of the channel with this id (or login if by_login), or -1. */
long sv_corpus_find(const struct sv_corpus *c, const char *key, int by_login);

/* ---- serve_fault.c ---- */

enum sv_fault {
    SV_LATENCY,
    SV_TIMEOUT,
    SV_HTTP_429,
    SV_HTTP_500,
    SV_HTTP_503,
    SV_TRUNCATED,
    SV_BAD_JSON,
    SV_FAULT_KINDS,
    SV_NO_FAULT = SV_FAULT_KINDS,
};

/* Stats names of the kinds, in enum order. */
extern const char *const sv_fault_names[SV_FAULT_KINDS];

struct sv_fault_cfg {
    double rate[SV_FAULT_KINDS]; /* sum <= 1 */
    uint64_t seed;
    int64_t latency_ms;
    int64_t retry_after_s;
    int64_t timeout_s;
    int only_clips;
    int64_t ratelimit_limit; /* points per 60 s window */
    int enforce_ratelimit;
};

/* One request's fault: kind, and a uniform number in [0, 1) for its
 * details (where a body is cut, which invalid JSON). */
struct sv_decision {
    enum sv_fault kind;
    double aux;
};

struct sv_faults {
    struct sv_fault_cfg cfg;
    pthread_mutex_t mu;
    struct ca_prng rng;                /* guarded by mu */
    uint64_t requests;                 /* guarded by mu: non-control requests */
    uint64_t control_requests;         /* guarded by mu */
    uint64_t injected[SV_FAULT_KINDS]; /* guarded by mu */
    uint64_t rate_limited;             /* guarded by mu: genuine bucket 429s */
    uint64_t status[600];              /* guarded by mu: responses by status */
    int64_t window_start_s;            /* guarded by mu */
    int64_t window_used;               /* guarded by mu */
};

/* Initialises *f from cfg (caller's memory). Pair with sv_faults_fini(). */
void sv_faults_init(struct sv_faults *f, const struct sv_fault_cfg *cfg);
void sv_faults_fini(struct sv_faults *f);

/* Draws and counts the fault of one eligible request. Requests are
 * serialised here, so equal request sequences give equal faults. */
struct sv_decision sv_faults_draw(struct sv_faults *f);

/* Counts one request (control or not). */
void sv_faults_count_request(struct sv_faults *f, int control);

/* Counts one response status of a non-control request. */
void sv_faults_count_status(struct sv_faults *f, unsigned status);

/* Takes one point from the rate-limit bucket at time now_s. Sets the
 * header values; returns 0, or -1 when the bucket is empty and the limit
 * is enforced (the caller answers 429; counted in rate_limited). */
int sv_faults_ratelimit(struct sv_faults *f, int64_t now_s, int64_t *remaining,
                        int64_t *reset_s);

/* The counters as a JSON object (heap string, caller frees), or NULL. */
char *sv_faults_stats_json(struct sv_faults *f, unsigned snapshot);

/* ---- serve_http.c ---- */

struct sv_server {
    const struct sv_corpus *corpus;
    struct sv_faults *faults;
    atomic_uint snapshot; /* the served snapshot; relaxed is enough, each
                             request reads it once */
    const char *token;    /* required bearer token, or NULL */
    int verbose;
    pthread_mutex_t stop_mu;
    pthread_cond_t stop_cv; /* CLOCK_MONOTONIC; broadcast at shutdown */
    int stopping;           /* guarded by stop_mu */
};

/* Initialises the stop machinery of s. Returns 0 or -errno. */
int sv_server_init(struct sv_server *s);
void sv_server_fini(struct sv_server *s);

/* Wakes every connection that is sleeping in a latency or timeout fault. */
void sv_server_stop(struct sv_server *s);

/* The libmicrohttpd access handler (MHD_AccessHandlerCallback); cls is
 * the struct sv_server. */
enum MHD_Result sv_http_handler(void *cls, struct MHD_Connection *conn,
                                const char *url, const char *method,
                                const char *version, const char *upload,
                                size_t *upload_size, void **req_cls);

#endif
