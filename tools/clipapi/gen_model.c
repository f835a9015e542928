/*
 * gen_model.c: channels, clips and view-count growth of the synthetic
 * corpus. docs/clipapi.md explains the model; this file is its reference.
 *
 * Model in brief (times in seconds, T0 = start, t_k = T0 + k * interval):
 *   channel size   f = 100 * 50000^(q^2), q = stratified size quantile
 *   clip baseline  A = 20 + 0.05 * f^0.9   (final views, appeal 1)
 *   regular clip   E(t) = 1 + A * a * (1 - exp(-(t - c) / tau))
 *                  a ~ logN(0, 0.5), tau ~ 16 h * logN(0, 0.3)
 *   planted clip   E(t) += V * (1 - exp(-(t - o) / tau_v)) for t > o,
 *                  V = k * A * tau_v / 16 h, k ~ log-uniform [8, 30]:
 *                  at onset o it gains views k times as fast as a fresh
 *                  regular clip of appeal 1 of the same channel.
 *   observed       v_first = round(E * logN(0, 0.04)), then
 *                  v_k = v_{k-1} + round((E(t_k) - E(t_{k-1})) * logN(0, 0.15))
 */
#include "gen_model.h"
#include "prng.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Stream tags: one per kind of entity (prng.h). */
enum {
    TAG_PERM = 1,
    TAG_CHANNEL = 2,
    TAG_CLIP = 3,
    TAG_PLANT = 4,
    TAG_NOISE = 5,
};

#define HOUR 3600.0
#define DAY  86400.0

/* Channel sizes span 100 .. 5,000,000 followers. */
#define FOLLOWERS_MIN  100.0
#define FOLLOWERS_SPAN 50000.0
/* Typical saturation time of a clip's views. */
#define TAU_REF (16.0 * HOUR)
/* Regular clips are created up to a week before T0 ... */
#define HISTORY_S (7.0 * DAY)
/* ... and this share of them between the first and the last snapshot. */
#define NEW_CLIP_SHARE 0.12

int64_t
ca_corpus_snapshot_time(const struct ca_corpus *c, uint32_t k)
{
    return c->p.start_s + (int64_t)k * c->p.interval_s;
}

/* ---------------------------------------------------------------------
 * Channels
 * ------------------------------------------------------------------- */

/* A seeded permutation of 0..n-1 (Fisher-Yates): rank -> channel. */
static int
size_ranks(uint64_t seed, size_t n, size_t **out)
{
    struct ca_prng r;
    size_t *perm = malloc(n * sizeof(*perm));

    if (perm == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++)
        perm[i] = i;
    ca_prng_stream(&r, seed, TAG_PERM, 0);
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)ca_prng_below(&r, i);
        size_t t = perm[i - 1];
        perm[i - 1] = perm[j];
        perm[j] = t;
    }
    *out = perm;
    return 0;
}

static int
channel_name_taken(const struct ca_corpus *c, size_t upto, const char *id,
                   const char *login)
{
    for (size_t i = 0; i < upto; i++) {
        if (strcmp(c->ch[i].id, id) == 0 || strcmp(c->ch[i].login, login) == 0)
            return 1;
    }
    return 0;
}

/* Fills channel i whose size rank is `rank` (0 = smallest). */
static void
make_channel(struct ca_corpus *c, size_t i, size_t rank)
{
    struct ca_gen_channel *ch = &c->ch[i];
    struct ca_prng r;
    double q;

    ca_prng_stream(&r, c->p.seed, TAG_CHANNEL, i);
    /* Stratified quantile: one channel per size stratum, so every corpus
     * spans small to huge channels; squaring makes the tail heavy. */
    q = ((double)rank + ca_prng_unit(&r)) / (double)c->n_ch;
    ch->followers =
        (uint64_t)llround(FOLLOWERS_MIN * pow(FOLLOWERS_SPAN, q * q));
    ch->base_views = 20.0 + 0.05 * pow((double)ch->followers, 0.9);
    ch->tier = (int)(3 * rank / c->n_ch);
    do {
        ca_text_numeric_id(&r, 9, ch->id, sizeof(ch->id));
        ca_text_login(&r, ch->login, sizeof(ch->login));
    } while (channel_name_taken(c, i, ch->id, ch->login));
    memcpy(ch->display_name, ch->login, sizeof(ch->login));
    ch->display_name[0] = (char)(ch->display_name[0] - 'a' + 'A');
    memcpy(ch->lang, ca_text_lang(&r), 3);
    strcpy(ch->game_id, ca_text_game(&r));
    strcpy(ch->broadcaster_type, ch->followers >= 100000 ? "partner"
                                 : ch->followers >= 500  ? "affiliate"
                                                         : "");
    ch->created_s =
        c->p.start_s - (int64_t)(ca_prng_range(&r, 200, 3000) * DAY);
    /* Bigger channels have more clips: 0.4x .. 2x the mean, with noise, so
     * the largest channels need several pages. */
    double m = (0.4 + 1.6 * q) * ca_prng_lognormal(&r, 0.0, 0.25);
    double n = round((double)c->p.clips_per_channel * m);
    ch->n_clips = n < 1.0 ? 1 : (size_t)n;
}

/* ---------------------------------------------------------------------
 * Clips
 * ------------------------------------------------------------------- */

/* Fills the fields of clip i (clip j of channel chi) that do not depend on
 * it being planted. */
static void
make_clip(struct ca_corpus *c, size_t i, size_t chi, size_t j)
{
    const struct ca_gen_channel *ch = &c->ch[chi];
    struct ca_gen_clip *cl = &c->clips[i];
    double span = (double)(c->p.snapshots - 1) * (double)c->p.interval_s;
    struct ca_prng r;

    ca_prng_stream(&r, c->p.seed, TAG_CLIP, ((uint64_t)chi << 24) | j);
    cl->channel = chi;
    ca_text_slug(&r, (uint32_t)chi, (uint32_t)j, cl->id, sizeof(cl->id));
    ca_text_title(&r, cl->title, sizeof(cl->title));
    ca_text_numeric_id(&r, 9, cl->creator_id, sizeof(cl->creator_id));
    ca_text_login(&r, cl->creator_name, sizeof(cl->creator_name));
    strcpy(cl->game_id,
           ca_prng_unit(&r) < 0.8 ? ch->game_id : ca_text_game(&r));
    cl->appeal = ca_prng_lognormal(&r, 0.0, 0.5);
    cl->tau_s = TAU_REF * ca_prng_lognormal(&r, 0.0, 0.3);
    if (span > 0 && ca_prng_unit(&r) < NEW_CLIP_SHARE) {
        /* Created between snapshots: invisible in the earlier ones. */
        cl->created_s = c->p.start_s + 1 + (int64_t)(ca_prng_unit(&r) * span);
    } else {
        /* u^1.5 skews ages towards recent clips. */
        double age = HISTORY_S * pow(ca_prng_unit(&r), 1.5) + 0.2 * HOUR;
        cl->created_s = c->p.start_s - (int64_t)age;
    }
    cl->duration_s = round(ca_prng_range(&r, 5.0, 60.0) * 10.0) / 10.0;
    cl->featured = ca_prng_unit(&r) < 0.1;
    if (ca_prng_unit(&r) < 0.7) {
        ca_text_numeric_id(&r, 10, cl->video_id, sizeof(cl->video_id));
        cl->vod_offset = 60 + (int64_t)ca_prng_below(&r, 6 * 3600);
    } else {
        cl->video_id[0] = '\0';
        cl->vod_offset = -1;
    }
}

/* Turns clip i into a planted viral clip (see the file comment). */
static void
plant_clip(struct ca_corpus *c, size_t i, size_t n)
{
    struct ca_gen_clip *cl = &c->clips[i];
    struct ca_prng r;
    int64_t onset;

    ca_prng_stream(&r, c->p.seed, TAG_PLANT, n);
    cl->planted = 1;
    cl->appeal = 1.0;
    cl->tau_s = TAU_REF;
    cl->created_s = c->p.start_s - (int64_t)(ca_prng_range(&r, 2, 30) * HOUR);
    /* Log-uniform multiple in [8, 30]. */
    cl->viral_k = 8.0 * pow(30.0 / 8.0, ca_prng_unit(&r));
    cl->viral_tau_s = ca_prng_range(&r, 8, 16) * HOUR;
    onset = c->p.start_s - (int64_t)(ca_prng_range(&r, 0, 3) * HOUR);
    cl->onset_s = onset > cl->created_s ? onset : cl->created_s + 1800;
}

double
ca_clip_expected_views(const struct ca_corpus *c, size_t i, int64_t t)
{
    const struct ca_gen_clip *cl = &c->clips[i];
    double a = c->ch[cl->channel].base_views;
    double e;

    if (t < cl->created_s)
        return 0.0;
    e = 1.0 +
        a * cl->appeal * (1.0 - exp(-(double)(t - cl->created_s) / cl->tau_s));
    if (cl->planted && t > cl->onset_s) {
        double v = cl->viral_k * a * cl->viral_tau_s / TAU_REF;
        e += v * (1.0 - exp(-(double)(t - cl->onset_s) / cl->viral_tau_s));
    }
    return e;
}

/* Observed views of every clip at every snapshot. The first observation is
 * the expected count with 4 % noise; each later one adds the expected
 * increment with 15 % noise, so counts never decrease and an old, saturated
 * clip does not jump by a share of its total. */
static void
observe_views(struct ca_corpus *c)
{
    uint32_t s = c->p.snapshots;

    for (size_t i = 0; i < c->n_clips; i++) {
        double prev_e = 0.0;
        uint64_t prev = 0;

        for (uint32_t k = 0; k < s; k++) {
            int64_t t = ca_corpus_snapshot_time(c, k);
            double e = ca_clip_expected_views(c, i, t);
            uint64_t v = 0;
            struct ca_prng r;

            ca_prng_stream(&r, c->p.seed, TAG_NOISE + ((uint64_t)k << 8), i);
            if (e > 0.0 && prev == 0) {
                double first = round(e * ca_prng_lognormal(&r, 0.0, 0.04));
                v = first < 1.0 ? 1 : (uint64_t)first;
            } else if (e > 0.0) {
                double inc = (e - prev_e) * ca_prng_lognormal(&r, 0.0, 0.15);
                v = prev + (uint64_t)llround(inc > 0.0 ? inc : 0.0);
            }
            c->views[i * s + k] = v;
            prev = v;
            prev_e = e;
        }
    }
}

/* ---------------------------------------------------------------------
 * Planting and the whole corpus
 * ------------------------------------------------------------------- */

/* Picks p.planted channels, one clip each, cycling through the small,
 * medium and large tiers so that virality is not only a small-channel
 * effect. */
static int
plant_all(struct ca_corpus *c)
{
    struct ca_prng r;
    char *used = calloc(c->n_ch, 1);

    c->planted = calloc(c->p.planted ? c->p.planted : 1, sizeof(size_t));
    if (used == NULL || c->planted == NULL) {
        free(used);
        return -ENOMEM;
    }
    ca_prng_stream(&r, c->p.seed, TAG_PLANT, UINT32_MAX);
    for (uint32_t n = 0; n < c->p.planted; n++) {
        int tier = (int)(n % 3);
        size_t chi;

        /* Prefer an unused channel of the tier; any unused one otherwise
         * (p.planted <= channels is checked by the caller). */
        do {
            chi = (size_t)ca_prng_below(&r, c->n_ch);
        } while (used[chi] ||
                 (c->ch[chi].tier != tier && ca_prng_unit(&r) < 0.98));
        used[chi] = 1;
        size_t j = (size_t)ca_prng_below(&r, c->ch[chi].n_clips);
        size_t i = c->ch[chi].first_clip + j;
        plant_clip(c, i, n);
        c->planted[c->n_planted++] = i;
    }
    free(used);
    return 0;
}

int
ca_corpus_build(const struct ca_gen_params *p, struct ca_corpus *c)
{
    size_t *ranks = NULL;

    memset(c, 0, sizeof(*c));
    c->p = *p;
    c->n_ch = p->channels;
    c->ch = calloc(c->n_ch, sizeof(*c->ch));
    if (c->ch == NULL || size_ranks(p->seed, c->n_ch, &ranks) != 0)
        goto fail;
    for (size_t rank = 0; rank < c->n_ch; rank++)
        make_channel(c, ranks[rank], rank);
    for (size_t i = 0; i < c->n_ch; i++) {
        c->ch[i].first_clip = c->n_clips;
        c->n_clips += c->ch[i].n_clips;
    }
    c->clips = calloc(c->n_clips, sizeof(*c->clips));
    c->views = calloc(c->n_clips * p->snapshots, sizeof(*c->views));
    if (c->clips == NULL || c->views == NULL)
        goto fail;
    for (size_t chi = 0; chi < c->n_ch; chi++)
        for (size_t j = 0; j < c->ch[chi].n_clips; j++)
            make_clip(c, c->ch[chi].first_clip + j, chi, j);
    if (plant_all(c) != 0)
        goto fail;
    observe_views(c);
    free(ranks);
    return 0;
fail:
    free(ranks);
    ca_corpus_fini(c);
    return -ENOMEM;
}

void
ca_corpus_fini(struct ca_corpus *c)
{
    free(c->ch);
    free(c->clips);
    free(c->views);
    free(c->planted);
    memset(c, 0, sizeof(*c));
}
