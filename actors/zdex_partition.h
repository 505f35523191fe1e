//  zdex_partition: the partitions' state (task rings, parked retrieves, replication,
//  scheduled tasks) of a member, or of one share of them.
//
//  A zdex_partition_t is driven by one thread only.  Either the broker drives it
//  itself (partition_threads 0: no thread hand-off on a task's path), or the broker
//  starts partition_threads actors, each a thread around one zdex_partition_t, and
//  sends each request to the actor that owns the request's partition (partition p
//  belongs to actor p mod partition_threads).  See zdex_partition.c for the state
//  machine.
//
//  Actor pipe commands (broker → actor), each a picture "sp" (command, pointer)
//  whose pointer the actor takes over:
//      "CALL"   zdex_call_t *  a validated client request for one of its partitions
//      "RESULT" zdex_job_t *   a finished job (state DONE) from the dispatcher
//      "DROP"   zdex_job_t *   dispose a task that will not start (shutdown_now)
//  and string commands: "ENDPOINT" (reply: "pub|control" of its replication
//  sockets), "CLUSTER" table-json view-json (a new partition table or view),
//  "SCHED_SHUTDOWN" scheduler, "SCHED_LIST" scheduler (reply: JSON array of URNs),
//  "$TERM".  Each maps to one zdex_partition_* function below.
//
//  Scheduled ops come as "CALL" too (see zdex_scheduled.h); the member bin lives
//  in actor 0.
//
//  Output (partition → broker) on a PUSH socket connected to the broker's
//  collector; with partition_threads 0, REPLY and DISPATCH, the two sent for every
//  task, go instead to the broker's sink functions (zdex_partition_sink_t), called
//  in place: the collector would cost each an inproc message and a wake-up of the
//  thread that sent it.
//      "COUNT"  + scheduler + signed decimal: the scheduled tasks this member holds
//               for it changed by that much (per-member capacity)
//      "REPLY"  + the client's envelope frames + one reply frame
//      "DISPATCH" + pointer to a zdex_job_t (QUEUED) the broker hands to the dispatcher
//      "CANCEL" + executor + task id (decimal): the task was disposed before its result
//      "REROUTE" + pointer to a zdex_call_t whose partition moved away
//      "READY" + partition + epoch + target: a move's target caught up
#ifndef ZDEX_PARTITION_H_INCLUDED
#define ZDEX_PARTITION_H_INCLUDED

#include "zdex_job.h"
#include "zdex_proto.h"
#include "zdex_waitset.h"

#include <czmq.h>

#ifdef __cplusplus
extern "C" {
#endif

//  A client request on its way to a partition actor.
typedef struct {
    zmsg_t *envelope;        //  owned: identity frame(s) and delimiter, if any
    zdex_request_t *request; //  owned
    uint32_t partition;      //  where the request goes
    uint32_t capacity;       //  ring capacity for the executor (from its config);
                             //  scheduled: the scheduler's capacity (0: unlimited)
    int durability;          //  backups that must hold a change before the reply
    //  Scheduled ops only
    bool member_bin;    //  the task lives in this member's own bin (partition unused)
    bool per_partition; //  capacity counts per partition, else per member
    bool reserved;      //  per member: the broker counted this schedule in already
    bool permit;        //  per member: the broker found room for it
} zdex_call_t;

//  Create a call; takes ownership of envelope and request.
zdex_call_t *zdex_call_new (zmsg_t **envelope_p, zdex_request_t **request_p, uint32_t partition,
                            uint32_t capacity, int durability);

//  Destroy and null.
void zdex_call_destroy (zdex_call_t **self_p);

//  Where replies and jobs go when the broker's own thread drives the partitions.
//  reply takes the client's envelope and the reply frame; dispatch takes a job
//  (QUEUED) for the dispatcher.  Neither may call back into the partitions.
typedef void (zdex_partition_reply_fn) (void *arg, zmsg_t **envelope_p, zframe_t **frame_p);
typedef void (zdex_partition_dispatch_fn) (void *arg, zdex_job_t **job_p);

typedef struct {
    zdex_partition_reply_fn *reply;       //  NULL: REPLY on the output socket
    zdex_partition_dispatch_fn *dispatch; //  NULL: DISPATCH on the output socket
    void *arg;
} zdex_partition_sink_t;

//  Output a reply (the client's envelope and the reply frame, both taken) to the
//  broker: through the sink's reply function when it has one, else as REPLY on
//  output.  Shared by the partitions and their scheduled store.
void zdex_partition_output_reply (const zdex_partition_sink_t *sink, zsock_t *output,
                                  zmsg_t **envelope_p, zframe_t *frame);

//  Output a job (taken) for the dispatcher: through the sink's dispatch function
//  when it has one, else as DISPATCH on output.
void zdex_partition_output_dispatch (const zdex_partition_sink_t *sink, zsock_t *output,
                                     zdex_job_t *job);

//  What a partition actor is started with (copied by the actor).
typedef struct {
    int index; //  this actor's number
    uint32_t partition_count;
    const char *output_endpoint; //  the broker's collector (inproc PULL)
    size_t max_parked;           //  parked retrieves this actor may hold
    int actor_count;             //  partition actors of this member
    const char *member_id;       //  this member
    const char *cluster_name;    //  tags our replication DEALERs' routing ids (NULL: "zdex")
    const char *bind_host;       //  where replication sockets bind, e.g. "tcp://127.0.0.1"
    int drop_every;              //  test hook: drop every n-th replication message (0: none)
    int head_ms;                 //  test hook: HEAD period in ms (0: the default, 200)
    bool verbose;
    zdex_partition_sink_t sink; //  partition_threads 0 only: an actor has no sink
    //  The waitset that polls our replication sockets (borrowed; see
    //  zdex_waitset.h): the broker's with partition_threads 0; an actor makes its own.
    zdex_waitset_t *waitset;
} zdex_partition_args_t;

typedef struct _zdex_partition_t zdex_partition_t;

//  Create the state of the partitions args names; binds its replication sockets
//  and connects its output to args->output_endpoint.
zdex_partition_t *zdex_partition_new (const zdex_partition_args_t *args);

//  Destroy and null.  Parked and held requests are answered UNAVAILABLE on the
//  output first.
void zdex_partition_destroy (zdex_partition_t **self_p);

//  "pub|control": the endpoints of the replication sockets.
const char *zdex_partition_endpoint (zdex_partition_t *self);

//  A validated client request for one of its partitions; takes ownership.
void zdex_partition_call (zdex_partition_t *self, zdex_call_t *call);

//  A finished job from the dispatcher, or (drop) a task that will not start;
//  takes ownership.
void zdex_partition_job (zdex_partition_t *self, zdex_job_t *job, bool drop);

//  A new partition table and view.
void zdex_partition_cluster (zdex_partition_t *self, const char *table_json, const char *view_json);

//  Stop the scheduled tasks of a scheduler / list their URNs (JSON array text,
//  caller frees).
void zdex_partition_sched_shutdown (zdex_partition_t *self, const char *scheduler);
char *zdex_partition_sched_list (zdex_partition_t *self, const char *scheduler);

//  The sockets to poll for input (replication), at most max; returns the count.
//  They change as members come and go: ask before every poll.
size_t zdex_partition_sockets (zdex_partition_t *self, void **sockets, size_t max);

//  Read the replication sockets, run timers (held-reply resends, parked
//  retrieves' and scheduled tasks' deadlines); returns the milliseconds until it
//  needs to run again (-1: only when input arrives).  Call after every poll.
int zdex_partition_work (zdex_partition_t *self);

//  Start an actor (a thread) around a zdex_partition_t.  Caller owns; destroy
//  with zactor_destroy.
zactor_t *zdex_partition_actor_new (const zdex_partition_args_t *args);

#ifdef __cplusplus
}
#endif

#endif
