/*
 * tail.h -- the event renderers of `clipbus tail`: one bus event as one
 * human line or one JSON object (the --jsonl format, docs/tail-jsonl.md).
 */
#ifndef CLIPBUS_TOOL_TAIL_H
#define CLIPBUS_TOOL_TAIL_H

#include <clipbus/reader.h>

#include "cli.h"

/* Event types as printed ("type" in JSON); also the --kind names. */
enum tail_type {
    TT_THREAD,
    TT_CALL,
    TT_SESSION_BEGIN,
    TT_SESSION_END,
    TT_PROGRESS,
    TT_COUNT,
    TT_GAUGE,
    TT_OBSERVE,
    TT_LOG,
    TT_LOSS,
    TT_PRODUCER_NEW,
    TT_PRODUCER_EXIT,
    TT_PRODUCER_DIED,
    TT_BAD_SEGMENT,
    TT_UNKNOWN,
    TT_COUNT_ /* number of types */
};

/* The type of a bus event. */
enum tail_type tail_type_of(const struct cb_event *ev);

/* The printed name of a type. */
const char *tail_type_name(enum tail_type t);

/* Parses a --kind list ("call,log,metric,...") into a bit mask over
 * enum tail_type; 0 and *bad set to the offending word on error. */
unsigned tail_kind_mask(const char *list, char *bad, size_t bad_len);

/* One event as a human line (no newline) appended to b. now_ns is the
 * time stamped on events that carry none (loss, lifecycle, bad). */
void tail_line(struct sbuf *b, const struct cb_event *ev, uint64_t now_ns,
               int utc);

/* One event as a JSON object on one line (docs/tail-jsonl.md) appended
 * to b. now_ns as for tail_line(). */
void tail_jsonl(struct sbuf *b, const struct cb_event *ev, uint64_t now_ns);

#endif /* CLIPBUS_TOOL_TAIL_H */
