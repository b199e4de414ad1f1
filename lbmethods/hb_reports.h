/* hb_reports.h: the capacity reports lbmethod=heartbeat chooses on, read
 * from mod_heartmonitor's slotmem or from the HeartbeatStorage file. */
#ifndef LBX_HB_REPORTS_H
#define LBX_HB_REPORTS_H

#include "lbx_proxy.h"
#include "lbx_method.h"

/* The reports as last read, per balancer and process. */
struct lbx_hb_reports;

struct lbx_hb_reports *lbx_hb_reports_make(apr_pool_t *p);

/* post_config: attach mod_heartmonitor's slotmem if it exists, and say
 * which source is read when some balancer uses lbmethod=heartbeat. */
void lbx_hb_reports_post_config(apr_pool_t *pconf, server_rec *main_s);

/* Bring c up to date for r's server: the slotmem is read every time, the
 * file only when it changed.  APR_SUCCESS or why there are no reports. */
apr_status_t lbx_hb_reports_load(struct lbx_hb_reports *c, request_rec *r);

/* Changes whenever lbx_hb_reports_load filled c again: every time for the
 * slotmem, when the file changed for HeartbeatStorage. */
unsigned lbx_hb_reports_version(const struct lbx_hb_reports *c);

/* Where the reports come from, for messages. */
const char *lbx_hb_reports_source(request_rec *r);

/* The report of the backend at `ip`, or NULL. */
const struct lbx_hb_server *lbx_hb_reports_find(const struct lbx_hb_reports *c,
                                                const char *ip);

#endif
