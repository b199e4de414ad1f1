/* manager_core.h: balancer-manager input, parsed and validated without
 * httpd.  manager.c reads the request, calls these, applies the result to
 * shared memory, and renders. */
#ifndef LBX_MANAGER_CORE_H
#define LBX_MANAGER_CORE_H

#include <stddef.h>
#include <stdint.h>

#include "hcheck_core.h"

struct lbx_mgr_param {
    char *key;
    char *val;
};

/* Split an application/x-www-form-urlencoded string, in place, into at
 * most `max` pairs: '&' between pairs, the first '=' between key and
 * value (none: empty value).  Keys are %-decoded once and values twice,
 * as stock does (the page double-escapes member names in its links).
 * Like stock, '+' stays '+'.  Returns the number of pairs, or -1 when
 * there are more than `max`. */
int lbx_mgr_parse_form(char *buf, struct lbx_mgr_param *out, int max);

/* The value of the last pair named `key` (later ones override, as in
 * stock), or NULL. */
const char *lbx_mgr_get(const struct lbx_mgr_param *p, int n, const char *key);

/* Keep only the pairs whose key is in `allowed` (NULL-terminated);
 * returns the new count. */
int lbx_mgr_filter(struct lbx_mgr_param *p, int n, const char *const *allowed);

/* Constant-time string equality (nonces): 1 if equal. */
int lbx_mgr_secret_eq(const char *a, const char *b);

/* The fields a manager request may change: a member's (LBX_MW_) or its
 * balancer's (LBX_MB_).  An edit changes a field only when the field's bit
 * is in its `set`. */
enum {
    LBX_MW_LBFACTOR = 1 << 0,
    LBX_MW_ROUTE = 1 << 1,
    LBX_MW_REDIRECT = 1 << 2,
    LBX_MW_LBSET = 1 << 3,
    LBX_MW_INTERVAL = 1 << 4,
    LBX_MW_PASSES = 1 << 5,
    LBX_MW_FAILS = 1 << 6,
    LBX_MW_METHOD = 1 << 7,
    LBX_MW_HCURI = 1 << 8,
    LBX_MW_HCEXPR = 1 << 9,
    LBX_MW_REMOVE = 1 << 10,
    LBX_MB_LBMETHOD = 1 << 11,
    LBX_MB_TIMEOUT = 1 << 12,
    LBX_MB_MAXATTEMPTS = 1 << 13,
    LBX_MB_STICKYFORCE = 1 << 14,
    LBX_MB_STICKY = 1 << 15,
    LBX_MB_ADD = 1 << 16
};

/* Flags the manager may change, in stock's form order: w_status_<c>. */
#define LBX_MGR_FLAGS "INDHRSC"

struct lbx_mgr_worker_edit {
    unsigned set;
    int lbfactor; /* x100, 100..10000 */
    char route[64];
    char redirect[64];
    int lbset; /* 0..99 */
    int64_t interval_us; /* >= LBX_HC_INTERVAL_MIN_MS */
    int passes, fails; /* 0..LBX_HC_COUNT_MAX, as configured */
    char method[16]; /* a method name; manager.c checks it */
    char hcuri[LBX_HC_URI_SIZE];
    char hcexpr[LBX_HC_NAME_MAX + 1]; /* manager.c checks that it exists */
    signed char flag[7]; /* per LBX_MGR_FLAGS: -1 keep, 0 clear, 1 set */
};

/* Validate the w_* parameters.  Returns NULL, or a message naming the
 * first bad field and value (stock silently ignored bad values and cleared
 * over-long ones; mod_lbx refuses the whole request instead). */
const char *lbx_mgr_worker_edit(const struct lbx_mgr_param *p, int n,
                                struct lbx_mgr_worker_edit *e, char *errbuf,
                                size_t errlen);

struct lbx_mgr_balancer_edit {
    unsigned set;
    char lbmethod[16]; /* < 16 chars; manager.c checks it exists */
    int timeout_s; /* >= 0 */
    int max_attempts; /* >= 0 */
    int sticky_force;
    char sticky[64]; /* cookie name ("" = none) */
    char sticky_path[64]; /* URL parameter name */
    const char *new_member; /* b_nwrkr with b_wyes=1 */
};

const char *lbx_mgr_balancer_edit(const struct lbx_mgr_param *p, int n,
                                  struct lbx_mgr_balancer_edit *e, char *errbuf,
                                  size_t errlen);

/* Stock's time syntax: a number and an optional unit ms, s, mi or hr
 * (default `unit_default`, "ms" or "s").  Returns 0 and the value in
 * microseconds, or -1.  Numbers above 10^11, and times that do not fit an
 * int64_t in microseconds, are refused. */
int lbx_mgr_parse_time(const char *s, const char *unit_default, int64_t *us);

#endif
