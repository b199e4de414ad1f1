/* bylatency.c: latency-aware choice by power of two choices.
 *
 * Every member carries a peak-EWMA of its response times (lbx_peak_ewma;
 * the glue feeds it when a response completes).  A pick draws two
 * distinct candidates at random and keeps the one with the lower cost
 *
 *     cost = latency * (busy + 1) / weight,
 *
 * roughly how long a new request can expect to take there if the requests
 * in flight run one after another, per unit of weight.  Drawing two rather
 * than scanning for the global best keeps a pick O(1), and picks made at
 * the same moment from the same counters spread over several members
 * instead of all landing on the one that looks best.  A member without
 * samples is costed at the balancer's typical latency
 * (in->latency_default), so a new member is tried but not flooded.
 *
 * Peak-EWMA: a sample above the estimate replaces it at once; a lower one
 * pulls the estimate toward it with weight w = exp(-elapsed / tau) left on
 * the old value, elapsed being the time since the previous sample.  So a
 * member that turns slow is avoided from its first slow response, and wins
 * traffic back gradually.  The decay follows time, not request count: for
 * a run of equal samples the distance to them shrinks by exp(-t / tau)
 * after t microseconds, however many samples came in between.
 *
 * Worked example, tau 10 ms: estimate 10000 us, a 1000 us sample 10 ms
 * later gives 10000 * 0.368 + 1000 * 0.632 = 4311 us; a 20000 us sample
 * after that gives 20000 us at once.  Peers A (4311 us, 1 in flight,
 * weight 100) and B (20000 us, idle, weight 100) cost 86.22 and 200: A
 * wins.  With B at weight 300, B costs 66.67 and wins.
 */
#include <math.h>

#include "lbx_method.h"

uint64_t lbx_peak_ewma(uint64_t ewma, uint64_t elapsed_us, uint64_t sample_us,
                       uint64_t tau_us)
{
    double w, v;
    uint64_t r;

    if (sample_us == 0) {
        sample_us = 1; /* so that 0 keeps meaning "no sample" */
    }
    /* No estimate yet (0) is below any sample. */
    if (sample_us >= ewma || tau_us == 0) {
        return sample_us;
    }
    w = exp(-((double)elapsed_us / (double)tau_us));
    v = (double)ewma * w + (double)sample_us * (1.0 - w);
    /* v lies between sample_us and ewma but for rounding: a double holds
     * 53 bits.  At or above ewma's double (which may be 2^64, beyond
     * uint64_t; w = 1, after elapsed 0, lands here) the estimate is kept
     * to the unit.  Below it, v is at most the next double down, which is
     * <= ewma, and adding 0.5 cannot carry it past ewma.  Rounding can
     * put v below a sample above 2^53: the sample is the floor. */
    if (v >= (double)ewma) {
        return ewma;
    }
    r = (uint64_t)(v + 0.5);
    return r < sample_us ? sample_us : r;
}

/* a * b as hi * 2^64 + lo, from 32-bit halves (C99 has no 128-bit type).
 * The middle column adds two values below 2^32 to one 32x32-bit product,
 * at most 2^64 - 2^33 + 1, so it cannot wrap. */
static void mul128(uint64_t a, uint64_t b, uint64_t *hi, uint64_t *lo)
{
    uint64_t a_lo = a & 0xffffffffu, a_hi = a >> 32;
    uint64_t b_lo = b & 0xffffffffu, b_hi = b >> 32;
    uint64_t lo_lo = a_lo * b_lo, hi_lo = a_hi * b_lo, lo_hi = a_lo * b_hi;
    uint64_t mid = (lo_lo >> 32) + (hi_lo & 0xffffffffu) + lo_hi;

    *hi = a_hi * b_hi + (hi_lo >> 32) + (mid >> 32);
    *lo = (mid << 32) | (lo_lo & 0xffffffffu);
}

/* latency * (busy + 1) * weight exactly, as out[2] * 2^128 + out[1] * 2^64
 * + out[0].  latency * (busy + 1) = latency * busy + latency is at most
 * (2^64 - 1) * 2^64 < 2^128, and weight < 2^63, so the product fits. */
static void scaled_cost(uint64_t latency, uint64_t busy, uint64_t weight,
                        uint64_t out[3])
{
    uint64_t hi, lo, carry;

    mul128(latency, busy, &hi, &lo);
    lo += latency;
    hi += lo < latency;
    mul128(lo, weight, &carry, &out[0]);
    mul128(hi, weight, &out[2], &out[1]);
    out[1] += carry;
    out[2] += out[1] < carry;
}

static uint64_t latency_of(const struct lbx_peer *p, uint64_t dflt)
{
    uint64_t l = p->latency ? p->latency : dflt;

    /* The contract asks for latency_default > 0; if it is 0 anyway, 1 us
     * keeps busy and weight in the cost. */
    return l ? l : 1;
}

static uint64_t weight_of(const struct lbx_peer *p)
{
    /* The contract asks for weight > 0; below that, the smallest. */
    return p->weight > 0 ? (uint64_t)p->weight : 1;
}

/* The cheaper of peers a and b, the lower index on equal cost.  Costs are
 * compared by cross-multiplying, exactly:
 *   L_a (busy_a + 1) / w_a < L_b (busy_b + 1) / w_b
 *   <=>  L_a (busy_a + 1) w_b < L_b (busy_b + 1) w_a. */
long lbx_bylatency_cheaper(const struct lbx_pick_in *in, size_t a, size_t b)
{
    const struct lbx_peer *pa = &in->peers[a], *pb = &in->peers[b];
    uint64_t ca[3], cb[3];
    int k;

    scaled_cost(latency_of(pa, in->latency_default), pa->busy, weight_of(pb),
                ca);
    scaled_cost(latency_of(pb, in->latency_default), pb->busy, weight_of(pa),
                cb);
    for (k = 2; k >= 0; k--) {
        if (ca[k] != cb[k]) {
            return (long)(ca[k] < cb[k] ? a : b);
        }
    }
    return (long)(a < b ? a : b);
}

void lbx_bylatency_draw(struct lbx_pick_in *in, size_t *a_out, size_t *b_out)
{
    size_t a, b;

    /* floor(r * n / 2^32) maps the 2^32 draws onto [0, n) in runs of
     * 2^32 / n draws, give or take one, without a division.  For n above
     * 2^32 (no balancer has that many members) the product may wrap; the
     * result is then still below 2^32, so within the array.  The second
     * draw takes one of the other n - 1 peers: values from a up shift by
     * one, so the two always differ. */
    a = (size_t)(((uint64_t)in->rand(in->rand_ctx) * in->n) >> 32);
    b = (size_t)(((uint64_t)in->rand(in->rand_ctx) * (in->n - 1)) >> 32);
    if (b >= a) {
        b++;
    }
    *a_out = a;
    *b_out = b;
}

long lbx_bylatency_pick(struct lbx_pick_in *in)
{
    size_t a, b;

    if (in->n < 2) {
        return in->n ? 0 : LBX_NONE;
    }
    lbx_bylatency_draw(in, &a, &b);
    return lbx_bylatency_cheaper(in, a, b);
}

/* Nothing of bylatency's lives in the counters stock's reset zeroes:
 * credit is unused and bytes are bytraffic's. */
const struct lbx_method lbx_method_bylatency = {
    .name = "bylatency",
    .pick = lbx_bylatency_pick,
    .reset_counters = 0,
};
