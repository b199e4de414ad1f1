/* cookie_core.h: the parts of mod_lbx's own route cookie that need no
 * httpd: the route a member without route= gets, whether a backend's
 * Set-Cookie already sets the cookie, and which bytes may go into a
 * cookie.  cookie.c is the glue. */
#ifndef LBX_COOKIE_CORE_H
#define LBX_COOKIE_CORE_H

#include <stddef.h>

/* "r" and 12 base-32 digits (lower case, a-z and 2-7) of a 64-bit hash
 * of the member's name: the same on every restart and front-end that has
 * the member, and distinct for distinct names but for hash collisions
 * (60 bits).  `out` gets LBX_ROUTE_GEN_LEN characters and a NUL. */
#define LBX_ROUTE_GEN_LEN 13
void lbx_route_from_name(const char *name, size_t len, char *out);

/* Whether the Set-Cookie header value v (len bytes) sets the cookie
 * `name`: its name, the bytes before the first '=' with spaces and tabs
 * around them dropped, equals `name` exactly (browsers compare cookie
 * names case-sensitively).  A value without '=' sets no named cookie. */
int lbx_set_cookie_sets(const char *v, size_t len, const char *name,
                        size_t name_len);

/* RFC 6265 cookie-name (an RFC 7230 token): 1 or more of the visible
 * ASCII characters but separators. */
int lbx_cookie_name_ok(const char *s);

/* A cookie value or an attribute value (Path, Domain) mod_lbx writes:
 * 1 to 255 visible ASCII characters without ';', ',', '"', '\\' or
 * space, so the header cannot be split or extended by it. */
int lbx_cookie_value_ok(const char *s);

#endif
