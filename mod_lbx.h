/* mod_lbx.h: what the glue files (mod_lbx.c, lbmethods/provider.c) share.
 * Only httpd-side code includes this; the pure cores never do. */
#ifndef MOD_LBX_H
#define MOD_LBX_H

#include "httpd.h"
#include "http_config.h"
#include "http_log.h"
#include "mod_proxy.h"

#include "lbx_method.h"

/* Log tags.  Where a message is stock's, the number is stock's AH number
 * with an LBX prefix (alerting rules map one to one); mod_lbx's own
 * messages are numbered from 20000 up. */
#define LBXLOGNO(n) "LBX" #n ": "

/* Per-process scratch for one balancer's selection: sized for the most
 * members the balancer can ever have (max_workers), so the request path
 * never allocates.  Used only under the balancer's thread mutex. */
struct lbx_scratch {
    size_t             cap;
    struct lbx_member *members;
    struct lbx_peer   *peers;
    int64_t           *credit0;   /* credits as read, to write back deltas */
    size_t            *index;     /* peer k is balancer member index[k] */
};

/* The scratch of balancer `b`; falls back to `p` only if the balancer grew
 * past what child_init sized it for (it cannot with stock's mod_proxy). */
struct lbx_scratch *lbx_scratch_get(proxy_balancer *b, apr_pool_t *p);

/* mod_proxy's ap_proxy_retry_worker, fetched as an optional function. */
int lbx_retry_worker(proxy_worker *w, server_rec *s);

/* Shared-memory counters are written by every child without a global lock
 * (stock uses a per-process mutex only, contract §7.2): use atomics so
 * concurrent updates from several processes are not lost. */
#define lbx_atomic_add(ptr, delta) \
    __atomic_add_fetch((ptr), (delta), __ATOMIC_RELAXED)
#define lbx_atomic_load(ptr) __atomic_load_n((ptr), __ATOMIC_RELAXED)
#define lbx_atomic_store(ptr, v) __atomic_store_n((ptr), (v), __ATOMIC_RELAXED)
#define lbx_status_set(w, bits) \
    ((void)__atomic_or_fetch(&(w)->s->status, (bits), __ATOMIC_RELAXED))
#define lbx_status_clear(w, bits) \
    ((void)__atomic_and_fetch(&(w)->s->status, ~(unsigned int)(bits), \
                              __ATOMIC_RELAXED))

/* lbmethods/provider.c */
void lbx_register_providers(apr_pool_t *p);
void lbx_member_snapshot(proxy_worker *w, struct lbx_peer *peer);

#endif
