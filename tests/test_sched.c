//  test_sched: the scheduled-task store.  Names per container, due order, the
//  one-shot and fixed-rate run cycles (skip while running, no catch-up, first
//  outcome wins), cancel, abandon, stats on a synthetic clock, shutdown, the
//  replicated form (round trip and strict rejection), partition drops, count and
//  list selections, and 100,000 tasks popped in due order.

#include "zdex_sched.h"

#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

//  ---------------------------------------------------------------------------------
//  Helpers

static zdex_sched_task_t *
s_add_one_shot (zdex_sched_t *store, const char *name, int64_t delay_ms, int64_t now)
{
    zdex_sched_task_t *task =
        zdex_sched_add (store, "s", 0, name, "echo", "{\"n\":1}", delay_ms, 0, false, now);
    assert_non_null (task);
    return task;
}

static zdex_sched_task_t *
s_add_fixed_rate (zdex_sched_t *store, const char *name, int64_t delay_ms, int64_t period_ms,
                  int64_t now)
{
    zdex_sched_task_t *task =
        zdex_sched_add (store, "s", 0, name, "tick", NULL, delay_ms, period_ms, false, now);
    assert_non_null (task);
    return task;
}

//  Two JSON texts hold equal values
static bool
s_json_same (const char *left, const char *right)
{
    if (!left || !right)
        return left == right;
    json_t *a = json_loads (left, JSON_DECODE_ANY, NULL);
    json_t *b = json_loads (right, JSON_DECODE_ANY, NULL);
    bool same = a && b && json_equal (a, b);
    json_decref (a);
    json_decref (b);
    return same;
}

static int64_t
s_form_integer (const char *form_text, const char *key)
{
    json_t *form = json_loads (form_text, 0, NULL);
    assert_non_null (form);
    json_t *value = json_object_get (form, key);
    assert_true (json_is_integer (value));
    int64_t number = json_integer_value (value);
    json_decref (form);
    return number;
}

static void
s_assert_same_task (const zdex_sched_task_t *a, const zdex_sched_task_t *b)
{
    assert_string_equal (a->name, b->name);
    assert_string_equal (a->type, b->type);
    assert_true (s_json_same (a->payload, b->payload));
    assert_int_equal (a->delay_ms, b->delay_ms);
    assert_int_equal (a->period_ms, b->period_ms);
    assert_int_equal (a->auto_dispose, b->auto_dispose);
    assert_true (s_json_same (a->state, b->state));
    assert_int_equal (a->outcome, b->outcome);
    assert_true (s_json_same (a->outcome_data, b->outcome_data));
    assert_int_equal (a->stats.total_runs, b->stats.total_runs);
    assert_int_equal (a->stats.last_run_duration_ms, b->stats.last_run_duration_ms);
    assert_int_equal (a->stats.last_idle_time_ms, b->stats.last_idle_time_ms);
    assert_int_equal (a->stats.total_run_time_ms, b->stats.total_run_time_ms);
    assert_int_equal (a->stats.total_idle_time_ms, b->stats.total_idle_time_ms);
    assert_int_equal (a->run, b->run);
}

//  xorshift64*: deterministic, seedable from ZDEX_TEST_SEED
static uint64_t
s_random (uint64_t *state)
{
    *state ^= *state >> 12;
    *state ^= *state << 25;
    *state ^= *state >> 27;
    return *state * 2685821657736338717ULL;
}

static uint64_t
s_seed (void)
{
    const char *text = getenv ("ZDEX_TEST_SEED");
    uint64_t seed = text ? strtoull (text, NULL, 0) : 0x5c4edULL;
    return seed ? seed : 1;
}

//  ---------------------------------------------------------------------------------
//  Adding and finding

static void
test_add_find_duplicate (void **state)
{
    (void) state;
    zdex_sched_t *store = zdex_sched_new ();
    assert_non_null (store);
    char name[] = "alpha";
    zdex_sched_task_t *task =
        zdex_sched_add (store, "s", 0, name, "echo", "{\"n\":1}", 100, 0, false, 1000);
    assert_non_null (task);
    //  Every string is a copy
    assert_true (task->name != name);
    name[0] = 'A';
    assert_string_equal (task->name, "alpha");
    assert_string_equal (task->scheduler, "s");
    assert_int_equal (task->partition, 0);
    assert_string_equal (task->type, "echo");
    assert_string_equal (task->payload, "{\"n\":1}");
    assert_int_equal (task->delay_ms, 100);
    assert_int_equal (task->period_ms, 0);
    assert_false (task->auto_dispose);
    assert_null (task->state);
    assert_int_equal (task->outcome, ZDEX_SCHED_PENDING);
    assert_null (task->outcome_data);
    assert_int_equal (task->run, 0);
    assert_int_equal (task->stats.total_runs, 0);
    assert_int_equal (task->due_at, 1100);
    assert_false (task->running);
    assert_int_equal (task->idle_since, 1000);
    assert_false (zdex_sched_done (task));
    assert_int_equal (zdex_sched_next_due (store), 1100);

    assert_ptr_equal (zdex_sched_find (store, "s", 0, "alpha"), task);
    assert_null (zdex_sched_find (store, "s", 0, "beta"));
    assert_null (zdex_sched_find (store, "s", 1, "alpha"));
    assert_null (zdex_sched_find (store, "t", 0, "alpha"));
    assert_null (zdex_sched_find (store, "s", ZDEX_SCHED_MEMBER, "alpha"));

    //  Same container: refused, nothing changes
    assert_null (zdex_sched_add (store, "s", 0, "alpha", "other", NULL, 5, 10, false, 2000));
    assert_ptr_equal (zdex_sched_find (store, "s", 0, "alpha"), task);
    assert_string_equal (task->type, "echo");
    assert_int_equal (task->due_at, 1100);
    assert_int_equal (zdex_sched_count (store, NULL, ZDEX_SCHED_ANY), 1);

    //  Another partition, scheduler or the member bin: fine
    zdex_sched_task_t *other_partition =
        zdex_sched_add (store, "s", 1, "alpha", "echo", NULL, 0, 0, false, 1000);
    zdex_sched_task_t *other_scheduler =
        zdex_sched_add (store, "t", 0, "alpha", "echo", NULL, 0, 0, false, 1000);
    zdex_sched_task_t *member =
        zdex_sched_add (store, "s", ZDEX_SCHED_MEMBER, "alpha", "echo", NULL, 0, 0, false, 1000);
    assert_non_null (other_partition);
    assert_non_null (other_scheduler);
    assert_non_null (member);
    assert_int_equal (other_partition->partition, 1);
    assert_string_equal (other_scheduler->scheduler, "t");
    assert_int_equal (member->partition, ZDEX_SCHED_MEMBER);
    assert_ptr_equal (zdex_sched_find (store, "s", 1, "alpha"), other_partition);
    assert_ptr_equal (zdex_sched_find (store, "t", 0, "alpha"), other_scheduler);
    assert_ptr_equal (zdex_sched_find (store, "s", ZDEX_SCHED_MEMBER, "alpha"), member);
    assert_int_equal (zdex_sched_count (store, NULL, ZDEX_SCHED_ANY), 4);

    //  A done task keeps its name until removed
    zdex_sched_task_t *popped = zdex_sched_pop_due (store, 1000);
    assert_non_null (popped);
    zdex_sched_finish (store, popped, true, "1", NULL, 1000);
    assert_null (zdex_sched_add (store, popped->scheduler, popped->partition, "alpha", "echo", NULL,
                                 0, 0, false, 1000));
    const char *scheduler = popped->scheduler[0] == 's' ? "s" : "t";
    int32_t partition = popped->partition;
    zdex_sched_remove (store, &popped);
    assert_null (popped);
    assert_non_null (
        zdex_sched_add (store, scheduler, partition, "alpha", "echo", NULL, 0, 0, false, 1000));
    zdex_sched_destroy (&store);
    assert_null (store);
    zdex_sched_destroy (&store); //  null-safe
}

static void
test_negative_delay (void **state)
{
    (void) state;
    zdex_sched_t *store = zdex_sched_new ();
    zdex_sched_task_t *task = s_add_one_shot (store, "now", -500, 1000);
    assert_int_equal (task->due_at, 1000);
    assert_int_equal (task->delay_ms, -500); //  as scheduled
    assert_int_equal (zdex_sched_next_due (store), 1000);
    assert_null (zdex_sched_pop_due (store, 999));
    assert_ptr_equal (zdex_sched_pop_due (store, 1000), task);
    zdex_sched_destroy (&store);
}

static void
test_pop_due_order (void **state)
{
    (void) state;
    zdex_sched_t *store = zdex_sched_new ();
    assert_int_equal (zdex_sched_next_due (store), -1);
    assert_null (zdex_sched_pop_due (store, INT64_MAX));
    zdex_sched_task_t *late = s_add_one_shot (store, "late", 30, 0);
    zdex_sched_task_t *early = s_add_one_shot (store, "early", 10, 0);
    zdex_sched_task_t *middle = s_add_one_shot (store, "middle", 20, 0);
    assert_int_equal (zdex_sched_next_due (store), 10);
    //  Nothing before its due time
    assert_null (zdex_sched_pop_due (store, 9));
    assert_false (early->running);
    assert_ptr_equal (zdex_sched_pop_due (store, 10), early);
    assert_null (zdex_sched_pop_due (store, 10));
    assert_int_equal (zdex_sched_next_due (store), 20);
    assert_ptr_equal (zdex_sched_pop_due (store, 25), middle);
    assert_null (zdex_sched_pop_due (store, 25));
    assert_ptr_equal (zdex_sched_pop_due (store, 30), late);
    assert_int_equal (zdex_sched_next_due (store), -1);
    assert_null (zdex_sched_pop_due (store, INT64_MAX));
    zdex_sched_destroy (&store);
}

//  ---------------------------------------------------------------------------------
//  Run cycles

static void
test_one_shot_value (void **state)
{
    (void) state;
    zdex_sched_t *store = zdex_sched_new ();
    zdex_sched_task_t *task = s_add_one_shot (store, "job", 100, 0);
    assert_ptr_equal (zdex_sched_pop_due (store, 100), task);
    assert_true (task->running);
    assert_int_equal (task->run, 1);
    assert_int_equal (task->run_started_at, 100);
    assert_int_equal (task->due_at, -1); //  a one-shot task is disarmed when it starts
    assert_int_equal (zdex_sched_next_due (store), -1);
    assert_false (zdex_sched_finish (store, task, true, "42", "{\"seen\":1}", 130));
    assert_false (task->running);
    assert_int_equal (task->outcome, ZDEX_SCHED_VALUE);
    assert_string_equal (task->outcome_data, "42");
    assert_string_equal (task->state, "{\"seen\":1}");
    assert_true (zdex_sched_done (task));
    //  Not re-armed
    assert_int_equal (task->due_at, -1);
    assert_int_equal (zdex_sched_next_due (store), -1);
    assert_null (zdex_sched_pop_due (store, INT64_MAX));
    assert_int_equal (task->run, 1);
    zdex_sched_destroy (&store);
}

static void
test_one_shot_failed (void **state)
{
    (void) state;
    zdex_sched_t *store = zdex_sched_new ();
    zdex_sched_task_t *task = s_add_one_shot (store, "job", 0, 0);
    assert_ptr_equal (zdex_sched_pop_due (store, 0), task);
    assert_false (zdex_sched_finish (store, task, false, "\"boom\"", NULL, 5));
    assert_int_equal (task->outcome, ZDEX_SCHED_FAILED);
    assert_string_equal (task->outcome_data, "\"boom\"");
    assert_null (task->state); //  NULL state keeps the old (none)
    assert_int_equal (task->stats.total_runs, 1);
    assert_int_equal (task->due_at, -1);
    assert_null (zdex_sched_pop_due (store, INT64_MAX));
    zdex_sched_destroy (&store);
}

static void
test_fixed_rate_ticks (void **state)
{
    (void) state;
    zdex_sched_t *store = zdex_sched_new ();
    zdex_sched_task_t *task = s_add_fixed_rate (store, "tick", 100, 50, 0);
    assert_int_equal (task->due_at, 100);
    assert_null (zdex_sched_pop_due (store, 99));
    assert_ptr_equal (zdex_sched_pop_due (store, 100), task);
    assert_int_equal (task->run, 1);
    assert_int_equal (task->due_at, 150); //  next tick armed as the run starts
    assert_false (zdex_sched_finish (store, task, true, "1", "{\"i\":1}", 110));
    assert_int_equal (task->outcome, ZDEX_SCHED_PENDING);
    assert_null (task->outcome_data);
    assert_string_equal (task->state, "{\"i\":1}");
    assert_int_equal (task->due_at, 150);
    assert_null (zdex_sched_pop_due (store, 149));
    assert_ptr_equal (zdex_sched_pop_due (store, 150), task);
    assert_int_equal (task->run, 2);
    assert_int_equal (task->due_at, 200);
    zdex_sched_finish (store, task, true, "1", NULL, 160);
    assert_string_equal (task->state, "{\"i\":1}");
    assert_ptr_equal (zdex_sched_pop_due (store, 200), task);
    assert_int_equal (task->run, 3);
    assert_int_equal (task->due_at, 250);
    assert_int_equal (task->stats.total_runs, 2);
    zdex_sched_destroy (&store);
}

static void
test_fixed_rate_skip_while_running (void **state)
{
    (void) state;
    zdex_sched_t *store = zdex_sched_new ();
    zdex_sched_task_t *task = s_add_fixed_rate (store, "tick", 0, 10, 0);
    zdex_sched_task_t *other = s_add_one_shot (store, "other", 22, 0);
    assert_ptr_equal (zdex_sched_pop_due (store, 0), task);
    assert_int_equal (task->due_at, 10);
    //  The tick at 10 finds the run still out: skipped, the next one armed
    assert_null (zdex_sched_pop_due (store, 10));
    assert_true (task->running);
    assert_int_equal (task->run, 1);
    assert_int_equal (task->due_at, 20);
    //  A skipped tick does not stop popping: the other task due at 22 comes out
    assert_ptr_equal (zdex_sched_pop_due (store, 25), other);
    assert_int_equal (task->due_at, 30);
    assert_int_equal (task->run, 1);
    assert_null (zdex_sched_pop_due (store, 25));
    zdex_sched_finish (store, task, true, "1", NULL, 27);
    assert_int_equal (task->stats.total_runs, 1);
    assert_ptr_equal (zdex_sched_pop_due (store, 30), task);
    assert_int_equal (task->run, 2);
    assert_int_equal (task->due_at, 40);
    zdex_sched_destroy (&store);
}

static void
test_fixed_rate_no_catch_up (void **state)
{
    (void) state;
    zdex_sched_t *store = zdex_sched_new ();
    zdex_sched_task_t *task = s_add_fixed_rate (store, "tick", 0, 10, 0);
    assert_ptr_equal (zdex_sched_pop_due (store, 0), task);
    zdex_sched_finish (store, task, true, "1", NULL, 1);
    //  The member was busy from 1 to 57: ticks 10..50 are gone, one run now
    assert_ptr_equal (zdex_sched_pop_due (store, 57), task);
    assert_int_equal (task->run, 2);
    assert_int_equal (task->due_at, 60);
    zdex_sched_finish (store, task, true, "1", NULL, 58);
    assert_null (zdex_sched_pop_due (store, 59));
    //  A tick exactly at now is the one that runs; the next is a period later
    assert_ptr_equal (zdex_sched_pop_due (store, 60), task);
    assert_int_equal (task->due_at, 70);
    assert_int_equal (task->run, 3);
    zdex_sched_destroy (&store);
}

static void
test_fixed_rate_failure_ends (void **state)
{
    (void) state;
    zdex_sched_t *store = zdex_sched_new ();
    zdex_sched_task_t *task = s_add_fixed_rate (store, "tick", 0, 10, 0);
    assert_ptr_equal (zdex_sched_pop_due (store, 0), task);
    zdex_sched_finish (store, task, true, "1", NULL, 2);
    assert_ptr_equal (zdex_sched_pop_due (store, 10), task);
    assert_false (zdex_sched_finish (store, task, false, "\"broken\"", "{\"s\":1}", 13));
    assert_int_equal (task->outcome, ZDEX_SCHED_FAILED);
    assert_string_equal (task->outcome_data, "\"broken\"");
    assert_string_equal (task->state, "{\"s\":1}");
    assert_int_equal (task->due_at, -1);
    assert_int_equal (task->stats.total_runs, 2);
    assert_int_equal (task->stats.total_run_time_ms, 5);
    assert_int_equal (zdex_sched_next_due (store), -1);
    assert_null (zdex_sched_pop_due (store, INT64_MAX));
    assert_true (zdex_sched_done (task));
    zdex_sched_destroy (&store);
}

//  ---------------------------------------------------------------------------------
//  Cancel, auto-dispose, abandon

static void
test_cancel_before_run (void **state)
{
    (void) state;
    zdex_sched_t *store = zdex_sched_new ();
    zdex_sched_task_t *task = s_add_one_shot (store, "job", 100, 0);
    zdex_sched_task_t *periodic = s_add_fixed_rate (store, "tick", 50, 10, 0);
    assert_true (zdex_sched_cancel (store, task));
    assert_true (zdex_sched_cancel (store, periodic));
    assert_int_equal (task->outcome, ZDEX_SCHED_CANCELLED);
    assert_int_equal (periodic->outcome, ZDEX_SCHED_CANCELLED);
    assert_null (task->outcome_data);
    assert_int_equal (task->due_at, -1);
    assert_int_equal (periodic->due_at, -1);
    assert_true (zdex_sched_done (task));
    assert_int_equal (zdex_sched_delay (task, 0), 0);
    assert_int_equal (zdex_sched_next_due (store), -1);
    assert_null (zdex_sched_pop_due (store, INT64_MAX));
    assert_int_equal (task->run, 0);
    //  Cancelled tasks are still held and still cancel-proof
    assert_ptr_equal (zdex_sched_find (store, "s", 0, "job"), task);
    assert_false (zdex_sched_cancel (store, task));
    assert_int_equal (task->outcome, ZDEX_SCHED_CANCELLED);
    zdex_sched_destroy (&store);
}

static void
test_cancel_while_running (void **state)
{
    (void) state;
    zdex_sched_t *store = zdex_sched_new ();
    //  One-shot: the run goes on, its finish keeps CANCELLED
    zdex_sched_task_t *task = s_add_one_shot (store, "job", 0, 0);
    assert_ptr_equal (zdex_sched_pop_due (store, 10), task);
    assert_true (zdex_sched_cancel (store, task));
    assert_true (task->running);
    assert_int_equal (task->outcome, ZDEX_SCHED_CANCELLED);
    assert_false (zdex_sched_finish (store, task, true, "7", "{\"s\":2}", 40));
    assert_int_equal (task->outcome, ZDEX_SCHED_CANCELLED);
    assert_null (task->outcome_data);
    assert_false (task->running);
    assert_int_equal (task->stats.total_runs, 1);
    assert_int_equal (task->stats.last_run_duration_ms, 30);
    assert_int_equal (task->stats.last_idle_time_ms, 10);
    assert_string_equal (task->state, "{\"s\":2}");
    assert_int_equal (task->idle_since, 40);
    assert_int_equal (task->due_at, -1);

    //  Fixed rate: cancel disarms the next tick; a failing finish keeps CANCELLED
    zdex_sched_task_t *periodic = s_add_fixed_rate (store, "tick", 0, 10, 100);
    assert_ptr_equal (zdex_sched_pop_due (store, 100), periodic);
    assert_int_equal (periodic->due_at, 110);
    assert_true (zdex_sched_cancel (store, periodic));
    assert_int_equal (periodic->due_at, -1);
    assert_null (zdex_sched_pop_due (store, 200));
    zdex_sched_finish (store, periodic, false, "\"late\"", NULL, 205);
    assert_int_equal (periodic->outcome, ZDEX_SCHED_CANCELLED);
    assert_null (periodic->outcome_data);
    assert_int_equal (periodic->stats.total_runs, 1);
    assert_int_equal (periodic->stats.last_run_duration_ms, 105);
    assert_int_equal (periodic->due_at, -1);
    assert_int_equal (zdex_sched_next_due (store), -1);
    zdex_sched_destroy (&store);
}

static void
test_cancel_after_done (void **state)
{
    (void) state;
    zdex_sched_t *store = zdex_sched_new ();
    zdex_sched_task_t *task = s_add_one_shot (store, "job", 0, 0);
    assert_ptr_equal (zdex_sched_pop_due (store, 0), task);
    zdex_sched_finish (store, task, true, "\"done\"", NULL, 1);
    assert_false (zdex_sched_cancel (store, task));
    assert_int_equal (task->outcome, ZDEX_SCHED_VALUE);
    assert_string_equal (task->outcome_data, "\"done\"");

    zdex_sched_task_t *failed = s_add_fixed_rate (store, "tick", 0, 10, 0);
    assert_ptr_equal (zdex_sched_pop_due (store, 0), failed);
    zdex_sched_finish (store, failed, false, "\"x\"", NULL, 1);
    assert_false (zdex_sched_cancel (store, failed));
    assert_int_equal (failed->outcome, ZDEX_SCHED_FAILED);
    zdex_sched_destroy (&store);
}

static void
test_auto_dispose (void **state)
{
    (void) state;
    zdex_sched_t *store = zdex_sched_new ();
    zdex_sched_task_t *task = zdex_sched_add (store, "s", 3, "gone", "echo", NULL, 0, 0, true, 0);
    assert_non_null (task);
    assert_true (task->auto_dispose);
    zdex_sched_task_t *kept = s_add_one_shot (store, "kept", 0, 0);
    zdex_sched_task_t *periodic = s_add_fixed_rate (store, "tick", 0, 10, 0);
    for (int count = 0; count < 3; count++) {
        zdex_sched_task_t *popped = zdex_sched_pop_due (store, 0);
        assert_non_null (popped);
        bool dispose = zdex_sched_finish (store, popped, true, "1", NULL, 1);
        //  Only the auto-disposable task, now done, asks to be removed
        assert_int_equal (dispose, popped == task);
        assert_true (popped == task || popped == kept || popped == periodic);
    }
    assert_null (zdex_sched_pop_due (store, 0));
    zdex_sched_remove (store, &task);
    assert_null (task);
    assert_null (zdex_sched_find (store, "s", 3, "gone"));
    assert_int_equal (zdex_sched_count (store, "s", 3), 0);
    assert_int_equal (zdex_sched_count (store, NULL, ZDEX_SCHED_ANY), 2);

    //  A failed auto-disposable task is done too
    task = zdex_sched_add (store, "s", 3, "gone", "echo", NULL, 0, 0, true, 0);
    assert_ptr_equal (zdex_sched_pop_due (store, 0), task);
    assert_true (zdex_sched_finish (store, task, false, "\"e\"", NULL, 1));
    zdex_sched_remove (store, &task);
    zdex_sched_destroy (&store);
}

static void
test_abandon (void **state)
{
    (void) state;
    zdex_sched_t *store = zdex_sched_new ();
    zdex_sched_task_t *task = s_add_one_shot (store, "job", 100, 0);
    assert_ptr_equal (zdex_sched_pop_due (store, 100), task);
    zdex_sched_abandon (store, task, 150);
    assert_false (task->running);
    assert_int_equal (task->outcome, ZDEX_SCHED_PENDING);
    assert_int_equal (task->due_at, 150); //  at-least-once: armed at now
    assert_int_equal (task->idle_since, 150);
    assert_int_equal (task->stats.total_runs, 0);
    assert_int_equal (zdex_sched_next_due (store), 150);
    assert_ptr_equal (zdex_sched_pop_due (store, 150), task);
    assert_int_equal (task->run, 2);
    zdex_sched_finish (store, task, true, "1", NULL, 160);
    assert_int_equal (task->outcome, ZDEX_SCHED_VALUE);

    //  A fixed-rate task keeps its next tick
    zdex_sched_task_t *periodic = s_add_fixed_rate (store, "tick", 0, 10, 1000);
    assert_ptr_equal (zdex_sched_pop_due (store, 1000), periodic);
    zdex_sched_abandon (store, periodic, 1003);
    assert_false (periodic->running);
    assert_int_equal (periodic->due_at, 1010);
    assert_int_equal (zdex_sched_next_due (store), 1010);
    zdex_sched_remove (store, &periodic);

    //  A cancelled one-shot task is not re-armed
    zdex_sched_task_t *cancelled = s_add_one_shot (store, "cancelled", 0, 2000);
    assert_ptr_equal (zdex_sched_pop_due (store, 2000), cancelled);
    assert_true (zdex_sched_cancel (store, cancelled));
    zdex_sched_abandon (store, cancelled, 2001);
    assert_false (cancelled->running);
    assert_int_equal (cancelled->due_at, -1);
    zdex_sched_destroy (&store);
}

//  ---------------------------------------------------------------------------------
//  Stats and delay

static void
test_stats (void **state)
{
    (void) state;
    zdex_sched_t *store = zdex_sched_new ();
    zdex_sched_task_t *task = s_add_one_shot (store, "job", 200, 1000);
    assert_ptr_equal (zdex_sched_pop_due (store, 1250), task);
    assert_int_equal (task->stats.last_idle_time_ms, 250);
    assert_int_equal (task->stats.total_idle_time_ms, 250);
    assert_int_equal (task->stats.total_runs, 0);
    zdex_sched_finish (store, task, true, "1", NULL, 1280);
    assert_int_equal (task->stats.total_runs, 1);
    assert_int_equal (task->stats.last_run_duration_ms, 30);
    assert_int_equal (task->stats.total_run_time_ms, 30);
    assert_int_equal (task->idle_since, 1280);

    zdex_sched_task_t *periodic = s_add_fixed_rate (store, "tick", 100, 100, 0);
    assert_ptr_equal (zdex_sched_pop_due (store, 100), periodic);
    assert_int_equal (periodic->stats.last_idle_time_ms, 100);
    zdex_sched_finish (store, periodic, true, "1", NULL, 140);
    assert_int_equal (periodic->stats.last_run_duration_ms, 40);
    assert_ptr_equal (zdex_sched_pop_due (store, 200), periodic);
    assert_int_equal (periodic->stats.last_idle_time_ms, 60);
    assert_int_equal (periodic->stats.total_idle_time_ms, 160);
    zdex_sched_finish (store, periodic, false, "\"e\"", NULL, 250);
    assert_int_equal (periodic->stats.total_runs, 2);
    assert_int_equal (periodic->stats.last_run_duration_ms, 50);
    assert_int_equal (periodic->stats.total_run_time_ms, 90);
    assert_int_equal (periodic->stats.total_idle_time_ms, 160);
    zdex_sched_destroy (&store);
}

static void
test_delay (void **state)
{
    (void) state;
    zdex_sched_t *store = zdex_sched_new ();
    zdex_sched_task_t *task = s_add_one_shot (store, "job", 500, 1000);
    assert_int_equal (zdex_sched_delay (task, 1000), 500);
    assert_int_equal (zdex_sched_delay (task, 1200), 300);
    assert_int_equal (zdex_sched_delay (task, 2000), 0); //  overdue
    assert_ptr_equal (zdex_sched_pop_due (store, 2000), task);
    assert_int_equal (zdex_sched_delay (task, 2000), 0); //  running one-shot
    zdex_sched_finish (store, task, true, "1", NULL, 2001);
    assert_int_equal (zdex_sched_delay (task, 0), 0); //  done

    zdex_sched_task_t *periodic = s_add_fixed_rate (store, "tick", 0, 100, 3000);
    assert_ptr_equal (zdex_sched_pop_due (store, 3000), periodic);
    assert_int_equal (zdex_sched_delay (periodic, 3040), 60); //  running: next tick
    zdex_sched_destroy (&store);
}

//  ---------------------------------------------------------------------------------
//  Shutdown

static void
test_shutdown (void **state)
{
    (void) state;
    zdex_sched_t *store = zdex_sched_new ();
    zdex_sched_task_t *a = zdex_sched_add (store, "s", 0, "a", "echo", NULL, 10, 0, false, 0);
    zdex_sched_task_t *b = zdex_sched_add (store, "s", 1, "b", "echo", NULL, 20, 0, false, 0);
    zdex_sched_task_t *running = zdex_sched_add (store, "s", 0, "r", "echo", NULL, 0, 0, false, 0);
    zdex_sched_task_t *tick = zdex_sched_add (store, "s", 0, "p", "echo", NULL, 0, 5, false, 0);
    zdex_sched_task_t *other = zdex_sched_add (store, "t", 0, "a", "echo", NULL, 30, 0, false, 0);
    assert_non_null (zdex_sched_pop_due (store, 0));
    assert_non_null (zdex_sched_pop_due (store, 0));
    assert_true (running->running && tick->running);
    char *form = zdex_sched_encode (a, 0);
    assert_non_null (form);

    assert_false (zdex_sched_is_shutdown (store, "s"));
    zdex_sched_shutdown (store, "s");
    assert_true (zdex_sched_is_shutdown (store, "s"));
    assert_false (zdex_sched_is_shutdown (store, "t"));
    assert_false (zdex_sched_is_shutdown (store, "u"));
    assert_int_equal (a->due_at, -1);
    assert_int_equal (b->due_at, -1);
    assert_int_equal (tick->due_at, -1);
    assert_int_equal (other->due_at, 30);
    assert_int_equal (zdex_sched_next_due (store), 30);
    //  Runs already out finish without re-arming anything
    zdex_sched_finish (store, tick, true, "1", NULL, 3);
    assert_int_equal (tick->due_at, -1);
    zdex_sched_abandon (store, running, 3);
    assert_int_equal (running->due_at, -1);
    assert_int_equal (running->outcome, ZDEX_SCHED_PENDING);

    //  Later adds and puts stay unarmed
    zdex_sched_task_t *late = zdex_sched_add (store, "s", 0, "late", "echo", NULL, 0, 0, false, 5);
    assert_non_null (late);
    assert_int_equal (late->due_at, -1);
    zdex_sched_task_t *put = zdex_sched_put (store, "s", 2, form, 5);
    assert_non_null (put);
    assert_int_equal (put->due_at, -1);
    assert_ptr_equal (zdex_sched_pop_due (store, 100), other);
    assert_null (zdex_sched_pop_due (store, INT64_MAX));

    //  Still readable and removable
    assert_ptr_equal (zdex_sched_find (store, "s", 1, "b"), b);
    assert_int_equal (zdex_sched_count (store, "s", ZDEX_SCHED_ANY), 6);
    zdex_sched_remove (store, &b);
    assert_int_equal (zdex_sched_count (store, "s", ZDEX_SCHED_ANY), 5);

    //  A scheduler shut down before it had tasks, and one emptied after
    zdex_sched_shutdown (store, "v");
    assert_true (zdex_sched_is_shutdown (store, "v"));
    zdex_sched_task_t *fresh = zdex_sched_add (store, "v", 0, "x", "echo", NULL, 0, 0, false, 5);
    assert_int_equal (fresh->due_at, -1);
    zdex_sched_remove (store, &fresh);
    assert_true (zdex_sched_is_shutdown (store, "v"));
    assert_int_equal (zdex_sched_drop_partition (store, 0), 5);
    assert_true (zdex_sched_is_shutdown (store, "s"));
    free (form);
    zdex_sched_destroy (&store);
}

//  ---------------------------------------------------------------------------------
//  Replicated form

static void
test_encode_put_round_trip (void **state)
{
    (void) state;
    zdex_sched_t *owner = zdex_sched_new ();
    zdex_sched_t *backup = zdex_sched_new ();

    //  Pending, never run
    zdex_sched_task_t *task = zdex_sched_add (
        owner, "s", 7, "job", "echo", "{\"k\":[1,2.5,\"x\"],\"u\":\"\\u00e9\"}", 1000, 0, false, 0);
    char *form = zdex_sched_encode (task, 400);
    assert_non_null (form);
    assert_int_equal (s_form_integer (form, "due_in_ms"), 600);
    zdex_sched_task_t *copy = zdex_sched_put (backup, "s", 7, form, 5000);
    assert_non_null (copy);
    s_assert_same_task (task, copy);
    assert_string_equal (copy->scheduler, "s");
    assert_int_equal (copy->partition, 7);
    assert_int_equal (copy->due_at, 5600);
    assert_false (copy->running);
    assert_int_equal (copy->idle_since, 5000);
    assert_ptr_equal (zdex_sched_find (backup, "s", 7, "job"), copy);
    assert_int_equal (zdex_sched_next_due (backup), 5600);
    //  The copy encodes to the same form on its own clock
    char *again = zdex_sched_encode (copy, 5000);
    assert_string_equal (again, form);
    free (again);
    free (form);

    //  Done, with state, outcome and stats
    assert_ptr_equal (zdex_sched_pop_due (owner, 1100), task);
    zdex_sched_finish (owner, task, true, "{\"v\":[true,null]}", "{\"count\":3}", 1175);
    form = zdex_sched_encode (task, 2000);
    assert_int_equal (s_form_integer (form, "due_in_ms"), -1);
    copy = zdex_sched_put (backup, "s", 7, form, 9000);
    assert_non_null (copy);
    s_assert_same_task (task, copy);
    assert_int_equal (copy->outcome, ZDEX_SCHED_VALUE);
    assert_int_equal (copy->stats.total_runs, 1);
    assert_int_equal (copy->stats.last_run_duration_ms, 75);
    assert_int_equal (copy->stats.last_idle_time_ms, 1100);
    assert_int_equal (copy->run, 1);
    assert_int_equal (copy->due_at, -1); //  a done task is never re-armed
    assert_int_equal (zdex_sched_next_due (backup), -1);
    assert_int_equal (zdex_sched_count (backup, NULL, ZDEX_SCHED_ANY), 1);
    free (form);

    //  Fixed rate, mid-run: the next tick's remaining delay travels
    zdex_sched_task_t *periodic =
        zdex_sched_add (owner, "s", ZDEX_SCHED_MEMBER, "tick", "t", NULL, 0, 100, false, 0);
    assert_ptr_equal (zdex_sched_pop_due (owner, 0), periodic);
    zdex_sched_finish (owner, periodic, true, "1", "[1]", 20);
    assert_ptr_equal (zdex_sched_pop_due (owner, 100), periodic);
    form = zdex_sched_encode (periodic, 130);
    assert_int_equal (s_form_integer (form, "due_in_ms"), 70);
    copy = zdex_sched_put (backup, "s", ZDEX_SCHED_MEMBER, form, 10000);
    s_assert_same_task (periodic, copy);
    assert_null (copy->payload);
    assert_int_equal (copy->run, 2);
    assert_false (copy->running);
    assert_int_equal (copy->due_at, 10070);
    free (form);

    //  Failed and cancelled outcomes travel too
    zdex_sched_finish (owner, periodic, false, "\"bad\"", NULL, 140);
    form = zdex_sched_encode (periodic, 150);
    copy = zdex_sched_put (backup, "s", ZDEX_SCHED_MEMBER, form, 10000);
    s_assert_same_task (periodic, copy);
    assert_int_equal (copy->outcome, ZDEX_SCHED_FAILED);
    assert_int_equal (copy->due_at, -1);
    free (form);
    zdex_sched_task_t *cancelled = s_add_one_shot (owner, "cancelled", 50, 0);
    zdex_sched_cancel (owner, cancelled);
    form = zdex_sched_encode (cancelled, 0);
    assert_int_equal (s_form_integer (form, "due_in_ms"), -1);
    copy = zdex_sched_put (backup, "s", 0, form, 0);
    s_assert_same_task (cancelled, copy);
    assert_int_equal (copy->outcome, ZDEX_SCHED_CANCELLED);
    assert_int_equal (copy->due_at, -1);
    free (form);

    //  An overdue task travels as due now
    zdex_sched_task_t *overdue = s_add_one_shot (owner, "overdue", 10, 0);
    form = zdex_sched_encode (overdue, 500);
    assert_int_equal (s_form_integer (form, "due_in_ms"), 0);
    copy = zdex_sched_put (backup, "s", 0, form, 800);
    assert_int_equal (copy->due_at, 800);
    free (form);

    zdex_sched_destroy (&owner);
    zdex_sched_destroy (&backup);
}

static void
test_encode_running_one_shot (void **state)
{
    (void) state;
    zdex_sched_t *owner = zdex_sched_new ();
    zdex_sched_t *backup = zdex_sched_new ();
    zdex_sched_task_t *task = s_add_one_shot (owner, "job", 0, 0);
    assert_ptr_equal (zdex_sched_pop_due (owner, 0), task);
    char *form = zdex_sched_encode (task, 5);
    assert_int_equal (s_form_integer (form, "due_in_ms"), 0);
    assert_int_equal (s_form_integer (form, "run"), 1);
    zdex_sched_task_t *copy = zdex_sched_put (backup, "s", 0, form, 7000);
    assert_non_null (copy);
    assert_false (copy->running);
    assert_int_equal (copy->due_at, 7000); //  runs again at the new owner
    assert_ptr_equal (zdex_sched_pop_due (backup, 7000), copy);
    assert_int_equal (copy->run, 2);
    free (form);

    //  Running but cancelled: no outcome to wait for, never runs again
    assert_true (zdex_sched_cancel (owner, task));
    form = zdex_sched_encode (task, 5);
    assert_int_equal (s_form_integer (form, "due_in_ms"), -1);
    free (form);
    zdex_sched_destroy (&owner);
    zdex_sched_destroy (&backup);
}

//  Values at the edges of int64 saturate instead of overflowing (UBSan would see it)
static void
test_saturation (void **state)
{
    (void) state;
    zdex_sched_t *store = zdex_sched_new ();
    zdex_sched_task_t *far =
        zdex_sched_add (store, "s", 0, "far", "e", NULL, INT64_MAX, 0, false, 1000);
    assert_int_equal (far->due_at, INT64_MAX);
    assert_int_equal (zdex_sched_delay (far, -1000), INT64_MAX);
    zdex_sched_remove (store, &far);

    const char *form =
        "{\"name\":\"edge\",\"type\":\"e\",\"payload\":null,\"delay_ms\":-9223372036854775808,"
        "\"period_ms\":9223372036854775807,\"auto_dispose\":false,\"state\":null,"
        "\"outcome\":\"pending\",\"outcome_data\":null,\"stats\":{\"total_runs\":"
        "9223372036854775807,\"last_run_duration_ms\":0,\"last_idle_time_ms\":0,"
        "\"total_run_time_ms\":9223372036854775807,\"total_idle_time_ms\":"
        "9223372036854775807},\"run\":9223372036854775807,\"due_in_ms\":0}";
    zdex_sched_task_t *task = zdex_sched_put (store, "s", 0, form, -5);
    assert_non_null (task);
    assert_int_equal (task->due_at, -5);
    assert_ptr_equal (zdex_sched_pop_due (store, INT64_MAX - 1), task);
    assert_int_equal (task->run, INT64_MAX);
    assert_int_equal (task->stats.total_idle_time_ms, INT64_MAX);
    assert_int_equal (task->due_at, INT64_MAX); //  the next tick is beyond int64
    zdex_sched_finish (store, task, true, "1", NULL, INT64_MAX);
    assert_int_equal (task->stats.total_runs, INT64_MAX);
    assert_int_equal (task->stats.total_run_time_ms, INT64_MAX);
    char *text = zdex_sched_encode (task, INT64_MIN);
    assert_non_null (text);
    assert_int_equal (s_form_integer (text, "due_in_ms"), INT64_MAX);
    free (text);

    //  A stored text that is not JSON cannot be encoded
    zdex_sched_task_t *bad = zdex_sched_add (store, "s", 0, "bad", "e", "{oops", 0, 0, false, 0);
    assert_null (zdex_sched_encode (bad, 0));
    zdex_sched_destroy (&store);
}

//  A valid form with one top-level key replaced (value NULL: removed)
static char *
s_form_with (const char *base, const char *key, json_t *value)
{
    json_t *form = json_loads (base, 0, NULL);
    assert_non_null (form);
    if (value)
        json_object_set_new (form, key, value);
    else
        json_object_del (form, key);
    char *text = json_dumps (form, JSON_COMPACT);
    json_decref (form);
    return text;
}

static char *
s_form_with_stat (const char *base, const char *key, json_t *value)
{
    json_t *form = json_loads (base, 0, NULL);
    json_t *stats = json_object_get (form, "stats");
    if (value)
        json_object_set_new (stats, key, value);
    else
        json_object_del (stats, key);
    char *text = json_dumps (form, JSON_COMPACT);
    json_decref (form);
    return text;
}

static void
test_put_rejects (void **state)
{
    (void) state;
    zdex_sched_t *store = zdex_sched_new ();
    zdex_sched_task_t *held = s_add_one_shot (store, "job", 40, 0);
    zdex_sched_task_t *source = s_add_one_shot (store, "source", 90, 0);
    char *base = zdex_sched_encode (source, 0);
    assert_non_null (base);
    zdex_sched_remove (store, &source);
    //  The form itself is good (into another store)
    zdex_sched_t *check = zdex_sched_new ();
    assert_non_null (zdex_sched_put (check, "s", 0, base, 0));
    zdex_sched_destroy (&check);

    //  Every bad form names the held task, so a change would show
    json_t *deep = json_array ();
    for (int level = 0; level < 70; level++) {
        json_t *outer = json_array ();
        json_array_append_new (outer, deep);
        deep = outer;
    }
    char *named = s_form_with (base, "name", json_string ("job"));
    char *bad[] = {
        s_form_with (named, "name", json_integer (5)),
        s_form_with (named, "name", json_string ("")),
        s_form_with (named, "name", NULL),
        s_form_with (named, "type", json_null ()),
        s_form_with (named, "type", NULL),
        s_form_with (named, "payload", NULL),
        s_form_with (named, "state", NULL),
        s_form_with (named, "delay_ms", json_string ("1")),
        s_form_with (named, "delay_ms", json_real (1.5)),
        s_form_with (named, "period_ms", json_integer (-1)),
        s_form_with (named, "period_ms", NULL),
        s_form_with (named, "auto_dispose", json_integer (1)),
        s_form_with (named, "outcome", json_string ("done")),
        s_form_with (named, "outcome", json_integer (0)),
        s_form_with (named, "outcome", NULL),
        s_form_with (named, "outcome_data", json_integer (1)), //  pending with data
        s_form_with (named, "outcome_data", NULL),
        s_form_with (named, "stats", json_object ()),
        s_form_with (named, "stats", json_null ()),
        s_form_with (named, "stats", NULL),
        s_form_with_stat (named, "total_run_time_ms", json_integer (-1)),
        s_form_with_stat (named, "total_runs", json_integer (-3)),
        s_form_with_stat (named, "last_idle_time_ms", json_real (2.0)),
        s_form_with_stat (named, "last_run_duration_ms", NULL),
        s_form_with_stat (named, "extra", json_integer (0)),
        s_form_with (named, "run", json_integer (-1)),
        s_form_with (named, "run", json_true ()),
        s_form_with (named, "due_in_ms", json_integer (-2)),
        s_form_with (named, "due_in_ms", NULL),
        s_form_with (named, "unknown", json_integer (0)),
        s_form_with (named, "payload", deep),
        strdup ("{\"name\":\"job\",\"name\":\"job\"}"),
        strdup ("[1,2]"),
        strdup ("\"job\""),
        strdup (""),
        strdup ("{\"name\":"),
        NULL, //  filled in below
        NULL,
    };
    size_t count = sizeof (bad) / sizeof (bad[0]);
    //  A duplicate key inside an otherwise valid form
    const char *tail = strchr (named, '{') + 1;
    bad[count - 2] = (char *) malloc (strlen (named) + 32);
    sprintf (bad[count - 2], "{\"run\":0,%s", tail);
    //  Trailing garbage
    bad[count - 1] = (char *) malloc (strlen (named) + 2);
    sprintf (bad[count - 1], "%s}", named);
    //  Periodic and auto-disposable at once
    json_t *both = json_loads (named, 0, NULL);
    json_object_set_new (both, "period_ms", json_integer (10));
    json_object_set_new (both, "auto_dispose", json_true ());
    char *both_text = json_dumps (both, JSON_COMPACT);
    json_decref (both);

    for (size_t index = 0; index <= count; index++) {
        const char *text = index < count ? bad[index] : both_text;
        assert_non_null (text);
        assert_null (zdex_sched_put (store, "s", 0, text, 1000));
        assert_ptr_equal (zdex_sched_find (store, "s", 0, "job"), held);
        assert_string_equal (held->type, "echo");
        assert_int_equal (held->due_at, 40);
        assert_int_equal (zdex_sched_next_due (store), 40);
        assert_int_equal (zdex_sched_count (store, NULL, ZDEX_SCHED_ANY), 1);
        assert_int_equal (zdex_sched_count (store, "s", ZDEX_SCHED_ANY), 1);
    }
    assert_null (zdex_sched_put (store, "s", 0, NULL, 1000));
    //  Nothing was created in another container either
    assert_null (zdex_sched_put (store, "z", 9, bad[0], 1000));
    assert_int_equal (zdex_sched_count (store, "z", ZDEX_SCHED_ANY), 0);
    assert_int_equal (zdex_sched_count (store, NULL, 9), 0);
    //  And the named form itself is fine
    assert_non_null (zdex_sched_put (store, "s", 0, named, 1000));

    for (size_t index = 0; index < count; index++)
        free (bad[index]);
    free (both_text);
    free (named);
    free (base);
    zdex_sched_destroy (&store);
}

static void
test_put_replaces (void **state)
{
    (void) state;
    zdex_sched_t *store = zdex_sched_new ();
    zdex_sched_t *other = zdex_sched_new ();
    zdex_sched_task_t *old = s_add_one_shot (store, "job", 40, 0);
    zdex_sched_task_t *neighbour =
        zdex_sched_add (store, "s", 1, "job", "echo", "2", 60, 0, false, 0);
    zdex_sched_task_t *done =
        zdex_sched_add (other, "s", 0, "job", "other-type", "[3]", 0, 0, false, 0);
    assert_ptr_equal (zdex_sched_pop_due (other, 0), done);
    zdex_sched_finish (other, done, true, "\"r\"", NULL, 1);
    char *form = zdex_sched_encode (done, 1);

    zdex_sched_task_t *put = zdex_sched_put (store, "s", 0, form, 100);
    assert_non_null (put);
    (void) old; //  destroyed by the put
    assert_ptr_equal (zdex_sched_find (store, "s", 0, "job"), put);
    assert_string_equal (put->type, "other-type");
    assert_string_equal (put->payload, "[3]");
    assert_int_equal (put->outcome, ZDEX_SCHED_VALUE);
    assert_int_equal (zdex_sched_count (store, "s", 0), 1);
    assert_int_equal (zdex_sched_count (store, NULL, ZDEX_SCHED_ANY), 2);
    //  The replaced task's due time is gone; the neighbour is untouched
    assert_int_equal (zdex_sched_next_due (store), 60);
    assert_ptr_equal (zdex_sched_find (store, "s", 1, "job"), neighbour);
    assert_ptr_equal (zdex_sched_pop_due (store, INT64_MAX), neighbour);
    assert_null (zdex_sched_pop_due (store, INT64_MAX));
    free (form);
    zdex_sched_destroy (&store);
    zdex_sched_destroy (&other);
}

//  ---------------------------------------------------------------------------------
//  Selections

static void
test_drop_partition (void **state)
{
    (void) state;
    zdex_sched_t *store = zdex_sched_new ();
    assert_non_null (zdex_sched_add (store, "s", 0, "a", "e", NULL, 10, 0, false, 0));
    assert_non_null (zdex_sched_add (store, "s", 0, "b", "e", NULL, 20, 5, false, 0));
    zdex_sched_task_t *kept = zdex_sched_add (store, "s", 1, "a", "e", NULL, 30, 0, false, 0);
    assert_non_null (zdex_sched_add (store, "t", 0, "a", "e", NULL, 5, 0, false, 0));
    zdex_sched_task_t *member =
        zdex_sched_add (store, "t", ZDEX_SCHED_MEMBER, "a", "e", NULL, 40, 0, false, 0);
    assert_int_equal (zdex_sched_drop_partition (store, 0), 3);
    assert_int_equal (zdex_sched_count (store, NULL, 0), 0);
    assert_int_equal (zdex_sched_count (store, NULL, ZDEX_SCHED_ANY), 2);
    assert_int_equal (zdex_sched_count (store, "s", ZDEX_SCHED_ANY), 1);
    assert_int_equal (zdex_sched_count (store, "t", ZDEX_SCHED_ANY), 1);
    assert_null (zdex_sched_find (store, "s", 0, "a"));
    assert_ptr_equal (zdex_sched_find (store, "s", 1, "a"), kept);
    assert_ptr_equal (zdex_sched_find (store, "t", ZDEX_SCHED_MEMBER, "a"), member);
    //  Dropped tasks left the heap
    assert_int_equal (zdex_sched_next_due (store), 30);
    assert_ptr_equal (zdex_sched_pop_due (store, INT64_MAX), kept);
    assert_ptr_equal (zdex_sched_pop_due (store, INT64_MAX), member);
    assert_null (zdex_sched_pop_due (store, INT64_MAX));
    assert_int_equal (zdex_sched_drop_partition (store, 0), 0);
    assert_int_equal (zdex_sched_drop_partition (store, ZDEX_SCHED_MEMBER), 1);
    assert_int_equal (zdex_sched_count (store, NULL, ZDEX_SCHED_ANY), 1);
    //  The name is free again in the dropped partition
    assert_non_null (zdex_sched_add (store, "s", 0, "a", "e", NULL, 10, 0, false, 0));
    zdex_sched_destroy (&store);
}

//  list matches count, and every listed task is in the selection
static void
s_assert_selection (zdex_sched_t *store, const char *scheduler, int32_t partition, size_t expected)
{
    assert_int_equal (zdex_sched_count (store, scheduler, partition), expected);
    zlistx_t *list = zdex_sched_list (store, scheduler, partition);
    assert_non_null (list);
    assert_int_equal (zlistx_size (list), expected);
    for (zdex_sched_task_t *task = (zdex_sched_task_t *) zlistx_first (list); task;
         task = (zdex_sched_task_t *) zlistx_next (list)) {
        if (scheduler)
            assert_string_equal (task->scheduler, scheduler);
        if (partition != ZDEX_SCHED_ANY)
            assert_int_equal (task->partition, partition);
        assert_ptr_equal (zdex_sched_find (store, task->scheduler, task->partition, task->name),
                          task);
    }
    zlistx_destroy (&list);
}

static void
test_count_list (void **state)
{
    (void) state;
    zdex_sched_t *store = zdex_sched_new ();
    s_assert_selection (store, NULL, ZDEX_SCHED_ANY, 0);
    s_assert_selection (store, "s", 0, 0);
    const struct {
        const char *scheduler;
        int32_t partition;
        const char *name;
    } tasks[] = {
        {"s", 0, "a"}, {"s", 0, "b"}, {"s", 1, "a"}, {"s", ZDEX_SCHED_MEMBER, "m"}, {"t", 0, "a"},
        {"t", 2, "a"}, {"t", 2, "b"}, {"t", 2, "c"}, {"u", ZDEX_SCHED_MEMBER, "m"},
    };
    for (size_t index = 0; index < sizeof (tasks) / sizeof (tasks[0]); index++)
        assert_non_null (zdex_sched_add (store, tasks[index].scheduler, tasks[index].partition,
                                         tasks[index].name, "e", NULL, 0, 0, false, 0));
    s_assert_selection (store, "s", 0, 2);
    s_assert_selection (store, "s", 1, 1);
    s_assert_selection (store, "s", 2, 0);
    s_assert_selection (store, "s", ZDEX_SCHED_MEMBER, 1);
    s_assert_selection (store, "s", ZDEX_SCHED_ANY, 4);
    s_assert_selection (store, "t", ZDEX_SCHED_ANY, 4);
    s_assert_selection (store, "t", ZDEX_SCHED_MEMBER, 0);
    s_assert_selection (store, "none", ZDEX_SCHED_ANY, 0);
    s_assert_selection (store, "none", 0, 0);
    s_assert_selection (store, NULL, 0, 3);
    s_assert_selection (store, NULL, 2, 3);
    s_assert_selection (store, NULL, 5, 0);
    s_assert_selection (store, NULL, ZDEX_SCHED_MEMBER, 2);
    s_assert_selection (store, NULL, ZDEX_SCHED_ANY, 9);
    //  Removal updates every count, and an emptied container is gone
    zdex_sched_task_t *task = zdex_sched_find (store, "s", 1, "a");
    zdex_sched_remove (store, &task);
    s_assert_selection (store, "s", 1, 0);
    s_assert_selection (store, "s", ZDEX_SCHED_ANY, 3);
    s_assert_selection (store, NULL, ZDEX_SCHED_ANY, 8);
    task = zdex_sched_find (store, "u", ZDEX_SCHED_MEMBER, "m");
    zdex_sched_remove (store, &task);
    s_assert_selection (store, "u", ZDEX_SCHED_ANY, 0);
    s_assert_selection (store, NULL, ZDEX_SCHED_MEMBER, 1);
    zdex_sched_destroy (&store);
}

//  ---------------------------------------------------------------------------------
//  Scale

#define MANY 100000

static void
test_many_tasks (void **state)
{
    (void) state;
    zdex_sched_t *store = zdex_sched_new ();
    uint64_t seed = s_seed ();
    char name[32];
    for (int index = 0; index < MANY; index++) {
        snprintf (name, sizeof (name), "task-%d", index);
        int64_t delay = (int64_t) (s_random (&seed) % 100000);
        assert_non_null (zdex_sched_add (store, index % 3 ? "s" : "t", index % 271, name, "e", NULL,
                                         delay, 0, false, 0));
    }
    assert_int_equal (zdex_sched_count (store, NULL, ZDEX_SCHED_ANY), MANY);
    assert_int_equal (zdex_sched_count (store, "t", ZDEX_SCHED_ANY), (MANY + 2) / 3);
    size_t per_partition = 0;
    for (int32_t partition = 0; partition < 271; partition++)
        per_partition += zdex_sched_count (store, NULL, partition);
    assert_int_equal (per_partition, MANY);

    //  Pop in steps: never early, never out of order, nothing due left behind
    size_t popped = 0;
    int64_t previous = -1;
    for (int64_t now = 0; now < 100000 + 997; now += 997) {
        zdex_sched_task_t *task;
        while ((task = zdex_sched_pop_due (store, now))) {
            assert_true (task->delay_ms <= now);
            assert_true (task->delay_ms >= previous);
            assert_int_equal (task->run, 1);
            previous = task->delay_ms;
            popped++;
            zdex_sched_finish (store, task, true, "1", NULL, now);
        }
        int64_t next = zdex_sched_next_due (store);
        assert_true (next == -1 || next > now);
    }
    assert_int_equal (popped, MANY);
    assert_int_equal (zdex_sched_next_due (store), -1);
    //  Remove everything through the list
    zlistx_t *list = zdex_sched_list (store, NULL, ZDEX_SCHED_ANY);
    assert_int_equal (zlistx_size (list), MANY);
    for (zdex_sched_task_t *task = (zdex_sched_task_t *) zlistx_first (list); task;
         task = (zdex_sched_task_t *) zlistx_next (list)) {
        assert_int_equal (task->outcome, ZDEX_SCHED_VALUE);
        zdex_sched_remove (store, &task);
    }
    zlistx_destroy (&list);
    assert_int_equal (zdex_sched_count (store, NULL, ZDEX_SCHED_ANY), 0);
    zdex_sched_destroy (&store);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_add_find_duplicate),
        cmocka_unit_test (test_negative_delay),
        cmocka_unit_test (test_pop_due_order),
        cmocka_unit_test (test_one_shot_value),
        cmocka_unit_test (test_one_shot_failed),
        cmocka_unit_test (test_fixed_rate_ticks),
        cmocka_unit_test (test_fixed_rate_skip_while_running),
        cmocka_unit_test (test_fixed_rate_no_catch_up),
        cmocka_unit_test (test_fixed_rate_failure_ends),
        cmocka_unit_test (test_cancel_before_run),
        cmocka_unit_test (test_cancel_while_running),
        cmocka_unit_test (test_cancel_after_done),
        cmocka_unit_test (test_auto_dispose),
        cmocka_unit_test (test_abandon),
        cmocka_unit_test (test_stats),
        cmocka_unit_test (test_delay),
        cmocka_unit_test (test_shutdown),
        cmocka_unit_test (test_encode_put_round_trip),
        cmocka_unit_test (test_encode_running_one_shot),
        cmocka_unit_test (test_saturation),
        cmocka_unit_test (test_put_rejects),
        cmocka_unit_test (test_put_replaces),
        cmocka_unit_test (test_drop_partition),
        cmocka_unit_test (test_count_list),
        cmocka_unit_test (test_many_tasks),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
