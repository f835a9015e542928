/*
 * config_sections.c -- the root of the configuration file and the
 * sections every program shares ("bus", "consumer").
 *
 * Adding a section (e.g. "log" for issue 6): a struct in config.h (or its
 * own header, as config_rrd.h), a table in its own file (as config_rrd.c),
 * one line in root_keys below, and its keys in docs/config.md. Nothing
 * else parses anything.
 */
#include <stddef.h>
#include <string.h>

#include "config.h"
#include "config_schema.h"

/* ---- "bus" -------------------------------------------------------------- */

/* The rule of clipbus.h for bus names: [A-Za-z0-9_-]{1,48}. */
static const char *
check_bus_name(const char *s)
{
    size_t n = strlen(s);
    if (n < 1 || n > 48)
        return "must be 1 to 48 characters long";
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
              (*s >= '0' && *s <= '9') || *s == '_' || *s == '-'))
            return "may contain only letters, digits, '_' and '-'";
    return NULL;
}

/* Order matches CB_FROM_OLDEST (0) and CB_FROM_NOW (1) of reader.h. */
static const char *const from_names[] = {"oldest", "now", NULL};
/* In the order of enum cbc_sched (sched_class.h). */
static const char *const sched_names[] = {"idle", "batch", "normal", NULL};

static const struct cbc_key bus_keys[] = {
    {.name = "name",
     .type = CBC_T_STRING,
     .offset = offsetof(struct cbc_bus_config, name),
     .dflt = "null",
     .flags = CBC_NULLABLE,
     .min = 1,
     .max = 48,
     .check = check_bus_name,
     .doc = "bus to read, [A-Za-z0-9_-]{1,48}; null: $CLIPBUS_BUS, else "
            "\"default\"; a --bus option overrides it"},
    {.name = "grace",
     .type = CBC_T_DURATION,
     .offset = offsetof(struct cbc_bus_config, grace_ns),
     .dflt = "\"60s\"",
     .min = 0,
     .max = 7 * CBC_NS_D,
     .doc = "segments of exited producers are drained and kept this long "
            "before they are unlinked"},
    {.name = "from",
     .type = CBC_T_ENUM,
     .offset = offsetof(struct cbc_bus_config, from),
     .dflt = "\"oldest\"",
     .choices = from_names,
     .doc = "where a new reader starts in each ring: \"oldest\" (everything "
            "still there) or \"now\" (only new records)"},
    {.name = NULL},
};

static const struct cbc_table bus_table = {
    .name = "bus",
    .keys = bus_keys,
    .size = sizeof(struct cbc_bus_config),
};

/* ---- "consumer" --------------------------------------------------------- */

static const struct cbc_key consumer_keys[] = {
    {.name = "status_interval",
     .type = CBC_T_DURATION,
     .offset = offsetof(struct cbc_consumer_config, status_interval_ns),
     .dflt = "\"100ms\"",
     .min = 100 * CBC_NS_MS,
     .max = CBC_NS_H,
     .doc = "how often the consumer refreshes its status segment (shown "
            "by `clipbus status`)"},
    {.name = "batch",
     .type = CBC_T_INT,
     .offset = offsetof(struct cbc_consumer_config, batch),
     .dflt = "4096",
     .min = 1,
     .max = 65536,
     .doc = "records taken from one ring before moving to the next"},
    {.name = "max_nap",
     .type = CBC_T_DURATION,
     .offset = offsetof(struct cbc_consumer_config, max_nap_ns),
     .dflt = "\"32ms\"",
     .min = CBC_NS_MS,
     .max = CBC_NS_S,
     .doc = "longest sleep between two looks at the rings of a slow "
            "stream (rounded down to a power of two of milliseconds); "
            "shorter means fewer records lost to a sudden burst, longer "
            "fewer wake-ups (docs/consumers.md)"},
    {.name = "sched",
     .type = CBC_T_ENUM,
     .offset = offsetof(struct cbc_consumer_config, sched),
     .dflt = "\"idle\"",
     .choices = sched_names,
     .doc = "CPU scheduling class of the consumer programs: \"idle\" "
            "(Linux SCHED_IDLE: only CPU time nothing else wants), "
            "\"batch\" (SCHED_BATCH) or \"normal\"; CLIPBUS_SCHED and "
            "--sched override it"},
    {.name = NULL},
};

static const struct cbc_table consumer_table = {
    .name = "consumer",
    .keys = consumer_keys,
    .size = sizeof(struct cbc_consumer_config),
};

/* ---- the root ----------------------------------------------------------- */

static const struct cbc_key root_keys[] = {
    {.name = "bus",
     .type = CBC_T_OBJECT,
     .offset = offsetof(struct cbc_config, bus),
     .sub = &bus_table,
     .doc = "the bus every program reads"},
    {.name = "consumer",
     .type = CBC_T_OBJECT,
     .offset = offsetof(struct cbc_config, consumer),
     .sub = &consumer_table,
     .doc = "settings shared by every consumer program"},
    {.name = "rrd",
     .type = CBC_T_OBJECT,
     .offset = offsetof(struct cbc_config, rrd),
     .sub = &cbc__rrd_table,
     .doc = "clipbus-rrd, the RRD archiver"},
    {.name = "log",
     .type = CBC_T_OBJECT,
     .offset = offsetof(struct cbc_config, log),
     .sub = &cbc__log_table,
     .doc = "clipbus-log, the structured SQLite log"},
    {.name = "progress",
     .type = CBC_T_OBJECT,
     .offset = offsetof(struct cbc_config, progress),
     .sub = &cbc__progress_table,
     .doc = "clipbus-progress, live progress bars with ETA"},
    {.name = "top",
     .type = CBC_T_OBJECT,
     .offset = offsetof(struct cbc_config, top),
     .sub = &cbc__top_table,
     .doc = "clipbus-top, the live terminal view"},
    {.name = "alert",
     .type = CBC_T_OBJECT,
     .offset = offsetof(struct cbc_config, alert),
     .sub = &cbc__alert_table,
     .doc = "clipbus-alert, rules and notification channels"},
    {.name = NULL},
};

const struct cbc_table cbc__root_table = {
    .name = "$",
    .keys = root_keys,
    .size = sizeof(struct cbc_config),
};
