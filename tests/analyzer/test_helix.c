/*
 * test_helix.c -- Helix page parsing: good pages, pagination, malformed
 * bodies (truncated, invalid, wrong shape) and absurd values.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helix.h"
#include "reason.h"
#include "timeutil.h"

static char *
slurp(const char *rel, size_t *len)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", CA_FIXTURES, rel);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    char *buf = malloc(1 << 16);
    assert_non_null(buf);
    *len = fread(buf, 1, (1 << 16) - 1, f);
    buf[*len] = '\0';
    fclose(f);
    return buf;
}

static int64_t
at(const char *iso)
{
    int64_t t = 0;
    assert_int_equal(ca_time_parse(iso, &t), 0);
    return t;
}

static int
parse(const char *body, const char *channel, struct ca_clip_vec *v,
      char **cursor, struct ca_bad_values *bad, char *err)
{
    struct ca_page_ctx ctx = {channel, 0, at("2024-05-01T12:00:00Z")};
    return ca_helix_parse_clips(body, strlen(body), &ctx, v, cursor, bad, err,
                                256);
}

static void
test_helix_good_page_gives_clips_and_cursor(void **state)
{
    (void)state;
    size_t len;
    char *body = slurp("snap/clips/111/page-0.json", &len);
    struct ca_clip_vec v = {0};
    struct ca_bad_values bad = {0};
    char *cursor = NULL, err[256] = "";
    assert_int_equal(parse(body, "111", &v, &cursor, &bad, err), CA_OK);
    assert_int_equal(v.n, 2);
    assert_string_equal(v.v[0].id, "AlphaOne");
    assert_int_equal(v.v[0].view_count, 100);
    assert_int_equal(v.v[0].created_at, at("2024-05-01T10:00:00Z"));
    assert_string_equal(v.v[1].title, "clip AlphaTwo \"quoted\" \xc3\xa9");
    assert_int_equal(v.v[1].vod_offset, -1);
    assert_true(v.v[1].duration_s == 12.5);
    assert_string_equal(cursor, "page-1");
    assert_int_equal(bad.count, 0);
    free(cursor);
    ca_clip_vec_fini(&v);
    free(body);
}

static void
test_helix_last_page_has_no_cursor(void **state)
{
    (void)state;
    size_t len;
    char *body = slurp("snap/clips/111/page-1.json", &len);
    struct ca_clip_vec v = {0};
    char *cursor = (char *)"untouched", err[256];
    assert_int_equal(parse(body, "111", &v, &cursor, NULL, err), CA_OK);
    assert_null(cursor);
    assert_int_equal(v.n, 1);
    ca_clip_vec_fini(&v);
    free(body);
}

static void
test_helix_bad_values_are_skipped_and_named(void **state)
{
    (void)state;
    size_t len;
    char *body = slurp("snap/clips/222/page-0.json", &len);
    struct ca_clip_vec v = {0};
    struct ca_bad_values bad = {0};
    char *cursor = NULL, err[256];
    assert_int_equal(parse(body, "222", &v, &cursor, &bad, err), CA_OK);
    assert_int_equal(v.n, 1);
    assert_string_equal(v.v[0].id, "BetaGood");
    /* negative views, a date in 2030, another broadcaster, no id */
    assert_int_equal(bad.count, 4);
    assert_non_null(strstr(bad.first, "BetaNegative"));
    assert_non_null(strstr(bad.first, "negative"));
    assert_non_null(strstr(bad.first, "channel 222 page 0"));
    ca_clip_vec_fini(&v);
    free(body);
}

static void
test_helix_future_date_is_named(void **state)
{
    (void)state;
    const char *body =
        "{\"data\":[{\"id\":\"F\",\"broadcaster_id\":\"5\",\"view_count\":3,"
        "\"created_at\":\"2030-01-01T00:00:00Z\"}],\"pagination\":{}}";
    struct ca_clip_vec v = {0};
    struct ca_bad_values bad = {0};
    char *cursor = NULL, err[256];
    assert_int_equal(parse(body, "5", &v, &cursor, &bad, err), CA_OK);
    assert_int_equal(v.n, 0);
    assert_int_equal(bad.count, 1);
    assert_non_null(strstr(bad.first, "in the future"));
}

static void
test_helix_truncated_body_is_truncated(void **state)
{
    (void)state;
    size_t len;
    char *body = slurp("snap/clips/111/page-0.json", &len);
    struct ca_clip_vec v = {0};
    char *cursor = NULL, err[256];
    struct ca_page_ctx ctx = {"111", 0, at("2024-05-01T12:00:00Z")};
    /* Every proper prefix is truncated, never "bad JSON", and leaves the
     * output untouched. */
    for (size_t cut = 0; cut < len - 1; cut += 7) {
        int r = ca_helix_parse_clips(body, cut, &ctx, &v, &cursor, NULL, err,
                                     sizeof err);
        assert_int_equal(r, CA_R_TRUNCATED);
        assert_int_equal(v.n, 0);
        assert_null(cursor);
    }
    free(body);
}

static void
test_helix_invalid_json_is_bad_json(void **state)
{
    (void)state;
    const char *bodies[] = {
        "<html><body><h1>502 Bad Gateway</h1></body></html>",
        "{'data': []}",
        "{\"data\":[],\"pagination\":{},}",
    };
    for (size_t i = 0; i < 3; i++) {
        struct ca_clip_vec v = {0};
        char *cursor = NULL, err[256] = "";
        assert_int_equal(parse(bodies[i], "1", &v, &cursor, NULL, err),
                         CA_R_BAD_JSON);
        assert_non_null(strstr(err, "invalid JSON"));
    }
}

static void
test_helix_wrong_shape_is_bad_page(void **state)
{
    (void)state;
    const char *bodies[] = {
        "[1,2,3]",
        "{\"error\":\"Unauthorized\"}",
        "{\"data\":{},\"pagination\":{}}",
        "{\"data\":[],\"pagination\":[]}",
        "{\"data\":[],\"pagination\":{\"cursor\":7}}",
    };
    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
        struct ca_clip_vec v = {0};
        char *cursor = NULL, err[256] = "";
        assert_int_equal(parse(bodies[i], "1", &v, &cursor, NULL, err),
                         CA_R_BAD_PAGE);
        assert_true(err[0] != '\0');
    }
}

static void
test_helix_non_integer_views_are_bad_values(void **state)
{
    (void)state;
    const char *body =
        "{\"data\":[{\"id\":\"A\",\"broadcaster_id\":\"1\",\"view_count\":\"12\","
        "\"created_at\":\"2024-05-01T00:00:00Z\"},{\"id\":\"B\","
        "\"broadcaster_id\":\"1\",\"view_count\":1.5,\"created_at\":"
        "\"2024-05-01T00:00:00Z\"},{\"id\":\"C\",\"broadcaster_id\":\"1\","
        "\"view_count\":3,\"created_at\":\"yesterday\"}]}";
    struct ca_clip_vec v = {0};
    struct ca_bad_values bad = {0};
    char *cursor = NULL, err[256];
    assert_int_equal(parse(body, "1", &v, &cursor, &bad, err), CA_OK);
    assert_int_equal(v.n, 0);
    assert_int_equal(bad.count, 3);
    assert_non_null(strstr(bad.first, "not a whole number"));
}

static void
test_helix_user_and_followers(void **state)
{
    (void)state;
    size_t len;
    char *body = slurp("snap/users/111.json", &len);
    struct ca_channel ch = {0};
    char err[256];
    assert_int_equal(ca_helix_parse_user(body, len, "111", &ch, err, 256),
                     CA_OK);
    assert_string_equal(ch.login, "chan111");
    assert_int_equal(ca_helix_parse_user(body, len, "112", &ch, err, 256),
                     CA_R_NO_CHANNEL);
    ca_channel_fini(&ch);
    free(body);
    int64_t total = -1;
    const char *f = "{\"total\":1200,\"data\":[]}";
    assert_int_equal(ca_helix_parse_followers(f, strlen(f), &total, err, 256),
                     CA_OK);
    assert_int_equal(total, 1200);
    const char *neg = "{\"total\":-3}";
    assert_int_equal(
        ca_helix_parse_followers(neg, strlen(neg), &total, err, 256),
        CA_R_BAD_PAGE);
    assert_int_equal(total, 1200);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_helix_good_page_gives_clips_and_cursor),
        cmocka_unit_test(test_helix_last_page_has_no_cursor),
        cmocka_unit_test(test_helix_bad_values_are_skipped_and_named),
        cmocka_unit_test(test_helix_future_date_is_named),
        cmocka_unit_test(test_helix_truncated_body_is_truncated),
        cmocka_unit_test(test_helix_invalid_json_is_bad_json),
        cmocka_unit_test(test_helix_wrong_shape_is_bad_page),
        cmocka_unit_test(test_helix_non_integer_views_are_bad_values),
        cmocka_unit_test(test_helix_user_and_followers),
    };
    return cmocka_run_group_tests_name("analyzer.helix", tests, NULL, NULL);
}
