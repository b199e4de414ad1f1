/* cookie.h: mod_lbx's own route cookie (LBXRouteCookie): the balancer
 * sets its sticky cookie itself when a client's route changes, instead of
 * stock's mod_headers idiom. */
#ifndef LBX_COOKIE_H
#define LBX_COOKIE_H

#include "lbx_proxy.h"

/* register_hooks: the output filter that adds the cookie. */
void lbx_cookie_register(void);

/* post_config: every balancer with LBXRouteCookie gets its stickysession
 * name if it has none (an error when it has another), and its members
 * without route= a route made from their name.  !OK on error (logged). */
int lbx_cookie_post_config(apr_pool_t *pconf, server_rec *main_s);

/* pre_request, member w chosen: when the balancer has a route cookie and
 * the client's route (`session_route`, NULL: none) is not w's, the answer
 * gets a cookie naming w's route (unless the member's answer sets one of
 * that name itself). */
void lbx_cookie_chosen(proxy_balancer *b, proxy_worker *w, request_rec *r,
                       const char *session_route);

/* post_request: an attempt that ended in a 5xx (the proxy's error, or the
 * member's) sets no cookie. */
void lbx_cookie_answer(request_rec *r);

#endif
