/* manager_dash.h: the balancer-manager's live dashboard (?view=dashboard). */
#ifndef LBX_MANAGER_DASH_H
#define LBX_MANAGER_DASH_H

#include "manager_view.h"

/* The dashboard page, with m's error or ignored-edit notice if any. */
void lbx_mgr_render_dashboard(struct lbx_mgr_req *m);

#endif
