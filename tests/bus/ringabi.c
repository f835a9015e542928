/*
 * tests/bus/ringabi.c -- see ringabi.h.
 */
#include "ringabi.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <clipbus/segment.h>

int
ringabi_read(const char *shm_name, uint32_t ring, uint64_t *base,
             uint64_t *head)
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
    }
    munmap(map, (size_t)st.st_size);
    return rc;
}
