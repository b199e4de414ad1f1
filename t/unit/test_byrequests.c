/* Unit tests for lbmethods/byrequests.c. */
#include <check.h>
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

TCase *lbx_tcase_byrequests(void)
{
    TCase *tc = tcase_create("byrequests");

    tcase_add_loop_test(tc, test_exact_sequences, 0,
                        sizeof(sequences) / sizeof(sequences[0]));
    tcase_add_test(tc, test_empty_is_none);
    tcase_add_test(tc, test_credits_sum_to_zero_and_ties_go_first);
    tcase_add_test(tc, test_sticky_credit);
    tcase_add_test(tc, test_seeded_rounds_are_exact);
    return tc;
}
