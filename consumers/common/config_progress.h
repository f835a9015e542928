/*
 * config_progress.h -- the "progress" section (clipbus-progress; its
 * session and ETA settings are also those of clipbus-top's sessions
 * view). Schema in config_progress.c; docs/config.md and
 * docs/clipbus-progress.md document every key.
 */
#ifndef CBC_CONFIG_PROGRESS_H
#define CBC_CONFIG_PROGRESS_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct cbc_progress_config {
    int eta;               /* 0 ema, 1 mean, 2 window (CBP_ETA_*) */
    uint64_t tau_ns;       /* EMA time constant */
    uint64_t window_ns;    /* window of the "window" estimator */
    uint64_t warmup_ns;    /* session time before any ETA is shown */
    uint64_t stall_ns;     /* no progress this long: stalled */
    uint64_t long_call_ns; /* an in-flight call this long: stalled */
    uint64_t keep_ended_ns; /* ended sessions stay listed this long */
    uint64_t refresh_ns;   /* redraw period on a terminal */
    uint64_t interval_ns;  /* line period when not on a terminal */
};

#ifdef __cplusplus
}
#endif
#endif /* CBC_CONFIG_PROGRESS_H */
