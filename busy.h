/* busy.h: requests in flight per member, repaired when a child dies. */
#ifndef LBX_BUSY_H
#define LBX_BUSY_H

#include "lbx_proxy.h"

/* post_config: the table for `members` member slots (none if 0). */
apr_status_t lbx_busy_create(apr_pool_t *pconf, apr_size_t members);
/* child_init: give back what dead children held, claim a row. */
void lbx_busy_child_init(apr_pool_t *pchild, server_rec *s);
/* Count r as in flight on w, member of b, until r's pool goes away (in
 * w's shared record and in the engine's copy). */
void lbx_busy_acquire(request_rec *r, proxy_balancer *b, proxy_worker *w);

#endif
