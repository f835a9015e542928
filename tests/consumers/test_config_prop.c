/*
 * test_config_prop.c -- Property 14: Configuration Validation
 * Completeness (task 9.3, Req 6.5).
 *
 * For random valid documents generated from the schema tables:
 *   - the validator accepts them;
 *   - they round-trip: dump -> parse -> dump gives the same text;
 *   - one random mutation into an invalid value (wrong type, out of range,
 *     bad duration or size string, bare number, bad enum, unknown key,
 *     missing required key, too many or too few elements, ...) at a random
 *     path makes the validator report exactly one error, at exactly that
 *     JSON path.
 * Run on the real schema and on a test schema that uses every type the
 * engine offers (bool, double and byte sizes have no user in the real
 * schema yet).
 *
 * Deterministic: CB_TEST_SEED (printed with every failure) and
 * CB_TEST_ITERS.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cbt.h"
#include "cfggen.h"
#include "config.h"
#include "config_schema.h"

#define DEFAULT_SEED  0x0c0ff1ce14ull
#define DEFAULT_ITERS 400

/* ---- a test schema with every type ------------------------------------- */

struct ks_inner {
    bool flag;
    double ratio;
    int64_t n;
};

struct ks_item {
    const char *id;
    uint64_t every_ns;
    uint64_t cap_bytes;
    int64_t level;
};

struct ks {
    bool on;
    int64_t count;
    double ratio;
    const char *label;
    const char *opt;
    int mode;
    uint64_t wait_ns;
    uint64_t maybe_ns;
    uint64_t buf_bytes;
    const uint64_t *sizes;
    size_t n_sizes;
    const char *const *tags;
    size_t n_tags;
    const uint64_t *waits;
    size_t n_waits;
    struct ks_inner inner;
    const struct ks_item *items;
    size_t n_items;
};

static const char *
no_space(const char *s)
{
    return strchr(s, ' ') ? "must not contain a space" : NULL;
}

static const char *const modes[] = {"a", "b", "c", NULL};

static const struct cbc_key inner_keys[] = {
    {.name = "flag", .type = CBC_T_BOOL, .dflt = "true",
     .offset = offsetof(struct ks_inner, flag)},
    {.name = "ratio", .type = CBC_T_DOUBLE, .dflt = "0.25", .dmin = -1,
     .dmax = 1, .offset = offsetof(struct ks_inner, ratio)},
    {.name = "n", .type = CBC_T_INT, .dflt = "3", .min = INT64_MIN,
     .max = 100, .offset = offsetof(struct ks_inner, n)},
    {.name = NULL},
};
static const struct cbc_table inner_table = {"inner", inner_keys,
                                             sizeof(struct ks_inner), NULL};

static const struct cbc_key item_keys[] = {
    {.name = "id", .type = CBC_T_STRING, .min = 1, .max = 16,
     .offset = offsetof(struct ks_item, id)},
    {.name = "every", .type = CBC_T_DURATION, .min = CBC_NS_S,
     .max = CBC_NS_D, .offset = offsetof(struct ks_item, every_ns)},
    {.name = "cap", .type = CBC_T_SIZE, .dflt = "\"1KiB\"", .min = 1,
     .max = 1ll << 40, .offset = offsetof(struct ks_item, cap_bytes)},
    {.name = "level", .type = CBC_T_INT, .dflt = "1", .min = 0, .max = 9,
     .offset = offsetof(struct ks_item, level)},
    {.name = NULL},
};
static const struct cbc_table item_table = {"item", item_keys,
                                            sizeof(struct ks_item), NULL};

static const struct cbc_key size_elem = {.type = CBC_T_SIZE, .min = 1,
                                         .max = 1 << 20};
static const struct cbc_key tag_elem = {.type = CBC_T_STRING, .min = 1,
                                        .max = 8, .check = no_space};
static const struct cbc_key wait_elem = {.type = CBC_T_DURATION,
                                         .flags = CBC_NULLABLE,
                                         .min = CBC_NS_MS, .max = CBC_NS_H};

static const struct cbc_key ks_keys[] = {
    {.name = "on", .type = CBC_T_BOOL, .dflt = "false",
     .offset = offsetof(struct ks, on)},
    {.name = "count", .type = CBC_T_INT, .dflt = "0", .min = -5, .max = 5,
     .offset = offsetof(struct ks, count)},
    {.name = "ratio", .type = CBC_T_DOUBLE, .dflt = "0.5", .dmin = 0,
     .dmax = 1e9, .offset = offsetof(struct ks, ratio)},
    {.name = "label", .type = CBC_T_STRING, .dflt = "\"x\"", .min = 1,
     .max = 12, .check = no_space, .offset = offsetof(struct ks, label)},
    {.name = "opt", .type = CBC_T_STRING, .dflt = "null", .min = 0,
     .max = 30, .flags = CBC_NULLABLE, .offset = offsetof(struct ks, opt)},
    {.name = "mode", .type = CBC_T_ENUM, .dflt = "\"b\"", .choices = modes,
     .offset = offsetof(struct ks, mode)},
    {.name = "wait", .type = CBC_T_DURATION, .dflt = "\"1s\"", .min = 0,
     .max = CBC_NS_H, .offset = offsetof(struct ks, wait_ns)},
    {.name = "maybe", .type = CBC_T_DURATION, .dflt = "null",
     .flags = CBC_NULLABLE, .min = CBC_NS_MS, .max = 100 * CBC_NS_Y,
     .offset = offsetof(struct ks, maybe_ns)},
    {.name = "buf", .type = CBC_T_SIZE, .dflt = "\"64KiB\"", .min = 1024,
     .max = 1ll << 30, .offset = offsetof(struct ks, buf_bytes)},
    {.name = "sizes", .type = CBC_T_LIST, .dflt = "[]", .min = 0, .max = 3,
     .elem = &size_elem, .offset = offsetof(struct ks, sizes),
     .count_offset = offsetof(struct ks, n_sizes)},
    {.name = "tags", .type = CBC_T_LIST, .dflt = "[\"t\"]", .min = 1,
     .max = 5, .elem = &tag_elem, .offset = offsetof(struct ks, tags),
     .count_offset = offsetof(struct ks, n_tags)},
    {.name = "waits", .type = CBC_T_LIST, .dflt = "[null, \"5ms\"]",
     .min = 0, .max = 4, .elem = &wait_elem,
     .offset = offsetof(struct ks, waits),
     .count_offset = offsetof(struct ks, n_waits)},
    {.name = "inner", .type = CBC_T_OBJECT, .sub = &inner_table,
     .offset = offsetof(struct ks, inner)},
    {.name = "items", .type = CBC_T_OBJECTS, .dflt = "[]", .min = 0,
     .max = 3, .sub = &item_table, .offset = offsetof(struct ks, items),
     .count_offset = offsetof(struct ks, n_items)},
    {.name = NULL},
};
static const struct cbc_table ks_table = {"$", ks_keys, sizeof(struct ks),
                                          NULL};

/* ---- helpers ------------------------------------------------------------ */

/* The path of an error line "FILE: PATH: message" (into buf). */
static const char *
line_path(const char *line, const char *file, char *buf, size_t len)
{
    size_t fl = strlen(file);
    buf[0] = '\0';
    if (strncmp(line, file, fl) != 0 || strncmp(line + fl, ": $", 3) != 0)
        return buf;
    const char *p = line + fl + 2;
    const char *end = strstr(p, ": ");
    size_t n = end ? (size_t)(end - p) : strlen(p);
    if (n >= len)
        n = len - 1;
    memcpy(buf, p, n);
    buf[n] = '\0';
    return buf;
}

static char *
dumps(const json_t *j)
{
    return json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
}

struct run {
    uint64_t seed, iter;
    const char *doc; /* the valid document */
};

static void fail_run(const struct run *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
fail_run(const struct run *r, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "Property 14 failed: CB_TEST_SEED=%llu (iteration "
                    "%llu): ",
            (unsigned long long)r->seed, (unsigned long long)r->iter);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n  valid document: %s\n", r->doc);
    fail();
}

/* Checks that err_text has exactly one error, at `want`. */
static void
check_single_error(const struct run *run, size_t n, const char *err_text,
                   const char *file, const char *want, const char *what,
                   const char *bad_doc)
{
    char got[512];
    line_path(err_text ? err_text : "", file, got, sizeof got);
    if (n != 1 || strcmp(got, want) != 0)
        fail_run(run, "mutation '%s' at %s gave %zu errors (first at '%s'):"
                      "\n%s  invalid document: %s",
                 what, want, n, got, err_text ? err_text : "(none)\n",
                 bad_doc);
}

/* ---- the real schema ---------------------------------------------------- */

static void
real_iteration(struct run *run, struct cbt_rng *r)
{
    struct cbc_config_errors errs = {0};
    struct cbc_config *cfg = NULL, *again = NULL;
    json_t *doc = cfggen_config(r);
    char *text = dumps(doc);
    run->doc = text;
    if (cbc_config_parse(text, strlen(text), "t.json", &cfg, &errs) != 0)
        fail_run(run, "a valid document was rejected:\n%s", errs.text);
    char *d1 = cbc_config_dump(cfg);
    if (cbc_config_parse(d1, strlen(d1), "dump", &again, &errs) != 0)
        fail_run(run, "its dump was rejected:\n%s%s", errs.text, d1);
    char *d2 = cbc_config_dump(again);
    if (strcmp(d1, d2) != 0)
        fail_run(run, "dump does not round-trip:\n%s---\n%s", d1, d2);

    char path[512], what[256];
    json_t *bad = json_deep_copy(doc);
    while (cfggen_mutate(r, &cbc__root_table, bad, path, sizeof path, what,
                         sizeof what) != 0)
        ;
    char *bad_text = dumps(bad);
    struct cbc_config *none = NULL;
    int rc = cbc_config_parse(bad_text, strlen(bad_text), "t.json", &none,
                              &errs);
    if (rc != -EINVAL || none != NULL)
        fail_run(run, "mutation '%s' at %s was accepted (rc %d)", what, path,
                 rc);
    check_single_error(run, errs.count, errs.text, "t.json", path, what,
                       bad_text);
    cbc_config_errors_fini(&errs);
    free(bad_text);
    json_decref(bad);
    free(d1);
    free(d2);
    cbc_config_free(cfg);
    cbc_config_free(again);
    free(text);
    json_decref(doc);
}

/* Property 14: Configuration Validation Completeness (real schema). */
static void
test_prop14_real_schema_reports_exact_path(void **state)
{
    (void)state;
    uint64_t seed = cbt_seed(DEFAULT_SEED), iters = cbt_iters(DEFAULT_ITERS);
    for (uint64_t i = 0; i < iters; i++) {
        struct run run = {.seed = seed, .iter = i};
        struct cbt_rng r = {cbt_mix(seed, i)};
        real_iteration(&run, &r);
    }
}

/* ---- the test schema ---------------------------------------------------- */

/* Decodes text against ks_table; returns the error count. */
static size_t
ks_decode(const char *text, struct cbc__arena *a, struct ks *out,
          char **errs)
{
    json_error_t je;
    json_t *j = json_loads(text, JSON_REJECT_DUPLICATES, &je);
    assert_non_null(j);
    memset(out, 0, sizeof *out);
    size_t n = cbc__decode(&ks_table, j, out, a, "ks", errs, NULL);
    json_decref(j);
    return n;
}

static void
ks_iteration(struct run *run, struct cbt_rng *r)
{
    struct cbc__arena *a = cbc__arena_create();
    struct ks v1, v2;
    char *errs = NULL;
    json_t *doc = cfggen_object(r, &ks_table);
    char *text = dumps(doc);
    run->doc = text;
    if (ks_decode(text, a, &v1, &errs) != 0)
        fail_run(run, "a valid document was rejected:\n%s", errs);
    json_t *e1 = cbc__encode(&ks_table, &v1);
    char *t1 = dumps(e1);
    if (ks_decode(t1, a, &v2, &errs) != 0)
        fail_run(run, "its encoding was rejected:\n%s%s", errs, t1);
    json_t *e2 = cbc__encode(&ks_table, &v2);
    char *t2 = dumps(e2);
    if (strcmp(t1, t2) != 0)
        fail_run(run, "encoding does not round-trip:\n%s\n%s", t1, t2);

    char path[512], what[256];
    while (cfggen_mutate(r, &ks_table, doc, path, sizeof path, what,
                         sizeof what) != 0)
        ;
    char *bad = dumps(doc);
    struct ks v3;
    size_t n = ks_decode(bad, a, &v3, &errs);
    check_single_error(run, n, errs, "ks", path, what, bad);
    free(errs);
    free(bad);
    free(t1);
    free(t2);
    json_decref(e1);
    json_decref(e2);
    json_decref(doc);
    free(text);
    cbc__arena_destroy(a);
}

/* Property 14: Configuration Validation Completeness (every type). */
static void
test_prop14_every_type_reports_exact_path(void **state)
{
    (void)state;
    uint64_t seed = cbt_seed(DEFAULT_SEED), iters = cbt_iters(DEFAULT_ITERS);
    for (uint64_t i = 0; i < iters; i++) {
        struct run run = {.seed = seed, .iter = i};
        struct cbt_rng r = {cbt_mix(seed ^ 0x5eed, i)};
        ks_iteration(&run, &r);
    }
}

/* The generator is not vacuous: over many documents it sets every key
 * of the real schema and every mutation kind fires. */
static void
test_generator_covers_every_key(void **state)
{
    (void)state;
    struct cbt_rng r = {cbt_seed(DEFAULT_SEED)};
    int seen_unknown = 0, seen_missing = 0, seen_set = 0;
    size_t max_keys = 0;
    for (int i = 0; i < 5000 && !(i >= 300 && seen_unknown && seen_missing &&
                                  seen_set);
         i++) {
        json_t *doc = cfggen_config(&r);
        struct cbc_config *cfg = NULL;
        char *t = dumps(doc);
        assert_int_equal(cbc_config_parse(t, strlen(t), "g", &cfg, NULL), 0);
        if (cfg->keys_set > max_keys)
            max_keys = cfg->keys_set;
        char path[512], what[256];
        if (cfggen_mutate(&r, &cbc__root_table, doc, path, sizeof path, what,
                          sizeof what) == 0) {
            seen_unknown |= strstr(what, "unknown") != NULL;
            seen_missing |= strstr(what, "required") != NULL;
            seen_set |= strncmp(what, "set to", 6) == 0;
        }
        cbc_config_free(cfg);
        free(t);
        json_decref(doc);
    }
    assert_true(seen_unknown && seen_missing && seen_set);
    assert_true(max_keys >= 12);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_prop14_real_schema_reports_exact_path),
        cmocka_unit_test(test_prop14_every_type_reports_exact_path),
        cmocka_unit_test(test_generator_covers_every_key),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
