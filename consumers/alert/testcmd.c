/*
 * testcmd.c -- `clipbus-alert test RULES TIMELINE`: runs the rule engine
 * on a synthetic timeline and prints (and checks) the notifications it
 * would send, as `promtool test rules` does for Prometheus rules. The
 * same engine as the watcher, on simulated time: no bus, no I/O.
 * docs/clipbus-alert.md describes the timeline format.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "alert.h"
#include "config.h"
#include "config_schema.h"
#include "engine.h"
#include "silence.h"

#define TL_MAX_EVENTS 2000000

struct tl_in {
    uint64_t at;
    struct al_input in;
    char *name, *labels, *producer, *consumer;
};

struct got {
    uint64_t at;
    int firing;
    char *rule;
    char *labels; /* "k=v,k=v" */
};

struct tctx {
    const struct cbc_alert_config *cfg;
    struct al_silences sil;
    uint64_t start;
    struct got *got;
    size_t n_got, cap_got;
    int json, quiet;
};

static void
fmt_rel(char *b, size_t len, uint64_t ns)
{
    cbc__fmt_duration(b, len, ns);
}

static void
on_note(void *arg, const struct al_note *n)
{
    struct tctx *t = arg;
    char rel[32], labels[1024] = "";
    size_t o = 0;
    for (size_t i = 0; i < n->n_labels && o < sizeof labels; i++) {
        int w = snprintf(labels + o, sizeof labels - o, "%s%s=%s",
                         i ? "," : "", n->labels[i].key, n->labels[i].value);
        o += w > 0 ? (size_t)w : 0;
    }
    fmt_rel(rel, sizeof rel, n->at_ns - t->start);
    if (t->json) {
        json_t *j = json_pack("{s:s, s:s, s:s, s:s, s:b}", "at", rel, "alert",
                              n->rule->name, "status",
                              n->firing ? "firing" : "resolved", "summary",
                              n->summary, "repeat", n->repeat);
        json_t *lj = json_object();
        for (size_t i = 0; i < n->n_labels; i++)
            json_object_set_new(lj, n->labels[i].key,
                                json_string(n->labels[i].value));
        json_object_set_new(j, "labels", lj);
        if (!isnan(n->value))
            json_object_set_new(j, "value", json_real(n->value));
        char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
        if (!t->quiet)
            printf("%s\n", s);
        free(s);
        json_decref(j);
    } else if (!t->quiet) {
        printf("%-8s %-8s %-24s {%s} %s\n", rel,
               n->firing ? "firing" : "resolved", n->rule->name, labels,
               n->summary);
    }
    if (t->n_got == t->cap_got) {
        size_t cap = t->cap_got ? t->cap_got * 2 : 64;
        struct got *g = realloc(t->got, cap * sizeof *g);
        if (g == NULL)
            return;
        t->got = g;
        t->cap_got = cap;
    }
    struct got *g = &t->got[t->n_got++];
    g->at = n->at_ns - t->start;
    g->firing = n->firing;
    g->rule = strdup(n->rule->name);
    g->labels = strdup(labels);
}

static int
is_silenced(void *arg, const struct al_label *l, size_t n, uint64_t now)
{
    struct tctx *t = arg;
    return al_silenced(&t->sil, t->cfg, l, n, now);
}

/* ---- reading the timeline ----------------------------------------------- */

static int
dur_field(json_t *o, const char *key, uint64_t dflt, uint64_t *out,
          const char *where)
{
    json_t *v = json_object_get(o, key);
    if (v == NULL) {
        *out = dflt;
        return 0;
    }
    if (!json_is_string(v) ||
        cbc__parse_duration(json_string_value(v), out) != 0) {
        fprintf(stderr, "clipbus-alert test: %s.%s: not a duration (%s)\n",
                where, key, CBC_DURATION_HELP);
        return -1;
    }
    return 0;
}

static char *
labels_text(json_t *o)
{
    json_t *l = json_object_get(o, "labels");
    char buf[1024] = "";
    size_t off = 0;
    const char *k;
    json_t *v;
    if (!json_is_object(l))
        return strdup("");
    json_object_foreach(l, k, v)
    {
        int w = snprintf(buf + off, sizeof buf - off, "%s%s=%s",
                         off ? "," : "", k,
                         json_is_string(v) ? json_string_value(v) : "");
        off += w > 0 ? (size_t)w : 0;
        if (off >= sizeof buf)
            break;
    }
    return strdup(buf);
}

static const struct {
    const char *key;
    int type;
} in_keys[] = {
    {"call", AL_IN_CALL},         {"count", AL_IN_COUNT},
    {"gauge", AL_IN_GAUGE},       {"died", AL_IN_DIED},
    {"lost", AL_IN_LOST},         {"aborted", AL_IN_ABORTED},
    {"session", AL_IN_SESSION},   {"session_end", AL_IN_SESS_END},
    {"inflight", AL_IN_INFLIGHT}, {"seen", AL_IN_SEEN},
};

static int
parse_input(json_t *o, const char *where, struct tl_in *x)
{
    memset(x, 0, sizeof *x);
    for (size_t i = 0; i < sizeof in_keys / sizeof in_keys[0]; i++) {
        json_t *v = json_object_get(o, in_keys[i].key);
        if (v == NULL)
            continue;
        x->in.type = in_keys[i].type;
        if (json_is_string(v))
            x->name = strdup(json_string_value(v));
        else if (json_is_integer(v) && x->in.type == AL_IN_LOST)
            x->in.count = (uint64_t)json_integer_value(v);
    }
    if (x->in.type == 0) {
        fprintf(stderr, "clipbus-alert test: %s: no input kind (call, count, "
                        "gauge, died, lost, aborted, session, session_end, "
                        "inflight, seen)\n", where);
        return -1;
    }
    if (dur_field(o, "dur", 0, &x->in.dur_ns, where) < 0)
        return -1;
    json_t *v;
    x->in.error = json_is_true(json_object_get(o, "error"));
    if ((v = json_object_get(o, "delta")) || (v = json_object_get(o, "value")))
        x->in.value = json_number_value(v);
    if ((v = json_object_get(o, "sid")))
        x->in.sid = (uint64_t)json_integer_value(v);
    v = json_object_get(o, "producer");
    x->producer = strdup(json_is_string(v) ? json_string_value(v)
                         : x->in.type == AL_IN_DIED && x->name ? x->name
                                                               : "");
    v = json_object_get(o, "consumer");
    x->consumer = strdup(json_is_string(v) ? json_string_value(v) : "");
    x->labels = labels_text(o);
    if (x->name == NULL)
        x->name = strdup("");
    if (x->in.type == AL_IN_DIED) {
        free(x->name);
        x->name = strdup("");
    }
    x->in.name = x->name;
    x->in.labels = x->labels;
    x->in.producer = x->producer;
    x->in.consumer = x->consumer;
    return 0;
}

static int
cmp_in(const void *a, const void *b)
{
    const struct tl_in *x = a, *y = b;
    return x->at < y->at ? -1 : x->at > y->at;
}

static int
load_inputs(json_t *arr, struct tl_in **out, size_t *n_out)
{
    size_t cap = 0, n = 0;
    struct tl_in *v = NULL;
    char where[64];
    for (size_t i = 0; i < json_array_size(arr); i++) {
        json_t *o = json_array_get(arr, i);
        uint64_t at, every, until;
        snprintf(where, sizeof where, "$.inputs[%zu]", i);
        struct tl_in proto;
        if (!json_is_object(o) || dur_field(o, "at", 0, &at, where) < 0 ||
            dur_field(o, "every", 0, &every, where) < 0 ||
            dur_field(o, "until", at, &until, where) < 0 ||
            parse_input(o, where, &proto) < 0)
            goto fail;
        for (uint64_t t = at; t <= until; t += every ? every : until + 1) {
            if (n == TL_MAX_EVENTS) {
                fprintf(stderr, "clipbus-alert test: over %d inputs\n",
                        TL_MAX_EVENTS);
                goto fail;
            }
            if (n == cap) {
                cap = cap ? cap * 2 : 256;
                struct tl_in *nv = realloc(v, cap * sizeof *nv);
                if (nv == NULL)
                    goto fail;
                v = nv;
            }
            v[n] = proto;
            v[n].at = t;
            if (t != at) /* copies share the strings of the first */
                v[n].name = v[n].labels = v[n].producer = v[n].consumer = NULL;
            n++;
            if (every == 0)
                break;
        }
    }
    qsort(v, n, sizeof *v, cmp_in);
    *out = v;
    *n_out = n;
    return 0;
fail:
    free(v);
    return -1;
}

static int
load_silences(json_t *arr, uint64_t start, struct al_silences *s)
{
    size_t n = json_array_size(arr);
    s->v = calloc(n ? n : 1, sizeof *s->v);
    for (size_t i = 0; i < n; i++) {
        json_t *o = json_array_get(arr, i);
        char where[64];
        uint64_t from, until;
        snprintf(where, sizeof where, "$.silences[%zu]", i);
        json_t *m = json_object_get(o, "match");
        if (dur_field(o, "from", 0, &from, where) < 0 ||
            dur_field(o, "until", UINT64_MAX / 2, &until, where) < 0)
            return -1;
        struct al_silence *x = &s->v[s->n++];
        x->start_ns = start + from;
        x->end_ns = start + until;
        for (size_t k = 0; k < json_array_size(m) && k < AL_SIL_MATCH_MAX; k++)
        {
            const char *ms = json_string_value(json_array_get(m, k));
            x->match[x->n_match++] = strdup(ms ? ms : "x=");
        }
    }
    return 0;
}

/* ---- checking expectations ---------------------------------------------- */

static int
labels_has(const char *got, json_t *want)
{
    const char *k;
    json_t *v;
    char kv[600];
    json_object_foreach(want, k, v)
    {
        snprintf(kv, sizeof kv, "%s=%s", k, json_string_value(v) ? json_string_value(v) : "");
        const char *p = got;
        int ok = 0;
        size_t n = strlen(kv);
        while ((p = strstr(p, kv)) != NULL) {
            if ((p == got || p[-1] == ',') && (p[n] == ',' || p[n] == '\0')) {
                ok = 1;
                break;
            }
            p++;
        }
        if (!ok)
            return 0;
    }
    return 1;
}

static int
check_expect(struct tctx *t, json_t *exp)
{
    size_t n = json_array_size(exp);
    int bad = 0;
    char a[32], b[32];
    for (size_t i = 0; i < n || i < t->n_got; i++) {
        json_t *e = json_array_get(exp, i);
        const struct got *g = i < t->n_got ? &t->got[i] : NULL;
        if (e == NULL) {
            fmt_rel(a, sizeof a, g->at);
            fprintf(stderr, "FAIL notification %zu: unexpected %s %s {%s} "
                            "at %s\n", i, g->firing ? "firing" : "resolved",
                    g->rule, g->labels, a);
            bad = 1;
            continue;
        }
        const char *rule = json_string_value(json_object_get(e, "alert"));
        const char *st = json_string_value(json_object_get(e, "status"));
        uint64_t at = 0;
        int has_at = json_object_get(e, "at") != NULL;
        if (has_at && dur_field(e, "at", 0, &at, "$.expect[]") < 0)
            return 1;
        if (g == NULL) {
            fprintf(stderr, "FAIL notification %zu: expected %s %s, got "
                            "nothing\n", i, st ? st : "?", rule ? rule : "?");
            bad = 1;
            continue;
        }
        int ok = (!rule || strcmp(rule, g->rule) == 0) &&
                 (!st || strcmp(st, g->firing ? "firing" : "resolved") == 0) &&
                 (!has_at || at == g->at) &&
                 labels_has(g->labels, json_object_get(e, "labels"));
        if (!ok) {
            fmt_rel(a, sizeof a, g->at);
            fmt_rel(b, sizeof b, at);
            fprintf(stderr, "FAIL notification %zu: expected %s %s%s%s, got "
                            "%s %s {%s} at %s\n", i, st ? st : "?",
                    rule ? rule : "?", has_at ? " at " : "", has_at ? b : "",
                    g->firing ? "firing" : "resolved", g->rule, g->labels, a);
            bad = 1;
        }
    }
    return bad;
}

/* ---- the command -------------------------------------------------------- */

static int
run_timeline(const struct cbc_alert_config *cfg, json_t *tl, int json,
             int quiet)
{
    struct tctx t = {.cfg = cfg, .json = json, .quiet = quiet};
    uint64_t every, until;
    struct tl_in *ins = NULL;
    size_t n = 0;
    int rc = 1;
    const char *st = json_string_value(json_object_get(tl, "start"));
    if (st == NULL)
        st = "2025-01-01T00:00:00Z";
    if (cbc_alert_parse_time(st, &t.start) != 0) {
        fprintf(stderr, "clipbus-alert test: $.start: \"%s\" is not a UTC "
                        "time like 2025-01-01T00:00:00Z\n", st);
        return 2;
    }
    if (dur_field(tl, "eval_every", 1000000000ull, &every, "$") < 0 ||
        dur_field(tl, "until", 600ull * 1000000000u, &until, "$") < 0 ||
        load_inputs(json_object_get(tl, "inputs"), &ins, &n) < 0 ||
        load_silences(json_object_get(tl, "silences"), t.start, &t.sil) < 0)
        goto out;
    if (every == 0) {
        fprintf(stderr, "clipbus-alert test: $.eval_every must be above 0\n");
        goto out;
    }
    struct al_engine_cbs cbs = {.note = on_note, .silenced = is_silenced,
                                .arg = &t};
    struct al_engine *e = al_engine_create(cfg, &cbs);
    if (e == NULL)
        goto out;
    size_t k = 0;
    for (uint64_t now = 0; now <= until; now += every) {
        for (; k < n && ins[k].at <= now; k++) {
            struct al_input in = ins[k].in;
            in.ts_ns = t.start + ins[k].at;
            al_engine_feed(e, &in);
            if (in.type == AL_IN_INFLIGHT) {
                in.type = AL_IN_INFL_DONE;
                al_engine_feed(e, &in);
            }
        }
        al_engine_eval(e, t.start + now);
    }
    al_engine_destroy(e);
    json_t *exp = json_object_get(tl, "expect");
    rc = 0;
    if (exp != NULL) {
        rc = check_expect(&t, exp);
        fprintf(stderr, "%s: %zu notifications, %zu expected\n",
                rc ? "FAILED" : "PASSED", t.n_got, json_array_size(exp));
    }
out:
    for (size_t i = 0; i < n; i++) {
        free(ins[i].name);
        free(ins[i].labels);
        free(ins[i].producer);
        free(ins[i].consumer);
    }
    free(ins);
    for (size_t i = 0; i < t.n_got; i++) {
        free(t.got[i].rule);
        free(t.got[i].labels);
    }
    free(t.got);
    al_silences_clear(&t.sil);
    return rc;
}

int
cba_cmd_test(int argc, char **argv)
{
    int json = 0, quiet = 0, i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (!strcmp(argv[i], "--json"))
            json = 1;
        else if (!strcmp(argv[i], "-q") || !strcmp(argv[i], "--quiet"))
            quiet = 1;
        else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            cba_usage(stdout);
            return 0;
        } else {
            fprintf(stderr, "clipbus-alert test: unknown option %s; usage: "
                            "clipbus-alert test [--json] [-q] RULES "
                            "TIMELINE\n", argv[i]);
            return 2;
        }
    }
    if (argc - i != 2) {
        fprintf(stderr, "clipbus-alert test: need RULES and TIMELINE files; "
                        "try 'clipbus-alert --help'\n");
        return 2;
    }
    struct cbc_config *cfg = NULL;
    struct cbc_config_errors errs = {0};
    if (cbc_config_load(argv[i], &cfg, &errs) < 0) {
        fputs(errs.text ? errs.text : "", stderr);
        fprintf(stderr, "clipbus-alert test: %s: invalid rules\n", argv[i]);
        cbc_config_errors_fini(&errs);
        return 2;
    }
    json_error_t jerr;
    json_t *tl = json_load_file(argv[i + 1], JSON_REJECT_DUPLICATES, &jerr);
    if (tl == NULL || !json_is_object(tl)) {
        fprintf(stderr, "clipbus-alert test: %s:%d:%d: %s\n", argv[i + 1],
                jerr.line, jerr.column,
                tl ? "the timeline must be a JSON object" : jerr.text);
        json_decref(tl);
        cbc_config_free(cfg);
        return 2;
    }
    int rc = run_timeline(&cfg->alert, tl, json, quiet);
    json_decref(tl);
    cbc_config_free(cfg);
    return rc;
}
