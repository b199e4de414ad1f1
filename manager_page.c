/* manager_page.c: the balancer-manager's HTML page.
 *
 * Stock's page: the same sections, columns and form field names, so
 * scripts that scrape it or post its forms keep working.  Member states
 * are coloured, tables scroll sideways on narrow screens, and nothing
 * needs JavaScript.
 */
#include "apr_date.h"
#include "apr_strings.h"
#include "ap_provider.h"
#include "ap_slotmem.h"
#include "http_core.h"
#include "http_protocol.h"
#include "mod_watchdog.h"

#include "manager_view.h"
#include "fleet.h"
#include "hcheck_conf.h"
#include "lbx_shm.h"
#include "outlier.h"

APLOG_USE_MODULE(lbx);

static const char *flag_name(char c)
{
    switch (c) {
    case 'I': return "Ignore Errors";
    case 'N': return "Draining Mode";
    case 'D': return "Disabled";
    case 'H': return "Hot Standby";
    case 'R': return "Hot Spare";
    case 'S': return "Stopped";
    case 'C': return "HC Fail";
    }
    return "";
}

static int hc_available(void)
{
    return APR_RETRIEVE_OPTIONAL_FN(ap_watchdog_get_instance) != NULL;
}

/* ---- rendering helpers -------------------------------------------------- */

static const char *esc(request_rec *r, const char *s)
{
    return ap_escape_html(r->pool, s ? s : "");
}

static const char *sticky_text(request_rec *r, proxy_balancer *b)
{
    if (!*b->s->sticky) {
        return " (None) ";
    }
    if (strcmp(b->s->sticky, b->s->sticky_path) == 0) {
        return b->s->sticky;
    }
    return apr_pstrcat(r->pool, b->s->sticky, "|", b->s->sticky_path, NULL);
}

static int used_members(proxy_balancer *b)
{
    proxy_worker **w = (proxy_worker **)b->workers->elts;
    int i, n = 0;

    for (i = 0; i < b->workers->nelts; i++) {
        n += !LBX_MEMBER_REMOVED(w[i]);
    }
    return n;
}

static const char *hc_method_name(proxy_worker *w)
{
    return ap_proxy_show_hcmethod(w->s->method);
}

/* Member URL, as stock shows it (UDS members as unix:path|url). */
static const char *member_name(request_rec *r, proxy_worker *w)
{
    return ap_proxy_worker_name(r->pool, w);
}

static const char *state_class(proxy_worker *w)
{
    unsigned st = w->s->status;

    if (st & (PROXY_WORKER_IN_ERROR | PROXY_WORKER_HC_FAIL)) {
        return "bad";
    }
    if (st & (PROXY_WORKER_DISABLED | PROXY_WORKER_STOPPED)) {
        return "off";
    }
    if (st
        & (PROXY_WORKER_DRAIN | PROXY_WORKER_HOT_STANDBY
           | PROXY_WORKER_HOT_SPARE)) {
        return "wait";
    }
    return PROXY_WORKER_IS_USABLE(w) ? "ok" : "bad";
}

static const char *manager_url(request_rec *r)
{
    return ap_construct_url(r->pool, r->uri, r);
}

/* ---- HTML --------------------------------------------------------------- */

static void html_head(request_rec *r)
{
    ap_set_content_type(r, "text/html; charset=ISO-8859-1");
    ap_rputs(DOCTYPE_HTML_4_01
             "<html><head>\n"
             "<meta name=\"viewport\" content=\"width=device-width, "
             "initial-scale=1\">\n<title>Balancer Manager</title>\n"
             "<link rel=\"alternate\" type=\"text/html\" "
             "title=\"Live dashboard\" href=\"?view=dashboard\">\n"
             "<style type='text/css'>\n"
             "body { font-family: sans-serif; margin: 1em; }\n"
             "table { border-width: 1px; border-spacing: 3px; "
             "border-style: solid; border-color: gray; "
             "border-collapse: collapse; background-color: white; "
             "text-align: center; }\n"
             "th { border-width: 1px; padding: 2px; border-style: dotted; "
             "border-color: gray; background-color: lightgray; "
             "text-align: center; }\n"
             "td { border-width: 1px; padding: 2px; border-style: dotted; "
             "border-color: gray; background-color: white; "
             "text-align: center; }\n"
             ".scroll { overflow-x: auto; }\n"
             "td.ok { background-color: #c8f0c8; }\n"
             "td.wait { background-color: #fff2b3; }\n"
             "td.off { background-color: #ddd; }\n"
             "td.bad { background-color: #f5b5b5; }\n"
             ".error { border: 2px solid #c00; background: #fee; "
             "padding: 0.5em; }\n"
             "</style>\n</head>\n",
             r);
}

/* One member's row of the balancer's table; its name links to its form. */
static void html_member_row(request_rec *r, proxy_balancer *b, proxy_worker *w,
                            int hc)
{
    const char *name = b->s->name + sizeof(BALANCER_PREFIX) - 1;
    char fbuf[6], rbuf[6];

    ap_rvputs(r, "<tr>\n<td><a href=\"", esc(r, r->uri),
              "?b=", esc(r, ap_escape_uri(r->pool, name)),
              "&amp;w=", esc(r, ap_escape_uri(r->pool, w->s->name_ex)),
              "&amp;nonce=", esc(r, b->s->nonce), "\">", NULL);
    ap_rvputs(r, *w->s->uds_path ? "<i>" : "", esc(r, member_name(r, w)),
              *w->s->uds_path ? "</i>" : "", "</a></td>", NULL);
    ap_rvputs(r, "<td>", esc(r, w->s->route), "</td>", NULL);
    ap_rvputs(r, "<td>", esc(r, w->s->redirect), "</td>", NULL);
    ap_rprintf(r, "<td>%.2f</td>", (float)w->s->lbfactor / 100.0);
    ap_rprintf(r, "<td>%d</td>", w->s->lbset);
    ap_rvputs(r, "<td class='", state_class(w), "'>",
              esc(r, ap_proxy_parse_wstatus(r->pool, w)), "</td>", NULL);
    ap_rprintf(r, "<td>%" APR_SIZE_T_FMT "</td>", w->s->elected);
    ap_rprintf(r, "<td>%" APR_SIZE_T_FMT "</td>", w->s->busy);
    ap_rprintf(r, "<td>%d</td><td>", w->s->lbstatus);
    ap_rputs(apr_strfsize(w->s->transferred, fbuf), r);
    ap_rputs("</td><td>", r);
    ap_rputs(apr_strfsize(w->s->read, rbuf), r);
    ap_rputs("</td>", r);
    if (hc) {
        ap_rvputs(r, "<td>", hc_method_name(w), "</td>", NULL);
        ap_rprintf(r, "<td>%" APR_TIME_T_FMT "ms</td>",
                   apr_time_as_msec(w->s->interval));
        ap_rprintf(r, "<td>%d (%d)</td>", w->s->passes, w->s->pcount);
        ap_rprintf(r, "<td>%d (%d)</td>", w->s->fails, w->s->fcount);
        ap_rvputs(r, "<td>", esc(r, w->s->hcuri), "</td><td>",
                  esc(r, w->s->hcexpr), "</td>", NULL);
    }
    ap_rputs("\n</tr>\n", r);
}

/* mod_lbx's failure handling, for balancers that use it (a table of its
 * own after the members', so stock's table keeps its columns). */
static void html_outlier_table(request_rec *r, proxy_balancer *b)
{
    proxy_worker **workers = (proxy_worker **)b->workers->elts;
    apr_time_t now = apr_time_now();
    struct lbx_outlier_view v;
    int i, on = 0;

    for (i = 0; i < b->workers->nelts && !on; i++) {
        lbx_outlier_view(b, workers[i], now, &v);
        on = v.on;
    }
    if (!on) {
        return;
    }
    ap_rputs("<div class='scroll'><table class='outlier'><tr><th>Worker URL"
             "</th><th>Failures in a row</th><th>Ejected for</th>"
             "<th>Ejections</th><th>Slow start</th><th>Last check</th></tr>\n",
             r);
    for (i = 0; i < b->workers->nelts; i++) {
        if (LBX_MEMBER_REMOVED(workers[i])) {
            continue;
        }
        lbx_outlier_view(b, workers[i], now, &v);
        ap_rvputs(r, "<tr><td>", esc(r, member_name(r, workers[i])), "</td>",
                  NULL);
        ap_rprintf(r, "<td>%" APR_UINT64_T_FMT "</td>", v.fails);
        if (v.ejected_until) {
            ap_rprintf(r, "<td class='bad'>%" APR_TIME_T_FMT " ms</td>",
                       v.ejected_until > now
                           ? apr_time_as_msec(v.ejected_until - now)
                           : 0);
        }
        else {
            ap_rputs("<td>-</td>", r);
        }
        ap_rprintf(r, "<td>%" APR_UINT64_T_FMT "</td><td>%u %%</td>",
                   v.ejections, v.ramp_permille / 10);
        if (v.check_at) {
            ap_rprintf(r, "<td>%s (%d), %" APR_TIME_T_FMT " s ago</td>",
                       lbx_outlier_check_name(v.check_result), v.check_status,
                       apr_time_sec(now - v.check_at));
        }
        else {
            ap_rputs("<td>-</td>", r);
        }
        ap_rputs("</tr>\n", r);
    }
    ap_rputs("</table></div>\n", r);
}

static void html_balancer(struct lbx_mgr_req *m, proxy_balancer *b)
{
    request_rec *r = m->r;
    proxy_worker **workers = (proxy_worker **)b->workers->elts;
    const char *name = b->s->name + sizeof(BALANCER_PREFIX) - 1;
    const char *uri = esc(r, r->uri);
    int hc = hc_available(), i;

    ap_rvputs(r, "<hr />\n<h3>LoadBalancer Status for <a href=\"", uri,
              "?b=", esc(r, ap_escape_uri(r->pool, name)),
              "&amp;nonce=", esc(r, b->s->nonce), "\">", esc(r, b->s->name),
              "</a> [", esc(r, b->s->sname), "]</h3>\n\n", NULL);
    ap_rputs("<div class='scroll'><table><tr><th>MaxMembers</th>"
             "<th>StickySession</th><th>DisableFailover</th><th>Timeout</th>"
             "<th>FailoverAttempts</th><th>Method</th><th>Path</th>"
             "<th>Active</th></tr>\n<tr>",
             r);
    ap_rprintf(r, "<td>%d [%d Used]</td>\n", b->max_workers, used_members(b));
    ap_rvputs(r, "<td>", esc(r, sticky_text(r, b)), "</td>\n", NULL);
    ap_rprintf(r, "<td>%s</td>\n", b->s->sticky_force ? "On" : "Off");
    ap_rprintf(r, "<td>%" APR_TIME_T_FMT "</td>", apr_time_sec(b->s->timeout));
    ap_rprintf(r, "<td>%d</td>\n", b->s->max_attempts);
    ap_rvputs(r, "<td>", esc(r, b->s->lbpname), "</td>\n<td>", NULL);
    if (*b->s->vhost) {
        ap_rvputs(r, esc(r, b->s->vhost), " -> ", NULL);
    }
    ap_rvputs(r, esc(r, b->s->vpath), "</td>\n<td>",
              b->s->inactive ? "No" : "Yes",
              "</td>\n</tr>\n</table></div>\n"
              "<br />",
              NULL);

    ap_rputs("\n\n<div class='scroll'><table><tr><th>Worker URL</th>"
             "<th>Route</th><th>RouteRedir</th><th>Factor</th><th>Set</th>"
             "<th>Status</th><th>Elected</th><th>Busy</th><th>Load</th>"
             "<th>To</th><th>From</th>",
             r);
    if (hc) {
        ap_rputs("<th>HC Method</th><th>HC Interval</th><th>Passes</th>"
                 "<th>Fails</th><th>HC uri</th><th>HC Expr</th>",
                 r);
    }
    ap_rputs("</tr>\n", r);
    for (i = 0; i < b->workers->nelts; i++) {
        if (!LBX_MEMBER_REMOVED(workers[i])) {
            html_member_row(r, b, workers[i], hc);
        }
    }
    ap_rputs("</table></div>\n", r);
    html_outlier_table(r, b);
}

static void radio(request_rec *r, const char *name, int on)
{
    ap_rvputs(r, "<td><label for='", name, "1'>On</label> <input name='", name,
              "' id='", name, "1' value='1' type=radio", on ? " checked" : "",
              "> <br/> <label for='", name, "0'>Off</label> <input name='",
              name, "' id='", name, "0' value='0' type=radio",
              on ? "" : " checked", "></td>\n", NULL);
}

/* The status flags of the member form, one On/Off pair each. */
static void html_flag_fields(request_rec *r, proxy_worker *w)
{
    const char *flags = hc_available() ? "INDHRCS" : "INDHRS";
    const char *f;

    ap_rputs("<tr><td>Status:</td><td><table><tr>", r);
    for (f = flags; *f; f++) {
        ap_rvputs(r, "<th>", flag_name(*f), "</th>", NULL);
    }
    ap_rputs("</tr>\n<tr>", r);
    for (f = flags; *f; f++) {
        char field[] = "w_status_X";
        proxy_wstat_t *st;
        int on = 0;
        field[9] = *f;
        for (st = proxy_wstat_tbl; st->name; st++) {
            if (st->flag == *f) {
                on = (w->s->status & st->bit) != 0;
            }
        }
        radio(r, field, on);
    }
    ap_rputs("</tr></table></td></tr>\n", r);
}

/* The health-check settings of the member form. */
static void html_hc_fields(request_rec *r, proxy_worker *w)
{
    proxy_hcmethods_t *hm;

    ap_rputs("<tr><td colspan='2'>\n<table><tr><th>HC Method</th>"
             "<th>HC Expr</th><th>HC Interval (ms)</th><th>Passes</th>"
             "<th>Fails</th><th>HC uri</th></tr>\n<tr><td>"
             "<select name='w_hm'>\n",
             r);
    for (hm = proxy_hcmethods; hm->name; hm++) {
        if (hm->implemented) {
            ap_rvputs(r, "<option value='", hm->name, "'",
                      hm->method == w->s->method ? " selected" : "", ">",
                      hm->name, "</option>\n", NULL);
        }
    }
    ap_rputs("</select>\n</td>\n<td><select name='w_he'>\n", r);
    lbx_mgr_select_exprs(r, w->s->hcexpr);
    ap_rprintf(r,
               "</select>\n</td><td><input name='w_hi' id='w_hi' "
               "type=text value='%" APR_TIME_T_FMT "'></td>\n",
               apr_time_as_msec(w->s->interval));
    ap_rprintf(r,
               "<td><input name='w_hp' id='w_hp' type=text "
               "value='%d'></td>\n",
               w->s->passes);
    ap_rprintf(r,
               "<td><input name='w_hf' id='w_hf' type=text "
               "value='%d'></td>\n",
               w->s->fails);
    ap_rvputs(r, "<td><input name='w_hu' id='w_hu' type=text value=\"",
              esc(r, w->s->hcuri), "\"></td>\n</tr></table></td></tr>\n", NULL);
}

/* A <form> that posts back to this page. */
static void html_form_open(request_rec *r)
{
    ap_rvputs(r,
              "<form method='POST' enctype='application/"
              "x-www-form-urlencoded' action=\"",
              esc(r, manager_url(r)), "\">\n", NULL);
}

/* The hidden fields naming the member (when w is given), its balancer and
 * the nonce; `ids`: with id attributes, as stock's edit forms have them. */
static void html_hidden(request_rec *r, proxy_balancer *b, proxy_worker *w,
                        int ids)
{
    if (w) {
        ap_rvputs(r, "<input type=hidden name='w'", ids ? " id='w'" : "",
                  " value=\"", esc(r, w->s->name_ex), "\">\n", NULL);
    }
    ap_rvputs(r, "<input type=hidden name='b'", ids ? " id='b'" : "",
              " value=\"", esc(r, b->s->name + sizeof(BALANCER_PREFIX) - 1),
              "\">\n<input type=hidden name='nonce'", ids ? " id='nonce'" : "",
              " value=\"", esc(r, b->s->nonce), "\">\n", NULL);
}

/* A member added at runtime can be removed again. */
static void html_remove_form(request_rec *r, proxy_balancer *b, proxy_worker *w)
{
    html_form_open(r);
    ap_rputs("<input type=hidden name='w_remove' value='1'>\n", r);
    html_hidden(r, b, w, 0);
    ap_rputs("<input type=submit value='Remove this member'>\n</form>\n", r);
}

static void html_worker_form(struct lbx_mgr_req *m)
{
    request_rec *r = m->r;
    proxy_worker *w = m->wsel;
    proxy_balancer *b = m->bsel;
    char num[32];

    ap_rvputs(r, "<h3>Edit worker settings for ", esc(r, w->s->name_ex),
              "</h3>\n", NULL);
    html_form_open(r);
    ap_rputs("<table><tr><td>Load factor:</td><td><input name='w_lf' "
             "id='w_lf' type=text ",
             r);
    apr_snprintf(num, sizeof(num), "%.2f", (float)w->s->lbfactor / 100.0);
    ap_rvputs(r, "value='", num,
              "'></td></tr>\n<tr><td>LB Set:</td><td>"
              "<input name='w_ls' id='w_ls' type=text ",
              NULL);
    ap_rprintf(r, "value='%d'></td></tr>\n", w->s->lbset);
    ap_rvputs(r,
              "<tr><td>Route:</td><td><input name='w_wr' id='w_wr' "
              "type=text value=\"",
              esc(r, w->s->route),
              "\"></td></tr>\n"
              "<tr><td>Route Redirect:</td><td><input name='w_rr' id='w_rr' "
              "type=text value=\"",
              esc(r, w->s->redirect), "\"></td></tr>\n", NULL);
    html_flag_fields(r, w);
    if (hc_available()) {
        html_hc_fields(r, w);
    }
    ap_rputs("<tr><td colspan='2'><input type=submit value='Submit'>"
             "</td></tr>\n</table>\n",
             r);
    html_hidden(r, b, w, 1);
    ap_rputs("</form>\n", r);
    if (!lbx_shm_config_member(b, w)) {
        html_remove_form(r, b, w);
    }
    ap_rputs("<hr />\n", r);
}

static void html_balancer_form(struct lbx_mgr_req *m)
{
    request_rec *r = m->r;
    proxy_balancer *b = m->bsel;
    apr_array_header_t *methods;
    int i;

    ap_rvputs(r, "<h3>Edit balancer settings for ", esc(r, b->s->name),
              "</h3>\n", NULL);
    html_form_open(r);
    ap_rputs("<table>\n<tr><td>LBmethod:</td><td>\n"
             "<select name='b_lbm' id='b_lbm'>\n",
             r);
    methods = ap_list_provider_names(r->pool, PROXY_LBMETHOD, "0");
    for (i = 0; methods && i < methods->nelts; i++) {
        const char *name =
            APR_ARRAY_IDX(methods, i, ap_list_provider_names_t).provider_name;
        ap_rvputs(r, "<option value='", esc(r, name), "'",
                  strcmp(name, b->s->lbpname) == 0 ? " selected" : "", ">",
                  esc(r, name), "</option>\n", NULL);
    }
    ap_rprintf(
        r,
        "</select>\n</td></tr>\n<tr><td>Timeout:</td><td>"
        "<input name='b_tmo' id='b_tmo' type=text value='%" APR_TIME_T_FMT
        "'></td></tr>\n",
        apr_time_sec(b->s->timeout));
    ap_rprintf(r,
               "<tr><td>Failover Attempts:</td><td><input name='b_max' "
               "id='b_max' type=text value='%d'></td></tr>\n",
               b->s->max_attempts);
    ap_rputs("<tr><td>Disable Failover:</td>", r);
    radio(r, "b_sforce", b->s->sticky_force);
    ap_rvputs(r,
              "</tr>\n<tr><td>Sticky Session:</td><td><input name='b_ss' "
              "id='b_ss' size=64 type=text value=\"",
              *b->s->sticky ? esc(r, sticky_text(r, b)) : "",
              "\">&nbsp;&nbsp;&nbsp;&nbsp;(Use '-' to delete)</td></tr>\n",
              NULL);
    if (b->storage && b->wslot && b->storage->num_free_slots(b->wslot)) {
        ap_rputs("<tr><td>Add New Worker:</td><td><input name='b_nwrkr' "
                 "id='b_nwrkr' size=32 type=text>&nbsp;&nbsp;&nbsp;&nbsp;"
                 "Are you sure? <input name='b_wyes' id='b_wyes' "
                 "type=checkbox value='1'></td></tr>",
                 r);
    }
    ap_rputs("<tr><td colspan='2'><input type=submit value='Submit'>"
             "</td></tr>\n</table>\n",
             r);
    html_hidden(r, b, NULL, 1);
    ap_rputs("</form>\n<hr />\n", r);
}

/* LBXFleet: Redis and the counters. */
static void html_fleet_state(request_rec *r, const struct lbx_fleet_view *v,
                             apr_time_t now)
{
    ap_rvputs(r, "<hr />\n<h3>Fleet ", esc(r, v->name), "</h3>\n<dl><dt>",
              "This front-end: ", esc(r, v->id), "</dt>\n<dt>Redis ",
              esc(r, v->url), ": ",
              v->status.connected ? "connected" : "unreachable", NULL);
    if (!v->status.connected && *v->status.error) {
        ap_rvputs(r, " (", esc(r, v->status.error), ")", NULL);
    }
    ap_rprintf(r,
               "</dt>\n<dt>Last sync: %s; edits sent %" APR_UINT64_T_FMT
               ", applied %" APR_UINT64_T_FMT ", not applied %" APR_UINT64_T_FMT
               ", waiting %" APR_UINT64_T_FMT ", kept local %" APR_UINT64_T_FMT
               "</dt></dl>\n",
               v->status.last_sync_ms ? apr_psprintf(
                   r->pool, "%" APR_TIME_T_FMT " ms ago",
                   apr_time_as_msec(now) - (apr_time_t)v->status.last_sync_ms)
                                      : "never",
               v->status.published, v->status.applied, v->status.refused,
               v->queued, v->dropped);
}

/* The front-ends seen, and which member each one checks. */
static void html_fleet_frontends(request_rec *r, proxy_server_conf *conf,
                                 const struct lbx_fleet_view *v, apr_time_t now)
{
    proxy_balancer *b = (proxy_balancer *)conf->balancers->elts;
    uint32_t i, k;
    int j, n;

    ap_rputs("<table><tr><th>Front-end</th><th>Last heartbeat</th>"
             "<th>Members it checks</th></tr>\n",
             r);
    for (i = 0; i < v->status.nfe; i++) {
        uint32_t checks = 0;

        for (k = 0; k < v->status.nlease; k++) {
            if (!strcmp(v->status.lease[k].id, v->status.fe[i].id)) {
                checks = v->status.lease[k].members;
            }
        }
        ap_rprintf(r,
                   "<tr><td>%s</td><td>%" APR_TIME_T_FMT
                   " ms ago</td><td>%u</td></tr>\n",
                   esc(r, v->status.fe[i].id),
                   apr_time_as_msec(now) - (apr_time_t)v->status.fe[i].seen_ms,
                   (unsigned)checks);
    }
    ap_rputs("</table>\n<table><tr><th>Member</th><th>Checked by</th></tr>\n",
             r);
    for (n = 0; n < conf->balancers->nelts; n++) {
        proxy_worker **w = (proxy_worker **)b[n].workers->elts;

        for (j = 0; j < b[n].workers->nelts; j++) {
            const char *by = lbx_fleet_checker(v, &b[n], w[j]);

            if (by) {
                ap_rvputs(r, "<tr><td>", esc(r, w[j]->s->name_ex), "</td><td>",
                          esc(r, by), "</td></tr>\n", NULL);
            }
        }
    }
    ap_rputs("</table>\n", r);
}

/* LBXFleet: Redis, the front-ends seen, the latest edits (newest first). */
static void html_fleet(request_rec *r, proxy_server_conf *conf)
{
    struct lbx_fleet_view v;
    apr_time_t now = apr_time_now();
    char when[APR_RFC822_DATE_LEN];
    uint32_t i;

    if (!lbx_fleet_view(&v)) {
        return;
    }
    html_fleet_state(r, &v, now);
    html_fleet_frontends(r, conf, &v, now);
    ap_rputs("<table><tr><th>Edit made</th><th>On</th>"
             "<th>By client</th><th>Edit</th></tr>\n",
             r);
    for (i = 0; i < v.status.naudit; i++) {
        const struct lbx_fleet_audit *a =
            &v.status.audit[(v.status.audit_next + LBX_FLEET_AUDIT_MAX - 1 - i)
                            % LBX_FLEET_AUDIT_MAX];

        apr_rfc822_date(when, (apr_time_t)a->at_ms * 1000);
        ap_rvputs(r, "<tr><td>", when, "</td><td>", esc(r, a->fe), "</td><td>",
                  esc(r, a->client), "</td><td>", esc(r, a->form),
                  "</td></tr>\n", NULL);
    }
    ap_rputs("</table>\n", r);
}

void lbx_mgr_html_notice(const struct lbx_mgr_req *m, const char *cls)
{
    if (m->error || m->ignored) {
        ap_rvputs(m->r, "<p class='", cls,
                  "' role='alert'><strong>Nothing was changed:</strong> ",
                  esc(m->r, m->error ? m->error : m->ignored), "</p>\n", NULL);
    }
}

void lbx_mgr_render_html(struct lbx_mgr_req *m)
{
    request_rec *r = m->r;
    proxy_balancer *b = (proxy_balancer *)m->conf->balancers->elts;
    int i;

    html_head(r);
    ap_rvputs(r, "<body><h1>Load Balancer Manager for ",
              esc(r, ap_get_server_name(r)), "</h1>\n\n", NULL);
    ap_rvputs(r,
              "<dl><dt>Server Version: ", esc(r, ap_get_server_description()),
              "</dt>\n", NULL);
    ap_rvputs(r, "<dt>Server Built: ", esc(r, ap_get_server_built()), "</dt>\n",
              NULL);
    ap_rvputs(r, "<dt>Balancer changes will ",
              m->conf->bal_persist ? "" : "NOT ",
              "be persisted on restart.</dt>", NULL);
    ap_rvputs(r, "<dt>Balancers are ", m->conf->inherit ? "" : "NOT ",
              "inherited from main server.</dt>", NULL);
    ap_rvputs(r, "<dt>ProxyPass settings are ",
              m->conf->ppinherit ? "" : "NOT ",
              "inherited from main server.</dt>\n</dl>\n", NULL);
    /* The dashboard is named, not linked: scripts that scrape this page
     * (Ansible's module) take every link after the first for a member's,
     * and tests of stock's escaping look for any script.  Browsers that
     * show alternates get the <link> in the head. */
    ap_rvputs(r, "<p>Live dashboard: ", esc(r, r->uri), "?view=dashboard</p>\n",
              NULL);
    lbx_mgr_html_notice(m, "error");
    for (i = 0; i < m->conf->balancers->nelts; i++) {
        html_balancer(m, &b[i]);
    }
    lbx_mgr_show_exprs(r);
    html_fleet(r, m->conf);
    ap_rputs("<hr />\n", r);
    if (m->gate_passed && m->wsel && m->bsel && !LBX_MEMBER_REMOVED(m->wsel)) {
        html_worker_form(m);
    }
    else if (m->gate_passed && m->bsel) {
        html_balancer_form(m);
    }
    ap_rputs(ap_psignature("", r), r);
    ap_rputs("</body></html>\n", r);
}

/* ---- health-check expressions ------------------------------------------ */

/* The server's ProxyHCExpr definitions as a table (nothing without). */
void lbx_mgr_show_exprs(request_rec *r)
{
    const apr_array_header_t *exprs = lbx_hc_exprs(r->server);
    const struct lbx_hc_expr *e;
    int i;

    if (!exprs || !exprs->nelts) {
        return;
    }
    e = (const struct lbx_hc_expr *)exprs->elts;
    ap_rputs("\n\n<table><tr><th colspan='2'>Health check cond. "
             "expressions:</th></tr>\n<tr><th>Expr name</th>"
             "<th>Expression</th></tr>\n",
             r);
    for (i = 0; i < exprs->nelts; i++) {
        ap_rvputs(r, "<tr><td>", ap_escape_html(r->pool, e[i].name),
                  "</td><td>", ap_escape_html(r->pool, e[i].text),
                  "</td></tr>\n", NULL);
    }
    ap_rputs("</table><hr/>\n", r);
}

/* The expression names as <option>s, `selected` chosen. */
void lbx_mgr_select_exprs(request_rec *r, const char *selected)
{
    const apr_array_header_t *exprs = lbx_hc_exprs(r->server);
    const struct lbx_hc_expr *e;
    int i;

    if (!exprs) {
        return;
    }
    e = (const struct lbx_hc_expr *)exprs->elts;
    for (i = 0; i < exprs->nelts; i++) {
        const char *name = ap_escape_html(r->pool, e[i].name);
        ap_rvputs(r, "<option value='", name, "'",
                  selected && !strcmp(e[i].name, selected) ? " selected" : "",
                  ">", name, "</option>\n", NULL);
    }
}
