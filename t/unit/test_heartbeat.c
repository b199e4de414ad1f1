/* Unit tests for lbmethods/heartbeat.c: the HeartbeatStorage parser and
 * the proportional pick. */
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
    const char *ip;               /* first entry */
    int32_t busy, ready, seen, port;
} files[] = {
    { "typical line", "10.0.0.5 &ready=40&busy=10&lastseen=2&port=8080\n",
      1, "10.0.0.5", 10, 40, 2, 8080 },
    { "defaults: port 80, seen -1, busy 0 throttles ready",
      "10.0.0.5 ready=40\n", 1, "10.0.0.5", 0, 10, -1, 80 },
    { "comments and lines without a space are skipped",
      "# comment 1.2.3.4 ready=9\nnospace\n10.0.0.6 busy=1&ready=8\n",
      1, "10.0.0.6", 1, 8, -1, 80 },
    { "keys are case-insensitive and %-decoded",
      "::1 BUSY=2&%72eady=%33%30\n", 1, "::1", 2, 30, -1, 80 },
    { "last key wins, bare key means 1",
      "h busy=5&busy=3&ready=7&lastseen\n", 1, "h", 3, 7, 1, 80 },
    { "non-decimal values are ignored",
      "h busy=1&ready=12abc&lastseen=-3&port=0x50\n", 1, "h", 1, 0, -1, 80 },
    { "out of range values are ignored",
      "h busy=1&ready=2147483648&lastseen=99999999999&port=65536\n", 1, "h",
      1, 0, -1, 80 },
    { "largest values are kept",
      "h busy=2147483647&ready=2147483647&port=65535\n", 1, "h", 2147483647,
      2147483647, -1, 65535 },
    { "a trailing CR makes the last value invalid (stock parses strictly)",
      "h busy=3&ready=8\r\n", 1, "h", 3, 0, -1, 80 },
    { "last line without newline is read whole",
      "h busy=3&ready=8", 1, "h", 3, 8, -1, 80 },
    { "repeated IP merges and throttles again",
      "h ready=64\nh lastseen=1\n", 1, "h", 0, 4, 1, 80 },
    { "empty file", "", 0, NULL, 0, 0, 0, 0 },
    { "only garbage", "\x01\x02\xff\n\n\n###\n", 0, NULL, 0, 0, 0, 0 },
    { "IP too long for any member is skipped",
      "0123456789012345678901234567890123456789012345678901234567890123456789"
      " ready=1\n", 0, NULL, 0, 0, 0, 0 },
    { "empty query", "h \n", 1, "h", 0, 0, -1, 80 },
    { "stray ampersands and equals signs", "h &&=&busy==4&ready=4=&&\n",
      1, "h", 0, 0, -1, 80 },
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
    /* A candidate reporting ready=0 still owns its single boundary value
     * (stock quirk): with 4, 0, 4 the pick 4 goes to the middle one. */
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
    return tc;
}
