/* Unit tests for hcheck_core.c. */
#include <check.h>
#include <string.h>

#include "lbx_tests.h"
#include "hcheck_core.h"

/* Feed a sequence of results ('+' pass, '-' fail) to a member that starts
 * in rotation; return the transitions as a string: 'D' disable, 'E'
 * enable, '.' nothing. */
static void run(const char *results, int passes, int fails, int start_out,
                int consecutive, char *got)
{
    struct lbx_hc_counts c = { 0, 0 };
    int out = start_out;
    size_t i;

    for (i = 0; results[i]; i++) {
        enum lbx_hc_change ch =
            lbx_hc_step(&c, out, results[i] == '+', passes, fails, consecutive);
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
    int passes, fails, start_out, consecutive;
    const char *expect;
} steps[] = {
    { "defaults 1/1", "+-+-", 1, 1, 0, 0, ".DED" },
    { "fails=3 needs three failures", "---", 1, 3, 0, 0, "..D" },
    { "failures need not be consecutive (stock)", "-+-+-", 1, 3, 0, 0,
      "....D" },
    { "passes=2 needs two passes to come back", "--++", 2, 1, 0, 0, "D..E" },
    { "passes need not be consecutive (stock)", "-+-+", 2, 1, 0, 0, "D..E" },
    { "failures while out change nothing", "-----+", 1, 1, 0, 0, "D....E" },
    { "member in error from traffic comes back on a pass", "+", 3, 1, 1, 0,
      "." },
    { "member in error from traffic: passes=1", "+", 1, 1, 1, 0, "E" },
    { "counts restart after a transition", "--+--", 1, 2, 0, 0, ".DE.D" },
    { "zero thresholds act on the first result", "-+", 0, 0, 0, 0, "DE" },
    { "consecutive: a pass between failures starts again", "-+-+-", 1, 3, 0, 1,
      "....." },
    { "consecutive: three failures in a row", "-+---", 1, 3, 0, 1, "....D" },
    { "consecutive: a failure between passes starts again", "-+-+", 2, 1, 0, 1,
      "D..." },
    { "consecutive: two passes in a row", "-+-++", 2, 1, 0, 1, "D...E" },
    { "consecutive: counts restart after a transition", "--+--", 1, 2, 0, 1,
      ".DE.D" },
};

START_TEST(test_state_machine)
{
    char got[32];

    run(steps[_i].results, steps[_i].passes, steps[_i].fails,
        steps[_i].start_out, steps[_i].consecutive, got);
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
    size_t n =
        lbx_hc_join_path(joins[_i].path, joins[_i].uri, out, sizeof(out));

    ck_assert_uint_eq(n, strlen(joins[_i].expect));
    ck_assert_str_eq(out, joins[_i].expect);
}
END_TEST

START_TEST(test_join_path_too_long)
{
    char out[8];

    ck_assert_uint_eq(lbx_hc_join_path("/abcd", "/efgh", out, sizeof(out)), 0);
    ck_assert_uint_eq(lbx_hc_join_path("/abc", "/ef", out, sizeof(out)), 7);
}
END_TEST

static const struct {
    const char *name;
    int ok;
} names[] = {
    { "ok", 1 },
    { "a", 1 },
    { "123456789012345", 1 },
    { "1234567890123456", 0 },
    { "", 0 },
    { NULL, 0 },
};

START_TEST(test_names)
{
    ck_assert_msg(lbx_hc_name_ok(names[_i].name) == names[_i].ok, "%s",
                  names[_i].name ? names[_i].name : "(null)");
}
END_TEST

TCase *lbx_tcase_hcheck_core(void)
{
    TCase *tc = tcase_create("hcheck_core");

    tcase_add_loop_test(tc, test_state_machine, 0,
                        sizeof(steps) / sizeof(steps[0]));
    tcase_add_loop_test(tc, test_join_path, 0,
                        sizeof(joins) / sizeof(joins[0]));
    tcase_add_test(tc, test_join_path_too_long);
    tcase_add_loop_test(tc, test_names, 0, sizeof(names) / sizeof(names[0]));
    return tc;
}
