/* hcheck.c: health checks, in place of stock mod_proxy_hcheck.
 *
 * One watchdog callback, in a single child (mod_watchdog's singleton),
 * every 100 ms looks at every member of every balancer once (a member
 * inherited by several vhosts is one member) and starts a check for each
 * one whose interval is over.  `updated == 0` marks a check in flight, so
 * checks of one member never pile up.  Checks run in a thread pool, or
 * inline with ProxyHCTPsize 0.  The configuration is hcheck_conf.c's, a
 * check itself hcheck_probe.c's, the pass/fail counting pure
 * (hcheck_core.c).  With LBXFleet, a member whose check lease another
 * front-end holds is not checked here (lbx_hot's checked_elsewhere; its
 * verdict comes from the fleet, fleet_health.c).
 */
#include "apr_hash.h"
#include "apr_thread_pool.h"
#include "mod_watchdog.h"

#include "hcheck.h"
#include "hcheck_conf.h"
#include "hcheck_core.h"
#include "hcheck_probe.h"
#include "lbx_hot.h"
#include "outlier.h"
#include "stats.h"

APLOG_USE_MODULE(lbx);

#define HC_WATCHDOG_NAME "_proxy_hcheck_"

/* Made in child_init: the thread pool and the address table must outlive
 * the temporary pool mod_watchdog passes to each callback. */
static apr_pool_t *hc_child_pool;
static apr_thread_pool_t *hc_pool;
static ap_watchdog_t *hc_watchdog;

/* ---- one check ---------------------------------------------------------- */

/* Apply the result to the member's shared state (only this check touches
 * pcount/fcount: one check per member is in flight at a time). */
static void apply_result(struct lbx_hc_task *t, int ok)
{
    proxy_worker *w = t->w;
    int out =
        (w->s->status & (PROXY_WORKER_HC_FAIL | PROXY_WORKER_IN_ERROR)) != 0;
    struct lbx_hc_counts counts = { w->s->pcount, w->s->fcount };
    const struct lbx_hc_extra *x = lbx_hc_extra_of(w);
    enum lbx_hc_change change;

    if (!ok && !out) {
        w->s->error_time = apr_time_now();
    }
    change = lbx_hc_step(&counts, out, ok, w->s->passes, w->s->fails,
                         x && x->consecutive);
    w->s->pcount = counts.pcount;
    w->s->fcount = counts.fcount;
    if (change == LBX_HC_ENABLE) {
        lbx_status_clear(w, PROXY_WORKER_HC_FAIL | PROXY_WORKER_IN_ERROR);
        ap_log_error(APLOG_MARK, APLOG_INFO, 0, t->s,
                     LBXLOGNO(03302) "%sHealth check ENABLING %s",
                     t->threaded ? "Threaded " : "", w->s->name_ex);
    }
    else if (change == LBX_HC_DISABLE) {
        lbx_status_set(w, PROXY_WORKER_HC_FAIL);
        ap_log_error(APLOG_MARK, APLOG_INFO, 0, t->s,
                     LBXLOGNO(03303) "%sHealth check DISABLING %s",
                     t->threaded ? "Threaded " : "", w->s->name_ex);
    }
    if (change != LBX_HC_NO_CHANGE) {
        lbx_outlier_note(t->b, w); /* slow start from here */
        lbx_hot_changed(t->b);
    }
}

static void *APR_THREAD_FUNC check_member(apr_thread_t *thread, void *data)
{
    struct lbx_hc_task *t = data;
    proxy_worker *w = t->w;
    struct lbx_hot *hot = lbx_hot_of(t->b);
    long slot = lbx_hot_slot(hot, w);
    int ok;

    apr_time_t start = apr_time_now();

    (void)thread;
    ok = lbx_hc_probe(t);
    lbx_stats_check(t->b, w, (int)t->result, apr_time_now() - start);
    /* A check that outlived this front-end's lease (LBXFleet): the new
     * holder's verdict counts, not this one. */
    if (slot < 0
        || lbx_atomic_load(&hot->checked_elsewhere[slot])
            <= (uint64_t)apr_time_now()) {
        apply_result(t, ok);
    }
    lbx_outlier_checked(t->b, w, t->result, t->status, t->s);
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

static void start_check(proxy_worker *w, proxy_balancer *b, server_rec *s)
{
    struct lbx_hc_task *t;
    apr_pool_t *p;

    if (lbx_hc_task_pool(&p) != APR_SUCCESS) {
        return;
    }
    t = apr_pcalloc(p, sizeof(*t));
    t->pool = p;
    t->w = w;
    t->b = b;
    t->s = s;
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

/* A visit of every member: the same member seen through several vhosts is
 * visited once, with the first server it was seen under. */
struct member_visit {
    void (*fn)(proxy_worker *w, proxy_balancer *b, server_rec *s,
               apr_time_t now);
    apr_time_t now;
    int sync; /* adopt other processes' edits first */
    apr_pool_t *p;
    apr_hash_t *seen;
};

static int visit_balancer(server_rec *s, proxy_server_conf *conf,
                          proxy_balancer *b, void *data)
{
    struct member_visit *v = data;
    proxy_worker **workers;
    int j, n;

    if (v->sync && PROXY_THREAD_LOCK(b) == APR_SUCCESS) {
        ap_proxy_sync_balancer(b, s, conf);
        PROXY_THREAD_UNLOCK(b);
    }
    workers = (proxy_worker **)b->workers->elts;
    n = b->workers->nelts;
    for (j = 0; j < n; j++) {
        proxy_worker_shared *ws = workers[j]->s;
        if (apr_hash_get(v->seen, &ws, sizeof(ws))) {
            continue;
        }
        apr_hash_set(v->seen, apr_pmemdup(v->p, &ws, sizeof(ws)), sizeof(ws),
                     ws);
        v->fn(workers[j], b, s, v->now);
    }
    return 0;
}

static void for_each_member(server_rec *main_s, apr_pool_t *p,
                            void (*fn)(proxy_worker *, proxy_balancer *,
                                       server_rec *, apr_time_t),
                            int sync)
{
    struct member_visit v = { fn, apr_time_now(), sync, p, NULL };

    v.seen = apr_hash_make(p);
    lbx_each_balancer(main_s, visit_balancer, &v);
}

static void mark_fresh(proxy_worker *w, proxy_balancer *b, server_rec *s,
                       apr_time_t now)
{
    apr_time_t zero = 0;

    (void)b;
    (void)s;
    /* A check in flight when the previous watchdog child went away would
     * otherwise keep the member unchecked forever. */
    __atomic_compare_exchange_n(&w->s->updated, &zero, now, 0, __ATOMIC_RELAXED,
                                __ATOMIC_RELAXED);
}

static void maybe_check(proxy_worker *w, proxy_balancer *b, server_rec *s,
                        apr_time_t now)
{
    struct lbx_hot *hot = lbx_hot_of(b);
    long slot = lbx_hot_slot(hot, w);

    if (slot >= 0
        && lbx_atomic_load(&hot->checked_elsewhere[slot]) > (uint64_t)now) {
        return; /* another front-end of the fleet checks it (LBXFleet) */
    }
    if (due(w, now)) {
        start_check(w, b, s);
    }
}

/* Members that share an interval would otherwise all be checked on the
 * same tick, forever (1,000 members, one burst of 1,000 connections per
 * interval).  When the watchdog starts, member j of a balancer's n gets
 * its first check j + 1 n-ths of an interval from now instead of a whole
 * interval: the checks of a balancer are spread evenly over the interval
 * and stay so, each one following its own previous check.  No member is
 * checked later than it would have been. */
static int spread_first_checks(server_rec *s, proxy_server_conf *conf,
                               proxy_balancer *b, void *data)
{
    proxy_worker **workers = (proxy_worker **)b->workers->elts;
    apr_time_t now = *(apr_time_t *)data;
    int j, n = b->workers->nelts;

    (void)s;
    (void)conf;
    for (j = 0; j < n; j++) {
        proxy_worker_shared *ws = workers[j]->s;
        apr_time_t updated = lbx_atomic_load(&ws->updated);
        apr_time_t first = now - ws->interval + ws->interval * (j + 1) / n;

        if (updated != 0 && first < updated) {
            __atomic_compare_exchange_n(&ws->updated, &updated, first, 0,
                                        __ATOMIC_RELAXED, __ATOMIC_RELAXED);
        }
    }
    return 0;
}

static void watchdog_starting(server_rec *main_s, apr_pool_t *pool)
{
    apr_time_t now = apr_time_now();

    int threads = lbx_hc_threads();

    hc_pool = NULL;
    if (threads > 0
        && apr_thread_pool_create(&hc_pool, (apr_size_t)threads,
                                  (apr_size_t)threads, hc_child_pool)
            != APR_SUCCESS) {
        ap_log_error(
            APLOG_MARK, APLOG_WARNING, 0, main_s,
            LBXLOGNO(
                20021) "cannot create the health check thread pool; checking "
                       "one member at a time");
        hc_pool = NULL;
    }
    for_each_member(main_s, pool, mark_fresh, 0);
    lbx_each_balancer(main_s, spread_first_checks, &now);
}

static apr_status_t hc_watchdog_cb(int state, void *data, apr_pool_t *pool)
{
    server_rec *main_s = data;

    /* `pool` lives for one call: mod_watchdog makes it per tick. */
    switch (state) {
    case AP_WATCHDOG_STATE_STARTING: watchdog_starting(main_s, pool); break;
    case AP_WATCHDOG_STATE_RUNNING:
        for_each_member(main_s, pool, maybe_check, 1);
        /* The same single thread keeps the metrics' background work. */
        lbx_stats_tick(main_s, apr_time_now());
        break;
    case AP_WATCHDOG_STATE_STOPPING: {
        apr_thread_pool_t *tp =
            __atomic_exchange_n(&hc_pool, NULL, __ATOMIC_ACQ_REL);
        if (tp) {
            /* Waits for checks in flight; each ends within its timeout. */
            apr_thread_pool_destroy(tp);
        }
        break;
    }
    }
    return APR_SUCCESS;
}

/* ---- start-up ----------------------------------------------------------- */

void lbx_hc_child_init(apr_pool_t *pchild)
{
    (void)pchild;
    /* Not a subpool of pchild: APR destroys subpools before pchild's
     * cleanups, one of which joins the watchdog thread, which destroys the
     * thread pool in its STOPPING state; owning it from pchild as well
     * deadlocked exiting children with a check in flight. */
    apr_pool_create_unmanaged_ex(&hc_child_pool, NULL, NULL);
    lbx_hc_probe_child_init(hc_child_pool);
}

void lbx_hc_pre_config(void)
{
    proxy_hcmethods_t *m;

    lbx_hc_conf_pre_config();
    hc_pool = NULL;
    hc_watchdog = NULL;
    /* CPING is a method only with mod_proxy_ajp (stock marks it in
     * mod_proxy's table the same way). */
    if (!APR_RETRIEVE_OPTIONAL_FN(ajp_handle_cping_cpong)) {
        return;
    }
    for (m = proxy_hcmethods; m->name; m++) {
        if (m->method == CPING) {
            m->implemented = 1;
        }
    }
}

static int warn_tls(server_rec *s, proxy_server_conf *conf, proxy_balancer *b,
                    void *ctx)
{
    proxy_worker **w = (proxy_worker **)b->workers->elts;
    int j;

    (void)conf;
    (void)ctx;
    for (j = 0; j < b->workers->nelts; j++) {
        hcmethod_t m = w[j]->s->method;
        if (lbx_hc_method_has_expr(m) && lbx_hc_is_tls(w[j]->s->scheme)
            && !ap_find_linked_module("mod_ssl.c")) {
            ap_log_error(
                APLOG_MARK, APLOG_WARNING, 0, s,
                LBXLOGNO(20022) "health check of %s: %s over TLS needs "
                                "mod_ssl (and SSLProxyEngine on); the checks "
                                "will fail",
                w[j]->s->name_ex, ap_proxy_show_hcmethod(m));
        }
    }
    return 0;
}

static int any_balancer(server_rec *s, proxy_server_conf *conf,
                        proxy_balancer *b, void *ctx)
{
    (void)s;
    (void)conf;
    (void)b;
    (void)ctx;
    return 1;
}

int lbx_hc_post_config(apr_pool_t *pconf, server_rec *main_s)
{
    APR_OPTIONAL_FN_TYPE(ap_watchdog_get_instance) * get_instance;
    APR_OPTIONAL_FN_TYPE(ap_watchdog_register_callback) * register_cb;
    apr_status_t rv;

    if (!lbx_each_balancer(main_s, any_balancer, NULL)) {
        return OK;
    }
    lbx_each_balancer(main_s, warn_tls, NULL);
    get_instance = APR_RETRIEVE_OPTIONAL_FN(ap_watchdog_get_instance);
    register_cb = APR_RETRIEVE_OPTIONAL_FN(ap_watchdog_register_callback);
    if (!get_instance || !register_cb) {
        ap_log_error(
            APLOG_MARK, APLOG_EMERG, 0, main_s,
            LBXLOGNO(03262) "mod_watchdog is required for health checks");
        return !OK;
    }
    rv = get_instance(&hc_watchdog, HC_WATCHDOG_NAME, 0, 1, pconf);
    if (rv == APR_SUCCESS) {
        rv = register_cb(hc_watchdog, AP_WD_TM_SLICE, main_s, hc_watchdog_cb);
    }
    if (rv != APR_SUCCESS) {
        ap_log_error(
            APLOG_MARK, APLOG_EMERG, rv, main_s,
            LBXLOGNO(03263) "Failed to register the health check watchdog");
        return !OK;
    }
    return OK;
}
