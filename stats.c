/* stats.c: per-member counters for metrics and the dashboard (see
 * stats.h).  Writers on the request path add to a member's own counters
 * only; the window's points are written by the background tick alone, in
 * one thread of one child, and a reader keeps only a point whose time was
 * the same before and after its copy (write_point, read_point). */
#include "apr_strings.h"

#include "stats.h"
#include "outlier.h"

static struct lbx_member_stats *stats_slot(proxy_balancer *b, proxy_worker *w,
                                           struct lbx_hot **hot_out)
{
    struct lbx_hot *hot = lbx_hot_of(b);
    long slot = lbx_hot_slot(hot, w);

    if (hot_out) {
        *hot_out = hot;
    }
    return slot >= 0 ? &hot->stats[slot] : NULL;
}

static void observe(struct lbx_histogram *h, apr_interval_time_t took)
{
    uint64_t us = took > 0 ? (uint64_t)took : 0;

    lbx_atomic_add(&h->bucket[lbx_stats_bucket(us)], 1);
    lbx_atomic_add(&h->sum_us, us);
}

void lbx_stats_answer(struct lbx_hot *hot, long slot, request_rec *r,
                      apr_interval_time_t took)
{
    struct lbx_member_stats *s = slot >= 0 ? &hot->stats[slot] : NULL;

    if (s) {
        /* Nothing was sent to the client yet: the member gave no answer
         * (the proxy's own error page comes later; r->status is still
         * what it was before the attempt).  Answers without a body may
         * not mark sent_bodyct, whatever the scheme handler. */
        int answered = r->sent_bodyct || r->header_only
            || r->status == HTTP_NO_CONTENT || r->status == HTTP_NOT_MODIFIED;

        lbx_atomic_add(&s->answers[lbx_stats_class(r->status, answered)], 1);
        if (r->status != HTTP_SWITCHING_PROTOCOLS) {
            /* (A tunnel's time is the connection's, not an answer's.) */
            observe(&s->response, took);
        }
    }
}

void lbx_stats_failover(proxy_balancer *b, proxy_worker *prev)
{
    struct lbx_member_stats *s = stats_slot(b, prev, NULL);

    if (s) {
        lbx_atomic_add(&s->failovers, 1);
    }
}

void lbx_stats_no_member(proxy_balancer *b)
{
    struct lbx_hot *hot = lbx_hot_of(b);

    if (hot) {
        lbx_atomic_add(&hot->no_member, 1);
    }
}

void lbx_stats_check(proxy_balancer *b, proxy_worker *w, int result,
                     apr_interval_time_t took)
{
    struct lbx_member_stats *s = stats_slot(b, w, NULL);

    if (s && result >= LBX_CHECK_PASSED
        && result < LBX_CHECK_PASSED + LBX_STATS_CHECK_RESULTS) {
        lbx_atomic_add(&s->checks[result - LBX_CHECK_PASSED], 1);
        observe(&s->check, took);
    }
}

void lbx_stats_edited(proxy_balancer *b, proxy_worker *w, const char *by,
                      apr_time_t now)
{
    struct lbx_member_stats *s = stats_slot(b, w, NULL);

    if (s) {
        /* Two edits of one member at once (children, the fleet's thread)
         * may mix their names, and a reader may see one half copied: for
         * one refresh, and the last byte stays NUL. */
        apr_cpystrn(s->edited_by, by, sizeof(s->edited_by));
        lbx_atomic_store(&s->edited_at, (uint64_t)now);
    }
}

struct tick {
    apr_time_t now;
};

/* A point of every slot (members removed or not known to this process
 * too: a slot's counters are its own whatever the worker list says).  The
 * point's time is cleared first and set last, so a reader that sees the
 * same time before and after copying has a whole point (read_point). */
static void write_point(struct lbx_hot *hot, uint64_t next, apr_time_t now)
{
    uint64_t i = next % LBX_STATS_RING, slot;

    __atomic_store_n(&hot->ring_at[i], 0, __ATOMIC_SEQ_CST);
    for (slot = 0; slot < hot->cap; slot++) {
        lbx_stats_point(&hot->stats[slot], &hot->ring[i * hot->cap + slot]);
    }
    __atomic_store_n(&hot->ring_at[i], (uint64_t)now, __ATOMIC_SEQ_CST);
    __atomic_store_n(&hot->ring_next, next + 1, __ATOMIC_SEQ_CST);
}

static int tick_balancer(server_rec *s, proxy_server_conf *conf,
                         proxy_balancer *b, void *data)
{
    const struct tick *t = data;
    struct lbx_hot *hot = lbx_hot_of(b);
    proxy_worker **w = (proxy_worker **)b->workers->elts;
    uint64_t next, last;
    int i;

    (void)s;
    (void)conf;
    if (!hot) {
        return 0;
    }
    for (i = 0; i < b->workers->nelts; i++) {
        long slot = lbx_hot_slot(hot, w[i]);
        struct lbx_member_stats *st;
        uint64_t state;

        if (slot < 0 || LBX_MEMBER_REMOVED(w[i])) {
            continue;
        }
        st = &hot->stats[slot];
        state = lbx_outlier_usable(hot, w[i]) ? 1 : 2;
        if (st->state && st->state != state) {
            lbx_atomic_add(
                state == 1 ? &st->became_usable : &st->became_unusable, 1);
        }
        lbx_atomic_store(&st->state, state);
    }
    next = lbx_atomic_load(&hot->ring_next);
    last = lbx_atomic_load(
        &hot->ring_at[(next + LBX_STATS_RING - 1) % LBX_STATS_RING]);
    if (!last || (uint64_t)t->now >= last + (uint64_t)LBX_STATS_EVERY) {
        write_point(hot, next, t->now);
    }
    return 0;
}

void lbx_stats_tick(server_rec *main_s, apr_time_t now)
{
    struct tick t = { now };

    lbx_each_balancer(main_s, tick_balancer, &t);
}

const struct lbx_member_stats *lbx_stats_of(proxy_balancer *b, proxy_worker *w)
{
    return stats_slot(b, w, NULL);
}

/* Copy point i of `slot` if it is whole (see write_point): its time, or 0. */
static apr_time_t read_point(const struct lbx_hot *hot, uint64_t i, long slot,
                             struct lbx_window_point *out)
{
    uint64_t t = __atomic_load_n(&hot->ring_at[i], __ATOMIC_SEQ_CST);

    if (!t) {
        return 0;
    }
    *out = hot->ring[i * hot->cap + (uint64_t)slot];
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    return __atomic_load_n(&hot->ring_at[i], __ATOMIC_SEQ_CST) == t
        ? (apr_time_t)t
        : 0;
}

int lbx_stats_points(proxy_balancer *b, proxy_worker *w, apr_time_t now,
                     apr_interval_time_t span, struct lbx_window_point *points,
                     apr_time_t *at)
{
    struct lbx_hot *hot;
    long slot;
    uint64_t next, k;
    int n = 0;

    if (!stats_slot(b, w, &hot)) {
        return 0;
    }
    slot = lbx_hot_slot(hot, w);
    next = lbx_atomic_load(&hot->ring_next);
    for (k = 0; k < LBX_STATS_RING; k++) {
        uint64_t i = (next + k) % LBX_STATS_RING;
        apr_time_t t = read_point(hot, i, slot, &points[n]);

        /* Oldest first; a point rewritten while this ran is left out. */
        if (t && t < now && t + span >= now && (n == 0 || t > at[n - 1])) {
            at[n++] = t;
        }
    }
    return n;
}
