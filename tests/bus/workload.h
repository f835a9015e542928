/*
 * tests/bus/workload.h -- a deterministic record stream and its checker.
 *
 * wl_emit(w, t, seq) publishes entry number `seq` of producer thread `t`
 * through the public producer API. Everything about the entry (its kind,
 * values, level, text, parameters, outcome) is a pure function of
 * (w->seed, t, seq), so a reader that receives an entry can regenerate what
 * the producer wrote and compare bit for bit (wl_check). Every entry
 * carries its key t << 40 | seq, so a reader knows where in the stream it
 * is and can check order and gaps.
 *
 * Kinds: counts (value = key), gauges and observations with labels
 * (value = key as a double, exact below 2^53), log lines with random-length
 * text (up to w->max_log bytes: they need continuation records), and
 * monitored calls with an int, a double and a random-length string
 * parameter, some failing with cb_fail().
 *
 * wl_emit makes no system call and allocates nothing (test_nosyscall
 * relies on that).
 */
#ifndef WORKLOAD_H
#define WORKLOAD_H

#include <stddef.h>
#include <stdint.h>

#include <clipbus/reader.h>

#define WL_COUNT   0x01u
#define WL_GAUGE   0x02u
#define WL_OBSERVE 0x04u
#define WL_LOG     0x08u
#define WL_CALL    0x10u
#define WL_ALL     0x1fu

#define WL_LOG_MAX 900u /* longest log text; the message stays < 1024 */
#define WL_STR_MAX 150u /* longest string parameter; fits CB__CALL_DATA */

struct wl {
    uint64_t seed;
    uint32_t kinds;   /* WL_* mask; 0 means WL_ALL */
    uint32_t max_log; /* <= WL_LOG_MAX */
    uint32_t max_str; /* <= WL_STR_MAX */
};

/* Publishes entry `seq` of thread `t` (t < 2^12, seq < 2^40). */
void wl_emit(const struct wl *w, uint32_t t, uint64_t seq);

/* Interns every name and label the workload uses and warms every call
 * site, by emitting one entry of each kind for thread `t` with seq values
 * base .. base+4 (so the caller knows which seqs were used). */
void wl_warm(const struct wl *w, uint32_t t, uint64_t base);

/* The identity of a checked entry. */
struct wl_id {
    uint32_t t;
    uint64_t seq;
    uint32_t records; /* 1 + continuation records */
};

/* Checks that entry e is exactly what wl_emit() published for the key it
 * carries. Returns 0 and fills *id, or -1 with a reason in why. Entries of
 * kind CB_KIND_THREAD return 1 (not part of the stream). */
int wl_check(const struct wl *w, const struct cb_entry *e, struct wl_id *id,
             char *why, size_t why_len);

/* Per-ring order tracking for a reader: wl_track_entry() checks that
 * entries of one ring come from one thread in increasing seq order, with a
 * gap only where the cursor counted a loss. */
struct wl_track {
    int have;
    uint32_t t;
    uint64_t next_seq;     /* seq expected next when nothing was lost */
    uint64_t lost_seen;    /* cursor's lost count at the last entry */
    uint64_t last_ts;
    uint64_t entries;
    uint64_t records;      /* records of delivered entries */
};

int wl_track_entry(struct wl_track *tr, const struct wl_id *id,
                   const struct cb_entry *e, uint64_t cursor_lost,
                   char *why, size_t why_len);

#endif /* WORKLOAD_H */
