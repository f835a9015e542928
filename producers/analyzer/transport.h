/*
 * transport.h -- one GET against the clip API, over HTTP(S) or file://.
 *
 * A transport is owned by one thread (it holds a curl easy handle that
 * keeps the connection alive between requests). It sends one request and
 * classifies the result; retrying is the caller's business (fetch.c).
 *
 * Endpoints (Helix shape), for API root R:
 *   clips      R/helix/clips?broadcaster_id=B&first=100[&after=C]
 *                           [&started_at=T0&ended_at=T1]
 *   users      R/helix/users?id=B
 *   followers  R/helix/channels/followers?broadcaster_id=B
 * and for file:///DIR the same pages on disk:
 *   DIR/clips/B/<cursor>.json (the first page is page-0.json, or
 *   page-1.json when there is no page-0.json),
 *   DIR/users/B.json, DIR/followers/B.json.
 *
 * Credentials: the bearer token and client id are sent as headers and are
 * never printed, logged or put on the bus.
 */
#ifndef CA_TRANSPORT_H
#define CA_TRANSPORT_H

#include <stddef.h>
#include <stdint.h>

struct ca_transport_cfg {
    const char *api;         /* http(s)://host[:port][/helix] or file:///dir */
    long timeout_ms;         /* total per request */
    long connect_timeout_ms;
    const char *token;       /* borrowed, may be NULL */
    const char *client_id;   /* borrowed, may be NULL */
};

enum ca_endpoint { CA_EP_CLIPS, CA_EP_USERS, CA_EP_FOLLOWERS };

struct ca_request {
    enum ca_endpoint ep;
    const char *broadcaster_id; /* checked: [A-Za-z0-9_]{1,64} */
    const char *cursor;         /* clips only; NULL for the first page */
    int page;                   /* for messages and the bus */
    int64_t started_at;         /* clips only; 0 = no time filter */
    int64_t ended_at;
};

struct ca_response {
    long status;         /* HTTP status; 200 for a file read; 0 if none */
    char *body;          /* owned, NUL-terminated; NULL on failure */
    size_t body_len;
    double latency_ms;
    long retry_after_s;  /* -1 when absent */
    long rl_limit;       /* Ratelimit-* headers, -1 when absent */
    long rl_remaining;
    int64_t rl_reset;
    char where[512];     /* the URL path or file, for messages */
    char errmsg[768];    /* why, when the request failed */
};

struct ca_transport;

/* 1 when `api` names a file:// source, 0 for http(s)://, -1 otherwise. */
int ca_api_kind(const char *api);

/* Checks that `id` is a broadcaster id this program will put into a URL
 * or a path: 1 to 64 of [A-Za-z0-9_]. Returns 1 if so. */
int ca_broadcaster_id_ok(const char *id);

/* Creates a transport for cfg (copied). Returns 0, or -1 with a message in
 * err (*out is then NULL). Call curl_global_init() before the first one.
 * Pair with ca_transport_destroy(). */
int ca_transport_create(const struct ca_transport_cfg *cfg,
                        struct ca_transport **out, char *err, size_t errsz);
void ca_transport_destroy(struct ca_transport *t);

/* 1 for a file:// transport. Retrying a file read is pointless. */
int ca_transport_is_file(const struct ca_transport *t);

/* Performs req. Returns CA_OK (status 2xx or a file read, body set) or a
 * CA_R_* reason with resp->errmsg set. resp is overwritten; release it
 * with ca_response_fini() in every case. */
int ca_transport_get(struct ca_transport *t, const struct ca_request *req,
                     struct ca_response *resp);
void ca_response_fini(struct ca_response *resp);

#endif /* CA_TRANSPORT_H */
