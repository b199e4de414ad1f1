/* manager.c: the balancer-manager handler.
 *
 * Order of work, kept strict: read the request into a parameter list;
 * validate every value into edit structs (manager_core.c); only if all of
 * it is valid, apply it to shared memory; render last.  Rendering never
 * changes anything and escapes everything it prints.
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
#include "apr_uuid.h"
#include "apr_date.h"
#include "apr_escape.h"
#include "ap_provider.h"
#include "ap_slotmem.h"
#include "http_core.h"
#include "http_protocol.h"
#include "http_request.h"
#include "mod_watchdog.h"
#include "util_script.h"

#include "mod_lbx.h"
#include "manager_core.h"

APLOG_USE_MODULE(lbx);

#define MGR_MAX_PARAMS 64
#define MGR_MAX_BODY   (16 * 1024)

/* A member removed through the manager keeps its slot (mod_proxy has no
 * way to drop a worker from other processes' lists) but is stopped and
 * flagged Free, which nothing in httpd uses otherwise; every view hides it
 * and adding the same URL again brings it back. */
#define MEMBER_REMOVED(w) (((w)->s->status & PROXY_WORKER_FREE) != 0)

struct mgr_req {
    request_rec *r;
    proxy_server_conf *conf;
    struct lbx_mgr_param params[MGR_MAX_PARAMS];
    int n;
    proxy_balancer *bsel;
    proxy_worker *wsel;
    const char *error;          /* shown on the page, status 400 */
    int gate_passed;            /* Referer matched: forms may be shown */
};

static const char *flag_name(char c)
{
    switch (c) {
    case 'I': return "Ignore Errors";
    case 'N': return "Draining Mode";
    case 'D': return "Disabled";
    case 'H': return "Hot Standby";
    case 'R': return "Hot Spare";
    case 'S': return "Stopped";
    case 'C': return "HC Fail";
    }
    return "";
}

static int hc_available(void)
{
    return APR_RETRIEVE_OPTIONAL_FN(ap_watchdog_get_instance) != NULL;
}

/* ---- reading the request ------------------------------------------------ */

static apr_status_t read_body(request_rec *r, char **out)
{
    apr_bucket_brigade *bb = apr_brigade_create(r->pool,
                                                r->connection->bucket_alloc);
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
    proxy_hcmethods_t *m;

    for (m = proxy_hcmethods; m->name; m++) {
        if (m->implemented && ap_cstr_casecmp(m->name, name) == 0) {
            return &m->method;
        }
    }
    return NULL;
}

/* Every member's credit back to its factor, as stock does on a factor
 * change (one member: factor and credit forced to 1). */
static void recalc_factors(proxy_balancer *b)
{
    proxy_worker **w = (proxy_worker **)b->workers->elts;
    int i;

    if (b->workers->nelts == 1) {
        w[0]->s->lbfactor = 100;
        lbx_atomic_store(&w[0]->s->lbstatus, 100);
        return;
    }
    for (i = 0; i < b->workers->nelts; i++) {
        lbx_atomic_store(&w[i]->s->lbstatus, w[i]->s->lbfactor);
    }
}

static int config_member(proxy_balancer *b, proxy_worker *w)
{
    proxy_worker **ws = (proxy_worker **)b->workers->elts;
    int i, n = lbx_config_members(b);

    for (i = 0; i < n && i < b->workers->nelts; i++) {
        if (ws[i] == w) {
            return 1;
        }
    }
    return 0;
}

/* Check what only httpd can check (method and expression names, that a
 * removal is allowed), then apply.  Returns an error message or NULL. */
static const char *apply_worker(struct mgr_req *m,
                                const struct lbx_mgr_worker_edit *e)
{
    proxy_worker *w = m->wsel;
    proxy_balancer *b = m->bsel;
    const hcmethod_t *method = NULL;
    int was_usable = PROXY_WORKER_IS_USABLE(w);
    size_t i;

    if ((e->set & LBX_MW_METHOD) && !(method = method_by_name(e->method))) {
        return apr_psprintf(m->r->pool, "w_hm: %s (not an available health "
                            "check method)", e->method);
    }
    if ((e->set & LBX_MW_HCEXPR) && *e->hcexpr
        && !lbx_hc_valid_expr(m->r, e->hcexpr)) {
        return apr_psprintf(m->r->pool, "w_he: %s (no such ProxyHCExpr)",
                            e->hcexpr);
    }
    if (e->set & LBX_MW_REMOVE) {
        if (config_member(b, w)) {
            return "w_remove: members from the configuration cannot be "
                   "removed, only disabled";
        }
        lbx_status_set(w, PROXY_WORKER_STOPPED | PROXY_WORKER_FREE);
        /* Its route must not keep sessions (or nofailover 503s) alive. */
        *w->s->route = '\0';
        *w->s->redirect = '\0';
        ap_log_rerror(APLOG_MARK, APLOG_NOTICE, 0, m->r, LBXLOGNO(20030)
                      "balancer-manager: removed %s from %s", w->s->name_ex,
                      b->s->name);
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
    if (w->s->method == NONE || w->s->method == TCP
        || w->s->method == CPING) {
        *w->s->hcexpr = '\0';
    }
    if (!was_usable && PROXY_WORKER_IS_USABLE(w)) {
        b->s->need_reset = 1;
    }
    return NULL;
}

/* Add b_nwrkr to the balancer, as stock: it starts Disabled, other
 * processes adopt it at their next sync. */
static const char *add_member(struct mgr_req *m, const char *url)
{
    proxy_balancer *b = m->bsel;
    request_rec *r = m->r;
    proxy_worker *w;
    proxy_worker_shared *shm;
    unsigned int index;
    apr_status_t rv = APR_SUCCESS;
    const char *err = NULL;

    if (!b->wslot || (rv = PROXY_GLOBAL_LOCK(b)) != APR_SUCCESS) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, LBXLOGNO(01194)
                      "%s: Lock failed for adding worker", b->s->name);
        return "cannot lock the balancer";
    }
    /* Under the global lock and with the other processes' additions
     * adopted, so two requests adding one URL cannot both succeed. */
    PROXY_THREAD_LOCK(b);
    ap_proxy_sync_balancer(b, r->server, m->conf);
    w = ap_proxy_get_worker(r->pool, b, m->conf, url);
    if (w && MEMBER_REMOVED(w) && strcmp(w->s->name_ex, url) == 0) {
        /* Exactly the URL of a removed member: bring that one back. */
        lbx_status_clear(w, PROXY_WORKER_STOPPED | PROXY_WORKER_FREE);
        lbx_status_set(w, PROXY_WORKER_DISABLED);
        PROXY_THREAD_UNLOCK(b);
        PROXY_GLOBAL_UNLOCK(b);
        ap_log_rerror(APLOG_MARK, APLOG_NOTICE, 0, r, LBXLOGNO(20032)
                      "balancer-manager: re-added removed member %s to %s "
                      "(disabled)", url, b->s->name);
        return NULL;
    }
    if (w) {
        PROXY_THREAD_UNLOCK(b);
        PROXY_GLOBAL_UNLOCK(b);
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, LBXLOGNO(10164)
                      "balancer-manager: member %s already exists in %s",
                      url, b->s->name);
        return apr_psprintf(r->pool, "b_nwrkr: %s (a member already "
                            "matches this URL)", url);
    }
    if (!b->storage->num_free_slots(b->wslot)) {
        PROXY_THREAD_UNLOCK(b);
        PROXY_GLOBAL_UNLOCK(b);
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, LBXLOGNO(10163)
                      "balancer-manager: no free member slot in %s "
                      "(growth exhausted)", b->s->name);
        return "b_nwrkr: no room for another member (raise growth= on the "
               "balancer)";
    }
    err = ap_proxy_define_worker(m->conf->pool, &w, b, m->conf, url, 0);
    if (!err) {
        /* Disabled before it is shared, so no request picks it first. */
        w->s->status |= PROXY_WORKER_DISABLED;
        rv = b->storage->grab(b->wslot, &index);
        if (rv == APR_SUCCESS) {
            rv = b->storage->dptr(b->wslot, index, (void **)&shm);
        }
        if (rv == APR_SUCCESS) {
            rv = ap_proxy_share_worker(w, shm, (int)index);
        }
        if (rv == APR_SUCCESS) {
            rv = ap_proxy_initialize_worker(w, r->server, m->conf->pool);
        }
        if (rv != APR_SUCCESS) {
            err = "cannot set up the new member's shared memory";
        }
        else {
            apr_time_t now = apr_time_now();
            w->s->updated = now;
            lbx_status_set(w, PROXY_WORKER_DISABLED);
            b->wupdated = b->s->wupdated = now;
        }
    }
    PROXY_THREAD_UNLOCK(b);
    PROXY_GLOBAL_UNLOCK(b);
    if (err) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, rv, r, LBXLOGNO(01195)
                      "balancer-manager: cannot add %s to %s: %s", url,
                      b->s->name, err);
        return apr_psprintf(r->pool, "b_nwrkr: %s (%s)", url, err);
    }
    ap_log_rerror(APLOG_MARK, APLOG_NOTICE, 0, r, LBXLOGNO(20031)
                  "balancer-manager: added %s to %s (disabled)", url,
                  b->s->name);
    return NULL;
}

static const char *apply_balancer(struct mgr_req *m,
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
    return NULL;
}

/* Validate everything, then apply: a request with one bad value changes
 * nothing. */
static const char *process(struct mgr_req *m)
{
    struct lbx_mgr_worker_edit we;
    struct lbx_mgr_balancer_edit be;
    char err[256];
    const char *msg;

    if (m->wsel && (msg = lbx_mgr_worker_edit(m->params, m->n, &we, err,
                                              sizeof(err)))) {
        return apr_pstrdup(m->r->pool, msg);
    }
    if ((msg = lbx_mgr_balancer_edit(m->params, m->n, &be, err,
                                     sizeof(err)))) {
        return apr_pstrdup(m->r->pool, msg);
    }
    if (m->wsel && (msg = apply_worker(m, &we))) {
        return msg;
    }
    return apply_balancer(m, &be);
}

/* ---- rendering helpers -------------------------------------------------- */

static const char *esc(request_rec *r, const char *s)
{
    return ap_escape_html(r->pool, s ? s : "");
}

static const char *sticky_text(request_rec *r, proxy_balancer *b)
{
    if (!*b->s->sticky) {
        return " (None) ";
    }
    if (strcmp(b->s->sticky, b->s->sticky_path) == 0) {
        return b->s->sticky;
    }
    return apr_pstrcat(r->pool, b->s->sticky, "|", b->s->sticky_path, NULL);
}

static int used_members(proxy_balancer *b)
{
    proxy_worker **w = (proxy_worker **)b->workers->elts;
    int i, n = 0;

    for (i = 0; i < b->workers->nelts; i++) {
        n += !MEMBER_REMOVED(w[i]);
    }
    return n;
}

static const char *hc_method_name(proxy_worker *w)
{
    return ap_proxy_show_hcmethod(w->s->method);
}

/* Member URL, as stock shows it (UDS members as unix:path|url). */
static const char *member_name(request_rec *r, proxy_worker *w)
{
    return ap_proxy_worker_name(r->pool, w);
}

static const char *state_class(proxy_worker *w)
{
    unsigned st = w->s->status;

    if (st & (PROXY_WORKER_IN_ERROR | PROXY_WORKER_HC_FAIL)) {
        return "bad";
    }
    if (st & (PROXY_WORKER_DISABLED | PROXY_WORKER_STOPPED)) {
        return "off";
    }
    if (st & (PROXY_WORKER_DRAIN | PROXY_WORKER_HOT_STANDBY
              | PROXY_WORKER_HOT_SPARE)) {
        return "wait";
    }
    return PROXY_WORKER_IS_USABLE(w) ? "ok" : "bad";
}

static const char *manager_url(request_rec *r)
{
    return ap_construct_url(r->pool, r->uri, r);
}

/* ---- HTML --------------------------------------------------------------- */

static void html_head(request_rec *r)
{
    ap_set_content_type(r, "text/html; charset=ISO-8859-1");
    ap_rputs(DOCTYPE_HTML_4_01 "<html><head>\n"
             "<meta name=\"viewport\" content=\"width=device-width, "
             "initial-scale=1\">\n<title>Balancer Manager</title>\n"
             "<style type='text/css'>\n"
             "body { font-family: sans-serif; margin: 1em; }\n"
             "table { border-width: 1px; border-spacing: 3px; "
             "border-style: solid; border-color: gray; "
             "border-collapse: collapse; background-color: white; "
             "text-align: center; }\n"
             "th { border-width: 1px; padding: 2px; border-style: dotted; "
             "border-color: gray; background-color: lightgray; "
             "text-align: center; }\n"
             "td { border-width: 1px; padding: 2px; border-style: dotted; "
             "border-color: gray; background-color: white; "
             "text-align: center; }\n"
             ".scroll { overflow-x: auto; }\n"
             "td.ok { background-color: #c8f0c8; }\n"
             "td.wait { background-color: #fff2b3; }\n"
             "td.off { background-color: #ddd; }\n"
             "td.bad { background-color: #f5b5b5; }\n"
             ".error { border: 2px solid #c00; background: #fee; "
             "padding: 0.5em; }\n"
             "</style>\n</head>\n", r);
}

static void html_balancer(struct mgr_req *m, proxy_balancer *b)
{
    request_rec *r = m->r;
    proxy_worker **workers = (proxy_worker **)b->workers->elts;
    const char *name = b->s->name + sizeof(BALANCER_PREFIX) - 1;
    const char *uri = esc(r, r->uri);
    int hc = hc_available(), i;

    ap_rvputs(r, "<hr />\n<h3>LoadBalancer Status for <a href=\"", uri, "?b=",
              esc(r, ap_escape_uri(r->pool, name)), "&amp;nonce=",
              esc(r, b->s->nonce), "\">", esc(r, b->s->name), "</a> [",
              esc(r, b->s->sname), "]</h3>\n\n", NULL);
    ap_rputs("<div class='scroll'><table><tr><th>MaxMembers</th>"
             "<th>StickySession</th><th>DisableFailover</th><th>Timeout</th>"
             "<th>FailoverAttempts</th><th>Method</th><th>Path</th>"
             "<th>Active</th></tr>\n<tr>", r);
    ap_rprintf(r, "<td>%d [%d Used]</td>\n", b->max_workers,
               used_members(b));
    ap_rvputs(r, "<td>", esc(r, sticky_text(r, b)), "</td>\n", NULL);
    ap_rprintf(r, "<td>%s</td>\n", b->s->sticky_force ? "On" : "Off");
    ap_rprintf(r, "<td>%" APR_TIME_T_FMT "</td>", apr_time_sec(b->s->timeout));
    ap_rprintf(r, "<td>%d</td>\n", b->s->max_attempts);
    ap_rvputs(r, "<td>", esc(r, b->s->lbpname), "</td>\n<td>", NULL);
    if (*b->s->vhost) {
        ap_rvputs(r, esc(r, b->s->vhost), " -> ", NULL);
    }
    ap_rvputs(r, esc(r, b->s->vpath), "</td>\n<td>",
              b->s->inactive ? "No" : "Yes", "</td>\n</tr>\n</table></div>\n"
              "<br />", NULL);

    ap_rputs("\n\n<div class='scroll'><table><tr><th>Worker URL</th>"
             "<th>Route</th><th>RouteRedir</th><th>Factor</th><th>Set</th>"
             "<th>Status</th><th>Elected</th><th>Busy</th><th>Load</th>"
             "<th>To</th><th>From</th>", r);
    if (hc) {
        ap_rputs("<th>HC Method</th><th>HC Interval</th><th>Passes</th>"
                 "<th>Fails</th><th>HC uri</th><th>HC Expr</th>", r);
    }
    ap_rputs("</tr>\n", r);
    for (i = 0; i < b->workers->nelts; i++) {
        proxy_worker *w = workers[i];
        char fbuf[6], rbuf[6];

        if (MEMBER_REMOVED(w)) {
            continue;
        }
        ap_rvputs(r, "<tr>\n<td><a href=\"", uri, "?b=",
                  esc(r, ap_escape_uri(r->pool, name)), "&amp;w=",
                  esc(r, ap_escape_uri(r->pool, w->s->name_ex)),
                  "&amp;nonce=", esc(r, b->s->nonce), "\">", NULL);
        ap_rvputs(r, *w->s->uds_path ? "<i>" : "",
                  esc(r, member_name(r, w)),
                  *w->s->uds_path ? "</i>" : "", "</a></td>", NULL);
        ap_rvputs(r, "<td>", esc(r, w->s->route), "</td>", NULL);
        ap_rvputs(r, "<td>", esc(r, w->s->redirect), "</td>", NULL);
        ap_rprintf(r, "<td>%.2f</td>", (float)w->s->lbfactor / 100.0);
        ap_rprintf(r, "<td>%d</td>", w->s->lbset);
        ap_rvputs(r, "<td class='", state_class(w), "'>",
                  esc(r, ap_proxy_parse_wstatus(r->pool, w)), "</td>", NULL);
        ap_rprintf(r, "<td>%" APR_SIZE_T_FMT "</td>", w->s->elected);
        ap_rprintf(r, "<td>%" APR_SIZE_T_FMT "</td>", w->s->busy);
        ap_rprintf(r, "<td>%d</td><td>", w->s->lbstatus);
        ap_rputs(apr_strfsize(w->s->transferred, fbuf), r);
        ap_rputs("</td><td>", r);
        ap_rputs(apr_strfsize(w->s->read, rbuf), r);
        ap_rputs("</td>", r);
        if (hc) {
            ap_rvputs(r, "<td>", hc_method_name(w), "</td>", NULL);
            ap_rprintf(r, "<td>%" APR_TIME_T_FMT "ms</td>",
                       apr_time_as_msec(w->s->interval));
            ap_rprintf(r, "<td>%d (%d)</td>", w->s->passes, w->s->pcount);
            ap_rprintf(r, "<td>%d (%d)</td>", w->s->fails, w->s->fcount);
            ap_rvputs(r, "<td>", esc(r, w->s->hcuri), "</td><td>",
                      esc(r, w->s->hcexpr), "</td>", NULL);
        }
        ap_rputs("\n</tr>\n", r);
    }
    ap_rputs("</table></div>\n", r);
}

static void radio(request_rec *r, const char *name, int on)
{
    ap_rvputs(r, "<td><label for='", name, "1'>On</label> <input name='",
              name, "' id='", name, "1' value='1' type=radio",
              on ? " checked" : "", "> <br/> <label for='", name,
              "0'>Off</label> <input name='", name, "' id='", name,
              "0' value='0' type=radio", on ? "" : " checked", "></td>\n",
              NULL);
}

static void html_worker_form(struct mgr_req *m)
{
    request_rec *r = m->r;
    proxy_worker *w = m->wsel;
    proxy_balancer *b = m->bsel;
    const char *flags = hc_available() ? "INDHRCS" : "INDHRS";
    const char *f;
    char num[32];

    ap_rvputs(r, "<h3>Edit worker settings for ", esc(r, w->s->name_ex),
              "</h3>\n<form method='POST' enctype='application/"
              "x-www-form-urlencoded' action=\"", esc(r, manager_url(r)),
              "\">\n<table><tr><td>Load factor:</td><td><input name='w_lf' "
              "id='w_lf' type=text ", NULL);
    apr_snprintf(num, sizeof(num), "%.2f", (float)w->s->lbfactor / 100.0);
    ap_rvputs(r, "value='", num, "'></td></tr>\n<tr><td>LB Set:</td><td>"
              "<input name='w_ls' id='w_ls' type=text ", NULL);
    ap_rprintf(r, "value='%d'></td></tr>\n", w->s->lbset);
    ap_rvputs(r, "<tr><td>Route:</td><td><input name='w_wr' id='w_wr' "
              "type=text value=\"", esc(r, w->s->route), "\"></td></tr>\n"
              "<tr><td>Route Redirect:</td><td><input name='w_rr' id='w_rr' "
              "type=text value=\"", esc(r, w->s->redirect),
              "\"></td></tr>\n<tr><td>Status:</td><td><table><tr>", NULL);
    for (f = flags; *f; f++) {
        ap_rvputs(r, "<th>", flag_name(*f), "</th>", NULL);
    }
    ap_rputs("</tr>\n<tr>", r);
    for (f = flags; *f; f++) {
        char field[] = "w_status_X";
        proxy_wstat_t *st;
        int on = 0;
        field[9] = *f;
        for (st = proxy_wstat_tbl; st->name; st++) {
            if (st->flag == *f) {
                on = (w->s->status & st->bit) != 0;
            }
        }
        radio(r, field, on);
    }
    ap_rputs("</tr></table></td></tr>\n", r);
    if (hc_available()) {
        proxy_hcmethods_t *hm;
        ap_rputs("<tr><td colspan='2'>\n<table><tr><th>HC Method</th>"
                 "<th>HC Expr</th><th>HC Interval (ms)</th><th>Passes</th>"
                 "<th>Fails</th><th>HC uri</th></tr>\n<tr><td>"
                 "<select name='w_hm'>\n", r);
        for (hm = proxy_hcmethods; hm->name; hm++) {
            if (hm->implemented) {
                ap_rvputs(r, "<option value='", hm->name, "'",
                          hm->method == w->s->method ? " selected" : "", ">",
                          hm->name, "</option>\n", NULL);
            }
        }
        ap_rputs("</select>\n</td>\n<td><select name='w_he'>\n", r);
        lbx_hc_select_exprs(r, w->s->hcexpr);
        ap_rprintf(r, "</select>\n</td><td><input name='w_hi' id='w_hi' "
                   "type=text value='%" APR_TIME_T_FMT "'></td>\n",
                   apr_time_as_msec(w->s->interval));
        ap_rprintf(r, "<td><input name='w_hp' id='w_hp' type=text "
                   "value='%d'></td>\n", w->s->passes);
        ap_rprintf(r, "<td><input name='w_hf' id='w_hf' type=text "
                   "value='%d'></td>\n", w->s->fails);
        ap_rvputs(r, "<td><input name='w_hu' id='w_hu' type=text value=\"",
                  esc(r, w->s->hcuri), "\"></td>\n</tr></table></td></tr>\n",
                  NULL);
    }
    ap_rvputs(r, "<tr><td colspan='2'><input type=submit value='Submit'>"
              "</td></tr>\n</table>\n<input type=hidden name='w' id='w' "
              "value=\"", esc(r, w->s->name_ex), "\">\n"
              "<input type=hidden name='b' id='b' value=\"",
              esc(r, b->s->name + sizeof(BALANCER_PREFIX) - 1), "\">\n"
              "<input type=hidden name='nonce' id='nonce' value=\"",
              esc(r, b->s->nonce), "\">\n</form>\n", NULL);
    if (!config_member(b, w)) {
        ap_rvputs(r, "<form method='POST' enctype='application/"
                  "x-www-form-urlencoded' action=\"", esc(r, manager_url(r)),
                  "\">\n<input type=hidden name='w_remove' value='1'>\n"
                  "<input type=hidden name='w' value=\"",
                  esc(r, w->s->name_ex), "\">\n"
                  "<input type=hidden name='b' value=\"",
                  esc(r, b->s->name + sizeof(BALANCER_PREFIX) - 1), "\">\n"
                  "<input type=hidden name='nonce' value=\"",
                  esc(r, b->s->nonce), "\">\n<input type=submit "
                  "value='Remove this member'>\n</form>\n", NULL);
    }
    ap_rputs("<hr />\n", r);
}

static void html_balancer_form(struct mgr_req *m)
{
    request_rec *r = m->r;
    proxy_balancer *b = m->bsel;
    apr_array_header_t *methods;
    int i;

    ap_rvputs(r, "<h3>Edit balancer settings for ", esc(r, b->s->name),
              "</h3>\n<form method='POST' enctype='application/"
              "x-www-form-urlencoded' action=\"", esc(r, manager_url(r)),
              "\">\n<table>\n<tr><td>LBmethod:</td><td>\n"
              "<select name='b_lbm' id='b_lbm'>\n", NULL);
    methods = ap_list_provider_names(r->pool, PROXY_LBMETHOD, "0");
    for (i = 0; methods && i < methods->nelts; i++) {
        const char *name = APR_ARRAY_IDX(methods, i, ap_list_provider_names_t)
                               .provider_name;
        ap_rvputs(r, "<option value='", esc(r, name), "'",
                  strcmp(name, b->s->lbpname) == 0 ? " selected" : "", ">",
                  esc(r, name), "</option>\n", NULL);
    }
    ap_rprintf(r, "</select>\n</td></tr>\n<tr><td>Timeout:</td><td>"
               "<input name='b_tmo' id='b_tmo' type=text value='%"
               APR_TIME_T_FMT "'></td></tr>\n", apr_time_sec(b->s->timeout));
    ap_rprintf(r, "<tr><td>Failover Attempts:</td><td><input name='b_max' "
               "id='b_max' type=text value='%d'></td></tr>\n",
               b->s->max_attempts);
    ap_rputs("<tr><td>Disable Failover:</td>", r);
    radio(r, "b_sforce", b->s->sticky_force);
    ap_rvputs(r, "</tr>\n<tr><td>Sticky Session:</td><td><input name='b_ss' "
              "id='b_ss' size=64 type=text value=\"",
              *b->s->sticky ? esc(r, sticky_text(r, b)) : "",
              "\">&nbsp;&nbsp;&nbsp;&nbsp;(Use '-' to delete)</td></tr>\n",
              NULL);
    if (b->storage && b->wslot
        && b->storage->num_free_slots(b->wslot)) {
        ap_rputs("<tr><td>Add New Worker:</td><td><input name='b_nwrkr' "
                 "id='b_nwrkr' size=32 type=text>&nbsp;&nbsp;&nbsp;&nbsp;"
                 "Are you sure? <input name='b_wyes' id='b_wyes' "
                 "type=checkbox value='1'></td></tr>", r);
    }
    ap_rvputs(r, "<tr><td colspan='2'><input type=submit value='Submit'>"
              "</td></tr>\n</table>\n<input type=hidden name='b' id='b' "
              "value=\"", esc(r, b->s->name + sizeof(BALANCER_PREFIX) - 1),
              "\">\n<input type=hidden name='nonce' id='nonce' value=\"",
              esc(r, b->s->nonce), "\">\n</form>\n<hr />\n", NULL);
}

static void render_html(struct mgr_req *m)
{
    request_rec *r = m->r;
    proxy_balancer *b = (proxy_balancer *)m->conf->balancers->elts;
    int i;

    html_head(r);
    ap_rvputs(r, "<body><h1>Load Balancer Manager for ",
              esc(r, ap_get_server_name(r)), "</h1>\n\n", NULL);
    ap_rvputs(r, "<dl><dt>Server Version: ",
              esc(r, ap_get_server_description()), "</dt>\n", NULL);
    ap_rvputs(r, "<dt>Server Built: ", esc(r, ap_get_server_built()),
              "</dt>\n", NULL);
    ap_rvputs(r, "<dt>Balancer changes will ",
              m->conf->bal_persist ? "" : "NOT ",
              "be persisted on restart.</dt>", NULL);
    ap_rvputs(r, "<dt>Balancers are ", m->conf->inherit ? "" : "NOT ",
              "inherited from main server.</dt>", NULL);
    ap_rvputs(r, "<dt>ProxyPass settings are ",
              m->conf->ppinherit ? "" : "NOT ",
              "inherited from main server.</dt>\n</dl>\n", NULL);
    if (m->error) {
        ap_rvputs(r, "<p class='error'><strong>Nothing was changed:</strong> ",
                  esc(r, m->error), "</p>\n", NULL);
    }
    for (i = 0; i < m->conf->balancers->nelts; i++) {
        html_balancer(m, &b[i]);
    }
    lbx_hc_show_exprs(r);
    ap_rputs("<hr />\n", r);
    if (m->gate_passed && m->wsel && m->bsel && !MEMBER_REMOVED(m->wsel)) {
        html_worker_form(m);
    }
    else if (m->gate_passed && m->bsel) {
        html_balancer_form(m);
    }
    ap_rputs(ap_psignature("", r), r);
    ap_rputs("</body></html>\n", r);
}

/* ---- XML ---------------------------------------------------------------- */

static void xml_worker(request_rec *r, proxy_worker *w)
{
    proxy_worker_shared *s = w->s;

    ap_rvputs(r, "          <httpd:worker>\n            <httpd:name>",
              esc(r, member_name(r, w)), "</httpd:name>\n", NULL);
    ap_rvputs(r, "            <httpd:scheme>", esc(r, s->scheme),
              "</httpd:scheme>\n            <httpd:hostname>",
              esc(r, s->hostname_ex), "</httpd:hostname>\n", NULL);
    ap_rprintf(r, "            <httpd:loadfactor>%.2f</httpd:loadfactor>\n",
               (float)s->lbfactor / 100.0);
    ap_rprintf(r, "            <httpd:port>%d</httpd:port>\n", s->port);
    ap_rprintf(r, "            <httpd:min>%d</httpd:min>\n", s->min);
    ap_rprintf(r, "            <httpd:smax>%d</httpd:smax>\n", s->smax);
    ap_rprintf(r, "            <httpd:max>%d</httpd:max>\n", s->hmax);
    ap_rprintf(r, "            <httpd:ttl>%" APR_TIME_T_FMT "</httpd:ttl>\n",
               apr_time_sec(s->ttl));
    if (s->timeout_set) {
        ap_rprintf(r, "            <httpd:timeout>%" APR_TIME_T_FMT
                   "</httpd:timeout>\n", apr_time_sec(s->timeout));
    }
    if (s->acquire_set) {
        ap_rprintf(r, "            <httpd:acquire>%" APR_TIME_T_FMT
                   "</httpd:acquire>\n", apr_time_as_msec(s->acquire));
    }
    if (s->recv_buffer_size_set) {
        ap_rprintf(r, "            <httpd:recv_buffer_size>%" APR_SIZE_T_FMT
                   "</httpd:recv_buffer_size>\n", s->recv_buffer_size);
    }
    if (s->io_buffer_size_set) {
        ap_rprintf(r, "            <httpd:io_buffer_size>%" APR_SIZE_T_FMT
                   "</httpd:io_buffer_size>\n", s->io_buffer_size);
    }
    if (s->keepalive_set) {
        ap_rprintf(r, "            <httpd:keepalive>%s</httpd:keepalive>\n",
                   s->keepalive ? "On" : "Off");
    }
    ap_rvputs(r, "            <httpd:status>",
              esc(r, ap_proxy_parse_wstatus(r->pool, w)),
              "</httpd:status>\n", NULL);
    if (s->error_time > 0) {
        char date[APR_RFC822_DATE_LEN];
        apr_rfc822_date(date, s->error_time);
        ap_rvputs(r, "            <httpd:error_time>", date,
                  "</httpd:error_time>\n", NULL);
    }
    ap_rprintf(r, "            <httpd:retries>%d</httpd:retries>\n",
               s->retries);
    ap_rprintf(r, "            <httpd:lbstatus>%d</httpd:lbstatus>\n",
               s->lbstatus);
    ap_rprintf(r, "            <httpd:loadfactor>%.2f</httpd:loadfactor>\n",
               (float)s->lbfactor / 100.0);
    ap_rprintf(r, "            <httpd:transferred>%" APR_OFF_T_FMT
               "</httpd:transferred>\n", s->transferred);
    ap_rprintf(r, "            <httpd:read>%" APR_OFF_T_FMT "</httpd:read>\n",
               s->read);
    ap_rprintf(r, "            <httpd:elected>%" APR_SIZE_T_FMT
               "</httpd:elected>\n", s->elected);
    ap_rvputs(r, "            <httpd:route>", esc(r, s->route),
              "</httpd:route>\n            <httpd:redirect>",
              esc(r, s->redirect), "</httpd:redirect>\n", NULL);
    ap_rprintf(r, "            <httpd:busy>%" APR_SIZE_T_FMT
               "</httpd:busy>\n", s->busy);
    ap_rprintf(r, "            <httpd:lbset>%d</httpd:lbset>\n", s->lbset);
    if (!ap_cstr_casecmp(s->scheme, "ajp")) {
        ap_rprintf(r, "            <httpd:flushpackets>%s</httpd:flushpackets>"
                   "\n", s->flush_packets == flush_off ? "Off"
                   : s->flush_packets == flush_on ? "On" : "Auto");
        if (s->flush_packets == flush_auto) {
            ap_rprintf(r, "            <httpd:flushwait>%d</httpd:flushwait>"
                       "\n", s->flush_wait);
        }
        if (s->ping_timeout_set) {
            ap_rprintf(r, "            <httpd:ping>%" APR_TIME_T_FMT
                       "</httpd:ping>\n", apr_time_as_msec(s->ping_timeout));
        }
    }
    if (s->disablereuse_set) {
        ap_rprintf(r, "            <httpd:disablereuse>%s</httpd:disablereuse>"
                   "\n", s->disablereuse ? "On" : "Off");
    }
    if (s->conn_timeout_set) {
        ap_rprintf(r, "            <httpd:connectiontimeout>%" APR_TIME_T_FMT
                   "</httpd:connectiontimeout>\n",
                   apr_time_as_msec(s->conn_timeout));
    }
    if (s->retry_set) {
        ap_rprintf(r, "            <httpd:retry>%" APR_TIME_T_FMT
                   "</httpd:retry>\n", apr_time_sec(s->retry));
    }
    ap_rputs("          </httpd:worker>\n", r);
}

static void render_xml(struct mgr_req *m)
{
    request_rec *r = m->r;
    proxy_balancer *b = (proxy_balancer *)m->conf->balancers->elts;
    int i, j;

    ap_set_content_type(r, "text/xml");
    ap_rputs("<?xml version='1.0' encoding='UTF-8' ?>\n"
             "<httpd:manager xmlns:httpd='http://httpd.apache.org'>\n"
             "  <httpd:balancers>\n", r);
    for (i = 0; i < m->conf->balancers->nelts; i++) {
        proxy_balancer *bp = &b[i];
        proxy_worker **w = (proxy_worker **)bp->workers->elts;

        ap_rvputs(r, "    <httpd:balancer>\n      <httpd:name>",
                  esc(r, bp->s->name), "</httpd:name>\n      <httpd:nonce>",
                  esc(r, bp->s->nonce), "</httpd:nonce>\n", NULL);
        if (*bp->s->sticky) {
            ap_rvputs(r, "      <httpd:stickysession>", esc(r, bp->s->sticky),
                      "</httpd:stickysession>\n      <httpd:nofailover>",
                      bp->s->sticky_force ? "On" : "Off",
                      "</httpd:nofailover>\n", NULL);
        }
        ap_rprintf(r, "      <httpd:timeout>%" APR_TIME_T_FMT
                   "</httpd:timeout>\n", apr_time_sec(bp->s->timeout));
        if (bp->s->max_attempts_set) {
            ap_rprintf(r, "      <httpd:maxattempts>%d</httpd:maxattempts>\n",
                       bp->s->max_attempts);
        }
        ap_rvputs(r, "      <httpd:lbmethod>", esc(r, bp->s->lbpname),
                  "</httpd:lbmethod>\n", NULL);
        if (*bp->s->sticky) {
            ap_rprintf(r, "      <httpd:scolonpathdelim>%s"
                       "</httpd:scolonpathdelim>\n",
                       bp->s->scolonsep ? "On" : "Off");
        }
        ap_rputs("      <httpd:workers>\n", r);
        for (j = 0; j < bp->workers->nelts; j++) {
            if (!MEMBER_REMOVED(w[j])) {
                xml_worker(r, w[j]);
            }
        }
        ap_rputs("      </httpd:workers>\n    </httpd:balancer>\n", r);
    }
    ap_rputs("  </httpd:balancers>\n</httpd:manager>", r);
}

/* ---- JSON and metrics --------------------------------------------------- */

static const char *json_str(request_rec *r, const char *s)
{
    /* JSON strings: escape quotes, backslashes and control characters; the
     * rest is passed through (names and routes are ASCII in practice). */
    apr_size_t len = 0;
    const char *p;
    char *out, *o;

    for (p = s; *p; p++) {
        len += ((unsigned char)*p < 0x20 || *p == '"' || *p == '\\'
                || *p == '<' || *p == '>' || *p == '&') ? 6 : 1;
    }
    o = out = apr_palloc(r->pool, len + 3);
    *o++ = '"';
    for (p = s; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c < 0x20 || c == '"' || c == '\\' || c == '<' || c == '>'
            || c == '&') {
            /* < > & too, so the JSON is safe to embed in a page. */
            apr_snprintf(o, 7, "\\u%04x", c);
            o += 6;
        }
        else {
            *o++ = (char)c;
        }
    }
    *o++ = '"';
    *o = '\0';
    return out;
}

static const char *json_bool(int v)
{
    return v ? "true" : "false";
}

static void json_member(request_rec *r, proxy_worker *w, int comma)
{
    proxy_worker_shared *s = w->s;

    ap_rprintf(r, "      {\"name\": %s, \"route\": %s, \"redirect\": %s, "
               "\"loadfactor\": %.2f, \"lbset\": %d, \"status\": %s,\n",
               json_str(r, member_name(r, w)), json_str(r, s->route),
               json_str(r, s->redirect), (float)s->lbfactor / 100.0,
               s->lbset, json_str(r, ap_proxy_parse_wstatus(r->pool, w)));
    ap_rprintf(r, "       \"flags\": {\"ignore_errors\": %s, \"draining\": %s, "
               "\"disabled\": %s, \"standby\": %s, \"spare\": %s, "
               "\"stopped\": %s, \"in_error\": %s, \"hc_failed\": %s},\n",
               json_bool(s->status & PROXY_WORKER_IGNORE_ERRORS),
               json_bool(s->status & PROXY_WORKER_DRAIN),
               json_bool(s->status & PROXY_WORKER_DISABLED),
               json_bool(s->status & PROXY_WORKER_HOT_STANDBY),
               json_bool(s->status & PROXY_WORKER_HOT_SPARE),
               json_bool(s->status & PROXY_WORKER_STOPPED),
               json_bool(s->status & PROXY_WORKER_IN_ERROR),
               json_bool(s->status & PROXY_WORKER_HC_FAIL));
    ap_rprintf(r, "       \"usable\": %s, \"elected\": %" APR_SIZE_T_FMT
               ", \"busy\": %" APR_SIZE_T_FMT ", \"lbstatus\": %d, "
               "\"transferred\": %" APR_OFF_T_FMT ", \"read\": %"
               APR_OFF_T_FMT ",\n", json_bool(PROXY_WORKER_IS_USABLE(w)),
               s->elected, s->busy, s->lbstatus, s->transferred, s->read);
    ap_rprintf(r, "       \"hc\": {\"method\": %s, \"interval_ms\": %"
               APR_TIME_T_FMT ", \"passes\": %d, \"fails\": %d, "
               "\"uri\": %s, \"expr\": %s}}%s\n",
               json_str(r, hc_method_name(w)), apr_time_as_msec(s->interval),
               s->passes, s->fails, json_str(r, s->hcuri),
               json_str(r, s->hcexpr), comma ? "," : "");
}

static void render_json(struct mgr_req *m)
{
    request_rec *r = m->r;
    proxy_balancer *b = (proxy_balancer *)m->conf->balancers->elts;
    int i, j;

    ap_set_content_type(r, "application/json");
    ap_rprintf(r, "{\"server\": %s,\n \"balancers\": [\n",
               json_str(r, ap_get_server_name(r)));
    for (i = 0; i < m->conf->balancers->nelts; i++) {
        proxy_balancer *bp = &b[i];
        proxy_worker **w = (proxy_worker **)bp->workers->elts;
        int last = -1;

        for (j = 0; j < bp->workers->nelts; j++) {
            if (!MEMBER_REMOVED(w[j])) {
                last = j;
            }
        }
        ap_rprintf(r, "  {\"name\": %s, \"sname\": %s, \"lbmethod\": %s, "
                   "\"nonce\": %s, \"sticky\": %s, \"sticky_param\": %s, "
                   "\"nofailover\": %s, \"timeout\": %" APR_TIME_T_FMT ", "
                   "\"max_attempts\": %d, \"max_members\": %d,\n"
                   "   \"members\": [\n",
                   json_str(r, bp->s->name), json_str(r, bp->s->sname),
                   json_str(r, bp->s->lbpname), json_str(r, bp->s->nonce),
                   json_str(r, bp->s->sticky),
                   json_str(r, bp->s->sticky_path),
                   json_bool(bp->s->sticky_force),
                   apr_time_sec(bp->s->timeout), bp->s->max_attempts,
                   bp->max_workers);
        for (j = 0; j < bp->workers->nelts; j++) {
            if (!MEMBER_REMOVED(w[j])) {
                json_member(r, w[j], j != last);
            }
        }
        ap_rprintf(r, "   ]}%s\n", i + 1 < m->conf->balancers->nelts
                   ? "," : "");
    }
    ap_rputs(" ]}\n", r);
}

/* Prometheus label values: backslash, quote and newline escaped. */
static const char *prom_label(request_rec *r, const char *s)
{
    const char *p;
    char *out = apr_palloc(r->pool, strlen(s) * 2 + 1), *o = out;

    for (p = s; *p; p++) {
        if (*p == '\\' || *p == '"') {
            *o++ = '\\';
            *o++ = *p;
        }
        else if (*p == '\n') {
            *o++ = '\\';
            *o++ = 'n';
        }
        else {
            *o++ = *p;
        }
    }
    *o = '\0';
    return out;
}

static void render_metrics(struct mgr_req *m)
{
    static const struct {
        const char *name;
        unsigned bit;
    } flags[] = {
        { "ignore_errors", PROXY_WORKER_IGNORE_ERRORS },
        { "draining", PROXY_WORKER_DRAIN },
        { "disabled", PROXY_WORKER_DISABLED },
        { "standby", PROXY_WORKER_HOT_STANDBY },
        { "spare", PROXY_WORKER_HOT_SPARE },
        { "stopped", PROXY_WORKER_STOPPED },
        { "in_error", PROXY_WORKER_IN_ERROR },
        { "hc_failed", PROXY_WORKER_HC_FAIL },
    };
    static const char *const metric_help[][3] = {
        { "lbx_member_usable", "gauge", "1 if the member can take requests" },
        { "lbx_member_elected_total", "counter", "times the member was "
          "chosen" },
        { "lbx_member_busy", "gauge", "requests in flight" },
        { "lbx_member_transferred_bytes_total", "counter", "bytes sent to "
          "the member" },
        { "lbx_member_read_bytes_total", "counter", "bytes read from the "
          "member" },
        { "lbx_member_lbfactor", "gauge", "load factor" },
        { "lbx_member_status", "gauge", "1 if the status flag is set" },
    };
    request_rec *r = m->r;
    proxy_balancer *b = (proxy_balancer *)m->conf->balancers->elts;
    size_t k, f;
    int i, j;

    ap_set_content_type(r, "text/plain; version=0.0.4");
    for (k = 0; k < sizeof(metric_help) / sizeof(metric_help[0]); k++) {
        ap_rvputs(r, "# HELP ", metric_help[k][0], " ", metric_help[k][2],
                  "\n# TYPE ", metric_help[k][0], " ", metric_help[k][1],
                  "\n", NULL);
        for (i = 0; i < m->conf->balancers->nelts; i++) {
            proxy_worker **w = (proxy_worker **)b[i].workers->elts;
            for (j = 0; j < b[i].workers->nelts; j++) {
                proxy_worker_shared *s = w[j]->s;
                const char *labels;

                if (MEMBER_REMOVED(w[j])) {
                    continue;
                }
                labels = apr_psprintf(r->pool, "balancer=\"%s\",member=\"%s\"",
                                      prom_label(r, b[i].s->name),
                                      prom_label(r, member_name(r, w[j])));
                switch (k) {
                case 0:
                    ap_rprintf(r, "%s{%s} %d\n", metric_help[k][0], labels,
                               PROXY_WORKER_IS_USABLE(w[j]) ? 1 : 0);
                    break;
                case 1:
                    ap_rprintf(r, "%s{%s} %" APR_SIZE_T_FMT "\n",
                               metric_help[k][0], labels, s->elected);
                    break;
                case 2:
                    ap_rprintf(r, "%s{%s} %" APR_SIZE_T_FMT "\n",
                               metric_help[k][0], labels, s->busy);
                    break;
                case 3:
                    ap_rprintf(r, "%s{%s} %" APR_OFF_T_FMT "\n",
                               metric_help[k][0], labels, s->transferred);
                    break;
                case 4:
                    ap_rprintf(r, "%s{%s} %" APR_OFF_T_FMT "\n",
                               metric_help[k][0], labels, s->read);
                    break;
                case 5:
                    ap_rprintf(r, "%s{%s} %.2f\n", metric_help[k][0], labels,
                               (float)s->lbfactor / 100.0);
                    break;
                default:
                    for (f = 0; f < sizeof(flags) / sizeof(flags[0]); f++) {
                        ap_rprintf(r, "%s{%s,flag=\"%s\"} %d\n",
                                   metric_help[k][0], labels, flags[f].name,
                                   (s->status & flags[f].bit) ? 1 : 0);
                    }
                }
            }
        }
    }
}

/* ---- the handler -------------------------------------------------------- */

static void sync_all(request_rec *r, proxy_server_conf *conf)
{
    proxy_balancer *b = (proxy_balancer *)conf->balancers->elts;
    int i;

    for (i = 0; i < conf->balancers->nelts; i++) {
        apr_status_t rv = PROXY_THREAD_LOCK(&b[i]);
        if (rv != APR_SUCCESS) {
            ap_log_rerror(APLOG_MARK, APLOG_ERR, rv, r, LBXLOGNO(01189)
                          "%s: Lock failed for balancer_handler",
                          b[i].s->name);
            continue;
        }
        ap_proxy_sync_balancer(&b[i], r->server, conf);
        PROXY_THREAD_UNLOCK(&b[i]);
    }
}

static void select_targets(struct mgr_req *m)
{
    const char *name;

    m->bsel = NULL;
    m->wsel = NULL;
    if ((name = lbx_mgr_get(m->params, m->n, "b"))) {
        m->bsel = ap_proxy_get_balancer(m->r->pool, m->conf,
                                        apr_pstrcat(m->r->pool,
                                                    BALANCER_PREFIX, name,
                                                    NULL), 0);
    }
    if (m->bsel && (name = lbx_mgr_get(m->params, m->n, "w"))) {
        m->wsel = ap_proxy_get_worker(m->r->pool, m->bsel, m->conf, name);
        /* A removed member is gone as far as edits are concerned. */
        if (m->wsel && MEMBER_REMOVED(m->wsel)) {
            m->wsel = NULL;
        }
    }
}

int lbx_manager_handler(request_rec *r)
{
    static const char *const get_keys[] = { "b", "w", "nonce", "xml", NULL };
    struct mgr_req *m;
    const char *format = NULL, *nonce;
    char *input = NULL;
    apr_status_t rv;

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
        m->n = lbx_mgr_parse_form(input, m->params, MGR_MAX_PARAMS);
        if (m->n < 0) {
            /* Said on the page only to a same-site caller, below. */
            m->n = 0;
            if (same_host_referer(r)) {
                m->error = "too many parameters";
            }
        }
    }
    if (r->method_number == M_GET) {
        /* The read-only views need no Referer: they change nothing, and a
         * cross-site page cannot read the answer anyway. */
        format = lbx_mgr_get(m->params, m->n, "format");
        m->n = lbx_mgr_filter(m->params, m->n, get_keys);
    }
    if (format && (!strcmp(format, "json") || !strcmp(format, "metrics"))) {
        if (!strcmp(format, "json")) {
            render_json(m);
        }
        else {
            render_metrics(m);
        }
        return OK;
    }

    if (m->n > 0 && !same_host_referer(r)) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, LBXLOGNO(10187)
                      "ignoring params in balancer-manager cross-site access "
                      "%s: %s", apr_table_get(r->headers_in, "Referer")
                      ? apr_table_get(r->headers_in, "Referer") : "(none)",
                      ap_get_server_name(r));
        m->n = 0;
    }
    else if (m->n > 0) {
        m->gate_passed = 1;
    }
    select_targets(m);

    nonce = lbx_mgr_get(m->params, m->n, "nonce");
    if (r->method_number == M_POST && !m->error && m->bsel
        && *m->bsel->s->nonce && nonce
        && lbx_mgr_secret_eq(m->bsel->s->nonce, nonce)) {
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
        render_xml(m);
    }
    else {
        render_html(m);
    }
    return OK;
}

/* balancer_manage: the same changes for callers holding a parameter table
 * (no Referer or nonce check, as stock). */
static apr_status_t lbx_balancer_manage(request_rec *r, apr_table_t *params)
{
    struct mgr_req *m = apr_pcalloc(r->pool, sizeof(*m));
    const apr_array_header_t *arr = apr_table_elts(params);
    const apr_table_entry_t *e = (const apr_table_entry_t *)arr->elts;
    int i;

    m->r = r;
    m->conf = ap_get_module_config(r->server->module_config, &proxy_module);
    for (i = 0; i < arr->nelts && m->n < MGR_MAX_PARAMS; i++) {
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

void lbx_manager_register(apr_pool_t *p)
{
    APR_OPTIONAL_FN_TYPE(balancer_manage) *manage = lbx_balancer_manage;

    (void)p;
    apr_dynamic_fn_register("balancer_manage", (apr_opt_fn_t *)manage);
    ap_hook_handler(lbx_manager_handler, NULL, NULL, APR_HOOK_FIRST);
}
