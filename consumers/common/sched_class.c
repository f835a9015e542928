/*
 * sched_class.c -- a consumer's CPU scheduling class (sched_class.h).
 */
#include <dirent.h>
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "sched_class.h"

static const char *const names[] = {"idle", "batch", "normal"};
static const int policies[] = {SCHED_IDLE, SCHED_BATCH, SCHED_OTHER};

/* "idle", "batch", "normal"; NULL for anything else. */
static const char *
sched_name(int sched)
{
    return sched >= 0 && sched <= CBC_SCHED_NORMAL ? names[sched] : NULL;
}

int
cbc_sched_parse(const char *text)
{
    for (int i = 0; i <= CBC_SCHED_NORMAL; i++)
        if (text != NULL && strcmp(text, names[i]) == 0)
            return i;
    return -1;
}

int
cbc_sched_resolve(const char *prog, int cli, int config)
{
    const char *env;
    int v;

    if (cli >= 0)
        return cli;
    env = getenv(CBC_SCHED_ENV); /* NOLINT(concurrency-mt-unsafe) */
    if (env == NULL || env[0] == '\0')
        return config;
    v = cbc_sched_parse(env);
    if (v < 0)
        fprintf(stderr, "%s: %s: '%s' is not idle, batch or normal\n", prog,
                CBC_SCHED_ENV, env);
    return v;
}

/* One thread (tid 0: the caller). */
static int
set_one(pid_t tid, int policy)
{
    struct sched_param sp = {.sched_priority = 0};
    return sched_setscheduler(tid, policy, &sp);
}

int
cbc_sched_apply(const char *prog, int sched)
{
    const char *name = sched_name(sched);
    DIR *d;
    struct dirent *e;
    int err = 0;

    if (name == NULL) {
        fprintf(stderr, "%s: unknown scheduling class %d\n", prog, sched);
        return -1;
    }
    /* sched_setscheduler acts on one thread: the caller first (enough
     * when, as usual, no other thread exists yet), then any other. */
    if (set_one(0, policies[sched]) != 0)
        err = errno;
    d = opendir("/proc/self/task");
    while (err == 0 && d != NULL && (e = readdir(d)) != NULL) {
        pid_t tid = (pid_t)atoi(e->d_name);
        if (tid > 0 && set_one(tid, policies[sched]) != 0 && errno != ESRCH)
            err = errno;
    }
    if (d != NULL)
        closedir(d);
    if (err != 0) {
        /* Leaving SCHED_IDLE for a higher class may need CAP_SYS_NICE or
         * RLIMIT_NICE room. */
        fprintf(stderr, "%s: cannot run as scheduling class '%s': %s; "
                        "running on in the current one\n",
                prog, name, strerror(err));
        return -1;
    }
    return 0;
}
