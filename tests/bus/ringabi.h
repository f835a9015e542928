/*
 * tests/bus/ringabi.h -- read a ring's base and head straight from the
 * segment ABI (segment.h), independently of the reader library, so the
 * tests can compute "published" without trusting the code under test.
 */
#ifndef RINGABI_H
#define RINGABI_H

#include <stdint.h>

/* Maps shm object `shm_name` read-only and reads ring `ring`'s base (first
 * record number ever written) and head (next record number). Returns 0, or
 * -1 if the object or ring does not exist. */
int ringabi_read(const char *shm_name, uint32_t ring, uint64_t *base,
                 uint64_t *head);

/* As ringabi_read(), but *published is the record number after the last
 * published record: head, plus the records right after head whose slots
 * hold their published sequence (2n+2). A producer killed between
 * publishing a record and storing head leaves such records; while a
 * producer is running the value is a snapshot. */
int ringabi_published(const char *shm_name, uint32_t ring, uint64_t *base,
                      uint64_t *published);

#endif /* RINGABI_H */
