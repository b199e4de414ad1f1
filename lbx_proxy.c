/* lbx_proxy.c: mod_proxy's API, looked up at run time (see lbx_proxy.h). */
#include <dlfcn.h>

#include "lbx_proxy.h"

#define LBX_PROXY_PTR(sym) __typeof__(sym) *lbx_px_##sym;
LBX_PROXY_API(LBX_PROXY_PTR)
#undef LBX_PROXY_PTR

static APR_OPTIONAL_FN_TYPE(ap_proxy_retry_worker) * proxy_retry_worker_fn;

const char *lbx_proxy_resolve(void)
{
#define LBX_PROXY_RESOLVE(sym) \
    if (!(lbx_px_##sym = dlsym(RTLD_DEFAULT, #sym))) { \
        return #sym; \
    }
    LBX_PROXY_API(LBX_PROXY_RESOLVE)
#undef LBX_PROXY_RESOLVE
    return NULL;
}

int lbx_proxy_fetch_retry(void)
{
    proxy_retry_worker_fn = APR_RETRIEVE_OPTIONAL_FN(ap_proxy_retry_worker);
    return proxy_retry_worker_fn != NULL;
}

int lbx_retry_worker(proxy_worker *w, server_rec *s)
{
    return proxy_retry_worker_fn("BALANCER", w, s);
}

int lbx_each_balancer(server_rec *main_s, lbx_balancer_fn *fn, void *ctx)
{
    server_rec *s;

    for (s = main_s; s; s = s->next) {
        proxy_server_conf *conf =
            ap_get_module_config(s->module_config, &proxy_module);
        proxy_balancer *b = (proxy_balancer *)conf->balancers->elts;
        int i, rc;

        for (i = 0; i < conf->balancers->nelts; i++) {
            if ((rc = fn(s, conf, &b[i], ctx)) != 0) {
                return rc;
            }
        }
    }
    return 0;
}
