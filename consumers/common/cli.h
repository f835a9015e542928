/*
 * cli.h -- the command-line loop the consumers share.
 *
 * Each consumer has its own options and checks each value itself; what is
 * the same everywhere is the loop around getopt_long: --help, the message
 * for an unknown option or a missing value, and stray arguments.
 */
#ifndef CBC_CLI_H
#define CBC_CLI_H

#include <getopt.h>
#include <stdint.h>
#include <stdio.h>

/* Takes one option (getopt's value) and its argument; returns 0, or < 0
 * after printing why the value is wrong. */
typedef int (*cbc_cli_option_fn)(void *arg, int opt, const char *val);

/* Runs getopt_long over argv with `shorts` (a leading ':' is added) and
 * `longs`, in which 'h' must be --help. Prints usage() to stdout for
 * --help; for an unknown option, a missing value or a stray argument,
 * prints one line "PROG: ...; see PROG --help" to stderr. Returns 0 to
 * run, 1 after --help, 2 after a usage error. */
int cbc_cli_parse(const char *prog, int argc, char **argv,
                  const char *shorts, const struct option *longs,
                  void (*usage)(FILE *), cbc_cli_option_fn one, void *arg);

/* The same for commands that take arguments after their options: they are
 * left, in order, at argv[*first] .. argv[argc - 1]. */
int cbc_cli_parse_args(const char *prog, int argc, char **argv,
                       const char *shorts, const struct option *longs,
                       void (*usage)(FILE *), cbc_cli_option_fn one,
                       void *arg, int *first);

/* The values every consumer takes, checked the same way everywhere. Each
 * returns 0, or -1 after one line "PROG: --opt: 'VAL' is not ...; see
 * PROG --help" on stderr. */

/* --from oldest|now: *from = CB_FROM_OLDEST or CB_FROM_NOW. */
int cbc_cli_from(const char *prog, const char *val, int *from);

/* --exit-idle MS: milliseconds, 0 (never, the default) to 86400000. */
int cbc_cli_exit_idle(const char *prog, const char *val, uint32_t *ms);

/* --sched idle|batch|normal: *sched = CBC_SCHED_* (sched_class.h). */
int cbc_cli_sched(const char *prog, const char *val, int *sched);

/* The help text of --sched, the same in every consumer. */
#define CBC_CLI_SCHED_HELP                                                   \
    "      --sched CLASS   CPU scheduling class: idle (default: run only\n"  \
    "                      on CPU time nothing else wants), batch or\n"      \
    "                      normal; also CLIPBUS_SCHED, consumer.sched\n"

#endif /* CBC_CLI_H */
