/* hcheck_conf.h: health-check configuration: the hc* parameters of
 * BalancerMember/ProxySet, ProxyHCExpr, ProxyHCTemplate, ProxyHCTPsize. */
#ifndef LBX_HCHECK_CONF_H
#define LBX_HCHECK_CONF_H

#include "ap_expr.h"

#include "lbx_proxy.h"

/* A named ProxyHCExpr: its text (for the manager) and parsed form. */
struct lbx_hc_expr {
    const char *name;
    const char *text;
    ap_expr_info_t *expr;
};

/* A member's check settings that stock's member record has no field for:
 * hctimeout (0: the member's timeout, as stock), hchost (NULL: the
 * member's host and port, as stock) and hcconsecutive (off: stock's
 * counting). */
struct lbx_hc_extra {
    apr_interval_time_t timeout;
    const char *host;
    int consecutive; /* hcconsecutive=on: passes and fails in a row */
};
#define LBX_HC_TIMEOUT_MAX_S 3600
#define LBX_HC_HOST_MAX 255

/* Member w's, or NULL when it has none. */
const struct lbx_hc_extra *lbx_hc_extra_of(proxy_worker *w);

/* Directive handlers. */
const char *lbx_hc_set_expr(cmd_parms *cmd, void *dconf, const char *arg);
const char *lbx_hc_set_template(cmd_parms *cmd, void *dconf, const char *arg);
const char *lbx_hc_set_threads(cmd_parms *cmd, void *dconf, const char *arg);

/* pre_config: ProxyHCTPsize back to its default for a new reading. */
void lbx_hc_conf_pre_config(void);
/* ProxyHCTPsize: check threads, 0 = check inline in the watchdog. */
int lbx_hc_threads(void);

/* register_hooks: the optional functions mod_proxy and others look up
 * (set_worker_hc_param, hc_valid_expr). */
void lbx_hc_conf_register(void);

/* The ProxyHCExpr definitions server s sees (a vhost that configures
 * anything health-check related has its own), or NULL when it has none. */
const apr_array_header_t *lbx_hc_exprs(server_rec *s);
/* The expression `name` of server s (case-insensitive), or NULL. */
const struct lbx_hc_expr *lbx_hc_expr_find(server_rec *s, const char *name);
/* Whether `name` is exactly (case-sensitively) an expression of r's
 * server, as stock's manager checks it. */
int lbx_hc_expr_known(server_rec *s, const char *name);
int lbx_hc_valid_expr(request_rec *r, const char *name);

/* mod_proxy's entry for the check method `name` (case-insensitive),
 * implemented or not, or NULL.  The one lookup of method names. */
proxy_hcmethods_t *lbx_hc_method_find(const char *name);

/* Methods that evaluate no expression (their hcexpr is cleared). */
int lbx_hc_method_has_expr(hcmethod_t m);

#endif
