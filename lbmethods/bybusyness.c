/* bybusyness.c: fewest requests in flight (stock mod_lbmethod_bybusyness).
 *
 * The member with the fewest requests in flight (busy) wins.  Ties are
 * broken with byrequests' credit: every candidate earns its weight, the
 * tie goes to the one with most credit (then to the earlier member), and
 * the winner pays the sum of the weights.  So among idle members the
 * traffic is still split by weight instead of always going to the first.
 *
 * Example, weights A=1 B=1, both idle, credits 0: both earn 100, tie on
 * busy and credit, A (earlier) wins and pays 200.  Next pick with both
 * idle again: A has -100, B 200, so B wins.  If A is still busy with the
 * first request, B wins on busy alone.
 */
#include "lbx_method.h"

long lbx_bybusyness_pick(struct lbx_pick_in *in)
{
    long best = LBX_NONE;
    size_t i;

    for (i = 0; i < in->n; i++) {
        const struct lbx_peer *p = &in->peers[i];
        const struct lbx_peer *b;

        if (best == LBX_NONE) {
            best = (long)i;
            continue;
        }
        b = &in->peers[best];
        /* Compare credits as they are after this round's crediting. */
        if (p->busy < b->busy
            || (p->busy == b->busy
                && p->credit + p->weight > b->credit + b->weight)) {
            best = (long)i;
        }
    }
    return lbx_byrequests_charge(in, best);
}

/* Stock's reset also zeroes busy, to paper over counts leaked by dead
 * children; in-flight requests then under-count until they drain.
 * mod_lbx's busy is repaired instead (busy.c), so reset leaves it. */
const struct lbx_method lbx_method_bybusyness = {
    .name = "bybusyness",
    .pick = lbx_bybusyness_pick,
    .reset_counters = LBX_RESET_CREDIT,
};
