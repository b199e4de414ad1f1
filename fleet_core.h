/* fleet_core.h: what the front-ends of a fleet (fleet.c) exchange through
 * Redis, encoded, decoded and ordered without httpd or APR:
 *
 * - a manager edit as a form string (the manager's own parameter syntax),
 * - the ids of Redis stream entries, which order the fleet's edits,
 * - the order in which a joining front-end replays the fleet's state,
 * - the queue of local edits waiting to be published (in shared memory:
 *   any child may add, the fleet's thread takes them in order).
 *
 * Everything read from Redis is untrusted: lengths and syntax are checked
 * here before the glue uses a byte of it. */
#ifndef LBX_FLEET_CORE_H
#define LBX_FLEET_CORE_H

#include <stddef.h>
#include <stdint.h>

#include "manager_core.h"

/* The longest edit the fleet carries, encoded (a manager form is at most
 * 16 KB; real edits are a few hundred bytes). */
#define LBX_FLEET_FORM_MAX 4096
#define LBX_FLEET_CLIENT_MAX 64

/* Encode the parameters of an edit that other front-ends need (b, w and
 * every b_* / w_* key; never the nonce) as a form string lbx_mgr_parse_form
 * reads back to the same pairs: keys %-encoded once, values twice, as the
 * parser decodes them.  Returns the length written (NUL-terminated), or 0
 * when it does not fit in `room`. */
size_t lbx_fleet_encode(const struct lbx_mgr_param *p, int n, char *out,
                        size_t room);

/* A Redis stream entry id, "MS-SEQ". */
struct lbx_stream_id {
    uint64_t ms, seq;
};

/* Parse s[0..len-1] as an entry id; 0, or -1 (*id unchanged). */
int lbx_fleet_parse_id(const char *s, size_t len, struct lbx_stream_id *id);
/* <0, 0, >0 as a is before, equal to or after b. */
int lbx_fleet_id_cmp(const struct lbx_stream_id *a,
                     const struct lbx_stream_id *b);
/* "MS-SEQ" into out (room >= 42). */
void lbx_fleet_format_id(const struct lbx_stream_id *id, char *out);

/* A value of the fleet's state hash: "ID N FORM", the id of the edit that
 * last set this field, the field's place in that edit, and a one-field
 * edit.  0 with *id, *index and *form set (form points into v), or -1. */
int lbx_fleet_parse_state(const char *v, size_t len, struct lbx_stream_id *id,
                          unsigned *index, const char **form);

/* One state entry as the join orders them. */
struct lbx_fleet_entry {
    struct lbx_stream_id id;
    unsigned index; /* its place in its edit */
    int adds_member; /* the edit is b_nwrkr: replayed before the others */
};

/* The order to replay n state entries in, into order[0..n-1]: members
 * added first (a field of a member refers to it), then by id, the fields
 * of one edit in their order in it. */
void lbx_fleet_join_order(const struct lbx_fleet_entry *e, size_t n,
                          size_t *order);

/* ---- the queue of local edits ------------------------------------------- */

struct lbx_fleet_slot {
    uint64_t seq; /* the slot's turn (a bounded MPMC queue's sequence) */
    uint64_t at_us; /* when the edit was applied here */
    uint32_t len;
    char client[LBX_FLEET_CLIENT_MAX];
    char form[LBX_FLEET_FORM_MAX];
};

struct lbx_fleet_queue {
    uint64_t head; /* next to take */
    uint64_t tail; /* next to fill */
    uint32_t cap;
    struct lbx_fleet_slot slot[];
};

#define LBX_FLEET_QUEUE_BYTES(cap) \
    (sizeof(struct lbx_fleet_queue) \
     + (size_t)(cap) * sizeof(struct lbx_fleet_slot))

/* An empty queue of `cap` slots in memory of LBX_FLEET_QUEUE_BYTES(cap). */
void lbx_fleet_queue_init(struct lbx_fleet_queue *q, uint32_t cap);
/* Add an edit (any thread of any process); 0, or -1 when the queue is
 * full or the form too long. */
int lbx_fleet_queue_push(struct lbx_fleet_queue *q, const char *form,
                         size_t len, const char *client, uint64_t at_us);
/* Copy the oldest edit into *out and return its position (>= 0), or -1
 * when there is none.  It stays queued until lbx_fleet_queue_pop(pos):
 * a consumer that fails to send it sends it again later.  Consumers may
 * overlap (the fleet threads of two generations during a graceful
 * restart): each gets a whole copy, and one pop of a position counts. */
int64_t lbx_fleet_queue_peek(struct lbx_fleet_queue *q,
                             struct lbx_fleet_slot *out);
void lbx_fleet_queue_pop(struct lbx_fleet_queue *q, int64_t pos);
/* Whether an edit is queued. */
int lbx_fleet_queue_waiting(struct lbx_fleet_queue *q);

#endif
