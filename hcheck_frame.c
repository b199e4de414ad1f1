/* hcheck_frame.c: the parsing and framing of a health check's answer (see
 * hcheck_frame.h).
 *
 * The framer is called after every read with everything received so far.
 * Until the head is complete it searches the first head_max bytes for the
 * empty line.  Then the head decides how the body ends, once:
 *
 *   no body   HEAD/OPTIONS (body_expected 0), 1xx, 204, 304: done at once
 *   chunked   the first Transfer-Encoding line's last coding is "chunked":
 *             done after the zero-size chunk and the trailer section's
 *             empty line
 *   length    a valid Content-Length: done when that many bytes are in
 *   close     neither: done when the peer closes
 *
 * This is as strict as stock's HTTP input filter, which reads the checks'
 * answers there: an invalid Content-Length, or a chunked body cut before
 * its last empty line, fails the check.
 * In every mode the body is also done once body_max bytes are in: a check
 * is judged on the first part of a long answer.  Chunked framing is a
 * byte-at-a-time state machine that remembers where it stopped, so each
 * body byte is looked at once however the answer is split into reads
 * (chunk data and line tails are skipped whole, not byte by byte). */
#include <string.h>

#include "hcheck_frame.h"
#include "lbx_text.h"

long lbx_hc_parse_head(const char *buf, size_t len, int *status)
{
    size_t i;

    /* "HTTP/1.x NNN" */
    if (len < 12) {
        return (len >= 5 && memcmp(buf, "HTTP/", 5) != 0) ? -1 : 0;
    }
    if (memcmp(buf, "HTTP/1.", 7) != 0 || buf[7] < '0' || buf[7] > '9'
        || buf[8] != ' ' || buf[9] < '1' || buf[9] > '5' || buf[10] < '0'
        || buf[10] > '9' || buf[11] < '0' || buf[11] > '9') {
        return -1;
    }
    *status = (buf[9] - '0') * 100 + (buf[10] - '0') * 10 + (buf[11] - '0');
    /* The head ends at the first empty line ("\r\n\r\n", or bare "\n\n"). */
    for (i = 12; i < len; i++) {
        if (buf[i] == '\0') {
            return -1;
        }
        if (buf[i] == '\n') {
            if (i + 1 < len && buf[i + 1] == '\n') {
                return (long)(i + 2);
            }
            if (i + 2 < len && buf[i + 1] == '\r' && buf[i + 2] == '\n') {
                return (long)(i + 3);
            }
        }
    }
    return 0;
}

static int is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r';
}

int lbx_hc_next_header(const char *head, size_t head_len, size_t *pos,
                       const char **name, size_t *name_len, const char **value,
                       size_t *value_len)
{
    while (*pos < head_len) {
        const char *line = head + *pos;
        const char *nl = memchr(line, '\n', head_len - *pos);
        size_t llen = nl ? (size_t)(nl - line) : head_len - *pos;
        const char *colon;

        *pos += llen + 1;
        if (line == head) {
            continue; /* the status line */
        }
        colon = memchr(line, ':', llen);
        if (!colon || colon == line) {
            continue;
        }
        *name = line;
        *name_len = (size_t)(colon - line);
        *value = colon + 1;
        *value_len = llen - *name_len - 1;
        while (*value_len > 0 && is_blank(**value)) {
            (*value)++;
            (*value_len)--;
        }
        while (*value_len > 0 && is_blank((*value)[*value_len - 1])) {
            (*value_len)--;
        }
        return 1;
    }
    return 0;
}

size_t lbx_hc_dechunk(char *buf, size_t len, int *complete)
{
    size_t in = 0, out = 0;

    *complete = 0;
    for (;;) {
        /* 64 bits whatever size_t is: the framer accepts sizes of up to 16
         * hex digits, and a size beyond what arrived only means a cut
         * body, which must still decode partly. */
        uint64_t size = 0;
        size_t i = in;
        int digits = 0, d;

        while (i < len && (d = lbx_hexval(buf[i])) >= 0) {
            if (size > (UINT64_MAX >> 4)) {
                return out; /* absurd size: stop rather than wrap */
            }
            size = size * 16 + (uint64_t)d;
            digits++;
            i++;
        }
        if (!digits) {
            return out;
        }
        /* Skip chunk extensions up to the end of the line. */
        while (i < len && buf[i] != '\n') {
            i++;
        }
        if (i >= len) {
            return out;
        }
        i++;
        if (size == 0) {
            *complete = 1;
            return out;
        }
        if (size > len - i) {
            size = len - i; /* cut short: keep what arrived */
            memmove(buf + out, buf + i, (size_t)size);
            return out + (size_t)size;
        }
        memmove(buf + out, buf + i, (size_t)size);
        out += (size_t)size;
        i += (size_t)size;
        /* The CRLF after the data. */
        if (i < len && buf[i] == '\r') {
            i++;
        }
        if (i < len && buf[i] == '\n') {
            i++;
        }
        in = i;
    }
}

/* How the body ends (f->mode). */
enum {
    BODY_NONE = 0,
    BODY_CHUNKED,
    BODY_LENGTH,
    BODY_CLOSE
};

/* Where the chunk machine stands (f->ck_state): the byte it expects
 * next. */
enum {
    CK_SIZE = 0, /* a hex digit of the size (or what ends them) */
    CK_SIZE_BLANK, /* blanks after the size, before ';' or the EOL */
    CK_SIZE_CR, /* the LF of the size line's CRLF */
    CK_EXT, /* anything: an extension, up to LF */
    CK_DATA, /* chunk data, ck_left bytes of it */
    CK_DATA_END, /* CR or LF right after the data */
    CK_DATA_CR, /* the LF of that CRLF */
    CK_TRAILER, /* the start of a trailer line, or the empty line */
    CK_TRAILER_CR, /* the LF of the empty line */
    CK_TRAILER_LINE /* anything: a trailer field, up to LF */
};

/* 16 hex digits hold any 64-bit size; a longer size line (even one padded
 * with zeros) is not something a sane backend sends. */
#define CHUNK_DIGITS_MAX 16

void lbx_hc_frame_init(struct lbx_hc_frame *f, int body_expected,
                       size_t head_max, size_t body_max)
{
    memset(f, 0, sizeof(*f));
    f->content_length = -1;
    f->result = LBX_HC_FRAME_MORE;
    f->body_expected = body_expected != 0;
    f->mode = BODY_NONE;
    f->head_max = head_max;
    f->body_max = body_max;
    f->ck_state = CK_SIZE;
}

static enum lbx_hc_frame_result finish(struct lbx_hc_frame *f,
                                       enum lbx_hc_frame_result r,
                                       size_t body_len)
{
    f->result = (int)r;
    f->body_len = r == LBX_HC_FRAME_DONE ? body_len : 0;
    return r;
}

/* Header names compare without case; `lower` is the name in lower case. */
static int name_is(const char *name, size_t len, const char *lower)
{
    size_t i;

    for (i = 0; i < len; i++) {
        if (lower[i] == '\0' || lbx_lower((unsigned char)name[i]) != lower[i]) {
            return 0;
        }
    }
    return lower[len] == '\0';
}

/* Is the last coding of a Transfer-Encoding value "chunked"?  Empty list
 * elements ("gzip, , chunked ,") do not count.  -1 when the value has no
 * coding at all. */
static int last_coding_chunked(const char *v, size_t len)
{
    size_t i = 0, start, end;
    int verdict = -1;

    while (i <= len) {
        start = i;
        while (i < len && v[i] != ',') {
            i++;
        }
        end = i;
        while (start < end && (v[start] == ' ' || v[start] == '\t')) {
            start++;
        }
        while (end > start && (v[end - 1] == ' ' || v[end - 1] == '\t')) {
            end--;
        }
        if (end > start) {
            verdict = name_is(v + start, end - start, "chunked");
        }
        i++; /* past the comma, or past the end */
    }
    return verdict;
}

/* Decide how the body ends from the complete head; FAIL on a
 * Content-Length that cannot frame it. */
static enum lbx_hc_frame_result pick_mode(struct lbx_hc_frame *f,
                                          const char *head)
{
    size_t pos = 0, nlen, vlen;
    const char *name, *value;
    int chunked = 0, seen_te = 0, has_length = 0, bad_length = 0;
    uint64_t length = 0;

    while (lbx_hc_next_header(head, f->head_len, &pos, &name, &nlen, &value,
                              &vlen)) {
        if (name_is(name, nlen, "transfer-encoding")) {
            /* Only the first line counts, as in stock (its HTTP input
             * filter reads the first value): "chunked" then "gzip" on a
             * second line is chunked framing. */
            if (!seen_te) {
                chunked = last_coding_chunked(value, vlen) > 0;
                seen_te = 1;
            }
        }
        else if (name_is(name, nlen, "content-length")) {
            uint64_t n;

            /* Strict, unlike atoi: "12abc", "-1", "1,2" or a second,
             * different value leave us unable to tell where the body
             * ends, so the answer is refused rather than guessed at
             * (unless chunked framing makes the length irrelevant). */
            if (lbx_parse_uint(value, vlen, INT64_MAX, &n) != 0
                || (has_length && n != length)) {
                bad_length = 1;
            }
            else {
                has_length = 1;
                length = n;
            }
        }
    }
    if (chunked) {
        f->mode = BODY_CHUNKED;
        f->chunked = 1;
    }
    else if (bad_length) {
        return LBX_HC_FRAME_FAIL;
    }
    else if (has_length) {
        f->mode = BODY_LENGTH;
        f->content_length = (int64_t)length;
    }
    else {
        f->mode = BODY_CLOSE;
    }
    return LBX_HC_FRAME_MORE;
}

/* The LF of a size line is in: data follows, or after the zero-size
 * chunk the trailer section. */
static void size_line_done(struct lbx_hc_frame *f)
{
    f->ck_state = f->ck_left ? CK_DATA : CK_TRAILER;
}

/* A byte after the size's digits (and any blanks after them): more
 * blanks, ';' and an extension, or the end of the line.  0 when it is
 * none of these. */
static int after_size(struct lbx_hc_frame *f, char c)
{
    if (c == ' ' || c == '\t') {
        f->ck_state = CK_SIZE_BLANK;
    }
    else if (c == ';') {
        f->ck_state = CK_EXT;
    }
    else if (c == '\r') {
        f->ck_state = CK_SIZE_CR;
    }
    else if (c == '\n') {
        size_line_done(f);
    }
    else {
        return 0;
    }
    return 1;
}

/* The data's line end is in: the next size line follows. */
static void next_chunk(struct lbx_hc_frame *f)
{
    f->ck_state = CK_SIZE;
    f->ck_digits = 0;
    f->ck_left = 0;
}

/* What one byte did to the chunk machine. */
enum step {
    STEP_ON,
    STEP_FAIL,
    STEP_DONE
};

/* The byte after chunk data (CK_DATA_END, CK_DATA_CR) or after a trailer
 * line (CK_TRAILER, CK_TRAILER_CR): CRLF or a bare LF ends that line. */
static enum step line_end(struct lbx_hc_frame *f, char c)
{
    int after_data = f->ck_state == CK_DATA_END || f->ck_state == CK_DATA_CR;

    if (c == '\r'
        && (f->ck_state == CK_DATA_END || f->ck_state == CK_TRAILER)) {
        f->ck_state = after_data ? CK_DATA_CR : CK_TRAILER_CR;
        return STEP_ON;
    }
    if (c == '\n') {
        if (!after_data) {
            return STEP_DONE; /* the empty line ending the trailers */
        }
        next_chunk(f);
        return STEP_ON;
    }
    if (f->ck_state == CK_TRAILER) {
        f->ck_state = CK_TRAILER_LINE; /* a trailer field starts */
        return STEP_ON;
    }
    return STEP_FAIL;
}

/* One byte in a state read byte by byte. */
static enum step step(struct lbx_hc_frame *f, char c)
{
    int d;

    switch (f->ck_state) {
    case CK_SIZE:
        d = lbx_hexval(c);
        if (d >= 0) {
            if (f->ck_digits == CHUNK_DIGITS_MAX) {
                return STEP_FAIL;
            }
            f->ck_left = f->ck_left * 16 + (uint64_t)d;
            f->ck_digits++;
            return STEP_ON;
        }
        return f->ck_digits > 0 && after_size(f, c) ? STEP_ON : STEP_FAIL;
    case CK_SIZE_BLANK: return after_size(f, c) ? STEP_ON : STEP_FAIL;
    case CK_SIZE_CR:
        if (c != '\n') {
            return STEP_FAIL;
        }
        size_line_done(f);
        return STEP_ON;
    case CK_DATA_END:
    case CK_DATA_CR:
    case CK_TRAILER:
    case CK_TRAILER_CR: return line_end(f, c);
    default: return STEP_FAIL;
    }
}

/* Bytes skipped in bulk from body[p..end): chunk data, and an extension
 * or a trailer field up to its LF (extensions mean nothing to a check).
 * Returns where scanning goes on. */
static size_t skip(struct lbx_hc_frame *f, const char *body, size_t p,
                   size_t end)
{
    const char *nl;

    if (f->ck_state == CK_DATA) {
        size_t n =
            (uint64_t)(end - p) > f->ck_left ? (size_t)f->ck_left : end - p;
        f->ck_left -= n;
        if (f->ck_left == 0) {
            f->ck_state = CK_DATA_END;
        }
        return p + n;
    }
    nl = memchr(body + p, '\n', end - p);
    if (!nl) {
        return end;
    }
    if (f->ck_state == CK_EXT) {
        size_line_done(f);
    }
    else {
        f->ck_state = CK_TRAILER;
    }
    return (size_t)(nl - body) + 1;
}

/* Run the chunk machine over body[f->scanned..end).  DONE (f->scanned at
 * the end of the trailer section) or FAIL as soon as known, else MORE with
 * f->scanned == end. */
static enum lbx_hc_frame_result scan_chunks(struct lbx_hc_frame *f,
                                            const char *body, size_t end)
{
    size_t p = f->scanned;

    while (p < end) {
        if (f->ck_state == CK_DATA || f->ck_state == CK_EXT
            || f->ck_state == CK_TRAILER_LINE) {
            p = skip(f, body, p, end);
            continue;
        }
        switch (step(f, body[p++])) {
        case STEP_FAIL: return LBX_HC_FRAME_FAIL;
        case STEP_DONE: f->scanned = p; return LBX_HC_FRAME_DONE;
        case STEP_ON: break;
        }
    }
    f->scanned = p;
    return LBX_HC_FRAME_MORE;
}

enum lbx_hc_frame_result lbx_hc_frame_feed(struct lbx_hc_frame *f,
                                           const char *buf, size_t len, int eof)
{
    const char *body;
    size_t have, keep;
    enum lbx_hc_frame_result r;

    if (f->result != LBX_HC_FRAME_MORE) {
        return (enum lbx_hc_frame_result)f->result;
    }
    if (len < f->seen) {
        return finish(f, LBX_HC_FRAME_FAIL, 0);
    }
    f->seen = len;

    if (f->head_len == 0) {
        /* Only the first head_max bytes are searched, so a head that would
         * end beyond them fails whether it arrived in one read or many. */
        long h = lbx_hc_parse_head(buf, len < f->head_max ? len : f->head_max,
                                   &f->status);

        if (h < 0) {
            return finish(f, LBX_HC_FRAME_FAIL, 0);
        }
        if (h == 0) {
            if (len >= f->head_max || eof) {
                return finish(f, LBX_HC_FRAME_FAIL, 0);
            }
            return LBX_HC_FRAME_MORE;
        }
        f->head_len = (size_t)h;
        if (!f->body_expected || f->status < 200 || f->status == 204
            || f->status == 304) {
            return finish(f, LBX_HC_FRAME_DONE, 0);
        }
        if (pick_mode(f, buf) == LBX_HC_FRAME_FAIL) {
            return finish(f, LBX_HC_FRAME_FAIL, 0);
        }
    }

    body = buf + f->head_len;
    have = len - f->head_len;
    keep = have < f->body_max ? have : f->body_max;
    switch (f->mode) {
    case BODY_LENGTH:
        if ((uint64_t)f->content_length <= (uint64_t)keep) {
            return finish(f, LBX_HC_FRAME_DONE, (size_t)f->content_length);
        }
        break;
    case BODY_CHUNKED:
        r = scan_chunks(f, body, keep);
        if (r != LBX_HC_FRAME_MORE) {
            return finish(f, r, f->scanned);
        }
        break;
    case BODY_CLOSE:
        if (eof) {
            return finish(f, LBX_HC_FRAME_DONE, keep);
        }
        break;
    default: return finish(f, LBX_HC_FRAME_FAIL, 0);
    }
    if (keep >= f->body_max) {
        return finish(f, LBX_HC_FRAME_DONE, f->body_max);
    }
    /* A length or chunked body cut short by the peer is not an answer. */
    return eof ? finish(f, LBX_HC_FRAME_FAIL, 0) : LBX_HC_FRAME_MORE;
}
