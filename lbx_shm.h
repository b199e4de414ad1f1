/* lbx_shm.h: balancers and members in slotmem shared memory, with stock's
 * segment names and record sizes so BalancerPersist files carry over. */
#ifndef LBX_SHM_H
#define LBX_SHM_H

#include "lbx_proxy.h"

/* Registered under stock's name so existing `Mutex ... proxy-balancer-shm`
 * lines keep working. */
#define LBX_SHM_MUTEX_TYPE "proxy-balancer-shm"

/* post_config: look up the slotmem provider, then make (or find again)
 * every server's balancer segment and every balancer's member segment, and
 * move the configured balancers and members into them.  *members gets the
 * number of member slots made in all.  OK or !OK, logged. */
int lbx_shm_post_config(apr_pool_t *pconf, apr_pool_t *ptemp,
                        server_rec *main_s, apr_size_t *members);

/* child_init: attach this child to the segments and initialise its view
 * of every balancer and member.  A child that cannot exits (logged). */
void lbx_shm_child_init(apr_pool_t *pchild, server_rec *main_s);

/* Give w, a member just defined at runtime, a free record of b's member
 * segment. */
apr_status_t lbx_shm_share_new_member(proxy_balancer *b, proxy_worker *w);

/* Whether w is one of the members b got from httpd.conf (as opposed to
 * one added at runtime through the manager). */
int lbx_shm_config_member(proxy_balancer *b, proxy_worker *w);

#endif
