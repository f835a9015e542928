/*
 * bench_throughput.c -- one producer thread to one reader process:
 * records/s delivered and lost flat out, and the zero-loss rate.
 *
 * Each trial is two fresh processes on a private bus:
 *   producer  a forked child, pinned; CLIPBUS_RING_RECORDS set (or unset
 *             for the default ring) before its segment opens. It claims its
 *             ring, writes one lap of warm-up records (so page faults of
 *             the ring are not in the measurement), waits for "go", then
 *             writes N records cb_count("seq", i), i = 0..N-1, flat out or
 *             paced by spinning on rdtsc until each record's due time (one
 *             period after the previous one's; a producer that was
 *             preempted catches up by at most PACE_DEBT records, then the
 *             rest of the delay is forgiven and counted as a stall), and
 *             exits (its segment is marked exited).
 *   reader    bench_reader --verify --until-exit in its default waiting
 *             mode (poll; when nothing is there, cb_bus_wait 10 ms), not
 *             pinned. It checks that the seq values rise strictly, that
 *             every gap is matched by records its cursor counted lost, and
 *             that delivered + lost = published (the ring's head).
 * A trial "loses nothing" when the reader verified the stream and lost 0.
 *
 * Zero-loss rate: geometric bisection between the lowest rate tried
 * (--min-rate) and the flat-out rate, until the bounds are within 10 %,
 * --max-trials trials, or the time budget is spent; the result is the
 * highest rate at which a trial lost nothing (each trial is one run of N
 * records: a rare stall may make a rate fail that passed before, so the
 * number is "a rate at which 50 M records went through without loss").
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench_common.h"
#include "bus_int.h" /* cb__prod.ring_records */
#include "clipbus/clipbus.h"
#include "clipbus/reader.h"

static struct {
    long long records;
    int cpu;
    int max_trials;
    double budget_s;   /* per ring configuration, for the search */
    double min_rate;
    int is_short;
    int flat_only;
    const char *rings; /* comma list: "default,262144" */
} opt;

/* A paced producer that fell behind (preempted) catches up by at most this
 * many records at full speed; older debt is forgiven, so the offered rate
 * never exceeds the target for long (the stalls are counted). */
#define PACE_DEBT 4096

static char busname[64];
static double tpn;
static int is_child;

struct trial {
    double rate;          /* asked for; 0 = flat out */
    long long records;
    double elapsed_s;     /* producer: first to last record */
    double achieved;      /* records / elapsed_s */
    long long delivered, lost, published;
    long long seq_delivered; /* of the N measured records */
    long long ring_records;
    long long stalls;     /* producer fell > PACE_DEBT records behind */
    int verified;
    int ok;               /* the trial ran (processes worked) */
    double reader_cpu_s;
    char reader_line[1024];
};

/* ------------------------------------------------------------------------
 * The producer child
 * ------------------------------------------------------------------------ */
static void
write_all(int fd, const char *s)
{
    size_t n = strlen(s);

    while (n > 0) {
        ssize_t w = write(fd, s, n);
        if (w <= 0)
            return;
        s += w;
        n -= (size_t)w;
    }
}

static __attribute__((noreturn)) void
producer_child(const char *ring, double rate, long long n, int to_parent,
               int from_parent)
{
    char line[128], c;
    uint64_t t0, t1;
    unsigned long long stalls = 0;
    int err;

    is_child = 1;
    if (ring == NULL)
        unsetenv("CLIPBUS_RING_RECORDS");
    else
        setenv("CLIPBUS_RING_RECORDS", ring, 1);
    if (bench_pin(opt.cpu) != 0)
        fprintf(stderr, "bench_throughput: cannot pin the producer to CPU "
                        "%d\n", opt.cpu);
    err = cb_open(busname);
    if (err != 0) {
        fprintf(stderr, "bench_throughput: producer cb_open(%s): %s\n",
                busname, cb_strerror(err));
        _exit(1);
    }
    /* Claim the ring and touch every page of it once, without lapping
     * the reader that will start from the oldest record (the ring also
     * holds the thread's first entry). */
    for (uint32_t i = 0; i + 64 < cb__prod.ring_records; i++)
        cb_gauge("warm", (double)i);
    if (cb_state() != 0) {
        fprintf(stderr, "bench_throughput: producer: instrumentation off: "
                        "%s\n", cb_strerror(cb_state()));
        _exit(1);
    }
    snprintf(line, sizeof line, "ready %u\n", cb__prod.ring_records);
    write_all(to_parent, line);
    if (read(from_parent, &c, 1) != 1)
        _exit(1);
    if (rate <= 0) {
        t0 = bench_ticks();
        for (long long i = 0; i < n; i++)
            cb_count("seq", i);
        t1 = bench_ticks();
    } else {
        double step = tpn * 1e9 / rate; /* ticks per record */
        double max_debt = PACE_DEBT * step;
        double due;
        t0 = bench_ticks();
        due = (double)t0;
        for (long long i = 0; i < n; i++) {
            uint64_t now;
            while ((double)(now = bench_ticks()) < due)
                ;
            if ((double)now - due > max_debt) {
                due = (double)now - max_debt; /* forgive a stall */
                stalls++;
            }
            cb_count("seq", i);
            due += step;
        }
        t1 = bench_ticks();
    }
    snprintf(line, sizeof line, "done %.0f %llu\n", (double)(t1 - t0) / tpn,
             stalls);
    write_all(to_parent, line);
    exit(0); /* atexit: cb_close() marks the segment exited */
}

/* ------------------------------------------------------------------------
 * One trial
 * ------------------------------------------------------------------------ */
static int
read_line_fd(int fd, char *buf, size_t cap)
{
    size_t len = 0;

    while (len + 1 < cap) {
        ssize_t r = read(fd, buf + len, 1);
        if (r <= 0)
            return -1;
        if (buf[len] == '\n')
            break;
        len++;
    }
    buf[len] = '\0';
    return (int)len;
}

static void
run_trial(const char *ring, double rate, long long n, struct trial *t)
{
    int up[2], down[2], st;
    char line[256], expect[32];
    pid_t pid;
    struct bench_reader rd;
    double secs;

    memset(t, 0, sizeof *t);
    t->rate = rate;
    t->records = n;
    bench_bus_cleanup(busname);
    if (pipe(up) != 0 || pipe(down) != 0) {
        fprintf(stderr, "bench_throughput: pipe: %s\n", strerror(errno));
        return;
    }
    fflush(stdout);
    fflush(stderr);
    pid = fork();
    if (pid < 0) {
        fprintf(stderr, "bench_throughput: fork: %s\n", strerror(errno));
        return;
    }
    if (pid == 0) {
        close(up[0]);
        close(down[1]);
        producer_child(ring, rate, n, up[1], down[0]);
    }
    close(up[1]);
    close(down[0]);
    if (read_line_fd(up[0], line, sizeof line) < 0 ||
        sscanf(line, "ready %lld", &t->ring_records) != 1) {
        fprintf(stderr, "bench_throughput: the producer did not start\n");
        goto out_kill;
    }
    snprintf(expect, sizeof expect, "%lld", n);
    {
        char tmo[32];
        /* Generous: the reader ends when the producer is drained. */
        secs = rate > 0 ? (double)n / rate : (double)n / 1e6;
        snprintf(tmo, sizeof tmo, "%.0f", secs * 3 + 60);
        char *argv[] = {"bench_reader", "--bus", busname, "--verify",
                        "--expect", expect, "--until-exit", "--timeout", tmo,
                        NULL};
        if (bench_reader_start(&rd, bench_reader_path(), argv, 15000) != 0)
            goto out_kill;
    }
    if (write(down[1], "g", 1) != 1)
        goto out_reader;
    if (read_line_fd(up[0], line, sizeof line) < 0 ||
        sscanf(line, "done %lf %lld", &t->elapsed_s, &t->stalls) != 2) {
        fprintf(stderr, "bench_throughput: the producer did not finish\n");
        goto out_reader;
    }
    t->elapsed_s /= 1e9;
    t->achieved = (double)n / t->elapsed_s;
    waitpid(pid, &st, 0);
    pid = 0;
    if (bench_reader_wait(&rd, (int)((secs * 3 + 60) * 1000)) != 0 &&
        rd.last[0] == '\0') {
        fprintf(stderr, "bench_throughput: the reader did not finish\n");
        goto out;
    }
    snprintf(t->reader_line, sizeof t->reader_line, "%s", rd.last);
    t->delivered = bench_json_int(rd.last, "delivered", -1);
    t->lost = bench_json_int(rd.last, "lost", -1);
    t->published = bench_json_int(rd.last, "published", -1);
    t->seq_delivered = bench_json_int(rd.last, "seq_delivered", -1);
    t->verified = bench_json_int(rd.last, "ok", 0) == 1;
    t->reader_cpu_s = rd.cpu_s;
    t->ok = t->delivered >= 0 && t->lost >= 0;
    if (!t->verified)
        fprintf(stderr, "bench_throughput: VERIFY FAILED: reader says %s\n",
                rd.last);
    goto out;
out_reader:
    bench_reader_finish(&rd, 5000);
out_kill:
    if (pid > 0) {
        kill(pid, SIGKILL);
        waitpid(pid, &st, 0);
    }
out:
    close(up[0]);
    close(down[1]);
    bench_bus_cleanup(busname);
}

static void
j_trial(struct jline *j, const struct trial *t)
{
    j_num(j, "ns_median", t->records > 0 && t->elapsed_s > 0
                              ? t->elapsed_s * 1e9 / (double)t->records
                              : NAN);
    j_null(j, "ns_p99");
    j_int(j, "records", t->records);
    j_int(j, "lost", t->lost);
    j_int(j, "delivered", t->delivered);  /* warm-up records included */
    j_int(j, "published", t->published);
    j_int(j, "ring_records", t->ring_records);
    j_num(j, "rate_target", t->rate);
    j_num(j, "rate_produced", t->achieved);
    j_int(j, "seq_delivered", t->seq_delivered);
    j_num(j, "rate_delivered",
          t->elapsed_s > 0 ? (double)t->seq_delivered / t->elapsed_s : 0);
    j_num(j, "reader_cpu_s", t->reader_cpu_s);
    if (t->rate > 0)
        j_int(j, "producer_stalls", t->stalls);
    j_bool(j, "verified", t->verified);
    j_int(j, "gap_episodes", bench_json_int(t->reader_line, "gap_episodes", -1));
    j_int(j, "first_gap_at", bench_json_int(t->reader_line, "first_gap_at", -1));
    j_int(j, "max_gap", bench_json_int(t->reader_line, "max_gap", -1));
}

/* ------------------------------------------------------------------------
 * Per ring configuration: flat out, then the zero-loss search
 * ------------------------------------------------------------------------ */
static void
run_ring(const char *ring)
{
    const char *label = ring ? ring : "default";
    char cas[96];
    struct trial flat, t;
    struct jline j;
    double lo = 0, hi, best = 0, best_target = 0, rate;
    int trials = 0, fails = 0;
    uint64_t t0;

    fprintf(stderr, "bench_throughput: ring=%s: flat out, %lld records\n",
            label, opt.records);
    run_trial(ring, 0, opt.records, &flat);
    snprintf(cas, sizeof cas, "flat_out/ring=%s", label);
    j_begin(&j, "throughput", cas);
    if (!flat.ok) {
        j_str(&j, "skipped", "the producer or reader process failed (see "
                             "stderr)");
        j_end(&j);
        return;
    }
    j_trial(&j, &flat);
    j_num(&j, "lost_per_s", (double)flat.lost / flat.elapsed_s);
    j_str(&j, "note", "producer unpaced; rates over the producer's time; "
                      "ns_median = producer ns/record");
    j_end(&j);
    if (opt.flat_only)
        return;

    snprintf(cas, sizeof cas, "zero_loss/ring=%s", label);
    if (flat.verified && flat.lost == 0) {
        /* The reader kept up with a flat-out producer. */
        j_begin(&j, "throughput", cas);
        j_num(&j, "rate", flat.achieved);
        j_int(&j, "records", flat.records);
        j_int(&j, "lost", 0);
        j_int(&j, "ring_records", flat.ring_records);
        j_str(&j, "bound", "producer");
        j_str(&j, "note", "no loss even flat out: the rate is the "
                          "producer's maximum");
        j_end(&j);
        return;
    }
    hi = flat.achieved;
    t0 = bench_mono_ns();
    rate = opt.min_rate;
    /* First prove the floor of the search, then bisect geometrically. */
    while (trials < opt.max_trials) {
        double spent = (double)(bench_mono_ns() - t0) / 1e9;
        double need = (double)opt.records / rate + 2;
        int pass;
        if (spent + need > opt.budget_s && trials > 0) {
            fprintf(stderr, "bench_throughput: ring=%s: time budget spent "
                            "(%.0f s)\n", label, spent);
            break;
        }
        fprintf(stderr, "bench_throughput: ring=%s: trial %d at %.2f M "
                        "rec/s\n", label, trials + 1, rate / 1e6);
        run_trial(ring, rate, opt.records, &t);
        trials++;
        pass = t.ok && t.verified && t.lost == 0;
        snprintf(cas, sizeof cas, "zero_loss_trial/ring=%s", label);
        j_begin(&j, "throughput", cas);
        j_trial(&j, &t);
        j_bool(&j, "lossless", pass);
        j_end(&j);
        if (pass) {
            /* What it achieved counts: a producer that did not get the
             * CPU to keep the pace tested only its own rate. */
            double got = t.achieved < rate ? t.achieved : rate;
            if (got > best) {
                best = got;
                best_target = rate;
            }
            lo = got > lo ? got : lo;
        } else {
            fails++;
            hi = rate < hi ? rate : hi;
            if (lo == 0 && rate <= opt.min_rate)
                break; /* loses even at the lowest rate tried */
        }
        if (lo > 0 && hi / lo < 1.10)
            break;
        rate = lo > 0 ? sqrt(lo * hi) : rate / 2;
        if (lo == 0 && rate < opt.min_rate / 8)
            break;
    }
    snprintf(cas, sizeof cas, "zero_loss/ring=%s", label);
    j_begin(&j, "throughput", cas);
    j_num(&j, "rate", best);
    j_num(&j, "rate_fail_above", hi);
    j_int(&j, "records", opt.records);
    j_int(&j, "lost", 0);
    j_int(&j, "ring_records", flat.ring_records);
    j_int(&j, "trials", trials);
    j_int(&j, "failed_trials", fails);
    /* Every lossless trial fell short of its pace: the producer did not
     * get the CPU (a busy machine), so the reader's limit was not found. */
    if (best > 0 && best < 0.9 * best_target && fails == 0) {
        j_str(&j, "bound", "producer");
        j_bool(&j, "producer_limited", 1);
    } else {
        j_str(&j, "bound", "reader");
        j_bool(&j, "producer_limited", best > 0 && best < 0.9 * best_target);
    }
    j_str(&j, "note", "highest rate with a lossless trial (as achieved, if "
                      "the producer fell short of its pace); "
                      "rate_fail_above = lowest rate that lost records (or "
                      "flat out)");
    j_end(&j);
}

/* ------------------------------------------------------------------------
 * Main
 * ------------------------------------------------------------------------ */
static void
usage(FILE *out)
{
    fprintf(out,
        "usage: bench_throughput [options]\n"
        "One producer thread to one reader process: delivered and lost "
        "records/s flat out,\nand the zero-loss rate, for the default ring "
        "and a 16 MiB ring.\nOne JSON line per result on stdout, notes on "
        "stderr.\n"
        "  --records N      records per trial (default 50000000; short "
        "5000000)\n"
        "  --rings LIST     ring sizes, comma-separated records or 'default' "
        "\n                   (default: default,262144)\n"
        "  --cpu N          CPU to pin the producer to (default: the highest "
        "allowed)\n"
        "  --max-trials N   trials per zero-loss search (default 8; short 5)\n"
        "  --budget S       seconds per zero-loss search (default 150; short "
        "25)\n"
        "  --min-rate R     lowest rate tried first, records/s (default "
        "2e6)\n"
        "  --flat-only      only the flat-out trials\n"
        "  --short          a quick run (also BENCH_SHORT=1)\n"
        "Needs bench_reader beside it (or BENCH_READER=path).\n");
}

static void
at_exit_cleanup(void)
{
    if (is_child)
        return;
    bench_readers_kill_all();
    bench_bus_cleanup(busname);
}

static void
on_fatal_signal(int sig)
{
    if (!is_child) {
        bench_readers_kill_all();
        bench_bus_cleanup(busname);
    }
    signal(sig, SIG_DFL);
    raise(sig);
}

static double
parse_num(const char *name, const char *s, double lo, double hi)
{
    char *end;
    double v;

    errno = 0;
    v = strtod(s, &end);
    if (errno != 0 || *end != '\0' || !(v >= lo && v <= hi)) {
        fprintf(stderr, "bench_throughput: %s '%s' must be a number in "
                        "[%g, %g]\n", name, s, lo, hi);
        exit(2);
    }
    return v;
}

int
main(int argc, char **argv)
{
    enum { O_REC = 256, O_RINGS, O_CPU, O_TRIALS, O_BUDGET, O_MINRATE,
           O_FLAT, O_SHORT };
    static const struct option lo[] = {
        {"records", required_argument, NULL, O_REC},
        {"rings", required_argument, NULL, O_RINGS},
        {"cpu", required_argument, NULL, O_CPU},
        {"max-trials", required_argument, NULL, O_TRIALS},
        {"budget", required_argument, NULL, O_BUDGET},
        {"min-rate", required_argument, NULL, O_MINRATE},
        {"flat-only", no_argument, NULL, O_FLAT},
        {"short", no_argument, NULL, O_SHORT},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *env_short = getenv("BENCH_SHORT");
    double records = -1, trials = -1, budget = -1;
    char rings[256], *save = NULL, *tok;
    struct jline j;
    int c;

    bench_save_affinity();
    opt.cpu = bench_default_cpu();
    opt.min_rate = 2e6;
    opt.rings = "default,262144";
    opt.is_short = env_short != NULL && env_short[0] != '\0' &&
                   strcmp(env_short, "0") != 0;
    while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
        switch (c) {
        case O_REC: records = parse_num("--records", optarg, 1000, 1e11); break;
        case O_RINGS: opt.rings = optarg; break;
        case O_CPU: opt.cpu = (int)parse_num("--cpu", optarg, 0, 4095); break;
        case O_TRIALS: trials = parse_num("--max-trials", optarg, 1, 100);
            break;
        case O_BUDGET: budget = parse_num("--budget", optarg, 1, 86400); break;
        case O_MINRATE: opt.min_rate = parse_num("--min-rate", optarg, 1e3,
                                                 1e10);
            break;
        case O_FLAT: opt.flat_only = 1; break;
        case O_SHORT: opt.is_short = 1; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind != argc) {
        fprintf(stderr, "bench_throughput: unexpected argument '%s'; see "
                        "--help\n", argv[optind]);
        return 2;
    }
    opt.records = (long long)(records > 0 ? records
                              : opt.is_short ? 5e6 : 5e7);
    opt.max_trials = (int)(trials > 0 ? trials : opt.is_short ? 5 : 8);
    opt.budget_s = budget > 0 ? budget : opt.is_short ? 25 : 150;

    snprintf(busname, sizeof busname, "bench-thr-%d", (int)getpid());
    atexit(at_exit_cleanup);
    signal(SIGINT, on_fatal_signal);
    signal(SIGTERM, on_fatal_signal);
    signal(SIGPIPE, SIG_IGN);
    tpn = bench_ticks_per_ns(200);

    j_begin(&j, "throughput", "config");
    j_int(&j, "records_per_trial", opt.records);
    j_int(&j, "cpu", opt.cpu);
    j_int(&j, "cpus_allowed", bench_cpus_allowed());
    j_num(&j, "ticks_per_ns", tpn);
    j_int(&j, "max_trials", opt.max_trials);
    j_num(&j, "budget_s", opt.budget_s);
    j_bool(&j, "short", opt.is_short);
    j_str(&j, "reader", "bench_reader, default waiting mode, not pinned");
    j_end(&j);

    snprintf(rings, sizeof rings, "%s", opt.rings);
    for (tok = strtok_r(rings, ",", &save); tok != NULL;
         tok = strtok_r(NULL, ",", &save)) {
        if (strcmp(tok, "default") == 0) {
            run_ring(NULL);
        } else {
            parse_num("--rings element", tok, 64, 1 << 24);
            run_ring(tok);
        }
    }
    return 0;
}
