/*
 * reason.c -- names of fetch failure reasons.
 */
#include "reason.h"

static const char *const names[CA_R_COUNT] = {
    [CA_OK] = "ok",
    [CA_R_TIMEOUT] = "timeout",
    [CA_R_CONNECT] = "connect",
    [CA_R_NETWORK] = "network",
    [CA_R_HTTP_429] = "http_429",
    [CA_R_HTTP_5XX] = "http_5xx",
    [CA_R_HTTP_401] = "http_401",
    [CA_R_HTTP_4XX] = "http_4xx",
    [CA_R_TRUNCATED] = "truncated",
    [CA_R_BAD_JSON] = "bad_json",
    [CA_R_BAD_PAGE] = "bad_page",
    [CA_R_IO] = "io",
    [CA_R_NO_CHANNEL] = "no_channel",
};

/* Literal label strings: the metric API interns each once. */
static const char *const labels[CA_R_COUNT] = {
    [CA_OK] = "reason=ok",
    [CA_R_TIMEOUT] = "reason=timeout",
    [CA_R_CONNECT] = "reason=connect",
    [CA_R_NETWORK] = "reason=network",
    [CA_R_HTTP_429] = "reason=http_429",
    [CA_R_HTTP_5XX] = "reason=http_5xx",
    [CA_R_HTTP_401] = "reason=http_401",
    [CA_R_HTTP_4XX] = "reason=http_4xx",
    [CA_R_TRUNCATED] = "reason=truncated",
    [CA_R_BAD_JSON] = "reason=bad_json",
    [CA_R_BAD_PAGE] = "reason=bad_page",
    [CA_R_IO] = "reason=io",
    [CA_R_NO_CHANNEL] = "reason=no_channel",
};

const char *
ca_reason_name(int r)
{
    return r >= 0 && r < CA_R_COUNT ? names[r] : "unknown";
}

const char *
ca_reason_label(int r)
{
    return r >= 0 && r < CA_R_COUNT ? labels[r] : "reason=unknown";
}

int
ca_reason_transient(int r)
{
    switch (r) {
    case CA_R_TIMEOUT:
    case CA_R_CONNECT:
    case CA_R_NETWORK:
    case CA_R_HTTP_429:
    case CA_R_HTTP_5XX:
    case CA_R_TRUNCATED:
    case CA_R_BAD_JSON:
    case CA_R_BAD_PAGE:
        return 1;
    default:
        return 0;
    }
}
