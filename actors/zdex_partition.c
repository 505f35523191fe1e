//  zdex_partition: the partitions' state, and the partition actor around it.
//
//  Role: owns the task rings of its partitions (one ring per (executor, partition),
//  created on first use) and the retrieve requests parked on them.  Everything that
//  changes a ring happens in one thread, so a partition's operations are
//  serialized without locks: the broker's own thread (partition_threads 0, the
//  default: a task's path crosses no thread inside the member) or the thread of
//  a partition actor, which reads the broker's commands from its pipe.
//
//  Sockets: a PUSH connected to the broker's collector for replies, dispatches and
//  cancels, the replication sockets (zdex_replicator), and an actor's pipe.  The
//  PUSH has no high-water mark: an actor must never block on the broker while the
//  broker blocks on the actor's pipe; what it sends is bounded by what it was
//  given (ring capacity, parked retrieves).
//
//  Task slot state machine (per task id):
//      (none) --submit--> PENDING --result--> DONE_OK | FAILED --wrap--> (stale)
//      PENDING | DONE_OK | FAILED --dispose--> DISPOSED --wrap--> (stale)
//  Retrieve on PENDING parks (bounded, with an optional deadline); a stored result
//  or a dispose wakes every retrieve parked on that id.  A submit_and_retrieve is
//  held like a submit's reply until its task is durable, then becomes such a
//  retrieve (counted as parked from the start).  Timeouts come from one
//  deadline heap per actor.
//
//  Durability: every change to a ring is published on the partition's
//  replication stream (zdex_replicator).  A submit's reply, a dispose's reply and
//  the wake-up of retrieves parked on a result are held until `durability`
//  backups acknowledged the change (fewer when fewer members exist); the job goes
//  to the dispatcher at once, so replication and execution overlap.  On promotion
//  (the owner died) the backup's rings become ours and every task still pending is
//  dispatched again with the next attempt number; on demotion the rings go and
//  parked retrieves are answered UNAVAILABLE so that clients retry at the owner.

#include "zdex_hash_table.h"
#include "zdex_partition.h"
#include "zdex_deadlines.h"
#include "zdex_hash_table.h"
#include "zdex_replicator.h"
#include "zdex_ring.h"
#include "zdex_scheduled.h"

#include <inttypes.h>

#define S_KEY_MAX          1100  //  "<task id>/<executor>"
#define S_BATCH_MAX        256   //  pipe messages handled per wake-up before timers run
#define S_QUEUE_MAX        10000 //  requests waiting for partitions that hand over
#define S_OUTPUT_LINGER_MS 1000

typedef struct {
    char *name;
    zdex_ring_t **rings; //  partition_count entries, NULL until used
    int durability;      //  from the executor's config; -1 until a request says
} s_executor_t;

//  A reply or wake-up held until the change it reports is durable.
typedef struct {
    zmsg_t *envelope;     //  a reply: the client ...
    zframe_t *frame;      //  ... and what it gets
    char *req_text;       //  for the UNAVAILABLE answer when the partition moved
    const char *executor; //  a wake-up of the retrieves parked on this task: the name
                          //  in the executor's record (it outlives every held item)
    uint64_t task_id;
    char *urn; //  a wake-up of the gets parked on this scheduled task
    //  A durable.submit_and_retrieve (envelope, req_text, executor, task_id): once
    //  its task is durable it is answered from the slot, or parked like a retrieve.
    bool await;
    bool and_dispose;
    int64_t timeout_ms;
} s_held_t;

#define S_FIELDS_MAX 40 //  ",\"task_id\":" and 20 digits

typedef struct {
    zmsg_t *envelope;
    char *req_text;
    char fields[S_FIELDS_MAX]; //  in every answer: "" or the task_id (submit_and_retrieve)
    bool and_dispose;
    size_t position; //  in the deadline heap
    void *handle;    //  in its list of waiters
    char key[];      //  sized to the key: a fixed S_KEY_MAX made each a 1 kB calloc
} s_waiter_t;

struct _zdex_partition_t {
    zsock_t *output;
    zdex_partition_args_t args;
    zhashx_t *executors; //  name → s_executor_t
    s_executor_t *last;  //  found last (records live as long as the partition state)
    zhashx_t *waiters;   //  "<task id>/<executor>" → zlistx of s_waiter_t
    zdex_deadlines_t *deadlines;
    zdex_replicator_t *replicator;
    zlistx_t *queued;    //  zdex_call_t of partitions that hand over (see s_on_call)
    zhashx_t *undurable; //  "<task id>/<executor>" of results not yet on the backups
    zdex_scheduled_t *scheduled;
    size_t parked;
};

//  ---------------------------------------------------------------------------------
//  zdex_call_t

zdex_call_t *
zdex_call_new (zmsg_t **envelope_p, zdex_request_t **request_p, uint32_t partition,
               uint32_t capacity, int durability)
{
    zdex_call_t *self = (zdex_call_t *) zmalloc (sizeof (zdex_call_t));
    assert (self);
    self->envelope = *envelope_p;
    *envelope_p = NULL;
    self->request = *request_p;
    *request_p = NULL;
    self->partition = partition;
    self->capacity = capacity;
    self->durability = durability;
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

static void s_reply_error (zdex_partition_t *self, zmsg_t **envelope_p, const char *req_text,
                           zdex_code_t code, const char *message);
static void s_reply_error_fields (zdex_partition_t *self, zmsg_t **envelope_p, const char *req_text,
                                  const char *fields, zdex_code_t code, const char *message);
static void s_on_promoted (uint32_t partition, zhashx_t *rings, zlistx_t *records, void *arg);
static zlistx_t *s_records_of (uint32_t partition, void *arg);
static void s_hold (void *arg, uint32_t partition, uint64_t seq, int needed, zmsg_t **envelope_p,
                    zframe_t *frame, char **req_text_p, const char *urn);
static void s_on_demoted (uint32_t partition, void *arg);
static zhashx_t *s_rings_of (uint32_t partition, void *arg);
static void s_on_release (void *item, bool ok, void *arg);
static void s_on_move_ready (uint32_t partition, uint64_t epoch, const char *target, void *arg);

zdex_partition_t *
zdex_partition_new (const zdex_partition_args_t *args)
{
    assert (args);
    assert (args->partition_count > 0);
    assert (args->output_endpoint);
    zdex_partition_t *self = (zdex_partition_t *) zmalloc (sizeof (zdex_partition_t));
    assert (self);
    self->args = *args;
    self->args.output_endpoint = NULL; //  not needed after connecting
    self->output = zsock_new (ZMQ_PUSH);
    assert (self->output);
    zsock_set_sndhwm (self->output, 0);
    //  What destroy answers (parked and held requests) must reach the collector,
    //  which the broker drains after destroying us.
    zsock_set_linger (self->output, S_OUTPUT_LINGER_MS);
    int rc = zsock_connect (self->output, "%s", args->output_endpoint);
    assert (rc == 0);
    self->executors = zdex_hash_table_new ();
    self->waiters = zdex_hash_table_new ();
    self->deadlines = zdex_deadlines_new ();
    self->undurable = zdex_hash_table_new ();
    assert (self->executors && self->waiters && self->deadlines && self->undurable);
    zhashx_set_destructor (self->executors, s_executor_destroy);
    self->queued = zlistx_new ();
    assert (self->queued);
    zdex_replicator_callbacks_t callbacks = {
        .promoted = s_on_promoted,
        .demoted = s_on_demoted,
        .rings = s_rings_of,
        .records = s_records_of,
        .release = s_on_release,
        .move_ready = s_on_move_ready,
        .arg = self,
    };
    self->replicator = zdex_replicator_new (args->member_id, args->bind_host, args->index,
                                            args->actor_count, args->partition_count, &callbacks);
    assert (self->replicator); //  binding 127.0.0.1:* or the cluster host
    zdex_replicator_set_cluster_name (self->replicator,
                                      args->cluster_name ? args->cluster_name : "zdex");
    zdex_replicator_set_drop_every (self->replicator, args->drop_every);
    if (args->head_ms > 0)
        zdex_replicator_set_head_ms (self->replicator, args->head_ms);
    zdex_replicator_set_waitset (self->replicator, args->waitset);
    zdex_scheduled_args_t scheduled_args = {
        .output = self->output,
        .sink = args->sink,
        .replicator = self->replicator,
        .member_id = args->member_id,
        .max_parked = args->max_parked,
        .verbose = args->verbose,
        .hold = s_hold,
        .arg = self,
    };
    self->scheduled = zdex_scheduled_new (&scheduled_args);
    self->args.member_id = NULL;
    self->args.bind_host = NULL;
    return self;
}

void
zdex_partition_destroy (zdex_partition_t **self_p)
{
    assert (self_p);
    zdex_partition_t *self = *self_p;
    if (!self)
        return;
    zdex_replicator_destroy (&self->replicator); //  held replies answered first
    zdex_scheduled_destroy (&self->scheduled);
    zdex_call_t *call;
    while (self->queued && (call = (zdex_call_t *) zlistx_detach (self->queued, NULL))) {
        s_reply_error (self, &call->envelope, call->request->req_text, ZDEX_UNAVAILABLE,
                       "the member is stopping; retry");
        zdex_call_destroy (&call);
    }
    zlistx_destroy (&self->queued);
    zlistx_t *list = (zlistx_t *) zhashx_first (self->waiters);
    while (list) {
        s_waiter_t *waiter = (s_waiter_t *) zlistx_first (list);
        while (waiter) {
            //  The client retries at another member, which owns the partition by now.
            s_reply_error_fields (self, &waiter->envelope, waiter->req_text, waiter->fields,
                                  ZDEX_UNAVAILABLE, "member stopping; retry");
            s_waiter_destroy (&waiter);
            waiter = (s_waiter_t *) zlistx_next (list);
        }
        zlistx_destroy (&list);
        list = (zlistx_t *) zhashx_next (self->waiters);
    }
    zhashx_destroy (&self->waiters);
    zhashx_destroy (&self->undurable);
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

//  The executor named name, or NULL.  A task's path asks for the same one several
//  times: the last one found is compared before the table is hashed.
static s_executor_t *
s_executor_find (zdex_partition_t *self, const char *name)
{
    if (self->last && strcmp (self->last->name, name) == 0)
        return self->last;
    s_executor_t *executor = (s_executor_t *) zhashx_lookup (self->executors, name);
    if (executor)
        self->last = executor;
    return executor;
}

static s_executor_t *
s_executor_require (zdex_partition_t *self, const char *name)
{
    s_executor_t *executor = s_executor_find (self, name);
    if (!executor) {
        executor = (s_executor_t *) zmalloc (sizeof (s_executor_t));
        assert (executor);
        executor->name = strdup (name);
        executor->rings =
            (zdex_ring_t **) calloc (self->args.partition_count, sizeof (zdex_ring_t *));
        executor->durability = -1;
        assert (executor->name && executor->rings);
        zhashx_insert (self->executors, name, executor);
    }
    return executor;
}

//  The ring of (name, partition); with create_capacity > 0 it is created (with its
//  executor) when missing, else NULL is returned for it.
static zdex_ring_t *
s_ring (zdex_partition_t *self, const char *name, uint32_t partition, uint32_t create_capacity)
{
    s_executor_t *executor =
        create_capacity ? s_executor_require (self, name) : s_executor_find (self, name);
    if (!executor)
        return NULL;
    if (!executor->rings[partition] && create_capacity) {
        executor->rings[partition] = zdex_ring_new (create_capacity);
        assert (executor->rings[partition]);
    }
    return executor->rings[partition];
}

void
zdex_partition_output_dispatch (const zdex_partition_sink_t *sink, zsock_t *output, zdex_job_t *job)
{
    assert (sink && output && job);
    if (sink->dispatch) {
        sink->dispatch (sink->arg, &job);
        return;
    }
    int rc = zdex_pointer_send (zsock_resolve (output), "DISPATCH", job);
    assert (rc == 0); //  no high-water mark: only a terminated context fails
}

void
zdex_partition_output_reply (const zdex_partition_sink_t *sink, zsock_t *output,
                             zmsg_t **envelope_p, zframe_t *frame)
{
    assert (sink && output && envelope_p && *envelope_p && frame);
    if (sink->reply) {
        sink->reply (sink->arg, envelope_p, &frame);
        return;
    }
    zmsg_t *msg = *envelope_p;
    *envelope_p = NULL;
    zmsg_pushstr (msg, "REPLY");
    zmsg_append (msg, &frame);
    zmsg_send (&msg, output);
}

static void
s_dispatch (zdex_partition_t *self, zdex_job_t *job)
{
    zdex_partition_output_dispatch (&self->args.sink, self->output, job);
}

//  Send a reply frame back through the broker to the client named by envelope.
static void
s_reply (zdex_partition_t *self, zmsg_t **envelope_p, zframe_t *frame)
{
    zdex_partition_output_reply (&self->args.sink, self->output, envelope_p, frame);
}

static void
s_reply_error (zdex_partition_t *self, zmsg_t **envelope_p, const char *req_text, zdex_code_t code,
               const char *message)
{
    s_reply (self, envelope_p, zdex_reply_error (req_text, code, message, NULL));
}

//  The reply frame for what a completed or disposed slot holds; fields ("" or
//  more members) go first.
static zframe_t *
s_slot_frame (const char *req_text, const char *fields, const zdex_ring_slot_t *slot)
{
    if (slot->state == ZDEX_RING_DONE_OK)
        return zdex_reply_result (req_text, fields, slot->data);
    if (slot->state == ZDEX_RING_FAILED)
        return zdex_reply_error_fields (req_text, fields, ZDEX_TASK_FAILED, "task failed",
                                        slot->data);
    assert (slot->state == ZDEX_RING_DISPOSED);
    char members[S_FIELDS_MAX + 40];
    snprintf (members, sizeof members, "%s,\"result\":null,\"disposed\":true", fields);
    return zdex_reply_ok (req_text, members);
}

static void
s_reply_slot (zdex_partition_t *self, zmsg_t **envelope_p, const char *req_text, const char *fields,
              const zdex_ring_slot_t *slot)
{
    s_reply (self, envelope_p, s_slot_frame (req_text, fields, slot));
}

static void
s_reply_error_fields (zdex_partition_t *self, zmsg_t **envelope_p, const char *req_text,
                      const char *fields, zdex_code_t code, const char *message)
{
    s_reply (self, envelope_p, zdex_reply_error_fields (req_text, fields, code, message, NULL));
}

//  The task_id member of durable.submit_and_retrieve's answers.
static void
s_task_id_fields (uint64_t task_id, char *fields)
{
    static const char name[] = ",\"task_id\":";
    memcpy (fields, name, sizeof name - 1);
    zdex_u64_text (task_id, fields + sizeof name - 1);
}

//  Answer and free every retrieve parked on key, from the slot's current state.
//  Returns true if one of them asked for the slot to be disposed.
static bool
s_wake (zdex_partition_t *self, const char *key, const zdex_ring_slot_t *slot)
{
    zlistx_t *list = (zlistx_t *) zhashx_lookup (self->waiters, key);
    if (!list)
        return false;
    bool dispose = false;
    s_waiter_t *waiter = (s_waiter_t *) zlistx_first (list);
    while (waiter) {
        zdex_deadlines_remove (self->deadlines, &waiter->position);
        s_reply_slot (self, &waiter->envelope, waiter->req_text, waiter->fields, slot);
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
s_output_cancel (zdex_partition_t *self, const char *executor, uint64_t task_id)
{
    char id[24];
    snprintf (id, sizeof id, "%" PRIu64, task_id);
    zstr_sendx (self->output, "CANCEL", executor, id, NULL);
}

//  Backups an executor's changes must reach before they are acknowledged.
static int
s_needed (zdex_partition_t *self, const char *name)
{
    s_executor_t *executor = s_executor_find (self, name);
    //  Unknown (a promoted executor nobody asked about yet): as many as there are.
    return executor && executor->durability >= 0 ? executor->durability : INT32_MAX;
}

//  Publish one change of a slot on the partition's replication stream.
static uint64_t
s_publish (zdex_partition_t *self, uint32_t partition, zdex_replica_op_t op, const char *executor,
           uint32_t capacity, const zdex_ring_slot_t *slot)
{
    zdex_replica_msg_t msg = {.op = op, .executor = executor, .capacity = capacity};
    msg.slot = *slot;
    return zdex_replicator_publish (self->replicator, partition, &msg);
}

//  Hold a reply until the change at seq is durable.
static void
s_hold_reply (zdex_partition_t *self, uint32_t partition, uint64_t seq, int needed,
              zmsg_t **envelope_p, zframe_t *frame, char **req_text_p)
{
    s_held_t *held = (s_held_t *) zmalloc (sizeof (s_held_t));
    assert (held);
    held->envelope = *envelope_p;
    *envelope_p = NULL;
    held->frame = frame;
    held->req_text = *req_text_p;
    *req_text_p = NULL;
    zdex_replicator_hold (self->replicator, partition, seq, needed, held);
}

//  Hold the wake-up of the retrieves parked on a task until its change is durable.
static void
s_hold_wake (zdex_partition_t *self, const char *executor, uint64_t task_id, uint64_t seq)
{
    s_held_t *held = (s_held_t *) zmalloc (sizeof (s_held_t));
    assert (held);
    s_executor_t *record = s_executor_find (self, executor);
    assert (record); //  its ring holds the result
    held->executor = record->name;
    held->task_id = task_id;
    //  Until the backups hold it, the slot's new state is not shown to anyone.
    char key[S_KEY_MAX];
    zdex_job_key (executor, task_id, key, sizeof key);
    zhashx_update (self->undurable, key, (void *) 1);
    zdex_replicator_hold (self->replicator, (uint32_t) (task_id >> 32), seq,
                          s_needed (self, executor), held);
}

//  Dispose a slot and publish it; returns the change's stream seq (0 if none).
static uint64_t
s_dispose_slot (zdex_partition_t *self, const char *executor, zdex_ring_t *ring, uint64_t task_id)
{
    uint32_t sequence = (uint32_t) task_id;
    if (zdex_ring_dispose (ring, sequence, NULL) != 0)
        return 0;
    zdex_ring_slot_t slot = {.sequence = sequence};
    return s_publish (self, (uint32_t) (task_id >> 32), ZDEX_REPLICA_DISPOSE, executor, 0, &slot);
}

//  Wake the retrieves parked on a task from its slot as it is now.
static void
s_wake_task (zdex_partition_t *self, const char *executor, uint64_t task_id)
{
    zdex_ring_t *ring = s_ring (self, executor, (uint32_t) (task_id >> 32), 0);
    zdex_ring_slot_t slot;
    char key[S_KEY_MAX];
    zdex_job_key (executor, task_id, key, sizeof key);
    if (!ring || zdex_ring_lookup (ring, (uint32_t) task_id, &slot) == ZDEX_RING_STALE) {
        //  Overwritten meanwhile: nothing left to give them.
        zdex_ring_slot_t disposed = {.state = ZDEX_RING_DISPOSED};
        s_wake (self, key, &disposed);
        return;
    }
    if (slot.state == ZDEX_RING_PENDING)
        return;
    if (s_wake (self, key, &slot) && slot.state != ZDEX_RING_DISPOSED)
        s_dispose_slot (self, executor, ring, task_id);
}

//  Answer a retrieve of task_id from its slot, or park it while the task is
//  pending (a result the backups do not hold yet counts as pending).  fields go
//  in every answer.  reserved: the request is counted in parked already (a
//  durable.submit_and_retrieve, counted when it was accepted).
static void
s_answer (zdex_partition_t *self, const char *executor, uint64_t task_id, zmsg_t **envelope_p,
          char **req_text_p, int64_t timeout_ms, bool and_dispose, const char *fields,
          bool reserved)
{
    uint32_t partition = (uint32_t) (task_id >> 32);
    zdex_ring_t *ring = s_ring (self, executor, partition, 0);
    zdex_ring_slot_t slot;
    zdex_ring_state_t state =
        ring ? zdex_ring_lookup (ring, (uint32_t) task_id, &slot) : ZDEX_RING_STALE;
    char key[S_KEY_MAX];
    zdex_job_key (executor, task_id, key, sizeof key);
    if (state != ZDEX_RING_STALE && state != ZDEX_RING_PENDING &&
        zhashx_lookup (self->undurable, key))
        state = ZDEX_RING_PENDING; //  a result the backups do not hold yet: wait for it
    if (state == ZDEX_RING_STALE)
        s_reply_error_fields (self, envelope_p, *req_text_p, fields, ZDEX_STALE_TASK_ID,
                              "task id was never issued or its slot has been overwritten");
    else if (state != ZDEX_RING_PENDING) {
        if (and_dispose && state != ZDEX_RING_DISPOSED) {
            zframe_t *frame = s_slot_frame (*req_text_p, fields, &slot);
            uint64_t seq = s_dispose_slot (self, executor, ring, task_id);
            s_hold_reply (self, partition, seq, s_needed (self, executor), envelope_p, frame,
                          req_text_p);
        } else
            s_reply_slot (self, envelope_p, *req_text_p, fields, &slot);
    } else if (timeout_ms == 0)
        s_reply_error_fields (self, envelope_p, *req_text_p, fields, ZDEX_TIMEOUT,
                              "task is not done yet");
    else if (!reserved && self->parked >= self->args.max_parked)
        s_reply_error (self, envelope_p, *req_text_p, ZDEX_REJECTED,
                       "too many parked requests on this member; retry later");
    else {
        size_t key_size = strlen (key) + 1;
        s_waiter_t *waiter = (s_waiter_t *) malloc (sizeof (s_waiter_t) + key_size);
        assert (waiter);
        waiter->envelope = *envelope_p;
        *envelope_p = NULL;
        waiter->req_text = *req_text_p;
        *req_text_p = NULL;
        size_t fields_size = strlen (fields) + 1;
        assert (fields_size <= sizeof waiter->fields);
        memcpy (waiter->fields, fields, fields_size);
        waiter->and_dispose = and_dispose;
        waiter->position = ZDEX_DEADLINE_NONE;
        waiter->handle = NULL;
        memcpy (waiter->key, key, key_size);
        zlistx_t *list = (zlistx_t *) zhashx_lookup (self->waiters, waiter->key);
        if (!list) {
            list = zlistx_new ();
            assert (list);
            zhashx_insert (self->waiters, waiter->key, list);
        }
        waiter->handle = zlistx_add_end (list, waiter);
        if (timeout_ms > 0)
            zdex_deadlines_add (self->deadlines, zclock_mono () + timeout_ms, waiter,
                                &waiter->position);
        if (!reserved)
            self->parked++;
        return;
    }
    if (reserved)
        self->parked--;
}

static void
s_on_release (void *item, bool ok, void *arg)
{
    zdex_partition_t *self = (zdex_partition_t *) arg;
    s_held_t *held = (s_held_t *) item;
    if (held->await) {
        //  The task is durable: from now on the request is a retrieve.  Not
        //  durable (the partition moved first): the task may be lost and its id
        //  reused by the new owner, so the answer carries no task_id.
        char fields[S_FIELDS_MAX];
        s_task_id_fields (held->task_id, fields);
        if (ok)
            s_answer (self, held->executor, held->task_id, &held->envelope, &held->req_text,
                      held->timeout_ms, held->and_dispose, fields, true);
        else {
            s_reply_error (self, &held->envelope, held->req_text, ZDEX_UNAVAILABLE,
                           "the partition moved before the task was replicated; retry");
            self->parked--;
        }
    } else if (held->envelope) {
        if (ok) {
            s_reply (self, &held->envelope, held->frame);
            held->frame = NULL; //  sent with the reply
        } else {
            zframe_destroy (&held->frame);
            s_reply_error (self, &held->envelope, held->req_text, ZDEX_UNAVAILABLE,
                           "the partition moved before the change was replicated; retry");
        }
    } else if (held->urn)
        zdex_scheduled_release (self->scheduled, held->urn, ok);
    else if (held->executor) {
        char key[S_KEY_MAX];
        zdex_job_key (held->executor, held->task_id, key, sizeof key);
        zhashx_delete (self->undurable, key);
        if (ok)
            s_wake_task (self, held->executor, held->task_id);
    }
    zmsg_destroy (&held->envelope);
    zframe_destroy (&held->frame);
    free (held->req_text);
    free (held->urn);
    free (held);
}

//  zdex_scheduled's way to hold a reply or a wake-up.
static void
s_hold (void *arg, uint32_t partition, uint64_t seq, int needed, zmsg_t **envelope_p,
        zframe_t *frame, char **req_text_p, const char *urn)
{
    zdex_partition_t *self = (zdex_partition_t *) arg;
    s_held_t *held = (s_held_t *) zmalloc (sizeof (s_held_t));
    assert (held);
    if (envelope_p) {
        held->envelope = *envelope_p;
        *envelope_p = NULL;
    }
    held->frame = frame;
    if (req_text_p) {
        held->req_text = *req_text_p;
        *req_text_p = NULL;
    }
    if (urn) {
        held->urn = strdup (urn);
        assert (held->urn);
    }
    zdex_replicator_hold (self->replicator, partition, seq, needed, held);
}

//  Hold a durable.submit_and_retrieve until its task is durable (s_on_release
//  answers it then, or parks it).  It counts as parked from now on.
static void
s_hold_await (zdex_partition_t *self, zdex_call_t *call, uint64_t task_id, uint64_t seq)
{
    s_held_t *held = (s_held_t *) zmalloc (sizeof (s_held_t));
    assert (held);
    held->await = true;
    held->envelope = call->envelope;
    call->envelope = NULL;
    held->req_text = call->request->req_text;
    call->request->req_text = NULL;
    s_executor_t *record = s_executor_find (self, call->request->executor);
    assert (record); //  the submit created it
    held->executor = record->name;
    held->task_id = task_id;
    held->timeout_ms = call->request->timeout_ms;
    held->and_dispose = call->request->auto_dispose;
    self->parked++;
    zdex_replicator_hold (self->replicator, call->partition, seq, call->durability, held);
}

static void
s_submit (zdex_partition_t *self, zdex_call_t *call)
{
    zdex_request_t *request = call->request;
    bool execute = request->op == ZDEX_OP_DURABLE_EXECUTE;
    bool await = request->op == ZDEX_OP_DURABLE_SUBMIT_AND_RETRIEVE;
    if (await && self->parked >= self->args.max_parked) {
        //  Refused before anything is stored: it could not wait for its result.
        s_reply_error (self, &call->envelope, request->req_text, ZDEX_REJECTED,
                       "too many parked requests on this member; retry later");
        return;
    }
    zdex_ring_t *ring = s_ring (self, request->executor, call->partition, call->capacity);
    uint32_t sequence;
    char fields[S_FIELDS_MAX];
    if (request->idempotency_key &&
        zdex_ring_find_idempotent (ring, request->idempotency_key, &sequence) == 0) {
        //  A retry: the original task stands, whatever this one carries.  It is
        //  acknowledged no sooner than everything published so far is durable
        //  (the original may still be on its way to the backups).
        uint64_t task_id = ((uint64_t) call->partition << 32) | sequence;
        uint64_t last = zdex_replicator_last_seq (self->replicator, call->partition);
        if (await) {
            s_hold_await (self, call, task_id, last);
            return;
        }
        s_task_id_fields (task_id, fields);
        s_hold_reply (self, call->partition, last, call->durability, &call->envelope,
                      zdex_reply_ok (request->req_text, execute ? NULL : fields),
                      &request->req_text);
        return;
    }
    char *payload = request->payload_text; //  taken: the ring keeps this very block
    request->payload_text = NULL;
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
    zdex_ring_slot_t slot;
    zdex_ring_lookup (ring, sequence, &slot);
    uint64_t seq = s_publish (self, call->partition, ZDEX_REPLICA_ADD, request->executor,
                              zdex_ring_capacity (ring), &slot);
    //  The job goes to a worker while the backups store the task.
    zdex_job_t *job =
        zdex_job_new (request->executor, task_id, attempt, request->task_type, job_payload);
    assert (job);
    s_dispatch (self, job);
    if (await) {
        s_hold_await (self, call, task_id, seq);
        return;
    }
    s_task_id_fields (task_id, fields);
    s_hold_reply (self, call->partition, seq, call->durability, &call->envelope,
                  zdex_reply_ok (request->req_text, execute ? NULL : fields), &request->req_text);
}

static void
s_retrieve (zdex_partition_t *self, zdex_call_t *call)
{
    zdex_request_t *request = call->request;
    s_answer (self, request->executor, request->task_id, &call->envelope, &request->req_text,
              request->timeout_ms, request->op == ZDEX_OP_DURABLE_RETRIEVE_AND_DISPOSE, "", false);
}

static void
s_dispose (zdex_partition_t *self, zdex_call_t *call)
{
    zdex_request_t *request = call->request;
    zdex_ring_t *ring = s_ring (self, request->executor, call->partition, 0);
    zdex_ring_slot_t slot;
    zdex_ring_state_t state =
        ring ? zdex_ring_lookup (ring, (uint32_t) request->task_id, &slot) : ZDEX_RING_STALE;
    if (state == ZDEX_RING_STALE) {
        s_reply_error (self, &call->envelope, request->req_text, ZDEX_STALE_TASK_ID,
                       "task id was never issued or its slot has been overwritten");
        return;
    }
    uint64_t seq = 0;
    if (state != ZDEX_RING_DISPOSED) {
        seq = s_dispose_slot (self, request->executor, ring, request->task_id);
        if (state == ZDEX_RING_PENDING) {
            s_output_cancel (self, request->executor, request->task_id);
            s_hold_wake (self, request->executor, request->task_id, seq);
        }
    }
    s_hold_reply (self, call->partition, seq, s_needed (self, request->executor), &call->envelope,
                  zdex_reply_ok (request->req_text, NULL), &request->req_text);
}

static void
s_on_call (zdex_partition_t *self, zdex_call_t *call)
{
    if (ZDEX_OP_IS_SCHEDULED (call->request->op) && call->member_bin) {
        zdex_scheduled_call (self->scheduled, &call);
        return;
    }
    if (!zdex_replicator_is_primary (self->replicator, call->partition)) {
        //  The table moved the partition while the request was on its way (or
        //  while it waited for a hand-over): the broker, whose table is at least
        //  as new as ours, forwards it to the owner.
        zsock_send (self->output, "sp", "REROUTE", call);
        return;
    }
    if (zdex_replicator_paused (self->replicator, call->partition)) {
        if (zlistx_size (self->queued) >= S_QUEUE_MAX) {
            s_reply_error (self, &call->envelope, call->request->req_text, ZDEX_UNAVAILABLE,
                           "the partition is moving and too many requests wait for it; retry");
            zdex_call_destroy (&call);
        } else
            zlistx_add_end (self->queued, call);
        return;
    }
    if (ZDEX_OP_IS_SCHEDULED (call->request->op)) {
        zdex_scheduled_call (self->scheduled, &call);
        return;
    }
    s_executor_require (self, call->request->executor)->durability = call->durability;
    switch (call->request->op) {
    case ZDEX_OP_DURABLE_SUBMIT:
    case ZDEX_OP_DURABLE_EXECUTE:
    case ZDEX_OP_DURABLE_SUBMIT_AND_RETRIEVE:
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
s_on_job (zdex_partition_t *self, zdex_job_t *job, bool drop)
{
    if (job->ref) {
        zdex_scheduled_result (self->scheduled, &job);
        return;
    }
    uint32_t partition = (uint32_t) (job->task_id >> 32);
    uint32_t sequence = (uint32_t) job->task_id;
    zdex_ring_t *ring = s_ring (self, job->executor, partition, 0);
    zdex_ring_slot_t slot;
    if (!zdex_replicator_is_primary (self->replicator, partition) || !ring ||
        zdex_ring_lookup (ring, sequence, &slot) != ZDEX_RING_PENDING) {
        //  Disposed meanwhile, or the partition moved: the late result is dropped
        //  (the new owner runs the task again).
        zdex_job_destroy (&job);
        return;
    }
    uint64_t seq;
    if (drop)
        seq = s_dispose_slot (self, job->executor, ring, job->task_id);
    else {
        zdex_ring_slot_t result = {.sequence = sequence,
                                   .state = job->ok ? ZDEX_RING_DONE_OK : ZDEX_RING_FAILED,
                                   .data = job->result};
        seq = s_publish (self, partition, ZDEX_REPLICA_RESULT, job->executor, 0, &result);
        zdex_ring_complete (ring, sequence, job->ok, job->result);
        job->result = NULL;
    }
    //  Retrieves parked on it wake once the backups hold the result (a result
    //  that reached them is never run again).
    s_hold_wake (self, job->executor, job->task_id, seq);
    zdex_job_destroy (&job);
}

typedef struct {
    zdex_partition_t *self;
    const char *executor;
    zdex_ring_t *ring;
    uint32_t partition;
} s_redispatch_t;

static void
s_redispatch_one (const zdex_ring_slot_t *slot, void *arg)
{
    s_redispatch_t *context = (s_redispatch_t *) arg;
    uint32_t attempt = zdex_ring_next_attempt (context->ring, slot->sequence);
    zdex_ring_slot_t bumped = {.sequence = slot->sequence, .attempt = attempt};
    s_publish (context->self, context->partition, ZDEX_REPLICA_ATTEMPT, context->executor, 0,
               &bumped);
    zdex_job_t *job =
        zdex_job_new (context->executor, ((uint64_t) context->partition << 32) | slot->sequence,
                      attempt, slot->type, strdup (slot->data));
    assert (job);
    s_dispatch (context->self, job);
}

//  We became the primary: adopt the replica's rings and run again every task
//  that has no result yet (at-least-once: it may have been running at the old
//  owner).
static void
s_on_promoted (uint32_t partition, zhashx_t *rings, zlistx_t *records, void *arg)
{
    zdex_partition_t *self = (zdex_partition_t *) arg;
    zdex_scheduled_promoted (self->scheduled, partition, &records);
    if (!rings)
        return;
    size_t pending = 0;
    zdex_ring_t *ring = (zdex_ring_t *) zhashx_first (rings);
    while (ring) {
        const char *name = (const char *) zhashx_cursor (rings);
        s_executor_t *executor = s_executor_require (self, name);
        zdex_ring_destroy (&executor->rings[partition]);
        executor->rings[partition] = ring;
        pending += zdex_ring_in_flight (ring);
        s_redispatch_t context = {self, executor->name, ring, partition};
        zdex_ring_foreach_pending (ring, s_redispatch_one, &context);
        ring = (zdex_ring_t *) zhashx_next (rings);
    }
    zhashx_destroy (&rings);
    if (self->args.verbose)
        zsys_info ("partition %" PRIu32 ": promoted to primary, %zu task(s) dispatched again",
                   partition, pending);
}

//  The move target of a partition we own holds all we acknowledged: the broker
//  tells the master (through membership), which hands the partition over.
static void
s_on_move_ready (uint32_t partition, uint64_t epoch, const char *target, void *arg)
{
    zdex_partition_t *self = (zdex_partition_t *) arg;
    char partition_text[16], epoch_text[24];
    snprintf (partition_text, sizeof partition_text, "%" PRIu32, partition);
    snprintf (epoch_text, sizeof epoch_text, "%" PRIu64, epoch);
    zstr_sendx (self->output, "READY", partition_text, epoch_text, target, NULL);
}

//  We no longer own the partition: its rings go; parked retrieves are answered
//  UNAVAILABLE so that clients ask the new owner.
static void
s_on_demoted (uint32_t partition, void *arg)
{
    zdex_partition_t *self = (zdex_partition_t *) arg;
    zdex_scheduled_demoted (self->scheduled, partition);
    s_executor_t *executor = (s_executor_t *) zhashx_first (self->executors);
    while (executor) {
        zdex_ring_destroy (&executor->rings[partition]);
        executor = (s_executor_t *) zhashx_next (self->executors);
    }
    zlist_t *keys = zlist_new ();
    zlist_autofree (keys);
    zlistx_t *list = (zlistx_t *) zhashx_first (self->waiters);
    while (list) {
        const char *key = (const char *) zhashx_cursor (self->waiters);
        if ((uint32_t) (strtoull (key, NULL, 10) >> 32) == partition)
            zlist_append (keys, (void *) key);
        list = (zlistx_t *) zhashx_next (self->waiters);
    }
    const char *key = (const char *) zlist_first (keys);
    while (key) {
        list = (zlistx_t *) zhashx_lookup (self->waiters, key);
        s_waiter_t *waiter = (s_waiter_t *) zlistx_first (list);
        while (waiter) {
            zdex_deadlines_remove (self->deadlines, &waiter->position);
            s_reply_error_fields (self, &waiter->envelope, waiter->req_text, waiter->fields,
                                  ZDEX_UNAVAILABLE, "the partition moved to another member; retry");
            s_waiter_destroy (&waiter);
            self->parked--;
            waiter = (s_waiter_t *) zlistx_next (list);
        }
        zlistx_destroy (&list);
        zhashx_delete (self->waiters, key);
        key = (const char *) zlist_next (keys);
    }
    zlist_destroy (&keys);
}

static zhashx_t *
s_rings_of (uint32_t partition, void *arg)
{
    zdex_partition_t *self = (zdex_partition_t *) arg;
    zhashx_t *rings = zhashx_new ();
    assert (rings);
    s_executor_t *executor = (s_executor_t *) zhashx_first (self->executors);
    while (executor) {
        if (executor->rings[partition])
            zhashx_insert (rings, executor->name, executor->rings[partition]);
        executor = (s_executor_t *) zhashx_next (self->executors);
    }
    return rings;
}

static zlistx_t *
s_records_of (uint32_t partition, void *arg)
{
    zdex_partition_t *self = (zdex_partition_t *) arg;
    return zdex_scheduled_records (self->scheduled, partition);
}

static void
s_expire (zdex_partition_t *self)
{
    int64_t now = zclock_mono ();
    s_waiter_t *waiter;
    while ((waiter = (s_waiter_t *) zdex_deadlines_pop_due (self->deadlines, now))) {
        s_reply_error_fields (self, &waiter->envelope, waiter->req_text, waiter->fields,
                              ZDEX_TIMEOUT, "task was not done within timeout_ms");
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

//  Requests queued while their partition handed over: handled here if the pause
//  ended without a move, sent to the new owner (s_on_call) if it moved.
static void
s_release_queued (zdex_partition_t *self)
{
    if (zlistx_size (self->queued) == 0)
        return;
    zlistx_t *waiting = self->queued;
    self->queued = zlistx_new ();
    assert (self->queued);
    zdex_call_t *call;
    while ((call = (zdex_call_t *) zlistx_detach (waiting, NULL))) {
        if (zdex_replicator_paused (self->replicator, call->partition))
            zlistx_add_end (self->queued, call);
        else
            s_on_call (self, call);
    }
    zlistx_destroy (&waiting);
}

//  ---------------------------------------------------------------------------------
//  The broker's entry points (in the broker's thread when the partitions run
//  there, else in the actor's thread through its pipe).

const char *
zdex_partition_endpoint (zdex_partition_t *self)
{
    assert (self);
    return zdex_replicator_endpoint (self->replicator);
}

void
zdex_partition_call (zdex_partition_t *self, zdex_call_t *call)
{
    assert (self && call);
    s_on_call (self, call);
}

void
zdex_partition_job (zdex_partition_t *self, zdex_job_t *job, bool drop)
{
    assert (self && job);
    s_on_job (self, job, drop);
}

void
zdex_partition_cluster (zdex_partition_t *self, const char *table_json, const char *view_json)
{
    assert (self && table_json && view_json);
    zdex_replicator_update (self->replicator, table_json, view_json);
}

void
zdex_partition_sched_shutdown (zdex_partition_t *self, const char *scheduler)
{
    assert (self && scheduler);
    zdex_scheduled_shutdown (self->scheduled, scheduler);
}

char *
zdex_partition_sched_list (zdex_partition_t *self, const char *scheduler)
{
    assert (self && scheduler);
    json_t *urns = json_array ();
    zdex_scheduled_list (self->scheduled, scheduler, urns);
    char *text = json_dumps (urns, JSON_COMPACT);
    assert (text);
    json_decref (urns);
    return text;
}

size_t
zdex_partition_sockets (zdex_partition_t *self, void **sockets, size_t max)
{
    assert (self && sockets);
    return zdex_replicator_sockets (self->replicator, sockets, max);
}

int
zdex_partition_work (zdex_partition_t *self)
{
    assert (self);
    zdex_replicator_recv (self->replicator);
    zdex_replicator_tick (self->replicator);
    s_expire (self);
    s_release_queued (self);
    int timeout = zdex_deadlines_timeout (self->deadlines, zclock_mono ());
    int replication = zdex_replicator_timeout (self->replicator);
    if (timeout < 0 || (replication >= 0 && replication < timeout))
        timeout = replication;
    int scheduled = zdex_scheduled_tick (self->scheduled);
    if (timeout < 0 || (scheduled >= 0 && scheduled < timeout))
        timeout = scheduled;
    return timeout;
}

//  ---------------------------------------------------------------------------------
//  The actor: a thread of its own around one zdex_partition_t.

typedef struct {
    zsock_t *pipe;
    zdex_waitset_t *waitset; //  the pipe and the replicator's sockets
    zdex_partition_t *partition;
    bool terminated;
} s_actor_t;

//  One pipe message; false when the pipe is empty.
static bool
s_on_pipe (s_actor_t *actor)
{
    zdex_partition_t *self = actor->partition;
    //  CALL, RESULT and DROP, nearly every message, are a command and a pointer:
    //  read them without building a zmsg.  Receive timeout 0: false when empty.
    void *handle = zsock_resolve (actor->pipe);
    zmq_msg_t first;
    zmq_msg_init (&first);
    if (zmq_msg_recv (&first, handle, ZMQ_DONTWAIT) == -1) {
        zmq_msg_close (&first);
        zdex_waitset_drained (actor->waitset, handle);
        return false;
    }
    const char *data = (const char *) zmq_msg_data (&first);
    size_t size = zmq_msg_size (&first);
    bool more = zmq_msg_more (&first);
    int kind = !more                                          ? 0
               : size == 4 && memcmp (data, "CALL", 4) == 0   ? 1
               : size == 6 && memcmp (data, "RESULT", 6) == 0 ? 2
               : size == 4 && memcmp (data, "DROP", 4) == 0   ? 3
                                                              : 0;
    if (kind) {
        zmq_msg_close (&first);
        void *item = zdex_pointer_recv (handle);
        if (kind == 1)
            zdex_partition_call (self, (zdex_call_t *) item);
        else
            zdex_partition_job (self, (zdex_job_t *) item, kind == 3);
        return true;
    }
    zmsg_t *msg = zdex_msg_rest (&first, actor->pipe);
    char *command = zmsg_popstr (msg);
    zdex_waitset_touch (actor->waitset, actor->pipe); //  the answers below
    if (streq (command, "ENDPOINT"))
        zstr_send (actor->pipe, zdex_partition_endpoint (self));
    else if (streq (command, "SCHED_SHUTDOWN") || streq (command, "SCHED_LIST")) {
        char *scheduler = zmsg_popstr (msg);
        assert (scheduler);
        if (streq (command, "SCHED_SHUTDOWN"))
            zdex_partition_sched_shutdown (self, scheduler);
        else {
            //  Answered on the pipe: the broker waits for it.
            char *text = zdex_partition_sched_list (self, scheduler);
            zstr_send (actor->pipe, text);
            free (text);
        }
        zstr_free (&scheduler);
    } else if (streq (command, "CLUSTER")) {
        char *table = zmsg_popstr (msg);
        char *view = zmsg_popstr (msg);
        zdex_partition_cluster (self, table, view);
        zstr_free (&table);
        zstr_free (&view);
    } else if (streq (command, "$TERM"))
        actor->terminated = true;
    else
        assert (false); //  the broker sends only the commands above
    zstr_free (&command);
    zmsg_destroy (&msg);
    return true;
}

static void
s_actor (zsock_t *pipe, void *arg)
{
    //  The actor's own waitset, as the broker's thread has one (zdex_waitset.h).
    zdex_partition_args_t args = *(const zdex_partition_args_t *) arg;
    args.waitset = zdex_waitset_new ();
    assert (args.waitset);
    s_actor_t actor = {pipe, args.waitset, zdex_partition_new (&args), false};
    zsock_signal (pipe, 0);
    //  A zero receive timeout lets the actor drain its pipe without asking
    //  ZMQ_EVENTS (a system call) before every message.
    zsock_set_rcvtimeo (pipe, 0);
    int timeout = 0;
    while (!actor.terminated) {
        //  The replicator's sockets change as members come and go.
        void *sockets[ZDEX_WAITSET_MAX] = {pipe};
        size_t count =
            1 + zdex_partition_sockets (actor.partition, sockets + 1, ZDEX_WAITSET_MAX - 1);
        zdex_waitset_wait (actor.waitset, sockets, count, timeout);
        int limit = zdex_waitset_ready (actor.waitset, pipe) ? S_BATCH_MAX : 0;
        for (int batch = 0; batch < limit && !actor.terminated; batch++)
            if (!s_on_pipe (&actor))
                break;
        if (!actor.terminated)
            timeout = zdex_partition_work (actor.partition);
    }
    zdex_partition_destroy (&actor.partition);
    zdex_waitset_destroy (&actor.waitset);
}

zactor_t *
zdex_partition_actor_new (const zdex_partition_args_t *args)
{
    assert (args);
    //  zactor_new blocks until the actor has copied args and signalled.
    return zactor_new (s_actor, (void *) args);
}
