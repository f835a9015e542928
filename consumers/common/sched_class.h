/*
 * sched_class.h -- the CPU scheduling class a consumer runs in.
 *
 * A consumer is background work: the program it watches must not wait for
 * it, and on a busy machine every slice of CPU a consumer takes is one the
 * producer may have wanted. So by default every consumer runs as Linux
 * SCHED_IDLE: it gets a CPU when one would otherwise be idle, is preempted
 * at once when a normal task wakes, and still gets a small share (weight 3
 * against 1024 for nice 0) on a saturated machine, so it never starves
 * outright; the rings absorb what it reads late, and what it cannot read
 * in time is counted as lost. See docs/consumers.md, "Scheduling".
 *
 * Which class, first match wins:
 *   1. the program's --sched option;
 *   2. CLIPBUS_SCHED in the environment (one setting for every consumer of
 *      a shell, a service or a test run);
 *   3. the configuration's consumer.sched (default "idle").
 */
#ifndef CBC_SCHED_CLASS_H
#define CBC_SCHED_CLASS_H

#define CBC_SCHED_ENV "CLIPBUS_SCHED"

enum cbc_sched {
    CBC_SCHED_UNSET = -1, /* not given (an option not used) */
    CBC_SCHED_IDLE = 0,   /* SCHED_IDLE: only otherwise-idle CPU time */
    CBC_SCHED_BATCH,      /* SCHED_BATCH: nice 0, never preempts on wake */
    CBC_SCHED_NORMAL,     /* SCHED_OTHER: like any program */
};

/* Parses "idle", "batch" or "normal"; returns the value, or -1. */
int cbc_sched_parse(const char *text);

/* The class to use: `cli` if set, else CLIPBUS_SCHED if set, else
 * `config`. Returns it, or -1 after one line on stderr naming the bad
 * CLIPBUS_SCHED value ("PROG: CLIPBUS_SCHED: 'x' is not idle, batch or
 * normal"). */
int cbc_sched_resolve(const char *prog, int cli, int config);

/* Puts every thread of the process in class `sched` (threads created later
 * inherit it from their creator). Returns 0, or -1 after one warning line
 * on stderr; the program may run on in the class it had. */
int cbc_sched_apply(const char *prog, int sched);

#endif /* CBC_SCHED_CLASS_H */
