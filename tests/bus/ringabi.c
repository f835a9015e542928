/*
 * tests/bus/ringabi.c -- see ringabi.h.
 */
#include "ringabi.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <clipbus/segment.h>

static int ring_words(const char *shm_name, uint32_t ring, uint64_t *base,
                      uint64_t *head, int scan);

int
ringabi_read(const char *shm_name, uint32_t ring, uint64_t *base,
             uint64_t *head)
{
    return ring_words(shm_name, ring, base, head, 0);
}

int
ringabi_published(const char *shm_name, uint32_t ring, uint64_t *base,
                  uint64_t *published)
{
    return ring_words(shm_name, ring, base, published, 1);
}

static int
ring_words(const char *shm_name, uint32_t ring, uint64_t *base,
           uint64_t *head, int scan)
{
    struct stat st;
    int rc = -1;
    int fd = shm_open(shm_name, O_RDONLY, 0);
    void *map;

    if (fd < 0)
        return -1;
    if (fstat(fd, &st) != 0 || (size_t)st.st_size < CB_SEG_HEADER_SIZE) {
        close(fd);
        return -1;
    }
    map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
    close(fd);
    if (map == MAP_FAILED)
        return -1;
    const struct cb_seg_header *h = map;
    uint64_t off = h->rings_offset + (uint64_t)ring * h->ring_stride;
    if (ring < h->ring_count && off + CB_RING_HEADER_SIZE <= (uint64_t)st.st_size) {
        const struct cb_ring_header *r =
            (const struct cb_ring_header *)((const char *)map + off);
        *base = __atomic_load_n(&r->base, __ATOMIC_ACQUIRE);
        *head = __atomic_load_n(&r->head, __ATOMIC_ACQUIRE);
        rc = 0;
        if (scan && h->ring_records != 0 &&
            off + h->ring_stride <= (uint64_t)st.st_size) {
            const struct cb_record *slots =
                (const struct cb_record *)(const void *)(r + 1);
            uint64_t mask = h->ring_records - 1, n = *head;
            while (n - *head < h->ring_records &&
                   __atomic_load_n(&slots[n & mask].seq, __ATOMIC_ACQUIRE) ==
                       2 * n + 2)
                n++;
            *head = n;
        }
    }
    munmap(map, (size_t)st.st_size);
    return rc;
}
