//  zdex_ring: the task ring of one (durable executor, partition).
//
//  `capacity` slots.  A slot holds a task (pending or running), a result (success
//  value or failure cause), a disposed tombstone, or nothing.  Capacity limits tasks
//  in flight, not stored results: add() walks forward from the next sequence past
//  slots still holding tasks, so a stored result is overwritten when the ring wraps
//  and sequences skip slots pinned by long tasks.  Sequences start at 0 and never
//  move backwards (Hazelcast's retrieve-and-dispose decrements its head; we don't).
//
//  A lookup by sequence is STALE when the sequence was never issued or its slot now
//  belongs to another sequence; DISPOSED when the slot was disposed and not reused.
//  The in-flight count is derived from slot states, so it is right after the ring is
//  rebuilt from a replica.  An idempotency key maps to its sequence while the slot
//  holds the task or its result.
//
//  Owned by one partition actor; not thread safe.

#ifndef ZDEX_RING_H_INCLUDED
#define ZDEX_RING_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define ZDEX_RING_MAX_SEQUENCE 0xFFFFFFFFu //  ids hold 32 bits of sequence

typedef struct _zdex_ring_t zdex_ring_t;

typedef enum {
    ZDEX_RING_STALE = 0, //  never issued, or overwritten
    ZDEX_RING_PENDING,   //  holds the task (queued or running)
    ZDEX_RING_DONE_OK,   //  holds a success value
    ZDEX_RING_FAILED,    //  holds a failure cause
    ZDEX_RING_DISPOSED   //  disposed, slot not reused yet
} zdex_ring_state_t;

//  A view of one slot, valid until the ring is next modified.
typedef struct {
    zdex_ring_state_t state;
    uint32_t sequence;
    uint32_t attempt;            //  dispatch attempts so far (0 = never dispatched)
    const char *type;            //  task type (PENDING only)
    const char *data;            //  PENDING: payload JSON; DONE_OK: value JSON;
                                 //  FAILED: cause JSON; else NULL
    const char *idempotency_key; //  NULL when none
    bool discard_result;         //  durable.execute: no result is kept
} zdex_ring_slot_t;

//  Create a ring of capacity slots (capacity > 0).  Caller owns.
zdex_ring_t *zdex_ring_new (uint32_t capacity);

//  Destroy and null.
void zdex_ring_destroy (zdex_ring_t **self_p);

//  Slots in the ring.
uint32_t zdex_ring_capacity (zdex_ring_t *self);

//  Slots holding tasks.
uint32_t zdex_ring_in_flight (zdex_ring_t *self);

//  The next sequence add() will consider (all below it were issued or skipped).
uint64_t zdex_ring_next_sequence (zdex_ring_t *self);

//  Store a task.  Takes ownership of payload (malloc'ed JSON text); copies type and
//  idempotency_key (may be NULL).  Returns 0 with *sequence_p set, or -1 when
//  capacity tasks are in flight or the sequence space is exhausted (payload is freed
//  on failure).  The caller looks an idempotency key up first: adding a key that is
//  still remembered is refused with -1.
int zdex_ring_add (zdex_ring_t *self, const char *type, char *payload, const char *idempotency_key,
                   bool discard_result, uint32_t *sequence_p);

//  Find the sequence an idempotency key was stored under.  Returns 0 with
//  *sequence_p set, or -1 when the key is not remembered.
int zdex_ring_find_idempotent (zdex_ring_t *self, const char *idempotency_key,
                               uint32_t *sequence_p);

//  Look a sequence up; fills *slot (may be NULL) and returns its state.
zdex_ring_state_t zdex_ring_lookup (zdex_ring_t *self, uint32_t sequence, zdex_ring_slot_t *slot);

//  Record that the task was handed out once more; returns the new attempt number,
//  or 0 when the slot no longer holds that task.
uint32_t zdex_ring_next_attempt (zdex_ring_t *self, uint32_t sequence);

//  Replace the task with its result.  Takes ownership of data (JSON text of the
//  value, or of the failure cause when ok is false).  Returns 0, or -1 (data freed)
//  when the slot no longer holds that task (disposed, or a stale sequence).  A task
//  with discard_result set is cleared instead of stored (its slot becomes empty and
//  its idempotency key is forgotten).
int zdex_ring_complete (zdex_ring_t *self, uint32_t sequence, bool ok, char *data);

//  Dispose a sequence: frees what the slot holds, leaves a tombstone.  Sets
//  *was_pending (may be NULL) when the slot still held the task.  Returns 0, or -1
//  when the sequence is stale.  Disposing a disposed sequence is a no-op returning 0.
int zdex_ring_dispose (zdex_ring_t *self, uint32_t sequence, bool *was_pending);

//  Call fn for every slot holding a task, in sequence order.  fn may change the ring
//  (next_attempt, complete, dispose): tasks it removes are skipped, tasks it adds are
//  not visited.
typedef void (zdex_ring_pending_fn) (const zdex_ring_slot_t *slot, void *arg);
void zdex_ring_foreach_pending (zdex_ring_t *self, zdex_ring_pending_fn *fn, void *arg);

//  Call fn for every slot that is not stale (PENDING, DONE_OK, FAILED, DISPOSED), in
//  sequence order: what a snapshot of the ring must carry.  Like foreach_pending, fn
//  may change the ring: slots it makes stale are skipped, sequences it adds are not
//  visited.
typedef void (zdex_ring_slot_fn) (const zdex_ring_slot_t *slot, void *arg);
void zdex_ring_foreach (zdex_ring_t *self, zdex_ring_slot_fn *fn, void *arg);

//  Put a slot exactly as another ring holds it (a backup applying the replication
//  stream, or installing a snapshot): slot->sequence, state (PENDING, DONE_OK,
//  FAILED or DISPOSED), attempt, discard_result, and the strings that state carries
//  (PENDING: type and data; DONE_OK / FAILED: data; both: idempotency_key or NULL;
//  DISPOSED carries no strings and they are ignored).  Strings are copied.  It goes
//  to index sequence % capacity, replacing whatever is there, whatever its state
//  (its block is freed and its key forgotten); the next sequence rises to at least
//  sequence + 1 and never falls; the in-flight count follows the slot states.
//  Returns 0, or -1 and changes nothing when the state or strings are missing or
//  wrong, the key is remembered for another slot, or memory runs out.
int zdex_ring_install (zdex_ring_t *self, const zdex_ring_slot_t *slot);

//  Set the attempt count of a task (a backup applying the primary's count).
//  Saturates like next_attempt.  Returns 0, or -1 when the slot does not hold that
//  task.
int zdex_ring_set_attempt (zdex_ring_t *self, uint32_t sequence, uint32_t attempt);

//  For tests and replica rebuild: move the next sequence forward to `next` (at most
//  ZDEX_RING_MAX_SEQUENCE + 1).  Returns 0, or -1 when that would move it backwards
//  or out of range.
int zdex_ring_set_next_sequence (zdex_ring_t *self, uint64_t next);

#ifdef __cplusplus
}
#endif

#endif
