/*
 * config.h -- the configuration of every clipbus program: one JSON file,
 * validated whole at start, hot-reloaded under RCU (Req 6.1-6.5).
 *
 * The file is `--config PATH`, else $CLIPBUS_CONFIG, else none: every
 * program runs on defaults without a file. A loaded configuration is an
 * immutable `struct cbc_config` with every default filled in; programs
 * read its typed members (cfg->rrd.step_ns). docs/config.md lists every
 * key; `clipbus config check FILE` validates a file without running.
 *
 * Typical main():
 *
 *     if (cbc_config_init("clipbus-rrd", opt_config) < 0)
 *         return CBC_CONFIG_EXIT;            errors were printed; exit 2
 *     cbc_config_watch_start(NULL);          hot reload (optional)
 *     ...
 *     rcu_register_thread();                 in EVERY thread that reads
 *     rcu_read_lock();
 *     const struct cbc_config *cfg = cbc_config_current();
 *     use(cfg->consumer.batch);              short; no blocking
 *     rcu_read_unlock();                     cfg is invalid from here on
 *     ...
 *     cbc_config_fini();
 *
 * Readers use liburcu's memb flavour (`#include <urcu.h>`, pkg-config
 * liburcu): rcu_read_lock() is a few instructions and never blocks; a
 * thread must call rcu_register_thread() once before its first
 * rcu_read_lock() (and rcu_unregister_thread() before it exits), or the
 * program has undefined behaviour. A pointer from cbc_config_current()
 * may be used only inside the read-side section that obtained it: copy
 * what you need to keep.
 *
 * Which calls may run concurrently:
 *   cbc_config_current()        any registered thread, inside
 *                               rcu_read_lock(), concurrently with all
 *                               others (never blocks)
 *   cbc_config_status_get()     any thread, any time after init
 *   cbc_config_install(),
 *   cbc_config_reload()         any thread NOT inside rcu_read_lock()
 *                               (they wait for readers); serialized
 *                               internally, also with the watcher
 *   cbc_config_watch_start/stop one thread (the main one), not from the
 *                               applied callback
 *   cbc_config_init/fini        main thread, no other config call running
 *   load/parse/dump/free        any thread, on their own objects
 */
#ifndef CBC_CONFIG_H
#define CBC_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config_alert.h"
#include "config_log.h"
#include "config_progress.h"
#include "config_rrd.h"
#include "config_top.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CBC_CONFIG_ENV  "CLIPBUS_CONFIG"
#define CBC_CONFIG_EXIT 2 /* exit status of a program with a bad config */

/* ---- the sections ------------------------------------------------------- */

/* "bus": which bus to read and how. */
struct cbc_bus_config {
    const char *name; /* NULL: $CLIPBUS_BUS, else "default" */
    uint64_t grace_ns; /* keep exited producers' segments this long */
    int from;          /* 0 oldest (CB_FROM_OLDEST), 1 now (CB_FROM_NOW) */
};

/* "consumer": settings every consumer program shares. */
struct cbc_consumer_config {
    uint64_t status_interval_ns; /* publish the status segment this often */
    int64_t batch;               /* records read per ring per pass */
    uint64_t max_nap_ns;         /* longest nap between looks at the rings */
    int sched;                   /* enum cbc_sched (sched_class.h) */
};

struct cbc_config {
    struct cbc_bus_config bus;
    struct cbc_consumer_config consumer;
    struct cbc_rrd_config rrd;
    struct cbc_log_config log;
    struct cbc_progress_config progress;
    struct cbc_top_config top;
    struct cbc_alert_config alert;

    /* Bookkeeping, not from the file. */
    const char *source;  /* the file's path; NULL for built-in defaults */
    uint64_t generation; /* 0 until installed; then 1, 2, ... per install */
    size_t keys_set;     /* keys the file gave (the rest are defaults) */
    struct cbc__arena *arena_; /* private: owns every string and array */
};

/* ---- loading (no RCU involved) ------------------------------------------ */

/* Every error of a failed load: `count` errors, and `text` with one line
 * per error (each ending in '\n'; at most 200 lines plus a "N more" line).
 * Lines look like
 *   config.json: $.rrd.rras[2].keep: "9x" is not a duration (...)
 *   config.json:12:5: duplicate object key near '"step"'
 * Pair with cbc_config_errors_fini(). */
struct cbc_config_errors {
    size_t count;
    char *text; /* owned; NULL when count is 0 */
};

/* Frees e->text and zeroes *e. Fine on a zeroed struct. */
void cbc_config_errors_fini(struct cbc_config_errors *e);

/* Reads, validates and decodes the file at `path` (NULL: built-in
 * defaults only). On success returns 0 and *out is a new config (owned by
 * the caller: cbc_config_free() or cbc_config_install()). On failure
 * *out is NULL, `errs` (if not NULL) holds every error, and the result is
 * -EINVAL (the content is invalid), -ENOENT / -EACCES / ... (the file
 * cannot be read: one error line says so), -EFBIG (over 1 MiB) or
 * -ENOMEM. `errs` must be zeroed or fini'd before the call. */
int cbc_config_load(const char *path, struct cbc_config **out,
                    struct cbc_config_errors *errs);

/* As cbc_config_load() on text[0, len); `name` prefixes the messages and
 * becomes cfg->source (NULL: "<config>"). */
int cbc_config_parse(const char *text, size_t len, const char *name,
                     struct cbc_config **out, struct cbc_config_errors *errs);

/* Frees a config that was never installed (installed ones belong to the
 * RCU slot). NULL is fine. */
void cbc_config_free(struct cbc_config *cfg);

/* The effective configuration, every key with defaults filled in, as
 * JSON with sorted keys, two-space indent and a final newline. Feeding it
 * back to cbc_config_parse() gives an equal config. Owned by the caller
 * (free()); NULL on ENOMEM. */
char *cbc_config_dump(const struct cbc_config *cfg);

/* The file to use: opt_path if not NULL, else $CLIPBUS_CONFIG if set and
 * non-empty, else NULL (defaults). Borrowed pointer. */
const char *cbc_config_path(const char *opt_path);

/* ---- the process's current config under RCU ----------------------------- */

/* Resolves the path (cbc_config_path), loads the config and installs it
 * as generation 1. `prog` prefixes messages ("clipbus-rrd"). On failure
 * every error line is printed to stderr, then "prog: invalid
 * configuration (N errors); see docs/config.md or run 'clipbus config
 * check FILE'", and the result is negative: the program should exit with
 * CBC_CONFIG_EXIT. Pair with cbc_config_fini(). */
int cbc_config_init(const char *prog, const char *opt_path);

/* Stops the watcher, unpublishes the current config and frees it after
 * every reader left. Afterwards cbc_config_current() returns NULL. */
void cbc_config_fini(void);

/* The current config. Call only between rcu_read_lock() and
 * rcu_read_unlock() in a thread that called rcu_register_thread(); the
 * pointer is valid until rcu_read_unlock(). NULL before init. */
const struct cbc_config *cbc_config_current(void);

/* Publishes `cfg` (ownership passes to the slot; it must not be used by
 * the caller afterwards except inside read-side sections) as the next
 * generation, waits until no reader can still see the previous one
 * (synchronize_rcu) and frees it. Returns the new generation. Must not be
 * called inside a read-side section (it would wait for itself). */
uint64_t cbc_config_install(struct cbc_config *cfg);

/* Outcomes of a reload. */
#define CBC_RELOAD_NONE      0 /* no reload yet */
#define CBC_RELOAD_APPLIED   1 /* a new generation is current */
#define CBC_RELOAD_REJECTED  2 /* invalid; the old generation stays */
#define CBC_RELOAD_UNCHANGED 3 /* valid and equal to the current one */
#define CBC_RELOAD_MISSING   4 /* the file is gone; the old one stays */

/* "none", "applied", "rejected", "unchanged", "missing". */
const char *cbc_config_outcome_name(int outcome);

/* Re-reads the file now (synchronously, in the caller's thread), applies
 * it if valid and different, logs the outcome to stderr ("prog: config
 * FILE: reload applied, generation 3") and records it in the status.
 * Returns a CBC_RELOAD_* outcome; CBC_RELOAD_NONE when running without a
 * file. Not inside a read-side section. */
int cbc_config_reload(void);

/* Called right after a reload was applied, in the thread that reloaded
 * (the watcher's, or the caller of cbc_config_reload()), with the new
 * config (valid during the call). It must not call
 * cbc_config_reload/install/watch_stop/fini. Set by watch_start. */
typedef void (*cbc_config_applied_fn)(const struct cbc_config *cfg,
                                      void *arg);

struct cbc_config_watch_opts {
    unsigned debounce_ms;           /* quiet time before reloading; 0: 100 */
    cbc_config_applied_fn on_applied; /* NULL: none */
    void *arg;                      /* passed to on_applied */
    bool quiet;                     /* true: do not log reloads to stderr */
};

/* Starts a thread that watches the config file's directory (inotify, so
 * editors' write-to-temp-then-rename is seen, as is delete + re-create)
 * and calls the equivalent of cbc_config_reload() once a burst of changes
 * has been quiet for debounce_ms. A 1 s stat() poll backs inotify up
 * (and replaces it if inotify is unavailable). opts may be NULL. Returns
 * 0 (also when running without a file: nothing to watch), -EALREADY, or
 * -errno when the thread cannot start. Pair with cbc_config_watch_stop(). */
int cbc_config_watch_start(const struct cbc_config_watch_opts *opts);

/* Stops and joins the watcher thread. Fine if it was not started. */
void cbc_config_watch_stop(void);

/* What a consumer shows about its configuration. */
struct cbc_config_status {
    uint64_t generation;     /* of the current config; 0 before init */
    uint64_t last_reload_ns; /* CLOCK_REALTIME of the last reload; 0 none */
    int last_outcome;        /* CBC_RELOAD_* */
    uint32_t last_errors;    /* errors of the last rejected reload */
    uint64_t applied;        /* reloads applied since init */
    uint64_t rejected;       /* reloads rejected (invalid or unreadable) */
    char last_error[256];    /* first error line of the last rejection
                              * (no newline, cut), "" after a success */
};

/* Copies the status. Any thread. */
void cbc_config_status_get(struct cbc_config_status *out);

#ifdef __cplusplus
}
#endif

#endif /* CBC_CONFIG_H */
