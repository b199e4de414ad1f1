/* lbx_text.c: the one unsigned-integer parser and the one %XX decoder of
 * the pure parsers (see lbx_text.h). */
#include "lbx_text.h"

int lbx_parse_uint(const char *s, size_t len, uint64_t max, uint64_t *out)
{
    uint64_t v = 0;
    size_t i;

    if (len == 0) {
        return -1;
    }
    for (i = 0; i < len; i++) {
        uint64_t d;

        if (s[i] < '0' || s[i] > '9') {
            return -1;
        }
        d = (uint64_t)(s[i] - '0');
        /* v * 10 + d <= max, asked without computing v * 10 + d, which
         * could wrap for max near UINT64_MAX. */
        if (d > max || v > (max - d) / 10) {
            return -1;
        }
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

size_t lbx_pct_decode(const char *src, size_t len, char *dst)
{
    size_t i = 0, o = 0;

    while (i < len) {
        int hi = -1, lo = -1;

        /* Both digits must lie inside the span: src need not be
         * NUL-terminated. */
        if (src[i] == '%' && len - i > 2) {
            hi = lbx_hexval(src[i + 1]);
            lo = lbx_hexval(src[i + 2]);
        }
        if (hi >= 0 && lo >= 0 && (hi | lo) != 0) {
            dst[o++] = (char)(hi * 16 + lo);
            i += 3;
        }
        else {
            dst[o++] = src[i++];
        }
    }
    return o;
}
