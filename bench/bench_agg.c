/*
 * bench_agg.c -- cost of the aggregation module (consumers/common/agg.h):
 * ns per histogram add, per cb_agg_call in the steady state (windows
 * closing and recycled as record time moves on), per percentile, per
 * merge, per encode/decode.
 *
 * Each case times blocks of operations with CLOCK_MONOTONIC (a block is
 * long enough that the clock read does not matter), repeats the block
 * `--repeat` times after a warm-up block, and prints one JSON line:
 *   {"bench":"agg","case":"hist_add","ns_median":..,"ns_p99":..,
 *    "ops":..,...}
 * (bench_common.h, "Output convention"). Single-threaded, pinned.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agg.h"
#include "bench_common.h"

#define MAX_REPEAT 101

static int g_repeat = 11;
static volatile uint64_t g_sink; /* keeps results alive */

/* splitmix64; values follow a log-normal around 100 us (sigma 1.5), a
 * typical latency mix. */
static uint64_t
next_rand(uint64_t *s)
{
    uint64_t z = (*s += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

static uint64_t *
latencies(size_t n)
{
    uint64_t *v = malloc(n * sizeof(*v)), s = 42;
    if (!v) {
        fprintf(stderr, "bench_agg: out of memory for %zu values\n", n);
        exit(1);
    }
    for (size_t i = 0; i < n; i++) {
        double u = ((double)(next_rand(&s) >> 11) + 1) * 0x1p-53;
        double w = (double)(next_rand(&s) >> 11) * 0x1p-53;
        double z = sqrt(-2 * log(u)) * cos(2 * M_PI * w);
        v[i] = (uint64_t)exp(log(1e5) + 1.5 * z);
    }
    return v;
}

/* Runs fn(arg) (which performs `ops` operations) once to warm up, then
 * g_repeat times, and prints the case's JSON line. */
static void
run_case(const char *name, void (*fn)(void *), void *arg, uint64_t ops,
         const char *note)
{
    double ns[MAX_REPEAT];
    fn(arg);
    for (int r = 0; r < g_repeat; r++) {
        uint64_t t0 = bench_mono_ns();
        fn(arg);
        ns[r] = (double)(bench_mono_ns() - t0) / (double)ops;
    }
    struct jline j;
    j_begin(&j, "agg", name);
    j_num(&j, "ns_median", bench_percentile(ns, (size_t)g_repeat, 50));
    j_num(&j, "ns_p99", bench_percentile(ns, (size_t)g_repeat, 99));
    j_int(&j, "ops", (long long)ops);
    j_int(&j, "repeat", g_repeat);
    if (note)
        j_str(&j, "note", note);
    j_end(&j);
}

/* ---- cases --------------------------------------------------------------- */

#define NVAL (1u << 20)

struct hctx {
    struct cb_hist *h, *h2;
    const uint64_t *v;
    uint8_t *buf;
    size_t len;
};

static void
hist_add(void *p)
{
    struct hctx *c = p;
    cb_hist_reset(c->h);
    for (size_t i = 0; i < NVAL; i++)
        cb_hist_add(c->h, c->v[i]);
    g_sink += c->h->count;
}

static void
hist_percentile(void *p)
{
    struct hctx *c = p;
    uint64_t acc = 0;
    for (int i = 0; i < 10000; i++)
        acc += cb_hist_percentile(c->h, i % 2 ? 99.0 : 50.0);
    g_sink += acc;
}

static void
hist_merge(void *p)
{
    struct hctx *c = p;
    for (int i = 0; i < 1000; i++)
        cb_hist_merge(c->h2, c->h);
    g_sink += c->h2->count;
}

static void
hist_encode(void *p)
{
    struct hctx *c = p;
    for (int i = 0; i < 1000; i++)
        cb_hist_encode(c->h, c->buf, CB_HIST_ENCODED_MAX, &c->len);
    g_sink += c->len;
}

static void
hist_decode(void *p)
{
    struct hctx *c = p;
    for (int i = 0; i < 1000; i++)
        g_sink += (uint64_t)cb_hist_decode(c->buf, c->len, c->h2);
}

struct actx {
    struct cb_agg *a;
    uint32_t keys[64];
    const uint64_t *v;
    uint64_t ts;
    uint64_t closed;
};

static void
count_close(void *arg, const struct cb_agg_window *w)
{
    struct actx *c = arg;
    c->closed += w->n;
}

/* 64 functions, calls 1 us of record time apart: a 10 s window holds 10M
 * records, so windows close (and are recycled) every 10M calls; the
 * record time advances 1 us per call. */
static void
agg_call(void *p)
{
    struct actx *c = p;
    for (size_t i = 0; i < NVAL; i++) {
        c->ts += 1000;
        cb_agg_call(c->a, c->keys[i & 63], c->ts, c->v[i],
                    (i & 31) ? CB_AGG_OK : CB_AGG_ERROR, -5);
    }
}

/* The same with a window closing every 16 Ki records: the close,
 * callback and recycling are part of the cost. */
static void
agg_call_closing(void *p)
{
    struct actx *c = p;
    for (size_t i = 0; i < NVAL; i++) {
        c->ts += 10000000000u / 16384;
        cb_agg_call(c->a, c->keys[i & 63], c->ts, c->v[i], CB_AGG_OK, 0);
    }
}

static int
agg_setup(struct actx *c, const uint64_t *v)
{
    memset(c, 0, sizeof(*c));
    c->v = v;
    c->ts = UINT64_C(1700000000) * 1000000000u;
    struct cb_agg_opts o = {.on_close = count_close, .arg = c};
    int rc = cb_agg_create(&o, &c->a);
    char name[32];
    for (int k = 0; rc == 0 && k < 64; k++) {
        snprintf(name, sizeof(name), "fn_%02d", k);
        rc = cb_agg_key(c->a, CB_AGG_FUNCTION, name, NULL, &c->keys[k]);
    }
    return rc;
}

static void
usage(FILE *out)
{
    fprintf(out,
            "usage: bench_agg [--repeat N] [--cpu N]\n"
            "Times the aggregation module: histogram add, percentile,\n"
            "merge, encode/decode, and cb_agg_call in the steady state.\n"
            "Prints one JSON line per case on stdout (ns_median, ns_p99\n"
            "per operation over N timed blocks; default 11).\n"
            "  --repeat N  timed blocks per case (1..%d)\n"
            "  --cpu N     pin to CPU N (default: the highest allowed)\n"
            "  --help      this text\n",
            MAX_REPEAT);
}

static int
parse_args(int argc, char **argv, int *cpu)
{
    static const struct option opts[] = {{"repeat", 1, NULL, 'r'},
                                         {"cpu", 1, NULL, 'c'},
                                         {"help", 0, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    int ch;
    while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        char *end;
        long x = 0;
        if (ch == 'r' || ch == 'c') {
            errno = 0;
            x = strtol(optarg, &end, 10);
            if (errno || *end || x < 0 || (ch == 'r' && x < 1) ||
                x > (ch == 'r' ? MAX_REPEAT : 4096)) {
                fprintf(stderr,
                        "bench_agg: --%s '%s' is not valid; see "
                        "--help\n",
                        ch == 'r' ? "repeat" : "cpu", optarg);
                return 2;
            }
        }
        switch (ch) {
        case 'r':
            g_repeat = (int)x;
            break;
        case 'c':
            *cpu = (int)x;
            break;
        case 'h':
            usage(stdout);
            return 1;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "bench_agg: unexpected argument '%s'; see --help\n",
                argv[optind]);
        return 2;
    }
    return 0;
}

int
main(int argc, char **argv)
{
    int cpu = -1;
    int rc = parse_args(argc, argv, &cpu);
    if (rc)
        return rc == 1 ? 0 : rc;
    bench_save_affinity();
    if (cpu < 0)
        cpu = bench_default_cpu();
    if (bench_pin(cpu) != 0)
        fprintf(stderr, "bench_agg: could not pin to CPU %d; unpinned\n", cpu);
    uint64_t *v = latencies(NVAL);
    struct hctx h = {.h = malloc(sizeof(struct cb_hist)),
                     .h2 = malloc(sizeof(struct cb_hist)),
                     .v = v,
                     .buf = malloc(CB_HIST_ENCODED_MAX)};
    if (!h.h || !h.h2 || !h.buf) {
        fprintf(stderr, "bench_agg: out of memory\n");
        return 1;
    }
    cb_hist_init(h.h);
    cb_hist_init(h.h2);
    run_case("hist_add", hist_add, &h, NVAL, "log-normal values");
    run_case("hist_percentile", hist_percentile, &h, 10000,
             "p50/p99 of 1 Mi values");
    run_case("hist_merge", hist_merge, &h, 1000, "1 Mi-value histogram");
    run_case("hist_encode", hist_encode, &h, 1000, NULL);
    struct jline j;
    j_begin(&j, "agg", "hist_encoded_size");
    j_int(&j, "bytes", (long long)h.len);
    j_int(&j, "struct_bytes", (long long)sizeof(struct cb_hist));
    j_end(&j);
    run_case("hist_decode", hist_decode, &h, 1000, NULL);

    struct actx c;
    if (agg_setup(&c, v) != 0) {
        fprintf(stderr, "bench_agg: cb_agg setup failed\n");
        return 1;
    }
    run_case("agg_call", agg_call, &c, NVAL, "64 keys, 1 window open");
    cb_agg_destroy(c.a);
    if (agg_setup(&c, v) != 0) {
        fprintf(stderr, "bench_agg: cb_agg setup failed\n");
        return 1;
    }
    run_case("agg_call_closing", agg_call_closing, &c, NVAL,
             "64 keys, a window closes every 16 Ki calls");
    cb_agg_destroy(c.a);
    free(h.h);
    free(h.h2);
    free(h.buf);
    free(v);
    return 0;
}
