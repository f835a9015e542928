/*
 * cb_atomic.h -- the only door to atomics in bus/ (musl's a_* layer,
 * liburcu's uatomic). Every call names its memory order; the caller's
 * comment says why that order and what it pairs with.
 *
 * Normal builds use Concurrency Kit's ck_pr: plain movs plus the fences the
 * architecture needs (on x86_64, a TSO machine, acquire and release fences
 * are compiler barriers only). TSan cannot see ck_pr's inline asm, so under
 * CB_TSAN every operation maps to the __atomic builtins with the same
 * order; the seqlock payload copies are relaxed atomics, so the ring has no
 * data race in the C11 model and needs no suppressions.
 *
 * The order argument is always a constant: each switch folds away.
 */
#ifndef CB_ATOMIC_H
#define CB_ATOMIC_H

#include <stddef.h>
#include <stdint.h>

#ifndef CB_TSAN
#include <ck_pr.h>
#endif

#define CB_RELAXED 0
#define CB_ACQUIRE 1
#define CB_RELEASE 2
#define CB_SEQ_CST 3

#ifdef CB_TSAN
static inline int
cb__gcc_order(int mo)
{
    return mo == CB_ACQUIRE   ? __ATOMIC_ACQUIRE
           : mo == CB_RELEASE ? __ATOMIC_RELEASE
           : mo == CB_SEQ_CST ? __ATOMIC_SEQ_CST
                              : __ATOMIC_RELAXED;
}
#endif

/* A standalone fence of order mo. */
static inline void
cb_fence(int mo)
{
#ifdef CB_TSAN
    __atomic_thread_fence(cb__gcc_order(mo));
#else
    if (mo == CB_ACQUIRE)
        ck_pr_fence_acquire();
    else if (mo == CB_RELEASE)
        ck_pr_fence_release();
    else if (mo == CB_SEQ_CST)
        ck_pr_fence_memory();
#endif
}

static inline uint64_t
cb_load_u64(const uint64_t *p, int mo)
{
#ifdef CB_TSAN
    return __atomic_load_n(p, cb__gcc_order(mo));
#else
    uint64_t v = ck_pr_load_64(p);
    /* A load followed by an acquire fence orders every later access after
     * it: the acquire load of C11. */
    if (mo == CB_ACQUIRE || mo == CB_SEQ_CST)
        cb_fence(mo);
    return v;
#endif
}

static inline uint32_t
cb_load_u32(const uint32_t *p, int mo)
{
#ifdef CB_TSAN
    return __atomic_load_n(p, cb__gcc_order(mo));
#else
    uint32_t v = ck_pr_load_32(p);
    if (mo == CB_ACQUIRE || mo == CB_SEQ_CST)
        cb_fence(mo);
    return v;
#endif
}

static inline void
cb_store_u64(uint64_t *p, uint64_t v, int mo)
{
#ifdef CB_TSAN
    __atomic_store_n(p, v, cb__gcc_order(mo));
#else
    /* A release fence before the store orders every earlier access
     * before it: the release store of C11. */
    if (mo == CB_RELEASE || mo == CB_SEQ_CST)
        cb_fence(mo);
    ck_pr_store_64(p, v);
    if (mo == CB_SEQ_CST)
        cb_fence(CB_SEQ_CST);
#endif
}

static inline void
cb_store_u32(uint32_t *p, uint32_t v, int mo)
{
#ifdef CB_TSAN
    __atomic_store_n(p, v, cb__gcc_order(mo));
#else
    if (mo == CB_RELEASE || mo == CB_SEQ_CST)
        cb_fence(mo);
    ck_pr_store_32(p, v);
    if (mo == CB_SEQ_CST)
        cb_fence(CB_SEQ_CST);
#endif
}

static inline int
cb_load_int(const int *p, int mo)
{
#ifdef CB_TSAN
    return __atomic_load_n(p, cb__gcc_order(mo));
#else
    int v = ck_pr_load_int(p);
    if (mo == CB_ACQUIRE || mo == CB_SEQ_CST)
        cb_fence(mo);
    return v;
#endif
}

static inline void
cb_store_int(int *p, int v, int mo)
{
#ifdef CB_TSAN
    __atomic_store_n(p, v, cb__gcc_order(mo));
#else
    if (mo == CB_RELEASE || mo == CB_SEQ_CST)
        cb_fence(mo);
    ck_pr_store_int(p, v);
    if (mo == CB_SEQ_CST)
        cb_fence(CB_SEQ_CST);
#endif
}

/* Compare-and-swap, sequentially consistent (a locked instruction on
 * x86_64). Returns 1 when *p was `old` and is now `v`. Slow paths only. */
static inline int
cb_cas_u32(uint32_t *p, uint32_t old, uint32_t v)
{
#ifdef CB_TSAN
    return __atomic_compare_exchange_n(p, &old, v, 0, __ATOMIC_SEQ_CST,
                                       __ATOMIC_SEQ_CST);
#else
    return ck_pr_cas_32(p, old, v);
#endif
}

/* Fetch-and-add, sequentially consistent. Slow paths only. */
static inline uint64_t
cb_faa_u64(uint64_t *p, uint64_t delta)
{
#ifdef CB_TSAN
    return __atomic_fetch_add(p, delta, __ATOMIC_SEQ_CST);
#else
    return ck_pr_faa_64(p, delta);
#endif
}

/* Copies n 64-bit words with relaxed atomic loads and stores: the payload
 * of a seqlock. Ordering comes from the fences around the copy. */
static inline void
cb_copy_relaxed(uint64_t *dst, const uint64_t *src, size_t n)
{
    for (size_t i = 0; i < n; i++)
        cb_store_u64(&dst[i], cb_load_u64(&src[i], CB_RELAXED), CB_RELAXED);
}

/* Reads n words from shared memory into private memory (dst is not
 * shared, so plain stores are fine there). */
static inline void
cb_read_relaxed(uint64_t *dst, const uint64_t *src, size_t n)
{
    for (size_t i = 0; i < n; i++)
        dst[i] = cb_load_u64(&src[i], CB_RELAXED);
}

#endif /* CB_ATOMIC_H */
