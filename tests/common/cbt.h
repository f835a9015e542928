/*
 * tests/common/cbt.h -- the small helper every clipbus test shares.
 *
 * - A splitmix64 PRNG. Property tests seed it from CB_TEST_SEED (decimal or
 *   0x-hex; a fixed default otherwise) and print the seed with every
 *   failure, so any failure replays with CB_TEST_SEED=<seed>.
 * - Iteration counts from CB_TEST_ITERS (the stress registrations raise it).
 * - Unique bus names per test ("t_<tag>_<pid>_<n>"), remembered so that the
 *   process that made them unlinks every shm object of those buses at exit,
 *   even after a failed test.
 * - Child processes with a deadline: a hung child is killed, never waited
 *   for forever.
 *
 * Nothing here depends on libclipbus: shm objects are found by listing the
 * shm directory (they appear there as files named without the leading '/').
 */
#ifndef CBT_H
#define CBT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define CBT_SHM_DIR "/dev/shm"

/* ---- PRNG --------------------------------------------------------------- */
struct cbt_rng {
    uint64_t s;
};

/* The next 64 random bits (splitmix64). */
uint64_t cbt_next(struct cbt_rng *r);

/* A random integer in [0, n); 0 when n is 0. */
uint64_t cbt_below(struct cbt_rng *r, uint64_t n);

/* A well-mixed 64-bit hash of (a, b): derives independent streams. */
uint64_t cbt_mix(uint64_t a, uint64_t b);

/* CB_TEST_SEED, or `dflt` when unset or unparsable (a bad value is
 * reported once on stderr). */
uint64_t cbt_seed(uint64_t dflt);

/* CB_TEST_ITERS, or `dflt` when unset or unparsable. */
uint64_t cbt_iters(uint64_t dflt);

/* ---- bus names and shm cleanup ------------------------------------------ */

/* Writes a fresh bus name "t_<tag>_<pid>_<n>" into buf (at most 48
 * characters: tag is cut) and remembers it for cbt_cleanup(). Returns buf. */
char *cbt_bus(char *buf, size_t len, const char *tag);

/* Unlinks every shm object of `bus`: producer segments
 * "clipbus.<bus>.<pid>[.<n>]" and reader status "clipbus-r.<bus>.<pid>".
 * Returns how many were removed. */
int cbt_unlink_bus(const char *bus);

/* Counts the shm objects of `bus` (prefix "clipbus.<bus>." when status is
 * 0, "clipbus-r.<bus>." when 1). */
int cbt_shm_count(const char *bus, int status);

/* Finds the producer segment of `pid` on `bus` and writes its POSIX name
 * ("/clipbus.<bus>.<pid>" or with a ".<n>" suffix). Returns 0, or -1 when
 * there is none. */
int cbt_find_segment(const char *bus, pid_t pid, char *name, size_t len);

/* As cbt_find_segment(), retrying for up to timeout_ms. */
int cbt_wait_segment(const char *bus, pid_t pid, char *name, size_t len,
                     int timeout_ms);

/* Unlinks shm objects of test buses ("t_<tag>_<pid>_<n>") whose <pid> is
 * no longer running: what a test killed by its CTest timeout left behind.
 * cbt_bus() calls it once per process. */
void cbt_reap_stale(void);

/* Unlinks the objects of every bus made by cbt_bus() in this process.
 * Registered with atexit() on first use; does nothing in a forked child
 * (the child must not remove its parent's segments). */
void cbt_cleanup(void);

/* ---- processes and time ------------------------------------------------- */

/* Forks; the child runs fn(arg) and leaves with _exit(its return value)
 * after flushing stdio. Returns the child's pid, or -1. */
pid_t cbt_fork(int (*fn)(void *arg), void *arg);

/* Runs fn(arg) in a forked child whose stderr is captured into err
 * (NUL-terminated, cut to err_len - 1), waits up to timeout_ms (then kills
 * it). Returns 0 with the wait status in *status, or -1 on timeout or if
 * the child could not be started. */
int cbt_run(int (*fn)(void *arg), void *arg, int timeout_ms, int *status,
            char *err, size_t err_len);

/* The pid of the last child cbt_run() started in this process. */
pid_t cbt_last_child(void);

/* Writes the POSIX name of the first producer segment of `bus` found in
 * the shm directory. Returns 0, or -1 if there is none. */
int cbt_any_segment(const char *bus, char *name, size_t len);

/* 1 if a producer segment of `pid` exists on any bus, else 0. */
int cbt_pid_has_segment(pid_t pid);

/* Unlinks the producer segments of `pid` on any bus (a test whose child
 * wrongly made one on another bus, e.g. "default", cleans up with this).
 * Returns how many. */
int cbt_unlink_pid(pid_t pid);

/* The same, for segments created at or after since_real_ns (cbt_real_ns()
 * taken before the child was started) only. Pids are reused (pid_max is
 * often 32768, and threads take pids too): a segment another test's dead
 * process of the same pid left behind is neither counted nor removed. */
int cbt_unlink_pid_since(pid_t pid, uint64_t since_real_ns);

/* Number of '\n'-terminated lines in s. */
int cbt_lines(const char *s);

/* Waits for `pid` up to timeout_ms; on timeout kills it (SIGKILL), reaps
 * it and returns -1. Otherwise returns 0 with the wait status in *status. */
int cbt_wait(pid_t pid, int timeout_ms, int *status);

/* A readable description of a wait status ("exit 1", "signal 9"). */
const char *cbt_status_str(int status, char *buf, size_t len);

/* CLOCK_MONOTONIC and CLOCK_REALTIME in nanoseconds. */
uint64_t cbt_mono_ns(void);
uint64_t cbt_real_ns(void);
/* This thread's CPU time (CLOCK_THREAD_CPUTIME_ID). */
uint64_t cbt_thread_cpu_ns(void);

/* Spins until this thread has used `us` more microseconds of CPU time:
 * CPU time, not wall time, so that a loaded machine (ctest -j2, a
 * sanitizer build) cannot make it burn less than asked. */
void cbt_burn_cpu_us(uint64_t us);

/* Sleeps us microseconds (restarting after signals). */
void cbt_sleep_us(uint64_t us);

/* Reads the whole file at path into a malloc'ed buffer (caller frees);
 * *len gets its size. NULL on error. */
char *cbt_read_file(const char *path, size_t *len);

/* Creates shm object `name` (with '/') with exactly `len` bytes of `data`
 * (data may be NULL for zeros), mode 0600. Returns 0 or -errno. */
int cbt_shm_write(const char *name, const void *data, size_t len);

/* Copies the whole shm object `name` into a malloc'ed buffer. */
void *cbt_shm_read(const char *name, size_t *len);

#endif /* CBT_H */
