/* outlier.c: failure handling beyond stock (see outlier.h).
 *
 * Everything a decision needs is in the balancer's shared record (lbx_hot),
 * so every child sees the same failures, ejections and ramps.  The request
 * path pays one load per request for the trial check and, only when a
 * member fails, a few atomics; an ejection is decided by one process at a
 * time (a try-lock that is never waited for: a process that finds it
 * taken leaves the decision to the holder) and is the only place that
 * walks the members.
 *
 * Ejection: a member that fails `fails` answers in a row (timeouts, the
 * proxy's own 502/503/504 for it, failed connects that made mod_proxy try
 * another member, or a status listed in status=) is ejected for `time`,
 * doubled with each ejection up to `maxtime`, unless that would put
 * `maxshare` % or more of its lbset out.  When the time is over, a member
 * with a health check comes back at its next passing check; one without
 * gets one trial request, whose success brings it back and whose failure
 * ejects it again for twice as long.  A member that stayed back for
 * `maxtime` starts its backoff over.
 */
#include "apr_strings.h"

#include "outlier.h"
#include "lbx_conf.h"

APLOG_USE_MODULE(lbx);

/* ---- settings ----------------------------------------------------------- */

struct configure_ctx {
    apr_pool_t *p;
    apr_hash_t *done; /* lbx_hot records already filled */
};

static int configure_balancer(server_rec *s, proxy_server_conf *conf,
                              proxy_balancer *b, void *data)
{
    struct configure_ctx *ctx = data;
    struct lbx_hot *hot = lbx_hot_of(b);
    proxy_worker **workers = (proxy_worker **)b->workers->elts;
    int i;

    (void)conf;
    if (!hot || apr_hash_get(ctx->done, &hot, sizeof(hot))) {
        return 0;
    }
    apr_hash_set(ctx->done, apr_pmemdup(ctx->p, &hot, sizeof(hot)), sizeof(hot),
                 hot);
    hot->eject = *lbx_conf_outlier(s, b->s->name);
    /* Members added later through the manager get the balancer's. */
    for (i = 0; i < (int)hot->cap; i++) {
        hot->eject_fails[i] = hot->eject.fails;
        hot->slow_start_us[i] = hot->eject.slow_start_us;
    }
    for (i = 0; i < b->workers->nelts; i++) {
        const struct lbx_member_conf *mc = lbx_conf_member(workers[i]);
        long slot = lbx_hot_slot(hot, workers[i]);

        if (slot < 0) {
            continue;
        }
        if (mc && mc->eject_fails >= 0) {
            hot->eject_fails[slot] = (uint64_t)mc->eject_fails;
        }
        if (mc && mc->slow_start_us >= 0) {
            hot->slow_start_us[slot] = (uint64_t)mc->slow_start_us;
        }
        hot->usable_since[slot] = 1; /* since ever: no ramp at start */
    }
    return 0;
}

void lbx_outlier_configure(server_rec *main_s)
{
    apr_pool_t *p;
    struct configure_ctx ctx;

    apr_pool_create(&p, NULL);
    ctx.p = p;
    ctx.done = apr_hash_make(p);
    lbx_each_balancer(main_s, configure_balancer, &ctx);
    apr_pool_destroy(p);
}

/* ---- state -------------------------------------------------------------- */

int lbx_outlier_ejected(const struct lbx_hot *hot, proxy_worker *w)
{
    long slot = lbx_hot_slot(hot, w);

    return slot >= 0 && lbx_atomic_load(&hot->eject_until[slot]) != 0;
}

int lbx_outlier_usable(const struct lbx_hot *hot, proxy_worker *w)
{
    return PROXY_WORKER_IS_USABLE(w) && !lbx_outlier_ejected(hot, w);
}

void lbx_outlier_seen(struct lbx_hot *hot, long slot, int usable,
                      apr_time_t now)
{
    uint64_t since;

    if (slot < 0) {
        return;
    }
    since = lbx_atomic_load(&hot->usable_since[slot]);
    if (!usable && since) {
        lbx_atomic_store(&hot->usable_since[slot], 0);
    }
    else if (usable
             && !since
             /* The first process to see it decides when it came back. */
             && __atomic_compare_exchange_n(&hot->usable_since[slot], &since,
                                            (uint64_t)now, 0, __ATOMIC_RELAXED,
                                            __ATOMIC_RELAXED)) {
        lbx_atomic_store(&hot->ramp_picks[slot], 0);
        lbx_atomic_store(&hot->ramp_rounds[slot],
                         lbx_hot_clock(hot, slot)
                             + lbx_atomic_load(&hot->sticky_rounds));
    }
}

void lbx_outlier_note(proxy_balancer *b, proxy_worker *w)
{
    struct lbx_hot *hot = lbx_hot_of(b);

    lbx_outlier_seen(hot, lbx_hot_slot(hot, w), lbx_outlier_usable(hot, w),
                     apr_time_now());
}

unsigned lbx_outlier_ramp(const struct lbx_hot *hot, long slot, apr_time_t now)
{
    uint64_t window, since;

    if (slot < 0 || !(window = lbx_atomic_load(&hot->slow_start_us[slot]))) {
        return 1000;
    }
    since = lbx_atomic_load(&hot->usable_since[slot]);
    return since ? lbx_slow_start_permille(since, (uint64_t)now, window) : 1000;
}

/* ---- ejection ----------------------------------------------------------- */

/* The lock deciding ejections: the time it was taken, 0 when free.  A
 * holder that died (its child crashed) is overtaken after a second. */
#define EJECT_LOCK_STALE apr_time_from_sec(1)

static int eject_lock(struct lbx_hot *hot, apr_time_t now)
{
    uint64_t held = lbx_atomic_load(&hot->eject_lock);
    int i;

    for (i = 0; i < 1000; i++) {
        if ((held == 0 || (uint64_t)now - held > (uint64_t)EJECT_LOCK_STALE)
            && __atomic_compare_exchange_n(&hot->eject_lock, &held,
                                           (uint64_t)now, 0, __ATOMIC_ACQUIRE,
                                           __ATOMIC_RELAXED)) {
            return 1;
        }
        /* Held by another process for a few loads and stores. */
        apr_thread_yield();
        held = lbx_atomic_load(&hot->eject_lock);
    }
    return 0;
}

static void eject_unlock(struct lbx_hot *hot)
{
    __atomic_store_n(&hot->eject_lock, 0, __ATOMIC_RELEASE);
}

/* Members of self's lbset (removed ones aside), and how many of the
 * others are out (ejected or unusable) or usable. */
struct lbset_count {
    size_t size, out, others_usable;
};

static void lbset_count(proxy_balancer *b, struct lbx_hot *hot,
                        proxy_worker *self, struct lbset_count *c)
{
    proxy_worker **workers = (proxy_worker **)b->workers->elts;
    int i;

    memset(c, 0, sizeof(*c));
    for (i = 0; i < b->workers->nelts; i++) {
        proxy_worker *w = workers[i];

        if (w->s->lbset != self->s->lbset
            || (w->s->status & PROXY_WORKER_FREE)) {
            continue;
        }
        c->size++;
        if (w == self) {
            continue; /* the one to decide about */
        }
        if (!lbx_outlier_usable(hot, w)) {
            c->out++;
        }
        else {
            c->others_usable++;
        }
    }
}

/* Lower the earliest due trial to `until` (the members that return by a
 * trial: no health check). */
static void trial_due_at_most(struct lbx_hot *hot, uint64_t until)
{
    uint64_t due = lbx_atomic_load(&hot->trial_due);

    while ((due == 0 || until < due)
           && !__atomic_compare_exchange_n(&hot->trial_due, &due, until, 0,
                                           __ATOMIC_RELAXED,
                                           __ATOMIC_RELAXED)) {
    }
}

/* The ejection itself: its time, doubled `level` times. */
static uint64_t set_ejected(proxy_balancer *b, struct lbx_hot *hot,
                            proxy_worker *w, long slot, uint64_t level,
                            apr_time_t now)
{
    uint64_t until = (uint64_t)now
        + lbx_eject_duration(hot->eject.time_us, hot->eject.max_us,
                             (uint32_t)level);

    lbx_atomic_store(&hot->eject_level[slot], level + 1);
    lbx_atomic_store(&hot->fails[slot], 0);
    /* The end first, then the trial's release: a claim in between sees
     * the new end. */
    lbx_atomic_store(&hot->eject_until[slot], until);
    lbx_atomic_store(&hot->trial[slot], 0);
    lbx_atomic_add(&hot->ejections[slot], 1);
    lbx_outlier_seen(hot, slot, 0, now);
    if (w->s->method == NONE) {
        trial_due_at_most(hot, until);
    }
    lbx_hot_changed(b);
    return until;
}

/* Take member w (slot) out after `n` failures in a row, if its lbset can
 * spare it. */
static void eject(proxy_balancer *b, struct lbx_hot *hot, proxy_worker *w,
                  long slot, uint64_t n, request_rec *r)
{
    apr_time_t now = apr_time_now();
    uint64_t level, until = 0;
    struct lbset_count c;

    if (!eject_lock(hot, now)) {
        return; /* the next failure tries again */
    }
    if (!lbx_atomic_load(&hot->eject_until[slot])) {
        lbset_count(b, hot, w, &c);
        if (lbx_eject_allowed(c.out, c.size, hot->eject.max_share_pct)
            && c.others_usable > 0) {
            /* Back long enough since the last ejection: the backoff
             * starts over. */
            level = lbx_eject_level(
                (uint32_t)lbx_atomic_load(&hot->eject_level[slot]),
                (uint64_t)now - lbx_atomic_load(&hot->back_at[slot]),
                hot->eject.max_us);
            until = set_ejected(b, hot, w, slot, level, now);
        }
    }
    eject_unlock(hot);
    if (until) {
        ap_log_rerror(
            APLOG_MARK, APLOG_ERR, 0, r,
            LBXLOGNO(20051) "%s: member %s ejected for %" APR_UINT64_T_FMT
                            " ms (ejection %" APR_UINT64_T_FMT
                            " in a row, after %" APR_UINT64_T_FMT " failures)",
            b->s->name, w->s->name_ex, (until - (uint64_t)now) / 1000,
            lbx_atomic_load(&hot->eject_level[slot]), n);
    }
    else if (n == lbx_atomic_load(&hot->eject_fails[slot])
             && !lbx_atomic_load(&hot->eject_until[slot])) {
        /* Said once per run of failures, not at every one. */
        lbx_atomic_add(&hot->ejections_refused, 1);
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r,
                      LBXLOGNO(20050) "%s: member %s keeps failing but is not "
                                      "ejected: its lbset %d cannot spare it "
                                      "(maxshare %u%%, or it is the last "
                                      "usable member)",
                      b->s->name, w->s->name_ex, w->s->lbset,
                      (unsigned)hot->eject.max_share_pct);
    }
}

/* A trial request failed: out again, for twice as long (it never came
 * back, so the backoff keeps growing; no share to ask, it is out). */
static void eject_again(proxy_balancer *b, struct lbx_hot *hot, proxy_worker *w,
                        long slot, request_rec *r)
{
    apr_time_t now = apr_time_now();
    uint64_t until;

    if (!lbx_atomic_load(&hot->eject_until[slot])) {
        return; /* brought back meanwhile */
    }
    until = set_ejected(b, hot, w, slot,
                        lbx_atomic_load(&hot->eject_level[slot]), now);
    ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                  LBXLOGNO(20055) "%s: member %s ejected again for "
                                  "%" APR_UINT64_T_FMT " ms (ejection "
                                  "%" APR_UINT64_T_FMT " in a row): its trial "
                                  "request failed",
                  b->s->name, w->s->name_ex, (until - (uint64_t)now) / 1000,
                  lbx_atomic_load(&hot->eject_level[slot]));
}

/* Bring member w back if its ejection time is over. */
static void bring_back(proxy_balancer *b, struct lbx_hot *hot, proxy_worker *w,
                       long slot, const char *probe, server_rec *s)
{
    uint64_t until = lbx_atomic_load(&hot->eject_until[slot]);
    apr_time_t now = apr_time_now();

    if (!until || (uint64_t)now < until
        || !__atomic_compare_exchange_n(&hot->eject_until[slot], &until, 0, 0,
                                        __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
        return;
    }
    lbx_atomic_store(&hot->back_at[slot], (uint64_t)now);
    lbx_atomic_store(&hot->fails[slot], 0);
    lbx_atomic_store(&hot->trial[slot], 0);
    lbx_outlier_seen(hot, slot, lbx_outlier_usable(hot, w), now);
    lbx_hot_changed(b);
    ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, s,
                 LBXLOGNO(20052) "%s: member %s is back from its ejection (%s "
                                 "passed)",
                 b->s->name, w->s->name_ex, probe);
}

static void failed(proxy_balancer *b, struct lbx_hot *hot, proxy_worker *w,
                   long slot, int trial, request_rec *r)
{
    uint64_t threshold = lbx_atomic_load(&hot->eject_fails[slot]);
    uint64_t n = lbx_atomic_add(&hot->fails[slot], 1);

    if (trial) {
        eject_again(b, hot, w, slot, r);
    }
    else if (threshold && n >= threshold
             && !lbx_atomic_load(&hot->eject_until[slot])) {
        eject(b, hot, w, slot, n, r);
    }
}

/* ---- the request path --------------------------------------------------- */

/* What a request remembers between its attempts, made only when it needs
 * one: a trial (which member, the claim) or a failover (the notes that an
 * earlier attempt left, which are not the current member's doing). */
struct attempt {
    proxy_worker *trial_w;
    uint64_t claim;
    int timedout_before, proxy_error_before;
};

static struct attempt *attempt_of(request_rec *r, int make)
{
    struct attempt *a = ap_get_module_config(r->request_config, &lbx_module);

    if (!a && make) {
        a = apr_pcalloc(r->pool, sizeof(*a));
        ap_set_module_config(r->request_config, &lbx_module, a);
    }
    return a;
}

/* How long a trial may take before another one may be tried: the
 * member's timeout (else a minute), twice. */
static uint64_t trial_bound(proxy_worker *w)
{
    return 2
        * (uint64_t)(w->s->timeout_set ? w->s->timeout : apr_time_from_sec(60));
}

/* A member of b due for its trial, claimed (*claim), or NULL; trial_due
 * is moved to the next time one may be due.  Runs only once trial_due is
 * past, which each walk pushes forward. */
static proxy_worker *claim_trial(proxy_balancer *b, struct lbx_hot *hot,
                                 request_rec *r, uint64_t seen_due,
                                 uint64_t *claim)
{
    proxy_worker **workers = (proxy_worker **)b->workers->elts;
    uint64_t now = (uint64_t)apr_time_now(), next = 0, at;
    proxy_worker *got = NULL;
    int i;

    for (i = 0; i < b->workers->nelts; i++) {
        proxy_worker *w = workers[i];
        long slot = lbx_hot_slot(hot, w);
        uint64_t until, claimed;

        if (slot < 0 || !(until = lbx_atomic_load(&hot->eject_until[slot]))
            || w->s->method != NONE) {
            continue;
        }
        claimed = lbx_atomic_load(&hot->trial[slot]);
        at = until > now ? until
            : claimed && claimed + trial_bound(w) > now
            ? claimed + trial_bound(w)
            : got ? now
                  : 0;
        if (!at) {
            if (!PROXY_WORKER_IS_USABLE(w)) {
                lbx_retry_worker(w, r->server);
            }
            if (PROXY_WORKER_IS_USABLE(w)
                && __atomic_compare_exchange_n(&hot->trial[slot], &claimed, now,
                                               0, __ATOMIC_RELAXED,
                                               __ATOMIC_RELAXED)) {
                got = w;
                *claim = now;
                at = now + trial_bound(w);
            }
            else {
                at = now + (uint64_t)apr_time_from_sec(1); /* not yet */
            }
        }
        if (!next || at < next) {
            next = at;
        }
    }
    /* Unless an ejection lowered it meanwhile. */
    __atomic_compare_exchange_n(&hot->trial_due, &seen_due, next, 0,
                                __ATOMIC_RELAXED, __ATOMIC_RELAXED);
    if (got) {
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r,
                      LBXLOGNO(20053) "%s: trial request to ejected member %s",
                      b->s->name, got->s->name_ex);
    }
    return got;
}

/* The retry budget's window: requests and retries of the current and the
 * previous ten seconds. */
#define BUDGET_WINDOW apr_time_from_sec(10)

static uint64_t budget_tick(struct lbx_hot *hot)
{
    uint64_t epoch = (uint64_t)(apr_time_now() / BUDGET_WINDOW);
    uint64_t seen = lbx_atomic_load(&hot->budget_epoch);

    if (epoch > seen
        && __atomic_compare_exchange_n(&hot->budget_epoch, &seen, epoch, 0,
                                       __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
        /* A new window starts empty; after a quiet spell both are. */
        lbx_atomic_store(&hot->budget_requests[epoch & 1], 0);
        lbx_atomic_store(&hot->budget_retries[epoch & 1], 0);
        if (epoch != seen + 1) {
            lbx_atomic_store(&hot->budget_requests[(epoch + 1) & 1], 0);
            lbx_atomic_store(&hot->budget_retries[(epoch + 1) & 1], 0);
        }
    }
    return epoch > seen ? epoch : seen;
}

static int budget_allows_retry(proxy_balancer *b, struct lbx_hot *hot,
                               request_rec *r)
{
    uint64_t epoch = budget_tick(hot), requests, retries;

    requests = lbx_atomic_load(&hot->budget_requests[0])
        + lbx_atomic_load(&hot->budget_requests[1]);
    retries = lbx_atomic_load(&hot->budget_retries[0])
        + lbx_atomic_load(&hot->budget_retries[1]);
    if (!lbx_retry_allowed(requests, retries, hot->eject.budget_pct,
                           hot->eject.budget_min)) {
        lbx_atomic_add(&hot->retries_refused, 1);
        ap_log_rerror(
            APLOG_MARK, APLOG_WARNING, 0, r,
            LBXLOGNO(20054) "%s: retry budget spent (%" APR_UINT64_T_FMT
                            " retries for %" APR_UINT64_T_FMT
                            " requests lately): no failover",
            b->s->name, retries, requests);
        return 0;
    }
    lbx_atomic_add(&hot->budget_retries[epoch & 1], 1);
    return 1;
}

int lbx_outlier_before(proxy_balancer *b, proxy_worker *prev, request_rec *r)
{
    struct lbx_hot *hot = lbx_hot_of(b);
    struct attempt *a;
    long slot;

    if (!hot) {
        return OK;
    }
    if (!prev || prev->balancer != b) {
        /* The request's first attempt. */
        if (hot->eject.budget_pct) {
            lbx_atomic_add(&hot->budget_requests[budget_tick(hot) & 1], 1);
        }
        return OK;
    }
    /* mod_proxy got no answer from prev (its connect failed) and tries
     * another member: a failure of prev, and the notes it left are not
     * the next member's. */
    a = attempt_of(r, 1);
    a->timedout_before = apr_table_get(r->notes, "proxy_timedout") != NULL;
    a->proxy_error_before = apr_table_get(r->notes, "verbose-error-to") != NULL;
    if ((slot = lbx_hot_slot(hot, prev)) >= 0) {
        failed(b, hot, prev, slot, a->trial_w == prev, r);
    }
    if (a->trial_w == prev) {
        a->trial_w = NULL;
    }
    return hot->eject.budget_pct && !budget_allows_retry(b, hot, r)
        ? HTTP_SERVICE_UNAVAILABLE
        : OK;
}

proxy_worker *lbx_outlier_trial(proxy_balancer *b, request_rec *r)
{
    struct lbx_hot *hot = lbx_hot_of(b);
    uint64_t due = hot ? lbx_atomic_load(&hot->trial_due) : 0, claim = 0;
    proxy_worker *w;

    if (!due || (uint64_t)r->request_time < due
        || (uint64_t)apr_time_now() < due
        || !(w = claim_trial(b, hot, r, due, &claim))) {
        return NULL;
    }
    attempt_of(r, 1)->trial_w = w;
    attempt_of(r, 1)->claim = claim;
    return w;
}

void lbx_outlier_answer(proxy_balancer *b, proxy_worker *w, request_rec *r)
{
    struct lbx_hot *hot = lbx_hot_of(b);
    struct attempt *a = attempt_of(r, 0);
    long slot = lbx_hot_slot(hot, w);
    int trial = a && a->trial_w == w;
    int timed_out = 0, proxy_error = 0;

    if (slot < 0) {
        return;
    }
    /* Below 400 nothing counts as a failure (a timeout ends in 502/504):
     * the common answer reads no notes. */
    if (r->status >= 400) {
        timed_out = apr_table_get(r->notes, "proxy_timedout") != NULL
            && !(a && a->timedout_before);
        /* The proxy's own error page has not been sent yet; a member's
         * answer has (its headers at least). */
        proxy_error = !r->sent_bodyct
            || (apr_table_get(r->notes, "verbose-error-to") != NULL
                && !(a && a->proxy_error_before));
    }
    if (r->status >= 400
        && lbx_eject_is_failure(r->status, timed_out, proxy_error,
                                hot->eject.statuses, hot->eject.nstatus)) {
        failed(b, hot, w, slot, trial, r);
        return;
    }
    if (lbx_atomic_load(&hot->fails[slot])) {
        lbx_atomic_store(&hot->fails[slot], 0);
    }
    if (trial) {
        /* Only this trial's claim is released. */
        uint64_t claim = a->claim;
        __atomic_compare_exchange_n(&hot->trial[slot], &claim, 0, 0,
                                    __ATOMIC_RELAXED, __ATOMIC_RELAXED);
        bring_back(b, hot, w, slot, "trial request", r->server);
    }
}

/* ---- health checks ------------------------------------------------------ */

static const char *const check_names[] = {
    [LBX_CHECK_NONE] = "none",
    [LBX_CHECK_PASSED] = "passed",
    [LBX_CHECK_CONNECT] = "connect failed",
    [LBX_CHECK_ANSWER] = "no complete answer in time",
    [LBX_CHECK_STATUS] = "status not 2xx/3xx",
    [LBX_CHECK_EXPR] = "expression false",
    [LBX_CHECK_EXPR_ERROR] = "expression error",
    [LBX_CHECK_TLS] = "TLS handshake failed",
};

const char *lbx_outlier_check_name(uint64_t result)
{
    return result < sizeof(check_names) / sizeof(check_names[0])
        ? check_names[result]
        : "unknown";
}

void lbx_outlier_checked(proxy_balancer *b, proxy_worker *w,
                         enum lbx_check_result result, int status,
                         server_rec *s)
{
    struct lbx_hot *hot = lbx_hot_of(b);
    long slot = lbx_hot_slot(hot, w);

    if (slot < 0) {
        return;
    }
    lbx_atomic_store(&hot->check_status[slot], (uint64_t)status);
    lbx_atomic_store(&hot->check_result[slot], (uint64_t)result);
    lbx_atomic_store(&hot->check_at[slot], (uint64_t)apr_time_now());
    if (result == LBX_CHECK_PASSED) {
        bring_back(b, hot, w, slot, "health check", s);
    }
}

void lbx_outlier_view(proxy_balancer *b, proxy_worker *w, apr_time_t now,
                      struct lbx_outlier_view *v)
{
    const struct lbx_hot *hot = lbx_hot_of(b);
    long slot = lbx_hot_slot(hot, w);

    memset(v, 0, sizeof(*v));
    v->ramp_permille = 1000;
    if (slot < 0) {
        return;
    }
    v->on = lbx_atomic_load(&hot->eject_fails[slot]) != 0
        || lbx_atomic_load(&hot->slow_start_us[slot]) != 0;
    v->fails = lbx_atomic_load(&hot->fails[slot]);
    v->ejected_until = (apr_time_t)lbx_atomic_load(&hot->eject_until[slot]);
    v->ejections = lbx_atomic_load(&hot->ejections[slot]);
    v->ramp_permille = lbx_outlier_ramp(hot, slot, now);
    v->check_result = lbx_atomic_load(&hot->check_result[slot]);
    v->check_status = (int)lbx_atomic_load(&hot->check_status[slot]);
    v->check_at = (apr_time_t)lbx_atomic_load(&hot->check_at[slot]);
}

uint64_t lbx_outlier_refused(proxy_balancer *b, int which)
{
    const struct lbx_hot *hot = lbx_hot_of(b);

    return !hot ? 0
        : which ? lbx_atomic_load(&hot->retries_refused)
                : lbx_atomic_load(&hot->ejections_refused);
}
