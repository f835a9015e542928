/*
 * util.h: small helpers shared by clipapi-gen and clipapi-serve: strict
 * number, duration and time parsing for the command line, ISO 8601 UTC
 * formatting, directories and files, a growable string buffer and the
 * base64url coding of pagination cursors.
 *
 * Parsers return 0 or -1 and leave the out-parameter untouched on failure;
 * the caller prints the message, naming the option (STYLE: one line naming
 * the thing and what is wrong).
 */
#ifndef CLIPAPI_UTIL_H
#define CLIPAPI_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* Parses a whole decimal string in [min, max] into *out. */
int ca_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out);

/* Parses a whole finite decimal string in [min, max] into *out. */
int ca_parse_double(const char *s, double min, double max, double *out);

/* Parses "90", "90s", "15m", "1h" or "2d" into seconds, > 0. */
int ca_parse_duration(const char *s, int64_t *out_s);

/* Parses "YYYY-MM-DDTHH:MM:SSZ" (UTC, optional ".fff" fraction ignored)
 * into epoch seconds. */
int ca_parse_iso8601(const char *s, int64_t *out_s);

/* Writes "YYYY-MM-DDTHH:MM:SSZ" into buf (at least 21 bytes). */
void ca_format_iso8601(int64_t t, char *buf, size_t size);

/* Creates dir and its missing parents (mode 0755). 0 or -errno. */
int ca_mkdir_p(const char *dir);

/* Reads a whole file into a NUL-terminated heap buffer (caller frees).
 * Returns NULL with errno set on failure. */
char *ca_read_file(const char *path, size_t *len_out);

/* A growable byte buffer; zero-initialise it, free with ca_buf_fini().
 * An allocation failure is sticky: ca_buf_ok() then returns 0. */
struct ca_buf {
    char *data;
    size_t len;
    size_t cap;
    int failed;
};

void ca_buf_add(struct ca_buf *b, const char *s, size_t n);
void ca_buf_adds(struct ca_buf *b, const char *s);
int ca_buf_ok(const struct ca_buf *b);
void ca_buf_fini(struct ca_buf *b);

/* Encodes n bytes as unpadded base64url into out (size >= 4n/3 + 4). */
void ca_b64url_encode(const unsigned char *in, size_t n, char *out);

/* Decodes unpadded base64url s into out (size cap); returns the decoded
 * length, or -1 for a bad character, length or overflow. */
long ca_b64url_decode(const char *s, unsigned char *out, size_t cap);

#endif
