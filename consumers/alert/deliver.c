/*
 * deliver.c -- one delivery thread per channel (Req 4.4, 4.5).
 *
 * Each thread owns its channel's queue in the outbox: it takes the oldest
 * row, sends it, and deletes it only once the receiver accepted it (HTTP
 * 2xx, SMTP 250, the line fsync'd and the command exiting 0). On failure
 * the row stays at the head (in order per channel), and the thread waits
 * backoff x 2^attempts (capped at max_backoff, +-25% jitter) or longer if
 * the receiver said so (429/503 with Retry-After) before it tries again.
 * Threads share nothing but the database file, so a failing or slow
 * channel never delays another one, nor the evaluation (the worker only
 * inserts rows and signals).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "alert.h"

struct chan {
    struct cba_deliver *d;
    const struct cbc_alert_channel *ch;
    pthread_t thr;
    int started;
    uint64_t rng;
};

struct cba_deliver {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int stop;
    uint64_t kicks;
    const struct cbc_alert_config *cfg;
    char *dir;
    size_t n;
    struct chan *c;
};

static uint64_t
mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* An empty outbox is looked at again after this long even without a kick
 * (only this process queues notifications, and it kicks after each
 * commit: this is a safety net, not the way deliveries start). */
#define IDLE_RECHECK_NS (60ull * 1000000000u)

/* The kick count now: a kick after this reading ends wait_until(..., k0). */
static uint64_t
kicks_now(struct cba_deliver *d)
{
    pthread_mutex_lock(&d->mu);
    uint64_t k = d->kicks;
    pthread_mutex_unlock(&d->mu);
    return k;
}

/* Waits until the deadline (monotonic ns), a stop, or (if kick) a kick
 * after the count k0. Returns 1 when stopping. */
static int
wait_until(struct cba_deliver *d, uint64_t deadline, int kick, uint64_t k0)
{
    pthread_mutex_lock(&d->mu);
    while (!d->stop && (!kick || d->kicks == k0)) {
        uint64_t now = mono_ns();
        if (now >= deadline)
            break;
        struct timespec ts = {.tv_sec = (time_t)(deadline / 1000000000u),
                              .tv_nsec = (long)(deadline % 1000000000u)};
        pthread_cond_timedwait(&d->cv, &d->mu, &ts);
    }
    int stop = d->stop;
    pthread_mutex_unlock(&d->mu);
    return stop;
}

/* ---- webhook and email (libcurl) ---------------------------------------- */

struct hdr {
    uint64_t retry_after_ns;
};

static size_t
on_header(char *buf, size_t size, size_t n, void *arg)
{
    struct hdr *h = arg;
    size_t len = size * n;
    if (len > 12 && strncasecmp(buf, "Retry-After:", 12) == 0) {
        char v[128];
        size_t k = len - 12 < sizeof v - 1 ? len - 12 : sizeof v - 1;
        memcpy(v, buf + 12, k);
        v[k] = '\0';
        char *end;
        long s = strtol(v, &end, 10);
        if (end != v && s >= 0) {
            h->retry_after_ns = (uint64_t)s * 1000000000u;
        } else { /* an HTTP date */
            time_t t = curl_getdate(v, NULL);
            time_t now = time(NULL);
            if (t > now)
                h->retry_after_ns = (uint64_t)(t - now) * 1000000000u;
        }
    }
    return len;
}

static size_t
discard(char *buf, size_t size, size_t n, void *arg)
{
    (void)buf;
    (void)arg;
    return size * n;
}

struct upload {
    const char *p;
    size_t left;
};

static size_t
on_read(char *buf, size_t size, size_t n, void *arg)
{
    struct upload *u = arg;
    size_t k = size * n < u->left ? size * n : u->left;
    memcpy(buf, u->p, k);
    u->p += k;
    u->left -= k;
    return k;
}

static void
common_opts(CURL *h, const struct cbc_alert_channel *ch)
{
    long ms = (long)(ch->timeout_ns / 1000000u);
    curl_easy_setopt(h, CURLOPT_URL, ch->url);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, ms);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, ms);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, ch->tls_verify ? 1L : 0L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, ch->tls_verify ? 2L : 0L);
    if (ch->username) {
        curl_easy_setopt(h, CURLOPT_USERNAME, ch->username);
        curl_easy_setopt(h, CURLOPT_PASSWORD,
                         ch->password ? ch->password : "");
    }
}

/* Returns 0 delivered, else -1 with err and *retry_after_ns. */
static int
send_webhook(const struct cbc_alert_channel *ch, const char *body, char *err,
             size_t len, uint64_t *retry_after_ns)
{
    CURL *h = curl_easy_init();
    struct curl_slist *hs = NULL;
    struct hdr hd = {0};
    char auth[4200];
    if (h == NULL) {
        snprintf(err, len, "curl_easy_init failed");
        return -1;
    }
    hs = curl_slist_append(hs, "Content-Type: application/json");
    hs = curl_slist_append(hs, "Expect:");
    if (ch->bearer_token) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s",
                 ch->bearer_token);
        hs = curl_slist_append(hs, auth);
    }
    common_opts(h, ch);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hs);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    curl_easy_setopt(h, CURLOPT_USERAGENT, "clipbus-alert");
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &hd);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
    CURLcode rc = curl_easy_perform(h);
    long code = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
    curl_easy_cleanup(h);
    curl_slist_free_all(hs);
    /* HTTP 500 is CURLE_OK: the status decides (DEPENDENCIES.md). */
    if (rc == CURLE_OK && code >= 200 && code < 300)
        return 0;
    if (rc != CURLE_OK)
        snprintf(err, len, "%s", curl_easy_strerror(rc));
    else
        snprintf(err, len, "HTTP %ld", code);
    if (code == 429 || code == 503)
        *retry_after_ns = hd.retry_after_ns;
    return -1;
}

/* The SMTP envelope address of a header-style one: "Ops <ops@x.org>"
 * and "<ops@x.org>" give "<ops@x.org>", "ops@x.org" is bracketed. */
static void
envelope_addr(char *buf, size_t len, const char *a)
{
    const char *lt = strrchr(a, '<');
    const char *gt = lt ? strchr(lt, '>') : NULL;
    if (lt && gt)
        snprintf(buf, len, "%.*s", (int)(gt - lt + 1), lt);
    else
        snprintf(buf, len, "<%s>", a);
}

static int
send_email(const struct cbc_alert_channel *ch, const char *msg, char *err,
           size_t len)
{
    CURL *h = curl_easy_init();
    struct curl_slist *rcpt = NULL;
    char from[400];
    struct upload u = {msg, strlen(msg)};
    if (h == NULL) {
        snprintf(err, len, "curl_easy_init failed");
        return -1;
    }
    envelope_addr(from, sizeof from, ch->from);
    for (size_t i = 0; i < ch->n_to; i++) {
        char to[400];
        envelope_addr(to, sizeof to, ch->to[i]);
        rcpt = curl_slist_append(rcpt, to);
    }
    common_opts(h, ch);
    curl_easy_setopt(h, CURLOPT_MAIL_FROM, from);
    curl_easy_setopt(h, CURLOPT_MAIL_RCPT, rcpt);
    curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read);
    curl_easy_setopt(h, CURLOPT_READDATA, &u);
    curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
    if (ch->starttls)
        curl_easy_setopt(h, CURLOPT_USE_SSL, (long)CURLUSESSL_ALL);
    CURLcode rc = curl_easy_perform(h);
    long code = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
    curl_easy_cleanup(h);
    curl_slist_free_all(rcpt);
    if (rc == CURLE_OK && code >= 200 && code < 300)
        return 0;
    if (rc != CURLE_OK)
        snprintf(err, len, "%s (SMTP %ld)", curl_easy_strerror(rc), code);
    else
        snprintf(err, len, "SMTP %ld", code);
    return -1;
}

/* ---- file and command --------------------------------------------------- */

static int
run_command(const struct cbc_alert_channel *ch, const char *body, char *err,
            size_t len)
{
    int fds[2];
    if (pipe(fds) != 0) {
        snprintf(err, len, "pipe: %s", strerror(errno));
        return -1;
    }
    char **argv = calloc(ch->n_command + 1, sizeof *argv);
    if (argv == NULL) {
        close(fds[0]);
        close(fds[1]);
        snprintf(err, len, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < ch->n_command; i++)
        argv[i] = (char *)ch->command[i];
    pid_t pid = fork();
    if (pid == 0) { /* argv exec, no shell: the body is data, never code */
        dup2(fds[0], 0);
        close(fds[0]);
        close(fds[1]);
        execvp(argv[0], argv);
        _exit(127);
    }
    free(argv);
    close(fds[0]);
    if (pid < 0) {
        close(fds[1]);
        snprintf(err, len, "fork: %s", strerror(errno));
        return -1;
    }
    signal(SIGPIPE, SIG_IGN);
    size_t n = strlen(body);
    ssize_t w = write(fds[1], body, n);
    (void)w; /* a command that ignores its stdin is fine */
    close(fds[1]);
    uint64_t deadline = mono_ns() + ch->timeout_ns;
    int status = 0;
    while (waitpid(pid, &status, WNOHANG) == 0) {
        if (mono_ns() > deadline) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            snprintf(err, len, "command %s timed out", ch->command[0]);
            return -1;
        }
        poll(NULL, 0, 10);
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return 0;
    snprintf(err, len, "command %s exited with %d", ch->command[0],
             WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
    return -1;
}

static int
send_file(const struct cbc_alert_channel *ch, const char *body, char *err,
          size_t len)
{
    int fd = open(ch->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        snprintf(err, len, "%s: %s", ch->path, strerror(errno));
        return -1;
    }
    size_t n = strlen(body);
    char *line = malloc(n + 2);
    if (line == NULL) {
        close(fd);
        snprintf(err, len, "out of memory");
        return -1;
    }
    memcpy(line, body, n);
    line[n] = '\n';
    /* One write per line: appends of whole lines never interleave. */
    ssize_t w = write(fd, line, n + 1);
    free(line);
    if (w != (ssize_t)(n + 1) || fsync(fd) != 0) {
        snprintf(err, len, "%s: %s", ch->path,
                 w < 0 ? strerror(errno) : "short write");
        close(fd);
        return -1;
    }
    close(fd);
    return ch->n_command ? run_command(ch, body, err, len) : 0;
}

/* ---- the thread --------------------------------------------------------- */

static uint64_t
next_rand(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Req 4.5: exponential backoff with +-25% jitter. */
static uint64_t
backoff(struct chan *c, int64_t attempts)
{
    const struct cbc_alert_channel *ch = c->ch;
    uint64_t d = ch->backoff_ns;
    for (int64_t i = 1; i < attempts && d < ch->max_backoff_ns; i++)
        d *= 2;
    if (d > ch->max_backoff_ns)
        d = ch->max_backoff_ns;
    uint64_t j = d / 2 ? next_rand(&c->rng) % (d / 2) : 0;
    return d - d / 4 + j;
}

static void *
chan_main(void *arg)
{
    struct chan *c = arg;
    struct cba_deliver *d = c->d;
    const struct cbc_alert_channel *ch = c->ch;
    sqlite3 *db = NULL;
    char err[512], name[16];

    /* "cb-ch-<channel>", cut to the kernel's 15 characters. */
    snprintf(name, sizeof name, "cb-ch-%s", ch->name);
    pthread_setname_np(pthread_self(), name);
    if (cba_db_open(d->dir, &db, err, sizeof err) != 0) {
        fprintf(stderr, "clipbus-alert: channel %s: %s\n", ch->name, err);
        return NULL;
    }
    while (!__atomic_load_n(&d->stop, __ATOMIC_ACQUIRE)) {
        struct cba_row r;
        /* Read before the outbox is: a notification queued after the
         * query kicks past k0, so an empty outbox can wait for the kick
         * (a minute at most) instead of asking SQLite every second. */
        uint64_t k0 = kicks_now(d);
        int got = cba_outbox_head(db, ch->name, &r);
        if (got <= 0) {
            if (wait_until(d, mono_ns() + IDLE_RECHECK_NS, 1, k0))
                break;
            continue;
        }
        uint64_t now = cba_now_ns();
        if (now - r.created_ns > ch->give_up_ns) {
            fprintf(stderr, "clipbus-alert: channel %s: dropping "
                            "notification %" PRId64 " after %" PRId64
                            " attempts (older than give_up)\n",
                    ch->name, r.id, r.attempts);
            cba_outbox_done(db, r.id);
            cba_channel_note(db, ch->name, 0, 1, "given up", now);
            cba_row_fini(&r);
            continue;
        }
        uint64_t retry_after = 0;
        int rc;
        err[0] = '\0';
        if (ch->type == CBC_ACH_WEBHOOK)
            rc = send_webhook(ch, r.body, err, sizeof err, &retry_after);
        else if (ch->type == CBC_ACH_EMAIL)
            rc = send_email(ch, r.body, err, sizeof err);
        else
            rc = send_file(ch, r.body, err, sizeof err);
        now = cba_now_ns();
        if (rc == 0) {
            cba_outbox_done(db, r.id);
            cba_channel_note(db, ch->name, 1, 0, NULL, now);
            cba_row_fini(&r);
            continue;
        }
        cba_outbox_failed(db, r.id, err);
        cba_channel_note(db, ch->name, 0, 0, err, now);
        uint64_t delay = backoff(c, r.attempts + 1);
        if (retry_after > delay) /* the receiver's word wins */
            delay = retry_after;
        fprintf(stderr, "clipbus-alert: channel %s: notification %" PRId64
                        " attempt %" PRId64 " failed: %s; retry in %.1fs\n",
                ch->name, r.id, r.attempts + 1, err, (double)delay / 1e9);
        cba_row_fini(&r);
        if (wait_until(d, mono_ns() + delay, 0, 0))
            break;
    }
    sqlite3_close(db);
    return NULL;
}

struct cba_deliver *
cba_deliver_start(const struct cbc_alert_config *cfg, const char *dir)
{
    struct cba_deliver *d = calloc(1, sizeof *d);
    if (d == NULL)
        return NULL;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&d->cv, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&d->mu, NULL);
    d->cfg = cfg;
    d->dir = strdup(dir);
    d->n = cfg->n_channels;
    d->c = calloc(d->n + 1, sizeof *d->c);
    if (d->dir == NULL || d->c == NULL) {
        cba_deliver_stop(d);
        return NULL;
    }
    for (size_t i = 0; i < d->n; i++) {
        d->c[i].d = d;
        d->c[i].ch = &cfg->channels[i];
        d->c[i].rng = mono_ns() ^ (i * 0x9e3779b97f4a7c15ull);
        d->c[i].started =
            pthread_create(&d->c[i].thr, NULL, chan_main, &d->c[i]) == 0;
    }
    return d;
}

void
cba_deliver_kick(struct cba_deliver *d)
{
    pthread_mutex_lock(&d->mu);
    d->kicks++;
    pthread_cond_broadcast(&d->cv);
    pthread_mutex_unlock(&d->mu);
}

void
cba_deliver_stop(struct cba_deliver *d)
{
    if (d == NULL)
        return;
    pthread_mutex_lock(&d->mu);
    d->stop = 1;
    pthread_cond_broadcast(&d->cv);
    pthread_mutex_unlock(&d->mu);
    for (size_t i = 0; d->c && i < d->n; i++)
        if (d->c[i].started)
            pthread_join(d->c[i].thr, NULL);
    pthread_cond_destroy(&d->cv);
    pthread_mutex_destroy(&d->mu);
    free(d->c);
    free(d->dir);
    free(d);
}
