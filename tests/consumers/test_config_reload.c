/*
 * test_config_reload.c -- Property 13: Configuration Hot-reload
 * Effectiveness (task 9.2, Req 6.1-6.4).
 *
 * With the watcher running and reader threads calling
 * cbc_config_current() in a loop under RCU, the test writes random valid
 * and invalid versions of the file in the three ways programs and editors
 * do it: a direct rewrite, write-to-temp + rename, and delete + re-create.
 * After each write, within a deadline:
 *   - a valid version becomes current (its dump equals the expected
 *     dump);
 *   - an invalid version is rejected and the last valid one stays
 *     current;
 *   - rewriting the current version is reported as unchanged.
 * Throughout, readers check that every config they see is whole: each
 * valid version carries one id in four fields (consumer.batch,
 * rrd.max_files, bus.grace in seconds, rrd.dir "d<id>"), which must
 * agree, and ids of valid versions are even while invalid ones are odd,
 * so a reader seeing an odd id saw an invalid version. A config freed
 * under a reader is poisoned by the arena (and caught by ASan in the
 * sanitizer build).
 *
 * Deterministic choices: CB_TEST_SEED (printed on failure),
 * CB_TEST_ITERS (number of versions written).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <urcu.h>

#include "cbt.h"
#include "cfggen.h"
#include "config.h"

#define DEFAULT_SEED  0x13ull
#define DEFAULT_ITERS 40
#define READERS       3
#define DEADLINE_MS   5000

static uint64_t g_seed;
static char g_dir[256], g_path[300];

/* ---- readers ------------------------------------------------------------ */

struct reader {
    pthread_t tid;
    volatile int *stop;
    unsigned long reads, torn, invalid_seen, held_over_swap;
    char why[256];
};

static void
check_config(struct reader *rd, const struct cbc_config *c)
{
    int64_t id = c->consumer.batch;
    char dir[32];
    snprintf(dir, sizeof dir, "d%lld", (long long)id);
    uint64_t sum = 0;
    /* Touch everything a consumer might read. */
    for (size_t i = 0; i < c->rrd.n_rras; i++)
        sum += c->rrd.rras[i].step_ns + c->rrd.rras[i].keep_ns;
    for (size_t i = 0; i < c->rrd.n_functions; i++)
        sum += strlen(c->rrd.functions[i]);
    (void)sum;
    if (c->rrd.max_files != id || c->bus.grace_ns != (uint64_t)id * 1000000000u ||
        strcmp(c->rrd.dir, dir) != 0) {
        if (rd->torn++ == 0)
            snprintf(rd->why, sizeof rd->why,
                     "batch %lld, max_files %lld, grace %llu ns, dir %.40s",
                     (long long)id, (long long)c->rrd.max_files,
                     (unsigned long long)c->bus.grace_ns, c->rrd.dir);
    }
    if (id % 2 != 0)
        rd->invalid_seen++;
}

static void *
reader_main(void *arg)
{
    struct reader *rd = arg;
    rcu_register_thread();
    while (!__atomic_load_n(rd->stop, __ATOMIC_RELAXED)) {
        rcu_read_lock();
        const struct cbc_config *c = cbc_config_current();
        if (c != NULL) {
            check_config(rd, c);
            /* Hold the config a while, as a real reader does, then look
             * again: a config freed too early is poisoned by now. */
            for (volatile int spin = 0; spin < 2000; spin++)
                ;
            check_config(rd, c);
            /* A new version was published while we hold the old one: keep
             * holding it for 1 ms. A correct updater waits for us before
             * freeing; a broken one frees it under us, which the check
             * (or ASan) sees. */
            if (c != cbc_config_current()) {
                uint64_t until = cbt_mono_ns() + 1000000;
                while (cbt_mono_ns() < until)
                    ;
                check_config(rd, c);
                rd->held_over_swap++;
            }
        }
        rcu_read_unlock();
        /* Share the machine's cores with the watcher and the writer. */
        if ((++rd->reads & 1023) == 0)
            sched_yield();
    }
    rcu_unregister_thread();
    return NULL;
}

/* ---- writing versions --------------------------------------------------- */

static void
write_all(const char *path, const char *text, int flags)
{
    int fd = open(path, O_WRONLY | O_CREAT | flags, 0600);
    assert_true(fd >= 0);
    size_t len = strlen(text), off = 0;
    /* Two writes: a reload may see the first half, which is not JSON. */
    while (off < len) {
        size_t chunk = off == 0 ? len / 2 + 1 : len - off;
        ssize_t n = write(fd, text + off, chunk);
        assert_true(n > 0);
        off += (size_t)n;
    }
    assert_int_equal(close(fd), 0);
}

enum mode { DIRECT, RENAME, RECREATE };
static const char *const mode_names[] = {"direct write", "write + rename",
                                         "delete + re-create"};

static void
write_version(enum mode m, const char *text, struct cbt_rng *r)
{
    char tmp[320];
    switch (m) {
    case DIRECT:
        write_all(g_path, text, O_TRUNC);
        break;
    case RENAME:
        snprintf(tmp, sizeof tmp, "%s/.clipbus.json.tmp", g_dir);
        write_all(tmp, text, O_TRUNC);
        assert_int_equal(rename(tmp, g_path), 0);
        break;
    case RECREATE:
        assert_int_equal(unlink(g_path), 0);
        cbt_sleep_us(cbt_below(r, 4) * 40000); /* sometimes seen missing */
        write_all(g_path, text, O_EXCL);
        break;
    }
}

/* A valid version with marker id (even). New string. */
static char *
valid_text(struct cbt_rng *r, int64_t id)
{
    json_t *doc = cfggen_config(r);
    json_t *bus = json_object_get(doc, "bus");
    json_t *con = json_object_get(doc, "consumer");
    json_t *rrd = json_object_get(doc, "rrd");
    if (bus == NULL)
        json_object_set_new(doc, "bus", bus = json_object());
    if (con == NULL)
        json_object_set_new(doc, "consumer", con = json_object());
    if (rrd == NULL)
        json_object_set_new(doc, "rrd", rrd = json_object());
    char b[32];
    json_object_set_new(con, "batch", json_integer(id));
    json_object_set_new(rrd, "max_files", json_integer(id));
    snprintf(b, sizeof b, "%llds", (long long)id);
    json_object_set_new(bus, "grace", json_string(b));
    snprintf(b, sizeof b, "d%lld", (long long)id);
    json_object_set_new(rrd, "dir", json_string(b));
    char *t = json_dumps(doc, JSON_INDENT(1));
    json_decref(doc);
    return t;
}

/* An invalid version: a valid one with marker id (odd) and one mutation,
 * or cut JSON. */
static char *
invalid_text(struct cbt_rng *r, int64_t id)
{
    char *t = valid_text(r, id);
    if (cbt_below(r, 4) == 0) {
        t[strlen(t) / 2] = '\0';
        return t;
    }
    json_t *doc = json_loads(t, 0, NULL);
    free(t);
    char path[256], what[256];
    while (cfggen_mutate(r, &cbc__root_table, doc, path, sizeof path, what,
                         sizeof what) != 0)
        ;
    t = json_dumps(doc, JSON_INDENT(1));
    json_decref(doc);
    return t;
}

static char *
current_dump(void)
{
    rcu_read_lock();
    const struct cbc_config *c = cbc_config_current();
    char *d = c ? cbc_config_dump(c) : NULL;
    rcu_read_unlock();
    return d;
}

static void failf(uint64_t iter, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
failf(uint64_t iter, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "Property 13 failed: CB_TEST_SEED=%llu (version %llu): ",
            (unsigned long long)g_seed, (unsigned long long)iter);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n");
    fail();
}

/* Waits until the current dump is `want`; 0 or -1 on timeout. */
static int
wait_current(const char *want)
{
    uint64_t end = cbt_mono_ns() + DEADLINE_MS * 1000000ull;
    do {
        char *d = current_dump();
        int same = d && strcmp(d, want) == 0;
        free(d);
        if (same)
            return 0;
        cbt_sleep_us(2000);
    } while (cbt_mono_ns() < end);
    return -1;
}

/* Waits until the status satisfies pred against `before`. */
static int
wait_status(int (*pred)(const struct cbc_config_status *now,
                        const struct cbc_config_status *before),
            const struct cbc_config_status *before)
{
    uint64_t end = cbt_mono_ns() + DEADLINE_MS * 1000000ull;
    struct cbc_config_status st;
    do {
        cbc_config_status_get(&st);
        if (pred(&st, before))
            return 0;
        cbt_sleep_us(2000);
    } while (cbt_mono_ns() < end);
    return -1;
}

static int
more_rejected(const struct cbc_config_status *n,
              const struct cbc_config_status *b)
{
    return n->rejected > b->rejected;
}

static int
reported_unchanged(const struct cbc_config_status *n,
                   const struct cbc_config_status *b)
{
    return n->last_reload_ns > b->last_reload_ns &&
           n->last_outcome == CBC_RELOAD_UNCHANGED;
}

static unsigned long g_applied_calls;

static void
on_applied(const struct cbc_config *cfg, void *arg)
{
    (void)arg;
    (void)cfg;
    __atomic_fetch_add(&g_applied_calls, 1, __ATOMIC_RELAXED);
}

/* ---- the property ------------------------------------------------------- */

struct expect {
    char *dump;     /* of the last valid version */
    char *text;     /* its file text */
    uint64_t valid, invalid, unchanged;
};

static void
step_valid(uint64_t i, struct cbt_rng *r, enum mode m, int64_t id,
           struct expect *e)
{
    char *t = valid_text(r, id);
    struct cbc_config *cfg = NULL;
    assert_int_equal(cbc_config_parse(t, strlen(t), "x", &cfg, NULL), 0);
    char *want = cbc_config_dump(cfg);
    cbc_config_free(cfg);
    write_version(m, t, r);
    if (wait_current(want) != 0)
        failf(i, "valid version %lld (%s) did not become current within "
                 "%d ms",
              (long long)id, mode_names[m], DEADLINE_MS);
    free(e->dump);
    free(e->text);
    e->dump = want;
    e->text = t;
    e->valid++;
}

static void
step_invalid(uint64_t i, struct cbt_rng *r, enum mode m, int64_t id,
             struct expect *e)
{
    struct cbc_config_status before;
    char *t = invalid_text(r, id);
    cbc_config_status_get(&before);
    write_version(m, t, r);
    if (wait_status(more_rejected, &before) != 0)
        failf(i, "invalid version %lld (%s) was not rejected within %d ms",
              (long long)id, mode_names[m], DEADLINE_MS);
    char *d = current_dump();
    if (d == NULL || strcmp(d, e->dump) != 0)
        failf(i, "after invalid version %lld the current config is not the "
                 "last valid one",
              (long long)id);
    free(d);
    free(t);
    e->invalid++;
}

static uint64_t
current_generation(void)
{
    rcu_read_lock();
    const struct cbc_config *c = cbc_config_current();
    uint64_t g = c ? c->generation : 0;
    rcu_read_unlock();
    return g;
}

static void
step_same(uint64_t i, struct expect *e)
{
    struct cbc_config_status before;
    cbc_config_status_get(&before);
    uint64_t gen = current_generation();
    write_all(g_path, e->text, O_TRUNC);
    if (wait_status(reported_unchanged, &before) != 0)
        failf(i, "rewriting the current version was not reported unchanged");
    if (current_generation() != gen)
        failf(i, "an unchanged file made a new generation");
    e->unchanged++;
}

/* Property 13: Configuration Hot-reload Effectiveness. */
static void
test_prop13_hot_reload(void **state)
{
    (void)state;
    g_seed = cbt_seed(DEFAULT_SEED);
    uint64_t iters = cbt_iters(DEFAULT_ITERS);
    struct cbt_rng r = {g_seed};
    snprintf(g_dir, sizeof g_dir, "%s/cbcfg.XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    assert_non_null(mkdtemp(g_dir));
    snprintf(g_path, sizeof g_path, "%s/clipbus.json", g_dir);

    rcu_register_thread(); /* current_dump() reads under RCU */
    struct expect e = {0};
    int64_t id = 2;
    e.text = valid_text(&r, id);
    write_all(g_path, e.text, O_TRUNC);
    assert_int_equal(cbc_config_init("test", g_path), 0);
    e.dump = current_dump();
    assert_non_null(e.dump);
    struct cbc_config_watch_opts wo = {.debounce_ms = 20, .quiet = true,
                                       .on_applied = on_applied};
    assert_int_equal(cbc_config_watch_start(&wo), 0);

    volatile int stop = 0;
    struct reader rd[READERS];
    memset(rd, 0, sizeof rd);
    for (int k = 0; k < READERS; k++) {
        rd[k].stop = &stop;
        assert_int_equal(pthread_create(&rd[k].tid, NULL, reader_main, &rd[k]),
                         0);
    }
    for (uint64_t i = 0; i < iters; i++) {
        enum mode m = (enum mode)cbt_below(&r, 3);
        uint64_t what = cbt_below(&r, 10);
        if (what < 6)
            step_valid(i, &r, m, id += 2, &e);
        else if (what < 9)
            step_invalid(i, &r, m, id + 1, &e);
        else
            step_same(i, &e);
    }
    __atomic_store_n(&stop, 1, __ATOMIC_RELAXED);
    unsigned long reads = 0, held = 0;
    for (int k = 0; k < READERS; k++) {
        pthread_join(rd[k].tid, NULL);
        reads += rd[k].reads;
        held += rd[k].held_over_swap;
        if (rd[k].torn || rd[k].invalid_seen)
            failf(iters, "reader %d saw %lu torn configs (%s) and %lu "
                         "invalid versions",
                  k, rd[k].torn, rd[k].why, rd[k].invalid_seen);
    }
    /* Join the watcher first: the last reload may still be finishing
     * (waiting for readers, then recording its outcome) after the test
     * saw its config become current. */
    cbc_config_watch_stop();
    struct cbc_config_status st;
    cbc_config_status_get(&st);
    cbc_config_fini();
    fprintf(stderr, "# %llu versions: %llu valid, %llu invalid, %llu "
                    "unchanged; generation %llu; %lu reads, %lu held across a "
                    "swap\n",
            (unsigned long long)iters, (unsigned long long)e.valid,
            (unsigned long long)e.invalid, (unsigned long long)e.unchanged,
            (unsigned long long)st.generation, reads, held);
    assert_true(reads > 0);
    assert_int_equal(st.generation, 1 + e.valid);
    assert_int_equal(st.applied, e.valid);
    assert_int_equal(__atomic_load_n(&g_applied_calls, __ATOMIC_RELAXED),
                     e.valid);
    rcu_unregister_thread();
    free(e.dump);
    free(e.text);
    unlink(g_path);
    rmdir(g_dir);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_prop13_hot_reload),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
