/*
 * bus_int.h -- internals shared by the files of libclipbus. Never
 * installed. The producer's process-wide state, the per-thread state, the
 * clock, and the helpers both sides use.
 */
#ifndef CB_BUS_INT_H
#define CB_BUS_INT_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "clipbus/clipbus.h"
#include "clipbus/segment.h"
#include "clipbus_config.h"

#if CB_HAVE_RDTSC
#include <x86intrin.h>
#endif

#define CB_LIKELY(x)   __builtin_expect(!!(x), 1)
#define CB_UNLIKELY(x) __builtin_expect(!!(x), 0)

/* Defaults of the producer segment (clipbus.h documents the variables). */
#define CB_DEFAULT_RING_RECORDS 65536u
#define CB_DEFAULT_RINGS        64u
#define CB_DEFAULT_NAMES_BYTES  262144u
#define CB_DEFAULT_PERF_SLOW_US 1000u
#define CB_NAMES_BYTES_MIN      4096u

/* Producer states (cb__prod.state): 0 not opened yet, 1 open, or a
 * negative code once instrumentation is off for good. */
#define CB_PROD_UNOPENED 0
#define CB_PROD_OPEN     1

/* ------------------------------------------------------------------------
 * Clock. The producer reads the TSC where it is invariant, else
 * CLOCK_MONOTONIC (a vDSO call, no system call where the kernel's
 * clocksource allows). cb__clock_tsc is set once, before the first record.
 * ------------------------------------------------------------------------ */
extern int cb__clock_tsc;

static inline uint64_t
cb__mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline uint64_t
cb__now(void)
{
#if CB_HAVE_RDTSC
    if (CB_LIKELY(cb__clock_tsc))
        return (uint64_t)__rdtsc();
#endif
    return cb__mono_ns();
}

uint64_t cb__real_ns(void);

/* Decides the clock and fills the calibration fields of hdr. Spins 20 us
 * (up to 1 ms when disturbed) to estimate the TSC rate; readers refine
 * it. */
void cb__clock_calibrate(struct cb_seg_header *hdr);

/* A (TSC, CLOCK_MONOTONIC) pair read together: the narrowest of a few,
 * the TSC at the midpoint of its bracket. Returns the bracket in ticks
 * (CLOCK_MONOTONIC twice, and 0, where there is no rdtsc). */
uint64_t cb__clock_pair(uint64_t *ticks, uint64_t *mono);

/* Stores the exit calibration pair (end_ticks, end_mono_ns). */
void cb__clock_end_pair(struct cb_seg_header *hdr);

/* 1 when this CPU has an invariant TSC usable as the producer clock. */
int cb__clock_has_invariant_tsc(void);

/* ------------------------------------------------------------------------
 * Producer state
 * ------------------------------------------------------------------------ */
struct cb_producer {
    int state;                 /* CB_PROD_* or negative code */
    int fd;                    /* the segment's shm fd, kept for fallocate */
    pthread_mutex_t lock;      /* open, intern insert, ring allocation */
    pthread_key_t key;         /* destructor releases the thread's ring */
    int key_ok;
    uint8_t *base;             /* the mapping */
    size_t size;
    struct cb_seg_header *hdr;
    uint8_t *names;            /* name table inside the mapping */
    uint32_t names_size;
    uint32_t ring_count;
    uint32_t ring_records;
    uint64_t ring_stride;
    uint32_t pid;
    uint32_t perf_slow_us;
    uint64_t perf_slow_ticks;  /* perf_slow_us in producer clock ticks */
    char shm_name[96];
    char bus[CB_BUS_NAME_MAX + 1]; /* kept for the child after fork() */
    /* process-local intern index: words of (hash32 << 32 | id) */
    uint64_t *index;
    uint32_t index_cap;        /* power of two */
    uint32_t index_used;
    /* after fork(): the parent's mapping, whose names the child copies */
    uint8_t *fork_base;
    size_t fork_size;
    uint64_t test_ring_base;   /* test hook: first record number */
};
extern struct cb_producer cb__prod;

/* Per-thread state: struct cb__thread and cb__thr are in clipbus.h,
 * whose inline paths use them. */

/* Opens the segment if not yet done. Returns 0 when open, else the
 * negative code that switched instrumentation off. */
int cb__ensure_open(void);

/* Slow path of the first record of a thread: claims a ring. Returns 0 when
 * the thread can write, negative otherwise (dropped records are counted). */
int cb__thread_attach(struct cb__thread *t);

/* segment.c */
int cb__segment_create(const char *bus);
int cb__env_u32(const char *var, uint32_t dflt, uint32_t lo, uint32_t hi,
                int pow2, uint32_t *out);
int cb__bus_name_valid(const char *name);
uint64_t cb__proc_start_time(uint32_t pid);
/* Start time and state letter (R, S, Z, ...) of a process from
 * /proc/<pid>/stat. Returns 0 or -errno. */
int cb__proc_stat(uint32_t pid, uint64_t *start, char *state);

/* names.c */
uint32_t cb__intern_locked(const char *name, size_t len);
uint32_t cb__intern(const char *name, size_t len);
int cb__index_init(uint32_t names_size);
void cb__index_free(void);

/* error.c: impossible failures (pthread_*) end here. */
__attribute__((noreturn)) void cb__die(int err, const char *file,
                                       const char *func, int line);
#define CB_DIE(err) cb__die((err), __FILE__, __func__, __LINE__)

/* Test hooks (tests/ only). Rings claimed after this call start their
 * record numbers at `base`, e.g. just below 2^64 to test wrap-around. */
void cb__test_set_ring_base(uint64_t base);
/* Test hook: backing the rest of a ring fails with `err` (a -errno) until
 * called again with 0. */
void cb__test_fail_grow(int err);
/* Test hook: of the reference pairs taken from now on (clock.c), those
 * whose bit is set in mask (bit 0: the next one) spin ns inside their
 * bracket, as if pre-empted there. */
void cb__test_clock_disturb(uint64_t mask, uint64_t ns);

/* Writes why[] with a printf-style message (NULL-safe). */
void cb__why(char *why, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif /* CB_BUS_INT_H */
