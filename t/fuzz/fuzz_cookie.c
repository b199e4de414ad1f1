/* libFuzzer target for cookie_core.c (also linked into t/fuzz/replay_cookie).
 *
 * Input: byte 0 is the length of the cookie name (mod 64); the name
 * follows, the rest is a Set-Cookie value as a backend might send it.
 * Besides memory safety (the value lies in a heap buffer of exactly its
 * size, no NUL) the target checks the promises of cookie_core.h: a value
 * that sets `name` has it before its first '=' between blanks; the
 * checkers accept only what they say; a generated route is 13 characters
 * of its alphabet and the same for the same name. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cookie_core.h"
#include "fuzz_check.h"

static void check_sets(const char *v, size_t len, const char *name, size_t nlen)
{
    const char *eq;
    size_t i = 0;

    if (!lbx_set_cookie_sets(v, len, name, nlen)) {
        return;
    }
    eq = memchr(v, '=', len);
    FUZZ_CHECK(eq != NULL);
    while (v[i] == ' ' || v[i] == '\t') {
        i++;
    }
    FUZZ_CHECK(i + nlen <= (size_t)(eq - v));
    FUZZ_CHECK(memcmp(v + i, name, nlen) == 0);
    for (i += nlen; v + i < eq; i++) {
        FUZZ_CHECK(v[i] == ' ' || v[i] == '\t');
    }
}

static void check_text(const char *s)
{
    size_t i;

    if (lbx_cookie_value_ok(s)) {
        FUZZ_CHECK(*s && strlen(s) <= 255);
        for (i = 0; s[i]; i++) {
            FUZZ_CHECK(s[i] > 32 && s[i] < 127 && !strchr(";,\"\\", s[i]));
        }
    }
    if (lbx_cookie_name_ok(s)) {
        FUZZ_CHECK(*s && !strchr(s, '=') && !strchr(s, ';'));
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char name[64], route[LBX_ROUTE_GEN_LEN + 1], again[LBX_ROUTE_GEN_LEN + 1];
    size_t nlen, i;
    char *v, *text;

    if (size < 1) {
        return 0;
    }
    nlen = data[0] % 64;
    if (nlen > size - 1) {
        nlen = size - 1;
    }
    memcpy(name, data + 1, nlen);
    v = malloc(size - 1 - nlen ? size - 1 - nlen : 1);
    memcpy(v, data + 1 + nlen, size - 1 - nlen);
    check_sets(v, size - 1 - nlen, name, nlen);

    text = malloc(size - 1 - nlen + 1);
    memcpy(text, v, size - 1 - nlen);
    text[size - 1 - nlen] = '\0';
    check_text(text);

    lbx_route_from_name(v, size - 1 - nlen, route);
    lbx_route_from_name(v, size - 1 - nlen, again);
    FUZZ_CHECK(strlen(route) == LBX_ROUTE_GEN_LEN && route[0] == 'r');
    FUZZ_CHECK(strcmp(route, again) == 0);
    for (i = 1; i < LBX_ROUTE_GEN_LEN; i++) {
        FUZZ_CHECK(strchr("abcdefghijklmnopqrstuvwxyz234567", route[i]));
    }
    FUZZ_CHECK(lbx_cookie_value_ok(route) && lbx_cookie_name_ok(route));
    free(text);
    free(v);
    return 0;
}
