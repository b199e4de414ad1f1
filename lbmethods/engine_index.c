/* engine_index.c: picks among more than LBX_ENGINE_SCAN_MAX candidates
 * that read only what the method needs, from indexes kept per process
 * with the candidate list (engine.c):
 *
 * - byrequests: the round of picks stock's crediting makes from zero is
 *   worked out once per candidate list (lbx_byrequests_schedule); pick t
 *   (hot->ticket of the list's lbset, shared) takes turn t, so all children together follow
 *   stock's sequence.  A member that sticky hits made pay beyond a round
 *   gives its turn to the next one.
 * - bybusyness: stock's tie-break among the least busy is byrequests'
 *   order, so the first member in that order from turn t with nothing in
 *   flight is the pick; when the next LBX_ENGINE_SCAN_MAX turns are all
 *   busy, the full walk decides.
 * - bytraffic: a heap of byte counts as last read (lbx_traffic_heap), at
 *   every pool size.
 * - bylatency: the two members drawn.
 * - byhash: the ring's points near the key (its bucket index), the busy
 *   count of the members they lead to, and the balancer's total in flight
 *   (hot->in_flight) less that of the members that are not candidates.
 */
#include "engine_int.h"

/* A pick the indexes cannot make: walk every candidate instead. */
#define WALK (-2L)

/* byrequests' round for the current list; 0 when it is too long. */
static size_t schedule(struct lbx_engine *e)
{
    uint64_t sum = e->ncand;
    size_t k, len;

    if (e->sched_builds == e->builds) {
        return e->sched_len;
    }
    e->sched_builds = e->builds;
    for (k = 0; k < e->ncand; k++) {
        sum = sum * 1000003u + (uint64_t)e->weight[k];
    }
    if (e->sched && sum == e->sched_sum && e->sched_n == e->ncand) {
        return e->sched_len;
    }
    e->sched_sum = sum;
    e->sched_n = e->ncand;
    /* Checked before anything is allocated: rounds too long or too costly
     * to work out are walked instead. */
    len = lbx_byrequests_round(e->weight, e->ncand);
    if (len > e->sched_room) {
        if (!e->sched_pool) {
            apr_pool_create(&e->sched_pool, e->pool);
        }
        apr_pool_clear(e->sched_pool);
        e->sched = apr_palloc(e->sched_pool, len * sizeof(*e->sched));
        e->sched_room = len;
    }
    e->sched_len = len
        ? lbx_byrequests_schedule(e->weight, e->ncand, e->sched, e->sched_room,
                                  e->sched_scratch)
        : 0;
    return e->sched_len;
}

/* The candidate whose turn t is, and that candidate loaded. */
static size_t turn(struct lbx_pick *p, uint64_t t)
{
    size_t k = p->e->sched[t % p->e->sched_len];

    lbx_engine_load_peer(p, k);
    return k;
}

/* The winner pays for the round, as lbx_byrequests_charge would. */
static long charged(struct lbx_pick *p, size_t k)
{
    p->in.peers[k].credit += p->in.peers[k].weight - p->e->total;
    return (long)k;
}

static long by_schedule(struct lbx_pick *p)
{
    struct lbx_engine *e = p->e;
    size_t k, tries;

    if (!schedule(e)) {
        return WALK;
    }
    /* A few turns at most: members in debt are rare and catch up. */
    for (tries = 0;; tries++) {
        k = turn(p, lbx_atomic_add(&e->hot->ticket[e->tier], 1) - 1);
        if (tries == 3
            || !lbx_byrequests_overdrawn(e->peers[k].credit, e->peers[k].weight,
                                         e->total)) {
            return charged(p, k);
        }
    }
}

static long first_idle(struct lbx_pick *p)
{
    struct lbx_engine *e = p->e;
    uint64_t t;
    size_t j;

    if (!schedule(e)) {
        return WALK;
    }
    t = lbx_atomic_add(&e->hot->ticket[e->tier], 1) - 1;
    for (j = 0; j < LBX_ENGINE_SCAN_MAX; j++) {
        size_t k = e->sched[(t + j) % e->sched_len];

        if (lbx_atomic_load(&e->hot->busy[e->slot[k]]) == 0) {
            lbx_engine_load_peer(p, k);
            return charged(p, k);
        }
    }
    return WALK;
}

static void traffic_now(void *ctx, uint32_t k, uint64_t *sent, uint64_t *rcvd)
{
    struct lbx_engine *e = ctx;
    uint32_t slot = e->slot[k];

    *sent = lbx_atomic_load(&e->hot->sent[slot]);
    *rcvd = lbx_atomic_load(&e->hot->rcvd[slot]);
}

/* Enough re-reads for the members whose responses ended since the last
 * pick of this process; past that, the least count as last read. */
#define HEAP_READS 64

static long least_traffic(struct lbx_pick *p)
{
    struct lbx_engine *e = p->e;
    long k;

    if (e->heap_builds != e->builds) {
        lbx_traffic_heap_build(&e->heap, e->ncand, traffic_now, e);
        e->heap_builds = e->builds;
    }
    k = lbx_traffic_heap_min(&e->heap, traffic_now, e, HEAP_READS);
    lbx_engine_load_peer(p, (size_t)k);
    return k;
}

static uint64_t busy_now(void *ctx, size_t k)
{
    struct lbx_engine *e = ctx;

    return lbx_atomic_load(&e->hot->busy[e->slot[k]]);
}

static long hashed(struct lbx_pick *p)
{
    struct lbx_engine *e = p->e;
    uint64_t sum = lbx_atomic_load(&e->hot->in_flight), others = 0;
    size_t i;
    long k;

    /* The bound is over the candidates, as the walk's: members that are
     * not (standbys, draining, in error) may still hold requests.  They
     * are few; the candidates may be many. */
    for (i = 0; i < e->nothers; i++) {
        others += lbx_atomic_load(&e->hot->busy[e->others[i]]);
    }
    p->in.has_busy_sum = 1;
    p->in.busy_sum = sum > others ? sum - others : 0;
    p->in.busy_of = busy_now;
    p->in.busy_ctx = p->e;
    k = lbx_byhash_pick(&p->in);
    if (k != LBX_NONE) {
        lbx_engine_load_peer(p, (size_t)k);
    }
    return k;
}

static long two_choices(struct lbx_pick *p)
{
    size_t a, b;

    lbx_bylatency_draw(&p->in, &a, &b);
    lbx_engine_load_peer(p, a);
    lbx_engine_load_peer(p, b);
    return lbx_bylatency_cheaper(&p->in, a, b);
}

long lbx_engine_pick(struct lbx_pick *p, const struct lbx_method *m)
{
    long k = WALK;

    /* bytraffic's heap gives the walk's answer at any size and spares its
     * two divisions per peer, so it serves small pools too. */
    if (m == &lbx_method_bytraffic && p->in.n > 0) {
        return least_traffic(p);
    }
    if (p->in.n > LBX_ENGINE_SCAN_MAX) {
        if (m == &lbx_method_byrequests) {
            k = by_schedule(p);
        }
        else if (m == &lbx_method_bybusyness) {
            k = first_idle(p);
        }
        else if (m == &lbx_method_bylatency) {
            k = two_choices(p);
        }
        else if (m == &lbx_method_byhash) {
            k = hashed(p);
        }
        if (k != WALK) {
            return k;
        }
        lbx_engine_load_all(p);
    }
    return m->pick(&p->in);
}
