/*
 * config_alert.h -- the "alert" section of the configuration file, as
 * clipbus-alert reads it: rules, channels, routes, maintenance windows.
 * The schema (keys, defaults, ranges, cross-field checks, template
 * checks) is in config_alert.c; docs/clipbus-alert.md explains the rule
 * model and docs/config.md lists every key.
 */
#ifndef CBC_CONFIG_ALERT_H
#define CBC_CONFIG_ALERT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Rule kinds, in the order of the schema's choices. */
#define CBC_AK_ERROR_COUNT     0 /* errors of a function in the window */
#define CBC_AK_ERROR_RATE      1 /* 100 * errors / calls (percent) */
#define CBC_AK_LATENCY         2 /* percentile of call durations, seconds */
#define CBC_AK_COUNTER_RATE    3 /* sum of counter deltas / window, per s */
#define CBC_AK_GAUGE           4 /* last gauge value in the window */
#define CBC_AK_ABSENCE         5 /* seconds since the last record */
#define CBC_AK_PRODUCER_DIED   6 /* producers that died in the window */
#define CBC_AK_RECORDS_LOST    7 /* records any consumer lost in it */
#define CBC_AK_SESSION_ABORTED 8 /* sessions aborted in the window */
#define CBC_AK_SESSION_STALLED 9 /* seconds an open session made no step */
#define CBC_AK_INFLIGHT        10 /* seconds the longest running call ran */
#define CBC_AK_N               11

/* Comparison: the rule fires when value OP fire. */
#define CBC_AOP_ABOVE 0 /* ">" */
#define CBC_AOP_BELOW 1 /* "<" */

/* Thresholds: static numbers, or relative to the series' own baseline
 * (the same value over `baseline`, before the current window). */
#define CBC_ATH_STATIC 0
#define CBC_ATH_RATIO  1 /* threshold = fire x baseline */
#define CBC_ATH_DELTA  2 /* threshold = baseline + fire */

#define CBC_ASEV_CRITICAL 0
#define CBC_ASEV_WARNING  1
#define CBC_ASEV_INFO     2

/* "clear" not given: the engine uses "fire" (no hysteresis). */
#define CBC_ALERT_UNSET (-1e300)

struct cbc_alert_rule {
    const char *name;
    int kind;                       /* CBC_AK_* */
    const char *const *match;       /* "label=glob" matchers, all must hold */
    size_t n_match;
    uint64_t window_ns;
    double percentile;              /* LATENCY */
    int op;                         /* CBC_AOP_* */
    double fire, clear;             /* clear resolved to fire when unset */
    int threshold;                  /* CBC_ATH_* */
    uint64_t baseline_ns;           /* RATIO/DELTA: baseline length */
    int64_t min_count;              /* samples needed in the window */
    int64_t baseline_min_count;     /* samples needed in the baseline */
    uint64_t for_ns;                /* must hold this long before firing */
    uint64_t repeat_ns;             /* re-notify while firing; 0 never */
    uint64_t cooldown_ns;           /* after a resolve, no new page */
    int severity;                   /* CBC_ASEV_* */
    const char *const *labels;      /* "key=value" added to the alert */
    size_t n_labels;
    const char *summary, *description; /* templates */
};

#define CBC_ACH_WEBHOOK 0
#define CBC_ACH_EMAIL   1
#define CBC_ACH_FILE    2

struct cbc_alert_channel {
    const char *name;
    int type;                    /* CBC_ACH_* */
    const char *url;             /* webhook: http(s)://; email: smtp(s):// */
    const char *bearer_token;    /* webhook, NULL: none */
    const char *username;        /* basic auth (webhook) or SMTP login */
    const char *password;
    bool tls_verify;             /* default true */
    bool starttls;               /* email: require STARTTLS on smtp:// */
    const char *from;            /* email */
    const char *const *to;       /* email recipients */
    size_t n_to;
    const char *path;            /* file */
    const char *const *command;  /* file: argv run per notification */
    size_t n_command;
    uint64_t timeout_ns;         /* one attempt */
    uint64_t backoff_ns;         /* first retry delay */
    uint64_t max_backoff_ns;     /* retry delay cap */
    uint64_t give_up_ns;         /* drop (and count) after this long */
};

struct cbc_alert_route {
    const char *const *match;    /* "label=glob" on the alert's labels */
    size_t n_match;
    const char *const *severities; /* empty: any */
    size_t n_severities;
    const char *const *channels;
    size_t n_channels;
    bool stop;                   /* no later route sees a matched alert */
};

/* A maintenance window: alerts matching are silenced from start for
 * `duration`, again every `every` (0: once). */
struct cbc_alert_maint {
    const char *name;
    const char *const *match;
    size_t n_match;
    const char *start;           /* RFC 3339 UTC: 2025-01-31T02:00:00Z */
    uint64_t start_ns;           /* resolved */
    uint64_t duration_ns;
    uint64_t every_ns;
};

struct cbc_alert_config {
    const char *state_dir;       /* outbox, state, silences */
    uint64_t eval_interval_ns;
    uint64_t group_wait_ns;
    const char *external_url;
    uint64_t records_lost_poll_ns; /* read other consumers' status */
    const struct cbc_alert_rule *rules;
    size_t n_rules;
    const struct cbc_alert_channel *channels;
    size_t n_channels;
    const struct cbc_alert_route *routes;
    size_t n_routes;
    const struct cbc_alert_maint *maintenance;
    size_t n_maintenance;
};

/* Names as the config spells them ("error_rate", "webhook", ...). */
const char *cbc_alert_kind_name(int kind);
const char *cbc_alert_severity_name(int sev);
const char *cbc_alert_channel_type_name(int type);

/* Checks a template: NULL when every {field} is known, else a static
 * message. Fields: rule, target, function, producer, value, threshold, severity,
 * kind, window, baseline, labels.NAME. "{{" is a literal brace. */
const char *cbc_alert_template_check(const char *tpl);

/* Parses "2025-01-31T02:00:00Z" into ns since the epoch: 0 or -EINVAL. */
int cbc_alert_parse_time(const char *s, uint64_t *ns);

#ifdef __cplusplus
}
#endif

#endif /* CBC_CONFIG_ALERT_H */
