/*
 * config_progress.c -- schema of the "progress" section (clipbus-progress
 * and clipbus-top's sessions): ETA estimator, stall detection, refresh.
 */
#include <stddef.h>

#include "config.h"
#include "config_schema.h"

/* Order matches CBP_ETA_EMA, _MEAN, _WINDOW (consumers/progress/eta.h). */
static const char *const eta_names[] = {"ema", "mean", "window", NULL};

static const struct cbc_key progress_keys[] = {
    {.name = "eta",
     .type = CBC_T_ENUM,
     .offset = offsetof(struct cbc_progress_config, eta),
     .dflt = "\"ema\"",
     .choices = eta_names,
     .doc = "rate estimator behind the ETA: \"ema\" (time-based moving "
            "average, constant tau), \"mean\" (since the session began) or "
            "\"window\" (over the last `window`); --eta overrides it"},
    {.name = "tau",
     .type = CBC_T_DURATION,
     .offset = offsetof(struct cbc_progress_config, tau_ns),
     .dflt = "\"10s\"",
     .min = 100 * CBC_NS_MS,
     .max = CBC_NS_H,
     .doc = "time constant of the EMA: after a change of pace the ETA is "
            "within 5% of the new pace after 3 x tau"},
    {.name = "window",
     .type = CBC_T_DURATION,
     .offset = offsetof(struct cbc_progress_config, window_ns),
     .dflt = "\"30s\"",
     .min = CBC_NS_S,
     .max = CBC_NS_H,
     .doc = "span of the \"window\" estimator"},
    {.name = "warmup",
     .type = CBC_T_DURATION,
     .offset = offsetof(struct cbc_progress_config, warmup_ns),
     .dflt = "\"1s\"",
     .min = 1,
     .max = CBC_NS_H,
     .doc = "the ETA says \"unknown\" until the session has made progress "
            "and run this long"},
    {.name = "stall_after",
     .type = CBC_T_DURATION,
     .offset = offsetof(struct cbc_progress_config, stall_ns),
     .dflt = "\"30s\"",
     .min = CBC_NS_S,
     .max = CBC_NS_D,
     .doc = "a running session without progress for this long is marked "
            "stalled"},
    {.name = "long_call",
     .type = CBC_T_DURATION,
     .offset = offsetof(struct cbc_progress_config, long_call_ns),
     .dflt = "\"60s\"",
     .min = CBC_NS_S,
     .max = CBC_NS_D,
     .doc = "a session whose producer has a monitored call in flight for "
            "this long is marked stalled"},
    {.name = "keep_ended",
     .type = CBC_T_DURATION,
     .offset = offsetof(struct cbc_progress_config, keep_ended_ns),
     .dflt = "\"60s\"",
     .min = 0,
     .max = CBC_NS_D,
     .doc = "ended sessions stay in the JSON snapshot and clipbus-top "
            "this long"},
    {.name = "refresh",
     .type = CBC_T_DURATION,
     .offset = offsetof(struct cbc_progress_config, refresh_ns),
     .dflt = "\"200ms\"",
     .min = 50 * CBC_NS_MS,
     .max = CBC_NS_MIN,
     .doc = "how often the bars are redrawn on a terminal"},
    {.name = "interval",
     .type = CBC_T_DURATION,
     .offset = offsetof(struct cbc_progress_config, interval_ns),
     .dflt = "\"10s\"",
     .min = 100 * CBC_NS_MS,
     .max = CBC_NS_H,
     .doc = "when stdout is not a terminal: one line per running session "
            "this often; --interval overrides it"},
    {.name = NULL},
};

const struct cbc_table cbc__progress_table = {
    .name = "progress",
    .keys = progress_keys,
    .size = sizeof(struct cbc_progress_config),
};
