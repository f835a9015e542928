/*
 * clipbus-progress -- live progress bars with rate and ETA for every
 * session on a bus (Req 1.4; docs/clipbus-progress.md).
 *
 * A consumer-runtime sink: the worker thread feeds session events into
 * the session table (sessions.c), scans the producers' in-flight stacks
 * once a second for calls running long (inflight.c), and draws
 * (render.c): bars redrawn in place when stdout is a terminal, one plain
 * line per running session every --interval otherwise, and a JSON
 * snapshot with --json.
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

#include "cli.h"
#include "config.h"
#include "progress.h"
#include "sched_class.h"

#define PROG "clipbus-progress"
#define NS   1000000000ull

struct cli {
    const char *bus, *config, *json, *eta;
    int logs, log_level, plain, color; /* color: -1 auto, 0 never, 1 */
    double interval_s, until_idle_s;
    int from;                          /* -1: config */
    int sched;                         /* CBC_SCHED_*, or UNSET */
};

/* clang-format off */
static void
usage(FILE *f)
{
    fprintf(f,
"Usage: clipbus-progress [OPTIONS]\n"
"Show one progress bar per running session of every producer on a bus:\n"
"session name, program and pid, weighted completion (nested steps roll up\n"
"into their parent), current step, items/s, elapsed time and ETA.\n"
"Sessions that end print a final line with their status and duration;\n"
"sessions of a producer that died show ABORTED; sessions without progress\n"
"for progress.stall_after, or whose producer has a call in flight for\n"
"progress.long_call, show STALLED and why.\n"
"\n"
"On a terminal the bars are redrawn in place; elsewhere (a pipe, a file)\n"
"one line per running session is printed every --interval seconds.\n"
"\n"
"Options:\n"
"  --bus NAME          the bus (default: config bus.name, $CLIPBUS_BUS,\n"
"                      else \"default\")\n"
"  --config PATH       configuration file (default: $CLIPBUS_CONFIG);\n"
"                      section \"progress\", see docs/config.md\n"
"  --eta ema|mean|window\n"
"                      rate estimator of the ETA (default: config, \"ema\":\n"
"                      a moving average over time with time constant\n"
"                      progress.tau = 10s; within 5%% of a new pace after\n"
"                      3 tau); the ETA says \"unknown\" until there is\n"
"                      progress and progress.warmup (1s) has passed\n"
"  --logs[=LEVEL]      also print the bus's log lines above the bars, at\n"
"                      LEVEL or above: debug, info (default), warn, error\n"
"  --json FILE         keep a JSON snapshot of every session in FILE\n"
"                      (rewritten atomically once a second and at exit;\n"
"                      once a minute while only the time changes)\n"
"  --interval SECONDS  without a terminal: line period (default: config,\n"
"                      10)\n"
"  --plain             plain lines even on a terminal\n"
"  --color WHEN        auto (default), always, never; NO_COLOR in the\n"
"                      environment always disables colour\n"
"  --from oldest|now   read each ring from its oldest record (default) or\n"
"                      only what producers publish from now on\n"
"  --until-idle SECONDS\n"
"                      exit once every producer seen has ended and no new\n"
"                      one appeared for this long (scripts, tests)\n"
"  --sched CLASS       CPU scheduling class: idle, batch or normal\n"
"                      (default: $CLIPBUS_SCHED, else normal for bars\n"
"                      on a terminal, else consumer.sched: idle)\n"
"  -h, --help          this text\n"
"\n"
"Exit status: 0 on SIGINT, SIGTERM or --until-idle; 2 for bad options or\n"
"configuration; 1 when the bus cannot be read.\n"
"Example: clip-analyzer ... & clipbus-progress --logs=warn --json p.json\n");
}
/* clang-format on */

static int
parse_level(const char *s)
{
    if (s == NULL || strcmp(s, "info") == 0)
        return CB_LOG_INFO;
    if (strcmp(s, "debug") == 0)
        return CB_LOG_DEBUG;
    if (strcmp(s, "warn") == 0)
        return CB_LOG_WARN;
    if (strcmp(s, "error") == 0)
        return CB_LOG_ERROR;
    return -1;
}

static int
parse_secs(const char *opt, const char *s, double lo, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno != 0 || end == s || *end != '\0' || !isfinite(v) || v < lo ||
        v > 86400) {
        fprintf(stderr,
                PROG ": %s: '%s' is not a number of seconds between %g and "
                     "86400\n",
                opt, s, lo);
        return -1;
    }
    *out = v;
    return 0;
}

enum { O_BUS = 256, O_CONFIG, O_ETA, O_LOGS, O_JSON, O_INTERVAL, O_PLAIN,
       O_COLOR, O_FROM, O_IDLE, O_SCHED };

static int
parse_one(struct cli *c, int opt, const char *arg)
{
    switch (opt) {
    case O_BUS: c->bus = arg; return 0;
    case O_CONFIG: c->config = arg; return 0;
    case O_JSON: c->json = arg; return 0;
    case O_PLAIN: c->plain = 1; return 0;
    case O_ETA:
        c->eta = arg;
        if (cbp_eta_kind_parse(arg) >= 0)
            return 0;
        fprintf(stderr, PROG ": --eta: '%s' is not ema, mean or window\n", arg);
        return -1;
    case O_LOGS:
        c->logs = 1;
        if ((c->log_level = parse_level(arg)) >= 0)
            return 0;
        fprintf(stderr, PROG ": --logs: '%s' is not debug, info, warn or "
                        "error\n", arg);
        return -1;
    case O_INTERVAL: return parse_secs("--interval", arg, 0.1, &c->interval_s);
    case O_IDLE: return parse_secs("--until-idle", arg, 0.01, &c->until_idle_s);
    case O_COLOR:
        c->color = strcmp(arg, "always") == 0  ? 1
                   : strcmp(arg, "never") == 0 ? 0
                   : strcmp(arg, "auto") == 0  ? -1 : -2;
        if (c->color != -2)
            return 0;
        fprintf(stderr, PROG ": --color: '%s' is not auto, always or never\n",
                arg);
        return -1;
    case O_FROM: return cbc_cli_from(PROG, arg, &c->from);
    case O_SCHED: return cbc_cli_sched(PROG, arg, &c->sched);
    default: return -1;
    }
}

static int
parse_one_cb(void *c, int opt, const char *arg)
{
    return parse_one(c, opt, arg);
}

/* Returns 0 to run, 1 after --help, 2 on a bad command line. */
static int
parse_cli(int argc, char **argv, struct cli *c)
{
    static const struct option lo[] = {
        {"bus", required_argument, NULL, O_BUS},
        {"config", required_argument, NULL, O_CONFIG},
        {"eta", required_argument, NULL, O_ETA},
        {"logs", optional_argument, NULL, O_LOGS},
        {"json", required_argument, NULL, O_JSON},
        {"interval", required_argument, NULL, O_INTERVAL},
        {"plain", no_argument, NULL, O_PLAIN},
        {"color", required_argument, NULL, O_COLOR},
        {"from", required_argument, NULL, O_FROM},
        {"until-idle", required_argument, NULL, O_IDLE},
        {"sched", required_argument, NULL, O_SCHED},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };

    memset(c, 0, sizeof *c);
    c->color = -1;
    c->from = -1;
    c->sched = CBC_SCHED_UNSET;
    return cbc_cli_parse(PROG, argc, argv, "h", lo, usage, parse_one_cb, c);
}

/* ---- the sink ----------------------------------------------------------- */

static uint64_t
wall_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * NS + (uint64_t)ts.tv_nsec;
}

static int
sink_start(void *arg, struct cbc_rt *rt)
{
    struct cbp_app *a = arg;
    a->rt = rt;
    if (a->tty)
        fputs("\x1b[?25l", a->out); /* cursor hidden while drawing */
    return 0;
}

static void
on_log(struct cbp_app *a, const struct cbc_event *ev)
{
    static const char *const lv[] = {"DEBUG", "INFO", "WARN", "ERROR"};
    const struct cbc_producer *p = cbc_rt_producer(a->rt, ev->producer);
    struct cb_field f;
    size_t off = 0;
    char line[1400], msg[1100];
    int li = ev->status / 10 - 1;

    if (!a->logs || ev->status < a->log_level)
        return;
    msg[0] = '\0';
    while (cb_field_next(ev->data, ev->data_len, &off, &f) == 1)
        if (f.type == CB_FIELD_STR && f.name_id == 0) {
            size_t n = f.s_len < sizeof msg - 1 ? f.s_len : sizeof msg - 1;
            for (size_t i = 0; i < n; i++) /* untrusted: no escapes */
                msg[i] = (unsigned char)f.s[i] >= 0x20 &&
                                 (unsigned char)f.s[i] < 0x7f
                             ? f.s[i]
                             : '?';
            msg[n] = '\0';
            break;
        }
    snprintf(line, sizeof line, "log %-5s %s/%u: %s",
             li >= 0 && li < 4 ? lv[li] : "?", p ? p->program : "?",
             p ? p->pid : 0, msg);
    cbp_out_line(a, line);
}

static void
sink_event(void *arg, const struct cbc_event *ev)
{
    struct cbp_app *a = arg;
    const struct cbc_producer *p;

    switch (ev->type) {
    case CBC_EV_PRODUCER_NEW:
        p = cbc_rt_producer(a->rt, ev->producer);
        if (p != NULL)
            cbp_inflight_attach(&a->inflight, p->id, p->shm_name);
        return;
    case CBC_EV_PRODUCER_EXIT:
    case CBC_EV_PRODUCER_DIED:
        cbp_inflight_detach(&a->inflight, ev->producer);
        return;
    case CBC_EV_RECORD:
        if (ev->kind == CB_KIND_LOG) {
            on_log(a, ev);
            return;
        }
        break;
    case CBC_EV_SESSION_ABORTED:
        break;
    default:
        return;
    }
    struct cbp_session *s = cbp_sessions_event(
        &a->sessions, ev, cbc_name(a->rt, ev->name),
        cbc_rt_producer(a->rt, ev->producer));
    if (s == NULL)
        return;
    a->dirty = 1;
    if (s->state != CBP_RUNNING)
        cbp_out_ended(a, s);
}

static void
on_inflight(void *arg, uint32_t producer, const char *fn, uint64_t dur)
{
    cbp_sessions_long_call(arg, producer, fn, dur);
}

/* Once a second: the longest in-flight call of each attached producer. */
static void
scan_inflight(struct cbp_app *a)
{
    cbp_sessions_long_call_reset(&a->sessions);
    cbp_inflight_scan(&a->inflight, on_inflight, &a->sessions);
}

static void
sink_tick(void *arg, uint64_t now)
{
    struct cbp_app *a = arg;

    if (now >= a->next_scan_ns) {
        scan_inflight(a);
        a->next_scan_ns = now + NS;
    }
    cbp_sessions_tick(&a->sessions, now);
    if (now >= a->next_draw_ns) {
        if (a->tty)
            cbp_draw_bars(a, now);
        else
            cbp_print_lines(a, now);
        a->next_draw_ns = now + (a->tty ? a->refresh_ns : a->interval_ns);
    }
    if (a->json_path != NULL && now >= a->next_json_ns) {
        int rc = cbp_write_json(a, now, 0);
        if (rc < 0 && a->next_json_ns != UINT64_MAX)
            fprintf(stderr, PROG ": cannot write %s: %s\n", a->json_path,
                    strerror(-rc));
        a->next_json_ns = rc < 0 ? UINT64_MAX : now + NS;
    }
}

static void
sink_stop(void *arg)
{
    struct cbp_app *a = arg;
    uint64_t now = wall_now();

    cbp_sessions_tick(&a->sessions, now);
    if (a->tty)
        cbp_draw_bars(a, now);
    if (a->json_path != NULL && cbp_write_json(a, now, 1) < 0)
        fprintf(stderr, PROG ": cannot write %s\n", a->json_path);
    cbp_term_restore(a);
}

/* ---- main --------------------------------------------------------------- */

/* Copies what the program needs from the current config. */
static void
read_config(struct cbc_progress_config *pc, struct cbc_bus_config *bc,
            struct cbc_consumer_config *cc, char *bus, size_t bus_len)
{
    rcu_register_thread();
    rcu_read_lock();
    const struct cbc_config *cfg = cbc_config_current();
    *pc = cfg->progress;
    *bc = cfg->bus;
    *cc = cfg->consumer;
    snprintf(bus, bus_len, "%s", cfg->bus.name ? cfg->bus.name : "");
    rcu_read_unlock();
    rcu_unregister_thread();
}

static void
setup_app(struct cbp_app *a, const struct cli *c,
          const struct cbc_progress_config *pc)
{
    struct cbp_sessions_opts so = {
        .eta = {.kind = c->eta ? cbp_eta_kind_parse(c->eta) : pc->eta,
                .tau_ns = pc->tau_ns,
                .window_ns = pc->window_ns,
                .warmup_ns = pc->warmup_ns},
        .stall_ns = pc->stall_ns,
        .long_call_ns = pc->long_call_ns,
        .keep_ended_ns = pc->keep_ended_ns,
    };
    const char *nc = getenv("NO_COLOR");

    memset(a, 0, sizeof *a);
    a->out = stdout;
    a->json_path = c->json;
    a->logs = c->logs;
    a->log_level = c->log_level;
    a->tty = !c->plain && isatty(STDOUT_FILENO);
    a->color = a->tty && c->color != 0 && !(nc != NULL && nc[0] != '\0');
    a->refresh_ns = pc->refresh_ns;
    a->interval_ns = c->interval_s > 0 ? (uint64_t)(c->interval_s * 1e9)
                                       : pc->interval_ns;
    cbp_sessions_init(&a->sessions, &so);
    cbp_inflight_init(&a->inflight);
}

int
main(int argc, char **argv)
{
    struct cli c;
    struct cbp_app a;
    struct cbc_progress_config pc;
    struct cbc_bus_config bc;
    char cfg_bus[64];
    struct cbc_consumer_config cc;
    int rc = parse_cli(argc, argv, &c);

    if (rc != 0)
        return rc == 1 ? 0 : 2;
    if (cbc_config_init(PROG, c.config) < 0)
        return CBC_CONFIG_EXIT;
    read_config(&pc, &bc, &cc, cfg_bus, sizeof cfg_bus);
    setup_app(&a, &c, &pc);

    struct cbc_rt_opts ro = {
        .program = PROG,
        .bus = c.bus ? c.bus : (cfg_bus[0] ? cfg_bus : NULL),
        .grace_s = (uint32_t)(bc.grace_ns / NS),
        .from = c.from >= 0 ? c.from : bc.from,
        /* Bars on a terminal move smoothly at 20 frames a second. Plain
         * lines and the JSON snapshot are written every few seconds and
         * every second: a quarter second is time enough, and a quarter
         * of the wake-ups. */
        .tick_ms = a.tty ? 50 : 250,
        /* Plain lines and the JSON snapshot: once a second is enough
         * while no producer runs (bars keep their frames). */
        .idle_tick_ms = a.tty ? 0 : 1000,
        .exit_idle_ms = (uint32_t)(c.until_idle_s * 1000),
        /* Bars redrawn on a terminal are a screen a person is watching:
         * a normal task, unless told otherwise (sched_class.h). */
        .sched = cbc_sched_resolve(PROG, c.sched,
                                   a.tty ? CBC_SCHED_NORMAL : cc.sched),
    };
    cbc_rt_opts_consumer(&ro, &cc);
    if (ro.sched < 0) {
        cbp_inflight_fini(&a.inflight);
        cbp_sessions_fini(&a.sessions);
        free(a.json_last);
        cbc_config_fini();
        return 2;
    }
    struct cbc_sink sink = {.arg = &a,
                            .start = sink_start,
                            .event = sink_event,
                            .tick = sink_tick,
                            .stop = sink_stop};
    rc = cbc_rt_run(&ro, &sink);
    cbp_inflight_fini(&a.inflight);
    cbp_sessions_fini(&a.sessions);
    free(a.json_last);
    cbc_config_fini();
    if (rc < 0) {
        fprintf(stderr, PROG ": cannot read bus '%s': %s\n",
                ro.bus ? ro.bus : "(default)", cb_strerror(rc));
        return rc == CB_EBUSNAME ? 2 : 1;
    }
    return rc;
}
