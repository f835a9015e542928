/*
 * config_schema.c -- the engine that validates, decodes and encodes a
 * configuration document against the tables of config_schema.h.
 *
 * Validation never stops at the first error: every key of every object is
 * visited, so one run reports every problem of the file (Req 6.5). Each
 * error is one line, "FILE: $.path: what is wrong", where the path is
 * maintained while the engine descends (keys as ".name", or ["name"] when
 * the name is not a plain identifier; array elements as "[i]"). A table's
 * finish hook (cross-field checks) runs only when the object it belongs to
 * decoded without error, so a bad value is reported once, at its own
 * path, and never again as a consequence elsewhere.
 *
 * Defaults are JSON text in the tables and go through the same decoder as
 * the user's values: a table with a bad default fails the "empty file is
 * valid" test instead of misbehaving at run time.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_schema.h"

#define PATH_CAP       512
#define MAX_ERR_LINES  200 /* lines kept in the text; all are counted */
#define QUOTE_CAP      64  /* bytes of a user value quoted in a message */

/* ======================================================================
 * Arena
 * ====================================================================== */

struct block {
    struct block *next;
    size_t n;
    max_align_t data[];
};

struct cbc__arena {
    struct block *head;
};

struct cbc__arena *
cbc__arena_create(void)
{
    return calloc(1, sizeof(struct cbc__arena));
}

void *
cbc__arena_alloc(struct cbc__arena *a, size_t n)
{
    if (n > SIZE_MAX / 2)
        return NULL;
    struct block *b = calloc(1, sizeof *b + (n ? n : 1));
    if (b == NULL)
        return NULL;
    b->n = n;
    b->next = a->head;
    a->head = b;
    return b->data;
}

char *
cbc__arena_strdup(struct cbc__arena *a, const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = cbc__arena_alloc(a, n);
    if (p != NULL)
        memcpy(p, s, n);
    return p;
}

void
cbc__arena_destroy(struct cbc__arena *a)
{
    if (a == NULL)
        return;
    for (struct block *b = a->head, *next; b != NULL; b = next) {
        next = b->next;
        /* Poison: a reader that kept a config past its RCU read section
         * sees garbage at once rather than a plausible stale value. */
        memset(b->data, 0xdb, b->n);
        free(b);
    }
    free(a);
}

/* ======================================================================
 * Context: path and errors
 * ====================================================================== */

struct cbc_ctx {
    const char *file;
    struct cbc__arena *arena;
    char path[PATH_CAP];
    size_t path_len;
    char *errs; /* malloc'ed text */
    size_t errs_len;
    size_t n_errs;
    size_t keys_set;   /* keys the document gave, defaults excluded */
    int in_default;    /* > 0 while decoding a built-in default */
};

static void
path_append(struct cbc_ctx *c, const char *s)
{
    size_t n = strlen(s);
    if (c->path_len + n >= PATH_CAP)
        n = PATH_CAP - 1 - c->path_len;
    memcpy(c->path + c->path_len, s, n);
    c->path_len += n;
    c->path[c->path_len] = '\0';
}

static int
is_ident(const char *s)
{
    if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || *s == '_'))
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
              (*s >= '0' && *s <= '9') || *s == '_' || *s == '-'))
            return 0;
    return 1;
}

/* Writes s as a JSON string literal into buf, cut to QUOTE_CAP bytes of
 * text (at a UTF-8 boundary) with "..." appended when cut. */
static char *
quote(char *buf, size_t len, const char *s)
{
    json_t *j = json_string(s);
    char *d = j ? json_dumps(j, JSON_ENCODE_ANY) : NULL;
    json_decref(j);
    if (d == NULL) {
        snprintf(buf, len, "\"?\"");
        return buf;
    }
    size_t n = strlen(d);
    if (n > QUOTE_CAP) {
        n = QUOTE_CAP;
        while (n > 1 && ((unsigned char)d[n] & 0xC0) == 0x80)
            n--;
        snprintf(buf, len, "%.*s...\"", (int)n, d);
    } else {
        snprintf(buf, len, "%s", d);
    }
    free(d);
    return buf;
}

size_t
cbc__path_key(struct cbc_ctx *c, const char *key)
{
    size_t mark = c->path_len;
    if (is_ident(key) && strlen(key) <= QUOTE_CAP) {
        path_append(c, ".");
        path_append(c, key);
    } else {
        char q[QUOTE_CAP + 16];
        path_append(c, "[");
        path_append(c, quote(q, sizeof q, key));
        path_append(c, "]");
    }
    return mark;
}

size_t
cbc__path_index(struct cbc_ctx *c, size_t i)
{
    size_t mark = c->path_len;
    char b[32];
    snprintf(b, sizeof b, "[%zu]", i);
    path_append(c, b);
    return mark;
}

void
cbc__path_pop(struct cbc_ctx *c, size_t mark)
{
    c->path_len = mark;
    c->path[mark] = '\0';
}

const char *
cbc__path(const struct cbc_ctx *c)
{
    return c->path;
}

void
cbc__error(struct cbc_ctx *c, const char *fmt, ...)
{
    c->n_errs++;
    if (c->n_errs > MAX_ERR_LINES)
        return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    char line[PATH_CAP + sizeof msg + 256];
    int n = snprintf(line, sizeof line, "%s: %s: %s\n", c->file, c->path, msg);
    if (n < 0)
        return;
    size_t len = (size_t)n < sizeof line ? (size_t)n : sizeof line - 1;
    char *p = realloc(c->errs, c->errs_len + len + 1);
    if (p == NULL)
        return;
    memcpy(p + c->errs_len, line, len + 1);
    c->errs = p;
    c->errs_len += len;
}

/* "a string \"10\"", "the number 1.5", "true", "null", "an object". */
static const char *
describe(char *buf, size_t len, const json_t *v)
{
    char q[QUOTE_CAP + 16];
    char *d;
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "an array";
    case JSON_STRING:
        snprintf(buf, len, "the string %s",
                 quote(q, sizeof q, json_string_value(v)));
        return buf;
    case JSON_TRUE:
        return "true";
    case JSON_FALSE:
        return "false";
    case JSON_NULL:
        return "null";
    default:
        d = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
        snprintf(buf, len, "the number %s", d ? d : "?");
        free(d);
        return buf;
    }
}

static void
type_error(struct cbc_ctx *c, const char *want, const json_t *v)
{
    char b[QUOTE_CAP + 64];
    cbc__error(c, "expected %s, got %s", want, describe(b, sizeof b, v));
}

static void
oom(struct cbc_ctx *c)
{
    cbc__error(c, "out of memory");
}

/* ======================================================================
 * Scalars
 * ====================================================================== */

static size_t
scalar_size(enum cbc_type t)
{
    switch (t) {
    case CBC_T_BOOL:
        return sizeof(bool);
    case CBC_T_INT:
        return sizeof(int64_t);
    case CBC_T_DOUBLE:
        return sizeof(double);
    case CBC_T_STRING:
        return sizeof(const char *);
    case CBC_T_ENUM:
        return sizeof(int);
    default:
        return sizeof(uint64_t);
    }
}

static void
decode_int(const struct cbc_key *k, const json_t *v, void *dst,
           struct cbc_ctx *c)
{
    if (!json_is_integer(v)) {
        type_error(c, "an integer", v);
        return;
    }
    json_int_t n = json_integer_value(v);
    if (n < k->min || n > k->max) {
        cbc__error(c, "%" PRId64 " is out of range (%" PRId64 " to %" PRId64
                      ")",
                   (int64_t)n, k->min, k->max);
        return;
    }
    *(int64_t *)dst = (int64_t)n;
}

static void
decode_double(const struct cbc_key *k, const json_t *v, void *dst,
              struct cbc_ctx *c)
{
    if (!json_is_number(v)) {
        type_error(c, "a number", v);
        return;
    }
    double d = json_number_value(v);
    if (!(d >= k->dmin && d <= k->dmax)) {
        cbc__error(c, "%.17g is out of range (%g to %g)", d, k->dmin,
                   k->dmax);
        return;
    }
    *(double *)dst = d;
}

static void
decode_string(const struct cbc_key *k, const json_t *v, void *dst,
              struct cbc_ctx *c)
{
    char q[QUOTE_CAP + 16];
    if (!json_is_string(v)) {
        type_error(c, k->flags & CBC_NULLABLE ? "a string or null" : "a string",
                   v);
        return;
    }
    const char *s = json_string_value(v);
    size_t len = json_string_length(v);
    const char *why;
    if (len == 0 && k->min > 0) {
        cbc__error(c, "must not be empty");
    } else if ((int64_t)len < k->min || (int64_t)len > k->max) {
        cbc__error(c, "%s has %zu bytes; the length must be %" PRId64
                      " to %" PRId64,
                   quote(q, sizeof q, s), len, k->min, k->max);
    } else if (strlen(s) != len) {
        cbc__error(c, "contains a NUL character");
    } else if (k->check != NULL && (why = k->check(s)) != NULL) {
        cbc__error(c, "%s %s", quote(q, sizeof q, s), why);
    } else if ((*(const char **)dst = cbc__arena_strdup(c->arena, s)) ==
               NULL) {
        oom(c);
    }
}

static void
decode_enum(const struct cbc_key *k, const json_t *v, void *dst,
            struct cbc_ctx *c)
{
    char list[512] = "", q[QUOTE_CAP + 16];
    size_t n = 0;
    if (json_is_string(v)) {
        for (int i = 0; k->choices[i] != NULL; i++)
            if (strcmp(json_string_value(v), k->choices[i]) == 0) {
                *(int *)dst = i;
                return;
            }
    }
    for (int i = 0; k->choices[i] != NULL && n < sizeof list; i++) {
        int w = snprintf(list + n, sizeof list - n, "%s\"%s\"",
                         i ? ", " : "", k->choices[i]);
        n += w > 0 ? (size_t)w : 0;
    }
    if (json_is_string(v)) {
        cbc__error(c, "%s is not one of %s",
                   quote(q, sizeof q, json_string_value(v)), list);
    } else {
        char want[sizeof list + 8];
        snprintf(want, sizeof want, "one of %s", list);
        type_error(c, want, v);
    }
}

/* Durations and sizes share the shape: a string with a unit; a bare
 * number is refused with a hint; a range in the key's min/max. */
static void
decode_unit(const struct cbc_key *k, const json_t *v, void *dst,
            struct cbc_ctx *c)
{
    int dur = k->type == CBC_T_DURATION;
    char q[QUOTE_CAP + 16], lo[32], hi[32];
    char *(*fmt)(char *, size_t, uint64_t) =
        dur ? cbc__fmt_duration : cbc__fmt_size;
    if (json_is_integer(v) && json_integer_value(v) >= 0) {
        long long n = (long long)json_integer_value(v);
        cbc__error(c,
                   dur ? "%lld is a bare number; write a unit, e.g. \"%llds\" "
                         "(units: ns, us, ms, s, m, h, d, w, y)"
                       : "%lld is a bare number; write a unit, e.g. "
                         "\"%lldB\" (units: B, KiB, MiB, GiB, TiB)",
                   n, n);
        return;
    }
    if (json_is_number(v)) {
        cbc__error(c, "a bare number is not a %s; write a string with a "
                      "unit (%s)",
                   dur ? "duration" : "byte size",
                   dur ? CBC_DURATION_HELP : CBC_SIZE_HELP);
        return;
    }
    if (!json_is_string(v)) {
        type_error(c, dur ? "a duration string such as \"10s\""
                          : "a byte size string such as \"64KiB\"",
                   v);
        return;
    }
    const char *s = json_string_value(v);
    uint64_t x = 0;
    int rc = dur ? cbc__parse_duration(s, &x) : cbc__parse_size(s, &x);
    if (rc == -EINVAL) {
        cbc__error(c, "%s is not a %s (%s)", quote(q, sizeof q, s),
                   dur ? "duration" : "byte size",
                   dur ? CBC_DURATION_HELP : CBC_SIZE_HELP);
    } else if (rc == -ERANGE || x < (uint64_t)k->min ||
               x > (uint64_t)k->max) {
        cbc__error(c, "%s is out of range (%s to %s)", quote(q, sizeof q, s),
                   fmt(lo, sizeof lo, (uint64_t)k->min),
                   fmt(hi, sizeof hi, (uint64_t)k->max));
    } else {
        *(uint64_t *)dst = x;
    }
}

static void
decode_scalar(const struct cbc_key *k, const json_t *v, void *dst,
              struct cbc_ctx *c)
{
    if (json_is_null(v) && (k->flags & CBC_NULLABLE)) {
        memset(dst, 0, scalar_size(k->type));
        return;
    }
    switch (k->type) {
    case CBC_T_BOOL:
        if (json_is_boolean(v))
            *(bool *)dst = json_is_true(v);
        else
            type_error(c, "true or false", v);
        break;
    case CBC_T_INT:
        decode_int(k, v, dst, c);
        break;
    case CBC_T_DOUBLE:
        decode_double(k, v, dst, c);
        break;
    case CBC_T_STRING:
        decode_string(k, v, dst, c);
        break;
    case CBC_T_ENUM:
        decode_enum(k, v, dst, c);
        break;
    default:
        decode_unit(k, v, dst, c);
        break;
    }
}

/* ======================================================================
 * Lists, objects, arrays of objects
 * ====================================================================== */

static void decode_object(const struct cbc_table *t, json_t *v, void *obj,
                          struct cbc_ctx *c);

/* Checks that v is an array with a count in [min, max]; returns the
 * count or -1 after reporting. */
static long
check_array(const struct cbc_key *k, const json_t *v, const char *what,
            struct cbc_ctx *c)
{
    if (!json_is_array(v)) {
        type_error(c, what, v);
        return -1;
    }
    size_t n = json_array_size(v);
    if ((int64_t)n < k->min || (int64_t)n > k->max) {
        cbc__error(c, "has %zu elements; it must have %" PRId64 " to %" PRId64,
                   n, k->min, k->max);
        return -1;
    }
    return (long)n;
}

static void
decode_list(const struct cbc_key *k, json_t *v, char *base, struct cbc_ctx *c)
{
    int objects = k->type == CBC_T_OBJECTS;
    long n = check_array(k, v, objects ? "a list of objects" : "a list", c);
    if (n < 0)
        return;
    size_t esz = objects ? k->sub->size : scalar_size(k->elem->type);
    char *arr = cbc__arena_alloc(c->arena, (size_t)n * esz);
    if (arr == NULL) {
        oom(c);
        return;
    }
    for (size_t i = 0; i < (size_t)n; i++) {
        size_t mark = cbc__path_index(c, i);
        if (objects)
            decode_object(k->sub, json_array_get(v, i), arr + i * esz, c);
        else
            decode_scalar(k->elem, json_array_get(v, i), arr + i * esz, c);
        cbc__path_pop(c, mark);
    }
    *(void **)(base + k->offset) = arr;
    *(size_t *)(base + k->count_offset) = (size_t)n;
}

static void
decode_key(const struct cbc_key *k, json_t *v, char *base, struct cbc_ctx *c)
{
    switch (k->type) {
    case CBC_T_LIST:
    case CBC_T_OBJECTS:
        decode_list(k, v, base, c);
        break;
    case CBC_T_OBJECT:
        decode_object(k->sub, v, base + k->offset, c);
        break;
    default:
        decode_scalar(k, v, base + k->offset, c);
        break;
    }
}

/* Edit distance of two short strings (capped at 64 bytes each). */
static size_t
distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b), row[65];
    if (la > 64 || lb > 64)
        return SIZE_MAX;
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t best = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

static void
unknown_key(const struct cbc_table *t, const char *name, struct cbc_ctx *c)
{
    const char *best = NULL;
    size_t best_d = 3; /* suggest only close names */
    char known[512] = "";
    size_t n = 0;
    for (const struct cbc_key *k = t->keys; k->name != NULL; k++) {
        size_t d = distance(name, k->name);
        if (d < best_d) {
            best_d = d;
            best = k->name;
        }
        int w = snprintf(known + n, sizeof known - n, "%s%s", n ? ", " : "",
                         k->name);
        if (w > 0 && (size_t)w < sizeof known - n)
            n += (size_t)w;
    }
    if (best != NULL)
        cbc__error(c, "unknown key (did you mean \"%s\"?)", best);
    else
        cbc__error(c, "unknown key (known keys: %s)", known);
}

static const struct cbc_key *
find_key(const struct cbc_table *t, const char *name)
{
    for (const struct cbc_key *k = t->keys; k->name != NULL; k++)
        if (strcmp(k->name, name) == 0)
            return k;
    return NULL;
}

/* Decodes the table's default for k (or {} for a section without one). */
static void
decode_default(const struct cbc_key *k, char *base, struct cbc_ctx *c)
{
    if (k->dflt == NULL && k->type != CBC_T_OBJECT) {
        cbc__error(c, "is required but missing");
        return;
    }
    json_error_t err;
    json_t *d = k->dflt ? json_loads(k->dflt, JSON_DECODE_ANY, &err)
                        : json_object();
    if (d == NULL) {
        cbc__error(c, "the built-in default is not JSON: %s", err.text);
        return;
    }
    c->in_default++;
    decode_key(k, d, base, c);
    c->in_default--;
    json_decref(d);
}

static void
decode_object(const struct cbc_table *t, json_t *v, void *obj,
              struct cbc_ctx *c)
{
    if (!json_is_object(v)) {
        type_error(c, "an object", v);
        return;
    }
    size_t errs0 = c->n_errs;
    const char *name;
    json_t *val;
    json_object_foreach(v, name, val)
    {
        if (find_key(t, name) == NULL) {
            size_t mark = cbc__path_key(c, name);
            unknown_key(t, name, c);
            cbc__path_pop(c, mark);
        }
    }
    for (const struct cbc_key *k = t->keys; k->name != NULL; k++) {
        json_t *jv = json_object_get(v, k->name);
        size_t mark = cbc__path_key(c, k->name);
        if (jv != NULL) {
            c->keys_set += k->type != CBC_T_OBJECT && !c->in_default;
            decode_key(k, jv, obj, c);
        } else {
            decode_default(k, obj, c);
        }
        cbc__path_pop(c, mark);
    }
    if (c->n_errs == errs0 && t->finish != NULL)
        t->finish(obj, c);
}

size_t
cbc__decode(const struct cbc_table *root, json_t *json, void *out,
            struct cbc__arena *arena, const char *file, char **err_text,
            size_t *keys_set)
{
    struct cbc_ctx c = {.file = file, .arena = arena};
    c.path[0] = '$';
    c.path_len = 1;
    decode_object(root, json, out, &c);
    if (c.n_errs > MAX_ERR_LINES) {
        char more[96];
        int n = snprintf(more, sizeof more, "%s: %zu more errors not shown\n",
                         file, c.n_errs - MAX_ERR_LINES);
        char *p = realloc(c.errs, c.errs_len + (size_t)n + 1);
        if (p != NULL) {
            memcpy(p + c.errs_len, more, (size_t)n + 1);
            c.errs = p;
        }
    }
    if (keys_set != NULL)
        *keys_set = c.keys_set;
    if (err_text != NULL)
        *err_text = c.errs;
    else
        free(c.errs);
    return c.n_errs;
}

/* ======================================================================
 * Encoding
 * ====================================================================== */

static json_t *encode_object(const struct cbc_table *t, const void *obj);

static json_t *
encode_scalar(const struct cbc_key *k, const void *src)
{
    char b[48];
    switch (k->type) {
    case CBC_T_BOOL:
        return json_boolean(*(const bool *)src);
    case CBC_T_INT:
        return json_integer((json_int_t) * (const int64_t *)src);
    case CBC_T_DOUBLE:
        return json_real(*(const double *)src);
    case CBC_T_STRING:
        return *(char *const *)src ? json_string(*(char *const *)src)
                                   : json_null();
    case CBC_T_ENUM:
        return json_string(k->choices[*(const int *)src]);
    default:
        if (*(const uint64_t *)src == 0 && (k->flags & CBC_NULLABLE))
            return json_null();
        if (k->type == CBC_T_DURATION)
            return json_string(
                cbc__fmt_duration(b, sizeof b, *(const uint64_t *)src));
        return json_string(cbc__fmt_size(b, sizeof b, *(const uint64_t *)src));
    }
}

static json_t *
encode_list(const struct cbc_key *k, const char *base)
{
    int objects = k->type == CBC_T_OBJECTS;
    const char *arr = *(char *const *)(base + k->offset);
    size_t n = *(const size_t *)(base + k->count_offset);
    size_t esz = objects ? k->sub->size : scalar_size(k->elem->type);
    json_t *a = json_array();
    for (size_t i = 0; a != NULL && i < n; i++) {
        json_t *e = objects ? encode_object(k->sub, arr + i * esz)
                            : encode_scalar(k->elem, arr + i * esz);
        if (json_array_append_new(a, e) != 0) {
            json_decref(a);
            a = NULL;
        }
    }
    return a;
}

static json_t *
encode_object(const struct cbc_table *t, const void *obj)
{
    const char *base = obj;
    json_t *o = json_object();
    for (const struct cbc_key *k = t->keys; o != NULL && k->name; k++) {
        json_t *v;
        if (k->type == CBC_T_OBJECT)
            v = encode_object(k->sub, base + k->offset);
        else if (k->type == CBC_T_LIST || k->type == CBC_T_OBJECTS)
            v = encode_list(k, base);
        else
            v = encode_scalar(k, base + k->offset);
        if (json_object_set_new(o, k->name, v) != 0) {
            json_decref(o);
            o = NULL;
        }
    }
    return o;
}

json_t *
cbc__encode(const struct cbc_table *root, const void *obj)
{
    return encode_object(root, obj);
}

/* ======================================================================
 * Reference documentation
 * ====================================================================== */

struct mdbuf {
    char *p;
    size_t len;
    int failed;
};

static void md(struct mdbuf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
md(struct mdbuf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *p = n < 0 ? NULL : realloc(b->p, b->len + (size_t)n + 1);
    if (p == NULL) {
        b->failed = 1;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(p + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->p = p;
    b->len += (size_t)n;
}

static const char *
type_name(const struct cbc_key *k)
{
    switch (k->type) {
    case CBC_T_BOOL:
        return "bool";
    case CBC_T_INT:
        return "integer";
    case CBC_T_DOUBLE:
        return "number";
    case CBC_T_STRING:
        return "string";
    case CBC_T_ENUM:
        return "enum";
    case CBC_T_DURATION:
        return "duration";
    case CBC_T_SIZE:
        return "size";
    case CBC_T_LIST:
        return "list";
    case CBC_T_OBJECTS:
        return "list of objects";
    default:
        return "object";
    }
}

static void
md_range(struct mdbuf *b, const struct cbc_key *k)
{
    char lo[32], hi[32];
    switch (k->type) {
    case CBC_T_INT:
        md(b, "%" PRId64 " to %" PRId64, k->min, k->max);
        break;
    case CBC_T_DOUBLE:
        md(b, "%g to %g", k->dmin, k->dmax);
        break;
    case CBC_T_STRING:
        md(b, "%" PRId64 " to %" PRId64 " bytes", k->min, k->max);
        break;
    case CBC_T_ENUM:
        for (int i = 0; k->choices[i]; i++)
            md(b, "%s`\"%s\"`", i ? ", " : "", k->choices[i]);
        break;
    case CBC_T_DURATION:
        md(b, "%s to %s", cbc__fmt_duration(lo, sizeof lo, (uint64_t)k->min),
           cbc__fmt_duration(hi, sizeof hi, (uint64_t)k->max));
        break;
    case CBC_T_SIZE:
        md(b, "%s to %s", cbc__fmt_size(lo, sizeof lo, (uint64_t)k->min),
           cbc__fmt_size(hi, sizeof hi, (uint64_t)k->max));
        break;
    case CBC_T_LIST:
    case CBC_T_OBJECTS:
        md(b, "%" PRId64 " to %" PRId64 " items", k->min, k->max);
        if (k->type == CBC_T_LIST) {
            md(b, " of %s ", type_name(k->elem));
            md_range(b, k->elem);
        }
        break;
    default:
        break;
    }
    if (k->flags & CBC_NULLABLE)
        md(b, ", or null");
}

static void
md_table(struct mdbuf *b, const struct cbc_table *t, const char *prefix)
{
    for (const struct cbc_key *k = t->keys; k->name; k++) {
        if (k->type == CBC_T_OBJECT)
            continue;
        md(b, "| `%s.%s` | %s | ", prefix, k->name, type_name(k));
        if (k->dflt == NULL)
            md(b, "required");
        else if (k->type == CBC_T_OBJECTS)
            md(b, "see below");
        else
            md(b, "`%s`", k->dflt);
        md(b, " | ");
        md_range(b, k);
        md(b, " | %s |\n", k->doc ? k->doc : "");
    }
    for (const struct cbc_key *k = t->keys; k->name; k++) {
        if (k->type != CBC_T_OBJECTS)
            continue;
        char p[128];
        snprintf(p, sizeof p, "%s.%s[]", prefix, k->name);
        md_table(b, k->sub, p);
        if (k->dflt != NULL)
            md(b, "\nDefault of `%s.%s`: `%s`\n\n", prefix, k->name, k->dflt);
    }
}

char *
cbc__reference(const struct cbc_table *root)
{
    struct mdbuf b = {0};
    for (const struct cbc_key *s = root->keys; s->name; s++) {
        if (s->type != CBC_T_OBJECT)
            continue;
        md(&b, "### `%s`: %s\n\n", s->name, s->doc ? s->doc : "");
        md(&b, "| key | type | default | range | meaning |\n"
               "| --- | --- | --- | --- | --- |\n");
        md_table(&b, s->sub, s->name);
        md(&b, "\n");
    }
    if (b.failed) {
        free(b.p);
        return NULL;
    }
    return b.p;
}
