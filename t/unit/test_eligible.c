/* Unit tests for lbmethods/eligible.c: which members an lbmethod may
 * choose from, and in which order. */
#include <check.h>
#include <string.h>

#include "lbx_tests.h"
#include "lbx_method.h"

#define U LBX_M_USABLE
#define N LBX_M_DRAIN
#define R LBX_M_SPARE
#define H LBX_M_STANDBY

struct retry_script {
    unsigned after[16]; /* flags a retry() of member i returns */
    int calls[16];
};

static unsigned scripted_retry(void *ctx, size_t idx)
{
    struct retry_script *rs = ctx;

    rs->calls[idx]++;
    return rs->after[idx];
}

static const struct {
    const char *what;
    struct lbx_member m[8];
    size_t n;
    const char *expect; /* candidate indices as digits, "" = none */
} tiers[] = {
    { "regulars in order", { { 0, U }, { 0, U }, { 0, U } }, 3, "012" },
    { "standby idle while a regular serves",
      { { 0, U }, { 0, U | H }, { 0, U } },
      3,
      "02" },
    { "standby only when all regulars are down",
      { { 0, 0 }, { 0, U | H }, { 0, 0 }, { 0, U | H } },
      4,
      "13" },
    { "one spare per hole, configuration order",
      { { 0, 0 }, { 0, U }, { 0, U | R }, { 0, U | R } },
      4,
      "12" },
    { "two holes take two spares",
      { { 0, 0 }, { 0, 0 }, { 0, U | R }, { 0, U | R }, { 0, U | R } },
      5,
      "23" },
    { "a draining regular is a hole",
      { { 0, U | N }, { 0, U }, { 0, U | R } },
      3,
      "12" },
    { "draining spares and standbys never serve",
      { { 0, 0 }, { 0, U | R | N }, { 0, U | H | N } },
      3,
      "" },
    { "spares before standbys",
      { { 0, 0 }, { 0, U | H }, { 0, U | R } },
      3,
      "2" },
    { "standby of lbset 0 before lbset 1",
      { { 1, U }, { 0, 0 }, { 0, U | H } },
      3,
      "2" },
    { "lbset 1 when lbset 0 has nothing",
      { { 1, U }, { 0, 0 }, { 1, U }, { 0, U | N } },
      4,
      "02" },
    { "gaps between lbsets", { { 7, U }, { 3, 0 }, { 99, U } }, 3, "0" },
    { "no lbset 0 at all", { { 2, U }, { 5, U } }, 2, "0" },
    { "nothing usable", { { 0, 0 }, { 1, 0 } }, 2, "" },
    { "empty balancer", { { 0, 0 } }, 0, "" },
    { "spare and standby flags together count as spare",
      { { 0, 0 }, { 0, U | R | H } },
      2,
      "1" },
};

START_TEST(test_eligible_tiers)
{
    struct lbx_member m[8];
    size_t out[8], count, k;
    const char *expect = tiers[_i].expect;

    memcpy(m, tiers[_i].m, sizeof(m));
    count = lbx_eligible(m, tiers[_i].n, NULL, NULL, out);
    ck_assert_msg(count == strlen(expect), "%s: %zu candidates, expected %zu",
                  tiers[_i].what, count, strlen(expect));
    for (k = 0; k < count; k++) {
        ck_assert_msg(out[k] == (size_t)(expect[k] - '0'),
                      "%s: candidate %zu is %zu", tiers[_i].what, k, out[k]);
    }
}
END_TEST

/* One tier alone (a preferred lbset): its own spare/standby rules, no
 * fallback to other lbsets, retries for its members only. */
static const struct {
    const char *what;
    struct lbx_member m[6];
    size_t n;
    int lbset;
    const char *expect;
} one_tier[] = {
    { "lbset 1 though lbset 0 serves",
      { { 0, U }, { 1, U }, { 1, U } },
      3,
      1,
      "12" },
    { "its standby when its regulars are down",
      { { 0, U }, { 1, 0 }, { 1, U | H } },
      3,
      1,
      "2" },
    { "a spare for its hole, not lbset 0's",
      { { 0, 0 }, { 0, U | R }, { 1, 0 }, { 1, U }, { 1, U | R } },
      5,
      1,
      "34" },
    { "nothing usable: no fallback", { { 0, U }, { 1, 0 } }, 2, 1, "" },
    { "an lbset no member has", { { 0, U }, { 1, U } }, 2, 5, "" },
};

START_TEST(test_eligible_one_tier)
{
    struct lbx_member m[6];
    struct retry_script rs;
    size_t out[6], count, k;
    const char *expect = one_tier[_i].expect;

    memcpy(m, one_tier[_i].m, sizeof(m));
    memset(&rs, 0, sizeof(rs));
    count = lbx_eligible_tier(m, one_tier[_i].n, one_tier[_i].lbset,
                              scripted_retry, &rs, out);
    ck_assert_msg(count == strlen(expect), "%s: %zu candidates, expected %zu",
                  one_tier[_i].what, count, strlen(expect));
    for (k = 0; k < count; k++) {
        ck_assert_msg(out[k] == (size_t)(expect[k] - '0'),
                      "%s: candidate %zu is %zu", one_tier[_i].what, k, out[k]);
    }
    for (k = 0; k < one_tier[_i].n; k++) {
        ck_assert_msg(!rs.calls[k] || m[k].lbset == one_tier[_i].lbset,
                      "%s: member %zu of another lbset retried",
                      one_tier[_i].what, k);
    }
}
END_TEST

START_TEST(test_retry_only_in_visited_tiers)
{
    /* lbset 0: member 0 errored but recovers on retry; lbset 1: member 1
     * errored.  Member 1 must not be retried: lbset 0 serves. */
    struct lbx_member m[3] = { { 0, 0 }, { 1, 0 }, { 0, U | N } };
    struct retry_script rs;
    size_t out[3], count;

    memset(&rs, 0, sizeof(rs));
    rs.after[0] = U;
    rs.after[1] = U;
    count = lbx_eligible(m, 3, scripted_retry, &rs, out);
    ck_assert_int_eq(count, 1);
    ck_assert_int_eq(out[0], 0);
    ck_assert_int_eq(rs.calls[0], 1);
    ck_assert_int_eq(rs.calls[1], 0);
    /* Draining members are not retried either. */
    ck_assert_int_eq(rs.calls[2], 0);
}
END_TEST

START_TEST(test_retry_then_next_tier)
{
    /* Member 0 stays down after its retry: lbset 1 is visited and its
     * errored member 1 gets a retry that brings it back. */
    struct lbx_member m[2] = { { 0, 0 }, { 1, 0 } };
    struct retry_script rs;
    size_t out[2], count;

    memset(&rs, 0, sizeof(rs));
    rs.after[1] = U;
    count = lbx_eligible(m, 2, scripted_retry, &rs, out);
    ck_assert_int_eq(count, 1);
    ck_assert_int_eq(out[0], 1);
    ck_assert_int_eq(rs.calls[0], 1);
    ck_assert_int_eq(rs.calls[1], 1);
}
END_TEST

START_TEST(test_pick_over_eligible_skips_standby)
{
    /* 3:2 with an idle standby: 100 picks split exactly 60/40. */
    struct lbx_member m[3] = { { 0, U }, { 0, U }, { 0, U | H } };
    int64_t weight[3] = { 300, 200, 100 };
    struct lbx_peer peers[3];
    int64_t credit[3] = { 0, 0, 0 };
    int count[3] = { 0, 0, 0 };
    size_t out[3];
    int k;

    for (k = 0; k < 100; k++) {
        struct lbx_pick_in in;
        size_t c = lbx_eligible(m, 3, NULL, NULL, out), i;
        long p;

        for (i = 0; i < c; i++) {
            peers[i].weight = weight[out[i]];
            peers[i].credit = credit[out[i]];
        }
        memset(&in, 0, sizeof(in));
        in.peers = peers;
        in.n = c;
        p = lbx_byrequests_pick(&in);
        for (i = 0; i < c; i++) {
            credit[out[i]] = peers[i].credit;
        }
        count[out[p]]++;
    }
    ck_assert_int_eq(count[0], 60);
    ck_assert_int_eq(count[1], 40);
    ck_assert_int_eq(count[2], 0);
}
END_TEST

TCase *lbx_tcase_eligible(void)
{
    TCase *tc = tcase_create("eligible");

    tcase_add_loop_test(tc, test_eligible_tiers, 0,
                        sizeof(tiers) / sizeof(tiers[0]));
    tcase_add_loop_test(tc, test_eligible_one_tier, 0,
                        sizeof(one_tier) / sizeof(one_tier[0]));
    tcase_add_test(tc, test_retry_only_in_visited_tiers);
    tcase_add_test(tc, test_retry_then_next_tier);
    tcase_add_test(tc, test_pick_over_eligible_skips_standby);
    return tc;
}
