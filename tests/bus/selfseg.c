/*
 * tests/bus/selfseg.c -- see selfseg.h.
 */
#include "selfseg.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <clipbus/clipbus.h>

#include "cbt.h"

int
selfseg_open(struct selfseg *s, const char *tag)
{
    char why[256];

    memset(s, 0, sizeof *s);
    cbt_bus(s->bus, sizeof s->bus, tag);
    if (cb_open(s->bus) != 0) {
        fprintf(stderr, "selfseg: cb_open(%s) failed\n", s->bus);
        return -1;
    }
    cb_count("selfseg.open", 1); /* creates the segment */
    if (cbt_find_segment(s->bus, getpid(), s->shm, sizeof s->shm) != 0) {
        fprintf(stderr, "selfseg: no segment of pid %d on bus %s\n",
                (int)getpid(), s->bus);
        return -1;
    }
    if (cb_segment_attach(s->shm, 0, &s->seg, why, sizeof why) != 0) {
        fprintf(stderr, "selfseg: attach %s: %s\n", s->shm, why);
        return -1;
    }
    return 0;
}

void
selfseg_close(struct selfseg *s)
{
    if (s->seg != NULL)
        cb_segment_detach(s->seg);
    s->seg = NULL;
    cb_close();
    cbt_unlink_bus(s->bus);
}

int
selfseg_ring_of(const struct selfseg *s, uint32_t tid, uint32_t *ring)
{
    char name[CB_THREAD_NAME_MAX];

    for (uint32_t r = 0; r < cb_segment_rings(s->seg); r++)
        if (cb_segment_ring_owner(s->seg, r, name) == tid) {
            *ring = r;
            return 0;
        }
    return -1;
}

int
selfseg_name_is(const struct selfseg *s, uint32_t id, const char *want)
{
    size_t len = 0;
    const char *n = cb_segment_name(s->seg, id, &len);

    return n != NULL && len == strlen(want) && memcmp(n, want, len) == 0;
}

int
selfseg_fields(const struct cb_entry *e, struct cb_field *f, int max)
{
    size_t off = 0;
    int n = 0, rc;

    while (n < max && (rc = cb_field_next(e->data, e->data_len, &off,
                                          &f[n])) == 1)
        n++;
    return off == e->data_len ? n : -1;
}

int
selfseg_next(struct cb_cursor *cur, struct cb_entry *e)
{
    int rc;

    do
        rc = cb_cursor_next(cur, e);
    while (rc == 1 && e->head.kind == CB_KIND_THREAD);
    return rc;
}
