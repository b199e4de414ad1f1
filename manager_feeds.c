/* manager_feeds.c: the balancer-manager's views for programs: stock's
 * XML (?xml=1), and JSON and Prometheus text (?format=json|metrics), which
 * need no Referer because they change nothing.  Members removed through
 * the manager are left out of every view. */
#include <stdarg.h>

#include "apr_strings.h"
#include "apr_date.h"
#include "http_protocol.h"

#include "manager_view.h"
#include "fleet.h"
#include "lbx_hot.h"
#include "outlier.h"
#include "manager_stats.h"
#include "manager_json.h"

APLOG_USE_MODULE(lbx);

static const char *esc(request_rec *r, const char *s)
{
    return ap_escape_html(r->pool, s ? s : "");
}

/* Member URL, as stock shows it (UDS members as unix:path|url). */
static const char *member_name(request_rec *r, proxy_worker *w)
{
    return ap_proxy_worker_name(r->pool, w);
}

/* ---- XML ---------------------------------------------------------------- */

/* One element of a member's record: <httpd:tag>value</httpd:tag>, with a
 * printf-style value; nothing when `shown` is 0 (settings appear only when
 * set explicitly, as in stock). */
static void xml_elem(request_rec *r, int shown, const char *tag,
                     const char *fmt, ...)
{
    va_list ap;
    char *value;

    if (!shown) {
        return;
    }
    va_start(ap, fmt);
    value = apr_pvsprintf(r->pool, fmt, ap);
    va_end(ap);
    ap_rvputs(r, "            <httpd:", tag, ">", value, "</httpd:", tag, ">\n",
              NULL);
}

/* The connection settings a member has set explicitly. */
static void xml_worker_settings(request_rec *r, proxy_worker_shared *s)
{
    xml_elem(r, s->timeout_set, "timeout", "%" APR_TIME_T_FMT,
             apr_time_sec(s->timeout));
    xml_elem(r, s->acquire_set, "acquire", "%" APR_TIME_T_FMT,
             apr_time_as_msec(s->acquire));
    xml_elem(r, s->recv_buffer_size_set, "recv_buffer_size", "%" APR_SIZE_T_FMT,
             s->recv_buffer_size);
    xml_elem(r, s->io_buffer_size_set, "io_buffer_size", "%" APR_SIZE_T_FMT,
             s->io_buffer_size);
    xml_elem(r, s->keepalive_set, "keepalive", "%s",
             s->keepalive ? "On" : "Off");
}

/* AJP's flush settings and the explicitly set timeouts. */
static void xml_worker_protocol(request_rec *r, proxy_worker_shared *s)
{
    int ajp = !ap_cstr_casecmp(s->scheme, "ajp");

    xml_elem(r, ajp, "flushpackets", "%s",
             s->flush_packets == flush_off      ? "Off"
                 : s->flush_packets == flush_on ? "On"
                                                : "Auto");
    xml_elem(r, ajp && s->flush_packets == flush_auto, "flushwait", "%d",
             s->flush_wait);
    xml_elem(r, ajp && s->ping_timeout_set, "ping", "%" APR_TIME_T_FMT,
             apr_time_as_msec(s->ping_timeout));
    xml_elem(r, s->disablereuse_set, "disablereuse", "%s",
             s->disablereuse ? "On" : "Off");
    xml_elem(r, s->conn_timeout_set, "connectiontimeout", "%" APR_TIME_T_FMT,
             apr_time_as_msec(s->conn_timeout));
    xml_elem(r, s->retry_set, "retry", "%" APR_TIME_T_FMT,
             apr_time_sec(s->retry));
}

static void xml_worker(request_rec *r, proxy_worker *w)
{
    proxy_worker_shared *s = w->s;

    ap_rvputs(r, "          <httpd:worker>\n            <httpd:name>",
              esc(r, member_name(r, w)), "</httpd:name>\n", NULL);
    ap_rvputs(r, "            <httpd:scheme>", esc(r, s->scheme),
              "</httpd:scheme>\n            <httpd:hostname>",
              esc(r, s->hostname_ex), "</httpd:hostname>\n", NULL);
    ap_rprintf(r, "            <httpd:loadfactor>%.2f</httpd:loadfactor>\n",
               (float)s->lbfactor / 100.0);
    ap_rprintf(r, "            <httpd:port>%d</httpd:port>\n", s->port);
    ap_rprintf(r, "            <httpd:min>%d</httpd:min>\n", s->min);
    ap_rprintf(r, "            <httpd:smax>%d</httpd:smax>\n", s->smax);
    ap_rprintf(r, "            <httpd:max>%d</httpd:max>\n", s->hmax);
    ap_rprintf(r, "            <httpd:ttl>%" APR_TIME_T_FMT "</httpd:ttl>\n",
               apr_time_sec(s->ttl));
    xml_worker_settings(r, s);
    ap_rvputs(r, "            <httpd:status>",
              esc(r, ap_proxy_parse_wstatus(r->pool, w)), "</httpd:status>\n",
              NULL);
    if (s->error_time > 0) {
        char date[APR_RFC822_DATE_LEN];
        apr_rfc822_date(date, s->error_time);
        ap_rvputs(r, "            <httpd:error_time>", date,
                  "</httpd:error_time>\n", NULL);
    }
    ap_rprintf(r, "            <httpd:retries>%d</httpd:retries>\n",
               s->retries);
    ap_rprintf(r, "            <httpd:lbstatus>%d</httpd:lbstatus>\n",
               s->lbstatus);
    ap_rprintf(r, "            <httpd:loadfactor>%.2f</httpd:loadfactor>\n",
               (float)s->lbfactor / 100.0);
    ap_rprintf(r,
               "            <httpd:transferred>%" APR_OFF_T_FMT
               "</httpd:transferred>\n",
               s->transferred);
    ap_rprintf(r, "            <httpd:read>%" APR_OFF_T_FMT "</httpd:read>\n",
               s->read);
    ap_rprintf(
        r, "            <httpd:elected>%" APR_SIZE_T_FMT "</httpd:elected>\n",
        s->elected);
    ap_rvputs(r, "            <httpd:route>", esc(r, s->route),
              "</httpd:route>\n            <httpd:redirect>",
              esc(r, s->redirect), "</httpd:redirect>\n", NULL);
    ap_rprintf(r, "            <httpd:busy>%" APR_SIZE_T_FMT "</httpd:busy>\n",
               s->busy);
    ap_rprintf(r, "            <httpd:lbset>%d</httpd:lbset>\n", s->lbset);
    xml_worker_protocol(r, s);
    ap_rputs("          </httpd:worker>\n", r);
}

void lbx_mgr_render_xml(struct lbx_mgr_req *m)
{
    request_rec *r = m->r;
    proxy_balancer *b = (proxy_balancer *)m->conf->balancers->elts;
    int i, j;

    ap_set_content_type(r, "text/xml");
    ap_rputs("<?xml version='1.0' encoding='UTF-8' ?>\n"
             "<httpd:manager xmlns:httpd='http://httpd.apache.org'>\n"
             "  <httpd:balancers>\n",
             r);
    for (i = 0; i < m->conf->balancers->nelts; i++) {
        proxy_balancer *bp = &b[i];
        proxy_worker **w = (proxy_worker **)bp->workers->elts;

        ap_rvputs(r, "    <httpd:balancer>\n      <httpd:name>",
                  esc(r, bp->s->name), "</httpd:name>\n      <httpd:nonce>",
                  esc(r, bp->s->nonce), "</httpd:nonce>\n", NULL);
        if (*bp->s->sticky) {
            ap_rvputs(r, "      <httpd:stickysession>", esc(r, bp->s->sticky),
                      "</httpd:stickysession>\n      <httpd:nofailover>",
                      bp->s->sticky_force ? "On" : "Off",
                      "</httpd:nofailover>\n", NULL);
        }
        ap_rprintf(r,
                   "      <httpd:timeout>%" APR_TIME_T_FMT "</httpd:timeout>\n",
                   apr_time_sec(bp->s->timeout));
        if (bp->s->max_attempts_set) {
            ap_rprintf(r, "      <httpd:maxattempts>%d</httpd:maxattempts>\n",
                       bp->s->max_attempts);
        }
        ap_rvputs(r, "      <httpd:lbmethod>", esc(r, bp->s->lbpname),
                  "</httpd:lbmethod>\n", NULL);
        if (*bp->s->sticky) {
            ap_rprintf(r,
                       "      <httpd:scolonpathdelim>%s"
                       "</httpd:scolonpathdelim>\n",
                       bp->s->scolonsep ? "On" : "Off");
        }
        ap_rputs("      <httpd:workers>\n", r);
        for (j = 0; j < bp->workers->nelts; j++) {
            if (!LBX_MEMBER_REMOVED(w[j])) {
                xml_worker(r, w[j]);
            }
        }
        ap_rputs("      </httpd:workers>\n    </httpd:balancer>\n", r);
    }
    ap_rputs("  </httpd:balancers>\n</httpd:manager>", r);
}

/* ---- JSON and metrics --------------------------------------------------- */

const char *lbx_mgr_json_str(request_rec *r, const char *s)
{
    /* Quotes, backslashes and control characters escaped, and < > & too,
     * so the JSON is safe to embed in a page.  Valid UTF-8 passes as it
     * is; any other byte (a name or value set with %XX escapes) is
     * written as the Latin-1 character of its value, so the answer stays
     * valid UTF-8 whatever was stored. */
    apr_size_t left = strlen(s), n;
    const char *p = s;
    char *out = apr_palloc(r->pool, left * 6 + 3), *o = out;

    *o++ = '"';
    while (left) {
        unsigned char c = (unsigned char)*p;

        n = c < 0x80 ? 1 : lbx_utf8_len(p, left);
        if (c < 0x20 || c == '"' || c == '\\' || c == '<' || c == '>'
            || c == '&' || n == 0) {
            apr_snprintf(o, 7, "\\u%04x", c);
            o += 6;
            n = 1;
        }
        else {
            memcpy(o, p, n);
            o += n;
        }
        p += n;
        left -= n;
    }
    *o++ = '"';
    *o = '\0';
    return out;
}

static const char *json_bool(int v)
{
    return v ? "true" : "false";
}

/* The member's response-time estimate in microseconds (kept while the
 * balancer uses bylatency), 0 when none. */
static apr_uint64_t latency_us(proxy_balancer *b, proxy_worker *w)
{
    struct lbx_hot *hot = lbx_hot_of(b);
    long slot = lbx_hot_slot(hot, w);

    return slot >= 0 ? lbx_atomic_load(&hot->latency_us[slot]) : 0;
}

/* Failure handling beyond stock: ejection, slow start, the last check. */
static void json_outlier(request_rec *r, proxy_balancer *b, proxy_worker *w)
{
    struct lbx_outlier_view v;
    apr_time_t now = apr_time_now();

    lbx_outlier_view(b, w, now, &v);
    ap_rprintf(
        r,
        "       \"outlier\": {\"consecutive_failures\": %" APR_UINT64_T_FMT
        ", \"ejected\": %s, \"ejected_until_ms\": %" APR_TIME_T_FMT
        ", \"ejected_for_ms\": %" APR_TIME_T_FMT
        ", \"ejections\": %" APR_UINT64_T_FMT ", \"slow_start_pct\": %.1f},\n",
        v.fails, json_bool(v.ejected_until != 0),
        apr_time_as_msec(v.ejected_until),
        v.ejected_until > now ? apr_time_as_msec(v.ejected_until - now) : 0,
        v.ejections, v.ramp_permille / 10.0);
    ap_rprintf(r,
               "       \"last_check\": {\"result\": %s, \"status\": %d, "
               "\"at_ms\": %" APR_TIME_T_FMT "},\n",
               lbx_mgr_json_str(r, lbx_outlier_check_name(v.check_result)),
               v.check_status, apr_time_as_msec(v.check_at));
}

static void json_member(request_rec *r, proxy_balancer *b, proxy_worker *w,
                        int comma)
{
    proxy_worker_shared *s = w->s;

    ap_rprintf(r,
               "      {\"name\": %s, \"route\": %s, \"redirect\": %s, "
               "\"loadfactor\": %.2f, \"lbset\": %d, \"status\": %s,\n",
               lbx_mgr_json_str(r, member_name(r, w)),
               lbx_mgr_json_str(r, s->route), lbx_mgr_json_str(r, s->redirect),
               (float)s->lbfactor / 100.0, s->lbset,
               lbx_mgr_json_str(r, ap_proxy_parse_wstatus(r->pool, w)));
    ap_rprintf(r,
               "       \"flags\": {\"ignore_errors\": %s, \"draining\": %s, "
               "\"disabled\": %s, \"standby\": %s, \"spare\": %s, "
               "\"stopped\": %s, \"in_error\": %s, \"hc_failed\": %s},\n",
               json_bool(s->status & PROXY_WORKER_IGNORE_ERRORS),
               json_bool(s->status & PROXY_WORKER_DRAIN),
               json_bool(s->status & PROXY_WORKER_DISABLED),
               json_bool(s->status & PROXY_WORKER_HOT_STANDBY),
               json_bool(s->status & PROXY_WORKER_HOT_SPARE),
               json_bool(s->status & PROXY_WORKER_STOPPED),
               json_bool(s->status & PROXY_WORKER_IN_ERROR),
               json_bool(s->status & PROXY_WORKER_HC_FAIL));
    ap_rprintf(r,
               "       \"usable\": %s, \"elected\": %" APR_SIZE_T_FMT
               ", \"busy\": %" APR_SIZE_T_FMT ", \"lbstatus\": %d, "
               "\"transferred\": %" APR_OFF_T_FMT ", \"read\": %" APR_OFF_T_FMT
               ", \"latency_us\": %" APR_UINT64_T_FMT ",\n",
               json_bool(lbx_outlier_usable(lbx_hot_of(b), w)), s->elected,
               s->busy, s->lbstatus, s->transferred, s->read, latency_us(b, w));
    json_outlier(r, b, w);
    lbx_mgr_stats_json(r, b, w);
    ap_rprintf(
        r,
        "       \"hc\": {\"method\": %s, \"interval_ms\": %" APR_TIME_T_FMT
        ", \"passes\": %d, \"fails\": %d, "
        "\"uri\": %s, \"expr\": %s}}%s\n",
        lbx_mgr_json_str(r, ap_proxy_show_hcmethod(w->s->method)),
        apr_time_as_msec(s->interval), s->passes, s->fails,
        lbx_mgr_json_str(r, s->hcuri), lbx_mgr_json_str(r, s->hcexpr),
        comma ? "," : "");
}

/* "checks": which front-end checks which member. */
static void json_checks(request_rec *r, proxy_server_conf *conf,
                        const struct lbx_fleet_view *v)
{
    proxy_balancer *b = (proxy_balancer *)conf->balancers->elts;
    const char *sep = "";
    int i, j;

    ap_rputs("],\n  \"checks\": [", r);
    for (i = 0; i < conf->balancers->nelts; i++) {
        proxy_worker **w = (proxy_worker **)b[i].workers->elts;

        for (j = 0; j < b[i].workers->nelts; j++) {
            const char *by = lbx_fleet_checker(v, &b[i], w[j]);

            if (by) {
                ap_rprintf(r,
                           "%s{\"balancer\": %s, \"member\": %s, "
                           "\"by\": %s}",
                           sep, lbx_mgr_json_str(r, b[i].s->name),
                           lbx_mgr_json_str(r, w[j]->s->name_ex),
                           lbx_mgr_json_str(r, by));
                sep = ", ";
            }
        }
    }
}

/* LBXFleet's state ("fleet": null without it); edits newest first. */
static void json_fleet(request_rec *r, proxy_server_conf *conf)
{
    struct lbx_fleet_view v;
    uint32_t i;

    if (!lbx_fleet_view(&v)) {
        ap_rputs(" \"fleet\": null\n", r);
        return;
    }
    ap_rprintf(r,
               " \"fleet\": {\"name\": %s, \"id\": %s, \"redis\": %s, "
               "\"connected\": %s, \"since_ms\": %" APR_UINT64_T_FMT
               ", \"last_sync_ms\": %" APR_UINT64_T_FMT ", \"error\": %s,\n"
               "  \"published\": %" APR_UINT64_T_FMT
               ", \"applied\": %" APR_UINT64_T_FMT
               ", \"refused\": %" APR_UINT64_T_FMT
               ", \"queued\": %" APR_UINT64_T_FMT
               ", \"dropped\": %" APR_UINT64_T_FMT ",\n  \"frontends\": [",
               lbx_mgr_json_str(r, v.name), lbx_mgr_json_str(r, v.id),
               lbx_mgr_json_str(r, v.url), json_bool((int)v.status.connected),
               v.status.since_ms, v.status.last_sync_ms,
               lbx_mgr_json_str(r, v.status.error), v.status.published,
               v.status.applied, v.status.refused, v.queued, v.dropped);
    for (i = 0; i < v.status.nfe; i++) {
        ap_rprintf(r, "%s{\"id\": %s, \"seen_ms\": %" APR_UINT64_T_FMT "}",
                   i ? ", " : "", lbx_mgr_json_str(r, v.status.fe[i].id),
                   v.status.fe[i].seen_ms);
    }
    ap_rputs("],\n  \"leases\": [", r);
    for (i = 0; i < v.status.nlease; i++) {
        ap_rprintf(r, "%s{\"frontend\": %s, \"members\": %u}", i ? ", " : "",
                   lbx_mgr_json_str(r, v.status.lease[i].id),
                   (unsigned)v.status.lease[i].members);
    }
    json_checks(r, conf, &v);
    ap_rputs("],\n  \"edits\": [", r);
    for (i = 0; i < v.status.naudit; i++) {
        const struct lbx_fleet_audit *a =
            &v.status.audit[(v.status.audit_next + LBX_FLEET_AUDIT_MAX - 1 - i)
                            % LBX_FLEET_AUDIT_MAX];

        ap_rprintf(r,
                   "%s\n   {\"at_ms\": %" APR_UINT64_T_FMT
                   ", \"frontend\": %s, \"client\": %s, \"edit\": %s}",
                   i ? "," : "", a->at_ms, lbx_mgr_json_str(r, a->fe),
                   lbx_mgr_json_str(r, a->client),
                   lbx_mgr_json_str(r, a->form));
    }
    ap_rputs("]}\n", r);
}

void lbx_mgr_json_balancer(request_rec *r, proxy_balancer *bp)
{
    proxy_worker **w = (proxy_worker **)bp->workers->elts;
    int last = -1, j;

    for (j = 0; j < bp->workers->nelts; j++) {
        if (!LBX_MEMBER_REMOVED(w[j])) {
            last = j;
        }
    }
    ap_rprintf(
        r,
        "  {\"name\": %s, \"sname\": %s, \"lbmethod\": %s, "
        "\"nonce\": %s, \"sticky\": %s, \"sticky_param\": %s, "
        "\"nofailover\": %s, \"timeout\": %" APR_TIME_T_FMT ", "
        "\"max_attempts\": %d, \"max_members\": %d,\n"
        "   \"ejections_refused\": %" APR_UINT64_T_FMT
        ", \"retries_refused\": %" APR_UINT64_T_FMT
        ", \"no_usable_member\": %" APR_UINT64_T_FMT ",\n"
        "   \"members\": [\n",
        lbx_mgr_json_str(r, bp->s->name), lbx_mgr_json_str(r, bp->s->sname),
        lbx_mgr_json_str(r, bp->s->lbpname), lbx_mgr_json_str(r, bp->s->nonce),
        lbx_mgr_json_str(r, bp->s->sticky),
        lbx_mgr_json_str(r, bp->s->sticky_path), json_bool(bp->s->sticky_force),
        apr_time_sec(bp->s->timeout), bp->s->max_attempts, bp->max_workers,
        lbx_outlier_refused(bp, 0), lbx_outlier_refused(bp, 1),
        lbx_mgr_no_member(bp));
    for (j = 0; j < bp->workers->nelts; j++) {
        if (!LBX_MEMBER_REMOVED(w[j])) {
            json_member(r, bp, w[j], j != last);
        }
    }
    ap_rputs("   ]}", r);
}

void lbx_mgr_render_json(struct lbx_mgr_req *m)
{
    request_rec *r = m->r;
    proxy_balancer *b = (proxy_balancer *)m->conf->balancers->elts;
    int i;

    ap_set_content_type(r, "application/json");
    ap_rprintf(r, "{\"server\": %s,\n \"balancers\": [\n",
               lbx_mgr_json_str(r, ap_get_server_name(r)));
    for (i = 0; i < m->conf->balancers->nelts; i++) {
        lbx_mgr_json_balancer(r, &b[i]);
        ap_rputs(i + 1 < m->conf->balancers->nelts ? ",\n" : "\n", r);
    }
    ap_rputs(" ],\n", r);
    json_fleet(r, m->conf);
    ap_rputs("}\n", r);
}

static const struct {
    const char *name;
    unsigned bit;
} metric_flags[] = {
    { "ignore_errors", PROXY_WORKER_IGNORE_ERRORS },
    { "draining", PROXY_WORKER_DRAIN },
    { "disabled", PROXY_WORKER_DISABLED },
    { "standby", PROXY_WORKER_HOT_STANDBY },
    { "spare", PROXY_WORKER_HOT_SPARE },
    { "stopped", PROXY_WORKER_STOPPED },
    { "in_error", PROXY_WORKER_IN_ERROR },
    { "hc_failed", PROXY_WORKER_HC_FAIL },
};

/* Name, type and help of each metric, in the order they are printed;
 * metric_count() and metric_sample() know each by its index. */
static const char *const metric_help[][3] = {
    { "lbx_member_usable", "gauge", "1 if the member can take requests" },
    { "lbx_member_elected_total", "counter", "times the member was chosen" },
    { "lbx_member_busy", "gauge", "requests in flight" },
    { "lbx_member_transferred_bytes_total", "counter",
      "bytes sent to the "
      "member" },
    { "lbx_member_read_bytes_total", "counter",
      "bytes read from the "
      "member" },
    { "lbx_member_lbfactor", "gauge", "load factor" },
    { "lbx_member_latency_seconds", "gauge",
      "response time estimate (peak-EWMA, lbmethod=bylatency; 0: none)" },
    { "lbx_member_status", "gauge", "1 if the status flag is set" },
    { "lbx_member_consecutive_failures", "gauge",
      "failed answers in a row (timeouts, gateway errors, listed statuses)" },
    { "lbx_member_ejected", "gauge", "1 while the member is ejected" },
    { "lbx_member_ejections_total", "counter", "times the member was ejected" },
    { "lbx_member_slow_start_ratio", "gauge",
      "share of its weight a returning member gets (1: full)" },
    { "lbx_member_last_check_passed", "gauge",
      "1 if the last health check passed (absent: never checked)" },
    { "lbx_member_last_check_timestamp_seconds", "gauge",
      "when the last health check ended" },
};

/* The value of counter or gauge k (below the load factor) of member w. */
static apr_uint64_t metric_count(size_t k, proxy_balancer *b, proxy_worker *w)
{
    switch (k) {
    case 0: return lbx_outlier_usable(lbx_hot_of(b), w) ? 1 : 0;
    case 1: return w->s->elected;
    case 2: return w->s->busy;
    case 3: return (apr_uint64_t)w->s->transferred;
    default: return (apr_uint64_t)w->s->read;
    }
}

/* Ejection, slow start and last-check metric k (0: the first of them). */
static void outlier_sample(request_rec *r, size_t k, const char *name,
                           const char *labels, proxy_balancer *b,
                           proxy_worker *w)
{
    struct lbx_outlier_view v;

    lbx_outlier_view(b, w, apr_time_now(), &v);
    switch (k) {
    case 0:
        ap_rprintf(r, "%s{%s} %" APR_UINT64_T_FMT "\n", name, labels, v.fails);
        break;
    case 1:
        ap_rprintf(r, "%s{%s} %d\n", name, labels, v.ejected_until != 0);
        break;
    case 2:
        ap_rprintf(r, "%s{%s} %" APR_UINT64_T_FMT "\n", name, labels,
                   v.ejections);
        break;
    case 3:
        ap_rprintf(r, "%s{%s} %.3f\n", name, labels, v.ramp_permille / 1000.0);
        break;
    case 4:
        if (v.check_at) {
            ap_rprintf(r, "%s{%s} %d\n", name, labels,
                       v.check_result == LBX_CHECK_PASSED);
        }
        break;
    default:
        if (v.check_at) {
            ap_rprintf(r, "%s{%s} %.3f\n", name, labels,
                       (double)v.check_at / APR_USEC_PER_SEC);
        }
        break;
    }
}

/* The sample(s) of metric k for member w. */
static void metric_sample(request_rec *r, size_t k, const char *labels,
                          proxy_balancer *b, proxy_worker *w)
{
    const char *name = metric_help[k][0];
    size_t f;

    if (k < 5) {
        ap_rprintf(r, "%s{%s} %" APR_UINT64_T_FMT "\n", name, labels,
                   metric_count(k, b, w));
    }
    else if (k == 5) {
        ap_rprintf(r, "%s{%s} %.2f\n", name, labels,
                   (float)w->s->lbfactor / 100.0);
    }
    else if (k == 6) {
        ap_rprintf(r, "%s{%s} %.6f\n", name, labels,
                   (double)latency_us(b, w) / 1e6);
    }
    else if (k > 7) {
        outlier_sample(r, k - 8, name, labels, b, w);
    }
    else {
        for (f = 0; f < sizeof(metric_flags) / sizeof(metric_flags[0]); f++) {
            ap_rprintf(r, "%s{%s,flag=\"%s\"} %d\n", name, labels,
                       metric_flags[f].name,
                       (w->s->status & metric_flags[f].bit) ? 1 : 0);
        }
    }
}

void lbx_mgr_render_metrics(struct lbx_mgr_req *m)
{
    request_rec *r = m->r;
    proxy_balancer *b = (proxy_balancer *)m->conf->balancers->elts;
    size_t k;
    int i, j;

    ap_set_content_type(r, "text/plain; version=0.0.4");
    for (k = 0; k < sizeof(metric_help) / sizeof(metric_help[0]); k++) {
        ap_rvputs(r, "# HELP ", metric_help[k][0], " ", metric_help[k][2],
                  "\n# TYPE ", metric_help[k][0], " ", metric_help[k][1], "\n",
                  NULL);
        for (i = 0; i < m->conf->balancers->nelts; i++) {
            proxy_worker **w = (proxy_worker **)b[i].workers->elts;
            for (j = 0; j < b[i].workers->nelts; j++) {
                if (LBX_MEMBER_REMOVED(w[j])) {
                    continue;
                }
                metric_sample(r, k, lbx_mgr_prom_labels(r, &b[i], w[j]), &b[i],
                              w[j]);
            }
        }
    }
    lbx_mgr_stats_metrics(r, m->conf);
}
