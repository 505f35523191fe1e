//  zdex_ring: the task ring of one (durable executor, partition).
//
//  Memory is the design constraint: a member holds partition_count rings per
//  executor, each `capacity` slots, mostly holding small results.  So a slot is 16
//  bytes (one pointer, the sequence, and a 32-bit word packing attempt, state and two
//  flags), and everything a slot owns lives in one malloc'ed block:
//
//      PENDING           [seed key \0] type \0 payload \0
//      DONE_OK / FAILED  [seed key \0] value-or-cause \0
//      DISPOSED, empty   no block
//
//  The key comes first so that the idempotency map (a zhashx created on the first
//  key) can use the block itself as its key instead of a copy; the mapping is always
//  removed before its block is freed or replaced.  A result without a key is the
//  caller's buffer itself, so storing it copies nothing.
//
//  Keys come from clients, and zhashx's default hash (Bernstein) makes colliding
//  keys easy to build; zhashx answers a long collision chain by growing its table,
//  again on every insert or lookup, until it aborts out of memory.  So the map
//  hashes with SipHash-2-4 under a random per-ring seed.  zhashx hashers take no
//  context, which is why each stored key carries the ring's 8-byte seed in front
//  of it (lookups build the same form on the stack).
//
//  A slot in state STALE holds nothing: either it was never used or its durable.execute
//  task completed.  That doubles as the "ever used" marker, so sequence 0 of a fresh
//  ring is STALE, not a null result (Hazelcast's quirk).
//
//  The in-flight counter is maintained on each transition to and from PENDING; debug
//  builds check it against the slot states after every change.
//
//  Backups (zdex_replica) never run add's slot walk: they install each slot as the
//  primary placed it, so a copy cannot drift from its primary by choosing another
//  slot, and a snapshot is just zdex_ring_foreach on one side and install on the
//  other.

#include "zdex_ring.h"
#include "zdex_hash.h"

#include <czmq.h>

#include <assert.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#define S_ATTEMPT_BITS 27
#define S_ATTEMPT_MAX  ((1u << S_ATTEMPT_BITS) - 1)

typedef struct {
    char *block;                           //  see the layout above; NULL when none
    uint32_t sequence;                     //  last sequence that claimed the slot
    unsigned int attempt : S_ATTEMPT_BITS; //  saturates at S_ATTEMPT_MAX
    unsigned int state : 3;                //  zdex_ring_state_t
    unsigned int has_key : 1;              //  block starts with an idempotency key
    unsigned int discard_result : 1;       //  durable.execute
} s_slot_t;

_Static_assert(sizeof (void *) > 8 || sizeof (s_slot_t) <= 16, "a slot is 16 bytes");

struct _zdex_ring_t {
    s_slot_t *slots;
    uint32_t capacity;
    uint32_t in_flight;     //  slots in PENDING state
    uint64_t next_sequence; //  up to ZDEX_RING_MAX_SEQUENCE + 1
    zhashx_t *keys;         //  idempotency key -> sequence + 1; NULL until first key
    uint64_t seed;          //  hash seed of keys, set with it
};

#define S_SEED_SIZE sizeof (uint64_t)

#ifdef ZDEX_SLOW_CHECKS
//  Scanning every slot after every change is O(capacity): on in the sanitizer
//  build the suite runs, off elsewhere (it was 2 % of a member's instructions);
//  beyond this size it would make even that build crawl, and small rings cover
//  the logic.
#define S_CHECK_MAX_CAPACITY 1024

static void
s_check (zdex_ring_t *self)
{
    if (self->capacity > S_CHECK_MAX_CAPACITY)
        return;
    uint32_t pending = 0;
    for (uint32_t index = 0; index < self->capacity; index++)
        if (self->slots[index].state == ZDEX_RING_PENDING)
            pending++;
    assert (pending == self->in_flight);
}
#else
#define s_check(self) ((void) (self))
#endif

zdex_ring_t *
zdex_ring_new (uint32_t capacity)
{
    assert (capacity > 0);
    zdex_ring_t *self = (zdex_ring_t *) calloc (1, sizeof (zdex_ring_t));
    if (!self)
        return NULL;
    self->slots = (s_slot_t *) calloc (capacity, sizeof (s_slot_t));
    if (!self->slots) {
        free (self);
        return NULL;
    }
    self->capacity = capacity;
    return self;
}

void
zdex_ring_destroy (zdex_ring_t **self_p)
{
    assert (self_p);
    zdex_ring_t *self = *self_p;
    if (!self)
        return;
    //  The map's keys point into the blocks, so it goes first.
    zhashx_destroy (&self->keys);
    for (uint32_t index = 0; index < self->capacity; index++)
        free (self->slots[index].block);
    free (self->slots);
    free (self);
    *self_p = NULL;
}

uint32_t
zdex_ring_capacity (zdex_ring_t *self)
{
    assert (self);
    return self->capacity;
}

uint32_t
zdex_ring_in_flight (zdex_ring_t *self)
{
    assert (self);
    return self->in_flight;
}

uint64_t
zdex_ring_next_sequence (zdex_ring_t *self)
{
    assert (self);
    return self->next_sequence;
}

int
zdex_ring_set_next_sequence (zdex_ring_t *self, uint64_t next)
{
    assert (self);
    if (next < self->next_sequence || next > (uint64_t) ZDEX_RING_MAX_SEQUENCE + 1)
        return -1;
    self->next_sequence = next;
    return 0;
}

//  The slot holding sequence, or NULL when the sequence is stale.
static s_slot_t *
s_slot_of (zdex_ring_t *self, uint32_t sequence)
{
    if (sequence >= self->next_sequence)
        return NULL;
    s_slot_t *slot = &self->slots[sequence % self->capacity];
    if (slot->state == ZDEX_RING_STALE || slot->sequence != sequence)
        return NULL;
    return slot;
}

//  Map keys are a seed followed by the key string.
static size_t
s_key_hash (const void *key)
{
    uint64_t seed;
    memcpy (&seed, key, S_SEED_SIZE);
    const char *string = (const char *) key + S_SEED_SIZE;
    return (size_t) zdex_hash_siphash (string, strlen (string), seed, ~seed);
}

static int
s_key_compare (const void *left, const void *right)
{
    return strcmp ((const char *) left + S_SEED_SIZE, (const char *) right + S_SEED_SIZE);
}

static int
s_key_lookup (zdex_ring_t *self, const char *key, uint32_t *sequence_p)
{
    if (!self->keys)
        return -1;
    //  Build the map's form of the key: on the stack unless it is unusually long
    char stack[S_SEED_SIZE + 256];
    size_t size = strlen (key) + 1;
    char *probe =
        size <= sizeof (stack) - S_SEED_SIZE ? stack : (char *) zmalloc (S_SEED_SIZE + size);
    memcpy (probe, &self->seed, S_SEED_SIZE);
    memcpy (probe + S_SEED_SIZE, key, size);
    uintptr_t value = (uintptr_t) zhashx_lookup (self->keys, probe);
    if (probe != stack)
        free (probe);
    if (value == 0)
        return -1;
    *sequence_p = (uint32_t) (value - 1);
    return 0;
}

//  Map the key at the start of the slot's block to the slot's sequence.
static void
s_key_remember (zdex_ring_t *self, s_slot_t *slot)
{
    assert (self->keys);
    //  Values are sequence + 1 so that sequence 0 is not NULL
    int rc = zhashx_insert (self->keys, slot->block, (void *) ((uintptr_t) slot->sequence + 1));
    assert (rc == 0);
    (void) rc;
    slot->has_key = 1;
}

static void
s_key_forget (zdex_ring_t *self, s_slot_t *slot)
{
    if (slot->has_key) {
        zhashx_delete (self->keys, slot->block);
        slot->has_key = 0;
    }
}

//  Create the map on the first key: most rings never see one.  Returns 0 or -1.
static int
s_keys_create (zdex_ring_t *self)
{
    if (self->keys)
        return 0;
    self->keys = zhashx_new ();
    if (!self->keys)
        return -1;
    zhashx_set_key_duplicator (self->keys, NULL);
    zhashx_set_key_destructor (self->keys, NULL);
    zhashx_set_key_hasher (self->keys, s_key_hash);
    zhashx_set_key_comparator (self->keys, s_key_compare);
    if (getrandom (&self->seed, sizeof (self->seed), GRND_NONBLOCK) != sizeof (self->seed))
        //  No entropy yet (early boot): still unpredictable enough from outside
        self->seed = (uint64_t) zclock_usecs () ^ (uint64_t) (uintptr_t) self;
    return 0;
}

//  Free whatever the slot owns and leave it in state.
static void
s_slot_clear (zdex_ring_t *self, s_slot_t *slot, zdex_ring_state_t state)
{
    if (slot->state == ZDEX_RING_PENDING) {
        assert (self->in_flight > 0);
        self->in_flight--;
    }
    s_key_forget (self, slot);
    free (slot->block);
    slot->block = NULL;
    slot->attempt = 0;
    slot->discard_result = 0;
    slot->state = state;
}

static void
s_slot_view (s_slot_t *slot, uint32_t sequence, zdex_ring_slot_t *view)
{
    memset (view, 0, sizeof (*view));
    view->sequence = sequence;
    if (!slot)
        return; //  STALE
    view->state = (zdex_ring_state_t) slot->state;
    view->attempt = slot->attempt;
    view->discard_result = slot->discard_result;
    const char *cursor = slot->block;
    if (!cursor)
        return; //  DISPOSED
    if (slot->has_key) {
        view->idempotency_key = cursor + S_SEED_SIZE;
        cursor = view->idempotency_key + strlen (view->idempotency_key) + 1;
    }
    if (slot->state == ZDEX_RING_PENDING) {
        view->type = cursor;
        cursor += strlen (cursor) + 1;
    }
    view->data = cursor;
}

int
zdex_ring_add (zdex_ring_t *self, const char *type, char *payload, const char *idempotency_key,
               bool discard_result, uint32_t *sequence_p)
{
    assert (self);
    assert (type);
    assert (payload);
    assert (sequence_p);
    uint32_t ignored;
    if (self->in_flight == self->capacity ||
        (idempotency_key && s_key_lookup (self, idempotency_key, &ignored) == 0)) {
        free (payload);
        return -1;
    }
    //  Walk past slots pinned by tasks; with fewer than capacity tasks in flight a
    //  free slot is at most capacity - 1 steps away.
    uint64_t sequence = self->next_sequence;
    while (self->slots[sequence % self->capacity].state == ZDEX_RING_PENDING)
        sequence++;
    if (sequence > ZDEX_RING_MAX_SEQUENCE) {
        free (payload);
        return -1;
    }
    if (idempotency_key && s_keys_create (self)) {
        free (payload);
        return -1;
    }
    //  Grow the payload in place into the slot's block: [seed key \0] type \0 payload \0
    size_t key_size = idempotency_key ? S_SEED_SIZE + strlen (idempotency_key) + 1 : 0;
    size_t type_size = strlen (type) + 1;
    size_t payload_size = strlen (payload) + 1;
    char *block = (char *) realloc (payload, key_size + type_size + payload_size);
    if (!block) {
        free (payload);
        return -1;
    }
    memmove (block + key_size + type_size, block, payload_size);
    if (key_size) {
        memcpy (block, &self->seed, S_SEED_SIZE);
        memcpy (block + S_SEED_SIZE, idempotency_key, key_size - S_SEED_SIZE);
    }
    memcpy (block + key_size, type, type_size);

    s_slot_t *slot = &self->slots[sequence % self->capacity];
    s_slot_clear (self, slot, ZDEX_RING_STALE); //  evicts a result or tombstone
    slot->block = block;
    slot->sequence = (uint32_t) sequence;
    slot->state = ZDEX_RING_PENDING;
    slot->discard_result = discard_result;
    if (key_size)
        s_key_remember (self, slot);
    self->in_flight++;
    self->next_sequence = sequence + 1;
    *sequence_p = (uint32_t) sequence;
    s_check (self);
    return 0;
}

int
zdex_ring_find_idempotent (zdex_ring_t *self, const char *idempotency_key, uint32_t *sequence_p)
{
    assert (self);
    assert (idempotency_key);
    assert (sequence_p);
    return s_key_lookup (self, idempotency_key, sequence_p);
}

zdex_ring_state_t
zdex_ring_lookup (zdex_ring_t *self, uint32_t sequence, zdex_ring_slot_t *slot)
{
    assert (self);
    s_slot_t *found = s_slot_of (self, sequence);
    if (slot)
        s_slot_view (found, sequence, slot);
    return found ? (zdex_ring_state_t) found->state : ZDEX_RING_STALE;
}

uint32_t
zdex_ring_next_attempt (zdex_ring_t *self, uint32_t sequence)
{
    assert (self);
    s_slot_t *slot = s_slot_of (self, sequence);
    if (!slot || slot->state != ZDEX_RING_PENDING)
        return 0;
    if (slot->attempt < S_ATTEMPT_MAX)
        slot->attempt++;
    return slot->attempt;
}

int
zdex_ring_complete (zdex_ring_t *self, uint32_t sequence, bool ok, char *data)
{
    assert (self);
    assert (data);
    s_slot_t *slot = s_slot_of (self, sequence);
    if (!slot || slot->state != ZDEX_RING_PENDING) {
        free (data);
        return -1;
    }
    if (slot->discard_result) {
        s_slot_clear (self, slot, ZDEX_RING_STALE);
        free (data);
        s_check (self);
        return 0;
    }
    uint32_t attempt = slot->attempt;
    char *block = data;
    bool keep_key = false;
    if (slot->has_key) {
        //  The new block carries the key over: [seed key \0] data \0
        size_t key_size = S_SEED_SIZE + strlen (slot->block + S_SEED_SIZE) + 1;
        size_t data_size = strlen (data) + 1;
        char *grown = (char *) realloc (data, key_size + data_size);
        if (grown) {
            memmove (grown + key_size, grown, data_size);
            memcpy (grown, slot->block, key_size);
            block = grown;
            keep_key = true;
        }
        //  Out of memory: keep the result, forget the key early
    }
    s_slot_clear (self, slot, ZDEX_RING_STALE);
    slot->block = block;
    slot->attempt = attempt;
    slot->state = ok ? ZDEX_RING_DONE_OK : ZDEX_RING_FAILED;
    if (keep_key)
        s_key_remember (self, slot);
    s_check (self);
    return 0;
}

int
zdex_ring_dispose (zdex_ring_t *self, uint32_t sequence, bool *was_pending)
{
    assert (self);
    if (was_pending)
        *was_pending = false;
    s_slot_t *slot = s_slot_of (self, sequence);
    if (!slot)
        return -1;
    if (slot->state == ZDEX_RING_DISPOSED)
        return 0;
    if (was_pending)
        *was_pending = slot->state == ZDEX_RING_PENDING;
    //  The tombstone keeps the sequence, so the id answers "disposed" until reused
    s_slot_clear (self, slot, ZDEX_RING_DISPOSED);
    s_check (self);
    return 0;
}

static int
s_compare_sequences (const void *a, const void *b)
{
    uint32_t left = *(const uint32_t *) a;
    uint32_t right = *(const uint32_t *) b;
    return (left > right) - (left < right);
}

//  Does a slot in this state take part in a walk?
static bool
s_walked (zdex_ring_state_t state, bool pending_only)
{
    return pending_only ? state == ZDEX_RING_PENDING : state != ZDEX_RING_STALE;
}

//  Slot order is not sequence order: a task pinning its slot keeps an old sequence
//  while its neighbours are reused, so the sequences are sorted.  fn gets each one
//  looked up afresh, so it may change the ring as it goes.
static void
s_foreach (zdex_ring_t *self, bool pending_only, zdex_ring_slot_fn *fn, void *arg)
{
    uint32_t count = 0;
    if (pending_only)
        count = self->in_flight;
    else
        for (uint32_t index = 0; index < self->capacity; index++)
            count += self->slots[index].state != ZDEX_RING_STALE;
    if (count == 0)
        return;
    uint32_t *sequences = (uint32_t *) malloc (count * sizeof (uint32_t));
    zdex_ring_slot_t view;
    if (sequences) {
        uint32_t found = 0;
        for (uint32_t index = 0; index < self->capacity && found < count; index++)
            if (s_walked ((zdex_ring_state_t) self->slots[index].state, pending_only))
                sequences[found++] = self->slots[index].sequence;
        qsort (sequences, found, sizeof (uint32_t), s_compare_sequences);
        for (uint32_t index = 0; index < found; index++)
            if (s_walked (zdex_ring_lookup (self, sequences[index], &view), pending_only))
                fn (&view, arg);
        free (sequences);
        return;
    }
    //  Out of memory: select the next sequence each time, O(capacity * count)
    uint64_t floor = 0;
    uint64_t limit = self->next_sequence; //  sequences fn adds are not visited
    while (true) {
        uint64_t best = UINT64_MAX;
        for (uint32_t index = 0; index < self->capacity; index++) {
            s_slot_t *slot = &self->slots[index];
            if (s_walked ((zdex_ring_state_t) slot->state, pending_only) &&
                slot->sequence >= floor && slot->sequence < limit && slot->sequence < best)
                best = slot->sequence;
        }
        if (best == UINT64_MAX)
            break;
        zdex_ring_lookup (self, (uint32_t) best, &view);
        fn (&view, arg);
        floor = best + 1;
    }
}

void
zdex_ring_foreach_pending (zdex_ring_t *self, zdex_ring_pending_fn *fn, void *arg)
{
    assert (self);
    assert (fn);
    s_foreach (self, true, fn, arg);
}

void
zdex_ring_foreach (zdex_ring_t *self, zdex_ring_slot_fn *fn, void *arg)
{
    assert (self);
    assert (fn);
    s_foreach (self, false, fn, arg);
}

//  A backup's copy must come out exactly as the primary's, so install builds the
//  same block add and complete would have built, and refuses (changing nothing)
//  rather than half-apply: every check and the allocation come before the old slot
//  is cleared.
int
zdex_ring_install (zdex_ring_t *self, const zdex_ring_slot_t *view)
{
    assert (self);
    assert (view);
    zdex_ring_state_t state = view->state;
    bool pending = state == ZDEX_RING_PENDING;
    bool result = state == ZDEX_RING_DONE_OK || state == ZDEX_RING_FAILED;
    if (!pending && !result && state != ZDEX_RING_DISPOSED)
        return -1;
    if ((pending && !view->type) || ((pending || result) && !view->data))
        return -1;
    s_slot_t *slot = &self->slots[view->sequence % self->capacity];
    const char *key = state == ZDEX_RING_DISPOSED ? NULL : view->idempotency_key;
    if (key) {
        //  A key may only be remembered by the slot being replaced
        uint32_t owner;
        if (s_key_lookup (self, key, &owner) == 0 && !(slot->has_key && slot->sequence == owner))
            return -1;
        if (s_keys_create (self))
            return -1;
    }
    char *block = NULL;
    if (state != ZDEX_RING_DISPOSED) {
        //  [seed key \0] [type \0] data \0
        size_t key_size = key ? S_SEED_SIZE + strlen (key) + 1 : 0;
        size_t type_size = pending ? strlen (view->type) + 1 : 0;
        size_t data_size = strlen (view->data) + 1;
        block = (char *) malloc (key_size + type_size + data_size);
        if (!block)
            return -1;
        if (key_size) {
            memcpy (block, &self->seed, S_SEED_SIZE);
            memcpy (block + S_SEED_SIZE, key, key_size - S_SEED_SIZE);
        }
        if (type_size)
            memcpy (block + key_size, view->type, type_size);
        memcpy (block + key_size + type_size, view->data, data_size);
    }
    s_slot_clear (self, slot, ZDEX_RING_STALE);
    slot->block = block;
    slot->sequence = view->sequence;
    slot->state = state;
    slot->attempt = view->attempt < S_ATTEMPT_MAX ? view->attempt : S_ATTEMPT_MAX;
    slot->discard_result = view->discard_result;
    if (key)
        s_key_remember (self, slot);
    if (pending)
        self->in_flight++;
    if ((uint64_t) view->sequence + 1 > self->next_sequence)
        self->next_sequence = (uint64_t) view->sequence + 1;
    s_check (self);
    return 0;
}

int
zdex_ring_set_attempt (zdex_ring_t *self, uint32_t sequence, uint32_t attempt)
{
    assert (self);
    s_slot_t *slot = s_slot_of (self, sequence);
    if (!slot || slot->state != ZDEX_RING_PENDING)
        return -1;
    slot->attempt = attempt < S_ATTEMPT_MAX ? attempt : S_ATTEMPT_MAX;
    return 0;
}
