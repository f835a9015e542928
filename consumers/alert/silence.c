/*
 * silence.c -- silence matching (Req 4.2: no page while silenced or in a
 * maintenance window).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "silence.h"

int
al_silence_parse(struct al_silence *s, const char *text)
{
    const char *p = text;
    s->n_match = 0;
    while (*p) {
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        if (n == 0 || memchr(p, '=', n) == NULL ||
            s->n_match == AL_SIL_MATCH_MAX)
            return -EINVAL;
        s->match[s->n_match] = strndup(p, n);
        if (s->match[s->n_match] == NULL)
            return -ENOMEM;
        s->n_match++;
        p += n + (comma != NULL);
    }
    return s->n_match ? 0 : -EINVAL;
}

void
al_silences_clear(struct al_silences *l)
{
    for (size_t i = 0; i < l->n; i++) {
        for (size_t k = 0; k < l->v[i].n_match; k++)
            free(l->v[i].match[k]);
        free(l->v[i].comment);
    }
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

static int
in_maint(const struct cbc_alert_maint *m, uint64_t now)
{
    if (now < m->start_ns)
        return 0;
    uint64_t off = now - m->start_ns;
    if (m->every_ns)
        off %= m->every_ns;
    return off < m->duration_ns;
}

int
al_silenced(const struct al_silences *l, const struct cbc_alert_config *c,
            const struct al_label *lab, size_t n, uint64_t now)
{
    for (size_t i = 0; l && i < l->n; i++)
        if (now >= l->v[i].start_ns && now < l->v[i].end_ns &&
            al_match((const char *const *)l->v[i].match, l->v[i].n_match, lab,
                     n))
            return 1;
    for (size_t i = 0; c && i < c->n_maintenance; i++)
        if (in_maint(&c->maintenance[i], now) &&
            al_match(c->maintenance[i].match, c->maintenance[i].n_match, lab,
                     n))
            return 1;
    return 0;
}
