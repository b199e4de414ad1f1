/* A third-party proxylbmethod provider, built by the integration tests only:
 * "testlast" always chooses the last usable member.  It proves that mod_lbx
 * calls whatever provider a balancer names through mod_proxy's interface,
 * not only its own cores. */
#include "httpd.h"
#include "http_config.h"
#include "ap_provider.h"
#include "mod_proxy.h"

static proxy_worker *testlast_finder(proxy_balancer *b, request_rec *r)
{
    proxy_worker **workers = (proxy_worker **)b->workers->elts;
    int i;

    (void)r;
    for (i = b->workers->nelts - 1; i >= 0; i--) {
        if (PROXY_WORKER_IS_USABLE(workers[i])) {
            return workers[i];
        }
    }
    return NULL;
}

static proxy_balancer_method testlast = {
    .name = "testlast",
    .finder = testlast_finder,
};

static void register_hooks(apr_pool_t *p)
{
    ap_register_provider(p, PROXY_LBMETHOD, "testlast", "0", &testlast);
}

AP_DECLARE_MODULE(lbx_testlast) = {
    STANDARD20_MODULE_STUFF, NULL, NULL, NULL, NULL, NULL, register_hooks,
    AP_MODULE_FLAG_NONE
};
