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
 * field; members added here can be removed again (w_remove=1).  When the
 * page ignores edit parameters it still answers 200, as stock (scripts
 * and httpd's tests rely on it), but says that nothing changed and why.
 * A POST of JSON goes to the write endpoint for scripts (manager_api.c).
 */
#include "apr_strings.h"
#include "ap_provider.h"
#include "ap_slotmem.h"
#include "http_core.h"
#include "http_protocol.h"
#include "http_request.h"

#include "manager.h"
#include "manager_view.h"
#include "manager_apply.h"
#include "manager_api.h"
#include "manager_dash.h"
#include "manager_json.h"
#include "fleet.h"

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
    if (memchr(buf, '\0', have)) {
        /* The parameters are read as a string: what follows a NUL would
         * be dropped unseen, an invalid value with it. */
        return APR_EINVAL;
    }
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

/* Validate everything, then apply: a request with one bad value changes
 * nothing.  The targets stay in m for the page. */
static const char *process(struct lbx_mgr_req *m)
{
    struct lbx_mgr_apply a = { m->r->pool, m->r->server, m->r,
                               m->conf,    m->bsel,      m->wsel };

    return lbx_mgr_apply(&a, m->params, m->n);
}

static void select_targets(struct lbx_mgr_req *m)
{
    struct lbx_mgr_apply a = { m->r->pool, m->r->server, m->r,
                               m->conf,    NULL,         NULL };

    lbx_mgr_select(&a, m->params, m->n);
    m->bsel = a.bsel;
    m->wsel = a.wsel;
}

/* ---- the handler -------------------------------------------------------- */

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

/* Whether the parameters ask for a change (not only b, w and nonce, which
 * select what the page shows). */
static int asks_change(const struct lbx_mgr_req *m)
{
    int i;

    for (i = 0; i < m->n; i++) {
        const char *k = m->params[i].key;

        if (lbx_mgr_known_key(k) && strcmp(k, "b") && strcmp(k, "w")
            && strcmp(k, "nonce")) {
            return 1;
        }
    }
    return 0;
}

/* A POST whose body is JSON (media type application/json, any
 * parameters). */
static int json_body(request_rec *r)
{
    const char *ct = apr_table_get(r->headers_in, "Content-Type");
    size_t n = sizeof("application/json") - 1;

    return ct && ap_cstr_casecmpn(ct, "application/json", n) == 0
        && (ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ' || ct[n] == '\t');
}

/* Parameters count only from a page of this server: others are logged
 * and dropped, so a cross-site request sees the plain page. */
static void referer_gate(struct lbx_mgr_req *m)
{
    request_rec *r = m->r;

    if (m->n > 0 && !same_host_referer(r)) {
        if (asks_change(m)) {
            m->ignored = apr_table_get(r->headers_in, "Referer")
                ? "the Referer header names another server (a guard "
                  "against cross-site requests). Scripts can POST JSON "
                  "instead (see the README)."
                : "the request had no Referer header naming this server (a "
                  "guard against cross-site requests). Scripts can POST "
                  "JSON instead (see the README).";
        }
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

/* Why a same-site POST with edit parameters changed nothing. */
static const char *ignored_why(struct lbx_mgr_req *m, const char *nonce)
{
    if (!m->bsel) {
        return lbx_mgr_get(m->params, m->n, "b")
            ? "b= names no balancer of this server."
            : "no balancer was named (b=).";
    }
    if (!*m->bsel->s->nonce) {
        return "the balancer is set nonce=None, so the manager cannot "
               "change it.";
    }
    return nonce ? "the nonce is not the balancer's (reload the page)."
                 : "the balancer's nonce was missing.";
}

/* view=dashboard: the answer is the dashboard, not stock's page.  The key
 * is taken out, so an edit made from the dashboard is the same edit as
 * one from the page (also for the fleet's other front-ends). */
static int take_dashboard(struct lbx_mgr_req *m)
{
    const char *v = lbx_mgr_get(m->params, m->n, "view");
    int i, kept = 0;

    for (i = 0; i < m->n; i++) {
        if (strcmp(m->params[i].key, "view") != 0) {
            m->params[kept++] = m->params[i];
        }
    }
    m->n = kept;
    return v && !strcmp(v, "dashboard");
}

int lbx_manager_handler(request_rec *r)
{
    static const char *const get_keys[] = { "b", "w", "nonce", "xml", NULL };
    struct lbx_mgr_req *m;
    const char *format = NULL, *nonce;
    int status, dashboard;

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
    /* Its buttons act in one click: no other site may frame it. */
    apr_table_setn(r->headers_out, "X-Frame-Options", "DENY");
    apr_table_setn(r->headers_out, "Content-Security-Policy",
                   "frame-ancestors 'none'");
    lbx_mgr_sync_all(r->server, m->conf);
    if (r->method_number == M_POST && json_body(r)) {
        char *body = NULL;
        apr_status_t rv = read_body(r, &body);

        return lbx_mgr_api(m, rv, body);
    }
    if ((status = read_params(m)) != OK) {
        return status;
    }
    dashboard = take_dashboard(m);
    if (r->method_number == M_GET) {
        /* The read-only views need no Referer: they change nothing, and a
         * cross-site page cannot read the answer anyway. */
        format = lbx_mgr_get(m->params, m->n, "format");
        if (asks_change(m)) {
            m->ignored = "changes are made only by a POST (the forms on "
                         "this page, or JSON for scripts).";
        }
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
            lbx_fleet_edit_made(r, m->params, m->n);
            /* Adding a member may have made it selectable just now. */
            select_targets(m);
        }
    }
    else if (m->gate_passed && !m->error && asks_change(m)) {
        m->ignored = ignored_why(m, nonce);
    }
    if (m->error) {
        r->status = HTTP_BAD_REQUEST;
    }
    if (dashboard) {
        lbx_mgr_render_dashboard(m);
    }
    else if (lbx_mgr_get(m->params, m->n, "xml")) {
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
    lbx_mgr_sync_all(r->server, m->conf);
    select_targets(m);
    if (!m->bsel) {
        return HTTP_BAD_REQUEST;
    }
    if (process(m)) {
        return HTTP_BAD_REQUEST;
    }
    lbx_fleet_edit_made(r, m->params, m->n);
    return APR_SUCCESS;
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
