/* Unit tests for lbmethods/heartbeat.c: the HeartbeatStorage parser, the
 * proportional walk and lbx_method_heartbeat with a scripted random
 * source. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lbx_tests.h"
#include "lbx_method.h"

static struct lbx_hb_server servers[16];

static size_t parse(const char *text)
{
    memset(servers, 0x5a, sizeof(servers));
    return lbx_hb_parse(text, strlen(text), servers, 16);
}

static const struct {
    const char *what;
    const char *text;
    size_t n;
    const char *ip; /* first entry */
    int32_t busy, ready, seen, port;
} files[] = {
    { "typical line", "10.0.0.5 &ready=40&busy=10&lastseen=2&port=8080\n", 1,
      "10.0.0.5", 10, 40, 2, 8080 },
    { "defaults: port 80, seen -1, busy 0 throttles ready",
      "10.0.0.5 ready=40\n", 1, "10.0.0.5", 0, 10, -1, 80 },
    { "comments and lines without a space are skipped",
      "# comment 1.2.3.4 ready=9\nnospace\n10.0.0.6 busy=1&ready=8\n", 1,
      "10.0.0.6", 1, 8, -1, 80 },
    { "keys are case-insensitive and %-decoded", "::1 BUSY=2&%72eady=%33%30\n",
      1, "::1", 2, 30, -1, 80 },
    { "last key wins, bare key means 1", "h busy=5&busy=3&ready=7&lastseen\n",
      1, "h", 3, 7, 1, 80 },
    { "non-decimal values are ignored",
      "h busy=1&ready=12abc&lastseen=-3&port=0x50\n", 1, "h", 1, 0, -1, 80 },
    { "out of range values are ignored",
      "h busy=1&ready=2147483648&lastseen=99999999999&port=65536\n", 1, "h", 1,
      0, -1, 80 },
    { "largest values are kept",
      "h busy=2147483647&ready=2147483647&port=65535\n", 1, "h", 2147483647,
      2147483647, -1, 65535 },
    { "a trailing CR makes the last value invalid (stock parses strictly)",
      "h busy=3&ready=8\r\n", 1, "h", 3, 0, -1, 80 },
    { "last line without newline is read whole", "h busy=3&ready=8", 1, "h", 3,
      8, -1, 80 },
    { "repeated IP merges and throttles again", "h ready=64\nh lastseen=1\n", 1,
      "h", 0, 4, 1, 80 },
    { "empty file", "", 0, NULL, 0, 0, 0, 0 },
    { "only garbage", "\x01\x02\xff\n\n\n###\n", 0, NULL, 0, 0, 0, 0 },
    { "IP too long for any member is skipped",
      "0123456789012345678901234567890123456789012345678901234567890123456789"
      " ready=1\n",
      0, NULL, 0, 0, 0, 0 },
    { "empty query", "h \n", 1, "h", 0, 0, -1, 80 },
    { "stray ampersands and equals signs", "h &&=&busy==4&ready=4=&&\n", 1, "h",
      0, 0, -1, 80 },
};

START_TEST(test_parse_table)
{
    size_t n = parse(files[_i].text);

    ck_assert_msg(n == files[_i].n, "%s: %zu entries", files[_i].what, n);
    if (n) {
        ck_assert_str_eq(servers[0].ip, files[_i].ip);
        ck_assert_msg(servers[0].busy == files[_i].busy, "%s: busy %d",
                      files[_i].what, servers[0].busy);
        ck_assert_msg(servers[0].ready == files[_i].ready, "%s: ready %d",
                      files[_i].what, servers[0].ready);
        ck_assert_msg(servers[0].seen == files[_i].seen, "%s: seen %d",
                      files[_i].what, servers[0].seen);
        ck_assert_msg(servers[0].port == files[_i].port, "%s: port %d",
                      files[_i].what, servers[0].port);
    }
}
END_TEST

START_TEST(test_parse_capacity_and_nul)
{
    char text[4096] = "";
    size_t k, n;
    static const char with_nul[] = "a ready=4&busy=1\nb\0c ready=4\nd busy=1\n";

    for (k = 0; k < 40; k++) {
        char line[64];
        snprintf(line, sizeof(line), "10.0.0.%zu busy=1&ready=%zu\n", k, k);
        strcat(text, line);
    }
    n = lbx_hb_parse(text, strlen(text), servers, 16);
    ck_assert_int_eq(n, 16);
    ck_assert_str_eq(servers[15].ip, "10.0.0.15");
    ck_assert_int_eq(servers[15].ready, 15);
    /* A line with a NUL byte is skipped; the others are read. */
    n = lbx_hb_parse(with_nul, sizeof(with_nul) - 1, servers, 16);
    ck_assert_int_eq(n, 2);
    ck_assert_str_eq(servers[0].ip, "a");
    ck_assert_str_eq(servers[1].ip, "d");
}
END_TEST

START_TEST(test_parse_overlong_line)
{
    size_t len = 3 * LBX_HB_LINE_MAX, n;
    char *text = malloc(len + 32);

    memset(text, 'x', len);
    memcpy(text, "big ready=", 10);
    strcpy(text + len, "\nok busy=1&ready=2\n");
    n = lbx_hb_parse(text, strlen(text), servers, 16);
    ck_assert_int_eq(n, 1);
    ck_assert_str_eq(servers[0].ip, "ok");
    free(text);
}
END_TEST

START_TEST(test_pick_boundaries)
{
    /* ready 2, 3: pick in [0, 5]; ranges [0,2] and [2,5] touch at 2, where
     * the later candidate wins, as in stock. */
    const uint32_t ready[2] = { 2, 3 };
    const long expect[6] = { 0, 0, 1, 1, 1, 1 };
    uint64_t pick;

    for (pick = 0; pick <= 5; pick++) {
        ck_assert_int_eq(lbx_hb_pick(ready, 2, pick), expect[pick]);
    }
    ck_assert_int_eq(lbx_hb_pick(ready, 0, 0), LBX_NONE);
    /* Out of range picks match nothing. */
    ck_assert_int_eq(lbx_hb_pick(ready, 2, 6), LBX_NONE);
}
END_TEST

START_TEST(test_pick_zero_ready_owns_a_boundary)
{
    /* A candidate reporting ready=0 owns the single value 4, but the
     * next candidate's range starts there too and the later one wins. */
    const uint32_t ready[3] = { 4, 0, 4 };

    ck_assert_int_eq(lbx_hb_pick(ready, 3, 3), 0);
    ck_assert_int_eq(lbx_hb_pick(ready, 3, 4), 2);
    ck_assert_int_eq(lbx_hb_pick(ready, 3, 8), 2);
}
END_TEST

START_TEST(test_pick_long_run_shares)
{
    /* Seeded uniform picks: shares follow ready (10:30:60) within 1%. */
    const uint32_t ready[3] = { 10, 30, 60 };
    int count[3] = { 0, 0, 0 }, k;
    uint32_t seed = 4242;

    for (k = 0; k < 100000; k++) {
        long i;
        seed = seed * 1103515245u + 12345u;
        i = lbx_hb_pick(ready, 3, ((uint64_t)(seed >> 8) * 101) >> 24);
        ck_assert(i >= 0);
        count[i]++;
    }
    ck_assert_msg(abs(count[0] - 10000) < 1000, "%d", count[0]);
    ck_assert_msg(abs(count[1] - 30000) < 1000, "%d", count[1]);
    ck_assert_msg(abs(count[2] - 60000) < 1000, "%d", count[2]);
}
END_TEST

/* ---- lbx_method_heartbeat ------------------------------------------------ */

/* A random source that returns a script, and fails the test when asked
 * for more than the script holds. */
struct script {
    const uint32_t *words;
    size_t n, used;
};

static uint32_t scripted(void *ctx)
{
    struct script *sc = ctx;

    ck_assert_msg(sc->used < sc->n, "rand called %zu times, script has %zu",
                  sc->used + 1, sc->n);
    return sc->words[sc->used++];
}

/* Pick among capacities with the given 64-bit draw; checks that exactly
 * two words were used (or none when there is nothing to pick from). */
static long method_pick(const int64_t *caps, size_t n, uint64_t draw)
{
    struct lbx_peer peers[8];
    uint32_t words[2] = { (uint32_t)(draw >> 32), (uint32_t)draw };
    struct script sc = { words, 2, 0 };
    struct lbx_pick_in in;
    size_t i;
    long got;

    memset(peers, 0, sizeof(peers));
    for (i = 0; i < n; i++) {
        peers[i].weight = caps[i];
        peers[i].credit = 77;
    }
    memset(&in, 0, sizeof(in));
    in.peers = peers;
    in.n = n;
    in.rand = scripted;
    in.rand_ctx = &sc;
    got = lbx_method_heartbeat.pick(&in);
    ck_assert_uint_eq(sc.used, (got == LBX_NONE ? 0 : 2));
    for (i = 0; i < n; i++) {
        ck_assert_int_eq(peers[i].credit, 77);
    }
    return got;
}

#define U32 UINT64_C(0xffffffff)

static const struct {
    const char *what;
    int64_t caps[5];
    size_t n;
    uint64_t draw; /* high word first, as the two rand() calls */
    long expect;
} draws[] = {
    /* 3 + 4 = 7: the point is draw >> 61, A owns [0, 3], B [3, 7]. */
    { "first value", { 3, 4 }, 2, 0, 0 },
    { "last value", { 3, 4 }, 2, UINT64_MAX, 1 },
    { "last draw of point 2", { 3, 4 }, 2, (UINT64_C(3) << 61) - 1, 0 },
    { "first draw of point 3, shared: later wins",
      { 3, 4 },
      2,
      UINT64_C(3) << 61,
      1 },
    { "high word first (low word all ones is small)", { 3, 4 }, 2, U32, 0 },
    { "high word first (high word is large)", { 3, 4 }, 2, U32 << 32, 1 },
    /* 1 + 2 + 4 = 7: A [0, 1], B [1, 3], C [3, 7]. */
    { "three: point 0", { 1, 2, 4 }, 3, 0, 0 },
    { "three: last draw of point 0",
      { 1, 2, 4 },
      3,
      (UINT64_C(1) << 61) - 1,
      0 },
    { "three: point 1 is B's", { 1, 2, 4 }, 3, UINT64_C(1) << 61, 1 },
    { "three: last draw of point 2",
      { 1, 2, 4 },
      3,
      (UINT64_C(3) << 61) - 1,
      1 },
    { "three: point 3 is C's", { 1, 2, 4 }, 3, UINT64_C(3) << 61, 2 },
    { "three: last value", { 1, 2, 4 }, 3, UINT64_MAX, 2 },
    /* Zero capacities. */
    { "zero first: taken over at 0", { 0, 7 }, 2, 0, 1 },
    { "zeros in the middle never win",
      { 3, 0, 0, 4 },
      4,
      UINT64_C(3) << 61,
      3 },
    { "zero last wins the last value (stock)", { 0, 7, 0 }, 3, UINT64_MAX, 2 },
    { "zero last: one below the last value",
      { 0, 7, 0 },
      3,
      (UINT64_C(7) << 61) - 1,
      1 },
    { "negative counts as zero", { -5, 7 }, 2, 0, 1 },
    /* 2^32 - 1 twice and 1: sum 2^33 - 1, point = draw >> 31, so the low
     * word's top bit decides between neighbours. */
    { "big: last point of A",
      { U32, U32, 1 },
      3,
      (UINT64_C(0x7fffffff) << 32) | 0x7fffffff,
      0 },
    { "big: point 2^32 - 1 is B's",
      { U32, U32, 1 },
      3,
      (UINT64_C(0x7fffffff) << 32) | 0x80000000u,
      1 },
    { "big: point 2^32", { U32, U32, 1 }, 3, UINT64_C(0x80000000) << 32, 1 },
    { "big: last point of B",
      { U32, U32, 1 },
      3,
      (UINT64_C(0xfffffffe) << 32) | U32,
      1 },
    { "big: point 2^33 - 2 is C's",
      { U32, U32, 1 },
      3,
      (U32 << 32) | 0x7fffffff,
      2 },
    { "big: last value", { U32, U32, 1 }, 3, UINT64_MAX, 2 },
    /* Beyond 32 bits a capacity counts as 2^32 - 1: the sum stays small
     * enough that sum + 1 cannot wrap. */
    { "clamped: first value", { INT64_MAX, 1 }, 2, 0, 0 },
    { "clamped: last value",
      { INT64_MAX, INT64_MAX, INT64_MAX, 1 },
      4,
      UINT64_MAX,
      3 },
};

START_TEST(test_method_draws)
{
    long got = method_pick(draws[_i].caps, draws[_i].n, draws[_i].draw);

    ck_assert_msg(got == draws[_i].expect, "%s: picked %ld, want %ld",
                  draws[_i].what, got, draws[_i].expect);
}
END_TEST

START_TEST(test_method_nothing_to_pick)
{
    static const int64_t zeros[3] = { 0, 0, -1 };
    struct script sc = { NULL, 0, 0 };
    struct lbx_pick_in in;

    ck_assert_int_eq(method_pick(zeros, 0, 0), LBX_NONE);
    ck_assert_int_eq(method_pick(zeros, 3, UINT64_MAX), LBX_NONE);
    /* With no peers at all, not even the array is looked at. */
    memset(&in, 0, sizeof(in));
    in.rand = scripted;
    in.rand_ctx = &sc;
    ck_assert_int_eq(lbx_heartbeat_pick(&in), LBX_NONE);
}
END_TEST

START_TEST(test_method_table_entry)
{
    ck_assert_str_eq(lbx_method_heartbeat.name, "heartbeat");
    ck_assert(lbx_method_heartbeat.pick == lbx_heartbeat_pick);
    ck_assert_uint_eq(lbx_method_heartbeat.reset_counters, 0);
}
END_TEST

/* The first draw that scales to point p or above, for sum + 1 = d:
 * ceil(p * 2^64 / d), from 2^64 = q * d + rem + 1 without 128-bit types. */
static uint64_t first_draw(uint64_t p, uint64_t d)
{
    uint64_t q = UINT64_MAX / d, rem = UINT64_MAX % d;

    return p * q + (p * (rem + 1) + d - 1) / d;
}

/* Every boundary between two points, for sums that are not powers of two
 * less one: the draw just below point p gives p - 1's owner, the first
 * draw of p gives p's owner, and those owners are lbx_hb_pick's. */
static const struct {
    int64_t caps[4];
    size_t n;
} walks[] = {
    { { 2, 3 }, 2 },
    { { 2, 0, 3, 1 }, 4 },
    { { 5 }, 1 },
    { { 1234, 1, 999, 77 }, 4 },
};

START_TEST(test_method_every_boundary)
{
    uint32_t ready[4];
    uint64_t sum = 0, p;
    size_t i, n = walks[_i].n;

    for (i = 0; i < n; i++) {
        ready[i] = (uint32_t)walks[_i].caps[i];
        sum += ready[i];
    }
    ck_assert_int_eq(method_pick(walks[_i].caps, n, 0),
                     lbx_hb_pick(ready, n, 0));
    for (p = 1; p <= sum; p++) {
        uint64_t t = first_draw(p, sum + 1);
        ck_assert_int_eq(method_pick(walks[_i].caps, n, t - 1),
                         lbx_hb_pick(ready, n, p - 1));
        ck_assert_int_eq(method_pick(walks[_i].caps, n, t),
                         lbx_hb_pick(ready, n, p));
    }
    ck_assert_int_eq(method_pick(walks[_i].caps, n, UINT64_MAX),
                     lbx_hb_pick(ready, n, sum));
}
END_TEST

/* Seeded xorshift32: the long-run tests' only source of randomness. */
static uint32_t xorshift32(void *ctx)
{
    uint32_t *x = ctx;

    *x ^= *x << 13;
    *x ^= *x >> 17;
    *x ^= *x << 5;
    return *x;
}

START_TEST(test_method_long_run_shares)
{
    /* Capacities 10, 0, 30, 60 over 200k picks.  Expected shares are the
     * walk's own: of the 101 points in [0, 100], A owns 10, the empty one
     * none, C 30 and D 61. */
    enum {
        PICKS = 200000
    };
    static const int64_t caps[4] = { 10, 0, 30, 60 };
    static const uint32_t ready[4] = { 10, 0, 30, 60 };
    struct lbx_peer peers[4];
    struct lbx_pick_in in;
    long owned[4] = { 0, 0, 0, 0 }, count[4] = { 0, 0, 0, 0 };
    uint32_t seed = 20240611u;
    uint64_t p;
    size_t i;
    int k;

    for (p = 0; p <= 100; p++) {
        owned[lbx_hb_pick(ready, 4, p)]++;
    }
    ck_assert_int_eq(owned[0], 10);
    ck_assert_int_eq(owned[1], 0);
    memset(peers, 0, sizeof(peers));
    for (i = 0; i < 4; i++) {
        peers[i].weight = caps[i];
    }
    memset(&in, 0, sizeof(in));
    in.peers = peers;
    in.n = 4;
    in.rand = xorshift32;
    in.rand_ctx = &seed;
    for (k = 0; k < PICKS; k++) {
        long got = lbx_method_heartbeat.pick(&in);
        ck_assert(got >= 0 && got < 4);
        count[got]++;
    }
    for (i = 0; i < 4; i++) {
        double want = (double)PICKS * (double)owned[i] / 101.0;
        /* 2000 picks is about ten standard deviations here. */
        ck_assert_msg(count[i] > want - 2000 && count[i] < want + 2000,
                      "candidate %zu: %ld picks, want about %.0f", i, count[i],
                      want);
    }
    ck_assert_int_eq(count[1], 0);
}
END_TEST

/* lbx_hb_owner over lbx_hb_starts answers what the walk answers, for
 * every point of the walks above and of seeded capacity sets with zeros
 * (also first and last), and LBX_NONE past the sum or without
 * candidates. */
static void assert_owner_is_walk(const uint32_t *ready, size_t n)
{
    uint64_t starts[64], sum = lbx_hb_starts(ready, n, starts), p;

    for (p = 0; p <= sum + 1; p++) {
        ck_assert_int_eq(lbx_hb_owner(starts, n, sum, p),
                         lbx_hb_pick(ready, n, p));
    }
}

START_TEST(test_owner_table)
{
    uint32_t ready[4];
    size_t i;

    for (i = 0; i < walks[_i].n; i++) {
        ready[i] = (uint32_t)walks[_i].caps[i];
    }
    assert_owner_is_walk(ready, walks[_i].n);
}
END_TEST

START_TEST(test_owner_seeded)
{
    uint32_t seed = 777, ready[64];
    uint64_t starts[1];
    int set;

    for (set = 0; set < 300; set++) {
        size_t n, i;

        seed = seed * 1103515245u + 12345u;
        n = 1 + (seed >> 16) % 64;
        for (i = 0; i < n; i++) {
            seed = seed * 1103515245u + 12345u;
            /* a third of the candidates report nothing ready */
            ready[i] = (seed >> 16) % 3 == 0 ? 0 : (seed >> 20) % 9;
        }
        assert_owner_is_walk(ready, n);
    }
    ck_assert_int_eq(lbx_hb_owner(starts, 0, 0, 0), LBX_NONE);
}
END_TEST

TCase *lbx_tcase_heartbeat(void)
{
    TCase *tc = tcase_create("heartbeat");

    tcase_add_loop_test(tc, test_parse_table, 0,
                        sizeof(files) / sizeof(files[0]));
    tcase_add_test(tc, test_parse_capacity_and_nul);
    tcase_add_test(tc, test_parse_overlong_line);
    tcase_add_test(tc, test_pick_boundaries);
    tcase_add_test(tc, test_pick_zero_ready_owns_a_boundary);
    tcase_add_test(tc, test_pick_long_run_shares);
    tcase_add_loop_test(tc, test_method_draws, 0,
                        sizeof(draws) / sizeof(draws[0]));
    tcase_add_test(tc, test_method_nothing_to_pick);
    tcase_add_test(tc, test_method_table_entry);
    tcase_add_loop_test(tc, test_owner_table, 0,
                        sizeof(walks) / sizeof(walks[0]));
    tcase_add_test(tc, test_owner_seeded);
    tcase_add_loop_test(tc, test_method_every_boundary, 0,
                        sizeof(walks) / sizeof(walks[0]));
    tcase_add_test(tc, test_method_long_run_shares);
    return tc;
}
