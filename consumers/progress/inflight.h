/*
 * inflight.h -- the monitored calls running right now, read from the
 * producers' in-flight stacks (DESIGN: "readers can see calls that are
 * stuck or running long without an enter record per call").
 *
 * The consumer runtime streams returned calls only, so a view that wants
 * "in-flight count" and "longest running call" attaches each producer's
 * segment a second time, read-only, from its own thread, and takes a
 * snapshot of every ring's stack when it draws. reader.h allows this: the
 * read-only segment queries may run in several threads at once, and the
 * mapping is private to this object. A runtime call giving the same
 * snapshot would make this file unnecessary (see docs/clipbus-top.md).
 *
 * THREADS: one thread at a time per object.
 */
#ifndef CBP_INFLIGHT_H
#define CBP_INFLIGHT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct cb_segment;

struct cbp_inflight {
    struct cbp_inflight_seg {
        uint32_t producer;
        struct cb_segment *seg;
    } *v;
    size_t n, cap;
    uint64_t refused; /* segments that could not be attached */
};

/* Called for each running call: its producer, function and time so far. */
typedef void (*cbp_inflight_fn)(void *arg, uint32_t producer,
                                const char *fn, uint64_t dur_ns);

void cbp_inflight_init(struct cbp_inflight *f);
/* Detaches everything. */
void cbp_inflight_fini(struct cbp_inflight *f);

/* Attaches the segment `shm_name` of runtime producer `producer` (on
 * CBC_EV_PRODUCER_NEW). Returns 0 or negative (counted in refused; the
 * producer is then simply not scanned). */
int cbp_inflight_attach(struct cbp_inflight *f, uint32_t producer,
                        const char *shm_name);

/* Forgets a producer (on CBC_EV_PRODUCER_EXIT / _DIED). */
void cbp_inflight_detach(struct cbp_inflight *f, uint32_t producer);

/* Calls fn for every in-flight frame of every attached, live producer.
 * Returns the number of calls reported. */
size_t cbp_inflight_scan(struct cbp_inflight *f, cbp_inflight_fn fn,
                         void *arg);

#ifdef __cplusplus
}
#endif
#endif /* CBP_INFLIGHT_H */
