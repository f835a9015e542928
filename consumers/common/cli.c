/*
 * cli.c -- the consumers' getopt loop (cli.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <clipbus/reader.h>

#include "cli.h"
#include "sched_class.h"

int
cbc_cli_parse_args(const char *prog, int argc, char **argv,
                   const char *shorts, const struct option *longs,
                   void (*usage)(FILE *), cbc_cli_option_fn one, void *arg,
                   int *first)
{
    char spec[64];
    int opt;

    /* ':' first: a missing value is reported as ':', not as '?'. */
    snprintf(spec, sizeof spec, ":%s", shorts);
    opterr = 0;
    optind = 1;
    /* getopt_long keeps global state: the consumers parse once, in main. */
    while ((opt = getopt_long(argc, argv, spec, longs, NULL)) != -1) {
        if (opt == 'h') {
            usage(stdout);
            return 1;
        }
        if (opt == '?' || opt == ':') {
            fprintf(stderr, "%s: %s '%s'; see %s --help\n", prog,
                    opt == ':' ? "missing value for" : "unknown option",
                    argv[optind - 1], prog);
            return 2;
        }
        if (one(arg, opt, optarg) < 0)
            return 2;
    }
    if (first != NULL) {
        *first = optind;
    } else if (optind < argc) {
        fprintf(stderr, "%s: unexpected argument '%s'; see %s --help\n", prog,
                argv[optind], prog);
        return 2;
    }
    return 0;
}

int
cbc_cli_parse(const char *prog, int argc, char **argv, const char *shorts,
              const struct option *longs, void (*usage)(FILE *),
              cbc_cli_option_fn one, void *arg)
{
    return cbc_cli_parse_args(prog, argc, argv, shorts, longs, usage, one,
                              arg, NULL);
}

int
cbc_cli_from(const char *prog, const char *val, int *from)
{
    if (strcmp(val, "oldest") == 0)
        *from = CB_FROM_OLDEST;
    else if (strcmp(val, "now") == 0)
        *from = CB_FROM_NOW;
    else {
        fprintf(stderr, "%s: --from: '%s' is not oldest or now; see %s "
                        "--help\n", prog, val, prog);
        return -1;
    }
    return 0;
}

int
cbc_cli_exit_idle(const char *prog, const char *val, uint32_t *ms)
{
    char *end;
    unsigned long v;

    errno = 0;
    v = strtoul(val, &end, 10);
    if (errno || end == val || *end || val[0] == '-' || v > 86400000ul) {
        fprintf(stderr, "%s: --exit-idle: '%s' is not a number of "
                        "milliseconds (0 to 86400000); see %s --help\n",
                prog, val, prog);
        return -1;
    }
    *ms = (uint32_t)v;
    return 0;
}

int
cbc_cli_sched(const char *prog, const char *val, int *sched)
{
    int v = cbc_sched_parse(val);
    if (v < 0) {
        fprintf(stderr, "%s: --sched: '%s' is not idle, batch or normal; "
                        "see %s --help\n", prog, val, prog);
        return -1;
    }
    *sched = v;
    return 0;
}
