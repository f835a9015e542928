/*
 * bench_tp.h -- the LTTng-UST tracepoint provider of the publish benchmark
 * (a baseline only; clipbus never depends on LTTng). One event of two
 * integers, the same payload as the monitored function's two parameters;
 * call_exit carries the return value, for an entry+exit pair.
 */
#undef LTTNG_UST_TRACEPOINT_PROVIDER
#define LTTNG_UST_TRACEPOINT_PROVIDER clipbus_bench

#undef LTTNG_UST_TRACEPOINT_INCLUDE
#define LTTNG_UST_TRACEPOINT_INCLUDE "./bench_tp.h"

#if !defined(BENCH_TP_H) || defined(LTTNG_UST_TRACEPOINT_HEADER_MULTI_READ)
#define BENCH_TP_H

#include <lttng/tracepoint.h>

LTTNG_UST_TRACEPOINT_EVENT(
    clipbus_bench, call_entry,
    LTTNG_UST_TP_ARGS(int, a, int, b),
    LTTNG_UST_TP_FIELDS(lttng_ust_field_integer(int, a, a)
                        lttng_ust_field_integer(int, b, b)))

LTTNG_UST_TRACEPOINT_EVENT(
    clipbus_bench, call_exit,
    LTTNG_UST_TP_ARGS(int, ret, int, status),
    LTTNG_UST_TP_FIELDS(lttng_ust_field_integer(int, ret, ret)
                        lttng_ust_field_integer(int, status, status)))

#endif /* BENCH_TP_H */

#include <lttng/tracepoint-event.h>
