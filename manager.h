/* manager.h: the balancer-manager handler. */
#ifndef LBX_MANAGER_H
#define LBX_MANAGER_H

#include "lbx_proxy.h"

/* handler hook: SetHandler balancer-manager. */
int lbx_manager_handler(request_rec *r);

/* register_hooks: the optional functions other modules look up
 * (balancer_manage, hc_show_exprs, hc_select_exprs). */
void lbx_manager_register(void);

#endif
