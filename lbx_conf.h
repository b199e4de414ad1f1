/* lbx_conf.h: mod_lbx's per-server configuration record: the
 * HeartbeatStorage path and the health-check context of each server. */
#ifndef LBX_CONF_H
#define LBX_CONF_H

#include "ap_expr.h"

#include "lbx_proxy.h"
#include "outlier_core.h"

void *lbx_conf_create(apr_pool_t *p, server_rec *s);
void *lbx_conf_merge(apr_pool_t *p, void *basev, void *addv);

/* HeartbeatStorage (main server only). */
const char *lbx_conf_set_heartbeat_storage(cmd_parms *cmd, void *dconf,
                                           const char *path);
/* Give every server without HeartbeatStorage stock's default path. */
void lbx_conf_post_config(apr_pool_t *pconf, server_rec *main_s);
/* The HeartbeatStorage file of server s. */
const char *lbx_conf_heartbeat_path(server_rec *s);

/* Settings of one balancer for lbmethod=byhash, from LBXHashKey and
 * LBXHashBalance inside its <Proxy balancer://...> section. */
struct lbx_hash_conf {
    ap_expr_info_t *key; /* NULL: the client's address */
    unsigned balance_pct; /* 0: unbounded */
};

/* LBXHashKey and LBXHashBalance (inside <Proxy balancer://...>). */
const char *lbx_conf_set_hash_key(cmd_parms *cmd, void *dconf,
                                  const char *expr);
const char *lbx_conf_set_hash_balance(cmd_parms *cmd, void *dconf,
                                      const char *factor);
/* The byhash settings of the balancer named `name` in server s (the
 * defaults when it has none). */
const struct lbx_hash_conf *lbx_conf_hash(server_rec *s, const char *name);

/* LBXEjection, LBXSlowStart, LBXRetryBudget (inside <Proxy
 * balancer://...>). */
const char *lbx_conf_set_ejection(cmd_parms *cmd, void *dconf,
                                  const char *args);
const char *lbx_conf_set_slow_start(cmd_parms *cmd, void *dconf,
                                    const char *val);
const char *lbx_conf_set_retry_budget(cmd_parms *cmd, void *dconf,
                                      const char *pct, const char *min);
/* LBXRouteCookie: mod_lbx sets the balancer's sticky cookie itself. */
enum lbx_cookie_secure {
    LBX_SECURE_AUTO = 0,
    LBX_SECURE_ON,
    LBX_SECURE_OFF
};
struct lbx_cookie_conf {
    const char *name; /* NULL: the stickysession cookie, else ROUTEID */
    const char *path; /* default "/" */
    const char *domain; /* NULL: none (the host only) */
    const char *samesite; /* "Lax" (default), "Strict", "None" or NULL */
    long max_age; /* seconds; -1: a session cookie (default) */
    enum lbx_cookie_secure secure; /* auto: when the request came by TLS */
    int httponly; /* default on */
};
const char *lbx_conf_set_route_cookie(cmd_parms *cmd, void *dconf,
                                      const char *args);
/* LBXRouteBy EXPR: an ap_expr string whose value names the route of the
 * member to send a request to (when no session route chose one). */
const char *lbx_conf_set_route_by(cmd_parms *cmd, void *dconf,
                                  const char *expr);
/* The LBXRouteBy expression of balancer `name` in server s, or NULL. */
ap_expr_info_t *lbx_conf_route_by(server_rec *s, const char *name);
/* LBXLbsetBy EXPR: an ap_expr string whose value is the lbset to prefer
 * (the others follow in their order). */
const char *lbx_conf_set_lbset_by(cmd_parms *cmd, void *dconf,
                                  const char *expr);
ap_expr_info_t *lbx_conf_lbset_by(server_rec *s, const char *name);
/* The request note that carries the preferred lbset to the engine. */
#define LBX_LBSET_NOTE "lbx-lbset"
/* The route cookie of balancer `name` in server s, or NULL. */
struct lbx_cookie_conf *lbx_conf_cookie(server_rec *s, const char *name);

/* The ejection/slow-start/budget settings of balancer `name` in server s
 * (the defaults, all off, when it has none or s is NULL). */
const struct lbx_outlier_conf *lbx_conf_outlier(server_rec *s,
                                                const char *name);

/* A member's own ejectfails= and slowstart= (BalancerMember/ProxySet
 * keys); -1: not set, the balancer's setting applies. */
struct lbx_member_conf {
    int eject_fails;
    int64_t slow_start_us;
};
/* Key `key` of member w (NULL: only check the value): *known says whether
 * it is one of mod_lbx's member keys; returns an error naming the key and
 * the accepted range, or NULL. */
const char *lbx_conf_set_member_key(apr_pool_t *p, proxy_worker *w,
                                    const char *key, const char *val,
                                    int *known);
/* Member w's own settings, or NULL. */
const struct lbx_member_conf *lbx_conf_member(proxy_worker *w);
/* pre_config: forget the previous reading's member settings. */
void lbx_conf_pre_config(void);

/* The slot holding server s's health-check context (hcheck_conf.c owns
 * what it points to).  With p, a vhost that has no mod_lbx configuration
 * yet gets one (configuration time only); without, such a vhost gets a
 * slot holding NULL. */
struct lbx_hc_ctx;
struct lbx_hc_ctx **lbx_conf_hc_slot(server_rec *s, apr_pool_t *p);

#endif
