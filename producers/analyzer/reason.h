/*
 * reason.h -- why a fetch attempt failed.
 *
 * One code per kind of failure the analyzer tells apart. Each has a short
 * name, used as the `reason=` label of the fetch_failures metric, as the
 * key in the JSON report, and in messages. A reason is either transient
 * (worth a retry over HTTP) or permanent.
 */
#ifndef CA_REASON_H
#define CA_REASON_H

enum ca_reason {
    CA_OK = 0,
    CA_R_TIMEOUT,    /* connect or total timeout */
    CA_R_CONNECT,    /* could not connect / resolve */
    CA_R_NETWORK,    /* any other transfer error (reset, TLS, ...) */
    CA_R_HTTP_429,   /* too many requests */
    CA_R_HTTP_5XX,   /* server error */
    CA_R_HTTP_401,   /* token refused (401 or 403): fatal for the run */
    CA_R_HTTP_4XX,   /* other client error, e.g. 404 */
    CA_R_TRUNCATED,  /* body ended early: partial transfer or JSON cut */
    CA_R_BAD_JSON,   /* not JSON */
    CA_R_BAD_PAGE,   /* JSON, but not the Helix shape */
    CA_R_IO,         /* a file:// page missing or unreadable */
    CA_R_NO_CHANNEL, /* the API does not know the broadcaster */
    CA_R_COUNT
};

/* "timeout", "http_429", ... for reason r; "ok" for CA_OK. */
const char *ca_reason_name(int r);

/* "reason=timeout", ... : the label string of the fetch_failures metric. */
const char *ca_reason_label(int r);

/* 1 when another attempt may succeed (over HTTP), else 0. */
int ca_reason_transient(int r);

#endif /* CA_REASON_H */
