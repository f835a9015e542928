/*
 * bench_common.h -- what the clipbus benchmarks share: CPU pinning, the
 * tick clock used to time blocks of operations, percentiles, one-line JSON
 * output, and the bench_reader child processes.
 *
 * Output convention (every bench_*): one JSON object per line on stdout per
 * result, human notes on stderr. Keys every result line has: "bench",
 * "case"; measured rows add "ns_median", "ns_p99", "records", "lost"; a
 * row that could not run has "skipped" with the reason instead.
 */
#ifndef BENCH_COMMON_H
#define BENCH_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#if defined(__x86_64__) || defined(__i386__)
#include <x86intrin.h>
#define BENCH_HAVE_TSC 1
#else
#define BENCH_HAVE_TSC 0
#endif

/* ------------------------------------------------------------------------
 * Clock and CPU
 * ------------------------------------------------------------------------ */

/* CLOCK_MONOTONIC in ns. */
uint64_t bench_mono_ns(void);

/* The block timer: rdtsc where there is one, else CLOCK_MONOTONIC ns. */
static inline uint64_t
bench_ticks(void)
{
#if BENCH_HAVE_TSC
    return (uint64_t)__rdtsc();
#else
    return bench_mono_ns();
#endif
}

/* A spin-wait hint. */
static inline void
bench_relax(void)
{
#if BENCH_HAVE_TSC
    _mm_pause();
#endif
}

/* Ticks of bench_ticks() per ns, measured against CLOCK_MONOTONIC over
 * about `ms` milliseconds (1.0 without a TSC). */
double bench_ticks_per_ns(unsigned ms);

/* Pins the calling thread to `cpu`. Returns 0 or -errno. */
int bench_pin(int cpu);

/* The CPU the benchmarks pin the producer to by default: the highest one
 * this process may run on (CPU 0 takes most device interrupts). */
int bench_default_cpu(void);

/* Number of CPUs this process could run on at bench_save_affinity(). */
int bench_cpus_allowed(void);

/* ------------------------------------------------------------------------
 * Statistics
 * ------------------------------------------------------------------------ */

/* Sorts v[0, n) in place and returns the p-th percentile (0 <= p <= 100),
 * nearest-rank. 0 for n == 0. */
double bench_percentile(double *v, size_t n, double p);

/* ------------------------------------------------------------------------
 * JSON lines: j_begin(), then j_* fields, then j_end() prints the line.
 * ------------------------------------------------------------------------ */
struct jline {
    char buf[4096];
    size_t len;
};
void j_begin(struct jline *j, const char *bench, const char *cas);
void j_str(struct jline *j, const char *key, const char *val);
void j_num(struct jline *j, const char *key, double val);
void j_int(struct jline *j, const char *key, long long val);
void j_bool(struct jline *j, const char *key, int val);
void j_null(struct jline *j, const char *key);
void j_end(struct jline *j);

/* ------------------------------------------------------------------------
 * Reader processes (bench_reader)
 * ------------------------------------------------------------------------ */
struct bench_reader {
    pid_t pid;
    int out_fd;     /* the reader's stdout */
    int stopped;    /* SIGSTOP sent */
    char last[1024];/* its final JSON line */
    double cpu_s;   /* its user+system CPU time, once reaped */
};

/* Path of bench_reader: $BENCH_READER, else beside this executable. */
const char *bench_reader_path(void);

/* fork+exec `path` with argv (NULL-terminated, argv[0] included), its
 * stdout on a pipe; the child may run on every CPU this process could
 * before pinning (`cpu_mask_all`), i.e. readers are not pinned. Waits up
 * to `timeout_ms` for the line "ready". Returns 0 or a negative code with
 * a one-line reason on stderr. */
int bench_reader_start(struct bench_reader *r, const char *path,
                       char *const argv[], int timeout_ms);

/* Sends SIGSTOP / SIGCONT. */
void bench_reader_pause(struct bench_reader *r);

/* Asks the reader to finish (SIGCONT then SIGTERM), reads its final JSON
 * line into r->last (up to `timeout_ms`), reaps it. Returns its exit
 * status, or -1 if it had to be killed. */
int bench_reader_finish(struct bench_reader *r, int timeout_ms);

/* Waits up to `timeout_ms` for a reader to print its final line and exit
 * by itself (--until-exit). Returns as bench_reader_finish(). */
int bench_reader_wait(struct bench_reader *r, int timeout_ms);

/* Extracts the integer field "key" from a flat JSON line; `dflt` if
 * absent. */
long long bench_json_int(const char *line, const char *key, long long dflt);

/* Kills (SIGKILL) every reader still registered: for atexit and signals. */
void bench_readers_kill_all(void);

/* Removes every shm object of bus `bus` (our own bench bus). */
void bench_bus_cleanup(const char *bus);

/* Snapshot of the CPU affinity mask taken at start (before pinning), so
 * children can be given the full set back. Call first thing in main(). */
void bench_save_affinity(void);

#endif /* BENCH_COMMON_H */
