//  zdex_sched: the scheduled tasks one partition actor holds.
//
//  Layout: scheduler name → scheduler record → partition → container → task name →
//  task, every level a keyed-SipHash zhashx (scheduler and task names are chosen by
//  clients).  The scheduler record keeps its task count and shutdown flag, so
//  count (scheduler, ANY) is O(1), count (scheduler, p) is two lookups, and
//  count (NULL, p) is one lookup per scheduler; nothing walks tasks it does not
//  return.  A record lives while it has tasks or is shut down; a container lives
//  while it has tasks.  Tasks share their scheduler record's name and keep a
//  pointer to their container, so removal needs no lookup above the task map.
//
//  A task is armed exactly when it sits in the heap: due_at is its heap key, and
//  -1 whenever it is out.  The heap holds s_task_t pointers; the public struct's
//  `position` is the heap's back-pointer.
//
//  Arithmetic on times and stats saturates: a replicated form may carry values up
//  to INT64_MAX, and a signed overflow would be undefined behaviour.

#include "zdex_sched.h"
#include "zdex_deadlines.h"
#include "zdex_hash_table.h"
#include "zdex_proto.h"

#include <assert.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_FORM_FIELDS  12 //  keys of the replicated form
#define S_STATS_FIELDS 5  //  keys of its "stats" object
//  Payload, state and results arrive as members of frames at most ZDEX_MAX_DEPTH
//  deep and sit at the same level in the form; the extra level is margin, since
//  refusing a valid task at promotion would lose it.
#define S_FORM_MAX_DEPTH (ZDEX_MAX_DEPTH + 1)

typedef struct _s_scheduler_t s_scheduler_t;

typedef struct {
    s_scheduler_t *scheduler;
    int32_t partition;
    char key[12];    //  decimal partition, the key in the scheduler's map
    zhashx_t *tasks; //  name → s_task_t (owns them)
} s_container_t;

struct _s_scheduler_t {
    char *name;           //  also every task's `scheduler`
    bool shutdown;        //  its tasks stay unarmed
    size_t size;          //  tasks in all its containers
    zhashx_t *containers; //  decimal partition → s_container_t
};

typedef struct {
    zdex_sched_task_t task; //  first, so a public pointer is an s_task_t pointer
    s_container_t *container;
} s_task_t;

struct _zdex_sched_t {
    zhashx_t *schedulers; //  name → s_scheduler_t
    zdex_deadlines_t *heap;
    size_t size; //  tasks in the store
};

//  ---------------------------------------------------------------------------------
//  Saturating arithmetic

static int64_t
s_add (int64_t a, int64_t b)
{
    int64_t sum;
    if (__builtin_add_overflow (a, b, &sum))
        return b > 0 ? INT64_MAX : INT64_MIN;
    return sum;
}

//  a - b, never below 0 (clocks that run backwards in a test give 0, not a
//  negative duration)
static int64_t
s_elapsed (int64_t a, int64_t b)
{
    int64_t difference;
    if (__builtin_sub_overflow (a, b, &difference))
        return a > b ? INT64_MAX : 0;
    return difference > 0 ? difference : 0;
}

//  Counters are replicated as JSON integers, so they stop at INT64_MAX.
static uint64_t
s_increment (uint64_t counter)
{
    return counter < (uint64_t) INT64_MAX ? counter + 1 : counter;
}

//  The first due + k * period (k >= 1) after now, for due <= now.
static int64_t
s_next_tick (int64_t due, int64_t period, int64_t now)
{
    assert (period > 0);
    assert (due <= now);
    uint64_t behind = (uint64_t) now - (uint64_t) due;
    uint64_t ticks = behind / (uint64_t) period + 1;
    int64_t step, next;
    if (__builtin_mul_overflow (ticks, period, &step) || __builtin_add_overflow (due, step, &next))
        return INT64_MAX;
    return next;
}

//  ---------------------------------------------------------------------------------
//  Tasks

static void
s_task_destroy (void **item_p)
{
    s_task_t *self = (s_task_t *) *item_p;
    if (!self)
        return;
    //  scheduler belongs to the scheduler record
    free (self->task.name);
    free (self->task.type);
    free (self->task.payload);
    free (self->task.state);
    free (self->task.outcome_data);
    free (self);
    *item_p = NULL;
}

//  A task with its definition copied, not in any container, unarmed; NULL when
//  out of memory.
static s_task_t *
s_task_new (const char *name, const char *type, const char *payload, int64_t delay_ms,
            int64_t period_ms, bool auto_dispose)
{
    s_task_t *self = (s_task_t *) zmalloc (sizeof (s_task_t));
    self->task.name = strdup (name);
    self->task.type = strdup (type);
    self->task.payload = payload ? strdup (payload) : NULL;
    if (!self->task.name || !self->task.type || (payload && !self->task.payload)) {
        s_task_destroy ((void **) &self);
        return NULL;
    }
    self->task.delay_ms = delay_ms;
    self->task.period_ms = period_ms;
    self->task.auto_dispose = auto_dispose;
    self->task.outcome = ZDEX_SCHED_PENDING;
    self->task.due_at = -1;
    self->task.position = ZDEX_DEADLINE_NONE;
    return self;
}

//  Arm an unarmed task at due; a task of a shut-down scheduler stays unarmed.
//  Returns -1 (task unchanged) when the heap cannot grow.
static int
s_arm (zdex_sched_t *self, s_task_t *task, int64_t due)
{
    assert (task->task.position == ZDEX_DEADLINE_NONE);
    if (task->container->scheduler->shutdown)
        return 0;
    if (zdex_deadlines_add (self->heap, due, task, &task->task.position))
        return -1;
    task->task.due_at = due;
    return 0;
}

static void
s_disarm (zdex_sched_t *self, s_task_t *task)
{
    zdex_deadlines_remove (self->heap, &task->task.position);
    task->task.due_at = -1;
}

//  ---------------------------------------------------------------------------------
//  Containers and scheduler records

static void
s_partition_key (char key[12], int32_t partition)
{
    snprintf (key, 12, "%" PRId32, partition);
}

//  The record of name, created when asked; NULL when absent (or out of memory).
static s_scheduler_t *
s_scheduler_get (zdex_sched_t *self, const char *name, bool create)
{
    s_scheduler_t *scheduler = (s_scheduler_t *) zhashx_lookup (self->schedulers, name);
    if (scheduler || !create)
        return scheduler;
    scheduler = (s_scheduler_t *) zmalloc (sizeof (s_scheduler_t));
    scheduler->name = strdup (name);
    scheduler->containers = zdex_hash_table_new ();
    if (!scheduler->name || !scheduler->containers) {
        zhashx_destroy (&scheduler->containers);
        free (scheduler->name);
        free (scheduler);
        return NULL;
    }
    //  Keys are the records' own strings
    zhashx_set_key_duplicator (scheduler->containers, NULL);
    zhashx_set_key_destructor (scheduler->containers, NULL);
    zhashx_insert (self->schedulers, scheduler->name, scheduler);
    return scheduler;
}

//  Forget a record that holds nothing worth keeping.
static void
s_scheduler_release (zdex_sched_t *self, s_scheduler_t *scheduler)
{
    if (scheduler->size > 0 || scheduler->shutdown || zhashx_size (scheduler->containers) > 0)
        return;
    zhashx_delete (self->schedulers, scheduler->name);
    zhashx_destroy (&scheduler->containers);
    free (scheduler->name);
    free (scheduler);
}

static s_container_t *
s_container_get (s_scheduler_t *scheduler, int32_t partition, bool create)
{
    char key[12];
    s_partition_key (key, partition);
    s_container_t *container = (s_container_t *) zhashx_lookup (scheduler->containers, key);
    if (container || !create)
        return container;
    container = (s_container_t *) zmalloc (sizeof (s_container_t));
    container->tasks = zdex_hash_table_new ();
    if (!container->tasks) {
        free (container);
        return NULL;
    }
    zhashx_set_key_duplicator (container->tasks, NULL);
    zhashx_set_key_destructor (container->tasks, NULL);
    zhashx_set_destructor (container->tasks, s_task_destroy);
    container->scheduler = scheduler;
    container->partition = partition;
    memcpy (container->key, key, sizeof (key));
    zhashx_insert (scheduler->containers, container->key, container);
    return container;
}

//  Destroy a container with its tasks (they leave the heap and the counts).
static void
s_container_destroy (zdex_sched_t *self, s_container_t *container)
{
    s_scheduler_t *scheduler = container->scheduler;
    size_t size = zhashx_size (container->tasks);
    for (s_task_t *task = (s_task_t *) zhashx_first (container->tasks); task;
         task = (s_task_t *) zhashx_next (container->tasks))
        zdex_deadlines_remove (self->heap, &task->task.position);
    scheduler->size -= size;
    self->size -= size;
    zhashx_delete (scheduler->containers, container->key);
    zhashx_destroy (&container->tasks);
    free (container);
}

//  Forget an empty container, then its record if that is empty too.
static void
s_container_release (zdex_sched_t *self, s_container_t *container)
{
    s_scheduler_t *scheduler = container->scheduler;
    if (zhashx_size (container->tasks) == 0)
        s_container_destroy (self, container);
    s_scheduler_release (self, scheduler);
}

//  Put an unlisted task into container.
static void
s_container_insert (zdex_sched_t *self, s_container_t *container, s_task_t *task)
{
    task->container = container;
    task->task.scheduler = container->scheduler->name;
    task->task.partition = container->partition;
    int rc = zhashx_insert (container->tasks, task->task.name, task);
    assert (rc == 0);
    (void) rc;
    container->scheduler->size++;
    self->size++;
}

//  Take a task out of its container and destroy it; the container stays.
static void
s_container_delete (zdex_sched_t *self, s_task_t *task)
{
    s_container_t *container = task->container;
    s_disarm (self, task);
    container->scheduler->size--;
    self->size--;
    zhashx_delete (container->tasks, task->task.name); //  destroys task
}

//  ---------------------------------------------------------------------------------
//  Store

zdex_sched_t *
zdex_sched_new (void)
{
    zdex_sched_t *self = (zdex_sched_t *) zmalloc (sizeof (zdex_sched_t));
    self->schedulers = zdex_hash_table_new ();
    self->heap = zdex_deadlines_new ();
    if (!self->schedulers || !self->heap) {
        zdex_sched_destroy (&self);
        return NULL;
    }
    zhashx_set_key_duplicator (self->schedulers, NULL);
    zhashx_set_key_destructor (self->schedulers, NULL);
    return self;
}

void
zdex_sched_destroy (zdex_sched_t **self_p)
{
    assert (self_p);
    zdex_sched_t *self = *self_p;
    if (!self)
        return;
    if (self->schedulers) {
        //  Nothing is deleted from the outer map while it is walked
        for (s_scheduler_t *scheduler = (s_scheduler_t *) zhashx_first (self->schedulers);
             scheduler; scheduler = (s_scheduler_t *) zhashx_next (self->schedulers)) {
            s_container_t *container;
            while ((container = (s_container_t *) zhashx_first (scheduler->containers)))
                s_container_destroy (self, container);
            zhashx_destroy (&scheduler->containers);
            free (scheduler->name);
            free (scheduler);
        }
        zhashx_destroy (&self->schedulers);
    }
    zdex_deadlines_destroy (&self->heap);
    free (self);
    *self_p = NULL;
}

//  Put a new task into the container of (scheduler, partition), created if
//  missing.  On failure (out of memory) the task is destroyed and NULL returned.
static s_container_t *
s_place (zdex_sched_t *self, s_task_t *task, const char *scheduler, int32_t partition)
{
    s_scheduler_t *record = s_scheduler_get (self, scheduler, true);
    s_container_t *container = record ? s_container_get (record, partition, true) : NULL;
    if (!container) {
        s_task_destroy ((void **) &task);
        if (record)
            s_scheduler_release (self, record);
        return NULL;
    }
    task->container = container;
    return container;
}

zdex_sched_task_t *
zdex_sched_add (zdex_sched_t *self, const char *scheduler, int32_t partition, const char *name,
                const char *type, const char *payload, int64_t delay_ms, int64_t period_ms,
                bool auto_dispose, int64_t now)
{
    assert (self);
    assert (scheduler);
    assert (name);
    assert (type);
    assert (partition >= ZDEX_SCHED_MEMBER);
    assert (period_ms >= 0);
    assert (!(auto_dispose && period_ms > 0));
    if (zdex_sched_find (self, scheduler, partition, name))
        return NULL;
    s_task_t *task = s_task_new (name, type, payload, delay_ms, period_ms, auto_dispose);
    if (!task)
        return NULL;
    task->task.idle_since = now;
    s_container_t *container = s_place (self, task, scheduler, partition);
    if (!container)
        return NULL;
    if (s_arm (self, task, s_add (now, delay_ms > 0 ? delay_ms : 0))) {
        s_task_destroy ((void **) &task);
        s_container_release (self, container);
        return NULL;
    }
    s_container_insert (self, container, task);
    return &task->task;
}

zdex_sched_task_t *
zdex_sched_find (zdex_sched_t *self, const char *scheduler, int32_t partition, const char *name)
{
    assert (self);
    assert (scheduler);
    assert (name);
    assert (partition >= ZDEX_SCHED_MEMBER);
    s_scheduler_t *record = s_scheduler_get (self, scheduler, false);
    s_container_t *container = record ? s_container_get (record, partition, false) : NULL;
    if (!container)
        return NULL;
    s_task_t *task = (s_task_t *) zhashx_lookup (container->tasks, name);
    return task ? &task->task : NULL;
}

//  Calls visit for each container of the selection (see zdex_sched_count).
static void
s_each_container (zdex_sched_t *self, const char *scheduler, int32_t partition,
                  void (*visit) (s_container_t *container, void *argument), void *argument)
{
    assert (partition >= ZDEX_SCHED_ANY);
    if (scheduler) {
        s_scheduler_t *record = s_scheduler_get (self, scheduler, false);
        if (!record)
            return;
        if (partition != ZDEX_SCHED_ANY) {
            s_container_t *container = s_container_get (record, partition, false);
            if (container)
                visit (container, argument);
            return;
        }
        for (s_container_t *container = (s_container_t *) zhashx_first (record->containers);
             container; container = (s_container_t *) zhashx_next (record->containers))
            visit (container, argument);
        return;
    }
    for (s_scheduler_t *record = (s_scheduler_t *) zhashx_first (self->schedulers); record;
         record = (s_scheduler_t *) zhashx_next (self->schedulers)) {
        if (partition != ZDEX_SCHED_ANY) {
            s_container_t *container = s_container_get (record, partition, false);
            if (container)
                visit (container, argument);
            continue;
        }
        for (s_container_t *container = (s_container_t *) zhashx_first (record->containers);
             container; container = (s_container_t *) zhashx_next (record->containers))
            visit (container, argument);
    }
}

static void
s_count_visit (s_container_t *container, void *argument)
{
    *(size_t *) argument += zhashx_size (container->tasks);
}

size_t
zdex_sched_count (zdex_sched_t *self, const char *scheduler, int32_t partition)
{
    assert (self);
    assert (partition >= ZDEX_SCHED_ANY);
    if (partition == ZDEX_SCHED_ANY) {
        if (!scheduler)
            return self->size;
        s_scheduler_t *record = s_scheduler_get (self, scheduler, false);
        return record ? record->size : 0;
    }
    size_t count = 0;
    s_each_container (self, scheduler, partition, s_count_visit, &count);
    return count;
}

static void
s_list_visit (s_container_t *container, void *argument)
{
    zlistx_t *list = (zlistx_t *) argument;
    for (s_task_t *task = (s_task_t *) zhashx_first (container->tasks); task;
         task = (s_task_t *) zhashx_next (container->tasks))
        zlistx_add_end (list, &task->task);
}

zlistx_t *
zdex_sched_list (zdex_sched_t *self, const char *scheduler, int32_t partition)
{
    assert (self);
    assert (partition >= ZDEX_SCHED_ANY);
    zlistx_t *list = zlistx_new ();
    if (list)
        s_each_container (self, scheduler, partition, s_list_visit, list);
    return list;
}

bool
zdex_sched_cancel (zdex_sched_t *self, zdex_sched_task_t *task)
{
    assert (self);
    assert (task);
    if (task->outcome != ZDEX_SCHED_PENDING)
        return false;
    task->outcome = ZDEX_SCHED_CANCELLED;
    s_disarm (self, (s_task_t *) task);
    return true;
}

void
zdex_sched_remove (zdex_sched_t *self, zdex_sched_task_t **task_p)
{
    assert (self);
    assert (task_p);
    s_task_t *task = (s_task_t *) *task_p;
    assert (task);
    s_container_t *container = task->container;
    s_container_delete (self, task);
    s_container_release (self, container);
    *task_p = NULL;
}

int64_t
zdex_sched_next_due (zdex_sched_t *self)
{
    assert (self);
    return zdex_deadlines_next (self->heap);
}

zdex_sched_task_t *
zdex_sched_pop_due (zdex_sched_t *self, int64_t now)
{
    assert (self);
    s_task_t *task;
    while ((task = (s_task_t *) zdex_deadlines_pop_due (self->heap, now))) {
        int64_t due = task->task.due_at;
        task->task.due_at = -1;
        if (task->task.period_ms > 0) {
            //  The entry just popped left room, so the heap need not grow
            int rc = s_arm (self, task, s_next_tick (due, task->task.period_ms, now));
            assert (rc == 0);
            (void) rc;
            if (task->task.running)
                continue; //  never two runs of one task at once
        }
        task->task.running = true;
        task->task.run = s_increment (task->task.run);
        int64_t idle = s_elapsed (now, task->task.idle_since);
        task->task.stats.last_idle_time_ms = idle;
        task->task.stats.total_idle_time_ms = s_add (task->task.stats.total_idle_time_ms, idle);
        task->task.run_started_at = now;
        return &task->task;
    }
    return NULL;
}

//  A copy of a JSON text, "null" for none; NULL only when out of memory.
static char *
s_text_copy (const char *text)
{
    return strdup (text ? text : "null");
}

bool
zdex_sched_finish (zdex_sched_t *self, zdex_sched_task_t *task, bool ok, const char *data,
                   const char *state, int64_t now)
{
    assert (self);
    assert (task);
    assert (task->running);
    int64_t duration = s_elapsed (now, task->run_started_at);
    task->stats.total_runs = s_increment (task->stats.total_runs);
    task->stats.last_run_duration_ms = duration;
    task->stats.total_run_time_ms = s_add (task->stats.total_run_time_ms, duration);
    task->running = false;
    task->idle_since = now;
    if (state) {
        char *copy = strdup (state);
        if (copy) { //  out of memory keeps the old state, as a NULL state would
            free (task->state);
            task->state = copy;
        }
    }
    if (task->outcome == ZDEX_SCHED_PENDING && (task->period_ms == 0 || !ok)) {
        task->outcome = ok ? ZDEX_SCHED_VALUE : ZDEX_SCHED_FAILED;
        task->outcome_data = s_text_copy (data);
        //  A one-shot task is already disarmed; a failed schedule ends here
        s_disarm (self, (s_task_t *) task);
    }
    return task->auto_dispose && task->outcome != ZDEX_SCHED_PENDING;
}

void
zdex_sched_abandon (zdex_sched_t *self, zdex_sched_task_t *task, int64_t now)
{
    assert (self);
    assert (task);
    assert (task->running);
    task->running = false;
    task->idle_since = now;
    if (task->period_ms == 0 && task->outcome == ZDEX_SCHED_PENDING &&
        s_arm (self, (s_task_t *) task, now)) {
        //  As czmq's zmalloc does: losing an at-least-once run silently is worse
        zsys_error ("zdex_sched: out of memory re-arming task '%s'", task->name);
        abort ();
    }
}

int64_t
zdex_sched_delay (const zdex_sched_task_t *task, int64_t now)
{
    assert (task);
    if (task->outcome != ZDEX_SCHED_PENDING || task->due_at < 0)
        return 0; //  includes a running one-shot task, which is disarmed
    return s_elapsed (task->due_at, now);
}

bool
zdex_sched_done (const zdex_sched_task_t *task)
{
    assert (task);
    return task->outcome != ZDEX_SCHED_PENDING;
}

void
zdex_sched_shutdown (zdex_sched_t *self, const char *scheduler)
{
    assert (self);
    assert (scheduler);
    s_scheduler_t *record = s_scheduler_get (self, scheduler, true);
    if (!record) {
        zsys_error ("zdex_sched: out of memory shutting down '%s'", scheduler);
        abort ();
    }
    record->shutdown = true;
    for (s_container_t *container = (s_container_t *) zhashx_first (record->containers); container;
         container = (s_container_t *) zhashx_next (record->containers))
        for (s_task_t *task = (s_task_t *) zhashx_first (container->tasks); task;
             task = (s_task_t *) zhashx_next (container->tasks))
            s_disarm (self, task);
}

bool
zdex_sched_is_shutdown (zdex_sched_t *self, const char *scheduler)
{
    assert (self);
    assert (scheduler);
    s_scheduler_t *record = s_scheduler_get (self, scheduler, false);
    return record && record->shutdown;
}

//  ---------------------------------------------------------------------------------
//  Replicated form

static const char *const s_outcome_names[] = {"pending", "value", "failed", "cancelled"};

//  A stored JSON text as a value (null for none); NULL when it is not JSON.
static json_t *
s_json_value (const char *text)
{
    if (!text)
        return json_null ();
    return json_loads (text, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, NULL);
}

static int64_t
s_counter (uint64_t counter)
{
    return counter > (uint64_t) INT64_MAX ? INT64_MAX : (int64_t) counter;
}

char *
zdex_sched_encode (const zdex_sched_task_t *task, int64_t now)
{
    assert (task);
    int64_t due_in = -1;
    if (task->outcome == ZDEX_SCHED_PENDING) {
        if (task->due_at >= 0)
            due_in = s_elapsed (task->due_at, now);
        else if (task->running && task->period_ms == 0)
            due_in = 0;
    }
    assert (task->outcome >= ZDEX_SCHED_PENDING && task->outcome <= ZDEX_SCHED_CANCELLED);
    json_t *payload = s_json_value (task->payload);
    json_t *state = s_json_value (task->state);
    json_t *outcome_data = s_json_value (task->outcome_data);
    if (!payload || !state || !outcome_data) {
        json_decref (payload);
        json_decref (state);
        json_decref (outcome_data);
        return NULL;
    }
    const zdex_sched_stats_t *stats = &task->stats;
    json_t *stats_form = json_object ();
    int rc = 0;
    //  json_object_set_new takes the value, also when it fails
    rc |= json_object_set_new (stats_form, "total_runs",
                               json_integer (s_counter (stats->total_runs)));
    rc |= json_object_set_new (stats_form, "last_run_duration_ms",
                               json_integer (stats->last_run_duration_ms));
    rc |= json_object_set_new (stats_form, "last_idle_time_ms",
                               json_integer (stats->last_idle_time_ms));
    rc |= json_object_set_new (stats_form, "total_run_time_ms",
                               json_integer (stats->total_run_time_ms));
    rc |= json_object_set_new (stats_form, "total_idle_time_ms",
                               json_integer (stats->total_idle_time_ms));
    json_t *form = json_object ();
    rc |= json_object_set_new (form, "name", json_string (task->name));
    rc |= json_object_set_new (form, "type", json_string (task->type));
    rc |= json_object_set_new (form, "payload", payload);
    rc |= json_object_set_new (form, "delay_ms", json_integer (task->delay_ms));
    rc |= json_object_set_new (form, "period_ms", json_integer (task->period_ms));
    rc |= json_object_set_new (form, "auto_dispose", json_boolean (task->auto_dispose));
    rc |= json_object_set_new (form, "state", state);
    rc |= json_object_set_new (form, "outcome", json_string (s_outcome_names[task->outcome]));
    rc |= json_object_set_new (form, "outcome_data", outcome_data);
    rc |= json_object_set_new (form, "stats", stats_form);
    rc |= json_object_set_new (form, "run", json_integer (s_counter (task->run)));
    rc |= json_object_set_new (form, "due_in_ms", json_integer (due_in));
    if (rc) {
        json_decref (form);
        return NULL;
    }
    char *text = json_dumps (form, JSON_COMPACT);
    json_decref (form);
    return text;
}

//  A name or type: a non-empty string of at most ZDEX_MAX_NAME_BYTES bytes
//  without NUL, as the protocol accepts them.
static const char *
s_form_name (json_t *value)
{
    if (!json_is_string (value))
        return NULL;
    size_t length = json_string_length (value);
    const char *text = json_string_value (value);
    if (length == 0 || length > ZDEX_MAX_NAME_BYTES || memchr (text, 0, length))
        return NULL;
    return text;
}

static bool
s_form_integer (json_t *value, int64_t minimum, int64_t *result_p)
{
    if (!json_is_integer (value) || json_integer_value (value) < minimum)
        return false;
    *result_p = json_integer_value (value);
    return true;
}

//  The text of an embedded value into *text_p: NULL for null when null_is_none,
//  else its compact encoding.  False when out of memory.
static bool
s_form_text (json_t *value, bool null_is_none, char **text_p)
{
    if (json_is_null (value) && null_is_none) {
        *text_p = NULL;
        return true;
    }
    *text_p = zdex_json_text (value);
    return *text_p != NULL;
}

static bool
s_form_stats (json_t *value, zdex_sched_stats_t *stats)
{
    int64_t total_runs;
    if (!json_is_object (value) || json_object_size (value) != S_STATS_FIELDS ||
        !s_form_integer (json_object_get (value, "total_runs"), 0, &total_runs) ||
        !s_form_integer (json_object_get (value, "last_run_duration_ms"), 0,
                         &stats->last_run_duration_ms) ||
        !s_form_integer (json_object_get (value, "last_idle_time_ms"), 0,
                         &stats->last_idle_time_ms) ||
        !s_form_integer (json_object_get (value, "total_run_time_ms"), 0,
                         &stats->total_run_time_ms) ||
        !s_form_integer (json_object_get (value, "total_idle_time_ms"), 0,
                         &stats->total_idle_time_ms))
        return false;
    stats->total_runs = (uint64_t) total_runs;
    return true;
}

//  A task from a replicated form, not in any container and unarmed, with
//  *due_in_p set; NULL when the form is not valid (or out of memory).
static s_task_t *
s_task_from_form (const char *text, int64_t *due_in_p)
{
    json_t *form = json_loadb (text, strlen (text), JSON_REJECT_DUPLICATES, NULL);
    //  Exactly the known keys: a count check plus a lookup of each
    if (!json_is_object (form) || json_object_size (form) != S_FORM_FIELDS ||
        zdex_json_depth (form, S_FORM_MAX_DEPTH) > S_FORM_MAX_DEPTH) {
        json_decref (form);
        return NULL;
    }
    s_task_t *task = NULL;
    const char *name = s_form_name (json_object_get (form, "name"));
    const char *type = s_form_name (json_object_get (form, "type"));
    json_t *payload = json_object_get (form, "payload");
    json_t *auto_dispose = json_object_get (form, "auto_dispose");
    json_t *state = json_object_get (form, "state");
    json_t *outcome_name = json_object_get (form, "outcome");
    json_t *outcome_data = json_object_get (form, "outcome_data");
    int64_t delay_ms, period_ms, run, due_in;
    zdex_sched_stats_t stats;
    int outcome = -1;
    for (int index = 0; index <= ZDEX_SCHED_CANCELLED && json_is_string (outcome_name); index++)
        if (streq (json_string_value (outcome_name), s_outcome_names[index]))
            outcome = index;
    bool valid = name && type && payload && json_is_boolean (auto_dispose) && state &&
                 outcome >= 0 && outcome_data &&
                 s_form_integer (json_object_get (form, "delay_ms"), INT64_MIN, &delay_ms) &&
                 s_form_integer (json_object_get (form, "period_ms"), 0, &period_ms) &&
                 !(json_is_true (auto_dispose) && period_ms > 0) &&
                 s_form_stats (json_object_get (form, "stats"), &stats) &&
                 s_form_integer (json_object_get (form, "run"), 0, &run) &&
                 s_form_integer (json_object_get (form, "due_in_ms"), -1, &due_in);
    //  Only a result carries data; "null" is a result's data, not its absence
    bool has_data = outcome == ZDEX_SCHED_VALUE || outcome == ZDEX_SCHED_FAILED;
    if (valid && !has_data && !json_is_null (outcome_data))
        valid = false;
    if (valid)
        task = s_task_new (name, type, NULL, delay_ms, period_ms, json_is_true (auto_dispose));
    if (task) {
        if (!s_form_text (payload, true, &task->task.payload) ||
            !s_form_text (state, true, &task->task.state) ||
            !s_form_text (outcome_data, !has_data, &task->task.outcome_data))
            s_task_destroy ((void **) &task);
    }
    if (task) {
        task->task.outcome = (zdex_sched_outcome_t) outcome;
        task->task.stats = stats;
        task->task.run = (uint64_t) run;
        *due_in_p = due_in;
    }
    json_decref (form);
    return task;
}

zdex_sched_task_t *
zdex_sched_put (zdex_sched_t *self, const char *scheduler, int32_t partition, const char *text,
                int64_t now)
{
    assert (self);
    assert (scheduler);
    assert (partition >= ZDEX_SCHED_MEMBER);
    if (!text)
        return NULL;
    int64_t due_in;
    s_task_t *task = s_task_from_form (text, &due_in);
    if (!task)
        return NULL;
    task->task.idle_since = now;
    s_container_t *container = s_place (self, task, scheduler, partition);
    if (!container)
        return NULL;
    //  Arm before the old task goes, so a heap that cannot grow changes nothing
    if (task->task.outcome == ZDEX_SCHED_PENDING && due_in >= 0 &&
        s_arm (self, task, s_add (now, due_in))) {
        s_task_destroy ((void **) &task);
        s_container_release (self, container);
        return NULL;
    }
    s_task_t *old = (s_task_t *) zhashx_lookup (container->tasks, task->task.name);
    if (old)
        s_container_delete (self, old);
    s_container_insert (self, container, task);
    return &task->task;
}

size_t
zdex_sched_drop_partition (zdex_sched_t *self, int32_t partition)
{
    assert (self);
    assert (partition >= ZDEX_SCHED_MEMBER);
    size_t dropped = 0;
    //  Records may go while we walk, so walk a copy of the outer map's values
    zlistx_t *records = zhashx_values (self->schedulers);
    assert (records);
    for (s_scheduler_t *record = (s_scheduler_t *) zlistx_first (records); record;
         record = (s_scheduler_t *) zlistx_next (records)) {
        s_container_t *container = s_container_get (record, partition, false);
        if (container) {
            dropped += zhashx_size (container->tasks);
            s_container_destroy (self, container);
            s_scheduler_release (self, record);
        }
    }
    zlistx_destroy (&records);
    return dropped;
}
