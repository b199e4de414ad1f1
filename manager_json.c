/* manager_json.c: one flat JSON object into key/value pairs (see
 * manager_json.h).  A single pass with no recursion: nesting is refused at
 * its first byte, so no input can deepen the stack. */
#include <stdio.h>
#include <string.h>

#include "manager_json.h"

struct reader {
    const unsigned char *start, *p, *end;
    char *o; /* next free byte of the output */
    struct lbx_json_error *err;
    const char *key; /* the key being read or whose value is being read */
};

static int fail(struct reader *rd, const char *what)
{
    snprintf(rd->err->msg, sizeof(rd->err->msg), "%s (at byte %lu)", what,
             (unsigned long)(rd->p - rd->start));
    return -1;
}

static void skip_ws(struct reader *rd)
{
    while (rd->p < rd->end
           && (*rd->p == ' ' || *rd->p == '\t' || *rd->p == '\n'
               || *rd->p == '\r')) {
        rd->p++;
    }
}

static int hex4(const unsigned char *p, unsigned *v)
{
    int i;

    *v = 0;
    for (i = 0; i < 4; i++) {
        unsigned c = p[i], d;

        if (c >= '0' && c <= '9') {
            d = c - '0';
        }
        else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f') {
            d = (c | 0x20) - 'a' + 10;
        }
        else {
            return -1;
        }
        *v = *v << 4 | d;
    }
    return 0;
}

static void put_utf8(struct reader *rd, unsigned cp)
{
    if (cp < 0x80) {
        *rd->o++ = (char)cp;
    }
    else if (cp < 0x800) {
        *rd->o++ = (char)(0xC0 | cp >> 6);
        *rd->o++ = (char)(0x80 | (cp & 0x3F));
    }
    else if (cp < 0x10000) {
        *rd->o++ = (char)(0xE0 | cp >> 12);
        *rd->o++ = (char)(0x80 | (cp >> 6 & 0x3F));
        *rd->o++ = (char)(0x80 | (cp & 0x3F));
    }
    else {
        *rd->o++ = (char)(0xF0 | cp >> 18);
        *rd->o++ = (char)(0x80 | (cp >> 12 & 0x3F));
        *rd->o++ = (char)(0x80 | (cp >> 6 & 0x3F));
        *rd->o++ = (char)(0x80 | (cp & 0x3F));
    }
}

/* \uXXXX, with its low surrogate when it is a high one; p is after 'u'. */
static int unicode_escape(struct reader *rd)
{
    unsigned cp, lo;

    if (rd->end - rd->p < 4 || hex4(rd->p, &cp) < 0) {
        return fail(rd, "\\u needs four hex digits");
    }
    rd->p += 4;
    if (cp >= 0xDC00 && cp <= 0xDFFF) {
        return fail(rd, "a lone low surrogate");
    }
    if (cp >= 0xD800 && cp <= 0xDBFF) {
        if (rd->end - rd->p < 6 || rd->p[0] != '\\' || rd->p[1] != 'u'
            || hex4(rd->p + 2, &lo) < 0 || lo < 0xDC00 || lo > 0xDFFF) {
            return fail(rd, "a high surrogate without its low one");
        }
        rd->p += 6;
        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
    }
    if (cp == 0) {
        return fail(rd, "\\u0000: NUL is not allowed");
    }
    put_utf8(rd, cp);
    return 0;
}

static int escape(struct reader *rd)
{
    static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
    const char *hit;

    if (rd->p == rd->end) {
        return fail(rd, "unterminated string");
    }
    if (*rd->p == 'u') {
        rd->p++;
        return unicode_escape(rd);
    }
    hit = *rd->p ? strchr(from, *rd->p) : NULL;
    if (!hit) {
        return fail(rd, "unknown escape");
    }
    *rd->o++ = to[hit - from];
    rd->p++;
    return 0;
}

size_t lbx_utf8_len(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    unsigned c = p[0], cp, min;
    size_t more, i;

    if (c < 0x80) {
        return 1;
    }
    if (c >= 0xC2 && c <= 0xDF) {
        more = 1, cp = c & 0x1F, min = 0x80;
    }
    else if (c >= 0xE0 && c <= 0xEF) {
        more = 2, cp = c & 0x0F, min = 0x800;
    }
    else if (c >= 0xF0 && c <= 0xF4) {
        more = 3, cp = c & 0x07, min = 0x10000;
    }
    else {
        return 0;
    }
    if (n <= more) {
        return 0;
    }
    for (i = 1; i <= more; i++) {
        if ((p[i] & 0xC0) != 0x80) {
            return 0;
        }
        cp = cp << 6 | (p[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
        return 0;
    }
    return more + 1;
}

/* One multi-byte UTF-8 sequence, copied as it is. */
static int utf8_seq(struct reader *rd)
{
    size_t n = lbx_utf8_len((const char *)rd->p, (size_t)(rd->end - rd->p));

    if (!n) {
        return fail(rd, "invalid UTF-8");
    }
    memcpy(rd->o, rd->p, n);
    rd->o += n;
    rd->p += n;
    return 0;
}

/* A string; p is at its opening quote.  Returns its decoded copy. */
static char *string(struct reader *rd)
{
    char *start = rd->o;

    rd->p++;
    for (;;) {
        unsigned c;

        if (rd->p == rd->end) {
            fail(rd, "unterminated string");
            return NULL;
        }
        c = *rd->p;
        if (c == '"') {
            rd->p++;
            *rd->o++ = '\0';
            return start;
        }
        if (c < 0x20) {
            fail(rd, "a control character inside a string");
            return NULL;
        }
        if (c == '\\') {
            rd->p++;
            if (escape(rd) < 0) {
                return NULL;
            }
        }
        else if (c < 0x80) {
            *rd->o++ = (char)c;
            rd->p++;
        }
        else if (utf8_seq(rd) < 0) {
            return NULL;
        }
    }
}

static size_t digits(struct reader *rd)
{
    const unsigned char *s = rd->p;

    while (rd->p < rd->end && *rd->p >= '0' && *rd->p <= '9') {
        rd->p++;
    }
    return (size_t)(rd->p - s);
}

/* A number, checked against JSON's grammar and kept as written. */
static char *number(struct reader *rd)
{
    const unsigned char *s = rd->p;
    char *start = rd->o;

    if (rd->p < rd->end && *rd->p == '-') {
        rd->p++;
    }
    if (rd->p < rd->end && *rd->p == '0') {
        rd->p++;
    }
    else if (digits(rd) == 0) {
        fail(rd, "a value must be a string, a number, true or false");
        return NULL;
    }
    if (rd->p < rd->end && *rd->p == '.') {
        rd->p++;
        if (digits(rd) == 0) {
            fail(rd, "a digit must follow the decimal point");
            return NULL;
        }
    }
    if (rd->p < rd->end && (*rd->p == 'e' || *rd->p == 'E')) {
        rd->p++;
        if (rd->p < rd->end && (*rd->p == '+' || *rd->p == '-')) {
            rd->p++;
        }
        if (digits(rd) == 0) {
            fail(rd, "a digit must follow the exponent");
            return NULL;
        }
    }
    memcpy(rd->o, s, (size_t)(rd->p - s));
    rd->o += rd->p - s;
    *rd->o++ = '\0';
    return start;
}

static int word(struct reader *rd, const char *w)
{
    size_t n = strlen(w);

    if ((size_t)(rd->end - rd->p) >= n && memcmp(rd->p, w, n) == 0) {
        rd->p += n;
        return 1;
    }
    return 0;
}

static char *value(struct reader *rd)
{
    const unsigned char *start_byte = rd->p;
    char *start = rd->o;

    if (rd->p == rd->end) {
        fail(rd, "a value is missing");
        return NULL;
    }
    switch (*rd->p) {
    case '"': return string(rd);
    case '{':
    case '[':
        fail(rd, "objects and arrays are not accepted as values");
        return NULL;
    case 't':
    case 'f':
        if (word(rd, "true") || word(rd, "false")) {
            *rd->o++ = *start_byte == 't' ? '1' : '0';
            *rd->o++ = '\0';
            return start;
        }
        break;
    case 'n':
        if (word(rd, "null")) {
            rd->p -= 4;
            fail(rd, "null is not a value here (leave the key out)");
            return NULL;
        }
        break;
    default: return number(rd);
    }
    fail(rd, "a value must be a string, a number, true or false");
    return NULL;
}

/* One "key": value pair into pairs[n]. */
static int pair(struct reader *rd, struct lbx_mgr_param *pairs, int n)
{
    int i;

    if (rd->p == rd->end || *rd->p != '"') {
        return fail(rd, "a key (a string) was expected");
    }
    rd->key = NULL;
    if (!(pairs[n].key = string(rd))) {
        return -1;
    }
    if (!*pairs[n].key) {
        return fail(rd, "an empty key");
    }
    for (i = 0; i < n; i++) {
        if (strcmp(pairs[i].key, pairs[n].key) == 0) {
            rd->key = pairs[n].key;
            return fail(rd, "the key is given twice");
        }
    }
    rd->key = pairs[n].key;
    skip_ws(rd);
    if (rd->p == rd->end || *rd->p != ':') {
        return fail(rd, "':' was expected after the key");
    }
    rd->p++;
    skip_ws(rd);
    return (pairs[n].val = value(rd)) ? 0 : -1;
}

int lbx_mgr_parse_json(const char *in, size_t len, char *out,
                       struct lbx_mgr_param *pairs, int max,
                       struct lbx_json_error *err)
{
    struct reader rd;
    int n = 0;

    rd.start = rd.p = (const unsigned char *)in;
    rd.end = rd.p + len;
    rd.o = out;
    rd.err = err;
    rd.key = NULL;
    err->msg[0] = '\0';
    err->key = NULL;
    skip_ws(&rd);
    if (rd.p == rd.end || *rd.p != '{') {
        n = fail(&rd, "the body must be one JSON object");
        goto done;
    }
    rd.p++;
    skip_ws(&rd);
    if (rd.p < rd.end && *rd.p == '}') {
        rd.p++;
    }
    else {
        for (;;) {
            if (n >= max) {
                n = fail(&rd, "too many keys");
                goto done;
            }
            if (pair(&rd, pairs, n) < 0) {
                n = -1;
                goto done;
            }
            n++;
            rd.key = NULL;
            skip_ws(&rd);
            if (rd.p < rd.end && *rd.p == ',') {
                rd.p++;
                skip_ws(&rd);
                continue;
            }
            if (rd.p < rd.end && *rd.p == '}') {
                rd.p++;
                break;
            }
            n = fail(&rd, "',' or '}' was expected");
            goto done;
        }
    }
    skip_ws(&rd);
    if (rd.p != rd.end) {
        n = fail(&rd, "nothing may follow the object");
    }
done:
    if (n < 0) {
        err->key = rd.key;
    }
    return n;
}

int lbx_mgr_known_key(const char *key)
{
    static const char *const keys[] = {
        "b",    "w",        "nonce",  "w_lf",  "w_ls",  "w_wr",
        "w_rr", "w_hm",     "w_hi",   "w_hp",  "w_hf",  "w_hu",
        "w_he", "w_remove", "b_lbm",  "b_tmo", "b_max", "b_sforce",
        "b_ss", "b_nwrkr",  "b_wyes", NULL
    };
    const char *const *k;

    if (strncmp(key, "w_status_", 9) == 0) {
        return key[9] && !key[10] && strchr(LBX_MGR_FLAGS, key[9]);
    }
    for (k = keys; *k; k++) {
        if (strcmp(*k, key) == 0) {
            return 1;
        }
    }
    return 0;
}
