/*
 * gen_model.h: the synthetic clip corpus of clipapi-gen, in memory.
 *
 * ca_corpus_build() turns the parameters into channels, clips and view
 * counts at every snapshot; gen_write.c writes them out as Helix pages. The
 * model (channel sizes, clip appeal, saturating growth, planted viral clips)
 * is described in docs/clipapi.md; the constants live in gen_model.c.
 *
 * Determinism: everything is drawn from per-entity streams of the seed
 * (prng.h), so equal parameters give an identical corpus.
 */
#ifndef CLIPAPI_GEN_MODEL_H
#define CLIPAPI_GEN_MODEL_H

#include <stddef.h>
#include <stdint.h>

struct ca_gen_params {
    uint64_t seed;
    uint32_t channels;
    uint32_t clips_per_channel; /* mean; larger channels get more */
    uint32_t snapshots;
    uint32_t planted;   /* at most one per channel */
    uint32_t page_size; /* clips per page, 1..100 */
    int64_t interval_s;
    int64_t start_s; /* observed_at of snapshot 0 */
};

struct ca_gen_channel {
    char id[16];
    char login[32];
    char display_name[32];
    char lang[4];
    char game_id[12];
    char broadcaster_type[12];
    uint64_t followers;
    double base_views; /* final views of a clip of appeal 1 */
    int64_t created_s;
    size_t first_clip; /* index into ca_corpus.clips */
    size_t n_clips;
    int tier; /* size tier: 0 small, 1 medium, 2 large (by rank) */
};

struct ca_gen_clip {
    char id[64];
    char title[192];
    char creator_id[16];
    char creator_name[32];
    char video_id[16];
    char game_id[12];
    size_t channel;
    int64_t created_s;
    int64_t vod_offset; /* -1: no VOD, written as null */
    double duration_s;
    double appeal;
    double tau_s; /* saturation time constant of the base curve */
    int featured;
    int planted;
    double viral_k; /* planted: velocity multiple at onset */
    double viral_tau_s;
    int64_t onset_s;
};

struct ca_corpus {
    struct ca_gen_params p;
    struct ca_gen_channel *ch;
    size_t n_ch;
    struct ca_gen_clip *clips;
    size_t n_clips;
    uint64_t *views; /* views[clip * snapshots + k]; 0 before creation */
    size_t *planted; /* clip indices, in planting order */
    size_t n_planted;
};

/* Builds the corpus of p into *c (caller's memory, zeroed by the call).
 * Returns 0, or -ENOMEM with *c empty. Pair with ca_corpus_fini(). */
int ca_corpus_build(const struct ca_gen_params *p, struct ca_corpus *c);

/* Frees what ca_corpus_build() allocated; safe on an empty corpus. */
void ca_corpus_fini(struct ca_corpus *c);

/* observed_at of snapshot k. */
int64_t ca_corpus_snapshot_time(const struct ca_corpus *c, uint32_t k);

/* Expected (noise-free) views of clip i at time t, >= 1 once created. */
double ca_clip_expected_views(const struct ca_corpus *c, size_t i, int64_t t);

/* ---- gen_text.c: names, titles and identifiers ---- */
struct ca_prng;

/* A lowercase Twitch-style login (4..25 chars of [a-z0-9_]). */
void ca_text_login(struct ca_prng *r, char *buf, size_t size);

/* A clip title; some contain non-ASCII UTF-8, quotes and backslashes. */
void ca_text_title(struct ca_prng *r, char *buf, size_t size);

/* A Twitch-style clip slug, unique for distinct (channel, clip) pairs. */
void ca_text_slug(struct ca_prng *r, uint32_t channel, uint32_t clip, char *buf,
                  size_t size);

/* A numeric id string of `digits` digits, first digit non-zero. */
void ca_text_numeric_id(struct ca_prng *r, int digits, char *buf, size_t size);

/* One of the game ids used by the corpus. */
const char *ca_text_game(struct ca_prng *r);

/* One of the language codes used by the corpus. */
const char *ca_text_lang(struct ca_prng *r);

#endif
