/* hcheck.h: health checks in place of stock mod_proxy_hcheck: the
 * watchdog that decides which member is due and applies the results. */
#ifndef LBX_HCHECK_H
#define LBX_HCHECK_H

#include "lbx_proxy.h"

/* pre_config, once mod_proxy's API is known: reset, and make CPING a
 * method when mod_proxy_ajp is loaded. */
void lbx_hc_pre_config(void);
/* post_config: warn about checks mod_lbx cannot do, register the
 * watchdog callback.  OK or !OK (logged). */
int lbx_hc_post_config(apr_pool_t *pconf, server_rec *main_s);
void lbx_hc_child_init(apr_pool_t *pchild);

#endif
