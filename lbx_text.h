/* lbx_text.h: character helpers shared by the pure parsers (no locale:
 * what a byte means must not depend on the process's setlocale). */
#ifndef LBX_TEXT_H
#define LBX_TEXT_H

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

#endif
