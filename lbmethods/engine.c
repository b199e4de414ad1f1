/* engine.c: the candidates of each balancer, kept per process.
 *
 * Stock walks every member on every request: it reads each member's
 * shared record to decide eligibility, then credits every candidate's
 * lbstatus in shared memory.  With 1,024 members that is thousands of
 * scattered reads and 1,024 atomic writes per request, under a lock that
 * the process's other threads then wait for.
 *
 * Here the walk (lbx_eligible, stock's rules) runs only when its result
 * may have changed: lbx_hot_changed() bumps a generation in shared memory
 * whenever mod_lbx changes a status, weight or member list (manager,
 * health checks, a member found in error after a request, recovery), the
 * member list grew, a member in error is due for its retry, or a second
 * has passed (a safety net for changes made behind mod_lbx's back).  The
 * result, candidate members with their weights and slots, stays in this
 * process.  A pick then reads the candidates' busy, traffic and credit
 * from the compact shared arrays of lbx_hot.c, and the winner alone pays
 * for the round (see struct lbx_hot: credit as virtual time; a member
 * earns nothing while it is not a candidate, as in stock).
 *
 *
 * Above LBX_ENGINE_SCAN_MAX candidates, engine_index.c picks from indexes
 * instead of copying every candidate.
 */
#include "apr_hash.h"

#include "engine.h"
#include "engine_int.h"
#include "lbx_hot.h"
#include "lbx_conf.h"
#include "lbx_text.h"
#include "outlier.h"

APLOG_USE_MODULE(lbx);

/* How long a candidate list may be used without any sign of change. */
#define ENGINE_REFRESH apr_time_from_sec(1)

/* balancer pointer -> engine, built in child_init and only read
 * afterwards, so request threads may look it up without a lock. */
static apr_hash_t *engines;

static struct lbx_engine *engine_make(apr_pool_t *p, size_t cap,
                                      struct lbx_hot *hot,
                                      const struct lbx_hash_conf *hash)
{
    struct lbx_engine *e = apr_pcalloc(p, sizeof(*e));
    size_t slots = hot ? hot->cap : 1;

    e->cap = cap ? cap : 1;
    e->pool = p;
    e->hot = hot;
    e->members = apr_pcalloc(p, e->cap * sizeof(*e->members));
    e->cand = apr_pcalloc(p, e->cap * sizeof(*e->cand));
    e->slot = apr_pcalloc(p, e->cap * sizeof(*e->slot));
    e->weight = apr_pcalloc(p, e->cap * sizeof(*e->weight));
    e->peers = apr_pcalloc(p, e->cap * sizeof(*e->peers));
    e->is_cand = apr_pcalloc(p, slots);
    e->others = apr_pcalloc(p, e->cap * sizeof(*e->others));
    e->peer_of = apr_pcalloc(p, e->cap * sizeof(*e->peer_of));
    e->sched_scratch = apr_palloc(p, LBX_SCHEDULE_SCRATCH(e->cap));
    e->heap.peer = apr_palloc(p, e->cap * sizeof(*e->heap.peer));
    e->heap.seen = apr_palloc(p, e->cap * sizeof(*e->heap.seen));
    e->heap.bytes = apr_palloc(p, e->cap * sizeof(*e->heap.bytes));
    e->heap.weight = e->weight;
    e->hash = hash;
    e->tier = -1;
    e->prefer = -1;
    return e;
}

/* The engine of b's members of `lbset`, for requests that prefer it. */
static struct lbx_engine *tier_engine(struct lbx_engine *e, int lbset)
{
    if (!e->preferred[lbset]) {
        e->preferred[lbset] = engine_make(e->pool, e->cap, e->hot, e->hash);
        e->preferred[lbset]->prefer = lbset;
    }
    return e->preferred[lbset];
}

static int add_engine(server_rec *s, proxy_server_conf *conf, proxy_balancer *b,
                      void *data)
{
    apr_pool_t *p = data, *ep;
    int i,
        cap = b->max_workers > b->workers->nelts ? b->max_workers
                                                 : b->workers->nelts;
    struct lbx_engine *e;

    (void)conf;
    if (apr_hash_get(engines, &b, sizeof(b))) {
        return 0;
    }
    /* Its own pool: later allocations happen under the balancer's mutex,
     * not the child's. */
    apr_pool_create(&ep, p);
    e = engine_make(ep, (size_t)cap, lbx_hot_of(b),
                    lbx_conf_hash(s, b->s->name));
    if (lbx_conf_lbset_by(s, b->s->name)) {
        /* The lbsets configured now get their engine here; one a manager
         * edit brings gets it at its first request. */
        e->preferred = apr_pcalloc(ep, LBX_LBSETS * sizeof(*e->preferred));
        for (i = 0; i < b->workers->nelts; i++) {
            int lbset = ((proxy_worker **)b->workers->elts)[i]->s->lbset;
            if (lbset >= 0 && lbset < LBX_LBSETS) {
                tier_engine(e, lbset);
            }
        }
    }
    apr_hash_set(engines, apr_pmemdup(p, &b, sizeof(b)), sizeof(b), e);
    return 0;
}

void lbx_engine_child_init(apr_pool_t *pchild, server_rec *main_s)
{
    engines = apr_hash_make(pchild);
    lbx_each_balancer(main_s, add_engine, pchild);
}

/* The engine of b for n members; one made from `p` when b has none big
 * enough (a balancer that grew beyond what child_init saw). */
static struct lbx_engine *engine_of(proxy_balancer *b, size_t n, apr_pool_t *p)
{
    struct lbx_engine *e =
        engines ? apr_hash_get(engines, &b, sizeof(b)) : NULL;

    if (!e || e->cap < n) {
        e = engine_make(p, n, lbx_hot_of(b), lbx_conf_hash(NULL, NULL));
    }
    return e;
}

void **lbx_engine_method_state(proxy_balancer *b, apr_pool_t *p,
                               apr_pool_t **pool)
{
    struct lbx_engine *e = engine_of(b, 0, p);

    *pool = e->pool;
    return &e->method_state;
}

/* ---- the candidate list ------------------------------------------------- */

static unsigned member_flags(const struct lbx_hot *hot, proxy_worker *w)
{
    unsigned f = 0;

    if (lbx_outlier_usable(hot, w)) {
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
    const struct lbx_hot *hot;
    server_rec *s;
};

static unsigned retry_member(void *ctx_, size_t idx)
{
    struct retry_ctx *ctx = ctx_;

    lbx_retry_worker(ctx->workers[idx], ctx->s);
    return member_flags(ctx->hot, ctx->workers[idx]);
}

/* When the list must be built again at the latest: in a second, or when
 * the first member in error may be retried (stock retries on every
 * request; it cannot come back before its retry period is over). */
static apr_time_t next_refresh(proxy_worker **workers, int n, apr_time_t now)
{
    apr_time_t at = now + ENGINE_REFRESH;
    int i;

    for (i = 0; i < n; i++) {
        proxy_worker_shared *ws = workers[i]->s;
        if ((ws->status & PROXY_WORKER_IN_ERROR)
            && ws->error_time + ws->retry < at) {
            at = ws->error_time + ws->retry;
        }
    }
    return at;
}

/* Members of the list's lbset that stopped being candidates start their
 * time out; members that came back pay back what virtual time credited
 * them for the picks of their lbset made meanwhile (whichever process
 * sees it first; the exchange makes it happen once).  Members of other
 * lbsets are another list's to account: their clock runs with that one. */
static void settle_out_time(struct lbx_engine *e, proxy_worker **workers, int n)
{
    struct lbx_hot *hot = e->hot;
    uint64_t now;
    int i;

    if (e->tier < 0) {
        return;
    }
    now = lbx_atomic_load(&hot->picks[e->tier]);
    for (i = 0; i < n; i++) {
        long slot = lbx_hot_slot(hot, workers[i]);
        uint64_t since;

        if (slot < 0
            || lbx_atomic_load(&hot->clock_of[slot]) != (uint64_t)e->tier) {
            continue;
        }
        if (!e->is_cand[slot]) {
            since = 0;
            __atomic_compare_exchange_n(&hot->out_since[slot], &since, now + 1,
                                        0, __ATOMIC_RELAXED, __ATOMIC_RELAXED);
        }
        else if ((since = __atomic_exchange_n(&hot->out_since[slot], 0,
                                              __ATOMIC_RELAXED))
                 != 0) {
            lbx_atomic_add(&hot->debt[slot],
                           lbx_atomic_load(&workers[i]->s->lbfactor)
                               * (int64_t)(now - (since - 1)));
        }
    }
}

/* The slots of members that are not candidates: byhash takes their
 * requests in flight out of the balancer's total. */
static void note_others(struct lbx_engine *e, proxy_worker **workers, int n)
{
    int i;

    e->nothers = 0;
    for (i = 0; i < n; i++) {
        long slot = lbx_hot_slot(e->hot, workers[i]);

        if (slot >= 0 && !e->is_cand[slot]) {
            e->others[e->nothers++] = (uint32_t)slot;
        }
    }
}

/* Whether some candidate is in its slow start, and when the last of
 * those ramps ends (the list is looked at again then). */
static void note_ramps(struct lbx_engine *e, apr_time_t now)
{
    size_t k;

    e->ramping = 0;
    for (k = 0; k < e->ncand; k++) {
        uint64_t window = lbx_atomic_load(&e->hot->slow_start_us[e->slot[k]]);
        uint64_t since = lbx_atomic_load(&e->hot->usable_since[e->slot[k]]);

        if (window && since && since + window > (uint64_t)now) {
            e->ramping = 1;
            if ((apr_time_t)(since + window) < e->refresh_at) {
                e->refresh_at = (apr_time_t)(since + window);
            }
        }
    }
}

/* Walk every member as stock does and keep the candidates.  Stock's
 * lbstatus of every candidate is written so the manager and mod_status
 * show it. */
static void rebuild(struct lbx_engine *e, proxy_balancer *b, request_rec *r,
                    uint64_t gen, int n)
{
    proxy_worker **workers = (proxy_worker **)b->workers->elts;
    struct retry_ctx ctx = { workers, e->hot, r->server };
    size_t i, k, count;
    apr_time_t seen_at;

    if (e->prefer < 0) {
        memset(e->present, 0, sizeof(e->present));
    }
    for (i = 0; i < (size_t)n; i++) {
        int lbset = workers[i]->s->lbset;

        e->members[i].lbset = lbset;
        e->members[i].flags = member_flags(e->hot, workers[i]);
        lbx_hot_follow_lbset(e->hot, workers[i]);
        if (e->prefer < 0 && lbset >= 0 && lbset < LBX_LBSETS) {
            e->present[lbset] = 1;
        }
    }
    count = e->prefer < 0
        ? lbx_eligible(e->members, (size_t)n, retry_member, &ctx, e->cand)
        : lbx_eligible_tier(e->members, (size_t)n, e->prefer, retry_member,
                            &ctx, e->cand);
    e->tier = count ? e->members[e->cand[0]].lbset : -1;
    if (e->tier >= LBX_LBSETS) {
        e->tier = -1; /* mod_proxy never allows it; no clock for it */
        count = 0;
    }
    for (i = 0, seen_at = apr_time_now(); i < (size_t)n; i++) {
        lbx_outlier_seen(e->hot, lbx_hot_slot(e->hot, workers[i]),
                         lbx_outlier_usable(e->hot, workers[i]), seen_at);
    }
    e->usable_total = 0;
    for (i = 0; i < (size_t)n; i++) {
        if (PROXY_WORKER_IS_USABLE(workers[i])) {
            e->usable_total += lbx_atomic_load(&workers[i]->s->lbfactor);
        }
    }
    memset(e->is_cand, 0, e->hot->cap);
    e->total = 0;
    for (i = 0, k = 0; i < count; i++) {
        proxy_worker *w = workers[e->cand[i]];
        long slot = lbx_hot_slot(e->hot, w);

        if (slot < 0) {
            continue; /* no shared slot: never a candidate */
        }
        e->cand[k] = e->cand[i];
        e->slot[k] = (uint32_t)slot;
        e->weight[k] = lbx_atomic_load(&w->s->lbfactor);
        e->total += e->weight[k];
        e->is_cand[slot] = 1;
        k++;
    }
    settle_out_time(e, workers, n);
    note_others(e, workers, n);
    for (i = 0; i < k; i++) {
        proxy_worker *w = workers[e->cand[i]];

        lbx_atomic_store(&w->s->lbstatus, (int)lbx_hot_credit(e->hot, w));
        /* Traffic as mod_proxy counts it, mirrored per request after. */
        lbx_atomic_store(&e->hot->sent[e->slot[i]],
                         (uint64_t)lbx_atomic_load(&w->s->transferred));
        lbx_atomic_store(&e->hot->rcvd[e->slot[i]],
                         (uint64_t)lbx_atomic_load(&w->s->read));
    }
    e->ncand = k;
    e->gen = gen;
    e->nmembers = n;
    e->refresh_at = next_refresh(workers, n, r->request_time);
    note_ramps(e, r->request_time);
    e->built = 1;
    e->builds++;
}

void lbx_engine_load_peer(struct lbx_pick *p, size_t k)
{
    struct lbx_engine *e = p->e;
    struct lbx_hot *hot = e->hot;
    uint32_t slot = e->slot[k];
    struct lbx_peer *peer = &e->peers[k];

    peer->weight = e->weight[k];
    peer->credit = peer->weight * (int64_t)(p->round + p->sticky)
        - lbx_atomic_load(&hot->debt[slot]);
    peer->busy = lbx_atomic_load(&hot->busy[slot]);
    peer->sent = lbx_atomic_load(&hot->sent[slot]);
    peer->rcvd = lbx_atomic_load(&hot->rcvd[slot]);
    peer->member = slot;
    peer->latency = lbx_atomic_load(&hot->latency_us[slot]);
}

void lbx_engine_load_all(struct lbx_pick *p)
{
    size_t k;

    for (k = 0; k < p->e->ncand; k++) {
        lbx_engine_load_peer(p, k);
    }
}

/* e's list, built again if something it depends on may have changed. */
static void refresh(struct lbx_engine *e, proxy_balancer *b, request_rec *r,
                    int n)
{
    uint64_t gen = lbx_atomic_load(&e->hot->gen);

    if (!e->built || gen != e->gen || n != e->nmembers
        || r->request_time >= e->refresh_at) {
        rebuild(e, b, r, gen, n);
    }
}

/* LBXLbsetBy: the engine of the lbset the request prefers, when its
 * members can serve; else e (stock's choice of lbset).  The value is a
 * number that names an lbset some member has. */
static struct lbx_engine *preferred(struct lbx_engine *e, proxy_balancer *b,
                                    request_rec *r, int n)
{
    const char *v = apr_table_get(r->notes, LBX_LBSET_NOTE);
    struct lbx_engine *pe;
    uint64_t lbset;

    if (!v || lbx_parse_uint(v, strlen(v), LBX_LBSETS - 1, &lbset) != 0) {
        return e;
    }
    if ((int)lbset == e->tier || !e->present[lbset]) {
        return e;
    }
    pe = tier_engine(e, (int)lbset);
    refresh(pe, b, r, n);
    return pe->ncand ? pe : e;
}

size_t lbx_engine_prepare(struct lbx_pick *p, proxy_balancer *b, request_rec *r)
{
    int n = b->workers->nelts;
    struct lbx_engine *e = engine_of(b, (size_t)n, r->pool);
    struct lbx_hot *hot = e->hot;

    memset(p, 0, sizeof(*p));
    p->b = b;
    p->e = e;
    if (!hot) {
        return 0;
    }
    /* The balancer's own list first: it accounts for its lbset's members
     * going out and back before a preferred list picks among them. */
    refresh(e, b, r, n);
    if (e->preferred) {
        p->e = e = preferred(e, b, r, n);
    }
    if (e->tier < 0) {
        return 0;
    }
    /* The round this pick is: every candidate has earned its weight once
     * more (credits as virtual time, see struct lbx_hot). */
    p->round = lbx_atomic_add(&hot->picks[e->tier], 1) - 1;
    p->sticky = lbx_atomic_load(&hot->sticky_rounds);
    p->in.latency_default = lbx_atomic_load(&hot->typical_us);
    if (!p->in.latency_default) {
        p->in.latency_default = 1000; /* nothing measured yet: 1 ms */
    }
    p->in.peers = e->peers;
    p->in.n = e->ncand;
    if (e->ncand <= LBX_ENGINE_SCAN_MAX) {
        lbx_engine_load_all(p);
    }
    return e->ncand;
}

proxy_worker *lbx_engine_commit(struct lbx_pick *p, long pick, int credit)
{
    struct lbx_engine *e = p->e;
    proxy_worker *w;
    uint32_t slot;

    if (pick == LBX_NONE || (size_t)pick >= e->ncand) {
        return NULL;
    }
    w = ((proxy_worker **)p->b->workers->elts)[e->cand[pick]];
    slot = e->slot[pick];
    if (credit) {
        lbx_atomic_add(&e->hot->debt[slot], e->total);
        lbx_atomic_store(&w->s->lbstatus, (int)(p->in.peers[pick].credit));
    }
    if (!lbx_outlier_usable(e->hot, w)) {
        /* Changed since the list was built: build it again next time. */
        e->built = 0;
        return NULL;
    }
    return w;
}

void lbx_engine_sticky_hit(proxy_balancer *b, proxy_worker *chosen,
                           request_rec *r)
{
    int n = b->workers->nelts;
    struct lbx_engine *e = engine_of(b, (size_t)n, r->pool);
    long slot = lbx_hot_slot(e->hot, chosen);
    uint64_t gen;

    if (slot < 0) {
        return;
    }
    gen = lbx_atomic_load(&e->hot->gen);
    if (!e->built || gen != e->gen || n != e->nmembers) {
        rebuild(e, b, r, gen, n); /* for the usable members' total */
    }
    lbx_atomic_add(&e->hot->sticky_rounds, 1);
    lbx_atomic_add(&e->hot->debt[slot], e->usable_total);
    lbx_atomic_store(&chosen->s->lbstatus, (int)lbx_hot_credit(e->hot, chosen));
}

/* ---- byhash ------------------------------------------------------------- */

/* The ring of all members, again when their names or weights changed. */
static void ensure_ring(struct lbx_engine *e, proxy_balancer *b, int n)
{
    proxy_worker **workers = (proxy_worker **)b->workers->elts;
    const char **names;
    int64_t *weights;
    uint64_t sum = (uint64_t)n;
    size_t need;
    int i;

    for (i = 0; i < n; i++) {
        sum = sum * 31 + (uint64_t)lbx_atomic_load(&workers[i]->s->lbfactor);
    }
    if (e->ring.points && sum == e->ring_sum) {
        return;
    }
    names = apr_palloc(e->pool, (size_t)n * sizeof(*names) + 1);
    weights = apr_palloc(e->pool, (size_t)n * sizeof(*weights) + 1);
    for (i = 0; i < n; i++) {
        names[i] = workers[i]->s->name_ex;
        weights[i] = lbx_atomic_load(&workers[i]->s->lbfactor);
    }
    need = lbx_ring_points(weights, (size_t)n);
    if (need > e->ring_room || !e->ring.points) {
        e->ring.points =
            apr_palloc(e->pool, (need ? need : 1) * sizeof(*e->ring.points));
        e->ring_room = need;
        e->ring_bits = lbx_ring_bucket_bits(need);
        e->ring_bucket = apr_palloc(e->pool,
                                    (((size_t)1 << e->ring_bits) + 1)
                                        * sizeof(*e->ring_bucket));
    }
    e->ring.bucket = e->ring_bucket;
    e->ring.bucket_bits = e->ring_bits;
    lbx_ring_build(&e->ring, names, weights, (size_t)n);
    e->ring_sum = sum;
}

void lbx_engine_hash(struct lbx_pick *p, request_rec *r)
{
    struct lbx_engine *e = p->e;
    const char *key = r->useragent_ip ? r->useragent_ip : "";
    size_t k;

    if (!e->built) {
        return;
    }
    /* Members and weights change only with a new list: the ring and the
     * member -> candidate map are looked at then, not per request. */
    if (e->peer_of_builds != e->builds) {
        ensure_ring(e, p->b, e->nmembers);
        for (k = 0; k < (size_t)e->nmembers; k++) {
            e->peer_of[k] = -1;
        }
        for (k = 0; k < e->ncand; k++) {
            e->peer_of[e->cand[k]] = (int32_t)k;
        }
        e->peer_of_builds = e->builds;
    }
    if (e->hash->key) {
        const char *err = NULL;
        const char *v = ap_expr_str_exec(r, e->hash->key, &err);
        if (!err && v) {
            key = v;
        }
    }
    p->in.key = lbx_hash64(key, strlen(key));
    p->in.ring = &e->ring;
    p->in.peer_of = e->peer_of;
    p->in.balance_pct = e->hash->balance_pct;
}
