/* libFuzzer target for sticky.c (also linked into t/fuzz/replay).
 *
 * Input layout, so that seed files stay readable:
 *   byte 0      flags: bit 0 = scolon_delim
 *   byte 1      route separator (0 = stickysessionsep=Off)
 *   byte 2      name length n (cut to what is left)
 *   n bytes     the name
 *   the rest    the haystack, parsed both as a URL and as a Cookie header
 *
 * Name and haystack are copied into heap buffers of exactly their size, with
 * no NUL after them, so ASan reports any read past the input.  Besides memory
 * safety the target checks what sticky.h promises: result spans lie
 * inside the input and have the shape it describes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sticky.h"
#include "fuzz_check.h"

/* assert() would vanish under NDEBUG; a fuzz check must not. */

static int inside(struct lbx_span s, const char *base, size_t len)
{
    return s.ptr != NULL && s.ptr >= base && s.len <= len
        && (size_t)(s.ptr - base) <= len - s.len;
}

static int is_url_delim(char c, int scolon)
{
    return c == '?' || c == '&' || (scolon && c == ';');
}

static void check_route(struct lbx_span value, char sep)
{
    struct lbx_span r;
    const char *nul;
    size_t vlen = value.len, i;

    if (value.ptr == NULL) {
        FUZZ_CHECK(!lbx_sticky_route(value, sep, &r));
        return;
    }
    /* The value, like every input span, ends at its first NUL. */
    nul = memchr(value.ptr, '\0', value.len);
    if (nul != NULL) {
        vlen = (size_t)(nul - value.ptr);
    }

    if (!lbx_sticky_route(value, sep, &r)) {
        FUZZ_CHECK(r.ptr == NULL && r.len == 0);
        /* No route only when the separator is missing. */
        FUZZ_CHECK(sep != '\0');
        FUZZ_CHECK(memchr(value.ptr, sep, vlen) == NULL);
        return;
    }
    FUZZ_CHECK(inside(r, value.ptr, vlen));
    FUZZ_CHECK(r.ptr + r.len == value.ptr + vlen);
    if (sep == '\0') {
        FUZZ_CHECK(r.ptr == value.ptr);
        return;
    }
    /* The route follows the first separator. */
    FUZZ_CHECK(r.ptr > value.ptr && r.ptr[-1] == sep);
    for (i = 0; i < (size_t)(r.ptr - 1 - value.ptr); i++) {
        FUZZ_CHECK(value.ptr[i] != sep);
    }
}

static void check_url(const char *hay, size_t len, const char *name,
                      size_t nlen, int scolon, char sep)
{
    struct lbx_span v;
    size_t i;

    if (!lbx_sticky_url_param(hay, len, name, nlen, scolon, &v)) {
        FUZZ_CHECK(v.ptr == NULL && v.len == 0);
        return;
    }
    FUZZ_CHECK(inside(v, hay, len));
    FUZZ_CHECK(v.len > 0);
    /* Preceded by '=' or a delimiter, and made of non-delimiters. */
    FUZZ_CHECK(v.ptr > hay);
    FUZZ_CHECK(v.ptr[-1] == '=' || is_url_delim(v.ptr[-1], scolon));
    for (i = 0; i < v.len; i++) {
        FUZZ_CHECK(v.ptr[i] != '\0' && !is_url_delim(v.ptr[i], scolon));
    }
    check_route(v, sep);
}

static void check_cookie(const char *hay, size_t len, const char *name,
                         size_t nlen, char sep)
{
    struct lbx_span v;
    size_t i;

    if (!lbx_sticky_cookie(hay, len, name, nlen, &v)) {
        FUZZ_CHECK(v.ptr == NULL && v.len == 0);
        return;
    }
    FUZZ_CHECK(inside(v, hay, len));
    /* Right after '=', with at least one byte of input after that '='. */
    FUZZ_CHECK(v.ptr > hay && v.ptr[-1] == '=');
    FUZZ_CHECK(v.ptr < hay + len && v.ptr[0] != '\0');
    for (i = 0; i < v.len; i++) {
        FUZZ_CHECK(v.ptr[i] != '\0' && v.ptr[i] != ';' && v.ptr[i] != ',');
    }
    check_route(v, sep);
}

/* malloc(0) may return NULL; the parsers treat NULL as "no input", which is
 * still a valid call, so that case needs no special handling. */
static char *dup_exact(const uint8_t *p, size_t n)
{
    char *d = malloc(n);

    if (d != NULL && n > 0) {
        memcpy(d, p, n);
    }
    return d;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int scolon;
    char sep;
    size_t nlen, hlen;
    char *name, *hay;
    struct lbx_span whole;

    if (size < 3) {
        return 0;
    }
    scolon = data[0] & 1;
    sep = (char)data[1];
    nlen = data[2];
    if (nlen > size - 3) {
        nlen = size - 3;
    }
    hlen = size - 3 - nlen;

    name = dup_exact(data + 3, nlen);
    hay = dup_exact(data + 3 + nlen, hlen);
    if ((name == NULL && nlen > 0) || (hay == NULL && hlen > 0)) {
        free(name);
        free(hay);
        return 0;
    }

    check_url(hay, hlen, name, nlen, scolon, sep);
    check_cookie(hay, hlen, name, nlen, sep);
    whole.ptr = hay;
    whole.len = hlen;
    check_route(whole, sep);

    free(name);
    free(hay);
    return 0;
}
