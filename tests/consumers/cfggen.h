/*
 * cfggen.h -- random configuration documents generated from the schema
 * tables (config_schema.h), and single-point mutations that make one of
 * them invalid at a known JSON path. Used by the property tests of the
 * configuration system (Properties 13 and 14).
 */
#ifndef CFGGEN_H
#define CFGGEN_H

#include <jansson.h>

#include "cbt.h"
#include "config_schema.h"

/* A random valid object for table t: optional keys present with
 * probability 1/2 (sections 3/4), values anywhere in their range, in
 * every accepted spelling (compound durations, null where allowed). */
json_t *cfggen_object(struct cbt_rng *r, const struct cbc_table *t);

/* Makes a document of the real root table satisfy the cross-field rules
 * of the "rrd" section (whole-second step dividing 1m, heartbeat >= step,
 * archive steps distinct multiples of the step, keep >= step). */
void cfggen_fix_rrd(struct cbt_rng *r, json_t *root);

/* A random valid document of the real schema. New reference. */
json_t *cfggen_config(struct cbt_rng *r);

/* Mutates `doc` (an object valid against `root`) at one random place so
 * that it is invalid there only. Writes the JSON path the validator must
 * report into path and a description of the mutation into what.
 * Returns 0, or -1 if no mutation applied (the caller retries). */
int cfggen_mutate(struct cbt_rng *r, const struct cbc_table *root,
                  json_t *doc, char *path, size_t path_len, char *what,
                  size_t what_len);

#endif /* CFGGEN_H */
