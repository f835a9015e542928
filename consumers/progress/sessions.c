/*
 * sessions.c -- the live table of progress sessions (sessions.h).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <clipbus/clipbus.h>
#include <clipbus/segment.h>

#include "sessions.h"

#define NS_PER_S 1000000000ull

static const char *const state_names[] = {"running", "ok", "failed",
                                          "partial", "aborted"};

const char *
cbp_state_name(int state)
{
    return state >= 0 && state <= CBP_ABORTED ? state_names[state] : "?";
}

void
cbp_sessions_init(struct cbp_sessions *t, const struct cbp_sessions_opts *o)
{
    memset(t, 0, sizeof *t);
    if (o != NULL)
        t->o = *o;
    if (t->o.stall_ns == 0)
        t->o.stall_ns = 30 * NS_PER_S;
    if (t->o.long_call_ns == 0)
        t->o.long_call_ns = 60 * NS_PER_S;
    if (t->o.keep_ended_ns == 0)
        t->o.keep_ended_ns = 60 * NS_PER_S;
    if (t->o.max == 0)
        t->o.max = 1024;
}

void
cbp_sessions_fini(struct cbp_sessions *t)
{
    free(t->v);
    memset(t, 0, sizeof *t);
}

static double
dbl_of(uint64_t bits)
{
    double d;
    memcpy(&d, &bits, sizeof d);
    return d;
}

static void
copy_name(char *dst, size_t len, const char *src)
{
    snprintf(dst, len, "%s", src != NULL ? src : "?");
}

static struct cbp_session *
find(struct cbp_sessions *t, uint32_t producer, uint32_t id)
{
    for (size_t i = 0; i < t->n; i++)
        if (t->v[i].producer == producer && t->v[i].id == id)
            return &t->v[i];
    return NULL;
}

/* Makes room for one more session: grows the array, or forgets the
 * oldest ended session (or, all running, the oldest one) at the limit. */
static int
make_room(struct cbp_sessions *t)
{
    if (t->n < t->cap)
        return 0;
    if (t->n < t->o.max) {
        size_t cap = t->cap ? t->cap * 2 : 16;
        struct cbp_session *v = realloc(t->v, cap * sizeof *v);
        if (v == NULL)
            return -1;
        t->v = v;
        t->cap = cap;
        return 0;
    }
    size_t victim = 0;
    for (size_t i = 0; i < t->n; i++) {
        int ended_i = t->v[i].state != CBP_RUNNING;
        int ended_v = t->v[victim].state != CBP_RUNNING;
        if ((ended_i && !ended_v) ||
            (ended_i == ended_v && t->v[i].begin_ns < t->v[victim].begin_ns))
            victim = i;
    }
    t->v[victim] = t->v[--t->n];
    t->dropped++;
    return 0;
}

static struct cbp_session *
open_session(struct cbp_sessions *t, const struct cbc_event *ev,
             const char *name, const struct cbc_producer *p)
{
    if (make_room(t) < 0)
        return NULL;
    struct cbp_session *s = &t->v[t->n++];
    memset(s, 0, sizeof *s);
    s->producer = ev->producer;
    s->id = ev->session;
    s->begin_ns = s->last_ns = ev->wall_ns;
    copy_name(s->name, sizeof s->name, name);
    if (p != NULL) {
        s->pid = p->pid;
        copy_name(s->program, sizeof s->program, p->program);
    }
    cbp_eta_init(&s->eta, &t->o.eta, ev->wall_ns);
    return s;
}

/* Open steps: BEGIN pushes (tid, step), END pops the innermost entry of
 * the same thread and name. A full stack forgets its oldest entry. */
static void
step_begin(struct cbp_session *s, uint32_t tid, const char *name)
{
    if (s->nsteps == CBP_STEPS_MAX) {
        memmove(&s->steps[0], &s->steps[1],
                (CBP_STEPS_MAX - 1) * sizeof s->steps[0]);
        s->nsteps--;
    }
    s->steps[s->nsteps].tid = tid;
    copy_name(s->steps[s->nsteps].name, CBP_NAME_MAX, name);
    s->nsteps++;
}

static void
step_end(struct cbp_session *s, uint32_t tid, const char *name)
{
    for (uint32_t i = s->nsteps; i-- > 0;) {
        if (s->steps[i].tid != tid ||
            strncmp(s->steps[i].name, name != NULL ? name : "?",
                    CBP_NAME_MAX - 1) != 0)
            continue;
        memmove(&s->steps[i], &s->steps[i + 1],
                (s->nsteps - i - 1) * sizeof s->steps[0]);
        s->nsteps--;
        return;
    }
}

static void
on_progress(struct cbp_session *s, const struct cbc_event *ev,
            const char *name)
{
    double v = dbl_of(ev->value);

    if (ev->status == CB_PROGRESS_BEGIN) {
        step_begin(s, ev->tid, name);
        return;
    }
    if (ev->status == CB_PROGRESS_END)
        step_end(s, ev->tid, name);
    /* Req 1.4: the producer already rolled nested steps up into session
     * units; a hostile or broken value must not poison the sum. */
    if (isfinite(v) && v > 0)
        s->done += v;
    s->items++;
    if (ev->wall_ns > s->last_ns)
        s->last_ns = ev->wall_ns;
    cbp_eta_add(&s->eta, ev->wall_ns, s->done);
}

static void
on_end(struct cbp_session *s, const struct cbc_event *ev)
{
    if (ev->type == CBC_EV_SESSION_ABORTED)
        s->state = CBP_ABORTED;
    else if (ev->status == CB_SESSION_OK)
        s->state = CBP_OK;
    else if (ev->status == CB_SESSION_PARTIAL)
        s->state = CBP_PARTIAL;
    else
        s->state = CBP_FAILED;
    s->end_ns = ev->wall_ns > s->begin_ns ? ev->wall_ns : s->begin_ns;
    s->stalled = 0;
    s->nsteps = 0;
}

struct cbp_session *
cbp_sessions_event(struct cbp_sessions *t, const struct cbc_event *ev,
                   const char *name, const struct cbc_producer *p)
{
    int is_abort = ev->type == CBC_EV_SESSION_ABORTED;
    struct cbp_session *s;

    if (!is_abort && (ev->type != CBC_EV_RECORD ||
                      (ev->kind != CB_KIND_SESSION_BEGIN &&
                       ev->kind != CB_KIND_SESSION_END &&
                       ev->kind != CB_KIND_PROGRESS)))
        return NULL;
    s = find(t, ev->producer, ev->session);
    if (ev->kind == CB_KIND_SESSION_BEGIN && !is_abort) {
        if (s == NULL)
            s = open_session(t, ev, name, p);
        if (s == NULL)
            return NULL;
        double w = dbl_of(ev->value);
        s->total = isfinite(w) && w > 0 ? w : 0;
        copy_name(s->name, sizeof s->name, name);
        return s;
    }
    if (s == NULL) {
        /* Progress or end of a session whose BEGIN we never saw: the
         * session's name is unknown (a step or nothing is in `name`). */
        s = open_session(t, ev, ev->kind == CB_KIND_PROGRESS ? "?" : name, p);
        if (s == NULL)
            return NULL;
    }
    if (s->state != CBP_RUNNING) {
        /* Rings are read one after another, so another thread's progress
         * can arrive after the end that the main thread wrote later: what
         * happened before the end still counts. */
        double v = dbl_of(ev->value);
        if (ev->kind == CB_KIND_PROGRESS && !is_abort &&
            ev->wall_ns <= s->end_ns && isfinite(v) && v > 0) {
            s->done += v;
            s->items++;
        }
        return NULL;
    }
    if (ev->kind == CB_KIND_PROGRESS && !is_abort)
        on_progress(s, ev, name);
    else
        on_end(s, ev);
    return s;
}

void
cbp_sessions_long_call_reset(struct cbp_sessions *t)
{
    for (size_t i = 0; i < t->n; i++) {
        t->v[i].long_call_ns = 0;
        t->v[i].long_call[0] = '\0';
    }
}

void
cbp_sessions_long_call(struct cbp_sessions *t, uint32_t producer,
                       const char *fname, uint64_t dur_ns)
{
    for (size_t i = 0; i < t->n; i++) {
        struct cbp_session *s = &t->v[i];
        if (s->producer != producer || s->state != CBP_RUNNING ||
            dur_ns <= s->long_call_ns)
            continue;
        s->long_call_ns = dur_ns;
        copy_name(s->long_call, sizeof s->long_call, fname);
    }
}

void
cbp_sessions_tick(struct cbp_sessions *t, uint64_t now_ns)
{
    char a[16];

    for (size_t i = 0; i < t->n;) {
        struct cbp_session *s = &t->v[i];
        if (s->state != CBP_RUNNING) {
            if (now_ns > s->end_ns &&
                now_ns - s->end_ns > t->o.keep_ended_ns) {
                t->v[i] = t->v[--t->n];
                continue;
            }
            i++;
            continue;
        }
        uint64_t idle = now_ns > s->last_ns ? now_ns - s->last_ns : 0;
        s->stalled = 0;
        if (s->long_call_ns >= t->o.long_call_ns) {
            s->stalled = 1;
            /* A very long function name is cut to the reason's size. */
            if (snprintf(s->stall_why, sizeof s->stall_why, "%s running %s",
                         s->long_call,
                         cbp_fmt_secs(a, sizeof a,
                                      (double)s->long_call_ns / 1e9)) >=
                (int)sizeof s->stall_why)
                s->stall_why[sizeof s->stall_why - 1] = '\0';
        } else if (idle >= t->o.stall_ns) {
            s->stalled = 1;
            snprintf(s->stall_why, sizeof s->stall_why, "no progress for %s",
                     cbp_fmt_secs(a, sizeof a, (double)idle / 1e9));
        }
        i++;
    }
}

double
cbp_session_fraction(const struct cbp_session *s)
{
    if (s->state == CBP_OK)
        return 1.0;
    if (!(s->total > 0))
        return -1;
    double f = s->done / s->total;
    return f > 1 ? 1 : f;
}

int
cbp_session_eta(const struct cbp_session *s, uint64_t now_ns, double *eta_s)
{
    if (s->state != CBP_RUNNING || !(s->total > 0))
        return -1;
    return cbp_eta_get(&s->eta, now_ns, s->total, eta_s);
}

double
cbp_session_rate(const struct cbp_session *s)
{
    return cbp_eta_rate(&s->eta);
}

double
cbp_session_items_rate(const struct cbp_session *s, uint64_t now_ns)
{
    uint64_t end = s->end_ns ? s->end_ns : now_ns;
    if (end <= s->begin_ns || s->items == 0)
        return 0;
    return (double)s->items / ((double)(end - s->begin_ns) / 1e9);
}

const char *
cbp_session_step(const struct cbp_session *s)
{
    return s->nsteps ? s->steps[s->nsteps - 1].name : "";
}

char *
cbp_fmt_secs(char *buf, size_t len, double s)
{
    if (!(s >= 0) || !isfinite(s)) {
        snprintf(buf, len, "?");
        return buf;
    }
    unsigned long long n = (unsigned long long)(s + 0.5);
    if (n < 60)
        snprintf(buf, len, "%llus", n);
    else if (n < 3600)
        snprintf(buf, len, "%llum%02llus", n / 60, n % 60);
    else if (n < 86400)
        snprintf(buf, len, "%lluh%02llum", n / 3600, n % 3600 / 60);
    else
        snprintf(buf, len, "%llud%02lluh", n / 86400, n % 86400 / 3600);
    return buf;
}
