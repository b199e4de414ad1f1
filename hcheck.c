/* hcheck.c: health checks, in place of stock mod_proxy_hcheck.
 *
 * Configuration: mod_proxy hands every BalancerMember/ProxySet key it does
 * not know to the optional function set_worker_hc_param (here), which
 * accepts the hc* keys; ProxyHCExpr and ProxyHCTemplate name expressions
 * and parameter sets per server, ProxyHCTPsize sizes the thread pool.
 *
 * Execution: one watchdog callback, in a single child (mod_watchdog's
 * singleton), every 100 ms looks at every member of every balancer once
 * (a member inherited by several vhosts is one member) and starts a check
 * for each one whose interval is over.  `updated == 0` marks a check in
 * flight, so checks of one member never pile up.  Checks run in a thread
 * pool, or inline with ProxyHCTPsize 0.
 *
 * Unlike stock, a check talks to the backend over its own socket instead
 * of building a shadow proxy worker: a check is one connection, one
 * request, one answer.  That keeps a check independent of the member's
 * connection pool and makes every step fail on its own: a name that does
 * not resolve fails that check (logged) and the next interval tries again,
 * where stock stopped all checks of the server (contract §7.3 #9).  The
 * pass/fail counting and the parsing are pure (hcheck_core.c).
 */
#include "apr_strings.h"
#include "apr_uri.h"
#include "apr_thread_pool.h"
#include "ap_expr.h"
#include "ap_mpm.h"
#include "http_protocol.h"
#include "http_request.h"
#include "mod_watchdog.h"
#include "util_script.h"

#include "mod_lbx.h"
#include "hcheck_core.h"

APLOG_USE_MODULE(lbx);

#define HC_WATCHDOG_NAME "_proxy_hcheck_"
#define HC_THREADS_DEFAULT 16
#define HC_HEAD_MAX (16 * 1024)
/* hc('body') sees at most this much of a GET answer; stock read it all. */
#define HC_BODY_MAX (64 * 1024)

struct lbx_hc_expr {
    const char *name;
    const char *text;
    ap_expr_info_t *expr;
};

struct lbx_hc_tpl {
    const char *name;
    hcmethod_t method;
    int passes;
    int fails;
    apr_interval_time_t interval;
    const char *uri;
    const char *expr;
};

struct lbx_hc_ctx {
    server_rec *s;                  /* the server this context belongs to */
    apr_array_header_t *exprs;      /* struct lbx_hc_expr */
    apr_array_header_t *templates;  /* struct lbx_hc_tpl */
};

static int hc_threads = HC_THREADS_DEFAULT;
/* Made in child_init: the thread pool and the address table must outlive
 * the temporary pool mod_watchdog passes to each callback. */
static apr_pool_t *hc_child_pool;
static apr_thread_pool_t *hc_pool;
static ap_watchdog_t *hc_watchdog;

/* ---- configuration ------------------------------------------------------ */

/* The hc context of server s.  As in stock, a vhost that configures
 * anything health-check related gets a context of its own, which does not
 * see the main server's expressions and templates (contract §7.3 #13). */
static struct lbx_hc_ctx *hc_ctx(server_rec *s, apr_pool_t *p)
{
    struct lbx_hc_ctx **slot = lbx_hc_ctx_slot(s, p);

    if (!*slot || (*slot)->s != s) {
        struct lbx_hc_ctx *ctx = apr_pcalloc(p, sizeof(*ctx));
        ctx->s = s;
        ctx->exprs = apr_array_make(p, 4, sizeof(struct lbx_hc_expr));
        ctx->templates = apr_array_make(p, 4, sizeof(struct lbx_hc_tpl));
        *slot = ctx;
    }
    return *slot;
}

static const struct lbx_hc_expr *find_expr(const struct lbx_hc_ctx *ctx,
                                           const char *name)
{
    const struct lbx_hc_expr *e;
    int i;

    if (!ctx) {
        return NULL;
    }
    e = (const struct lbx_hc_expr *)ctx->exprs->elts;
    for (i = 0; i < ctx->exprs->nelts; i++) {
        if (ap_cstr_casecmp(e[i].name, name) == 0) {
            return &e[i];
        }
    }
    return NULL;
}

/* Where a parameter goes: a member's shared record or a template. */
struct hc_target {
    proxy_worker *w;
    struct lbx_hc_tpl *tpl;
};

static const char *parse_count(apr_pool_t *p, const char *key,
                               const char *val, int *out)
{
    char *end;
    long v = strtol(val, &end, 10);

    if (!*val || *end || v < 0 || v > 1000000) {
        return apr_psprintf(p, "%s must be a whole number >= 0, not '%s'",
                            key, val);
    }
    *out = (int)v;
    return NULL;
}

static const char *set_hc_param(apr_pool_t *p, struct lbx_hc_ctx *ctx,
                                struct hc_target *t, const char *key,
                                const char *val)
{
    if (!ap_cstr_casecmp(key, "hctemplate")) {
        const struct lbx_hc_tpl *tpl =
            (const struct lbx_hc_tpl *)ctx->templates->elts;
        int i;

        for (i = 0; i < ctx->templates->nelts; i++) {
            if (ap_cstr_casecmp(tpl[i].name, val) == 0) {
                break;
            }
        }
        if (i == ctx->templates->nelts) {
            return apr_psprintf(p, "Unknown ProxyHCTemplate name: %s", val);
        }
        if (t->w) {
            t->w->s->method = tpl[i].method;
            t->w->s->interval = tpl[i].interval;
            t->w->s->passes = tpl[i].passes;
            t->w->s->fails = tpl[i].fails;
            ap_proxy_strncpy(t->w->s->hcuri, tpl[i].uri ? tpl[i].uri : "",
                             sizeof(t->w->s->hcuri));
            ap_proxy_strncpy(t->w->s->hcexpr, tpl[i].expr ? tpl[i].expr : "",
                             sizeof(t->w->s->hcexpr));
        }
        else {
            const char *name = t->tpl->name;
            *t->tpl = tpl[i];
            t->tpl->name = name;
        }
        return NULL;
    }
    if (!ap_cstr_casecmp(key, "hcmethod")) {
        proxy_hcmethods_t *m;

        for (m = proxy_hcmethods; m->name; m++) {
            if (ap_cstr_casecmp(val, m->name) == 0) {
                if (!m->implemented) {
                    return apr_psprintf(p, "Health check method %s not (yet) "
                                        "implemented", val);
                }
                if (t->w) {
                    t->w->s->method = m->method;
                }
                else {
                    t->tpl->method = m->method;
                }
                return NULL;
            }
        }
        return "Unknown method";
    }
    if (!ap_cstr_casecmp(key, "hcinterval")) {
        apr_interval_time_t interval;

        if (ap_timeout_parameter_parse(val, &interval, "s") != APR_SUCCESS) {
            return "Unparse-able hcinterval setting";
        }
        if (interval < AP_WD_TM_SLICE) {
            return apr_psprintf(p, "Interval must be a positive value "
                                "greater than %" APR_TIME_T_FMT "ms",
                                apr_time_as_msec(AP_WD_TM_SLICE));
        }
        if (t->w) {
            t->w->s->interval = interval;
        }
        else {
            t->tpl->interval = interval;
        }
        return NULL;
    }
    if (!ap_cstr_casecmp(key, "hcpasses") || !ap_cstr_casecmp(key, "hcfails")) {
        int n = 0;
        const char *err = parse_count(p, key, val, &n);
        int passes = !ap_cstr_casecmp(key, "hcpasses");

        if (err) {
            return err;
        }
        if (t->w) {
            *(passes ? &t->w->s->passes : &t->w->s->fails) = n;
        }
        else {
            *(passes ? &t->tpl->passes : &t->tpl->fails) = n;
        }
        return NULL;
    }
    if (!ap_cstr_casecmp(key, "hcuri")) {
        if (strlen(val) >= PROXY_WORKER_MAX_ROUTE_SIZE) {
            return apr_psprintf(p, "Health check uri length must be < %d "
                                "characters", PROXY_WORKER_MAX_ROUTE_SIZE);
        }
        if (t->w) {
            ap_proxy_strncpy(t->w->s->hcuri, val, sizeof(t->w->s->hcuri));
        }
        else {
            t->tpl->uri = apr_pstrdup(p, val);
        }
        return NULL;
    }
    if (!ap_cstr_casecmp(key, "hcexpr")) {
        if (!find_expr(ctx, val)) {
            return apr_psprintf(p, "Unknown health check condition expr: %s",
                                val);
        }
        if (t->w) {
            ap_proxy_strncpy(t->w->s->hcexpr, val, sizeof(t->w->s->hcexpr));
        }
        else {
            t->tpl->expr = apr_pstrdup(p, val);
        }
        return NULL;
    }
    return "unknown Worker hcheck parameter";
}

/* The optional function mod_proxy calls for keys it does not know. */
static const char *lbx_set_worker_hc_param(apr_pool_t *p, server_rec *s,
                                           proxy_worker *w, const char *key,
                                           const char *val, void *tmpl)
{
    struct hc_target t = { w, tmpl };

    if (!w && !tmpl) {
        return "Bad call to set_worker_hc_param()";
    }
    return set_hc_param(p, hc_ctx(s, p), &t, key, val);
}

const char *lbx_hc_set_expr(cmd_parms *cmd, void *dconf, const char *arg)
{
    const char *err = ap_check_cmd_context(cmd, NOT_IN_HTACCESS);
    struct lbx_hc_ctx *ctx;
    struct lbx_hc_expr *e;
    ap_expr_info_t *expr;
    const char *name, *text;

    (void)dconf;
    if (err) {
        return err;
    }
    ctx = hc_ctx(cmd->server, cmd->pool);
    name = ap_getword_conf(cmd->pool, &arg);
    if (!*name) {
        return apr_pstrcat(cmd->pool, "Missing expression name for ",
                           cmd->cmd->name, NULL);
    }
    if (!lbx_hc_name_ok(name)) {
        return apr_psprintf(cmd->pool, "Expression name limited to %d "
                            "characters", LBX_HC_NAME_MAX);
    }
    /* {...} quoting is allowed for the expression. */
    text = ap_getword_conf2(cmd->pool, &arg);
    if (!*text) {
        return apr_pstrcat(cmd->pool, "Missing expression for ",
                           cmd->cmd->name, NULL);
    }
    if (*ap_getword_conf(cmd->temp_pool, &arg)) {
        return "error: extra parameter(s)";
    }
    expr = ap_expr_parse_cmd(cmd, text, 0, &err, NULL);
    if (err) {
        return apr_psprintf(cmd->pool, "Could not parse expression \"%s\": %s",
                            text, err);
    }
    /* Only a parsed expression is stored (a redefinition replaces it). */
    e = (struct lbx_hc_expr *)find_expr(ctx, name);
    if (!e) {
        e = apr_array_push(ctx->exprs);
        e->name = name;
    }
    e->text = text;
    e->expr = expr;
    return NULL;
}

const char *lbx_hc_set_template(cmd_parms *cmd, void *dconf,
                                const char *arg)
{
    const char *err = ap_check_cmd_context(cmd, NOT_IN_HTACCESS);
    struct lbx_hc_ctx *ctx;
    struct lbx_hc_tpl tpl;
    struct hc_target t = { NULL, &tpl };
    const char *name;

    (void)dconf;
    if (err) {
        return err;
    }
    ctx = hc_ctx(cmd->server, cmd->pool);
    name = ap_getword_conf(cmd->pool, &arg);
    if (!*name) {
        return apr_pstrcat(cmd->pool, "Missing template name for ",
                           cmd->cmd->name, NULL);
    }
    /* Stock's template defaults: note that TCP checks are on unless the
     * template names another method. */
    memset(&tpl, 0, sizeof(tpl));
    tpl.name = name;
    tpl.method = TCP;
    tpl.passes = tpl.fails = 1;
    tpl.interval = apr_time_from_sec(HCHECK_WATHCHDOG_DEFAULT_INTERVAL);
    while (*arg) {
        char *word = ap_getword_conf(cmd->pool, &arg);
        char *val = strchr(word, '=');

        if (!val) {
            return "Invalid ProxyHCTemplate parameter. Parameter must be "
                   "in the form 'key=value'";
        }
        *val++ = '\0';
        if (!ap_cstr_casecmp(word, "hctemplate")) {
            err = "a template cannot name another template";
        }
        else {
            err = set_hc_param(cmd->pool, ctx, &t, word, val);
        }
        if (err) {
            return apr_pstrcat(cmd->pool, "ProxyHCTemplate: ", err, " ", word,
                               "=", val, "; ", name, NULL);
        }
    }
    *(struct lbx_hc_tpl *)apr_array_push(ctx->templates) = tpl;
    return NULL;
}

const char *lbx_hc_set_threads(cmd_parms *cmd, void *dconf,
                               const char *arg)
{
    const char *err = ap_check_cmd_context(cmd, GLOBAL_ONLY);
    char *end;
    long n;

    (void)dconf;
    if (err) {
        return err;
    }
    n = strtol(arg, &end, 10);
    if (!*arg || *end || n < 0 || n > 1024) {
        return "Invalid ProxyHCTPsize parameter. Parameter must be >= 0";
    }
    hc_threads = (int)n;
    return NULL;
}

/* ---- hc() and HC_* in expressions --------------------------------------- */

/* The body of the answer being evaluated, kept in the fake request. */
static const char *hc_body(ap_expr_eval_ctx_t *ctx)
{
    const char *body = ctx->r
        ? ap_get_module_config(ctx->r->request_config, &lbx_module) : NULL;
    return body ? body : "";
}

static const char *hc_var(ap_expr_eval_ctx_t *ctx, const void *data)
{
    return ap_cstr_casecmp(data, "BODY") == 0 ? hc_body(ctx) : "";
}

static const char *hc_func(ap_expr_eval_ctx_t *ctx, const void *data,
                           const char *arg)
{
    (void)data;
    return arg && ap_cstr_casecmp(arg, "body") == 0 ? hc_body(ctx) : "";
}

static int hc_expr_lookup(ap_expr_lookup_parms *parms)
{
    if (parms->type == AP_EXPR_FUNC_VAR
        && ap_cstr_casecmpn(parms->name, "HC_", 3) == 0) {
        *parms->func = (const void *)hc_var;
        *parms->data = parms->name + 3;
        return OK;
    }
    if (parms->type == AP_EXPR_FUNC_STRING
        && ap_cstr_casecmp(parms->name, "hc") == 0) {
        *parms->func = (const void *)hc_func;
        *parms->data = parms->arg;
        return OK;
    }
    return DECLINED;
}

/* ---- optional functions for the balancer manager ------------------------ */

static struct lbx_hc_ctx *request_ctx(request_rec *r)
{
    return *lbx_hc_ctx_slot(r->server, NULL);
}

/* Exact case here, as stock's manager checks it. */
int lbx_hc_valid_expr(request_rec *r, const char *name)
{
    const struct lbx_hc_expr *e = name ? find_expr(request_ctx(r), name)
                                       : NULL;
    return e && strcmp(e->name, name) == 0;
}

void lbx_hc_show_exprs(request_rec *r)
{
    struct lbx_hc_ctx *ctx = request_ctx(r);
    const struct lbx_hc_expr *e;
    int i;

    if (!ctx || !ctx->exprs->nelts) {
        return;
    }
    e = (const struct lbx_hc_expr *)ctx->exprs->elts;
    ap_rputs("\n\n<table><tr><th colspan='2'>Health check cond. "
             "expressions:</th></tr>\n<tr><th>Expr name</th>"
             "<th>Expression</th></tr>\n", r);
    for (i = 0; i < ctx->exprs->nelts; i++) {
        ap_rvputs(r, "<tr><td>", ap_escape_html(r->pool, e[i].name),
                  "</td><td>", ap_escape_html(r->pool, e[i].text),
                  "</td></tr>\n", NULL);
    }
    ap_rputs("</table><hr/>\n", r);
}

void lbx_hc_select_exprs(request_rec *r, const char *selected)
{
    struct lbx_hc_ctx *ctx = request_ctx(r);
    const struct lbx_hc_expr *e;
    int i;

    if (!ctx) {
        return;
    }
    e = (const struct lbx_hc_expr *)ctx->exprs->elts;
    for (i = 0; i < ctx->exprs->nelts; i++) {
        const char *name = ap_escape_html(r->pool, e[i].name);
        ap_rvputs(r, "<option value='", name, "'",
                  selected && !strcmp(e[i].name, selected)
                  ? " selected" : "", ">", name, "</option>\n", NULL);
    }
}

/* ---- one check ---------------------------------------------------------- */

struct hc_task {
    apr_pool_t *pool;           /* unmanaged: made by the watchdog thread,
                                 * destroyed by the check's thread */
    proxy_worker *w;
    server_rec *s;
    struct lbx_hc_ctx *ctx;
    int threaded;
};

static apr_interval_time_t io_timeout(const struct hc_task *t)
{
    return t->w->s->timeout_set ? t->w->s->timeout : t->s->timeout;
}

static apr_interval_time_t connect_timeout(const struct hc_task *t)
{
    return t->w->s->conn_timeout_set ? t->w->s->conn_timeout : io_timeout(t);
}

static int is_tls_scheme(const char *scheme)
{
    return !ap_cstr_casecmp(scheme, "https") || !ap_cstr_casecmp(scheme, "wss")
           || !ap_cstr_casecmp(scheme, "h2");
}

/* Resolved check addresses, one per member in this (watchdog) child, so a
 * check does not ask the resolver every interval.  An entry is refreshed
 * after HC_ADDR_TTL, when the member's host or port changed, or after a
 * failed connect.  Only one check of a member runs at a time, so an entry
 * is never refreshed while another thread uses it; the lock guards the
 * table itself. */
#define HC_ADDR_TTL apr_time_from_sec(60)

struct hc_addr {
    apr_pool_t *pool;           /* holds sa; recreated on refresh */
    apr_sockaddr_t *sa;
    char host[PROXY_RFC1035_HOSTNAME_SIZE];
    char uds[PROXY_WORKER_MAX_NAME_SIZE];
    apr_port_t port;
    apr_time_t resolved;
};

static apr_hash_t *hc_addrs;
static apr_thread_mutex_t *hc_addr_lock;
static apr_allocator_t *hc_allocator;   /* shared by the per-check pools */

static struct hc_addr *addr_entry(proxy_worker_shared *ws)
{
    struct hc_addr *a;

    apr_thread_mutex_lock(hc_addr_lock);
    a = apr_hash_get(hc_addrs, &ws, sizeof(ws));
    if (!a) {
        proxy_worker_shared **key;
        a = apr_pcalloc(hc_child_pool, sizeof(*a));
        key = apr_pmemdup(hc_child_pool, &ws, sizeof(ws));
        apr_hash_set(hc_addrs, key, sizeof(ws), a);
    }
    apr_thread_mutex_unlock(hc_addr_lock);
    return a;
}

static apr_status_t resolve(struct hc_task *t, struct hc_addr *a,
                            apr_port_t port)
{
    proxy_worker_shared *ws = t->w->s;
    apr_status_t rv;

    if (a->pool) {
        apr_pool_clear(a->pool);
    }
    else if ((rv = apr_pool_create_unmanaged_ex(&a->pool, NULL, NULL))
             != APR_SUCCESS) {
        return rv;
    }
    a->sa = NULL;
    if (*ws->uds_path) {
#if APR_HAVE_SOCKADDR_UN
        rv = apr_sockaddr_info_get(&a->sa, ws->uds_path, APR_UNIX, 0, 0,
                                   a->pool);
#else
        rv = APR_ENOTIMPL;
#endif
    }
    else {
        rv = apr_sockaddr_info_get(&a->sa, ws->hostname_ex, APR_UNSPEC, port,
                                   0, a->pool);
    }
    if (rv != APR_SUCCESS) {
        a->sa = NULL;
        return rv;
    }
    apr_cpystrn(a->host, ws->hostname_ex, sizeof(a->host));
    apr_cpystrn(a->uds, ws->uds_path, sizeof(a->uds));
    a->port = port;
    a->resolved = apr_time_now();
    return APR_SUCCESS;
}

static apr_status_t hc_connect(struct hc_task *t, apr_socket_t **sock)
{
    proxy_worker_shared *ws = t->w->s;
    apr_port_t port = ws->port ? ws->port
                               : ap_proxy_port_of_scheme(ws->scheme);
    struct hc_addr *a = addr_entry(ws);
    apr_time_t now = apr_time_now();
    apr_status_t rv = APR_SUCCESS;

    if (!a->sa || a->port != port || strcmp(a->host, ws->hostname_ex)
        || strcmp(a->uds, ws->uds_path) || now - a->resolved > HC_ADDR_TTL
        || now < a->resolved) {
        rv = resolve(t, a, port);
    }
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, rv, t->s, LBXLOGNO(20020)
                     "health check of %s: cannot resolve %s; will try again "
                     "at the next interval", ws->name_ex,
                     *ws->uds_path ? ws->uds_path : ws->hostname_ex);
        return rv;
    }
    rv = apr_socket_create(sock, a->sa->family, SOCK_STREAM, 0, t->pool);
    if (rv == APR_SUCCESS) {
        apr_socket_timeout_set(*sock, connect_timeout(t));
        rv = apr_socket_connect(*sock, a->sa);
    }
    if (rv == APR_SUCCESS) {
        apr_socket_timeout_set(*sock, io_timeout(t));
    }
    else {
        /* The address may have moved: resolve again next time. */
        a->sa = NULL;
    }
    return rv;
}

static apr_status_t send_all(apr_socket_t *sock, const char *buf,
                             apr_size_t len)
{
    while (len > 0) {
        apr_size_t n = len;
        apr_status_t rv = apr_socket_send(sock, buf, &n);
        if (rv != APR_SUCCESS) {
            return rv;
        }
        buf += n;
        len -= n;
    }
    return APR_SUCCESS;
}

/* AJP13 CPING (0x12 0x34, length 1, type 10); CPONG is "AB", length 1,
 * type 9. */
static int hc_cping(struct hc_task *t, apr_socket_t *sock)
{
    static const char cping[5] = { 0x12, 0x34, 0x00, 0x01, 0x0a };
    char pong[5];
    apr_size_t got = 0;
    proxy_worker_shared *ws = t->w->s;

    if (ws->ping_timeout_set) {
        apr_socket_timeout_set(sock, ws->ping_timeout);
    }
    else if (ws->conn_timeout_set) {
        apr_socket_timeout_set(sock, ws->conn_timeout);
    }
    if (send_all(sock, cping, sizeof(cping)) != APR_SUCCESS) {
        return 0;
    }
    while (got < sizeof(pong)) {
        apr_size_t n = sizeof(pong) - got;
        if (apr_socket_recv(sock, pong + got, &n) != APR_SUCCESS) {
            return 0;
        }
        got += n;
    }
    return pong[0] == 'A' && pong[1] == 'B' && pong[2] == 0 && pong[3] == 1
           && pong[4] == 9;
}

/* A request_rec just complete enough for ap_expr_exec(), carrying the
 * backend's answer: status, headers, Content-Type, and the body for
 * hc('body') in our slot of request_config. */
static request_rec *fake_request(struct hc_task *t, const char *method,
                                 int status, apr_table_t *headers,
                                 const char *body)
{
    apr_pool_t *p = t->pool;
    conn_rec *c = apr_pcalloc(p, sizeof(*c));
    request_rec *r = apr_pcalloc(p, sizeof(*r));

    c->pool = p;
    c->base_server = t->s;
    c->conn_config = ap_create_conn_config(p);
    c->notes = apr_table_make(p, 1);
    c->bucket_alloc = apr_bucket_alloc_create(p);
    c->client_ip = c->local_ip = "127.0.0.1";
    apr_sockaddr_info_get(&c->client_addr, "127.0.0.1", APR_INET, 0, 0, p);
    c->local_addr = c->client_addr;
    c->local_host = c->remote_host = "localhost";

    r->pool = p;
    r->connection = c;
    r->server = t->s;
    r->proxyreq = PROXYREQ_RESPONSE;
    r->headers_in = apr_table_make(p, 1);
    r->trailers_in = apr_table_make(p, 1);
    r->subprocess_env = apr_table_make(p, 4);
    r->headers_out = headers;
    r->err_headers_out = apr_table_make(p, 1);
    r->trailers_out = apr_table_make(p, 1);
    r->notes = apr_table_make(p, 1);
    r->request_config = ap_create_request_config(p);
    /* Core's per-request record, which %{DOCUMENT_ROOT} and friends read
     * (stock leaves it out and crashes on such expressions). */
    ap_set_core_module_config(r->request_config,
                              apr_pcalloc(p, sizeof(core_request_config)));
    r->per_dir_config = t->s->lookup_defaults;
    r->allowed_methods = ap_make_method_list(p, 2);
    r->useragent_addr = c->client_addr;
    r->useragent_ip = c->client_ip;
    r->method = method;
    r->method_number = ap_method_number_of(method);
    r->protocol = "HTTP/1.0";
    r->proto_num = HTTP_VERSION(1, 0);
    r->status = status;
    r->content_type = apr_table_get(headers, "Content-Type");
    r->the_request = apr_pstrdup(p, method);
    r->uri = r->unparsed_uri = (char *)"/";
    r->hostname = t->w->s->hostname_ex;
    ap_set_module_config(r->request_config, &lbx_module, (void *)body);
    return r;
}

/* GET, HEAD or OPTIONS, over HTTP/1.0 or (the *11 methods) HTTP/1.1. */
static int hc_http(struct hc_task *t, apr_socket_t *sock, hcmethod_t m)
{
    proxy_worker_shared *ws = t->w->s;
    const char *method;
    int minor = (m == OPTIONS11 || m == HEAD11 || m == GET11);
    int want_body = (m == GET || m == GET11);
    char path[PROXY_WORKER_EXT_NAME_SIZE + PROXY_WORKER_MAX_ROUTE_SIZE + 2];
    char *buf, *req, *body;
    apr_size_t have = 0, cap = HC_HEAD_MAX + HC_BODY_MAX, body_len;
    apr_table_t *headers = apr_table_make(t->pool, 8);
    apr_uri_t uri;
    long head_len = 0;
    int status = 0, chunked = 0, complete = 0, body_done = 0;
    apr_time_t deadline = apr_time_now() + io_timeout(t);
    char *scratch = NULL;
    apr_off_t content_length = -1;
    size_t pos = 0;
    const char *name, *value;
    size_t nlen, vlen;

    method = (m == OPTIONS || m == OPTIONS11) ? "OPTIONS"
             : (m == HEAD || m == HEAD11) ? "HEAD" : "GET";
    if (!strcmp(method, "OPTIONS")) {
        apr_cpystrn(path, "*", sizeof(path));
    }
    else {
        const char *mpath = NULL;
        if (apr_uri_parse(t->pool, ws->name_ex, &uri) == APR_SUCCESS) {
            mpath = uri.path;
        }
        if (!lbx_hc_join_path(mpath, ws->hcuri, path, sizeof(path))) {
            return 0;
        }
    }
    req = apr_psprintf(t->pool, "%s %s HTTP/1.%d\r\nHost: %s:%d\r\n\r\n",
                       method, path, minor, ws->hostname_ex, (int)ws->port);
    if (send_all(sock, req, strlen(req)) != APR_SUCCESS) {
        return 0;
    }

    /* Read until the head is complete, then as much body as we keep.  The
     * whole answer must arrive within the member's timeout: a backend that
     * trickles bytes must not hold a check thread forever. */
    buf = apr_palloc(t->pool, cap + 1);
    while (have < cap) {
        apr_size_t n = cap - have;
        apr_interval_time_t left = deadline - apr_time_now();
        apr_status_t rv;

        if (left <= 0) {
            return 0;
        }
        apr_socket_timeout_set(sock, left);
        rv = apr_socket_recv(sock, buf + have, &n);
        have += n;
        if (head_len <= 0) {
            head_len = lbx_hc_parse_head(buf, have, &status);
            if (head_len < 0 || (head_len == 0 && have >= HC_HEAD_MAX)) {
                return 0;
            }
            if (head_len > 0) {
                while (lbx_hc_next_header(buf, (size_t)head_len, &pos, &name,
                                          &nlen, &value, &vlen)) {
                    const char *k = apr_pstrmemdup(t->pool, name, nlen);
                    const char *v = apr_pstrmemdup(t->pool, value, vlen);
                    apr_table_add(headers, k, v);
                }
                if (!want_body || status < 200 || status == 204
                    || status == 304) {
                    want_body = 0;
                    body_done = 1;
                    break;
                }
                if ((value = apr_table_get(headers, "Transfer-Encoding"))
                    && ap_find_last_token(t->pool, value, "chunked")) {
                    chunked = 1;
                }
                else if ((value = apr_table_get(headers, "Content-Length"))) {
                    content_length = apr_atoi64(value);
                }
            }
        }
        if (head_len > 0 && want_body) {
            apr_size_t got = have - (apr_size_t)head_len;
            if (content_length >= 0 && (apr_off_t)got >= content_length) {
                body_done = 1;
                break;
            }
            if (chunked && n > 0) {
                /* Decode a copy to learn whether the last chunk (with any
                 * extensions or trailers) has arrived. */
                int last = 0;
                if (!scratch) {
                    scratch = apr_palloc(t->pool, cap + 1);
                }
                memcpy(scratch, buf + head_len, got);
                lbx_hc_dechunk(scratch, got, &last);
                if (last) {
                    body_done = 1;
                    break;
                }
            }
        }
        if (rv != APR_SUCCESS) {
            /* End of a close-delimited body; anything else (a timeout, a
             * reset, a cut Content-Length or chunked body) fails, as in
             * stock. */
            if (APR_STATUS_IS_EOF(rv) && head_len > 0 && content_length < 0
                && !chunked) {
                body_done = 1;
                break;
            }
            return 0;
        }
    }
    if (head_len > 0 && have >= cap) {
        body_done = 1;      /* more than we keep: judge on the first part */
    }
    if (head_len <= 0 || !body_done) {
        return 0;
    }
    body = buf + head_len;
    body_len = want_body ? have - (apr_size_t)head_len : 0;
    if (content_length >= 0 && (apr_off_t)body_len > content_length) {
        body_len = (apr_size_t)content_length;
    }
    if (chunked) {
        body_len = lbx_hc_dechunk(body, body_len, &complete);
    }
    body[body_len] = '\0';

    if (*ws->hcexpr) {
        const struct lbx_hc_expr *e = find_expr(t->ctx, ws->hcexpr);
        const char *err = NULL;
        int ok;

        if (!e) {
            /* Not known in this server's context (e.g. set through another
             * vhost's manager): judge on the status, as stock does. */
            return status >= 200 && status < 400;
        }
        ok = ap_expr_exec(fake_request(t, method, status, headers, body),
                          e->expr, &err);
        if (err) {
            ap_log_error(APLOG_MARK, APLOG_INFO, 0, t->s, LBXLOGNO(03301)
                         "Error evaluating health check condition expression "
                         "%s for %s: %s", ws->hcexpr, ws->name_ex, err);
            return 0;
        }
        return ok > 0;
    }
    return status >= 200 && status < 400;
}

static int run_check(struct hc_task *t)
{
    proxy_worker_shared *ws = t->w->s;
    hcmethod_t m = ws->method;
    apr_socket_t *sock = NULL;
    int ok;

    if (hc_connect(t, &sock) != APR_SUCCESS) {
        if (sock) {
            apr_socket_close(sock);
        }
        return 0;
    }
    if (m == TCP || (is_tls_scheme(ws->scheme) && m != CPING)) {
        ok = 1;
    }
    else if (m == CPING) {
        ok = hc_cping(t, sock);
    }
    else {
        ok = hc_http(t, sock, m);
    }
    apr_socket_close(sock);
    return ok;
}

/* Apply the result to the member's shared state (only this check touches
 * pcount/fcount: one check per member is in flight at a time). */
static void apply_result(struct hc_task *t, int ok)
{
    proxy_worker *w = t->w;
    int out = (w->s->status & (PROXY_WORKER_HC_FAIL | PROXY_WORKER_IN_ERROR))
              != 0;
    struct lbx_hc_counts counts = { w->s->pcount, w->s->fcount };
    enum lbx_hc_change change;

    if (!ok && !out) {
        w->s->error_time = apr_time_now();
    }
    change = lbx_hc_step(&counts, out, ok, w->s->passes, w->s->fails);
    w->s->pcount = counts.pcount;
    w->s->fcount = counts.fcount;
    if (change == LBX_HC_ENABLE) {
        lbx_status_clear(w, PROXY_WORKER_HC_FAIL | PROXY_WORKER_IN_ERROR);
        ap_log_error(APLOG_MARK, APLOG_INFO, 0, t->s, LBXLOGNO(03302)
                     "%sHealth check ENABLING %s", t->threaded
                     ? "Threaded " : "", w->s->name_ex);
    }
    else if (change == LBX_HC_DISABLE) {
        lbx_status_set(w, PROXY_WORKER_HC_FAIL);
        ap_log_error(APLOG_MARK, APLOG_INFO, 0, t->s, LBXLOGNO(03303)
                     "%sHealth check DISABLING %s", t->threaded
                     ? "Threaded " : "", w->s->name_ex);
    }
}

static void *APR_THREAD_FUNC check_member(apr_thread_t *thread, void *data)
{
    struct hc_task *t = data;
    proxy_worker *w = t->w;

    (void)thread;
    apply_result(t, run_check(t));
    /* Done: the next check is due one interval from now. */
    lbx_atomic_store(&w->s->updated, apr_time_now());
    apr_pool_destroy(t->pool);
    return NULL;
}

/* ---- the watchdog ------------------------------------------------------- */

static int due(proxy_worker *w, apr_time_t now)
{
    proxy_worker_shared *ws = w->s;
    apr_time_t updated = lbx_atomic_load(&ws->updated);

    return !(ws->status & PROXY_WORKER_STOPPED) && ws->method != NONE
           && ws->method < EOT && updated != 0 && now > updated + ws->interval;
}

static void start_check(proxy_worker *w, server_rec *s, apr_time_t now)
{
    struct hc_task *t;
    apr_pool_t *p;

    (void)now;
    /* The shared allocator recycles memory between checks (a fresh one per
     * check cost an mmap/munmap pair each time). */
    if (apr_pool_create_unmanaged_ex(&p, NULL, hc_allocator) != APR_SUCCESS) {
        return;
    }
    t = apr_pcalloc(p, sizeof(*t));
    t->pool = p;
    t->w = w;
    t->s = s;
    t->ctx = *lbx_hc_ctx_slot(s, NULL);
    /* In flight: the watchdog skips the member until the check is done. */
    lbx_atomic_store(&w->s->updated, 0);
    if (hc_pool) {
        t->threaded = 1;
        if (apr_thread_pool_push(hc_pool, check_member, t,
                                 APR_THREAD_TASK_PRIORITY_NORMAL, NULL)
            == APR_SUCCESS) {
            return;
        }
        t->threaded = 0;
    }
    check_member(NULL, t);
}

/* Visit each member of each balancer of each server once. */
static void for_each_member(server_rec *main_s, apr_pool_t *p,
                            void (*fn)(proxy_worker *, server_rec *,
                                       apr_time_t),
                            apr_time_t now, int sync)
{
    apr_hash_t *seen = apr_hash_make(p);
    server_rec *s;

    for (s = main_s; s; s = s->next) {
        proxy_server_conf *conf = ap_get_module_config(s->module_config,
                                                       &proxy_module);
        proxy_balancer *b = (proxy_balancer *)conf->balancers->elts;
        int i, j;

        for (i = 0; i < conf->balancers->nelts; i++) {
            proxy_worker **workers;
            int n;

            if (sync && PROXY_THREAD_LOCK(&b[i]) == APR_SUCCESS) {
                ap_proxy_sync_balancer(&b[i], s, conf);
                PROXY_THREAD_UNLOCK(&b[i]);
            }
            workers = (proxy_worker **)b[i].workers->elts;
            n = b[i].workers->nelts;
            for (j = 0; j < n; j++) {
                proxy_worker_shared *ws = workers[j]->s;
                if (apr_hash_get(seen, &ws, sizeof(ws))) {
                    continue;
                }
                apr_hash_set(seen, apr_pmemdup(p, &ws, sizeof(ws)),
                             sizeof(ws), ws);
                fn(workers[j], s, now);
            }
        }
    }
}

static void mark_fresh(proxy_worker *w, server_rec *s, apr_time_t now)
{
    apr_time_t zero = 0;

    (void)s;
    /* A check in flight when the previous watchdog child went away would
     * otherwise keep the member unchecked forever (stock's fix, D5). */
    __atomic_compare_exchange_n(&w->s->updated, &zero, now, 0,
                                __ATOMIC_RELAXED, __ATOMIC_RELAXED);
}

static void maybe_check(proxy_worker *w, server_rec *s, apr_time_t now)
{
    if (due(w, now)) {
        start_check(w, s, now);
    }
}


void lbx_hc_child_init(apr_pool_t *pchild)
{
    apr_thread_mutex_t *m;

    (void)pchild;
    /* Not a subpool of pchild: APR destroys subpools before pchild's
     * cleanups, one of which joins the watchdog thread, which destroys the
     * thread pool in its STOPPING state; owning it from pchild as well
     * deadlocked exiting children with a check in flight. */
    apr_pool_create_unmanaged_ex(&hc_child_pool, NULL, NULL);
    hc_addrs = apr_hash_make(hc_child_pool);
    apr_thread_mutex_create(&hc_addr_lock, APR_THREAD_MUTEX_DEFAULT,
                            hc_child_pool);
    /* Pools of checks running in different threads share this allocator,
     * so it needs its own lock. */
    apr_allocator_create(&hc_allocator);
    apr_thread_mutex_create(&m, APR_THREAD_MUTEX_DEFAULT, hc_child_pool);
    apr_allocator_mutex_set(hc_allocator, m);
    apr_allocator_max_free_set(hc_allocator, 4 * 1024 * 1024);
}

static apr_status_t hc_watchdog_cb(int state, void *data, apr_pool_t *pool)
{
    server_rec *main_s = data;

    /* `pool` lives for one call: mod_watchdog makes it per tick. */
    switch (state) {
    case AP_WATCHDOG_STATE_STARTING:
        hc_pool = NULL;
        if (hc_threads > 0
            && apr_thread_pool_create(&hc_pool, (apr_size_t)hc_threads,
                                      (apr_size_t)hc_threads, hc_child_pool)
               != APR_SUCCESS) {
            ap_log_error(APLOG_MARK, APLOG_WARNING, 0, main_s,
                         LBXLOGNO(20021) "cannot create the health check "
                         "thread pool; checking one member at a time");
            hc_pool = NULL;
        }
        for_each_member(main_s, pool, mark_fresh, apr_time_now(), 0);
        break;
    case AP_WATCHDOG_STATE_RUNNING:
        for_each_member(main_s, pool, maybe_check, apr_time_now(), 1);
        break;
    case AP_WATCHDOG_STATE_STOPPING: {
        apr_thread_pool_t *tp = __atomic_exchange_n(&hc_pool, NULL,
                                                    __ATOMIC_ACQ_REL);
        if (tp) {
            /* Waits for checks in flight; each ends within its timeout. */
            apr_thread_pool_destroy(tp);
        }
        break;
    }
    }
    return APR_SUCCESS;
}

/* ---- registration ------------------------------------------------------- */

void lbx_hc_pre_config(void)
{
    hc_threads = HC_THREADS_DEFAULT;
    hc_pool = NULL;
    hc_watchdog = NULL;
}

/* After mod_proxy's API is known: CPING is a method only with mod_proxy_ajp
 * (stock marks it in mod_proxy's table the same way). */
void lbx_hc_enable_cping(void)
{
    proxy_hcmethods_t *m;

    if (!APR_RETRIEVE_OPTIONAL_FN(ajp_handle_cping_cpong)) {
        return;
    }
    for (m = proxy_hcmethods; m->name; m++) {
        if (m->method == CPING) {
            m->implemented = 1;
        }
    }
}

int lbx_hc_post_config(apr_pool_t *pconf, server_rec *main_s)
{
    APR_OPTIONAL_FN_TYPE(ap_watchdog_get_instance) *get_instance;
    APR_OPTIONAL_FN_TYPE(ap_watchdog_register_callback) *register_cb;
    apr_status_t rv;
    server_rec *s;
    int members = 0;

    for (s = main_s; s; s = s->next) {
        proxy_server_conf *conf = ap_get_module_config(s->module_config,
                                                       &proxy_module);
        members += conf->balancers->nelts;
    }
    if (!members) {
        return OK;
    }
    for (s = main_s; s; s = s->next) {
        proxy_server_conf *conf = ap_get_module_config(s->module_config,
                                                       &proxy_module);
        proxy_balancer *b = (proxy_balancer *)conf->balancers->elts;
        int i, j;

        for (i = 0; i < conf->balancers->nelts; i++) {
            proxy_worker **w = (proxy_worker **)b[i].workers->elts;
            for (j = 0; j < b[i].workers->nelts; j++) {
                hcmethod_t m = w[j]->s->method;
                if (m != NONE && m != TCP && m != CPING
                    && is_tls_scheme(w[j]->s->scheme)) {
                    ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s,
                                 LBXLOGNO(20022) "health check of %s: "
                                 "mod_lbx cannot send %s over TLS yet; it "
                                 "checks that a TCP connection opens",
                                 w[j]->s->name_ex,
                                 ap_proxy_show_hcmethod(m));
                }
            }
        }
    }
    get_instance = APR_RETRIEVE_OPTIONAL_FN(ap_watchdog_get_instance);
    register_cb = APR_RETRIEVE_OPTIONAL_FN(ap_watchdog_register_callback);
    if (!get_instance || !register_cb) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, 0, main_s, LBXLOGNO(03262)
                     "mod_watchdog is required for health checks");
        return !OK;
    }
    rv = get_instance(&hc_watchdog, HC_WATCHDOG_NAME, 0, 1, pconf);
    if (rv == APR_SUCCESS) {
        rv = register_cb(hc_watchdog, AP_WD_TM_SLICE, main_s, hc_watchdog_cb);
    }
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, rv, main_s, LBXLOGNO(03263)
                     "Failed to register the health check watchdog");
        return !OK;
    }
    return OK;
}

void lbx_hc_register(apr_pool_t *p)
{
    /* Typed first, so a signature drifting from mod_proxy.h's declaration
     * is a compile error. */
    APR_OPTIONAL_FN_TYPE(set_worker_hc_param) *set_param =
        lbx_set_worker_hc_param;
    APR_OPTIONAL_FN_TYPE(hc_show_exprs) *show = lbx_hc_show_exprs;
    APR_OPTIONAL_FN_TYPE(hc_select_exprs) *select = lbx_hc_select_exprs;
    APR_OPTIONAL_FN_TYPE(hc_valid_expr) *valid = lbx_hc_valid_expr;

    (void)p;
    apr_dynamic_fn_register("set_worker_hc_param", (apr_opt_fn_t *)set_param);
    apr_dynamic_fn_register("hc_show_exprs", (apr_opt_fn_t *)show);
    apr_dynamic_fn_register("hc_select_exprs", (apr_opt_fn_t *)select);
    apr_dynamic_fn_register("hc_valid_expr", (apr_opt_fn_t *)valid);
    ap_hook_expr_lookup(hc_expr_lookup, NULL, NULL, APR_HOOK_MIDDLE);
}
