/* libFuzzer target for the HeartbeatStorage parser (lbmethods/heartbeat.c),
 * also linked into t/fuzz/replay_heartbeat.
 *
 * The whole input is a file's contents.  It is copied into a heap buffer of
 * exactly its size so ASan reports any read past it.  Besides memory safety
 * the target checks the parser's promises: never more entries than room,
 * every IP NUL-terminated and unique, every number inside the range the
 * strict parser accepts (ready after the start-up throttle included).
 * The parsed capacities then go through lbx_method_heartbeat with fixed
 * draws: all-zero and all-ones words must land on the first and the last
 * point of lbx_hb_pick's walk, and any other draw on some candidate. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lbx_method.h"
#include "fuzz_check.h"

/* Every call returns the same word. */
static uint32_t constant(void *ctx)
{
    return *(const uint32_t *)ctx;
}

static long method_pick(const uint32_t *ready, size_t n, uint32_t word)
{
    struct lbx_peer peers[8];
    struct lbx_pick_in in;
    size_t i;

    memset(peers, 0, sizeof(peers));
    for (i = 0; i < n; i++) {
        peers[i].weight = ready[i];
    }
    memset(&in, 0, sizeof(in));
    in.peers = peers;
    in.n = n;
    in.rand = constant;
    in.rand_ctx = &word;
    return lbx_method_heartbeat.pick(&in);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct lbx_hb_server out[8];
    char *buf = malloc(size ? size : 1);
    size_t n, i, j;

    if (!buf) {
        return 0;
    }
    memcpy(buf, data, size);
    n = lbx_hb_parse(buf, size, out, 8);
    FUZZ_CHECK(n <= 8);
    for (i = 0; i < n; i++) {
        FUZZ_CHECK(memchr(out[i].ip, '\0', sizeof(out[i].ip)) != NULL);
        FUZZ_CHECK(out[i].busy >= 0 && out[i].ready >= 0);
        FUZZ_CHECK(out[i].seen >= -1);
        FUZZ_CHECK(out[i].port >= 1 && out[i].port <= 65535);
        for (j = 0; j < i; j++) {
            FUZZ_CHECK(strcmp(out[i].ip, out[j].ip) != 0);
        }
    }
    if (n) {
        uint32_t ready[8];
        uint64_t sum = 0;
        for (i = 0; i < n; i++) {
            ready[i] = (uint32_t)out[i].ready;
            sum += ready[i];
        }
        /* Every pick in [0, sum] has an owner. */
        FUZZ_CHECK(lbx_hb_pick(ready, n, sum) != LBX_NONE);
        FUZZ_CHECK(lbx_hb_pick(ready, n, 0) != LBX_NONE);
        FUZZ_CHECK(method_pick(ready, n, 0)
                   == (sum ? lbx_hb_pick(ready, n, 0) : LBX_NONE));
        FUZZ_CHECK(method_pick(ready, n, 0xffffffffu)
                   == (sum ? lbx_hb_pick(ready, n, sum) : LBX_NONE));
        {
            long got = method_pick(ready, n, (uint32_t)(size * 2654435761u));
            FUZZ_CHECK(sum ? got >= 0 && (size_t)got < n : got == LBX_NONE);
        }
    }
    free(buf);
    return 0;
}
