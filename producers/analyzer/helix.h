/*
 * helix.h -- parse Twitch Helix responses: clips pages, users, followers.
 *
 * The same parser serves HTTP bodies and file:// pages. A page either
 * parses whole or not at all: on failure nothing is appended. Inside a good
 * page, a clip with an absurd value (negative view count, a creation time
 * in the future, another broadcaster's clip, no id) is skipped and counted
 * in `bad`, with the first such problem described, because one bad record
 * should not cost the whole channel.
 *
 * Thread-safe (jansson is, for separate documents).
 */
#ifndef CA_HELIX_H
#define CA_HELIX_H

#include <stddef.h>
#include <stdint.h>

#include "clip.h"

/* Clips a page skipped as bad values, with the first problem in words. */
struct ca_bad_values {
    int count;
    char first[256];
};

/* Where a page came from and what it is checked against. */
struct ca_page_ctx {
    const char *channel;  /* broadcaster id the page was asked for */
    int page;             /* 0 for the first page */
    int64_t observed_at;  /* creation times after this (+ slack) are bad */
};

/* Slack for clocks: a clip may be created this many seconds "after" the
 * observation time before it counts as a date in the future. */
#define CA_FUTURE_SLACK_S 300

/* Parses a clips page (body of len bytes). On success returns CA_OK,
 * appends the good clips to *out, and sets *next_cursor to the cursor of
 * the next page (heap, caller frees) or NULL on the last page. On failure
 * returns CA_R_TRUNCATED, CA_R_BAD_JSON or CA_R_BAD_PAGE with a message in
 * err; *out and *next_cursor are unchanged. `bad` accumulates skipped
 * clips (may be NULL). */
int ca_helix_parse_clips(const char *body, size_t len,
                         const struct ca_page_ctx *ctx,
                         struct ca_clip_vec *out, char **next_cursor,
                         struct ca_bad_values *bad, char *err, size_t errsz);

/* Parses a users response for broadcaster `id` into ch->id, login and
 * display_name (replacing what was there). Returns CA_OK, a parse reason,
 * or CA_R_NO_CHANNEL when the response lists no such user. */
int ca_helix_parse_user(const char *body, size_t len, const char *id,
                        struct ca_channel *ch, char *err, size_t errsz);

/* Parses a followers response ({"total": N, ...}) into *total (>= 0).
 * Returns CA_OK or a parse reason. */
int ca_helix_parse_followers(const char *body, size_t len, int64_t *total,
                             char *err, size_t errsz);

#endif /* CA_HELIX_H */
