/* provider.h: the lbmethod providers mod_lbx registers with mod_proxy. */
#ifndef LBX_PROVIDER_H
#define LBX_PROVIDER_H

#include "lbx_proxy.h"

/* register_hooks: byrequests, bytraffic, bybusyness, heartbeat. */
void lbx_register_providers(apr_pool_t *p);

/* Stock's accounting for a request routed by its session (no lbmethod
 * choice): every usable member earns its weight and `chosen` pays for
 * all, so byrequests stays fair when part of the traffic is sticky.
 * Called under the balancer's thread mutex. */
void lbx_credit_sticky_hit(proxy_balancer *b, proxy_worker *chosen,
                           request_rec *r);

#endif
