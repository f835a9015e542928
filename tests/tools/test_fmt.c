/*
 * test_fmt.c -- the text formatters of `clipbus tail` (tools/clipbus/out.c)
 * print exactly what the printf formats they replace print.
 *
 * fmt_dur, sb_num and sb_add_escaped skip printf on their common paths
 * (most of `clipbus tail`'s CPU was printf). Each is compared, on seeded
 * random inputs weighted toward the hard cases (rounding ties, unit
 * boundaries, -0, whole numbers, invalid UTF-8), with a reference that is
 * the printf-based code it replaced. A failure prints the seed and the
 * input; CB_TEST_SEED and CB_TEST_ITERS replay or widen a run.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cbt.h"
#include "cli.h"

#define DEFAULT_SEED  0x7a11f3a7ull
#define DEFAULT_ITERS 200000u

/* ---- references: the printf code of before ------------------------------ */
static void
ref_dur(char *buf, size_t len, uint64_t ns)
{
    uint64_t s = ns / 1000000000u;

    if (ns < 1000u)
        snprintf(buf, len, "%llu ns", (unsigned long long)ns);
    else if (ns < 1000000u)
        snprintf(buf, len, "%.1f us", (double)ns / 1e3);
    else if (ns < 1000000000u)
        snprintf(buf, len, "%.2f ms", (double)ns / 1e6);
    else if (ns < UINT64_C(60000000000))
        snprintf(buf, len, "%.2f s", (double)ns / 1e9);
    else if (s < 3600u)
        snprintf(buf, len, "%llum%02llus", (unsigned long long)(s / 60),
                 (unsigned long long)(s % 60));
    else if (s < 86400u)
        snprintf(buf, len, "%lluh%02llum", (unsigned long long)(s / 3600),
                 (unsigned long long)(s % 3600 / 60));
    else
        snprintf(buf, len, "%llud%02lluh", (unsigned long long)(s / 86400),
                 (unsigned long long)(s % 86400 / 3600));
}

static void
ref_escaped(struct sbuf *b, const char *s, size_t n, int quote)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;

    while (i < n) {
        uint32_t cp;
        size_t l = cli_utf8_len(u + i, n - i, &cp);
        if (l == 0) {
            sb_printf(b, "\\x%02x", u[i]);
            i++;
            continue;
        }
        if (cp == '\\' || (quote && cp == '"')) {
            sb_add(b, "\\", 1);
            sb_add(b, s + i, 1);
        } else if (cp == '\n') {
            sb_add(b, "\\n", 2);
        } else if (cp == '\t') {
            sb_add(b, "\\t", 2);
        } else if (cp == '\r') {
            sb_add(b, "\\r", 2);
        } else if (cp < 0x20 || cp == 0x7f) {
            sb_printf(b, "\\x%02x", (unsigned)cp);
        } else if (cp >= 0x80 && cp < 0xa0) {
            sb_printf(b, "\\u%04x", (unsigned)cp);
        } else {
            sb_add(b, s + i, l);
        }
        i += l;
    }
}

/* ---- inputs ------------------------------------------------------------- */
/* A duration: anywhere up to years, often a rounding tie or next to one
 * (k * step + step/2 + {-1, 0, 1}), or a unit boundary. */
static uint64_t
random_ns(struct cbt_rng *r)
{
    static const uint64_t steps[] = {100u, 10000u, 10000000u};
    static const uint64_t edges[] = {999u, 1000u, 999949u, 999950u, 999951u,
                                     1000000u, 999994999u, 999995000u,
                                     999995001u, 1000000000u,
                                     59994999999u, 59995000000u,
                                     60000000000u};
    uint64_t step;

    switch (cbt_below(r, 4)) {
    case 0:
        return edges[cbt_below(r, sizeof edges / sizeof edges[0])];
    case 1:
        step = steps[cbt_below(r, 3)];
        return (cbt_below(r, 60000000000u / step)) * step + step / 2 +
               cbt_below(r, 3) - 1;
    case 2: /* log-uniform over 1 ns .. ~3 years */
        return cbt_next(r) >> cbt_below(r, 64) >> 7;
    default:
        return cbt_below(r, 60000000000u);
    }
}

static double
random_double(struct cbt_rng *r)
{
    switch (cbt_below(r, 6)) {
    case 0: { /* whole numbers around the 10^6 edge, either sign */
        double d = (double)(int64_t)cbt_below(r, 2000001u);
        return cbt_below(r, 2) ? -d : d;
    }
    case 1: {
        static const double odd[] = {0.0, -0.0, 1e6, -1e6, 999999.0,
                                     -999999.0, 999999.5, 0.5, -0.5,
                                     1e-7, 123456.7, 1e15, -1e300};
        return odd[cbt_below(r, sizeof odd / sizeof odd[0])];
    }
    case 2: /* small whole numbers: counts, weights, deltas */
        return (double)cbt_below(r, 1000);
    case 3: /* any finite bit pattern */
    {
        uint64_t bits = cbt_next(r);
        double d;
        memcpy(&d, &bits, sizeof d);
        return isfinite(d) ? d : 1.5;
    }
    default: /* milliseconds with a fraction */
        return (double)cbt_below(r, 100000000u) / 1000.0;
    }
}

/* Bytes weighted to what escaping must handle. */
static size_t
random_text(struct cbt_rng *r, char *buf, size_t cap)
{
    static const char *const pieces[] = {
        "plain", " ", "\"", "\\", "\n", "\t", "\r", "\x1b", "\x7f",
        "\xc3\xa9",         /* U+00E9 */
        "\xc2\x85",         /* U+0085, a C1 control */
        "\xe2\x82\xac",     /* U+20AC */
        "\xf0\x9f\x98\x80", /* U+1F600 */
        "\xff", "\xc3", "\xe2\x82", "\xed\xa0\x80", /* invalid */
        "\xc0\xaf",         /* overlong */
    };
    size_t n = 0, parts = cbt_below(r, 12);

    for (size_t i = 0; i < parts; i++) {
        const char *p = pieces[cbt_below(r, sizeof pieces / sizeof pieces[0])];
        size_t l = strlen(p);
        if (cbt_below(r, 4) == 0) { /* a random byte */
            buf[n++] = (char)cbt_below(r, 256);
            continue;
        }
        if (n + l > cap)
            break;
        memcpy(buf + n, p, l);
        n += l;
    }
    return n;
}

/* ---- properties --------------------------------------------------------- */
static void
test_fmt_dur_matches_printf(void **state)
{
    uint64_t seed = cbt_seed(DEFAULT_SEED), iters = cbt_iters(DEFAULT_ITERS);
    struct cbt_rng r = {seed};
    (void)state;

    for (uint64_t i = 0; i < iters; i++) {
        uint64_t ns = random_ns(&r);
        char got[32], want[32];
        fmt_dur(got, sizeof got, ns);
        ref_dur(want, sizeof want, ns);
        if (strcmp(got, want) != 0)
            fail_msg("seed %#llx: fmt_dur(%llu) = \"%s\", printf: \"%s\"",
                     (unsigned long long)seed, (unsigned long long)ns, got,
                     want);
    }
    /* A buffer too small for the fast path still gets printf's text. */
    {
        char small[6];
        fmt_dur(small, sizeof small, 1234567u);
        assert_string_equal(small, "1.23 ");
    }
}

static void
test_sb_num_matches_printf(void **state)
{
    uint64_t seed = cbt_seed(DEFAULT_SEED) ^ 0x6e756dull;
    uint64_t iters = cbt_iters(DEFAULT_ITERS);
    struct cbt_rng r = {seed};
    struct sbuf got = {0};
    char want[64];
    (void)state;

    for (uint64_t i = 0; i < iters; i++) {
        double d = random_double(&r);
        sb_reset(&got);
        sb_num(&got, d);
        snprintf(want, sizeof want, "%.6g", d);
        if (strcmp(sb_str(&got), want) != 0)
            fail_msg("seed %#llx: sb_num(%a) = \"%s\", printf: \"%s\"",
                     (unsigned long long)seed, d, sb_str(&got), want);
    }
    sb_free(&got);
}

static void
test_sb_add_escaped_matches_reference(void **state)
{
    uint64_t seed = cbt_seed(DEFAULT_SEED) ^ 0x657363ull;
    uint64_t iters = cbt_iters(DEFAULT_ITERS);
    struct cbt_rng r = {seed};
    struct sbuf got = {0}, want = {0};
    char text[128];
    (void)state;

    for (uint64_t i = 0; i < iters; i++) {
        size_t n = random_text(&r, text, sizeof text);
        int quote = (int)cbt_below(&r, 2);
        sb_reset(&got);
        sb_reset(&want);
        sb_add_escaped(&got, text, n, quote);
        ref_escaped(&want, text, n, quote);
        if (got.len != want.len || memcmp(sb_str(&got), sb_str(&want),
                                          got.len) != 0)
            fail_msg("seed %#llx iteration %llu (quote %d): \"%s\" but the "
                     "reference gives \"%s\"",
                     (unsigned long long)seed, (unsigned long long)i, quote,
                     sb_str(&got), sb_str(&want));
    }
    sb_free(&got);
    sb_free(&want);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fmt_dur_matches_printf),
        cmocka_unit_test(test_sb_num_matches_printf),
        cmocka_unit_test(test_sb_add_escaped_matches_reference),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
