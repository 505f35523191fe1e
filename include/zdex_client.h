//  zdex_client: a client of a zdex cluster.
//
//  One DEALER socket connected to one or more member client endpoints.  Requests are
//  round-robined over the connected members (any member accepts any request and routes
//  it).  There is no automatic failover: a request queued to a member that is down
//  waits until that member comes back or the call times out.
//
//  Direct routing: a client given two or more endpoints also learns the cluster's
//  partition table (cluster.members) and sends each request whose partition it can
//  tell (a submit or execute with a key or idempotency_key; retrieve, dispose by
//  task id) straight to the partition's owner, on a DEALER of its own, when the
//  owner is one of the given endpoints (compared as the members report them) and
//  its connection is up; otherwise as above.  This saves the member-to-member hop
//  of a forwarded request; the answers are the same.  Its table requests carry a
//  "req" string starting with "zdex-client-table:", which callers must not use.
//
//  Two styles, which can be mixed on one client:
//  - pipelined: zdex_client_send queues a request and returns its "req" number;
//    zdex_client_recv returns replies in arrival order (not request order); the
//    caller matches them by "req".
//  - synchronous: one function per durable and scheduled op (and zdex_client_call
//    for any request).  Each sends one request and waits for the reply with that req;
//    replies to pipelined requests that arrive meanwhile are kept for
//    zdex_client_recv.
//
//  Errors: synchronous functions return 0 on success, or -1 and record the error:
//  zdex_client_error_code gives the wire code from the member's reply ("TASK_FAILED",
//  "STALE_TASK_ID", ...), or a client-side code: "CLIENT_TIMEOUT" (no reply within
//  the client-side wait), "CLIENT_IO" (socket failure, malformed reply, or
//  interrupted by SIGINT/SIGTERM, i.e. zsys_interrupted).
//
//  Client-side waits: a synchronous call waits for its reply for the client timeout
//  (zdex_client_set_timeout; default -1, wait forever).  A request carrying
//  "timeout_ms": T waits at least T + ZDEX_CLIENT_GRACE_MS, so the member's own
//  TIMEOUT answer arrives first.  A request whose reply does not arrive in time is
//  abandoned: its late reply is dropped, never returned by zdex_client_recv.
//
//  Not thread safe: use one client per thread.

#ifndef ZDEX_CLIENT_H_INCLUDED
#define ZDEX_CLIENT_H_INCLUDED

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define ZDEX_CLIENT_DEFAULT_ENDPOINT "tcp://127.0.0.1:5570"

//  Extra client-side wait on top of a request's own "timeout_ms".
#define ZDEX_CLIENT_GRACE_MS 5000

//  How long a synchronous call keeps retrying while the cluster answers
//  UNAVAILABLE (a member died and its partitions are being promoted, tables are
//  changing).  A change answered UNAVAILABLE may still have been applied, so only
//  requests that a second copy cannot harm are sent again: every durable op but
//  submits and executes without an idempotency_key (which could run twice), and the
//  scheduled ops get, cancel, status, get_all and stats.  scheduled.schedule,
//  scheduled.dispose and scheduled.shutdown are never retried: a retry of a schedule
//  that landed would answer DUPLICATE_TASK (named) or schedule it twice (nameless),
//  a retried dispose would answer STALE_TASK.  Their UNAVAILABLE goes back to the
//  caller, who knows what to check (e.g. scheduled.status of the handler).  A
//  retried cancel whose first copy landed answers cancelled: false.
#define ZDEX_CLIENT_RETRY_MS 30000

//  Client-side error codes (the member's codes are listed in the protocol).
#define ZDEX_CLIENT_TIMEOUT "CLIENT_TIMEOUT"
#define ZDEX_CLIENT_IO      "CLIENT_IO"

typedef struct _zdex_client_t zdex_client_t;

//  Create a client connected to endpoints, a comma-separated list such as
//  "tcp://127.0.0.1:5570,tcp://127.0.0.1:6570" (NULL: ZDEX_CLIENT_DEFAULT_ENDPOINT).
//  Connecting does not wait for the members: requests queue until a connection is
//  up.  Returns NULL if the socket cannot be created or an endpoint is invalid.
//  Caller owns the client.
zdex_client_t *zdex_client_new (const char *endpoints);

//  Destroy the client and null the pointer.  Null-safe.  Requests still queued get
//  up to one second to leave (linger) once the process ends.
void zdex_client_destroy (zdex_client_t **self_p);

//  Connect to one more member endpoint.  Returns 0, or -1 if the endpoint is
//  invalid.
int zdex_client_connect (zdex_client_t *self, const char *endpoint);

//  Set the client-side wait of synchronous calls, in ms; -1 (the default) waits
//  forever.  Requests carrying "timeout_ms": T wait at least T + ZDEX_CLIENT_GRACE_MS.
void zdex_client_set_timeout (zdex_client_t *self, int64_t timeout_ms);

//  Current client-side wait (-1: forever).
int64_t zdex_client_timeout (zdex_client_t *self);

//  ---------------------------------------------------------------------------------
//  Pipelined API

//  Queue a request.  Takes ownership of request (a JSON object with "op"), whatever
//  the outcome.  Sets its "req" to a new positive integer (replacing any "req" it
//  had) and returns that integer, or -1 if the request could not be encoded or
//  queued within the client timeout (error recorded).
int64_t zdex_client_send (zdex_client_t *self, json_t *request);

//  Next reply to a pipelined request, in arrival order: {"req":n,"ok":...}.  Waits
//  up to timeout_ms (-1: forever, 0: don't wait).  Returns NULL on timeout or
//  interrupt.  Caller owns the reply.
json_t *zdex_client_recv (zdex_client_t *self, int timeout_ms);

//  Number of requests sent with zdex_client_send whose replies zdex_client_recv has
//  not returned yet.
size_t zdex_client_outstanding (zdex_client_t *self);

//  ---------------------------------------------------------------------------------
//  Synchronous API.  executor may be NULL ("default").  All JSON arguments are
//  borrowed; JSON returned through pointers is owned by the caller.  Each function
//  returns 0, or -1 with the error recorded.

//  durable.submit: store a task of type with payload (NULL: json null), routed by key
//  (NULL: by idempotency_key if given, else a random partition).  On success sets
//  *task_id_p if task_id_p is not NULL.
int zdex_client_submit (zdex_client_t *self, const char *executor, const char *type,
                        json_t *payload, const char *key, const char *idempotency_key,
                        uint64_t *task_id_p);

//  durable.execute: as submit, but the task has no id and its result is not kept.
int zdex_client_execute (zdex_client_t *self, const char *executor, const char *type,
                         json_t *payload, const char *key, const char *idempotency_key);

//  durable.submit_and_retrieve (zdex extension): submit as zdex_client_submit and
//  get the result in the same reply, as zdex_client_retrieve with timeout_ms would;
//  auto_dispose frees the slot once answered.  *task_id_p (if not NULL) is set
//  whenever the reply names the task: on success, and on TASK_FAILED or TIMEOUT
//  (retrieve it later).  On success sets *result_p (caller owns) if not NULL.
int zdex_client_submit_and_retrieve (zdex_client_t *self, const char *executor, const char *type,
                                     json_t *payload, const char *key, const char *idempotency_key,
                                     int64_t timeout_ms, bool auto_dispose, uint64_t *task_id_p,
                                     json_t **result_p);

//  durable.retrieve: the result of a task.  timeout_ms: -1 waits until the task is
//  done, 0 answers at once, T > 0 waits up to T ms (error TIMEOUT after).  On
//  success sets *result_p (caller owns; json null for a disposed task) if result_p
//  is not NULL, and *disposed_p (true when the task was disposed) if disposed_p is not
//  NULL.  A failed task gives -1 with code TASK_FAILED; zdex_client_error_cause then
//  holds what the worker reported.
int zdex_client_retrieve (zdex_client_t *self, const char *executor, uint64_t task_id,
                          int64_t timeout_ms, json_t **result_p, bool *disposed_p);

//  durable.retrieve_and_dispose: as retrieve, then the member frees the slot.
int zdex_client_retrieve_and_dispose (zdex_client_t *self, const char *executor, uint64_t task_id,
                                      int64_t timeout_ms, json_t **result_p, bool *disposed_p);

//  durable.dispose: free the task's slot (a pending task is never run; a running
//  task's result is dropped).
int zdex_client_dispose (zdex_client_t *self, const char *executor, uint64_t task_id);

//  durable.shutdown: later submits to the executor are REJECTED.
int zdex_client_shutdown (zdex_client_t *self, const char *executor);

//  durable.shutdown_now: as shutdown, and tasks not yet started are removed.  Sets
//  *not_started_p (if not NULL) to the JSON array of their task ids (caller owns).
int zdex_client_shutdown_now (zdex_client_t *self, const char *executor, json_t **not_started_p);

//  durable.status: sets *shutdown_p and *terminated_p (each if not NULL).
int zdex_client_status (zdex_client_t *self, const char *executor, bool *shutdown_p,
                        bool *terminated_p);

//  durable.stats: sets *stats_p (if not NULL) to the reply object; the per-member
//  counters are under "members".  Caller owns.
int zdex_client_stats (zdex_client_t *self, const char *executor, json_t **stats_p);

//  ---------------------------------------------------------------------------------
//  Scheduled executor.  scheduler may be NULL ("default").  A handler is the URN
//  string that scheduled.schedule returned (any client may use it, and it stays
//  valid across failover).  Errors of a task's outcome: TASK_FAILED (cause: what the
//  worker reported), CANCELLED, STALE_TASK (disposed or never scheduled),
//  MEMBER_LOST; of scheduling: DUPLICATE_TASK, REJECTED (capacity, shut down).

//  How to schedule a task.  Zero-initialise, then set what differs from the
//  defaults: scheduler "default", a name chosen by the member, run once at once,
//  placed in the partition of its name, kept until disposed.
typedef struct {
    const char *scheduler; //  NULL: "default"
    const char *name;      //  NULL: the member names the task (a UUID)
    int64_t delay_ms;      //  first run after this long; <= 0: at once
    int64_t period_ms;     //  0: one-shot; > 0: then every period_ms (fixed rate)
    bool auto_dispose;     //  one-shot only: the task is disposed once done
    //  Placement, at most one (none: the partition of the task's name):
    const char *key;    //  the partition of key
    const char *member; //  that member's own store (not replicated)
    json_t *members;    //  borrowed array of member ids: one task in each one's store
    bool all_members;   //  one task in every member's store
} zdex_schedule_options_t;

//  scheduled.schedule: schedule a task of type with payload (NULL: json null), as
//  options says (NULL: the defaults).  Replies once the task is stored (and
//  replicated).  On success, a task in one place (no members / all_members) sets
//  *handler_p to its handler (caller frees with free()) and *handlers_p to NULL; a
//  task placed on several members sets *handlers_p to {member id: handler} (caller
//  owns) and *handler_p to NULL.  Either pointer may be NULL.  Never retried (see
//  ZDEX_CLIENT_RETRY_MS).
int zdex_client_schedule (zdex_client_t *self, const char *type, json_t *payload,
                          const zdex_schedule_options_t *options, char **handler_p,
                          json_t **handlers_p);

//  scheduled.get: the task's result, waiting until it has one (timeout_ms -1), at
//  most timeout_ms (then TIMEOUT), or not at all (0).  On success sets *result_p
//  (caller owns) if result_p is not NULL.  A fixed-rate task has a result only once
//  it failed (TASK_FAILED) or was cancelled (CANCELLED).
int zdex_client_scheduled_get (zdex_client_t *self, const char *handler, int64_t timeout_ms,
                               json_t **result_p);

//  scheduled.cancel: no further runs (a run in progress goes on).  Sets
//  *cancelled_p (if not NULL): false when the task already had an outcome.
int zdex_client_scheduled_cancel (zdex_client_t *self, const char *handler, bool *cancelled_p);

//  scheduled.dispose: forget the task: no further runs, its capacity is freed, and
//  later ops on the handler answer STALE_TASK.
//  Never retried (see ZDEX_CLIENT_RETRY_MS).
int zdex_client_scheduled_dispose (zdex_client_t *self, const char *handler);

//  scheduled.status: sets *status_p (if not NULL) to the reply object: "done",
//  "cancelled", "delay_ms" and "stats" {total_runs, last_run_duration_ms,
//  last_idle_time_ms, total_run_time_ms, total_idle_time_ms}.  Caller owns.
int zdex_client_scheduled_status (zdex_client_t *self, const char *handler, json_t **status_p);

//  scheduled.get_all: sets *members_p (if not NULL) to {member id: [handler, ...]},
//  every task of the scheduler not yet disposed.  Caller owns.
int zdex_client_scheduled_get_all (zdex_client_t *self, const char *scheduler, json_t **members_p);

//  scheduled.shutdown: later schedules on the scheduler are REJECTED.  Never retried
//  (see ZDEX_CLIENT_RETRY_MS).
int zdex_client_scheduled_shutdown (zdex_client_t *self, const char *scheduler);

//  scheduled.stats: sets *stats_p (if not NULL) to the reply object; the per-member
//  counters are under "members", as in durable.stats.  Caller owns.
int zdex_client_scheduled_stats (zdex_client_t *self, const char *scheduler, json_t **stats_p);

//  ---------------------------------------------------------------------------------
//  Cluster

//  cluster.ping: sets *reply_p (if not NULL) to the reply object ({"member_id",
//  "version", ...}).  Caller owns.
int zdex_client_ping (zdex_client_t *self, json_t **reply_p);

//  Send any request and wait for its reply.  request is borrowed and not modified.
//  If request has a "req", it is sent as is and the reply is the one whose "req"
//  equals it; otherwise the client adds its own.  timeout_ms: the client-side wait,
//  or -1 for the client's rule (zdex_client_set_timeout, extended by the request's
//  "timeout_ms").  Returns the reply (caller owns), whether "ok" is true or false (an
//  ok:false reply is also recorded as the last error), or NULL on a client-side
//  failure (error recorded).
json_t *zdex_client_call (zdex_client_t *self, json_t *request, int64_t timeout_ms);

//  ---------------------------------------------------------------------------------
//  Last error of a synchronous call; cleared when a call starts.

//  Wire code, or ZDEX_CLIENT_TIMEOUT / ZDEX_CLIENT_IO; NULL when the last call
//  succeeded.  The string belongs to the client, valid until the next call.
const char *zdex_client_error_code (zdex_client_t *self);

//  Human-readable message; NULL when the last call succeeded.  Belongs to the client.
const char *zdex_client_error_message (zdex_client_t *self);

//  "cause" of the error (for TASK_FAILED: the JSON string the worker reported), or
//  NULL.  Borrowed: valid until the next call.
json_t *zdex_client_error_cause (zdex_client_t *self);

#ifdef __cplusplus
}
#endif

#endif
