/* manager_core.c: balancer-manager input parsing and validation (see
 * manager_core.h).  No httpd, no APR, no allocation. */
#include <stdio.h>
#include <string.h>

#include "manager_core.h"
#include "lbx_text.h"

/* %XX-decode a C string in place.  Invalid escapes and %00 stay as they
 * are: a NUL would silently cut the value short. */
static void unescape(char *s)
{
    s[lbx_pct_decode(s, strlen(s), s)] = '\0';
}

int lbx_mgr_parse_form(char *buf, struct lbx_mgr_param *out, int max)
{
    int n = 0;
    char *pair = buf;

    while (pair && *pair) {
        char *next = strchr(pair, '&');
        char *eq;

        if (next) {
            *next++ = '\0';
        }
        if (*pair) {
            if (n == max) {
                return -1;
            }
            eq = strchr(pair, '=');
            if (eq) {
                *eq++ = '\0';
            }
            else {
                eq = pair + strlen(pair);
            }
            unescape(pair);
            /* Twice, as stock: links on the page escape member URLs twice. */
            unescape(eq);
            unescape(eq);
            out[n].key = pair;
            out[n].val = eq;
            n++;
        }
        pair = next;
    }
    return n;
}

const char *lbx_mgr_get(const struct lbx_mgr_param *p, int n, const char *key)
{
    const char *found = NULL;
    int i;

    for (i = 0; i < n; i++) {
        if (strcmp(p[i].key, key) == 0) {
            found = p[i].val;
        }
    }
    return found;
}

int lbx_mgr_filter(struct lbx_mgr_param *p, int n, const char *const *allowed)
{
    int i, kept = 0;

    for (i = 0; i < n; i++) {
        const char *const *a;
        for (a = allowed; *a; a++) {
            if (strcmp(p[i].key, *a) == 0) {
                p[kept++] = p[i];
                break;
            }
        }
    }
    return kept;
}

int lbx_mgr_secret_eq(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b), i;
    unsigned char diff = (unsigned char)(la != lb);

    /* Time depends on the length of b (the guess) only. */
    for (i = 0; i < lb; i++) {
        diff |= (unsigned char)(b[i] ^ (i < la ? a[i] : 0));
    }
    return diff == 0;
}

/* Whole string is an integer in [lo, hi], optionally after one '-'.
 * Magnitudes above 10^9 are refused whatever the range, so the value
 * always fits an int. */
static int parse_int(const char *s, long lo, long hi, int *out)
{
    uint64_t mag;
    long v;
    int neg = *s == '-';

    if (lbx_parse_uint(s + neg, strlen(s + neg), 1000000000u, &mag)) {
        return -1;
    }
    v = neg ? -(long)mag : (long)mag;
    if (v < lo || v > hi) {
        return -1;
    }
    *out = (int)v;
    return 0;
}

/* A decimal like "1", "2.5", "0.75": value x100, truncated as stock. */
static int parse_factor(const char *s, int *x100)
{
    size_t digits = strspn(s, "0123456789");
    uint64_t whole = 0;
    long frac = 0;
    int fdigits = 0;

    if (digits && lbx_parse_uint(s, digits, 1000000u, &whole)) {
        return -1;
    }
    s += digits;
    if (*s == '.') {
        for (s++; *s >= '0' && *s <= '9'; s++) {
            if (fdigits < 2) {
                frac = frac * 10 + (*s - '0');
            }
            fdigits++;
        }
        if (fdigits == 1) {
            frac *= 10;
        }
    }
    if (*s || (!digits && !fdigits)) {
        return -1;
    }
    *x100 = (int)((long)whole * 100 + frac);
    return 0;
}

int lbx_mgr_parse_time(const char *s, const char *unit_default, int64_t *us)
{
    static const struct {
        const char *name;
        uint64_t us;
    } units[] = { { "ms", 1000u },
                  { "s", 1000000u },
                  { "mi", 60000000u },
                  { "hr", 3600000000u } };
    size_t digits = strspn(s, "0123456789"), i;
    const char *unit = s[digits] ? s + digits : unit_default;
    uint64_t v, max = 100000000000u;

    for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (strcmp(unit, units[i].name) == 0) {
            /* The product must fit an int64_t: 10^11 hours would not. */
            if (max > INT64_MAX / units[i].us) {
                max = INT64_MAX / units[i].us;
            }
            if (lbx_parse_uint(s, digits, max, &v)) {
                return -1;
            }
            *us = (int64_t)(v * units[i].us);
            return 0;
        }
    }
    return -1;
}

static const char *bad(char *errbuf, size_t errlen, const char *key,
                       const char *val, const char *why)
{
    snprintf(errbuf, errlen, "%s: %.80s%s (%s)", key, val,
             strlen(val) > 80 ? "..." : "", why);
    return errbuf;
}

/* A text field: empty clears it (as stock); too long is refused. */
static const char *text_field(const char *key, const char *val, char *dst,
                              size_t size, char *errbuf, size_t errlen)
{
    if (strlen(val) >= size) {
        char why[48];
        snprintf(why, sizeof(why), "at most %u characters",
                 (unsigned)(size - 1));
        return bad(errbuf, errlen, key, val, why);
    }
    strcpy(dst, val);
    return NULL;
}

/* A text parameter `key`, when present, into dst (room for size); sets
 * `bit` in *set.  NULL or the message. */
static const char *text_param(const struct lbx_mgr_param *p, int n,
                              const char *key, char *dst, size_t size,
                              unsigned bit, unsigned *set, char *errbuf,
                              size_t errlen)
{
    const char *v = lbx_mgr_get(p, n, key);

    if (!v) {
        return NULL;
    }
    *set |= bit;
    return text_field(key, v, dst, size, errbuf, errlen);
}

/* An integer parameter `key` in [lo, hi], when present, into *out; sets
 * `bit` in *set.  NULL or the message, naming the range as `why`. */
static const char *int_param(const struct lbx_mgr_param *p, int n,
                             const char *key, long lo, long hi, int *out,
                             unsigned bit, unsigned *set, const char *why,
                             char *errbuf, size_t errlen)
{
    const char *v = lbx_mgr_get(p, n, key);

    if (!v) {
        return NULL;
    }
    if (parse_int(v, lo, hi, out)) {
        return bad(errbuf, errlen, key, v, why);
    }
    *set |= bit;
    return NULL;
}

/* The w_status_<flag> parameters, each 1 to set or 0 to clear. */
static const char *flag_params(const struct lbx_mgr_param *p, int n,
                               struct lbx_mgr_worker_edit *e, char *errbuf,
                               size_t errlen)
{
    int i;

    for (i = 0; i < 7; i++) {
        char key[] = "w_status_X";
        const char *v;
        int on;
        key[9] = LBX_MGR_FLAGS[i];
        if ((v = lbx_mgr_get(p, n, key))) {
            if (parse_int(v, -1000000, 1000000, &on)) {
                return bad(errbuf, errlen, key, v, "1 to set, 0 to clear");
            }
            e->flag[i] = on != 0;
        }
    }
    return NULL;
}

/* The health-check parameters.  Ranges are the configuration's, so a form
 * showing a configured value can always be sent back unchanged. */
static const char *hc_params(const struct lbx_mgr_param *p, int n,
                             struct lbx_mgr_worker_edit *e, char *errbuf,
                             size_t errlen)
{
    const char *v, *err;

    if ((v = lbx_mgr_get(p, n, "w_hi"))) {
        if (lbx_mgr_parse_time(v, "ms", &e->interval_us)
            || e->interval_us < LBX_HC_INTERVAL_MIN_MS * 1000) {
            char why[40];
            snprintf(why, sizeof(why), "an interval of %dms or more",
                     LBX_HC_INTERVAL_MIN_MS);
            return bad(errbuf, errlen, "w_hi", v, why);
        }
        e->set |= LBX_MW_INTERVAL;
    }
    if ((err = int_param(p, n, "w_hp", 0, LBX_HC_COUNT_MAX, &e->passes,
                         LBX_MW_PASSES, &e->set, "a number of passes >= 0",
                         errbuf, errlen))
        || (err = int_param(p, n, "w_hf", 0, LBX_HC_COUNT_MAX, &e->fails,
                            LBX_MW_FAILS, &e->set, "a number of fails >= 0",
                            errbuf, errlen))) {
        return err;
    }
    if ((v = lbx_mgr_get(p, n, "w_hm")) && !*v) {
        return bad(errbuf, errlen, "w_hm", v, "a method");
    }
    if ((err = text_param(p, n, "w_hm", e->method, sizeof(e->method),
                          LBX_MW_METHOD, &e->set, errbuf, errlen))
        || (err = text_param(p, n, "w_hu", e->hcuri, sizeof(e->hcuri),
                             LBX_MW_HCURI, &e->set, errbuf, errlen))) {
        return err;
    }
    return text_param(p, n, "w_he", e->hcexpr, sizeof(e->hcexpr), LBX_MW_HCEXPR,
                      &e->set, errbuf, errlen);
}

const char *lbx_mgr_worker_edit(const struct lbx_mgr_param *p, int n,
                                struct lbx_mgr_worker_edit *e, char *errbuf,
                                size_t errlen)
{
    const char *v, *err;

    memset(e, 0, sizeof(*e));
    memset(e->flag, -1, sizeof(e->flag));
    if ((v = lbx_mgr_get(p, n, "w_lf"))) {
        if (parse_factor(v, &e->lbfactor) || e->lbfactor < 100
            || e->lbfactor > 10000) {
            return bad(errbuf, errlen, "w_lf", v, "a load factor 1 to 100");
        }
        e->set |= LBX_MW_LBFACTOR;
    }
    if ((err = text_param(p, n, "w_wr", e->route, sizeof(e->route),
                          LBX_MW_ROUTE, &e->set, errbuf, errlen))
        || (err = text_param(p, n, "w_rr", e->redirect, sizeof(e->redirect),
                             LBX_MW_REDIRECT, &e->set, errbuf, errlen))
        || (err = flag_params(p, n, e, errbuf, errlen))
        || (err = int_param(p, n, "w_ls", 0, 99, &e->lbset, LBX_MW_LBSET,
                            &e->set, "an lbset 0 to 99", errbuf, errlen))
        || (err = hc_params(p, n, e, errbuf, errlen))) {
        return err;
    }
    if ((v = lbx_mgr_get(p, n, "w_remove"))) {
        if (strcmp(v, "1") != 0) {
            return bad(errbuf, errlen, "w_remove", v, "1 to remove");
        }
        e->set |= LBX_MW_REMOVE;
    }
    return NULL;
}

const char *lbx_mgr_balancer_edit(const struct lbx_mgr_param *p, int n,
                                  struct lbx_mgr_balancer_edit *e, char *errbuf,
                                  size_t errlen)
{
    const char *v, *err;

    memset(e, 0, sizeof(*e));
    if ((v = lbx_mgr_get(p, n, "b_lbm"))) {
        if (!*v || strlen(v) >= sizeof(e->lbmethod) - 1) {
            return bad(errbuf, errlen, "b_lbm", v, "an lbmethod name");
        }
        strcpy(e->lbmethod, v);
        e->set |= LBX_MB_LBMETHOD;
    }
    if ((err =
             int_param(p, n, "b_tmo", 0, 100000000, &e->timeout_s,
                       LBX_MB_TIMEOUT, &e->set, "seconds >= 0", errbuf, errlen))
        || (err = int_param(p, n, "b_max", 0, 1000000, &e->max_attempts,
                            LBX_MB_MAXATTEMPTS, &e->set, "attempts >= 0",
                            errbuf, errlen))
        || (err = int_param(p, n, "b_sforce", -1000000, 1000000,
                            &e->sticky_force, LBX_MB_STICKYFORCE, &e->set,
                            "1 for On, 0 for Off", errbuf, errlen))) {
        return err;
    }
    e->sticky_force = e->sticky_force != 0;
    /* An empty b_ss changes nothing, as in stock; "-" removes stickiness. */
    if ((v = lbx_mgr_get(p, n, "b_ss")) && *v) {
        const char *bar = strchr(v, '|');
        size_t cookie_len = bar ? (size_t)(bar - v) : strlen(v);
        if (cookie_len >= sizeof(e->sticky)
            || (bar && strlen(bar + 1) >= sizeof(e->sticky_path))) {
            return bad(errbuf, errlen, "b_ss", v,
                       "names of at most 63 "
                       "characters");
        }
        if (strcmp(v, "-") != 0) {
            if (bar) {
                memcpy(e->sticky, v, (size_t)(bar - v));
                e->sticky[bar - v] = '\0';
                strcpy(e->sticky_path, bar + 1);
            }
            else {
                strcpy(e->sticky, v);
                strcpy(e->sticky_path, v);
            }
        }
        e->set |= LBX_MB_STICKY;
    }
    if ((v = lbx_mgr_get(p, n, "b_nwrkr")) && *v) {
        const char *yes = lbx_mgr_get(p, n, "b_wyes");
        if (yes && strcmp(yes, "1") == 0) {
            if (strlen(v) >= 512) {
                return bad(errbuf, errlen, "b_nwrkr", v, "URL too long");
            }
            e->new_member = v;
            e->set |= LBX_MB_ADD;
        }
    }
    return NULL;
}
