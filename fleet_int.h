/* fleet_int.h: what fleet.c (configuration, shared memory, the view) and
 * fleet_sync.c (the fleet's thread and its Redis exchanges) share.
 * Nothing else includes it. */
#ifndef LBX_FLEET_INT_H
#define LBX_FLEET_INT_H

#include "lbx_proxy.h"
#include "fleet.h"
#include "fleet_core.h"
#include "fleet_redis.h"

#define FLEET_QUEUE_CAP 256

struct lbx_fleet_conf {
    struct lbx_redis_target target;
    const char *url; /* as written, for messages */
    const char *name; /* the fleet */
    const char *id; /* this front-end */
    /* Redis keys: the edit stream, the state hash, the front-ends, and
     * the prefix of the tokens of edits sent. */
    const char *key_edits, *key_state, *key_frontends, *key_sent;
    /* Health: the prefix of the leases, the verdicts, their version. */
    const char *key_lease, *key_health, *key_health_version;
};

/* In shared memory, made at post_config.  The status, audit and front-end
 * parts are written by the fleet's thread alone, under a sequence lock
 * (`seq` odd while it writes), and read by any child for the manager. */
struct fleet_shared {
    uint64_t seq;
    struct lbx_fleet_status status;
    /* Local edits not shared (queue full, edit too long): request
     * threads add to it. */
    uint64_t dropped;
    struct lbx_fleet_queue queue; /* last: its slots follow */
};

/* Start the status write / end it (the fleet's thread only). */
void lbx_fleet_write_begin(struct fleet_shared *sh);
void lbx_fleet_write_end(struct fleet_shared *sh);

/* fleet_health.c: leases and verdicts, from the fleet's thread.  start:
 * when it starts; tick: each tick while Redis answers (0, or -1 with err
 * set); lost: Redis went away (every member is checked here again). */
void lbx_fleet_health_start(void);
int lbx_fleet_health_tick(redisContext *rc, server_rec *s, apr_pool_t *pool,
                          char *err, size_t errlen);
void lbx_fleet_health_lost(server_rec *s, apr_pool_t *pool);

/* fleet_sync.c: the watchdog callback (data: the server_rec). */
apr_status_t lbx_fleet_watchdog(int state, void *data, apr_pool_t *pool);

/* fleet.c: the configuration and shared memory of this generation. */
const struct lbx_fleet_conf *lbx_fleet_conf(void);
struct fleet_shared *lbx_fleet_shared(void);

#endif
