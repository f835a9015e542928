/*
 * runtime.c -- the consumer runtime (runtime.h tells what it does).
 *
 * Hand-off: the reader thread packs events into batch buffers (8-byte
 * aligned, variable length) and passes full buffers to the worker through
 * `full`, a ck_ring SPSC of pointers; the worker hands empty buffers back
 * through `free_q`. Each ring has one producer and one consumer thread,
 * which is exactly ck_ring's SPSC contract; its enqueue publishes the
 * slot with a store fence before the index, so everything the reader wrote
 * before enqueueing (the batch, the name and producer tables) is visible
 * to the worker that dequeues it.
 *
 * Names and producers are append-only tables written by the reader thread
 * only and read by the worker only for handles and ids it received in a
 * batch -- published, by the ring's ordering, before the worker sees them.
 * They are chunked so they grow without moving what is already there.
 *
 * Section map: tables -- batches -- translating events -- ended
 * producers -- reader loop -- worker -- run.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <ck_pr.h>
#include <ck_ring.h>

#include "runtime.h"
#include "waitset.h"
#include "sched_class.h"

#define CHUNK_BITS 12u
#define CHUNK      (1u << CHUNK_BITS)
#define MAX_CHUNKS 1024u
/* A wake-up that found at least SPIN_MIN_ENTRIES entries (a stream of
 * millions a second, at the 1 ms naps cb_bus_wait then takes) re-polls up
 * to IDLE_SPINS times before it sleeps again: the next entries are
 * microseconds away. A slower stream goes straight back to sleep: each
 * re-poll reads every ring's next slot, a cache line its producer is to
 * write, and 64 of them per wake-up were a quarter of a consumer's reader
 * time while clip-analyzer ran (bench/RESULTS.md, 2026-11-29 18:45). */
#define IDLE_SPINS 64
#define SPIN_MIN_ENTRIES 4096
/* Longest wait for records before the reader loop looks at its idle exit
 * and in-flight timer again (shorter if in-flight snapshots are due more
 * often). SIGINT, SIGTERM and cbc_rt_stop() end a wait at once, even one
 * they come just before (stop_fd). An idle exit is looked at every
 * IDLE_EXIT_WAIT_MS. */
#define WAIT_MAX_MS 1000
#define IDLE_EXIT_WAIT_MS 50
/* An asleep worker with no tick to run still looks at its flags this
 * often (a lost wake-up would cost at most this much). */
#define WORKER_SLEEP_MAX_MS 1000

/* ========================================================================
 * Tables
 * ======================================================================== */
struct names {
    char **chunk[MAX_CHUNKS]; /* handle h: chunk[h >> 12][h & 4095] */
    uint32_t count;           /* handles in use; handle 0 is "?" */
    uint32_t *index;          /* open addressing: handles by string hash */
    uint32_t index_cap;
};

/* Per producer: its segment's name ids mapped to handles, open sessions. */
struct idmap {
    uint32_t *keys, *vals;
    uint32_t cap, used;
};

struct session {
    uint32_t id, name;
};

struct prod_state {
    struct cbc_producer info;
    struct cb_segment *seg;   /* NULL once detached */
    struct idmap ids;
    struct session *sessions;
    size_t nsessions, sessions_cap;
};

struct cbc_rt {
    struct cbc_rt_opts opts;
    struct cbc_sink sink;
    struct cb_bus *bus;
    struct names names;
    struct prod_state **prods[MAX_CHUNKS]; /* by id, chunked */
    uint32_t nprods;                       /* ids handed out */
    const struct cb_segment *last_seg;     /* prod_of() cache */
    struct prod_state *last_prod;
    /* hand-off */
    struct ck_ring full, free_q;
    ck_ring_buffer_t *full_buf, *free_buf;
    uint8_t **batches;
    /* Free batches the reader has taken back from free_q, used last in,
     * first out: the batch the worker returned last is the one still in
     * the caches (see batch_open). Reader thread only. */
    uint8_t **spare;
    uint32_t nspare;
    uint8_t *cur;                /* batch being filled, or NULL */
    size_t cur_used;
    uint64_t pending_handoff_loss; /* records not yet reported */
    /* Control events (everything but records and in-flight snapshots)
     * are never dropped: while the worker holds every batch they wait
     * here and go out first, in order, once a batch is free. */
    struct pending_ev *pending;
    size_t npending;
    uint64_t control_dropped;    /* only if PENDING_MAX was not enough */
    pthread_t worker;
    int worker_started;
    volatile sig_atomic_t stop;
    int reader_done;             /* written by the reader, read by worker */
    int active;                  /* reader: a producer attached, not ended */
    int worker_asleep;           /* written by the worker, read by reader */
    int wake_fd;                 /* eventfd the reader wakes it with */
    int start_done, start_status; /* written by the worker, read by reader */
    int inotify_fd;
    /* Stop, said to a sleeping reader. A signal handler or another
     * thread sets `stop`, then writes stop_fd (never read: it stays
     * readable). The reader's waits watch wait_fd, an epoll set of
     * stop_fd and inotify_fd, so a stop that comes between the reader's
     * look at `stop` and its sleep still ends the sleep at once, instead
     * of after the nap or the 1 s idle wait. */
    int stop_fd;
    int wait_fd;                 /* epoll, or inotify_fd alone (fallback) */
    uint64_t last_activity_ns;
    uint64_t last_inflight_ns;
    uint64_t inflight_seq;
    int inflight_quiet;          /* the last snapshot found no producer */
    pthread_mutex_t sink_lock;   /* sink text only */
    char sink_text[CB_PROGRAM_MAX];
    int sink_dirty;
    struct cbc_rt_stats st;
};

static struct cbc_rt *signal_rt;

static uint64_t
now_ns(clockid_t clk)
{
    struct timespec ts;
    clock_gettime(clk, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint32_t
hash_str(const char *s, size_t n)
{
    uint32_t h = 2166136261u;

    for (size_t i = 0; i < n; i++)
        h = (h ^ (uint8_t)s[i]) * 16777619u;
    return h;
}

const char *
cbc_name(const struct cbc_rt *rt, uint32_t h)
{
    if (h == 0 || h >= rt->names.count)
        return "?";
    return rt->names.chunk[h >> CHUNK_BITS][h & (CHUNK - 1)];
}

static int
names_grow_index(struct names *n)
{
    uint32_t cap = n->index_cap ? n->index_cap * 2 : 4096;
    uint32_t *idx = calloc(cap, sizeof *idx);

    if (idx == NULL)
        return -ENOMEM;
    for (uint32_t h = 1; h < n->count; h++) {
        const char *s = n->chunk[h >> CHUNK_BITS][h & (CHUNK - 1)];
        uint32_t i = hash_str(s, strlen(s)) & (cap - 1);
        while (idx[i] != 0)
            i = (i + 1) & (cap - 1);
        idx[i] = h;
    }
    free(n->index);
    n->index = idx;
    n->index_cap = cap;
    return 0;
}

/* The handle of string s[0, len), interned on first sight. 0 on failure
 * (out of memory, or more than MAX_CHUNKS * CHUNK names). */
static uint32_t
names_intern(struct names *n, const char *s, size_t len)
{
    uint32_t i, h;
    char *copy;

    if (n->count == 0)
        n->count = 1; /* handle 0 is "?" */
    if ((n->count + 1) * 2 > n->index_cap && names_grow_index(n) != 0)
        return 0;
    for (i = hash_str(s, len) & (n->index_cap - 1); n->index[i] != 0;
         i = (i + 1) & (n->index_cap - 1)) {
        const char *e = n->chunk[n->index[i] >> CHUNK_BITS]
                                [n->index[i] & (CHUNK - 1)];
        if (strncmp(e, s, len) == 0 && e[len] == '\0')
            return n->index[i];
    }
    h = n->count;
    if ((h >> CHUNK_BITS) >= MAX_CHUNKS)
        return 0;
    if (n->chunk[h >> CHUNK_BITS] == NULL &&
        (n->chunk[h >> CHUNK_BITS] = calloc(CHUNK, sizeof(char *))) == NULL)
        return 0;
    copy = malloc(len + 1);
    if (copy == NULL)
        return 0;
    memcpy(copy, s, len);
    copy[len] = '\0';
    n->chunk[h >> CHUNK_BITS][h & (CHUNK - 1)] = copy;
    n->index[i] = h;
    n->count = h + 1;
    return h;
}

static void
names_free(struct names *n)
{
    for (uint32_t h = 1; h < n->count; h++)
        free(n->chunk[h >> CHUNK_BITS][h & (CHUNK - 1)]);
    for (uint32_t c = 0; c < MAX_CHUNKS; c++)
        free(n->chunk[c]);
    free(n->index);
}

static struct prod_state *
prod_get(const struct cbc_rt *rt, uint32_t id)
{
    if (id == 0 || id > rt->nprods)
        return NULL;
    return rt->prods[id >> CHUNK_BITS][id & (CHUNK - 1)];
}

const struct cbc_producer *
cbc_rt_producer(const struct cbc_rt *rt, uint32_t id)
{
    const struct prod_state *p = prod_get(rt, id);

    return p ? &p->info : NULL;
}

/* A new producer id for seg, or 0 when out of memory. */
static uint32_t
prod_add(struct cbc_rt *rt, struct cb_segment *seg)
{
    uint32_t id = rt->nprods + 1;
    const struct cb_producer_info *in = cb_segment_info(seg);
    struct prod_state *p;

    if ((id >> CHUNK_BITS) >= MAX_CHUNKS)
        return 0;
    if (rt->prods[id >> CHUNK_BITS] == NULL &&
        (rt->prods[id >> CHUNK_BITS] = calloc(CHUNK, sizeof(void *))) == NULL)
        return 0;
    p = calloc(1, sizeof *p);
    if (p == NULL)
        return 0;
    p->seg = seg;
    p->info.id = id;
    p->info.pid = in->pid;
    p->info.start_time = in->start_time;
    p->info.created_ns = in->created_real_ns;
    memcpy(p->info.program, in->program, sizeof p->info.program);
    snprintf(p->info.shm_name, sizeof p->info.shm_name, "%s", in->shm_name);
    rt->prods[id >> CHUNK_BITS][id & (CHUNK - 1)] = p;
    rt->nprods = id;
    return id;
}

/* The live producer attached to seg (segments are announced before their
 * first entry, so the newest id for a pointer is the right one). */
static struct prod_state *
prod_of(struct cbc_rt *rt, const struct cb_segment *seg)
{
    /* Entries come in runs per ring: the last answer is usually right. */
    if (seg != NULL && seg == rt->last_seg)
        return rt->last_prod;
    for (uint32_t id = rt->nprods; id >= 1; id--) {
        struct prod_state *p = prod_get(rt, id);
        if (p->seg == seg) {
            rt->last_seg = seg;
            rt->last_prod = p;
            return p;
        }
    }
    return NULL;
}

/* ========================================================================
 * Name ids of one segment -> handles
 * ======================================================================== */
static int
idmap_grow(struct idmap *m)
{
    uint32_t cap = m->cap ? m->cap * 2 : 256;
    uint32_t *k = calloc(cap, sizeof *k), *v = calloc(cap, sizeof *v);

    if (k == NULL || v == NULL) {
        free(k);
        free(v);
        return -ENOMEM;
    }
    for (uint32_t i = 0; i < m->cap; i++) {
        uint32_t j;
        if (m->keys[i] == 0)
            continue;
        for (j = (m->keys[i] * 2654435761u) & (cap - 1); k[j] != 0;
             j = (j + 1) & (cap - 1))
            ;
        k[j] = m->keys[i];
        v[j] = m->vals[i];
    }
    free(m->keys);
    free(m->vals);
    m->keys = k;
    m->vals = v;
    m->cap = cap;
    return 0;
}

static uint32_t
handle_of(struct cbc_rt *rt, struct prod_state *p, uint32_t id)
{
    struct idmap *m = &p->ids;
    const char *s;
    size_t len;
    uint32_t j, h;

    if (id == 0 || p->seg == NULL)
        return 0;
    if ((m->used + 1) * 2 > m->cap && idmap_grow(m) != 0)
        return 0;
    for (j = (id * 2654435761u) & (m->cap - 1); m->keys[j] != 0;
         j = (j + 1) & (m->cap - 1))
        if (m->keys[j] == id)
            return m->vals[j];
    s = cb_segment_name(p->seg, id, &len);
    if (s == NULL)
        return 0;
    h = names_intern(&rt->names, s, len);
    if (h != 0) {
        m->keys[j] = id;
        m->vals[j] = h;
        m->used++;
    }
    return h;
}

/* ========================================================================
 * Batches
 * ======================================================================== */
#define EV_ALIGN 8u
/* A pending event with up to PENDING_TEXT bytes of data. PENDING_MAX of
 * them fit in the smallest batch (64 KiB): draining never overflows. */
#define PENDING_MAX  128u
#define PENDING_TEXT 256u

struct pending_ev {
    struct cbc_event ev;
    uint8_t text[PENDING_TEXT];
};

static struct cbc_event *batch_place(struct cbc_rt *rt, size_t extra);
static int batch_open(struct cbc_rt *rt);

/* Wakes the worker if it sleeps. The reader stored what it must see (a
 * batch, reader_done) before; the worker stores worker_asleep before it
 * looks at them: with a full fence on both sides, either the worker sees
 * the batch or the reader sees it asleep (and one write(2) by the reader,
 * never by a producer, wakes it). */
static void
worker_wake(struct cbc_rt *rt)
{
    uint64_t one = 1;

    ck_pr_fence_memory();
    if (ck_pr_load_int(&rt->worker_asleep)) {
        ssize_t w = write(rt->wake_fd, &one, sizeof one);
        (void)w; /* EAGAIN: the counter is already set, it will wake */
    }
}

/* Hands the batch being filled to the worker. The end mark is a zero size
 * word.
 *
 * A worker whose sink has a tick wakes for it anyway (every 64 or 128
 * ms) and then delivers what is queued: it is woken for a batch only
 * when half the batches wait (a fast stream) -- not once per nap of the
 * reader, which for a slow writer such as clip-analyzer doubled the
 * consumer's wake-ups and context switches. A batch so waits at most a
 * tick period, which the sinks with a tick (top, progress, alert, rrd,
 * log) show or store no sooner anyway. */
static void
batch_push(struct cbc_rt *rt)
{
    memset(rt->cur + rt->cur_used, 0, sizeof(uint64_t));
    if (!ck_ring_enqueue_spsc(&rt->full, rt->full_buf, rt->cur))
        abort(); /* cannot happen: as many slots as batches */
    rt->cur = NULL;
    if (rt->sink.tick == NULL ||
        ck_ring_size(&rt->full) * 2 >= rt->opts.handoff_batches)
        worker_wake(rt);
}

/* Reserves room for an event with `extra` data bytes in the current batch;
 * NULL (and the records counted as hand-off loss) if the worker has no
 * free batch to give back. */
static struct cbc_event *
batch_reserve(struct cbc_rt *rt, size_t extra, uint64_t records)
{
    size_t need = (sizeof(struct cbc_event) + extra + EV_ALIGN - 1) &
                  ~(size_t)(EV_ALIGN - 1);
    struct cbc_event *ev;

    /* Room for the event's size word, the event, and the end mark. */
    if (rt->cur != NULL && rt->cur_used + sizeof(uint64_t) + need +
                                   sizeof(uint64_t) >
                               rt->opts.batch_bytes) {
        batch_push(rt); /* full: the worker takes it */
    }
    if (rt->cur == NULL && !batch_open(rt)) {
        rt->pending_handoff_loss += records;
        rt->st.handoff_lost += records;
        return NULL;
    }
    ev = batch_place(rt, extra);
    (void)need;
    return ev;
}

/* Takes a free batch from the worker, if there is one, and puts the
 * control events that waited for it first: they happened before anything
 * placed after them. Returns 1 with rt->cur set, 0 if none was free. */
static int
batch_open(struct cbc_rt *rt)
{
    void *b;

    /* The worker gives batches back in the order it delivered them, so
     * the last one dequeued is the one it read last. Reusing that one
     * (a stack, not the ring's FIFO order) keeps a slow stream -- a
     * batch or two a wake-up -- in one or two warm buffers instead of
     * cycling through all handoff_batches of them, each cold in the
     * caches and the TLB by its turn. */
    while (ck_ring_dequeue_spsc(&rt->free_q, rt->free_buf, &b))
        rt->spare[rt->nspare++] = b;
    if (rt->nspare == 0)
        return 0;
    rt->cur = rt->spare[--rt->nspare];
    rt->cur_used = 0;
    for (size_t i = 0; i < rt->npending; i++) {
        const struct pending_ev *pe = &rt->pending[i];
        struct cbc_event *dst = batch_place(rt, pe->ev.data_len);
        *dst = pe->ev;
        dst->data = (const uint8_t *)(dst + 1);
        memcpy((uint8_t *)(dst + 1), pe->text, pe->ev.data_len);
    }
    rt->npending = 0;
    return 1;
}

/* Places an event in the current batch, which has room (checked by the
 * caller, or guaranteed: a fresh batch holds every pending event). */
static struct cbc_event *
batch_place(struct cbc_rt *rt, size_t extra)
{
    uint64_t need = (sizeof(struct cbc_event) + extra + EV_ALIGN - 1) &
                    ~(uint64_t)(EV_ALIGN - 1);
    struct cbc_event *ev;

    /* Each event is preceded by its total size, so the worker can walk. */
    memcpy(rt->cur + rt->cur_used, &need, sizeof(uint64_t));
    ev = (struct cbc_event *)(rt->cur + rt->cur_used + sizeof(uint64_t));
    memset(ev, 0, sizeof *ev);
    ev->data = (const uint8_t *)(ev + 1);
    rt->cur_used += sizeof(uint64_t) + need;
    return ev;
}

/* Room for a control event: in the batch, or else in the pending queue
 * (its data, at most PENDING_TEXT bytes, goes to ev->data). NULL only if
 * the queue is full too (counted in control_dropped). */
static struct cbc_event *
control_reserve(struct cbc_rt *rt, size_t extra)
{
    struct cbc_event *ev = batch_reserve(rt, extra, 0);
    struct pending_ev *pe;

    if (ev != NULL)
        return ev;
    if (rt->npending == PENDING_MAX || extra > PENDING_TEXT) {
        rt->control_dropped++;
        return NULL;
    }
    pe = &rt->pending[rt->npending++];
    memset(pe, 0, sizeof *pe);
    pe->ev.data = pe->text;
    return &pe->ev;
}

/* Hands the batch being filled to the worker (at the end of a poll). */
static void
batch_flush(struct cbc_rt *rt)
{
    if (rt->cur == NULL || rt->cur_used == 0)
        return;
    batch_push(rt);
}

/* ========================================================================
 * Translating bus events
 * ======================================================================== */

/* Copies entry data, rewriting every field's name id to a handle. */
static uint32_t
copy_fields(struct cbc_rt *rt, struct prod_state *p, const uint8_t *src,
            size_t len, uint8_t *dst)
{
    size_t off = 0, at;
    struct cb_field f;

    memcpy(dst, src, len);
    for (at = off; cb_field_next(src, len, &off, &f) == 1; at = off) {
        uint32_t tag;
        memcpy(&tag, dst + at, 4);
        tag = (tag & ~CB_NAME_ID_MASK) |
              (handle_of(rt, p, f.name_id) & CB_NAME_ID_MASK);
        memcpy(dst + at, &tag, 4);
    }
    return (uint32_t)len;
}

static void
session_note(struct prod_state *p, const struct cb_entry *e, uint32_t name)
{
    if (e->head.kind == CB_KIND_SESSION_BEGIN) {
        if (p->nsessions == p->sessions_cap) {
            size_t cap = p->sessions_cap ? p->sessions_cap * 2 : 4;
            struct session *ns = realloc(p->sessions, cap * sizeof *ns);
            if (ns == NULL)
                return;
            p->sessions = ns;
            p->sessions_cap = cap;
        }
        p->sessions[p->nsessions].id = e->head.session;
        p->sessions[p->nsessions++].name = name;
        return;
    }
    for (size_t i = 0; i < p->nsessions; i++)
        if (p->sessions[i].id == e->head.session) {
            p->sessions[i] = p->sessions[--p->nsessions];
            return;
        }
}

static void
on_entry(struct cbc_rt *rt, const struct cb_event *bev)
{
    const struct cb_entry *e = bev->entry;
    struct prod_state *p = prod_of(rt, bev->seg);
    struct cbc_event *ev;

    if (p == NULL)
        return;
    rt->st.delivered += 1u + e->head.ext;
    ev = batch_reserve(rt, e->data_len, 1u + e->head.ext);
    if (ev == NULL)
        return;
    ev->type = CBC_EV_RECORD;
    ev->kind = e->head.kind;
    ev->status = e->head.status;
    ev->flags = e->head.flags;
    ev->producer = p->info.id;
    ev->ring = e->ring;
    ev->tid = e->tid;
    ev->recno = e->recno;
    ev->records = 1u + e->head.ext;
    ev->name = handle_of(rt, p, e->head.name_id);
    ev->session = e->head.session;
    ev->wall_ns = cb_segment_wall_ns(bev->seg, e->head.ts);
    ev->value = e->head.value;
    if (e->head.kind == CB_KIND_CALL)
        ev->dur_ns = cb_segment_ticks_ns(bev->seg, e->head.value);
    ev->data_len = copy_fields(rt, p, e->data, e->data_len,
                               (uint8_t *)(ev + 1));
    if (e->head.kind == CB_KIND_SESSION_BEGIN ||
        e->head.kind == CB_KIND_SESSION_END)
        session_note(p, e, ev->name);
}

static void
simple_event(struct cbc_rt *rt, uint16_t type, uint32_t producer,
             uint32_t ring, uint64_t count)
{
    struct cbc_event *ev;

    /* A loss right after a waiting loss of the same ring just adds to
     * it (only the last one: order with other events is kept). */
    if (type == CBC_EV_LOSS && rt->npending > 0) {
        struct cbc_event *pe = &rt->pending[rt->npending - 1].ev;
        if (pe->type == CBC_EV_LOSS && pe->producer == producer &&
            pe->ring == ring) {
            pe->count += count;
            return;
        }
    }
    ev = control_reserve(rt, 0);
    if (ev == NULL) {
        /* Nowhere to put it: a loss is still counted (as hand-off loss,
         * reported when there is room), so the sums stay exact. */
        if (type == CBC_EV_LOSS) {
            rt->pending_handoff_loss += count;
            if (ring != CBC_RING_HANDOFF) {
                rt->st.lost -= count;
                rt->st.handoff_lost += count;
            }
        }
        return;
    }
    ev->type = type;
    ev->producer = producer;
    ev->ring = ring;
    ev->count = count;
    ev->wall_ns = now_ns(CLOCK_REALTIME);
}

/* Open sessions and in-flight calls of an ended producer become aborted
 * events, then the end itself. The segment is still attached here. */
static void
on_end(struct cbc_rt *rt, const struct cb_event *bev, uint16_t type)
{
    struct prod_state *p = prod_of(rt, bev->seg);
    uint64_t now = now_ns(CLOCK_REALTIME);
    uint32_t rings;

    if (p == NULL)
        return;
    rings = cb_segment_rings(bev->seg);
    for (uint32_t r = 0; r < rings; r++) {
        struct cb_inflight_frame fr[CB_INFLIGHT_MAX];
        uint32_t depth = 0;
        int n = cb_segment_inflight(bev->seg, r, fr, CB_INFLIGHT_MAX, &depth);
        uint64_t ticks = cb_segment_now_ticks(bev->seg);
        for (int i = n - 1; i >= 0; i--) { /* innermost first */
            struct cbc_event *ev = control_reserve(rt, 0);
            if (ev == NULL)
                break;
            ev->type = CBC_EV_CALL_ABORTED;
            ev->kind = CB_KIND_CALL;
            ev->status = CB_STATUS_ABORTED;
            ev->producer = p->info.id;
            ev->ring = r;
            ev->name = handle_of(rt, p, fr[i].name_id);
            ev->wall_ns = cb_segment_wall_ns(bev->seg, fr[i].ts);
            ev->dur_ns = cb_segment_ticks_ns(bev->seg, ticks - fr[i].ts);
        }
    }
    for (size_t i = 0; i < p->nsessions; i++) {
        struct cbc_event *ev = control_reserve(rt, 0);
        if (ev == NULL)
            break;
        ev->type = CBC_EV_SESSION_ABORTED;
        ev->kind = CB_KIND_SESSION_END;
        ev->status = CB_STATUS_ABORTED;
        ev->producer = p->info.id;
        ev->session = p->sessions[i].id;
        ev->name = p->sessions[i].name;
        ev->wall_ns = now;
    }
    p->nsessions = 0;
    if (rt->st.producers > 0)
        ck_pr_store_32(&rt->st.producers, rt->st.producers - 1);
    simple_event(rt, type, p->info.id, 0, 0);
    /* The bus may detach the segment after its grace: forget it now, the
     * producer's identity stays in the table. */
    p->seg = NULL;
    rt->last_seg = NULL;
}

static int
on_bus_event(void *arg, const struct cb_event *bev)
{
    struct cbc_rt *rt = arg;
    struct prod_state *p;
    struct cbc_event *ev;
    size_t n;

    switch (bev->type) {
    case CB_EV_ENTRY:
        on_entry(rt, bev);
        break;
    case CB_EV_LOSS:
        p = prod_of(rt, bev->seg);
        rt->st.lost += bev->count;
        simple_event(rt, CBC_EV_LOSS, p ? p->info.id : 0, bev->ring,
                     bev->count);
        break;
    case CB_EV_PRODUCER_NEW:
        ck_pr_store_32(&rt->st.producers, rt->st.producers + 1);
        simple_event(rt, CBC_EV_PRODUCER_NEW, prod_add(rt, bev->seg), 0, 0);
        break;
    case CB_EV_PRODUCER_EXIT:
        on_end(rt, bev, CBC_EV_PRODUCER_EXIT);
        break;
    case CB_EV_PRODUCER_DIED:
        on_end(rt, bev, CBC_EV_PRODUCER_DIED);
        break;
    case CB_EV_BAD_SEGMENT:
        if (!rt->opts.quiet)
            fprintf(stderr, "%s: bad segment: %s\n",
                    rt->opts.program ? rt->opts.program : "consumer",
                    bev->why);
        n = strlen(bev->why);
        if (n > PENDING_TEXT)
            n = PENDING_TEXT;
        ev = control_reserve(rt, n);
        if (ev != NULL) {
            ev->type = CBC_EV_BAD_SEGMENT;
            ev->data_len = (uint32_t)n;
            memcpy((uint8_t *)ev->data, bev->why, n);
        }
        break;
    default:
        break;
    }
    return rt->stop != 0;
}

/* ========================================================================
 * Reader loop
 * ======================================================================== */
static void
report_handoff_loss(struct cbc_rt *rt)
{
    uint64_t n = rt->pending_handoff_loss;

    if (n == 0)
        return;
    rt->pending_handoff_loss = 0;
    /* Goes to a batch or the pending queue; if neither has room,
     * simple_event() puts n back into pending_handoff_loss. */
    simple_event(rt, CBC_EV_LOSS, 0, CBC_RING_HANDOFF, n);
}

static void
update_sink_text(struct cbc_rt *rt)
{
    char text[CB_PROGRAM_MAX];

    pthread_mutex_lock(&rt->sink_lock);
    if (!rt->sink_dirty) {
        pthread_mutex_unlock(&rt->sink_lock);
        return;
    }
    memcpy(text, rt->sink_text, sizeof text);
    rt->sink_dirty = 0;
    pthread_mutex_unlock(&rt->sink_lock);
    cb_bus_set_sink_state(rt->bus, text);
}

/* 1 if some attached producer has not ended yet. */
static int
any_active(struct cbc_rt *rt)
{
    for (size_t i = 0; cb_bus_producer(rt->bus, i) != NULL; i++) {
        struct prod_state *p = prod_of(rt, cb_bus_producer(rt->bus, i));
        if (p != NULL && p->seg != NULL)
            return 1;
    }
    return 0;
}

/* One in-flight snapshot of every attached, live producer. */
static void
inflight_snapshot(struct cbc_rt *rt)
{
    struct cb_segment *seg;
    uint64_t seq;
    struct cbc_event *ev;
    int active = any_active(rt);

    /* With no producer running nothing can be in flight: one empty
     * snapshot empties the sink's table, and then none is taken until a
     * producer runs again. A snapshot every second would wake an idle
     * consumer's worker every second, and keep its ticks from slowing
     * down (cbc_rt_opts.idle_tick_ms). */
    if (!active && rt->inflight_quiet)
        return;
    rt->inflight_quiet = !active;
    seq = ++rt->inflight_seq;

    for (size_t i = 0; (seg = cb_bus_producer(rt->bus, i)) != NULL; i++) {
        struct prod_state *p = prod_of(rt, seg);
        uint32_t rings = cb_segment_rings(seg);
        if (p == NULL || p->seg == NULL)
            continue;
        for (uint32_t r = 0; r < rings; r++) {
            struct cb_inflight_frame fr[CB_INFLIGHT_MAX];
            char tname[CB_THREAD_NAME_MAX];
            uint32_t depth = 0, tid;
            uint64_t ticks;
            int n = cb_segment_inflight(seg, r, fr, CB_INFLIGHT_MAX, &depth);
            if (n <= 0)
                continue;
            tid = cb_segment_ring_owner(seg, r, tname);
            ticks = cb_segment_now_ticks(seg);
            for (int k = 0; k < n; k++) {
                ev = batch_reserve(rt, 0, 0);
                if (ev == NULL)
                    return;
                ev->type = CBC_EV_INFLIGHT;
                ev->kind = CB_KIND_CALL;
                ev->status = (uint16_t)k;
                ev->producer = p->info.id;
                ev->ring = r;
                ev->tid = tid;
                ev->name = handle_of(rt, p, fr[k].name_id);
                ev->wall_ns = cb_segment_wall_ns(seg, fr[k].ts);
                ev->dur_ns = (int64_t)(ticks - fr[k].ts) > 0
                                 ? cb_segment_ticks_ns(seg, ticks - fr[k].ts)
                                 : 0;
                ev->count = seq;
            }
        }
    }
    ev = batch_reserve(rt, 0, 0);
    if (ev != NULL) {
        ev->type = CBC_EV_INFLIGHT_DONE;
        ev->count = seq;
        ev->wall_ns = now_ns(CLOCK_REALTIME);
    }
}

/* Everything seen has ended and been drained, and nothing new came for
 * exit_idle_ms. */
static int
idle_exit_due(struct cbc_rt *rt, uint64_t now)
{
    if (rt->opts.exit_idle_ms == 0 || any_active(rt))
        return 0;
    return now - rt->last_activity_ns >=
           (uint64_t)rt->opts.exit_idle_ms * 1000000u;
}

static void
reader_loop(struct cbc_rt *rt)
{
    unsigned idle = 0;
    uint64_t woke_with = 0; /* entries read since the last wait */

    rt->last_activity_ns = now_ns(CLOCK_MONOTONIC);
    while (!rt->stop) {
        long n;
        /* Not on the cheap re-polls below: the inotify read is a
         * system call, and a new segment can wait for the next turn. */
        if (idle == 0 && cb_shm_watch_drain(rt->inotify_fd))
            cb_bus_scan(rt->bus, 1);
        report_handoff_loss(rt);
        update_sink_text(rt);
        n = cb_bus_poll(rt->bus, on_bus_event, rt, 0);
        if (rt->opts.inflight_ms != 0) {
            uint64_t t = now_ns(CLOCK_MONOTONIC);
            if (t - rt->last_inflight_ns >=
                (uint64_t)rt->opts.inflight_ms * 1000000u) {
                rt->last_inflight_ns = t;
                inflight_snapshot(rt);
            }
        }
        if (n > 0) {
            rt->st.events += (uint64_t)n;
            rt->last_activity_ns = now_ns(CLOCK_MONOTONIC);
            woke_with += (uint64_t)n;
            idle = 0;
            continue;
        }
        if (idle_exit_due(rt, now_ns(CLOCK_MONOTONIC)))
            break;
        /* For a fast stream, a few re-polls (a burst often follows); then
         * a wait. */
        if (woke_with >= SPIN_MIN_ENTRIES && ++idle < IDLE_SPINS) {
            ck_pr_stall();
            continue;
        }
        /* The batch goes to the worker once per wake-up, before the
         * reader sleeps (or when it is full, batch_reserve). Handing it
         * over after every poll that found something woke the worker for
         * each few records of a slow writer such as clip-analyzer, whose
         * records come a few at a time: two context switches each. */
        batch_flush(rt);
        if (rt->opts.idle_tick_ms != 0)
            ck_pr_store_int(&rt->active, any_active(rt));
        if (rt->stop)
            break;
        /* cb_bus_wait paces its naps to the producers; the timeout
         * only bounds how long the idle exit and in-flight timer wait. */
        {
            int ms = rt->opts.exit_idle_ms != 0 ? IDLE_EXIT_WAIT_MS
                                                : WAIT_MAX_MS;
            if (rt->opts.inflight_ms != 0 &&
                rt->opts.inflight_ms < (uint32_t)ms)
                ms = (int)rt->opts.inflight_ms;
            (void)cb_bus_wait_fd(rt->bus, ms, rt->wait_fd);
        }
        idle = 0;
        woke_with = 0;
    }
    /* Final pass: whatever is published now is read and handed over. */
    while (cb_bus_poll(rt->bus, on_bus_event, rt, 0) > 0)
        batch_flush(rt);
    /* Waiting control events and losses get out while the worker still
     * drains: a batch frees up soon (bounded wait: 5 s). */
    for (int i = 0; i < 5000 && (rt->npending > 0 ||
                                 rt->pending_handoff_loss > 0); i++) {
        struct timespec ts = {0, 1000000};
        report_handoff_loss(rt);
        if (rt->npending > 0 && rt->cur == NULL)
            batch_open(rt);
        batch_flush(rt);
        if (rt->npending > 0 || rt->pending_handoff_loss > 0)
            nanosleep(&ts, NULL);
    }
    batch_flush(rt);
}

/* ========================================================================
 * Worker
 * ======================================================================== */
static void
deliver(struct cbc_rt *rt, uint8_t *batch)
{
    size_t off = 0;

    for (;;) {
        uint64_t size;
        memcpy(&size, batch + off, sizeof size);
        if (size == 0)
            break;
        if (rt->sink.event != NULL)
            rt->sink.event(rt->sink.arg,
                           (const struct cbc_event *)(batch + off +
                                                      sizeof size));
        off += sizeof size + size;
    }
}

/* Sink ticks fall on multiples of their period on CLOCK_MONOTONIC, the
 * grid cb_bus_wait's naps end on: a worker's tick and the naps of every
 * reader on the machine end together, in one timer interrupt, instead of
 * each at its own moment. The period is tick_ms rounded up to a power of
 * two of milliseconds (50 -> 64, 100 -> 128), a multiple of every nap. */
static uint64_t
tick_period_ns(uint32_t tick_ms)
{
    uint64_t ms = 1;

    while (ms < tick_ms)
        ms *= 2;
    return ms * 1000000u;
}

/* The first multiple of `period` after `t`. */
static uint64_t
grid_after(uint64_t t, uint64_t period)
{
    return (t / period + 1) * period;
}

/* The worker has nothing to deliver: it sleeps until the reader hands
 * over a batch (worker_wake) or its next tick is due. Before, it napped
 * 2 ms while batches came (8 ms after 100 ms without): 500 wake-ups a
 * second per consumer of a slow stream such as the analyzer's, which the
 * analyzer paid for in scheduling on a 2-CPU machine. A fast stream never
 * lets the worker sleep, so the reader then makes no system call for it. */
static void
worker_idle(struct cbc_rt *rt, uint64_t next_tick, uint64_t max_ns)
{
    uint64_t now = now_ns(CLOCK_MONOTONIC);
    /* Until the next tick, if the sink has one. */
    uint64_t ns = rt->sink.tick == NULL ? max_ns
                  : now >= next_tick    ? 0
                                        : next_tick - now;
    struct pollfd pf = {.fd = rt->wake_fd, .events = POLLIN};
    struct timespec ts;
    uint64_t v;

    if (ns == 0)
        return;
    if (ns > max_ns)
        ns = max_ns;
    ts.tv_sec = (time_t)(ns / 1000000000u);
    ts.tv_nsec = (long)(ns % 1000000000u);
    ck_pr_store_int(&rt->worker_asleep, 1);
    ck_pr_fence_memory(); /* pairs with worker_wake() */
    if (ck_ring_size(&rt->full) == 0 && !ck_pr_load_int(&rt->reader_done))
        (void)ppoll(&pf, 1, &ts, NULL);
    ck_pr_store_int(&rt->worker_asleep, 0);
    if (read(rt->wake_fd, &v, sizeof v) < 0) {
        /* EAGAIN: woken by the timeout, or the batch came first */
    }
}

static void *
worker_main(void *arg)
{
    struct cbc_rt *rt = arg;
    /* The first tick at once (a sink may do start-up work in it, such
     * as clipbus-log's first maintenance before any row), then on the
     * grid. */
    uint64_t tick_ns = tick_period_ns(rt->opts.tick_ms), next_tick = 0;
    /* Idle ticks (opts.idle_tick_ms): `delivered` since the last tick;
     * `slow` while the next tick is an idle one. */
    uint64_t idle_ns = rt->opts.idle_tick_ms != 0
                           ? tick_period_ns(rt->opts.idle_tick_ms)
                           : 0;
    uint64_t sleep_max = WORKER_SLEEP_MAX_MS * 1000000ull;
    int status = 0, delivered = 0, slow = 0;

    if (idle_ns > sleep_max)
        sleep_max = idle_ns;
    /* Named for top -H, ps -L and gdb; the reader is the main thread and
     * keeps the program's name. */
    pthread_setname_np(pthread_self(), "cb-worker");

    /* start() runs here, in the thread that will deliver every event (so
     * it can register the thread with RCU, open files it keeps, ...). The
     * reader waits for its answer before reading anything. */
    if (rt->sink.start != NULL)
        status = rt->sink.start(rt->sink.arg, rt);
    ck_pr_store_int(&rt->start_status, status);
    ck_pr_fence_store();
    ck_pr_store_int(&rt->start_done, 1);
    if (status != 0)
        return NULL;

    for (;;) {
        void *b;
        uint64_t now;
        if (ck_ring_dequeue_spsc(&rt->full, rt->full_buf, &b)) {
            deliver(rt, b);
            if (!ck_ring_enqueue_spsc(&rt->free_q, rt->free_buf, b))
                abort();
            delivered = 1;
            if (slow) { /* events again: back to the tick_ms grid */
                slow = 0;
                next_tick = grid_after(now_ns(CLOCK_MONOTONIC), tick_ns);
            }
        } else if (ck_pr_load_int(&rt->reader_done)) {
            /* The reader enqueued its last batch before setting done
             * (ck_pr store after the ring's fence): one more look. */
            if (!ck_ring_dequeue_spsc(&rt->full, rt->full_buf, &b))
                break;
            deliver(rt, b);
            ck_ring_enqueue_spsc(&rt->free_q, rt->free_buf, b);
            continue;
        } else {
            worker_idle(rt, next_tick, sleep_max);
        }
        now = now_ns(CLOCK_MONOTONIC);
        if (rt->sink.tick != NULL && now >= next_tick) {
            rt->sink.tick(rt->sink.arg, now_ns(CLOCK_REALTIME));
            slow = idle_ns != 0 && !delivered &&
                   !ck_pr_load_int(&rt->active) &&
                   (rt->sink.quiet == NULL || rt->sink.quiet(rt->sink.arg));
            next_tick = grid_after(now, slow ? idle_ns : tick_ns);
            delivered = 0;
        }
    }
    if (rt->sink.stop != NULL)
        rt->sink.stop(rt->sink.arg);
    return NULL;
}

/* ========================================================================
 * Run
 * ======================================================================== */
/* Waits for the worker's start(); returns its status. */
static int
wait_start(struct cbc_rt *rt)
{
    while (!ck_pr_load_int(&rt->start_done)) {
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    ck_pr_fence_load(); /* start_status was stored before start_done */
    return ck_pr_load_int(&rt->start_status);
}

/* Sets the flag, then makes stop_fd readable: async-signal-safe. */
static void
say_stop(struct cbc_rt *rt)
{
    rt->stop = 1;
    cbc_waitset_kick(rt->stop_fd);
}

static void
on_signal(int sig)
{
    (void)sig;
    if (signal_rt != NULL)
        say_stop(signal_rt);
}

void
cbc_rt_stop(struct cbc_rt *rt)
{
    say_stop(rt);
}

void
cbc_rt_set_sink_state(struct cbc_rt *rt, const char *text)
{
    pthread_mutex_lock(&rt->sink_lock);
    snprintf(rt->sink_text, sizeof rt->sink_text, "%s", text ? text : "");
    rt->sink_dirty = 1;
    pthread_mutex_unlock(&rt->sink_lock);
}

void
cbc_rt_stats(const struct cbc_rt *rt, struct cbc_rt_stats *out)
{
    /* Counters written by the reader thread and read here by any thread:
     * relaxed 64-bit loads (whole words on every target we build for). */
    out->delivered = ck_pr_load_64(&rt->st.delivered);
    out->lost = ck_pr_load_64(&rt->st.lost);
    out->handoff_lost = ck_pr_load_64(&rt->st.handoff_lost);
    out->events = ck_pr_load_64(&rt->st.events);
    out->producers = ck_pr_load_32(&rt->st.producers);
    out->names = ck_pr_load_32(&rt->names.count);
}

static int
handoff_init(struct cbc_rt *rt)
{
    uint32_t n = rt->opts.handoff_batches;
    uint32_t slots = 2;

    while (slots <= n)
        slots <<= 1; /* ck_ring keeps one slot empty */
    rt->pending = calloc(PENDING_MAX, sizeof *rt->pending);
    rt->full_buf = calloc(slots, sizeof *rt->full_buf);
    rt->free_buf = calloc(slots, sizeof *rt->free_buf);
    rt->batches = calloc(n, sizeof *rt->batches);
    rt->spare = calloc(n, sizeof *rt->spare);
    if (rt->full_buf == NULL || rt->free_buf == NULL || rt->batches == NULL ||
        rt->spare == NULL || rt->pending == NULL)
        return -ENOMEM;
    ck_ring_init(&rt->full, slots);
    ck_ring_init(&rt->free_q, slots);
    for (uint32_t i = 0; i < n; i++) {
        rt->batches[i] = malloc(rt->opts.batch_bytes);
        if (rt->batches[i] == NULL)
            return -ENOMEM;
        ck_ring_enqueue_spsc(&rt->free_q, rt->free_buf, rt->batches[i]);
    }
    return 0;
}

static void
rt_free(struct cbc_rt *rt)
{
    if (rt->bus != NULL)
        cb_bus_close(rt->bus);
    if (rt->wait_fd >= 0 && rt->wait_fd != rt->inotify_fd)
        close(rt->wait_fd);
    if (rt->inotify_fd >= 0)
        close(rt->inotify_fd);
    if (rt->stop_fd >= 0)
        close(rt->stop_fd);
    close(rt->wake_fd);
    for (uint32_t i = 0; rt->batches && i < rt->opts.handoff_batches; i++)
        free(rt->batches[i]);
    free(rt->batches);
    free(rt->spare);
    free(rt->full_buf);
    free(rt->free_buf);
    free(rt->pending);
    for (uint32_t id = 1; id <= rt->nprods; id++) {
        struct prod_state *p = prod_get(rt, id);
        free(p->ids.keys);
        free(p->ids.vals);
        free(p->sessions);
        free(p);
    }
    for (uint32_t c = 0; c < MAX_CHUNKS; c++)
        free(rt->prods[c]);
    names_free(&rt->names);
    pthread_mutex_destroy(&rt->sink_lock);
    free(rt);
}

static void
opts_defaults(struct cbc_rt_opts *o)
{
    if (o->program == NULL)
        o->program = "consumer";
    if (o->tick_ms == 0)
        o->tick_ms = 100;
    if (o->handoff_batches == 0)
        o->handoff_batches = 64;
    if (o->batch_bytes < 64u * 1024)
        o->batch_bytes = 256u * 1024;
}

void
cbc_rt_opts_consumer(struct cbc_rt_opts *o,
                     const struct cbc_consumer_config *c)
{
    o->status_interval_ms = (uint32_t)(c->status_interval_ns / 1000000u);
    o->ring_batch = (uint32_t)c->batch;
    o->max_nap_ms = (uint32_t)(c->max_nap_ns / 1000000u);
}

int
cbc_rt_run(const struct cbc_rt_opts *opts, const struct cbc_sink *sink)
{
    struct cbc_rt *rt = calloc(1, sizeof *rt);
    struct cb_bus_opts bo = {0};
    struct sigaction sa, old_int, old_term;
    int err, status = 0;

    if (rt == NULL)
        return -ENOMEM;
    rt->opts = *opts;
    opts_defaults(&rt->opts);
    rt->sink = *sink;
    rt->inotify_fd = -1;
    rt->wait_fd = -1;
    /* A failure leaves -1: stops are then seen after the nap. */
    rt->stop_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    /* Before any thread of ours: they inherit the class. A failure is
     * reported and the consumer runs on in the class it has. */
    (void)cbc_sched_apply(rt->opts.program, rt->opts.sched);
    /* The worker sleeps on it until the reader hands over a batch. */
    rt->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (rt->wake_fd < 0) {
        err = -errno;
        fprintf(stderr, "%s: cannot create an eventfd: %s\n",
                rt->opts.program, strerror(-err));
        if (rt->stop_fd >= 0)
            close(rt->stop_fd);
        free(rt);
        return err;
    }
    pthread_mutex_init(&rt->sink_lock, NULL);
    bo.program = rt->opts.program;
    bo.grace_s = rt->opts.grace_s;
    bo.from = rt->opts.from;
    bo.status_interval_ms = rt->opts.status_interval_ms;
    bo.ring_batch = rt->opts.ring_batch;
    bo.max_nap_ms = rt->opts.max_nap_ms;
    /* New segments are attached as soon as they appear. The watch comes
     * before the bus's first scan, so that nothing created after it goes
     * unnoticed, and the bus need not list the directory often itself;
     * without inotify, its own listing every 100 ms still finds them. */
    rt->inotify_fd = cb_shm_watch_open();
    bo.dir_watched = rt->inotify_fd >= 0;
    err = handoff_init(rt);
    if (err == 0)
        err = cb_bus_open(rt->opts.bus, &bo, &rt->bus);
    if (err != 0) {
        fprintf(stderr, "%s: cannot open bus '%s': %s\n", rt->opts.program,
                rt->opts.bus ? rt->opts.bus : "(default)", cb_strerror(err));
        rt_free(rt);
        return err;
    }
    rt->wait_fd = cbc_waitset_open(rt->inotify_fd, rt->stop_fd);
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    signal_rt = rt;
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    /* The worker (and any thread its sink starts) blocks SIGINT and
     * SIGTERM, so they interrupt the reader's wait, not the worker's. */
    {
        sigset_t stop_sigs, old_mask;
        sigemptyset(&stop_sigs);
        sigaddset(&stop_sigs, SIGINT);
        sigaddset(&stop_sigs, SIGTERM);
        pthread_sigmask(SIG_BLOCK, &stop_sigs, &old_mask);
        err = pthread_create(&rt->worker, NULL, worker_main, rt);
        pthread_sigmask(SIG_SETMASK, &old_mask, NULL);
    }
    if (err != 0) {
        fprintf(stderr, "%s: cannot start the worker thread: %s\n",
                rt->opts.program, strerror(err));
        status = -err;
    } else if (wait_start(rt) != 0) {
        status = rt->start_status;
        pthread_join(rt->worker, NULL);
    } else {
        reader_loop(rt);
        /* The last batch's enqueue before the flag the worker checks. */
        ck_pr_fence_store();
        ck_pr_store_int(&rt->reader_done, 1);
        worker_wake(rt);
        pthread_join(rt->worker, NULL);
    }
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    signal_rt = NULL;
    rt_free(rt);
    return status;
}
