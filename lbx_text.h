/* lbx_text.h: text helpers shared by the pure parsers (lbx_text.c).  No
 * locale anywhere: what a byte means must not depend on the process's
 * setlocale. */
#ifndef LBX_TEXT_H
#define LBX_TEXT_H

#include <stddef.h>
#include <stdint.h>

/* Value of a hexadecimal digit, or -1. */
static inline int lbx_hexval(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

/* ASCII lower case. */
static inline int lbx_lower(int c)
{
    return (c >= 'A' && c <= 'Z') ? c - 'A' + 'a' : c;
}

/* Strict unsigned decimal: s[0..len-1] must be one or more digits and
 * nothing else (no sign, no blanks), with a value of at most `max`.
 * Leading zeros are fine and any length is safe: the value is checked
 * against `max` before every digit is added, so it never wraps.  Returns 0
 * and sets *out, or -1 and leaves *out as it was. */
int lbx_parse_uint(const char *s, size_t len, uint64_t max, uint64_t *out);

/* Decode %XX escapes of src[0..len-1] into dst, which needs room for len
 * bytes and may be src itself (the output never runs ahead of the input).
 * A '%' not followed by two hex digits inside the span, and "%00", are
 * copied as they are: a decoded NUL would silently cut a C string short.
 * '+' is not special.  Returns the output length; dst is not
 * NUL-terminated. */
size_t lbx_pct_decode(const char *src, size_t len, char *dst);

#endif
