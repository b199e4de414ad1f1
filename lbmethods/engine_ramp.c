/* engine_ramp.c: slow start for the engine's picks (see
 * lbx_engine_slow_start in engine.h).  Above the picks (engine_index.c)
 * and the candidate lists (engine.c): it asks the method again when a
 * ramping member has had its part. */
#include "engine_int.h"
#include "outlier.h"

/* The method's pick among the candidates other than `declined`. */
static long pick_without(struct lbx_pick *p, const struct lbx_method *m,
                         long declined)
{
    struct lbx_engine *e = p->e;
    struct lbx_peer alt[LBX_ENGINE_SCAN_MAX];
    size_t map[LBX_ENGINE_SCAN_MAX], n = 0, k;
    struct lbx_pick_in in = p->in;
    long got;

    if (m == &lbx_method_byhash) {
        /* The ring leads past a member that is not a candidate. */
        size_t member = e->cand[declined];
        int32_t saved = e->peer_of[member];

        e->peer_of[member] = -1;
        got = lbx_engine_pick(p, m);
        e->peer_of[member] = saved;
        return got;
    }
    if (e->ncand > LBX_ENGINE_SCAN_MAX) {
        /* The next turn or draw; a method that would choose the same
         * again (bytraffic's heap) gets a random other member. */
        got = lbx_engine_pick(p, m);
        if (got == declined || got == LBX_NONE) {
            k = p->in.rand(p->in.rand_ctx) % (e->ncand - 1);
            got = (long)(k + (k >= (size_t)declined));
            lbx_engine_load_peer(p, (size_t)got);
        }
        return got;
    }
    /* As loaded, before the first pick credited them. */
    for (k = 0; k < e->ncand; k++) {
        if (k != (size_t)declined) {
            lbx_engine_load_peer(p, k);
            alt[n] = p->in.peers[k];
            map[n++] = k;
        }
    }
    in.peers = alt;
    in.n = n;
    if ((got = m->pick(&in)) == LBX_NONE) {
        return LBX_NONE;
    }
    p->in.peers[map[got]] = alt[got];
    return (long)map[got];
}

/* Whether a pick of candidate `pick`, at `permille` of its share, stands.
 * byhash decides by the request's key (mixed apart from its place on the
 * ring), so a key keeps its member.  The others count: the member may
 * have had its fair share of its lbset's rounds since its ramp began,
 * scaled by the ramp; methods that would send it more (bybusyness to an
 * idle member, bytraffic to one with few bytes) are held to that too. */
static int ramp_admits(struct lbx_pick *p, const struct lbx_method *m,
                       long pick, unsigned permille)
{
    struct lbx_engine *e = p->e;
    uint32_t slot = e->slot[pick];
    uint64_t since, allowed, at = p->round + p->sticky;

    if (m == &lbx_method_byhash) {
        return lbx_slow_start_admit(
            permille,
            (uint32_t)((p->in.key * UINT64_C(0x9E3779B97F4A7C15)) >> 32));
    }
    since = lbx_atomic_load(&e->hot->ramp_rounds[slot]);
    allowed = lbx_slow_start_allowed(at > since ? at - since : 0,
                                     e->weight[pick], e->total, permille);
    if (lbx_atomic_load(&e->hot->ramp_picks[slot]) >= allowed) {
        return 0;
    }
    lbx_atomic_add(&e->hot->ramp_picks[slot], 1);
    return 1;
}

long lbx_engine_slow_start(struct lbx_pick *p, const struct lbx_method *m,
                           long pick, int credit, apr_time_t now)
{
    struct lbx_engine *e = p->e;
    unsigned permille;
    long other;

    if (!e->ramping || pick == LBX_NONE || e->ncand < 2) {
        return pick;
    }
    permille = lbx_outlier_ramp(e->hot, e->slot[pick], now);
    if (permille >= 1000 || ramp_admits(p, m, pick, permille)) {
        return pick;
    }
    if (credit) {
        /* Its turn is spent, as if it had served it. */
        lbx_atomic_add(&e->hot->debt[e->slot[pick]], e->total);
    }
    other = pick_without(p, m, pick);
    return other == LBX_NONE ? pick : other;
}
