/*
 * timeutil.h -- times and durations for the clip analyzer.
 *
 * Times are Unix seconds (int64_t, UTC). The API speaks RFC 3339 / ISO 8601
 * in UTC ("2024-05-01T12:00:00Z"); the command line also takes durations
 * such as "24h". Everything here is thread-safe and allocates nothing.
 */
#ifndef CA_TIMEUTIL_H
#define CA_TIMEUTIL_H

#include <stddef.h>
#include <stdint.h>

/* Parses an ISO 8601 UTC time "YYYY-MM-DDTHH:MM:SS[.frac](Z|+hh:mm|-hh:mm)"
 * into *out (Unix seconds; the fraction is dropped). Returns 0, or -1 when
 * `s` is not such a time (then *out is unchanged). */
int ca_time_parse(const char *s, int64_t *out);

/* Writes `t` as "YYYY-MM-DDTHH:MM:SSZ" into buf (at least 21 bytes).
 * Returns buf. */
char *ca_time_format(int64_t t, char *buf, size_t size);

/* Parses a duration "N[smhd]" (a bare number is seconds) into seconds.
 * Returns 0, or -1 when malformed, zero, negative or above 10 years. */
int ca_duration_parse(const char *s, int64_t *out_s);

/* Wall-clock time in Unix seconds, and a monotonic clock in milliseconds. */
int64_t ca_now_s(void);
double ca_mono_ms(void);

/* Sleeps for `ms` milliseconds (restarting after signals); ms <= 0 returns
 * at once. */
void ca_sleep_ms(long ms);

#endif /* CA_TIMEUTIL_H */
