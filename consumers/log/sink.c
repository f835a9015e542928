/*
 * sink.c -- events of the consumer runtime into rows of the structured
 * log (Req 1.5). Runs in the runtime's worker thread only.
 *
 * Per event: look up (in arrays indexed by the runtime's small ids) the
 * database ids of the producer, the names and the session, build the
 * parameters as JSON in a reused buffer, and append one row with a
 * prepared statement (logdb.c). Ids the database does not know yet are
 * interned once and cached. See sink.h for how a restart resumes.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <urcu.h>

#include <clipbus/reader.h>

#include "cblbuf.h"
#include "config.h"
#include "sink.h"

#define MAX_SID_SLOTS (1u << 16) /* sessions per producer kept in arrays */

struct sess {
    int64_t id;    /* sessions row; 0: not looked up */
    double total;  /* total weight, 0 unknown */
    double done;   /* units reported so far */
};

/* Per (producer, ring): see sink.h, "Resuming". */
struct ringc {
    uint64_t resume;   /* entries below this recno were stored earlier */
    uint64_t next;     /* recno after the last entry handled */
    uint64_t deferred; /* bus loss held back until `awaiting` ends */
    uint64_t credit;   /* gap records counted, their bus report not seen */
    int awaiting;      /* resumed, no entry at or past `resume` seen yet */
    int seen;          /* `next` is known (an entry or a stored cursor) */
    int dirty;         /* next changed since the cursor was written */
};

/* The pseudo ring of a producer's end events (aborted calls and
 * sessions, exit): its cursor counts those already stored. */
#define RING_END UINT32_MAX

struct prod {
    int64_t id;      /* producers row; 0: not yet mapped */
    int loaded;      /* cursors read (survives a rollback's cache reset) */
    int known;       /* the row existed before this run (a restart) */
    struct ringc *rings;
    uint32_t nrings;
    struct ringc end; /* RING_END: next = end events seen in this run */
    struct sess *sess;
    uint32_t nsess;
};

struct cbl_sink {
    struct cbl_sink_opts opts;
    struct cbc_rt *rt;
    struct cbl_db *db;
    int64_t *names;  /* runtime name handle -> names.id */
    uint32_t nnames;
    struct prod *prods; /* runtime producer id -> state */
    uint32_t nprods;
    struct cbl_buf json, perf;
    uint64_t last_ckpt_ns, last_state_ns, next_maint_ns;
    uint64_t ckpt_commits; /* commits when the last checkpoint ran */
    int maint_active;
    int rcu_registered; /* the worker thread, for config reads */
    uint64_t rollbacks; /* cbl_db_rollbacks() the caches are valid for */
    uint64_t credit;    /* gap records counted, no bus/hand-off report yet */
    struct cbl_maint maint;
    struct cbl_sink_stats st;
};

static uint64_t
mono_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

/* Grows an array of `size`-byte elements to hold index i (zero-filled). */
static int
grow(void **arr, uint32_t *n, uint32_t i, size_t size)
{
    if (i < *n)
        return 0;
    uint32_t cap = *n ? *n : 64;
    while (cap <= i)
        cap *= 2;
    void *p = realloc(*arr, (size_t)cap * size);
    if (!p)
        return -1;
    memset((char *)p + (size_t)*n * size, 0, (size_t)(cap - *n) * size);
    *arr = p;
    *n = cap;
    return 0;
}

/* names.id of runtime handle h (0 for handle 0 or on failure). */
static int64_t
name_id(struct cbl_sink *s, uint32_t h)
{
    if (h == 0)
        return 0;
    if (grow((void **)&s->names, &s->nnames, h, sizeof *s->names) < 0)
        return 0;
    if (s->names[h] == 0) {
        const char *str = cbc_name(s->rt, h);
        s->names[h] = cbl_name_id(s->db, str, strlen(str));
    }
    return s->names[h];
}

static void
load_cursor(void *arg, uint32_t ring, uint64_t next_recno)
{
    struct prod *p = arg;
    struct ringc *r;
    if (ring == RING_END) {
        p->end.resume = next_recno;
        return;
    }
    if (grow((void **)&p->rings, &p->nrings, ring, sizeof *p->rings) < 0)
        return;
    r = &p->rings[ring];
    r->resume = next_recno;
    r->next = next_recno;
    r->awaiting = 1;
    r->seen = 1;
}

static struct prod *
prod_of(struct cbl_sink *s, uint32_t id, uint64_t wall_ns)
{
    const struct cbc_producer *info;
    struct prod *p;
    int known = 0;

    if (id == 0 ||
        grow((void **)&s->prods, &s->nprods, id, sizeof *s->prods) < 0)
        return NULL;
    p = &s->prods[id];
    if (p->id)
        return p;
    info = cbc_rt_producer(s->rt, id);
    if (!info)
        return NULL;
    p->id = cbl_producer_id(s->db, info->pid, info->start_time, info->program,
                            info->created_ns ? info->created_ns : wall_ns,
                            &known);
    if (p->id && !p->loaded) {
        /* Once per run: after a rollback the in-memory cursors are ahead
         * of the stored ones and stay right. */
        p->loaded = 1;
        p->known = known;
        if (known)
            cbl_cursor_load(s->db, p->id, load_cursor, p);
    }
    return p->id ? p : NULL;
}

static struct sess *
sess_of(struct cbl_sink *s, struct prod *p, uint32_t sid)
{
    if (sid == 0 || sid >= MAX_SID_SLOTS ||
        grow((void **)&p->sess, &p->nsess, sid, sizeof *p->sess) < 0)
        return NULL;
    struct sess *se = &p->sess[sid];
    if (se->id == 0) {
        se->id = cbl_session_ref(s->db, p->id, sid);
        /* A restart: continue from what the stored rows say. */
        if (se->id && p->known && se->total == 0 && se->done == 0)
            cbl_session_state(s->db, se->id, &se->total, &se->done);
    }
    return se->id ? se : NULL;
}

static void on_loss_row(struct cbl_sink *s, struct prod *p, uint32_t ring,
                        uint64_t count, const char *source);

/* Records the entries of an entry's ring: 1 if entry ev was stored by an
 * earlier run (skip it), else 0 after moving the ring's cursor past it.
 *
 * Records between the cursor and ev never reached the sink (lapped on
 * the bus or dropped at the hand-off): they are counted here, in the
 * transaction that moves the cursor past them, because the bus or
 * hand-off report of them comes later -- after a kill -9 in between it
 * would never come, and the restart would skip them uncounted. The
 * reports that follow are matched against this credit (on_loss()).
 * After a restart, the bus loss held back until the first entry at or
 * past the resume point is dropped: what is really missing is
 * [resume, recno), counted the same way. */
static int
already_stored(struct cbl_sink *s, struct prod *p, const struct cbc_event *ev)
{
    struct ringc *r;
    /* Records the entry takes besides its head (the runtime says). */
    uint64_t ext = ev->records > 0 ? ev->records - 1u : 0;

    if (ev->ring == CBC_RING_HANDOFF || ev->ring == RING_END ||
        grow((void **)&p->rings, &p->nrings, ev->ring, sizeof *p->rings) < 0)
        return 0;
    r = &p->rings[ev->ring];
    if (r->awaiting) {
        if (ev->recno < r->resume)
            return 1;
        r->awaiting = 0;
        r->deferred = 0;
    }
    if (r->seen && ev->recno > r->next) {
        uint64_t gap = ev->recno - r->next;
        on_loss_row(s, p, ev->ring, gap, "gap");
        r->credit += gap;
        s->credit += gap;
    }
    r->seen = 1;
    r->next = ev->recno + 1 + ext;
    r->dirty = 1;
    return 0;
}

/* 1 if this end event (aborted call or session, exit) of p was stored by
 * an earlier run: they come in the same order each time the producer's
 * segment is read, after all its entries. */
static int
end_stored(struct prod *p)
{
    p->end.next++;
    if (p->end.next <= p->end.resume)
        return 1;
    p->end.dirty = 1;
    return 0;
}

static int
precommit(void *arg, struct cbl_db *db)
{
    struct cbl_sink *s = arg;
    for (uint32_t i = 0; i < s->nprods; i++) {
        struct prod *p = &s->prods[i];
        if (!p->id)
            continue;
        for (uint32_t r = 0; r < p->nrings; r++)
            if (p->rings[r].dirty) {
                if (cbl_cursor_put(db, p->id, r, p->rings[r].next) < 0)
                    return -1;
                p->rings[r].dirty = 0;
            }
        if (p->end.dirty) {
            if (cbl_cursor_put(db, p->id, RING_END, p->end.next) < 0)
                return -1;
            p->end.dirty = 0;
        }
    }
    return 0;
}

/* ---- fields to JSON ----------------------------------------------------- */

static void
perf_json(struct cbl_buf *b, const struct cb_perf *pf)
{
    cbl_buf_printf(b,
                   "{\"cpu_ns\":%llu,\"rss_delta_kb\":%lld,\"rss_kb\":%llu,"
                   "\"maxrss_kb\":%llu,\"vol_csw\":%llu,\"invol_csw\":%llu}",
                   (unsigned long long)pf->cpu_ns,
                   (long long)pf->rss_delta_kb,
                   (unsigned long long)pf->rss_kb,
                   (unsigned long long)pf->maxrss_kb,
                   (unsigned long long)pf->vol_csw,
                   (unsigned long long)pf->invol_csw);
}

/* What an entry's fields carry besides the JSON object. */
struct extra {
    int has_err;
    int64_t err_code;
    const char *err, *msg;
    size_t err_len, msg_len;
    uint32_t labels;
    int has_perf;
};

/* Decodes ev's fields: named values into s->json as one JSON object
 * (left empty when there are none), the rest into *x. */
static void
fields(struct cbl_sink *s, const struct cbc_event *ev, struct extra *x)
{
    struct cb_field f;
    size_t off = 0;
    int n = 0;

    memset(x, 0, sizeof *x);
    cbl_buf_reset(&s->json);
    cbl_buf_reset(&s->perf);
    while (cb_field_next(ev->data, ev->data_len, &off, &f) == 1) {
        if (f.type == CB_FIELD_ERR) {
            x->has_err = 1;
            x->err_code = f.i;
            x->err = f.s;
            x->err_len = f.s_len;
            continue;
        }
        if (f.type == CB_FIELD_PERF) {
            x->has_perf = 1;
            perf_json(&s->perf, &f.perf);
            continue;
        }
        if (f.type == CB_FIELD_LABELS) {
            x->labels = f.name_id;
            continue;
        }
        if (f.type == CB_FIELD_STR && f.name_id == 0 && !x->msg) {
            x->msg = f.s ? f.s : "";
            x->msg_len = f.s_len;
            continue;
        }
        if (f.type != CB_FIELD_I64 && f.type != CB_FIELD_F64 &&
            f.type != CB_FIELD_STR)
            continue;
        cbl_buf_addc(&s->json, n++ ? ',' : '{');
        const char *key = cbc_name(s->rt, f.name_id);
        cbl_buf_json_str(&s->json, key, strlen(key));
        cbl_buf_addc(&s->json, ':');
        if (f.type == CB_FIELD_I64)
            cbl_buf_i64(&s->json, f.i);
        else if (f.type == CB_FIELD_F64)
            cbl_buf_json_num(&s->json, f.d);
        else
            cbl_buf_json_str(&s->json, f.s ? f.s : "", f.s_len);
    }
    if (n)
        cbl_buf_addc(&s->json, '}');
}

/* ---- events -------------------------------------------------------------- */

static void
on_call(struct cbl_sink *s, struct prod *p, const struct cbc_event *ev,
        int status)
{
    struct cbl_call c;
    struct extra x;
    struct sess *se = sess_of(s, p, ev->session);

    fields(s, ev, &x);
    memset(&c, 0, sizeof c);
    c.ts = (int64_t)ev->wall_ns;
    c.dur_ns = (int64_t)ev->dur_ns;
    c.func = name_id(s, ev->name);
    c.status = status;
    c.producer = p->id;
    c.tid = ev->tid;
    c.session = se ? se->id : 0;
    c.has_err = x.has_err;
    c.err_code = x.err_code;
    c.err_msg = x.err;
    c.err_len = x.err_len;
    c.params = s->json.len ? s->json.p : NULL;
    c.params_len = s->json.len;
    c.perf = x.has_perf ? s->perf.p : NULL;
    c.perf_len = s->perf.len;
    c.flags = ev->flags;
    if (c.func == 0)
        c.func = cbl_name_id(s->db, "?", 1);
    cbl_call_add(s->db, &c);
}

static void
on_log(struct cbl_sink *s, struct prod *p, const struct cbc_event *ev)
{
    struct cbl_log l;
    struct extra x;
    struct sess *se = sess_of(s, p, ev->session);

    fields(s, ev, &x);
    memset(&l, 0, sizeof l);
    l.ts = (int64_t)ev->wall_ns;
    l.level = ev->status;
    l.producer = p->id;
    l.tid = ev->tid;
    l.session = se ? se->id : 0;
    l.func = name_id(s, ev->name);
    l.msg = x.msg ? x.msg : "";
    l.msg_len = x.msg_len;
    l.fields = s->json.len ? s->json.p : NULL;
    l.fields_len = s->json.len;
    l.flags = ev->flags;
    cbl_log_add(s->db, &l);
}

static void
on_metric(struct cbl_sink *s, struct prod *p, const struct cbc_event *ev)
{
    struct cbl_metric m;
    struct extra x;
    int64_t iv;
    double dv;

    fields(s, ev, &x);
    memcpy(&iv, &ev->value, 8);
    memcpy(&dv, &ev->value, 8);
    m.ts = (int64_t)ev->wall_ns;
    m.name = name_id(s, ev->name);
    m.labels = name_id(s, x.labels);
    m.kind = ev->kind;
    m.value = ev->kind == CB_KIND_COUNT ? (double)iv : dv;
    m.producer = p->id;
    cbl_metric_add(s->db, &m);
}

static void
on_session(struct cbl_sink *s, struct prod *p, const struct cbc_event *ev)
{
    struct sess *se;
    double v;

    memcpy(&v, &ev->value, 8);
    if (ev->type == CBC_EV_RECORD && ev->kind == CB_KIND_SESSION_BEGIN) {
        se = sess_of(s, p, ev->session);
        if (!se)
            return;
        se->total = v;
        cbl_session_begin(s->db, p->id, ev->session, name_id(s, ev->name),
                          (int64_t)ev->wall_ns, v);
        return;
    }
    se = sess_of(s, p, ev->session);
    if (!se)
        return;
    int status = ev->type == CBC_EV_SESSION_ABORTED ? CBL_SESSION_ABORTED
                                                    : ev->status;
    cbl_session_end(s->db, se->id, (int64_t)ev->wall_ns, status, se->done);
}

static void
on_progress(struct cbl_sink *s, struct prod *p, const struct cbc_event *ev)
{
    struct sess *se = sess_of(s, p, ev->session);
    double units;

    if (!se)
        return;
    memcpy(&units, &ev->value, 8);
    if (isfinite(units))
        se->done += units;
    cbl_progress_add(s->db, se->id, (int64_t)ev->wall_ns,
                     name_id(s, ev->name), ev->status, units,
                     se->total > 0 ? se->done / se->total : -1);
}

static void
on_record(struct cbl_sink *s, struct prod *p, const struct cbc_event *ev)
{
    switch (ev->kind) {
    case CB_KIND_CALL:
        on_call(s, p, ev, ev->status == CB_STATUS_ERROR ? CBL_ERROR : CBL_OK);
        break;
    case CB_KIND_LOG:
        on_log(s, p, ev);
        break;
    case CB_KIND_COUNT:
    case CB_KIND_GAUGE:
    case CB_KIND_OBSERVE:
        on_metric(s, p, ev);
        break;
    case CB_KIND_SESSION_BEGIN:
    case CB_KIND_SESSION_END:
        on_session(s, p, ev);
        break;
    case CB_KIND_PROGRESS:
        on_progress(s, p, ev);
        break;
    default:
        break;
    }
}

static void
on_loss_row(struct cbl_sink *s, struct prod *p, uint32_t ring, uint64_t count,
            const char *source)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    cbl_loss_add(s->db, (int64_t)t.tv_sec * 1000000000 + (int64_t)t.tv_nsec,
                 p ? p->id : 0, ring == CBC_RING_HANDOFF ? -1 : (int64_t)ring,
                 count, source);
}

static void
on_loss(struct cbl_sink *s, const struct cbc_event *ev)
{
    struct prod *p = ev->producer ? prod_of(s, ev->producer, 0) : NULL;
    int handoff = ev->ring == CBC_RING_HANDOFF;

    if (handoff)
        s->st.handoff_lost += ev->count;
    else
        s->st.bus_lost += ev->count;
    /* A resumed ring re-read from its start reports as lost what was
     * overwritten since, stored by the earlier run or not: held back
     * until the first new entry tells what is really missing. */
    if (p && !handoff && ev->ring < p->nrings && p->rings[ev->ring].awaiting) {
        p->rings[ev->ring].deferred += ev->count;
        return;
    }
    /* What gaps already counted is not counted again. The global credit
     * bounds the match, so the sum stays right whichever ring a hand-off
     * report (it names none) is taken from. */
    uint64_t match = ev->count < s->credit ? ev->count : s->credit;
    if (!handoff) {
        struct ringc *r = p && ev->ring < p->nrings ? &p->rings[ev->ring]
                                                     : NULL;
        match = r ? (match < r->credit ? match : r->credit) : 0;
        if (r)
            r->credit -= match;
    }
    s->credit -= match;
    if (ev->count > match)
        on_loss_row(s, p, ev->ring, ev->count - match,
                    handoff ? "handoff" : "bus");
}

/* At a producer's end: loss still held back had no entry after it, so
 * how much of it was stored before is unknown: recorded whole (it may
 * count records an earlier run stored). */
static void
flush_deferred(struct cbl_sink *s, struct prod *p)
{
    for (uint32_t r = 0; r < p->nrings; r++) {
        struct ringc *rc = &p->rings[r];
        if (rc->awaiting && rc->deferred)
            on_loss_row(s, p, r, rc->deferred, "bus");
        rc->deferred = 0;
        rc->awaiting = 0;
    }
}

/* After a rollback the cached ids may name rows that no longer exist:
 * forget them (they are looked up or inserted again). */
static void
check_caches(struct cbl_sink *s)
{
    uint64_t n = cbl_db_rollbacks(s->db);
    if (n == s->rollbacks)
        return;
    s->rollbacks = n;
    if (s->names)
        memset(s->names, 0, (size_t)s->nnames * sizeof *s->names);
    for (uint32_t i = 0; i < s->nprods; i++) {
        struct prod *p = &s->prods[i];
        p->id = 0;
        for (uint32_t j = 0; j < p->nsess; j++)
            p->sess[j].id = 0;
        /* The rolled-back batch held cursor rows: write them again. */
        for (uint32_t r = 0; r < p->nrings; r++)
            p->rings[r].dirty = p->rings[r].next != 0;
        p->end.dirty = p->end.next != 0;
    }
}

static void
sink_event(void *arg, const struct cbc_event *ev)
{
    struct cbl_sink *s = arg;
    struct prod *p;

    s->st.events++;
    check_caches(s);
    if (ev->type == CBC_EV_LOSS) {
        on_loss(s, ev);
        return;
    }
    if (ev->type != CBC_EV_RECORD && ev->type != CBC_EV_CALL_ABORTED &&
        ev->type != CBC_EV_SESSION_ABORTED &&
        ev->type != CBC_EV_PRODUCER_EXIT && ev->type != CBC_EV_PRODUCER_DIED)
        return;
    p = prod_of(s, ev->producer, ev->wall_ns);
    if (!p) {
        /* Its producer row could not be stored (lock, disk): counted. */
        if (ev->type == CBC_EV_RECORD || ev->type == CBC_EV_CALL_ABORTED)
            cbl_db_count_lost(s->db, 1);
        return;
    }
    if (ev->type == CBC_EV_RECORD ? already_stored(s, p, ev) : end_stored(p)) {
        s->st.rows_skipped++;
        return;
    }
    if (ev->type == CBC_EV_PRODUCER_EXIT || ev->type == CBC_EV_PRODUCER_DIED) {
        flush_deferred(s, p);
        cbl_producer_end(s->db, p->id, ev->wall_ns,
                         ev->type == CBC_EV_PRODUCER_EXIT ? "exited" : "died");
        return;
    }
    if (ev->type == CBC_EV_CALL_ABORTED)
        on_call(s, p, ev, CBL_ABORTED);
    else if (ev->type == CBC_EV_SESSION_ABORTED)
        on_session(s, p, ev);
    else
        on_record(s, p, ev);
}

/* ---- start, tick, stop --------------------------------------------------- */

static int
sink_start(void *arg, struct cbc_rt *rt)
{
    struct cbl_sink *s = arg;
    char err[512];

    /* The runtime calls start() in the thread that called cbc_rt_run()
     * (not the worker, as runtime.h says); nothing here needs the
     * worker. The worker registers with RCU on first use (retention). */
    s->rt = rt;
    if (cbl_db_open(&s->opts.db, &s->db, err, sizeof err) < 0) {
        fprintf(stderr, "clipbus-log: %s\n", err);
        return 1;
    }
    cbl_db_set_precommit(s->db, precommit, s);
    s->next_maint_ns = mono_ns(); /* once at start */
    return 0;
}

/* Retention settings: the current config's (hot reload) or the opts'. */
static void
retention(struct cbl_sink *s, struct cbl_retention *r)
{
    *r = s->opts.keep;
    if (!s->opts.use_config)
        return;
    if (!s->rcu_registered) {
        rcu_register_thread();
        s->rcu_registered = 1;
    }
    rcu_read_lock();
    const struct cbc_config *cfg = cbc_config_current();
    if (cfg) {
        r->keep_raw_ns = cfg->log.keep_raw_ns;
        r->keep_summary_ns = cfg->log.keep_summary_ns;
        r->max_size_bytes = cfg->log.max_size_bytes;
    }
    rcu_read_unlock();
}

/* A slice of maintenance, at most 50 ms per tick, between batches. */
static void
maintain(struct cbl_sink *s, uint64_t now_real, uint64_t now)
{
    struct cbl_retention r;
    if (!s->maint_active) {
        if (now < s->next_maint_ns)
            return;
        cbl_maint_begin(&s->maint);
        s->maint_active = 1;
    }
    if (cbl_db_commit(s->db) != 0)
        return;
    retention(s, &r);
    int rc = cbl_maint_step(cbl_db_handle(s->db), &r, (int64_t)now_real,
                            50000000u, &s->maint);
    if (rc == 1)
        return;
    if (rc < 0)
        fprintf(stderr, "clipbus-log: %s: maintenance: %s; retrying at the "
                        "next interval\n",
                s->opts.db.path, sqlite3_errstr(s->maint.rc));
    else if (s->opts.verbose)
        fprintf(stderr,
                "clipbus-log: maintenance: %llu days summarized, %llu rows "
                "expired, %llu summaries expired, %llu rows over the size "
                "cap, %llu pages vacuumed\n",
                (unsigned long long)s->maint.days_summarized,
                (unsigned long long)s->maint.rows_deleted,
                (unsigned long long)s->maint.summaries_deleted,
                (unsigned long long)s->maint.rows_capped,
                (unsigned long long)s->maint.pages_vacuumed);
    s->maint_active = 0;
    s->next_maint_ns = now + s->opts.maintenance_interval_ns;
}

static void
sink_tick(void *arg, uint64_t now_real)
{
    struct cbl_sink *s = arg;
    uint64_t now = mono_ns();
    struct cbl_db_stats ds;

    if (cbl_db_failed(s->db)) {
        if (!s->st.exit_status) {
            cbl_db_stats(s->db, &ds);
            fprintf(stderr, "clipbus-log: %s: the database is damaged (%s); "
                            "stopping. Move it aside and restart.\n",
                    s->opts.db.path, ds.last_error);
            s->st.exit_status = 1;
            cbc_rt_stop(s->rt);
        }
        return;
    }
    cbl_db_tick(s->db, now);
    if (now - s->last_ckpt_ns >= 1000000000u) {
        /* Only after new commits: an idle log touches no file. */
        s->last_ckpt_ns = now;
        cbl_db_stats(s->db, &ds);
        if (ds.commits != s->ckpt_commits || cbl_db_pending(s->db)) {
            s->ckpt_commits = ds.commits;
            cbl_db_checkpoint(s->db);
        }
    }
    maintain(s, now_real, now);
    if (now - s->last_state_ns >= 500000000u) {
        char text[64];
        s->last_state_ns = now;
        cbl_db_stats(s->db, &ds);
        snprintf(text, sizeof text, "rows %llu lost %llu%s",
                 (unsigned long long)ds.rows,
                 (unsigned long long)ds.lost_rows,
                 ds.last_rc && ds.failures ? " db-errors" : "");
        cbc_rt_set_sink_state(s->rt, text);
    }
}

static void
sink_stop(void *arg)
{
    struct cbl_sink *s = arg;
    cbl_db_commit(s->db);
    cbl_db_checkpoint(s->db);
    cbl_db_stats(s->db, &s->st.db);
    cbl_db_close(s->db);
    s->db = NULL;
    if (s->rcu_registered)
        rcu_unregister_thread();
    s->rcu_registered = 0;
}

struct cbl_sink *
cbl_sink_create(const struct cbl_sink_opts *opts)
{
    struct cbl_sink *s = calloc(1, sizeof *s);
    if (s)
        s->opts = *opts;
    return s;
}

void
cbl_sink_destroy(struct cbl_sink *s)
{
    if (!s)
        return;
    cbl_db_close(s->db);
    for (uint32_t i = 0; i < s->nprods; i++) {
        free(s->prods[i].rings);
        free(s->prods[i].sess);
    }
    free(s->prods);
    free(s->names);
    cbl_buf_free(&s->json);
    cbl_buf_free(&s->perf);
    free(s);
}

/* Nothing to commit, check-point or maintain: ticks may slow down. */
static int
sink_quiet(void *arg)
{
    struct cbl_sink *s = arg;
    struct cbl_db_stats ds;

    if (s->db == NULL || s->maint_active || cbl_db_pending(s->db))
        return 0;
    cbl_db_stats(s->db, &ds);
    return ds.commits == s->ckpt_commits;
}

void
cbl_sink_bind(struct cbl_sink *s, struct cbc_sink *out)
{
    out->arg = s;
    out->start = sink_start;
    out->event = sink_event;
    out->tick = sink_tick;
    out->stop = sink_stop;
    out->quiet = sink_quiet;
}

void
cbl_sink_stats(const struct cbl_sink *s, struct cbl_sink_stats *out)
{
    *out = s->st;
    if (s->db)
        cbl_db_stats(s->db, &out->db);
}
