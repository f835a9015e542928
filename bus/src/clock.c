/*
 * clock.c -- the producer clock and its calibration.
 *
 * Where the CPU has an invariant TSC the producer timestamps records with
 * rdtsc (about 10 ns here, against about 23 ns for clock_gettime). The
 * segment header carries a reference pair taken at open (TSC,
 * CLOCK_MONOTONIC, CLOCK_REALTIME) and a rate estimated over a spin of at
 * least 20 us (paid once, by the first record; every short-lived process
 * pays it). Each end of the spin is the narrowest of a few reference
 * pairs, and the spin goes on until half the two brackets is under 1/500
 * of it (up to 1 ms; 20 us when undisturbed), so a pre-emption or a VM
 * exit inside one clock read cannot skew the rate by percents (one did,
 * under TSan on a loaded 2-vCPU machine: 2 %). Readers turn ticks into
 * wall time with
 *     wall = ref_real_ns + (ticks - ref_ticks) * 1e9 / tsc_hz
 * and refine tsc_hz themselves: from the reference pair and their own
 * readings of the same (machine-wide) TSC while the producer lives, so the
 * estimate sharpens as it ages, and from a second pair the producer
 * stores at exit (cb__clock_end_pair) once it has exited. reader.c.
 *
 * Elsewhere the producer uses CLOCK_MONOTONIC nanoseconds, tsc_hz = 1e9.
 */
#include <stdio.h>
#include <string.h>

#include "bus_int.h"
#include "cb_atomic.h"

int cb__clock_tsc;

#define CB_CALIBRATE_NS 20000u      /* the shortest spin */
#define CB_CALIBRATE_MAX_NS 1000000u /* the longest, whatever the brackets */
#define CB_CALIBRATE_ERR 500u        /* bound the rate's error to 1/500 */
#define CB_PAIR_TRIES 4

uint64_t
cb__real_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int
cb__clock_has_invariant_tsc(void)
{
#if CB_HAVE_RDTSC
    /* The kernel reports constant_tsc (rate independent of frequency
     * scaling) and nonstop_tsc (keeps counting in deep C-states); both
     * together make the TSC usable as a clock across cores. */
    char line[4096];
    int constant = 0, nonstop = 0;
    FILE *f = fopen("/proc/cpuinfo", "re");

    if (f == NULL)
        return 0;
    while (fgets(line, sizeof line, f) != NULL) {
        if (strncmp(line, "flags", 5) != 0)
            continue;
        constant = strstr(line, " constant_tsc") != NULL;
        nonstop = strstr(line, " nonstop_tsc") != NULL;
        break;
    }
    fclose(f);
    return constant && nonstop;
#else
    return 0;
#endif
}

/* Test hook (cb__test_clock_disturb): bit i set makes the i-th reference
 * pair from now spin test_disturb_ns inside its bracket, as a pre-emption
 * would. Set by a test before the first record, read here only. */
static uint64_t test_disturb_mask;
static uint64_t test_disturb_ns;

void
cb__test_clock_disturb(uint64_t mask, uint64_t ns)
{
    cb_store_u64(&test_disturb_ns, ns, CB_RELAXED);
    cb_store_u64(&test_disturb_mask, mask, CB_RELAXED);
}

static void
test_disturb(void)
{
    uint64_t mask = cb_load_u64(&test_disturb_mask, CB_RELAXED);

    if (CB_LIKELY(mask == 0))
        return;
    cb_store_u64(&test_disturb_mask, mask >> 1, CB_RELAXED);
    if (mask & 1) {
        uint64_t end = cb__mono_ns() + cb_load_u64(&test_disturb_ns,
                                                   CB_RELAXED);
        while (cb__mono_ns() < end)
            ;
    }
}

/* One reference pair: the TSC read on both sides of clock_gettime, so the
 * midpoint stands for the instant the monotonic clock was read, to within
 * half the bracket. Returns the bracket's width in ticks. */
static uint64_t
ref_pair(uint64_t *ticks, uint64_t *mono)
{
#if CB_HAVE_RDTSC
    uint64_t a = (uint64_t)__rdtsc();
    test_disturb();
    *mono = cb__mono_ns();
    uint64_t b = (uint64_t)__rdtsc();
    *ticks = a + (b - a) / 2;
    return b - a;
#else
    *mono = cb__mono_ns();
    *ticks = *mono;
    return 0;
#endif
}

/* The narrowest of a few pairs: one interrupted read widens its bracket,
 * and is dropped. Returns the kept bracket's width. */
uint64_t
cb__clock_pair(uint64_t *ticks, uint64_t *mono)
{
    uint64_t best = UINT64_MAX;

    for (int i = 0; i < CB_PAIR_TRIES; i++) {
        uint64_t t, m, w = ref_pair(&t, &m);
        if (w < best) {
            best = w;
            *ticks = t;
            *mono = m;
        }
    }
    return best;
}

void
cb__clock_end_pair(struct cb_seg_header *hdr)
{
    uint64_t ticks, mono;

    cb__clock_pair(&ticks, &mono);
    hdr->end_mono_ns = mono;
    hdr->end_ticks = ticks; /* published by the release of state */
}

void
cb__clock_calibrate(struct cb_seg_header *hdr)
{
    uint64_t t0, m0, t1, m1, w0, w1;

    cb__clock_tsc = cb__clock_has_invariant_tsc();
    hdr->ref_real_ns = cb__real_ns();
    if (!cb__clock_tsc) {
        ref_pair(&t0, &m0);
        hdr->clock_kind = CB_CLOCK_MONOTONIC;
        hdr->tsc_hz = 1000000000u;
        hdr->ref_ticks = m0;
        hdr->ref_mono_ns = m0;
        return;
    }
    w0 = cb__clock_pair(&t0, &m0);
    /* The rate's error is at most (w0 + w1) / 2 over t1 - t0: spin until
     * that is under 1 / CB_CALIBRATE_ERR, and at least CB_CALIBRATE_NS. */
    do
        w1 = cb__clock_pair(&t1, &m1);
    while (m1 - m0 < CB_CALIBRATE_MAX_NS &&
           (m1 - m0 < CB_CALIBRATE_NS ||
            (w0 + w1) / 2 * CB_CALIBRATE_ERR > t1 - t0));
    hdr->clock_kind = CB_CLOCK_TSC;
    hdr->tsc_hz = (uint64_t)((double)(t1 - t0) * 1e9 / (double)(m1 - m0));
    hdr->ref_ticks = t0;
    hdr->ref_mono_ns = m0;
}
