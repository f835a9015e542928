/*
 * report.h -- the ranking and the run summary: table, CSV or JSON.
 */
#ifndef CA_REPORT_H
#define CA_REPORT_H

#include <stdint.h>
#include <stdio.h>

#include "fetch.h"
#include "score.h"

enum ca_format { CA_FMT_TABLE, CA_FMT_CSV, CA_FMT_JSON };

/* "table", "csv", "json". */
const char *ca_format_name(enum ca_format fmt);

/* Parses a format name; returns 0, or -1 when unknown. */
int ca_format_parse(const char *s, enum ca_format *out);

/* What the run did, for the report's header and the JSON "run" object. */
struct ca_run_summary {
    int64_t observed_at;
    const char *status;                   /* "ok", "partial", "failed" */
    const struct ca_channel_result *res;  /* borrowed, n entries */
    size_t n;
    long clips_saved;
};

/* Totals over all channels of a run. */
struct ca_fetch_totals {
    int ok, failed;
    long requests, pages, clips, retries, bad_values, out_of_window;
    long failures[CA_R_COUNT];
    long failures_total;
};

void ca_fetch_totals_sum(const struct ca_channel_result *res, size_t n,
                         struct ca_fetch_totals *t);

/* Writes the ranking (the first `top` items, all when top <= 0) in `fmt`
 * to f. Returns 0, or -1 when writing failed (errno set by stdio). */
int ca_report_write(FILE *f, enum ca_format fmt,
                    const struct ca_run_summary *sum,
                    const struct ca_item_vec *items, int top);

/* Writes one line per failed channel, and per channel with skipped bad
 * values, to f (stderr): "clip-analyzer: channel 123 failed (timeout):
 * ...". */
void ca_report_problems(FILE *f, const struct ca_run_summary *sum);

#endif /* CA_REPORT_H */
