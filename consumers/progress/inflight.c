/*
 * inflight.c -- snapshots of the producers' in-flight stacks (inflight.h).
 */
#include <stdlib.h>
#include <string.h>

#include <clipbus/reader.h>

#include "inflight.h"

void
cbp_inflight_init(struct cbp_inflight *f)
{
    memset(f, 0, sizeof *f);
}

void
cbp_inflight_fini(struct cbp_inflight *f)
{
    for (size_t i = 0; i < f->n; i++)
        cb_segment_detach(f->v[i].seg);
    free(f->v);
    memset(f, 0, sizeof *f);
}

int
cbp_inflight_attach(struct cbp_inflight *f, uint32_t producer,
                    const char *shm_name)
{
    struct cb_segment *seg = NULL;
    int rc;

    if (f->n == f->cap) {
        size_t cap = f->cap ? f->cap * 2 : 8;
        struct cbp_inflight_seg *v = realloc(f->v, cap * sizeof *v);
        if (v == NULL) {
            f->refused++;
            return -1;
        }
        f->v = v;
        f->cap = cap;
    }
    /* The runtime already validated and accepted this segment; a refusal
     * here (it vanished meanwhile) only costs the in-flight columns. */
    rc = cb_segment_attach(shm_name, 0, &seg, NULL, 0);
    if (rc < 0) {
        f->refused++;
        return rc;
    }
    f->v[f->n].producer = producer;
    f->v[f->n].seg = seg;
    f->n++;
    return 0;
}

void
cbp_inflight_detach(struct cbp_inflight *f, uint32_t producer)
{
    for (size_t i = 0; i < f->n; i++)
        if (f->v[i].producer == producer) {
            cb_segment_detach(f->v[i].seg);
            f->v[i] = f->v[--f->n];
            return;
        }
}

static size_t
scan_seg(struct cbp_inflight_seg *s, cbp_inflight_fn fn, void *arg)
{
    uint32_t rings = cb_segment_rings(s->seg);
    size_t reported = 0;
    char name[128];

    for (uint32_t r = 0; r < rings; r++) {
        struct cb_inflight_frame fr[CB_INFLIGHT_MAX];
        uint32_t depth = 0;
        int k = cb_segment_inflight(s->seg, r, fr, CB_INFLIGHT_MAX, &depth);
        uint64_t now = cb_segment_now_ticks(s->seg);
        for (int i = 0; i < k; i++) {
            /* A frame is a racy snapshot of another process's stack: a
             * start time in the future is a frame being rewritten. */
            if (fr[i].ts == 0 || fr[i].ts > now)
                continue;
            cb_segment_name_copy(s->seg, fr[i].name_id, name, sizeof name);
            fn(arg, s->producer, name,
               cb_segment_ticks_ns(s->seg, now - fr[i].ts));
            reported++;
        }
    }
    return reported;
}

size_t
cbp_inflight_scan(struct cbp_inflight *f, cbp_inflight_fn fn, void *arg)
{
    size_t reported = 0;

    for (size_t i = 0; i < f->n;) {
        if (cb_segment_faulted(f->v[i].seg) ||
            cb_segment_liveness(f->v[i].seg) != CB_PRODUCER_ALIVE) {
            /* Exited or dead: its stacks no longer say anything. */
            cb_segment_detach(f->v[i].seg);
            f->v[i] = f->v[--f->n];
            continue;
        }
        reported += scan_seg(&f->v[i], fn, arg);
        i++;
    }
    return reported;
}
