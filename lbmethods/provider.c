/* provider.c: the one adapter between mod_proxy's proxy_balancer_method and
 * mod_lbx's pure selection cores (struct lbx_method).
 *
 * Every method registered here shares one finder: snapshot the members,
 * let lbx_eligible() apply stock's lbset/spare/standby rules, let the core
 * pick, write its credit changes back to shared memory as atomic deltas.
 * The finder runs under the balancer's per-process thread mutex (mod_lbx.c
 * takes it, as stock's find_best_worker does), which protects the scratch
 * arrays; other processes update the same shared counters concurrently,
 * which the atomic deltas tolerate: a pick may be made on slightly stale
 * credits, but no update is lost.
 */
#include "apr_strings.h"
#include "ap_provider.h"
#include "ap_slotmem.h"
#include "heartbeat.h"
#include "httpd.h"

#include "mod_lbx.h"

APLOG_USE_MODULE(lbx);

static unsigned member_flags(proxy_worker *w)
{
    unsigned f = 0;

    if (PROXY_WORKER_IS_USABLE(w)) {
        f |= LBX_M_USABLE;
    }
    if (PROXY_WORKER_IS_DRAINING(w)) {
        f |= LBX_M_DRAIN;
    }
    if (PROXY_WORKER_IS_SPARE(w)) {
        f |= LBX_M_SPARE;
    }
    if (PROXY_WORKER_IS_STANDBY(w)) {
        f |= LBX_M_STANDBY;
    }
    return f;
}

struct retry_ctx {
    proxy_worker **workers;
    server_rec    *s;
};

static unsigned retry_member(void *ctx_, size_t idx)
{
    struct retry_ctx *ctx = ctx_;

    lbx_retry_worker(ctx->workers[idx], ctx->s);
    return member_flags(ctx->workers[idx]);
}

static void member_snapshot(proxy_worker *w, struct lbx_peer *peer)
{
    peer->weight = lbx_atomic_load(&w->s->lbfactor);
    peer->credit = lbx_atomic_load(&w->s->lbstatus);
    peer->busy = lbx_atomic_load(&w->s->busy);
    peer->sent = (uint64_t)lbx_atomic_load(&w->s->transferred);
    peer->rcvd = (uint64_t)lbx_atomic_load(&w->s->read);
}

static uint32_t random_u32(void *ctx)
{
    uint32_t v;

    (void)ctx;
    ap_random_insecure_bytes(&v, sizeof(v));
    return v;
}

static proxy_worker *lbx_finder(proxy_balancer *b, request_rec *r)
{
    const struct lbx_method *m = b->lbmethod->context;
    proxy_worker **workers = (proxy_worker **)b->workers->elts;
    size_t n = (size_t)b->workers->nelts, i, count;
    struct lbx_scratch *sc = lbx_scratch_get(b, n, r->pool);
    struct retry_ctx ctx = { workers, r->server };
    struct lbx_pick_in in = { 0 };
    long pick;

    for (i = 0; i < n; i++) {
        sc->members[i].lbset = workers[i]->s->lbset;
        sc->members[i].flags = member_flags(workers[i]);
    }
    count = lbx_eligible(sc->members, n, retry_member, &ctx, sc->index);
    for (i = 0; i < count; i++) {
        member_snapshot(workers[sc->index[i]], &sc->peers[i]);
        sc->credit0[i] = sc->peers[i].credit;
    }
    in.peers = sc->peers;
    in.n = count;
    in.rand = random_u32;
    pick = m->pick(&in);
    for (i = 0; i < count; i++) {
        int64_t delta = sc->peers[i].credit - sc->credit0[i];
        if (delta) {
            lbx_atomic_add(&workers[sc->index[i]]->s->lbstatus, (int)delta);
        }
    }
    if (pick == LBX_NONE) {
        ap_log_rerror(APLOG_MARK, APLOG_TRACE1, 0, r,
                      "%s: %s found no usable member among %d",
                      b->s->name, m->name, (int)n);
        return NULL;
    }
    ap_log_rerror(APLOG_MARK, APLOG_TRACE1, 0, r,
                  "%s: %s selected %s (busy %" APR_SIZE_T_FMT
                  ", lbstatus %d) from %d candidates",
                  b->s->name, m->name, workers[sc->index[pick]]->s->name_ex,
                  workers[sc->index[pick]]->s->busy,
                  workers[sc->index[pick]]->s->lbstatus, (int)count);
    return workers[sc->index[pick]];
}

/* Called by mod_proxy's ap_proxy_sync_balancer() after an lbmethod change. */
static apr_status_t lbx_reset(proxy_balancer *b, server_rec *s)
{
    const struct lbx_method *m = b->lbmethod->context;
    proxy_worker **workers = (proxy_worker **)b->workers->elts;
    int i;

    (void)s;
    for (i = 0; i < b->workers->nelts; i++) {
        proxy_worker_shared *ws = workers[i]->s;
        if (m->reset_counters & LBX_RESET_CREDIT) {
            lbx_atomic_store(&ws->lbstatus, 0);
        }
        if (m->reset_counters & LBX_RESET_BYTES) {
            lbx_atomic_store(&ws->transferred, 0);
            lbx_atomic_store(&ws->read, 0);
        }
    }
    return APR_SUCCESS;
}

/* `age` stays NULL: nothing in httpd 2.4 calls it.  `updatelbstatus` stays
 * NULL as in every stock method, so sticky hits get stock's default credit
 * accounting in mod_lbx.c (same arithmetic, lbx_byrequests_credit). */
static proxy_balancer_method core_providers[] = {
    { .name = "byrequests", .finder = lbx_finder, .reset = lbx_reset,
      .context = (void *)&lbx_method_byrequests },
    { .name = "bytraffic", .finder = lbx_finder, .reset = lbx_reset,
      .context = (void *)&lbx_method_bytraffic },
    { .name = "bybusyness", .finder = lbx_finder, .reset = lbx_reset,
      .context = (void *)&lbx_method_bybusyness },
};

void lbx_register_providers(apr_pool_t *p)
{
    size_t i;

    for (i = 0; i < sizeof(core_providers) / sizeof(core_providers[0]); i++) {
        ap_register_provider(p, PROXY_LBMETHOD, core_providers[i].name, "0",
                             &core_providers[i]);
    }
    lbx_register_heartbeat(p);
}

/* ---- heartbeat ------------------------------------------------------------
 *
 * heartbeat does not use the eligibility walk: like stock, it ignores
 * lbsets, spares, standbys, draining and weights, and offers every usable
 * member that reports fresh capacity, in proportion to what it reports.
 *
 * The reports come from mod_heartmonitor's slotmem when that exists (read
 * per request: a few slots in shared memory), else from the
 * HeartbeatStorage file.  Stock opens and parses that file on every
 * request; mod_lbx keeps the parsed file per balancer and process and only
 * stat()s it per request, re-reading it when its size, mtime or inode
 * changed (mod_heartmonitor replaces it by rename, so every update shows).
 */

#define HB_MAX_SERVERS 1024           /* entries kept from one file */
#define HB_MAX_FILE    (4 * 1024 * 1024)

struct lbx_hb_cache {
    int loaded;                       /* servers[] holds a parsed file */
    apr_time_t mtime;
    apr_off_t size;
    apr_ino_t inode;
    size_t n;
    struct lbx_hb_server servers[HB_MAX_SERVERS];
};

static ap_slotmem_provider_t *hm_storage;
static ap_slotmem_instance_t *hm_slots;

void lbx_heartbeat_attach(apr_pool_t *pconf, server_rec *s, int used)
{
    apr_size_t size;
    unsigned int num;

    hm_slots = NULL;
    hm_storage = ap_lookup_provider(AP_SLOTMEM_PROVIDER_GROUP, "shm",
                                    AP_SLOTMEM_PROVIDER_VERSION);
    if (!hm_storage) {
        return;
    }
    hm_storage->attach(&hm_slots, "mod_heartmonitor", &size, &num, pconf);
    if (used) {
        ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, s, hm_slots
                     ? LBXLOGNO(02283) "Using slotmem from mod_heartmonitor"
                     : LBXLOGNO(02282) "No slotmem from mod_heartmonitor");
    }
}

static apr_status_t read_file(struct lbx_hb_cache *c, const char *path,
                              request_rec *r)
{
    apr_finfo_t fi;
    apr_file_t *f;
    apr_size_t len;
    apr_status_t rv;
    char *buf;

    rv = apr_stat(&fi, path, APR_FINFO_SIZE | APR_FINFO_MTIME
                  | APR_FINFO_INODE, r->pool);
    if (rv != APR_SUCCESS && rv != APR_INCOMPLETE) {
        return rv;
    }
    if (c->loaded && fi.mtime == c->mtime && fi.size == c->size
        && fi.inode == c->inode) {
        return APR_SUCCESS;
    }
    c->loaded = 0;
    rv = apr_file_open(&f, path, APR_READ | APR_BINARY, APR_OS_DEFAULT,
                       r->pool);
    if (rv != APR_SUCCESS) {
        return rv;
    }
    len = fi.size > HB_MAX_FILE ? HB_MAX_FILE : (apr_size_t)fi.size;
    buf = apr_palloc(r->pool, len + 1);
    rv = apr_file_read_full(f, buf, len, &len);
    apr_file_close(f);
    if (rv != APR_SUCCESS && rv != APR_EOF) {
        return rv;
    }
    c->n = lbx_hb_parse(buf, len, c->servers, HB_MAX_SERVERS);
    c->loaded = 1;
    c->mtime = fi.mtime;
    c->size = fi.size;
    c->inode = fi.inode;
    return APR_SUCCESS;
}

struct hm_read_ctx {
    struct lbx_hb_cache *c;
    apr_time_t now;
};

static apr_status_t read_slot(void *mem, void *data, apr_pool_t *pool)
{
    const hm_slot_server_t *slot = mem;
    struct hm_read_ctx *ctx = data;
    struct lbx_hb_server *srv;
    apr_time_t age;

    (void)pool;
    if (ctx->c->n == HB_MAX_SERVERS) {
        return APR_SUCCESS;
    }
    srv = &ctx->c->servers[ctx->c->n++];
    apr_cpystrn(srv->ip, slot->ip, sizeof(srv->ip));
    srv->busy = slot->busy;
    srv->ready = slot->ready < 0 ? 0 : slot->ready;
    age = apr_time_sec(ctx->now - slot->seen);
    srv->seen = age > INT32_MAX ? INT32_MAX : (int32_t)age;
    srv->port = 0;
    lbx_hb_throttle(srv);
    return APR_SUCCESS;
}

/* Fill c with the current reports; APR_SUCCESS or why there are none. */
static apr_status_t load_reports(struct lbx_hb_cache *c, request_rec *r)
{
    if (hm_slots) {
        struct hm_read_ctx ctx = { c, apr_time_now() };
        c->loaded = 0;
        c->n = 0;
        return hm_storage->doall(hm_slots, read_slot, &ctx, r->pool);
    }
    return read_file(c, lbx_heartbeat_path(r->server), r);
}

static proxy_worker *heartbeat_finder(proxy_balancer *b, request_rec *r)
{
    proxy_worker **workers = (proxy_worker **)b->workers->elts;
    int n = b->workers->nelts;
    struct lbx_scratch *sc = lbx_scratch_get(b, (size_t)n, r->pool);
    struct lbx_hb_cache *c;
    uint32_t *ready;
    uint64_t openslots = 0, rnd;
    size_t count = 0;
    apr_status_t rv;
    long pick;
    int i;

    if (!sc->hb) {
        /* First heartbeat pick of this balancer in this process; the
         * scratch pool is only used under the balancer's mutex. */
        sc->hb = apr_pcalloc(sc->pool, sizeof(*sc->hb));
    }
    c = sc->hb;
    rv = load_reports(c, r);
    if (rv != APR_SUCCESS) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, rv, r, LBXLOGNO(01213)
                      "lb_heartbeat: Unable to read heartbeats at '%s'",
                      hm_slots ? "(slotmem)" : lbx_heartbeat_path(r->server));
        return NULL;
    }
    ready = sc->ready;
    for (i = 0; i < n; i++) {
        proxy_worker *w = workers[i];
        const struct lbx_hb_server *srv = NULL;
        size_t k;

        for (k = 0; k < c->n; k++) {
            if (strcmp(c->servers[k].ip, w->s->hostname_ex) == 0) {
                srv = &c->servers[k];
                break;
            }
        }
        if (!srv) {
            ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, LBXLOGNO(01214)
                          "lb_heartbeat: No server for worker %s",
                          w->s->name_ex);
            continue;
        }
        if (!PROXY_WORKER_IS_USABLE(w)) {
            lbx_retry_worker(w, r->server);
        }
        if (PROXY_WORKER_IS_USABLE(w) && srv->seen < LBX_HB_MAX_LASTSEEN) {
            ready[count] = (uint32_t)srv->ready;
            sc->index[count++] = (size_t)i;
            openslots += (uint32_t)srv->ready;
        }
    }
    if (openslots == 0) {
        return NULL;
    }
    ap_random_insecure_bytes(&rnd, sizeof(rnd));
    /* Uniform in [0, openslots], both ends included, as stock's
     * ap_random_pick(0, openslots). */
    pick = lbx_hb_pick(ready, count,
                       (uint64_t)(((unsigned __int128)rnd * (openslots + 1))
                                  >> 64));
    return pick == LBX_NONE ? NULL : workers[sc->index[pick]];
}

static proxy_balancer_method heartbeat_provider = {
    .name = "heartbeat",
    .finder = heartbeat_finder,
};

void lbx_register_heartbeat(apr_pool_t *p)
{
    ap_register_provider(p, PROXY_LBMETHOD, heartbeat_provider.name, "0",
                         &heartbeat_provider);
}
