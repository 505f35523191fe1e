//  zdex_worker: a worker process's side of the worker protocol.
//
//  A worker registers a handler per task type, connects to the worker endpoint of
//  one or more members (one DEALER each) and runs.  zdex_worker_run sends
//  worker.ready to every member, then runs tasks on `slots` executor threads, so up
//  to `slots` handlers run at once and a slow handler never delays heartbeats.
//  Handlers registered inline (zdex_worker_handle_inline) are the exception: short,
//  non-blocking ones that run in the loop itself, which saves the hand-off to an
//  executor thread and back, and take no slot.  A member that stays silent for the
//  heartbeat timeout, or that answers worker.bye, gets a fresh socket and a new
//  worker.ready; results of tasks it gave the old socket are dropped, since the
//  member has re-dispatched them.  Each member may
//  have `slots` tasks outstanding here, so with several members, tasks queue
//  locally until a slot is free.  Durable tasks and runs of scheduled tasks arrive
//  alike; the task's ref is echoed verbatim, never interpreted.  A scheduled task's
//  `state` reaches handlers registered with zdex_worker_handle_stateful.
//
//  Threads: everything but the handlers runs in the thread that calls
//  zdex_worker_run; handlers run in the executor threads, inline handlers in the
//  thread of zdex_worker_run.  Register handlers and set options before
//  zdex_worker_run; zdex_worker_stop, zdex_worker_stopped and zdex_worker_tasks_done
//  may be called from any thread (stop also from a signal handler).

#ifndef ZDEX_WORKER_H_INCLUDED
#define ZDEX_WORKER_H_INCLUDED

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define ZDEX_WORKER_DEFAULT_ENDPOINT "tcp://127.0.0.1:5571"

typedef struct _zdex_worker_t zdex_worker_t;

//  A task handler, called in an executor thread (an inline one: in the thread of
//  zdex_worker_run).  type and payload are borrowed and valid during the call
//  (payload is json null when the task has none; take a reference with json_incref
//  to keep or return part of it).  On success return 0
//  and set *value_p to the result (ownership passes to the library; NULL means
//  json null).  On failure return -1 and set *error_p to a malloc'ed message (the
//  library frees it; NULL gives "task failed").  Handlers of different slots run
//  concurrently (inline ones alongside them, one at a time), so arg must be safe to
//  share.
typedef int (zdex_worker_fn) (const char *type, json_t *payload, json_t **value_p, char **error_p,
                              void *arg);

//  A stateful task handler, for scheduled tasks that carry state from one run to
//  the next (the member sends the task's last state with each run, and keeps it
//  across failover).  Called as zdex_worker_fn, plus: state is the state the member
//  sent (borrowed, valid during the call; NULL when the task has none yet, e.g. on
//  its first run).  To replace it, set *state_p to the new state (ownership passes
//  to the library); it goes back with the result, success or failure.  Leaving
//  *state_p NULL sends no state, and the member keeps the old one.  A result frame
//  above the max_result limit is sent as a failure without state.
typedef int (zdex_worker_state_fn) (const char *type, json_t *payload, json_t *state,
                                    json_t **value_p, json_t **state_p, char **error_p, void *arg);

//  Optional observer called in the handler's thread just before a handler runs:
//  the task's type, attempt (-1 if the member sent none) and ref as compact JSON
//  (all borrowed, valid during the call).
typedef void (zdex_worker_task_fn) (const char *type, int64_t attempt, const char *ref_json,
                                    void *arg);

//  Optional callback called once, in the thread of zdex_worker_run, after the first
//  worker.ready has been queued to every member.
typedef void (zdex_worker_ready_fn) (zdex_worker_t *worker, void *arg);

//  Create a worker.  name (copied; may be NULL) is sent in worker.ready.
//  Caller owns the worker.
zdex_worker_t *zdex_worker_new (const char *name);

//  Destroy the worker and null the pointer.  Null-safe.  Not while it runs.
void zdex_worker_destroy (zdex_worker_t **self_p);

//  Add a member worker endpoint (copied), e.g. "tcp://127.0.0.1:5571".  Returns 0,
//  or -1 if the endpoint is invalid.
int zdex_worker_connect (zdex_worker_t *self, const char *endpoint);

//  Number of tasks run at once (executor threads), >= 1; default 1.  Tasks of
//  inline handlers are not counted: they take no slot.  While the worker runs, each
//  slot holds a file descriptor (a ZeroMQ socket to its thread); zdex_worker_run
//  raises the process's soft RLIMIT_NOFILE, up to the hard limit, if it leaves
//  fewer than 1024 others.
void zdex_worker_set_slots (zdex_worker_t *self, int slots);

//  Heartbeat interval and peer timeout in ms; defaults 1000 and 3000.
//  Requires 0 < interval_ms < timeout_ms.
void zdex_worker_set_heartbeat (zdex_worker_t *self, int interval_ms, int timeout_ms);

//  Largest result frame sent, in bytes; default 512 KiB.  A larger result is sent
//  as a failure ("result too large") instead, so that the member never drops the
//  connection for an oversized frame.
void zdex_worker_set_max_result (zdex_worker_t *self, size_t max_bytes);

//  Register fn for tasks of type (copied, non-empty); replaces an earlier handler of
//  the same type.  Returns 0, or -1 if type is empty or the worker is running.  A
//  plain handler never sees a task's state and never changes it.
int zdex_worker_handle (zdex_worker_t *self, const char *type, zdex_worker_fn *fn, void *arg);

//  As zdex_worker_handle, for a stateful handler.
int zdex_worker_handle_stateful (zdex_worker_t *self, const char *type, zdex_worker_state_fn *fn,
                                 void *arg);

//  As zdex_worker_handle, but fn runs inline: in the thread that called
//  zdex_worker_run, as soon as the task is read, and its result goes straight back
//  to the member, with no hand-off to an executor thread.  Such tasks never wait
//  for a slot and take none.  Only for handlers that are short and never block:
//  while one runs, the worker reads no other task, forwards no other result and
//  sends no heartbeat.  Otherwise the same contract: arguments, result and error
//  encoding, max_result, the task observer (called in the same thread) and
//  zdex_worker_tasks_done.  Inline handlers run one at a time, but alongside the
//  executor handlers.
int zdex_worker_handle_inline (zdex_worker_t *self, const char *type, zdex_worker_fn *fn,
                               void *arg);

//  As zdex_worker_handle_stateful, for a stateful handler that runs inline (see
//  zdex_worker_handle_inline).
int zdex_worker_handle_stateful_inline (zdex_worker_t *self, const char *type,
                                        zdex_worker_state_fn *fn, void *arg);

//  Set the observer called before each handler (NULL: none).
void zdex_worker_set_task_fn (zdex_worker_t *self, zdex_worker_task_fn *fn, void *arg);

//  Set the callback called once the first worker.ready messages are queued.
void zdex_worker_set_ready_fn (zdex_worker_t *self, zdex_worker_ready_fn *fn, void *arg);

//  Run until zdex_worker_stop or SIGINT/SIGTERM (zsys_interrupted).  On stop, sends
//  worker.bye to every member, waits for the handlers still running (their results
//  are dropped) and returns 0.  Returns -1 at once if no endpoint or no handler is
//  set, or a socket or thread cannot be created.  Call once per worker.
int zdex_worker_run (zdex_worker_t *self);

//  Ask zdex_worker_run to stop.  Async-signal-safe; any thread.
void zdex_worker_stop (zdex_worker_t *self);

//  True once stop was asked for (or the process was interrupted).  Long handlers
//  should poll it and give up, since zdex_worker_run waits for them.
bool zdex_worker_stopped (zdex_worker_t *self);

//  Number of tasks whose handler has returned.  Any thread.
uint64_t zdex_worker_tasks_done (zdex_worker_t *self);

//  Number of members the worker serves now: the endpoints it was given and those it
//  learnt from worker.members, less those dropped because they left the cluster.
//  Any thread.
size_t zdex_worker_members (zdex_worker_t *self);

#ifdef __cplusplus
}
#endif

#endif
