/*
 * cblbuf.h -- a growable byte buffer and JSON string escaping shared by
 * the log's writer (parameters as JSON) and its readers (query output).
 */
#ifndef CBL_BUF_H
#define CBL_BUF_H

#include <stddef.h>
#include <stdint.h>

struct cbl_buf {
    char *p;
    size_t len, cap;
    int failed; /* an allocation failed: content is cut */
};

void cbl_buf_reset(struct cbl_buf *b);
void cbl_buf_free(struct cbl_buf *b);
void cbl_buf_add(struct cbl_buf *b, const char *s, size_t n);
void cbl_buf_addc(struct cbl_buf *b, char c);
void cbl_buf_printf(struct cbl_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Appends s[0, n) as a JSON string with its quotes. Valid UTF-8 is kept;
 * each byte of an invalid sequence becomes U+FFFD; control characters
 * and NUL are escaped. The result is always valid JSON. */
void cbl_buf_json_str(struct cbl_buf *b, const char *s, size_t n);
/* An int64 in decimal (what printf's %lld gives, without printf). */
void cbl_buf_i64(struct cbl_buf *b, int64_t v);
/* A double as JSON: %.17g, null for NaN and infinities. */
void cbl_buf_json_num(struct cbl_buf *b, double d);
/* Length of the valid UTF-8 sequence at s[0, n), or 0 if invalid. */
size_t cbl_utf8_len(const unsigned char *s, size_t n);

#endif /* CBL_BUF_H */
