/*
 * segment.c -- creating the producer's segment.
 *
 * One segment per process, POSIX shm name /clipbus.<bus>.<pid>, created
 * O_CREAT|O_EXCL with mode 0600. If that name is taken by a stale segment
 * of an earlier process with the same pid (exited or dead, kept for its
 * grace period so readers can drain it), the suffixes .1 to .9 are tried:
 * a stale segment is never reused or overwritten.
 *
 * Memory: the file is sized with ftruncate (sparse) and the header and
 * name table are allocated at once with posix_fallocate; each ring is
 * allocated when a thread first claims it (producer.c). Allocating before
 * touching matters on tmpfs: writing a page of a sparse file beyond the
 * file system's size limit raises SIGBUS in the writer, and the writer is
 * the analyzer. With fallocate, running out of /dev/shm is an error code
 * on a slow path, which switches instrumentation off with a message.
 *
 * The header is filled, then the magic is stored with release order:
 * readers that see the magic see a complete header.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bus_int.h"
#include "cb_atomic.h"

int
cb__bus_name_valid(const char *name)
{
    size_t n = 0;

    if (name == NULL)
        return 0;
    for (; name[n] != '\0'; n++) {
        char c = name[n];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '_' || c == '-'))
            return 0;
        if (n >= CB_BUS_NAME_MAX)
            return 0;
    }
    return n >= 1;
}

/* Reads an unsigned decimal environment value in [lo, hi] (and a power of
 * two if pow2). Unset or empty: dflt. Returns 0, or CB_EENV after printing
 * nothing (the caller reports). */
int
cb__env_u32(const char *var, uint32_t dflt, uint32_t lo, uint32_t hi,
            int pow2, uint32_t *out)
{
    const char *s = getenv(var); /* NOLINT(concurrency-mt-unsafe) */
    unsigned long long v = 0;

    *out = dflt;
    if (s == NULL || *s == '\0')
        return 0;
    for (const char *p = s; *p != '\0'; p++) {
        if (*p < '0' || *p > '9' || v > 0xffffffffull)
            return CB_EENV;
        v = v * 10 + (unsigned long long)(*p - '0');
    }
    if (v < lo || v > hi || (pow2 && (v & (v - 1)) != 0))
        return CB_EENV;
    *out = (uint32_t)v;
    return 0;
}

int
cb__proc_stat(uint32_t pid, uint64_t *start, char *state)
{
    char path[64], buf[1024];
    const char *p;
    unsigned long long st = 0;
    ssize_t n;
    int fd;

    snprintf(path, sizeof path, "/proc/%u/stat", pid);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return -EIO;
    buf[n] = '\0';
    /* The command name may contain spaces and parentheses: fields are
     * counted from the last ')'. Field 3 is the state; start time is
     * field 22, so 19 fields after the state. */
    p = strrchr(buf, ')');
    if (p == NULL || p[1] != ' ' || p[2] == '\0')
        return -EIO;
    *state = p[2];
    p += 2;
    for (int field = 3; field < 22 && p != NULL; field++)
        p = strchr(p + 1, ' ');
    if (p == NULL || sscanf(p, " %llu", &st) != 1)
        return -EIO;
    *start = st;
    return 0;
}

uint64_t
cb__proc_start_time(uint32_t pid)
{
    uint64_t start = 0;
    char state;

    return cb__proc_stat(pid, &start, &state) == 0 ? start : 0;
}

static void
program_name(char *out, size_t len)
{
    char buf[CB_PROGRAM_MAX] = "";
    ssize_t n;
    int fd = open("/proc/self/comm", O_RDONLY | O_CLOEXEC);

    if (fd >= 0) {
        n = read(fd, buf, sizeof buf - 1);
        close(fd);
        if (n > 0) {
            buf[n] = '\0';
            buf[strcspn(buf, "\n")] = '\0';
        }
    }
    snprintf(out, len, "%s", buf[0] ? buf : "?");
}

struct seg_params {
    uint32_t ring_records, rings, names_bytes;
};

/* Reads the CLIPBUS_* sizes; on an invalid value prints which and why. */
static int
read_params(struct seg_params *sp)
{
    static const struct {
        const char *var;
        uint32_t dflt, lo, hi;
        int pow2;
    } vars[] = {
        {"CLIPBUS_RING_RECORDS", CB_DEFAULT_RING_RECORDS, CB_RING_RECORDS_MIN,
         CB_RING_RECORDS_MAX, 1},
        {"CLIPBUS_RINGS", CB_DEFAULT_RINGS, 1, CB_RINGS_MAX, 0},
        {"CLIPBUS_NAMES_BYTES", CB_DEFAULT_NAMES_BYTES, CB_NAMES_BYTES_MIN,
         CB_NAMES_SIZE_MAX, 0},
        {"CLIPBUS_PERF_SLOW_US", CB_DEFAULT_PERF_SLOW_US, 1, 3600000000u, 0},
    };
    uint32_t *dst[] = {&sp->ring_records, &sp->rings, &sp->names_bytes,
                       &cb__prod.perf_slow_us};

    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
        if (cb__env_u32(vars[i].var, vars[i].dflt, vars[i].lo, vars[i].hi,
                        vars[i].pow2, dst[i]) != 0) {
            if (getenv("CLIPBUS_QUIET") == NULL) /* NOLINT */
                fprintf(stderr,
                        "clipbus: instrumentation off: %s='%s' is invalid: "
                        "need %s%u..%u\n",
                        vars[i].var, getenv(vars[i].var), /* NOLINT */
                        vars[i].pow2 ? "a power of two in " : "",
                        vars[i].lo, vars[i].hi);
            return CB_EENV;
        }
    }
    sp->names_bytes = (sp->names_bytes + 4095u) & ~4095u;
    return 0;
}

/* shm_open with O_EXCL on /clipbus.<bus>.<pid>, then .1 to .9. */
static int
open_exclusive(const char *bus, uint32_t pid, char *name, size_t len)
{
    for (int i = 0; i < 10; i++) {
        if (i == 0)
            snprintf(name, len, "/clipbus.%s.%u", bus, pid);
        else
            snprintf(name, len, "/clipbus.%s.%u.%d", bus, pid, i);
        int fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd >= 0 || errno != EEXIST)
            return fd >= 0 ? fd : -errno;
    }
    return -EEXIST;
}

static void
fill_header(struct cb_seg_header *h, const char *bus,
            const struct seg_params *sp, uint64_t names_off,
            uint64_t rings_off, uint64_t size)
{
    uint32_t endian = 1;
    uint8_t first;

    memcpy(&first, &endian, 1);
    h->layout_major = CB_LAYOUT_MAJOR;
    h->layout_minor = CB_LAYOUT_MINOR;
    h->header_size = CB_SEG_HEADER_SIZE;
    h->record_size = CB_RECORD_SIZE;
    h->format = CB_FORMAT_WORD(first ? CB_FORMAT_LITTLE : CB_FORMAT_BIG);
    h->pid = cb__prod.pid;
    h->start_time = cb__proc_start_time(cb__prod.pid);
    h->segment_size = size;
    h->ring_count = sp->rings;
    h->ring_records = sp->ring_records;
    h->rings_offset = rings_off;
    h->ring_stride = CB_RING_HEADER_SIZE + (uint64_t)sp->ring_records *
                                               CB_RECORD_SIZE;
    h->names_offset = names_off;
    h->names_size = sp->names_bytes;
    h->uid = (uint32_t)geteuid();
    cb__clock_calibrate(h);
    h->created_real_ns = cb__real_ns();
    program_name(h->program, sizeof h->program);
    snprintf(h->bus, sizeof h->bus, "%s", bus);
    h->state = CB_SEG_LIVE;
}

/* The name table starts with "?" at CB_NAME_FIRST (id of unknown names).
 * After fork(), the child copies the parent's table so that ids cached in
 * statics before the fork keep their meaning. */
static void
init_names(struct cb_seg_header *h, uint8_t *names)
{
    static const uint8_t unknown[4] = {1, 0, '?', 0};

    if (cb__prod.fork_base != NULL) {
        const struct cb_seg_header *ph =
            (const struct cb_seg_header *)cb__prod.fork_base;
        uint64_t used = ph->names_used;
        if (used <= h->names_size && used <= ph->names_size) {
            memcpy(names, cb__prod.fork_base + ph->names_offset, used);
            h->names_used = used;
            h->names_dropped = ph->names_dropped;
            return;
        }
    }
    memcpy(names + CB_NAME_FIRST, unknown, sizeof unknown);
    h->names_used = CB_NAME_FIRST + sizeof unknown;
}

int
cb__segment_create(const char *bus)
{
    struct seg_params sp;
    char name[96];
    uint64_t names_off = CB_SEG_HEADER_SIZE, rings_off, size;
    int fd, err;
    void *map;

    err = read_params(&sp);
    if (err != 0)
        return err;
    rings_off = names_off + sp.names_bytes;
    size = rings_off + (uint64_t)sp.rings *
                           (CB_RING_HEADER_SIZE +
                            (uint64_t)sp.ring_records * CB_RECORD_SIZE);
    fd = open_exclusive(bus, cb__prod.pid, name, sizeof name);
    if (fd < 0)
        return fd;
    if (ftruncate(fd, (off_t)size) != 0 ||
        (err = posix_fallocate(fd, 0, (off_t)rings_off)) != 0) {
        err = err ? -err : -errno;
        goto fail;
    }
    map = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (map == MAP_FAILED) {
        err = -errno;
        goto fail;
    }
    cb__prod.base = map;
    cb__prod.size = size;
    cb__prod.fd = fd;
    cb__prod.hdr = map;
    cb__prod.names = (uint8_t *)map + names_off;
    cb__prod.names_size = sp.names_bytes;
    cb__prod.ring_count = sp.rings;
    cb__prod.ring_records = sp.ring_records;
    cb__prod.ring_stride = cb__prod.hdr->ring_stride =
        CB_RING_HEADER_SIZE + (uint64_t)sp.ring_records * CB_RECORD_SIZE;
    snprintf(cb__prod.shm_name, sizeof cb__prod.shm_name, "%s", name);
    fill_header(cb__prod.hdr, bus, &sp, names_off, rings_off, size);
    init_names(cb__prod.hdr, cb__prod.names);
    /* Release: every header field above before the magic that readers
     * wait for (paired with the acquire load in reader.c). */
    cb_store_u64(&cb__prod.hdr->magic, CB_SEG_MAGIC, CB_RELEASE);
    return 0;
fail:
    close(fd);
    shm_unlink(name);
    return err;
}
