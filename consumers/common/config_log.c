/*
 * config_log.c -- schema of the "log" section (clipbus-log): the
 * database file, batching, lock waits, retention (seed task 12.1, Req
 * 5.5: raw rows 90 days, daily summaries a year) and WAL bounds.
 */
#include <stddef.h>

#include "config.h"
#include "config_schema.h"

#define KIB 1024LL
#define MIB (1024 * KIB)
#define GIB (1024 * MIB)

/* Req 5.5: summaries must outlive the raw rows they summarize. */
static void
log_finish(void *obj, struct cbc_ctx *ctx)
{
    const struct cbc_log_config *l = obj;
    char a[32], b[32];

    if (l->keep_summary_ns < l->keep_raw_ns) {
        size_t mark = cbc__path_key(ctx, "keep_summary");
        cbc__error(ctx, "%s is shorter than $.log.keep_raw (%s): daily "
                        "summaries would vanish before the rows they sum up",
                   cbc__fmt_duration(a, sizeof a, l->keep_summary_ns),
                   cbc__fmt_duration(b, sizeof b, l->keep_raw_ns));
        cbc__path_pop(ctx, mark);
    }
}

static const struct cbc_key log_keys[] = {
    {.name = "path",
     .type = CBC_T_STRING,
     .offset = offsetof(struct cbc_log_config, path),
     .dflt = "\"clipbus-log.db\"",
     .min = 1,
     .max = 4095,
     .doc = "the SQLite database file (created if missing); relative paths "
            "are relative to the working directory; --db overrides it"},
    {.name = "batch_rows",
     .type = CBC_T_INT,
     .offset = offsetof(struct cbc_log_config, batch_rows),
     .dflt = "50000",
     .min = 1,
     .max = 10000000,
     .doc = "rows written in one transaction at most"},
    {.name = "commit_interval",
     .type = CBC_T_DURATION,
     .offset = offsetof(struct cbc_log_config, commit_interval_ns),
     .dflt = "\"200ms\"",
     .min = CBC_NS_MS,
     .max = 60 * CBC_NS_S,
     .doc = "a transaction is committed at the latest this long after its "
            "first row: what a crash can lose"},
    {.name = "busy_timeout",
     .type = CBC_T_DURATION,
     .offset = offsetof(struct cbc_log_config, busy_timeout_ns),
     .dflt = "\"1s\"",
     .min = 0,
     .max = 60 * CBC_NS_S,
     .doc = "how long a write waits for a lock held by another program "
            "before its rows are counted lost"},
    {.name = "keep_raw",
     .type = CBC_T_DURATION,
     .offset = offsetof(struct cbc_log_config, keep_raw_ns),
     .dflt = "\"90d\"",
     .min = CBC_NS_H,
     .max = 100 * CBC_NS_Y,
     .doc = "raw rows (calls, logs, sessions, progress, metric samples, "
            "losses) older than this are deleted"},
    {.name = "keep_summary",
     .type = CBC_T_DURATION,
     .offset = offsetof(struct cbc_log_config, keep_summary_ns),
     .dflt = "\"1y\"",
     .min = CBC_NS_D,
     .max = 100 * CBC_NS_Y,
     .doc = "daily summary rows older than this are deleted; at least "
            "keep_raw"},
    {.name = "max_size",
     .type = CBC_T_SIZE,
     .offset = offsetof(struct cbc_log_config, max_size_bytes),
     .dflt = "\"8GiB\"",
     .flags = CBC_NULLABLE,
     .min = MIB,
     .max = 1024 * 1024 * GIB,
     .doc = "when the data in the file exceed this, the oldest raw rows "
            "are deleted until they fit; null: no cap"},
    {.name = "maintenance_interval",
     .type = CBC_T_DURATION,
     .offset = offsetof(struct cbc_log_config, maintenance_interval_ns),
     .dflt = "\"1h\"",
     .min = CBC_NS_S,
     .max = 7 * CBC_NS_D,
     .doc = "how often retention, daily summaries and incremental vacuum "
            "run (also once at start)"},
    {.name = "wal_max",
     .type = CBC_T_SIZE,
     .offset = offsetof(struct cbc_log_config, wal_max_bytes),
     .dflt = "\"64MiB\"",
     .min = MIB,
     .max = 64 * GIB,
     .doc = "the write-ahead log is checkpointed and truncated when it "
            "grows beyond this"},
    {.name = NULL},
};

const struct cbc_table cbc__log_table = {
    .name = "log",
    .keys = log_keys,
    .size = sizeof(struct cbc_log_config),
    .finish = log_finish,
};
