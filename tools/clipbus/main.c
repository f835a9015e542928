/*
 * main.c -- `clipbus`, the command-line tool of the bus: a dispatcher
 * over subcommands, one file each (cmd_<name>.c). Adding a subcommand is
 * one line in the table below plus its file.
 */
#include <stdio.h>
#include <string.h>

#include <clipbus/segment.h>

#include "cli.h"

struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
};

static const struct command commands[] = {
    {"status", cmd_status, "show every producer and reader of a bus"},
    {"gc", cmd_gc, "remove segments of exited or dead processes"},
    {"tail", cmd_tail, "print the bus's records as lines or JSON lines"},
    {"config", cmd_config, "check a configuration file or dump its values"},
    {"query", cmd_query, "print rows of the structured log (clipbus-log)"},
    {"export", cmd_export, "export the structured log as CSV, JSON or JSONL"},
    {"log", cmd_log, "state of the structured log's database"},
};

#define NCOMMANDS (sizeof commands / sizeof commands[0])

static void
usage(FILE *f)
{
    fprintf(f, "Usage: clipbus <command> [options]\n"
               "       clipbus <command> --help\n"
               "Inspect and maintain a clipbus bus: the shared-memory "
               "segments that\ninstrumented programs publish their records "
               "in.\n\nCommands:\n");
    for (size_t i = 0; i < NCOMMANDS; i++)
        fprintf(f, "  %-8s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\nThe bus is --bus NAME, else $CLIPBUS_BUS, else \"default\".\n"
               "Exit status: 0 ok, 1 a problem was found (or nothing to show), "
               "2 usage error.\nFull manual: docs/clipbus-tool.md.\n");
}

int
main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return CLI_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return CLI_OK;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("clipbus %s (segment layout %d.%d)\n", CLIPBUS_VERSION,
               CB_LAYOUT_MAJOR, CB_LAYOUT_MINOR);
        return CLI_OK;
    }
    for (size_t i = 0; i < NCOMMANDS; i++)
        if (strcmp(argv[1], commands[i].name) == 0) {
            cli_out_init();
            return commands[i].run(argc - 1, argv + 1);
        }
    fprintf(stderr,
            "clipbus: unknown command '%s'; run 'clipbus --help' for the "
            "list\n",
            argv[1]);
    return CLI_USAGE;
}
