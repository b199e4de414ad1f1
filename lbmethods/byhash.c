/* byhash.c: consistent hashing with bounded loads.
 *
 * Every member owns points on a ring of 64-bit hashes, as many as its
 * weight earns (lbx_ring_points), and a request goes to the member of the
 * first point at or after the hash of its key, wrapping past the last
 * point to the first.  A point's hash comes from the member's NAME and the
 * point's number only, never from the member's position in the balancer,
 * so every child, every restart and every front-end that knows the same
 * members builds the same ring, and adding or removing one member moves
 * only the keys that member gains or loses: about 1/n of them.
 *
 * Worked example, a ring of three points (hashes shortened):
 *
 *     point   100 (A)   200 (B)   300 (C)
 *     key 150 -> B, key 200 -> B, key 301 -> wraps -> A
 *
 * With B not eligible now, key 150 walks on to C; B's keys go to the
 * members after B's points, and no other key moves.
 *
 * Bounded loads: with balance_pct > 0 no peer takes a request while it has
 * as many in flight as the bound, ceil(balance_pct / 100 * (sum of busy +
 * 1) / n), the mean load once this request is placed, stretched by
 * balance_pct.  The walk then goes on clockwise, so a hot key's excess
 * spills onto the next members of the ring rather than all onto one.  For
 * balance_pct >= 100 the least busy peer is always below the bound (the
 * mean of busy is), so when every peer has points on the ring the bound
 * never refuses everyone; below 100 it can, and then the first eligible
 * peer on the walk takes the request anyway.  The bound counts requests,
 * not weights: a member with a larger lbfactor owns more keys but may
 * hold no more in flight than any other.
 *
 * Building the ring (lbx_ring_build) is done by the glue into memory it
 * owns, whenever members or weights change; lbx_byhash_pick only reads it.
 */
#include <string.h>

#include "lbx_method.h"

/* Points a member gets per lbfactor 1.00 (weight 100) and at most. */
#define POINTS_PER_100 40
#define POINTS_MAX (POINTS_PER_100 * 100)

/* ---- the hash -------------------------------------------------------- */

#define FNV_OFFSET UINT64_C(0xcbf29ce484222325)
#define FNV_PRIME UINT64_C(0x00000100000001b3)

/* FNV-1a over bytes, one at a time: the same on any byte order. */
static uint64_t fnv1a(uint64_t h, const unsigned char *p, size_t len)
{
    size_t i;

    for (i = 0; i < len; i++) {
        h ^= p[i];
        h *= FNV_PRIME;
    }
    return h;
}

/* FNV-1a alone mixes its last bytes into the high bits poorly; this
 * xor-shift-multiply avalanche (the constants of the splitmix64 finaliser)
 * makes every input bit flip about half of the output bits.  It is a
 * bijection, so it adds no collisions. */
static uint64_t avalanche(uint64_t h)
{
    h ^= h >> 30;
    h *= UINT64_C(0xbf58476d1ce4e5b9);
    h ^= h >> 27;
    h *= UINT64_C(0x94d049bb133111eb);
    h ^= h >> 31;
    return h;
}

/* Every value of this function is part of the ring of every front-end and
 * of every stored key's placement: front-ends running different builds
 * must still agree.  Never change what it returns for any input (the unit
 * tests pin known answers). */
uint64_t lbx_hash64(const void *data, size_t len)
{
    return avalanche(fnv1a(FNV_OFFSET, data, len));
}

/* Point `point` of the member called `name` hashes as lbx_hash64 over the
 * name's bytes, one NUL, and the point number as 4 bytes little-endian,
 * computed here without copying into a buffer. */
static uint64_t point_hash(const char *name, uint32_t point)
{
    unsigned char num[4];
    uint64_t h;

    num[0] = (unsigned char)(point & 0xffu);
    num[1] = (unsigned char)((point >> 8) & 0xffu);
    num[2] = (unsigned char)((point >> 16) & 0xffu);
    num[3] = (unsigned char)(point >> 24);
    h = fnv1a(FNV_OFFSET, (const unsigned char *)name, strlen(name) + 1);
    return avalanche(fnv1a(h, num, sizeof(num)));
}

/* ---- the ring -------------------------------------------------------- */

/* 40 points per weight 100, rounded to the nearest, at least 1 for any
 * weight > 0, none for weight <= 0, at most POINTS_MAX (reached at weight
 * 10000, lbfactor 100, stock's largest). */
static size_t member_points(int64_t weight)
{
    int64_t k;

    if (weight <= 0) {
        return 0;
    }
    if (weight >= (int64_t)POINTS_MAX * 100 / POINTS_PER_100) {
        return POINTS_MAX;
    }
    k = (weight * POINTS_PER_100 + 50) / 100;
    return k < 1 ? 1 : (size_t)k;
}

size_t lbx_ring_points(const int64_t *weights, size_t n)
{
    size_t total = 0, i;

    for (i = 0; i < n; i++) {
        total += member_points(weights[i]);
    }
    return total;
}

/* The ring's total order: by hash, then by member index. */
static int point_less(const struct lbx_ring_point *a,
                      const struct lbx_ring_point *b)
{
    return a->hash < b->hash || (a->hash == b->hash && a->member < b->member);
}

/* Restore the max-heap below `root` in p[0, n). */
static void sift_down(struct lbx_ring_point *p, size_t root, size_t n)
{
    for (;;) {
        size_t child = 2 * root + 1;
        struct lbx_ring_point tmp;

        if (child >= n) {
            return;
        }
        if (child + 1 < n && point_less(&p[child], &p[child + 1])) {
            child++;
        }
        if (!point_less(&p[root], &p[child])) {
            return;
        }
        tmp = p[root];
        p[root] = p[child];
        p[child] = tmp;
        root = child;
    }
}

/* Heapsort: in place, no recursion, no allocation and O(n log n) in the
 * worst case, so building a ring of any size needs nothing beyond the
 * caller's array.  It is not stable, which does not matter: the order is
 * total, so the result is the same whatever order the points arrive in. */
static void sort_points(struct lbx_ring_point *p, size_t n)
{
    size_t i;

    for (i = n / 2; i > 0; i--) {
        sift_down(p, i - 1, n);
    }
    for (i = n; i > 1; i--) {
        struct lbx_ring_point tmp = p[0];

        p[0] = p[i - 1];
        p[i - 1] = tmp;
        sift_down(p, 0, i - 1);
    }
}

unsigned lbx_ring_bucket_bits(size_t points)
{
    unsigned bits = 1;

    while (bits < LBX_RING_BUCKET_BITS_MAX && ((size_t)1 << bits) < points) {
        bits++;
    }
    return bits;
}

/* bucket[b] = the first point whose hash, shifted down to its top
 * bucket_bits bits, is >= b; bucket[2^bits] = n.  Points are sorted, so
 * one pass fills it. */
static void index_ring(struct lbx_ring *ring)
{
    size_t buckets, b, at = 0;
    unsigned shift;

    if (!ring->bucket || ring->bucket_bits == 0
        || ring->bucket_bits > LBX_RING_BUCKET_BITS_MAX
        || ring->n > UINT32_MAX) {
        ring->bucket_bits = 0;
        return;
    }
    buckets = (size_t)1 << ring->bucket_bits;
    shift = 64 - ring->bucket_bits;
    for (b = 0; b < buckets; b++) {
        while (at < ring->n && (ring->points[at].hash >> shift) < b) {
            at++;
        }
        ring->bucket[b] = (uint32_t)at;
    }
    ring->bucket[buckets] = (uint32_t)ring->n;
}

void lbx_ring_build(struct lbx_ring *ring, const char *const *names,
                    const int64_t *weights, size_t n)
{
    size_t at = 0, i;

    for (i = 0; i < n; i++) {
        size_t k = member_points(weights[i]), p;

        for (p = 0; p < k; p++) {
            ring->points[at].hash = point_hash(names[i], (uint32_t)p);
            ring->points[at].member = (uint32_t)i;
            at++;
        }
    }
    sort_points(ring->points, at);
    ring->n = at;
    index_ring(ring);
}

/* ---- the pick -------------------------------------------------------- */

/* An unsigned 128-bit number; C99 has no such type. */
struct u128 {
    uint64_t hi, lo;
};

/* a * b, exactly, from 32-bit halves.  The middle column cannot wrap: it
 * adds two values below 2^32 to one 32x32-bit product. */
static struct u128 mul128(uint64_t a, uint64_t b)
{
    uint64_t a_lo = a & 0xffffffffu, a_hi = a >> 32;
    uint64_t b_lo = b & 0xffffffffu, b_hi = b >> 32;
    uint64_t lo_lo = a_lo * b_lo, hi_lo = a_hi * b_lo, lo_hi = a_lo * b_hi;
    uint64_t mid = (lo_lo >> 32) + (hi_lo & 0xffffffffu) + lo_hi;
    struct u128 r;

    r.hi = a_hi * b_hi + (hi_lo >> 32) + (mid >> 32);
    r.lo = (mid << 32) | (lo_lo & 0xffffffffu);
    return r;
}

/* The bound, kept as the two sides of a comparison rather than divided
 * out: busy < ceil(pct * total / (100 * n)) holds exactly when
 * busy * 100 * n < pct * total, for whole numbers busy.  Both sides are
 * exact; the left one may need more than 128 bits, and then it is not
 * below the right one, which is below 2^96. */
struct bound {
    struct u128 scale; /* 100 * n */
    struct u128 limit; /* pct * total */
};

static uint64_t busy_of(const struct lbx_pick_in *in, size_t peer)
{
    return in->busy_of ? in->busy_of(in->busy_ctx, peer) : in->peers[peer].busy;
}

static struct bound make_bound(const struct lbx_pick_in *in)
{
    struct bound b;
    uint64_t total = 1; /* the request being placed */
    size_t i;

    /* Saturates rather than wraps: no real counters get near 2^64 in
     * flight, and a smaller bound only spills more. */
    if (in->has_busy_sum) {
        total = in->busy_sum == UINT64_MAX ? UINT64_MAX : in->busy_sum + 1;
    }
    for (i = 0; !in->has_busy_sum && i < in->n; i++) {
        uint64_t busy = in->peers[i].busy;
        total = busy > UINT64_MAX - total ? UINT64_MAX : total + busy;
    }
    b.scale = mul128((uint64_t)in->n, 100);
    b.limit = mul128(in->balance_pct, total);
    return b;
}

static int below_bound(const struct bound *b, uint64_t busy)
{
    struct u128 lhs = mul128(busy, b->scale.lo);
    uint64_t carry;

    /* scale.hi < 100, so busy * scale.hi only overflows for huge n. */
    if (b->scale.hi != 0 && busy > UINT64_MAX / b->scale.hi) {
        return 0;
    }
    carry = busy * b->scale.hi;
    if (lhs.hi > UINT64_MAX - carry) {
        return 0;
    }
    lhs.hi += carry;
    return lhs.hi < b->limit.hi
        || (lhs.hi == b->limit.hi && lhs.lo < b->limit.lo);
}

/* Index of the first point whose hash is >= key, or n when there is none
 * (the walk then wraps to point 0).  With the bucket index, only the
 * points sharing the key's top bits are searched: the answer is among
 * them or is the first point after them. */
static size_t first_at_or_after(const struct lbx_ring *ring, uint64_t key)
{
    size_t lo = 0, hi = ring->n;

    if (ring->bucket_bits) {
        size_t b = (size_t)(key >> (64 - ring->bucket_bits));
        lo = ring->bucket[b];
        hi = ring->bucket[b + 1];
    }
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (ring->points[mid].hash < key) {
            lo = mid + 1;
        }
        else {
            hi = mid;
        }
    }
    return lo;
}

/* peer_of must cover every member index on the ring; an entry that is
 * negative or not below n means "not eligible now".  Reads peers, ring
 * and peer_of only: credit and busy are left as they are.  LBX_NONE when
 * there are no peers, no ring, or no ring point leads to an eligible
 * peer (a ring out of step with the members, or eligible members of
 * weight <= 0, which own no points); otherwise never, even when the bound
 * refuses every peer. */
long lbx_byhash_pick(struct lbx_pick_in *in)
{
    const struct lbx_ring *ring = in->ring;
    struct bound b = { { 0, 0 }, { 0, 0 } };
    long fallback = LBX_NONE;
    size_t at, k;

    if (in->n == 0 || !ring || ring->n == 0 || !in->peer_of) {
        return LBX_NONE;
    }
    if (in->balance_pct > 0) {
        b = make_bound(in);
    }
    at = first_at_or_after(ring, in->key);
    for (k = 0; k < ring->n; k++, at++) {
        int32_t peer;

        if (at == ring->n) {
            at = 0;
        }
        peer = in->peer_of[ring->points[at].member];
        if (peer < 0 || (size_t)peer >= in->n) {
            continue;
        }
        if (in->balance_pct == 0
            || below_bound(&b, busy_of(in, (size_t)peer))) {
            return peer;
        }
        if (fallback == LBX_NONE) {
            fallback = peer;
        }
    }
    return fallback;
}

/* Nothing to reset: the method keeps no counters of its own. */
const struct lbx_method lbx_method_byhash = {
    .name = "byhash",
    .pick = lbx_byhash_pick,
    .reset_counters = 0,
};
