/*
 * config_live.c -- the process's current configuration: published under
 * RCU, reloaded on demand or by a watcher thread (Req 6.2-6.4).
 *
 * Protocol
 *   g_current is an RCU-protected pointer. Readers (any registered thread)
 *   load it with rcu_dereference() inside rcu_read_lock(); they never lock
 *   or block. Updaters are serialized by g_update: the new config is fully
 *   built and validated first, then published with rcu_xchg_pointer()
 *   (which orders every store that built it before the pointer store, so
 *   a reader that sees the pointer sees the whole config), then
 *   synchronize_rcu() waits until no reader can still hold the previous
 *   pointer, and only then is the previous config freed. An invalid file
 *   never reaches the pointer: it is rejected before publication, so the
 *   old generation stays in force.
 *
 *   Because g_update is held by every updater, an updater may read
 *   g_current without rcu_read_lock(): nobody else can free it meanwhile.
 *
 * The watcher
 *   inotify watches the file's DIRECTORY, not the file: editors save by
 *   writing a temporary file and renaming it over the original (vim,
 *   emacs), which replaces the inode a file watch would follow; and a file
 *   that is deleted and re-created is a new inode too. Any event naming
 *   the file's base name (closed after writing, moved in or out, created,
 *   deleted) arms a debounce timer; the reload runs once the directory
 *   has been quiet for debounce_ms (at most 10 x debounce_ms after the
 *   first event), so a burst of saves becomes one reload. Not IN_MODIFY
 *   or IN_ATTRIB: they come with every write() to any file of the
 *   directory, so a configuration beside a busy file (a database, a log)
 *   woke every consumer's watcher at each write, and the writing program
 *   paid for queueing the events -- seen as 3 % of the analyzer's time
 *   with its SQLite file next to the benchmark's configuration. A write
 *   is seen when the writer closes the file (IN_CLOSE_WRITE). A stat() of
 *   the path every second backs inotify up (a writer that never closes,
 *   events lost to a full queue, a directory replaced under us, or
 *   inotify unavailable).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <urcu.h>

#include "config.h"

#define STAT_POLL_MS        1000
#define DEFAULT_DEBOUNCE_MS 100
#define MAX_DEBOUNCE_FACTOR 10

/* Read by any registered thread under rcu_read_lock(); written only with
 * g_update held. */
static struct cbc_config *g_current;
static pthread_mutex_t g_update = PTHREAD_MUTEX_INITIALIZER;

/* Under g_update: where the config comes from and how to report. */
static char *g_path;
static char g_prog[64] = "clipbus";
static uint64_t g_generation;
static bool g_quiet;
static cbc_config_applied_fn g_on_applied;
static void *g_arg;

static pthread_mutex_t g_status_lock = PTHREAD_MUTEX_INITIALIZER;
static struct cbc_config_status g_status;

/* The watcher thread; touched only by watch_start/stop (one thread). */
static pthread_t g_thread;
static bool g_watching;
static int g_stop_pipe[2] = {-1, -1};
static unsigned g_debounce_ms = DEFAULT_DEBOUNCE_MS;

static void
lock(pthread_mutex_t *m)
{
    int rc = pthread_mutex_lock(m);
    if (rc != 0)
        abort(); /* impossible with a default mutex used correctly */
}

static void
unlock(pthread_mutex_t *m)
{
    int rc = pthread_mutex_unlock(m);
    if (rc != 0)
        abort();
}

static uint64_t
now_ns(clockid_t clk)
{
    struct timespec ts;
    clock_gettime(clk, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

const char *
cbc_config_outcome_name(int outcome)
{
    static const char *const names[] = {"none", "applied", "rejected",
                                        "unchanged", "missing"};
    return outcome >= 0 && outcome <= CBC_RELOAD_MISSING ? names[outcome]
                                                         : "?";
}

/* ======================================================================
 * Publication
 * ====================================================================== */

const struct cbc_config *
cbc_config_current(void)
{
    /* Pairs with the release ordering of rcu_xchg_pointer() below: the
     * config's contents are visible before its address. */
    return rcu_dereference(g_current);
}

/* Publishes cfg and frees the previous config once no reader holds it.
 * g_update held. */
static uint64_t
install_locked(struct cbc_config *cfg)
{
    cfg->generation = ++g_generation;
    struct cbc_config *old = rcu_xchg_pointer(&g_current, cfg);
    lock(&g_status_lock);
    g_status.generation = cfg->generation;
    unlock(&g_status_lock);
    synchronize_rcu(); /* every reader that could see `old` has left */
    cbc_config_free(old);
    return cfg->generation;
}

uint64_t
cbc_config_install(struct cbc_config *cfg)
{
    lock(&g_update);
    uint64_t gen = install_locked(cfg);
    unlock(&g_update);
    return gen;
}

void
cbc_config_status_get(struct cbc_config_status *out)
{
    lock(&g_status_lock);
    *out = g_status;
    unlock(&g_status_lock);
}

/* ======================================================================
 * Reload
 * ====================================================================== */

static void
record(int outcome, const struct cbc_config_errors *errs)
{
    lock(&g_status_lock);
    g_status.last_outcome = outcome;
    g_status.last_reload_ns = now_ns(CLOCK_REALTIME);
    if (outcome == CBC_RELOAD_APPLIED)
        g_status.applied++;
    if (outcome == CBC_RELOAD_REJECTED || outcome == CBC_RELOAD_MISSING) {
        g_status.rejected += outcome == CBC_RELOAD_REJECTED;
        g_status.last_errors = (uint32_t)errs->count;
        const char *t = errs->text ? errs->text : "";
        size_t n = strcspn(t, "\n");
        if (n >= sizeof g_status.last_error)
            n = sizeof g_status.last_error - 1;
        memcpy(g_status.last_error, t, n);
        g_status.last_error[n] = '\0';
    } else {
        g_status.last_errors = 0;
        g_status.last_error[0] = '\0';
    }
    unlock(&g_status_lock);
}

/* 1 when a and b dump to the same effective configuration. */
static int
same_config(const struct cbc_config *a, const struct cbc_config *b)
{
    char *da = cbc_config_dump(a), *db = b ? cbc_config_dump(b) : NULL;
    int same = da != NULL && db != NULL && strcmp(da, db) == 0;
    free(da);
    free(db);
    return same;
}

/* Req 6.3, 6.4: reload; a valid, different file is published, anything
 * else leaves the current generation in force. g_update held. */
static int
reload_locked(void)
{
    struct cbc_config_errors errs = {0};
    struct cbc_config *cfg = NULL;
    int outcome;
    if (g_path == NULL)
        return CBC_RELOAD_NONE;
    int rc = cbc_config_load(g_path, &cfg, &errs);
    if (rc == -ENOENT) {
        outcome = CBC_RELOAD_MISSING;
        if (!g_quiet)
            fprintf(stderr, "%s: config %s: the file is missing; keeping "
                            "generation %llu\n",
                    g_prog, g_path, (unsigned long long)g_generation);
    } else if (rc < 0) {
        outcome = CBC_RELOAD_REJECTED;
        if (!g_quiet)
            fprintf(stderr, "%s%s: config %s: reload rejected (%zu error%s); "
                            "keeping generation %llu\n",
                    errs.text ? errs.text : "", g_prog, g_path, errs.count,
                    errs.count == 1 ? "" : "s",
                    (unsigned long long)g_generation);
    } else if (same_config(cfg, g_current)) {
        outcome = CBC_RELOAD_UNCHANGED;
        cbc_config_free(cfg);
        if (!g_quiet)
            fprintf(stderr, "%s: config %s: unchanged (generation %llu)\n",
                    g_prog, g_path, (unsigned long long)g_generation);
    } else {
        outcome = CBC_RELOAD_APPLIED;
        uint64_t gen = install_locked(cfg);
        if (!g_quiet)
            fprintf(stderr, "%s: config %s: reload applied, generation %llu\n",
                    g_prog, g_path, (unsigned long long)gen);
    }
    record(outcome, &errs);
    cbc_config_errors_fini(&errs);
    /* cfg cannot be freed meanwhile: only holders of g_update replace it. */
    if (outcome == CBC_RELOAD_APPLIED && g_on_applied != NULL)
        g_on_applied(cfg, g_arg);
    return outcome;
}

int
cbc_config_reload(void)
{
    lock(&g_update);
    int outcome = reload_locked();
    unlock(&g_update);
    return outcome;
}

/* ======================================================================
 * Init and fini
 * ====================================================================== */

int
cbc_config_init(const char *prog, const char *opt_path)
{
    struct cbc_config_errors errs = {0};
    struct cbc_config *cfg;
    const char *path = cbc_config_path(opt_path);
    int rc = cbc_config_load(path, &cfg, &errs);
    if (rc < 0) {
        fputs(errs.text ? errs.text : "", stderr);
        fprintf(stderr, "%s: cannot use the configuration %s (%zu error%s); "
                        "see docs/config.md, or run 'clipbus config check "
                        "%s'\n",
                prog, path ? path : "", errs.count,
                errs.count == 1 ? "" : "s", path ? path : "FILE");
        cbc_config_errors_fini(&errs);
        return rc;
    }
    lock(&g_update);
    snprintf(g_prog, sizeof g_prog, "%s", prog ? prog : "clipbus");
    free(g_path);
    g_path = path ? strdup(path) : NULL;
    if (path != NULL && g_path == NULL) {
        unlock(&g_update);
        cbc_config_free(cfg);
        return -ENOMEM;
    }
    install_locked(cfg);
    unlock(&g_update);
    return 0;
}

void
cbc_config_fini(void)
{
    cbc_config_watch_stop();
    lock(&g_update);
    struct cbc_config *old = rcu_xchg_pointer(&g_current, NULL);
    synchronize_rcu();
    cbc_config_free(old);
    free(g_path);
    g_path = NULL;
    g_generation = 0;
    g_on_applied = NULL;
    g_arg = NULL;
    g_quiet = false;
    unlock(&g_update);
    lock(&g_status_lock);
    memset(&g_status, 0, sizeof g_status);
    unlock(&g_status_lock);
}

/* ======================================================================
 * The watcher thread
 * ====================================================================== */

struct file_sig {
    int exists;
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime, ctime;
};

static struct file_sig
file_sig(const char *path)
{
    struct file_sig s;
    struct stat st;
    memset(&s, 0, sizeof s);
    if (stat(path, &st) == 0) {
        s.exists = 1;
        s.dev = st.st_dev;
        s.ino = st.st_ino;
        s.size = st.st_size;
        s.mtime = st.st_mtim;
        s.ctime = st.st_ctim;
    }
    return s;
}

static int
sig_equal(const struct file_sig *a, const struct file_sig *b)
{
    return a->exists == b->exists && a->dev == b->dev && a->ino == b->ino &&
           a->size == b->size && a->mtime.tv_sec == b->mtime.tv_sec &&
           a->mtime.tv_nsec == b->mtime.tv_nsec &&
           a->ctime.tv_sec == b->ctime.tv_sec &&
           a->ctime.tv_nsec == b->ctime.tv_nsec;
}

struct watch {
    char path[PATH_MAX];
    char dir[PATH_MAX];
    const char *base;
    int ifd;
    uint64_t first_ns;    /* first event of the pending burst; 0: none */
    uint64_t deadline_ns; /* reload when quiet until then */
    uint64_t next_stat_ns;
    struct file_sig sig;
};

static int
watch_open(struct watch *w, const char *path)
{
    snprintf(w->path, sizeof w->path, "%s", path);
    snprintf(w->dir, sizeof w->dir, "%s", path);
    char *slash = strrchr(w->dir, '/');
    if (slash == NULL) {
        snprintf(w->dir, sizeof w->dir, ".");
        w->base = w->path;
    } else {
        w->base = w->path + (slash - w->dir) + 1;
        if (slash == w->dir)
            slash[1] = '\0'; /* "/x": the directory is "/" */
        else
            *slash = '\0';
    }
    w->ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (w->ifd < 0)
        return -errno;
    uint32_t mask = IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE |
                    IN_DELETE | IN_DELETE_SELF | IN_MOVE_SELF;
    if (inotify_add_watch(w->ifd, w->dir, mask) < 0) {
        int rc = -errno;
        close(w->ifd);
        w->ifd = -1;
        return rc;
    }
    return 0;
}

/* Drains the inotify queue; 1 if any event concerns our file. */
static int
watch_drain(struct watch *w)
{
    _Alignas(struct inotify_event) char buf[4096];
    int hit = 0;
    for (;;) {
        ssize_t n = read(w->ifd, buf, sizeof buf);
        if (n <= 0)
            return hit; /* EAGAIN: drained */
        for (char *p = buf; p < buf + n;) {
            const struct inotify_event *ev = (const struct inotify_event *)p;
            /* Overflow: events were lost, so assume ours was one. The
             * directory itself moved or deleted: the stat poll goes on. */
            if (ev->mask & (IN_Q_OVERFLOW | IN_DELETE_SELF | IN_MOVE_SELF))
                hit = 1;
            else if (ev->len > 0 && strcmp(ev->name, w->base) == 0)
                hit = 1;
            p += sizeof *ev + ev->len;
        }
    }
}

static void
watch_reload(struct watch *w)
{
    w->first_ns = 0;
    w->deadline_ns = 0;
    /* The signature before reading: a write after this point changes it
     * again, so the stat poll catches it even if its event were lost. */
    w->sig = file_sig(w->path);
    cbc_config_reload();
}

/* The poll timeout until the next thing to do. */
static int
watch_timeout_ms(const struct watch *w, uint64_t now)
{
    uint64_t next = w->next_stat_ns;
    if (w->deadline_ns != 0 && w->deadline_ns < next)
        next = w->deadline_ns;
    return next <= now ? 0 : (int)((next - now + 999999) / 1000000);
}

static void
watch_event(struct watch *w, uint64_t now)
{
    uint64_t debounce = (uint64_t)g_debounce_ms * 1000000u;
    if (w->first_ns == 0)
        w->first_ns = now;
    w->deadline_ns = now + debounce;
    if (w->deadline_ns > w->first_ns + MAX_DEBOUNCE_FACTOR * debounce)
        w->deadline_ns = w->first_ns + MAX_DEBOUNCE_FACTOR * debounce;
}

static void *
watch_main(void *arg)
{
    struct watch *w = arg;
    struct pollfd pf[2] = {{.fd = g_stop_pipe[0], .events = POLLIN},
                           {.fd = w->ifd, .events = POLLIN}};
    pthread_setname_np(pthread_self(), "cb-config");
    w->sig = file_sig(w->path);
    w->next_stat_ns = now_ns(CLOCK_MONOTONIC) + STAT_POLL_MS * 1000000ull;
    for (;;) {
        uint64_t now = now_ns(CLOCK_MONOTONIC);
        int rc = poll(pf, w->ifd >= 0 ? 2 : 1, watch_timeout_ms(w, now));
        if (rc < 0 && errno != EINTR)
            break;
        if (pf[0].revents != 0)
            break; /* stop requested */
        now = now_ns(CLOCK_MONOTONIC);
        if (w->ifd >= 0 && (pf[1].revents & POLLIN) && watch_drain(w))
            watch_event(w, now);
        if (w->deadline_ns != 0 && now >= w->deadline_ns)
            watch_reload(w);
        if (now >= w->next_stat_ns) {
            w->next_stat_ns = now + STAT_POLL_MS * 1000000ull;
            struct file_sig s = file_sig(w->path);
            if (!sig_equal(&s, &w->sig) && w->deadline_ns == 0)
                watch_event(w, now);
        }
    }
    if (w->ifd >= 0)
        close(w->ifd);
    free(w);
    return NULL;
}

int
cbc_config_watch_start(const struct cbc_config_watch_opts *opts)
{
    if (g_watching)
        return -EALREADY;
    lock(&g_update);
    g_on_applied = opts ? opts->on_applied : NULL;
    g_arg = opts ? opts->arg : NULL;
    g_quiet = opts ? opts->quiet : false;
    g_debounce_ms = opts && opts->debounce_ms ? opts->debounce_ms
                                              : DEFAULT_DEBOUNCE_MS;
    char *path = g_path ? strdup(g_path) : NULL;
    unlock(&g_update);
    if (path == NULL)
        return g_path == NULL ? 0 : -ENOMEM; /* defaults: nothing to watch */
    struct watch *w = calloc(1, sizeof *w);
    int rc = w ? watch_open(w, path) : -ENOMEM;
    if (w != NULL && rc < 0 && !g_quiet)
        fprintf(stderr, "%s: config %s: cannot watch its directory (%s); "
                        "checking the file every second instead\n",
                g_prog, path, strerror(-rc));
    free(path);
    if (w == NULL)
        return -ENOMEM;
    if (pipe2(g_stop_pipe, O_CLOEXEC) != 0) {
        rc = -errno;
        goto fail;
    }
    rc = pthread_create(&g_thread, NULL, watch_main, w);
    if (rc != 0) {
        rc = -rc;
        close(g_stop_pipe[0]);
        close(g_stop_pipe[1]);
        g_stop_pipe[0] = g_stop_pipe[1] = -1;
        goto fail;
    }
    g_watching = true;
    return 0;
fail:
    if (w->ifd >= 0)
        close(w->ifd);
    free(w);
    return rc;
}

void
cbc_config_watch_stop(void)
{
    if (!g_watching)
        return;
    ssize_t n;
    do
        n = write(g_stop_pipe[1], "x", 1);
    while (n < 0 && errno == EINTR);
    pthread_join(g_thread, NULL);
    close(g_stop_pipe[0]);
    close(g_stop_pipe[1]);
    g_stop_pipe[0] = g_stop_pipe[1] = -1;
    g_watching = false;
}
