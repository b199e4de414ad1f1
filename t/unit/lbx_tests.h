#ifndef LBX_TESTS_H
#define LBX_TESTS_H
#include <check.h>

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
