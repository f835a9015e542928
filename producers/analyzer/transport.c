/*
 * transport.c -- one request over libcurl or from a file:// directory.
 *
 * HTTP: a 5xx or 429 is CURLE_OK to curl, so the status is always read
 * and classified here. The Ratelimit-* and Retry-After headers are kept
 * for the caller's pacing. Bodies are capped at CA_MAX_BODY.
 */
#include "transport.h"

#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <clipbus/clipbus.h>

#include "backoff.h"
#include "reason.h"
#include "timeutil.h"

/* No Helix page comes near this; more is a broken or hostile server. */
#define CA_MAX_BODY (16u << 20)

struct ca_transport {
    int is_file;
    char *root;              /* API root without a trailing '/' (or dir) */
    CURL *curl;              /* NULL for file:// */
    struct curl_slist *hdrs; /* Authorization, Client-Id, Accept */
    long timeout_ms;
    long connect_timeout_ms;
};

struct body_buf {
    char *p;
    size_t len;
    size_t cap;
    int too_big;
};

static const char *const ep_names[] = {"clips", "users", "followers"};

int
ca_api_kind(const char *api)
{
    if (api == NULL)
        return -1;
    if (strncmp(api, "file://", 7) == 0)
        return api[7] == '/' ? 1 : -1;
    if (strncmp(api, "http://", 7) == 0 || strncmp(api, "https://", 8) == 0)
        return 0;
    return -1;
}

int
ca_broadcaster_id_ok(const char *id)
{
    size_t n = 0;
    for (; id[n] != '\0'; n++)
        if (!isalnum((unsigned char)id[n]) && id[n] != '_')
            return 0;
    return n >= 1 && n <= 64;
}

/* A cursor becomes a file name: no '/', no leading '.', sane length. */
static int
cursor_file_ok(const char *c)
{
    size_t n = 0;
    if (c[0] == '.')
        return 0;
    for (; c[n] != '\0'; n++)
        if (!isalnum((unsigned char)c[n]) && c[n] != '_' && c[n] != '-' &&
            c[n] != '.')
            return 0;
    return n >= 1 && n <= 200;
}

/* ------------------------------------------------------------------------
 * Create / destroy
 * ------------------------------------------------------------------------ */

static struct curl_slist *
make_headers(const struct ca_transport_cfg *cfg)
{
    struct curl_slist *h = curl_slist_append(NULL, "Accept: application/json");
    char line[1024];
    if (h != NULL && cfg->token != NULL && *cfg->token != '\0') {
        snprintf(line, sizeof line, "Authorization: Bearer %s", cfg->token);
        struct curl_slist *n = curl_slist_append(h, line);
        h = n ? n : (curl_slist_free_all(h), NULL);
    }
    if (h != NULL && cfg->client_id != NULL && *cfg->client_id != '\0') {
        snprintf(line, sizeof line, "Client-Id: %s", cfg->client_id);
        struct curl_slist *n = curl_slist_append(h, line);
        h = n ? n : (curl_slist_free_all(h), NULL);
    }
    /* The token lives in curl's copy only: wipe ours. */
    memset(line, 0, sizeof line);
    return h;
}

int
ca_transport_create(const struct ca_transport_cfg *cfg,
                    struct ca_transport **out, char *err, size_t errsz)
{
    *out = NULL;
    int kind = ca_api_kind(cfg->api);
    if (kind < 0) {
        snprintf(err, errsz, "--api %s: not http://, https:// or file:///dir",
                 cfg->api ? cfg->api : "(none)");
        return -1;
    }
    struct ca_transport *t = calloc(1, sizeof *t);
    if (t == NULL)
        goto nomem;
    t->is_file = kind == 1;
    t->root = strdup(t->is_file ? cfg->api + 7 : cfg->api);
    if (t->root == NULL)
        goto nomem;
    size_t n = strlen(t->root);
    while (n > 1 && t->root[n - 1] == '/')
        t->root[--n] = '\0';
    if (!t->is_file && n >= 6 && strcmp(t->root + n - 6, "/helix") == 0)
        t->root[n - 6] = '\0';
    t->timeout_ms = cfg->timeout_ms;
    t->connect_timeout_ms = cfg->connect_timeout_ms;
    if (!t->is_file) {
        t->curl = curl_easy_init();
        t->hdrs = make_headers(cfg);
        if (t->curl == NULL || t->hdrs == NULL)
            goto nomem;
    }
    *out = t;
    return 0;
nomem:
    ca_transport_destroy(t);
    snprintf(err, errsz, "out of memory creating the transport");
    return -1;
}

void
ca_transport_destroy(struct ca_transport *t)
{
    if (t == NULL)
        return;
    if (t->curl != NULL)
        curl_easy_cleanup(t->curl);
    curl_slist_free_all(t->hdrs);
    free(t->root);
    free(t);
}

int
ca_transport_is_file(const struct ca_transport *t)
{
    return t->is_file;
}

void
ca_response_fini(struct ca_response *resp)
{
    free(resp->body);
    resp->body = NULL;
    resp->body_len = 0;
}

static void
response_init(struct ca_response *resp)
{
    memset(resp, 0, sizeof *resp);
    resp->retry_after_s = -1;
    resp->rl_limit = -1;
    resp->rl_remaining = -1;
    resp->rl_reset = -1;
}

/* ------------------------------------------------------------------------
 * file://
 * ------------------------------------------------------------------------ */

static int
file_path(const struct ca_transport *t, const struct ca_request *req,
          char *path, size_t size, char *err, size_t errsz)
{
    const char *b = req->broadcaster_id;
    int n;
    if (req->ep == CA_EP_CLIPS) {
        const char *cur = req->cursor ? req->cursor : "page-0";
        if (!cursor_file_ok(cur)) {
            snprintf(err, errsz, "cursor \"%.60s\" is not a page file name",
                     cur);
            return -1;
        }
        n = snprintf(path, size, "%s/clips/%s/%s.json", t->root, b, cur);
    } else {
        n = snprintf(path, size, "%s/%s/%s.json", t->root, ep_names[req->ep],
                     b);
    }
    if (n < 0 || (size_t)n >= size) {
        snprintf(err, errsz, "path under %s is too long", t->root);
        return -1;
    }
    return 0;
}

static int
file_get(struct ca_transport *t, const struct ca_request *req,
         struct ca_response *resp)
{
    char path[4096];
    if (file_path(t, req, path, sizeof path, resp->errmsg,
                  sizeof resp->errmsg) != 0)
        return CA_R_BAD_PAGE;
    FILE *f = fopen(path, "rb");
    if (f == NULL && errno == ENOENT && req->ep == CA_EP_CLIPS &&
        req->cursor == NULL) {
        /* The first page is page-0.json; clipapi-gen numbers from 1. */
        size_t n = strlen(path);
        path[n - 6] = '1';
        f = fopen(path, "rb");
    }
    snprintf(resp->where, sizeof resp->where, "%.400s", path);
    if (f == NULL) {
        snprintf(resp->errmsg, sizeof resp->errmsg, "cannot read %.400s: %s",
                 path, strerror(errno));
        return CA_R_IO;
    }
    struct body_buf b = {0};
    char chunk[65536];
    size_t got;
    while ((got = fread(chunk, 1, sizeof chunk, f)) > 0) {
        if (b.len + got > CA_MAX_BODY) {
            b.too_big = 1;
            break;
        }
        char *p = realloc(b.p, b.len + got + 1);
        if (p == NULL) {
            b.too_big = 1;
            break;
        }
        b.p = p;
        memcpy(b.p + b.len, chunk, got);
        b.len += got;
    }
    int rerr = ferror(f);
    fclose(f);
    if (rerr || b.too_big) {
        free(b.p);
        snprintf(resp->errmsg, sizeof resp->errmsg, "cannot read %.400s: %s",
                 path, b.too_big ? "over 16 MiB" : "read error");
        return CA_R_IO;
    }
    resp->body = b.p ? b.p : strdup("");
    if (resp->body == NULL)
        return CA_R_IO;
    resp->body[b.len] = '\0';
    resp->body_len = b.len;
    resp->status = 200;
    return CA_OK;
}

/* ------------------------------------------------------------------------
 * http(s)://
 * ------------------------------------------------------------------------ */

static size_t
on_body(char *data, size_t size, size_t nmemb, void *userp)
{
    struct body_buf *b = userp;
    size_t n = size * nmemb;
    if (b->len + n > CA_MAX_BODY) {
        b->too_big = 1;
        return 0; /* fails the transfer with CURLE_WRITE_ERROR */
    }
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 16384;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (p == NULL)
            return 0;
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, data, n);
    b->len += n;
    b->p[b->len] = '\0';
    return n;
}

/* Header value of "Name: value\r\n" if the line is that header, else NULL
 * (written into val). */
static const char *
header_value(const char *line, size_t len, const char *name, char *val,
             size_t valsz)
{
    size_t nl = strlen(name);
    if (len <= nl || strncasecmp(line, name, nl) != 0 || line[nl] != ':')
        return NULL;
    size_t i = nl + 1, o = 0;
    while (i < len && (line[i] == ' ' || line[i] == '\t'))
        i++;
    while (i < len && line[i] != '\r' && line[i] != '\n' && o + 1 < valsz)
        val[o++] = line[i++];
    val[o] = '\0';
    return val;
}

static long
header_long(const char *v)
{
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    return (errno || end == v || x < 0) ? -1 : x;
}

static size_t
on_header(char *line, size_t size, size_t nmemb, void *userp)
{
    struct ca_response *resp = userp;
    size_t len = size * nmemb;
    char v[64];
    if (header_value(line, len, "Ratelimit-Limit", v, sizeof v))
        resp->rl_limit = header_long(v);
    else if (header_value(line, len, "Ratelimit-Remaining", v, sizeof v))
        resp->rl_remaining = header_long(v);
    else if (header_value(line, len, "Ratelimit-Reset", v, sizeof v))
        resp->rl_reset = header_long(v);
    else if (header_value(line, len, "Retry-After", v, sizeof v))
        resp->retry_after_s = ca_retry_after_parse(v);
    return len;
}

/* Builds the request URL into url. Returns 0 or -1 (too long / memory). */
static int
http_url(struct ca_transport *t, const struct ca_request *req, char *url,
         size_t size, char *where, size_t wsize)
{
    const char *b = req->broadcaster_id;
    int n;
    if (req->ep == CA_EP_USERS) {
        n = snprintf(url, size, "%s/helix/users?id=%s", t->root, b);
    } else if (req->ep == CA_EP_FOLLOWERS) {
        n = snprintf(url, size, "%s/helix/channels/followers?broadcaster_id=%s",
                     t->root, b);
    } else {
        n = snprintf(url, size, "%s/helix/clips?broadcaster_id=%s&first=100",
                     t->root, b);
        if (n > 0 && req->started_at > 0 && (size_t)n < size) {
            char t0[32], t1[32];
            n += snprintf(url + n, size - (size_t)n,
                          "&started_at=%s&ended_at=%s",
                          ca_time_format(req->started_at, t0, sizeof t0),
                          ca_time_format(req->ended_at, t1, sizeof t1));
        }
        if (n > 0 && req->cursor != NULL && (size_t)n < size) {
            char *esc = curl_easy_escape(t->curl, req->cursor, 0);
            if (esc == NULL)
                return -1;
            n += snprintf(url + n, size - (size_t)n, "&after=%s", esc);
            curl_free(esc);
        }
    }
    if (n < 0 || (size_t)n >= size)
        return -1;
    snprintf(where, wsize, "%s", url + strlen(t->root));
    return 0;
}

static int
classify_curl(CURLcode rc)
{
    switch (rc) {
    case CURLE_OPERATION_TIMEDOUT:
        return CA_R_TIMEOUT;
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
        return CA_R_CONNECT;
    case CURLE_PARTIAL_FILE:
        return CA_R_TRUNCATED;
    default:
        return CA_R_NETWORK;
    }
}

static int
classify_status(long status)
{
    if (status >= 200 && status < 300)
        return CA_OK;
    if (status == 429)
        return CA_R_HTTP_429;
    if (status == 401 || status == 403)
        return CA_R_HTTP_401;
    if (status >= 500 && status < 600)
        return CA_R_HTTP_5XX;
    return CA_R_HTTP_4XX;
}

static void
http_setup(struct ca_transport *t, const char *url, struct body_buf *b,
           struct ca_response *resp)
{
    CURL *c = t->curl;
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L); /* threads: no SIGALRM */
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, t->timeout_ms);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, t->connect_timeout_ms);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, t->hdrs);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, b);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, resp);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "clip-analyzer/0.1");
    curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
}

static int
http_get(struct ca_transport *t, const struct ca_request *req,
         struct ca_response *resp)
{
    char url[2048];
    if (http_url(t, req, url, sizeof url, resp->where, sizeof resp->where)) {
        snprintf(resp->errmsg, sizeof resp->errmsg, "request URL too long");
        return CA_R_BAD_PAGE;
    }
    struct body_buf b = {0};
    http_setup(t, url, &b, resp);
    double t0 = ca_mono_ms();
    CURLcode rc = curl_easy_perform(t->curl);
    resp->latency_ms = ca_mono_ms() - t0;
    curl_easy_getinfo(t->curl, CURLINFO_RESPONSE_CODE, &resp->status);
    int reason = rc == CURLE_OK ? classify_status(resp->status)
                                : classify_curl(rc);
    if (rc == CURLE_WRITE_ERROR && b.too_big)
        reason = CA_R_BAD_PAGE;
    if (reason == CA_OK) {
        resp->body = b.p ? b.p : strdup("");
        resp->body_len = b.len;
        return resp->body ? CA_OK : CA_R_NETWORK;
    }
    free(b.p);
    if (rc != CURLE_OK)
        snprintf(resp->errmsg, sizeof resp->errmsg, "%s: %s%s", resp->where,
                 curl_easy_strerror(rc), b.too_big ? " (body over 16 MiB)" : "");
    else
        snprintf(resp->errmsg, sizeof resp->errmsg, "%s: HTTP %ld",
                 resp->where, resp->status);
    return reason;
}

/* ------------------------------------------------------------------------
 * Dispatch
 * ------------------------------------------------------------------------ */

int
ca_transport_get(struct ca_transport *t, const struct ca_request *req,
                 struct ca_response *resp)
{
    CB_MONITOR_EXECUTION(CB_STR("channel", req->broadcaster_id),
                         CB_STR("endpoint", ep_names[req->ep]),
                         CB_INT("page", req->page));
    response_init(resp);
    if (!ca_broadcaster_id_ok(req->broadcaster_id)) {
        snprintf(resp->errmsg, sizeof resp->errmsg,
                 "broadcaster id \"%.64s\" is not [A-Za-z0-9_]{1,64}",
                 req->broadcaster_id);
        (void)cb_fail(-EINVAL, "%s", resp->errmsg);
        return CA_R_BAD_PAGE;
    }
    if (t->is_file) {
        int r = file_get(t, req, resp);
        if (r != CA_OK)
            (void)cb_fail(-ENOENT, "%s", resp->errmsg);
        return r;
    }
    int r = http_get(t, req, resp);
    cb_observe("http_latency_ms", resp->latency_ms);
    if (r != CA_OK)
        /* HTTP statuses go out negated (-503); transfer errors as -EIO. */
        (void)cb_fail(resp->status >= 300 ? -(int)resp->status : -EIO,
                      "%s [%s]", resp->errmsg, ca_reason_name(r));
    return r;
}
