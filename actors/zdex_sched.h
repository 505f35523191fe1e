//  zdex_sched: the scheduled tasks one partition actor holds.
//
//  A partition actor keeps one zdex_sched_t for all its scheduled tasks: every
//  (scheduler, partition) container of the partitions it owns as primary, and
//  (actor 0 only) the member bin, partition ZDEX_SCHED_MEMBER, of member-owned
//  tasks.  A task is named by (scheduler, partition, name); names are unique within
//  a (scheduler, partition) container.
//
//  This class is state and timing only: no sockets, no threads, no clock reads.
//  Callers pass `now` (zclock_mono milliseconds) to every call that needs a time,
//  which keeps it testable.  The due times of all tasks live in one internal heap
//  (zdex_deadlines), never one timer per task, so 100,000 tasks cost O(log n) per
//  tick.
//
//  Task life:
//      add --> scheduled (due_at >= 0) --pop_due--> running --finish--> ...
//        one-shot:  finish ok → outcome VALUE; finish failed → FAILED; due_at -1
//        fixed rate: finish ok → stays PENDING, next tick already armed;
//                    finish failed → FAILED, due_at -1 (the schedule ends)
//      cancel: outcome CANCELLED if still PENDING, due_at -1; a run in progress
//              goes on, and its finish then changes stats and state but not the
//              outcome (first outcome wins).
//      remove (dispose, auto-dispose): gone.
//  A fixed-rate tick that comes while the previous run of the same task is still
//  running is skipped: no run, no catch-up; the next tick is armed.
//
//  Replication: zdex_sched_encode gives a task's replicated form (definition,
//  state, outcome, stats, run counter, and the remaining delay as "due_in_ms");
//  zdex_sched_put installs such a form on a new owner (promotion), arming the task
//  `due_in_ms` from its own now when it has no outcome.
//
//  Not thread safe; owned by one actor.

#ifndef ZDEX_SCHED_H_INCLUDED
#define ZDEX_SCHED_H_INCLUDED

#include <czmq.h>
#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define ZDEX_SCHED_MEMBER (-1) //  partition of the member bin (member-owned tasks)
#define ZDEX_SCHED_ANY    (-2) //  every partition, in count and list

typedef enum {
    ZDEX_SCHED_PENDING = 0, //  no outcome yet
    ZDEX_SCHED_VALUE,       //  a one-shot run succeeded; outcome_data is its value
    ZDEX_SCHED_FAILED,      //  a run failed; outcome_data is the cause (JSON text)
    ZDEX_SCHED_CANCELLED
} zdex_sched_outcome_t;

typedef struct {
    uint64_t total_runs;
    int64_t last_run_duration_ms;
    int64_t last_idle_time_ms;
    int64_t total_run_time_ms;
    int64_t total_idle_time_ms;
} zdex_sched_stats_t;

//  A task.  The store owns it; fields are read-only outside zdex_sched.c.
typedef struct {
    //  Definition (replicated)
    char *scheduler;   //  owned by the store (one string shared by the scheduler's tasks)
    int32_t partition; //  0.. or ZDEX_SCHED_MEMBER
    char *name;        //  owned
    char *type;        //  owned
    char *payload;     //  owned JSON text
    int64_t delay_ms;  //  initial delay as scheduled (may be negative: run at once)
    int64_t period_ms; //  0: one-shot; > 0: fixed rate
    bool auto_dispose; //  one-shot only: removed once done
    //  State (replicated)
    char *state; //  owned JSON text the worker returned last, NULL when none
    zdex_sched_outcome_t outcome;
    char *outcome_data; //  owned JSON text (VALUE, FAILED), else NULL
    zdex_sched_stats_t stats;
    uint64_t run; //  runs started so far, across owners; the current run's number
    //  Local (not replicated)
    int64_t due_at;         //  next run, zclock_mono ms; -1 when none
    bool running;           //  a run is out at a worker
    int64_t run_started_at; //  when the current run started
    int64_t idle_since;     //  end of the last run (or when scheduled/installed)
    size_t position;        //  in the store's heap
} zdex_sched_task_t;

typedef struct _zdex_sched_t zdex_sched_t;

//  Create an empty store.  Caller owns.
zdex_sched_t *zdex_sched_new (void);

//  Destroy (with every task) and null.  Null-safe.
void zdex_sched_destroy (zdex_sched_t **self_p);

//  Add a task; copies every string.  It is due at now + max (delay_ms, 0); a
//  scheduler that is shut down (zdex_sched_shutdown) keeps it unarmed.  Returns
//  the task (the store owns it), or NULL when (scheduler, partition, name) is
//  already present (DUPLICATE_TASK; done tasks hold their name until removed), or
//  NULL when out of memory (nothing changed; find tells the two apart).  payload
//  may be NULL (none).  Asserts period_ms >= 0, and !auto_dispose when
//  period_ms > 0.
zdex_sched_task_t *zdex_sched_add (zdex_sched_t *self, const char *scheduler, int32_t partition,
                                   const char *name, const char *type, const char *payload,
                                   int64_t delay_ms, int64_t period_ms, bool auto_dispose,
                                   int64_t now);

//  The task, or NULL.
zdex_sched_task_t *zdex_sched_find (zdex_sched_t *self, const char *scheduler, int32_t partition,
                                    const char *name);

//  Tasks of scheduler in partition (ZDEX_SCHED_ANY: in every partition and the
//  member bin; ZDEX_SCHED_MEMBER: the member bin).  scheduler NULL: every scheduler.
size_t zdex_sched_count (zdex_sched_t *self, const char *scheduler, int32_t partition);

//  The tasks selected as for count, as a new list of task pointers (caller owns the
//  list, not the tasks), in no particular order.
zlistx_t *zdex_sched_list (zdex_sched_t *self, const char *scheduler, int32_t partition);

//  Cancel: when the task has no outcome, the outcome becomes CANCELLED, it is
//  disarmed and true is returned; otherwise nothing changes and false is returned.
//  A run in progress is not interrupted.
bool zdex_sched_cancel (zdex_sched_t *self, zdex_sched_task_t *task);

//  Remove a task (dispose) and null the pointer.
void zdex_sched_remove (zdex_sched_t *self, zdex_sched_task_t **task_p);

//  Earliest due time of an armed task, or -1.
int64_t zdex_sched_next_due (zdex_sched_t *self);

//  The next task to start now, or NULL when none is due at now.  The returned task
//  is marked running, its run counter grows by one, its idle time is accounted
//  (last_idle_time_ms, total_idle_time_ms: now - idle_since), run_started_at = now,
//  and its next due time is set: a fixed-rate task's next tick is the first
//  due_at + k * period_ms after now (ticks missed while the member was busy are not
//  caught up); a one-shot task is disarmed.  A fixed-rate tick that finds the task
//  still running is skipped (the next tick is armed, nothing is returned for it,
//  and popping goes on to the next due task; run and stats do not change).
zdex_sched_task_t *zdex_sched_pop_due (zdex_sched_t *self, int64_t now);

//  The current run of task ended.  ok with data = the value's JSON text, or failed
//  with data = the cause's JSON text; state = the new state's JSON text, or NULL to
//  keep the old one.  Stats: total_runs + 1, last_run_duration_ms and
//  total_run_time_ms from run_started_at; running false, idle_since = now.
//  Outcome, only when still PENDING: one-shot → VALUE or FAILED; fixed rate →
//  FAILED on failure (and disarmed), unchanged on success.  outcome_data is a copy
//  of data, "null" when data is NULL.  Returns true when the caller must now
//  remove the task (auto_dispose and it has an outcome, a cancel's included).
//  Asserts the task is running.
bool zdex_sched_finish (zdex_sched_t *self, zdex_sched_task_t *task, bool ok, const char *data,
                        const char *state, int64_t now);

//  The current run was lost (its owner changed hands, or its job vanished): the
//  task is no longer running; a one-shot task without an outcome is armed at now
//  (at-least-once), a fixed-rate task keeps its next tick.  idle_since = now: the
//  lost run counts as neither run nor idle time, as after a promotion.  Asserts
//  running.
void zdex_sched_abandon (zdex_sched_t *self, zdex_sched_task_t *task, int64_t now);

//  Remaining delay of a task in ms: due_at - now (0 when overdue), 0 when it has an
//  outcome; for a running one-shot task, 0.
int64_t zdex_sched_delay (const zdex_sched_task_t *task, int64_t now);

//  True once the task has an outcome.
bool zdex_sched_done (const zdex_sched_task_t *task);

//  Shut a scheduler down: its tasks are disarmed and stay unarmed (later adds and
//  puts included).  Tasks remain readable and removable.
void zdex_sched_shutdown (zdex_sched_t *self, const char *scheduler);

//  True when the scheduler was shut down here.
bool zdex_sched_is_shutdown (zdex_sched_t *self, const char *scheduler);

//  The replicated form of task as of now: a compact JSON object text (caller owns)
//  {"name","type","payload","delay_ms","period_ms","auto_dispose","state",
//   "outcome" ("pending"|"value"|"failed"|"cancelled"),"outcome_data","stats":{...},
//   "run","due_in_ms"} where due_in_ms is max (due_at - now, 0), or -1 when the task
//  is not armed (a running one-shot task encodes 0: it must run again if its owner
//  dies before the result is stored; a task with an outcome encodes -1 even while
//  its run is out).  payload/state/outcome_data are embedded as JSON values (null
//  when absent).  NULL when a stored text is not JSON or a name is not UTF-8 (caller
//  bugs), or out of memory.
char *zdex_sched_encode (const zdex_sched_task_t *task, int64_t now);

//  Install a task from its replicated form into (scheduler, partition), replacing
//  any task of that name.  Not running; idle_since = now; armed at now + due_in_ms
//  when it has no outcome, due_in_ms >= 0 and the scheduler is not shut down.
//  Returns the task, or NULL (nothing changed) when text is not a valid form
//  (strictly checked: types, known outcome, non-negative stats, period >= 0).
//  Strictly means: one JSON object with exactly the keys encode writes (none
//  missing, none unknown, no duplicates), nested at most ZDEX_MAX_DEPTH + 1 deep;
//  name and type non-empty strings of at most ZDEX_MAX_NAME_BYTES bytes; delay_ms
//  any integer; period_ms, run and every stat integers >= 0; due_in_ms >= -1;
//  auto_dispose a boolean, false when period_ms > 0; outcome_data null unless the
//  outcome is "value" or "failed".  A null payload or state installs as NULL; a
//  value's or cause's null installs as the text "null".  NULL also when out of
//  memory (nothing changed).
zdex_sched_task_t *zdex_sched_put (zdex_sched_t *self, const char *scheduler, int32_t partition,
                                   const char *text, int64_t now);

//  Remove every task of partition (any scheduler): demotion.  Returns how many.
//  Shutdown marks stay.
size_t zdex_sched_drop_partition (zdex_sched_t *self, int32_t partition);

#ifdef __cplusplus
}
#endif

#endif
