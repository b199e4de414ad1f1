/* cookie_core.c: route cookie helpers (see cookie_core.h). */
#include <string.h>

#include "cookie_core.h"
#include "lbx_method.h"

void lbx_route_from_name(const char *name, size_t len, char *out)
{
    static const char digits[] = "abcdefghijklmnopqrstuvwxyz234567";
    uint64_t h = lbx_hash64(name, len);
    int i;

    out[0] = 'r';
    for (i = 1; i < LBX_ROUTE_GEN_LEN; i++) {
        out[i] = digits[h & 31];
        h >>= 5;
    }
    out[LBX_ROUTE_GEN_LEN] = '\0';
}

static int blank(char c)
{
    return c == ' ' || c == '\t';
}

int lbx_set_cookie_sets(const char *v, size_t len, const char *name,
                        size_t name_len)
{
    const char *eq = memchr(v, '=', len);
    size_t start = 0, end;

    if (!eq) {
        return 0;
    }
    end = (size_t)(eq - v);
    while (start < end && blank(v[start])) {
        start++;
    }
    while (end > start && blank(v[end - 1])) {
        end--;
    }
    return end - start == name_len && memcmp(v + start, name, name_len) == 0;
}

int lbx_cookie_name_ok(const char *s)
{
    const char *p;

    if (!s || !*s) {
        return 0;
    }
    for (p = s; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c <= 32 || c >= 127 || strchr("()<>@,;:\\\"/[]?={}", c)) {
            return 0;
        }
    }
    return 1;
}

int lbx_cookie_value_ok(const char *s)
{
    size_t n = 0;

    if (!s || !*s) {
        return 0;
    }
    for (; s[n]; n++) {
        unsigned char c = (unsigned char)s[n];
        if (c <= 32 || c >= 127 || c == ';' || c == ',' || c == '"' || c == '\\'
            || n >= 255) {
            return 0;
        }
    }
    return 1;
}
