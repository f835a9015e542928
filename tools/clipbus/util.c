/*
 * util.c -- option and shm-name helpers of the clipbus tool.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <clipbus/reader.h>

#include "cli.h"

const char *
cli_bus(const char *cmd, const char *opt_bus)
{
    int err = 0;
    const char *name;

    if (opt_bus != NULL && opt_bus[0] == '\0') {
        fprintf(stderr, "clipbus %s: --bus: empty bus name\n", cmd);
        return NULL;
    }
    name = cb_bus_name_resolve(opt_bus, &err);
    if (name == NULL) {
        const char *given = opt_bus;
        if (given == NULL)
            given = getenv("CLIPBUS_BUS"); /* NOLINT(concurrency-mt-unsafe) */
        fprintf(stderr,
                "clipbus %s: bus name '%s' (from %s) is invalid: use 1 to %u "
                "of A-Z a-z 0-9 _ -\n",
                cmd, given ? given : "", opt_bus ? "--bus" : "CLIPBUS_BUS",
                CB_BUS_NAME_MAX);
    }
    return name;
}

int
cli_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
    char *end;
    unsigned long long v;

    if (s == NULL || *s < '0' || *s > '9')
        return -1;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

int
cli_usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "clipbus %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "; see 'clipbus %s --help'\n", cmd);
    return CLI_USAGE;
}

/* Points at the part after the prefix of a clipbus shm name, or NULL. */
static const char *
shm_rest(const char *shm_name)
{
    if (shm_name[0] == '/')
        shm_name++;
    if (strncmp(shm_name, "clipbus.", 8) == 0)
        return shm_name + 8;
    if (strncmp(shm_name, "clipbus-r.", 10) == 0)
        return shm_name + 10;
    return NULL;
}

char *
cli_shm_bus(const char *shm_name, char *buf, size_t len)
{
    const char *p = shm_rest(shm_name), *dot = p ? strchr(p, '.') : NULL;

    if (dot == NULL || (size_t)(dot - p) >= len)
        snprintf(buf, len, "?");
    else
        snprintf(buf, len, "%.*s", (int)(dot - p), p);
    return buf;
}

uint32_t
cli_shm_pid(const char *shm_name)
{
    const char *p = shm_rest(shm_name), *dot = p ? strchr(p, '.') : NULL;
    unsigned long v;
    char *end;

    if (dot == NULL || dot[1] < '0' || dot[1] > '9')
        return 0;
    v = strtoul(dot + 1, &end, 10);
    if ((*end != '\0' && *end != '.') || v > UINT32_MAX)
        return 0;
    return (uint32_t)v;
}

int
cli_shm_stat(const char *shm_name, uint32_t *uid, uint64_t *ino)
{
    struct stat st;
    int fd = shm_open(shm_name, O_RDONLY | O_CLOEXEC, 0);

    if (fd < 0)
        return -errno;
    if (fstat(fd, &st) != 0) {
        int err = -errno;
        close(fd);
        return err;
    }
    close(fd);
    *uid = (uint32_t)st.st_uid;
    *ino = (uint64_t)st.st_ino;
    return 0;
}

int
cli_shm_magic_unset(const char *shm_name)
{
    uint64_t magic = 1;
    int fd = shm_open(shm_name, O_RDONLY | O_CLOEXEC, 0);

    if (fd < 0)
        return 0;
    if (pread(fd, &magic, sizeof magic, 0) != (ssize_t)sizeof magic)
        magic = 1;
    close(fd);
    return magic == 0;
}

uint64_t
cli_real_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}
