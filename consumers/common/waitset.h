/*
 * waitset.h -- the descriptor a reader sleeps on in cb_bus_wait_fd():
 * readable when a segment appears in the shm directory (inotify) or when
 * the program is asked to stop (an eventfd a signal handler writes). With
 * both in one set, a stop ends a wait at once, however long the wait, and
 * a reader with no live producer can sleep a whole second or more.
 */
#ifndef CBC_WAITSET_H
#define CBC_WAITSET_H

/* An epoll set of inotify_fd and stop_fd (close-on-exec), or inotify_fd
 * itself when stop_fd is negative or epoll fails (a stop then waits for
 * the current nap), or -1 without inotify (cb_bus_wait_fd then keeps
 * napping and scanning). The caller closes the result if it differs from
 * inotify_fd. */
int cbc_waitset_open(int inotify_fd, int stop_fd);

/* Makes stop_fd (an eventfd) readable. Async-signal-safe; errno kept. */
void cbc_waitset_kick(int stop_fd);

#endif
