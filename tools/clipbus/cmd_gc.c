/*
 * cmd_gc.c -- `clipbus gc`: remove the segments that processes left
 * behind.
 *
 * Removed: producer segments whose producer exited (marked its segment)
 * or died (pid gone, or reused: pid plus start time), and reader-status
 * segments whose reader died. NEVER removed: a segment of a live producer
 * or reader. Liveness is checked a second time right before each
 * shm_unlink(), and the object's inode must still be the one inspected,
 * so a segment that came back to life or was replaced in between is kept.
 *
 * Segments that cannot be attached (random bytes, another layout version,
 * another user's, wrong mode) are reported and kept; --force-bad removes
 * them, but only our own (the shm directory is sticky: other users'
 * objects cannot be unlinked by us anyway).
 *
 * Unlinking a segment that a consumer has mapped does not disturb that
 * consumer (the mapping lives on); a consumer started later will not see
 * it. --older-than keeps recently ended segments for such late consumers.
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <clipbus/reader.h>

#include "cli.h"
#include "shmlist.h"

#define CMD "gc"

struct gc_opts {
    const char *bus;
    int all;
    int dry_run;
    int force_bad;
    int verbose;
    uint64_t older_than_ns;
};

struct gc_tally {
    unsigned removed_prod, removed_reader, removed_bad;
    unsigned kept_live, kept_young, kept_bad, failed;
};

/* clang-format off */
static void
usage(FILE *f)
{
    fprintf(f,
"Usage: clipbus gc [--bus NAME | --all-buses] [--dry-run] [--older-than SECONDS]\n"
"                  [--force-bad] [--verbose]\n"
"Remove the shared-memory segments of producers that exited or died and\n"
"the status segments of readers that died. A live producer's or reader's\n"
"segment is never removed (liveness is checked again right before each\n"
"removal). Prints one line per segment removed (or kept for a reason) and\n"
"a summary line.\n"
"\n"
"  --bus NAME            the bus (default: $CLIPBUS_BUS, else \"default\")\n"
"  --all-buses           every bus found in the shm directory\n"
"  -n, --dry-run         only print what would be removed\n"
"  --older-than SECONDS  remove only what ended at least SECONDS ago: a\n"
"                        producer's exit time, a dead producer's creation\n"
"                        time, a dead reader's last heartbeat (default 0)\n"
"  --force-bad           also remove segments that cannot be read (bad\n"
"                        magic, truncated, random bytes, wrong mode), if\n"
"                        owned by this user\n"
"  -v, --verbose         also list the segments kept because they are live\n"
"  -h, --help            this text\n"
"\n"
"Exit status: 0 ok (also when there was nothing to remove); 1 a removal\n"
"failed or a bad segment was left in place; 2 usage error.\n");
}
/* clang-format on */

static void say(const struct gc_opts *o, const char *verb, const char *shm,
                const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Prints "<verb> <shm>: <reason>", the reason escaped for the terminal. */
static void
say(const struct gc_opts *o, const char *verb, const char *shm, const char *fmt,
    ...)
{
    struct sbuf b = {0};
    char reason[600];
    va_list ap;

    (void)o;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof reason, fmt, ap);
    va_end(ap);
    sb_printf(&b, "%-13s ", verb);
    sb_add_escaped(&b, shm, strlen(shm), 0);
    sb_add(&b, ": ", 2);
    sb_add_escaped(&b, reason, strlen(reason), 0);
    cli_out_line(b.p, b.len);
    sb_free(&b);
}

/* Unlinks shm if it is still the object with inode ino. 0 or -errno. */
static int
unlink_same(const char *shm, uint64_t ino)
{
    uint32_t uid;
    uint64_t ino2;
    int err = cli_shm_stat(shm, &uid, &ino2);

    if (err != 0)
        return err;
    if (ino2 != ino)
        return -ESTALE;
    return shm_unlink(shm) == 0 ? 0 : -errno;
}

/* Removes (or, in a dry run, names) one object; counts it in *slot. */
static void
remove_obj(const struct gc_opts *o, struct gc_tally *t, unsigned *slot,
           const char *shm, uint64_t ino, const char *reason)
{
    int err;

    if (o->dry_run) {
        say(o, "would remove", shm, "%s", reason);
        (*slot)++;
        return;
    }
    err = unlink_same(shm, ino);
    if (err == 0) {
        say(o, "removed", shm, "%s", reason);
        (*slot)++;
    } else if (err == -ENOENT) {
        say(o, "gone", shm, "removed by someone else meanwhile");
    } else {
        say(o, "FAILED", shm, "cannot remove (%s): %s",
            err == -ESTALE ? "replaced by a new segment meanwhile"
                           : cb_strerror(err),
            reason);
        t->failed++;
    }
}

static void
bad_obj(const struct gc_opts *o, struct gc_tally *t, const struct shm_obj *s,
        uint32_t uid, uint64_t ino, const char *why)
{
    char reason[500];

    if (o->force_bad && uid == (uint32_t)geteuid()) {
        snprintf(reason, sizeof reason, "bad segment (--force-bad): %s", why);
        remove_obj(o, t, &t->removed_bad, s->name, ino, reason);
        return;
    }
    if (o->force_bad)
        say(o, "kept", s->name, "bad segment owned by uid %u, not by us: %s",
            (unsigned)uid, why);
    else
        say(o, "kept", s->name, "bad segment (use --force-bad to remove): %s",
            why);
    t->kept_bad++;
}

/* A segment whose magic is not set yet: its creator (the pid in its name)
 * is still setting it up, or died doing so. No record can be in it (the
 * magic is published first), so a dead creator's is removed. Returns 1
 * if handled, 0 if the magic turned out to be set meanwhile. */
static int
creating(const struct gc_opts *o, struct gc_tally *t, const struct shm_obj *s,
         uint64_t ino)
{
    char reason[200];

    if (!cli_shm_magic_unset(s->name))
        return 0;
    if (cb_process_alive(s->pid, 0)) {
        if (o->verbose)
            say(o, "kept", s->name, "being created by live pid %u",
                (unsigned)s->pid);
        t->kept_live++;
        return 1;
    }
    snprintf(reason, sizeof reason,
             "pid %u died while creating it (magic never set)",
             (unsigned)s->pid);
    remove_obj(o, t,
               s->kind == CB_SHM_PRODUCER ? &t->removed_prod
                                          : &t->removed_reader,
               s->name, ino, reason);
    return 1;
}

static void
gc_producer(const struct gc_opts *o, struct gc_tally *t,
            const struct shm_obj *s, uint64_t now)
{
    struct cb_segment *seg;
    struct cb_segment_counters c;
    const struct cb_producer_info *in;
    char why[400], reason[600], d[32];
    uint64_t ino = 0, end_ns, records = 0;
    uint32_t uid = UINT32_MAX;
    int err = cli_shm_stat(s->name, &uid, &ino), live;

    if (err == -ENOENT)
        return;
    err = err ? err : cb_segment_attach(s->name, 0, &seg, why, sizeof why);
    if (err == -ENOENT)
        return;
    if (err == CB_ENOTREADY && creating(o, t, s, ino))
        return;
    if (err != 0) {
        if (err == -EACCES || err == -EPERM)
            snprintf(why, sizeof why, "%s: cannot open: %s", s->name,
                     cb_strerror(err));
        bad_obj(o, t, s, uid, ino, why);
        return;
    }
    in = cb_segment_info(seg);
    live = cb_segment_liveness(seg);
    cb_segment_counters(seg, &c);
    for (uint32_t r = 0; r < cb_segment_rings(seg); r++)
        records += cb_segment_head(seg, r);
    end_ns = live == CB_PRODUCER_EXITED ? c.exit_real_ns : in->created_real_ns;
    snprintf(reason, sizeof reason,
             "pid %u \"%s\" %s %s ago (%u rings, %llu "
             "records)",
             (unsigned)in->pid, in->program,
             live == CB_PRODUCER_EXITED ? "exited" : "died; created",
             fmt_dur(d, sizeof d, now > end_ns ? now - end_ns : 0),
             cb_segment_rings(seg), (unsigned long long)records);
    if (live == CB_PRODUCER_ALIVE) {
        if (o->verbose)
            say(o, "kept", s->name, "pid %u \"%s\" is alive", (unsigned)in->pid,
                in->program);
        t->kept_live++;
    } else if (now < end_ns || now - end_ns < o->older_than_ns) {
        say(o, "kept", s->name, "%s: younger than --older-than", reason);
        t->kept_young++;
    } else if (cb_segment_liveness(seg) == CB_PRODUCER_ALIVE) {
        /* NEVER a live one: the second look, right before the unlink. */
        t->kept_live++;
    } else {
        remove_obj(o, t, &t->removed_prod, s->name, ino, reason);
    }
    cb_segment_detach(seg);
}

static void
gc_reader(const struct gc_opts *o, struct gc_tally *t, const struct shm_obj *s,
          uint64_t now)
{
    struct cb_status_header *st = malloc(sizeof *st);
    char reason[400], d[32];
    uint64_t ino = 0, hb;
    uint32_t uid = UINT32_MAX, pid, start;
    int err = cli_shm_stat(s->name, &uid, &ino);

    if (st == NULL || err == -ENOENT) {
        free(st);
        return;
    }
    if (err == 0 && cli_shm_magic_unset(s->name) && creating(o, t, s, ino)) {
        free(st);
        return;
    }
    err = err ? err : cb_status_read(s->name, st);
    if (err == CB_ENOTREADY && !cb_process_alive(s->pid, 0)) {
        /* Its reader died in the middle of an update: the pid in the name
         * is the reader's, and it is gone. */
        memset(st, 0, sizeof *st);
        st->pid = s->pid;
        err = 0;
    }
    if (err != 0) {
        snprintf(reason, sizeof reason,
                 "%s: not a readable reader-status segment (%s)", s->name,
                 cb_strerror(err));
        if (err == CB_ENOTREADY)
            t->kept_live++; /* being updated by a live reader */
        else
            bad_obj(o, t, s, uid, ino, reason);
        free(st);
        return;
    }
    pid = st->pid;
    start = (uint32_t)(st->start_time != 0);
    hb = st->heartbeat_real_ns;
    if (cb_process_alive(pid, st->start_time)) {
        if (o->verbose)
            say(o, "kept", s->name, "reader pid %u is alive", (unsigned)pid);
        t->kept_live++;
    } else if (hb != 0 && now > hb && now - hb < o->older_than_ns) {
        say(o, "kept", s->name,
            "dead reader, heartbeat %s ago: younger "
            "than --older-than",
            fmt_dur(d, sizeof d, now - hb));
        t->kept_young++;
    } else if (cb_process_alive(pid, st->start_time)) {
        t->kept_live++; /* the second look */
    } else {
        if (hb != 0)
            snprintf(reason, sizeof reason,
                     "reader pid %u%s is dead; last "
                     "heartbeat %s ago",
                     (unsigned)pid, start ? "" : " (start time unknown)",
                     fmt_dur(d, sizeof d, now > hb ? now - hb : 0));
        else
            snprintf(reason, sizeof reason, "reader pid %u is dead",
                     (unsigned)pid);
        remove_obj(o, t, &t->removed_reader, s->name, ino, reason);
    }
    free(st);
}

static int
parse(int argc, char **argv, struct gc_opts *o)
{
    static const struct option longs[] = {
        {"bus", required_argument, NULL, 'b'},
        {"all-buses", no_argument, NULL, 'a'},
        {"dry-run", no_argument, NULL, 'n'},
        {"older-than", required_argument, NULL, 'o'},
        {"force-bad", no_argument, NULL, 'f'},
        {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    uint64_t secs;
    int c;

    opterr = 0;
    optind = 1;
    /* getopt_long keeps global state: fine in this single-threaded tool. */
    while ((c = getopt_long(argc, argv, ":hnv", longs, NULL)) != /* NOLINT */
           -1) {
        switch (c) {
        case 'b':
            o->bus = optarg;
            break;
        case 'a':
            o->all = 1;
            break;
        case 'n':
            o->dry_run = 1;
            break;
        case 'o':
            if (cli_parse_u64(optarg, 0, UINT64_C(315360000), &secs) != 0)
                return cli_usage_error(CMD,
                                       "--older-than '%s': expected "
                                       "whole seconds, 0 to 315360000",
                                       optarg);
            o->older_than_ns = secs * 1000000000u;
            break;
        case 'f':
            o->force_bad = 1;
            break;
        case 'v':
            o->verbose = 1;
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
cmd_gc(int argc, char **argv)
{
    struct gc_opts o = {0};
    struct gc_tally t = {0};
    struct shm_list l;
    const char *bus = NULL;
    uint64_t now;
    unsigned removed;
    int rc = parse(argc, argv, &o);

    if (rc != 0)
        return rc < 0 ? CLI_OK : rc;
    if (!o.all && (bus = cli_bus(CMD, o.bus)) == NULL)
        return CLI_USAGE;
    if ((rc = shm_list_load(&l, bus)) != 0) {
        fprintf(stderr, "clipbus gc: cannot list the shm directory: %s\n",
                cb_strerror(rc));
        return CLI_PROBLEM;
    }
    now = cli_real_ns();
    for (size_t i = 0; i < l.n; i++) {
        if (l.v[i].kind == CB_SHM_PRODUCER)
            gc_producer(&o, &t, &l.v[i], now);
        else
            gc_reader(&o, &t, &l.v[i], now);
    }
    shm_list_free(&l);
    removed = t.removed_prod + t.removed_reader + t.removed_bad;
    printf("gc%s: %s %u segment%s (%u producer, %u reader, %u bad); kept %u "
           "live, %u recent, %u bad; %u failed\n",
           o.dry_run ? " (dry run)" : "",
           o.dry_run ? "would remove" : "removed", removed,
           removed == 1 ? "" : "s", t.removed_prod, t.removed_reader,
           t.removed_bad, t.kept_live, t.kept_young, t.kept_bad, t.failed);
    if (cli_out_flush() != 0)
        return CLI_PROBLEM;
    return t.failed || t.kept_bad ? CLI_PROBLEM : CLI_OK;
}
