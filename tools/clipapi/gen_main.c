/*
 * gen_main.c: clipapi-gen, the deterministic clip corpus generator.
 *
 * Parses the command line, builds the corpus in memory (gen_model.c) and
 * writes it as Helix-shaped files (gen_write.c). Exit status: 0 done, 1 the
 * corpus could not be written, 2 bad command line.
 */
#include "gen_model.h"
#include "gen_write.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PROG "clipapi-gen"

/* clang-format off */
static void
usage(FILE *f)
{
    fprintf(f,
"Usage: " PROG " --seed N --out DIR [options]\n"
"Write a deterministic corpus of Twitch-Helix-shaped clip pages: channels of\n"
"very different sizes, clips whose views grow over several snapshots, and a\n"
"known set of planted viral clips (listed in DIR/corpus.json, \"planted\").\n"
"The same seed and options always give byte-identical files.\n"
"\n"
"  --seed N               corpus seed, 0 .. 2^63-1 (required)\n"
"  --out DIR              output directory, created; must be new or empty\n"
"  --channels N           number of channels (default 40)\n"
"  --clips-per-channel N  mean clips per channel; big channels get up to\n"
"                         twice as many (default 60)\n"
"  --snapshots N          observation times (default 4)\n"
"  --planted N            planted viral clips, at most one per channel\n"
"                         (default 10)\n"
"  --interval D           time between snapshots: 90s, 15m, 1h, 2d\n"
"                         (default 1h)\n"
"  --start T              observed_at of snapshot 0, YYYY-MM-DDTHH:MM:SSZ\n"
"                         (default 2026-11-01T00:00:00Z)\n"
"  --page-size N          clips per page, 1 .. 100 (default 100)\n"
"  --truth                print the planted clip ids, one per line; without\n"
"                         --out nothing is written\n"
"  --help                 show this help\n"
"\n"
"Layout: DIR/corpus.json, DIR/channels.txt, DIR/snap-KKK/clips/<id>/page-N.json\n"
"(N from 1), DIR/snap-KKK/users/<id>.json, DIR/snap-KKK/followers/<id>.json.\n"
"Serve it with clipapi-serve --corpus DIR, or read it through file://.\n");
}
/* clang-format on */

static int
bad(const char *opt, const char *val, const char *want)
{
    fprintf(stderr, PROG ": bad value for %s: '%s' (expected %s); see --help\n",
            opt, val, want);
    return 2;
}

/* 0 if dir does not exist or is an empty directory. */
static int
check_out_dir(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int entries = 0;

    if (d == NULL) {
        if (errno == ENOENT)
            return 0;
        fprintf(stderr, PROG ": cannot use --out %s: %s\n", dir,
                strerror(errno));
        return -1;
    }
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            entries++;
    }
    (void)closedir(d);
    if (entries > 0) {
        fprintf(stderr,
                PROG ": --out %s is not empty; choose a new "
                     "directory so that no stale pages stay\n",
                dir);
        return -1;
    }
    return 0;
}

struct cli {
    struct ca_gen_params p;
    const char *out;
    int truth;
    int have_seed;
};

enum {
    O_SEED = 256,
    O_OUT,
    O_CHANNELS,
    O_CLIPS,
    O_SNAPS,
    O_PLANTED,
    O_INTERVAL,
    O_START,
    O_PAGE,
    O_TRUTH,
    O_HELP
};

/* Applies one option; returns 0, or the exit status after a message. */
static int
apply_opt(struct cli *cl, int opt, const char *arg)
{
    uint64_t v;

    switch (opt) {
    case O_SEED:
        if (ca_parse_u64(arg, 0, INT64_MAX, &cl->p.seed) != 0)
            return bad("--seed", arg, "an integer 0 .. 2^63-1");
        cl->have_seed = 1;
        return 0;
    case O_OUT:
        cl->out = arg;
        return 0;
    case O_TRUTH:
        cl->truth = 1;
        return 0;
    case O_INTERVAL:
        if (ca_parse_duration(arg, &cl->p.interval_s) != 0)
            return bad("--interval", arg, "a duration such as 90s, 15m, 1h");
        return 0;
    case O_START:
        if (ca_parse_iso8601(arg, &cl->p.start_s) != 0)
            return bad("--start", arg, "YYYY-MM-DDTHH:MM:SSZ");
        return 0;
    default:
        break;
    }
    static const struct {
        int opt;
        const char *name;
        uint64_t lo, hi;
    } lim[] = {
        {O_CHANNELS, "--channels", 1, 100000},
        {O_CLIPS, "--clips-per-channel", 1, 10000},
        {O_SNAPS, "--snapshots", 1, 1000},
        {O_PLANTED, "--planted", 0, 100000},
        {O_PAGE, "--page-size", 1, 100},
    };
    for (size_t i = 0; i < sizeof(lim) / sizeof(lim[0]); i++) {
        char want[64];
        if (lim[i].opt != opt)
            continue;
        snprintf(want, sizeof(want), "an integer %llu .. %llu",
                 (unsigned long long)lim[i].lo, (unsigned long long)lim[i].hi);
        if (ca_parse_u64(arg, lim[i].lo, lim[i].hi, &v) != 0)
            return bad(lim[i].name, arg, want);
        uint32_t *dst[] = {&cl->p.channels, &cl->p.clips_per_channel,
                           &cl->p.snapshots, &cl->p.planted, &cl->p.page_size};
        *dst[i] = (uint32_t)v;
        return 0;
    }
    return 2;
}

static int
parse_cli(int argc, char **argv, struct cli *cl)
{
    static const struct option opts[] = {
        {"seed", required_argument, NULL, O_SEED},
        {"out", required_argument, NULL, O_OUT},
        {"channels", required_argument, NULL, O_CHANNELS},
        {"clips-per-channel", required_argument, NULL, O_CLIPS},
        {"snapshots", required_argument, NULL, O_SNAPS},
        {"planted", required_argument, NULL, O_PLANTED},
        {"interval", required_argument, NULL, O_INTERVAL},
        {"start", required_argument, NULL, O_START},
        {"page-size", required_argument, NULL, O_PAGE},
        {"truth", no_argument, NULL, O_TRUTH},
        {"help", no_argument, NULL, O_HELP},
        {NULL, 0, NULL, 0},
    };
    int opt, rc;

    cl->p = (struct ca_gen_params){.channels = 40,
                                   .clips_per_channel = 60,
                                   .snapshots = 4,
                                   .planted = 10,
                                   .page_size = 100,
                                   .interval_s = 3600};
    (void)ca_parse_iso8601("2026-11-01T00:00:00Z", &cl->p.start_s);
    opterr = 0;
    while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (opt == O_HELP) {
            usage(stdout);
            exit(0);
        }
        if (opt == '?') {
            fprintf(stderr,
                    PROG ": unknown option or missing value: %s; "
                         "see --help\n",
                    argv[optind - 1]);
            return 2;
        }
        if ((rc = apply_opt(cl, opt, optarg)) != 0)
            return rc;
    }
    if (optind < argc) {
        fprintf(stderr, PROG ": unexpected argument '%s'; see --help\n",
                argv[optind]);
        return 2;
    }
    return 0;
}

/* Cross-option checks after parsing. */
static int
validate(const struct cli *cl)
{
    const struct ca_gen_params *p = &cl->p;

    if (!cl->have_seed) {
        fprintf(stderr, PROG ": --seed is required; see --help\n");
        return 2;
    }
    if (cl->out == NULL && !cl->truth) {
        fprintf(stderr, PROG ": --out DIR is required; see --help\n");
        return 2;
    }
    if (p->planted > p->channels) {
        fprintf(stderr,
                PROG ": --planted %u exceeds --channels %u (at most "
                     "one planted clip per channel)\n",
                (unsigned)p->planted, (unsigned)p->channels);
        return 2;
    }
    /* Twice the mean per channel, times snapshots: keep it to a few GB. */
    if ((double)p->channels * p->clips_per_channel * p->snapshots > 2e7) {
        fprintf(stderr,
                PROG ": corpus too large (channels x clips-per-channel"
                     " x snapshots > 20,000,000); reduce one of them\n");
        return 2;
    }
    return 0;
}

int
main(int argc, char **argv)
{
    struct cli cl = {0};
    struct ca_corpus c;
    int rc = parse_cli(argc, argv, &cl);

    if (rc == 0)
        rc = validate(&cl);
    if (rc != 0)
        return rc;
    if (cl.out != NULL && check_out_dir(cl.out) != 0)
        return 2;
    if (ca_corpus_build(&cl.p, &c) != 0) {
        fprintf(stderr, PROG ": out of memory building the corpus\n");
        return 1;
    }
    if (cl.out != NULL) {
        int err = ca_mkdir_p(cl.out);
        if (err != 0) {
            fprintf(stderr, PROG ": cannot create --out %s: %s\n", cl.out,
                    strerror(-err));
            rc = 1;
        } else if (ca_corpus_write(&c, cl.out) != 0) {
            rc = 1;
        }
    }
    for (size_t n = 0; rc == 0 && cl.truth && n < c.n_planted; n++)
        printf("%s\n", c.clips[c.planted[n]].id);
    if (rc == 0 && cl.out != NULL)
        fprintf(stderr,
                PROG ": wrote %zu channels, %zu clips, %u snapshots, "
                     "%zu planted to %s\n",
                c.n_ch, c.n_clips, (unsigned)c.p.snapshots, c.n_planted,
                cl.out);
    ca_corpus_fini(&c);
    return rc;
}
