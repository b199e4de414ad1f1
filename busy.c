/* busy.c: requests in flight per member, repaired when a child dies.
 *
 * mod_proxy and mod_status read a member's requests in flight from the
 * shared `busy` field, and bybusyness chooses on it.  Stock increments it
 * when a request picks the member and decrements it when the request pool
 * goes away; a child that dies in between (crash, kill -9, MaxRequestsPer-
 * Child abort) never decrements, and the member looks busy forever, so
 * bybusyness starves it until the next restart.
 *
 * mod_lbx keeps `busy` as the sum of per-child contributions.  A table in
 * anonymous shared memory, created by the parent and inherited by every
 * child of the generation, has one row per child process slot (ServerLimit
 * rows).  A child claims a row at start; each increment of a member's
 * `busy` also increments that member's counter in the child's row, and the
 * decrement undoes both.  When a child starts, it first looks for rows whose
 * owner process no longer exists and gives their counters back: subtracts
 * them from the members' `busy` and frees the row.  The MPM replaces a dead
 * child with a new one, so a leak lasts only until that new child starts.
 *
 * A row is a small open-addressing hash from the member's shared record
 * (its address is the same in every child, the segments being mapped
 * before fork) to a counter.  Threads of one child share its row: keys are
 * claimed with compare-and-swap, counters are atomic.  Only the owner
 * writes its row; a repairer reads a row only after its owner is gone.
 */
#include <errno.h>
#include <signal.h>
#include <unistd.h>

#include "apr_shm.h"
#include "ap_mpm.h"

#include "busy.h"
#include "lbx_hot.h"

APLOG_USE_MODULE(lbx);

struct busy_entry {
    proxy_worker_shared *key; /* NULL = free */
    apr_size_t *mirror; /* the engine's copy of key->busy, or NULL */
    apr_size_t *in_flight; /* and its balancer's sum of them */
    apr_uint32_t count;
};

struct busy_row {
    pid_t pid; /* 0 = free */
};

static apr_shm_t *busy_shm;
static char *busy_base;
static apr_size_t busy_rows, busy_width, busy_row_size;
static struct busy_row *my_row;

static struct busy_row *row_at(apr_size_t i)
{
    return (struct busy_row *)(busy_base + i * busy_row_size);
}

/* Entries start a cache line after the row header: their 8-byte keys are
 * compare-and-swapped, and a misaligned atomic would split a cache line
 * (a bus lock the kernel throttles or, with split_lock_detect=fatal,
 * kills the process for). */
#define BUSY_HDR 64

static struct busy_entry *entries(struct busy_row *row)
{
    return (struct busy_entry *)((char *)row + BUSY_HDR);
}

apr_status_t lbx_busy_create(apr_pool_t *pconf, apr_size_t members)
{
    int limit = 0;
    apr_status_t rv;

    busy_shm = NULL;
    busy_base = NULL;
    if (members == 0) {
        return APR_SUCCESS;
    }
    ap_mpm_query(AP_MPMQ_HARD_LIMIT_DAEMONS, &limit);
    busy_rows = limit > 0 ? (apr_size_t)limit : 1;
    /* Twice the members keeps probe chains short. */
    busy_width = members * 2;
    busy_row_size =
        APR_ALIGN(BUSY_HDR + busy_width * sizeof(struct busy_entry), BUSY_HDR);
    rv = apr_shm_create(&busy_shm, busy_rows * busy_row_size, NULL, pconf);
    if (rv != APR_SUCCESS) {
        busy_shm = NULL;
        return rv;
    }
    busy_base = apr_shm_baseaddr_get(busy_shm);
    memset(busy_base, 0, busy_rows * busy_row_size);
    return APR_SUCCESS;
}

/* *count -= by, never below 0. */
static void busy_decrement(apr_size_t *count, apr_size_t by)
{
    apr_size_t cur = lbx_atomic_load(count);

    while (cur > 0
           && !__atomic_compare_exchange_n(count, &cur, cur > by ? cur - by : 0,
                                           1, __ATOMIC_RELAXED,
                                           __ATOMIC_RELAXED)) {
    }
}

/* Give back what a dead child still held, and free its row. */
static void repair_row(struct busy_row *row, server_rec *s, pid_t dead)
{
    struct busy_entry *e = entries(row);
    apr_size_t i, total = 0;

    for (i = 0; i < busy_width; i++) {
        apr_uint32_t n = lbx_atomic_load(&e[i].count);
        if (e[i].key && n) {
            busy_decrement(&e[i].key->busy, n);
            if (e[i].mirror) {
                busy_decrement(e[i].mirror, n);
                busy_decrement(e[i].in_flight, n);
            }
            total += n;
        }
        e[i].count = 0;
        e[i].mirror = NULL;
        e[i].in_flight = NULL;
        e[i].key = NULL;
    }
    if (total) {
        ap_log_error(
            APLOG_MARK, APLOG_NOTICE, 0, s,
            LBXLOGNO(
                20010) "child %ld ended with %" APR_SIZE_T_FMT " requests in "
                       "flight; gave them back to the members' busy counts",
            (long)dead, total);
    }
    lbx_atomic_store(&row->pid, 0);
}

static apr_status_t release_row(void *data)
{
    struct busy_row *row = data;

    /* Normal exit: every request has ended and decremented. */
    lbx_atomic_store(&row->pid, 0);
    my_row = NULL;
    return APR_SUCCESS;
}

void lbx_busy_child_init(apr_pool_t *pchild, server_rec *s)
{
    pid_t me = getpid();
    apr_size_t i;

    my_row = NULL;
    if (!busy_base) {
        return;
    }
    for (i = 0; i < busy_rows; i++) {
        struct busy_row *row = row_at(i);
        pid_t owner = lbx_atomic_load(&row->pid);

        if (owner != 0 && kill(owner, 0) != 0 && errno == ESRCH
            && __atomic_compare_exchange_n(
                &row->pid, &owner, me, 0, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED)) {
            repair_row(row, s, owner);
        }
    }
    for (i = 0; i < busy_rows && !my_row; i++) {
        struct busy_row *row = row_at(i);
        pid_t free_pid = 0;

        if (__atomic_compare_exchange_n(&row->pid, &free_pid, me, 0,
                                        __ATOMIC_ACQ_REL, __ATOMIC_RELAXED)) {
            my_row = row;
        }
    }
    if (!my_row) {
        ap_log_error(
            APLOG_MARK, APLOG_WARNING, 0, s,
            LBXLOGNO(
                20011) "no free busy-tracking row for child %ld; its requests "
                       "in flight are counted but not repaired if it dies",
            (long)me);
        return;
    }
    apr_pool_cleanup_register(pchild, my_row, release_row,
                              apr_pool_cleanup_null);
}

/* The counter of `ws` in this child's row, claiming an entry if needed;
 * NULL when the row is full or there is no row. */
static struct busy_entry *my_entry(proxy_worker_shared *ws)
{
    struct busy_entry *e;
    apr_size_t i, h;

    if (!my_row) {
        return NULL;
    }
    e = entries(my_row);
    h = ((apr_size_t)ws / 64) % busy_width;
    for (i = 0; i < busy_width; i++) {
        struct busy_entry *slot = &e[(h + i) % busy_width];
        proxy_worker_shared *key = lbx_atomic_load(&slot->key);

        if (key == ws) {
            return slot;
        }
        if (key == NULL) {
            proxy_worker_shared *expected = NULL;
            if (__atomic_compare_exchange_n(&slot->key, &expected, ws, 0,
                                            __ATOMIC_ACQ_REL, __ATOMIC_RELAXED)
                || expected == ws) {
                return slot;
            }
        }
    }
    return NULL;
}

struct busy_hold {
    proxy_worker_shared *ws;
    apr_uint32_t *counter;
    apr_size_t *mirror;
    apr_size_t *in_flight;
};

static apr_status_t busy_release(void *data)
{
    struct busy_hold *hold = data;

    if (hold->counter) {
        apr_uint32_t cur = lbx_atomic_load(hold->counter);
        while (cur > 0
               && !__atomic_compare_exchange_n(hold->counter, &cur, cur - 1, 1,
                                               __ATOMIC_RELAXED,
                                               __ATOMIC_RELAXED)) {
        }
    }
    busy_decrement(&hold->ws->busy, 1);
    if (hold->mirror) {
        busy_decrement(hold->mirror, 1);
        busy_decrement(hold->in_flight, 1);
    }
    return APR_SUCCESS;
}

void lbx_busy_acquire(request_rec *r, proxy_balancer *b, proxy_worker *w)
{
    struct busy_hold *hold = apr_palloc(r->pool, sizeof(*hold));
    struct busy_entry *entry = my_entry(w->s);
    struct lbx_hot *hot = lbx_hot_of(b);
    long slot = lbx_hot_slot(hot, w);

    hold->ws = w->s;
    hold->counter = entry ? &entry->count : NULL;
    hold->mirror = slot >= 0 ? &hot->busy[slot] : NULL;
    hold->in_flight = slot >= 0 ? &hot->in_flight : NULL;
    if (entry) {
        /* Before the count, so a repairer that sees the count sees where
         * the mirror is. */
        lbx_atomic_store(&entry->in_flight, hold->in_flight);
        lbx_atomic_store(&entry->mirror, hold->mirror);
        lbx_atomic_add(&entry->count, 1);
    }
    lbx_atomic_add(&w->s->busy, 1);
    if (hold->mirror) {
        lbx_atomic_add(hold->mirror, 1);
        lbx_atomic_add(hold->in_flight, 1);
    }
    apr_pool_cleanup_register(r->pool, hold, busy_release,
                              apr_pool_cleanup_null);
}
