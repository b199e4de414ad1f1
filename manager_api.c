/* manager_api.c: the balancer-manager's JSON write endpoint, for scripts.
 *
 * A POST whose Content-Type is application/json carries one JSON object
 * with the form's keys (b, w, nonce, w_*, b_*).  It needs no Referer:
 * what keeps other sites out is that a browser sends application/json to
 * another origin only after a CORS preflight, which this server never
 * grants, and the nonce, which another site cannot read.  An Origin header
 * naming another host is refused outright.
 *
 * The answer is JSON: 200 with {"changed": …, "balancer": {…}} (the
 * balancer as ?format=json shows it, after the edit), or a 4xx with
 * {"error": …, "field": …} naming the key at fault; nothing is changed
 * unless everything is valid (the form's validator and applier do the
 * work). */
#include "apr_strings.h"
#include "http_core.h"
#include "http_protocol.h"

#include "manager_api.h"
#include "manager_apply.h"
#include "manager_json.h"
#include "fleet.h"

APLOG_USE_MODULE(lbx);

/* What an edit can change, to tell a script whether it changed anything
 * (Ansible and the like report "changed").  Counters are left out: they
 * move with traffic. */
#define LBX_MGR_EDITABLE_FLAGS \
    (PROXY_WORKER_IGNORE_ERRORS | PROXY_WORKER_DRAIN | PROXY_WORKER_DISABLED \
     | PROXY_WORKER_HOT_STANDBY | PROXY_WORKER_HOT_SPARE \
     | PROXY_WORKER_STOPPED)

struct settings {
    unsigned flags;
    int lbfactor, lbset, passes, fails, method, max_attempts, sticky_force;
    int members;
    apr_interval_time_t interval, timeout;
    char route[sizeof(((proxy_worker_shared *)0)->route)];
    char redirect[sizeof(((proxy_worker_shared *)0)->redirect)];
    char hcuri[sizeof(((proxy_worker_shared *)0)->hcuri)];
    char hcexpr[sizeof(((proxy_worker_shared *)0)->hcexpr)];
    char lbpname[sizeof(((proxy_balancer_shared *)0)->lbpname)];
    char sticky[sizeof(((proxy_balancer_shared *)0)->sticky)];
    char sticky_path[sizeof(((proxy_balancer_shared *)0)->sticky_path)];
};

/* Field by field: a struct's padding is not part of its value. */
static int same(const struct settings *a, const struct settings *b)
{
    return a->flags == b->flags && a->lbfactor == b->lbfactor
        && a->lbset == b->lbset && a->passes == b->passes
        && a->fails == b->fails && a->method == b->method
        && a->max_attempts == b->max_attempts
        && a->sticky_force == b->sticky_force && a->members == b->members
        && a->interval == b->interval && a->timeout == b->timeout
        && !strcmp(a->route, b->route) && !strcmp(a->redirect, b->redirect)
        && !strcmp(a->hcuri, b->hcuri) && !strcmp(a->hcexpr, b->hcexpr)
        && !strcmp(a->lbpname, b->lbpname) && !strcmp(a->sticky, b->sticky)
        && !strcmp(a->sticky_path, b->sticky_path);
}

/* The health checks set and clear HC_FAIL on their own: it counts only
 * when the edit names it (w_status_C). */
static void snapshot(const proxy_balancer *b, const proxy_worker *w,
                     unsigned flags, struct settings *s)
{
    proxy_worker **ws = (proxy_worker **)b->workers->elts;
    int i;

    memset(s, 0, sizeof(*s));
    for (i = 0; i < b->workers->nelts; i++) {
        s->members += !LBX_MEMBER_REMOVED(ws[i]);
    }
    s->timeout = b->s->timeout;
    s->max_attempts = b->s->max_attempts;
    s->sticky_force = b->s->sticky_force;
    apr_cpystrn(s->lbpname, b->s->lbpname, sizeof(s->lbpname));
    apr_cpystrn(s->sticky, b->s->sticky, sizeof(s->sticky));
    apr_cpystrn(s->sticky_path, b->s->sticky_path, sizeof(s->sticky_path));
    if (!w || LBX_MEMBER_REMOVED(w)) {
        return;
    }
    s->flags = (unsigned)w->s->status & flags;
    s->lbfactor = w->s->lbfactor;
    s->lbset = w->s->lbset;
    s->passes = w->s->passes;
    s->fails = w->s->fails;
    s->method = (int)w->s->method;
    s->interval = w->s->interval;
    apr_cpystrn(s->route, w->s->route, sizeof(s->route));
    apr_cpystrn(s->redirect, w->s->redirect, sizeof(s->redirect));
    apr_cpystrn(s->hcuri, w->s->hcuri, sizeof(s->hcuri));
    apr_cpystrn(s->hcexpr, w->s->hcexpr, sizeof(s->hcexpr));
}

/* Answer status with what was refused; returns 1 (answered). */
static int refuse(request_rec *r, int status, const char *field,
                  const char *msg)
{
    if (status == HTTP_FORBIDDEN) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                      LBXLOGNO(20078) "balancer-manager: JSON edit refused: %s",
                      msg);
    }
    r->status = status;
    ap_set_content_type(r, "application/json");
    apr_table_setn(r->headers_out, "Cache-Control", "no-store");
    ap_rprintf(r, "{\"error\": %s, \"field\": %s}\n", lbx_mgr_json_str(r, msg),
               field ? lbx_mgr_json_str(r, field) : "null");
    return 1;
}

/* The key an apply error names: its messages start with "key: ". */
static const char *error_field(apr_pool_t *p, const char *msg)
{
    const char *colon = strchr(msg, ':');

    if (colon && colon > msg && colon[1] == ' '
        && (msg[0] == 'w' || msg[0] == 'b') && msg[1] == '_') {
        return apr_pstrmemdup(p, msg, (apr_size_t)(colon - msg));
    }
    return NULL;
}

/* An Origin header (browsers send one with every cross-origin POST) must
 * name this server. */
static int foreign_origin(request_rec *r)
{
    const char *origin = apr_table_get(r->headers_in, "Origin");
    apr_uri_t uri;

    return origin
        && (apr_uri_parse(r->pool, origin, &uri) != APR_SUCCESS || !uri.hostname
            || ap_cstr_casecmp(uri.hostname, ap_get_server_name(r)) != 0);
}

/* Parse, check the keys and find the targets: 0, or 1 when refused. */
static int read_request(struct lbx_mgr_req *m, const char *body,
                        struct lbx_mgr_apply *a)
{
    request_rec *r = m->r;
    struct lbx_json_error err;
    size_t len = strlen(body);
    char *out = apr_palloc(r->pool, len + 1);
    int i;

    m->n =
        lbx_mgr_parse_json(body, len, out, m->params, LBX_MGR_MAX_PARAMS, &err);
    if (m->n < 0) {
        m->n = 0;
        return refuse(r, HTTP_BAD_REQUEST, err.key, err.msg);
    }
    for (i = 0; i < m->n; i++) {
        if (!lbx_mgr_known_key(m->params[i].key)) {
            return refuse(r, HTTP_BAD_REQUEST, m->params[i].key,
                          "not a balancer-manager key");
        }
    }
    if (!lbx_mgr_get(m->params, m->n, "b")) {
        return refuse(r, HTTP_BAD_REQUEST, "b",
                      "b (the balancer) is "
                      "required");
    }
    for (i = 0; i < m->n; i++) {
        /* The form sends these too, and then they change nothing: a
         * script deserves to hear it. */
        if (!strncmp(m->params[i].key, "w_", 2)
            && !lbx_mgr_get(m->params, m->n, "w")) {
            return refuse(r, HTTP_BAD_REQUEST, "w",
                          apr_pstrcat(r->pool, m->params[i].key,
                                      " needs w (the member)", NULL));
        }
    }
    if (lbx_mgr_get(m->params, m->n, "b_nwrkr")
        && !lbx_mgr_get(m->params, m->n, "b_wyes")) {
        return refuse(r, HTTP_BAD_REQUEST, "b_wyes",
                      "b_nwrkr adds a member only with b_wyes: 1");
    }
    lbx_mgr_select(a, m->params, m->n);
    if (!a->bsel) {
        return refuse(r, HTTP_NOT_FOUND, "b", "no such balancer");
    }
    if (lbx_mgr_get(m->params, m->n, "w") && !a->wsel) {
        return refuse(r, HTTP_NOT_FOUND, "w",
                      "no such member in this balancer");
    }
    return 0;
}

/* 0, or 1 when refused. */
static int check_nonce(struct lbx_mgr_req *m, proxy_balancer *b)
{
    const char *nonce = lbx_mgr_get(m->params, m->n, "nonce");

    if (!*b->s->nonce) {
        return refuse(m->r, HTTP_FORBIDDEN, "nonce",
                      "the balancer is set nonce=None: the manager "
                      "cannot change it");
    }
    if (!nonce || !lbx_mgr_secret_eq(b->s->nonce, nonce)) {
        return refuse(m->r, HTTP_FORBIDDEN, "nonce",
                      nonce ? "not the balancer's nonce"
                            : "the balancer's nonce is required");
    }
    return 0;
}

int lbx_mgr_api(struct lbx_mgr_req *m, apr_status_t read_status,
                const char *body)
{
    request_rec *r = m->r;
    struct lbx_mgr_apply a = {
        .pool = r->pool, .s = r->server, .r = r, .conf = m->conf
    };
    struct settings before, after;
    unsigned flags = LBX_MGR_EDITABLE_FLAGS;
    const char *error;

    if (read_status == APR_ENOSPC) {
        refuse(r, HTTP_REQUEST_ENTITY_TOO_LARGE, NULL, "the body is too large");
        return OK;
    }
    if (read_status != APR_SUCCESS) {
        int status = ap_map_http_request_error(read_status, HTTP_BAD_REQUEST);

        if (status == AP_FILTER_ERROR) {
            return status; /* answered by the filter already */
        }
        refuse(r, status, NULL,
               "the body could not be read, or holds a NUL byte");
        return OK;
    }
    if (foreign_origin(r)) {
        refuse(r, HTTP_FORBIDDEN, NULL, "the Origin header names another host");
        return OK;
    }
    if (read_request(m, body, &a) || check_nonce(m, a.bsel)) {
        return OK;
    }
    if (lbx_mgr_get(m->params, m->n, "w_status_C")) {
        flags |= PROXY_WORKER_HC_FAIL;
    }
    snapshot(a.bsel, a.wsel, flags, &before);
    if ((error = lbx_mgr_apply(&a, m->params, m->n))) {
        const char *field = error_field(r->pool, error);

        refuse(r, field ? HTTP_BAD_REQUEST : HTTP_SERVICE_UNAVAILABLE, field,
               error);
        return OK;
    }
    lbx_fleet_edit_made(r, m->params, m->n);
    snapshot(a.bsel, a.wsel, flags, &after);
    ap_set_content_type(r, "application/json");
    apr_table_setn(r->headers_out, "Cache-Control", "no-store");
    ap_rprintf(r, "{\"changed\": %s,\n \"balancer\":\n",
               same(&before, &after) ? "false" : "true");
    lbx_mgr_json_balancer(r, a.bsel);
    ap_rputs("}\n", r);
    return OK;
}
