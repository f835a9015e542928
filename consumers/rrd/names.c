/*
 * consumers/rrd/names.c -- from archive keys to file names, and back.
 *
 * A key is (kind, name, labels): a monitored function, or a counter,
 * gauge or observed metric with its label set. Its file name must be a
 * plain, portable base name that shell users can type, yet distinct for
 * distinct keys even when they differ only in case or punctuation
 * ("Fetch.Page" and "fetch_page"). So: the name is sanitized to
 * [a-z0-9_-], and whenever that changed anything, eight hex digits of a
 * hash of the EXACT key are appended. A clean function name keeps a clean
 * file name ("fn-fetch_page.rrd"); anything else carries its hash
 * ("counter-clips_processed-source_api-1f0c9a2e.rrd"). A hash collision
 * (or a clean name that happens to equal another key's hashed one) is
 * resolved by a numeric suffix, and the index file records which key
 * owns which file, so the answer never changes across restarts.
 *
 * The index, DIR/index.json, is for people and scripts (jq):
 *   {"format": "clipbus-rrd index 1", "step_s": 10,
 *    "files": [{"file": "...", "kind": "function", "name": "...",
 *               "labels": "", "ds": ["calls", ...]}, ...]}
 * It is rewritten atomically (temporary file, fsync, rename) when a file
 * is added. Names that are not valid UTF-8 are stored with each bad byte
 * replaced by '?' (JSON holds only UTF-8); the file name is still made
 * from the exact bytes.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "agg.h"
#include "rrd_int.h"

#define NAME_CUT   80
#define LABELS_CUT 40
#define INDEX_FILE "index.json"
#define INDEX_FORMAT "clipbus-rrd index 1"

static const struct cbr_layout layouts[] = {
    {CB_AGG_FUNCTION, "fn", 5,
     {"calls", "errors", "avg", "p95", "max"},
     {"0", "0", "0", "0", "0"}},
    {CB_AGG_COUNTER, "counter", 1, {"rate"}, {"U"}},
    {CB_AGG_GAUGE, "gauge", 1, {"value"}, {"U"}},
    {CB_AGG_OBSERVE, "observe", 3, {"count", "avg", "p95"}, {"0", "U", "U"}},
};

const struct cbr_layout *
cbr_layout_of(int kind)
{
    for (size_t i = 0; i < sizeof layouts / sizeof layouts[0]; i++)
        if (layouts[i].kind == kind)
            return &layouts[i];
    return NULL;
}

const struct cbr_layout *
cbr_layout_by_prefix(const char *prefix)
{
    for (size_t i = 0; i < sizeof layouts / sizeof layouts[0]; i++)
        if (strcmp(layouts[i].prefix, prefix) == 0)
            return &layouts[i];
    return NULL;
}

/* FNV-1a, 64 bits, over kind, name and labels with NUL separators: the
 * exact key, so keys that sanitize alike hash apart. */
static uint64_t
key_hash(int kind, const char *name, const char *labels)
{
    uint64_t h = UINT64_C(0xcbf29ce484222325);
    const char *parts[2] = {name, labels};

    h = (h ^ (uint64_t)(unsigned)kind) * UINT64_C(0x100000001b3);
    for (int p = 0; p < 2; p++) {
        for (const unsigned char *c = (const unsigned char *)parts[p]; *c;
             c++)
            h = (h ^ *c) * UINT64_C(0x100000001b3);
        h = h * UINT64_C(0x100000001b3); /* the NUL separator */
    }
    return h;
}

/* Appends the sanitized form of s (at most cut bytes) to out at *pos.
 * Returns 1 if anything was changed or cut. */
static int
sanitize(const char *s, size_t cut, char *out, size_t out_len, size_t *pos)
{
    int changed = 0;
    size_t n = 0;

    for (const unsigned char *c = (const unsigned char *)s; *c; c++, n++) {
        unsigned char x = *c;
        if (n == cut)
            return 1;
        if (x >= 'A' && x <= 'Z') {
            x = (unsigned char)(x - 'A' + 'a');
            changed = 1;
        } else if (!((x >= 'a' && x <= 'z') || (x >= '0' && x <= '9') ||
                     x == '_' || x == '-')) {
            x = '_';
            changed = 1;
        }
        if (*pos + 1 < out_len)
            out[(*pos)++] = (char)x;
    }
    out[*pos < out_len ? *pos : out_len - 1] = '\0';
    return changed;
}

void
cbr_file_name(int kind, const char *name, const char *labels,
              unsigned attempt, char *out, size_t out_len)
{
    const struct cbr_layout *l = cbr_layout_of(kind);
    size_t pos;
    int changed;

    pos = (size_t)snprintf(out, out_len, "%s-", l ? l->prefix : "x");
    changed = sanitize(name, NAME_CUT, out, out_len, &pos);
    /* An empty or dot-only result would make names like "fn-.rrd": the
     * hash keeps them apart and readable enough. */
    if (name[0] == '\0')
        changed = 1;
    if (labels != NULL && labels[0] != '\0') {
        if (pos + 1 < out_len)
            out[pos++] = '-';
        sanitize(labels, LABELS_CUT, out, out_len, &pos);
        changed = 1; /* "k=v" always loses its '=' */
    }
    if (changed)
        pos += (size_t)snprintf(out + pos, out_len - pos, "-%08x",
                                (unsigned)(key_hash(kind, name,
                                                    labels ? labels : "") >>
                                           32));
    if (attempt > 0 && pos < out_len)
        pos += (size_t)snprintf(out + pos, out_len - pos, "-%u",
                                attempt + 1);
    if (pos < out_len)
        snprintf(out + pos, out_len - pos, ".rrd");
}

struct cbr_entry *
cbr_map_find(struct cbr_map *m, int kind, const char *name,
             const char *labels)
{
    if (labels == NULL)
        labels = "";
    for (size_t i = 0; i < m->n; i++)
        if (m->v[i].kind == kind && strcmp(m->v[i].name, name) == 0 &&
            strcmp(m->v[i].labels, labels) == 0)
            return &m->v[i];
    return NULL;
}

static int
file_taken(const struct cbr_map *m, const char *file)
{
    for (size_t i = 0; i < m->n; i++)
        if (strcmp(m->v[i].file, file) == 0)
            return 1;
    return 0;
}

/* Appends an entry with the given file (no checks). */
static struct cbr_entry *
map_push(struct cbr_map *m, int kind, const char *name, const char *labels,
         const char *file)
{
    struct cbr_entry *e;

    if (m->n == m->cap) {
        size_t cap = m->cap ? 2 * m->cap : 64;
        struct cbr_entry *v = realloc(m->v, cap * sizeof *v);
        if (v == NULL)
            return NULL;
        m->v = v;
        m->cap = cap;
    }
    e = &m->v[m->n];
    e->kind = kind;
    e->name = strdup(name);
    e->labels = strdup(labels);
    e->file = strdup(file);
    if (e->name == NULL || e->labels == NULL || e->file == NULL) {
        free(e->name);
        free(e->labels);
        free(e->file);
        return NULL;
    }
    m->n++;
    return e;
}

struct cbr_entry *
cbr_map_add(struct cbr_map *m, int kind, const char *name, const char *labels)
{
    struct cbr_entry *e;
    char file[256];
    unsigned attempt = 0;

    if (labels == NULL)
        labels = "";
    e = cbr_map_find(m, kind, name, labels);
    if (e != NULL)
        return e;
    do
        cbr_file_name(kind, name, labels, attempt++, file, sizeof file);
    while (file_taken(m, file));
    e = map_push(m, kind, name, labels, file);
    if (e != NULL)
        m->dirty = 1;
    return e;
}

void
cbr_map_free(struct cbr_map *m)
{
    for (size_t i = 0; i < m->n; i++) {
        free(m->v[i].name);
        free(m->v[i].labels);
        free(m->v[i].file);
    }
    free(m->v);
    memset(m, 0, sizeof *m);
}

/* ---- the index file ------------------------------------------------------ */

/* A JSON string of s; invalid UTF-8 bytes become '?'. */
static json_t *
json_text(const char *s)
{
    json_t *j = json_string(s);
    char *copy;

    if (j != NULL)
        return j;
    copy = strdup(s);
    if (copy == NULL)
        return NULL;
    for (char *c = copy; *c; c++)
        if ((unsigned char)*c >= 0x80)
            *c = '?';
    j = json_string(copy);
    free(copy);
    return j;
}

static json_t *
entry_json(const struct cbr_entry *e)
{
    const struct cbr_layout *l = cbr_layout_of(e->kind);
    json_t *ds = json_array();

    for (int i = 0; l != NULL && ds != NULL && i < l->nds; i++)
        json_array_append_new(ds, json_string(l->ds[i]));
    return json_pack("{s:s, s:s, s:o, s:o, s:o}", "file", e->file, "kind",
                     cb_agg_kind_name(e->kind), "name", json_text(e->name),
                     "labels", json_text(e->labels), "ds",
                     ds ? ds : json_null());
}

int
cbr_map_save(struct cbr_map *m, const char *dir, uint64_t step_ns)
{
    char path[4200], tmp[4300];
    json_t *root, *files;
    int fd, rc = 0;

    root = json_pack("{s:s, s:I}", "format", INDEX_FORMAT, "step_s",
                     (json_int_t)(step_ns / 1000000000u));
    files = json_array();
    if (root == NULL || files == NULL) {
        json_decref(root);
        json_decref(files);
        return -ENOMEM;
    }
    for (size_t i = 0; i < m->n; i++)
        json_array_append_new(files, entry_json(&m->v[i]));
    json_object_set_new(root, "files", files);
    snprintf(path, sizeof path, "%s/%s", dir, INDEX_FILE);
    snprintf(tmp, sizeof tmp, "%s/.%s.%ld", dir, INDEX_FILE, (long)getpid());
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        rc = -errno;
    } else {
        if (json_dumpfd(root, fd, JSON_INDENT(1) | JSON_ENSURE_ASCII) != 0 ||
            write(fd, "\n", 1) != 1)
            rc = errno ? -errno : -EIO;
        if (rc == 0 && fsync(fd) != 0)
            rc = -errno;
        if (close(fd) != 0 && rc == 0)
            rc = -errno;
        if (rc == 0 && rename(tmp, path) != 0)
            rc = -errno;
        if (rc != 0)
            unlink(tmp);
    }
    json_decref(root);
    if (rc == 0)
        m->dirty = 0;
    return rc;
}

static int
kind_of_name(const char *s)
{
    for (int k = CB_AGG_FUNCTION; k <= CB_AGG_OBSERVE; k++)
        if (strcmp(cb_agg_kind_name(k), s) == 0)
            return k;
    return 0;
}

int
cbr_map_load(struct cbr_map *m, const char *dir, char *why, size_t why_len)
{
    char path[4200];
    json_error_t err;
    json_t *root, *files, *f;
    size_t i;

    snprintf(path, sizeof path, "%s/%s", dir, INDEX_FILE);
    if (access(path, F_OK) != 0 && errno == ENOENT)
        return 0;
    root = json_load_file(path, JSON_REJECT_DUPLICATES, &err);
    if (root == NULL) {
        snprintf(why, why_len, "%s:%d: %s", path, err.line, err.text);
        return -EBADMSG;
    }
    files = json_object_get(root, "files");
    if (!json_is_array(files)) {
        snprintf(why, why_len, "%s: no \"files\" array", path);
        json_decref(root);
        return -EBADMSG;
    }
    json_array_foreach(files, i, f)
    {
        const char *file = NULL, *kind = NULL, *name = NULL, *labels = "";
        int k;
        if (json_unpack(f, "{s:s, s:s, s:s, s?:s}", "file", &file, "kind",
                        &kind, "name", &name, "labels", &labels) != 0 ||
            (k = kind_of_name(kind)) == 0 || strchr(file, '/') != NULL ||
            cbr_map_find(m, k, name, labels) != NULL ||
            file_taken(m, file)) {
            snprintf(why, why_len, "%s: files[%zu] is malformed or a "
                     "duplicate", path, i);
            cbr_map_free(m);
            json_decref(root);
            return -EBADMSG;
        }
        if (map_push(m, k, name, labels, file) == NULL) {
            cbr_map_free(m);
            json_decref(root);
            return -ENOMEM;
        }
    }
    json_decref(root);
    return 0;
}
