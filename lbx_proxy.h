/* lbx_proxy.h: the bottom of the glue.  mod_proxy's API as mod_lbx reaches
 * it, the log tag macro and the atomics for shared-memory counters.  Every
 * other glue file may include this; it includes no header of mod_lbx's
 * glue.  The pure cores never include it. */
#ifndef LBX_PROXY_H
#define LBX_PROXY_H

#include "httpd.h"
#include "http_config.h"
#include "http_log.h"
#include "mod_proxy.h"

/* mod_proxy's API, reached through pointers that lbx_proxy_resolve() fills
 * in with dlsym() at pre_config.  Linking against mod_proxy's symbols
 * directly would tie mod_lbx to LoadModule order: Debian's a2enmod loads
 * the mods-enabled .load files alphabetically, and lbx.load sorts before
 * proxy.load.  With the pointers, mod_proxy may be loaded before or after
 * mod_lbx.  The #defines below keep the calls reading as the API they are. */
#define LBX_PROXY_API(X) \
    X(ap_proxy_canon_netloc) \
    X(ap_proxy_canon_url) \
    X(ap_proxy_find_balancershm) \
    X(ap_proxy_find_workershm) \
    X(ap_proxy_get_balancer) \
    X(ap_proxy_hashfunc) \
    X(ap_proxy_initialize_balancer) \
    X(ap_proxy_initialize_worker) \
    X(ap_proxy_share_balancer) \
    X(ap_proxy_share_worker) \
    X(ap_proxy_strncpy) \
    X(ap_proxy_sync_balancer) \
    X(ap_proxy_worker_name) \
    X(proxy_hook_canon_handler) \
    X(proxy_hook_post_request) \
    X(proxy_hook_pre_request) \
    X(proxy_module) \
    X(proxy_hcmethods) \
    X(ap_proxy_port_of_scheme) \
    X(ap_proxy_show_hcmethod) \
    X(ap_proxy_get_worker) \
    X(ap_proxy_define_worker) \
    X(ap_proxy_set_wstatus) \
    X(ap_proxy_parse_wstatus) \
    X(proxy_wstat_tbl)

/* mod_proxy 2.4.62 and later export this, but declare it only in their
 * private proxy_util.h, which Debian's apache2-dev does not install. */
PROXY_DECLARE(int) ap_proxy_canon_url(request_rec *r);

#define LBX_PROXY_PTR(sym) extern __typeof__(sym) *lbx_px_##sym;
LBX_PROXY_API(LBX_PROXY_PTR)
#undef LBX_PROXY_PTR

#define ap_proxy_canon_netloc (*lbx_px_ap_proxy_canon_netloc)
#define ap_proxy_canon_url (*lbx_px_ap_proxy_canon_url)
#define ap_proxy_find_balancershm (*lbx_px_ap_proxy_find_balancershm)
#define ap_proxy_find_workershm (*lbx_px_ap_proxy_find_workershm)
#define ap_proxy_get_balancer (*lbx_px_ap_proxy_get_balancer)
#define ap_proxy_hashfunc (*lbx_px_ap_proxy_hashfunc)
#define ap_proxy_initialize_balancer (*lbx_px_ap_proxy_initialize_balancer)
#define ap_proxy_initialize_worker (*lbx_px_ap_proxy_initialize_worker)
#define ap_proxy_share_balancer (*lbx_px_ap_proxy_share_balancer)
#define ap_proxy_share_worker (*lbx_px_ap_proxy_share_worker)
#define ap_proxy_strncpy (*lbx_px_ap_proxy_strncpy)
#define ap_proxy_sync_balancer (*lbx_px_ap_proxy_sync_balancer)
#define ap_proxy_worker_name (*lbx_px_ap_proxy_worker_name)
#define proxy_hook_canon_handler (*lbx_px_proxy_hook_canon_handler)
#define proxy_hook_post_request (*lbx_px_proxy_hook_post_request)
#define proxy_hook_pre_request (*lbx_px_proxy_hook_pre_request)
#define proxy_module (*lbx_px_proxy_module)
#define proxy_hcmethods (*lbx_px_proxy_hcmethods)
#define ap_proxy_port_of_scheme (*lbx_px_ap_proxy_port_of_scheme)
#define ap_proxy_show_hcmethod (*lbx_px_ap_proxy_show_hcmethod)
#define ap_proxy_get_worker (*lbx_px_ap_proxy_get_worker)
#define ap_proxy_define_worker (*lbx_px_ap_proxy_define_worker)
#define ap_proxy_set_wstatus (*lbx_px_ap_proxy_set_wstatus)
#define ap_proxy_parse_wstatus (*lbx_px_ap_proxy_parse_wstatus)
#define proxy_wstat_tbl (*lbx_px_proxy_wstat_tbl)

/* Look mod_proxy's API up among the loaded modules (apr_dso_load opens
 * them RTLD_GLOBAL).  Returns the first missing name, or NULL. */
const char *lbx_proxy_resolve(void);

/* Fetch mod_proxy's optional ap_proxy_retry_worker (post_config); 0 if
 * mod_proxy does not offer it. */
int lbx_proxy_fetch_retry(void);

/* Bring member w back if its retry= period is over (stock's
 * ap_proxy_retry_worker, as the balancer calls it). */
int lbx_retry_worker(proxy_worker *w, server_rec *s);

/* Call fn for every balancer of every server, main server first, in
 * configuration order, until it returns non-zero; returns that value or 0.
 * A vhost without proxy directives of its own shares the main server's
 * proxy configuration: its balancers are visited again, with its server. */
typedef int lbx_balancer_fn(server_rec *s, proxy_server_conf *conf,
                            proxy_balancer *b, void *ctx);
int lbx_each_balancer(server_rec *main_s, lbx_balancer_fn *fn, void *ctx);

/* Log tags.  Where a message is stock's, the number is stock's AH number
 * with an LBX prefix (alerting rules map one to one); mod_lbx's own
 * messages are numbered from 20000 up.  `make check` refuses a number
 * used by two messages. */
#define LBXLOGNO(n) "LBX" #n ": "

/* Shared-memory counters are written by every child, and the balancer's
 * mutex only serialises the threads of one process: atomics keep
 * concurrent updates from several processes from being lost. */
#define lbx_atomic_add(ptr, delta) \
    __atomic_add_fetch((ptr), (delta), __ATOMIC_RELAXED)
#define lbx_atomic_load(ptr) __atomic_load_n((ptr), __ATOMIC_RELAXED)
#define lbx_atomic_store(ptr, v) __atomic_store_n((ptr), (v), __ATOMIC_RELAXED)
#define lbx_status_set(w, bits) \
    ((void)__atomic_or_fetch(&(w)->s->status, (bits), __ATOMIC_RELAXED))
#define lbx_status_clear(w, bits) \
    ((void)__atomic_and_fetch(&(w)->s->status, ~(unsigned int)(bits), \
                              __ATOMIC_RELAXED))

/* A member removed through the manager keeps its slot (mod_proxy has no
 * way to drop a worker from other processes' lists) but is stopped and
 * flagged Free, which nothing in httpd uses otherwise; every view hides it
 * and adding the same URL again brings it back. */
#define LBX_MEMBER_REMOVED(w) (((w)->s->status & PROXY_WORKER_FREE) != 0)

#endif
