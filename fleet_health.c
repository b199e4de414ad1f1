/* fleet_health.c: one prober per member in a fleet (LBXFleet).
 *
 * Every member with health checks has a lease in Redis (key
 * lbx:{NAME}:lease:BALANCER\x1fMEMBER, value: the front-end, expiring after
 * LEASE_MS).  Once a second the fleet's thread takes the leases nobody
 * holds and renews its own, in one script; members whose lease another
 * front-end holds are not checked here (lbx_hot's checked_elsewhere, which
 * hcheck.c reads).  A front-end that dies stops renewing, and within
 * LEASE_MS + 1 s another one takes its members over.
 *
 * The prober's verdict (the member's HC_FAIL flag) goes to the hash
 * lbx:{NAME}:health as "0" or "1" at the fleet thread's next tick after it
 * changed, with a version counter that the other front-ends read every
 * tick; when it moved they read the hash.  A front-end sets or clears the
 * flag of every member it has not judged itself: those checked elsewhere,
 * and those it took the lease of but has not checked since (after a
 * restart its flags are the configuration's, not the member's state: it
 * says nothing for a member before its own check of it).  Without Redis,
 * every front-end checks every member again (its own verdicts only).
 */
#include "apr_hash.h"
#include "apr_strings.h"

#include "fleet_int.h"
#include "lbx_hot.h"
#include "outlier.h"

APLOG_USE_MODULE(lbx);

#define LEASE_MS 3000
#define LEASE_EVERY_MS 1000
#define LEASE_BATCH 100

/* KEYS: leases; ARGV: front-end, lease ms.  Takes the free ones, renews
 * the caller's, returns every holder. */
static const char *lease_script =
    "local out = {} "
    "for i, k in ipairs(KEYS) do "
    "local h = redis.call('GET', k) "
    "if not h or h == ARGV[1] then "
    "redis.call('SET', k, ARGV[1], 'PX', ARGV[2]) h = ARGV[1] end "
    "out[i] = h end "
    "return out";

/* KEYS: health hash, its version; ARGV: field, verdict, ... */
static const char *verdict_script =
    "for i = 1, #ARGV, 2 do "
    "redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end "
    "return redis.call('INCR', KEYS[2])";

struct hc_member {
    proxy_balancer *b;
    proxy_worker *w;
    struct lbx_hot *hot;
    long slot;
    const char *field; /* BALANCER\x1fMEMBER */
};

/* What the fleet thread knows of one member, kept from tick to tick
 * (made once per member: the table only grows with the members). */
struct field_state {
    int mine; /* this front-end holds its lease */
    apr_time_t taken_at; /* since when */
    char published; /* the verdict it last said: '0', '1', 0: none */
    char fleet; /* the fleet's verdict as last read: '0', '1', 0: none */
};

static struct {
    apr_pool_t *pool;
    apr_hash_t *fields; /* BALANCER\x1fMEMBER -> struct field_state */
    long long version, lease_at;
} hs;

void lbx_fleet_health_start(void)
{
    if (hs.pool) {
        apr_pool_destroy(hs.pool);
    }
    memset(&hs, 0, sizeof(hs));
    apr_pool_create_unmanaged_ex(&hs.pool, NULL, NULL);
    hs.fields = apr_hash_make(hs.pool);
    hs.version = -1;
}

static struct field_state *state_of(const char *field)
{
    struct field_state *fs =
        apr_hash_get(hs.fields, field, APR_HASH_KEY_STRING);

    if (!fs) {
        fs = apr_pcalloc(hs.pool, sizeof(*fs));
        apr_hash_set(hs.fields, apr_pstrdup(hs.pool, field),
                     APR_HASH_KEY_STRING, fs);
    }
    return fs;
}

/* Whether this front-end has judged member m itself: it holds the lease
 * and a check of its own ended since it took it. */
static int judged_here(const struct hc_member *m, const struct field_state *fs)
{
    return fs->mine
        && (apr_time_t)lbx_atomic_load(&m->w->s->updated) > fs->taken_at;
}

/* ---- the members with checks -------------------------------------------- */

struct collect {
    apr_pool_t *pool;
    apr_hash_t *seen;
    apr_array_header_t *out;
};

static int collect_balancer(server_rec *s, proxy_server_conf *conf,
                            proxy_balancer *b, void *data)
{
    struct collect *c = data;
    proxy_worker **w = (proxy_worker **)b->workers->elts;
    struct lbx_hot *hot = lbx_hot_of(b);
    int i;

    (void)s;
    (void)conf;
    if (!hot || apr_hash_get(c->seen, &b->s, sizeof(b->s))) {
        return 0; /* one balancer inherited by several servers: once */
    }
    apr_hash_set(c->seen, &b->s, sizeof(b->s), "");
    for (i = 0; i < b->workers->nelts; i++) {
        struct hc_member *m;
        long slot = lbx_hot_slot(hot, w[i]);

        if (slot < 0 || w[i]->s->method == NONE || w[i]->s->method >= EOT
            || LBX_MEMBER_REMOVED(w[i])) {
            continue;
        }
        m = apr_array_push(c->out);
        m->b = b;
        m->w = w[i];
        m->hot = hot;
        m->slot = slot;
        m->field =
            apr_pstrcat(c->pool, b->s->name, "\x1f", w[i]->s->name_ex, NULL);
    }
    return 0;
}

static apr_array_header_t *members(server_rec *main_s, apr_pool_t *pool)
{
    struct collect c = { pool, apr_hash_make(pool),
                         apr_array_make(pool, 16, sizeof(struct hc_member)) };

    lbx_each_balancer(main_s, collect_balancer, &c);
    return c.out;
}

/* ---- leases ------------------------------------------------------------- */

/* The front-ends holding leases in this cycle, in order of appearance:
 * the manager shows who checks how many members, and which. */
struct holders {
    apr_hash_t *index; /* id -> unsigned (1 + place) */
    const char *id[LBX_FLEET_FE_MAX];
    uint32_t members[LBX_FLEET_FE_MAX];
    unsigned n;
};

/* 1 + the holder's place (0 past LBX_FLEET_FE_MAX holders). */
static unsigned holder(apr_pool_t *pool, struct holders *h, const char *id)
{
    unsigned *at = apr_hash_get(h->index, id, APR_HASH_KEY_STRING);

    if (!at) {
        at = apr_palloc(pool, sizeof(*at));
        *at = 0;
        if (h->n < LBX_FLEET_FE_MAX) {
            h->id[h->n] = apr_pstrdup(pool, id);
            *at = ++h->n;
        }
        apr_hash_set(h->index, apr_pstrdup(pool, id), APR_HASH_KEY_STRING, at);
    }
    if (*at) {
        h->members[*at - 1]++;
    }
    return *at;
}

static void note_holders(const struct holders *h)
{
    struct fleet_shared *sh = lbx_fleet_shared();
    unsigned i;

    lbx_fleet_write_begin(sh);
    for (i = 0; i < h->n; i++) {
        apr_cpystrn(sh->status.lease[i].id, h->id[i], LBX_FLEET_TEXT);
        sh->status.lease[i].members = h->members[i];
    }
    sh->status.nlease = h->n;
    lbx_fleet_write_end(sh);
}

/* Member m's lease is (or is not) this front-end's, as of now. */
static void note_lease(struct hc_member *m, int mine, apr_time_t now)
{
    struct field_state *fs = state_of(m->field);

    /* hcheck.c leaves it alone until this estimate of the holder's lease
     * has run out (a holder that stopped renewing loses it by then). */
    lbx_atomic_store(&m->hot->checked_elsewhere[m->slot],
                     mine ? 0 : (uint64_t)(now + LEASE_MS * 1000));
    if (mine && !fs->mine) {
        fs->taken_at = now;
    }
    if (!mine) {
        fs->published = 0; /* said again if it comes back */
    }
    fs->mine = mine;
}

/* One script call for members [from, to): take, renew, learn holders. */
static int lease_batch(redisContext *rc, apr_pool_t *pool,
                       apr_array_header_t *ms, int from, int to,
                       struct holders *held, char *err, size_t errlen)
{
    const struct lbx_fleet_conf *c = lbx_fleet_conf();
    struct hc_member *m = (struct hc_member *)ms->elts;
    const char **argv =
        apr_palloc(pool, (size_t)(to - from + 8) * sizeof(*argv));
    apr_time_t now = apr_time_now();
    int argc = 0, i;
    redisReply *r;

    argv[argc++] = "EVAL";
    argv[argc++] = lease_script;
    argv[argc++] = apr_itoa(pool, to - from);
    for (i = from; i < to; i++) {
        argv[argc++] = apr_pstrcat(pool, c->key_lease, m[i].field, NULL);
    }
    argv[argc++] = c->id;
    argv[argc++] = APR_STRINGIFY(LEASE_MS);
    if (!(r = lbx_redis_callv(rc, 500, err, errlen, argc, argv))) {
        return -1;
    }
    if (r->type != REDIS_REPLY_ARRAY || r->elements != (size_t)(to - from)) {
        return lbx_redis_unexpected(r, "the lease script", err, errlen);
    }
    for (i = from; i < to; i++) {
        redisReply *h = r->element[i - from];

        if (!lbx_redis_is_string(h) || h->len >= LBX_FLEET_TEXT) {
            return lbx_redis_unexpected(r, "the lease script", err, errlen);
        }
        note_lease(&m[i], !strcmp(h->str, c->id), now);
        lbx_atomic_store(&m[i].hot->lease_holder[m[i].slot],
                         holder(pool, held, h->str));
    }
    freeReplyObject(r);
    return 0;
}

static int leases(redisContext *rc, apr_pool_t *pool, apr_array_header_t *ms,
                  char *err, size_t errlen)
{
    struct holders held;
    int from;

    memset(&held, 0, sizeof(held));
    held.index = apr_hash_make(pool);
    for (from = 0; from < ms->nelts; from += LEASE_BATCH) {
        int to =
            from + LEASE_BATCH < ms->nelts ? from + LEASE_BATCH : ms->nelts;
        if (lease_batch(rc, pool, ms, from, to, &held, err, errlen) != 0) {
            return -1;
        }
    }
    note_holders(&held);
    return 0;
}

/* ---- verdicts ----------------------------------------------------------- */

/* The verdicts of the members this front-end has judged itself that
 * changed since it last said them. */
static int publish_verdicts(redisContext *rc, apr_pool_t *pool,
                            apr_array_header_t *ms, char *err, size_t errlen)
{
    const struct lbx_fleet_conf *c = lbx_fleet_conf();
    struct hc_member *m = (struct hc_member *)ms->elts;
    const char **argv =
        apr_palloc(pool, (size_t)(2 * ms->nelts + 5) * sizeof(*argv));
    struct field_state **said =
        apr_palloc(pool, (size_t)(ms->nelts + 1) * sizeof(*said));
    int argc = 0, n = 0, i;
    redisReply *r;

    argv[argc++] = "EVAL";
    argv[argc++] = verdict_script;
    argv[argc++] = "2";
    argv[argc++] = c->key_health;
    argv[argc++] = c->key_health_version;
    for (i = 0; i < ms->nelts && argc + 2 <= LBX_REDIS_ARGS; i++) {
        struct field_state *fs = state_of(m[i].field);
        const char *v = (m[i].w->s->status & PROXY_WORKER_HC_FAIL) ? "1" : "0";

        if (!judged_here(&m[i], fs) || fs->published == *v) {
            continue;
        }
        said[n++] = fs;
        argv[argc++] = m[i].field;
        argv[argc++] = v;
    }
    if (n == 0) {
        return 0;
    }
    if (!(r = lbx_redis_callv(rc, 500, err, errlen, argc, argv))) {
        return -1;
    }
    if (r->type != REDIS_REPLY_INTEGER) {
        return lbx_redis_unexpected(r, "the verdict script", err, errlen);
    }
    freeReplyObject(r);
    for (i = 0; i < n; i++) {
        said[i]->published = *argv[6 + 2 * i];
    }
    return 0;
}

/* Set or clear a member's failed check as its prober found it. */
static void apply_verdict(server_rec *s, struct hc_member *m, int failed)
{
    int out = (m->w->s->status & PROXY_WORKER_HC_FAIL) != 0;

    if (failed == out) {
        return;
    }
    if (failed) {
        lbx_status_set(m->w, PROXY_WORKER_HC_FAIL);
    }
    else {
        lbx_status_clear(m->w, PROXY_WORKER_HC_FAIL | PROXY_WORKER_IN_ERROR);
    }
    ap_log_error(APLOG_MARK, APLOG_INFO, 0, s,
                 LBXLOGNO(20077) "LBXFleet: %s %s (checked by another "
                                 "front-end)",
                 failed ? "disabling" : "enabling", m->w->s->name_ex);
    lbx_outlier_note(m->b, m->w);
    lbx_hot_changed(m->b);
}

/* The fleet's verdicts, as last read, on every member this front-end has
 * not judged itself (again at each lease cycle: a check that was in
 * flight when its lease went elsewhere may have set the flag since). */
static void apply_verdicts(server_rec *s, apr_array_header_t *ms)
{
    struct hc_member *m = (struct hc_member *)ms->elts;
    int k;

    for (k = 0; k < ms->nelts; k++) {
        struct field_state *fs = state_of(m[k].field);

        if (fs->fleet && !judged_here(&m[k], fs)) {
            apply_verdict(s, &m[k], fs->fleet == '1');
        }
    }
}

/* When the version moved: the fleet's verdicts, read and applied. */
static int read_verdicts(redisContext *rc, server_rec *s,
                         apr_array_header_t *ms, char *err, size_t errlen)
{
    const struct lbx_fleet_conf *c = lbx_fleet_conf();
    const char *get[] = { "GET", c->key_health_version };
    const char *all[] = { "HGETALL", c->key_health };
    long long version;
    redisReply *r;
    size_t i;

    if (!(r = lbx_redis_callv(rc, 500, err, errlen, 2, get))) {
        return -1;
    }
    if (r->type != REDIS_REPLY_NIL && !lbx_redis_is_string(r)) {
        return lbx_redis_unexpected(r, "GET (health version)", err, errlen);
    }
    version = r->type == REDIS_REPLY_NIL ? 0 : apr_atoi64(r->str);
    freeReplyObject(r);
    if (version == hs.version) {
        return 0;
    }
    if (!(r = lbx_redis_callv(rc, 500, err, errlen, 2, all))) {
        return -1;
    }
    if (r->type != REDIS_REPLY_ARRAY || r->elements % 2) {
        return lbx_redis_unexpected(r, "HGETALL (health)", err, errlen);
    }
    for (i = 0; i + 1 < r->elements; i += 2) {
        redisReply *f = r->element[i], *v = r->element[i + 1];
        struct field_state *fs;

        /* Only members this front-end has (no state made for others). */
        if (lbx_redis_is_string(f) && lbx_redis_is_string(v)
            && (!strcmp(v->str, "0") || !strcmp(v->str, "1"))
            && (fs = apr_hash_get(hs.fields, f->str, APR_HASH_KEY_STRING))) {
            fs->fleet = *v->str;
        }
    }
    freeReplyObject(r);
    hs.version = version;
    apply_verdicts(s, ms);
    return 0;
}

/* ---- the fleet thread's calls ------------------------------------------- */

int lbx_fleet_health_tick(redisContext *rc, server_rec *s, apr_pool_t *pool,
                          char *err, size_t errlen)
{
    long long now = apr_time_now() / 1000;
    apr_array_header_t *ms = members(s, pool);

    if (now >= hs.lease_at) {
        if (leases(rc, pool, ms, err, errlen) != 0) {
            return -1;
        }
        hs.lease_at = now + LEASE_EVERY_MS;
        apply_verdicts(s, ms);
    }
    if (ms->nelts == 0) {
        return 0;
    }
    if (publish_verdicts(rc, pool, ms, err, errlen) != 0
        || read_verdicts(rc, s, ms, err, errlen) != 0) {
        return -1;
    }
    return 0;
}

void lbx_fleet_health_lost(server_rec *s, apr_pool_t *pool)
{
    apr_array_header_t *ms = members(s, pool);
    struct hc_member *m = (struct hc_member *)ms->elts;
    int i;

    /* Every member is checked here again until Redis is back. */
    for (i = 0; i < ms->nelts; i++) {
        lbx_atomic_store(&m[i].hot->checked_elsewhere[m[i].slot], 0);
        lbx_atomic_store(&m[i].hot->lease_holder[m[i].slot], 0);
    }
    lbx_fleet_write_begin(lbx_fleet_shared());
    lbx_fleet_shared()->status.nlease = 0;
    lbx_fleet_write_end(lbx_fleet_shared());
    for (i = 0; i < ms->nelts; i++) {
        struct field_state *fs = state_of(m[i].field);

        fs->mine = 0;
        fs->published = fs->fleet = 0;
    }
    hs.version = -1;
    hs.lease_at = 0;
}
