/* Unit tests for manager_json.c: the JSON write endpoint's body parser. */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lbx_tests.h"
#include "manager_json.h"

#define MAXP 8

static struct lbx_mgr_param pairs[MAXP + 1];
static struct lbx_json_error err;
static char *out;

static int parse_n(const char *in, size_t len)
{
    free(out);
    /* Exactly len + 1 bytes, so ASan sees any write past the promise. */
    out = malloc(len + 1);
    memset(pairs, 0, sizeof(pairs));
    return lbx_mgr_parse_json(in, len, out, pairs, MAXP, &err);
}

static int parse(const char *in)
{
    return parse_n(in, strlen(in));
}

static const struct {
    const char *in;
    int n;
    const char *key, *val; /* the last pair */
} accepted[] = {
    { "{}", 0, NULL, NULL },
    { " \r\n\t{ } \n", 0, NULL, NULL },
    { "{\"b\":\"c1\"}", 1, "b", "c1" },
    { "{\"w_lf\": 5}", 1, "w_lf", "5" },
    { "{\"w_lf\": -0.5e+3}", 1, "w_lf", "-0.5e+3" },
    { "{\"w_lf\": 10E2}", 1, "w_lf", "10E2" },
    { "{\"w_status_D\": true}", 1, "w_status_D", "1" },
    { "{\"w_status_D\": false}", 1, "w_status_D", "0" },
    { "{\"a\":1, \"b\" : \"x\" ,\"c\":\"\"}", 3, "c", "" },
    { "{\"s\":\"q\\\" b\\\\ s\\/ \\b\\f\\n\\r\\t\"}", 1, "s",
      "q\" b\\ s/ \b\f\n\r\t" },
    { "{\"u\":\"\\u00e9\\u20AC\\ud83d\\ude00\"}", 1, "u",
      "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80" },
    { "{\"raw\":\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"}", 1, "raw",
      "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80" },
    { "{\"\\u0062\":\"k\"}", 1, "b", "k" },
};

START_TEST(test_accepted)
{
    int n = parse(accepted[_i].in);

    ck_assert_msg(n == accepted[_i].n, "%s: %d (%s)", accepted[_i].in, n,
                  err.msg);
    if (n > 0) {
        ck_assert_str_eq(pairs[n - 1].key, accepted[_i].key);
        ck_assert_str_eq(pairs[n - 1].val, accepted[_i].val);
    }
    ck_assert_ptr_null(pairs[MAXP].key);
}
END_TEST

static const struct {
    const char *in;
    const char *msg; /* the start of the message */
    const char *key; /* the key named, or NULL */
} refused[] = {
    { "", "the body must be one JSON object", NULL },
    { "[1]", "the body must be one JSON object", NULL },
    { "\"b\"", "the body must be one JSON object", NULL },
    { "{", "a key (a string) was expected", NULL },
    { "{\"b\"", "':' was expected", "b" },
    { "{\"b\":", "a value is missing", "b" },
    { "{\"b\":\"x\"", "',' or '}' was expected", NULL },
    { "{\"b\":\"x\",}", "a key (a string) was expected", NULL },
    { "{\"b\":\"x\"} x", "nothing may follow", NULL },
    { "{\"b\":\"x\"}{}", "nothing may follow", NULL },
    { "{b:1}", "a key (a string) was expected", NULL },
    { "{\"\":1}", "an empty key", NULL },
    { "{\"b\":1,\"b\":2}", "the key is given twice", "b" },
    { "{\"w_lf\":null}", "null is not a value here", "w_lf" },
    { "{\"w\":{\"x\":1}}", "objects and arrays", "w" },
    { "{\"w\":[1]}", "objects and arrays", "w" },
    { "{\"w_lf\":01}", "',' or '}' was expected", NULL },
    { "{\"w_lf\":1.}", "a digit must follow the decimal point", "w_lf" },
    { "{\"w_lf\":1e}", "a digit must follow the exponent", "w_lf" },
    { "{\"w_lf\":+1}", "a value must be", "w_lf" },
    { "{\"w_lf\":-}", "a value must be", "w_lf" },
    { "{\"w_lf\":tru}", "a value must be", "w_lf" },
    { "{\"w_lf\":nul}", "a value must be", "w_lf" },
    { "{\"w\":\"a\\x\"}", "unknown escape", "w" },
    { "{\"w\":\"a\\u12\"}", "\\u needs four hex digits", "w" },
    { "{\"w\":\"\\u0000\"}", "\\u0000: NUL is not allowed", "w" },
    { "{\"w\":\"\\udc00\"}", "a lone low surrogate", "w" },
    { "{\"w\":\"\\ud800x\"}", "a high surrogate without", "w" },
    { "{\"w\":\"\\ud800\\u0041\"}", "a high surrogate without", "w" },
    { "{\"w\":\"a\tb\"}", "a control character", "w" },
    { "{\"w\":\"\xc0\xaf\"}", "invalid UTF-8", "w" },
    { "{\"w\":\"\xe0\x80\xaf\"}", "invalid UTF-8", "w" },
    { "{\"w\":\"\xed\xa0\x80\"}", "invalid UTF-8", "w" },
    { "{\"w\":\"\xf4\x90\x80\x80\"}", "invalid UTF-8", "w" },
    { "{\"w\":\"\xff\"}", "invalid UTF-8", "w" },
    { "{\"w\":\"\xc3\"}", "invalid UTF-8", "w" },
    { "{\"w\":\"abc", "unterminated string", "w" },
    { "{\"w\":\"abc\\", "unterminated string", "w" },
    { "{\"a\":1,\"b\":2,\"c\":3,\"d\":4,\"e\":5,\"f\":6,\"g\":7,\"h\":8,"
      "\"i\":9}",
      "too many keys", NULL },
};

START_TEST(test_refused)
{
    int n = parse(refused[_i].in);

    ck_assert_msg(n == -1, "%s accepted", refused[_i].in);
    ck_assert_msg(strncmp(err.msg, refused[_i].msg, strlen(refused[_i].msg))
                      == 0,
                  "%s: %s", refused[_i].in, err.msg);
    ck_assert_ptr_nonnull(strstr(err.msg, "(at byte "));
    if (refused[_i].key) {
        ck_assert_ptr_nonnull(err.key);
        ck_assert_str_eq(err.key, refused[_i].key);
    }
    else {
        ck_assert_ptr_null(err.key);
    }
    ck_assert_ptr_null(pairs[MAXP].key);
}
END_TEST

START_TEST(test_embedded_nul_byte)
{
    /* A raw NUL is a control character, even with a valid rest. */
    static const char in[] = "{\"w\":\"a\0b\"}";

    ck_assert_int_eq(parse_n(in, sizeof(in) - 1), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "control character"));
}
END_TEST

static const struct {
    const char *key;
    int known;
} keys[] = {
    { "b", 1 },          { "w", 1 },          { "nonce", 1 },
    { "w_lf", 1 },       { "w_status_D", 1 }, { "w_status_C", 1 },
    { "w_status_X", 0 }, { "w_status_", 0 },  { "w_status_DD", 0 },
    { "b_nwrkr", 1 },    { "b_wyes", 1 },     { "w_remove", 1 },
    { "xml", 0 },        { "format", 0 },     { "w_LF", 0 },
    { "", 0 },           { "lf", 0 },
};

START_TEST(test_known_key)
{
    ck_assert_msg(lbx_mgr_known_key(keys[_i].key) == keys[_i].known, "%s",
                  keys[_i].key);
}
END_TEST

static const struct {
    const char *in;
    size_t len;
} utf8[] = {
    { "a", 1 },
    { "\x7f", 1 },
    { "\xc3\xa9", 2 },
    { "\xe2\x82\xac", 3 },
    { "\xf0\x9f\x98\x80", 4 },
    { "\xf4\x8f\xbf\xbf", 4 },
    { "\xe2\x82", 0 },
    { "\xff", 0 },
    { "\x80", 0 },
    { "\xc0\xaf", 0 },
    { "\xc1\xbf", 0 },
    { "\xe0\x80\xaf", 0 },
    { "\xed\xa0\x80", 0 },
    { "\xf4\x90\x80\x80", 0 },
    { "\xf5\x80\x80\x80", 0 },
    { "\xc3\x28", 0 },
};

START_TEST(test_utf8_len)
{
    ck_assert_uint_eq(lbx_utf8_len(utf8[_i].in, strlen(utf8[_i].in)),
                      utf8[_i].len);
}
END_TEST

/* A random string of printable ASCII, controls, and 2- to 4-byte
 * characters, written as the inside of a JSON string with escapes chosen
 * at random. */
static void random_text(uint64_t *s, char *plain, char *json)
{
    int len = (int)(lbx_test_random(s) % 12), i;

    for (i = 0; i < len; i++) {
        uint64_t r = lbx_test_random(s);
        unsigned c = (unsigned)(r >> 8) % 0x7F + 1;

        switch (r % 4) {
        case 0: /* \u escape of a 1- to 3-byte code point */
            c = (unsigned)(r >> 16) % 0xD000 + 1;
            json += sprintf(json, "\\u%04x", c);
            if (c < 0x80) {
                *plain++ = (char)c;
            }
            else if (c < 0x800) {
                *plain++ = (char)(0xC0 | c >> 6);
                *plain++ = (char)(0x80 | (c & 0x3F));
            }
            else {
                *plain++ = (char)(0xE0 | c >> 12);
                *plain++ = (char)(0x80 | (c >> 6 & 0x3F));
                *plain++ = (char)(0x80 | (c & 0x3F));
            }
            break;
        case 1: /* a raw 4-byte character */
            memcpy(json, "\xf0\x9f\x98\x80", 4);
            memcpy(plain, "\xf0\x9f\x98\x80", 4);
            json += 4;
            plain += 4;
            break;
        default:
            if (c < 0x20 || c == '"' || c == '\\') {
                json += sprintf(json, "\\u%04x", c);
            }
            else {
                *json++ = (char)c;
            }
            *plain++ = (char)c;
        }
    }
    *json = '\0';
    *plain = '\0';
}

/* 2,000 random objects: every key and value comes back as it was. */
START_TEST(test_random_round_trip)
{
    uint64_t seed = 20261203;
    char plain[MAXP][2][64], json[2048];
    int round, i;

    for (round = 0; round < 2000; round++) {
        int n = (int)(lbx_test_random(&seed) % (MAXP + 1));
        char *j = json;

        j += sprintf(j, "{");
        for (i = 0; i < n; i++) {
            char kjson[400], vjson[400];

            /* Keys made unique by a numbered prefix. */
            sprintf(plain[i][0], "k%d_", i);
            random_text(&seed, plain[i][0] + 3, kjson);
            random_text(&seed, plain[i][1], vjson);
            j += sprintf(j, "%s\"k%d_%s\" : \"%s\"", i ? ", " : "", i, kjson,
                         vjson);
        }
        sprintf(j, "}");
        ck_assert_int_eq(parse(json), n);
        for (i = 0; i < n; i++) {
            ck_assert_str_eq(pairs[i].key, plain[i][0]);
            ck_assert_str_eq(pairs[i].val, plain[i][1]);
        }
    }
}
END_TEST

TCase *lbx_tcase_manager_json(void)
{
    TCase *tc = tcase_create("manager_json");

    tcase_add_loop_test(tc, test_accepted, 0,
                        sizeof(accepted) / sizeof(accepted[0]));
    tcase_add_loop_test(tc, test_refused, 0,
                        sizeof(refused) / sizeof(refused[0]));
    tcase_add_test(tc, test_embedded_nul_byte);
    tcase_add_loop_test(tc, test_known_key, 0, sizeof(keys) / sizeof(keys[0]));
    tcase_add_loop_test(tc, test_utf8_len, 0, sizeof(utf8) / sizeof(utf8[0]));
    tcase_add_test(tc, test_random_round_trip);
    return tc;
}
