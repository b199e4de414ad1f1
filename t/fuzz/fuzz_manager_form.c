/* libFuzzer target for the balancer-manager form parser (manager_core.c),
 * also linked into t/fuzz/replay_manager_form.
 *
 * The whole input is a query string or POST body.  The parser works in
 * place on a C string, so the input is copied into a heap buffer of exactly
 * its size plus the NUL (ASan then reports any access past it).  After the
 * parse, the lookups, the filter and both validators run over the result,
 * and the target checks what manager.c relies on: a count within the
 * limit, nothing written past the limit, every key and value a
 * NUL-terminated string inside the buffer, validated fields within the
 * ranges manager_core.h promises, and error messages that fit their
 * buffer. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "manager_core.h"
#include "fuzz_check.h"

/* Small, so "too many pairs" is easy to reach. */
#define MAX_PARAMS 8
#define ERR_LEN 96

static const char *const allowed[] = { "b", "w", "nonce", "xml", NULL };
static const char *const lookups[] = { "b",       "w",    "nonce", "xml",
                                       "format",  "w_lf", "w_hi",  "b_ss",
                                       "b_nwrkr", "",     NULL };

/* s lies inside [buf, buf + size] and its NUL does too. */
static void check_string(const char *buf, size_t size, const char *s)
{
    FUZZ_CHECK(s >= buf && s <= buf + size);
    FUZZ_CHECK(memchr(s, '\0', (size_t)(buf + size - s) + 1) != NULL);
}

/* A fixed-size field holds a NUL-terminated string. */
static void check_field(const char *field, size_t size)
{
    FUZZ_CHECK(memchr(field, '\0', size) != NULL);
}

static void check_error(const char *msg, const char *errbuf)
{
    if (msg) {
        FUZZ_CHECK(msg == errbuf);
        FUZZ_CHECK(memchr(errbuf, '\0', ERR_LEN) != NULL);
    }
}

static void check_worker(const struct lbx_mgr_param *p, int n, char *errbuf)
{
    struct lbx_mgr_worker_edit e;
    const char *msg = lbx_mgr_worker_edit(p, n, &e, errbuf, ERR_LEN);
    size_t i;

    check_error(msg, errbuf);
    if (msg) {
        return;
    }
    if (e.set & LBX_MW_LBFACTOR) {
        FUZZ_CHECK(e.lbfactor >= 100 && e.lbfactor <= 10000);
    }
    if (e.set & LBX_MW_LBSET) {
        FUZZ_CHECK(e.lbset >= 0 && e.lbset <= 99);
    }
    if (e.set & LBX_MW_INTERVAL) {
        FUZZ_CHECK(e.interval_us >= 100000);
    }
    if (e.set & LBX_MW_PASSES) {
        FUZZ_CHECK(e.passes >= 0);
    }
    if (e.set & LBX_MW_FAILS) {
        FUZZ_CHECK(e.fails >= 0);
    }
    if (e.set & LBX_MW_METHOD) {
        FUZZ_CHECK(e.method[0] != '\0');
    }
    check_field(e.route, sizeof(e.route));
    check_field(e.redirect, sizeof(e.redirect));
    check_field(e.method, sizeof(e.method));
    check_field(e.hcuri, sizeof(e.hcuri));
    check_field(e.hcexpr, sizeof(e.hcexpr));
    for (i = 0; i < sizeof(e.flag); i++) {
        FUZZ_CHECK(e.flag[i] >= -1 && e.flag[i] <= 1);
    }
}

static void check_balancer(const struct lbx_mgr_param *p, int n,
                           const char *buf, size_t size, char *errbuf)
{
    struct lbx_mgr_balancer_edit e;
    const char *msg = lbx_mgr_balancer_edit(p, n, &e, errbuf, ERR_LEN);

    check_error(msg, errbuf);
    if (msg) {
        return;
    }
    if (e.set & LBX_MB_LBMETHOD) {
        FUZZ_CHECK(e.lbmethod[0] != '\0');
    }
    check_field(e.lbmethod, sizeof(e.lbmethod));
    check_field(e.sticky, sizeof(e.sticky));
    check_field(e.sticky_path, sizeof(e.sticky_path));
    FUZZ_CHECK(e.timeout_s >= 0 && e.max_attempts >= 0);
    FUZZ_CHECK(e.sticky_force == 0 || e.sticky_force == 1);
    if (e.set & LBX_MB_ADD) {
        check_string(buf, size, e.new_member);
        FUZZ_CHECK(e.new_member[0] != '\0' && strlen(e.new_member) < 512);
    }
    else {
        FUZZ_CHECK(e.new_member == NULL);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* One slot more than the limit: the parser must never touch it. */
    struct lbx_mgr_param params[MAX_PARAMS + 1], kept[MAX_PARAMS];
    char *buf = malloc(size + 1);
    char *errbuf = malloc(ERR_LEN);
    const char *const *k;
    int n, nkept, i, j;

    if (!buf || !errbuf) {
        free(buf);
        free(errbuf);
        return 0;
    }
    memcpy(buf, data, size);
    buf[size] = '\0';
    memset(params, 0, sizeof(params));
    n = lbx_mgr_parse_form(buf, params, MAX_PARAMS);
    FUZZ_CHECK(n >= -1 && n <= MAX_PARAMS);
    FUZZ_CHECK(params[MAX_PARAMS].key == NULL
               && params[MAX_PARAMS].val == NULL);
    if (n < 0) {
        goto leave;
    }
    {
        /* Pairs are split at '&' (up to the first NUL): no more pairs
         * than pieces. */
        const uint8_t *end = memchr(data, '\0', size);
        size_t len = end ? (size_t)(end - data) : size, amps = 0, c;

        for (c = 0; c < len; c++) {
            amps += data[c] == '&';
        }
        FUZZ_CHECK((size_t)n <= amps + 1);
    }
    for (i = 0; i < n; i++) {
        check_string(buf, size, params[i].key);
        check_string(buf, size, params[i].val);
    }
    for (k = lookups; *k; k++) {
        const char *v = lbx_mgr_get(params, n, *k);
        if (v) {
            /* The last pair of that name. */
            for (i = n - 1; i >= 0 && strcmp(params[i].key, *k) != 0; i--) {
            }
            FUZZ_CHECK(i >= 0 && v == params[i].val);
        }
        else {
            for (i = 0; i < n; i++) {
                FUZZ_CHECK(strcmp(params[i].key, *k) != 0);
            }
        }
    }
    {
        const char *nonce = lbx_mgr_get(params, n, "nonce");
        if (nonce) {
            FUZZ_CHECK(lbx_mgr_secret_eq(nonce, nonce));
            FUZZ_CHECK(lbx_mgr_secret_eq("0a6c2f3e", nonce)
                       == (strcmp("0a6c2f3e", nonce) == 0));
        }
    }
    for (i = 0; i < n; i++) {
        int64_t us;
        if (lbx_mgr_parse_time(params[i].val, "ms", &us) == 0) {
            FUZZ_CHECK(us >= 0);
        }
    }
    check_worker(params, n, errbuf);
    check_balancer(params, n, buf, size, errbuf);

    /* The filter keeps the allowed pairs, in order. */
    memcpy(kept, params, (size_t)n * sizeof(params[0]));
    nkept = lbx_mgr_filter(kept, n, allowed);
    FUZZ_CHECK(nkept >= 0 && nkept <= n);
    for (i = 0, j = 0; i < n; i++) {
        for (k = allowed; *k && strcmp(params[i].key, *k) != 0; k++) {
        }
        if (*k) {
            FUZZ_CHECK(j < nkept && kept[j].key == params[i].key
                       && kept[j].val == params[i].val);
            j++;
        }
    }
    FUZZ_CHECK(j == nkept);
    check_worker(kept, nkept, errbuf);
    check_balancer(kept, nkept, buf, size, errbuf);
leave:
    free(buf);
    free(errbuf);
    return 0;
}
