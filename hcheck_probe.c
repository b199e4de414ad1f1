/* hcheck_probe.c: one health check of one member.
 *
 * Unlike stock, a check talks to the backend over its own socket instead
 * of building a shadow proxy worker: a check is one connection, one
 * request, one answer.  That keeps a check independent of the member's
 * connection pool and makes every step fail on its own: a name that does
 * not resolve fails that check (logged) and the next interval tries again,
 * where stock stopped all checks of the server.  Framing the answer is
 * pure (hcheck_frame.c); so is joining the check path (hcheck_core.c).
 */
#include "apr_strings.h"
#include "apr_uri.h"
#include "ap_expr.h"
#include "http_core.h"
#include "http_protocol.h"
#include "http_request.h"

#include "hcheck_probe.h"
#include "hcheck_conf.h"
#include "hcheck_core.h"
#include "hcheck_frame.h"
#include "hcheck_io.h"

APLOG_USE_MODULE(lbx);

#define HC_HEAD_MAX (16 * 1024)
/* hc('body') sees at most this much of a GET answer; stock read it all. */
#define HC_BODY_MAX (64 * 1024)

/* ---- hc() and HC_* in expressions --------------------------------------- */

/* The body of the answer being evaluated, kept in the fake request. */
static const char *hc_body(ap_expr_eval_ctx_t *ctx)
{
    const char *body = ctx->r
        ? ap_get_module_config(ctx->r->request_config, &lbx_module)
        : NULL;
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

int lbx_hc_expr_lookup(ap_expr_lookup_parms *parms)
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

/* ---- one check ---------------------------------------------------------- */

/* hctimeout when the member has one, else its timeout (stock ties the
 * check to the member's request timeout). */
static apr_interval_time_t io_timeout(const struct lbx_hc_task *t)
{
    const struct lbx_hc_extra *x = lbx_hc_extra_of(t->w);

    if (x && x->timeout) {
        return x->timeout;
    }
    return t->w->s->timeout_set ? t->w->s->timeout : t->s->timeout;
}

static apr_interval_time_t connect_timeout(const struct lbx_hc_task *t)
{
    const struct lbx_hc_extra *x = lbx_hc_extra_of(t->w);
    apr_interval_time_t c =
        t->w->s->conn_timeout_set ? t->w->s->conn_timeout : io_timeout(t);

    /* hctimeout bounds the whole check, its connect included. */
    return x && x->timeout && x->timeout < c ? x->timeout : c;
}

int lbx_hc_is_tls(const char *scheme)
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
    apr_pool_t *pool; /* holds sa; recreated on refresh */
    apr_sockaddr_t *sa;
    char host[PROXY_RFC1035_HOSTNAME_SIZE];
    char uds[PROXY_WORKER_MAX_NAME_SIZE];
    apr_port_t port;
    apr_time_t resolved;
};

static apr_pool_t *hc_child_pool; /* holds the table */
static apr_hash_t *hc_addrs;
static apr_thread_mutex_t *hc_addr_lock;
static apr_allocator_t *hc_allocator; /* shared by the per-check pools */

void lbx_hc_probe_child_init(apr_pool_t *pool)
{
    apr_thread_mutex_t *m;

    hc_child_pool = pool;
    hc_addrs = apr_hash_make(pool);
    apr_thread_mutex_create(&hc_addr_lock, APR_THREAD_MUTEX_DEFAULT, pool);
    /* Pools of checks running in different threads share this allocator,
     * so it needs its own lock. */
    apr_allocator_create(&hc_allocator);
    apr_thread_mutex_create(&m, APR_THREAD_MUTEX_DEFAULT, pool);
    apr_allocator_mutex_set(hc_allocator, m);
    apr_allocator_max_free_set(hc_allocator, 4 * 1024 * 1024);
}

apr_status_t lbx_hc_task_pool(apr_pool_t **p)
{
    /* The shared allocator recycles memory between checks (a fresh one per
     * check cost an mmap/munmap pair each time). */
    return apr_pool_create_unmanaged_ex(p, NULL, hc_allocator);
}

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

static apr_status_t resolve(struct lbx_hc_task *t, struct hc_addr *a,
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
        rv = apr_sockaddr_info_get(&a->sa, ws->hostname_ex, APR_UNSPEC, port, 0,
                                   a->pool);
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

static apr_status_t hc_connect(struct lbx_hc_task *t, apr_socket_t **sock)
{
    proxy_worker_shared *ws = t->w->s;
    apr_port_t port = ws->port ? ws->port : ap_proxy_port_of_scheme(ws->scheme);
    struct hc_addr *a = addr_entry(ws);
    apr_time_t now = apr_time_now();
    apr_status_t rv = APR_SUCCESS;

    if (!a->sa || a->port != port || strcmp(a->host, ws->hostname_ex)
        || strcmp(a->uds, ws->uds_path) || now - a->resolved > HC_ADDR_TTL
        || now < a->resolved) {
        rv = resolve(t, a, port);
    }
    if (rv != APR_SUCCESS) {
        ap_log_error(
            APLOG_MARK, APLOG_WARNING, rv, t->s,
            LBXLOGNO(
                20020) "health check of %s: cannot resolve %s; will try again "
                       "at the next interval",
            ws->name_ex, *ws->uds_path ? ws->uds_path : ws->hostname_ex);
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

/* AJP13 CPING (0x12 0x34, length 1, type 10); CPONG is "AB", length 1,
 * type 9. */
static int hc_cping(struct lbx_hc_task *t, apr_socket_t *sock)
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
    struct lbx_hc_io io = { sock, NULL, NULL };

    if (lbx_hc_io_send(&io, cping, sizeof(cping)) != APR_SUCCESS) {
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
static request_rec *fake_request(struct lbx_hc_task *t, const char *method,
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

/* The request line and Host header of an HTTP check: GET, HEAD or
 * OPTIONS, over HTTP/1.0 or (the *11 methods) HTTP/1.1.  NULL when the
 * check path does not fit. */
static const char *http_request(struct lbx_hc_task *t, hcmethod_t m,
                                const char **method)
{
    proxy_worker_shared *ws = t->w->s;
    char path[PROXY_WORKER_EXT_NAME_SIZE + PROXY_WORKER_MAX_ROUTE_SIZE + 2];
    int minor = (m == OPTIONS11 || m == HEAD11 || m == GET11);
    const struct lbx_hc_extra *x;

    *method = (m == OPTIONS || m == OPTIONS11) ? "OPTIONS"
        : (m == HEAD || m == HEAD11)           ? "HEAD"
                                               : "GET";
    if (!strcmp(*method, "OPTIONS")) {
        apr_cpystrn(path, "*", sizeof(path));
    }
    else {
        apr_uri_t uri;
        const char *mpath = NULL;

        if (apr_uri_parse(t->pool, ws->name_ex, &uri) == APR_SUCCESS) {
            mpath = uri.path;
        }
        if (!lbx_hc_join_path(mpath, ws->hcuri, path, sizeof(path))) {
            return NULL;
        }
    }
    x = lbx_hc_extra_of(t->w);
    if (x && x->host) {
        return apr_psprintf(t->pool, "%s %s HTTP/1.%d\r\nHost: %s\r\n\r\n",
                            *method, path, minor, x->host);
    }
    return apr_psprintf(t->pool, "%s %s HTTP/1.%d\r\nHost: %s:%d\r\n\r\n",
                        *method, path, minor, ws->hostname_ex, (int)ws->port);
}

/* Read the answer into *buf until the framer says it is complete.  The
 * whole answer must arrive within the member's timeout: a backend that
 * trickles bytes must not hold a check thread forever.  1 when complete. */
static int read_answer(struct lbx_hc_task *t, struct lbx_hc_io *io,
                       int want_body, struct lbx_hc_frame *f, char **buf)
{
    apr_size_t have = 0, cap = HC_HEAD_MAX + HC_BODY_MAX;
    apr_time_t deadline = apr_time_now() + io_timeout(t);
    enum lbx_hc_frame_result res = LBX_HC_FRAME_MORE;

    *buf = apr_palloc(t->pool, cap + 1);
    lbx_hc_frame_init(f, want_body, HC_HEAD_MAX, HC_BODY_MAX);
    while (res == LBX_HC_FRAME_MORE && have < cap) {
        apr_size_t n = cap - have;
        apr_interval_time_t left = deadline - apr_time_now();
        apr_status_t rv;

        if (left <= 0) {
            return 0;
        }
        apr_socket_timeout_set(io->sock, left);
        rv = lbx_hc_io_recv(io, *buf + have, &n);
        have += n;
        res = lbx_hc_frame_feed(f, *buf, have, APR_STATUS_IS_EOF(rv));
        /* A timeout or reset before the answer is complete fails, as in
         * stock; so does the end of a body that should have been longer. */
        if (res == LBX_HC_FRAME_MORE && rv != APR_SUCCESS) {
            return 0;
        }
    }
    return res == LBX_HC_FRAME_DONE;
}

/* Judge a complete answer: the member's ProxyHCExpr if it has one (and
 * this server knows it), else a 2xx or 3xx status. */
static int judge(struct lbx_hc_task *t, const char *method,
                 const struct lbx_hc_frame *f, char *buf)
{
    proxy_worker_shared *ws = t->w->s;
    const struct lbx_hc_expr *e;
    apr_table_t *headers;
    const char *name, *value, *err = NULL;
    size_t pos = 0, nlen, vlen, body_len = f->body_len;
    char *body = buf + f->head_len;
    int complete, ok;

    if (!*ws->hcexpr || !(e = lbx_hc_expr_find(t->s, ws->hcexpr))) {
        /* An expression unknown in this server's context (set through
         * another vhost's manager) judges on the status, as stock does. */
        t->result = f->status >= 200 && f->status < 400 ? LBX_CHECK_PASSED
                                                        : LBX_CHECK_STATUS;
        return t->result == LBX_CHECK_PASSED;
    }
    headers = apr_table_make(t->pool, 8);
    while (lbx_hc_next_header(buf, f->head_len, &pos, &name, &nlen, &value,
                              &vlen)) {
        apr_table_add(headers, apr_pstrmemdup(t->pool, name, nlen),
                      apr_pstrmemdup(t->pool, value, vlen));
    }
    if (f->chunked) {
        body_len = lbx_hc_dechunk(body, body_len, &complete);
    }
    body[body_len] = '\0';
    ok = ap_expr_exec(fake_request(t, method, f->status, headers, body),
                      e->expr, &err);
    if (err) {
        ap_log_error(
            APLOG_MARK, APLOG_INFO, 0, t->s,
            LBXLOGNO(
                03301) "Error evaluating health check condition expression "
                       "%s for %s: %s",
            ws->hcexpr, ws->name_ex, err);
        t->result = LBX_CHECK_EXPR_ERROR;
        return 0;
    }
    t->result = ok > 0 ? LBX_CHECK_PASSED : LBX_CHECK_EXPR;
    return ok > 0;
}

static int hc_http(struct lbx_hc_task *t, struct lbx_hc_io *io, hcmethod_t m)
{
    struct lbx_hc_frame f;
    const char *method;
    const char *req = http_request(t, m, &method);
    char *buf;

    if (!req) {
        return 0;
    }
    /* With TLS, the first send is the handshake's. */
    if (io->c) {
        t->result = LBX_CHECK_TLS;
    }
    if (lbx_hc_io_send(io, req, strlen(req)) != APR_SUCCESS) {
        return 0;
    }
    t->result = LBX_CHECK_ANSWER;
    if (!read_answer(t, io, m == GET || m == GET11, &f, &buf)) {
        return 0;
    }
    t->status = f.status;
    return judge(t, method, &f, buf);
}

/* The name a TLS check sends as SNI and checks the certificate against:
 * hchost's host if set, else the member's. */
static const char *tls_name(struct lbx_hc_task *t)
{
    const struct lbx_hc_extra *x = lbx_hc_extra_of(t->w);
    char *host, *scope;
    apr_port_t port;

    if (x && x->host
        && apr_parse_addr_port(&host, &scope, &port, x->host, t->pool)
            == APR_SUCCESS
        && host) {
        return host;
    }
    return t->w->s->hostname_ex;
}

/* An HTTP check on the connected socket, through TLS for an https://
 * member (mod_ssl must be loaded with SSLProxyEngine on, as for its
 * requests). */
static int hc_http_over(struct lbx_hc_task *t, apr_socket_t *sock, hcmethod_t m)
{
    struct lbx_hc_io io = { sock, NULL, NULL };

    if (lbx_hc_is_tls(t->w->s->scheme)
        && lbx_hc_io_tls(&io, t->pool, t->s, t->w, tls_name(t))
            != APR_SUCCESS) {
        t->result = LBX_CHECK_TLS;
        return 0;
    }
    return hc_http(t, &io, m);
}

int lbx_hc_probe(struct lbx_hc_task *t)
{
    proxy_worker_shared *ws = t->w->s;
    hcmethod_t m = ws->method;
    apr_socket_t *sock = NULL;
    int ok;

    t->result = LBX_CHECK_CONNECT;
    t->status = 0;
    if (hc_connect(t, &sock) != APR_SUCCESS) {
        if (sock) {
            apr_socket_close(sock);
        }
        return 0;
    }
    /* Past the connect, a failure not judged otherwise is the answer's. */
    t->result = LBX_CHECK_ANSWER;
    if (m == TCP) {
        ok = 1;
    }
    else if (m == CPING) {
        ok = hc_cping(t, sock);
    }
    else {
        ok = hc_http_over(t, sock, m);
    }
    if (ok) {
        t->result = LBX_CHECK_PASSED;
    }
    apr_socket_close(sock);
    return ok;
}
