//  test_ring: the task ring of one (executor, partition).  Sequence rules (monotonic,
//  skipping pinned slots, never moving back, exhaustion), stale versus disposed,
//  idempotency keys, the in-flight count, pending order; the backup-side install,
//  set_attempt and foreach (a ring copied slot by slot stays the same ring); then
//  100,000 random operations checked against a plain model, and a printed memory
//  figure.

#include "zdex_ring.h"

#include <malloc.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

//  xorshift64*: deterministic, seedable from ZDEX_TEST_SEED
static uint64_t
s_random (uint64_t *state)
{
    *state ^= *state >> 12;
    *state ^= *state << 25;
    *state ^= *state >> 27;
    return *state * 2685821657736338717ULL;
}

static uint64_t
s_seed (void)
{
    const char *text = getenv ("ZDEX_TEST_SEED");
    uint64_t seed = text ? strtoull (text, NULL, 0) : 0x1234567ULL;
    return seed ? seed : 1;
}

static char *
s_dup (const char *text)
{
    char *copy = strdup (text);
    assert_non_null (copy);
    return copy;
}

//  Add a task with payload text; returns its sequence or -1.
static int64_t
s_add (zdex_ring_t *ring, const char *payload, const char *key, bool discard)
{
    uint32_t sequence = 0;
    if (zdex_ring_add (ring, "type", s_dup (payload), key, discard, &sequence))
        return -1;
    return sequence;
}

static int
s_complete (zdex_ring_t *ring, uint32_t sequence, const char *value)
{
    return zdex_ring_complete (ring, sequence, true, s_dup (value));
}

static void
test_fresh_ring (void **state)
{
    (void) state;
    zdex_ring_t *ring = zdex_ring_new (4);
    assert_non_null (ring);
    assert_int_equal (zdex_ring_capacity (ring), 4);
    assert_int_equal (zdex_ring_in_flight (ring), 0);
    assert_int_equal (zdex_ring_next_sequence (ring), 0);
    //  Sequence 0 of an untouched ring is stale, not a null result
    zdex_ring_slot_t slot;
    assert_int_equal (zdex_ring_lookup (ring, 0, &slot), ZDEX_RING_STALE);
    assert_int_equal (slot.state, ZDEX_RING_STALE);
    assert_null (slot.data);
    assert_int_equal (zdex_ring_lookup (ring, 0, NULL), ZDEX_RING_STALE);
    assert_int_equal (zdex_ring_lookup (ring, 3, NULL), ZDEX_RING_STALE);
    assert_int_equal (zdex_ring_lookup (ring, ZDEX_RING_MAX_SEQUENCE, NULL), ZDEX_RING_STALE);
    bool was_pending = true;
    assert_int_equal (zdex_ring_dispose (ring, 0, &was_pending), -1);
    assert_false (was_pending);
    assert_int_equal (s_complete (ring, 0, "1"), -1);
    assert_int_equal (zdex_ring_next_attempt (ring, 0), 0);
    uint32_t sequence;
    assert_int_equal (zdex_ring_find_idempotent (ring, "key", &sequence), -1);
    zdex_ring_destroy (&ring);
    assert_null (ring);
    zdex_ring_destroy (&ring); //  null-safe
}

static void
test_sequences_monotonic_from_zero (void **state)
{
    (void) state;
    zdex_ring_t *ring = zdex_ring_new (4);
    for (int64_t expected = 0; expected < 20; expected++) {
        assert_int_equal (s_add (ring, "1", NULL, false), expected);
        assert_int_equal (zdex_ring_next_sequence (ring), expected + 1);
        assert_int_equal (s_complete (ring, (uint32_t) expected, "2"), 0);
    }
    zdex_ring_destroy (&ring);
}

static void
test_capacity_one_rejects_second (void **state)
{
    (void) state;
    zdex_ring_t *ring = zdex_ring_new (1);
    assert_int_equal (s_add (ring, "1", NULL, false), 0);
    assert_int_equal (zdex_ring_in_flight (ring), 1);
    //  Rejected: payload freed (ASan/valgrind would see a leak otherwise)
    assert_int_equal (s_add (ring, "2", NULL, false), -1);
    assert_int_equal (zdex_ring_next_sequence (ring), 1);
    assert_int_equal (zdex_ring_next_attempt (ring, 0), 1); //  running
    assert_int_equal (s_add (ring, "2", NULL, false), -1);
    assert_int_equal (s_complete (ring, 0, "done"), 0);
    assert_int_equal (zdex_ring_in_flight (ring), 0);
    //  The result does not block: it is overwritten
    assert_int_equal (s_add (ring, "3", NULL, false), 1);
    assert_int_equal (zdex_ring_lookup (ring, 0, NULL), ZDEX_RING_STALE);
    //  Disposing the task frees capacity too
    assert_int_equal (zdex_ring_dispose (ring, 1, NULL), 0);
    assert_int_equal (s_add (ring, "4", NULL, false), 2);
    zdex_ring_destroy (&ring);
}

static void
test_results_overwritten_after_wrap (void **state)
{
    (void) state;
    zdex_ring_t *ring = zdex_ring_new (3);
    for (uint32_t sequence = 0; sequence < 3; sequence++)
        assert_int_equal (s_add (ring, "p", NULL, false), sequence);
    assert_int_equal (s_complete (ring, 0, "\"zero\""), 0);
    assert_int_equal (zdex_ring_complete (ring, 1, false, s_dup ("\"boom\"")), 0);
    assert_int_equal (s_complete (ring, 2, "2"), 0);

    zdex_ring_slot_t slot;
    assert_int_equal (zdex_ring_lookup (ring, 0, &slot), ZDEX_RING_DONE_OK);
    assert_string_equal (slot.data, "\"zero\"");
    assert_null (slot.type);
    assert_int_equal (slot.sequence, 0);
    assert_int_equal (zdex_ring_lookup (ring, 1, &slot), ZDEX_RING_FAILED);
    assert_string_equal (slot.data, "\"boom\"");

    //  Sequence 3 takes slot 0; sequence 0's result is gone
    assert_int_equal (s_add (ring, "p", NULL, false), 3);
    assert_int_equal (zdex_ring_lookup (ring, 0, NULL), ZDEX_RING_STALE);
    assert_int_equal (zdex_ring_dispose (ring, 0, NULL), -1);
    assert_int_equal (zdex_ring_lookup (ring, 1, NULL), ZDEX_RING_FAILED);
    assert_int_equal (s_add (ring, "p", NULL, false), 4);
    assert_int_equal (zdex_ring_lookup (ring, 1, NULL), ZDEX_RING_STALE);
    assert_int_equal (zdex_ring_lookup (ring, 2, NULL), ZDEX_RING_DONE_OK);
    //  A result for an overwritten sequence is refused (and freed)
    assert_int_equal (s_complete (ring, 0, "late"), -1);
    assert_int_equal (zdex_ring_lookup (ring, 3, NULL), ZDEX_RING_PENDING);
    zdex_ring_destroy (&ring);
}

static void
test_sequences_skip_pinned_slots (void **state)
{
    (void) state;
    zdex_ring_t *ring = zdex_ring_new (3);
    assert_int_equal (s_add (ring, "long", NULL, false), 0);
    assert_int_equal (zdex_ring_next_attempt (ring, 0), 1); //  running
    assert_int_equal (s_add (ring, "a", NULL, false), 1);
    assert_int_equal (s_add (ring, "b", NULL, false), 2);
    assert_int_equal (s_complete (ring, 1, "1"), 0);
    assert_int_equal (s_complete (ring, 2, "2"), 0);
    //  Slot 0 is pinned by task 0, so sequence 3 is skipped
    assert_int_equal (s_add (ring, "c", NULL, false), 4);
    assert_int_equal (zdex_ring_next_sequence (ring), 5);
    assert_int_equal (zdex_ring_lookup (ring, 3, NULL), ZDEX_RING_STALE);
    assert_int_equal (zdex_ring_lookup (ring, 0, NULL), ZDEX_RING_PENDING);
    assert_int_equal (zdex_ring_lookup (ring, 1, NULL), ZDEX_RING_STALE);
    assert_int_equal (zdex_ring_lookup (ring, 2, NULL), ZDEX_RING_DONE_OK);
    assert_int_equal (s_add (ring, "d", NULL, false), 5);
    assert_int_equal (zdex_ring_in_flight (ring), 3);
    assert_int_equal (s_add (ring, "e", NULL, false), -1);
    //  The pinned task finishes long after; its result lands in its own slot
    assert_int_equal (s_complete (ring, 0, "\"late\""), 0);
    zdex_ring_slot_t slot;
    assert_int_equal (zdex_ring_lookup (ring, 0, &slot), ZDEX_RING_DONE_OK);
    assert_string_equal (slot.data, "\"late\"");
    assert_int_equal (slot.attempt, 1);
    assert_int_equal (s_add (ring, "f", NULL, false), 6);
    assert_int_equal (zdex_ring_lookup (ring, 0, NULL), ZDEX_RING_STALE);
    zdex_ring_destroy (&ring);
}

static void
test_dispose (void **state)
{
    (void) state;
    zdex_ring_t *ring = zdex_ring_new (8);
    assert_int_equal (s_add (ring, "pending", "k0", false), 0);
    assert_int_equal (s_add (ring, "running", NULL, false), 1);
    assert_int_equal (s_add (ring, "done", NULL, false), 2);
    assert_int_equal (s_add (ring, "failed", NULL, false), 3);
    assert_int_equal (zdex_ring_next_attempt (ring, 1), 1);
    assert_int_equal (s_complete (ring, 2, "\"r\""), 0);
    assert_int_equal (zdex_ring_complete (ring, 3, false, s_dup ("\"c\"")), 0);
    assert_int_equal (zdex_ring_in_flight (ring), 2);

    bool was_pending = false;
    assert_int_equal (zdex_ring_dispose (ring, 0, &was_pending), 0);
    assert_true (was_pending);
    assert_int_equal (zdex_ring_in_flight (ring), 1);
    assert_int_equal (zdex_ring_dispose (ring, 1, &was_pending), 0);
    assert_true (was_pending);
    assert_int_equal (zdex_ring_in_flight (ring), 0);
    assert_int_equal (zdex_ring_dispose (ring, 2, &was_pending), 0);
    assert_false (was_pending);
    assert_int_equal (zdex_ring_dispose (ring, 3, NULL), 0);

    zdex_ring_slot_t slot;
    for (uint32_t sequence = 0; sequence < 4; sequence++) {
        assert_int_equal (zdex_ring_lookup (ring, sequence, &slot), ZDEX_RING_DISPOSED);
        assert_int_equal (slot.sequence, sequence);
        assert_null (slot.data);
        assert_null (slot.type);
        assert_null (slot.idempotency_key);
    }
    //  Double dispose is a no-op; stale and never-issued sequences are -1
    was_pending = true;
    assert_int_equal (zdex_ring_dispose (ring, 1, &was_pending), 0);
    assert_false (was_pending);
    assert_int_equal (zdex_ring_lookup (ring, 1, NULL), ZDEX_RING_DISPOSED);
    assert_int_equal (zdex_ring_dispose (ring, 4, NULL), -1);
    assert_int_equal (zdex_ring_dispose (ring, 1000, NULL), -1);
    //  The late result of the disposed running task is dropped
    assert_int_equal (s_complete (ring, 1, "\"late\""), -1);
    assert_int_equal (s_complete (ring, 0, "\"late\""), -1);
    assert_int_equal (zdex_ring_next_attempt (ring, 0), 0);
    assert_int_equal (zdex_ring_lookup (ring, 1, NULL), ZDEX_RING_DISPOSED);
    assert_int_equal (zdex_ring_in_flight (ring), 0);
    uint32_t sequence;
    assert_int_equal (zdex_ring_find_idempotent (ring, "k0", &sequence), -1);

    //  A tombstone is overwritten like a result when the ring wraps
    for (int index = 0; index < 4; index++)
        assert_int_equal (s_complete (ring, (uint32_t) s_add (ring, "x", NULL, false), "1"), 0);
    assert_int_equal (s_add (ring, "x", NULL, false), 8);
    assert_int_equal (zdex_ring_lookup (ring, 0, NULL), ZDEX_RING_STALE);
    assert_int_equal (zdex_ring_dispose (ring, 0, NULL), -1);
    assert_int_equal (zdex_ring_lookup (ring, 1, NULL), ZDEX_RING_DISPOSED);
    zdex_ring_destroy (&ring);
}

//  Hazelcast's retrieve-and-dispose moves its head back and can issue an id twice.
static void
test_retrieve_and_dispose_never_moves_head_back (void **state)
{
    (void) state;
    zdex_ring_t *ring = zdex_ring_new (10);
    for (uint32_t sequence = 0; sequence < 8; sequence++) {
        assert_int_equal (s_add (ring, "p", NULL, false), sequence);
        assert_int_equal (s_complete (ring, sequence, "1"), 0);
    }
    //  retrieve_and_dispose(5) = lookup then dispose
    zdex_ring_slot_t slot;
    assert_int_equal (zdex_ring_lookup (ring, 5, &slot), ZDEX_RING_DONE_OK);
    assert_int_equal (zdex_ring_dispose (ring, 5, NULL), 0);
    assert_int_equal (zdex_ring_next_sequence (ring), 8);
    assert_int_equal (s_add (ring, "p", NULL, false), 8);
    assert_int_equal (s_add (ring, "p", NULL, false), 9);
    //  Nothing was overwritten or issued twice
    assert_int_equal (zdex_ring_lookup (ring, 5, NULL), ZDEX_RING_DISPOSED);
    assert_int_equal (zdex_ring_lookup (ring, 7, NULL), ZDEX_RING_DONE_OK);
    assert_int_equal (zdex_ring_lookup (ring, 8, NULL), ZDEX_RING_PENDING);
    //  Disposing the newest id does not bring it back either
    assert_int_equal (zdex_ring_dispose (ring, 9, NULL), 0);
    assert_int_equal (s_add (ring, "p", NULL, false), 10);
    assert_int_equal (zdex_ring_lookup (ring, 9, NULL), ZDEX_RING_DISPOSED);
    zdex_ring_destroy (&ring);
}

static void
test_idempotency (void **state)
{
    (void) state;
    zdex_ring_t *ring = zdex_ring_new (2);
    uint32_t sequence = 99;
    zdex_ring_slot_t slot;
    assert_int_equal (s_add (ring, "{\"n\":1}", "order-1", false), 0);
    assert_int_equal (zdex_ring_find_idempotent (ring, "order-1", &sequence), 0);
    assert_int_equal (sequence, 0);
    assert_int_equal (zdex_ring_find_idempotent (ring, "order-2", &sequence), -1);
    assert_int_equal (zdex_ring_lookup (ring, 0, &slot), ZDEX_RING_PENDING);
    assert_string_equal (slot.idempotency_key, "order-1");
    assert_string_equal (slot.type, "type");
    assert_string_equal (slot.data, "{\"n\":1}");

    //  A key still remembered cannot be added again
    assert_int_equal (s_add (ring, "dup", "order-1", false), -1);
    assert_int_equal (zdex_ring_in_flight (ring), 1);
    assert_int_equal (zdex_ring_next_sequence (ring), 1);

    //  Still found while the slot holds the result
    assert_int_equal (s_complete (ring, 0, "\"ok\""), 0);
    assert_int_equal (zdex_ring_find_idempotent (ring, "order-1", &sequence), 0);
    assert_int_equal (sequence, 0);
    assert_int_equal (zdex_ring_lookup (ring, 0, &slot), ZDEX_RING_DONE_OK);
    assert_string_equal (slot.idempotency_key, "order-1");
    assert_string_equal (slot.data, "\"ok\"");
    assert_null (slot.type);

    //  Forgotten after dispose; then the key can be used again
    assert_int_equal (zdex_ring_dispose (ring, 0, NULL), 0);
    assert_int_equal (zdex_ring_find_idempotent (ring, "order-1", &sequence), -1);
    assert_int_equal (s_add (ring, "again", "order-1", false), 1);
    assert_int_equal (zdex_ring_find_idempotent (ring, "order-1", &sequence), 0);
    assert_int_equal (sequence, 1);

    //  Forgotten after the result is overwritten
    assert_int_equal (zdex_ring_complete (ring, 1, false, s_dup ("\"bad\"")), 0);
    assert_int_equal (zdex_ring_lookup (ring, 1, &slot), ZDEX_RING_FAILED);
    assert_string_equal (slot.idempotency_key, "order-1");
    assert_string_equal (slot.data, "\"bad\"");
    assert_int_equal (s_add (ring, "x", NULL, false), 2);
    assert_int_equal (zdex_ring_find_idempotent (ring, "order-1", &sequence), 0);
    assert_int_equal (s_add (ring, "y", NULL, false), 3); //  slot 1
    assert_int_equal (zdex_ring_find_idempotent (ring, "order-1", &sequence), -1);

    //  Sequence 0 is found as 0 (not confused with "absent"), and long keys work
    zdex_ring_t *other = zdex_ring_new (3);
    char long_key[2000];
    memset (long_key, 'k', sizeof (long_key) - 1);
    long_key[sizeof (long_key) - 1] = 0;
    assert_int_equal (s_add (other, "a", "", false), 0);
    assert_int_equal (s_add (other, "b", long_key, false), 1);
    assert_int_equal (zdex_ring_find_idempotent (other, "", &sequence), 0);
    assert_int_equal (sequence, 0);
    assert_int_equal (zdex_ring_find_idempotent (other, long_key, &sequence), 0);
    assert_int_equal (sequence, 1);
    long_key[1000] = 0;
    assert_int_equal (zdex_ring_find_idempotent (other, long_key, &sequence), -1);
    zdex_ring_destroy (&other);
    zdex_ring_destroy (&ring);
}

static void
test_discard_result (void **state)
{
    (void) state;
    zdex_ring_t *ring = zdex_ring_new (2);
    zdex_ring_slot_t slot;
    uint32_t sequence;
    assert_int_equal (s_add (ring, "e", "exec-1", true), 0);
    assert_int_equal (zdex_ring_lookup (ring, 0, &slot), ZDEX_RING_PENDING);
    assert_true (slot.discard_result);
    assert_int_equal (zdex_ring_find_idempotent (ring, "exec-1", &sequence), 0);
    assert_int_equal (s_complete (ring, 0, "\"dropped\""), 0);
    //  The slot is cleared: nothing to retrieve, key forgotten, capacity back
    assert_int_equal (zdex_ring_lookup (ring, 0, &slot), ZDEX_RING_STALE);
    assert_null (slot.data);
    assert_int_equal (zdex_ring_find_idempotent (ring, "exec-1", &sequence), -1);
    assert_int_equal (zdex_ring_in_flight (ring), 0);
    assert_int_equal (zdex_ring_dispose (ring, 0, NULL), -1);
    assert_int_equal (s_complete (ring, 0, "again"), -1);
    //  A failure is dropped the same way
    assert_int_equal (s_add (ring, "e", NULL, true), 1);
    assert_int_equal (zdex_ring_complete (ring, 1, false, s_dup ("\"x\"")), 0);
    assert_int_equal (zdex_ring_lookup (ring, 1, NULL), ZDEX_RING_STALE);
    //  And a kept result next to it is unaffected
    assert_int_equal (s_add (ring, "s", NULL, false), 2);
    assert_int_equal (s_complete (ring, 2, "1"), 0);
    assert_int_equal (zdex_ring_lookup (ring, 2, NULL), ZDEX_RING_DONE_OK);
    zdex_ring_destroy (&ring);
}

static void
test_in_flight_after_mixes (void **state)
{
    (void) state;
    zdex_ring_t *ring = zdex_ring_new (5);
    for (int index = 0; index < 5; index++)
        assert_int_equal (s_add (ring, "p", NULL, index == 4), index);
    assert_int_equal (zdex_ring_in_flight (ring), 5);
    assert_int_equal (s_complete (ring, 0, "1"), 0);                           //  4
    assert_int_equal (zdex_ring_dispose (ring, 1, NULL), 0);                   //  3
    assert_int_equal (zdex_ring_complete (ring, 2, false, s_dup ("\"\"")), 0); //  2
    assert_int_equal (s_complete (ring, 4, "1"), 0);                           //  1 (discarded)
    assert_int_equal (zdex_ring_in_flight (ring), 1);
    assert_int_equal (s_complete (ring, 0, "1"), -1);        //  no change
    assert_int_equal (zdex_ring_dispose (ring, 0, NULL), 0); //  a result: no change
    assert_int_equal (zdex_ring_in_flight (ring), 1);
    for (int index = 0; index < 4; index++)
        assert_true (s_add (ring, "p", NULL, false) >= 5);
    assert_int_equal (zdex_ring_in_flight (ring), 5);
    assert_int_equal (s_add (ring, "p", NULL, false), -1);
    assert_int_equal (zdex_ring_dispose (ring, 3, NULL), 0);
    assert_int_equal (zdex_ring_in_flight (ring), 4);
    zdex_ring_destroy (&ring);
}

typedef struct {
    uint32_t sequences[16];
    uint32_t attempts[16];
    char payloads[16][16];
    int count;
    zdex_ring_t *ring;
    int mode; //  0 record, 1 also dispose the next pending, 2 also add a task
} t_visit_t;

static void
s_visit (const zdex_ring_slot_t *slot, void *arg)
{
    t_visit_t *visit = (t_visit_t *) arg;
    assert_int_equal (slot->state, ZDEX_RING_PENDING);
    assert_string_equal (slot->type, "type");
    visit->sequences[visit->count] = slot->sequence;
    visit->attempts[visit->count] = slot->attempt;
    snprintf (visit->payloads[visit->count], 16, "%s", slot->data);
    visit->count++;
    //  Typical use: re-dispatch after promotion
    zdex_ring_next_attempt (visit->ring, slot->sequence);
    if (visit->mode == 1 && visit->count == 1)
        zdex_ring_dispose (visit->ring, slot->sequence + 2, NULL);
    if (visit->mode == 2 && visit->count == 1)
        s_add (visit->ring, "added", NULL, false);
}

static void
test_foreach_pending_order (void **state)
{
    (void) state;
    //  Build slot order 4, 2, 6 (walking from the next slot) against sequence
    //  order 2, 4, 6: the pinned task 2 sits after the newer task 4.
    zdex_ring_t *ring = zdex_ring_new (3);
    for (int index = 0; index < 3; index++)
        assert_int_equal (s_add (ring, index == 2 ? "p2" : "p", NULL, false), index);
    assert_int_equal (s_complete (ring, 0, "1"), 0);
    assert_int_equal (s_complete (ring, 1, "1"), 0);
    assert_int_equal (s_add (ring, "p3", NULL, false), 3);
    assert_int_equal (s_add (ring, "p4", NULL, false), 4);
    assert_int_equal (s_complete (ring, 3, "1"), 0);
    assert_int_equal (s_add (ring, "p6", NULL, false), 6); //  5 skipped: slot 2 pinned
    assert_int_equal (zdex_ring_next_sequence (ring), 7);
    assert_int_equal (zdex_ring_next_attempt (ring, 4), 1);

    t_visit_t visit = {.ring = ring};
    zdex_ring_foreach_pending (ring, s_visit, &visit);
    assert_int_equal (visit.count, 3);
    assert_int_equal (visit.sequences[0], 2);
    assert_int_equal (visit.sequences[1], 4);
    assert_int_equal (visit.sequences[2], 6);
    assert_string_equal (visit.payloads[0], "p2");
    assert_string_equal (visit.payloads[1], "p4");
    assert_string_equal (visit.payloads[2], "p6");
    assert_int_equal (visit.attempts[0], 0);
    assert_int_equal (visit.attempts[1], 1);
    //  The callback's next_attempt took effect
    zdex_ring_slot_t slot;
    assert_int_equal (zdex_ring_lookup (ring, 4, &slot), ZDEX_RING_PENDING);
    assert_int_equal (slot.attempt, 2);

    //  fn disposing a later task: that task is skipped
    visit = (t_visit_t){.ring = ring, .mode = 1};
    zdex_ring_foreach_pending (ring, s_visit, &visit);
    assert_int_equal (visit.count, 2);
    assert_int_equal (visit.sequences[0], 2);
    assert_int_equal (visit.sequences[1], 6);
    assert_int_equal (zdex_ring_lookup (ring, 4, NULL), ZDEX_RING_DISPOSED);

    //  fn adding a task: it is not visited
    visit = (t_visit_t){.ring = ring, .mode = 2};
    zdex_ring_foreach_pending (ring, s_visit, &visit);
    assert_int_equal (visit.count, 2);
    assert_int_equal (zdex_ring_in_flight (ring), 3);

    //  Nothing pending: fn is not called
    zdex_ring_t *empty = zdex_ring_new (2);
    visit = (t_visit_t){.ring = empty};
    zdex_ring_foreach_pending (empty, s_visit, &visit);
    assert_int_equal (visit.count, 0);
    zdex_ring_destroy (&empty);
    zdex_ring_destroy (&ring);
}

static void
test_next_attempt (void **state)
{
    (void) state;
    zdex_ring_t *ring = zdex_ring_new (2);
    assert_int_equal (s_add (ring, "p", NULL, false), 0);
    zdex_ring_slot_t slot;
    zdex_ring_lookup (ring, 0, &slot);
    assert_int_equal (slot.attempt, 0);
    assert_int_equal (zdex_ring_next_attempt (ring, 0), 1);
    assert_int_equal (zdex_ring_next_attempt (ring, 0), 2);
    assert_int_equal (zdex_ring_next_attempt (ring, 0), 3);
    zdex_ring_lookup (ring, 0, &slot);
    assert_int_equal (slot.attempt, 3);
    assert_int_equal (zdex_ring_next_attempt (ring, 1), 0); //  never issued
    assert_int_equal (s_complete (ring, 0, "1"), 0);
    assert_int_equal (zdex_ring_next_attempt (ring, 0), 0); //  holds a result
    zdex_ring_lookup (ring, 0, &slot);
    assert_int_equal (slot.attempt, 3); //  kept with the result
    zdex_ring_destroy (&ring);
}

static void
test_sequence_exhaustion (void **state)
{
    (void) state;
    zdex_ring_t *ring = zdex_ring_new (3);
    assert_int_equal (s_add (ring, "p", NULL, false), 0);
    assert_int_equal (zdex_ring_set_next_sequence (ring, 0), -1); //  backwards
    assert_int_equal (zdex_ring_set_next_sequence (ring, (uint64_t) ZDEX_RING_MAX_SEQUENCE + 2),
                      -1);
    assert_int_equal (zdex_ring_set_next_sequence (ring, 1), 0); //  no change is fine
    assert_int_equal (zdex_ring_set_next_sequence (ring, ZDEX_RING_MAX_SEQUENCE - 1), 0);
    //  Sequences in the jump were never issued
    assert_int_equal (zdex_ring_lookup (ring, 1000, NULL), ZDEX_RING_STALE);
    assert_int_equal (zdex_ring_lookup (ring, 0, NULL), ZDEX_RING_PENDING);
    //  MAX - 1 lands on slot 2, MAX on slot 0, which task 0 pins: MAX is the last
    assert_int_equal (s_add (ring, "p", NULL, false), (int64_t) ZDEX_RING_MAX_SEQUENCE - 1);
    assert_int_equal (s_complete (ring, ZDEX_RING_MAX_SEQUENCE - 1, "1"), 0);
    assert_int_equal (ZDEX_RING_MAX_SEQUENCE % 3, 0);
    //  The walk would need MAX + 1: refused
    assert_int_equal (s_add (ring, "p", NULL, false), -1);
    assert_int_equal (zdex_ring_next_sequence (ring), ZDEX_RING_MAX_SEQUENCE);
    assert_int_equal (s_complete (ring, 0, "1"), 0);
    assert_int_equal (s_add (ring, "p", NULL, false), (int64_t) ZDEX_RING_MAX_SEQUENCE);
    assert_int_equal (zdex_ring_next_sequence (ring), (uint64_t) ZDEX_RING_MAX_SEQUENCE + 1);
    //  Exhausted, even with free slots
    assert_int_equal (zdex_ring_in_flight (ring), 1);
    assert_int_equal (s_add (ring, "p", NULL, false), -1);
    assert_int_equal (zdex_ring_lookup (ring, ZDEX_RING_MAX_SEQUENCE, NULL), ZDEX_RING_PENDING);
    assert_int_equal (zdex_ring_next_attempt (ring, ZDEX_RING_MAX_SEQUENCE), 1);
    assert_int_equal (s_complete (ring, ZDEX_RING_MAX_SEQUENCE, "\"last\""), 0);
    assert_int_equal (zdex_ring_lookup (ring, ZDEX_RING_MAX_SEQUENCE, NULL), ZDEX_RING_DONE_OK);
    assert_int_equal (zdex_ring_lookup (ring, ZDEX_RING_MAX_SEQUENCE - 1, NULL), ZDEX_RING_DONE_OK);
    assert_int_equal (zdex_ring_dispose (ring, ZDEX_RING_MAX_SEQUENCE, NULL), 0);
    assert_int_equal (zdex_ring_lookup (ring, ZDEX_RING_MAX_SEQUENCE, NULL), ZDEX_RING_DISPOSED);
    assert_int_equal (zdex_ring_set_next_sequence (ring, (uint64_t) ZDEX_RING_MAX_SEQUENCE + 1), 0);
    zdex_ring_destroy (&ring);
}

//  Keys built from blocks "BA" and "C`" collide in pairs under zhashx's default
//  Bernstein hash; a default zhashx aborts out of memory after a few dozen of
//  them.  The ring's seeded hash takes them in its stride, round after round.
static void
test_colliding_keys (void **state)
{
    (void) state;
    zdex_ring_t *ring = zdex_ring_new (128);
    for (int round = 0; round < 3; round++) {
        for (int index = 0; index < 128; index++) {
            char key[32] = "";
            for (int block = 0; block < 7; block++)
                strcat (key, (index >> block) & 1 ? "BA" : "C`");
            char value[16];
            snprintf (value, sizeof (value), "%d", index);
            int64_t sequence = s_add (ring, value, key, false);
            assert_int_equal (sequence, round * 128 + index);
        }
        for (int index = 0; index < 128; index++) {
            char key[32] = "";
            for (int block = 0; block < 7; block++)
                strcat (key, (index >> block) & 1 ? "BA" : "C`");
            uint32_t sequence;
            assert_int_equal (zdex_ring_find_idempotent (ring, key, &sequence), 0);
            assert_int_equal (sequence, round * 128 + index);
            assert_int_equal (zdex_ring_dispose (ring, sequence, NULL), 0);
        }
    }
    zdex_ring_destroy (&ring);
}

//  ---------------------------------------------------------------------------
//  Backup-side additions: install, set_attempt, foreach.

static zdex_ring_slot_t
s_view (zdex_ring_state_t state, uint32_t sequence, const char *type, const char *data,
        const char *key)
{
    zdex_ring_slot_t slot = {0};
    slot.state = state;
    slot.sequence = sequence;
    slot.type = type;
    slot.data = data;
    slot.idempotency_key = key;
    return slot;
}

static void
test_install (void **state)
{
    (void) state;
    zdex_ring_t *ring = zdex_ring_new (4);
    zdex_ring_slot_t slot;
    uint32_t sequence;

    //  A task exactly as given, at sequence % capacity; next rises past it
    zdex_ring_slot_t task = s_view (ZDEX_RING_PENDING, 5, "t", "{\"a\":1}", "k5");
    task.attempt = 3;
    task.discard_result = true;
    assert_int_equal (zdex_ring_install (ring, &task), 0);
    assert_int_equal (zdex_ring_next_sequence (ring), 6);
    assert_int_equal (zdex_ring_in_flight (ring), 1);
    assert_int_equal (zdex_ring_lookup (ring, 5, &slot), ZDEX_RING_PENDING);
    assert_int_equal (slot.attempt, 3);
    assert_true (slot.discard_result);
    assert_string_equal (slot.type, "t");
    assert_string_equal (slot.data, "{\"a\":1}");
    assert_string_equal (slot.idempotency_key, "k5");
    assert_int_equal (zdex_ring_find_idempotent (ring, "k5", &sequence), 0);
    assert_int_equal (sequence, 5);
    //  Skipped sequences were never issued
    for (uint32_t skipped = 0; skipped < 5; skipped++)
        assert_int_equal (zdex_ring_lookup (ring, skipped, NULL), ZDEX_RING_STALE);

    //  Results and a failure; a lower sequence does not move next back
    assert_int_equal (zdex_ring_install (ring, &(zdex_ring_slot_t){.state = ZDEX_RING_DONE_OK,
                                                                   .sequence = 10,
                                                                   .attempt = 2,
                                                                   .data = "\"ten\"",
                                                                   .idempotency_key = "k10"}),
                      0);
    zdex_ring_slot_t failed = s_view (ZDEX_RING_FAILED, 3, "ignored", "\"boom\"", NULL);
    assert_int_equal (zdex_ring_install (ring, &failed), 0);
    assert_int_equal (zdex_ring_next_sequence (ring), 11);
    assert_int_equal (zdex_ring_lookup (ring, 10, &slot), ZDEX_RING_DONE_OK);
    assert_int_equal (slot.attempt, 2);
    assert_null (slot.type);
    assert_string_equal (slot.data, "\"ten\"");
    assert_string_equal (slot.idempotency_key, "k10");
    assert_int_equal (zdex_ring_lookup (ring, 3, &slot), ZDEX_RING_FAILED);
    assert_null (slot.type);
    assert_null (slot.idempotency_key);
    assert_string_equal (slot.data, "\"boom\"");
    assert_int_equal (zdex_ring_in_flight (ring), 1);

    //  Replacing the task with its own result keeps the key; in flight drops
    zdex_ring_slot_t done = s_view (ZDEX_RING_DONE_OK, 5, NULL, "1", "k5");
    assert_int_equal (zdex_ring_install (ring, &done), 0);
    assert_int_equal (zdex_ring_in_flight (ring), 0);
    assert_int_equal (zdex_ring_find_idempotent (ring, "k5", &sequence), 0);
    assert_int_equal (sequence, 5);

    //  Replacing another sequence forgets its key and makes it stale
    zdex_ring_slot_t newer = s_view (ZDEX_RING_PENDING, 14, "t", "[]", NULL);
    assert_int_equal (zdex_ring_install (ring, &newer), 0);
    assert_int_equal (zdex_ring_lookup (ring, 10, NULL), ZDEX_RING_STALE);
    assert_int_equal (zdex_ring_find_idempotent (ring, "k10", &sequence), -1);
    assert_int_equal (zdex_ring_next_sequence (ring), 15);

    //  A tombstone carries no strings, whatever is passed
    zdex_ring_slot_t tombstone = s_view (ZDEX_RING_DISPOSED, 7, "t", "x", "k7");
    assert_int_equal (zdex_ring_install (ring, &tombstone), 0);
    assert_int_equal (zdex_ring_lookup (ring, 7, &slot), ZDEX_RING_DISPOSED);
    assert_null (slot.data);
    assert_null (slot.type);
    assert_null (slot.idempotency_key);
    assert_int_equal (zdex_ring_lookup (ring, 3, NULL), ZDEX_RING_STALE);
    assert_int_equal (zdex_ring_find_idempotent (ring, "k7", &sequence), -1);

    //  Refused, changing nothing: no state, missing strings, a key held elsewhere
    zdex_ring_slot_t bad = s_view (ZDEX_RING_STALE, 12, "t", "1", NULL);
    assert_int_equal (zdex_ring_install (ring, &bad), -1);
    bad = s_view (ZDEX_RING_PENDING, 12, NULL, "1", NULL);
    assert_int_equal (zdex_ring_install (ring, &bad), -1);
    bad = s_view (ZDEX_RING_PENDING, 12, "t", NULL, NULL);
    assert_int_equal (zdex_ring_install (ring, &bad), -1);
    bad = s_view (ZDEX_RING_FAILED, 12, NULL, NULL, NULL);
    assert_int_equal (zdex_ring_install (ring, &bad), -1);
    bad = s_view ((zdex_ring_state_t) 7, 12, "t", "1", NULL);
    assert_int_equal (zdex_ring_install (ring, &bad), -1);
    bad = s_view (ZDEX_RING_PENDING, 12, "t", "1", "k5"); //  k5 belongs to 5, in slot 1
    assert_int_equal (zdex_ring_install (ring, &bad), -1);
    assert_int_equal (zdex_ring_lookup (ring, 12, NULL), ZDEX_RING_STALE);
    assert_int_equal (zdex_ring_lookup (ring, 5, NULL), ZDEX_RING_DONE_OK);
    assert_int_equal (zdex_ring_next_sequence (ring), 15);
    assert_int_equal (zdex_ring_in_flight (ring), 1);

    //  Installed slots behave like added ones: complete, dispose, add continues
    assert_int_equal (s_complete (ring, 14, "\"late\""), 0);
    assert_int_equal (zdex_ring_lookup (ring, 14, &slot), ZDEX_RING_DONE_OK);
    assert_int_equal (zdex_ring_dispose (ring, 5, NULL), 0);
    assert_int_equal (zdex_ring_find_idempotent (ring, "k5", &sequence), -1);
    assert_int_equal (s_add (ring, "p", "k5", false), 15);
    assert_int_equal (zdex_ring_in_flight (ring), 1);

    //  The attempt saturates; the last sequence exhausts the ring
    zdex_ring_slot_t last = s_view (ZDEX_RING_PENDING, ZDEX_RING_MAX_SEQUENCE, "t", "1", NULL);
    last.attempt = UINT32_MAX;
    assert_int_equal (zdex_ring_install (ring, &last), 0);
    assert_int_equal (zdex_ring_lookup (ring, ZDEX_RING_MAX_SEQUENCE, &slot), ZDEX_RING_PENDING);
    assert_int_equal (slot.attempt, (1u << 27) - 1);
    assert_true (zdex_ring_next_sequence (ring) == (uint64_t) ZDEX_RING_MAX_SEQUENCE + 1);
    assert_int_equal (s_add (ring, "p", NULL, false), -1);
    zdex_ring_destroy (&ring);
}

static void
test_set_attempt (void **state)
{
    (void) state;
    zdex_ring_t *ring = zdex_ring_new (2);
    zdex_ring_slot_t slot;
    assert_int_equal (s_add (ring, "p", NULL, false), 0);
    assert_int_equal (zdex_ring_set_attempt (ring, 0, 7), 0);
    zdex_ring_lookup (ring, 0, &slot);
    assert_int_equal (slot.attempt, 7);
    assert_int_equal (zdex_ring_next_attempt (ring, 0), 8);
    assert_int_equal (zdex_ring_set_attempt (ring, 0, 2), 0); //  absolute, may go down
    zdex_ring_lookup (ring, 0, &slot);
    assert_int_equal (slot.attempt, 2);
    assert_int_equal (zdex_ring_set_attempt (ring, 0, UINT32_MAX), 0);
    zdex_ring_lookup (ring, 0, &slot);
    assert_int_equal (slot.attempt, (1u << 27) - 1);
    assert_int_equal (zdex_ring_set_attempt (ring, 1, 1), -1); //  never issued
    assert_int_equal (s_complete (ring, 0, "1"), 0);
    assert_int_equal (zdex_ring_set_attempt (ring, 0, 1), -1); //  a result
    assert_int_equal (s_add (ring, "p", NULL, false), 1);
    assert_int_equal (zdex_ring_dispose (ring, 1, NULL), 0);
    assert_int_equal (zdex_ring_set_attempt (ring, 1, 1), -1); //  disposed
    zdex_ring_destroy (&ring);
}

typedef struct {
    uint32_t sequences[32];
    zdex_ring_state_t states[32];
    int count;
    zdex_ring_t *ring; //  set: on the first visit, dispose `dispose` and add a task
    uint32_t dispose;
} t_walk_t;

static void
s_walk (const zdex_ring_slot_t *slot, void *arg)
{
    t_walk_t *walk = (t_walk_t *) arg;
    assert_true (walk->count < 32);
    assert_int_not_equal (slot->state, ZDEX_RING_STALE);
    walk->sequences[walk->count] = slot->sequence;
    walk->states[walk->count] = slot->state;
    if (walk->ring && walk->count == 0) {
        zdex_ring_dispose (walk->ring, walk->dispose, NULL);
        s_add (walk->ring, "added", NULL, false);
    }
    walk->count++;
}

static void
test_foreach_all (void **state)
{
    (void) state;
    zdex_ring_t *ring = zdex_ring_new (4);
    t_walk_t walk = {.count = 0};
    zdex_ring_foreach (ring, s_walk, &walk);
    assert_int_equal (walk.count, 0);
    //  0 pinned; 1 done, 2 failed, 3 disposed; then 4, 5 reuse slots 1, 2 (6 and 7
    //  skip nothing); slot order 0 4 5 3 versus sequence order 0 3 4 5
    for (int index = 0; index < 4; index++)
        assert_int_equal (s_add (ring, "p", NULL, false), index);
    assert_int_equal (s_complete (ring, 1, "1"), 0);
    assert_int_equal (zdex_ring_complete (ring, 2, false, s_dup ("\"x\"")), 0);
    assert_int_equal (zdex_ring_dispose (ring, 3, NULL), 0);
    assert_int_equal (s_add (ring, "p", NULL, true), 5); //  4 skipped: slot 0 pinned
    assert_int_equal (s_add (ring, "p", NULL, false), 6);
    assert_int_equal (s_complete (ring, 5, "1"), 0); //  durable.execute: slot cleared
    zdex_ring_foreach (ring, s_walk, &walk);
    assert_int_equal (walk.count, 3);
    assert_int_equal (walk.sequences[0], 0);
    assert_int_equal (walk.states[0], ZDEX_RING_PENDING);
    assert_int_equal (walk.sequences[1], 3);
    assert_int_equal (walk.states[1], ZDEX_RING_DISPOSED);
    assert_int_equal (walk.sequences[2], 6);
    assert_int_equal (walk.states[2], ZDEX_RING_PENDING);

    //  fn may change the ring: what it makes stale is skipped, what it adds is not seen
    assert_int_equal (s_complete (ring, 6, "2"), 0);
    assert_int_equal (s_add (ring, "p", NULL, false), 7); //  slot 3: the tombstone goes
    walk = (t_walk_t){.ring = ring, .dispose = 6};
    zdex_ring_foreach (ring, s_walk, &walk);
    //  Visits 0 (disposing 6, adding 9: 8 would be slot 0), then 6 as it is now, 7
    assert_int_equal (walk.count, 3);
    assert_int_equal (walk.sequences[1], 6);
    assert_int_equal (walk.states[1], ZDEX_RING_DISPOSED);
    assert_int_equal (walk.sequences[2], 7);
    assert_int_equal (zdex_ring_lookup (ring, 9, NULL), ZDEX_RING_PENDING);
    zdex_ring_destroy (&ring);
}

//  A copy made with foreach + install + set_next_sequence is the same ring, and
//  keeps behaving the same under the same operations (what a promoted backup does).
static void
s_assert_same_ring (zdex_ring_t *left, zdex_ring_t *right, const char **keys, int key_count)
{
    assert_int_equal (zdex_ring_capacity (left), zdex_ring_capacity (right));
    assert_int_equal (zdex_ring_in_flight (left), zdex_ring_in_flight (right));
    assert_true (zdex_ring_next_sequence (left) == zdex_ring_next_sequence (right));
    for (uint64_t sequence = 0; sequence < zdex_ring_next_sequence (left) + 2; sequence++) {
        zdex_ring_slot_t a, b;
        assert_int_equal (zdex_ring_lookup (left, (uint32_t) sequence, &a),
                          zdex_ring_lookup (right, (uint32_t) sequence, &b));
        assert_int_equal (a.attempt, b.attempt);
        assert_int_equal (a.discard_result, b.discard_result);
        assert_true ((a.type == NULL) == (b.type == NULL));
        assert_true ((a.data == NULL) == (b.data == NULL));
        assert_true ((a.idempotency_key == NULL) == (b.idempotency_key == NULL));
        if (a.type)
            assert_string_equal (a.type, b.type);
        if (a.data)
            assert_string_equal (a.data, b.data);
        if (a.idempotency_key)
            assert_string_equal (a.idempotency_key, b.idempotency_key);
    }
    for (int key = 0; key < key_count; key++) {
        uint32_t a = 0, b = 0;
        assert_int_equal (zdex_ring_find_idempotent (left, keys[key], &a),
                          zdex_ring_find_idempotent (right, keys[key], &b));
        assert_int_equal (a, b);
    }
}

static void
s_copy_slot (const zdex_ring_slot_t *slot, void *arg)
{
    assert_int_equal (zdex_ring_install ((zdex_ring_t *) arg, slot), 0);
}

static void
test_install_copies_a_ring (void **state)
{
    (void) state;
    uint64_t random = s_seed ();
    const char *keys[] = {"a", "b", "c", "d", "e", "f"};
    for (int round = 0; round < 40; round++) {
        uint32_t capacity = 1 + (uint32_t) (s_random (&random) % 9);
        zdex_ring_t *rings[2] = {zdex_ring_new (capacity), NULL};
        //  Ops on the original; then copy; then the same ops on both
        for (int phase = 0; phase < 2; phase++) {
            for (int op = 0; op < 400; op++) {
                uint64_t choice = s_random (&random) % 10;
                uint64_t next = zdex_ring_next_sequence (rings[0]);
                uint32_t sequence = (uint32_t) (next - s_random (&random) % (2 * capacity + 1));
                const char *key = s_random (&random) % 3 ? NULL : keys[s_random (&random) % 6];
                bool discard = s_random (&random) % 6 == 0;
                bool ok = s_random (&random) % 3;
                for (int copy = 0; copy <= phase; copy++) {
                    zdex_ring_t *ring = rings[copy];
                    uint32_t ignored;
                    if (choice < 4) {
                        if (!key || zdex_ring_find_idempotent (ring, key, &ignored))
                            zdex_ring_add (ring, "t", s_dup ("{}"), key, discard, &ignored);
                    } else if (choice < 7)
                        zdex_ring_complete (ring, sequence, ok, s_dup (ok ? "1" : "\"e\""));
                    else if (choice < 8)
                        zdex_ring_dispose (ring, sequence, NULL);
                    else
                        zdex_ring_next_attempt (ring, sequence);
                }
            }
            if (phase == 0) {
                rings[1] = zdex_ring_new (capacity);
                zdex_ring_foreach (rings[0], s_copy_slot, rings[1]);
                assert_int_equal (
                    zdex_ring_set_next_sequence (rings[1], zdex_ring_next_sequence (rings[0])), 0);
            }
            s_assert_same_ring (rings[0], rings[1], keys, 6);
        }
        zdex_ring_destroy (&rings[0]);
        zdex_ring_destroy (&rings[1]);
    }
}

//  ---------------------------------------------------------------------------
//  The model: a record per issued sequence and the list of sequences whose slot
//  still holds something.  Written from the rules, not from the ring's layout.

#define M_KEYS 12

typedef struct {
    zdex_ring_state_t state; //  STALE for skipped, overwritten and cleared
    uint32_t attempt;
    int key; //  -1 none
    bool discard;
    int type_id;
    int payload_id;
    int result_id;
} m_task_t;

typedef struct {
    uint32_t capacity;
    uint64_t base; //  first sequence of this ring's life
    uint64_t next;
    m_task_t *tasks; //  indexed by sequence - base
    size_t tasks_allocated;
    uint64_t *live; //  sequences not STALE
    size_t live_count;
    int64_t key_owner[M_KEYS];
} model_t;

static void
s_key_text (int key, char *buffer, size_t size)
{
    if (key % 4 == 3) { //  long enough to miss the ring's stack buffer
        memset (buffer, 'L', 300);
        snprintf (buffer + 300, size - 300, "-%d", key);
    } else
        snprintf (buffer, size, "key-%d", key);
}

static m_task_t *
m_task (model_t *model, uint64_t sequence)
{
    if (sequence < model->base || sequence >= model->next)
        return NULL;
    return &model->tasks[sequence - model->base];
}

static zdex_ring_state_t
m_state (model_t *model, uint64_t sequence)
{
    m_task_t *task = m_task (model, sequence);
    return task ? task->state : ZDEX_RING_STALE;
}

static void
m_unlive (model_t *model, uint64_t sequence)
{
    for (size_t index = 0; index < model->live_count; index++)
        if (model->live[index] == sequence) {
            model->live[index] = model->live[--model->live_count];
            return;
        }
    fail_msg ("sequence %llu not live", (unsigned long long) sequence);
}

static void
m_release_key (model_t *model, m_task_t *task)
{
    if (task->key >= 0) {
        model->key_owner[task->key] = -1;
        task->key = -1;
    }
}

static uint32_t
m_pending (model_t *model)
{
    uint32_t count = 0;
    for (size_t index = 0; index < model->live_count; index++)
        if (m_state (model, model->live[index]) == ZDEX_RING_PENDING)
            count++;
    return count;
}

static int64_t
m_add (model_t *model, int key, bool discard, int type_id, int payload_id)
{
    if (m_pending (model) == model->capacity)
        return -1;
    if (key >= 0 && model->key_owner[key] >= 0)
        return -1;
    uint64_t sequence = model->next;
    int64_t victim = -1;
    while (true) {
        victim = -1;
        for (size_t index = 0; index < model->live_count; index++)
            if (model->live[index] % model->capacity == sequence % model->capacity)
                victim = (int64_t) model->live[index];
        if (victim >= 0 && m_state (model, (uint64_t) victim) == ZDEX_RING_PENDING)
            sequence++;
        else
            break;
    }
    if (sequence > ZDEX_RING_MAX_SEQUENCE)
        return -1;
    if (victim >= 0) {
        m_task_t *old = m_task (model, (uint64_t) victim);
        old->state = ZDEX_RING_STALE;
        m_release_key (model, old);
        m_unlive (model, (uint64_t) victim);
    }
    size_t needed = (size_t) (sequence + 1 - model->base);
    if (needed > model->tasks_allocated) {
        size_t allocated =
            model->tasks_allocated * 2 > needed ? model->tasks_allocated * 2 : needed;
        model->tasks = (m_task_t *) realloc (model->tasks, allocated * sizeof (m_task_t));
        assert_non_null (model->tasks);
        memset (model->tasks + model->tasks_allocated, 0,
                (allocated - model->tasks_allocated) * sizeof (m_task_t));
        model->tasks_allocated = allocated;
    }
    model->next = sequence + 1;
    m_task_t *task = m_task (model, sequence);
    *task = (m_task_t){ZDEX_RING_PENDING, 0, key, discard, type_id, payload_id, -1};
    if (key >= 0)
        model->key_owner[key] = (int64_t) sequence;
    model->live[model->live_count++] = sequence;
    return (int64_t) sequence;
}

static int
m_complete (model_t *model, uint64_t sequence, bool ok, int result_id)
{
    m_task_t *task = m_task (model, sequence);
    if (!task || task->state != ZDEX_RING_PENDING)
        return -1;
    if (task->discard) {
        task->state = ZDEX_RING_STALE;
        m_release_key (model, task);
        m_unlive (model, sequence);
    } else {
        task->state = ok ? ZDEX_RING_DONE_OK : ZDEX_RING_FAILED;
        task->result_id = result_id;
    }
    return 0;
}

static int
m_dispose (model_t *model, uint64_t sequence, bool *was_pending)
{
    *was_pending = false;
    m_task_t *task = m_task (model, sequence);
    if (!task || task->state == ZDEX_RING_STALE)
        return -1;
    if (task->state == ZDEX_RING_DISPOSED)
        return 0;
    *was_pending = task->state == ZDEX_RING_PENDING;
    task->state = ZDEX_RING_DISPOSED;
    task->attempt = 0;
    task->discard = false;
    m_release_key (model, task);
    return 0;
}

static uint32_t
m_next_attempt (model_t *model, uint64_t sequence)
{
    m_task_t *task = m_task (model, sequence);
    if (!task || task->state != ZDEX_RING_PENDING)
        return 0;
    return ++task->attempt;
}

static void
m_reset (model_t *model, uint32_t capacity, uint64_t base)
{
    free (model->tasks);
    free (model->live);
    memset (model, 0, sizeof (*model));
    model->capacity = capacity;
    model->base = base;
    model->next = base;
    model->live = (uint64_t *) calloc (capacity + 1, sizeof (uint64_t));
    assert_non_null (model->live);
    for (int key = 0; key < M_KEYS; key++)
        model->key_owner[key] = -1;
}

//  Compare the ring's view of one sequence with the model's.
static void
s_check_sequence (zdex_ring_t *ring, model_t *model, uint64_t sequence)
{
    if (sequence > ZDEX_RING_MAX_SEQUENCE)
        return;
    zdex_ring_slot_t slot;
    zdex_ring_state_t expected = m_state (model, sequence);
    assert_int_equal (zdex_ring_lookup (ring, (uint32_t) sequence, &slot), expected);
    assert_int_equal (slot.state, expected);
    assert_int_equal (slot.sequence, (uint32_t) sequence);
    m_task_t *task = m_task (model, sequence);
    char text[400];
    if (expected == ZDEX_RING_STALE || expected == ZDEX_RING_DISPOSED) {
        assert_null (slot.data);
        assert_null (slot.type);
        assert_null (slot.idempotency_key);
        return;
    }
    assert_int_equal (slot.attempt, task->attempt);
    assert_int_equal (slot.discard_result, task->discard);
    if (task->key >= 0) {
        s_key_text (task->key, text, sizeof (text));
        assert_non_null (slot.idempotency_key);
        assert_string_equal (slot.idempotency_key, text);
    } else
        assert_null (slot.idempotency_key);
    if (expected == ZDEX_RING_PENDING) {
        snprintf (text, sizeof (text), "t%d", task->type_id);
        assert_string_equal (slot.type, text);
        snprintf (text, sizeof (text), "[%d]", task->payload_id);
        assert_string_equal (slot.data, text);
    } else {
        assert_null (slot.type);
        snprintf (text, sizeof (text), "%s%d", expected == ZDEX_RING_DONE_OK ? "\"r" : "\"f",
                  task->result_id);
        assert_string_equal (slot.data, text);
    }
}

typedef struct {
    uint64_t sequences[64];
    int count;
} t_order_t;

static void
s_collect (const zdex_ring_slot_t *slot, void *arg)
{
    t_order_t *order = (t_order_t *) arg;
    assert_true (order->count < 64);
    order->sequences[order->count++] = slot->sequence;
}

static int
s_compare_u64 (const void *a, const void *b)
{
    uint64_t left = *(const uint64_t *) a, right = *(const uint64_t *) b;
    return (left > right) - (left < right);
}

static void
s_check_all (zdex_ring_t *ring, model_t *model)
{
    assert_int_equal (zdex_ring_in_flight (ring), m_pending (model));
    assert_true (zdex_ring_next_sequence (ring) == model->next);
    //  Every live sequence, and a window of recent ones
    for (size_t index = 0; index < model->live_count; index++)
        s_check_sequence (ring, model, model->live[index]);
    uint64_t window = 3 * (uint64_t) model->capacity + 3;
    uint64_t from = model->next > model->base + window ? model->next - window : model->base;
    for (uint64_t sequence = from; sequence < model->next + 2; sequence++)
        s_check_sequence (ring, model, sequence);
    //  Keys
    for (int key = 0; key < M_KEYS; key++) {
        char text[400];
        s_key_text (key, text, sizeof (text));
        uint32_t sequence = 0;
        int rc = zdex_ring_find_idempotent (ring, text, &sequence);
        if (model->key_owner[key] >= 0) {
            assert_int_equal (rc, 0);
            assert_true (sequence == (uint64_t) model->key_owner[key]);
        } else
            assert_int_equal (rc, -1);
    }
    //  Pending order
    t_order_t order = {.count = 0};
    zdex_ring_foreach_pending (ring, s_collect, &order);
    uint64_t expected[64];
    int count = 0;
    for (size_t index = 0; index < model->live_count; index++)
        if (m_state (model, model->live[index]) == ZDEX_RING_PENDING)
            expected[count++] = model->live[index];
    qsort (expected, (size_t) count, sizeof (uint64_t), s_compare_u64);
    assert_int_equal (order.count, count);
    for (int index = 0; index < count; index++)
        assert_true (order.sequences[index] == expected[index]);
}

//  A sequence to operate on: mostly live or recent ones, sometimes anything.
static uint64_t
s_pick (model_t *model, uint64_t *random)
{
    unsigned choice = (unsigned) (s_random (random) % 10);
    if (choice < 5 && model->live_count)
        return model->live[s_random (random) % model->live_count];
    if (choice < 9) {
        uint64_t window = 3 * (uint64_t) model->capacity + 3;
        uint64_t from = model->next > model->base + window ? model->next - window : model->base;
        uint64_t sequence = from + s_random (random) % (model->next + 2 - from);
        //  Past the end of the sequence space: wrap, as the uint32 argument would
        return sequence > ZDEX_RING_MAX_SEQUENCE ? sequence - ZDEX_RING_MAX_SEQUENCE - 1 : sequence;
    }
    return s_random (random) % ((uint64_t) ZDEX_RING_MAX_SEQUENCE + 1);
}

static void
test_model_random (void **state)
{
    (void) state;
    uint64_t random = s_seed ();
    static const uint32_t capacities[] = {1, 2, 3, 4, 5, 7, 8, 13, 16};
    model_t model = {0};
    zdex_ring_t *ring = NULL;
    const int ops = 100000;
    int rings = 0;
    //  How often each outcome came up, to show the run covers them
    int added = 0, refused = 0, completed = 0, disposed = 0, stale = 0;
    for (int op = 0; op < ops; op++) {
        if (!ring || s_random (&random) % 1000 == 0) {
            zdex_ring_destroy (&ring);
            uint32_t capacity = capacities[s_random (&random) % 9];
            uint64_t base = 0;
            if (s_random (&random) % 8 == 0) //  close to the end of the sequence space
                base = (uint64_t) ZDEX_RING_MAX_SEQUENCE + 1 - s_random (&random) % 60;
            ring = zdex_ring_new (capacity);
            assert_non_null (ring);
            if (base)
                assert_int_equal (zdex_ring_set_next_sequence (ring, base), 0);
            m_reset (&model, capacity, base);
            rings++;
        }
        unsigned choice = (unsigned) (s_random (&random) % 100);
        if (choice < 35) {
            int key = s_random (&random) % 10 < 4 ? (int) (s_random (&random) % M_KEYS) : -1;
            bool discard = s_random (&random) % 100 < 15;
            int type_id = (int) (s_random (&random) % 3);
            char type[8], payload[24], key_text[400];
            snprintf (type, sizeof (type), "t%d", type_id);
            snprintf (payload, sizeof (payload), "[%d]", op);
            if (key >= 0)
                s_key_text (key, key_text, sizeof (key_text));
            uint32_t sequence = 0;
            int rc = zdex_ring_add (ring, type, s_dup (payload), key >= 0 ? key_text : NULL,
                                    discard, &sequence);
            int64_t expected = m_add (&model, key, discard, type_id, op);
            if (expected < 0) {
                assert_int_equal (rc, -1);
                refused++;
            } else {
                added++;
                assert_int_equal (rc, 0);
                assert_true (sequence == (uint64_t) expected);
            }
        } else if (choice < 60) {
            uint64_t sequence = s_pick (&model, &random);
            bool ok = s_random (&random) % 4 != 0;
            char data[24];
            snprintf (data, sizeof (data), "%s%d", ok ? "\"r" : "\"f", op);
            int rc = zdex_ring_complete (ring, (uint32_t) sequence, ok, s_dup (data));
            assert_int_equal (rc, m_complete (&model, sequence, ok, op));
            completed += rc == 0;
            stale += rc != 0;
        } else if (choice < 70) {
            uint64_t sequence = s_pick (&model, &random);
            bool was_pending = true, expected_pending = true;
            int rc = zdex_ring_dispose (ring, (uint32_t) sequence, &was_pending);
            assert_int_equal (rc, m_dispose (&model, sequence, &expected_pending));
            disposed += rc == 0;
            stale += rc != 0;
            assert_int_equal (was_pending, expected_pending);
        } else if (choice < 82) {
            uint64_t sequence = s_pick (&model, &random);
            assert_int_equal (zdex_ring_next_attempt (ring, (uint32_t) sequence),
                              m_next_attempt (&model, sequence));
        } else if (choice < 97)
            s_check_sequence (ring, &model, s_pick (&model, &random));
        else
            s_check_all (ring, &model);
        //  Cheap invariants after every operation
        assert_int_equal (zdex_ring_in_flight (ring), m_pending (&model));
        assert_true (zdex_ring_next_sequence (ring) == model.next);
        assert_true (zdex_ring_in_flight (ring) <= zdex_ring_capacity (ring));
    }
    s_check_all (ring, &model);
    printf ("    model test: %d operations over %d rings: %d added, %d refused, %d completed, "
            "%d disposed, %d refused as stale\n",
            ops, rings, added, refused, completed, disposed, stale);
    zdex_ring_destroy (&ring);
    free (model.tasks);
    free (model.live);
}

//  ---------------------------------------------------------------------------
//  Memory per stored task, printed (not asserted: allocator dependent).

static size_t
s_heap_in_use (void)
{
    struct mallinfo2 info = mallinfo2 ();
    return info.uordblks + info.hblkhd;
}

typedef enum { M_RESULTS, M_RESULTS_WITH_KEYS, M_PENDING } m_fill_t;

static double
s_measure (m_fill_t fill, size_t rings, uint32_t capacity)
{
    zdex_ring_t **ring = (zdex_ring_t **) calloc (rings, sizeof (zdex_ring_t *));
    assert_non_null (ring);
    size_t before = s_heap_in_use ();
    char key[32];
    size_t count = 0;
    for (size_t index = 0; index < rings; index++) {
        ring[index] = zdex_ring_new (capacity);
        assert_non_null (ring[index]);
        for (uint32_t task = 0; task < capacity; task++) {
            uint32_t sequence;
            snprintf (key, sizeof (key), "idem-%07zu", count++);
            assert_int_equal (zdex_ring_add (ring[index], "t", s_dup ("1"),
                                             fill == M_RESULTS_WITH_KEYS ? key : NULL, false,
                                             &sequence),
                              0);
            if (fill != M_PENDING)
                assert_int_equal (s_complete (ring[index], sequence, "1"), 0);
        }
    }
    size_t after = s_heap_in_use ();
    for (size_t index = 0; index < rings; index++)
        zdex_ring_destroy (&ring[index]);
    free (ring);
    return after > before ? (double) (after - before) / (double) count : 0;
}

static void
test_memory_per_result (void **state)
{
    (void) state;
    //  What the allocator charges for the payload itself ("1" as malloc'ed text)
    enum { PROBES = 1000 };
    char *probes[PROBES];
    size_t before = s_heap_in_use ();
    for (int index = 0; index < PROBES; index++)
        probes[index] = s_dup ("1");
    double payload = (double) (s_heap_in_use () - before) / PROBES;
    for (int index = 0; index < PROBES; index++)
        free (probes[index]);

    const size_t rings = 10000;
    const uint32_t capacity = 100;
    double results = s_measure (M_RESULTS, rings, capacity);
    double keyed = s_measure (M_RESULTS_WITH_KEYS, rings, capacity);
    double pending = s_measure (M_PENDING, rings, capacity);
    if (results == 0) {
        printf ("    memory: mallinfo2 sees nothing (ASan or valgrind allocator); skipped\n");
        return;
    }
    printf ("    memory: %zu rings x %u slots, payload \"1\" (allocator charges %.0f bytes)\n",
            rings, capacity, payload);
    printf ("    memory: stored result:            %6.1f bytes each, %6.1f beyond the payload\n",
            results, results - payload);
    printf ("    memory: stored result + idem key: %6.1f bytes each, %6.1f beyond the payload\n",
            keyed, keyed - payload);
    printf ("    memory: pending task (type \"t\"):  %6.1f bytes each, %6.1f beyond the payload\n",
            pending, pending - payload);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_fresh_ring),
        cmocka_unit_test (test_sequences_monotonic_from_zero),
        cmocka_unit_test (test_capacity_one_rejects_second),
        cmocka_unit_test (test_results_overwritten_after_wrap),
        cmocka_unit_test (test_sequences_skip_pinned_slots),
        cmocka_unit_test (test_dispose),
        cmocka_unit_test (test_retrieve_and_dispose_never_moves_head_back),
        cmocka_unit_test (test_idempotency),
        cmocka_unit_test (test_discard_result),
        cmocka_unit_test (test_in_flight_after_mixes),
        cmocka_unit_test (test_foreach_pending_order),
        cmocka_unit_test (test_next_attempt),
        cmocka_unit_test (test_sequence_exhaustion),
        cmocka_unit_test (test_colliding_keys),
        cmocka_unit_test (test_install),
        cmocka_unit_test (test_set_attempt),
        cmocka_unit_test (test_foreach_all),
        cmocka_unit_test (test_install_copies_a_ring),
        cmocka_unit_test (test_model_random),
        cmocka_unit_test (test_memory_per_result),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
