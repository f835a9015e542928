/*
 * clipbus-top -- the live terminal view of a bus (docs/clipbus-top.md):
 * producers, sessions, functions with rates, errors, latency percentiles
 * and in-flight calls, metrics, consumers' lag and loss, recent errors.
 *
 * A consumer-runtime sink. On the worker thread, at every tick (50 ms):
 * keys are read; once per refresh period the model is refreshed and the
 * tables rebuilt (not while paused); the frame is drawn when anything
 * changed. Batch mode (-b) prints frames as plain text instead and stops
 * after -n of them; --once --json prints one JSON snapshot.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <urcu.h>

#include <clipbus/clipbus.h>
#include <clipbus/reader.h>

#include "cli.h"
#include "config.h"
#include "sched_class.h"
#include "top.h"

#define NS 1000000000ull

struct cli {
    const char *bus, *config, *view;
    int batch, once, json, color, from, width;
    int sched; /* CBC_SCHED_*, or CBC_SCHED_UNSET */
    long frames;
    double delay_s;
};

struct app {
    struct cli c;
    struct top_model m;
    struct top_table tables[V_COUNT];
    struct top_frame frame;
    struct top_ui ui;
    uint64_t next_refresh_ns;
    long frames_done;
    int tui, built, quit;
};

/* clang-format off */
static void
usage(FILE *f)
{
    fprintf(f,
"Usage: clipbus-top [OPTIONS]\n"
"The live view of a clipbus bus: producers (alive, exited, dead), running\n"
"sessions with progress, records/s and total loss in the header; a table\n"
"of functions with calls/s, error rate, p50/p95/p99 latency, calls in\n"
"flight and the longest running one; metrics; every consumer's lag and\n"
"loss; recent errors.\n"
"\n"
"Keys: f s m c e (or Tab) switch views: functions, sessions, metrics,\n"
"consumers, errors; < > or 1-9 sort by a column, r reverses; / filters\n"
"rows by text (Esc clears); p or space pauses; h or ? help; q quits.\n"
"\n"
"Options:\n"
"  -d, --delay SECONDS  refresh period (default: config top.refresh, 1)\n"
"  -b, --batch          plain-text frames on stdout instead of the screen\n"
"  -n, --iterations N   with -b: stop after N frames (default: run on)\n"
"      --once           one frame (or with --json one snapshot) after one\n"
"                       refresh period, then exit\n"
"      --json           with --once or -b: JSON instead of text, one\n"
"                       object per frame (keys: docs/clipbus-top.md)\n"
"      --view NAME      first view: functions (default), sessions,\n"
"                       metrics, consumers, errors\n"
"      --width N        batch line width (default: $COLUMNS, else 132)\n"
"      --color WHEN     auto (default), always, never; NO_COLOR in the\n"
"                       environment always disables colour\n"
"      --bus NAME       the bus (default: config bus.name, $CLIPBUS_BUS,\n"
"                       else \"default\")\n"
"      --config PATH    configuration file (default: $CLIPBUS_CONFIG);\n"
"                       sections \"top\" and \"progress\", docs/config.md\n"
"      --from oldest|now  where to start reading each ring (oldest)\n"
"      --sched CLASS    CPU scheduling class: idle, batch or normal\n"
"                       (default: $CLIPBUS_SCHED, else normal for the\n"
"                       screen, consumer.sched (idle) with -b, --once)\n"
"  -h, --help           this text\n"
"\n"
"Exit status: 0 on q, SIGINT, SIGTERM or when -n/--once are done; 2 for\n"
"bad options or configuration, or no terminal without -b/--once; 1 when\n"
"the bus cannot be read. The terminal is restored in every case.\n"
"Examples: clipbus-top;  clipbus-top -b -n 3 -d 0.5;\n"
"          clipbus-top --once --json | jq '.functions[0]'\n");
}
/* clang-format on */

static int
bad(const char *opt, const char *val, const char *want)
{
    fprintf(stderr, TOP_PROG ": %s: '%s' is not %s; see " TOP_PROG
                             " --help\n",
            opt, val, want);
    return -1;
}

static int
parse_one(struct cli *c, int opt, const char *arg)
{
    char *end;
    errno = 0;
    switch (opt) {
    case 'd':
        c->delay_s = strtod(arg, &end);
        if (errno || end == arg || *end || !isfinite(c->delay_s) ||
            c->delay_s < 0.1 || c->delay_s > 3600)
            return bad("--delay", arg, "a number of seconds from 0.1 to 3600");
        return 0;
    case 'n':
        c->frames = strtol(arg, &end, 10);
        if (errno || end == arg || *end || c->frames < 1)
            return bad("--iterations", arg, "a whole number of at least 1");
        return 0;
    case 'w':
        c->width = (int)strtol(arg, &end, 10);
        if (errno || end == arg || *end || c->width < 20 || c->width > 500)
            return bad("--width", arg, "a width from 20 to 500");
        return 0;
    case 'b': c->batch = 1; return 0;
    case 'o': c->once = 1; return 0;
    case 'j': c->json = 1; return 0;
    case 'B': c->bus = arg; return 0;
    case 'C': c->config = arg; return 0;
    case 'v':
        c->view = arg;
        return top_view_parse(arg) < 0
                   ? bad("--view", arg,
                         "functions, sessions, metrics, consumers or errors")
                   : 0;
    case 'k':
        c->color = !strcmp(arg, "auto") ? -1 : !strcmp(arg, "always") ? 1
                   : !strcmp(arg, "never") ? 0 : -2;
        return c->color == -2 ? bad("--color", arg, "auto, always or never")
                              : 0;
    case 'F': return cbc_cli_from(TOP_PROG, arg, &c->from);
    case 'S': return cbc_cli_sched(TOP_PROG, arg, &c->sched);
    default: return -1;
    }
}

static int
parse_one_cb(void *c, int opt, const char *arg)
{
    return parse_one(c, opt, arg);
}

/* 0: run; 1: --help shown; 2: bad command line. */
static int
parse_cli(int argc, char **argv, struct cli *c)
{
    static const struct option lo[] = {
        {"delay", 1, NULL, 'd'}, {"batch", 0, NULL, 'b'},
        {"iterations", 1, NULL, 'n'}, {"once", 0, NULL, 'o'},
        {"json", 0, NULL, 'j'}, {"view", 1, NULL, 'v'},
        {"width", 1, NULL, 'w'}, {"color", 1, NULL, 'k'},
        {"bus", 1, NULL, 'B'}, {"config", 1, NULL, 'C'},
        {"from", 1, NULL, 'F'}, {"sched", 1, NULL, 'S'},
        {"help", 0, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    int rc;

    memset(c, 0, sizeof *c);
    c->color = -1;
    c->from = -1;
    c->sched = CBC_SCHED_UNSET;
    rc = cbc_cli_parse(TOP_PROG, argc, argv, "d:bn:h", lo, usage,
                       parse_one_cb, c);
    if (rc != 0)
        return rc;
    if (c->json && !c->once && !c->batch) {
        fprintf(stderr, TOP_PROG ": --json needs --once or -b\n");
        return 2;
    }
    return 0;
}

/* ---- the sink ----------------------------------------------------------- */

static int
sink_start(void *arg, struct cbc_rt *rt)
{
    struct app *a = arg;
    a->m.rt = rt;
    if (a->tui && top_tui_begin(a->c.color) < 0)
        return 1;
    return 0;
}

static void
sink_event(void *arg, const struct cbc_event *ev)
{
    top_model_event(&((struct app *)arg)->m, ev);
}

static void
print_frame(struct app *a)
{
    if (a->c.json) {
        json_t *j = top_json(&a->m);
        char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
        if (s != NULL)
            printf("%s\n", s);
        free(s);
        json_decref(j);
    } else {
        top_frame_build(&a->m, a->tables, &a->ui, a->c.width, 0, &a->frame);
        for (int i = 0; i < a->frame.n; i++)
            printf("%s\n", a->frame.lines[i].text);
        printf("\n");
    }
    if (fflush(stdout) != 0)
        a->quit = 1; /* a closed pipe: nothing more to say */
}

static void
draw(struct app *a)
{
    int w, h;
    top_tui_size(&w, &h);
    top_frame_build(&a->m, a->tables, &a->ui, w, h, &a->frame);
    top_tui_draw(&a->frame);
}

/* The tick of batch mode: nothing to answer, only frames to print, each
 * at most a quarter of the period late (50 ms to 250 ms). The screen
 * ticks every 50 ms for the keys. */
static uint32_t
batch_tick_ms(const struct app *a)
{
    uint64_t q = a->ui.refresh_ns / 4000000u;

    return q < 50 ? 50 : q > 250 ? 250 : (uint32_t)q;
}

/* While no producer runs: half a period (at most 1 s), so that a frame is
 * printed in each period still, at most half a period late. */
static uint32_t
idle_tick_ms(const struct app *a)
{
    uint64_t h = a->ui.refresh_ns / 2000000u;
    uint32_t t = batch_tick_ms(a);

    return h < t ? t : h > 1000 ? 1000 : (uint32_t)h;
}

static void
sink_tick(void *arg, uint64_t now)
{
    struct app *a = arg;
    int redraw = 0;

    if (a->quit)
        return;
    if (a->next_refresh_ns == 1) { /* batch: first frame one period on */
        top_model_refresh(&a->m, now);
        a->next_refresh_ns = now + a->ui.refresh_ns;
        return;
    }
    if (a->tui) {
        int k = top_tui_keys(&a->ui);
        if (k == 2) {
            a->quit = 1;
            cbc_rt_stop(a->m.rt);
            return;
        }
        redraw = k;
    }
    if (now >= a->next_refresh_ns) {
        /* On the period's cadence, not from this tick: a tick a little
         * late does not make every later frame late too. */
        a->next_refresh_ns += a->ui.refresh_ns;
        if (a->next_refresh_ns <= now)
            a->next_refresh_ns = now + a->ui.refresh_ns;
        if (!a->ui.paused || !a->built) {
            top_model_refresh(&a->m, now);
            top_tables_build(&a->m, a->tables);
            a->built = 1;
        }
        redraw = 1;
        if (!a->tui) {
            print_frame(a);
            if (++a->frames_done >= a->c.frames && a->c.frames > 0)
                a->quit = 1;
            if (a->quit)
                cbc_rt_stop(a->m.rt);
            return;
        }
    }
    if (redraw && a->built)
        draw(a);
}

static void
sink_stop(void *arg)
{
    struct app *a = arg;
    if (a->tui)
        top_tui_end();
}

/* ---- main --------------------------------------------------------------- */

static int
setup(struct app *a, char *bus, size_t bus_len, struct cbc_bus_config *bc,
      struct cbc_consumer_config *cc)
{
    struct cbc_top_config tc;
    struct cbc_progress_config pc;
    const char *nc = getenv("NO_COLOR");
    int err = 0;

    rcu_register_thread();
    rcu_read_lock();
    const struct cbc_config *cfg = cbc_config_current();
    tc = cfg->top;
    pc = cfg->progress;
    *bc = cfg->bus;
    *cc = cfg->consumer;
    snprintf(bus, bus_len, "%s", a->c.bus ? a->c.bus
                                 : cfg->bus.name ? cfg->bus.name : "");
    int view = top_view_parse(a->c.view ? a->c.view : tc.view);
    rcu_read_unlock();
    rcu_unregister_thread();

    const char *resolved = cb_bus_name_resolve(bus[0] ? bus : NULL, &err);
    if (resolved == NULL) {
        fprintf(stderr, TOP_PROG ": bus name '%s': %s\n", bus,
                cb_strerror(err));
        return -1;
    }
    /* resolved is `bus` itself when a name was given: copying it onto
     * itself with snprintf is undefined (glibc made it empty, and the view
     * silently read $CLIPBUS_BUS or "default" instead). */
    if (resolved != bus)
        snprintf(bus, bus_len, "%s", resolved);
    if (a->c.color == -1)
        a->c.color = tc.color == CBC_TOP_COLOR_NEVER ? 0 : 1;
    if (nc != NULL && nc[0] != '\0')
        a->c.color = 0;
    a->ui.view = view < 0 ? V_FUNCTIONS : view;
    a->ui.refresh_ns = a->c.delay_s > 0 ? (uint64_t)(a->c.delay_s * 1e9)
                                        : tc.refresh_ns;
    for (int v = 0; v < V_COUNT; v++) {
        a->ui.sort_col[v] = v == V_FUNCTIONS ? 1 : v == V_SESSIONS ? 3 : 0;
        a->ui.sort_asc[v] = v == V_METRICS || v == V_CONSUMERS;
    }
    struct cbp_sessions_opts so = {
        .eta = {.kind = pc.eta, .tau_ns = pc.tau_ns,
                .window_ns = pc.window_ns, .warmup_ns = pc.warmup_ns},
        .stall_ns = pc.stall_ns, .long_call_ns = pc.long_call_ns,
        .keep_ended_ns = pc.keep_ended_ns};
    if (top_model_init(&a->m, bus, tc.span_ns, (size_t)tc.errors, &so) < 0) {
        fprintf(stderr, TOP_PROG ": out of memory\n");
        return -1;
    }
    if (a->c.once)
        a->c.frames = 1;
    if (a->c.width == 0) {
        const char *cols = getenv("COLUMNS");
        a->c.width = cols && atoi(cols) >= 20 && atoi(cols) <= 500 ? atoi(cols)
                                                                 : 132;
    }
    /* The first frame after one period, so there is something to show. */
    a->next_refresh_ns = 0;
    return 0;
}

int
main(int argc, char **argv)
{
    static struct app a;
    struct cbc_bus_config bc;
    char bus[64];
    struct cbc_consumer_config cc;
    int rc = parse_cli(argc, argv, &a.c);

    if (rc != 0)
        return rc == 1 ? 0 : 2;
    a.tui = !a.c.batch && !a.c.once;
    if (a.tui && (!isatty(STDOUT_FILENO) || !isatty(STDIN_FILENO))) {
        fprintf(stderr, TOP_PROG ": not on a terminal; use -b for text "
                                 "frames or --once --json for a snapshot\n");
        return 2;
    }
    if (cbc_config_init(TOP_PROG, a.c.config) < 0)
        return CBC_CONFIG_EXIT;
    if (setup(&a, bus, sizeof bus, &bc, &cc) < 0) {
        cbc_config_fini();
        return 2;
    }
    if (!a.tui) /* batch: wait one period before the first frame */
        a.next_refresh_ns = 1; /* set for real at the first tick */
    struct cbc_rt_opts ro = {.program = TOP_PROG,
                             .bus = bus,
                             .grace_s = (uint32_t)(bc.grace_ns / NS),
                             .from = a.c.from >= 0 ? a.c.from : bc.from,
                             .tick_ms = a.tui ? 50 : batch_tick_ms(&a),
                             /* Batch frames keep their cadence within
                              * half a period while nothing runs. */
                             .idle_tick_ms = a.tui ? 0 : idle_tick_ms(&a),
                             /* The screen answers a person's keys: a
                              * normal task unless told (sched_class.h). */
                             .sched = cbc_sched_resolve(
                                 TOP_PROG, a.c.sched,
                                 a.tui ? CBC_SCHED_NORMAL : cc.sched)};
    cbc_rt_opts_consumer(&ro, &cc);
    if (ro.sched < 0) {
        top_model_fini(&a.m);
        cbc_config_fini();
        return 2;
    }
    struct cbc_sink sink = {.arg = &a, .start = sink_start,
                            .event = sink_event, .tick = sink_tick,
                            .stop = sink_stop};
    rc = cbc_rt_run(&ro, &sink);
    top_tui_end();
    top_frame_free(&a.frame);
    top_tables_free(a.tables);
    top_model_fini(&a.m);
    cbc_config_fini();
    if (rc < 0) {
        fprintf(stderr, TOP_PROG ": cannot read bus '%s': %s\n", bus,
                cb_strerror(rc));
        return 1;
    }
    return rc == 1 ? 2 : rc;
}
