//  zdex_dispatcher: hands stored tasks to workers and brings their results back.
//
//  Runs inside the broker thread and drives the member's worker endpoint (a ROUTER
//  that worker DEALERs connect to).  It keeps:
//  - workers by connection identity: the task types each serves, its slots, the
//    jobs it runs, when it was last heard from and last sent to;
//  - one FIFO queue per (executor, task type) of jobs waiting for a worker;
//  - every job it owns by "<task_id>/<executor>", queued or running.
//
//  Dispatch rule: a queued job goes to a worker that serves its type and has a free
//  slot, while its executor has fewer than pool_size jobs running on this member.
//  A worker silent for timeout_ms is dead: its jobs go back to the front of their
//  queues with attempt + 1, and a late result from it (or any result whose attempt
//  is not the job's current one) is dropped.  Every job's result is handed back,
//  with the job, through the deliver callback.  Statistics are updated before the
//  job is delivered, so a client that sees the result also sees the counters.
//
//  Not thread safe: owned by the broker thread.

#ifndef ZDEX_DISPATCHER_H_INCLUDED
#define ZDEX_DISPATCHER_H_INCLUDED

#include "zdex_job.h"
#include "zdex_proto.h"
#include "zdex_registry.h"
#include "zdex_waitset.h"

#include <czmq.h>
#include <jansson.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct _zdex_dispatcher_t zdex_dispatcher_t;

//  Receives a finished job (state DONE, ok and result set); takes ownership.  It is
//  called last in the handling of a result (the job's slot is free again), so it
//  may call zdex_dispatcher_submit: the partitions on the broker's thread dispatch
//  from inside it.
typedef void (zdex_dispatcher_deliver_fn) (zdex_job_t *job, void *arg);

//  Create a dispatcher on router (borrowed: the worker endpoint).  Caller owns.
zdex_dispatcher_t *zdex_dispatcher_new (zsock_t *router, zdex_registry_t *registry,
                                        const zdex_limits_t *limits, int heartbeat_ms,
                                        int timeout_ms, zdex_dispatcher_deliver_fn *deliver,
                                        void *deliver_arg);

//  Destroy and null; frees every job it still owns.
void zdex_dispatcher_destroy (zdex_dispatcher_t **self_p);

//  Handle every message waiting on the worker endpoint (non-blocking), if the
//  waitset (when there is one) names it ready.
void zdex_dispatcher_recv (zdex_dispatcher_t *self);

//  Send the worker.task frames that the calls since the last flush handed out:
//  they wait for it so that one worker's tasks of a pass leave together, in
//  messages of up to its worker.ready's "batch" frames.  Call once per pass of
//  the loop, after everything that may submit or receive.
void zdex_dispatcher_flush (zdex_dispatcher_t *self);

//  The waitset of the loop that drives this dispatcher (borrowed; NULL: none):
//  the worker endpoint is read only when it names it ready, and touched on each
//  send (see zdex_waitset.h).
void zdex_dispatcher_set_waitset (zdex_dispatcher_t *self, zdex_waitset_t *waitset);

//  Take a job to run (state QUEUED); takes ownership and nulls *job_p.  The job's
//  executor must exist in the registry.
void zdex_dispatcher_submit (zdex_dispatcher_t *self, zdex_job_t **job_p);

//  A task was disposed: drop it if still queued (counted as cancelled), or drop its
//  result when it comes back if running.
void zdex_dispatcher_cancel (zdex_dispatcher_t *self, const char *executor, uint64_t task_id);

//  Remove every queued job of executor (shutdown_now).  Returns a JSON array of
//  their task ids (caller owns); they count as cancelled.
json_t *zdex_dispatcher_drain (zdex_dispatcher_t *self, zdex_executor_t *executor);

//  Heartbeats and expiry; call when zdex_dispatcher_timeout says so.
void zdex_dispatcher_tick (zdex_dispatcher_t *self);

//  Milliseconds until tick should run (-1: no worker, nothing to time).
int zdex_dispatcher_timeout (zdex_dispatcher_t *self);

//  Jobs waiting for a worker on this member, all executors.
size_t zdex_dispatcher_queued (zdex_dispatcher_t *self);

//  The cluster's worker endpoints changed: endpoints is a JSON array of strings
//  (borrowed).  Workers that asked to discover members (worker.ready "discover")
//  get {"op":"worker.members","endpoints":[...]} now and whenever it changes, and
//  when they register.
void zdex_dispatcher_set_members (zdex_dispatcher_t *self, json_t *endpoints);

//  Number of connected workers.
size_t zdex_dispatcher_worker_count (zdex_dispatcher_t *self);

//  Connected workers: [{"id","name","types","slots","running"}].  Caller owns.
json_t *zdex_dispatcher_workers (zdex_dispatcher_t *self);

#ifdef __cplusplus
}
#endif

#endif
