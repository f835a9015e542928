/*
 * tests/consumers/rrd/rrd_synth.c -- a producer with synthetic time.
 *
 * clipbus-rrd files records by their own timestamps, so testing "several
 * hours at known rates and latencies" needs records stamped hours apart
 * without waiting hours. The producer library takes its timestamps from
 * the clock and offers no hook to change them, and adding one would test
 * a path the analyzer never takes. Instead this program is a second,
 * independent writer of the documented ABI (bus/include/clipbus/
 * segment.h): it creates a real segment /clipbus.<bus>.<pid> in shared
 * memory, with a header whose clock calibration says "CLOCK_MONOTONIC
 * ticks, 1 GHz, tick 1e9 was --start", and publishes records into ring 0
 * with the ring protocol of ring.c (odd sequence, release fence, payload,
 * even sequence with release; head after each entry). The real consumer
 * runtime then attaches, validates and reads it like any producer's: the
 * only synthetic thing is the time on the records.
 *
 * The workload (every expectation in test_rrd_archive.sh derives from
 * these lines; keep them in step):
 *   fetch_page        2 calls per second; in each 10 s window call i
 *                     (0..19) lasts (i+1) ms, doubled in the second half
 *                     of the run; calls with i % 10 == 9 fail (code -5).
 *                     Silent for PAUSE_S seconds starting one hour in.
 *   Score.Clip        one call per 10 s (5 s into the window), 5 ms
 *   clips.processed   counter, labels "source=api": +3 every second
 *   queue.depth       gauge: 7 every second, 9 in the second half
 *   api.latency_ms    observed: 100 + 10 * (second % 10)
 *   fn_000..          --extra N: N more functions, one 1 ms call per 10 s
 *
 * Usage: rrd_synth --bus B --start EPOCH_S --seconds N [--extra N]
 *        [--chunks K --chunk-ms MS] [--ring-records N] [--no-exit-mark]
 * --chunks writes the run in K slices with a pause between them (a live
 * producer); --no-exit-mark leaves the segment LIVE at the end (as if the
 * producer had been killed). Prints the segment name on stdout.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <clipbus/segment.h>

#define PAUSE_S 60
#define NAMES_SIZE (64u * 1024u)

static struct {
    uint8_t *base;
    struct cb_seg_header *h;
    uint8_t *names;
    struct cb_ring_header *ring;
    struct cb_record *slots;
    uint64_t mask, next;
} g;

static uint64_t
real_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Field 22 of /proc/self/stat: what readers compare for pid reuse. */
static uint64_t
start_time(void)
{
    char buf[1024];
    FILE *f = fopen("/proc/self/stat", "r");
    size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
    unsigned long long v = 0;
    char *p;

    if (f)
        fclose(f);
    buf[n] = '\0';
    p = strrchr(buf, ')');
    if (p == NULL)
        return 0;
    /* After ")": state is field 3; skip to field 22. */
    p += 2;
    for (int field = 3; field < 22 && p; field++) {
        p = strchr(p, ' ');
        if (p)
            p++;
    }
    if (p)
        sscanf(p, "%llu", &v);
    return v;
}

static uint32_t
intern(const char *s)
{
    uint64_t used = g.h->names_used;
    uint16_t len = (uint16_t)strlen(s);
    uint64_t need = (2u + len + 3u) & ~3ull;

    if (used + need > NAMES_SIZE) {
        fprintf(stderr, "rrd_synth: name table full\n");
        exit(1);
    }
    memcpy(g.names + used, &len, 2);
    memcpy(g.names + used + 2, s, len);
    __atomic_store_n(&g.h->names_used, used + need, __ATOMIC_RELEASE);
    return (uint32_t)used;
}

/* Publishes one single-record entry (ring.c, W1-W4, then head). */
static void
publish(const struct cb_record *r)
{
    struct cb_record *s = &g.slots[g.next & g.mask];
    uint64_t n = g.next;

    __atomic_store_n(&s->seq, 2 * n + 1, __ATOMIC_RELAXED);
    __atomic_thread_fence(__ATOMIC_RELEASE);
    memcpy((uint8_t *)s + 8, (const uint8_t *)r + 8, CB_RECORD_SIZE - 8);
    __atomic_store_n(&s->seq, 2 * n + 2, __ATOMIC_RELEASE);
    g.next = n + 1;
    __atomic_store_n(&g.ring->head, g.next, __ATOMIC_RELEASE);
}

static void
put_call(uint32_t name, uint64_t t_ns, uint64_t dur_ns, int fail)
{
    struct cb_record r = {0};

    r.kind = CB_KIND_CALL;
    r.name_id = name;
    r.ts = 1000000000u + t_ns;
    r.value = dur_ns;
    r.status = fail ? CB_STATUS_ERROR : CB_STATUS_OK;
    if (fail) {
        uint32_t tag = (uint32_t)CB_FIELD_ERR << CB_FIELD_SHIFT;
        int32_t code = -5;
        uint16_t len = 4;
        memcpy(r.data, &tag, 4);
        memcpy(r.data + 4, &code, 4);
        memcpy(r.data + 8, &len, 2);
        memcpy(r.data + 10, "boom", 4);
        r.data_len = 14;
    }
    publish(&r);
}

static void
put_metric(uint16_t kind, uint32_t name, uint32_t labels, uint64_t t_ns,
           uint64_t value)
{
    struct cb_record r = {0};

    r.kind = kind;
    r.name_id = name;
    r.ts = 1000000000u + t_ns;
    r.value = value;
    if (labels) {
        uint32_t tag = (uint32_t)CB_FIELD_LABELS << CB_FIELD_SHIFT | labels;
        memcpy(r.data, &tag, 4);
        r.data_len = 4;
    }
    publish(&r);
}

static uint64_t
dbl_bits(double d)
{
    uint64_t b;
    memcpy(&b, &d, 8);
    return b;
}

struct ids {
    uint32_t fetch, score, clips, labels, depth, lat;
    uint32_t *extra;
};

/* Emits second `sec` (0-based) of a run of `total` seconds. */
static void
emit_second(const struct ids *id, uint64_t sec, uint64_t total, int extra)
{
    uint64_t t = sec * 1000000000u;
    int second_half = sec >= total / 2;
    uint64_t w = sec % 10;

    if (!(sec >= 3600 && sec < 3600 + PAUSE_S)) {
        for (int k = 0; k < 2; k++) {
            uint64_t i = 2 * w + (uint64_t)k;
            uint64_t dur = (i + 1) * 1000000u * (second_half ? 2 : 1);
            put_call(id->fetch, t + (k ? 600000000u : 100000000u), dur,
                     i % 10 == 9);
        }
    }
    if (w == 5)
        put_call(id->score, t, 5000000u, 0);
    put_metric(CB_KIND_COUNT, id->clips, id->labels, t + 200000000u, 3);
    put_metric(CB_KIND_GAUGE, id->depth, 0, t + 300000000u,
               dbl_bits(second_half ? 9.0 : 7.0));
    put_metric(CB_KIND_OBSERVE, id->lat, 0, t + 400000000u,
               dbl_bits(100.0 + 10.0 * (double)w));
    if (w == 7)
        for (int e = 0; e < extra; e++)
            put_call(id->extra[e], t + (uint64_t)e * 1000u, 1000000u, 0);
}

struct opts {
    const char *bus;
    uint64_t start_s, seconds;
    int extra, chunks, chunk_ms, no_exit_mark;
    uint32_t ring_records;
};

static int
parse(int argc, char **argv, struct opts *o)
{
    o->ring_records = 1u << 17;
    o->chunks = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--no-exit-mark") == 0) {
            o->no_exit_mark = 1;
            continue;
        }
        if (v == NULL)
            return -1;
        i++;
        if (strcmp(a, "--bus") == 0)
            o->bus = v;
        else if (strcmp(a, "--start") == 0)
            o->start_s = strtoull(v, NULL, 10);
        else if (strcmp(a, "--seconds") == 0)
            o->seconds = strtoull(v, NULL, 10);
        else if (strcmp(a, "--extra") == 0)
            o->extra = atoi(v);
        else if (strcmp(a, "--chunks") == 0)
            o->chunks = atoi(v);
        else if (strcmp(a, "--chunk-ms") == 0)
            o->chunk_ms = atoi(v);
        else if (strcmp(a, "--ring-records") == 0)
            o->ring_records = (uint32_t)strtoul(v, NULL, 10);
        else
            return -1;
    }
    return o->bus && o->start_s && o->seconds && o->chunks > 0 ? 0 : -1;
}

static int
make_segment(const struct opts *o, char *name, size_t len)
{
    uint64_t names_off = CB_SEG_HEADER_SIZE;
    uint64_t rings_off = names_off + NAMES_SIZE;
    uint64_t stride = CB_RING_HEADER_SIZE +
                      (uint64_t)o->ring_records * CB_RECORD_SIZE;
    uint64_t size = rings_off + stride;
    static const uint8_t unknown[4] = {1, 0, '?', 0};
    int fd;

    snprintf(name, len, "/clipbus.%s.%d", o->bus, (int)getpid());
    fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL, 0600);
    if (fd < 0 || ftruncate(fd, (off_t)size) != 0) {
        fprintf(stderr, "rrd_synth: %s: %s\n", name, strerror(errno));
        return -1;
    }
    g.base = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    if (g.base == MAP_FAILED)
        return -1;
    g.h = (struct cb_seg_header *)(void *)g.base;
    g.names = g.base + names_off;
    g.ring = (struct cb_ring_header *)(void *)(g.base + rings_off);
    g.slots = (struct cb_record *)(void *)(g.base + rings_off +
                                           CB_RING_HEADER_SIZE);
    g.mask = o->ring_records - 1;

    struct cb_seg_header *h = g.h;
    h->layout_major = CB_LAYOUT_MAJOR;
    h->layout_minor = CB_LAYOUT_MINOR;
    h->header_size = CB_SEG_HEADER_SIZE;
    h->record_size = CB_RECORD_SIZE;
    h->format = CB_FORMAT_WORD(CB_FORMAT_LITTLE);
    h->pid = (uint32_t)getpid();
    h->start_time = start_time();
    h->segment_size = size;
    h->ring_count = 1;
    h->ring_records = o->ring_records;
    h->rings_offset = rings_off;
    h->ring_stride = stride;
    h->names_offset = names_off;
    h->names_size = NAMES_SIZE;
    h->uid = (uint32_t)getuid();
    /* The synthetic clock: tick 1e9 is --start, one tick per ns. */
    h->clock_kind = CB_CLOCK_MONOTONIC;
    h->tsc_hz = 1000000000u;
    h->ref_ticks = 1000000000u;
    h->ref_mono_ns = 1000000000u;
    h->ref_real_ns = o->start_s * 1000000000u;
    h->created_real_ns = real_ns();
    snprintf(h->program, sizeof h->program, "rrd_synth");
    snprintf(h->bus, sizeof h->bus, "%s", o->bus);
    h->state = CB_SEG_LIVE;
    memcpy(g.names + CB_NAME_FIRST, unknown, sizeof unknown);
    h->names_used = CB_NAME_FIRST + sizeof unknown;
    g.ring->owner_tid = (uint32_t)getpid();
    g.ring->claims = 1;
    snprintf(g.ring->thread_name, sizeof g.ring->thread_name, "synth");
    __atomic_store_n(&g.ring->ready, 1, __ATOMIC_RELEASE);
    __atomic_store_n(&h->rings_hwm, 1, __ATOMIC_RELEASE);
    /* Release: the header is complete before a reader can see the magic. */
    __atomic_store_n(&h->magic, CB_SEG_MAGIC, __ATOMIC_RELEASE);
    return 0;
}

int
main(int argc, char **argv)
{
    struct opts o = {0};
    struct ids id = {0};
    char name[128];

    if (parse(argc, argv, &o) != 0) {
        fprintf(stderr, "usage: rrd_synth --bus B --start EPOCH_S --seconds N "
                "[--extra N] [--chunks K --chunk-ms MS] [--ring-records N] "
                "[--no-exit-mark]\n");
        return 2;
    }
    if (make_segment(&o, name, sizeof name) != 0)
        return 1;
    printf("%s\n", name);
    fflush(stdout);
    id.fetch = intern("fetch_page");
    id.score = intern("Score.Clip");
    id.clips = intern("clips.processed");
    id.labels = intern("source=api");
    id.depth = intern("queue.depth");
    id.lat = intern("api.latency_ms");
    id.extra = calloc((size_t)o.extra + 1, sizeof *id.extra);
    for (int e = 0; e < o.extra; e++) {
        char n[32];
        snprintf(n, sizeof n, "fn_%03d", e);
        id.extra[e] = intern(n);
    }
    for (int c = 0; c < o.chunks; c++) {
        uint64_t from = o.seconds * (uint64_t)c / (uint64_t)o.chunks;
        uint64_t to = o.seconds * (uint64_t)(c + 1) / (uint64_t)o.chunks;
        for (uint64_t sec = from; sec < to; sec++)
            emit_second(&id, sec, o.seconds, o.extra);
        if (c + 1 < o.chunks && o.chunk_ms > 0)
            usleep((useconds_t)o.chunk_ms * 1000u);
    }
    if (!o.no_exit_mark) {
        g.h->exit_real_ns = real_ns();
        /* Release: every record before the exited state (reader.c). */
        __atomic_store_n(&g.h->state, CB_SEG_EXITED, __ATOMIC_RELEASE);
    }
    free(id.extra);
    return 0;
}
