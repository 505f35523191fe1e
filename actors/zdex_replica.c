//  zdex_replica: how a partition's rings get from its primary to its backups.
//
//  The primary turns every ring change into one stream message
//  (zdex_replica_log_record), publishes it, and keeps the most recent ones in a
//  bounded backlog so that a backup that missed some can FETCH them.  A backup that
//  is new, too far behind the backlog, or on another epoch gets a snapshot instead:
//  BEGIN, one SLOT per live slot, END (Redis's +CONTINUE versus +FULLRESYNC).
//
//  Backup state machine (zdex_replica_t; the Clone client of the zguide, see
//  ../shared/reference/zeromq.md §1.11):
//
//      INITIAL --BEGIN--> SYNCING --SLOT...--> SYNCING --END--> LIVE
//      LIVE    seq == applied + 1: apply it, applied + 1
//              seq <= applied: DUPLICATE (replays are harmless)
//              seq >  applied + 1, or a HEAD beyond applied: GAP; the caller FETCHes
//              applied + 1 .. seq and applies the answer in order
//              a newer epoch: NEW_EPOCH; the caller asks for a snapshot (FETCH with
//              from_seq 0), whose BEGIN starts SYNCING again
//              a message that does not fit the rings: DIVERGED, also a snapshot
//      SYNCING a SLOT or END that does not fit: back to INITIAL (DIVERGED)
//      any     an older epoch: STALE_EPOCH, nothing changes (a paused old primary
//              must never change a backup)
//
//  The caller subscribes to the partition's topic before it asks for a snapshot,
//  and drops stream messages while SYNCING; after END, the next one (or the next
//  HEAD) shows the GAP between the snapshot's seq and the stream, which a FETCH
//  fills.  INITIAL holds nothing, so it applies no stream message at all: even
//  seq 1 of a new epoch would be applied on top of the rings the new primary
//  inherited.
//
//  A backup never runs add()'s walk over pinned slots: ADD carries the sequence the
//  primary chose and zdex_ring_install puts the task exactly there, so the copy
//  cannot drift by picking another slot.  RESULT, DISPOSE and ATTEMPT replay the
//  primary's own operation (complete also clears a durable.execute slot as the
//  primary did) and refuse, as DIVERGED, a message for a task the copy does not
//  hold: with every earlier seq applied that cannot happen unless the copy is
//  wrong, and then only a snapshot helps.
//
//  Acks are cumulative (everything up to seq is applied), per epoch, and count only
//  for the members the partition table names as backups, so a backup that left
//  cannot keep replies flowing.  durable(k) is the k-th highest ack: a client reply
//  held for a change with seq <= durable(k) can go; holding replies in seq order
//  lets one pass release them.

#include "zdex_replica.h"
#include "zdex_proto.h"
#include "zdex_hash_table.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#define S_HEADER_SIZE 18 //  version, op, epoch, seq

//  ---------------------------------------------------------------------------------
//  Bytes

static void
s_put_u32 (byte *out, uint32_t value)
{
    out[0] = (byte) (value >> 24);
    out[1] = (byte) (value >> 16);
    out[2] = (byte) (value >> 8);
    out[3] = (byte) value;
}

static void
s_put_u64 (byte *out, uint64_t value)
{
    s_put_u32 (out, (uint32_t) (value >> 32));
    s_put_u32 (out + 4, (uint32_t) value);
}

static uint32_t
s_get_u32 (const byte *in)
{
    return (uint32_t) in[0] << 24 | (uint32_t) in[1] << 16 | (uint32_t) in[2] << 8 |
           (uint32_t) in[3];
}

static uint64_t
s_get_u64 (const byte *in)
{
    return (uint64_t) s_get_u32 (in) << 32 | s_get_u32 (in + 4);
}

//  Well-formed UTF-8 (see zdex_utf8_sequence).
static bool
s_utf8_valid (const byte *text, size_t size)
{
    size_t index = 0;
    while (index < size) {
        //  ASCII, the common case, eight bytes at a time.
        if (size - index >= 8) {
            uint64_t word;
            memcpy (&word, text + index, sizeof word);
            if (!(word & UINT64_C (0x8080808080808080))) {
                index += 8;
                continue;
            }
        }
        if (text[index] < 0x80) {
            index++;
            continue;
        }
        size_t length = zdex_utf8_sequence (text + index, size - index);
        if (length == 0)
            return false;
        index += length;
    }
    return true;
}

//  A string's bytes as the wire carries them: no NUL inside, valid UTF-8.
static bool
s_text_valid (const char *text, size_t size)
{
    return memchr (text, 0, size) == NULL && s_utf8_valid ((const byte *) text, size);
}

static bool
s_name_ok (const char *name)
{
    if (!name)
        return false;
    size_t size = strnlen (name, ZDEX_REPLICA_NAME_MAX + 1);
    return size > 0 && size <= ZDEX_REPLICA_NAME_MAX && s_utf8_valid ((const byte *) name, size);
}

static bool
s_key_ok (const char *key)
{
    return !key || s_name_ok (key);
}

static bool
s_data_ok (const char *data)
{
    return data && *data && s_utf8_valid ((const byte *) data, strlen (data));
}

//  ---------------------------------------------------------------------------------
//  Encoding

void
zdex_replica_topic (uint32_t partition, byte topic[ZDEX_REPLICA_TOPIC_SIZE])
{
    topic[0] = 'R';
    s_put_u32 (topic + 1, partition);
}

static bool
s_slot_state_ok (zdex_ring_state_t state)
{
    return state >= ZDEX_RING_PENDING && state <= ZDEX_RING_DISPOSED;
}

//  The rules decode enforces, on a message about to be encoded.
static bool
s_encodable (const zdex_replica_msg_t *msg)
{
    const zdex_ring_slot_t *slot = &msg->slot;
    switch (msg->op) {
    case ZDEX_REPLICA_ADD:
        return s_name_ok (msg->executor) && msg->capacity > 0 && s_name_ok (slot->type) &&
               s_data_ok (slot->data) && s_key_ok (slot->idempotency_key);
    case ZDEX_REPLICA_RESULT:
        return s_name_ok (msg->executor) && s_data_ok (slot->data) &&
               (slot->state == ZDEX_RING_DONE_OK || slot->state == ZDEX_RING_FAILED);
    case ZDEX_REPLICA_DISPOSE:
    case ZDEX_REPLICA_ATTEMPT:
        return s_name_ok (msg->executor);
    case ZDEX_REPLICA_HEAD:
    case ZDEX_REPLICA_SNAPSHOT_BEGIN:
        return true;
    case ZDEX_REPLICA_SNAPSHOT_SLOT:
        if (!s_name_ok (msg->executor) || msg->capacity == 0 || !s_slot_state_ok (slot->state))
            return false;
        if (slot->state == ZDEX_RING_DISPOSED)
            return true;
        return (slot->state != ZDEX_RING_PENDING || s_name_ok (slot->type)) &&
               s_data_ok (slot->data) && s_key_ok (slot->idempotency_key);
    case ZDEX_REPLICA_SNAPSHOT_END:
        if (msg->next_count && !msg->nexts)
            return false;
        for (size_t index = 0; index < msg->next_count; index++)
            if (!s_name_ok (msg->nexts[index].executor) || msg->nexts[index].capacity == 0 ||
                msg->nexts[index].next_sequence > (uint64_t) ZDEX_RING_MAX_SEQUENCE + 1)
                return false;
        return true;
    case ZDEX_REPLICA_ACK:
        return s_name_ok (msg->member);
    case ZDEX_REPLICA_FETCH:
        return msg->to_seq >= msg->seq;
    case ZDEX_REPLICA_SCHED_PUT:
    case ZDEX_REPLICA_SNAPSHOT_SCHED:
        return s_name_ok (msg->executor) && s_name_ok (msg->name) && s_data_ok (msg->data);
    case ZDEX_REPLICA_SCHED_DEL:
        return s_name_ok (msg->executor) && s_name_ok (msg->name);
    }
    return false;
}

//  Where encoded frames go: appended to a zmsg, or packed (u32 length + bytes
//  each) into a buffer of exactly the right size, which a first pass with
//  neither measures.
typedef struct {
    zmsg_t *msg;
    byte *buffer;
    size_t used;
} s_writer_t;

static void
s_add (s_writer_t *writer, const void *data, size_t size)
{
    if (writer->msg)
        zmsg_addmem (writer->msg, data, size);
    else {
        if (writer->buffer) {
            s_put_u32 (writer->buffer + writer->used, (uint32_t) size);
            if (size)
                memcpy (writer->buffer + writer->used + 4, data, size);
        }
        writer->used += 4 + size;
    }
}

static void
s_add_u8 (s_writer_t *writer, byte value)
{
    s_add (writer, &value, 1);
}

static void
s_add_u32 (s_writer_t *writer, uint32_t value)
{
    byte bytes[4];
    s_put_u32 (bytes, value);
    s_add (writer, bytes, sizeof bytes);
}

static void
s_add_u64 (s_writer_t *writer, uint64_t value)
{
    byte bytes[8];
    s_put_u64 (bytes, value);
    s_add (writer, bytes, sizeof bytes);
}

//  A string with its NUL; NULL as an empty frame.
static void
s_add_string (s_writer_t *writer, const char *text)
{
    s_add (writer, text, text ? strlen (text) + 1 : 0);
}

//  Every frame after the topic.
static void
s_encode (const zdex_replica_msg_t *msg, s_writer_t *out)
{
    byte header[S_HEADER_SIZE];
    header[0] = ZDEX_REPLICA_VERSION;
    header[1] = (byte) msg->op;
    s_put_u64 (header + 2, msg->epoch);
    s_put_u64 (header + 10, msg->seq);
    s_add (out, header, sizeof header);

    const zdex_ring_slot_t *slot = &msg->slot;
    bool disposed = slot->state == ZDEX_RING_DISPOSED;
    switch (msg->op) {
    case ZDEX_REPLICA_ADD:
        s_add_string (out, msg->executor);
        s_add_u32 (out, msg->capacity);
        s_add_u32 (out, slot->sequence);
        s_add_u32 (out, slot->attempt);
        s_add_u8 (out, slot->discard_result ? 1 : 0);
        s_add_string (out, slot->type);
        s_add_string (out, slot->data);
        s_add_string (out, slot->idempotency_key);
        break;
    case ZDEX_REPLICA_RESULT:
        s_add_string (out, msg->executor);
        s_add_u32 (out, slot->sequence);
        s_add_u8 (out, slot->state == ZDEX_RING_DONE_OK ? 1 : 0);
        s_add_string (out, slot->data);
        break;
    case ZDEX_REPLICA_DISPOSE:
        s_add_string (out, msg->executor);
        s_add_u32 (out, slot->sequence);
        break;
    case ZDEX_REPLICA_ATTEMPT:
        s_add_string (out, msg->executor);
        s_add_u32 (out, slot->sequence);
        s_add_u32 (out, slot->attempt);
        break;
    case ZDEX_REPLICA_HEAD:
    case ZDEX_REPLICA_SNAPSHOT_BEGIN:
        break;
    case ZDEX_REPLICA_SNAPSHOT_SLOT:
        s_add_string (out, msg->executor);
        s_add_u32 (out, msg->capacity);
        s_add_u32 (out, slot->sequence);
        s_add_u8 (out, (byte) slot->state);
        s_add_u32 (out, slot->attempt);
        s_add_u8 (out, slot->discard_result ? 1 : 0);
        s_add_string (out, slot->state == ZDEX_RING_PENDING ? slot->type : NULL);
        s_add_string (out, disposed ? NULL : slot->data);
        s_add_string (out, disposed ? NULL : slot->idempotency_key);
        break;
    case ZDEX_REPLICA_SNAPSHOT_END:
        for (size_t index = 0; index < msg->next_count; index++) {
            s_add_string (out, msg->nexts[index].executor);
            s_add_u32 (out, msg->nexts[index].capacity);
            s_add_u64 (out, msg->nexts[index].next_sequence);
        }
        break;
    case ZDEX_REPLICA_ACK:
        s_add_string (out, msg->member);
        break;
    case ZDEX_REPLICA_FETCH:
        s_add_u64 (out, msg->to_seq);
        break;
    case ZDEX_REPLICA_SCHED_PUT:
    case ZDEX_REPLICA_SNAPSHOT_SCHED:
        s_add_string (out, msg->executor);
        s_add_string (out, msg->name);
        s_add_string (out, msg->data);
        break;
    case ZDEX_REPLICA_SCHED_DEL:
        s_add_string (out, msg->executor);
        s_add_string (out, msg->name);
        break;
    }
}

zmsg_t *
zdex_replica_encode (const zdex_replica_msg_t *msg)
{
    assert (msg);
    if (!s_encodable (msg))
        return NULL;
    zmsg_t *out = zmsg_new ();
    assert (out);
    byte topic[ZDEX_REPLICA_TOPIC_SIZE];
    zdex_replica_topic (msg->partition, topic);
    zmsg_addmem (out, topic, sizeof topic);
    s_writer_t writer = {.msg = out};
    s_encode (msg, &writer);
    return out;
}

zframe_t *
zdex_replica_encode_packed (const zdex_replica_msg_t *msg)
{
    assert (msg);
    if (!s_encodable (msg))
        return NULL;
    s_writer_t writer = {0};
    s_encode (msg, &writer);
    zframe_t *packed = zframe_new (NULL, writer.used);
    assert (packed);
    writer = (s_writer_t){.buffer = zframe_data (packed)};
    s_encode (msg, &writer);
    assert (writer.used == zframe_size (packed));
    return packed;
}

zframe_t *
zdex_replica_acks_encode (const char *member, const zdex_replica_ack_t *acks, size_t count)
{
    assert (acks && count > 0);
    if (!s_name_ok (member))
        return NULL;
    size_t member_size = strlen (member) + 1;
    zframe_t *frame = zframe_new (NULL, 1 + member_size + count * ZDEX_REPLICA_ACK_ENTRY);
    assert (frame);
    byte *out = zframe_data (frame);
    *out++ = 'A';
    memcpy (out, member, member_size);
    out += member_size;
    for (size_t index = 0; index < count; index++) {
        s_put_u32 (out, acks[index].partition);
        s_put_u64 (out + 4, acks[index].epoch);
        s_put_u64 (out + 12, acks[index].seq);
        out += ZDEX_REPLICA_ACK_ENTRY;
    }
    return frame;
}

size_t
zdex_replica_acks_decode (zframe_t *frame, const char **member_p)
{
    assert (frame && member_p);
    const byte *data = zframe_data (frame);
    size_t size = zframe_size (frame);
    if (size < 2 || data[0] != 'A')
        return 0;
    const byte *end = (const byte *) memchr (data + 1, 0, size - 1);
    if (!end)
        return 0;
    const char *member = (const char *) data + 1;
    size_t rest = size - (size_t) (end + 1 - data);
    if (!s_name_ok (member) || rest == 0 || rest % ZDEX_REPLICA_ACK_ENTRY != 0)
        return 0;
    *member_p = member;
    return rest / ZDEX_REPLICA_ACK_ENTRY;
}

void
zdex_replica_acks_entry (zframe_t *frame, size_t index, zdex_replica_ack_t *out)
{
    assert (frame && out);
    const byte *data = zframe_data (frame);
    const byte *entries = data + 1 + strlen ((const char *) data + 1) + 1;
    const byte *entry = entries + index * ZDEX_REPLICA_ACK_ENTRY;
    assert (entry + ZDEX_REPLICA_ACK_ENTRY <= data + zframe_size (frame));
    out->partition = s_get_u32 (entry);
    out->epoch = s_get_u64 (entry + 4);
    out->seq = s_get_u64 (entry + 12);
}

//  ---------------------------------------------------------------------------------
//  Decoding

//  Reads frames in turn, from a zmsg or from a packed frame; the first bad one
//  sets failed and every later read returns zeroes, so a decoder checks once at
//  the end.
typedef struct {
    zmsg_t *msg;
    const byte *packed;
    size_t packed_size;
    size_t offset;
    bool failed;
} s_reader_t;

//  The next frame's bytes; size SIZE_MAX takes any size, else the frame must
//  have exactly size bytes.
static const byte *
s_next (s_reader_t *reader, size_t size, size_t *size_p)
{
    const byte *data = NULL;
    size_t length = 0;
    if (reader->failed)
        return NULL;
    if (reader->msg) {
        zframe_t *frame = zmsg_next (reader->msg);
        if (frame) {
            data = zframe_data (frame);
            length = zframe_size (frame);
        }
    } else if (reader->packed_size - reader->offset >= 4) {
        length = s_get_u32 (reader->packed + reader->offset);
        if (length <= reader->packed_size - reader->offset - 4) {
            data = reader->packed + reader->offset + 4;
            reader->offset += 4 + length;
        }
    }
    if (!data || (size != SIZE_MAX && length != size)) {
        reader->failed = true;
        return NULL;
    }
    if (size_p)
        *size_p = length;
    return data;
}

static byte
s_read_u8 (s_reader_t *reader)
{
    const byte *data = s_next (reader, 1, NULL);
    return data ? data[0] : 0;
}

static uint32_t
s_read_u32 (s_reader_t *reader)
{
    const byte *data = s_next (reader, 4, NULL);
    return data ? s_get_u32 (data) : 0;
}

static uint64_t
s_read_u64 (s_reader_t *reader)
{
    const byte *data = s_next (reader, 8, NULL);
    return data ? s_get_u64 (data) : 0;
}

typedef enum {
    S_STRING_NAME,   //  1..NAME_MAX bytes
    S_STRING_KEY,    //  a name or absent
    S_STRING_DATA,   //  1 or more bytes
    S_STRING_ABSENT, //  must be an empty frame
} s_string_kind_t;

//  A string frame: bytes, then exactly one NUL, at the end.
static const char *
s_read_string (s_reader_t *reader, s_string_kind_t kind)
{
    size_t size;
    const char *text = (const char *) s_next (reader, SIZE_MAX, &size);
    if (!text)
        return NULL;
    if (size == 0 && (kind == S_STRING_KEY || kind == S_STRING_ABSENT))
        return NULL;
    if (kind == S_STRING_ABSENT || size < 2 || text[size - 1] != 0 ||
        !s_text_valid (text, size - 1) ||
        (kind != S_STRING_DATA && size - 1 > ZDEX_REPLICA_NAME_MAX)) {
        reader->failed = true;
        return NULL;
    }
    return text;
}

static bool
s_frames_are (size_t frames, size_t count)
{
    return frames == count;
}

void
zdex_replica_msg_reset (zdex_replica_msg_t *msg)
{
    assert (msg);
    free (msg->owned);
    memset (msg, 0, sizeof (*msg));
}

//  Decode what follows the topic and the header; frames counts them all, topic
//  and header included, as zmsg_size would.
static int
s_decode (const byte *topic, size_t topic_size, const byte *header, size_t header_size,
          s_reader_t *reader_p, size_t frames, zdex_replica_msg_t *out)
{
    memset (out, 0, sizeof (*out));
    if (frames < 2 || topic_size != ZDEX_REPLICA_TOPIC_SIZE || topic[0] != 'R' ||
        header_size != S_HEADER_SIZE || header[0] != ZDEX_REPLICA_VERSION)
        return -1;
    out->partition = s_get_u32 (topic + 1);
    out->op = (zdex_replica_op_t) header[1];
    out->epoch = s_get_u64 (header + 2);
    out->seq = s_get_u64 (header + 10);

    s_reader_t reader = *reader_p;
    zdex_ring_slot_t *slot = &out->slot;
    byte flags = 0;
    switch (out->op) {
    case ZDEX_REPLICA_ADD:
        reader.failed = !s_frames_are (frames, 10);
        out->executor = s_read_string (&reader, S_STRING_NAME);
        out->capacity = s_read_u32 (&reader);
        slot->state = ZDEX_RING_PENDING;
        slot->sequence = s_read_u32 (&reader);
        slot->attempt = s_read_u32 (&reader);
        flags = s_read_u8 (&reader);
        slot->discard_result = flags & 1;
        slot->type = s_read_string (&reader, S_STRING_NAME);
        slot->data = s_read_string (&reader, S_STRING_DATA);
        slot->idempotency_key = s_read_string (&reader, S_STRING_KEY);
        reader.failed |= out->capacity == 0 || flags > 1;
        break;
    case ZDEX_REPLICA_RESULT: {
        reader.failed = !s_frames_are (frames, 6);
        out->executor = s_read_string (&reader, S_STRING_NAME);
        slot->sequence = s_read_u32 (&reader);
        byte ok = s_read_u8 (&reader);
        slot->state = ok ? ZDEX_RING_DONE_OK : ZDEX_RING_FAILED;
        slot->data = s_read_string (&reader, S_STRING_DATA);
        reader.failed |= ok > 1;
        break;
    }
    case ZDEX_REPLICA_DISPOSE:
        reader.failed = !s_frames_are (frames, 4);
        out->executor = s_read_string (&reader, S_STRING_NAME);
        slot->sequence = s_read_u32 (&reader);
        break;
    case ZDEX_REPLICA_ATTEMPT:
        reader.failed = !s_frames_are (frames, 5);
        out->executor = s_read_string (&reader, S_STRING_NAME);
        slot->sequence = s_read_u32 (&reader);
        slot->attempt = s_read_u32 (&reader);
        break;
    case ZDEX_REPLICA_HEAD:
    case ZDEX_REPLICA_SNAPSHOT_BEGIN:
        reader.failed = !s_frames_are (frames, 2);
        break;
    case ZDEX_REPLICA_SNAPSHOT_SLOT: {
        reader.failed = !s_frames_are (frames, 11);
        out->executor = s_read_string (&reader, S_STRING_NAME);
        out->capacity = s_read_u32 (&reader);
        slot->sequence = s_read_u32 (&reader);
        byte state = s_read_u8 (&reader);
        slot->state = (zdex_ring_state_t) state;
        slot->attempt = s_read_u32 (&reader);
        flags = s_read_u8 (&reader);
        slot->discard_result = flags & 1;
        bool pending = state == ZDEX_RING_PENDING, disposed = state == ZDEX_RING_DISPOSED;
        slot->type = s_read_string (&reader, pending ? S_STRING_NAME : S_STRING_ABSENT);
        slot->data = s_read_string (&reader, disposed ? S_STRING_ABSENT : S_STRING_DATA);
        slot->idempotency_key = s_read_string (&reader, disposed ? S_STRING_ABSENT : S_STRING_KEY);
        reader.failed |= out->capacity == 0 || flags > 1 || !s_slot_state_ok (slot->state);
        break;
    }
    case ZDEX_REPLICA_SNAPSHOT_END: {
        size_t count = (frames - 2) / 3;
        zdex_replica_next_t *nexts = NULL;
        if ((frames - 2) % 3 == 0 && count) {
            nexts = (zdex_replica_next_t *) calloc (count, sizeof (zdex_replica_next_t));
            reader.failed = !nexts;
        } else
            reader.failed = (frames - 2) % 3 != 0;
        if (reader.failed)
            break;
        for (size_t index = 0; index < count; index++) {
            nexts[index].executor = s_read_string (&reader, S_STRING_NAME);
            nexts[index].capacity = s_read_u32 (&reader);
            nexts[index].next_sequence = s_read_u64 (&reader);
            reader.failed |= nexts[index].capacity == 0 ||
                             nexts[index].next_sequence > (uint64_t) ZDEX_RING_MAX_SEQUENCE + 1;
        }
        out->nexts = nexts;
        out->next_count = count;
        out->owned = nexts;
        break;
    }
    case ZDEX_REPLICA_ACK:
        reader.failed = !s_frames_are (frames, 3);
        out->member = s_read_string (&reader, S_STRING_NAME);
        break;
    case ZDEX_REPLICA_FETCH:
        reader.failed = !s_frames_are (frames, 3);
        out->to_seq = s_read_u64 (&reader);
        reader.failed |= out->to_seq < out->seq;
        break;
    case ZDEX_REPLICA_SCHED_PUT:
    case ZDEX_REPLICA_SNAPSHOT_SCHED:
        reader.failed = !s_frames_are (frames, 5);
        out->executor = s_read_string (&reader, S_STRING_NAME);
        out->name = s_read_string (&reader, S_STRING_NAME);
        out->data = s_read_string (&reader, S_STRING_DATA);
        break;
    case ZDEX_REPLICA_SCHED_DEL:
        reader.failed = !s_frames_are (frames, 4);
        out->executor = s_read_string (&reader, S_STRING_NAME);
        out->name = s_read_string (&reader, S_STRING_NAME);
        break;
    default:
        reader.failed = true;
    }
    if (reader.failed) {
        zdex_replica_msg_reset (out);
        return -1;
    }
    return 0;
}

int
zdex_replica_decode (zmsg_t *msg, zdex_replica_msg_t *out)
{
    assert (msg);
    assert (out);
    memset (out, 0, sizeof (*out));
    size_t frames = zmsg_size (msg);
    if (frames < 2)
        return -1;
    zframe_t *topic = zmsg_first (msg);
    if (zframe_size (topic) != ZDEX_REPLICA_TOPIC_SIZE || zframe_data (topic)[0] != 'R')
        return -1; //  before moving the cursor on (a caller may rely on where it is)
    zframe_t *header = zmsg_next (msg);
    s_reader_t reader = {.msg = msg};
    return s_decode (zframe_data (topic), zframe_size (topic), zframe_data (header),
                     zframe_size (header), &reader, frames, out);
}

int
zdex_replica_decode_packed (const byte *topic, size_t topic_size, const byte *packed,
                            size_t packed_size, zdex_replica_msg_t *out)
{
    assert ((topic || !topic_size) && (packed || !packed_size) && out);
    memset (out, 0, sizeof (*out));
    const byte *data = packed;
    size_t size = packed_size;
    //  Count the frames, and refuse a packing that does not add up.
    size_t frames = 1, offset = 0;
    while (offset < size) {
        if (size - offset < 4 || s_get_u32 (data + offset) > size - offset - 4)
            return -1;
        offset += 4 + s_get_u32 (data + offset);
        frames++;
    }
    if (frames < 2 || s_get_u32 (data) != S_HEADER_SIZE)
        return -1;
    s_reader_t reader = {.packed = data, .packed_size = size, .offset = 4 + S_HEADER_SIZE};
    return s_decode (topic, topic_size, data + 4, S_HEADER_SIZE, &reader, frames, out);
}

const char *
zdex_replica_op_name (int op)
{
    static const char *const names[] = {"?",
                                        "ADD",
                                        "RESULT",
                                        "DISPOSE",
                                        "ATTEMPT",
                                        "HEAD",
                                        "SNAPSHOT_BEGIN",
                                        "SNAPSHOT_SLOT",
                                        "SNAPSHOT_END",
                                        "ACK",
                                        "FETCH",
                                        "SCHED_PUT",
                                        "SCHED_DEL",
                                        "SNAPSHOT_SCHED"};
    return op >= ZDEX_REPLICA_ADD && op <= ZDEX_REPLICA_OP_LAST ? names[op] : names[0];
}

//  ---------------------------------------------------------------------------------
//  zdex_replica_t

struct _zdex_replica_t {
    uint32_t partition;
    zdex_replica_state_t state;
    uint64_t epoch;
    uint64_t applied;
    uint64_t snapshot_seq;  //  SYNCING: the seq the snapshot stands for
    zhashx_t *rings;        //  executor → zdex_ring_t *; rings destroyed by s_clear
    zhashx_t *kept;         //  the last LIVE rings, kept while a resync builds new ones
    zhashx_t *records;      //  s_record_key → zdex_replica_record_t * (destructor set)
    zhashx_t *kept_records; //  the records that go with kept
};

zdex_replica_record_t *
zdex_replica_record_new (const char *scheduler, const char *name, const char *data,
                         int64_t received_at)
{
    zdex_replica_record_t *self = (zdex_replica_record_t *) zmalloc (sizeof (*self));
    assert (self);
    self->scheduler = strdup (scheduler);
    self->name = strdup (name);
    self->data = strdup (data);
    assert (self->scheduler && self->name && self->data);
    self->received_at = received_at;
    return self;
}

void
zdex_replica_record_destroy (zdex_replica_record_t **self_p)
{
    assert (self_p);
    zdex_replica_record_t *self = *self_p;
    if (self) {
        free (self->scheduler);
        free (self->name);
        free (self->data);
        free (self);
        *self_p = NULL;
    }
}

static void
s_record_destructor (void **item_p)
{
    zdex_replica_record_destroy ((zdex_replica_record_t **) item_p);
}

zlistx_t *
zdex_replica_record_list_new (void)
{
    zlistx_t *list = zlistx_new ();
    assert (list);
    zlistx_set_destructor (list, s_record_destructor);
    return list;
}

static zhashx_t *
s_records_new (void)
{
    zhashx_t *records = zdex_hash_table_new ();
    assert (records);
    zhashx_set_destructor (records, s_record_destructor);
    return records;
}

//  Map key of a scheduled task: the scheduler's length first, so that no pair of
//  (scheduler, name) can collide with another whatever bytes the names hold.
static void
s_record_key (const char *scheduler, const char *name, char *key, size_t size)
{
    snprintf (key, size, "%zu:%s%s", strlen (scheduler), scheduler, name);
}

#define S_RECORD_KEY_MAX (2 * ZDEX_REPLICA_NAME_MAX + 24)

zdex_replica_t *
zdex_replica_new (uint32_t partition)
{
    zdex_replica_t *self = (zdex_replica_t *) zmalloc (sizeof (zdex_replica_t));
    assert (self);
    self->partition = partition;
    self->rings = zdex_hash_table_new ();
    assert (self->rings);
    self->records = s_records_new ();
    return self;
}

//  Destroy every ring of a map and the map.
static void
s_rings_destroy (zhashx_t **rings_p)
{
    zhashx_t *rings = *rings_p;
    if (!rings)
        return;
    zdex_ring_t *ring = (zdex_ring_t *) zhashx_first (rings);
    while (ring) {
        zdex_ring_destroy (&ring);
        ring = (zdex_ring_t *) zhashx_next (rings);
    }
    zhashx_destroy (rings_p);
}

//  Destroy every ring, keep the epoch.
static void
s_clear (zdex_replica_t *self)
{
    zdex_ring_t *ring = (zdex_ring_t *) zhashx_first (self->rings);
    while (ring) {
        zdex_ring_destroy (&ring);
        ring = (zdex_ring_t *) zhashx_next (self->rings);
    }
    zhashx_purge (self->rings);
    zhashx_purge (self->records);
    self->applied = 0;
    self->snapshot_seq = 0;
}

void
zdex_replica_destroy (zdex_replica_t **self_p)
{
    assert (self_p);
    zdex_replica_t *self = *self_p;
    if (!self)
        return;
    s_clear (self);
    zhashx_destroy (&self->rings);
    s_rings_destroy (&self->kept);
    zhashx_destroy (&self->records);
    zhashx_destroy (&self->kept_records);
    free (self);
    *self_p = NULL;
}

zdex_replica_state_t
zdex_replica_state (zdex_replica_t *self)
{
    assert (self);
    return self->state;
}

uint32_t
zdex_replica_partition (zdex_replica_t *self)
{
    assert (self);
    return self->partition;
}

uint64_t
zdex_replica_epoch (zdex_replica_t *self)
{
    assert (self);
    return self->epoch;
}

uint64_t
zdex_replica_applied (zdex_replica_t *self)
{
    assert (self);
    return self->applied;
}

zdex_ring_t *
zdex_replica_ring (zdex_replica_t *self, const char *executor)
{
    assert (self);
    assert (executor);
    return (zdex_ring_t *) zhashx_lookup (self->rings, executor);
}

static zlistx_t *
s_records_take (zhashx_t *records)
{
    zlistx_t *list = zdex_replica_record_list_new ();
    if (!records)
        return list;
    zhashx_set_destructor (records, NULL);
    for (void *record = zhashx_first (records); record; record = zhashx_next (records))
        zlistx_add_end (list, record);
    zhashx_purge (records);
    zhashx_set_destructor (records, s_record_destructor);
    return list;
}

zlistx_t *
zdex_replica_take_records (zdex_replica_t *self)
{
    assert (self);
    if (self->state != ZDEX_REPLICA_STATE_LIVE && self->kept)
        return s_records_take (self->kept_records);
    return s_records_take (self->records);
}

size_t
zdex_replica_record_count (zdex_replica_t *self)
{
    assert (self);
    return zhashx_size (self->records);
}

zhashx_t *
zdex_replica_take_rings (zdex_replica_t *self)
{
    assert (self);
    if (self->state != ZDEX_REPLICA_STATE_LIVE && self->kept) {
        //  Promoted in the middle of a resync: the last complete state is the one
        //  to serve (nothing of the new stream was acknowledged without us).
        s_clear (self);
        zhashx_t *kept = self->kept;
        self->kept = NULL;
        zhashx_destroy (&self->kept_records);
        self->state = ZDEX_REPLICA_STATE_INITIAL;
        return kept;
    }
    s_rings_destroy (&self->kept);
    zhashx_destroy (&self->kept_records);
    zhashx_purge (self->records); //  taken already, or to go with the rings
    zhashx_t *taken = zdex_hash_table_new ();
    assert (taken);
    zdex_ring_t *ring = (zdex_ring_t *) zhashx_first (self->rings);
    while (ring) {
        int rc = zhashx_insert (taken, zhashx_cursor (self->rings), ring);
        assert (rc == 0);
        (void) rc;
        ring = (zdex_ring_t *) zhashx_next (self->rings);
    }
    zhashx_purge (self->rings); //  no destructor: the rings live on in taken
    self->applied = 0;
    self->snapshot_seq = 0;
    self->state = ZDEX_REPLICA_STATE_INITIAL;
    return taken;
}

//  The executor's ring, created with capacity if missing.  NULL when its capacity
//  differs (a ring's capacity is fixed for life) or memory runs out; *created says
//  whether the caller must destroy it again on failure.
static zdex_ring_t *
s_ring_for (zdex_replica_t *self, const char *executor, uint32_t capacity, bool *created)
{
    *created = false;
    zdex_ring_t *ring = (zdex_ring_t *) zhashx_lookup (self->rings, executor);
    if (ring)
        return zdex_ring_capacity (ring) == capacity ? ring : NULL;
    ring = zdex_ring_new (capacity);
    *created = ring != NULL;
    return ring;
}

static void
s_ring_keep (zdex_replica_t *self, const char *executor, zdex_ring_t *ring)
{
    int rc = zhashx_insert (self->rings, executor, ring);
    assert (rc == 0);
    (void) rc;
}

static void
s_record_put (zdex_replica_t *self, const zdex_replica_msg_t *msg)
{
    char key[S_RECORD_KEY_MAX];
    s_record_key (msg->executor, msg->name, key, sizeof key);
    zhashx_update (self->records, key,
                   zdex_replica_record_new (msg->executor, msg->name, msg->data, zclock_mono ()));
}

//  Apply the mutation at applied + 1; true when it fitted.
static bool
s_apply_mutation (zdex_replica_t *self, const zdex_replica_msg_t *msg)
{
    const zdex_ring_slot_t *slot = &msg->slot;
    zdex_ring_t *ring = (zdex_ring_t *) zhashx_lookup (self->rings, msg->executor);
    switch (msg->op) {
    case ZDEX_REPLICA_ADD: {
        bool created;
        ring = s_ring_for (self, msg->executor, msg->capacity, &created);
        //  The primary's add never goes below its next sequence
        if (!ring || slot->sequence < zdex_ring_next_sequence (ring))
            return false;
        zdex_ring_slot_t task = *slot;
        task.state = ZDEX_RING_PENDING;
        if (zdex_ring_install (ring, &task)) {
            if (created)
                zdex_ring_destroy (&ring);
            return false;
        }
        if (created)
            s_ring_keep (self, msg->executor, ring);
        return true;
    }
    case ZDEX_REPLICA_RESULT: {
        if (!ring || zdex_ring_lookup (ring, slot->sequence, NULL) != ZDEX_RING_PENDING)
            return false;
        char *data = strdup (slot->data);
        return data && zdex_ring_complete (ring, slot->sequence, slot->state == ZDEX_RING_DONE_OK,
                                           data) == 0;
    }
    case ZDEX_REPLICA_DISPOSE:
        return ring && zdex_ring_dispose (ring, slot->sequence, NULL) == 0;
    case ZDEX_REPLICA_ATTEMPT:
        return ring && zdex_ring_set_attempt (ring, slot->sequence, slot->attempt) == 0;
    case ZDEX_REPLICA_SCHED_PUT:
        s_record_put (self, msg);
        return true;
    case ZDEX_REPLICA_SCHED_DEL: {
        char key[S_RECORD_KEY_MAX];
        s_record_key (msg->executor, msg->name, key, sizeof key);
        if (!zhashx_lookup (self->records, key))
            return false; //  the primary deletes only what it holds
        zhashx_delete (self->records, key);
        return true;
    }
    default:
        assert (false);
        return false;
    }
}

//  A snapshot part that does not fit: start over from nothing.
static zdex_replica_result_t
s_abandon (zdex_replica_t *self)
{
    s_clear (self);
    self->state = ZDEX_REPLICA_STATE_INITIAL;
    return ZDEX_REPLICA_DIVERGED;
}

static zdex_replica_result_t
s_apply_snapshot (zdex_replica_t *self, const zdex_replica_msg_t *msg)
{
    if (msg->op == ZDEX_REPLICA_SNAPSHOT_BEGIN) {
        if (self->state == ZDEX_REPLICA_STATE_LIVE && msg->epoch == self->epoch &&
            msg->seq <= self->applied)
            return ZDEX_REPLICA_DUPLICATE; //  we are there already
        if (self->state == ZDEX_REPLICA_STATE_LIVE) {
            //  Keep the complete state we have until the new one is complete.
            s_rings_destroy (&self->kept);
            self->kept = self->rings;
            self->rings = zdex_hash_table_new ();
            assert (self->rings);
            zhashx_destroy (&self->kept_records);
            self->kept_records = self->records;
            self->records = s_records_new ();
        }
        s_clear (self);
        self->epoch = msg->epoch;
        self->snapshot_seq = msg->seq;
        self->state = ZDEX_REPLICA_STATE_SYNCING;
        return ZDEX_REPLICA_APPLIED;
    }
    if (self->state != ZDEX_REPLICA_STATE_SYNCING || msg->epoch != self->epoch ||
        msg->seq != self->snapshot_seq)
        return ZDEX_REPLICA_IGNORED; //  parts of another snapshot
    bool created;
    if (msg->op == ZDEX_REPLICA_SNAPSHOT_SCHED) {
        s_record_put (self, msg);
        return ZDEX_REPLICA_APPLIED;
    }
    if (msg->op == ZDEX_REPLICA_SNAPSHOT_SLOT) {
        zdex_ring_t *ring = s_ring_for (self, msg->executor, msg->capacity, &created);
        if (created)
            s_ring_keep (self, msg->executor, ring);
        if (!ring || zdex_ring_install (ring, &msg->slot))
            return s_abandon (self);
        return ZDEX_REPLICA_APPLIED;
    }
    assert (msg->op == ZDEX_REPLICA_SNAPSHOT_END);
    for (size_t index = 0; index < msg->next_count; index++) {
        const zdex_replica_next_t *next = &msg->nexts[index];
        zdex_ring_t *ring = s_ring_for (self, next->executor, next->capacity, &created);
        if (created)
            s_ring_keep (self, next->executor, ring);
        //  Below a slot's sequence means the snapshot contradicts itself
        if (!ring || zdex_ring_set_next_sequence (ring, next->next_sequence))
            return s_abandon (self);
    }
    self->applied = self->snapshot_seq;
    self->snapshot_seq = 0;
    self->state = ZDEX_REPLICA_STATE_LIVE;
    s_rings_destroy (&self->kept);
    zhashx_destroy (&self->kept_records);
    return ZDEX_REPLICA_APPLIED;
}

zdex_replica_result_t
zdex_replica_apply (zdex_replica_t *self, const zdex_replica_msg_t *msg)
{
    assert (self);
    assert (msg);
    if (msg->partition != self->partition || msg->op == ZDEX_REPLICA_ACK ||
        msg->op == ZDEX_REPLICA_FETCH || msg->op < ZDEX_REPLICA_ADD ||
        msg->op > ZDEX_REPLICA_OP_LAST)
        return ZDEX_REPLICA_IGNORED;
    if (msg->epoch < self->epoch)
        return ZDEX_REPLICA_STALE_EPOCH;
    if ((msg->op >= ZDEX_REPLICA_SNAPSHOT_BEGIN && msg->op <= ZDEX_REPLICA_SNAPSHOT_END) ||
        msg->op == ZDEX_REPLICA_SNAPSHOT_SCHED)
        return s_apply_snapshot (self, msg);
    if (self->state == ZDEX_REPLICA_STATE_INITIAL || msg->epoch > self->epoch)
        return ZDEX_REPLICA_NEW_EPOCH;
    if (self->state == ZDEX_REPLICA_STATE_SYNCING)
        return ZDEX_REPLICA_SYNCING;
    if (msg->op == ZDEX_REPLICA_HEAD)
        return msg->seq > self->applied ? ZDEX_REPLICA_GAP : ZDEX_REPLICA_DUPLICATE;
    if (msg->seq <= self->applied)
        return ZDEX_REPLICA_DUPLICATE;
    if (msg->seq > self->applied + 1)
        return ZDEX_REPLICA_GAP;
    if (!s_apply_mutation (self, msg))
        return ZDEX_REPLICA_DIVERGED;
    self->applied = msg->seq;
    return ZDEX_REPLICA_APPLIED;
}

const char *
zdex_replica_result_name (zdex_replica_result_t result)
{
    static const char *const names[] = {"APPLIED",   "DUPLICATE", "GAP",      "STALE_EPOCH",
                                        "NEW_EPOCH", "SYNCING",   "DIVERGED", "IGNORED"};
    return (unsigned) result < sizeof names / sizeof names[0] ? names[result] : "?";
}

//  ---------------------------------------------------------------------------------
//  zdex_replica_log_t: a circular array of encoded messages, oldest at head, grown
//  on demand so that 271 partitions of mostly idle logs stay small.

struct _zdex_replica_log_t {
    uint32_t partition;
    uint64_t epoch;
    uint64_t last; //  seq of the newest message
    size_t max_messages;
    size_t max_bytes;   //  0: no byte limit
    zframe_t **entries; //  packed (zdex_replica_encode_packed)
    size_t allocated;
    size_t head;
    size_t count;
    size_t bytes;
};

zdex_replica_log_t *
zdex_replica_log_new (uint32_t partition, size_t max_messages, size_t max_bytes)
{
    zdex_replica_log_t *self = (zdex_replica_log_t *) zmalloc (sizeof (zdex_replica_log_t));
    assert (self);
    self->partition = partition;
    self->max_messages = max_messages;
    self->max_bytes = max_bytes;
    return self;
}

//  The bytes of a packed entry as a multi-frame message (topic and frames, no
//  lengths): what max_bytes bounds.
static size_t
s_content_size (zframe_t *packed)
{
    const byte *data = zframe_data (packed);
    size_t size = zframe_size (packed), content = ZDEX_REPLICA_TOPIC_SIZE;
    for (size_t offset = 0; offset < size;) {
        size_t length = s_get_u32 (data + offset);
        content += length;
        offset += 4 + length;
    }
    return content;
}

static void
s_log_drop_oldest (zdex_replica_log_t *self)
{
    assert (self->count > 0);
    zframe_t **oldest = &self->entries[self->head];
    self->bytes -= s_content_size (*oldest);
    zframe_destroy (oldest);
    self->head = (self->head + 1) % self->allocated;
    self->count--;
}

static void
s_log_purge (zdex_replica_log_t *self)
{
    while (self->count)
        s_log_drop_oldest (self);
    self->head = 0;
}

void
zdex_replica_log_destroy (zdex_replica_log_t **self_p)
{
    assert (self_p);
    zdex_replica_log_t *self = *self_p;
    if (!self)
        return;
    s_log_purge (self);
    free (self->entries);
    free (self);
    *self_p = NULL;
}

void
zdex_replica_log_reset (zdex_replica_log_t *self, uint64_t epoch, uint64_t last_seq)
{
    assert (self);
    s_log_purge (self);
    self->epoch = epoch;
    self->last = last_seq;
}

uint64_t
zdex_replica_log_epoch (zdex_replica_log_t *self)
{
    assert (self);
    return self->epoch;
}

uint64_t
zdex_replica_log_last (zdex_replica_log_t *self)
{
    assert (self);
    return self->last;
}

size_t
zdex_replica_log_size (zdex_replica_log_t *self)
{
    assert (self);
    return self->count;
}

void
zdex_replica_log_trim (zdex_replica_log_t *self, uint64_t seq)
{
    assert (self);
    //  The oldest entry's seq is last - count + 1.
    while (self->count > 0 && self->last - self->count + 1 <= seq)
        s_log_drop_oldest (self);
}

//  Room for one more entry: grow up to max_messages, else drop the oldest.
static void
s_log_make_room (zdex_replica_log_t *self)
{
    if (self->count == self->max_messages) {
        s_log_drop_oldest (self);
        return;
    }
    if (self->count < self->allocated)
        return;
    size_t allocated = self->allocated ? self->allocated * 2 : 16;
    if (allocated > self->max_messages)
        allocated = self->max_messages;
    zframe_t **entries = (zframe_t **) calloc (allocated, sizeof (zframe_t *));
    if (!entries) {
        if (self->count)
            s_log_drop_oldest (self); //  out of memory: keep less
        return;
    }
    for (size_t index = 0; index < self->count; index++)
        entries[index] = self->entries[(self->head + index) % self->allocated];
    free (self->entries);
    self->entries = entries;
    self->allocated = allocated;
    self->head = 0;
}

zframe_t *
zdex_replica_log_append (zdex_replica_log_t *self, zdex_replica_msg_t *msg, bool *kept_p)
{
    assert (self);
    assert (msg);
    assert (kept_p);
    assert ((msg->op >= ZDEX_REPLICA_ADD && msg->op <= ZDEX_REPLICA_ATTEMPT) ||
            msg->op == ZDEX_REPLICA_SCHED_PUT || msg->op == ZDEX_REPLICA_SCHED_DEL);
    *kept_p = false;
    msg->partition = self->partition;
    msg->epoch = self->epoch;
    msg->seq = self->last + 1;
    zframe_t *encoded = zdex_replica_encode_packed (msg);
    if (!encoded)
        return NULL;
    self->last++;
    if (self->max_messages == 0)
        return encoded;
    s_log_make_room (self);
    if (self->count == self->allocated)
        return encoded; //  no memory for even one entry (the backlog is empty)
    size_t size = s_content_size (encoded);
    if (self->max_bytes && size > self->max_bytes) {
        while (self->count)
            s_log_drop_oldest (self); //  it alone is over the bound: keep nothing
        return encoded;
    }
    self->entries[(self->head + self->count) % self->allocated] = encoded;
    self->count++;
    self->bytes += size;
    while (self->max_bytes && self->bytes > self->max_bytes && self->count > 1)
        s_log_drop_oldest (self);
    *kept_p = true;
    return encoded;
}

void
zdex_replica_log_skip (zdex_replica_log_t *self, zdex_replica_msg_t *msg)
{
    assert (self);
    assert (msg);
    msg->partition = self->partition;
    msg->epoch = self->epoch;
    msg->seq = ++self->last;
    zdex_replica_log_trim (self, self->last);
}

//  The multi-frame message a packed entry stands for.
static zmsg_t *
s_log_message (zdex_replica_log_t *self, zframe_t *packed)
{
    zmsg_t *msg = zmsg_new ();
    assert (msg);
    byte topic[ZDEX_REPLICA_TOPIC_SIZE];
    zdex_replica_topic (self->partition, topic);
    zmsg_addmem (msg, topic, sizeof topic);
    const byte *data = zframe_data (packed);
    size_t size = zframe_size (packed);
    for (size_t offset = 0; offset < size;) {
        size_t length = s_get_u32 (data + offset);
        zmsg_addmem (msg, data + offset + 4, length);
        offset += 4 + length;
    }
    return msg;
}

zmsg_t *
zdex_replica_log_record (zdex_replica_log_t *self, zdex_replica_msg_t *msg)
{
    bool kept;
    zframe_t *encoded = zdex_replica_log_append (self, msg, &kept);
    if (!encoded)
        return NULL;
    zmsg_t *copy = s_log_message (self, encoded);
    if (!kept)
        zframe_destroy (&encoded);
    return copy;
}

zmsg_t *
zdex_replica_log_head (zdex_replica_log_t *self)
{
    assert (self);
    zdex_replica_msg_t head = {.op = ZDEX_REPLICA_HEAD,
                               .partition = self->partition,
                               .epoch = self->epoch,
                               .seq = self->last};
    zmsg_t *msg = zdex_replica_encode (&head);
    assert (msg);
    return msg;
}

static void
s_msg_destructor (void **item_p)
{
    zmsg_destroy ((zmsg_t **) item_p);
}

static zlistx_t *
s_msg_list_new (void)
{
    zlistx_t *list = zlistx_new ();
    assert (list);
    zlistx_set_destructor (list, s_msg_destructor);
    return list;
}

zlistx_t *
zdex_replica_log_fetch (zdex_replica_log_t *self, uint64_t epoch, uint64_t from_seq,
                        uint64_t to_seq)
{
    assert (self);
    uint64_t first = self->last - self->count + 1;
    if (epoch != self->epoch || from_seq == 0 || from_seq > self->last + 1 || from_seq < first)
        return NULL;
    zlistx_t *list = s_msg_list_new ();
    uint64_t until = to_seq < self->last ? to_seq : self->last;
    for (uint64_t seq = from_seq; seq <= until; seq++) {
        zmsg_t *copy =
            s_log_message (self, self->entries[(self->head + (seq - first)) % self->allocated]);
        zlistx_add_end (list, copy);
    }
    return list;
}

//  ---------------------------------------------------------------------------------
//  Snapshots

typedef struct {
    zlistx_t *list;
    zdex_replica_msg_t *msg;
    bool failed;
} s_snapshot_t;

static void
s_snapshot_slot (const zdex_ring_slot_t *slot, void *arg)
{
    s_snapshot_t *snapshot = (s_snapshot_t *) arg;
    snapshot->msg->slot = *slot;
    zmsg_t *msg = zdex_replica_encode (snapshot->msg);
    if (msg)
        zlistx_add_end (snapshot->list, msg);
    else
        snapshot->failed = true;
}

zlistx_t *
zdex_replica_snapshot (uint32_t partition, uint64_t epoch, uint64_t seq, zhashx_t *rings,
                       zlistx_t *records)
{
    assert (rings);
    zlistx_t *list = s_msg_list_new ();
    zdex_replica_msg_t msg = {
        .op = ZDEX_REPLICA_SNAPSHOT_BEGIN, .partition = partition, .epoch = epoch, .seq = seq};
    zlistx_add_end (list, zdex_replica_encode (&msg));

    size_t count = zhashx_size (rings);
    zdex_replica_next_t *nexts =
        count ? (zdex_replica_next_t *) calloc (count, sizeof (zdex_replica_next_t)) : NULL;
    assert (nexts || !count);
    s_snapshot_t snapshot = {list, &msg, false};
    msg.op = ZDEX_REPLICA_SNAPSHOT_SLOT;
    size_t index = 0;
    for (zdex_ring_t *ring = (zdex_ring_t *) zhashx_first (rings); ring;
         ring = (zdex_ring_t *) zhashx_next (rings)) {
        msg.executor = (const char *) zhashx_cursor (rings);
        msg.capacity = zdex_ring_capacity (ring);
        zdex_ring_foreach (ring, s_snapshot_slot, &snapshot);
        nexts[index++] =
            (zdex_replica_next_t){msg.executor, msg.capacity, zdex_ring_next_sequence (ring)};
    }
    memset (&msg.slot, 0, sizeof (msg.slot));
    msg.capacity = 0;
    msg.op = ZDEX_REPLICA_SNAPSHOT_SCHED;
    zdex_replica_record_t *record =
        records ? (zdex_replica_record_t *) zlistx_first (records) : NULL;
    for (; record; record = (zdex_replica_record_t *) zlistx_next (records)) {
        msg.executor = record->scheduler;
        msg.name = record->name;
        msg.data = record->data;
        zmsg_t *part = zdex_replica_encode (&msg);
        if (part)
            zlistx_add_end (list, part);
        else
            snapshot.failed = true;
    }
    msg.executor = msg.name = msg.data = NULL;
    msg.op = ZDEX_REPLICA_SNAPSHOT_END;
    msg.nexts = nexts;
    msg.next_count = count;
    zmsg_t *end = zdex_replica_encode (&msg);
    free (nexts);
    if (snapshot.failed || !end) {
        zmsg_destroy (&end);
        zlistx_destroy (&list);
        return NULL;
    }
    zlistx_add_end (list, end);
    return list;
}

//  ---------------------------------------------------------------------------------
//  zdex_replica_acks_t: backups are few (1 to 3, rarely more), so a plain array.

typedef struct {
    char *member;
    uint64_t acked;
    bool heard; //  acked at least once in this epoch (an ack of seq 0 counts)
} s_ack_t;

struct _zdex_replica_acks_t {
    uint64_t epoch;
    s_ack_t *backups;
    size_t count;
};

zdex_replica_acks_t *
zdex_replica_acks_new (uint64_t epoch)
{
    zdex_replica_acks_t *self = (zdex_replica_acks_t *) zmalloc (sizeof (zdex_replica_acks_t));
    assert (self);
    self->epoch = epoch;
    return self;
}

static void
s_acks_free (s_ack_t *backups, size_t count)
{
    for (size_t index = 0; index < count; index++)
        free (backups[index].member);
    free (backups);
}

void
zdex_replica_acks_destroy (zdex_replica_acks_t **self_p)
{
    assert (self_p);
    zdex_replica_acks_t *self = *self_p;
    if (!self)
        return;
    s_acks_free (self->backups, self->count);
    free (self);
    *self_p = NULL;
}

void
zdex_replica_acks_reset (zdex_replica_acks_t *self, uint64_t epoch)
{
    assert (self);
    self->epoch = epoch;
    for (size_t index = 0; index < self->count; index++) {
        self->backups[index].acked = 0;
        self->backups[index].heard = false;
    }
}

static s_ack_t *
s_ack_of (zdex_replica_acks_t *self, const char *member)
{
    for (size_t index = 0; index < self->count; index++)
        if (streq (self->backups[index].member, member))
            return &self->backups[index];
    return NULL;
}

int
zdex_replica_acks_set_backups (zdex_replica_acks_t *self, const char **members, size_t count)
{
    assert (self);
    assert (members || count == 0);
    for (size_t index = 0; index < count; index++) {
        if (!s_name_ok (members[index]))
            return -1;
        for (size_t other = 0; other < index; other++)
            if (streq (members[index], members[other]))
                return -1;
    }
    s_ack_t *backups = count ? (s_ack_t *) calloc (count, sizeof (s_ack_t)) : NULL;
    if (count && !backups)
        return -1;
    for (size_t index = 0; index < count; index++) {
        backups[index].member = strdup (members[index]);
        if (!backups[index].member) {
            s_acks_free (backups, index);
            return -1;
        }
        s_ack_t *known = s_ack_of (self, members[index]);
        backups[index].acked = known ? known->acked : 0;
        backups[index].heard = known ? known->heard : false;
    }
    s_acks_free (self->backups, self->count);
    self->backups = backups;
    self->count = count;
    return 0;
}

int
zdex_replica_acks_update (zdex_replica_acks_t *self, const char *member, uint64_t epoch,
                          uint64_t seq)
{
    assert (self);
    assert (member);
    s_ack_t *ack = s_ack_of (self, member);
    if (!ack || epoch != self->epoch)
        return -1;
    bool first = !ack->heard;
    ack->heard = true;
    if (seq <= ack->acked)
        return first ? 1 : 0;
    ack->acked = seq;
    return 1;
}

uint64_t
zdex_replica_acks_acked (zdex_replica_acks_t *self, const char *member)
{
    assert (self);
    assert (member);
    s_ack_t *ack = s_ack_of (self, member);
    return ack ? ack->acked : 0;
}

bool
zdex_replica_acks_heard (zdex_replica_acks_t *self, const char *member)
{
    assert (self);
    assert (member);
    s_ack_t *ack = s_ack_of (self, member);
    return ack && ack->heard;
}

uint64_t
zdex_replica_acks_durable (zdex_replica_acks_t *self, int needed)
{
    assert (self);
    if (needed <= 0)
        return UINT64_MAX;
    if ((size_t) needed > self->count)
        return 0;
    //  The needed-th highest ack: count, for each candidate, the acks at or above it
    uint64_t best = 0;
    for (size_t index = 0; index < self->count; index++) {
        uint64_t candidate = self->backups[index].acked;
        int reached = 0;
        for (size_t other = 0; other < self->count; other++)
            reached += self->backups[other].acked >= candidate;
        if (reached >= needed && candidate > best)
            best = candidate;
    }
    return best;
}
