/* fleet.h: several front-ends sharing balancer-manager edits through
 * Redis (LBXFleet).  Without the directive nothing here does anything.
 *
 * Edits made with the manager on any front-end go, in the order Redis
 * received them, to every front-end (this one included), so the last
 * edit of a field in that order wins everywhere.  Edits wait in shared
 * memory while Redis is away and are sent when it is back; a front-end
 * that starts or reconnects first takes the fleet's state.  Nothing on
 * the request path waits for Redis: one thread of one child talks to it. */
#ifndef LBX_FLEET_H
#define LBX_FLEET_H

#include "lbx_proxy.h"
#include "manager_core.h"

#define LBX_FLEET_AUDIT_MAX 20
#define LBX_FLEET_FE_MAX 16
#define LBX_FLEET_TEXT 64

/* One edit as the fleet recorded it. */
struct lbx_fleet_audit {
    uint64_t at_ms; /* when it was made, on its front-end's clock */
    char fe[LBX_FLEET_TEXT]; /* the front-end */
    char client[LBX_FLEET_TEXT]; /* the manager's client there */
    char form[512]; /* the edit, as a form string (cut if longer) */
};

struct lbx_fleet_frontend {
    char id[LBX_FLEET_TEXT];
    uint64_t seen_ms; /* its last heartbeat, wall clock */
};

struct lbx_fleet_status {
    uint64_t connected; /* 1 while Redis answers */
    uint64_t since_ms; /* when that last changed */
    uint64_t last_sync_ms; /* the last exchange that worked */
    uint64_t published, applied, refused; /* edits sent / applied / not */
    char error[160]; /* why Redis is away */
    uint32_t naudit, audit_next; /* a ring of the latest edits */
    struct lbx_fleet_audit audit[LBX_FLEET_AUDIT_MAX];
    uint32_t nfe;
    struct lbx_fleet_frontend fe[LBX_FLEET_FE_MAX];
    /* Who checks how many members (health-check leases). */
    uint32_t nlease;
    struct {
        char id[LBX_FLEET_TEXT];
        uint32_t members;
    } lease[LBX_FLEET_FE_MAX];
};

/* What the manager shows. */
struct lbx_fleet_view {
    const char *name, *id, *url;
    struct lbx_fleet_status status;
    uint64_t queued, dropped;
};

/* LBXFleet URL NAME [id=...] [user=...] [password-file=...] */
const char *lbx_fleet_set(cmd_parms *cmd, void *dconf, const char *args);

void lbx_fleet_pre_config(void);
int lbx_fleet_post_config(apr_pool_t *pconf, server_rec *main_s);

/* A manager edit was applied here: queue it for the fleet (no wait). */
void lbx_fleet_edit_made(request_rec *r, const struct lbx_mgr_param *p, int n);

/* A consistent copy of the fleet's state, or 0 when there is no fleet. */
int lbx_fleet_view(struct lbx_fleet_view *v);

/* The front-end that checks member w of b (its health-check lease), as
 * of view v, or NULL (no checks, no lease known). */
const char *lbx_fleet_checker(const struct lbx_fleet_view *v, proxy_balancer *b,
                              proxy_worker *w);

#endif
