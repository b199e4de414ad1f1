/* heartbeat.c: choose members in proportion to the free capacity they
 * report through mod_heartbeat / mod_heartmonitor (stock
 * mod_lbmethod_heartbeat).  The pure pieces: the HeartbeatStorage file
 * parser, the proportional walk and lbx_method_heartbeat, which draws the
 * random point and walks.  Reading the file or the slotmem, caching it and
 * matching reports to members is glue (provider.c).
 *
 * The walk is stock's, inclusive at both ends: with capacities A=2, B=3
 * the point is drawn from [0, 5] (six values), A owns [0, 2] and B owns
 * [2, 5]; where ranges touch the later candidate wins, so A gets 0 and 1
 * (2 of 6) and B gets 2 to 5 (4 of 6), not exactly 2:3.  A candidate
 * with capacity 0 owns a single value, which the next candidate takes
 * over, so it is chosen only when it is the last one and the point is the
 * sum.  These biases shrink as capacities grow; they are kept so shares
 * match stock's.
 */
#include <string.h>

#include "lbx_method.h"
#include "lbx_text.h"

/* Strict decimal, as stock 2.4.69+ parses these fields: digits only, the
 * whole token, within [lo, hi].  Anything else leaves the old value. */
static void parse_field(const char *s, size_t len, int32_t lo, int32_t hi,
                        int32_t *out)
{
    uint64_t v;

    if (lbx_parse_uint(s, len, (uint64_t)hi, &v) == 0 && v >= (uint64_t)lo) {
        *out = (int32_t)v;
    }
}

static int key_is(const char *k, size_t klen, const char *name)
{
    size_t i;

    if (strlen(name) != klen) {
        return 0;
    }
    /* apr_table keys, as stock stores them, compare case-insensitively. */
    for (i = 0; i < klen; i++) {
        if (lbx_lower((unsigned char)k[i]) != name[i]) {
            return 0;
        }
    }
    return 1;
}

/* One "k=v&k2=v2" query of a line, applied to *srv. */
static void apply_query(const char *q, size_t len, struct lbx_hb_server *srv)
{
    char key[LBX_HB_LINE_MAX], val[LBX_HB_LINE_MAX];
    size_t pos = 0;

    while (pos < len) {
        size_t end = pos, eq, klen, vlen;

        while (end < len && q[end] != '&') {
            end++;
        }
        if (end > pos) {
            for (eq = pos; eq < end && q[eq] != '='; eq++) {
            }
            /* An invalid or NUL escape stays as it is: the result is
             * only compared with key names or parsed as digits, which
             * then fails safely. */
            klen = lbx_pct_decode(q + pos, eq - pos, key);
            if (eq < end) {
                vlen = lbx_pct_decode(q + eq + 1, end - eq - 1, val);
            }
            else {
                val[0] = '1'; /* a bare key means "1", as in stock */
                vlen = 1;
            }
            if (key_is(key, klen, "busy")) {
                parse_field(val, vlen, 0, INT32_MAX, &srv->busy);
            }
            else if (key_is(key, klen, "ready")) {
                parse_field(val, vlen, 0, INT32_MAX, &srv->ready);
            }
            else if (key_is(key, klen, "lastseen")) {
                parse_field(val, vlen, 0, INT32_MAX, &srv->seen);
            }
            else if (key_is(key, klen, "port")) {
                parse_field(val, vlen, 1, 65535, &srv->port);
            }
        }
        pos = end + 1;
    }
}

size_t lbx_hb_parse(const char *data, size_t len, struct lbx_hb_server *out,
                    size_t cap)
{
    size_t n = 0, pos = 0;

    while (pos < len) {
        const char *line = data + pos;
        const char *nl = memchr(line, '\n', len - pos);
        size_t llen = nl ? (size_t)(nl - line) : len - pos;
        const char *sp;
        size_t iplen, k;
        struct lbx_hb_server *srv = NULL;

        pos += llen + 1;
        /* Stock reads lines through a 4 KB buffer; longer ones are garbage
         * here and skipped whole rather than split into pieces. */
        if (llen >= LBX_HB_LINE_MAX || llen == 0 || line[0] == '#') {
            continue;
        }
        sp = memchr(line, ' ', llen);
        if (!sp || memchr(line, '\0', llen)) {
            continue;
        }
        iplen = (size_t)(sp - line);
        if (iplen >= sizeof(out->ip)) {
            continue;
        }
        for (k = 0; k < n; k++) {
            if (strlen(out[k].ip) == iplen
                && memcmp(out[k].ip, line, iplen) == 0) {
                srv = &out[k];
                break;
            }
        }
        if (!srv) {
            if (n == cap) {
                continue;
            }
            srv = &out[n++];
            memset(srv, 0, sizeof(*srv));
            memcpy(srv->ip, line, iplen);
            srv->ip[iplen] = '\0';
            srv->port = 80;
            srv->seen = -1;
        }
        apply_query(sp + 1, llen - iplen - 1, srv);
        lbx_hb_throttle(srv);
    }
    return n;
}

void lbx_hb_throttle(struct lbx_hb_server *srv)
{
    /* A server with nothing busy and plenty ready has likely just started:
     * offer only a quarter of it, so it is not flooded at once. */
    if (srv->busy == 0 && srv->ready != 0) {
        srv->ready /= 4;
    }
}

/* Capacity of candidate i of an array of one of two shapes. */
typedef uint64_t capacity_fn(const void *arr, size_t i);

/* The one walk behind lbx_hb_pick and lbx_method_heartbeat, so the two
 * cannot drift apart. */
static long walk(const void *arr, size_t n, capacity_fn *capacity,
                 uint64_t pick)
{
    uint64_t c = 0;
    long chosen = LBX_NONE;
    size_t i;

    /* pick is drawn from [0, sum] inclusive, every candidate owns
     * [c, c + capacity] inclusive, and where ranges touch the later
     * candidate wins (stock's loop keeps the last match). */
    for (i = 0; i < n; i++) {
        uint64_t cap = capacity(arr, i);
        if (pick >= c && pick <= c + cap) {
            chosen = (long)i;
        }
        c += cap;
    }
    return chosen;
}

static uint64_t ready_capacity(const void *arr, size_t i)
{
    return ((const uint32_t *)arr)[i];
}

long lbx_hb_pick(const uint32_t *ready, size_t n, uint64_t pick)
{
    return walk(ready, n, ready_capacity, pick);
}

static uint64_t peer_capacity(const void *arr, size_t i)
{
    int64_t w = ((const struct lbx_peer *)arr)[i].weight;

    /* Reports are 32-bit counts.  Clamping whatever else a caller passes
     * keeps the sum below 2^64 - 1 for any array that fits in memory, so
     * sum + 1 below cannot wrap. */
    if (w <= 0) {
        return 0;
    }
    return w > (int64_t)UINT32_MAX ? UINT32_MAX : (uint64_t)w;
}

/* High 64 bits of the 128-bit product a * b, from 32-bit halves (C99 has
 * no 128-bit type).  The middle column cannot wrap: it adds two values
 * below 2^32 to one 32x32-bit product, at most 2^64 - 2^33 + 1. */
static uint64_t mul_hi64(uint64_t a, uint64_t b)
{
    uint64_t a_lo = a & 0xffffffffu, a_hi = a >> 32;
    uint64_t b_lo = b & 0xffffffffu, b_hi = b >> 32;
    uint64_t lo_lo = a_lo * b_lo, hi_lo = a_hi * b_lo, lo_hi = a_lo * b_hi;
    uint64_t mid = (lo_lo >> 32) + (hi_lo & 0xffffffffu) + lo_hi;

    return a_hi * b_hi + (hi_lo >> 32) + (mid >> 32);
}

uint64_t lbx_hb_point(lbx_rand_fn *rand, void *ctx, uint64_t sum)
{
    uint64_t r = (uint64_t)rand(ctx) << 32;

    r |= rand(ctx);
    /* floor(r * (sum + 1) / 2^64): r = 0 gives 0, r = 2^64 - 1 gives sum,
     * and every value in between gets 2^64 / (sum + 1) draws, give or take
     * one, out of 2^64.  A modulo would favour the low values instead. */
    return sum == UINT64_MAX ? r : mul_hi64(r, sum + 1);
}

long lbx_heartbeat_pick(struct lbx_pick_in *in)
{
    uint64_t sum = 0;
    size_t i;

    for (i = 0; i < in->n; i++) {
        sum += peer_capacity(in->peers, i);
    }
    if (sum == 0) {
        return LBX_NONE;
    }
    return walk(in->peers, in->n, peer_capacity,
                lbx_hb_point(in->rand, in->rand_ctx, sum));
}

uint64_t lbx_hb_starts(const uint32_t *ready, size_t n, uint64_t *starts)
{
    uint64_t c = 0;
    size_t i;

    for (i = 0; i < n; i++) {
        starts[i] = c;
        c += ready[i];
    }
    return c;
}

long lbx_hb_owner(const uint64_t *starts, size_t n, uint64_t sum, uint64_t pick)
{
    size_t lo = 0, hi = n;

    if (n == 0 || pick > sum) {
        return LBX_NONE;
    }
    /* The walk's owner is the last candidate whose range starts at or
     * before pick: ranges [start, start + capacity] touch the next one's
     * start, and where they touch the later candidate wins.  So: the last
     * i with starts[i] <= pick, by binary search over the sorted starts. */
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (starts[mid] <= pick) {
            lo = mid;
        }
        else {
            hi = mid;
        }
    }
    return (long)lo;
}

/* Stock's heartbeat method resets nothing. */
const struct lbx_method lbx_method_heartbeat = {
    .name = "heartbeat",
    .pick = lbx_heartbeat_pick,
};
