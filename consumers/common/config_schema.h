/*
 * config_schema.h -- the declarative schema behind the configuration file
 * (internal to consumers/common and its tests; programs use config.h).
 *
 * A section of the file is a table of keys. Each key names its JSON type,
 * its default (as JSON text), its range or choices, a sentence of
 * documentation, and where its value goes in a C struct (offsetof). One
 * generic engine walks such tables to validate a JSON document, decode it
 * into the structs, and encode the structs back into canonical JSON (the
 * `clipbus config dump` output). Adding a section is therefore a struct,
 * a table, and one line in the root table (config_sections.c): no parsing
 * code.
 *
 * C storage of each type (the member at `offset` must have this type):
 *   CBC_T_BOOL      bool
 *   CBC_T_INT       int64_t            range [min, max]
 *   CBC_T_DOUBLE    double             range [dmin, dmax]
 *   CBC_T_STRING    const char *       length [min, max]; NULL when null
 *   CBC_T_ENUM      int                index into choices[]
 *   CBC_T_DURATION  uint64_t, ns       range [min, max] in ns
 *   CBC_T_SIZE      uint64_t, bytes    range [min, max]
 *   CBC_T_LIST      T * + size_t       elements described by `elem` (a
 *                                      scalar key), count [min, max] at
 *                                      count_offset
 *   CBC_T_OBJECT    struct, embedded   keys from `sub`
 *   CBC_T_OBJECTS   struct * + size_t  array of `sub` objects, count
 *                                      [min, max] at count_offset
 * Strings and arrays live in the config's arena: they are freed with it.
 *
 * CBC_NULLABLE lets a key be JSON null: strings become NULL, numbers 0
 * (so a nullable number's range must exclude 0; a table's finish hook
 * then usually derives the value, e.g. rrd.heartbeat = 2 x step).
 * A key whose dflt is NULL is required (meant for elements of
 * CBC_T_OBJECTS, such as an alert rule's "metric"). Lists of lists are
 * not supported.
 *
 * Error messages: one line each, "FILE: $.json.path: what is wrong",
 * built by cbc__error() from the path the engine maintains.
 */
#ifndef CBC_CONFIG_SCHEMA_H
#define CBC_CONFIG_SCHEMA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#ifdef __cplusplus
extern "C" {
#endif

enum cbc_type {
    CBC_T_BOOL = 1,
    CBC_T_INT,
    CBC_T_DOUBLE,
    CBC_T_STRING,
    CBC_T_ENUM,
    CBC_T_DURATION,
    CBC_T_SIZE,
    CBC_T_LIST,
    CBC_T_OBJECT,
    CBC_T_OBJECTS,
};

#define CBC_NULLABLE 0x1u

struct cbc_ctx;
struct cbc_table;

struct cbc_key {
    const char *name;  /* JSON key; NULL ends a table */
    enum cbc_type type;
    size_t offset;     /* offsetof() the member in the table's struct */
    const char *dflt;  /* default as JSON text; NULL: required */
    unsigned flags;    /* CBC_NULLABLE */
    int64_t min, max;  /* see the storage table above */
    double dmin, dmax; /* CBC_T_DOUBLE */
    const char *const *choices; /* CBC_T_ENUM: NULL-terminated */
    /* CBC_T_STRING: an extra rule; returns NULL when s is fine, else what
     * is wrong with it ("must match [A-Za-z0-9_-]{1,48}"). */
    const char *(*check)(const char *s);
    const struct cbc_key *elem;  /* CBC_T_LIST: the element (a scalar) */
    const struct cbc_table *sub; /* CBC_T_OBJECT, CBC_T_OBJECTS */
    size_t count_offset;         /* CBC_T_LIST, CBC_T_OBJECTS: a size_t */
    const char *doc;             /* one sentence for docs/config.md */
};

struct cbc_table {
    const char *name;            /* for messages and docs */
    const struct cbc_key *keys;  /* ends with a key whose name is NULL */
    size_t size;                 /* sizeof the struct (CBC_T_OBJECTS) */
    /* Cross-field checks and derived values, run on a decoded object
     * only when its own keys (and everything nested) had no error; the
     * path is the object's. Reports with cbc__error(). May be NULL. */
    void (*finish)(void *obj, struct cbc_ctx *ctx);
};

/* The whole file: the root table and the sections it names
 * (config_sections.c). */
extern const struct cbc_table cbc__root_table;
/* Section tables, one file each where a program owns the section. */
extern const struct cbc_table cbc__rrd_table;
extern const struct cbc_table cbc__log_table;
extern const struct cbc_table cbc__progress_table;
extern const struct cbc_table cbc__top_table;
extern const struct cbc_table cbc__alert_table;

/* ---- the engine (config_schema.c) --------------------------------------- */

struct cbc__arena;

/* Validates `json` against `root` and decodes it into `out` (a zeroed
 * struct of root->size bytes; strings and arrays go to `arena`). Every
 * error is appended to the error text as one line prefixed by `file`.
 * Returns the number of errors (0: `out` is complete). */
size_t cbc__decode(const struct cbc_table *root, json_t *json, void *out,
                   struct cbc__arena *arena, const char *file,
                   char **err_text, size_t *keys_set);

/* Encodes a decoded struct back into JSON: every key, defaults included,
 * durations and sizes in canonical form. New reference, NULL on ENOMEM. */
json_t *cbc__encode(const struct cbc_table *root, const void *obj);

/* The key reference of docs/config.md, generated from the tables as
 * Markdown (one table per section). Owned by the caller; NULL on ENOMEM.
 * `clipbus config keys` prints it. */
char *cbc__reference(const struct cbc_table *root);

/* For finish hooks: extend the path by ".key" or "[i]" (returns a mark),
 * and go back to a mark. */
size_t cbc__path_key(struct cbc_ctx *ctx, const char *key);
size_t cbc__path_index(struct cbc_ctx *ctx, size_t i);
void cbc__path_pop(struct cbc_ctx *ctx, size_t mark);
/* The current path ("$.rrd.rras[2]"), valid until the path changes. */
const char *cbc__path(const struct cbc_ctx *ctx);

/* Reports one error at the current path. */
void cbc__error(struct cbc_ctx *ctx, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* ---- arena: everything a config owns ------------------------------------ */
struct cbc__arena *cbc__arena_create(void);
/* Zeroed, 16-byte aligned; NULL on ENOMEM. */
void *cbc__arena_alloc(struct cbc__arena *a, size_t n);
char *cbc__arena_strdup(struct cbc__arena *a, const char *s);
/* Poisons and frees every block. NULL is fine. */
void cbc__arena_destroy(struct cbc__arena *a);

/* ---- units (config_units.c) --------------------------------------------- */

/* Parses "10s", "1h30m", "90d", "1y" (= 366 days) into ns. Units: ns, us,
 * ms, s, m, h, d, w, y; one or more <digits><unit> groups, no sign, no
 * fraction, no spaces. Returns 0, -EINVAL (not a duration) or -ERANGE
 * (more than UINT64_MAX ns); *ns untouched on failure. */
int cbc__parse_duration(const char *s, uint64_t *ns);

/* Canonical form: the largest unit among y, d, h, m, s, ms, us, ns that
 * divides ns exactly ("90d", "1y", "1500ms", "0s"). Returns buf. */
char *cbc__fmt_duration(char *buf, size_t len, uint64_t ns);

/* Parses "<digits><unit>" with unit B, KiB, MiB, GiB, TiB. 0, -EINVAL or
 * -ERANGE as above. */
int cbc__parse_size(const char *s, uint64_t *bytes);

/* Canonical form: the largest binary unit dividing exactly ("64KiB"). */
char *cbc__fmt_size(char *buf, size_t len, uint64_t bytes);

#define CBC_DURATION_HELP "use a number and a unit: 500ms, 10s, 5m, 2h, 90d, 1y"
#define CBC_SIZE_HELP     "use a number and a unit: 512B, 64KiB, 16MiB, 1GiB"

/* Handy range limits for tables (ns). */
#define CBC_NS_MS  1000000LL
#define CBC_NS_S   1000000000LL
#define CBC_NS_MIN (60 * CBC_NS_S)
#define CBC_NS_H   (3600 * CBC_NS_S)
#define CBC_NS_D   (86400 * CBC_NS_S)
#define CBC_NS_Y   (366 * CBC_NS_D)

#ifdef __cplusplus
}
#endif

#endif /* CBC_CONFIG_SCHEMA_H */
