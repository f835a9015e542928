/*
 * main.c -- clipbus-log: every call, log line, session, progress step,
 * metric sample and loss on the bus becomes a row of one SQLite database
 * (seed task 4.1, Req 1.5, 5.5). docs/clipbus-log.md is the manual.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <urcu.h>

#include <clipbus/reader.h>

#include "cli.h"
#include "sched_class.h"
#include "config.h"
#include "logdb.h"
#include "maint.h"
#include "runtime.h"
#include "sink.h"

#define PROG "clipbus-log"

static void
usage(FILE *f)
{
    fprintf(f,
        "Usage: clipbus-log [--db FILE] [--bus NAME] [--config FILE]\n"
        "                   [--from oldest|now] [--exit-idle MS]\n"
        "                   [--sched idle|batch|normal] [-v]\n"
        "       clipbus-log --maintain [--db FILE] [--now TIME]\n"
        "\n"
        "Writes every record of a clipbus bus into one SQLite database:\n"
        "calls (with parameters as JSON), log lines, sessions (aborted ones\n"
        "too), progress, metric samples and losses. Rows are committed in\n"
        "batches (log.batch_rows rows or log.commit_interval); a committed\n"
        "batch survives kill -9, and a restarted clipbus-log skips what was\n"
        "already stored. Retention runs at start and every\n"
        "log.maintenance_interval: daily summaries, deletion of rows older\n"
        "than log.keep_raw (90d) and summaries older than log.keep_summary\n"
        "(1y), the log.max_size cap, incremental vacuum.\n"
        "\n"
        "Read the database with 'clipbus query', 'clipbus export',\n"
        "'clipbus log status' or the sqlite3 program (docs/schema.md).\n"
        "\n"
        "Options:\n"
        "  --db FILE         the database (default: log.path of the\n"
        "                    config, \"clipbus-log.db\")\n"
        "  --bus NAME        the bus (default: bus.name, $CLIPBUS_BUS,\n"
        "                    \"default\")\n"
        "  --config FILE     configuration file (default $CLIPBUS_CONFIG)\n"
        "  --from WHERE      where to start in each ring: oldest (default)\n"
        "                    or now\n"
        "  --exit-idle MS    exit once every producer seen has ended and\n"
        "                    none appeared for MS milliseconds\n"
        "  --sched CLASS     CPU scheduling class: idle (default: run only\n"
        "                    on CPU time nothing else wants), batch or\n"
        "                    normal; also CLIPBUS_SCHED, consumer.sched\n"
        "  --maintain        run retention and maintenance once and exit\n"
        "  --now TIME        with --maintain: the time to apply retention\n"
        "                    at (ISO 8601 or 'now'; for tests and replays)\n"
        "  -v, --verbose     report maintenance runs and totals on stderr\n"
        "  -h, --help        this text\n"
        "\n"
        "Signals: SIGINT and SIGTERM commit what was read and exit 0.\n"
        "Exit status: 0 ok; 1 the database failed (cannot be opened, is\n"
        "damaged, or the bus cannot be read); 2 bad usage or configuration.\n"
        "Manual: docs/clipbus-log.md.\n");
}

struct args {
    const char *db, *bus, *config, *now;
    int from; /* CB_FROM_*, or -1 for the config's */
    int sched; /* CBC_SCHED_*, or CBC_SCHED_UNSET */
    uint32_t exit_idle_ms;
    int maintain, verbose;
};

static int
parse_one(void *arg, int opt, const char *val)
{
    struct args *a = arg;

    switch (opt) {
    case 'd': a->db = val; return 0;
    case 'b': a->bus = val; return 0;
    case 'c': a->config = val; return 0;
    case 'n': a->now = val; return 0;
    case 'm': a->maintain = 1; return 0;
    case 'v': a->verbose = 1; return 0;
    case 'f': return cbc_cli_from(PROG, val, &a->from);
    case 'x': return cbc_cli_exit_idle(PROG, val, &a->exit_idle_ms);
    case 'S': return cbc_cli_sched(PROG, val, &a->sched);
    default: return -1;
    }
}

/* 0: run; 1: --help shown; 2: bad command line. */
static int
parse_args(int argc, char **argv, struct args *a)
{
    static const struct option opts[] = {
        {"db", required_argument, NULL, 'd'},
        {"bus", required_argument, NULL, 'b'},
        {"config", required_argument, NULL, 'c'},
        {"from", required_argument, NULL, 'f'},
        {"exit-idle", required_argument, NULL, 'x'},
        {"sched", required_argument, NULL, 'S'},
        {"maintain", no_argument, NULL, 'm'},
        {"now", required_argument, NULL, 'n'},
        {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int rc;

    memset(a, 0, sizeof *a);
    a->from = -1;
    a->sched = CBC_SCHED_UNSET;
    rc = cbc_cli_parse(PROG, argc, argv, "vh", opts, usage, parse_one, a);
    if (rc == 0 && a->now && !a->maintain) {
        fprintf(stderr, PROG ": --now needs --maintain\n");
        return 2;
    }
    return rc;
}

static int64_t
real_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

/* --maintain: one complete run, then exit. */
static int
maintain_once(const struct cbl_sink_opts *so, const char *now_s, int verbose)
{
    struct cbl_db *db;
    struct cbl_maint m;
    int64_t now = real_ns();
    char err[512];

    if (now_s && cbl_parse_time(now_s, now, &now) < 0) {
        fprintf(stderr, "clipbus-log: --now '%s' is not a time (use "
                        "2024-05-01T12:00:00Z, 2024-05-01 or now)\n", now_s);
        return 2;
    }
    if (cbl_db_open(&so->db, &db, err, sizeof err) < 0) {
        fprintf(stderr, "clipbus-log: %s\n", err);
        return 1;
    }
    cbl_maint_begin(&m);
    int rc = cbl_maint_step(cbl_db_handle(db), &so->keep, now, 0, &m);
    if (rc < 0)
        fprintf(stderr, "clipbus-log: %s: maintenance failed: %s\n",
                so->db.path, sqlite3_errstr(m.rc));
    else if (verbose)
        fprintf(stderr, "clipbus-log: %llu days summarized, %llu rows "
                        "expired, %llu summaries expired, %llu rows over "
                        "the size cap, %llu pages vacuumed\n",
                (unsigned long long)m.days_summarized,
                (unsigned long long)m.rows_deleted,
                (unsigned long long)m.summaries_deleted,
                (unsigned long long)m.rows_capped,
                (unsigned long long)m.pages_vacuumed);
    cbl_db_checkpoint(db);
    cbl_db_close(db);
    return rc < 0 ? 1 : 0;
}

/* Copies what the program needs from the current config. */
static void
read_config(const struct args *a, struct cbl_sink_opts *so,
            struct cbc_rt_opts *ro, char *path, size_t path_len, char *bus,
            size_t bus_len)
{
    rcu_read_lock();
    const struct cbc_config *cfg = cbc_config_current();
    snprintf(path, path_len, "%s", a->db ? a->db : cfg->log.path);
    snprintf(bus, bus_len, "%s",
             a->bus ? a->bus : cfg->bus.name ? cfg->bus.name : "");
    so->db.path = path;
    so->db.batch_rows = cfg->log.batch_rows;
    so->db.commit_interval_ns = cfg->log.commit_interval_ns;
    so->db.busy_timeout_ns = cfg->log.busy_timeout_ns;
    so->db.wal_max_bytes = cfg->log.wal_max_bytes;
    so->keep.keep_raw_ns = cfg->log.keep_raw_ns;
    so->keep.keep_summary_ns = cfg->log.keep_summary_ns;
    so->keep.max_size_bytes = cfg->log.max_size_bytes;
    so->maintenance_interval_ns = cfg->log.maintenance_interval_ns;
    ro->grace_s = (uint32_t)(cfg->bus.grace_ns / 1000000000u);
    ro->from = cfg->bus.from;
    ro->sched = cfg->consumer.sched;
    cbc_rt_opts_consumer(ro, &cfg->consumer);
    rcu_read_unlock();
    ro->bus = *bus ? bus : NULL;
    if (a->from >= 0)
        ro->from = a->from;
}

int
main(int argc, char **argv)
{
    struct args a;
    struct cbl_sink_opts so;
    struct cbc_rt_opts ro;
    struct cbc_sink sink;
    struct cbl_sink *s;
    struct cbl_sink_stats st;
    char path[4096], bus[64];
    int rc;

    if ((rc = parse_args(argc, argv, &a)) != 0)
        return rc == 1 ? 0 : 2;
    cbl_sqlite_setup(); /* before any thread uses SQLite */
    if (cbc_config_init("clipbus-log", a.config) < 0)
        return CBC_CONFIG_EXIT;
    rcu_register_thread();
    memset(&so, 0, sizeof so);
    memset(&ro, 0, sizeof ro);
    read_config(&a, &so, &ro, path, sizeof path, bus, sizeof bus);
    so.verbose = a.verbose;
    if (a.maintain) {
        rcu_unregister_thread();
        cbc_config_fini();
        return maintain_once(&so, a.now, a.verbose);
    }
    if ((ro.sched = cbc_sched_resolve(PROG, a.sched, ro.sched)) < 0) {
        rcu_unregister_thread();
        cbc_config_fini();
        return 2;
    }
    so.use_config = 1;
    ro.program = "clipbus-log";
    ro.idle_tick_ms = 1000; /* only while nothing waits to be committed */
    ro.exit_idle_ms = a.exit_idle_ms;
    s = cbl_sink_create(&so);
    if (!s) {
        fprintf(stderr, "clipbus-log: out of memory\n");
        return 1;
    }
    cbl_sink_bind(s, &sink);
    cbc_config_watch_start(NULL);
    rc = cbc_rt_run(&ro, &sink);
    cbl_sink_stats(s, &st);
    if (a.verbose)
        fprintf(stderr, "clipbus-log: %llu rows committed, %llu rows lost "
                        "(db), %llu records lost on the bus, %llu in "
                        "hand-off, %llu already stored\n",
                (unsigned long long)st.db.rows,
                (unsigned long long)st.db.lost_rows,
                (unsigned long long)st.bus_lost,
                (unsigned long long)st.handoff_lost,
                (unsigned long long)st.rows_skipped);
    cbl_sink_destroy(s);
    cbc_config_watch_stop();
    rcu_unregister_thread();
    cbc_config_fini();
    if (rc < 0)
        return 1;
    return rc != 0 || st.exit_status ? 1 : 0;
}
