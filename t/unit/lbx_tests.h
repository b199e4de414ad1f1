#ifndef LBX_TESTS_H
#define LBX_TESTS_H
#include <check.h>

TCase *lbx_tcase_sticky(void);
TCase *lbx_tcase_byrequests(void);
TCase *lbx_tcase_traffic_busy(void);
TCase *lbx_tcase_heartbeat(void);
TCase *lbx_tcase_hcheck(void);
TCase *lbx_tcase_manager(void);

#endif
