/*
 * shmlist.c -- a sorted snapshot of a bus's shm objects (see shmlist.h).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <clipbus/reader.h>

#include "cli.h"
#include "shmlist.h"

static int
add(void *arg, int kind, const char *shm_name)
{
    struct shm_list *l = arg;
    struct shm_obj *o;

    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        struct shm_obj *nv = realloc(l->v, cap * sizeof *nv);
        if (nv == NULL) {
            l->oom = 1;
            return -ENOMEM; /* stops the listing */
        }
        l->v = nv;
        l->cap = cap;
    }
    o = &l->v[l->n++];
    o->kind = kind;
    snprintf(o->name, sizeof o->name, "%s", shm_name);
    cli_shm_bus(shm_name, o->bus, sizeof o->bus);
    o->pid = cli_shm_pid(shm_name);
    return 0;
}

static int
cmp(const void *a, const void *b)
{
    const struct shm_obj *x = a, *y = b;
    int c = strcmp(x->bus, y->bus);

    if (c != 0)
        return c;
    if (x->kind != y->kind)
        return x->kind < y->kind ? -1 : 1;
    if (x->pid != y->pid)
        return x->pid < y->pid ? -1 : 1;
    return strcmp(x->name, y->name);
}

int
shm_list_load(struct shm_list *l, const char *bus)
{
    int rc;

    memset(l, 0, sizeof *l);
    rc = cb_shm_list(bus, add, l);
    if (rc < 0) {
        shm_list_free(l);
        return rc;
    }
    if (l->oom) {
        shm_list_free(l);
        return -ENOMEM;
    }
    if (l->n > 1)
        qsort(l->v, l->n, sizeof l->v[0], cmp);
    return 0;
}

void
shm_list_free(struct shm_list *l)
{
    free(l->v);
    memset(l, 0, sizeof *l);
}
