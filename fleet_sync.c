/* fleet_sync.c: the fleet's thread (mod_watchdog, one child at a time,
 * every 100 ms) and what it says to Redis.
 *
 * Keys, all under lbx:{NAME}: (NAME = the fleet):
 * - edits: a stream, one entry per manager edit (fe, at, client, form),
 *   capped at about EDITS_KEPT entries; its order is the fleet's order.
 * - state: a hash, field "BALANCER\x1fMEMBER\x1fKEY" -> "ID N FORM": the
 *   last edit of every field (N: its place in that edit) as a one-field
 *   edit, for front-ends that join.
 * - frontends: a hash, front-end -> its last heartbeat (ms).
 * - sent:FE:AT:POS: a token per edit sent (kept a day).
 * An edit is added to both by one script, so they never disagree.
 *
 * Each front-end applies every entry of the stream in order, its own
 * included (they were applied when they were made, and are applied again
 * where the stream puts them, so that its order wins here too).  A
 * front-end that (re)connects takes the state hash first (members added
 * before the rest, then by id and place in the edit).  Removing a member
 * clears its fields from the hash; a health-check method and expression
 * are one field holding both as the member had them (a method change may
 * clear the expression).  Each queued edit carries a token the script
 * sets once, so an edit sent again after a lost answer is not added
 * twice.
 *
 * Every reply is checked for its shape before use; anything unexpected
 * drops the connection (reconnect with backoff, one log line per outage).
 */
#include "apr_strings.h"
#include "mod_watchdog.h"

#include "fleet_int.h"
#include "manager_apply.h"

APLOG_USE_MODULE(lbx);

#define TIMEOUT_MS 500
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000
#define BEAT_MS 1000
#define EDITS_KEPT "10000"
#define READ_COUNT "100"
#define PUBLISH_PER_TICK 32
#define FIELD_SEP "\x1f"

/* A tick's Redis work stops after this long (so a child that exits does
 * not wait long for its fleet thread). */
#define TICK_BUDGET_MS 1000

/* The fleet thread's own state: only that thread touches it. */
static struct {
    redisContext *rc;
    struct lbx_stream_id last; /* the last entry taken into account */
    long long next_try, backoff, beat_at, tick_end;
    int outage_logged, ever_joined;
    int synced; /* this tick adopted members other processes added */
    unsigned joined_fields;
} conn;

/* KEYS: edits stream, state hash, this edit's token.  ARGV: stream cap,
 * fe, at, client, form, prefix of the state fields to clear (a member
 * removed) or "", then state field / "N FORM" pairs. */
static const char *xadd_script =
    "if not redis.call('SET', KEYS[3], '1', 'NX', 'EX', 86400) then "
    "return 'dup' end "
    "local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', "
    "'fe', ARGV[2], 'at', ARGV[3], 'client', ARGV[4], 'form', ARGV[5]) "
    "if ARGV[6] ~= '' then "
    "for _, f in ipairs(redis.call('HKEYS', KEYS[2])) do "
    "if string.sub(f, 1, #ARGV[6]) == ARGV[6] then "
    "redis.call('HDEL', KEYS[2], f) end end end "
    "for i = 7, #ARGV, 2 do "
    "redis.call('HSET', KEYS[2], ARGV[i], id .. ' ' .. ARGV[i + 1]) end "
    "return id";

static long long now_ms(void)
{
    return (long long)(apr_time_now() / 1000);
}

/* ---- talking ------------------------------------------------------------ */

#define MAX_ARGS LBX_REDIS_ARGS

static redisReply *call(char *err, size_t errlen, int argc, const char **argv)
{
    return lbx_redis_callv(conn.rc, TIMEOUT_MS, err, errlen, argc, argv);
}

/* ---- applying an edit --------------------------------------------------- */

/* The server whose proxy configuration has balancer b= of the edit, with
 * its targets selected; 0 when no server has it. */
static int find_target(server_rec *main_s, apr_pool_t *pool,
                       struct lbx_mgr_param *p, int n, struct lbx_mgr_apply *a)
{
    server_rec *s;

    /* Members other processes added, adopted once a tick. */
    for (s = main_s; s && !conn.synced; s = s->next) {
        proxy_server_conf *conf =
            ap_get_module_config(s->module_config, &proxy_module);
        if (conf) {
            lbx_mgr_sync_all(s, conf);
        }
    }
    conn.synced = 1;
    for (s = main_s; s; s = s->next) {
        memset(a, 0, sizeof(*a));
        a->pool = pool;
        a->s = s;
        a->conf = ap_get_module_config(s->module_config, &proxy_module);
        if (!a->conf) {
            continue;
        }
        lbx_mgr_select(a, p, n);
        if (a->bsel) {
            return 1;
        }
    }
    return 0;
}

/* Apply one edit (a form string) from the fleet; counts it. */
static void apply_form(server_rec *main_s, apr_pool_t *pool, const char *form,
                       const char *from)
{
    struct fleet_shared *sh = lbx_fleet_shared();
    struct lbx_mgr_param p[64];
    struct lbx_mgr_apply a;
    const char *why = NULL;
    int n = lbx_mgr_parse_form(apr_pstrdup(pool, form), p, 64);

    if (n <= 0) {
        why = "not an edit";
    }
    else if (!find_target(main_s, pool, p, n, &a)) {
        why = "no such balancer here";
    }
    else {
        why = lbx_mgr_apply(&a, p, n);
    }
    lbx_fleet_write_begin(sh);
    if (why) {
        sh->status.refused++;
    }
    else {
        sh->status.applied++;
    }
    lbx_fleet_write_end(sh);
    if (why) {
        ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, main_s,
                     LBXLOGNO(20072) "LBXFleet: edit from %s not applied "
                                     "here (%s): %.200s",
                     from, why, form);
    }
}

/* ---- joining ------------------------------------------------------------ */

struct joined {
    const char **form;
    struct lbx_fleet_entry *entry;
    size_t n;
};

/* The state hash's entries (field, value, ...) checked and parsed. */
static int parse_state(apr_pool_t *pool, redisReply *h, struct joined *j)
{
    size_t i;

    if (h->type != REDIS_REPLY_ARRAY || h->elements % 2) {
        return -1;
    }
    j->n = 0;
    j->form = apr_palloc(pool, (h->elements / 2 + 1) * sizeof(*j->form));
    j->entry = apr_palloc(pool, (h->elements / 2 + 1) * sizeof(*j->entry));
    for (i = 1; i < h->elements; i += 2) {
        redisReply *v = h->element[i];
        struct lbx_mgr_param p[64];
        const char *form;
        int n;

        if (!lbx_redis_is_string(v)
            || lbx_fleet_parse_state(v->str, v->len, &j->entry[j->n].id,
                                     &j->entry[j->n].index, &form)
                != 0) {
            return -1;
        }
        j->form[j->n] = form;
        n = lbx_mgr_parse_form(apr_pstrdup(pool, form), p, 64);
        j->entry[j->n].adds_member = n > 0 && lbx_mgr_get(p, n, "b_nwrkr");
        j->n++;
    }
    return 0;
}

/* The id of the stream's newest entry (XREVRANGE ... COUNT 1), or 0-0. */
static int parse_top(redisReply *r, struct lbx_stream_id *top)
{
    top->ms = top->seq = 0;
    if (r->type != REDIS_REPLY_ARRAY || r->elements > 1) {
        return -1;
    }
    if (r->elements == 0) {
        return 0;
    }
    r = r->element[0];
    return r->type == REDIS_REPLY_ARRAY && r->elements == 2
            && lbx_redis_is_string(r->element[0])
            && lbx_fleet_parse_id(r->element[0]->str, r->element[0]->len, top)
                == 0
        ? 0
        : -1;
}

/* Take the fleet's state: its newest entry and the state hash, read in one
 * transaction, the hash's edits applied in join order. */
static int join(server_rec *s, apr_pool_t *pool, char *err, size_t errlen)
{
    const struct lbx_fleet_conf *c = lbx_fleet_conf();
    const char *multi[] = { "MULTI" }, *exec[] = { "EXEC" };
    const char *top[] = { "XREVRANGE", c->key_edits, "+", "-", "COUNT", "1" };
    const char *all[] = { "HGETALL", c->key_state };
    struct joined j;
    redisReply *r;
    size_t *order, i;

    if (!(r = call(err, errlen, 1, multi)) || !lbx_redis_is_string(r)) {
        return r ? lbx_redis_unexpected(r, "MULTI", err, errlen) : -1;
    }
    freeReplyObject(r);
    if (!(r = call(err, errlen, 6, top)) || !lbx_redis_is_string(r)) {
        return r ? lbx_redis_unexpected(r, "XREVRANGE", err, errlen) : -1;
    }
    freeReplyObject(r);
    if (!(r = call(err, errlen, 2, all)) || !lbx_redis_is_string(r)) {
        return r ? lbx_redis_unexpected(r, "HGETALL", err, errlen) : -1;
    }
    freeReplyObject(r);
    if (!(r = call(err, errlen, 1, exec))) {
        return -1;
    }
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 2
        || parse_top(r->element[0], &conn.last) != 0
        || parse_state(pool, r->element[1], &j) != 0) {
        return lbx_redis_unexpected(r, "the state (EXEC)", err, errlen);
    }
    order = apr_palloc(pool, (j.n + 1) * sizeof(*order));
    lbx_fleet_join_order(j.entry, j.n, order);
    for (i = 0; i < j.n; i++) {
        apply_form(s, pool, j.form[order[i]], "the fleet's state");
    }
    freeReplyObject(r);
    conn.joined_fields = (unsigned)j.n;
    /* Edits still queued here were overwritten by the state; they are
     * applied again when they come back from the stream. */
    return 0;
}

/* ---- publishing local edits --------------------------------------------- */

/* What publish() sends for one edit, besides the edit itself. */
struct state_args {
    const char **argv;
    int argc, room;
    const char *clear; /* prefix of the fields to clear, or "" */
};

static void add_field(apr_pool_t *pool, struct state_args *sa, const char *b,
                      const char *who, const char *key,
                      const struct lbx_mgr_param *one, int k, unsigned index)
{
    char *buf = apr_palloc(pool, LBX_FLEET_FORM_MAX);

    if (sa->argc + 2 > sa->room
        || !lbx_fleet_encode(one, k, buf, LBX_FLEET_FORM_MAX)) {
        return;
    }
    sa->argv[sa->argc++] =
        apr_pstrcat(pool, b, FIELD_SEP, who, FIELD_SEP, key, NULL);
    sa->argv[sa->argc++] = apr_psprintf(pool, "%u %s", index, buf);
}

/* The member's health-check method and expression as they are now: one
 * field, since a method that cannot evaluate one clears the expression. */
static void add_hc_field(apr_pool_t *pool, struct state_args *sa, const char *b,
                         proxy_worker *w, unsigned index)
{
    struct lbx_mgr_param one[4] = {
        { "b", (char *)b },
        { "w", w->s->name_ex },
        { "w_hm", (char *)ap_proxy_show_hcmethod(w->s->method) },
        { "w_he", w->s->hcexpr },
    };

    add_field(pool, sa, b, w->s->name_ex, "w_hc", one, 4, index);
}

/* The state fields of one edit: field, "N one-field-form". */
static void state_args(server_rec *main_s, apr_pool_t *pool, const char *form,
                       struct state_args *sa)
{
    struct lbx_mgr_param p[64], one[4];
    struct lbx_mgr_apply a;
    const char *b, *member;
    int n = lbx_mgr_parse_form(apr_pstrdup(pool, form), p, 64), i, hc = 0;

    sa->clear = "";
    if (n <= 0 || !(b = lbx_mgr_get(p, n, "b"))) {
        return;
    }
    member = lbx_mgr_get(p, n, "w");
    if (!find_target(main_s, pool, p, n, &a)) {
        a.bsel = NULL;
    }
    else if (a.wsel) {
        member = a.wsel->s->name_ex; /* as the other front-ends name it */
    }
    for (i = 0; i < n; i++) {
        const char *key = p[i].key, *who = "";
        int k = 0;

        one[k].key = "b";
        one[k++].val = (char *)b;
        if (!strcmp(key, "b_nwrkr")) {
            /* Adding and removing a member are one field: its presence. */
            proxy_worker *w = a.bsel
                ? ap_proxy_get_worker(pool, a.bsel, a.conf, p[i].val)
                : NULL;
            one[k++] = p[i];
            one[k].key = "b_wyes";
            one[k++].val = "1";
            add_field(pool, sa, b, w ? w->s->name_ex : p[i].val, "member", one,
                      k, (unsigned)i);
        }
        else if (!strncmp(key, "b_", 2) && strcmp(key, "b_wyes")) {
            one[k++] = p[i];
            add_field(pool, sa, b, who, key, one, k, (unsigned)i);
        }
        else if (!strncmp(key, "w_", 2) && member) {
            if (!strcmp(key, "w_hm") || !strcmp(key, "w_he")) {
                if (!hc++ && a.wsel) {
                    add_hc_field(pool, sa, b, a.wsel, (unsigned)i);
                }
                continue;
            }
            one[k].key = "w";
            one[k++].val = (char *)member;
            one[k++] = p[i];
            if (!strcmp(key, "w_remove")) {
                /* Its other fields go: a member added again later starts
                 * from what the add gives it. */
                sa->clear =
                    apr_pstrcat(pool, b, FIELD_SEP, member, FIELD_SEP, NULL);
                key = "member";
            }
            add_field(pool, sa, b, member, key, one, k, (unsigned)i);
        }
    }
}

/* Send one queued edit; 0 when Redis has it (now or from an earlier try
 * whose answer was lost). */
static int publish_one(server_rec *s, apr_pool_t *pool,
                       const struct lbx_fleet_slot *slot, int64_t pos,
                       char *err, size_t errlen)
{
    const struct lbx_fleet_conf *c = lbx_fleet_conf();
    const char *argv[MAX_ARGS];
    struct state_args sa = { argv, 0, MAX_ARGS, "" };
    redisReply *r;

    argv[sa.argc++] = "EVAL";
    argv[sa.argc++] = xadd_script;
    argv[sa.argc++] = "3";
    argv[sa.argc++] = c->key_edits;
    argv[sa.argc++] = c->key_state;
    argv[sa.argc++] =
        apr_psprintf(pool, "%s:%s:%" APR_UINT64_T_FMT ":%" APR_INT64_T_FMT,
                     c->key_sent, c->id, slot->at_us, pos);
    argv[sa.argc++] = EDITS_KEPT;
    argv[sa.argc++] = c->id;
    argv[sa.argc++] = apr_psprintf(pool, "%" APR_UINT64_T_FMT, slot->at_us);
    argv[sa.argc++] = slot->client;
    argv[sa.argc++] = slot->form;
    argv[sa.argc++] = ""; /* the prefix to clear, set below */
    state_args(s, pool, slot->form, &sa);
    argv[11] = sa.clear;
    if (!(r = call(err, errlen, sa.argc, argv))) {
        return -1;
    }
    if (!lbx_redis_is_string(r)) {
        return lbx_redis_unexpected(r, "the edit script (EVAL)", err, errlen);
    }
    freeReplyObject(r);
    return 0;
}

static int publish(server_rec *s, apr_pool_t *pool, char *err, size_t errlen)
{
    struct fleet_shared *sh = lbx_fleet_shared();
    struct lbx_fleet_slot *slot = apr_palloc(pool, sizeof(*slot));
    int64_t pos;
    int sent;

    for (sent = 0; sent < PUBLISH_PER_TICK && now_ms() < conn.tick_end
         && (pos = lbx_fleet_queue_peek(&sh->queue, slot)) >= 0;
         sent++) {
        if (publish_one(s, pool, slot, pos, err, errlen) != 0) {
            return -1;
        }
        lbx_fleet_queue_pop(&sh->queue, pos);
        lbx_fleet_write_begin(sh);
        sh->status.published++;
        lbx_fleet_write_end(sh);
    }
    return 0;
}

/* ---- reading the fleet's edits ------------------------------------------ */

static const char *field(redisReply *fields, const char *name, size_t max)
{
    size_t i;

    for (i = 0; i + 1 < fields->elements; i += 2) {
        redisReply *k = fields->element[i], *v = fields->element[i + 1];

        if (lbx_redis_is_string(k) && lbx_redis_is_string(v)
            && !strcmp(k->str, name) && v->len < max
            && strlen(v->str) == v->len) {
            return v->str;
        }
    }
    return NULL;
}

/* Edits older than 1970 or after 9999 are shown at those bounds. */
#define AT_MAX_MS UINT64_C(253402300799000)

static void audit(struct fleet_shared *sh, const char *fe, const char *at,
                  const char *client, const char *form)
{
    struct lbx_fleet_audit *a = &sh->status.audit[sh->status.audit_next];
    apr_int64_t at_us = apr_atoi64(at);

    lbx_fleet_write_begin(sh);
    a->at_ms = at_us < 0 ? 0 : (uint64_t)at_us / 1000;
    if (a->at_ms > AT_MAX_MS) {
        a->at_ms = AT_MAX_MS;
    }
    apr_cpystrn(a->fe, fe, sizeof(a->fe));
    apr_cpystrn(a->client, client, sizeof(a->client));
    apr_cpystrn(a->form, form, sizeof(a->form));
    sh->status.audit_next = (sh->status.audit_next + 1) % LBX_FLEET_AUDIT_MAX;
    if (sh->status.naudit < LBX_FLEET_AUDIT_MAX) {
        sh->status.naudit++;
    }
    lbx_fleet_write_end(sh);
}

/* One stream entry [id, [field, value, ...]]. */
static int take_entry(server_rec *s, apr_pool_t *pool, redisReply *e)
{
    struct lbx_stream_id id;
    const char *fe, *at, *client, *form;

    if (e->type != REDIS_REPLY_ARRAY || e->elements != 2
        || !lbx_redis_is_string(e->element[0])
        || lbx_fleet_parse_id(e->element[0]->str, e->element[0]->len, &id) != 0
        || lbx_fleet_id_cmp(&id, &conn.last) <= 0
        || e->element[1]->type != REDIS_REPLY_ARRAY) {
        return -1;
    }
    conn.last = id;
    fe = field(e->element[1], "fe", LBX_FLEET_TEXT);
    at = field(e->element[1], "at", 32);
    client = field(e->element[1], "client", LBX_FLEET_CLIENT_MAX);
    form = field(e->element[1], "form", LBX_FLEET_FORM_MAX);
    if (!fe || !at || !client || !form) {
        return 0; /* not an edit of ours: skipped, and so is its id */
    }
    apply_form(s, pool, form, fe);
    audit(lbx_fleet_shared(), fe, at, client, form);
    return 0;
}

static int read_edits(server_rec *s, apr_pool_t *pool, char *err, size_t errlen)
{
    const struct lbx_fleet_conf *c = lbx_fleet_conf();
    char last[48];
    const char *argv[] = { "XREAD",   "COUNT",      READ_COUNT,
                           "STREAMS", c->key_edits, last };
    redisReply *r, *entries;
    size_t i;

    lbx_fleet_format_id(&conn.last, last);
    if (!(r = call(err, errlen, 6, argv))) {
        return -1;
    }
    if (r->type == REDIS_REPLY_NIL) {
        freeReplyObject(r);
        return 0;
    }
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 1
        || r->element[0]->type != REDIS_REPLY_ARRAY
        || r->element[0]->elements != 2
        || (entries = r->element[0]->element[1])->type != REDIS_REPLY_ARRAY) {
        return lbx_redis_unexpected(r, "XREAD", err, errlen);
    }
    for (i = 0; i < entries->elements; i++) {
        if (take_entry(s, pool, entries->element[i]) != 0) {
            return lbx_redis_unexpected(r, "XREAD (an entry)", err, errlen);
        }
    }
    freeReplyObject(r);
    return 0;
}

/* ---- heartbeats --------------------------------------------------------- */

static int heartbeat(char *err, size_t errlen, apr_pool_t *pool)
{
    const struct lbx_fleet_conf *c = lbx_fleet_conf();
    struct fleet_shared *sh = lbx_fleet_shared();
    const char *set[] = { "HSET", c->key_frontends, c->id,
                          apr_psprintf(pool, "%" APR_INT64_T_FMT,
                                       apr_time_now() / 1000) };
    const char *get[] = { "HGETALL", c->key_frontends };
    redisReply *r;
    size_t i;

    if (!(r = call(err, errlen, 4, set))) {
        return -1;
    }
    if (r->type != REDIS_REPLY_INTEGER) {
        return lbx_redis_unexpected(r, "HSET", err, errlen);
    }
    freeReplyObject(r);
    if (!(r = call(err, errlen, 2, get))) {
        return -1;
    }
    if (r->type != REDIS_REPLY_ARRAY || r->elements % 2) {
        return lbx_redis_unexpected(r, "HGETALL", err, errlen);
    }
    lbx_fleet_write_begin(sh);
    sh->status.nfe = 0;
    for (i = 0; i + 1 < r->elements && sh->status.nfe < LBX_FLEET_FE_MAX;
         i += 2) {
        struct lbx_fleet_frontend *f = &sh->status.fe[sh->status.nfe];

        if (lbx_redis_is_string(r->element[i])
            && lbx_redis_is_string(r->element[i + 1])) {
            apr_cpystrn(f->id, r->element[i]->str, sizeof(f->id));
            f->seen_ms = (uint64_t)apr_atoi64(r->element[i + 1]->str);
            sh->status.nfe++;
        }
    }
    lbx_fleet_write_end(sh);
    freeReplyObject(r);
    return 0;
}

/* ---- the connection's life ---------------------------------------------- */

static void set_state(int connected, const char *error)
{
    struct fleet_shared *sh = lbx_fleet_shared();
    uint64_t now = (uint64_t)(apr_time_now() / 1000);

    lbx_fleet_write_begin(sh);
    if ((uint64_t)connected != sh->status.connected) {
        sh->status.since_ms = now;
    }
    sh->status.connected = (uint64_t)connected;
    if (connected) {
        sh->status.last_sync_ms = now;
    }
    apr_cpystrn(sh->status.error, error ? error : "", sizeof(sh->status.error));
    lbx_fleet_write_end(sh);
}

static void lost(server_rec *s, const char *why)
{
    const struct lbx_fleet_conf *c = lbx_fleet_conf();

    lbx_redis_close(conn.rc);
    conn.rc = NULL;
    conn.next_try = now_ms() + conn.backoff;
    conn.backoff =
        conn.backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : conn.backoff * 2;
    set_state(0, why);
    if (!conn.outage_logged) {
        conn.outage_logged = 1;
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, s,
                     LBXLOGNO(20070) "LBXFleet %s: Redis at %s unusable (%s): "
                                     "this front-end keeps its state and its "
                                     "own checks, edits wait here; retrying "
                                     "(backoff up to %d s)",
                     c->name, c->url, why, BACKOFF_MAX_MS / 1000);
    }
}

static void tick(server_rec *s, apr_pool_t *pool)
{
    const struct lbx_fleet_conf *c = lbx_fleet_conf();
    char err[256];
    long long now = now_ms();

    conn.synced = 0;
    conn.tick_end = now + TICK_BUDGET_MS;
    if (!conn.rc) {
        if (now < conn.next_try) {
            return;
        }
        conn.rc = lbx_redis_open(&c->target, TIMEOUT_MS, err, sizeof(err));
        if (!conn.rc || join(s, pool, err, sizeof(err)) != 0) {
            lost(s, err);
            lbx_fleet_health_lost(s, pool);
            return;
        }
        ap_log_error(APLOG_MARK, conn.ever_joined ? APLOG_NOTICE : APLOG_INFO,
                     0, s,
                     LBXLOGNO(20071) "LBXFleet %s: %s through %s as %s (%u "
                                     "fields of the fleet's state applied)",
                     c->name, conn.ever_joined ? "back" : "joined", c->url,
                     c->id, conn.joined_fields);
        conn.ever_joined = 1;
        conn.outage_logged = 0;
        conn.backoff = BACKOFF_MIN_MS;
        conn.beat_at = 0;
    }
    if (publish(s, pool, err, sizeof(err)) != 0
        || read_edits(s, pool, err, sizeof(err)) != 0
        || (now >= conn.beat_at && heartbeat(err, sizeof(err), pool) != 0)
        || lbx_fleet_health_tick(conn.rc, s, pool, err, sizeof(err)) != 0) {
        lost(s, err);
        lbx_fleet_health_lost(s, pool);
        return;
    }
    if (now >= conn.beat_at) {
        conn.beat_at = now + BEAT_MS;
    }
    set_state(1, NULL);
}

apr_status_t lbx_fleet_watchdog(int state, void *data, apr_pool_t *pool)
{
    server_rec *s = data;

    switch (state) {
    case AP_WATCHDOG_STATE_STARTING:
        memset(&conn, 0, sizeof(conn));
        conn.backoff = BACKOFF_MIN_MS;
        lbx_fleet_health_start();
        break;
    case AP_WATCHDOG_STATE_RUNNING: tick(s, pool); break;
    case AP_WATCHDOG_STATE_STOPPING:
        lbx_redis_close(conn.rc);
        conn.rc = NULL;
        break;
    }
    return APR_SUCCESS;
}
