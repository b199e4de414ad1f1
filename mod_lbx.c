/* mod_lbx.c: module record, mod_proxy hooks, shared memory, child init.
 *
 * mod_lbx takes over what stock mod_proxy_balancer does for mod_proxy: it
 * moves balancers and members into slotmem shared memory (with stock's
 * segment names and record sizes, so BalancerPersist files carry over),
 * canonicalises balancer:// URLs, chooses a member for every attempt
 * (pre_request: recovery, sticky routes, lbmethod) and marks members in
 * error after the response (post_request: failonstatus, failontimeout).
 * Selection arithmetic and parsing live in pure files (sticky.c and the
 * cores in lbmethods/); this file is glue.
 */
#include <dlfcn.h>

#include "apr_strings.h"
#include "apr_md5.h"
#include "apr_escape.h"
#include "apr_hash.h"
#include "ap_provider.h"
#include "ap_mpm.h"
#include "ap_slotmem.h"
#include "http_main.h"
#include "http_protocol.h"
#include "http_request.h"
#include "util_mutex.h"
#include "heartbeat.h"

#include "mod_lbx.h"
#include "sticky.h"

/* The module record must stay visible although everything else is built
 * with -fvisibility=hidden (stock exports a stray `storage` symbol; we keep
 * every non-API symbol private). */
extern module AP_MODULE_DECLARE_DATA lbx_module
    __attribute__((visibility("default")));

static const char *const lbx_mutex_type = "proxy-balancer-shm";

static ap_slotmem_provider_t *lbx_storage;
static APR_OPTIONAL_FN_TYPE(ap_proxy_retry_worker) *proxy_retry_worker_fn;

/* balancer pointer -> struct lbx_scratch, built in child_init and only read
 * afterwards, so request threads may look it up without a lock. */
static apr_hash_t *lbx_scratches;

#define LBX_PROXY_PTR(sym) __typeof__(sym) *lbx_px_##sym;
LBX_PROXY_API(LBX_PROXY_PTR)
#undef LBX_PROXY_PTR

/* Look mod_proxy's API up among the loaded modules (apr_dso_load opens
 * them RTLD_GLOBAL).  Returns the first missing name, or NULL. */
static const char *resolve_proxy_api(void)
{
#define LBX_PROXY_RESOLVE(sym) \
    if (!(lbx_px_##sym = dlsym(RTLD_DEFAULT, #sym))) { \
        return #sym; \
    }
    LBX_PROXY_API(LBX_PROXY_RESOLVE)
#undef LBX_PROXY_RESOLVE
    return NULL;
}

/* Stock modules mod_lbx replaces; loading both would register every hook
 * and provider twice (busy counted twice, the last provider silently
 * winning), so startup is refused instead. */
static const struct {
    const char *source;     /* module name as ap_find_linked_module sees it */
    const char *symbol;     /* what the user's LoadModule line names */
    const char *file;
} lbx_replaced[] = {
    { "mod_proxy_balancer.c", "proxy_balancer_module", "mod_proxy_balancer.so" },
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

int lbx_retry_worker(proxy_worker *w, server_rec *s)
{
    return proxy_retry_worker_fn("BALANCER", w, s);
}

static struct lbx_scratch *scratch_make(apr_pool_t *p, size_t cap)
{
    struct lbx_scratch *sc = apr_pcalloc(p, sizeof(*sc));

    if (cap == 0) {
        cap = 1;
    }
    sc->cap = cap;
    sc->members = apr_pcalloc(p, cap * sizeof(*sc->members));
    sc->peers = apr_pcalloc(p, cap * sizeof(*sc->peers));
    sc->credit0 = apr_pcalloc(p, cap * sizeof(*sc->credit0));
    sc->index = apr_pcalloc(p, cap * sizeof(*sc->index));
    sc->ready = apr_pcalloc(p, cap * sizeof(*sc->ready));
    sc->pool = p;
    return sc;
}

struct lbx_scratch *lbx_scratch_get(proxy_balancer *b, size_t n,
                                    apr_pool_t *p)
{
    struct lbx_scratch *sc = NULL;

    if (lbx_scratches) {
        sc = apr_hash_get(lbx_scratches, &b, sizeof(b));
    }
    if (!sc || sc->cap < n) {
        sc = scratch_make(p, n);
    }
    return sc;
}

/* ---- configuration ------------------------------------------------------ */

struct lbx_server_conf {
    const char *hb_path;        /* HeartbeatStorage, NULL = not set here */
    struct lbx_hc_ctx *hc;      /* ProxyHCExpr/ProxyHCTemplate context */
};

static void *lbx_create_server_conf(apr_pool_t *p, server_rec *s)
{
    (void)s;
    return apr_pcalloc(p, sizeof(struct lbx_server_conf));
}

static void *lbx_merge_server_conf(apr_pool_t *p, void *basev, void *addv)
{
    struct lbx_server_conf *base = basev, *add = addv;
    struct lbx_server_conf *conf = apr_pcalloc(p, sizeof(*conf));

    conf->hb_path = add->hb_path ? add->hb_path : base->hb_path;
    conf->hc = add->hc ? add->hc : base->hc;
    return conf;
}

struct lbx_hc_ctx **lbx_hc_ctx_slot(server_rec *s, apr_pool_t *p)
{
    static struct lbx_hc_ctx *none;
    struct lbx_server_conf *conf = ap_get_module_config(s->module_config,
                                                        &lbx_module);
    if (!conf) {
        if (!p) {
            none = NULL;
            return &none;
        }
        conf = lbx_create_server_conf(p, s);
        ap_set_module_config(s->module_config, &lbx_module, conf);
    }
    return &conf->hc;
}

const char *lbx_heartbeat_path(server_rec *s)
{
    struct lbx_server_conf *conf = ap_get_module_config(s->module_config,
                                                        &lbx_module);
    return conf->hb_path;
}

/* HeartbeatStorage is mod_heartmonitor's directive too.  httpd hands a
 * directive only to the first module that defines it unless that module
 * declines, so when mod_heartmonitor comes after mod_lbx in the module
 * list, mod_lbx takes the path and then declines: both modules see it
 * (with stock, whichever module was loaded last silently wins). */
static const char *set_heartbeat_storage(cmd_parms *cmd, void *dconf,
                                         const char *path)
{
    struct lbx_server_conf *conf =
        ap_get_module_config(cmd->server->module_config, &lbx_module);
    const char *err = ap_check_cmd_context(cmd, GLOBAL_ONLY);
    module *next = lbx_module.next;

    (void)dconf;
    if (err) {
        return err;
    }
    conf->hb_path = ap_runtime_dir_relative(cmd->pool, path);
    if (!conf->hb_path) {
        return apr_pstrcat(cmd->pool, "HeartbeatStorage: invalid path ",
                           path, NULL);
    }
    if (next && ap_find_command_in_modules(cmd->cmd->name, &next)) {
        return DECLINE_CMD;
    }
    return NULL;
}

static const command_rec lbx_cmds[] = {
    AP_INIT_RAW_ARGS("ProxyHCExpr", lbx_hc_set_expr, NULL, OR_FILEINFO,
                     "Define a health check condition ruleset expression"),
    AP_INIT_RAW_ARGS("ProxyHCTemplate", lbx_hc_set_template, NULL,
                     OR_FILEINFO, "Define a health check template"),
    AP_INIT_TAKE1("ProxyHCTPsize", lbx_hc_set_threads, NULL, RSRC_CONF,
                  "Set size of health check thread pool"),
    AP_INIT_TAKE1("HeartbeatStorage", set_heartbeat_storage, NULL, RSRC_CONF,
                  "Path of the file mod_heartmonitor writes heartbeats to "
                  "(read by lbmethod=heartbeat)"),
    { NULL }
};

/* ---- canonicalisation --------------------------------------------------- */

/* balancer://host[:port]/rest -> proxy:balancer://host/rest.  The path is
 * left raw: the member's own scheme canonicalises it once a member is
 * chosen (balancer_rewrite below), as stock 2.4.71 does. */
static int lbx_canon(request_rec *r, char *url)
{
    char *host;
    apr_port_t port = 0;
    const char *err;

    if (ap_cstr_casecmpn(url, "balancer:", 9) != 0) {
        return DECLINED;
    }
    ap_log_rerror(APLOG_MARK, APLOG_TRACE1, 0, r, "canonicalising URL %s", url);
    url += 9;
    err = ap_proxy_canon_netloc(r->pool, &url, NULL, NULL, &host, &port);
    if (err) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, LBXLOGNO(01157)
                      "error parsing URL %s: %s", url, err);
        return HTTP_BAD_REQUEST;
    }
    r->filename = apr_pstrcat(r->pool, "proxy:" BALANCER_PREFIX, host, "/",
                              url, NULL);
    return OK;
}

/* ---- sticky sessions ---------------------------------------------------- */

/* Find the member that serves `route`: first among regular members, then
 * among hot standbys, in configuration order.  An unusable match gets a
 * retry; if it stays unusable and has a redirect, the redirect is followed
 * as a route (at most as deep as there are members, so redirect cycles
 * end: stock PR 59864). */
static proxy_worker *find_route_worker(proxy_balancer *b, const char *route,
                                       request_rec *r, int depth)
{
    proxy_worker **workers = (proxy_worker **)b->workers->elts;
    int pass, i;

    for (pass = 0; pass < 2; pass++) {
        for (i = 0; i < b->workers->nelts; i++) {
            proxy_worker *w = workers[i];
            proxy_worker *rw;

            if ((PROXY_WORKER_IS_STANDBY(w) ? 1 : 0) != pass) {
                continue;
            }
            if (!*w->s->route || strcmp(w->s->route, route) != 0) {
                continue;
            }
            if (PROXY_WORKER_IS_USABLE(w)) {
                return w;
            }
            lbx_retry_worker(w, r->server);
            if (PROXY_WORKER_IS_USABLE(w)) {
                return w;
            }
            if (!*w->s->redirect || depth >= b->workers->nelts) {
                continue;
            }
            rw = find_route_worker(b, w->s->redirect, r, depth + 1);
            if (rw && !PROXY_WORKER_IS_USABLE(rw)) {
                lbx_retry_worker(rw, r->server);
            }
            if (rw && PROXY_WORKER_IS_USABLE(rw)) {
                return rw;
            }
        }
    }
    return NULL;
}

/* The route the client asked for, from the URL (path, then query) or, if
 * the URL has none, the first Cookie header.  *route stays NULL when there is
 * none, or when the value lacks the separator; it may be "" (stock quirk:
 * session variables are then set but no member is looked up). */
static proxy_worker *find_session_route(proxy_balancer *b, request_rec *r,
                                        const char *url, const char **route,
                                        const char **sticky_used)
{
    struct lbx_span value, rspan;
    const char *hay;
    const char *cookie;
    proxy_worker *w;
    int found = 0;

    *route = NULL;
    if (!*b->s->sticky) {
        return NULL;
    }
    /* Since 2.4.63 stock honours the parameter in the query string too. */
    hay = r->args ? apr_pstrcat(r->pool, url, "?", r->args, NULL) : url;
    /* An empty parameter name (stickysession=NAME|) matches the first
     * "=value" anywhere, as in stock. */
    if (lbx_sticky_url_param(hay, strlen(hay), b->s->sticky_path,
                                strlen(b->s->sticky_path), b->s->scolonsep,
                                &value)) {
        *sticky_used = b->s->sticky_path;
        found = 1;
    }
    else if ((cookie = apr_table_get(r->headers_in, "Cookie"))
             && lbx_sticky_cookie(cookie, strlen(cookie), b->s->sticky,
                                  strlen(b->s->sticky), &value)) {
        *sticky_used = b->s->sticky;
        found = 1;
    }
    if (!found) {
        return NULL;
    }
    if (*sticky_used == b->s->sticky_path) {
        ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, LBXLOGNO(01159)
                      "Found value %s for stickysession %s",
                      apr_pstrmemdup(r->pool, value.ptr, value.len),
                      *sticky_used);
    }
    else {
        ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, LBXLOGNO(01160)
                      "Found value %s for stickysession %s",
                      apr_pstrmemdup(r->pool, value.ptr, value.len),
                      *sticky_used);
    }
    if (!lbx_sticky_route(value, b->s->sticky_separator, &rspan)) {
        return NULL;
    }
    *route = apr_pstrmemdup(r->pool, rspan.ptr, rspan.len);
    if (!**route) {
        return NULL;
    }
    ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, LBXLOGNO(01161)
                  "Found route %s", *route);
    w = find_route_worker(b, *route, r, 1);
    if (w && strcmp(*route, w->s->route) != 0) {
        apr_table_setn(r->subprocess_env, "BALANCER_ROUTE_CHANGED", "1");
        ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, LBXLOGNO(01162)
                      "Route changed from %s to %s", *route, w->s->route);
    }
    return w;
}

/* Stock's default accounting for a sticky hit (no updatelbstatus): every
 * usable member, whatever its lbset or role, earns its weight and the
 * chosen one pays for all, so byrequests stays fair when part of the
 * traffic is routed by session.  Same arithmetic as a byrequests pick. */
static void credit_sticky_hit(proxy_balancer *b, proxy_worker *chosen,
                              apr_pool_t *p)
{
    proxy_worker **workers = (proxy_worker **)b->workers->elts;
    size_t n = (size_t)b->workers->nelts;
    struct lbx_scratch *sc = lbx_scratch_get(b, n, p);
    size_t i, count = 0, winner = (size_t)-1;
    int64_t total;

    for (i = 0; i < n; i++) {
        if (!PROXY_WORKER_IS_USABLE(workers[i])) {
            continue;
        }
        if (workers[i] == chosen) {
            winner = count;
        }
        sc->index[count] = i;
        sc->peers[count].weight = lbx_atomic_load(&workers[i]->s->lbfactor);
        sc->peers[count].credit = 0;
        count++;
    }
    /* Credits start at 0 so the result is the delta to apply. */
    total = lbx_byrequests_credit(sc->peers, count, winner);
    for (i = 0; i < count; i++) {
        lbx_atomic_add(&workers[sc->index[i]]->s->lbstatus,
                       (int)sc->peers[i].credit);
    }
    if (winner == (size_t)-1) {
        /* The chosen member was not usable when counted (a redirect target
         * that another thread just errored); stock still charges it. */
        lbx_atomic_add(&chosen->s->lbstatus, -(int)total);
    }
}

/* ---- recovery and selection --------------------------------------------- */

/* If every member is in error, bring them all back at once (forcerecovery,
 * default On) rather than answer 503 until each retry timer runs out.  The
 * walk stops at the first member not in error, so it is O(1) whenever the
 * first member is healthy. */
static void force_recovery(proxy_balancer *b, server_rec *s)
{
    proxy_worker **workers = (proxy_worker **)b->workers->elts;
    int i;

    for (i = 0; i < b->workers->nelts; i++) {
        if (!PROXY_WORKER_IS_ERROR(workers[i])) {
            return;
        }
        lbx_retry_worker(workers[i], s);
        if (!PROXY_WORKER_IS_ERROR(workers[i])) {
            return;
        }
    }
    if (!b->s->forcerecovery) {
        return;
    }
    for (i = 0; i < b->workers->nelts; i++) {
        lbx_atomic_add(&workers[i]->s->retries, 1);
        lbx_status_clear(workers[i], PROXY_WORKER_IN_ERROR);
        ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, s, LBXLOGNO(01165)
                     "%s: Forcing recovery for worker (%s:%d)",
                     b->s->name, workers[i]->s->hostname_ex,
                     (int)workers[i]->s->port);
    }
}

static proxy_worker *run_finder(proxy_balancer *b, request_rec *r)
{
    proxy_worker *w;
    apr_status_t rv;

    if ((rv = PROXY_THREAD_LOCK(b)) != APR_SUCCESS) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, rv, r, LBXLOGNO(01163)
                      "%s: Lock failed for find_best_worker()", b->s->name);
        return NULL;
    }
    w = b->lbmethod->finder(b, r);
    if (w) {
        lbx_atomic_add(&w->s->elected, 1);
    }
    if ((rv = PROXY_THREAD_UNLOCK(b)) != APR_SUCCESS) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, rv, r, LBXLOGNO(01164)
                      "%s: Unlock failed for find_best_worker()", b->s->name);
    }
    return w;
}

/* Ask the lbmethod; with a balancer `timeout`, keep asking in steps of a
 * hundredth of it until it elapses.  Unlike stock, the shared timeout is
 * never zeroed while waiting, so concurrent requests and the manager keep
 * seeing the configured value (contract §7.3 #23). */
static proxy_worker *find_best_worker(proxy_balancer *b, request_rec *r)
{
    proxy_worker *w = run_finder(b, r);
    apr_interval_time_t timeout = b->s->timeout, step, waited = 0;

    if (w || timeout <= 0) {
        return w;
    }
    step = timeout / 100;
    if (step <= 0) {
        step = 1;
    }
    while (!w && waited < timeout) {
        apr_sleep(step);
        waited += step;
        w = run_finder(b, r);
    }
    return w;
}

/* Point the request at the chosen member and let the member's scheme
 * canonicalise the path (mod_proxy_http %-encodes it and appends the
 * query), as stock 2.4.71's balancer_fixup does. */
static int rewrite_to_member(request_rec *r, proxy_worker *w, char **url)
{
    const char *path = strstr(*url, "://");
    int rc;

    if (path) {
        path = ap_strchr_c(path + 3, '/');
    }
    r->filename = apr_pstrcat(r->pool, "proxy:", w->s->name_ex, path, NULL);
    rc = ap_proxy_canon_url(r);
    if (rc == OK) {
        *url = apr_pstrdup(r->pool, r->filename + 6);
    }
    return rc;
}

static int route_belongs_to_member(proxy_balancer *b, const char *route)
{
    proxy_worker **workers = (proxy_worker **)b->workers->elts;
    int i;

    for (i = 0; i < b->workers->nelts; i++) {
        if (*workers[i]->s->route && strcmp(workers[i]->s->route, route) == 0) {
            return 1;
        }
    }
    return 0;
}

static int lbx_pre_request(proxy_worker **worker, proxy_balancer **balancer,
                           request_rec *r, proxy_server_conf *conf,
                           char **url)
{
    proxy_balancer *b;
    proxy_worker *w;
    const char *route = NULL, *sticky = NULL;
    apr_status_t rv;
    int status;

    *worker = NULL;
    if (!*balancer) {
        if (ap_cstr_casecmpn(*url, BALANCER_PREFIX,
                             sizeof(BALANCER_PREFIX) - 1) != 0
            || !(*balancer = ap_proxy_get_balancer(r->pool, conf, *url, 1))) {
            return DECLINED;
        }
    }
    b = *balancer;

    if ((rv = PROXY_THREAD_LOCK(b)) != APR_SUCCESS) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, rv, r, LBXLOGNO(01166)
                      "%s: Lock failed for pre_request", b->s->name);
        return DECLINED;
    }
    force_recovery(b, r->server);
    ap_proxy_sync_balancer(b, r->server, conf);

    w = find_session_route(b, r, *url, &route, &sticky);
    if (w) {
        if (b->lbmethod && b->lbmethod->updatelbstatus) {
            b->lbmethod->updatelbstatus(b, w, r->server);
        }
        else {
            credit_sticky_hit(b, w, r->pool);
        }
        lbx_atomic_add(&w->s->elected, 1);
    }
    else if (route && b->s->sticky_force && route_belongs_to_member(b, route)) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, LBXLOGNO(01167)
                      "%s: All workers are in error state for route (%s)",
                      b->s->name, route);
        if ((rv = PROXY_THREAD_UNLOCK(b)) != APR_SUCCESS) {
            ap_log_rerror(APLOG_MARK, APLOG_ERR, rv, r, LBXLOGNO(01168)
                          "%s: Unlock failed for pre_request", b->s->name);
        }
        return HTTP_SERVICE_UNAVAILABLE;
    }
    if ((rv = PROXY_THREAD_UNLOCK(b)) != APR_SUCCESS) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, rv, r, LBXLOGNO(01169)
                      "%s: Unlock failed for pre_request", b->s->name);
    }

    if (!w) {
        w = find_best_worker(b, r);
        if (!w) {
            if (b->workers->nelts) {
                ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, LBXLOGNO(01170)
                              "%s: All workers are in error state",
                              b->s->name);
            }
            else {
                ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, LBXLOGNO(01171)
                              "%s: No workers in balancer", b->s->name);
            }
            return HTTP_SERVICE_UNAVAILABLE;
        }
        if (*b->s->sticky) {
            /* The client will need a new route (the mod_headers
             * Set-Cookie idiom keys on this). */
            apr_table_setn(r->subprocess_env, "BALANCER_ROUTE_CHANGED", "1");
        }
    }
    *worker = w;

    lbx_busy_acquire(r, w);

    apr_table_setn(r->subprocess_env, "BALANCER_NAME", b->s->name);
    apr_table_setn(r->subprocess_env, "BALANCER_WORKER_NAME", w->s->name_ex);
    apr_table_setn(r->subprocess_env, "BALANCER_WORKER_ROUTE", w->s->route);

    status = rewrite_to_member(r, w, url);

    if (route) {
        apr_table_setn(r->notes, "session-sticky", sticky);
        apr_table_setn(r->notes, "session-route", route);
        apr_table_setn(r->subprocess_env, "BALANCER_SESSION_STICKY", sticky);
        apr_table_setn(r->subprocess_env, "BALANCER_SESSION_ROUTE", route);
    }
    ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, LBXLOGNO(01172)
                  "%s: worker (%s) rewritten to %s",
                  b->s->name, w->s->name_ex, *url);
    return status;
}

static void mark_in_error(proxy_worker *w)
{
    w->s->error_time = apr_time_now();
    lbx_status_set(w, PROXY_WORKER_IN_ERROR);
}

static int lbx_post_request(proxy_worker *worker, proxy_balancer *balancer,
                            request_rec *r, proxy_server_conf *conf)
{
    apr_status_t rv;

    (void)conf;
    if ((rv = PROXY_THREAD_LOCK(balancer)) != APR_SUCCESS) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, rv, r, LBXLOGNO(01173)
                      "%s: Lock failed for post_request", balancer->s->name);
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    if (!apr_is_empty_array(balancer->errstatuses)
        && !(worker->s->status & PROXY_WORKER_IGNORE_ERRORS)) {
        int i;
        for (i = 0; i < balancer->errstatuses->nelts; i++) {
            int code = APR_ARRAY_IDX(balancer->errstatuses, i, int);
            if (r->status == code) {
                ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, LBXLOGNO(01174)
                              "%s: Forcing worker (%s) into error state "
                              "due to status code %d matching 'failonstatus' "
                              "balancer parameter", balancer->s->name,
                              ap_proxy_worker_name(r->pool, worker), code);
                mark_in_error(worker);
                break;
            }
        }
    }
    if (balancer->failontimeout
        && !(worker->s->status & PROXY_WORKER_IGNORE_ERRORS)
        && apr_table_get(r->notes, "proxy_timedout") != NULL) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, LBXLOGNO(02460)
                      "%s: Forcing worker (%s) into error state "
                      "due to timeout and 'failontimeout' parameter being set",
                      balancer->s->name, ap_proxy_worker_name(r->pool, worker));
        mark_in_error(worker);
    }
    if ((rv = PROXY_THREAD_UNLOCK(balancer)) != APR_SUCCESS) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, rv, r, LBXLOGNO(01175)
                      "%s: Unlock failed for post_request", balancer->s->name);
    }
    ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, LBXLOGNO(01176)
                  "proxy_balancer_post_request for (%s)", balancer->s->name);
    return OK;
}

/* ---- shared memory ------------------------------------------------------ */

/* Server ids must be bit-identical to stock's: they name the slotmem
 * segments and BalancerPersist files.  Stock hashes, for the first address
 * only, the virthost text, the textual IP and the two raw bytes of the
 * port, then the ServerName; on a collision the colliding servers are
 * hashed again with all addresses and all ServerAlias names, and a
 * remaining duplicate gets "_<index in hex>" appended. */
static const char *server_id(server_rec *s, apr_pool_t *p, int all)
{
    apr_md5_ctx_t ctx;
    unsigned char digest[APR_MD5_DIGESTSIZE];
    server_addr_rec *sar;
    int i;

    apr_md5_init(&ctx);
    for (sar = s->addrs; sar; sar = sar->next) {
        char ip[64] = "";
        apr_sockaddr_ip_getbuf(ip, sizeof(ip), sar->host_addr);
        apr_md5_update(&ctx, sar->virthost, strlen(sar->virthost));
        apr_md5_update(&ctx, ip, strlen(ip));
        apr_md5_update(&ctx, &sar->host_port, sizeof(sar->host_port));
        if (!all) {
            break;
        }
    }
    if (s->server_hostname) {
        apr_md5_update(&ctx, s->server_hostname, strlen(s->server_hostname));
    }
    if (all) {
        apr_array_header_t *lists[2] = { s->names, s->wild_names };
        int l;
        for (l = 0; l < 2; l++) {
            for (i = 0; lists[l] && i < lists[l]->nelts; i++) {
                const char *name = APR_ARRAY_IDX(lists[l], i, const char *);
                apr_md5_update(&ctx, name, strlen(name));
            }
        }
    }
    apr_md5_final(digest, &ctx);
    return apr_pescape_hex(p, digest, sizeof(digest), 0);
}

static apr_array_header_t *server_ids(server_rec *main_s, apr_pool_t *p)
{
    apr_array_header_t *ids = apr_array_make(p, 8, sizeof(const char *));
    apr_hash_t *seen = apr_hash_make(p);
    server_rec *s;
    int idx, collided = 0;

    for (idx = 0, s = main_s; s; s = s->next, idx++) {
        const char *id = server_id(s, p, 0);
        int *first = apr_hash_get(seen, id, APR_HASH_KEY_STRING);

        apr_hash_set(seen, id, APR_HASH_KEY_STRING,
                     apr_pmemdup(p, &idx, sizeof(idx)));
        if (first) {
            /* Both the earlier holder and this one get the full id. */
            APR_ARRAY_IDX(ids, *first, const char *) = NULL;
            APR_ARRAY_PUSH(ids, const char *) = NULL;
            collided = 1;
        }
        else {
            APR_ARRAY_PUSH(ids, const char *) = id;
        }
    }
    if (!collided) {
        return ids;
    }
    apr_hash_clear(seen);
    for (idx = 0, s = main_s; s; s = s->next, idx++) {
        const char *id;

        if (APR_ARRAY_IDX(ids, idx, const char *)) {
            continue;
        }
        id = server_id(s, p, 1);
        if (apr_hash_get(seen, id, APR_HASH_KEY_STRING)) {
            id = apr_psprintf(p, "%s_%x", id, idx);
        }
        else {
            apr_hash_set(seen, id, APR_HASH_KEY_STRING, "");
        }
        APR_ARRAY_IDX(ids, idx, const char *) = id;
    }
    return ids;
}

/* Find this balancer's record in the segment (restored from a persist file
 * or left by an earlier generation) or take a free slot. */
static int share_balancer(proxy_server_conf *conf, proxy_balancer *b,
                          server_rec *s)
{
    proxy_balancer_shared *bshm;
    unsigned int index;
    apr_status_t rv;

    bshm = ap_proxy_find_balancershm(lbx_storage, conf->bslot, b, &index);
    if (bshm) {
        rv = lbx_storage->fgrab(conf->bslot, index);
        if (rv != APR_SUCCESS) {
            ap_log_error(APLOG_MARK, APLOG_EMERG, rv, s, LBXLOGNO(02408)
                         "balancer slotmem_fgrab failed");
            return !OK;
        }
    }
    else {
        rv = lbx_storage->grab(conf->bslot, &index);
        if (rv != APR_SUCCESS) {
            ap_log_error(APLOG_MARK, APLOG_EMERG, rv, s, LBXLOGNO(01181)
                         "balancer slotmem_grab failed");
            return !OK;
        }
        rv = lbx_storage->dptr(conf->bslot, index, (void **)&bshm);
        if (rv != APR_SUCCESS) {
            ap_log_error(APLOG_MARK, APLOG_EMERG, rv, s, LBXLOGNO(01182)
                         "balancer slotmem_dptr failed");
            return !OK;
        }
    }
    rv = ap_proxy_share_balancer(b, bshm, (int)index);
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, rv, s, LBXLOGNO(01183)
                     "Cannot share balancer");
        return !OK;
    }
    return OK;
}

static int share_worker(proxy_balancer *b, proxy_worker *w, server_rec *s)
{
    proxy_worker_shared *wshm;
    unsigned int index;
    apr_status_t rv;

    wshm = ap_proxy_find_workershm(lbx_storage, b->wslot, w, &index);
    if (wshm) {
        rv = lbx_storage->fgrab(b->wslot, index);
        if (rv != APR_SUCCESS) {
            ap_log_error(APLOG_MARK, APLOG_EMERG, rv, s, LBXLOGNO(02409)
                         "worker slotmem_fgrab failed");
            return !OK;
        }
    }
    else {
        rv = lbx_storage->grab(b->wslot, &index);
        if (rv != APR_SUCCESS) {
            ap_log_error(APLOG_MARK, APLOG_EMERG, rv, s, LBXLOGNO(01186)
                         "worker slotmem_grab failed");
            return !OK;
        }
        rv = lbx_storage->dptr(b->wslot, index, (void **)&wshm);
        if (rv != APR_SUCCESS) {
            ap_log_error(APLOG_MARK, APLOG_EMERG, rv, s, LBXLOGNO(01187)
                         "worker slotmem_dptr failed");
            return !OK;
        }
    }
    rv = ap_proxy_share_worker(w, wshm, (int)index);
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, rv, s, LBXLOGNO(01188)
                     "Cannot share worker");
        return !OK;
    }
    return OK;
}

/* balancer -> members from httpd.conf, recorded before a persisted segment
 * can add runtime members; children inherit it. */
static apr_hash_t *lbx_config_counts;

int lbx_config_members(proxy_balancer *b)
{
    int *n = lbx_config_counts ? apr_hash_get(lbx_config_counts, &b, sizeof(b))
                               : NULL;
    return n ? *n : b->workers->nelts;
}

static int setup_balancer(proxy_server_conf *conf, proxy_balancer *b,
                          server_rec *s, apr_pool_t *pconf,
                          ap_slotmem_type_t type, apr_time_t tstamp)
{
    proxy_worker **workers = (proxy_worker **)b->workers->elts;
    const char *alnum;
    apr_status_t rv;
    int j, rc;

    apr_hash_set(lbx_config_counts, apr_pmemdup(pconf, &b, sizeof(b)),
                 sizeof(b), apr_pmemdup(pconf, &b->workers->nelts,
                                        sizeof(int)));
    /* The sname made at config time used a placeholder id. */
    ap_pstr2_alnum(pconf, b->s->name + sizeof(BALANCER_PREFIX) - 1, &alnum);
    ap_proxy_strncpy(b->s->sname, apr_pstrcat(pconf, conf->id, "_", alnum,
                                              NULL), sizeof(b->s->sname));
    b->max_workers = b->workers->nelts + b->growth;

    /* APR destroys the mutex with pconf, on every restart. */
    rv = ap_global_mutex_create(&b->gmutex, NULL, lbx_mutex_type, b->s->sname,
                                s, pconf, 0);
    if (rv != APR_SUCCESS || !b->gmutex) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, rv, s, LBXLOGNO(01180)
                     "mutex creation of %s : %s failed", lbx_mutex_type,
                     b->s->sname);
        return HTTP_INTERNAL_SERVER_ERROR;
    }

    if ((rc = share_balancer(conf, b, s)) != OK) {
        return rc;
    }
    ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, s, LBXLOGNO(01184)
                 "Doing workers create: %s (%s), %d, %d [%u]",
                 b->s->name, b->s->sname,
                 (int)ALIGNED_PROXY_WORKER_SHARED_SIZE, b->max_workers,
                 (unsigned int)b->s->index);
    rv = lbx_storage->create(&b->wslot, b->s->sname,
                             ALIGNED_PROXY_WORKER_SHARED_SIZE,
                             (unsigned int)b->max_workers, type, pconf);
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, rv, s, LBXLOGNO(01185)
                     "worker slotmem_create failed");
        return !OK;
    }
    b->storage = lbx_storage;
    b->wupdated = b->s->wupdated = tstamp;

    for (j = 0; j < b->workers->nelts; j++) {
        if ((rc = share_worker(b, workers[j], s)) != OK) {
            return rc;
        }
        /* The first health check comes one interval after start. */
        workers[j]->s->updated = tstamp;
        /* Nothing is in flight in a new generation, whatever a persisted
         * segment says (stock keeps such stale counts forever). */
        lbx_atomic_store(&workers[j]->s->busy, 0);
    }
    if (conf->bal_persist) {
        /* The segment may hold members added at runtime before the restart:
         * an older local timestamp makes the sync materialise them. */
        b->wupdated--;
        ap_proxy_sync_balancer(b, s, conf);
    }
    return OK;
}

static int lbx_post_config(apr_pool_t *pconf, apr_pool_t *plog,
                           apr_pool_t *ptemp, server_rec *main_s)
{
    apr_array_header_t *ids;
    apr_size_t members;
    apr_status_t rv;
    int heartbeat_used = 0;
    apr_time_t tstamp;
    server_rec *s;
    int idx;

    (void)plog;
    /* The first of httpd's two configuration passes is a dry run. */
    if (ap_state_query(AP_SQ_MAIN_STATE) == AP_SQ_MS_CREATE_PRE_CONFIG) {
        return OK;
    }
    proxy_retry_worker_fn = APR_RETRIEVE_OPTIONAL_FN(ap_proxy_retry_worker);
    if (!proxy_retry_worker_fn) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, 0, main_s, LBXLOGNO(02230)
                     "mod_proxy must be loaded for mod_lbx");
        return !OK;
    }
    lbx_storage = ap_lookup_provider(AP_SLOTMEM_PROVIDER_GROUP, "shm",
                                     AP_SLOTMEM_PROVIDER_VERSION);
    if (!lbx_storage) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, 0, main_s, LBXLOGNO(01177)
                     "Failed to lookup provider 'shm' for '%s': is "
                     "mod_slotmem_shm loaded?? mod_lbx keeps balancer state "
                     "in shared memory: add 'LoadModule slotmem_shm_module "
                     "/usr/lib/apache2/modules/mod_slotmem_shm.so'",
                     AP_SLOTMEM_PROVIDER_GROUP);
        return !OK;
    }

    ids = server_ids(main_s, ptemp);
    lbx_config_counts = apr_hash_make(pconf);
    tstamp = apr_time_now();
    members = 0;
    for (idx = 0, s = main_s; s; s = s->next, idx++) {
        proxy_server_conf *conf = ap_get_module_config(s->module_config,
                                                       &proxy_module);
        struct lbx_server_conf *lconf = ap_get_module_config(s->module_config,
                                                             &lbx_module);
        ap_slotmem_type_t type = 0;
        proxy_balancer *b;
        int i, rc;

        if (!lconf->hb_path) {
            /* Stock's default, in DefaultRuntimeDir. */
            lconf->hb_path = ap_runtime_dir_relative(pconf,
                                                     DEFAULT_HEARTBEAT_STORAGE);
        }
        conf->id = apr_psprintf(pconf, "p%x",
                                ap_proxy_hashfunc(APR_ARRAY_IDX(ids, idx,
                                                                const char *),
                                                  PROXY_HASHFUNC_DEFAULT));
        if (conf->bslot) {
            /* A vhost without proxy directives of its own shares the main
             * server's conf, and with it the segments already made. */
            continue;
        }
        if (conf->bal_persist) {
            type = AP_SLOTMEM_TYPE_PERSIST | AP_SLOTMEM_TYPE_CLEARINUSE;
        }
        if (conf->balancers->nelts) {
            conf->max_balancers = conf->balancers->nelts + conf->bgrowth;
            ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, s, LBXLOGNO(01178)
                         "Doing balancers create: %d, %d (%d)",
                         (int)ALIGNED_PROXY_BALANCER_SHARED_SIZE,
                         (int)conf->balancers->nelts, conf->max_balancers);
            rv = lbx_storage->create(&conf->bslot, conf->id,
                                     ALIGNED_PROXY_BALANCER_SHARED_SIZE,
                                     (unsigned int)conf->max_balancers, type,
                                     pconf);
            if (rv != APR_SUCCESS) {
                ap_log_error(APLOG_MARK, APLOG_EMERG, rv, s, LBXLOGNO(01179)
                             "balancer slotmem_create failed");
                return !OK;
            }
        }
        conf->storage = lbx_storage;

        b = (proxy_balancer *)conf->balancers->elts;
        for (i = 0; i < conf->balancers->nelts; i++) {
            rc = setup_balancer(conf, &b[i], s, pconf, type, tstamp);
            if (rc != OK) {
                return rc;
            }
            members += (apr_size_t)b[i].max_workers;
            if (strcmp(b[i].s->lbpname, "heartbeat") == 0) {
                heartbeat_used = 1;
            }
        }
    }
    lbx_heartbeat_attach(pconf, main_s, heartbeat_used);
    if (lbx_hc_post_config(pconf, main_s) != OK) {
        return !OK;
    }
    if ((rv = lbx_busy_create(pconf, members)) != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, rv, main_s, LBXLOGNO(20012)
                     "cannot create the busy-tracking shared memory");
        return !OK;
    }
    return OK;
}

static void lbx_child_init(apr_pool_t *p, server_rec *main_s)
{
    server_rec *s;

    lbx_scratches = apr_hash_make(p);
    lbx_busy_child_init(p, main_s);
    lbx_hc_child_init(p);
    for (s = main_s; s; s = s->next) {
        proxy_server_conf *conf = ap_get_module_config(s->module_config,
                                                       &proxy_module);
        proxy_balancer *b = (proxy_balancer *)conf->balancers->elts;
        int i;

        if (conf->balancers->nelts) {
            apr_size_t size;
            unsigned int num;
            /* slotmem_shm hands back the segment or NULL; NULL leaves this
             * child without balancer state, which it cannot serve without.
             * Exiting lets the parent report it and fork another. */
            apr_status_t rv = lbx_storage->attach(&conf->bslot, conf->id,
                                                  &size, &num, p);
            if (!conf->bslot) {
                ap_log_error(APLOG_MARK, APLOG_EMERG, rv, s, LBXLOGNO(01205)
                             "slotmem_attach failed");
                exit(1);
            }
        }
        for (i = 0; i < conf->balancers->nelts; i++) {
            proxy_balancer *bp = &b[i];
            proxy_worker **workers;
            apr_status_t rv = ap_proxy_initialize_balancer(bp, s, p);
            int j;

            if (rv != APR_SUCCESS) {
                ap_log_error(APLOG_MARK, APLOG_CRIT, rv, s, LBXLOGNO(01206)
                             "Failed to init balancer %s in child",
                             bp->s->name);
                exit(1);
            }
            workers = (proxy_worker **)bp->workers->elts;
            for (j = 0; j < bp->workers->nelts; j++) {
                ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, s, LBXLOGNO(01158)
                             "Looking at %s -> %s initialized?", bp->s->name,
                             ap_proxy_worker_name(p, workers[j]));
                if (!PROXY_WORKER_IS_INITIALIZED(workers[j])) {
                    ap_proxy_initialize_worker(workers[j], s, p);
                }
            }
            if (!bp->s->max_attempts_set && bp->workers->nelts > 1) {
                bp->s->max_attempts = bp->workers->nelts - 1;
                bp->s->max_attempts_set = 1;
            }
            if (!apr_hash_get(lbx_scratches, &bp, sizeof(bp))) {
                int cap = bp->max_workers > bp->workers->nelts
                          ? bp->max_workers : bp->workers->nelts;
                proxy_balancer **key = apr_pmemdup(p, &bp, sizeof(bp));
                apr_pool_t *sp;
                /* Its own pool: later allocations happen under the
                 * balancer's mutex, not the child's. */
                apr_pool_create(&sp, p);
                apr_hash_set(lbx_scratches, key, sizeof(bp),
                             scratch_make(sp, (size_t)cap));
            }
        }
    }
}

/* ---- startup and registration ------------------------------------------- */

static int lbx_pre_config(apr_pool_t *pconf, apr_pool_t *plog,
                          apr_pool_t *ptemp)
{
    apr_status_t rv;
    const char *missing, *owner;
    size_t i;
    int clash = 0;

    (void)plog;
    (void)ptemp;
    for (i = 0; i < sizeof(lbx_replaced) / sizeof(lbx_replaced[0]); i++) {
        if (ap_find_linked_module(lbx_replaced[i].source)) {
            ap_log_error(APLOG_MARK, APLOG_EMERG, 0, NULL, LBXLOGNO(20001)
                         "mod_lbx replaces %s: remove the line "
                         "'LoadModule %s .../%s' from the configuration "
                         "(loaded together, both would claim the same hooks, "
                         "providers or directives)",
                         lbx_replaced[i].source, lbx_replaced[i].symbol,
                         lbx_replaced[i].file);
            clash = 1;
        }
    }
    if (!ap_find_linked_module("mod_proxy.c")) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, 0, NULL, LBXLOGNO(20002)
                     "mod_lbx needs mod_proxy: add 'LoadModule proxy_module "
                     "/usr/lib/apache2/modules/mod_proxy.so' to the "
                     "configuration");
        clash = 1;
    }
    else if ((missing = resolve_proxy_api()) != NULL) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, 0, NULL, LBXLOGNO(20003)
                     "mod_lbx needs mod_proxy 2.4.62 or later: the loaded "
                     "mod_proxy does not export %s", missing);
        clash = 1;
    }
    if (clash) {
        return !OK;
    }

    lbx_hc_pre_config();
    lbx_hc_enable_cping();

    /* httpd sorts hooks again after reading the configuration, so hooks
     * added here still honour APR_HOOK_FIRST. */
    /* Hooks are recorded under the module being registered; outside
     * register_hooks that is whichever module came last, so say it. */
    owner = apr_hook_debug_current;
    apr_hook_debug_current = lbx_module.name;
    proxy_hook_pre_request(lbx_pre_request, NULL, NULL, APR_HOOK_FIRST);
    proxy_hook_post_request(lbx_post_request, NULL, NULL, APR_HOOK_FIRST);
    proxy_hook_canon_handler(lbx_canon, NULL, NULL, APR_HOOK_FIRST);
    apr_hook_debug_current = owner;

    /* Registered under stock's name so existing `Mutex ... proxy-balancer-shm`
     * lines keep working. */
    rv = ap_mutex_register(pconf, lbx_mutex_type, NULL, APR_LOCK_DEFAULT, 0);
    if (rv != APR_SUCCESS) {
        return rv;
    }
    return OK;
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
    ap_hook_post_config(lbx_post_config, post_pred, post_succ,
                        APR_HOOK_MIDDLE);
    ap_hook_child_init(lbx_child_init, child_pred, child_succ,
                       APR_HOOK_MIDDLE);
    /* The mod_proxy hooks are added in pre_config, once mod_proxy's API
     * has been looked up. */
    lbx_register_providers(p);
    lbx_hc_register(p);
    lbx_manager_register(p);
}

AP_DECLARE_MODULE(lbx) = {
    STANDARD20_MODULE_STUFF,
    NULL,
    NULL,
    lbx_create_server_conf,
    lbx_merge_server_conf,
    lbx_cmds,
    lbx_register_hooks,
    AP_MODULE_FLAG_NONE
};
