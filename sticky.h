/* sticky.h: sticky-session route parsing, free of httpd and APR.
 *
 * Every function works on (pointer, length) input and answers with spans that
 * point into that input: no copies, no allocation.  An input span ends at its
 * length or at the first NUL byte, whichever comes first, because stock
 * mod_proxy_balancer works on C strings and a NUL ends its search too.
 */
#ifndef LBX_STICKY_H
#define LBX_STICKY_H

#include <stddef.h>

struct lbx_span {
    const char *ptr;
    size_t len;
};

/* Look for `name=value` in a URL (path, then `?` and the query string).
 *
 * Stock semantics, kept on purpose: `name` is found by plain substring search
 * (so `xrouteid=` matches `routeid`, and `;jsessionid=` in a path segment
 * counts); the first occurrence followed by `=` and at least one more byte
 * decides.  The value then starts after any run of delimiters and ends at the
 * next delimiter or the end; delimiters are `?` and `&`, plus `;` when
 * `scolon_delim` is set.  If only delimiters follow the `=`, there is no value
 * and the search stops (stock's apr_strtok returns NULL there).  After a
 * non-matching occurrence the next substring search starts one byte after the
 * byte that follows the name (stock's `strstr(p + 1, name)` with p just past
 * the name), so `routeidrouteid=a.b` does not match; a search never reads past
 * the input.
 *
 * Returns 1 and fills *value (len > 0) when found, 0 otherwise. */
int lbx_sticky_url_param(const char *url, size_t url_len, const char *name,
                         size_t name_len, int scolon_delim,
                         struct lbx_span *value);

/* Look for cookie `name` in one Cookie request header value.
 *
 * Stock semantics: an occurrence counts only at the start of the header or
 * right after `;`, `,` or white space; white space may precede `=`; the byte
 * after `=` must exist (not the end); the value runs to the first `;` or `,`
 * (spaces kept, no unquoting) and may therefore be empty.  A non-matching
 * occurrence resumes the search where stock does: one byte after the byte
 * following the byte it compared with `=` (so `ROUTEID ROUTEID=a.b` finds
 * nothing); a search never reads past the input.
 *
 * Returns 1 and fills *value (len may be 0) when found, 0 otherwise. */
int lbx_sticky_cookie(const char *header, size_t header_len, const char *name,
                      size_t name_len, struct lbx_span *value);

/* Split the route off a sticky value.
 *
 * With separator `sep` (stock default '.'), the route is everything after the
 * first `sep`; a value without `sep` has no route at all (returns 0).  With
 * sep == 0 (stickysessionsep=Off) the whole value is the route.  The route may
 * be empty (`abc.`): stock then balances normally but still reports the
 * session variables.  Returns 1 and fills *route, or 0. */
int lbx_sticky_route(struct lbx_span value, char sep, struct lbx_span *route);

#endif
