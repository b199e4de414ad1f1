/* hcheck_core.c: pure health-check logic (see hcheck_core.h). */
#include <string.h>

#include "hcheck_core.h"
#include "lbx_text.h"

enum lbx_hc_change lbx_hc_step(struct lbx_hc_counts *c, int out, int ok,
                               int passes, int fails)
{
    if (out) {
        if (ok && ++c->pcount >= passes) {
            c->pcount = 0;
            return LBX_HC_ENABLE;
        }
        return LBX_HC_NO_CHANGE;
    }
    if (!ok && ++c->fcount >= fails) {
        c->fcount = 0;
        return LBX_HC_DISABLE;
    }
    return LBX_HC_NO_CHANGE;
}

size_t lbx_hc_join_path(const char *member_path, const char *hcuri,
                        char *out, size_t outlen)
{
    size_t plen = member_path ? strlen(member_path) : 0;
    size_t ulen = hcuri ? strlen(hcuri) : 0;
    size_t need;

    if (ulen > 0) {
        /* One '/' between them: drop the member path's trailing ones and
         * hcuri's leading ones. */
        while (plen > 0 && member_path[plen - 1] == '/') {
            plen--;
        }
        while (ulen > 0 && *hcuri == '/') {
            hcuri++;
            ulen--;
        }
    }
    need = plen + 1 + ulen + 1;
    if (plen > 0 && member_path[0] != '/') {
        need++;
    }
    if (need > outlen) {
        return 0;
    }
    out[0] = '\0';
    if (plen > 0 && member_path[0] != '/') {
        strcat(out, "/");
    }
    strncat(out, member_path ? member_path : "", plen);
    if (ulen > 0 || out[0] == '\0') {
        strcat(out, "/");
    }
    strncat(out, hcuri ? hcuri : "", ulen);
    return strlen(out);
}

int lbx_hc_name_ok(const char *name)
{
    size_t len = name ? strlen(name) : 0;

    return len >= 1 && len <= LBX_HC_NAME_MAX;
}

int lbx_hc_name_find(const char *const *names, size_t n, const char *name)
{
    size_t i;

    if (!name) {
        return -1;
    }
    for (i = 0; i < n; i++) {
        const char *a = names[i], *b = name;
        while (*a && lbx_lower((unsigned char)*a)
                      == lbx_lower((unsigned char)*b)) {
            a++;
            b++;
        }
        if (*a == '\0' && *b == '\0') {
            return (int)i;
        }
    }
    return -1;
}

long lbx_hc_parse_head(const char *buf, size_t len, int *status)
{
    size_t i;

    /* "HTTP/1.x NNN" */
    if (len < 12) {
        return (len >= 5 && memcmp(buf, "HTTP/", 5) != 0) ? -1 : 0;
    }
    if (memcmp(buf, "HTTP/1.", 7) != 0 || buf[7] < '0' || buf[7] > '9'
        || buf[8] != ' ' || buf[9] < '1' || buf[9] > '5'
        || buf[10] < '0' || buf[10] > '9' || buf[11] < '0'
        || buf[11] > '9') {
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
                       const char **name, size_t *name_len,
                       const char **value, size_t *value_len)
{
    while (*pos < head_len) {
        const char *line = head + *pos;
        const char *nl = memchr(line, '\n', head_len - *pos);
        size_t llen = nl ? (size_t)(nl - line) : head_len - *pos;
        const char *colon;

        *pos += llen + 1;
        if (line == head) {
            continue;   /* the status line */
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
        size_t size = 0, i = in;
        int digits = 0, d;

        while (i < len && (d = lbx_hexval(buf[i])) >= 0) {
            if (size > ((size_t)-1 >> 4)) {
                return out;   /* absurd size: stop rather than wrap */
            }
            size = size * 16 + (size_t)d;
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
            size = len - i;   /* cut short: keep what arrived */
            memmove(buf + out, buf + i, size);
            return out + size;
        }
        memmove(buf + out, buf + i, size);
        out += size;
        i += size;
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
