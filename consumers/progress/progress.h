/*
 * progress.h -- clipbus-progress internals: the program's state and its
 * three outputs (render.c): bars redrawn in place on a terminal, plain
 * lines elsewhere, and a JSON snapshot file.
 */
#ifndef CBP_PROGRESS_H
#define CBP_PROGRESS_H

#include <stdint.h>
#include <stdio.h>

#include "inflight.h"
#include "runtime.h"
#include "sessions.h"

struct cbp_app {
    /* options */
    const char *json_path; /* NULL: no snapshot */
    char *json_last;       /* last snapshot written, without its time_ns */
    uint64_t json_last_ns; /* when (wall clock) */
    int logs;              /* 1: print log lines */
    int log_level;         /* lowest CB_LOG_* printed */
    int tty;               /* 1: bars redrawn in place */
    int color;             /* 1: ANSI colours (tty and no NO_COLOR) */
    uint64_t refresh_ns;   /* tty redraw period */
    uint64_t interval_ns;  /* plain: line period */
    FILE *out;

    /* state (worker thread) */
    struct cbc_rt *rt;
    struct cbp_sessions sessions;
    struct cbp_inflight inflight;
    uint64_t next_draw_ns, next_json_ns, next_scan_ns;
    int dirty;             /* something changed since the last draw */
    int drawn;             /* terminal rows the bars occupy now */
    int drawn_width;       /* terminal width they were drawn for */
    int drawn_len[256];    /* visible length of each drawn row */
    int bad_output;        /* stdout failed (EPIPE): stop writing */
};

/* Prints a line above the bars (a log line, a session's final line). On
 * a terminal the bars are cleared first and redrawn at the next draw. */
void cbp_out_line(struct cbp_app *a, const char *line);

/* Final line of a session that just ended (both modes). */
void cbp_out_ended(struct cbp_app *a, const struct cbp_session *s);

/* Terminal: clears and redraws the bars for every session still running
 * (and those ended in the last moment). */
void cbp_draw_bars(struct cbp_app *a, uint64_t now_ns);

/* Plain mode: one line per running session. */
void cbp_print_lines(struct cbp_app *a, uint64_t now_ns);

/* Writes the JSON snapshot (atomically: a temporary file, then rename),
 * unless nothing but the time changed since the last one, written less
 * than a minute ago (force: write anyway). Returns 0 or -errno (reported
 * once by the caller). */
int cbp_write_json(struct cbp_app *a, uint64_t now_ns, int force);

/* Leaves the terminal as it was: cursor shown, colours reset. */
void cbp_term_restore(struct cbp_app *a);

/* One session as a line of at most `width` columns (never wraps).
 * Returns the visible length. */
int cbp_format_bar(const struct cbp_app *a, const struct cbp_session *s,
                   uint64_t now_ns, int width, char *buf, size_t len);

#endif /* CBP_PROGRESS_H */
