/* manager_api.h: the balancer-manager's JSON write endpoint. */
#ifndef LBX_MANAGER_API_H
#define LBX_MANAGER_API_H

#include "manager_view.h"

/* Answer a POST whose body is JSON: read_status and body are what reading
 * the body gave (body valid only on APR_SUCCESS).  OK once the answer (an
 * edit's result or a refusal) is written; AP_FILTER_ERROR when an input
 * filter answered already. */
int lbx_mgr_api(struct lbx_mgr_req *m, apr_status_t read_status,
                const char *body);

#endif
