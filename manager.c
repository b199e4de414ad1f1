/* manager.c: the balancer-manager handler.
 *
 * Order of work, kept strict: read the request into a parameter list;
 * validate every value into edit structs (manager_core.c); only if all of
 * it is valid, apply it to shared memory; render last (manager_page.c,
 * manager_feeds.c).  Rendering never changes anything and escapes
 * everything it prints.
 *
 * Stock's defences stay: changes only with a Referer naming this server
 * and the balancer's nonce (compared in constant time here), and only from
 * POST bodies.  `nonce=None` keeps stock's meaning: the balancer has no
 * nonce and cannot be changed through the manager (the documentation
 * says the check is skipped instead; a manager without any CSRF token is
 * not something mod_lbx wants to offer by accident).
 *
 * Beyond stock: ?format=json and ?format=metrics (Prometheus text) are
 * read-only views of the same data, needing no Referer; invalid values are
 * refused with 400 and a message instead of being ignored or clearing a
 * field; members added here can be removed again (w_remove=1).
 */
#include "apr_strings.h"
#include "ap_provider.h"
#include "ap_slotmem.h"
#include "http_core.h"
#include "http_protocol.h"
#include "http_request.h"

#include "manager.h"
#include "manager_view.h"
#include "hcheck_conf.h"
#include "lbx_shm.h"
#include "outlier.h"
#include "lbx_hot.h"

APLOG_USE_MODULE(lbx);

#define MGR_MAX_BODY (16 * 1024)

/* ---- reading the request ------------------------------------------------ */

static apr_status_t read_body(request_rec *r, char **out)
{
    apr_bucket_brigade *bb =
        apr_brigade_create(r->pool, r->connection->bucket_alloc);
    char *buf = apr_palloc(r->pool, MGR_MAX_BODY + 1);
    apr_size_t have = 0;
    int seen_eos = 0;
    apr_status_t rv;

    do {
        apr_bucket *b;
        rv = ap_get_brigade(r->input_filters, bb, AP_MODE_READBYTES,
                            APR_BLOCK_READ, MGR_MAX_BODY + 1 - have);
        if (rv != APR_SUCCESS) {
            return rv;
        }
        for (b = APR_BRIGADE_FIRST(bb); b != APR_BRIGADE_SENTINEL(bb);
             b = APR_BUCKET_NEXT(b)) {
            const char *data;
            apr_size_t len;
            if (APR_BUCKET_IS_EOS(b)) {
                seen_eos = 1;
                break;
            }
            rv = apr_bucket_read(b, &data, &len, APR_BLOCK_READ);
            if (rv != APR_SUCCESS) {
                return rv;
            }
            if (have + len > MGR_MAX_BODY) {
                return APR_ENOSPC;
            }
            memcpy(buf + have, data, len);
            have += len;
        }
        apr_brigade_cleanup(bb);
    } while (!seen_eos);
    buf[have] = '\0';
    *out = buf;
    return APR_SUCCESS;
}

/* The Referer names this server (host only, case-insensitive), as stock. */
static int same_host_referer(request_rec *r)
{
    const char *ref = apr_table_get(r->headers_in, "Referer");
    apr_uri_t uri;

    return ref && apr_uri_parse(r->pool, ref, &uri) == APR_SUCCESS
        && uri.hostname
        && ap_cstr_casecmp(uri.hostname, ap_get_server_name(r)) == 0;
}

/* ---- applying changes --------------------------------------------------- */

static const hcmethod_t *method_by_name(const char *name)
{
    const proxy_hcmethods_t *m = lbx_hc_method_find(name);

    return m && m->implemented ? &m->method : NULL;
}

/* Every member's credit back to its factor, as stock does on a factor
 * change (one member: factor and credit forced to 1). */
static void recalc_factors(proxy_balancer *b)
{
    proxy_worker **w = (proxy_worker **)b->workers->elts;
    struct lbx_hot *hot = lbx_hot_of(b);
    int i;

    if (b->workers->nelts == 1) {
        w[0]->s->lbfactor = 100;
    }
    for (i = 0; i < b->workers->nelts; i++) {
        lbx_atomic_store(&w[i]->s->lbstatus, w[i]->s->lbfactor);
        lbx_hot_set_credit(hot, w[i], w[i]->s->lbfactor);
    }
}

/* The health-check settings of a validated member edit. */
static void apply_worker_hc(proxy_worker *w,
                            const struct lbx_mgr_worker_edit *e,
                            const hcmethod_t *method)
{
    if (e->set & LBX_MW_INTERVAL) {
        w->s->interval = e->interval_us;
    }
    if (e->set & LBX_MW_PASSES) {
        w->s->passes = e->passes;
    }
    if (e->set & LBX_MW_FAILS) {
        w->s->fails = e->fails;
    }
    if (method) {
        w->s->method = *method;
    }
    if (e->set & LBX_MW_HCURI) {
        ap_proxy_strncpy(w->s->hcuri, e->hcuri, sizeof(w->s->hcuri));
    }
    if (e->set & LBX_MW_HCEXPR) {
        ap_proxy_strncpy(w->s->hcexpr, e->hcexpr, sizeof(w->s->hcexpr));
    }
    /* Methods that cannot evaluate an expression keep none (stock). */
    if (!lbx_hc_method_has_expr(w->s->method)) {
        *w->s->hcexpr = '\0';
    }
}

/* Check what only httpd can check (method and expression names, that a
 * removal is allowed), then apply.  Returns an error message or NULL. */
static const char *apply_worker(struct lbx_mgr_req *m,
                                const struct lbx_mgr_worker_edit *e)
{
    proxy_worker *w = m->wsel;
    proxy_balancer *b = m->bsel;
    const hcmethod_t *method = NULL;
    int was_usable = PROXY_WORKER_IS_USABLE(w);
    size_t i;

    if ((e->set & LBX_MW_METHOD) && !(method = method_by_name(e->method))) {
        return apr_psprintf(m->r->pool,
                            "w_hm: %s (not an available health "
                            "check method)",
                            e->method);
    }
    if ((e->set & LBX_MW_HCEXPR) && *e->hcexpr
        && !lbx_hc_valid_expr(m->r, e->hcexpr)) {
        return apr_psprintf(m->r->pool, "w_he: %s (no such ProxyHCExpr)",
                            e->hcexpr);
    }
    if (e->set & LBX_MW_REMOVE) {
        if (lbx_shm_config_member(b, w)) {
            return "w_remove: members from the configuration cannot be "
                   "removed, only disabled";
        }
        lbx_status_set(w, PROXY_WORKER_STOPPED | PROXY_WORKER_FREE);
        /* Its route must not keep sessions (or nofailover 503s) alive. */
        *w->s->route = '\0';
        *w->s->redirect = '\0';
        ap_log_rerror(APLOG_MARK, APLOG_NOTICE, 0, m->r,
                      LBXLOGNO(20030) "balancer-manager: removed %s from %s",
                      w->s->name_ex, b->s->name);
        lbx_hot_changed(b);
        return NULL;
    }
    if (e->set & LBX_MW_LBFACTOR) {
        w->s->lbfactor = e->lbfactor;
        recalc_factors(b);
    }
    if (e->set & LBX_MW_ROUTE) {
        ap_proxy_strncpy(w->s->route, e->route, sizeof(w->s->route));
    }
    if (e->set & LBX_MW_REDIRECT) {
        ap_proxy_strncpy(w->s->redirect, e->redirect, sizeof(w->s->redirect));
    }
    for (i = 0; i < sizeof(e->flag); i++) {
        if (e->flag[i] >= 0) {
            ap_proxy_set_wstatus(LBX_MGR_FLAGS[i], e->flag[i], w);
        }
    }
    if (e->set & LBX_MW_LBSET) {
        w->s->lbset = e->lbset;
    }
    apply_worker_hc(w, e, method);
    if (!was_usable && PROXY_WORKER_IS_USABLE(w)) {
        b->s->need_reset = 1;
    }
    /* Status, weight or lbset may have changed: every child walks the
     * members again; a member enabled here starts its slow start. */
    lbx_outlier_note(b, w);
    lbx_hot_changed(b);
    return NULL;
}

/* What adding a member came to; logged once the locks are released. */
enum add_outcome {
    ADD_ADDED,
    ADD_READDED,
    ADD_EXISTS,
    ADD_FULL,
    ADD_FAILED
};

/* add_member's work, under the balancer's locks.  For ADD_FAILED, *why
 * and *rv say why. */
static enum add_outcome add_locked(struct lbx_mgr_req *m, const char *url,
                                   const char **why, apr_status_t *rv)
{
    proxy_balancer *b = m->bsel;
    request_rec *r = m->r;
    proxy_worker *w;

    ap_proxy_sync_balancer(b, r->server, m->conf);
    w = ap_proxy_get_worker(r->pool, b, m->conf, url);
    if (w && LBX_MEMBER_REMOVED(w) && strcmp(w->s->name_ex, url) == 0) {
        /* Exactly the URL of a removed member: bring that one back. */
        lbx_status_clear(w, PROXY_WORKER_STOPPED | PROXY_WORKER_FREE);
        lbx_status_set(w, PROXY_WORKER_DISABLED);
        return ADD_READDED;
    }
    if (w) {
        return ADD_EXISTS;
    }
    if (!b->storage->num_free_slots(b->wslot)) {
        return ADD_FULL;
    }
    *why = ap_proxy_define_worker(m->conf->pool, &w, b, m->conf, url, 0);
    if (*why) {
        return ADD_FAILED;
    }
    /* Disabled before it is shared, so no request picks it first. */
    w->s->status |= PROXY_WORKER_DISABLED;
    *rv = lbx_shm_share_new_member(b, w);
    if (*rv == APR_SUCCESS) {
        *rv = ap_proxy_initialize_worker(w, r->server, m->conf->pool);
    }
    if (*rv != APR_SUCCESS) {
        *why = "cannot set up the new member's shared memory";
        return ADD_FAILED;
    }
    w->s->updated = apr_time_now();
    lbx_status_set(w, PROXY_WORKER_DISABLED);
    b->wupdated = b->s->wupdated = w->s->updated;
    return ADD_ADDED;
}

/* Add b_nwrkr to the balancer, as stock: it starts Disabled, other
 * processes adopt it at their next sync.  Under the global lock and with
 * the other processes' additions adopted, so two requests adding one URL
 * cannot both succeed. */
static const char *add_member(struct lbx_mgr_req *m, const char *url)
{
    proxy_balancer *b = m->bsel;
    request_rec *r = m->r;
    const char *why = NULL;
    apr_status_t rv = APR_SUCCESS;
    enum add_outcome outcome;

    if (!b->wslot || PROXY_GLOBAL_LOCK(b) != APR_SUCCESS) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                      LBXLOGNO(01194) "%s: Lock failed for adding worker",
                      b->s->name);
        return "cannot lock the balancer";
    }
    PROXY_THREAD_LOCK(b);
    outcome = add_locked(m, url, &why, &rv);
    PROXY_THREAD_UNLOCK(b);
    PROXY_GLOBAL_UNLOCK(b);
    switch (outcome) {
    case ADD_READDED:
        ap_log_rerror(APLOG_MARK, APLOG_NOTICE, 0, r,
                      LBXLOGNO(20032) "balancer-manager: re-added removed "
                                      "member %s to %s (disabled)",
                      url, b->s->name);
        return NULL;
    case ADD_EXISTS:
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                      LBXLOGNO(10164) "balancer-manager: member %s already "
                                      "exists in %s",
                      url, b->s->name);
        return apr_psprintf(r->pool,
                            "b_nwrkr: %s (a member already matches "
                            "this URL)",
                            url);
    case ADD_FULL:
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                      LBXLOGNO(10163) "balancer-manager: no free member slot "
                                      "in %s (growth exhausted)",
                      b->s->name);
        return "b_nwrkr: no room for another member (raise growth= on the "
               "balancer)";
    case ADD_FAILED:
        ap_log_rerror(APLOG_MARK, APLOG_ERR, rv, r,
                      LBXLOGNO(01195) "balancer-manager: cannot add %s to %s: "
                                      "%s",
                      url, b->s->name, why);
        return apr_psprintf(r->pool, "b_nwrkr: %s (%s)", url, why);
    default:
        ap_log_rerror(APLOG_MARK, APLOG_NOTICE, 0, r,
                      LBXLOGNO(20031) "balancer-manager: added %s to %s "
                                      "(disabled)",
                      url, b->s->name);
        return NULL;
    }
}

static const char *apply_balancer(struct lbx_mgr_req *m,
                                  const struct lbx_mgr_balancer_edit *e)
{
    proxy_balancer *b = m->bsel;
    proxy_balancer_method *lbm = NULL;

    if (e->set & LBX_MB_LBMETHOD) {
        lbm = ap_lookup_provider(PROXY_LBMETHOD, e->lbmethod, "0");
        if (!lbm) {
            return apr_psprintf(m->r->pool, "b_lbm: %s (no such lbmethod)",
                                e->lbmethod);
        }
    }
    if (e->set & LBX_MB_ADD) {
        const char *err = add_member(m, e->new_member);
        if (err) {
            return err;
        }
    }
    if (lbm && strcmp(e->lbmethod, b->s->lbpname) != 0) {
        ap_proxy_strncpy(b->s->lbpname, e->lbmethod, sizeof(b->s->lbpname));
        b->lbmethod = lbm;
        b->s->wupdated = apr_time_now();
        b->s->need_reset = 1;
    }
    if (e->set & LBX_MB_TIMEOUT) {
        b->s->timeout = apr_time_from_sec(e->timeout_s);
    }
    if (e->set & LBX_MB_MAXATTEMPTS) {
        b->s->max_attempts = e->max_attempts;
    }
    if (e->set & LBX_MB_STICKYFORCE) {
        b->s->sticky_force = e->sticky_force;
    }
    if (e->set & LBX_MB_STICKY) {
        ap_proxy_strncpy(b->s->sticky, e->sticky, sizeof(b->s->sticky));
        ap_proxy_strncpy(b->s->sticky_path, e->sticky_path,
                         sizeof(b->s->sticky_path));
    }
    lbx_hot_changed(b);
    return NULL;
}

/* Validate everything, then apply: a request with one bad value changes
 * nothing. */
static const char *process(struct lbx_mgr_req *m)
{
    struct lbx_mgr_worker_edit we;
    struct lbx_mgr_balancer_edit be;
    char err[256];
    const char *msg;

    if (m->wsel
        && (msg =
                lbx_mgr_worker_edit(m->params, m->n, &we, err, sizeof(err)))) {
        return apr_pstrdup(m->r->pool, msg);
    }
    if ((msg = lbx_mgr_balancer_edit(m->params, m->n, &be, err, sizeof(err)))) {
        return apr_pstrdup(m->r->pool, msg);
    }
    if (m->wsel && (msg = apply_worker(m, &we))) {
        return msg;
    }
    return apply_balancer(m, &be);
}

/* ---- the handler -------------------------------------------------------- */

static void sync_all(request_rec *r, proxy_server_conf *conf)
{
    proxy_balancer *b = (proxy_balancer *)conf->balancers->elts;
    int i;

    for (i = 0; i < conf->balancers->nelts; i++) {
        apr_status_t rv = PROXY_THREAD_LOCK(&b[i]);
        if (rv != APR_SUCCESS) {
            ap_log_rerror(
                APLOG_MARK, APLOG_ERR, rv, r,
                LBXLOGNO(01189) "%s: Lock failed for balancer_handler",
                b[i].s->name);
            continue;
        }
        ap_proxy_sync_balancer(&b[i], r->server, conf);
        PROXY_THREAD_UNLOCK(&b[i]);
    }
}

static void select_targets(struct lbx_mgr_req *m)
{
    const char *name;

    m->bsel = NULL;
    m->wsel = NULL;
    if ((name = lbx_mgr_get(m->params, m->n, "b"))) {
        m->bsel = ap_proxy_get_balancer(
            m->r->pool, m->conf,
            apr_pstrcat(m->r->pool, BALANCER_PREFIX, name, NULL), 0);
    }
    if (m->bsel && (name = lbx_mgr_get(m->params, m->n, "w"))) {
        m->wsel = ap_proxy_get_worker(m->r->pool, m->bsel, m->conf, name);
        /* A removed member is gone as far as edits are concerned. */
        if (m->wsel && LBX_MEMBER_REMOVED(m->wsel)) {
            m->wsel = NULL;
        }
    }
}

/* Read the query (GET) or body (POST) into m->params.  OK, or the status
 * to answer with. */
static int read_params(struct lbx_mgr_req *m)
{
    request_rec *r = m->r;
    char *input = NULL;
    apr_status_t rv;

    if (r->method_number == M_GET && r->args) {
        input = apr_pstrdup(r->pool, r->args);
    }
    else if (r->method_number == M_POST) {
        rv = read_body(r, &input);
        if (rv == APR_ENOSPC) {
            return HTTP_REQUEST_ENTITY_TOO_LARGE;
        }
        if (rv != APR_SUCCESS) {
            return ap_map_http_request_error(rv, HTTP_BAD_REQUEST);
        }
    }
    if (input) {
        m->n = lbx_mgr_parse_form(input, m->params, LBX_MGR_MAX_PARAMS);
        if (m->n < 0) {
            /* Said on the page only to a same-site caller, below. */
            m->n = 0;
            if (same_host_referer(r)) {
                m->error = "too many parameters";
            }
        }
    }
    return OK;
}

/* Parameters count only from a page of this server: others are logged
 * and dropped, so a cross-site request sees the plain page. */
static void referer_gate(struct lbx_mgr_req *m)
{
    request_rec *r = m->r;

    if (m->n > 0 && !same_host_referer(r)) {
        ap_log_rerror(
            APLOG_MARK, APLOG_ERR, 0, r,
            LBXLOGNO(
                10187) "ignoring params in balancer-manager cross-site access "
                       "%s: %s",
            apr_table_get(r->headers_in, "Referer")
                ? apr_table_get(r->headers_in, "Referer")
                : "(none)",
            ap_get_server_name(r));
        m->n = 0;
    }
    else if (m->n > 0) {
        m->gate_passed = 1;
    }
}

int lbx_manager_handler(request_rec *r)
{
    static const char *const get_keys[] = { "b", "w", "nonce", "xml", NULL };
    struct lbx_mgr_req *m;
    const char *format = NULL, *nonce;
    int status;

    if (!r->handler || strcmp(r->handler, "balancer-manager") != 0) {
        return DECLINED;
    }
    r->allowed = (AP_METHOD_BIT << M_GET) | (AP_METHOD_BIT << M_POST);
    if (r->method_number != M_GET && r->method_number != M_POST) {
        return DECLINED;
    }
    m = apr_pcalloc(r->pool, sizeof(*m));
    m->r = r;
    m->conf = ap_get_module_config(r->server->module_config, &proxy_module);
    sync_all(r, m->conf);
    if ((status = read_params(m)) != OK) {
        return status;
    }
    if (r->method_number == M_GET) {
        /* The read-only views need no Referer: they change nothing, and a
         * cross-site page cannot read the answer anyway. */
        format = lbx_mgr_get(m->params, m->n, "format");
        m->n = lbx_mgr_filter(m->params, m->n, get_keys);
    }
    if (format && !strcmp(format, "json")) {
        lbx_mgr_render_json(m);
        return OK;
    }
    if (format && !strcmp(format, "metrics")) {
        lbx_mgr_render_metrics(m);
        return OK;
    }
    referer_gate(m);
    select_targets(m);

    nonce = lbx_mgr_get(m->params, m->n, "nonce");
    if (r->method_number == M_POST && !m->error && m->bsel && *m->bsel->s->nonce
        && nonce && lbx_mgr_secret_eq(m->bsel->s->nonce, nonce)) {
        m->error = process(m);
        if (!m->error) {
            /* Adding a member may have made it selectable just now. */
            select_targets(m);
        }
    }
    if (m->error) {
        r->status = HTTP_BAD_REQUEST;
    }
    if (lbx_mgr_get(m->params, m->n, "xml")) {
        lbx_mgr_render_xml(m);
    }
    else {
        lbx_mgr_render_html(m);
    }
    return OK;
}

/* balancer_manage: the same changes for callers holding a parameter table
 * (no Referer or nonce check, as stock). */
static apr_status_t lbx_balancer_manage(request_rec *r, apr_table_t *params)
{
    struct lbx_mgr_req *m = apr_pcalloc(r->pool, sizeof(*m));
    const apr_array_header_t *arr = apr_table_elts(params);
    const apr_table_entry_t *e = (const apr_table_entry_t *)arr->elts;
    int i;

    m->r = r;
    m->conf = ap_get_module_config(r->server->module_config, &proxy_module);
    for (i = 0; i < arr->nelts && m->n < LBX_MGR_MAX_PARAMS; i++) {
        m->params[m->n].key = apr_pstrdup(r->pool, e[i].key);
        m->params[m->n].val = apr_pstrdup(r->pool, e[i].val ? e[i].val : "");
        m->n++;
    }
    sync_all(r, m->conf);
    select_targets(m);
    if (!m->bsel) {
        return HTTP_BAD_REQUEST;
    }
    return process(m) ? HTTP_BAD_REQUEST : APR_SUCCESS;
}

void lbx_manager_register(void)
{
    /* Typed first, so a signature drifting from mod_proxy.h's declaration
     * is a compile error. */
    APR_OPTIONAL_FN_TYPE(balancer_manage) *manage = lbx_balancer_manage;
    APR_OPTIONAL_FN_TYPE(hc_show_exprs) *show = lbx_mgr_show_exprs;
    APR_OPTIONAL_FN_TYPE(hc_select_exprs) *select = lbx_mgr_select_exprs;

    apr_dynamic_fn_register("balancer_manage", (apr_opt_fn_t *)manage);
    apr_dynamic_fn_register("hc_show_exprs", (apr_opt_fn_t *)show);
    apr_dynamic_fn_register("hc_select_exprs", (apr_opt_fn_t *)select);
}
