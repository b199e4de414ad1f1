/* Unit tests for sticky.c: table-driven, one loop iteration per case.
 *
 * Every input is copied into a heap buffer of exactly its length (no NUL
 * terminator) before the call, so that under ASan any read past the input
 * fails the test.  Expected results are offsets into the input, never
 * strings, so a right value at a wrong place still fails.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lbx_tests.h"
#include "sticky.h"

/* A literal and its length, embedded NULs included. */
#define IN(s) s, sizeof(s) - 1
#define NOT_FOUND 0, 0, 0

/* Exact-size heap copy: reading one byte past it trips ASan. */
static char *dup_exact(const char *s, size_t len)
{
    char *p = malloc(len ? len : 1);

    ck_assert_ptr_nonnull(p);
    if (len) {
        memcpy(p, s, len);
    }
    return p;
}

static void check_span(const char *label, int rc, struct lbx_span got,
                       const char *base, int want_rc, size_t want_off,
                       size_t want_len)
{
    ck_assert_msg(rc == want_rc, "%s: returned %d, want %d", label, rc,
                  want_rc);
    if (!want_rc) {
        ck_assert_msg(got.ptr == NULL && got.len == 0,
                      "%s: not found but span not cleared", label);
        return;
    }
    ck_assert_msg(got.ptr != NULL, "%s: found but ptr is NULL", label);
    ck_assert_msg(got.ptr == base + want_off && got.len == want_len,
                  "%s: got offset %ld len %zu, want offset %zu len %zu", label,
                  (long)(got.ptr - base), got.len, want_off, want_len);
}

/* ---- Cookie header ---------------------------------------------------- */

struct cookie_case {
    const char *label;
    const char *hdr;
    size_t hdr_len;
    const char *name;
    size_t name_len;
    int found;
    size_t off;
    size_t len;
};

static const struct cookie_case cookie_cases[] = {
    { "simple", IN("ROUTEID=abc.r1"), IN("ROUTEID"), 1, 8, 6 },
    { "at start, more follow", IN("ROUTEID=a.r1; other=x"), IN("ROUTEID"), 1, 8,
      4 },
    { "after '; '", IN("foo=bar; ROUTEID=a.r2"), IN("ROUTEID"), 1, 17, 4 },
    { "after ','", IN("foo=bar,ROUTEID=a.r3"), IN("ROUTEID"), 1, 16, 4 },
    { "after tab", IN("foo=bar\tROUTEID=a.r4"), IN("ROUTEID"), 1, 16, 4 },
    { "after \\v", IN("a=b\vROUTEID=x"), IN("ROUTEID"), 1, 12, 1 },
    { "after \\f", IN("a=b\fROUTEID=x"), IN("ROUTEID"), 1, 12, 1 },
    { "after \\r", IN("a=b\rROUTEID=x"), IN("ROUTEID"), 1, 12, 1 },
    { "after \\n", IN("a=b\nROUTEID=x"), IN("ROUTEID"), 1, 12, 1 },
    { "after 0xA0 (not C-locale space)", IN("a=b\xa0ROUTEID=x"), IN("ROUTEID"),
      NOT_FOUND },
    { "after '='", IN("x=ROUTEID=y"), IN("ROUTEID"), NOT_FOUND },
    { "XJSESSIONID is not JSESSIONID", IN("XJSESSIONID=abc.r1"),
      IN("JSESSIONID"), NOT_FOUND },
    { "XJSESSIONID skipped, JSESSIONID found",
      IN("XJSESSIONID=abc.r1; JSESSIONID=def.r2"), IN("JSESSIONID"), 1, 31, 6 },
    { "spaces before '='", IN("ROUTEID  =a.r1"), IN("ROUTEID"), 1, 10, 4 },
    { "space and tab around '=', value keeps its space", IN("ROUTEID \t= x"),
      IN("ROUTEID"), 1, 10, 2 },
    { "only spaces after name", IN("ROUTEID   "), IN("ROUTEID"), NOT_FOUND },
    { "empty value", IN("ROUTEID=;x"), IN("ROUTEID"), 1, 8, 0 },
    { "empty value before ','", IN("ROUTEID=,x"), IN("ROUTEID"), 1, 8, 0 },
    { "'ROUTEID=' at end", IN("ROUTEID="), IN("ROUTEID"), NOT_FOUND },
    { "'ROUTEID=' at end after another", IN("a=b; ROUTEID="), IN("ROUTEID"),
      NOT_FOUND },
    { "value ended by ','", IN("ROUTEID=a.r1,b=c"), IN("ROUTEID"), 1, 8, 4 },
    { "',' before ';'", IN("ROUTEID=a,b;c"), IN("ROUTEID"), 1, 8, 1 },
    { "';' before ','", IN("ROUTEID=a;b,c"), IN("ROUTEID"), 1, 8, 1 },
    { "quotes and trailing space kept", IN("ROUTEID=\"a.r1\" ; x"),
      IN("ROUTEID"), 1, 8, 7 },
    { "repeated: first wins", IN("ROUTEID=first.r1; ROUTEID=second.r2"),
      IN("ROUTEID"), 1, 8, 8 },
    { "repeated: first invalid, second wins",
      IN("xROUTEID=bad; ROUTEID=good.r1"), IN("ROUTEID"), 1, 22, 7 },
    { "repeated: first has no '=', second wins", IN("ROUTEID; ROUTEID=b.r2"),
      IN("ROUTEID"), 1, 17, 4 },
    /* Stock's resume point: two bytes past the byte compared with '='. */
    { "'ROUTEID ROUTEID=a.b' (resume quirk)", IN("ROUTEID ROUTEID=a.b"),
      IN("ROUTEID"), NOT_FOUND },
    { "'ROUTEID;ROUTEID=a.b' (resume quirk)", IN("ROUTEID;ROUTEID=a.b"),
      IN("ROUTEID"), NOT_FOUND },
    { "'ROUTEID;;ROUTEID=a.b' resumes exactly on the name",
      IN("ROUTEID;;ROUTEID=a.b"), IN("ROUTEID"), 1, 17, 3 },
    /* After a bad prefix stock retries one byte on; only a name that
     * overlaps itself by one byte can show that. */
    { "bad prefix retries at the next byte", IN("x;;;=v"), IN(";;"), 1, 5, 1 },
    { "NUL before name", IN("a=b\0; ROUTEID=x.r1"), IN("ROUTEID"), NOT_FOUND },
    { "NUL inside value ends it", IN("ROUTEID=ab\0cd"), IN("ROUTEID"), 1, 8,
      2 },
    { "NUL right after '='", IN("ROUTEID=\0x"), IN("ROUTEID"), NOT_FOUND },
    { "name longer than header", IN("ROUT"), IN("ROUTEID"), NOT_FOUND },
    { "name with NUL is cut there", IN("ROUTEID=a.r1"), IN("ROUTEID\0zz"), 1, 8,
      4 },
    { "case matters", IN("routeid=a.r1"), IN("ROUTEID"), NOT_FOUND },
    { "empty header", IN(""), IN("ROUTEID"), NOT_FOUND },
    /* header_len shorter than the text: nothing beyond it is looked at. */
    { "length cuts value", "ROUTEID=abc", 9, IN("ROUTEID"), 1, 8, 1 },
    { "length cuts after '='", "ROUTEID=abc", 8, IN("ROUTEID"), NOT_FOUND },
    { "length cuts the name", "ROUTEID=abc", 6, IN("ROUTEID"), NOT_FOUND },
};

#define N_COOKIE (sizeof(cookie_cases) / sizeof(cookie_cases[0]))

START_TEST(test_cookie_table)
{
    const struct cookie_case *tc = &cookie_cases[_i];
    char *hdr = dup_exact(tc->hdr, tc->hdr_len);
    char *name = dup_exact(tc->name, tc->name_len);
    struct lbx_span v = { "stale", 5 };
    int rc;

    rc = lbx_sticky_cookie(hdr, tc->hdr_len, name, tc->name_len, &v);
    check_span(tc->label, rc, v, hdr, tc->found, tc->off, tc->len);
    free(name);
    free(hdr);
}
END_TEST

/* A 10 KB header of other cookies with ours last. */
START_TEST(test_cookie_big)
{
    size_t cap = 10 * 1024 + 64, len = 0, want_off;
    char *hdr = malloc(cap);
    struct lbx_span v;
    int i;

    ck_assert_ptr_nonnull(hdr);
    for (i = 0; len < 10 * 1024; i++) {
        len += (size_t)snprintf(hdr + len, cap - len, "k%04d=vvvvvvvvvv; ", i);
    }
    memcpy(hdr + len, "ROUTEID=big.r5", 14);
    want_off = len + 8;
    len += 14;

    ck_assert_int_eq(lbx_sticky_cookie(hdr, len, "ROUTEID", 7, &v), 1);
    ck_assert_ptr_eq(v.ptr, hdr + want_off);
    ck_assert_uint_eq(v.len, 6);
    free(hdr);
}
END_TEST

/* 10 KB of names without '=' first: exercises the resume point many times. */
START_TEST(test_cookie_big_repeats)
{
    size_t len = 0, want_off;
    char *hdr = malloc(10 * 1024 + 16);
    struct lbx_span v;

    ck_assert_ptr_nonnull(hdr);
    while (len < 10 * 1024) {
        memcpy(hdr + len, "ROUTEID", 7);
        len += 7;
    }
    memcpy(hdr + len, "; ROUTEID=x.r1", 14);
    want_off = len + 10;
    len += 14;

    ck_assert_int_eq(lbx_sticky_cookie(hdr, len, "ROUTEID", 7, &v), 1);
    ck_assert_ptr_eq(v.ptr, hdr + want_off);
    ck_assert_uint_eq(v.len, 4);
    free(hdr);
}
END_TEST

/* ---- URL ------------------------------------------------------------- */

struct url_case {
    const char *label;
    const char *url;
    size_t url_len;
    const char *name;
    size_t name_len;
    int scolon;
    int found;
    size_t off;
    size_t len;
};

static const struct url_case url_cases[] = {
    { "path ;jsessionid", IN("/app;jsessionid=abc.r2"), IN("jsessionid"), 1, 1,
      16, 6 },
    { "path ;jsessionid, no scolon_delim", IN("/app;jsessionid=abc.r2"),
      IN("jsessionid"), 0, 1, 16, 6 },
    { "query", IN("/app?routeid=x.r1&a=b"), IN("routeid"), 0, 1, 13, 4 },
    { "xrouteid= matches routeid", IN("/p?xrouteid=v.r9"), IN("routeid"), 0, 1,
      12, 4 },
    { "ended by '?'", IN("/a;routeid=v.r1?x=1"), IN("routeid"), 0, 1, 11, 4 },
    { "ended by '&'", IN("/?routeid=v.r1&y"), IN("routeid"), 0, 1, 10, 4 },
    { "';' kept without scolon_delim", IN("/a;routeid=v.r1;foo"), IN("routeid"),
      0, 1, 11, 8 },
    { "';' ends with scolon_delim", IN("/a;routeid=v.r1;foo"), IN("routeid"), 1,
      1, 11, 4 },
    { "path param then ';' param, no scolon_delim",
      IN("/app;jsessionid=abc.r2;foo=1"), IN("jsessionid"), 0, 1, 16, 12 },
    { "leading '&' skipped", IN("/?routeid=&x=a.r1"), IN("routeid"), 0, 1, 11,
      6 },
    { "leading '??&&' skipped", IN("/?routeid=??&&v"), IN("routeid"), 0, 1, 14,
      1 },
    { "leading ';' skipped with scolon_delim", IN("/;routeid=;v.r1"),
      IN("routeid"), 1, 1, 11, 4 },
    { "leading ';' kept without scolon_delim", IN("/;routeid=;v.r1"),
      IN("routeid"), 0, 1, 10, 5 },
    { "only delimiters", IN("/?routeid=&&"), IN("routeid"), 0, NOT_FOUND },
    { "only delimiters, ';' too", IN("/?routeid=&;?"), IN("routeid"), 1,
      NOT_FOUND },
    { "'routeidrouteid=a.b' (resume quirk)", IN("routeidrouteid=a.b"),
      IN("routeid"), 0, NOT_FOUND },
    { "'routeidXrouteid=a.b' resumes exactly on the name",
      IN("routeidXrouteid=a.b"), IN("routeid"), 0, 1, 16, 3 },
    { "value may contain the name and '='", IN("routeid=routeid=a.b"),
      IN("routeid"), 0, 1, 8, 11 },
    { "first name= decides", IN("/?routeid=a.r1&routeid=b.r2"), IN("routeid"),
      0, 1, 10, 4 },
    { "later name= after one without '='", IN("/routeid/?routeid=b.r2"),
      IN("routeid"), 0, 1, 18, 4 },
    { "name at very end", IN("/path/routeid"), IN("routeid"), 0, NOT_FOUND },
    { "'name=' at end", IN("/p?routeid="), IN("routeid"), 0, NOT_FOUND },
    { "empty input", IN(""), IN("routeid"), 0, NOT_FOUND },
    { "name longer than input", IN("/r"), IN("routeid"), 0, NOT_FOUND },
    { "case matters", IN("/?ROUTEID=a.r1"), IN("routeid"), 0, NOT_FOUND },
    { "NUL before name", IN("/p?a=b\0routeid=x.r1"), IN("routeid"), 0,
      NOT_FOUND },
    { "NUL inside value ends it", IN("/p?routeid=ab\0cd"), IN("routeid"), 0, 1,
      11, 2 },
    { "NUL right after '='", IN("/p?routeid=\0x"), IN("routeid"), 0,
      NOT_FOUND },
    { "name with NUL is cut there", IN("/?routeid=a.r1"), IN("routeid\0x"), 0,
      1, 10, 4 },
    { "length cuts value", "/?routeid=abc", 11, IN("routeid"), 0, 1, 10, 1 },
    { "length cuts after '='", "/?routeid=abc", 10, IN("routeid"), 0,
      NOT_FOUND },
};

#define N_URL (sizeof(url_cases) / sizeof(url_cases[0]))

START_TEST(test_url_table)
{
    const struct url_case *tc = &url_cases[_i];
    char *url = dup_exact(tc->url, tc->url_len);
    char *name = dup_exact(tc->name, tc->name_len);
    struct lbx_span v = { "stale", 5 };
    int rc;

    rc = lbx_sticky_url_param(url, tc->url_len, name, tc->name_len, tc->scolon,
                              &v);
    check_span(tc->label, rc, v, url, tc->found, tc->off, tc->len);
    free(name);
    free(url);
}
END_TEST

/* ---- Route split ----------------------------------------------------- */

struct route_case {
    const char *label;
    const char *value;
    size_t value_len;
    char sep;
    int found;
    size_t off;
    size_t len;
};

static const struct route_case route_cases[] = {
    { "a.r1", IN("a.r1"), '.', 1, 2, 2 },
    { "a.b.r1: first separator", IN("a.b.r1"), '.', 1, 2, 4 },
    { "r1: no separator, no route", IN("r1"), '.', NOT_FOUND },
    { "abc.: empty route", IN("abc."), '.', 1, 4, 0 },
    { ".r1", IN(".r1"), '.', 1, 1, 2 },
    { "sep Off: whole value", IN("a.r1"), '\0', 1, 0, 4 },
    { "sep Off, empty value", IN(""), '\0', 1, 0, 0 },
    { "empty value", IN(""), '.', NOT_FOUND },
    { "custom sep '_'", IN("abc_r7"), '_', 1, 4, 2 },
    { "custom sep '_', only '.' present", IN("a.r1"), '_', NOT_FOUND },
    { "high-byte sep", IN("a\xe9r"), (char)0xe9, 1, 2, 1 },
    { "NUL before sep", IN("ab\0.r1"), '.', NOT_FOUND },
    { "NUL inside route ends it", IN("a.r\0x"), '.', 1, 2, 1 },
    { "sep Off, NUL ends value", IN("ab\0cd"), '\0', 1, 0, 2 },
};

#define N_ROUTE (sizeof(route_cases) / sizeof(route_cases[0]))

START_TEST(test_route_table)
{
    const struct route_case *tc = &route_cases[_i];
    char *buf = dup_exact(tc->value, tc->value_len);
    struct lbx_span value = { buf, tc->value_len };
    struct lbx_span r = { "stale", 5 };
    int rc;

    rc = lbx_sticky_route(value, tc->sep, &r);
    check_span(tc->label, rc, r, buf, tc->found, tc->off, tc->len);
    free(buf);
}
END_TEST

/* NULL inputs are refused, not dereferenced. */
START_TEST(test_null_inputs)
{
    struct lbx_span v = { "stale", 5 };
    struct lbx_span none = { NULL, 3 };

    ck_assert_int_eq(lbx_sticky_url_param(NULL, 5, "r", 1, 0, &v), 0);
    ck_assert_ptr_null(v.ptr);
    ck_assert_int_eq(lbx_sticky_url_param("r=a", 3, NULL, 0, 0, &v), 0);
    ck_assert_ptr_null(v.ptr);
    ck_assert_int_eq(lbx_sticky_cookie(NULL, 5, "r", 1, &v), 0);
    ck_assert_ptr_null(v.ptr);
    ck_assert_int_eq(lbx_sticky_cookie("r=a", 3, NULL, 0, &v), 0);
    ck_assert_ptr_null(v.ptr);
    ck_assert_int_eq(lbx_sticky_route(none, '.', &v), 0);
    ck_assert_ptr_null(v.ptr);
    ck_assert_int_eq(lbx_sticky_route(none, '\0', &v), 0);
    ck_assert_ptr_null(v.ptr);
    ck_assert_uint_eq(v.len, 0);
}
END_TEST

/* The two steps chained, as the module uses them. */
START_TEST(test_cookie_then_route)
{
    static const char hdr[] = "lang=en; JSESSIONID=8F3A.node2; x=y";
    struct lbx_span v, r;

    ck_assert_int_eq(
        lbx_sticky_cookie(hdr, sizeof(hdr) - 1, "JSESSIONID", 10, &v), 1);
    ck_assert_ptr_eq(v.ptr, hdr + 20);
    ck_assert_uint_eq(v.len, 10);
    ck_assert_int_eq(lbx_sticky_route(v, '.', &r), 1);
    ck_assert_ptr_eq(r.ptr, hdr + 25);
    ck_assert_uint_eq(r.len, 5);
}
END_TEST

TCase *lbx_tcase_sticky(void)
{
    TCase *tc = tcase_create("sticky");

    tcase_add_loop_test(tc, test_cookie_table, 0, (int)N_COOKIE);
    tcase_add_test(tc, test_cookie_big);
    tcase_add_test(tc, test_cookie_big_repeats);
    tcase_add_loop_test(tc, test_url_table, 0, (int)N_URL);
    tcase_add_loop_test(tc, test_route_table, 0, (int)N_ROUTE);
    tcase_add_test(tc, test_null_inputs);
    tcase_add_test(tc, test_cookie_then_route);
    return tc;
}
