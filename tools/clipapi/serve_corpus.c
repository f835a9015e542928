/*
 * serve_corpus.c: loads a clipapi-gen corpus (layout: gen_write.c) into
 * memory for clipapi-serve.
 *
 * The server reads the same page files a file:// client reads, following
 * each channel's cursor chain page-1, page-2, ..., so what it serves is by
 * construction what the files say. Every file is untrusted input: a missing
 * file, invalid JSON or a field of the wrong type is reported with its path
 * and the load fails; nothing is assumed.
 */
#include "serve.h"
#include "util.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DUMP_FLAGS (JSON_COMPACT | JSON_REAL_PRECISION(10))
/* A channel with more pages than this has a cursor loop. */
#define MAX_PAGES 100000

static json_t *
load_json(const char *path)
{
    json_error_t err;
    json_t *j = json_load_file(path, JSON_REJECT_DUPLICATES, &err);

    /* line is -1 when the file could not be opened: err.text then names
     * the file and errno already. */
    if (j == NULL && err.line < 0)
        fprintf(stderr,
                SV_PROG ": %s; is --corpus a clipapi-gen output "
                        "directory?\n",
                err.text);
    else if (j == NULL)
        fprintf(stderr, SV_PROG ": %s:%d:%d: %s\n", path, err.line, err.column,
                err.text);
    return j;
}

static int
bad_field(const char *path, const char *what)
{
    fprintf(stderr, SV_PROG ": %s: %s\n", path, what);
    return -1;
}

/* Appends the clips of one page to cs; sets *next to the next page number
 * or 0 after the last page. */
static int
load_page(const char *path, struct sv_chan_snap *cs, size_t *cap, long *next)
{
    json_t *root = load_json(path), *data, *pag, *clip, *cur;
    size_t idx;
    int rc = -1;

    if (root == NULL)
        return -1;
    data = json_object_get(root, "data");
    pag = json_object_get(root, "pagination");
    if (!json_is_array(data) || !json_is_object(pag)) {
        rc = bad_field(path, "expected {\"data\":[...],\"pagination\":{...}}");
        goto out;
    }
    json_array_foreach(data, idx, clip)
    {
        const char *id = json_string_value(json_object_get(clip, "id"));
        const char *ca = json_string_value(json_object_get(clip, "created_at"));
        struct sv_clip *c;

        if (id == NULL || ca == NULL) {
            rc = bad_field(path, "a clip without string id and created_at");
            goto out;
        }
        if (cs->n == *cap) {
            size_t ncap = *cap ? 2 * *cap : 128;
            struct sv_clip *p = realloc(cs->clips, ncap * sizeof(*p));
            if (p == NULL)
                goto oom;
            cs->clips = p;
            *cap = ncap;
        }
        c = &cs->clips[cs->n];
        memset(c, 0, sizeof(*c));
        if (ca_parse_iso8601(ca, &c->created_s) != 0) {
            rc = bad_field(path, "a clip with a bad created_at");
            goto out;
        }
        c->id = strdup(id);
        c->json = json_dumps(clip, DUMP_FLAGS);
        cs->n++;
        if (c->id == NULL || c->json == NULL)
            goto oom;
        c->len = strlen(c->json);
    }
    cur = json_object_get(pag, "cursor");
    *next = 0;
    if (cur != NULL && (!json_is_string(cur) ||
                        sscanf(json_string_value(cur), "page-%ld", next) != 1 ||
                        *next < 2 || *next > MAX_PAGES)) {
        rc = bad_field(path, "pagination.cursor is not \"page-<n>\", n >= 2");
        goto out;
    }
    rc = 0;
    goto out;
oom:
    rc = bad_field(path, "out of memory");
out:
    json_decref(root);
    return rc;
}

static int
load_clips(const char *snapdir, const char *id, struct sv_chan_snap *cs)
{
    char path[4400];
    size_t cap = 0;
    long page = 1, next = 0;

    for (; page != 0; page = next) {
        snprintf(path, sizeof(path), "%s/clips/%s/page-%ld.json", snapdir, id,
                 page);
        if (load_page(path, cs, &cap, &next) != 0)
            return -1;
        if (next != 0 && next != page + 1)
            return bad_field(path, "pagination.cursor skips or repeats a page");
    }
    return 0;
}

static int
load_user_and_followers(const char *snapdir, const char *id,
                        struct sv_chan_snap *cs)
{
    char path[4400];
    json_t *root, *user, *total;

    snprintf(path, sizeof(path), "%s/users/%s.json", snapdir, id);
    if ((root = load_json(path)) == NULL)
        return -1;
    user = json_array_get(json_object_get(root, "data"), 0);
    cs->user_json = json_is_object(user) ? json_dumps(user, DUMP_FLAGS) : NULL;
    json_decref(root);
    if (cs->user_json == NULL)
        return bad_field(path, "expected {\"data\":[{user}]}");
    snprintf(path, sizeof(path), "%s/followers/%s.json", snapdir, id);
    if ((root = load_json(path)) == NULL)
        return -1;
    total = json_object_get(root, "total");
    cs->followers = json_is_integer(total) ? json_integer_value(total) : -1;
    json_decref(root);
    if (cs->followers < 0)
        return bad_field(path, "expected a non-negative integer \"total\"");
    return 0;
}

/* Reads corpus.json: snapshot times and channel ids/logins. */
static int
load_meta(const char *dir, struct sv_corpus *c)
{
    char path[4200];
    json_t *root, *snaps, *chans, *v;
    size_t i;
    int rc = -1;

    snprintf(path, sizeof(path), "%s/corpus.json", dir);
    if ((root = load_json(path)) == NULL)
        return -1;
    snaps = json_object_get(root, "snapshots");
    chans = json_object_get(root, "channels");
    if (!json_is_array(snaps) || !json_is_array(chans) ||
        json_array_size(snaps) == 0) {
        rc = bad_field(
            path, "expected non-empty \"snapshots\" and \"channels\" arrays");
        goto out;
    }
    c->n_snap = json_array_size(snaps);
    c->n_ch = json_array_size(chans);
    c->snaps = calloc(c->n_snap, sizeof(*c->snaps));
    c->ids = calloc(c->n_ch + 1, sizeof(char *));
    c->logins = calloc(c->n_ch + 1, sizeof(char *));
    if (c->snaps == NULL || c->ids == NULL || c->logins == NULL)
        goto out;
    json_array_foreach(snaps, i, v)
    {
        const char *at = json_string_value(json_object_get(v, "observed_at"));
        if (at == NULL || ca_parse_iso8601(at, &c->snaps[i].observed_s) != 0) {
            rc = bad_field(path, "a snapshot without a valid observed_at");
            goto out;
        }
        snprintf(c->snaps[i].observed_at, sizeof(c->snaps[i].observed_at), "%s",
                 at);
    }
    json_array_foreach(chans, i, v)
    {
        const char *id = json_string_value(json_object_get(v, "id"));
        const char *login = json_string_value(json_object_get(v, "login"));
        if (id == NULL || login == NULL || strchr(id, '/') != NULL ||
            id[0] == '.') {
            rc = bad_field(path,
                           "a channel without a plain string id and login");
            goto out;
        }
        c->ids[i] = strdup(id);
        c->logins[i] = strdup(login);
    }
    rc = 0;
out:
    json_decref(root);
    return rc;
}

int
sv_corpus_load(const char *dir, struct sv_corpus *c)
{
    char snapdir[4200];

    memset(c, 0, sizeof(*c));
    if (load_meta(dir, c) != 0)
        goto fail;
    for (size_t k = 0; k < c->n_snap; k++) {
        struct sv_snapshot *s = &c->snaps[k];

        snprintf(snapdir, sizeof(snapdir), "%s/snap-%03zu", dir, k);
        s->ch = calloc(c->n_ch ? c->n_ch : 1, sizeof(*s->ch));
        if (s->ch == NULL)
            goto fail;
        for (size_t i = 0; i < c->n_ch; i++) {
            if (c->ids[i] == NULL || c->logins[i] == NULL ||
                load_clips(snapdir, c->ids[i], &s->ch[i]) != 0 ||
                load_user_and_followers(snapdir, c->ids[i], &s->ch[i]) != 0)
                goto fail;
        }
    }
    return 0;
fail:
    sv_corpus_fini(c);
    return -1;
}

void
sv_corpus_fini(struct sv_corpus *c)
{
    for (size_t k = 0; c->snaps != NULL && k < c->n_snap; k++) {
        for (size_t i = 0; c->snaps[k].ch != NULL && i < c->n_ch; i++) {
            struct sv_chan_snap *cs = &c->snaps[k].ch[i];
            for (size_t j = 0; j < cs->n; j++) {
                free(cs->clips[j].id);
                free(cs->clips[j].json);
            }
            free(cs->clips);
            free(cs->user_json);
        }
        free(c->snaps[k].ch);
    }
    for (size_t i = 0; c->ids != NULL && i < c->n_ch; i++) {
        free(c->ids[i]);
        free(c->logins[i]);
    }
    free(c->snaps);
    free(c->ids);
    free(c->logins);
    memset(c, 0, sizeof(*c));
}

long
sv_corpus_find(const struct sv_corpus *c, const char *key, int by_login)
{
    for (size_t i = 0; i < c->n_ch; i++) {
        const char *s = by_login ? c->logins[i] : c->ids[i];
        if (s != NULL && strcmp(s, key) == 0)
            return (long)i;
    }
    return -1;
}
