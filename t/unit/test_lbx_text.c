/* Unit tests for lbx_text.c: the unsigned-integer parser and the %XX
 * decoder.  Every input is copied into a heap buffer of exactly its length
 * (no NUL after it), so under ASan a read past the span fails the test. */
#include <stdlib.h>
#include <string.h>

#include "lbx_tests.h"
#include "lbx_text.h"

/* A literal and its length, embedded NULs included. */
#define IN(s) s, sizeof(s) - 1

static char *dup_exact(const char *s, size_t len)
{
    char *p = malloc(len ? len : 1);

    ck_assert_ptr_nonnull(p);
    if (len) {
        memcpy(p, s, len);
    }
    return p;
}

/* ---- lbx_parse_uint ----------------------------------------------------- */

#define SENTINEL UINT64_C(0x5a5a5a5a5a5a5a5a)

static const struct {
    const char *what;
    const char *s;
    size_t len;
    uint64_t max;
    int rc;
    uint64_t value; /* when rc == 0 */
} uints[] = {
    { "empty", IN(""), UINT64_MAX, -1, 0 },
    { "zero", IN("0"), 0, 0, 0 },
    { "one above max 0", IN("1"), 0, -1, 0 },
    { "digit above max on its own", IN("7"), 5, -1, 0 },
    { "at max", IN("65535"), 65535, 0, 65535 },
    { "one above max", IN("65536"), 65535, -1, 0 },
    { "INT32_MAX", IN("2147483647"), INT32_MAX, 0, INT32_MAX },
    { "INT32_MAX + 1", IN("2147483648"), INT32_MAX, -1, 0 },
    { "UINT64_MAX", IN("18446744073709551615"), UINT64_MAX, 0, UINT64_MAX },
    { "UINT64_MAX with max one below", IN("18446744073709551615"),
      UINT64_MAX - 1, -1, 0 },
    { "UINT64_MAX + 1 (20 digits)", IN("18446744073709551616"), UINT64_MAX, -1,
      0 },
    { "20 nines", IN("99999999999999999999"), UINT64_MAX, -1, 0 },
    { "30 digits", IN("123456789012345678901234567890"), UINT64_MAX, -1, 0 },
    { "21 digits, 10 x UINT64_MAX", IN("184467440737095516150"), UINT64_MAX, -1,
      0 },
    { "leading zeros of any length", IN("000000000000000000000000000042"), 100,
      0, 42 },
    { "only zeros", IN("00000000000000000000000000"), 0, 0, 0 },
    { "minus", IN("-1"), UINT64_MAX, -1, 0 },
    { "plus", IN("+1"), UINT64_MAX, -1, 0 },
    { "leading blank", IN(" 1"), UINT64_MAX, -1, 0 },
    { "trailing blank", IN("1 "), UINT64_MAX, -1, 0 },
    { "trailing letter", IN("12abc"), UINT64_MAX, -1, 0 },
    { "hex", IN("0x10"), UINT64_MAX, -1, 0 },
    { "decimal point", IN("1.5"), UINT64_MAX, -1, 0 },
    { "just below '0'", IN("/"), UINT64_MAX, -1, 0 },
    { "just above '9'", IN(":"), UINT64_MAX, -1, 0 },
    { "NUL inside the span", IN("1\0002"), UINT64_MAX, -1, 0 },
    { "high byte", IN("1\xb9"), UINT64_MAX, -1, 0 },
    { "span shorter than the string", "123", 2, UINT64_MAX, 0, 12 },
};

START_TEST(test_parse_uint_table)
{
    char *s = dup_exact(uints[_i].s, uints[_i].len);
    uint64_t out = SENTINEL;
    int rc = lbx_parse_uint(s, uints[_i].len, uints[_i].max, &out);

    ck_assert_msg(rc == uints[_i].rc, "%s: returned %d", uints[_i].what, rc);
    if (rc == 0) {
        ck_assert_msg(out == uints[_i].value, "%s: value %llu", uints[_i].what,
                      (unsigned long long)out);
    }
    else {
        ck_assert_msg(out == SENTINEL, "%s: *out changed on failure",
                      uints[_i].what);
    }
    free(s);
}
END_TEST

START_TEST(test_parse_uint_every_max)
{
    /* For each max 10^k - 1 and 10^k: the value max parses, max + 1 does
     * not, whatever the number of digits. */
    uint64_t max = 1;
    int k;

    for (k = 0; k < 19; k++) {
        uint64_t m, out;
        char text[24], *s;
        int j;

        for (j = 0; j < 2; j++) {
            m = max - 1 + (uint64_t)j;
            s = text + sizeof(text);
            *--s = '\0';
            {
                uint64_t v = m + 1;
                do {
                    *--s = (char)('0' + v % 10);
                    v /= 10;
                } while (v);
            }
            ck_assert_int_eq(lbx_parse_uint(s, strlen(s), m, &out), -1);
            ck_assert_int_eq(lbx_parse_uint(s, strlen(s), m + 1, &out), 0);
            ck_assert(out == m + 1);
        }
        max *= 10;
    }
}
END_TEST

/* ---- lbx_pct_decode ----------------------------------------------------- */

static const struct {
    const char *what;
    const char *in;
    size_t in_len;
    const char *out;
    size_t out_len;
} pcts[] = {
    { "empty", IN(""), IN("") },
    { "nothing to decode", IN("abc"), IN("abc") },
    { "one escape", IN("%41"), IN("A") },
    { "either case", IN("%4a%4A"), IN("JJ") },
    { "escape in the middle", IN("a%20b"), IN("a b") },
    { "%00 stays", IN("%00"), IN("%00") },
    { "%00 between escapes", IN("%41%00%42"), IN("A%00B") },
    { "not hex", IN("%zz"), IN("%zz") },
    { "second digit not hex", IN("%0g"), IN("%0g") },
    { "first digit not hex", IN("%g0"), IN("%g0") },
    { "lone %", IN("%"), IN("%") },
    { "% at the end", IN("ab%"), IN("ab%") },
    { "one digit at the end", IN("ab%4"), IN("ab%4") },
    { "%% then an escape", IN("%%41"), IN("%A") },
    { "short escape then an escape", IN("%4%41"), IN("%4A") },
    { "decoded once only", IN("%2541"), IN("%41") },
    { "plus is not a space", IN("a+b"), IN("a+b") },
    { "high byte", IN("%ff%80"), IN("\xff\x80") },
    { "newline", IN("%0a"), IN("\n") },
    { "NUL in the input is copied", IN("a\0b%41"), IN("a\0bA") },
    { "escape of %", IN("%25"), IN("%") },
    { "an escape cut by the span end", "%41", 2, IN("%4") },
};

START_TEST(test_pct_decode_table)
{
    size_t len = pcts[_i].in_len, got;
    char *src = dup_exact(pcts[_i].in, len);
    char *dst = malloc(len ? len : 1);

    ck_assert_ptr_nonnull(dst);
    got = lbx_pct_decode(src, len, dst);
    ck_assert_msg(got == pcts[_i].out_len, "%s: length %zu", pcts[_i].what,
                  got);
    ck_assert_msg(memcmp(dst, pcts[_i].out, got) == 0, "%s: wrong bytes",
                  pcts[_i].what);
    /* The source is only read. */
    ck_assert(memcmp(src, pcts[_i].in, len) == 0);
    /* In place gives the same. */
    got = lbx_pct_decode(src, len, src);
    ck_assert_msg(got == pcts[_i].out_len, "%s in place: length %zu",
                  pcts[_i].what, got);
    ck_assert_msg(memcmp(src, pcts[_i].out, got) == 0,
                  "%s in place: wrong bytes", pcts[_i].what);
    free(src);
    free(dst);
}
END_TEST

START_TEST(test_pct_decode_every_byte)
{
    /* Every byte value round-trips through its escape, except 0. */
    int c;

    for (c = 0; c < 256; c++) {
        static const char hex[] = "0123456789ABCDEF";
        char in[3] = { '%', hex[c >> 4], hex[c & 15] }, out[3];
        size_t n = lbx_pct_decode(in, 3, out);

        if (c == 0) {
            ck_assert_uint_eq(n, 3);
            ck_assert(memcmp(out, "%00", 3) == 0);
        }
        else {
            ck_assert_uint_eq(n, 1);
            ck_assert_int_eq((unsigned char)out[0], c);
        }
    }
}
END_TEST

TCase *lbx_tcase_lbx_text(void)
{
    TCase *tc = tcase_create("lbx_text");

    tcase_add_loop_test(tc, test_parse_uint_table, 0,
                        sizeof(uints) / sizeof(uints[0]));
    tcase_add_test(tc, test_parse_uint_every_max);
    tcase_add_loop_test(tc, test_pct_decode_table, 0,
                        sizeof(pcts) / sizeof(pcts[0]));
    tcase_add_test(tc, test_pct_decode_every_byte);
    return tc;
}
