/*
 * bus.c -- reading a whole bus: discovering producer segments, reading
 * every ring, reporting losses and lifecycle as events, publishing this
 * reader's status, and removing drained segments after their grace period.
 *
 * Lifetime of a producer segment, as the reader sees it:
 *   attached --(producer marks it exited, or its pid dies)--> ending
 *   ending --(every ring drained: cursor at head)--> EXIT/DIED event
 *   drained --(grace period since the exit, or since we saw it dead)-->
 *     unlinked (unless no_gc) and detached.
 * The grace period lets a consumer started shortly after a short run read
 * all of it: nobody unlinks an exited segment younger than the grace.
 *
 * The status segment /clipbus-r.<bus>.<pid> is written only here, under a
 * sequence word (odd while written), at most every 100 ms.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bus_int.h"
#include "cb_atomic.h"
#include "reader_int.h"

#define SCAN_INTERVAL_NS   100000000u
/* With opts.dir_watched the caller forces a scan when inotify reports a new
 * file; the directory is then listed again only this often, in case a
 * notification was missed (the watch could not be added, say). */
#define LIST_WATCHED_NS    2000000000u
#define STATUS_INTERVAL_NS 100000000u
#define RING_BATCH         4096u
#define REFUSED_MAX        64u
/* Naps (cb_bus_wait): 1 ms to max_nap_ms, a power of two of milliseconds,
 * ending on multiples of their own length on CLOCK_MONOTONIC. */
#define NAP_MIN_US         1000u
#define NAP_MAX_MS         32u
/* A nap aims to gather this many 4096ths of the fullest ring (1/64)... */
#define NAP_AIM            64u
/* ...and is at most this many times the last one. */
#define NAP_GROWTH         8u
#define CREATE_GRACE_NS    2000000000u
/* While a segment is being created, scans come this often instead. */
#define RESCAN_SOON_NS     250000u

struct prod {
    struct cb_segment *seg;
    struct cb_cursor **cur;    /* per ring, allocated on first sight */
    uint32_t ncur;
    uint64_t lost_reported;    /* sum of cursor losses already evented */
    int live;                  /* last liveness seen */
    int announced;             /* NEW event sent */
    int broken_said;           /* a broken ring was reported */
    int ended;                 /* EXIT/DIED event sent */
    int gone;                  /* ended, and its process no longer runs */
    /* Gone and drained: nothing more can come. Polls and waits skip it;
     * only its grace period is left (a reader of short-lived producers
     * holds many such segments, and looking at each on every pass cost
     * more than reading the live ones). */
    int frozen;
    int from;                  /* where new cursors start */
    uint64_t end_seen_ns;      /* when we first saw it exited or dead */
};

/* A segment this reader finished with but did not unlink (no_gc, or the
 * unlink failed): never attached again while the same file exists. */
struct done_seg {
    char name[96];
    uint64_t ino;
};

struct cb_bus {
    char name[CB_BUS_NAME_MAX + 1];
    struct done_seg *done;
    size_t ndone, done_cap;
    struct cb_bus_opts opts;
    struct prod *prods;
    size_t nprods, cap;
    char refused[REFUSED_MAX][96];  /* bad segments already reported */
    size_t nrefused;
    char pending_why[REFUSED_MAX][300];
    size_t npending;
    uint64_t last_scan_ns, last_list_ns, last_status_ns;
    int rescan_soon;           /* a segment was being created */
    uint64_t rate_mark_ns, rate_mark_delivered;
    struct cb_bus_stats st;
    struct cb_status_header *status;
    char status_name[96];
    char sink[CB_PROGRAM_MAX];
    int opened;                /* the first scan is done */
    uint32_t wait_step_us;     /* cb_bus_wait's current nap */
    uint32_t nap_max_us;       /* its longest nap */
};

const char *
cb_bus_name_resolve(const char *bus, int *err)
{
    if (bus == NULL || bus[0] == '\0')
        bus = getenv("CLIPBUS_BUS"); /* NOLINT(concurrency-mt-unsafe) */
    if (bus == NULL || bus[0] == '\0')
        bus = "default";
    if (!cb__bus_name_valid(bus)) {
        *err = CB_EBUSNAME;
        return NULL;
    }
    *err = 0;
    return bus;
}

/* ------------------------------------------------------------------------
 * Listing the shm directory
 * ------------------------------------------------------------------------ */

/* Classifies a /dev/shm entry: "clipbus.<bus>.<pid>[.<n>]" is a producer,
 * "clipbus-r.<bus>.<pid>" a reader status. Writes the bus into bus_out. */
static int
classify(const char *ent, char *bus_out, size_t bus_len)
{
    const char *p, *dot;
    int kind;
    size_t n;

    if (strncmp(ent, "clipbus.", 8) == 0) {
        kind = CB_SHM_PRODUCER;
        p = ent + 8;
    } else if (strncmp(ent, "clipbus-r.", 10) == 0) {
        kind = CB_SHM_STATUS;
        p = ent + 10;
    } else {
        return 0;
    }
    dot = strchr(p, '.');
    if (dot == NULL || dot == p || (size_t)(dot - p) >= bus_len)
        return 0;
    n = (size_t)(dot - p);
    memcpy(bus_out, p, n);
    bus_out[n] = '\0';
    p = dot + 1;
    if (*p < '0' || *p > '9')
        return 0;
    while (*p >= '0' && *p <= '9')
        p++;
    if (kind == CB_SHM_PRODUCER && *p == '.' && p[1] >= '1' && p[1] <= '9' &&
        p[2] == '\0')
        return kind;
    return *p == '\0' ? kind : 0;
}

const char *
cb_shm_dir(void)
{
    return CB_SHM_DIR;
}

int
cb_shm_watch_open(void)
{
    int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);

    if (fd < 0)
        return -errno;
    if (inotify_add_watch(fd, CB_SHM_DIR, IN_CREATE | IN_MOVED_TO) < 0) {
        int err = -errno;
        close(fd);
        return err;
    }
    return fd;
}

int
cb_shm_watch_drain(int fd)
{
    _Alignas(struct inotify_event) char buf[4096];
    int changed = 0;

    while (fd >= 0 && read(fd, buf, sizeof buf) > 0)
        changed = 1;
    return changed;
}

int
cb_shm_list(const char *bus,
            int (*fn)(void *arg, int kind, const char *shm_name), void *arg)
{
    DIR *d = opendir(CB_SHM_DIR);
    struct dirent *e;
    int count = 0;

    if (d == NULL)
        return -errno;
    while ((e = readdir(d)) != NULL) { /* NOLINT(concurrency-mt-unsafe) */
        char b[CB_BUS_NAME_MAX + 1], name[300];
        int kind = classify(e->d_name, b, sizeof b);
        if (kind == 0 || (bus != NULL && strcmp(b, bus) != 0))
            continue;
        snprintf(name, sizeof name, "/%s", e->d_name);
        count++;
        if (fn != NULL && fn(arg, kind, name) != 0)
            break;
    }
    closedir(d);
    return count;
}

/* ------------------------------------------------------------------------
 * Status segment
 * ------------------------------------------------------------------------ */
static int
status_open(struct cb_bus *b)
{
    struct cb_status_header *s;
    size_t size = sizeof *s;
    int fd;

    snprintf(b->status_name, sizeof b->status_name, "/clipbus-r.%s.%u",
             b->name, (unsigned)getpid());
    /* A leftover of an earlier process with our pid: it is dead (we hold
     * the pid now), so replacing it loses nothing. */
    shm_unlink(b->status_name);
    fd = shm_open(b->status_name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC,
                  0600);
    if (fd < 0)
        return -errno;
    if (ftruncate(fd, (off_t)size) != 0 ||
        posix_fallocate(fd, 0, (off_t)size) != 0) {
        int err = -errno;
        close(fd);
        shm_unlink(b->status_name);
        return err ? err : -ENOSPC;
    }
    s = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    if (s == MAP_FAILED) {
        shm_unlink(b->status_name);
        return -errno;
    }
    s->layout_major = CB_LAYOUT_MAJOR;
    s->layout_minor = CB_LAYOUT_MINOR;
    s->pid = (uint32_t)getpid();
    s->start_time = cb__proc_start_time(s->pid);
    snprintf(s->program, sizeof s->program, "%s",
             b->opts.program ? b->opts.program : "reader");
    /* Release: the identity before the magic status readers check. */
    cb_store_u64(&s->magic, CB_STATUS_MAGIC, CB_RELEASE);
    b->status = s;
    return 0;
}

static void
status_publish(struct cb_bus *b, uint64_t now)
{
    struct cb_status_header *s = b->status;
    uint64_t seq, dt;
    uint32_t n = 0;

    if (s == NULL)
        return;
    seq = s->seq;
    cb_store_u64(&s->seq, seq + 1, CB_RELAXED);
    /* The odd mark before the body, as in the ring (ring.c W1-W2). */
    cb_fence(CB_RELEASE);
    dt = now - b->rate_mark_ns;
    if (dt >= 1000000000u || b->rate_mark_ns == 0) {
        uint64_t dd = b->st.delivered - b->rate_mark_delivered;
        if (b->rate_mark_ns != 0)
            cb_store_u64(&s->records_per_s,
                         (uint64_t)((double)dd * 1e9 / (double)dt),
                         CB_RELAXED);
        b->rate_mark_ns = now;
        b->rate_mark_delivered = b->st.delivered;
    }
    cb_store_u64(&s->heartbeat_real_ns, cb__real_ns(), CB_RELAXED);
    cb_store_u64(&s->delivered, b->st.delivered, CB_RELAXED);
    cb_store_u64(&s->lost, b->st.lost, CB_RELAXED);
    for (size_t i = 0; i < b->nprods; i++) {
        struct prod *p = &b->prods[i];
        for (uint32_t r = 0; r < p->ncur && n < CB_STATUS_RINGS_MAX; r++) {
            struct cb_cursor *c = p->cur[r];
            struct cb_status_ring *sr = &s->rings[n++];
            if (c == NULL) {
                n--;
                continue;
            }
            cb_store_u32(&sr->producer_pid, p->seg->info.pid, CB_RELAXED);
            cb_store_u32(&sr->ring, r, CB_RELAXED);
            cb_store_u64(&sr->cursor, c->next, CB_RELAXED);
            /* A frozen producer is drained: its head is our cursor, and
             * its pages, long cold, need not be touched ten times a
             * second for each of its rings. */
            cb_store_u64(&sr->head,
                         p->frozen ? c->next : cb_segment_head(p->seg, r),
                         CB_RELAXED);
            cb_store_u64(&sr->delivered, c->delivered, CB_RELAXED);
            cb_store_u64(&sr->lost, c->lost, CB_RELAXED);
        }
    }
    cb_store_u32(&s->nrings, n, CB_RELAXED);
    cb_store_u32(&s->producers, (uint32_t)b->nprods, CB_RELAXED);
    for (size_t i = 0; i < sizeof s->sink; i++)
        ((volatile char *)s->sink)[i] = b->sink[i];
    /* Publish: pairs with the acquire load in cb_status_read(). */
    cb_store_u64(&s->seq, seq + 2, CB_RELEASE);
    b->last_status_ns = now;
}

int
cb_status_read(const char *shm_name, struct cb_status_header *out)
{
    const struct cb_status_header *s;
    struct stat st;
    int fd = shm_open(shm_name, O_RDONLY | O_CLOEXEC, 0), err = CB_ENOTREADY;

    if (fd < 0)
        return -errno;
    if (fstat(fd, &st) != 0 || (size_t)st.st_size < sizeof *s) {
        close(fd);
        return CB_EBADSEG;
    }
    s = mmap(NULL, sizeof *s, PROT_READ, MAP_SHARED, fd, 0);
    close(fd);
    if (s == MAP_FAILED)
        return -errno;
    switch (cb_load_u64(&s->magic, CB_ACQUIRE)) {
    case 0: /* its reader is still creating it (or died doing so) */
        munmap((void *)(uintptr_t)s, sizeof *s);
        return CB_ENOTREADY;
    case CB_STATUS_MAGIC:
        if (s->layout_major == CB_LAYOUT_MAJOR)
            break;
        munmap((void *)(uintptr_t)s, sizeof *s);
        return CB_EVERSION;
    default:
        munmap((void *)(uintptr_t)s, sizeof *s);
        return CB_EBADSEG;
    }
    for (int tries = 0; tries < 1000; tries++) {
        uint64_t q1 = cb_load_u64(&s->seq, CB_ACQUIRE);
        uint32_t n;
        if (q1 & 1)
            continue;
        /* The header and the rings in use only: most readers follow a
         * few rings, and the whole table is 32 KiB to fault in and copy
         * for every look (clipbus-top and clipbus-alert look at every
         * reader's segment every second). */
        n = cb_load_u32(&s->nrings, CB_RELAXED);
        if (n > CB_STATUS_RINGS_MAX)
            n = CB_STATUS_RINGS_MAX;
        cb_read_relaxed((uint64_t *)out, (const uint64_t *)s,
                        (offsetof(struct cb_status_header, rings) +
                         (size_t)n * sizeof s->rings[0]) / 8);
        cb_fence(CB_ACQUIRE);
        if (cb_load_u64(&s->seq, CB_RELAXED) == q1) {
            err = 0;
            break;
        }
    }
    munmap((void *)(uintptr_t)s, sizeof *s);
    if (err == 0 && out->nrings > CB_STATUS_RINGS_MAX)
        out->nrings = CB_STATUS_RINGS_MAX;
    return err;
}

/* ------------------------------------------------------------------------
 * Discovery
 * ------------------------------------------------------------------------ */
/* Inode of a shm object, 0 if it is gone. */
static uint64_t
shm_ino(const char *name)
{
    char path[300];
    struct stat st;

    snprintf(path, sizeof path, "%s%s", CB_SHM_DIR, name);
    return stat(path, &st) == 0 ? (uint64_t)st.st_ino : 0;
}

static int
is_done(const struct cb_bus *b, const char *name)
{
    for (size_t i = 0; i < b->ndone; i++)
        if (strcmp(b->done[i].name, name) == 0)
            return b->done[i].ino == shm_ino(name);
    return 0;
}

static void
remember_done(struct cb_bus *b, const char *name, uint64_t ino)
{
    if (ino == 0)
        return;
    for (size_t i = 0; i < b->ndone; i++)
        if (strcmp(b->done[i].name, name) == 0) {
            b->done[i].ino = ino;
            return;
        }
    if (b->ndone == b->done_cap) {
        size_t cap = b->done_cap ? b->done_cap * 2 : 16;
        struct done_seg *nd = realloc(b->done, cap * sizeof *nd);
        if (nd == NULL)
            return; /* worst case: the segment is read again, counted */
        b->done = nd;
        b->done_cap = cap;
    }
    snprintf(b->done[b->ndone].name, sizeof b->done[0].name, "%s", name);
    b->done[b->ndone++].ino = ino;
}

static int
known(const struct cb_bus *b, const char *name)
{
    if (is_done(b, name))
        return 1;
    for (size_t i = 0; i < b->nprods; i++)
        if (strcmp(b->prods[i].seg->info.shm_name, name) == 0)
            return 1;
    for (size_t i = 0; i < b->nrefused; i++)
        if (strcmp(b->refused[i], name) == 0)
            return 1;
    return 0;
}

static void
refuse(struct cb_bus *b, const char *name, const char *why)
{
    if (b->nrefused < REFUSED_MAX)
        snprintf(b->refused[b->nrefused++], sizeof b->refused[0], "%s", name);
    if (b->npending < REFUSED_MAX)
        snprintf(b->pending_why[b->npending++], sizeof b->pending_why[0],
                 "%s", why);
}

/* Queues a CB_EV_BAD_SEGMENT message for the next poll. */
static void
refuse_note(struct cb_bus *b, const char *why)
{
    if (b->npending < REFUSED_MAX)
        snprintf(b->pending_why[b->npending++], sizeof b->pending_why[0],
                 "%s", why);
}

static int
add_prod(struct cb_bus *b, struct cb_segment *seg)
{
    if (b->nprods == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 8;
        struct prod *np = realloc(b->prods, cap * sizeof *np);
        if (np == NULL)
            return -ENOMEM;
        b->prods = np;
        b->cap = cap;
    }
    memset(&b->prods[b->nprods], 0, sizeof b->prods[0]);
    b->prods[b->nprods].seg = seg;
    b->prods[b->nprods].live = CB_PRODUCER_ALIVE;
    /* CB_FROM_NOW is about producers running when the reader opened;
     * producers that start later are read from their beginning. */
    b->prods[b->nprods].from = b->opened ? CB_FROM_OLDEST : b->opts.from;
    b->nprods++;
    return 0;
}

/* A producer creates its segment with shm_open(O_EXCL) and sizes it with
 * ftruncate just after: a scan can find it empty for a moment. An empty
 * file younger than CREATE_GRACE_NS is looked at again rather than
 * refused; an older one, or one with some bytes but less than a header,
 * is truncated for real. The size only ever goes from 0 to the whole
 * segment, once, so it is looked at *before* attaching: looked at after
 * an attach that found 0 bytes, it may have been sized in between, and
 * the segment would be refused for good (seen with readers woken by
 * inotify at the very creation). */
static int
young_file(const char *name, int empty_only)
{
    char path[300];
    struct stat st;
    struct timespec now;

    snprintf(path, sizeof path, "%s%s", CB_SHM_DIR, name);
    if (stat(path, &st) != 0 || (empty_only && st.st_size != 0))
        return 0;
    clock_gettime(CLOCK_REALTIME, &now);
    return (uint64_t)(now.tv_sec - st.st_ctim.tv_sec) * 1000000000u +
               (uint64_t)(now.tv_nsec - st.st_ctim.tv_nsec) <
           CREATE_GRACE_NS;
}

static int
being_created(const char *name)
{
    return young_file(name, 1);
}

static int
scan_one(void *arg, int kind, const char *name)
{
    struct cb_bus *b = arg;
    struct cb_segment *seg;
    char why[256];
    int err;

    if (kind != CB_SHM_PRODUCER || known(b, name))
        return 0;
    if (being_created(name)) {
        b->rescan_soon = 1;
        return 0;
    }
    err = cb_segment_attach(name, b->opts.allow_foreign, &seg, why,
                            sizeof why);
    if (err == CB_ENOTREADY && young_file(name, 0)) {
        /* Between shm_open and the header's magic (a fraction of a
         * millisecond): look again soon, not in 100 ms -- at 8 M
         * records/s a 100 ms delay is more than a ring. Only while the
         * file is young: a producer that died there is looked at at
         * the usual pace. */
        b->rescan_soon = 1;
        return 0;
    }
    if (err == CB_EBADSEG || err == CB_EVERSION || err == CB_EFOREIGN) {
        refuse(b, name, why); /* the segment itself is wrong: said once */
        return 0;
    }
    if (err != 0)
        return 0; /* being created, gone, or out of memory or descriptors:
                     look again next scan */
    if (add_prod(b, seg) != 0)
        cb_segment_detach(seg);
    return 0;
}

int
cb_bus_scan(struct cb_bus *b, int force)
{
    uint64_t now = cb__mono_ns();
    uint64_t list_every = b->opts.dir_watched ? LIST_WATCHED_NS
                                              : SCAN_INTERVAL_NS;

    if (!force && now - b->last_scan_ns < (b->rescan_soon ? RESCAN_SOON_NS
                                                          : SCAN_INTERVAL_NS))
        return (int)b->nprods;
    b->last_scan_ns = now;
    /* Listing the directory is the dear part of a scan: a getdents of
     * every segment of every bus on the machine, and a name comparison
     * for each. Seven consumers listing it ten times a second each was
     * 5-7 % of their CPU samples while short-lived producers came and
     * went (bench/RESULTS.md, 2026-11-29 18:45). */
    if (force || b->rescan_soon || now - b->last_list_ns >= list_every) {
        int err;
        b->last_list_ns = now;
        b->rescan_soon = 0; /* set again by scan_one while it still holds */
        err = cb_shm_list(b->name, scan_one, b);
        if (err < 0)
            return err;
    }
    for (size_t i = 0; i < b->nprods; i++) {
        struct prod *p = &b->prods[i];
        if (p->live == CB_PRODUCER_ALIVE) {
            p->live = cb_segment_liveness(p->seg);
            if (p->live != CB_PRODUCER_ALIVE)
                p->end_seen_ns = now;
            cb__seg_refine_clock(p->seg);
        } else if (p->ended && !p->gone &&
                   !cb_process_alive(p->seg->info.pid,
                                     p->seg->info.start_time)) {
            p->gone = 1; /* ended while still in its exit handlers */
        }
    }
    return (int)b->nprods;
}

int
cb_bus_open(const char *bus, const struct cb_bus_opts *opts,
            struct cb_bus **out)
{
    struct cb_bus *b;
    int err;
    const char *name = cb_bus_name_resolve(bus, &err);

    *out = NULL;
    if (name == NULL)
        return err;
    b = calloc(1, sizeof *b);
    if (b == NULL)
        return -ENOMEM;
    snprintf(b->name, sizeof b->name, "%s", name);
    if (opts != NULL)
        b->opts = *opts;
    if (b->opts.grace_s == 0)
        b->opts.grace_s = 60;
    if (b->opts.status_interval_ms == 0)
        b->opts.status_interval_ms = STATUS_INTERVAL_NS / 1000000u;
    if (b->opts.ring_batch == 0)
        b->opts.ring_batch = RING_BATCH;
    if (b->opts.max_nap_ms == 0)
        b->opts.max_nap_ms = NAP_MAX_MS;
    if (b->opts.max_nap_ms > 1000u)
        b->opts.max_nap_ms = 1000u;
    /* The largest power of two of milliseconds not above the maximum. */
    b->nap_max_us = NAP_MIN_US;
    while (b->nap_max_us * 2u <= b->opts.max_nap_ms * 1000u)
        b->nap_max_us *= 2u;
    if (!b->opts.no_status && (err = status_open(b)) != 0) {
        free(b);
        return err;
    }
    err = cb_bus_scan(b, 1);
    if (err < 0) {
        cb_bus_close(b);
        return err;
    }
    b->opened = 1;
    b->wait_step_us = NAP_MIN_US;
    *out = b;
    return 0;
}

static void
prod_free(struct prod *p)
{
    for (uint32_t r = 0; r < p->ncur; r++)
        free(p->cur[r]);
    free(p->cur);
    cb_segment_detach(p->seg);
}

void
cb_bus_close(struct cb_bus *b)
{
    if (b == NULL)
        return;
    for (size_t i = 0; i < b->nprods; i++)
        prod_free(&b->prods[i]);
    free(b->prods);
    free(b->done);
    if (b->status != NULL) {
        munmap(b->status, sizeof *b->status);
        shm_unlink(b->status_name);
    }
    free(b);
}

/* ------------------------------------------------------------------------
 * Reading
 * ------------------------------------------------------------------------ */

/* Makes sure every claimed ring of p has a cursor. */
static int
prod_cursors(struct prod *p)
{
    uint32_t n = cb_segment_rings(p->seg);

    if (n <= p->ncur)
        return 0;
    struct cb_cursor **nc = realloc(p->cur, n * sizeof *nc);
    if (nc == NULL)
        return -ENOMEM;
    p->cur = nc;
    for (uint32_t r = p->ncur; r < n; r++) {
        nc[r] = malloc(sizeof *nc[r]);
        if (nc[r] == NULL ||
            cb_cursor_init(nc[r], p->seg, r, p->from) != 0) {
            free(nc[r]);
            p->ncur = r;
            return -ENOMEM;
        }
    }
    p->ncur = n;
    return 0;
}

static int
emit(cb_event_fn fn, void *arg, int type, struct cb_segment *seg)
{
    struct cb_event ev = {.type = type, .seg = seg};

    return fn ? fn(arg, &ev) : 0;
}

/* Reads one ring up to `budget` entries. Returns entries read, or -1 if
 * the callback asked to stop. */
static long
read_ring(struct cb_bus *b, struct prod *p, uint32_t r, size_t budget,
          cb_event_fn fn, void *arg)
{
    struct cb_cursor *c = p->cur[r];
    uint64_t lost0 = c->lost, del0 = c->delivered;
    struct cb_entry e;
    long n = 0;
    int stop = 0;

    while ((size_t)n < budget && !stop) {
        int rc = cb_cursor_next(c, &e);
        if (rc == 0)
            break;
        if (rc < 0) {
            /* A malformed entry was skipped and counted lost; a broken
             * ring is abandoned, said once. Either way, on next poll. */
            if (c->broken && !p->broken_said) {
                char why[300];
                p->broken_said = 1;
                snprintf(why, sizeof why,
                         "%s: ring %u: sequence words contradict the head "
                         "word; ring abandoned",
                         p->seg->info.shm_name, r);
                refuse_note(b, why);
            }
            break;
        }
        n++;
        if (fn != NULL) {
            struct cb_event ev = {.type = CB_EV_ENTRY, .seg = p->seg,
                                  .entry = &e, .ring = r};
            stop = fn(arg, &ev);
        }
    }
    b->st.delivered += c->delivered - del0;
    b->st.entries += (uint64_t)n;
    if (c->lost != lost0) {
        b->st.lost += c->lost - lost0;
        if (fn != NULL) {
            struct cb_event ev = {.type = CB_EV_LOSS, .seg = p->seg,
                                  .ring = r, .count = c->lost - lost0};
            stop |= fn(arg, &ev);
        }
    }
    return stop ? -1 : n;
}

static int
prod_drained(const struct prod *p)
{
    uint32_t n = cb_segment_rings(p->seg);

    if (n > p->ncur)
        return 0;
    for (uint32_t r = 0; r < n; r++)
        if (cb_cursor_lag(p->cur[r]) > 0)
            return 0;
    return 1;
}

/* Counts the unfinished tail of each ring of an ended producer as lost
 * (cb_cursor_finish) and reports it. Returns 1 if the callback said stop. */
static int
finish_cursors(struct cb_bus *b, struct prod *p, cb_event_fn fn, void *arg)
{
    for (uint32_t r = 0; r < p->ncur; r++) {
        uint64_t n = cb_cursor_finish(p->cur[r]);
        struct cb_event ev = {.type = CB_EV_LOSS, .seg = p->seg, .ring = r,
                              .count = n};
        if (n == 0)
            continue;
        b->st.lost += n;
        if (fn != NULL && fn(arg, &ev))
            return 1;
    }
    return 0;
}

/* Ends, then removes, producers that exited or died. Returns 1 if the
 * callback asked to stop. */
static int
reap(struct cb_bus *b, cb_event_fn fn, void *arg, uint64_t now)
{
    for (size_t i = 0; i < b->nprods;) {
        struct prod *p = &b->prods[i];
        if (cb_segment_faulted(p->seg)) {
            /* Truncated under us: said as a bad segment, dropped, never
             * attached again while that file exists, never unlinked. */
            char why[300];
            snprintf(why, sizeof why,
                     "%s: the file shrank under the reader (a read faulted);"
                     " detached", p->seg->info.shm_name);
            refuse_note(b, why);
            remember_done(b, p->seg->info.shm_name,
                          shm_ino(p->seg->info.shm_name));
            prod_free(p);
            b->prods[i] = b->prods[--b->nprods];
            continue;
        }
        if (!p->frozen &&
            (p->live == CB_PRODUCER_ALIVE || !prod_drained(p))) {
            i++;
            continue;
        }
        if (!p->ended) {
            p->ended = 1;
            /* Nothing more will come: an entry its process left unfinished
             * is lost, and said so. Only once the process is gone -- an
             * exited producer may still be in its exit handlers. */
            if (!cb_process_alive(p->seg->info.pid,
                                  p->seg->info.start_time)) {
                p->gone = 1;
                if (finish_cursors(b, p, fn, arg))
                    return 1;
            }
            if (emit(fn, arg, p->live == CB_PRODUCER_EXITED
                                  ? CB_EV_PRODUCER_EXIT
                                  : CB_EV_PRODUCER_DIED,
                     p->seg))
                return 1;
        }
        /* Drained after its process was gone: frozen from now on. */
        if (p->gone)
            p->frozen = 1;
        if (now - p->end_seen_ns < (uint64_t)b->opts.grace_s * 1000000000u) {
            i++;
            continue;
        }
        if (b->opts.no_gc || shm_unlink(p->seg->info.shm_name) != 0)
            remember_done(b, p->seg->info.shm_name,
                          shm_ino(p->seg->info.shm_name));
        prod_free(p);
        b->prods[i] = b->prods[--b->nprods];
    }
    return 0;
}

long
cb_bus_poll(struct cb_bus *b, cb_event_fn fn, void *arg, size_t max)
{
    uint64_t now;
    long total = 0;

    cb_bus_scan(b, 0);
    for (size_t i = 0; i < b->npending; i++) {
        struct cb_event ev = {.type = CB_EV_BAD_SEGMENT,
                              .why = b->pending_why[i]};
        if (fn != NULL)
            fn(arg, &ev);
    }
    b->npending = 0;
    /* Every producer is announced once, before its first entry, however
     * it was found (cb_bus_open, cb_bus_scan, cb_bus_wait or here). */
    for (size_t i = 0; i < b->nprods; i++) {
        if (b->prods[i].announced)
            continue;
        b->prods[i].announced = 1;
        if (emit(fn, arg, CB_EV_PRODUCER_NEW, b->prods[i].seg))
            return total;
    }
    for (size_t i = 0; i < b->nprods; i++) {
        struct prod *p = &b->prods[i];
        if (p->frozen || prod_cursors(p) != 0)
            continue;
        for (uint32_t r = 0; r < p->ncur; r++) {
            size_t batch = b->opts.ring_batch;
            size_t budget = max ? max - (size_t)total : batch;
            long n;
            if (max && (size_t)total >= max)
                goto done;
            n = read_ring(b, p, r, budget < batch ? budget : batch, fn, arg);
            if (n < 0)
                return total;
            total += n;
        }
    }
done:
    now = cb__mono_ns();
    reap(b, fn, arg, now);
    if (now - b->last_status_ns >=
        (uint64_t)b->opts.status_interval_ms * 1000000u)
        status_publish(b, now);
    return total;
}

/* How much of its ring the fullest cursor has yet to read, in 64ths;
 * -1 when nothing at all waits. A ring not followed yet (a new producer
 * or thread) sets *fresh. */
static int
bus_backlog(struct cb_bus *b, int *fresh)
{
    int most = -1;

    *fresh = 0;
    for (size_t i = 0; i < b->nprods; i++) {
        struct prod *p = &b->prods[i];
        uint64_t cap = cb__seg_ring_records(p->seg);
        if (p->frozen)
            continue;
        if (cb_segment_rings(p->seg) > p->ncur) {
            *fresh = 1;
            if (most < 0)
                most = 0;
        }
        for (uint32_t r = 0; r < p->ncur; r++) {
            uint64_t lag = cb_cursor_lag(p->cur[r]);
            int f;
            if (lag == 0)
                continue;
            f = cap != 0 && lag < cap ? (int)(lag * 4096 / cap) : 4096;
            if (f > most)
                most = f;
        }
    }
    return most;
}

/* 1 if no attached producer is alive: nothing can be published until a
 * new segment appears. */
static int
none_alive(const struct cb_bus *b)
{
    for (size_t i = 0; i < b->nprods; i++)
        if (b->prods[i].live == CB_PRODUCER_ALIVE)
            return 0;
    return 1;
}

/* Naps and what they cost. A reader never hears from its producers (they
 * make no system call for it), so it sleeps in naps and looks. Each
 * wake-up costs the machine more than the look: on a busy CPU a timer
 * interrupt and two context switches, several microseconds under a
 * hypervisor, taken from whatever the CPU was running -- the monitored
 * program. Seven consumers napping 8 ms woke about 1000 times a second.
 * (Halving that did not measurably change clip-analyzer's time: what the
 * consumers cost it follows their CPU time, bench/RESULTS.md, 2026-11-29;
 * fewer wake-ups are still less work for the machine.) So:
 *
 *  - A nap is paced to the fastest ring: it aims to gather 1/64 of that
 *    ring, at the rate the last nap saw, between 1 ms and max_nap_ms
 *    (32 ms; cb_bus_opts). At 8 M records/s that is 1 ms (a 64 K-record
 *    ring fills in 8 ms); for clip-analyzer's few thousand a second, the
 *    maximum. It grows at most 8-fold per nap, so a lull does not jump
 *    straight to the longest nap, and a new ring (a writer of unknown
 *    pace) starts again at 1 ms.
 *  - Naps end on multiples of their length on CLOCK_MONOTONIC, the same
 *    grid for every process: consumers of one machine wake together, one
 *    timer interrupt for all of them, instead of each at its own moment.
 *  - A timeout at least as long as the nap is rounded up to the same grid
 *    (so by less than a nap); a shorter one is kept.
 *
 * The cost: a writer that goes from silence to over 2 M records/s can
 * lap a 64 K-record ring within one 32 ms nap. Such losses are counted,
 * never silent; a lower max_nap_ms or larger rings (CLIPBUS_RING_RECORDS)
 * prevent them. Scaling naps below 1 ms for fast streams was tried and
 * lost records at 8 M records/s on a busy 2-CPU machine, where the extra
 * wake-ups competed with the producer and the consumer's own worker. */
int
cb_bus_wait(struct cb_bus *b, int timeout_ms)
{
    return cb_bus_wait_fd(b, timeout_ms, -1);
}

/* The next nap after one of `slept_ns` that gathered `f` 4096ths of the
 * fullest ring (0: nothing). */
static void
pace(struct cb_bus *b, int f, uint64_t slept_ns)
{
    uint64_t step = (uint64_t)b->wait_step_us * 1000u;
    uint64_t aim = f > 0 ? slept_ns * NAP_AIM / (uint64_t)f : UINT64_MAX;
    uint32_t us = NAP_MIN_US;

    if (aim > step * NAP_GROWTH)
        aim = step * NAP_GROWTH;
    while (us < b->nap_max_us && (uint64_t)us * 2000u <= aim)
        us *= 2u;
    b->wait_step_us = us;
}

/* The first multiple of `grid_ns` after `t` (CLOCK_MONOTONIC). */
static uint64_t
grid_after(uint64_t t, uint64_t grid_ns)
{
    return (t / grid_ns + 1) * grid_ns;
}

int
cb_bus_wait_fd(struct cb_bus *b, int timeout_ms, int fd)
{
    uint64_t end = cb__mono_ns() + (uint64_t)timeout_ms * 1000000u;
    uint64_t nap_start = 0;
    int napped = 0, fresh;

    for (;;) {
        struct timespec ts;
        uint64_t now, wake, ns;
        int backlog = bus_backlog(b, &fresh);

        now = cb__mono_ns();
        if (fresh) {
            b->wait_step_us = NAP_MIN_US; /* a new writer: pace unknown */
            return 1;
        }
        if (napped)
            pace(b, backlog > 0 ? backlog : 0, now - nap_start);
        if (backlog >= 0)
            return 1;
        if (now >= end)
            return 0;
        /* A segment being created is looked at again in a moment. With
         * the caller's fd watching the shm directory and no producer
         * alive, only a new segment can bring records, and the fd tells
         * of it: sleep out the timeout (an idle consumer then wakes a few
         * times a second, not 30). */
        if (b->rescan_soon)
            wake = now + RESCAN_SOON_NS;
        else if (fd >= 0 && none_alive(b))
            wake = grid_after(end - 1, (uint64_t)b->nap_max_us * 1000u);
        else
            wake = grid_after(now, (uint64_t)b->wait_step_us * 1000u);
        /* A timeout shorter than the nap is kept (tail --no-follow waits
         * 2 ms for a writer to finish an entry). */
        if (wake > end && (uint64_t)timeout_ms * 1000u < b->wait_step_us)
            wake = end;
        ns = wake - now;
        ts.tv_sec = (time_t)(ns / 1000000000u);
        ts.tv_nsec = (long)(ns % 1000000000u);
        nap_start = now;
        if (fd >= 0) {
            struct pollfd pfd = {.fd = fd, .events = POLLIN};
            int rc = ppoll(&pfd, 1, &ts, NULL);
            if (rc > 0) {
                /* The caller looks at what fd says: likely a new
                 * producer, whose pace is unknown. */
                b->wait_step_us = NAP_MIN_US;
                return 1;
            }
            /* A signal ends the wait: the caller's handler may have set
             * a flag it must look at now, not after the timeout. */
            if (rc < 0 && errno == EINTR)
                return 0;
        } else {
            struct timespec at = {.tv_sec = (time_t)(wake / 1000000000u),
                                  .tv_nsec = (long)(wake % 1000000000u)};
            if (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &at, NULL) ==
                EINTR)
                return 0; /* as above */
        }
        napped = 1;
        cb_bus_scan(b, 0);
        if (b->npending != 0)
            return 1;
    }
}

void
cb_bus_stats(const struct cb_bus *b, struct cb_bus_stats *out)
{
    uint32_t rings = 0;

    *out = b->st;
    for (size_t i = 0; i < b->nprods; i++)
        rings += b->prods[i].ncur;
    out->producers = (uint32_t)b->nprods;
    out->rings = rings;
}

void
cb_bus_set_sink_state(struct cb_bus *b, const char *text)
{
    snprintf(b->sink, sizeof b->sink, "%s", text ? text : "");
}

struct cb_segment *
cb_bus_producer(const struct cb_bus *b, size_t i)
{
    return i < b->nprods ? b->prods[i].seg : NULL;
}
