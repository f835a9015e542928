/*
 * config.c -- loading a configuration file: read, parse (jansson, with
 * duplicate keys rejected), validate and decode against the schema, dump
 * the effective configuration. No RCU here: config_live.c publishes.
 *
 * The file is input like any other: it may be missing, a directory, a
 * FIFO (opened non-blocking so we never hang), huge, empty or not JSON.
 * Each case is one line naming the file and what to do.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "config.h"
#include "config_schema.h"

#define MAX_FILE_BYTES (1u << 20)

void
cbc_config_errors_fini(struct cbc_config_errors *e)
{
    if (e == NULL)
        return;
    free(e->text);
    e->text = NULL;
    e->count = 0;
}

/* Sets errs to the single line "<prefix>: <msg>\n". */
static void
one_error(struct cbc_config_errors *errs, const char *prefix, const char *msg)
{
    if (errs == NULL)
        return;
    size_t n = strlen(prefix) + strlen(msg) + 4;
    errs->count = 1;
    errs->text = malloc(n);
    if (errs->text != NULL)
        snprintf(errs->text, n, "%s: %s\n", prefix, msg);
}

int
cbc_config_parse(const char *text, size_t len, const char *name,
                 struct cbc_config **out, struct cbc_config_errors *errs)
{
    json_error_t je;
    json_t *root;
    const char *label = name ? name : "<config>";
    *out = NULL;
    /* Req 6.5: a duplicate key is an error, not "the last one wins". */
    root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    if (root == NULL) {
        char where[64];
        snprintf(where, sizeof where, ":%d:%d", je.line, je.column);
        char *prefix = malloc(strlen(label) + sizeof where);
        if (prefix == NULL)
            return -ENOMEM;
        sprintf(prefix, "%s%s", label, je.line > 0 ? where : "");
        one_error(errs, prefix, je.text);
        free(prefix);
        return -EINVAL;
    }
    struct cbc__arena *a = cbc__arena_create();
    struct cbc_config *cfg = a ? cbc__arena_alloc(a, sizeof *cfg) : NULL;
    if (cfg == NULL) {
        json_decref(root);
        cbc__arena_destroy(a);
        return -ENOMEM;
    }
    char *etext = NULL;
    size_t keys = 0;
    size_t n = cbc__decode(&cbc__root_table, root, cfg, a, label, &etext,
                           &keys);
    json_decref(root);
    if (n > 0) {
        cbc__arena_destroy(a);
        if (errs != NULL) {
            errs->count = n;
            errs->text = etext;
        } else {
            free(etext);
        }
        return -EINVAL;
    }
    cfg->keys_set = keys;
    cfg->arena_ = a;
    cfg->source = name ? cbc__arena_strdup(a, name) : NULL;
    if (name != NULL && cfg->source == NULL) {
        cbc__arena_destroy(a);
        return -ENOMEM;
    }
    *out = cfg;
    return 0;
}

/* Reads the whole regular file at path into a malloc'ed buffer. Returns
 * 0 or -errno, with one error line in errs on failure. */
static int
read_file(const char *path, char **buf, size_t *len,
          struct cbc_config_errors *errs)
{
    char msg[256];
    struct stat st;
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    int rc = 0;
    if (fd < 0) {
        rc = -errno;
        snprintf(msg, sizeof msg, "cannot open: %s; check the path given "
                                  "with --config or " CBC_CONFIG_ENV,
                 strerror(-rc));
    } else if (fstat(fd, &st) != 0) {
        rc = -errno;
        snprintf(msg, sizeof msg, "cannot stat: %s", strerror(-rc));
    } else if (!S_ISREG(st.st_mode)) {
        rc = S_ISDIR(st.st_mode) ? -EISDIR : -EINVAL;
        snprintf(msg, sizeof msg, "is not a regular file (%s)",
                 S_ISDIR(st.st_mode) ? "a directory" : "a device or FIFO");
    } else if (st.st_size > (off_t)MAX_FILE_BYTES) {
        rc = -EFBIG;
        snprintf(msg, sizeof msg, "is %lld bytes; a configuration file is "
                                  "at most 1 MiB",
                 (long long)st.st_size);
    } else if ((*buf = malloc((size_t)st.st_size + 1)) == NULL) {
        rc = -ENOMEM;
        snprintf(msg, sizeof msg, "out of memory");
    } else {
        /* Read up to the limit + 1 so a file that grew since fstat is
         * caught rather than cut. */
        ssize_t n;
        size_t got = 0, cap = (size_t)st.st_size + 1;
        while (got < cap && (n = read(fd, *buf + got, cap - got)) != 0) {
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0) {
                rc = -errno;
                snprintf(msg, sizeof msg, "cannot read: %s", strerror(-rc));
                break;
            }
            got += (size_t)n;
        }
        if (rc == 0 && got == cap) {
            rc = -EAGAIN;
            snprintf(msg, sizeof msg, "changed while being read; retry");
        }
        if (rc != 0) {
            free(*buf);
            *buf = NULL;
        }
        *len = got;
    }
    if (fd >= 0)
        close(fd);
    if (rc != 0)
        one_error(errs, path, msg);
    return rc;
}

int
cbc_config_load(const char *path, struct cbc_config **out,
                struct cbc_config_errors *errs)
{
    char *buf = NULL;
    size_t len = 0;
    *out = NULL;
    if (path == NULL)
        return cbc_config_parse("{}", 2, NULL, out, errs);
    int rc = read_file(path, &buf, &len, errs);
    if (rc != 0)
        return rc;
    if (len == 0) {
        free(buf);
        one_error(errs, path,
                  "is empty; write {} to run on the built-in defaults");
        return -EINVAL;
    }
    rc = cbc_config_parse(buf, len, path, out, errs);
    free(buf);
    return rc;
}

void
cbc_config_free(struct cbc_config *cfg)
{
    /* The config itself lives in its arena. */
    if (cfg != NULL)
        cbc__arena_destroy(cfg->arena_);
}

char *
cbc_config_dump(const struct cbc_config *cfg)
{
    json_t *j = cbc__encode(&cbc__root_table, cfg);
    char *s = j ? json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS) : NULL;
    json_decref(j);
    if (s == NULL)
        return NULL;
    size_t n = strlen(s);
    char *t = realloc(s, n + 2);
    if (t == NULL) {
        free(s);
        return NULL;
    }
    t[n] = '\n';
    t[n + 1] = '\0';
    return t;
}

const char *
cbc_config_path(const char *opt_path)
{
    if (opt_path != NULL)
        return opt_path;
    /* Read once at start-up by the main thread, before other threads. */
    const char *env = getenv(CBC_CONFIG_ENV); /* NOLINT(concurrency-mt-unsafe) */
    return env != NULL && *env != '\0' ? env : NULL;
}
