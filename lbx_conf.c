/* lbx_conf.c: mod_lbx's per-server configuration (see lbx_conf.h). */
#include "apr_strings.h"
#include "heartbeat.h"

#include "lbx_conf.h"
#include "cookie_core.h"

APLOG_USE_MODULE(lbx);

struct lbx_server_conf {
    const char *hb_path; /* HeartbeatStorage, NULL = not set here */
    struct lbx_hc_ctx *hc; /* ProxyHCExpr/ProxyHCTemplate context */
    apr_hash_t *balancers; /* balancer name -> struct balancer_conf */
};

/* What mod_lbx's own directives inside <Proxy balancer://...> set. */
struct balancer_conf {
    struct lbx_hash_conf hash;
    struct lbx_outlier_conf outlier;
    struct lbx_cookie_conf *cookie;
    ap_expr_info_t *route_by;
    ap_expr_info_t *lbset_by;
};

/* Member settings from BalancerMember/ProxySet keys mod_proxy does not
 * know: proxy_worker * -> struct lbx_member_conf, for the configuration
 * being read (reset by lbx_conf_pre_config). */
static apr_hash_t *member_confs;

static struct lbx_server_conf *server_conf(server_rec *s)
{
    return ap_get_module_config(s->module_config, &lbx_module);
}

void *lbx_conf_create(apr_pool_t *p, server_rec *s)
{
    (void)s;
    return apr_pcalloc(p, sizeof(struct lbx_server_conf));
}

void *lbx_conf_merge(apr_pool_t *p, void *basev, void *addv)
{
    struct lbx_server_conf *base = basev, *add = addv;
    struct lbx_server_conf *conf = apr_pcalloc(p, sizeof(*conf));

    conf->hb_path = add->hb_path ? add->hb_path : base->hb_path;
    conf->hc = add->hc ? add->hc : base->hc;
    conf->balancers = add->balancers && base->balancers
        ? apr_hash_overlay(p, add->balancers, base->balancers)
        : add->balancers ? add->balancers
                         : base->balancers;
    return conf;
}

struct lbx_hc_ctx **lbx_conf_hc_slot(server_rec *s, apr_pool_t *p)
{
    static struct lbx_hc_ctx *none;
    struct lbx_server_conf *conf = server_conf(s);

    if (!conf) {
        if (!p) {
            none = NULL;
            return &none;
        }
        conf = lbx_conf_create(p, s);
        ap_set_module_config(s->module_config, &lbx_module, conf);
    }
    return &conf->hc;
}

const char *lbx_conf_heartbeat_path(server_rec *s)
{
    return server_conf(s)->hb_path;
}

void lbx_conf_post_config(apr_pool_t *pconf, server_rec *main_s)
{
    server_rec *s;

    for (s = main_s; s; s = s->next) {
        struct lbx_server_conf *conf = server_conf(s);
        if (!conf->hb_path) {
            /* Stock's default, in DefaultRuntimeDir. */
            conf->hb_path =
                ap_runtime_dir_relative(pconf, DEFAULT_HEARTBEAT_STORAGE);
        }
    }
}

/* HeartbeatStorage is mod_heartmonitor's directive too.  httpd hands a
 * directive only to the first module that defines it unless that module
 * declines, so when mod_heartmonitor comes after mod_lbx in the module
 * list, mod_lbx takes the path and then declines: both modules see it
 * (with stock, whichever module was loaded last silently wins). */
const char *lbx_conf_set_heartbeat_storage(cmd_parms *cmd, void *dconf,
                                           const char *path)
{
    struct lbx_server_conf *conf = server_conf(cmd->server);
    const char *err = ap_check_cmd_context(cmd, GLOBAL_ONLY);
    module *next = lbx_module.next;

    (void)dconf;
    if (err) {
        return err;
    }
    conf->hb_path = ap_runtime_dir_relative(cmd->pool, path);
    if (!conf->hb_path) {
        return apr_pstrcat(cmd->pool, "HeartbeatStorage: invalid path ", path,
                           NULL);
    }
    if (next && ap_find_command_in_modules(cmd->cmd->name, &next)) {
        return DECLINE_CMD;
    }
    return NULL;
}

/* ---- settings of a balancer -------------------------------------------- */

/* The settings of the <Proxy balancer://...> section being read, made
 * with stock's defaults for everything. */
static const char *balancer_conf_of(cmd_parms *cmd, struct balancer_conf **bc)
{
    struct lbx_server_conf *conf = server_conf(cmd->server);
    char *name, *slash;

    if (!cmd->path
        || ap_cstr_casecmpn(cmd->path, BALANCER_PREFIX,
                            sizeof(BALANCER_PREFIX) - 1)
            != 0) {
        return apr_pstrcat(cmd->pool, cmd->cmd->name,
                           " belongs inside "
                           "<Proxy balancer://...>",
                           NULL);
    }
    /* The balancer's name as mod_proxy keeps it: lower case, no path
     * (<Proxy balancer://App/> is balancer://app). */
    name = apr_pstrdup(cmd->pool, cmd->path);
    if ((slash = strchr(name + sizeof(BALANCER_PREFIX) - 1, '/')) != NULL) {
        *slash = '\0';
    }
    ap_str_tolower(name);
    if (!conf->balancers) {
        conf->balancers = apr_hash_make(cmd->pool);
    }
    *bc = apr_hash_get(conf->balancers, name, APR_HASH_KEY_STRING);
    if (!*bc) {
        *bc = apr_pcalloc(cmd->pool, sizeof(**bc));
        (*bc)->outlier = *lbx_conf_outlier(NULL, NULL);
        apr_hash_set(conf->balancers, apr_pstrdup(cmd->pool, name),
                     APR_HASH_KEY_STRING, *bc);
    }
    return NULL;
}

/* The settings of balancer `name` (mod_proxy's form) in server s, or
 * NULL when it has none of mod_lbx's directives (or s is NULL). */
static const struct balancer_conf *balancer_conf(server_rec *s,
                                                 const char *name)
{
    struct lbx_server_conf *conf = s && name ? server_conf(s) : NULL;

    return conf && conf->balancers
        ? apr_hash_get(conf->balancers, name, APR_HASH_KEY_STRING)
        : NULL;
}

/* A string expression of a directive inside <Proxy balancer://...>. */
static const char *parse_expr(cmd_parms *cmd, const char *expr,
                              ap_expr_info_t **out)
{
    const char *err = NULL;

    *out = ap_expr_parse_cmd(cmd, expr, AP_EXPR_FLAG_STRING_RESULT, &err, NULL);
    return err ? apr_psprintf(cmd->pool, "%s: cannot parse \"%s\": %s",
                              cmd->cmd->name, expr, err)
               : NULL;
}

static const char *hash_conf_of(cmd_parms *cmd, struct lbx_hash_conf **hc)
{
    struct balancer_conf *bc;
    const char *err = balancer_conf_of(cmd, &bc);

    *hc = err ? NULL : &bc->hash;
    return err;
}

const char *lbx_conf_set_hash_key(cmd_parms *cmd, void *dconf, const char *expr)
{
    struct lbx_hash_conf *hc;
    const char *err = hash_conf_of(cmd, &hc);

    (void)dconf;
    if (err) {
        return err;
    }
    return parse_expr(cmd, expr, &hc->key);
}

/* A factor of the mean load like "1.25" (at least 1), or "off". */
const char *lbx_conf_set_hash_balance(cmd_parms *cmd, void *dconf,
                                      const char *factor)
{
    struct lbx_hash_conf *hc;
    const char *err = hash_conf_of(cmd, &hc);
    char *end;
    double f;

    (void)dconf;
    if (err) {
        return err;
    }
    if (!ap_cstr_casecmp(factor, "off")) {
        hc->balance_pct = 0;
        return NULL;
    }
    f = strtod(factor, &end);
    if (end == factor || *end || !(f >= 1.0 && f <= 100.0)) {
        return apr_psprintf(cmd->pool,
                            "LBXHashBalance: '%s' is not a "
                            "factor from 1 to 100 (e.g. 1.25) or 'off'",
                            factor);
    }
    hc->balance_pct = (unsigned)(f * 100.0 + 0.5);
    return NULL;
}

const struct lbx_hash_conf *lbx_conf_hash(server_rec *s, const char *name)
{
    static const struct lbx_hash_conf defaults = { NULL, 0 };
    const struct balancer_conf *bc = balancer_conf(s, name);

    return bc ? &bc->hash : &defaults;
}

const struct lbx_outlier_conf *lbx_conf_outlier(server_rec *s, const char *name)
{
    /* Off, with Envoy-like limits for when a member turns it on. */
    static const struct lbx_outlier_conf defaults = {
        .fails = 0,
        .max_share_pct = 50,
        .time_us = APR_USEC_PER_SEC * 30,
        .max_us = APR_USEC_PER_SEC * 300,
        .budget_min = 3,
    };
    const struct balancer_conf *bc = balancer_conf(s, name);

    return bc ? &bc->outlier : &defaults;
}

/* ---- ejection, slow start, retry budget --------------------------------- */

/* A time like "30", "30s", "500ms" (seconds when bare), within
 * [min_us, LBX_EJECT_TIME_MAX_S]. */
static const char *parse_time(apr_pool_t *p, const char *what, const char *val,
                              uint64_t min_us, uint64_t *out)
{
    apr_interval_time_t t;
    const char *unit = val;

    while (apr_isdigit(*unit)) {
        unit++;
    }
    /* httpd's parser reads only the unit's first letter ("soon" is 0 s);
     * ten digits keep its multiplication from overflowing. */
    if (unit == val || unit - val > 10
        || (*unit && strcmp(unit, "s") && strcmp(unit, "ms")
            && strcmp(unit, "mi") && strcmp(unit, "h"))
        || ap_timeout_parameter_parse(val, &t, "s") != APR_SUCCESS
        || t < (apr_interval_time_t)min_us
        || t > apr_time_from_sec(LBX_EJECT_TIME_MAX_S)) {
        return apr_psprintf(p,
                            "%s must be a time from %s to %ds (e.g. 30s, "
                            "500ms), not '%s'",
                            what, min_us ? "1ms" : "0", LBX_EJECT_TIME_MAX_S,
                            val);
    }
    *out = (uint64_t)t;
    return NULL;
}

/* A whole number in [min, max]. */
static const char *parse_number(apr_pool_t *p, const char *what,
                                const char *val, unsigned min, unsigned max,
                                uint32_t *out)
{
    char *end = NULL;
    unsigned long v = apr_isdigit(*val) ? strtoul(val, &end, 10) : 0;

    if (!end || *end || v < min || v > max) {
        return apr_psprintf(p,
                            "%s must be a whole number from %u to %u, not "
                            "'%s'",
                            what, min, max, val);
    }
    *out = (uint32_t)v;
    return NULL;
}

static const char *eject_key(apr_pool_t *p, struct lbx_outlier_conf *oc,
                             const char *key, const char *val)
{
    int n;

    if (!ap_cstr_casecmp(key, "fails")) {
        return parse_number(p, "LBXEjection fails", val, 1, LBX_EJECT_FAILS_MAX,
                            &oc->fails);
    }
    if (!ap_cstr_casecmp(key, "time")) {
        return parse_time(p, "LBXEjection time", val, 1000, &oc->time_us);
    }
    if (!ap_cstr_casecmp(key, "maxtime")) {
        return parse_time(p, "LBXEjection maxtime", val, 1000, &oc->max_us);
    }
    if (!ap_cstr_casecmp(key, "maxshare")) {
        return parse_number(p, "LBXEjection maxshare", val, 1, 100,
                            &oc->max_share_pct);
    }
    if (!ap_cstr_casecmp(key, "status")) {
        n = lbx_eject_parse_statuses(val, oc->statuses, LBX_EJECT_STATUS_MAX);
        if (n < 0) {
            return apr_psprintf(p,
                                "LBXEjection status must list at most %d "
                                "HTTP statuses from 400 to 599, like "
                                "500,502-504, not '%s'",
                                LBX_EJECT_STATUS_MAX, val);
        }
        oc->nstatus = (uint32_t)n;
        return NULL;
    }
    return apr_psprintf(p,
                        "LBXEjection: unknown setting '%s' (fails, time, "
                        "maxtime, maxshare, status)",
                        key);
}

/* LBXEjection fails=N [time=T] [maxtime=T] [maxshare=PCT] [status=LIST]
 * or LBXEjection off. */
const char *lbx_conf_set_ejection(cmd_parms *cmd, void *dconf, const char *args)
{
    struct balancer_conf *bc;
    struct lbx_outlier_conf oc;
    const char *err = balancer_conf_of(cmd, &bc);
    char *word;

    (void)dconf;
    if (err) {
        return err;
    }
    oc = bc->outlier;
    oc.fails = 0;
    oc.nstatus = 0;
    if (!ap_cstr_casecmp(args, "off")) {
        bc->outlier = oc;
        return NULL;
    }
    while (*(word = ap_getword_conf(cmd->pool, &args))) {
        char *val = strchr(word, '=');

        if (!val) {
            return apr_psprintf(cmd->pool, "LBXEjection: '%s' is not key=value",
                                word);
        }
        *val++ = '\0';
        if ((err = eject_key(cmd->pool, &oc, word, val)) != NULL) {
            return err;
        }
    }
    if (!oc.fails) {
        return "LBXEjection needs fails=N (or 'off')";
    }
    if (oc.max_us < oc.time_us) {
        return "LBXEjection maxtime must not be shorter than time";
    }
    bc->outlier = oc;
    return NULL;
}

const char *lbx_conf_set_slow_start(cmd_parms *cmd, void *dconf,
                                    const char *val)
{
    struct balancer_conf *bc;
    const char *err = balancer_conf_of(cmd, &bc);

    (void)dconf;
    if (err) {
        return err;
    }
    if (!ap_cstr_casecmp(val, "off")) {
        bc->outlier.slow_start_us = 0;
        return NULL;
    }
    return parse_time(cmd->pool, "LBXSlowStart", val, 0,
                      &bc->outlier.slow_start_us);
}

/* LBXRetryBudget PCT [MIN] or off. */
const char *lbx_conf_set_retry_budget(cmd_parms *cmd, void *dconf,
                                      const char *pct, const char *min)
{
    struct balancer_conf *bc;
    const char *err = balancer_conf_of(cmd, &bc);

    (void)dconf;
    if (err) {
        return err;
    }
    if (!ap_cstr_casecmp(pct, "off") && !min) {
        bc->outlier.budget_pct = 0;
        return NULL;
    }
    if ((err = parse_number(cmd->pool, "LBXRetryBudget's share (%)", pct, 1,
                            100, &bc->outlier.budget_pct))
        != NULL) {
        return err;
    }
    return min ? parse_number(cmd->pool, "LBXRetryBudget's minimum", min, 0,
                              1000000, &bc->outlier.budget_min)
               : NULL;
}

/* ---- member keys -------------------------------------------------------- */

static struct lbx_member_conf *member_conf_of(apr_pool_t *p, proxy_worker *w)
{
    struct lbx_member_conf *mc;

    if (!member_confs) {
        member_confs = apr_hash_make(p);
    }
    mc = apr_hash_get(member_confs, &w, sizeof(w));
    if (!mc) {
        mc = apr_palloc(p, sizeof(*mc));
        mc->eject_fails = -1;
        mc->slow_start_us = -1;
        apr_hash_set(member_confs, apr_pmemdup(p, &w, sizeof(w)), sizeof(w),
                     mc);
    }
    return mc;
}

const char *lbx_conf_set_member_key(apr_pool_t *p, proxy_worker *w,
                                    const char *key, const char *val,
                                    int *known)
{
    const char *err;
    uint64_t t = 0;
    uint32_t n = 0;

    *known = 1;
    if (!ap_cstr_casecmp(key, "ejectfails")) {
        err = parse_number(p, "ejectfails", val, 0, LBX_EJECT_FAILS_MAX, &n);
        if (!err && w) {
            member_conf_of(p, w)->eject_fails = (int)n;
        }
        return err;
    }
    if (!ap_cstr_casecmp(key, "slowstart")) {
        err = parse_time(p, "slowstart", val, 0, &t);
        if (!err && w) {
            member_conf_of(p, w)->slow_start_us = (int64_t)t;
        }
        return err;
    }
    *known = 0;
    return NULL;
}

const struct lbx_member_conf *lbx_conf_member(proxy_worker *w)
{
    return member_confs ? apr_hash_get(member_confs, &w, sizeof(w)) : NULL;
}

void lbx_conf_pre_config(void)
{
    member_confs = NULL; /* the previous reading's pool is gone */
}

/* ---- the route cookie --------------------------------------------------- */

static const char *cookie_key(apr_pool_t *p, struct lbx_cookie_conf *cc,
                              const char *key, const char *val)
{
    char *end;

    if (!ap_cstr_casecmp(key, "path") || !ap_cstr_casecmp(key, "domain")) {
        if (!lbx_cookie_value_ok(val)) {
            return apr_psprintf(p,
                                "LBXRouteCookie %s must be 1 to 255 visible "
                                "ASCII characters without ; , \" \\ or "
                                "space, not '%s'",
                                key, val);
        }
        *(ap_cstr_casecmp(key, "path") ? &cc->domain : &cc->path) = val;
        return NULL;
    }
    if (!ap_cstr_casecmp(key, "maxage")) {
        cc->max_age = apr_isdigit(*val) ? strtol(val, &end, 10) : -1;
        if (cc->max_age < 0 || *end || cc->max_age > 400L * 86400) {
            return apr_psprintf(p,
                                "LBXRouteCookie maxage must be seconds from "
                                "0 to 34560000 (400 days), not '%s'",
                                val);
        }
        return NULL;
    }
    if (!ap_cstr_casecmp(key, "samesite")) {
        cc->samesite = !ap_cstr_casecmp(val, "lax") ? "Lax"
            : !ap_cstr_casecmp(val, "strict")       ? "Strict"
            : !ap_cstr_casecmp(val, "none")         ? "None"
            : !ap_cstr_casecmp(val, "off")          ? NULL
                                                    : "?";
        return cc->samesite && *cc->samesite == '?'
            ? apr_psprintf(p,
                           "LBXRouteCookie samesite must be lax, strict, "
                           "none or off, not '%s'",
                           val)
            : NULL;
    }
    if (!ap_cstr_casecmp(key, "secure")) {
        cc->secure = !ap_cstr_casecmp(val, "on") ? LBX_SECURE_ON
            : !ap_cstr_casecmp(val, "off")       ? LBX_SECURE_OFF
            : !ap_cstr_casecmp(val, "auto")      ? LBX_SECURE_AUTO
                                                 : (enum lbx_cookie_secure) - 1;
        return (int)cc->secure < 0 ? apr_psprintf(p,
                                                  "LBXRouteCookie secure must "
                                                  "be on, off or auto, not "
                                                  "'%s'",
                                                  val)
                                   : NULL;
    }
    if (!ap_cstr_casecmp(key, "httponly")) {
        if (ap_cstr_casecmp(val, "on") && ap_cstr_casecmp(val, "off")) {
            return apr_psprintf(p,
                                "LBXRouteCookie httponly must be on or off, "
                                "not '%s'",
                                val);
        }
        cc->httponly = !ap_cstr_casecmp(val, "on");
        return NULL;
    }
    return apr_psprintf(p,
                        "LBXRouteCookie: unknown setting '%s' (path, domain, "
                        "maxage, samesite, secure, httponly)",
                        key);
}

/* LBXRouteCookie NAME|on [path=/] [domain=D] [maxage=S] [samesite=lax]
 * [secure=auto] [httponly=on], or off. */
const char *lbx_conf_set_route_cookie(cmd_parms *cmd, void *dconf,
                                      const char *args)
{
    struct balancer_conf *bc;
    struct lbx_cookie_conf *cc;
    const char *err = balancer_conf_of(cmd, &bc);
    char *word = ap_getword_conf(cmd->pool, &args);

    (void)dconf;
    if (err) {
        return err;
    }
    if (!ap_cstr_casecmp(word, "off")) {
        bc->cookie = NULL;
        return NULL;
    }
    cc = apr_pcalloc(cmd->pool, sizeof(*cc));
    cc->path = "/";
    cc->samesite = "Lax";
    cc->max_age = -1;
    cc->httponly = 1;
    if (ap_cstr_casecmp(word, "on")) {
        if (!lbx_cookie_name_ok(word)) {
            return apr_psprintf(cmd->pool,
                                "LBXRouteCookie: '%s' is not a cookie name "
                                "(or 'on' for the stickysession name)",
                                word);
        }
        cc->name = word;
    }
    while (*(word = ap_getword_conf(cmd->pool, &args))) {
        char *val = strchr(word, '=');

        if (!val) {
            return apr_psprintf(cmd->pool,
                                "LBXRouteCookie: '%s' is not key=value", word);
        }
        *val++ = '\0';
        if ((err = cookie_key(cmd->pool, cc, word, val)) != NULL) {
            return err;
        }
    }
    if (cc->samesite && !strcmp(cc->samesite, "None")
        && cc->secure == LBX_SECURE_OFF) {
        return "LBXRouteCookie samesite=none needs secure=on or auto "
               "(browsers drop it otherwise)";
    }
    bc->cookie = cc;
    return NULL;
}

struct lbx_cookie_conf *lbx_conf_cookie(server_rec *s, const char *name)
{
    const struct balancer_conf *bc = balancer_conf(s, name);

    return bc ? bc->cookie : NULL;
}

/* ---- routing by a request's variable ------------------------------------ */

static const char *set_expr(cmd_parms *cmd, const char *expr, int lbset)
{
    struct balancer_conf *bc;
    const char *err = balancer_conf_of(cmd, &bc);

    if (err) {
        return err;
    }
    return parse_expr(cmd, expr, lbset ? &bc->lbset_by : &bc->route_by);
}

const char *lbx_conf_set_route_by(cmd_parms *cmd, void *dconf, const char *expr)
{
    (void)dconf;
    return set_expr(cmd, expr, 0);
}

const char *lbx_conf_set_lbset_by(cmd_parms *cmd, void *dconf, const char *expr)
{
    (void)dconf;
    return set_expr(cmd, expr, 1);
}

ap_expr_info_t *lbx_conf_route_by(server_rec *s, const char *name)
{
    const struct balancer_conf *bc = balancer_conf(s, name);

    return bc ? bc->route_by : NULL;
}

ap_expr_info_t *lbx_conf_lbset_by(server_rec *s, const char *name)
{
    const struct balancer_conf *bc = balancer_conf(s, name);

    return bc ? bc->lbset_by : NULL;
}
