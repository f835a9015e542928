/*
 * test_backoff.c -- retry delays, Retry-After, Ratelimit pacing, and the
 * time and duration parsers the command line relies on.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "backoff.h"
#include "timeutil.h"

static void
test_backoff_doubles_with_equal_jitter(void **state)
{
    (void)state;
    /* u = 0: the fixed half; u -> 1: the whole exponential step. */
    assert_int_equal(ca_backoff_delay_ms(1, 100, 10000, 0.0), 50);
    assert_int_equal(ca_backoff_delay_ms(2, 100, 10000, 0.0), 100);
    assert_int_equal(ca_backoff_delay_ms(3, 100, 10000, 0.0), 200);
    assert_int_equal(ca_backoff_delay_ms(3, 100, 10000, 0.5), 300);
    assert_true(ca_backoff_delay_ms(3, 100, 10000, 0.999999) < 400);
    /* The cap bounds the step, also for huge attempt numbers. */
    assert_int_equal(ca_backoff_delay_ms(30, 100, 1000, 0.0), 500);
    assert_true(ca_backoff_delay_ms(1000, 100, 1000, 0.99) <= 1000);
    assert_int_equal(ca_backoff_delay_ms(1, 0, 1000, 0.5), 0);
    assert_int_equal(ca_backoff_delay_ms(0, 100, 1000, 0.5), 0);
}

static void
test_backoff_jitter_spreads_and_is_seeded(void **state)
{
    (void)state;
    uint64_t s1 = 42, s2 = 42;
    long lo = 1 << 30, hi = 0;
    for (int i = 0; i < 1000; i++) {
        double u = ca_rand01(&s1);
        assert_true(u >= 0 && u < 1);
        assert_true(u == ca_rand01(&s2)); /* same seed, same sequence */
        long d = ca_backoff_delay_ms(4, 100, 100000, u);
        lo = d < lo ? d : lo;
        hi = d > hi ? d : hi;
    }
    assert_true(lo >= 400 && lo < 420);
    assert_true(hi > 780 && hi < 800);
}

static void
test_backoff_retry_after(void **state)
{
    (void)state;
    assert_int_equal(ca_retry_after_parse("3"), 3);
    assert_int_equal(ca_retry_after_parse(" 12\r\n"), 12);
    assert_int_equal(ca_retry_after_parse("0"), 0);
    assert_int_equal(ca_retry_after_parse("-1"), -1);
    assert_int_equal(ca_retry_after_parse("soon"), -1);
    assert_int_equal(ca_retry_after_parse("Wed, 21 Oct 2015 07:28:00 GMT"), -1);
    assert_int_equal(ca_retry_after_parse(NULL), -1);
}

static void
test_backoff_ratelimit_pacing(void **state)
{
    (void)state;
    /* Plenty left: no wait. */
    assert_int_equal(ca_ratelimit_delay_ms(800, 500, 1060, 1000, 4, 30000), 0);
    /* Above 10% reserve (80) + 4 workers: no wait; at it: spread. */
    assert_int_equal(ca_ratelimit_delay_ms(800, 85, 1060, 1000, 4, 30000), 0);
    assert_true(ca_ratelimit_delay_ms(800, 84, 1060, 1000, 4, 30000) > 0);
    assert_int_equal(ca_ratelimit_delay_ms(800, 59, 1060, 1000, 4, 30000),
                     1000); /* 60 s over 60 requests */
    /* Nothing left: wait for the reset, capped. */
    assert_int_equal(ca_ratelimit_delay_ms(800, 0, 1010, 1000, 4, 30000),
                     10000);
    assert_int_equal(ca_ratelimit_delay_ms(800, 0, 1060, 1000, 4, 30000),
                     30000);
    /* Unknown or past reset: no wait. */
    assert_int_equal(ca_ratelimit_delay_ms(-1, -1, -1, 1000, 4, 30000), 0);
    assert_int_equal(ca_ratelimit_delay_ms(800, 0, 999, 1000, 4, 30000), 0);
}

static void
test_backoff_time_parse_and_format(void **state)
{
    (void)state;
    int64_t t;
    char buf[32];
    assert_int_equal(ca_time_parse("2024-05-01T12:00:00Z", &t), 0);
    assert_int_equal(t, 1714564800);
    assert_string_equal(ca_time_format(t, buf, sizeof buf),
                        "2024-05-01T12:00:00Z");
    assert_int_equal(ca_time_parse("2024-05-01T14:00:00.123+02:00", &t), 0);
    assert_int_equal(t, 1714564800);
    assert_int_equal(ca_time_parse("1970-01-01T00:00:00Z", &t), 0);
    assert_int_equal(t, 0);
    assert_int_equal(ca_time_parse("2024-02-29T00:00:00Z", &t), 0);
    assert_int_equal(ca_time_parse("2023-02-29T00:00:00Z", &t), -1);
    assert_int_equal(ca_time_parse("2024-05-01", &t), -1);
    assert_int_equal(ca_time_parse("2024-05-01T12:00:00", &t), -1);
    assert_int_equal(ca_time_parse("2024-13-01T12:00:00Z", &t), -1);
    assert_int_equal(ca_time_parse("2024-05-01T12:00:00Zjunk", &t), -1);
}

static void
test_backoff_duration_parse(void **state)
{
    (void)state;
    int64_t s;
    assert_int_equal(ca_duration_parse("24h", &s), 0);
    assert_int_equal(s, 86400);
    assert_int_equal(ca_duration_parse("90", &s), 0);
    assert_int_equal(s, 90);
    assert_int_equal(ca_duration_parse("7d", &s), 0);
    assert_int_equal(s, 604800);
    assert_int_equal(ca_duration_parse("0h", &s), -1);
    assert_int_equal(ca_duration_parse("-5m", &s), -1);
    assert_int_equal(ca_duration_parse("5 m", &s), -1);
    assert_int_equal(ca_duration_parse("5w", &s), -1);
    assert_int_equal(ca_duration_parse("99999999999d", &s), -1);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_backoff_doubles_with_equal_jitter),
        cmocka_unit_test(test_backoff_jitter_spreads_and_is_seeded),
        cmocka_unit_test(test_backoff_retry_after),
        cmocka_unit_test(test_backoff_ratelimit_pacing),
        cmocka_unit_test(test_backoff_time_parse_and_format),
        cmocka_unit_test(test_backoff_duration_parse),
    };
    return cmocka_run_group_tests_name("analyzer.backoff", tests, NULL, NULL);
}
