/*
 * test_score.c -- the viral score on hand-computed examples
 * (docs/scoring.md walks through the same numbers).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "score.h"

#define T0 1714564800 /* 2024-05-01T12:00:00Z */
#define H  3600

static void
add(struct ca_item_vec *v, const char *id, const char *ch, int64_t followers,
    int64_t created, int nobs, const int64_t *t, const int64_t *views)
{
    struct ca_item *it = ca_item_vec_add(v);
    assert_non_null(it);
    it->clip_id = strdup(id);
    it->channel_id = strdup(ch);
    it->channel_name = strdup(ch);
    it->title = strdup("");
    it->url = strdup("");
    it->created_at = created;
    it->followers = followers;
    it->nobs = nobs;
    for (int i = 0; i < nobs; i++) {
        it->obs[i].t = t[i];
        it->obs[i].views = views[i];
    }
}

static const struct ca_item *
find(const struct ca_item_vec *v, const char *id)
{
    for (size_t i = 0; i < v->n; i++)
        if (strcmp(v->v[i].clip_id, id) == 0)
            return &v->v[i];
    fail_msg("no item %s", id);
    return NULL;
}

static void
test_score_median_and_mad(void **state)
{
    (void)state;
    double a[] = {5, 1, 3};
    assert_true(ca_median(a, 3) == 3);
    double b[] = {4, 1, 3, 2};
    assert_true(ca_median(b, 4) == 2.5);
    /* |x - 3| = 2, 2, 0, 1, 97 -> median 2 -> MAD 1.4826 * 2 */
    double c[] = {1, 5, 3, 4, 100};
    assert_float_equal(ca_mad(c, 5, 3), 2.9652, 1e-12);
}

static void
test_score_velocities_from_three_observations(void **state)
{
    (void)state;
    struct ca_item_vec v = {0};
    int64_t t[] = {T0, T0 - H, T0 - 2 * H};
    int64_t views[] = {420, 300, 200};
    add(&v, "A", "c", 1000, T0 - 10 * H, 3, t, views);
    struct ca_score_params p;
    ca_score_params_default(&p);
    assert_int_equal(ca_score_items(&v, T0, &p), 0);
    const struct ca_item *it = &v.v[0];
    assert_float_equal(it->age_h, 10.0, 1e-12);
    assert_float_equal(it->vel_life, 42.0, 1e-12);  /* 420 / 10 h */
    assert_float_equal(it->vel_last, 120.0, 1e-12); /* (420-300) / 1 h */
    assert_float_equal(it->vel_prev, 100.0, 1e-12); /* (300-200) / 1 h */
    assert_float_equal(it->accel, 20.0, 1e-12);     /* 20 v/h over 1 h */
    assert_float_equal(it->growth, log(120.25 / 100.25), 1e-12);
    assert_float_equal(it->decay, exp2(-10.0 / 72.0), 1e-12);
    assert_float_equal(it->norm_vel, 120.0, 1e-12); /* per 1000 followers */
    ca_item_vec_fini(&v);
}

static void
test_score_young_clip_uses_its_creation(void **state)
{
    (void)state;
    struct ca_item_vec v = {0};
    int64_t t[] = {T0};
    int64_t views[] = {30};
    /* Created 20 minutes ago: the interval counts as min_interval_h. */
    add(&v, "Y", "c", 1000, T0 - 1200, 1, t, views);
    struct ca_score_params p;
    ca_score_params_default(&p);
    assert_int_equal(ca_score_items(&v, T0, &p), 0);
    assert_float_equal(v.v[0].vel_last, 30.0, 1e-12);
    assert_float_equal(v.v[0].vel_prev, 30.0, 1e-12);
    assert_float_equal(v.v[0].growth, 0.0, 1e-12);
    ca_item_vec_fini(&v);
}

/* Three clips of one channel, all two hours old, seen once: 20, 40 and
 * 400 views, so v1 = 10, 20, 200 views/h (k = 0.25). With one channel the
 * size line passes through it and the age curve is the median of all:
 *   resid_i = log(v1_i + k) - log(20 + 2k)
 *           = -0.69315, -0.01227, +2.27865
 *   MAD     = 1.4826 * median(0.68088, 0, 2.29092) = 1.00947
 *   z       = resid / 1.00947 (above the floor 1): 2.2578 for "viral"
 *   score   = 10 * softplus(z) * 2^(-2/72)        (growth 0) */
static void
test_score_hand_example(void **state)
{
    (void)state;
    struct ca_item_vec v = {0};
    int64_t t[] = {T0};
    int64_t a[] = {20}, b[] = {40}, c[] = {400};
    add(&v, "low", "ch", 500, T0 - 2 * H, 1, t, a);
    add(&v, "mid", "ch", 500, T0 - 2 * H, 1, t, b);
    add(&v, "viral", "ch", 500, T0 - 2 * H, 1, t, c);
    struct ca_score_params p;
    ca_score_params_default(&p);
    assert_int_equal(ca_score_items(&v, T0, &p), 0);
    double base = log(20.5);
    double r_low = log(10.25) - base, r_mid = log(20.25) - base;
    double r_viral = log(200.25) - base;
    double mad = 1.4826 * (r_mid - r_low);
    assert_float_equal(find(&v, "viral")->resid, r_viral, 1e-9);
    assert_float_equal(find(&v, "low")->resid, r_low, 1e-9);
    assert_float_equal(find(&v, "viral")->z, r_viral / mad, 1e-9);
    assert_float_equal(find(&v, "viral")->z, 2.2578, 1e-4);
    double score = 10 * log1p(exp(r_viral / mad)) * exp2(-2.0 / 72.0);
    assert_float_equal(find(&v, "viral")->score, score, 1e-9);
    assert_string_equal(v.v[0].clip_id, "viral");
    assert_int_equal(v.v[0].rank, 1);
    assert_string_equal(v.v[2].clip_id, "low");
    assert_int_equal(v.v[2].rank, 3);
    ca_item_vec_fini(&v);
}

/* A clip far above its small channel's baseline outranks a big channel's
 * clip with many more views that is ordinary for that channel. */
static void
test_score_small_channel_viral_beats_big_ordinary(void **state)
{
    (void)state;
    struct ca_item_vec v = {0};
    int64_t t[] = {T0, T0 - H};
    char id[32];
    for (int i = 0; i < 12; i++) {
        int64_t big[] = {50000 + 500 * i, 49000 + 480 * i};
        int64_t small[] = {60 + i, 58 + i};
        snprintf(id, sizeof id, "big%02d", i);
        add(&v, id, "big", 2000000, T0 - (10 + i) * H, 2, t, big);
        snprintf(id, sizeof id, "small%02d", i);
        add(&v, id, "small", 300, T0 - (10 + i) * H, 2, t, small);
    }
    int64_t viral[] = {900, 500};
    add(&v, "viral", "small", 300, T0 - 12 * H, 2, t, viral);
    struct ca_score_params p;
    ca_score_params_default(&p);
    assert_int_equal(ca_score_items(&v, T0, &p), 0);
    assert_string_equal(v.v[0].clip_id, "viral");
    for (size_t i = 1; i < v.n; i++)
        assert_true(v.v[i - 1].score >= v.v[i].score);
    ca_item_vec_fini(&v);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_score_median_and_mad),
        cmocka_unit_test(test_score_velocities_from_three_observations),
        cmocka_unit_test(test_score_young_clip_uses_its_creation),
        cmocka_unit_test(test_score_hand_example),
        cmocka_unit_test(test_score_small_channel_viral_beats_big_ordinary),
    };
    return cmocka_run_group_tests_name("analyzer.score", tests, NULL, NULL);
}
