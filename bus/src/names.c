/*
 * names.c -- interning function, metric, session and label names.
 *
 * The name table lives in the segment (segment.h gives its format); an id
 * is the byte offset of the entry, so a reader resolves it in O(1) with a
 * bounds check. The table is append-only; the first entry is "?", the id
 * handed out when the table is full.
 *
 * Finding an existing name must not take a lock: labels such as
 * "reason=http_429" are interned on every cb_count_l(). So the producer
 * keeps a process-local open-addressing index of 64-bit words
 * (hash32 << 32 | id), written only under cb__prod.lock and read without
 * it. A word is stored with release order after the entry it names is in
 * the table, and loaded with acquire order, so a reader of the index that
 * finds a word also sees the name bytes it points to.
 *
 * Call sites cache ids in statics (CB__ID), so a string literal reaches
 * this file once per site.
 */
#include <stdlib.h>
#include <string.h>

#include "bus_int.h"
#include "cb_atomic.h"

/* FNV-1a, 32 bits; 0 is remapped so that an empty index word (0) never
 * matches a real hash. */
static uint32_t
name_hash(const char *s, size_t len)
{
    uint32_t h = 2166136261u;

    for (size_t i = 0; i < len; i++) {
        h ^= (uint8_t)s[i];
        h *= 16777619u;
    }
    return h ? h : 1;
}

int
cb__index_init(uint32_t names_size)
{
    /* Each entry takes at least 4 bytes in the table, so names_size / 4
     * entries fit; twice that keeps probes short. */
    uint32_t cap = 64;

    while (cap < names_size / 2)
        cap <<= 1;
    cb__prod.index = calloc(cap, sizeof *cb__prod.index);
    if (cb__prod.index == NULL)
        return -12; /* -ENOMEM */
    cb__prod.index_cap = cap;
    cb__prod.index_used = 0;
    return 0;
}

void
cb__index_free(void)
{
    free(cb__prod.index);
    cb__prod.index = NULL;
    cb__prod.index_cap = 0;
}

static int
entry_matches(uint32_t id, const char *name, size_t len)
{
    uint16_t elen;

    memcpy(&elen, cb__prod.names + id, sizeof elen);
    return elen == len && memcmp(cb__prod.names + id + 2, name, len) == 0;
}

/* Looks name up without a lock. Returns its id, or 0 if absent. */
static uint32_t
index_find(const char *name, size_t len, uint32_t h)
{
    uint32_t mask = cb__prod.index_cap - 1;

    for (uint32_t i = h & mask;; i = (i + 1) & mask) {
        /* Pairs with the release store in index_insert_locked(): the
         * entry's bytes are visible once its word is. */
        uint64_t w = cb_load_u64(&cb__prod.index[i], CB_ACQUIRE);
        if (w == 0)
            return 0;
        if ((uint32_t)(w >> 32) == h && entry_matches((uint32_t)w, name, len))
            return (uint32_t)w;
    }
}

static void
index_insert_locked(uint32_t id, uint32_t h)
{
    uint32_t mask = cb__prod.index_cap - 1;
    uint32_t i = h & mask;

    while (cb_load_u64(&cb__prod.index[i], CB_RELAXED) != 0)
        i = (i + 1) & mask;
    /* Release: the table entry (and names_used) before the index word. */
    cb_store_u64(&cb__prod.index[i], (uint64_t)h << 32 | id, CB_RELEASE);
    cb__prod.index_used++;
}

/* Appends an entry to the segment's table. Caller holds cb__prod.lock.
 * Returns the new id, or 0 if the table (or the index) is full. */
static uint32_t
table_append_locked(const char *name, size_t len)
{
    struct cb_seg_header *hdr = cb__prod.hdr;
    uint64_t used = hdr->names_used;
    uint64_t need = (2 + len + 3) & ~(uint64_t)3;
    uint16_t len16 = (uint16_t)len;

    if (used + need > cb__prod.names_size ||
        cb__prod.index_used + 1 > cb__prod.index_cap / 2 ||
        used + need > CB_NAME_ID_MASK)
        return 0;
    memcpy(cb__prod.names + used, &len16, sizeof len16);
    memcpy(cb__prod.names + used + 2, name, len);
    /* Release: readers load names_used with acquire order and then read
     * the entry bytes, which must be complete. */
    cb_store_u64(&hdr->names_used, used + need, CB_RELEASE);
    return (uint32_t)used;
}

uint32_t
cb__intern_locked(const char *name, size_t len)
{
    uint32_t h = name_hash(name, len);
    uint32_t id = index_find(name, len, h);

    if (id != 0)
        return id;
    id = table_append_locked(name, len);
    if (id == 0) {
        cb_faa_u64(&cb__prod.hdr->names_dropped, 1);
        return CB_NAME_FIRST; /* "?" */
    }
    index_insert_locked(id, h);
    return id;
}

uint32_t
cb__intern(const char *name, size_t len)
{
    uint32_t id, err;

    if (len > CB_NAME_LEN_MAX)
        len = CB_NAME_LEN_MAX;
    id = index_find(name, len, name_hash(name, len));
    if (id != 0)
        return id;
    err = (uint32_t)pthread_mutex_lock(&cb__prod.lock);
    if (err != 0)
        CB_DIE((int)err);
    id = cb__intern_locked(name, len);
    pthread_mutex_unlock(&cb__prod.lock);
    return id;
}

uint32_t
cb_name_intern(const char *name)
{
    if (name == NULL || cb__ensure_open() != 0)
        return 0;
    return cb__intern(name, strlen(name));
}

uint32_t
cb__name_cached(uint32_t *cache, const char *name)
{
    uint32_t id = cb_name_intern(name);

    /* Relaxed: racing first calls store the same id; the id's meaning is
     * in the table, published before cb__intern() returned. */
    if (id != 0)
        cb_store_u32(cache, id, CB_RELAXED);
    return id;
}
