/* hcheck_core.c: pure health-check logic (see hcheck_core.h). */
#include <string.h>

#include "hcheck_core.h"

enum lbx_hc_change lbx_hc_step(struct lbx_hc_counts *c, int out, int ok,
                               int passes, int fails, int consecutive)
{
    if (consecutive) {
        /* A result of the other kind starts the run again. */
        if (out && !ok) {
            c->pcount = 0;
        }
        else if (!out && ok) {
            c->fcount = 0;
        }
    }
    if (out) {
        if (ok && ++c->pcount >= passes) {
            c->pcount = 0;
            return LBX_HC_ENABLE;
        }
        return LBX_HC_NO_CHANGE;
    }
    if (!ok && ++c->fcount >= fails) {
        c->fcount = 0;
        return LBX_HC_DISABLE;
    }
    return LBX_HC_NO_CHANGE;
}

size_t lbx_hc_join_path(const char *member_path, const char *hcuri, char *out,
                        size_t outlen)
{
    size_t plen = member_path ? strlen(member_path) : 0;
    size_t ulen = hcuri ? strlen(hcuri) : 0;
    size_t need;

    if (ulen > 0) {
        /* One '/' between them: drop the member path's trailing ones and
         * hcuri's leading ones. */
        while (plen > 0 && member_path[plen - 1] == '/') {
            plen--;
        }
        while (ulen > 0 && *hcuri == '/') {
            hcuri++;
            ulen--;
        }
    }
    need = plen + 1 + ulen + 1;
    if (plen > 0 && member_path[0] != '/') {
        need++;
    }
    if (need > outlen) {
        return 0;
    }
    out[0] = '\0';
    if (plen > 0 && member_path[0] != '/') {
        strcat(out, "/");
    }
    strncat(out, member_path ? member_path : "", plen);
    if (ulen > 0 || out[0] == '\0') {
        strcat(out, "/");
    }
    strncat(out, hcuri ? hcuri : "", ulen);
    return strlen(out);
}

int lbx_hc_name_ok(const char *name)
{
    size_t len = name ? strlen(name) : 0;

    return len >= 1 && len <= LBX_HC_NAME_MAX;
}
