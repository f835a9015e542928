/*
 * helix.c -- Helix JSON (jansson) to clips and channels.
 *
 * The shape, per page (https://dev.twitch.tv/docs/api/reference/#get-clips):
 *   {"data":[{"id","url","embed_url","broadcaster_id","broadcaster_name",
 *             "creator_id","creator_name","video_id","game_id","language",
 *             "title","view_count","created_at","thumbnail_url","duration",
 *             "vod_offset","is_featured"}, ...],
 *    "pagination":{"cursor":"..."}}      -- {} on the last page
 * Only id, broadcaster_id, view_count and created_at are required of a
 * clip; other fields default to "" / 0 / null when absent or null.
 */
#include "helix.h"

#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "reason.h"
#include "timeutil.h"

/* View counts above this are absurd (the most viewed clip ever has about
 * 10^8): they come from a broken or hostile source. */
#define CA_MAX_VIEWS 100000000000LL

static void
set_err(char *err, size_t errsz, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
set_err(char *err, size_t errsz, const char *fmt, ...)
{
    if (err == NULL || errsz == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errsz, fmt, ap);
    va_end(ap);
}

/* 1 when a parse error is what a body cut short gives: jansson reports
 * the premature end, or, when the cut fell inside a token ("12.", "fal",
 * a backslash escape, a UTF-8 character), an invalid token at the very
 * end. A body that ends with a closing bracket was not cut inside a
 * token, so an error there (a trailing comma) is invalid JSON. */
static int
cut_short(const char *body, size_t len, const json_error_t *je)
{
    if (json_error_code(je) == json_error_premature_end_of_input)
        return 1;
    size_t end = len;
    while (end > 0 && (body[end - 1] == ' ' || body[end - 1] == '\n' ||
                       body[end - 1] == '\r' || body[end - 1] == '\t'))
        end--;
    if (end == 0 || body[end - 1] == '}' || body[end - 1] == ']')
        return 0;
    /* jansson's position is just past the offending token; a token is
     * cut at most a few bytes before the end ("\u12", "fals"). */
    return je->position >= 0 && (size_t)je->position + 8 >= len;
}

/* Loads a JSON document, telling a body that stops early (truncated) from
 * one that is not JSON at all. Returns the root or NULL with *reason set. */
static json_t *
load(const char *body, size_t len, int *reason, char *err, size_t errsz)
{
    json_error_t je;
    json_t *root = json_loadb(body ? body : "", body ? len : 0, 0, &je);
    if (root != NULL) {
        *reason = CA_OK;
        return root;
    }
    if (cut_short(body, len, &je)) {
        *reason = CA_R_TRUNCATED;
        set_err(err, errsz, "body ends early after %zu bytes (%s)", len,
                je.text);
    } else {
        *reason = CA_R_BAD_JSON;
        set_err(err, errsz, "invalid JSON at line %d column %d: %s", je.line,
                je.column, je.text);
    }
    return NULL;
}

/* A string member, or "" when missing, null or not a string. */
static const char *
str_field(json_t *obj, const char *key)
{
    const char *s = json_string_value(json_object_get(obj, key));
    return s ? s : "";
}

static void
note_bad(struct ca_bad_values *bad, const struct ca_page_ctx *ctx, long i,
         const char *id, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static void
note_bad(struct ca_bad_values *bad, const struct ca_page_ctx *ctx, long i,
         const char *id, const char *fmt, ...)
{
    if (bad == NULL)
        return;
    if (bad->count++ > 0)
        return;
    char what[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    snprintf(bad->first, sizeof bad->first,
             "channel %s page %d clip #%ld%s%s%s: %s", ctx->channel,
             ctx->page, i, *id ? " (" : "", id, *id ? ")" : "", what);
}

/* Checks the required values of one clip object. Returns 0 when usable,
 * else -1 after noting why in bad. */
static int
check_clip(json_t *c, const struct ca_page_ctx *ctx, long i,
           struct ca_bad_values *bad, int64_t *views, int64_t *created)
{
    if (!json_is_object(c)) {
        note_bad(bad, ctx, i, "", "not an object");
        return -1;
    }
    const char *id = str_field(c, "id");
    if (*id == '\0') {
        note_bad(bad, ctx, i, "", "no \"id\"");
        return -1;
    }
    const char *bid = str_field(c, "broadcaster_id");
    if (strcmp(bid, ctx->channel) != 0) {
        note_bad(bad, ctx, i, id, "broadcaster_id \"%s\" is not the channel",
                 bid);
        return -1;
    }
    json_t *vc = json_object_get(c, "view_count");
    double v = json_is_number(vc) ? json_number_value(vc) : NAN;
    if (!isfinite(v) || v != floor(v)) {
        note_bad(bad, ctx, i, id, "view_count is not a whole number");
        return -1;
    }
    if (v < 0) {
        note_bad(bad, ctx, i, id, "view_count %.0f is negative", v);
        return -1;
    }
    if (v > (double)CA_MAX_VIEWS) {
        note_bad(bad, ctx, i, id, "view_count %.0f is absurdly large", v);
        return -1;
    }
    const char *ca = str_field(c, "created_at");
    if (ca_time_parse(ca, created) != 0) {
        note_bad(bad, ctx, i, id, "created_at \"%.40s\" is not an ISO 8601 time",
                 ca);
        return -1;
    }
    if (*created > ctx->observed_at + CA_FUTURE_SLACK_S) {
        char when[32];
        note_bad(bad, ctx, i, id,
                 "created_at %s is in the future of the observation time %s",
                 ca, ca_time_format(ctx->observed_at, when, sizeof when));
        return -1;
    }
    *views = (int64_t)v;
    return 0;
}

/* Fills *out from a checked clip object. Returns 0 or -1 (no memory). */
static int
fill_clip(json_t *c, int64_t views, int64_t created, struct ca_clip *out)
{
    struct {
        char **dst;
        const char *key;
    } strs[] = {
        {&out->id, "id"},
        {&out->url, "url"},
        {&out->embed_url, "embed_url"},
        {&out->broadcaster_id, "broadcaster_id"},
        {&out->broadcaster_name, "broadcaster_name"},
        {&out->creator_id, "creator_id"},
        {&out->creator_name, "creator_name"},
        {&out->video_id, "video_id"},
        {&out->game_id, "game_id"},
        {&out->language, "language"},
        {&out->title, "title"},
        {&out->thumbnail_url, "thumbnail_url"},
    };
    memset(out, 0, sizeof *out);
    for (size_t k = 0; k < sizeof strs / sizeof strs[0]; k++) {
        *strs[k].dst = ca_strdup0(str_field(c, strs[k].key));
        if (*strs[k].dst == NULL) {
            ca_clip_fini(out);
            return -1;
        }
    }
    out->view_count = views;
    out->created_at = created;
    json_t *d = json_object_get(c, "duration");
    out->duration_s = json_is_number(d) ? json_number_value(d) : 0;
    if (!isfinite(out->duration_s) || out->duration_s < 0)
        out->duration_s = 0;
    json_t *vo = json_object_get(c, "vod_offset");
    out->vod_offset = json_is_integer(vo) && json_integer_value(vo) >= 0
                          ? (int64_t)json_integer_value(vo)
                          : -1;
    out->is_featured = json_is_true(json_object_get(c, "is_featured"));
    return 0;
}

/* The cursor of the next page: NULL when pagination is missing, {} or has
 * an empty cursor. Returns 0, or -1 with *reason when malformed. */
static int
next_cursor_of(json_t *root, char **cursor, char *err, size_t errsz)
{
    *cursor = NULL;
    json_t *pg = json_object_get(root, "pagination");
    if (pg == NULL || json_is_null(pg))
        return 0;
    if (!json_is_object(pg)) {
        set_err(err, errsz, "\"pagination\" is not an object");
        return -1;
    }
    json_t *cur = json_object_get(pg, "cursor");
    if (cur == NULL || json_is_null(cur))
        return 0;
    if (!json_is_string(cur)) {
        set_err(err, errsz, "\"pagination.cursor\" is not a string");
        return -1;
    }
    if (json_string_length(cur) == 0)
        return 0;
    if (json_string_length(cur) > 1024) {
        set_err(err, errsz, "\"pagination.cursor\" is over 1024 bytes");
        return -1;
    }
    *cursor = strdup(json_string_value(cur));
    return 0;
}

int
ca_helix_parse_clips(const char *body, size_t len,
                     const struct ca_page_ctx *ctx, struct ca_clip_vec *out,
                     char **next_cursor, struct ca_bad_values *bad,
                     char *err, size_t errsz)
{
    int reason;
    json_t *root = load(body, len, &reason, err, errsz);
    if (root == NULL)
        return reason;
    json_t *data = json_object_get(root, "data");
    struct ca_clip_vec page = {0};
    char *cursor = NULL;
    reason = CA_R_BAD_PAGE;
    if (!json_is_object(root)) {
        set_err(err, errsz, "top level is not an object");
        goto fail;
    }
    if (!json_is_array(data)) {
        set_err(err, errsz, "\"data\" is missing or not an array");
        goto fail;
    }
    if (next_cursor_of(root, &cursor, err, errsz) != 0)
        goto fail;
    size_t i;
    json_t *c;
    json_array_foreach(data, i, c) {
        int64_t views, created;
        if (check_clip(c, ctx, (long)i, bad, &views, &created) != 0)
            continue;
        struct ca_clip clip;
        if (fill_clip(c, views, created, &clip) != 0 ||
            ca_clip_vec_push(&page, &clip) != 0) {
            ca_clip_fini(&clip);
            set_err(err, errsz, "out of memory");
            goto fail;
        }
    }
    if (ca_clip_vec_append(out, &page) != 0) {
        set_err(err, errsz, "out of memory");
        goto fail;
    }
    ca_clip_vec_fini(&page);
    json_decref(root);
    *next_cursor = cursor;
    return CA_OK;
fail:
    free(cursor);
    ca_clip_vec_fini(&page);
    json_decref(root);
    return reason;
}

int
ca_helix_parse_user(const char *body, size_t len, const char *id,
                    struct ca_channel *ch, char *err, size_t errsz)
{
    int reason;
    json_t *root = load(body, len, &reason, err, errsz);
    if (root == NULL)
        return reason;
    json_t *data = json_object_get(root, "data");
    if (!json_is_object(root) || !json_is_array(data)) {
        set_err(err, errsz, "\"data\" is missing or not an array");
        json_decref(root);
        return CA_R_BAD_PAGE;
    }
    size_t i;
    json_t *u;
    json_array_foreach(data, i, u) {
        if (strcmp(str_field(u, "id"), id) != 0)
            continue;
        char *l = ca_strdup0(str_field(u, "login"));
        char *d = ca_strdup0(str_field(u, "display_name"));
        char *cid = ca_strdup0(id);
        json_decref(root);
        if (l == NULL || d == NULL || cid == NULL) {
            free(l);
            free(d);
            free(cid);
            set_err(err, errsz, "out of memory");
            return CA_R_BAD_PAGE;
        }
        free(ch->id);
        free(ch->login);
        free(ch->display_name);
        ch->id = cid;
        ch->login = l;
        ch->display_name = d;
        return CA_OK;
    }
    json_decref(root);
    set_err(err, errsz, "the API lists no user with id %s", id);
    return CA_R_NO_CHANNEL;
}

int
ca_helix_parse_followers(const char *body, size_t len, int64_t *total,
                         char *err, size_t errsz)
{
    int reason;
    json_t *root = load(body, len, &reason, err, errsz);
    if (root == NULL)
        return reason;
    json_t *t = json_object_get(root, "total");
    if (!json_is_integer(t) || json_integer_value(t) < 0) {
        set_err(err, errsz, "\"total\" is missing, negative or not an integer");
        json_decref(root);
        return CA_R_BAD_PAGE;
    }
    *total = (int64_t)json_integer_value(t);
    json_decref(root);
    return CA_OK;
}
