/* hcheck_frame.h: where a backend's answer to an HTTP health check ends,
 * and the parsing of that answer.  Pure C99 (no httpd, no APR): hcheck.c
 * reads the socket and asks the framer after every read whether it holds
 * the whole answer, then decodes it with the helpers below. */
#ifndef LBX_HCHECK_FRAME_H
#define LBX_HCHECK_FRAME_H

#include <stddef.h>
#include <stdint.h>

/* The head of an HTTP response: "HTTP/1.x NNN ...\r\n" then header lines
 * up to an empty line.  Returns the length of the head including the
 * empty line once it is complete, 0 if more bytes are needed, -1 if the
 * bytes cannot be an HTTP response head.  Fills *status. */
long lbx_hc_parse_head(const char *buf, size_t len, int *status);

/* Iterate header lines of a complete head: *pos starts at 0; each call
 * gives the next name/value (value without surrounding blanks) and returns
 * 1, or 0 at the end.  Lines without ':' are skipped. */
int lbx_hc_next_header(const char *head, size_t head_len, size_t *pos,
                       const char **name, size_t *name_len, const char **value,
                       size_t *value_len);

/* Decode a chunked body in place: `buf` holds what was read after the
 * head.  Returns the decoded length and sets *complete when the last
 * chunk was seen; stops at what is there (a cut body decodes partly).
 * Laxer than the framer (any bytes up to the end of a size line, a
 * missing CRLF after data), so it decodes every body the framer accepts
 * exactly as the framer read it. */
size_t lbx_hc_dechunk(char *buf, size_t len, int *complete);

enum lbx_hc_frame_result {
    LBX_HC_FRAME_MORE = 0, /* need more bytes */
    LBX_HC_FRAME_DONE, /* answer complete (or as much as we keep) */
    LBX_HC_FRAME_FAIL /* not a valid/complete HTTP answer */
};

/* One answer being received.  Set up with lbx_hc_frame_init for every
 * check; the caller reads the results and never writes any field. */
struct lbx_hc_frame {
    /* Results, valid after DONE (status and head_len as soon as the head
     * is complete). */
    int status; /* HTTP status */
    size_t head_len; /* bytes of the head including the empty line */
    size_t body_len; /* raw body bytes (still chunk-encoded when
                              * chunked) to judge on */
    int chunked; /* the body was framed as chunked */
    int64_t content_length; /* the Content-Length that framed the body;
                              * -1 when none, or when chunked, or when no
                              * body is read */

    /* Private to hcheck_frame.c. */
    int result; /* MORE until the answer is DONE or FAIL */
    int body_expected;
    int mode; /* how the body ends */
    size_t head_max;
    size_t body_max;
    size_t seen; /* len of the previous call */
    size_t scanned; /* body bytes the chunk machine has consumed */
    int ck_state;
    unsigned ck_digits; /* digits of the chunk size read so far */
    uint64_t ck_left; /* the chunk size, then its data bytes left */
};

/* body_expected: 0 for HEAD/OPTIONS-style answers whose body is not read.
 * head_max: the longest head accepted; body_max: the most body bytes kept
 * (a longer body is judged on its first body_max bytes). */
void lbx_hc_frame_init(struct lbx_hc_frame *f, int body_expected,
                       size_t head_max, size_t body_max);

/* buf/len: EVERYTHING received so far (the caller appends to one buffer and
 * never gives more than head_max + body_max bytes); eof: the peer closed.
 * Work per call is proportional to the new bytes, except the head search,
 * which is bounded by head_max.  Never reads outside buf[0..len).
 *
 * Once DONE or FAIL, every later call returns the same without looking at
 * buf.  MORE is never returned for len >= head_max + body_max, so a caller
 * whose buffer is full has its answer.  A len smaller than the previous
 * call's is a caller bug and gives FAIL.
 *
 * After DONE, the head is buf[0..head_len) (status line included, for
 * lbx_hc_next_header) and the body buf[head_len..head_len + body_len);
 * when `chunked`, lbx_hc_dechunk(buf + head_len, body_len, &complete)
 * decodes it in place (complete is 0 only when the body was cut at
 * body_max). */
enum lbx_hc_frame_result lbx_hc_frame_feed(struct lbx_hc_frame *f,
                                           const char *buf, size_t len,
                                           int eof);

#endif
