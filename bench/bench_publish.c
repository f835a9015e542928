/*
 * bench_publish.c -- what one record costs the instrumented thread.
 *
 * Subjects, each timed in the same run on a pinned CPU:
 *   floor      an empty loop with one read of the producer's clock (rdtsc
 *              where clipbus uses the TSC, else clock_gettime);
 *   cb_count   cb_count("x", 1): one record;
 *   monitor    a noinline function whose body is CB_MONITOR_EXECUTION with
 *              two int parameters: two clock reads, in-flight push/pop,
 *              one record;
 * each with 0, 1 and 3 reader processes attached (bench_reader in its
 * default waiting mode), with 1 reader stopped by SIGSTOP, and, labelled
 * "busy", with 1 and 3 readers that spin on cb_bus_poll.
 * Baselines: the same event through LTTng-UST with an active session (one
 * tracepoint per call, and an entry+exit pair per call), fprintf of the
 * event to a file, and one SQLite INSERT per call in autocommit mode.
 *
 * How it is timed: operations run in blocks of 64; the tick counter (rdtsc
 * here) is read once between blocks, so every block has its own time. A
 * row's ns_median and ns_p99 are percentiles over all blocks of the row
 * (block time / 64), so p99 shows interrupts and preemption; batch_ns_* are
 * over whole batches (each `--ops` operations). The between-block read
 * costs every subject the same (~1/64 of a clock read per op). SQLite rows
 * time every operation singly. One warm-up batch of each subject is run
 * and dropped before every measured sequence. Reader configurations are
 * visited in `--rounds` rounds (rotated order), so drift of a shared
 * machine spreads over all of them instead of biasing one.
 */
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <getopt.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench_common.h"
#include "bus_int.h" /* cb__clock_tsc, cb__prod: which clock and ring size */
#include "clipbus/clipbus.h"
#include "clipbus/reader.h"

#if BENCH_HAVE_LTTNG
#include "bench_tp.h"
#endif

#define BLOCK 64

/* ------------------------------------------------------------------------
 * Options
 * ------------------------------------------------------------------------ */
static struct {
    long ops;          /* operations per batch */
    int batches;       /* measured batches per row */
    int rounds;        /* rounds over the reader configurations */
    int cpu;
    long sqlite_ops;
    double sqlite_max_s; /* time cap of the SQLite row */
    long baseline_div; /* LTTng and fprintf batches are ops / this */
    const char *tmpdir;
    int no_lttng, no_sqlite, no_readers, no_fprintf;
    int lttng_count;   /* count the trace's events with babeltrace2 */
    const char *only;
    int is_short;
} opt;

static char busname[64];
static double tpn; /* ticks per ns */
static double lt_med[2] = {-1, -1}; /* LTTng event, pair: medians */

/* ------------------------------------------------------------------------
 * Subjects. Each block function runs BLOCK operations.
 * ------------------------------------------------------------------------ */
static volatile uint64_t sink;

static void
blk_floor_tsc(uint64_t base)
{
    uint64_t acc = base;
    for (unsigned k = 0; k < BLOCK; k++) {
#if BENCH_HAVE_TSC
        acc += (uint64_t)__rdtsc();
#else
        acc += bench_mono_ns();
#endif
        __asm__ volatile("" : "+r"(acc));
    }
    sink = acc;
}

static void
blk_floor_mono(uint64_t base)
{
    uint64_t acc = base;
    for (unsigned k = 0; k < BLOCK; k++) {
        acc += bench_mono_ns();
        __asm__ volatile("" : "+r"(acc));
    }
    sink = acc;
}

static void
blk_count(uint64_t base)
{
    (void)base;
    for (unsigned k = 0; k < BLOCK; k++)
        cb_count("x", 1);
}

static __attribute__((noinline)) int
f(int a, int b)
{
    CB_MONITOR_EXECUTION(CB_INT("a", a), CB_INT("b", b));
    return a + b;
}

static void
blk_monitor(uint64_t base)
{
    uint64_t acc = 0;
    for (unsigned k = 0; k < BLOCK; k++)
        acc += (uint64_t)f((int)(base + k), (int)k);
    sink = acc;
}

#if BENCH_HAVE_LTTNG
static __attribute__((noinline)) int
lt_one(int a, int b)
{
    lttng_ust_tracepoint(clipbus_bench, call_entry, a, b);
    return a + b;
}

static __attribute__((noinline)) int
lt_pair(int a, int b)
{
    int r;

    lttng_ust_tracepoint(clipbus_bench, call_entry, a, b);
    r = a + b;
    lttng_ust_tracepoint(clipbus_bench, call_exit, r, 0);
    return r;
}

static void
blk_lttng1(uint64_t base)
{
    uint64_t acc = 0;
    for (unsigned k = 0; k < BLOCK; k++)
        acc += (uint64_t)lt_one((int)(base + k), (int)k);
    sink = acc;
}

static void
blk_lttng2(uint64_t base)
{
    uint64_t acc = 0;
    for (unsigned k = 0; k < BLOCK; k++)
        acc += (uint64_t)lt_pair((int)(base + k), (int)k);
    sink = acc;
}
#endif

static FILE *fp_out;

static __attribute__((noinline)) int
fp_one(int a, int b)
{
    fprintf(fp_out, "f ts=%llu a=%d b=%d\n", (unsigned long long)bench_ticks(),
            a, b);
    return a + b;
}

static void
blk_fprintf(uint64_t base)
{
    uint64_t acc = 0;
    for (unsigned k = 0; k < BLOCK; k++)
        acc += (uint64_t)fp_one((int)(base + k), (int)k);
    sink = acc;
}

/* ------------------------------------------------------------------------
 * Timing
 * ------------------------------------------------------------------------ */
struct samples {
    double *blk;     /* ns/op per block */
    size_t nblk, cap;
    double *batch;   /* ns/op per batch */
    size_t nbatch, bcap;
};

static void
samples_add_blk(struct samples *s, double v)
{
    if (s->nblk == s->cap) {
        s->cap = s->cap ? 2 * s->cap : 65536;
        s->blk = realloc(s->blk, s->cap * sizeof *s->blk);
        if (s->blk == NULL) {
            fprintf(stderr, "bench_publish: out of memory\n");
            exit(1);
        }
    }
    s->blk[s->nblk++] = v;
}

static void
samples_add_batch(struct samples *s, double v)
{
    if (s->nbatch == s->bcap) {
        s->bcap = s->bcap ? 2 * s->bcap : 64;
        s->batch = realloc(s->batch, s->bcap * sizeof *s->batch);
        if (s->batch == NULL) {
            fprintf(stderr, "bench_publish: out of memory\n");
            exit(1);
        }
    }
    s->batch[s->nbatch++] = v;
}

static void
samples_free(struct samples *s)
{
    free(s->blk);
    free(s->batch);
    memset(s, 0, sizeof *s);
}

static long
nblk_warm(long ops)
{
    return ops / BLOCK > 0 ? ops / BLOCK : 1;
}

/* Runs `batches` batches of `ops` operations (rounded to blocks) after one
 * unrecorded warm-up batch; appends to *s. */
static void
run_batches(void (*fn)(uint64_t), long ops, int batches, struct samples *s)
{
    long nblk = nblk_warm(ops);
    uint64_t base = 0;

    for (long j = 0; j < nblk; j++)
        fn(base += BLOCK);
    for (int b = 0; b < batches; b++) {
        uint64_t t_start = bench_ticks(), t_prev = t_start, t;
        for (long j = 0; j < nblk; j++) {
            fn(base += BLOCK);
            t = bench_ticks();
            samples_add_blk(s, (double)(t - t_prev) / tpn / BLOCK);
            t_prev = t;
        }
        samples_add_batch(s, (double)(t_prev - t_start) / tpn /
                                 (double)(nblk * BLOCK));
    }
}

struct row_stats {
    double med, p99, bmed, bp99;
    long long records;
};

static struct row_stats
stats_of(struct samples *s)
{
    struct row_stats r;

    r.med = bench_percentile(s->blk, s->nblk, 50);
    r.p99 = bench_percentile(s->blk, s->nblk, 99);
    r.bmed = bench_percentile(s->batch, s->nbatch, 50);
    r.bp99 = bench_percentile(s->batch, s->nbatch, 99);
    r.records = (long long)s->nblk * BLOCK;
    return r;
}

static void
j_stats(struct jline *j, const struct row_stats *r)
{
    j_num(j, "ns_median", r->med);
    j_num(j, "ns_p99", r->p99);
    j_num(j, "batch_ns_median", r->bmed);
    j_num(j, "batch_ns_p99", r->bp99);
    j_int(j, "records", r->records);
}

static void
skip_row(const char *cas, const char *why)
{
    struct jline j;

    fprintf(stderr, "bench_publish: %s skipped: %s\n", cas, why);
    j_begin(&j, "publish", cas);
    j_str(&j, "skipped", why);
    j_end(&j);
}

/* ------------------------------------------------------------------------
 * clipbus subjects x reader configurations
 * ------------------------------------------------------------------------ */
struct rcfg {
    const char *label;  /* case suffix */
    int readers;
    int busy;
    int stopped;
};

static const struct rcfg rcfgs[] = {
    {"readers=0", 0, 0, 0},
    {"readers=1", 1, 0, 0},
    {"readers=3", 3, 0, 0},
    {"readers=1-stopped", 1, 0, 1},
    {"readers=1-busy", 1, 1, 0},
    {"readers=3-busy", 3, 1, 0},
};
#define NCFG (sizeof rcfgs / sizeof rcfgs[0])

struct subject {
    const char *name;
    void (*fn)(uint64_t);
};

#define NSUBJ 3
static struct subject subjects[NSUBJ] = {
    {"floor", blk_floor_tsc},
    {"cb_count", blk_count},
    {"monitor", blk_monitor},
};

struct cell {
    struct samples s;
    long long lost, delivered;
    double reader_cpu_s, wall_s;
    int reader_fail;
};
static struct cell cells[NSUBJ][NCFG];

static int
readers_start(const struct rcfg *c, struct bench_reader *rd)
{
    const char *path = bench_reader_path();

    for (int i = 0; i < c->readers; i++) {
        char *argv[] = {"bench_reader", "--bus", busname, "--from-now",
                        c->busy ? "--busy" : NULL, NULL};
        if (bench_reader_start(&rd[i], path, argv, 10000) != 0) {
            for (int k = 0; k < i; k++)
                bench_reader_finish(&rd[k], 5000);
            return -1;
        }
        if (c->stopped)
            bench_reader_pause(&rd[i]);
    }
    return 0;
}

static void
readers_finish(const struct rcfg *c, struct bench_reader *rd, struct cell *cl)
{
    for (int i = 0; i < c->readers; i++) {
        int rc = bench_reader_finish(&rd[i], 10000);
        if (rc != 0 || rd[i].last[0] == '\0')
            cl->reader_fail++;
        cl->lost += bench_json_int(rd[i].last, "lost", 0);
        cl->delivered += bench_json_int(rd[i].last, "delivered", 0);
        cl->reader_cpu_s += rd[i].cpu_s;
    }
}

static int
want(const char *name)
{
    return opt.only == NULL || strcmp(opt.only, name) == 0;
}

static void
run_clipbus(void)
{
    int per_round = (opt.batches + opt.rounds - 1) / opt.rounds;
    size_t ncfg = opt.no_readers ? 1 : NCFG;
    int cpus = bench_cpus_allowed(), any = 0;

    for (int si = 0; si < NSUBJ; si++)
        any |= want(subjects[si].name);
    if (!any)
        return;

    for (int round = 0; round < opt.rounds; round++) {
        for (size_t k = 0; k < ncfg; k++) {
            size_t ci = (k + (size_t)round) % ncfg;
            const struct rcfg *c = &rcfgs[ci];
            fprintf(stderr, "bench_publish: round %d/%d, %s\n", round + 1,
                    opt.rounds, c->label);
            for (int si = 0; si < NSUBJ; si++) {
                struct bench_reader rd[3];
                struct cell *cl = &cells[si][ci];
                uint64_t t0;
                if (!want(subjects[si].name))
                    continue;
                if (readers_start(c, rd) != 0) {
                    cl->reader_fail++;
                    continue;
                }
                t0 = bench_mono_ns();
                run_batches(subjects[si].fn, opt.ops, per_round, &cl->s);
                cl->wall_s += (double)(bench_mono_ns() - t0) / 1e9;
                readers_finish(c, rd, cl);
            }
        }
    }
    for (int si = 0; si < NSUBJ; si++) {
        for (size_t ci = 0; ci < ncfg; ci++) {
            const struct rcfg *c = &rcfgs[ci];
            struct cell *cl = &cells[si][ci];
            char cas[96];
            struct jline j;
            struct row_stats r;
            if (!want(subjects[si].name))
                continue;
            snprintf(cas, sizeof cas, "%s/%s", subjects[si].name, c->label);
            if (cl->s.nblk == 0) {
                skip_row(cas, "the reader processes did not start");
                continue;
            }
            r = stats_of(&cl->s);
            j_begin(&j, "publish", cas);
            j_str(&j, "subject", subjects[si].name);
            j_stats(&j, &r);
            j_int(&j, "lost", cl->lost);
            j_int(&j, "readers", c->readers);
            j_str(&j, "reader_mode", c->stopped ? "stopped"
                                     : c->busy  ? "busy"
                                                : "wait");
            j_int(&j, "reader_delivered", cl->delivered);
            j_num(&j, "reader_cpu_pct",
                  cl->wall_s > 0 ? 100.0 * cl->reader_cpu_s / cl->wall_s : 0);
            if (cl->reader_fail)
                j_int(&j, "reader_failures", cl->reader_fail);
            if (c->readers > 0 && c->busy && c->readers + 1 > cpus) {
                char note[96];
                snprintf(note, sizeof note,
                         "%d busy readers + producer oversubscribe %d CPUs",
                         c->readers, cpus);
                j_str(&j, "note", note);
            }
            j_int(&j, "cpu", opt.cpu);
            j_end(&j);
        }
    }
}

/* ------------------------------------------------------------------------
 * LTTng-UST baseline
 * ------------------------------------------------------------------------ */
/* Runs a shell command, captures its output (cut) in out; returns its
 * exit status, or -1. */
static int
run_cmd(const char *cmd, char *out, size_t cap)
{
    FILE *p = popen(cmd, "r");
    size_t len = 0;
    int st;

    if (out && cap)
        out[0] = '\0';
    if (p == NULL)
        return -1;
    for (;;) {
        char buf[512];
        size_t n = fread(buf, 1, sizeof buf, p);
        if (n == 0)
            break;
        if (out && len + 1 < cap) {
            size_t m = n < cap - 1 - len ? n : cap - 1 - len;
            memcpy(out + len, buf, m);
            len += m;
            out[len] = '\0';
        }
    }
    st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* The first line of s, cut, for a one-line reason. */
static void
first_line(char *dst, size_t cap, const char *prefix, const char *s)
{
    size_t n;

    while (*s == '\n' || *s == ' ')
        s++;
    n = strcspn(s, "\n");
    snprintf(dst, cap, "%s%.*s", prefix, (int)(n < 200 ? n : 200), s);
}

static int
rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(p);
}

static void
rm_tree(const char *dir)
{
    nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

#if BENCH_HAVE_LTTNG
static void
run_lttng(const char *workdir)
{
    char sess[64], cmd[1400], out[4096], why[300], trace[600];
    struct samples s1 = {0}, s2 = {0}, s0 = {0};
    struct row_stats r1, r2, r0;
    long ops = opt.ops / opt.baseline_div;
    long long discarded = 0;
    struct jline j;
    int rc;
    uint64_t t0;
    const char *p;

    /* Disabled tracepoints first (no session yet): the cost when nothing
     * records. */
    run_batches(blk_lttng2, ops, opt.batches, &s0);
    r0 = stats_of(&s0);
    j_begin(&j, "publish", "lttng_pair_disabled");
    j_stats(&j, &r0);
    j_int(&j, "lost", 0);
    j_str(&j, "note", "entry+exit tracepoints, no session recording");
    j_end(&j);
    samples_free(&s0);

    snprintf(sess, sizeof sess, "cbbench-%d", (int)getpid());
    snprintf(trace, sizeof trace, "%s/lttng", workdir);
    if (run_cmd("command -v lttng >/dev/null 2>&1", NULL, 0) != 0) {
        skip_row("lttng_event", "the lttng command is not installed "
                                "(Debian package lttng-tools)");
        skip_row("lttng_pair", "the lttng command is not installed");
        return;
    }
    snprintf(cmd, sizeof cmd, "lttng create %s --output='%s' 2>&1", sess,
             trace);
    rc = run_cmd(cmd, out, sizeof out);
    if (rc != 0) {
        first_line(why, sizeof why, "lttng create failed (is lttng-sessiond "
                                    "running? run.sh starts one): ", out);
        skip_row("lttng_event", why);
        skip_row("lttng_pair", why);
        return;
    }
    snprintf(cmd, sizeof cmd,
             "lttng enable-event -u -s %s 'clipbus_bench:*' 2>&1 && "
             "lttng start %s 2>&1",
             sess, sess);
    rc = run_cmd(cmd, out, sizeof out);
    if (rc != 0) {
        first_line(why, sizeof why, "lttng enable-event/start failed: ", out);
        skip_row("lttng_event", why);
        skip_row("lttng_pair", why);
        goto destroy;
    }
    /* The sessiond tells this process asynchronously. */
    t0 = bench_mono_ns();
    while (!(lttng_ust_tracepoint_enabled(clipbus_bench, call_entry) &&
             lttng_ust_tracepoint_enabled(clipbus_bench, call_exit)) &&
           bench_mono_ns() - t0 < 5000000000u)
        usleep(10000);
    if (!lttng_ust_tracepoint_enabled(clipbus_bench, call_entry)) {
        snprintf(why, sizeof why,
                 "the session started but this process's tracepoints were "
                 "not enabled within 5 s (was lttng-sessiond running when "
                 "the benchmark started? LTTNG_UST_REGISTER_TIMEOUT?)");
        skip_row("lttng_event", why);
        skip_row("lttng_pair", why);
        goto stop;
    }
    run_batches(blk_lttng1, ops, opt.batches, &s1);
    run_batches(blk_lttng2, ops, opt.batches, &s2);
stop:
    snprintf(cmd, sizeof cmd, "lttng stop %s 2>&1", sess);
    run_cmd(cmd, out, sizeof out);
    p = strstr(out, "Warning: ");
    if (p != NULL && strstr(p, "events were discarded") != NULL)
        discarded = strtoll(p + 9, NULL, 10);
    if (s1.nblk) {
        r1 = stats_of(&s1);
        r2 = stats_of(&s2);
        j_begin(&j, "publish", "lttng_event");
        j_stats(&j, &r1);
        j_int(&j, "lost", discarded);
        j_str(&j, "note", "one tracepoint of two integers per call, session "
                          "recording; lost = events the session discarded "
                          "(both rows)");
        j_end(&j);
        j_begin(&j, "publish", "lttng_pair");
        j_stats(&j, &r2);
        r2.records *= 2;
        j_int(&j, "events", r2.records);
        j_int(&j, "lost", discarded);
        j_str(&j, "note", "entry+exit tracepoints per call (two events)");
        j_end(&j);
        lt_med[0] = r1.med;
        lt_med[1] = r2.med;
    }
destroy:
    if (s1.nblk && opt.lttng_count) {
        /* Everything recorded must be readable: events in the trace =
         * events fired - discarded. */
        snprintf(cmd, sizeof cmd, "babeltrace2 '%s' 2>/dev/null | wc -l",
                 trace);
        if (run_cmd(cmd, out, sizeof out) == 0) {
            /* r2.records already counts two events per call; each
             * subject also fired one warm-up batch. */
            long long want_ev = r1.records + r2.records +
                                3 * (long long)nblk_warm(ops) * BLOCK,
                      got = strtoll(out, NULL, 10);
            j_begin(&j, "publish", "lttng_trace_check");
            j_int(&j, "events_fired", want_ev);
            j_int(&j, "events_in_trace", got);
            j_int(&j, "discarded", discarded);
            j_bool(&j, "ok", got + discarded == want_ev);
            j_end(&j);
        }
    }
    snprintf(cmd, sizeof cmd, "lttng destroy %s >/dev/null 2>&1", sess);
    run_cmd(cmd, NULL, 0);
    rm_tree(trace);
    samples_free(&s1);
    samples_free(&s2);
}
#endif

/* ------------------------------------------------------------------------
 * fprintf and SQLite baselines
 * ------------------------------------------------------------------------ */
static const char *
fs_type(const char *dir)
{
    struct statfs sf;

    if (statfs(dir, &sf) != 0)
        return "?";
    switch ((unsigned long)sf.f_type) {
    case 0x01021994UL:
        return "tmpfs";
    case 0xEF53UL:
        return "ext4";
    case 0x9123683EUL:
        return "btrfs";
    case 0x58465342UL:
        return "xfs";
    case 0x794c7630UL:
        return "overlayfs";
    default:
        return "other";
    }
}

static double fp_med = -1;

static void
run_fprintf(const char *workdir)
{
    char path[600];
    struct samples s = {0};
    struct row_stats r;
    struct jline j;

    snprintf(path, sizeof path, "%s/fprintf.log", workdir);
    fp_out = fopen(path, "w");
    if (fp_out == NULL) {
        char why[700];
        snprintf(why, sizeof why, "cannot create %s: %s", path,
                 strerror(errno));
        skip_row("fprintf", why);
        return;
    }
    run_batches(blk_fprintf, opt.ops / opt.baseline_div, opt.batches, &s);
    fclose(fp_out);
    remove(path);
    r = stats_of(&s);
    fp_med = r.med;
    j_begin(&j, "publish", "fprintf");
    j_stats(&j, &r);
    j_int(&j, "lost", 0);
    j_str(&j, "fs", fs_type(workdir));
    j_str(&j, "note", "one line (timestamp, two ints) per call to a "
                      "stdio-buffered file");
    j_end(&j);
    samples_free(&s);
}

/* CB_TRACK_PERFORMANCE: the resource readings make system calls, so it
 * is measured on its own, singly timed, no readers: every call measured,
 * and every 16th (the sampled form, CLIPBUS_PERF_SLOW_US default). */
static __attribute__((noinline)) int
tracked(int a)
{
    CB_TRACK_PERFORMANCE(CB_INT("a", a));
    return a + 1;
}

static __attribute__((noinline)) int
tracked16(int a)
{
    CB_TRACK_PERFORMANCE_EVERY(16, CB_INT("a", a));
    return a + 1;
}

static void
run_track_one(const char *cas, int (*fn)(int), long n, const char *note)
{
    double *v = calloc((size_t)n, sizeof *v);
    struct jline j;
    volatile int acc = 0;

    if (v == NULL) {
        fprintf(stderr, "bench_publish: out of memory\n");
        exit(1);
    }
    for (long i = -n / 10; i < n; i++) { /* the first tenth warms up */
        uint64_t t0 = bench_ticks();
        acc += fn((int)i);
        if (i >= 0)
            v[i] = (double)(bench_ticks() - t0) / tpn;
    }
    j_begin(&j, "publish", cas);
    j_num(&j, "ns_median", bench_percentile(v, (size_t)n, 50));
    j_num(&j, "ns_p99", bench_percentile(v, (size_t)n, 99));
    j_int(&j, "records", n);
    j_str(&j, "note", note);
    j_end(&j);
    free(v);
    (void)acc;
}

static void
run_track(void)
{
    long n = opt.is_short ? 20000 : 200000;

    run_track_one("track_performance", tracked, n,
                  "CB_TRACK_PERFORMANCE, every call measured (thread CPU "
                  "clock, getrusage, /proc/self/statm: system calls); "
                  "readers=0, each call timed singly");
    run_track_one("track_performance_every16", tracked16, n,
                  "CB_TRACK_PERFORMANCE_EVERY(16, ...): mean cost of "
                  "sampled and unsampled calls; readers=0");
}

static void
run_sqlite(const char *workdir)
{
    char path[600], why[800];
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    double *v;
    long n = opt.sqlite_ops, bad = 0;
    uint64_t deadline;
    struct jline j;
    struct row_stats r;
    int rc;

    snprintf(path, sizeof path, "%s/calls.db", workdir);
    rc = sqlite3_open(path, &db);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(db,
                          "CREATE TABLE calls(ts INTEGER, name TEXT, "
                          "a INTEGER, b INTEGER)",
                          NULL, NULL, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(db,
                                "INSERT INTO calls(ts, name, a, b) "
                                "VALUES(?, 'f', ?, ?)",
                                -1, &st, NULL);
    if (rc != SQLITE_OK) {
        snprintf(why, sizeof why, "sqlite %s: %s", path,
                 db ? sqlite3_errmsg(db) : "cannot open");
        skip_row("sqlite_insert", why);
        sqlite3_close(db);
        return;
    }
    v = calloc((size_t)n, sizeof *v);
    if (v == NULL) {
        fprintf(stderr, "bench_publish: out of memory\n");
        exit(1);
    }
    deadline = bench_mono_ns() + (uint64_t)(opt.sqlite_max_s * 1e9);
    for (long i = -n / 10; i < n; i++) { /* the first tenth warms up */
        uint64_t t0 = bench_ticks();
        if (i > 10 && bench_mono_ns() > deadline) {
            fprintf(stderr, "bench_publish: sqlite: stopped after %ld "
                            "INSERTs (--sqlite-max-s %.0f)\n", i,
                    opt.sqlite_max_s);
            n = i;
            break;
        }
        sqlite3_bind_int64(st, 1, (sqlite3_int64)t0);
        sqlite3_bind_int(st, 2, (int)i);
        sqlite3_bind_int(st, 3, (int)(i & 63));
        if (sqlite3_step(st) != SQLITE_DONE)
            bad++;
        sqlite3_reset(st);
        if (i >= 0)
            v[i] = (double)(bench_ticks() - t0) / tpn;
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    remove(path);
    r.med = bench_percentile(v, (size_t)n, 50);
    r.p99 = bench_percentile(v, (size_t)n, 99);
    j_begin(&j, "publish", "sqlite_insert");
    j_num(&j, "ns_median", r.med);
    j_num(&j, "ns_p99", r.p99);
    j_int(&j, "records", n);
    j_int(&j, "lost", bad);
    j_str(&j, "fs", fs_type(workdir));
    j_str(&j, "note", "one INSERT per call, autocommit, default journal "
                      "(rollback, synchronous=FULL), file database; each "
                      "call timed singly");
    j_end(&j);
    free(v);
}

/* ------------------------------------------------------------------------
 * Ratios against the targets of issue 3
 * ------------------------------------------------------------------------ */
static double
cell_bmed(int si, size_t ci)
{
    struct cell *cl = &cells[si][ci];

    if (cl->s.nbatch == 0)
        return -1;
    return bench_percentile(cl->s.batch, cl->s.nbatch, 50);
}

static double
cell_med(int si, size_t ci)
{
    struct cell *cl = &cells[si][ci];
    double *tmp;
    double m;

    if (cl->s.nblk == 0)
        return -1;
    /* stats_of() sorted it already; the percentile is stable. */
    tmp = cl->s.blk;
    m = bench_percentile(tmp, cl->s.nblk, 50);
    return m;
}

static void
ratio_line(const char *cas, double value, const char *unit,
           const char *target, int pass, const char *note)
{
    struct jline j;

    j_begin(&j, "publish", cas);
    j_num(&j, "value", value);
    j_str(&j, "unit", unit);
    j_str(&j, "target", target);
    j_str(&j, "verdict", pass ? "PASS" : "MISS");
    if (note)
        j_str(&j, "note", note);
    j_end(&j);
}

static void
print_ratios(void)
{
    double floor0 = cell_med(0, 0), count0 = cell_med(1, 0),
           mon0 = cell_med(2, 0);

#if BENCH_HAVE_LTTNG
    if (mon0 > 0 && lt_med[1] > 0)
        ratio_line("ratio/monitor_vs_lttng_pair", mon0 / lt_med[1], "ratio",
                   "<= 0.1", mon0 / lt_med[1] <= 0.1,
                   "monitored call (0 readers) / LTTng entry+exit pair, "
                   "medians");
    if (mon0 > 0 && lt_med[0] > 0)
        ratio_line("ratio/monitor_vs_2x_lttng_event", mon0 / (2 * lt_med[0]),
                   "ratio", "<= 0.1", mon0 / (2 * lt_med[0]) <= 0.1,
                   "monitored call / twice one LTTng event, medians");
#endif
    if (count0 > 0 && floor0 > 0)
        ratio_line("ratio/cb_count_minus_floor", count0 - floor0, "ns",
                   "<= 2 ns", count0 - floor0 <= 2.0,
                   "cb_count - floor, medians, 0 readers");
    if (opt.no_readers)
        return;
    for (int k = 0; k < 2 * (NSUBJ - 1); k++) {
        int si = 1 + k % (NSUBJ - 1), wall = k >= NSUBJ - 1;
        double m[NCFG], lo, hi;
        char cas[96];
        struct jline j;
        int have = 1;
        for (size_t ci = 0; ci < NCFG; ci++) {
            m[ci] = wall ? cell_bmed(si, ci) : cell_med(si, ci);
            if (ci < 4 && m[ci] <= 0)
                have = 0;
        }
        if (!have)
            continue;
        /* The target: 0 readers, 3 waiting readers, 1 stopped reader. */
        lo = hi = m[0];
        for (size_t ci = 2; ci <= 3; ci++) {
            lo = m[ci] < lo ? m[ci] : lo;
            hi = m[ci] > hi ? m[ci] : hi;
        }
        snprintf(cas, sizeof cas, "ratio/readers_spread%s/%s",
                 wall ? "_wall" : "", subjects[si].name);
        j_begin(&j, "publish", cas);
        j_num(&j, "value", (hi - lo) / lo);
        j_str(&j, "unit", "fraction");
        j_str(&j, "target", "< 0.05");
        j_str(&j, "verdict", (hi - lo) / lo < 0.05 ? "PASS" : "MISS");
        j_num(&j, "rel_readers1", m[1] / m[0] - 1);
        j_num(&j, "rel_readers3", m[2] / m[0] - 1);
        j_num(&j, "rel_stopped1", m[3] / m[0] - 1);
        if (m[4] > 0)
            j_num(&j, "rel_busy1", m[4] / m[0] - 1);
        if (m[5] > 0)
            j_num(&j, "rel_busy3", m[5] / m[0] - 1);
        j_str(&j, "note",
              wall ? "(max-min)/min of the batch medians (wall time per "
                     "op, includes CPU the readers take from the producer) "
                     "with 0 readers, 3 waiting readers, 1 stopped reader; "
                     "rel_* = vs 0 readers"
                   : "(max-min)/min of the block medians (record cost while "
                     "the producer runs) with 0 readers, 3 waiting readers, "
                     "1 stopped reader; rel_* = vs 0 readers");
        j_end(&j);
    }
}

/* ------------------------------------------------------------------------
 * Main
 * ------------------------------------------------------------------------ */
static void
usage(FILE *out)
{
    fprintf(out,
        "usage: bench_publish [options]\n"
        "Per-record cost of clipbus on the instrumented thread, with 0/1/3 "
        "reader processes,\na stopped reader and busy readers, against "
        "LTTng-UST, fprintf and SQLite baselines.\nOne JSON line per result "
        "on stdout, notes on stderr.\n"
        "  --ops N          operations per batch (default 1000000; short "
        "200000)\n"
        "  --batches N      measured batches per row (default 21; short 6)\n"
        "  --rounds N       rounds over the reader configurations (default "
        "3; short 2)\n"
        "  --cpu N          CPU to pin the producer to (default: the highest "
        "allowed)\n"
        "  --sqlite-ops N   SQLite INSERTs (default 2000; short 300)\n"
        "  --sqlite-max-s S stop the SQLite row after S seconds (default 60; "
        "short 10)\n"
        "  --baseline-div N LTTng and fprintf batches are ops/N (default 10)\n"
        "  --tmpdir DIR     where the fprintf file, SQLite DB and LTTng trace "
        "go\n"
        "                   (default $TMPDIR, else /var/tmp)\n"
        "  --only SUBJECT   floor|cb_count|monitor|lttng|fprintf|sqlite\n"
        "  --no-readers     clipbus rows with 0 readers only\n"
        "  --no-lttng, --no-fprintf, --no-sqlite   skip that baseline\n"
        "  --lttng-count    check with babeltrace2 that the trace holds every "
        "event\n                   fired (minus discarded ones)\n"
        "  --short          a quick run (also BENCH_SHORT=1)\n"
        "Needs bench_reader beside it (or BENCH_READER=path). LTTng rows need "
        "a running\nlttng-sessiond (bench/run.sh starts one).\n");
}

static long
parse_long(const char *opt_name, const char *s, long lo, long hi)
{
    char *end;
    long v;

    errno = 0;
    v = strtol(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < lo || v > hi) {
        fprintf(stderr, "bench_publish: %s '%s' must be an integer in "
                        "[%ld, %ld]\n", opt_name, s, lo, hi);
        exit(2);
    }
    return v;
}

static void
on_fatal_signal(int sig)
{
    bench_readers_kill_all();
    bench_bus_cleanup(busname);
    signal(sig, SIG_DFL);
    raise(sig);
}

static void
at_exit_cleanup(void)
{
    bench_readers_kill_all();
    bench_bus_cleanup(busname);
}

int
main(int argc, char **argv)
{
    enum { O_OPS = 256, O_BATCHES, O_ROUNDS, O_CPU, O_SQLOPS, O_DIV, O_TMP,
           O_ONLY, O_NOREAD, O_NOLT, O_NOFP, O_NOSQL, O_SHORT, O_LTCOUNT, O_SQLMAX };
    static const struct option lo[] = {
        {"ops", required_argument, NULL, O_OPS},
        {"batches", required_argument, NULL, O_BATCHES},
        {"rounds", required_argument, NULL, O_ROUNDS},
        {"cpu", required_argument, NULL, O_CPU},
        {"sqlite-ops", required_argument, NULL, O_SQLOPS},
        {"baseline-div", required_argument, NULL, O_DIV},
        {"tmpdir", required_argument, NULL, O_TMP},
        {"only", required_argument, NULL, O_ONLY},
        {"no-readers", no_argument, NULL, O_NOREAD},
        {"no-lttng", no_argument, NULL, O_NOLT},
        {"no-fprintf", no_argument, NULL, O_NOFP},
        {"no-sqlite", no_argument, NULL, O_NOSQL},
        {"short", no_argument, NULL, O_SHORT},
        {"lttng-count", no_argument, NULL, O_LTCOUNT},
        {"sqlite-max-s", required_argument, NULL, O_SQLMAX},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *env_short = getenv("BENCH_SHORT");
    long ops = -1, batches = -1, rounds = -1, sqlops = -1;
    char workdir[512];
    struct jline j;
    int c, err;

    bench_save_affinity();
    opt.cpu = bench_default_cpu();
    opt.baseline_div = 10;
    opt.is_short = env_short != NULL && env_short[0] != '\0' &&
                   strcmp(env_short, "0") != 0;
    opt.tmpdir = getenv("TMPDIR");
    if (opt.tmpdir == NULL || opt.tmpdir[0] == '\0')
        opt.tmpdir = "/var/tmp";
    while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
        switch (c) {
        case O_OPS: ops = parse_long("--ops", optarg, BLOCK, 1L << 32); break;
        case O_BATCHES: batches = parse_long("--batches", optarg, 1, 100000);
            break;
        case O_ROUNDS: rounds = parse_long("--rounds", optarg, 1, 1000); break;
        case O_CPU: opt.cpu = (int)parse_long("--cpu", optarg, 0, 4095); break;
        case O_SQLOPS: sqlops = parse_long("--sqlite-ops", optarg, 1, 1L << 30);
            break;
        case O_DIV: opt.baseline_div = parse_long("--baseline-div", optarg, 1,
                                                  1000000);
            break;
        case O_TMP: opt.tmpdir = optarg; break;
        case O_ONLY: opt.only = optarg; break;
        case O_NOREAD: opt.no_readers = 1; break;
        case O_NOLT: opt.no_lttng = 1; break;
        case O_NOFP: opt.no_fprintf = 1; break;
        case O_NOSQL: opt.no_sqlite = 1; break;
        case O_SHORT: opt.is_short = 1; break;
        case O_LTCOUNT: opt.lttng_count = 1; break;
        case O_SQLMAX:
            opt.sqlite_max_s = (double)parse_long("--sqlite-max-s", optarg, 1,
                                                  86400);
            break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind != argc) {
        fprintf(stderr, "bench_publish: unexpected argument '%s'; see "
                        "--help\n", argv[optind]);
        return 2;
    }
    if (opt.only != NULL && strcmp(opt.only, "floor") != 0 &&
        strcmp(opt.only, "cb_count") != 0 && strcmp(opt.only, "monitor") != 0 &&
        strcmp(opt.only, "track") != 0 &&
        strcmp(opt.only, "lttng") != 0 && strcmp(opt.only, "fprintf") != 0 &&
        strcmp(opt.only, "sqlite") != 0) {
        fprintf(stderr, "bench_publish: --only '%s' is not one of floor, "
                        "cb_count, monitor, lttng, fprintf, sqlite, track\n",
                opt.only);
        return 2;
    }
    opt.ops = ops > 0 ? ops : opt.is_short ? 200000 : 1000000;
    opt.batches = (int)(batches > 0 ? batches : opt.is_short ? 6 : 21);
    opt.rounds = (int)(rounds > 0 ? rounds : opt.is_short ? 2 : 3);
    if (opt.rounds > opt.batches)
        opt.rounds = opt.batches;
    opt.sqlite_ops = sqlops > 0 ? sqlops : opt.is_short ? 300 : 2000;
    if (!(opt.sqlite_max_s > 0))
        opt.sqlite_max_s = opt.is_short ? 10 : 60;

    snprintf(busname, sizeof busname, "bench-pub-%d", (int)getpid());
    atexit(at_exit_cleanup);
    signal(SIGINT, on_fatal_signal);
    signal(SIGTERM, on_fatal_signal);
    signal(SIGPIPE, SIG_IGN);

    /* Open the segment and claim this thread's ring before any reader. */
    err = cb_open(busname);
    if (err != 0) {
        fprintf(stderr, "bench_publish: cb_open(%s) failed: %s\n", busname,
                cb_strerror(err));
        return 1;
    }
    cb_count("x", 1);
    if (cb_state() != 0) {
        fprintf(stderr, "bench_publish: instrumentation is off: %s\n",
                cb_strerror(cb_state()));
        return 1;
    }
    if (!cb__clock_tsc)
        subjects[0].fn = blk_floor_mono;
    err = bench_pin(opt.cpu);
    if (err != 0) {
        fprintf(stderr, "bench_publish: cannot pin to CPU %d: %s (use "
                        "--cpu)\n", opt.cpu, strerror(-err));
        return 1;
    }
    tpn = bench_ticks_per_ns(200);
    snprintf(workdir, sizeof workdir, "%s/clipbus-bench-XXXXXX", opt.tmpdir);
    if (mkdtemp(workdir) == NULL) {
        fprintf(stderr, "bench_publish: cannot create a directory in %s: %s "
                        "(use --tmpdir)\n", opt.tmpdir, strerror(errno));
        return 1;
    }

    j_begin(&j, "publish", "config");
    j_str(&j, "clock", cb__clock_tsc ? "tsc" : "clock_monotonic");
    j_num(&j, "ticks_per_ns", tpn);
    j_int(&j, "cpu", opt.cpu);
    j_int(&j, "cpus_allowed", bench_cpus_allowed());
    j_int(&j, "ring_records", cb__prod.ring_records);
    j_int(&j, "ops_per_batch", opt.ops);
    j_int(&j, "batches", opt.batches);
    j_int(&j, "rounds", opt.rounds);
    j_int(&j, "block", BLOCK);
    j_bool(&j, "short", opt.is_short);
    j_str(&j, "timing", "ns_median/ns_p99 over blocks of 64 ops; "
                        "batch_ns_* over batches");
    j_end(&j);

    run_clipbus();
    if (!opt.no_lttng && want("lttng")) {
#if BENCH_HAVE_LTTNG
        run_lttng(workdir);
#else
        skip_row("lttng_event", "built without lttng-ust (pkg-config "
                                "lttng-ust not found: install "
                                "liblttng-ust-dev)");
        skip_row("lttng_pair", "built without lttng-ust");
#endif
    }
    if (!opt.no_fprintf && want("fprintf"))
        run_fprintf(workdir);
    if (!opt.no_sqlite && want("sqlite"))
        run_sqlite(workdir);
    if (want("track"))
        run_track();
    print_ratios();
    rm_tree(workdir);
    (void)fp_med;
    return 0;
}
