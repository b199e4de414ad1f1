/* lbx_shm.c: balancers and members in slotmem shared memory.
 *
 * At post_config every server with balancers gets one segment of balancer
 * records, named by the server's id, and every balancer one segment of
 * member records, named by the balancer's sname; mod_proxy's share
 * functions then point the configuration at those records.  Children
 * attach at child_init.  With BalancerPersist the segments are restored
 * from and saved to files, so runtime edits survive restarts.
 */
#include "apr_strings.h"
#include "apr_md5.h"
#include "apr_escape.h"
#include "apr_hash.h"
#include "ap_provider.h"
#include "ap_slotmem.h"
#include "http_main.h"
#include "util_mutex.h"

#include "lbx_shm.h"

APLOG_USE_MODULE(lbx);

static ap_slotmem_provider_t *lbx_storage;

/* balancer -> members from httpd.conf, recorded before a persisted segment
 * can add runtime members; children inherit it. */
static apr_hash_t *lbx_config_counts;

/* ---- server ids --------------------------------------------------------- */

/* Server ids must be bit-identical to stock's: they name the slotmem
 * segments and BalancerPersist files.  Stock hashes, for the first address
 * only, the virthost text, the textual IP and the two raw bytes of the
 * port, then the ServerName; on a collision the colliding servers are
 * hashed again with all addresses and all ServerAlias names, and a
 * remaining duplicate gets "_<index in hex>" appended. */
static const char *server_id(server_rec *s, apr_pool_t *p, int all)
{
    apr_md5_ctx_t ctx;
    unsigned char digest[APR_MD5_DIGESTSIZE];
    server_addr_rec *sar;
    int i;

    apr_md5_init(&ctx);
    for (sar = s->addrs; sar; sar = sar->next) {
        char ip[64] = "";
        apr_sockaddr_ip_getbuf(ip, sizeof(ip), sar->host_addr);
        apr_md5_update(&ctx, sar->virthost, strlen(sar->virthost));
        apr_md5_update(&ctx, ip, strlen(ip));
        apr_md5_update(&ctx, &sar->host_port, sizeof(sar->host_port));
        if (!all) {
            break;
        }
    }
    if (s->server_hostname) {
        apr_md5_update(&ctx, s->server_hostname, strlen(s->server_hostname));
    }
    if (all) {
        apr_array_header_t *lists[2] = { s->names, s->wild_names };
        int l;
        for (l = 0; l < 2; l++) {
            for (i = 0; lists[l] && i < lists[l]->nelts; i++) {
                const char *name = APR_ARRAY_IDX(lists[l], i, const char *);
                apr_md5_update(&ctx, name, strlen(name));
            }
        }
    }
    apr_md5_final(digest, &ctx);
    return apr_pescape_hex(p, digest, sizeof(digest), 0);
}

/* The servers whose short id collided get the long one, and a long id that
 * still collides gets the server's index appended. */
static void server_ids_again(apr_array_header_t *ids, server_rec *main_s,
                             apr_pool_t *p)
{
    apr_hash_t *seen = apr_hash_make(p);
    server_rec *s;
    int idx;

    for (idx = 0, s = main_s; s; s = s->next, idx++) {
        const char *id;

        if (APR_ARRAY_IDX(ids, idx, const char *)) {
            continue;
        }
        id = server_id(s, p, 1);
        if (apr_hash_get(seen, id, APR_HASH_KEY_STRING)) {
            id = apr_psprintf(p, "%s_%x", id, idx);
        }
        else {
            apr_hash_set(seen, id, APR_HASH_KEY_STRING, "");
        }
        APR_ARRAY_IDX(ids, idx, const char *) = id;
    }
}

static apr_array_header_t *server_ids(server_rec *main_s, apr_pool_t *p)
{
    apr_array_header_t *ids = apr_array_make(p, 8, sizeof(const char *));
    apr_hash_t *seen = apr_hash_make(p);
    server_rec *s;
    int idx, collided = 0;

    for (idx = 0, s = main_s; s; s = s->next, idx++) {
        const char *id = server_id(s, p, 0);
        int *first = apr_hash_get(seen, id, APR_HASH_KEY_STRING);

        apr_hash_set(seen, id, APR_HASH_KEY_STRING,
                     apr_pmemdup(p, &idx, sizeof(idx)));
        if (first) {
            /* Both the earlier holder and this one get the full id. */
            APR_ARRAY_IDX(ids, *first, const char *) = NULL;
            APR_ARRAY_PUSH(ids, const char *) = NULL;
            collided = 1;
        }
        else {
            APR_ARRAY_PUSH(ids, const char *) = id;
        }
    }
    if (collided) {
        server_ids_again(ids, main_s, p);
    }
    return ids;
}

/* ---- records ------------------------------------------------------------ */

/* A kind of record: balancer or member.  `share` points mod_proxy's
 * configuration object at its record; the log numbers are those of the
 * ways making a segment or taking a record can fail. */
struct record_kind {
    const char *what;
    apr_status_t (*share)(void *obj, void *rec, int index);
    const char *create_no, *fgrab_no, *grab_no, *dptr_no, *share_no;
};

static apr_status_t share_balancer_rec(void *obj, void *rec, int index)
{
    return ap_proxy_share_balancer(obj, rec, index);
}

static apr_status_t share_worker_rec(void *obj, void *rec, int index)
{
    return ap_proxy_share_worker(obj, rec, index);
}

static const struct record_kind balancer_kind = {
    "balancer",      share_balancer_rec, LBXLOGNO(01179), LBXLOGNO(02408),
    LBXLOGNO(01181), LBXLOGNO(01182),    LBXLOGNO(01183)
};
static const struct record_kind worker_kind = {
    "worker",        share_worker_rec, LBXLOGNO(01185), LBXLOGNO(02409),
    LBXLOGNO(01186), LBXLOGNO(01187),  LBXLOGNO(01188)
};

/* Give obj the record `found` at `index` (restored from a persist file or
 * left by an earlier generation), or, when nothing was found, a free
 * record of the segment.  OK or !OK, logged. */
static int share_record(ap_slotmem_instance_t *slot, void *found,
                        unsigned int index, void *obj,
                        const struct record_kind *k, server_rec *s)
{
    void *rec = found;
    apr_status_t rv;

    if (found) {
        if ((rv = lbx_storage->fgrab(slot, index)) != APR_SUCCESS) {
            ap_log_error(APLOG_MARK, APLOG_EMERG, rv, s,
                         "%s%s slotmem_fgrab "
                         "failed",
                         k->fgrab_no, k->what);
            return !OK;
        }
    }
    else if ((rv = lbx_storage->grab(slot, &index)) != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, rv, s,
                     "%s%s slotmem_grab "
                     "failed",
                     k->grab_no, k->what);
        return !OK;
    }
    else if ((rv = lbx_storage->dptr(slot, index, &rec)) != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, rv, s,
                     "%s%s slotmem_dptr "
                     "failed",
                     k->dptr_no, k->what);
        return !OK;
    }
    if ((rv = k->share(obj, rec, (int)index)) != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, rv, s, "%sCannot share %s",
                     k->share_no, k->what);
        return !OK;
    }
    return OK;
}

static int share_balancer(proxy_server_conf *conf, proxy_balancer *b,
                          server_rec *s)
{
    unsigned int index = 0;
    void *found =
        ap_proxy_find_balancershm(lbx_storage, conf->bslot, b, &index);

    return share_record(conf->bslot, found, index, b, &balancer_kind, s);
}

static int share_worker(proxy_balancer *b, proxy_worker *w, server_rec *s)
{
    unsigned int index = 0;
    void *found = ap_proxy_find_workershm(lbx_storage, b->wslot, w, &index);

    return share_record(b->wslot, found, index, w, &worker_kind, s);
}

apr_status_t lbx_shm_share_new_member(proxy_balancer *b, proxy_worker *w)
{
    unsigned int index;
    void *rec;
    apr_status_t rv = b->storage->grab(b->wslot, &index);

    if (rv == APR_SUCCESS) {
        rv = b->storage->dptr(b->wslot, index, &rec);
    }
    if (rv == APR_SUCCESS) {
        rv = ap_proxy_share_worker(w, rec, (int)index);
    }
    return rv;
}

int lbx_shm_config_member(proxy_balancer *b, proxy_worker *w)
{
    proxy_worker **ws = (proxy_worker **)b->workers->elts;
    int *count = lbx_config_counts
        ? apr_hash_get(lbx_config_counts, &b, sizeof(b))
        : NULL;
    int i, n = count ? *count : b->workers->nelts;

    for (i = 0; i < n && i < b->workers->nelts; i++) {
        if (ws[i] == w) {
            return 1;
        }
    }
    return 0;
}

/* ---- post_config -------------------------------------------------------- */

struct setup_ctx {
    apr_pool_t *pconf;
    apr_time_t tstamp;
    apr_size_t members;
};

static ap_slotmem_type_t segment_type(proxy_server_conf *conf)
{
    return conf->bal_persist
        ? AP_SLOTMEM_TYPE_PERSIST | AP_SLOTMEM_TYPE_CLEARINUSE
        : 0;
}

/* A segment of `count` records of kind k, persisted with BalancerPersist.
 * OK or !OK, logged. */
static int create_segment(ap_slotmem_instance_t **slot, const char *name,
                          apr_size_t size, int count, proxy_server_conf *conf,
                          struct setup_ctx *ctx, const struct record_kind *k,
                          server_rec *s)
{
    apr_status_t rv = lbx_storage->create(slot, name, size, (unsigned int)count,
                                          segment_type(conf), ctx->pconf);

    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, rv, s,
                     "%s%s slotmem_create "
                     "failed",
                     k->create_no, k->what);
        return !OK;
    }
    return OK;
}

/* The balancer's member segment and its members' records. */
static int share_members(proxy_server_conf *conf, proxy_balancer *b,
                         server_rec *s, struct setup_ctx *ctx)
{
    proxy_worker **workers = (proxy_worker **)b->workers->elts;
    int j;

    ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, s,
                 LBXLOGNO(01184) "Doing workers create: %s (%s), %d, %d [%u]",
                 b->s->name, b->s->sname, (int)ALIGNED_PROXY_WORKER_SHARED_SIZE,
                 b->max_workers, (unsigned int)b->s->index);
    if (create_segment(&b->wslot, b->s->sname, ALIGNED_PROXY_WORKER_SHARED_SIZE,
                       b->max_workers, conf, ctx, &worker_kind, s)
        != OK) {
        return !OK;
    }
    b->storage = lbx_storage;
    b->wupdated = b->s->wupdated = ctx->tstamp;
    for (j = 0; j < b->workers->nelts; j++) {
        if (share_worker(b, workers[j], s) != OK) {
            return !OK;
        }
        /* The first health check comes one interval after start. */
        workers[j]->s->updated = ctx->tstamp;
        /* Nothing is in flight in a new generation, whatever a persisted
         * segment says (stock keeps such stale counts forever). */
        lbx_atomic_store(&workers[j]->s->busy, 0);
    }
    return OK;
}

static int setup_balancer(proxy_server_conf *conf, proxy_balancer *b,
                          server_rec *s, struct setup_ctx *ctx)
{
    apr_pool_t *pconf = ctx->pconf;
    const char *alnum;
    apr_status_t rv;

    apr_hash_set(lbx_config_counts, apr_pmemdup(pconf, &b, sizeof(b)),
                 sizeof(b),
                 apr_pmemdup(pconf, &b->workers->nelts, sizeof(int)));
    /* The sname made at config time used a placeholder id. */
    ap_pstr2_alnum(pconf, b->s->name + sizeof(BALANCER_PREFIX) - 1, &alnum);
    ap_proxy_strncpy(b->s->sname,
                     apr_pstrcat(pconf, conf->id, "_", alnum, NULL),
                     sizeof(b->s->sname));
    b->max_workers = b->workers->nelts + b->growth;

    /* APR destroys the mutex with pconf, on every restart. */
    rv = ap_global_mutex_create(&b->gmutex, NULL, LBX_SHM_MUTEX_TYPE,
                                b->s->sname, s, pconf, 0);
    if (rv != APR_SUCCESS || !b->gmutex) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, rv, s,
                     LBXLOGNO(01180) "mutex creation of %s : %s failed",
                     LBX_SHM_MUTEX_TYPE, b->s->sname);
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    if (share_balancer(conf, b, s) != OK
        || share_members(conf, b, s, ctx) != OK) {
        return !OK;
    }
    if (conf->bal_persist) {
        /* The segment may hold members added at runtime before the restart:
         * an older local timestamp makes the sync materialise them. */
        b->wupdated--;
        ap_proxy_sync_balancer(b, s, conf);
    }
    ctx->members += (apr_size_t)b->max_workers;
    return OK;
}

/* The server's segment of balancer records, then its balancers. */
static int setup_server(proxy_server_conf *conf, server_rec *s,
                        struct setup_ctx *ctx)
{
    proxy_balancer *b = (proxy_balancer *)conf->balancers->elts;
    int i, rc;

    if (conf->balancers->nelts) {
        conf->max_balancers = conf->balancers->nelts + conf->bgrowth;
        ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, s,
                     LBXLOGNO(01178) "Doing balancers create: %d, %d (%d)",
                     (int)ALIGNED_PROXY_BALANCER_SHARED_SIZE,
                     (int)conf->balancers->nelts, conf->max_balancers);
        if (create_segment(&conf->bslot, conf->id,
                           ALIGNED_PROXY_BALANCER_SHARED_SIZE,
                           conf->max_balancers, conf, ctx, &balancer_kind, s)
            != OK) {
            return !OK;
        }
    }
    conf->storage = lbx_storage;
    for (i = 0; i < conf->balancers->nelts; i++) {
        if ((rc = setup_balancer(conf, &b[i], s, ctx)) != OK) {
            return rc;
        }
    }
    return OK;
}

int lbx_shm_post_config(apr_pool_t *pconf, apr_pool_t *ptemp,
                        server_rec *main_s, apr_size_t *members)
{
    struct setup_ctx ctx = { pconf, apr_time_now(), 0 };
    apr_array_header_t *ids;
    server_rec *s;
    int idx, rc;

    *members = 0;
    lbx_storage = ap_lookup_provider(AP_SLOTMEM_PROVIDER_GROUP, "shm",
                                     AP_SLOTMEM_PROVIDER_VERSION);
    if (!lbx_storage) {
        ap_log_error(
            APLOG_MARK, APLOG_EMERG, 0, main_s,
            LBXLOGNO(
                01177) "Failed to lookup provider 'shm' for '%s': is "
                       "mod_slotmem_shm loaded?? mod_lbx keeps balancer state "
                       "in shared memory: add 'LoadModule slotmem_shm_module "
                       "/usr/lib/apache2/modules/mod_slotmem_shm.so'",
            AP_SLOTMEM_PROVIDER_GROUP);
        return !OK;
    }
    lbx_config_counts = apr_hash_make(pconf);
    ids = server_ids(main_s, ptemp);
    for (idx = 0, s = main_s; s; s = s->next, idx++) {
        proxy_server_conf *conf =
            ap_get_module_config(s->module_config, &proxy_module);

        conf->id = apr_psprintf(
            pconf, "p%x",
            ap_proxy_hashfunc(APR_ARRAY_IDX(ids, idx, const char *),
                              PROXY_HASHFUNC_DEFAULT));
        /* A vhost without proxy directives of its own shares the main
         * server's conf, and with it the segments already made. */
        if (!conf->bslot && (rc = setup_server(conf, s, &ctx)) != OK) {
            return rc;
        }
    }
    *members = ctx.members;
    return OK;
}

/* ---- child_init --------------------------------------------------------- */

static void attach_members(proxy_balancer *b, server_rec *s, apr_pool_t *p)
{
    proxy_worker **workers;
    apr_status_t rv = ap_proxy_initialize_balancer(b, s, p);
    int j;

    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, rv, s,
                     LBXLOGNO(01206) "Failed to init balancer %s in child",
                     b->s->name);
        exit(1);
    }
    workers = (proxy_worker **)b->workers->elts;
    for (j = 0; j < b->workers->nelts; j++) {
        ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, s,
                     LBXLOGNO(01158) "Looking at %s -> %s initialized?",
                     b->s->name, ap_proxy_worker_name(p, workers[j]));
        if (!PROXY_WORKER_IS_INITIALIZED(workers[j])) {
            ap_proxy_initialize_worker(workers[j], s, p);
        }
    }
    if (!b->s->max_attempts_set && b->workers->nelts > 1) {
        b->s->max_attempts = b->workers->nelts - 1;
        b->s->max_attempts_set = 1;
    }
}

void lbx_shm_child_init(apr_pool_t *pchild, server_rec *main_s)
{
    server_rec *s;

    for (s = main_s; s; s = s->next) {
        proxy_server_conf *conf =
            ap_get_module_config(s->module_config, &proxy_module);
        proxy_balancer *b = (proxy_balancer *)conf->balancers->elts;
        int i;

        if (conf->balancers->nelts) {
            apr_size_t size;
            unsigned int num;
            /* slotmem_shm hands back the segment or NULL; NULL leaves this
             * child without balancer state, which it cannot serve without.
             * Exiting lets the parent report it and fork another. */
            apr_status_t rv = lbx_storage->attach(&conf->bslot, conf->id, &size,
                                                  &num, pchild);
            if (!conf->bslot) {
                ap_log_error(APLOG_MARK, APLOG_EMERG, rv, s,
                             LBXLOGNO(01205) "slotmem_attach failed");
                exit(1);
            }
        }
        for (i = 0; i < conf->balancers->nelts; i++) {
            attach_members(&b[i], s, pchild);
        }
    }
}
