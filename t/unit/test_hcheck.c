/* Unit tests for hcheck_core.c. */
#include <check.h>
#include <string.h>

#include "lbx_tests.h"
#include "hcheck_core.h"

/* Feed a sequence of results ('+' pass, '-' fail) to a member that starts
 * in rotation; return the transitions as a string: 'D' disable, 'E'
 * enable, '.' nothing. */
static void run(const char *results, int passes, int fails, int start_out,
                char *got)
{
    struct lbx_hc_counts c = { 0, 0 };
    int out = start_out;
    size_t i;

    for (i = 0; results[i]; i++) {
        enum lbx_hc_change ch = lbx_hc_step(&c, out, results[i] == '+',
                                            passes, fails);
        got[i] = ch == LBX_HC_DISABLE ? 'D' : ch == LBX_HC_ENABLE ? 'E' : '.';
        if (ch == LBX_HC_DISABLE) {
            out = 1;
        }
        else if (ch == LBX_HC_ENABLE) {
            out = 0;
        }
    }
    got[i] = '\0';
}

static const struct {
    const char *what;
    const char *results;
    int passes, fails, start_out;
    const char *expect;
} steps[] = {
    { "defaults 1/1", "+-+-", 1, 1, 0, ".DED" },
    { "fails=3 needs three failures", "---", 1, 3, 0, "..D" },
    { "failures need not be consecutive (stock)", "-+-+-", 1, 3, 0,
      "....D" },
    { "passes=2 needs two passes to come back", "--++", 2, 1, 0, "D..E" },
    { "passes need not be consecutive (stock)", "-+-+", 2, 1, 0, "D..E" },
    { "failures while out change nothing", "-----+", 1, 1, 0, "D....E" },
    { "member in error from traffic comes back on a pass", "+", 3, 1, 1,
      "." },
    { "member in error from traffic: passes=1", "+", 1, 1, 1, "E" },
    { "counts restart after a transition", "--+--", 1, 2, 0, ".DE.D" },
    { "zero thresholds act on the first result", "-+", 0, 0, 0, "DE" },
};

START_TEST(test_state_machine)
{
    char got[32];

    run(steps[_i].results, steps[_i].passes, steps[_i].fails,
        steps[_i].start_out, got);
    ck_assert_msg(strcmp(got, steps[_i].expect) == 0, "%s: got %s, want %s",
                  steps[_i].what, got, steps[_i].expect);
}
END_TEST

static const struct {
    const char *path, *uri, *expect;
} joins[] = {
    { "/app", "/status", "/app/status" },
    { "/app/", "/status", "/app/status" },
    { "/app", "status", "/app/status" },
    { "", "/health", "/health" },
    { "", "health", "/health" },
    { NULL, "/health", "/health" },
    { "/app", "", "/app" },
    { "/app/", "", "/app/" },
    { "", "", "/" },
    { "app", "x", "/app/x" },
    { "/", "/", "/" },
    { "/a//", "//b", "/a/b" },
};

START_TEST(test_join_path)
{
    char out[64];
    size_t n = lbx_hc_join_path(joins[_i].path, joins[_i].uri, out,
                                sizeof(out));

    ck_assert_uint_eq(n, strlen(joins[_i].expect));
    ck_assert_str_eq(out, joins[_i].expect);
}
END_TEST

START_TEST(test_join_path_too_long)
{
    char out[8];

    ck_assert_uint_eq(lbx_hc_join_path("/abcd", "/efgh", out, sizeof(out)),
                      0);
    ck_assert_uint_eq(lbx_hc_join_path("/abc", "/ef", out, sizeof(out)), 7);
}
END_TEST

START_TEST(test_names)
{
    const char *const names[] = { "ok", "NotMaint", "a" };

    ck_assert(lbx_hc_name_ok("ok"));
    ck_assert(lbx_hc_name_ok("123456789012345"));
    ck_assert(!lbx_hc_name_ok("1234567890123456"));
    ck_assert(!lbx_hc_name_ok(""));
    ck_assert(!lbx_hc_name_ok(NULL));
    ck_assert_int_eq(lbx_hc_name_find(names, 3, "notmaint"), 1);
    ck_assert_int_eq(lbx_hc_name_find(names, 3, "OK"), 0);
    ck_assert_int_eq(lbx_hc_name_find(names, 3, "o"), -1);
    ck_assert_int_eq(lbx_hc_name_find(names, 3, "okay"), -1);
    ck_assert_int_eq(lbx_hc_name_find(names, 3, ""), -1);
    ck_assert_int_eq(lbx_hc_name_find(names, 3, NULL), -1);
    ck_assert_int_eq(lbx_hc_name_find(names, 0, "ok"), -1);
}
END_TEST

static const struct {
    const char *what, *head;
    long expect;
    int status;
} heads[] = {
    { "complete", "HTTP/1.1 200 OK\r\nA: b\r\n\r\nbody", 25, 200 },
    { "bare LF", "HTTP/1.0 503 x\n\nrest", 16, 503 },
    { "no headers", "HTTP/1.1 204 No Content\r\n\r\n", 27, 204 },
    { "incomplete", "HTTP/1.1 200 OK\r\nA: b\r\n", 0, 200 },
    { "too short yet", "HTTP/1", 0, 0 },
    { "not HTTP", "SSH-2.0-OpenSSH\r\n\r\n", -1, 0 },
    { "bad status", "HTTP/1.1 2x0 OK\r\n\r\n", -1, 0 },
    { "status 600", "HTTP/1.1 600 OK\r\n\r\n", -1, 0 },
    { "HTTP/2 preface-like", "HTTP/2 200\r\n\r\n", -1, 0 },
};

START_TEST(test_parse_head)
{
    int status = 0;
    long n = lbx_hc_parse_head(heads[_i].head, strlen(heads[_i].head),
                               &status);

    ck_assert_msg(n == heads[_i].expect, "%s: %ld", heads[_i].what, n);
    if (n >= 0 && heads[_i].status) {
        ck_assert_int_eq(status, heads[_i].status);
    }
}
END_TEST

START_TEST(test_headers)
{
    const char *head = "HTTP/1.1 200 OK\r\nContent-Type:  text/plain \r\n"
                       "bogus line\r\nX-Empty:\r\n\r\n";
    size_t pos = 0, nl, vl;
    const char *n, *v;

    ck_assert(lbx_hc_next_header(head, strlen(head), &pos, &n, &nl, &v, &vl));
    ck_assert(nl == 12 && strncmp(n, "Content-Type", nl) == 0);
    ck_assert(vl == 10 && strncmp(v, "text/plain", vl) == 0);
    ck_assert(lbx_hc_next_header(head, strlen(head), &pos, &n, &nl, &v, &vl));
    ck_assert(nl == 7 && strncmp(n, "X-Empty", nl) == 0);
    ck_assert_uint_eq(vl, 0);
    ck_assert(!lbx_hc_next_header(head, strlen(head), &pos, &n, &nl, &v,
                                  &vl));
}
END_TEST

START_TEST(test_dechunk)
{
    char a[] = "5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\n\r\n";
    char b[] = "5\r\nhel";
    char c[] = "zz\r\n";
    char d[] = "ffffffffffffffffffff\r\nx";
    int complete;
    size_t n;

    n = lbx_hc_dechunk(a, strlen(a), &complete);
    ck_assert_uint_eq(n, 11);
    ck_assert(complete);
    ck_assert(memcmp(a, "hello world", 11) == 0);
    n = lbx_hc_dechunk(b, strlen(b), &complete);
    ck_assert_uint_eq(n, 3);
    ck_assert(!complete);
    ck_assert(memcmp(b, "hel", 3) == 0);
    ck_assert_uint_eq(lbx_hc_dechunk(c, strlen(c), &complete), 0);
    ck_assert(!complete);
    ck_assert_uint_eq(lbx_hc_dechunk(d, strlen(d), &complete), 0);
}
END_TEST

TCase *lbx_tcase_hcheck(void)
{
    TCase *tc = tcase_create("hcheck");

    tcase_add_loop_test(tc, test_state_machine, 0,
                        sizeof(steps) / sizeof(steps[0]));
    tcase_add_loop_test(tc, test_join_path, 0,
                        sizeof(joins) / sizeof(joins[0]));
    tcase_add_test(tc, test_join_path_too_long);
    tcase_add_test(tc, test_names);
    tcase_add_loop_test(tc, test_parse_head, 0,
                        sizeof(heads) / sizeof(heads[0]));
    tcase_add_test(tc, test_headers);
    tcase_add_test(tc, test_dechunk);
    return tc;
}
