/*
 * config_rrd.c -- schema of the "rrd" section (clipbus-rrd): keys,
 * defaults, ranges and the cross-field checks rrdtool imposes.
 *
 * The default archives follow issue 5: AVERAGE of every 10 s step for a
 * day, then AVERAGE and MAX at 1 minute for 90 days, 1 hour for a year
 * (366 days) and 1 day for 5 years.
 */
#include <stddef.h>
#include <string.h>

#include "config.h"
#include "config_schema.h"

/* rrdtool allocates every row up front: cap one archive at 10 million
 * rows (80 MB per data source) so a typo such as "keep": "5y" with a 1 s
 * step cannot fill the disk. */
#define MAX_ROWS 10000000ull

static const char *const cf_names[] = {"AVERAGE", "MAX", "MIN", "LAST", NULL};

const char *
cbc_rrd_cf_name(int cf)
{
    return cf >= 0 && cf < 4 ? cf_names[cf] : "?";
}

static const struct cbc_key rra_keys[] = {
    {.name = "cf",
     .type = CBC_T_ENUM,
     .offset = offsetof(struct cbc_rra, cf),
     .choices = cf_names,
     .doc = "consolidation function: AVERAGE, MAX, MIN or LAST"},
    {.name = "step",
     .type = CBC_T_DURATION,
     .offset = offsetof(struct cbc_rra, step_ns),
     .flags = CBC_NULLABLE,
     .min = CBC_NS_S,
     .max = 10 * CBC_NS_Y,
     .doc = "one row per this much time, a multiple of rrd.step; null "
            "means rrd.step (one row per update)"},
    {.name = "keep",
     .type = CBC_T_DURATION,
     .offset = offsetof(struct cbc_rra, keep_ns),
     .min = CBC_NS_S,
     .max = 100 * CBC_NS_Y,
     .doc = "history kept: rows = keep / step, allocated when the file is "
            "created"},
    {.name = NULL},
};

static const struct cbc_table rra_table = {
    .name = "rra",
    .keys = rra_keys,
    .size = sizeof(struct cbc_rra),
};

static int
whole_seconds(struct cbc_ctx *ctx, const char *key, uint64_t ns)
{
    char a[32];
    if (ns % (uint64_t)CBC_NS_S == 0)
        return 1;
    size_t mark = cbc__path_key(ctx, key);
    cbc__error(ctx, "%s is not a whole number of seconds (rrdtool's unit)",
               cbc__fmt_duration(a, sizeof a, ns));
    cbc__path_pop(ctx, mark);
    return 0;
}

/* Req 6.5: one archive against the section: a whole number of base
 * steps, at least one of its own steps long, not absurdly many rows, not
 * an exact copy of an earlier one. Two archives with the same cf and step
 * but different keep are allowed (rrdtool accepts them; with "step": "1m"
 * the default archives contain such a pair, the shorter one redundant).
 * The path is the archive's. */
static void
check_rra(struct cbc_ctx *ctx, const struct cbc_rrd_config *r, size_t i)
{
    const struct cbc_rra *x = &r->rras[i];
    char a[32], b[32];
    size_t dup = i;
    for (size_t j = 0; j < i; j++)
        if (r->rras[j].cf == x->cf && r->rras[j].step_ns == x->step_ns &&
            r->rras[j].keep_ns == x->keep_ns)
            dup = j;
    if (x->step_ns % r->step_ns != 0) {
        cbc__path_key(ctx, "step");
        cbc__error(ctx, "%s is not a multiple of $.rrd.step (%s)",
                   cbc__fmt_duration(a, sizeof a, x->step_ns),
                   cbc__fmt_duration(b, sizeof b, r->step_ns));
    } else if (x->keep_ns < x->step_ns) {
        cbc__path_key(ctx, "keep");
        cbc__error(ctx, "%s is shorter than the archive's step (%s)",
                   cbc__fmt_duration(a, sizeof a, x->keep_ns),
                   cbc__fmt_duration(b, sizeof b, x->step_ns));
    } else if ((x->keep_ns + x->step_ns - 1) / x->step_ns > MAX_ROWS) {
        cbc__path_key(ctx, "keep");
        cbc__error(ctx, "%s at steps of %s is over %llu rows; use a longer "
                        "step or keep less",
                   cbc__fmt_duration(a, sizeof a, x->keep_ns),
                   cbc__fmt_duration(b, sizeof b, x->step_ns), MAX_ROWS);
    } else if (dup != i) {
        cbc__error(ctx, "same cf, step and keep as $.rrd.rras[%zu]", dup);
    }
}

/* Req 6.5: values that are fine alone but not together. Runs only when
 * every key of the section (and every archive) decoded. */
static void
rrd_finish(void *obj, struct cbc_ctx *ctx)
{
    struct cbc_rrd_config *r = obj;
    char a[32], b[32];
    if (r->heartbeat_ns == 0) /* null: two steps, rrdtool's usual choice */
        r->heartbeat_ns = 2 * r->step_ns;
    /* rrdtool counts steps and heartbeats in whole seconds. */
    if (!whole_seconds(ctx, "step", r->step_ns) ||
        !whole_seconds(ctx, "heartbeat", r->heartbeat_ns))
        return;
    if (r->heartbeat_ns < r->step_ns) {
        size_t mark = cbc__path_key(ctx, "heartbeat");
        cbc__error(ctx, "%s is shorter than $.rrd.step (%s)",
                   cbc__fmt_duration(a, sizeof a, r->heartbeat_ns),
                   cbc__fmt_duration(b, sizeof b, r->step_ns));
        cbc__path_pop(ctx, mark);
    }
    for (size_t i = 0; i < r->n_rras; i++) {
        /* The section owns its decoded archives until the config is
         * published: resolving null steps here is still construction. */
        struct cbc_rra *x = (struct cbc_rra *)&r->rras[i];
        if (x->step_ns == 0)
            x->step_ns = r->step_ns;
        size_t mark = cbc__path_key(ctx, "rras");
        cbc__path_index(ctx, i);
        check_rra(ctx, r, i);
        cbc__path_pop(ctx, mark);
    }
}

/* AVERAGE of every base step for a day, then AVERAGE and MAX at 1 minute
 * for 90 days, 1 hour for a year, 1 day for 5 years. */
#define RRAS_DEFAULT                                                           \
    "[{\"cf\": \"AVERAGE\", \"step\": null, \"keep\": \"1d\"},"                \
    " {\"cf\": \"AVERAGE\", \"step\": \"1m\", \"keep\": \"90d\"},"             \
    " {\"cf\": \"MAX\", \"step\": \"1m\", \"keep\": \"90d\"},"                 \
    " {\"cf\": \"AVERAGE\", \"step\": \"1h\", \"keep\": \"1y\"},"              \
    " {\"cf\": \"MAX\", \"step\": \"1h\", \"keep\": \"1y\"},"                  \
    " {\"cf\": \"AVERAGE\", \"step\": \"1d\", \"keep\": \"5y\"},"              \
    " {\"cf\": \"MAX\", \"step\": \"1d\", \"keep\": \"5y\"}]"

static const struct cbc_key glob_elem = {
    .name = "function glob",
    .type = CBC_T_STRING,
    .min = 1,
    .max = 256,
};

static const struct cbc_key rrd_keys[] = {
    {.name = "dir",
     .type = CBC_T_STRING,
     .offset = offsetof(struct cbc_rrd_config, dir),
     .dflt = "\"clipbus-rrd\"",
     .min = 1,
     .max = 4095,
     .doc = "directory of the .rrd files, created if missing; relative "
            "paths are relative to the working directory"},
    {.name = "step",
     .type = CBC_T_DURATION,
     .offset = offsetof(struct cbc_rrd_config, step_ns),
     .dflt = "\"10s\"",
     .min = CBC_NS_S,
     .max = CBC_NS_D,
     .doc = "base step of every file (whole seconds: rrdtool's unit)"},
    {.name = "heartbeat",
     .type = CBC_T_DURATION,
     .offset = offsetof(struct cbc_rrd_config, heartbeat_ns),
     .dflt = "null",
     .flags = CBC_NULLABLE,
     .min = CBC_NS_S,
     .max = 7 * CBC_NS_D,
     .doc = "a data source without an update for this long becomes "
            "unknown; null means two steps; at least one step"},
    {.name = "daemon",
     .type = CBC_T_STRING,
     .offset = offsetof(struct cbc_rrd_config, daemon),
     .dflt = "null",
     .flags = CBC_NULLABLE,
     .min = 1,
     .max = 256,
     .doc = "rrdcached address (\"unix:/run/rrdcached.sock\" or a socket "
            "path); null writes the files directly"},
    {.name = "rras",
     .type = CBC_T_OBJECTS,
     .offset = offsetof(struct cbc_rrd_config, rras),
     .count_offset = offsetof(struct cbc_rrd_config, n_rras),
     .dflt = RRAS_DEFAULT,
     .min = 1,
     .max = 32,
     .sub = &rra_table,
     .doc = "the archives of every file: {cf, step, keep}"},
    {.name = "functions",
     .type = CBC_T_LIST,
     .offset = offsetof(struct cbc_rrd_config, functions),
     .count_offset = offsetof(struct cbc_rrd_config, n_functions),
     .dflt = "[\"*\"]",
     .min = 0,
     .max = 256,
     .elem = &glob_elem,
     .doc = "archive only functions whose name matches one of these "
            "globs (fnmatch); [] archives none"},
    {.name = "max_files",
     .type = CBC_T_INT,
     .offset = offsetof(struct cbc_rrd_config, max_files),
     .dflt = "1000",
     .min = 1,
     .max = 1000000,
     .doc = "create at most this many files; further functions are "
            "counted and reported, not archived"},
    {.name = NULL},
};

const struct cbc_table cbc__rrd_table = {
    .name = "rrd",
    .keys = rrd_keys,
    .size = sizeof(struct cbc_rrd_config),
    .finish = rrd_finish,
};
