/* Unit tests for lbmethods/bytraffic.c. */
#include <check.h>
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
    struct lbx_peer p[3]; /* weight, credit, busy, sent, rcvd */
    size_t n;
    long expect;
} traffic_cases[] = {
    { "fewer bytes per weight wins although more bytes",
      { { 100, 0, 0, 3000, 0, 0, 0 }, { 200, 0, 0, 5000, 0, 0, 0 } },
      2,
      1 },
    { "sent and read both count",
      { { 100, 0, 0, 100, 900, 0, 0 }, { 100, 0, 0, 500, 0, 0, 0 } },
      2,
      1 },
    { "tie goes to the earlier member",
      { { 100, 0, 0, 700, 0, 0, 0 }, { 100, 0, 0, 0, 700, 0, 0 } },
      2,
      0 },
    /* Stock divides sent and read separately: 199/200 + 199/200 = 0, not
     * 398/200 = 1, so A ties with B (50/100 = 0) and wins as the earlier. */
    { "separate integer divisions, as stock",
      { { 200, 0, 0, 199, 199, 0, 0 }, { 100, 0, 0, 0, 50, 0, 0 } },
      2,
      0 },
    { "idle member wins",
      { { 100, 0, 0, 100, 0, 0, 0 },
        { 100, 0, 0, 0, 0, 0, 0 },
        { 100, 0, 0, 0, 0, 0, 0 } },
      3,
      1 },
    { "single member", { { 100, 0, 0, 1u << 30, 1u << 30, 0, 0 } }, 1, 0 },
    { "huge counters do not overflow",
      { { 100, 0, 0, UINT64_MAX / 2, UINT64_MAX / 2, 0, 0 },
        { 100, 0, 0, UINT64_MAX / 2, 0, 0, 0 } },
      2,
      1 },
};

START_TEST(test_bytraffic_table)
{
    struct lbx_peer p[3];

    memcpy(p, traffic_cases[_i].p, sizeof(p));
    ck_assert_msg(pick_with(lbx_bytraffic_pick, p, traffic_cases[_i].n)
                      == traffic_cases[_i].expect,
                  "%s", traffic_cases[_i].what);
    /* bytraffic keeps no credit. */
    ck_assert_int_eq(p[0].credit, 0);
}
END_TEST

START_TEST(test_bytraffic_empty)
{
    ck_assert_int_eq(pick_with(lbx_bytraffic_pick, NULL, 0), LBX_NONE);
}
END_TEST

/* Seeded simulation, 100,000 picks: responses of random size; with
 * weights 1:3 the bytes served end up split 1:3 (A's share within 1 % of
 * 25 %), whatever the size mix. */
START_TEST(test_bytraffic_long_run_shares)
{
    struct lbx_peer p[2] = { { 100, 0, 0, 0, 0, 0, 0 },
                             { 300, 0, 0, 0, 0, 0, 0 } };
    uint32_t seed = 7;
    int k;

    for (k = 0; k < 100000; k++) {
        long i = pick_with(lbx_bytraffic_pick, p, 2);
        seed = seed * 1103515245u + 12345u;
        p[i].sent += 200; /* request */
        p[i].rcvd += 1000 + (seed >> 8) % 50000; /* response */
    }
    {
        double a = (double)(p[0].sent + p[0].rcvd);
        double b = (double)(p[1].sent + p[1].rcvd);
        double share = a / (a + b);
        ck_assert_msg(share > 0.2475 && share < 0.2525, "share of A %.4f",
                      share);
    }
}
END_TEST

/* ---- the heap ----------------------------------------------------------- */

static struct lbx_peer heap_peers[200];

static void peer_score(void *ctx, uint32_t k, uint64_t *sent, uint64_t *rcvd)
{
    struct lbx_peer *p = ctx;

    *sent = p[k].sent;
    *rcvd = p[k].rcvd;
}

/* Seeded: 200 peers of random weights; after each pick some peers' (not
 * only the picked one's) traffic grows, as responses of other processes
 * end.  The heap's pick is always the walk's pick. */
START_TEST(test_heap_is_walk)
{
    uint32_t seed = 4242;
    uint32_t hp[200];
    uint64_t hs[200], hb[200];
    int64_t hw[200];
    struct lbx_traffic_heap h = { 0, hp, hs, hw, hb };
    size_t n = 200, i;
    int step;

    memset(heap_peers, 0, sizeof(heap_peers));
    for (i = 0; i < n; i++) {
        seed = seed * 1103515245u + 12345u;
        heap_peers[i].weight = 100 * (1 + (seed >> 16) % 4);
        hw[i] = heap_peers[i].weight;
        /* Every other peer starts with some traffic, many tie at 0. */
        heap_peers[i].rcvd = i % 2 ? (seed >> 8) % 5000 : 0;
    }
    lbx_traffic_heap_build(&h, n, peer_score, heap_peers);
    for (step = 0; step < 20000; step++) {
        long walk = pick_with(lbx_bytraffic_pick, heap_peers, n);
        long k = lbx_traffic_heap_min(&h, peer_score, heap_peers, n);
        int grow;

        ck_assert_msg(k == walk, "step %d: heap %ld, walk %ld", step, k, walk);
        heap_peers[k].sent += 100;
        for (grow = 0; grow < 3; grow++) {
            seed = seed * 1103515245u + 12345u;
            heap_peers[(seed >> 16) % n].rcvd += (seed >> 4) % 3000;
        }
    }
}
END_TEST

START_TEST(test_heap_edges)
{
    static const int64_t hw[3] = { 1, 1, 1 };
    uint32_t hp[3];
    uint64_t hs[3], hb[3];
    struct lbx_traffic_heap h = { 0, hp, hs, hw, hb };
    struct lbx_peer p[3] = { { 1, 0, 0, 0, 10, 0, 0 },
                             { 1, 0, 0, 0, 20, 0, 0 },
                             { 1, 0, 0, 0, 30, 0, 0 } };

    lbx_traffic_heap_build(&h, 0, peer_score, p);
    ck_assert_int_eq(lbx_traffic_heap_min(&h, peer_score, p, 8), LBX_NONE);
    lbx_traffic_heap_build(&h, 3, peer_score, p);
    ck_assert_int_eq(lbx_traffic_heap_min(&h, peer_score, p, 8), 0);
    /* Peers 0 and 1 grew past peer 2: with one read the heap only learns
     * about peer 0 and answers the best bound left, peer 1 at 20; with
     * more reads it finds that peer 2 is the least now. */
    p[0].rcvd = 10000;
    p[1].rcvd = 20000;
    ck_assert_int_eq(lbx_traffic_heap_min(&h, peer_score, p, 1), 1);
    ck_assert_int_eq(lbx_traffic_heap_min(&h, peer_score, p, 8), 2);
    /* A count that went down (a reset the caller did not rebuild for)
     * still leaves a valid answer. */
    p[2].rcvd = 0;
    ck_assert_int_eq(lbx_traffic_heap_min(&h, peer_score, p, 8), 2);
}
END_TEST

TCase *lbx_tcase_bytraffic(void)
{
    TCase *tc = tcase_create("bytraffic");

    tcase_add_loop_test(tc, test_bytraffic_table, 0,
                        sizeof(traffic_cases) / sizeof(traffic_cases[0]));
    tcase_add_test(tc, test_bytraffic_empty);
    tcase_add_test(tc, test_bytraffic_long_run_shares);
    tcase_add_test(tc, test_heap_is_walk);
    tcase_add_test(tc, test_heap_edges);
    return tc;
}
