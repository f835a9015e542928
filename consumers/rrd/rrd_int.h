/*
 * consumers/rrd/rrd_int.h -- the parts of clipbus-rrd (internal).
 *
 *   names.c   archive keys -> file names (sanitized, collision-free) and
 *             the index file (index.json) that maps them back
 *   store.c   the archive files: check, create, last update, update --
 *             through librrd directly or through rrdcached, never both
 *   sink.c    the consumer sink: records -> cb_agg windows -> updates
 *   graph.c   `clipbus-rrd graph-cmd`: rrdtool graph command lines
 *   main.c    options, configuration, the run
 *
 * THREADS. Everything that touches librrd (store.c, called from sink.c)
 * runs in the consumer runtime's worker thread only: librrd's argv calls
 * are not thread-safe and rrdcached's client keeps one global connection
 * per process. graph.c only prints text and runs in the main thread of a
 * process that never starts the runtime.
 */
#ifndef CBR_RRD_INT_H
#define CBR_RRD_INT_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"

/* Kinds of archive: the cb_agg key kinds (CB_AGG_FUNCTION ...). */

/* The data sources of each kind, in file order. Units: calls, errors and
 * counts per second; durations in seconds; counters per second; gauges
 * and observed values in the producer's own unit. */
#define CBR_DS_MAX 5
struct cbr_layout {
    int kind;
    const char *prefix;          /* file name prefix: "fn", "counter"... */
    int nds;
    const char *ds[CBR_DS_MAX];  /* DS names (rrdtool: [a-zA-Z0-9_]{1,19}) */
    const char *min[CBR_DS_MAX]; /* DS minimum ("0" or "U") */
};

/* The layout of kind `kind`, or NULL. */
const struct cbr_layout *cbr_layout_of(int kind);

/* The layout whose prefix is `prefix` ("fn", "counter", "gauge",
 * "observe"), or NULL. */
const struct cbr_layout *cbr_layout_by_prefix(const char *prefix);

/* ---- names.c ------------------------------------------------------------ */

/* One archived key and its file. Strings are owned by the map. */
struct cbr_entry {
    int kind;
    char *name;
    char *labels;  /* "" when none */
    char *file;    /* base name, "fn-fetch_page.rrd" */
};

struct cbr_map {
    struct cbr_entry *v;
    size_t n, cap;
    int dirty;     /* entries added since the last save */
};

/* Writes the file name for (kind, name, labels) into out (at least 160
 * bytes): "<prefix>-<sanitized name>[-<sanitized labels>][-<hash>].rrd".
 * Sanitized: ASCII lowercased, every byte outside [a-z0-9_-] becomes '_',
 * name cut at 80 and labels at 40 bytes. The hash (8 hex digits of the
 * FNV-1a 64 hash of the exact key) is added whenever sanitizing changed
 * anything, so two keys that sanitize alike still get different files.
 * `attempt` > 0 appends "-<attempt+1>" (resolving a hash collision). */
void cbr_file_name(int kind, const char *name, const char *labels,
                   unsigned attempt, char *out, size_t out_len);

/* Finds the entry of (kind, name, labels), or NULL. */
struct cbr_entry *cbr_map_find(struct cbr_map *m, int kind, const char *name,
                               const char *labels);

/* Adds (kind, name, labels) with a file name no other entry uses, or
 * returns the existing entry. NULL on ENOMEM. */
struct cbr_entry *cbr_map_add(struct cbr_map *m, int kind, const char *name,
                              const char *labels);

/* Loads dir/index.json into an empty map. A missing file is fine (0); an
 * unreadable or malformed one returns -EBADMSG or -errno with a one-line
 * reason in why (the map stays empty). */
int cbr_map_load(struct cbr_map *m, const char *dir, char *why,
                 size_t why_len);

/* Writes dir/index.json atomically (temporary file, fsync, rename).
 * Returns 0 or -errno (the old index stays intact). */
int cbr_map_save(struct cbr_map *m, const char *dir, uint64_t step_ns);

void cbr_map_free(struct cbr_map *m);

/* ---- store.c ------------------------------------------------------------ */

struct cbr_store;

/* Opens the store for directory `dir` with the archive settings of `rc`
 * (copied). daemon: NULL writes files directly, else every operation goes
 * through rrdcached at that address. Returns 0 or -errno (why says what
 * is wrong: the directory cannot be made or written, the daemon is not
 * there). *out pairs with cbr_store_close(). Worker thread only. */
int cbr_store_open(const struct cbc_rrd_config *rc, const char *dir,
                   const char *daemon, struct cbr_store **out, char *why,
                   size_t why_len);
void cbr_store_close(struct cbr_store *s);

/* Makes sure `file` (a base name in the directory) is one of our archives
 * for `kind`: creates it (starting just before first_s) when missing, or
 * checks an existing one (readable RRD, our step and data sources) and
 * returns its last update time in *last_s. Never modifies or replaces a
 * file that is not ours. Returns 0, or negative with why naming the file:
 * -EBADF (not ours / corrupt: left untouched), -ENOSPC, -errno. */
int cbr_store_prepare(struct cbr_store *s, int kind, const char *file,
                      uint64_t first_s, uint64_t *last_s, char *why,
                      size_t why_len);

/* Applies n update strings ("T:v:v...", increasing T) to `file`. Returns
 * 0 or negative with why. */
int cbr_store_update(struct cbr_store *s, const char *file, int n,
                     const char **updates, char *why, size_t why_len);

/* The path the store uses for `file` (daemon over TCP: relative). */
const char *cbr_store_path(struct cbr_store *s, const char *file, char *buf,
                           size_t len);

/* ---- sink.c ------------------------------------------------------------- */

struct cbr_opts {
    const char *dir;
    const char *daemon;       /* NULL: direct */
    const struct cbc_rrd_config *rc;
    uint64_t future_ns;       /* records this far ahead of now are refused */
    int quiet;
};

struct cbr_sink;

/* Builds the sink (its callbacks run in the worker). Pair with
 * cbr_sink_destroy(). */
int cbr_sink_create(const struct cbr_opts *o, struct cbr_sink **out);
void cbr_sink_destroy(struct cbr_sink *s);
/* Fills *sink with the callbacks and s as arg. */
struct cbc_sink;
void cbr_sink_bind(struct cbr_sink *s, struct cbc_sink *sink);
/* Exit status the run should have: 0, or 1 when start failed. */
int cbr_sink_status(const struct cbr_sink *s);

/* ---- graph.c ------------------------------------------------------------ */

/* `clipbus-rrd graph-cmd ...` (argv[0] is "graph-cmd"). */
int cbr_graph_main(int argc, char **argv);

#endif /* CBR_RRD_INT_H */
