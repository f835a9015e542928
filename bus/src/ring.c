/*
 * ring.c -- the broadcast ring: one writer, any number of readers, each
 * with a private cursor, none of whom the writer ever waits for.
 *
 * THE PROTOCOL
 *
 * A ring is `cap` slots (a power of two) of 64-byte records. Records are
 * numbered n = base, base+1, ... (base is 0 except in tests); record n
 * lives in slot n & (cap-1). Each slot's first word, seq, is written only
 * by the ring's owning thread (the writer):
 *
 *     seq = 2n+1   while record n is being written into the slot
 *     seq = 2n+2   once record n is published
 *
 * so seq only grows (modulo 2^64), and a reader that wants record c and
 * loads seq from slot c & (cap-1) learns in one load, from
 * d = (int64_t)(seq - (2c+2)):
 *     d < 0   record c is not there yet (the slot holds an older lap, or
 *             record c is being written: 2c+1 = expected - 1)
 *     d == 0  record c is published: copy it
 *     d > 0   the writer has lapped the reader: record c is gone.
 * The signed difference makes this hold across wrap-around of the 64-bit
 * numbers, as long as reader and writer are less than 2^62 records apart.
 * A fresh slot holds 0, which reads as "older lap" for every c with
 * 2c+2 < 2^63; a ring whose numbers start elsewhere (the test hook) has its
 * slots seeded with the sequence of the previous lap (producer.c).
 *
 * Writer (producer.c, ring_put), per record n:
 *     W1 store seq = 2n+1, relaxed
 *     W2 fence release        -- W1 before every payload store
 *     W3 store payload words, relaxed
 *     W4 store seq = 2n+2, release -- payload before the publication
 * and after each whole entry: store head = next n, release.
 *
 * Reader (cb_cursor_next below), for record c:
 *     R1 load seq, acquire    -- pairs with W4: sees the payload of n
 *     R2 copy payload words, relaxed
 *     R3 fence acquire        -- R2 before R4
 *     R4 load seq, relaxed; if it differs from R1, the copy may be torn
 *        (the writer began W1 of a later lap during R2): drop the copy
 *        and treat the record as overwritten.
 * If R1 and R4 both read 2c+2, no W1 of a later lap preceded R4, so by
 * W2/R3 no payload store of a later lap was seen by R2: the copy is
 * record c, whole. This is the seqlock of Boehm, "Can seqlocks get along
 * with programming language memory models?" (MSPC 2012), figure 6; with
 * relaxed atomics for the payload it has no data race in C11, which lets
 * TSan check it without suppressions.
 *
 * LOSS ACCOUNTING. A reader keeps `next` (the record number it will read)
 * and counts `delivered` and `lost` in records. When it finds d > 0 (or a
 * torn copy), it loads head (acquire), sets next to
 * max(next+1, head - cap + slack) -- the oldest record it can still hope
 * to read, with some slack because the writer keeps going -- and adds the
 * jump to lost. Every record number below next was therefore counted
 * exactly once, as delivered or lost, and at any time
 *     delivered + lost = next - base,
 * which equals the number published once the reader has caught up with
 * head. The numbers are 64-bit and only compared by signed differences,
 * so the identity holds across wrap-around.
 *
 * ENTRIES. A head record with ext = k is followed by k continuation
 * records (kind CB_KIND_CONT, index 1..k). The writer publishes them in
 * order and moves head only after the whole entry, so a reader that finds
 * the head published but a continuation not yet published simply returns
 * "nothing yet" and reads the entry again later. If any record of the
 * entry has been lapped, the whole entry is lost: its records are counted
 * lost by the jump. A reader that lands inside an entry after a jump skips
 * continuation records (counting each as lost) until the next head.
 *
 * A producer killed mid-record leaves that slot at 2n+1 forever: it never
 * reads as published, so it is never delivered. Head stays at the start
 * of the unfinished entry (or before the last record of a finished one,
 * when the kill fell between W4 and the head store). So for a dead
 * producer, "published" is head plus the published slots right after it
 * (cb_segment_published); a reader drains to there, and cb_cursor_finish
 * counts the records of an entry that will never be whole as lost.
 */
#include <stddef.h>
#include <string.h>

#include "bus_int.h"
#include "cb_atomic.h"
#include "clipbus/reader.h"
#include "reader_int.h"

#define SLOT_WORDS (CB_RECORD_SIZE / 8)

/* Result of reading one slot. */
#define SLOT_OK     0
#define SLOT_NOTYET 1
#define SLOT_GONE   2

/* Copies record c out of the ring with the R1-R4 steps above. */
static int
slot_read(const struct cb_record *slots, uint64_t mask, uint64_t c,
          struct cb_record *out)
{
    const struct cb_record *s = &slots[c & mask];
    uint64_t want = 2 * c + 2;
    /* R1: pairs with the writer's W4 release store. */
    uint64_t seq1 = cb_load_u64(&s->seq, CB_ACQUIRE);
    int64_t d = (int64_t)(seq1 - want);

    if (d < 0)
        return SLOT_NOTYET;
    if (d > 0)
        return SLOT_GONE;
    /* R2 */
    cb_read_relaxed((uint64_t *)out + 1, (const uint64_t *)s + 1,
                    SLOT_WORDS - 1);
    /* R3: the copy completes before the re-check. */
    cb_fence(CB_ACQUIRE);
    /* R4 */
    if (cb_load_u64(&s->seq, CB_RELAXED) != seq1)
        return SLOT_GONE;
    out->seq = seq1;
    return SLOT_OK;
}

/* Binds a pending cursor to its ring once the ring is set up. A ring can
 * be below rings_hwm and not ready yet: two threads claim rings 0 and 1,
 * the second prepares first and raises the hwm to 2. Reading base before
 * `ready` would start the cursor at 0 -- harmless when base is 0, and
 * silently wrong after 2^63 records, where sequence words alias. */
static int
cursor_bind(struct cb_cursor *cur, const struct cb_ring_header *r)
{
    /* Acquire: pairs with the release store of `ready` in ring_prepare(),
     * after base, head and the seeded slots. */
    if (cb_load_u32(&r->ready, CB_ACQUIRE) == 0)
        return 0;
    if (cur->from == CB_FROM_NOW)
        cur->next = cb_load_u64(&r->head, CB_ACQUIRE);
    else
        cur->next = cb_load_u64(&r->base, CB_RELAXED);
    cur->tid = cb_load_u32(&r->owner_tid, CB_RELAXED);
    cur->pending = 0;
    return 1;
}

int
cb_cursor_init(struct cb_cursor *cur, struct cb_segment *seg, uint32_t ring,
               int from)
{
    const struct cb_ring_header *r;

    memset(cur, 0, offsetof(struct cb_cursor, data));
    cur->seg = seg;
    cur->ring = ring;
    cur->from = from;
    cur->pending = 1;
    {
        CB_GUARD(seg, return CB_EBADSEG);
        r = cb__seg_ring(seg, ring);
        if (r != NULL)
            cursor_bind(cur, r);
        CB_UNGUARD();
    }
    return r != NULL ? 0 : CB_EBADSEG;
}

static uint64_t
cursor_lag(const struct cb_cursor *cur)
{
    const struct cb_ring_header *r = cb__seg_ring(cur->seg, cur->ring);
    uint64_t head;

    if (r == NULL || cur->pending || cur->broken)
        return 0;
    head = cb_load_u64(&r->head, CB_ACQUIRE);
    return (int64_t)(head - cur->next) > 0 ? head - cur->next : 0;
}

/* The writer lapped us at cur->next: jump to the oldest record that is
 * probably still there, counting the jump as lost. Returns CB_EBADSEG
 * (and marks the cursor broken) if the ring contradicts itself: a writer
 * moves head after each entry, so a record can be published at most one
 * entry (CB_EXT_MAX + 1 records) past head -- a cursor pushed further than
 * that by "lapped" slots is reading garbage and would never stop. */
static int
cursor_jump(struct cb_cursor *cur, const struct cb_ring_header *r,
            uint64_t cap)
{
    /* Acquire: pairs with the writer's release store of head. */
    uint64_t head = cb_load_u64(&r->head, CB_ACQUIRE);
    uint64_t slack = cap / 8 ? cap / 8 : 1;
    uint64_t to = head - cap + slack;

    if ((int64_t)(to - (cur->next + 1)) < 0)
        to = cur->next + 1;
    if ((int64_t)(to - head) > (int64_t)CB_EXT_MAX + 1) {
        cur->broken = 1;
        return CB_EBADSEG;
    }
    cur->lost += to - cur->next;
    cur->next = to;
    return 0;
}

/* Copies the continuations of the entry whose head is at cur->next into
 * cur->data after the head's data. Returns SLOT_* for the first record
 * that was not SLOT_OK, or SLOT_OK. */
static int
read_conts(struct cb_cursor *cur, const struct cb_record *slots,
           uint64_t mask, unsigned ext)
{
    for (unsigned i = 1; i <= ext; i++) {
        struct cb_record rec;
        const struct cb_record_cont *c = (const struct cb_record_cont *)&rec;
        int rc = slot_read(slots, mask, cur->next + i, &rec);
        if (rc != SLOT_OK)
            return rc;
        if (c->kind != CB_KIND_CONT || c->index != i)
            return SLOT_GONE; /* not our entry's: malformed or lapped */
        memcpy(cur->data + CB_HEAD_DATA + (i - 1) * CB_CONT_DATA, c->data,
               CB_CONT_DATA);
    }
    return SLOT_OK;
}

/* Picks the thread id out of a CB_KIND_THREAD entry. */
static void
note_thread(struct cb_cursor *cur, const uint8_t *data, size_t len)
{
    size_t off = 0;
    struct cb_field f;

    while (cb_field_next(data, len, &off, &f) == 1)
        if (f.type == CB_FIELD_TID)
            cur->tid = (uint32_t)f.i;
}

static int
cursor_next(struct cb_cursor *cur, struct cb_entry *out)
{
    const struct cb_ring_header *r = cb__seg_ring(cur->seg, cur->ring);
    const struct cb_record *slots;
    uint64_t cap, mask;

    if (r == NULL)
        return CB_EBADSEG;
    if (cur->broken) /* said once by the call that found it */
        return 0;
    if (CB_UNLIKELY(cur->pending) && !cursor_bind(cur, r))
        return 0;
    slots = (const struct cb_record *)(r + 1);
    cap = cb__seg_ring_records(cur->seg);
    mask = cap - 1;
    /* Bounded: a run of continuation records to skip is at most one
     * entry long, and a lapped cursor needs one or two jumps. */
    for (unsigned steps = 0; steps < 4 * (CB_EXT_MAX + 1); steps++) {
        struct cb_record h;
        int rc = slot_read(slots, mask, cur->next, &h);
        size_t max_len;
        if (rc == SLOT_NOTYET)
            return 0;
        if (rc == SLOT_GONE) {
            if (cursor_jump(cur, r, cap) != 0)
                return CB_EBADSEG;
            continue;
        }
        if (h.kind == CB_KIND_CONT) { /* landed inside an entry */
            cur->lost++;
            cur->next++;
            continue;
        }
        max_len = CB_HEAD_DATA + (size_t)h.ext * CB_CONT_DATA;
        if (h.kind > CB_KIND_MAX || h.kind == 0 || h.data_len > max_len) {
            cur->lost += 1u + h.ext;
            cur->next += 1u + h.ext;
            return CB_EBADSEG;
        }
        memcpy(cur->data, h.data, CB_HEAD_DATA);
        rc = read_conts(cur, slots, mask, h.ext);
        if (rc == SLOT_NOTYET)
            return 0; /* the writer is mid-entry: read it whole later */
        if (rc == SLOT_GONE) {
            if (cursor_jump(cur, r, cap) != 0)
                return CB_EBADSEG;
            continue;
        }
        if (h.kind == CB_KIND_THREAD)
            note_thread(cur, cur->data, h.data_len);
        out->head = h;
        out->recno = cur->next;
        out->ring = cur->ring;
        out->tid = cur->tid;
        out->data = cur->data;
        out->data_len = h.data_len;
        out->seg = cur->seg;
        cur->delivered += 1u + h.ext;
        cur->next += 1u + h.ext;
        return 1;
    }
    return 0; /* more next time: the work per call is bounded */
}

static uint64_t
published(const struct cb_segment *seg, uint32_t ring)
{
    const struct cb_ring_header *r = cb__seg_ring(seg, ring);
    const struct cb_record *slots;
    uint64_t n, cap;

    if (r == NULL)
        return 0;
    slots = (const struct cb_record *)(r + 1);
    cap = cb__seg_ring_records(seg);
    n = cb_load_u64(&r->head, CB_ACQUIRE);
    /* At most one entry can follow head: CB_EXT_MAX + 1 records. */
    for (uint64_t i = 0; i <= CB_EXT_MAX && i < cap; i++, n++) {
        /* Acquire: pairs with W4, as R1 does. */
        uint64_t seq = cb_load_u64(&slots[n & (cap - 1)].seq, CB_ACQUIRE);
        if (seq != 2 * n + 2)
            break;
    }
    return n;
}

uint64_t
cb_segment_published(const struct cb_segment *seg, uint32_t ring)
{
    uint64_t n;

    CB_GUARD(seg, return 0);
    n = published(seg, ring);
    CB_UNGUARD();
    return n;
}

uint64_t
cb_cursor_lag(const struct cb_cursor *cur)
{
    uint64_t n;

    CB_GUARD(cur->seg, return 0);
    n = cursor_lag(cur);
    CB_UNGUARD();
    return n;
}

int
cb_cursor_next(struct cb_cursor *cur, struct cb_entry *out)
{
    int rc;

    CB_GUARD(cur->seg, return cur->broken ? 0 : (cur->broken = 1, CB_EBADSEG));
    rc = cursor_next(cur, out);
    CB_UNGUARD();
    return rc;
}

uint64_t
cb_cursor_finish(struct cb_cursor *cur)
{
    uint64_t end, skipped;

    if (cur->pending)
        return 0;
    end = cb_segment_published(cur->seg, cur->ring);
    if ((int64_t)(end - cur->next) <= 0)
        return 0;
    skipped = end - cur->next;
    cur->lost += skipped;
    cur->next = end;
    return skipped;
}

int
cb_field_next(const uint8_t *data, size_t len, size_t *off,
              struct cb_field *f)
{
    size_t o = *off, need;
    uint32_t tag;
    uint16_t slen;
    int32_t code;

    if (o >= len)
        return 0;
    if (len - o < 4)
        return CB_EBADSEG;
    memcpy(&tag, data + o, 4);
    memset(f, 0, sizeof *f);
    f->type = (int)(tag >> CB_FIELD_SHIFT);
    f->name_id = tag & CB_NAME_ID_MASK;
    o += 4;
    switch (f->type) {
    case CB_FIELD_I64:
    case CB_FIELD_F64:
        if (len - o < 8)
            return CB_EBADSEG;
        memcpy(&f->i, data + o, 8);
        memcpy(&f->d, data + o, 8);
        o += 8;
        break;
    case CB_FIELD_TID:
        if (len - o < 4)
            return CB_EBADSEG;
        memcpy(&code, data + o, 4);
        f->i = (uint32_t)code;
        o += 4;
        break;
    case CB_FIELD_LABELS:
        break;
    case CB_FIELD_PERF:
        if (len - o < sizeof f->perf)
            return CB_EBADSEG;
        memcpy(&f->perf, data + o, sizeof f->perf);
        o += sizeof f->perf;
        break;
    case CB_FIELD_ERR:
    case CB_FIELD_STR:
        need = f->type == CB_FIELD_ERR ? 6 : 2;
        if (len - o < need)
            return CB_EBADSEG;
        if (f->type == CB_FIELD_ERR) {
            memcpy(&code, data + o, 4);
            f->i = code;
        }
        memcpy(&slen, data + o + need - 2, 2);
        o += need;
        if (len - o < slen)
            return CB_EBADSEG;
        f->s = (const char *)data + o;
        f->s_len = slen;
        o += slen;
        break;
    default:
        return CB_EBADSEG;
    }
    *off = o;
    return 1;
}
