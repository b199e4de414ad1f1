#ifndef LBX_TESTS_H
#define LBX_TESTS_H
#include <check.h>
#include <stdint.h>

/* splitmix64: the tests' only source of randomness, always seeded. */
static inline uint64_t lbx_test_random(uint64_t *state)
{
    uint64_t z = (*state += UINT64_C(0x9e3779b97f4a7c15));

    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

TCase *lbx_tcase_sticky(void);
TCase *lbx_tcase_lbx_text(void);
TCase *lbx_tcase_eligible(void);
TCase *lbx_tcase_byrequests(void);
TCase *lbx_tcase_bytraffic(void);
TCase *lbx_tcase_bybusyness(void);
TCase *lbx_tcase_bylatency(void);
TCase *lbx_tcase_heartbeat(void);
TCase *lbx_tcase_byhash(void);
TCase *lbx_tcase_hcheck_core(void);
TCase *lbx_tcase_hcheck_frame(void);
TCase *lbx_tcase_manager_core(void);
TCase *lbx_tcase_outlier_core(void);
TCase *lbx_tcase_cookie_core(void);
TCase *lbx_tcase_fleet_core(void);
TCase *lbx_tcase_manager_json(void);
TCase *lbx_tcase_stats_core(void);

#endif
