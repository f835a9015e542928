/*
 * tests/bus/prop_function_logging.c -- Property 1 of seed task 2.2:
 * Comprehensive Function Logging (Requirements 1.1, 1.2, 1.3).
 *
 * For any program of monitored calls -- random call trees, in one to three
 * threads at once, through functions whose CB_MONITOR_EXECUTION takes
 * different parameter shapes (none, one or two numbers inline, strings,
 * mixes that overflow the call's parameter space), with random values
 * (64-bit extremes, NaN and infinities, strings of any length and of any
 * byte but NUL, NULL strings) and random outcomes (plain returns, negative
 * returns without cb_fail, cb_fail on an early return, after the children,
 * before the children and then a normal return, twice) -- a reader of the
 * thread's ring gets:
 *
 *  - exactly one CB_KIND_CALL entry per call, in the order the calls
 *    returned (children before their parent), named after the function;
 *  - its parameters bit-exact, in order, or cut as the documented rule
 *    says (numbers dropped whole, a string cut to what fits in
 *    CB__CALL_DATA bytes) with CB_RF_TRUNCATED set exactly then;
 *  - its outcome: success unless cb_fail() marked the call itself (never a
 *    child's failure, never a negative return alone); the code and message
 *    of the last cb_fail(), the message cut to CB__ERRMSG_MAX - 1 bytes;
 *  - its start time and duration: every call within the program's run, a
 *    child within its parent, siblings one after the other;
 *  - and, while a call runs, the in-flight stack of its ring names the
 *    path from the outermost running call to it;
 *
 * and nothing else is lost or added. The model of the expected entry is
 * written from the rules in clipbus.h and segment.h, not from the
 * producer's code paths (there are two: inline and out of line).
 *
 * Seeded: CB_TEST_SEED replays a run, CB_TEST_ITERS sets how many
 * programs; every failure names the seed, program, thread and call.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <clipbus/clipbus.h>
#include <clipbus/reader.h>

#include "cbt.h"
#include "selfseg.h"

#define DEFAULT_SEED  UINT64_C(0x10661a9)
#define DEFAULT_PROGS 60
#define MAX_THREADS   3
#define MAX_NODES     96
#define MAX_KIDS      3
#define MAX_DEPTH     5
#define STR_MAX       300
#define MSG_MAX       260

static struct selfseg g;

/* ---- a program: one random call forest per thread ------------------------ */

enum outcome {
    OUT_RETURN0,      /* return 0 */
    OUT_NEGATIVE,     /* return -1 without cb_fail: a success */
    OUT_FAIL_EARLY,   /* return cb_fail(...) before the children run */
    OUT_FAIL_LATE,    /* children, then return cb_fail(...) */
    OUT_FAIL_MARK,    /* cb_fail(...) first, children, return 0 */
    OUT_FAIL_TWICE,   /* cb_fail(code2, msg2), cb_fail(code, msg), ... */
    OUT_N
};

struct node {
    int variant;
    int64_t i, i2;
    double d;
    const char *s, *t; /* NULL or sbuf / tbuf */
    char sbuf[STR_MAX + 1], tbuf[STR_MAX + 1];
    int outcome;
    int32_t code, code2;
    char msg[MSG_MAX + 1], msg2[MSG_MAX + 1];
    int kids[MAX_KIDS], nkids;
    int parent, depth; /* parent -1 for a root */
    /* filled in by the run */
    int ran;
    uint32_t seen_depth;
    uint32_t seen_names[CB_INFLIGHT_MAX];
    int seen_n;
    /* filled in by the check */
    uint64_t ts, end;
};

struct thread_prog {
    struct node n[MAX_NODES];
    int count;
    int roots[MAX_NODES], nroots;
    /* run */
    uint32_t tid, ring;
    uint64_t t_begin, t_end;
    pthread_barrier_t *go;
    struct cb_cursor cur;
    int ready_rc;
};

static struct thread_prog g_prog[MAX_THREADS];

/* What the programs covered, printed at the end. */
static struct {
    uint64_t calls, truncated, failed, threaded_progs, deepest;
} g_seen;
static __thread struct thread_prog *t_prog;

/* ---- the monitored functions ------------------------------------------- */

/* Which value of a node a parameter takes. */
enum src { SRC_I, SRC_I2, SRC_D, SRC_S, SRC_T };

struct pspec {
    int type; /* CB_FIELD_I64, _F64 or _STR */
    const char *name;
    int src;
};

static int node_body(struct node *n);

__attribute__((noinline)) static int
pf_none(struct node *n)
{
    CB_MONITOR_EXECUTION();
    return node_body(n);
}

__attribute__((noinline)) static int
pf_int(struct node *n)
{
    CB_MONITOR_EXECUTION(CB_INT("n", n->i));
    return node_body(n);
}

__attribute__((noinline)) static int
pf_int_dbl(struct node *n)
{
    CB_MONITOR_EXECUTION(CB_INT("a", n->i), CB_DBL("x", n->d));
    return node_body(n);
}

__attribute__((noinline)) static int
pf_str(struct node *n)
{
    CB_MONITOR_EXECUTION(CB_STR("s", n->s));
    return node_body(n);
}

__attribute__((noinline)) static int
pf_three_nums(struct node *n)
{
    CB_MONITOR_EXECUTION(CB_INT("p", n->i), CB_INT("q", n->i2),
                         CB_DBL("r", n->d));
    return node_body(n);
}

__attribute__((noinline)) static int
pf_mixed(struct node *n)
{
    CB_MONITOR_EXECUTION(CB_INT("i", n->i), CB_STR("s", n->s),
                         CB_DBL("d", n->d), CB_STR("t", n->t));
    return node_body(n);
}

__attribute__((noinline)) static int
pf_strs_then_int(struct node *n)
{
    CB_MONITOR_EXECUTION(CB_STR("a", n->s), CB_STR("b", n->t),
                         CB_INT("k", n->i));
    return node_body(n);
}

static const struct variant {
    int (*fn)(struct node *);
    const char *name;
    int np;
    struct pspec p[4];
} V[] = {
    {pf_none, "pf_none", 0, {{0, NULL, 0}}},
    {pf_int, "pf_int", 1, {{CB_FIELD_I64, "n", SRC_I}}},
    {pf_int_dbl, "pf_int_dbl", 2,
     {{CB_FIELD_I64, "a", SRC_I}, {CB_FIELD_F64, "x", SRC_D}}},
    {pf_str, "pf_str", 1, {{CB_FIELD_STR, "s", SRC_S}}},
    {pf_three_nums, "pf_three_nums", 3,
     {{CB_FIELD_I64, "p", SRC_I}, {CB_FIELD_I64, "q", SRC_I2},
      {CB_FIELD_F64, "r", SRC_D}}},
    {pf_mixed, "pf_mixed", 4,
     {{CB_FIELD_I64, "i", SRC_I}, {CB_FIELD_STR, "s", SRC_S},
      {CB_FIELD_F64, "d", SRC_D}, {CB_FIELD_STR, "t", SRC_T}}},
    {pf_strs_then_int, "pf_strs_then_int", 3,
     {{CB_FIELD_STR, "a", SRC_S}, {CB_FIELD_STR, "b", SRC_T},
      {CB_FIELD_I64, "k", SRC_I}}},
};
#define NV ((int)(sizeof V / sizeof V[0]))

/* While the call runs: what the in-flight stack of this thread's ring
 * says (checked later, by the main thread). */
static void
note_inflight(struct node *n)
{
    struct cb_inflight_frame fr[CB_INFLIGHT_MAX];
    uint32_t depth = 0;
    int k = cb_segment_inflight(g.seg, t_prog->ring, fr, CB_INFLIGHT_MAX,
                                &depth);

    n->seen_depth = depth;
    n->seen_n = k;
    for (int j = 0; j < k && j < (int)CB_INFLIGHT_MAX; j++)
        n->seen_names[j] = fr[j].name_id;
}

static int
run_node(struct node *n)
{
    return V[n->variant].fn(n);
}

static int
node_body(struct node *n)
{
    n->ran = 1;
    note_inflight(n);
    switch (n->outcome) {
    case OUT_FAIL_EARLY:
        return cb_fail(n->code, "%s", n->msg);
    case OUT_FAIL_MARK:
        (void)cb_fail(n->code, "%s", n->msg);
        break;
    case OUT_FAIL_TWICE:
        (void)cb_fail(n->code2, "%s", n->msg2);
        (void)cb_fail(n->code, "%s", n->msg);
        break;
    default:
        break;
    }
    for (int k = 0; k < n->nkids; k++)
        (void)run_node(&t_prog->n[n->kids[k]]);
    if (n->outcome == OUT_FAIL_LATE)
        return cb_fail(n->code, "%s", n->msg);
    return n->outcome == OUT_NEGATIVE ? -1 : 0;
}

/* ---- generating programs ----------------------------------------------- */

static int64_t
gen_i64(struct cbt_rng *r)
{
    static const int64_t special[] = {0, 1, -1, INT64_MAX, INT64_MIN,
                                      INT32_MAX, INT32_MIN, 429, 503};
    if (cbt_below(r, 3) == 0)
        return special[cbt_below(r, sizeof special / sizeof special[0])];
    return (int64_t)cbt_next(r);
}

static double
gen_dbl(struct cbt_rng *r)
{
    static const double special[] = {0.0, -0.0, 1.5, -2.25e-308, 5e-324,
                                     1.7976931348623157e308};
    uint64_t bits;
    double d;

    switch (cbt_below(r, 6)) {
    case 0:
        return special[cbt_below(r, sizeof special / sizeof special[0])];
    case 1:
        return cbt_below(r, 2) ? INFINITY : -INFINITY;
    case 2:
        return NAN;
    case 3:
        return (double)(int64_t)cbt_below(r, 2000001) / 1000.0 - 1000.0;
    default:
        bits = cbt_next(r);
        memcpy(&d, &bits, sizeof d);
        return d; /* any bit pattern, NaN payloads included */
    }
}

/* Random bytes 1..255 (no NUL); lengths mostly short, some long enough to
 * overflow the call's parameter space on their own. */
static void
gen_bytes(struct cbt_rng *r, char *buf, size_t max, size_t *len_out)
{
    size_t len;

    switch (cbt_below(r, 8)) {
    case 0:
        len = 0;
        break;
    case 1:
    case 2:
    case 3:
        len = 1 + cbt_below(r, 24);
        break;
    case 4:
    case 5:
        len = 24 + cbt_below(r, 100);
        break;
    default:
        len = 124 + cbt_below(r, max - 124 + 1);
        break;
    }
    for (size_t k = 0; k < len; k++)
        buf[k] = cbt_below(r, 4) ? (char)(' ' + cbt_below(r, 95))
                                 : (char)(1 + cbt_below(r, 255));
    buf[len] = '\0';
    if (len_out)
        *len_out = len;
}

static const char *
gen_str(struct cbt_rng *r, char *buf)
{
    if (cbt_below(r, 12) == 0)
        return NULL; /* recorded as "(null)" */
    gen_bytes(r, buf, STR_MAX, NULL);
    return buf;
}

static int
gen_node(struct thread_prog *p, struct cbt_rng *r, int parent, int depth)
{
    struct node *n;
    int idx, nk;

    if (p->count >= MAX_NODES)
        return -1;
    idx = p->count++;
    n = &p->n[idx];
    memset(n, 0, sizeof *n);
    n->parent = parent;
    n->depth = depth;
    n->variant = (int)cbt_below(r, NV);
    n->i = gen_i64(r);
    n->i2 = gen_i64(r);
    n->d = gen_dbl(r);
    n->s = gen_str(r, n->sbuf);
    n->t = gen_str(r, n->tbuf);
    n->outcome = (int)cbt_below(r, OUT_N);
    n->code = (int32_t)gen_i64(r);
    n->code2 = (int32_t)gen_i64(r);
    gen_bytes(r, n->msg, MSG_MAX, NULL);
    gen_bytes(r, n->msg2, MSG_MAX, NULL);
    nk = depth + 1 < MAX_DEPTH ? (int)cbt_below(r, MAX_KIDS + 1) : 0;
    if (depth >= 2 && cbt_below(r, 2) == 0)
        nk = 0;
    for (int k = 0; k < nk; k++) {
        int kid = gen_node(p, r, idx, depth + 1);
        if (kid < 0)
            break;
        p->n[idx].kids[p->n[idx].nkids++] = kid;
    }
    return idx;
}

static void
gen_prog(struct thread_prog *p, struct cbt_rng *r)
{
    int roots = 1 + (int)cbt_below(r, 6);

    p->count = 0;
    p->nroots = 0;
    for (int k = 0; k < roots; k++) {
        int root = gen_node(p, r, -1, 0);
        if (root < 0)
            break;
        p->roots[p->nroots++] = root;
    }
}

/* Calls that ran: an early failure skips the children. */
static int
runs_kids(const struct node *n)
{
    return n->outcome != OUT_FAIL_EARLY;
}

/* ---- running ----------------------------------------------------------- */

static void *
prog_thread(void *arg)
{
    struct thread_prog *p = arg;

    t_prog = p;
    p->tid = (uint32_t)gettid();
    /* Claim this thread's ring now, so the main thread can start a cursor
     * on it before the program runs. */
    p->ready_rc = cb_thread_prepare();
    if (p->ready_rc == 0 && selfseg_ring_of(&g, p->tid, &p->ring) != 0)
        p->ready_rc = -1;
    pthread_barrier_wait(p->go); /* ring known */
    pthread_barrier_wait(p->go); /* cursor set */
    p->t_begin = cb_segment_now_ticks(g.seg);
    for (int k = 0; k < p->nroots; k++)
        (void)run_node(&p->n[p->roots[k]]);
    p->t_end = cb_segment_now_ticks(g.seg);
    return NULL;
}

/* ---- checking ---------------------------------------------------------- */

struct ctx {
    uint64_t seed;
    uint64_t prog;
    int thread;
};

#define PFAIL(c, node, ...)                                                    \
    do {                                                                       \
        char m_[512];                                                          \
        snprintf(m_, sizeof m_, __VA_ARGS__);                                  \
        fail_msg("Property 1 (Comprehensive Function Logging) failed: "        \
                 "seed=0x%" PRIx64 " program=%" PRIu64 " thread=%d call=%d: "  \
                 "%s (replay with CB_TEST_SEED=0x%" PRIx64 ")",                \
                 (c)->seed, (c)->prog, (c)->thread, (node), m_, (c)->seed);    \
    } while (0)

/* One expected parameter field. */
struct want_field {
    int type;
    const char *name;
    int64_t i;
    uint64_t dbits;
    const char *s;
    size_t s_len;
};

/* The documented rule: parameters share CB__CALL_DATA bytes in order; a
 * number takes a 4-byte tag and 8 bytes and is dropped whole (with every
 * parameter after it) when it does not fit; a string takes a 4-byte tag, a
 * 2-byte length and its bytes, and is cut to what fits. Anything dropped
 * or cut sets CB_RF_TRUNCATED. */
static int
model_params(const struct node *n, struct want_field *w, int *trunc)
{
    const struct variant *v = &V[n->variant];
    size_t len = 0, cap = CB__CALL_DATA;
    int nw = 0;

    *trunc = 0;
    for (int k = 0; k < v->np; k++) {
        const struct pspec *ps = &v->p[k];
        struct want_field *f = &w[nw];
        if (ps->type == CB_FIELD_STR) {
            const char *s = ps->src == SRC_S ? n->s : n->t;
            size_t sl;
            if (s == NULL)
                s = "(null)";
            sl = strlen(s);
            if (len + 6 > cap) {
                *trunc = 1;
                continue;
            }
            if (sl > cap - len - 6) {
                sl = cap - len - 6;
                *trunc = 1;
            }
            f->type = CB_FIELD_STR;
            f->name = ps->name;
            f->s = s;
            f->s_len = sl;
            len += 6 + sl;
            nw++;
        } else {
            if (len + 12 > cap) {
                *trunc = 1;
                break;
            }
            f->type = ps->type;
            f->name = ps->name;
            if (ps->type == CB_FIELD_I64)
                f->i = ps->src == SRC_I ? n->i : n->i2;
            else
                memcpy(&f->dbits, &n->d, sizeof f->dbits);
            len += 12;
            nw++;
        }
    }
    return nw;
}

static int
marks_failure(const struct node *n)
{
    return n->outcome == OUT_FAIL_EARLY || n->outcome == OUT_FAIL_LATE ||
           n->outcome == OUT_FAIL_MARK || n->outcome == OUT_FAIL_TWICE;
}

static void
check_entry(const struct ctx *c, struct thread_prog *p, int idx,
            const struct cb_entry *e)
{
    struct node *n = &p->n[idx];
    struct want_field w[4];
    struct cb_field f[8];
    int trunc, nw = model_params(n, w, &trunc), nf, k, err_at = -1;

    if (e->head.kind != CB_KIND_CALL)
        PFAIL(c, idx, "entry of kind %u, want a call", e->head.kind);
    if (!selfseg_name_is(&g, e->head.name_id, V[n->variant].name))
        PFAIL(c, idx, "entry named id %u, want %s", e->head.name_id,
              V[n->variant].name);
    if (((e->head.flags & CB_RF_TRUNCATED) != 0) != trunc)
        PFAIL(c, idx, "%s: truncated flag %d, want %d", V[n->variant].name,
              (e->head.flags & CB_RF_TRUNCATED) != 0, trunc);
    nf = selfseg_fields(e, f, 8);
    if (nf < 0)
        PFAIL(c, idx, "fields do not decode");
    for (k = 0; k < nf; k++)
        if (f[k].type == CB_FIELD_ERR)
            err_at = k;
        else if (f[k].type == CB_FIELD_PERF)
            PFAIL(c, idx, "a perf field in a monitored (untracked) call");
    if (nf - (err_at >= 0) != nw)
        PFAIL(c, idx, "%s: %d parameter fields, want %d",
              V[n->variant].name, nf - (err_at >= 0), nw);
    for (k = 0; k < nw; k++) {
        const struct cb_field *x = &f[k];
        if (x->type != w[k].type || !selfseg_name_is(&g, x->name_id,
                                                     w[k].name))
            PFAIL(c, idx, "parameter %d: type %d, want %d named %s", k,
                  x->type, w[k].type, w[k].name);
        if (x->type == CB_FIELD_I64 && x->i != w[k].i)
            PFAIL(c, idx, "parameter %s: %" PRId64 ", want %" PRId64,
                  w[k].name, x->i, w[k].i);
        if (x->type == CB_FIELD_F64) {
            uint64_t b;
            memcpy(&b, &x->d, sizeof b);
            if (b != w[k].dbits)
                PFAIL(c, idx, "parameter %s: bits %016" PRIx64
                      ", want %016" PRIx64, w[k].name, b, w[k].dbits);
        }
        if (x->type == CB_FIELD_STR &&
            (x->s_len != w[k].s_len || memcmp(x->s, w[k].s, x->s_len) != 0))
            PFAIL(c, idx, "parameter %s: %zu bytes, want %zu (or different "
                  "bytes)", w[k].name, x->s_len, w[k].s_len);
    }
    if (marks_failure(n)) {
        size_t ml = strlen(n->msg);
        if (ml > CB__ERRMSG_MAX - 1)
            ml = CB__ERRMSG_MAX - 1;
        if (e->head.status != CB_STATUS_ERROR)
            PFAIL(c, idx, "status %u, want an error (outcome %d)",
                  e->head.status, n->outcome);
        if (err_at != nf - 1)
            PFAIL(c, idx, "no error field after the parameters");
        if (f[err_at].i != n->code)
            PFAIL(c, idx, "error code %" PRId64 ", want %d", f[err_at].i,
                  (int)n->code);
        if (f[err_at].s_len != ml || memcmp(f[err_at].s, n->msg, ml) != 0)
            PFAIL(c, idx, "error message of %zu bytes, want the %zu of the "
                  "last cb_fail", f[err_at].s_len, ml);
    } else {
        if (e->head.status != CB_STATUS_OK)
            PFAIL(c, idx, "status %u, want success (outcome %d)",
                  e->head.status, n->outcome);
        if (err_at >= 0)
            PFAIL(c, idx, "an error field in a successful call");
    }
    n->ts = e->head.ts;
    n->end = e->head.ts + e->head.value;
    g_seen.calls++;
    g_seen.truncated += trunc;
    g_seen.failed += marks_failure(n);
    if ((uint64_t)n->depth + 1 > g_seen.deepest)
        g_seen.deepest = (uint64_t)n->depth + 1;
}

/* The entries of a call tree, in the order the calls returned. */
static void
check_tree(const struct ctx *c, struct thread_prog *p, int idx)
{
    struct node *n = &p->n[idx];
    struct cb_entry e;
    int rc;

    if (!n->ran)
        PFAIL(c, idx, "the call did not run (test bug)");
    if (runs_kids(n))
        for (int k = 0; k < n->nkids; k++)
            check_tree(c, p, n->kids[k]);
    rc = selfseg_next(&p->cur, &e);
    if (rc != 1)
        PFAIL(c, idx, "no entry for %s (cb_cursor_next %d, lost %" PRIu64
              ")", V[n->variant].name, rc, p->cur.lost);
    check_entry(c, p, idx, &e);
}

/* Times: a call within the run and within its parent, siblings in order;
 * the in-flight stack seen during the call: its path from the root. */
static void
check_times_and_stacks(const struct ctx *c, struct thread_prog *p)
{
    for (int idx = 0; idx < p->count; idx++) {
        const struct node *n = &p->n[idx];
        uint32_t path[MAX_DEPTH];
        int depth = 0;

        if (!n->ran)
            continue;
        if (n->ts < p->t_begin || n->end > p->t_end || n->end < n->ts)
            PFAIL(c, idx, "call [%" PRIu64 ", %" PRIu64 "] outside the run "
                  "[%" PRIu64 ", %" PRIu64 "]", n->ts, n->end, p->t_begin,
                  p->t_end);
        if (n->parent >= 0) {
            const struct node *up = &p->n[n->parent];
            if (n->ts < up->ts || n->end > up->end)
                PFAIL(c, idx, "child call outside its parent %d", n->parent);
        }
        if (runs_kids(n))
            for (int k = 1; k < n->nkids; k++)
                if (p->n[n->kids[k]].ts < p->n[n->kids[k - 1]].end)
                    PFAIL(c, n->kids[k], "starts before its older sibling "
                          "returned");
        /* The path, outermost first. */
        for (int up = idx; up >= 0; up = p->n[up].parent)
            depth++;
        for (int up = idx, k = depth - 1; up >= 0; up = p->n[up].parent)
            path[k--] = (uint32_t)up;
        if (n->seen_depth != (uint32_t)depth || n->seen_n != depth)
            PFAIL(c, idx, "in-flight stack of depth %u (%d frames), want %d",
                  n->seen_depth, n->seen_n, depth);
        for (int k = 0; k < depth; k++)
            if (!selfseg_name_is(&g, n->seen_names[k],
                                 V[p->n[path[k]].variant].name))
                PFAIL(c, idx, "in-flight frame %d is not %s", k,
                      V[p->n[path[k]].variant].name);
    }
    for (int k = 1; k < p->nroots; k++)
        if (p->n[p->roots[k]].ts < p->n[p->roots[k - 1]].end)
            PFAIL(c, p->roots[k], "root call starts before the one before "
                  "it returned");
}

static void
run_program(uint64_t seed, uint64_t prog)
{
    struct cbt_rng r = {cbt_mix(seed, prog)};
    int nthreads = 1 + (int)cbt_below(&r, MAX_THREADS);
    pthread_t th[MAX_THREADS];
    pthread_barrier_t go;

    g_seen.threaded_progs += nthreads > 1;
    pthread_barrier_init(&go, NULL, (unsigned)nthreads + 1);
    for (int t = 0; t < nthreads; t++) {
        gen_prog(&g_prog[t], &r);
        g_prog[t].go = &go;
        assert_int_equal(pthread_create(&th[t], NULL, prog_thread,
                                        &g_prog[t]), 0);
    }
    pthread_barrier_wait(&go);
    for (int t = 0; t < nthreads; t++) {
        assert_int_equal(g_prog[t].ready_rc, 0);
        assert_int_equal(cb_cursor_init(&g_prog[t].cur, g.seg,
                                         g_prog[t].ring, CB_FROM_NOW), 0);
    }
    pthread_barrier_wait(&go);
    for (int t = 0; t < nthreads; t++)
        pthread_join(th[t], NULL);
    pthread_barrier_destroy(&go);

    for (int t = 0; t < nthreads; t++) {
        struct thread_prog *p = &g_prog[t];
        struct ctx c = {seed, prog, t};
        struct cb_entry e;
        int rc;

        for (int k = 0; k < p->nroots; k++)
            check_tree(&c, p, p->roots[k]);
        rc = selfseg_next(&p->cur, &e);
        if (rc != 0)
            PFAIL(&c, -1, "an entry no call made (kind %u, rc %d)",
                  rc == 1 ? e.head.kind : 0u, rc);
        if (p->cur.lost != 0)
            PFAIL(&c, -1, "%" PRIu64 " records lost", p->cur.lost);
        check_times_and_stacks(&c, p);
    }
}

static void
test_prop_function_logging(void **state)
{
    uint64_t seed = cbt_seed(DEFAULT_SEED), progs = cbt_iters(DEFAULT_PROGS);

    (void)state;
    assert_int_equal(selfseg_open(&g, "plog"), 0);
    for (uint64_t k = 0; k < progs; k++)
        run_program(seed, k);
    selfseg_close(&g); /* on a failure, cbt's exit handler cleans up */
    printf("checked %" PRIu64 " calls in %" PRIu64 " programs (%" PRIu64
           " with threads at once): %" PRIu64 " with cut parameters, %"
           PRIu64 " failed, nesting up to %" PRIu64 "\n", g_seen.calls, progs,
           g_seen.threaded_progs, g_seen.truncated, g_seen.failed,
           g_seen.deepest);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_prop_function_logging),
    };
    printf("Property 1: Comprehensive Function Logging; seed=0x%" PRIx64
           " programs=%" PRIu64 "\n", cbt_seed(DEFAULT_SEED),
           cbt_iters(DEFAULT_PROGS));
    return cmocka_run_group_tests_name("bus.prop_function_logging", tests,
                                       NULL, NULL);
}
