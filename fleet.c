/* fleet.c: LBXFleet's configuration, the fleet's shared memory, the queue
 * manager edits enter, and the copy of its state the manager shows.  The
 * talking to Redis is fleet_sync.c's, in one thread of one child. */
#include "apr_file_io.h"
#include "apr_shm.h"
#include "apr_strings.h"
#include "ap_listen.h"
#include "mod_watchdog.h"

#include "fleet_int.h"
#include "lbx_hot.h"

APLOG_USE_MODULE(lbx);

#define FLEET_WATCHDOG_NAME "_lbx_fleet_"
#define FLEET_SHM_KEY "lbx_fleet_shm_%" APR_SIZE_T_FMT

static struct lbx_fleet_conf *fleet; /* NULL: no LBXFleet */
static struct fleet_shared *shared;
static apr_shm_t *fleet_shm;

const struct lbx_fleet_conf *lbx_fleet_conf(void)
{
    return fleet;
}

struct fleet_shared *lbx_fleet_shared(void)
{
    return shared;
}

/* ---- the directive ------------------------------------------------------ */

/* redis://HOST[:PORT] or unix:/PATH into t. */
static const char *parse_url(apr_pool_t *p, const char *url,
                             struct lbx_redis_target *t)
{
    const char *rest;
    char *host, *colon;

    if (!strncmp(url, "unix:", 5) && url[5] == '/') {
        t->unix_path = url + 5;
        return NULL;
    }
    if (!strncmp(url, "rediss://", 9)) {
        return "LBXFleet: TLS (rediss://) needs hiredis 1.0 or later; "
               "Debian 12 has 0.14: use a Unix socket or a TLS tunnel (see "
               "the README)";
    }
    if (strncmp(url, "redis://", 8) || !url[8]) {
        return apr_psprintf(p,
                            "LBXFleet: '%s' is not redis://HOST[:PORT] or "
                            "unix:/PATH",
                            url);
    }
    rest = url + 8;
    host = apr_pstrdup(p, rest);
    t->port = 6379;
    if ((colon = strrchr(host, ':')) != NULL) {
        char *end;
        long port = strtol(colon + 1, &end, 10);

        if (*end || port < 1 || port > 65535 || end == colon + 1) {
            return apr_psprintf(p, "LBXFleet: bad port in '%s'", url);
        }
        *colon = '\0';
        t->port = (int)port;
    }
    if (!*host || strchr(host, '/')) {
        return apr_psprintf(p, "LBXFleet: bad host in '%s'", url);
    }
    t->host = host;
    return NULL;
}

/* The password: the file's first line, read now (as root). */
static const char *read_password(apr_pool_t *p, const char *path,
                                 const char **out)
{
    apr_file_t *f;
    char buf[512];
    apr_size_t len;
    apr_status_t rv;

    if ((rv = apr_file_open(&f, path, APR_FOPEN_READ, 0, p)) != APR_SUCCESS) {
        return apr_psprintf(p, "LBXFleet: cannot read password-file %s", path);
    }
    rv = apr_file_gets(buf, sizeof(buf), f);
    apr_file_close(f);
    len = rv == APR_SUCCESS ? strcspn(buf, "\r\n") : 0;
    if (len == 0) {
        return apr_psprintf(p, "LBXFleet: password-file %s is empty", path);
    }
    *out = apr_pstrmemdup(p, buf, len);
    return NULL;
}

static const char *fleet_option(apr_pool_t *p, struct lbx_fleet_conf *c,
                                char *word)
{
    char *val = strchr(word, '=');

    if (!val) {
        return apr_psprintf(p, "LBXFleet: '%s' is not key=value", word);
    }
    *val++ = '\0';
    if (!*val) {
        return apr_psprintf(p, "LBXFleet: %s= needs a value", word);
    }
    if (!strcasecmp(word, "id")) {
        if (strlen(val) >= LBX_FLEET_TEXT) {
            return "LBXFleet: id= is too long (63 characters at most)";
        }
        c->id = val;
        return NULL;
    }
    if (!strcasecmp(word, "user")) {
        c->target.user = val;
        return NULL;
    }
    if (!strcasecmp(word, "password-file")) {
        return read_password(p, ap_server_root_relative(p, val),
                             &c->target.password);
    }
    return apr_psprintf(p,
                        "LBXFleet: unknown option '%s' (id, user, "
                        "password-file)",
                        word);
}

const char *lbx_fleet_set(cmd_parms *cmd, void *dconf, const char *args)
{
    const char *err = ap_check_cmd_context(cmd, GLOBAL_ONLY);
    struct lbx_fleet_conf *c;
    char *word;

    (void)dconf;
    if (err) {
        return err;
    }
    c = apr_pcalloc(cmd->pool, sizeof(*c));
    c->url = ap_getword_conf(cmd->pool, &args);
    c->name = ap_getword_conf(cmd->pool, &args);
    if (!*c->url || !*c->name) {
        return "LBXFleet needs a Redis URL and a fleet name";
    }
    if ((err = parse_url(cmd->pool, c->url, &c->target)) != NULL) {
        return err;
    }
    while (*(word = ap_getword_conf(cmd->pool, &args))) {
        if ((err = fleet_option(cmd->pool, c, word)) != NULL) {
            return err;
        }
    }
    if (c->target.user && !c->target.password) {
        return "LBXFleet: user= needs password-file=";
    }
    /* Several fleets may share one Redis: every key carries the name. */
    c->key_edits = apr_psprintf(cmd->pool, "lbx:{%s}:edits", c->name);
    c->key_state = apr_psprintf(cmd->pool, "lbx:{%s}:state", c->name);
    c->key_frontends = apr_psprintf(cmd->pool, "lbx:{%s}:frontends", c->name);
    c->key_sent = apr_psprintf(cmd->pool, "lbx:{%s}:sent", c->name);
    c->key_lease = apr_psprintf(cmd->pool, "lbx:{%s}:lease:", c->name);
    c->key_health = apr_psprintf(cmd->pool, "lbx:{%s}:health", c->name);
    c->key_health_version =
        apr_psprintf(cmd->pool, "lbx:{%s}:health-version", c->name);
    fleet = c;
    return NULL;
}

/* ---- start-up ----------------------------------------------------------- */

void lbx_fleet_pre_config(void)
{
    fleet = NULL;
    shared = NULL;
    fleet_shm = NULL;
}

/* HOST:PORT of the first listener: unique on a host, stable across
 * restarts. */
static const char *default_id(apr_pool_t *p)
{
    char host[APRMAXHOSTLEN + 1];

    if (apr_gethostname(host, sizeof(host), p) != APR_SUCCESS) {
        strcpy(host, "localhost");
    }
    /* Cut to fit, keeping the port (distinct front-ends of one host). */
    return apr_psprintf(p, "%.50s:%d", host,
                        ap_listeners && ap_listeners->bind_addr
                            ? ap_listeners->bind_addr->port
                            : 0);
}

static int register_watchdog(apr_pool_t *pconf, server_rec *main_s)
{
    APR_OPTIONAL_FN_TYPE(ap_watchdog_get_instance) *get_instance =
        APR_RETRIEVE_OPTIONAL_FN(ap_watchdog_get_instance);
    APR_OPTIONAL_FN_TYPE(ap_watchdog_register_callback) *register_cb =
        APR_RETRIEVE_OPTIONAL_FN(ap_watchdog_register_callback);
    ap_watchdog_t *wd;
    apr_status_t rv = APR_ENOTIMPL;

    if (get_instance && register_cb
        && (rv = get_instance(&wd, FLEET_WATCHDOG_NAME, 0, 1, pconf))
            == APR_SUCCESS) {
        rv = register_cb(wd, AP_WD_TM_SLICE, main_s, lbx_fleet_watchdog);
    }
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, rv, main_s,
                     LBXLOGNO(20075) "LBXFleet needs mod_watchdog (its "
                                     "thread talks to Redis)");
        return !OK;
    }
    return OK;
}

int lbx_fleet_post_config(apr_pool_t *pconf, server_rec *main_s)
{
    apr_size_t bytes = sizeof(struct fleet_shared)
        + FLEET_QUEUE_CAP * sizeof(struct lbx_fleet_slot);
    const char *key;
    apr_status_t rv;

    if (!fleet) {
        return OK;
    }
    if (!fleet->id) {
        fleet->id = default_id(pconf);
    }
    /* Kept by the process across graceful restarts (the module itself is
     * loaded again): edits waiting for Redis survive them. */
    /* (Named by its size: another layout gets another segment.) */
    key = apr_psprintf(main_s->process->pool, FLEET_SHM_KEY, bytes);
    apr_pool_userdata_get((void **)&fleet_shm, key, main_s->process->pool);
    if (!fleet_shm) {
        rv = apr_shm_create(&fleet_shm, bytes, NULL, main_s->process->pool);
        if (rv != APR_SUCCESS) {
            ap_log_error(APLOG_MARK, APLOG_EMERG, rv, main_s,
                         LBXLOGNO(20076) "cannot create the fleet's shared "
                                         "memory");
            return !OK;
        }
        apr_pool_userdata_set(fleet_shm, key, apr_pool_cleanup_null,
                              main_s->process->pool);
        memset(apr_shm_baseaddr_get(fleet_shm), 0, bytes);
        lbx_fleet_queue_init(
            &((struct fleet_shared *)apr_shm_baseaddr_get(fleet_shm))->queue,
            FLEET_QUEUE_CAP);
    }
    shared = apr_shm_baseaddr_get(fleet_shm);
    return register_watchdog(pconf, main_s);
}

/* ---- edits made here ---------------------------------------------------- */

void lbx_fleet_edit_made(request_rec *r, const struct lbx_mgr_param *p, int n)
{
    char form[LBX_FLEET_FORM_MAX];
    size_t len;

    if (!shared) {
        return;
    }
    len = lbx_fleet_encode(p, n, form, sizeof(form));
    if (len == 0
        || lbx_fleet_queue_push(&shared->queue, form, len, r->useragent_ip,
                                (uint64_t)apr_time_now())
            != 0) {
        lbx_atomic_add(&shared->dropped, 1);
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r,
                      LBXLOGNO(20073) "LBXFleet %s: this edit applies here "
                                      "only (%s)",
                      fleet->name,
                      len ? "too many edits wait for Redis"
                          : "too long to share");
    }
}

/* ---- the status --------------------------------------------------------- */

void lbx_fleet_write_begin(struct fleet_shared *sh)
{
    __atomic_add_fetch(&sh->seq, 1, __ATOMIC_ACQ_REL);
    __atomic_thread_fence(__ATOMIC_RELEASE);
}

void lbx_fleet_write_end(struct fleet_shared *sh)
{
    __atomic_thread_fence(__ATOMIC_RELEASE);
    __atomic_add_fetch(&sh->seq, 1, __ATOMIC_ACQ_REL);
}

int lbx_fleet_view(struct lbx_fleet_view *v)
{
    int tries;

    if (!shared) {
        return 0;
    }
    v->name = fleet->name;
    v->id = fleet->id;
    v->url = fleet->url;
    /* The fleet's thread writes rarely and briefly: a few tries give a
     * copy no write overlapped; the last one is used as it is. */
    for (tries = 0; tries < 8; tries++) {
        uint64_t before = __atomic_load_n(&shared->seq, __ATOMIC_ACQUIRE);

        memcpy(&v->status, &shared->status, sizeof(v->status));
        __atomic_thread_fence(__ATOMIC_ACQUIRE);
        if (!(before & 1)
            && __atomic_load_n(&shared->seq, __ATOMIC_ACQUIRE) == before) {
            break;
        }
    }
    /* A copy a write overlapped may have cut strings: end them all. */
    v->status.error[sizeof(v->status.error) - 1] = '\0';
    v->status.naudit %= LBX_FLEET_AUDIT_MAX + 1;
    v->status.audit_next %= LBX_FLEET_AUDIT_MAX;
    v->status.nfe %= LBX_FLEET_FE_MAX + 1;
    for (tries = 0; tries < LBX_FLEET_AUDIT_MAX; tries++) {
        struct lbx_fleet_audit *a = &v->status.audit[tries];

        a->fe[sizeof(a->fe) - 1] = a->client[sizeof(a->client) - 1] = '\0';
        a->form[sizeof(a->form) - 1] = '\0';
    }
    v->status.nlease %= LBX_FLEET_FE_MAX + 1;
    for (tries = 0; tries < LBX_FLEET_FE_MAX; tries++) {
        v->status.fe[tries].id[LBX_FLEET_TEXT - 1] = '\0';
        v->status.lease[tries].id[LBX_FLEET_TEXT - 1] = '\0';
    }
    v->queued = __atomic_load_n(&shared->queue.tail, __ATOMIC_ACQUIRE)
        - __atomic_load_n(&shared->queue.head, __ATOMIC_ACQUIRE);
    v->dropped = lbx_atomic_load(&shared->dropped);
    return 1;
}

const char *lbx_fleet_checker(const struct lbx_fleet_view *v, proxy_balancer *b,
                              proxy_worker *w)
{
    struct lbx_hot *hot = lbx_hot_of(b);
    long slot = lbx_hot_slot(hot, w);
    uint64_t at = slot >= 0 ? lbx_atomic_load(&hot->lease_holder[slot]) : 0;

    if (w->s->method == NONE || w->s->method >= EOT) {
        return NULL; /* its checks were switched off since */
    }
    return at && at <= v->status.nlease ? v->status.lease[at - 1].id : NULL;
}
