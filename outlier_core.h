/* outlier_core.h: the parts of failure handling beyond stock that need no
 * httpd: passive outlier ejection (how long, whether the lbset may lose
 * one more member, what counts as a failure), slow start (how much of its
 * share a returning member gets) and the retry budget.  outlier.c is the
 * glue around them. */
#ifndef LBX_OUTLIER_CORE_H
#define LBX_OUTLIER_CORE_H

#include <stddef.h>
#include <stdint.h>

/* ---- ejection ----------------------------------------------------------- */

/* The limits of the settings, wherever they are given. */
#define LBX_EJECT_FAILS_MAX 1000
#define LBX_EJECT_TIME_MAX_S 86400
#define LBX_EJECT_STATUS_MAX 16 /* codes in status= */

/* How long ejection number `level` lasts (level 0: the first since the
 * backoff was last reset): time_us doubled `level` times, at most max_us
 * (and at least time_us when max_us is below it). */
uint64_t lbx_eject_duration(uint64_t time_us, uint64_t max_us, uint32_t level);

/* The level of a new ejection of a member whose previous ejections
 * reached `level`: kept when the member was back for less than
 * `sustained_us` before failing again, else 0 (its success was sustained:
 * the backoff starts over). */
uint32_t lbx_eject_level(uint32_t level, uint64_t back_for_us,
                         uint64_t sustained_us);

/* Whether one more member of an lbset of `size` members may be ejected
 * while `out` of them are out (ejected or unusable): only if then at most
 * max_share_pct % of them are out (with 50, two of four, one of two, none
 * of one). */
int lbx_eject_allowed(size_t out, size_t size, unsigned max_share_pct);

/* Whether an answer counts as a failure of the member: the proxy timed
 * out waiting for it, the proxy itself answered 502/503/504 for it (no
 * connection, a broken answer), or the member answered one of the
 * `statuses` (n of them). */
int lbx_eject_is_failure(int status, int timed_out, int proxy_error,
                         const uint16_t *statuses, size_t n);

/* Parse a status= value: HTTP status codes 400-599 separated by commas,
 * ranges written low-high ("500,502-504").  Writes at most `cap` codes to
 * out and returns how many, or -1 when the text is malformed, a code is
 * out of range, a range is reversed or there are more than cap. */
int lbx_eject_parse_statuses(const char *text, uint16_t *out, size_t cap);

/* A balancer's ejection, slow-start and retry-budget settings
 * (LBXEjection, LBXSlowStart, LBXRetryBudget). */
struct lbx_outlier_conf {
    uint32_t fails; /* 0: no ejection unless a member sets ejectfails */
    uint32_t max_share_pct;
    uint64_t time_us, max_us;
    uint64_t slow_start_us;
    uint32_t nstatus;
    uint16_t statuses[LBX_EJECT_STATUS_MAX];
    uint32_t budget_pct; /* 0: no retry budget */
    uint32_t budget_min;
};

/* ---- slow start --------------------------------------------------------- */

/* A returning member starts at this share of its weight, per mille. */
#define LBX_SLOW_START_FLOOR 100u

/* The part of its full share (per mille, LBX_SLOW_START_FLOOR..1000) a
 * member usable since `since_us` gets at `now_us` with a slow-start
 * window of window_us: growing linearly over the window, 1000 after it
 * (and always 1000 with window_us 0). */
unsigned lbx_slow_start_permille(uint64_t since_us, uint64_t now_us,
                                 uint64_t window_us);

/* How many picks a member at `permille` may have had since its ramp
 * began, `rounds` rounds of its lbset ago: that part of its fair share
 * (weight / total of the rounds), rounded down, plus one. */
uint64_t lbx_slow_start_allowed(uint64_t rounds, int64_t weight, int64_t total,
                                unsigned permille);

/* Whether a pick of a member at `permille` stands, for a uniform 32-bit
 * draw: with probability permille / 1000. */
int lbx_slow_start_admit(unsigned permille, uint32_t draw);

/* ---- retry budget ------------------------------------------------------- */

/* Whether one more failover attempt is allowed after `requests` requests
 * and `retries` failover attempts in the recent window: retries may be
 * budget_pct % of the requests, and at least min_retries. */
int lbx_retry_allowed(uint64_t requests, uint64_t retries, unsigned budget_pct,
                      unsigned min_retries);

#endif
