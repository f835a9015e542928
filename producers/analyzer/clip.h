/*
 * clip.h -- the analyzer's data: clips and channels as the API gives them.
 *
 * Every string is owned by its struct (heap, NUL-terminated, never NULL
 * once filled: a field the API left out is ""). Free with the _fini
 * functions. Not shared between threads while being filled.
 */
#ifndef CA_CLIP_H
#define CA_CLIP_H

#include <stddef.h>
#include <stdint.h>

struct ca_clip {
    char *id;
    char *url;
    char *embed_url;
    char *broadcaster_id;
    char *broadcaster_name;
    char *creator_id;
    char *creator_name;
    char *video_id;
    char *game_id;
    char *language;
    char *title;
    char *thumbnail_url;
    int64_t view_count;  /* >= 0, checked by the parser */
    int64_t created_at;  /* Unix seconds */
    double duration_s;
    int64_t vod_offset;  /* seconds into the VOD, -1 when null */
    int is_featured;
};

/* A growable array of clips; zero-initialize before use. */
struct ca_clip_vec {
    struct ca_clip *v;
    size_t n;
    size_t cap;
};

struct ca_channel {
    char *id;
    char *login;
    char *display_name;
    int64_t follower_count; /* -1 until known */
};

/* Frees the strings of c and zeroes it. NULL-safe. */
void ca_clip_fini(struct ca_clip *c);

/* Appends *c to vec, taking ownership of its strings (c is zeroed).
 * Returns 0, or -1 when out of memory (c is unchanged). */
int ca_clip_vec_push(struct ca_clip_vec *vec, struct ca_clip *c);

/* Moves every clip of src to the end of dst (src becomes empty).
 * Returns 0, or -1 when out of memory (both unchanged). */
int ca_clip_vec_append(struct ca_clip_vec *dst, struct ca_clip_vec *src);

/* Index of the clip with this id in vec, or -1. Linear. */
long ca_clip_vec_find(const struct ca_clip_vec *vec, const char *id);

/* Frees every clip and the array; vec is left empty and reusable. */
void ca_clip_vec_fini(struct ca_clip_vec *vec);

void ca_channel_fini(struct ca_channel *ch);

/* strdup that maps NULL to "". Returns NULL only when out of memory. */
char *ca_strdup0(const char *s);

#endif /* CA_CLIP_H */
