/* cookie.c: the route cookie (see cookie.h).
 *
 * The choice is made in pre_request, before the member answers; the
 * cookie is added by an output filter when the answer's headers are on
 * their way, so it can see whether the member set a cookie of the same
 * name (then it is left alone) and whether the answer is the proxy's own
 * error (then no cookie: it would name a member that did not answer).
 * A failover only updates the value the filter will use. */
#include "apr_hash.h"
#include "apr_strings.h"
#include "http_ssl.h"
#include "util_filter.h"

#include "cookie.h"
#include "cookie_core.h"
#include "lbx_conf.h"

APLOG_USE_MODULE(lbx);

#define COOKIE_FILTER "LBX_ROUTE_COOKIE"
#define COOKIE_NOTE "lbx-route-cookie"

static ap_filter_rec_t *cookie_filter_handle;
/* b->s -> its struct lbx_cookie_conf, built before the fork. */
static apr_hash_t *cookies;

/* ---- configuration ------------------------------------------------------ */

/* A member without route= gets one from its name.  Every process writes
 * the same bytes, so a race between them is harmless. */
static void give_route(proxy_worker_shared *ws)
{
    char route[LBX_ROUTE_GEN_LEN + 1];

    if (!*ws->route) {
        lbx_route_from_name(ws->name_ex, strlen(ws->name_ex), route);
        ap_proxy_strncpy(ws->route, route, sizeof(ws->route));
    }
}

static int cookie_balancer(server_rec *s, proxy_server_conf *conf,
                           proxy_balancer *b, void *data)
{
    struct lbx_cookie_conf *cc = lbx_conf_cookie(s, b->s->name);
    proxy_worker **workers = (proxy_worker **)b->workers->elts;
    apr_pool_t *p = data;
    int i;

    (void)conf;
    if (!cc || apr_hash_get(cookies, &b->s, sizeof(b->s))) {
        return 0;
    }
    if (!cc->name) {
        /* A copy: the manager may edit the balancer's record later. */
        cc->name = apr_pstrdup(p, *b->s->sticky ? b->s->sticky : "ROUTEID");
        if (!lbx_cookie_name_ok(cc->name)) {
            ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s,
                         LBXLOGNO(20062) "%s: LBXRouteCookie on: the "
                                         "stickysession name %s is not a "
                                         "cookie name",
                         b->s->name, cc->name);
            return 1;
        }
    }
    if (!*b->s->sticky) {
        /* The cookie is what the balancer reads back. */
        ap_proxy_strncpy(b->s->sticky, cc->name, sizeof(b->s->sticky));
        if (!*b->s->sticky_path) {
            ap_proxy_strncpy(b->s->sticky_path, cc->name,
                             sizeof(b->s->sticky_path));
        }
    }
    else if (strcmp(b->s->sticky, cc->name) != 0) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s,
                     LBXLOGNO(20060) "%s: LBXRouteCookie %s is not the "
                                     "balancer's stickysession cookie %s",
                     b->s->name, cc->name, b->s->sticky);
        return 1;
    }
    for (i = 0; i < b->workers->nelts; i++) {
        give_route(workers[i]->s);
    }
    apr_hash_set(cookies, apr_pmemdup(p, &b->s, sizeof(b->s)), sizeof(b->s),
                 cc);
    return 0;
}

int lbx_cookie_post_config(apr_pool_t *pconf, server_rec *main_s)
{
    cookies = apr_hash_make(pconf);
    return lbx_each_balancer(main_s, cookie_balancer, pconf) ? !OK : OK;
}

/* ---- the request path --------------------------------------------------- */

static const char *cookie_value(request_rec *r,
                                const struct lbx_cookie_conf *cc,
                                proxy_balancer *b, const char *route)
{
    char sep[2] = { b->s->sticky_separator, '\0' };
    int secure = cc->secure == LBX_SECURE_ON
        || (cc->secure == LBX_SECURE_AUTO && ap_ssl_conn_is_ssl(r->connection));

    /* ".route": stock's parser takes what follows the separator. */
    return apr_pstrcat(
        r->pool, cc->name, "=", sep, route, "; Path=", cc->path,
        cc->domain ? "; Domain=" : "", cc->domain ? cc->domain : "",
        cc->max_age >= 0 ? apr_psprintf(r->pool, "; Max-Age=%ld", cc->max_age)
                         : "",
        cc->samesite ? "; SameSite=" : "", cc->samesite ? cc->samesite : "",
        secure ? "; Secure" : "", cc->httponly ? "; HttpOnly" : "", NULL);
}

void lbx_cookie_chosen(proxy_balancer *b, proxy_worker *w, request_rec *r,
                       const char *session_route)
{
    const struct lbx_cookie_conf *cc =
        cookies ? apr_hash_get(cookies, &b->s, sizeof(b->s)) : NULL;
    int first;

    if (!cc || strcmp(b->s->sticky, cc->name) != 0) {
        return; /* (the manager changed the stickysession name since) */
    }
    give_route(w->s); /* a member added through the manager since */
    first = apr_table_get(r->notes, COOKIE_NOTE) == NULL;
    if ((session_route && strcmp(session_route, w->s->route) == 0)
        || !lbx_cookie_value_ok(w->s->route)) {
        /* Its cookie is right (or its route= cannot be one). */
        if (!first) {
            apr_table_unset(r->notes, COOKIE_NOTE);
        }
        return;
    }
    apr_table_setn(r->notes, COOKIE_NOTE, cookie_value(r, cc, b, w->s->route));
    if (first) {
        ap_add_output_filter_handle(cookie_filter_handle, (void *)cc, r,
                                    r->connection);
    }
}

void lbx_cookie_answer(request_rec *r)
{
    /* No member answered (the proxy's own error, whatever ErrorDocument
     * makes of it later): no cookie naming it. */
    if (r->status >= 500) {
        apr_table_unset(r->notes, COOKIE_NOTE);
    }
}

struct sets_ctx {
    const char *name;
    int found;
};

static int sets_name(void *data, const char *key, const char *value)
{
    struct sets_ctx *ctx = data;

    (void)key;
    if (lbx_set_cookie_sets(value, strlen(value), ctx->name,
                            strlen(ctx->name))) {
        ctx->found = 1;
        return 0;
    }
    return 1;
}

static apr_status_t cookie_filter(ap_filter_t *f, apr_bucket_brigade *bb)
{
    request_rec *r = f->r;
    const struct lbx_cookie_conf *cc = f->ctx;
    const char *value = apr_table_get(r->notes, COOKIE_NOTE);
    struct sets_ctx ctx = { cc->name, 0 };

    if (value && r->status < 500) {
        apr_table_do(sets_name, &ctx, r->headers_out, "Set-Cookie", NULL);
        if (!ctx.found) {
            apr_table_do(sets_name, &ctx, r->err_headers_out, "Set-Cookie",
                         NULL);
        }
        if (!ctx.found) {
            apr_table_addn(r->headers_out, "Set-Cookie", value);
        }
    }
    ap_remove_output_filter(f);
    return ap_pass_brigade(f->next, bb);
}

void lbx_cookie_register(void)
{
    cookie_filter_handle = ap_register_output_filter(
        COOKIE_FILTER, cookie_filter, NULL, AP_FTYPE_CONTENT_SET);
}
