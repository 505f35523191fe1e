//  Scheduled executor scenarios (../shared/reference/hazelcast.md §5.2), against
//  real zdexd members and zdex-worker processes on loopback.  The number in each
//  test's comment is the scenario it covers.

#include "harness.h"
#include "zdex_hash.h"

#include <czmq.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

#define MEMBERS 3

typedef struct {
    harness_member_t members[MEMBERS];
    int count;
    pid_t worker;
    char config[512];
    char count_file[512];
} cluster_t;

static void
s_start (cluster_t *cluster, int count)
{
    memset (cluster, 0, sizeof *cluster);
    static int serial = 0;
    serial++;
    snprintf (cluster->config, sizeof cluster->config, "%s/scheduled-%d.json", harness_tmpdir (),
              serial);
    snprintf (cluster->count_file, sizeof cluster->count_file, "%s/scheduled-runs-%d.txt",
              harness_tmpdir (), serial);
    FILE *file = fopen (cluster->config, "w");
    assert_non_null (file);
    fprintf (file, "{\"scheduled_executors\": {"
                   "\"default\": {\"capacity\": 1000},"
                   "\"cap\": {\"capacity\": 3},"
                   "\"pcap\": {\"capacity\": 2, \"capacity_policy\": \"per_partition\"},"
                   "\"unlimited\": {\"capacity\": 0}}}\n");
    fclose (file);
    for (int index = 0; index < count; index++) {
        char id[16];
        snprintf (id, sizeof id, "m%d", index + 1);
        const char *args[] = {"--config", cluster->config,         "--member-id",
                              id,         index ? "--seed" : NULL, cluster->members[0].cluster,
                              NULL};
        assert_int_equal (harness_member_start (&cluster->members[index], args), 0);
    }
    cluster->count = count;
    for (int index = 0; index < count; index++)
        assert_int_equal (harness_wait_members (cluster->members[index].client, count, 10000), 0);
    char endpoints[1024] = "";
    for (int index = 0; index < count; index++) {
        strcat (endpoints, index ? "," : "");
        strcat (endpoints, cluster->members[index].worker);
    }
    cluster->worker = harness_worker_start (endpoints, 32, "w1", cluster->count_file);
    assert_true (cluster->worker > 0);
    for (int index = 0; index < count; index++)
        assert_int_equal (harness_wait_workers (cluster->members[index].client, 1, 10000), 0);
}

static void
s_stop (cluster_t *cluster)
{
    harness_stop (cluster->worker, SIGTERM, 10000);
    for (int index = 0; index < cluster->count; index++)
        if (cluster->members[index].pid > 0) {
            int status = harness_stop (cluster->members[index].pid, SIGTERM, 20000);
            assert_true (WIFEXITED (status) && WEXITSTATUS (status) == 0);
        }
}

static zdex_client_t *
s_client (cluster_t *cluster)
{
    zdex_client_t *client = NULL;
    for (int index = 0; index < cluster->count; index++)
        if (cluster->members[index].pid > 0) {
            if (!client)
                client = zdex_client_new (cluster->members[index].client);
            else
                zdex_client_connect (client, cluster->members[index].client);
        }
    assert_non_null (client);
    zdex_client_set_timeout (client, 30000);
    return client;
}

//  Send a request built by json_pack and return the reply (never NULL).
static json_t *
s_call (zdex_client_t *client, json_t *request)
{
    assert_non_null (request);
    json_t *reply = zdex_client_call (client, request, -1);
    json_decref (request);
    assert_non_null (reply);
    return reply;
}

static void
s_expect_ok (json_t *reply)
{
    if (!json_is_true (json_object_get (reply, "ok"))) {
        char *text = json_dumps (reply, 0);
        fail_msg ("expected ok, got %s", text);
    }
}

static void
s_expect_error (json_t *reply, const char *code)
{
    const char *got =
        json_string_value (json_object_get (json_object_get (reply, "error"), "code"));
    if (!got || strcmp (got, code) != 0) {
        char *text = json_dumps (reply, 0);
        fail_msg ("expected %s, got %s", code, text);
    }
}

static const char *
s_message (json_t *reply)
{
    return json_string_value (json_object_get (json_object_get (reply, "error"), "message"));
}

//  Schedule and return the handler (caller owns).
static char *
s_schedule (zdex_client_t *client, json_t *request)
{
    json_t *reply = s_call (client, request);
    s_expect_ok (reply);
    const char *handler = json_string_value (json_object_get (reply, "handler"));
    assert_non_null (handler);
    char *copy = strdup (handler);
    json_decref (reply);
    return copy;
}

static json_t *
s_on (zdex_client_t *client, const char *op, const char *handler)
{
    return s_call (client, json_pack ("{s:s, s:s}", "op", op, "handler", handler));
}

static json_t *
s_status (zdex_client_t *client, const char *handler)
{
    json_t *reply = s_on (client, "scheduled.status", handler);
    s_expect_ok (reply);
    return reply;
}

static json_int_t
s_runs (zdex_client_t *client, const char *handler)
{
    json_t *reply = s_status (client, handler);
    json_int_t runs =
        json_integer_value (json_object_get (json_object_get (reply, "stats"), "total_runs"));
    json_decref (reply);
    return runs;
}

//  Wait (bounded) until a task has at least `runs` finished runs.
static void
s_wait_runs (zdex_client_t *client, const char *handler, json_int_t runs, int timeout_ms)
{
    int64_t deadline = zclock_mono () + timeout_ms;
    while (s_runs (client, handler) < runs) {
        assert_true (zclock_mono () < deadline);
        zclock_sleep (50); //  polling a status: there is no event to wait on
    }
}

static json_t *
s_task (const char *type, json_t *payload)
{
    return json_pack ("{s:s, s:o}", "type", type, "payload", payload ? payload : json_null ());
}

//  ---------------------------------------------------------------------------------
//  One member

static int
s_setup_one (void **state)
{
    cluster_t *cluster = (cluster_t *) calloc (1, sizeof (cluster_t));
    s_start (cluster, 1);
    *state = cluster;
    return 0;
}

static int
s_setup_three (void **state)
{
    cluster_t *cluster = (cluster_t *) calloc (1, sizeof (cluster_t));
    s_start (cluster, 3);
    *state = cluster;
    return 0;
}

static int
s_teardown (void **state)
{
    cluster_t *cluster = (cluster_t *) *state;
    s_stop (cluster);
    harness_kill_all ();
    free (cluster);
    return 0;
}

//  29, 30, 31, 32: one-shot with delay, negative delay, get with timeout, delay.
static void
test_one_shot (void **state)
{
    zdex_client_t *client = s_client ((cluster_t *) *state);
    int64_t start = zclock_mono ();
    char *handler =
        s_schedule (client, json_pack ("{s:s, s:o, s:i}", "op", "scheduled.schedule", "task",
                                       s_task ("echo", json_real (25.0)), "delay_ms", 500));
    json_t *reply =
        s_call (client, json_pack ("{s:s, s:s}", "op", "scheduled.get", "handler", handler));
    s_expect_ok (reply);
    assert_true (json_real_value (json_object_get (reply, "result")) == 25.0);
    assert_true (zclock_mono () - start >= 450);
    json_decref (reply);
    reply = s_status (client, handler);
    assert_true (json_is_true (json_object_get (reply, "done")));
    assert_true (json_is_false (json_object_get (reply, "cancelled")));
    assert_int_equal (
        json_integer_value (json_object_get (json_object_get (reply, "stats"), "total_runs")), 1);
    json_decref (reply);
    free (handler);

    //  Negative delay: runs at once.
    handler =
        s_schedule (client, json_pack ("{s:s, s:o, s:i}", "op", "scheduled.schedule", "task",
                                       s_task ("echo", json_string ("now")), "delay_ms", -1000));
    reply = s_call (client, json_pack ("{s:s, s:s, s:i}", "op", "scheduled.get", "handler", handler,
                                       "timeout_ms", 5000));
    s_expect_ok (reply);
    assert_string_equal (json_string_value (json_object_get (reply, "result")), "now");
    json_decref (reply);
    free (handler);

    //  Twenty minutes ahead: get(200 ms) times out, the delay reads 19..20 minutes.
    handler =
        s_schedule (client, json_pack ("{s:s, s:o, s:I}", "op", "scheduled.schedule", "task",
                                       s_task ("echo", NULL), "delay_ms", (json_int_t) 1200000));
    reply = s_call (client, json_pack ("{s:s, s:s, s:i}", "op", "scheduled.get", "handler", handler,
                                       "timeout_ms", 200));
    s_expect_error (reply, "TIMEOUT");
    json_decref (reply);
    reply = s_status (client, handler);
    json_int_t delay = json_integer_value (json_object_get (reply, "delay_ms"));
    assert_true (delay > 19 * 60000 && delay <= 20 * 60000);
    assert_true (json_is_false (json_object_get (reply, "done")));
    json_decref (reply);
    json_decref (s_on (client, "scheduled.dispose", handler));
    free (handler);
    zdex_client_destroy (&client);
}

//  33, 34: fixed rate runs every period; a tick while the run goes on is skipped.
static void
test_fixed_rate (void **state)
{
    zdex_client_t *client = s_client ((cluster_t *) *state);
    char *handler =
        s_schedule (client, json_pack ("{s:s, s:s, s:o, s:i, s:i}", "op", "scheduled.schedule",
                                       "name", "ticker", "task", s_task ("echo", NULL), "delay_ms",
                                       0, "period_ms", 200));
    s_wait_runs (client, handler, 3, 5000);
    json_t *reply = s_on (client, "scheduled.cancel", handler);
    s_expect_ok (reply);
    assert_true (json_is_true (json_object_get (reply, "cancelled")));
    json_decref (reply);
    json_int_t runs = s_runs (client, handler);
    zclock_sleep (700); //  three periods: no run may start after the cancel
    assert_true (s_runs (client, handler) <= runs + 1);
    reply = s_status (client, handler);
    assert_true (json_is_true (json_object_get (reply, "cancelled")));
    assert_true (json_is_true (json_object_get (reply, "done")));
    json_decref (reply);
    json_decref (s_on (client, "scheduled.dispose", handler));
    free (handler);

    //  Period 200 ms, body 700 ms: without skipping, 2.2 s would start ~11 runs;
    //  with skipping at most one run is ever out, so at most 4 start.
    int64_t start = zclock_mono ();
    handler =
        s_schedule (client, json_pack ("{s:s, s:o, s:i, s:i}", "op", "scheduled.schedule", "task",
                                       s_task ("sleep", json_pack ("{s:i}", "ms", 700)), "delay_ms",
                                       0, "period_ms", 200));
    s_wait_runs (client, handler, 2, 5000);
    while (zclock_mono () - start < 2200)
        zclock_sleep (50);
    json_decref (s_on (client, "scheduled.cancel", handler));
    json_int_t total = s_runs (client, handler);
    assert_true (total >= 2 && total <= 4);
    json_decref (s_on (client, "scheduled.dispose", handler));
    free (handler);
    zdex_client_destroy (&client);
}

//  35, 36: the first failure ends a periodic task and is its result.
static void
test_failures (void **state)
{
    zdex_client_t *client = s_client ((cluster_t *) *state);
    char *handler =
        s_schedule (client, json_pack ("{s:s, s:o, s:i, s:i}", "op", "scheduled.schedule", "task",
                                       s_task ("fail", json_pack ("{s:s}", "message", "boom")),
                                       "delay_ms", 0, "period_ms", 100));
    json_t *reply = s_on (client, "scheduled.get", handler);
    s_expect_error (reply, "TASK_FAILED");
    assert_string_equal (
        json_string_value (json_object_get (json_object_get (reply, "error"), "cause")), "boom");
    json_decref (reply);
    zclock_sleep (400); //  four periods: no further run
    assert_int_equal (s_runs (client, handler), 1);
    free (handler);

    handler = s_schedule (client, json_pack ("{s:s, s:o, s:i}", "op", "scheduled.schedule", "task",
                                             s_task ("fail", NULL), "delay_ms", 0));
    reply = s_on (client, "scheduled.get", handler);
    s_expect_error (reply, "TASK_FAILED");
    json_decref (reply);
    free (handler);
    zdex_client_destroy (&client);
}

//  A get of handler, then op on it, pipelined on one client: the member takes
//  them in order from one connection, so the get is parked when op arrives (no
//  sleep needed).  replies[0] answers the get, replies[1] the op.
static void
s_get_then (zdex_client_t *client, const char *handler, const char *op, json_t *replies[2])
{
    int64_t get = zdex_client_send (
        client, json_pack ("{s:s, s:s}", "op", "scheduled.get", "handler", handler));
    int64_t then =
        zdex_client_send (client, json_pack ("{s:s, s:s}", "op", op, "handler", handler));
    assert_true (get > 0 && then > 0);
    replies[0] = replies[1] = NULL;
    for (int count = 0; count < 2; count++) {
        json_t *reply = zdex_client_recv (client, 5000);
        assert_non_null (reply);
        json_int_t req = json_integer_value (json_object_get (reply, "req"));
        assert_true (req == get || req == then);
        replies[req == get ? 0 : 1] = reply;
    }
    assert_non_null (replies[0]);
    assert_non_null (replies[1]);
}

//  37, 39: cancel before a run and during one; a parked get is woken by cancel.
static void
test_cancel (void **state)
{
    cluster_t *cluster = (cluster_t *) *state;
    zdex_client_t *client = s_client (cluster);
    char *handler =
        s_schedule (client, json_pack ("{s:s, s:o, s:i}", "op", "scheduled.schedule", "task",
                                       s_task ("echo", NULL), "delay_ms", 60000));
    //  A get parked on the task is answered by the cancel (Hazelcast leaves it).
    zdex_client_t *waiter = s_client (cluster);
    json_t *replies[2];
    s_get_then (waiter, handler, "scheduled.cancel", replies);
    s_expect_error (replies[0], "CANCELLED");
    assert_true (json_is_true (json_object_get (replies[1], "cancelled")));
    json_decref (replies[0]);
    json_decref (replies[1]);
    json_t *reply = s_on (client, "scheduled.get", handler);
    s_expect_error (reply, "CANCELLED");
    json_decref (reply);
    reply = s_status (client, handler);
    assert_true (json_is_true (json_object_get (reply, "done")));
    assert_true (json_is_true (json_object_get (reply, "cancelled")));
    json_decref (reply);
    //  Cancelling again: false.
    reply = s_on (client, "scheduled.cancel", handler);
    assert_true (json_is_false (json_object_get (reply, "cancelled")));
    json_decref (reply);
    free (handler);

    //  During a run: the run finishes, the task stays cancelled.
    int lines = harness_count_lines (cluster->count_file);
    handler = s_schedule (client, json_pack ("{s:s, s:o, s:i}", "op", "scheduled.schedule", "task",
                                             s_task ("sleep", json_pack ("{s:i}", "ms", 800)),
                                             "delay_ms", 0));
    int64_t deadline = zclock_mono () + 5000;
    //  The worker logs a line as the run starts.
    while (harness_count_lines (cluster->count_file) == lines && zclock_mono () < deadline)
        zclock_sleep (20);
    reply = s_on (client, "scheduled.cancel", handler);
    assert_true (json_is_true (json_object_get (reply, "cancelled")));
    json_decref (reply);
    s_wait_runs (client, handler, 1, 5000);
    reply = s_on (client, "scheduled.get", handler);
    s_expect_error (reply, "CANCELLED");
    json_decref (reply);
    free (handler);
    zdex_client_destroy (&waiter);
    zdex_client_destroy (&client);
}

//  42, 43: dispose, then every op is STALE_TASK; a parked get is woken by dispose.
static void
test_dispose (void **state)
{
    cluster_t *cluster = (cluster_t *) *state;
    zdex_client_t *client = s_client (cluster);
    char *handler =
        s_schedule (client, json_pack ("{s:s, s:s, s:o, s:i}", "op", "scheduled.schedule", "name",
                                       "doomed", "task", s_task ("echo", NULL), "delay_ms", 60000));
    zdex_client_t *waiter = s_client (cluster);
    json_t *replies[2];
    s_get_then (waiter, handler, "scheduled.dispose", replies);
    s_expect_error (replies[0], "STALE_TASK");
    assert_string_equal (s_message (replies[0]), "Task with name doomed not found.");
    s_expect_ok (replies[1]);
    json_decref (replies[0]);
    json_decref (replies[1]);
    json_t *reply;
    const char *ops[] = {"scheduled.get", "scheduled.cancel", "scheduled.status",
                         "scheduled.dispose"};
    for (size_t index = 0; index < 4; index++) {
        reply = s_on (client, ops[index], handler);
        s_expect_error (reply, "STALE_TASK");
        json_decref (reply);
    }
    free (handler);
    zdex_client_destroy (&waiter);
    zdex_client_destroy (&client);
}

//  44, 45, 46: duplicate names, handler contents and round trip, key placement.
static void
test_names_and_handlers (void **state)
{
    zdex_client_t *client = s_client ((cluster_t *) *state);
    char *handler =
        s_schedule (client, json_pack ("{s:s, s:s, s:s, s:o, s:i}", "op", "scheduled.schedule",
                                       "scheduler", "names", "name", "Test", "task",
                                       s_task ("echo", NULL), "delay_ms", 60000));
    json_t *reply = s_call (
        client, json_pack ("{s:s, s:s, s:s, s:o, s:i}", "op", "scheduled.schedule", "scheduler",
                           "names", "name", "Test", "task", s_task ("echo", NULL), "delay_ms", 1));
    s_expect_error (reply, "DUPLICATE_TASK");
    assert_string_equal (s_message (reply),
                         "There is already a task with the same name 'Test' in 'names'");
    json_decref (reply);
    //  The handler names the scheduler, the task and the name's partition.
    char expected[256];
    snprintf (expected, sizeof expected, "urn:zdex:scheduled:partition=%u:names:Test",
              zdex_hash_partition ("Test", 271));
    assert_string_equal (handler, expected);
    free (handler);
    //  A key places the task on the key's partition; names may hold ':'.
    handler =
        s_schedule (client, json_pack ("{s:s, s:s, s:s, s:s, s:o, s:i}", "op", "scheduled.schedule",
                                       "scheduler", "names", "name", "a:b", "key", "TestKey",
                                       "task", s_task ("echo", json_integer (7)), "delay_ms", 0));
    snprintf (expected, sizeof expected, "urn:zdex:scheduled:partition=%u:names:a:b",
              zdex_hash_partition ("TestKey", 271));
    assert_string_equal (handler, expected);
    reply = s_on (client, "scheduled.get", handler);
    s_expect_ok (reply);
    assert_int_equal (json_integer_value (json_object_get (reply, "result")), 7);
    json_decref (reply);
    free (handler);
    //  Malformed handlers and names that would break the format.
    const char *bad[] = {"urn:zdex:scheduled:partition=x:names:a", "urn:other",
                         "urn:zdex:scheduled:partition=1:names"};
    for (size_t index = 0; index < 3; index++) {
        reply = s_on (client, "scheduled.get", bad[index]);
        s_expect_error (reply, "BAD_REQUEST");
        json_decref (reply);
    }
    reply =
        s_call (client, json_pack ("{s:s, s:s, s:o, s:i}", "op", "scheduled.schedule", "scheduler",
                                   "a:b", "task", s_task ("echo", NULL), "delay_ms", 0));
    s_expect_error (reply, "BAD_REQUEST");
    json_decref (reply);
    //  An unnamed task gets a UUID.
    handler = s_schedule (client, json_pack ("{s:s, s:o, s:i}", "op", "scheduled.schedule", "task",
                                             s_task ("echo", NULL), "delay_ms", 60000));
    const char *name = strrchr (handler, ':') + 1;
    assert_int_equal (strlen (name), 36);
    json_decref (s_on (client, "scheduled.dispose", handler));
    free (handler);
    zdex_client_destroy (&client);
}

//  47, 60, 61, 64, 65, 66: member-owned tasks, capacity, auto-dispose, shutdown.
static void
test_capacity_and_members (void **state)
{
    cluster_t *cluster = (cluster_t *) *state;
    zdex_client_t *client = s_client (cluster);
    //  Member-owned.
    char *handler = s_schedule (
        client, json_pack ("{s:s, s:s, s:o, s:i}", "op", "scheduled.schedule", "member", "m1",
                           "task", s_task ("echo", json_real (25.0)), "delay_ms", 0));
    assert_non_null (strstr (handler, "urn:zdex:scheduled:member=m1:default:"));
    json_t *reply = s_on (client, "scheduled.get", handler);
    s_expect_ok (reply);
    json_decref (reply);
    json_decref (s_on (client, "scheduled.dispose", handler));
    free (handler);

    //  Per member: 3 fit, the 4th is rejected; a dispose makes room.
    char *handlers[4];
    for (int index = 0; index < 3; index++)
        handlers[index] = s_schedule (
            client, json_pack ("{s:s, s:s, s:o, s:i}", "op", "scheduled.schedule", "scheduler",
                               "cap", "task", s_task ("echo", NULL), "delay_ms", 60000));
    reply = s_call (client, json_pack ("{s:s, s:s, s:s, s:o, s:i}", "op", "scheduled.schedule",
                                       "scheduler", "cap", "member", "m1", "task",
                                       s_task ("echo", NULL), "delay_ms", 60000));
    s_expect_error (reply, "REJECTED");
    assert_string_equal (s_message (reply),
                         "Maximum capacity (3) of tasks reached for this member and scheduled "
                         "executor (cap). Reminder, that tasks must be disposed if not needed.");
    json_decref (reply);
    json_decref (s_on (client, "scheduled.dispose", handlers[0]));
    free (handlers[0]);
    handlers[0] = s_schedule (client, json_pack ("{s:s, s:s, s:o, s:i}", "op", "scheduled.schedule",
                                                 "scheduler", "cap", "task", s_task ("echo", NULL),
                                                 "delay_ms", 60000));
    for (int index = 0; index < 3; index++) {
        json_decref (s_on (client, "scheduled.dispose", handlers[index]));
        free (handlers[index]);
    }

    //  Per partition: 2 on one key, the 3rd rejected; another key's partition fits.
    for (int index = 0; index < 3; index++) {
        reply = s_call (client, json_pack ("{s:s, s:s, s:s, s:o, s:i}", "op", "scheduled.schedule",
                                           "scheduler", "pcap", "key", "k1", "task",
                                           s_task ("echo", NULL), "delay_ms", 60000));
        if (index < 2)
            s_expect_ok (reply);
        else {
            s_expect_error (reply, "REJECTED");
            char expected[256];
            snprintf (expected, sizeof expected,
                      "Maximum capacity (2) of tasks reached for partition (%u) and scheduled "
                      "executor (pcap). Reminder, that tasks must be disposed if not needed.",
                      zdex_hash_partition ("k1", 271));
            assert_string_equal (s_message (reply), expected);
        }
        json_decref (reply);
    }
    const char *other =
        zdex_hash_partition ("k2", 271) != zdex_hash_partition ("k1", 271) ? "k2" : "k3";
    reply = s_call (client, json_pack ("{s:s, s:s, s:s, s:o, s:i}", "op", "scheduled.schedule",
                                       "scheduler", "pcap", "key", other, "task",
                                       s_task ("echo", NULL), "delay_ms", 60000));
    s_expect_ok (reply);
    json_decref (reply);

    //  Capacity 0: unlimited.
    for (int index = 0; index < 101; index++) {
        reply = s_call (client, json_pack ("{s:s, s:s, s:s, s:o, s:i}", "op", "scheduled.schedule",
                                           "scheduler", "unlimited", "key", "one", "task",
                                           s_task ("echo", NULL), "delay_ms", 60000));
        s_expect_ok (reply);
        json_decref (reply);
    }

    //  Auto-dispose: gone once done, and its capacity is free again.
    for (int index = 0; index < 6; index++) {
        handler =
            s_schedule (client, json_pack ("{s:s, s:s, s:o, s:i, s:b}", "op", "scheduled.schedule",
                                           "scheduler", "cap", "task", s_task ("echo", NULL),
                                           "delay_ms", 0, "auto_dispose", 1));
        int64_t deadline = zclock_mono () + 5000;
        while (true) {
            reply = s_on (client, "scheduled.status", handler);
            bool gone = !json_is_true (json_object_get (reply, "ok"));
            if (gone)
                s_expect_error (reply, "STALE_TASK");
            json_decref (reply);
            if (gone)
                break;
            assert_true (zclock_mono () < deadline);
            zclock_sleep (20);
        }
        free (handler);
    }

    //  Shutdown: later schedules are rejected.
    reply =
        s_call (client, json_pack ("{s:s, s:s}", "op", "scheduled.shutdown", "scheduler", "cap"));
    s_expect_ok (reply);
    json_decref (reply);
    reply =
        s_call (client, json_pack ("{s:s, s:s, s:o, s:i}", "op", "scheduled.schedule", "scheduler",
                                   "cap", "task", s_task ("echo", NULL), "delay_ms", 0));
    s_expect_error (reply, "REJECTED");
    assert_string_equal (s_message (reply), "Executor is shut down.");
    json_decref (reply);
    zdex_client_destroy (&client);
}

//  Run the CLI (ZDEX_CLI, set by ctest) with arguments; its stdout's JSON (caller
//  owns), or NULL.
static json_t *
s_cli (const char *endpoint, const char *arguments)
{
    const char *cli = getenv ("ZDEX_CLI");
    assert_non_null (cli);
    char command[2048];
    snprintf (command, sizeof command, "%s --connect %s %s", cli, endpoint, arguments);
    FILE *pipe = popen (command, "r");
    assert_non_null (pipe);
    char output[4096] = "";
    size_t size = fread (output, 1, sizeof output - 1, pipe);
    output[size] = 0;
    pclose (pipe);
    return json_loads (output, 0, NULL);
}

//  The CLI speaks every scheduled op a user types.
static void
test_cli (void **state)
{
    cluster_t *cluster = (cluster_t *) *state;
    const char *endpoint = cluster->members[0].client;
    json_t *reply =
        s_cli (endpoint, "schedule echo '{\"x\":1}' --scheduler cli --name job --delay 100");
    assert_non_null (reply);
    const char *handler = json_string_value (json_object_get (reply, "handler"));
    assert_non_null (handler);
    char *urn = strdup (handler);
    json_decref (reply);
    char arguments[1024];
    snprintf (arguments, sizeof arguments, "get %s", urn);
    reply = s_cli (endpoint, arguments);
    assert_non_null (reply);
    assert_int_equal (json_integer_value (json_object_get (json_object_get (reply, "result"), "x")),
                      1);
    json_decref (reply);
    snprintf (arguments, sizeof arguments, "status %s", urn);
    reply = s_cli (endpoint, arguments);
    assert_true (json_is_true (json_object_get (reply, "done")));
    json_decref (reply);
    reply = s_cli (endpoint, "get-all --scheduler cli");
    assert_non_null (reply);
    assert_int_equal (json_array_size (json_object_get (json_object_get (reply, "members"), "m1")),
                      1);
    json_decref (reply);
    snprintf (arguments, sizeof arguments, "dispose %s", urn);
    json_decref (s_cli (endpoint, arguments));
    reply = s_cli (endpoint, "get-all --scheduler cli");
    assert_int_equal (json_array_size (json_object_get (json_object_get (reply, "members"), "m1")),
                      0);
    json_decref (reply);
    free (urn);
}

//  ---------------------------------------------------------------------------------
//  Three members

static int
s_total (json_t *reply)
{
    int total = 0;
    const char *member;
    json_t *urns;
    json_object_foreach (json_object_get (reply, "members"), member, urns)
        total += (int) json_array_size (urns);
    return total;
}

//  47, 48, 58: get_all across members; all-members scheduling; a member-owned
//  task is lost with its member.
static void
test_get_all_and_members (void **state)
{
    cluster_t *cluster = (cluster_t *) *state;
    zdex_client_t *client = s_client (cluster);
    char *handlers[11];
    for (int index = 0; index < 11; index++)
        handlers[index] = s_schedule (
            client,
            json_pack ("{s:s, s:s, s:o, s:i}", "op", "scheduled.schedule", "scheduler", "spread",
                       "task", s_task ("echo", json_integer (25 + index)), "delay_ms", 0));
    json_t *reply =
        s_call (client, json_pack ("{s:s, s:s}", "op", "scheduled.get_all", "scheduler", "spread"));
    s_expect_ok (reply);
    assert_int_equal (s_total (reply), 11);
    json_decref (reply);
    json_decref (s_on (client, "scheduled.dispose", handlers[0]));
    reply =
        s_call (client, json_pack ("{s:s, s:s}", "op", "scheduled.get_all", "scheduler", "spread"));
    assert_int_equal (s_total (reply), 10);
    json_decref (reply);
    for (int index = 1; index < 11; index++) {
        reply = s_on (client, "scheduled.get", handlers[index]);
        s_expect_ok (reply);
        assert_int_equal (json_integer_value (json_object_get (reply, "result")), 25 + index);
        json_decref (reply);
    }
    for (int index = 0; index < 11; index++)
        free (handlers[index]);

    //  All members: one handler per member, each run on its member.
    reply = s_call (client,
                    json_pack ("{s:s, s:s, s:o, s:i, s:b}", "op", "scheduled.schedule", "scheduler",
                               "everywhere", "task", s_task ("echo", json_real (25.0)), "delay_ms",
                               0, "all_members", 1));
    s_expect_ok (reply);
    json_t *map = json_object_get (reply, "handlers");
    assert_int_equal (json_object_size (map), 3);
    const char *member;
    json_t *urn;
    json_object_foreach (map, member, urn) {
        json_t *got = s_on (client, "scheduled.get", json_string_value (urn));
        s_expect_ok (got);
        json_decref (got);
    }
    json_decref (reply);
    reply = s_call (client,
                    json_pack ("{s:s, s:s}", "op", "scheduled.get_all", "scheduler", "everywhere"));
    json_object_foreach (json_object_get (reply, "members"), member, urn)
        assert_int_equal (json_array_size (urn), 1);
    assert_int_equal (json_object_size (json_object_get (reply, "members")), 3);
    json_decref (reply);

    //  On m3, then m3 dies: MEMBER_LOST.
    char *lost =
        s_schedule (client, json_pack ("{s:s, s:s, s:o, s:i}", "op", "scheduled.schedule", "member",
                                       "m3", "task", s_task ("echo", NULL), "delay_ms", 60000));
    assert_int_not_equal (harness_stop (cluster->members[2].pid, SIGKILL, 5000), -1);
    cluster->members[2].pid = -1;
    assert_int_equal (harness_wait_members (cluster->members[0].client, 2, 10000), 0);
    int64_t deadline = zclock_mono () + 10000;
    while (true) {
        //  Until m1's view drops m3 the request may be answered UNAVAILABLE.
        reply = s_on (client, "scheduled.get", lost);
        const char *code =
            json_string_value (json_object_get (json_object_get (reply, "error"), "code"));
        bool done = code && strcmp (code, "MEMBER_LOST") == 0;
        json_decref (reply);
        if (done)
            break;
        assert_true (zclock_mono () < deadline);
        zclock_sleep (100);
    }
    free (lost);
    zdex_client_destroy (&client);
}

//  40, 51, 52, 53, 55, 56, 62, 63: the founder owns every primary; kill it and check that a
//  pending one-shot task fires close to its due time, a periodic task keeps
//  running with its stats, a result and a cancel survive, and get_all still
//  counts everything.
static void
test_failover (void **state)
{
    cluster_t *cluster = (cluster_t *) *state;
    zdex_client_t *client = s_client (cluster);
    char *done =
        s_schedule (client, json_pack ("{s:s, s:o, s:i}", "op", "scheduled.schedule", "task",
                                       s_task ("echo", json_real (25.0)), "delay_ms", 0));
    json_t *reply = s_on (client, "scheduled.get", done);
    s_expect_ok (reply);
    json_decref (reply);
    char *cancelled =
        s_schedule (client, json_pack ("{s:s, s:o, s:i, s:i}", "op", "scheduled.schedule", "task",
                                       s_task ("echo", NULL), "delay_ms", 0, "period_ms", 300));
    s_wait_runs (client, cancelled, 1, 5000);
    json_decref (s_on (client, "scheduled.cancel", cancelled));
    char *periodic =
        s_schedule (client, json_pack ("{s:s, s:o, s:i, s:i}", "op", "scheduled.schedule", "task",
                                       s_task ("echo", NULL), "delay_ms", 0, "period_ms", 300));
    s_wait_runs (client, periodic, 2, 5000);
    //  55: a stateful periodic task whose 12th run fails; its state must carry on
    //  across the failover for the failure to come at run 12 exactly.
    char *stateful =
        s_schedule (client, json_pack ("{s:s, s:o, s:i, s:i}", "op", "scheduled.schedule", "task",
                                       s_task ("counter", json_pack ("{s:i}", "fail_at", 12)),
                                       "delay_ms", 0, "period_ms", 250));
    s_wait_runs (client, stateful, 3, 5000);
    int64_t scheduled_at = zclock_mono ();
    char *pending =
        s_schedule (client, json_pack ("{s:s, s:o, s:i}", "op", "scheduled.schedule", "task",
                                       s_task ("echo", json_string ("late")), "delay_ms", 3000));
    json_int_t before = s_runs (client, periodic);
    //  62, 63: per-partition capacity 2 on key k1, full before the kill.
    for (int index = 0; index < 2; index++) {
        reply = s_call (client, json_pack ("{s:s, s:s, s:s, s:o, s:i}", "op", "scheduled.schedule",
                                           "scheduler", "pcap", "key", "k1", "task",
                                           s_task ("echo", NULL), "delay_ms", 60000));
        s_expect_ok (reply);
        json_decref (reply);
    }
    zdex_client_destroy (&client);

    //  m1 founded the cluster: it owns every primary.
    assert_int_not_equal (harness_stop (cluster->members[0].pid, SIGKILL, 5000), -1);
    cluster->members[0].pid = -1;
    int64_t killed_at = zclock_mono ();
    client = s_client (cluster);
    //  The periodic task runs again soon after the promotion: detection takes
    //  1.5 s (heartbeat timeout), and a tick that came due meanwhile runs at once.
    s_wait_runs (client, periodic, before + 1, 5000);
    int64_t resumed = zclock_mono () - killed_at;
    assert_true (resumed < 2500);
    reply = s_on (client, "scheduled.get", pending);
    s_expect_ok (reply);
    assert_string_equal (json_string_value (json_object_get (reply, "result")), "late");
    json_decref (reply);
    int64_t fired = zclock_mono () - scheduled_at;
    //  Due 3 s after scheduling; failover takes ~1.5 s, so the remaining delay
    //  (not the full delay again, not a run at promotion) decides.
    assert_true (fired >= 2900 && fired < 4500);
    s_wait_runs (client, periodic, before + 3, 5000);
    reply = s_on (client, "scheduled.get", done);
    s_expect_ok (reply);
    assert_true (json_real_value (json_object_get (reply, "result")) == 25.0);
    json_decref (reply);
    reply = s_status (client, cancelled);
    assert_true (json_is_true (json_object_get (reply, "cancelled")));
    assert_true (json_is_true (json_object_get (reply, "done")));
    json_decref (reply);
    //  The new owner holds the capacity the tasks took: the 3rd is still refused.
    reply = s_call (client, json_pack ("{s:s, s:s, s:s, s:o, s:i}", "op", "scheduled.schedule",
                                       "scheduler", "pcap", "key", "k1", "task",
                                       s_task ("echo", NULL), "delay_ms", 60000));
    s_expect_error (reply, "REJECTED");
    json_decref (reply);
    reply = s_on (client, "scheduled.get", stateful);
    s_expect_error (reply, "TASK_FAILED");
    assert_string_equal (
        json_string_value (json_object_get (json_object_get (reply, "error"), "cause")),
        "counter reached 12");
    json_decref (reply);
    assert_int_equal (s_runs (client, stateful), 12);
    reply = s_call (client,
                    json_pack ("{s:s, s:s}", "op", "scheduled.get_all", "scheduler", "default"));
    assert_int_equal (s_total (reply), 5); //  done, cancelled, periodic, pending, stateful
    json_decref (reply);
    free (stateful);
    free (done);
    free (cancelled);
    free (periodic);
    free (pending);
    zdex_client_destroy (&client);
}

//  50, 53, 54: the owner leaves gracefully (SIGTERM): a pending one-shot task
//  still runs once, a task running at the owner runs again at the new owner
//  (at-least-once: the worker logs two runs), get_all still counts every task.
static void
test_graceful_leave (void **state)
{
    cluster_t *cluster = (cluster_t *) *state;
    zdex_client_t *client = s_client (cluster);
    char *pending = s_schedule (
        client, json_pack ("{s:s, s:s, s:o, s:i}", "op", "scheduled.schedule", "name", "pending",
                           "task", s_task ("echo", json_string ("p")), "delay_ms", 2000));
    int lines = harness_count_lines (cluster->count_file);
    char *running = s_schedule (
        client,
        json_pack ("{s:s, s:s, s:o, s:i}", "op", "scheduled.schedule", "name", "running", "task",
                   s_task ("sleep", json_pack ("{s:i}", "ms", 1500)), "delay_ms", 0));
    int64_t deadline = zclock_mono () + 5000;
    while (harness_count_lines (cluster->count_file) == lines && zclock_mono () < deadline)
        zclock_sleep (20); //  the run has started at the owner
    zdex_client_destroy (&client);
    int status = harness_stop (cluster->members[0].pid, SIGTERM, 20000);
    assert_true (WIFEXITED (status) && WEXITSTATUS (status) == 0);
    cluster->members[0].pid = -1;
    client = s_client (cluster);
    json_t *reply = s_on (client, "scheduled.get", pending);
    s_expect_ok (reply);
    assert_string_equal (json_string_value (json_object_get (reply, "result")), "p");
    json_decref (reply);
    reply = s_on (client, "scheduled.get", running);
    s_expect_ok (reply);
    json_decref (reply);
    //  The running one ran at the old owner and again at the new one.
    FILE *file = fopen (cluster->count_file, "r");
    assert_non_null (file);
    char line[4096];
    int sleeps = 0;
    while (fgets (line, sizeof line, file))
        sleeps += strstr (line, ":running\"") != NULL;
    fclose (file);
    assert_int_equal (sleeps, 2);
    reply = s_call (client,
                    json_pack ("{s:s, s:s}", "op", "scheduled.get_all", "scheduler", "default"));
    assert_int_equal (s_total (reply), 2);
    json_decref (reply);
    free (pending);
    free (running);
    zdex_client_destroy (&client);
}

int
main (void)
{
    const struct CMUnitTest one[] = {
        cmocka_unit_test (test_one_shot),
        cmocka_unit_test (test_fixed_rate),
        cmocka_unit_test (test_failures),
        cmocka_unit_test (test_cancel),
        cmocka_unit_test (test_dispose),
        cmocka_unit_test (test_names_and_handlers),
        cmocka_unit_test (test_capacity_and_members),
        cmocka_unit_test (test_cli),
    };
    const struct CMUnitTest three[] = {
        cmocka_unit_test_setup_teardown (test_get_all_and_members, s_setup_three, s_teardown),
        cmocka_unit_test_setup_teardown (test_failover, s_setup_three, s_teardown),
        cmocka_unit_test_setup_teardown (test_graceful_leave, s_setup_three, s_teardown),
    };
    int failed = cmocka_run_group_tests_name ("one member", one, s_setup_one, s_teardown);
    failed += cmocka_run_group_tests_name ("three members", three, NULL, NULL);
    return failed;
}
