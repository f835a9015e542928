/*
 * store.c -- SQLite schema, the run's write transaction, and the loads
 * that feed the score.
 *
 * Schema (PRAGMA user_version = CA_SCHEMA_VERSION, application_id "CAZ1"):
 *   channels(id PK, login, display_name, follower_count, updated_at)
 *   channel_observations(channel_id, observed_at, follower_count) PK both
 *   clips(id PK, broadcaster_id, ..., created_at, first_seen, last_seen)
 *   observations(clip_id, observed_at, view_count >= 0) PK both
 *   runs(id PK, observed_at, started_at, finished_at, status, ...)
 * Re-running the same T replaces that T's rows (upserts): a replay is
 * idempotent.
 */
#include "store.h"

#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <clipbus/clipbus.h>

#include "timeutil.h"

#define CA_SCHEMA_VERSION 1
#define CA_APPLICATION_ID 0x43415a31 /* "CAZ1" */

struct ca_store {
    sqlite3 *db;
    char *path;
};

static const char schema_sql[] =
    "CREATE TABLE IF NOT EXISTS channels("
    " id TEXT PRIMARY KEY, login TEXT NOT NULL, display_name TEXT NOT NULL,"
    " follower_count INTEGER NOT NULL, updated_at INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS channel_observations("
    " channel_id TEXT NOT NULL, observed_at INTEGER NOT NULL,"
    " follower_count INTEGER NOT NULL CHECK (follower_count >= 0),"
    " PRIMARY KEY (channel_id, observed_at)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS clips("
    " id TEXT PRIMARY KEY, broadcaster_id TEXT NOT NULL,"
    " broadcaster_name TEXT NOT NULL, creator_id TEXT NOT NULL,"
    " creator_name TEXT NOT NULL, video_id TEXT NOT NULL,"
    " game_id TEXT NOT NULL, language TEXT NOT NULL, title TEXT NOT NULL,"
    " url TEXT NOT NULL, embed_url TEXT NOT NULL, thumbnail_url TEXT NOT NULL,"
    " created_at INTEGER NOT NULL, duration REAL NOT NULL,"
    " vod_offset INTEGER, is_featured INTEGER NOT NULL,"
    " first_seen INTEGER NOT NULL, last_seen INTEGER NOT NULL);"
    "CREATE INDEX IF NOT EXISTS clips_by_channel ON clips(broadcaster_id);"
    "CREATE TABLE IF NOT EXISTS observations("
    " clip_id TEXT NOT NULL, observed_at INTEGER NOT NULL,"
    " view_count INTEGER NOT NULL CHECK (view_count >= 0),"
    " PRIMARY KEY (clip_id, observed_at)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS runs("
    " id INTEGER PRIMARY KEY, observed_at INTEGER NOT NULL,"
    " started_at INTEGER NOT NULL, finished_at INTEGER NOT NULL,"
    " status TEXT NOT NULL, channels_ok INTEGER NOT NULL,"
    " channels_failed INTEGER NOT NULL, clips INTEGER NOT NULL);";

static const char upsert_channel_sql[] =
    "INSERT INTO channels(id, login, display_name, follower_count, updated_at)"
    " VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT(id) DO UPDATE SET"
    " login = excluded.login, display_name = excluded.display_name,"
    " follower_count = excluded.follower_count,"
    " updated_at = excluded.updated_at"
    " WHERE excluded.updated_at >= channels.updated_at";

static const char upsert_chobs_sql[] =
    "INSERT INTO channel_observations(channel_id, observed_at, follower_count)"
    " VALUES (?1, ?2, ?3) ON CONFLICT DO UPDATE SET"
    " follower_count = excluded.follower_count";

static const char upsert_clip_sql[] =
    "INSERT INTO clips(id, broadcaster_id, broadcaster_name, creator_id,"
    " creator_name, video_id, game_id, language, title, url, embed_url,"
    " thumbnail_url, created_at, duration, vod_offset, is_featured,"
    " first_seen, last_seen) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9,"
    " ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?17)"
    " ON CONFLICT(id) DO UPDATE SET broadcaster_name = excluded.broadcaster_name,"
    " title = excluded.title, game_id = excluded.game_id,"
    " is_featured = excluded.is_featured,"
    " first_seen = min(first_seen, excluded.first_seen),"
    " last_seen = max(last_seen, excluded.last_seen)";

static const char upsert_obs_sql[] =
    "INSERT INTO observations(clip_id, observed_at, view_count)"
    " VALUES (?1, ?2, ?3) ON CONFLICT DO UPDATE SET"
    " view_count = excluded.view_count";

static const char load_clips_sql[] =
    "SELECT c.id, c.broadcaster_name, c.title, c.url, c.created_at,"
    " o.observed_at, o.view_count"
    " FROM clips c"
    " JOIN observations cur ON cur.clip_id = c.id AND cur.observed_at = ?1"
    " JOIN observations o ON o.clip_id = c.id AND o.observed_at <= ?1"
    " WHERE c.broadcaster_id = ?2"
    " ORDER BY c.id, o.observed_at DESC";

static const char load_followers_sql[] =
    "SELECT follower_count FROM channel_observations"
    " WHERE channel_id = ?1 AND observed_at <= ?2"
    " ORDER BY observed_at DESC LIMIT 1";

/* ------------------------------------------------------------------------
 * Helpers
 * ------------------------------------------------------------------------ */

static int
db_fail(struct ca_store *s, char *err, size_t errsz, const char *what)
{
    snprintf(err, errsz, "database %s: %s: %s", s->path, what,
             sqlite3_errmsg(s->db));
    return -1;
}

static int
exec(struct ca_store *s, const char *sql, char *err, size_t errsz,
     const char *what)
{
    if (sqlite3_exec(s->db, sql, NULL, NULL, NULL) != SQLITE_OK)
        return db_fail(s, err, errsz, what);
    return 0;
}

static int
pragma_int(struct ca_store *s, const char *sql, int *out)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK)
        return -1;
    int rc = sqlite3_step(st);
    *out = rc == SQLITE_ROW ? sqlite3_column_int(st, 0) : 0;
    sqlite3_finalize(st);
    return rc == SQLITE_ROW ? 0 : -1;
}

/* Refuses databases that are not ours or are from a newer version. */
static int
check_identity(struct ca_store *s, char *err, size_t errsz)
{
    int app, ver, tables;
    if (pragma_int(s, "PRAGMA application_id", &app) ||
        pragma_int(s, "PRAGMA user_version", &ver) ||
        pragma_int(s, "SELECT count(*) FROM sqlite_schema", &tables))
        return db_fail(s, err, errsz, "cannot read the header (not SQLite?)");
    if (app == 0 && ver == 0 && tables == 0)
        return 0; /* new, empty database */
    if (app != CA_APPLICATION_ID) {
        snprintf(err, errsz,
                 "database %s: not a clip-analyzer database (application_id "
                 "%d); use another --db path",
                 s->path, app);
        return -1;
    }
    if (ver > CA_SCHEMA_VERSION) {
        snprintf(err, errsz,
                 "database %s: schema version %d is newer than this program's "
                 "%d; upgrade clip-analyzer",
                 s->path, ver, CA_SCHEMA_VERSION);
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------------
 * Open / close
 * ------------------------------------------------------------------------ */

int
ca_store_open(const char *path, struct ca_store **out, char *err,
              size_t errsz)
{
    CB_MONITOR_EXECUTION(CB_STR("db", path));
    *out = NULL;
    struct ca_store *s = calloc(1, sizeof *s);
    if (s == NULL || (s->path = strdup(path)) == NULL) {
        free(s);
        snprintf(err, errsz, "out of memory opening %s", path);
        return cb_fail(-ENOMEM, "%s", err);
    }
    int rc = sqlite3_open_v2(path, &s->db,
                             SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
    if (rc != SQLITE_OK) {
        snprintf(err, errsz, "database %s: cannot open: %s", path,
                 s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
        goto fail;
    }
    sqlite3_busy_timeout(s->db, 5000);
    char stamp[96];
    snprintf(stamp, sizeof stamp,
             "PRAGMA application_id=%d; PRAGMA user_version=%d; COMMIT",
             CA_APPLICATION_ID, CA_SCHEMA_VERSION);
    if (check_identity(s, err, errsz) ||
        exec(s, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
                "PRAGMA foreign_keys=ON;",
             err, errsz, "cannot set WAL mode") ||
        exec(s, "BEGIN IMMEDIATE", err, errsz, "cannot lock") ||
        exec(s, schema_sql, err, errsz, "cannot create the schema") ||
        exec(s, stamp, err, errsz, "cannot stamp the schema")) {
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        goto fail;
    }
    *out = s;
    return 0;
fail:
    ca_store_close(s);
    return cb_fail(-EIO, "%s", err);
}

void
ca_store_close(struct ca_store *s)
{
    if (s == NULL)
        return;
    sqlite3_close(s->db);
    free(s->path);
    free(s);
}

/* ------------------------------------------------------------------------
 * Save (one transaction per run)
 * ------------------------------------------------------------------------ */

struct save_stmts {
    sqlite3_stmt *channel;
    sqlite3_stmt *chobs;
    sqlite3_stmt *clip;
    sqlite3_stmt *obs;
};

static void
stmts_finalize(struct save_stmts *st)
{
    sqlite3_finalize(st->channel);
    sqlite3_finalize(st->chobs);
    sqlite3_finalize(st->clip);
    sqlite3_finalize(st->obs);
}

static int
stmts_prepare(struct ca_store *s, struct save_stmts *st)
{
    memset(st, 0, sizeof *st);
    if (sqlite3_prepare_v2(s->db, upsert_channel_sql, -1, &st->channel, 0) ||
        sqlite3_prepare_v2(s->db, upsert_chobs_sql, -1, &st->chobs, 0) ||
        sqlite3_prepare_v2(s->db, upsert_clip_sql, -1, &st->clip, 0) ||
        sqlite3_prepare_v2(s->db, upsert_obs_sql, -1, &st->obs, 0))
        return -1;
    return 0;
}

/* Runs a bound statement once and resets it. */
static int
step_reset(sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

static int
save_channel_row(struct save_stmts *st, const struct ca_channel_result *r,
                 int64_t T)
{
    sqlite3_bind_text(st->channel, 1, r->id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st->channel, 2, r->info.login ? r->info.login : "", -1,
                      SQLITE_STATIC);
    sqlite3_bind_text(st->channel, 3,
                      r->info.display_name ? r->info.display_name : "", -1,
                      SQLITE_STATIC);
    sqlite3_bind_int64(st->channel, 4, r->info.follower_count);
    sqlite3_bind_int64(st->channel, 5, T);
    if (step_reset(st->channel))
        return -1;
    sqlite3_bind_text(st->chobs, 1, r->id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st->chobs, 2, T);
    sqlite3_bind_int64(st->chobs, 3, r->info.follower_count);
    return step_reset(st->chobs);
}

static int
save_clip_row(struct save_stmts *st, const struct ca_clip *c, int64_t T)
{
    const char *txt[] = {c->id,        c->broadcaster_id, c->broadcaster_name,
                         c->creator_id, c->creator_name,  c->video_id,
                         c->game_id,   c->language,       c->title,
                         c->url,       c->embed_url,      c->thumbnail_url};
    for (int i = 0; i < 12; i++)
        sqlite3_bind_text(st->clip, i + 1, txt[i], -1, SQLITE_STATIC);
    sqlite3_bind_int64(st->clip, 13, c->created_at);
    sqlite3_bind_double(st->clip, 14, c->duration_s);
    if (c->vod_offset >= 0)
        sqlite3_bind_int64(st->clip, 15, c->vod_offset);
    else
        sqlite3_bind_null(st->clip, 15);
    sqlite3_bind_int(st->clip, 16, c->is_featured);
    sqlite3_bind_int64(st->clip, 17, T);
    if (step_reset(st->clip))
        return -1;
    sqlite3_bind_text(st->obs, 1, c->id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st->obs, 2, T);
    sqlite3_bind_int64(st->obs, 3, c->view_count);
    return step_reset(st->obs);
}

/* Writes one fetched channel inside the open transaction. */
static int
save_channel(struct ca_store *s, struct save_stmts *st,
             const struct ca_channel_result *r, int64_t T, char *err,
             size_t errsz)
{
    CB_MONITOR_EXECUTION(CB_STR("channel", r->id),
                         CB_INT("clips", r->clips.n));
    double t0 = ca_mono_ms();
    if (save_channel_row(st, r, T) != 0) {
        db_fail(s, err, errsz, "cannot save channel");
        return cb_fail(-EIO, "%s", err);
    }
    for (size_t i = 0; i < r->clips.n; i++) {
        if (save_clip_row(st, &r->clips.v[i], T) != 0) {
            db_fail(s, err, errsz, "cannot save clip");
            return cb_fail(-EIO, "%s (clip %s)", err, r->clips.v[i].id);
        }
    }
    double ms = ca_mono_ms() - t0;
    cb_observe("db_query_ms", ms);
    (void)ms;
    return 0;
}

long
ca_store_save(struct ca_store *s, int64_t T,
              const struct ca_channel_result *res, size_t n, char *err,
              size_t errsz)
{
    CB_TRACK_PERFORMANCE(CB_INT("channels", n));
    struct save_stmts st;
    long clips = 0;
    if (exec(s, "BEGIN IMMEDIATE", err, errsz, "cannot start a transaction"))
        return cb_fail(-EIO, "%s", err);
    if (stmts_prepare(s, &st) != 0) {
        db_fail(s, err, errsz, "cannot prepare statements");
        goto fail;
    }
    for (size_t i = 0; i < n; i++) {
        if (res[i].reason != CA_OK)
            continue;
        if (save_channel(s, &st, &res[i], T, err, errsz) != 0)
            goto fail;
        clips += (long)res[i].clips.n;
        cb_progress(1);
    }
    stmts_finalize(&st);
    if (exec(s, "COMMIT", err, errsz, "cannot commit"))
        goto fail_rollback;
    return clips;
fail:
    stmts_finalize(&st);
fail_rollback:
    /* Req: the database is never left half-written. */
    sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    return cb_fail(-EIO, "%s", err);
}

/* ------------------------------------------------------------------------
 * Load (for scoring)
 * ------------------------------------------------------------------------ */

static char *
col_dup(sqlite3_stmt *st, int i)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    return strdup(t ? (const char *)t : "");
}

/* Adds one row (clip, one observation) to out; rows come grouped by clip,
 * newest observation first. */
static int
add_row(sqlite3_stmt *st, const char *channel, int64_t followers,
        struct ca_item_vec *out)
{
    const char *id = (const char *)sqlite3_column_text(st, 0);
    struct ca_item *it = out->n ? &out->v[out->n - 1] : NULL;
    if (it == NULL || strcmp(it->clip_id, id ? id : "") != 0 ||
        strcmp(it->channel_id, channel) != 0) {
        it = ca_item_vec_add(out);
        if (it == NULL)
            return -1;
        it->clip_id = col_dup(st, 0);
        it->channel_id = strdup(channel);
        it->channel_name = col_dup(st, 1);
        it->title = col_dup(st, 2);
        it->url = col_dup(st, 3);
        it->created_at = sqlite3_column_int64(st, 4);
        it->followers = followers;
        if (!it->clip_id || !it->channel_id || !it->channel_name ||
            !it->title || !it->url)
            return -1;
    }
    if (it->nobs < CA_SERIES_MAX) {
        it->obs[it->nobs].t = sqlite3_column_int64(st, 5);
        it->obs[it->nobs].views = sqlite3_column_int64(st, 6);
        it->nobs++;
    }
    return 0;
}

static int64_t
load_followers(sqlite3_stmt *st, const char *channel, int64_t T)
{
    sqlite3_bind_text(st, 1, channel, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, T);
    int64_t f = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0)
                                               : -1;
    sqlite3_reset(st);
    return f;
}

int
ca_store_load(struct ca_store *s, int64_t T, const char *const *ids,
              size_t n, struct ca_item_vec *out, char *err, size_t errsz)
{
    CB_MONITOR_EXECUTION(CB_INT("channels", n));
    sqlite3_stmt *clips = NULL, *fol = NULL;
    int rc = -1;
    if (sqlite3_prepare_v2(s->db, load_clips_sql, -1, &clips, NULL) ||
        sqlite3_prepare_v2(s->db, load_followers_sql, -1, &fol, NULL)) {
        db_fail(s, err, errsz, "cannot prepare the load");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        double t0 = ca_mono_ms();
        int64_t followers = load_followers(fol, ids[i], T);
        sqlite3_bind_int64(clips, 1, T);
        sqlite3_bind_text(clips, 2, ids[i], -1, SQLITE_STATIC);
        int step;
        while ((step = sqlite3_step(clips)) == SQLITE_ROW)
            if (add_row(clips, ids[i], followers, out) != 0) {
                snprintf(err, errsz, "out of memory loading clips");
                goto out;
            }
        sqlite3_reset(clips);
        if (step != SQLITE_DONE) {
            db_fail(s, err, errsz, "cannot load observations");
            goto out;
        }
        double ms = ca_mono_ms() - t0;
        cb_observe("db_query_ms", ms);
        (void)ms;
    }
    rc = 0;
out:
    sqlite3_finalize(clips);
    sqlite3_finalize(fol);
    if (rc != 0)
        (void)cb_fail(-EIO, "%s", err);
    return rc;
}

int
ca_store_record_run(struct ca_store *s, int64_t T, int64_t started_at,
                    const char *status, int channels_ok, int channels_failed,
                    long clips, char *err, size_t errsz)
{
    CB_MONITOR_EXECUTION(CB_STR("status", status));
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db,
                           "INSERT INTO runs(observed_at, started_at,"
                           " finished_at, status, channels_ok,"
                           " channels_failed, clips)"
                           " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                           -1, &st, NULL) != SQLITE_OK) {
        db_fail(s, err, errsz, "cannot record the run");
        return cb_fail(-EIO, "%s", err);
    }
    sqlite3_bind_int64(st, 1, T);
    sqlite3_bind_int64(st, 2, started_at);
    sqlite3_bind_int64(st, 3, ca_now_s());
    sqlite3_bind_text(st, 4, status, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 5, channels_ok);
    sqlite3_bind_int(st, 6, channels_failed);
    sqlite3_bind_int64(st, 7, clips);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        db_fail(s, err, errsz, "cannot record the run");
        return cb_fail(-EIO, "%s", err);
    }
    return 0;
}
