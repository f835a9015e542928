/*
 * watch.c -- the watcher: a consumer-runtime sink that turns bus events
 * into engine inputs, evaluates every eval_interval in the runtime's
 * worker thread, and hands notifications to the outbox. Delivery runs in
 * its own threads (deliver.c): evaluation never waits for a receiver.
 *
 * Hot reload: the runtime's config watcher validates and installs a new
 * generation; at the next tick this file loads its own copy of the file
 * (the engine keeps pointers into its config for its whole life, which
 * an RCU-protected one would not allow), makes a new engine, restores
 * the alert states from alert.db and restarts the delivery threads.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <clipbus/reader.h>
#include <curl/curl.h>

#include "alert.h"
#include "config.h"
#include "runtime.h"
#include "sched_class.h"

#define MAX_PEERS 64

struct peer {
    char shm[96];
    uint64_t lost;
};

struct watch {
    const char *config_path;
    const char *state_dir;     /* --state, else alert.state_dir */
    const char *bus;
    struct cbc_config *cfg;    /* owned copy */
    const struct cbc_alert_config *ac;
    struct cbc_rt *rt;
    sqlite3 *db;
    struct al_engine *eng;
    struct cba_notify *nt;
    struct cba_deliver *dl;
    struct al_silences sil;
    int64_t db_version;
    int in_eval;               /* w_tick's evaluation is running */
    int in_txn;                /* ...and has opened its transaction */
    uint64_t generation;
    uint64_t next_eval, next_poll, next_sil;
    int need_seen;
    struct peer peers[MAX_PEERS];
    size_t n_peers;
    uint32_t self_pid;
    int quiet;
    int failed;
};

/* ---- engine callbacks --------------------------------------------------- */

/* The evaluation's transaction, opened by its first write: an evaluation
 * that changes nothing (the usual case, 10 times a second) makes no
 * SQLite call. */
static void
eval_txn(struct watch *w)
{
    if (w->in_eval && !w->in_txn && cba_db_begin(w->db) == 0)
        w->in_txn = 1;
}

static void
on_note(void *arg, const struct al_note *n)
{
    struct watch *w = arg;
    eval_txn(w);
    if (!w->quiet)
        fprintf(stderr, "clipbus-alert: %s %s: %s\n",
                n->firing ? (n->repeat ? "repeat" : "firing") : "resolved",
                n->rule->name, n->summary);
    cba_notify_note(w->nt, n);
}

static void
on_state(void *arg, const struct al_state *s)
{
    struct watch *w = arg;
    eval_txn(w);
    cba_state_put(w->db, s);
}

static int
on_silenced(void *arg, const struct al_label *l, size_t n, uint64_t now)
{
    struct watch *w = arg;
    return al_silenced(&w->sil, w->ac, l, n, now);
}

struct restore_ctx {
    struct watch *w;
    uint64_t now;
};

static void
on_restore(void *arg, const struct al_state *s)
{
    struct restore_ctx *r = arg;
    al_engine_restore(r->w->eng, s, r->now);
}

/* ---- set-up ------------------------------------------------------------- */

static int
engine_up(struct watch *w)
{
    struct al_engine_cbs cbs = {.note = on_note, .state = on_state,
                                .silenced = on_silenced, .arg = w};
    w->ac = &w->cfg->alert;
    w->eng = al_engine_create(w->ac, &cbs);
    w->nt = cba_notify_create(w->ac, w->db);
    if (w->eng == NULL || w->nt == NULL)
        return -ENOMEM;
    struct restore_ctx rc = {w, cba_now_ns()};
    cba_state_load(w->db, on_restore, &rc);
    w->need_seen = 0;
    for (size_t i = 0; i < w->ac->n_rules; i++) {
        const struct cbc_alert_rule *r = &w->ac->rules[i];
        int fnm = 0;
        for (size_t k = 0; k < r->n_match; k++)
            fnm |= strncmp(r->match[k], "function=", 9) == 0;
        w->need_seen |= r->kind == CBC_AK_ABSENCE && !fnm;
    }
    w->dl = cba_deliver_start(w->ac, w->state_dir);
    return w->dl ? 0 : -ENOMEM;
}

static void
engine_down(struct watch *w)
{
    cba_deliver_stop(w->dl);
    al_engine_destroy(w->eng);
    cba_notify_destroy(w->nt);
    w->dl = NULL;
    w->eng = NULL;
    w->nt = NULL;
}

static int
w_start(void *arg, struct cbc_rt *rt)
{
    struct watch *w = arg;
    char err[512];
    w->rt = rt;
    if (cba_db_open(w->state_dir, &w->db, err, sizeof err) != 0) {
        fprintf(stderr, "clipbus-alert: %s; check alert.state_dir or "
                        "--state\n", err);
        return 1;
    }
    cba_silences_load(w->db, cba_now_ns(), &w->sil);
    w->db_version = cba_db_version(w->db);
    if (engine_up(w) != 0) {
        fprintf(stderr, "clipbus-alert: out of memory\n");
        return 1;
    }
    struct cbc_config_status cs;
    cbc_config_status_get(&cs);
    w->generation = cs.generation;
    cbc_rt_set_sink_state(rt, "watching");
    return 0;
}

/* ---- events ------------------------------------------------------------- */

static const char *
labels_of(struct watch *w, const struct cbc_event *ev)
{
    size_t off = 0;
    struct cb_field f;
    while (ev->data && cb_field_next(ev->data, ev->data_len, &off, &f) == 1)
        if (f.type == CB_FIELD_LABELS)
            return cbc_name(w->rt, f.name_id);
    return "";
}

static int
has_error_field(const struct cbc_event *ev)
{
    size_t off = 0;
    struct cb_field f;
    while (ev->data && cb_field_next(ev->data, ev->data_len, &off, &f) == 1)
        if (f.type == CB_FIELD_ERR)
            return 1;
    return 0;
}

static void
w_event(void *arg, const struct cbc_event *ev)
{
    struct watch *w = arg;
    const struct cbc_producer *p = cbc_rt_producer(w->rt, ev->producer);
    struct al_input in = {
        .name = ev->name ? cbc_name(w->rt, ev->name) : "",
        .labels = "",
        .producer = p ? p->program : "",
        .ts_ns = ev->wall_ns,
        .dur_ns = ev->dur_ns,
        .sid = ((uint64_t)ev->producer << 32) | ev->session,
    };
    switch (ev->type) {
    case CBC_EV_RECORD:
        if (w->need_seen) {
            struct al_input s = in;
            s.type = AL_IN_SEEN;
            s.name = "";
            al_engine_feed(w->eng, &s);
        }
        switch (ev->kind) {
        case CB_KIND_CALL:
            in.type = AL_IN_CALL;
            in.error = ev->status == CB_STATUS_ERROR || has_error_field(ev);
            break;
        case CB_KIND_COUNT:
            in.type = AL_IN_COUNT;
            in.value = (double)(int64_t)ev->value;
            break;
        case CB_KIND_GAUGE: {
            double d;
            memcpy(&d, &ev->value, sizeof d);
            in.type = AL_IN_GAUGE;
            in.value = d;
            break;
        }
        case CB_KIND_SESSION_BEGIN:
        case CB_KIND_PROGRESS:
            in.type = AL_IN_SESSION;
            break;
        case CB_KIND_SESSION_END:
            in.type = AL_IN_SESS_END;
            break;
        default:
            return;
        }
        in.labels = labels_of(w, ev);
        break;
    case CBC_EV_PRODUCER_DIED:
        in.type = AL_IN_DIED;
        in.name = "";
        in.ts_ns = cba_now_ns();
        break;
    case CBC_EV_SESSION_ABORTED:
        in.type = AL_IN_ABORTED;
        if (in.ts_ns == 0)
            in.ts_ns = cba_now_ns();
        al_engine_feed(w->eng, &in);
        in.type = AL_IN_SESS_END;
        break;
    case CBC_EV_LOSS:
        in.type = AL_IN_LOST;
        in.name = "";
        in.consumer = "clipbus-alert";
        in.count = ev->count;
        in.ts_ns = cba_now_ns();
        break;
    case CBC_EV_INFLIGHT:
        in.type = AL_IN_INFLIGHT;
        in.ts_ns = cba_now_ns();
        break;
    case CBC_EV_INFLIGHT_DONE:
        in.type = AL_IN_INFL_DONE;
        break;
    default:
        return;
    }
    al_engine_feed(w->eng, &in);
}

/* ---- other consumers' losses -------------------------------------------- */

static int
on_status_seg(void *arg, int kind, const char *shm)
{
    struct watch *w = arg;
    struct cb_status_header h;
    if (kind != CB_SHM_STATUS || cb_status_read(shm, &h) != 0 ||
        h.pid == w->self_pid)
        return 0;
    struct peer *p = NULL;
    for (size_t i = 0; i < w->n_peers; i++)
        if (strcmp(w->peers[i].shm, shm) == 0)
            p = &w->peers[i];
    if (p == NULL) {
        if (w->n_peers == MAX_PEERS)
            return 0;
        p = &w->peers[w->n_peers++];
        snprintf(p->shm, sizeof p->shm, "%s", shm);
        p->lost = 0; /* losses before we looked count too */
    }
    if (h.lost > p->lost) {
        char prog[CB_PROGRAM_MAX + 1];
        memcpy(prog, h.program, CB_PROGRAM_MAX);
        prog[CB_PROGRAM_MAX] = '\0';
        struct al_input in = {.type = AL_IN_LOST, .name = "", .labels = "",
                              .producer = "", .consumer = prog,
                              .count = h.lost - p->lost,
                              .ts_ns = cba_now_ns()};
        al_engine_feed(w->eng, &in);
        p->lost = h.lost;
    }
    return 0;
}

/* ---- tick --------------------------------------------------------------- */

static void
maybe_reload(struct watch *w)
{
    struct cbc_config_status cs;
    cbc_config_status_get(&cs);
    if (cs.generation == w->generation)
        return;
    w->generation = cs.generation;
    struct cbc_config *nc = NULL;
    struct cbc_config_errors errs = {0};
    if (cbc_config_load(w->config_path, &nc, &errs) != 0) {
        cbc_config_errors_fini(&errs);
        return; /* changed again meanwhile: the next generation will do */
    }
    cba_db_begin(w->db);
    cba_notify_flush(w->nt, cba_now_ns(), 1);
    cba_db_commit(w->db);
    engine_down(w);
    cbc_config_free(w->cfg);
    w->cfg = nc;
    if (engine_up(w) != 0)
        fprintf(stderr, "clipbus-alert: out of memory after reload\n");
    else if (!w->quiet)
        fprintf(stderr, "clipbus-alert: %zu rules, %zu channels (config "
                        "generation %" PRIu64 ")\n",
                w->ac->n_rules, w->ac->n_channels, w->generation);
}

static void
w_tick(void *arg, uint64_t now)
{
    struct watch *w = arg;
    if (w->eng == NULL)
        return;
    if (now >= w->next_sil) { /* silences added by `silence add` */
        int64_t v = cba_db_version(w->db);
        if (v != w->db_version) {
            w->db_version = v;
            cba_silences_load(w->db, now, &w->sil);
        }
        w->next_sil = now + 500000000u;
        maybe_reload(w);
    }
    if (now >= w->next_poll) {
        cb_shm_list(w->bus, on_status_seg, w);
        w->next_poll = now + w->ac->records_lost_poll_ns;
    }
    if (now < w->next_eval)
        return;
    w->next_eval = now + w->ac->eval_interval_ns;
    w->in_eval = 1;
    al_engine_eval(w->eng, now);
    int made = 0;
    if (cba_notify_pending(w->nt)) {
        eval_txn(w);
        made = cba_notify_flush(w->nt, now, 0);
    }
    w->in_eval = 0;
    if (w->in_txn) {
        w->in_txn = 0;
        cba_db_commit(w->db);
        /* Our own commit is not a change made by another connection. */
        w->db_version = cba_db_version(w->db);
    }
    if (made > 0)
        cba_deliver_kick(w->dl);
    struct al_engine_stats st;
    al_engine_stats(w->eng, &st);
    char text[64];
    snprintf(text, sizeof text, "%" PRIu64 " firing, %" PRIu64 " pending, %"
             PRIu64 " series", st.firing, st.pending, st.instances);
    cbc_rt_set_sink_state(w->rt, text);
}

/* With no producer running and no event since the last tick, only time
 * can change an alert: the runtime then ticks once a second instead of
 * every eval_interval (it asks this first). Not while an alert is pending
 * (its `for` is counted down: it fires at its time, not up to a second
 * later) or a notification waits to be stored. An idle clipbus-alert
 * woke ten times a second, the most of any idle consumer. */
static int
w_quiet(void *arg)
{
    struct watch *w = arg;
    struct al_engine_stats st;

    if (w->eng == NULL)
        return 1;
    if (cba_notify_pending(w->nt))
        return 0;
    al_engine_stats(w->eng, &st);
    return st.pending == 0;
}

static void
w_stop(void *arg)
{
    struct watch *w = arg;
    if (w->eng) {
        cba_db_begin(w->db);
        cba_notify_flush(w->nt, cba_now_ns(), 1);
        cba_db_commit(w->db);
        cba_deliver_kick(w->dl);
    }
    engine_down(w);
    al_silences_clear(&w->sil);
    if (w->db)
        sqlite3_close(w->db);
    w->db = NULL;
}

/* ---- entry -------------------------------------------------------------- */



int
cba_watch_run(const struct cba_watch_opts *o)
{
    struct watch w = {.config_path = cbc_config_path(o->config),
                      .quiet = o->quiet,
                      .self_pid = (uint32_t)getpid()};
    struct cbc_config_errors errs = {0};
    if (cbc_config_load(w.config_path, &w.cfg, &errs) != 0) {
        fputs(errs.text ? errs.text : "", stderr);
        cbc_config_errors_fini(&errs);
        return CBC_CONFIG_EXIT;
    }
    int sched = cbc_sched_resolve("clipbus-alert", o->sched,
                                  w.cfg->consumer.sched);
    if (sched < 0) {
        cbc_config_free(w.cfg);
        return CBC_CONFIG_EXIT;
    }
    w.state_dir = o->state ? o->state : w.cfg->alert.state_dir;
    w.bus = o->bus ? o->bus : w.cfg->bus.name;
    /* The bus the runtime will read (CLIPBUS_BUS, else "default", when
     * none is given): the losses watched are those of its readers only,
     * never of every bus on the machine. A bad name is reported by the
     * runtime when it opens the bus. */
    {
        int err;
        const char *b = cb_bus_name_resolve(w.bus, &err);
        if (b != NULL)
            w.bus = b;
    }
    if (w.cfg->alert.n_rules == 0 && !o->quiet)
        fprintf(stderr, "clipbus-alert: no rules in alert.rules: nothing "
                        "will fire (see docs/clipbus-alert.md)\n");
    /* An evaluation runs at the first tick at least eval_interval after
     * the last one, so the ticks on the runtime's power-of-two grid set
     * when evaluations happen: by default (100 ms) every 128 ms. A tick of
     * the interval itself (rounded up, at most 128 ms) gives the same
     * evaluation times as the half interval it used to be (at most
     * 64 ms) for every interval up to 128 ms, the default among them,
     * with half the wake-ups; a longer interval's evaluations are at
     * most 128 ms late instead of 64. The cap also keeps silences and
     * reloads looked at within 128 ms. */
    uint64_t tick_ms = w.cfg->alert.eval_interval_ns / 1000000u;
    struct cbc_rt_opts ro = {
        .program = "clipbus-alert",
        .bus = w.bus,
        .grace_s = (uint32_t)(w.cfg->bus.grace_ns / 1000000000u),
        .from = o->from >= 0 ? o->from : w.cfg->bus.from,
        .tick_ms = tick_ms < 10 ? 10 : tick_ms > 128 ? 128 : (uint32_t)tick_ms,
        .idle_tick_ms = 1024,
        .exit_idle_ms = o->exit_idle_ms,
        .inflight_ms = 1000,
        .sched = sched,
    };
    cbc_rt_opts_consumer(&ro, &w.cfg->consumer);
    struct cbc_sink sink = {.arg = &w, .start = w_start, .event = w_event,
                            .tick = w_tick, .stop = w_stop,
                            .quiet = w_quiet};
    int rc = cbc_rt_run(&ro, &sink);
    cbc_config_free(w.cfg);
    return rc < 0 ? 1 : rc;
}
