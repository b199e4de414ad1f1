/* mod_lbx_floor.c: a bench-only lbmethod, "lbmethod=floor", the cheapest
 * choice a balancer can make: member number (t mod n) for the t-th pick
 * of this process, without looking at status, weight, lbset or load.
 * bench/e2e_lb.py loads it next to mod_lbx (or stock mod_proxy_balancer)
 * to measure everything a balanced request costs except the choice: the
 * floor the real methods are compared with.  Not for production: it sends
 * requests to members that are down.
 *
 * Build: make bench-floor (bench/.libs/mod_lbx_floor.so). */
#include "httpd.h"
#include "http_config.h"
#include "ap_provider.h"
#include "mod_proxy.h"

static apr_uint32_t floor_ticket;

static proxy_worker *floor_finder(proxy_balancer *b, request_rec *r)
{
    apr_uint32_t t = __atomic_fetch_add(&floor_ticket, 1, __ATOMIC_RELAXED);

    (void)r;
    if (b->workers->nelts == 0) {
        return NULL;
    }
    return (
        (proxy_worker **)b->workers->elts)[t % (apr_uint32_t)b->workers->nelts];
}

static apr_status_t floor_reset(proxy_balancer *b, server_rec *s)
{
    (void)b;
    (void)s;
    return APR_SUCCESS;
}

static proxy_balancer_method floor_method = {
    .name = "floor",
    .finder = floor_finder,
    .reset = floor_reset,
};

static void floor_hooks(apr_pool_t *p)
{
    ap_register_provider(p, PROXY_LBMETHOD, "floor", "0", &floor_method);
}

AP_DECLARE_MODULE(lbx_floor) = {
    STANDARD20_MODULE_STUFF, NULL, NULL, NULL, NULL, NULL, floor_hooks,
    AP_MODULE_FLAG_NONE
};
