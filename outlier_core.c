/* outlier_core.c: ejection, slow start and retry-budget arithmetic (see
 * outlier_core.h). */
#include "outlier_core.h"

uint64_t lbx_eject_duration(uint64_t time_us, uint64_t max_us, uint32_t level)
{
    uint64_t d = time_us;

    if (max_us < time_us) {
        max_us = time_us;
    }
    /* Doubling stops at the cap, so it never overflows. */
    while (level-- > 0 && d < max_us) {
        d = d > max_us / 2 ? max_us : d * 2;
    }
    return d;
}

uint32_t lbx_eject_level(uint32_t level, uint64_t back_for_us,
                         uint64_t sustained_us)
{
    return back_for_us >= sustained_us ? 0 : level;
}

int lbx_eject_allowed(size_t out, size_t size, unsigned max_share_pct)
{
    return ((uint64_t)out + 1) * 100 <= (uint64_t)max_share_pct * size;
}

int lbx_eject_is_failure(int status, int timed_out, int proxy_error,
                         const uint16_t *statuses, size_t n)
{
    size_t i;

    if (timed_out) {
        return 1;
    }
    if (proxy_error && status >= 502 && status <= 504) {
        return 1;
    }
    for (i = 0; i < n; i++) {
        if (statuses[i] == status) {
            return 1;
        }
    }
    return 0;
}

/* A status code at *p: exactly three digits, 400-599. */
static int parse_code(const char **p, unsigned *code)
{
    const char *s = *p;
    unsigned v = 0;
    int i;

    for (i = 0; i < 3; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return 0;
        }
        v = v * 10 + (unsigned)(s[i] - '0');
    }
    if ((s[3] >= '0' && s[3] <= '9') || v < 400 || v > 599) {
        return 0;
    }
    *p = s + 3;
    *code = v;
    return 1;
}

int lbx_eject_parse_statuses(const char *text, uint16_t *out, size_t cap)
{
    const char *p = text;
    size_t n = 0;

    for (;;) {
        unsigned lo, hi, c;

        if (!parse_code(&p, &lo)) {
            return -1;
        }
        hi = lo;
        if (*p == '-') {
            p++;
            if (!parse_code(&p, &hi) || hi < lo) {
                return -1;
            }
        }
        if (hi - lo + 1 > cap - n) {
            return -1;
        }
        for (c = lo; c <= hi; c++) {
            out[n++] = (uint16_t)c;
        }
        if (*p == '\0') {
            return (int)n;
        }
        if (*p++ != ',') {
            return -1;
        }
    }
}

unsigned lbx_slow_start_permille(uint64_t since_us, uint64_t now_us,
                                 uint64_t window_us)
{
    uint64_t elapsed;

    if (window_us == 0 || now_us < since_us) {
        return window_us == 0 ? 1000u : LBX_SLOW_START_FLOOR;
    }
    elapsed = now_us - since_us;
    if (elapsed >= window_us) {
        return 1000u;
    }
    /* elapsed < window_us, so the quotient is below 1000 - FLOOR; the
     * product fits: windows are at most a day of microseconds (2^37). */
    return LBX_SLOW_START_FLOOR
        + (unsigned)(elapsed * (1000u - LBX_SLOW_START_FLOOR) / window_us);
}

uint64_t lbx_slow_start_allowed(uint64_t rounds, int64_t weight, int64_t total,
                                unsigned permille)
{
    uint64_t fair;

    if (weight <= 0 || total <= 0 || weight > total) {
        return 1;
    }
    /* Beyond 2^40 rounds (years at 10k requests a second) the limit
     * stops growing; each step below stays under 2^64. */
    if (rounds > (1ull << 40)) {
        rounds = 1ull << 40;
    }
    fair = rounds * (uint64_t)weight / (uint64_t)total;
    return fair * (permille > 1000 ? 1000 : permille) / 1000 + 1;
}

int lbx_slow_start_admit(unsigned permille, uint32_t draw)
{
    return (((uint64_t)draw * 1000u) >> 32) < permille;
}

int lbx_retry_allowed(uint64_t requests, uint64_t retries, unsigned budget_pct,
                      unsigned min_retries)
{
    return retries < min_retries || retries * 100 < requests * budget_pct;
}
