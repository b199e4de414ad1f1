/* mod_lbx.h: what the glue files (mod_lbx.c, lbmethods/provider.c) share.
 * Only httpd-side code includes this; the pure cores never do. */
#ifndef MOD_LBX_H
#define MOD_LBX_H

#include "httpd.h"
#include "http_config.h"
#include "http_log.h"
#include "mod_proxy.h"

#include "lbx_method.h"

/* mod_proxy's API, reached through pointers that pre_config fills in with
 * dlsym().  Linking against mod_proxy's symbols directly would tie mod_lbx
 * to LoadModule order: Debian's a2enmod loads the mods-enabled .load
 * files alphabetically, and lbx.load sorts before proxy.load.  With the pointers,
 * mod_proxy may be loaded before or after mod_lbx.  The #defines below keep
 * the calls reading as the API they are. */
#define LBX_PROXY_API(X)              \
    X(ap_proxy_canon_netloc)          \
    X(ap_proxy_canon_url)             \
    X(ap_proxy_find_balancershm)      \
    X(ap_proxy_find_workershm)        \
    X(ap_proxy_get_balancer)          \
    X(ap_proxy_hashfunc)              \
    X(ap_proxy_initialize_balancer)   \
    X(ap_proxy_initialize_worker)     \
    X(ap_proxy_share_balancer)        \
    X(ap_proxy_share_worker)          \
    X(ap_proxy_strncpy)               \
    X(ap_proxy_sync_balancer)         \
    X(ap_proxy_worker_name)           \
    X(proxy_hook_canon_handler)       \
    X(proxy_hook_post_request)        \
    X(proxy_hook_pre_request)         \
    X(proxy_module)                   \
    X(proxy_hcmethods)                \
    X(ap_proxy_port_of_scheme)        \
    X(ap_proxy_show_hcmethod)         \
    X(ap_proxy_get_worker)            \
    X(ap_proxy_define_worker)         \
    X(ap_proxy_set_wstatus)           \
    X(ap_proxy_parse_wstatus)         \
    X(proxy_wstat_tbl)

/* Exported by mod_proxy >= 2.4.62 but declared only in its private
 * proxy_util.h, which Debian does not install (contract D7). */
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

/* Log tags.  Where a message is stock's, the number is stock's AH number
 * with an LBX prefix (alerting rules map one to one); mod_lbx's own
 * messages are numbered from 20000 up. */
#define LBXLOGNO(n) "LBX" #n ": "

/* Per-process scratch for one balancer's selection: sized for the most
 * members the balancer can ever have (max_workers), so the request path
 * never allocates.  Used only under the balancer's thread mutex. */
struct lbx_hb_cache;

struct lbx_scratch {
    apr_pool_t        *pool;      /* for lazily made per-method state */
    struct lbx_hb_cache *hb;      /* heartbeat reports, when used */
    size_t             cap;
    struct lbx_member *members;
    struct lbx_peer   *peers;
    int64_t           *credit0;   /* credits as read, to write back deltas */
    uint32_t          *ready;     /* heartbeat: capacity of each candidate */
    size_t            *index;     /* peer k is balancer member index[k] */
};

/* Scratch for `n` members of balancer `b` (read nelts once and pass it:
 * inherited copies of a balancer share one workers array, which a sync on
 * another copy may grow meanwhile).  Falls back to allocating from `p`
 * when n exceeds what child_init sized it for. */
struct lbx_scratch *lbx_scratch_get(proxy_balancer *b, size_t n,
                                    apr_pool_t *p);

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

/* busy.c: requests in flight, repaired when a child dies */
apr_status_t lbx_busy_create(apr_pool_t *pconf, apr_size_t members);
void lbx_busy_child_init(apr_pool_t *pchild, server_rec *s);
void lbx_busy_acquire(request_rec *r, proxy_worker *w);

/* The HeartbeatStorage file of server s (main-server directive). */
const char *lbx_heartbeat_path(server_rec *s);

/* hcheck.c: health checks */
struct lbx_hc_ctx;
/* The slot holding server s's health-check context; with p, a vhost that
 * has no mod_lbx configuration yet gets one (config time only). */
struct lbx_hc_ctx **lbx_hc_ctx_slot(server_rec *s, apr_pool_t *p);
const char *lbx_hc_set_expr(cmd_parms *cmd, void *dconf, const char *arg);
const char *lbx_hc_set_template(cmd_parms *cmd, void *dconf,
                                const char *arg);
const char *lbx_hc_set_threads(cmd_parms *cmd, void *dconf,
                               const char *arg);
void lbx_hc_pre_config(void);
void lbx_hc_child_init(apr_pool_t *pchild);
void lbx_hc_enable_cping(void);
int lbx_hc_post_config(apr_pool_t *pconf, server_rec *main_s);
void lbx_hc_register(apr_pool_t *p);
/* For the manager: is `name` a ProxyHCExpr of r's server; print the
 * expressions as a table, or as <option>s with `selected` chosen. */
int lbx_hc_valid_expr(request_rec *r, const char *name);
void lbx_hc_show_exprs(request_rec *r);
void lbx_hc_select_exprs(request_rec *r, const char *selected);

/* manager.c */
void lbx_manager_register(apr_pool_t *p);
/* How many of b's members come from the configuration (the first ones);
 * members after them were added at runtime. */
int lbx_config_members(proxy_balancer *b);

/* lbmethods/provider.c */
void lbx_register_providers(apr_pool_t *p);
void lbx_register_heartbeat(apr_pool_t *p);
/* Attach mod_heartmonitor's slotmem if it exists; `used`: some balancer
 * uses lbmethod=heartbeat (then say which source it reads). */
void lbx_heartbeat_attach(apr_pool_t *pconf, server_rec *s, int used);

#endif
