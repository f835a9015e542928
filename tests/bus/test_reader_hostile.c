/*
 * tests/bus/test_reader_hostile.c -- the reader treats every byte of a
 * segment as hostile input.
 *
 * Hostile shm objects are made by hand: random bytes, truncated sizes, and
 * a real segment (made by a short-lived producer child, copied byte for
 * byte) with one header field corrupted at a time, with garbage records,
 * or with random bytes flipped anywhere. For each:
 *   cb_segment_attach() refuses with the expected code (CB_EBADSEG,
 *   CB_EVERSION, CB_ENOTREADY) and a `why` naming the object, or it
 *   accepts and then every read-only call, a cursor on every ring, field
 *   decoding and name lookup all return errors or bounded values, and the
 *   cursor loop ends.
 * Attach and the calls run in a child process with a deadline, so a crash
 * (signal) or a hang (deadline) is reported as a failure instead of taking
 * the test program down. Run it in the ASan/UBSan build as well: there an
 * out-of-bounds read is a crash.
 *
 * CB_TEST_ITERS: rounds of the random-bytes and byte-flip fuzzers (default
 * 200); CB_TEST_SEED seeds them.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <clipbus/clipbus.h>
#include <clipbus/reader.h>

#include "cbt.h"

#define DEFAULT_SEED UINT64_C(0xc11b0b05eed00003)
#define TEMPLATE_RINGS   2
#define TEMPLATE_RECORDS 64
#ifdef CBT_SLOW_BUILD
#define DEFAULT_ROUNDS 150
#define CHILD_MS       30000
#else
#define DEFAULT_ROUNDS 200
#define CHILD_MS       5000
#endif

/* Expectations for one hostile object. */
#define EXPECT_ACCEPT  1  /* attach succeeds; every call stays in bounds */
#define EXPECT_ANY     2  /* refused with a reason, or as EXPECT_ACCEPT */
#define EXPECT_REFUSED 3  /* any negative code, with a reason */

/* What the child reports back, in shared memory. */
struct outcome {
    int attach_rc;
    int exercise_rc;
    char why[300];
    char detail[300];
};

static struct {
    uint8_t *tmpl;       /* a real segment, copied */
    size_t tmpl_len;
    char bus[64];
    uint64_t seed;
    unsigned next_pid;   /* fake pids in object names */
    struct outcome *out; /* MAP_SHARED */
    uint8_t *scratch;    /* SCRATCH bytes: the object being built; one
                          * buffer, so a failing test (longjmp) leaks
                          * nothing */
} g;

#define SCRATCH 65536

/* ---- the template: a real segment --------------------------------------- */

static void *
template_thread(void *arg)
{
    (void)arg;
    cb_count("hostile.other", 1);
    cb_log(CB_LOG_INFO, "from a second thread, %s", "with some text");
    return NULL;
}

__attribute__((noinline)) static int
template_call(int a, const char *s)
{
    CB_MONITOR_EXECUTION(CB_INT("a", a), CB_STR("s", s));
    return a > 1 ? cb_fail(-5, "failed with a=%d", a) : 0;
}

static int
template_main(void *arg)
{
    pthread_t th;
    char text[700];
    (void)arg;

    setenv("CLIPBUS_RING_RECORDS", "64", 1);
    setenv("CLIPBUS_RINGS", "2", 1);
    setenv("CLIPBUS_NAMES_BYTES", "4096", 1);
    if (cb_open(g.bus) != 0)
        return 2;
    memset(text, 'x', sizeof text - 1);
    text[sizeof text - 1] = '\0';
    for (int i = 0; i < 10; i++) {
        cb_count("hostile.count", i);
        cb_gauge_l("hostile.gauge", i * 0.5, "k=v");
        cb_log(CB_LOG_WARN, "long %d %s", i, text);
        template_call(i, "a string parameter");
    }
    pthread_create(&th, NULL, template_thread, NULL);
    pthread_join(th, NULL);
    cb_close(); /* cbt_fork() leaves by _exit(): no atexit handlers */
    return 0;
}

static int
group_setup(void **state)
{
    char shm[128];
    int status;
    pid_t pid;

    (void)state;
    g.seed = cbt_seed(DEFAULT_SEED);
    g.next_pid = 3000000;
    cbt_bus(g.bus, sizeof g.bus, "hostile");
    g.out = mmap(NULL, sizeof *g.out, PROT_READ | PROT_WRITE,
                 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (g.out == MAP_FAILED)
        return -1;
    pid = cbt_fork(template_main, NULL);
    if (pid < 0 || cbt_wait(pid, 10000, &status) != 0 || status != 0 ||
        cbt_find_segment(g.bus, pid, shm, sizeof shm) != 0) {
        fprintf(stderr, "template producer failed (status 0x%x)\n",
                (unsigned)status);
        return -1;
    }
    g.tmpl = cbt_shm_read(shm, &g.tmpl_len);
    shm_unlink(shm);
    g.scratch = malloc(SCRATCH);
    if (g.scratch == NULL || g.tmpl_len > SCRATCH)
        return -1;
    if (g.tmpl == NULL || g.tmpl_len < CB_SEG_HEADER_SIZE)
        return -1;
    const struct cb_seg_header *h = (const void *)g.tmpl;
    if (h->ring_count != TEMPLATE_RINGS || h->rings_hwm != TEMPLATE_RINGS ||
        h->ring_records != TEMPLATE_RECORDS || h->state != CB_SEG_EXITED) {
        fprintf(stderr, "template segment: rings %u hwm %u records %u "
                "state %u\n", h->ring_count, h->rings_hwm, h->ring_records,
                h->state);
        return -1;
    }
    return 0;
}

static int
group_teardown(void **state)
{
    (void)state;
    free(g.tmpl);
    free(g.scratch);
    cbt_unlink_bus(g.bus);
    return 0;
}

/* A fresh copy of the template, in the scratch buffer. */
static uint8_t *
tmpl_copy(size_t *len)
{
    memcpy(g.scratch, g.tmpl, g.tmpl_len);
    *len = g.tmpl_len;
    return g.scratch;
}

#define HDR(b)  ((struct cb_seg_header *)(void *)(b))
#define RING(b, i)                                                             \
    ((struct cb_ring_header *)(void *)((b) + HDR(b)->rings_offset +            \
                                       (uint64_t)(i) * HDR(b)->ring_stride))
#define SLOTS(b, i) ((struct cb_record *)(void *)(RING(b, i) + 1))

/* ---- exercising an attached segment (in the child) ---------------------- */

#define EX_FAIL(code, ...)                                                     \
    do {                                                                       \
        snprintf(g.out->detail, sizeof g.out->detail, __VA_ARGS__);            \
        return (code);                                                         \
    } while (0)

static int
check_entry(struct cb_segment *seg, const struct cb_entry *e)
{
    size_t off = 0, prev = 0;
    struct cb_field f;
    char name[64];
    int rc, n = 0;

    if (e->data_len > CB_ENTRY_DATA_MAX || e->data_len > e->head.data_len)
        EX_FAIL(20, "entry data_len %zu (head %u)", e->data_len,
                e->head.data_len);
    cb_segment_name_copy(seg, e->head.name_id, name, sizeof name);
    while ((rc = cb_field_next(e->data, e->data_len, &off, &f)) == 1) {
        if (off <= prev || off > e->data_len)
            EX_FAIL(21, "field offset %zu after %zu of %zu", off, prev,
                    e->data_len);
        if (f.s != NULL && ((const uint8_t *)f.s < e->data ||
                            (const uint8_t *)f.s + f.s_len >
                                e->data + e->data_len))
            EX_FAIL(22, "field string outside the entry data");
        cb_segment_name_copy(seg, f.name_id, name, sizeof name);
        prev = off;
        if (++n > 10000)
            EX_FAIL(23, "field loop does not end");
    }
    return 0;
}

static int
exercise_ring(struct cb_segment *seg, uint32_t ring, uint32_t records)
{
    struct cb_inflight_frame frames[CB_INFLIGHT_MAX + 2];
    struct cb_cursor *cur = malloc(sizeof *cur);
    uint32_t depth = 0;
    char tname[CB_THREAD_NAME_MAX];
    /* A valid ring needs at most a lap of calls plus one per lost
     * record; allow far more before calling it a hang. */
    uint64_t limit = 16u * records + 10000u;
    int rc;

    if (cur == NULL)
        EX_FAIL(30, "out of memory");
    (void)cb_segment_head(seg, ring);
    rc = cb_segment_inflight(seg, ring, frames, CB_INFLIGHT_MAX + 2, &depth);
    if (rc > (int)CB_INFLIGHT_MAX)
        EX_FAIL(31, "inflight returned %d frames", rc);
    (void)cb_segment_ring_owner(seg, ring, tname);
    if (memchr(tname, '\0', sizeof tname) == NULL)
        EX_FAIL(32, "ring owner name not terminated");
    for (int from = CB_FROM_OLDEST; from <= CB_FROM_NOW; from++) {
        uint64_t calls = 0;
        struct cb_entry e;
        if (cb_cursor_init(cur, seg, ring, from) != 0)
            EX_FAIL(33, "cursor_init refused claimed ring %u", ring);
        while ((rc = cb_cursor_next(cur, &e)) != 0) {
            if (rc == 1 && check_entry(seg, &e) != 0) {
                free(cur);
                return 34;
            }
            if (++calls > limit) {
                uint64_t next = cur->next;
                free(cur);
                EX_FAIL(35, "ring %u: cb_cursor_next still returning %d "
                        "after %" PRIu64 " calls (cursor %" PRIu64 ")",
                        ring, rc, calls, next);
            }
        }
        (void)cb_cursor_lag(cur);
    }
    free(cur);
    return 0;
}

static int
exercise(struct cb_segment *seg)
{
    const struct cb_producer_info *in = cb_segment_info(seg);
    struct cb_segment_counters c;
    struct cb_cursor *cur;
    uint32_t n;
    size_t len;
    char buf[32];
    int rc;

    if (memchr(in->program, '\0', sizeof in->program) == NULL ||
        memchr(in->bus, '\0', sizeof in->bus) == NULL ||
        memchr(in->shm_name, '\0', sizeof in->shm_name) == NULL)
        EX_FAIL(10, "producer info strings not terminated");
    rc = cb_segment_liveness(seg);
    if (rc != CB_PRODUCER_ALIVE && rc != CB_PRODUCER_EXITED &&
        rc != CB_PRODUCER_DEAD)
        EX_FAIL(11, "liveness %d", rc);
    cb_segment_counters(seg, &c);
    n = cb_segment_rings(seg);
    if (n > in->ring_count)
        EX_FAIL(12, "%u rings of %u", n, in->ring_count);
    for (uint32_t r = 0; r < n; r++)
        if ((rc = exercise_ring(seg, r, in->ring_records)) != 0)
            return rc;
    /* Rings out of range are refused, not read. */
    cur = malloc(sizeof *cur);
    if (cur == NULL)
        EX_FAIL(13, "out of memory");
    if (cb_cursor_init(cur, seg, n, CB_FROM_OLDEST) != CB_EBADSEG ||
        cb_cursor_init(cur, seg, UINT32_MAX, CB_FROM_OLDEST) != CB_EBADSEG) {
        free(cur);
        EX_FAIL(14, "cursor_init accepted a ring past %u", n);
    }
    free(cur);
    if (cb_segment_head(seg, n) != 0 || cb_segment_head(seg, UINT32_MAX) != 0)
        EX_FAIL(15, "head of a ring out of range");
    /* Every possible name id, and some beyond the table. */
    for (uint64_t id = 0; id < (uint64_t)in->names_size + 4096; id++) {
        const char *s = cb_segment_name(seg, (uint32_t)id, &len);
        if (s != NULL && len > in->names_size)
            EX_FAIL(16, "name %" PRIu64 " is %zu bytes long", id, len);
        cb_segment_name_copy(seg, (uint32_t)id, buf, sizeof buf);
    }
    (void)cb_segment_name(seg, UINT32_MAX, &len);
    (void)cb_segment_wall_ns(seg, 0);
    (void)cb_segment_wall_ns(seg, cb_segment_now_ticks(seg));
    (void)cb_segment_ticks_ns(seg, 1000);
    return 0;
}

static int
child_attach(void *arg)
{
    const char *name = arg;
    struct cb_segment *seg = NULL;

    g.out->attach_rc = cb_segment_attach(name, 0, &seg, g.out->why,
                                         sizeof g.out->why);
    if (g.out->attach_rc != 0) {
        if (seg != NULL) {
            snprintf(g.out->detail, sizeof g.out->detail,
                     "attach failed but *out is not NULL");
            return 1;
        }
        return 0;
    }
    g.out->exercise_rc = exercise(seg);
    cb_segment_detach(seg);
    return 0;
}

/* ---- running one hostile object ----------------------------------------- */

/* Creates the object, attaches and exercises it in a child, checks the
 * expectation. `expect_code` is the required code for EXPECT_REFUSED when
 * non-zero. */
static void
probe(const char *what, const void *data, size_t len, int expect,
      int expect_code)
{
    char name[128], st[64];
    int status;
    pid_t pid;

    snprintf(name, sizeof name, "/clipbus.%s.%u", g.bus, g.next_pid++);
    assert_int_equal(cbt_shm_write(name, data, len), 0);
    memset(g.out, 0, sizeof *g.out);
    g.out->attach_rc = 1;
    pid = cbt_fork(child_attach, name);
    assert_true(pid > 0);
    int waited = cbt_wait(pid, CHILD_MS, &status);
    shm_unlink(name); /* before any failure: never leave it behind */
    if (waited != 0)
        fail_msg("seed=0x%" PRIx64 " %s: reader hung (killed after %d ms)",
                 g.seed, what, CHILD_MS);
    if (status != 0)
        fail_msg("seed=0x%" PRIx64 " %s: reader child ended with %s %s",
                 g.seed, what, cbt_status_str(status, st, sizeof st),
                 g.out->detail);
    if (g.out->attach_rc == 1)
        fail_msg("%s: attach did not return", what);
    if (g.out->attach_rc < 0) {
        if (expect == EXPECT_ACCEPT)
            fail_msg("seed=0x%" PRIx64 " %s: refused (%s: %s), expected "
                     "accepted", g.seed, what,
                     cb_strerror(g.out->attach_rc), g.out->why);
        if (expect_code != 0 && g.out->attach_rc != expect_code)
            fail_msg("seed=0x%" PRIx64 " %s: refused with %s (%s), expected "
                     "%s", g.seed, what, cb_strerror(g.out->attach_rc),
                     g.out->why, cb_strerror(expect_code));
        if (strstr(g.out->why, name) == NULL || strlen(g.out->why) <
                                                    strlen(name) + 5)
            fail_msg("%s: reason \"%s\" does not name %s and what is "
                     "wrong", what, g.out->why, name);
        return;
    }
    if (expect == EXPECT_REFUSED)
        fail_msg("seed=0x%" PRIx64 " %s: attach accepted it, expected %s",
                 g.seed, what,
                 expect_code ? cb_strerror(expect_code) : "a refusal");
    if (g.out->exercise_rc != 0)
        fail_msg("seed=0x%" PRIx64 " %s: accepted, then check %d failed: %s",
                 g.seed, what, g.out->exercise_rc, g.out->detail);
}

/* ---- tests: random bytes and truncation --------------------------------- */

static void
test_hostile_template_itself_is_accepted_and_readable(void **state)
{
    (void)state;
    probe("unchanged copy of a real segment", g.tmpl, g.tmpl_len,
          EXPECT_ACCEPT, 0);
}

static void
test_hostile_truncated_sizes_are_refused(void **state)
{
    static const size_t sizes[] = {0, 10, 4095};
    char what[64];
    (void)state;
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        snprintf(what, sizeof what, "random %zu-byte object", sizes[i]);
        uint8_t *b = g.scratch;
        struct cbt_rng r = {g.seed + i};
        for (size_t k = 0; k < sizes[i]; k++)
            b[k] = (uint8_t)cbt_next(&r);
        probe(what, b, sizes[i], EXPECT_REFUSED, CB_EBADSEG);
        /* The same sizes cut from a real segment (valid magic). */
        snprintf(what, sizeof what, "real segment cut to %zu bytes",
                 sizes[i]);
        probe(what, g.tmpl, sizes[i], EXPECT_REFUSED, CB_EBADSEG);
    }
    probe("real segment cut to its header", g.tmpl, CB_SEG_HEADER_SIZE,
          EXPECT_REFUSED, CB_EBADSEG);
    probe("real segment minus its last record", g.tmpl, g.tmpl_len - 64,
          EXPECT_REFUSED, CB_EBADSEG);
    probe("real segment minus one byte", g.tmpl, g.tmpl_len - 1,
          EXPECT_REFUSED, CB_EBADSEG);
}

static void
test_hostile_zero_filled_is_not_ready(void **state)
{
    (void)state;
    uint8_t *b = memset(g.scratch, 0, g.tmpl_len);
    probe("all zero", b, g.tmpl_len, EXPECT_REFUSED, CB_ENOTREADY);
}

static void
test_hostile_random_bytes_are_refused(void **state)
{
    uint64_t rounds = cbt_iters(DEFAULT_ROUNDS);
    struct cbt_rng r = {cbt_mix(g.seed, 1)};
    char what[96];

    (void)state;
    for (uint64_t i = 0; i < rounds; i++) {
        static const size_t sizes[] = {4096, 8192, 17408, 65536};
        size_t len = sizes[cbt_below(&r, 4)];
        uint8_t *b = g.scratch;
        for (size_t k = 0; k < len; k++)
            b[k] = (uint8_t)cbt_next(&r);
        /* Half of them get a valid identity, so the checks behind the
         * magic and version are reached too. */
        int deep = (int)(i & 1);
        if (deep)
            memcpy(b, g.tmpl, 24);
        snprintf(what, sizeof what, "round %" PRIu64 ": %zu random bytes%s",
                 i, len, deep ? " behind a valid identity" : "");
        probe(what, b, len, deep ? EXPECT_ANY : EXPECT_REFUSED,
              deep ? 0 : CB_EBADSEG);
    }
}

/* ---- tests: one header field corrupted ---------------------------------- */

#define SETF(b, field, v)                                                      \
    do {                                                                       \
        __typeof__(HDR(b)->field) v_ = (__typeof__(HDR(b)->field))(v);         \
        memcpy(&HDR(b)->field, &v_, sizeof v_);                                \
    } while (0)

struct field_case {
    const char *what;
    size_t off;
    size_t size;
    uint64_t value;
    int expect;
    int code;
};

#define FC(what, field, v, expect, code)                                       \
    {what, offsetof(struct cb_seg_header, field),                              \
     sizeof(((struct cb_seg_header *)0)->field), (uint64_t)(v), expect, code}

static void
test_hostile_each_header_field_corrupted(void **state)
{
    const uint64_t size = g.tmpl_len;
    const struct cb_seg_header *t = (const void *)g.tmpl;
    const struct field_case cases[] = {
        FC("magic zero", magic, 0, EXPECT_REFUSED, CB_ENOTREADY),
        FC("magic wrong", magic, ~CB_SEG_MAGIC, EXPECT_REFUSED, CB_EBADSEG),
        FC("status magic", magic, CB_STATUS_MAGIC, EXPECT_REFUSED,
           CB_EBADSEG),
        FC("layout major 2", layout_major, 2, EXPECT_REFUSED, CB_EVERSION),
        FC("layout major 0", layout_major, 0, EXPECT_REFUSED, CB_EVERSION),
        FC("layout major 0xffff", layout_major, 0xffff, EXPECT_REFUSED,
           CB_EVERSION),
        FC("layout minor 9 (compatible)", layout_minor, 9, EXPECT_ACCEPT, 0),
        FC("header size 2048", header_size, 2048, EXPECT_REFUSED,
           CB_EBADSEG),
        FC("record size 128", record_size, 128, EXPECT_REFUSED, CB_EBADSEG),
        FC("format big-endian", format, CB_FORMAT_WORD(CB_FORMAT_BIG),
           EXPECT_REFUSED, CB_EBADSEG),
        FC("format 128-byte lines", format,
           CB_FORMAT_WORD(CB_FORMAT_LITTLE) - 64 + 128, EXPECT_REFUSED,
           CB_EBADSEG),
        FC("segment size + 4096", segment_size, size + 4096, EXPECT_REFUSED,
           CB_EBADSEG),
        FC("segment size - 4096", segment_size, size - 4096, EXPECT_REFUSED,
           CB_EBADSEG),
        FC("segment size 0", segment_size, 0, EXPECT_REFUSED, CB_EBADSEG),
        FC("ring count 0", ring_count, 0, EXPECT_REFUSED, CB_EBADSEG),
        FC("ring count 3 (does not fit)", ring_count, 3, EXPECT_REFUSED,
           CB_EBADSEG),
        FC("ring count 1025", ring_count, 1025, EXPECT_REFUSED, CB_EBADSEG),
        FC("ring count 2^32-1", ring_count, UINT32_MAX, EXPECT_REFUSED,
           CB_EBADSEG),
        FC("ring records 1000 (not a power of two)", ring_records, 1000,
           EXPECT_REFUSED, CB_EBADSEG),
        FC("ring records 0", ring_records, 0, EXPECT_REFUSED, CB_EBADSEG),
        FC("ring records 32 (below minimum)", ring_records, 32,
           EXPECT_REFUSED, CB_EBADSEG),
        FC("ring records 2^30 (huge)", ring_records, 1u << 30,
           EXPECT_REFUSED, CB_EBADSEG),
        FC("ring records 2^31", ring_records, 1u << 31, EXPECT_REFUSED,
           CB_EBADSEG),
        FC("ring records 128 (stride mismatch)", ring_records, 128,
           EXPECT_REFUSED, CB_EBADSEG),
        FC("ring stride + 64", ring_stride, t->ring_stride + 64,
           EXPECT_REFUSED, CB_EBADSEG),
        FC("ring stride 0", ring_stride, 0, EXPECT_REFUSED, CB_EBADSEG),
        FC("rings offset past the end", rings_offset, size, EXPECT_REFUSED,
           CB_EBADSEG),
        FC("rings offset 2^63", rings_offset, UINT64_C(1) << 63,
           EXPECT_REFUSED, CB_EBADSEG),
        FC("rings offset 2^64-64", rings_offset, UINT64_MAX - 63,
           EXPECT_REFUSED, CB_EBADSEG),
        FC("rings offset misaligned", rings_offset, t->rings_offset + 8,
           EXPECT_REFUSED, CB_EBADSEG),
        FC("rings offset over the name table", rings_offset,
           t->names_offset, EXPECT_REFUSED, CB_EBADSEG),
        FC("rings offset 0 (over the header)", rings_offset, 0,
           EXPECT_REFUSED, CB_EBADSEG),
        FC("names offset past the end", names_offset, size, EXPECT_REFUSED,
           CB_EBADSEG),
        FC("names offset 2^64-64", names_offset, UINT64_MAX - 63,
           EXPECT_REFUSED, CB_EBADSEG),
        FC("names offset 0 (over the header)", names_offset, 0,
           EXPECT_REFUSED, CB_EBADSEG),
        FC("names offset misaligned", names_offset, t->names_offset + 4,
           EXPECT_REFUSED, CB_EBADSEG),
        FC("names size 0", names_size, 0, EXPECT_REFUSED, CB_EBADSEG),
        FC("names size past the end", names_size, size, EXPECT_REFUSED,
           CB_EBADSEG),
        FC("names size 2^32-1", names_size, UINT32_MAX, EXPECT_REFUSED,
           CB_EBADSEG),
        FC("clock kind 0", clock_kind, 0, EXPECT_REFUSED, CB_EBADSEG),
        FC("clock kind 99", clock_kind, 99, EXPECT_REFUSED, CB_EBADSEG),
        FC("clock rate 0 Hz", tsc_hz, 0, EXPECT_REFUSED, CB_EBADSEG),
        FC("clock rate 2^64-1 Hz", tsc_hz, UINT64_MAX, EXPECT_ANY, 0),
        FC("pid 0", pid, 0, EXPECT_ACCEPT, 0),
        FC("pid 1 with another start time", pid, 1, EXPECT_ACCEPT, 0),
        FC("state 77", state, 77, EXPECT_ACCEPT, 0),
        FC("rings_hwm 2^32-1", rings_hwm, UINT32_MAX, EXPECT_ACCEPT, 0),
        FC("rings_hwm 3", rings_hwm, 3, EXPECT_ACCEPT, 0),
        FC("names_used 2^64-1", names_used, UINT64_MAX, EXPECT_ACCEPT, 0),
        FC("names_used past the table", names_used, t->names_size + 4096,
           EXPECT_ACCEPT, 0),
        FC("names_used 0", names_used, 0, EXPECT_ACCEPT, 0),
    };
    char what[128];

    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const struct field_case *c = &cases[i];
        size_t len;
        uint8_t *b = tmpl_copy(&len);
        uint8_t v8[8];
        /* Little-endian: the low `size` bytes of the value. */
        memcpy(v8, &c->value, 8);
        memcpy(b + c->off, v8, c->size);
        snprintf(what, sizeof what, "header field: %s", c->what);
        probe(what, b, len, c->expect, c->code);
    }
}

static void
test_hostile_unterminated_strings_are_cut(void **state)
{
    size_t len;
    uint8_t *b = tmpl_copy(&len);

    (void)state;
    memset(HDR(b)->program, 'P', sizeof HDR(b)->program);
    memset(HDR(b)->bus, 'B', sizeof HDR(b)->bus);
    for (uint32_t i = 0; i < TEMPLATE_RINGS; i++)
        memset(RING(b, i)->thread_name, 'T', CB_THREAD_NAME_MAX);
    probe("program, bus and thread names without NUL", b, len,
          EXPECT_ACCEPT, 0);
}

static void
test_hostile_name_entry_longer_than_table_is_not_returned(void **state)
{
    size_t len;
    uint8_t *b = tmpl_copy(&len);
    struct cb_seg_header *h = HDR(b);
    uint8_t *names = b + h->names_offset;
    uint64_t used = h->names_used;
    uint16_t big = 0xffff;

    (void)state;
    /* An entry whose length runs past names_used and past the table. */
    memcpy(names + used, &big, 2);
    h->names_used = used + 4;
    /* And the first entry's length made huge too. */
    memcpy(names + CB_NAME_FIRST, &big, 2);
    probe("name entries with length 0xffff", b, len, EXPECT_ACCEPT, 0);
}

/* ---- tests: garbage in the rings ---------------------------------------- */

/* Applies fn to every record of every ring of a template copy, probes. */
static void
probe_records(const char *what, void (*fn)(struct cb_record *r, uint64_t n,
                                           struct cbt_rng *rng),
              uint64_t seed)
{
    size_t len;
    uint8_t *b = tmpl_copy(&len);
    struct cbt_rng rng = {seed};

    for (uint32_t i = 0; i < TEMPLATE_RINGS; i++)
        for (uint64_t n = 0; n < TEMPLATE_RECORDS; n++)
            fn(&SLOTS(b, i)[n], n, &rng);
    probe(what, b, len, EXPECT_ACCEPT, 0);
}

static void
rec_ext_max(struct cb_record *r, uint64_t n, struct cbt_rng *rng)
{
    (void)n;
    (void)rng;
    if (r->kind != CB_KIND_CONT)
        r->ext = 255;
}

static void
rec_data_len_max(struct cb_record *r, uint64_t n, struct cbt_rng *rng)
{
    (void)n;
    (void)rng;
    if (r->kind != CB_KIND_CONT)
        r->data_len = 0xffff;
}

static void
rec_data_len_past_ext(struct cb_record *r, uint64_t n, struct cbt_rng *rng)
{
    (void)n;
    (void)rng;
    if (r->kind != CB_KIND_CONT)
        r->data_len = (uint16_t)(CB_HEAD_DATA + r->ext * CB_CONT_DATA + 1);
}

static void
rec_kind_bad(struct cb_record *r, uint64_t n, struct cbt_rng *rng)
{
    (void)rng;
    r->kind = (uint16_t)(n % 3 == 0 ? 0 : n % 3 == 1 ? 99 : 0xffff);
}

static void
rec_all_cont(struct cb_record *r, uint64_t n, struct cbt_rng *rng)
{
    (void)n;
    (void)rng;
    r->kind = CB_KIND_CONT;
}

static void
rec_random_payload(struct cb_record *r, uint64_t n, struct cbt_rng *rng)
{
    uint64_t w[8];
    (void)n;
    for (int i = 1; i < 8; i++)
        w[i] = cbt_next(rng);
    w[0] = r->seq; /* keep the publication word valid */
    memcpy(r, w, sizeof w);
}

static void
rec_random_fields(struct cb_record *r, uint64_t n, struct cbt_rng *rng)
{
    /* Plausible heads with random field bytes: reaches cb_field_next. */
    (void)n;
    if (r->kind == CB_KIND_CONT) {
        struct cb_record_cont *c = (struct cb_record_cont *)(void *)r;
        for (size_t i = 0; i < CB_CONT_DATA; i++)
            c->data[i] = (uint8_t)cbt_next(rng);
        return;
    }
    for (size_t i = 0; i < CB_HEAD_DATA; i++)
        r->data[i] = (uint8_t)cbt_next(rng);
    r->name_id = (uint32_t)cbt_next(rng);
}

static void
rec_random_seq(struct cb_record *r, uint64_t n, struct cbt_rng *rng)
{
    (void)n;
    r->seq = cbt_next(rng);
}

static void
rec_seq_far_ahead(struct cb_record *r, uint64_t n, struct cbt_rng *rng)
{
    /* Every slot claims a record published ~2^62 laps later; the ring's
     * head word still says a few dozen. A reader must not walk there one
     * record at a time. */
    (void)n;
    (void)rng;
    r->seq = UINT64_C(0x7ffffffffffffffe);
}

static void
rec_seq_odd(struct cb_record *r, uint64_t n, struct cbt_rng *rng)
{
    (void)rng;
    r->seq = 2 * n + 1; /* forever "being written" */
}

static void
test_hostile_records_with_max_ext_are_bounded(void **state)
{
    (void)state;
    probe_records("every head record with ext 255", rec_ext_max, 0);
}

static void
test_hostile_records_with_huge_data_len_are_bounded(void **state)
{
    (void)state;
    probe_records("every head record with data_len 0xffff",
                  rec_data_len_max, 0);
    probe_records("data_len one past what ext allows",
                  rec_data_len_past_ext, 0);
}

static void
test_hostile_records_with_bad_kinds_are_skipped(void **state)
{
    (void)state;
    probe_records("kinds 0, 99, 0xffff", rec_kind_bad, 0);
    probe_records("every record a continuation", rec_all_cont, 0);
}

static void
test_hostile_records_with_random_payload_are_bounded(void **state)
{
    (void)state;
    for (uint64_t i = 0; i < 20; i++) {
        probe_records("random payload under valid sequences",
                      rec_random_payload, cbt_mix(g.seed, 100 + i));
        probe_records("random field bytes", rec_random_fields,
                      cbt_mix(g.seed, 200 + i));
        probe_records("random sequence words", rec_random_seq,
                      cbt_mix(g.seed, 300 + i));
    }
}

static void
test_hostile_records_odd_forever_read_as_not_yet(void **state)
{
    (void)state;
    probe_records("every slot forever being written", rec_seq_odd, 0);
}

static void
test_hostile_sequence_far_ahead_of_head_does_not_hang(void **state)
{
    (void)state;
    probe_records("slot sequences 2^62 records ahead of the head word",
                  rec_seq_far_ahead, 0);
}

static void
test_hostile_ring_header_words_are_bounded(void **state)
{
    static const struct {
        const char *what;
        uint64_t base, head;
        uint32_t depth;
        uint64_t pushes;
    } cases[] = {
        {"head 2^64-1", 0, UINT64_MAX, 0, 0},
        {"head 2^40 ahead", 0, UINT64_C(1) << 40, 0, 0},
        {"base after head", 1000, 5, 0, 0},
        {"base 2^63", UINT64_C(1) << 63, 20, 0, 0},
        {"in-flight depth 2^32-1", 0, 0, UINT32_MAX, 0},
        {"in-flight frames being written forever", 0, 0, 3, 1},
    };
    char what[96];

    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t len;
        uint8_t *b = tmpl_copy(&len);
        for (uint32_t r = 0; r < TEMPLATE_RINGS; r++) {
            struct cb_ring_header *rh = RING(b, r);
            if (cases[i].base != 0 || cases[i].head != 0) {
                rh->base = cases[i].base;
                rh->head = cases[i].head;
            }
            if (cases[i].depth != 0)
                rh->depth = cases[i].depth;
            if (cases[i].pushes != 0)
                rh->pushes = cases[i].pushes;
        }
        snprintf(what, sizeof what, "ring header: %s", cases[i].what);
        probe(what, b, len, EXPECT_ACCEPT, 0);
    }
}

static void
test_hostile_random_byte_flips_anywhere(void **state)
{
    uint64_t rounds = cbt_iters(DEFAULT_ROUNDS);
    struct cbt_rng r = {cbt_mix(g.seed, 2)};
    char what[96];

    (void)state;
    for (uint64_t i = 0; i < rounds; i++) {
        size_t len;
        uint8_t *b = tmpl_copy(&len);
        uint64_t flips = 1 + cbt_below(&r, 64);
        /* Mostly in the header, the name table and the ring headers,
         * where one byte changes the most. */
        for (uint64_t k = 0; k < flips; k++) {
            size_t at = cbt_below(&r, 2) ? cbt_below(&r, 512)
                                         : cbt_below(&r, len);
            b[at] = (uint8_t)cbt_next(&r);
        }
        snprintf(what, sizeof what, "round %" PRIu64 ": %" PRIu64
                 " random bytes changed", i, flips);
        probe(what, b, len, EXPECT_ANY, 0);
    }
}

/* ---- fields, status segments, the bus ----------------------------------- */

static void
test_hostile_field_decoder_stays_in_bounds(void **state)
{
    struct cbt_rng r = {cbt_mix(g.seed, 3)};
    uint64_t rounds = cbt_iters(DEFAULT_ROUNDS) * 100;
    uint8_t buf[256];

    (void)state;
    for (uint64_t i = 0; i < rounds; i++) {
        size_t len = cbt_below(&r, sizeof buf + 1), off = 0, prev = 0;
        struct cb_field f;
        int rc, n = 0;
        for (size_t k = 0; k < len; k++)
            buf[k] = (uint8_t)cbt_next(&r);
        /* Bias the tags towards valid types. */
        if (len >= 4 && cbt_below(&r, 2))
            buf[3] = (uint8_t)((1 + cbt_below(&r, 7)) << 4);
        while ((rc = cb_field_next(buf, len, &off, &f)) == 1) {
            if (off <= prev || off > len)
                fail_msg("seed=0x%" PRIx64 " round %" PRIu64 ": offset %zu "
                         "after %zu of %zu", g.seed, i, off, prev, len);
            if (f.s != NULL && ((const uint8_t *)f.s < buf ||
                                (const uint8_t *)f.s + f.s_len > buf + len))
                fail_msg("seed=0x%" PRIx64 " round %" PRIu64 ": string "
                         "outside the buffer", g.seed, i);
            prev = off;
            assert_true(++n <= 256);
        }
        assert_true(rc == 0 || rc == CB_EBADSEG);
        assert_true(off <= len);
    }
}

static void
test_hostile_status_segments_are_refused_or_clamped(void **state)
{
    struct cb_status_header *s = calloc(1, sizeof *s);
    struct cb_status_header *out = malloc(sizeof *out);
    char name[128];
    static const size_t sizes[] = {0, 100, sizeof(struct cb_status_header) -
                                               1};

    (void)state;
    assert_non_null(s);
    assert_non_null(out);
    snprintf(name, sizeof name, "/clipbus-r.%s.%u", g.bus, g.next_pid++);
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        assert_int_equal(cbt_shm_write(name, NULL, sizes[i]), 0);
        assert_true(cb_status_read(name, out) < 0);
    }
    /* Full size, wrong magic. */
    assert_int_equal(cbt_shm_write(name, s, sizeof *s), 0);
    assert_true(cb_status_read(name, out) < 0);
    /* Valid magic, absurd counts: nrings must come back clamped. */
    s->magic = CB_STATUS_MAGIC;
    s->layout_major = CB_LAYOUT_MAJOR;
    s->nrings = UINT32_MAX;
    s->producers = UINT32_MAX;
    memset(s->program, 'p', sizeof s->program);
    assert_int_equal(cbt_shm_write(name, s, sizeof *s), 0);
    assert_int_equal(cb_status_read(name, out), 0);
    assert_true(out->nrings <= CB_STATUS_RINGS_MAX);
    /* Another layout major. */
    s->layout_major = CB_LAYOUT_MAJOR + 1;
    assert_int_equal(cbt_shm_write(name, s, sizeof *s), 0);
    assert_true(cb_status_read(name, out) < 0);
    /* A sequence word odd forever: bounded retries, then an error. */
    s->layout_major = CB_LAYOUT_MAJOR;
    s->seq = 1;
    assert_int_equal(cbt_shm_write(name, s, sizeof *s), 0);
    assert_true(cb_status_read(name, out) < 0);
    shm_unlink(name);
    free(s);
    free(out);
}

struct bus_tally {
    int bad, fresh, entries;
};

static int
tally(void *arg, const struct cb_event *ev)
{
    struct bus_tally *t = arg;
    t->bad += ev->type == CB_EV_BAD_SEGMENT;
    t->fresh += ev->type == CB_EV_PRODUCER_NEW;
    t->entries += ev->type == CB_EV_ENTRY;
    if (ev->type == CB_EV_BAD_SEGMENT && (ev->why == NULL || !*ev->why))
        t->bad += 1000; /* a refusal must say why */
    return 0;
}

static void
test_hostile_segments_on_a_bus_are_reported_once_and_skipped(void **state)
{
    struct cb_bus_opts o = {.program = "hostile", .no_gc = 1,
                            .no_status = 1};
    struct bus_tally t = {0, 0, 0};
    struct cb_bus *bus = NULL;
    char name[128], bname[64];
    size_t len;
    int nbad = 0;

    (void)state;
    /* A bus of its own: objects of the other tests never show up here. */
    cbt_bus(bname, sizeof bname, "hostbus");
    /* Ten bad objects and one good copy of the real segment. */
    for (int i = 0; i < 10; i++) {
        uint8_t *b = tmpl_copy(&len);
        HDR(b)->layout_major = (uint16_t)(i % 2 ? 7 : CB_LAYOUT_MAJOR);
        if (i % 2 == 0)
            HDR(b)->ring_records = 1000;
        snprintf(name, sizeof name, "/clipbus.%s.%u", bname, g.next_pid++);
        assert_int_equal(cbt_shm_write(name, b, len), 0);
        nbad++;
    }
    snprintf(name, sizeof name, "/clipbus.%s.%u", bname, g.next_pid++);
    assert_int_equal(cbt_shm_write(name, g.tmpl, g.tmpl_len), 0);
    /* Names that are not clipbus segments of this bus are ignored. */
    snprintf(name, sizeof name, "/clipbus.%s.notapid", bname);
    assert_int_equal(cbt_shm_write(name, g.tmpl, 10), 0);

    assert_int_equal(cb_bus_open(bname, &o, &bus), 0);
    for (int i = 0; i < 5; i++) {
        assert_true(cb_bus_poll(bus, tally, &t, 0) >= 0);
        assert_int_equal(cb_bus_scan(bus, 1), 1);
    }
    assert_true(cb_bus_poll(bus, tally, &t, 0) >= 0);
    cb_bus_close(bus);
    /* (CB_EV_PRODUCER_NEW is test_bus.c's business.) */
    assert_int_equal(t.bad, nbad);
    assert_true(t.entries > 0);
    shm_unlink(name);
    cbt_unlink_bus(bname);
}

/* ---- a segment that shrinks under an attached reader -------------------- */

static char g_shrink_name[128];

static int
child_shrink(void *arg)
{
    struct cb_segment *seg = NULL;
    int fd;

    (void)arg;
    g.out->attach_rc = cb_segment_attach(g_shrink_name, 0, &seg, g.out->why,
                                         sizeof g.out->why);
    if (g.out->attach_rc != 0)
        return 1;
    /* The owner (or anyone with write access) cuts the object to its
     * header after the reader validated and mapped it. */
    fd = shm_open(g_shrink_name, O_RDWR, 0);
    if (fd < 0 || ftruncate(fd, CB_SEG_HEADER_SIZE) != 0)
        return 2;
    close(fd);
    g.out->exercise_rc = exercise(seg);
    cb_segment_detach(seg);
    return 0;
}

static void
test_hostile_segment_shrunk_after_attach_does_not_crash_reader(void **state)
{
    char st[64];
    int status;
    pid_t pid;

    (void)state;
    snprintf(g_shrink_name, sizeof g_shrink_name, "/clipbus.%s.%u", g.bus,
             g.next_pid++);
    assert_int_equal(cbt_shm_write(g_shrink_name, g.tmpl, g.tmpl_len), 0);
    memset(g.out, 0, sizeof *g.out);
    pid = cbt_fork(child_shrink, NULL);
    assert_true(pid > 0);
    int waited = cbt_wait(pid, CHILD_MS, &status);
    shm_unlink(g_shrink_name);
    if (waited != 0)
        fail_msg("reader hung after the segment shrank");
    if (status != 0)
        fail_msg("reader ended with %s after the segment shrank to its "
                 "header under it (a read past the end of the file raises "
                 "SIGBUS) %s", cbt_status_str(status, st, sizeof st),
                 g.out->detail);
}

int
main(int argc, char **argv)
{
    const struct CMUnitTest shrink[] = {
        cmocka_unit_test(test_hostile_segment_shrunk_after_attach_does_not_crash_reader),
    };
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hostile_template_itself_is_accepted_and_readable),
        cmocka_unit_test(test_hostile_truncated_sizes_are_refused),
        cmocka_unit_test(test_hostile_zero_filled_is_not_ready),
        cmocka_unit_test(test_hostile_random_bytes_are_refused),
        cmocka_unit_test(test_hostile_each_header_field_corrupted),
        cmocka_unit_test(test_hostile_unterminated_strings_are_cut),
        cmocka_unit_test(test_hostile_name_entry_longer_than_table_is_not_returned),
        cmocka_unit_test(test_hostile_records_with_max_ext_are_bounded),
        cmocka_unit_test(test_hostile_records_with_huge_data_len_are_bounded),
        cmocka_unit_test(test_hostile_records_with_bad_kinds_are_skipped),
        cmocka_unit_test(test_hostile_records_with_random_payload_are_bounded),
        cmocka_unit_test(test_hostile_records_odd_forever_read_as_not_yet),
        cmocka_unit_test(test_hostile_sequence_far_ahead_of_head_does_not_hang),
        cmocka_unit_test(test_hostile_ring_header_words_are_bounded),
        cmocka_unit_test(test_hostile_random_byte_flips_anywhere),
        cmocka_unit_test(test_hostile_field_decoder_stays_in_bounds),
        cmocka_unit_test(test_hostile_status_segments_are_refused_or_clamped),
        cmocka_unit_test(test_hostile_segments_on_a_bus_are_reported_once_and_skipped),
    };
    printf("hostile segments; seed=0x%" PRIx64 " rounds=%" PRIu64 "\n",
           cbt_seed(DEFAULT_SEED), cbt_iters(DEFAULT_ROUNDS));
    /* --shrink: the case of a segment cut while mapped, registered as
     * its own CTest test (bus.reader_hostile.shrink). */
    if (argc > 1 && strcmp(argv[1], "--shrink") == 0)
        return cmocka_run_group_tests_name("bus.reader_hostile.shrink",
                                           shrink, group_setup,
                                           group_teardown);
    return cmocka_run_group_tests_name("bus.reader_hostile", tests,
                                       group_setup, group_teardown);
}
