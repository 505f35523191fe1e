//  zdex_scheduled: the scheduled executor inside a partition actor (see the
//  header for what each op does).
//
//  Durability follows the durable executor's rules: a change is published on the
//  partition's stream before anyone is told about it, and a get never sees an
//  outcome the backups do not hold yet (the `undurable` set), so a client that saw
//  a result sees the same result after any failover.  Member-bin tasks are not
//  replicated (they die with the member) and are answered at once.

#include "zdex_scheduled.h"
#include "zdex_deadlines.h"
#include "zdex_hash_table.h"
#include "zdex_proto.h"
#include "zdex_sched.h"

#include <inttypes.h>

typedef struct {
    zmsg_t *envelope;
    char *req_text;
    char *urn;
    size_t position; //  in the deadline heap
    void *handle;    //  in its list
} s_get_t;

struct _zdex_scheduled_t {
    zdex_scheduled_args_t args;
    char *member_id;
    zdex_sched_t *store;
    zhashx_t *waiters;    //  urn → zlistx of s_get_t
    zhashx_t *undurable;  //  urn → 1 while its outcome is not on the backups
    zhashx_t *durability; //  scheduler → (intptr_t) backups + 1, from its config
    zdex_deadlines_t *deadlines;
    size_t parked;
};

static void
s_get_destroy (s_get_t **get_p)
{
    s_get_t *get = *get_p;
    if (get) {
        zmsg_destroy (&get->envelope);
        free (get->req_text);
        free (get->urn);
        free (get);
        *get_p = NULL;
    }
}

zdex_scheduled_t *
zdex_scheduled_new (const zdex_scheduled_args_t *args)
{
    assert (args && args->output && args->replicator && args->member_id && args->hold);
    zdex_scheduled_t *self = (zdex_scheduled_t *) zmalloc (sizeof (zdex_scheduled_t));
    assert (self);
    self->args = *args;
    self->member_id = strdup (args->member_id);
    self->args.member_id = self->member_id;
    self->store = zdex_sched_new ();
    self->waiters = zdex_hash_table_new ();
    self->undurable = zdex_hash_table_new ();
    self->durability = zdex_hash_table_new ();
    self->deadlines = zdex_deadlines_new ();
    assert (self->member_id && self->store && self->waiters && self->undurable &&
            self->durability && self->deadlines);
    return self;
}

static void
s_reply (zdex_scheduled_t *self, zmsg_t **envelope_p, zframe_t *frame)
{
    zdex_partition_output_reply (&self->args.sink, self->args.output, envelope_p, frame);
}

static void
s_reply_error (zdex_scheduled_t *self, zmsg_t **envelope_p, const char *req_text, zdex_code_t code,
               const char *message)
{
    s_reply (self, envelope_p, zdex_reply_error (req_text, code, message, NULL));
}

//  The answer to a get of a task that has an outcome.
static zframe_t *
s_outcome_frame (const char *req_text, const zdex_sched_task_t *task)
{
    if (task->outcome == ZDEX_SCHED_VALUE)
        return zdex_reply_result (req_text, NULL, task->outcome_data);
    if (task->outcome == ZDEX_SCHED_FAILED)
        return zdex_reply_error (req_text, ZDEX_TASK_FAILED, "task failed", task->outcome_data);
    return zdex_reply_error (req_text, ZDEX_CANCELLED, "task was cancelled", NULL);
}

//  Answer every get parked on urn with frames built by answer, and forget them.
static void
s_answer_all (zdex_scheduled_t *self, const char *urn, zdex_code_t code, const char *message,
              const zdex_sched_task_t *task)
{
    zlistx_t *list = (zlistx_t *) zhashx_lookup (self->waiters, urn);
    if (!list)
        return;
    s_get_t *get = (s_get_t *) zlistx_first (list);
    while (get) {
        zdex_deadlines_remove (self->deadlines, &get->position);
        if (task)
            s_reply (self, &get->envelope, s_outcome_frame (get->req_text, task));
        else
            s_reply_error (self, &get->envelope, get->req_text, code, message);
        s_get_destroy (&get);
        self->parked--;
        get = (s_get_t *) zlistx_next (list);
    }
    zlistx_destroy (&list);
    zhashx_delete (self->waiters, urn);
}

void
zdex_scheduled_destroy (zdex_scheduled_t **self_p)
{
    assert (self_p);
    zdex_scheduled_t *self = *self_p;
    if (!self)
        return;
    zlistx_t *urns = zhashx_keys (self->waiters);
    for (const char *urn = (const char *) zlistx_first (urns); urn;
         urn = (const char *) zlistx_next (urns))
        s_answer_all (self, urn, ZDEX_UNAVAILABLE, "member stopping; retry", NULL);
    zlistx_destroy (&urns);
    zhashx_destroy (&self->waiters);
    zhashx_destroy (&self->undurable);
    zhashx_destroy (&self->durability);
    zdex_deadlines_destroy (&self->deadlines);
    zdex_sched_destroy (&self->store);
    free (self->member_id);
    free (self);
    *self_p = NULL;
}

//  The URN of a task (caller owns).
static char *
s_urn (zdex_scheduled_t *self, const zdex_sched_task_t *task)
{
    char *urn = task->partition == ZDEX_SCHED_MEMBER
                    ? zdex_handler_format (-1, self->member_id, task->scheduler, task->name)
                    : zdex_handler_format (task->partition, NULL, task->scheduler, task->name);
    assert (urn);
    return urn;
}

static int
s_needed (zdex_scheduled_t *self, const char *scheduler)
{
    intptr_t value = (intptr_t) zhashx_lookup (self->durability, scheduler);
    //  Unknown (promoted, nobody asked since): as many backups as there are.
    return value ? (int) (value - 1) : INT32_MAX;
}

static void
s_count (zdex_scheduled_t *self, const char *scheduler, long delta)
{
    if (delta == 0)
        return;
    char text[24];
    snprintf (text, sizeof text, "%ld", delta);
    zstr_sendx (self->args.output, "COUNT", scheduler, text, NULL);
}

//  Publish a task's new form (or its removal) on its partition's stream; 0 for a
//  member-bin task.
static uint64_t
s_publish (zdex_scheduled_t *self, const zdex_sched_task_t *task, bool removed)
{
    if (task->partition == ZDEX_SCHED_MEMBER)
        return 0;
    char *form = removed ? NULL : zdex_sched_encode (task, zclock_mono ());
    zdex_replica_msg_t msg = {.op = removed ? ZDEX_REPLICA_SCHED_DEL : ZDEX_REPLICA_SCHED_PUT,
                              .executor = task->scheduler,
                              .name = task->name,
                              .data = form};
    uint64_t seq =
        zdex_replicator_publish (self->args.replicator, (uint32_t) task->partition, &msg);
    free (form);
    return seq;
}

//  Hold a reply until the task's change is durable (member bin: send it now).
static void
s_hold_reply (zdex_scheduled_t *self, const char *scheduler, int32_t partition, uint64_t seq,
              zmsg_t **envelope_p, zframe_t *frame, char **req_text_p)
{
    if (partition == ZDEX_SCHED_MEMBER) {
        s_reply (self, envelope_p, frame);
        return;
    }
    self->args.hold (self->args.arg, (uint32_t) partition, seq, s_needed (self, scheduler),
                     envelope_p, frame, req_text_p, NULL);
}

//  The task's outcome changed: parked gets learn it once it is durable.
static void
s_hold_wake (zdex_scheduled_t *self, const zdex_sched_task_t *task, uint64_t seq)
{
    char *urn = s_urn (self, task);
    if (task->partition == ZDEX_SCHED_MEMBER)
        s_answer_all (self, urn, ZDEX_OK, NULL, task);
    else {
        zhashx_update (self->undurable, urn, (void *) 1);
        self->args.hold (self->args.arg, (uint32_t) task->partition, seq,
                         s_needed (self, task->scheduler), NULL, NULL, NULL, urn);
    }
    free (urn);
}

static void
s_capacity_message (char *message, size_t size, uint32_t capacity, const char *scheduler,
                    int32_t partition)
{
    if (partition == ZDEX_SCHED_ANY)
        snprintf (message, size,
                  "Maximum capacity (%" PRIu32 ") of tasks reached for this member and scheduled "
                  "executor (%s). Reminder, that tasks must be disposed if not needed.",
                  capacity, scheduler);
    else
        snprintf (message, size,
                  "Maximum capacity (%" PRIu32 ") of tasks reached for partition (%" PRId32
                  ") and scheduled executor (%s). Reminder, that tasks must be disposed if not "
                  "needed.",
                  capacity, partition, scheduler);
}

static void
s_schedule (zdex_scheduled_t *self, zdex_call_t *call, int32_t partition)
{
    zdex_request_t *request = call->request;
    const char *scheduler = request->scheduler;
    const char *name = request->name;
    assert (name); //  the broker names unnamed tasks
    char message[ZDEX_MAX_NAME_BYTES * 2 + 256];
    if (zdex_sched_find (self->store, scheduler, partition, name)) {
        if (call->reserved)
            s_count (self, scheduler, -1);
        snprintf (message, sizeof message,
                  "There is already a task with the same name '%s' in '%s'", name, scheduler);
        s_reply_error (self, &call->envelope, request->req_text, ZDEX_DUPLICATE_TASK, message);
        return;
    }
    bool full;
    if (call->per_partition)
        full = partition != ZDEX_SCHED_MEMBER && call->capacity > 0 &&
               zdex_sched_count (self->store, scheduler, partition) >= call->capacity;
    else
        full = !call->permit;
    if (full) {
        if (call->reserved)
            s_count (self, scheduler, -1);
        s_capacity_message (message, sizeof message, call->capacity, scheduler,
                            call->per_partition ? partition : ZDEX_SCHED_ANY);
        s_reply_error (self, &call->envelope, request->req_text, ZDEX_REJECTED, message);
        return;
    }
    assert (request->payload_text);
    zdex_sched_task_t *task = zdex_sched_add (
        self->store, scheduler, partition, name, request->task_type, request->payload_text,
        request->delay_ms, request->period_ms, request->auto_dispose, zclock_mono ());
    assert (task);
    if (!call->reserved)
        s_count (self, scheduler, 1);
    uint64_t seq = s_publish (self, task, false);
    char *urn = s_urn (self, task);
    json_t *fields = json_object ();
    if (call->member_bin && !request->member) {
        //  Scheduled on several members: the reply merges every member's handler.
        json_t *handlers = json_object ();
        json_object_set_new (handlers, self->member_id, json_string (urn));
        json_object_set_new (fields, "handlers", handlers);
    } else
        json_object_set_new (fields, "handler", json_string (urn));
    s_hold_reply (self, scheduler, partition, seq, &call->envelope,
                  zdex_reply_object (request->req_text, fields), &request->req_text);
    json_decref (fields);
    free (urn);
}

static void
s_get (zdex_scheduled_t *self, zdex_call_t *call, zdex_sched_task_t *task)
{
    zdex_request_t *request = call->request;
    char *urn = s_urn (self, task);
    if (zdex_sched_done (task) && !zhashx_lookup (self->undurable, urn)) {
        s_reply (self, &call->envelope, s_outcome_frame (request->req_text, task));
        free (urn);
        return;
    }
    if (request->timeout_ms == 0) {
        s_reply_error (self, &call->envelope, request->req_text, ZDEX_TIMEOUT,
                       "task is not done yet");
        free (urn);
        return;
    }
    if (self->parked >= self->args.max_parked) {
        s_reply_error (self, &call->envelope, request->req_text, ZDEX_REJECTED,
                       "too many parked requests on this member; retry later");
        free (urn);
        return;
    }
    s_get_t *get = (s_get_t *) zmalloc (sizeof (s_get_t));
    assert (get);
    get->envelope = call->envelope;
    call->envelope = NULL;
    get->req_text = request->req_text;
    request->req_text = NULL;
    get->urn = urn;
    get->position = ZDEX_DEADLINE_NONE;
    zlistx_t *list = (zlistx_t *) zhashx_lookup (self->waiters, urn);
    if (!list) {
        list = zlistx_new ();
        assert (list);
        zhashx_insert (self->waiters, urn, list);
    }
    get->handle = zlistx_add_end (list, get);
    if (request->timeout_ms > 0)
        zdex_deadlines_add (self->deadlines, zclock_mono () + request->timeout_ms, get,
                            &get->position);
    self->parked++;
}

static void
s_status (zdex_scheduled_t *self, zdex_call_t *call, zdex_sched_task_t *task)
{
    const zdex_sched_stats_t *stats = &task->stats;
    json_t *reply =
        json_pack ("{s:b, s:b, s:I, s:{s:I, s:I, s:I, s:I, s:I}}", "done", zdex_sched_done (task),
                   "cancelled", task->outcome == ZDEX_SCHED_CANCELLED, "delay_ms",
                   (json_int_t) zdex_sched_delay (task, zclock_mono ()), "stats", "total_runs",
                   (json_int_t) stats->total_runs, "last_run_duration_ms",
                   (json_int_t) stats->last_run_duration_ms, "last_idle_time_ms",
                   (json_int_t) stats->last_idle_time_ms, "total_run_time_ms",
                   (json_int_t) stats->total_run_time_ms, "total_idle_time_ms",
                   (json_int_t) stats->total_idle_time_ms);
    assert (reply);
    s_reply (self, &call->envelope, zdex_reply_object (call->request->req_text, reply));
    json_decref (reply);
}

void
zdex_scheduled_call (zdex_scheduled_t *self, zdex_call_t **call_p)
{
    assert (self);
    zdex_call_t *call = *call_p;
    zdex_request_t *request = call->request;
    int32_t partition = call->member_bin ? ZDEX_SCHED_MEMBER : (int32_t) call->partition;
    const char *scheduler =
        request->op == ZDEX_OP_SCHEDULED_SCHEDULE ? request->scheduler : request->handler.scheduler;
    zhashx_update (self->durability, scheduler, (void *) (intptr_t) (call->durability + 1));
    if (zdex_sched_is_shutdown (self->store, scheduler)) {
        s_reply_error (self, &call->envelope, request->req_text, ZDEX_REJECTED,
                       "Executor is shut down.");
        if (call->reserved)
            s_count (self, scheduler, -1);
        zdex_call_destroy (call_p);
        return;
    }
    if (request->op == ZDEX_OP_SCHEDULED_SCHEDULE) {
        s_schedule (self, call, partition);
        zdex_call_destroy (call_p);
        return;
    }
    zdex_sched_task_t *task =
        zdex_sched_find (self->store, scheduler, partition, request->handler.name);
    if (!task) {
        char message[ZDEX_MAX_NAME_BYTES + 64];
        snprintf (message, sizeof message, "Task with name %s not found.", request->handler.name);
        s_reply_error (self, &call->envelope, request->req_text, ZDEX_STALE_TASK, message);
        zdex_call_destroy (call_p);
        return;
    }
    switch (request->op) {
    case ZDEX_OP_SCHEDULED_GET:
        s_get (self, call, task);
        break;
    case ZDEX_OP_SCHEDULED_STATUS:
        s_status (self, call, task);
        break;
    case ZDEX_OP_SCHEDULED_CANCEL: {
        bool cancelled = zdex_sched_cancel (self->store, task);
        uint64_t seq;
        if (cancelled) {
            seq = s_publish (self, task, false);
            s_hold_wake (self, task, seq);
        } else
            seq = partition == ZDEX_SCHED_MEMBER
                      ? 0
                      : zdex_replicator_last_seq (self->args.replicator, (uint32_t) partition);
        s_hold_reply (self, scheduler, partition, seq, &call->envelope,
                      zdex_reply_ok (request->req_text,
                                     cancelled ? ",\"cancelled\":true" : ",\"cancelled\":false"),
                      &request->req_text);
        break;
    }
    case ZDEX_OP_SCHEDULED_DISPOSE: {
        uint64_t seq = s_publish (self, task, true);
        char *urn = s_urn (self, task);
        char message[ZDEX_MAX_NAME_BYTES + 64];
        snprintf (message, sizeof message, "Task with name %s not found.", task->name);
        s_answer_all (self, urn, ZDEX_STALE_TASK, message, NULL);
        zhashx_delete (self->undurable, urn);
        free (urn);
        s_count (self, scheduler, -1);
        zdex_sched_remove (self->store, &task);
        s_hold_reply (self, scheduler, partition, seq, &call->envelope,
                      zdex_reply_ok (request->req_text, NULL), &request->req_text);
        break;
    }
    default:
        assert (false); //  the broker answers the member-wide ops itself
    }
    zdex_call_destroy (call_p);
}

void
zdex_scheduled_result (zdex_scheduled_t *self, zdex_job_t **job_p)
{
    assert (self);
    zdex_job_t *job = *job_p;
    zdex_sched_task_t *task =
        zdex_sched_find (self->store, job->scheduler, job->partition, job->name);
    if (!task || !task->running || task->run != job->task_id ||
        (job->partition != ZDEX_SCHED_MEMBER &&
         !zdex_replicator_is_primary (self->args.replicator, (uint32_t) job->partition))) {
        //  Disposed, or the partition moved meanwhile: the late result is dropped.
        zdex_job_destroy (job_p);
        return;
    }
    bool was_done = zdex_sched_done (task);
    bool remove = zdex_sched_finish (self->store, task, job->ok, job->result, job->state_text,
                                     zclock_mono ());
    if (remove) {
        //  Auto-dispose: gone once done; its gets learn so when that is durable.
        char *urn = s_urn (self, task);
        char message[ZDEX_MAX_NAME_BYTES + 64];
        snprintf (message, sizeof message, "Task with name %s not found.", task->name);
        s_publish (self, task, true);
        s_answer_all (self, urn, ZDEX_STALE_TASK, message, NULL);
        free (urn);
        s_count (self, task->scheduler, -1);
        zdex_sched_remove (self->store, &task);
    } else {
        uint64_t seq = s_publish (self, task, false);
        if (!was_done && zdex_sched_done (task))
            s_hold_wake (self, task, seq);
    }
    zdex_job_destroy (job_p);
}

static void
s_start_run (zdex_scheduled_t *self, zdex_sched_task_t *task)
{
    char *urn = s_urn (self, task);
    char registry_name[ZDEX_MAX_NAME_BYTES + 8];
    zdex_job_scheduler_name (task->scheduler, registry_name, sizeof registry_name);
    zdex_job_t *job = zdex_job_new (registry_name, task->run, 1, task->type,
                                    strdup (task->payload ? task->payload : "null"));
    assert (job);
    int rc = zdex_job_set_scheduled (job, urn, task->scheduler, task->name, task->partition,
                                     task->state);
    assert (rc == 0);
    (void) rc;
    zdex_partition_output_dispatch (&self->args.sink, self->args.output, job);
    free (urn);
}

int
zdex_scheduled_tick (zdex_scheduled_t *self)
{
    assert (self);
    int64_t now = zclock_mono ();
    zdex_sched_task_t *task;
    //  Bounded per call so that a burst of due tasks does not starve the pipe.
    for (int count = 0; count < 1000 && (task = zdex_sched_pop_due (self->store, now)); count++)
        s_start_run (self, task);
    s_get_t *get;
    while ((get = (s_get_t *) zdex_deadlines_pop_due (self->deadlines, now))) {
        s_reply_error (self, &get->envelope, get->req_text, ZDEX_TIMEOUT,
                       "task was not done within timeout_ms");
        zlistx_t *list = (zlistx_t *) zhashx_lookup (self->waiters, get->urn);
        assert (list);
        zlistx_delete (list, get->handle);
        if (zlistx_size (list) == 0) {
            char *urn = strdup (get->urn);
            zlistx_destroy (&list);
            zhashx_delete (self->waiters, urn);
            free (urn);
        }
        s_get_destroy (&get);
        self->parked--;
    }
    int64_t next = zdex_sched_next_due (self->store);
    int64_t expiry = zdex_deadlines_next (self->deadlines);
    if (next < 0 || (expiry >= 0 && expiry < next))
        next = expiry;
    if (next < 0)
        return -1;
    return next <= now ? 0 : (int) (next - now > INT32_MAX ? INT32_MAX : next - now);
}

void
zdex_scheduled_release (zdex_scheduled_t *self, const char *urn, bool ok)
{
    assert (self);
    zhashx_delete (self->undurable, urn);
    if (!ok)
        return; //  the demotion answered the gets already
    zdex_handler_t handler;
    char message[128];
    if (zdex_handler_parse (urn, &handler, message, sizeof message) != 0)
        return;
    zdex_sched_task_t *task = zdex_sched_find (
        self->store, handler.scheduler,
        handler.partition < 0 ? ZDEX_SCHED_MEMBER : handler.partition, handler.name);
    if (task && zdex_sched_done (task))
        s_answer_all (self, urn, ZDEX_OK, NULL, task);
    zdex_handler_reset (&handler);
}

//  Tell the broker how many tasks of each scheduler arrived (sign 1) or left (-1).
static void
s_count_list (zdex_scheduled_t *self, zlistx_t *tasks, long sign)
{
    zhashx_t *counts = zdex_hash_table_new ();
    assert (counts);
    for (zdex_sched_task_t *task = (zdex_sched_task_t *) zlistx_first (tasks); task;
         task = (zdex_sched_task_t *) zlistx_next (tasks)) {
        intptr_t count = (intptr_t) zhashx_lookup (counts, task->scheduler);
        zhashx_update (counts, task->scheduler, (void *) (count + 1));
    }
    for (void *count = zhashx_first (counts); count; count = zhashx_next (counts))
        s_count (self, (const char *) zhashx_cursor (counts), sign * (long) (intptr_t) count);
    zhashx_destroy (&counts);
}

void
zdex_scheduled_promoted (zdex_scheduled_t *self, uint32_t partition, zlistx_t **records_p)
{
    assert (self);
    zlistx_t *records = *records_p;
    if (!records)
        return;
    size_t armed = 0;
    zlistx_t *installed = zlistx_new ();
    assert (installed);
    for (zdex_replica_record_t *record = (zdex_replica_record_t *) zlistx_first (records); record;
         record = (zdex_replica_record_t *) zlistx_next (records)) {
        //  The form's due_in_ms counts from when it reached us.
        zdex_sched_task_t *task = zdex_sched_put (
            self->store, record->scheduler, (int32_t) partition, record->data, record->received_at);
        if (!task) {
            zsys_warning ("scheduled: partition %" PRIu32 ": task %s/%s has an invalid form",
                          partition, record->scheduler, record->name);
            continue;
        }
        zlistx_add_end (installed, task);
        armed += task->due_at >= 0;
    }
    s_count_list (self, installed, 1);
    if (self->args.verbose && zlistx_size (installed))
        zsys_info ("scheduled: partition %" PRIu32 ": promoted, %zu task(s), %zu armed", partition,
                   zlistx_size (installed), armed);
    zlistx_destroy (&installed);
    zlistx_destroy (records_p);
}

void
zdex_scheduled_demoted (zdex_scheduled_t *self, uint32_t partition)
{
    assert (self);
    zlistx_t *tasks = zdex_sched_list (self->store, NULL, (int32_t) partition);
    for (zdex_sched_task_t *task = (zdex_sched_task_t *) zlistx_first (tasks); task;
         task = (zdex_sched_task_t *) zlistx_next (tasks)) {
        char *urn = s_urn (self, task);
        s_answer_all (self, urn, ZDEX_UNAVAILABLE, "the partition moved to another member; retry",
                      NULL);
        zhashx_delete (self->undurable, urn);
        free (urn);
    }
    s_count_list (self, tasks, -1);
    zlistx_destroy (&tasks);
    zdex_sched_drop_partition (self->store, (int32_t) partition);
}

zlistx_t *
zdex_scheduled_records (zdex_scheduled_t *self, uint32_t partition)
{
    assert (self);
    zlistx_t *records = zdex_replica_record_list_new ();
    zlistx_t *tasks = zdex_sched_list (self->store, NULL, (int32_t) partition);
    int64_t now = zclock_mono ();
    for (zdex_sched_task_t *task = (zdex_sched_task_t *) zlistx_first (tasks); task;
         task = (zdex_sched_task_t *) zlistx_next (tasks)) {
        char *form = zdex_sched_encode (task, now);
        assert (form);
        zlistx_add_end (records, zdex_replica_record_new (task->scheduler, task->name, form, now));
        free (form);
    }
    zlistx_destroy (&tasks);
    return records;
}

void
zdex_scheduled_shutdown (zdex_scheduled_t *self, const char *scheduler)
{
    assert (self);
    zdex_sched_shutdown (self->store, scheduler);
}

void
zdex_scheduled_list (zdex_scheduled_t *self, const char *scheduler, json_t *urns)
{
    assert (self);
    zlistx_t *tasks = zdex_sched_list (self->store, scheduler, ZDEX_SCHED_ANY);
    for (zdex_sched_task_t *task = (zdex_sched_task_t *) zlistx_first (tasks); task;
         task = (zdex_sched_task_t *) zlistx_next (tasks)) {
        char *urn = s_urn (self, task);
        json_array_append_new (urns, json_string (urn));
        free (urn);
    }
    zlistx_destroy (&tasks);
}
