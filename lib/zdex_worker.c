//  zdex_worker: the worker protocol loop and its executor threads.
//
//  The thread that calls zdex_worker_run (the run loop) owns one DEALER per member
//  worker endpoint.  A DEALER is recreated (fresh connection, so a fresh routing id
//  at the member) when the member answers worker.bye or stays silent for the
//  heartbeat timeout; each recreation bumps the member's generation, and a result is
//  sent only if its task came from the current generation.
//
//  Executor threads, one per slot, run the handlers.  Threads share no mutable
//  memory: they talk only by ZeroMQ messages over inproc links, in a ZeroMQ context
//  private to the run (czmq's context allows 1024 sockets, fewer than the slots a
//  worker may have; and the run's inproc names can clash with nothing).  The run
//  loop owns a ROUTER; each executor owns a DEALER whose routing id names its slot,
//  so each slot costs a file descriptor (the soft limit is raised to fit).  A
//  message on these links is one frame holding a job pointer, and sending it passes
//  ownership of the job: the sender never touches it again.  The run loop puts the
//  worker.task frame into a job and sends it to an idle executor; the executor
//  parses it, runs the handler, encodes the worker.result frame into the job and
//  sends the job back; the run loop passes the frame on to the member and frees the
//  job.  Frames that open as members write tasks reach the executors unparsed, so
//  that parsing runs in parallel and a task's JSON is allocated and freed in one
//  thread; the run loop parses any other frame.  A NULL job is an executor's hello
//  (sent once it runs: the run loop waits for every hello before it sends, since
//  only then does the ROUTER route to every executor) and, to an executor, the
//  order to stop.  The run loop polls the ROUTER next to the member DEALERs and
//  drains it, so a busy run loop collects many results per wakeup.  The executors'
//  DEALERs are created and connected by the run loop, then handed to the executor
//  threads for good (pthread_create is the memory barrier ZeroMQ asks of a socket
//  that changes threads); the worker's settings an executor needs (handlers, task
//  observer, max_result) are copied into what it owns.  Tasks that arrive while
//  every slot is busy wait in a FIFO (several members may each have `slots` tasks
//  outstanding here).  Executor threads block SIGINT/SIGTERM, so the signal
//  interrupts the run loop's poll, not a handler.
//
//  Inline handlers (declared short and non-blocking) run in the run loop instead:
//  for a trivial handler, the two hand-offs and thread wake-ups cost more than the
//  work.  A worker with inline handlers parses every task frame in the run loop to
//  learn its type; a task for an inline handler is run and answered right there,
//  straight to the member it came from, and never waits in the FIFO nor takes a
//  slot; any other goes to an executor parsed.  Both paths run a task and encode
//  its result with the same code (s_run), through a runner each (settings and a
//  scratch buffer), and both count it and send the result under the generation
//  rule in s_job_deliver.  With no inline handler, frames reach executors unparsed.
//
//  Timers: each member records when we last sent to it and last heard from it; the
//  loop sends worker.heartbeat after heartbeat_ms without sending and recreates the
//  socket after timeout_ms of silence.  Members learnt from worker.members come and
//  go with the cluster: one that a later list leaves out and that is silent for
//  timeout_ms is dropped (its socket closed for good) until a list names it again.
//  Polls last at most S_POLL_SLICE_MS so a stop request (an atomic flag, or
//  zsys_interrupted) is seen promptly.

#include "zdex_worker.h"
#include "zdex_proto.h"
#include "zdex_waitset.h"

#include <czmq.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/resource.h>

#define S_POLL_SLICE_MS      100
#define S_MAX_LEARNT_MEMBERS 256  //  members a worker serves at most
#define S_LINGER_MS          1000 //  so that worker.bye leaves before the process ends
#define S_RECV_BATCH         256  //  frames read from one member before polling again
#define S_BATCH              256  //  frames per message either way (worker.ready's batch)
#define S_HEARTBEAT_FRAME    "{\"op\":\"worker.heartbeat\"}"
#define S_BYE_FRAME          "{\"op\":\"worker.bye\"}"
#define S_EXECUTORS_ENDPOINT "inproc://executors" //  in the run's private context
#define S_EXECUTOR_ID_SIZE   5 //  'E' and the slot index: ids may not start with 0
#define S_SCRATCH_SIZE       4096
#define S_DESCRIPTOR_BUDGET  1024        //  descriptors left to the rest of the process
#define S_SCRATCH_KEEP       (64 * 1024) //  larger scratch buffers are freed after use

//  One of fn (plain) and state_fn (stateful) is set.
typedef struct {
    zdex_worker_fn *fn;
    zdex_worker_state_fn *state_fn;
    void *arg;
    bool runs_inline; //  on the run loop, not on an executor
} s_handler_t;

typedef struct _s_job_t s_job_t;
struct _s_job_t {
    s_job_t *next; //  FIFO link while queued
    zmq_msg_t raw; //  the worker.task frame, unless it was parsed into task
    bool has_raw;  //  (then task is NULL)
    bool has_view; //  view holds raw's fields (zdex_task_view)
    zdex_task_view_t view;
    json_t *task;        //  parsed task, owned until the executor has run it
    size_t member;       //  index of the member it came from
    uint64_t generation; //  that member's socket generation when it came
    size_t slot;         //  slot running it
    bool ran;            //  a handler ran (set by the executor thread)
    bool malformed;      //  raw was a malformed worker.task (set by the executor)
    zmq_msg_t result;    //  worker.result frame, set by the executor thread
    bool has_result;
};

//  What running handlers takes besides the handler: a copy of the settings and a
//  buffer.  Each executor thread owns one, and the run loop one for inline handlers.
typedef struct {
    zdex_worker_task_fn *task_fn;
    void *task_arg;
    size_t max_result;
    char *scratch; //  where result frames are composed
    size_t scratch_size;
    size_t used;
} s_runner_t;

//  What an executor thread owns, from its start.
typedef struct {
    void *dealer;
    zhashx_t *handlers; //  type -> s_handler_t, a copy of the worker's
    s_runner_t runner;
} s_executor_t;

typedef struct {
    char *endpoint;
    zsock_t *dealer;     //  NULL if recreating it failed (retried at timeout) or gone
    uint64_t generation; //  bumped each time dealer is recreated or dropped
    int64_t last_sent;   //  monotonic ms
    int64_t last_recv;
    bool listed;       //  in the latest worker.members (true until a list says otherwise)
    bool gone;         //  dropped: left the cluster; its entry may be reused
    zmq_msg_t *outbox; //  results of this pass, sent as one message (S_BATCH, lazily)
    size_t outbox_size;
} s_member_t;

struct _zdex_worker_t {
    char *name;
    int slots;
    int heartbeat_ms;
    int timeout_ms;
    size_t max_result;
    zhashx_t *handlers; //  type -> s_handler_t
    s_member_t **members;
    size_t member_count;
    zdex_worker_task_fn *task_fn;
    void *task_arg;
    zdex_worker_ready_fn *ready_fn;
    void *ready_arg;
    atomic_int stop;
    _Atomic uint64_t tasks_done;
    _Atomic size_t serving; //  members not gone
    bool running;

    //  Run-loop state (valid during zdex_worker_run)
    void *context;      //  private ZeroMQ context of the executor links
    void *executors;    //  ROUTER to the executors' DEALERs
    pthread_t *threads; //  executor threads, one per slot
    size_t started;     //  threads[0 .. started-1] run
    size_t outstanding; //  messages (hello or job) the executors still owe us
    size_t *idle;       //  stack of idle slot indexes
    size_t idle_count;
    s_job_t *queue_head;
    s_job_t *queue_tail;
    char *ready_frame;
    bool any_inline;         //  some handler runs inline
    s_runner_t runner;       //  runs the inline handlers
    zdex_waitset_t *waitset; //  the run loop's: the executors' ROUTER, then the DEALERs
    void **sockets;          //  the wait's set
    size_t *item_member;     //  index in sockets -> member index
};

static void
s_free_destructor (void **item_p)
{
    free (*item_p);
    *item_p = NULL;
}

static bool
s_stopping (zdex_worker_t *self)
{
    return atomic_load (&self->stop) || zsys_interrupted;
}

static zsock_t *
s_dealer_new (const char *endpoint)
{
    zsock_t *dealer = zsock_new (ZMQ_DEALER);
    if (!dealer)
        return NULL;
    zsock_set_linger (dealer, S_LINGER_MS);
    if (zsock_connect (dealer, "%s", endpoint)) {
        zsock_destroy (&dealer);
        return NULL;
    }
    return dealer;
}

//  Drop the results waiting for a member whose socket is gone or replaced: they
//  belong to the old connection.
static void
s_outbox_clear (s_member_t *member)
{
    for (size_t index = 0; index < member->outbox_size; index++)
        zmq_msg_close (&member->outbox[index]);
    member->outbox_size = 0;
}

//  Send the results a pass collected for a member as one message of one frame
//  each (PROTOCOL.md 12.2), without blocking: a message that finds the queue full
//  is dropped (the member times the connection out and re-dispatches its tasks).
//  One message instead of one per result spares a pipe flush and, often, a thread
//  wake-up on both sides for each.
static void
s_member_flush (zdex_worker_t *self, s_member_t *member, int64_t now)
{
    if (member->outbox_size == 0)
        return;
    //  Counts as sent even when dropped, so the heartbeat timer does not spin.
    member->last_sent = now;
    size_t size = member->outbox_size;
    size_t index = 0;
    if (member->dealer) {
        void *handle = zsock_resolve (member->dealer);
        zdex_waitset_touch (self->waitset, handle);
        for (; index < size; index++) {
            int flags = ZMQ_DONTWAIT | (index + 1 < size ? ZMQ_SNDMORE : 0);
            int rc;
            while ((rc = zmq_msg_send (&member->outbox[index], handle, flags)) < 0 &&
                   errno == EINTR)
                ;
            if (rc < 0) {
                zsys_warning ("zdex_worker: dropped %zu frame(s) to %s: %s", size - index,
                              member->endpoint, zmq_strerror (errno));
                break;
            }
        }
    }
    s_outbox_clear (member); //  what was sent is closed already; closing again is harmless
}

//  Queue a frame for a member's message at the end of the pass, taking msg.
static void
s_member_post (zdex_worker_t *self, s_member_t *member, zmq_msg_t *msg, int64_t now)
{
    if (!member->outbox) {
        member->outbox = (zmq_msg_t *) malloc (S_BATCH * sizeof (zmq_msg_t));
        assert (member->outbox);
    }
    if (member->outbox_size == S_BATCH)
        s_member_flush (self, member, now);
    zmq_msg_init (&member->outbox[member->outbox_size]);
    zmq_msg_move (&member->outbox[member->outbox_size++], msg);
    zmq_msg_close (msg);
}

//  Send a frame to a member now, after the results waiting for it, without
//  blocking; takes msg (passed on without a copy).  A frame that finds the queue
//  full is dropped.
static void
s_member_send_msg (zdex_worker_t *self, s_member_t *member, zmq_msg_t *msg, int64_t now)
{
    s_member_flush (self, member, now);
    //  Counts as sent even when dropped, so the heartbeat timer does not spin.
    member->last_sent = now;
    if (member->dealer) {
        void *handle = zsock_resolve (member->dealer);
        zdex_waitset_touch (self->waitset, handle);
        while (zmq_msg_send (msg, handle, ZMQ_DONTWAIT) < 0) {
            if (errno != EINTR) {
                zsys_warning ("zdex_worker: dropped a frame to %s: %s", member->endpoint,
                              zmq_strerror (errno));
                break;
            }
        }
    }
    zmq_msg_close (msg); //  nothing left to free once sent
}

static void
s_member_send (zdex_worker_t *self, s_member_t *member, const char *frame, size_t size, int64_t now)
{
    zmq_msg_t msg;
    int rc = zmq_msg_init_size (&msg, size);
    assert (rc == 0);
    memcpy (zmq_msg_data (&msg), frame, size);
    s_member_send_msg (self, member, &msg, now);
}

//  ---------------------------------------------------------------------------------
//  Executor links: one frame holding a job pointer (the ROUTER side adds and strips
//  the executor's routing id).  Only this file sends on them.

//  Free what a job holds (an inline job lives on the stack).
static void
s_job_clear (s_job_t *job)
{
    if (job->has_raw)
        zmq_msg_close (&job->raw);
    json_decref (job->task);
    if (job->has_result)
        zmq_msg_close (&job->result);
}

static void
s_job_destroy (s_job_t **job_p)
{
    s_job_t *job = *job_p;
    if (job) {
        s_job_clear (job);
        free (job);
        *job_p = NULL;
    }
}

//  Send job (may be NULL) as the last frame of a message; the caller gives the job
//  up once this returns 0.  Returns -1 only if the context is ending.
static int
s_link_send (void *socket, s_job_t *job)
{
    while (zmq_send (socket, &job, sizeof job, 0) < 0)
        if (errno != EINTR)
            return -1;
    return 0;
}

//  Receive a job pointer frame; flags 0 (wait) or ZMQ_DONTWAIT.  Returns 0 and
//  sets *job_p (the caller owns the job), or -1 (nothing there, or context ending).
static int
s_link_recv (void *socket, s_job_t **job_p, int flags)
{
    while (true) {
        int size = zmq_recv (socket, job_p, sizeof *job_p, flags);
        if (size >= 0) {
            assert (size == (int) sizeof *job_p);
            return 0;
        }
        if (errno != EINTR)
            return -1;
    }
}

static void
s_executor_id (size_t slot, unsigned char *id)
{
    uint32_t index = (uint32_t) slot;
    id[0] = 'E';
    memcpy (id + 1, &index, sizeof index);
}

//  Send job (NULL: stop) to the executor of slot.  Returns 0 (the job is given
//  away) or -1.
static int
s_executor_send (zdex_worker_t *self, size_t slot, s_job_t *job)
{
    unsigned char id[S_EXECUTOR_ID_SIZE];
    s_executor_id (slot, id);
    zdex_waitset_touch (self->waitset, self->executors);
    while (zmq_send (self->executors, id, sizeof id, ZMQ_SNDMORE) < 0)
        if (errno != EINTR)
            return -1;
    return s_link_send (self->executors, job);
}

//  Receive the next hello (NULL) or finished job from any executor.
static int
s_executor_recv (zdex_worker_t *self, s_job_t **job_p, int flags)
{
    unsigned char id[S_EXECUTOR_ID_SIZE];
    while (zmq_recv (self->executors, id, sizeof id, flags) < 0)
        if (errno != EINTR)
            return -1;
    //  The job frame came with the routing id (messages arrive whole).
    return s_link_recv (self->executors, job_p, ZMQ_DONTWAIT);
}

//  ---------------------------------------------------------------------------------
//  Running a handler: the same code in executor threads and, for inline handlers,
//  in the run loop

static void
s_runner_init (s_runner_t *self, zdex_worker_t *worker)
{
    *self = (s_runner_t){
        .task_fn = worker->task_fn, .task_arg = worker->task_arg, .max_result = worker->max_result};
}

static void
s_runner_fini (s_runner_t *self)
{
    free (self->scratch);
    self->scratch = NULL;
    self->scratch_size = 0;
}

//  Make room for size more bytes in the scratch buffer.
static void
s_scratch_reserve (s_runner_t *self, size_t size)
{
    if (self->used + size <= self->scratch_size)
        return;
    size_t want = self->scratch_size ? self->scratch_size : S_SCRATCH_SIZE;
    while (want < self->used + size)
        want *= 2;
    char *scratch = (char *) realloc (self->scratch, want);
    assert (scratch);
    self->scratch = scratch;
    self->scratch_size = want;
}

//  Append size bytes of text.
static void
s_scratch_put (s_runner_t *self, const char *text, size_t size)
{
    s_scratch_reserve (self, size);
    memcpy (self->scratch + self->used, text, size);
    self->used += size;
}

static void
s_scratch_add (s_runner_t *self, const char *text)
{
    s_scratch_put (self, text, strlen (text));
}

//  Append value as compact JSON; returns 0, or -1 if it cannot be encoded.
static int
s_scratch_json (s_runner_t *self, json_t *value)
{
    char *text = zdex_json_text (value);
    if (!text)
        return -1;
    s_scratch_add (self, text);
    free (text);
    return 0;
}

//  What a result echoes of its task: the ref and the attempt as JSON texts
//  (attempt NULL: the task had none).
typedef struct {
    const char *ref;
    size_t ref_size;
    const char *attempt;
    size_t attempt_size;
} s_echo_t;

//  Compose a worker.result in the scratch buffer, as json_dumps (JSON_COMPACT) would
//  write the object: ok with value, or (error set) failed with error, a JSON string;
//  then the new state when there is one.  Returns 0, or -1 if it cannot be encoded.
static int
s_compose (s_runner_t *self, const s_echo_t *echo, json_t *value, json_t *error, json_t *state)
{
    self->used = 0;
    if (!echo->ref)
        return -1; //  the task's ref could not be written
    s_scratch_add (self, "{\"op\":\"worker.result\",\"ref\":");
    s_scratch_put (self, echo->ref, echo->ref_size);
    if (echo->attempt) {
        s_scratch_add (self, ",\"attempt\":");
        s_scratch_put (self, echo->attempt, echo->attempt_size);
    }
    s_scratch_add (self, error ? ",\"ok\":false,\"error\":" : ",\"ok\":true,\"value\":");
    if (s_scratch_json (self, error ? error : value ? value : json_null ()))
        return -1;
    if (state) {
        s_scratch_add (self, ",\"state\":");
        if (s_scratch_json (self, state))
            return -1;
    }
    s_scratch_add (self, "}");
    return 0;
}

//  Encode the worker.result of a task (rc 0: value, which we take; else error) and
//  its new state (which we take; NULL: none) into frame; on failure to encode (or a
//  frame above max_result) the result becomes a failure saying why, without state.
//  Returns 0 (caller owns frame) or -1.  Composed in the runner's own buffer,
//  since building a json_t object and dumping it costs several times more.
static int
s_result_frame (s_runner_t *self, const s_echo_t *echo, int rc, json_t *value, const char *error,
                json_t *state, zmq_msg_t *frame)
{
    json_t *text = NULL;
    if (rc != 0) {
        text = json_string (error ? error : "task failed");
        if (!text)
            text = json_string ("task failed (message not UTF-8)");
    }
    int status = s_compose (self, echo, value, text, state);
    json_decref (value);
    json_decref (text);
    json_decref (state);
    if (status || self->used > self->max_result) {
        char *message = status ? strdup ("result cannot be encoded")
                               : zsys_sprintf ("result too large: %zu bytes (limit %zu)",
                                               self->used, self->max_result);
        text = json_string (message);
        free (message);
        status = s_compose (self, echo, NULL, text, NULL);
        json_decref (text);
    }
    if (status == 0) {
        int msg_rc = zmq_msg_init_size (frame, self->used);
        assert (msg_rc == 0);
        memcpy (zmq_msg_data (frame), self->scratch, self->used);
    }
    //  Do not hold on to the memory of one huge result.
    if (self->scratch_size > S_SCRATCH_KEEP)
        s_runner_fini (self);
    return status;
}

//  Run the job's task, which has a type and a ref, with handler (NULL: there is
//  none for its type), set the job's result frame and free the task.  The task is
//  the view of the raw frame when it has one, else the parsed tree.
static void
s_run (s_runner_t *self, s_job_t *job, const char *type, s_handler_t *handler)
{
    json_t *task = job->task;
    json_t *payload, *state_in = NULL;
    s_echo_t echo = {0};
    char *ref_text = NULL, *attempt_text = NULL;
    int64_t attempt = -1;
    if (job->has_view) {
        const zdex_task_view_t *view = &job->view;
        payload =
            view->payload ? zdex_json_value (view->payload, view->payload_size) : json_null ();
        if (view->state)
            state_in = zdex_json_value (view->state, view->state_size);
        if (!payload || (view->state && !state_in)) {
            json_decref (payload);
            json_decref (state_in);
            job->malformed = true; //  only when out of memory: the view checked the text
            return;
        }
        echo = (s_echo_t){view->ref, view->ref_size, view->attempt, view->attempt_size};
        attempt = view->attempt_value;
    } else {
        payload = json_incref (json_object_get (task, "payload"));
        if (!payload)
            payload = json_null ();
        state_in = json_incref (json_object_get (task, "state"));
        json_t *attempt_json = json_object_get (task, "attempt");
        ref_text = zdex_json_text (json_object_get (task, "ref"));
        attempt_text = attempt_json ? zdex_json_text (attempt_json) : NULL;
        echo = (s_echo_t){ref_text, ref_text ? strlen (ref_text) : 0, attempt_text,
                          attempt_text ? strlen (attempt_text) : 0};
        if (json_is_integer (attempt_json))
            attempt = json_integer_value (attempt_json);
    }
    if (self->task_fn) {
        char *ref = echo.ref ? strndup (echo.ref, echo.ref_size) : NULL;
        self->task_fn (type, attempt, ref ? ref : "null", self->task_arg);
        free (ref);
    }
    json_t *value = NULL;
    json_t *state = NULL;
    char *error = NULL;
    int rc;
    if (handler && handler->state_fn)
        rc = handler->state_fn (type, payload, state_in, &value, &state, &error, handler->arg);
    else if (handler)
        rc = handler->fn (type, payload, &value, &error, handler->arg);
    else {
        rc = -1;
        error = zsys_sprintf ("no handler for task type %s", type);
    }
    job->ran = true;
    job->has_result = s_result_frame (self, &echo, rc, value, error, state, &job->result) == 0;
    free (error);
    free (ref_text);
    free (attempt_text);
    json_decref (payload);
    json_decref (state_in);
    json_decref (task);
    job->task = NULL;
}

//  Read a raw task frame's fields without a tree; on success the job keeps the
//  frame (the view points into it) and type_buffer holds its NUL-terminated type.
static bool
s_view (s_job_t *job, char *type_buffer, size_t buffer_size)
{
    if (zdex_task_view (zmq_msg_data (&job->raw), zmq_msg_size (&job->raw), &job->view) != 0 ||
        job->view.type_size == 0 || job->view.type_size >= buffer_size)
        return false;
    memcpy (type_buffer, job->view.type, job->view.type_size);
    type_buffer[job->view.type_size] = 0;
    job->has_view = true;
    return true;
}

//  ---------------------------------------------------------------------------------
//  Executor threads

//  Run the task of job and set its result frame.  A frame the run loop left raw is
//  parsed here first: if it is not JSON it is ignored, as any unparseable frame is;
//  if it lacks type or ref the run loop warns about it.
static void
s_execute (s_executor_t *self, s_job_t *job)
{
    char type_buffer[ZDEX_MAX_NAME_BYTES + 1];
    if (job->has_raw && s_view (job, type_buffer, sizeof type_buffer)) {
        s_run (&self->runner, job, type_buffer,
               (s_handler_t *) zhashx_lookup (self->handlers, type_buffer));
        return;
    }
    if (job->has_raw) {
        json_error_t error;
        job->task = zdex_json_load ((const char *) zmq_msg_data (&job->raw),
                                    zmq_msg_size (&job->raw), &error);
        zmq_msg_close (&job->raw);
        job->has_raw = false;
        if (!job->task)
            return;
    }
    const char *type = json_string_value (json_object_get (job->task, "type"));
    if (!type || !json_object_get (job->task, "ref")) {
        job->malformed = true;
        return;
    }
    s_run (&self->runner, job, type, (s_handler_t *) zhashx_lookup (self->handlers, type));
}

static void
s_executor_destroy (s_executor_t **self_p)
{
    s_executor_t *self = *self_p;
    if (self) {
        if (self->dealer)
            zmq_close (self->dealer);
        zhashx_destroy (&self->handlers);
        s_runner_fini (&self->runner);
        free (self);
        *self_p = NULL;
    }
}

//  Create the executor of slot, its DEALER connected to the run loop's ROUTER.
//  Returns NULL on failure (e.g. out of file descriptors: one per slot).
static s_executor_t *
s_executor_new (zdex_worker_t *self, size_t slot)
{
    s_executor_t *executor = (s_executor_t *) zmalloc (sizeof (s_executor_t));
    s_runner_init (&executor->runner, self);
    executor->handlers = zhashx_new ();
    assert (executor->handlers);
    zhashx_set_destructor (executor->handlers, s_free_destructor);
    for (s_handler_t *handler = (s_handler_t *) zhashx_first (self->handlers); handler;
         handler = (s_handler_t *) zhashx_next (self->handlers)) {
        s_handler_t *copy = (s_handler_t *) zmalloc (sizeof (s_handler_t));
        *copy = *handler;
        zhashx_insert (executor->handlers, zhashx_cursor (self->handlers), copy);
    }
    unsigned char id[S_EXECUTOR_ID_SIZE];
    s_executor_id (slot, id);
    executor->dealer = zmq_socket (self->context, ZMQ_DEALER);
    if (!executor->dealer || zmq_setsockopt (executor->dealer, ZMQ_ROUTING_ID, id, sizeof id) ||
        zmq_connect (executor->dealer, S_EXECUTORS_ENDPOINT)) {
        zsys_error ("zdex_worker: cannot create the socket of slot %zu: %s", slot,
                    zmq_strerror (errno));
        s_executor_destroy (&executor);
    }
    return executor;
}

//  One executor thread: says hello, then runs the jobs it is sent until it gets
//  NULL.  It owns its s_executor_t and frees it on leaving.
static void *
s_executor_run (void *arg)
{
    s_executor_t *self = (s_executor_t *) arg;
    if (s_link_send (self->dealer, NULL) == 0) {
        s_job_t *job;
        while (s_link_recv (self->dealer, &job, 0) == 0 && job) {
            s_execute (self, job);
            if (s_link_send (self->dealer, job)) {
                s_job_destroy (&job);
                break;
            }
        }
    }
    s_executor_destroy (&self);
    return NULL;
}

//  ---------------------------------------------------------------------------------
//  Run loop

static void
s_dispatch (zdex_worker_t *self, size_t slot, s_job_t *job)
{
    job->slot = slot;
    job->next = NULL;
    if (s_executor_send (self, slot, job) == 0)
        self->outstanding++;
    else {
        //  Executors leave only when told to, so this does not happen.
        zsys_error ("zdex_worker: cannot hand a task to slot %zu: %s", slot, zmq_strerror (errno));
        s_job_destroy (&job);
    }
}

//  Drop queued jobs of member (its socket was recreated: the member re-dispatches
//  them).
static void
s_queue_purge (zdex_worker_t *self, size_t member)
{
    s_job_t **link = &self->queue_head;
    self->queue_tail = NULL;
    while (*link) {
        s_job_t *job = *link;
        if (job->member == member) {
            *link = job->next;
            s_job_destroy (&job);
        } else {
            self->queue_tail = job;
            link = &job->next;
        }
    }
}

//  (Re)announce ourselves to a member.
static void
s_member_ready (zdex_worker_t *self, s_member_t *member, int64_t now)
{
    member->last_recv = now;
    s_member_send (self, member, self->ready_frame, strlen (self->ready_frame), now);
}

//  Replace the member's socket: a new connection is a new worker to the member.
static void
s_member_reset (zdex_worker_t *self, size_t index, int64_t now)
{
    s_member_t *member = self->members[index];
    if (member->dealer) {
        zsock_set_linger (member->dealer, 0);
        zsock_destroy (&member->dealer);
    }
    member->generation++;
    s_queue_purge (self, index);
    s_outbox_clear (member);
    member->dealer = s_dealer_new (member->endpoint);
    if (!member->dealer)
        zsys_error ("zdex_worker: cannot recreate socket to %s", member->endpoint);
    s_member_ready (self, member, now);
}

//  Hand job to an idle executor, or queue it.
static void
s_job_start (zdex_worker_t *self, size_t index, s_job_t *job)
{
    job->member = index;
    job->generation = self->members[index]->generation;
    if (self->idle_count > 0)
        s_dispatch (self, self->idle[--self->idle_count], job);
    else {
        if (self->queue_tail)
            self->queue_tail->next = job;
        else
            self->queue_head = job;
        self->queue_tail = job;
    }
}

//  A job has run (or its task was malformed): count it, and send its result to the
//  member it came from unless that member's socket has changed since.
static void
s_job_deliver (zdex_worker_t *self, s_job_t *job, int64_t now)
{
    s_member_t *member = self->members[job->member];
    if (job->ran)
        atomic_fetch_add (&self->tasks_done, 1);
    if (job->malformed)
        zsys_warning ("zdex_worker: malformed worker.task from %s", member->endpoint);
    if (job->has_result && job->generation == member->generation) {
        s_member_post (self, member, &job->result, now);
        job->has_result = false;
    }
}

//  A parsed task: run it here if its handler is inline, else hand it to an executor.
static void
s_task_arrived (zdex_worker_t *self, size_t index, json_t *task, int64_t now)
{
    const char *type = json_string_value (json_object_get (task, "type"));
    if (!type || !json_object_get (task, "ref")) {
        zsys_warning ("zdex_worker: malformed worker.task from %s", self->members[index]->endpoint);
        json_decref (task);
        return;
    }
    s_handler_t *handler = (s_handler_t *) zhashx_lookup (self->handlers, type);
    if (handler && handler->runs_inline) {
        s_job_t job = {
            .task = task, .member = index, .generation = self->members[index]->generation};
        s_run (&self->runner, &job, type, handler);
        s_job_deliver (self, &job, now);
        s_job_clear (&job);
        return;
    }
    s_job_t *job = (s_job_t *) zmalloc (sizeof (s_job_t));
    job->task = task;
    s_job_start (self, index, job);
}

//  True if frame can only be a worker.task (well formed or not) or no JSON at all:
//  it opens as members write tasks, and a second "op" would be a duplicate key,
//  which the parser rejects.  Such frames go to the executors unparsed, so that
//  parsing runs in parallel, and allocates and frees in one thread.
static bool
s_is_task_frame (zmq_msg_t *msg)
{
    static const char opening[] = "{\"op\":\"worker.task\",";
    return zmq_msg_size (msg) >= sizeof opening - 1 &&
           memcmp (zmq_msg_data (msg), opening, sizeof opening - 1) == 0;
}

//  A task frame.  Without inline handlers it goes to an executor unparsed, so that
//  parsing runs in parallel; with some, the run loop parses it to learn its type
//  (a fast parse of a small frame costs less than the hand-off it may save).
static void
s_task_frame (zdex_worker_t *self, size_t index, zmq_msg_t *msg, int64_t now)
{
    if (self->any_inline) {
        //  Most tasks are read without a tree: the view tells the type.
        s_job_t job = {.member = index, .generation = self->members[index]->generation};
        zmq_msg_init (&job.raw);
        zmq_msg_move (&job.raw, msg);
        job.has_raw = true;
        char type[ZDEX_MAX_NAME_BYTES + 1];
        if (s_view (&job, type, sizeof type)) {
            s_handler_t *handler = (s_handler_t *) zhashx_lookup (self->handlers, type);
            if (handler && handler->runs_inline) {
                s_run (&self->runner, &job, type, handler);
                s_job_deliver (self, &job, now);
                s_job_clear (&job);
            } else {
                //  The executor views the frame again, in its own thread.
                s_job_t *queued = (s_job_t *) zmalloc (sizeof (s_job_t));
                zmq_msg_init (&queued->raw);
                zmq_msg_move (&queued->raw, &job.raw);
                zmq_msg_close (&job.raw);
                queued->has_raw = true;
                s_job_start (self, index, queued);
            }
            return;
        }
        zmq_msg_move (msg, &job.raw);
        zmq_msg_close (&job.raw);
        json_error_t error;
        json_t *task =
            zdex_json_load ((const char *) zmq_msg_data (msg), zmq_msg_size (msg), &error);
        zmq_msg_close (msg);
        if (task) //  else ignored, as an executor ignores it
            s_task_arrived (self, index, task, now);
        return;
    }
    s_job_t *job = (s_job_t *) zmalloc (sizeof (s_job_t));
    zmq_msg_init (&job->raw);
    zmq_msg_move (&job->raw, msg);
    zmq_msg_close (msg);
    job->has_raw = true;
    s_job_start (self, index, job);
}

//  Drop a member that left the cluster: no socket, no heartbeats, no reconnects.
//  Its queued tasks go (the new owners re-dispatch them) and the generation bump
//  discards results of its tasks still running here.
static void
s_member_drop (zdex_worker_t *self, size_t index)
{
    s_member_t *member = self->members[index];
    if (member->dealer) {
        zsock_set_linger (member->dealer, 0);
        zsock_destroy (&member->dealer);
    }
    member->generation++;
    member->gone = true;
    s_queue_purge (self, index);
    s_outbox_clear (member);
    atomic_fetch_sub (&self->serving, 1);
    zsys_info ("zdex_worker: dropped member %s (left the cluster)", member->endpoint);
}

//  Serve endpoint from now on, in a fresh entry or in the entry of a member that
//  is gone (so churn does not grow the table).  Returns 0 or -1.
static int
s_member_add (zdex_worker_t *self, const char *endpoint, int64_t now)
{
    size_t index = 0;
    while (index < self->member_count && !self->members[index]->gone)
        index++;
    if (index == self->member_count) {
        if (self->member_count >= S_MAX_LEARNT_MEMBERS)
            return -1;
        s_member_t **members = (s_member_t **) realloc (
            self->members, sizeof (s_member_t *) * (self->member_count + 1));
        if (members)
            self->members = members;
        void **sockets =
            (void **) realloc (self->sockets, sizeof (void *) * (self->member_count + 2));
        if (sockets)
            self->sockets = sockets;
        size_t *item_member =
            (size_t *) realloc (self->item_member, sizeof (size_t) * (self->member_count + 2));
        if (item_member)
            self->item_member = item_member;
        s_member_t *member = (s_member_t *) zmalloc (sizeof (s_member_t));
        if (!member || !members || !sockets || !item_member) {
            free (member);
            return -1;
        }
        member->gone = true; //  until it has a socket
        self->members[self->member_count++] = member;
    }
    s_member_t *member = self->members[index];
    zsock_t *dealer = s_dealer_new (endpoint);
    if (!dealer)
        return -1;
    if (!member->endpoint || strneq (member->endpoint, endpoint)) {
        free (member->endpoint);
        member->endpoint = strdup (endpoint);
        assert (member->endpoint);
    }
    member->dealer = dealer;
    member->gone = false;
    member->listed = true;
    atomic_fetch_add (&self->serving, 1);
    s_member_ready (self, member, now);
    return 0;
}

//  Member `sender` told us every member's worker endpoint: serve the ones we do not
//  serve yet (bounded), and register there.  A member missing from the list is
//  dropped once it is also silent for the timeout (s_timers): lists from different
//  members cross while the view changes, so absence alone may be stale, and a
//  member that still talks to us is alive.  The sender is alive by definition (and
//  may advertise its endpoint spelt otherwise than we were given it).
static void
s_members_learnt (zdex_worker_t *self, size_t sender, json_t *endpoints, int64_t now)
{
    if (!json_is_array (endpoints) || json_array_size (endpoints) == 0)
        return;
    for (size_t at = 0; at < self->member_count; at++)
        self->members[at]->listed = at == sender;
    size_t index;
    json_t *value;
    json_array_foreach (endpoints, index, value) {
        const char *endpoint = json_string_value (value);
        if (!endpoint)
            continue;
        s_member_t *known = NULL;
        for (size_t at = 0; at < self->member_count && !known; at++)
            if (self->members[at]->endpoint && streq (self->members[at]->endpoint, endpoint))
                known = self->members[at];
        if (known && !known->gone)
            known->listed = true;
        else if (s_member_add (self, endpoint, now))
            zsys_warning ("zdex_worker: cannot connect to member %s", endpoint);
    }
}

//  Read what a member sent.  Any frame counts as life.  Each frame is one message,
//  whether it came alone or in a batch of several (PROTOCOL.md 12.2).
static void
s_member_recv (zdex_worker_t *self, size_t index, int64_t now)
{
    s_member_t *member = self->members[index];
    void *handle = zsock_resolve (member->dealer);
    member->last_recv = now;
    for (int count = 0; count < S_RECV_BATCH; count++) {
        zmq_msg_t msg;
        zmq_msg_init (&msg);
        if (zmq_msg_recv (&msg, handle, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close (&msg);
            zdex_waitset_drained (self->waitset, handle);
            break;
        }
        if (s_is_task_frame (&msg)) {
            s_task_frame (self, index, &msg, now);
            continue;
        }
        json_error_t error;
        json_t *message =
            zdex_json_load ((const char *) zmq_msg_data (&msg), zmq_msg_size (&msg), &error);
        zmq_msg_close (&msg);
        const char *op = json_string_value (json_object_get (message, "op"));
        if (op && streq (op, "worker.task")) {
            s_task_arrived (self, index, message, now);
            continue;
        }
        if (op && streq (op, "worker.members")) {
            s_members_learnt (self, index, json_object_get (message, "endpoints"), now);
            json_decref (message);
            continue;
        }
        bool bye = op && streq (op, "worker.bye");
        json_decref (message);
        if (bye) {
            s_member_reset (self, index, now);
            break; //  the old socket is gone
        }
    }
}

//  A job came back from an executor: send its result, give the slot more work.
static void
s_result_arrived (zdex_worker_t *self, s_job_t *job, int64_t now)
{
    s_job_deliver (self, job, now);
    size_t slot = job->slot;
    s_job_destroy (&job);
    s_job_t *next = self->queue_head;
    if (next) {
        self->queue_head = next->next;
        if (!self->queue_head)
            self->queue_tail = NULL;
        s_dispatch (self, slot, next);
    } else
        self->idle[self->idle_count++] = slot;
}

//  Take every job the executors have finished.
static void
s_results_take (zdex_worker_t *self, int64_t now)
{
    //  Once no executor owes us a job, nothing can be there: skip asking.
    s_job_t *job;
    while (self->outstanding > 0 && s_executor_recv (self, &job, ZMQ_DONTWAIT) == 0) {
        assert (job); //  hellos all came before the first task
        self->outstanding--;
        s_result_arrived (self, job, now);
    }
}

//  Send heartbeats and replace silent members; returns the poll timeout.
static long
s_timers (zdex_worker_t *self, int64_t now)
{
    int64_t wait = S_POLL_SLICE_MS;
    for (size_t index = 0; index < self->member_count; index++) {
        s_member_t *member = self->members[index];
        if (member->gone)
            continue;
        if (now - member->last_recv >= self->timeout_ms) {
            if (!member->listed) {
                s_member_drop (self, index);
                continue;
            }
            s_member_reset (self, index, now);
        }
        if (now - member->last_sent >= self->heartbeat_ms)
            s_member_send (self, member, S_HEARTBEAT_FRAME, strlen (S_HEARTBEAT_FRAME), now);
        int64_t heartbeat_due = member->last_sent + self->heartbeat_ms - now;
        int64_t timeout_due = member->last_recv + self->timeout_ms - now;
        if (heartbeat_due < wait)
            wait = heartbeat_due;
        if (timeout_due < wait)
            wait = timeout_due;
    }
    return wait < 0 ? 0 : (long) wait;
}

static char *
s_ready_frame (zdex_worker_t *self)
{
    json_t *types = json_array ();
    for (void *handler = zhashx_first (self->handlers); handler;
         handler = zhashx_next (self->handlers))
        json_array_append_new (types, json_string ((const char *) zhashx_cursor (self->handlers)));
    json_t *ready = json_object ();
    json_object_set_new (ready, "op", json_string ("worker.ready"));
    json_object_set_new (ready, "types", types);
    json_object_set_new (ready, "slots", json_integer (self->slots));
    if (self->name)
        json_object_set_new (ready, "name", json_string (self->name));
    //  Ask to be told the other members' worker endpoints (worker.members).
    json_object_set_new (ready, "discover", json_true ());
    //  Take a pass's tasks in one message (each frame one worker.task).
    json_object_set_new (ready, "batch", json_integer (S_BATCH));
    char *frame = json_dumps (ready, JSON_COMPACT);
    json_decref (ready);
    return frame;
}

//  Start one executor thread per slot, with SIGINT/SIGTERM blocked in them, and wait
//  for their hellos.
static int
s_start_executors (zdex_worker_t *self)
{
    sigset_t blocked, saved;
    sigemptyset (&blocked);
    sigaddset (&blocked, SIGINT);
    sigaddset (&blocked, SIGTERM);
    pthread_sigmask (SIG_BLOCK, &blocked, &saved);
    int rc = 0;
    for (size_t slot = 0; slot < (size_t) self->slots && rc == 0; slot++) {
        s_executor_t *executor = s_executor_new (self, slot);
        if (executor &&
            pthread_create (&self->threads[slot], NULL, s_executor_run, executor) == 0) {
            self->started++;
            self->outstanding++; //  its hello
        } else {
            s_executor_destroy (&executor);
            rc = -1;
        }
    }
    pthread_sigmask (SIG_SETMASK, &saved, NULL);
    //  A hello means the ROUTER has attached that executor's DEALER and can route to
    //  it (a connect reaches the ROUTER as a command that it handles later).
    while (rc == 0 && self->outstanding > 0) {
        s_job_t *job;
        if (s_executor_recv (self, &job, 0))
            rc = -1;
        else {
            assert (!job);
            self->outstanding--;
        }
    }
    //  Slot 0 on top of the stack: a few busy executors stay the same threads.
    for (size_t index = 0; rc == 0 && index < self->started; index++)
        self->idle[self->idle_count++] = self->started - 1 - index;
    return rc;
}

//  Each slot holds a socket, so a file descriptor, while the worker runs: make sure
//  the soft limit leaves the usual budget of S_DESCRIPTOR_BUDGET besides them,
//  raising it as far as the hard limit allows, so that as many slots work as when
//  they were bare threads.
static void
s_reserve_descriptors (size_t count)
{
    struct rlimit limit;
    if (getrlimit (RLIMIT_NOFILE, &limit) || limit.rlim_cur == RLIM_INFINITY)
        return;
    rlim_t wanted = (rlim_t) count + S_DESCRIPTOR_BUDGET;
    if (limit.rlim_max != RLIM_INFINITY && wanted > limit.rlim_max)
        wanted = limit.rlim_max;
    if (wanted > limit.rlim_cur) {
        limit.rlim_cur = wanted;
        if (setrlimit (RLIMIT_NOFILE, &limit))
            zsys_warning ("zdex_worker: cannot raise the open file limit: %s", strerror (errno));
    }
}

//  Create the run-loop state; returns 0 or -1 (partial state is freed by s_teardown).
static int
s_setup (zdex_worker_t *self)
{
    self->ready_frame = s_ready_frame (self);
    self->threads = (pthread_t *) zmalloc (sizeof (pthread_t) * (size_t) self->slots);
    self->idle = (size_t *) zmalloc (sizeof (size_t) * (size_t) self->slots);
    self->sockets = (void **) zmalloc (sizeof (void *) * (1 + self->member_count));
    self->waitset = zdex_waitset_new ();
    self->item_member = (size_t *) zmalloc (sizeof (size_t) * (1 + self->member_count));
    if (!self->ready_frame)
        return -1;
    s_runner_init (&self->runner, self);
    for (s_handler_t *handler = (s_handler_t *) zhashx_first (self->handlers); handler;
         handler = (s_handler_t *) zhashx_next (self->handlers))
        if (handler->runs_inline)
            self->any_inline = true;
    for (size_t index = 0; index < self->member_count; index++)
        if (!self->members[index]->dealer)
            return -1;
    //  Room for the ROUTER and one DEALER per slot; no I/O thread, as inproc needs
    //  none; not blocky, so that sockets close without lingering.
    int max_sockets = self->slots < INT_MAX ? self->slots + 1 : INT_MAX;
    int mandatory = 1;
    s_reserve_descriptors ((size_t) max_sockets + 1); //  and the context's reaper
    self->context = zmq_ctx_new ();
    if (!self->context || zmq_ctx_set (self->context, ZMQ_IO_THREADS, 0) ||
        zmq_ctx_set (self->context, ZMQ_MAX_SOCKETS, max_sockets) ||
        zmq_ctx_set (self->context, ZMQ_BLOCKY, 0))
        return -1;
    //  Mandatory routing: a send to a missing executor fails instead of vanishing.
    self->executors = zmq_socket (self->context, ZMQ_ROUTER);
    if (!self->executors ||
        zmq_setsockopt (self->executors, ZMQ_ROUTER_MANDATORY, &mandatory, sizeof mandatory) ||
        zmq_bind (self->executors, S_EXECUTORS_ENDPOINT))
        return -1;
    return s_start_executors (self);
}

//  Wait for running handlers (their results are dropped), stop the executor threads,
//  free run-loop state.
static void
s_teardown (zdex_worker_t *self)
{
    while (self->outstanding > 0) {
        s_job_t *job;
        if (s_executor_recv (self, &job, 0))
            break;
        self->outstanding--;
        if (job && job->ran)
            atomic_fetch_add (&self->tasks_done, 1);
        s_job_destroy (&job);
    }
    //  Every started executor is idle now, so a NULL stops it at once.  Should one be
    //  out of reach, ending the context makes its blocked calls fail, which stops it.
    bool reached = true;
    for (size_t slot = 0; slot < self->started; slot++)
        if (s_executor_send (self, slot, NULL))
            reached = false;
    if (!reached)
        zmq_ctx_shutdown (self->context);
    for (size_t slot = 0; slot < self->started; slot++)
        pthread_join (self->threads[slot], NULL);
    self->started = 0;
    self->outstanding = 0;
    if (self->executors)
        zmq_close (self->executors);
    self->executors = NULL;
    if (self->context)
        while (zmq_ctx_term (self->context) < 0 && errno == EINTR)
            ;
    self->context = NULL;
    while (self->queue_head) {
        s_job_t *job = self->queue_head;
        self->queue_head = job->next;
        s_job_destroy (&job);
    }
    self->queue_tail = NULL;
    for (size_t index = 0; index < self->member_count; index++)
        zsock_destroy (&self->members[index]->dealer); //  lingers to deliver worker.bye
    free (self->threads);
    self->threads = NULL;
    free (self->idle);
    self->idle = NULL;
    self->idle_count = 0;
    free (self->sockets);
    self->sockets = NULL;
    zdex_waitset_destroy (&self->waitset);
    free (self->item_member);
    self->item_member = NULL;
    free (self->ready_frame);
    self->ready_frame = NULL;
    s_runner_fini (&self->runner);
    self->any_inline = false;
}

//  ---------------------------------------------------------------------------------

zdex_worker_t *
zdex_worker_new (const char *name)
{
    zdex_worker_t *self = (zdex_worker_t *) zmalloc (sizeof (zdex_worker_t));
    assert (self);
    if (name) {
        self->name = strdup (name);
        assert (self->name);
    }
    self->slots = 1;
    self->heartbeat_ms = 1000;
    self->timeout_ms = 3000;
    self->max_result = 512 * 1024;
    self->handlers = zhashx_new ();
    assert (self->handlers);
    zhashx_set_destructor (self->handlers, s_free_destructor);
    atomic_init (&self->stop, 0);
    atomic_init (&self->tasks_done, 0);
    atomic_init (&self->serving, 0);
    return self;
}

void
zdex_worker_destroy (zdex_worker_t **self_p)
{
    assert (self_p);
    zdex_worker_t *self = *self_p;
    if (!self)
        return;
    assert (!self->running);
    for (size_t index = 0; index < self->member_count; index++) {
        s_member_t *member = self->members[index];
        zsock_destroy (&member->dealer);
        s_outbox_clear (member);
        free (member->outbox);
        free (member->endpoint);
        free (member);
    }
    free (self->members);
    zhashx_destroy (&self->handlers);
    free (self->name);
    free (self);
    *self_p = NULL;
}

int
zdex_worker_connect (zdex_worker_t *self, const char *endpoint)
{
    assert (self);
    assert (endpoint);
    assert (!self->running);
    zsock_t *dealer = s_dealer_new (endpoint);
    if (!dealer)
        return -1;
    s_member_t *member = (s_member_t *) zmalloc (sizeof (s_member_t));
    member->endpoint = strdup (endpoint);
    member->dealer = dealer;
    member->listed = true;
    s_member_t **members =
        (s_member_t **) realloc (self->members, sizeof (s_member_t *) * (self->member_count + 1));
    assert (members && member->endpoint);
    self->members = members;
    self->members[self->member_count++] = member;
    atomic_fetch_add (&self->serving, 1);
    return 0;
}

void
zdex_worker_set_slots (zdex_worker_t *self, int slots)
{
    assert (self);
    assert (slots >= 1);
    assert (!self->running);
    self->slots = slots;
}

void
zdex_worker_set_heartbeat (zdex_worker_t *self, int interval_ms, int timeout_ms)
{
    assert (self);
    assert (interval_ms > 0 && timeout_ms > interval_ms);
    assert (!self->running);
    self->heartbeat_ms = interval_ms;
    self->timeout_ms = timeout_ms;
}

void
zdex_worker_set_max_result (zdex_worker_t *self, size_t max_bytes)
{
    assert (self);
    assert (!self->running);
    self->max_result = max_bytes;
}

static int
s_handle (zdex_worker_t *self, const char *type, zdex_worker_fn *fn, zdex_worker_state_fn *state_fn,
          void *arg, bool runs_inline)
{
    assert (self);
    assert (type);
    if (self->running || *type == '\0')
        return -1;
    s_handler_t *handler = (s_handler_t *) zmalloc (sizeof (s_handler_t));
    handler->fn = fn;
    handler->state_fn = state_fn;
    handler->arg = arg;
    handler->runs_inline = runs_inline;
    zhashx_update (self->handlers, type, handler);
    return 0;
}

int
zdex_worker_handle (zdex_worker_t *self, const char *type, zdex_worker_fn *fn, void *arg)
{
    assert (fn);
    return s_handle (self, type, fn, NULL, arg, false);
}

int
zdex_worker_handle_stateful (zdex_worker_t *self, const char *type, zdex_worker_state_fn *fn,
                             void *arg)
{
    assert (fn);
    return s_handle (self, type, NULL, fn, arg, false);
}

int
zdex_worker_handle_inline (zdex_worker_t *self, const char *type, zdex_worker_fn *fn, void *arg)
{
    assert (fn);
    return s_handle (self, type, fn, NULL, arg, true);
}

int
zdex_worker_handle_stateful_inline (zdex_worker_t *self, const char *type, zdex_worker_state_fn *fn,
                                    void *arg)
{
    assert (fn);
    return s_handle (self, type, NULL, fn, arg, true);
}

void
zdex_worker_set_task_fn (zdex_worker_t *self, zdex_worker_task_fn *fn, void *arg)
{
    assert (self);
    assert (!self->running);
    self->task_fn = fn;
    self->task_arg = arg;
}

void
zdex_worker_set_ready_fn (zdex_worker_t *self, zdex_worker_ready_fn *fn, void *arg)
{
    assert (self);
    assert (!self->running);
    self->ready_fn = fn;
    self->ready_arg = arg;
}

int
zdex_worker_run (zdex_worker_t *self)
{
    assert (self);
    assert (!self->running);
    if (self->member_count == 0 || zhashx_size (self->handlers) == 0)
        return -1;
    self->running = true;
    if (s_setup (self)) {
        zsys_error ("zdex_worker: cannot start (sockets or threads)");
        s_teardown (self);
        self->running = false;
        return -1;
    }
    int64_t now = zclock_mono ();
    for (size_t index = 0; index < self->member_count; index++)
        s_member_ready (self, self->members[index], now);
    if (self->ready_fn)
        self->ready_fn (self, self->ready_arg);

    while (!s_stopping (self)) {
        now = zclock_mono ();
        long timeout = s_timers (self, now);
        //  The waitset asks libzmq only about sockets that had traffic since the
        //  last wait (zdex_waitset.h): every send touches its socket.
        self->sockets[0] = self->executors;
        size_t item_count = 1;
        for (size_t index = 0; index < self->member_count; index++) {
            zsock_t *dealer = self->members[index]->dealer;
            if (dealer) {
                self->sockets[item_count] = dealer;
                self->item_member[item_count++] = index;
            }
        }
        if (zdex_waitset_wait (self->waitset, self->sockets, item_count, (int) timeout) < 0) {
            zsys_error ("zdex_worker: poll failed: %s", zmq_strerror (errno));
            break;
        }
        now = zclock_mono ();
        if (zdex_waitset_ready (self->waitset, self->executors))
            s_results_take (self, now);
        for (size_t item = 1; item < item_count; item++)
            if (zdex_waitset_ready (self->waitset, self->sockets[item]))
                s_member_recv (self, self->item_member[item], now);
        //  The results of this pass leave together, one message per member.
        for (size_t index = 0; index < self->member_count; index++)
            s_member_flush (self, self->members[index], now);
    }

    //  Say goodbye first, so members re-dispatch our tasks while handlers finish.
    now = zclock_mono ();
    for (size_t index = 0; index < self->member_count; index++)
        s_member_send (self, self->members[index], S_BYE_FRAME, strlen (S_BYE_FRAME), now);
    s_teardown (self);
    self->running = false;
    return 0;
}

void
zdex_worker_stop (zdex_worker_t *self)
{
    assert (self);
    atomic_store (&self->stop, 1);
}

bool
zdex_worker_stopped (zdex_worker_t *self)
{
    assert (self);
    return s_stopping (self);
}

uint64_t
zdex_worker_tasks_done (zdex_worker_t *self)
{
    assert (self);
    return atomic_load (&self->tasks_done);
}

size_t
zdex_worker_members (zdex_worker_t *self)
{
    assert (self);
    return atomic_load (&self->serving);
}
