/* Unit tests for outlier_core.c. */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "lbx_tests.h"
#include "outlier_core.h"

#define S 1000000ull /* a second in microseconds */

static const struct {
    uint64_t time, max;
    uint32_t level;
    uint64_t expect;
} durations[] = {
    { 10 * S, 300 * S, 0, 10 * S },
    { 10 * S, 300 * S, 1, 20 * S },
    { 10 * S, 300 * S, 4, 160 * S },
    { 10 * S, 300 * S, 5, 300 * S }, /* 320 capped */
    { 10 * S, 300 * S, 4000000000u, 300 * S },
    { 10 * S, 5 * S, 3, 10 * S }, /* cap below the base: the base */
    { 1, UINT64_MAX, 63, 1ull << 63 },
    { 1, UINT64_MAX, 64, UINT64_MAX }, /* no overflow */
    { 3, 3, 1, 3 },
};

START_TEST(test_duration)
{
    ck_assert_uint_eq(lbx_eject_duration(durations[_i].time, durations[_i].max,
                                         durations[_i].level),
                      durations[_i].expect);
}
END_TEST

START_TEST(test_level)
{
    ck_assert_uint_eq(lbx_eject_level(3, 5 * S, 300 * S), 3);
    ck_assert_uint_eq(lbx_eject_level(3, 300 * S, 300 * S), 0);
    ck_assert_uint_eq(lbx_eject_level(0, 0, 300 * S), 0);
}
END_TEST

static const struct {
    size_t out, size;
    unsigned share;
    int expect;
} shares[] = {
    /* out counts the ejected and the otherwise unusable members */
    { 0, 4, 50, 1 },  { 1, 4, 50, 1 },  { 2, 4, 50, 0 },  { 3, 4, 50, 0 },
    { 0, 2, 50, 1 },  { 1, 2, 50, 0 },  { 0, 4, 10, 0 }, /* one of four is 25 %: over 10 % */
    { 0, 10, 10, 1 }, { 1, 10, 10, 0 }, { 0, 1, 50, 0 }, /* a lone member is more than half */
    { 0, 1, 100, 1 }, { 3, 4, 100, 1 }, { 4, 4, 100, 0 }, { 0, 4, 0, 0 },
    { 0, 0, 50, 0 }, /* an empty lbset */
};

START_TEST(test_share)
{
    ck_assert_int_eq(
        lbx_eject_allowed(shares[_i].out, shares[_i].size, shares[_i].share),
        shares[_i].expect);
}
END_TEST

static const uint16_t listed[] = { 500, 503 };

static const struct {
    int status, timed_out, proxy_error;
    size_t n;
    int expect;
} failures[] = {
    { 200, 0, 0, 2, 0 },
    { 504, 1, 1, 0, 1 }, /* timed out */
    { 200, 1, 0, 0, 1 }, /* a timeout however it was answered */
    { 502, 0, 1, 0, 1 }, /* the proxy's own 502 */
    { 503, 0, 1, 0, 1 },
    { 502, 0, 0, 0, 0 }, /* the member's own 502, not listed */
    { 503, 0, 0, 2, 1 }, /* the member's own 503, listed */
    { 500, 0, 0, 2, 1 },
    { 500, 0, 0, 0, 0 },
    { 501, 0, 1, 2, 0 }, /* not a gateway failure, not listed */
    { 404, 0, 0, 2, 0 },
};

START_TEST(test_failure)
{
    ck_assert_int_eq(
        lbx_eject_is_failure(failures[_i].status, failures[_i].timed_out,
                             failures[_i].proxy_error, listed, failures[_i].n),
        failures[_i].expect);
}
END_TEST

static const struct {
    const char *text;
    int expect;
    const char *codes; /* the codes as "%u," each */
} lists[] = {
    { "500", 1, "500," },
    { "500,503", 2, "500,503," },
    { "502-504", 3, "502,503,504," },
    { "429,500-501,599", 4, "429,500,501,599," },
    { "400-415", 16, NULL },
    { "400-416", -1, NULL }, /* 17 codes */
    { "", -1, NULL },
    { "500,", -1, NULL },
    { ",500", -1, NULL },
    { "399", -1, NULL },
    { "600", -1, NULL },
    { "5000", -1, NULL },
    { "50", -1, NULL },
    { "504-502", -1, NULL },
    { "500 503", -1, NULL },
    { "500-", -1, NULL },
    { "abc", -1, NULL },
};

START_TEST(test_statuses)
{
    uint16_t out[LBX_EJECT_STATUS_MAX];
    char got[128] = "";
    int n = lbx_eject_parse_statuses(lists[_i].text, out, LBX_EJECT_STATUS_MAX);
    int i;

    ck_assert_msg(n == lists[_i].expect, "'%s': %d", lists[_i].text, n);
    if (lists[_i].codes) {
        for (i = 0; i < n; i++) {
            snprintf(got + strlen(got), sizeof(got) - strlen(got), "%u,",
                     (unsigned)out[i]);
        }
        ck_assert_str_eq(got, lists[_i].codes);
    }
}
END_TEST

static const struct {
    uint64_t since, now, window;
    unsigned expect;
} ramps[] = {
    { 0, 0, 0, 1000 }, /* no slow start */
    { 100 * S, 100 * S, 30 * S, 100 }, /* just back: the floor */
    { 100 * S, 115 * S, 30 * S, 550 }, /* half way */
    { 100 * S, 129 * S, 30 * S, 970 },
    { 100 * S, 130 * S, 30 * S, 1000 }, /* window over */
    { 100 * S, 500 * S, 30 * S, 1000 },
    { 100 * S, 99 * S, 30 * S, 100 }, /* clock behind */
    { 0, 86399 * S, 86400 * S, 999 }, /* the longest window, no overflow */
};

START_TEST(test_ramp)
{
    ck_assert_uint_eq(lbx_slow_start_permille(ramps[_i].since, ramps[_i].now,
                                              ramps[_i].window),
                      ramps[_i].expect);
}
END_TEST

static const struct {
    uint64_t rounds;
    int64_t weight, total;
    unsigned permille;
    uint64_t expect;
} allowances[] = {
    { 0, 100, 400, 100, 1 }, /* just back: one pick */
    { 1000, 100, 400, 100, 26 }, /* a quarter of 1000, 10 % of it, +1 */
    { 1000, 100, 400, 550, 138 },
    { 1000, 100, 400, 1000, 251 },
    { 1000, 300, 400, 100, 76 },
    { UINT64_MAX, 100, 100, 1000, (1ull << 40) + 1 }, /* no overflow */
    { 1000, 0, 400, 100, 1 }, /* nonsense weights: one pick */
    { 1000, 500, 400, 100, 1 },
};

START_TEST(test_allowed)
{
    ck_assert_uint_eq(
        lbx_slow_start_allowed(allowances[_i].rounds, allowances[_i].weight,
                               allowances[_i].total, allowances[_i].permille),
        allowances[_i].expect);
}
END_TEST

START_TEST(test_admit_edges)
{
    ck_assert(!lbx_slow_start_admit(0, 0));
    ck_assert(lbx_slow_start_admit(1000, UINT32_MAX));
    ck_assert(lbx_slow_start_admit(100, 0));
    ck_assert(!lbx_slow_start_admit(100, UINT32_MAX / 10 + 1));
    ck_assert(lbx_slow_start_admit(100, UINT32_MAX / 10 - 1));
}
END_TEST

/* A scripted generator (xorshift32): the admitted share over 100,000
 * draws is the per-mille asked for, within half a percent. */
START_TEST(test_admit_share)
{
    static const unsigned asked[] = { 100, 250, 550, 970 };
    uint32_t x = 2463534242u;
    size_t t;

    for (t = 0; t < sizeof(asked) / sizeof(asked[0]); t++) {
        unsigned admitted = 0, i;

        for (i = 0; i < 100000; i++) {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            admitted += (unsigned)lbx_slow_start_admit(asked[t], x);
        }
        ck_assert_msg(admitted > asked[t] * 100 - 500
                          && admitted < asked[t] * 100 + 500,
                      "%u per mille: %u of 100000", asked[t], admitted);
    }
}
END_TEST

static const struct {
    uint64_t requests, retries;
    unsigned pct, min;
    int expect;
} budgets[] = {
    { 0, 0, 20, 3, 1 }, /* the minimum first */
    { 0, 3, 20, 3, 0 },      { 100, 19, 20, 3, 1 },
    { 100, 20, 20, 3, 0 },   { 1000, 199, 20, 0, 1 },
    { 1000, 200, 20, 0, 0 }, { 10, 0, 0, 0, 0 }, /* no budget at all */
};

START_TEST(test_budget)
{
    ck_assert_int_eq(lbx_retry_allowed(budgets[_i].requests,
                                       budgets[_i].retries, budgets[_i].pct,
                                       budgets[_i].min),
                     budgets[_i].expect);
}
END_TEST

#define N(a) (sizeof(a) / sizeof((a)[0]))

TCase *lbx_tcase_outlier_core(void)
{
    TCase *tc = tcase_create("outlier_core");

    tcase_add_loop_test(tc, test_duration, 0, N(durations));
    tcase_add_test(tc, test_level);
    tcase_add_loop_test(tc, test_share, 0, N(shares));
    tcase_add_loop_test(tc, test_failure, 0, N(failures));
    tcase_add_loop_test(tc, test_statuses, 0, N(lists));
    tcase_add_loop_test(tc, test_ramp, 0, N(ramps));
    tcase_add_loop_test(tc, test_allowed, 0, N(allowances));
    tcase_add_test(tc, test_admit_edges);
    tcase_add_test(tc, test_admit_share);
    tcase_add_loop_test(tc, test_budget, 0, N(budgets));
    return tc;
}
