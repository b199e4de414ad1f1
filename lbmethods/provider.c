/* provider.c: the one adapter between mod_proxy's proxy_balancer_method and
 * mod_lbx's pure selection cores (struct lbx_method).
 *
 * The stock-named methods share one finder: snapshot the members, let
 * lbx_eligible() apply stock's lbset/spare/standby rules, let the core
 * pick, write its credit changes back to shared memory as atomic deltas.
 * heartbeat has a finder of its own (it offers members by their reports).
 * Finders run under the balancer's per-process thread mutex (request.c
 * takes it, as stock's find_best_worker does), which protects the scratch
 * arrays; other processes update the same shared counters concurrently,
 * which the atomic deltas tolerate: a pick may be made on slightly stale
 * credits, but no update is lost.
 */
#include "apr_hash.h"
#include "apr_strings.h"
#include "ap_provider.h"

#include "provider.h"
#include "hb_reports.h"
#include "lbx_method.h"

APLOG_USE_MODULE(lbx);

/* Per-process scratch for one balancer's selection: sized for the most
 * members the balancer can ever have (max_workers), so the request path
 * never allocates.  Used only under the balancer's thread mutex. */
struct scratch {
    apr_pool_t *pool; /* for lazily made per-method state */
    struct lbx_hb_reports *hb; /* heartbeat reports, when used */
    size_t cap;
    struct lbx_member *members;
    struct lbx_peer *peers;
    int64_t *credit0; /* credits as read, to write back deltas */
    size_t *index; /* peer k is balancer member index[k] */
};

/* balancer pointer -> struct scratch, built in child_init and only read
 * afterwards, so request threads may look it up without a lock. */
static apr_hash_t *scratches;

static struct scratch *scratch_make(apr_pool_t *p, size_t cap)
{
    struct scratch *sc = apr_pcalloc(p, sizeof(*sc));

    if (cap == 0) {
        cap = 1;
    }
    sc->cap = cap;
    sc->members = apr_pcalloc(p, cap * sizeof(*sc->members));
    sc->peers = apr_pcalloc(p, cap * sizeof(*sc->peers));
    sc->credit0 = apr_pcalloc(p, cap * sizeof(*sc->credit0));
    sc->index = apr_pcalloc(p, cap * sizeof(*sc->index));
    sc->pool = p;
    return sc;
}

/* Scratch for `n` members of balancer `b` (read nelts once and pass it:
 * inherited copies of a balancer share one workers array, which a sync on
 * another copy may grow meanwhile).  Falls back to allocating from `p`
 * when n exceeds what child_init sized it for. */
static struct scratch *scratch_get(proxy_balancer *b, size_t n, apr_pool_t *p)
{
    struct scratch *sc = NULL;

    if (scratches) {
        sc = apr_hash_get(scratches, &b, sizeof(b));
    }
    if (!sc || sc->cap < n) {
        sc = scratch_make(p, n);
    }
    return sc;
}

static int add_scratch(server_rec *s, proxy_server_conf *conf,
                       proxy_balancer *b, void *data)
{
    apr_pool_t *p = data;
    int cap =
        b->max_workers > b->workers->nelts ? b->max_workers : b->workers->nelts;
    apr_pool_t *sp;

    (void)s;
    (void)conf;
    if (apr_hash_get(scratches, &b, sizeof(b))) {
        return 0;
    }
    /* Its own pool: later allocations happen under the balancer's mutex,
     * not the child's. */
    apr_pool_create(&sp, p);
    apr_hash_set(scratches, apr_pmemdup(p, &b, sizeof(b)), sizeof(b),
                 scratch_make(sp, (size_t)cap));
    return 0;
}

void lbx_scratch_child_init(apr_pool_t *pchild, server_rec *main_s)
{
    scratches = apr_hash_make(pchild);
    lbx_each_balancer(main_s, add_scratch, pchild);
}

void lbx_credit_sticky_hit(proxy_balancer *b, proxy_worker *chosen,
                           apr_pool_t *p)
{
    proxy_worker **workers = (proxy_worker **)b->workers->elts;
    size_t n = (size_t)b->workers->nelts;
    struct scratch *sc = scratch_get(b, n, p);
    size_t i, count = 0, winner = (size_t)-1;
    int64_t total;

    for (i = 0; i < n; i++) {
        if (!PROXY_WORKER_IS_USABLE(workers[i])) {
            continue;
        }
        if (workers[i] == chosen) {
            winner = count;
        }
        sc->index[count] = i;
        sc->peers[count].weight = lbx_atomic_load(&workers[i]->s->lbfactor);
        sc->peers[count].credit = 0;
        count++;
    }
    /* Credits start at 0 so the result is the delta to apply. */
    total = lbx_byrequests_credit(sc->peers, count, winner);
    for (i = 0; i < count; i++) {
        lbx_atomic_add(&workers[sc->index[i]]->s->lbstatus,
                       (int)sc->peers[i].credit);
    }
    if (winner == (size_t)-1) {
        /* The chosen member was not usable when counted (a redirect target
         * that another thread just errored); stock still charges it. */
        lbx_atomic_add(&chosen->s->lbstatus, -(int)total);
    }
}

static unsigned member_flags(proxy_worker *w)
{
    unsigned f = 0;

    if (PROXY_WORKER_IS_USABLE(w)) {
        f |= LBX_M_USABLE;
    }
    if (PROXY_WORKER_IS_DRAINING(w)) {
        f |= LBX_M_DRAIN;
    }
    if (PROXY_WORKER_IS_SPARE(w)) {
        f |= LBX_M_SPARE;
    }
    if (PROXY_WORKER_IS_STANDBY(w)) {
        f |= LBX_M_STANDBY;
    }
    return f;
}

struct retry_ctx {
    proxy_worker **workers;
    server_rec *s;
};

static unsigned retry_member(void *ctx_, size_t idx)
{
    struct retry_ctx *ctx = ctx_;

    lbx_retry_worker(ctx->workers[idx], ctx->s);
    return member_flags(ctx->workers[idx]);
}

static void member_snapshot(proxy_worker *w, struct lbx_peer *peer)
{
    peer->weight = lbx_atomic_load(&w->s->lbfactor);
    peer->credit = lbx_atomic_load(&w->s->lbstatus);
    peer->busy = lbx_atomic_load(&w->s->busy);
    peer->sent = (uint64_t)lbx_atomic_load(&w->s->transferred);
    peer->rcvd = (uint64_t)lbx_atomic_load(&w->s->read);
}

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
    proxy_worker **workers = (proxy_worker **)b->workers->elts;
    size_t n = (size_t)b->workers->nelts, i, count;
    struct scratch *sc = scratch_get(b, n, r->pool);
    struct retry_ctx ctx = { workers, r->server };
    struct lbx_pick_in in = { 0 };
    long pick;

    for (i = 0; i < n; i++) {
        sc->members[i].lbset = workers[i]->s->lbset;
        sc->members[i].flags = member_flags(workers[i]);
    }
    count = lbx_eligible(sc->members, n, retry_member, &ctx, sc->index);
    for (i = 0; i < count; i++) {
        member_snapshot(workers[sc->index[i]], &sc->peers[i]);
        sc->credit0[i] = sc->peers[i].credit;
    }
    in.peers = sc->peers;
    in.n = count;
    in.rand = random_u32;
    pick = m->pick(&in);
    for (i = 0; i < count; i++) {
        int64_t delta = sc->peers[i].credit - sc->credit0[i];
        if (delta) {
            lbx_atomic_add(&workers[sc->index[i]]->s->lbstatus, (int)delta);
        }
    }
    if (pick == LBX_NONE) {
        ap_log_rerror(APLOG_MARK, APLOG_TRACE1, 0, r,
                      "%s: %s found no usable member among %d", b->s->name,
                      m->name, (int)n);
        return NULL;
    }
    ap_log_rerror(APLOG_MARK, APLOG_TRACE1, 0, r,
                  "%s: %s selected %s (busy %" APR_SIZE_T_FMT
                  ", lbstatus %d) from %d candidates",
                  b->s->name, m->name, workers[sc->index[pick]]->s->name_ex,
                  workers[sc->index[pick]]->s->busy,
                  workers[sc->index[pick]]->s->lbstatus, (int)count);
    return workers[sc->index[pick]];
}

/* Called by mod_proxy's ap_proxy_sync_balancer() after an lbmethod change. */
static apr_status_t lbx_reset(proxy_balancer *b, server_rec *s)
{
    const struct lbx_method *m = b->lbmethod->context;
    proxy_worker **workers = (proxy_worker **)b->workers->elts;
    int i;

    (void)s;
    for (i = 0; i < b->workers->nelts; i++) {
        proxy_worker_shared *ws = workers[i]->s;
        if (m->reset_counters & LBX_RESET_CREDIT) {
            lbx_atomic_store(&ws->lbstatus, 0);
        }
        if (m->reset_counters & LBX_RESET_BYTES) {
            lbx_atomic_store(&ws->transferred, 0);
            lbx_atomic_store(&ws->read, 0);
        }
    }
    return APR_SUCCESS;
}

/* `age` stays NULL: nothing in httpd 2.4 calls it.  `updatelbstatus` stays
 * NULL as in every stock method, so sticky hits get stock's default credit
 * accounting (lbx_credit_sticky_hit above, same arithmetic). */
static proxy_balancer_method core_providers[] = {
    { .name = "byrequests",
      .finder = lbx_finder,
      .reset = lbx_reset,
      .context = (void *)&lbx_method_byrequests },
    { .name = "bytraffic",
      .finder = lbx_finder,
      .reset = lbx_reset,
      .context = (void *)&lbx_method_bytraffic },
    { .name = "bybusyness",
      .finder = lbx_finder,
      .reset = lbx_reset,
      .context = (void *)&lbx_method_bybusyness },
};

/* heartbeat does not use the eligibility walk: like stock, it ignores
 * lbsets, spares, standbys, draining and weights, and offers every usable
 * member that reports fresh capacity, in proportion to what it reports. */
static proxy_worker *heartbeat_finder(proxy_balancer *b, request_rec *r)
{
    proxy_worker **workers = (proxy_worker **)b->workers->elts;
    size_t n = (size_t)b->workers->nelts, i, count = 0;
    struct scratch *sc = scratch_get(b, n, r->pool);
    struct lbx_pick_in in = { 0 };
    apr_status_t rv;
    long pick;

    if (!sc->hb) {
        /* First heartbeat pick of this balancer in this process; the
         * scratch pool is only used under the balancer's mutex. */
        sc->hb = lbx_hb_reports_make(sc->pool);
    }
    rv = lbx_hb_reports_load(sc->hb, r);
    if (rv != APR_SUCCESS) {
        ap_log_rerror(
            APLOG_MARK, APLOG_ERR, rv, r,
            LBXLOGNO(01213) "lb_heartbeat: Unable to read heartbeats at '%s'",
            lbx_hb_reports_source(r));
        return NULL;
    }
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
        if (PROXY_WORKER_IS_USABLE(w) && srv->seen < LBX_HB_MAX_LASTSEEN) {
            sc->peers[count].weight = srv->ready;
            sc->index[count++] = i;
        }
    }
    in.peers = sc->peers;
    in.n = count;
    in.rand = random_u32;
    pick = lbx_method_heartbeat.pick(&in);
    return pick == LBX_NONE ? NULL : workers[sc->index[pick]];
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
