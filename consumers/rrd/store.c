/*
 * consumers/rrd/store.c -- the archive files, through librrd or rrdcached.
 *
 * Two back ends, chosen once per process and never mixed
 * (DEPENDENCIES.md: after a direct write, rrdcached silently drops its
 * queued batch for that file):
 *   direct   rrd_create_r2, rrd_info_r, rrd_updatex_r: the thread-safe
 *            librrd calls, with numeric times only;
 *   daemon   rrdc_connect/create/info/update: every operation, existence
 *            checks included, goes through rrdcached. Over a unix socket
 *            the daemon needs absolute paths (relative ones would resolve
 *            against ITS working directory), over TCP paths relative to
 *            its -b base (it refuses absolute ones).
 *
 * NEVER CORRUPT AN ARCHIVE. A file that exists is only ever updated, and
 * only after it was read as an RRD with our step and exactly our data
 * sources. Anything else (garbage, a truncated file, someone else's RRD)
 * is refused with a message naming it and left as it was. New files are
 * created with no_overwrite, so a file that appears between the check and
 * the create is not replaced either.
 *
 * Worker thread only (rrd_int.h, THREADS).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <rrd.h>
#include <rrd_client.h>

#include "rrd_int.h"

struct cbr_store {
    char dir[PATH_MAX];     /* as used in paths */
    char *daemon;           /* NULL: direct */
    int daemon_tcp;
    uint64_t step_s, heartbeat_s;
    struct cbc_rra *rras;
    size_t n_rras;
};

static int
daemon_is_unix(const char *addr)
{
    return strncmp(addr, "unix:", 5) == 0 || addr[0] == '/';
}

/* mkdir -p for the archive directory. */
static int
make_dir(const char *dir)
{
    char buf[PATH_MAX];
    size_t n = strlen(dir);

    if (n == 0 || n >= sizeof buf)
        return -ENAMETOOLONG;
    memcpy(buf, dir, n + 1);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0755) != 0 && errno != EEXIST)
            return -errno;
        *p = '/';
    }
    if (mkdir(buf, 0755) != 0 && errno != EEXIST)
        return -errno;
    return 0;
}

static int
connect_daemon(struct cbr_store *s, char *why, size_t why_len)
{
    rrd_clear_error();
    if (rrdc_connect(s->daemon) != 0) {
        const char *e = rrd_get_error();
        snprintf(why, why_len, "rrdcached at %s: %s", s->daemon,
                 e && *e ? e : "cannot connect");
        return -ECONNREFUSED;
    }
    return 0;
}

int
cbr_store_open(const struct cbc_rrd_config *rc, const char *dir,
               const char *daemon, struct cbr_store **out, char *why,
               size_t why_len)
{
    struct cbr_store *s = calloc(1, sizeof *s);
    int err;

    *out = NULL;
    if (s == NULL)
        return -ENOMEM;
    s->step_s = rc->step_ns / 1000000000u;
    s->heartbeat_s = rc->heartbeat_ns / 1000000000u;
    s->rras = calloc(rc->n_rras ? rc->n_rras : 1, sizeof *s->rras);
    if (s->rras == NULL) {
        free(s);
        return -ENOMEM;
    }
    memcpy(s->rras, rc->rras, rc->n_rras * sizeof *s->rras);
    s->n_rras = rc->n_rras;
    snprintf(s->dir, sizeof s->dir, "%s", dir);
    if (daemon != NULL) {
        s->daemon = strdup(daemon);
        s->daemon_tcp = !daemon_is_unix(daemon);
    }
    /* The index file always lives in the local directory; with a local
     * daemon the archives do too. */
    err = make_dir(dir);
    if (err == 0 && access(dir, W_OK | X_OK) != 0)
        err = -errno;
    if (err != 0) {
        snprintf(why, why_len, "%s: cannot create or write the archive "
                 "directory: %s", dir, strerror(-err));
        goto fail;
    }
    if (s->daemon != NULL && !s->daemon_tcp) {
        char abs[PATH_MAX];
        if (realpath(dir, abs) == NULL) {
            err = -errno;
            snprintf(why, why_len, "%s: %s", dir, strerror(errno));
            goto fail;
        }
        snprintf(s->dir, sizeof s->dir, "%s", abs);
    }
    if (s->daemon != NULL && s->daemon_tcp && dir[0] == '/') {
        err = -EINVAL;
        snprintf(why, why_len, "%s: rrdcached over TCP takes paths relative "
                 "to its -b directory; give a relative rrd.dir/--dir", dir);
        goto fail;
    }
    if (s->daemon != NULL && (err = connect_daemon(s, why, why_len)) != 0)
        goto fail;
    *out = s;
    return 0;
fail:
    cbr_store_close(s);
    return err;
}

void
cbr_store_close(struct cbr_store *s)
{
    if (s == NULL)
        return;
    if (s->daemon != NULL)
        rrdc_disconnect();
    free(s->daemon);
    free(s->rras);
    free(s);
}

const char *
cbr_store_path(struct cbr_store *s, const char *file, char *buf, size_t len)
{
    snprintf(buf, len, "%s/%s", s->dir, file);
    return buf;
}

/* ---- checking an existing file ------------------------------------------- */

/* What rrd_info says about a file: step, last update, DS names by index. */
struct info {
    uint64_t step, last;
    int nds;
    char ds[8][20];
};

static void
info_parse(const rrd_info_t *i, struct info *out)
{
    memset(out, 0, sizeof *out);
    for (; i != NULL; i = i->next) {
        unsigned long idx;
        char name[20];
        if (strcmp(i->key, "step") == 0 && i->type == RD_I_CNT)
            out->step = i->value.u_cnt;
        else if (strcmp(i->key, "last_update") == 0 && i->type == RD_I_CNT)
            out->last = i->value.u_cnt;
        else if (sscanf(i->key, "ds[%19[^]]].index", name) == 1 &&
                 strstr(i->key, "].index") != NULL &&
                 i->type == RD_I_CNT) {
            idx = i->value.u_cnt;
            if (idx < 8) {
                snprintf(out->ds[idx], sizeof out->ds[idx], "%s", name);
                if ((int)idx + 1 > out->nds)
                    out->nds = (int)idx + 1;
            }
        }
    }
}

static int
info_matches(const struct info *in, const struct cbr_layout *l,
             uint64_t step_s)
{
    if (in->step != step_s || in->nds != l->nds)
        return 0;
    for (int k = 0; k < l->nds; k++)
        if (strcmp(in->ds[k], l->ds[k]) != 0)
            return 0;
    return 1;
}

static void
describe_mismatch(const struct info *in, const struct cbr_layout *l,
                  uint64_t step_s, char *why, size_t why_len,
                  const char *path)
{
    char have[200] = "", want[200] = "";
    size_t a = 0, b = 0;

    for (int k = 0; k < in->nds && a < sizeof have; k++)
        a += (size_t)snprintf(have + a, sizeof have - a, "%s%s",
                              k ? "," : "", in->ds[k]);
    for (int k = 0; k < l->nds && b < sizeof want; k++)
        b += (size_t)snprintf(want + b, sizeof want - b, "%s%s",
                              k ? "," : "", l->ds[k]);
    snprintf(why, why_len,
             "%s: not a clipbus-rrd %s archive (step %llu s, data sources "
             "%s; expected step %llu s and %s); left untouched: move it "
             "away to start a new archive",
             path, l->prefix, (unsigned long long)in->step, have,
             (unsigned long long)step_s, want);
}

/* ---- creating ------------------------------------------------------------ */

/* The DS and RRA definitions of a new file: argv strings in buf. */
static int
create_args(const struct cbr_store *s, const struct cbr_layout *l,
            const char **argv, char (*buf)[64], int max)
{
    int n = 0;

    for (int k = 0; k < l->nds && n < max; k++, n++) {
        snprintf(buf[n], 64, "DS:%s:GAUGE:%llu:%s:U", l->ds[k],
                 (unsigned long long)s->heartbeat_s, l->min[k]);
        argv[n] = buf[n];
    }
    for (size_t r = 0; r < s->n_rras && n < max; r++, n++) {
        const struct cbc_rra *x = &s->rras[r];
        uint64_t steps = x->step_ns / (s->step_s * 1000000000u);
        uint64_t rows = (x->keep_ns + x->step_ns - 1) / x->step_ns;
        snprintf(buf[n], 64, "RRA:%s:0.5:%llu:%llu", cbc_rrd_cf_name(x->cf),
                 (unsigned long long)steps, (unsigned long long)rows);
        argv[n] = buf[n];
    }
    return n;
}

/* Bytes of data rows a new file of layout l preallocates (the header,
 * a few KB, not counted). */
static uint64_t
file_bytes(const struct cbr_store *s, const struct cbr_layout *l)
{
    uint64_t rows = 0;

    for (size_t r = 0; r < s->n_rras; r++)
        rows += (s->rras[r].keep_ns + s->rras[r].step_ns - 1) /
                s->rras[r].step_ns;
    return rows * 8u * (uint64_t)l->nds;
}

/* 1 when the archive directory's file system has less than 64 MB free. */
static int
disk_full(const struct cbr_store *s)
{
    struct statvfs vfs;

    return statvfs(s->dir, &vfs) == 0 &&
           (uint64_t)vfs.f_bavail * vfs.f_frsize < (64u << 20);
}

static int
create_file(struct cbr_store *s, const struct cbr_layout *l,
            const char *path, uint64_t start_s, char *why, size_t why_len)
{
    const char *argv[48];
    char buf[48][64];
    int argc = create_args(s, l, argv, buf, 48), rc, saved;
    const char *e;
    struct stat st;

    rrd_clear_error();
    errno = 0;
    if (s->daemon != NULL)
        rc = rrdc_create(path, (unsigned long)s->step_s, (time_t)start_s, 1,
                         argc, argv);
    else
        rc = rrd_create_r2(path, (unsigned long)s->step_s, (time_t)start_s,
                           1, NULL, NULL, argc, argv);
    saved = errno;
    /* librrd 1.7.2, when writing the temporary file hits ENOSPC, removes
     * it and reports nothing: a failure without a message (or, from the
     * rrdtool CLI, even success). So check the file, and the disk. */
    if (rc == 0 && (s->daemon != NULL || stat(path, &st) == 0))
        return 0;
    e = rrd_get_error();
    if (e != NULL && *e != '\0' && strstr(e, "No space") == NULL) {
        snprintf(why, why_len, "%s: cannot create: %s", path, e);
        return -EIO;
    }
    if (saved == ENOSPC || (e && strstr(e, "No space")) || disk_full(s)) {
        snprintf(why, why_len, "%s: cannot create: no space left on device "
                 "(free space or choose another rrd.dir; a file with these "
                 "archives needs %llu bytes)", path,
                 (unsigned long long)file_bytes(s, l));
        return -ENOSPC;
    }
    snprintf(why, why_len, "%s: cannot create: librrd failed without a "
             "reason", path);
    return -EIO;
}

/* ---- prepare and update -------------------------------------------------- */

static rrd_info_t *
get_info(struct cbr_store *s, const char *path)
{
    rrd_clear_error();
    return s->daemon != NULL ? rrdc_info(path) : rrd_info_r(path);
}

/* 1 when the file does not exist (as far as we can tell). */
static int
file_missing(struct cbr_store *s, const char *path, const char *rrd_err)
{
    struct stat st;

    if (s->daemon == NULL || !s->daemon_tcp)
        return stat(path, &st) != 0 && errno == ENOENT;
    return rrd_err != NULL && strstr(rrd_err, "No such file") != NULL;
}

int
cbr_store_prepare(struct cbr_store *s, int kind, const char *file,
                  uint64_t first_s, uint64_t *last_s, char *why,
                  size_t why_len)
{
    const struct cbr_layout *l = cbr_layout_of(kind);
    char path[PATH_MAX + 200];
    struct stat st;
    struct info in;
    rrd_info_t *info;
    int err;

    cbr_store_path(s, file, path, sizeof path);
    if (s->daemon != NULL && (err = connect_daemon(s, why, why_len)) != 0)
        return err;
    if ((s->daemon == NULL || !s->daemon_tcp) && stat(path, &st) == 0 &&
        !S_ISREG(st.st_mode)) {
        snprintf(why, why_len, "%s: not a regular file; left untouched",
                 path);
        return -EBADF;
    }
    info = get_info(s, path);
    if (info == NULL) {
        const char *e = rrd_get_error();
        if (!file_missing(s, path, e)) {
            snprintf(why, why_len, "%s: not a usable RRD file (%s); left "
                     "untouched: move it away to start a new archive",
                     path, e && *e ? e : "unreadable");
            return -EBADF;
        }
        err = create_file(s, l, path, first_s - s->step_s, why, why_len);
        if (err != 0)
            return err;
        *last_s = first_s - s->step_s;
        return 0;
    }
    info_parse(info, &in);
    rrd_info_free(info);
    if (!info_matches(&in, l, s->step_s)) {
        describe_mismatch(&in, l, s->step_s, why, why_len, path);
        return -EBADF;
    }
    *last_s = in.last;
    return 0;
}

/* rrdcached's client builds each request in a fixed buffer (4096 bytes
 * in librrd 1.7.2: "No buffer space available" beyond): send updates in
 * slices that fit, with room for the command and the path. */
#define DAEMON_REQ_BYTES 4000

static int
daemon_update(const char *path, int n, const char **updates)
{
    int i = 0;

    while (i < n) {
        size_t bytes = strlen(path) + 16;
        int k = 0;
        while (i + k < n &&
               (k == 0 || bytes + strlen(updates[i + k]) + 1 <
                              DAEMON_REQ_BYTES))
            bytes += strlen(updates[i + k++]) + 1;
        rrd_clear_error();
        int rc = rrdc_update(path, k, updates + i);
        if (rc != 0)
            return rc;
        i += k;
    }
    return 0;
}

int
cbr_store_update(struct cbr_store *s, const char *file, int n,
                 const char **updates, char *why, size_t why_len)
{
    char path[PATH_MAX + 200];
    int rc;

    cbr_store_path(s, file, path, sizeof path);
    if (s->daemon != NULL) {
        if ((rc = connect_daemon(s, why, why_len)) != 0)
            return rc;
        rc = daemon_update(path, n, updates);
    } else {
        rrd_clear_error();
        rc = rrd_updatex_r(path, NULL, RRD_SKIP_PAST_UPDATES, n, updates);
    }
    if (rc != 0) {
        const char *e = rrd_get_error();
        snprintf(why, why_len, "%s: update failed: %s", path,
                 e && *e ? e
                 : rc < -1 ? strerror(-rc)
                           : "librrd gave no reason");
        return -EIO;
    }
    return 0;
}
