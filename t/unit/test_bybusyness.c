/* Unit tests for lbmethods/bybusyness.c. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "lbx_tests.h"
#include "lbx_method.h"

static long pick_with(long (*pick)(struct lbx_pick_in *), struct lbx_peer *p,
                      size_t n)
{
    struct lbx_pick_in in;

    memset(&in, 0, sizeof(in));
    in.peers = p;
    in.n = n;
    return pick(&in);
}

static const struct {
    const char *what;
    struct lbx_peer p[3];
    size_t n;
    long expect;
    int64_t credit_after[3];
} busy_cases[] = {
    { "fewest in flight wins",
      { { 100, 0, 3, 0, 0, 0, 0 },
        { 100, 0, 1, 0, 0, 0, 0 },
        { 100, 0, 2, 0, 0, 0, 0 } },
      3,
      1,
      { 100, -200, 100 } },
    { "busy beats credit",
      { { 100, 500, 2, 0, 0, 0, 0 }, { 100, -500, 1, 0, 0, 0, 0 } },
      2,
      1,
      { 600, -600 } },
    { "equal busy: more credit wins",
      { { 100, 0, 1, 0, 0, 0, 0 }, { 100, 50, 1, 0, 0, 0, 0 } },
      2,
      1,
      { 100, -50 } },
    { "equal busy and credit: weight decides (credit after this round)",
      { { 100, 0, 0, 0, 0, 0, 0 }, { 300, 0, 0, 0, 0, 0, 0 } },
      2,
      1,
      { 100, -100 } },
    { "complete tie: earlier member",
      { { 100, 0, 0, 0, 0, 0, 0 }, { 100, 0, 0, 0, 0, 0, 0 } },
      2,
      0,
      { -100, 100 } },
};

START_TEST(test_bybusyness_table)
{
    struct lbx_peer p[3];
    size_t k;

    memcpy(p, busy_cases[_i].p, sizeof(p));
    ck_assert_msg(pick_with(lbx_bybusyness_pick, p, busy_cases[_i].n)
                      == busy_cases[_i].expect,
                  "%s", busy_cases[_i].what);
    for (k = 0; k < busy_cases[_i].n; k++) {
        ck_assert_msg(p[k].credit == busy_cases[_i].credit_after[k],
                      "%s: credit[%zu] = %lld", busy_cases[_i].what, k,
                      (long long)p[k].credit);
    }
}
END_TEST

START_TEST(test_bybusyness_idle_follows_weights)
{
    /* Nothing ever in flight: bybusyness degenerates to byrequests. */
    struct lbx_peer p[2] = { { 100, 0, 0, 0, 0, 0, 0 },
                             { 200, 0, 0, 0, 0, 0, 0 } };
    const char *expect = "BABBAB";
    size_t k;

    for (k = 0; k < strlen(expect); k++) {
        ck_assert_int_eq(pick_with(lbx_bybusyness_pick, p, 2), expect[k] - 'A');
    }
}
END_TEST

/* Seeded simulation: member B serves 4x slower than A.  Requests arrive at
 * random; each pick sees the members' requests in flight.  bybusyness must
 * send A clearly more than B (byrequests, as control, splits 50/50). */
START_TEST(test_bybusyness_long_run_avoids_slow_member)
{
    enum {
        TICKS = 20000,
        MAXQ = 4096
    };
    static int finish_a[MAXQ], finish_b[MAXQ];
    struct lbx_peer p[2] = { { 100, 0, 0, 0, 0, 0, 0 },
                             { 100, 0, 0, 0, 0, 0, 0 } };
    int na = 0, nb = 0, count[2] = { 0, 0 }, t, i;
    uint32_t seed = 99;

    for (t = 0; t < TICKS; t++) {
        /* Retire finished requests. */
        for (i = 0; i < na; i++) {
            if (finish_a[i] <= t) {
                finish_a[i--] = finish_a[--na];
            }
        }
        for (i = 0; i < nb; i++) {
            if (finish_b[i] <= t) {
                finish_b[i--] = finish_b[--nb];
            }
        }
        p[0].busy = (uint64_t)na;
        p[1].busy = (uint64_t)nb;
        seed = seed * 1103515245u + 12345u;
        if ((seed >> 16) % 2 == 0 && na < MAXQ && nb < MAXQ) {
            long k = pick_with(lbx_bybusyness_pick, p, 2);
            count[k]++;
            if (k == 0) {
                finish_a[na++] = t + 2;
            }
            else {
                finish_b[nb++] = t + 8;
            }
        }
    }
    {
        double share_a = (double)count[0] / (count[0] + count[1]);
        ck_assert_msg(share_a > 0.65, "share of the fast member %.3f", share_a);
    }
}
END_TEST

/* Seeded simulation, 100,000 picks over weights 1:1:2 with random
 * arrivals and one-tick answers: ties on busy go by weight, so the shares
 * are 25/25/50 within 1 %; members still busy are skipped meanwhile. */
START_TEST(test_bybusyness_100k_weighted_ties)
{
    struct lbx_peer p[3] = { { 100, 0, 0, 0, 0, 0, 0 },
                             { 100, 0, 0, 0, 0, 0, 0 },
                             { 200, 0, 0, 0, 0, 0, 0 } };
    long count[3] = { 0, 0, 0 };
    uint32_t seed = 5;
    int t, i;

    for (t = 0; t < 100000; t++) {
        long k;

        seed = seed * 1103515245u + 12345u;
        /* now and then the previous answer is still out */
        for (i = 0; i < 3; i++) {
            if ((seed >> (16 + i)) % 4 != 0) {
                p[i].busy = 0;
            }
        }
        k = pick_with(lbx_bybusyness_pick, p, 3);
        ck_assert(k >= 0 && k < 3);
        count[k]++;
        p[k].busy++;
    }
    ck_assert_msg(labs(count[0] - 25000) <= 250, "A %ld", count[0]);
    ck_assert_msg(labs(count[1] - 25000) <= 250, "B %ld", count[1]);
    ck_assert_msg(labs(count[2] - 50000) <= 500, "C %ld", count[2]);
}
END_TEST

TCase *lbx_tcase_bybusyness(void)
{
    TCase *tc = tcase_create("bybusyness");

    tcase_add_loop_test(tc, test_bybusyness_table, 0,
                        sizeof(busy_cases) / sizeof(busy_cases[0]));
    tcase_add_test(tc, test_bybusyness_idle_follows_weights);
    tcase_add_test(tc, test_bybusyness_long_run_avoids_slow_member);
    tcase_add_test(tc, test_bybusyness_100k_weighted_ties);
    return tc;
}
