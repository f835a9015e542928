/*
 * serve_http.c: the HTTP side of clipapi-serve (libmicrohttpd, one thread
 * per connection).
 *
 * Endpoints (Twitch Helix shape, GET only):
 *   /helix/clips?broadcaster_id=B | id=C (repeatable)
 *                [&first=1..100 (20)][&after=CURSOR]
 *                [&started_at=T[&ended_at=T]]
 *   /helix/users?id=B | login=L (repeatable, 100 at most)
 *   /helix/channels/followers?broadcaster_id=B
 *   /control/snapshot[?set=K]   switch or show the served snapshot
 *   /control/stats              request, response and fault counters
 *
 * A /helix/ request is handled in this order: authentication (401 with
 * --require-token), route (404), rate-limit bucket (headers; 429 only with
 * --enforce-ratelimit), fault draw (serve_fault.c), then the fault or the
 * answer. the /control/ endpoints are never authenticated, limited or faulted.
 * Cursors are opaque: base64url of "<offset>:<broadcaster_id>".
 */
#include "serve.h"
#include "util.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define MAX_IDS 100

/* What a handler answers; body is heap memory handed to libmicrohttpd. */
struct reply {
    unsigned status;
    char *body;
    size_t len;
    int64_t retry_after_s; /* > 0: Retry-After header, Remaining 0 */
    int helix;             /* add the Ratelimit-* headers */
    int64_t rl_limit;
    int64_t rl_remaining;
    int64_t rl_reset_s;
};

/* ---------------------------------------------------------------------
 * Replies
 * ------------------------------------------------------------------- */

static const char *
reason(unsigned status)
{
    switch (status) {
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 429:
        return "Too Many Requests";
    case 500:
        return "Internal Server Error";
    case 503:
        return "Service Unavailable";
    default:
        return "Error";
    }
}

/* A Helix error: {"error":reason,"status":N,"message":msg}. */
static void
reply_error(struct reply *r, unsigned status, const char *msg)
{
    json_t *j = json_pack("{s:s, s:i, s:s}", "error", reason(status), "status",
                          (int)status, "message", msg);

    free(r->body);
    r->status = status;
    r->body = j != NULL ? json_dumps(j, JSON_COMPACT) : NULL;
    r->len = r->body != NULL ? strlen(r->body) : 0;
    json_decref(j);
}

/* Takes the buffer's bytes as a 200 body, or a 500 if it failed. */
static void
reply_buf(struct reply *r, struct ca_buf *b)
{
    if (!ca_buf_ok(b)) {
        ca_buf_fini(b);
        reply_error(r, 500, "out of memory");
        return;
    }
    free(r->body);
    r->status = 200;
    r->body = b->data;
    r->len = b->len;
}

static void
header(struct MHD_Response *resp, const char *name, int64_t v)
{
    char s[32];

    snprintf(s, sizeof(s), "%lld", (long long)v);
    (void)MHD_add_response_header(resp, name, s);
}

static enum MHD_Result
send_reply(struct MHD_Connection *conn, struct reply *r)
{
    struct MHD_Response *resp;
    enum MHD_Result ret;

    if (r->body == NULL)
        return MHD_NO;
    resp =
        MHD_create_response_from_buffer(r->len, r->body, MHD_RESPMEM_MUST_FREE);
    if (resp == NULL)
        return MHD_NO;
    r->body = NULL; /* owned by resp now */
    (void)MHD_add_response_header(resp, "Content-Type",
                                  "application/json; charset=utf-8");
    if (r->helix) {
        header(resp, "Ratelimit-Limit", r->rl_limit);
        header(resp, "Ratelimit-Remaining",
               r->retry_after_s > 0 ? 0 : r->rl_remaining);
        header(resp, "Ratelimit-Reset", r->rl_reset_s);
    }
    if (r->retry_after_s > 0)
        header(resp, "Retry-After", r->retry_after_s);
    if (r->status == 401)
        (void)MHD_add_response_header(
            resp, "WWW-Authenticate",
            "OAuth realm=\"TwitchTV\", error=\"invalid_token\"");
    ret = MHD_queue_response(conn, r->status, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* ---------------------------------------------------------------------
 * Arguments and cursors
 * ------------------------------------------------------------------- */

static const char *
arg(struct MHD_Connection *conn, const char *key)
{
    return MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, key);
}

struct id_list {
    const char *key;
    const char *v[MAX_IDS + 1];
    size_t n;
    int too_many;
};

static enum MHD_Result
collect(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
    struct id_list *l = cls;

    (void)kind;
    if (strcmp(key, l->key) != 0)
        return MHD_YES;
    if (l->n == MAX_IDS) {
        l->too_many = 1;
        return MHD_NO;
    }
    l->v[l->n++] = value != NULL ? value : "";
    return MHD_YES;
}

static void
collect_all(struct MHD_Connection *conn, const char *key, struct id_list *l)
{
    memset(l, 0, sizeof(*l));
    l->key = key;
    (void)MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, collect, l);
}

static int
is_numeric_id(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n > 20)
        return 0;
    return strspn(s, "0123456789") == n;
}

static void
cursor_make(size_t offset, const char *bid, char *out, size_t size)
{
    char raw[64];
    int n = snprintf(raw, sizeof(raw), "%zu:%s", offset, bid);

    /* bid is at most 20 digits (is_numeric_id), so raw fits and so does
     * its base64 (4/3 of 42 bytes) in a 96-byte out. */
    if (n < 0 || (size_t)n >= sizeof(raw) || size < 96) {
        out[0] = '\0';
        return;
    }
    ca_b64url_encode((const unsigned char *)raw, (size_t)n, out);
}

/* Decodes a cursor made for bid; 0 and *offset, or -1 if malformed. */
static int
cursor_parse(const char *cur, const char *bid, size_t *offset)
{
    unsigned char raw[64];
    long n = ca_b64url_decode(cur, raw, sizeof(raw) - 1);
    char *colon;
    uint64_t v;

    if (n <= 0)
        return -1;
    raw[n] = '\0';
    colon = strchr((char *)raw, ':');
    if (colon == NULL || strcmp(colon + 1, bid) != 0)
        return -1;
    *colon = '\0';
    if (ca_parse_u64((char *)raw, 0, 1000000000, &v) != 0)
        return -1;
    *offset = (size_t)v;
    return 0;
}

/* ---------------------------------------------------------------------
 * /helix/clips
 * ------------------------------------------------------------------- */

struct clip_query {
    size_t first;
    size_t offset;
    int64_t from_s, to_s; /* created_at window, inclusive */
};

/* Reads first, after-independent window arguments; -1 after a 400. */
static int
clip_query_parse(struct MHD_Connection *conn, struct clip_query *q,
                 struct reply *r)
{
    const char *first = arg(conn, "first"), *st = arg(conn, "started_at");
    const char *en = arg(conn, "ended_at");
    uint64_t v = 20;

    q->from_s = INT64_MIN;
    q->to_s = INT64_MAX;
    q->offset = 0;
    if (first != NULL && ca_parse_u64(first, 1, 100, &v) != 0) {
        reply_error(r, 400,
                    "The parameter \"first\" was malformed: the value "
                    "must be an integer from 1 to 100");
        return -1;
    }
    q->first = (size_t)v;
    if (st != NULL && ca_parse_iso8601(st, &q->from_s) != 0) {
        reply_error(r, 400,
                    "started_at must be an RFC 3339 UTC time such as "
                    "2026-11-01T00:00:00Z");
        return -1;
    }
    /* As Helix: ended_at counts only with started_at, and defaults to a
     * week after it. */
    if (st != NULL) {
        q->to_s = q->from_s + 7 * 86400;
        if (en != NULL && ca_parse_iso8601(en, &q->to_s) != 0) {
            reply_error(r, 400,
                        "ended_at must be an RFC 3339 UTC time such "
                        "as 2026-11-02T00:00:00Z");
            return -1;
        }
        if (q->to_s < q->from_s) {
            reply_error(r, 400, "ended_at is before started_at");
            return -1;
        }
    }
    return 0;
}

static void
add_clip(struct ca_buf *b, const struct sv_clip *c, size_t *written)
{
    if ((*written)++ > 0)
        ca_buf_add(b, ",", 1);
    ca_buf_add(b, c->json, c->len);
}

static void
clips_of_broadcaster(const struct sv_chan_snap *cs, const char *bid,
                     const struct clip_query *q, struct reply *r)
{
    struct ca_buf b = {0};
    size_t seen = 0, written = 0;
    int more = 0;

    ca_buf_adds(&b, "{\"data\":[");
    for (size_t i = 0; cs != NULL && i < cs->n; i++) {
        const struct sv_clip *c = &cs->clips[i];

        if (c->created_s < q->from_s || c->created_s > q->to_s)
            continue;
        if (seen++ < q->offset)
            continue;
        if (written == q->first) {
            more = 1;
            break;
        }
        add_clip(&b, c, &written);
    }
    ca_buf_adds(&b, "],\"pagination\":{");
    if (more) {
        char cur[96];
        cursor_make(q->offset + written, bid, cur, sizeof(cur));
        ca_buf_adds(&b, "\"cursor\":\"");
        ca_buf_adds(&b, cur);
        ca_buf_adds(&b, "\"");
    }
    ca_buf_adds(&b, "}}");
    reply_buf(r, &b);
}

static void
clips_by_id(const struct sv_server *s, const struct sv_snapshot *snap,
            const struct id_list *ids, struct reply *r)
{
    struct ca_buf b = {0};
    size_t written = 0;

    ca_buf_adds(&b, "{\"data\":[");
    for (size_t k = 0; k < ids->n; k++) {
        for (size_t i = 0; i < s->corpus->n_ch; i++) {
            const struct sv_chan_snap *cs = &snap->ch[i];
            for (size_t j = 0; j < cs->n; j++) {
                if (strcmp(cs->clips[j].id, ids->v[k]) == 0)
                    add_clip(&b, &cs->clips[j], &written);
            }
        }
    }
    ca_buf_adds(&b, "],\"pagination\":{}}");
    reply_buf(r, &b);
}

static void
helix_clips(struct sv_server *s, const struct sv_snapshot *snap,
            struct MHD_Connection *conn, struct reply *r)
{
    const char *bid = arg(conn, "broadcaster_id"), *after = arg(conn, "after");
    struct clip_query q;
    struct id_list ids;
    long ch;

    collect_all(conn, "id", &ids);
    if (arg(conn, "game_id") != NULL || arg(conn, "before") != NULL) {
        reply_error(r, 400,
                    "game_id and before are not supported by "
                    "this server; use broadcaster_id or id");
        return;
    }
    if ((bid != NULL) == (ids.n > 0) || ids.too_many) {
        reply_error(r, 400,
                    "Give exactly one of broadcaster_id or "
                    "1 to 100 id parameters");
        return;
    }
    if (clip_query_parse(conn, &q, r) != 0)
        return;
    if (ids.n > 0) {
        clips_by_id(s, snap, &ids, r);
        return;
    }
    if (!is_numeric_id(bid)) {
        reply_error(r, 400,
                    "Invalid broadcaster_id: expected 1 to 20 "
                    "digits");
        return;
    }
    if (after != NULL && cursor_parse(after, bid, &q.offset) != 0) {
        reply_error(r, 400,
                    "Invalid cursor in after: use the "
                    "pagination.cursor of the previous page "
                    "with the same broadcaster_id");
        return;
    }
    /* An unknown broadcaster has no clips: empty data, as Helix. */
    ch = sv_corpus_find(s->corpus, bid, 0);
    clips_of_broadcaster(ch >= 0 ? &snap->ch[ch] : NULL, bid, &q, r);
}

/* ---------------------------------------------------------------------
 * /helix/users and /helix/channels/followers
 * ------------------------------------------------------------------- */

static void
helix_users(struct sv_server *s, const struct sv_snapshot *snap,
            struct MHD_Connection *conn, struct reply *r)
{
    struct id_list ids, logins;
    struct ca_buf b = {0};
    size_t written = 0;

    collect_all(conn, "id", &ids);
    collect_all(conn, "login", &logins);
    if (ids.too_many || logins.too_many || ids.n + logins.n > MAX_IDS) {
        reply_error(r, 400, "At most 100 id and login parameters");
        return;
    }
    if (ids.n + logins.n == 0) {
        reply_error(r, 400,
                    "Give id or login: this server has no "
                    "authenticated user to default to");
        return;
    }
    ca_buf_adds(&b, "{\"data\":[");
    for (int pass = 0; pass < 2; pass++) {
        const struct id_list *l = pass == 0 ? &ids : &logins;
        for (size_t k = 0; k < l->n; k++) {
            long ch = sv_corpus_find(s->corpus, l->v[k], pass);
            if (ch < 0)
                continue;
            if (written++ > 0)
                ca_buf_add(&b, ",", 1);
            ca_buf_adds(&b, snap->ch[ch].user_json);
        }
    }
    ca_buf_adds(&b, "]}");
    reply_buf(r, &b);
}

static void
helix_followers(struct sv_server *s, const struct sv_snapshot *snap,
                struct MHD_Connection *conn, struct reply *r)
{
    const char *bid = arg(conn, "broadcaster_id");
    struct ca_buf b = {0};
    char tmp[96];
    long ch;

    if (bid == NULL || !is_numeric_id(bid)) {
        reply_error(r, 400,
                    "Missing or invalid broadcaster_id: "
                    "expected 1 to 20 digits");
        return;
    }
    ch = sv_corpus_find(s->corpus, bid, 0);
    snprintf(tmp, sizeof(tmp), "{\"total\":%lld,\"data\":[],\"pagination\":{}}",
             ch >= 0 ? (long long)snap->ch[ch].followers : 0LL);
    ca_buf_adds(&b, tmp);
    reply_buf(r, &b);
}

/* ---------------------------------------------------------------------
 * Faults
 * ------------------------------------------------------------------- */

/* Sleeps ms milliseconds, or less if the server stops meanwhile. */
static void
wait_ms(struct sv_server *s, int64_t ms)
{
    struct timespec ts;

    (void)clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += (time_t)(ms / 1000);
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    if (pthread_mutex_lock(&s->stop_mu) != 0)
        abort();
    while (!s->stopping &&
           pthread_cond_timedwait(&s->stop_cv, &s->stop_mu, &ts) != ETIMEDOUT)
        ;
    (void)pthread_mutex_unlock(&s->stop_mu);
}

/* Cuts the body in its middle half: a well-framed but short 200. */
static void
truncate_body(struct reply *r, double aux)
{
    size_t cut = r->len / 4 + (size_t)(aux * (double)(r->len / 2));

    if (cut == 0)
        cut = 1;
    if (r->len > 1 && cut >= r->len)
        cut = r->len - 1;
    r->len = cut;
    r->status = 200;
}

/* Makes the body syntactically invalid JSON, one of three ways picked by
 * aux. None is a prefix of the true body, so a client can tell a
 * bad_json fault from a truncated one. */
static void
corrupt_body(struct reply *r, double aux)
{
    static const char html[] =
        "<html><body><h1>502 Bad Gateway</h1></body></html>\n";
    int variant = (int)(aux * 3.0);
    char *p;

    r->status = 200;
    if (variant == 0 && r->len > 2 && r->body[0] == '{' && r->body[1] == '"') {
        r->body[1] = '\''; /* {'data': ... */
        return;
    }
    if (variant == 1 && r->len > 1 && r->body[r->len - 1] == '}' &&
        (p = realloc(r->body, r->len + 1)) != NULL) {
        r->body = p; /* ...}} -> ...},} : trailing comma */
        memcpy(r->body + r->len - 1, ",}", 2);
        r->len++;
        return;
    }
    if ((p = strdup(html)) != NULL) {
        free(r->body);
        r->body = p;
        r->len = sizeof(html) - 1;
    }
}

/* ---------------------------------------------------------------------
 * Routing
 * ------------------------------------------------------------------- */

typedef void (*helix_fn)(struct sv_server *, const struct sv_snapshot *,
                         struct MHD_Connection *, struct reply *);

static const struct {
    const char *path;
    helix_fn fn;
} routes[] = {
    {"/helix/clips", helix_clips},
    {"/helix/users", helix_users},
    {"/helix/channels/followers", helix_followers},
};

/* 0 if the request carries the required bearer token, else a 401. */
static int
check_token(const struct sv_server *s, struct MHD_Connection *conn,
            struct reply *r)
{
    const char *h =
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization");

    if (s->token == NULL)
        return 0;
    if (h == NULL) {
        reply_error(r, 401, "OAuth token is missing");
        return -1;
    }
    if (strncasecmp(h, "Bearer ", 7) != 0 || strcmp(h + 7, s->token) != 0) {
        reply_error(r, 401, "Invalid OAuth token");
        return -1;
    }
    return 0;
}

/* Applies fault d to the request, or answers it; returns what the access
 * handler returns (MHD_NO closes the connection unanswered). */
static enum MHD_Result
serve_with_fault(struct sv_server *s, struct MHD_Connection *conn, helix_fn fn,
                 struct sv_decision d, struct reply *r)
{
    const struct sv_fault_cfg *cfg = &s->faults->cfg;
    unsigned k = atomic_load_explicit(&s->snapshot, memory_order_relaxed);

    switch (d.kind) {
    case SV_TIMEOUT:
        wait_ms(s, cfg->timeout_s * 1000);
        return MHD_NO;
    case SV_LATENCY:
        wait_ms(s, cfg->latency_ms);
        break;
    case SV_HTTP_429:
        r->retry_after_s = cfg->retry_after_s;
        reply_error(r, 429, "Too Many Requests (injected fault)");
        return send_reply(conn, r);
    case SV_HTTP_500:
        reply_error(r, 500, "Internal Server Error (injected fault)");
        return send_reply(conn, r);
    case SV_HTTP_503:
        reply_error(r, 503, "Service Unavailable (injected fault)");
        return send_reply(conn, r);
    default:
        break;
    }
    fn(s, &s->corpus->snaps[k], conn, r);
    if (d.kind == SV_TRUNCATED && r->body != NULL)
        truncate_body(r, d.aux);
    else if (d.kind == SV_BAD_JSON && r->body != NULL)
        corrupt_body(r, d.aux);
    return send_reply(conn, r);
}

static enum MHD_Result
handle_helix(struct sv_server *s, struct MHD_Connection *conn, const char *url,
             struct reply *r, enum sv_fault *fault)
{
    helix_fn fn = NULL;
    int is_clips = 0;

    if (check_token(s, conn, r) != 0)
        return send_reply(conn, r);
    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
        if (strcmp(url, routes[i].path) == 0) {
            fn = routes[i].fn;
            is_clips = i == 0;
        }
    }
    if (fn == NULL) {
        reply_error(r, 404,
                    "No such endpoint on this server: it serves "
                    "/helix/clips, /helix/users and "
                    "/helix/channels/followers");
        return send_reply(conn, r);
    }
    r->helix = 1;
    r->rl_limit = s->faults->cfg.ratelimit_limit;
    int limited = sv_faults_ratelimit(s->faults, (int64_t)time(NULL),
                                      &r->rl_remaining, &r->rl_reset_s);
    struct sv_decision d = {SV_NO_FAULT, 0.0};
    if (!s->faults->cfg.only_clips || is_clips)
        d = sv_faults_draw(s->faults);
    *fault = d.kind;
    if (limited != 0 && d.kind == SV_NO_FAULT) {
        r->retry_after_s = r->rl_reset_s - (int64_t)time(NULL);
        r->retry_after_s = r->retry_after_s > 0 ? r->retry_after_s : 1;
        reply_error(r, 429, "Too Many Requests: rate-limit bucket empty");
        return send_reply(conn, r);
    }
    return serve_with_fault(s, conn, fn, d, r);
}

static enum MHD_Result
handle_control(struct sv_server *s, struct MHD_Connection *conn,
               const char *url, struct reply *r)
{
    const char *set = arg(conn, "set");
    unsigned k;
    uint64_t v;
    char tmp[160];

    if (strcmp(url, "/control/stats") == 0) {
        k = atomic_load_explicit(&s->snapshot, memory_order_relaxed);
        r->body = sv_faults_stats_json(s->faults, k);
        r->len = r->body != NULL ? strlen(r->body) : 0;
        r->status = 200;
        return send_reply(conn, r);
    }
    if (strcmp(url, "/control/snapshot") != 0) {
        reply_error(r, 404,
                    "No such control endpoint: use /control/stats "
                    "or /control/snapshot?set=K");
        return send_reply(conn, r);
    }
    if (set != NULL) {
        if (ca_parse_u64(set, 0, s->corpus->n_snap - 1, &v) != 0) {
            snprintf(tmp, sizeof(tmp),
                     "set must be a snapshot index from 0 "
                     "to %zu",
                     s->corpus->n_snap - 1);
            reply_error(r, 400, tmp);
            return send_reply(conn, r);
        }
        atomic_store_explicit(&s->snapshot, (unsigned)v, memory_order_relaxed);
    }
    k = atomic_load_explicit(&s->snapshot, memory_order_relaxed);
    snprintf(tmp, sizeof(tmp),
             "{\"snapshot\":%u,\"observed_at\":\"%s\","
             "\"snapshots\":%zu}",
             k, s->corpus->snaps[k].observed_at, s->corpus->n_snap);
    r->body = strdup(tmp);
    r->len = r->body != NULL ? strlen(r->body) : 0;
    r->status = 200;
    return send_reply(conn, r);
}

enum MHD_Result
sv_http_handler(void *cls, struct MHD_Connection *conn, const char *url,
                const char *method, const char *version, const char *upload,
                size_t *upload_size, void **req_cls)
{
    static int first_call_marker;
    struct sv_server *s = cls;
    struct reply r = {0};
    enum sv_fault fault = SV_NO_FAULT;
    enum MHD_Result ret;
    int control = strncmp(url, "/control/", 9) == 0;

    (void)version;
    (void)upload;
    /* libmicrohttpd calls once with the headers, then again (for a GET,
     * without upload data): answer on the second call. */
    if (*req_cls == NULL) {
        *req_cls = &first_call_marker;
        return MHD_YES;
    }
    if (*upload_size != 0) {
        *upload_size = 0;
        return MHD_YES;
    }
    sv_faults_count_request(s->faults, control);
    if (strcmp(method, "GET") != 0) {
        reply_error(&r, 405, "Only GET is supported");
        ret = send_reply(conn, &r);
    } else if (control) {
        ret = handle_control(s, conn, url, &r);
    } else if (strncmp(url, "/helix/", 7) == 0) {
        ret = handle_helix(s, conn, url, &r, &fault);
    } else {
        reply_error(&r, 404, "Not found: the API is under /helix/");
        ret = send_reply(conn, &r);
    }
    if (!control && fault != SV_TIMEOUT)
        sv_faults_count_status(s->faults, r.status);
    if (s->verbose)
        fprintf(stderr, SV_PROG ": %s %s -> %u%s%s\n", method, url,
                fault == SV_TIMEOUT ? 0 : r.status,
                fault == SV_NO_FAULT ? "" : " fault=",
                fault == SV_NO_FAULT ? "" : sv_fault_names[fault]);
    free(r.body);
    return ret;
}

/* ---------------------------------------------------------------------
 * Server lifetime
 * ------------------------------------------------------------------- */

int
sv_server_init(struct sv_server *s)
{
    pthread_condattr_t ca;
    int err;

    s->stopping = 0;
    if ((err = pthread_mutex_init(&s->stop_mu, NULL)) != 0)
        return -err;
    if ((err = pthread_condattr_init(&ca)) != 0)
        return -err;
    /* Monotonic waits: a wall-clock step must not stretch a fault. */
    err = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    if (err == 0)
        err = pthread_cond_init(&s->stop_cv, &ca);
    (void)pthread_condattr_destroy(&ca);
    return -err;
}

void
sv_server_stop(struct sv_server *s)
{
    if (pthread_mutex_lock(&s->stop_mu) != 0)
        abort();
    s->stopping = 1;
    (void)pthread_cond_broadcast(&s->stop_cv);
    (void)pthread_mutex_unlock(&s->stop_mu);
}

void
sv_server_fini(struct sv_server *s)
{
    (void)pthread_cond_destroy(&s->stop_cv);
    (void)pthread_mutex_destroy(&s->stop_mu);
}
