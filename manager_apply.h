/* manager_apply.h: applying a balancer-manager edit (a parameter list as
 * the manager's form sends it) to the balancers' shared memory. */
#ifndef LBX_MANAGER_APPLY_H
#define LBX_MANAGER_APPLY_H

#include "lbx_proxy.h"
#include "manager_core.h"

struct lbx_mgr_apply {
    apr_pool_t *pool; /* for messages and lookups */
    server_rec *s;
    request_rec *r; /* the manager's request, or NULL (a fleet's edit) */
    proxy_server_conf *conf;
    proxy_balancer *bsel; /* b=, found by lbx_mgr_select */
    proxy_worker *wsel; /* w=, a member of bsel that was not removed */
};

/* Every balancer's members as other processes left them (members added
 * elsewhere adopted). */
void lbx_mgr_sync_all(server_rec *s, proxy_server_conf *conf);

/* The balancer and member the parameters name, into m->bsel/m->wsel. */
void lbx_mgr_select(struct lbx_mgr_apply *m, const struct lbx_mgr_param *params,
                    int n);

/* Validate every parameter, then apply them to m->bsel (and m->wsel).
 * NULL when applied, else what was wrong (nothing changed). */
const char *lbx_mgr_apply(struct lbx_mgr_apply *m,
                          const struct lbx_mgr_param *params, int n);

#endif
