/* fleet_redis.h: the fleet's Redis connection (hiredis), with limits the
 * library does not set itself: a deadline on every command and a cap on
 * the size of a reply, so a slow, silent or hostile server costs the
 * fleet's thread a bounded wait and a bounded amount of memory, and never
 * touches a request.  No httpd, no APR: it is used from fleet.c only. */
#ifndef LBX_FLEET_REDIS_H
#define LBX_FLEET_REDIS_H

#include <stddef.h>

#include <hiredis/hiredis.h>

/* The largest reply read (the fleet's state of a large balancer is a few
 * hundred KB); a server sending more is dropped. */
#define LBX_REDIS_REPLY_MAX (8u * 1024 * 1024)

struct lbx_redis_target {
    const char *host; /* TCP, or NULL */
    int port;
    const char *unix_path; /* a Unix socket, or NULL */
    const char *user; /* ACL user for AUTH, or NULL */
    const char *password; /* NULL: no AUTH */
};

/* Connect and authenticate within timeout_ms.  The context, or NULL with
 * the reason in err. */
redisContext *lbx_redis_open(const struct lbx_redis_target *t, int timeout_ms,
                             char *err, size_t errlen);

/* Send one command and read its reply within timeout_ms.  The reply (a
 * Redis error reply included: the caller looks at its type), or NULL with
 * the reason in err; after NULL the context is unusable: close it. */
redisReply *lbx_redis_call(redisContext *c, int timeout_ms, char *err,
                           size_t errlen, int argc, const char **argv,
                           const size_t *argvlen);

/* lbx_redis_call with the arguments' lengths taken by strlen (at most
 * LBX_REDIS_ARGS arguments). */
#define LBX_REDIS_ARGS 256
redisReply *lbx_redis_callv(redisContext *c, int timeout_ms, char *err,
                            size_t errlen, int argc, const char **argv);

/* A string or status reply (->str and ->len are set). */
int lbx_redis_is_string(const redisReply *r);

/* r is not the reply `what` expects: say so in err (with Redis's error
 * text if it is one), free r, return -1. */
int lbx_redis_unexpected(redisReply *r, const char *what, char *err,
                         size_t errlen);

void lbx_redis_close(redisContext *c);

#endif
