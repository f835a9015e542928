/*
 * gen_write.h: writing a built corpus as Helix-shaped files (the layout is
 * described at the top of gen_write.c and in docs/clipapi.md).
 */
#ifndef CLIPAPI_GEN_WRITE_H
#define CLIPAPI_GEN_WRITE_H

#include "gen_model.h"

/* Writes corpus c under dir, which must exist. Returns 0, or -1 after
 * printing one line naming the file that failed. Files already written
 * stay. */
int ca_corpus_write(const struct ca_corpus *c, const char *dir);

#endif
