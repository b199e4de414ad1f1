/* lbx_conf.c: mod_lbx's per-server configuration (see lbx_conf.h). */
#include "apr_strings.h"
#include "heartbeat.h"

#include "lbx_conf.h"

APLOG_USE_MODULE(lbx);

struct lbx_server_conf {
    const char *hb_path; /* HeartbeatStorage, NULL = not set here */
    struct lbx_hc_ctx *hc; /* ProxyHCExpr/ProxyHCTemplate context */
    apr_hash_t *hash; /* balancer name -> struct lbx_hash_conf */
};

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
    conf->hash = add->hash && base->hash
        ? apr_hash_overlay(p, add->hash, base->hash)
        : add->hash ? add->hash
                    : base->hash;
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

/* ---- byhash settings ---------------------------------------------------- */

/* The settings of the <Proxy balancer://...> section being read. */
static const char *hash_conf_of(cmd_parms *cmd, struct lbx_hash_conf **hc)
{
    struct lbx_server_conf *conf = server_conf(cmd->server);
    const char *name = cmd->path;

    if (!name
        || ap_cstr_casecmpn(name, BALANCER_PREFIX, sizeof(BALANCER_PREFIX) - 1)
            != 0) {
        return apr_pstrcat(cmd->pool, cmd->cmd->name,
                           " belongs inside "
                           "<Proxy balancer://...>",
                           NULL);
    }
    if (!conf->hash) {
        conf->hash = apr_hash_make(cmd->pool);
    }
    *hc = apr_hash_get(conf->hash, name, APR_HASH_KEY_STRING);
    if (!*hc) {
        *hc = apr_pcalloc(cmd->pool, sizeof(**hc));
        apr_hash_set(conf->hash, apr_pstrdup(cmd->pool, name),
                     APR_HASH_KEY_STRING, *hc);
    }
    return NULL;
}

const char *lbx_conf_set_hash_key(cmd_parms *cmd, void *dconf, const char *expr)
{
    struct lbx_hash_conf *hc;
    const char *err = hash_conf_of(cmd, &hc);

    (void)dconf;
    if (err) {
        return err;
    }
    hc->key =
        ap_expr_parse_cmd(cmd, expr, AP_EXPR_FLAG_STRING_RESULT, &err, NULL);
    if (err) {
        return apr_psprintf(cmd->pool, "LBXHashKey: cannot parse \"%s\": %s",
                            expr, err);
    }
    return NULL;
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
    struct lbx_server_conf *conf = s && name ? server_conf(s) : NULL;
    const struct lbx_hash_conf *hc = conf && conf->hash
        ? apr_hash_get(conf->hash, name, APR_HASH_KEY_STRING)
        : NULL;

    return hc ? hc : &defaults;
}
