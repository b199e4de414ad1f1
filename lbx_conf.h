/* lbx_conf.h: mod_lbx's per-server configuration record: the
 * HeartbeatStorage path and the health-check context of each server. */
#ifndef LBX_CONF_H
#define LBX_CONF_H

#include "ap_expr.h"

#include "lbx_proxy.h"

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

/* The slot holding server s's health-check context (hcheck_conf.c owns
 * what it points to).  With p, a vhost that has no mod_lbx configuration
 * yet gets one (configuration time only); without, such a vhost gets a
 * slot holding NULL. */
struct lbx_hc_ctx;
struct lbx_hc_ctx **lbx_conf_hc_slot(server_rec *s, apr_pool_t *p);

#endif
