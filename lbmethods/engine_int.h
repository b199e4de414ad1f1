/* engine_int.h: what engine.c and engine_index.c share about a
 * balancer's per-process engine.  Nothing else includes it. */
#ifndef LBX_ENGINE_INT_H
#define LBX_ENGINE_INT_H

#include "engine.h"
#include "lbx_hot.h"
#include "lbx_conf.h"

struct lbx_engine {
    apr_pool_t *pool; /* for method state, under the mutex */
    void *method_state;
    struct lbx_hot *hot;
    size_t cap; /* member positions the arrays hold */
    int built;
    uint64_t gen; /* lbx_hot's gen the list was built at */
    int nmembers; /* b->workers->nelts then */
    apr_time_t refresh_at; /* rebuild at the latest then */
    int ramping; /* a candidate is in its slow start */
    /* The lbset of the candidates (one tier, see lbx_eligible), whose
     * clock the picks run on; -1 while there are none. */
    int tier;
    /* LBXLbsetBy: the lbset this engine's list is made of (-1: stock's
     * choice of lbset, the balancer's own engine).  The balancer's engine
     * keeps the engines of the lbsets requests may prefer, and which
     * lbsets its members have (only those get one). */
    int prefer;
    struct lbx_engine **preferred;
    unsigned char present[LBX_LBSETS];
    size_t ncand;
    int64_t total; /* sum of the candidates' weights */
    int64_t usable_total; /* sum of every usable member's weight */
    struct lbx_member *members; /* scratch for lbx_eligible */
    size_t *cand; /* candidate k is b->workers[cand[k]] */
    uint32_t *slot; /* ... and lbx_hot slot slot[k] */
    int64_t *weight; /* ... and weight (lbfactor) weight[k] */
    unsigned char *is_cand; /* by slot: a candidate of the list */
    uint32_t *others; /* slots of the members that are not candidates */
    size_t nothers;
    struct lbx_peer *peers;
    /* byhash: its settings, the ring of all members (rebuilt when the
     * members or their weights change) and member -> candidate index. */
    const struct lbx_hash_conf *hash;
    struct lbx_ring ring;
    size_t ring_room;
    uint32_t *ring_bucket; /* the ring's index, for ring_room points */
    unsigned ring_bits;
    uint64_t ring_sum; /* what the ring was built from */
    unsigned builds; /* rebuild() calls, to refresh the ring and peer_of */
    unsigned peer_of_builds;
    int32_t *peer_of;
    /* byrequests' round for this list (sched_len 0: none, walk instead),
     * worked out again only when the weights in order changed. */
    apr_pool_t *sched_pool; /* holds sched alone: cleared when it grows */
    uint32_t *sched;
    size_t sched_len, sched_room, sched_n;
    uint64_t sched_sum;
    unsigned sched_builds;
    void *sched_scratch;
    /* bytraffic's heap, made again with every list. */
    struct lbx_traffic_heap heap;
    unsigned heap_builds;
};

/* Candidate k as it is now, into p->in.peers[k] (engine.c). */
void lbx_engine_load_peer(struct lbx_pick *p, size_t k);
/* Every candidate, so a core can walk them all (engine.c). */
void lbx_engine_load_all(struct lbx_pick *p);

#endif
