/* Unit tests for lbmethods/byrequests.c. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "lbx_tests.h"
#include "lbx_method.h"

/* Run `picks` byrequests picks over peers with the given weights (x1, the
 * core is scale-free) from zero credit; write the chosen indices. */
static void run_sequence(const int64_t *weights, size_t n, long *out,
                         size_t picks)
{
    struct lbx_peer peers[16];
    struct lbx_pick_in in;
    size_t i;

    memset(peers, 0, sizeof(peers));
    for (i = 0; i < n; i++) {
        peers[i].weight = weights[i];
    }
    memset(&in, 0, sizeof(in));
    in.peers = peers;
    in.n = n;
    for (i = 0; i < picks; i++) {
        out[i] = lbx_byrequests_pick(&in);
    }
}

static const struct {
    const char *what;
    int64_t weights[4];
    size_t n;
    const char *expect; /* one letter per pick, 'A' = index 0 */
} sequences[] = {
    /* Stock's schedule for loadfactor 1 and 2: B, A, B, B, A, B. */
    { "1:2", { 100, 200 }, 2, "BABBAB" },
    { "equal", { 100, 100, 100 }, 3, "ABCABC" },
    { "3:2", { 300, 200 }, 2, "ABABAABABA" },
    { "1:1:2", { 100, 100, 200 }, 3, "CABCCABC" },
    { "5:1", { 500, 100 }, 2, "AAABAAAAABAA" },
    { "single", { 700 }, 1, "AAAA" },
};

START_TEST(test_exact_sequences)
{
    long got[32];
    size_t len = strlen(sequences[_i].expect), k;

    run_sequence(sequences[_i].weights, sequences[_i].n, got, len);
    for (k = 0; k < len; k++) {
        ck_assert_msg(got[k] == sequences[_i].expect[k] - 'A',
                      "%s: pick %zu was %c, expected %c", sequences[_i].what,
                      k + 1, (char)('A' + got[k]), sequences[_i].expect[k]);
    }
}
END_TEST

START_TEST(test_empty_is_none)
{
    struct lbx_pick_in in;

    memset(&in, 0, sizeof(in));
    ck_assert_int_eq(lbx_byrequests_pick(&in), LBX_NONE);
}
END_TEST

START_TEST(test_credits_sum_to_zero_and_ties_go_first)
{
    struct lbx_peer peers[3] = { { 100, 0, 0, 0, 0, 0, 0 },
                                 { 100, 0, 0, 0, 0, 0, 0 },
                                 { 100, 0, 0, 0, 0, 0, 0 } };
    struct lbx_pick_in in;
    int k;

    memset(&in, 0, sizeof(in));
    in.peers = peers;
    in.n = 3;
    /* All equal: the earliest member wins the tie. */
    ck_assert_int_eq(lbx_byrequests_pick(&in), 0);
    ck_assert_int_eq(peers[0].credit, -200);
    ck_assert_int_eq(peers[1].credit, 100);
    for (k = 0; k < 50; k++) {
        lbx_byrequests_pick(&in);
        ck_assert_int_eq(peers[0].credit + peers[1].credit + peers[2].credit,
                         0);
    }
}
END_TEST

START_TEST(test_sticky_credit)
{
    /* A sticky hit on member 1: everyone earns its weight, 1 pays all. */
    struct lbx_peer peers[3] = { { 100, 5, 0, 0, 0, 0, 0 },
                                 { 200, 0, 0, 0, 0, 0, 0 },
                                 { 300, -5, 0, 0, 0, 0, 0 } };

    lbx_byrequests_credit(peers, 3, 1);
    ck_assert_int_eq(peers[0].credit, 105);
    ck_assert_int_eq(peers[1].credit, 200 - 600);
    ck_assert_int_eq(peers[2].credit, 295);
    /* An out-of-range winner only credits (the glue charges it itself). */
    lbx_byrequests_credit(peers, 3, 3);
    ck_assert_int_eq(peers[1].credit, -200);
}
END_TEST

/* Seeded simulation: random weight sets; over every full round of
 * sum(weights) picks (weights kept small) each member is picked exactly
 * weight times, and never twice in a row more often than needed. */
START_TEST(test_seeded_rounds_are_exact)
{
    uint32_t seed = 12345;
    int set;

    for (set = 0; set < 200; set++) {
        struct lbx_peer peers[8];
        struct lbx_pick_in in;
        size_t n, i;
        int64_t total = 0;
        int count[8] = { 0 };
        int round, pick;

        seed = seed * 1103515245u + 12345u;
        n = 1 + (seed >> 16) % 8;
        memset(peers, 0, sizeof(peers));
        for (i = 0; i < n; i++) {
            seed = seed * 1103515245u + 12345u;
            peers[i].weight = 1 + (seed >> 16) % 10;
            total += peers[i].weight;
        }
        memset(&in, 0, sizeof(in));
        in.peers = peers;
        in.n = n;
        for (round = 0; round < 3; round++) {
            for (pick = 0; pick < total; pick++) {
                long k = lbx_byrequests_pick(&in);
                ck_assert(k >= 0 && (size_t)k < n);
                count[k]++;
            }
            for (i = 0; i < n; i++) {
                ck_assert_int_eq(count[i], peers[i].weight * (round + 1));
                ck_assert_int_eq(peers[i].credit, 0);
            }
        }
    }
}
END_TEST

/* ---- the round as a schedule -------------------------------------------- */

static const struct {
    const char *what;
    int64_t weights[4];
    size_t n;
    size_t round; /* lbx_byrequests_round */
} rounds[] = {
    { "equal", { 100, 100, 100 }, 3, 3 },
    { "1:2 on stock's scale", { 100, 200 }, 2, 3 },
    { "gcd 50", { 150, 100 }, 2, 5 },
    { "coprime", { 101, 100 }, 2, 201 },
    { "single", { 700 }, 1, 1 },
    { "weight 1 is the least", { 1, 1 }, 2, 2 },
    { "weight 0 is refused", { 100, 0 }, 2, 0 },
    { "negative weight is refused", { 100, -100 }, 2, 0 },
    { "weight above INT32_MAX is refused",
      { 100, (int64_t)INT32_MAX + 1 },
      2,
      0 },
    { "weight INT32_MAX is fine", { INT32_MAX, INT32_MAX }, 2, 2 },
    { "round above LBX_SCHEDULE_ROUND_MAX is refused",
      { INT32_MAX, INT32_MAX - 1 },
      2,
      0 },
    { "no peers", { 0 }, 0, 0 },
};

/* Within the length limit but too much work: 100 distinct weights and a
 * round of 194,950 picks (19.5 million steps) is refused; 40 distinct
 * weights and a round of 21,750 picks (870,000 steps) is worked out. */
START_TEST(test_round_work_limit)
{
    static int64_t w[100];
    size_t i, k;

    for (i = 0; i < 100; i++) {
        w[i] = 1900 + (int64_t)i;
    }
    ck_assert_uint_eq(lbx_byrequests_round(w, 100), 0);
    for (i = 0; i < 100; i++) {
        w[i] = 200 + (int64_t)(i % 40);
    }
    k = lbx_byrequests_round(w, 100);
    ck_assert_uint_eq(k, 21750);
}
END_TEST

START_TEST(test_round_lengths)
{
    ck_assert_msg(lbx_byrequests_round(rounds[_i].weights, rounds[_i].n)
                      == rounds[_i].round,
                  "%s", rounds[_i].what);
}
END_TEST

/* The schedule is the walk's own sequence from zero credits, for the
 * exact-sequence table above and for seeded random weight sets with up
 * to 64 peers and up to 100 distinct weights (stock's 1..100 x100). */
static void assert_schedule_is_walk(const int64_t *weights, size_t n)
{
    static struct lbx_peer peers[64];
    static uint32_t sched[64 * 100];
    static char scratch[LBX_SCHEDULE_SCRATCH(64)];
    struct lbx_pick_in in;
    size_t len = lbx_byrequests_round(weights, n), t, i;
    int64_t total = 0;

    ck_assert(len > 0 && len <= sizeof(sched) / sizeof(sched[0]));
    ck_assert_uint_eq(lbx_byrequests_schedule(weights, n, sched, len, scratch),
                      len);
    memset(peers, 0, sizeof(peers));
    for (i = 0; i < n; i++) {
        peers[i].weight = weights[i];
        total += weights[i];
    }
    memset(&in, 0, sizeof(in));
    in.peers = peers;
    in.n = n;
    for (t = 0; t < 2 * len; t++) {
        uint32_t due = sched[t % len];
        long k;

        /* Without sticky hits nobody's turn is ever given away. */
        ck_assert(!lbx_byrequests_overdrawn(peers[due].credit,
                                            peers[due].weight, total));
        k = lbx_byrequests_pick(&in);
        ck_assert_msg(k == (long)due, "pick %zu: walk %ld, turn %u", t, k, due);
    }
}

START_TEST(test_schedule_table)
{
    assert_schedule_is_walk(sequences[_i].weights, sequences[_i].n);
}
END_TEST

START_TEST(test_schedule_seeded)
{
    uint32_t seed = 99;
    int set;

    for (set = 0; set < 60; set++) {
        int64_t w[64];
        size_t n, i;

        seed = seed * 1103515245u + 12345u;
        n = 1 + (seed >> 16) % 64;
        for (i = 0; i < n; i++) {
            seed = seed * 1103515245u + 12345u;
            /* Every other set with all weights equal (the common case). */
            w[i] = set % 2 ? 100 * (1 + (seed >> 16) % 100) : 100;
        }
        assert_schedule_is_walk(w, n);
    }
}
END_TEST

START_TEST(test_schedule_refusals)
{
    static const int64_t w[] = { 100, 200, 300 };
    static const int64_t bad[] = { 100, 0 };
    uint32_t out[6] = { 7, 7, 7, 7, 7, 7 };
    char scratch[LBX_SCHEDULE_SCRATCH(3)];

    /* Round of 6 into room for 5: refused. */
    ck_assert_uint_eq(lbx_byrequests_schedule(w, 3, out, 5, scratch), 0);
    ck_assert_uint_eq(lbx_byrequests_schedule(bad, 2, out, 6, scratch), 0);
    ck_assert_uint_eq(lbx_byrequests_schedule(w, 0, out, 6, scratch), 0);
    ck_assert_uint_eq(lbx_byrequests_schedule(w, 3, out, 6, scratch), 6);
    /* Stock's order for 1:2:3: C B A C B C. */
    ck_assert_uint_eq(out[0], 2);
    ck_assert_uint_eq(out[1], 1);
    ck_assert_uint_eq(out[5], 2);
}
END_TEST

/* Turns given up by overdrawn members: a member that took 30 extra
 * (sticky) requests in a pool of four equal members gives up its next
 * turns until the others have caught up; over 100,000 picks the shares
 * stay equal within 1 %. */
START_TEST(test_overdrawn_catches_up)
{
    static const int64_t w[] = { 100, 100, 100, 100 };
    uint32_t sched[4];
    char scratch[LBX_SCHEDULE_SCRATCH(4)];
    int64_t credit[4] = { 0 }, total = 400;
    long count[4] = { 0 };
    uint64_t ticket = 0;
    int pick, i, extra;

    ck_assert_uint_eq(lbx_byrequests_schedule(w, 4, sched, 4, scratch), 4);
    for (extra = 0; extra < 30; extra++) { /* sticky hits on member 2 */
        for (i = 0; i < 4; i++) {
            credit[i] += w[i];
        }
        credit[2] -= total;
        count[2]++;
    }
    ck_assert(lbx_byrequests_overdrawn(credit[2], w[2], total));
    for (pick = 0; pick < 100000; pick++) {
        uint32_t k = 0;
        int tries;

        for (tries = 0; tries < 4; tries++) {
            k = sched[ticket++ % 4];
            if (!lbx_byrequests_overdrawn(credit[k], w[k], total)) {
                break;
            }
        }
        for (i = 0; i < 4; i++) {
            credit[i] += w[i];
        }
        credit[k] -= total;
        count[k]++;
    }
    for (i = 0; i < 4; i++) {
        ck_assert_msg(count[i] > 25007 * 99 / 100
                          && count[i] < 25007 * 101 / 100,
                      "member %d: %ld", i, count[i]);
    }
    /* Caught up: the debt is down to about a round (the member then
     * takes its turns again), the others' credit is down with it. */
    for (i = 0; i < 4; i++) {
        ck_assert_msg(credit[i] > -2 * total && credit[i] < 2 * total,
                      "member %d: credit %lld", i, (long long)credit[i]);
    }
}
END_TEST

/* 100,000 picks over weights 1:2:3:4, by the walk and by the schedule
 * (turn t of the round): each member's share is its weight's, within 1 %
 * (both are exact to a pick per round). */
START_TEST(test_100k_shares)
{
    static const int64_t w[4] = { 100, 200, 300, 400 };
    struct lbx_peer peers[4];
    struct lbx_pick_in in;
    uint32_t sched[10];
    char scratch[LBX_SCHEDULE_SCRATCH(4)];
    long walk[4] = { 0 }, turns[4] = { 0 };
    size_t len;
    int t, i;

    memset(peers, 0, sizeof(peers));
    for (i = 0; i < 4; i++) {
        peers[i].weight = w[i];
    }
    memset(&in, 0, sizeof(in));
    in.peers = peers;
    in.n = 4;
    len = lbx_byrequests_schedule(w, 4, sched, 10, scratch);
    ck_assert_uint_eq(len, 10);
    for (t = 0; t < 100000; t++) {
        walk[lbx_byrequests_pick(&in)]++;
        turns[sched[(size_t)t % len]]++;
    }
    for (i = 0; i < 4; i++) {
        long want = 10000L * (i + 1);
        ck_assert_msg(labs(walk[i] - want) <= want / 100, "walk %d: %ld", i,
                      walk[i]);
        ck_assert_msg(labs(turns[i] - want) <= want / 100, "turns %d: %ld", i,
                      turns[i]);
    }
}
END_TEST

TCase *lbx_tcase_byrequests(void)
{
    TCase *tc = tcase_create("byrequests");

    tcase_add_loop_test(tc, test_exact_sequences, 0,
                        sizeof(sequences) / sizeof(sequences[0]));
    tcase_add_test(tc, test_empty_is_none);
    tcase_add_test(tc, test_credits_sum_to_zero_and_ties_go_first);
    tcase_add_test(tc, test_sticky_credit);
    tcase_add_test(tc, test_seeded_rounds_are_exact);
    tcase_add_loop_test(tc, test_round_lengths, 0,
                        sizeof(rounds) / sizeof(rounds[0]));
    tcase_add_test(tc, test_round_work_limit);
    tcase_add_loop_test(tc, test_schedule_table, 0,
                        sizeof(sequences) / sizeof(sequences[0]));
    tcase_add_test(tc, test_schedule_seeded);
    tcase_add_test(tc, test_schedule_refusals);
    tcase_add_test(tc, test_overdrawn_catches_up);
    tcase_add_test(tc, test_100k_shares);
    return tc;
}
