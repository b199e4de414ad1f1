/* sticky.c: sticky-session route parsing, free of httpd and APR.
 *
 * The behaviour is stock mod_proxy_balancer's, quirks included, so that a
 * balancer moved over to mod_lbx routes every existing session the same way.
 * Stock works on NUL-terminated strings and, in corner cases (the name right
 * at the end), resumes its strstr() one or two bytes beyond the terminator.
 * Here every read stays inside [ptr, ptr + len) and a NUL byte ends the input;
 * the search simply stops where stock would have run off its string.
 */
#include <stddef.h>
#include <string.h>

#include "sticky.h"

/* Effective length of an input span: up to its length or its first NUL,
 * because stock's C-string search would stop at that NUL too. */
static size_t span_len(const char *s, size_t len)
{
    const char *nul;

    if (s == NULL) {
        return 0;
    }
    nul = memchr(s, '\0', len);
    return nul ? (size_t)(nul - s) : len;
}

/* White space as isspace() sees it in the C locale.  Our own test keeps the
 * answer independent of the process locale and avoids isspace()'s undefined
 * behaviour on negative char values. */
static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f'
        || c == '\r';
}

static int is_url_delim(char c, int scolon_delim)
{
    return c == '?' || c == '&' || (scolon_delim && c == ';');
}

/* strstr() on spans: find needle in hay[from, hay_len).  Like strstr(), an
 * empty needle matches at `from`, even at the very end.  A `from` past the
 * end finds nothing; that is where stock would have read past the NUL. */
static int find(const char *hay, size_t hay_len, size_t from,
                const char *needle, size_t needle_len, size_t *at)
{
    size_t last;

    if (from > hay_len || needle_len > hay_len - from) {
        return 0;
    }
    if (needle_len == 0) {
        *at = from;
        return 1;
    }
    last = hay_len - needle_len;
    while (from <= last) {
        const char *p =
            memchr(hay + from, (unsigned char)needle[0], last - from + 1);

        if (p == NULL) {
            return 0;
        }
        from = (size_t)(p - hay);
        if (memcmp(p + 1, needle + 1, needle_len - 1) == 0) {
            *at = from;
            return 1;
        }
        from++;
    }
    return 0;
}

/* A name searched for in a haystack, both cut at their first NUL. */
struct search {
    const char *hay;
    size_t len; /* of hay */
    const char *name;
    size_t nlen;
    size_t from; /* where the next occurrence is looked for */
};

/* Returns 0 when the haystack or the name is missing. */
static int search_init(struct search *s, const char *hay, size_t hay_len,
                       const char *name, size_t name_len)
{
    s->hay = hay;
    s->len = span_len(hay, hay_len);
    s->name = name;
    s->nlen = span_len(name, name_len);
    s->from = 0;
    return hay != NULL && name != NULL;
}

static int search_next(struct search *s, size_t *at)
{
    return find(s->hay, s->len, s->from, s->name, s->nlen, at);
}

static int found(struct lbx_span *out, const char *ptr, size_t len)
{
    out->ptr = ptr;
    out->len = len;
    return 1;
}

/* Callers get a well-defined empty span on failure rather than whatever was
 * there before. */
static int not_found(struct lbx_span *out)
{
    out->ptr = NULL;
    out->len = 0;
    return 0;
}

int lbx_sticky_url_param(const char *url, size_t url_len, const char *name,
                         size_t name_len, int scolon_delim,
                         struct lbx_span *value)
{
    struct search s;
    size_t len, at;

    if (!search_init(&s, url, url_len, name, name_len)) {
        return not_found(value);
    }
    len = s.len;
    while (search_next(&s, &at)) {
        size_t p = at + s.nlen; /* the byte right after the name */
        size_t start, end;

        if (p >= len) {
            break; /* stock would now search beyond its NUL */
        }
        if (url[p] != '=') {
            /* Stock resumes at p + 1, not at + 1: an occurrence that overlaps
             * the tail of this one (`routeidrouteid=`) is never seen. */
            s.from = p + 1;
            continue;
        }
        if (p + 1 >= len) {
            break; /* `name=` at the very end: no value */
        }

        /* The first `name=` with a byte after it decides, whatever follows:
         * stock hands the rest to apr_strtok(), which skips leading
         * delimiters and returns NULL when nothing else is left. */
        start = p + 1;
        while (start < len && is_url_delim(url[start], scolon_delim)) {
            start++;
        }
        if (start == len) {
            break;
        }
        end = start + 1;
        while (end < len && !is_url_delim(url[end], scolon_delim)) {
            end++;
        }
        return found(value, url + start, end - start);
    }
    return not_found(value);
}

int lbx_sticky_cookie(const char *header, size_t header_len, const char *name,
                      size_t name_len, struct lbx_span *value)
{
    struct search s;
    size_t at;

    if (!search_init(&s, header, header_len, name, name_len)) {
        return not_found(value);
    }
    while (search_next(&s, &at)) {
        size_t c;

        /* Only a whole cookie name counts: `XJSESSIONID` is not
         * `JSESSIONID`.  Stock then retries one byte further on. */
        if (at > 0 && header[at - 1] != ';' && header[at - 1] != ','
            && !is_space(header[at - 1])) {
            s.from = at + 1;
            continue;
        }

        c = at + s.nlen;
        while (c < s.len && is_space(header[c])) {
            c++;
        }
        if (c + 1 < s.len && header[c] == '=') {
            /* Stock cuts the value at the first `;`, then at the first `,`
             * of what is left: together, at whichever comes first. */
            size_t end = c + 1;

            while (end < s.len && header[end] != ';' && header[end] != ',') {
                end++;
            }
            return found(value, header + c + 1, end - (c + 1));
        }

        /* Stock's `*p++ == '='` test leaves p one past the compared byte c,
         * and its next strstr() starts at p + 1.  So `ROUTEID ROUTEID=a`
         * skips the second name.  Past the end, find() gives up, where stock
         * would have read beyond its terminator. */
        s.from = c + 2;
    }
    return not_found(value);
}

int lbx_sticky_route(struct lbx_span value, char sep, struct lbx_span *route)
{
    size_t len = span_len(value.ptr, value.len);
    const char *s;

    if (value.ptr == NULL) {
        return not_found(route);
    }
    if (sep == '\0') {
        /* stickysessionsep=Off: the whole value names the route. */
        return found(route, value.ptr, len);
    }
    s = memchr(value.ptr, (unsigned char)sep, len);
    if (s == NULL) {
        return not_found(route);
    }
    s++;
    return found(route, s, len - (size_t)(s - value.ptr));
}
