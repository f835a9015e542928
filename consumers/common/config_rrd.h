/*
 * config_rrd.h -- the "rrd" section of the configuration file, as
 * clipbus-rrd reads it. Its schema (keys, defaults, ranges, cross-field
 * checks) is in config_rrd.c; docs/config.md documents every key.
 * Changing a key: edit the struct here, the table there, and the docs.
 */
#ifndef CBC_CONFIG_RRD_H
#define CBC_CONFIG_RRD_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Consolidation functions, in the order of the schema's choices. */
#define CBC_CF_AVERAGE 0
#define CBC_CF_MAX     1
#define CBC_CF_MIN     2
#define CBC_CF_LAST    3

/* One round-robin archive: consolidate with `cf` over `step_ns` (a
 * multiple of the file's step) and keep `keep_ns` of history
 * (rows = ceil(keep / step)). */
struct cbc_rra {
    int cf;           /* CBC_CF_* */
    uint64_t step_ns;
    uint64_t keep_ns;
};

struct cbc_rrd_config {
    const char *dir;          /* where the .rrd files go */
    uint64_t step_ns;         /* base step of every file */
    uint64_t heartbeat_ns;    /* resolved: 2 x step when the file has null */
    const char *daemon;       /* rrdcached address, NULL: write directly */
    const struct cbc_rra *rras;
    size_t n_rras;
    const char *const *functions; /* globs of functions to archive */
    size_t n_functions;
    int64_t max_files;        /* stop creating files beyond this many */
};

/* Name of a CBC_CF_* value ("AVERAGE"), as rrdtool spells it. */
const char *cbc_rrd_cf_name(int cf);

#ifdef __cplusplus
}
#endif

#endif /* CBC_CONFIG_RRD_H */
