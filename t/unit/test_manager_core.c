/* Unit tests for manager_core.c: form parsing and validation. */
#include <check.h>
#include <string.h>

#include "lbx_tests.h"
#include "manager_core.h"

static struct lbx_mgr_param params[16];
static char buf[4096];
static char err[256];

static int parse(const char *form)
{
    strcpy(buf, form);
    return lbx_mgr_parse_form(buf, params, 16);
}

START_TEST(test_parse_form)
{
    int n = parse("b=c1&w=http%253A%252F%252Fh%253A80&nonce=x&novalue&&"
                  "w_lf=2&w_lf=3&sp=a+b&pct=%zz%00");

    ck_assert_int_eq(n, 8);
    ck_assert_str_eq(lbx_mgr_get(params, n, "w"), "http://h:80");
    ck_assert_str_eq(lbx_mgr_get(params, n, "novalue"), "");
    ck_assert_str_eq(lbx_mgr_get(params, n, "w_lf"), "3");
    ck_assert_str_eq(lbx_mgr_get(params, n, "sp"), "a+b");
    ck_assert_str_eq(lbx_mgr_get(params, n, "pct"), "%zz%00");
    ck_assert_ptr_null(lbx_mgr_get(params, n, "missing"));
}
END_TEST

START_TEST(test_parse_limits)
{
    char many[2048] = "";
    int i;

    for (i = 0; i < 17; i++) {
        strcat(many, "k=v&");
    }
    ck_assert_int_eq(parse(many), -1);
    ck_assert_int_eq(parse(""), 0);
    ck_assert_int_eq(parse("&&&"), 0);
}
END_TEST

START_TEST(test_filter)
{
    static const char *const allowed[] = { "b", "w", "nonce", "xml", NULL };
    int n = parse("b=x&w_lf=5&xml=1&evil=1");

    n = lbx_mgr_filter(params, n, allowed);
    ck_assert_int_eq(n, 2);
    ck_assert_str_eq(params[0].key, "b");
    ck_assert_str_eq(params[1].key, "xml");
}
END_TEST

START_TEST(test_secret_eq)
{
    ck_assert(lbx_mgr_secret_eq("abc", "abc"));
    ck_assert(!lbx_mgr_secret_eq("abc", "abd"));
    ck_assert(!lbx_mgr_secret_eq("abc", "ab"));
    ck_assert(!lbx_mgr_secret_eq("abc", "abcd"));
    ck_assert(!lbx_mgr_secret_eq("", "x"));
    ck_assert(lbx_mgr_secret_eq("", ""));
}
END_TEST

static const struct {
    const char *form;
    int ok;
} worker_forms[] = {
    { "w_lf=1", 1 },
    { "w_lf=100", 1 },
    { "w_lf=2.5", 1 },
    { "w_lf=.5", 0 },
    { "w_lf=0.99", 0 },
    { "w_lf=101", 0 },
    { "w_lf=abc", 0 },
    { "w_lf=", 0 },
    { "w_lf=1e2", 0 },
    { "w_lf=-1", 0 },
    { "w_lf=99999999999999", 0 },
    { "w_wr=", 1 },
    { "w_wr=r1", 1 },
    { "w_wr=0123456789012345678901234567890123456789012345678901234567890123",
      0 },
    { "w_status_D=1", 1 },
    { "w_status_D=0", 1 },
    { "w_status_D=x", 0 },
    { "w_status_S=", 0 },
    { "w_ls=99", 1 },
    { "w_ls=100", 0 },
    { "w_ls=-1", 0 },
    { "w_hi=100", 1 },
    { "w_hi=99", 0 },
    { "w_hi=2s", 1 },
    { "w_hi=1mi", 1 },
    { "w_hi=5xs", 0 },
    { "w_hp=1", 1 },
    { "w_hp=0", 1 },
    { "w_hp=x", 0 },
    { "w_hf=3", 1 },
    { "w_hf=-3", 0 },
    { "w_hm=GET", 1 },
    { "w_hm=", 0 },
    { "w_he=", 1 },
    { "w_he=0123456789abcdef", 0 },
    { "w_remove=1", 1 },
    { "w_remove=yes", 0 },
    /* Integers: one optional '-', digits only, leading zeros fine. */
    { "w_status_D=-0", 1 },
    { "w_status_D=-", 0 },
    { "w_status_D=--1", 0 },
    { "w_status_D=+1", 0 },
    { "w_status_D=1000000", 1 },
    { "w_status_D=1000001", 0 },
    { "w_status_D=99999999999999999999999", 0 },
    { "w_ls=0000000000000000000000000099", 1 },
    { "w_ls=%39%39", 1 },
    { "w_hp=1000000", 1 },
    { "w_hp=1000001", 0 },
    { "w_hf=1 ", 0 },
    /* Times must fit in microseconds: 10^11 hours does not. */
    { "w_hi=100000000000", 1 },
    { "w_hi=100000000001", 0 },
    { "w_hi=2562047788hr", 1 },
    { "w_hi=2562047789hr", 0 },
    { "w_hi=100000000000hr", 0 },
    { "w_hi=100000000000mi", 1 },
    { "w_hi=hr", 0 },
    { "w_hi=", 0 },
    { "w_lf=0001.5", 1 },
    { "w_lf=1000001", 0 },
    { "w_lf=100.", 1 },
};

START_TEST(test_worker_validation)
{
    struct lbx_mgr_worker_edit e;
    int n = parse(worker_forms[_i].form);
    const char *msg = lbx_mgr_worker_edit(params, n, &e, err, sizeof(err));

    ck_assert_msg((msg == NULL) == worker_forms[_i].ok, "%s -> %s",
                  worker_forms[_i].form, msg ? msg : "ok");
}
END_TEST

START_TEST(test_worker_values)
{
    struct lbx_mgr_worker_edit e;
    int n = parse("w_lf=2.75&w_wr=r%3Cb%3E&w_status_D=1&w_status_N=0&"
                  "w_hi=250&w_ls=3");

    ck_assert_ptr_null(lbx_mgr_worker_edit(params, n, &e, err, sizeof(err)));
    ck_assert_int_eq(e.lbfactor, 275);
    ck_assert_str_eq(e.route, "r<b>");
    ck_assert_int_eq(e.flag[strchr(LBX_MGR_FLAGS, 'D') - LBX_MGR_FLAGS], 1);
    ck_assert_int_eq(e.flag[strchr(LBX_MGR_FLAGS, 'N') - LBX_MGR_FLAGS], 0);
    ck_assert_int_eq(e.flag[strchr(LBX_MGR_FLAGS, 'H') - LBX_MGR_FLAGS], -1);
    ck_assert(e.interval_us == 250000);
    ck_assert_int_eq(e.lbset, 3);
    ck_assert(!(e.set & LBX_MW_REDIRECT));
}
END_TEST

START_TEST(test_balancer_validation)
{
    struct lbx_mgr_balancer_edit e;
    int n;

    n = parse("b_ss=JSESSIONID%7Cjsessionid&b_tmo=5&b_max=2&b_sforce=7&"
              "b_lbm=bybusyness&b_nwrkr=http%3A%2F%2Fh%3A81&b_wyes=1");
    ck_assert_ptr_null(lbx_mgr_balancer_edit(params, n, &e, err, sizeof(err)));
    ck_assert_str_eq(e.sticky, "JSESSIONID");
    ck_assert_str_eq(e.sticky_path, "jsessionid");
    ck_assert_int_eq(e.timeout_s, 5);
    ck_assert_int_eq(e.max_attempts, 2);
    ck_assert_int_eq(e.sticky_force, 1);
    ck_assert_str_eq(e.lbmethod, "bybusyness");
    ck_assert_str_eq(e.new_member, "http://h:81");

    n = parse("b_ss=-&b_nwrkr=http%3A%2F%2Fh%3A81");
    ck_assert_ptr_null(lbx_mgr_balancer_edit(params, n, &e, err, sizeof(err)));
    ck_assert(e.set & LBX_MB_STICKY);
    ck_assert_str_eq(e.sticky, "");
    ck_assert(!(e.set & LBX_MB_ADD)); /* no b_wyes=1 */

    n = parse("b_ss=");
    ck_assert_ptr_null(lbx_mgr_balancer_edit(params, n, &e, err, sizeof(err)));
    ck_assert(!(e.set & LBX_MB_STICKY));

    n = parse("b_tmo=-1");
    ck_assert_ptr_nonnull(
        lbx_mgr_balancer_edit(params, n, &e, err, sizeof(err)));
    ck_assert(strstr(err, "b_tmo") != NULL);
    n = parse("b_max=abc");
    ck_assert_ptr_nonnull(
        lbx_mgr_balancer_edit(params, n, &e, err, sizeof(err)));
    n = parse("b_lbm=averyveryverylongname");
    ck_assert_ptr_nonnull(
        lbx_mgr_balancer_edit(params, n, &e, err, sizeof(err)));
    n = parse(
        "b_ss="
        "0123456789012345678901234567890123456789012345678901234567890123");
    ck_assert_ptr_nonnull(
        lbx_mgr_balancer_edit(params, n, &e, err, sizeof(err)));
    /* 63 characters is a valid cookie name, as in the configuration. */
    n = parse(
        "b_ss=012345678901234567890123456789012345678901234567890123456789012");
    ck_assert_ptr_null(lbx_mgr_balancer_edit(params, n, &e, err, sizeof(err)));
    n = parse(
        "b_ss=A%"
        "7C0123456789012345678901234567890123456789012345678901234567890123");
    ck_assert_ptr_nonnull(
        lbx_mgr_balancer_edit(params, n, &e, err, sizeof(err)));
}
END_TEST

START_TEST(test_hostile_values_are_quoted_short)
{
    struct lbx_mgr_worker_edit e;
    char form[1200] = "w_lf=<script>";
    int n;

    memset(form + strlen(form), 'x', 1000);
    n = parse(form);
    ck_assert_ptr_nonnull(lbx_mgr_worker_edit(params, n, &e, err, sizeof(err)));
    /* The message quotes at most 80 characters of the value. */
    ck_assert(strlen(err) < 160);
}
END_TEST

TCase *lbx_tcase_manager_core(void)
{
    TCase *tc = tcase_create("manager_core");

    tcase_add_test(tc, test_parse_form);
    tcase_add_test(tc, test_parse_limits);
    tcase_add_test(tc, test_filter);
    tcase_add_test(tc, test_secret_eq);
    tcase_add_loop_test(tc, test_worker_validation, 0,
                        sizeof(worker_forms) / sizeof(worker_forms[0]));
    tcase_add_test(tc, test_worker_values);
    tcase_add_test(tc, test_balancer_validation);
    tcase_add_test(tc, test_hostile_values_are_quoted_short);
    return tc;
}
