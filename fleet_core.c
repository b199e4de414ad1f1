/* fleet_core.c: edits, entry ids, join order and the edit queue of a
 * fleet (see fleet_core.h). */
#include <stdlib.h>
#include <string.h>

#include "fleet_core.h"
#include "lbx_text.h"

/* ---- encoding an edit --------------------------------------------------- */

static int unreserved(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
        || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_'
        || c == '~';
}

/* Append s %-encoded `times` times (1 or 2); 0, or -1 when out of room. */
static int put_encoded(const char *s, int times, char *out, size_t room,
                       size_t *at)
{
    static const char hex[] = "0123456789ABCDEF";

    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        /* Twice: '%' of the first round is encoded again as %25. */
        const char *esc = times == 2 ? "%25" : "%";
        size_t need = unreserved(c) ? 1 : strlen(esc) + 2;

        if (*at + need >= room) {
            return -1;
        }
        if (unreserved(c)) {
            out[(*at)++] = (char)c;
            continue;
        }
        memcpy(out + *at, esc, strlen(esc));
        *at += strlen(esc);
        out[(*at)++] = hex[c >> 4];
        out[(*at)++] = hex[c & 15];
    }
    return 0;
}

static int shared_key(const char *k)
{
    return !strcmp(k, "b") || !strcmp(k, "w") || !strncmp(k, "b_", 2)
        || !strncmp(k, "w_", 2);
}

size_t lbx_fleet_encode(const struct lbx_mgr_param *p, int n, char *out,
                        size_t room)
{
    size_t at = 0;
    int i;

    if (room == 0) {
        return 0;
    }
    for (i = 0; i < n; i++) {
        if (!shared_key(p[i].key)) {
            continue;
        }
        if (at) {
            if (at + 1 >= room) {
                return 0;
            }
            out[at++] = '&';
        }
        if (put_encoded(p[i].key, 1, out, room, &at) != 0 || at + 1 >= room) {
            return 0;
        }
        out[at++] = '=';
        if (put_encoded(p[i].val, 2, out, room, &at) != 0) {
            return 0;
        }
    }
    out[at] = '\0';
    return at;
}

/* ---- stream ids --------------------------------------------------------- */

int lbx_fleet_parse_id(const char *s, size_t len, struct lbx_stream_id *id)
{
    const char *dash = memchr(s, '-', len);
    struct lbx_stream_id got;

    if (!dash || lbx_parse_uint(s, (size_t)(dash - s), UINT64_MAX, &got.ms)
        || lbx_parse_uint(dash + 1, len - (size_t)(dash - s) - 1, UINT64_MAX,
                          &got.seq)) {
        return -1;
    }
    *id = got;
    return 0;
}

int lbx_fleet_id_cmp(const struct lbx_stream_id *a,
                     const struct lbx_stream_id *b)
{
    if (a->ms != b->ms) {
        return a->ms < b->ms ? -1 : 1;
    }
    return a->seq < b->seq ? -1 : a->seq > b->seq;
}

/* Decimal digits of v, backwards from end; returns the first. */
static char *put_u64(uint64_t v, char *end)
{
    do {
        *--end = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    return end;
}

void lbx_fleet_format_id(const struct lbx_stream_id *id, char *out)
{
    char buf[42], *p = buf + sizeof(buf);

    *--p = '\0';
    p = put_u64(id->seq, p);
    *--p = '-';
    p = put_u64(id->ms, p);
    memcpy(out, p, (size_t)(buf + sizeof(buf) - p));
}

int lbx_fleet_parse_state(const char *v, size_t len, struct lbx_stream_id *id,
                          unsigned *index, const char **form)
{
    const char *sp = memchr(v, ' ', len), *sp2;
    struct lbx_stream_id got;
    uint64_t n;

    if (!sp || lbx_fleet_parse_id(v, (size_t)(sp - v), &got) != 0
        || !(sp2 = memchr(sp + 1, ' ', len - (size_t)(sp + 1 - v)))
        || lbx_parse_uint(sp + 1, (size_t)(sp2 - sp - 1), 1000, &n) != 0
        || memchr(sp2 + 1, '\0', len - (size_t)(sp2 + 1 - v))) {
        return -1;
    }
    *id = got;
    *index = (unsigned)n;
    *form = sp2 + 1;
    return 0;
}

/* ---- the join's order --------------------------------------------------- */

static const struct lbx_fleet_entry *sort_entries;

static int by_join_order(const void *a_, const void *b_)
{
    size_t a = *(const size_t *)a_, b = *(const size_t *)b_;
    const struct lbx_fleet_entry *ea = &sort_entries[a], *eb = &sort_entries[b];
    int c;

    if (ea->adds_member != eb->adds_member) {
        return ea->adds_member ? -1 : 1;
    }
    if ((c = lbx_fleet_id_cmp(&ea->id, &eb->id)) != 0) {
        return c;
    }
    if (ea->index != eb->index) {
        return ea->index < eb->index ? -1 : 1;
    }
    return a < b ? -1 : a > b;
}

void lbx_fleet_join_order(const struct lbx_fleet_entry *e, size_t n,
                          size_t *order)
{
    size_t i;

    for (i = 0; i < n; i++) {
        order[i] = i;
    }
    /* qsort has no context argument in C99; the join runs in one thread. */
    sort_entries = e;
    qsort(order, n, sizeof(*order), by_join_order);
    sort_entries = NULL;
}

/* ---- the queue ---------------------------------------------------------- */

void lbx_fleet_queue_init(struct lbx_fleet_queue *q, uint32_t cap)
{
    uint32_t i;

    q->head = q->tail = 0;
    q->cap = cap;
    for (i = 0; i < cap; i++) {
        q->slot[i].seq = i;
    }
}

int lbx_fleet_queue_push(struct lbx_fleet_queue *q, const char *form,
                         size_t len, const char *client, uint64_t at_us)
{
    uint64_t pos = __atomic_load_n(&q->tail, __ATOMIC_RELAXED);
    struct lbx_fleet_slot *s;

    if (len >= LBX_FLEET_FORM_MAX || q->cap == 0) {
        return -1;
    }
    for (;;) {
        int64_t dif;

        s = &q->slot[pos % q->cap];
        dif = (int64_t)(__atomic_load_n(&s->seq, __ATOMIC_ACQUIRE) - pos);
        if (dif < 0) {
            return -1; /* full */
        }
        if (dif == 0
            && __atomic_compare_exchange_n(&q->tail, &pos, pos + 1, 0,
                                           __ATOMIC_RELAXED,
                                           __ATOMIC_RELAXED)) {
            break;
        }
        if (dif > 0) {
            pos = __atomic_load_n(&q->tail, __ATOMIC_RELAXED);
        }
    }
    memcpy(s->form, form, len);
    s->form[len] = '\0';
    s->len = (uint32_t)len;
    s->at_us = at_us;
    s->client[0] = '\0';
    if (client) {
        strncat(s->client, client, sizeof(s->client) - 1);
    }
    /* Published: the consumer sees a whole slot or none. */
    __atomic_store_n(&s->seq, pos + 1, __ATOMIC_RELEASE);
    return 0;
}

int lbx_fleet_queue_waiting(struct lbx_fleet_queue *q)
{
    uint64_t pos = __atomic_load_n(&q->head, __ATOMIC_ACQUIRE);

    return q->cap
        && __atomic_load_n(&q->slot[pos % q->cap].seq, __ATOMIC_ACQUIRE)
        == pos + 1;
}

int64_t lbx_fleet_queue_peek(struct lbx_fleet_queue *q,
                             struct lbx_fleet_slot *out)
{
    uint64_t pos = __atomic_load_n(&q->head, __ATOMIC_ACQUIRE);
    struct lbx_fleet_slot *s;

    if (q->cap == 0) {
        return -1;
    }
    s = &q->slot[pos % q->cap];
    if (__atomic_load_n(&s->seq, __ATOMIC_ACQUIRE) != pos + 1) {
        return -1;
    }
    memcpy(out, s, sizeof(*out));
    __atomic_thread_fence(__ATOMIC_ACQUIRE);
    /* Still the same edit: no other consumer popped it and no producer
     * refilled the slot while it was copied. */
    if (__atomic_load_n(&s->seq, __ATOMIC_ACQUIRE) != pos + 1
        || __atomic_load_n(&q->head, __ATOMIC_ACQUIRE) != pos) {
        return -1;
    }
    out->form[sizeof(out->form) - 1] = '\0';
    out->client[sizeof(out->client) - 1] = '\0';
    return (int64_t)pos;
}

void lbx_fleet_queue_pop(struct lbx_fleet_queue *q, int64_t pos)
{
    uint64_t expect = (uint64_t)pos;

    if (pos >= 0
        && __atomic_compare_exchange_n(&q->head, &expect, expect + 1, 0,
                                       __ATOMIC_ACQ_REL, __ATOMIC_RELAXED)) {
        __atomic_store_n(&q->slot[expect % q->cap].seq, expect + q->cap,
                         __ATOMIC_RELEASE);
    }
}
