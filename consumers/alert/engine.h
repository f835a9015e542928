/*
 * engine.h -- the rule engine of clipbus-alert: inputs in, alert state
 * transitions and notifications out. No I/O, no threads, no clock: time
 * is whatever the caller passes (record time for inputs, the evaluation
 * time for al_engine_eval), so the watcher and `clipbus-alert test` run
 * the very same code.
 *
 * Per rule and matching series (one function, one metric label set, one
 * producer...) an instance moves through
 *
 *   inactive --cond--> pending --held `for`--> firing --clear cond--> inactive
 *        \______________ for == 0 ______________/
 *
 * where `cond` compares the value with the fire threshold and the clear
 * condition with the clear threshold (hysteresis). Notifications: one
 * "firing" when an instance starts firing (unless silenced, or within
 * `cooldown` of its last resolve: then it is paged later, when that ends,
 * if it still fires), again every `repeat`, and one "resolved" when a
 * paged instance clears. An instance never paged resolves silently.
 *
 * Windows: each value is computed over a ring of sub-windows of record
 * time (window / 10 each; baselines window / 24), shared by every rule
 * that needs the same series over the same length. The window edge is
 * therefore exact to one sub-window.
 *
 * Threads: an engine belongs to one thread (the runtime's worker).
 */
#ifndef CBA_ENGINE_H
#define CBA_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#include "config_alert.h"

/* Input types. */
#define AL_IN_CALL      1 /* name: function; dur_ns; error */
#define AL_IN_COUNT     2 /* name: counter; value: delta */
#define AL_IN_GAUGE     3 /* name: gauge; value */
#define AL_IN_DIED      4 /* producer died */
#define AL_IN_LOST      5 /* consumer lost `count` records */
#define AL_IN_ABORTED   6 /* session `name` aborted */
#define AL_IN_SESSION   7 /* session `name` (sid) began or stepped */
#define AL_IN_SESS_END  8 /* session sid ended */
#define AL_IN_INFLIGHT  9 /* a call of `name` running for dur_ns */
#define AL_IN_INFL_DONE 10 /* the in-flight snapshot is complete */
#define AL_IN_SEEN      11 /* any record of a producer */

struct al_input {
    int type;
    const char *name;     /* function, metric or session; "" if none */
    const char *labels;   /* record labels "k=v,k2=v2"; "" none */
    const char *producer; /* program name; "" unknown */
    const char *consumer; /* AL_IN_LOST: the consumer's program */
    uint64_t sid;         /* session key (unique per producer+session) */
    uint64_t ts_ns;       /* record time */
    uint64_t dur_ns;
    int error;
    double value;
    uint64_t count;
};

#define AL_MAX_LABELS 24

struct al_label {
    const char *key, *value;
};

/* One notification for one alert. Views valid during the callback. */
struct al_note {
    const struct cbc_alert_rule *rule;
    int firing;           /* 1 firing, 0 resolved */
    int repeat;           /* 1: a repeat of a firing page */
    uint64_t fingerprint;
    uint64_t starts_ns, ends_ns; /* ends 0 while firing */
    uint64_t at_ns;       /* evaluation time */
    double value, threshold;
    size_t n_labels;      /* sorted by key; alertname first */
    const struct al_label *labels;
    const char *summary, *description;
};

/* Persisted state of one instance (alert.db), see al_engine_restore. */
struct al_state {
    const char *rule;
    uint64_t fingerprint;
    const char *series;   /* the series' labels, "k=v\n" each, sorted */
    int state;            /* AL_ST_* */
    int notified;
    uint64_t since_ns, active_ns, notified_ns, resolved_ns;
};
#define AL_ST_INACTIVE 0
#define AL_ST_PENDING  1
#define AL_ST_FIRING   2

typedef void (*al_note_fn)(void *arg, const struct al_note *n);
/* Called after every state change of an instance (persist it). */
typedef void (*al_state_fn)(void *arg, const struct al_state *s);
/* 1 if an alert with these labels is silenced at now_ns. */
typedef int (*al_silence_fn)(void *arg, const struct al_label *l, size_t n,
                             uint64_t now_ns);

struct al_engine_cbs {
    al_note_fn note;
    al_state_fn state;   /* may be NULL */
    al_silence_fn silenced; /* may be NULL */
    void *arg;
};

struct al_engine;

/* Makes an engine for cfg's rules. cfg is BORROWED and must outlive the
 * engine (the watcher keeps the config it started with alive; a reload
 * makes a new engine and moves the states over). NULL on ENOMEM. Pair
 * with al_engine_destroy(). */
struct al_engine *al_engine_create(const struct cbc_alert_config *cfg,
                                   const struct al_engine_cbs *cbs);
void al_engine_destroy(struct al_engine *e);

/* Files one input. No allocation once its series are known. */
void al_engine_feed(struct al_engine *e, const struct al_input *in);

/* Evaluates every instance at now_ns (notifications and state callbacks
 * happen here). */
void al_engine_eval(struct al_engine *e, uint64_t now_ns);

/* Re-creates a persisted instance before inputs arrive (restart): it
 * keeps its state; while the window after `start_ns` has no data, a
 * firing instance is not cleared by the missing value. Unknown rules are
 * ignored (returns -ENOENT). */
int al_engine_restore(struct al_engine *e, const struct al_state *s,
                      uint64_t start_ns);

struct al_engine_stats {
    uint64_t inputs, instances, stores, firing, pending, evals;
};
void al_engine_stats(const struct al_engine *e, struct al_engine_stats *out);

/* Visits firing instances (for status lines and state snapshots). */
void al_engine_each_firing(const struct al_engine *e,
                           void (*fn)(void *arg, const struct al_note *n),
                           void *arg);

/* Matches "k=glob"/"k!=glob" matchers against a label list; 1 if all
 * hold (a missing label is ""). */
int al_match(const char *const *m, size_t n, const struct al_label *l,
             size_t nl);

/* Renders template tpl for note fields into buf (cut to len). */
void al_render(char *buf, size_t len, const char *tpl,
               const struct cbc_alert_rule *r, const struct al_label *l,
               size_t nl, double value, double threshold);

/* FNV-1a of the sorted labels. */
uint64_t al_fingerprint(const struct al_label *l, size_t n);

#endif /* CBA_ENGINE_H */
