/* stats.h: the counters behind ?format=metrics and the dashboard, kept in
 * each balancer's shared record (lbx_hot.h) with atomic adds: no lock,
 * no allocation, the same work whatever the number of members. */
#ifndef LBX_STATS_H
#define LBX_STATS_H

#include "lbx_hot.h"

/* post_request (once per request, for the member tried last): the member
 * at `slot` of `hot` (as post_request found them; -1: none) answered, or
 * not, `took` after the request arrived. */
void lbx_stats_answer(struct lbx_hot *hot, long slot, request_rec *r,
                      apr_interval_time_t took);

/* pre_request: the attempt on `prev` failed and another is made. */
void lbx_stats_failover(proxy_balancer *b, proxy_worker *prev);

/* A request answered 503 because no member could take it. */
void lbx_stats_no_member(proxy_balancer *b);

/* A health check of w ended with `result` (LBX_CHECK_*) after `took`. */
void lbx_stats_check(proxy_balancer *b, proxy_worker *w, int result,
                     apr_interval_time_t took);

/* A manager edit of member w was applied at `now`, asked for by `by`. */
void lbx_stats_edited(proxy_balancer *b, proxy_worker *w, const char *by,
                      apr_time_t now);

/* The background tick (one thread of one child, every 100 ms): count
 * members that became usable or unusable since the last tick, and every
 * LBX_STATS_EVERY add a point to the dashboard's window. */
void lbx_stats_tick(server_rec *main_s, apr_time_t now);

/* The member's counters since start. */
const struct lbx_member_stats *lbx_stats_of(proxy_balancer *b, proxy_worker *w);

/* Copies of the window's points of member w not older than `span`, oldest
 * first, into points[] and at[] (room for LBX_STATS_RING); their count. */
int lbx_stats_points(proxy_balancer *b, proxy_worker *w, apr_time_t now,
                     apr_interval_time_t span, struct lbx_window_point *points,
                     apr_time_t *at);

#endif
