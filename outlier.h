/* outlier.h: failure handling beyond stock, on top of the shared per-member
 * arrays of lbx_hot.h: passive outlier ejection (failures seen on real
 * traffic take a member out for a time that doubles), its return through
 * a probe, slow start and the retry budget.  The arithmetic is pure
 * (outlier_core.h). */
#ifndef LBX_OUTLIER_H
#define LBX_OUTLIER_H

#include "lbx_hot.h"

/* post_config, after lbx_hot_create: every balancer's settings (and its
 * members' own ejectfails=/slowstart=) into its shared record; members
 * that exist now count as usable since ever (no slow start at start). */
void lbx_outlier_configure(server_rec *main_s);

/* Whether member w is ejected now (and so not to be chosen, except for
 * its trial request). */
int lbx_outlier_ejected(const struct lbx_hot *hot, proxy_worker *w);

/* What stock calls usable, and not ejected. */
int lbx_outlier_usable(const struct lbx_hot *hot, proxy_worker *w);

/* The candidate list saw member `slot` usable or not at `now`: keep when
 * it became usable, for slow start. */
void lbx_outlier_seen(struct lbx_hot *hot, long slot, int usable,
                      apr_time_t now);

/* Member w's state may have changed (a health check, a manager edit, an
 * ejection): note now whether it is usable, as lbx_outlier_seen. */
void lbx_outlier_note(proxy_balancer *b, proxy_worker *w);

/* Member `slot`'s slow-start share now, per mille (1000: full). */
unsigned lbx_outlier_ramp(const struct lbx_hot *hot, long slot, apr_time_t now);

/* pre_request, before any choice: when this call is a failover
 * (mod_proxy trying another member after `prev`, the member this request
 * was given last, failed), count that failure and ask the retry budget.
 * Returns HTTP_SERVICE_UNAVAILABLE when the budget is spent, else OK. */
int lbx_outlier_before(proxy_balancer *b, proxy_worker *prev, request_rec *r);

/* pre_request, when no session chose a member: an ejected member whose
 * time is over and that has no health check, claimed for this request as
 * its trial, or NULL. */
proxy_worker *lbx_outlier_trial(proxy_balancer *b, request_rec *r);

/* post_request: judge the answer member w gave. */
void lbx_outlier_answer(proxy_balancer *b, proxy_worker *w, request_rec *r);

/* A health check of member w ended with `result` (and HTTP status, 0 when
 * none): recorded for the manager; a pass brings back a member whose
 * ejection time is over. */
void lbx_outlier_checked(proxy_balancer *b, proxy_worker *w,
                         enum lbx_check_result result, int status,
                         server_rec *s);

/* What the manager shows of a member. */
struct lbx_outlier_view {
    int on; /* the balancer or member uses ejection or slow start */
    uint64_t fails; /* failed answers in a row */
    apr_time_t ejected_until; /* 0: not ejected */
    uint64_t ejections; /* since start */
    unsigned ramp_permille; /* slow start: 1000 when done or none */
    uint64_t check_result; /* enum lbx_check_result */
    int check_status; /* HTTP status of that check, 0: none */
    apr_time_t check_at; /* 0: never checked */
};
void lbx_outlier_view(proxy_balancer *b, proxy_worker *w, apr_time_t now,
                      struct lbx_outlier_view *v);

/* Ejections refused for the max share (which 0) or failovers refused by
 * the retry budget (which 1) in balancer b since start. */
uint64_t lbx_outlier_refused(proxy_balancer *b, int which);

/* The names of check results, for the manager. */
const char *lbx_outlier_check_name(uint64_t result);

#endif
