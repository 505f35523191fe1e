//  test_replica: the replication stream of a partition.  The codec (every op round
//  trips, canonical bytes, strict rejection of corrupt and random messages), the
//  primary's backlog and ack tracker, the backup's state machine; then a primary
//  driving 50,000 random ring operations on two executors through the stream to a
//  backup, checked slot for slot every 1,000 operations, with lost messages
//  (GAP → FETCH), a backlog that lost the range (snapshot), duplicates, stale and
//  new epochs, and a promotion.

#include "zdex_replica.h"

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
    uint64_t seed = text ? strtoull (text, NULL, 0) : 0x5eed1234ULL;
    return seed ? seed : 1;
}

static char *
s_dup (const char *text)
{
    char *copy = strdup (text);
    assert_non_null (copy);
    return copy;
}

//  Encode, decode and check that the bytes come back the same.
static zmsg_t *
s_encode (const zdex_replica_msg_t *msg)
{
    zmsg_t *encoded = zdex_replica_encode (msg);
    assert_non_null (encoded);
    return encoded;
}

static bool
s_same_bytes (zmsg_t *left, zmsg_t *right)
{
    if (zmsg_size (left) != zmsg_size (right))
        return false;
    zframe_t *a = zmsg_first (left);
    zframe_t *b = zmsg_first (right);
    while (a && b) {
        if (!zframe_eq (a, b))
            return false;
        a = zmsg_next (left);
        b = zmsg_next (right);
    }
    return true;
}

static void
s_assert_canonical (zmsg_t *msg)
{
    zdex_replica_msg_t decoded;
    assert_int_equal (zdex_replica_decode (msg, &decoded), 0);
    zmsg_t *again = zdex_replica_encode (&decoded);
    assert_non_null (again);
    assert_true (s_same_bytes (msg, again));
    zmsg_destroy (&again);
    zdex_replica_msg_reset (&decoded);
}

static void
s_assert_strings (const char *left, const char *right)
{
    assert_true ((left == NULL) == (right == NULL));
    if (left)
        assert_string_equal (left, right);
}

//  ---------------------------------------------------------------------------
//  Codec

static void
test_topic (void **state)
{
    (void) state;
    byte one[ZDEX_REPLICA_TOPIC_SIZE], twelve[ZDEX_REPLICA_TOPIC_SIZE];
    zdex_replica_topic (1, one);
    zdex_replica_topic (12, twelve);
    assert_memory_equal (one, "R\0\0\0\1", 5);
    assert_memory_equal (twelve, "R\0\0\0\x0c", 5);
    //  Fixed width: neither is a prefix of the other
    assert_memory_not_equal (one, twelve, 5);
    zdex_replica_topic (0x01020304, one);
    assert_memory_equal (one, "R\1\2\3\4", 5);
}

static void
test_roundtrip (void **state)
{
    (void) state;
    zdex_replica_next_t nexts[] = {{"alpha", 4, 17}, {"béta", 100, 0x100000000ULL}};
    zdex_replica_msg_t messages[] = {
        {.op = ZDEX_REPLICA_ADD,
         .executor = "alpha",
         .capacity = 4,
         .slot = {.sequence = 9,
                  .attempt = 2,
                  .type = "échoé",
                  .data = "{\"a\":[1,2]}",
                  .idempotency_key = "k-9",
                  .discard_result = true}},
        {.op = ZDEX_REPLICA_ADD,
         .executor = "alpha",
         .capacity = 1,
         .slot = {.sequence = 0xFFFFFFFFu, .type = "t", .data = "null"}},
        {.op = ZDEX_REPLICA_RESULT,
         .executor = "alpha",
         .slot = {.sequence = 3, .state = ZDEX_RING_DONE_OK, .data = "42"}},
        {.op = ZDEX_REPLICA_RESULT,
         .executor = "alpha",
         .slot = {.sequence = 3, .state = ZDEX_RING_FAILED, .data = "\"boom\""}},
        {.op = ZDEX_REPLICA_DISPOSE, .executor = "x", .slot = {.sequence = 77}},
        {.op = ZDEX_REPLICA_ATTEMPT, .executor = "x", .slot = {.sequence = 77, .attempt = 5}},
        {.op = ZDEX_REPLICA_HEAD},
        {.op = ZDEX_REPLICA_SNAPSHOT_BEGIN},
        {.op = ZDEX_REPLICA_SNAPSHOT_SLOT,
         .executor = "alpha",
         .capacity = 8,
         .slot = {.sequence = 5,
                  .state = ZDEX_RING_PENDING,
                  .attempt = 1,
                  .type = "t",
                  .data = "[]",
                  .idempotency_key = "k"}},
        {.op = ZDEX_REPLICA_SNAPSHOT_SLOT,
         .executor = "alpha",
         .capacity = 8,
         .slot = {.sequence = 6, .state = ZDEX_RING_DONE_OK, .attempt = 3, .data = "1"}},
        {.op = ZDEX_REPLICA_SNAPSHOT_SLOT,
         .executor = "alpha",
         .capacity = 8,
         .slot =
             {.sequence = 7, .state = ZDEX_RING_FAILED, .data = "\"e\"", .idempotency_key = "q"}},
        {.op = ZDEX_REPLICA_SNAPSHOT_SLOT,
         .executor = "alpha",
         .capacity = 8,
         .slot = {.sequence = 8, .state = ZDEX_RING_DISPOSED}},
        {.op = ZDEX_REPLICA_SNAPSHOT_END, .nexts = nexts, .next_count = 2},
        {.op = ZDEX_REPLICA_SNAPSHOT_END},
        {.op = ZDEX_REPLICA_ACK, .member = "member-b"},
        {.op = ZDEX_REPLICA_FETCH, .to_seq = 90},
        {.op = ZDEX_REPLICA_SCHED_PUT, .executor = "sched", .name = "a:b", .data = "{\"x\":1}"},
        {.op = ZDEX_REPLICA_SCHED_DEL, .executor = "sched", .name = "a:b"},
        {.op = ZDEX_REPLICA_SNAPSHOT_SCHED, .executor = "sched", .name = "n", .data = "{}"},
    };
    for (size_t index = 0; index < sizeof messages / sizeof messages[0]; index++) {
        zdex_replica_msg_t *msg = &messages[index];
        msg->partition = 270 + (uint32_t) index;
        msg->epoch = 0x0102030405060708ULL + index;
        msg->seq = msg->op == ZDEX_REPLICA_FETCH ? 80 : 1000 + index;
        zmsg_t *encoded = s_encode (msg);
        //  Topic and header layout
        zframe_t *topic = zmsg_first (encoded);
        assert_int_equal (zframe_size (topic), 5);
        assert_int_equal (zframe_data (topic)[0], 'R');
        zframe_t *header = zmsg_next (encoded);
        assert_int_equal (zframe_size (header), 18);
        assert_int_equal (zframe_data (header)[0], 1);
        assert_int_equal (zframe_data (header)[1], msg->op);
        assert_int_equal (zframe_data (header)[2], 1);
        assert_int_equal (zframe_data (header)[9], 8 + index);

        zdex_replica_msg_t out;
        assert_int_equal (zdex_replica_decode (encoded, &out), 0);
        assert_int_equal (out.op, msg->op);
        assert_int_equal (out.partition, msg->partition);
        assert_true (out.epoch == msg->epoch);
        assert_true (out.seq == msg->seq);
        assert_true (out.to_seq == msg->to_seq);
        s_assert_strings (out.executor, msg->executor);
        s_assert_strings (out.member, msg->member);
        assert_int_equal (out.capacity, msg->capacity);
        assert_int_equal (out.slot.sequence, msg->slot.sequence);
        assert_int_equal (out.slot.attempt, msg->slot.attempt);
        assert_int_equal (out.slot.discard_result, msg->slot.discard_result);
        if (msg->op == ZDEX_REPLICA_ADD)
            assert_int_equal (out.slot.state, ZDEX_RING_PENDING);
        else
            assert_int_equal (out.slot.state, msg->slot.state);
        s_assert_strings (out.slot.type, msg->slot.type);
        s_assert_strings (out.slot.data, msg->slot.data);
        s_assert_strings (out.slot.idempotency_key, msg->slot.idempotency_key);
        s_assert_strings (out.name, msg->name);
        s_assert_strings (out.data, msg->data);
        assert_int_equal (out.next_count, msg->next_count);
        for (size_t line = 0; line < out.next_count; line++) {
            assert_string_equal (out.nexts[line].executor, msg->nexts[line].executor);
            assert_int_equal (out.nexts[line].capacity, msg->nexts[line].capacity);
            assert_true (out.nexts[line].next_sequence == msg->nexts[line].next_sequence);
        }
        zdex_replica_msg_reset (&out);
        s_assert_canonical (encoded);
        zmsg_destroy (&encoded);
    }
    assert_string_equal (zdex_replica_op_name (ZDEX_REPLICA_SNAPSHOT_END), "SNAPSHOT_END");
    assert_string_equal (zdex_replica_op_name (0), "?");
    assert_string_equal (zdex_replica_op_name (ZDEX_REPLICA_SNAPSHOT_SCHED), "SNAPSHOT_SCHED");
    assert_string_equal (zdex_replica_op_name (ZDEX_REPLICA_OP_LAST + 1), "?");
}

//  Trim drops exactly the messages up to a seq; FETCH from below them needs a
//  snapshot, above them is answered from the backlog.
static void
test_log_trim (void **state)
{
    (void) state;
    zdex_replica_log_t *log = zdex_replica_log_new (3, 100, 0);
    zdex_replica_log_reset (log, 1, 0);
    for (int index = 0; index < 10; index++) {
        zdex_replica_msg_t msg = {.op = ZDEX_REPLICA_DISPOSE, .executor = "e"};
        msg.slot.sequence = (uint32_t) index;
        zmsg_t *copy = zdex_replica_log_record (log, &msg);
        assert_non_null (copy);
        zmsg_destroy (&copy);
    }
    zdex_replica_log_trim (log, 6);
    assert_int_equal (zdex_replica_log_size (log), 4);
    assert_null (zdex_replica_log_fetch (log, 1, 6, 10));
    zlistx_t *answer = zdex_replica_log_fetch (log, 1, 7, 10);
    assert_non_null (answer);
    assert_int_equal (zlistx_size (answer), 4);
    zlistx_destroy (&answer);
    zdex_replica_log_trim (log, 100);
    assert_int_equal (zdex_replica_log_size (log), 0);
    assert_int_equal (zdex_replica_log_last (log), 10);
    zdex_replica_log_destroy (&log);
}

//  Skip stamps the next seq of the log's partition and epoch without keeping
//  anything, and empties the log: FETCH of any range then needs a snapshot.
static void
test_log_skip (void **state)
{
    (void) state;
    zdex_replica_log_t *log = zdex_replica_log_new (3, 100, 0);
    zdex_replica_log_reset (log, 2, 0);
    for (int index = 0; index < 3; index++) {
        zdex_replica_msg_t msg = {.op = ZDEX_REPLICA_DISPOSE, .executor = "e"};
        zmsg_t *copy = zdex_replica_log_record (log, &msg);
        assert_non_null (copy);
        zmsg_destroy (&copy);
    }
    assert_int_equal (zdex_replica_log_size (log), 3);
    zdex_replica_msg_t msg = {.op = ZDEX_REPLICA_DISPOSE, .executor = "e"};
    zdex_replica_log_skip (log, &msg);
    assert_int_equal (msg.partition, 3);
    assert_int_equal (msg.epoch, 2);
    assert_int_equal (msg.seq, 4);
    assert_int_equal (zdex_replica_log_last (log), 4);
    assert_int_equal (zdex_replica_log_size (log), 0);
    assert_null (zdex_replica_log_fetch (log, 2, 1, 10));
    //  The next record follows on.
    zmsg_t *copy = zdex_replica_log_record (log, &msg);
    assert_non_null (copy);
    zmsg_destroy (&copy);
    assert_int_equal (msg.seq, 5);
    zdex_replica_log_destroy (&log);
}

//  Scheduled tasks' forms: applied in stream order, replaced, deleted, carried by
//  snapshots, kept during a resync, and handed over on promotion.
static void
test_sched_records (void **state)
{
    (void) state;
    zdex_replica_t *replica = zdex_replica_new (4);
    zhashx_t *rings = zhashx_new ();
    zlistx_t *records = zdex_replica_record_list_new ();
    zlistx_add_end (records, zdex_replica_record_new ("s", "one", "{\"v\":1}", 0));
    zlistx_t *snapshot = zdex_replica_snapshot (4, 2, 10, rings, records);
    assert_non_null (snapshot);
    assert_int_equal (zlistx_size (snapshot), 3); //  BEGIN, one SCHED, END
    zmsg_t *part;
    while ((part = (zmsg_t *) zlistx_detach (snapshot, NULL))) {
        zdex_replica_msg_t msg;
        assert_int_equal (zdex_replica_decode (part, &msg), 0);
        assert_int_equal (zdex_replica_apply (replica, &msg), ZDEX_REPLICA_APPLIED);
        zdex_replica_msg_reset (&msg);
        zmsg_destroy (&part);
    }
    zlistx_destroy (&snapshot);
    assert_int_equal (zdex_replica_state (replica), ZDEX_REPLICA_STATE_LIVE);
    assert_int_equal (zdex_replica_record_count (replica), 1);
    zdex_replica_msg_t put = {.op = ZDEX_REPLICA_SCHED_PUT,
                              .partition = 4,
                              .epoch = 2,
                              .seq = 11,
                              .executor = "s",
                              .name = "two",
                              .data = "{\"v\":2}"};
    assert_int_equal (zdex_replica_apply (replica, &put), ZDEX_REPLICA_APPLIED);
    put.seq = 12;
    put.name = "one";
    put.data = "{\"v\":3}";
    assert_int_equal (zdex_replica_apply (replica, &put), ZDEX_REPLICA_APPLIED);
    zdex_replica_msg_t del = {.op = ZDEX_REPLICA_SCHED_DEL,
                              .partition = 4,
                              .epoch = 2,
                              .seq = 13,
                              .executor = "s",
                              .name = "two"};
    assert_int_equal (zdex_replica_apply (replica, &del), ZDEX_REPLICA_APPLIED);
    //  Deleting what the copy does not hold means the copy is wrong.
    del.seq = 14;
    assert_int_equal (zdex_replica_apply (replica, &del), ZDEX_REPLICA_DIVERGED);
    //  A resync that never completes: promotion hands over the last complete copy.
    zdex_replica_msg_t begin = {
        .op = ZDEX_REPLICA_SNAPSHOT_BEGIN, .partition = 4, .epoch = 3, .seq = 20};
    assert_int_equal (zdex_replica_apply (replica, &begin), ZDEX_REPLICA_APPLIED);
    zlistx_t *taken = zdex_replica_take_records (replica);
    assert_int_equal (zlistx_size (taken), 1);
    zdex_replica_record_t *record = (zdex_replica_record_t *) zlistx_first (taken);
    assert_string_equal (record->scheduler, "s");
    assert_string_equal (record->name, "one");
    assert_string_equal (record->data, "{\"v\":3}");
    zhashx_t *taken_rings = zdex_replica_take_rings (replica);
    zhashx_destroy (&taken_rings);
    assert_int_equal (zdex_replica_record_count (replica), 0);
    zlistx_destroy (&taken);
    zlistx_destroy (&records);
    zhashx_destroy (&rings);
    zdex_replica_destroy (&replica);
}

static void
test_encode_refuses (void **state)
{
    (void) state;
    char long_name[ZDEX_REPLICA_NAME_MAX + 2];
    memset (long_name, 'n', sizeof long_name - 1);
    long_name[sizeof long_name - 1] = 0;
    zdex_replica_next_t bad_next[] = {{"a", 0, 1}};
    zdex_replica_next_t far_next[] = {{"a", 1, 0x100000001ULL}};
    zdex_replica_msg_t refused[] = {
        {.op = (zdex_replica_op_t) 0},
        {.op = (zdex_replica_op_t) 11},
        {.op = ZDEX_REPLICA_ADD, .capacity = 1, .slot = {.type = "t", .data = "1"}},
        {.op = ZDEX_REPLICA_ADD, .executor = "", .capacity = 1, .slot = {.type = "t", .data = "1"}},
        {.op = ZDEX_REPLICA_ADD,
         .executor = long_name,
         .capacity = 1,
         .slot = {.type = "t", .data = "1"}},
        {.op = ZDEX_REPLICA_ADD, .executor = "e", .slot = {.type = "t", .data = "1"}},
        {.op = ZDEX_REPLICA_ADD, .executor = "e", .capacity = 1, .slot = {.data = "1"}},
        {.op = ZDEX_REPLICA_ADD, .executor = "e", .capacity = 1, .slot = {.type = "t", .data = ""}},
        {.op = ZDEX_REPLICA_ADD,
         .executor = "e",
         .capacity = 1,
         .slot = {.type = "t", .data = "1", .idempotency_key = ""}},
        {.op = ZDEX_REPLICA_ADD,
         .executor = "e\xff",
         .capacity = 1,
         .slot = {.type = "t", .data = "1"}},
        {.op = ZDEX_REPLICA_ADD,
         .executor = "e",
         .capacity = 1,
         .slot = {.type = "t", .data = "\"\xed\xa0\x80\""}}, //  a surrogate
        {.op = ZDEX_REPLICA_RESULT,
         .executor = "e",
         .slot = {.state = ZDEX_RING_PENDING, .data = "1"}},
        {.op = ZDEX_REPLICA_RESULT, .executor = "e", .slot = {.state = ZDEX_RING_DONE_OK}},
        {.op = ZDEX_REPLICA_DISPOSE},
        {.op = ZDEX_REPLICA_ATTEMPT, .executor = ""},
        {.op = ZDEX_REPLICA_SNAPSHOT_SLOT,
         .executor = "e",
         .capacity = 1,
         .slot = {.state = ZDEX_RING_STALE}},
        {.op = ZDEX_REPLICA_SNAPSHOT_SLOT,
         .executor = "e",
         .capacity = 1,
         .slot = {.state = ZDEX_RING_PENDING, .data = "1"}},
        {.op = ZDEX_REPLICA_SNAPSHOT_SLOT, .executor = "e", .slot = {.state = ZDEX_RING_DISPOSED}},
        {.op = ZDEX_REPLICA_SNAPSHOT_END, .next_count = 1},
        {.op = ZDEX_REPLICA_SNAPSHOT_END, .nexts = bad_next, .next_count = 1},
        {.op = ZDEX_REPLICA_SNAPSHOT_END, .nexts = far_next, .next_count = 1},
        {.op = ZDEX_REPLICA_ACK},
        {.op = ZDEX_REPLICA_FETCH, .seq = 5, .to_seq = 4},
    };
    for (size_t index = 0; index < sizeof refused / sizeof refused[0]; index++) {
        zmsg_t *msg = zdex_replica_encode (&refused[index]);
        if (msg)
            fail_msg ("message %zu encoded", index);
    }
}

//  Build a message frame by frame: "s:text" string with NUL, "S:text" raw bytes,
//  "4:n" u32, "8:n" u64, "1:n" u8, "" empty frame; topic and header first.
static zmsg_t *
s_craft (uint32_t partition, int version, int op, uint64_t seq, const char *const frames[],
         size_t count)
{
    zmsg_t *msg = zmsg_new ();
    byte topic[5];
    zdex_replica_topic (partition, topic);
    zmsg_addmem (msg, topic, 5);
    byte header[18] = {(byte) version, (byte) op};
    header[10 + 7] = (byte) seq;
    header[9] = 1; //  epoch 1
    zmsg_addmem (msg, header, 18);
    for (size_t index = 0; index < count; index++) {
        const char *frame = frames[index];
        if (!*frame) {
            zmsg_addmem (msg, NULL, 0);
            continue;
        }
        char kind = frame[0];
        const char *text = frame + 2;
        if (kind == 's')
            zmsg_addmem (msg, text, strlen (text) + 1);
        else if (kind == 'S')
            zmsg_addmem (msg, text, strlen (text));
        else {
            uint64_t value = strtoull (text, NULL, 0);
            int size = kind - '0';
            byte bytes[8];
            for (int at = 0; at < size; at++)
                bytes[at] = (byte) (value >> (8 * (size - 1 - at)));
            zmsg_addmem (msg, bytes, (size_t) size);
        }
    }
    return msg;
}

static void
test_decode_rejects (void **state)
{
    (void) state;
    typedef struct {
        int op;
        const char *frames[12];
        size_t count;
        bool valid;
    } t_case_t;
    const t_case_t cases[] = {
        //  The valid shapes first, to show the invalid ones differ in one thing
        {ZDEX_REPLICA_ADD, {"s:e", "4:1", "4:0", "4:0", "1:0", "s:t", "s:1", ""}, 8, true},
        {ZDEX_REPLICA_ADD, {"s:e", "4:1", "4:0", "4:0", "1:1", "s:t", "s:1", "s:k"}, 8, true},
        {ZDEX_REPLICA_ADD, {"s:e", "4:1", "4:0", "4:0", "1:2", "s:t", "s:1", ""}, 8, false},
        {ZDEX_REPLICA_ADD, {"s:e", "4:0", "4:0", "4:0", "1:0", "s:t", "s:1", ""}, 8, false},
        {ZDEX_REPLICA_ADD, {"s:e", "4:1", "4:0", "4:0", "1:0", "s:t", "s:1"}, 7, false},
        {ZDEX_REPLICA_ADD, {"s:e", "4:1", "4:0", "4:0", "1:0", "s:t", "s:1", "", ""}, 9, false},
        {ZDEX_REPLICA_ADD, {"s:e", "8:1", "4:0", "4:0", "1:0", "s:t", "s:1", ""}, 8, false},
        {ZDEX_REPLICA_ADD, {"S:e", "4:1", "4:0", "4:0", "1:0", "s:t", "s:1", ""}, 8, false},
        {ZDEX_REPLICA_ADD, {"s:e", "4:1", "4:0", "4:0", "1:0", "", "s:1", ""}, 8, false},
        {ZDEX_REPLICA_ADD, {"s:e", "4:1", "4:0", "4:0", "1:0", "s:", "s:1", ""}, 8, false},
        {ZDEX_REPLICA_ADD, {"s:e", "4:1", "4:0", "4:0", "1:0", "s:t", "s:", ""}, 8, false},
        {ZDEX_REPLICA_ADD, {"s:e", "4:1", "4:0", "4:0", "1:0", "s:t", "s:1", "s:"}, 8, false},
        {ZDEX_REPLICA_ADD, {"s:e", "4:1", "4:0", "4:0", "1:0", "s:t", "s:\xc0\xaf", ""}, 8, false},
        {ZDEX_REPLICA_ADD,
         {"s:e", "4:1", "4:0", "4:0", "1:0", "s:t", "s:\xf4\x90\x80\x80", ""},
         8,
         false},
        {ZDEX_REPLICA_ADD, {"s:e", "4:1", "4:0", "4:0", "1:0", "s:t", "s:\xe2\x82", ""}, 8, false},
        {ZDEX_REPLICA_ADD,
         {"s:e", "4:1", "4:0", "4:0", "1:0", "s:t", "s:\xe2\x82\xac", ""},
         8,
         true},
        {ZDEX_REPLICA_RESULT, {"s:e", "4:3", "1:1", "s:1"}, 4, true},
        {ZDEX_REPLICA_RESULT, {"s:e", "4:3", "1:2", "s:1"}, 4, false},
        {ZDEX_REPLICA_RESULT, {"s:e", "4:3", "1:0", ""}, 4, false},
        {ZDEX_REPLICA_RESULT, {"s:e", "4:3", "4:0", "s:1"}, 4, false},
        {ZDEX_REPLICA_DISPOSE, {"s:e", "4:3"}, 2, true},
        {ZDEX_REPLICA_DISPOSE, {"s:e", "4:3", "s:x"}, 3, false},
        {ZDEX_REPLICA_ATTEMPT, {"s:e", "4:3", "4:9"}, 3, true},
        {ZDEX_REPLICA_ATTEMPT, {"s:e", "4:3"}, 2, false},
        {ZDEX_REPLICA_HEAD, {""}, 0, true},
        {ZDEX_REPLICA_HEAD, {""}, 1, false},
        {ZDEX_REPLICA_SNAPSHOT_BEGIN, {"s:x"}, 1, false},
        {ZDEX_REPLICA_SNAPSHOT_SLOT,
         {"s:e", "4:2", "4:1", "1:1", "4:0", "1:0", "s:t", "s:1", ""},
         9,
         true},
        {ZDEX_REPLICA_SNAPSHOT_SLOT,
         {"s:e", "4:2", "4:1", "1:2", "4:0", "1:0", "", "s:1", "s:k"},
         9,
         true},
        {ZDEX_REPLICA_SNAPSHOT_SLOT,
         {"s:e", "4:2", "4:1", "1:4", "4:0", "1:0", "", "", ""},
         9,
         true},
        {ZDEX_REPLICA_SNAPSHOT_SLOT,
         {"s:e", "4:2", "4:1", "1:0", "4:0", "1:0", "", "s:1", ""},
         9,
         false},
        {ZDEX_REPLICA_SNAPSHOT_SLOT,
         {"s:e", "4:2", "4:1", "1:5", "4:0", "1:0", "", "s:1", ""},
         9,
         false},
        {ZDEX_REPLICA_SNAPSHOT_SLOT,
         {"s:e", "4:2", "4:1", "1:2", "4:0", "1:0", "s:t", "s:1", ""},
         9,
         false},
        {ZDEX_REPLICA_SNAPSHOT_SLOT,
         {"s:e", "4:2", "4:1", "1:4", "4:0", "1:0", "", "s:1", ""},
         9,
         false},
        {ZDEX_REPLICA_SNAPSHOT_SLOT,
         {"s:e", "4:2", "4:1", "1:4", "4:0", "1:0", "", "", "s:k"},
         9,
         false},
        {ZDEX_REPLICA_SNAPSHOT_SLOT,
         {"s:e", "4:2", "4:1", "1:1", "4:0", "1:0", "", "s:1", ""},
         9,
         false},
        {ZDEX_REPLICA_SNAPSHOT_END, {"s:e", "4:2", "8:4", "s:f", "4:1", "8:4294967296"}, 6, true},
        {ZDEX_REPLICA_SNAPSHOT_END, {"s:e", "4:2", "8:4294967297"}, 3, false},
        {ZDEX_REPLICA_SNAPSHOT_END, {"s:e", "4:0", "8:4"}, 3, false},
        {ZDEX_REPLICA_SNAPSHOT_END, {"s:e", "4:2"}, 2, false},
        {ZDEX_REPLICA_SNAPSHOT_END, {"s:e", "4:2", "4:4"}, 3, false},
        {ZDEX_REPLICA_ACK, {"s:member"}, 1, true},
        {ZDEX_REPLICA_ACK, {""}, 1, false},
        {ZDEX_REPLICA_ACK, {"S:member"}, 1, false},
        {ZDEX_REPLICA_FETCH, {"8:7"}, 1, true},
        {ZDEX_REPLICA_FETCH, {"8:6"}, 1, false}, //  to < from (7)
        {ZDEX_REPLICA_FETCH, {"4:7"}, 1, false},
        {0, {""}, 0, false},
        {11, {""}, 0, false},
        {255, {""}, 0, false},
    };
    for (size_t index = 0; index < sizeof cases / sizeof cases[0]; index++) {
        const t_case_t *test = &cases[index];
        zmsg_t *msg = s_craft (3, 1, test->op, 7, test->frames, test->count);
        zdex_replica_msg_t out;
        int rc = zdex_replica_decode (msg, &out);
        if (rc != (test->valid ? 0 : -1))
            fail_msg ("case %zu: decode gave %d", index, rc);
        if (rc == 0)
            s_assert_canonical (msg);
        else
            assert_int_equal (out.op, 0); //  zeroed
        zdex_replica_msg_reset (&out);
        zmsg_destroy (&msg);
    }
    //  A NUL inside a string, a string without its NUL
    const char *dispose[] = {"s:e", "4:3"};
    zmsg_t *msg = s_craft (3, 1, ZDEX_REPLICA_DISPOSE, 7, dispose, 2);
    zframe_t *frame = zmsg_first (msg);
    frame = zmsg_next (msg);
    frame = zmsg_next (msg);
    zframe_reset (frame, "e\0x", 4);
    zdex_replica_msg_t out;
    assert_int_equal (zdex_replica_decode (msg, &out), -1);
    zframe_reset (frame, "ex", 2);
    assert_int_equal (zdex_replica_decode (msg, &out), -1);
    zframe_reset (frame, "ex", 3);
    assert_int_equal (zdex_replica_decode (msg, &out), 0);
    //  Topic and header
    frame = zmsg_first (msg);
    zframe_reset (frame, "X\0\0\0\3", 5);
    assert_int_equal (zdex_replica_decode (msg, &out), -1);
    zframe_reset (frame, "R\0\0\3", 4);
    assert_int_equal (zdex_replica_decode (msg, &out), -1);
    zframe_reset (frame, "R\0\0\0\3", 5);
    frame = zmsg_next (msg);
    byte header[19] = {1, ZDEX_REPLICA_DISPOSE};
    zframe_reset (frame, header, 17);
    assert_int_equal (zdex_replica_decode (msg, &out), -1);
    zframe_reset (frame, header, 19);
    assert_int_equal (zdex_replica_decode (msg, &out), -1);
    header[0] = 2;
    zframe_reset (frame, header, 18);
    assert_int_equal (zdex_replica_decode (msg, &out), -1);
    header[0] = 1;
    zframe_reset (frame, header, 18);
    assert_int_equal (zdex_replica_decode (msg, &out), 0);
    zmsg_destroy (&msg);
    //  Too few frames for anything
    msg = zmsg_new ();
    assert_int_equal (zdex_replica_decode (msg, &out), -1);
    zmsg_addmem (msg, "R\0\0\0\0", 5);
    assert_int_equal (zdex_replica_decode (msg, &out), -1);
    zmsg_destroy (&msg);
}

//  A valid message of a random op, with random contents.
static void
s_random_fill (zdex_replica_msg_t *msg, uint64_t *random)
{
    static const char *names[] = {"alpha", "beta", "gamma"};
    static const char *keys[] = {"key", "other", NULL, NULL};
    static zdex_replica_next_t nexts[] = {{"alpha", 3, 9}, {"beta", 5, 1}};
    memset (msg, 0, sizeof (*msg));
    msg->op = (zdex_replica_op_t) (1 + s_random (random) % 10);
    msg->partition = (uint32_t) (s_random (random) % 3);
    msg->epoch = 1 + s_random (random) % 3;
    msg->seq = s_random (random) % 20;
    msg->executor = names[s_random (random) % 3];
    msg->capacity = 1 + (uint32_t) (s_random (random) % 8);
    msg->slot.sequence = (uint32_t) (s_random (random) % 40);
    msg->slot.attempt = (uint32_t) (s_random (random) % 4);
    msg->slot.discard_result = s_random (random) % 2;
    msg->slot.type = "t";
    msg->slot.data = "{\"v\":\"\xc3\xa9\"}";
    msg->slot.idempotency_key = keys[s_random (random) % 4];
    msg->slot.state = (zdex_ring_state_t) (1 + s_random (random) % 4);
    if (msg->op == ZDEX_REPLICA_RESULT)
        msg->slot.state = s_random (random) % 2 ? ZDEX_RING_DONE_OK : ZDEX_RING_FAILED;
    msg->member = "member";
    msg->nexts = nexts;
    msg->next_count = s_random (random) % 3;
    msg->to_seq = msg->seq + s_random (random) % 5;
}

static zmsg_t *
s_random_valid (uint64_t *random)
{
    zdex_replica_msg_t msg;
    s_random_fill (&msg, random);
    return s_encode (&msg);
}

//  A corruption the decoder must catch.  Returns a description for failures.
static const char *
s_corrupt (zmsg_t *msg, uint64_t *random)
{
    size_t frames = zmsg_size (msg);
    size_t target = (size_t) (s_random (random) % frames);
    zframe_t *frame = zmsg_first (msg);
    for (size_t index = 0; index < target; index++)
        frame = zmsg_next (msg);
    size_t size = zframe_size (frame);
    byte buffer[64];
    switch (s_random (random) % 6) {
    case 0: //  one frame too many
        zmsg_addmem (msg, "x", 1);
        return "extra frame";
    case 1: //  one frame too few (SNAPSHOT_END takes 3 at a time)
        frame = zmsg_last (msg);
        zmsg_remove (msg, frame);
        zframe_destroy (&frame);
        return "missing frame";
    case 2: //  the header's version or op
        frame = zmsg_first (msg);
        frame = zmsg_next (msg);
        memcpy (buffer, zframe_data (frame), 18);
        if (s_random (random) % 2)
            buffer[0] = (byte) (2 + s_random (random) % 254);
        else
            buffer[1] = (byte) (11 + s_random (random) % 245);
        zframe_reset (frame, buffer, 18);
        return "header";
    case 3: //  a frame one byte longer or shorter than a fixed-size one / its string form
        if (target < 2 || size > sizeof buffer - 1) {
            frame = zmsg_first (msg);
            zframe_reset (frame, "R\0\0\0", 4);
            return "short topic";
        }
        memcpy (buffer, zframe_data (frame), size);
        buffer[size] = size ? buffer[size - 1] : 'x';
        if (size && s_random (random) % 2) {
            zframe_reset (frame, buffer, size - 1);
            return size == 1 ? "emptied frame" : "shortened frame";
        }
        //  Growing a NUL-terminated string puts a NUL inside it
        zframe_reset (frame, buffer, size + 1);
        return "lengthened frame";
    case 4: //  the topic's 'R'
        frame = zmsg_first (msg);
        memcpy (buffer, zframe_data (frame), 5);
        buffer[0] = (byte) ('R' + 1 + s_random (random) % 200);
        zframe_reset (frame, buffer, 5);
        return "topic";
    default: //  an invalid UTF-8 byte into the first string (executor or member)
        frame = zmsg_first (msg);
        frame = zmsg_next (msg);
        byte op = zframe_data (frame)[1];
        frame = zmsg_next (msg);
        if (!frame || op == ZDEX_REPLICA_FETCH) {
            zmsg_addmem (msg, "x", 1);
            return "extra frame (no string)";
        }
        size = zframe_size (frame);
        if (size > sizeof buffer)
            size = sizeof buffer;
        memcpy (buffer, zframe_data (frame), size);
        buffer[s_random (random) % (size - 1)] = (byte) (0xF8 + s_random (random) % 8);
        zframe_reset (frame, buffer, size);
        return "bad UTF-8";
    }
}

static void
test_decode_fuzz (void **state)
{
    (void) state;
    uint64_t random = s_seed ();
    zdex_replica_t *replica = zdex_replica_new (1);
    //  1,000 valid messages with one corruption each: all rejected
    int rejected = 0;
    for (int round = 0; round < 1000; round++) {
        zmsg_t *msg = s_random_valid (&random);
        s_assert_canonical (msg);
        const char *what = s_corrupt (msg, &random);
        zdex_replica_msg_t out;
        if (zdex_replica_decode (msg, &out) == 0)
            fail_msg ("round %d: decoded after %s (op %s)", round, what,
                      zdex_replica_op_name (out.op));
        rejected++;
        zmsg_destroy (&msg);
    }
    assert_int_equal (rejected, 1000);
    //  1,000 messages of random frames: no crash; what decodes is canonical and
    //  applies without harm
    int decoded = 0;
    for (int round = 0; round < 1000; round++) {
        zmsg_t *msg = zmsg_new ();
        size_t frames = s_random (&random) % 13;
        for (size_t index = 0; index < frames; index++) {
            byte buffer[24];
            size_t size = (size_t) (s_random (&random) % sizeof buffer);
            //  Mostly plausible: the right topic and header, small integers
            if (index == 0 && s_random (&random) % 4) {
                zdex_replica_topic (1, buffer);
                size = 5;
            } else if (index == 1 && s_random (&random) % 4) {
                memset (buffer, 0, 18);
                buffer[0] = 1;
                buffer[1] = (byte) (s_random (&random) % 12);
                buffer[9] = (byte) (s_random (&random) % 3);
                buffer[17] = (byte) (s_random (&random) % 4);
                size = 18;
            } else
                for (size_t at = 0; at < size; at++)
                    buffer[at] = (byte) (s_random (&random) % 4 ? s_random (&random) % 4
                                                                : s_random (&random));
            zmsg_addmem (msg, buffer, size);
        }
        zdex_replica_msg_t out;
        if (zdex_replica_decode (msg, &out) == 0) {
            decoded++;
            s_assert_canonical (msg);
            //  Capacities come from the primary's configuration; a random one
            //  would only test how much memory the machine has
            bool big = out.capacity > 1024;
            for (size_t line = 0; line < out.next_count; line++)
                big |= out.nexts[line].capacity > 1024;
            if (!big)
                zdex_replica_apply (replica, &out);
            zdex_replica_msg_reset (&out);
        }
        zmsg_destroy (&msg);
    }
    //  10,000 valid messages of random ops and contents: whatever apply answers,
    //  only APPLIED and DIVERGED may change the replica's position
    int results[ZDEX_REPLICA_IGNORED + 1] = {0};
    for (int round = 0; round < 10000; round++) {
        //  Mostly for this replica, near its epoch and seq, mostly mutations
        zdex_replica_msg_t fill;
        s_random_fill (&fill, &random);
        if (s_random (&random) % 10)
            fill.partition = 1;
        uint64_t roll = s_random (&random) % 100;
        fill.epoch = zdex_replica_epoch (replica) + (roll < 3 ? 1 : 0);
        if (roll >= 3 && roll < 6 && fill.epoch > 0)
            fill.epoch--;
        fill.seq = zdex_replica_applied (replica) + s_random (&random) % 3;
        fill.to_seq = fill.seq;
        if (fill.op >= ZDEX_REPLICA_SNAPSHOT_BEGIN && s_random (&random) % 2)
            fill.op = (zdex_replica_op_t) (1 + s_random (&random) % 4);
        if (fill.op == ZDEX_REPLICA_RESULT)
            fill.slot.state = s_random (&random) % 2 ? ZDEX_RING_DONE_OK : ZDEX_RING_FAILED;
        zmsg_t *msg = s_encode (&fill);
        zdex_replica_msg_t out;
        assert_int_equal (zdex_replica_decode (msg, &out), 0);
        zdex_replica_state_t before = zdex_replica_state (replica);
        uint64_t epoch = zdex_replica_epoch (replica);
        uint64_t applied = zdex_replica_applied (replica);
        zdex_replica_result_t result = zdex_replica_apply (replica, &out);
        results[result]++;
        if (result != ZDEX_REPLICA_APPLIED && result != ZDEX_REPLICA_DIVERGED) {
            assert_int_equal (zdex_replica_state (replica), before);
            assert_true (zdex_replica_epoch (replica) == epoch);
            assert_true (zdex_replica_applied (replica) == applied);
        }
        assert_true (zdex_replica_epoch (replica) >= epoch);
        zdex_replica_msg_reset (&out);
        zmsg_destroy (&msg);
    }
    printf ("    fuzz: 1000 corrupted messages rejected; %d of 1000 random ones decoded\n",
            decoded);
    printf ("    fuzz: 10000 random valid messages applied:");
    for (int result = 0; result <= ZDEX_REPLICA_IGNORED; result++)
        printf (" %s %d", zdex_replica_result_name ((zdex_replica_result_t) result),
                results[result]);
    printf ("\n");
    assert_true (results[ZDEX_REPLICA_APPLIED] > 0);
    zdex_replica_destroy (&replica);
}

//  ---------------------------------------------------------------------------
//  Primary-side helpers

static void
s_mutation (zdex_replica_msg_t *msg, const char *executor, uint32_t sequence)
{
    memset (msg, 0, sizeof (*msg));
    msg->op = ZDEX_REPLICA_DISPOSE;
    msg->executor = executor;
    msg->slot.sequence = sequence;
}

static uint64_t
s_seq_of (zmsg_t *msg)
{
    zdex_replica_msg_t out;
    assert_int_equal (zdex_replica_decode (msg, &out), 0);
    uint64_t seq = out.seq;
    zdex_replica_msg_reset (&out);
    return seq;
}

static void
test_log (void **state)
{
    (void) state;
    zdex_replica_log_t *log = zdex_replica_log_new (7, 5, 0);
    assert_int_equal (zdex_replica_log_size (log), 0);
    assert_true (zdex_replica_log_last (log) == 0);
    zdex_replica_log_reset (log, 4, 100);
    assert_true (zdex_replica_log_epoch (log) == 4);
    zdex_replica_msg_t msg;
    //  Nothing recorded: up to date at 101, a snapshot for anything before
    zlistx_t *list = zdex_replica_log_fetch (log, 4, 101, 200);
    assert_non_null (list);
    assert_int_equal (zlistx_size (list), 0);
    zlistx_destroy (&list);
    assert_null (zdex_replica_log_fetch (log, 4, 100, 200));
    for (uint32_t index = 0; index < 8; index++) {
        s_mutation (&msg, "e", index);
        zmsg_t *copy = zdex_replica_log_record (log, &msg);
        assert_non_null (copy);
        assert_true (msg.seq == 101 + index);
        assert_int_equal (msg.partition, 7);
        assert_true (msg.epoch == 4);
        assert_true (s_seq_of (copy) == 101 + index);
        zmsg_destroy (&copy);
    }
    assert_true (zdex_replica_log_last (log) == 108);
    assert_int_equal (zdex_replica_log_size (log), 5); //  104..108
    //  Not encodable: nothing recorded
    s_mutation (&msg, "", 1);
    assert_null (zdex_replica_log_record (log, &msg));
    assert_true (zdex_replica_log_last (log) == 108);

    list = zdex_replica_log_fetch (log, 4, 104, 106);
    assert_non_null (list);
    assert_int_equal (zlistx_size (list), 3);
    for (uint64_t seq = 104; seq <= 106; seq++) {
        zmsg_t *first = (zmsg_t *) zlistx_detach (list, NULL);
        assert_true (s_seq_of (first) == seq);
        zmsg_destroy (&first);
    }
    zlistx_destroy (&list);
    list = zdex_replica_log_fetch (log, 4, 107, UINT64_MAX); //  to beyond last
    assert_int_equal (zlistx_size (list), 2);
    zlistx_destroy (&list);                           //  destroys the messages left in it
    list = zdex_replica_log_fetch (log, 4, 109, 109); //  up to date
    assert_int_equal (zlistx_size (list), 0);
    zlistx_destroy (&list);
    list = zdex_replica_log_fetch (log, 4, 105, 104); //  empty range
    assert_int_equal (zlistx_size (list), 0);
    zlistx_destroy (&list);
    assert_null (zdex_replica_log_fetch (log, 4, 103, 108)); //  dropped
    assert_null (zdex_replica_log_fetch (log, 3, 105, 108)); //  another epoch
    assert_null (zdex_replica_log_fetch (log, 5, 105, 108));
    assert_null (zdex_replica_log_fetch (log, 4, 0, 108));   //  asks for a snapshot
    assert_null (zdex_replica_log_fetch (log, 4, 110, 120)); //  ahead of us

    zmsg_t *head = zdex_replica_log_head (log);
    zdex_replica_msg_t out;
    assert_int_equal (zdex_replica_decode (head, &out), 0);
    assert_int_equal (out.op, ZDEX_REPLICA_HEAD);
    assert_true (out.seq == 108 && out.epoch == 4 && out.partition == 7);
    zmsg_destroy (&head);

    //  A new epoch drops the backlog
    zdex_replica_log_reset (log, 5, 108);
    assert_int_equal (zdex_replica_log_size (log), 0);
    assert_null (zdex_replica_log_fetch (log, 5, 108, 108));
    zdex_replica_log_destroy (&log);
    assert_null (log);
    zdex_replica_log_destroy (&log);

    //  A byte limit; and no backlog at all
    s_mutation (&msg, "e", 0);
    zmsg_t *probe = s_encode (&msg);
    size_t size = zmsg_content_size (probe);
    zmsg_destroy (&probe);
    log = zdex_replica_log_new (7, 1000, 3 * size);
    for (int index = 0; index < 50; index++) {
        s_mutation (&msg, "e", 0);
        zmsg_t *copy = zdex_replica_log_record (log, &msg);
        zmsg_destroy (&copy);
    }
    assert_int_equal (zdex_replica_log_size (log), 3);
    list = zdex_replica_log_fetch (log, 0, 48, 50);
    assert_int_equal (zlistx_size (list), 3);
    zlistx_destroy (&list);
    zdex_replica_log_destroy (&log);
    log = zdex_replica_log_new (7, 0, 0);
    zmsg_t *copy = zdex_replica_log_record (log, &msg);
    assert_non_null (copy);
    zmsg_destroy (&copy);
    assert_int_equal (zdex_replica_log_size (log), 0);
    assert_null (zdex_replica_log_fetch (log, 0, 1, 1));
    zdex_replica_log_destroy (&log);
}

static void
test_acks (void **state)
{
    (void) state;
    zdex_replica_acks_t *acks = zdex_replica_acks_new (3);
    assert_true (zdex_replica_acks_durable (acks, 0) == UINT64_MAX);
    assert_true (zdex_replica_acks_durable (acks, 1) == 0);
    assert_int_equal (zdex_replica_acks_update (acks, "b", 3, 5), -1); //  not a backup
    const char *backups[] = {"b", "c", "d"};
    assert_int_equal (zdex_replica_acks_set_backups (acks, backups, 3), 0);
    assert_int_equal (zdex_replica_acks_update (acks, "b", 3, 5), 1);
    assert_int_equal (zdex_replica_acks_update (acks, "b", 3, 5), 0); //  repeated
    assert_int_equal (zdex_replica_acks_update (acks, "b", 3, 4), 0); //  never backwards
    assert_true (zdex_replica_acks_acked (acks, "b") == 5);
    assert_int_equal (zdex_replica_acks_update (acks, "c", 2, 9), -1); //  old epoch
    assert_int_equal (zdex_replica_acks_update (acks, "c", 4, 9), -1); //  future epoch
    assert_true (zdex_replica_acks_acked (acks, "c") == 0);
    //  A first ack of seq 0 is news: the backup holds the partition (moves wait for it).
    assert_false (zdex_replica_acks_heard (acks, "c"));
    assert_int_equal (zdex_replica_acks_update (acks, "c", 3, 0), 1);
    assert_true (zdex_replica_acks_heard (acks, "c"));
    assert_int_equal (zdex_replica_acks_update (acks, "c", 3, 0), 0);
    assert_int_equal (zdex_replica_acks_update (acks, "c", 3, 9), 1);
    assert_int_equal (zdex_replica_acks_update (acks, "d", 3, 2), 1);
    //  Acks 5, 9, 2: durable for 1 backup = 9, for 2 = 5, for 3 = 2, for 4 = never
    assert_true (zdex_replica_acks_durable (acks, 1) == 9);
    assert_true (zdex_replica_acks_durable (acks, 2) == 5);
    assert_true (zdex_replica_acks_durable (acks, 3) == 2);
    assert_true (zdex_replica_acks_durable (acks, 4) == 0);
    assert_true (zdex_replica_acks_durable (acks, -1) == UINT64_MAX);
    //  Equal acks count together
    assert_int_equal (zdex_replica_acks_update (acks, "d", 3, 9), 1);
    assert_true (zdex_replica_acks_durable (acks, 2) == 9);
    //  c leaves: its ack no longer counts; e joins at 0
    const char *changed[] = {"e", "b", "d"};
    assert_int_equal (zdex_replica_acks_set_backups (acks, changed, 3), 0);
    assert_true (zdex_replica_acks_acked (acks, "b") == 5);
    assert_true (zdex_replica_acks_acked (acks, "c") == 0);
    assert_int_equal (zdex_replica_acks_update (acks, "c", 3, 20), -1);
    assert_true (zdex_replica_acks_durable (acks, 1) == 9);
    assert_true (zdex_replica_acks_durable (acks, 2) == 5);
    assert_true (zdex_replica_acks_durable (acks, 3) == 0);
    //  Refused lists change nothing
    const char *duplicate[] = {"b", "b"};
    assert_int_equal (zdex_replica_acks_set_backups (acks, duplicate, 2), -1);
    const char *empty[] = {"b", ""};
    assert_int_equal (zdex_replica_acks_set_backups (acks, empty, 2), -1);
    assert_true (zdex_replica_acks_durable (acks, 2) == 5);
    //  A new epoch starts every backup over
    zdex_replica_acks_reset (acks, 4);
    assert_true (zdex_replica_acks_durable (acks, 1) == 0);
    assert_false (zdex_replica_acks_heard (acks, "b"));
    assert_int_equal (zdex_replica_acks_update (acks, "b", 3, 50), -1);
    assert_int_equal (zdex_replica_acks_update (acks, "b", 4, 1), 1);
    assert_true (zdex_replica_acks_durable (acks, 1) == 1);
    assert_int_equal (zdex_replica_acks_set_backups (acks, NULL, 0), 0);
    assert_true (zdex_replica_acks_durable (acks, 1) == 0);
    assert_true (zdex_replica_acks_durable (acks, 0) == UINT64_MAX);
    zdex_replica_acks_destroy (&acks);
    assert_null (acks);
    zdex_replica_acks_destroy (&acks);
}

//  A ring whose every task was a durable.execute holds no slot but has used
//  sequences: the snapshot still names it, so a promoted copy never reissues them.
static void
test_snapshot_of_emptied_ring (void **state)
{
    (void) state;
    zdex_ring_t *ring = zdex_ring_new (2);
    uint32_t sequence;
    assert_int_equal (zdex_ring_add (ring, "t", s_dup ("1"), NULL, true, &sequence), 0);
    assert_int_equal (zdex_ring_complete (ring, sequence, true, s_dup ("2")), 0);
    zdex_ring_t *other = zdex_ring_new (3);
    assert_int_equal (zdex_ring_add (other, "t", s_dup ("1"), "k", false, &sequence), 0);
    zhashx_t *rings = zhashx_new ();
    zhashx_insert (rings, "executed", ring);
    zhashx_insert (rings, "kept", other);
    zlistx_t *snapshot = zdex_replica_snapshot (9, 3, 40, rings, NULL);
    assert_non_null (snapshot);
    assert_int_equal (zlistx_size (snapshot), 3); //  BEGIN, one SLOT, END
    zdex_replica_t *replica = zdex_replica_new (9);
    zmsg_t *msg;
    while ((msg = (zmsg_t *) zlistx_detach (snapshot, NULL))) {
        s_assert_canonical (msg);
        zdex_replica_msg_t out;
        assert_int_equal (zdex_replica_decode (msg, &out), 0);
        assert_int_equal (zdex_replica_apply (replica, &out), ZDEX_REPLICA_APPLIED);
        zdex_replica_msg_reset (&out);
        zmsg_destroy (&msg);
    }
    zlistx_destroy (&snapshot);
    assert_true (zdex_replica_applied (replica) == 40);
    zdex_ring_t *copy = zdex_replica_ring (replica, "executed");
    assert_non_null (copy);
    assert_int_equal (zdex_ring_capacity (copy), 2);
    assert_true (zdex_ring_next_sequence (copy) == 1);
    copy = zdex_replica_ring (replica, "kept");
    assert_int_equal (zdex_ring_lookup (copy, 0, NULL), ZDEX_RING_PENDING);
    assert_int_equal (zdex_ring_find_idempotent (copy, "k", &sequence), 0);
    assert_int_equal (sequence, 0);
    //  A name that does not encode spoils the whole snapshot
    zhashx_insert (rings, "", ring);
    assert_null (zdex_replica_snapshot (9, 3, 40, rings, NULL));
    zhashx_destroy (&rings);
    zdex_replica_destroy (&replica);
    zdex_ring_destroy (&ring);
    zdex_ring_destroy (&other);
}

//  ---------------------------------------------------------------------------
//  Backup state machine, message by message

static zdex_replica_result_t
s_apply_msg (zdex_replica_t *replica, zdex_replica_msg_t *msg)
{
    //  Through the codec, as on the wire
    zmsg_t *encoded = s_encode (msg);
    zdex_replica_msg_t decoded;
    assert_int_equal (zdex_replica_decode (encoded, &decoded), 0);
    zdex_replica_result_t result = zdex_replica_apply (replica, &decoded);
    zdex_replica_msg_reset (&decoded);
    zmsg_destroy (&encoded);
    return result;
}

static zdex_replica_msg_t
s_add_msg (uint64_t epoch, uint64_t seq, const char *executor, uint32_t capacity, uint32_t sequence,
           const char *key)
{
    zdex_replica_msg_t msg = {.op = ZDEX_REPLICA_ADD,
                              .partition = 2,
                              .epoch = epoch,
                              .seq = seq,
                              .executor = executor,
                              .capacity = capacity};
    msg.slot.sequence = sequence;
    msg.slot.type = "t";
    msg.slot.data = "[1]";
    msg.slot.idempotency_key = key;
    return msg;
}

//  Promoted in the middle of a resync (a second owner died while this backup was
//  taking its snapshot): the last complete state is handed over, not the part.
static void
test_promoted_while_resyncing (void **state)
{
    (void) state;
    zdex_replica_t *replica = zdex_replica_new (2);
    zdex_replica_msg_t begin = {
        .op = ZDEX_REPLICA_SNAPSHOT_BEGIN, .partition = 2, .epoch = 5, .seq = 3};
    zdex_replica_msg_t slot = {.op = ZDEX_REPLICA_SNAPSHOT_SLOT,
                               .partition = 2,
                               .epoch = 5,
                               .seq = 3,
                               .executor = "e",
                               .capacity = 4,
                               .slot = {.state = ZDEX_RING_DONE_OK, .sequence = 1, .data = "7"}};
    zdex_replica_next_t nexts[] = {{"e", 4, 2}};
    zdex_replica_msg_t end = {.op = ZDEX_REPLICA_SNAPSHOT_END,
                              .partition = 2,
                              .epoch = 5,
                              .seq = 3,
                              .nexts = nexts,
                              .next_count = 1};
    assert_int_equal (s_apply_msg (replica, &begin), ZDEX_REPLICA_APPLIED);
    assert_int_equal (s_apply_msg (replica, &slot), ZDEX_REPLICA_APPLIED);
    assert_int_equal (s_apply_msg (replica, &end), ZDEX_REPLICA_APPLIED);
    assert_int_equal (zdex_replica_state (replica), ZDEX_REPLICA_STATE_LIVE);
    //  A new owner (epoch 6) starts a snapshot that never finishes.
    begin.epoch = 6;
    begin.seq = 1;
    assert_int_equal (s_apply_msg (replica, &begin), ZDEX_REPLICA_APPLIED);
    assert_int_equal (zdex_replica_state (replica), ZDEX_REPLICA_STATE_SYNCING);
    zhashx_t *rings = zdex_replica_take_rings (replica);
    zdex_ring_t *ring = (zdex_ring_t *) zhashx_lookup (rings, "e");
    assert_non_null (ring);
    zdex_ring_slot_t found;
    assert_int_equal (zdex_ring_lookup (ring, 1, &found), ZDEX_RING_DONE_OK);
    assert_string_equal (found.data, "7");
    zdex_ring_destroy (&ring);
    zhashx_destroy (&rings);
    zdex_replica_destroy (&replica);
}

static void
test_replica_states (void **state)
{
    (void) state;
    zdex_replica_t *replica = zdex_replica_new (2);
    assert_int_equal (zdex_replica_partition (replica), 2);
    assert_int_equal (zdex_replica_state (replica), ZDEX_REPLICA_STATE_INITIAL);
    assert_true (zdex_replica_epoch (replica) == 0);
    assert_true (zdex_replica_applied (replica) == 0);

    //  INITIAL applies no stream message, even seq 1
    zdex_replica_msg_t msg = s_add_msg (5, 1, "e", 4, 0, NULL);
    assert_int_equal (s_apply_msg (replica, &msg), ZDEX_REPLICA_NEW_EPOCH);
    zdex_replica_msg_t head = {.op = ZDEX_REPLICA_HEAD, .partition = 2, .epoch = 5, .seq = 1};
    assert_int_equal (s_apply_msg (replica, &head), ZDEX_REPLICA_NEW_EPOCH);
    //  Not ours
    zdex_replica_msg_t other = s_add_msg (5, 1, "e", 4, 0, NULL);
    other.partition = 3;
    assert_int_equal (s_apply_msg (replica, &other), ZDEX_REPLICA_IGNORED);
    zdex_replica_msg_t ack = {.op = ZDEX_REPLICA_ACK, .partition = 2, .epoch = 5, .member = "m"};
    assert_int_equal (s_apply_msg (replica, &ack), ZDEX_REPLICA_IGNORED);
    zdex_replica_msg_t fetch = {
        .op = ZDEX_REPLICA_FETCH, .partition = 2, .epoch = 5, .seq = 1, .to_seq = 2};
    assert_int_equal (s_apply_msg (replica, &fetch), ZDEX_REPLICA_IGNORED);
    //  A SLOT or END without BEGIN
    zdex_replica_msg_t slot = {.op = ZDEX_REPLICA_SNAPSHOT_SLOT,
                               .partition = 2,
                               .epoch = 5,
                               .seq = 10,
                               .executor = "e",
                               .capacity = 4,
                               .slot = {.state = ZDEX_RING_DONE_OK, .sequence = 6, .data = "1"}};
    assert_int_equal (s_apply_msg (replica, &slot), ZDEX_REPLICA_IGNORED);

    //  Snapshot at seq 10 of epoch 5
    zdex_replica_msg_t begin = {
        .op = ZDEX_REPLICA_SNAPSHOT_BEGIN, .partition = 2, .epoch = 5, .seq = 10};
    assert_int_equal (s_apply_msg (replica, &begin), ZDEX_REPLICA_APPLIED);
    assert_int_equal (zdex_replica_state (replica), ZDEX_REPLICA_STATE_SYNCING);
    assert_true (zdex_replica_epoch (replica) == 5);
    assert_int_equal (s_apply_msg (replica, &slot), ZDEX_REPLICA_APPLIED);
    //  Live traffic while syncing is not applied
    msg = s_add_msg (5, 11, "e", 4, 8, NULL);
    assert_int_equal (s_apply_msg (replica, &msg), ZDEX_REPLICA_SYNCING);
    head.seq = 11;
    assert_int_equal (s_apply_msg (replica, &head), ZDEX_REPLICA_SYNCING);
    //  Parts of another snapshot are ignored
    zdex_replica_msg_t stray = slot;
    stray.seq = 9;
    assert_int_equal (s_apply_msg (replica, &stray), ZDEX_REPLICA_IGNORED);
    zdex_replica_next_t nexts[] = {{"e", 4, 8}, {"empty", 2, 30}};
    zdex_replica_msg_t end = {.op = ZDEX_REPLICA_SNAPSHOT_END,
                              .partition = 2,
                              .epoch = 5,
                              .seq = 10,
                              .nexts = nexts,
                              .next_count = 2};
    assert_int_equal (s_apply_msg (replica, &end), ZDEX_REPLICA_APPLIED);
    assert_int_equal (zdex_replica_state (replica), ZDEX_REPLICA_STATE_LIVE);
    assert_true (zdex_replica_applied (replica) == 10);
    zdex_ring_t *ring = zdex_replica_ring (replica, "e");
    assert_non_null (ring);
    assert_true (zdex_ring_next_sequence (ring) == 8);
    assert_int_equal (zdex_ring_lookup (ring, 6, NULL), ZDEX_RING_DONE_OK);
    //  A ring with no slot left still keeps its sequences
    ring = zdex_replica_ring (replica, "empty");
    assert_non_null (ring);
    assert_int_equal (zdex_ring_capacity (ring), 2);
    assert_true (zdex_ring_next_sequence (ring) == 30);
    assert_null (zdex_replica_ring (replica, "none"));
    //  The same snapshot again: we are there already; its parts are ignored
    assert_int_equal (s_apply_msg (replica, &begin), ZDEX_REPLICA_DUPLICATE);
    assert_int_equal (s_apply_msg (replica, &slot), ZDEX_REPLICA_IGNORED);
    assert_int_equal (s_apply_msg (replica, &end), ZDEX_REPLICA_IGNORED);

    //  LIVE: in order, duplicates, gaps, HEAD
    assert_int_equal (s_apply_msg (replica, &msg), ZDEX_REPLICA_APPLIED);
    assert_true (zdex_replica_applied (replica) == 11);
    assert_int_equal (s_apply_msg (replica, &msg), ZDEX_REPLICA_DUPLICATE);
    head.seq = 11;
    assert_int_equal (s_apply_msg (replica, &head), ZDEX_REPLICA_DUPLICATE);
    head.seq = 12;
    assert_int_equal (s_apply_msg (replica, &head), ZDEX_REPLICA_GAP);
    zdex_replica_msg_t later = s_add_msg (5, 13, "e", 4, 9, NULL);
    assert_int_equal (s_apply_msg (replica, &later), ZDEX_REPLICA_GAP);
    assert_int_equal (zdex_ring_lookup (zdex_replica_ring (replica, "e"), 9, NULL),
                      ZDEX_RING_STALE);

    //  DIVERGED: nothing applied, applied stays
    zdex_replica_msg_t bad = s_add_msg (5, 12, "e", 8, 12, NULL); //  other capacity
    assert_int_equal (s_apply_msg (replica, &bad), ZDEX_REPLICA_DIVERGED);
    bad = s_add_msg (5, 12, "e", 4, 5, NULL); //  below next
    assert_int_equal (s_apply_msg (replica, &bad), ZDEX_REPLICA_DIVERGED);
    bad = (zdex_replica_msg_t){.op = ZDEX_REPLICA_RESULT,
                               .partition = 2,
                               .epoch = 5,
                               .seq = 12,
                               .executor = "e",
                               .slot = {.sequence = 6, .state = ZDEX_RING_DONE_OK, .data = "2"}};
    assert_int_equal (s_apply_msg (replica, &bad), ZDEX_REPLICA_DIVERGED); //  not a task
    bad.executor = "none";
    assert_int_equal (s_apply_msg (replica, &bad), ZDEX_REPLICA_DIVERGED);
    bad.op = ZDEX_REPLICA_DISPOSE;
    bad.executor = "e";
    bad.slot.sequence = 3; //  never issued
    assert_int_equal (s_apply_msg (replica, &bad), ZDEX_REPLICA_DIVERGED);
    bad.op = ZDEX_REPLICA_ATTEMPT;
    bad.slot.sequence = 6;
    assert_int_equal (s_apply_msg (replica, &bad), ZDEX_REPLICA_DIVERGED);
    //  An ADD whose key another task still holds
    zdex_replica_msg_t keyed = s_add_msg (5, 12, "e", 4, 9, "key");
    assert_true (zdex_replica_applied (replica) == 11);
    assert_int_equal (s_apply_msg (replica, &keyed), ZDEX_REPLICA_APPLIED);
    keyed = s_add_msg (5, 13, "e", 4, 10, "key"); //  key still held by 9
    assert_int_equal (s_apply_msg (replica, &keyed), ZDEX_REPLICA_DIVERGED);
    assert_true (zdex_replica_applied (replica) == 12);

    //  Epochs: older refused (even a snapshot), newer needs a snapshot
    zdex_replica_msg_t old = s_add_msg (4, 13, "e", 4, 9, NULL);
    assert_int_equal (s_apply_msg (replica, &old), ZDEX_REPLICA_STALE_EPOCH);
    zdex_replica_msg_t old_begin = begin;
    old_begin.epoch = 4;
    old_begin.seq = 100;
    assert_int_equal (s_apply_msg (replica, &old_begin), ZDEX_REPLICA_STALE_EPOCH);
    zdex_replica_msg_t newer = s_add_msg (6, 13, "e", 4, 9, NULL);
    assert_int_equal (s_apply_msg (replica, &newer), ZDEX_REPLICA_NEW_EPOCH);
    assert_int_equal (zdex_replica_state (replica), ZDEX_REPLICA_STATE_LIVE);
    assert_true (zdex_replica_applied (replica) == 12);

    //  A snapshot that contradicts itself is abandoned: INITIAL, nothing kept
    zdex_replica_msg_t begin6 = {
        .op = ZDEX_REPLICA_SNAPSHOT_BEGIN, .partition = 2, .epoch = 6, .seq = 3};
    assert_int_equal (s_apply_msg (replica, &begin6), ZDEX_REPLICA_APPLIED);
    assert_null (zdex_replica_ring (replica, "e"));
    zdex_replica_msg_t slot6 = slot;
    slot6.epoch = 6;
    slot6.seq = 3;
    assert_int_equal (s_apply_msg (replica, &slot6), ZDEX_REPLICA_APPLIED);
    slot6.capacity = 5; //  same executor, another capacity
    assert_int_equal (s_apply_msg (replica, &slot6), ZDEX_REPLICA_DIVERGED);
    assert_int_equal (zdex_replica_state (replica), ZDEX_REPLICA_STATE_INITIAL);
    assert_null (zdex_replica_ring (replica, "e"));
    assert_true (zdex_replica_epoch (replica) == 6);
    assert_int_equal (s_apply_msg (replica, &old), ZDEX_REPLICA_STALE_EPOCH);
    //  END below a slot's sequence
    assert_int_equal (s_apply_msg (replica, &begin6), ZDEX_REPLICA_APPLIED);
    slot6.capacity = 4;
    assert_int_equal (s_apply_msg (replica, &slot6), ZDEX_REPLICA_APPLIED);
    zdex_replica_next_t low[] = {{"e", 4, 6}};
    zdex_replica_msg_t end6 = {.op = ZDEX_REPLICA_SNAPSHOT_END,
                               .partition = 2,
                               .epoch = 6,
                               .seq = 3,
                               .nexts = low,
                               .next_count = 1};
    assert_int_equal (s_apply_msg (replica, &end6), ZDEX_REPLICA_DIVERGED);
    assert_int_equal (zdex_replica_state (replica), ZDEX_REPLICA_STATE_INITIAL);

    //  Promotion hands the rings over and leaves the replica empty
    assert_int_equal (s_apply_msg (replica, &begin6), ZDEX_REPLICA_APPLIED);
    assert_int_equal (s_apply_msg (replica, &slot6), ZDEX_REPLICA_APPLIED);
    low[0].next_sequence = 7;
    assert_int_equal (s_apply_msg (replica, &end6), ZDEX_REPLICA_APPLIED);
    zhashx_t *rings = zdex_replica_take_rings (replica);
    assert_int_equal (zhashx_size (rings), 1);
    ring = (zdex_ring_t *) zhashx_lookup (rings, "e");
    assert_non_null (ring);
    assert_true (zdex_ring_next_sequence (ring) == 7);
    zdex_ring_destroy (&ring);
    zhashx_destroy (&rings);
    assert_int_equal (zdex_replica_state (replica), ZDEX_REPLICA_STATE_INITIAL);
    assert_null (zdex_replica_ring (replica, "e"));
    assert_true (zdex_replica_epoch (replica) == 6);
    assert_string_equal (zdex_replica_result_name (ZDEX_REPLICA_NEW_EPOCH), "NEW_EPOCH");
    zdex_replica_destroy (&replica);
    assert_null (replica);
    zdex_replica_destroy (&replica);
}

//  ---------------------------------------------------------------------------
//  The model test: a primary's rings, its stream, a backup.

#define T_EXECUTORS 2
#define T_KEYS      16

static const char *s_executors[T_EXECUTORS] = {"alpha", "béta"};

typedef struct {
    uint32_t partition;
    zdex_ring_t *rings[T_EXECUTORS];
    zhashx_t *map; //  name → ring, for snapshots
    zdex_replica_log_t *log;
    uint64_t random;
    char keys[T_KEYS][48];
    int op; //  operations attempted so far
    //  Statistics
    int added, refused, retried, completed, disposed, attempts, messages;
} t_primary_t;

static void
s_primary_init (t_primary_t *primary, uint32_t partition, uint64_t epoch, size_t log_max)
{
    memset (primary, 0, sizeof (*primary));
    primary->partition = partition;
    primary->random = s_seed ();
    primary->map = zhashx_new ();
    static const uint32_t capacities[T_EXECUTORS] = {3, 8};
    for (int index = 0; index < T_EXECUTORS; index++) {
        primary->rings[index] = zdex_ring_new (capacities[index]);
        zhashx_insert (primary->map, s_executors[index], primary->rings[index]);
    }
    primary->log = zdex_replica_log_new (partition, log_max, 0);
    zdex_replica_log_reset (primary->log, epoch, 0);
    for (int key = 0; key < T_KEYS; key++)
        snprintf (primary->keys[key], sizeof primary->keys[key], "%s-%d", key % 3 ? "key" : "clé",
                  key);
}

static void
s_primary_destroy (t_primary_t *primary)
{
    for (int index = 0; index < T_EXECUTORS; index++)
        zdex_ring_destroy (&primary->rings[index]);
    zhashx_destroy (&primary->map);
    zdex_replica_log_destroy (&primary->log);
}

typedef struct {
    uint32_t sequences[16];
    int count;
} t_pending_t;

static void
s_collect_pending (const zdex_ring_slot_t *slot, void *arg)
{
    t_pending_t *pending = (t_pending_t *) arg;
    if (pending->count < 16)
        pending->sequences[pending->count++] = slot->sequence;
}

//  A sequence to act on: mostly a pending task, else a recent sequence.
static uint32_t
s_pick (t_primary_t *primary, zdex_ring_t *ring)
{
    if (s_random (&primary->random) % 10 < 6) {
        t_pending_t pending = {.count = 0};
        zdex_ring_foreach_pending (ring, s_collect_pending, &pending);
        if (pending.count)
            return pending.sequences[s_random (&primary->random) % (uint64_t) pending.count];
    }
    uint64_t next = zdex_ring_next_sequence (ring);
    uint64_t window = 2 * (uint64_t) zdex_ring_capacity (ring) + 2;
    uint64_t back = s_random (&primary->random) % window;
    return (uint32_t) (next > back ? next - back : 0);
}

//  One random operation on the primary.  Returns the message it published, or
//  NULL when the operation changed nothing.
static zmsg_t *
s_primary_step (t_primary_t *primary)
{
    uint64_t *random = &primary->random;
    int executor = (int) (s_random (random) % T_EXECUTORS);
    zdex_ring_t *ring = primary->rings[executor];
    zdex_replica_msg_t msg = {0};
    msg.executor = s_executors[executor];
    unsigned choice = (unsigned) (s_random (random) % 100);
    int op = primary->op++;
    if (choice < 36) {
        const char *key =
            s_random (random) % 10 < 4 ? primary->keys[s_random (random) % T_KEYS] : NULL;
        bool discard = s_random (random) % 100 < 15;
        uint32_t sequence;
        if (key && zdex_ring_find_idempotent (ring, key, &sequence) == 0) {
            primary->retried++; //  a retry: the original stands, nothing changes
            return NULL;
        }
        char payload[64];
        snprintf (payload, sizeof payload, "{\"op\":%d,\"s\":\"ü\"}", op);
        char type[8];
        snprintf (type, sizeof type, "t%d", (int) (s_random (random) % 3));
        if (zdex_ring_add (ring, type, s_dup (payload), key, discard, &sequence)) {
            primary->refused++;
            return NULL;
        }
        primary->added++;
        msg.op = ZDEX_REPLICA_ADD;
        msg.capacity = zdex_ring_capacity (ring);
        zdex_ring_lookup (ring, sequence, &msg.slot);
        return zdex_replica_log_record (primary->log, &msg);
    }
    uint32_t sequence = s_pick (primary, ring);
    msg.slot.sequence = sequence;
    if (choice < 66) {
        bool ok = s_random (random) % 4 != 0;
        char data[32];
        snprintf (data, sizeof data, ok ? "{\"r\":%d}" : "\"failure %d\"", op);
        if (zdex_ring_complete (ring, sequence, ok, s_dup (data)))
            return NULL;
        primary->completed++;
        msg.op = ZDEX_REPLICA_RESULT;
        msg.slot.state = ok ? ZDEX_RING_DONE_OK : ZDEX_RING_FAILED;
        msg.slot.data = data;
        return zdex_replica_log_record (primary->log, &msg);
    }
    if (choice < 80) {
        if (zdex_ring_dispose (ring, sequence, NULL))
            return NULL;
        primary->disposed++;
        msg.op = ZDEX_REPLICA_DISPOSE;
        return zdex_replica_log_record (primary->log, &msg);
    }
    uint32_t attempt = zdex_ring_next_attempt (ring, sequence);
    if (!attempt)
        return NULL;
    primary->attempts++;
    msg.op = ZDEX_REPLICA_ATTEMPT;
    msg.slot.attempt = attempt;
    return zdex_replica_log_record (primary->log, &msg);
}

typedef struct {
    uint32_t sequences[64];
    int count;
} t_order_t;

static void
s_collect (const zdex_ring_slot_t *slot, void *arg)
{
    t_order_t *order = (t_order_t *) arg;
    assert_true (order->count < 64);
    order->sequences[order->count++] = slot->sequence;
}

//  Slot for slot, every sequence ever issued, keys, in-flight and walk order.
static void
s_assert_converged (t_primary_t *primary, zdex_replica_t *replica)
{
    for (int executor = 0; executor < T_EXECUTORS; executor++) {
        zdex_ring_t *mine = primary->rings[executor];
        zdex_ring_t *copy = zdex_replica_ring (replica, s_executors[executor]);
        assert_non_null (copy);
        assert_int_equal (zdex_ring_capacity (copy), zdex_ring_capacity (mine));
        assert_int_equal (zdex_ring_in_flight (copy), zdex_ring_in_flight (mine));
        assert_true (zdex_ring_next_sequence (copy) == zdex_ring_next_sequence (mine));
        uint64_t next = zdex_ring_next_sequence (mine);
        for (uint64_t sequence = 0; sequence < next + 2; sequence++) {
            zdex_ring_slot_t a, b;
            zdex_ring_state_t state = zdex_ring_lookup (mine, (uint32_t) sequence, &a);
            assert_int_equal (zdex_ring_lookup (copy, (uint32_t) sequence, &b), state);
            assert_int_equal (a.state, b.state);
            assert_int_equal (a.sequence, b.sequence);
            assert_int_equal (a.attempt, b.attempt);
            assert_int_equal (a.discard_result, b.discard_result);
            s_assert_strings (a.type, b.type);
            s_assert_strings (a.data, b.data);
            s_assert_strings (a.idempotency_key, b.idempotency_key);
        }
        for (int key = 0; key < T_KEYS; key++) {
            uint32_t a = 0, b = 0;
            assert_int_equal (zdex_ring_find_idempotent (copy, primary->keys[key], &b),
                              zdex_ring_find_idempotent (mine, primary->keys[key], &a));
            assert_int_equal (a, b);
        }
        t_order_t left = {.count = 0}, right = {.count = 0};
        zdex_ring_foreach (mine, s_collect, &left);
        zdex_ring_foreach (copy, s_collect, &right);
        assert_int_equal (left.count, right.count);
        assert_memory_equal (left.sequences, right.sequences, left.count * sizeof (uint32_t));
    }
}

typedef struct {
    int applied, duplicates, gaps, fetched, snapshots, syncing, snapshot_messages;
} t_backup_stats_t;

static zdex_replica_result_t
s_deliver (zdex_replica_t *replica, zmsg_t *msg)
{
    zdex_replica_msg_t decoded;
    assert_int_equal (zdex_replica_decode (msg, &decoded), 0);
    zdex_replica_result_t result = zdex_replica_apply (replica, &decoded);
    zdex_replica_msg_reset (&decoded);
    return result;
}

//  Apply a list of messages (a FETCH answer or a snapshot), all of which must apply.
static void
s_deliver_all (zdex_replica_t *replica, zlistx_t *list, t_backup_stats_t *stats)
{
    zmsg_t *msg;
    while ((msg = (zmsg_t *) zlistx_detach (list, NULL))) {
        assert_int_equal (s_deliver (replica, msg), ZDEX_REPLICA_APPLIED);
        stats->fetched++;
        zmsg_destroy (&msg);
    }
}

static void
s_snapshot_into (t_primary_t *primary, zdex_replica_t *replica, t_backup_stats_t *stats)
{
    zlistx_t *snapshot =
        zdex_replica_snapshot (primary->partition, zdex_replica_log_epoch (primary->log),
                               zdex_replica_log_last (primary->log), primary->map, NULL);
    assert_non_null (snapshot);
    stats->snapshot_messages += (int) zlistx_size (snapshot);
    int fetched = stats->fetched;
    s_deliver_all (replica, snapshot, stats);
    stats->fetched = fetched;
    stats->snapshots++;
    zlistx_destroy (&snapshot);
    assert_int_equal (zdex_replica_state (replica), ZDEX_REPLICA_STATE_LIVE);
    assert_true (zdex_replica_applied (replica) == zdex_replica_log_last (primary->log));
}

//  What a backup's loop does with one message from the stream: apply, and on a gap
//  FETCH from the primary's log (or take a snapshot when the log cannot answer).
static void
s_backup_receive (t_primary_t *primary, zdex_replica_t *replica, zmsg_t *msg,
                  t_backup_stats_t *stats)
{
    zdex_replica_msg_t decoded;
    assert_int_equal (zdex_replica_decode (msg, &decoded), 0);
    zdex_replica_result_t result = zdex_replica_apply (replica, &decoded);
    uint64_t seq = decoded.seq;
    zdex_replica_msg_reset (&decoded);
    switch (result) {
    case ZDEX_REPLICA_APPLIED:
        stats->applied++;
        return;
    case ZDEX_REPLICA_DUPLICATE:
        stats->duplicates++;
        return;
    case ZDEX_REPLICA_SYNCING:
        stats->syncing++;
        return;
    case ZDEX_REPLICA_GAP: {
        stats->gaps++;
        zlistx_t *answer = zdex_replica_log_fetch (primary->log, zdex_replica_epoch (replica),
                                                   zdex_replica_applied (replica) + 1, seq);
        if (answer) {
            s_deliver_all (replica, answer, stats);
            zlistx_destroy (&answer);
        } else
            s_snapshot_into (primary, replica, stats);
        //  The message itself came with the answer
        assert_int_equal (s_deliver (replica, msg), ZDEX_REPLICA_DUPLICATE);
        return;
    }
    case ZDEX_REPLICA_NEW_EPOCH:
        s_snapshot_into (primary, replica, stats);
        return;
    default:
        fail_msg ("unexpected %s", zdex_replica_result_name (result));
    }
}

static void
s_catch_up (t_primary_t *primary, zdex_replica_t *replica, t_backup_stats_t *stats)
{
    zmsg_t *head = zdex_replica_log_head (primary->log);
    s_backup_receive (primary, replica, head, stats);
    zmsg_destroy (&head);
    assert_true (zdex_replica_applied (replica) == zdex_replica_log_last (primary->log));
}

static void
test_model (void **state)
{
    (void) state;
    const uint32_t partition = 42;
    const uint64_t epoch = 7;
    t_primary_t primary;
    s_primary_init (&primary, partition, epoch, 10000);
    zdex_replica_t *backup = zdex_replica_new (partition);
    t_backup_stats_t stats = {0};
    uint64_t *random = &primary.random;

    //  Phase 1: every message arrives; the backup starts with a snapshot (of two
    //  empty rings), as any new backup does
    s_catch_up (&primary, backup, &stats);
    assert_int_equal (stats.snapshots, 1);
    s_assert_converged (&primary, backup);
    int duplicates = 0;
    while (primary.op < 50000) {
        zmsg_t *msg = s_primary_step (&primary);
        if (msg) {
            primary.messages++;
            if (s_random (random) % 10 == 0)
                s_assert_canonical (msg);
            assert_int_equal (s_deliver (backup, msg), ZDEX_REPLICA_APPLIED);
            if (s_random (random) % 100 == 0) { //  a replay changes nothing
                assert_int_equal (s_deliver (backup, msg), ZDEX_REPLICA_DUPLICATE);
                duplicates++;
            }
            zmsg_destroy (&msg);
        }
        if (primary.op % 1000 == 0) {
            assert_true (zdex_replica_applied (backup) == zdex_replica_log_last (primary.log));
            s_assert_converged (&primary, backup);
        }
    }
    printf ("    phase 1: %d ops, %d messages: %d added (%d refused at capacity, %d retries), "
            "%d completed, %d disposed, %d attempts; %d duplicates ignored\n",
            primary.op, primary.messages, primary.added, primary.refused, primary.retried,
            primary.completed, primary.disposed, primary.attempts, duplicates);
    assert_true (primary.refused > 100);
    assert_true (zdex_ring_next_sequence (primary.rings[0]) > 10 * 3);

    //  Phase 2: 5% of the stream is lost; gaps are filled from the backlog
    int lost = 0;
    int start = primary.op;
    while (primary.op < start + 20000) {
        zmsg_t *msg = s_primary_step (&primary);
        if (msg) {
            if (s_random (random) % 100 < 5)
                lost++;
            else
                s_backup_receive (&primary, backup, msg, &stats);
            zmsg_destroy (&msg);
        }
        if (primary.op % 1000 == 0) {
            s_catch_up (&primary, backup, &stats); //  HEAD shows the tail loss
            s_assert_converged (&primary, backup);
        }
    }
    printf ("    phase 2: %d lost, %d gaps, %d messages fetched, %d snapshots\n", lost, stats.gaps,
            stats.fetched, stats.snapshots);
    assert_true (lost > 100 && stats.gaps > 50);
    assert_int_equal (stats.snapshots, 1);

    //  Phase 3: the backup misses more than the backlog holds → snapshot; the
    //  stream goes on while the snapshot is in flight
    for (int index = 0; index < 12000;) {
        zmsg_t *msg = s_primary_step (&primary);
        if (msg) {
            index++;
            zmsg_destroy (&msg);
        }
    }
    assert_int_equal (zdex_replica_log_size (primary.log), 10000);
    zlistx_t *snapshot = zdex_replica_snapshot (
        partition, epoch, zdex_replica_log_last (primary.log), primary.map, NULL);
    assert_non_null (snapshot);
    //  The backup, told of the gap, finds the backlog cannot answer
    zmsg_t *head = zdex_replica_log_head (primary.log);
    assert_int_equal (s_deliver (backup, head), ZDEX_REPLICA_GAP);
    zmsg_destroy (&head);
    assert_null (zdex_replica_log_fetch (primary.log, epoch, zdex_replica_applied (backup) + 1,
                                         zdex_replica_log_last (primary.log)));
    size_t parts = zlistx_size (snapshot);
    size_t delivered = 0;
    zmsg_t *part;
    while ((part = (zmsg_t *) zlistx_detach (snapshot, NULL))) {
        assert_int_equal (s_deliver (backup, part), ZDEX_REPLICA_APPLIED);
        zmsg_destroy (&part);
        //  Live traffic in the middle of the snapshot: not applied, not lost
        if (++delivered < parts)
            for (int step = 0; step < 3; step++) {
                zmsg_t *msg = s_primary_step (&primary);
                if (msg) {
                    assert_int_equal (s_deliver (backup, msg), ZDEX_REPLICA_SYNCING);
                    zmsg_destroy (&msg);
                }
            }
    }
    zlistx_destroy (&snapshot);
    assert_int_equal (zdex_replica_state (backup), ZDEX_REPLICA_STATE_LIVE);
    //  The changes made during the snapshot come with the next FETCH
    s_catch_up (&primary, backup, &stats);
    s_assert_converged (&primary, backup);
    printf ("    phase 3: snapshot of %zu messages, then a fetch of what happened meanwhile\n",
            parts);
    //  And the stream flows on
    for (int index = 0; index < 2000; index++) {
        zmsg_t *msg = s_primary_step (&primary);
        if (msg) {
            s_backup_receive (&primary, backup, msg, &stats);
            zmsg_destroy (&msg);
        }
    }
    s_catch_up (&primary, backup, &stats);
    s_assert_converged (&primary, backup);

    //  Phase 4: epochs.  An old primary's messages change nothing, whatever they
    //  are; a newer epoch's are not applied either
    uint64_t applied = zdex_replica_applied (backup);
    zmsg_t *next = NULL;
    while (!next)
        next = s_primary_step (&primary);
    zdex_replica_msg_t decoded;
    assert_int_equal (zdex_replica_decode (next, &decoded), 0);
    decoded.epoch = epoch - 1;
    assert_int_equal (zdex_replica_apply (backup, &decoded), ZDEX_REPLICA_STALE_EPOCH);
    zdex_replica_msg_t old_begin = {.op = ZDEX_REPLICA_SNAPSHOT_BEGIN,
                                    .partition = partition,
                                    .epoch = epoch - 1,
                                    .seq = applied + 100};
    assert_int_equal (zdex_replica_apply (backup, &old_begin), ZDEX_REPLICA_STALE_EPOCH);
    zdex_replica_msg_t old_head = {
        .op = ZDEX_REPLICA_HEAD, .partition = partition, .epoch = 1, .seq = applied + 100};
    assert_int_equal (zdex_replica_apply (backup, &old_head), ZDEX_REPLICA_STALE_EPOCH);
    decoded.epoch = epoch + 1;
    assert_int_equal (zdex_replica_apply (backup, &decoded), ZDEX_REPLICA_NEW_EPOCH);
    assert_true (zdex_replica_applied (backup) == applied);
    assert_int_equal (zdex_replica_state (backup), ZDEX_REPLICA_STATE_LIVE);
    decoded.epoch = epoch;
    assert_int_equal (zdex_replica_apply (backup, &decoded), ZDEX_REPLICA_APPLIED);
    zdex_replica_msg_reset (&decoded);
    zmsg_destroy (&next);
    s_assert_converged (&primary, backup);

    //  Phase 5: failover.  The backup is promoted at epoch + 1 with the primary's
    //  rings; a second backup, synced at the old epoch, resyncs from the new
    //  primary; the old primary, paused and resuming, changes nothing.
    zdex_replica_t *second = zdex_replica_new (partition);
    s_catch_up (&primary, second, &stats);
    s_assert_converged (&primary, second);
    zhashx_t *rings = zdex_replica_take_rings (backup);
    t_primary_t promoted;
    s_primary_init (&promoted, partition, epoch + 1, 10000);
    promoted.random = primary.random ^ 0x9e3779b97f4a7c15ULL;
    for (int index = 0; index < T_EXECUTORS; index++) {
        zdex_ring_destroy (&promoted.rings[index]);
        promoted.rings[index] = (zdex_ring_t *) zhashx_lookup (rings, s_executors[index]);
        assert_non_null (promoted.rings[index]);
        zhashx_update (promoted.map, s_executors[index], promoted.rings[index]);
    }
    assert_int_equal (zhashx_size (rings), T_EXECUTORS);
    zhashx_destroy (&rings);
    zdex_replica_log_reset (promoted.log, epoch + 1, zdex_replica_log_last (primary.log));
    //  Same keys, so that retries find their task
    memcpy (promoted.keys, primary.keys, sizeof promoted.keys);
    //  The promoted rings are exactly the old primary's
    zdex_replica_t *check = zdex_replica_new (partition);
    s_catch_up (&primary, check, &stats);
    for (int index = 0; index < T_EXECUTORS; index++) {
        zdex_ring_t *saved = primary.rings[index];
        primary.rings[index] = promoted.rings[index];
        s_assert_converged (&primary, check);
        primary.rings[index] = saved;
    }
    zdex_replica_destroy (&check);

    //  The old primary wakes up and goes on publishing: refused
    uint64_t second_applied = zdex_replica_applied (second);
    int old_messages = 0;
    for (int index = 0; index < 2000; index++) {
        zmsg_t *msg = s_primary_step (&promoted);
        if (msg) {
            zmsg_t *stale = s_primary_step (&primary);
            if (stale) {
                //  The second backup has the new epoch after its first resync
                zdex_replica_result_t result = s_deliver (second, stale);
                if (zdex_replica_epoch (second) > epoch)
                    assert_int_equal (result, ZDEX_REPLICA_STALE_EPOCH);
                old_messages++;
                zmsg_destroy (&stale);
            }
            s_backup_receive (&promoted, second, msg, &stats);
            zmsg_destroy (&msg);
        }
    }
    assert_true (zdex_replica_epoch (second) == epoch + 1);
    assert_true (zdex_replica_applied (second) > second_applied);
    s_catch_up (&promoted, second, &stats);
    s_assert_converged (&promoted, second);
    printf ("    phase 5: promoted at epoch %llu; the second backup resynced; %d messages "
            "of the old primary refused\n",
            (unsigned long long) (epoch + 1), old_messages);

    zdex_replica_destroy (&second);
    zdex_replica_destroy (&backup);
    s_primary_destroy (&promoted);
    s_primary_destroy (&primary);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_topic),
        cmocka_unit_test (test_roundtrip),
        cmocka_unit_test (test_encode_refuses),
        cmocka_unit_test (test_sched_records),
        cmocka_unit_test (test_log_trim),
        cmocka_unit_test (test_log_skip),
        cmocka_unit_test (test_decode_rejects),
        cmocka_unit_test (test_decode_fuzz),
        cmocka_unit_test (test_log),
        cmocka_unit_test (test_acks),
        cmocka_unit_test (test_snapshot_of_emptied_ring),
        cmocka_unit_test (test_replica_states),
        cmocka_unit_test (test_promoted_while_resyncing),
        cmocka_unit_test (test_model),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
