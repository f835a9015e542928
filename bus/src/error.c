/*
 * error.c -- error names and the end of impossible failures.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus_int.h"

const char *
cb_strerror(int err)
{
    switch (err) {
    case 0:
        return "success";
    case CB_EBADSEG:
        return "segment failed validation";
    case CB_EVERSION:
        return "segment has an unknown layout version";
    case CB_EBUSNAME:
        return "bus name must match [A-Za-z0-9_-]{1,48}";
    case CB_ENOTREADY:
        return "segment is still being created";
    case CB_EDISABLED:
        return "instrumentation is switched off";
    case CB_EENV:
        return "invalid CLIPBUS_* environment value";
    case CB_EFOREIGN:
        return "segment belongs to another user or has an unsafe mode";
    case CB_ESTALE:
        return "segment of a dead or exited process";
    default:
        break;
    }
    /* strerror() is not thread-safe in theory; glibc's returns static
     * strings for known codes, which is all we pass it. */
    if (err < 0 && err > -4000)
        return strerror(-err); /* NOLINT(concurrency-mt-unsafe) */
    return "unknown clipbus error";
}

void
cb__die(int err, const char *file, const char *func, int line)
{
    fprintf(stderr, "clipbus: fatal: %s:%s:%d: %s\n", file, func, line,
            cb_strerror(err < 0 ? err : -err));
    abort();
}

void
cb__why(char *why, size_t len, const char *fmt, ...)
{
    va_list ap;

    if (why == NULL || len == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(why, len, fmt, ap);
    va_end(ap);
}
