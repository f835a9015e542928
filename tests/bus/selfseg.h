/*
 * tests/bus/selfseg.h -- a test process that reads its own producer
 * segment: the tests of the producer API (test_producer.c and the
 * function logging and performance tracking properties) publish in this
 * process and check what a reader of the same segment gets.
 */
#ifndef SELFSEG_H
#define SELFSEG_H

#include <stdint.h>

#include <clipbus/reader.h>

struct selfseg {
    char bus[64];
    char shm[128];
    struct cb_segment *seg;
};

/* Opens instrumentation on a fresh bus named after tag, publishes one
 * record (which creates the segment) and attaches the segment read-only.
 * Returns 0, or -1 with a message on stderr. */
int selfseg_open(struct selfseg *s, const char *tag);

/* Detaches, closes instrumentation and removes the bus's shm objects. */
void selfseg_close(struct selfseg *s);

/* The ring owned now by kernel thread tid: 0 with *ring set, or -1. */
int selfseg_ring_of(const struct selfseg *s, uint32_t tid, uint32_t *ring);

/* 1 if name id `id` is the string `want`. */
int selfseg_name_is(const struct selfseg *s, uint32_t id, const char *want);

/* Decodes every field of e into f[0..max): returns how many, or -1 if the
 * data did not decode to its end (malformed, or more than max fields). */
int selfseg_fields(const struct cb_entry *e, struct cb_field *f, int max);

/* Reads the next entry of cur that is not a CB_KIND_THREAD entry: 1 with
 * *e set, 0 when there is none yet, negative on a malformed entry. */
int selfseg_next(struct cb_cursor *cur, struct cb_entry *e);

#endif
