/* hcheck_core.h: the parts of health checking that need no httpd: the
 * pass/fail counting, the check URL, expression names and the parsing of
 * the backend's answer.  hcheck.c is the glue around them. */
#ifndef LBX_HCHECK_CORE_H
#define LBX_HCHECK_CORE_H

#include <stddef.h>

/* What a check result does to a member. */
enum lbx_hc_change {
    LBX_HC_NO_CHANGE = 0,
    LBX_HC_ENABLE,      /* clear hc-failed and in-error */
    LBX_HC_DISABLE      /* set hc-failed */
};

struct lbx_hc_counts {
    int pcount;         /* passes seen while the member is out */
    int fcount;         /* failures seen while the member is in */
};

/* One check result.  `out`: the member is hc-failed or in error now.
 * Stock's counting, kept on purpose: a member that is out comes back
 * after `passes` successes and a member that is in goes out after `fails`
 * failures, and neither count is reset by a result of the other kind, so
 * they need not be consecutive (the documentation says they must be). */
enum lbx_hc_change lbx_hc_step(struct lbx_hc_counts *c, int out, int ok,
                               int passes, int fails);

/* The path a GET/HEAD check asks for: the member URL's path and hcuri
 * joined by exactly one '/', always starting with '/'.  (Stock inserts a
 * '/' even when hcuri already starts with one, giving "/app//status", and
 * sends a relative hcuri as it is, "GET status HTTP/1.0", for a member
 * without a path.)
 * Writes a NUL-terminated string; returns its length, or 0 if it does not
 * fit in outlen. */
size_t lbx_hc_join_path(const char *member_path, const char *hcuri,
                        char *out, size_t outlen);

/* Expression and template names: 1 to 15 characters (they are stored in
 * the 16-byte hcexpr field). */
#define LBX_HC_NAME_MAX 15
int lbx_hc_name_ok(const char *name);
/* Index of `name` among names[0..n-1], compared case-insensitively as
 * stock does, or -1. */
int lbx_hc_name_find(const char *const *names, size_t n, const char *name);

/* The head of an HTTP response: "HTTP/1.x NNN ...\r\n" then header lines
 * up to an empty line.  Returns the length of the head including the
 * empty line once it is complete, 0 if more bytes are needed, -1 if the
 * bytes cannot be an HTTP response head.  Fills *status. */
long lbx_hc_parse_head(const char *buf, size_t len, int *status);

/* Iterate header lines of a complete head: *pos starts at 0; each call
 * gives the next name/value (value without surrounding blanks) and returns
 * 1, or 0 at the end.  Lines without ':' are skipped. */
int lbx_hc_next_header(const char *head, size_t head_len, size_t *pos,
                       const char **name, size_t *name_len,
                       const char **value, size_t *value_len);

/* Decode a chunked body in place: `buf` holds what was read after the
 * head.  Returns the decoded length and sets *complete when the last
 * chunk was seen; stops at what is there (a cut body decodes partly). */
size_t lbx_hc_dechunk(char *buf, size_t len, int *complete);

#endif
