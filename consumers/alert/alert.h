/*
 * alert.h -- internal interfaces of clipbus-alert between its files:
 *   db.c      alert.db (SQLite, WAL): alert state, pending notes, the
 *             outbox, silences, channel health
 *   notify.c  routing, grouping, the Alertmanager v4 body and the mail
 *   deliver.c one delivery thread per channel (libcurl, files, commands)
 *   watch.c   the watcher: the runtime sink that feeds the engine
 *   testcmd.c `clipbus-alert test`
 *   main.c    options and subcommands
 *
 * Durability: a note (one alert's firing/resolved) is written in the same
 * transaction as the alert state that produced it; a group of notes
 * becomes one outbox row per channel in one transaction; a row leaves
 * the outbox only after its channel accepted it. So a kill -9 at any
 * point loses nothing, and at worst repeats the notification that was
 * being sent (at-least-once, in order per channel).
 */
#ifndef CBA_ALERT_H
#define CBA_ALERT_H

#include <stdint.h>
#include <stdio.h>

#include <sqlite3.h>

#include "config_alert.h"
#include "engine.h"
#include "silence.h"

/* ---- db.c --------------------------------------------------------------- */

/* Opens (creating the directory and schema) DIR/alert.db. 0 or -1 with
 * a message in err. */
int cba_db_open(const char *dir, sqlite3 **out, char *err, size_t len);
int cba_db_begin(sqlite3 *db);
int cba_db_commit(sqlite3 *db);
int cba_state_put(sqlite3 *db, const struct al_state *s);
/* Calls fn for every persisted instance. */
int cba_state_load(sqlite3 *db,
                   void (*fn)(void *arg, const struct al_state *s), void *arg);
int cba_note_add(sqlite3 *db, const char *channel, const char *rule,
                 int firing, const char *alert_json, const char *text,
                 uint64_t now_ns);
/* Silences active or future at now (expired ones are not loaded). */
int cba_silences_load(sqlite3 *db, uint64_t now_ns, struct al_silences *out);
int64_t cba_silence_add(sqlite3 *db, const char *match, uint64_t start_ns,
                        uint64_t end_ns, const char *comment);
/* Ends silence id now: 0, or -1 when there is no such active silence. */
int cba_silence_expire(sqlite3 *db, int64_t id, uint64_t now_ns);
/* PRAGMA data_version: changes when another connection wrote. */
int64_t cba_db_version(sqlite3 *db);

struct cba_row {
    int64_t id;
    uint64_t created_ns;
    int64_t attempts;
    char *subject, *body; /* owned */
};
/* The oldest outbox row of a channel: 1 with *r filled, 0 none, -1. */
int cba_outbox_head(sqlite3 *db, const char *channel, struct cba_row *r);
void cba_row_fini(struct cba_row *r);
int cba_outbox_done(sqlite3 *db, int64_t id);
int cba_outbox_failed(sqlite3 *db, int64_t id, const char *err);
int64_t cba_outbox_depth(sqlite3 *db, const char *channel);
/* Channel health: counters and the last error. */
int cba_channel_note(sqlite3 *db, const char *channel, int ok, int dropped,
                     const char *err, uint64_t now_ns);

/* ---- notify.c ----------------------------------------------------------- */

struct cba_notify;
struct cba_notify *cba_notify_create(const struct cbc_alert_config *cfg,
                                     sqlite3 *db);
void cba_notify_destroy(struct cba_notify *n);
/* Routes a note to its channels and stores it (inside the caller's
 * transaction). */
void cba_notify_note(struct cba_notify *n, const struct al_note *note);
/* Turns groups older than group_wait into outbox rows; returns rows
 * made (so the caller can wake the delivery threads). */
int cba_notify_flush(struct cba_notify *n, uint64_t now_ns, int force);
/* Whether notes may be waiting (0: the notes table is known empty, and a
 * flush would do nothing). */
int cba_notify_pending(const struct cba_notify *n);

/* ---- deliver.c ---------------------------------------------------------- */

struct cba_deliver;
/* Starts one delivery thread per channel of cfg (borrowed: must outlive
 * the threads), each with its own connection to DIR/alert.db. */
struct cba_deliver *cba_deliver_start(const struct cbc_alert_config *cfg,
                                      const char *dir);
/* Wakes the threads (new outbox rows). */
void cba_deliver_kick(struct cba_deliver *d);
/* Stops and joins the threads; pending rows stay in the outbox. */
void cba_deliver_stop(struct cba_deliver *d);

/* ---- commands ----------------------------------------------------------- */

void cba_usage(FILE *f);
int cba_cmd_test(int argc, char **argv);

struct cba_watch_opts {
    const char *config, *bus, *state;
    int from; /* CB_FROM_*, or -1 for the config's bus.from */
    uint32_t exit_idle_ms;
    int quiet;
    int sched; /* CBC_SCHED_*, or CBC_SCHED_UNSET for the config's */
};
/* Runs the watcher until a signal (or exit_idle); the exit status. */
int cba_watch_run(const struct cba_watch_opts *o);

/* Wall clock, ns. */
uint64_t cba_now_ns(void);
/* "2025-01-31T02:00:00.123Z" (RFC 3339, UTC, ms). */
void cba_fmt_time(char *buf, size_t len, uint64_t ns);

#endif /* CBA_ALERT_H */
