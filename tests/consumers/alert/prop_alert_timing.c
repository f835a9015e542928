/*
 * tests/consumers/alert/prop_alert_timing.c -- Property 7: Alert Timing
 * Compliance.
 *
 * Random rules (for, fire and clear thresholds with either direction,
 * cooldown, repeat) on gauges, random evaluation times (irregular gaps,
 * like the watcher's ticks) and random value timelines (runs below the
 * clear threshold, between clear and fire, at the thresholds exactly and
 * above fire) go through the rule engine (cba_engine, the code the
 * watcher and `clipbus-alert test` run). One gauge sample is fed at every
 * evaluation time, so each evaluation sees exactly that sample as the
 * rule's value and the test knows the condition at every evaluation.
 *
 * The engine's notifications must equal those of a reference written here
 * from docs/clipbus-alert.md ("Timing per alert"), and must satisfy the
 * properties directly:
 *   - a first page at t: the fire condition had held for `for` (over the
 *     evaluations from its start), the clear condition since; and the page
 *     is not one evaluation late unless a cooldown held it back (so the
 *     firing time is exact to one evaluation gap);
 *   - firing and resolved alternate; a resolved at t is the first
 *     evaluation at which the clear condition no longer holds;
 *   - no new page within `cooldown` of a resolve; repeats only with
 *     repeat > 0, every `repeat` apart (not sooner), never after a resolve.
 *
 * Seeded: CB_TEST_SEED (printed on failure), CB_TEST_ITERS timelines.
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cbt.h"
#include "engine.h"

#define NRULES  4
#define NEVAL   400
#define MAXNOTE 4096
#define S       1000000000ull
#define MS      1000000ull

struct note {
    int rule, firing, repeat;
    uint64_t at;
};

struct run {
    struct note v[MAXNOTE];
    size_t n;
    const struct cbc_alert_rule *rules;
};

static void
on_note(void *arg, const struct al_note *n)
{
    struct run *r = arg;
    if (r->n < MAXNOTE)
        r->v[r->n++] = (struct note){.rule = (int)(n->rule - r->rules),
                                     .firing = n->firing,
                                     .repeat = n->repeat,
                                     .at = n->at_ns};
}

/* ---- the reference: docs/clipbus-alert.md, "Timing per alert" ---------- */

/* "the condition must hold `for` before it fires; it clears at `clear`
 * (hysteresis); a paged alert is repeated every `repeat` (0s: never) and
 * gets a resolved notification; after a resolve, a new firing is not paged
 * within `cooldown`", and from engine.h: an instance cooling down is paged
 * "later, when that ends, if it still fires"; one never paged resolves
 * silently. */
struct ref {
    enum { IDLE, WAIT, FIRE } st;
    uint64_t cond_since, last_page, last_resolve;
    int paged, ever_resolved;
};

static int
holds(int op, double v, double thr)
{
    return op == CBC_AOP_ABOVE ? v > thr : v < thr;
}

static void
ref_eval(const struct cbc_alert_rule *r, int ri, struct ref *x, double v,
         uint64_t t, struct run *out)
{
    if (x->st == FIRE) {
        if (!holds(r->op, v, r->clear)) {
            if (x->paged) {
                out->v[out->n++] = (struct note){ri, 0, 0, t};
                x->last_resolve = t;
                x->ever_resolved = 1;
            }
            x->st = IDLE;
            x->paged = 0;
            return;
        }
    } else {
        if (!holds(r->op, v, r->fire)) {
            x->st = IDLE;
            return;
        }
        if (x->st == IDLE) {
            x->st = WAIT;
            x->cond_since = t;
        }
        if (t - x->cond_since < r->for_ns)
            return;
        x->st = FIRE;
        x->paged = 0;
    }
    /* firing: page, repeat, or wait for the cooldown */
    if (x->paged) {
        if (r->repeat_ns > 0 && t - x->last_page >= r->repeat_ns) {
            out->v[out->n++] = (struct note){ri, 1, 1, t};
            x->last_page = t;
        }
    } else if (!x->ever_resolved || t - x->last_resolve >= r->cooldown_ns) {
        out->v[out->n++] = (struct note){ri, 1, 0, t};
        x->paged = 1;
        x->last_page = t;
    }
}

/* ---- random rules and timelines ----------------------------------------- */

static uint64_t
pick_dur(struct cbt_rng *g, uint64_t max_s)
{
    switch (cbt_below(g, 4)) {
    case 0:
        return 0;
    case 1: /* whole seconds: lands on evaluation times when gaps are 1 s */
        return (1 + cbt_below(g, max_s)) * S;
    default: /* anything, ms resolution */
        return cbt_below(g, max_s * 1000 + 1) * MS;
    }
}

static void
make_rule(struct cbt_rng *g, struct cbc_alert_rule *r, const char **match,
          char *name, size_t len, int i)
{
    memset(r, 0, sizeof *r);
    snprintf(name, len, "R%d", i);
    r->name = name;
    r->kind = CBC_AK_GAUGE;
    r->match = match;
    r->n_match = 1;
    r->window_ns = 5 * S; /* longer than any evaluation gap */
    r->op = cbt_below(g, 3) == 0 ? CBC_AOP_BELOW : CBC_AOP_ABOVE;
    r->fire = (double)(10 + cbt_below(g, 10));
    double h = (double)cbt_below(g, 4); /* hysteresis; 0: none */
    r->clear = r->op == CBC_AOP_ABOVE ? r->fire - h : r->fire + h;
    r->threshold = CBC_ATH_STATIC;
    r->min_count = 1;
    r->for_ns = pick_dur(g, 8);
    r->repeat_ns = pick_dur(g, 20);
    r->cooldown_ns = pick_dur(g, 30);
    r->severity = CBC_ASEV_WARNING;
    r->summary = "{rule} {value}";
    r->description = "";
}

/* A value that is, relative to the rule, one of: clearly off, exactly at
 * the clear threshold, between clear and fire, exactly at fire, clearly
 * on. Runs of 1..25 evaluations of one level, with single-evaluation
 * flaps now and then. */
static double
level_value(const struct cbc_alert_rule *r, int level)
{
    double s = r->op == CBC_AOP_ABOVE ? 1 : -1;
    switch (level) {
    case 0:
        return r->clear - s * 3;
    case 1:
        return r->clear;
    case 2:
        return (r->clear + r->fire) / 2;
    case 3:
        return r->fire;
    default:
        return r->fire + s * 2;
    }
}

/* ---- checks ---------------------------------------------------------- */

struct tl {
    uint64_t t[NEVAL];
    double v[NRULES][NEVAL];
};

static int
find_eval(const struct tl *tl, uint64_t t)
{
    for (int k = 0; k < NEVAL; k++)
        if (tl->t[k] == t)
            return k;
    return -1;
}

/* 1 if at evaluation k an alert may be firing: the clear condition has
 * held since an evaluation j at which the fire condition had held for at
 * least `for` (over the evaluations of [t_j - for, t_j]). */
static int
eligible(const struct cbc_alert_rule *r, int ri, const struct tl *tl, int k)
{
    for (int j = k; j >= 0 && holds(r->op, tl->v[ri][j], r->clear); j--) {
        int s = j;
        while (s >= 0 && holds(r->op, tl->v[ri][s], r->fire))
            s--;
        if (s < j && tl->t[j] - tl->t[s + 1] >= r->for_ns)
            return 1;
    }
    return 0;
}

/* Direct checks of the properties on the engine's notifications. Returns
 * NULL or what is wrong. */
static const char *
check_props(const struct cbc_alert_rule *r, int ri, const struct tl *tl,
            const struct run *got, char *why, size_t len)
{
    int firing = 0;
    uint64_t last_page = 0, last_resolve = 0;
    int resolved_once = 0;
    for (size_t i = 0; i < got->n; i++) {
        const struct note *n = &got->v[i];
        if (n->rule != ri)
            continue;
        int k = find_eval(tl, n->at);
        if (k < 0) {
            snprintf(why, len, "note at a time that is no evaluation");
            return why;
        }
        double v = tl->v[ri][k];
        if (n->firing && !n->repeat) {
            if (firing) {
                snprintf(why, len, "second page at +%.3fs without a resolve",
                         (double)(n->at - tl->t[0]) / 1e9);
                return why;
            }
            /* the fire condition held for `for` (the clear one since),
             * and, unless a cooldown held the page back, not already
             * one evaluation earlier */
            if (!eligible(r, ri, tl, k)) {
                snprintf(why, len, "page at +%.3fs: condition did not hold "
                         "for %.3fs", (double)(n->at - tl->t[0]) / 1e9,
                         (double)r->for_ns / 1e9);
                return why;
            }
            if (k > 0 && eligible(r, ri, tl, k - 1) &&
                !(resolved_once &&
                  tl->t[k - 1] - last_resolve < r->cooldown_ns)) {
                snprintf(why, len, "page at +%.3fs is one evaluation late",
                         (double)(n->at - tl->t[0]) / 1e9);
                return why;
            }
            if (resolved_once && n->at - last_resolve < r->cooldown_ns) {
                snprintf(why, len, "page at +%.3fs within cooldown %.3fs of "
                         "the resolve at +%.3fs",
                         (double)(n->at - tl->t[0]) / 1e9,
                         (double)r->cooldown_ns / 1e9,
                         (double)(last_resolve - tl->t[0]) / 1e9);
                return why;
            }
            firing = 1;
            last_page = n->at;
        } else if (n->firing) {
            if (!firing || r->repeat_ns == 0 ||
                n->at - last_page < r->repeat_ns) {
                snprintf(why, len, "repeat at +%.3fs (last page +%.3fs, "
                         "repeat %.3fs, firing %d)",
                         (double)(n->at - tl->t[0]) / 1e9,
                         (double)(last_page - tl->t[0]) / 1e9,
                         (double)r->repeat_ns / 1e9, firing);
                return why;
            }
            /* not later than the first evaluation at or after the due
             * time */
            if (k > 0 && tl->t[k - 1] - last_page >= r->repeat_ns) {
                snprintf(why, len, "repeat at +%.3fs is late",
                         (double)(n->at - tl->t[0]) / 1e9);
                return why;
            }
            last_page = n->at;
        } else {
            if (!firing || holds(r->op, v, r->clear) ||
                (k > 0 && !holds(r->op, tl->v[ri][k - 1], r->clear))) {
                snprintf(why, len, "resolved at +%.3fs is not the first "
                         "evaluation where the clear condition failed",
                         (double)(n->at - tl->t[0]) / 1e9);
                return why;
            }
            firing = 0;
            resolved_once = 1;
            last_resolve = n->at;
        }
    }
    return NULL;
}

static void
dump(const char *what, const struct run *x, int ri, uint64_t t0)
{
    fprintf(stderr, "  %s:", what);
    for (size_t i = 0; i < x->n; i++)
        if (x->v[i].rule == ri)
            fprintf(stderr, " %s@%.3f", x->v[i].firing
                                            ? (x->v[i].repeat ? "R" : "F")
                                            : "r",
                    (double)(x->v[i].at - t0) / 1e9);
    fprintf(stderr, "\n");
}

static struct run got, want;
static struct tl tl;

int
main(void)
{
    uint64_t seed = cbt_seed(0x70726f7037ull);
    uint64_t iters = cbt_iters(300);
    static const char *match[NRULES][1] = {
        {"function=g0"}, {"function=g1"}, {"function=g2"}, {"function=g3"}};
    static const char *fn[NRULES] = {"g0", "g1", "g2", "g3"};
    uint64_t notes = 0, pages = 0, repeats = 0, resolves = 0;
    for (uint64_t it = 0; it < iters; it++) {
        struct cbt_rng g = {cbt_mix(seed, it)};
        struct cbc_alert_rule rules[NRULES];
        char names[NRULES][8];
        for (int i = 0; i < NRULES; i++)
            make_rule(&g, &rules[i], match[i], names[i], sizeof names[i], i);
        struct cbc_alert_config cfg = {.rules = rules, .n_rules = NRULES,
                                       .eval_interval_ns = S,
                                       .group_wait_ns = 0};
        /* evaluation times: regular 1 s, or irregular 200 ms .. 2 s */
        int irregular = (int)cbt_below(&g, 2);
        uint64_t t = 1735689600ull * S + cbt_below(&g, 1000) * MS;
        for (int k = 0; k < NEVAL; k++) {
            tl.t[k] = t;
            t += irregular ? (200 + cbt_below(&g, 1801)) * MS : S;
        }
        for (int i = 0; i < NRULES; i++)
            for (int k = 0; k < NEVAL;) {
                int level = (int)cbt_below(&g, 5);
                int run = cbt_below(&g, 4) == 0 ? 1 : 1 + (int)cbt_below(&g, 25);
                for (int j = 0; j < run && k < NEVAL; j++, k++)
                    tl.v[i][k] = level_value(&rules[i], level);
            }
        got.n = want.n = 0;
        got.rules = want.rules = rules;
        struct al_engine_cbs cbs = {.note = on_note, .arg = &got};
        struct al_engine *e = al_engine_create(&cfg, &cbs);
        struct ref ref[NRULES];
        memset(ref, 0, sizeof ref);
        if (e == NULL) {
            fprintf(stderr, "FAIL Property 7: engine: out of memory\n");
            return 1;
        }
        for (int k = 0; k < NEVAL; k++) {
            for (int i = 0; i < NRULES; i++) {
                struct al_input in = {.type = AL_IN_GAUGE, .name = fn[i],
                                      .labels = "", .producer = "p",
                                      .consumer = "", .ts_ns = tl.t[k],
                                      .value = tl.v[i][k]};
                al_engine_feed(e, &in);
            }
            al_engine_eval(e, tl.t[k]);
            for (int i = 0; i < NRULES; i++)
                ref_eval(&rules[i], i, &ref[i], tl.v[i][k], tl.t[k], &want);
        }
        al_engine_destroy(e);
        for (int i = 0; i < NRULES; i++) {
            char why[256];
            const struct cbc_alert_rule *r = &rules[i];
            const char *bad = check_props(r, i, &tl, &got, why, sizeof why);
            int same = 1;
            size_t a = 0, b = 0;
            for (;;) {
                while (a < got.n && got.v[a].rule != i)
                    a++;
                while (b < want.n && want.v[b].rule != i)
                    b++;
                if (a == got.n || b == want.n) {
                    same = a == got.n && b == want.n;
                    break;
                }
                if (got.v[a].at != want.v[b].at ||
                    got.v[a].firing != want.v[b].firing ||
                    got.v[a].repeat != want.v[b].repeat) {
                    same = 0;
                    break;
                }
                a++, b++;
            }
            if (bad == NULL && same)
                continue;
            fprintf(stderr,
                    "FAIL Property 7: Alert Timing Compliance (seed "
                    "0x%016" PRIx64 ", iteration %" PRIu64 ", rule %d): %s\n"
                    "  op %s fire %g clear %g for %.3fs repeat %.3fs "
                    "cooldown %.3fs, %s evaluations\n",
                    seed, it, i, bad ? bad : "differs from the reference",
                    r->op == CBC_AOP_ABOVE ? ">" : "<", r->fire, r->clear,
                    (double)r->for_ns / 1e9, (double)r->repeat_ns / 1e9,
                    (double)r->cooldown_ns / 1e9,
                    irregular ? "irregular" : "1 s");
            dump("engine   ", &got, i, tl.t[0]);
            dump("reference", &want, i, tl.t[0]);
            fprintf(stderr, "  values:");
            for (int k = 0; k < 80 && k < NEVAL; k++)
                fprintf(stderr, " %.3f=%g", (double)(tl.t[k] - tl.t[0]) / 1e9,
                        tl.v[i][k]);
            fprintf(stderr, " ...\n  replay: CB_TEST_SEED=0x%016" PRIx64
                            " CB_TEST_ITERS=%" PRIu64 "\n",
                    seed, it + 1);
            return 1;
        }
        for (size_t k = 0; k < got.n; k++) {
            notes++;
            pages += got.v[k].firing && !got.v[k].repeat;
            repeats += got.v[k].repeat;
            resolves += !got.v[k].firing;
        }
    }
    /* The generator must exercise the properties, not just pass. */
    if (pages < iters || resolves < iters / 2 || repeats == 0) {
        fprintf(stderr, "FAIL Property 7: weak timelines (seed 0x%016" PRIx64
                        "): %" PRIu64 " pages, %" PRIu64 " repeats, %" PRIu64
                        " resolves in %" PRIu64 " iterations\n",
                seed, pages, repeats, resolves, iters);
        return 1;
    }
    printf("Property 7: Alert Timing Compliance: %" PRIu64 " timelines x %d "
           "rules, %" PRIu64 " notifications (%" PRIu64 " pages, %" PRIu64
           " repeats, %" PRIu64 " resolves) match the reference (seed "
           "0x%016" PRIx64 ")\n",
           iters, NRULES, notes, pages, repeats, resolves, seed);
    return 0;
}
