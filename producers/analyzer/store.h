/*
 * store.h -- the analyzer's own SQLite database of observations.
 *
 * Each run adds, for observation time T, one row per clip seen (clip id,
 * T, view count) and the channel's follower count at T, so runs one per
 * snapshot build view-count time series. Clip and channel metadata is
 * upserted. All writes of a run are one transaction: the database holds
 * either the whole run or none of it, and WAL keeps readers going.
 * This is the analyzer's data, separate from clipbus's monitoring log.
 *
 * A store is used by one thread at a time.
 */
#ifndef CA_STORE_H
#define CA_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "fetch.h"
#include "score.h"

struct ca_store;

/* Opens (creating if needed) the database at path and its schema.
 * Refuses a file that is not a clip-analyzer database or has a newer
 * schema. Returns 0, or a negative -errno with a message in err (*out
 * NULL).
 * Pair with ca_store_close(). */
int ca_store_open(const char *path, struct ca_store **out, char *err,
                  size_t errsz);
void ca_store_close(struct ca_store *s);

/* Saves the channels of res[0..n) that were fetched (reason CA_OK):
 * their metadata, follower counts at T and one observation per clip at T,
 * in one transaction. Returns the number of clips saved, or a negative
 * -errno with a message in err after rolling back. */
long ca_store_save(struct ca_store *s, int64_t observed_at,
                   const struct ca_channel_result *res, size_t n, char *err,
                   size_t errsz);

/* Loads, for each channel id in ids[0..n), every clip observed at T with
 * up to CA_SERIES_MAX observations at or before T (newest first) and the
 * follower count at T, appending to *out. Returns 0, or -1 with err. */
int ca_store_load(struct ca_store *s, int64_t observed_at,
                  const char *const *ids, size_t n, struct ca_item_vec *out,
                  char *err, size_t errsz);

/* Records one run (status "ok", "partial", "failed") in the runs table.
 * Returns 0 or a negative -errno with err. */
int ca_store_record_run(struct ca_store *s, int64_t observed_at,
                        int64_t started_at, const char *status,
                        int channels_ok, int channels_failed, long clips,
                        char *err, size_t errsz);

#endif /* CA_STORE_H */
