/* fleet_redis.c: connect, authenticate, and one command at a time with a
 * deadline and a reply cap (see fleet_redis.h). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "fleet_redis.h"

static long long now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void say(char *err, size_t errlen, const char *what, const char *why)
{
    snprintf(err, errlen, "%s%s%s", what, why && *why ? ": " : "",
             why ? why : "");
}

/* hiredis 0.14 sizes an array by the count the server announces before
 * any element arrives (calloc of count pointers): refuse counts no reply
 * of ours has (the reader then fails with "Out of memory"). */
#define ARRAY_MAX (1 << 20)

static redisReplyObjectFunctions capped_fn;
static void *(*create_array)(const redisReadTask *, int);

static void *capped_array(const redisReadTask *task, int elements)
{
    return elements > ARRAY_MAX ? NULL : create_array(task, elements);
}

/* Read what the server sent into the reader; *fed counts the bytes of
 * this reply.  0, or -1 with err set. */
static int feed(redisContext *c, size_t *fed, char *err, size_t errlen)
{
    char buf[16 * 1024];
    ssize_t n;

    do {
        /* Waits at most the socket timeout lbx_redis_open set. */
        n = read(c->fd, buf, sizeof(buf));
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
        say(err, errlen, "read failed",
            errno == EAGAIN || errno == EWOULDBLOCK ? "no answer in time"
                                                    : strerror(errno));
        return -1;
    }
    if (n == 0) {
        say(err, errlen, "read failed", "connection closed");
        return -1;
    }
    if ((*fed += (size_t)n) > LBX_REDIS_REPLY_MAX) {
        say(err, errlen, "reply too large", NULL);
        return -1;
    }
    if (redisReaderFeed(c->reader, buf, (size_t)n) != REDIS_OK) {
        say(err, errlen, "unreadable reply", c->reader->errstr);
        return -1;
    }
    return 0;
}

redisReply *lbx_redis_call(redisContext *c, int timeout_ms, char *err,
                           size_t errlen, int argc, const char **argv,
                           const size_t *argvlen)
{
    long long deadline = now_ms() + timeout_ms;
    void *reply = NULL;
    size_t fed = 0;
    int done = 0;

    if (redisAppendCommandArgv(c, argc, argv, argvlen) != REDIS_OK) {
        say(err, errlen, "cannot queue the command", c->errstr);
        return NULL;
    }
    while (!done) {
        if (redisBufferWrite(c, &done) != REDIS_OK) {
            say(err, errlen, "write failed", c->errstr);
            return NULL;
        }
        if (!done && now_ms() > deadline) {
            say(err, errlen, "no answer in time (write)", NULL);
            return NULL;
        }
    }
    for (;;) {
        if (redisGetReplyFromReader(c, &reply) != REDIS_OK) {
            say(err, errlen, "unreadable reply", c->errstr);
            return NULL;
        }
        if (reply) {
            return reply;
        }
        if (now_ms() > deadline) {
            say(err, errlen, "no answer in time", NULL);
            return NULL;
        }
        /* Bytes are counted as they arrive: hiredis turns array elements
         * into objects as it goes, so its buffer alone would not show a
         * long array growing. */
        if (feed(c, &fed, err, errlen) != 0) {
            return NULL;
        }
    }
}

/* AUTH [user] password; 0, or -1 with err set. */
static int authenticate(redisContext *c, const struct lbx_redis_target *t,
                        int timeout_ms, char *err, size_t errlen)
{
    const char *argv[3];
    size_t argvlen[3];
    int argc = 0, ok;
    redisReply *r;

    argv[argc++] = "AUTH";
    if (t->user) {
        argv[argc++] = t->user;
    }
    argv[argc++] = t->password;
    for (ok = 0; ok < argc; ok++) {
        argvlen[ok] = strlen(argv[ok]);
    }
    if (!(r = lbx_redis_call(c, timeout_ms, err, errlen, argc, argv,
                             argvlen))) {
        return -1;
    }
    ok = r->type == REDIS_REPLY_STATUS && !strcmp(r->str, "OK");
    if (!ok) {
        say(err, errlen, "authentication refused",
            r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
    }
    freeReplyObject(r);
    return ok ? 0 : -1;
}

redisContext *lbx_redis_open(const struct lbx_redis_target *t, int timeout_ms,
                             char *err, size_t errlen)
{
    struct timeval tv = { timeout_ms / 1000, (timeout_ms % 1000) * 1000 };
    redisContext *c = t->unix_path
        ? redisConnectUnixWithTimeout(t->unix_path, tv)
        : redisConnectWithTimeout(t->host, t->port, tv);

    if (!c) {
        say(err, errlen, "cannot connect", "out of memory");
        return NULL;
    }
    /* Each read and write waits timeout_ms at most (a blocking context
     * takes a timeout as a lost connection); lbx_redis_call's deadline
     * bounds a reply that trickles in. */
    if (c->err || redisSetTimeout(c, tv) != REDIS_OK) {
        say(err, errlen, "cannot connect", c->errstr);
        redisFree(c);
        return NULL;
    }
    if (!create_array) {
        capped_fn = *c->reader->fn;
        create_array = capped_fn.createArray;
        capped_fn.createArray = capped_array;
    }
    c->reader->fn = &capped_fn;
    if (t->password && authenticate(c, t, timeout_ms, err, errlen) != 0) {
        redisFree(c);
        return NULL;
    }
    return c;
}

redisReply *lbx_redis_callv(redisContext *c, int timeout_ms, char *err,
                            size_t errlen, int argc, const char **argv)
{
    size_t len[LBX_REDIS_ARGS];
    int i;

    if (argc > LBX_REDIS_ARGS) {
        say(err, errlen, "too many arguments", NULL);
        return NULL;
    }
    for (i = 0; i < argc; i++) {
        len[i] = strlen(argv[i]);
    }
    return lbx_redis_call(c, timeout_ms, err, errlen, argc, argv, len);
}

int lbx_redis_is_string(const redisReply *r)
{
    return r
        && (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS);
}

int lbx_redis_unexpected(redisReply *r, const char *what, char *err,
                         size_t errlen)
{
    int is_error = r && r->type == REDIS_REPLY_ERROR;

    snprintf(err, errlen, "unexpected reply to %s%s%.100s", what,
             is_error ? ": " : "", is_error ? r->str : "");
    if (r) {
        freeReplyObject(r);
    }
    return -1;
}

void lbx_redis_close(redisContext *c)
{
    if (c) {
        redisFree(c);
    }
}
