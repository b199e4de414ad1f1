/* lbx_hot.c: the selection engine's shared per-balancer state (see
 * lbx_hot.h).  Made at post_config in anonymous shared memory, so every
 * child of a generation sees it at the same address; a restart starts
 * from zero, as stock's credits do. */
#include "apr_hash.h"
#include "apr_shm.h"

#include "lbx_hot.h"
#include "lbx_method.h"

APLOG_USE_MODULE(lbx);

static apr_shm_t *hot_shm;
/* b->s (the balancer's shared record, one per balancer whatever server
 * uses it) -> struct lbx_hot; built before the fork, read-only after. */
static apr_hash_t *hot_by_balancer;

struct hot_plan {
    apr_pool_t *p;
    apr_hash_t *slots; /* b->s -> member slots */
    apr_size_t bytes;
};

#define HOT_ALIGN(n) APR_ALIGN((n), 64)
/* debt, busy and the uint64_t arrays lay_out() lists. */
#define HOT_ARRAYS 24

static apr_size_t hot_bytes(apr_size_t slots)
{
    return HOT_ALIGN(sizeof(struct lbx_hot))
        + HOT_ARRAYS * HOT_ALIGN(slots * sizeof(uint64_t))
        + HOT_ALIGN(slots * sizeof(struct lbx_member_stats))
        + HOT_ALIGN(slots * LBX_STATS_RING * sizeof(struct lbx_window_point));
}

static int plan_balancer(server_rec *s, proxy_server_conf *conf,
                         proxy_balancer *b, void *data)
{
    struct hot_plan *plan = data;
    apr_size_t *slots;

    (void)s;
    (void)conf;
    if (!b->s || apr_hash_get(plan->slots, &b->s, sizeof(b->s))) {
        return 0;
    }
    slots = apr_palloc(plan->p, sizeof(*slots));
    *slots = (apr_size_t)(b->max_workers > 0 ? b->max_workers : 1);
    apr_hash_set(plan->slots, apr_pmemdup(plan->p, &b->s, sizeof(b->s)),
                 sizeof(b->s), slots);
    plan->bytes += hot_bytes(*slots);
    return 0;
}

/* Lay out one balancer's record at *at and advance *at past it. */
static struct lbx_hot *lay_out(char **at, apr_size_t slots)
{
    struct lbx_hot *hot = (struct lbx_hot *)*at;
    char *arrays = *at + HOT_ALIGN(sizeof(*hot));
    apr_size_t array = HOT_ALIGN(slots * sizeof(uint64_t));
    uint64_t **u64[] = {
        &hot->sent,         &hot->rcvd,          &hot->out_since,
        &hot->latency_us,   &hot->latency_at,    &hot->fails,
        &hot->eject_until,  &hot->eject_level,   &hot->ejections,
        &hot->back_at,      &hot->trial,         &hot->usable_since,
        &hot->check_at,     &hot->check_result,  &hot->check_status,
        &hot->eject_fails,  &hot->slow_start_us, &hot->ramp_picks,
        &hot->ramp_rounds,  &hot->clock_of,      &hot->checked_elsewhere,
        &hot->lease_holder,
    };
    size_t i;

    _Static_assert(sizeof(u64) / sizeof(u64[0]) + 2 == HOT_ARRAYS,
                   "hot_bytes() must reserve every array lay_out() places");
    hot->cap = (uint32_t)slots;
    hot->debt = (int64_t *)arrays;
    hot->busy = (apr_size_t *)(arrays + array);
    for (i = 0; i < sizeof(u64) / sizeof(u64[0]); i++) {
        *u64[i] = (uint64_t *)(arrays + (i + 2) * array);
    }
    /* The window's first point: every counter at zero, now. */
    hot->ring_at[0] = (uint64_t)apr_time_now();
    hot->ring_next = 1;
    hot->stats = (struct lbx_member_stats *)(arrays + HOT_ARRAYS * array);
    hot->ring =
        (struct lbx_window_point *)((char *)hot->stats
                                    + HOT_ALIGN(slots * sizeof(*hot->stats)));
    *at += hot_bytes(slots);
    return hot;
}

apr_status_t lbx_hot_create(apr_pool_t *pconf, server_rec *main_s)
{
    struct hot_plan plan = { pconf, apr_hash_make(pconf), 0 };
    apr_hash_index_t *hi;
    apr_status_t rv;
    char *at;

    hot_shm = NULL;
    hot_by_balancer = apr_hash_make(pconf);
    lbx_each_balancer(main_s, plan_balancer, &plan);
    if (plan.bytes == 0) {
        return APR_SUCCESS;
    }
    rv = apr_shm_create(&hot_shm, plan.bytes, NULL, pconf);
    if (rv != APR_SUCCESS) {
        hot_shm = NULL;
        return rv;
    }
    at = apr_shm_baseaddr_get(hot_shm);
    memset(at, 0, plan.bytes);
    for (hi = apr_hash_first(pconf, plan.slots); hi; hi = apr_hash_next(hi)) {
        const void *key;
        void *slots;

        apr_hash_this(hi, &key, NULL, &slots);
        apr_hash_set(hot_by_balancer, key, sizeof(proxy_balancer_shared *),
                     lay_out(&at, *(apr_size_t *)slots));
    }
    return APR_SUCCESS;
}

struct lbx_hot *lbx_hot_of(proxy_balancer *b)
{
    return hot_by_balancer && b->s
        ? apr_hash_get(hot_by_balancer, &b->s, sizeof(b->s))
        : NULL;
}

long lbx_hot_slot(const struct lbx_hot *hot, proxy_worker *w)
{
    return hot && w->s->index >= 0 && (uint32_t)w->s->index < hot->cap
        ? (long)w->s->index
        : -1;
}

void lbx_hot_changed(proxy_balancer *b)
{
    struct lbx_hot *hot = lbx_hot_of(b);

    if (hot) {
        lbx_atomic_add(&hot->gen, 1);
    }
}

uint64_t lbx_hot_clock(const struct lbx_hot *hot, long slot)
{
    uint64_t lbset = lbx_atomic_load(&hot->clock_of[slot]);

    return lbx_atomic_load(&hot->picks[lbset < LBX_LBSETS ? lbset : 0]);
}

/* What virtual time has credited member `slot` with: its weight for every
 * pick of its clock and every sticky hit. */
static int64_t earned(const struct lbx_hot *hot, long slot, int64_t weight)
{
    return weight
        * (int64_t)(lbx_hot_clock(hot, slot)
                    + lbx_atomic_load(&hot->sticky_rounds));
}

void lbx_hot_follow_lbset(struct lbx_hot *hot, proxy_worker *w)
{
    long slot = lbx_hot_slot(hot, w);
    uint64_t from, to = (uint64_t)w->s->lbset, old, now, since;

    if (slot < 0 || to >= LBX_LBSETS
        || (from = lbx_atomic_load(&hot->clock_of[slot])) == to
        || !__atomic_compare_exchange_n(&hot->clock_of[slot], &from, to, 0,
                                        __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
        return;
    }
    old = lbx_atomic_load(&hot->picks[from < LBX_LBSETS ? from : 0]);
    now = lbx_atomic_load(&hot->picks[to]);
    /* The same credit on the new clock; time out or ramping goes on from
     * the same point, counted in the new clock's picks.  A member back
     * meanwhile (out_since taken to 0 by a rebuild) stays back. */
    lbx_atomic_add(&hot->debt[slot],
                   lbx_atomic_load(&w->s->lbfactor) * (int64_t)(now - old));
    since = lbx_atomic_load(&hot->out_since[slot]);
    while (since != 0) {
        uint64_t moved = since + (now - old); /* modulo 2^64, as read */

        if (__atomic_compare_exchange_n(&hot->out_since[slot], &since,
                                        moved ? moved : 1, 0, __ATOMIC_RELAXED,
                                        __ATOMIC_RELAXED)) {
            break;
        }
    }
    lbx_atomic_add(&hot->ramp_rounds[slot], now - old);
}

void lbx_hot_set_credit(struct lbx_hot *hot, proxy_worker *w, int64_t credit)
{
    long slot = lbx_hot_slot(hot, w);

    if (slot >= 0) {
        int64_t weight = lbx_atomic_load(&w->s->lbfactor);
        lbx_atomic_store(&hot->debt[slot], earned(hot, slot, weight) - credit);
    }
}

int64_t lbx_hot_credit(const struct lbx_hot *hot, proxy_worker *w)
{
    long slot = lbx_hot_slot(hot, w);

    if (slot < 0) {
        return 0;
    }
    return earned(hot, slot, lbx_atomic_load(&w->s->lbfactor))
        - lbx_atomic_load(&hot->debt[slot]);
}

/* How fast a latency estimate forgets: a sample's weight halves in about
 * 1.4 seconds, so a member that became slow is seen at once (the peak) and
 * one that recovered is trusted again within seconds.  Under load a fast
 * member's estimate sits near its recent peaks; forgetting them in
 * seconds rather than tens of seconds keeps a slow member's share lower
 * (bench/slow_member.py: 0.3 % instead of 0.4-0.5 % at tau 10 s). */
#define HOT_LATENCY_TAU_US 2000000

/* One sample into a shared estimate.  Processes may race here: the last
 * writer wins, which loses at most a sample. */
static void ewma_update(uint64_t *value, uint64_t *at, uint64_t sample_us,
                        apr_time_t now)
{
    uint64_t then = lbx_atomic_load(at);
    uint64_t elapsed = (uint64_t)now > then ? (uint64_t)now - then : 0;

    lbx_atomic_store(value,
                     lbx_peak_ewma(lbx_atomic_load(value), elapsed, sample_us,
                                   HOT_LATENCY_TAU_US));
    lbx_atomic_store(at, (uint64_t)now);
}

void lbx_hot_sample(struct lbx_hot *hot, proxy_worker *w,
                    apr_interval_time_t took, apr_time_t now)
{
    long slot = lbx_hot_slot(hot, w);
    uint64_t us = took > 0 ? (uint64_t)took : 0, typical;

    if (slot < 0) {
        return;
    }
    ewma_update(&hot->latency_us[slot], &hot->latency_at[slot], us, now);
    /* The typical time moves a sixteenth of the way to each sample, slow
     * members' included: not a peak, so one slow member does not make
     * every new member look slow. */
    typical = lbx_atomic_load(&hot->typical_us);
    lbx_atomic_store(&hot->typical_us,
                     typical ? typical - typical / 16 + us / 16 + 1 : us + 1);
}
