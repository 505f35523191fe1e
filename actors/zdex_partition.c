//  zdex_partition: the partition actor.
//
//  Role: owns the task rings of its partitions (one ring per (executor, partition),
//  created on first use) and the retrieve requests parked on them.  Everything that
//  changes a ring happens here, in one thread, so a partition's operations are
//  serialized without locks.
//
//  Sockets: the actor pipe (commands from the broker, see zdex_partition.h) and a
//  PUSH connected to the broker's collector for replies, dispatches and cancels.
//  The PUSH has no high-water mark: the actor must never block on the broker while
//  the broker blocks on the actor's pipe; what it sends is bounded by what it was
//  given (ring capacity, parked retrieves).
//
//  Task slot state machine (per task id):
//      (none) --submit--> PENDING --result--> DONE_OK | FAILED --wrap--> (stale)
//      PENDING | DONE_OK | FAILED --dispose--> DISPOSED --wrap--> (stale)
//  Retrieve on PENDING parks (bounded, with an optional deadline); a stored result
//  or a dispose wakes every retrieve parked on that id.  Timeouts come from one
//  deadline heap per actor.
//
//  Durability hook: a submit is answered once its task is stored here and (from the
//  cluster work on) on `durability` backups; with one member there are none to
//  wait for, so the reply goes out as soon as the task is in the ring, and the job
//  goes to the dispatcher at the same time so replication and execution overlap.

#include "zdex_hash_table.h"
#include "zdex_partition.h"
#include "zdex_deadlines.h"
#include "zdex_ring.h"

#include <inttypes.h>

#define S_KEY_MAX   1100 //  "<task id>/<executor>"
#define S_BATCH_MAX 256  //  pipe messages handled per wake-up before timers run

typedef struct {
    char *name;
    zdex_ring_t **rings; //  partition_count entries, NULL until used
} s_executor_t;

typedef struct {
    zmsg_t *envelope;
    char *req_text;
    bool and_dispose;
    size_t position; //  in the deadline heap
    char key[S_KEY_MAX];
    void *handle; //  in its list of waiters
} s_waiter_t;

typedef struct {
    zsock_t *pipe;
    zsock_t *output;
    zdex_partition_args_t args;
    zhashx_t *executors; //  name → s_executor_t
    zhashx_t *waiters;   //  "<task id>/<executor>" → zlistx of s_waiter_t
    zdex_deadlines_t *deadlines;
    size_t parked;
    bool terminated;
} s_self_t;

//  ---------------------------------------------------------------------------------
//  zdex_call_t

zdex_call_t *
zdex_call_new (zmsg_t **envelope_p, zdex_request_t **request_p, uint32_t partition,
               uint32_t capacity)
{
    zdex_call_t *self = (zdex_call_t *) zmalloc (sizeof (zdex_call_t));
    assert (self);
    self->envelope = *envelope_p;
    *envelope_p = NULL;
    self->request = *request_p;
    *request_p = NULL;
    self->partition = partition;
    self->capacity = capacity;
    return self;
}

void
zdex_call_destroy (zdex_call_t **self_p)
{
    assert (self_p);
    zdex_call_t *self = *self_p;
    if (self) {
        zmsg_destroy (&self->envelope);
        zdex_request_destroy (&self->request);
        free (self);
        *self_p = NULL;
    }
}

//  ---------------------------------------------------------------------------------

static void
s_executor_destroy (void **item_p)
{
    s_executor_t *executor = (s_executor_t *) *item_p;
    if (executor) {
        //  rings[] length is not stored here; the actor frees rings before this.
        free (executor->rings);
        free (executor->name);
        free (executor);
        *item_p = NULL;
    }
}

static void
s_waiter_destroy (s_waiter_t **waiter_p)
{
    s_waiter_t *waiter = *waiter_p;
    if (waiter) {
        zmsg_destroy (&waiter->envelope);
        free (waiter->req_text);
        free (waiter);
        *waiter_p = NULL;
    }
}

static s_self_t *
s_self_new (zsock_t *pipe, const zdex_partition_args_t *args)
{
    s_self_t *self = (s_self_t *) zmalloc (sizeof (s_self_t));
    assert (self);
    self->pipe = pipe;
    self->args = *args;
    self->args.output_endpoint = NULL; //  not needed after connecting
    self->output = zsock_new (ZMQ_PUSH);
    assert (self->output);
    zsock_set_sndhwm (self->output, 0);
    int rc = zsock_connect (self->output, "%s", args->output_endpoint);
    assert (rc == 0);
    self->executors = zdex_hash_table_new ();
    self->waiters = zdex_hash_table_new ();
    self->deadlines = zdex_deadlines_new ();
    assert (self->executors && self->waiters && self->deadlines);
    zhashx_set_destructor (self->executors, s_executor_destroy);
    return self;
}

static void
s_self_destroy (s_self_t **self_p)
{
    s_self_t *self = *self_p;
    if (!self)
        return;
    zlistx_t *list = (zlistx_t *) zhashx_first (self->waiters);
    while (list) {
        s_waiter_t *waiter = (s_waiter_t *) zlistx_first (list);
        while (waiter) {
            s_waiter_destroy (&waiter);
            waiter = (s_waiter_t *) zlistx_next (list);
        }
        zlistx_destroy (&list);
        list = (zlistx_t *) zhashx_next (self->waiters);
    }
    zhashx_destroy (&self->waiters);
    s_executor_t *executor = (s_executor_t *) zhashx_first (self->executors);
    while (executor) {
        for (uint32_t partition = 0; partition < self->args.partition_count; partition++)
            zdex_ring_destroy (&executor->rings[partition]);
        executor = (s_executor_t *) zhashx_next (self->executors);
    }
    zhashx_destroy (&self->executors);
    zdex_deadlines_destroy (&self->deadlines);
    zsock_destroy (&self->output);
    free (self);
    *self_p = NULL;
}

static zdex_ring_t *
s_ring (s_self_t *self, const char *name, uint32_t partition, uint32_t create_capacity)
{
    s_executor_t *executor = (s_executor_t *) zhashx_lookup (self->executors, name);
    if (!executor) {
        if (!create_capacity)
            return NULL;
        executor = (s_executor_t *) zmalloc (sizeof (s_executor_t));
        assert (executor);
        executor->name = strdup (name);
        executor->rings =
            (zdex_ring_t **) calloc (self->args.partition_count, sizeof (zdex_ring_t *));
        assert (executor->name && executor->rings);
        zhashx_insert (self->executors, name, executor);
    }
    if (!executor->rings[partition] && create_capacity) {
        executor->rings[partition] = zdex_ring_new (create_capacity);
        assert (executor->rings[partition]);
    }
    return executor->rings[partition];
}

//  Send a reply frame back through the broker to the client named by envelope.
static void
s_reply (s_self_t *self, zmsg_t **envelope_p, zframe_t *frame)
{
    zmsg_t *msg = *envelope_p;
    *envelope_p = NULL;
    assert (msg && frame);
    zmsg_pushstr (msg, "REPLY");
    zmsg_append (msg, &frame);
    zmsg_send (&msg, self->output);
}

static void
s_reply_error (s_self_t *self, zmsg_t **envelope_p, const char *req_text, zdex_code_t code,
               const char *message)
{
    s_reply (self, envelope_p, zdex_reply_error (req_text, code, message, NULL));
}

//  Reply with what a completed or disposed slot holds.
static void
s_reply_slot (s_self_t *self, zmsg_t **envelope_p, const char *req_text,
              const zdex_ring_slot_t *slot)
{
    if (slot->state == ZDEX_RING_DONE_OK) {
        char *fields = zsys_sprintf (",\"result\":%s", slot->data);
        assert (fields);
        s_reply (self, envelope_p, zdex_reply_ok (req_text, fields));
        zstr_free (&fields);
    } else if (slot->state == ZDEX_RING_FAILED)
        s_reply (self, envelope_p,
                 zdex_reply_error (req_text, ZDEX_TASK_FAILED, "task failed", slot->data));
    else {
        assert (slot->state == ZDEX_RING_DISPOSED);
        s_reply (self, envelope_p, zdex_reply_ok (req_text, ",\"result\":null,\"disposed\":true"));
    }
}

//  Answer and free every retrieve parked on key, from the slot's current state.
//  Returns true if one of them asked for the slot to be disposed.
static bool
s_wake (s_self_t *self, const char *key, const zdex_ring_slot_t *slot)
{
    zlistx_t *list = (zlistx_t *) zhashx_lookup (self->waiters, key);
    if (!list)
        return false;
    bool dispose = false;
    s_waiter_t *waiter = (s_waiter_t *) zlistx_first (list);
    while (waiter) {
        zdex_deadlines_remove (self->deadlines, &waiter->position);
        s_reply_slot (self, &waiter->envelope, waiter->req_text, slot);
        dispose |= waiter->and_dispose;
        s_waiter_destroy (&waiter);
        self->parked--;
        waiter = (s_waiter_t *) zlistx_next (list);
    }
    zlistx_destroy (&list);
    zhashx_delete (self->waiters, key);
    return dispose;
}

static void
s_output_cancel (s_self_t *self, const char *executor, uint64_t task_id)
{
    char id[24];
    snprintf (id, sizeof id, "%" PRIu64, task_id);
    zstr_sendx (self->output, "CANCEL", executor, id, NULL);
}

static void
s_submit (s_self_t *self, zdex_call_t *call)
{
    zdex_request_t *request = call->request;
    bool execute = request->op == ZDEX_OP_DURABLE_EXECUTE;
    zdex_ring_t *ring = s_ring (self, request->executor, call->partition, call->capacity);
    uint32_t sequence;
    char fields[48];
    if (request->idempotency_key &&
        zdex_ring_find_idempotent (ring, request->idempotency_key, &sequence) == 0) {
        //  A retry: the original task stands, whatever this one carries.
        snprintf (fields, sizeof fields, ",\"task_id\":%" PRIu64,
                  ((uint64_t) call->partition << 32) | sequence);
        s_reply (self, &call->envelope, zdex_reply_ok (request->req_text, execute ? NULL : fields));
        return;
    }
    char *payload = zdex_json_text (request->payload);
    char *job_payload = payload ? strdup (payload) : NULL;
    if (!payload || !job_payload) {
        free (payload);
        free (job_payload);
        s_reply_error (self, &call->envelope, request->req_text, ZDEX_REJECTED, "out of memory");
        return;
    }
    if (zdex_ring_add (ring, request->task_type, payload, request->idempotency_key, execute,
                       &sequence) != 0) {
        free (job_payload);
        char message[96];
        if (zdex_ring_next_sequence (ring) > ZDEX_RING_MAX_SEQUENCE)
            snprintf (message, sizeof message, "sequence space of partition %" PRIu32 " is used up",
                      call->partition);
        else
            snprintf (message, sizeof message, "Capacity (%" PRIu32 ") is reached",
                      zdex_ring_capacity (ring));
        s_reply_error (self, &call->envelope, request->req_text, ZDEX_REJECTED, message);
        return;
    }
    uint64_t task_id = ((uint64_t) call->partition << 32) | sequence;
    uint32_t attempt = zdex_ring_next_attempt (ring, sequence);
    zdex_job_t *job =
        zdex_job_new (request->executor, task_id, attempt, request->task_type, job_payload);
    assert (job);
    zsock_send (self->output, "sp", "DISPATCH", job);
    snprintf (fields, sizeof fields, ",\"task_id\":%" PRIu64, task_id);
    s_reply (self, &call->envelope, zdex_reply_ok (request->req_text, execute ? NULL : fields));
}

static void
s_retrieve (s_self_t *self, zdex_call_t *call)
{
    zdex_request_t *request = call->request;
    bool and_dispose = request->op == ZDEX_OP_DURABLE_RETRIEVE_AND_DISPOSE;
    zdex_ring_t *ring = s_ring (self, request->executor, call->partition, 0);
    zdex_ring_slot_t slot;
    zdex_ring_state_t state =
        ring ? zdex_ring_lookup (ring, (uint32_t) request->task_id, &slot) : ZDEX_RING_STALE;
    if (state == ZDEX_RING_STALE) {
        s_reply_error (self, &call->envelope, request->req_text, ZDEX_STALE_TASK_ID,
                       "task id was never issued or its slot has been overwritten");
        return;
    }
    if (state != ZDEX_RING_PENDING) {
        bool dispose = and_dispose && state != ZDEX_RING_DISPOSED;
        s_reply_slot (self, &call->envelope, request->req_text, &slot);
        if (dispose)
            zdex_ring_dispose (ring, (uint32_t) request->task_id, NULL);
        return;
    }
    if (request->timeout_ms == 0) {
        s_reply_error (self, &call->envelope, request->req_text, ZDEX_TIMEOUT,
                       "task is not done yet");
        return;
    }
    if (self->parked >= self->args.max_parked) {
        s_reply_error (self, &call->envelope, request->req_text, ZDEX_REJECTED,
                       "too many parked requests on this member; retry later");
        return;
    }
    s_waiter_t *waiter = (s_waiter_t *) zmalloc (sizeof (s_waiter_t));
    assert (waiter);
    waiter->envelope = call->envelope;
    call->envelope = NULL;
    waiter->req_text = request->req_text;
    request->req_text = NULL;
    waiter->and_dispose = and_dispose;
    waiter->position = ZDEX_DEADLINE_NONE;
    zdex_job_key (request->executor, request->task_id, waiter->key, sizeof waiter->key);
    zlistx_t *list = (zlistx_t *) zhashx_lookup (self->waiters, waiter->key);
    if (!list) {
        list = zlistx_new ();
        assert (list);
        zhashx_insert (self->waiters, waiter->key, list);
    }
    waiter->handle = zlistx_add_end (list, waiter);
    if (request->timeout_ms > 0)
        zdex_deadlines_add (self->deadlines, zclock_mono () + request->timeout_ms, waiter,
                            &waiter->position);
    self->parked++;
}

static void
s_dispose (s_self_t *self, zdex_call_t *call)
{
    zdex_request_t *request = call->request;
    zdex_ring_t *ring = s_ring (self, request->executor, call->partition, 0);
    bool was_pending = false;
    if (!ring || zdex_ring_dispose (ring, (uint32_t) request->task_id, &was_pending) != 0) {
        s_reply_error (self, &call->envelope, request->req_text, ZDEX_STALE_TASK_ID,
                       "task id was never issued or its slot has been overwritten");
        return;
    }
    if (was_pending) {
        s_output_cancel (self, request->executor, request->task_id);
        char key[S_KEY_MAX];
        zdex_job_key (request->executor, request->task_id, key, sizeof key);
        zdex_ring_slot_t slot;
        zdex_ring_lookup (ring, (uint32_t) request->task_id, &slot);
        s_wake (self, key, &slot);
    }
    s_reply (self, &call->envelope, zdex_reply_ok (request->req_text, NULL));
}

static void
s_on_call (s_self_t *self, zdex_call_t *call)
{
    switch (call->request->op) {
    case ZDEX_OP_DURABLE_SUBMIT:
    case ZDEX_OP_DURABLE_EXECUTE:
        s_submit (self, call);
        break;
    case ZDEX_OP_DURABLE_RETRIEVE:
    case ZDEX_OP_DURABLE_RETRIEVE_AND_DISPOSE:
        s_retrieve (self, call);
        break;
    case ZDEX_OP_DURABLE_DISPOSE:
        s_dispose (self, call);
        break;
    default:
        assert (false); //  the broker sends only partition ops
    }
    zdex_call_destroy (&call);
}

//  A worker's result, or (drop) a task that will never start.
static void
s_on_job (s_self_t *self, zdex_job_t *job, bool drop)
{
    uint32_t partition = (uint32_t) (job->task_id >> 32);
    uint32_t sequence = (uint32_t) job->task_id;
    zdex_ring_t *ring = s_ring (self, job->executor, partition, 0);
    zdex_ring_slot_t slot;
    if (!ring || zdex_ring_lookup (ring, sequence, &slot) != ZDEX_RING_PENDING) {
        zdex_job_destroy (&job); //  disposed meanwhile: the late result is dropped
        return;
    }
    if (drop)
        zdex_ring_dispose (ring, sequence, NULL);
    else {
        zdex_ring_complete (ring, sequence, job->ok, job->result);
        job->result = NULL;
    }
    char key[S_KEY_MAX];
    zdex_job_key (job->executor, job->task_id, key, sizeof key);
    if (zdex_ring_lookup (ring, sequence, &slot) != ZDEX_RING_STALE && s_wake (self, key, &slot))
        zdex_ring_dispose (ring, sequence, NULL);
    zdex_job_destroy (&job);
}

static void
s_expire (s_self_t *self)
{
    int64_t now = zclock_mono ();
    s_waiter_t *waiter;
    while ((waiter = (s_waiter_t *) zdex_deadlines_pop_due (self->deadlines, now))) {
        s_reply_error (self, &waiter->envelope, waiter->req_text, ZDEX_TIMEOUT,
                       "task was not done within timeout_ms");
        zlistx_t *list = (zlistx_t *) zhashx_lookup (self->waiters, waiter->key);
        assert (list);
        zlistx_delete (list, waiter->handle);
        if (zlistx_size (list) == 0) {
            zlistx_destroy (&list);
            zhashx_delete (self->waiters, waiter->key);
        }
        s_waiter_destroy (&waiter);
        self->parked--;
    }
}

static bool
s_on_pipe (s_self_t *self)
{
    zmsg_t *msg = zmsg_recv (self->pipe); //  receive timeout 0: NULL when empty
    if (!msg)
        return false;
    char *command = zmsg_popstr (msg);
    zframe_t *pointer = zmsg_pop (msg);
    void *item = NULL;
    if (pointer && zframe_size (pointer) == sizeof (void *))
        memcpy (&item, zframe_data (pointer), sizeof (void *));
    if (streq (command, "$TERM"))
        self->terminated = true;
    else if (streq (command, "CALL"))
        s_on_call (self, (zdex_call_t *) item);
    else if (streq (command, "RESULT"))
        s_on_job (self, (zdex_job_t *) item, false);
    else if (streq (command, "DROP"))
        s_on_job (self, (zdex_job_t *) item, true);
    else
        assert (false);
    zframe_destroy (&pointer);
    zstr_free (&command);
    zmsg_destroy (&msg);
    return true;
}

static void
s_actor (zsock_t *pipe, void *arg)
{
    s_self_t *self = s_self_new (pipe, (const zdex_partition_args_t *) arg);
    zpoller_t *poller = zpoller_new (pipe, NULL);
    assert (poller);
    zpoller_set_nonstop (poller, true);
    zsock_signal (pipe, 0);
    //  A zero receive timeout lets the actor drain its pipe without asking
    //  ZMQ_EVENTS (a system call) before every message.
    zsock_set_rcvtimeo (pipe, 0);
    while (!self->terminated) {
        void *which =
            zpoller_wait (poller, zdex_deadlines_timeout (self->deadlines, zclock_mono ()));
        if (which == pipe)
            for (int count = 0; count < S_BATCH_MAX && !self->terminated; count++)
                if (!s_on_pipe (self))
                    break;
        s_expire (self);
    }
    zpoller_destroy (&poller);
    s_self_destroy (&self);
}

zactor_t *
zdex_partition_new (const zdex_partition_args_t *args)
{
    assert (args);
    assert (args->partition_count > 0);
    assert (args->output_endpoint);
    //  zactor_new blocks until the actor has copied args and signalled.
    return zactor_new (s_actor, (void *) args);
}
