/* mod_lbx.c: the module record, its directives and its hooks.
 *
 * mod_lbx takes over what stock mod_proxy_balancer, the lbmethod modules
 * and mod_proxy_hcheck do for mod_proxy.  This file only says when each
 * room of the module runs; the rooms, top to bottom:
 *
 *   request.c          the request path (canon, pre/post_request, sticky)
 *   manager.c          the balancer-manager (+ manager_page.c, _feeds.c)
 *   hcheck.c           health-check watchdog (+ hcheck_probe.c, _conf.c)
 *   lbmethods/         lbmethod providers (provider.c, hb_reports.c) over
 *                      the pure selection cores
 *   lbx_shm.c, busy.c, lbx_conf.c   shared memory, requests in flight,
 *                      per-server configuration
 *   lbx_proxy.c        mod_proxy's API, log tags, atomics
 *
 * Pure files (sticky.c, the cores in lbmethods/, hcheck_core.c,
 * hcheck_frame.c, manager_core.c, lbx_text.c) know nothing of httpd.
 */
#include "apr_strings.h"
#include "http_main.h"
#include "http_request.h"
#include "util_mutex.h"

#include "request.h"
#include "cookie.h"
#include "manager.h"
#include "fleet.h"
#include "hcheck.h"
#include "hcheck_conf.h"
#include "hcheck_probe.h"
#include "provider.h"
#include "engine.h"
#include "hb_reports.h"
#include "outlier.h"
#include "lbx_shm.h"
#include "lbx_hot.h"
#include "busy.h"
#include "lbx_conf.h"
#include "lbx_proxy.h"

/* The module record must stay visible although everything else is built
 * with -fvisibility=hidden (stock exports a stray `storage` symbol; we keep
 * every non-API symbol private). */
extern module AP_MODULE_DECLARE_DATA lbx_module
    __attribute__((visibility("default")));

/* Stock modules mod_lbx replaces; loading both would register every hook
 * and provider twice (busy counted twice, the last provider silently
 * winning), so startup is refused instead. */
static const struct {
    const char *source; /* module name as ap_find_linked_module sees it */
    const char *symbol; /* what the user's LoadModule line names */
    const char *file;
} lbx_replaced[] = {
    { "mod_proxy_balancer.c", "proxy_balancer_module",
      "mod_proxy_balancer.so" },
    { "mod_proxy_hcheck.c", "proxy_hcheck_module", "mod_proxy_hcheck.so" },
    { "mod_lbmethod_byrequests.c", "lbmethod_byrequests_module",
      "mod_lbmethod_byrequests.so" },
    { "mod_lbmethod_bytraffic.c", "lbmethod_bytraffic_module",
      "mod_lbmethod_bytraffic.so" },
    { "mod_lbmethod_bybusyness.c", "lbmethod_bybusyness_module",
      "mod_lbmethod_bybusyness.so" },
    { "mod_lbmethod_heartbeat.c", "lbmethod_heartbeat_module",
      "mod_lbmethod_heartbeat.so" },
};

static const command_rec lbx_cmds[] = {
    AP_INIT_RAW_ARGS("ProxyHCExpr", lbx_hc_set_expr, NULL, OR_FILEINFO,
                     "Define a health check condition ruleset expression"),
    AP_INIT_RAW_ARGS("ProxyHCTemplate", lbx_hc_set_template, NULL, OR_FILEINFO,
                     "Define a health check template"),
    AP_INIT_TAKE1("ProxyHCTPsize", lbx_hc_set_threads, NULL, RSRC_CONF,
                  "Set size of health check thread pool"),
    AP_INIT_TAKE1("LBXHashKey", lbx_conf_set_hash_key, NULL, ACCESS_CONF,
                  "The request's key for lbmethod=byhash, an expression "
                  "(default: the client's address)"),
    AP_INIT_TAKE1("LBXHashBalance", lbx_conf_set_hash_balance, NULL,
                  ACCESS_CONF,
                  "lbmethod=byhash: no member takes more than "
                  "this factor of the mean load (e.g. 1.25), or off"),
    AP_INIT_RAW_ARGS("LBXEjection", lbx_conf_set_ejection, NULL, ACCESS_CONF,
                     "Eject a member after failures on real traffic: "
                     "fails=N [time=30s] [maxtime=300s] [maxshare=50] "
                     "[status=500,503], or off"),
    AP_INIT_TAKE1("LBXSlowStart", lbx_conf_set_slow_start, NULL, ACCESS_CONF,
                  "Ramp a member back to its full share over this time "
                  "after it becomes usable again, or off"),
    AP_INIT_TAKE12("LBXRetryBudget", lbx_conf_set_retry_budget, NULL,
                   ACCESS_CONF,
                   "Failover attempts allowed, in % of recent requests "
                   "[and at least this many], or off"),
    AP_INIT_RAW_ARGS("LBXRouteCookie", lbx_conf_set_route_cookie, NULL,
                     ACCESS_CONF,
                     "Set the sticky route cookie: NAME or on [path=/] "
                     "[domain=D] [maxage=S] [samesite=lax] [secure=auto] "
                     "[httponly=on], or off"),
    AP_INIT_TAKE1("LBXRouteBy", lbx_conf_set_route_by, NULL, ACCESS_CONF,
                  "An expression whose value is the route of the member "
                  "to use (e.g. \"%{ENV:BACKEND}\")"),
    AP_INIT_TAKE1("LBXLbsetBy", lbx_conf_set_lbset_by, NULL, ACCESS_CONF,
                  "An expression whose value is the lbset to prefer "
                  "(e.g. \"%{ENV:REGION_SET}\")"),
    AP_INIT_TAKE1("HeartbeatStorage", lbx_conf_set_heartbeat_storage, NULL,
                  RSRC_CONF,
                  "Path of the file mod_heartmonitor writes "
                  "heartbeats to (read by lbmethod=heartbeat)"),
    AP_INIT_RAW_ARGS("LBXFleet", lbx_fleet_set, NULL, RSRC_CONF,
                     "redis://HOST[:PORT] or unix:/PATH, the fleet's name, "
                     "then [id=...] [user=...] [password-file=...]: share "
                     "balancer-manager edits with the other front-ends"),
    { NULL }
};

/* Refuse to start beside a module mod_lbx replaces, or without a
 * mod_proxy whose API it can use; every reason is logged. */
static int check_neighbours(void)
{
    const char *missing;
    size_t i;
    int clash = 0;

    for (i = 0; i < sizeof(lbx_replaced) / sizeof(lbx_replaced[0]); i++) {
        if (ap_find_linked_module(lbx_replaced[i].source)) {
            ap_log_error(
                APLOG_MARK, APLOG_EMERG, 0, NULL,
                LBXLOGNO(
                    20001) "mod_lbx replaces %s: remove the line "
                           "'LoadModule %s .../%s' from the configuration "
                           "(loaded together, both would claim the same hooks, "
                           "providers or directives)",
                lbx_replaced[i].source, lbx_replaced[i].symbol,
                lbx_replaced[i].file);
            clash = 1;
        }
    }
    if (!ap_find_linked_module("mod_proxy.c")) {
        ap_log_error(
            APLOG_MARK, APLOG_EMERG, 0, NULL,
            LBXLOGNO(
                20002) "mod_lbx needs mod_proxy: add 'LoadModule proxy_module "
                       "/usr/lib/apache2/modules/mod_proxy.so' to the "
                       "configuration");
        clash = 1;
    }
    else if ((missing = lbx_proxy_resolve()) != NULL) {
        ap_log_error(
            APLOG_MARK, APLOG_EMERG, 0, NULL,
            LBXLOGNO(
                20003) "mod_lbx needs mod_proxy 2.4.62 or later: the loaded "
                       "mod_proxy does not export %s",
            missing);
        clash = 1;
    }
    return clash ? !OK : OK;
}

static int lbx_pre_config(apr_pool_t *pconf, apr_pool_t *plog,
                          apr_pool_t *ptemp)
{
    const char *owner;

    (void)plog;
    (void)ptemp;
    if (check_neighbours() != OK) {
        return !OK;
    }
    lbx_hc_pre_config();
    lbx_conf_pre_config();
    lbx_fleet_pre_config();

    /* httpd sorts hooks again after reading the configuration, so hooks
     * added here still honour APR_HOOK_FIRST.  Hooks are recorded under the
     * module being registered; outside register_hooks that is whichever
     * module came last, so say it. */
    owner = apr_hook_debug_current;
    apr_hook_debug_current = lbx_module.name;
    proxy_hook_pre_request(lbx_pre_request, NULL, NULL, APR_HOOK_FIRST);
    proxy_hook_post_request(lbx_post_request, NULL, NULL, APR_HOOK_FIRST);
    proxy_hook_canon_handler(lbx_canon, NULL, NULL, APR_HOOK_FIRST);
    apr_hook_debug_current = owner;

    return ap_mutex_register(pconf, LBX_SHM_MUTEX_TYPE, NULL, APR_LOCK_DEFAULT,
                             0);
}

static int lbx_post_config(apr_pool_t *pconf, apr_pool_t *plog,
                           apr_pool_t *ptemp, server_rec *main_s)
{
    apr_size_t members;
    apr_status_t rv;

    (void)plog;
    /* The first of httpd's two configuration passes is a dry run. */
    if (ap_state_query(AP_SQ_MAIN_STATE) == AP_SQ_MS_CREATE_PRE_CONFIG) {
        return OK;
    }
    if (!lbx_proxy_fetch_retry()) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, 0, main_s,
                     LBXLOGNO(02230) "mod_proxy must be loaded for mod_lbx");
        return !OK;
    }
    lbx_conf_post_config(pconf, main_s);
    if (lbx_shm_post_config(pconf, ptemp, main_s, &members) != OK) {
        return !OK;
    }
    if ((rv = lbx_hot_create(pconf, main_s)) != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, rv, main_s,
                     LBXLOGNO(20013) "cannot create the selection engine's "
                                     "shared memory");
        return !OK;
    }
    lbx_outlier_configure(main_s);
    if (lbx_cookie_post_config(pconf, main_s) != OK) {
        return !OK;
    }
    lbx_hb_reports_post_config(pconf, main_s);
    if (lbx_hc_post_config(pconf, main_s) != OK
        || lbx_fleet_post_config(pconf, main_s) != OK) {
        return !OK;
    }
    if ((rv = lbx_busy_create(pconf, members)) != APR_SUCCESS) {
        ap_log_error(
            APLOG_MARK, APLOG_EMERG, rv, main_s,
            LBXLOGNO(20012) "cannot create the busy-tracking shared memory");
        return !OK;
    }
    return OK;
}

static void lbx_child_init(apr_pool_t *p, server_rec *main_s)
{
    lbx_busy_child_init(p, main_s);
    lbx_hc_child_init(p);
    lbx_shm_child_init(p, main_s);
    lbx_engine_child_init(p, main_s);
}

static void lbx_register_hooks(apr_pool_t *p)
{
    static const char *const child_pred[] = { "mpm_winnt.c",
                                              "mod_slotmem_shm.c", NULL };
    /* mod_proxy's child_init must run after ours (it names stock's module
     * as its predecessor, which is not loaded any more). */
    static const char *const child_succ[] = { "mod_proxy.c", "mod_watchdog.c",
                                              NULL };
    static const char *const post_pred[] = { "mod_proxy.c",
                                             "mod_heartmonitor.c", NULL };
    static const char *const post_succ[] = { "mod_watchdog.c", NULL };

    ap_hook_pre_config(lbx_pre_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_post_config(lbx_post_config, post_pred, post_succ, APR_HOOK_MIDDLE);
    ap_hook_child_init(lbx_child_init, child_pred, child_succ, APR_HOOK_MIDDLE);
    ap_hook_handler(lbx_manager_handler, NULL, NULL, APR_HOOK_FIRST);
    ap_hook_expr_lookup(lbx_hc_expr_lookup, NULL, NULL, APR_HOOK_MIDDLE);
    /* The mod_proxy hooks are added in pre_config, once mod_proxy's API
     * has been looked up. */
    lbx_register_providers(p);
    lbx_cookie_register();
    lbx_hc_conf_register();
    lbx_manager_register();
}

AP_DECLARE_MODULE(lbx) = { STANDARD20_MODULE_STUFF,
                           NULL,
                           NULL,
                           lbx_conf_create,
                           lbx_conf_merge,
                           lbx_cmds,
                           lbx_register_hooks,
                           AP_MODULE_FLAG_NONE };
