//  zdex_dispatcher: the member side of the worker protocol.
//
//  Sockets: the worker endpoint ROUTER (borrowed from the broker), set
//  ROUTER_MANDATORY so a send to a worker that is gone fails instead of vanishing.
//
//  Worker state machine, per connection identity:
//      (unknown) --worker.ready--> LIVE
//      LIVE --any message--> LIVE (liveness refreshed)
//      LIVE --silent timeout_ms, worker.bye, or a failed send--> (removed; its jobs
//            requeued at the front of their queues with attempt + 1)
//      (unknown) --anything but worker.ready--> answered with worker.bye
//
//  Batches: a job's worker.task frame waits in its worker's outbox until the
//  pass ends (zdex_dispatcher_flush), so the tasks a pass hands one worker leave
//  in as few messages as its worker.ready's "batch" allows: each message through
//  libzmq costs a pipe flush and, often, a thread wake-up on both sides, and that
//  (not zdex's code) is most of the CPU a task costs.  A worker's message may hold
//  several frames too, each one complete message, handled in order.
//
//  Job state machine: QUEUED --free slot--> RUNNING --result--> DONE (delivered)
//                     QUEUED --cancel--> (freed, counted cancelled)
//                     RUNNING --cancel--> RUNNING, result dropped when it comes
//                     RUNNING --worker dead--> QUEUED (attempt + 1)

#include "zdex_hash_table.h"
#include "zdex_dispatcher.h"

#include <inttypes.h>

#define S_KEY_MAX ZDEX_JOB_KEY_MAX //  see zdex_job_key_of

typedef struct {
    zframe_t *identity;
    char *key; //  identity in hex: the workers map key
    char *name;
    zlistx_t *types; //  char * (owned)
    int slots;
    int running;
    zlistx_t *jobs; //  zdex_job_t * running here (not owned)
    int64_t last_recv;
    int64_t last_send;
    bool broken;       //  a send failed: remove at the next tick
    bool discover;     //  sent worker.members whenever the member list changes
    int batch;         //  worker.task frames it takes in one message (worker.ready)
    zframe_t **outbox; //  worker.task frames for this pass's send (never more than slots)
    size_t outbox_size;
    size_t outbox_max;
    void *dirty; //  handle in the dispatcher's dirty list while outbox_size > 0
} s_worker_t;

typedef struct {
    zdex_executor_t *executor;
    char *type;
    zlistx_t *jobs; //  zdex_job_t * (owned while queued)
} s_queue_t;

struct _zdex_dispatcher_t {
    zsock_t *router;
    zdex_waitset_t *waitset; //  the owner's, or NULL (see zdex_dispatcher_set_waitset)
    zdex_registry_t *registry;
    zdex_limits_t limits;
    int heartbeat_ms;
    int timeout_ms;
    zdex_dispatcher_deliver_fn *deliver;
    void *deliver_arg;
    zhashx_t *workers;  //  hex identity → s_worker_t (owned)
    zhashx_t *by_type;  //  type → zlistx of s_worker_t * (not owned)
    zhashx_t *jobs;     //  job key → zdex_job_t (not owned: owned by queue or worker)
    zlistx_t *queues;   //  every s_queue_t (owned)
    size_t queued;      //  jobs in all queues
    int64_t free_slots; //  sum of (slots - running) over workers
    zframe_t *heartbeat;
    zframe_t *bye;
    zframe_t *members; //  worker.members for workers that discover; NULL until known
    zlistx_t *dirty;   //  s_worker_t * with frames in their outbox (not owned)
};

static void s_pump (zdex_dispatcher_t *self);

static void
s_worker_destroy (s_worker_t **self_p)
{
    s_worker_t *self = *self_p;
    if (self) {
        zframe_destroy (&self->identity);
        zlistx_destroy (&self->types);
        zlistx_destroy (&self->jobs);
        for (size_t index = 0; index < self->outbox_size; index++)
            zframe_destroy (&self->outbox[index]);
        free (self->outbox);
        free (self->key);
        free (self->name);
        free (self);
        *self_p = NULL;
    }
}

static void
s_queue_destroy (void **item_p)
{
    s_queue_t *queue = (s_queue_t *) *item_p;
    if (queue) {
        zdex_job_t *job = (zdex_job_t *) zlistx_first (queue->jobs);
        while (job) {
            zdex_job_destroy (&job);
            job = (zdex_job_t *) zlistx_next (queue->jobs);
        }
        zlistx_destroy (&queue->jobs);
        free (queue->type);
        free (queue);
        *item_p = NULL;
    }
}

static int
s_pointer_compare (const void *item1, const void *item2)
{
    return item1 == item2 ? 0 : (item1 < item2 ? -1 : 1);
}

zdex_dispatcher_t *
zdex_dispatcher_new (zsock_t *router, zdex_registry_t *registry, const zdex_limits_t *limits,
                     int heartbeat_ms, int timeout_ms, zdex_dispatcher_deliver_fn *deliver,
                     void *deliver_arg)
{
    assert (router);
    assert (registry);
    assert (deliver);
    assert (heartbeat_ms > 0 && timeout_ms > heartbeat_ms);
    zdex_dispatcher_t *self = (zdex_dispatcher_t *) zmalloc (sizeof (zdex_dispatcher_t));
    assert (self);
    self->router = router;
    self->registry = registry;
    self->limits = *limits;
    self->heartbeat_ms = heartbeat_ms;
    self->timeout_ms = timeout_ms;
    self->deliver = deliver;
    self->deliver_arg = deliver_arg;
    self->workers = zdex_hash_table_new ();
    self->by_type = zdex_hash_table_new ();
    self->jobs = zdex_hash_table_new ();
    self->queues = zlistx_new ();
    self->dirty = zlistx_new ();
    assert (self->workers && self->by_type && self->jobs && self->queues && self->dirty);
    zhashx_set_destructor (self->by_type, (zhashx_destructor_fn *) zlistx_destroy);
    zlistx_set_destructor (self->queues, s_queue_destroy);
    self->heartbeat = zdex_wmsg_simple ("worker.heartbeat");
    self->bye = zdex_wmsg_simple ("worker.bye");
    zsock_set_router_mandatory (router, 1);
    zsock_set_sndtimeo (router, 0);
    zsock_set_rcvtimeo (router, 0);
    return self;
}

void
zdex_dispatcher_destroy (zdex_dispatcher_t **self_p)
{
    assert (self_p);
    zdex_dispatcher_t *self = *self_p;
    if (self) {
        //  Running jobs are owned by their workers' records.
        s_worker_t *worker = (s_worker_t *) zhashx_first (self->workers);
        while (worker) {
            zdex_job_t *job = (zdex_job_t *) zlistx_first (worker->jobs);
            while (job) {
                zdex_job_destroy (&job);
                job = (zdex_job_t *) zlistx_next (worker->jobs);
            }
            s_worker_destroy (&worker);
            worker = (s_worker_t *) zhashx_next (self->workers);
        }
        zhashx_destroy (&self->workers);
        zhashx_destroy (&self->by_type);
        zhashx_destroy (&self->jobs);
        zlistx_destroy (&self->queues);
        zlistx_destroy (&self->dirty);
        zframe_destroy (&self->heartbeat);
        zframe_destroy (&self->bye);
        zframe_destroy (&self->members);
        free (self);
        *self_p = NULL;
    }
}

//  A failed send: the worker is removed (its jobs requeued) at the next tick.
static void
s_broken (s_worker_t *worker)
{
    if (!worker->broken)
        zsys_warning ("dispatcher: send to worker %s failed (%s); dropping it",
                      worker->name ? worker->name : worker->key, zmq_strerror (zmq_errno ()));
    worker->broken = true;
}

//  Send the worker's outbox: up to batch frames per message after its identity.
//  Frames that cannot leave are dropped with the worker.
static void
s_flush_worker (zdex_dispatcher_t *self, s_worker_t *worker)
{
    if (worker->outbox_size == 0)
        return;
    zlistx_delete (self->dirty, worker->dirty);
    worker->dirty = NULL;
    zdex_waitset_touch (self->waitset, self->router);
    size_t sent = 0;
    while (sent < worker->outbox_size && !worker->broken) {
        size_t end = sent + (size_t) worker->batch;
        if (end > worker->outbox_size)
            end = worker->outbox_size;
        zframe_t *identity = zframe_dup (worker->identity);
        if (zframe_send (&identity, self->router, ZFRAME_MORE) != 0) {
            zframe_destroy (&identity);
            s_broken (worker);
            break;
        }
        //  Once the identity is out the message is routed (libzmq checks the
        //  high-water mark on the first frame only).
        for (; sent < end; sent++)
            if (zframe_send (&worker->outbox[sent], self->router, sent + 1 < end ? ZFRAME_MORE : 0))
                zframe_destroy (&worker->outbox[sent]);
    }
    for (; sent < worker->outbox_size; sent++)
        zframe_destroy (&worker->outbox[sent]);
    worker->outbox_size = 0;
    worker->last_send = zclock_mono ();
}

//  Send one frame to a worker now, after what its outbox holds.  Returns -1 and
//  marks the worker broken when it cannot leave.
static int
s_send (zdex_dispatcher_t *self, s_worker_t *worker, zframe_t **frame_p, bool reuse)
{
    s_flush_worker (self, worker);
    zframe_t *identity = zframe_dup (worker->identity);
    zdex_waitset_touch (self->waitset, self->router);
    if (worker->broken || zframe_send (&identity, self->router, ZFRAME_MORE) != 0 ||
        zframe_send (frame_p, self->router, reuse ? ZFRAME_REUSE : 0) != 0) {
        zframe_destroy (&identity);
        if (!reuse)
            zframe_destroy (frame_p);
        s_broken (worker);
        return -1;
    }
    worker->last_send = zclock_mono ();
    return 0;
}

//  Queue a worker.task frame for the end of the pass (zdex_dispatcher_flush).
static void
s_post (zdex_dispatcher_t *self, s_worker_t *worker, zframe_t **frame_p)
{
    if (worker->outbox_size == worker->outbox_max) {
        size_t max = worker->outbox_max ? 2 * worker->outbox_max : 16;
        zframe_t **outbox = (zframe_t **) realloc (worker->outbox, max * sizeof (zframe_t *));
        assert (outbox);
        worker->outbox = outbox;
        worker->outbox_max = max;
    }
    worker->outbox[worker->outbox_size++] = *frame_p;
    *frame_p = NULL;
    if (!worker->dirty)
        worker->dirty = zlistx_add_end (self->dirty, worker);
    if (worker->outbox_size >= (size_t) worker->batch * 16)
        s_flush_worker (self, worker); //  a pass that hands out thousands: keep it moving
}

static void
s_send_to_identity (zdex_dispatcher_t *self, zframe_t *identity, zframe_t *frame)
{
    zframe_t *copy = zframe_dup (identity);
    zdex_waitset_touch (self->waitset, self->router);
    if (zframe_send (&copy, self->router, ZFRAME_MORE) == 0)
        zframe_send (&frame, self->router, ZFRAME_REUSE);
    else
        zframe_destroy (&copy);
}

static s_queue_t *
s_queue_require (zdex_dispatcher_t *self, zdex_executor_t *executor, const char *type)
{
    s_queue_t *queue = (s_queue_t *) zhashx_lookup (executor->queues, type);
    if (!queue) {
        queue = (s_queue_t *) zmalloc (sizeof (s_queue_t));
        assert (queue);
        queue->executor = executor;
        queue->type = strdup (type);
        queue->jobs = zlistx_new ();
        assert (queue->type && queue->jobs);
        zhashx_insert (executor->queues, type, queue);
        zlistx_add_end (self->queues, queue);
    }
    return queue;
}

static void
s_enqueue (zdex_dispatcher_t *self, zdex_job_t *job, bool at_front)
{
    zdex_executor_t *executor = zdex_registry_lookup (self->registry, job->executor);
    assert (executor);
    s_queue_t *queue = s_queue_require (self, executor, job->type);
    job->state = ZDEX_JOB_QUEUED;
    job->queue = queue;
    job->worker = NULL;
    job->queued_at = zclock_mono ();
    job->handle =
        at_front ? zlistx_add_start (queue->jobs, job) : zlistx_add_end (queue->jobs, job);
    executor->queued++;
    executor->stats.pending++;
    self->queued++;
}

static zdex_job_t *
s_dequeue (zdex_dispatcher_t *self, zdex_job_t *job)
{
    s_queue_t *queue = (s_queue_t *) job->queue;
    zlistx_detach (queue->jobs, job->handle);
    job->handle = NULL;
    job->queue = NULL;
    queue->executor->queued--;
    queue->executor->stats.pending--;
    self->queued--;
    return job;
}

//  Worker with the most free slots that serves type, or NULL.
static s_worker_t *
s_pick_worker (zdex_dispatcher_t *self, const char *type)
{
    zlistx_t *workers = (zlistx_t *) zhashx_lookup (self->by_type, type);
    if (!workers)
        return NULL;
    s_worker_t *best = NULL;
    s_worker_t *worker = (s_worker_t *) zlistx_first (workers);
    while (worker) {
        if (!worker->broken && worker->running < worker->slots &&
            (!best || worker->slots - worker->running > best->slots - best->running))
            best = worker;
        worker = (s_worker_t *) zlistx_next (workers);
    }
    return best;
}

static void
s_start (zdex_dispatcher_t *self, s_worker_t *worker, zdex_job_t *job)
{
    zframe_t *frame = job->ref ? zdex_wmsg_scheduled_task (job->ref, job->task_id, job->attempt,
                                                           job->type, job->payload, job->state_text)
                               : zdex_wmsg_task (job->executor, job->task_id, job->attempt,
                                                 job->type, job->payload);
    assert (frame);
    s_post (self, worker, &frame);
    zdex_executor_t *executor = zdex_registry_lookup (self->registry, job->executor);
    int64_t now = zclock_mono ();
    job->state = ZDEX_JOB_RUNNING;
    job->started_at = now;
    job->worker = worker;
    job->handle = zlistx_add_end (worker->jobs, job);
    worker->running++;
    self->free_slots--;
    executor->running++;
    executor->stats.started++;
    executor->stats.total_start_latency_ms += now - job->queued_at;
}

static void
s_pump (zdex_dispatcher_t *self)
{
    if (self->queued == 0 || self->free_slots <= 0)
        return;
    s_queue_t *queue = (s_queue_t *) zlistx_first (self->queues);
    while (queue && self->free_slots > 0) {
        zdex_executor_t *executor = queue->executor;
        while (zlistx_size (queue->jobs) > 0 &&
               executor->running < (size_t) executor->config.pool_size) {
            s_worker_t *worker = s_pick_worker (self, queue->type);
            if (!worker)
                break;
            zdex_job_t *job = (zdex_job_t *) zlistx_first (queue->jobs);
            s_dequeue (self, job);
            s_start (self, worker, job);
        }
        queue = (s_queue_t *) zlistx_next (self->queues);
    }
}

static void
s_index_worker (zdex_dispatcher_t *self, s_worker_t *worker, bool add)
{
    const char *type = (const char *) zlistx_first (worker->types);
    while (type) {
        zlistx_t *workers = (zlistx_t *) zhashx_lookup (self->by_type, type);
        if (add) {
            if (!workers) {
                workers = zlistx_new ();
                assert (workers);
                zlistx_set_comparator (workers, s_pointer_compare);
                zhashx_insert (self->by_type, type, workers);
            }
            zlistx_add_end (workers, worker);
        } else if (workers) {
            void *handle = zlistx_find (workers, worker);
            if (handle)
                zlistx_delete (workers, handle);
            if (zlistx_size (workers) == 0)
                zhashx_delete (self->by_type, type);
        }
        type = (const char *) zlistx_next (worker->types);
    }
}

//  Remove a worker; its running jobs go back to the front of their queues with
//  the next attempt number, cancelled ones are dropped.
static void
s_remove_worker (zdex_dispatcher_t *self, s_worker_t *worker, const char *why)
{
    zsys_info ("dispatcher: worker %s removed (%s), %d task(s) to re-dispatch",
               worker->name ? worker->name : worker->key, why, worker->running);
    s_index_worker (self, worker, false);
    zdex_job_t *job = (zdex_job_t *) zlistx_last (worker->jobs);
    while (job) {
        zdex_executor_t *executor = zdex_registry_lookup (self->registry, job->executor);
        executor->running--;
        if (job->cancelled) {
            char key[S_KEY_MAX];
            zdex_job_key_of (job, key, sizeof key);
            zhashx_delete (self->jobs, key);
            zdex_job_destroy (&job);
        } else {
            job->attempt++;
            s_enqueue (self, job, true);
        }
        job = (zdex_job_t *) zlistx_prev (worker->jobs);
    }
    self->free_slots -= worker->slots - worker->running;
    if (worker->dirty)
        zlistx_delete (self->dirty, worker->dirty);
    char *key = strdup (worker->key);
    zhashx_delete (self->workers, key); //  the map does not own; free the record
    free (key);
    s_worker_destroy (&worker);
}

//  A ROUTER identity is at most 255 bytes: its hex key fits on the stack.
#define S_IDENTITY_KEY_MAX (2 * 255 + 1)

//  The workers map key of an identity (hex, as zframe_strhex), without a malloc:
//  this runs for every message a worker sends.
static void
s_identity_key (const byte *data, size_t size, char *key)
{
    static const char hex[] = "0123456789ABCDEF";
    assert (size <= 255);
    for (size_t index = 0; index < size; index++) {
        key[2 * index] = hex[data[index] >> 4];
        key[2 * index + 1] = hex[data[index] & 15];
    }
    key[2 * size] = '\0';
}

static void
s_on_ready (zdex_dispatcher_t *self, zframe_t **identity_p, const char *key, zdex_wmsg_t *msg)
{
    s_worker_t *worker = (s_worker_t *) zhashx_lookup (self->workers, key);
    if (worker) {
        //  Re-registration on a live connection: new types and slots, same jobs.
        s_index_worker (self, worker, false);
        zlistx_destroy (&worker->types);
        self->free_slots -= worker->slots - worker->running;
    } else {
        worker = (s_worker_t *) zmalloc (sizeof (s_worker_t));
        assert (worker);
        worker->identity = *identity_p;
        *identity_p = NULL;
        worker->key = strdup (key);
        worker->jobs = zlistx_new ();
        assert (worker->key && worker->jobs);
        worker->last_send = zclock_mono ();
        zhashx_insert (self->workers, key, worker);
    }
    free (worker->name);
    worker->name = msg->name ? strdup (msg->name) : NULL;
    worker->types = zlistx_new ();
    assert (worker->types);
    zlistx_set_destructor (worker->types, (zlistx_destructor_fn *) zstr_free);
    const char *type = (const char *) zlist_first (msg->types);
    while (type) {
        zlistx_add_end (worker->types, strdup (type));
        type = (const char *) zlist_next (msg->types);
    }
    worker->slots = msg->slots;
    worker->discover = msg->discover;
    worker->batch = msg->batch;
    self->free_slots += worker->slots - worker->running;
    s_index_worker (self, worker, true);
    if (worker->discover && self->members)
        s_send (self, worker, &self->members, true);
    zsys_info ("dispatcher: worker %s ready, %d slot(s)", worker->name ? worker->name : key,
               worker->slots);
}

static void
s_on_result (zdex_dispatcher_t *self, s_worker_t *worker, zdex_wmsg_t *msg)
{
    char key[S_KEY_MAX];
    uint64_t run = msg->task_id;
    if (msg->scheduled) {
        char *urn = zdex_handler_format (msg->handler.partition, msg->handler.member,
                                         msg->handler.scheduler, msg->handler.name);
        assert (urn);
        snprintf (key, sizeof key, "s/%s", urn);
        free (urn);
        run = msg->run;
    } else
        zdex_job_key (msg->executor, msg->task_id, key, sizeof key);
    zdex_job_t *job = (zdex_job_t *) zhashx_lookup (self->jobs, key);
    if (!job || job->state != ZDEX_JOB_RUNNING || job->worker != worker ||
        job->attempt != msg->attempt || job->task_id != run) {
        zsys_info ("dispatcher: dropped stale result for %s attempt %" PRIu32, key, msg->attempt);
        return;
    }
    zlistx_detach (worker->jobs, job->handle);
    job->handle = NULL;
    job->worker = NULL;
    worker->running--;
    self->free_slots++;
    zdex_executor_t *executor = zdex_registry_lookup (self->registry, job->executor);
    executor->running--;
    executor->stats.completed++;
    executor->stats.total_execution_time_ms += zclock_mono () - job->started_at;
    zhashx_delete (self->jobs, key);
    if (job->cancelled) {
        zdex_job_destroy (&job);
        return;
    }
    job->state = ZDEX_JOB_DONE;
    job->ok = msg->ok;
    //  The texts are taken, not copied: the ring keeps the very block.
    if (msg->ok) {
        job->result = msg->value_text;
        msg->value_text = NULL;
    } else
        job->result = zdex_json_quote (msg->error);
    assert (job->result);
    free (job->state_text); //  from here on: the state the run returned, if any
    job->state_text = NULL;
    if (job->ref) {
        job->state_text = msg->state_text;
        msg->state_text = NULL;
    }
    free (job->payload); //  the stored copy lives in the ring
    job->payload = NULL;
    //  Last: deliver may submit (zdex_dispatcher_deliver_fn).
    self->deliver (job, self->deliver_arg);
}

//  One frame of a message from a worker (each frame is one complete message).
//  Read as zmq messages, not a zmsg: this is every worker.result.
static void
s_handle (zdex_dispatcher_t *self, zmq_msg_t *identity_msg, zmq_msg_t *body)
{
    char key[S_IDENTITY_KEY_MAX];
    s_identity_key ((const byte *) zmq_msg_data (identity_msg), zmq_msg_size (identity_msg), key);
    s_worker_t *worker = (s_worker_t *) zhashx_lookup (self->workers, key);
    if (worker)
        worker->last_recv = zclock_mono ();
    zdex_error_t error = {0};
    zdex_wmsg_t *wmsg =
        zdex_wmsg_parse (zmq_msg_data (body), zmq_msg_size (body), &self->limits, &error);
    if (!wmsg) {
        zsys_warning ("dispatcher: bad message from worker %s: %s: %s", key,
                      zdex_code_str (error.code), error.message);
        zdex_error_reset (&error);
    } else if (wmsg->kind == ZDEX_WMSG_READY) {
        zframe_t *identity = zframe_new (zmq_msg_data (identity_msg), zmq_msg_size (identity_msg));
        assert (identity);
        s_on_ready (self, &identity, key, wmsg);
        zframe_destroy (&identity); //  kept by a new worker, else ours
        worker = (s_worker_t *) zhashx_lookup (self->workers, key);
        worker->last_recv = zclock_mono ();
    } else if (!worker) {
        //  A worker we do not know (we restarted, or declared it dead): tell it to
        //  register again.
        if (wmsg->kind != ZDEX_WMSG_BYE) {
            zframe_t *identity =
                zframe_new (zmq_msg_data (identity_msg), zmq_msg_size (identity_msg));
            assert (identity);
            s_send_to_identity (self, identity, self->bye);
            zframe_destroy (&identity);
        }
    } else if (wmsg->kind == ZDEX_WMSG_RESULT)
        s_on_result (self, worker, wmsg);
    else if (wmsg->kind == ZDEX_WMSG_BYE)
        s_remove_worker (self, worker, "said bye");
    zdex_wmsg_destroy (&wmsg);
}

//  Handle one message from a worker: its identity, then up to ZDEX_WMSG_BATCH_MAX
//  frames, each one worker message (the rest of a longer one is dropped).
//  Returns false when nothing was waiting.
static bool
s_recv_one (zdex_dispatcher_t *self, void *handle)
{
    zmq_msg_t identity, body;
    zmq_msg_init (&identity);
    if (zmq_msg_recv (&identity, handle, ZMQ_DONTWAIT) == -1) {
        zmq_msg_close (&identity);
        return false;
    }
    bool more = zmq_msg_more (&identity);
    for (size_t count = 0; more; count++) {
        zmq_msg_init (&body);
        if (zmq_msg_recv (&body, handle, 0) == -1) {
            zmq_msg_close (&body);
            break;
        }
        more = zmq_msg_more (&body);
        if (count < ZDEX_WMSG_BATCH_MAX)
            s_handle (self, &identity, &body);
        else if (count == ZDEX_WMSG_BATCH_MAX)
            zsys_warning ("dispatcher: a worker message of more than %d frames; "
                          "the rest is dropped",
                          ZDEX_WMSG_BATCH_MAX);
        zmq_msg_close (&body);
    }
    zmq_msg_close (&identity);
    return true;
}

void
zdex_dispatcher_recv (zdex_dispatcher_t *self)
{
    assert (self);
    void *handle = zsock_resolve (self->router);
    //  Drain what is waiting, bounded so client traffic is not starved.
    int limit = zdex_waitset_ready (self->waitset, handle) ? 1000 : 0;
    for (int count = 0; count < limit; count++)
        if (!s_recv_one (self, handle)) {
            zdex_waitset_drained (self->waitset, handle);
            break; //  nothing waiting
        }
    s_pump (self);
}

void
zdex_dispatcher_flush (zdex_dispatcher_t *self)
{
    assert (self);
    s_worker_t *worker;
    while ((worker = (s_worker_t *) zlistx_first (self->dirty)))
        s_flush_worker (self, worker);
}

void
zdex_dispatcher_set_waitset (zdex_dispatcher_t *self, zdex_waitset_t *waitset)
{
    assert (self);
    self->waitset = waitset;
}

void
zdex_dispatcher_submit (zdex_dispatcher_t *self, zdex_job_t **job_p)
{
    assert (self);
    assert (job_p && *job_p);
    zdex_job_t *job = *job_p;
    *job_p = NULL;
    char key[S_KEY_MAX];
    zdex_job_key_of (job, key, sizeof key);
    if (zhashx_lookup (self->jobs, key)) {
        //  The same task dispatched twice (a re-dispatch racing the first run):
        //  one run at a time per member is enough.
        zdex_job_destroy (&job);
        return;
    }
    zhashx_insert (self->jobs, key, job);
    s_enqueue (self, job, false);
    s_pump (self);
}

void
zdex_dispatcher_cancel (zdex_dispatcher_t *self, const char *executor_name, uint64_t task_id)
{
    assert (self);
    char key[S_KEY_MAX];
    zdex_job_key (executor_name, task_id, key, sizeof key);
    zdex_job_t *job = (zdex_job_t *) zhashx_lookup (self->jobs, key);
    if (!job)
        return;
    if (job->state == ZDEX_JOB_QUEUED) {
        zdex_executor_t *executor = ((s_queue_t *) job->queue)->executor;
        s_dequeue (self, job);
        executor->stats.cancelled++;
        zhashx_delete (self->jobs, key);
        zdex_job_destroy (&job);
    } else
        job->cancelled = true;
}

json_t *
zdex_dispatcher_drain (zdex_dispatcher_t *self, zdex_executor_t *executor)
{
    assert (self);
    assert (executor);
    json_t *ids = json_array ();
    s_queue_t *queue = (s_queue_t *) zhashx_first (executor->queues);
    while (queue) {
        zdex_job_t *job;
        while ((job = (zdex_job_t *) zlistx_first (queue->jobs))) {
            s_dequeue (self, job);
            executor->stats.cancelled++;
            json_array_append_new (ids, json_integer ((json_int_t) job->task_id));
            char key[S_KEY_MAX];
            zdex_job_key_of (job, key, sizeof key);
            zhashx_delete (self->jobs, key);
            zdex_job_destroy (&job);
        }
        queue = (s_queue_t *) zhashx_next (executor->queues);
    }
    return ids;
}

void
zdex_dispatcher_tick (zdex_dispatcher_t *self)
{
    assert (self);
    int64_t now = zclock_mono ();
    zlist_t *dead = zlist_new ();
    s_worker_t *worker = (s_worker_t *) zhashx_first (self->workers);
    while (worker) {
        if (worker->broken || now - worker->last_recv >= self->timeout_ms)
            zlist_append (dead, worker);
        else if (now - worker->last_send >= self->heartbeat_ms)
            s_send (self, worker, &self->heartbeat, true);
        worker = (s_worker_t *) zhashx_next (self->workers);
    }
    worker = (s_worker_t *) zlist_first (dead);
    while (worker) {
        s_remove_worker (self, worker, worker->broken ? "unreachable" : "silent");
        worker = (s_worker_t *) zlist_next (dead);
    }
    zlist_destroy (&dead);
    s_pump (self);
}

int
zdex_dispatcher_timeout (zdex_dispatcher_t *self)
{
    assert (self);
    if (zhashx_size (self->workers) == 0)
        return -1;
    int64_t now = zclock_mono ();
    int64_t next = INT64_MAX;
    s_worker_t *worker = (s_worker_t *) zhashx_first (self->workers);
    while (worker) {
        if (worker->broken)
            return 0;
        int64_t due = worker->last_send + self->heartbeat_ms;
        if (worker->last_recv + self->timeout_ms < due)
            due = worker->last_recv + self->timeout_ms;
        if (due < next)
            next = due;
        worker = (s_worker_t *) zhashx_next (self->workers);
    }
    return next <= now ? 0 : (int) (next - now);
}

size_t
zdex_dispatcher_queued (zdex_dispatcher_t *self)
{
    assert (self);
    return self->queued;
}

void
zdex_dispatcher_set_members (zdex_dispatcher_t *self, json_t *endpoints)
{
    assert (self);
    json_t *message = json_pack ("{s:s, s:O}", "op", "worker.members", "endpoints", endpoints);
    char *text = json_dumps (message, JSON_COMPACT);
    json_decref (message);
    assert (text);
    if (self->members && zframe_streq (self->members, text)) {
        free (text);
        return;
    }
    zframe_destroy (&self->members);
    self->members = zframe_new (text, strlen (text));
    free (text);
    s_worker_t *worker = (s_worker_t *) zhashx_first (self->workers);
    while (worker) {
        if (worker->discover)
            s_send (self, worker, &self->members, true);
        worker = (s_worker_t *) zhashx_next (self->workers);
    }
}

size_t
zdex_dispatcher_worker_count (zdex_dispatcher_t *self)
{
    assert (self);
    return zhashx_size (self->workers);
}

json_t *
zdex_dispatcher_workers (zdex_dispatcher_t *self)
{
    assert (self);
    json_t *list = json_array ();
    s_worker_t *worker = (s_worker_t *) zhashx_first (self->workers);
    while (worker) {
        json_t *types = json_array ();
        const char *type = (const char *) zlistx_first (worker->types);
        while (type) {
            json_array_append_new (types, json_string (type));
            type = (const char *) zlistx_next (worker->types);
        }
        json_array_append_new (list, json_pack ("{s:s, s:s?, s:o, s:i, s:i}", "id", worker->key,
                                                "name", worker->name, "types", types, "slots",
                                                worker->slots, "running", worker->running));
        worker = (s_worker_t *) zhashx_next (self->workers);
    }
    return list;
}
