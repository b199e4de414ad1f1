/* libFuzzer target for hcheck_frame.c (also linked into
 * t/fuzz/replay_hcheck_frame).
 *
 * Input layout, so that seed files stay readable:
 *   byte 0      flags: bit 0 = body_expected (a GET, not a HEAD/OPTIONS)
 *   byte 1      head_max (0..255)
 *   byte 2      body_max (0..255)
 *   byte 3      largest read k: the answer arrives in reads of 1..k bytes,
 *               sizes drawn from a small generator seeded with k; 0 = one
 *               read
 *   the rest    the backend's answer
 *
 * The answer lies in a heap buffer of exactly its size, and the bytes that
 * have not "arrived" yet are poisoned, so ASan reports any read past the
 * len of a call, not only past the input.  Besides memory safety the target
 * checks what hcheck_frame.h promises: the same verdict and results however
 * the answer is split, results inside the buffer and the limits, a full
 * buffer never MORE, and that lbx_hc_dechunk decodes every accepted body.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sanitizer/asan_interface.h>

#include "hcheck_frame.h"
#include "fuzz_check.h"

static void check_results(const struct lbx_hc_frame *f,
                          enum lbx_hc_frame_result r, const char *buf,
                          size_t len, int body_expected, size_t head_max,
                          size_t body_max)
{
    size_t pos = 0, nlen, vlen;
    const char *name, *value;

    if (r != LBX_HC_FRAME_DONE) {
        return;
    }
    FUZZ_CHECK(f->head_len > 0 && f->head_len <= head_max);
    FUZZ_CHECK(f->head_len <= len && f->body_len <= len - f->head_len);
    FUZZ_CHECK(f->body_len <= body_max);
    FUZZ_CHECK(f->status >= 100 && f->status <= 599);
    FUZZ_CHECK(body_expected || f->body_len == 0);
    FUZZ_CHECK(!f->chunked || f->content_length == -1);
    if (f->content_length >= 0) {
        FUZZ_CHECK(f->body_len
                   == ((uint64_t)f->content_length < body_max
                           ? (size_t)f->content_length
                           : body_max));
    }

    /* Every header the glue will iterate lies inside the head. */
    while (lbx_hc_next_header(buf, f->head_len, &pos, &name, &nlen, &value,
                              &vlen)) {
        FUZZ_CHECK(name > buf && nlen > 0 && name + nlen < buf + f->head_len);
        FUZZ_CHECK(value >= name + nlen + 1);
        FUZZ_CHECK(value + vlen <= buf + f->head_len);
    }

    if (f->chunked && f->body_len > 0) {
        /* The glue decodes in place; decode a copy of exactly the body. */
        char *copy = malloc(f->body_len);
        int complete = -1;
        size_t n;

        FUZZ_CHECK(copy != NULL);
        memcpy(copy, buf + f->head_len, f->body_len);
        n = lbx_hc_dechunk(copy, f->body_len, &complete);
        FUZZ_CHECK(n <= f->body_len);
        FUZZ_CHECK(complete == 0 || complete == 1);
        /* A body that ended before body_max was read to its last chunk,
         * and the decoder must agree. */
        if (f->body_len < body_max) {
            FUZZ_CHECK(complete == 1);
            FUZZ_CHECK(buf[f->head_len + f->body_len - 1] == '\n');
        }
        free(copy);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct lbx_hc_frame once, step;
    enum lbx_hc_frame_result r1, r2 = LBX_HC_FRAME_MORE;
    int body_expected;
    size_t head_max, body_max, kmax, len, have = 0;
    unsigned seed;
    char *buf;

    if (size < 4) {
        return 0;
    }
    body_expected = data[0] & 1;
    head_max = data[1];
    body_max = data[2];
    kmax = data[3];
    seed = data[3];
    len = size - 4;
    buf = malloc(len ? len : 1);
    if (buf == NULL) {
        return 0;
    }
    if (len) {
        memcpy(buf, data + 4, len);
    }

    /* All of it in one read, then the peer closes. */
    lbx_hc_frame_init(&once, body_expected, head_max, body_max);
    r1 = lbx_hc_frame_feed(&once, buf, len, 1);
    FUZZ_CHECK(r1 == LBX_HC_FRAME_DONE || r1 == LBX_HC_FRAME_FAIL);
    check_results(&once, r1, buf, len, body_expected, head_max, body_max);

    /* The same answer in pieces; bytes not yet received are poisoned. */
    ASAN_POISON_MEMORY_REGION(buf, len);
    lbx_hc_frame_init(&step, body_expected, head_max, body_max);
    while (have < len && r2 == LBX_HC_FRAME_MORE) {
        size_t n = len - have;

        if (kmax > 0) {
            seed = seed * 1103515245u + 12345u;
            if (n > 1 + (seed >> 16) % kmax) {
                n = 1 + (seed >> 16) % kmax;
            }
        }
        ASAN_UNPOISON_MEMORY_REGION(buf + have, n);
        have += n;
        r2 = lbx_hc_frame_feed(&step, buf, have, 0);
        /* With as much as the caller may hold, the answer is known. */
        if (have >= head_max + body_max) {
            FUZZ_CHECK(r2 != LBX_HC_FRAME_MORE);
        }
    }
    ASAN_UNPOISON_MEMORY_REGION(buf, len);
    if (r2 == LBX_HC_FRAME_MORE) {
        r2 = lbx_hc_frame_feed(&step, buf, len, 1);
    }
    FUZZ_CHECK(r2 == r1);
    if (r1 == LBX_HC_FRAME_DONE) {
        FUZZ_CHECK(step.status == once.status);
        FUZZ_CHECK(step.head_len == once.head_len);
        FUZZ_CHECK(step.body_len == once.body_len);
        FUZZ_CHECK(step.chunked == once.chunked);
        FUZZ_CHECK(step.content_length == once.content_length);
    }
    /* Final: asking again changes nothing. */
    FUZZ_CHECK(lbx_hc_frame_feed(&step, buf, len, 1) == r2);

    /* The decoder alone, on whatever follows the first 4 bytes. */
    if (len) {
        int complete = -1;
        FUZZ_CHECK(lbx_hc_dechunk(buf, len, &complete) <= len);
        FUZZ_CHECK(complete == 0 || complete == 1);
    }
    free(buf);
    return 0;
}
