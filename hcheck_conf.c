/* hcheck_conf.c: health-check configuration.
 *
 * mod_proxy hands every BalancerMember/ProxySet key it does not know to the
 * optional function set_worker_hc_param (here), which accepts the hc* keys
 * for a member or for a template.  A key is parsed once into struct
 * hc_params and then applied: to the member's shared record, or merged
 * into the template being defined.  ProxyHCExpr and ProxyHCTemplate define
 * names per server, ProxyHCTPsize sizes the check thread pool.
 */
#include "apr_lib.h"
#include "apr_strings.h"
#include "mod_watchdog.h"

#include "hcheck_conf.h"
#include "hcheck_core.h"
#include "lbx_conf.h"
#include "lbx_text.h"

APLOG_USE_MODULE(lbx);

#define HC_THREADS_DEFAULT 16
#define HC_THREADS_MAX 1024

/* The hc* settings; struct hc_params' `set` has bit 1 << HCP_x for each
 * one a key gave. */
enum {
    HCP_METHOD,
    HCP_INTERVAL,
    HCP_PASSES,
    HCP_FAILS,
    HCP_URI,
    HCP_EXPR,
    HCP_TIMEOUT,
    HCP_HOST,
    HCP_CONSECUTIVE,
    HCP_COUNT
};
#define HCP(x) (1u << HCP_##x)

struct hc_params {
    unsigned set; /* HCP() bits */
    hcmethod_t method;
    apr_interval_time_t interval;
    int passes;
    int fails;
    char uri[LBX_HC_URI_SIZE];
    char expr[LBX_HC_NAME_MAX + 1];
    /* mod_lbx's own: no field of the member record holds them. */
    struct lbx_hc_extra extra;
};

struct hc_template {
    const char *name;
    struct hc_params params; /* every field set */
};

struct lbx_hc_ctx {
    server_rec *s; /* the server this context belongs to */
    apr_array_header_t *exprs; /* struct lbx_hc_expr */
    apr_array_header_t *templates; /* struct hc_template */
};

static int hc_threads = HC_THREADS_DEFAULT;

/* proxy_worker (its configuration record, which stays where it is while
 * its shared record moves into shared memory at post_config) -> struct
 * lbx_hc_extra, for members given hctimeout or hchost.  Built while the
 * configuration is read, read-only afterwards. */
static apr_hash_t *hc_extras;

/* ---- contexts and lookups ------------------------------------------------ */

/* The hc context of server s, made at configuration time.  As in stock, a
 * vhost that configures anything health-check related gets a context of
 * its own, which does not see the main server's expressions and
 * templates. */
static struct lbx_hc_ctx *hc_ctx(server_rec *s, apr_pool_t *p)
{
    struct lbx_hc_ctx **slot = lbx_conf_hc_slot(s, p);

    if (!*slot || (*slot)->s != s) {
        struct lbx_hc_ctx *ctx = apr_pcalloc(p, sizeof(*ctx));
        ctx->s = s;
        ctx->exprs = apr_array_make(p, 4, sizeof(struct lbx_hc_expr));
        ctx->templates = apr_array_make(p, 4, sizeof(struct hc_template));
        *slot = ctx;
    }
    return *slot;
}

static struct lbx_hc_expr *find_expr(const struct lbx_hc_ctx *ctx,
                                     const char *name)
{
    struct lbx_hc_expr *e;
    int i;

    if (!ctx) {
        return NULL;
    }
    e = (struct lbx_hc_expr *)ctx->exprs->elts;
    for (i = 0; i < ctx->exprs->nelts; i++) {
        if (ap_cstr_casecmp(e[i].name, name) == 0) {
            return &e[i];
        }
    }
    return NULL;
}

const apr_array_header_t *lbx_hc_exprs(server_rec *s)
{
    struct lbx_hc_ctx *ctx = *lbx_conf_hc_slot(s, NULL);

    return ctx ? ctx->exprs : NULL;
}

const struct lbx_hc_expr *lbx_hc_expr_find(server_rec *s, const char *name)
{
    return find_expr(*lbx_conf_hc_slot(s, NULL), name);
}

int lbx_hc_expr_known(server_rec *s, const char *name)
{
    const struct lbx_hc_expr *e = name ? lbx_hc_expr_find(s, name) : NULL;
    return e && strcmp(e->name, name) == 0;
}

int lbx_hc_valid_expr(request_rec *r, const char *name)
{
    return lbx_hc_expr_known(r->server, name);
}

proxy_hcmethods_t *lbx_hc_method_find(const char *name)
{
    proxy_hcmethods_t *m;

    for (m = proxy_hcmethods; m->name; m++) {
        if (ap_cstr_casecmp(name, m->name) == 0) {
            return m;
        }
    }
    return NULL;
}

int lbx_hc_method_has_expr(hcmethod_t m)
{
    return m != NONE && m != TCP && m != CPING;
}

/* ---- hc* parameters ----------------------------------------------------- */

/* A whole number in [0, max] written as strtol() reads one: leading
 * blanks and a sign may come first ("+5", " 5" and "-0" were always
 * accepted, so configurations using them keep starting); nothing may come
 * after the digits.  0 and *out set, or -1. */
static int parse_whole(const char *s, uint64_t max, uint64_t *out)
{
    int neg;

    while (apr_isspace(*s)) {
        s++;
    }
    neg = *s == '-';
    if (*s == '-' || *s == '+') {
        s++;
    }
    if (lbx_parse_uint(s, strlen(s), max, out) != 0 || (neg && *out != 0)) {
        return -1;
    }
    return 0;
}

static const char *parse_count(apr_pool_t *p, const char *key, const char *val,
                               int *out)
{
    uint64_t v;

    if (parse_whole(val, LBX_HC_COUNT_MAX, &v) != 0) {
        return apr_psprintf(p, "%s must be a whole number >= 0, not '%s'", key,
                            val);
    }
    *out = (int)v;
    return NULL;
}

static const char *parse_interval(apr_pool_t *p, const char *val,
                                  apr_interval_time_t *out)
{
    if (ap_timeout_parameter_parse(val, out, "s") != APR_SUCCESS) {
        return "Unparse-able hcinterval setting";
    }
    if (*out < apr_time_from_msec(LBX_HC_INTERVAL_MIN_MS)) {
        return apr_psprintf(p,
                            "Interval must be a positive value greater "
                            "than %dms",
                            LBX_HC_INTERVAL_MIN_MS);
    }
    return NULL;
}

static const char *parse_timeout(apr_pool_t *p, const char *val,
                                 apr_interval_time_t *out)
{
    if (ap_timeout_parameter_parse(val, out, "s") != APR_SUCCESS || *out <= 0
        || *out > apr_time_from_sec(LBX_HC_TIMEOUT_MAX_S)) {
        return apr_psprintf(p,
                            "hctimeout must be a time above 0 and at most %ds "
                            "(e.g. 2 or 500ms), not '%s'",
                            LBX_HC_TIMEOUT_MAX_S, val);
    }
    return NULL;
}

/* A Host header value: a name or address, with an optional port; no
 * spaces or control characters that would end or split the header. */
static const char *parse_host(apr_pool_t *p, const char *val, const char **out)
{
    const char *c;

    for (c = val; *c; c++) {
        if (apr_iscntrl(*c) || *c == ' ' || *c == '/') {
            break;
        }
    }
    if (!*val || *c || strlen(val) > LBX_HC_HOST_MAX) {
        return apr_psprintf(p,
                            "hchost must be a host name or address with an "
                            "optional :port, at most %d characters, not '%s'",
                            LBX_HC_HOST_MAX, val);
    }
    *out = apr_pstrdup(p, val);
    return NULL;
}

static const char *parse_method(apr_pool_t *p, const char *val, hcmethod_t *out)
{
    proxy_hcmethods_t *m = lbx_hc_method_find(val);

    if (!m) {
        return "Unknown method";
    }
    if (!m->implemented) {
        return apr_psprintf(p,
                            "Health check method %s not (yet) "
                            "implemented",
                            val);
    }
    *out = m->method;
    return NULL;
}

static const struct hc_template *find_template(const struct lbx_hc_ctx *ctx,
                                               const char *name)
{
    const struct hc_template *tpl =
        (const struct hc_template *)ctx->templates->elts;
    int i;

    for (i = 0; i < ctx->templates->nelts; i++) {
        if (ap_cstr_casecmp(tpl[i].name, name) == 0) {
            return &tpl[i];
        }
    }
    return NULL;
}

/* hcexpr= with an expression instead of a ProxyHCExpr name (names come
 * first): it becomes an expression of the server named "inline-N", the
 * same text sharing one name, so the member record (whose hcexpr field
 * holds a name of at most 15 characters) and the manager work as with
 * any named one.  The text reaches this point only as one configuration
 * word: "hcexpr=%{REQUEST_STATUS} == 200" in quotes as a whole, or
 * written without spaces. */
static const char *inline_expr(apr_pool_t *p, struct lbx_hc_ctx *ctx,
                               const char *text, const struct lbx_hc_expr **out)
{
    struct lbx_hc_expr *e = (struct lbx_hc_expr *)ctx->exprs->elts;
    ap_expr_info_t *info;
    const char *err;
    int i, inline_count = 0;

    for (i = 0; i < ctx->exprs->nelts; i++) {
        if (strncmp(e[i].name, "inline-", 7) == 0) {
            if (strcmp(e[i].text, text) == 0) {
                *out = &e[i];
                return NULL;
            }
            inline_count++;
        }
    }
    info = apr_pcalloc(p, sizeof(*info));
    info->filename = "hcexpr";
    info->module_index = APLOG_MODULE_INDEX;
    err = ap_expr_parse(p, p, info, text, NULL);
    if (err) {
        return apr_psprintf(p,
                            "Unknown health check condition expr: %s (not a "
                            "ProxyHCExpr name, nor an expression: %s)",
                            text, err);
    }
    e = apr_array_push(ctx->exprs);
    e->name = apr_psprintf(p, "inline-%d", inline_count + 1);
    e->text = apr_pstrdup(p, text);
    e->expr = info;
    *out = e;
    return NULL;
}

/* Parse one hc* key into *hp (adding its HCP_ bit); an error or NULL. */
static const char *parse_param(apr_pool_t *p, struct lbx_hc_ctx *ctx,
                               const char *key, const char *val,
                               struct hc_params *hp)
{
    const char *err = NULL;

    if (!ap_cstr_casecmp(key, "hctemplate")) {
        const struct hc_template *tpl = find_template(ctx, val);
        if (!tpl) {
            return apr_psprintf(p, "Unknown ProxyHCTemplate name: %s", val);
        }
        *hp = tpl->params;
        return NULL;
    }
    if (!ap_cstr_casecmp(key, "hcmethod")) {
        err = parse_method(p, val, &hp->method);
        hp->set |= HCP(METHOD);
    }
    else if (!ap_cstr_casecmp(key, "hcinterval")) {
        err = parse_interval(p, val, &hp->interval);
        hp->set |= HCP(INTERVAL);
    }
    else if (!ap_cstr_casecmp(key, "hcpasses")) {
        err = parse_count(p, key, val, &hp->passes);
        hp->set |= HCP(PASSES);
    }
    else if (!ap_cstr_casecmp(key, "hcfails")) {
        err = parse_count(p, key, val, &hp->fails);
        hp->set |= HCP(FAILS);
    }
    else if (!ap_cstr_casecmp(key, "hcuri")) {
        if (strlen(val) >= sizeof(hp->uri)) {
            return apr_psprintf(p,
                                "Health check uri length must be < %d "
                                "characters",
                                (int)sizeof(hp->uri));
        }
        apr_cpystrn(hp->uri, val, sizeof(hp->uri));
        hp->set |= HCP(URI);
    }
    else if (!ap_cstr_casecmp(key, "hctimeout")) {
        err = parse_timeout(p, val, &hp->extra.timeout);
        hp->set |= HCP(TIMEOUT);
    }
    else if (!ap_cstr_casecmp(key, "hcconsecutive")) {
        if (ap_cstr_casecmp(val, "on") && ap_cstr_casecmp(val, "off")) {
            return apr_psprintf(p, "hcconsecutive must be on or off, not '%s'",
                                val);
        }
        hp->extra.consecutive = !ap_cstr_casecmp(val, "on");
        hp->set |= HCP(CONSECUTIVE);
    }
    else if (!ap_cstr_casecmp(key, "hchost")) {
        err = parse_host(p, val, &hp->extra.host);
        hp->set |= HCP(HOST);
    }
    else if (!ap_cstr_casecmp(key, "hcexpr")) {
        const struct lbx_hc_expr *e = find_expr(ctx, val);
        if (!e && (err = inline_expr(p, ctx, val, &e)) != NULL) {
            return err;
        }
        apr_cpystrn(hp->expr, e->name, sizeof(hp->expr));
        hp->set |= HCP(EXPR);
        err = NULL;
    }
    else {
        return "unknown Worker hcheck parameter";
    }
    return err;
}

/* What hp sets of mod_lbx's own settings, into the member's entry. */
static void apply_extra(apr_pool_t *p, proxy_worker *w,
                        const struct hc_params *hp)
{
    struct lbx_hc_extra *x;

    if (!(hp->set & (HCP(TIMEOUT) | HCP(HOST) | HCP(CONSECUTIVE)))) {
        return;
    }
    if (!hc_extras) {
        hc_extras = apr_hash_make(p);
    }
    x = apr_hash_get(hc_extras, &w, sizeof(w));
    if (!x) {
        x = apr_pcalloc(p, sizeof(*x));
        apr_hash_set(hc_extras, apr_pmemdup(p, &w, sizeof(w)), sizeof(w), x);
    }
    if (hp->set & HCP(TIMEOUT)) {
        x->timeout = hp->extra.timeout;
    }
    if (hp->set & HCP(HOST)) {
        x->host = hp->extra.host;
    }
    if (hp->set & HCP(CONSECUTIVE)) {
        x->consecutive = hp->extra.consecutive;
    }
}

const struct lbx_hc_extra *lbx_hc_extra_of(proxy_worker *w)
{
    return hc_extras ? apr_hash_get(hc_extras, &w, sizeof(w)) : NULL;
}

/* Write what hp sets into the member's shared record. */
static void apply_to_member(proxy_worker_shared *ws, const struct hc_params *hp)
{
    if (hp->set & HCP(METHOD)) {
        ws->method = hp->method;
    }
    if (hp->set & HCP(INTERVAL)) {
        ws->interval = hp->interval;
    }
    if (hp->set & HCP(PASSES)) {
        ws->passes = hp->passes;
    }
    if (hp->set & HCP(FAILS)) {
        ws->fails = hp->fails;
    }
    if (hp->set & HCP(URI)) {
        ap_proxy_strncpy(ws->hcuri, hp->uri, sizeof(ws->hcuri));
    }
    if (hp->set & HCP(EXPR)) {
        ap_proxy_strncpy(ws->hcexpr, hp->expr, sizeof(ws->hcexpr));
    }
}

/* The optional function mod_proxy calls for member keys it does not know.
 * mod_proxy always passes a member; a template pointer from elsewhere is
 * of a type mod_lbx does not know, so such a call is refused. */
static const char *set_worker_hc_param(apr_pool_t *p, server_rec *s,
                                       proxy_worker *w, const char *key,
                                       const char *val, void *tmpl)
{
    struct hc_params hp;
    const char *err;
    int known;

    (void)tmpl;
    if (!w) {
        return "Bad call to set_worker_hc_param()";
    }
    /* ejectfails= and slowstart= come this way too (lbx_conf.c). */
    err = lbx_conf_set_member_key(p, w, key, val, &known);
    if (known) {
        return err;
    }
    memset(&hp, 0, sizeof(hp));
    if ((err = parse_param(p, hc_ctx(s, p), key, val, &hp)) != NULL) {
        return err;
    }
    apply_to_member(w->s, &hp);
    apply_extra(p, w, &hp);
    return NULL;
}

/* ---- directives ------------------------------------------------------- */

/* What ProxyHCExpr and ProxyHCTemplate begin with: the context check, the
 * server's hc context and the name (`what` says which, in the message). */
static const char *directive_start(cmd_parms *cmd, const char **arg,
                                   const char *what, struct lbx_hc_ctx **ctx,
                                   const char **name)
{
    const char *err = ap_check_cmd_context(cmd, NOT_IN_HTACCESS);

    if (err) {
        return err;
    }
    *ctx = hc_ctx(cmd->server, cmd->pool);
    *name = ap_getword_conf(cmd->pool, arg);
    if (!**name) {
        return apr_psprintf(cmd->pool, "Missing %s name for %s", what,
                            cmd->cmd->name);
    }
    return NULL;
}

const char *lbx_hc_set_expr(cmd_parms *cmd, void *dconf, const char *arg)
{
    struct lbx_hc_ctx *ctx;
    struct lbx_hc_expr *e;
    ap_expr_info_t *expr;
    const char *name, *text;
    const char *err = directive_start(cmd, &arg, "expression", &ctx, &name);

    (void)dconf;
    if (err) {
        return err;
    }
    if (!lbx_hc_name_ok(name)) {
        return apr_psprintf(cmd->pool,
                            "Expression name limited to %d "
                            "characters",
                            LBX_HC_NAME_MAX);
    }
    /* {...} quoting is allowed for the expression. */
    text = ap_getword_conf2(cmd->pool, &arg);
    if (!*text) {
        return apr_pstrcat(cmd->pool, "Missing expression for ", cmd->cmd->name,
                           NULL);
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
    e = find_expr(ctx, name);
    if (!e) {
        e = apr_array_push(ctx->exprs);
        e->name = name;
    }
    e->text = text;
    e->expr = expr;
    return NULL;
}

const char *lbx_hc_set_template(cmd_parms *cmd, void *dconf, const char *arg)
{
    struct lbx_hc_ctx *ctx;
    struct hc_template tpl;
    const char *name;
    const char *err = directive_start(cmd, &arg, "template", &ctx, &name);

    (void)dconf;
    if (err) {
        return err;
    }
    /* Stock's template defaults: note that TCP checks are on unless the
     * template names another method. */
    memset(&tpl, 0, sizeof(tpl));
    tpl.name = name;
    tpl.params.set = (1u << HCP_COUNT) - 1;
    tpl.params.method = TCP;
    tpl.params.passes = tpl.params.fails = 1;
    tpl.params.interval = apr_time_from_sec(HCHECK_WATHCHDOG_DEFAULT_INTERVAL);
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
            err = parse_param(cmd->pool, ctx, word, val, &tpl.params);
        }
        if (err) {
            return apr_pstrcat(cmd->pool, "ProxyHCTemplate: ", err, " ", word,
                               "=", val, "; ", name, NULL);
        }
    }
    *(struct hc_template *)apr_array_push(ctx->templates) = tpl;
    return NULL;
}

const char *lbx_hc_set_threads(cmd_parms *cmd, void *dconf, const char *arg)
{
    const char *err = ap_check_cmd_context(cmd, GLOBAL_ONLY);
    uint64_t n;

    (void)dconf;
    if (err) {
        return err;
    }
    if (parse_whole(arg, HC_THREADS_MAX, &n) != 0) {
        return "Invalid ProxyHCTPsize parameter. Parameter must be >= 0";
    }
    hc_threads = (int)n;
    return NULL;
}

void lbx_hc_conf_pre_config(void)
{
    hc_threads = HC_THREADS_DEFAULT;
    hc_extras = NULL; /* the previous reading's pool is gone */
}

int lbx_hc_threads(void)
{
    return hc_threads;
}

void lbx_hc_conf_register(void)
{
    /* Typed first, so a signature drifting from mod_proxy.h's declaration
     * is a compile error. */
    APR_OPTIONAL_FN_TYPE(set_worker_hc_param) *set_param = set_worker_hc_param;
    APR_OPTIONAL_FN_TYPE(hc_valid_expr) *valid = lbx_hc_valid_expr;

    apr_dynamic_fn_register("set_worker_hc_param", (apr_opt_fn_t *)set_param);
    apr_dynamic_fn_register("hc_valid_expr", (apr_opt_fn_t *)valid);
}
