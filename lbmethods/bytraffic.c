/* bytraffic.c: weighted byte counting (stock mod_lbmethod_bytraffic).
 *
 * Each member's traffic is what it has sent plus what it has received,
 * each divided by its weight (integer division, weights on stock's x100
 * scale, so the rounding matches stock).  The member with the least
 * traffic per weight wins; the earlier member wins ties.  Nothing is
 * credited: the byte counters, kept by mod_proxy, are the state, and they
 * only grow until the method is reset (switching lbmethod zeroes them).
 *
 * Example, weights A=1 B=2 (100, 200): A has moved 3000 bytes, B 5000:
 * A scores 3000/100 = 30, B scores 5000/200 = 25, so B is chosen although
 * it has moved more in absolute terms.
 */
#include "lbx_method.h"

long lbx_bytraffic_pick(struct lbx_pick_in *in)
{
    long best = LBX_NONE;
    uint64_t best_traffic = 0;
    size_t i;

    for (i = 0; i < in->n; i++) {
        const struct lbx_peer *p = &in->peers[i];
        uint64_t w = p->weight > 0 ? (uint64_t)p->weight : 1;
        uint64_t traffic = p->sent / w + p->rcvd / w;

        if (best == LBX_NONE || traffic < best_traffic) {
            best = (long)i;
            best_traffic = traffic;
        }
    }
    return best;
}

const struct lbx_method lbx_method_bytraffic = {
    .name = "bytraffic",
    .pick = lbx_bytraffic_pick,
    .reset_counters = LBX_RESET_BYTES,
};
