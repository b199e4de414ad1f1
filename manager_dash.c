/* manager_dash.c: the live dashboard, /balancer-manager?view=dashboard.
 *
 * One HTML page, complete without JavaScript: per balancer and member the
 * last minute's requests/s, server errors/s, failovers/s, p50 and p99
 * (stats.c's window), requests in flight, load factor and the weight a
 * slow start leaves it, the state with its reason, and a trend line of
 * the requests/s of each 10 s of that minute.  A few lines of script
 * fetch the same page every few seconds and swap the tables in, unless
 * the operator is using one of its forms.  The forms are the manager's
 * own (POST, the balancer's nonce, the Referer the browser sends), with
 * view=dashboard so the answer is this page again. */
#include "apr_strings.h"
#include "http_protocol.h"

#include "manager_dash.h"
#include "manager_stats.h"
#include "outlier.h"
#include "stats.h"

/* Up to this many members the page refreshes every 2 s, above every 10 s
 * (1,024 members make a page of about 2 MB). */
#define LBX_DASH_FAST_MAX 200

/* HTML-escaped, single quotes too: the page quotes attributes with them,
 * and r->uri (path info included) is the client's. */
static const char *esc(request_rec *r, const char *s)
{
    const char *h = ap_escape_html(r->pool, s ? s : "");
    const char *q = strchr(h, '\'');
    char *out, *o;

    if (!q) {
        return h;
    }
    o = out = apr_palloc(r->pool, strlen(h) * 5 + 1);
    for (; *h; h++) {
        if (*h == '\'') {
            memcpy(o, "&#39;", 5);
            o += 5;
        }
        else {
            *o++ = *h;
        }
    }
    *o = '\0';
    return out;
}

static const char *when(request_rec *r, apr_time_t t)
{
    char *buf = apr_palloc(r->pool, APR_RFC822_DATE_LEN);

    apr_rfc822_date(buf, t);
    return buf;
}

/* "12.3", or an en dash when there is nothing to show. */
static const char *num(request_rec *r, double v, const char *fmt)
{
    return v < 0 ? "&ndash;" : apr_psprintf(r->pool, fmt, v);
}

static const char *ms(request_rec *r, double seconds)
{
    return seconds < 0 ? "&ndash;"
                       : apr_psprintf(r->pool, "%.1f&nbsp;ms", seconds * 1e3);
}

/* The state in a word and the reason in a sentence. */
static const char *state_of(request_rec *r, proxy_balancer *b, proxy_worker *w,
                            const char **reason)
{
    const struct lbx_member_stats *s = lbx_stats_of(b, w);
    struct lbx_outlier_view v;
    apr_time_t now = apr_time_now();
    unsigned st = (unsigned)w->s->status;
    const char *edit = s && s->edited_at
        ? apr_psprintf(r->pool, "manager edit by %s, %s", esc(r, s->edited_by),
                       when(r, (apr_time_t)s->edited_at))
        : "set in the configuration";

    lbx_outlier_view(b, w, now, &v);
    *reason = "";
    if (st & PROXY_WORKER_DISABLED) {
        *reason = edit;
        return "Disabled";
    }
    if (st & PROXY_WORKER_STOPPED) {
        *reason = edit;
        return "Stopped";
    }
    if (st & PROXY_WORKER_HC_FAIL) {
        *reason = apr_psprintf(
            r->pool, "health check failing: %s%s, %" APR_TIME_T_FMT " s ago",
            lbx_outlier_check_name(v.check_result),
            v.check_status ? apr_psprintf(r->pool, " (%d)", v.check_status)
                           : "",
            v.check_at ? apr_time_sec(now - v.check_at) : 0);
        return "Check failing";
    }
    if (st & PROXY_WORKER_IN_ERROR) {
        *reason = apr_psprintf(
            r->pool, "in error since %s, retried after %" APR_TIME_T_FMT " s",
            when(r, w->s->error_time), apr_time_sec(w->s->retry));
        return "In error";
    }
    if (v.ejected_until > now) {
        *reason = apr_psprintf(r->pool,
                               "ejected after %" APR_UINT64_T_FMT
                               " failed answers, until %s",
                               v.fails, when(r, v.ejected_until));
        return "Ejected";
    }
    if (st & PROXY_WORKER_DRAIN) {
        *reason = edit;
        return "Draining";
    }
    if (st & (PROXY_WORKER_HOT_STANDBY | PROXY_WORKER_HOT_SPARE)) {
        *reason = "takes requests when the others cannot";
        return st & PROXY_WORKER_HOT_STANDBY ? "Standby" : "Spare";
    }
    if (v.ramp_permille < 1000) {
        *reason = apr_psprintf(r->pool, "slow start: %u%% of its weight",
                               v.ramp_permille / 10);
    }
    else if (v.check_at) {
        *reason =
            apr_psprintf(r->pool, "last check %s, %" APR_TIME_T_FMT " s ago",
                         lbx_outlier_check_name(v.check_result),
                         apr_time_sec(now - v.check_at));
    }
    return "Up";
}

/* Requests/s in each 10 s of the window, as an SVG polyline. */
static void trend(request_rec *r, proxy_balancer *b, proxy_worker *w,
                  apr_time_t now)
{
    double rate[LBX_STATS_RING + 1], top = 0;
    int n = lbx_mgr_trend(b, w, now, rate, LBX_STATS_RING + 1), i;
    const char *points = "";

    for (i = 0; i < n; i++) {
        top = rate[i] > top ? rate[i] : top;
    }
    if (n == 1) {
        /* Less than 10 s of history: one rate, drawn level. */
        rate[1] = rate[0];
        n = 2;
    }
    for (i = 0; i < n; i++) {
        points = apr_psprintf(r->pool, "%s%s%d,%.1f", points, i ? " " : "",
                              i * 60 / (n - 1),
                              top > 0 ? 15 - 14 * rate[i] / top : 15.0);
    }
    ap_rprintf(r,
               "<svg class='spark' viewBox='0 0 60 16' role='img' "
               "aria-label='requests per second, last minute, peak %.1f'>"
               "<polyline points='%s'/></svg>",
               top, points);
}

static void action(request_rec *r, proxy_balancer *b, proxy_worker *w,
                   const char *fields, const char *label)
{
    const char *name = b->s->name + sizeof(BALANCER_PREFIX) - 1;

    ap_rvputs(r, "<form method='post' action='", esc(r, r->uri),
              "'><input type='hidden' name='b' value='", esc(r, name),
              "'><input type='hidden' name='w' value='", esc(r, w->s->name_ex),
              "'><input type='hidden' name='nonce' "
              "value='",
              esc(r, b->s->nonce),
              "'><input type='hidden' "
              "name='view' value='dashboard'>",
              fields, "<button>", label, "</button></form>", NULL);
}

static void member_row(request_rec *r, proxy_balancer *b, proxy_worker *w,
                       apr_time_t now)
{
    struct lbx_window_rates rt = { -1, -1, -1, -1, -1 };
    struct lbx_outlier_view v;
    const char *reason, *state = state_of(r, b, w, &reason);
    double seconds;

    lbx_mgr_window(b, w, now, &rt, &seconds);
    lbx_outlier_view(b, w, now, &v);
    ap_rvputs(
        r, "<tr data-member='", esc(r, w->s->name_ex), "'><th scope='row'>",
        esc(r, ap_proxy_worker_name(r->pool, w)), "</th><td class='state s-",
        apr_pstrmemdup(r->pool, state, strcspn(state, " ")), "'><strong>",
        state, "</strong><br><span class='why'>", reason, "</span></td>", NULL);
    ap_rvputs(r, "<td class='rps'>", num(r, rt.requests_per_s, "%.2f"),
              "</td><td>", num(r, rt.errors_per_s, "%.2f"), "</td><td>",
              num(r, rt.failovers_per_s, "%.2f"), "</td><td>", ms(r, rt.p50_s),
              "</td><td>", ms(r, rt.p99_s), "</td>", NULL);
    ap_rprintf(r,
               "<td>%" APR_SIZE_T_FMT "</td><td>%.2f<br><span class='why'>"
               "%.2f effective</span></td><td>",
               w->s->busy, w->s->lbfactor / 100.0,
               w->s->lbfactor / 100.0 * v.ramp_permille / 1000.0);
    trend(r, b, w, now);
    ap_rputs("</td><td class='act'>", r);
    if (*b->s->nonce) {
        action(r, b, w, "<input type='hidden' name='w_status_D' value='1'>",
               "Disable");
        action(r, b, w, "<input type='hidden' name='w_status_N' value='1'>",
               "Drain");
        action(r, b, w,
               "<input type='hidden' name='w_status_D' value='0'>"
               "<input type='hidden' name='w_status_N' value='0'>",
               "Enable");
        action(r, b, w,
               apr_psprintf(r->pool,
                            "<label>Load factor <input name='w_lf' "
                            "size='4' inputmode='decimal' value='%.2f'>"
                            "</label>",
                            w->s->lbfactor / 100.0),
               "Set");
    }
    else {
        ap_rputs("nonce=None: read only", r);
    }
    ap_rputs("</td></tr>\n", r);
}

static void balancer_section(request_rec *r, proxy_balancer *b, apr_time_t now)
{
    proxy_worker **w = (proxy_worker **)b->workers->elts;
    int i, up = 0, all = 0;

    for (i = 0; i < b->workers->nelts; i++) {
        if (!LBX_MEMBER_REMOVED(w[i])) {
            all++;
            up += lbx_outlier_usable(lbx_hot_of(b), w[i]);
        }
    }
    ap_rvputs(r, "<section><h2>", esc(r, b->s->name), "</h2>\n<p>",
              esc(r, b->s->lbpname), NULL);
    ap_rprintf(r,
               " &middot; %d of %d members usable &middot; %" APR_UINT64_T_FMT
               " requests found no usable member (503)</p>\n",
               up, all, lbx_mgr_no_member(b));
    ap_rvputs(r, "<div class='scroll'><table><caption>Members of ",
              esc(r, b->s->name),
              ", last minute</caption><thead><tr><th scope='col'>Member"
              "</th><th scope='col'>State</th><th scope='col'>Req/s</th>"
              "<th scope='col'>5xx/s</th><th scope='col'>Failovers/s</th>"
              "<th scope='col'>p50</th><th scope='col'>p99</th>"
              "<th scope='col'>In flight</th><th scope='col'>Load factor"
              "</th><th scope='col'>Trend</th><th scope='col'>Actions</th>"
              "</tr></thead><tbody>\n",
              NULL);
    for (i = 0; i < b->workers->nelts; i++) {
        if (!LBX_MEMBER_REMOVED(w[i])) {
            member_row(r, b, w[i], now);
        }
    }
    ap_rputs("</tbody></table></div></section>\n", r);
}

/* The refresh: fetch this page, swap in the new tables, keep still while
 * focus is in a form (an operator typing a load factor). */
static const char script[] =
    "(function(){var E=document.getElementById('live');"
    "function busy(){var a=document.activeElement;"
    "return a&&a.form&&E.contains(a);}"
    "function tick(){if(busy()){return;}"
    "fetch(location.pathname+'?view=dashboard',{cache:'no-store'})"
    ".then(function(r){return r.text();}).then(function(t){"
    "if(busy()){return;}"
    "var d=new DOMParser().parseFromString(t,'text/html');"
    "var n=d.getElementById('live');if(n&&on){E.innerHTML=n.innerHTML;"
    "var s=document.getElementById('stamp');"
    "s.textContent=d.getElementById('stamp').textContent;"
    "document.body.setAttribute('data-refreshes',"
    "1+(+document.body.getAttribute('data-refreshes')));}})"
    ".catch(function(){});}"
    "var S=1000*(+document.body.getAttribute('data-every')||2);"
    "var on=1,t=setInterval(tick,S),a=document.getElementById('auto');"
    "a.textContent='Updates itself every '+S/1000+' seconds. ';"
    "var p=document.createElement('button');p.type='button';"
    "p.textContent='Pause updates';p.onclick=function(){on=!on;"
    "if(on){t=setInterval(tick,S);}else{clearInterval(t);}"
    "p.textContent=on?'Pause updates':'Resume updates';};"
    "a.appendChild(p);})();";

static const char style[] =
    "body{font-family:sans-serif;margin:1em;color:#111;background:#fff}"
    "table{border-collapse:collapse;margin-bottom:1em}"
    "caption{text-align:left;font-weight:bold;padding:.3em 0}"
    "th,td{border:1px solid #767676;padding:.3em .5em;text-align:right;"
    "vertical-align:top}"
    "thead th{background:#e8e8e8}tbody th{text-align:left;font-weight:normal}"
    "thead th:nth-child(-n+2){text-align:left}"
    ".state{text-align:left}.why{font-size:.85em;color:#333}"
    ".s-Up{background:#d7f5d7}.s-Draining,.s-Standby,.s-Spare{background:"
    "#fff3c4}.s-Disabled,.s-Stopped{background:#e6e6e6}"
    ".s-In,.s-Ejected,.s-Check{background:#fbd3d3}"
    ".scroll{overflow-x:auto}.spark{width:60px;height:16px}"
    ".spark polyline{fill:none;stroke:#0b5394;stroke-width:1.5}"
    ".act form{display:inline-block;margin:0 .2em .2em 0}"
    "button,input{font-size:1em}button{padding:.2em .6em}"
    ":focus{outline:3px solid #0b5394;outline-offset:1px}"
    ".refused{border:2px solid #c00;background:#fee;padding:.5em}"
    "@media (max-width:600px){th,td{padding:.2em}}";

void lbx_mgr_render_dashboard(struct lbx_mgr_req *m)
{
    request_rec *r = m->r;
    proxy_balancer *b = (proxy_balancer *)m->conf->balancers->elts;
    apr_time_t now = apr_time_now();
    int i, members = 0;

    for (i = 0; i < m->conf->balancers->nelts; i++) {
        members += b[i].workers->nelts;
    }
    ap_set_content_type(r, "text/html; charset=UTF-8");
    apr_table_setn(r->headers_out, "Cache-Control", "no-store");
    ap_rvputs(r,
              "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
              "<meta name='viewport' content='width=device-width, "
              "initial-scale=1'><title>Balancer dashboard</title><style>",
              style, "</style></head>\n<body data-every='",
              /* a page of hundreds of members is megabytes: fetch it less */
              members > LBX_DASH_FAST_MAX ? "10" : "2", "'><h1>Balancers of ",
              esc(r, ap_get_server_name(r)), "</h1>\n<p><a href='",
              esc(r, r->uri),
              "'>Balancer manager</a> &middot; <span id='stamp'>", when(r, now),
              "</span> &middot; <span id='auto'>A snapshot: reload for "
              "new numbers.</span></p>\n",
              NULL);
    lbx_mgr_html_notice(m, "refused");
    ap_rputs("<div id='live'>\n", r);
    for (i = 0; i < m->conf->balancers->nelts; i++) {
        balancer_section(r, &b[i], now);
    }
    ap_rvputs(r, "</div>\n<script>", script, "</script></body></html>\n", NULL);
}
