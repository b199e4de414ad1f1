/* manager_json.h: the body of a balancer-manager JSON request (one flat
 * JSON object) turned into the same key/value pairs the form gives, so
 * both go through one validator.  No httpd, no APR, no allocation. */
#ifndef LBX_MANAGER_JSON_H
#define LBX_MANAGER_JSON_H

#include <stddef.h>

#include "manager_core.h"

struct lbx_json_error {
    char msg[128];
    const char *key; /* the key whose value was refused, or NULL */
};

/* Parse `len` bytes of `in`: RFC 8259 JSON, one object whose values are
 * strings, numbers, true or false (numbers keep their text; true and
 * false become "1" and "0", as the form's radio buttons send them).
 * Refused: null, nested objects and arrays, a key given twice, an empty
 * key, invalid UTF-8, a NUL (\u0000) anywhere, more than `max` keys.
 * Keys and values are written, decoded and NUL-terminated, into `out`,
 * which has room for len + 1 bytes (a decoded object never needs more).
 * Returns the number of pairs, or -1 with `err` saying what and where. */
int lbx_mgr_parse_json(const char *in, size_t len, char *out,
                       struct lbx_mgr_param *pairs, int max,
                       struct lbx_json_error *err);

/* The length of the valid UTF-8 sequence at p (shortest form, no
 * surrogates, at most U+10FFFF; ASCII is 1) within n > 0 bytes, or 0. */
size_t lbx_utf8_len(const char *p, size_t n);

/* 1 if `key` is one the manager's form knows (b, w, nonce, w_*, b_*),
 * so a typing mistake in a script is an error, not a silent no-op. */
int lbx_mgr_known_key(const char *key);

#endif
