/*
 * clip.c -- ownership helpers for clips and channels.
 */
#include "clip.h"

#include <stdlib.h>
#include <string.h>

char *
ca_strdup0(const char *s)
{
    return strdup(s ? s : "");
}

void
ca_clip_fini(struct ca_clip *c)
{
    if (c == NULL)
        return;
    char **fields[] = {&c->id,           &c->url,          &c->embed_url,
                       &c->broadcaster_id, &c->broadcaster_name,
                       &c->creator_id,   &c->creator_name, &c->video_id,
                       &c->game_id,      &c->language,     &c->title,
                       &c->thumbnail_url};
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
        free(*fields[i]);
    memset(c, 0, sizeof *c);
}

static int
reserve(struct ca_clip_vec *vec, size_t want)
{
    if (want <= vec->cap)
        return 0;
    size_t cap = vec->cap ? vec->cap : 16;
    while (cap < want)
        cap *= 2;
    struct ca_clip *v = realloc(vec->v, cap * sizeof *v);
    if (v == NULL)
        return -1;
    vec->v = v;
    vec->cap = cap;
    return 0;
}

int
ca_clip_vec_push(struct ca_clip_vec *vec, struct ca_clip *c)
{
    if (reserve(vec, vec->n + 1) != 0)
        return -1;
    vec->v[vec->n++] = *c;
    memset(c, 0, sizeof *c);
    return 0;
}

int
ca_clip_vec_append(struct ca_clip_vec *dst, struct ca_clip_vec *src)
{
    if (reserve(dst, dst->n + src->n) != 0)
        return -1;
    if (src->n > 0)
        memcpy(dst->v + dst->n, src->v, src->n * sizeof *src->v);
    dst->n += src->n;
    src->n = 0;
    return 0;
}

long
ca_clip_vec_find(const struct ca_clip_vec *vec, const char *id)
{
    for (size_t i = 0; i < vec->n; i++)
        if (strcmp(vec->v[i].id, id) == 0)
            return (long)i;
    return -1;
}

void
ca_clip_vec_fini(struct ca_clip_vec *vec)
{
    for (size_t i = 0; i < vec->n; i++)
        ca_clip_fini(&vec->v[i]);
    free(vec->v);
    memset(vec, 0, sizeof *vec);
}

void
ca_channel_fini(struct ca_channel *ch)
{
    if (ch == NULL)
        return;
    free(ch->id);
    free(ch->login);
    free(ch->display_name);
    memset(ch, 0, sizeof *ch);
    ch->follower_count = -1;
}
