/*
 * test_config.c -- unit tests of the configuration system
 * (consumers/common/config*): duration and size syntax, defaults, error
 * messages and their JSON paths, hostile files, the documented example,
 * and the reload paths (applied, rejected, unchanged, missing; watcher on
 * rename-on-save, delete + re-create and vim's backup dance).
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <urcu.h>

#include "cbt.h"
#include "config.h"
#include "config_schema.h"

#define WAIT_MS 5000

/* ---- helpers ------------------------------------------------------------ */

static char g_dir[256];

static int
setup_dir(void **state)
{
    (void)state;
    snprintf(g_dir, sizeof g_dir, "%s/cbcfgu.XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    return mkdtemp(g_dir) ? 0 : -1;
}

static int
teardown_dir(void **state)
{
    (void)state;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    return system(cmd) == 0 ? 0 : -1;
}

static char *
in_dir(const char *name)
{
    static char buf[4][320];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", g_dir, name);
    return buf[k];
}

static void
put(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    assert_int_equal(fclose(f), 0);
}

/* Parses text; returns the rc and leaves the errors in *e. */
static int
parse(const char *text, struct cbc_config **cfg, struct cbc_config_errors *e)
{
    cbc_config_errors_fini(e);
    return cbc_config_parse(text, strlen(text), "t.json", cfg, e);
}

/* Asserts text is invalid with exactly one error line containing both
 * `path` and `msg`. */
static void
expect_error(const char *text, const char *path, const char *msg)
{
    struct cbc_config_errors e = {0};
    struct cbc_config *cfg = NULL;
    int rc = parse(text, &cfg, &e);
    if (rc != -EINVAL || e.count != 1 || strstr(e.text, path) == NULL ||
        strstr(e.text, msg) == NULL || cbt_lines(e.text) != 1) {
        fprintf(stderr, "input: %s\nrc %d, %zu errors:\n%s", text, rc,
                e.count, e.text ? e.text : "");
        fail();
    }
    assert_null(cfg);
    cbc_config_errors_fini(&e);
}

/* ---- units -------------------------------------------------------------- */

static void
test_duration_parses_units_and_groups(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        uint64_t ns;
    } ok[] = {
        {"500ms", 500000000ull},      {"10s", 10000000000ull},
        {"5m", 300000000000ull},      {"2h", 7200000000000ull},
        {"90d", 90 * 86400000000000ull},
        {"1y", 366 * 86400000000000ull},
        {"1h30m", 5400000000000ull},  {"0s", 0},
        {"1w", 7 * 86400000000000ull}, {"250us", 250000},
        {"7ns", 7},                    {"1m1s1ms", 61001000000ull},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        uint64_t v = 1;
        assert_int_equal(cbc__parse_duration(ok[i].s, &v), 0);
        assert_int_equal(v, ok[i].ns);
    }
}

static void
test_duration_rejects_bad_strings(void **state)
{
    (void)state;
    static const char *const bad[] = {"",    "10",  "10 s", "-5s", "1.5s",
                                      "5x",  "s",   "5mo",  "10S", " 1s",
                                      "1s ", "1sm", "m5",   "0x10s"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        uint64_t v = 42;
        assert_int_equal(cbc__parse_duration(bad[i], &v), -EINVAL);
        assert_int_equal(v, 42);
    }
    uint64_t v;
    assert_int_equal(cbc__parse_duration("99999999999999999999s", &v),
                     -ERANGE);
    assert_int_equal(cbc__parse_duration("600y", &v), -ERANGE);
    assert_int_equal(cbc__parse_duration("583y", &v), 0);
}

static void
test_duration_formats_canonically(void **state)
{
    (void)state;
    char b[32];
    assert_string_equal(cbc__fmt_duration(b, sizeof b, 0), "0s");
    assert_string_equal(cbc__fmt_duration(b, sizeof b, 60000000000ull), "1m");
    assert_string_equal(
        cbc__fmt_duration(b, sizeof b, 90 * 86400000000000ull), "90d");
    assert_string_equal(
        cbc__fmt_duration(b, sizeof b, 366 * 86400000000000ull), "1y");
    assert_string_equal(
        cbc__fmt_duration(b, sizeof b, 365 * 86400000000000ull), "365d");
    assert_string_equal(cbc__fmt_duration(b, sizeof b, 1500000000ull),
                        "1500ms");
    assert_string_equal(cbc__fmt_duration(b, sizeof b, 5400000000000ull),
                        "90m");
}

static void
test_size_parses_and_formats(void **state)
{
    (void)state;
    uint64_t v;
    char b[32];
    assert_int_equal(cbc__parse_size("64KiB", &v), 0);
    assert_int_equal(v, 65536);
    assert_int_equal(cbc__parse_size("16MiB", &v), 0);
    assert_int_equal(v, 16u << 20);
    assert_int_equal(cbc__parse_size("512B", &v), 0);
    assert_int_equal(v, 512);
    assert_int_equal(cbc__parse_size("64KB", &v), -EINVAL);
    assert_int_equal(cbc__parse_size("64", &v), -EINVAL);
    assert_int_equal(cbc__parse_size("1MiB1KiB", &v), -EINVAL);
    assert_int_equal(cbc__parse_size("99999999TiB", &v), -ERANGE);
    assert_string_equal(cbc__fmt_size(b, sizeof b, 65536), "64KiB");
    assert_string_equal(cbc__fmt_size(b, sizeof b, 1536), "1536B");
    assert_string_equal(cbc__fmt_size(b, sizeof b, 1000), "1000B");
    assert_string_equal(cbc__fmt_size(b, sizeof b, 0), "0B");
}

/* ---- defaults and the documented example -------------------------------- */

static void
test_defaults_match_docs(void **state)
{
    (void)state;
    struct cbc_config *c = NULL;
    struct cbc_config_errors e = {0};
    assert_int_equal(cbc_config_load(NULL, &c, &e), 0);
    assert_null(c->source);
    assert_int_equal(c->keys_set, 0);
    assert_null(c->bus.name);
    assert_int_equal(c->bus.grace_ns, 60 * CBC_NS_S);
    assert_int_equal(c->bus.from, 0);
    assert_int_equal(c->consumer.status_interval_ns, 100 * CBC_NS_MS);
    assert_int_equal(c->consumer.batch, 4096);
    assert_int_equal(c->consumer.max_nap_ns, 32 * CBC_NS_MS);
    assert_int_equal(c->consumer.sched, 0); /* "idle" */
    assert_string_equal(c->rrd.dir, "clipbus-rrd");
    assert_int_equal(c->rrd.step_ns, 10 * CBC_NS_S);
    assert_int_equal(c->rrd.heartbeat_ns, 20 * CBC_NS_S);
    assert_null(c->rrd.daemon);
    assert_int_equal(c->rrd.n_functions, 1);
    assert_string_equal(c->rrd.functions[0], "*");
    assert_int_equal(c->rrd.max_files, 1000);
    /* Issue 5: AVERAGE of each step for a day; AVERAGE and MAX at 1m for
     * 90d, 1h for 1y, 1d for 5y. */
    static const struct cbc_rra want[] = {
        {CBC_CF_AVERAGE, 10 * CBC_NS_S, CBC_NS_D},
        {CBC_CF_AVERAGE, CBC_NS_MIN, 90 * CBC_NS_D},
        {CBC_CF_MAX, CBC_NS_MIN, 90 * CBC_NS_D},
        {CBC_CF_AVERAGE, CBC_NS_H, CBC_NS_Y},
        {CBC_CF_MAX, CBC_NS_H, CBC_NS_Y},
        {CBC_CF_AVERAGE, CBC_NS_D, 5 * CBC_NS_Y},
        {CBC_CF_MAX, CBC_NS_D, 5 * CBC_NS_Y},
    };
    assert_int_equal(c->rrd.n_rras, 7);
    for (size_t i = 0; i < 7; i++) {
        assert_int_equal(c->rrd.rras[i].cf, want[i].cf);
        assert_int_equal(c->rrd.rras[i].step_ns, want[i].step_ns);
        assert_int_equal(c->rrd.rras[i].keep_ns, want[i].keep_ns);
    }
    assert_string_equal(cbc_rrd_cf_name(CBC_CF_MAX), "MAX");
    cbc_config_free(c);
}

/* Collects every key of the schema as a dotted name ("rrd.rras[].cf"). */
static void
schema_names(const struct cbc_table *t, const char *prefix, char out[][64],
             size_t *n)
{
    for (const struct cbc_key *k = t->keys; k->name; k++) {
        char name[64];
        snprintf(name, sizeof name, "%s%s%s", prefix, *prefix ? "." : "",
                 k->name);
        if (k->type == CBC_T_OBJECT) {
            schema_names(k->sub, name, out, n);
            continue;
        }
        snprintf(out[(*n)++], 64, "%s", name);
        if (k->type == CBC_T_OBJECTS) {
            char p[72];
            snprintf(p, sizeof p, "%s[]", name);
            schema_names(k->sub, p, out, n);
        }
    }
}

/* The example sets every key; docs/config.md documents every key. */
static void
test_example_and_docs_cover_every_key(void **state)
{
    (void)state;
    char names[128][64];
    size_t n = 0;
    schema_names(&cbc__root_table, "", names, &n);
    assert_true(n >= 14);
    struct cbc_config *c = NULL;
    struct cbc_config_errors e = {0};
    int rc = cbc_config_load(CB_SOURCE_DIR "/docs/clipbus.example.json", &c,
                             &e);
    if (rc != 0)
        fprintf(stderr, "%s", e.text ? e.text : "");
    assert_int_equal(rc, 0);
    size_t len;
    char *ex = cbt_read_file(CB_SOURCE_DIR "/docs/clipbus.example.json", &len);
    char *doc = cbt_read_file(CB_SOURCE_DIR "/docs/config.md", &len);
    assert_non_null(ex);
    assert_non_null(doc);
    for (size_t i = 0; i < n; i++) {
        const char *leaf = strrchr(names[i], '.');
        char quoted[80], ticked[80];
        snprintf(quoted, sizeof quoted, "\"%s\"", leaf ? leaf + 1 : names[i]);
        snprintf(ticked, sizeof ticked, "`%s`", names[i]);
        if (strstr(ex, quoted) == NULL)
            fail_msg("docs/clipbus.example.json does not set %s: add it "
                     "(docs/config.md, \"For programmers\")",
                     names[i]);
        if (strstr(doc, ticked) == NULL)
            fail_msg("docs/config.md does not document %s: regenerate its "
                     "key reference with 'clipbus config keys'",
                     ticked);
    }
    free(ex);
    free(doc);
    cbc_config_free(c);
}

static void
test_dump_round_trips(void **state)
{
    (void)state;
    struct cbc_config *a = NULL, *b = NULL;
    struct cbc_config_errors e = {0};
    assert_int_equal(parse("{\"rrd\": {\"step\": \"1m\", \"heartbeat\": "
                           "\"90s\", \"functions\": []},"
                           " \"bus\": {\"name\": \"x-1\", \"from\": \"now\"}}",
                           &a, &e),
                     0);
    assert_int_equal(a->keys_set, 5);
    char *d = cbc_config_dump(a);
    assert_non_null(strstr(d, "\"heartbeat\": \"90s\""));
    assert_non_null(strstr(d, "\"step\": \"1m\""));
    assert_int_equal(parse(d, &b, &e), 0);
    char *d2 = cbc_config_dump(b);
    assert_string_equal(d, d2);
    assert_int_equal(b->bus.from, 1);
    assert_int_equal(b->rrd.n_functions, 0);
    free(d);
    free(d2);
    cbc_config_free(a);
    cbc_config_free(b);
}

/* ---- errors ------------------------------------------------------------- */

static void
test_each_error_names_its_path(void **state)
{
    (void)state;
    expect_error("{\"rrd\": {\"rras\": [{\"cf\": \"MAX\", \"step\": \"1m\", "
                 "\"keep\": \"1d\"}, {\"cf\": \"MIN\", \"step\": \"1m\", "
                 "\"keep\": \"1d\"}, {\"cf\": \"MAX\", \"step\": \"1h\", "
                 "\"keep\": \"9x\"}]}}",
                 "t.json: $.rrd.rras[2].keep: \"9x\" is not a duration",
                 "(use a number and a unit: 500ms, 10s, 5m, 2h, 90d, 1y)");
    expect_error("{\"rrd\": {\"step\": 10}}", "$.rrd.step:",
                 "bare number; write a unit");
    expect_error("{\"rrd\": {\"stpe\": \"10s\"}}", "$.rrd.stpe:",
                 "unknown key (did you mean \"step\"?)");
    expect_error("{\"bus\": {\"from\": \"newest\"}}", "$.bus.from:",
                 "\"newest\" is not one of \"oldest\", \"now\"");
    expect_error("{\"consumer\": {\"batch\": 0}}", "$.consumer.batch:",
                 "0 is out of range (1 to 65536)");
    expect_error("{\"consumer\": {\"batch\": \"8\"}}", "$.consumer.batch:",
                 "expected an integer, got the string \"8\"");
    expect_error("[1]", "t.json: $: ", "expected an object, got an array");
    expect_error("{\"rrd\": {\"rras\": [{\"cf\": \"MAX\", \"step\": \"15s\","
                 " \"keep\": \"1d\"}]}}",
                 "$.rrd.rras[0].step:", "not a multiple of $.rrd.step (10s)");
    expect_error("{\"rrd\": {\"rras\": [{\"cf\": \"MAX\", \"step\": \"1m\","
                 " \"keep\": \"30s\"}]}}",
                 "$.rrd.rras[0].keep:", "shorter than the archive's step");
    expect_error("{\"rrd\": {\"step\": \"1500ms\"}}", "$.rrd.step:",
                 "not a whole number of seconds");
    expect_error("{\"weird key\\n\": 1}", "$[\"weird key\\n\"]:",
                 "unknown key");
}

static void
test_all_errors_are_reported(void **state)
{
    (void)state;
    struct cbc_config *c = NULL;
    struct cbc_config_errors e = {0};
    assert_int_equal(parse("{\"bus\": {\"name\": \"a b\", \"grace\": \"x\"},"
                           " \"consumer\": {\"batch\": -1},"
                           " \"rrd\": {\"max_files\": 0, \"daemon\": 5},"
                           " \"nope\": {}}",
                           &c, &e),
                     -EINVAL);
    assert_int_equal(e.count, 6);
    assert_int_equal(cbt_lines(e.text), 6);
    cbc_config_errors_fini(&e);
    /* 300 unknown keys: all counted, 200 lines shown plus a summary. */
    char big[300 * 16 + 8], *p = big;
    p += sprintf(p, "{");
    for (int i = 0; i < 300; i++)
        p += sprintf(p, "%s\"k%d\": 1", i ? "," : "", i);
    sprintf(p, "}");
    assert_int_equal(parse(big, &c, &e), -EINVAL);
    assert_int_equal(e.count, 300);
    assert_int_equal(cbt_lines(e.text), 201);
    assert_non_null(strstr(e.text, "100 more errors not shown"));
    cbc_config_errors_fini(&e);
}

static void
test_syntax_and_duplicate_errors_give_line_and_column(void **state)
{
    (void)state;
    struct cbc_config *c = NULL;
    struct cbc_config_errors e = {0};
    assert_int_equal(parse("{\n  \"rrd\": {\n    \"step\": ,\n  }\n}", &c, &e),
                     -EINVAL);
    assert_int_equal(e.count, 1);
    assert_true(strncmp(e.text, "t.json:3:", 9) == 0);
    assert_int_equal(parse("{\"rrd\": {\"step\": \"10s\",\n\"step\": \"20s\"}}",
                           &c, &e),
                     -EINVAL);
    assert_true(strncmp(e.text, "t.json:2:", 9) == 0);
    assert_non_null(strstr(e.text, "duplicate object key"));
    cbc_config_errors_fini(&e);
}

static void
test_hostile_files_give_one_line(void **state)
{
    (void)state;
    struct cbc_config *c = NULL;
    struct cbc_config_errors e = {0};
    assert_int_equal(cbc_config_load(in_dir("none.json"), &c, &e), -ENOENT);
    assert_non_null(strstr(e.text, "No such file"));
    cbc_config_errors_fini(&e);
    assert_int_equal(cbc_config_load(g_dir, &c, &e), -EISDIR);
    cbc_config_errors_fini(&e);
    put(in_dir("empty.json"), "");
    assert_int_equal(cbc_config_load(in_dir("empty.json"), &c, &e), -EINVAL);
    assert_non_null(strstr(e.text, "is empty; write {}"));
    cbc_config_errors_fini(&e);
    /* A FIFO must not hang the loader. */
    assert_int_equal(mkfifo(in_dir("fifo"), 0600), 0);
    assert_int_equal(cbc_config_load(in_dir("fifo"), &c, &e), -EINVAL);
    assert_non_null(strstr(e.text, "not a regular file"));
    cbc_config_errors_fini(&e);
    /* Over 1 MiB. */
    FILE *f = fopen(in_dir("big.json"), "w");
    assert_non_null(f);
    for (int i = 0; i < (1 << 20) + 10; i++)
        fputc(' ', f);
    fclose(f);
    assert_int_equal(cbc_config_load(in_dir("big.json"), &c, &e), -EFBIG);
    assert_int_equal(cbt_lines(e.text), 1);
    cbc_config_errors_fini(&e);
    assert_null(c);
}

static void
test_path_from_option_then_env(void **state)
{
    (void)state;
    unsetenv(CBC_CONFIG_ENV);
    assert_null(cbc_config_path(NULL));
    setenv(CBC_CONFIG_ENV, "", 1);
    assert_null(cbc_config_path(NULL));
    setenv(CBC_CONFIG_ENV, "/x/env.json", 1);
    assert_string_equal(cbc_config_path(NULL), "/x/env.json");
    assert_string_equal(cbc_config_path("opt.json"), "opt.json");
    unsetenv(CBC_CONFIG_ENV);
}

/* ---- current config and reload ------------------------------------------ */

static int64_t
current_batch(void)
{
    rcu_read_lock();
    const struct cbc_config *c = cbc_config_current();
    int64_t b = c ? c->consumer.batch : -1;
    rcu_read_unlock();
    return b;
}

static void
put_batch(const char *path, int batch)
{
    char t[64];
    snprintf(t, sizeof t, "{\"consumer\": {\"batch\": %d}}\n", batch);
    put(path, t);
}

static void
test_reload_outcomes(void **state)
{
    (void)state;
    struct cbc_config_status st;
    char p[320];
    snprintf(p, sizeof p, "%s", in_dir("r.json"));
    put_batch(p, 10);
    unsetenv(CBC_CONFIG_ENV);
    assert_int_equal(cbc_config_init("test", p), 0);
    assert_int_equal(current_batch(), 10);
    cbc_config_status_get(&st);
    assert_int_equal(st.generation, 1);
    assert_int_equal(st.last_outcome, CBC_RELOAD_NONE);

    assert_int_equal(cbc_config_reload(), CBC_RELOAD_UNCHANGED);
    put(p, "{\"consumer\": {\"batch\": 10}, \"rrd\": {}}"); /* same values */
    assert_int_equal(cbc_config_reload(), CBC_RELOAD_UNCHANGED);
    put_batch(p, 11);
    assert_int_equal(cbc_config_reload(), CBC_RELOAD_APPLIED);
    assert_int_equal(current_batch(), 11);
    put(p, "{\"consumer\": {\"batch\": 12, \"bogus\": 1}}");
    assert_int_equal(cbc_config_reload(), CBC_RELOAD_REJECTED);
    assert_int_equal(current_batch(), 11);
    cbc_config_status_get(&st);
    assert_int_equal(st.generation, 2);
    assert_int_equal(st.last_errors, 1);
    assert_non_null(strstr(st.last_error, "$.consumer.bogus: unknown key"));
    assert_string_equal(cbc_config_outcome_name(st.last_outcome), "rejected");
    unlink(p);
    assert_int_equal(cbc_config_reload(), CBC_RELOAD_MISSING);
    assert_int_equal(current_batch(), 11);
    put_batch(p, 13);
    assert_int_equal(cbc_config_reload(), CBC_RELOAD_APPLIED);
    assert_int_equal(current_batch(), 13);
    cbc_config_status_get(&st);
    assert_int_equal(st.generation, 3);
    assert_int_equal(st.applied, 2);
    assert_int_equal(st.rejected, 1);
    assert_string_equal(st.last_error, "");
    assert_true(st.last_reload_ns > 0);
    cbc_config_fini();
    assert_int_equal(current_batch(), -1);
}

static void
test_init_without_file_runs_on_defaults(void **state)
{
    (void)state;
    unsetenv(CBC_CONFIG_ENV);
    assert_int_equal(cbc_config_init("test", NULL), 0);
    assert_int_equal(current_batch(), 4096);
    assert_int_equal(cbc_config_watch_start(NULL), 0);
    assert_int_equal(cbc_config_reload(), CBC_RELOAD_NONE);
    cbc_config_fini();
}

static int
init_bad_child(void *arg)
{
    return cbc_config_init("prog", arg) < 0 ? CBC_CONFIG_EXIT : 0;
}

static void
test_init_with_bad_file_prints_every_error(void **state)
{
    (void)state;
    char p[320];
    snprintf(p, sizeof p, "%s", in_dir("bad.json"));
    put(p, "{\"consumer\": {\"batch\": 0, \"status_interval\": 5}}");
    int status;
    char err[4096];
    assert_int_equal(cbt_run(init_bad_child, (void *)p, 10000, &status, err,
                             sizeof err),
                     0);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 2);
    assert_int_equal(cbt_lines(err), 3);
    assert_non_null(strstr(err, "$.consumer.batch: 0 is out of range"));
    assert_non_null(strstr(err, "$.consumer.status_interval: 5 is a bare"));
    assert_non_null(strstr(err, "prog: cannot use the configuration"));
}

/* Waits until the current batch is `want`; asserts on timeout. */
static void
wait_batch(int64_t want)
{
    uint64_t end = cbt_mono_ns() + WAIT_MS * 1000000ull;
    while (current_batch() != want) {
        if (cbt_mono_ns() > end)
            fail_msg("batch is %lld, expected %lld", (long long)current_batch(),
                     (long long)want);
        cbt_sleep_us(2000);
    }
}

static int g_callbacks;
static int64_t g_callback_batch;

static void
on_applied(const struct cbc_config *cfg, void *arg)
{
    assert_ptr_equal(arg, &g_callbacks);
    __atomic_store_n(&g_callback_batch, cfg->consumer.batch, __ATOMIC_RELAXED);
    __atomic_fetch_add(&g_callbacks, 1, __ATOMIC_RELAXED);
}

static void
test_watcher_follows_editors(void **state)
{
    (void)state;
    char p[320];
    snprintf(p, sizeof p, "%s", in_dir("w.json"));
    put_batch(p, 20);
    assert_int_equal(cbc_config_init("test", p), 0);
    struct cbc_config_watch_opts o = {.debounce_ms = 30, .quiet = true,
                                      .on_applied = on_applied,
                                      .arg = &g_callbacks};
    assert_int_equal(cbc_config_watch_start(&o), 0);
    assert_int_equal(cbc_config_watch_start(&o), -EALREADY);

    put_batch(p, 21); /* in place */
    wait_batch(21);
    put_batch(in_dir(".w.json.swp"), 22); /* rename-on-save */
    assert_int_equal(rename(in_dir(".w.json.swp"), p), 0);
    wait_batch(22);
    unlink(p); /* delete + re-create */
    cbt_sleep_us(100000);
    put_batch(p, 23);
    wait_batch(23);
    /* vim with backupcopy=no: probe file, original renamed to a backup,
     * new file written, backup deleted. */
    put(in_dir("4913"), "");
    unlink(in_dir("4913"));
    assert_int_equal(rename(p, in_dir("w.json~")), 0);
    put_batch(p, 24);
    unlink(in_dir("w.json~"));
    wait_batch(24);
    /* Invalid: rejected, the old value stays. */
    struct cbc_config_status st;
    put(p, "{\"consumer\": {\"batch\": \"25\"}}");
    uint64_t end = cbt_mono_ns() + WAIT_MS * 1000000ull;
    do {
        cbt_sleep_us(5000);
        cbc_config_status_get(&st);
    } while (st.last_outcome != CBC_RELOAD_REJECTED && cbt_mono_ns() < end);
    assert_int_equal(st.last_outcome, CBC_RELOAD_REJECTED);
    assert_int_equal(current_batch(), 24);
    /* Editing other files in the directory does not reload. */
    uint64_t before = st.last_reload_ns;
    put(in_dir("other.json"), "{}");
    cbt_sleep_us(300000);
    cbc_config_status_get(&st);
    assert_int_equal(st.last_reload_ns, before);
    cbc_config_watch_stop();
    assert_int_equal(__atomic_load_n(&g_callbacks, __ATOMIC_RELAXED), 4);
    assert_int_equal(g_callback_batch, 24);
    assert_int_equal(st.generation, 5);
    cbc_config_fini();
}

int
main(void)
{
    rcu_register_thread();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_duration_parses_units_and_groups),
        cmocka_unit_test(test_duration_rejects_bad_strings),
        cmocka_unit_test(test_duration_formats_canonically),
        cmocka_unit_test(test_size_parses_and_formats),
        cmocka_unit_test(test_defaults_match_docs),
        cmocka_unit_test(test_example_and_docs_cover_every_key),
        cmocka_unit_test(test_dump_round_trips),
        cmocka_unit_test(test_each_error_names_its_path),
        cmocka_unit_test(test_all_errors_are_reported),
        cmocka_unit_test(test_syntax_and_duplicate_errors_give_line_and_column),
        cmocka_unit_test_setup_teardown(test_hostile_files_give_one_line,
                                        setup_dir, teardown_dir),
        cmocka_unit_test(test_path_from_option_then_env),
        cmocka_unit_test_setup_teardown(test_reload_outcomes, setup_dir,
                                        teardown_dir),
        cmocka_unit_test(test_init_without_file_runs_on_defaults),
        cmocka_unit_test_setup_teardown(
            test_init_with_bad_file_prints_every_error, setup_dir,
            teardown_dir),
        cmocka_unit_test_setup_teardown(test_watcher_follows_editors,
                                        setup_dir, teardown_dir),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    rcu_unregister_thread();
    return rc;
}
