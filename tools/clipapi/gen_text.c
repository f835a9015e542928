/*
 * gen_text.c: names, titles and identifiers of the synthetic corpus.
 *
 * Titles deliberately carry what a JSON reader must get right: UTF-8 of
 * two, three and four bytes (accents, CJK, emoji), double quotes, and
 * backslashes, which the writer escapes. This file is UTF-8.
 */
#include "gen_model.h"
#include "prng.h"

#include <stdio.h>
#include <string.h>

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static const char *const syllables[] = {
    "ka", "zu",  "mi", "ro",  "tan", "vel", "qui", "dex", "lo", "shi",
    "ne", "bor", "fa", "gru", "pix", "sol", "tri", "wen", "yo", "zer",
};

static const char *const login_tails[] = {
    "", "tv", "gg", "_live", "plays", "_x", "hd", "ttv",
};

static const char *const adjectives[] = {
    "Awkward", "Brave", "Crispy",  "Dizzy", "Eager", "Fancy",
    "Gentle",  "Happy", "Icy",     "Jolly", "Kind",  "Lazy",
    "Mighty",  "Noisy", "Odd",     "Proud", "Quiet", "Rapid",
    "Shy",     "Tiny",  "Unusual", "Vivid", "Witty",
};

static const char *const animals[] = {
    "Salamander", "Otter", "Falcon", "Panda", "Lemur",  "Walrus",  "Badger",
    "Heron",      "Koala", "Moose",  "Newt",  "Ocelot", "Penguin", "Quokka",
};

static const char *const emotes[] = {
    "Kappa",    "PogChamp", "SwiftRage", "BibleThump",  "ResidentSleeper",
    "DansGame", "FailFish", "SeemsGood", "NotLikeThis", "VoHiYo",
};

static const char *const titles[] = {
    "insane clutch 1v4",
    "he said \"gg\" too early",
    "¡Qué jugada! no way",
    "うそでしょ… this cannot be real",
    "naïve café strat actually worked",
    "C:\\Users\\chat\\moments",
    "🔥🔥 the play of the year 🔥🔥",
    "Ünbelievable timing",
    "chat: \"skill issue\" / me: \\o/",
    "최고의 순간",
    "когда всё пошло не так",
    "backslash \\ and \"quotes\" test",
    "rage quit speedrun",
    "the \"perfect\" landing",
    "Größter Fail des Tages",
    "wait for it…",
    "pentakill ヽ(°〇°)ﾉ",
    "why did the boss do that",
    "mom said it's my turn",
    "¿cómo es posible?",
    "1 HP survive",
    "chat predicted it",
    "façade glitch",
    "mic was on 😳",
};

static const char *const games[] = {
    "509658", "21779", "32982", "33214", "516575", "27471", "512710", "18122",
};

static const char *const langs[] = {
    "en", "en", "en", "de", "es", "fr", "ja", "ko", "pt", "ru",
};

static const char *
pick(struct ca_prng *r, const char *const *list, size_t n)
{
    return list[ca_prng_below(r, n)];
}

void
ca_text_login(struct ca_prng *r, char *buf, size_t size)
{
    char tmp[64] = "";
    size_t n = 2 + ca_prng_below(r, 3);

    for (size_t i = 0; i < n; i++)
        strcat(tmp, pick(r, syllables, COUNT(syllables)));
    strcat(tmp, pick(r, login_tails, COUNT(login_tails)));
    (void)snprintf(buf, size, "%s", tmp);
}

void
ca_text_title(struct ca_prng *r, char *buf, size_t size)
{
    const char *base = pick(r, titles, COUNT(titles));

    /* A third of the titles get a counter so that titles repeat less. */
    if (ca_prng_below(r, 3) == 0)
        (void)snprintf(buf, size, "%s #%u", base,
                       (unsigned)(1 + ca_prng_below(r, 99)));
    else
        (void)snprintf(buf, size, "%s", base);
}

void
ca_text_slug(struct ca_prng *r, uint32_t channel, uint32_t clip, char *buf,
             size_t size)
{
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopq"
                              "rstuvwxyz0123456789-_";
    char tail[17];
    /* 24 bits of channel and 24 of clip index make the slug unique within
     * the corpus; the first 8 characters are random. */
    uint64_t key = ((uint64_t)(channel & 0xffffff) << 24) | (clip & 0xffffff);

    for (int i = 0; i < 8; i++)
        tail[i] = b64[ca_prng_below(r, 64)];
    for (int i = 0; i < 8; i++)
        tail[8 + i] = b64[(key >> (6 * (7 - i))) & 63];
    tail[16] = '\0';
    (void)snprintf(
        buf, size, "%s%s%s%s-%s", pick(r, adjectives, COUNT(adjectives)),
        pick(r, adjectives, COUNT(adjectives)),
        pick(r, animals, COUNT(animals)), pick(r, emotes, COUNT(emotes)), tail);
}

void
ca_text_numeric_id(struct ca_prng *r, int digits, char *buf, size_t size)
{
    size_t i = 0;

    for (int d = 0; d < digits && i + 1 < size; d++)
        buf[i++] = (char)('0' + (d == 0 ? 1 + ca_prng_below(r, 9)
                                        : ca_prng_below(r, 10)));
    buf[i] = '\0';
}

const char *
ca_text_game(struct ca_prng *r)
{
    return pick(r, games, COUNT(games));
}

const char *
ca_text_lang(struct ca_prng *r)
{
    return pick(r, langs, COUNT(langs));
}
