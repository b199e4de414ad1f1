/* engine.h: the candidates of a balancer, kept per process between
 * requests, and the per-pick snapshot the pure cores choose from. */
#ifndef LBX_ENGINE_H
#define LBX_ENGINE_H

#include "lbx_proxy.h"
#include "lbx_method.h"

struct lbx_engine;

/* child_init: an engine for every balancer, sized for the most members
 * it can ever have, so the request path does not allocate. */
void lbx_engine_child_init(apr_pool_t *pchild, server_rec *main_s);

/* Up to this many candidates, a pick copies them all and the method's
 * core walks them as stock does (tens of nanoseconds).  Above it, the
 * methods that can use the engine's per-process indexes read only the
 * members they look at: byrequests and bybusyness a schedule of
 * byrequests' round, bytraffic a heap, bylatency its two draws. */
#define LBX_ENGINE_SCAN_MAX 32

/* One pick in the making. */
struct lbx_pick {
    proxy_balancer *b;
    struct lbx_engine *e;
    uint64_t round; /* this pick's round on its lbset's clock */
    uint64_t sticky; /* the balancer's sticky rounds then */
    struct lbx_pick_in in; /* peers and their count for the core */
};

/* Make p ready to choose among the candidates of b, as stock's lbset /
 * spare / standby rules give them, or those of the lbset the request
 * prefers (LBXLbsetBy, in the note LBX_LBSET_NOTE) when it has any.
 * p->in.peers holds each candidate's weight, byrequests credit, busy,
 * traffic and latency, copied from shared memory when there are at most
 * LBX_ENGINE_SCAN_MAX of them, else only as lbx_engine_pick reads them.
 * The candidate list is rebuilt only when something it depends on changed
 * (lbx_hot_changed, members added), when a member in error is due for a
 * retry, and once a second.  Returns the number of candidates.  Under the
 * balancer's thread mutex. */
size_t lbx_engine_prepare(struct lbx_pick *p, proxy_balancer *b,
                          request_rec *r);

/* Method m's choice among p's candidates (an index into p->in.peers, whose
 * entry is then filled in), or LBX_NONE; set p->in.rand (and for byhash
 * call lbx_engine_hash) first. */
long lbx_engine_pick(struct lbx_pick *p, const struct lbx_method *m);

/* Account for the core's choice `pick` (an index into p->in.peers) and
 * return its member: with `credit`, the winner pays the round's total
 * weight (byrequests' arithmetic).  NULL when pick is LBX_NONE or the
 * member became unusable since the list was built (the list is then
 * rebuilt at the next prepare). */
proxy_worker *lbx_engine_commit(struct lbx_pick *p, long pick, int credit);

/* Slow start (LBXSlowStart, slowstart=): a pick of a member still in its
 * ramp stands while the member's picks since the ramp began stay within
 * the ramp's part of its fair share (lbx_slow_start_allowed); for byhash,
 * with the ramp's probability, decided by the request's key so that a key
 * keeps its member.  Otherwise the member pays for the round as if chosen
 * (with `credit`) and the pick is made again without it: by the method
 * among up to LBX_ENGINE_SCAN_MAX candidates and for byhash; among more,
 * the method's next turn or draw, or a random other member when it would
 * choose the same again.  Returns the pick that stands.  Under the
 * balancer's thread mutex, after lbx_engine_pick. */
long lbx_engine_slow_start(struct lbx_pick *p, const struct lbx_method *m,
                           long pick, int credit, apr_time_t now);

/* byhash: add the request's key (LBXHashKey, else the client's address),
 * the ring of the balancer's members and the load bound to p->in, after
 * lbx_engine_prepare. */
void lbx_engine_hash(struct lbx_pick *p, request_rec *r);

/* Stock's accounting for a request routed by its session (no lbmethod
 * choice): every usable member earns its weight and `chosen` pays for
 * all, so byrequests stays fair when part of the traffic is sticky.
 * Under the balancer's thread mutex. */
void lbx_engine_sticky_hit(proxy_balancer *b, proxy_worker *chosen,
                           request_rec *r);

/* A slot for the per-process state of b's method, and in *pool the pool
 * to allocate that state from (under the thread mutex); `p` serves a
 * balancer child_init did not see. */
void **lbx_engine_method_state(proxy_balancer *b, apr_pool_t *p,
                               apr_pool_t **pool);

#endif
