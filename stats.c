/* stats.c: per-member counters for metrics and the dashboard (see
 * stats.h).  Writers on the request path add to a member's own counters
 * only; the window's points are written by the background tick alone, in
 * one thread of one child, so a point is never written twice at once
 * (readers may see one half-written: it is statistics, and the next
 * refresh mends it). */
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

void lbx_stats_answer(proxy_balancer *b, proxy_worker *w, request_rec *r,
                      apr_interval_time_t took)
{
    struct lbx_member_stats *s = stats_slot(b, w, NULL);

    if (s) {
        /* Nothing was sent to the client yet: the member gave no answer
         * (the proxy's own error page comes later). */
        lbx_atomic_add(
            &s->answers[lbx_stats_class(r->status, r->sent_bodyct != 0)], 1);
        observe(&s->response, took);
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
        /* Edits are made under the balancer's lock: one writer at a time
         * (a reader racing it may see a mixed name, for one refresh). */
        apr_cpystrn(s->edited_by, by, sizeof(s->edited_by));
        lbx_atomic_store(&s->edited_at, (uint64_t)now);
    }
}

struct tick {
    apr_time_t now;
};

static int tick_balancer(server_rec *s, proxy_server_conf *conf,
                         proxy_balancer *b, void *data)
{
    const struct tick *t = data;
    struct lbx_hot *hot = lbx_hot_of(b);
    proxy_worker **w = (proxy_worker **)b->workers->elts;
    uint64_t next;
    int i, point;

    (void)s;
    (void)conf;
    if (!hot) {
        return 0;
    }
    next = lbx_atomic_load(&hot->ring_next);
    point = !hot->ring_at[(next + LBX_STATS_RING - 1) % LBX_STATS_RING]
        || (uint64_t)t->now
            >= hot->ring_at[(next + LBX_STATS_RING - 1) % LBX_STATS_RING]
                + (uint64_t)LBX_STATS_EVERY;
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
        if (point) {
            lbx_stats_point(st,
                            &hot->ring[(next % LBX_STATS_RING) * hot->cap
                                       + (uint64_t)slot]);
        }
    }
    if (point) {
        lbx_atomic_store(&hot->ring_at[next % LBX_STATS_RING],
                         (uint64_t)t->now);
        lbx_atomic_store(&hot->ring_next, next + 1);
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

const struct lbx_window_point *lbx_stats_window(proxy_balancer *b,
                                                proxy_worker *w,
                                                apr_interval_time_t ago,
                                                apr_time_t now, apr_time_t *at)
{
    struct lbx_hot *hot;
    long slot;
    uint64_t next, k;
    const struct lbx_window_point *best = NULL;

    *at = 0;
    if (!stats_slot(b, w, &hot)) {
        return NULL;
    }
    slot = lbx_hot_slot(hot, w);
    next = lbx_atomic_load(&hot->ring_next);
    /* Oldest first: the first point inside the window wins; if none is,
     * the newest older one would be too old, so the oldest there is. */
    for (k = 0; k < LBX_STATS_RING; k++) {
        uint64_t i = (next + k) % LBX_STATS_RING;
        uint64_t when = lbx_atomic_load(&hot->ring_at[i]);

        if (!when || when >= (uint64_t)now) {
            continue;
        }
        if (!best || when + (uint64_t)ago >= (uint64_t)now) {
            best = &hot->ring[i * hot->cap + (uint64_t)slot];
            *at = (apr_time_t)when;
            if (when + (uint64_t)ago >= (uint64_t)now) {
                break;
            }
        }
    }
    return best;
}

int lbx_stats_points(proxy_balancer *b, proxy_worker *w, apr_time_t now,
                     apr_interval_time_t span,
                     const struct lbx_window_point **points, apr_time_t *at)
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
        uint64_t t = lbx_atomic_load(&hot->ring_at[i]);

        if (t && t < (uint64_t)now && t + (uint64_t)span >= (uint64_t)now
            && (n == 0 || (apr_time_t)t > at[n - 1])) {
            points[n] = &hot->ring[i * hot->cap + (uint64_t)slot];
            at[n++] = (apr_time_t)t;
        }
    }
    return n;
}
