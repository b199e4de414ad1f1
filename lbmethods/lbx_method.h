/* lbx_method.h: what every selection core sees.  No httpd, no APR.
 *
 * The glue (provider.c) walks the balancer, decides which members are
 * eligible (lbx_eligible below, stock's lbset/spare/standby rules), copies
 * them into an array of struct lbx_peer and hands that array to a method's
 * pick().  pick() never allocates, logs, reads a clock or touches globals;
 * anything it needs is in struct lbx_pick_in.
 */
#ifndef LBX_METHOD_H
#define LBX_METHOD_H

#include <stddef.h>
#include <stdint.h>

#define LBX_NONE (-1L)

/* One eligible member, snapshotted from shared memory. */
struct lbx_peer {
    int64_t weight; /* lbfactor on stock's x100 scale, > 0; for
                        * heartbeat, the ready count the member reports,
                        * >= 0 (see lbx_method_heartbeat below) */
    int64_t credit; /* lbstatus; a core may change it, glue writes back */
    uint64_t busy; /* requests in flight */
    uint64_t sent; /* bytes transferred to the backend, for bytraffic */
    uint64_t rcvd; /* bytes read from the backend, for bytraffic */
    uint64_t latency; /* bylatency: the member's peak-EWMA response time
                       * in microseconds (lbx_peak_ewma); 0 = no sample */
    uint32_t member; /* the member's index in its balancer (byhash maps
                      * ring points to peers through peer_of) */
};

struct lbx_ring;

/* Uniform 32-bit random numbers; unit tests script it. */
typedef uint32_t lbx_rand_fn(void *ctx);

struct lbx_pick_in {
    struct lbx_peer *peers;
    size_t n;
    lbx_rand_fn *rand;
    void *rand_ctx;
    /* bylatency: the latency given to a peer without samples (the glue
     * passes a typical latency of the balancer), microseconds, > 0. */
    uint64_t latency_default;
    /* byhash: the request key's hash (lbx_hash64), the ring of all
     * members (lbx_ring_build), member index -> index into peers or -1
     * when that member is not eligible now, and the load bound: no peer
     * may take more than balance_pct % of the mean requests in flight
     * (0: unbounded). */
    uint64_t key;
    const struct lbx_ring *ring;
    const int32_t *peer_of;
    uint32_t balance_pct;
    /* byhash, for callers that do not copy every peer: the sum of busy
     * over the peers when has_busy_sum (else the pick adds peers[].busy
     * up), and peer i's busy from busy_of(busy_ctx, i) when busy_of is
     * set (else peers[i].busy). */
    int has_busy_sum;
    uint64_t busy_sum;
    uint64_t (*busy_of)(void *ctx, size_t peer);
    void *busy_ctx;
};

/* Which shared counters a method's reset() zeroes (stock semantics). */
#define LBX_RESET_CREDIT 0x1u
#define LBX_RESET_BYTES 0x2u

struct lbx_method {
    const char *name; /* provider name, < 16 chars */
    long (*pick)(struct lbx_pick_in *in); /* index into peers or LBX_NONE */
    unsigned reset_counters; /* LBX_RESET_* */
};

/* ---- eligibility (eligible.c) ------------------------------------------ */

/* Member flags as the eligibility walk needs them. */
#define LBX_M_USABLE \
    0x1u /* none of shutdown/disabled/stopped/error/hc-failed */
#define LBX_M_DRAIN 0x2u /* +N */
#define LBX_M_SPARE 0x4u /* +R */
#define LBX_M_STANDBY 0x8u /* +H */

struct lbx_member {
    int lbset;
    unsigned flags;
};

/* Try to bring member `idx` back (stock: ap_proxy_retry_worker once its
 * retry= period is over).  Returns its new flags. */
typedef unsigned lbx_retry_fn(void *ctx, size_t idx);

/* Stock's best-worker walk, without the choice: fills `out` with the indices
 * of the members an lbmethod may choose from, in the order stock offers them
 * to is_best(), and returns how many.
 *
 * Tiers are the lbsets in ascending order; the first tier that yields any
 * candidate wins and later tiers are not even looked at (so their errored
 * members are not retried).  Within a tier: usable regular members in
 * configuration order, then as many usable spares as there are unusable or
 * draining regular members; only if that is empty, the usable standbys.
 * Draining spares and standbys are never candidates.  Unusable members of
 * the tier being looked at get one retry() first.
 *
 * `members` may be changed by retry() through ctx; `out` needs room for n. */
size_t lbx_eligible(struct lbx_member *members, size_t n, lbx_retry_fn *retry,
                    void *ctx, size_t *out);

/* The same walk for the tier of `lbset` alone (0 if it has no candidate):
 * a request that prefers an lbset (LBXLbsetBy) takes its members first. */
size_t lbx_eligible_tier(struct lbx_member *members, size_t n, int lbset,
                         lbx_retry_fn *retry, void *ctx, size_t *out);

/* ---- the cores ---------------------------------------------------------- */

long lbx_byrequests_pick(struct lbx_pick_in *in);
/* Stock's crediting: every peer earns its weight and `winner` (any value
 * >= n: nobody) pays the total, which is returned. */
int64_t lbx_byrequests_credit(struct lbx_peer *peers, size_t n, size_t winner);
/* Credit the peers of `in` for the pick `best` (LBX_NONE: nothing was
 * picked, nothing changes); returns best. */
long lbx_byrequests_charge(struct lbx_pick_in *in, long best);
/* One round of byrequests over peers 0..n-1 with these weights: the
 * sum(weights) / gcd(weights) picks after which all-zero credits are all
 * zero again and the picks repeat.  So pick number t of a pool that
 * started from zero is the round's pick t % length, and shared counting
 * of t is all byrequests needs between processes.
 * lbx_byrequests_round returns the length, or 0 when a weight is not in
 * 1..INT32_MAX, n is 0, the length is above LBX_SCHEDULE_ROUND_MAX, or
 * working the round out would take more than LBX_SCHEDULE_WORK steps
 * (length x distinct weights: about 20 ms at the limit).
 * lbx_byrequests_schedule writes the round's picks to out and returns its
 * length, or 0 (out unchanged or partly written) as above or when it is
 * longer than cap.  `scratch` needs LBX_SCHEDULE_SCRATCH(n) bytes,
 * suitably aligned (malloc'd memory is). */
#define LBX_SCHEDULE_ROUND_MAX (1u << 18)
#define LBX_SCHEDULE_WORK (1u << 23)
#define LBX_SCHEDULE_SCRATCH(n) ((n) * (4 * sizeof(size_t) + 8 + 8 + 4))
size_t lbx_byrequests_round(const int64_t *weights, size_t n);
size_t lbx_byrequests_schedule(const int64_t *weights, size_t n, uint32_t *out,
                               size_t cap, void *scratch);
/* A schedule's turn goes to a member unless sticky hits made it pay so
 * much that even this round's weight leaves it a full round in debt
 * (stock's credits never get there without sticky hits). */
int lbx_byrequests_overdrawn(int64_t credit, int64_t weight, int64_t total);
long lbx_bytraffic_pick(struct lbx_pick_in *in);
/* bytraffic's measure of a peer: sent / weight + rcvd / weight, each
 * division on its own as stock does (weight <= 0 counts as 1). */
uint64_t lbx_bytraffic_score(uint64_t sent, uint64_t rcvd, int64_t weight);
/* bytraffic without walking every peer: a heap over peers 0..n-1 keyed
 * by their score as last read (the byte counts `now` gives, with the
 * peer's weight).  Valid while the counts only grow: rebuild it after a
 * reset or when the peers or weights change.  All arrays are the
 * caller's, room n: peer and seen in heap order, weight (read) and bytes
 * (the last sent + rcvd read) by peer. */
typedef void lbx_traffic_fn(void *ctx, uint32_t peer, uint64_t *sent,
                            uint64_t *rcvd);
struct lbx_traffic_heap {
    size_t n;
    uint32_t *peer;
    uint64_t *seen;
    const int64_t *weight;
    uint64_t *bytes;
};
void lbx_traffic_heap_build(struct lbx_traffic_heap *h, size_t n,
                            lbx_traffic_fn *now, void *ctx);
/* The peer with the least score now, the lower index on a tie (what
 * lbx_bytraffic_pick finds), re-reading at most max_reads scores (>= 1);
 * past that, the best lower bound.  LBX_NONE when the heap is empty. */
long lbx_traffic_heap_min(struct lbx_traffic_heap *h, lbx_traffic_fn *now,
                          void *ctx, size_t max_reads);
long lbx_bybusyness_pick(struct lbx_pick_in *in);
/* bylatency.c: the peak-EWMA response time in microseconds after a sample
 * of sample_us taken elapsed_us after the previous one (ewma 0: no sample
 * yet).  The first sample, or one above the estimate, replaces it; a
 * lower one gives ewma * w + sample_us * (1 - w), w = exp(-elapsed_us /
 * tau_us), rounded (tau_us 0: the sample).  A 0 sample counts as 1, so
 * the result is never 0. */
uint64_t lbx_peak_ewma(uint64_t ewma, uint64_t elapsed_us, uint64_t sample_us,
                       uint64_t tau_us);
/* The bylatency method: draws two distinct peers (two calls of in->rand;
 * none when n < 2) and returns the one with the lower latency * (busy + 1)
 * / weight, compared exactly, the lower index on equal cost; latency 0
 * means in->latency_default.  Credit is not touched. */
long lbx_bylatency_pick(struct lbx_pick_in *in);
/* bylatency's two steps, for a caller that loads only the drawn peers:
 * the two distinct indices below in->n (>= 2), from two calls of
 * in->rand; and the cheaper of peers a and b, as above. */
void lbx_bylatency_draw(struct lbx_pick_in *in, size_t *a, size_t *b);
long lbx_bylatency_cheaper(const struct lbx_pick_in *in, size_t a, size_t b);

/* heartbeat.c: what one backend reported through mod_heartbeat. */
#define LBX_HB_LINE_MAX 4096 /* longest HeartbeatStorage line, as stock */
#define LBX_HB_MAX_LASTSEEN 10 /* seconds after which a report is stale */

struct lbx_hb_server {
    char ip[64]; /* as written by mod_heartmonitor, NUL-terminated */
    int32_t busy;
    int32_t ready;
    int32_t seen; /* seconds since the last heartbeat, -1 = unknown */
    int32_t port;
};

/* Parse HeartbeatStorage file contents ("IP k=v&k=v" lines) into out[],
 * merging repeated IPs the way stock does; returns the entry count. */
size_t lbx_hb_parse(const char *data, size_t len, struct lbx_hb_server *out,
                    size_t cap);
/* Stock's start-up throttle: ready /= 4 when busy is 0. */
void lbx_hb_throttle(struct lbx_hb_server *srv);
/* Index of the candidate that owns `pick` (uniform in [0, sum(ready)]),
 * by stock's walk with inclusive ranges (heartbeat.c explains it). */
long lbx_hb_pick(const uint32_t *ready, size_t n, uint64_t pick);
/* The same answer without the walk, for callers that keep their
 * candidates between picks: lbx_hb_starts writes where each candidate's
 * range starts (starts[i] = ready[0] + ... + ready[i-1]) and returns the
 * sum; lbx_hb_owner then finds the owner of pick by binary search
 * (LBX_NONE when n is 0 or pick > sum). */
uint64_t lbx_hb_starts(const uint32_t *ready, size_t n, uint64_t *starts);
long lbx_hb_owner(const uint64_t *starts, size_t n, uint64_t sum,
                  uint64_t pick);
/* The point a heartbeat pick draws: uniform in [0, sum], from two calls
 * of rand (high word first). */
uint64_t lbx_hb_point(lbx_rand_fn *rand, void *ctx, uint64_t sum);
/* The heartbeat method: peers[i].weight is the ready count candidate i
 * reports (>= 0; negative counts as 0, more than UINT32_MAX as
 * UINT32_MAX), not an lbfactor.  Draws a 64-bit number from two calls of
 * in->rand (high word first), scales it to a point uniform in [0, sum]
 * and returns lbx_hb_pick's owner of that point.  LBX_NONE, without
 * calling in->rand, when n is 0 or every capacity is 0.  Credit is not
 * touched. */
long lbx_heartbeat_pick(struct lbx_pick_in *in);

/* byhash.c: consistent hashing with bounded loads. */
struct lbx_ring_point {
    uint64_t hash;
    uint32_t member; /* index into the names given to lbx_ring_build */
};
struct lbx_ring {
    size_t n; /* points in use */
    struct lbx_ring_point *points; /* the glue's memory, sorted by hash */
    /* Optional index, filled by lbx_ring_build when bucket is set: room
     * for 2^bucket_bits + 1 entries (bucket_bits 1..LBX_RING_BUCKET_BITS_MAX),
     * so a lookup searches only the points that share the key's top bits.
     * bucket NULL or bucket_bits 0: binary search over all points. */
    uint32_t *bucket;
    unsigned bucket_bits;
};
#define LBX_RING_BUCKET_BITS_MAX 24
/* Bits for about one point per bucket: the least b with 2^b >= points,
 * within 1..LBX_RING_BUCKET_BITS_MAX. */
unsigned lbx_ring_bucket_bits(size_t points);
/* 64-bit hash of the bytes, the same on every machine, build and process;
 * its values must never change (rings of all front-ends depend on it). */
uint64_t lbx_hash64(const void *data, size_t len);
/* Points the ring of these members needs: 40 per weight 100 (rounded to
 * the nearest), at least 1 for weight > 0, none for weight <= 0, at most
 * 4000 per member. */
size_t lbx_ring_points(const int64_t *weights, size_t n);
/* Fill ring->points (room for lbx_ring_points(weights, n)) with points
 * hashed from each member's name (non-NULL, NUL-terminated) and the
 * point's number, sorted by hash, then member; sets ring->n and fills
 * ring->bucket if set (else sets bucket_bits to 0).  n fits in
 * int32_t; equal names give equal points. */
void lbx_ring_build(struct lbx_ring *ring, const char *const *names,
                    const int64_t *weights, size_t n);
/* The peer owning the first ring point at or after in->key, walking on
 * past ineligible members and, with balance_pct > 0, past peers at the
 * load bound; the first eligible one when the bound refuses all.
 * LBX_NONE only when no ring point leads to a peer (n == 0, empty ring).
 * Credit is not touched. */
long lbx_byhash_pick(struct lbx_pick_in *in);

extern const struct lbx_method lbx_method_byrequests;
extern const struct lbx_method lbx_method_bytraffic;
extern const struct lbx_method lbx_method_bybusyness;
extern const struct lbx_method lbx_method_bylatency;
extern const struct lbx_method lbx_method_heartbeat;
extern const struct lbx_method lbx_method_byhash;

#endif
