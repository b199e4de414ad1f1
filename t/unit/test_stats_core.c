/* Unit tests for stats_core.c: buckets, classes, quantiles, rates. */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lbx_tests.h"
#include "stats_core.h"

static const struct {
    uint64_t us;
    unsigned bucket;
} buckets[] = {
    { 0, 0 },         { 1000, 0 },      { 1001, 1 },        { 2500, 1 },
    { 5000, 2 },      { 5001, 3 },      { 10000, 3 },       { 99999, 6 },
    { 100000, 6 },    { 100001, 7 },    { 1000000, 9 },     { 9999999, 12 },
    { 10000000, 12 }, { 10000001, 13 }, { UINT64_MAX, 13 },
};

START_TEST(test_bucket)
{
    ck_assert_uint_eq(lbx_stats_bucket(buckets[_i].us), buckets[_i].bucket);
}
END_TEST

static const struct {
    int status, answered;
    unsigned cls;
} classes[] = {
    { 100, 1, LBX_CLASS_1XX },  { 200, 1, LBX_CLASS_2XX },
    { 204, 1, LBX_CLASS_2XX },  { 302, 1, LBX_CLASS_3XX },
    { 404, 1, LBX_CLASS_4XX },  { 503, 1, LBX_CLASS_5XX },
    { 599, 1, LBX_CLASS_5XX },  { 200, 0, LBX_CLASS_NONE },
    { 503, 0, LBX_CLASS_NONE }, { 600, 1, LBX_CLASS_NONE },
    { 99, 1, LBX_CLASS_NONE },  { -1, 1, LBX_CLASS_NONE },
};

START_TEST(test_class)
{
    ck_assert_uint_eq(lbx_stats_class(classes[_i].status, classes[_i].answered),
                      classes[_i].cls);
}
END_TEST

static const struct {
    uint64_t bucket[LBX_STATS_BUCKETS];
    double q, want;
} quantiles[] = {
    /* nothing: -1 */
    { { 0 }, 0.5, -1 },
    /* all in the first bucket (0-1 ms): interpolated from 0 */
    { { 10 }, 0.5, 0.0005 },
    { { 10 }, 0.99, 0.00099 },
    /* 50 in 5-10 ms, 50 in 10-25 ms */
    { { 0, 0, 0, 50, 50 }, 0.5, 0.010 },
    { { 0, 0, 0, 50, 50 }, 0.99, 0.0247 },
    /* one slow answer among 99 fast ones (2.5-5 ms) lands p99 on the fast
     * bucket's top */
    { { 0, 0, 99, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1 }, 0.99, 0.005 },
    /* beyond the last bound: the highest finite bound */
    { { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7 }, 0.5, 10.0 },
    /* empty buckets before the rank are skipped: 4 in 50-100 ms */
    { { 0, 0, 0, 0, 0, 0, 4 }, 0.25, 0.0625 },
};

START_TEST(test_quantile)
{
    double got = lbx_stats_quantile(quantiles[_i].bucket, quantiles[_i].q);

    ck_assert_msg(fabs(got - quantiles[_i].want) < 1e-9, "case %d: %g != %g",
                  _i, got, quantiles[_i].want);
}
END_TEST

START_TEST(test_point_and_rates)
{
    struct lbx_member_stats s;
    struct lbx_window_point old, now;
    struct lbx_window_rates r;

    memset(&s, 0, sizeof(s));
    lbx_stats_point(&s, &old);
    s.answers[LBX_CLASS_2XX] = 90;
    s.answers[LBX_CLASS_4XX] = 4;
    s.answers[LBX_CLASS_5XX] = 5;
    s.answers[LBX_CLASS_NONE] = 1;
    s.failovers = 2;
    s.response.bucket[2] = 100; /* 2.5-5 ms */
    lbx_stats_point(&s, &now);
    ck_assert_uint_eq(now.answers, 100);
    ck_assert_uint_eq(now.server_errors, 6);
    lbx_stats_rates(&old, &now, 10.0, &r);
    ck_assert(fabs(r.requests_per_s - 10.0) < 1e-9);
    ck_assert(fabs(r.errors_per_s - 0.6) < 1e-9);
    ck_assert(fabs(r.failovers_per_s - 0.2) < 1e-9);
    ck_assert(fabs(r.p50_s - 0.00375) < 1e-9);
    /* counters that went back (a restart): zero, not a huge number */
    lbx_stats_rates(&now, &old, 10.0, &r);
    ck_assert(r.requests_per_s == 0 && r.errors_per_s == 0);
    ck_assert(r.p50_s == -1 && r.p99_s == -1);
}
END_TEST

/* Random samples: the quantile lies in the bucket where the exact sorted
 * sample at that rank lies, and p50 <= p99. */
START_TEST(test_quantile_random)
{
    uint64_t seed = 7, sample[1000];
    int round;

    for (round = 0; round < 200; round++) {
        uint64_t bucket[LBX_STATS_BUCKETS] = { 0 };
        int n = 1 + (int)(lbx_test_random(&seed) % 1000), i, j;
        double p50, p99;

        for (i = 0; i < n; i++) {
            sample[i] = lbx_test_random(&seed) % 12000000;
            bucket[lbx_stats_bucket(sample[i])]++;
        }
        /* insertion sort: n is small */
        for (i = 1; i < n; i++) {
            uint64_t v = sample[i];
            for (j = i; j > 0 && sample[j - 1] > v; j--) {
                sample[j] = sample[j - 1];
            }
            sample[j] = v;
        }
        p50 = lbx_stats_quantile(bucket, 0.5);
        p99 = lbx_stats_quantile(bucket, 0.99);
        ck_assert(p50 <= p99);
        {
            int rank = (int)ceil(0.5 * n) - 1;
            unsigned b = lbx_stats_bucket(sample[rank < 0 ? 0 : rank]);
            double lo = b ? (double)lbx_stats_bound_us[b - 1] / 1e6 : 0;
            double hi = b < LBX_STATS_BOUNDS
                ? (double)lbx_stats_bound_us[b] / 1e6
                : 10.0;

            if (b == LBX_STATS_BOUNDS) {
                lo = 10.0;
            }
            ck_assert_msg(p50 >= lo - 1e-9 && p50 <= hi + 1e-9,
                          "p50 %g outside [%g, %g]", p50, lo, hi);
        }
    }
}
END_TEST

START_TEST(test_labels_match_bounds)
{
    int i;

    for (i = 0; i < LBX_STATS_BOUNDS; i++) {
        double label = strtod(lbx_stats_bound_label[i], NULL);
        ck_assert(fabs(label * 1e6 - (double)lbx_stats_bound_us[i]) < 1e-3);
        if (i) {
            ck_assert(lbx_stats_bound_us[i] > lbx_stats_bound_us[i - 1]);
        }
    }
}
END_TEST

TCase *lbx_tcase_stats_core(void)
{
    TCase *tc = tcase_create("stats_core");

    tcase_add_loop_test(tc, test_bucket, 0,
                        sizeof(buckets) / sizeof(buckets[0]));
    tcase_add_loop_test(tc, test_class, 0,
                        sizeof(classes) / sizeof(classes[0]));
    tcase_add_loop_test(tc, test_quantile, 0,
                        sizeof(quantiles) / sizeof(quantiles[0]));
    tcase_add_test(tc, test_point_and_rates);
    tcase_add_test(tc, test_quantile_random);
    tcase_add_test(tc, test_labels_match_bounds);
    return tc;
}
