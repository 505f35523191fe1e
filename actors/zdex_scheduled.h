//  zdex_scheduled: the scheduled executor inside a partition actor.
//
//  Each partition actor owns one: the scheduled tasks of the partitions it owns as
//  primary (and, in actor 0, the member bin of member-owned tasks), the gets parked
//  on them, and their timers.  It runs in the actor's thread and talks to the rest
//  of the member only through the actor's output socket (replies, jobs for the
//  dispatcher, per-member task counts; replies and jobs through the broker's sink
//  instead when it has one) and the actor's replicator (every change
//  of a partition-owned task is published on its partition's stream as the task's
//  whole replicated form; the reply or the wake-up that reports it is held until
//  the backups acknowledged it, through the hold callback).
//
//  See zdex_sched.h for a task's life; here is what each op does:
//      schedule  duplicate name → DUPLICATE_TASK; capacity → REJECTED; else add,
//                publish, reply the handler once durable (member bin: at once)
//      get       outcome stored and durable → answer; else park (bounded,
//                timeout_ms); woken by the outcome, cancel, dispose, demotion
//      cancel    outcome CANCELLED if none yet; a run in progress goes on
//      dispose   removed; parked gets answered STALE_TASK
//      status    done, cancelled, remaining delay, stats
//  Due tasks become jobs (ref: the handler URN; task_id: the run number); a job's
//  result is applied only to the run it belongs to.

#ifndef ZDEX_SCHEDULED_H_INCLUDED
#define ZDEX_SCHEDULED_H_INCLUDED

#include "zdex_job.h"
#include "zdex_partition.h"
#include "zdex_replicator.h"
#include <czmq.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct _zdex_scheduled_t zdex_scheduled_t;

//  Hold a reply (envelope + frame, req_text for the UNAVAILABLE answer) or the
//  wake-up of the gets parked on urn until the change at seq of partition is held
//  by `needed` backups.  Takes envelope, frame, req_text (each may be NULL).
typedef void (zdex_scheduled_hold_fn) (void *arg, uint32_t partition, uint64_t seq, int needed,
                                       zmsg_t **envelope_p, zframe_t *frame, char **req_text_p,
                                       const char *urn);

typedef struct {
    zsock_t *output;               //  borrowed: the actor's PUSH to the broker
    zdex_partition_sink_t sink;    //  replies and jobs, when set (see zdex_partition.h)
    zdex_replicator_t *replicator; //  borrowed
    const char *member_id;         //  copied
    size_t max_parked;             //  parked gets this actor may hold
    bool verbose;
    zdex_scheduled_hold_fn *hold;
    void *arg;
} zdex_scheduled_args_t;

//  Create.  Caller owns.
zdex_scheduled_t *zdex_scheduled_new (const zdex_scheduled_args_t *args);

//  Destroy and null; parked gets are answered UNAVAILABLE (the member stops).
void zdex_scheduled_destroy (zdex_scheduled_t **self_p);

//  A scheduled op for one of our partitions or the member bin.  Takes the call.
void zdex_scheduled_call (zdex_scheduled_t *self, zdex_call_t **call_p);

//  A finished run from the dispatcher.  Takes the job.
void zdex_scheduled_result (zdex_scheduled_t *self, zdex_job_t **job_p);

//  Start the runs that are due and expire parked gets.  Returns the poll timeout
//  until the next due time (-1: none).
int zdex_scheduled_tick (zdex_scheduled_t *self);

//  A held wake-up was released: the outcome of urn is durable (ok) or the
//  partition moved (!ok).
void zdex_scheduled_release (zdex_scheduled_t *self, const char *urn, bool ok);

//  We became primary of partition: install the backup's records (takes them; NULL
//  is fine).
void zdex_scheduled_promoted (zdex_scheduled_t *self, uint32_t partition, zlistx_t **records_p);

//  We no longer own partition.
void zdex_scheduled_demoted (zdex_scheduled_t *self, uint32_t partition);

//  The records of partition for a snapshot (caller owns the list).
zlistx_t *zdex_scheduled_records (zdex_scheduled_t *self, uint32_t partition);

//  A scheduler was shut down on this member: its tasks stop firing.
void zdex_scheduled_shutdown (zdex_scheduled_t *self, const char *scheduler);

//  The handler URNs of the tasks of scheduler held here as primary or in the
//  member bin, appended to urns (a JSON array).
void zdex_scheduled_list (zdex_scheduled_t *self, const char *scheduler, json_t *urns);

#ifdef __cplusplus
}
#endif

#endif
