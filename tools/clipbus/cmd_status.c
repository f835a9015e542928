/*
 * cmd_status.c -- `clipbus status`: every producer segment and every
 * reader of a bus, with their health.
 *
 * The command first builds one JSON object per bus (jansson) from the
 * segments, then prints either that object (--json) or a human rendering
 * of it: both outputs come from the same numbers. Nothing is written to
 * any segment; producer segments are mapped read-only by the reader API.
 *
 * Exit status: 0 when the bus has segments and none is bad or left by a
 * dead process; 1 when the bus is empty, or a segment is bad, or a
 * producer or reader died without cleaning up (run `clipbus gc`); 2 usage.
 */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include <clipbus/reader.h>

#include "cli.h"
#include "shmlist.h"

#define CMD "status"

struct status_opts {
    const char *bus;
    int all;
    int json;
    int utc;
};

/* clang-format off */
static void
usage(FILE *f)
{
    fprintf(f,
"Usage: clipbus status [--bus NAME | --all-buses] [--json] [--utc]\n"
"Show every producer segment of a bus (pid, program, alive/exited/dead,\n"
"rings, records published, running calls) and every reader (consumer)\n"
"with its lag and losses per ring. Segments that cannot be read are listed\n"
"with the reason.\n"
"\n"
"  --bus NAME     the bus (default: $CLIPBUS_BUS, else \"default\")\n"
"  --all-buses    every bus found in the shm directory\n"
"  --json         one JSON object instead of text (fields: docs/clipbus-tool.md)\n"
"  --utc          times in UTC instead of local time\n"
"  -h, --help     this text\n"
"\n"
"Exit status: 0 ok; 1 the bus is empty, a segment is bad, or a process\n"
"died and left its segment (see 'clipbus gc'); 2 usage error.\n");
}
/* clang-format on */

static const char *
state_name(int live)
{
    switch (live) {
    case CB_PRODUCER_ALIVE:
        return "alive";
    case CB_PRODUCER_EXITED:
        return "exited";
    default:
        return "dead";
    }
}

/* ------------------------------------------------------------------------
 * Building the JSON model
 * ------------------------------------------------------------------------ */
static json_t *
time_json(uint64_t wall_ns, int utc)
{
    char buf[64];

    if (wall_ns == 0)
        return json_null();
    return cli_json_str(fmt_time(buf, sizeof buf, wall_ns, utc));
}

static json_t *
ring_json(const struct cb_segment *seg, uint32_t r)
{
    struct cb_inflight_frame fr[CB_INFLIGHT_MAX];
    char tname[CB_THREAD_NAME_MAX], name[256];
    uint32_t depth = 0, tid = cb_segment_ring_owner(seg, r, tname);
    uint64_t now = cb_segment_now_ticks(seg);
    int n = cb_segment_inflight(seg, r, fr, CB_INFLIGHT_MAX, &depth);
    json_t *j = json_object(), *frames = json_array();

    json_object_set_new(j, "ring", json_integer(r));
    json_object_set_new(j, "tid", json_integer(tid));
    json_object_set_new(j, "thread", cli_json_str(tname));
    json_object_set_new(j, "head", cli_json_u64(cb_segment_head(seg, r)));
    json_object_set_new(j, "inflight_depth", json_integer(n < 0 ? 0 : depth));
    for (int i = 0; i < n; i++) {
        json_t *f = json_object();
        uint64_t ran = (int64_t)(now - fr[i].ts) > 0 ? now - fr[i].ts : 0;
        cb_segment_name_copy(seg, fr[i].name_id, name, sizeof name);
        json_object_set_new(f, "name", cli_json_str(name));
        json_object_set_new(f, "running_ns",
                            cli_json_u64(cb_segment_ticks_ns(seg, ran)));
        json_array_append_new(frames, f);
    }
    json_object_set_new(j, "inflight", frames);
    return j;
}

static json_t *
producer_json(const struct cb_segment *seg, int utc, uint64_t now_ns,
              int *live_out)
{
    const struct cb_producer_info *in = cb_segment_info(seg);
    struct cb_segment_counters c;
    uint32_t used = cb_segment_rings(seg), owned = 0;
    uint64_t published = 0;
    int live = cb_segment_liveness(seg);
    json_t *j = json_object(), *rings = json_array();

    cb_segment_counters(seg, &c);
    for (uint32_t r = 0; r < used; r++) {
        json_t *rj = ring_json(seg, r);
        published += cb_segment_head(seg, r);
        owned += json_integer_value(json_object_get(rj, "tid")) != 0;
        json_array_append_new(rings, rj);
    }
    json_object_set_new(j, "shm", cli_json_str(in->shm_name));
    json_object_set_new(j, "pid", json_integer(in->pid));
    json_object_set_new(j, "program", cli_json_str(in->program));
    json_object_set_new(j, "state", json_string(state_name(live)));
    json_object_set_new(j, "uid", json_integer(in->uid));
    json_object_set_new(j, "created", time_json(in->created_real_ns, utc));
    json_object_set_new(j, "age_ns",
                        cli_json_u64(now_ns > in->created_real_ns
                                         ? now_ns - in->created_real_ns
                                         : 0));
    json_object_set_new(j, "exited", time_json(c.exit_real_ns, utc));
    json_object_set_new(
        j, "clock",
        json_string(in->clock_kind == CB_CLOCK_TSC ? "tsc" : "monotonic"));
    json_object_set_new(j, "segment_bytes", cli_json_u64(in->segment_size));
    json_object_set_new(j, "ring_count", json_integer(in->ring_count));
    json_object_set_new(j, "rings_used", json_integer(used));
    json_object_set_new(j, "rings_owned", json_integer(owned));
    json_object_set_new(j, "ring_records", json_integer(in->ring_records));
    json_object_set_new(j, "records_published", cli_json_u64(published));
    json_object_set_new(j, "names_used_bytes", cli_json_u64(c.names_used));
    json_object_set_new(j, "names_size_bytes", json_integer(in->names_size));
    json_object_set_new(j, "names_dropped", cli_json_u64(c.names_dropped));
    json_object_set_new(j, "threads_unringed",
                        cli_json_u64(c.threads_unringed));
    json_object_set_new(j, "records_unringed",
                        cli_json_u64(c.records_unringed));
    json_object_set_new(j, "sessions", cli_json_u64(c.sessions));
    json_object_set_new(j, "rings", rings);
    *live_out = live;
    return j;
}

/* The current head of (pid, ring) among the producers attached, or the
 * reader's own last-seen head if that producer is not attached. */
static uint64_t
current_head(struct cb_segment **segs, size_t nsegs, uint32_t pid,
             uint32_t ring, uint64_t reported)
{
    for (size_t i = 0; i < nsegs; i++)
        if (cb_segment_info(segs[i])->pid == pid &&
            ring < cb_segment_rings(segs[i])) {
            uint64_t h = cb_segment_head(segs[i], ring);
            return (int64_t)(h - reported) > 0 ? h : reported;
        }
    return reported;
}

static json_t *
reader_json(const char *shm, const struct cb_status_header *s,
            struct cb_segment **segs, size_t nsegs, int utc, uint64_t now_ns,
            int *alive_out)
{
    json_t *j = json_object(), *rings = json_array();
    char prog[CB_PROGRAM_MAX + 1], sink[CB_PROGRAM_MAX + 1];
    int alive = cb_process_alive(s->pid, s->start_time);

    memcpy(prog, s->program, CB_PROGRAM_MAX);
    prog[CB_PROGRAM_MAX] = '\0';
    memcpy(sink, s->sink, CB_PROGRAM_MAX);
    sink[CB_PROGRAM_MAX] = '\0';
    json_object_set_new(j, "shm", cli_json_str(shm));
    json_object_set_new(j, "pid", json_integer(s->pid));
    json_object_set_new(j, "program", cli_json_str(prog));
    json_object_set_new(j, "alive", json_boolean(alive));
    json_object_set_new(j, "heartbeat", time_json(s->heartbeat_real_ns, utc));
    if (s->heartbeat_real_ns == 0)
        json_object_set_new(j, "heartbeat_age_ns", json_null());
    else
        json_object_set_new(j, "heartbeat_age_ns",
                            cli_json_u64(now_ns > s->heartbeat_real_ns
                                             ? now_ns - s->heartbeat_real_ns
                                             : 0));
    json_object_set_new(j, "delivered", cli_json_u64(s->delivered));
    json_object_set_new(j, "lost", cli_json_u64(s->lost));
    json_object_set_new(j, "records_per_s", cli_json_u64(s->records_per_s));
    json_object_set_new(j, "sink", cli_json_str(sink));
    json_object_set_new(j, "producers", json_integer(s->producers));
    for (uint32_t i = 0; i < s->nrings; i++) {
        const struct cb_status_ring *sr = &s->rings[i];
        json_t *rj = json_object();
        uint64_t head =
            current_head(segs, nsegs, sr->producer_pid, sr->ring, sr->head);
        json_object_set_new(rj, "producer_pid", json_integer(sr->producer_pid));
        json_object_set_new(rj, "ring", json_integer(sr->ring));
        json_object_set_new(rj, "cursor", cli_json_u64(sr->cursor));
        json_object_set_new(rj, "head", cli_json_u64(head));
        json_object_set_new(rj, "lag",
                            cli_json_u64((int64_t)(head - sr->cursor) > 0
                                             ? head - sr->cursor
                                             : 0));
        json_object_set_new(rj, "delivered", cli_json_u64(sr->delivered));
        json_object_set_new(rj, "lost", cli_json_u64(sr->lost));
        json_array_append_new(rings, rj);
    }
    json_object_set_new(j, "rings", rings);
    *alive_out = alive;
    return j;
}

static json_t *
bad_json(const struct shm_obj *o, int err, const char *why)
{
    json_t *j = json_object();

    json_object_set_new(j, "shm", cli_json_str(o->name));
    json_object_set_new(
        j, "kind",
        json_string(o->kind == CB_SHM_PRODUCER ? "producer" : "reader"));
    json_object_set_new(j, "error", cli_json_str(cb_strerror(err)));
    json_object_set_new(j, "why", cli_json_str(why));
    return j;
}

/* Attaches the producer segments among o[0, n), appending each to prods
 * (or to bad) and its segment to segs[*nsegs]. */
static void
add_producers(const struct shm_obj *o, size_t n, int utc, uint64_t now,
              json_t *prods, json_t *bad, struct cb_segment **segs,
              size_t *nsegs, int *problems)
{
    char why[400];

    for (size_t i = 0; i < n; i++) {
        struct cb_segment *seg;
        int live, err;
        if (o[i].kind != CB_SHM_PRODUCER)
            continue;
        err = cb_segment_attach(o[i].name, 0, &seg, why, sizeof why);
        if (err == -ENOENT)
            continue; /* removed since the listing */
        if (err == CB_ENOTREADY && cb_process_alive(o[i].pid, 0))
            continue; /* being created right now */
        if (err == CB_ENOTREADY)
            snprintf(why, sizeof why,
                     "%s: pid %u died while creating it (magic never set); "
                     "'clipbus gc' removes it",
                     o[i].name, (unsigned)o[i].pid);
        if (err != 0) {
            json_array_append_new(bad, bad_json(&o[i], err, why));
            (*problems)++;
            continue;
        }
        json_array_append_new(prods, producer_json(seg, utc, now, &live));
        *problems += live == CB_PRODUCER_DEAD;
        segs[(*nsegs)++] = seg;
    }
}

/* Reads the reader-status segments among o[0, n) into readers (or bad). */
static void
add_readers(const struct shm_obj *o, size_t n, int utc, uint64_t now,
            json_t *readers, json_t *bad, struct cb_segment **segs,
            size_t nsegs, int *problems)
{
    struct cb_status_header *s = malloc(sizeof *s);
    char why[400];

    for (size_t i = 0; i < n && s != NULL; i++) {
        int alive, err;
        if (o[i].kind != CB_SHM_STATUS)
            continue;
        err = cb_status_read(o[i].name, s);
        if (err == -ENOENT)
            continue;
        if (err == 0) {
            json_array_append_new(
                readers,
                reader_json(o[i].name, s, segs, nsegs, utc, now, &alive));
            *problems += !alive;
            continue;
        }
        /* cb_status_read() says CB_EBADSEG before the magic is set. */
        if (cli_shm_magic_unset(o[i].name)) {
            if (cb_process_alive(o[i].pid, 0))
                continue; /* being created right now */
            err = CB_ENOTREADY;
            snprintf(why, sizeof why,
                     "%s: reader pid %u died while creating it (magic never "
                     "set); 'clipbus gc' removes it",
                     o[i].name, (unsigned)o[i].pid);
        } else if (err == CB_ENOTREADY && cb_process_alive(o[i].pid, 0)) {
            continue; /* being updated right now */
        } else {
            snprintf(why, sizeof why,
                     "%s: not a readable reader-status segment (%s)", o[i].name,
                     cb_strerror(err));
        }
        json_array_append_new(bad, bad_json(&o[i], err, why));
        (*problems)++;
    }
    free(s);
}

/* Builds the object of one bus from objects o[0, n) (all of that bus).
 * Adds the problems found to *problems. */
static json_t *
bus_json(const char *bus, const struct shm_obj *o, size_t n, int utc,
         int *problems)
{
    json_t *j = json_object(), *prods = json_array(), *readers = json_array(),
           *bad = json_array();
    struct cb_segment **segs = calloc(n ? n : 1, sizeof *segs);
    size_t nsegs = 0;
    uint64_t now = cli_real_ns();

    if (segs != NULL) {
        add_producers(o, n, utc, now, prods, bad, segs, &nsegs, problems);
        add_readers(o, n, utc, now, readers, bad, segs, nsegs, problems);
    }
    for (size_t i = 0; i < nsegs; i++)
        cb_segment_detach(segs[i]);
    free(segs);
    json_object_set_new(j, "bus", cli_json_str(bus));
    json_object_set_new(j, "time", time_json(now, utc));
    json_object_set_new(j, "producers", prods);
    json_object_set_new(j, "readers", readers);
    json_object_set_new(j, "bad", bad);
    return j;
}

/* ------------------------------------------------------------------------
 * Human rendering
 * ------------------------------------------------------------------------ */
static uint64_t
ju(const json_t *o, const char *key)
{
    json_int_t v = json_integer_value(json_object_get(o, key));

    return v > 0 ? (uint64_t)v : 0;
}

static const char *
js(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));

    return s ? s : "";
}

/* Appends a string from the model, escaped for the terminal. */
static void
add_esc(struct sbuf *b, const json_t *o, const char *key)
{
    const json_t *v = json_object_get(o, key);

    sb_add_escaped(b, json_string_value(v) ? json_string_value(v) : "",
                   json_string_length(v), 1);
}

static int
print_ring(struct sbuf *b, const json_t *r)
{
    const json_t *fr = json_object_get(r, "inflight");
    size_t nfr = json_array_size(fr);
    char d[32];

    sb_reset(b);
    if (ju(r, "tid") != 0) {
        sb_printf(b, "    %4llu  %-8llu ", (unsigned long long)ju(r, "ring"),
                  (unsigned long long)ju(r, "tid"));
        add_esc(b, r, "thread");
    } else {
        sb_printf(b, "    %4llu  %-8s (free)",
                  (unsigned long long)ju(r, "ring"), "-");
    }
    while (b->len < 40)
        sb_add(b, " ", 1);
    sb_printf(b, " %12llu  ", (unsigned long long)ju(r, "head"));
    if (nfr == 0) {
        sb_add(b, "-", 1);
    } else {
        const json_t *top = json_array_get(fr, nfr - 1);
        add_esc(b, top, "name");
        sb_printf(b, " running %s",
                  fmt_dur(d, sizeof d, ju(top, "running_ns")));
        if (ju(r, "inflight_depth") > 1)
            sb_printf(b, " (depth %llu)",
                      (unsigned long long)ju(r, "inflight_depth"));
    }
    return cli_out_line(b->p, b->len);
}

static int
print_producer(struct sbuf *b, const json_t *p)
{
    const json_t *rings = json_object_get(p, "rings");
    char d[32], x[32], y[32];

    sb_reset(b);
    sb_printf(b, "PRODUCER %s  pid %llu  \"", js(p, "shm"),
              (unsigned long long)ju(p, "pid"));
    add_esc(b, p, "program");
    sb_printf(b, "\"  %s  age %s  uid %llu", js(p, "state"),
              fmt_dur(d, sizeof d, ju(p, "age_ns")),
              (unsigned long long)ju(p, "uid"));
    if (json_is_string(json_object_get(p, "exited")))
        sb_printf(b, "  exited %s", js(p, "exited"));
    cli_out_line(b->p, b->len);
    sb_reset(b);
    sb_printf(b,
              "  rings     %llu of %llu used (%llu owned now), %llu "
              "records each (%s)",
              (unsigned long long)ju(p, "rings_used"),
              (unsigned long long)ju(p, "ring_count"),
              (unsigned long long)ju(p, "rings_owned"),
              (unsigned long long)ju(p, "ring_records"),
              fmt_bytes(d, sizeof d, ju(p, "ring_records") * CB_RECORD_SIZE));
    cli_out_line(b->p, b->len);
    sb_reset(b);
    sb_printf(b, "  records   %llu published; sessions %llu",
              (unsigned long long)ju(p, "records_published"),
              (unsigned long long)ju(p, "sessions"));
    cli_out_line(b->p, b->len);
    sb_reset(b);
    sb_printf(b, "  names     %s of %s used, %llu dropped (table full)",
              fmt_bytes(x, sizeof x, ju(p, "names_used_bytes")),
              fmt_bytes(y, sizeof y, ju(p, "names_size_bytes")),
              (unsigned long long)ju(p, "names_dropped"));
    cli_out_line(b->p, b->len);
    sb_reset(b);
    sb_printf(b,
              "  no ring   %llu threads found no free ring, %llu records "
              "dropped (no ring, or no memory in the shm directory)",
              (unsigned long long)ju(p, "threads_unringed"),
              (unsigned long long)ju(p, "records_unringed"));
    cli_out_line(b->p, b->len);
    if (json_array_size(rings) != 0) {
        const char *h = "    RING  TID      THREAD                  "
                        "      HEAD  RUNNING CALL";
        cli_out_line(h, strlen(h));
    }
    for (size_t i = 0; i < json_array_size(rings); i++)
        print_ring(b, json_array_get(rings, i));
    return cli_out_line("", 0);
}

static int
print_reader(struct sbuf *b, const json_t *r)
{
    const json_t *rings = json_object_get(r, "rings");
    const json_t *age = json_object_get(r, "heartbeat_age_ns");
    char d[32];

    sb_reset(b);
    sb_printf(b, "READER %s  pid %llu  \"", js(r, "shm"),
              (unsigned long long)ju(r, "pid"));
    add_esc(b, r, "program");
    sb_printf(b, "\"  %s",
              json_is_true(json_object_get(r, "alive")) ? "alive" : "dead");
    if (json_is_integer(age))
        sb_printf(b, "  heartbeat %s ago",
                  fmt_dur(d, sizeof d, ju(r, "heartbeat_age_ns")));
    else
        sb_add(b, "  no heartbeat yet", 18);
    cli_out_line(b->p, b->len);
    sb_reset(b);
    sb_printf(b,
              "  records   %llu delivered, %llu lost, %llu records/s; "
              "%llu producers",
              (unsigned long long)ju(r, "delivered"),
              (unsigned long long)ju(r, "lost"),
              (unsigned long long)ju(r, "records_per_s"),
              (unsigned long long)ju(r, "producers"));
    cli_out_line(b->p, b->len);
    if (js(r, "sink")[0] != '\0') {
        sb_reset(b);
        sb_add(b, "  sink      ", 12);
        add_esc(b, r, "sink");
        cli_out_line(b->p, b->len);
    }
    if (json_array_size(rings) != 0) {
        const char *h = "    PRODUCER  RING        CURSOR          HEAD"
                        "         LAG        LOST";
        cli_out_line(h, strlen(h));
    }
    for (size_t i = 0; i < json_array_size(rings); i++) {
        const json_t *x = json_array_get(rings, i);
        sb_reset(b);
        sb_printf(b, "    %8llu  %4llu  %12llu  %12llu  %10llu  %10llu",
                  (unsigned long long)ju(x, "producer_pid"),
                  (unsigned long long)ju(x, "ring"),
                  (unsigned long long)ju(x, "cursor"),
                  (unsigned long long)ju(x, "head"),
                  (unsigned long long)ju(x, "lag"),
                  (unsigned long long)ju(x, "lost"));
        cli_out_line(b->p, b->len);
    }
    return cli_out_line("", 0);
}

static void
print_empty(const char *bus)
{
    printf("bus \"%s\" is empty: no producer or reader segment.\n"
           "Start an instrumented program with CLIPBUS_BUS=%s (for example "
           "clip-analyzer),\nor a consumer such as 'clipbus tail --bus %s'.\n",
           bus, bus, bus);
}

static void
print_bus(const json_t *j)
{
    const json_t *p = json_object_get(j, "producers"),
                 *r = json_object_get(j, "readers"),
                 *bad = json_object_get(j, "bad");
    struct sbuf b = {0};

    sb_add(&b, "bus \"", 5);
    add_esc(&b, j, "bus");
    sb_printf(&b, "\" at %s: %zu producer%s, %zu reader%s, %zu bad segment%s",
              js(j, "time"), json_array_size(p),
              json_array_size(p) == 1 ? "" : "s", json_array_size(r),
              json_array_size(r) == 1 ? "" : "s", json_array_size(bad),
              json_array_size(bad) == 1 ? "" : "s");
    cli_out_line(b.p, b.len);
    cli_out_line("", 0);
    for (size_t i = 0; i < json_array_size(p); i++)
        print_producer(&b, json_array_get(p, i));
    for (size_t i = 0; i < json_array_size(r); i++)
        print_reader(&b, json_array_get(r, i));
    for (size_t i = 0; i < json_array_size(bad); i++) {
        sb_reset(&b);
        sb_add(&b, "BAD ", 4);
        add_esc(&b, json_array_get(bad, i), "why");
        cli_out_line(b.p, b.len);
    }
    sb_free(&b);
}

/* ------------------------------------------------------------------------
 * The command
 * ------------------------------------------------------------------------ */
static int
parse(int argc, char **argv, struct status_opts *o)
{
    static const struct option longs[] = {
        {"bus", required_argument, NULL, 'b'},
        {"all-buses", no_argument, NULL, 'a'},
        {"json", no_argument, NULL, 'j'},
        {"utc", no_argument, NULL, 'u'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;

    opterr = 0;
    optind = 1;
    /* getopt_long keeps global state: fine in this single-threaded tool. */
    while ((c = getopt_long(argc, argv, ":h", longs, NULL)) != /* NOLINT */
           -1) {
        switch (c) {
        case 'b':
            o->bus = optarg;
            break;
        case 'a':
            o->all = 1;
            break;
        case 'j':
            o->json = 1;
            break;
        case 'u':
            o->utc = 1;
            break;
        case 'h':
            usage(stdout);
            return -1;
        case ':':
            return cli_usage_error(CMD, "%s needs a value", argv[optind - 1]);
        default:
            return cli_usage_error(CMD, "unknown option '%s'",
                                   argv[optind - 1]);
        }
    }
    if (optind < argc)
        return cli_usage_error(CMD, "unexpected argument '%s'", argv[optind]);
    if (o->all && o->bus != NULL)
        return cli_usage_error(CMD, "--bus and --all-buses exclude each other");
    return 0;
}

int
cmd_status(int argc, char **argv)
{
    struct status_opts o = {0};
    struct shm_list l;
    json_t *buses;
    const char *bus = NULL;
    int rc = parse(argc, argv, &o), problems = 0, empty = 1;

    if (rc != 0)
        return rc < 0 ? CLI_OK : rc;
    if (!o.all && (bus = cli_bus(CMD, o.bus)) == NULL)
        return CLI_USAGE;
    if ((rc = shm_list_load(&l, bus)) != 0) {
        fprintf(stderr, "clipbus status: cannot list the shm directory: %s\n",
                cb_strerror(rc));
        return CLI_PROBLEM;
    }
    buses = json_array();
    for (size_t i = 0; i < l.n;) {
        size_t j = i;
        while (j < l.n && strcmp(l.v[j].bus, l.v[i].bus) == 0)
            j++;
        json_array_append_new(
            buses, bus_json(l.v[i].bus, l.v + i, j - i, o.utc, &problems));
        i = j;
    }
    for (size_t i = 0; i < json_array_size(buses); i++) {
        const json_t *b = json_array_get(buses, i);
        if (json_array_size(json_object_get(b, "producers")) +
                json_array_size(json_object_get(b, "readers")) +
                json_array_size(json_object_get(b, "bad")) !=
            0)
            empty = 0;
    }
    if (!o.all && json_array_size(buses) == 0)
        json_array_append_new(buses, bus_json(bus, NULL, 0, o.utc, &problems));
    if (o.json) {
        json_t *top = json_array_get(buses, 0);
        if (o.all) {
            char t[64];
            top = json_object();
            json_object_set_new(
                top, "time",
                cli_json_str(fmt_time(t, sizeof t, cli_real_ns(), o.utc)));
            json_object_set(top, "buses", buses);
        } else {
            json_incref(top);
        }
        cli_out_json(top, 2);
        json_decref(top);
    } else if (empty) {
        if (o.all)
            printf("no clipbus segment on any bus.\n");
        else
            print_empty(bus);
    } else {
        for (size_t i = 0; i < json_array_size(buses); i++)
            print_bus(json_array_get(buses, i));
    }
    json_decref(buses);
    shm_list_free(&l);
    if (cli_out_flush() != 0)
        return CLI_PROBLEM;
    return empty || problems ? CLI_PROBLEM : CLI_OK;
}
