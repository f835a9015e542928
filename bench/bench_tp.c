/*
 * bench_tp.c -- instantiates the LTTng-UST probes of bench_tp.h.
 */
#define LTTNG_UST_TRACEPOINT_CREATE_PROBES
#define LTTNG_UST_TRACEPOINT_DEFINE
#include "bench_tp.h"
