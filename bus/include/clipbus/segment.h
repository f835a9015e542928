/*
 * clipbus/segment.h -- the shared-memory ABI of clipbus.
 *
 * A producer process owns one POSIX shared-memory segment,
 * /clipbus.<bus>.<pid> (a ".<n>" suffix is added when a stale segment of an
 * earlier process with the same pid is still waiting to be drained).
 * Readers map it read-only. Everything in this file is an ABI: fixed-width
 * types only, named zero-filled padding, and a _Static_assert on the size
 * and on the offset of every field a reader touches. A change to any of it
 * bumps CB_LAYOUT_MAJOR; readers refuse a major they do not know.
 *
 * Layout of a segment (all offsets from the start of the mapping):
 *
 *   0                       struct cb_seg_header (CB_SEG_HEADER_SIZE bytes)
 *   names_offset            name table, names_size bytes
 *   rings_offset + i*stride ring i: struct cb_ring_header, then
 *                           ring_records slots of struct cb_record
 *
 * Readers treat every byte here as hostile input: reader.c checks each
 * offset, size and index against the mapping before using it.
 *
 * This header is C and C++ compatible and has no dependencies beyond
 * <stdint.h> and <stddef.h>.
 */
#ifndef CLIPBUS_SEGMENT_H
#define CLIPBUS_SEGMENT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The cache line the layout is built around. It is part of the format word,
 * so a reader built for another line size refuses the segment instead of
 * misreading it. 64 on every x86_64 and most arm64 (ck's CK_MD_CACHELINE). */
#define CB_CACHELINE 64

/* "CLIPBUS1" read as a little-endian 64-bit word. Stored last, with release
 * order, once the header is complete: a reader that sees it may read the
 * rest of the header. */
#define CB_SEG_MAGIC UINT64_C(0x3153554250494c43)
/* "CLIPBUSR": the magic of a reader-status segment. */
#define CB_STATUS_MAGIC UINT64_C(0x5253554250494c43)

#define CB_LAYOUT_MAJOR 1
#define CB_LAYOUT_MINOR 0

/* The format word records the layout-relevant build facts (LMDB's
 * MDB_LOCK_FORMAT): cache line size, byte order, record size. */
#define CB_FORMAT_LITTLE 1u
#define CB_FORMAT_BIG    2u
#define CB_FORMAT_WORD(endian)                                                 \
    ((uint32_t)CB_CACHELINE | ((uint32_t)(endian) << 8) |                      \
     ((uint32_t)sizeof(struct cb_record) << 16))

#define CB_SEG_HEADER_SIZE  4096u
#define CB_RING_HEADER_SIZE 512u
#define CB_RECORD_SIZE      64u
#define CB_PROGRAM_MAX      64u
#define CB_BUS_NAME_MAX     48u
#define CB_INFLIGHT_MAX     14u
/* Slots of a ring the producer backs with memory when a thread claims it;
 * the rest is backed when the thread first needs it (ready = 2). */
#define CB_RING_CHUNK       4096u
#define CB_THREAD_NAME_MAX  16u

/* Limits a reader enforces on a header before trusting it. They bound what
 * a hostile segment can make a reader map or allocate. */
#define CB_RING_RECORDS_MIN (1u << 6)
#define CB_RING_RECORDS_MAX (1u << 24)
#define CB_RINGS_MAX        1024u
#define CB_NAMES_SIZE_MAX   (64u << 20)

/* ------------------------------------------------------------------------
 * Record kinds. Stored as uint16_t; numbers are never reused.
 * ------------------------------------------------------------------------ */
#define CB_KIND_CONT          1  /* continuation of the entry before it */
#define CB_KIND_THREAD        2  /* a thread took this ring; text: its name */
#define CB_KIND_CALL          3  /* a monitored call returned */
#define CB_KIND_SESSION_BEGIN 4  /* value: total weight (double) */
#define CB_KIND_SESSION_END   5  /* status: session outcome */
#define CB_KIND_PROGRESS      6  /* value: weight done (double) */
#define CB_KIND_COUNT         7  /* value: delta (int64) */
#define CB_KIND_GAUGE         8  /* value: level (double) */
#define CB_KIND_OBSERVE       9  /* value: one sample (double) */
#define CB_KIND_LOG           10 /* status: level; text: the message */
#define CB_KIND_MAX           10

/* Progress record status (CB_KIND_PROGRESS): what the record reports.
 * value always holds the session units done by it (0 for BEGIN). */
#define CB_PROGRESS_ADVANCE 0 /* cb_progress() inside a step or session */
#define CB_PROGRESS_BEGIN   1 /* a CB_PROGRESS_STEP began; name: the step */
#define CB_PROGRESS_END     2 /* it ended; value: what it had left */

/* Log records (CB_KIND_LOG): status is the CB_LOG_* level, name_id the
 * innermost monitored call running on the thread (0 outside any), and the
 * message is a CB_FIELD_STR field with name id 0. */

/* Call outcomes (record status of CB_KIND_CALL). */
#define CB_STATUS_OK      0
#define CB_STATUS_ERROR   1
#define CB_STATUS_ABORTED 2 /* set by consumers, never by a producer */

/* Segment states (cb_seg_header.state). */
#define CB_SEG_CREATING 0
#define CB_SEG_LIVE     1
#define CB_SEG_EXITED   2

/* Clock kinds (cb_seg_header.clock_kind). */
#define CB_CLOCK_TSC       1 /* invariant TSC; tsc_hz ticks per second */
#define CB_CLOCK_MONOTONIC 2 /* CLOCK_MONOTONIC nanoseconds; tsc_hz = 1e9 */

/* ------------------------------------------------------------------------
 * Entry data: typed fields (TLV) carried after the fixed head fields.
 *
 * An entry is a head record plus `ext` CB_KIND_CONT records. Its data bytes
 * are the head's data[24] followed by each continuation's data[48], of which
 * the first data_len bytes are meaningful. Data is a packed sequence of
 * fields, each starting with a little-endian uint32 tag:
 *     tag = type << 28 | name_id        (name_id < 2^28)
 * followed by, per type:
 *     CB_FIELD_I64   int64 value (8 bytes)
 *     CB_FIELD_F64   double value (8 bytes)
 *     CB_FIELD_STR   uint16 length, then that many bytes (no NUL)
 *     CB_FIELD_ERR   int32 error code, uint16 length, message bytes
 *     CB_FIELD_PERF  struct cb_perf (48 bytes)
 *     CB_FIELD_LABELS name_id is an interned "k=v,k2=v2" label set; no value
 *     CB_FIELD_TID   uint32 kernel thread id
 * Fields are byte-packed: read them with memcpy, never through a cast.
 * ------------------------------------------------------------------------ */
#define CB_FIELD_I64    1
#define CB_FIELD_F64    2
#define CB_FIELD_STR    3
#define CB_FIELD_ERR    4
#define CB_FIELD_PERF   5
#define CB_FIELD_LABELS 6
#define CB_FIELD_TID    7
#define CB_FIELD_SHIFT  28
#define CB_NAME_ID_MASK ((UINT32_C(1) << CB_FIELD_SHIFT) - 1)

#define CB_HEAD_DATA 24u
#define CB_CONT_DATA 48u
#define CB_EXT_MAX   255u /* continuation records per entry, at most */

/* Record flags (cb_record.flags). */
#define CB_RF_TRUNCATED 0x01u /* some field data did not fit and was cut */

/* ------------------------------------------------------------------------
 * The record: 64 bytes, one cache line.
 *
 * seq is the publication word of the slot (ring.c describes the protocol):
 * for record number n it is 2n+1 while being written and 2n+2 once
 * published. Every other word is payload, copied under that seqlock.
 * ------------------------------------------------------------------------ */
struct cb_record {
    uint64_t seq;       /* publication word; see ring.c */
    uint16_t kind;      /* CB_KIND_* */
    uint8_t ext;        /* continuation records that follow (head only) */
    uint8_t flags;      /* CB_RF_* */
    uint32_t name_id;   /* function, metric, session or step name */
    uint64_t ts;        /* producer clock (start time for calls) */
    uint64_t value;     /* duration ticks, or an int64/double per kind */
    uint32_t session;   /* session id within the producer, 0 if none */
    uint16_t status;    /* outcome or log level */
    uint16_t data_len;  /* meaningful data bytes of the entry */
    uint8_t data[CB_HEAD_DATA];
};
_Static_assert(sizeof(struct cb_record) == CB_RECORD_SIZE, "record ABI");
_Static_assert(offsetof(struct cb_record, seq) == 0, "record ABI");
_Static_assert(offsetof(struct cb_record, kind) == 8, "record ABI");
_Static_assert(offsetof(struct cb_record, ext) == 10, "record ABI");
_Static_assert(offsetof(struct cb_record, flags) == 11, "record ABI");
_Static_assert(offsetof(struct cb_record, name_id) == 12, "record ABI");
_Static_assert(offsetof(struct cb_record, ts) == 16, "record ABI");
_Static_assert(offsetof(struct cb_record, value) == 24, "record ABI");
_Static_assert(offsetof(struct cb_record, session) == 32, "record ABI");
_Static_assert(offsetof(struct cb_record, status) == 36, "record ABI");
_Static_assert(offsetof(struct cb_record, data_len) == 38, "record ABI");
_Static_assert(offsetof(struct cb_record, data) == 40, "record ABI");

/* A continuation record: same seq and kind words, then 48 data bytes. */
struct cb_record_cont {
    uint64_t seq;
    uint16_t kind;  /* CB_KIND_CONT */
    uint8_t index;  /* 1 for the first continuation of an entry */
    uint8_t _pad0[5];
    uint8_t data[CB_CONT_DATA];
};
_Static_assert(sizeof(struct cb_record_cont) == CB_RECORD_SIZE, "cont ABI");
_Static_assert(offsetof(struct cb_record_cont, index) == 10, "cont ABI");
_Static_assert(offsetof(struct cb_record_cont, data) == 16, "cont ABI");

/* CB_FIELD_PERF value: resource use of one call (CB_TRACK_PERFORMANCE). */
struct cb_perf {
    uint64_t cpu_ns;       /* thread CPU time (user + system) */
    int64_t rss_delta_kb;  /* resident set size after minus before */
    uint64_t rss_kb;       /* resident set size after the call */
    uint64_t maxrss_kb;    /* peak resident set size of the process */
    uint64_t vol_csw;      /* voluntary context switches during the call */
    uint64_t invol_csw;    /* involuntary context switches */
};
_Static_assert(sizeof(struct cb_perf) == 48, "perf ABI");

/* ------------------------------------------------------------------------
 * Per-ring header, CB_RING_HEADER_SIZE bytes, followed by the slots.
 * Three parts, each on its own cache lines:
 *  - the claim line, written when a thread takes or gives back the ring;
 *  - the head line, written by the owning thread after each entry;
 *  - the in-flight stack, written by the owning thread on every monitored
 *    call (push at entry, pop at return).
 * Readers poll none of these in their idle loop: they poll the slot they
 * wait for, so an idle reader never touches the writer's hot lines.
 * ------------------------------------------------------------------------ */
struct cb_inflight_frame {
    uint64_t ts;       /* start time of the call */
    uint32_t name_id;  /* function */
    uint32_t _pad0;
};
_Static_assert(sizeof(struct cb_inflight_frame) == 16, "frame ABI");

struct cb_ring_header {
    /* claim line */
    _Alignas(CB_CACHELINE) uint32_t owner_tid; /* 0: free */
    uint32_t ready;          /* 0, or 1 once the first CB_RING_CHUNK slots
                              * are allocated, 2 once all are */
    uint64_t claims;         /* how many threads have owned it */
    uint64_t base;           /* first record number ever written */
    char thread_name[CB_THREAD_NAME_MAX];
    uint8_t _pad0[24];
    /* head line: written by the owner only */
    _Alignas(CB_CACHELINE) uint64_t head; /* records published so far */
    uint8_t _pad1[CB_CACHELINE - 8];
    /* in-flight stack: written by the owner only */
    _Alignas(CB_CACHELINE) uint32_t depth; /* may exceed CB_INFLIGHT_MAX */
    uint32_t _pad2;
    uint64_t pushes;  /* bumped before each frame write: a snapshot check */
    struct cb_inflight_frame frames[CB_INFLIGHT_MAX];
    uint8_t _pad3[CB_RING_HEADER_SIZE - 2 * CB_CACHELINE -
                  16 - 16 * CB_INFLIGHT_MAX];
};
_Static_assert(sizeof(struct cb_ring_header) == CB_RING_HEADER_SIZE,
               "ring header ABI");
_Static_assert(offsetof(struct cb_ring_header, owner_tid) == 0, "ring ABI");
_Static_assert(offsetof(struct cb_ring_header, ready) == 4, "ring ABI");
_Static_assert(offsetof(struct cb_ring_header, claims) == 8, "ring ABI");
_Static_assert(offsetof(struct cb_ring_header, base) == 16, "ring ABI");
_Static_assert(offsetof(struct cb_ring_header, thread_name) == 24,
               "ring ABI");
_Static_assert(offsetof(struct cb_ring_header, head) == 64, "ring ABI");
_Static_assert(offsetof(struct cb_ring_header, depth) == 128, "ring ABI");
_Static_assert(offsetof(struct cb_ring_header, pushes) == 136, "ring ABI");
_Static_assert(offsetof(struct cb_ring_header, frames) == 144, "ring ABI");

/* ------------------------------------------------------------------------
 * Segment header, CB_SEG_HEADER_SIZE bytes.
 * The identity block (first lines) is written once before the magic is
 * published. The lifecycle line is written rarely (name interned, process
 * exit) and is what idle readers poll.
 * ------------------------------------------------------------------------ */
struct cb_seg_header {
    uint64_t magic;          /* CB_SEG_MAGIC, stored last */
    uint16_t layout_major;
    uint16_t layout_minor;
    uint16_t header_size;    /* CB_SEG_HEADER_SIZE */
    uint16_t record_size;    /* CB_RECORD_SIZE */
    uint32_t format;         /* CB_FORMAT_WORD */
    uint32_t pid;
    uint64_t start_time;     /* process start, clock ticks since boot */
    uint64_t segment_size;   /* bytes */
    uint32_t ring_count;
    uint32_t ring_records;   /* power of two */
    uint64_t rings_offset;
    uint64_t ring_stride;    /* CB_RING_HEADER_SIZE + ring_records * 64 */
    uint64_t names_offset;
    uint32_t names_size;
    uint32_t uid;
    /* clock calibration: wall = ref_real_ns + (ticks - ref_ticks) * 1e9 /
     * tsc_hz, computed by readers (cb_producer_wall_ns()). */
    uint32_t clock_kind;     /* CB_CLOCK_* */
    uint32_t _pad0;
    uint64_t tsc_hz;
    uint64_t ref_ticks;
    uint64_t ref_mono_ns;
    uint64_t ref_real_ns;
    uint64_t created_real_ns;
    char program[CB_PROGRAM_MAX];  /* NUL-terminated if shorter */
    char bus[CB_PROGRAM_MAX];
    /* lifecycle line */
    _Alignas(CB_CACHELINE) uint32_t state; /* CB_SEG_* */
    uint32_t _pad1;
    uint64_t exit_real_ns;
    uint64_t names_used;     /* bytes of the name table in use */
    uint64_t names_dropped;  /* intern calls refused: table full */
    uint32_t rings_hwm;      /* rings ever claimed: [0, hwm) */
    uint32_t _pad2;
    uint64_t threads_unringed;  /* threads that found no free ring */
    uint64_t records_unringed;  /* records dropped: no free ring, or no
                                 * memory to back the rest of a ring */
    uint64_t sessions;          /* sessions begun */
    /* second calibration pair, taken at exit (0 until then): with it a
     * reader converts an exited producer's ticks over its whole life. */
    _Alignas(CB_CACHELINE) uint64_t end_ticks;
    uint64_t end_mono_ns;
    uint8_t _pad3[CB_SEG_HEADER_SIZE - 5 * CB_CACHELINE - 16];
};
_Static_assert(sizeof(struct cb_seg_header) == CB_SEG_HEADER_SIZE,
               "segment header ABI");
_Static_assert(offsetof(struct cb_seg_header, magic) == 0, "seg ABI");
_Static_assert(offsetof(struct cb_seg_header, layout_major) == 8, "seg ABI");
_Static_assert(offsetof(struct cb_seg_header, format) == 16, "seg ABI");
_Static_assert(offsetof(struct cb_seg_header, pid) == 20, "seg ABI");
_Static_assert(offsetof(struct cb_seg_header, start_time) == 24, "seg ABI");
_Static_assert(offsetof(struct cb_seg_header, segment_size) == 32,
               "seg ABI");
_Static_assert(offsetof(struct cb_seg_header, ring_count) == 40, "seg ABI");
_Static_assert(offsetof(struct cb_seg_header, ring_records) == 44,
               "seg ABI");
_Static_assert(offsetof(struct cb_seg_header, rings_offset) == 48,
               "seg ABI");
_Static_assert(offsetof(struct cb_seg_header, ring_stride) == 56, "seg ABI");
_Static_assert(offsetof(struct cb_seg_header, names_offset) == 64,
               "seg ABI");
_Static_assert(offsetof(struct cb_seg_header, names_size) == 72, "seg ABI");
_Static_assert(offsetof(struct cb_seg_header, uid) == 76, "seg ABI");
_Static_assert(offsetof(struct cb_seg_header, clock_kind) == 80, "seg ABI");
_Static_assert(offsetof(struct cb_seg_header, tsc_hz) == 88, "seg ABI");
_Static_assert(offsetof(struct cb_seg_header, ref_ticks) == 96, "seg ABI");
_Static_assert(offsetof(struct cb_seg_header, ref_real_ns) == 112,
               "seg ABI");
_Static_assert(offsetof(struct cb_seg_header, program) == 128, "seg ABI");
_Static_assert(offsetof(struct cb_seg_header, bus) == 192, "seg ABI");
_Static_assert(offsetof(struct cb_seg_header, state) == 256, "seg ABI");
_Static_assert(offsetof(struct cb_seg_header, names_used) == 272, "seg ABI");
_Static_assert(offsetof(struct cb_seg_header, rings_hwm) == 288, "seg ABI");
_Static_assert(offsetof(struct cb_seg_header, threads_unringed) == 296,
               "seg ABI");
_Static_assert(offsetof(struct cb_seg_header, sessions) == 312, "seg ABI");
_Static_assert(offsetof(struct cb_seg_header, end_ticks) == 320, "seg ABI");
_Static_assert(offsetof(struct cb_seg_header, end_mono_ns) == 328,
               "seg ABI");

/* ------------------------------------------------------------------------
 * Name table: a sequence of entries starting at byte 8 of the table (so
 * that no name has id 0), each
 *     uint16 length, then length bytes (no NUL), padded to a multiple of 4.
 * A name's id is the byte offset of its entry. names_used is stored with
 * release order after the entry is complete; readers load it with acquire
 * order and never read an entry at or past it.
 * ------------------------------------------------------------------------ */
#define CB_NAME_FIRST 8u
#define CB_NAME_LEN_MAX 1024u

/* ------------------------------------------------------------------------
 * Reader status segment, /clipbus-r.<bus>.<pid>: written only by the
 * reader process it belongs to, read by `clipbus status` and clipbus-top.
 * The whole block is published under a sequence word (odd while written).
 * ------------------------------------------------------------------------ */
#define CB_STATUS_RINGS_MAX 512u

struct cb_status_ring {
    uint32_t producer_pid;
    uint32_t ring;
    uint64_t cursor;     /* next record number the reader will read */
    uint64_t head;       /* writer's head when last looked at */
    uint64_t delivered;  /* records delivered */
    uint64_t lost;       /* records lost by lapping */
    uint64_t _reserved[3];
};
_Static_assert(sizeof(struct cb_status_ring) == 64, "status ring ABI");

struct cb_status_header {
    uint64_t magic;        /* CB_STATUS_MAGIC */
    uint16_t layout_major;
    uint16_t layout_minor;
    uint32_t pid;
    uint64_t start_time;
    char program[CB_PROGRAM_MAX];
    char sink[CB_PROGRAM_MAX];   /* free text: the sink's state */
    _Alignas(CB_CACHELINE) uint64_t seq; /* odd while being updated */
    uint64_t heartbeat_real_ns;
    uint64_t delivered;
    uint64_t lost;
    uint64_t records_per_s;
    uint32_t nrings;
    uint32_t producers;
    uint8_t _pad0[CB_CACHELINE - 48];
    struct cb_status_ring rings[CB_STATUS_RINGS_MAX];
};
_Static_assert(offsetof(struct cb_status_header, program) == 24,
               "status ABI");
_Static_assert(offsetof(struct cb_status_header, seq) == 192, "status ABI");
_Static_assert(offsetof(struct cb_status_header, nrings) == 232,
               "status ABI");
_Static_assert(offsetof(struct cb_status_header, rings) == 256,
               "status ABI");
_Static_assert(sizeof(struct cb_status_header) ==
                   256 + 64 * CB_STATUS_RINGS_MAX,
               "status ABI");

#ifdef __cplusplus
}
#endif
#endif /* CLIPBUS_SEGMENT_H */
