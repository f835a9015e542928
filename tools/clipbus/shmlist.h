/*
 * shmlist.h -- a sorted snapshot of the clipbus objects in the shm
 * directory, shared by `status` and `gc`.
 */
#ifndef CLIPBUS_TOOL_SHMLIST_H
#define CLIPBUS_TOOL_SHMLIST_H

#include <stddef.h>
#include <stdint.h>

struct shm_obj {
    int kind;       /* CB_SHM_PRODUCER or CB_SHM_STATUS */
    char name[300]; /* POSIX name, with the leading '/' */
    char bus[64];
    uint32_t pid; /* from the name */
};

struct shm_list {
    struct shm_obj *v;
    size_t n, cap;
    int oom; /* an allocation failed while listing */
};

/* Lists the objects of `bus` (NULL: every bus), sorted by bus, then
 * producers before readers, then pid. Returns 0 or -errno; on failure the
 * list is empty. Pair with shm_list_free(). */
int shm_list_load(struct shm_list *l, const char *bus);
void shm_list_free(struct shm_list *l);

#endif /* CLIPBUS_TOOL_SHMLIST_H */
