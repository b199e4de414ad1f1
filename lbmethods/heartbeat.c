/* heartbeat.c: choose members in proportion to the free capacity they
 * report through mod_heartbeat / mod_heartmonitor (stock
 * mod_lbmethod_heartbeat).  Two pure pieces: the HeartbeatStorage file
 * parser and the proportional pick.  Reading the file or the slotmem, and
 * caching it, is glue (provider.c).
 */
#include <string.h>

#include "lbx_method.h"
#include "lbx_text.h"

/* Strict decimal, as stock 2.4.69+ parses these fields: digits only, the
 * whole token, within [lo, hi].  Anything else leaves the old value. */
static void parse_int(const char *s, size_t len, int32_t lo, int32_t hi,
                      int32_t *out)
{
    int64_t v = 0;
    size_t i;

    if (len == 0) {
        return;
    }
    for (i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return;
        }
        v = v * 10 + (s[i] - '0');
        if (v > hi) {
            return;
        }
    }
    if (v >= lo) {
        *out = (int32_t)v;
    }
}

/* %XX-decode src into dst (room for len bytes); returns the length.  An
 * invalid or NUL escape is kept as it is: the result is only ever compared
 * with key names or parsed as digits, which then fails safely. */
static size_t unescape(const char *src, size_t len, char *dst)
{
    size_t i, o = 0;

    for (i = 0; i < len; i++) {
        int hi, lo;
        if (src[i] == '%' && i + 2 < len
            && (hi = lbx_hexval(src[i + 1])) >= 0
            && (lo = lbx_hexval(src[i + 2])) >= 0 && (hi | lo) != 0) {
            dst[o++] = (char)(hi * 16 + lo);
            i += 2;
        }
        else {
            dst[o++] = src[i];
        }
    }
    return o;
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
            klen = unescape(q + pos, eq - pos, key);
            if (eq < end) {
                vlen = unescape(q + eq + 1, end - eq - 1, val);
            }
            else {
                val[0] = '1';   /* a bare key means "1", as in stock */
                vlen = 1;
            }
            if (key_is(key, klen, "busy")) {
                parse_int(val, vlen, 0, INT32_MAX, &srv->busy);
            }
            else if (key_is(key, klen, "ready")) {
                parse_int(val, vlen, 0, INT32_MAX, &srv->ready);
            }
            else if (key_is(key, klen, "lastseen")) {
                parse_int(val, vlen, 0, INT32_MAX, &srv->seen);
            }
            else if (key_is(key, klen, "port")) {
                parse_int(val, vlen, 1, 65535, &srv->port);
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

long lbx_hb_pick(const uint32_t *ready, size_t n, uint64_t pick)
{
    uint64_t c = 0;
    long chosen = LBX_NONE;
    size_t i;

    /* Stock's walk: pick is drawn from [0, sum] inclusive, every candidate
     * owns [c, c + ready] inclusive, and where ranges touch the later
     * candidate wins. */
    for (i = 0; i < n; i++) {
        if (pick >= c && pick <= c + ready[i]) {
            chosen = (long)i;
        }
        c += ready[i];
    }
    return chosen;
}
