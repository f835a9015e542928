/*
 * waitset.c -- see waitset.h.
 */
#include "waitset.h"

#include <errno.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <unistd.h>

int
cbc_waitset_open(int inotify_fd, int stop_fd)
{
    struct epoll_event ev = {.events = EPOLLIN};
    int ep;

    if (inotify_fd < 0 || stop_fd < 0)
        return inotify_fd;
    ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0)
        return inotify_fd;
    ev.data.fd = inotify_fd;
    if (epoll_ctl(ep, EPOLL_CTL_ADD, inotify_fd, &ev) == 0) {
        ev.data.fd = stop_fd;
        if (epoll_ctl(ep, EPOLL_CTL_ADD, stop_fd, &ev) == 0)
            return ep;
    }
    close(ep);
    return inotify_fd;
}

void
cbc_waitset_kick(int stop_fd)
{
    uint64_t one = 1;
    int saved = errno;

    if (stop_fd >= 0) {
        ssize_t w = write(stop_fd, &one, sizeof one);
        (void)w; /* EAGAIN: already readable */
    }
    errno = saved;
}
