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

const struct lbx_method lbx_method_byrequests = {
    .name = "byrequests",
    .pick = lbx_byrequests_pick,
    .reset_counters = LBX_RESET_CREDIT,
};
