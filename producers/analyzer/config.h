/*
 * config.h -- the command line of clip-analyzer, checked whole.
 */
#ifndef CA_CONFIG_H
#define CA_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "report.h"

/* Exit statuses (documented in --help). */
enum ca_exit {
    CA_EXIT_OK = 0,       /* every channel fetched, ranking written */
    CA_EXIT_PARTIAL = 1,  /* some channels failed; ranking of the rest */
    CA_EXIT_USAGE = 2,    /* bad command line or environment */
    CA_EXIT_NODATA = 3,   /* every channel failed (e.g. server unreachable) */
    CA_EXIT_AUTH = 4,     /* the API refused the credentials (401/403) */
    CA_EXIT_STORE = 5,    /* the database could not be opened or written */
    CA_EXIT_INTERNAL = 6  /* out of memory, threads, output write error */
};

struct ca_config {
    const char *api;
    char **channels;       /* owned, deduplicated, checked ids */
    size_t nchannels;
    const char *db;
    int64_t observed_at;   /* Unix seconds */
    int observed_at_given;
    int jobs;
    int top;               /* 0 = all */
    enum ca_format format;
    const char *output;    /* NULL = stdout */
    long timeout_ms;
    long connect_timeout_ms;
    int retries;
    int retry_budget;
    long backoff_ms;
    long backoff_max_ms;
    long max_wait_ms;
    int64_t window_s;
    int max_pages;
    uint64_t seed;
    double half_life_h;
    const char *token;     /* from CLIP_API_TOKEN; never printed */
    const char *client_id; /* from CLIP_API_CLIENT_ID */
    int help;
    int version;
};

/* Parses argv into cfg (defaults first). Returns 0, or -1 with a one-line
 * message naming the option in err. Release with ca_config_fini(). */
int ca_config_parse(int argc, char **argv, struct ca_config *cfg, char *err,
                    size_t errsz);
void ca_config_fini(struct ca_config *cfg);

/* The --help text. */
void ca_config_usage(FILE *f);

#endif /* CA_CONFIG_H */
