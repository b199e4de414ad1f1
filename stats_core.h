/* stats_core.h: the counters kept per member for metrics and the
 * dashboard, and the arithmetic on them (histogram buckets, status
 * classes, rates and quantiles over a window).  Plain C99: lbx_hot.c
 * places the structs in each balancer's shared record, stats.c updates
 * them with atomic adds, the renderers read them. */
#ifndef LBX_STATS_CORE_H
#define LBX_STATS_CORE_H

#include <stddef.h>
#include <stdint.h>

/* Histogram upper bounds in microseconds: Prometheus' default buckets
 * (5 ms to 10 s) and, below them, 1 and 2.5 ms, where a proxy's answers
 * from a near backend fall; one more bucket, +Inf, follows them. */
#define LBX_STATS_BOUNDS 13
#define LBX_STATS_BUCKETS (LBX_STATS_BOUNDS + 1)
extern const uint64_t lbx_stats_bound_us[LBX_STATS_BOUNDS];
/* The same bounds as Prometheus `le` label values ("0.001" … "10"). */
extern const char *const lbx_stats_bound_label[LBX_STATS_BOUNDS];

/* Status classes of answers: 1xx … 5xx, and "none" (the member gave no
 * answer the client saw: no connection, a timeout before the headers). */
enum {
    LBX_CLASS_1XX,
    LBX_CLASS_2XX,
    LBX_CLASS_3XX,
    LBX_CLASS_4XX,
    LBX_CLASS_5XX,
    LBX_CLASS_NONE,
    LBX_CLASSES
};
extern const char *const lbx_stats_class_name[LBX_CLASSES];

/* Health-check results, in the order of enum lbx_check_result (lbx_hot.h)
 * from LBX_CHECK_PASSED on; names as metric label values. */
#define LBX_STATS_CHECK_RESULTS 7
extern const char *const lbx_stats_check_name[LBX_STATS_CHECK_RESULTS];

struct lbx_histogram {
    uint64_t bucket[LBX_STATS_BUCKETS]; /* per bucket, not cumulative */
    uint64_t sum_us;
};

/* One member's counters since start. */
struct lbx_member_stats {
    struct lbx_histogram response; /* requests it was the last try of */
    uint64_t answers[LBX_CLASSES];
    uint64_t failovers; /* requests that failed on it, tried elsewhere */
    uint64_t became_usable, became_unusable;
    uint64_t state; /* last seen: 0 not yet, 1 usable, 2 not */
    uint64_t checks[LBX_STATS_CHECK_RESULTS];
    struct lbx_histogram check;
    /* The last manager edit of the member: when, and from where (a client
     * address, or the fleet). */
    uint64_t edited_at;
    char edited_by[48];
};

/* What the dashboard's window keeps of a member at one moment. */
struct lbx_window_point {
    uint64_t answers, server_errors, failovers;
    uint64_t bucket[LBX_STATS_BUCKETS];
};

/* Rates and latency of a member between two points. */
struct lbx_window_rates {
    double requests_per_s, errors_per_s, failovers_per_s;
    double p50_s, p99_s; /* -1: no answer in the window */
};

/* The bucket of a time in microseconds. */
unsigned lbx_stats_bucket(uint64_t us);

/* The class of an answer: `answered` is 0 when the member gave the client
 * nothing (status is then the proxy's own). */
unsigned lbx_stats_class(int status, int answered);

/* The q-quantile (0 < q < 1) of a histogram's per-bucket counts, in
 * seconds, interpolated linearly inside its bucket (as Prometheus'
 * histogram_quantile does); in the +Inf bucket, the highest finite
 * bound.  -1 with no samples. */
double lbx_stats_quantile(const uint64_t *bucket, double q);

/* A point of the member's counters now. */
void lbx_stats_point(const struct lbx_member_stats *s,
                     struct lbx_window_point *p);

/* Rates from `old` to `now`, `seconds` apart (> 0).  Counters never go
 * back; a difference that would be negative (a restart between the two)
 * counts as zero. */
void lbx_stats_rates(const struct lbx_window_point *old,
                     const struct lbx_window_point *now, double seconds,
                     struct lbx_window_rates *out);

#endif
