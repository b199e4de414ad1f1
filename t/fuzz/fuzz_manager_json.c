/* libFuzzer target for the manager's JSON body parser (manager_json.c),
 * also linked into t/fuzz/replay_manager_json.
 *
 * The input is a request body.  The output buffer is exactly len + 1 bytes
 * on the heap, so ASan reports a decoded object that needs more than the
 * header promises.  The target then checks what manager.c relies on: a
 * count within the limit and nothing written past it, every key and value
 * a NUL-terminated string inside the output, no empty or repeated key, an
 * error message that is a string, a refused key that is one of the
 * output's strings, and accepted keys and values that are valid UTF-8.
 * Accepted pairs are fed to the form's validators, as the endpoint does. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "manager_json.h"
#include "fuzz_check.h"

/* Small, so "too many keys" is easy to reach. */
#define MAX_PARAMS 8

static void check_string(const char *buf, size_t size, const char *s)
{
    FUZZ_CHECK(s >= buf && s < buf + size);
    FUZZ_CHECK(memchr(s, '\0', (size_t)(buf + size - s)) != NULL);
}

/* Accepted text is valid UTF-8: the answers quote it. */
static void check_utf8(const char *s)
{
    size_t left = strlen(s), n;

    while (left) {
        n = lbx_utf8_len(s, left);
        FUZZ_CHECK(n > 0 && n <= left);
        s += n;
        left -= n;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct lbx_mgr_param pairs[MAX_PARAMS + 1];
    struct lbx_json_error err;
    char *out = malloc(size + 1), errbuf[96];
    struct lbx_mgr_worker_edit we;
    struct lbx_mgr_balancer_edit be;
    int n, i, j;

    if (!out) {
        return 0;
    }
    memset(pairs, 0, sizeof(pairs));
    n = lbx_mgr_parse_json((const char *)data, size, out, pairs, MAX_PARAMS,
                           &err);
    FUZZ_CHECK(n >= -1 && n <= MAX_PARAMS);
    FUZZ_CHECK(pairs[MAX_PARAMS].key == NULL && pairs[MAX_PARAMS].val == NULL);
    if (n < 0) {
        FUZZ_CHECK(memchr(err.msg, '\0', sizeof(err.msg)) && err.msg[0]);
        if (err.key) {
            check_string(out, size + 1, err.key);
        }
        free(out);
        return 0;
    }
    for (i = 0; i < n; i++) {
        check_string(out, size + 1, pairs[i].key);
        check_string(out, size + 1, pairs[i].val);
        check_utf8(pairs[i].key);
        check_utf8(pairs[i].val);
        FUZZ_CHECK(pairs[i].key[0] != '\0');
        for (j = 0; j < i; j++) {
            FUZZ_CHECK(strcmp(pairs[i].key, pairs[j].key) != 0);
        }
        (void)lbx_mgr_known_key(pairs[i].key);
    }
    (void)lbx_mgr_worker_edit(pairs, n, &we, errbuf, sizeof(errbuf));
    (void)lbx_mgr_balancer_edit(pairs, n, &be, errbuf, sizeof(errbuf));
    free(out);
    return 0;
}
