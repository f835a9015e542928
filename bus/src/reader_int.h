/*
 * reader_int.h -- the reader's private view of an attached segment.
 * Never installed.
 */
#ifndef CB_READER_INT_H
#define CB_READER_INT_H

#include <setjmp.h>
#include <stdint.h>

#include "clipbus/reader.h"

struct cb_segment {
    const uint8_t *base;        /* read-only mapping of the whole segment */
    size_t size;
    const struct cb_seg_header *hdr;
    struct cb_producer_info info;  /* validated copy of the header */
    uint64_t names_offset;
    uint64_t rings_offset;
    uint64_t ring_stride;
    uint64_t ref_ticks, ref_mono_ns, ref_real_ns;
    uint64_t hz_bits;           /* refined ticks per second, as a double */
    uint32_t faulted;           /* 1 once a read hit SIGBUS (guard.c) */
};

/* ------------------------------------------------------------------------
 * SIGBUS guard (guard.c). Use as the first statement of a function that
 * touches a segment's mapping:
 *     CB_GUARD(seg, return CB_EBADSEG);
 *     ... read the mapping ...
 *     CB_UNGUARD();
 * `on_fault` runs if the segment is already known faulted, or when a read
 * faults; it must leave the function. Between the two macros, do not
 * return (that would leave the guard pointing at a dead frame) and do not
 * change locals you use in `on_fault`.
 * ------------------------------------------------------------------------ */
extern __thread sigjmp_buf *cb__guard_env
    __attribute__((tls_model("initial-exec")));
void cb__guard_install(void);
void cb__seg_fault(const struct cb_segment *seg);

#define CB_GUARD(seg, on_fault)                                                \
    sigjmp_buf cb__env_;                                                       \
    sigjmp_buf *const cb__prev_ = cb__guard_env;                               \
    if (cb_segment_faulted(seg)) {                                             \
        on_fault;                                                              \
    }                                                                          \
    if (sigsetjmp(cb__env_, 0) != 0) {                                         \
        cb__guard_env = cb__prev_;                                             \
        cb__seg_fault(seg);                                                    \
        on_fault;                                                              \
    }                                                                          \
    cb__guard_env = &cb__env_
#define CB_UNGUARD() (cb__guard_env = cb__prev_)

/* The header of ring i, or NULL if i is not below the (clamped) number of
 * rings ever claimed. */
const struct cb_ring_header *cb__seg_ring(const struct cb_segment *seg,
                                          uint32_t i);
uint64_t cb__seg_ring_records(const struct cb_segment *seg);

/* Validates a header copy against the mapping size. Returns 0 or a CB_E*
 * code with why[] filled. Exposed for tests. */
int cb__header_check(const struct cb_seg_header *h, uint64_t file_size,
                     char *why, size_t why_len);

/* Re-estimates the TSC rate from the producer's reference pair and a fresh
 * reading of our own (same machine, same TSC). */
void cb__seg_refine_clock(struct cb_segment *seg);

#endif /* CB_READER_INT_H */
