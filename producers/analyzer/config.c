/*
 * config.c -- command-line parsing and validation (getopt_long).
 *
 * Every value is checked here, before anything runs: a bad value gives one
 * line naming the option, the value and what is expected, and exit 2.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "timeutil.h"
#include "transport.h"

#define CA_MAX_CHANNELS 10000

enum {
    OPT_CHANNELS_FILE = 256,
    OPT_OBSERVED_AT,
    OPT_TIMEOUT,
    OPT_CONNECT_TIMEOUT,
    OPT_RETRIES,
    OPT_RETRY_BUDGET,
    OPT_BACKOFF,
    OPT_BACKOFF_MAX,
    OPT_MAX_WAIT,
    OPT_WINDOW,
    OPT_MAX_PAGES,
    OPT_SEED,
    OPT_HALF_LIFE,
    OPT_VERSION,
};

static const struct option long_opts[] = {
    {"api", required_argument, NULL, 'a'},
    {"channels", required_argument, NULL, 'c'},
    {"channels-file", required_argument, NULL, OPT_CHANNELS_FILE},
    {"db", required_argument, NULL, 'd'},
    {"observed-at", required_argument, NULL, OPT_OBSERVED_AT},
    {"jobs", required_argument, NULL, 'j'},
    {"top", required_argument, NULL, 'n'},
    {"format", required_argument, NULL, 'f'},
    {"output", required_argument, NULL, 'o'},
    {"timeout-ms", required_argument, NULL, OPT_TIMEOUT},
    {"connect-timeout-ms", required_argument, NULL, OPT_CONNECT_TIMEOUT},
    {"retries", required_argument, NULL, OPT_RETRIES},
    {"retry-budget", required_argument, NULL, OPT_RETRY_BUDGET},
    {"backoff-ms", required_argument, NULL, OPT_BACKOFF},
    {"backoff-max-ms", required_argument, NULL, OPT_BACKOFF_MAX},
    {"max-wait-ms", required_argument, NULL, OPT_MAX_WAIT},
    {"window", required_argument, NULL, OPT_WINDOW},
    {"max-pages", required_argument, NULL, OPT_MAX_PAGES},
    {"seed", required_argument, NULL, OPT_SEED},
    {"half-life", required_argument, NULL, OPT_HALF_LIFE},
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, OPT_VERSION},
    {NULL, 0, NULL, 0},
};

void
ca_config_usage(FILE *f)
{
    static const char *const text[] = {
        "NAME\n",
        "    clip-analyzer - find clips that are going viral\n",
        "\n",
        "SYNOPSIS\n",
        "    clip-analyzer --api URL (--channels ID,... | --channels-file FILE)\n",
        "                  --db PATH [OPTIONS]\n",
        "\n",
        "DESCRIPTION\n",
        "    Fetches the clips of the given channels from a Twitch Helix-compatible\n",
        "    API (or from a directory of the same JSON pages), records one view-count\n",
        "    observation per clip in its SQLite database, and ranks the clips by a\n",
        "    viral score: view velocity against the channel's own baseline, scaled by\n",
        "    channel size, trend and recency (see docs/scoring.md). Run it once per\n",
        "    observation time against the same --db to build view-count time series;\n",
        "    the score uses the last observations. Each run is monitored on the\n",
        "    clipbus bus (CLIPBUS_BUS, default \"default\"): watch it with\n",
        "    `clipbus tail` or clipbus-top.\n",
        "\n",
        "REQUIRED\n",
        "    --api URL            http://HOST[:PORT] or https://... (the API root;\n",
        "                         a trailing /helix is accepted), or file:///DIR for\n",
        "                         offline pages: DIR/clips/ID/page-0.json (or\n",
        "                         page-1.json), then the pagination cursors,\n",
        "                         DIR/users/ID.json, DIR/followers/ID.json.\n",
        "    -c, --channels LIST  broadcaster ids, comma-separated ([A-Za-z0-9_]).\n",
        "    --channels-file F    broadcaster ids, one per line; '#' starts a comment.\n",
        "    -d, --db PATH        the analyzer's SQLite database (created if absent).\n",
        "\n",
        "OPTIONS\n",
        "    --observed-at TIME   the observation time, ISO 8601 UTC\n",
        "                         (2024-05-01T12:00:00Z); default now. Set it when\n",
        "                         replaying recorded snapshots.\n",
        "    --window DUR         only clips created within DUR before the\n",
        "                         observation time: N[smhd], default 7d.\n",
        "    -j, --jobs N         channels fetched in parallel, 1-64 (default 4).\n",
        "    -n, --top K          rows in the ranking, 0 = all (default 20).\n",
        "    -f, --format F       table (default), csv or json.\n",
        "    -o, --output FILE    write the ranking to FILE instead of stdout.\n",
        "    --timeout-ms MS      total time per request, 1-600000 (default 10000).\n",
        "    --connect-timeout-ms MS  connect time per request (default 3000).\n",
        "    --retries N          retries per request after the first try, 0-100\n",
        "                         (default 4).\n",
        "    --retry-budget N     retries per channel, all requests together,\n",
        "                         0-100000 (default 30). When a request runs out of\n",
        "                         retries or its channel out of budget, the channel\n",
        "                         fails and the run goes on with the others.\n",
        "    --backoff-ms MS      first retry delay (default 250); it doubles per\n",
        "                         retry, half fixed and half random (jitter).\n",
        "    --backoff-max-ms MS  longest backoff step (default 8000).\n",
        "    --max-wait-ms MS     longest single wait for Retry-After or rate-limit\n",
        "                         pacing (default 30000).\n",
        "    --max-pages N        clip pages per channel at most (default 500).\n",
        "    --half-life H        recency half-life of the score in hours (default\n",
        "                         48).\n",
        "    --seed N             seed of the retry jitter (default: from the clock).\n",
        "    -h, --help           this text.  --version  the version.\n",
        "\n",
        "ENVIRONMENT\n",
        "    CLIP_API_TOKEN       bearer token sent as \"Authorization: Bearer ...\".\n",
        "    CLIP_API_CLIENT_ID   client id sent as \"Client-Id\".\n",
        "                         Neither is ever printed, logged or put on the bus.\n",
        "    CLIPBUS_BUS, CLIPBUS_DISABLE, ...  monitoring (see clipbus.h).\n",
        "\n",
        "FAILURES\n",
        "    Timeouts, HTTP 429 (honouring Retry-After), 5xx, and truncated or\n",
        "    invalid JSON are retried with exponential backoff; Ratelimit-Remaining\n",
        "    and Ratelimit-Reset slow the run down before the server refuses it.\n",
        "    Clips with absurd values (negative view counts, creation times in the\n",
        "    future) are skipped and reported. A 401/403 stops the run. The database\n",
        "    is written in one transaction per run: never half a run.\n",
        "\n",
        "EXIT STATUS\n",
        "    0  every channel fetched; ranking written\n",
        "    1  partial: some channels failed (listed on stderr); ranking of the rest\n",
        "    2  bad command line or environment\n",
        "    3  no data: every channel failed (server unreachable, ...)\n",
        "    4  the API refused the credentials (HTTP 401/403): check CLIP_API_TOKEN\n",
        "    5  the database could not be opened or written\n",
        "    6  internal error (out of memory, threads, writing the output)\n",
        "\n",
        "EXAMPLES\n",
        "    clip-analyzer --api http://127.0.0.1:8080 --channels 1001,1002 \\\n",
        "                  --db clips.db\n",
        "    for s in corpus/snap-*; do clip-analyzer --api file://$PWD/$s \\\n",
        "        --channels-file corpus/channels.txt --db clips.db --format json \\\n",
        "        --observed-at \"$(jq -r ...)\"; done\n",
    };
    for (size_t i = 0; i < sizeof text / sizeof text[0]; i++)
        fputs(text[i], f);
}

static int
fail(char *err, size_t errsz, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
fail(char *err, size_t errsz, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errsz, fmt, ap);
    va_end(ap);
    return -1;
}

/* Parses a whole decimal number in [lo, hi]. */
static int
parse_long(const char *s, long lo, long hi, long *out)
{
    if (s == NULL || *s == '\0')
        return -1;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

/* Numeric options: option code, name, range, and where the value goes. */
struct num_opt {
    int opt;
    const char *name;
    long lo, hi;
    size_t off;
    int is_int; /* int field, else long */
};

#define NUM_OPT(code, name, lo, hi, field, is_int)                             \
    {code, name, lo, hi, offsetof(struct ca_config, field), is_int}

static const struct num_opt num_opts[] = {
    NUM_OPT('j', "--jobs", 1, 64, jobs, 1),
    NUM_OPT('n', "--top", 0, 1000000, top, 1),
    NUM_OPT(OPT_TIMEOUT, "--timeout-ms", 1, 600000, timeout_ms, 0),
    NUM_OPT(OPT_CONNECT_TIMEOUT, "--connect-timeout-ms", 1, 600000,
            connect_timeout_ms, 0),
    NUM_OPT(OPT_RETRIES, "--retries", 0, 100, retries, 1),
    NUM_OPT(OPT_RETRY_BUDGET, "--retry-budget", 0, 100000, retry_budget, 1),
    NUM_OPT(OPT_BACKOFF, "--backoff-ms", 0, 600000, backoff_ms, 0),
    NUM_OPT(OPT_BACKOFF_MAX, "--backoff-max-ms", 0, 3600000, backoff_max_ms, 0),
    NUM_OPT(OPT_MAX_WAIT, "--max-wait-ms", 0, 3600000, max_wait_ms, 0),
    NUM_OPT(OPT_MAX_PAGES, "--max-pages", 1, 100000, max_pages, 1),
};

static void
set_defaults(struct ca_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->jobs = 4;
    cfg->top = 20;
    cfg->format = CA_FMT_TABLE;
    cfg->timeout_ms = 10000;
    cfg->connect_timeout_ms = 3000;
    cfg->retries = 4;
    cfg->retry_budget = 30;
    cfg->backoff_ms = 250;
    cfg->backoff_max_ms = 8000;
    cfg->max_wait_ms = 30000;
    cfg->window_s = 7 * 86400;
    cfg->max_pages = 500;
    cfg->half_life_h = 48;
    cfg->seed = (uint64_t)ca_now_s() ^ ((uint64_t)getpid() << 32);
}

/* Adds one channel id (trimmed of spaces); `where` names its source. */
static int
add_channel(struct ca_config *cfg, const char *id, size_t len,
            const char *where, char *err, size_t errsz)
{
    while (len > 0 && isspace((unsigned char)*id))
        id++, len--;
    while (len > 0 && isspace((unsigned char)id[len - 1]))
        len--;
    if (len == 0)
        return 0;
    char *s = strndup(id, len);
    if (s == NULL)
        return fail(err, errsz, "out of memory");
    if (!ca_broadcaster_id_ok(s)) {
        fail(err, errsz, "%s: channel id \"%.64s\" is not 1-64 of "
             "[A-Za-z0-9_]", where, s);
        free(s);
        return -1;
    }
    for (size_t i = 0; i < cfg->nchannels; i++)
        if (strcmp(cfg->channels[i], s) == 0) {
            free(s);
            return 0; /* listed twice: fetch once */
        }
    if (cfg->nchannels >= CA_MAX_CHANNELS) {
        free(s);
        return fail(err, errsz, "%s: more than %d channels", where,
                    CA_MAX_CHANNELS);
    }
    char **v = realloc(cfg->channels, (cfg->nchannels + 1) * sizeof *v);
    if (v == NULL) {
        free(s);
        return fail(err, errsz, "out of memory");
    }
    cfg->channels = v;
    cfg->channels[cfg->nchannels++] = s;
    return 0;
}

static int
parse_channel_list(struct ca_config *cfg, const char *list, char *err,
                   size_t errsz)
{
    const char *p = list;
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        if (add_channel(cfg, p, len, "--channels", err, errsz) != 0)
            return -1;
        if (comma == NULL)
            return 0;
        p = comma + 1;
    }
}

static int
parse_channel_file(struct ca_config *cfg, const char *path, char *err,
                   size_t errsz)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return fail(err, errsz, "--channels-file %s: %s", path,
                    strerror(errno));
    char line[512], where[600];
    int lineno = 0, rc = 0;
    while (rc == 0 && fgets(line, sizeof line, f) != NULL) {
        lineno++;
        snprintf(where, sizeof where, "%s:%d", path, lineno);
        if (strchr(line, '\n') == NULL && !feof(f)) {
            rc = fail(err, errsz, "%s: line too long", where);
            break;
        }
        char *hash = strchr(line, '#');
        if (hash != NULL)
            *hash = '\0';
        rc = add_channel(cfg, line, strlen(line), where, err, errsz);
    }
    if (rc == 0 && ferror(f))
        rc = fail(err, errsz, "--channels-file %s: read error", path);
    fclose(f);
    return rc;
}

static int
set_num(struct ca_config *cfg, int opt, const char *arg, char *err,
        size_t errsz)
{
    for (size_t i = 0; i < sizeof num_opts / sizeof num_opts[0]; i++) {
        const struct num_opt *o = &num_opts[i];
        if (o->opt != opt)
            continue;
        long v;
        if (parse_long(arg, o->lo, o->hi, &v) != 0)
            return fail(err, errsz, "%s \"%s\": expected a whole number in "
                        "%ld..%ld", o->name, arg, o->lo, o->hi);
        char *field = (char *)cfg + o->off;
        if (o->is_int)
            *(int *)(void *)field = (int)v;
        else
            *(long *)(void *)field = v;
        return 0;
    }
    return 1; /* not a numeric option */
}

/* Handles one option that is not numeric. */
static int
set_other(struct ca_config *cfg, int opt, const char *arg, char *err,
          size_t errsz)
{
    switch (opt) {
    case 'a':
        if (ca_api_kind(arg) < 0)
            return fail(err, errsz, "--api \"%s\": expected http://HOST[:PORT]"
                        ", https://... or file:///DIR", arg);
        cfg->api = arg;
        return 0;
    case 'c':
        return parse_channel_list(cfg, arg, err, errsz);
    case OPT_CHANNELS_FILE:
        return parse_channel_file(cfg, arg, err, errsz);
    case 'd':
        if (*arg == '\0')
            return fail(err, errsz, "--db: empty path");
        cfg->db = arg;
        return 0;
    case 'o':
        cfg->output = arg;
        return 0;
    case 'f':
        if (ca_format_parse(arg, &cfg->format) != 0)
            return fail(err, errsz, "--format \"%s\": expected table, csv or "
                        "json", arg);
        return 0;
    case OPT_OBSERVED_AT:
        if (ca_time_parse(arg, &cfg->observed_at) != 0)
            return fail(err, errsz, "--observed-at \"%s\": expected an ISO "
                        "8601 time such as 2024-05-01T12:00:00Z", arg);
        cfg->observed_at_given = 1;
        return 0;
    case OPT_WINDOW:
        if (ca_duration_parse(arg, &cfg->window_s) != 0)
            return fail(err, errsz, "--window \"%s\": expected N[smhd] such "
                        "as 24h, at most 10 years", arg);
        return 0;
    case OPT_SEED: {
        char *end;
        errno = 0;
        cfg->seed = strtoull(arg, &end, 0);
        if (errno != 0 || *end != '\0' || *arg == '-' || *arg == '\0')
            return fail(err, errsz, "--seed \"%s\": expected a number", arg);
        return 0;
    }
    case OPT_HALF_LIFE: {
        char *end;
        errno = 0;
        cfg->half_life_h = strtod(arg, &end);
        if (errno != 0 || *end != '\0' || !(cfg->half_life_h >= 0.1) ||
            cfg->half_life_h > 100000)
            return fail(err, errsz, "--half-life \"%s\": expected hours, "
                        "0.1..100000", arg);
        return 0;
    }
    default:
        return fail(err, errsz, "unknown option (try --help)");
    }
}

/* Checks what no single option can: required options, relations. */
static int
check_whole(struct ca_config *cfg, char *err, size_t errsz)
{
    if (cfg->api == NULL)
        return fail(err, errsz, "--api is required (try --help)");
    if (cfg->nchannels == 0)
        return fail(err, errsz, "no channels: give --channels or "
                    "--channels-file (try --help)");
    if (cfg->db == NULL)
        return fail(err, errsz, "--db is required (try --help)");
    if (cfg->backoff_max_ms < cfg->backoff_ms)
        return fail(err, errsz, "--backoff-max-ms %ld is below --backoff-ms "
                    "%ld", cfg->backoff_max_ms, cfg->backoff_ms);
    if (!cfg->observed_at_given)
        cfg->observed_at = ca_now_s();
    cfg->token = getenv("CLIP_API_TOKEN");
    cfg->client_id = getenv("CLIP_API_CLIENT_ID");
    if ((cfg->token && strpbrk(cfg->token, "\r\n")) ||
        (cfg->client_id && strpbrk(cfg->client_id, "\r\n")))
        return fail(err, errsz, "CLIP_API_TOKEN or CLIP_API_CLIENT_ID "
                    "contains a line break");
    return 0;
}

int
ca_config_parse(int argc, char **argv, struct ca_config *cfg, char *err,
                size_t errsz)
{
    set_defaults(cfg);
    opterr = 0;
    optind = 1;
    int opt;
    while ((opt = getopt_long(argc, argv, ":a:c:d:j:n:f:o:h", long_opts,
                              NULL)) != -1) {
        if (opt == 'h') {
            cfg->help = 1;
            return 0;
        }
        if (opt == OPT_VERSION) {
            cfg->version = 1;
            return 0;
        }
        if (opt == '?')
            return fail(err, errsz, "unknown option %s (try --help)",
                        argv[optind - 1]);
        if (opt == ':')
            return fail(err, errsz, "option %s needs a value",
                        argv[optind - 1]);
        int r = set_num(cfg, opt, optarg, err, errsz);
        if (r == 1)
            r = set_other(cfg, opt, optarg, err, errsz);
        if (r != 0)
            return -1;
    }
    if (optind < argc)
        return fail(err, errsz, "unexpected argument \"%s\" (try --help)",
                    argv[optind]);
    return check_whole(cfg, err, errsz);
}

void
ca_config_fini(struct ca_config *cfg)
{
    for (size_t i = 0; i < cfg->nchannels; i++)
        free(cfg->channels[i]);
    free(cfg->channels);
    cfg->channels = NULL;
    cfg->nchannels = 0;
}
