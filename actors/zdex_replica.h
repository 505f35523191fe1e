//  zdex_replica: replication of one partition's task rings from its primary to
//  its backups.  The stream codec, the backup-side state (zdex_replica_t), the
//  primary's backlog for answering FETCH (zdex_replica_log_t), snapshots, and the
//  primary's ack tracker (zdex_replica_acks_t).  No sockets here: the cluster code
//  carries these messages over PUB/SUB (the stream) and DEALER/ROUTER (ACK, FETCH,
//  and FETCH's answers).
//
//  Every change the primary makes to a ring (ADD, RESULT, DISPOSE, ATTEMPT) is one
//  message stamped with the partition's epoch (the partition table's epoch: it grows
//  whenever the partition changes owner) and a stream seq (1, 2, 3... per partition,
//  across all its executors).  A backup applies them in seq order and so holds
//  exactly the primary's rings as of some seq.
//
//  Wire format (one zmsg; integers big-endian; a string frame is its UTF-8 bytes
//  followed by one NUL, with no other NUL, so a decoded string points into the frame;
//  an absent optional string is an empty frame; names (executor, type, key, member)
//  are 1..ZDEX_REPLICA_NAME_MAX bytes; data is non-empty JSON text):
//
//      frame 0   topic: 'R' + u32 partition (5 bytes, so "R"+1 never prefixes "R"+12)
//      frame 1   header: u8 version (1), u8 op, u64 epoch, u64 seq
//      ADD            executor, u32 capacity, u32 sequence, u32 attempt,
//                     u8 flags (bit 0 discard_result), type, payload, key or empty
//      RESULT         executor, u32 sequence, u8 ok (0 or 1), data
//      DISPOSE        executor, u32 sequence
//      ATTEMPT        executor, u32 sequence, u32 attempt
//      HEAD           nothing (seq = the primary's latest seq; sent when idle)
//      SNAPSHOT_BEGIN nothing (seq = the seq the snapshot stands for, on all three)
//      SNAPSHOT_SLOT  executor, u32 capacity, u32 sequence, u8 state (1 PENDING,
//                     2 DONE_OK, 3 FAILED, 4 DISPOSED), u32 attempt, u8 flags,
//                     type (PENDING; else empty), data (DISPOSED: empty), key or empty
//      SNAPSHOT_END   per executor: executor, u32 capacity, u64 next sequence
//      ACK            member (backup → primary; seq = everything up to it applied)
//      FETCH          u64 to_seq (backup → primary; seq = from_seq, 0 = send a snapshot)
//      SCHED_PUT      scheduler, name, data (a scheduled task's replicated form, see
//                     zdex_sched_encode: inserted or replaced)
//      SCHED_DEL      scheduler, name (the task was disposed)
//      SNAPSHOT_SCHED scheduler, name, data (seq = the snapshot's, as SNAPSHOT_SLOT)
//
//  Scheduled tasks ride on their partition's stream so that one seq orders them
//  with the rings and one ack covers both.  The backup only stores their forms
//  (with the time it received each, since a form's due_in_ms counts from then);
//  the partition actor decodes them when it is promoted.
//
//  SNAPSHOT_END names every ring, even one with no slot left (all its tasks were
//  durable.execute), so that a promoted backup never issues a used sequence again.
//
//  Not thread safe; each object belongs to one partition actor.

#ifndef ZDEX_REPLICA_H_INCLUDED
#define ZDEX_REPLICA_H_INCLUDED

#include "zdex_ring.h"

#include <czmq.h>

#ifdef __cplusplus
extern "C" {
#endif

#define ZDEX_REPLICA_VERSION    1
#define ZDEX_REPLICA_TOPIC_SIZE 5    //  'R' + u32 partition
#define ZDEX_REPLICA_NAME_MAX   1024 //  as ZDEX_MAX_NAME_BYTES and member ids

typedef enum {
    ZDEX_REPLICA_ADD = 1,
    ZDEX_REPLICA_RESULT,
    ZDEX_REPLICA_DISPOSE,
    ZDEX_REPLICA_ATTEMPT,
    ZDEX_REPLICA_HEAD,
    ZDEX_REPLICA_SNAPSHOT_BEGIN,
    ZDEX_REPLICA_SNAPSHOT_SLOT,
    ZDEX_REPLICA_SNAPSHOT_END,
    ZDEX_REPLICA_ACK,
    ZDEX_REPLICA_FETCH,
    ZDEX_REPLICA_SCHED_PUT,
    ZDEX_REPLICA_SCHED_DEL,
    ZDEX_REPLICA_SNAPSHOT_SCHED
} zdex_replica_op_t;

#define ZDEX_REPLICA_OP_LAST ZDEX_REPLICA_SNAPSHOT_SCHED

//  A scheduled task as a backup holds it.
typedef struct {
    char *scheduler;     //  owned
    char *name;          //  owned
    char *data;          //  owned: the replicated form (JSON text)
    int64_t received_at; //  zclock_mono ms when the form arrived
} zdex_replica_record_t;

//  Create a record (copies the strings).  Caller owns.
zdex_replica_record_t *zdex_replica_record_new (const char *scheduler, const char *name,
                                                const char *data, int64_t received_at);

//  Destroy and null.  Null-safe.
void zdex_replica_record_destroy (zdex_replica_record_t **self_p);

//  A new list of records that destroys its records (caller owns).
zlistx_t *zdex_replica_record_list_new (void);

//  One ring's line in SNAPSHOT_END.
typedef struct {
    const char *executor;
    uint32_t capacity;
    uint64_t next_sequence;
} zdex_replica_next_t;

//  One replication message, decoded or to encode.  Which fields an op uses:
//      all        op, partition, epoch, seq
//      ADD        executor, capacity, slot (sequence, attempt, type, data = payload,
//                 idempotency_key, discard_result; state is implied PENDING)
//      RESULT     executor, slot (sequence, state DONE_OK or FAILED, data)
//      DISPOSE    executor, slot.sequence
//      ATTEMPT    executor, slot.sequence, slot.attempt
//      SNAPSHOT_SLOT  executor, capacity, slot (all of it)
//      SNAPSHOT_END   nexts, next_count
//      ACK        member
//      FETCH      seq = from_seq, to_seq
//      SCHED_PUT, SNAPSHOT_SCHED  executor = scheduler, name, data
//      SCHED_DEL  executor = scheduler, name
//  Other fields are ignored by encode and zeroed by decode.
typedef struct {
    zdex_replica_op_t op;
    uint32_t partition;
    uint64_t epoch;
    uint64_t seq;
    uint64_t to_seq;
    const char *executor;
    uint32_t capacity;
    zdex_ring_slot_t slot;
    const char *member;
    const char *name; //  SCHED_*: the task's name
    const char *data; //  SCHED_PUT, SNAPSHOT_SCHED: the task's form
    const zdex_replica_next_t *nexts;
    size_t next_count;
    void *owned; //  decoder's allocation (the nexts table); see zdex_replica_msg_reset
} zdex_replica_msg_t;

//  The topic frame of a partition, for zsock_set_subscribe and friends.
void zdex_replica_topic (uint32_t partition, byte topic[ZDEX_REPLICA_TOPIC_SIZE]);

//  Encode a message.  Returns a new zmsg (caller owns), or NULL when the message
//  breaks a rule the decoder enforces (unknown op, a missing or empty name, a
//  string that is not UTF-8 or holds a NUL, capacity 0, a wrong slot state...):
//  what encode produces always decodes.
zmsg_t *zdex_replica_encode (const zdex_replica_msg_t *msg);

//  Decode msg into *out, strictly: any wrong frame count or size, version, op,
//  flag bit, state, or a string with a NUL or invalid UTF-8 gives -1 (and *out is
//  zeroed).  Returns 0 on success.  The strings in *out point into msg's frames and
//  stay valid while msg lives unchanged; msg is not modified (its frame cursor
//  moves).  Call zdex_replica_msg_reset (out) when done: a SNAPSHOT_END allocates
//  its nexts table.  A message that decodes re-encodes to the same bytes.
int zdex_replica_decode (zmsg_t *msg, zdex_replica_msg_t *out);

//  The PUB form of a message (CLUSTER.md 6.1): every frame after the topic packed
//  into one, each as u32 length + bytes, so that the stream costs two ZeroMQ
//  frames per message instead of up to ten.  Returns the packed frame (caller
//  owns), or NULL as zdex_replica_encode.
zframe_t *zdex_replica_encode_packed (const zdex_replica_msg_t *msg);

//  Decode a message in its PUB form, the topic and the packed frame, with the
//  same rules as zdex_replica_decode; the strings in *out point into packed.
//  Takes the bytes, so that a backup decodes the frames where zmq received them.
int zdex_replica_decode_packed (const byte *topic, size_t topic_size, const byte *packed,
                                size_t packed_size, zdex_replica_msg_t *out);

//  Several ACKs of one backup in one frame (CLUSTER.md 6.1): 'A', the member id
//  and a NUL, then per partition u32 partition, u64 epoch, u64 seq.
typedef struct {
    uint32_t partition;
    uint64_t epoch;
    uint64_t seq;
} zdex_replica_ack_t;

#define ZDEX_REPLICA_ACK_ENTRY 20 //  encoded bytes per ACK

//  Encode count > 0 ACKs of member.  Returns the frame (caller owns), or NULL when
//  member is not a valid name.
zframe_t *zdex_replica_acks_encode (const char *member, const zdex_replica_ack_t *acks,
                                    size_t count);

//  Check frame as such a batch: returns the number of ACKs in it, with *member_p
//  pointing into the frame, or 0 when it is not a well-formed batch.
size_t zdex_replica_acks_decode (zframe_t *frame, const char **member_p);

//  The index-th ACK of a batch that zdex_replica_acks_decode accepted.
void zdex_replica_acks_entry (zframe_t *frame, size_t index, zdex_replica_ack_t *out);

//  Free what decode allocated in msg, and zero it.  Safe on any zeroed message.
void zdex_replica_msg_reset (zdex_replica_msg_t *msg);

//  Printable name of an op ("ADD", ...), or "?".
const char *zdex_replica_op_name (int op);

//  ---------------------------------------------------------------------------------
//  Backup side: the copy of one partition.

typedef struct _zdex_replica_t zdex_replica_t;

typedef enum {
    ZDEX_REPLICA_STATE_INITIAL = 0, //  holds nothing usable: needs a snapshot
    ZDEX_REPLICA_STATE_SYNCING,     //  installing a snapshot (BEGIN seen, END not yet)
    ZDEX_REPLICA_STATE_LIVE         //  equal to the primary as of applied()
} zdex_replica_state_t;

typedef enum {
    ZDEX_REPLICA_APPLIED = 0, //  applied (mutation, or a snapshot message)
    ZDEX_REPLICA_DUPLICATE,   //  seq <= applied (or HEAD with nothing new): ignored
    ZDEX_REPLICA_GAP,         //  seq > applied + 1, or HEAD ahead: not applied;
                              //  FETCH applied + 1 .. seq, then apply in order
    ZDEX_REPLICA_STALE_EPOCH, //  epoch below ours: an old primary; refused
    ZDEX_REPLICA_NEW_EPOCH,   //  epoch above ours, or nothing to apply it to
                              //  (INITIAL): not applied; resync by snapshot
    ZDEX_REPLICA_SYNCING,     //  a snapshot is being installed: not applied; drop
                              //  it (FETCH after SNAPSHOT_END) or keep it for then
    ZDEX_REPLICA_DIVERGED,    //  the next message does not fit our rings (or out of
                              //  memory): nothing applied; resync by snapshot.  In
                              //  a snapshot this abandons it (state INITIAL).
    ZDEX_REPLICA_IGNORED      //  another partition, an op backups do not apply
                              //  (ACK, FETCH), or snapshot parts not of the snapshot
                              //  being installed
} zdex_replica_result_t;

//  Create the empty copy of partition (INITIAL, epoch 0, applied 0).  Caller owns.
zdex_replica_t *zdex_replica_new (uint32_t partition);

//  Destroy (with the rings it still owns) and null.  Null-safe.
void zdex_replica_destroy (zdex_replica_t **self_p);

//  Apply one decoded message; see zdex_replica_result_t.  Never applies part of a
//  message, and never changes anything for a message of an older epoch.
zdex_replica_result_t zdex_replica_apply (zdex_replica_t *self, const zdex_replica_msg_t *msg);

//  Printable name of a result ("APPLIED", ...).
const char *zdex_replica_result_name (zdex_replica_result_t result);

zdex_replica_state_t zdex_replica_state (zdex_replica_t *self);
uint32_t zdex_replica_partition (zdex_replica_t *self);
uint64_t zdex_replica_epoch (zdex_replica_t *self);

//  Last stream seq applied (0 when INITIAL or SYNCING).
uint64_t zdex_replica_applied (zdex_replica_t *self);

//  The ring of an executor, or NULL.  The replica keeps ownership.
zdex_ring_t *zdex_replica_ring (zdex_replica_t *self, const char *executor);

//  Promotion: hand every ring over.  Returns a map executor name → zdex_ring_t *;
//  caller owns the map and the rings (the map does not destroy them: adopt or
//  destroy each, then destroy the map).  The replica is left INITIAL and empty
//  (its epoch stays, so older primaries are still refused).
zhashx_t *zdex_replica_take_rings (zdex_replica_t *self);

//  Promotion: hand the scheduled tasks over, as a list of records (caller owns; see
//  zdex_replica_record_list_new).  Call it before zdex_replica_take_rings, which
//  decides from the same state which copy (the live one, or the one kept during a
//  resync) is handed over and then empties the replica.
zlistx_t *zdex_replica_take_records (zdex_replica_t *self);

//  Scheduled tasks held now.
size_t zdex_replica_record_count (zdex_replica_t *self);

//  ---------------------------------------------------------------------------------
//  Primary side: the backlog that answers FETCH.

typedef struct _zdex_replica_log_t zdex_replica_log_t;

//  A backlog for partition keeping at most max_messages messages and (when
//  max_bytes > 0) at most max_bytes of them, oldest dropped first.  Epoch 0, last
//  seq 0 until reset.  Caller owns.
zdex_replica_log_t *zdex_replica_log_new (uint32_t partition, size_t max_messages,
                                          size_t max_bytes);

//  Destroy and null.  Null-safe.
void zdex_replica_log_destroy (zdex_replica_log_t **self_p);

//  Start a stream: this member became primary at epoch; the next message gets
//  seq last_seq + 1.  Drops the backlog.
void zdex_replica_log_reset (zdex_replica_log_t *self, uint64_t epoch, uint64_t last_seq);

uint64_t zdex_replica_log_epoch (zdex_replica_log_t *self);

//  Seq of the last message recorded (or reset's last_seq).
uint64_t zdex_replica_log_last (zdex_replica_log_t *self);

//  Messages held now.
size_t zdex_replica_log_size (zdex_replica_log_t *self);

//  Drop the messages with seq <= seq: every backup applied them, and a backup
//  that comes later starts from a snapshot, so nobody will FETCH them.  Without
//  this the backlog would keep up to its bounds per partition for good (4 KB of
//  member memory per stored task across 271 partitions).
void zdex_replica_log_trim (zdex_replica_log_t *self, uint64_t seq);

//  Record one mutation (ADD, RESULT, DISPOSE or ATTEMPT): stamps msg's partition,
//  epoch and seq (last + 1, also written back to msg->seq), encodes it, keeps it.
//  Returns a copy to publish (caller owns), or NULL when it does not encode
//  (nothing recorded, seq unchanged).
zmsg_t *zdex_replica_log_record (zdex_replica_log_t *self, zdex_replica_msg_t *msg);

//  As zdex_replica_log_record, in the PUB form (zdex_replica_encode_packed) and
//  without a copy: when the log keeps the message (*kept_p true) it returns the
//  log's own frame, which the caller may send with ZFRAME_REUSE before anything
//  else touches the log, and must not destroy; else the caller owns it.
zframe_t *zdex_replica_log_append (zdex_replica_log_t *self, zdex_replica_msg_t *msg, bool *kept_p);

//  Stamp msg (partition, epoch, next seq) as append does, without encoding or
//  keeping it: for a partition nobody backs up, whose log is empty (every entry
//  is trimmed as soon as it is published) and whose next backup starts from a
//  snapshot.  Drops what the log still holds.
void zdex_replica_log_skip (zdex_replica_log_t *self, zdex_replica_msg_t *msg);

//  A HEAD message for the last seq.  Caller owns.
zmsg_t *zdex_replica_log_head (zdex_replica_log_t *self);

//  Answer FETCH(epoch, from_seq, to_seq): a list of copies of the messages from
//  from_seq to min(to_seq, last), in order, possibly empty (the backup is up to
//  date).  Caller owns the list; destroying it destroys the messages left in it
//  (zlistx_detach (list, NULL) takes the first one out).  Returns NULL when only a
//  snapshot will do: another epoch, from_seq 0, from_seq dropped from the backlog,
//  or from_seq beyond last + 1.
zlistx_t *zdex_replica_log_fetch (zdex_replica_log_t *self, uint64_t epoch, uint64_t from_seq,
                                  uint64_t to_seq);

//  The snapshot of a partition's rings and scheduled tasks as they are at stream
//  seq `seq` of epoch: SNAPSHOT_BEGIN, one SNAPSHOT_SLOT per slot that is not stale
//  (rings in no particular order, slots in sequence order), one SNAPSHOT_SCHED per
//  record, SNAPSHOT_END.  rings maps executor name → zdex_ring_t * (not taken; its
//  cursor moves); records is NULL or a list of zdex_replica_record_t (not taken).
//  Caller owns the list, as for fetch.  Returns NULL when something does not encode.
zlistx_t *zdex_replica_snapshot (uint32_t partition, uint64_t epoch, uint64_t seq, zhashx_t *rings,
                                 zlistx_t *records);

//  ---------------------------------------------------------------------------------
//  Primary side: what the backups acknowledged.

typedef struct _zdex_replica_acks_t zdex_replica_acks_t;

//  A tracker for epoch with no backups.  Caller owns.
zdex_replica_acks_t *zdex_replica_acks_new (uint64_t epoch);

//  Destroy and null.  Null-safe.
void zdex_replica_acks_destroy (zdex_replica_acks_t **self_p);

//  A new epoch: every backup's ack goes back to 0.
void zdex_replica_acks_reset (zdex_replica_acks_t *self, uint64_t epoch);

//  The backups (from the partition table; distinct ids).  Members that stay keep
//  their acks, new ones start at 0, the others are forgotten: a backup that left
//  must not count towards durability.  Returns 0, or -1 (nothing changed) for a
//  duplicate, empty or overlong id.
int zdex_replica_acks_set_backups (zdex_replica_acks_t *self, const char **members, size_t count);

//  A backup acked (epoch, seq).  Returns 1 when its ack moved forward, 0 when it
//  did not (an older or repeated ack: acks are cumulative and never go back), -1
//  when the ack is refused (another epoch, or not one of the backups).
int zdex_replica_acks_update (zdex_replica_acks_t *self, const char *member, uint64_t epoch,
                              uint64_t seq);

//  A backup's acked seq (0 when unknown).
uint64_t zdex_replica_acks_acked (zdex_replica_acks_t *self, const char *member);

//  Has the backup acked at all in this epoch?  (A backup acks only once it holds
//  the partition, so an ack of seq 0 still means "I have all of it".)
bool zdex_replica_acks_heard (zdex_replica_acks_t *self, const char *member);

//  The highest seq acked by at least `needed` backups: every held reply with a seq
//  up to it can go.  needed <= 0 → UINT64_MAX; fewer backups than needed → 0.
uint64_t zdex_replica_acks_durable (zdex_replica_acks_t *self, int needed);

#ifdef __cplusplus
}
#endif

#endif
