/* pick_bench.c: nanoseconds per pick of every selection core, for 2 to
 * 4096 eligible members.  Not a test: `make bench-pick` builds it with -O2
 * against the pure cores and runs it; bench/README.md shows what it
 * printed and how to read it.
 *
 * One cell is one (row, n).  The rows are:
 *   <method>            the method's pick() alone, through its method record
 *                       as the glue calls it: the walk over every peer;
 *   eligible            lbx_eligible() over n members, all usable, lbset 0;
 *   eligible+<method>   both, as provider.c's finder at b79f2d3 ran them
 *                       for every request;
 *   engine:<method>     what lbmethods/engine.c does per pick now: the walk
 *                       up to LBX_ENGINE_SCAN_MAX (32) peers, above that
 *                       the method's index (byrequests: the turn of a
 *                       shared ticket in the round's schedule; bybusyness:
 *                       the first idle peer in that order, the walk if the
 *                       next 32 are all busy; bytraffic: the heap at
 *                       every n, the chosen peer's bytes growing after
 *                       each pick;
 *                       bylatency: two draws; byhash: the ring's bucket
 *                       index and the total in flight kept, not summed;
 *                       heartbeat, at every n: a binary search over the
 *                       candidates' starts, kept between picks).
 *                       The candidate list, schedule, heap and ring are
 *                       built outside the timed loop, as the engine builds
 *                       them once per list, not per pick.
 * A cell sets its peers up afresh, finds a loop count K for which one
 * timed loop lasts at least --ms milliseconds, then times that loop five
 * times and reports the median nanoseconds per iteration.
 *
 * Usage: pick_bench [--csv] [--ms N]
 */
#define _POSIX_C_SOURCE 199309L

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lbx_method.h"

#define MAX_N 4096
#define N_SIZES 5
#define REPEATS 5
#define N_KEYS 65536 /* a power of two: the loop wraps with a mask */
#define MAX_ROWS 24
#define DEADLINE_NS (75ull * 1000000000ull) /* cells left after it: skipped */
#define MAX_K (1ull << 32)

static const size_t sizes[N_SIZES] = { 2, 16, 128, 1024, 4096 };

enum row_kind {
    ROW_PICK,
    ROW_ELIGIBLE,
    ROW_BOTH,
    ROW_ENGINE
};

/* As lbmethods/engine.h's LBX_ENGINE_SCAN_MAX (which needs httpd). */
#define SCAN_MAX 32

struct row {
    char name[32];
    enum row_kind kind;
    const struct lbx_method *m; /* NULL for ROW_ELIGIBLE */
};

/* What a timed loop works on; static, so 4096 of everything is no burden
 * on the stack. */
static struct lbx_peer peers[MAX_N];
static struct lbx_member members[MAX_N];
static size_t eligible_out[MAX_N];
static int32_t peer_of[MAX_N];
static uint64_t keys[N_KEYS];
static struct lbx_pick_in pick_in;
static uint32_t rng_state;

/* Results end here so no loop can be optimised away. */
static volatile uint64_t sink;

/* ---- deterministic inputs --------------------------------------------- */

static uint32_t xorshift32(void *ctx)
{
    uint32_t *s = ctx;
    uint32_t x = *s;

    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    *s = x;
    return x;
}

/* A well-mixed 64-bit value for each i, so peers differ without a pattern
 * a method could exploit. */
static uint64_t mix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static void peers_setup(size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        uint64_t h = mix64(i);
        struct lbx_peer *p = &peers[i];

        memset(p, 0, sizeof(*p));
        p->weight = 100 * (1 + (int64_t)(h % 4)); /* lbfactor 1..4 */
        p->busy = (h >> 12) % 8;
        p->sent = (h >> 20) % 1000000;
        p->rcvd = (h >> 40) % 4000000;
        /* One peer in eight has no latency sample yet. */
        p->latency = (i % 8 == 7) ? 0 : 500 + (h >> 32) % 20000;
        p->member = (uint32_t)i;
        members[i].lbset = 0;
        members[i].flags = LBX_M_USABLE;
        peer_of[i] = (int32_t)i;
    }
}

static struct lbx_ring ring;

/* Keys are hashed here, outside every timed loop; the loop only indexes. */
static void keys_setup(void)
{
    uint64_t c;

    for (c = 0; c < N_KEYS; c++) {
        keys[c] = lbx_hash64(&c, sizeof(c));
    }
}

/* The ring of n members called "http://10.0.x.y:80", with their weights. */
static void ring_setup(size_t n)
{
    static char names[MAX_N][32];
    static const char *name_of[MAX_N];
    static int64_t weights[MAX_N];
    size_t i, points;

    for (i = 0; i < n; i++) {
        snprintf(names[i], sizeof(names[i]), "http://10.0.%u.%u:80",
                 (unsigned)(i / 256), (unsigned)(i % 256));
        name_of[i] = names[i];
        weights[i] = peers[i].weight;
    }
    points = lbx_ring_points(weights, n);
    ring.points = malloc(points * sizeof(*ring.points));
    ring.bucket_bits = lbx_ring_bucket_bits(points);
    ring.bucket =
        malloc((((size_t)1 << ring.bucket_bits) + 1) * sizeof(*ring.bucket));
    if (!ring.points || !ring.bucket) {
        fprintf(stderr, "pick_bench: no memory for %zu ring points\n", points);
        exit(1);
    }
    lbx_ring_build(&ring, name_of, weights, n);
}

static void ring_teardown(void)
{
    free(ring.points);
    free(ring.bucket);
    ring.points = NULL;
    ring.bucket = NULL;
    ring.n = 0;
}

/* Fresh peers and pick input for one cell of n members. */
static void cell_setup(size_t n)
{
    peers_setup(n);
    memset(&pick_in, 0, sizeof(pick_in));
    rng_state = 2463534242u;
    pick_in.peers = peers;
    pick_in.n = n;
    pick_in.rand = xorshift32;
    pick_in.rand_ctx = &rng_state;
    pick_in.latency_default = 5000;
    pick_in.peer_of = peer_of;
    pick_in.balance_pct = 125;
    ring_setup(n);
    pick_in.ring = &ring;
}

/* The engine's indexes for n peers (engine.c builds them once per list). */
static uint32_t sched[4 * MAX_N];
static size_t sched_len;
static char sched_scratch[LBX_SCHEDULE_SCRATCH(MAX_N)];
static int64_t weights_of[MAX_N];
static uint32_t heap_peer[MAX_N];
static uint64_t heap_seen[MAX_N], heap_bytes[MAX_N];
static struct lbx_traffic_heap heap = { 0, heap_peer, heap_seen, weights_of,
                                        heap_bytes };
static uint64_t ticket;
static uint32_t hb_ready[MAX_N];
static uint64_t hb_starts[MAX_N], hb_sum;

static void peer_traffic(void *ctx, uint32_t k, uint64_t *sent, uint64_t *rcvd)
{
    (void)ctx;
    *sent = peers[k].sent;
    *rcvd = peers[k].rcvd;
}

static void engine_setup(size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        weights_of[i] = peers[i].weight;
    }
    sched_len = lbx_byrequests_schedule(
        weights_of, n, sched, sizeof(sched) / sizeof(sched[0]), sched_scratch);
    if (!sched_len) {
        fprintf(stderr, "pick_bench: no schedule for %zu peers\n", n);
        exit(1);
    }
    lbx_traffic_heap_build(&heap, n, peer_traffic, NULL);
    ticket = 0;
    for (i = 0; i < n; i++) {
        hb_ready[i] = (uint32_t)peers[i].weight;
    }
    hb_sum = lbx_hb_starts(hb_ready, n, hb_starts);
    pick_in.has_busy_sum = 1;
    pick_in.busy_sum = 0;
    for (i = 0; i < n; i++) {
        pick_in.busy_sum += peers[i].busy;
    }
}

static void cell_teardown(void)
{
    ring_teardown();
}

/* ---- timed loops ------------------------------------------------------ */

static uint64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t loop_pick(long (*pick)(struct lbx_pick_in *), uint64_t k)
{
    uint64_t acc = 0, i;

    for (i = 0; i < k; i++) {
        pick_in.key = keys[i & (N_KEYS - 1)];
        acc += (uint64_t)pick(&pick_in);
    }
    return acc;
}

/* lbx_eligible(), then pick() (if any) over what it found. */
static uint64_t loop_eligible(long (*pick)(struct lbx_pick_in *), size_t n,
                              uint64_t k)
{
    uint64_t acc = 0, i;

    for (i = 0; i < k; i++) {
        size_t count = lbx_eligible(members, n, NULL, NULL, eligible_out);

        acc += count;
        if (pick) {
            pick_in.n = count;
            pick_in.key = keys[i & (N_KEYS - 1)];
            acc += (uint64_t)pick(&pick_in);
        }
    }
    return acc;
}

/* ---- engine.c's picks, pure parts and the glue's few lines -------------- */

static long engine_byrequests(void)
{
    int tries;
    uint32_t k = 0;

    for (tries = 0; tries < 4; tries++) {
        k = sched[ticket++ % sched_len];
        if (!lbx_byrequests_overdrawn(peers[k].credit, peers[k].weight,
                                      400 * (int64_t)pick_in.n)) {
            break;
        }
    }
    return (long)k;
}

static long engine_bybusyness(void)
{
    uint64_t t = ticket++;
    size_t j;

    for (j = 0; j < SCAN_MAX; j++) {
        uint32_t k = sched[(t + j) % sched_len];
        if (peers[k].busy == 0) {
            return (long)k;
        }
    }
    return lbx_bybusyness_pick(&pick_in);
}

static long engine_bytraffic(void)
{
    long k = lbx_traffic_heap_min(&heap, peer_traffic, NULL, 64);

    peers[k].rcvd += 5000; /* its response, before the next pick */
    return k;
}

/* As provider.c's heartbeat finder: candidates and their starts kept. */
static long engine_heartbeat(void)
{
    return lbx_hb_owner(hb_starts, pick_in.n, hb_sum,
                        lbx_hb_point(pick_in.rand, pick_in.rand_ctx, hb_sum));
}

/* As engine.c: the balancer's total in flight is kept, not summed. */
static long engine_byhash(void)
{
    return lbx_byhash_pick(&pick_in);
}

static long engine_bylatency(void)
{
    size_t a, b;

    lbx_bylatency_draw(&pick_in, &a, &b);
    return lbx_bylatency_cheaper(&pick_in, a, b);
}

static uint64_t loop_engine(const struct lbx_method *m, size_t n, uint64_t k)
{
    long (*pick)(void) = m == &lbx_method_byrequests ? engine_byrequests
        : m == &lbx_method_bybusyness                ? engine_bybusyness
        : m == &lbx_method_bytraffic                 ? engine_bytraffic
        : m == &lbx_method_byhash                    ? engine_byhash
        : m == &lbx_method_heartbeat                 ? engine_heartbeat
                                                     : engine_bylatency;
    uint64_t acc = 0, i;

    if (n <= SCAN_MAX && m != &lbx_method_bytraffic
        && m != &lbx_method_heartbeat) {
        return loop_pick(m->pick, k);
    }
    for (i = 0; i < k; i++) {
        acc += (uint64_t)pick();
    }
    return acc;
}

/* Nanoseconds that k iterations of the row's loop take. */
static uint64_t time_loop(const struct row *r, size_t n, uint64_t k)
{
    uint64_t t0, t1, acc;

    t0 = now_ns();
    switch (r->kind) {
    case ROW_PICK: acc = loop_pick(r->m->pick, k); break;
    case ROW_ELIGIBLE: acc = loop_eligible(NULL, n, k); break;
    case ROW_ENGINE: acc = loop_engine(r->m, n, k); break;
    default: acc = loop_eligible(r->m->pick, n, k); break;
    }
    t1 = now_ns();
    sink += acc;
    return t1 - t0;
}

/* A loop count for which one loop lasts at least min_ns: double until a
 * loop takes 1/10 of that, then scale up with a margin. */
static uint64_t calibrate(const struct row *r, size_t n, uint64_t min_ns)
{
    uint64_t k = 1, t;

    for (;;) {
        t = time_loop(r, n, k);
        if (t >= min_ns / 10 || k >= MAX_K) {
            break;
        }
        k *= 2;
    }
    if (t == 0) {
        t = 1;
    }
    k = (uint64_t)((double)k * (double)min_ns / (double)t * 1.1) + 1;
    return k > MAX_K ? MAX_K : k;
}

struct cell {
    double median, min, max; /* ns per iteration; < 0: skipped */
    uint64_t k;
};

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

static struct cell measure(const struct row *r, size_t n, uint64_t min_ns)
{
    struct cell c;
    double ns[REPEATS];
    int i;

    cell_setup(n);
    if (r->kind == ROW_ENGINE) {
        engine_setup(n);
    }
    c.k = calibrate(r, n, min_ns);
    for (i = 0; i < REPEATS; i++) {
        ns[i] = (double)time_loop(r, n, c.k) / (double)c.k;
    }
    cell_teardown();
    qsort(ns, REPEATS, sizeof(ns[0]), cmp_double);
    c.median = ns[REPEATS / 2];
    c.min = ns[0];
    c.max = ns[REPEATS - 1];
    return c;
}

/* ---- rows and output -------------------------------------------------- */

static size_t rows_setup(struct row *rows)
{
    static const struct lbx_method *const methods[] = {
        &lbx_method_byrequests, &lbx_method_bytraffic, &lbx_method_bybusyness,
        &lbx_method_heartbeat,  &lbx_method_bylatency, &lbx_method_byhash,
    };
    static const struct lbx_method *const indexed[] = {
        &lbx_method_byrequests,
        &lbx_method_bytraffic,
        &lbx_method_bybusyness,
        &lbx_method_bylatency,
        &lbx_method_byhash,
        &lbx_method_heartbeat,
    };
    size_t nm = sizeof(methods) / sizeof(methods[0]), i, count = 0;

    for (i = 0; i < nm; i++, count++) {
        snprintf(rows[count].name, sizeof(rows[count].name), "%s",
                 methods[i]->name);
        rows[count].kind = ROW_PICK;
        rows[count].m = methods[i];
    }
    snprintf(rows[count].name, sizeof(rows[count].name), "eligible");
    rows[count].kind = ROW_ELIGIBLE;
    rows[count++].m = NULL;
    for (i = 0; i < nm; i++, count++) {
        snprintf(rows[count].name, sizeof(rows[count].name), "eligible+%s",
                 methods[i]->name);
        rows[count].kind = ROW_BOTH;
        rows[count].m = methods[i];
    }
    for (i = 0; i < sizeof(indexed) / sizeof(indexed[0]); i++, count++) {
        snprintf(rows[count].name, sizeof(rows[count].name), "engine:%s",
                 indexed[i]->name);
        rows[count].kind = ROW_ENGINE;
        rows[count].m = indexed[i];
    }
    return count;
}

static void print_header(int csv, uint64_t min_ns)
{
    size_t j;

    if (csv) {
        printf("row,n,ns_median,ns_min,ns_max,iterations_per_run\n");
        return;
    }
    printf("ns per pick: median of %d runs of >= %llu ms each\n", REPEATS,
           (unsigned long long)(min_ns / 1000000));
    printf("%-22s", "row");
    for (j = 0; j < N_SIZES; j++) {
        char label[16];

        snprintf(label, sizeof(label), "n=%zu", sizes[j]);
        printf(" %9s", label);
    }
    printf("\n");
}

static void print_cell(int csv, const struct row *r, size_t n,
                       const struct cell *c)
{
    if (csv) {
        if (c->median < 0) {
            printf("%s,%zu,,,,\n", r->name, n);
        }
        else {
            printf("%s,%zu,%.2f,%.2f,%.2f,%llu\n", r->name, n, c->median,
                   c->min, c->max, (unsigned long long)c->k);
        }
    }
    else if (c->median < 0) {
        printf(" %9s", "skipped");
    }
    else {
        printf(" %9.1f", c->median);
    }
    fflush(stdout);
}

static int parse_args(int argc, char **argv, int *csv, uint64_t *min_ns)
{
    int i;

    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--csv") == 0) {
            *csv = 1;
        }
        else if (strcmp(argv[i], "--ms") == 0 && i + 1 < argc
                 && atoi(argv[i + 1]) > 0) {
            *min_ns = (uint64_t)atoi(argv[++i]) * 1000000ull;
        }
        else {
            fprintf(stderr, "usage: %s [--csv] [--ms N]\n", argv[0]);
            return -1;
        }
    }
    return 0;
}

int main(int argc, char **argv)
{
    struct row rows[MAX_ROWS];
    uint64_t min_ns = 50ull * 1000000ull, start;
    size_t nrows, i, j;
    int csv = 0, skipped = 0;

    if (parse_args(argc, argv, &csv, &min_ns) != 0) {
        return 2;
    }
    keys_setup();
    nrows = rows_setup(rows);
    print_header(csv, min_ns);
    start = now_ns();
    for (i = 0; i < nrows; i++) {
        if (!csv) {
            printf("%-22s", rows[i].name);
        }
        for (j = 0; j < N_SIZES; j++) {
            struct cell c = { -1.0, -1.0, -1.0, 0 };

            if (now_ns() - start < DEADLINE_NS) {
                c = measure(&rows[i], sizes[j], min_ns);
            }
            else {
                skipped = 1;
            }
            print_cell(csv, &rows[i], sizes[j], &c);
        }
        if (!csv) {
            printf("\n");
        }
    }
    if (skipped) {
        fprintf(stderr, "pick_bench: deadline reached, cells skipped\n");
    }
    return skipped;
}
