/* stats_core.c: histogram buckets, status classes, window rates and
 * quantiles (see stats_core.h).  No httpd, no APR, no allocation. */
#include "stats_core.h"

const uint64_t lbx_stats_bound_us[LBX_STATS_BOUNDS] = {
    1000,   2500,   5000,    10000,   25000,   50000,    100000,
    250000, 500000, 1000000, 2500000, 5000000, 10000000,
};

const char *const lbx_stats_bound_label[LBX_STATS_BOUNDS] = {
    "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1",
    "0.25",  "0.5",    "1",     "2.5",  "5",     "10",
};

const char *const lbx_stats_class_name[LBX_CLASSES] = {
    "1xx", "2xx", "3xx", "4xx", "5xx", "none",
};

const char *const lbx_stats_check_name[LBX_STATS_CHECK_RESULTS] = {
    "passed",     "connect_failed", "timeout",    "bad_status",
    "expr_false", "expr_error",     "tls_failed",
};

unsigned lbx_stats_bucket(uint64_t us)
{
    unsigned i = 0;

    while (i < LBX_STATS_BOUNDS && us > lbx_stats_bound_us[i]) {
        i++;
    }
    return i;
}

unsigned lbx_stats_class(int status, int answered)
{
    if (!answered || status < 100 || status > 599) {
        return LBX_CLASS_NONE;
    }
    return (unsigned)(status / 100 - 1);
}

double lbx_stats_quantile(const uint64_t *bucket, double q)
{
    uint64_t total = 0, below = 0;
    double rank;
    unsigned i;

    for (i = 0; i < LBX_STATS_BUCKETS; i++) {
        total += bucket[i];
    }
    if (total == 0) {
        return -1;
    }
    rank = q * (double)total;
    for (i = 0; i < LBX_STATS_BOUNDS; i++) {
        if (bucket[i] && (double)(below + bucket[i]) >= rank) {
            double lo = i ? (double)lbx_stats_bound_us[i - 1] : 0;
            double hi = (double)lbx_stats_bound_us[i];
            double within = (rank - (double)below) / (double)bucket[i];

            return (lo + (hi - lo) * within) / 1e6;
        }
        below += bucket[i];
    }
    return (double)lbx_stats_bound_us[LBX_STATS_BOUNDS - 1] / 1e6;
}

void lbx_stats_point(const struct lbx_member_stats *s,
                     struct lbx_window_point *p)
{
    unsigned i;

    p->answers = 0;
    for (i = 0; i < LBX_CLASSES; i++) {
        p->answers += s->answers[i];
    }
    p->server_errors = s->answers[LBX_CLASS_5XX] + s->answers[LBX_CLASS_NONE];
    p->failovers = s->failovers;
    for (i = 0; i < LBX_STATS_BUCKETS; i++) {
        p->bucket[i] = s->response.bucket[i];
    }
}

static uint64_t since(uint64_t now, uint64_t old)
{
    return now > old ? now - old : 0;
}

void lbx_stats_rates(const struct lbx_window_point *old,
                     const struct lbx_window_point *now, double seconds,
                     struct lbx_window_rates *out)
{
    uint64_t bucket[LBX_STATS_BUCKETS];
    unsigned i;

    out->requests_per_s = (double)since(now->answers, old->answers) / seconds;
    out->errors_per_s =
        (double)since(now->server_errors, old->server_errors) / seconds;
    out->failovers_per_s =
        (double)since(now->failovers, old->failovers) / seconds;
    for (i = 0; i < LBX_STATS_BUCKETS; i++) {
        bucket[i] = since(now->bucket[i], old->bucket[i]);
    }
    out->p50_s = lbx_stats_quantile(bucket, 0.5);
    out->p99_s = lbx_stats_quantile(bucket, 0.99);
}
