//  zdex_partition: a partition actor, owning the task rings of a set of partitions.
//
//  The broker starts a few of these (partition_threads) and sends each request to
//  the actor that owns the request's partition; partition p belongs to actor
//  p mod partition_threads.  See zdex_partition.c for the state machine.
//
//  Pipe commands (broker → actor), each a picture "sp" (command, pointer) whose
//  pointer the actor takes over:
//      "CALL"   zdex_call_t *  a validated client request for one of its partitions
//      "RESULT" zdex_job_t *   a finished job (state DONE) from the dispatcher
//      "DROP"   zdex_job_t *   dispose a task that will not start (shutdown_now)
//  and string commands: "ENDPOINT" (reply: "pub|control" of its replication
//  sockets), "CLUSTER" table-json view-json (a new partition table or view), "$TERM".
//
//  Scheduled ops come as "CALL" too (see zdex_scheduled.h); the member bin lives
//  in actor 0.
//
//  Output (actor → broker) on a PUSH socket connected to the broker's collector:
//      "COUNT"  + scheduler + signed decimal: the scheduled tasks this member holds
//               for it changed by that much (per-member capacity)
//      "REPLY"  + the client's envelope frames + one reply frame
//      "DISPATCH" + pointer to a zdex_job_t (QUEUED) the broker hands to the dispatcher
//      "CANCEL" + executor + task id (decimal): the task was disposed before its result

#ifndef ZDEX_PARTITION_H_INCLUDED
#define ZDEX_PARTITION_H_INCLUDED

#include "zdex_job.h"
#include "zdex_proto.h"

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

//  What a partition actor is started with (copied by the actor).
typedef struct {
    int index; //  this actor's number
    uint32_t partition_count;
    const char *output_endpoint; //  the broker's collector (inproc PULL)
    size_t max_parked;           //  parked retrieves this actor may hold
    int actor_count;             //  partition actors of this member
    const char *member_id;       //  this member
    const char *bind_host;       //  where replication sockets bind, e.g. "tcp://127.0.0.1"
    int drop_every;              //  test hook: drop every n-th replication message (0: none)
    bool verbose;
} zdex_partition_args_t;

//  Start a partition actor.  Caller owns; destroy with zactor_destroy.
zactor_t *zdex_partition_new (const zdex_partition_args_t *args);

#ifdef __cplusplus
}
#endif

#endif
