/* Unit tests for cookie_core.c. */
#include <check.h>
#include <string.h>

#include "lbx_tests.h"
#include "cookie_core.h"

START_TEST(test_route_from_name)
{
    char a[LBX_ROUTE_GEN_LEN + 1], b[LBX_ROUTE_GEN_LEN + 1];
    char c[LBX_ROUTE_GEN_LEN + 1];

    lbx_route_from_name("http://10.0.0.1:8080", 20, a);
    lbx_route_from_name("http://10.0.0.1:8080", 20, b);
    lbx_route_from_name("http://10.0.0.2:8080", 20, c);
    ck_assert_uint_eq(strlen(a), LBX_ROUTE_GEN_LEN);
    ck_assert_str_eq(a, b); /* stable */
    ck_assert_str_ne(a, c);
    ck_assert_int_eq(a[0], 'r');
    ck_assert_uint_eq(strspn(a + 1, "abcdefghijklmnopqrstuvwxyz234567"),
                      LBX_ROUTE_GEN_LEN - 1);
}
END_TEST

static const struct {
    const char *value, *name;
    int expect;
} sets[] = {
    { "ROUTEID=.r1; Path=/", "ROUTEID", 1 },
    { "  ROUTEID =x", "ROUTEID", 1 },
    { "\tROUTEID\t=", "ROUTEID", 1 },
    { "routeid=x", "ROUTEID", 0 }, /* names are case-sensitive */
    { "ROUTEIDX=x", "ROUTEID", 0 },
    { "XROUTEID=x", "ROUTEID", 0 },
    { "ROUTEID", "ROUTEID", 0 }, /* no '=' */
    { "JSESSIONID=a.b; ROUTEID=c", "ROUTEID",
      0 }, /* attributes are not names */
    { "=x", "", 1 },
    { "", "ROUTEID", 0 },
};

START_TEST(test_sets)
{
    ck_assert_msg(lbx_set_cookie_sets(sets[_i].value, strlen(sets[_i].value),
                                      sets[_i].name, strlen(sets[_i].name))
                      == sets[_i].expect,
                  "%s", sets[_i].value);
}
END_TEST

static const struct {
    const char *text;
    int name_ok, value_ok;
} texts[] = {
    { "ROUTEID", 1, 1 },
    { "my_route-1.x", 1, 1 },
    { "/app/path", 0, 1 }, /* '/' is a separator in names */
    { ".example.com", 1, 1 },
    { "a b", 0, 0 },
    { "a;b", 0, 0 },
    { "a,b", 0, 0 },
    { "a=b", 0, 1 },
    { "a\"b", 0, 0 },
    { "a\\b", 0, 0 },
    { "a\x01", 0, 0 },
    { "\xc3\xa9", 0, 0 }, /* non-ASCII */
    { "", 0, 0 },
};

START_TEST(test_texts)
{
    ck_assert_msg(lbx_cookie_name_ok(texts[_i].text) == texts[_i].name_ok,
                  "name %s", texts[_i].text);
    ck_assert_msg(lbx_cookie_value_ok(texts[_i].text) == texts[_i].value_ok,
                  "value %s", texts[_i].text);
}
END_TEST

START_TEST(test_value_length)
{
    char v[300];

    memset(v, 'a', sizeof(v));
    v[255] = '\0';
    ck_assert(lbx_cookie_value_ok(v));
    v[255] = 'a';
    v[256] = '\0';
    ck_assert(!lbx_cookie_value_ok(v));
    ck_assert(!lbx_cookie_value_ok(NULL) && !lbx_cookie_name_ok(NULL));
}
END_TEST

#define N(a) (sizeof(a) / sizeof((a)[0]))

TCase *lbx_tcase_cookie_core(void)
{
    TCase *tc = tcase_create("cookie_core");

    tcase_add_test(tc, test_route_from_name);
    tcase_add_loop_test(tc, test_sets, 0, N(sets));
    tcase_add_loop_test(tc, test_texts, 0, N(texts));
    tcase_add_test(tc, test_value_length);
    return tc;
}
