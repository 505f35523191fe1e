//  zdex_cluster: the broker's window on the cluster.
//
//  Owns the membership actor (zdex_membership), the current view and partition
//  table, and one DEALER per other member used to forward requests to the owner of
//  their partition and to fan member-wide ops (shutdown, shutdown_now, stats) out
//  to every member.  Runs in the broker thread; replies go out on the broker's
//  client ROUTER, which it borrows.
//
//  A forwarded request travels on a DEALER whose identity starts with
//  ZDEX_CLUSTER_FORWARD_PREFIX and a tag of the cluster's name (a member of another
//  cluster that got a dead member's port is refused); the member receiving it
//  answers for itself only
//  (no second hop, no fan-out), and answers UNAVAILABLE when it does not own the
//  partition by its own table, so a request never loops while tables converge.

#ifndef ZDEX_CLUSTER_H_INCLUDED
#define ZDEX_CLUSTER_H_INCLUDED

#include "zdex_partition_table.h"
#include "zdex_proto.h"
#include "zdex_waitset.h"

#include <czmq.h>
#include <jansson.h>

#ifdef __cplusplus
extern "C" {
#endif

#define ZDEX_CLUSTER_FORWARD_PREFIX "zdex-fwd:"

typedef struct _zdex_cluster_t zdex_cluster_t;

typedef struct {
    const char *member_id;
    const char *cluster_name;         //  NULL: "zdex"
    const char *cluster_endpoint;     //  to bind
    const char *client_endpoint;      //  bound, advertised
    const char *worker_endpoint;      //  bound, advertised
    const char *replication_endpoint; //  advertised (may be "")
    zlist_t *seeds;                   //  of cluster endpoints (borrowed)
    int heartbeat_ms;
    int timeout_ms;
    bool rebalance; //  the master moves primaries (data first) to balance them
    uint32_t partition_count;
    size_t max_backups;
    size_t max_pending; //  forwarded requests waiting for an answer
    zsock_t *client;    //  the broker's client ROUTER (borrowed)
    //  The broker's waitset (borrowed; NULL: none): our sockets are read only when
    //  it names them ready, and they and the client are touched on each send.
    zdex_waitset_t *waitset;
    bool verbose;
} zdex_cluster_args_t;

//  Called whenever a new partition table or view is installed, with both as JSON
//  text (table_json NULL until the first table).
typedef void (zdex_cluster_table_fn) (const char *table_json, const char *view_json, void *arg);

//  Start membership.  Returns NULL with a message in error when the member cannot
//  join (bad id, cluster endpoint cannot be bound).  Caller owns.
zdex_cluster_t *zdex_cluster_new (const zdex_cluster_args_t *args, zdex_cluster_table_fn *on_table,
                                  void *arg, char *error, size_t error_size);

//  Stop membership (without LEAVE this looks like a crash to the others) and
//  answer every forwarded request still waiting with UNAVAILABLE.
void zdex_cluster_destroy (zdex_cluster_t **self_p);

//  The bound cluster endpoint.
const char *zdex_cluster_endpoint (zdex_cluster_t *self);

//  Handle whatever is waiting on the membership pipe and the peer sockets.
void zdex_cluster_recv (zdex_cluster_t *self);

//  Sockets to poll (the membership pipe and the peers); valid until the next recv.
//  Fills up to max entries, returns the count.
size_t zdex_cluster_sockets (zdex_cluster_t *self, void **sockets, size_t max);

//  Milliseconds until zdex_cluster_tick must run (-1: nothing timed).
int zdex_cluster_timeout (zdex_cluster_t *self);

//  Expire fan-outs that waited too long.
void zdex_cluster_tick (zdex_cluster_t *self);

//  NULL when this member may answer for its partitions, else why not: no
//  partition table yet; removed from the view and not yet given a table in the
//  new one; or nothing heard from the other members of the view for longer than
//  a member stays in it silent (this process was paused, or is cut off: the
//  cluster may have given its partitions to others meanwhile).
const char *zdex_cluster_not_ready (zdex_cluster_t *self);

//  True when this member owns partition by the current table.
bool zdex_cluster_owns (zdex_cluster_t *self, uint32_t partition);

//  Who sent a request, by its identity frame: 0 a client, 1 a member of this
//  cluster forwarding it, -1 a member of another cluster (on a host where several
//  run, a dead member's client port can be bound again by another cluster's member
//  before the view drops the dead one; its forwards must not be answered from our
//  rings).
int zdex_cluster_forwarder (zdex_cluster_t *self, zframe_t *identity);

//  Send request to the owner of partition and relay its answer to the client of
//  envelope.  Takes envelope; request is borrowed (its "req" is rewritten).
void zdex_cluster_forward (zdex_cluster_t *self, uint32_t partition, zmsg_t **envelope_p,
                           zdex_request_t *request);

//  Send a member-wide op to every other member, merge their answers into
//  local_reply (the members of this member's own success reply: "members" for
//  stats, "not_started" for shutdown_now; takes it) and answer the client once all
//  answered or 3 s passed.  Takes envelope; request borrowed.
void zdex_cluster_fan_out (zdex_cluster_t *self, zmsg_t **envelope_p, zdex_request_t *request,
                           json_t *local_reply);

//  As fan_out, to the members named in targets (a JSON array of ids, borrowed;
//  this member included if listed: it answers its own forwarded share) instead of
//  every other member.  For scheduled.schedule the first member's error, if any,
//  is the answer.
void zdex_cluster_fan_out_to (zdex_cluster_t *self, zmsg_t **envelope_p, zdex_request_t *request,
                              json_t *local_reply, json_t *targets);

//  Send request to one member (this one too) and relay its answer.  Takes
//  envelope; request borrowed.
void zdex_cluster_forward_to (zdex_cluster_t *self, const char *member_id, zmsg_t **envelope_p,
                              zdex_request_t *request);

//  True when the member is in the current view.
bool zdex_cluster_has_member (zdex_cluster_t *self, const char *id);

//  Members in the current view.
size_t zdex_cluster_member_count (zdex_cluster_t *self);

//  cluster.members reply members (caller owns).
json_t *zdex_cluster_members (zdex_cluster_t *self);

//  Tell the master we leave (graceful stop).
void zdex_cluster_leave (zdex_cluster_t *self);

//  Partitions with a move in progress, in the installed table.
size_t zdex_cluster_moving (zdex_cluster_t *self);

//  One of the partitions this member owns, chosen by `random`, or UINT32_MAX
//  when it owns none (a keyless submit goes where no forwarding is needed).
uint32_t zdex_cluster_pick_owned (zdex_cluster_t *self, uint64_t random);

//  A partition actor reports that the move of partition (decimal, owned at
//  epoch, decimal) to target can complete: passed to the master.
void zdex_cluster_move_ready (zdex_cluster_t *self, const char *partition, const char *epoch,
                              const char *target);

//  Start a graceful leave: this member's partitions move to the others first
//  (bounded in time), then it leaves the view; zdex_cluster_drained says when.
void zdex_cluster_drain (zdex_cluster_t *self);

//  True once the graceful leave started by zdex_cluster_drain is over.
bool zdex_cluster_drained (zdex_cluster_t *self);

#ifdef __cplusplus
}
#endif

#endif
