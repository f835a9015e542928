/*
 * test_store.c -- the SQLite store: time series across runs, idempotent
 * replays, refusal of foreign databases.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store.h"

#define T0 1714564800

static char db_path[256];

static int
setup(void **state)
{
    (void)state;
    /* In the working directory (the build tree under ctest). */
    snprintf(db_path, sizeof db_path, "ca-test-store-%d.db", (int)getpid());
    return 0;
}

static int
teardown(void **state)
{
    (void)state;
    char p[300];
    unlink(db_path);
    snprintf(p, sizeof p, "%s-wal", db_path);
    unlink(p);
    snprintf(p, sizeof p, "%s-shm", db_path);
    unlink(p);
    return 0;
}

/* A fetched channel "42" with clips A (views a) and B (views b). */
static void
channel(struct ca_channel_result *r, int64_t a, int64_t b)
{
    memset(r, 0, sizeof *r);
    r->id = "42";
    r->info.id = strdup("42");
    r->info.login = strdup("answer");
    r->info.display_name = strdup("Answer");
    r->info.follower_count = 4200;
    const char *ids[] = {"A", "B"};
    int64_t views[] = {a, b};
    for (int i = 0; i < 2; i++) {
        struct ca_clip c = {0};
        c.id = strdup(ids[i]);
        c.broadcaster_id = strdup("42");
        char **s[] = {&c.url, &c.embed_url, &c.broadcaster_name, &c.creator_id,
                      &c.creator_name, &c.video_id, &c.game_id, &c.language,
                      &c.title, &c.thumbnail_url};
        for (size_t k = 0; k < sizeof s / sizeof s[0]; k++)
            *s[k] = strdup("x");
        c.view_count = views[i];
        c.created_at = T0 - 7200;
        c.vod_offset = -1;
        assert_int_equal(ca_clip_vec_push(&r->clips, &c), 0);
    }
}

static void
save(struct ca_store *s, int64_t t, int64_t a, int64_t b)
{
    struct ca_channel_result r;
    char err[256];
    channel(&r, a, b);
    assert_int_equal(ca_store_save(s, t, &r, 1, err, sizeof err), 2);
    ca_channel_result_fini(&r);
}

static void
test_store_runs_build_time_series(void **state)
{
    (void)state;
    struct ca_store *s;
    char err[256];
    assert_int_equal(ca_store_open(db_path, &s, err, sizeof err), 0);
    save(s, T0 - 3600, 10, 20);
    save(s, T0, 15, 90);
    save(s, T0, 15, 90); /* a replay of the same time changes nothing */
    const char *ids[] = {"42"};
    struct ca_item_vec v = {0};
    assert_int_equal(ca_store_load(s, T0, ids, 1, &v, err, sizeof err), 0);
    assert_int_equal(v.n, 2);
    assert_string_equal(v.v[1].clip_id, "B");
    assert_int_equal(v.v[1].nobs, 2);
    assert_int_equal(v.v[1].obs[0].views, 90);
    assert_int_equal(v.v[1].obs[0].t, T0);
    assert_int_equal(v.v[1].obs[1].views, 20);
    assert_int_equal(v.v[1].followers, 4200);
    ca_item_vec_fini(&v);
    /* Loading an earlier time sees only what was observed by then. */
    assert_int_equal(ca_store_load(s, T0 - 3600, ids, 1, &v, err, 256), 0);
    assert_int_equal(v.n, 2);
    assert_int_equal(v.v[0].nobs, 1);
    ca_item_vec_fini(&v);
    ca_store_close(s);
}

static void
test_store_refuses_foreign_database(void **state)
{
    (void)state;
    sqlite3 *db;
    assert_int_equal(sqlite3_open(db_path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "CREATE TABLE t(x)", NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);
    struct ca_store *s = (struct ca_store *)1;
    char err[256];
    assert_true(ca_store_open(db_path, &s, err, sizeof err) < 0);
    assert_null(s);
    assert_non_null(strstr(err, "not a clip-analyzer database"));
}

static void
test_store_refuses_non_sqlite_file(void **state)
{
    (void)state;
    FILE *f = fopen(db_path, "w");
    assert_non_null(f);
    fputs("this is not a database, just text that is long enough to matter\n",
          f);
    fclose(f);
    struct ca_store *s;
    char err[256];
    assert_true(ca_store_open(db_path, &s, err, sizeof err) < 0);
    assert_non_null(strstr(err, db_path));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_store_runs_build_time_series,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_refuses_foreign_database,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_refuses_non_sqlite_file,
                                        setup, teardown),
    };
    return cmocka_run_group_tests_name("analyzer.store", tests, NULL, NULL);
}
