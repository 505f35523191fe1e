//  Split-brain protection on real members: executor "guarded" names a rule of
//  min_cluster_size 3 protecting writes, "readguard" one protecting reads, "free"
//  none.  Members are killed with SIGKILL and started again; each member is asked
//  directly (one client per member), since the member receiving a request decides
//  by its own view.

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

#define MAX_MEMBERS  4
#define WRITE_RULE   "three-for-writes"
#define READ_RULE    "three-for-reads"
#define SBP          "SPLIT_BRAIN_PROTECTION"
#define CALL_TIMEOUT 30000

typedef struct {
    harness_member_t members[MAX_MEMBERS];
    zdex_client_t *clients[MAX_MEMBERS]; //  one per member, NULL once it is killed
    pid_t worker;
    char config[512];
} cluster_t;

static void
s_write_config (cluster_t *cluster)
{
    static int serial = 0;
    serial++;
    snprintf (cluster->config, sizeof cluster->config, "%s/split-brain-%d.json", harness_tmpdir (),
              serial);
    FILE *file = fopen (cluster->config, "w");
    assert_non_null (file);
    fprintf (file, "{\"durable_executors\": {"
                   "  \"guarded\": {\"split_brain_protection\": \"" WRITE_RULE "\"},"
                   "  \"readguard\": {\"split_brain_protection\": \"" READ_RULE "\"}},"
                   " \"scheduled_executors\": {"
                   "  \"sguarded\": {\"split_brain_protection\": \"" WRITE_RULE "\"}},"
                   " \"split_brain_protection\": {"
                   "  \"" WRITE_RULE "\": {\"min_cluster_size\": 3, \"protect_on\": \"write\"},"
                   "  \"" READ_RULE "\": {\"min_cluster_size\": 3, \"protect_on\": \"read\"}}}\n");
    fclose (file);
}

//  Start member index (m1 founds the cluster, the others join through m1) and
//  connect a client to it alone.
static void
s_member_start (cluster_t *cluster, int index)
{
    char id[16];
    snprintf (id, sizeof id, "m%d", index + 1);
    const char *args[] = {"--config", cluster->config,         "--member-id",
                          id,         index ? "--seed" : NULL, cluster->members[0].cluster,
                          NULL};
    assert_int_equal (harness_member_start (&cluster->members[index], args), 0);
    cluster->clients[index] = zdex_client_new (cluster->members[index].client);
    assert_non_null (cluster->clients[index]);
    zdex_client_set_timeout (cluster->clients[index], CALL_TIMEOUT);
}

static void
s_member_kill (cluster_t *cluster, int index)
{
    zdex_client_destroy (&cluster->clients[index]);
    assert_int_not_equal (harness_stop (cluster->members[index].pid, SIGKILL, 5000), -1);
    cluster->members[index].pid = -1;
}

//  One echo worker on the members given (it learns the others).
static void
s_worker_start (cluster_t *cluster, int count)
{
    char endpoints[2048] = "";
    for (int index = 0; index < count; index++) {
        strcat (endpoints, index ? "," : "");
        strcat (endpoints, cluster->members[index].worker);
    }
    cluster->worker = harness_worker_start (endpoints, 8, "w1", NULL);
    assert_true (cluster->worker > 0);
}

static void
s_cluster_stop (cluster_t *cluster)
{
    for (int index = 0; index < MAX_MEMBERS; index++)
        zdex_client_destroy (&cluster->clients[index]);
    harness_stop (cluster->worker, SIGTERM, 10000);
    for (int index = 0; index < MAX_MEMBERS; index++)
        if (cluster->members[index].pid > 0) {
            int status = harness_stop (cluster->members[index].pid, SIGTERM, 20000);
            assert_true (WIFEXITED (status) && WEXITSTATUS (status) == 0);
        }
}

//  Membership offers no wait for a view to shrink: ask cluster.members again, 20 ms
//  apart, until the view holds exactly count members (bounded by timeout_ms).
static void
s_wait_view_size (zdex_client_t *client, size_t count, int timeout_ms)
{
    int64_t deadline = zclock_mono () + timeout_ms;
    json_t *request = json_pack ("{s:s}", "op", "cluster.members");
    size_t seen = 0;
    while (zclock_mono () < deadline) {
        json_t *reply = zdex_client_call (client, request, 5000);
        seen = json_array_size (json_object_get (reply, "members"));
        json_decref (reply);
        if (seen == count)
            break;
        zclock_sleep (20);
    }
    json_decref (request);
    if (seen != count)
        fail_msg ("view holds %zu members, not %zu, after %d ms", seen, count, timeout_ms);
}

static void
s_expect_ok (zdex_client_t *client, int rc, const char *what)
{
    if (rc != 0)
        fail_msg ("%s: %s: %s", what, zdex_client_error_code (client),
                  zdex_client_error_message (client));
}

//  The call was refused by rule, with Hazelcast's text.
static void
s_expect_refused (zdex_client_t *client, int rc, const char *rule, const char *what)
{
    if (rc == 0)
        fail_msg ("%s: accepted, expected %s", what, SBP);
    char expected[512];
    snprintf (expected, sizeof expected, "Split brain protection exception: %s has failed!", rule);
    assert_string_equal (zdex_client_error_code (client), SBP);
    assert_string_equal (zdex_client_error_message (client), expected);
}

//  scheduled.schedule on scheduler "sguarded" (scenario 68): 0 when accepted.
static int
s_schedule (zdex_client_t *client, const char *name)
{
    json_t *request =
        json_pack ("{s:s, s:s, s:s, s:{s:s}, s:i}", "op", "scheduled.schedule", "scheduler",
                   "sguarded", "name", name, "task", "type", "echo", "delay_ms", 60000);
    json_t *reply = zdex_client_call (client, request, -1);
    json_decref (request);
    int rc = json_is_true (json_object_get (reply, "ok")) ? 0 : -1;
    json_decref (reply);
    return rc;
}

//  Submit {"i": value}.  The idempotency key lets the client library retry while
//  tables change after a kill or a join (it retries only submits that carry one).
static int
s_submit (zdex_client_t *client, const char *executor, int value, uint64_t *task_id)
{
    json_t *payload = json_pack ("{s:i}", "i", value);
    char idempotency_key[64];
    snprintf (idempotency_key, sizeof idempotency_key, "%s-%d", executor, value);
    int rc = zdex_client_submit (client, executor, "echo", payload, NULL, idempotency_key, task_id);
    json_decref (payload);
    return rc;
}

//  The task's result is {"i": value}.
static void
s_expect_result (zdex_client_t *client, const char *executor, uint64_t task_id, int value)
{
    json_t *result = NULL;
    s_expect_ok (client, zdex_client_retrieve (client, executor, task_id, 20000, &result, NULL),
                 "retrieve");
    assert_int_equal (json_integer_value (json_object_get (result, "i")), value);
    json_decref (result);
}

//  At start-up the rule is not met until the cluster first holds 3 members: with
//  1, then 2, writes to "guarded" are refused and those to "free" accepted; with 3
//  they are accepted.
static void
test_refused_until_size_first_reached (void **state)
{
    (void) state;
    cluster_t cluster;
    memset (&cluster, 0, sizeof cluster);
    s_write_config (&cluster);
    s_member_start (&cluster, 0);
    assert_int_equal (harness_wait_members (cluster.members[0].client, 1, 10000), 0);
    zdex_client_t *first = cluster.clients[0];
    uint64_t task_id;
    s_expect_refused (first, s_submit (first, "guarded", 1, &task_id), WRITE_RULE,
                      "submit with 1 member");
    s_expect_refused (first, zdex_client_shutdown (first, "guarded"), WRITE_RULE,
                      "shutdown with 1 member");
    s_expect_ok (first, s_submit (first, "free", 1, &task_id), "unprotected submit, 1 member");
    s_expect_refused (first, s_schedule (first, "early"), WRITE_RULE, "schedule with 1 member");

    s_member_start (&cluster, 1);
    for (int index = 0; index < 2; index++)
        assert_int_equal (harness_wait_members (cluster.members[index].client, 2, 10000), 0);
    for (int index = 0; index < 2; index++)
        s_expect_refused (cluster.clients[index],
                          s_submit (cluster.clients[index], "guarded", 2, &task_id), WRITE_RULE,
                          "submit with 2 members");

    s_member_start (&cluster, 2);
    s_worker_start (&cluster, 3);
    for (int index = 0; index < 3; index++) {
        assert_int_equal (harness_wait_members (cluster.members[index].client, 3, 10000), 0);
        zdex_client_t *client = cluster.clients[index];
        s_expect_ok (client, s_submit (client, "guarded", 3 + index, &task_id),
                     "submit with 3 members");
        s_expect_result (client, "guarded", task_id, 3 + index);
        char name[16];
        snprintf (name, sizeof name, "task-%d", index);
        s_expect_ok (client, s_schedule (client, name), "schedule with 3 members");
    }
    s_cluster_stop (&cluster);
}

//  3 members; one is killed: with 2 left, each of them refuses writes to "guarded"
//  and reads of "readguard", still answers reads of "guarded", writes to
//  "readguard" and everything of "free".  A new member joins: writes to "guarded"
//  are accepted again, through every member.
static void
test_member_lost_then_replaced (void **state)
{
    (void) state;
    cluster_t cluster;
    memset (&cluster, 0, sizeof cluster);
    s_write_config (&cluster);
    for (int index = 0; index < 3; index++)
        s_member_start (&cluster, index);
    for (int index = 0; index < 3; index++)
        assert_int_equal (harness_wait_members (cluster.members[index].client, 3, 10000), 0);
    s_worker_start (&cluster, 3);

    //  With 3 members everything is accepted, through every member.
    uint64_t guarded[3], readguard[3], spare[3];
    for (int index = 0; index < 3; index++) {
        zdex_client_t *client = cluster.clients[index];
        s_expect_ok (client, s_submit (client, "guarded", index, &guarded[index]),
                     "submit guarded, 3 members");
        s_expect_ok (client, s_submit (client, "guarded", 100 + index, &spare[index]),
                     "submit guarded, 3 members");
        s_expect_ok (client, s_submit (client, "readguard", 10 + index, &readguard[index]),
                     "submit readguard, 3 members");
        s_expect_result (client, "guarded", guarded[index], index);
        s_expect_result (client, "readguard", readguard[index], 10 + index);
    }
    s_expect_ok (cluster.clients[0], zdex_client_dispose (cluster.clients[0], "guarded", spare[0]),
                 "dispose guarded, 3 members");

    s_member_kill (&cluster, 2);
    for (int index = 0; index < 2; index++)
        s_wait_view_size (cluster.clients[index], 2, 10000);

    for (int index = 0; index < 2; index++) {
        zdex_client_t *client = cluster.clients[index];
        uint64_t task_id;
        //  Writes under the write rule are refused...
        s_expect_refused (client, s_submit (client, "guarded", 50, &task_id), WRITE_RULE,
                          "submit guarded, 2 members");
        s_expect_refused (client, zdex_client_execute (client, "guarded", "echo", NULL, NULL, NULL),
                          WRITE_RULE, "execute guarded, 2 members");
        s_expect_refused (client, zdex_client_dispose (client, "guarded", spare[1]), WRITE_RULE,
                          "dispose guarded, 2 members");
        s_expect_refused (
            client, zdex_client_retrieve_and_dispose (client, "guarded", spare[2], 0, NULL, NULL),
            WRITE_RULE, "retrieve_and_dispose guarded, 2 members");
        s_expect_refused (client, zdex_client_shutdown (client, "guarded"), WRITE_RULE,
                          "shutdown guarded, 2 members");
        //  ... its reads and unchecked ops are not.
        for (int task = 0; task < 3; task++)
            s_expect_result (client, "guarded", guarded[task], task);
        bool shutdown = true;
        s_expect_ok (client, zdex_client_status (client, "guarded", &shutdown, NULL),
                     "status guarded, 2 members");
        assert_false (shutdown);
        //  The read rule refuses reads and lets writes through.
        s_expect_refused (client,
                          zdex_client_retrieve (client, "readguard", readguard[0], 0, NULL, NULL),
                          READ_RULE, "retrieve readguard, 2 members");
        s_expect_ok (client, s_submit (client, "readguard", 60 + index, &task_id),
                     "submit readguard, 2 members");
        //  An executor without a rule is not affected.
        s_expect_ok (client, s_submit (client, "free", 70 + index, &task_id),
                     "submit free, 2 members");
        s_expect_result (client, "free", task_id, 70 + index);
    }

    //  A new member joins: 3 again.
    s_member_start (&cluster, 3);
    const int alive[] = {0, 1, 3};
    for (int position = 0; position < 3; position++)
        assert_int_equal (harness_wait_members (cluster.members[alive[position]].client, 3, 10000),
                          0);
    for (int position = 0; position < 3; position++) {
        zdex_client_t *client = cluster.clients[alive[position]];
        uint64_t task_id;
        s_expect_ok (client, s_submit (client, "guarded", 80 + position, &task_id),
                     "submit guarded, member replaced");
        s_expect_result (client, "guarded", task_id, 80 + position);
        s_expect_result (client, "readguard", readguard[position], 10 + position);
        s_expect_ok (client, zdex_client_dispose (client, "guarded", spare[1 + position % 2]),
                     "dispose guarded, member replaced");
    }
    s_cluster_stop (&cluster);
}

int
main (void)
{
    zsys_init ();
    zsys_handler_set (NULL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown (test_refused_until_size_first_reached, harness_teardown),
        cmocka_unit_test_teardown (test_member_lost_then_replaced, harness_teardown),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
