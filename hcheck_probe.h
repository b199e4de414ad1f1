/* hcheck_probe.h: one health check of one member: connect, ask, judge. */
#ifndef LBX_HCHECK_PROBE_H
#define LBX_HCHECK_PROBE_H

#include "lbx_hot.h"

struct lbx_hc_task {
    apr_pool_t *pool; /* unmanaged: made by the watchdog thread,
                                 * destroyed by the check's thread */
    proxy_worker *w;
    proxy_balancer *b; /* the balancer it was found in */
    server_rec *s;
    int threaded; /* run by the thread pool (for messages) */
    enum lbx_check_result result; /* what the check found */
    int status; /* the HTTP status it got, 0: none */
};

/* child_init: the address cache and the allocator of check pools live in
 * `pool`, which must outlive every check. */
void lbx_hc_probe_child_init(apr_pool_t *pool);

/* A pool for one check, on the shared allocator (recycled memory). */
apr_status_t lbx_hc_task_pool(apr_pool_t **p);

/* Run the check of t->w as its hcmethod says: 1 passed, 0 failed; why in
 * t->result and t->status. */
int lbx_hc_probe(struct lbx_hc_task *t);

/* Whether a member of this scheme talks TLS. */
int lbx_hc_is_tls(const char *scheme);

/* expr_lookup hook: hc('body') and %{HC_BODY} in ProxyHCExpr. */
int lbx_hc_expr_lookup(ap_expr_lookup_parms *parms);

#endif
