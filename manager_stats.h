/* manager_stats.h: the metrics of stats.c as the manager's views show
 * them (manager_feeds.c, the dashboard). */
#ifndef LBX_MANAGER_STATS_H
#define LBX_MANAGER_STATS_H

#include "lbx_proxy.h"
#include "stats_core.h"

/* `balancer="…",member="…"`, escaped for the Prometheus text format. */
const char *lbx_mgr_prom_labels(request_rec *r, proxy_balancer *b,
                                proxy_worker *w);

/* Every stats family, each with its HELP and TYPE, for every member. */
void lbx_mgr_stats_metrics(request_rec *r, proxy_server_conf *conf);

/* Requests of balancer b answered 503 for want of a usable member. */
uint64_t lbx_mgr_no_member(proxy_balancer *b);

/* A member's "stats": {…}, line of ?format=json (ends with ",\n"). */
void lbx_mgr_stats_json(request_rec *r, proxy_balancer *b, proxy_worker *w);

/* The member's rates over the last minute (or since the oldest point
 * there is): 1 and *seconds the span, or 0 when no point exists yet. */
int lbx_mgr_window(proxy_balancer *b, proxy_worker *w, apr_time_t now,
                   struct lbx_window_rates *out, double *seconds);

/* Requests/s of the member between consecutive points of the window and
 * from the newest to now, oldest first: at most max rates, their count. */
int lbx_mgr_trend(proxy_balancer *b, proxy_worker *w, apr_time_t now,
                  double *rate, int max);

#endif
