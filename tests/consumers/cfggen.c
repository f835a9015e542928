/*
 * cfggen.c -- random configuration documents from the schema tables and
 * single-point mutations (see cfggen.h).
 *
 * The generator knows the schema only through its tables, so a section
 * added later is covered without touching this file; the one exception is
 * cfggen_fix_rrd(), which encodes the cross-field rules of "rrd".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

#include "cfggen.h"

struct unit {
    const char *name;
    uint64_t mult;
};

static const struct unit dur_units[] = {
    {"ns", 1},
    {"us", 1000ull},
    {"ms", 1000000ull},
    {"s", 1000000000ull},
    {"m", 60000000000ull},
    {"h", 3600000000000ull},
    {"d", 86400000000000ull},
    {"w", 604800000000000ull},
    {"y", 31622400000000000ull},
};

static const struct unit size_units[] = {
    {"B", 1}, {"KiB", 1ull << 10}, {"MiB", 1ull << 20},
    {"GiB", 1ull << 30}, {"TiB", 1ull << 40},
};

static int
chance(struct cbt_rng *r, unsigned num, unsigned den)
{
    return cbt_below(r, den) < num;
}

/* A value in [lo, hi] written as <count><unit>, sometimes followed by a
 * second, smaller group ("1h30m"). */
static json_t *
gen_units(struct cbt_rng *r, const struct unit *u, size_t nu, uint64_t lo,
          uint64_t hi, int compound)
{
    for (;;) {
        size_t i = (size_t)cbt_below(r, nu);
        uint64_t m = u[i].mult;
        uint64_t cmin = lo / m + (lo % m != 0), cmax = hi / m;
        if (cmin > cmax)
            continue;
        if (cmax - cmin > 1000)
            cmax = cmin + (chance(r, 1, 4) ? cmax - cmin : 1000);
        uint64_t c = cmin + cbt_below(r, cmax - cmin + 1);
        char buf[96];
        int n = snprintf(buf, sizeof buf, "%llu%s", (unsigned long long)c,
                         u[i].name);
        if (compound && i > 0 && chance(r, 1, 3)) {
            size_t j = (size_t)cbt_below(r, i);
            uint64_t room = (hi - c * m) / u[j].mult;
            if (room > 0)
                snprintf(buf + n, sizeof buf - (size_t)n, "%llu%s",
                         (unsigned long long)(1 + cbt_below(r, room < 999
                                                                ? room
                                                                : 999)),
                         u[j].name);
        }
        return json_string(buf);
    }
}

static json_t *
gen_string(struct cbt_rng *r, const struct cbc_key *k)
{
    static const char alpha[] = "abcdefghijklmnopqrstuvwxyz"
                                "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-";
    uint64_t lo = k->min > 1 ? (uint64_t)k->min : 1;
    uint64_t hi = (uint64_t)k->max < 24 ? (uint64_t)k->max : 24;
    char buf[32];
    size_t n = lo + cbt_below(r, hi - lo + 1);
    for (size_t i = 0; i < n; i++)
        buf[i] = alpha[cbt_below(r, sizeof alpha - 1)];
    buf[n] = '\0';
    return json_string(buf);
}

static json_t *gen_value(struct cbt_rng *r, const struct cbc_key *k);

static json_t *
gen_scalar(struct cbt_rng *r, const struct cbc_key *k)
{
    uint64_t span;
    int n = 0;
    if ((k->flags & CBC_NULLABLE) && chance(r, 1, 5))
        return json_null();
    switch (k->type) {
    case CBC_T_BOOL:
        return json_boolean(chance(r, 1, 2));
    case CBC_T_INT:
        span = (uint64_t)k->max - (uint64_t)k->min;
        if (chance(r, 1, 4))
            return json_integer(chance(r, 1, 2) ? k->min : k->max);
        return json_integer(
            (json_int_t)((uint64_t)k->min +
                         (span == UINT64_MAX ? cbt_next(r)
                                             : cbt_below(r, span + 1))));
    case CBC_T_DOUBLE:
        return json_real(k->dmin + (k->dmax - k->dmin) *
                                       (double)(cbt_next(r) >> 11) /
                                       (double)(1ull << 53));
    case CBC_T_STRING:
        return gen_string(r, k);
    case CBC_T_ENUM:
        while (k->choices[n] != NULL)
            n++;
        return json_string(k->choices[cbt_below(r, (uint64_t)n)]);
    case CBC_T_DURATION:
        return gen_units(r, dur_units, 9, (uint64_t)k->min, (uint64_t)k->max,
                         1);
    default:
        return gen_units(r, size_units, 5, (uint64_t)k->min,
                         (uint64_t)k->max, 0);
    }
}

static uint64_t
gen_count(struct cbt_rng *r, const struct cbc_key *k)
{
    uint64_t hi = k->max < 4 ? (uint64_t)k->max : 4;
    return (uint64_t)k->min + cbt_below(r, hi - (uint64_t)k->min + 1);
}

static json_t *
gen_value(struct cbt_rng *r, const struct cbc_key *k)
{
    json_t *a;
    uint64_t n;
    switch (k->type) {
    case CBC_T_OBJECT:
        return cfggen_object(r, k->sub);
    case CBC_T_LIST:
    case CBC_T_OBJECTS:
        a = json_array();
        n = gen_count(r, k);
        for (uint64_t i = 0; i < n; i++)
            json_array_append_new(a, k->type == CBC_T_LIST
                                         ? gen_scalar(r, k->elem)
                                         : cfggen_object(r, k->sub));
        return a;
    default:
        return gen_scalar(r, k);
    }
}

json_t *
cfggen_object(struct cbt_rng *r, const struct cbc_table *t)
{
    json_t *o = json_object();
    for (const struct cbc_key *k = t->keys; k->name != NULL; k++) {
        int p = k->type == CBC_T_OBJECT ? 3 : 2;
        if (k->dflt == NULL && k->type != CBC_T_OBJECT)
            p = 4; /* required */
        if (chance(r, (unsigned)p, 4))
            json_object_set_new(o, k->name, gen_value(r, k));
    }
    return o;
}

static json_t *
secs(uint64_t s)
{
    char b[32];
    snprintf(b, sizeof b, "%llus", (unsigned long long)s);
    return json_string(b);
}

void
cfggen_fix_rrd(struct cbt_rng *r, json_t *root)
{
    static const uint64_t steps[] = {1, 2, 5, 10, 15, 30, 60};
    json_t *rrd = json_object_get(root, "rrd");
    if (!json_is_object(rrd))
        return;
    uint64_t s = steps[cbt_below(r, 7)];
    json_object_set_new(rrd, "step", secs(s));
    json_t *hb = json_object_get(rrd, "heartbeat");
    if (hb != NULL && !json_is_null(hb))
        json_object_set_new(rrd, "heartbeat", secs(s * (1 + cbt_below(r, 4))));
    json_t *rras = json_object_get(rrd, "rras");
    for (size_t i = 0; i < json_array_size(rras); i++) {
        json_t *e = json_array_get(rras, i);
        uint64_t st = s * (i + 1);
        if (i == 0 && chance(r, 1, 3))
            json_object_set_new(e, "step", json_null());
        else
            json_object_set_new(e, "step", secs(st));
        json_object_set_new(e, "keep", secs(st * (1 + cbt_below(r, 1000))));
    }
}

/* 1 if a document holding only `section` = obj is valid. */
static int
section_valid(const char *section, json_t *obj)
{
    json_t *doc = json_object();
    json_object_set(doc, section, obj);
    char *t = json_dumps(doc, JSON_COMPACT);
    struct cbc_config *cfg = NULL;
    int ok = t && cbc_config_parse(t, strlen(t), "g", &cfg, NULL) == 0;
    cbc_config_free(cfg);
    free(t);
    json_decref(doc);
    return ok;
}

/* Sections are generated one at a time and regenerated until valid:
 * cross-field rules of sections added later (e.g. log.keep_summary >=
 * log.keep_raw) are then met without this file knowing them, as long as
 * a random section satisfies them often enough. rrd's rules are rarely
 * met by chance, so cfggen_fix_rrd() repairs it first. */
json_t *
cfggen_config(struct cbt_rng *r)
{
    json_t *doc = json_object();
    for (const struct cbc_key *k = cbc__root_table.keys; k->name; k++) {
        if (k->type != CBC_T_OBJECT || !chance(r, 3, 4))
            continue;
        for (int tries = 0;; tries++) {
            json_t *tmp = json_object();
            json_object_set_new(tmp, k->name, cfggen_object(r, k->sub));
            cfggen_fix_rrd(r, tmp);
            json_t *sec = json_object_get(tmp, k->name);
            if (section_valid(k->name, sec)) {
                json_object_set(doc, k->name, sec);
                json_decref(tmp);
                break;
            }
            json_decref(tmp);
            if (tries == 1000) {
                fprintf(stderr, "cfggen: no valid \"%s\" section in 1000 "
                                "tries; its cross-field rules need a fix-up "
                                "in cfggen.c\n",
                        k->name);
                break;
            }
        }
    }
    return doc;
}

/* ======================================================================
 * Mutations
 * ====================================================================== */

enum site_kind { SITE_KEY, SITE_ELEM, SITE_OBJECT };

struct site {
    enum site_kind kind;
    json_t *node;                /* KEY: parent object; ELEM: array;
                                  * OBJECT: the object */
    const char *key;             /* KEY */
    size_t index;                /* ELEM */
    const struct cbc_key *k;     /* KEY: the key; ELEM: the element key,
                                  * NULL for an element object */
    const struct cbc_table *tab; /* OBJECT; ELEM of objects */
    char path[256];
};

#define MAX_SITES 4096

struct sites {
    struct site s[MAX_SITES];
    size_t n;
};

static struct site *
add_site(struct sites *ss, enum site_kind kind, const char *path)
{
    if (ss->n == MAX_SITES)
        return NULL;
    struct site *s = &ss->s[ss->n++];
    memset(s, 0, sizeof *s);
    s->kind = kind;
    snprintf(s->path, sizeof s->path, "%s", path);
    return s;
}

static void collect_object(struct sites *ss, const struct cbc_table *t,
                           json_t *o, const char *path);

static void
collect_array(struct sites *ss, const struct cbc_key *k, json_t *a,
              const char *path)
{
    for (size_t i = 0; i < json_array_size(a); i++) {
        char p[256];
        snprintf(p, sizeof p, "%.200s[%zu]", path, i);
        struct site *s = add_site(ss, SITE_ELEM, p);
        if (s == NULL)
            return;
        s->node = a;
        s->index = i;
        s->k = k->type == CBC_T_LIST ? k->elem : NULL;
        s->tab = k->sub;
        if (k->type == CBC_T_OBJECTS)
            collect_object(ss, k->sub, json_array_get(a, i), p);
    }
}

static void
collect_object(struct sites *ss, const struct cbc_table *t, json_t *o,
               const char *path)
{
    struct site *s = add_site(ss, SITE_OBJECT, path);
    if (s == NULL)
        return;
    s->node = o;
    s->tab = t;
    for (const struct cbc_key *k = t->keys; k->name != NULL; k++) {
        char p[256];
        snprintf(p, sizeof p, "%.200s.%.40s", path, k->name);
        s = add_site(ss, SITE_KEY, p);
        if (s == NULL)
            return;
        s->node = o;
        s->key = k->name;
        s->k = k;
        json_t *v = json_object_get(o, k->name);
        if (v == NULL)
            continue;
        if (k->type == CBC_T_OBJECT)
            collect_object(ss, k->sub, v, p);
        else if (k->type == CBC_T_LIST || k->type == CBC_T_OBJECTS)
            collect_array(ss, k, v, p);
    }
}

/* A string that k->check refuses, or NULL. */
static const char *
check_breaker(const struct cbc_key *k)
{
    static const char *const cands[] = {"bad name!", "a b", "x/y", NULL};
    for (int i = 0; k->check && cands[i]; i++)
        if ((int64_t)strlen(cands[i]) >= k->min &&
            (int64_t)strlen(cands[i]) <= k->max && k->check(cands[i]))
            return cands[i];
    return NULL;
}

static json_t *
nstring(uint64_t ns, const char *unit)
{
    char b[48];
    snprintf(b, sizeof b, "%llu%s", (unsigned long long)ns, unit);
    return json_string(b);
}

/* Candidates of invalid values for k; returns how many were written. */
static size_t
bad_scalars(const struct cbc_key *k, json_t **c)
{
    size_t n = 0;
    c[n++] = json_array(); /* the wrong JSON type for any scalar */
    switch (k->type) {
    case CBC_T_BOOL:
        c[n++] = json_string("yes");
        c[n++] = json_integer(1);
        break;
    case CBC_T_INT:
        c[n++] = json_string("7");
        c[n++] = json_real(1.5);
        if (k->min > INT64_MIN)
            c[n++] = json_integer(k->min - 1);
        if (k->max < INT64_MAX)
            c[n++] = json_integer(k->max + 1);
        break;
    case CBC_T_DOUBLE:
        c[n++] = json_string("1");
        c[n++] = json_real(k->dmax + 1.0 + (k->dmax > 0 ? k->dmax : -k->dmax));
        c[n++] = json_real(k->dmin - 1.0 - (k->dmin > 0 ? k->dmin : -k->dmin));
        break;
    case CBC_T_STRING:
        c[n++] = json_integer(5);
        if (k->min >= 1)
            c[n++] = json_string("");
        if (k->max < 5000) {
            char big[5002];
            memset(big, 'a', (size_t)k->max + 1);
            big[k->max + 1] = '\0';
            c[n++] = json_string(big);
        }
        if (check_breaker(k))
            c[n++] = json_string(check_breaker(k));
        break;
    case CBC_T_ENUM:
        c[n++] = json_string("NOPE");
        c[n++] = json_integer(1);
        break;
    case CBC_T_DURATION:
    case CBC_T_SIZE:
        c[n++] = json_string(k->type == CBC_T_SIZE ? "12QB" : "9x");
        c[n++] = json_integer(10);
        c[n++] = json_string(k->type == CBC_T_SIZE ? "1.5MiB" : "1.5s");
        c[n++] = json_string("");
        c[n++] = json_string("-5s");
        c[n++] = json_string(k->type == CBC_T_SIZE ? "10 KiB" : "10 s");
        if (k->min > 0)
            c[n++] = nstring((uint64_t)k->min - 1,
                             k->type == CBC_T_SIZE ? "B" : "ns");
        c[n++] = nstring((uint64_t)k->max + 1,
                         k->type == CBC_T_SIZE ? "B" : "ns");
        break;
    default:
        break;
    }
    return n;
}

/* A list of `n` valid values or objects for k. */
static json_t *
filled(struct cbt_rng *r, const struct cbc_key *k, uint64_t n)
{
    json_t *a = json_array();
    for (uint64_t i = 0; i < n; i++)
        json_array_append_new(a, k->type == CBC_T_LIST
                                     ? gen_scalar(r, k->elem)
                                     : cfggen_object(r, k->sub));
    return a;
}

/* An invalid replacement for the value of key k. */
static json_t *
bad_value(struct cbt_rng *r, const struct cbc_key *k, char *what, size_t wl)
{
    json_t *c[16];
    size_t n = 0;
    if (k->type == CBC_T_OBJECT) {
        c[n++] = json_array();
        c[n++] = json_integer(5);
    } else if (k->type == CBC_T_LIST || k->type == CBC_T_OBJECTS) {
        c[n++] = json_object();
        c[n++] = json_string("x");
        if (k->min > 0)
            c[n++] = json_array();
        if (k->max < 1000)
            c[n++] = filled(r, k, (uint64_t)k->max + 1);
    } else {
        n = bad_scalars(k, c);
    }
    size_t pick = (size_t)cbt_below(r, n);
    for (size_t i = 0; i < n; i++)
        if (i != pick)
            json_decref(c[i]);
    char *d = json_dumps(c[pick], JSON_ENCODE_ANY | JSON_COMPACT);
    snprintf(what, wl, "set to %.80s", d ? d : "?");
    free(d);
    return c[pick];
}

static int
mutate_object(struct cbt_rng *r, struct site *s, char *path, size_t pl,
              char *what, size_t wl)
{
    const struct cbc_key *req[32];
    size_t nreq = 0;
    for (const struct cbc_key *k = s->tab->keys; k->name; k++)
        if (k->dflt == NULL && k->type != CBC_T_OBJECT && nreq < 32 &&
            json_object_get(s->node, k->name) != NULL)
            req[nreq++] = k;
    if (nreq > 0 && chance(r, 1, 2)) {
        const struct cbc_key *k = req[cbt_below(r, nreq)];
        json_object_del(s->node, k->name);
        snprintf(path, pl, "%s.%s", s->path, k->name);
        snprintf(what, wl, "removed required key %s", k->name);
        return 0;
    }
    json_object_set_new(s->node, "zz_unknown", json_integer(1));
    snprintf(path, pl, "%s.zz_unknown", s->path);
    snprintf(what, wl, "added unknown key zz_unknown");
    return 0;
}

int
cfggen_mutate(struct cbt_rng *r, const struct cbc_table *root, json_t *doc,
              char *path, size_t path_len, char *what, size_t what_len)
{
    static struct sites ss; /* big: not on the stack; tests are serial */
    ss.n = 0;
    collect_object(&ss, root, doc, "$");
    if (ss.n == 0)
        return -1;
    struct site *s = &ss.s[cbt_below(r, ss.n)];
    switch (s->kind) {
    case SITE_OBJECT:
        return mutate_object(r, s, path, path_len, what, what_len);
    case SITE_KEY:
        json_object_set_new(s->node, s->key, bad_value(r, s->k, what,
                                                       what_len));
        break;
    case SITE_ELEM:
        if (s->k != NULL)
            json_array_set_new(s->node, s->index,
                               bad_value(r, s->k, what, what_len));
        else {
            json_array_set_new(s->node, s->index, json_string("x"));
            snprintf(what, what_len, "element replaced by \"x\"");
        }
        break;
    }
    snprintf(path, path_len, "%s", s->path);
    return 0;
}
