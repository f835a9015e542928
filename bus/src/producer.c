/*
 * producer.c -- the analyzer's side: opening the segment, claiming a ring
 * per thread, and every record-emitting call of clipbus.h.
 *
 * The publish path -- everything after a thread's first record -- makes
 * no system call, takes no lock, allocates nothing and never reads reader
 * state: it reads the clock and stores the record's words straight into
 * the next slot of the thread's own ring (slot_put below; ring.c has the
 * protocol). tests/bus/test_seccomp.c runs it under SECCOMP_MODE_STRICT,
 * where any system call kills the process. The exceptions are documented
 * where they are: CB_TRACK_PERFORMANCE's resource readings, and first
 * sight of a name or label (one mutex, once per name).
 *
 * Slow paths: cb__ensure_open() (first record of the process), the
 * thread's first record (claims a ring: CAS on the ring's owner word,
 * fallocate of its slots, pthread_setspecific so the ring is released
 * when the thread exits), cb_session_begin (an atomic add).
 *
 * Section map: state and open -- threads and rings -- publishing --
 * monitored calls -- sessions and progress -- metrics and log -- fork and
 * exit.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include "bus_int.h"
#include "cb_atomic.h"

/* ========================================================================
 * State and open
 * ======================================================================== */
struct cb_producer cb__prod = {
    .state = CB_PROD_UNOPENED,
    .fd = -1,
    .lock = PTHREAD_MUTEX_INITIALIZER,
};
__thread struct cb__thread cb__thr __attribute__((tls_model("initial-exec")));
uint32_t cb__session;
struct cb_perf_site cb__perf_always = {1, 0, 0, 0};

static int atexit_done;
static void release_thread(void *arg);
static void at_fork_prepare(void);
static void at_fork_parent(void);
static void at_fork_child(void);

static void
lock_or_die(void)
{
    int err = pthread_mutex_lock(&cb__prod.lock);
    if (err != 0)
        CB_DIE(err);
}

static void
unlock_or_die(void)
{
    int err = pthread_mutex_unlock(&cb__prod.lock);
    if (err != 0)
        CB_DIE(err);
}

static void
report_off(const char *bus, int err)
{
    if (getenv("CLIPBUS_QUIET") != NULL) /* NOLINT(concurrency-mt-unsafe) */
        return;
    if (err == CB_EBUSNAME)
        fprintf(stderr,
                "clipbus: instrumentation off: bus name '%.64s' is invalid: "
                "use 1 to 48 of [A-Za-z0-9_-] (set CLIPBUS_BUS)\n",
                bus ? bus : "");
    else if (err != CB_EENV) /* read_params() already said which */
        fprintf(stderr,
                "clipbus: instrumentation off: cannot create segment on bus "
                "'%s' in %s: %s\n",
                bus ? bus : "?", CB_SHM_DIR, cb_strerror(err));
}

/* Caller holds the lock. */
static int
open_locked(const char *bus)
{
    const char *env_off = getenv("CLIPBUS_DISABLE"); /* NOLINT */
    int err;

    if (cb__prod.state != CB_PROD_UNOPENED)
        return cb__prod.state == CB_PROD_OPEN ? 0 : cb__prod.state;
    if (env_off != NULL && env_off[0] != '\0' && strcmp(env_off, "0") != 0)
        return cb__prod.state = CB_EDISABLED;
    /* NULL: the bus this process opened before a fork(), else
     * CLIPBUS_BUS (empty counts as unset), else "default". An explicit
     * empty name is invalid. */
    if (bus == NULL && cb__prod.bus[0] != '\0')
        bus = cb__prod.bus;
    if (bus == NULL)
        bus = getenv("CLIPBUS_BUS"); /* NOLINT */
    if (bus == NULL || bus[0] == '\0')
        bus = "default";
    cb__prod.pid = (uint32_t)getpid();
    err = cb__bus_name_valid(bus) ? 0 : CB_EBUSNAME;
    if (err == 0 && !cb__prod.key_ok) {
        err = -pthread_key_create(&cb__prod.key, release_thread);
        cb__prod.key_ok = err == 0;
    }
    if (err == 0) {
        if (bus != cb__prod.bus) /* never copy onto itself */
            snprintf(cb__prod.bus, sizeof cb__prod.bus, "%s", bus);
        err = cb__segment_create(bus);
    }
    if (err == 0 && cb__prod.index == NULL)
        err = cb__index_init(cb__prod.names_size);
    if (err != 0) {
        report_off(bus, err);
        return cb__prod.state = err;
    }
    if (cb__prod.fork_base != NULL) {
        munmap(cb__prod.fork_base, cb__prod.fork_size);
        cb__prod.fork_base = NULL;
    }
    if (!atexit_done) {
        atexit_done = 1;
        atexit(cb_close);
        pthread_atfork(at_fork_prepare, at_fork_parent, at_fork_child);
    }
    cb__prod.perf_slow_ticks =
        (uint64_t)((double)cb__prod.perf_slow_us * 1e-6 *
                   (double)cb__prod.hdr->tsc_hz);
    /* Release: the mapping and every field above before OPEN. */
    cb_store_int(&cb__prod.state, CB_PROD_OPEN, CB_RELEASE);
    return 0;
}

int
cb__ensure_open(void)
{
    /* Acquire: pairs with the release store in open_locked(), so a thread
     * that sees OPEN sees the mapping. A stale 0 only sends this thread
     * to take the lock. */
    int s = cb_load_int(&cb__prod.state, CB_ACQUIRE);
    int err;

    if (CB_LIKELY(s == CB_PROD_OPEN))
        return 0;
    if (s < 0)
        return s;
    lock_or_die();
    err = open_locked(NULL);
    unlock_or_die();
    return err;
}

int
cb_open(const char *bus)
{
    int err;

    if (bus != NULL && bus[0] == '\0') {
        lock_or_die();
        if (cb__prod.state == CB_PROD_UNOPENED) {
            report_off(bus, CB_EBUSNAME);
            cb_store_int(&cb__prod.state, CB_EBUSNAME, CB_RELEASE);
        }
        unlock_or_die();
        return cb__prod.state == CB_PROD_OPEN ? 0 : cb__prod.state;
    }
    lock_or_die();
    err = open_locked(bus);
    unlock_or_die();
    return err;
}

int
cb_state(void)
{
    int s = cb_load_int(&cb__prod.state, CB_ACQUIRE);
    return s < 0 ? s : 0;
}

void
cb_close(void)
{
    struct cb_seg_header *h = cb__prod.hdr;

    if (h == NULL || cb__prod.state != CB_PROD_OPEN ||
        cb__prod.pid != (uint32_t)getpid())
        return;
    h->exit_real_ns = cb__real_ns();
    if (h->clock_kind == CB_CLOCK_TSC)
        cb__clock_end_pair(h);
    /* Release: exit time, the end pair and every record before them before
     * the state
     * readers poll; pairs with the acquire load in reader.c. */
    cb_store_u32(&h->state, CB_SEG_EXITED, CB_RELEASE);
    /* Threads still running may go on writing: readers drain whatever is
     * published, so nothing is dropped. The mapping stays for them. */
}

void
cb__test_set_ring_base(uint64_t base)
{
    cb__prod.test_ring_base = base;
}

/* ========================================================================
 * Threads and rings
 * ======================================================================== */
static struct cb_ring_header *
ring_at(uint32_t i)
{
    return (struct cb_ring_header *)(cb__prod.base +
                                     cb__prod.hdr->rings_offset +
                                     (uint64_t)i * cb__prod.ring_stride);
}

/* A stop this far ahead means "the whole ring is backed": signed
 * differences against it stay positive for 2^62 records, and the slow
 * path moves it on if a thread ever gets there. */
#define STOP_FAR (UINT64_C(1) << 62)

/* Test hook: growing a ring fails with this -errno while it is not 0. */
static int test_grow_err;

void
cb__test_fail_grow(int err)
{
    cb_store_int(&test_grow_err, err, CB_RELAXED);
}

/* Backs bytes [from, from + len) of ring i with memory. Returns 0 or
 * -errno (ENOSPC when /dev/shm is full). */
static int
ring_back(uint32_t i, uint64_t from, uint64_t len)
{
    off_t off = (off_t)(cb__prod.hdr->rings_offset +
                        (uint64_t)i * cb__prod.ring_stride + from);

    return -posix_fallocate(cb__prod.fd, off, (off_t)len);
}

/* Backs the ring's header and its first slots (first claim ever) and sets
 * its start. Only the first CB_RING_CHUNK slots: a thread that writes a
 * few records then costs 256 KiB, not the whole ring (a 4 MiB fallocate
 * is about half a millisecond, and the memory stays taken while the
 * segment lives); ring_grow() backs the rest when the thread gets there.
 * The claiming thread owns the ring (its CAS on owner_tid won), so plain
 * stores are fine until `ready`, which readers load with acquire order. */
static int
ring_prepare(struct cb_ring_header *r, uint32_t i)
{
    struct cb_record *slots = (struct cb_record *)(r + 1);
    uint64_t base = cb__prod.test_ring_base, cap = cb__prod.ring_records;
    /* A ring numbered from elsewhere (test hook) has all its slots seeded
     * below, which touches every page: back them all. */
    uint64_t first = base == 0 && cap > 2 * CB_RING_CHUNK ? CB_RING_CHUNK
                                                          : cap;
    int err;

    if (cb_load_u32(&r->ready, CB_RELAXED))
        return 0;
    err = ring_back(i, 0, CB_RING_HEADER_SIZE + first * CB_RECORD_SIZE);
    if (err != 0)
        return err;
    if (base != 0) {
        /* Each slot holds the published sequence of the record one lap
         * before the first that will land in it: "not yet" to readers.
         * Unsigned arithmetic wraps as the protocol expects. */
        for (uint64_t n = base; n != base + cap; n++)
            slots[n & (cap - 1)].seq = 2 * (n - cap) + 2;
        r->base = base;
        r->head = base;
    }
    cb_store_u32(&r->ready, first == cap ? 2 : 1, CB_RELEASE);
    return 0;
}

/* Backs the slots past the first CB_RING_CHUNK: a one-time fallocate by
 * the owning thread, on the record that first needs them. */
static int
ring_grow(struct cb__thread *t)
{
    struct cb_ring_header *r = t->ring;
    uint64_t cap = cb__prod.ring_records;
    int err = cb_load_int(&test_grow_err, CB_RELAXED);

    if (cb_load_u32(&r->ready, CB_RELAXED) == 2)
        return 0;
    if (err == 0)
        err = ring_back(t->ring_idx,
                        CB_RING_HEADER_SIZE +
                            (uint64_t)CB_RING_CHUNK * CB_RECORD_SIZE,
                        (cap - CB_RING_CHUNK) * CB_RECORD_SIZE);
    if (err != 0)
        return err;
    /* Release: a later owner of this ring that reads 2 sees the slots. */
    cb_store_u32(&r->ready, 2, CB_RELEASE);
    return 0;
}

/* Sets how far the thread may write: to the end of the backed part of
 * its ring (records base .. base + CB_RING_CHUNK - 1 before ring_grow,
 * as base is 0 whenever the ring is backed in two steps), or "far". The
 * inline paths of clipbus.h get the same limit when the clock is the TSC,
 * else none. */
static void
thread_set_stop(struct cb__thread *t)
{
    struct cb_ring_header *r = t->ring;

    if (cb_load_u32(&r->ready, CB_ACQUIRE) == 2)
        t->stop = t->head + STOP_FAR;
    else
        t->stop = r->base + CB_RING_CHUNK;
    t->istop = cb__clock_tsc ? t->stop : t->head;
}

/* 1 when the thread may write an entry of any length (CB_EXT_MAX + 1
 * records) without passing its stop. */
static inline int
thread_room(const struct cb__thread *t)
{
    return (int64_t)(t->stop - t->head) > (int64_t)CB_EXT_MAX + 1;
}

/* The thread has a ring but no room: backs the rest of the ring, or, if
 * that fails (no memory in /dev/shm), drops the record and counts it,
 * says so once per process, and tries again every 1024 records. */
static int
thread_grow_slow(struct cb__thread *t)
{
    static int reported;
    int err;

    if (t->grow_failed && ++t->retry % 1024 != 0) {
        cb_faa_u64(&cb__prod.hdr->records_unringed, 1);
        return 0;
    }
    err = ring_grow(t);
    if (err != 0) {
        t->grow_failed = 1;
        cb_faa_u64(&cb__prod.hdr->records_unringed, 1);
        if (!cb_load_int(&reported, CB_RELAXED) &&
            getenv("CLIPBUS_QUIET") == NULL) { /* NOLINT */
            cb_store_int(&reported, 1, CB_RELAXED);
            fprintf(stderr,
                    "clipbus: cannot back the rest of thread %u's ring in "
                    "%s%s: %s; its records are dropped and counted until "
                    "there is room\n",
                    t->tid, CB_SHM_DIR, cb__prod.shm_name,
                    cb_strerror(err));
        }
        return 0;
    }
    t->grow_failed = 0;
    thread_set_stop(t);
    return 1;
}

static void
raise_hwm(uint32_t n)
{
    uint32_t *hwm = &cb__prod.hdr->rings_hwm;
    uint32_t cur = cb_load_u32(hwm, CB_RELAXED);

    while (cur < n && !cb_cas_u32(hwm, cur, n))
        cur = cb_load_u32(hwm, CB_RELAXED);
}

static void publish_thread_record(struct cb__thread *t);

int
cb__thread_attach(struct cb__thread *t)
{
    uint32_t tid = (uint32_t)gettid();
    int err = cb__ensure_open();

    if (err != 0)
        return err;
    for (uint32_t i = 0; i < cb__prod.ring_count; i++) {
        struct cb_ring_header *r = ring_at(i);
        if (cb_load_u32(&r->owner_tid, CB_RELAXED) != 0 ||
            !cb_cas_u32(&r->owner_tid, 0, tid))
            continue;
        /* The CAS made the ring ours alone: preparing it needs no lock,
         * so threads starting together allocate their rings in parallel
         * (a 4 MiB fallocate is about half a millisecond). */
        err = ring_prepare(r, i);
        if (err == 0)
            raise_hwm(i + 1);
        if (err != 0) {
            cb_store_u32(&r->owner_tid, 0, CB_RELEASE);
            break;
        }
        r->claims++;
        pthread_getname_np(pthread_self(), r->thread_name,
                           sizeof r->thread_name);
        t->ring = r;
        t->slots = (struct cb_record *)(r + 1);
        t->mask = cb__prod.ring_records - 1;
        t->head = cb_load_u64(&r->head, CB_RELAXED);
        t->ring_idx = i;
        t->tid = tid;
        t->depth = 0;
        t->pushes = cb_load_u64(&r->pushes, CB_RELAXED);
        t->unringed = 0;
        t->grow_failed = 0;
        thread_set_stop(t);
        pthread_setspecific(cb__prod.key, t);
        /* A ring taken over with its first chunk nearly full may need
         * the rest before this thread's first entry. */
        if (thread_room(t) || thread_grow_slow(t))
            publish_thread_record(t);
        return 0;
    }
    if (!t->unringed) {
        t->unringed = 1;
        cb_faa_u64(&cb__prod.hdr->threads_unringed, 1);
    }
    return err != 0 ? err : -EAGAIN;
}

/* Thread-exit destructor (pthread key): gives the ring back. Frames still
 * on the in-flight stack belong to a thread that no longer runs. */
static void
release_thread(void *arg)
{
    struct cb__thread *t = arg;
    struct cb_ring_header *r = t->ring;

    if (r == NULL)
        return;
    cb_store_u32(&r->depth, 0, CB_RELAXED);
    t->istop = t->stop = t->head;
    t->ring = NULL;
    t->top = NULL;
    t->step = NULL;
    /* Release: the thread's last records and head before the ring becomes
     * free; the next owner continues from this head. */
    cb_store_u64(&r->head, t->head, CB_RELEASE);
    cb_store_u32(&r->owner_tid, 0, CB_RELEASE);
}

/* A thread that found no ring retries every 1024 dropped records, so rings
 * freed by exiting threads are picked up. Every drop is counted. */
static int
thread_ready_slow(struct cb__thread *t)
{
    if (cb_load_int(&cb__prod.state, CB_RELAXED) < 0)
        return 0;
    if (t->ring != NULL)
        return thread_grow_slow(t);
    if (t->unringed && ++t->retry % 1024 != 0) {
        cb_faa_u64(&cb__prod.hdr->records_unringed, 1);
        return 0;
    }
    if (cb__thread_attach(t) == 0)
        return 1;
    if (t->unringed)
        cb_faa_u64(&cb__prod.hdr->records_unringed, 1);
    return 0;
}

/* The check at the top of every emitting call: the thread has its ring
 * and room in it for an entry of any length. */
static inline int
thread_ready(struct cb__thread *t)
{
    if (CB_LIKELY(t->ring != NULL && thread_room(t)))
        return 1;
    return thread_ready_slow(t);
}

int
cb_thread_prepare(void)
{
    struct cb__thread *t = &cb__thr;
    int err;

    /* Not through thread_ready(): that path counts the record it could
     * not write, and here there is none. */
    if (t->ring == NULL) {
        err = cb_state();
        if (err == 0)
            err = cb__thread_attach(t); /* opens the segment if need be */
        if (err != 0)
            return err;
    }
    err = ring_grow(t);
    if (err == 0) {
        t->grow_failed = 0;
        thread_set_stop(t);
    }
    return err;
}

/* ========================================================================
 * Publishing (the protocol is in ring.c)
 * ======================================================================== */

/* The head fields of an entry before they are packed into words. Private
 * to this file; segment.h's struct cb_record is the layout. */
struct head {
    uint16_t kind;
    uint8_t flags;
    uint16_t status;
    uint32_t name_id;
    uint64_t ts;
    uint64_t value;
};

/* The words are packed by shifts, which gives segment.h's byte layout only
 * on a little-endian machine; the format word says so to readers. */
#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "clipbus packs record words for little-endian machines only"
#endif

/* slot_put() and entry_done() are clipbus.h's cb__slot_put() and
 * cb__entry_done(): the inline paths and this file write records with the
 * same code. */
#define slot_put   cb__slot_put
#define entry_done cb__entry_done

/* Packs the head record's word at byte 8 (kind, ext, flags, name). */
static inline uint64_t
head_w0(const struct head *h, size_t ext)
{
    return cb__w0(h->kind, (uint32_t)ext, h->flags, h->name_id);
}

/* Packs the word at byte 32 (session, status, data_len). */
static inline uint64_t
head_w3(const struct head *h, size_t len)
{
    return cb__w3(h->status, len);
}

/* An entry with more than CB_HEAD_DATA data bytes: the head, then
 * continuation records of CB_CONT_DATA bytes each. */
static __attribute__((noinline)) void
entry_put_long(struct cb__thread *t, struct head *h, const uint8_t *data,
               size_t len)
{
    size_t ext = (len - CB_HEAD_DATA + CB_CONT_DATA - 1) / CB_CONT_DATA;
    uint64_t d[6];

    if (ext > CB_EXT_MAX) {
        ext = CB_EXT_MAX;
        len = CB_HEAD_DATA + CB_EXT_MAX * CB_CONT_DATA;
        h->flags |= CB_RF_TRUNCATED;
    }
    memcpy(d, data, CB_HEAD_DATA);
    slot_put(t, head_w0(h, ext), h->ts, h->value, head_w3(h, len), d[0],
             d[1], d[2]);
    for (size_t i = 1; i <= ext; i++) {
        size_t off = CB_HEAD_DATA + (i - 1) * CB_CONT_DATA;
        size_t n = len - off < CB_CONT_DATA ? len - off : CB_CONT_DATA;
        memset(d, 0, sizeof d);
        memcpy(d, data + off, n);
        slot_put(t, CB_KIND_CONT | (uint64_t)i << 16, d[0], d[1], d[2], d[3],
                 d[4], d[5]);
    }
    entry_done(t);
}

/* Publishes an entry: head fields *h and data bytes data[0, len). One
 * record when len <= CB_HEAD_DATA (inlined: the common case), more
 * otherwise. `data` must have at least CB_HEAD_DATA readable bytes when
 * len is not 0 (bytes past len are sent as they are, so callers zero
 * them); it may be NULL when len is 0. */
static inline __attribute__((always_inline)) void
entry_put(struct cb__thread *t, struct head *h, const uint8_t *data,
          size_t len)
{
    uint64_t d[3] = {0, 0, 0};

    if (CB_UNLIKELY(len > CB_HEAD_DATA)) {
        entry_put_long(t, h, data, len);
        return;
    }
    if (len != 0)
        memcpy(d, data, CB_HEAD_DATA);
    slot_put(t, head_w0(h, 0), h->ts, h->value, head_w3(h, len), d[0], d[1],
             d[2]);
    entry_done(t);
}

/* Field encoders: append to buf[*len, cap); return 0 if it did not fit. */
static int
put_tag(uint8_t *buf, size_t *len, size_t cap, uint32_t type, uint32_t id,
        const void *v, size_t vlen)
{
    uint32_t tag = type << CB_FIELD_SHIFT | (id & CB_NAME_ID_MASK);

    if (*len + 4 + vlen > cap)
        return 0;
    memcpy(buf + *len, &tag, 4);
    if (vlen != 0) /* v may be NULL for value-less fields */
        memcpy(buf + *len + 4, v, vlen);
    *len += 4 + vlen;
    return 1;
}

/* A string field, cut to what fits; returns 0 if it was cut. */
static int
put_str(uint8_t *buf, size_t *len, size_t cap, uint32_t type, uint32_t id,
        int32_t *code, const char *s, size_t slen)
{
    size_t hdr = 4 + (code ? 4 : 0) + 2;
    uint32_t tag = type << CB_FIELD_SHIFT | (id & CB_NAME_ID_MASK);
    int whole = 1;
    uint16_t l16;

    if (*len + hdr > cap)
        return 0;
    if (slen > cap - *len - hdr) {
        slen = cap - *len - hdr;
        whole = 0;
    }
    if (slen > UINT16_MAX)
        slen = UINT16_MAX;
    l16 = (uint16_t)slen;
    memcpy(buf + *len, &tag, 4);
    if (code)
        memcpy(buf + *len + 4, code, 4);
    memcpy(buf + *len + hdr - 2, &l16, 2);
    memcpy(buf + *len + hdr, s, slen);
    *len += hdr + slen;
    return whole;
}

/* ========================================================================
 * Monitored calls (Req 1.1, 1.2, 1.3; Req 2.1-2.4 with perf)
 * ======================================================================== */
/* The CB__CALL_* flags are in clipbus.h (the inline path sets them). */
#define CALL_OFF   CB__CALL_OFF
#define CALL_PERF  CB__CALL_PERF
#define CALL_TRUNC CB__CALL_TRUNC
#define CALL_FAIL  CB__CALL_FAIL

/* /proc/self/statm, kept open: one pread per reading instead of open,
 * read and close. "self" is resolved at open time, so a forked child
 * (another pid) opens its own. */
static int statm_fd = -1;
static uint32_t statm_pid;

static uint64_t
rss_kb(void)
{
    char buf[128];
    unsigned long long vm = 0, rss = 0;
    uint32_t pid = cb__prod.pid;
    int fd = cb_load_int(&statm_fd, CB_RELAXED);
    ssize_t n;

    if (fd < 0 || statm_pid != pid) {
        int nfd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
        if (nfd < 0)
            return 0;
        lock_or_die();
        if (statm_fd >= 0 && statm_pid == pid) { /* another thread won */
            close(nfd);
        } else {
            if (statm_fd >= 0 && statm_pid != pid)
                close(statm_fd); /* the parent's, inherited over fork */
            statm_pid = pid;
            cb_store_int(&statm_fd, nfd, CB_RELEASE);
        }
        fd = statm_fd;
        unlock_or_die();
    }
    n = pread(fd, buf, sizeof buf - 1, 0);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    if (sscanf(buf, "%llu %llu", &vm, &rss) != 2)
        return 0;
    return rss * (uint64_t)sysconf(_SC_PAGESIZE) / 1024;
}

static void
perf_read(struct cb_perf_snap *p)
{
    struct rusage ru;
    struct timespec ts;

    /* System calls, by design (documented in the README): the thread CPU
     * clock, thread rusage, and a pread of /proc/self/statm. */
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    p->cpu_ns = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
    getrusage(RUSAGE_THREAD, &ru);
    p->vol_csw = (uint64_t)ru.ru_nvcsw;
    p->invol_csw = (uint64_t)ru.ru_nivcsw;
    p->rss_kb = rss_kb();
}

/* Decides whether this call takes resource readings. Sampling state is
 * racy by design: relaxed loads and stores, never a locked instruction. */
static int
perf_wanted(struct cb_perf_site *ps)
{
    uint32_t n;

    if (ps == NULL)
        return 0;
    if (ps->every <= 1 || cb_load_u32(&ps->slow, CB_RELAXED))
        return 1;
    n = cb_load_u32(&ps->counter, CB_RELAXED) + 1;
    cb_store_u32(&ps->counter, n, CB_RELAXED);
    return n % ps->every == 0;
}

static void
encode_params(struct cb_call *c, const struct cb_param *p, size_t np)
{
    size_t len = 0;

    for (size_t i = 0; i < np; i++) {
        uint32_t type = p[i].tag >> CB_FIELD_SHIFT, id = p[i].tag;
        int ok;
        if (type == CB_FIELD_STR) {
            const char *s = p[i].u.s ? p[i].u.s : "(null)";
            ok = put_str(c->data, &len, sizeof c->data, type, id, NULL, s,
                         strlen(s));
        } else {
            ok = put_tag(c->data, &len, sizeof c->data, type, id, &p[i].u.i,
                         8);
        }
        if (!ok) {
            c->flags |= CALL_TRUNC;
            if (type != CB_FIELD_STR)
                break;
        }
    }
    c->data_len = (uint16_t)len;
}

#define inflight_push cb__inflight_push
#define inflight_pop  cb__inflight_pop

void
cb__call_begin(struct cb_call *c, uint32_t *site, const char *func,
               struct cb_perf_site *perf, const struct cb_param *p,
               size_t np)
{
    struct cb__thread *t = &cb__thr;
    uint32_t id;

    c->flags = 0;
    c->err = 0;
    c->errmsg_len = 0;
    c->data_len = 0;
    c->perf_site = perf;
    if (CB_UNLIKELY(!thread_ready(t))) {
        c->flags = CALL_OFF;
        return;
    }
    id = cb_load_u32(site, CB_RELAXED);
    if (CB_UNLIKELY(id == 0))
        id = cb__name_cached(site, func);
    c->name_id = id;
    /* entry_put() sends the head's 24 data bytes whole: no stack garbage
     * past the parameters. */
    memset(c->data, 0, CB_HEAD_DATA);
    if (np != 0)
        encode_params(c, p, np);
    if (CB_UNLIKELY(perf_wanted(perf))) {
        c->flags |= CALL_PERF;
        perf_read(&c->perf0);
    }
    c->parent = t->top;
    t->top = c;
    c->t0 = cb__now();
    inflight_push(t, id, c->t0);
}

/* A sampled site remembers slowness: a call at least CLIPBUS_PERF_SLOW_US
 * long makes the site measure every call until one is fast again. The
 * slow call itself could not be measured (its start readings were not
 * taken); its duration is still recorded. */
static void
perf_site_note(struct cb_perf_site *ps, uint64_t dur)
{
    uint32_t slow = dur >= cb__prod.perf_slow_ticks;

    if (ps->every > 1 && cb_load_u32(&ps->slow, CB_RELAXED) != slow)
        cb_store_u32(&ps->slow, slow, CB_RELAXED);
}

static size_t
append_outcome(struct cb_call *c, uint8_t *buf, size_t cap)
{
    size_t len = c->data_len;

    memset(buf, 0, CB_HEAD_DATA);
    memcpy(buf, c->data, len);
    if (c->flags & CALL_FAIL) {
        int32_t code = c->err;
        put_str(buf, &len, cap, CB_FIELD_ERR, 0, &code, c->errmsg,
                c->errmsg_len);
    }
    if (c->flags & CALL_PERF) {
        struct cb_perf_snap p1;
        struct cb_perf pf;
        struct rusage ru;
        perf_read(&p1);
        getrusage(RUSAGE_SELF, &ru);
        pf.cpu_ns = p1.cpu_ns - c->perf0.cpu_ns;
        pf.rss_delta_kb = (int64_t)p1.rss_kb - (int64_t)c->perf0.rss_kb;
        pf.rss_kb = p1.rss_kb;
        pf.maxrss_kb = (uint64_t)ru.ru_maxrss;
        pf.vol_csw = p1.vol_csw - c->perf0.vol_csw;
        pf.invol_csw = p1.invol_csw - c->perf0.invol_csw;
        put_tag(buf, &len, cap, CB_FIELD_PERF, 0, &pf, sizeof pf);
    }
    return len;
}

/* A call that failed or took resource readings: its entry carries more
 * fields, built in a buffer. Out of line, so the common path below keeps
 * everything in registers and needs no large stack frame. */
static __attribute__((noinline)) void
call_end_full(struct cb__thread *t, struct cb_call *c, uint64_t t1)
{
    uint8_t buf[CB__CALL_DATA + CB__ERRMSG_MAX + 64];
    struct head h = {
        .kind = CB_KIND_CALL,
        .flags = (c->flags & CALL_TRUNC) ? CB_RF_TRUNCATED : 0,
        .status = (c->flags & CALL_FAIL) ? CB_STATUS_ERROR : CB_STATUS_OK,
        .name_id = c->name_id,
        .ts = c->t0,
        .value = t1 - c->t0,
    };

    entry_put(t, &h, buf, append_outcome(c, buf, sizeof buf));
}

void
cb__call_end(struct cb_call *c)
{
    struct cb__thread *t = &cb__thr;
    struct head h;
    uint64_t t1, d[3];

    if (c->flags & CALL_OFF)
        return;
    t1 = cb__now();
    t->top = c->parent;
    if (CB_UNLIKELY(t->ring == NULL)) /* the segment went away (fork) */
        return;
    inflight_pop(t);
    if (!thread_ready(t))
        return; /* no room in the ring: counted */
    if (CB_UNLIKELY(c->perf_site != NULL))
        perf_site_note(c->perf_site, t1 - c->t0);
    if (CB_UNLIKELY((c->flags & (CALL_FAIL | CALL_PERF)) != 0 ||
                    c->data_len > CB_HEAD_DATA)) {
        call_end_full(t, c, t1);
        return;
    }
    /* The common case: one record, parameters in its 24 data bytes
     * (zeroed past data_len by cb__call_begin). */
    h.kind = CB_KIND_CALL;
    h.flags = (c->flags & CALL_TRUNC) ? CB_RF_TRUNCATED : 0;
    h.status = CB_STATUS_OK;
    h.name_id = c->name_id;
    memcpy(d, c->data, sizeof d);
    slot_put(t, head_w0(&h, 0), c->t0, t1 - c->t0, head_w3(&h, c->data_len),
             d[0], d[1], d[2]);
    entry_done(t);
}

int
cb_fail(int code, const char *fmt, ...)
{
    struct cb_call *c = cb__thr.top;
    va_list ap;
    int n;

    if (c == NULL)
        return code;
    c->flags |= CALL_FAIL;
    c->err = code;
    va_start(ap, fmt);
    n = vsnprintf(c->errmsg, sizeof c->errmsg, fmt, ap);
    va_end(ap);
    if (n < 0)
        n = 0;
    c->errmsg_len = (uint16_t)((size_t)n < sizeof c->errmsg
                                   ? (size_t)n
                                   : sizeof c->errmsg - 1);
    return code;
}

/* ========================================================================
 * Sessions and progress (Req 1.4)
 * ======================================================================== */
#define STEP_ADVANCE CB_PROGRESS_ADVANCE
#define STEP_BEGIN   CB_PROGRESS_BEGIN
#define STEP_END     CB_PROGRESS_END

static void
emit_progress(struct cb__thread *t, uint32_t name_id, double delta,
              uint16_t what)
{
    struct head h = {.kind = CB_KIND_PROGRESS, .status = what,
                     .name_id = name_id, .ts = cb__now()};

    memcpy(&h.value, &delta, sizeof delta);
    entry_put(t, &h, NULL, 0);
}

uint32_t
cb_session_begin(const char *name, double total_weight)
{
    struct cb__thread *t = &cb__thr;
    struct head h = {.kind = CB_KIND_SESSION_BEGIN};
    uint32_t id;

    if (!thread_ready(t))
        return 0;
    id = (uint32_t)cb_faa_u64(&cb__prod.hdr->sessions, 1) + 1;
    cb_store_u32(&cb__session, id, CB_RELAXED);
    h.name_id = cb_name_intern(name ? name : "?");
    h.ts = cb__now();
    if (!(total_weight > 0))
        total_weight = 1;
    memcpy(&h.value, &total_weight, sizeof total_weight);
    entry_put(t, &h, NULL, 0);
    return id;
}

void
cb_session_end(int status)
{
    struct cb__thread *t = &cb__thr;
    struct head h = {.kind = CB_KIND_SESSION_END, .status = (uint16_t)status};

    if (!thread_ready(t))
        return;
    h.ts = cb__now();
    entry_put(t, &h, NULL, 0);
    cb_store_u32(&cb__session, 0, CB_RELAXED);
}

/* Reports `delta` session units done in step s and its ancestors. */
static void
step_add(struct cb_step *s, double delta)
{
    for (; s != NULL; s = s->parent)
        s->emitted += delta;
}

void
cb__step_begin(struct cb_step *s, uint32_t *site, const char *func,
               double weight)
{
    struct cb__thread *t = &cb__thr;
    struct cb_step *p = t->step;
    uint32_t id;

    s->parent = p;
    s->sub_total = 0;
    s->emitted = 0;
    s->session = 0;
    if (!thread_ready(t)) {
        s->abs = -1; /* off */
        return;
    }
    id = cb_load_u32(site, CB_RELAXED);
    if (id == 0)
        id = cb__name_cached(site, func);
    s->name_id = id;
    if (!(weight > 0))
        weight = 0;
    if (p == NULL)
        s->abs = weight;
    else if (p->sub_total > 0 && p->abs > 0)
        s->abs = weight / p->sub_total * p->abs;
    else
        s->abs = 0;
    /* A nested step never claims more than what its parent has left. */
    if (p != NULL && s->abs > p->abs - p->emitted)
        s->abs = p->abs - p->emitted > 0 ? p->abs - p->emitted : 0;
    t->step = s;
    emit_progress(t, id, 0, STEP_BEGIN);
}

void
cb__step_end(struct cb_step *s)
{
    struct cb__thread *t = &cb__thr;
    double rest;

    if (s->abs < 0)
        return;
    t->step = s->parent;
    if (t->ring == NULL || !thread_ready(t))
        return;
    rest = s->abs - s->emitted;
    if (rest < 0)
        rest = 0;
    step_add(s, rest);
    emit_progress(t, s->name_id, rest, STEP_END);
}

void
cb_progress_total(double sub_total)
{
    struct cb_step *s = cb__thr.step;

    if (s != NULL && sub_total > 0)
        s->sub_total = sub_total;
}

void
cb_progress(double units)
{
    struct cb__thread *t = &cb__thr;
    struct cb_step *s = t->step;
    double delta = units;

    if (!(units > 0) || !thread_ready(t))
        return;
    if (s != NULL) {
        if (s->abs < 0 || !(s->sub_total > 0))
            return;
        delta = units / s->sub_total * s->abs;
        if (delta > s->abs - s->emitted)
            delta = s->abs - s->emitted;
        if (!(delta > 0))
            return;
        step_add(s, delta);
    }
    emit_progress(t, s ? s->name_id : 0, delta, STEP_ADVANCE);
}

/* ========================================================================
 * Metrics and log
 * ======================================================================== */
/* A metric without labels: one record, all of it inlined. */
static inline __attribute__((always_inline)) void
metric_put(int kind, uint32_t name_id, uint64_t bits)
{
    struct cb__thread *t = &cb__thr;
    struct head h = {.kind = (uint16_t)kind, .name_id = name_id,
                     .value = bits};

    if (CB_UNLIKELY(!thread_ready(t)))
        return;
    h.ts = cb__now();
    entry_put(t, &h, NULL, 0);
}

/* A metric with a label set: interned on first sight (a lock-free lookup
 * afterwards), sent as one CB_FIELD_LABELS field. Out of line so that the
 * common path above saves no registers for it. */
static __attribute__((noinline)) void
metric_put_labels(int kind, uint32_t name_id, uint64_t bits,
                  const char *labels)
{
    struct cb__thread *t = &cb__thr;
    struct head h = {.kind = (uint16_t)kind, .name_id = name_id,
                     .value = bits};
    uint8_t data[CB_HEAD_DATA] = {0};
    size_t len = 0;

    if (!thread_ready(t))
        return;
    h.ts = cb__now();
    put_tag(data, &len, sizeof data, CB_FIELD_LABELS,
            cb__intern(labels, strlen(labels)), NULL, 0);
    entry_put(t, &h, data, len);
}

void
cb__metric_i(int kind, uint32_t name_id, int64_t v, const char *labels)
{
    if (CB_LIKELY(labels == NULL))
        metric_put(kind, name_id, (uint64_t)v);
    else
        metric_put_labels(kind, name_id, (uint64_t)v, labels);
}

void
cb__metric_d(int kind, uint32_t name_id, double v, const char *labels)
{
    uint64_t bits;

    memcpy(&bits, &v, sizeof bits);
    if (CB_LIKELY(labels == NULL))
        metric_put(kind, name_id, bits);
    else
        metric_put_labels(kind, name_id, bits, labels);
}

void
cb_log(int level, const char *fmt, ...)
{
    struct cb__thread *t = &cb__thr;
    struct head h = {.kind = CB_KIND_LOG, .status = (uint16_t)level};
    char msg[CB_NAME_LEN_MAX + 1];
    uint8_t data[CB_NAME_LEN_MAX + 16];
    size_t len = 0;
    va_list ap;
    int n;

    if (!thread_ready(t))
        return;
    va_start(ap, fmt);
    n = vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (n < 0)
        n = 0;
    h.name_id = t->top ? t->top->name_id : 0;
    h.ts = cb__now();
    memset(data, 0, CB_HEAD_DATA);
    if ((size_t)n >= sizeof msg) {
        n = (int)sizeof msg - 1;
        h.flags |= CB_RF_TRUNCATED;
    }
    put_str(data, &len, sizeof data, CB_FIELD_STR, 0, NULL, msg, (size_t)n);
    entry_put(t, &h, data, len);
}

static void
publish_thread_record(struct cb__thread *t)
{
    struct head h = {.kind = CB_KIND_THREAD, .ts = cb__now()};
    uint8_t data[4 + 4 + 4 + 2 + CB_THREAD_NAME_MAX] = {0};
    size_t len = 0;

    put_tag(data, &len, sizeof data, CB_FIELD_TID, 0, &t->tid, 4);
    put_str(data, &len, sizeof data, CB_FIELD_STR, 0, NULL,
            t->ring->thread_name, strnlen(t->ring->thread_name,
                                          CB_THREAD_NAME_MAX));
    entry_put(t, &h, data, len);
}

/* ========================================================================
 * Fork and exit
 * ======================================================================== */
static void
at_fork_prepare(void)
{
    lock_or_die();
}

static void
at_fork_parent(void)
{
    unlock_or_die();
}

/* The child must never write the parent's rings: they share the mapping.
 * It forgets its ring and opens its own segment on its first record,
 * copying the parent's name table (kept mapped until then) so ids cached
 * in statics keep their meaning. */
static void
at_fork_child(void)
{
    struct cb__thread *t = &cb__thr;

    pthread_mutex_init(&cb__prod.lock, NULL);
    t->istop = t->stop = t->head;
    t->ring = NULL;
    t->depth = 0;
    t->unringed = 0;
    if (cb__prod.state == CB_PROD_OPEN) {
        cb__prod.fork_base = cb__prod.base;
        cb__prod.fork_size = cb__prod.size;
        if (cb__prod.fd >= 0)
            close(cb__prod.fd);
        cb__prod.fd = -1;
        cb__prod.base = NULL;
        cb__prod.hdr = NULL;
        cb__prod.state = CB_PROD_UNOPENED;
    }
    cb__session = 0;
}
