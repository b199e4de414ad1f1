/* byrequests.c: weighted request counting, stock's default lbmethod.
 *
 * Every member carries a credit (stock's lbstatus).  Each pick gives every
 * candidate its weight in credit, chooses the one with the most credit
 * (earlier member wins ties) and takes the sum of all weights back from it.
 * Over one round of sum(weights) / gcd picks each member is chosen in
 * proportion to its weight, and picks of the same member are spread out
 * rather than bunched ("smooth" weighted round robin).
 *
 * Worked example, weights A=1, B=2 (x100 on stock's scale), credits from 0:
 *
 *     pick  credits after +weight   chosen   credits after -3
 *       1        A=1  B=2             B         A=1  B=-1
 *       2        A=2  B=1             A         A=-1 B=1
 *       3        A=0  B=3             B         A=0  B=0
 *
 * and the round repeats: B, A, B, B, A, B, ...  This is the exact sequence
 * stock's mod_lbmethod_byrequests produces, which configs and tests rely on.
 */
#include "lbx_method.h"

/* Credit every peer its weight and charge `winner` (if < n) the total,
 * which is returned. */
int64_t lbx_byrequests_credit(struct lbx_peer *peers, size_t n, size_t winner)
{
    int64_t total = 0;
    size_t i;

    for (i = 0; i < n; i++) {
        peers[i].credit += peers[i].weight;
        total += peers[i].weight;
    }
    if (winner < n) {
        peers[winner].credit -= total;
    }
    return total;
}

long lbx_byrequests_pick(struct lbx_pick_in *in)
{
    long best = LBX_NONE;
    int64_t best_credit = 0;
    size_t i;

    /* Choosing on credit + weight before crediting anyone is the same as
     * stock's "credit, then compare" walk, and lets one helper do the
     * crediting for picks and for sticky hits alike. */
    for (i = 0; i < in->n; i++) {
        int64_t c = in->peers[i].credit + in->peers[i].weight;
        if (best == LBX_NONE || c > best_credit) {
            best = (long)i;
            best_credit = c;
        }
    }
    return lbx_byrequests_charge(in, best);
}

long lbx_byrequests_charge(struct lbx_pick_in *in, long best)
{
    if (best != LBX_NONE) {
        lbx_byrequests_credit(in->peers, in->n, (size_t)best);
    }
    return best;
}

/* ---- the round as a schedule -------------------------------------------- */

static int64_t gcd64(int64_t a, int64_t b)
{
    while (b) {
        int64_t t = a % b;
        a = b;
        b = t;
    }
    return a;
}

/* The members of equal weight form a class.  Within a class, credits
 * differ only by what the members paid, so the member with the most
 * credit is the one picked least recently, and among those never picked
 * yet the earliest: a class is served in turn, in member order.  One
 * pick therefore compares only the class heads (the earliest head on a
 * tie, as the full walk does), and a round costs classes x picks instead
 * of members x picks. */
struct sched_class {
    int64_t weight; /* divided by the weights' gcd */
    size_t first, size, turn; /* its members are order[first .. first+size) */
};

/* The weights' gcd, or 0 when a weight is out of range or n is. */
static int64_t weights_gcd(const int64_t *weights, size_t n)
{
    int64_t g = 0;
    size_t i;

    if (n == 0 || n > UINT32_MAX) {
        return 0;
    }
    for (i = 0; i < n; i++) {
        if (weights[i] <= 0 || weights[i] > INT32_MAX) {
            return 0;
        }
        g = gcd64(weights[i], g);
    }
    return g;
}

size_t lbx_byrequests_round(const int64_t *weights, size_t n)
{
    int64_t g = weights_gcd(weights, n);
    uint64_t total = 0, classes = 0;
    size_t i, j;

    for (i = 0; g && i < n; i++) {
        total += (uint64_t)(weights[i] / g);
    }
    if (total == 0 || total > LBX_SCHEDULE_ROUND_MAX) {
        return 0;
    }
    /* Working the round out costs a step per pick and distinct weight. */
    for (i = 0; i < n; i++) {
        for (j = 0; j < i && weights[j] != weights[i]; j++) {
        }
        if (j == i && ++classes * total > LBX_SCHEDULE_WORK) {
            return 0;
        }
    }
    return (size_t)total;
}

size_t lbx_byrequests_schedule(const int64_t *weights, size_t n, uint32_t *out,
                               size_t cap, void *scratch)
{
    struct sched_class *cls = scratch;
    int64_t *picks = (int64_t *)(cls + n);
    uint32_t *order = (uint32_t *)(picks + n);
    int64_t g = weights_gcd(weights, n), total, t;
    size_t i, c, k = 0, fill;

    total = (int64_t)lbx_byrequests_round(weights, n);
    if (total == 0 || (uint64_t)total > cap) {
        return 0;
    }
    for (i = 0; i < n; i++) {
        for (c = 0; c < k && cls[c].weight != weights[i] / g; c++) {
        }
        if (c == k) {
            cls[k].weight = weights[i] / g;
            cls[k++].size = 0;
        }
        cls[c].size++;
        picks[i] = 0;
    }
    for (c = 0, fill = 0; c < k; c++) {
        cls[c].first = fill;
        fill += cls[c].size;
        cls[c].size = 0;
        cls[c].turn = 0;
    }
    for (i = 0; i < n; i++) {
        for (c = 0; cls[c].weight != weights[i] / g; c++) {
        }
        order[cls[c].first + cls[c].size++] = (uint32_t)i;
    }
    for (t = 0; t < total; t++) {
        size_t best = 0;
        int64_t best_credit = 0;
        uint32_t best_member = 0;

        for (c = 0; c < k; c++) {
            uint32_t m = order[cls[c].first + cls[c].turn];
            int64_t credit = cls[c].weight * (t + 1) - total * picks[m];

            if (c == 0 || credit > best_credit
                || (credit == best_credit && m < best_member)) {
                best = c;
                best_credit = credit;
                best_member = m;
            }
        }
        out[t] = best_member;
        picks[best_member]++;
        cls[best].turn = (cls[best].turn + 1) % cls[best].size;
    }
    return (size_t)total;
}

int lbx_byrequests_overdrawn(int64_t credit, int64_t weight, int64_t total)
{
    return credit + weight <= -total;
}

const struct lbx_method lbx_method_byrequests = {
    .name = "byrequests",
    .pick = lbx_byrequests_pick,
    .reset_counters = LBX_RESET_CREDIT,
};
