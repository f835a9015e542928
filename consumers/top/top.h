/*
 * top.h -- clipbus-top internals.
 *
 *   model.c   bus events -> what the views show: per-function calls,
 *             errors and latency histograms (agg.h: 1 s windows of record
 *             time, kept as two rotating halves of `span`), metrics,
 *             producers, sessions (consumers/progress/sessions.c), recent
 *             errors, in-flight calls, reader-status segments.
 *   view.c    the model -> tables (rows of cells with sort keys) -> a
 *             frame: lines of text fitted to a width and height, with
 *             columns dropped by priority, rows filtered and sorted. The
 *             same frame is printed by batch mode and drawn by curses.
 *   tui.c     ncurses: drawing a frame, keys, resize, restoring the
 *             terminal.
 *   json.c    --once --json / -b --json snapshots.
 *   main.c    options, config, the runtime sink.
 *
 * Everything runs on the runtime's worker thread.
 */
#ifndef CBT_TOP_H
#define CBT_TOP_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "agg.h"
#include "inflight.h"
#include "runtime.h"
#include "sessions.h"

#define TOP_PROG "clipbus-top"

/* Views. */
enum top_view { V_FUNCTIONS, V_SESSIONS, V_METRICS, V_CONSUMERS, V_ERRORS,
                V_COUNT };

/* ---- model -------------------------------------------------------------- */

/* Half of the display span: calls, errors and a histogram. */
struct top_half {
    uint64_t start_ns; /* first window's start (record time) */
    uint64_t calls, errors, aborted;
    int64_t sum;       /* counters */
    struct cb_hist *hist; /* functions and observed values */
};

/* One aggregation key (function or metric), indexed by its cb_agg id. */
struct top_key {
    int kind;                    /* CB_AGG_* */
    char name[96], labels[96];
    struct top_half cur, prev;
    uint64_t total_calls, total_errors;
    double g_last, g_min, g_max; /* gauges */
    uint64_t g_n;
    uint32_t inflight;           /* at the last scan */
    uint64_t longest_ns;
};

struct top_producer {
    uint32_t id, pid;
    char program[64];
    int state; /* CB_PRODUCER_ALIVE, _EXITED, _DEAD */
};

struct top_error {
    uint64_t wall_ns;
    uint32_t pid;
    int32_t code;
    char program[32], fn[64], msg[160];
};

struct top_consumer {
    uint32_t pid;
    char program[64], sink[64];
    uint64_t lag, lost, delivered, records_per_s, heartbeat_age_ms;
};

struct top_model {
    struct cbc_rt *rt;
    char bus[64];
    uint64_t span_ns;
    struct cb_agg *agg;
    struct top_key *keys;        /* by cb_agg key id */
    size_t nkeys, capkeys;
    int32_t *fn_key;             /* name handle -> key id + 1 (functions) */
    size_t nfn_key;
    struct top_producer *prods;
    size_t nprods, capprods;
    struct cbp_sessions sessions;
    struct cbp_inflight inflight;
    struct top_error *errors;    /* ring */
    size_t errs_cap, errs_n, errs_head;
    uint64_t errors_total;
    struct top_consumer consumers[64];
    size_t nconsumers;
    /* header figures, refreshed by top_model_refresh() */
    uint64_t now_ns, records_per_s, lost, handoff_lost;
    uint64_t last_delivered, last_refresh_ns;
    uint64_t records;            /* records behind the events seen */
    uint64_t oom;                /* adds refused for lack of memory */
    /* the display span: halves shared by every key */
    uint64_t cur_start_ns, prev_start_ns, watermark_ns;
};

int top_model_init(struct top_model *m, const char *bus, uint64_t span_ns,
                   size_t errors_cap, const struct cbp_sessions_opts *so);
void top_model_fini(struct top_model *m);
void top_model_event(struct top_model *m, const struct cbc_event *ev);
/* Closes windows up to now - 1 s, scans in-flight stacks and reader
 * status segments, computes the header figures. */
void top_model_refresh(struct top_model *m, uint64_t now_ns);

/* Per-key display figures over the span. */
struct top_fig {
    double calls_per_s, err_rate, rate_per_s;
    uint64_t calls, errors, p50, p95, p99;
};
void top_key_figures(struct top_model *m, struct top_key *k,
                     struct top_fig *out);

/* ---- tables and frames -------------------------------------------------- */

#define TOP_COLS_MAX 10
#define TOP_CELL     168

struct top_col {
    const char *title;
    int width;     /* columns; the first column is flexible (min width) */
    int prio;      /* lower: kept longer when the terminal is narrow */
    int right;     /* right-aligned */
};

struct top_row {
    char cell[TOP_COLS_MAX][TOP_CELL];
    double key[TOP_COLS_MAX]; /* sort values; NaN: sort by text */
    int attr;                 /* TOP_A_* */
};

struct top_table {
    const struct top_col *cols;
    int ncols;
    struct top_row *rows;
    size_t n, cap;
    const char *empty; /* text when there is no row at all */
};

#define TOP_A_NORMAL 0
#define TOP_A_TITLE  1 /* header lines: bold */
#define TOP_A_HEAD   2 /* table header: reverse video */
#define TOP_A_WARN   3 /* yellow: stalled, lagging */
#define TOP_A_BAD    4 /* red: errors, aborted, dead */
#define TOP_A_GOOD   5 /* green: ok */
#define TOP_A_DIM    6 /* ended, exited */

struct top_line {
    char text[512];
    int attr;
};

struct top_frame {
    struct top_line *lines;
    int n, cap;
};

/* What the user chose: view, sort column per view, order, filter. */
struct top_ui {
    int view;
    int sort_col[V_COUNT];
    int sort_asc[V_COUNT];
    char filter[64];
    int filtering;     /* 1 while typing a filter */
    int help;
    int paused;
    uint64_t refresh_ns;
};

/* Builds the tables of every view from the model (at each refresh; kept
 * while paused). */
void top_tables_build(struct top_model *m, struct top_table t[V_COUNT]);
void top_tables_free(struct top_table t[V_COUNT]);

/* Lays out header + the current view's table (or the help screen) in
 * width x height (height 0: every row, for batch mode). */
void top_frame_build(const struct top_model *m, struct top_table t[V_COUNT],
                     const struct top_ui *ui, int width, int height,
                     struct top_frame *f);
void top_frame_free(struct top_frame *f);

/* Column count of view v (for sort keys). */
int top_view_ncols(int v);
const char *top_view_name(int v);
int top_view_parse(const char *name);

/* ---- curses ------------------------------------------------------------- */

/* Returns 0, or -1 when the terminal cannot be used (message printed). */
int top_tui_begin(int color);
void top_tui_end(void);
void top_tui_draw(const struct top_frame *f);
void top_tui_size(int *w, int *h);
/* Handles pending keys; returns 1 if the screen must be redrawn, 2 to
 * quit. */
int top_tui_keys(struct top_ui *ui);

/* ---- JSON --------------------------------------------------------------- */
json_t *top_json(struct top_model *m);

/* Printable-ASCII copy of untrusted text ('?' for anything else). */
void top_safe(char *dst, size_t cap, const char *src, size_t len);

#endif /* CBT_TOP_H */
