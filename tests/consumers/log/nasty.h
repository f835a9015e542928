/*
 * nasty.h -- the hostile strings of the clipbus-log tests, a pure
 * function of (seed, i): the producer sends them, the tests recompute
 * them. Fragments cover CSV's special characters, JSON escapes, control
 * bytes and byte sequences that are not UTF-8.
 */
#ifndef NASTY_H
#define NASTY_H

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define NASTY_MAX 64

static inline uint64_t
nasty_mix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

/* Writes the string of call i (NUL-terminated, < NASTY_MAX bytes). */
static inline void
nasty(uint64_t seed, uint64_t i, char *out, size_t len)
{
    static const char *const frag[] = {
        "plain", "a,b", "say \"hi\"", "two\nlines", "cr\r\nlf",
        "\xff\xfe", "caf\xc3\xa9", "tab\there", " edge ", "\"", ",",
        "\xe2\x9c\x93", "back\\slash", "\x01\x1f", "\xc3", "''",
    };
    uint64_t r = nasty_mix(seed ^ nasty_mix(i));
    size_t n = 1 + r % 3, at = 0;
    out[0] = '\0';
    for (size_t k = 0; k < n; k++) {
        const char *f = frag[(r >> (8 + 4 * k)) % 16];
        size_t l = strlen(f);
        if (at + l + 1 > len)
            break;
        memcpy(out + at, f, l + 1);
        at += l;
    }
}

/* 1 if call i fails. */
static inline int
nasty_fails(uint64_t seed, uint64_t i)
{
    return nasty_mix(seed + i * 7) % 5 == 0;
}

#endif /* NASTY_H */
