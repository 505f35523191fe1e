//  Integration tests of one member end to end: a real zdexd, real zdex-worker
//  processes, and the client library, on loopback ports chosen at run time.

#include "harness.h"

#include <czmq.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

typedef struct {
    harness_member_t member;
    pid_t workers[2];
    char count_file[512];
    zdex_client_t *client;
} fixture_t;

static int
s_setup (void **state)
{
    fixture_t *fixture = (fixture_t *) calloc (1, sizeof (fixture_t));
    char config[512];
    snprintf (config, sizeof config, "%s/member.json", harness_tmpdir ());
    FILE *file = fopen (config, "w");
    if (!file)
        return -1;
    fprintf (file, "{\"durable_executors\": {\"cap1\": {\"capacity\": 1}, "
                   "\"nostats\": {\"statistics_enabled\": false}}}\n");
    fclose (file);
    const char *args[] = {"--config", config, NULL};
    if (harness_member_start (&fixture->member, args) != 0) {
        fprintf (stderr, "setup: zdexd did not start\n");
        free (fixture);
        return -1;
    }
    snprintf (fixture->count_file, sizeof fixture->count_file, "%s/runs.txt", harness_tmpdir ());
    fixture->workers[0] =
        harness_worker_start (fixture->member.worker, 16, "w1", fixture->count_file);
    fixture->workers[1] =
        harness_worker_start (fixture->member.worker, 16, "w2", fixture->count_file);
    if (fixture->workers[0] < 0 || fixture->workers[1] < 0 ||
        harness_wait_workers (fixture->member.client, 2, 10000) != 0) {
        fprintf (stderr, "setup: workers did not register (%d, %d)\n", (int) fixture->workers[0],
                 (int) fixture->workers[1]);
        //  cmocka skips teardown when setup fails: stop what was started here.
        harness_stop (fixture->workers[0], SIGKILL, 5000);
        harness_stop (fixture->workers[1], SIGKILL, 5000);
        harness_stop (fixture->member.pid, SIGKILL, 5000);
        free (fixture);
        return -1;
    }
    fixture->client = zdex_client_new (fixture->member.client);
    zdex_client_set_timeout (fixture->client, 30000);
    *state = fixture;
    return 0;
}

static int
s_teardown (void **state)
{
    fixture_t *fixture = (fixture_t *) *state;
    zdex_client_destroy (&fixture->client);
    for (int index = 0; index < 2; index++)
        assert_int_equal (WEXITSTATUS (harness_stop (fixture->workers[index], SIGTERM, 10000)), 0);
    //  SIGTERM stops a member cleanly: exit status 0 (a sanitizer report would fail it).
    int status = harness_stop (fixture->member.pid, SIGTERM, 20000);
    assert_true (WIFEXITED (status));
    assert_int_equal (WEXITSTATUS (status), 0);
    free (fixture);
    return 0;
}

static json_t *
s_task (const char *type, json_t *payload)
{
    return json_pack ("{s:s, s:o}", "type", type, "payload", payload ? payload : json_null ());
}

static void
test_pipelined_10000 (void **state)
{
    fixture_t *fixture = (fixture_t *) *state;
    zdex_client_t *client = fixture->client;
    enum { COUNT = 10000 };
    uint64_t *ids = (uint64_t *) calloc (COUNT, sizeof (uint64_t));
    int64_t *reqs = (int64_t *) calloc (COUNT, sizeof (int64_t));
    zhashx_t *by_req = zhashx_new ();
    //  Submit everything pipelined, then read the acks in whatever order they come.
    for (int index = 0; index < COUNT; index++) {
        json_t *request = json_pack ("{s:s, s:s, s:o}", "op", "durable.submit", "executor", "bulk",
                                     "task", s_task ("echo", json_pack ("{s:i}", "i", index)));
        reqs[index] = zdex_client_send (client, request);
        assert_true (reqs[index] > 0);
    }
    for (int count = 0; count < COUNT; count++) {
        json_t *reply = zdex_client_recv (client, 30000);
        assert_non_null (reply);
        assert_true (json_is_true (json_object_get (reply, "ok")));
        int64_t req = json_integer_value (json_object_get (reply, "req"));
        int index = (int) (req - reqs[0]);
        assert_true (index >= 0 && index < COUNT && reqs[index] == req);
        ids[index] = (uint64_t) json_integer_value (json_object_get (reply, "task_id"));
        json_decref (reply);
    }
    //  Every id is distinct.
    for (int index = 0; index < COUNT; index++) {
        char key[32];
        snprintf (key, sizeof key, "%llu", (unsigned long long) ids[index]);
        assert_int_equal (zhashx_insert (by_req, key, (void *) 1), 0);
    }
    //  Retrieve all pipelined; each result is its own payload.
    int64_t first = 0;
    for (int index = 0; index < COUNT; index++) {
        json_t *request = json_pack ("{s:s, s:s, s:I}", "op", "durable.retrieve", "executor",
                                     "bulk", "task_id", (json_int_t) ids[index]);
        int64_t req = zdex_client_send (client, request);
        if (index == 0)
            first = req;
        assert_int_equal (req, first + index);
    }
    for (int count = 0; count < COUNT; count++) {
        json_t *reply = zdex_client_recv (client, 30000);
        assert_non_null (reply);
        assert_true (json_is_true (json_object_get (reply, "ok")));
        int index = (int) (json_integer_value (json_object_get (reply, "req")) - first);
        assert_int_equal (
            json_integer_value (json_object_get (json_object_get (reply, "result"), "i")), index);
        json_decref (reply);
    }
    zhashx_destroy (&by_req);
    free (ids);
    free (reqs);
}

static void
test_out_of_order (void **state)
{
    zdex_client_t *client = ((fixture_t *) *state)->client;
    uint64_t slow, fast;
    json_t *slow_payload = json_pack ("{s:i, s:s}", "ms", 400, "name", "slow");
    json_t *fast_payload = json_pack ("{s:s}", "name", "fast");
    assert_int_equal (zdex_client_submit (client, NULL, "sleep", slow_payload, NULL, NULL, &slow),
                      0);
    assert_int_equal (zdex_client_submit (client, NULL, "echo", fast_payload, NULL, NULL, &fast),
                      0);
    //  Retrieve the slow one first, pipelined: the fast one's answer comes first.
    int64_t req_slow = zdex_client_send (
        client, json_pack ("{s:s, s:I}", "op", "durable.retrieve", "task_id", (json_int_t) slow));
    int64_t req_fast = zdex_client_send (
        client, json_pack ("{s:s, s:I}", "op", "durable.retrieve", "task_id", (json_int_t) fast));
    json_t *reply = zdex_client_recv (client, 10000);
    assert_non_null (reply);
    assert_int_equal (json_integer_value (json_object_get (reply, "req")), req_fast);
    assert_true (json_equal (json_object_get (reply, "result"), fast_payload));
    json_decref (reply);
    reply = zdex_client_recv (client, 10000);
    assert_non_null (reply);
    assert_int_equal (json_integer_value (json_object_get (reply, "req")), req_slow);
    assert_true (json_equal (json_object_get (reply, "result"), slow_payload));
    json_decref (reply);
    json_decref (slow_payload);
    json_decref (fast_payload);
}

static void
test_parked_retrieve_woken (void **state)
{
    zdex_client_t *client = ((fixture_t *) *state)->client;
    uint64_t id;
    json_t *payload = json_pack ("{s:i}", "ms", 300);
    assert_int_equal (zdex_client_submit (client, NULL, "sleep", payload, NULL, NULL, &id), 0);
    //  Not done yet: timeout_ms 0 answers at once.
    json_t *result = NULL;
    assert_int_equal (zdex_client_retrieve (client, NULL, id, 0, &result, NULL), -1);
    assert_string_equal (zdex_client_error_code (client), "TIMEOUT");
    //  Without timeout_ms the retrieve parks until the result is stored.
    int64_t start = zclock_mono ();
    assert_int_equal (zdex_client_retrieve (client, NULL, id, -1, &result, NULL), 0);
    assert_true (zclock_mono () - start < 5000);
    assert_true (json_equal (result, payload));
    json_decref (result);
    //  A second retrieve gets the same stored result.
    assert_int_equal (zdex_client_retrieve (client, NULL, id, 0, &result, NULL), 0);
    assert_true (json_equal (result, payload));
    json_decref (result);
    json_decref (payload);
}

static void
test_timeout_ms (void **state)
{
    zdex_client_t *client = ((fixture_t *) *state)->client;
    uint64_t id;
    json_t *payload = json_pack ("{s:i}", "ms", 2000);
    assert_int_equal (zdex_client_submit (client, NULL, "sleep", payload, NULL, NULL, &id), 0);
    int64_t start = zclock_mono ();
    assert_int_equal (zdex_client_retrieve (client, NULL, id, 200, NULL, NULL), -1);
    int64_t waited = zclock_mono () - start;
    assert_string_equal (zdex_client_error_code (client), "TIMEOUT");
    assert_true (waited >= 190 && waited < 1900);
    json_t *result = NULL;
    assert_int_equal (zdex_client_retrieve (client, NULL, id, 10000, &result, NULL), 0);
    assert_true (json_equal (result, payload));
    json_decref (result);
    json_decref (payload);
}

static void
test_capacity_one (void **state)
{
    zdex_client_t *client = ((fixture_t *) *state)->client;
    uint64_t first, second;
    json_t *payload = json_pack ("{s:i}", "ms", 500);
    assert_int_equal (zdex_client_submit (client, "cap1", "sleep", payload, "k", NULL, &first), 0);
    //  Same key, same partition, capacity 1: the second task in flight is rejected.
    assert_int_equal (zdex_client_submit (client, "cap1", "echo", NULL, "k", NULL, &second), -1);
    assert_string_equal (zdex_client_error_code (client), "REJECTED");
    assert_non_null (strstr (zdex_client_error_message (client), "Capacity (1)"));
    assert_int_equal (zdex_client_retrieve (client, "cap1", first, 10000, NULL, NULL), 0);
    //  Once the first is done its slot holds a result, which the next task overwrites.
    assert_int_equal (zdex_client_submit (client, "cap1", "echo", NULL, "k", NULL, &second), 0);
    assert_int_equal (second, first + 1);
    assert_int_equal (zdex_client_retrieve (client, "cap1", first, 0, NULL, NULL), -1);
    assert_string_equal (zdex_client_error_code (client), "STALE_TASK_ID");
    json_decref (payload);
}

static void
test_stale_and_disposed (void **state)
{
    zdex_client_t *client = ((fixture_t *) *state)->client;
    //  Never issued: unknown executor, sequence beyond the head, partition beyond the table.
    assert_int_equal (zdex_client_retrieve (client, "never-used", 5, 0, NULL, NULL), -1);
    assert_string_equal (zdex_client_error_code (client), "STALE_TASK_ID");
    assert_int_equal (zdex_client_retrieve (client, NULL, 4000000000ull, 0, NULL, NULL), -1);
    assert_string_equal (zdex_client_error_code (client), "STALE_TASK_ID");
    assert_int_equal (zdex_client_retrieve (client, NULL, (uint64_t) 271 << 32, 0, NULL, NULL), -1);
    assert_string_equal (zdex_client_error_code (client), "STALE_TASK_ID");
    assert_int_equal (zdex_client_dispose (client, NULL, (uint64_t) 270 << 32 | 77777), -1);
    assert_string_equal (zdex_client_error_code (client), "STALE_TASK_ID");

    uint64_t id;
    json_t *payload = json_string ("hello");
    json_t *result = NULL;
    bool disposed = true;
    assert_int_equal (zdex_client_submit (client, NULL, "echo", payload, NULL, NULL, &id), 0);
    assert_int_equal (zdex_client_retrieve (client, NULL, id, 10000, &result, &disposed), 0);
    assert_false (disposed);
    assert_true (json_equal (result, payload));
    json_decref (result);
    assert_int_equal (zdex_client_dispose (client, NULL, id), 0);
    assert_int_equal (zdex_client_retrieve (client, NULL, id, 0, &result, &disposed), 0);
    assert_true (disposed);
    assert_true (json_is_null (result));
    json_decref (result);
    //  Disposing again is harmless.
    assert_int_equal (zdex_client_dispose (client, NULL, id), 0);

    //  retrieve_and_dispose: the value once, then disposed.
    assert_int_equal (zdex_client_submit (client, NULL, "echo", payload, NULL, NULL, &id), 0);
    assert_int_equal (zdex_client_retrieve_and_dispose (client, NULL, id, 10000, &result, NULL), 0);
    assert_true (json_equal (result, payload));
    json_decref (result);
    assert_int_equal (zdex_client_retrieve (client, NULL, id, 0, &result, &disposed), 0);
    assert_true (disposed);
    json_decref (result);
    json_decref (payload);
}

static void
test_failing_task (void **state)
{
    zdex_client_t *client = ((fixture_t *) *state)->client;
    uint64_t id;
    json_t *payload = json_pack ("{s:s}", "message", "boom \"quoted\"");
    assert_int_equal (zdex_client_submit (client, NULL, "fail", payload, NULL, NULL, &id), 0);
    assert_int_equal (zdex_client_retrieve (client, NULL, id, 10000, NULL, NULL), -1);
    assert_string_equal (zdex_client_error_code (client), "TASK_FAILED");
    json_t *cause = zdex_client_error_cause (client);
    assert_non_null (cause);
    assert_string_equal (json_string_value (cause), "boom \"quoted\"");
    json_decref (payload);
}

static void
test_idempotent_resubmit (void **state)
{
    fixture_t *fixture = (fixture_t *) *state;
    zdex_client_t *client = fixture->client;
    uint64_t first, second;
    json_t *payload = json_pack ("{s:s}", "marker", "idempotent-once");
    assert_int_equal (zdex_client_submit (client, NULL, "echo", payload, NULL, "order-42", &first),
                      0);
    assert_int_equal (zdex_client_retrieve (client, NULL, first, 10000, NULL, NULL), 0);
    //  A retry with the same key returns the same id whatever it carries, and does
    //  not run again.
    assert_int_equal (zdex_client_submit (client, NULL, "fail", NULL, NULL, "order-42", &second),
                      0);
    assert_int_equal (first, second);
    json_t *result = NULL;
    assert_int_equal (zdex_client_retrieve (client, NULL, second, 0, &result, NULL), 0);
    assert_true (json_equal (result, payload));
    json_decref (result);
    //  The worker ran it exactly once.
    FILE *file = fopen (fixture->count_file, "r");
    assert_non_null (file);
    char line[4096];
    int runs = 0;
    char ref[64];
    snprintf (ref, sizeof ref, ",%llu]", (unsigned long long) first);
    while (fgets (line, sizeof line, file))
        if (strstr (line, ref) && strstr (line, "\"default\""))
            runs++;
    fclose (file);
    assert_int_equal (runs, 1);
    json_decref (payload);
}

static void
test_dispose_pending_and_stats (void **state)
{
    zdex_client_t *client = ((fixture_t *) *state)->client;
    //  No worker serves "nobody": the task waits, is disposed, never runs.
    uint64_t id;
    assert_int_equal (zdex_client_submit (client, "idle", "nobody", NULL, NULL, NULL, &id), 0);
    int64_t req =
        zdex_client_send (client, json_pack ("{s:s, s:s, s:I}", "op", "durable.retrieve",
                                             "executor", "idle", "task_id", (json_int_t) id));
    assert_int_equal (zdex_client_dispose (client, "idle", id), 0);
    //  The parked retrieve is woken with disposed: true.
    json_t *reply = zdex_client_recv (client, 10000);
    assert_non_null (reply);
    assert_int_equal (json_integer_value (json_object_get (reply, "req")), req);
    assert_true (json_is_true (json_object_get (reply, "disposed")));
    json_decref (reply);
    json_t *stats = NULL;
    assert_int_equal (zdex_client_stats (client, "idle", &stats), 0);
    json_t *mine = json_object_get (json_object_get (stats, "members"),
                                    ((fixture_t *) *state)->member.member_id);
    assert_non_null (mine);
    assert_int_equal (json_integer_value (json_object_get (mine, "cancelled")), 1);
    assert_int_equal (json_integer_value (json_object_get (mine, "pending")), 0);
    assert_int_equal (json_integer_value (json_object_get (mine, "started")), 0);
    json_decref (stats);

    //  One 200 ms task: started 1, completed 1, execution time >= 200.
    json_t *payload = json_pack ("{s:i}", "ms", 200);
    assert_int_equal (zdex_client_submit (client, "counted", "sleep", payload, NULL, NULL, &id), 0);
    assert_int_equal (zdex_client_retrieve (client, "counted", id, 10000, NULL, NULL), 0);
    assert_int_equal (zdex_client_stats (client, "counted", &stats), 0);
    mine = json_object_get (json_object_get (stats, "members"),
                            ((fixture_t *) *state)->member.member_id);
    assert_int_equal (json_integer_value (json_object_get (mine, "started")), 1);
    assert_int_equal (json_integer_value (json_object_get (mine, "completed")), 1);
    assert_int_equal (json_integer_value (json_object_get (mine, "pending")), 0);
    assert_int_equal (json_integer_value (json_object_get (mine, "cancelled")), 0);
    assert_true (json_integer_value (json_object_get (mine, "total_execution_time_ms")) >= 200);
    assert_true (json_integer_value (json_object_get (mine, "creation_time_ms")) > 1600000000000);
    json_decref (stats);
    json_decref (payload);
    //  Statistics disabled: no member entry.
    assert_int_equal (zdex_client_stats (client, "nostats", &stats), 0);
    assert_int_equal (json_object_size (json_object_get (stats, "members")), 0);
    json_decref (stats);
}

static void
test_shutdown (void **state)
{
    zdex_client_t *client = ((fixture_t *) *state)->client;
    bool shutdown = true, terminated = true;
    assert_int_equal (zdex_client_status (client, "sd", &shutdown, &terminated), 0);
    assert_false (shutdown);
    assert_false (terminated);
    uint64_t waiting[3];
    for (int index = 0; index < 3; index++)
        assert_int_equal (
            zdex_client_submit (client, "sd", "nobody", NULL, NULL, NULL, &waiting[index]), 0);
    json_t *not_started = NULL;
    assert_int_equal (zdex_client_shutdown_now (client, "sd", &not_started), 0);
    assert_int_equal (json_array_size (not_started), 3);
    for (int index = 0; index < 3; index++) {
        bool found = false;
        for (size_t at = 0; at < 3; at++)
            found |=
                (uint64_t) json_integer_value (json_array_get (not_started, at)) == waiting[index];
        assert_true (found);
        bool disposed = false;
        assert_int_equal (zdex_client_retrieve (client, "sd", waiting[index], 0, NULL, &disposed),
                          0);
        assert_true (disposed);
    }
    json_decref (not_started);
    assert_int_equal (zdex_client_submit (client, "sd", "echo", NULL, NULL, NULL, NULL), -1);
    assert_string_equal (zdex_client_error_code (client), "REJECTED");
    assert_int_equal (zdex_client_status (client, "sd", &shutdown, &terminated), 0);
    assert_true (shutdown);
    assert_true (terminated);

    //  Plain shutdown lets a queued task finish; terminated once it has.
    uint64_t id;
    json_t *payload = json_pack ("{s:i}", "ms", 300);
    assert_int_equal (zdex_client_submit (client, "sd2", "sleep", payload, NULL, NULL, &id), 0);
    assert_int_equal (zdex_client_shutdown (client, "sd2"), 0);
    assert_int_equal (zdex_client_execute (client, "sd2", "echo", NULL, NULL, NULL), -1);
    assert_string_equal (zdex_client_error_code (client), "REJECTED");
    assert_int_equal (zdex_client_retrieve (client, "sd2", id, 10000, NULL, NULL), 0);
    assert_int_equal (zdex_client_status (client, "sd2", &shutdown, &terminated), 0);
    assert_true (shutdown && terminated);
    json_decref (payload);
}

static void
test_execute_and_ping (void **state)
{
    fixture_t *fixture = (fixture_t *) *state;
    zdex_client_t *client = fixture->client;
    assert_int_equal (zdex_client_execute (client, NULL, "echo", NULL, NULL, NULL), 0);
    json_t *reply = NULL;
    assert_int_equal (zdex_client_ping (client, &reply), 0);
    assert_string_equal (json_string_value (json_object_get (reply, "member_id")),
                         fixture->member.member_id);
    assert_string_equal (json_string_value (json_object_get (reply, "version")), "0.1.0");
    json_decref (reply);
    //  cluster.workers waits for min_workers, bounded by timeout_ms.
    json_t *request =
        json_pack ("{s:s, s:i, s:i}", "op", "cluster.workers", "min_workers", 3, "timeout_ms", 100);
    int64_t start = zclock_mono ();
    json_t *answer = zdex_client_call (client, request, 5000);
    assert_non_null (answer);
    assert_string_equal (zdex_client_error_code (client), "TIMEOUT");
    assert_true (zclock_mono () - start >= 90);
    json_decref (answer);
    json_object_set_new (request, "min_workers", json_integer (2));
    answer = zdex_client_call (client, request, 5000);
    assert_true (json_is_true (json_object_get (answer, "ok")));
    assert_int_equal (json_array_size (json_object_get (answer, "workers")), 2);
    json_decref (answer);
    json_decref (request);
    //  A REQ socket gets the same reply through its envelope.
    zsock_t *req = zsock_new_req (fixture->member.client);
    zsock_set_rcvtimeo (req, 10000);
    zstr_send (req, "{\"op\":\"cluster.members\",\"req\":\"r1\"}");
    char *text = zstr_recv (req);
    assert_non_null (text);
    json_t *members = json_loads (text, 0, NULL);
    assert_string_equal (json_string_value (json_object_get (members, "req")), "r1");
    assert_int_equal (json_integer_value (json_object_get (members, "partition_count")), 271);
    assert_int_equal (json_array_size (json_object_get (members, "members")), 1);
    json_decref (members);
    zstr_free (&text);
    zsock_destroy (&req);
}

//  durable.submit_and_retrieve: one request, answered with the task's id and
//  result, and every way it can end.
static void
test_submit_and_retrieve (void **state)
{
    fixture_t *fixture = (fixture_t *) *state;
    zdex_client_t *client = fixture->client;
    json_t *payload = json_pack ("{s:s}", "marker", "one round trip");
    uint64_t id = 0;
    json_t *result = NULL;
    assert_int_equal (zdex_client_submit_and_retrieve (client, NULL, "echo", payload, NULL, NULL,
                                                       -1, false, &id, &result),
                      0);
    assert_true (json_equal (result, payload));
    json_decref (result);
    //  The slot keeps the result: a retrieve by the id gets it again.
    assert_int_equal (zdex_client_retrieve (client, NULL, id, 0, &result, NULL), 0);
    assert_true (json_equal (result, payload));
    json_decref (result);

    //  auto_dispose frees the slot once answered.
    assert_int_equal (zdex_client_submit_and_retrieve (client, NULL, "echo", payload, NULL, NULL,
                                                       10000, true, &id, &result),
                      0);
    assert_true (json_equal (result, payload));
    json_decref (result);
    bool disposed = false;
    assert_int_equal (zdex_client_retrieve (client, NULL, id, 0, &result, &disposed), 0);
    assert_true (disposed);
    json_decref (result);

    //  A failure names the task and its cause.
    json_t *failing = json_pack ("{s:s}", "message", "no such image");
    //  Task id 0 is a real id (partition 0, sequence 0): "none" is UINT64_MAX.
    id = UINT64_MAX;
    assert_int_equal (zdex_client_submit_and_retrieve (client, NULL, "fail", failing, NULL, NULL,
                                                       -1, false, &id, NULL),
                      -1);
    assert_string_equal (zdex_client_error_code (client), "TASK_FAILED");
    assert_string_equal (json_string_value (zdex_client_error_cause (client)), "no such image");
    assert_true (id != UINT64_MAX);
    assert_int_equal (zdex_client_retrieve (client, NULL, id, 0, NULL, NULL), -1);
    assert_string_equal (zdex_client_error_code (client), "TASK_FAILED");
    json_decref (failing);

    //  TIMEOUT names the task, which goes on and can be retrieved later; with
    //  timeout_ms 0 it is answered as soon as the task is stored.
    json_t *slow = json_pack ("{s:i}", "ms", 300);
    for (int64_t timeout_ms = 0; timeout_ms <= 50; timeout_ms += 50) {
        id = UINT64_MAX;
        assert_int_equal (zdex_client_submit_and_retrieve (client, NULL, "sleep", slow, NULL, NULL,
                                                           timeout_ms, false, &id, NULL),
                          -1);
        assert_string_equal (zdex_client_error_code (client), "TIMEOUT");
        assert_true (id != UINT64_MAX);
        assert_int_equal (zdex_client_retrieve (client, NULL, id, 10000, &result, NULL), 0);
        assert_true (json_equal (result, slow));
        json_decref (result);
    }
    json_decref (slow);

    //  A retry with the same idempotency_key is answered from the original task,
    //  which runs once, whatever the retry carries.
    uint64_t first = 0, second = 0;
    assert_int_equal (zdex_client_submit_and_retrieve (client, NULL, "echo", payload, NULL,
                                                       "sar-once", -1, false, &first, NULL),
                      0);
    assert_int_equal (zdex_client_submit_and_retrieve (client, NULL, "fail", NULL, NULL, "sar-once",
                                                       -1, false, &second, &result),
                      0);
    assert_int_equal (first, second);
    assert_true (json_equal (result, payload));
    json_decref (result);

    //  A waiting submit_and_retrieve is woken by a dispose of its task: no worker
    //  serves "nobody", and a plain submit with the same idempotency_key tells
    //  the id.
    json_t *request =
        json_pack ("{s:s, s:s, s:{s:s}, s:s}", "op", "durable.submit_and_retrieve", "executor",
                   "idle-sar", "task", "type", "nobody", "idempotency_key", "sar-disposed");
    int64_t req = zdex_client_send (client, request);
    assert_true (req > 0);
    assert_int_equal (
        zdex_client_submit (client, "idle-sar", "nobody", NULL, NULL, "sar-disposed", &id), 0);
    assert_int_equal (zdex_client_dispose (client, "idle-sar", id), 0);
    json_t *reply = zdex_client_recv (client, 10000);
    assert_non_null (reply);
    assert_int_equal (json_integer_value (json_object_get (reply, "req")), req);
    assert_true (json_is_true (json_object_get (reply, "ok")));
    assert_true (json_is_true (json_object_get (reply, "disposed")));
    assert_int_equal (json_integer_value (json_object_get (reply, "task_id")), (json_int_t) id);
    json_decref (reply);
    json_decref (payload);
}

int
main (void)
{
    zsys_init ();
    zsys_handler_set (NULL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_execute_and_ping),
        cmocka_unit_test (test_parked_retrieve_woken),
        cmocka_unit_test (test_out_of_order),
        cmocka_unit_test (test_timeout_ms),
        cmocka_unit_test (test_capacity_one),
        cmocka_unit_test (test_stale_and_disposed),
        cmocka_unit_test (test_failing_task),
        cmocka_unit_test (test_submit_and_retrieve),
        cmocka_unit_test (test_idempotent_resubmit),
        cmocka_unit_test (test_dispose_pending_and_stats),
        cmocka_unit_test (test_shutdown),
        cmocka_unit_test (test_pipelined_10000),
    };
    return cmocka_run_group_tests (tests, s_setup, s_teardown);
}
