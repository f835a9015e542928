/*
 * bench_common.c -- helpers shared by the benchmarks (see bench_common.h).
 */
#include "bench_common.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "clipbus/reader.h"

uint64_t
bench_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

double
bench_ticks_per_ns(unsigned ms)
{
#if BENCH_HAVE_TSC
    uint64_t m0 = bench_mono_ns(), t0 = bench_ticks();
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    uint64_t m1, t1;

    nanosleep(&ts, NULL);
    m1 = bench_mono_ns();
    t1 = bench_ticks();
    return (double)(t1 - t0) / (double)(m1 - m0);
#else
    (void)ms;
    return 1.0;
#endif
}

static cpu_set_t saved_mask;
static int saved_mask_ok;

void
bench_save_affinity(void)
{
    CPU_ZERO(&saved_mask);
    saved_mask_ok = sched_getaffinity(0, sizeof saved_mask, &saved_mask) == 0;
}

int
bench_pin(int cpu)
{
    cpu_set_t set;

    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    return sched_setaffinity(0, sizeof set, &set) == 0 ? 0 : -errno;
}

int
bench_default_cpu(void)
{
    cpu_set_t set;
    int best = 0;

    if (sched_getaffinity(0, sizeof set, &set) != 0)
        return 0;
    for (int i = 0; i < CPU_SETSIZE; i++)
        if (CPU_ISSET(i, &set))
            best = i;
    return best;
}

int
bench_cpus_allowed(void)
{
    cpu_set_t set;

    if (saved_mask_ok)
        return CPU_COUNT(&saved_mask);
    if (sched_getaffinity(0, sizeof set, &set) != 0)
        return 1;
    return CPU_COUNT(&set);
}

static int
cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double
bench_percentile(double *v, size_t n, double p)
{
    size_t rank;

    if (n == 0)
        return 0;
    qsort(v, n, sizeof *v, cmp_double);
    rank = (size_t)ceil(p / 100.0 * (double)n);
    if (rank < 1)
        rank = 1;
    if (rank > n)
        rank = n;
    return v[rank - 1];
}

/* ------------------------------------------------------------------------
 * JSON lines
 * ------------------------------------------------------------------------ */
static void
j_put(struct jline *j, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
j_put(struct jline *j, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (j->len >= sizeof j->buf)
        return;
    va_start(ap, fmt);
    n = vsnprintf(j->buf + j->len, sizeof j->buf - j->len, fmt, ap);
    va_end(ap);
    if (n > 0)
        j->len += (size_t)n;
}

static void
j_key(struct jline *j, const char *key)
{
    j_put(j, "%s\"%s\":", j->len > 1 ? "," : "", key);
}

static void
j_escaped(struct jline *j, const char *s)
{
    j_put(j, "\"");
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            j_put(j, "\\%c", c);
        else if (c < 0x20)
            j_put(j, "\\u%04x", c);
        else
            j_put(j, "%c", c);
    }
    j_put(j, "\"");
}

void
j_begin(struct jline *j, const char *bench, const char *cas)
{
    j->len = 0;
    j_put(j, "{");
    j_str(j, "bench", bench);
    j_str(j, "case", cas);
}

void
j_str(struct jline *j, const char *key, const char *val)
{
    j_key(j, key);
    j_escaped(j, val);
}

void
j_num(struct jline *j, const char *key, double val)
{
    j_key(j, key);
    if (isfinite(val))
        j_put(j, "%.4g", val);
    else
        j_put(j, "null");
}

void
j_int(struct jline *j, const char *key, long long val)
{
    j_key(j, key);
    j_put(j, "%lld", val);
}

void
j_bool(struct jline *j, const char *key, int val)
{
    j_key(j, key);
    j_put(j, "%s", val ? "true" : "false");
}

void
j_null(struct jline *j, const char *key)
{
    j_key(j, key);
    j_put(j, "null");
}

void
j_end(struct jline *j)
{
    j_put(j, "}");
    printf("%s\n", j->buf);
    fflush(stdout);
}

long long
bench_json_int(const char *line, const char *key, long long dflt)
{
    char pat[80];
    const char *p;

    snprintf(pat, sizeof pat, "\"%s\":", key);
    p = strstr(line, pat);
    if (p == NULL)
        return dflt;
    p += strlen(pat);
    if (strncmp(p, "true", 4) == 0)
        return 1;
    if (strncmp(p, "false", 5) == 0)
        return 0;
    return strtoll(p, NULL, 10);
}

/* ------------------------------------------------------------------------
 * Reader processes
 * ------------------------------------------------------------------------ */
#define READERS_MAX 16
static pid_t live_readers[READERS_MAX];

static void
track(pid_t pid, int on)
{
    for (int i = 0; i < READERS_MAX; i++) {
        if (on && live_readers[i] == 0) {
            live_readers[i] = pid;
            return;
        }
        if (!on && live_readers[i] == pid) {
            live_readers[i] = 0;
            return;
        }
    }
}

void
bench_readers_kill_all(void)
{
    for (int i = 0; i < READERS_MAX; i++)
        if (live_readers[i] > 0) {
            kill(live_readers[i], SIGKILL);
            waitpid(live_readers[i], NULL, 0);
            live_readers[i] = 0;
        }
}

const char *
bench_reader_path(void)
{
    static char path[PATH_MAX];
    const char *env = getenv("BENCH_READER");
    ssize_t n;
    char *slash;

    if (env != NULL && env[0] != '\0')
        return env;
    n = readlink("/proc/self/exe", path, sizeof path - 32);
    if (n <= 0)
        return "bench_reader";
    path[n] = '\0';
    slash = strrchr(path, '/');
    if (slash == NULL)
        return "bench_reader";
    strcpy(slash + 1, "bench_reader");
    return path;
}

/* Reads one line from fd into buf, waiting up to timeout_ms in total.
 * Returns its length, or -1 on timeout or EOF before a newline. */
static int
read_line(int fd, char *buf, size_t cap, int timeout_ms)
{
    size_t len = 0;
    uint64_t end = bench_mono_ns() + (uint64_t)timeout_ms * 1000000u;

    while (len + 1 < cap) {
        struct pollfd p = {fd, POLLIN, 0};
        uint64_t now = bench_mono_ns();
        ssize_t n;
        if (now >= end)
            return -1;
        if (poll(&p, 1, (int)((end - now) / 1000000u) + 1) <= 0)
            continue;
        n = read(fd, buf + len, 1);
        if (n <= 0)
            return -1;
        if (buf[len] == '\n') {
            buf[len] = '\0';
            return (int)len;
        }
        len++;
    }
    buf[len] = '\0';
    return (int)len;
}

int
bench_reader_start(struct bench_reader *r, const char *path,
                   char *const argv[], int timeout_ms)
{
    int fds[2];
    char line[256];
    pid_t pid;

    memset(r, 0, sizeof *r);
    r->out_fd = -1;
    if (pipe2(fds, O_CLOEXEC) != 0) {
        fprintf(stderr, "bench: pipe: %s\n", strerror(errno));
        return -errno;
    }
    fflush(stdout);
    fflush(stderr);
    pid = fork();
    if (pid < 0) {
        fprintf(stderr, "bench: fork: %s\n", strerror(errno));
        close(fds[0]);
        close(fds[1]);
        return -errno;
    }
    if (pid == 0) {
        dup2(fds[1], STDOUT_FILENO);
        if (saved_mask_ok)
            sched_setaffinity(0, sizeof saved_mask, &saved_mask);
        execv(path, argv);
        fprintf(stderr,
                "bench: cannot run reader %s: %s (build bench_reader or "
                "set BENCH_READER)\n",
                path, strerror(errno));
        _exit(127);
    }
    close(fds[1]);
    r->pid = pid;
    r->out_fd = fds[0];
    track(pid, 1);
    if (read_line(r->out_fd, line, sizeof line, timeout_ms) < 0 ||
        strcmp(line, "ready") != 0) {
        fprintf(stderr, "bench: reader %s (pid %d) did not get ready in %d ms\n",
                path, (int)pid, timeout_ms);
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        track(pid, 0);
        close(r->out_fd);
        r->pid = 0;
        return -ETIMEDOUT;
    }
    return 0;
}

void
bench_reader_pause(struct bench_reader *r)
{
    if (r->pid > 0 && kill(r->pid, SIGSTOP) == 0)
        r->stopped = 1;
}

static int
reap(struct bench_reader *r, int timeout_ms)
{
    int st = 0, rc = -1;
    uint64_t end = bench_mono_ns() + (uint64_t)timeout_ms * 1000000u;
    struct rusage ru;

    for (;;) {
        pid_t w = wait4(r->pid, &st, WNOHANG, &ru);
        if (w == r->pid) {
            rc = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
            r->cpu_s = (double)ru.ru_utime.tv_sec +
                       (double)ru.ru_utime.tv_usec / 1e6 +
                       (double)ru.ru_stime.tv_sec +
                       (double)ru.ru_stime.tv_usec / 1e6;
            break;
        }
        if (bench_mono_ns() >= end) {
            kill(r->pid, SIGKILL);
            waitpid(r->pid, &st, 0);
            rc = -1;
            break;
        }
        usleep(2000);
    }
    track(r->pid, 0);
    close(r->out_fd);
    r->out_fd = -1;
    r->pid = 0;
    return rc;
}

int
bench_reader_finish(struct bench_reader *r, int timeout_ms)
{
    if (r->pid <= 0)
        return -1;
    kill(r->pid, SIGCONT);
    r->stopped = 0;
    kill(r->pid, SIGTERM);
    if (read_line(r->out_fd, r->last, sizeof r->last, timeout_ms) < 0)
        r->last[0] = '\0';
    return reap(r, timeout_ms);
}

int
bench_reader_wait(struct bench_reader *r, int timeout_ms)
{
    if (r->pid <= 0)
        return -1;
    if (read_line(r->out_fd, r->last, sizeof r->last, timeout_ms) < 0) {
        r->last[0] = '\0';
        kill(r->pid, SIGTERM);
        return reap(r, 1000);
    }
    return reap(r, 5000);
}

static int
unlink_one(void *arg, int kind, const char *shm_name)
{
    (void)arg;
    (void)kind;
    shm_unlink(shm_name);
    return 0;
}

void
bench_bus_cleanup(const char *bus)
{
    cb_shm_list(bus, unlink_one, NULL);
}
