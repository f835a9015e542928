/*
 * config_log.h -- the "log" section of the configuration file, as
 * clipbus-log (the structured SQLite log) and `clipbus query/export/log`
 * read it. Its schema (keys, defaults, ranges) is in config_log.c;
 * docs/clipbus-log.md documents every key.
 */
#ifndef CBC_CONFIG_LOG_H
#define CBC_CONFIG_LOG_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct cbc_log_config {
    const char *path;          /* the SQLite database file */
    int64_t batch_rows;        /* commit after this many rows ... */
    uint64_t commit_interval_ns; /* ... or this long after the first */
    uint64_t busy_timeout_ns;  /* wait this long for a lock, then count */
    uint64_t keep_raw_ns;      /* raw rows (calls, logs, ...) kept */
    uint64_t keep_summary_ns;  /* daily summary rows kept */
    uint64_t max_size_bytes;   /* 0 (null): no size cap */
    uint64_t maintenance_interval_ns; /* retention runs this often */
    uint64_t wal_max_bytes;    /* checkpoint (truncate) beyond this */
};

#ifdef __cplusplus
}
#endif

#endif /* CBC_CONFIG_LOG_H */
