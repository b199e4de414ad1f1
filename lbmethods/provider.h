/* provider.h: the lbmethod providers mod_lbx registers with mod_proxy. */
#ifndef LBX_PROVIDER_H
#define LBX_PROVIDER_H

#include "lbx_proxy.h"

/* register_hooks: byrequests, bytraffic, bybusyness, bylatency, byhash,
 * heartbeat. */
void lbx_register_providers(apr_pool_t *p);

#endif
