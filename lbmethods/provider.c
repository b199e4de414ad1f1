/* provider.c: the one adapter between mod_proxy's proxy_balancer_method and
 * mod_lbx's pure selection cores (struct lbx_method).
 *
 * The stock-named methods share one finder: the engine (engine.c) hands
 * over the candidates as stock's rules give them, the core picks, the
 * engine accounts for the pick.  heartbeat has a finder of its own (it
 * offers members by their reports).  Finders run under the balancer's
 * per-process thread mutex (request.c takes it, as stock's
 * find_best_worker does); other processes update the same shared counters
 * concurrently, with atomics: a pick may be made on slightly stale
 * numbers, but no update is lost.
 */
#include "apr_strings.h"
#include "ap_provider.h"

#include "provider.h"
#include "engine.h"
#include "hb_reports.h"
#include "lbx_hot.h"
#include "lbx_method.h"
#include "outlier.h"

APLOG_USE_MODULE(lbx);

static uint32_t random_u32(void *ctx)
{
    uint32_t v;

    (void)ctx;
    ap_random_insecure_bytes(&v, sizeof(v));
    return v;
}

static proxy_worker *lbx_finder(proxy_balancer *b, request_rec *r)
{
    const struct lbx_method *m = b->lbmethod->context;
    int credit = (m->reset_counters & LBX_RESET_CREDIT) != 0;
    struct lbx_pick p;
    proxy_worker *w = NULL;
    size_t count = 0;
    long pick = LBX_NONE;
    int attempt;

    /* A second attempt when the chosen member turned out unusable: the
     * list was built before another process marked it (the engine then
     * builds it again). */
    for (attempt = 0; attempt < 2 && !w; attempt++) {
        count = lbx_engine_prepare(&p, b, r);
        p.in.rand = random_u32;
        if (m == &lbx_method_byhash) {
            lbx_engine_hash(&p, r);
        }
        pick = lbx_engine_pick(&p, m);
        pick = lbx_engine_slow_start(&p, m, pick, credit, r->request_time);
        w = lbx_engine_commit(&p, pick, credit);
        if (pick == LBX_NONE) {
            break;
        }
    }
    if (!w) {
        ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r,
                      LBXLOGNO(20041) "%s: %s found no usable member among %d "
                                      "candidates",
                      b->s->name, m->name, (int)count);
        return NULL;
    }
    ap_log_rerror(
        APLOG_MARK, APLOG_DEBUG, 0, r,
        LBXLOGNO(
            20040) "%s: %s selected worker \"%s\" : busy %" APR_UINT64_T_FMT
                   " : lbstatus %" APR_INT64_T_FMT " (from %d candidates)",
        b->s->name, m->name, w->s->name_ex, p.in.peers[pick].busy,
        p.in.peers[pick].credit, (int)count);
    return w;
}

/* Called by mod_proxy's ap_proxy_sync_balancer() after an lbmethod change:
 * stock zeroes the counters the new method reads. */
static apr_status_t lbx_reset(proxy_balancer *b, server_rec *s)
{
    const struct lbx_method *m = b->lbmethod->context;
    proxy_worker **workers = (proxy_worker **)b->workers->elts;
    struct lbx_hot *hot = lbx_hot_of(b);
    int i;

    (void)s;
    if (hot && (m->reset_counters & LBX_RESET_CREDIT)) {
        for (i = 0; i < LBX_LBSETS; i++) {
            lbx_atomic_store(&hot->picks[i], 0);
            lbx_atomic_store(&hot->ticket[i], 0);
        }
        lbx_atomic_store(&hot->sticky_rounds, 0);
    }
    for (i = 0; i < b->workers->nelts; i++) {
        proxy_worker_shared *ws = workers[i]->s;
        long slot = lbx_hot_slot(hot, workers[i]);

        if (m->reset_counters & LBX_RESET_CREDIT) {
            lbx_atomic_store(&ws->lbstatus, 0);
            if (slot >= 0) {
                lbx_atomic_store(&hot->debt[slot], 0);
                lbx_atomic_store(&hot->out_since[slot], 0);
            }
        }
        if (m->reset_counters & LBX_RESET_BYTES) {
            lbx_atomic_store(&ws->transferred, 0);
            lbx_atomic_store(&ws->read, 0);
            if (slot >= 0) {
                lbx_atomic_store(&hot->sent[slot], 0);
                lbx_atomic_store(&hot->rcvd[slot], 0);
            }
        }
    }
    lbx_hot_changed(b);
    return APR_SUCCESS;
}

/* `age` stays NULL: nothing in httpd 2.4 calls it.  `updatelbstatus` stays
 * NULL as in every stock method, so sticky hits get stock's default credit
 * accounting (lbx_engine_sticky_hit, called by request.c). */
#define CORE_PROVIDER(method) \
    { \
        .name = #method, .finder = lbx_finder, .reset = lbx_reset, \
        .context = (void *)&lbx_method_##method \
    }

static proxy_balancer_method core_providers[] = {
    CORE_PROVIDER(byrequests), CORE_PROVIDER(bytraffic),
    CORE_PROVIDER(bybusyness), CORE_PROVIDER(bylatency),
    CORE_PROVIDER(byhash),
};

/* What heartbeat keeps per balancer and process: the reports as last
 * read, and the candidates they gave, with where each one's share of the
 * draw starts, until the reports, the members or their states change. */
struct heartbeat_state {
    size_t cap;
    struct lbx_hb_reports *hb;
    size_t count; /* candidates */
    size_t *index; /* candidate k is b->workers[index[k]] */
    uint32_t *ready; /* ... reporting ready[k] */
    uint64_t *starts; /* lbx_hb_starts of ready */
    uint64_t sum;
    int built;
    unsigned version; /* lbx_hb_reports_version they were built from */
    uint64_t gen; /* lbx_hot's gen then */
    int nmembers;
    apr_time_t refresh_at;
};

/* Made at the first heartbeat pick of a balancer in this process, from
 * the engine's pool (under the balancer's mutex), again if it grew. */
static struct heartbeat_state *heartbeat_state(proxy_balancer *b, size_t n,
                                               apr_pool_t *p)
{
    apr_pool_t *pool;
    void **slot = lbx_engine_method_state(b, p, &pool);
    struct heartbeat_state *st = *slot;

    if (!st || st->cap < n) {
        st = apr_pcalloc(pool, sizeof(*st));
        st->cap = n ? n : 1;
        st->hb = lbx_hb_reports_make(pool);
        st->index = apr_pcalloc(pool, st->cap * sizeof(*st->index));
        st->ready = apr_pcalloc(pool, st->cap * sizeof(*st->ready));
        st->starts = apr_pcalloc(pool, st->cap * sizeof(*st->starts));
        *slot = st;
    }
    return st;
}

/* heartbeat does not use the eligibility walk: like stock, it ignores
 * lbsets, spares, standbys, draining and weights, and offers every usable
 * member that reports fresh capacity, in proportion to what it reports.
 * An unusable member gets its retry here, as stock retries on every
 * request. */
static void heartbeat_candidates(struct heartbeat_state *sc, proxy_balancer *b,
                                 request_rec *r)
{
    proxy_worker **workers = (proxy_worker **)b->workers->elts;
    struct lbx_hot *hot = lbx_hot_of(b);
    size_t n = (size_t)b->workers->nelts, i;

    sc->count = 0;
    for (i = 0; i < n; i++) {
        proxy_worker *w = workers[i];
        const struct lbx_hb_server *srv =
            lbx_hb_reports_find(sc->hb, w->s->hostname_ex);

        if (!srv) {
            ap_log_rerror(
                APLOG_MARK, APLOG_DEBUG, 0, r,
                LBXLOGNO(01214) "lb_heartbeat: No server for worker %s",
                w->s->name_ex);
            continue;
        }
        if (!PROXY_WORKER_IS_USABLE(w)) {
            lbx_retry_worker(w, r->server);
        }
        lbx_outlier_seen(hot, lbx_hot_slot(hot, w), lbx_outlier_usable(hot, w),
                         apr_time_now());
        if (lbx_outlier_usable(hot, w) && srv->seen < LBX_HB_MAX_LASTSEEN) {
            sc->ready[sc->count] = srv->ready < 0 ? 0 : (uint32_t)srv->ready;
            sc->index[sc->count++] = i;
        }
    }
    sc->sum = lbx_hb_starts(sc->ready, sc->count, sc->starts);
    sc->built = 1;
    sc->nmembers = b->workers->nelts;
    /* Reports age by the second, and members in error are due for their
     * retry: look again within a second at the latest. */
    sc->refresh_at = r->request_time + apr_time_from_sec(1);
}

/* A draw by the reports.  With slow start, a member in its ramp keeps a
 * draw with the probability of its share, else the draw is made again
 * (three at most). */
static proxy_worker *heartbeat_draw(const struct heartbeat_state *sc,
                                    proxy_worker **workers,
                                    const struct lbx_hot *hot, apr_time_t now)
{
    proxy_worker *w = NULL;
    int draws;

    for (draws = 0; draws < 3; draws++) {
        long pick = lbx_hb_owner(sc->starts, sc->count, sc->sum,
                                 lbx_hb_point(random_u32, NULL, sc->sum));
        unsigned share;

        w = workers[sc->index[pick]];
        share = lbx_outlier_ramp(hot, lbx_hot_slot(hot, w), now);
        if (share >= 1000 || lbx_slow_start_admit(share, random_u32(NULL))) {
            break;
        }
    }
    return w;
}

/* The candidates stay until the reports are read anew (for the slotmem:
 * every request, as stock reads them), the members or their states change
 * (lbx_hot's gen), or a second passes; a pick is then a binary search. */
static proxy_worker *heartbeat_finder(proxy_balancer *b, request_rec *r)
{
    proxy_worker **workers = (proxy_worker **)b->workers->elts;
    struct heartbeat_state *sc =
        heartbeat_state(b, (size_t)b->workers->nelts, r->pool);
    struct lbx_hot *hot = lbx_hot_of(b);
    uint64_t gen = hot ? lbx_atomic_load(&hot->gen) : 0;
    apr_status_t rv;
    int attempt;

    rv = lbx_hb_reports_load(sc->hb, r);
    if (rv != APR_SUCCESS) {
        ap_log_rerror(
            APLOG_MARK, APLOG_ERR, rv, r,
            LBXLOGNO(01213) "lb_heartbeat: Unable to read heartbeats at '%s'",
            lbx_hb_reports_source(r));
        return NULL;
    }
    for (attempt = 0; attempt < 2; attempt++) {
        proxy_worker *w;

        if (!sc->built || sc->version != lbx_hb_reports_version(sc->hb)
            || sc->gen != gen || sc->nmembers != b->workers->nelts
            || r->request_time >= sc->refresh_at) {
            heartbeat_candidates(sc, b, r);
            sc->version = lbx_hb_reports_version(sc->hb);
            sc->gen = gen;
        }
        if (sc->sum == 0) {
            return NULL;
        }
        w = heartbeat_draw(sc, workers, hot, r->request_time);
        if (lbx_outlier_usable(hot, w)) {
            return w;
        }
        sc->built = 0; /* it failed since: look at every member again */
    }
    return NULL;
}

static proxy_balancer_method heartbeat_provider = {
    .name = "heartbeat",
    .finder = heartbeat_finder,
};

void lbx_register_providers(apr_pool_t *p)
{
    size_t i;

    for (i = 0; i < sizeof(core_providers) / sizeof(core_providers[0]); i++) {
        ap_register_provider(p, PROXY_LBMETHOD, core_providers[i].name, "0",
                             &core_providers[i]);
    }
    ap_register_provider(p, PROXY_LBMETHOD, heartbeat_provider.name, "0",
                         &heartbeat_provider);
}
