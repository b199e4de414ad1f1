/* request.h: the request path, as mod_proxy's hooks call it: canonicalise
 * balancer:// URLs, choose a member for every attempt, account for the
 * answer. */
#ifndef LBX_REQUEST_H
#define LBX_REQUEST_H

#include "lbx_proxy.h"

/* proxy canon_handler: balancer://host[:port]/rest. */
int lbx_canon(request_rec *r, char *url);

/* proxy pre_request: recovery, sticky route, lbmethod; rewrites *url to
 * the chosen member. */
int lbx_pre_request(proxy_worker **worker, proxy_balancer **balancer,
                    request_rec *r, proxy_server_conf *conf, char **url);

/* proxy post_request: failonstatus and failontimeout. */
int lbx_post_request(proxy_worker *worker, proxy_balancer *balancer,
                     request_rec *r, proxy_server_conf *conf);

#endif
