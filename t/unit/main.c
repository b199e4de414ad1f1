/* Check runner: one TCase per pure core file (t/unit/test_<file>.c). */
#include <check.h>
#include <stdlib.h>

#include "lbx_tests.h"

int main(void)
{
    Suite *suite = suite_create("mod_lbx cores");
    SRunner *runner;
    int failed;

    suite_add_tcase(suite, lbx_tcase_sticky());
    suite_add_tcase(suite, lbx_tcase_lbx_text());
    suite_add_tcase(suite, lbx_tcase_eligible());
    suite_add_tcase(suite, lbx_tcase_byrequests());
    suite_add_tcase(suite, lbx_tcase_bytraffic());
    suite_add_tcase(suite, lbx_tcase_bybusyness());
    suite_add_tcase(suite, lbx_tcase_bylatency());
    suite_add_tcase(suite, lbx_tcase_heartbeat());
    suite_add_tcase(suite, lbx_tcase_byhash());
    suite_add_tcase(suite, lbx_tcase_hcheck_core());
    suite_add_tcase(suite, lbx_tcase_hcheck_frame());
    suite_add_tcase(suite, lbx_tcase_manager_core());
    suite_add_tcase(suite, lbx_tcase_outlier_core());
    suite_add_tcase(suite, lbx_tcase_cookie_core());
    suite_add_tcase(suite, lbx_tcase_fleet_core());
    suite_add_tcase(suite, lbx_tcase_manager_json());
    suite_add_tcase(suite, lbx_tcase_stats_core());

    runner = srunner_create(suite);
    srunner_run_all(runner, CK_NORMAL);
    failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
