//  zdex_worker: the worker protocol loop and its executor threads.
//
//  The thread that calls zdex_worker_run (the run loop) owns one DEALER per member
//  worker endpoint.  A DEALER is recreated (fresh connection, so a fresh routing id
//  at the member) when the member answers worker.bye or stays silent for the
//  heartbeat timeout; each recreation bumps the member's generation, and a result is
//  sent only if its task came from the current generation.
//
//  Executor threads, one per slot, run the handlers.  A job crosses threads as a
//  pointer and is touched by one thread at a time: the run loop parses the
//  worker.task frame into it and hands it to an idle slot (the slot's mutex and
//  condition variable); the executor runs the handler, encodes the result frame into
//  the job and appends the job to the shared results list; the run loop sends the
//  frame and frees the job.  The results list rings an eventfd doorbell, which the
//  run loop polls next to the DEALERs, only when it goes from empty to non-empty, so
//  a busy run loop collects many results per wakeup.  This handoff costs a futex
//  wake per task where inproc ZeroMQ pipes cost several syscalls each way.  Tasks
//  that arrive while every slot is busy wait in a FIFO (several members may each
//  have `slots` tasks outstanding here).  Executor threads block SIGINT/SIGTERM, so
//  the signal interrupts the run loop's poll, not a handler.
//
//  Timers: each member records when we last sent to it and last heard from it; the
//  loop sends worker.heartbeat after heartbeat_ms without sending and recreates the
//  socket after timeout_ms of silence.  Polls last at most S_POLL_SLICE_MS so a stop
//  request (an atomic flag, or zsys_interrupted) is seen promptly.

#include "zdex_worker.h"

#include <czmq.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define S_POLL_SLICE_MS   100
#define S_LINGER_MS       1000 //  so that worker.bye leaves before the process ends
#define S_RECV_BATCH      256  //  frames read from one member before polling again
#define S_HEARTBEAT_FRAME "{\"op\":\"worker.heartbeat\"}"
#define S_BYE_FRAME       "{\"op\":\"worker.bye\"}"

typedef struct {
    zdex_worker_fn *fn;
    void *arg;
} s_handler_t;

typedef struct _s_job_t s_job_t;
struct _s_job_t {
    s_job_t *next;        //  FIFO link while queued
    json_t *task;         //  owned until the executor has run it
    const char *type;     //  points into task
    s_handler_t *handler; //  NULL: no handler for type (fails at once)
    size_t member;        //  index of the member it came from
    uint64_t generation;  //  that member's socket generation when it came
    size_t slot;          //  slot running it
    char *frame;          //  worker.result frame, set by the executor thread
};

typedef struct {
    char *endpoint;
    zsock_t *dealer;     //  NULL only if recreating it failed (retried at timeout)
    uint64_t generation; //  bumped each time dealer is recreated
    int64_t last_sent;   //  monotonic ms
    int64_t last_recv;
} s_member_t;

typedef struct {
    zdex_worker_t *worker;
    pthread_t thread;
    bool started;         //  thread was created
    pthread_mutex_t lock; //  guards job and stop
    pthread_cond_t wake;
    s_job_t *job; //  handed over by the run loop, taken by the executor
    bool stop;
} s_slot_t;

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
    bool running;

    //  Run-loop state (valid during zdex_worker_run)
    s_slot_t *slot_table;
    size_t *idle; //  stack of idle slot indexes
    size_t idle_count;
    s_job_t *queue_head;
    s_job_t *queue_tail;
    char *ready_frame;
    pthread_mutex_t results_lock; //  guards results_head/tail
    s_job_t *results_head;        //  finished jobs, FIFO
    s_job_t *results_tail;
    int doorbell; //  eventfd, rung when results goes non-empty; -1 if none
    zmq_pollitem_t *items;
    size_t *item_member; //  poll item index -> member index
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

//  Send a frame to a member without blocking; a frame that finds the queue full is
//  dropped (the member times the connection out and re-dispatches its tasks).
static void
s_member_send (s_member_t *member, const char *frame, size_t size, int64_t now)
{
    //  Counts as sent even when dropped, so the heartbeat timer does not spin.
    member->last_sent = now;
    if (!member->dealer)
        return;
    void *handle = zsock_resolve (member->dealer);
    while (zmq_send (handle, frame, size, ZMQ_DONTWAIT) < 0) {
        if (errno != EINTR) {
            zsys_warning ("zdex_worker: dropped a frame to %s: %s", member->endpoint,
                          zmq_strerror (errno));
            return;
        }
    }
}

//  ---------------------------------------------------------------------------------
//  Executor threads

//  Encode the worker.result of job; on failure (or a frame above max_result) the
//  result becomes a failure saying why.
static char *
s_result_frame (zdex_worker_t *self, json_t *task, int rc, json_t *value, const char *error)
{
    json_t *result = json_object ();
    json_object_set_new (result, "op", json_string ("worker.result"));
    json_object_set (result, "ref", json_object_get (task, "ref"));
    json_t *attempt = json_object_get (task, "attempt");
    if (attempt)
        json_object_set (result, "attempt", attempt);
    if (rc == 0) {
        json_object_set_new (result, "ok", json_true ());
        json_object_set_new (result, "value", value ? value : json_null ());
    } else {
        json_decref (value);
        json_t *text = json_string (error ? error : "task failed");
        json_object_set_new (result, "ok", json_false ());
        json_object_set_new (result, "error",
                             text ? text : json_string ("task failed (message not UTF-8)"));
    }
    char *frame = json_dumps (result, JSON_COMPACT);
    size_t size = frame ? strlen (frame) : 0;
    if (!frame || size > self->max_result) {
        free (frame);
        json_object_del (result, "value");
        json_object_set_new (result, "ok", json_false ());
        char *message =
            frame ? zsys_sprintf ("result too large: %zu bytes (limit %zu)", size, self->max_result)
                  : strdup ("result cannot be encoded");
        json_object_set_new (result, "error", json_string (message));
        free (message);
        frame = json_dumps (result, JSON_COMPACT);
    }
    json_decref (result);
    return frame;
}

static void
s_execute (zdex_worker_t *self, s_job_t *job)
{
    json_t *task = job->task;
    json_t *payload = json_object_get (task, "payload");
    if (!payload)
        payload = json_null ();
    if (self->task_fn) {
        json_t *attempt = json_object_get (task, "attempt");
        char *ref = json_dumps (json_object_get (task, "ref"), JSON_COMPACT | JSON_ENCODE_ANY);
        self->task_fn (job->type, json_is_integer (attempt) ? json_integer_value (attempt) : -1,
                       ref ? ref : "null", self->task_arg);
        free (ref);
    }
    json_t *value = NULL;
    char *error = NULL;
    int rc;
    if (job->handler)
        rc = job->handler->fn (job->type, payload, &value, &error, job->handler->arg);
    else {
        rc = -1;
        error = zsys_sprintf ("no handler for task type %s", job->type);
    }
    job->frame = s_result_frame (self, task, rc == 0 ? 0 : -1, value, error);
    free (error);
    json_decref (task);
    job->task = NULL;
    job->type = NULL;
}

//  Append a finished job to the results list; ring the doorbell if the run loop may
//  be waiting for it.
static void
s_result_push (zdex_worker_t *self, s_job_t *job)
{
    job->next = NULL;
    pthread_mutex_lock (&self->results_lock);
    bool was_empty = self->results_head == NULL;
    if (self->results_tail)
        self->results_tail->next = job;
    else
        self->results_head = job;
    self->results_tail = job;
    pthread_mutex_unlock (&self->results_lock);
    if (was_empty) {
        uint64_t one = 1;
        while (write (self->doorbell, &one, sizeof one) < 0 && errno == EINTR)
            ;
    }
}

//  One executor thread: runs the jobs its slot is given until told to stop.
static void *
s_executor (void *arg)
{
    s_slot_t *slot = (s_slot_t *) arg;
    while (true) {
        pthread_mutex_lock (&slot->lock);
        while (!slot->job && !slot->stop)
            pthread_cond_wait (&slot->wake, &slot->lock);
        s_job_t *job = slot->job;
        slot->job = NULL;
        pthread_mutex_unlock (&slot->lock);
        if (!job)
            break; //  stop, and nothing left to run
        s_execute (slot->worker, job);
        s_result_push (slot->worker, job);
    }
    return NULL;
}

//  ---------------------------------------------------------------------------------
//  Run loop

static void
s_dispatch (zdex_worker_t *self, size_t index, s_job_t *job)
{
    s_slot_t *slot = &self->slot_table[index];
    job->slot = index;
    job->next = NULL;
    pthread_mutex_lock (&slot->lock);
    slot->job = job;
    pthread_mutex_unlock (&slot->lock);
    //  Signalled after unlocking, so the executor does not wake into a held mutex.
    pthread_cond_signal (&slot->wake);
}

static void
s_job_destroy (s_job_t **job_p)
{
    s_job_t *job = *job_p;
    if (job) {
        json_decref (job->task);
        free (job->frame);
        free (job);
        *job_p = NULL;
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
    s_member_send (member, self->ready_frame, strlen (self->ready_frame), now);
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
    member->dealer = s_dealer_new (member->endpoint);
    if (!member->dealer)
        zsys_error ("zdex_worker: cannot recreate socket to %s", member->endpoint);
    s_member_ready (self, member, now);
}

static void
s_task_arrived (zdex_worker_t *self, size_t index, json_t *task)
{
    const char *type = json_string_value (json_object_get (task, "type"));
    if (!type || !json_object_get (task, "ref")) {
        zsys_warning ("zdex_worker: malformed worker.task from %s", self->members[index]->endpoint);
        json_decref (task);
        return;
    }
    s_job_t *job = (s_job_t *) zmalloc (sizeof (s_job_t));
    job->task = task;
    job->type = type;
    job->handler = (s_handler_t *) zhashx_lookup (self->handlers, type);
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

//  Read what a member sent.  Any frame counts as life.
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
            break;
        }
        bool more = zmq_msg_more (&msg);
        json_error_t error;
        json_t *message = json_loadb ((const char *) zmq_msg_data (&msg), zmq_msg_size (&msg),
                                      JSON_REJECT_DUPLICATES, &error);
        zmq_msg_close (&msg);
        if (more) {
            //  One JSON object per frame: a multi-frame message is not ours.
            json_decref (message);
            message = NULL;
            while (more && zmq_recv (handle, NULL, 0, 0) >= 0)
                more = zsock_rcvmore (member->dealer);
        }
        const char *op = json_string_value (json_object_get (message, "op"));
        if (op && streq (op, "worker.task")) {
            s_task_arrived (self, index, message);
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
    atomic_fetch_add (&self->tasks_done, 1);
    s_member_t *member = self->members[job->member];
    if (job->frame && job->generation == member->generation)
        s_member_send (member, job->frame, strlen (job->frame), now);
    size_t slot = job->slot;
    s_job_destroy (&job);
    s_job_t *next = self->queue_head;
    if (next) {
        self->queue_head = next->next;
        if (!self->queue_head)
            self->queue_tail = NULL;
        next->next = NULL;
        s_dispatch (self, slot, next);
    } else
        self->idle[self->idle_count++] = slot;
}

//  Take every finished job (the doorbell is reset first, so a job pushed after the
//  list is taken rings it again).
static s_job_t *
s_results_take (zdex_worker_t *self)
{
    uint64_t count;
    if (read (self->doorbell, &count, sizeof count) < 0 && errno != EAGAIN)
        zsys_warning ("zdex_worker: doorbell read failed: %s", strerror (errno));
    pthread_mutex_lock (&self->results_lock);
    s_job_t *jobs = self->results_head;
    self->results_head = NULL;
    self->results_tail = NULL;
    pthread_mutex_unlock (&self->results_lock);
    return jobs;
}

//  Send heartbeats and replace silent members; returns the poll timeout.
static long
s_timers (zdex_worker_t *self, int64_t now)
{
    int64_t wait = S_POLL_SLICE_MS;
    for (size_t index = 0; index < self->member_count; index++) {
        s_member_t *member = self->members[index];
        if (now - member->last_recv >= self->timeout_ms) {
            s_member_reset (self, index, now);
        }
        if (now - member->last_sent >= self->heartbeat_ms)
            s_member_send (member, S_HEARTBEAT_FRAME, strlen (S_HEARTBEAT_FRAME), now);
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
    char *frame = json_dumps (ready, JSON_COMPACT);
    json_decref (ready);
    return frame;
}

//  Start one executor thread per slot, with SIGINT/SIGTERM blocked in them.
static int
s_start_executors (zdex_worker_t *self)
{
    sigset_t blocked, saved;
    sigemptyset (&blocked);
    sigaddset (&blocked, SIGINT);
    sigaddset (&blocked, SIGTERM);
    pthread_sigmask (SIG_BLOCK, &blocked, &saved);
    int rc = 0;
    for (int index = 0; index < self->slots && rc == 0; index++) {
        s_slot_t *slot = &self->slot_table[index];
        if (pthread_create (&slot->thread, NULL, s_executor, slot) == 0) {
            slot->started = true;
            self->idle[self->idle_count++] = (size_t) (self->slots - 1 - index);
        } else
            rc = -1;
    }
    pthread_sigmask (SIG_SETMASK, &saved, NULL);
    return rc;
}

//  Create the run-loop state; returns 0 or -1 (partial state is freed by s_teardown).
static int
s_setup (zdex_worker_t *self)
{
    self->ready_frame = s_ready_frame (self);
    self->slot_table = (s_slot_t *) zmalloc (sizeof (s_slot_t) * (size_t) self->slots);
    for (int index = 0; index < self->slots; index++) {
        self->slot_table[index].worker = self;
        pthread_mutex_init (&self->slot_table[index].lock, NULL);
        pthread_cond_init (&self->slot_table[index].wake, NULL);
    }
    self->idle = (size_t *) zmalloc (sizeof (size_t) * (size_t) self->slots);
    self->items = (zmq_pollitem_t *) zmalloc (sizeof (zmq_pollitem_t) * (1 + self->member_count));
    self->item_member = (size_t *) zmalloc (sizeof (size_t) * (1 + self->member_count));
    pthread_mutex_init (&self->results_lock, NULL);
    self->doorbell = eventfd (0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (!self->ready_frame || self->doorbell < 0)
        return -1;
    for (size_t index = 0; index < self->member_count; index++)
        if (!self->members[index]->dealer)
            return -1;
    return s_start_executors (self);
}

//  Wait for running handlers (their results are dropped), stop the executor threads,
//  free run-loop state.
static void
s_teardown (zdex_worker_t *self)
{
    size_t started = 0;
    while (started < (size_t) self->slots && self->slot_table[started].started)
        started++;
    //  Slots are started in order, and only started slots are ever busy.
    while (self->idle_count < started) {
        zmq_pollitem_t item = {NULL, self->doorbell, ZMQ_POLLIN, 0};
        if (zmq_poll (&item, 1, S_POLL_SLICE_MS) < 0 && errno != EINTR)
            break;
        s_job_t *job = s_results_take (self);
        while (job) {
            s_job_t *next = job->next;
            atomic_fetch_add (&self->tasks_done, 1);
            self->idle[self->idle_count++] = job->slot;
            s_job_destroy (&job);
            job = next;
        }
    }
    for (size_t index = 0; index < started; index++) {
        s_slot_t *slot = &self->slot_table[index];
        pthread_mutex_lock (&slot->lock);
        slot->stop = true;
        pthread_cond_signal (&slot->wake);
        pthread_mutex_unlock (&slot->lock);
        pthread_join (slot->thread, NULL);
    }
    for (int index = 0; index < self->slots; index++) {
        pthread_mutex_destroy (&self->slot_table[index].lock);
        pthread_cond_destroy (&self->slot_table[index].wake);
    }
    while (self->queue_head) {
        s_job_t *job = self->queue_head;
        self->queue_head = job->next;
        s_job_destroy (&job);
    }
    self->queue_tail = NULL;
    if (self->doorbell >= 0)
        close (self->doorbell);
    self->doorbell = -1;
    pthread_mutex_destroy (&self->results_lock);
    for (size_t index = 0; index < self->member_count; index++)
        zsock_destroy (&self->members[index]->dealer); //  lingers to deliver worker.bye
    free (self->slot_table);
    self->slot_table = NULL;
    free (self->idle);
    self->idle = NULL;
    self->idle_count = 0;
    free (self->items);
    self->items = NULL;
    free (self->item_member);
    self->item_member = NULL;
    free (self->ready_frame);
    self->ready_frame = NULL;
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
    self->doorbell = -1;
    self->handlers = zhashx_new ();
    assert (self->handlers);
    zhashx_set_destructor (self->handlers, s_free_destructor);
    atomic_init (&self->stop, 0);
    atomic_init (&self->tasks_done, 0);
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
    s_member_t **members =
        (s_member_t **) realloc (self->members, sizeof (s_member_t *) * (self->member_count + 1));
    assert (members && member->endpoint);
    self->members = members;
    self->members[self->member_count++] = member;
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

int
zdex_worker_handle (zdex_worker_t *self, const char *type, zdex_worker_fn *fn, void *arg)
{
    assert (self);
    assert (type);
    assert (fn);
    if (self->running || *type == '\0')
        return -1;
    s_handler_t *handler = (s_handler_t *) zmalloc (sizeof (s_handler_t));
    handler->fn = fn;
    handler->arg = arg;
    zhashx_update (self->handlers, type, handler);
    return 0;
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
        self->items[0] = (zmq_pollitem_t){NULL, self->doorbell, ZMQ_POLLIN, 0};
        size_t item_count = 1;
        for (size_t index = 0; index < self->member_count; index++) {
            zsock_t *dealer = self->members[index]->dealer;
            if (dealer) {
                self->items[item_count] =
                    (zmq_pollitem_t){zsock_resolve (dealer), 0, ZMQ_POLLIN, 0};
                self->item_member[item_count++] = index;
            }
        }
        if (zmq_poll (self->items, (int) item_count, timeout) < 0) {
            if (errno == EINTR)
                continue;
            zsys_error ("zdex_worker: poll failed: %s", zmq_strerror (errno));
            break;
        }
        now = zclock_mono ();
        if (self->items[0].revents & ZMQ_POLLIN) {
            s_job_t *job = s_results_take (self);
            while (job) {
                s_job_t *next = job->next;
                s_result_arrived (self, job, now);
                job = next;
            }
        }
        for (size_t item = 1; item < item_count; item++)
            if (self->items[item].revents & ZMQ_POLLIN)
                s_member_recv (self, self->item_member[item], now);
    }

    //  Say goodbye first, so members re-dispatch our tasks while handlers finish.
    now = zclock_mono ();
    for (size_t index = 0; index < self->member_count; index++)
        s_member_send (self->members[index], S_BYE_FRAME, strlen (S_BYE_FRAME), now);
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
