/*
 * tests/common/cbt.c -- the shared test helper (see cbt.h).
 */
#include "cbt.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ---- PRNG --------------------------------------------------------------- */

uint64_t
cbt_next(struct cbt_rng *r)
{
    /* splitmix64 (Steele, Lea, Flood 2014), the constants of its paper. */
    uint64_t z = (r->s += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

uint64_t
cbt_below(struct cbt_rng *r, uint64_t n)
{
    return n ? cbt_next(r) % n : 0;
}

uint64_t
cbt_mix(uint64_t a, uint64_t b)
{
    struct cbt_rng r = {a ^ (b * UINT64_C(0xd1b54a32d192ed03))};
    cbt_next(&r);
    return cbt_next(&r);
}

static int
env_u64(const char *var, uint64_t *out)
{
    const char *v = getenv(var);
    char *end;
    if (v == NULL || *v == '\0')
        return 0;
    errno = 0;
    unsigned long long x = strtoull(v, &end, 0);
    if (errno != 0 || *end != '\0') {
        fprintf(stderr, "cbt: %s=%s is not a number; using the default\n",
                var, v);
        return 0;
    }
    *out = (uint64_t)x;
    return 1;
}

uint64_t
cbt_seed(uint64_t dflt)
{
    uint64_t s = dflt;
    env_u64("CB_TEST_SEED", &s);
    return s;
}

uint64_t
cbt_iters(uint64_t dflt)
{
    uint64_t n = dflt;
    if (env_u64("CB_TEST_ITERS", &n) && n == 0)
        n = 1;
    return n;
}

/* ---- bus names and cleanup ---------------------------------------------- */

#define MAX_BUSES 256

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static char g_buses[MAX_BUSES][49];
static int g_nbuses;
static unsigned g_counter;
static pid_t g_owner;

/* The pid inside a test bus name "t_<tag>_<pid>_<n>" of shm entry
 * "clipbus[-r].<bus>.<...>", or 0 when the entry is not one. */
static long
test_bus_pid(const char *dname)
{
    const char *p = strchr(dname, '.'), *end, *u2, *u1;
    char bus[64];
    size_t n;

    if (p == NULL || strncmp(p + 1, "t_", 2) != 0)
        return 0;
    p++;
    end = strchr(p, '.');
    n = end ? (size_t)(end - p) : strlen(p);
    if (n >= sizeof bus)
        return 0;
    memcpy(bus, p, n);
    bus[n] = '\0';
    u2 = strrchr(bus, '_');
    if (u2 == NULL || u2 == bus)
        return 0;
    for (u1 = u2 - 1; u1 > bus && *u1 != '_'; u1--)
        ;
    if (*u1 != '_' || u2 - u1 < 2)
        return 0;
    for (const char *d = u1 + 1; d < u2; d++)
        if (*d < '0' || *d > '9')
            return 0;
    return strtol(u1 + 1, NULL, 10);
}

void
cbt_reap_stale(void)
{
    DIR *d = opendir(CBT_SHM_DIR);
    struct dirent *e;

    if (d == NULL)
        return;
    while ((e = readdir(d)) != NULL) {
        char name[300];
        long pid;
        if (strncmp(e->d_name, "clipbus", 7) != 0)
            continue;
        pid = test_bus_pid(e->d_name);
        if (pid <= 0 || (kill((pid_t)pid, 0) != 0 && errno == ESRCH)) {
            if (pid <= 0)
                continue;
            snprintf(name, sizeof name, "/%s", e->d_name);
            shm_unlink(name);
        }
    }
    closedir(d);
}

char *
cbt_bus(char *buf, size_t len, const char *tag)
{
    char t[17];
    size_t i;

    /* Keep only characters a bus name allows; cut the tag to 16. */
    for (i = 0; tag[i] != '\0' && i < sizeof t - 1; i++) {
        char c = tag[i];
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                 (c >= '0' && c <= '9') || c == '_' || c == '-';
        t[i] = ok ? c : '_';
    }
    t[i] = '\0';
    pthread_mutex_lock(&g_lock);
    unsigned n = g_counter++;
    snprintf(buf, len, "t_%s_%ld_%u", t, (long)getpid(), n);
    if (g_owner != getpid()) {
        /* First use in this process (or in a forked child that makes its
         * own buses): the child cleans only what it made. */
        if (g_owner == 0) {
            atexit(cbt_cleanup);
            cbt_reap_stale();
        }
        g_owner = getpid();
        g_nbuses = 0;
    }
    if (g_nbuses < MAX_BUSES)
        snprintf(g_buses[g_nbuses++], sizeof g_buses[0], "%s", buf);
    pthread_mutex_unlock(&g_lock);
    return buf;
}

/* Calls fn for each entry of the shm directory whose name starts with
 * "clipbus.<bus>." (status 0) or "clipbus-r.<bus>." (status 1). */
static int
shm_each(const char *bus, int status, int (*fn)(const char *d, void *a),
         void *arg)
{
    char prefix[128];
    int n = 0;
    DIR *d = opendir(CBT_SHM_DIR);
    struct dirent *e;

    if (d == NULL)
        return 0;
    snprintf(prefix, sizeof prefix, "%s.%s.",
             status ? "clipbus-r" : "clipbus", bus);
    while ((e = readdir(d)) != NULL) {
        if (strncmp(e->d_name, prefix, strlen(prefix)) != 0)
            continue;
        n++;
        if (fn != NULL && fn(e->d_name, arg) != 0)
            break;
    }
    closedir(d);
    return n;
}

static int
unlink_one(const char *dname, void *arg)
{
    char name[300];
    int *count = arg;
    snprintf(name, sizeof name, "/%s", dname);
    if (shm_unlink(name) == 0)
        (*count)++;
    return 0;
}

int
cbt_unlink_bus(const char *bus)
{
    int count = 0;
    shm_each(bus, 0, unlink_one, &count);
    shm_each(bus, 1, unlink_one, &count);
    return count;
}

int
cbt_shm_count(const char *bus, int status)
{
    return shm_each(bus, status, NULL, NULL);
}

struct find_arg {
    char want[160];
    char *name;
    size_t len;
    int found;
};

static int
find_one(const char *dname, void *arg)
{
    struct find_arg *f = arg;
    size_t wl = strlen(f->want);
    /* "clipbus.<bus>.<pid>" exactly, or followed by ".<n>". */
    if (strncmp(dname, f->want, wl) != 0 ||
        (dname[wl] != '\0' && dname[wl] != '.'))
        return 0;
    snprintf(f->name, f->len, "/%s", dname);
    f->found = 1;
    return 1;
}

int
cbt_find_segment(const char *bus, pid_t pid, char *name, size_t len)
{
    struct find_arg f;
    snprintf(f.want, sizeof f.want, "clipbus.%s.%ld", bus, (long)pid);
    f.name = name;
    f.len = len;
    f.found = 0;
    shm_each(bus, 0, find_one, &f);
    return f.found ? 0 : -1;
}

int
cbt_wait_segment(const char *bus, pid_t pid, char *name, size_t len,
                 int timeout_ms)
{
    uint64_t end = cbt_mono_ns() + (uint64_t)timeout_ms * 1000000u;
    for (;;) {
        if (cbt_find_segment(bus, pid, name, len) == 0)
            return 0;
        if (cbt_mono_ns() > end)
            return -1;
        cbt_sleep_us(500);
    }
}

void
cbt_cleanup(void)
{
    pthread_mutex_lock(&g_lock);
    if (g_owner == getpid()) {
        for (int i = 0; i < g_nbuses; i++)
            cbt_unlink_bus(g_buses[i]);
        g_nbuses = 0;
    }
    pthread_mutex_unlock(&g_lock);
}

/* ---- processes and time ------------------------------------------------- */

/* In a forked child: crash signals kill it. cmocka catches them in the
 * test process and longjmps back into its runner, which in a child would
 * go on running the remaining tests there. */
static void
child_signals(pid_t parent)
{
    static const int sigs[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT,
                               SIGSYS};
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
        signal(sigs[i], SIG_DFL);
    /* A child never outlives the test: if the test process dies (a failed
     * assertion ends it early, CTest kills it on timeout), so does the
     * child, and no orphan keeps CTest's output pipe open. */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
        _exit(1); /* the parent died before prctl() */
}

pid_t
cbt_fork(int (*fn)(void *arg), void *arg)
{
    pid_t parent = getpid();
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        child_signals(parent);
        int rc = fn(arg);
        fflush(NULL);
        _exit(rc);
    }
    return pid;
}

static pid_t g_last_child;

pid_t
cbt_last_child(void)
{
    return g_last_child;
}

static int
first_one(const char *dname, void *arg)
{
    struct find_arg *f = arg;
    snprintf(f->name, f->len, "/%s", dname);
    f->found = 1;
    return 1;
}

int
cbt_any_segment(const char *bus, char *name, size_t len)
{
    struct find_arg f;
    f.name = name;
    f.len = len;
    f.found = 0;
    shm_each(bus, 0, first_one, &f);
    return f.found ? 0 : -1;
}

static int pid_segments(pid_t pid, int unlink_them, uint64_t since);

int
cbt_pid_has_segment(pid_t pid)
{
    return pid_segments(pid, 0, 0) > 0;
}

int
cbt_unlink_pid(pid_t pid)
{
    return pid_segments(pid, 1, 0);
}

int
cbt_unlink_pid_since(pid_t pid, uint64_t since_real_ns)
{
    return pid_segments(pid, 1, since_real_ns);
}

static int
pid_segments(pid_t pid, int unlink_them, uint64_t since)
{
    char suffix[32];
    size_t sl;
    int found = 0;
    DIR *d = opendir(CBT_SHM_DIR);
    struct dirent *e;

    if (d == NULL)
        return 0;
    snprintf(suffix, sizeof suffix, ".%ld", (long)pid);
    sl = strlen(suffix);
    while ((e = readdir(d)) != NULL) {
        size_t n = strlen(e->d_name);
        /* "clipbus.<bus>.<pid>" or "clipbus.<bus>.<pid>.<k>" */
        if (strncmp(e->d_name, "clipbus.", 8) != 0)
            continue;
        for (size_t i = 8; i + sl <= n; i++) {
            if (strncmp(e->d_name + i, suffix, sl) != 0 ||
                (e->d_name[i + sl] != '\0' &&
                 !(e->d_name[i + sl] == '.' && i + sl + 2 == n)))
                continue;
            if (since != 0) {
                /* Created before the child: another process's. tmpfs
                 * stamps with the coarse clock (a tick behind at most):
                 * 20 ms of slack, far less than a wrap of the pids. */
                struct stat st;
                uint64_t born;
                if (fstatat(dirfd(d), e->d_name, &st, 0) != 0)
                    break;
                born = (uint64_t)st.st_ctim.tv_sec * 1000000000u +
                       (uint64_t)st.st_ctim.tv_nsec;
                if (born + 20000000u < since)
                    break;
            }
            found++;
            if (unlink_them) {
                char name[300];
                snprintf(name, sizeof name, "/%s", e->d_name);
                shm_unlink(name);
            }
            break;
        }
    }
    closedir(d);
    return found;
}

int
cbt_run(int (*fn)(void *arg), void *arg, int timeout_ms, int *status,
        char *err, size_t err_len)
{
    int p[2];
    size_t got = 0;
    pid_t pid;

    if (err_len > 0)
        err[0] = '\0';
    if (pipe(p) != 0)
        return -1;
    pid_t parent = getpid();
    fflush(NULL);
    pid = fork();
    if (pid < 0) {
        close(p[0]);
        close(p[1]);
        return -1;
    }
    if (pid == 0) {
        child_signals(parent);
        close(p[0]);
        dup2(p[1], 2);
        close(p[1]);
        int rc = fn(arg);
        fflush(NULL);
        _exit(rc);
    }
    close(p[1]);
    g_last_child = pid;
    /* Read until EOF (the child and its own children closed stderr);
     * a child that never ends is killed by cbt_wait below. */
    uint64_t end = cbt_mono_ns() + (uint64_t)timeout_ms * 1000000u;
    for (;;) {
        struct pollfd pfd = {p[0], POLLIN, 0};
        int n = poll(&pfd, 1, 50);
        if (n > 0) {
            char buf[512];
            ssize_t k = read(p[0], buf, sizeof buf);
            if (k <= 0)
                break;
            for (ssize_t i = 0; i < k && got + 1 < err_len; i++)
                err[got++] = buf[i];
            if (err_len > 0)
                err[got] = '\0';
        } else if (cbt_mono_ns() > end) {
            break;
        }
    }
    close(p[0]);
    return cbt_wait(pid, 1000 + timeout_ms / 10, status);
}

int
cbt_lines(const char *s)
{
    int n = 0;
    for (; *s != '\0'; s++)
        n += *s == '\n';
    return n;
}

int
cbt_wait(pid_t pid, int timeout_ms, int *status)
{
    uint64_t end = cbt_mono_ns() + (uint64_t)timeout_ms * 1000000u;
    for (;;) {
        pid_t r = waitpid(pid, status, WNOHANG);
        if (r == pid)
            return 0;
        if (r < 0 && errno != EINTR)
            return -1;
        if (cbt_mono_ns() > end) {
            fprintf(stderr, "cbt: child %ld still running after %d ms: "
                            "killed\n", (long)pid, timeout_ms);
            kill(pid, SIGKILL);
            waitpid(pid, status, 0);
            return -1;
        }
        cbt_sleep_us(1000);
    }
}

const char *
cbt_status_str(int status, char *buf, size_t len)
{
    if (WIFEXITED(status))
        snprintf(buf, len, "exit %d", WEXITSTATUS(status));
    else if (WIFSIGNALED(status))
        snprintf(buf, len, "signal %d (%s)", WTERMSIG(status),
                 strsignal(WTERMSIG(status)));
    else
        snprintf(buf, len, "status 0x%x", (unsigned)status);
    return buf;
}

static uint64_t
clock_ns(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t
cbt_mono_ns(void)
{
    return clock_ns(CLOCK_MONOTONIC);
}

uint64_t
cbt_real_ns(void)
{
    return clock_ns(CLOCK_REALTIME);
}

uint64_t
cbt_thread_cpu_ns(void)
{
    return clock_ns(CLOCK_THREAD_CPUTIME_ID);
}

void
cbt_burn_cpu_us(uint64_t us)
{
    uint64_t start = cbt_thread_cpu_ns();
    volatile uint64_t x = 0;

    while (cbt_thread_cpu_ns() - start < us * 1000u)
        x++;
}

void
cbt_sleep_us(uint64_t us)
{
    struct timespec ts = {(time_t)(us / 1000000u),
                          (long)(us % 1000000u) * 1000};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static char *
read_fd(int fd, size_t *len)
{
    struct stat st;
    char *buf;
    size_t got = 0;

    if (fstat(fd, &st) != 0)
        return NULL;
    buf = malloc((size_t)st.st_size + 1);
    if (buf == NULL)
        return NULL;
    while (got < (size_t)st.st_size) {
        ssize_t n = pread(fd, buf + got, (size_t)st.st_size - got,
                          (off_t)got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    buf[got] = '\0';
    *len = got;
    return buf;
}

char *
cbt_read_file(const char *path, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    char *buf = read_fd(fd, len);
    close(fd);
    return buf;
}

int
cbt_shm_write(const char *name, const void *data, size_t len)
{
    int fd = shm_open(name, O_RDWR | O_CREAT | O_TRUNC, 0600);
    size_t done = 0;

    if (fd < 0)
        return -errno;
    if (ftruncate(fd, (off_t)len) != 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    while (data != NULL && done < len) {
        ssize_t n = pwrite(fd, (const char *)data + done, len - done,
                           (off_t)done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            int e = n < 0 ? errno : EIO;
            close(fd);
            return -e;
        }
        done += (size_t)n;
    }
    close(fd);
    return 0;
}

void *
cbt_shm_read(const char *name, size_t *len)
{
    int fd = shm_open(name, O_RDONLY, 0);
    if (fd < 0)
        return NULL;
    char *buf = read_fd(fd, len);
    close(fd);
    return buf;
}
