/* eligible.c: which members an lbmethod may choose from.
 *
 * This is the walk of stock's ap_proxy_balancer_get_best_worker() without
 * the preference (is_best), which each method's pick() supplies.  Stock
 * allocates a pool and two arrays per request for it; here the caller's
 * index array is enough: spares and standbys are found by walking the tier
 * again instead of remembering them, which keeps configuration order too.
 */
#include "lbx_method.h"

/* A member in the tier that could be taken as `kind` (LBX_M_SPARE,
 * LBX_M_STANDBY or 0 for regular members).  Draining members never are. */
static int is_kind(const struct lbx_member *m, int lbset, unsigned kind)
{
    unsigned role = m->flags & (LBX_M_SPARE | LBX_M_STANDBY);

    if (m->lbset != lbset || (m->flags & LBX_M_DRAIN)
        || !(m->flags & LBX_M_USABLE)) {
        return 0;
    }
    /* Stock tests spare before standby, so a member flagged both is a spare. */
    if (role & LBX_M_SPARE) {
        role = LBX_M_SPARE;
    }
    return role == kind;
}

size_t lbx_eligible_tier(struct lbx_member *m, size_t n, int lbset,
                         lbx_retry_fn *retry, void *ctx, size_t *out)
{
    size_t i, count = 0, holes = 0;

    /* Regular members; unusable ones get their retry first, and every
     * unusable or draining regular member is a hole a spare may fill. */
    for (i = 0; i < n; i++) {
        if (m[i].lbset != lbset) {
            continue;
        }
        if (m[i].flags & LBX_M_DRAIN) {
            if (!(m[i].flags & (LBX_M_SPARE | LBX_M_STANDBY))) {
                holes++;
            }
            continue;
        }
        if (!(m[i].flags & LBX_M_USABLE) && retry) {
            m[i].flags = retry(ctx, i);
        }
        if (m[i].flags & (LBX_M_SPARE | LBX_M_STANDBY)) {
            continue;
        }
        if (m[i].flags & LBX_M_USABLE) {
            out[count++] = i;
        }
        else {
            holes++;
        }
    }
    /* One spare per hole, in configuration order. */
    for (i = 0; i < n && holes > 0; i++) {
        if (is_kind(&m[i], lbset, LBX_M_SPARE)) {
            out[count++] = i;
            holes--;
        }
    }
    /* Standbys only when nothing else in this lbset can serve. */
    if (count == 0) {
        for (i = 0; i < n; i++) {
            if (is_kind(&m[i], lbset, LBX_M_STANDBY)) {
                out[count++] = i;
            }
        }
    }
    return count;
}

size_t lbx_eligible(struct lbx_member *members, size_t n, lbx_retry_fn *retry,
                    void *ctx, size_t *out)
{
    int lbset = 0;
    int higher_exists = 1;

    /* lbsets are visited in ascending order starting at 0, like stock; a
     * tier without members is skipped by jumping to the next lbset that
     * exists rather than counting up one by one. */
    while (higher_exists) {
        size_t i, count;
        int next = 0;

        count = lbx_eligible_tier(members, n, lbset, retry, ctx, out);
        if (count > 0) {
            return count;
        }
        higher_exists = 0;
        for (i = 0; i < n; i++) {
            if (members[i].lbset > lbset
                && (!higher_exists || members[i].lbset < next)) {
                next = members[i].lbset;
                higher_exists = 1;
            }
        }
        lbset = next;
    }
    return 0;
}
