/* hcheck_core.h: the parts of health checking that need no httpd: the
 * pass/fail counting, the check URL and expression names.  The backend's
 * answer is framed and parsed by hcheck_frame.h.  hcheck.c is the glue
 * around them. */
#ifndef LBX_HCHECK_CORE_H
#define LBX_HCHECK_CORE_H

#include <stddef.h>

/* What a check result does to a member. */
enum lbx_hc_change {
    LBX_HC_NO_CHANGE = 0,
    LBX_HC_ENABLE, /* clear hc-failed and in-error */
    LBX_HC_DISABLE /* set hc-failed */
};

struct lbx_hc_counts {
    int pcount; /* passes seen while the member is out */
    int fcount; /* failures seen while the member is in */
};

/* One check result.  `out`: the member is hc-failed or in error now.
 * Stock's counting, the default: a member that is out comes back after
 * `passes` successes and a member that is in goes out after `fails`
 * failures, and neither count is reset by a result of the other kind, so
 * they need not be consecutive (the documentation says they must be).
 * With `consecutive`, a result of the other kind resets the count: the
 * passes or failures must come in a row. */
enum lbx_hc_change lbx_hc_step(struct lbx_hc_counts *c, int out, int ok,
                               int passes, int fails, int consecutive);

/* The path a GET/HEAD check asks for: the member URL's path and hcuri
 * joined by exactly one '/', always starting with '/'.  (Stock inserts a
 * '/' even when hcuri already starts with one, giving "/app//status", and
 * sends a relative hcuri as it is, "GET status HTTP/1.0", for a member
 * without a path.)
 * Writes a NUL-terminated string; returns its length, or 0 if it does not
 * fit in outlen. */
size_t lbx_hc_join_path(const char *member_path, const char *hcuri, char *out,
                        size_t outlen);

/* Expression and template names: 1 to 15 characters (they are stored in
 * the 16-byte hcexpr field). */
#define LBX_HC_NAME_MAX 15

/* The limits of the other hc* settings, wherever they are set (the
 * configuration or the balancer-manager): hcpasses and hcfails, the
 * shortest hcinterval (the watchdog's tick), the room for hcuri (the size
 * of its field in the member's shared record). */
#define LBX_HC_COUNT_MAX 1000000
#define LBX_HC_INTERVAL_MIN_MS 100
#define LBX_HC_URI_SIZE 64
int lbx_hc_name_ok(const char *name);

#endif
