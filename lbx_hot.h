/* lbx_hot.h: the per-balancer state the selection engine reads on every
 * request, shared by all children and laid out for scanning: one array
 * per field, indexed by the member's slot in its balancer (w->s->index),
 * so a pick over 1,024 members reads a few contiguous arrays instead of
 * 1,024 scattered member records. */
#ifndef LBX_HOT_H
#define LBX_HOT_H

#include "lbx_proxy.h"
#include "outlier_core.h"
#include "stats_core.h"

/* What the last health check of a member found. */
enum lbx_check_result {
    LBX_CHECK_NONE = 0,
    LBX_CHECK_PASSED,
    LBX_CHECK_CONNECT, /* no connection */
    LBX_CHECK_ANSWER, /* no complete answer in time */
    LBX_CHECK_STATUS, /* a status that does not pass */
    LBX_CHECK_EXPR, /* the expression was false */
    LBX_CHECK_EXPR_ERROR, /* the expression could not be evaluated */
    LBX_CHECK_TLS /* the TLS handshake failed */
};

/* The dashboard's window: a point of every member's counters every
 * LBX_STATS_EVERY, the last LBX_STATS_RING of them (a minute and more). */
#define LBX_STATS_RING 7
#define LBX_STATS_EVERY apr_time_from_sec(10)

/* lbsets as mod_proxy takes them: 0..99. */
#define LBX_LBSETS 100

struct lbx_hot {
    /* Bumped whenever the members a method may choose from may have
     * changed (status, weight, members added): each child rebuilds its
     * candidate list when it sees a new value. */
    uint64_t gen;
    /* byrequests-style credit as virtual time, one clock per lbset: every
     * pick from an lbset's members is a round of that lbset's clock in
     * which each of its candidates earns its weight, so a member's credit
     * is weight * (picks[its lbset] + sticky_rounds) - debt, and a pick
     * writes only the winner's debt instead of every member's lbstatus.
     * A clock per lbset keeps requests that prefer an lbset (LBXLbsetBy)
     * from crediting the members of the others. */
    uint64_t picks[LBX_LBSETS];
    /* The rounds that were sticky hits: stock credits those to every
     * usable member, of every lbset. */
    uint64_t sticky_rounds;
    /* Picks made from a schedule (engine_index.c, pools above
     * LBX_ENGINE_SCAN_MAX), per lbset: pick t takes turn t of the round. */
    uint64_t ticket[LBX_LBSETS];
    /* Requests in flight over all members: the sum of busy[], kept with
     * it (busy.c), for byhash's load bound. */
    apr_size_t in_flight;
    /* bylatency: the balancer's typical response time (a peak-EWMA of
     * every member's samples), given to members without samples. */
    uint64_t typical_us;
    uint32_t cap; /* member slots */
    int64_t *debt;
    apr_size_t *busy; /* requests in flight (mirror of s->busy) */
    uint64_t *sent; /* mirror of s->transferred */
    uint64_t *rcvd; /* mirror of s->read */
    /* The lbset whose clock the member's debt, out_since and ramp_rounds
     * count in: its lbset, once a rebuild saw a change of it. */
    uint64_t *clock_of;
    /* 1 + its clock's picks when the member stopped being a candidate of
     * its lbset, or 0 while it is one: a member earns nothing from picks
     * while it is out (as in stock, whose walk credits candidates only),
     * so what virtual time credited it for them is taken back when it
     * returns. */
    uint64_t *out_since;
    uint64_t *latency_us; /* bylatency: peak-EWMA response time, 0 = none */
    uint64_t *latency_at; /* when the last sample was taken (apr_time_t) */
    /* Failure handling beyond stock (outlier.c). */
    struct lbx_outlier_conf eject; /* the balancer's settings */
    uint64_t eject_lock; /* when a process took it to decide an ejection */
    uint64_t trial_due; /* earliest eject_until of a member without a
                         * health check that awaits its trial, 0: none */
    uint64_t ejections_refused; /* over the lbset's max share */
    uint64_t budget_epoch; /* the retry budget's window number */
    uint64_t budget_requests[2]; /* by window parity */
    uint64_t budget_retries[2];
    uint64_t retries_refused;
    uint64_t *fails; /* failed answers in a row */
    uint64_t *eject_until; /* apr_time_t; 0: not ejected */
    uint64_t *eject_level; /* doublings of the next ejection */
    uint64_t *ejections; /* ejections since start */
    uint64_t *back_at; /* when it last came back from an ejection */
    uint64_t *trial; /* when its trial request was sent, 0: none */
    uint64_t *usable_since; /* apr_time_t it became usable, 0: it is not */
    uint64_t *check_at; /* its last health check, apr_time_t */
    uint64_t *check_result; /* LBX_CHECK_* of that check */
    uint64_t *check_status; /* the HTTP status it got, 0: none */
    uint64_t *eject_fails; /* its ejection threshold, 0: never ejected */
    uint64_t *slow_start_us; /* its slow-start window, 0: none */
    /* Slow start: picks that stood since it became usable, and its
     * clock's picks plus the sticky rounds then (its fair share of the
     * rounds since is the limit). */
    uint64_t *ramp_picks;
    uint64_t *ramp_rounds;
    /* LBXFleet: another front-end checks the member (its verdict applies
     * here) until this apr_time_t, this front-end's estimate of when that
     * lease runs out if not renewed; 0: checked here. */
    uint64_t *checked_elsewhere;
    /* ... and which front-end checks it: 1 + its place in the fleet's
     * lease list (struct lbx_fleet_status), 0: not known. */
    uint64_t *lease_holder;
    /* Metrics and the dashboard (stats.c): never read by a pick. */
    uint64_t no_member; /* requests answered 503: no usable member */
    uint64_t ring_at[LBX_STATS_RING]; /* apr_time_t of each point, 0: none */
    uint64_t ring_next; /* the point to write next */
    struct lbx_member_stats *stats; /* [cap] */
    struct lbx_window_point *ring; /* [LBX_STATS_RING * cap] */
};

/* post_config: one record per balancer (balancers sharing one shared
 * record share it), in anonymous shared memory children inherit. */
apr_status_t lbx_hot_create(apr_pool_t *pconf, server_rec *main_s);

/* The record of balancer b, or NULL (no record: nothing to mirror). */
struct lbx_hot *lbx_hot_of(proxy_balancer *b);

/* The member's slot in b's record, or -1. */
long lbx_hot_slot(const struct lbx_hot *hot, proxy_worker *w);

/* Picks of member `slot`'s lbset clock so far. */
uint64_t lbx_hot_clock(const struct lbx_hot *hot, long slot);

/* Member w's lbset changed (manager): move its debt and times onto the
 * clock of its new lbset, keeping its credit.  Once, whichever process
 * sees it first. */
void lbx_hot_follow_lbset(struct lbx_hot *hot, proxy_worker *w);

/* Something the candidates depend on changed. */
void lbx_hot_changed(proxy_balancer *b);

/* Set member w's byrequests credit (lbstatus) to `credit` now. */
void lbx_hot_set_credit(struct lbx_hot *hot, proxy_worker *w, int64_t credit);

/* bylatency: account for a response of member w that took `took`. */
void lbx_hot_sample(struct lbx_hot *hot, proxy_worker *w,
                    apr_interval_time_t took, apr_time_t now);

/* Credit of member w now. */
int64_t lbx_hot_credit(const struct lbx_hot *hot, proxy_worker *w);

#endif
