/* hb_reports.c: reading heartbeat reports for lbmethod=heartbeat.
 *
 * The reports come from mod_heartmonitor's slotmem when that exists (read
 * per request: a few slots in shared memory), else from the
 * HeartbeatStorage file.  Stock opens and parses that file on every
 * request; mod_lbx keeps the parsed file per balancer and process and only
 * stat()s it per request, re-reading it when its size, mtime or inode
 * changed (mod_heartmonitor replaces it by rename, so every update shows).
 * Parsing is pure (heartbeat.c).
 */
#include "apr_strings.h"
#include "ap_provider.h"
#include "ap_slotmem.h"
#include "heartbeat.h"

#include "hb_reports.h"
#include "lbx_conf.h"

APLOG_USE_MODULE(lbx);

#define HB_MAX_SERVERS 1024 /* entries kept from one file */
#define HB_MAX_FILE (4 * 1024 * 1024)

struct lbx_hb_reports {
    unsigned version; /* bumped whenever servers[] is (re)filled */
    int loaded; /* servers[] holds a parsed file */
    apr_time_t mtime;
    apr_off_t size;
    apr_ino_t inode;
    size_t n;
    struct lbx_hb_server servers[HB_MAX_SERVERS];
};

static ap_slotmem_provider_t *hm_storage;
static ap_slotmem_instance_t *hm_slots;

struct lbx_hb_reports *lbx_hb_reports_make(apr_pool_t *p)
{
    return apr_pcalloc(p, sizeof(struct lbx_hb_reports));
}

static int uses_heartbeat(server_rec *s, proxy_server_conf *conf,
                          proxy_balancer *b, void *ctx)
{
    (void)s;
    (void)conf;
    (void)ctx;
    return strcmp(b->s->lbpname, "heartbeat") == 0;
}

void lbx_hb_reports_post_config(apr_pool_t *pconf, server_rec *main_s)
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
    if (lbx_each_balancer(main_s, uses_heartbeat, NULL)) {
        ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, main_s,
                     hm_slots
                         ? LBXLOGNO(02283) "Using slotmem from mod_heartmonitor"
                         : LBXLOGNO(02282) "No slotmem from mod_heartmonitor");
    }
}

static apr_status_t read_file(struct lbx_hb_reports *c, const char *path,
                              request_rec *r)
{
    apr_finfo_t fi;
    apr_file_t *f;
    apr_size_t len;
    apr_status_t rv;
    char *buf;

    rv = apr_stat(&fi, path, APR_FINFO_SIZE | APR_FINFO_MTIME | APR_FINFO_INODE,
                  r->pool);
    if (rv != APR_SUCCESS && rv != APR_INCOMPLETE) {
        return rv;
    }
    if (c->loaded && fi.mtime == c->mtime && fi.size == c->size
        && fi.inode == c->inode) {
        return APR_SUCCESS;
    }
    c->loaded = 0;
    rv =
        apr_file_open(&f, path, APR_READ | APR_BINARY, APR_OS_DEFAULT, r->pool);
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
    c->version++;
    c->loaded = 1;
    c->mtime = fi.mtime;
    c->size = fi.size;
    c->inode = fi.inode;
    return APR_SUCCESS;
}

struct hm_read_ctx {
    struct lbx_hb_reports *c;
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

apr_status_t lbx_hb_reports_load(struct lbx_hb_reports *c, request_rec *r)
{
    if (hm_slots) {
        struct hm_read_ctx ctx = { c, apr_time_now() };
        c->loaded = 0;
        c->n = 0;
        c->version++;
        return hm_storage->doall(hm_slots, read_slot, &ctx, r->pool);
    }
    return read_file(c, lbx_conf_heartbeat_path(r->server), r);
}

unsigned lbx_hb_reports_version(const struct lbx_hb_reports *c)
{
    return c->version;
}

const char *lbx_hb_reports_source(request_rec *r)
{
    return hm_slots ? "(slotmem)" : lbx_conf_heartbeat_path(r->server);
}

const struct lbx_hb_server *lbx_hb_reports_find(const struct lbx_hb_reports *c,
                                                const char *ip)
{
    size_t k;

    for (k = 0; k < c->n; k++) {
        if (strcmp(c->servers[k].ip, ip) == 0) {
            return &c->servers[k];
        }
    }
    return NULL;
}
