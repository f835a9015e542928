/*
 * cli.c -- the consumers' getopt loop (cli.h).
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"

int
cbc_cli_parse(const char *prog, int argc, char **argv, const char *shorts,
              const struct option *longs, void (*usage)(FILE *),
              cbc_cli_option_fn one, void *arg)
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
    if (optind < argc) {
        fprintf(stderr, "%s: unexpected argument '%s'; see %s --help\n", prog,
                argv[optind], prog);
        return 2;
    }
    return 0;
}
