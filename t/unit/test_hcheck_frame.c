/* Unit tests for hcheck_frame.c: the head and header parsers, the chunked
 * decoder and the framer that decides when a check's answer is complete.
 *
 * Every buffer handed to the code under test is a heap copy of exactly its
 * length, so under ASan any read past what "arrived" fails the test. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "lbx_tests.h"
#include "hcheck_frame.h"

/* A literal and its length, embedded NULs included. */
#define IN(s) s, sizeof(s) - 1

#define MORE LBX_HC_FRAME_MORE
#define DONE LBX_HC_FRAME_DONE
#define FAIL LBX_HC_FRAME_FAIL

#define H200 "HTTP/1.1 200 OK\r\n"
#define CHUNKED_HEAD H200 "Transfer-Encoding: chunked\r\n\r\n"

static char *dup_exact(const char *s, size_t len)
{
    char *p = malloc(len ? len : 1);

    ck_assert_ptr_nonnull(p);
    if (len) {
        memcpy(p, s, len);
    }
    return p;
}

/* Feed text[0..len) in an exact-size copy. */
static enum lbx_hc_frame_result feed(struct lbx_hc_frame *f, const char *text,
                                     size_t len, int eof)
{
    char *copy = dup_exact(text, len);
    enum lbx_hc_frame_result r = lbx_hc_frame_feed(f, copy, len, eof);

    free(copy);
    return r;
}

/* Decode raw[0..len) in an exact-size copy; check the decoded bytes and
 * whether the last chunk was seen. */
static void check_decoded(const char *what, const char *raw, size_t len,
                          const char *want, int want_complete)
{
    char *copy = dup_exact(raw, len);
    int complete = -1;
    size_t n = lbx_hc_dechunk(copy, len, &complete);

    ck_assert_msg(n == strlen(want) && memcmp(copy, want, n) == 0,
                  "%s: decoded %zu bytes \"%.*s\", want \"%s\"", what, n,
                  (int)n, copy, want);
    ck_assert_msg(complete == want_complete, "%s: complete %d, want %d", what,
                  complete, want_complete);
    free(copy);
}

/* ---- lbx_hc_parse_head, lbx_hc_next_header, lbx_hc_dechunk ------------ */

static const struct {
    const char *what, *head;
    long expect;
    int status;
} heads[] = {
    { "complete", "HTTP/1.1 200 OK\r\nA: b\r\n\r\nbody", 25, 200 },
    { "bare LF", "HTTP/1.0 503 x\n\nrest", 16, 503 },
    { "no headers", "HTTP/1.1 204 No Content\r\n\r\n", 27, 204 },
    { "incomplete", "HTTP/1.1 200 OK\r\nA: b\r\n", 0, 200 },
    { "too short yet", "HTTP/1", 0, 0 },
    { "not HTTP", "SSH-2.0-OpenSSH\r\n\r\n", -1, 0 },
    { "bad status", "HTTP/1.1 2x0 OK\r\n\r\n", -1, 0 },
    { "status 600", "HTTP/1.1 600 OK\r\n\r\n", -1, 0 },
    { "HTTP/2 preface-like", "HTTP/2 200\r\n\r\n", -1, 0 },
};

START_TEST(test_parse_head)
{
    int status = 0;
    long n = lbx_hc_parse_head(heads[_i].head, strlen(heads[_i].head), &status);

    ck_assert_msg(n == heads[_i].expect, "%s: %ld", heads[_i].what, n);
    if (n >= 0 && heads[_i].status) {
        ck_assert_int_eq(status, heads[_i].status);
    }
}
END_TEST

START_TEST(test_headers)
{
    const char *head = "HTTP/1.1 200 OK\r\nContent-Type:  text/plain \r\n"
                       "bogus line\r\nX-Empty:\r\n\r\n";
    size_t pos = 0, nl, vl;
    const char *n, *v;

    ck_assert(lbx_hc_next_header(head, strlen(head), &pos, &n, &nl, &v, &vl));
    ck_assert(nl == 12 && strncmp(n, "Content-Type", nl) == 0);
    ck_assert(vl == 10 && strncmp(v, "text/plain", vl) == 0);
    ck_assert(lbx_hc_next_header(head, strlen(head), &pos, &n, &nl, &v, &vl));
    ck_assert(nl == 7 && strncmp(n, "X-Empty", nl) == 0);
    ck_assert_uint_eq(vl, 0);
    ck_assert(!lbx_hc_next_header(head, strlen(head), &pos, &n, &nl, &v, &vl));
}
END_TEST

START_TEST(test_dechunk)
{
    char a[] = "5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\n\r\n";
    char b[] = "5\r\nhel";
    char c[] = "zz\r\n";
    char d[] = "ffffffffffffffffffff\r\nx";
    int complete;
    size_t n;

    n = lbx_hc_dechunk(a, strlen(a), &complete);
    ck_assert_uint_eq(n, 11);
    ck_assert(complete);
    ck_assert(memcmp(a, "hello world", 11) == 0);
    n = lbx_hc_dechunk(b, strlen(b), &complete);
    ck_assert_uint_eq(n, 3);
    ck_assert(!complete);
    ck_assert(memcmp(b, "hel", 3) == 0);
    ck_assert_uint_eq(lbx_hc_dechunk(c, strlen(c), &complete), 0);
    ck_assert(!complete);
    ck_assert_uint_eq(lbx_hc_dechunk(d, strlen(d), &complete), 0);
}
END_TEST

/* ---- The framer: complete answers ------------------------------------ */

/* A whole answer is head + body, then (unless the body ends at close)
 * bytes the backend should not have sent, which the framer must leave
 * out. */
#define JUNK "HTTP/1.1 500 pipelined junk\r\n\r\n"

#define HEAD_MAX 256
#define BODY_MAX 256

static const struct {
    const char *what;
    int body_expected;
    const char *head; /* through the empty line */
    const char *body; /* the raw body the framer must find */
    int close; /* the body ends only when the peer closes */
    int status;
    int chunked;
    int64_t content_length;
    const char *decoded; /* chunked: what lbx_hc_dechunk gives */
} answers[] = {
    { "length", 1, H200 "Content-Length: 5\r\n\r\n", "hello", 0, 200, 0, 5,
      NULL },
    { "length 0", 1, H200 "Content-Length: 0\r\n\r\n", "", 0, 200, 0, 0, NULL },
    { "length with blanks and odd case", 1,
      H200 "content-LENGTH: \t 7 \r\n\r\n", "abcdefg", 0, 200, 0, 7, NULL },
    { "length repeated with the same value", 1,
      H200 "Content-Length: 3\r\nContent-Length: 003\r\n\r\n", "abc", 0, 200, 0,
      3, NULL },
    { "length, bare LF head", 1, "HTTP/1.0 503 Busy\nContent-Length: 2\n\n",
      "no", 0, 503, 0, 2, NULL },
    { "length despite Transfer-Encoding gzip", 1,
      H200 "Transfer-Encoding: gzip\r\nContent-Length: 3\r\n\r\n", "xyz", 0,
      200, 0, 3, NULL },
    { "chunked", 1, CHUNKED_HEAD,
      "5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\n\r\n", 0, 200, 1, -1,
      "hello world" },
    { "chunked with trailers", 1, CHUNKED_HEAD,
      "2\r\nok\r\n0\r\nX-Sum: 1\r\nX-More: 2\r\n\r\n", 0, 200, 1, -1, "ok" },
    { "chunked, bare LFs", 1, CHUNKED_HEAD, "5\nhello\n0\nT: 1\n\n", 0, 200, 1,
      -1, "hello" },
    { "chunked, upper-case hex and leading zeros", 1, CHUNKED_HEAD,
      "000A\r\n0123456789\r\n0000\r\n\r\n", 0, 200, 1, -1, "0123456789" },
    { "chunked, 16 digits", 1, CHUNKED_HEAD,
      "000000000000000a\r\n0123456789\r\n0\r\n\r\n", 0, 200, 1, -1,
      "0123456789" },
    { "chunked, blanks and extensions on size lines", 1, CHUNKED_HEAD,
      "3 \t;a=\"b;c\"\r\nabc\r\n1\t\r\nd\r\n0 ;last\r\n\r\n", 0, 200, 1, -1,
      "abcd" },
    { "chunked, no data at all", 1, CHUNKED_HEAD, "0\r\n\r\n", 0, 200, 1, -1,
      "" },
    { "Transfer-Encoding: gzip, chunked", 1,
      H200 "Transfer-Encoding: gzip, Chunked\r\n\r\n", "3\r\nabc\r\n0\r\n\r\n",
      0, 200, 1, -1, "abc" },
    { "Transfer-Encoding with empty elements", 1,
      H200 "Transfer-Encoding: gzip, , CHUNKED ,\r\n"
           "\r\n",
      "1\r\nx\r\n0\r\n\r\n", 0, 200, 1, -1, "x" },
    { "chunked, extensions with bare LFs", 1, CHUNKED_HEAD, "2;x\nab\n0;y\n\n",
      0, 200, 1, -1, "ab" },
    { "Transfer-Encoding: a later empty line changes nothing", 1,
      H200 "Transfer-Encoding: chunked\r\nTransfer-Encoding:\r\n\r\n",
      "1\r\nx\r\n0\r\n\r\n", 0, 200, 1, -1, "x" },
    { "chunked wins over a bad Content-Length", 1,
      H200 "Content-Length: abc\r\nTransfer-Encoding: chunked\r\n\r\n",
      "2\r\nhi\r\n0\r\n\r\n", 0, 200, 1, -1, "hi" },
    { "close", 1, "HTTP/1.0 200 OK\r\n\r\n", "all until close", 1, 200, 0, -1,
      NULL },
    { "close, empty body", 1, "HTTP/1.0 404 Not Found\r\n\r\n", "", 1, 404, 0,
      -1, NULL },
    { "close: chunked is not the last coding", 1,
      H200 "Transfer-Encoding: chunked, gzip\r\n\r\n", "0\r\n\r\n", 1, 200, 0,
      -1, NULL },
    { "only the first Transfer-Encoding line counts (as in stock)", 1,
      H200 "Transfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n\r\n",
      "0\r\n\r\n", 0, 200, 1, -1, "" },
    { "close: gzip on the first line, chunked on a later one", 1,
      H200 "Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n",
      "0\r\n\r\n", 1, 200, 0, -1, NULL },
    { "close: a coding that only contains chunked", 1,
      H200 "Transfer-Encoding: xchunked\r\n\r\n", "5\r\nhello", 1, 200, 0, -1,
      NULL },
    { "HEAD: no body read whatever the head says", 0,
      H200 "Content-Length: 100\r\n\r\n", "", 0, 200, 0, -1, NULL },
    { "HEAD: a bad length does not matter", 0,
      H200 "Content-Length: lots\r\n\r\n", "", 0, 200, 0, -1, NULL },
    { "OPTIONS-style answer with chunked", 0, CHUNKED_HEAD, "", 0, 200, 0, -1,
      NULL },
    { "204 has no body", 1, "HTTP/1.1 204 No Content\r\n\r\n", "", 0, 204, 0,
      -1, NULL },
    { "304 has no body despite its length", 1,
      "HTTP/1.1 304 Not Modified\r\nContent-Length: 50\r\n\r\n", "", 0, 304, 0,
      -1, NULL },
    { "1xx has no body", 1, "HTTP/1.1 100 Continue\r\n\r\n", "", 0, 100, 0, -1,
      NULL },
    { "1xx with chunked has no body", 1,
      "HTTP/1.1 101 Switching\r\nTransfer-Encoding: chunked\r\n\r\n", "", 0,
      101, 0, -1, NULL },
};

#define NANSWERS (sizeof(answers) / sizeof(answers[0]))

/* The whole answer as the backend sends it; *end: where the framer must
 * say it ends.  Caller frees. */
static char *whole_answer(size_t i, size_t *len, size_t *end)
{
    size_t hl = strlen(answers[i].head), bl = strlen(answers[i].body);
    const char *tail = answers[i].close ? "" : JUNK;
    char *s = malloc(hl + bl + strlen(tail) + 1);

    ck_assert_ptr_nonnull(s);
    strcpy(s, answers[i].head);
    strcat(s, answers[i].body);
    strcat(s, tail);
    *len = strlen(s);
    *end = hl + bl;
    return s;
}

static void check_answer(size_t i, const struct lbx_hc_frame *f,
                         const char *text)
{
    const char *what = answers[i].what;
    size_t hl = strlen(answers[i].head), bl = strlen(answers[i].body);

    ck_assert_msg(f->status == answers[i].status, "%s: status %d", what,
                  f->status);
    ck_assert_msg(f->head_len == hl, "%s: head_len %zu, want %zu", what,
                  f->head_len, hl);
    ck_assert_msg(f->body_len == bl, "%s: body_len %zu, want %zu", what,
                  f->body_len, bl);
    ck_assert_msg(f->chunked == answers[i].chunked, "%s: chunked %d", what,
                  f->chunked);
    ck_assert_msg(f->content_length == answers[i].content_length,
                  "%s: content_length %lld", what,
                  (long long)f->content_length);
    if (answers[i].decoded) {
        check_decoded(what, text + f->head_len, f->body_len, answers[i].decoded,
                      1);
    }
}

/* Byte by byte: MORE for every prefix shorter than the answer, DONE from
 * the answer's last byte on (the close-delimited ones only at close), and
 * the bytes after it change nothing. */
START_TEST(test_answer_byte_by_byte)
{
    struct lbx_hc_frame f;
    size_t len, end, k;
    char *text = whole_answer(_i, &len, &end);
    enum lbx_hc_frame_result r;

    lbx_hc_frame_init(&f, answers[_i].body_expected, HEAD_MAX, BODY_MAX);
    for (k = 0; k <= len; k++) {
        r = feed(&f, text, k, 0);
        if (k < end || answers[_i].close) {
            ck_assert_msg(r == MORE, "%s: %d after %zu of %zu bytes",
                          answers[_i].what, (int)r, k, end);
        }
        else {
            ck_assert_msg(r == DONE, "%s: %d after %zu of %zu bytes",
                          answers[_i].what, (int)r, k, end);
            check_answer(_i, &f, text);
        }
    }
    if (answers[_i].close) {
        ck_assert_int_eq(feed(&f, text, len, 1), DONE);
        check_answer(_i, &f, text);
    }
    free(text);
}
END_TEST

/* Two reads, split at every byte: the first MORE, the second DONE with the
 * same results as byte by byte. */
START_TEST(test_answer_two_reads)
{
    struct lbx_hc_frame f;
    size_t len, end, k;
    char *text = whole_answer(_i, &len, &end);

    for (k = 0; k < end; k++) {
        lbx_hc_frame_init(&f, answers[_i].body_expected, HEAD_MAX, BODY_MAX);
        ck_assert_msg(feed(&f, text, k, 0) == MORE, "%s: split at %zu",
                      answers[_i].what, k);
        ck_assert_msg(feed(&f, text, len, answers[_i].close) == DONE,
                      "%s: split at %zu", answers[_i].what, k);
        check_answer(_i, &f, text);
    }
    free(text);
}
END_TEST

/* ---- The framer: refusals, early closes and limits -------------------- */

static const struct {
    const char *what;
    const char *text;
    size_t len;
    int body_expected, eof;
    size_t head_max, body_max;
    enum lbx_hc_frame_result expect;
    size_t body_len; /* DONE only */
    const char *decoded; /* chunked DONE only; NULL: not chunked */
    int complete;
} cases[] = {
    /* The head. */
    { "not HTTP", IN("SSH-2.0-OpenSSH_9.2\r\n"), 1, 0, 64, 64, FAIL, 0, NULL,
      0 },
    { "NUL in the head", IN(H200 "A: \0\r\n\r\n"), 1, 0, 64, 64, FAIL, 0, NULL,
      0 },
    { "nothing, then close", IN(""), 1, 1, 64, 64, FAIL, 0, NULL, 0 },
    { "head cut by close", IN(H200 "Content-Le"), 1, 1, 64, 64, FAIL, 0, NULL,
      0 },
    { "head not complete yet", IN(H200 "Content-Le"), 1, 0, 64, 64, MORE, 0,
      NULL, 0 },
    { "head reaches head_max unfinished", IN(H200 "A: bbbbbbbbbb"), 1, 0, 30,
      64, FAIL, 0, NULL, 0 },
    { "head of exactly head_max", IN(H200 "\r\n"), 0, 0, 19, 64, DONE, 0, NULL,
      0 },
    { "head one byte over head_max", IN(H200 "\r\n"), 0, 0, 18, 64, FAIL, 0,
      NULL, 0 },
    { "head over head_max in a single read",
      IN(H200 "Content-Length: 0\r\n\r\n"), 1, 0, 30, 64, FAIL, 0, NULL, 0 },
    { "head_max 0", IN(H200 "\r\n"), 0, 0, 0, 64, FAIL, 0, NULL, 0 },

    /* Content-Length. */
    { "length cut by close", IN(H200 "Content-Length: 10\r\n\r\nhello"), 1, 1,
      64, 64, FAIL, 0, NULL, 0 },
    { "length not complete yet", IN(H200 "Content-Length: 10\r\n\r\nhello"), 1,
      0, 64, 64, MORE, 0, NULL, 0 },
    { "length letters", IN(H200 "Content-Length: abc\r\n\r\nhello"), 1, 1, 64,
      64, FAIL, 0, NULL, 0 },
    { "length negative", IN(H200 "Content-Length: -1\r\n\r\nhello"), 1, 1, 64,
      64, FAIL, 0, NULL, 0 },
    { "length with a sign", IN(H200 "Content-Length: +5\r\n\r\nhello"), 1, 1,
      64, 64, FAIL, 0, NULL, 0 },
    { "length with a blank inside", IN(H200 "Content-Length: 5 5\r\n\r\nhello"),
      1, 1, 64, 64, FAIL, 0, NULL, 0 },
    { "length as a list", IN(H200 "Content-Length: 5,5\r\n\r\nhello"), 1, 1, 64,
      64, FAIL, 0, NULL, 0 },
    { "length empty", IN(H200 "Content-Length:\r\n\r\nhello"), 1, 1, 64, 64,
      FAIL, 0, NULL, 0 },
    { "length in hex", IN(H200 "Content-Length: 0x5\r\n\r\nhello"), 1, 1, 64,
      64, FAIL, 0, NULL, 0 },
    { "length with a tail", IN(H200 "Content-Length: 5abc\r\n\r\nhello"), 1, 1,
      64, 64, FAIL, 0, NULL, 0 },
    { "length over INT64_MAX",
      IN(H200 "Content-Length: 9223372036854775808\r\n\r\nhi"), 1, 1, 64, 64,
      FAIL, 0, NULL, 0 },
    { "length over UINT64_MAX",
      IN(H200 "Content-Length: 18446744073709551621\r\n\r\nhi"), 1, 1, 64, 64,
      FAIL, 0, NULL, 0 },
    { "length INT64_MAX waits",
      IN(H200 "Content-Length: 9223372036854775807\r\n\r\nhi"), 1, 0, 64, 64,
      MORE, 0, NULL, 0 },
    { "two different lengths",
      IN(H200 "Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!"), 1, 1, 64,
      64, FAIL, 0, NULL, 0 },
    { "a bad length after a good one",
      IN(H200 "Content-Length: 5\r\nContent-Length: x\r\n\r\nhello"), 1, 1, 64,
      64, FAIL, 0, NULL, 0 },

    /* Chunk-size lines. */
    { "size not hex", IN(CHUNKED_HEAD "zz\r\nhello\r\n0\r\n\r\n"), 1, 0, 64, 64,
      FAIL, 0, NULL, 0 },
    { "size empty", IN(CHUNKED_HEAD "\r\nhello\r\n0\r\n\r\n"), 1, 0, 64, 64,
      FAIL, 0, NULL, 0 },
    { "size after a blank", IN(CHUNKED_HEAD " 5\r\nhello\r\n0\r\n\r\n"), 1, 0,
      64, 64, FAIL, 0, NULL, 0 },
    { "size with a tail", IN(CHUNKED_HEAD "5x\r\nhello\r\n0\r\n\r\n"), 1, 0, 64,
      64, FAIL, 0, NULL, 0 },
    { "size negative", IN(CHUNKED_HEAD "-5\r\nhello\r\n0\r\n\r\n"), 1, 0, 64,
      64, FAIL, 0, NULL, 0 },
    { "size with 0x", IN(CHUNKED_HEAD "0x5\r\nhello\r\n0\r\n\r\n"), 1, 0, 64,
      64, FAIL, 0, NULL, 0 },
    { "size, blank, junk", IN(CHUNKED_HEAD "5 x\r\nhello\r\n0\r\n\r\n"), 1, 0,
      64, 64, FAIL, 0, NULL, 0 },
    { "size line CR without LF", IN(CHUNKED_HEAD "5\rhello\r\n0\r\n\r\n"), 1, 0,
      64, 64, FAIL, 0, NULL, 0 },
    { "size of 17 digits, even zeros",
      IN(CHUNKED_HEAD "00000000000000005\r\nhello\r\n0\r\n\r\n"), 1, 0, 64, 64,
      FAIL, 0, NULL, 0 },
    { "size of 17 digits", IN(CHUNKED_HEAD "10000000000000000\r\nx"), 1, 0, 64,
      64, FAIL, 0, NULL, 0 },
    { "size of 20 digits", IN(CHUNKED_HEAD "ffffffffffffffffffff\r\nx"), 1, 0,
      64, 64, FAIL, 0, NULL, 0 },
    { "size of 16 digits waits", IN(CHUNKED_HEAD "ffffffffffffffff\r\nabc"), 1,
      0, 64, 64, MORE, 0, NULL, 0 },
    { "size of 16 digits cut at body_max",
      IN(CHUNKED_HEAD "ffffffffffffffff\r\nabcdef"), 1, 0, 64, 22, DONE, 22,
      "abcd", 0 },

    /* After chunk data and in the trailer section. */
    { "no CRLF after data", IN(CHUNKED_HEAD "5\r\nhelloX\r\n0\r\n\r\n"), 1, 0,
      64, 64, FAIL, 0, NULL, 0 },
    { "next size right after data", IN(CHUNKED_HEAD "5\r\nhello0\r\n\r\n"), 1,
      0, 64, 64, FAIL, 0, NULL, 0 },
    { "CR without LF after data", IN(CHUNKED_HEAD "5\r\nhello\rX"), 1, 0, 64,
      64, FAIL, 0, NULL, 0 },
    { "CR without LF ending the trailers", IN(CHUNKED_HEAD "0\r\n\rX"), 1, 0,
      64, 64, FAIL, 0, NULL, 0 },

    /* Chunked bodies cut by close. */
    { "close in a size line", IN(CHUNKED_HEAD "5"), 1, 1, 64, 64, FAIL, 0, NULL,
      0 },
    { "close in data", IN(CHUNKED_HEAD "5\r\nhel"), 1, 1, 64, 64, FAIL, 0, NULL,
      0 },
    { "close before the last chunk", IN(CHUNKED_HEAD "5\r\nhello\r\n"), 1, 1,
      64, 64, FAIL, 0, NULL, 0 },
    { "close before the empty line", IN(CHUNKED_HEAD "0\r\n"), 1, 1, 64, 64,
      FAIL, 0, NULL, 0 },
    { "close in a trailer", IN(CHUNKED_HEAD "0\r\nX-T: 1\r\n"), 1, 1, 64, 64,
      FAIL, 0, NULL, 0 },
    { "chunked, done before close", IN(CHUNKED_HEAD "0\r\n\r\n"), 1, 1, 64, 64,
      DONE, 5, "", 1 },

    /* body_max. */
    { "length over body_max", IN(H200 "Content-Length: 100\r\n\r\n0123456789"),
      1, 0, 64, 10, DONE, 10, NULL, 0 },
    { "length of exactly body_max",
      IN(H200 "Content-Length: 10\r\n\r\n0123456789"), 1, 0, 64, 10, DONE, 10,
      NULL, 0 },
    { "length one byte short of body_max",
      IN(H200 "Content-Length: 100\r\n\r\n012345678"), 1, 0, 64, 10, MORE, 0,
      NULL, 0 },
    { "close at body_max without close", IN(H200 "\r\n0123456789"), 1, 0, 64, 4,
      DONE, 4, NULL, 0 },
    { "close under body_max waits", IN(H200 "\r\n0123"), 1, 0, 64, 5, MORE, 0,
      NULL, 0 },
    { "close under body_max, then close", IN(H200 "\r\n0123"), 1, 1, 64, 5,
      DONE, 4, NULL, 0 },
    { "body_max 0", IN(H200 "Content-Length: 9\r\n\r\n"), 1, 0, 64, 0, DONE, 0,
      NULL, 0 },
    { "chunked cut at body_max", IN(CHUNKED_HEAD "5\r\nhello\r\n0\r\n\r\n"), 1,
      0, 64, 6, DONE, 6, "hel", 0 },
    { "chunked ending at body_max", IN(CHUNKED_HEAD "5\r\nhello\r\n0\r\n\r\n"),
      1, 0, 64, 15, DONE, 15, "hello", 1 },
    { "chunked, error past body_max unseen", IN(CHUNKED_HEAD "5\r\nhelloX\r\n"),
      1, 0, 64, 8, DONE, 8, "hello", 0 },
    { "chunked, error at body_max's last byte",
      IN(CHUNKED_HEAD "5\r\nhelloX\r\n"), 1, 0, 64, 9, FAIL, 0, NULL, 0 },
    { "chunked, trailers cut at body_max",
      IN(CHUNKED_HEAD "0\r\nX-A: 1\r\n\r\n"), 1, 1, 64, 7, DONE, 7, "", 1 },
};

#define NCASES (sizeof(cases) / sizeof(cases[0]))

static void check_case(size_t i, struct lbx_hc_frame *f,
                       enum lbx_hc_frame_result r, const char *how)
{
    const char *what = cases[i].what;

    ck_assert_msg(r == cases[i].expect, "%s (%s): %d, want %d", what, how,
                  (int)r, (int)cases[i].expect);
    if (r != DONE) {
        return;
    }
    ck_assert_msg(f->body_len == cases[i].body_len,
                  "%s (%s): body_len %zu, want %zu", what, how, f->body_len,
                  cases[i].body_len);
    ck_assert_msg(f->chunked == (cases[i].decoded != NULL),
                  "%s (%s): chunked %d", what, how, f->chunked);
    if (cases[i].decoded) {
        check_decoded(what, cases[i].text + f->head_len, f->body_len,
                      cases[i].decoded, cases[i].complete);
    }
}

/* All at once, then byte by byte (MORE until the last call, which alone
 * carries eof): the same verdict either way. */
START_TEST(test_cases)
{
    struct lbx_hc_frame f;
    size_t k, len = cases[_i].len;
    enum lbx_hc_frame_result r;

    lbx_hc_frame_init(&f, cases[_i].body_expected, cases[_i].head_max,
                      cases[_i].body_max);
    check_case(_i, &f, feed(&f, cases[_i].text, len, cases[_i].eof),
               "one read");

    lbx_hc_frame_init(&f, cases[_i].body_expected, cases[_i].head_max,
                      cases[_i].body_max);
    r = MORE;
    for (k = 0; k < len && r == MORE; k++) {
        r = feed(&f, cases[_i].text, k, 0);
    }
    if (r == MORE) {
        r = feed(&f, cases[_i].text, len, cases[_i].eof);
    }
    check_case(_i, &f, r, "byte by byte");
}
END_TEST

/* ---- The framer: the calling contract ---------------------------------- */

/* Once the head is complete and a body byte consumed, neither is read
 * again: spoiling them in the buffer changes nothing.  (A framer that
 * rescans everything on each call would now see garbage.) */
START_TEST(test_no_rescan)
{
    const char chunked[] = CHUNKED_HEAD "5\r\nhello\r\n0\r\n\r\n";
    const char length[] = H200 "Content-Length: 5\r\n\r\nhello";
    size_t hl = strlen(CHUNKED_HEAD);
    struct lbx_hc_frame f;
    char buf[sizeof(chunked)];

    memcpy(buf, chunked, sizeof(chunked));
    lbx_hc_frame_init(&f, 1, 64, 64);
    ck_assert_int_eq(lbx_hc_frame_feed(&f, buf, hl + 5, 0), MORE);
    memset(buf, 'z', hl + 5);
    ck_assert_int_eq(lbx_hc_frame_feed(&f, buf, sizeof(chunked) - 1, 0), DONE);
    ck_assert_uint_eq(f.head_len, hl);
    ck_assert_uint_eq(f.body_len, sizeof(chunked) - 1 - hl);

    memcpy(buf, length, sizeof(length));
    lbx_hc_frame_init(&f, 1, 64, 64);
    ck_assert_int_eq(lbx_hc_frame_feed(&f, buf, sizeof(length) - 3, 0), MORE);
    memcpy(strstr(buf, "5\r\n"), "9", 1);
    ck_assert_int_eq(lbx_hc_frame_feed(&f, buf, sizeof(length) - 1, 0), DONE);
    ck_assert_int_eq(f.content_length, 5);
    ck_assert_uint_eq(f.body_len, 5);
}
END_TEST

/* DONE and FAIL are final: later calls return them without looking at
 * buf, and the results stay. */
START_TEST(test_final)
{
    const char ok[] = H200 "Content-Length: 2\r\n\r\nok";
    struct lbx_hc_frame f;

    lbx_hc_frame_init(&f, 1, 64, 64);
    ck_assert_int_eq(feed(&f, ok, sizeof(ok) - 1, 0), DONE);
    ck_assert_int_eq(
        feed(&f, "garbage and more garbage, longer than ok", 40, 1), DONE);
    ck_assert_int_eq(f.status, 200);
    ck_assert_uint_eq(f.body_len, 2);
    ck_assert_int_eq(lbx_hc_frame_feed(&f, NULL, 0, 0), DONE);

    lbx_hc_frame_init(&f, 1, 64, 64);
    ck_assert_int_eq(feed(&f, "SSH-2.0", 7, 0), FAIL);
    ck_assert_int_eq(feed(&f, ok, sizeof(ok) - 1, 0), FAIL);
    ck_assert_uint_eq(f.body_len, 0);
}
END_TEST

/* A shorter len than before breaks the contract: refused, not trusted. */
START_TEST(test_len_shrinks)
{
    const char text[] = H200 "Content-Length: 9\r\n\r\nhello";
    struct lbx_hc_frame f;

    lbx_hc_frame_init(&f, 1, 64, 64);
    ck_assert_int_eq(feed(&f, text, sizeof(text) - 1, 0), MORE);
    ck_assert_int_eq(feed(&f, text, 10, 0), FAIL);
}
END_TEST

/* A caller whose buffer of head_max + body_max bytes is full always has
 * its answer. */
START_TEST(test_full_buffer)
{
    static const char *const texts[] = {
        H200 "\r\n"
             "0123456789012345678901234567890123456789",
        H200 "Content-Length: 99\r\n\r\n"
             "0123456789012345678901",
        CHUNKED_HEAD "ff\r\n"
                     "01234567890123456789",
        H200 "X-Long: 0123456789012345678901234567890123456789",
    };
    static const enum lbx_hc_frame_result want[] = { DONE, DONE, DONE, FAIL };
    size_t i;

    for (i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
        struct lbx_hc_frame f;
        size_t len = strlen(texts[i]);

        ck_assert_uint_ge(len, 50);
        lbx_hc_frame_init(&f, 1, 50, len - 50);
        ck_assert_msg(feed(&f, texts[i], len, 0) == want[i], "text %zu", i);
    }
}
END_TEST

/* init starts from a clean slate even in reused or dirty memory. */
START_TEST(test_init)
{
    struct lbx_hc_frame f;

    memset(&f, 0x5a, sizeof(f));
    lbx_hc_frame_init(&f, 1, 64, 64);
    ck_assert_int_eq(f.status, 0);
    ck_assert_uint_eq(f.head_len, 0);
    ck_assert_uint_eq(f.body_len, 0);
    ck_assert_int_eq(f.chunked, 0);
    ck_assert_int_eq(f.content_length, -1);
    ck_assert_int_eq(
        feed(&f, CHUNKED_HEAD "0\r\n\r\n", strlen(CHUNKED_HEAD "0\r\n\r\n"), 0),
        DONE);
}
END_TEST

TCase *lbx_tcase_hcheck_frame(void)
{
    TCase *tc = tcase_create("hcheck_frame");

    tcase_add_loop_test(tc, test_parse_head, 0,
                        sizeof(heads) / sizeof(heads[0]));
    tcase_add_test(tc, test_headers);
    tcase_add_test(tc, test_dechunk);
    tcase_add_loop_test(tc, test_answer_byte_by_byte, 0, NANSWERS);
    tcase_add_loop_test(tc, test_answer_two_reads, 0, NANSWERS);
    tcase_add_loop_test(tc, test_cases, 0, NCASES);
    tcase_add_test(tc, test_no_rescan);
    tcase_add_test(tc, test_final);
    tcase_add_test(tc, test_len_shrinks);
    tcase_add_test(tc, test_full_buffer);
    tcase_add_test(tc, test_init);
    return tc;
}
