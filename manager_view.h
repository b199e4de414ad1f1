/* manager_view.h: what the balancer-manager's renderers see.  manager.c
 * reads and applies the request, then hands it to one renderer: the page
 * (manager_page.c) or a feed (manager_feeds.c: XML, JSON, metrics).
 * Rendering never changes anything and escapes everything it prints. */
#ifndef LBX_MANAGER_VIEW_H
#define LBX_MANAGER_VIEW_H

#include "lbx_proxy.h"
#include "manager_core.h"

#define LBX_MGR_MAX_PARAMS 64

struct lbx_mgr_req {
    request_rec *r;
    proxy_server_conf *conf;
    struct lbx_mgr_param params[LBX_MGR_MAX_PARAMS];
    int n;
    proxy_balancer *bsel;
    proxy_worker *wsel;
    const char *error; /* shown on the page, status 400 */
    const char *ignored; /* why edit parameters were ignored (status 200) */
    int gate_passed; /* Referer matched: forms may be shown */
};

/* manager_page.c: stock's HTML page, and the health-check expression
 * table and menu (also offered to other modules as hc_show_exprs and
 * hc_select_exprs). */
void lbx_mgr_render_html(struct lbx_mgr_req *m);
/* "Nothing was changed: why" when m has an error or ignored an edit, as a
 * paragraph of class `cls` (an alert). */
void lbx_mgr_html_notice(const struct lbx_mgr_req *m, const char *cls);
void lbx_mgr_show_exprs(request_rec *r);
void lbx_mgr_select_exprs(request_rec *r, const char *selected);

/* manager_feeds.c: read-only views for programs. */
void lbx_mgr_render_xml(struct lbx_mgr_req *m);
void lbx_mgr_render_json(struct lbx_mgr_req *m);
void lbx_mgr_render_metrics(struct lbx_mgr_req *m);

/* A JSON string literal of s (quotes, backslashes, controls and <>&
 * escaped), and one balancer as ?format=json shows it. */
const char *lbx_mgr_json_str(request_rec *r, const char *s);
void lbx_mgr_json_balancer(request_rec *r, proxy_balancer *b);

#endif
