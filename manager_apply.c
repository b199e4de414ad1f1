/* manager_apply.c: a balancer-manager edit applied to shared memory.
 *
 * The same code serves the manager's own requests (manager.c) and edits
 * made on another front-end of a fleet (fleet.c), which arrive without a
 * request: everything here works from a pool and a server, and logs to
 * the request when there is one.  Values are validated (manager_core.c)
 * before anything changes: an edit with one bad value changes nothing.
 */
#include "apr_strings.h"
#include "ap_provider.h"

#include "manager_apply.h"
#include "stats.h"
#include "hcheck_conf.h"
#include "lbx_shm.h"
#include "outlier.h"
#include "lbx_hot.h"

APLOG_USE_MODULE(lbx);

/* To the manager's request when there is one, else to the server. */
#define MGR_LOG(m, level, rv, ...) \
    do { \
        if ((m)->r) { \
            ap_log_rerror(APLOG_MARK, (level), (rv), (m)->r, __VA_ARGS__); \
        } \
        else { \
            ap_log_error(APLOG_MARK, (level), (rv), (m)->s, __VA_ARGS__); \
        } \
    } while (0)

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

/* What only httpd can check of a member edit (method and expression
 * names, that a removal is allowed), before anything changes: the
 * method into *method.  An error message or NULL. */
static const char *check_worker(struct lbx_mgr_apply *m,
                                const struct lbx_mgr_worker_edit *e,
                                const hcmethod_t **method)
{
    *method = NULL;
    if ((e->set & LBX_MW_METHOD) && !(*method = method_by_name(e->method))) {
        return apr_psprintf(m->pool,
                            "w_hm: %s (not an available health "
                            "check method)",
                            e->method);
    }
    if ((e->set & LBX_MW_HCEXPR) && *e->hcexpr
        && !lbx_hc_expr_known(m->s, e->hcexpr)) {
        return apr_psprintf(m->pool, "w_he: %s (no such ProxyHCExpr)",
                            e->hcexpr);
    }
    if ((e->set & LBX_MW_REMOVE) && lbx_shm_config_member(m->bsel, m->wsel)) {
        return "w_remove: members from the configuration cannot be "
               "removed, only disabled";
    }
    return NULL;
}

/* Apply a checked member edit. */
static void apply_worker(struct lbx_mgr_apply *m,
                         const struct lbx_mgr_worker_edit *e,
                         const hcmethod_t *method)
{
    proxy_worker *w = m->wsel;
    proxy_balancer *b = m->bsel;
    int was_usable = PROXY_WORKER_IS_USABLE(w);
    size_t i;

    if (e->set & LBX_MW_REMOVE) {
        lbx_status_set(w, PROXY_WORKER_STOPPED | PROXY_WORKER_FREE);
        /* Its route must not keep sessions (or nofailover 503s) alive. */
        *w->s->route = '\0';
        *w->s->redirect = '\0';
        MGR_LOG(m, APLOG_NOTICE, 0,
                LBXLOGNO(20030) "balancer-manager: removed %s from %s",
                w->s->name_ex, b->s->name);
        lbx_hot_changed(b);
        return;
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
static enum add_outcome add_locked(struct lbx_mgr_apply *m, const char *url,
                                   const char **why, apr_status_t *rv)
{
    proxy_balancer *b = m->bsel;
    proxy_worker *w;

    ap_proxy_sync_balancer(b, m->s, m->conf);
    w = ap_proxy_get_worker(m->pool, b, m->conf, url);
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
        *rv = ap_proxy_initialize_worker(w, m->s, m->conf->pool);
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
static const char *add_member(struct lbx_mgr_apply *m, const char *url)
{
    proxy_balancer *b = m->bsel;
    const char *why = NULL;
    apr_status_t rv = APR_SUCCESS;
    enum add_outcome outcome;

    if (!b->wslot || PROXY_GLOBAL_LOCK(b) != APR_SUCCESS) {
        MGR_LOG(m, APLOG_ERR, 0,
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
        MGR_LOG(m, APLOG_NOTICE, 0,
                LBXLOGNO(20032) "balancer-manager: re-added removed "
                                "member %s to %s (disabled)",
                url, b->s->name);
        return NULL;
    case ADD_EXISTS:
        if (!m->r) {
            return NULL; /* from the fleet: added here already */
        }
        MGR_LOG(m, APLOG_ERR, 0,
                LBXLOGNO(10164) "balancer-manager: member %s already "
                                "exists in %s",
                url, b->s->name);
        return apr_psprintf(m->pool,
                            "b_nwrkr: %s (a member already matches "
                            "this URL)",
                            url);
    case ADD_FULL:
        MGR_LOG(m, APLOG_ERR, 0,
                LBXLOGNO(10163) "balancer-manager: no free member slot "
                                "in %s (growth exhausted)",
                b->s->name);
        return "b_nwrkr: no room for another member (raise growth= on the "
               "balancer)";
    case ADD_FAILED:
        MGR_LOG(m, APLOG_ERR, rv,
                LBXLOGNO(01195) "balancer-manager: cannot add %s to %s: "
                                "%s",
                url, b->s->name, why);
        return apr_psprintf(m->pool, "b_nwrkr: %s (%s)", url, why);
    default:
        MGR_LOG(m, APLOG_NOTICE, 0,
                LBXLOGNO(20031) "balancer-manager: added %s to %s "
                                "(disabled)",
                url, b->s->name);
        return NULL;
    }
}

/* What only httpd can check of a balancer edit (the lbmethod exists),
 * before anything changes: the method into *lbm. */
static const char *check_balancer(struct lbx_mgr_apply *m,
                                  const struct lbx_mgr_balancer_edit *e,
                                  proxy_balancer_method **lbm)
{
    *lbm = NULL;
    if ((e->set & LBX_MB_LBMETHOD)
        && !(*lbm = ap_lookup_provider(PROXY_LBMETHOD, e->lbmethod, "0"))) {
        return apr_psprintf(m->pool, "b_lbm: %s (no such lbmethod)",
                            e->lbmethod);
    }
    return NULL;
}

/* Apply a checked balancer edit (a member to add was added already). */
static void apply_balancer(struct lbx_mgr_apply *m,
                           const struct lbx_mgr_balancer_edit *e,
                           proxy_balancer_method *lbm)
{
    proxy_balancer *b = m->bsel;

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
}

/* Validate everything, then apply: a request with one bad value changes
 * nothing.  Adding a member is the one step that can still fail once the
 * values are known good (no free slot, shared memory), so it comes first:
 * when it fails, nothing else has changed either. */
const char *lbx_mgr_apply(struct lbx_mgr_apply *m,
                          const struct lbx_mgr_param *params, int n)
{
    struct lbx_mgr_worker_edit we;
    struct lbx_mgr_balancer_edit be;
    const hcmethod_t *method = NULL;
    proxy_balancer_method *lbm;
    char err[256];
    const char *msg;

    if (m->wsel
        && (msg = lbx_mgr_worker_edit(params, n, &we, err, sizeof(err)))) {
        return apr_pstrdup(m->pool, msg);
    }
    if ((msg = lbx_mgr_balancer_edit(params, n, &be, err, sizeof(err)))) {
        return apr_pstrdup(m->pool, msg);
    }
    if ((m->wsel && (msg = check_worker(m, &we, &method)))
        || (msg = check_balancer(m, &be, &lbm))) {
        return msg;
    }
    if ((be.set & LBX_MB_ADD) && (msg = add_member(m, be.new_member))) {
        return msg;
    }
    if (m->wsel) {
        apply_worker(m, &we, method);
        lbx_stats_edited(m->bsel, m->wsel,
                         m->r ? m->r->useragent_ip : "the fleet (LBXFleet)",
                         apr_time_now());
    }
    apply_balancer(m, &be, lbm);
    return NULL;
}

void lbx_mgr_sync_all(server_rec *s, proxy_server_conf *conf)
{
    proxy_balancer *b = (proxy_balancer *)conf->balancers->elts;
    int i;

    for (i = 0; i < conf->balancers->nelts; i++) {
        apr_status_t rv = PROXY_THREAD_LOCK(&b[i]);
        if (rv != APR_SUCCESS) {
            ap_log_error(APLOG_MARK, APLOG_ERR, rv, s,
                         LBXLOGNO(01189) "%s: Lock failed for balancer_handler",
                         b[i].s->name);
            continue;
        }
        ap_proxy_sync_balancer(&b[i], s, conf);
        PROXY_THREAD_UNLOCK(&b[i]);
    }
}

void lbx_mgr_select(struct lbx_mgr_apply *m, const struct lbx_mgr_param *params,
                    int n)
{
    const char *name;

    m->bsel = NULL;
    m->wsel = NULL;
    if ((name = lbx_mgr_get(params, n, "b"))) {
        m->bsel = ap_proxy_get_balancer(
            m->pool, m->conf, apr_pstrcat(m->pool, BALANCER_PREFIX, name, NULL),
            0);
    }
    if (m->bsel && (name = lbx_mgr_get(params, n, "w"))) {
        m->wsel = ap_proxy_get_worker(m->pool, m->bsel, m->conf, name);
        /* A removed member is gone as far as edits are concerned. */
        if (m->wsel && LBX_MEMBER_REMOVED(m->wsel)) {
            m->wsel = NULL;
        }
    }
}
