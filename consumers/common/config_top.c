/*
 * config_top.c -- schema of the "top" section (clipbus-top).
 */
#include <stddef.h>
#include <string.h>

#include "config.h"
#include "config_schema.h"

static const char *const color_names[] = {"auto", "always", "never", NULL};

static const char *
check_view(const char *s)
{
    static const char *const views[] = {"functions", "sessions", "metrics",
                                        "consumers", "errors"};
    for (size_t i = 0; i < sizeof views / sizeof views[0]; i++)
        if (strcmp(s, views[i]) == 0)
            return NULL;
    return "must be functions, sessions, metrics, consumers or errors";
}

static const struct cbc_key top_keys[] = {
    {.name = "refresh",
     .type = CBC_T_DURATION,
     .offset = offsetof(struct cbc_top_config, refresh_ns),
     .dflt = "\"1s\"",
     .min = 100 * CBC_NS_MS,
     .max = CBC_NS_MIN,
     .doc = "how often the screen is redrawn; -d overrides it"},
    {.name = "span",
     .type = CBC_T_DURATION,
     .offset = offsetof(struct cbc_top_config, span_ns),
     .dflt = "\"10s\"",
     .min = 2 * CBC_NS_S,
     .max = CBC_NS_H,
     .doc = "calls/s, error rates and latency percentiles cover the last "
            "span/2 to span of record time"},
    {.name = "errors",
     .type = CBC_T_INT,
     .offset = offsetof(struct cbc_top_config, errors),
     .dflt = "200",
     .min = 1,
     .max = 100000,
     .doc = "recent errors (failed calls, error log lines) kept for the "
            "errors view"},
    {.name = "color",
     .type = CBC_T_ENUM,
     .offset = offsetof(struct cbc_top_config, color),
     .dflt = "\"auto\"",
     .choices = color_names,
     .doc = "\"auto\": colour when the terminal has it and NO_COLOR is "
            "unset; \"always\" still honours NO_COLOR; \"never\""},
    {.name = "view",
     .type = CBC_T_STRING,
     .offset = offsetof(struct cbc_top_config, view),
     .dflt = "\"functions\"",
     .min = 1,
     .max = 16,
     .check = check_view,
     .doc = "the view shown at start"},
    {.name = NULL},
};

const struct cbc_table cbc__top_table = {
    .name = "top",
    .keys = top_keys,
    .size = sizeof(struct cbc_top_config),
};
