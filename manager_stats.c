/* manager_stats.c: the counters of stats.c as the manager shows them:
 * Prometheus families (histograms of response and check time, answers by
 * status class, failovers, state transitions, checks by result, requests
 * no member could take), the same numbers in ?format=json, and the
 * dashboard's last-minute rates and quantiles. */
#include "apr_strings.h"

#include "manager_stats.h"
#include "stats.h"

/* Prometheus label values: backslash, quote and newline escaped. */
static const char *prom_label(request_rec *r, const char *s)
{
    const char *p;
    char *out = apr_palloc(r->pool, strlen(s) * 2 + 1), *o = out;

    for (p = s; *p; p++) {
        if (*p == '\\' || *p == '"') {
            *o++ = '\\';
            *o++ = *p;
        }
        else if (*p == '\n') {
            *o++ = '\\';
            *o++ = 'n';
        }
        else {
            *o++ = *p;
        }
    }
    *o = '\0';
    return out;
}

const char *lbx_mgr_prom_labels(request_rec *r, proxy_balancer *b,
                                proxy_worker *w)
{
    return apr_psprintf(r->pool, "balancer=\"%s\",member=\"%s\"",
                        prom_label(r, b->s->name),
                        prom_label(r, ap_proxy_worker_name(r->pool, w)));
}

/* A copy of a histogram read once, so its buckets, count and sum agree
 * with each other. */
static uint64_t read_histogram(const struct lbx_histogram *h,
                               uint64_t bucket[LBX_STATS_BUCKETS],
                               double *sum_s)
{
    uint64_t total = 0;
    unsigned i;

    for (i = 0; i < LBX_STATS_BUCKETS; i++) {
        bucket[i] = lbx_atomic_load(&h->bucket[i]);
        total += bucket[i];
    }
    *sum_s = (double)lbx_atomic_load(&h->sum_us) / 1e6;
    return total;
}

static void prom_histogram(request_rec *r, const char *name, const char *labels,
                           const struct lbx_histogram *h)
{
    uint64_t bucket[LBX_STATS_BUCKETS], total, below = 0;
    double sum;
    unsigned i;

    total = read_histogram(h, bucket, &sum);
    for (i = 0; i < LBX_STATS_BOUNDS; i++) {
        below += bucket[i];
        ap_rprintf(r, "%s_bucket{%s,le=\"%s\"} %" APR_UINT64_T_FMT "\n", name,
                   labels, lbx_stats_bound_label[i], below);
    }
    ap_rprintf(r,
               "%s_bucket{%s,le=\"+Inf\"} %" APR_UINT64_T_FMT
               "\n%s_sum{%s} %.6f\n%s_count{%s} %" APR_UINT64_T_FMT "\n",
               name, labels, total, name, labels, sum, name, labels, total);
}

enum family {
    F_RESPONSE,
    F_ANSWERS,
    F_FAILOVERS,
    F_TRANSITIONS,
    F_CHECKS,
    F_CHECK_TIME,
    F_FAMILIES
};

static const char *const family[F_FAMILIES][3] = {
    { "lbx_member_response_seconds", "histogram",
      "time from a request's arrival to the end of its answer, on the "
      "member tried last" },
    { "lbx_member_responses_total", "counter",
      "requests by the status class of the answer of the member tried last "
      "(none: it gave no answer)" },
    { "lbx_member_failovers_total", "counter",
      "requests that failed on the member and were tried on another" },
    { "lbx_member_state_transitions_total", "counter",
      "times the member became usable or unusable (seen every 100 ms)" },
    { "lbx_member_checks_total", "counter", "health checks by result" },
    { "lbx_member_check_duration_seconds", "histogram",
      "time a health check took" },
};

static void family_sample(request_rec *r, enum family f, const char *labels,
                          const struct lbx_member_stats *s)
{
    const char *name = family[f][0];
    unsigned i;

    switch (f) {
    case F_RESPONSE: prom_histogram(r, name, labels, &s->response); break;
    case F_CHECK_TIME: prom_histogram(r, name, labels, &s->check); break;
    case F_ANSWERS:
        for (i = 0; i < LBX_CLASSES; i++) {
            ap_rprintf(r, "%s{%s,class=\"%s\"} %" APR_UINT64_T_FMT "\n", name,
                       labels, lbx_stats_class_name[i],
                       lbx_atomic_load(&s->answers[i]));
        }
        break;
    case F_FAILOVERS:
        ap_rprintf(r, "%s{%s} %" APR_UINT64_T_FMT "\n", name, labels,
                   lbx_atomic_load(&s->failovers));
        break;
    case F_TRANSITIONS:
        ap_rprintf(r,
                   "%s{%s,to=\"usable\"} %" APR_UINT64_T_FMT
                   "\n%s{%s,to=\"unusable\"} %" APR_UINT64_T_FMT "\n",
                   name, labels, lbx_atomic_load(&s->became_usable), name,
                   labels, lbx_atomic_load(&s->became_unusable));
        break;
    default:
        for (i = 0; i < LBX_STATS_CHECK_RESULTS; i++) {
            ap_rprintf(r, "%s{%s,result=\"%s\"} %" APR_UINT64_T_FMT "\n", name,
                       labels, lbx_stats_check_name[i],
                       lbx_atomic_load(&s->checks[i]));
        }
        break;
    }
}

void lbx_mgr_stats_metrics(request_rec *r, proxy_server_conf *conf)
{
    proxy_balancer *b = (proxy_balancer *)conf->balancers->elts;
    int f, i, j;

    for (f = 0; f < F_FAMILIES; f++) {
        ap_rvputs(r, "# HELP ", family[f][0], " ", family[f][2], "\n# TYPE ",
                  family[f][0], " ", family[f][1], "\n", NULL);
        for (i = 0; i < conf->balancers->nelts; i++) {
            proxy_worker **w = (proxy_worker **)b[i].workers->elts;

            for (j = 0; j < b[i].workers->nelts; j++) {
                const struct lbx_member_stats *s = lbx_stats_of(&b[i], w[j]);

                if (s && !LBX_MEMBER_REMOVED(w[j])) {
                    family_sample(r, (enum family)f,
                                  lbx_mgr_prom_labels(r, &b[i], w[j]), s);
                }
            }
        }
    }
    ap_rputs("# HELP lbx_balancer_no_usable_member_total requests answered "
             "503 because no member could take them\n"
             "# TYPE lbx_balancer_no_usable_member_total counter\n",
             r);
    for (i = 0; i < conf->balancers->nelts; i++) {
        ap_rprintf(r,
                   "lbx_balancer_no_usable_member_total{balancer=\"%s\"} "
                   "%" APR_UINT64_T_FMT "\n",
                   prom_label(r, b[i].s->name), lbx_mgr_no_member(&b[i]));
    }
}

uint64_t lbx_mgr_no_member(proxy_balancer *b)
{
    struct lbx_hot *hot = lbx_hot_of(b);

    return hot ? lbx_atomic_load(&hot->no_member) : 0;
}

/* ---- JSON --------------------------------------------------------------- */

static void json_histogram(request_rec *r, const char *key,
                           const struct lbx_histogram *h, const char *after)
{
    uint64_t bucket[LBX_STATS_BUCKETS], total, below = 0;
    double sum;
    unsigned i;

    total = read_histogram(h, bucket, &sum);
    ap_rprintf(r, "\"%s\": {\"buckets\": [", key);
    for (i = 0; i < LBX_STATS_BOUNDS; i++) {
        below += bucket[i];
        ap_rprintf(r, "[%s, %" APR_UINT64_T_FMT "], ", lbx_stats_bound_label[i],
                   below);
    }
    ap_rprintf(r,
               "[\"+Inf\", %" APR_UINT64_T_FMT "]], \"sum\": %.6f, "
               "\"count\": %" APR_UINT64_T_FMT "}%s",
               total, sum, total, after);
}

int lbx_mgr_window(proxy_balancer *b, proxy_worker *w, apr_time_t now,
                   struct lbx_window_rates *out, double *seconds)
{
    const struct lbx_member_stats *s = lbx_stats_of(b, w);
    struct lbx_window_point p[LBX_STATS_RING], cur;
    apr_time_t at[LBX_STATS_RING];

    if (!s || !lbx_stats_points(b, w, now, apr_time_from_sec(60), p, at)) {
        return 0;
    }
    lbx_stats_point(s, &cur);
    *seconds = (double)(now - at[0]) / APR_USEC_PER_SEC;
    lbx_stats_rates(&p[0], &cur, *seconds, out);
    return 1;
}

int lbx_mgr_trend(proxy_balancer *b, proxy_worker *w, apr_time_t now,
                  double *rate, int max)
{
    const struct lbx_member_stats *s = lbx_stats_of(b, w);
    struct lbx_window_point p[LBX_STATS_RING + 1];
    apr_time_t at[LBX_STATS_RING + 1];
    int n, i;

    if (!s) {
        return 0;
    }
    n = lbx_stats_points(b, w, now, apr_time_from_sec(70), p, at);
    /* The stretch from the newest point to now joins the one before when
     * it is short: a few requests in a fraction of a second are no rate. */
    if (n >= 2 && now - at[n - 1] < apr_time_from_sec(5)) {
        n--;
    }
    lbx_stats_point(s, &p[n]);
    at[n++] = now;
    for (i = 1; i < n && i <= max; i++) {
        rate[i - 1] = (double)(p[i].answers > p[i - 1].answers
                                   ? p[i].answers - p[i - 1].answers
                                   : 0)
            / ((double)(at[i] - at[i - 1]) / APR_USEC_PER_SEC);
    }
    return i - 1;
}

void lbx_mgr_stats_json(request_rec *r, proxy_balancer *b, proxy_worker *w)
{
    const struct lbx_member_stats *s = lbx_stats_of(b, w);
    unsigned i;

    if (!s) {
        ap_rputs("       \"stats\": null,\n", r);
        return;
    }
    ap_rputs("       \"stats\": {\"answers\": {", r);
    for (i = 0; i < LBX_CLASSES; i++) {
        ap_rprintf(r, "%s\"%s\": %" APR_UINT64_T_FMT, i ? ", " : "",
                   lbx_stats_class_name[i], lbx_atomic_load(&s->answers[i]));
    }
    ap_rprintf(r,
               "}, \"failovers\": %" APR_UINT64_T_FMT
               ", \"became_usable\": %" APR_UINT64_T_FMT
               ", \"became_unusable\": %" APR_UINT64_T_FMT ",\n        ",
               lbx_atomic_load(&s->failovers),
               lbx_atomic_load(&s->became_usable),
               lbx_atomic_load(&s->became_unusable));
    json_histogram(r, "response_seconds", &s->response, ",\n        ");
    ap_rputs("\"checks\": {", r);
    for (i = 0; i < LBX_STATS_CHECK_RESULTS; i++) {
        ap_rprintf(r, "%s\"%s\": %" APR_UINT64_T_FMT, i ? ", " : "",
                   lbx_stats_check_name[i], lbx_atomic_load(&s->checks[i]));
    }
    ap_rputs("},\n        ", r);
    json_histogram(r, "check_seconds", &s->check, "},\n");
}
