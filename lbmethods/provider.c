/* provider.c: the one adapter between mod_proxy's proxy_balancer_method and
 * mod_lbx's pure selection cores (struct lbx_method).
 *
 * Every method registered here shares one finder: snapshot the members,
 * let lbx_eligible() apply stock's lbset/spare/standby rules, let the core
 * pick, write its credit changes back to shared memory as atomic deltas.
 * The finder runs under the balancer's per-process thread mutex (mod_lbx.c
 * takes it, as stock's find_best_worker does), which protects the scratch
 * arrays; other processes update the same shared counters concurrently,
 * which the atomic deltas tolerate: a pick may be made on slightly stale
 * credits, but no update is lost and credits still sum to zero.
 */
#include "apr_strings.h"
#include "ap_provider.h"

#include "mod_lbx.h"

APLOG_USE_MODULE(lbx);

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
    server_rec    *s;
};

static unsigned retry_member(void *ctx_, size_t idx)
{
    struct retry_ctx *ctx = ctx_;

    lbx_retry_worker(ctx->workers[idx], ctx->s);
    return member_flags(ctx->workers[idx]);
}

void lbx_member_snapshot(proxy_worker *w, struct lbx_peer *peer)
{
    peer->weight = lbx_atomic_load(&w->s->lbfactor);
    peer->credit = lbx_atomic_load(&w->s->lbstatus);
    peer->busy = lbx_atomic_load(&w->s->busy);
    peer->sent = (uint64_t)lbx_atomic_load(&w->s->transferred);
    peer->rcvd = (uint64_t)lbx_atomic_load(&w->s->read);
}

static proxy_worker *lbx_finder(proxy_balancer *b, request_rec *r)
{
    const struct lbx_method *m = b->lbmethod->context;
    proxy_worker **workers = (proxy_worker **)b->workers->elts;
    size_t n = (size_t)b->workers->nelts, i, count;
    struct lbx_scratch *sc = lbx_scratch_get(b, r->pool);
    struct retry_ctx ctx = { workers, r->server };
    struct lbx_pick_in in = { 0 };
    long pick;

    for (i = 0; i < n; i++) {
        sc->members[i].lbset = workers[i]->s->lbset;
        sc->members[i].flags = member_flags(workers[i]);
    }
    count = lbx_eligible(sc->members, n, retry_member, &ctx, sc->index);
    for (i = 0; i < count; i++) {
        lbx_member_snapshot(workers[sc->index[i]], &sc->peers[i]);
        sc->credit0[i] = sc->peers[i].credit;
    }
    in.peers = sc->peers;
    in.n = count;
    pick = m->pick(&in);
    for (i = 0; i < count; i++) {
        int64_t delta = sc->peers[i].credit - sc->credit0[i];
        if (delta) {
            lbx_atomic_add(&workers[sc->index[i]]->s->lbstatus, (int)delta);
        }
    }
    if (pick == LBX_NONE) {
        ap_log_rerror(APLOG_MARK, APLOG_TRACE1, 0, r,
                      "%s: %s found no usable member among %d",
                      b->s->name, m->name, (int)n);
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
        if (m->reset_counters & LBX_RESET_BUSY) {
            lbx_atomic_store(&ws->busy, 0);
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
 * accounting in mod_lbx.c (same arithmetic, lbx_byrequests_credit). */
static proxy_balancer_method byrequests_provider = {
    .name = "byrequests",
    .finder = lbx_finder,
    .context = (void *)&lbx_method_byrequests,
    .reset = lbx_reset,
};

void lbx_register_providers(apr_pool_t *p)
{
    ap_register_provider(p, PROXY_LBMETHOD, byrequests_provider.name, "0",
                         &byrequests_provider);
}
