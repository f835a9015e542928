/*
 * db.c -- alert.db, the durable side of clipbus-alert (SQLite, WAL).
 *
 * Tables:
 *   alerts   one row per (rule, fingerprint): state, since, notified...
 *   notes    notifications routed to a channel, waiting for their group
 *   outbox   one row per notification to send, per channel, in id order
 *   silences ad-hoc silences (`clipbus-alert silence add`)
 *   channels delivery counters and the last error, per channel
 * Every connection uses WAL and a busy timeout, so the watcher's worker,
 * its delivery threads and the `status`/`silence` commands share the file.
 * synchronous=NORMAL: in WAL mode a commit survives a crash of the
 * process (kill -9); a power cut may lose the last commits.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "alert.h"

static const char schema[] =
    "PRAGMA journal_mode=WAL;"
    "PRAGMA synchronous=NORMAL;"
    "CREATE TABLE IF NOT EXISTS alerts(rule TEXT NOT NULL, fp INTEGER NOT "
    " NULL, series TEXT NOT NULL, state INTEGER, notified INTEGER, since_ns "
    " INTEGER, active_ns INTEGER, notified_ns INTEGER, resolved_ns INTEGER,"
    " PRIMARY KEY(rule, fp));"
    "CREATE TABLE IF NOT EXISTS notes(id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " channel TEXT NOT NULL, rule TEXT NOT NULL, firing INTEGER, alert TEXT "
    " NOT NULL, text TEXT NOT NULL, created_ns INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS outbox(id INTEGER PRIMARY KEY AUTOINCREMENT,"
    " channel TEXT NOT NULL, created_ns INTEGER NOT NULL, subject TEXT, body "
    " TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, last_error TEXT);"
    "CREATE INDEX IF NOT EXISTS outbox_channel ON outbox(channel, id);"
    "CREATE TABLE IF NOT EXISTS silences(id INTEGER PRIMARY KEY "
    " AUTOINCREMENT, match TEXT NOT NULL, start_ns INTEGER NOT NULL, end_ns "
    " INTEGER NOT NULL, comment TEXT, created_ns INTEGER);"
    "CREATE TABLE IF NOT EXISTS channels(name TEXT PRIMARY KEY, delivered "
    " INTEGER DEFAULT 0, failed INTEGER DEFAULT 0, dropped INTEGER DEFAULT 0,"
    " last_ok_ns INTEGER DEFAULT 0, last_fail_ns INTEGER DEFAULT 0,"
    " last_error TEXT);";

int
cba_db_open(const char *dir, sqlite3 **out, char *err, size_t len)
{
    char path[4200];
    char *msg = NULL;
    *out = NULL;
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        snprintf(err, len, "state directory %s: %s", dir, strerror(errno));
        return -1;
    }
    snprintf(path, sizeof path, "%s/alert.db", dir);
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(path, &db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
                            SQLITE_OPEN_FULLMUTEX,
                        NULL) != SQLITE_OK) {
        snprintf(err, len, "%s: %s", path,
                 db ? sqlite3_errmsg(db) : "out of memory");
        sqlite3_close(db);
        return -1;
    }
    sqlite3_busy_timeout(db, 10000);
    if (sqlite3_exec(db, schema, NULL, NULL, &msg) != SQLITE_OK) {
        snprintf(err, len, "%s: %s", path, msg ? msg : "schema failed");
        sqlite3_free(msg);
        sqlite3_close(db);
        return -1;
    }
    *out = db;
    return 0;
}

static int
exec(sqlite3 *db, const char *sql)
{
    return sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
}

int
cba_db_begin(sqlite3 *db)
{
    return exec(db, "BEGIN IMMEDIATE");
}

int
cba_db_commit(sqlite3 *db)
{
    return exec(db, "COMMIT");
}

int64_t
cba_db_version(sqlite3 *db)
{
    sqlite3_stmt *st;
    int64_t v = -1;
    if (sqlite3_prepare_v2(db, "PRAGMA data_version", -1, &st, NULL) != 0)
        return -1;
    if (sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

/* Prepares sql (cached per connection by SQLite's own statement reuse is
 * not available, so callers keep it simple: prepare, bind, step). */
static sqlite3_stmt *
prep(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
        fprintf(stderr, "clipbus-alert: alert.db: %s\n", sqlite3_errmsg(db));
        return NULL;
    }
    return st;
}

static int
done(sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : -1;
}

int
cba_state_put(sqlite3 *db, const struct al_state *s)
{
    sqlite3_stmt *st;
    if (s->state == AL_ST_INACTIVE && !s->notified && s->resolved_ns == 0) {
        st = prep(db, "DELETE FROM alerts WHERE rule=?1 AND fp=?2");
        if (st == NULL)
            return -1;
        sqlite3_bind_text(st, 1, s->rule, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, (int64_t)s->fingerprint);
        return done(st);
    }
    st = prep(db, "INSERT OR REPLACE INTO alerts VALUES(?1,?2,?3,?4,?5,?6,"
                  "?7,?8,?9)");
    if (st == NULL)
        return -1;
    sqlite3_bind_text(st, 1, s->rule, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, (int64_t)s->fingerprint);
    sqlite3_bind_text(st, 3, s->series, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 4, s->state);
    sqlite3_bind_int(st, 5, s->notified);
    sqlite3_bind_int64(st, 6, (int64_t)s->since_ns);
    sqlite3_bind_int64(st, 7, (int64_t)s->active_ns);
    sqlite3_bind_int64(st, 8, (int64_t)s->notified_ns);
    sqlite3_bind_int64(st, 9, (int64_t)s->resolved_ns);
    return done(st);
}

int
cba_state_load(sqlite3 *db, void (*fn)(void *arg, const struct al_state *s),
               void *arg)
{
    sqlite3_stmt *st = prep(db, "SELECT rule, fp, series, state, notified, "
                                "since_ns, active_ns, notified_ns, "
                                "resolved_ns FROM alerts");
    if (st == NULL)
        return -1;
    while (sqlite3_step(st) == SQLITE_ROW) {
        struct al_state s = {
            .rule = (const char *)sqlite3_column_text(st, 0),
            .fingerprint = (uint64_t)sqlite3_column_int64(st, 1),
            .series = (const char *)sqlite3_column_text(st, 2),
            .state = sqlite3_column_int(st, 3),
            .notified = sqlite3_column_int(st, 4),
            .since_ns = (uint64_t)sqlite3_column_int64(st, 5),
            .active_ns = (uint64_t)sqlite3_column_int64(st, 6),
            .notified_ns = (uint64_t)sqlite3_column_int64(st, 7),
            .resolved_ns = (uint64_t)sqlite3_column_int64(st, 8),
        };
        if (s.rule && s.series)
            fn(arg, &s);
    }
    sqlite3_finalize(st);
    return 0;
}

int
cba_note_add(sqlite3 *db, const char *channel, const char *rule, int firing,
             const char *alert_json, const char *text, uint64_t now_ns)
{
    sqlite3_stmt *st = prep(db, "INSERT INTO notes(channel, rule, firing, "
                                "alert, text, created_ns) "
                                "VALUES(?1,?2,?3,?4,?5,?6)");
    if (st == NULL)
        return -1;
    sqlite3_bind_text(st, 1, channel, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, rule, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 3, firing);
    sqlite3_bind_text(st, 4, alert_json, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, text, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 6, (int64_t)now_ns);
    return done(st);
}

int
cba_silences_load(sqlite3 *db, uint64_t now_ns, struct al_silences *out)
{
    al_silences_clear(out);
    sqlite3_stmt *st = prep(db, "SELECT id, match, start_ns, end_ns, comment "
                                "FROM silences WHERE end_ns > ?1 ORDER BY id");
    if (st == NULL)
        return -1;
    sqlite3_bind_int64(st, 1, (int64_t)now_ns);
    size_t cap = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        if (out->n == cap) {
            cap = cap ? cap * 2 : 8;
            struct al_silence *v = realloc(out->v, cap * sizeof *v);
            if (v == NULL)
                break;
            out->v = v;
        }
        struct al_silence *s = &out->v[out->n];
        memset(s, 0, sizeof *s);
        s->id = sqlite3_column_int64(st, 0);
        s->start_ns = (uint64_t)sqlite3_column_int64(st, 2);
        s->end_ns = (uint64_t)sqlite3_column_int64(st, 3);
        const char *c = (const char *)sqlite3_column_text(st, 4);
        s->comment = strdup(c ? c : "");
        const char *m = (const char *)sqlite3_column_text(st, 1);
        if (m == NULL || al_silence_parse(s, m) != 0) {
            for (size_t k = 0; k < s->n_match; k++)
                free(s->match[k]);
            free(s->comment);
            continue;
        }
        out->n++;
    }
    sqlite3_finalize(st);
    return 0;
}

int64_t
cba_silence_add(sqlite3 *db, const char *match, uint64_t start_ns,
                uint64_t end_ns, const char *comment)
{
    sqlite3_stmt *st = prep(db, "INSERT INTO silences(match, start_ns, "
                                "end_ns, comment, created_ns) "
                                "VALUES(?1,?2,?3,?4,?5)");
    if (st == NULL)
        return -1;
    sqlite3_bind_text(st, 1, match, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, (int64_t)start_ns);
    sqlite3_bind_int64(st, 3, (int64_t)end_ns);
    sqlite3_bind_text(st, 4, comment ? comment : "", -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 5, (int64_t)cba_now_ns());
    if (done(st) != 0)
        return -1;
    return sqlite3_last_insert_rowid(db);
}

int
cba_silence_expire(sqlite3 *db, int64_t id, uint64_t now_ns)
{
    sqlite3_stmt *st = prep(db, "UPDATE silences SET end_ns=?2 WHERE id=?1 "
                                "AND end_ns > ?2");
    if (st == NULL)
        return -1;
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int64(st, 2, (int64_t)now_ns);
    if (done(st) != 0)
        return -1;
    return sqlite3_changes(db) == 1 ? 0 : -1;
}

int
cba_outbox_head(sqlite3 *db, const char *channel, struct cba_row *r)
{
    sqlite3_stmt *st = prep(db, "SELECT id, created_ns, attempts, subject, "
                                "body FROM outbox WHERE channel=?1 "
                                "ORDER BY id LIMIT 1");
    int found = 0;
    if (st == NULL)
        return -1;
    sqlite3_bind_text(st, 1, channel, -1, SQLITE_STATIC);
    memset(r, 0, sizeof *r);
    if (sqlite3_step(st) == SQLITE_ROW) {
        const char *s = (const char *)sqlite3_column_text(st, 3);
        const char *b = (const char *)sqlite3_column_text(st, 4);
        r->id = sqlite3_column_int64(st, 0);
        r->created_ns = (uint64_t)sqlite3_column_int64(st, 1);
        r->attempts = sqlite3_column_int64(st, 2);
        r->subject = strdup(s ? s : "");
        r->body = strdup(b ? b : "");
        found = r->subject && r->body ? 1 : -1;
    }
    sqlite3_finalize(st);
    return found;
}

void
cba_row_fini(struct cba_row *r)
{
    free(r->subject);
    free(r->body);
    memset(r, 0, sizeof *r);
}

int
cba_outbox_done(sqlite3 *db, int64_t id)
{
    sqlite3_stmt *st = prep(db, "DELETE FROM outbox WHERE id=?1");
    if (st == NULL)
        return -1;
    sqlite3_bind_int64(st, 1, id);
    return done(st);
}

int
cba_outbox_failed(sqlite3 *db, int64_t id, const char *err)
{
    sqlite3_stmt *st = prep(db, "UPDATE outbox SET attempts=attempts+1, "
                                "last_error=?2 WHERE id=?1");
    if (st == NULL)
        return -1;
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_text(st, 2, err, -1, SQLITE_STATIC);
    return done(st);
}

int64_t
cba_outbox_depth(sqlite3 *db, const char *channel)
{
    sqlite3_stmt *st = prep(db, "SELECT count(*) FROM outbox WHERE "
                                "channel=?1");
    int64_t n = -1;
    if (st == NULL)
        return -1;
    sqlite3_bind_text(st, 1, channel, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW)
        n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return n;
}

int
cba_channel_note(sqlite3 *db, const char *channel, int ok, int dropped,
                 const char *err, uint64_t now_ns)
{
    sqlite3_stmt *st = prep(
        db, "INSERT INTO channels(name) VALUES(?1) ON CONFLICT DO NOTHING");
    if (st == NULL)
        return -1;
    sqlite3_bind_text(st, 1, channel, -1, SQLITE_STATIC);
    if (done(st) != 0)
        return -1;
    st = prep(db, ok ? "UPDATE channels SET delivered=delivered+1, "
                       "last_ok_ns=?2 WHERE name=?1"
              : dropped ? "UPDATE channels SET dropped=dropped+1, "
                          "last_fail_ns=?2, last_error=?3 WHERE name=?1"
                        : "UPDATE channels SET failed=failed+1, "
                          "last_fail_ns=?2, last_error=?3 WHERE name=?1");
    if (st == NULL)
        return -1;
    sqlite3_bind_text(st, 1, channel, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, (int64_t)now_ns);
    if (!ok)
        sqlite3_bind_text(st, 3, err ? err : "", -1, SQLITE_STATIC);
    return done(st);
}
