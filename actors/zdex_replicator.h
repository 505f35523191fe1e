//  zdex_replicator: a partition actor's replication, primary and backup side.
//
//  Used from inside one partition actor (same thread).  For the partitions the
//  actor handles, it follows the partition table: for each partition this member
//  owns it keeps the stream (zdex_replica_log), the backups' acks and the replies
//  held until enough backups acknowledged; for each partition this member backs
//  up it keeps a zdex_replica fed from the owner's stream.
//
//  Sockets, all owned here:
//  - PUB  (bound): the replication stream of the partitions this actor owns;
//    topic 'R' + partition.
//  - ROUTER (bound, "control"): FETCH and ACK from backups; FETCH answers go back
//    on it.
//  - SUB: connected to every other member's PUBs, subscribed to the partitions
//    this actor backs up.
//  - one DEALER per remote control endpoint it talks to (FETCH, ACK).
//  A member advertises its actors' endpoints in the view as
//  "pub|control,pub|control,..." (actor 0 first); the actor for partition p on a
//  member with n actors is p mod n.
//
//  Backup state machine per partition: see zdex_replica (INITIAL → SYNCING →
//  LIVE).  GAP → FETCH the missing range; NEW_EPOCH or DIVERGED → FETCH from 0
//  (snapshot); one fetch outstanding per partition, retried after 500 ms.  HEAD
//  every 200 ms from the primary reveals a lost tail.  Messages from an epoch older
//  than the table's epoch for the partition are dropped (an old primary).

#ifndef ZDEX_REPLICATOR_H_INCLUDED
#define ZDEX_REPLICATOR_H_INCLUDED

#include "zdex_partition_table.h"
#include "zdex_replica.h"
#include "zdex_ring.h"
#include "zdex_waitset.h"

#include <czmq.h>
#include <jansson.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct _zdex_replicator_t zdex_replicator_t;

//  Callbacks into the partition actor.
typedef struct {
    //  This member became primary of partition; rings (executor → ring, may be
    //  NULL: no data) are handed over, the actor adopts them (and destroys the map);
    //  so are records (the scheduled tasks' forms, zdex_replica_record_t; may be
    //  NULL), which the actor installs and destroys.
    void (*promoted) (uint32_t partition, zhashx_t *rings, zlistx_t *records, void *arg);
    //  This member no longer owns partition: the actor drops its rings and answers
    //  the retrieves parked on it (they go to the new owner).
    void (*demoted) (uint32_t partition, void *arg);
    //  The actor's rings of partition, for a snapshot (executor → ring; the actor
    //  keeps ownership; the map is the caller's to destroy).
    zhashx_t *(*rings) (uint32_t partition, void *arg);
    //  The scheduled tasks of partition as of now, for a snapshot: a new list of
    //  zdex_replica_record_t (see zdex_replica_record_list_new) the caller destroys.
    zlistx_t *(*records) (uint32_t partition, void *arg);
    //  A held item is released: durable (ok) or the partition moved (!ok).
    void (*release) (void *item, bool ok, void *arg);
    //  Partition (owned at epoch) is moving to `target`, and the target holds
    //  everything this member ever acknowledged for it: the master may make it
    //  the owner.  Repeated about once a second until the table changes.
    void (*move_ready) (uint32_t partition, uint64_t epoch, const char *target, void *arg);
    void *arg;
} zdex_replicator_callbacks_t;

//  True while a moving partition hands over: the actor queues new requests for
//  it, to be sent to the new owner once the move completes (or handled here
//  when the pause ends without it).
bool zdex_replicator_paused (zdex_replicator_t *self, uint32_t partition);

//  Create; binds the PUB and control ROUTER on bind_host ("tcp://127.0.0.1").
//  Returns NULL if they cannot be bound.  Caller owns.
zdex_replicator_t *zdex_replicator_new (const char *member_id, const char *bind_host,
                                        int actor_index, int actor_count, uint32_t partition_count,
                                        const zdex_replicator_callbacks_t *callbacks);

//  Destroy and null; held items are released with ok = false.
void zdex_replicator_destroy (zdex_replicator_t **self_p);

//  "pub|control" as bound.
const char *zdex_replicator_endpoint (zdex_replicator_t *self);

//  Apply a new view and table (JSON texts from the membership actor).
void zdex_replicator_update (zdex_replicator_t *self, const char *table_json,
                             const char *view_json);

//  True when this member is the primary of partition (by the last table).
bool zdex_replicator_is_primary (zdex_replicator_t *self, uint32_t partition);

//  Seq of the last change published for partition (0 when not primary).
uint64_t zdex_replicator_last_seq (zdex_replicator_t *self, uint32_t partition);

//  Backups partition has by the last table.
size_t zdex_replicator_backups (zdex_replicator_t *self, uint32_t partition);

//  Record and publish one mutation of partition (msg->op ADD, RESULT, DISPOSE or
//  ATTEMPT; partition, epoch and seq are filled in).  Returns its stream seq, or 0
//  if it could not be recorded.
uint64_t zdex_replicator_publish (zdex_replicator_t *self, uint32_t partition,
                                  zdex_replica_msg_t *msg);

//  Hold item until `needed` backups acknowledged seq (released at once when
//  needed <= 0 or already durable).  Items are released in the order held.
void zdex_replicator_hold (zdex_replicator_t *self, uint32_t partition, uint64_t seq, int needed,
                           void *item);

//  Sockets to poll (up to max); returns the count.
size_t zdex_replicator_sockets (zdex_replicator_t *self, void **sockets, size_t max);

//  Handle what is waiting on the sockets (those the waitset names ready, when
//  there is one).
void zdex_replicator_recv (zdex_replicator_t *self);

//  The waitset of the loop that polls our sockets (borrowed; NULL: none): they
//  are read only when it names them ready, and touched on each send or connect.
void zdex_replicator_set_waitset (zdex_replicator_t *self, zdex_waitset_t *waitset);

//  Milliseconds until zdex_replicator_tick is due.
int zdex_replicator_timeout (zdex_replicator_t *self);

//  HEADs, fetch retries, acks.
void zdex_replicator_tick (zdex_replicator_t *self);

//  Test hook: drop every n-th stream message this actor publishes (0: none).
void zdex_replicator_set_drop_every (zdex_replicator_t *self, int n);

//  Tag the routing ids of the DEALERs this replicator opens (FETCH, ACK) with the
//  cluster's name: on a host where several clusters run, a DEALER of another
//  cluster's member with our id, reconnecting to a port a dead member had, would
//  otherwise own that routing id on the control ROUTER of whoever binds the port
//  next, and our FETCHes there would be refused.  Call before the first update.
void zdex_replicator_set_cluster_name (zdex_replicator_t *self, const char *name);

//  Test hook: publish the periodic HEAD every ms milliseconds (default 200), so a
//  test can tell a repair by the early HEADs from one by the periodic HEAD.
void zdex_replicator_set_head_ms (zdex_replicator_t *self, int ms);

#ifdef __cplusplus
}
#endif

#endif
