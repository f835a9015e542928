/*
 * gen_write.c: writes a built corpus as files, in the layout an offline
 * (file://) reader of the Helix API walks:
 *
 *   DIR/corpus.json                          parameters, snapshots, channels,
 *                                            planted clip ids (ground truth)
 *   DIR/channels.txt                         one broadcaster id per line
 *   DIR/snap-KKK/clips/<id>/page-<n>.json    GET /helix/clips pages, n >= 1;
 *                                            "pagination":{"cursor":"page-<n+1>"}
 *                                            except on the last page ({})
 *   DIR/snap-KKK/users/<id>.json             GET /helix/users?id=<id>
 *   DIR/snap-KKK/followers/<id>.json         GET /helix/channels/followers
 *
 * Pages list a channel's clips in Helix order (view count descending; ties:
 * newest first, then id), only clips created at or before observed_at.
 * Output is byte-identical for equal parameters: insertion-ordered keys,
 * fixed real precision, no timestamps of the run.
 */
#include "gen_write.h"
#include "util.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Reals (clip durations) print as "30.1", not "30.100000000000001". */
#define PAGE_FLAGS (JSON_COMPACT | JSON_REAL_PRECISION(10))
#define META_FLAGS (JSON_INDENT(2) | JSON_REAL_PRECISION(10))

struct order {
    uint64_t views;
    int64_t created_s;
    const char *id;
    size_t clip;
};

static int
order_cmp(const void *a, const void *b)
{
    const struct order *x = a, *y = b;

    if (x->views != y->views)
        return x->views > y->views ? -1 : 1;
    if (x->created_s != y->created_s)
        return x->created_s > y->created_s ? -1 : 1;
    return strcmp(x->id, y->id);
}

/* Dumps root to path; prints a message naming the file on failure. Steals
 * the reference to root. */
static int
dump(json_t *root, const char *path, size_t flags)
{
    int rc = root == NULL ? -1 : json_dump_file(root, path, flags);

    if (rc != 0)
        fprintf(stderr, "clipapi-gen: cannot write %s: %s\n", path,
                root == NULL ? "out of memory" : strerror(errno));
    json_decref(root);
    return rc == 0 ? 0 : -1;
}

static json_t *
clip_json(const struct ca_corpus *c, size_t i, uint32_t k)
{
    const struct ca_gen_clip *cl = &c->clips[i];
    const struct ca_gen_channel *ch = &c->ch[cl->channel];
    char url[128], embed[128], thumb[192], created[32];

    snprintf(url, sizeof(url), "https://clips.twitch.tv/%s", cl->id);
    snprintf(embed, sizeof(embed), "https://clips.twitch.tv/embed?clip=%s",
             cl->id);
    snprintf(thumb, sizeof(thumb),
             "https://clips-media-assets2.twitch.tv/%s-preview-480x272.jpg",
             cl->id);
    ca_format_iso8601(cl->created_s, created, sizeof(created));
    return json_pack(
        "{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:s,"
        " s:s, s:f, s:o, s:b}",
        "id", cl->id, "url", url, "embed_url", embed, "broadcaster_id", ch->id,
        "broadcaster_name", ch->display_name, "creator_id", cl->creator_id,
        "creator_name", cl->creator_name, "video_id", cl->video_id, "game_id",
        cl->game_id, "language", ch->lang, "title", cl->title, "view_count",
        (json_int_t)c->views[i * c->p.snapshots + k], "created_at", created,
        "thumbnail_url", thumb, "duration", cl->duration_s, "vod_offset",
        cl->vod_offset < 0 ? json_null() : json_integer(cl->vod_offset),
        "is_featured", cl->featured);
}

/* Writes the clip pages of channel chi at snapshot k under snapdir. */
static int
write_pages(const struct ca_corpus *c, uint32_t k, size_t chi,
            const char *snapdir)
{
    const struct ca_gen_channel *ch = &c->ch[chi];
    int64_t t = ca_corpus_snapshot_time(c, k);
    struct order *o = calloc(ch->n_clips ? ch->n_clips : 1, sizeof(*o));
    size_t n = 0, page = 1;
    char dir[4200], path[4300];
    int rc = 0;

    snprintf(dir, sizeof(dir), "%s/clips/%s", snapdir, ch->id);
    if (o == NULL || ca_mkdir_p(dir) != 0) {
        fprintf(stderr, "clipapi-gen: cannot create %s: %s\n", dir,
                o == NULL ? "out of memory" : strerror(errno));
        free(o);
        return -1;
    }
    for (size_t j = 0; j < ch->n_clips; j++) {
        size_t i = ch->first_clip + j;
        if (c->clips[i].created_s <= t)
            o[n++] = (struct order){c->views[i * c->p.snapshots + k],
                                    c->clips[i].created_s, c->clips[i].id, i};
    }
    qsort(o, n, sizeof(*o), order_cmp);
    /* A channel without clips yet still has page 1, with empty data. */
    for (size_t at = 0; rc == 0 && (at < n || page == 1); page++) {
        json_t *data = json_array(), *pag = json_object();
        size_t end = at + c->p.page_size < n ? at + c->p.page_size : n;

        for (; at < end; at++)
            json_array_append_new(data, clip_json(c, o[at].clip, k));
        if (at < n) {
            char cursor[32];
            snprintf(cursor, sizeof(cursor), "page-%zu", page + 1);
            json_object_set_new(pag, "cursor", json_string(cursor));
        }
        snprintf(path, sizeof(path), "%s/page-%zu.json", dir, page);
        rc = dump(json_pack("{s:o, s:o}", "data", data, "pagination", pag),
                  path, PAGE_FLAGS);
    }
    free(o);
    return rc;
}

static int
write_user(const struct ca_corpus *c, size_t chi, const char *snapdir)
{
    const struct ca_gen_channel *ch = &c->ch[chi];
    char path[4200], created[32], desc[160], profile[192], offline[192];

    ca_format_iso8601(ch->created_s, created, sizeof(created));
    snprintf(desc, sizeof(desc), "%s streams in \"%s\" with %llu followers",
             ch->display_name, ch->lang, (unsigned long long)ch->followers);
    snprintf(profile, sizeof(profile),
             "https://static-cdn.jtvnw.net/jtv_user_pictures/"
             "%s-profile_image-300x300.png",
             ch->login);
    if (ch->followers >= 10000)
        snprintf(offline, sizeof(offline),
                 "https://static-cdn.jtvnw.net/jtv_user_pictures/"
                 "%s-channel_offline_image-1920x1080.png",
                 ch->login);
    else
        offline[0] = '\0';
    snprintf(path, sizeof(path), "%s/users/%s.json", snapdir, ch->id);
    return dump(json_pack("{s:[{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s,"
                          " s:i, s:s}]}",
                          "data", "id", ch->id, "login", ch->login,
                          "display_name", ch->display_name, "type", "",
                          "broadcaster_type", ch->broadcaster_type,
                          "description", desc, "profile_image_url", profile,
                          "offline_image_url", offline, "view_count", 0,
                          "created_at", created),
                path, PAGE_FLAGS);
}

static int
write_followers(const struct ca_corpus *c, size_t chi, const char *snapdir)
{
    char path[4200];

    snprintf(path, sizeof(path), "%s/followers/%s.json", snapdir,
             c->ch[chi].id);
    return dump(json_pack("{s:I, s:[], s:{}}", "total",
                          (json_int_t)c->ch[chi].followers, "data",
                          "pagination"),
                path, PAGE_FLAGS);
}

static int
write_snapshot(const struct ca_corpus *c, uint32_t k, const char *dir)
{
    char snapdir[4096], sub[4200];

    snprintf(snapdir, sizeof(snapdir), "%s/snap-%03u", dir, (unsigned)k);
    snprintf(sub, sizeof(sub), "%s/users", snapdir);
    int e1 = ca_mkdir_p(sub);
    snprintf(sub, sizeof(sub), "%s/followers", snapdir);
    int e2 = ca_mkdir_p(sub);
    if (e1 != 0 || e2 != 0) {
        fprintf(stderr, "clipapi-gen: cannot create %s: %s\n", sub,
                strerror(-(e1 ? e1 : e2)));
        return -1;
    }
    for (size_t chi = 0; chi < c->n_ch; chi++) {
        if (write_pages(c, k, chi, snapdir) != 0 ||
            write_user(c, chi, snapdir) != 0 ||
            write_followers(c, chi, snapdir) != 0)
            return -1;
    }
    return 0;
}

static json_t *
snapshots_json(const struct ca_corpus *c)
{
    json_t *a = json_array();
    char when[32];

    for (uint32_t k = 0; k < c->p.snapshots; k++) {
        ca_format_iso8601(ca_corpus_snapshot_time(c, k), when, sizeof(when));
        json_array_append_new(
            a, json_pack("{s:i, s:s}", "index", (int)k, "observed_at", when));
    }
    return a;
}

static json_t *
channels_json(const struct ca_corpus *c)
{
    json_t *a = json_array();

    for (size_t i = 0; i < c->n_ch; i++) {
        const struct ca_gen_channel *ch = &c->ch[i];
        json_array_append_new(a, json_pack("{s:s, s:s, s:s, s:I}", "id", ch->id,
                                           "login", ch->login, "display_name",
                                           ch->display_name, "follower_count",
                                           (json_int_t)ch->followers));
    }
    return a;
}

/* The planted ids, and for each the numbers behind it (for debugging a
 * ranking; readers need only "planted"). */
static void
planted_json(const struct ca_corpus *c, json_t **ids, json_t **detail)
{
    static const char *const tiers[] = {"small", "medium", "large"};
    char onset[32];

    *ids = json_array();
    *detail = json_array();
    for (size_t n = 0; n < c->n_planted; n++) {
        const struct ca_gen_clip *cl = &c->clips[c->planted[n]];
        const struct ca_gen_channel *ch = &c->ch[cl->channel];

        ca_format_iso8601(cl->onset_s, onset, sizeof(onset));
        json_array_append_new(*ids, json_string(cl->id));
        json_array_append_new(
            *detail,
            json_pack("{s:s, s:s, s:s, s:I, s:f, s:s}", "id", cl->id,
                      "broadcaster_id", ch->id, "channel_tier", tiers[ch->tier],
                      "follower_count", (json_int_t)ch->followers, "multiplier",
                      round(cl->viral_k * 100.0) / 100.0, "onset_at", onset));
    }
}

static int
write_meta(const struct ca_corpus *c, const char *dir)
{
    char path[4200], start[32];
    json_t *ids, *detail;
    FILE *f;

    ca_format_iso8601(c->p.start_s, start, sizeof(start));
    planted_json(c, &ids, &detail);
    snprintf(path, sizeof(path), "%s/corpus.json", dir);
    if (dump(json_pack("{s:I, s:s, s:I, s:i, s:I, s:o, s:o, s:o, s:o}", "seed",
                       (json_int_t)c->p.seed, "start", start, "interval_s",
                       (json_int_t)c->p.interval_s, "page_size",
                       (int)c->p.page_size, "clip_count",
                       (json_int_t)c->n_clips, "snapshots", snapshots_json(c),
                       "channels", channels_json(c), "planted", ids,
                       "planted_detail", detail),
             path, META_FLAGS) != 0)
        return -1;
    snprintf(path, sizeof(path), "%s/channels.txt", dir);
    f = fopen(path, "w");
    for (size_t i = 0; f != NULL && i < c->n_ch; i++)
        fprintf(f, "%s\n", c->ch[i].id);
    if (f == NULL || fclose(f) != 0) {
        fprintf(stderr, "clipapi-gen: cannot write %s: %s\n", path,
                strerror(errno));
        return -1;
    }
    return 0;
}

int
ca_corpus_write(const struct ca_corpus *c, const char *dir)
{
    for (uint32_t k = 0; k < c->p.snapshots; k++) {
        if (write_snapshot(c, k, dir) != 0)
            return -1;
    }
    return write_meta(c, dir);
}
