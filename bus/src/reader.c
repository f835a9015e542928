/*
 * reader.c -- attaching a producer segment and answering questions about
 * it: names, clock, in-flight calls, liveness.
 *
 * Every byte of a segment is hostile input. Attach maps the header alone,
 * copies it, and checks the copy (cb__header_check): magic, version,
 * format, sizes, offsets and their sums, all against the file's real size,
 * with overflow-safe arithmetic. Only then is the whole segment mapped,
 * read-only: a reader can never write a producer's memory. After attach
 * the reader uses only its validated copy of the layout; words it must
 * re-read (names_used, rings_hwm, heads) are clamped to what the layout
 * allows before use.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bus_int.h"
#include "cb_atomic.h"
#include "reader_int.h"

int
cb__header_check(const struct cb_seg_header *h, uint64_t file_size,
                 char *why, size_t why_len)
{
    uint64_t stride, rings_end;
    uint32_t rr = h->ring_records;

    if (h->magic == 0)
        return cb__why(why, why_len, "still being created (no magic yet)"),
               CB_ENOTREADY;
    if (h->magic != CB_SEG_MAGIC)
        return cb__why(why, why_len, "bad magic 0x%016llx",
                       (unsigned long long)h->magic),
               CB_EBADSEG;
    if (h->layout_major != CB_LAYOUT_MAJOR)
        return cb__why(why, why_len,
                       "layout version %u.%u, this reader knows %d.x",
                       h->layout_major, h->layout_minor, CB_LAYOUT_MAJOR),
               CB_EVERSION;
    if (h->header_size != CB_SEG_HEADER_SIZE ||
        h->record_size != CB_RECORD_SIZE ||
        h->format != CB_FORMAT_WORD(CB_FORMAT_LITTLE))
        return cb__why(why, why_len,
                       "format mismatch (header %u, record %u, format "
                       "0x%x): built for another machine?",
                       h->header_size, h->record_size, h->format),
               CB_EBADSEG;
    if (rr < CB_RING_RECORDS_MIN || rr > CB_RING_RECORDS_MAX ||
        (rr & (rr - 1)) != 0)
        return cb__why(why, why_len, "ring_records %u invalid", rr),
               CB_EBADSEG;
    if (h->ring_count == 0 || h->ring_count > CB_RINGS_MAX)
        return cb__why(why, why_len, "ring_count %u invalid", h->ring_count),
               CB_EBADSEG;
    stride = CB_RING_HEADER_SIZE + (uint64_t)rr * CB_RECORD_SIZE;
    if (h->ring_stride != stride)
        return cb__why(why, why_len, "ring_stride %llu, expected %llu",
                       (unsigned long long)h->ring_stride,
                       (unsigned long long)stride),
               CB_EBADSEG;
    if (h->names_size < CB_NAMES_BYTES_MIN ||
        h->names_size > CB_NAMES_SIZE_MAX ||
        h->names_offset < CB_SEG_HEADER_SIZE ||
        h->names_offset % CB_CACHELINE != 0 ||
        h->names_offset > file_size ||
        h->names_size > file_size - h->names_offset)
        return cb__why(why, why_len, "name table at %llu+%u out of bounds",
                       (unsigned long long)h->names_offset, h->names_size),
               CB_EBADSEG;
    /* All terms are bounded above (2^16 bytes * 2^10 rings * 2^24
     * records...), so the products cannot overflow 64 bits. */
    rings_end = h->rings_offset + (uint64_t)h->ring_count * stride;
    if (h->rings_offset < h->names_offset + h->names_size ||
        h->rings_offset % CB_CACHELINE != 0 || h->rings_offset > file_size ||
        rings_end > file_size || h->segment_size != file_size)
        return cb__why(why, why_len,
                       "rings at %llu (%u x %llu bytes) do not fit the "
                       "%llu-byte segment",
                       (unsigned long long)h->rings_offset, h->ring_count,
                       (unsigned long long)stride,
                       (unsigned long long)file_size),
               CB_EBADSEG;
    if ((h->clock_kind != CB_CLOCK_TSC &&
         h->clock_kind != CB_CLOCK_MONOTONIC) ||
        h->tsc_hz < 1000000u)
        return cb__why(why, why_len, "clock kind %u at %llu Hz invalid",
                       h->clock_kind, (unsigned long long)h->tsc_hz),
               CB_EBADSEG;
    return 0;
}

static void
copy_info(struct cb_segment *seg, const char *name,
          const struct cb_seg_header *h)
{
    struct cb_producer_info *in = &seg->info;
    double hz = (double)h->tsc_hz;

    snprintf(in->shm_name, sizeof in->shm_name, "%s", name);
    memcpy(in->program, h->program, sizeof in->program);
    in->program[sizeof in->program - 1] = '\0';
    memcpy(in->bus, h->bus, sizeof in->bus);
    in->bus[sizeof in->bus - 1] = '\0';
    in->pid = h->pid;
    in->uid = h->uid;
    in->start_time = h->start_time;
    in->created_real_ns = h->created_real_ns;
    in->ring_count = h->ring_count;
    in->ring_records = h->ring_records;
    in->names_size = h->names_size;
    in->clock_kind = h->clock_kind;
    in->segment_size = h->segment_size;
    seg->names_offset = h->names_offset;
    seg->rings_offset = h->rings_offset;
    seg->ring_stride = h->ring_stride;
    seg->ref_ticks = h->ref_ticks;
    seg->ref_mono_ns = h->ref_mono_ns;
    seg->ref_real_ns = h->ref_real_ns;
    memcpy(&seg->hz_bits, &hz, sizeof hz);
}

static int
check_owner(const struct stat *st, const char *name, int allow_foreign,
            char *why, size_t why_len)
{
    if (allow_foreign)
        return 0;
    if (st->st_uid != geteuid())
        return cb__why(why, why_len, "%s: owned by uid %u, not by us (%u)",
                       name, (unsigned)st->st_uid, (unsigned)geteuid()),
               CB_EFOREIGN;
    if ((st->st_mode & 077) != 0)
        return cb__why(why, why_len,
                       "%s: mode %04o lets others write or read it; "
                       "expected 0600",
                       name, (unsigned)(st->st_mode & 07777)),
               CB_EFOREIGN;
    return 0;
}

int
cb_segment_attach(const char *shm_name, int allow_foreign,
                  struct cb_segment **out, char *why, size_t why_len)
{
    struct cb_seg_header h;
    struct cb_segment *seg = NULL;
    struct stat st;
    void *map = MAP_FAILED;
    char sub[200];
    int fd, err;

    *out = NULL;
    fd = shm_open(shm_name, O_RDONLY | O_CLOEXEC, 0);
    if (fd < 0) {
        err = -errno;
        cb__why(why, why_len, "%s: cannot open: %s", shm_name,
                cb_strerror(err));
        return err;
    }
    if (fstat(fd, &st) != 0) {
        err = -errno;
        cb__why(why, why_len, "%s: cannot stat: %s", shm_name,
                cb_strerror(err));
        goto fail;
    }
    err = check_owner(&st, shm_name, allow_foreign, why, why_len);
    if (err != 0)
        goto fail;
    if ((uint64_t)st.st_size < CB_SEG_HEADER_SIZE) {
        err = CB_EBADSEG;
        cb__why(why, why_len, "%s: truncated: %lld bytes, a header alone is "
                "%u", shm_name, (long long)st.st_size, CB_SEG_HEADER_SIZE);
        goto fail;
    }
    map = mmap(NULL, CB_SEG_HEADER_SIZE, PROT_READ, MAP_SHARED, fd, 0);
    if (map == MAP_FAILED) {
        err = -errno;
        cb__why(why, why_len, "%s: cannot map: %s", shm_name,
                cb_strerror(err));
        goto fail;
    }
    /* Acquire: pairs with the producer's release store of the magic. */
    h.magic = cb_load_u64(&((const struct cb_seg_header *)map)->magic,
                          CB_ACQUIRE);
    memcpy((uint8_t *)&h + 8, (const uint8_t *)map + 8, sizeof h - 8);
    munmap(map, CB_SEG_HEADER_SIZE);
    err = cb__header_check(&h, (uint64_t)st.st_size, sub, sizeof sub);
    if (err != 0) {
        cb__why(why, why_len, "%s: %s", shm_name, sub);
        goto fail;
    }
    map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
    if (map == MAP_FAILED) {
        err = -errno;
        cb__why(why, why_len, "%s: cannot map %lld bytes: %s", shm_name,
                (long long)st.st_size, cb_strerror(err));
        goto fail;
    }
    seg = calloc(1, sizeof *seg);
    if (seg == NULL) {
        err = -ENOMEM;
        munmap(map, (size_t)st.st_size);
        cb__why(why, why_len, "%s: out of memory", shm_name);
        goto fail;
    }
    close(fd);
    cb__guard_install();
    seg->base = map;
    seg->size = (size_t)st.st_size;
    seg->hdr = map;
    copy_info(seg, shm_name, &h);
    cb__seg_refine_clock(seg);
    *out = seg;
    return 0;
fail:
    close(fd);
    return err;
}

void
cb_segment_detach(struct cb_segment *seg)
{
    if (seg == NULL)
        return;
    munmap((void *)(uintptr_t)seg->base, seg->size);
    free(seg);
}

const struct cb_producer_info *
cb_segment_info(const struct cb_segment *seg)
{
    return &seg->info;
}

int
cb_process_alive(uint32_t pid, uint64_t start_time)
{
    uint64_t now_start = 0;
    char state = '?';

    if (pid == 0 || (kill((pid_t)pid, 0) != 0 && errno == ESRCH))
        return 0;
    if (cb__proc_stat(pid, &now_start, &state) != 0)
        return 1; /* /proc unreadable (another namespace?): trust kill() */
    /* A zombie (or a dead task) writes nothing: its parent just has not
     * reaped it yet. Another start time: the pid was reused. */
    if (state == 'Z' || state == 'X' || state == 'x')
        return 0;
    return start_time == 0 || now_start == start_time;
}

int
cb_segment_liveness(const struct cb_segment *seg)
{
    uint32_t state;

    {
        CB_GUARD(seg, return CB_PRODUCER_DEAD);
        /* Acquire: pairs with the release store in cb_close(); the
         * records published before it are visible once EXITED is. */
        state = cb_load_u32(&seg->hdr->state, CB_ACQUIRE);
        CB_UNGUARD();
    }
    if (state == CB_SEG_EXITED)
        return CB_PRODUCER_EXITED;
    if (!cb_process_alive(seg->info.pid, seg->info.start_time))
        return CB_PRODUCER_DEAD;
    return CB_PRODUCER_ALIVE;
}

/* Unguarded: callers hold the guard. */
static uint32_t
rings_raw(const struct cb_segment *seg)
{
    /* Acquire: pairs with the CAS that raised it after the ring was set
     * up. Clamped: the word is producer-controlled. */
    uint32_t n = cb_load_u32(&seg->hdr->rings_hwm, CB_ACQUIRE);

    return n < seg->info.ring_count ? n : seg->info.ring_count;
}

uint32_t
cb_segment_rings(const struct cb_segment *seg)
{
    uint32_t n;

    CB_GUARD(seg, return 0);
    n = rings_raw(seg);
    CB_UNGUARD();
    return n;
}

const struct cb_ring_header *
cb__seg_ring(const struct cb_segment *seg, uint32_t i)
{
    if (seg == NULL || i >= rings_raw(seg))
        return NULL;
    return (const struct cb_ring_header *)(seg->base + seg->rings_offset +
                                           (uint64_t)i * seg->ring_stride);
}

uint64_t
cb__seg_ring_records(const struct cb_segment *seg)
{
    return seg->info.ring_records;
}

uint64_t
cb_segment_head(const struct cb_segment *seg, uint32_t ring)
{
    const struct cb_ring_header *r;
    uint64_t head = 0;

    CB_GUARD(seg, return 0);
    r = cb__seg_ring(seg, ring);
    if (r != NULL)
        head = cb_load_u64(&r->head, CB_ACQUIRE);
    CB_UNGUARD();
    return head;
}

/* Unguarded: callers hold the guard. */
static const char *
name_raw(const struct cb_segment *seg, uint32_t id, size_t *len)
{
    /* Acquire: pairs with the producer's release store after appending an
     * entry, so the bytes below `used` are complete. */
    uint64_t used = cb_load_u64(&seg->hdr->names_used, CB_ACQUIRE);
    const uint8_t *t = seg->base + seg->names_offset;
    uint16_t n;

    if (used > seg->info.names_size)
        used = seg->info.names_size;
    if (id < CB_NAME_FIRST || id % 4 != 0 || (uint64_t)id + 2 > used)
        return NULL;
    memcpy(&n, t + id, 2);
    if ((uint64_t)id + 2 + n > used)
        return NULL;
    if (len)
        *len = n;
    return (const char *)t + id + 2;
}

const char *
cb_segment_name(const struct cb_segment *seg, uint32_t id, size_t *len)
{
    const char *s;
    size_t n = 0;

    CB_GUARD(seg, return NULL);
    s = name_raw(seg, id, &n);
    /* Touch the name's last byte while guarded: the caller reads it
     * unguarded, and a view of a name that faults is refused here. */
    if (s != NULL && n > 0)
        (void)*(volatile const char *)(s + n - 1);
    CB_UNGUARD();
    if (len != NULL)
        *len = n;
    return s;
}

char *
cb_segment_name_copy(const struct cb_segment *seg, uint32_t id, char *buf,
                     size_t buf_len)
{
    size_t n = 0;
    const char *s;

    if (buf_len == 0)
        return buf;
    {
        CB_GUARD(seg, snprintf(buf, buf_len, "?"); return buf);
        s = name_raw(seg, id, &n);
        if (s != NULL) {
            if (n >= buf_len)
                n = buf_len - 1;
            memcpy(buf, s, n);
            buf[n] = '\0';
        }
        CB_UNGUARD();
    }
    if (s == NULL)
        snprintf(buf, buf_len, "?");
    return buf;
}

/* The producer's exit calibration pair, or 0s while it has not exited. */
static void
end_pair(const struct cb_segment *seg, uint64_t *ticks, uint64_t *mono)
{
    *ticks = 0;
    *mono = 0;
    CB_GUARD(seg, return);
    /* Acquire: the end pair is published by the release store of EXITED
     * in cb_close(). */
    if (cb_load_u32(&seg->hdr->state, CB_ACQUIRE) == CB_SEG_EXITED) {
        *ticks = cb_load_u64(&seg->hdr->end_ticks, CB_RELAXED);
        *mono = cb_load_u64(&seg->hdr->end_mono_ns, CB_RELAXED);
    }
    CB_UNGUARD();
}

void
cb__seg_refine_clock(struct cb_segment *seg)
{
    /* Threads attaching segments at once may both compute it: the same
     * answer each time, stored with relaxed atomics (no data race). */
    static int tsc_ok = -1;
    int ok;
    double hz;
    uint64_t mono = 0, ticks = 0, end_ticks, end_mono;

    if (seg->info.clock_kind != CB_CLOCK_TSC)
        return;
    end_pair(seg, &end_ticks, &end_mono);
    if (end_ticks != 0) {
        /* The producer's own pair at exit: its whole life as baseline. */
        ticks = end_ticks;
        mono = end_mono;
    } else {
        ok = cb_load_int(&tsc_ok, CB_RELAXED);
        if (ok < 0) {
            ok = cb__clock_has_invariant_tsc();
            cb_store_int(&tsc_ok, ok, CB_RELAXED);
        }
        if (!ok)
            return;
#if CB_HAVE_RDTSC
        /* The narrowest of a few pairs, as the producer takes them. */
        (void)cb__clock_pair(&ticks, &mono);
#else
        return;
#endif
    }
    /* A pair is good to tens of ns, so a 10 ms baseline gives about
     * 10^-5, already better than the producer's spin (bound: 2 * 10^-3).
     * Before that, the producer's rate stands; its error on a timestamp
     * that young is at most tens of microseconds. */
    if ((int64_t)(mono - seg->ref_mono_ns) < 10000000 ||
        (int64_t)(ticks - seg->ref_ticks) <= 0)
        return;
    hz = (double)(ticks - seg->ref_ticks) * 1e9 /
         (double)(mono - seg->ref_mono_ns);
    memcpy(&ticks, &hz, sizeof hz);
    cb_store_u64(&seg->hz_bits, ticks, CB_RELAXED);
}

static double
seg_hz(const struct cb_segment *seg)
{
    uint64_t bits = cb_load_u64(&seg->hz_bits, CB_RELAXED);
    double hz;

    memcpy(&hz, &bits, sizeof hz);
    return hz > 0 ? hz : 1e9;
}

uint64_t
cb_segment_wall_ns(const struct cb_segment *seg, uint64_t ticks)
{
    double d = (double)(int64_t)(ticks - seg->ref_ticks) * 1e9 / seg_hz(seg);

    return seg->ref_real_ns + (uint64_t)(int64_t)d;
}

uint64_t
cb_segment_ticks_ns(const struct cb_segment *seg, uint64_t ticks)
{
    return (uint64_t)((double)ticks * 1e9 / seg_hz(seg));
}

uint64_t
cb_segment_now_ticks(const struct cb_segment *seg)
{
#if CB_HAVE_RDTSC
    if (seg->info.clock_kind == CB_CLOCK_TSC)
        return (uint64_t)__rdtsc();
#endif
    (void)seg;
    return cb__mono_ns();
}

static int
inflight_raw(const struct cb_segment *seg, uint32_t ring,
             struct cb_inflight_frame *out, size_t max, uint32_t *depth)
{
    const struct cb_ring_header *r = cb__seg_ring(seg, ring);

    if (r == NULL)
        return CB_EBADSEG;
    for (int tries = 0; tries < 1000; tries++) {
        /* Acquire: pairs with the writer's release of an even count. */
        uint64_t p1 = cb_load_u64(&r->pushes, CB_ACQUIRE);
        uint32_t d = cb_load_u32(&r->depth, CB_ACQUIRE);
        size_t n = d < CB_INFLIGHT_MAX ? d : CB_INFLIGHT_MAX;
        if (p1 & 1)
            continue; /* a frame is being written */
        if (n > max)
            n = max;
        for (size_t i = 0; i < n; i++) {
            out[i].ts = cb_load_u64(&r->frames[i].ts, CB_RELAXED);
            out[i].name_id = cb_load_u32(&r->frames[i].name_id, CB_RELAXED);
            out[i]._pad0 = 0;
        }
        /* The frame loads complete before the re-check. */
        cb_fence(CB_ACQUIRE);
        if (cb_load_u64(&r->pushes, CB_RELAXED) != p1)
            continue;
        *depth = d;
        return (int)n;
    }
    return CB_ENOTREADY;
}

int
cb_segment_inflight(const struct cb_segment *seg, uint32_t ring,
                    struct cb_inflight_frame *out, size_t max,
                    uint32_t *depth)
{
    int n;

    CB_GUARD(seg, return CB_EBADSEG);
    n = inflight_raw(seg, ring, out, max, depth);
    CB_UNGUARD();
    return n;
}

uint32_t
cb_segment_ring_owner(const struct cb_segment *seg, uint32_t ring,
                      char *name)
{
    const struct cb_ring_header *r;
    uint32_t tid = 0;

    name[0] = '\0';
    CB_GUARD(seg, return 0);
    r = cb__seg_ring(seg, ring);
    if (r != NULL)
        tid = cb_load_u32(&r->owner_tid, CB_ACQUIRE);
    if (tid != 0) {
        memcpy(name, r->thread_name, CB_THREAD_NAME_MAX);
        name[CB_THREAD_NAME_MAX - 1] = '\0';
    }
    CB_UNGUARD();
    return tid;
}

void
cb_segment_counters(const struct cb_segment *seg,
                    struct cb_segment_counters *out)
{
    const struct cb_seg_header *h = seg->hdr;

    memset(out, 0, sizeof *out);
    CB_GUARD(seg, return);
    out->state = cb_load_u32(&h->state, CB_ACQUIRE);
    out->exit_real_ns = cb_load_u64(&h->exit_real_ns, CB_RELAXED);
    out->names_used = cb_load_u64(&h->names_used, CB_RELAXED);
    out->names_dropped = cb_load_u64(&h->names_dropped, CB_RELAXED);
    out->threads_unringed = cb_load_u64(&h->threads_unringed, CB_RELAXED);
    out->records_unringed = cb_load_u64(&h->records_unringed, CB_RELAXED);
    out->sessions = cb_load_u64(&h->sessions, CB_RELAXED);
    CB_UNGUARD();
}
