/*
 * cli.h -- what the subcommands of the `clipbus` tool share: the command
 * table entry points, option helpers, text formatting (durations, sizes,
 * times, escaped strings), JSON strings that stay valid for any bytes, and
 * stdout writing that ends quietly on a closed pipe.
 *
 * Exit status of every subcommand (main.c documents it in --help):
 *   CLI_OK 0       done, nothing wrong
 *   CLI_PROBLEM 1  done, but a problem was found (or there was nothing)
 *   CLI_USAGE 2    bad command line or environment; nothing was done
 */
#ifndef CLIPBUS_TOOL_CLI_H
#define CLIPBUS_TOOL_CLI_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#define CLI_OK      0
#define CLI_PROBLEM 1
#define CLI_USAGE   2

/* ---- subcommands: int cmd_x(int argc, char **argv), argv[0] = "x" ---- */
int cmd_status(int argc, char **argv);
int cmd_gc(int argc, char **argv);
int cmd_tail(int argc, char **argv);
int cmd_config(int argc, char **argv);
int cmd_query(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_log(int argc, char **argv);

/* ---- options ------------------------------------------------------------ */

/* Resolves --bus (NULL: CLIPBUS_BUS, else "default") and validates it.
 * Returns the name (static or borrowed), or NULL after printing a one-line
 * message naming the subcommand `cmd` and the bad name. */
const char *cli_bus(const char *cmd, const char *opt_bus);

/* Parses a whole decimal number in [min, max]; 0 or -1 (out untouched). */
int cli_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out);

/* Prints "clipbus <cmd>: <msg>; see 'clipbus <cmd> --help'" to stderr and
 * returns CLI_USAGE. */
int cli_usage_error(const char *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* The bus part of a shm name "/clipbus.<bus>.<pid>[.<n>]" or
 * "/clipbus-r.<bus>.<pid>", copied into buf ("?" if it does not parse). */
char *cli_shm_bus(const char *shm_name, char *buf, size_t len);

/* The pid part of such a name, 0 if it does not parse. */
uint32_t cli_shm_pid(const char *shm_name);

/* Owner uid and inode of a shm object; 0 or -errno. */
int cli_shm_stat(const char *shm_name, uint32_t *uid, uint64_t *ino);

/* 1 if the shm object's first 8 bytes (the magic of both segment kinds)
 * are all zero: its creator has not finished setting it up, or died
 * while doing so. 0 otherwise, also when it cannot be read. */
int cli_shm_magic_unset(const char *shm_name);

/* ---- clocks ------------------------------------------------------------- */
uint64_t cli_real_ns(void);

/* ---- a growable text buffer --------------------------------------------- */
struct sbuf {
    char *p; /* NUL-terminated while len < cap; NULL when empty */
    size_t len;
    size_t cap;
    int failed; /* an allocation failed: the text is cut */
};

void sb_reset(struct sbuf *b);
void sb_free(struct sbuf *b);
void sb_add_grow(struct sbuf *b, const char *s, size_t n);
/* Appends s[0, n); the common case, room enough, is inline. */
static inline void
sb_add(struct sbuf *b, const char *s, size_t n)
{
    if (!b->failed && b->len + n < b->cap) {
        memcpy(b->p + b->len, s, n);
        b->len += n;
        b->p[b->len] = '\0';
    } else {
        sb_add_grow(b, s, n);
    }
}
/* Appends a decimal integer. */
void sb_i64(struct sbuf *b, int64_t v);
void sb_u64(struct sbuf *b, uint64_t v);
/* 1 if d is a whole number in (-below, below) other than -0: printf's
 * "%g" forms print it as its integer digits (below <= 2^63). */
int cli_is_whole(double d, double below);
/* Appends d as "%.6g" prints it (whole numbers without printf). */
void sb_num(struct sbuf *b, double d);
void sb_printf(struct sbuf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Appends s[0, n) for a terminal: printable UTF-8 as is, backslash and
 * (when quote) the double quote escaped, control characters as \n, \t,
 * \r or \xNN, bytes that are not valid UTF-8 as \xNN. Never a newline. */
void sb_add_escaped(struct sbuf *b, const char *s, size_t n, int quote);
const char *sb_str(const struct sbuf *b);
/* Length of the valid UTF-8 sequence at s (n bytes available), its code
 * point in *cp; 0 if the bytes there are not valid UTF-8. */
size_t cli_utf8_len(const unsigned char *s, size_t n, uint32_t *cp);

/* ---- formatting --------------------------------------------------------- */

/* "850 ns", "12.3 us", "4.56 ms", "1.23 s", "3m12s", "2h05m", "3d04h". */
char *fmt_dur(char *buf, size_t len, uint64_t ns);
/* "512 B", "4.0 KiB", "64.0 MiB". */
char *fmt_bytes(char *buf, size_t len, uint64_t bytes);
/* ISO 8601 with milliseconds: "2024-05-01T12:00:00.123+02:00" (local) or
 * "...Z" (utc). */
char *fmt_time(char *buf, size_t len, uint64_t wall_ns, int utc);

/* ---- JSON -----------------------------------------------------------------
 */

/* A JSON string from any bytes: valid UTF-8 is kept (NUL too, dumped as
 * \u0000), each byte of an invalid sequence becomes U+FFFD. Never NULL
 * unless out of memory. */
json_t *cli_json_text(const char *s, size_t n);
json_t *cli_json_str(const char *s);
/* json_integer of a uint64_t, clamped to INT64_MAX. */
json_t *cli_json_u64(uint64_t v);
/* json_real, or null for NaN and infinities (JSON has no such numbers). */
json_t *cli_json_real(double d);

/* ---- stdout -----------------------------------------------------------------
 */

/* Ignores SIGPIPE so that a closed pipe shows up as EPIPE on write. */
void cli_out_init(void);
/* Writes s and a newline to stdout. Returns 0, or -1 when stdout failed
 * (EPIPE: the reader went away); the caller then stops quietly. */
int cli_out_line(const char *s, size_t n);
/* Dumps j (compact when indent is 0) plus a newline; as cli_out_line. */
int cli_out_json(const json_t *j, int indent);
/* Flushes stdout; 0 or -1 as above. */
int cli_out_flush(void);
/* 1 once a write to stdout failed. */
int cli_out_failed(void);

#endif /* CLIPBUS_TOOL_CLI_H */
