/*
 * config_top.h -- the "top" section (clipbus-top). Schema in
 * config_top.c; docs/config.md and docs/clipbus-top.md document every key.
 */
#ifndef CBC_CONFIG_TOP_H
#define CBC_CONFIG_TOP_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CBC_TOP_COLOR_AUTO   0
#define CBC_TOP_COLOR_ALWAYS 1
#define CBC_TOP_COLOR_NEVER  2

struct cbc_top_config {
    uint64_t refresh_ns; /* redraw period */
    uint64_t span_ns;    /* rates and percentiles cover about this long */
    int64_t errors;      /* recent errors kept */
    int color;           /* CBC_TOP_COLOR_* */
    const char *view;    /* first view: functions, sessions, ... */
};

#ifdef __cplusplus
}
#endif
#endif /* CBC_CONFIG_TOP_H */
