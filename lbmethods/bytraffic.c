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

uint64_t lbx_bytraffic_score(uint64_t sent, uint64_t rcvd, int64_t weight)
{
    uint64_t w = weight > 0 ? (uint64_t)weight : 1;

    return sent / w + rcvd / w;
}

long lbx_bytraffic_pick(struct lbx_pick_in *in)
{
    long best = LBX_NONE;
    uint64_t best_traffic = 0;
    size_t i;

    for (i = 0; i < in->n; i++) {
        const struct lbx_peer *p = &in->peers[i];
        uint64_t traffic = lbx_bytraffic_score(p->sent, p->rcvd, p->weight);

        if (best == LBX_NONE || traffic < best_traffic) {
            best = (long)i;
            best_traffic = traffic;
        }
    }
    return best;
}

/* ---- many peers: a heap of lower bounds ----------------------------------
 *
 * Between resets a peer's traffic only grows, so a value read earlier is
 * a lower bound of its value now.  The heap orders peers by (value last
 * read, peer index).  If the root's value has not grown since, its key is
 * at most every other key, each of which is at most that peer's key now:
 * the root is the least now, the earlier peer on a tie, as the full walk
 * finds.  If it has grown, the root takes its new value, sinks, and the
 * new root is looked at.  Each pick re-reads only the peers whose traffic
 * grew and reached the top, a handful per pick, at log(n) steps each.
 * A peer whose byte counts have not moved since they were last read is
 * not divided again (both only grow, so an unchanged sum means neither
 * changed): the new root after a sink usually costs two loads. */

static int key_less(const struct lbx_traffic_heap *h, size_t a, size_t b)
{
    return h->seen[a] < h->seen[b]
        || (h->seen[a] == h->seen[b] && h->peer[a] < h->peer[b]);
}

static void sink(struct lbx_traffic_heap *h, size_t i)
{
    for (;;) {
        size_t least = i, l = 2 * i + 1, r = l + 1;
        uint32_t peer;
        uint64_t seen;

        if (l < h->n && key_less(h, l, least)) {
            least = l;
        }
        if (r < h->n && key_less(h, r, least)) {
            least = r;
        }
        if (least == i) {
            return;
        }
        peer = h->peer[i];
        seen = h->seen[i];
        h->peer[i] = h->peer[least];
        h->seen[i] = h->seen[least];
        h->peer[least] = peer;
        h->seen[least] = seen;
        i = least;
    }
}

/* The score of the peer at heap position i now. */
static uint64_t read_score(struct lbx_traffic_heap *h, size_t i,
                           lbx_traffic_fn *now, void *ctx)
{
    uint32_t peer = h->peer[i];
    uint64_t sent, rcvd;

    now(ctx, peer, &sent, &rcvd);
    if (sent + rcvd == h->bytes[peer]) {
        return h->seen[i];
    }
    h->bytes[peer] = sent + rcvd;
    return lbx_bytraffic_score(sent, rcvd, h->weight[peer]);
}

void lbx_traffic_heap_build(struct lbx_traffic_heap *h, size_t n,
                            lbx_traffic_fn *now, void *ctx)
{
    size_t i;

    h->n = n;
    for (i = 0; i < n; i++) {
        uint64_t sent, rcvd;

        h->peer[i] = (uint32_t)i;
        now(ctx, (uint32_t)i, &sent, &rcvd);
        h->bytes[i] = sent + rcvd;
        h->seen[i] = lbx_bytraffic_score(sent, rcvd, h->weight[i]);
    }
    for (i = n / 2; i-- > 0;) {
        sink(h, i);
    }
}

long lbx_traffic_heap_min(struct lbx_traffic_heap *h, lbx_traffic_fn *now,
                          void *ctx, size_t max_reads)
{
    size_t reads;

    if (h->n == 0) {
        return LBX_NONE;
    }
    for (reads = 0; reads < max_reads; reads++) {
        uint64_t v = read_score(h, 0, now, ctx);

        if (v <= h->seen[0]) {
            h->seen[0] = v;
            break;
        }
        h->seen[0] = v;
        sink(h, 0);
    }
    return (long)h->peer[0];
}

const struct lbx_method lbx_method_bytraffic = {
    .name = "bytraffic",
    .pick = lbx_bytraffic_pick,
    .reset_counters = LBX_RESET_BYTES,
};
