/*
 * cmd_config.c -- `clipbus config check FILE` and `clipbus config dump
 * [FILE]`: validate a configuration file without running a program, and
 * print the effective configuration with every default filled in.
 *
 * Both use the same loader as the programs (consumers/common/config.h),
 * so a file that passes `check` is one every program accepts at start and
 * on reload.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "config.h"
#include "config_schema.h"

#define CMD "config"

/* clang-format off */
static void
usage(FILE *f)
{
    fprintf(f,
"Usage: clipbus config check FILE\n"
"       clipbus config dump [FILE]\n"
"       clipbus config keys\n"
"Validate a clipbus configuration file, or print the effective\n"
"configuration (every key, defaults filled in) as JSON with sorted keys.\n"
"\n"
"  check FILE   validate the whole file; print one line per error\n"
"               (\"FILE: $.json.path: what is wrong\", or FILE:LINE:COLUMN\n"
"               for JSON syntax errors) or a one-line summary when valid\n"
"  dump [FILE]  print the effective configuration; without FILE,\n"
"               $" CBC_CONFIG_ENV " if set, else the built-in defaults\n"
"  keys         print the reference of every key (Markdown, as in\n"
"               docs/config.md): type, default, range, meaning\n"
"  -h, --help   this text\n"
"\n"
"Every key, its type, default and range: docs/config.md.\n"
"Exit status: 0 valid; 2 invalid or unreadable file, or usage error.\n");
}
/* clang-format on */

/* Loads path (NULL: defaults), printing every error to stderr. */
static struct cbc_config *
load(const char *path)
{
    struct cbc_config_errors errs = {0};
    struct cbc_config *cfg = NULL;
    if (cbc_config_load(path, &cfg, &errs) < 0) {
        fputs(errs.text ? errs.text : "", stderr);
        fprintf(stderr, "clipbus config: %s is invalid (%zu error%s)\n",
                path, errs.count, errs.count == 1 ? "" : "s");
    }
    cbc_config_errors_fini(&errs);
    return cfg;
}

static int
check(const char *path)
{
    struct cbc_config *cfg = load(path);
    if (cfg == NULL)
        return CLI_USAGE;
    char line[4096 + 128];
    int n = snprintf(line, sizeof line,
                     "%s: valid (%zu key%s set, every other key at its "
                     "default)",
                     path, cfg->keys_set, cfg->keys_set == 1 ? "" : "s");
    cbc_config_free(cfg);
    if (cli_out_line(line, n < 0 ? 0 : strlen(line)) != 0)
        return CLI_PROBLEM;
    return CLI_OK;
}

static int
dump(const char *path)
{
    struct cbc_config *cfg = load(path);
    if (cfg == NULL)
        return CLI_USAGE;
    char *text = cbc_config_dump(cfg);
    cbc_config_free(cfg);
    if (text == NULL) {
        fprintf(stderr, "clipbus config dump: out of memory\n");
        return CLI_PROBLEM;
    }
    size_t len = strlen(text);
    /* The dump ends in a newline; cli_out_line adds its own. */
    int rc = cli_out_line(text, len > 0 ? len - 1 : 0);
    free(text);
    return rc == 0 && cli_out_flush() == 0 ? CLI_OK : CLI_PROBLEM;
}

int
cmd_config(int argc, char **argv)
{
    if (argc < 2)
        return cli_usage_error(CMD, "missing action (check or dump)");
    const char *action = argv[1];
    if (strcmp(action, "-h") == 0 || strcmp(action, "--help") == 0) {
        usage(stdout);
        return CLI_OK;
    }
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            return CLI_OK;
        }
        if (argv[i][0] == '-' && argv[i][1] != '\0')
            return cli_usage_error(CMD, "unknown option '%s'", argv[i]);
    }
    if (strcmp(action, "check") == 0) {
        if (argc != 3)
            return cli_usage_error(CMD, argc < 3 ? "check needs a FILE"
                                                 : "check takes one FILE");
        return check(argv[2]);
    }
    if (strcmp(action, "dump") == 0) {
        if (argc > 3)
            return cli_usage_error(CMD, "dump takes at most one FILE");
        return dump(argc == 3 ? argv[2] : cbc_config_path(NULL));
    }
    if (strcmp(action, "keys") == 0) {
        if (argc > 2)
            return cli_usage_error(CMD, "keys takes no argument");
        char *ref = cbc__reference(&cbc__root_table);
        int rc = ref ? fputs(ref, stdout) : EOF;
        free(ref);
        return rc != EOF && cli_out_flush() == 0 ? CLI_OK : CLI_PROBLEM;
    }
    return cli_usage_error(CMD, "unknown action '%s' (use check, dump or "
                                "keys)",
                           action);
}
