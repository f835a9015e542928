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

#endif /* CBC_CLI_H */
