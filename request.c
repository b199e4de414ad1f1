/* request.c: the request path.
 *
 * mod_proxy calls three hooks per proxied request: canon_handler turns
 * balancer:// URLs into proxy: filenames, pre_request chooses a member
 * for every attempt (forced recovery, sticky route, lbmethod) and points
 * the request at it, post_request puts a member in error after a bad
 * answer (failonstatus, failontimeout).  Route parsing is pure
 * (sticky.c); the methods' choice is provider.c's.
 */
#include "apr_strings.h"
#include "http_protocol.h"
#include "http_request.h"

#include "request.h"
#include "busy.h"
#include "lbx_hot.h"
#include "lbx_method.h"
#include "outlier.h"
#include "stats.h"
#include "cookie.h"
#include "lbx_conf.h"
#include "lbx_text.h"
#include "engine.h"
#include "sticky.h"

APLOG_USE_MODULE(lbx);

/* ---- canonicalisation --------------------------------------------------- */

/* balancer://host[:port]/rest -> proxy:balancer://host/rest.  The path is
 * left raw: the member's own scheme canonicalises it once a member is
 * chosen (balancer_rewrite below), as stock 2.4.71 does. */
int lbx_canon(request_rec *r, char *url)
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
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                      LBXLOGNO(01157) "error parsing URL %s: %s", url, err);
        return HTTP_BAD_REQUEST;
    }
    r->filename =
        apr_pstrcat(r->pool, "proxy:" BALANCER_PREFIX, host, "/", url, NULL);
    return OK;
}

/* What the client's session asked for: the route and the name it came
 * under (cookie or URL parameter); both NULL when it asked for none. */
struct lbx_session {
    const char *route;
    const char *sticky;
};

/* ---- sticky sessions ---------------------------------------------------- */

/* Find the member that serves `route`: first among regular members, then
 * among hot standbys, in configuration order.  An unusable match gets a
 * retry; if it stays unusable and has a redirect, the redirect is followed
 * as a route (at most as deep as there are members, so a cycle of
 * redirects ends). */
static proxy_worker *find_route_worker(proxy_balancer *b, const char *route,
                                       request_rec *r, int depth)
{
    proxy_worker **workers = (proxy_worker **)b->workers->elts;
    const struct lbx_hot *hot = lbx_hot_of(b);
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
            if (lbx_outlier_usable(hot, w)) {
                return w;
            }
            lbx_retry_worker(w, r->server);
            if (lbx_outlier_usable(hot, w)) {
                return w;
            }
            if (!*w->s->redirect || depth >= b->workers->nelts) {
                continue;
            }
            rw = find_route_worker(b, w->s->redirect, r, depth + 1);
            if (rw && !lbx_outlier_usable(hot, rw)) {
                lbx_retry_worker(rw, r->server);
            }
            if (rw && lbx_outlier_usable(hot, rw)) {
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
        ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r,
                      LBXLOGNO(01159) "Found value %s for stickysession %s",
                      apr_pstrmemdup(r->pool, value.ptr, value.len),
                      *sticky_used);
    }
    else {
        ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r,
                      LBXLOGNO(01160) "Found value %s for stickysession %s",
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
    ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r,
                  LBXLOGNO(01161) "Found route %s", *route);
    w = find_route_worker(b, *route, r, 1);
    if (w && strcmp(*route, w->s->route) != 0) {
        apr_table_setn(r->subprocess_env, "BALANCER_ROUTE_CHANGED", "1");
        ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r,
                      LBXLOGNO(01162) "Route changed from %s to %s", *route,
                      w->s->route);
    }
    return w;
}

/* ---- routing by a variable ---------------------------------------------- */

/* LBXRouteBy: the member whose route the balancer's expression gives for
 * this request, if usable (else NULL: the lbmethod chooses, so a member
 * down fails over to the rest of the pool).  The decision shows in
 * BALANCER_ROUTE_BY (the value) and BALANCER_ROUTE_BY_USED (1 or 0). */
static proxy_worker *choose_by_variable(proxy_balancer *b, request_rec *r)
{
    ap_expr_info_t *expr = lbx_conf_route_by(r->server, b->s->name);
    const char *value, *err = NULL;
    proxy_worker *w;

    if (!expr) {
        return NULL;
    }
    value = ap_expr_str_exec(r, expr, &err);
    if (err || !value || !*value) {
        return NULL;
    }
    w = NULL;
    if (strlen(value) < PROXY_WORKER_MAX_ROUTE_SIZE
        && PROXY_THREAD_LOCK(b) == APR_SUCCESS) {
        w = find_route_worker(b, value, r, 1);
        if (w && PROXY_WORKER_IS_DRAINING(w)) {
            w = NULL; /* takes no new requests, as for the lbmethod */
        }
        if (w) {
            /* Accounted as a session's choice is. */
            lbx_engine_sticky_hit(b, w, r);
            lbx_atomic_add(&w->s->elected, 1);
        }
        PROXY_THREAD_UNLOCK(b);
    }
    apr_table_setn(r->subprocess_env, "BALANCER_ROUTE_BY", value);
    apr_table_setn(r->subprocess_env, "BALANCER_ROUTE_BY_USED", w ? "1" : "0");
    if (!w) {
        ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r,
                      LBXLOGNO(20061) "%s: LBXRouteBy gave '%s', no usable "
                                      "member has that route: the lbmethod "
                                      "chooses",
                      b->s->name, ap_escape_logitem(r->pool, value));
    }
    return w;
}

/* LBXLbsetBy: the lbset the balancer's expression gives for this request,
 * for the engine to take the members of first (it reads the note), or -1.
 * The value shows in BALANCER_LBSET_BY. */
static int note_lbset(proxy_balancer *b, request_rec *r)
{
    ap_expr_info_t *expr = lbx_conf_lbset_by(r->server, b->s->name);
    const char *value, *err = NULL;
    uint64_t lbset;

    if (!expr) {
        return -1;
    }
    if (!(value = apr_table_get(r->notes, LBX_LBSET_NOTE))) {
        value = ap_expr_str_exec(r, expr, &err);
        if (err || !value || !*value) {
            return -1;
        }
        apr_table_setn(r->notes, LBX_LBSET_NOTE, value);
        apr_table_setn(r->subprocess_env, "BALANCER_LBSET_BY", value);
    }
    if (lbx_parse_uint(value, strlen(value), LBX_LBSETS - 1, &lbset) != 0) {
        ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r,
                      LBXLOGNO(20063) "%s: LBXLbsetBy gave '%s', not an lbset "
                                      "(0-99): stock's order",
                      b->s->name, ap_escape_logitem(r->pool, value));
        return -1;
    }
    return (int)lbset;
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
        ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, s,
                     LBXLOGNO(01165) "%s: Forcing recovery for worker (%s:%d)",
                     b->s->name, workers[i]->s->hostname_ex,
                     (int)workers[i]->s->port);
    }
    lbx_hot_changed(b);
}

static proxy_worker *run_finder(proxy_balancer *b, request_rec *r)
{
    proxy_worker *w;
    apr_status_t rv;

    if ((rv = PROXY_THREAD_LOCK(b)) != APR_SUCCESS) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, rv, r,
                      LBXLOGNO(01163) "%s: Lock failed for find_best_worker()",
                      b->s->name);
        return NULL;
    }
    w = b->lbmethod->finder(b, r);
    if (w) {
        lbx_atomic_add(&w->s->elected, 1);
    }
    if ((rv = PROXY_THREAD_UNLOCK(b)) != APR_SUCCESS) {
        ap_log_rerror(
            APLOG_MARK, APLOG_ERR, rv, r,
            LBXLOGNO(01164) "%s: Unlock failed for find_best_worker()",
            b->s->name);
    }
    return w;
}

/* Ask the lbmethod; with a balancer `timeout`, keep asking in steps of a
 * hundredth of it until it elapses.  Unlike stock, the shared timeout is
 * never zeroed while waiting, so concurrent requests and the manager keep
 * seeing the configured value. */
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

/* The session's route, under the balancer's thread lock (with recovery and
 * the sync of other processes' edits first).  *w gets the route's member,
 * or NULL for the lbmethod to choose.  Returns OK, or 503 when the route
 * names a member, none of its members can serve and failover is off. */
static int choose_by_session(proxy_balancer *b, request_rec *r,
                             proxy_server_conf *conf, const char *url,
                             proxy_worker **w, struct lbx_session *sess)
{
    apr_status_t rv;
    int status = OK;

    if ((rv = PROXY_THREAD_LOCK(b)) != APR_SUCCESS) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, rv, r,
                      LBXLOGNO(01166) "%s: Lock failed for pre_request",
                      b->s->name);
        return DECLINED;
    }
    force_recovery(b, r->server);
    ap_proxy_sync_balancer(b, r->server, conf);

    *w = find_session_route(b, r, url, &sess->route, &sess->sticky);
    if (*w) {
        if (b->lbmethod && b->lbmethod->updatelbstatus) {
            b->lbmethod->updatelbstatus(b, *w, r->server);
        }
        else {
            lbx_engine_sticky_hit(b, *w, r);
        }
        lbx_atomic_add(&(*w)->s->elected, 1);
    }
    else if (sess->route && b->s->sticky_force
             && route_belongs_to_member(b, sess->route)) {
        ap_log_rerror(
            APLOG_MARK, APLOG_ERR, 0, r,
            LBXLOGNO(01167) "%s: All workers are in error state for route (%s)",
            b->s->name, sess->route);
        status = HTTP_SERVICE_UNAVAILABLE;
    }
    if ((rv = PROXY_THREAD_UNLOCK(b)) != APR_SUCCESS) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, rv, r,
                      "%s%s: Unlock failed for "
                      "pre_request",
                      status == OK ? LBXLOGNO(01169) : LBXLOGNO(01168),
                      b->s->name);
    }
    return status;
}

/* The lbmethod's choice, for a request without a usable route. */
static proxy_worker *choose_by_method(proxy_balancer *b, request_rec *r)
{
    proxy_worker *w = find_best_worker(b, r);

    if (!w) {
        if (b->workers->nelts) {
            ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                          LBXLOGNO(01170) "%s: All workers are in error state",
                          b->s->name);
        }
        else {
            ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                          LBXLOGNO(01171) "%s: No workers in balancer",
                          b->s->name);
        }
        return NULL;
    }
    if (*b->s->sticky) {
        /* The client will need a new route (the mod_headers Set-Cookie
         * idiom keys on this). */
        apr_table_setn(r->subprocess_env, "BALANCER_ROUTE_CHANGED", "1");
    }
    return w;
}

/* The lbmethod's choice, among the members of the lbset LBXLbsetBy names
 * first; BALANCER_LBSET_BY_USED tells whether it served (1) or the
 * others stood in (0: that lbset has no usable member, or none has it). */
static proxy_worker *choose_in_lbset(proxy_balancer *b, request_rec *r)
{
    int lbset = note_lbset(b, r);
    proxy_worker *w = choose_by_method(b, r);

    if (lbset >= 0 && w) {
        int used = w->s->lbset == lbset;

        apr_table_setn(r->subprocess_env, "BALANCER_LBSET_BY_USED",
                       used ? "1" : "0");
        if (!used) {
            ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r,
                          LBXLOGNO(20064) "%s: no usable member in lbset %d "
                                          "(LBXLbsetBy): lbset %d serves",
                          b->s->name, lbset, w->s->lbset);
        }
    }
    return w;
}

int lbx_pre_request(proxy_worker **worker, proxy_balancer **balancer,
                    request_rec *r, proxy_server_conf *conf, char **url)
{
    struct lbx_session sess = { NULL, NULL };
    proxy_balancer *b;
    proxy_worker *w, *by_var, *prev = *worker;
    int status;

    *worker = NULL;
    if (!*balancer) {
        if (ap_cstr_casecmpn(*url, BALANCER_PREFIX, sizeof(BALANCER_PREFIX) - 1)
                != 0
            || !(*balancer = ap_proxy_get_balancer(r->pool, conf, *url, 1))) {
            return DECLINED;
        }
    }
    b = *balancer;
    if ((status = lbx_outlier_before(b, prev, r)) != OK) {
        return status;
    }
    if (prev && prev->balancer == b) {
        /* mod_proxy tries again after prev failed (and the retry budget,
         * if any, allowed it). */
        lbx_stats_failover(b, prev);
    }
    /* A usable member named by LBXRouteBy wins over the session: the
     * variable says where this request belongs. */
    if (!(w = by_var = choose_by_variable(b, r))
        && (status = choose_by_session(b, r, conf, *url, &w, &sess)) != OK) {
        if (status == HTTP_SERVICE_UNAVAILABLE) {
            lbx_stats_no_member(b);
        }
        return status;
    }
    if (!w) {
        w = lbx_outlier_trial(b, r);
    }
    if (!w && !(w = choose_in_lbset(b, r))) {
        lbx_stats_no_member(b);
        return HTTP_SERVICE_UNAVAILABLE;
    }
    *worker = w;

    lbx_busy_acquire(r, b, w);

    apr_table_setn(r->subprocess_env, "BALANCER_NAME", b->s->name);
    apr_table_setn(r->subprocess_env, "BALANCER_WORKER_NAME", w->s->name_ex);
    apr_table_setn(r->subprocess_env, "BALANCER_WORKER_ROUTE", w->s->route);

    status = rewrite_to_member(r, w, url);
    if (status == OK && !by_var) {
        /* (A member named by the variable leaves the client's cookie
         * alone: its session still belongs where it was.) */
        lbx_cookie_chosen(b, w, r, sess.route);
    }

    if (sess.route) {
        apr_table_setn(r->notes, "session-sticky", sess.sticky);
        apr_table_setn(r->notes, "session-route", sess.route);
        apr_table_setn(r->subprocess_env, "BALANCER_SESSION_STICKY",
                       sess.sticky);
        apr_table_setn(r->subprocess_env, "BALANCER_SESSION_ROUTE", sess.route);
    }
    ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r,
                  LBXLOGNO(01172) "%s: worker (%s) rewritten to %s", b->s->name,
                  w->s->name_ex, *url);
    return status;
}

/* What the engine needs to know after an attempt: the member's traffic as
 * mod_proxy counted it (bytraffic reads the mirror), and whether it became
 * unusable (mod_proxy marks a member in error when it cannot connect; the
 * candidates must then be walked again, in every process). */
static void after_attempt(proxy_balancer *b, proxy_worker *w, request_rec *r)
{
    struct lbx_hot *hot = lbx_hot_of(b);
    long slot = lbx_hot_slot(hot, w);
    apr_time_t now = apr_time_now();

    if (slot >= 0) {
        lbx_atomic_store(&hot->sent[slot],
                         (uint64_t)lbx_atomic_load(&w->s->transferred));
        lbx_atomic_store(&hot->rcvd[slot],
                         (uint64_t)lbx_atomic_load(&w->s->read));
    }
    if (!PROXY_WORKER_IS_USABLE(w)) {
        lbx_hot_changed(b);
    }
    if (b->lbmethod && b->lbmethod->context == &lbx_method_bylatency) {
        lbx_hot_sample(hot, w, now - r->request_time, now);
    }
    lbx_stats_answer(hot, slot, r, now - r->request_time);
}

static void mark_in_error(proxy_worker *w)
{
    w->s->error_time = apr_time_now();
    lbx_status_set(w, PROXY_WORKER_IN_ERROR);
}

int lbx_post_request(proxy_worker *worker, proxy_balancer *balancer,
                     request_rec *r, proxy_server_conf *conf)
{
    apr_status_t rv;

    (void)conf;
    if ((rv = PROXY_THREAD_LOCK(balancer)) != APR_SUCCESS) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, rv, r,
                      LBXLOGNO(01173) "%s: Lock failed for post_request",
                      balancer->s->name);
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    if (!apr_is_empty_array(balancer->errstatuses)
        && !(worker->s->status & PROXY_WORKER_IGNORE_ERRORS)) {
        int i;
        for (i = 0; i < balancer->errstatuses->nelts; i++) {
            int code = APR_ARRAY_IDX(balancer->errstatuses, i, int);
            if (r->status == code) {
                ap_log_rerror(
                    APLOG_MARK, APLOG_ERR, 0, r,
                    LBXLOGNO(
                        01174) "%s: Forcing worker (%s) into error state "
                               "due to status code %d matching 'failonstatus' "
                               "balancer parameter",
                    balancer->s->name, ap_proxy_worker_name(r->pool, worker),
                    code);
                mark_in_error(worker);
                break;
            }
        }
    }
    if (balancer->failontimeout
        && !(worker->s->status & PROXY_WORKER_IGNORE_ERRORS)
        && apr_table_get(r->notes, "proxy_timedout") != NULL) {
        ap_log_rerror(
            APLOG_MARK, APLOG_ERR, 0, r,
            LBXLOGNO(
                02460) "%s: Forcing worker (%s) into error state "
                       "due to timeout and 'failontimeout' parameter being set",
            balancer->s->name, ap_proxy_worker_name(r->pool, worker));
        mark_in_error(worker);
    }
    after_attempt(balancer, worker, r);
    lbx_cookie_answer(r);
    if ((rv = PROXY_THREAD_UNLOCK(balancer)) != APR_SUCCESS) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, rv, r,
                      LBXLOGNO(01175) "%s: Unlock failed for post_request",
                      balancer->s->name);
    }
    lbx_outlier_answer(balancer, worker, r);
    ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r,
                  LBXLOGNO(01176) "proxy_balancer_post_request for (%s)",
                  balancer->s->name);
    return OK;
}
