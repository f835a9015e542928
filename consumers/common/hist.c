/*
 * hist.c -- the log-linear latency histogram (agg.h, "Histogram").
 *
 * LAYOUT. With S = 2^CB_HIST_SUB_BITS = 64 sub-buckets:
 *     v < 64            bucket v (width 1: exact)
 *     2^e <= v < 2^e+1  shift = e - 6, bucket shift*64 + (v >> shift)
 * so bucket i >= 64 has m = 64 + i % 64 and shift = i / 64 - 1 and covers
 * [m << shift, (m + 1) << shift). Its width over its lower bound is 1/m,
 * at most 1/64. This is HdrHistogram's scheme with 2 significant binary
 * digits more than its usual "2 decimal digits" setting needs.
 *
 * ERROR BOUND. A percentile is the value of rank r; we find the bucket
 * holding rank r and return its middle, lo + (w - 1) / 2, clamped to
 * [min, max]. The exact value x lies in [lo, lo + w - 1], so
 * |estimate - x| <= w / 2 and |estimate - x| / x <= w / (2 lo) =
 * 1 / (2m) <= 1/128 = CB_HIST_REL_ERROR. Clamping moves the estimate
 * toward x, never away.
 *
 * EXACTNESS. count, overflow, min, max and the 128-bit sum are exact, and
 * merge is a bucket-wise sum, so histograms of the parts of a data set
 * merge to the histogram of the whole bit for bit. lo_idx/hi_idx only
 * speed up scans; they are exact too (the extreme non-empty buckets).
 */
#include "agg.h"

#include <errno.h>
#include <math.h>
#include <string.h>

_Static_assert(CB_HIST_BUCKETS < 65536, "bucket index fits 16 bits");
_Static_assert(CB_HIST_MAX_EXP < 64, "max value fits 64 bits");

/* ---- buckets ------------------------------------------------------------ */

uint32_t
cb_hist_bucket_index(uint64_t v)
{
    if (v < CB_HIST_SUB)
        return (uint32_t)v;
    if (v > CB_HIST_MAX_VALUE)
        return CB_HIST_BUCKETS;
    /* v >= 64, so clzll is defined and e >= 6. */
    unsigned e = 63u - (unsigned)__builtin_clzll(v);
    unsigned shift = e - CB_HIST_SUB_BITS;
    return (uint32_t)((uint64_t)shift * CB_HIST_SUB + (v >> shift));
}

void
cb_hist_bucket_bounds(uint32_t idx, uint64_t *lo, uint64_t *hi)
{
    if (idx < CB_HIST_SUB) {
        *lo = idx;
        *hi = idx;
        return;
    }
    unsigned shift = idx / CB_HIST_SUB - 1u;
    uint64_t m = CB_HIST_SUB + idx % CB_HIST_SUB;
    *lo = m << shift;
    *hi = ((m + 1u) << shift) - 1u;
}

/* ---- life cycle --------------------------------------------------------- */

void
cb_hist_init(struct cb_hist *h)
{
    memset(h, 0, sizeof(*h));
    h->min = UINT64_MAX;
    h->lo_idx = CB_HIST_BUCKETS;
}

void
cb_hist_reset(struct cb_hist *h)
{
    /* Only the used range can be non-zero: clear just that. */
    if (h->lo_idx <= h->hi_idx && h->hi_idx < CB_HIST_BUCKETS)
        memset(&h->buckets[h->lo_idx], 0,
               (h->hi_idx - h->lo_idx + 1u) * sizeof(h->buckets[0]));
    h->count = 0;
    h->overflow = 0;
    h->min = UINT64_MAX;
    h->max = 0;
    h->sum_lo = 0;
    h->sum_hi = 0;
    h->lo_idx = CB_HIST_BUCKETS;
    h->hi_idx = 0;
}

/* ---- adding ------------------------------------------------------------- */

/* (hi, lo) += a * n as 128-bit integers. */
static void
sum_add(uint64_t *lo, uint64_t *hi, uint64_t a, uint64_t n)
{
    uint64_t a_lo = a & 0xffffffffu, a_hi = a >> 32;
    uint64_t n_lo = n & 0xffffffffu, n_hi = n >> 32;
    /* Schoolbook 64x64 -> 128 multiply in 32-bit halves. */
    uint64_t ll = a_lo * n_lo, lh = a_lo * n_hi;
    uint64_t hl = a_hi * n_lo, hh = a_hi * n_hi;
    uint64_t mid = (ll >> 32) + (lh & 0xffffffffu) + (hl & 0xffffffffu);
    uint64_t p_lo = (mid << 32) | (ll & 0xffffffffu);
    uint64_t p_hi = hh + (lh >> 32) + (hl >> 32) + (mid >> 32);
    uint64_t old = *lo;
    *lo = old + p_lo;
    *hi += p_hi + (*lo < old);
}

void
cb_hist_add_n(struct cb_hist *h, uint64_t v, uint64_t n)
{
    if (n == 0)
        return;
    uint32_t i = cb_hist_bucket_index(v);
    if (i < CB_HIST_BUCKETS) {
        if (i > h->hi_idx || h->lo_idx > h->hi_idx)
            h->hi_idx = i;
        if (i < h->lo_idx)
            h->lo_idx = i;
        h->buckets[i] += n;
    } else {
        h->overflow += n;
    }
    h->count += n;
    if (v < h->min)
        h->min = v;
    if (v > h->max)
        h->max = v;
    sum_add(&h->sum_lo, &h->sum_hi, v, n);
}

void
cb_hist_add(struct cb_hist *h, uint64_t v)
{
    uint32_t i = cb_hist_bucket_index(v);
    if (i < CB_HIST_BUCKETS) {
        /* hi_idx is meaningless while no bucket is used (lo_idx says so):
         * the first bucket value sets both. */
        if (i > h->hi_idx || h->lo_idx > h->hi_idx)
            h->hi_idx = i;
        if (i < h->lo_idx)
            h->lo_idx = i;
        h->buckets[i]++;
    } else {
        h->overflow++;
    }
    h->count++;
    if (v < h->min)
        h->min = v;
    if (v > h->max)
        h->max = v;
    uint64_t old = h->sum_lo;
    h->sum_lo = old + v;
    h->sum_hi += h->sum_lo < old;
}

void
cb_hist_merge(struct cb_hist *dst, const struct cb_hist *src)
{
    if (src->count == 0)
        return;
    if (src->lo_idx <= src->hi_idx) {
        for (uint32_t i = src->lo_idx; i <= src->hi_idx; i++)
            dst->buckets[i] += src->buckets[i];
        if (dst->lo_idx > dst->hi_idx) {
            dst->lo_idx = src->lo_idx;
            dst->hi_idx = src->hi_idx;
        } else {
            if (src->lo_idx < dst->lo_idx)
                dst->lo_idx = src->lo_idx;
            if (src->hi_idx > dst->hi_idx)
                dst->hi_idx = src->hi_idx;
        }
    }
    dst->count += src->count;
    dst->overflow += src->overflow;
    if (src->min < dst->min)
        dst->min = src->min;
    if (src->max > dst->max)
        dst->max = src->max;
    uint64_t old = dst->sum_lo;
    dst->sum_lo = old + src->sum_lo;
    dst->sum_hi += src->sum_hi + (dst->sum_lo < old);
}

/* ---- reading ------------------------------------------------------------ */

uint64_t
cb_hist_percentile(const struct cb_hist *h, double p)
{
    if (h->count == 0)
        return 0;
    if (!(p > 0.0)) /* also NaN */
        return h->min;
    if (p >= 100.0)
        return h->max;
    double r = ceil(p / 100.0 * (double)h->count);
    uint64_t rank = r < 1.0 ? 1 : (uint64_t)r;
    if (rank > h->count)
        rank = h->count;
    if (rank > h->count - h->overflow)
        return h->max; /* among the values too large for a bucket */
    uint64_t seen = 0;
    for (uint32_t i = h->lo_idx; i <= h->hi_idx; i++) {
        seen += h->buckets[i];
        if (seen < rank)
            continue;
        uint64_t lo, hi;
        cb_hist_bucket_bounds(i, &lo, &hi);
        uint64_t mid = lo + (hi - lo) / 2u;
        if (mid < h->min)
            mid = h->min;
        if (mid > h->max)
            mid = h->max;
        return mid;
    }
    return h->max; /* unreachable while count matches the buckets */
}

double
cb_hist_sum(const struct cb_hist *h)
{
    return (double)h->sum_hi * 18446744073709551616.0 + (double)h->sum_lo;
}

double
cb_hist_mean(const struct cb_hist *h)
{
    if (h->count == 0)
        return 0.0;
    return cb_hist_sum(h) / (double)h->count;
}

int
cb_hist_equal(const struct cb_hist *a, const struct cb_hist *b)
{
    if (a->count != b->count || a->overflow != b->overflow ||
        a->min != b->min || a->max != b->max || a->sum_lo != b->sum_lo ||
        a->sum_hi != b->sum_hi)
        return 0;
    return memcmp(a->buckets, b->buckets, sizeof(a->buckets)) == 0;
}

/* ---- serialization ------------------------------------------------------ */

/*
 * FORMAT (version 1), all integers little-endian:
 *   0  4  magic "CBH1"
 *   4  1  CB_HIST_SUB_BITS     5  1  CB_HIST_MAX_EXP
 *   6  2  reserved, zero
 *   8  8  count     16 8 overflow   24 8 min   32 8 max
 *   40 8  sum_lo    48 8 sum_hi
 *   56 4  number of non-empty buckets k
 *   60    k pairs of LEB128 varints: index delta (from the previous index
 *         + 1, starting at 0), count (non-zero)
 * A reader refuses another layout rather than guess.
 */
#define HDR_SIZE 60u

static void
put_u64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t
get_u64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static size_t
varint_len(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

static size_t
put_varint(uint8_t *p, uint64_t v)
{
    size_t n = 0;
    while (v >= 0x80) {
        p[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    p[n++] = (uint8_t)v;
    return n;
}

/* Reads a varint at *off (< len); -1 when truncated or over 64 bits. */
static int
get_varint(const uint8_t *buf, size_t len, size_t *off, uint64_t *v)
{
    uint64_t x = 0;
    for (unsigned shift = 0; shift < 64; shift += 7) {
        if (*off >= len)
            return -1;
        uint8_t b = buf[(*off)++];
        if (shift == 63 && b > 1)
            return -1;
        x |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *v = x;
            return 0;
        }
    }
    return -1;
}

static size_t
encoded_size(const struct cb_hist *h, uint32_t *nonzero)
{
    size_t n = HDR_SIZE;
    uint32_t k = 0, next = 0;
    for (uint32_t i = h->lo_idx; i <= h->hi_idx && i < CB_HIST_BUCKETS; i++) {
        if (h->buckets[i] == 0)
            continue;
        n += varint_len(i - next) + varint_len(h->buckets[i]);
        next = i + 1;
        k++;
    }
    *nonzero = k;
    return n;
}

int
cb_hist_encode(const struct cb_hist *h, uint8_t *buf, size_t cap, size_t *len)
{
    uint32_t k;
    size_t need = encoded_size(h, &k);
    *len = need;
    if (cap < need)
        return -ENOSPC;
    memcpy(buf, "CBH1", 4);
    buf[4] = CB_HIST_SUB_BITS;
    buf[5] = CB_HIST_MAX_EXP;
    buf[6] = 0;
    buf[7] = 0;
    put_u64(buf + 8, h->count);
    put_u64(buf + 16, h->overflow);
    put_u64(buf + 24, h->min);
    put_u64(buf + 32, h->max);
    put_u64(buf + 40, h->sum_lo);
    put_u64(buf + 48, h->sum_hi);
    for (int i = 0; i < 4; i++)
        buf[56 + i] = (uint8_t)(k >> (8 * i));
    size_t off = HDR_SIZE;
    uint32_t next = 0;
    for (uint32_t i = h->lo_idx; i <= h->hi_idx && i < CB_HIST_BUCKETS; i++) {
        if (h->buckets[i] == 0)
            continue;
        off += put_varint(buf + off, i - next);
        off += put_varint(buf + off, h->buckets[i]);
        next = i + 1;
    }
    return 0;
}

/* Reads the k bucket pairs into h (already empty); -1 on any defect. */
static int
decode_buckets(const uint8_t *buf, size_t len, uint32_t k, struct cb_hist *h,
               uint64_t *total)
{
    size_t off = HDR_SIZE;
    uint64_t next = 0, sum = 0;
    for (uint32_t j = 0; j < k; j++) {
        uint64_t delta, n;
        if (get_varint(buf, len, &off, &delta) ||
            get_varint(buf, len, &off, &n))
            return -1;
        if (n == 0 || delta >= CB_HIST_BUCKETS - next || n > UINT64_MAX - sum)
            return -1;
        uint32_t i = (uint32_t)(next + delta);
        h->buckets[i] = n;
        if (j == 0)
            h->lo_idx = i;
        h->hi_idx = i;
        sum += n;
        next = (uint64_t)i + 1;
    }
    *total = sum;
    return off == len ? 0 : -1;
}

/* The exact fields agree with the buckets: counts add up, min and max lie
 * in the extreme buckets (or above the last, for overflow). */
static int
check_extremes(const struct cb_hist *h)
{
    if (h->count == 0)
        return h->min == UINT64_MAX && h->max == 0 && h->sum_lo == 0 &&
               h->sum_hi == 0;
    if (h->min > h->max)
        return 0;
    uint64_t lo, hi;
    if (h->lo_idx <= h->hi_idx) {
        cb_hist_bucket_bounds(h->lo_idx, &lo, &hi);
        if (h->min < lo || h->min > hi)
            return 0;
        cb_hist_bucket_bounds(h->hi_idx, &lo, &hi);
        if (h->overflow == 0 && (h->max < lo || h->max > hi))
            return 0;
    } else if (h->min <= CB_HIST_MAX_VALUE) {
        return 0; /* only overflow values, yet a small min */
    }
    if (h->overflow > 0 && h->max <= CB_HIST_MAX_VALUE)
        return 0;
    return 1;
}

int
cb_hist_decode(const uint8_t *buf, size_t len, struct cb_hist *h)
{
    cb_hist_init(h);
    if (len < HDR_SIZE || memcmp(buf, "CBH1", 4) != 0 ||
        buf[4] != CB_HIST_SUB_BITS || buf[5] != CB_HIST_MAX_EXP ||
        buf[6] != 0 || buf[7] != 0)
        return -EBADMSG;
    uint32_t k = 0;
    for (int i = 3; i >= 0; i--)
        k = k << 8 | buf[56 + i];
    uint64_t total = 0;
    if (k > CB_HIST_BUCKETS || decode_buckets(buf, len, k, h, &total))
        goto fail;
    h->count = get_u64(buf + 8);
    h->overflow = get_u64(buf + 16);
    h->min = get_u64(buf + 24);
    h->max = get_u64(buf + 32);
    h->sum_lo = get_u64(buf + 40);
    h->sum_hi = get_u64(buf + 48);
    if (h->overflow > h->count || total != h->count - h->overflow ||
        !check_extremes(h))
        goto fail;
    return 0;
fail:
    cb_hist_init(h);
    return -EBADMSG;
}
