/* libFuzzer target for fleet_core.c's readers of bytes that come from
 * Redis (also linked into t/fuzz/replay_fleet).
 *
 * Input: byte 0 picks what the rest is: even, a stream entry id; odd, a
 * value of the state hash ("ID N FORM").  The bytes lie in a heap buffer of
 * exactly their size, no NUL.  Besides memory safety the target checks the
 * promises of fleet_core.h: an id that parses prints back to text that
 * parses to the same id; a state value that parses has its form inside the
 * input and no NUL in it; the join order is a permutation that puts added
 * members first; and an edit parsed from the form and encoded again is
 * read back as the same pairs. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fleet_core.h"
#include "fuzz_check.h"

static void check_id(const char *s, size_t len)
{
    struct lbx_stream_id id, again;
    char text[42];

    if (lbx_fleet_parse_id(s, len, &id) != 0) {
        return;
    }
    lbx_fleet_format_id(&id, text);
    FUZZ_CHECK(lbx_fleet_parse_id(text, strlen(text), &again) == 0);
    FUZZ_CHECK(lbx_fleet_id_cmp(&id, &again) == 0);
}

/* The form's pairs survive encoding (keys the fleet shares only). */
static void check_form(const char *form, size_t len)
{
    struct lbx_mgr_param p[64], q[64];
    char *a = malloc(len + 1), out[LBX_FLEET_FORM_MAX];
    int n, m, i, j;

    memcpy(a, form, len);
    a[len] = '\0';
    n = lbx_mgr_parse_form(a, p, 64);
    if (n > 0 && lbx_fleet_encode(p, n, out, sizeof(out)) > 0) {
        m = lbx_mgr_parse_form(out, q, 64);
        for (i = 0, j = 0; i < n; i++) {
            if (strcmp(p[i].key, "b") && strcmp(p[i].key, "w")
                && strncmp(p[i].key, "b_", 2) && strncmp(p[i].key, "w_", 2)) {
                continue;
            }
            FUZZ_CHECK(j < m);
            FUZZ_CHECK(!strcmp(p[i].key, q[j].key));
            FUZZ_CHECK(!strcmp(p[i].val, q[j].val));
            j++;
        }
        FUZZ_CHECK(j == m);
    }
    free(a);
}

static void check_state(const char *s, size_t len)
{
    struct lbx_fleet_entry e[3];
    struct lbx_stream_id id;
    unsigned index;
    const char *form;
    size_t order[3], seen = 0, k;

    if (lbx_fleet_parse_state(s, len, &id, &index, &form) != 0) {
        return;
    }
    FUZZ_CHECK(form > s && form <= s + len);
    FUZZ_CHECK(!memchr(form, '\0', (size_t)(s + len - form)));
    check_form(form, (size_t)(s + len - form));
    for (k = 0; k < 3; k++) {
        e[k].id = id;
        e[k].id.seq += k % 2;
        e[k].index = index + (unsigned)k;
        e[k].adds_member = k == 2;
    }
    lbx_fleet_join_order(e, 3, order);
    FUZZ_CHECK(order[0] == 2);
    for (k = 0; k < 3; k++) {
        FUZZ_CHECK(order[k] < 3 && !(seen & (1u << order[k])));
        seen |= 1u << order[k];
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *buf;

    if (size < 1) {
        return 0;
    }
    buf = malloc(size - 1 ? size - 1 : 1);
    memcpy(buf, data + 1, size - 1);
    if (data[0] % 2 == 0) {
        check_id(buf, size - 1);
    }
    else {
        check_state(buf, size - 1);
    }
    free(buf);
    return 0;
}
