/*
 * guard.c -- surviving a segment that shrinks under a reader.
 *
 * A reader maps a producer's segment read-only after checking its size.
 * If the file is later truncated (a buggy or hostile process of the same
 * user), touching a page past the new end raises SIGBUS in the reader.
 * Reader calls that touch a mapping run under a per-thread guard
 * (CB_GUARD in reader_int.h): a sigsetjmp point the SIGBUS handler jumps
 * back to. The call then marks the segment faulted and fails with
 * CB_EBADSEG, and every later call on that segment fails at once.
 *
 * The handler is installed once, at the first attach, with SA_NODEFER:
 * the jump leaves the handler without sigreturn, and with the signal not
 * blocked during the handler, SIGBUS is not left blocked afterwards. A
 * SIGBUS outside any guarded call is not ours: the handler restores the
 * disposition it replaced and returns, so the faulting instruction runs
 * again under the old handler (or the default, which ends the process).
 */
#include <pthread.h>
#include <signal.h>
#include <string.h>

#include "cb_atomic.h"
#include "reader_int.h"

__thread sigjmp_buf *cb__guard_env __attribute__((tls_model("initial-exec")));

static struct sigaction old_action;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void
on_sigbus(int sig, siginfo_t *si, void *uc)
{
    (void)si;
    (void)uc;
    if (cb__guard_env != NULL)
        siglongjmp(*cb__guard_env, 1);
    sigaction(sig, &old_action, NULL);
}

static void
install(void)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_sigbus;
    sa.sa_flags = SA_SIGINFO | SA_NODEFER | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGBUS, &sa, &old_action);
}

void
cb__guard_install(void)
{
    pthread_once(&once, install);
}

void
cb__seg_fault(const struct cb_segment *seg)
{
    /* The flag is advisory state, not data: a relaxed store suffices. The
     * cast is the one place the reader writes its segment handle through
     * a const view; the mapping itself stays read-only. */
    cb_store_u32((uint32_t *)&seg->faulted, 1, CB_RELAXED);
}

int
cb_segment_faulted(const struct cb_segment *seg)
{
    return cb_load_u32(&seg->faulted, CB_RELAXED) != 0;
}
