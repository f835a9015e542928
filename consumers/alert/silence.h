/*
 * silence.h -- silences: matchers plus a time range. Ad-hoc ones come
 * from alert.db (`clipbus-alert silence add`), scheduled ones from the
 * config's maintenance windows.
 */
#ifndef CBA_SILENCE_H
#define CBA_SILENCE_H

#include <stddef.h>
#include <stdint.h>

#include "config_alert.h"
#include "engine.h"

#define AL_SIL_MATCH_MAX 16

struct al_silence {
    int64_t id;
    char *match[AL_SIL_MATCH_MAX];
    size_t n_match;
    uint64_t start_ns, end_ns;
    char *comment;
};

struct al_silences {
    struct al_silence *v;
    size_t n;
};

/* Parses "k=glob,k2!=glob2" matchers text (as stored) into s. 0 or
 * -EINVAL. */
int al_silence_parse(struct al_silence *s, const char *text);
void al_silences_clear(struct al_silences *l);
/* 1 if some silence or maintenance window covers labels at now. */
int al_silenced(const struct al_silences *l, const struct cbc_alert_config *c,
                const struct al_label *lab, size_t n, uint64_t now);

#endif /* CBA_SILENCE_H */
