//  Unit tests of zdex_dispatcher over inproc: fake workers are DEALER sockets that
//  speak the worker protocol by hand.

#include "zdex_dispatcher.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

typedef struct {
    zsock_t *router;
    zdex_config_t *config;
    zdex_registry_t *registry;
    zdex_dispatcher_t *dispatcher;
    zlist_t *delivered; //  zdex_job_t *
    zdex_limits_t limits;
    bool submit_on_deliver; //  deliver submits task_id + 100 (a partition dispatching)
    char endpoint[64];      //  inproc names are not reusable at once: one per fixture
} fixture_t;

static void
s_deliver (zdex_job_t *job, void *arg)
{
    fixture_t *fixture = (fixture_t *) arg;
    if (fixture->submit_on_deliver && job->task_id < 100) {
        zdex_job_t *next =
            zdex_job_new (job->executor, job->task_id + 100, 1, job->type, strdup ("{\"n\":2}"));
        zdex_dispatcher_submit (fixture->dispatcher, &next);
    }
    zlist_append (fixture->delivered, job);
}

static int
s_setup (void **state)
{
    fixture_t *fixture = (fixture_t *) zmalloc (sizeof (fixture_t));
    snprintf (fixture->endpoint, sizeof fixture->endpoint, "inproc://dispatcher-%p-%lld",
              (void *) fixture, (long long) zclock_usecs ());
    fixture->router = zsock_new_router (fixture->endpoint);
    fixture->config = zdex_config_new ();
    char err[256];
    if (zdex_config_load_string (fixture->config,
                                 "{\"durable_executors\": {\"narrow\": {\"pool_size\": 1}}}",
                                 "test", err, sizeof err) != 0)
        return -1;
    fixture->registry = zdex_registry_new (fixture->config, 16);
    fixture->limits.max_frame_bytes = 1 << 20;
    fixture->limits.max_payload_bytes = 1 << 19;
    fixture->delivered = zlist_new ();
    fixture->dispatcher = zdex_dispatcher_new (fixture->router, fixture->registry, &fixture->limits,
                                               50, 150, s_deliver, fixture);
    *state = fixture;
    return 0;
}

static int
s_teardown (void **state)
{
    fixture_t *fixture = (fixture_t *) *state;
    zdex_job_t *job;
    while ((job = (zdex_job_t *) zlist_pop (fixture->delivered)))
        zdex_job_destroy (&job);
    zlist_destroy (&fixture->delivered);
    zdex_dispatcher_destroy (&fixture->dispatcher);
    zdex_registry_destroy (&fixture->registry);
    zdex_config_destroy (&fixture->config);
    zsock_destroy (&fixture->router);
    free (fixture);
    return 0;
}

static zsock_t *
s_worker (fixture_t *fixture, const char *types_json, int slots)
{
    zsock_t *worker = zsock_new_dealer (fixture->endpoint);
    assert_non_null (worker);
    zstr_sendf (worker, "{\"op\":\"worker.ready\",\"types\":%s,\"slots\":%d}", types_json, slots);
    //  Let the dispatcher read it.
    zpoller_t *poller = zpoller_new (fixture->router, NULL);
    assert_ptr_equal (zpoller_wait (poller, 1000), fixture->router);
    zpoller_destroy (&poller);
    zdex_dispatcher_recv (fixture->dispatcher);
    zdex_dispatcher_flush (fixture->dispatcher);
    return worker;
}

//  Next message to a worker, within timeout_ms, parsed (caller owns) or NULL.
static json_t *
s_worker_recv (zsock_t *worker, int timeout_ms)
{
    zpoller_t *poller = zpoller_new (worker, NULL);
    json_t *message = NULL;
    if (zpoller_wait (poller, timeout_ms) == worker) {
        char *text = zstr_recv (worker);
        message = json_loads (text, 0, NULL);
        zstr_free (&text);
    }
    zpoller_destroy (&poller);
    return message;
}

static void
s_submit (fixture_t *fixture, const char *executor, uint64_t task_id, const char *type)
{
    assert_non_null (zdex_registry_require (fixture->registry, executor));
    zdex_job_t *job = zdex_job_new (executor, task_id, 1, type, strdup ("{\"n\":1}"));
    zdex_dispatcher_submit (fixture->dispatcher, &job);
    assert_null (job);
    zdex_dispatcher_flush (fixture->dispatcher);
}

static void
s_result (fixture_t *fixture, zsock_t *worker, json_t *task, bool ok)
{
    char *ref = json_dumps (json_object_get (task, "ref"), JSON_COMPACT);
    if (ok)
        zstr_sendf (worker,
                    "{\"op\":\"worker.result\",\"ref\":%s,\"attempt\":%d,\"ok\":true,"
                    "\"value\":{\"done\":true}}",
                    ref, (int) json_integer_value (json_object_get (task, "attempt")));
    else
        zstr_sendf (worker,
                    "{\"op\":\"worker.result\",\"ref\":%s,\"attempt\":%d,\"ok\":false,"
                    "\"error\":\"bad \\\"thing\\\"\"}",
                    ref, (int) json_integer_value (json_object_get (task, "attempt")));
    free (ref);
    zpoller_t *poller = zpoller_new (fixture->router, NULL);
    assert_ptr_equal (zpoller_wait (poller, 1000), fixture->router);
    zpoller_destroy (&poller);
    zdex_dispatcher_recv (fixture->dispatcher);
    zdex_dispatcher_flush (fixture->dispatcher);
}

static void
test_dispatch_and_result (void **state)
{
    fixture_t *fixture = (fixture_t *) *state;
    zsock_t *worker = s_worker (fixture, "[\"echo\"]", 4);
    s_submit (fixture, "default", 7, "echo");
    json_t *task = s_worker_recv (worker, 1000);
    assert_non_null (task);
    assert_string_equal (json_string_value (json_object_get (task, "op")), "worker.task");
    assert_string_equal (json_string_value (json_object_get (task, "type")), "echo");
    assert_int_equal (json_integer_value (json_object_get (task, "attempt")), 1);
    assert_int_equal (json_integer_value (json_object_get (json_object_get (task, "payload"), "n")),
                      1);
    s_result (fixture, worker, task, true);
    assert_int_equal (zlist_size (fixture->delivered), 1);
    zdex_job_t *job = (zdex_job_t *) zlist_first (fixture->delivered);
    assert_true (job->ok);
    assert_int_equal (job->task_id, 7);
    assert_string_equal (job->result, "{\"done\":true}");
    zdex_executor_t *executor = zdex_registry_lookup (fixture->registry, "default");
    assert_int_equal (executor->stats.started, 1);
    assert_int_equal (executor->stats.completed, 1);
    assert_int_equal (executor->stats.pending, 0);
    json_decref (task);

    //  A failure comes back as a JSON string cause.
    s_submit (fixture, "default", 8, "echo");
    task = s_worker_recv (worker, 1000);
    s_result (fixture, worker, task, false);
    job = (zdex_job_t *) zlist_last (fixture->delivered);
    assert_false (job->ok);
    assert_string_equal (job->result, "\"bad \\\"thing\\\"\"");
    json_decref (task);
    zsock_destroy (&worker);
}

//  deliver may submit (the broker's partitions dispatch from inside it): the new
//  job goes to the slot the delivered one freed.
static void
test_deliver_may_submit (void **state)
{
    fixture_t *fixture = (fixture_t *) *state;
    fixture->submit_on_deliver = true;
    zsock_t *worker = s_worker (fixture, "[\"echo\"]", 1);
    s_submit (fixture, "default", 7, "echo");
    json_t *task = s_worker_recv (worker, 1000);
    assert_non_null (task);
    s_result (fixture, worker, task, true);
    json_decref (task);
    assert_int_equal (zlist_size (fixture->delivered), 1);
    task = s_worker_recv (worker, 1000);
    assert_non_null (task);
    assert_int_equal (json_integer_value (json_array_get (json_object_get (task, "ref"), 2)), 107);
    assert_int_equal (json_integer_value (json_object_get (json_object_get (task, "payload"), "n")),
                      2);
    json_decref (task);
    zsock_destroy (&worker);
}

static void
test_slots_pool_and_types (void **state)
{
    fixture_t *fixture = (fixture_t *) *state;
    zsock_t *one_slot = s_worker (fixture, "[\"a\"]", 1);
    zsock_t *other_type = s_worker (fixture, "[\"b\"]", 8);
    s_submit (fixture, "default", 1, "a");
    s_submit (fixture, "default", 2, "a");
    json_t *task = s_worker_recv (one_slot, 1000);
    assert_non_null (task);
    //  One slot: the second waits; the "b" worker gets nothing.
    assert_null (s_worker_recv (one_slot, 50));
    assert_null (s_worker_recv (other_type, 50));
    assert_int_equal (zdex_dispatcher_queued (fixture->dispatcher), 1);
    s_result (fixture, one_slot, task, true);
    json_decref (task);
    task = s_worker_recv (one_slot, 1000);
    assert_non_null (task);
    assert_int_equal (json_integer_value (json_array_get (json_object_get (task, "ref"), 2)), 2);
    s_result (fixture, one_slot, task, true);
    json_decref (task);

    //  pool_size 1 on "narrow": one at a time though the worker has 8 slots.
    s_submit (fixture, "narrow", 10, "b");
    s_submit (fixture, "narrow", 11, "b");
    task = s_worker_recv (other_type, 1000);
    assert_non_null (task);
    assert_null (s_worker_recv (other_type, 50));
    s_result (fixture, other_type, task, true);
    json_decref (task);
    task = s_worker_recv (other_type, 1000);
    assert_non_null (task);
    s_result (fixture, other_type, task, true);
    json_decref (task);
    assert_int_equal (zlist_size (fixture->delivered), 4);
    zsock_destroy (&one_slot);
    zsock_destroy (&other_type);
}

static void
test_unknown_worker_gets_bye (void **state)
{
    fixture_t *fixture = (fixture_t *) *state;
    zsock_t *stranger = zsock_new_dealer (fixture->endpoint);
    zstr_send (stranger, "{\"op\":\"worker.heartbeat\"}");
    zpoller_t *poller = zpoller_new (fixture->router, NULL);
    assert_ptr_equal (zpoller_wait (poller, 1000), fixture->router);
    zpoller_destroy (&poller);
    zdex_dispatcher_recv (fixture->dispatcher);
    json_t *bye = s_worker_recv (stranger, 1000);
    assert_non_null (bye);
    assert_string_equal (json_string_value (json_object_get (bye, "op")), "worker.bye");
    json_decref (bye);
    zsock_destroy (&stranger);
}

static void
test_dead_worker_redispatch (void **state)
{
    fixture_t *fixture = (fixture_t *) *state;
    zsock_t *silent = s_worker (fixture, "[\"x\"]", 1);
    s_submit (fixture, "default", 5, "x");
    json_t *first = s_worker_recv (silent, 1000);
    assert_non_null (first);
    zsock_t *healthy = s_worker (fixture, "[\"x\"]", 1);
    //  The healthy worker keeps talking; the silent one does not.  Heartbeats from
    //  the member arrive at both; after 150 ms of silence the first is dead.
    int64_t deadline = zclock_mono () + 3000;
    json_t *second = NULL;
    while (!second && zclock_mono () < deadline) {
        int timeout = zdex_dispatcher_timeout (fixture->dispatcher);
        json_t *message = s_worker_recv (healthy, timeout < 0 ? 50 : timeout);
        if (message && streq (json_string_value (json_object_get (message, "op")), "worker.task"))
            second = message;
        else {
            json_decref (message);
            zstr_send (healthy, "{\"op\":\"worker.heartbeat\"}");
            zdex_dispatcher_recv (fixture->dispatcher);
            zdex_dispatcher_tick (fixture->dispatcher);
            zdex_dispatcher_flush (fixture->dispatcher);
        }
    }
    assert_non_null (second);
    assert_int_equal (json_integer_value (json_object_get (second, "attempt")), 2);
    //  A late result for attempt 1 from the dead worker is dropped (it is unknown
    //  now and is told bye); attempt 2's result is delivered.
    s_result (fixture, silent, first, true);
    assert_int_equal (zlist_size (fixture->delivered), 0);
    s_result (fixture, healthy, second, true);
    assert_int_equal (zlist_size (fixture->delivered), 1);
    assert_int_equal (((zdex_job_t *) zlist_first (fixture->delivered))->attempt, 2);
    json_decref (first);
    json_decref (second);
    zsock_destroy (&silent);
    zsock_destroy (&healthy);
}

static void
test_cancel_and_drain (void **state)
{
    fixture_t *fixture = (fixture_t *) *state;
    //  No worker for "z": queued.
    s_submit (fixture, "default", 1, "z");
    s_submit (fixture, "default", 2, "z");
    s_submit (fixture, "default", 3, "z");
    zdex_executor_t *executor = zdex_registry_lookup (fixture->registry, "default");
    assert_int_equal (executor->stats.pending, 3);
    zdex_dispatcher_cancel (fixture->dispatcher, "default", 2);
    assert_int_equal (executor->stats.cancelled, 1);
    assert_int_equal (executor->stats.pending, 2);
    json_t *ids = zdex_dispatcher_drain (fixture->dispatcher, executor);
    assert_int_equal (json_array_size (ids), 2);
    assert_int_equal (json_integer_value (json_array_get (ids, 0)), 1);
    assert_int_equal (json_integer_value (json_array_get (ids, 1)), 3);
    json_decref (ids);
    assert_int_equal (zdex_dispatcher_queued (fixture->dispatcher), 0);
    assert_int_equal (executor->stats.pending, 0);

    //  Cancel while running: the result is dropped.
    zsock_t *worker = s_worker (fixture, "[\"z\"]", 1);
    s_submit (fixture, "default", 4, "z");
    json_t *task = s_worker_recv (worker, 1000);
    assert_non_null (task);
    zdex_dispatcher_cancel (fixture->dispatcher, "default", 4);
    s_result (fixture, worker, task, true);
    assert_int_equal (zlist_size (fixture->delivered), 0);
    assert_int_equal (executor->running, 0);
    json_decref (task);
    zsock_destroy (&worker);
}

//  A worker whose worker.ready has "batch" gets the tasks of a pass in one message
//  of several frames, and may answer with one message of several results; one
//  without it gets one task per message.
static void
test_batches (void **state)
{
    fixture_t *fixture = (fixture_t *) *state;
    zsock_t *batcher = zsock_new_dealer (fixture->endpoint);
    zstr_send (batcher, "{\"op\":\"worker.ready\",\"types\":[\"b\"],\"slots\":8,\"batch\":4}");
    zpoller_t *poller = zpoller_new (fixture->router, NULL);
    assert_ptr_equal (zpoller_wait (poller, 1000), fixture->router);
    zdex_dispatcher_recv (fixture->dispatcher);
    zsock_t *plain = s_worker (fixture, "[\"p\"]", 8);
    zsock_set_rcvtimeo (batcher, 1000); //  a missing message fails, not hangs
    zsock_set_rcvtimeo (plain, 1000);
    assert_non_null (zdex_registry_require (fixture->registry, "default"));
    for (uint64_t task_id = 1; task_id <= 6; task_id++) {
        zdex_job_t *job = zdex_job_new ("default", task_id, 1, "b", strdup ("{}"));
        zdex_dispatcher_submit (fixture->dispatcher, &job);
        job = zdex_job_new ("default", 100 + task_id, 1, "p", strdup ("{}"));
        zdex_dispatcher_submit (fixture->dispatcher, &job);
    }
    zdex_dispatcher_flush (fixture->dispatcher);

    //  6 tasks, batch 4: a message of 4 frames, then one of 2, in order.
    zmsg_t *tasks = zmsg_recv (batcher);
    assert_non_null (tasks);
    assert_int_equal (zmsg_size (tasks), 4);
    zmsg_t *rest = zmsg_recv (batcher);
    assert_non_null (rest);
    assert_int_equal (zmsg_size (rest), 2);
    zframe_t *frame;
    while ((frame = zmsg_pop (rest)))
        zmsg_append (tasks, &frame);
    zmsg_destroy (&rest);
    zmsg_t *results = zmsg_new ();
    uint64_t expected = 1;
    for (frame = zmsg_first (tasks); frame; frame = zmsg_next (tasks), expected++) {
        json_t *task =
            json_loadb ((const char *) zframe_data (frame), zframe_size (frame), 0, NULL);
        assert_non_null (task);
        json_t *ref = json_object_get (task, "ref");
        assert_int_equal (json_integer_value (json_array_get (ref, 2)), expected);
        char *ref_text = json_dumps (ref, JSON_COMPACT);
        zmsg_addstrf (results, "{\"op\":\"worker.result\",\"ref\":%s,\"attempt\":1,\"ok\":true}",
                      ref_text);
        free (ref_text);
        json_decref (task);
    }
    zmsg_destroy (&tasks);
    //  Results and a heartbeat, all in one message.
    zmsg_addstr (results, "{\"op\":\"worker.heartbeat\"}");
    zmsg_send (&results, batcher);
    assert_ptr_equal (zpoller_wait (poller, 1000), fixture->router);
    zdex_dispatcher_recv (fixture->dispatcher);
    assert_int_equal (zlist_size (fixture->delivered), 6);
    zdex_job_t *job = (zdex_job_t *) zlist_first (fixture->delivered);
    for (expected = 1; job; job = (zdex_job_t *) zlist_next (fixture->delivered), expected++) {
        assert_int_equal (job->task_id, expected);
        assert_true (job->ok);
    }

    //  The plain worker: one frame per message.
    for (expected = 101; expected <= 106; expected++) {
        zmsg_t *one = zmsg_recv (plain);
        assert_non_null (one);
        assert_int_equal (zmsg_size (one), 1);
        zmsg_destroy (&one);
    }
    zpoller_destroy (&poller);
    zsock_destroy (&batcher);
    zsock_destroy (&plain);
}

int
main (void)
{
    zsys_init ();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown (test_dispatch_and_result, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_deliver_may_submit, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_slots_pool_and_types, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_unknown_worker_gets_bye, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_dead_worker_redispatch, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_cancel_and_drain, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_batches, s_setup, s_teardown),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
