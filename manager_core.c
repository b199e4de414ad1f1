/* manager_core.c: balancer-manager input parsing and validation (see
 * manager_core.h).  No httpd, no APR, no allocation. */
#include <stdio.h>
#include <string.h>

#include "manager_core.h"
#include "lbx_text.h"

/* %XX-decode in place.  Invalid escapes and %00 stay as they are: a NUL
 * would silently cut the value short. */
static void unescape(char *s)
{
    char *out = s;

    while (*s) {
        int hi, lo;
        if (s[0] == '%' && (hi = lbx_hexval(s[1])) >= 0
            && (lo = lbx_hexval(s[2])) >= 0 && (hi | lo) != 0) {
            *out++ = (char)(hi * 16 + lo);
            s += 3;
        }
        else {
            *out++ = *s++;
        }
    }
    *out = '\0';
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

/* Whole string is an integer in [lo, hi]. */
static int parse_int(const char *s, long lo, long hi, int *out)
{
    long v = 0;
    int neg = 0;

    if (*s == '-') {
        neg = 1;
        s++;
    }
    if (!*s) {
        return -1;
    }
    for (; *s; s++) {
        if (*s < '0' || *s > '9') {
            return -1;
        }
        v = v * 10 + (*s - '0');
        if (v > 1000000000L) {
            return -1;
        }
    }
    if (neg) {
        v = -v;
    }
    if (v < lo || v > hi) {
        return -1;
    }
    *out = (int)v;
    return 0;
}

/* A decimal like "1", "2.5", "0.75": value x100, truncated as stock. */
static int parse_factor(const char *s, int *x100)
{
    long whole = 0, frac = 0;
    int digits = 0, fdigits = 0;

    for (; *s >= '0' && *s <= '9'; s++) {
        whole = whole * 10 + (*s - '0');
        if (whole > 1000000L) {
            return -1;
        }
        digits++;
    }
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
    *x100 = (int)(whole * 100 + frac);
    return 0;
}

int lbx_mgr_parse_time(const char *s, const char *unit_default, int64_t *us)
{
    int64_t v = 0;
    const char *unit;
    int digits = 0;

    for (; *s >= '0' && *s <= '9'; s++) {
        v = v * 10 + (*s - '0');
        if (v > 100000000000LL) {
            return -1;
        }
        digits++;
    }
    if (!digits) {
        return -1;
    }
    unit = *s ? s : unit_default;
    if (!strcmp(unit, "ms")) {
        *us = v * 1000;
    }
    else if (!strcmp(unit, "s")) {
        *us = v * 1000000;
    }
    else if (!strcmp(unit, "mi")) {
        *us = v * 60 * 1000000;
    }
    else if (!strcmp(unit, "hr")) {
        *us = v * 3600 * 1000000;
    }
    else {
        return -1;
    }
    return 0;
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

const char *lbx_mgr_worker_edit(const struct lbx_mgr_param *p, int n,
                                struct lbx_mgr_worker_edit *e,
                                char *errbuf, size_t errlen)
{
    const char *v, *err;
    int i;

    memset(e, 0, sizeof(*e));
    memset(e->flag, -1, sizeof(e->flag));
    if ((v = lbx_mgr_get(p, n, "w_lf"))) {
        if (parse_factor(v, &e->lbfactor) || e->lbfactor < 100
            || e->lbfactor > 10000) {
            return bad(errbuf, errlen, "w_lf", v, "a load factor 1 to 100");
        }
        e->set |= LBX_MW_LBFACTOR;
    }
    if ((v = lbx_mgr_get(p, n, "w_wr"))) {
        if ((err = text_field("w_wr", v, e->route, sizeof(e->route), errbuf,
                              errlen))) {
            return err;
        }
        e->set |= LBX_MW_ROUTE;
    }
    if ((v = lbx_mgr_get(p, n, "w_rr"))) {
        if ((err = text_field("w_rr", v, e->redirect, sizeof(e->redirect),
                              errbuf, errlen))) {
            return err;
        }
        e->set |= LBX_MW_REDIRECT;
    }
    for (i = 0; i < 7; i++) {
        char key[] = "w_status_X";
        int on;
        key[9] = LBX_MGR_FLAGS[i];
        if ((v = lbx_mgr_get(p, n, key))) {
            if (parse_int(v, -1000000, 1000000, &on)) {
                return bad(errbuf, errlen, key, v, "1 to set, 0 to clear");
            }
            e->flag[i] = on != 0;
        }
    }
    if ((v = lbx_mgr_get(p, n, "w_ls"))) {
        if (parse_int(v, 0, 99, &e->lbset)) {
            return bad(errbuf, errlen, "w_ls", v, "an lbset 0 to 99");
        }
        e->set |= LBX_MW_LBSET;
    }
    if ((v = lbx_mgr_get(p, n, "w_hi"))) {
        if (lbx_mgr_parse_time(v, "ms", &e->interval_us)
            || e->interval_us < 100000) {
            return bad(errbuf, errlen, "w_hi", v, "an interval of 100ms or "
                       "more");
        }
        e->set |= LBX_MW_INTERVAL;
    }
    /* Ranges are the configuration's, so a form showing a configured value
     * can always be sent back unchanged. */
    if ((v = lbx_mgr_get(p, n, "w_hp"))) {
        if (parse_int(v, 0, 1000000, &e->passes)) {
            return bad(errbuf, errlen, "w_hp", v, "a number of passes >= 0");
        }
        e->set |= LBX_MW_PASSES;
    }
    if ((v = lbx_mgr_get(p, n, "w_hf"))) {
        if (parse_int(v, 0, 1000000, &e->fails)) {
            return bad(errbuf, errlen, "w_hf", v, "a number of fails >= 0");
        }
        e->set |= LBX_MW_FAILS;
    }
    if ((v = lbx_mgr_get(p, n, "w_hm"))) {
        if (!*v || (err = text_field("w_hm", v, e->method, sizeof(e->method),
                                     errbuf, errlen))) {
            return *v ? err : bad(errbuf, errlen, "w_hm", v, "a method");
        }
        e->set |= LBX_MW_METHOD;
    }
    if ((v = lbx_mgr_get(p, n, "w_hu"))) {
        if ((err = text_field("w_hu", v, e->hcuri, sizeof(e->hcuri), errbuf,
                              errlen))) {
            return err;
        }
        e->set |= LBX_MW_HCURI;
    }
    if ((v = lbx_mgr_get(p, n, "w_he"))) {
        if ((err = text_field("w_he", v, e->hcexpr, sizeof(e->hcexpr), errbuf,
                              errlen))) {
            return err;
        }
        e->set |= LBX_MW_HCEXPR;
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
                                  struct lbx_mgr_balancer_edit *e,
                                  char *errbuf, size_t errlen)
{
    const char *v;

    memset(e, 0, sizeof(*e));
    if ((v = lbx_mgr_get(p, n, "b_lbm"))) {
        if (!*v || strlen(v) >= sizeof(e->lbmethod) - 1) {
            return bad(errbuf, errlen, "b_lbm", v, "an lbmethod name");
        }
        strcpy(e->lbmethod, v);
        e->set |= LBX_MB_LBMETHOD;
    }
    if ((v = lbx_mgr_get(p, n, "b_tmo"))) {
        if (parse_int(v, 0, 100000000, &e->timeout_s)) {
            return bad(errbuf, errlen, "b_tmo", v, "seconds >= 0");
        }
        e->set |= LBX_MB_TIMEOUT;
    }
    if ((v = lbx_mgr_get(p, n, "b_max"))) {
        if (parse_int(v, 0, 1000000, &e->max_attempts)) {
            return bad(errbuf, errlen, "b_max", v, "attempts >= 0");
        }
        e->set |= LBX_MB_MAXATTEMPTS;
    }
    if ((v = lbx_mgr_get(p, n, "b_sforce"))) {
        if (parse_int(v, -1000000, 1000000, &e->sticky_force)) {
            return bad(errbuf, errlen, "b_sforce", v, "1 for On, 0 for Off");
        }
        e->sticky_force = e->sticky_force != 0;
        e->set |= LBX_MB_STICKYFORCE;
    }
    /* An empty b_ss changes nothing, as in stock; "-" removes stickiness. */
    if ((v = lbx_mgr_get(p, n, "b_ss")) && *v) {
        const char *bar = strchr(v, '|');
        size_t cookie_len = bar ? (size_t)(bar - v) : strlen(v);
        if (cookie_len >= sizeof(e->sticky)
            || (bar && strlen(bar + 1) >= sizeof(e->sticky_path))) {
            return bad(errbuf, errlen, "b_ss", v, "names of at most 63 "
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
