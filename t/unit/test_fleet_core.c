/* Unit tests for fleet_core.c: edits encoded for other front-ends, stream
 * ids, the join's order and the queue of local edits. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "lbx_tests.h"
#include "fleet_core.h"

/* ---- encoding round trip ------------------------------------------------ */

static const struct {
    const char *what;
    const char *val; /* the value of w_wr, as the manager saw it */
} values[] = {
    { "plain", "web1" },
    { "empty", "" },
    { "percent", "100%" },
    { "escape look-alike", "%41%2541" },
    { "separators", "a&b=c+d" },
    { "space and slash", "x y/z" },
    { "high bytes", "\xc3\xa9\xff" },
    { "newline", "a\nb" },
};

START_TEST(test_encode_round_trip)
{
    char val[64], form[256];
    struct lbx_mgr_param in[4], out[8];
    size_t len;
    int n;

    strcpy(val, values[_i].val);
    in[0].key = "b";
    in[0].val = "app";
    in[1].key = "nonce";
    in[1].val = "secret";
    in[2].key = "w";
    in[2].val = "http://127.0.0.1:8080/a b";
    in[3].key = "w_wr";
    in[3].val = val;
    len = lbx_fleet_encode(in, 4, form, sizeof(form));
    ck_assert_msg(len > 0 && len == strlen(form), "%s", values[_i].what);
    ck_assert_msg(!strstr(form, "secret"), "%s: nonce shared", values[_i].what);
    n = lbx_mgr_parse_form(form, out, 8);
    ck_assert_int_eq(n, 3);
    ck_assert_str_eq(out[0].key, "b");
    ck_assert_str_eq(out[0].val, "app");
    ck_assert_str_eq(out[1].val, "http://127.0.0.1:8080/a b");
    ck_assert_str_eq(out[2].key, "w_wr");
    ck_assert_msg(!strcmp(out[2].val, values[_i].val), "%s: got '%s'",
                  values[_i].what, out[2].val);
}
END_TEST

START_TEST(test_encode_room)
{
    struct lbx_mgr_param in[2] = { { "b", "app" }, { "w_lf", "50" } };
    char form[32];
    size_t need = lbx_fleet_encode(in, 2, form, sizeof(form));
    size_t room;

    ck_assert_uint_eq(need, strlen("b=app&w_lf=50"));
    /* Any smaller buffer refuses instead of cutting the edit short. */
    for (room = 0; room <= need; room++) {
        ck_assert_uint_eq(lbx_fleet_encode(in, 2, form, room), 0);
    }
    ck_assert_uint_eq(lbx_fleet_encode(in, 2, form, need + 1), need);
}
END_TEST

/* ---- ids ---------------------------------------------------------------- */

static const struct {
    const char *text;
    int ok;
    uint64_t ms, seq;
} ids[] = {
    { "1700000000000-0", 1, 1700000000000ull, 0 },
    { "0-1", 1, 0, 1 },
    { "18446744073709551615-18446744073709551615", 1, UINT64_MAX, UINT64_MAX },
    { "18446744073709551616-0", 0, 0, 0 },
    { "12", 0, 0, 0 },
    { "-1", 0, 0, 0 },
    { "1-", 0, 0, 0 },
    { "1-2-3", 0, 0, 0 },
    { "a-1", 0, 0, 0 },
    { "", 0, 0, 0 },
};

START_TEST(test_parse_id)
{
    struct lbx_stream_id id = { 7, 7 };
    char back[42];
    int rc = lbx_fleet_parse_id(ids[_i].text, strlen(ids[_i].text), &id);

    ck_assert_msg((rc == 0) == ids[_i].ok, "'%s'", ids[_i].text);
    if (!ids[_i].ok) {
        ck_assert(id.ms == 7 && id.seq == 7);
        return;
    }
    ck_assert(id.ms == ids[_i].ms && id.seq == ids[_i].seq);
    lbx_fleet_format_id(&id, back);
    ck_assert_str_eq(back, ids[_i].text);
}
END_TEST

START_TEST(test_id_order)
{
    struct lbx_stream_id a = { 5, 9 }, b = { 6, 0 }, c = { 6, 1 };

    ck_assert_int_lt(lbx_fleet_id_cmp(&a, &b), 0);
    ck_assert_int_lt(lbx_fleet_id_cmp(&b, &c), 0);
    ck_assert_int_gt(lbx_fleet_id_cmp(&c, &a), 0);
    ck_assert_int_eq(lbx_fleet_id_cmp(&c, &c), 0);
}
END_TEST

START_TEST(test_parse_state)
{
    static const char good[] = "12-3 4 b=app&w_lf=5";
    static const char nul[] = "12-3 0 b=a\0pp";
    static const char *const bad[] = {
        "12-3", "12-3 b=a", "x 0 b=a", "12-3 x b=a", "12-3 1001 b", "12-3  b=a"
    };
    struct lbx_stream_id id;
    unsigned index;
    const char *form;
    size_t i;

    ck_assert_int_eq(
        lbx_fleet_parse_state(good, strlen(good), &id, &index, &form), 0);
    ck_assert(id.ms == 12 && id.seq == 3 && index == 4);
    ck_assert_str_eq(form, "b=app&w_lf=5");
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ck_assert_msg(
            lbx_fleet_parse_state(bad[i], strlen(bad[i]), &id, &index, &form)
                == -1,
            "'%s'", bad[i]);
    }
    ck_assert_int_eq(
        lbx_fleet_parse_state(nul, sizeof(nul) - 1, &id, &index, &form), -1);
}
END_TEST

/* ---- join order --------------------------------------------------------- */

START_TEST(test_join_order)
{
    /* A member re-added at 12 after an edit at 7: the add comes first so
     * the edit finds it; the fields of one edit go in their order. */
    struct lbx_fleet_entry e[5] = {
        { { 7, 0 }, 1, 0 }, { { 12, 0 }, 0, 1 }, { { 3, 0 }, 0, 0 },
        { { 7, 0 }, 0, 0 }, { { 2, 0 }, 0, 1 },
    };
    size_t order[5], expect[5] = { 4, 1, 2, 3, 0 }, i;

    lbx_fleet_join_order(e, 5, order);
    for (i = 0; i < 5; i++) {
        ck_assert_uint_eq(order[i], expect[i]);
    }
    lbx_fleet_join_order(e, 0, order);
}
END_TEST

/* ---- the queue ---------------------------------------------------------- */

static struct lbx_fleet_queue *queue_new(uint32_t cap)
{
    struct lbx_fleet_queue *q = malloc(LBX_FLEET_QUEUE_BYTES(cap));

    ck_assert_ptr_nonnull(q);
    lbx_fleet_queue_init(q, cap);
    return q;
}

START_TEST(test_queue_order_full_and_wrap)
{
    struct lbx_fleet_queue *q = queue_new(3);
    struct lbx_fleet_slot s, again;
    char form[8];
    int round, i;
    int64_t pos;

    ck_assert_int_eq(lbx_fleet_queue_peek(q, &s), -1);
    ck_assert(!lbx_fleet_queue_waiting(q));
    for (round = 0; round < 4; round++) {
        for (i = 0; i < 3; i++) {
            form[0] = (char)('a' + i);
            ck_assert_int_eq(lbx_fleet_queue_push(q, form, 1, "127.0.0.1",
                                                  (uint64_t)(round * 10 + i)),
                             0);
        }
        ck_assert_int_eq(lbx_fleet_queue_push(q, "x", 1, NULL, 0), -1);
        for (i = 0; i < 3; i++) {
            ck_assert(lbx_fleet_queue_waiting(q));
            pos = lbx_fleet_queue_peek(q, &s);
            ck_assert_int_eq(pos, round * 3 + i);
            /* Peeking again gives the same edit until it is popped. */
            ck_assert_int_eq(lbx_fleet_queue_peek(q, &again), pos);
            ck_assert_int_eq(s.form[0], 'a' + i);
            ck_assert_uint_eq(s.len, 1);
            ck_assert_uint_eq(s.at_us, (uint64_t)(round * 10 + i));
            ck_assert_str_eq(s.client, "127.0.0.1");
            lbx_fleet_queue_pop(q, pos);
            /* A second pop of the same position (another consumer) does
             * nothing. */
            lbx_fleet_queue_pop(q, pos);
        }
        ck_assert_int_eq(lbx_fleet_queue_peek(q, &s), -1);
    }
    free(q);
}
END_TEST

START_TEST(test_queue_refuses_long_forms_and_cuts_clients)
{
    struct lbx_fleet_queue *q = queue_new(2);
    struct lbx_fleet_slot s;
    char *big = malloc(LBX_FLEET_FORM_MAX + 1), client[200];

    memset(big, 'a', LBX_FLEET_FORM_MAX);
    big[LBX_FLEET_FORM_MAX] = '\0';
    ck_assert_int_eq(lbx_fleet_queue_push(q, big, LBX_FLEET_FORM_MAX, NULL, 0),
                     -1);
    ck_assert_int_eq(
        lbx_fleet_queue_push(q, big, LBX_FLEET_FORM_MAX - 1, NULL, 0), 0);
    memset(client, 'c', sizeof(client) - 1);
    client[sizeof(client) - 1] = '\0';
    ck_assert_int_eq(lbx_fleet_queue_push(q, "b=x", 3, client, 0), 0);
    lbx_fleet_queue_pop(q, lbx_fleet_queue_peek(q, &s));
    ck_assert_int_eq(lbx_fleet_queue_peek(q, &s), 1);
    ck_assert_uint_eq(strlen(s.client), LBX_FLEET_CLIENT_MAX - 1);
    free(big);
    free(q);
}
END_TEST

TCase *lbx_tcase_fleet_core(void)
{
    TCase *tc = tcase_create("fleet_core");

    tcase_add_loop_test(tc, test_encode_round_trip, 0,
                        sizeof(values) / sizeof(values[0]));
    tcase_add_test(tc, test_encode_room);
    tcase_add_loop_test(tc, test_parse_id, 0, sizeof(ids) / sizeof(ids[0]));
    tcase_add_test(tc, test_id_order);
    tcase_add_test(tc, test_parse_state);
    tcase_add_test(tc, test_join_order);
    tcase_add_test(tc, test_queue_order_full_and_wrap);
    tcase_add_test(tc, test_queue_refuses_long_forms_and_cuts_clients);
    return tc;
}
