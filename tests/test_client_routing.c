//  Direct routing of the client library: a client given every member's endpoint
//  learns the partition table (cluster.members `owners`) and sends each keyed
//  submit and each task-id request straight to the partition's owner.  Proved by
//  the members' own count of forwarded requests (cluster.members
//  `forwarded_requests`), which must not move while such a client works, and
//  does move for a client given only one member.

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
#include <unistd.h>

#define MEMBERS 3
#define WARMUP  20  //  calls before the table is surely learnt and the DEALERs are up
#define COUNT   300 //  keyed tasks per phase

typedef struct {
    harness_member_t members[MEMBERS];
    pid_t worker;
} cluster_t;

//  MEMBERS members (the first founds, the others join through it), every partition
//  owned by someone and moves over, and one worker connected to all of them.
static void
s_cluster_start (cluster_t *cluster)
{
    memset (cluster, 0, sizeof *cluster);
    for (int index = 0; index < MEMBERS; index++) {
        char id[16];
        snprintf (id, sizeof id, "r%d", index + 1);
        const char *args[] = {"--member-id", id, index ? "--seed" : NULL,
                              cluster->members[0].cluster, NULL};
        assert_int_equal (harness_member_start (&cluster->members[index], args), 0);
    }
    //  min_members also waits until no partition is moving.
    for (int index = 0; index < MEMBERS; index++)
        assert_int_equal (harness_wait_members (cluster->members[index].client, MEMBERS, 10000), 0);
    char endpoints[1024] = "";
    for (int index = 0; index < MEMBERS; index++) {
        strcat (endpoints, index ? "," : "");
        strcat (endpoints, cluster->members[index].worker);
    }
    cluster->worker = harness_worker_start (endpoints, 16, "router", NULL);
    assert_true (cluster->worker > 0);
    for (int index = 0; index < MEMBERS; index++)
        assert_int_equal (harness_wait_workers (cluster->members[index].client, 1, 10000), 0);
}

static void
s_cluster_stop (cluster_t *cluster)
{
    harness_stop (cluster->worker, SIGTERM, 10000);
    for (int index = 0; index < MEMBERS; index++) {
        int status = harness_stop (cluster->members[index].pid, SIGTERM, 20000);
        assert_true (WIFEXITED (status) && WEXITSTATUS (status) == 0);
    }
}

//  cluster.members of one member, asked on a client of its own (one endpoint: no
//  routing, and cluster.members is never forwarded).  Caller owns.
static json_t *
s_members_of (const char *endpoint)
{
    zdex_client_t *client = zdex_client_new (endpoint);
    assert_non_null (client);
    zdex_client_set_timeout (client, 10000);
    json_t *request = json_pack ("{s:s}", "op", "cluster.members");
    json_t *reply = zdex_client_call (client, request, 5000);
    json_decref (request);
    zdex_client_destroy (&client);
    assert_true (json_is_true (json_object_get (reply, "ok")));
    return reply;
}

//  Requests forwarded by all members together so far.
static int64_t
s_forwarded (cluster_t *cluster)
{
    int64_t total = 0;
    for (int index = 0; index < MEMBERS; index++) {
        json_t *reply = s_members_of (cluster->members[index].client);
        json_t *forwarded = json_object_get (reply, "forwarded_requests");
        assert_true (json_is_integer (forwarded));
        total += json_integer_value (forwarded);
        json_decref (reply);
    }
    return total;
}

static zdex_client_t *
s_client_of_all (cluster_t *cluster)
{
    char endpoints[1024] = "";
    for (int index = 0; index < MEMBERS; index++) {
        strcat (endpoints, index ? "," : "");
        strcat (endpoints, cluster->members[index].client);
    }
    zdex_client_t *client = zdex_client_new (endpoints);
    assert_non_null (client);
    zdex_client_set_timeout (client, 20000);
    return client;
}

//  COUNT keyed submits, then a retrieve of each (synchronous calls), then a
//  retrieve_and_dispose of each, pipelined.  Every result is checked.
static void
s_keyed_tasks (zdex_client_t *client, const char *prefix)
{
    uint64_t ids[COUNT];
    for (int index = 0; index < COUNT; index++) {
        char key[32];
        snprintf (key, sizeof key, "%s-%d", prefix, index);
        json_t *payload = json_pack ("{s:i}", "i", index);
        //  Every other task is routed by its idempotency key instead of its key.
        int rc = zdex_client_submit (client, NULL, "echo", payload, index % 2 ? key : NULL,
                                     index % 2 ? NULL : key, &ids[index]);
        json_decref (payload);
        if (rc)
            fail_msg ("submit %d: %s", index, zdex_client_error_code (client));
    }
    for (int index = 0; index < COUNT; index++) {
        json_t *result = NULL;
        assert_int_equal (zdex_client_retrieve (client, NULL, ids[index], 20000, &result, NULL), 0);
        assert_int_equal (json_integer_value (json_object_get (result, "i")), index);
        json_decref (result);
    }
    for (int index = 0; index < COUNT; index++)
        assert_true (
            zdex_client_send (client, json_pack ("{s:s, s:I}", "op", "durable.retrieve_and_dispose",
                                                 "task_id", (json_int_t) ids[index])) > 0);
    for (int count = 0; count < COUNT; count++) {
        json_t *reply = zdex_client_recv (client, 20000);
        assert_non_null (reply);
        assert_true (json_is_true (json_object_get (reply, "ok")));
        json_decref (reply);
    }
    assert_int_equal (zdex_client_outstanding (client), 0);
}

//  Keyed submits until the client has its table and its direct connections.
static void
s_warm_up (zdex_client_t *client)
{
    for (int index = 0; index < WARMUP; index++) {
        char key[32];
        snprintf (key, sizeof key, "warm-%d", index);
        assert_int_equal (zdex_client_submit (client, NULL, "echo", NULL, key, NULL, NULL), 0);
    }
}

//  A client of every member sends nothing that needs forwarding once it knows
//  the table; a client of one member (the old way) has about two thirds of the
//  same requests forwarded.
static void
test_requests_reach_owners (void **state)
{
    (void) state;
    cluster_t cluster;
    s_cluster_start (&cluster);
    json_t *table = s_members_of (cluster.members[0].client);
    for (int index = 0; index < MEMBERS; index++) {
        json_t *member = json_array_get (json_object_get (table, "members"), index);
        printf ("# %s owns %lld primaries\n", json_string_value (json_object_get (member, "id")),
                (long long) json_integer_value (json_object_get (member, "partitions")));
        //  Spread primaries: every member owns some, so routing has three targets.
        assert_true (json_integer_value (json_object_get (member, "partitions")) > 0);
    }
    json_decref (table);

    zdex_client_t *client = s_client_of_all (&cluster);
    s_warm_up (client);
    int64_t before = s_forwarded (&cluster);
    s_keyed_tasks (client, "direct");
    int64_t direct = s_forwarded (&cluster) - before;
    zdex_client_destroy (&client);

    zdex_client_t *single = zdex_client_new (cluster.members[1].client);
    assert_non_null (single);
    zdex_client_set_timeout (single, 20000);
    before = s_forwarded (&cluster);
    s_keyed_tasks (single, "single");
    int64_t forwarded = s_forwarded (&cluster) - before;
    zdex_client_destroy (&single);

    printf ("# %d requests: %lld forwarded with direct routing, %lld through one member\n",
            3 * COUNT, (long long) direct, (long long) forwarded);
    assert_int_equal (direct, 0);
    //  A third of the partitions are the member's own: about 600 of 900 forwarded.
    assert_true (forwarded >= COUNT);
    s_cluster_stop (&cluster);
}

//  A client given only some members routes to those and lets the shared DEALER
//  (and the members' forwarding) carry the rest: every answer is still right.
static void
test_partial_endpoints (void **state)
{
    (void) state;
    cluster_t cluster;
    s_cluster_start (&cluster);
    char endpoints[600];
    snprintf (endpoints, sizeof endpoints, "%s,%s", cluster.members[1].client,
              cluster.members[2].client);
    zdex_client_t *client = zdex_client_new (endpoints);
    assert_non_null (client);
    zdex_client_set_timeout (client, 20000);
    s_warm_up (client);
    int64_t before = s_forwarded (&cluster);
    s_keyed_tasks (client, "partial");
    int64_t forwarded = s_forwarded (&cluster) - before;
    printf ("# %d requests through 2 of 3 members: %lld forwarded\n", 3 * COUNT,
            (long long) forwarded);
    //  Only the partitions of the member left out (about a third) are forwarded.
    assert_true (forwarded > 0);
    assert_true (forwarded < 2 * COUNT);
    zdex_client_destroy (&client);
    s_cluster_stop (&cluster);
}

//  The answer of the member at endpoint to a retrieve sent on a DEALER with a
//  forwarding member's identity (tag: the cluster's, or another's).
static json_t *
s_forwarded_retrieve (const char *endpoint, uint32_t tag)
{
    zsock_t *dealer = zsock_new (ZMQ_DEALER);
    assert_non_null (dealer);
    char identity[64];
    snprintf (identity, sizeof identity, "zdex-fwd:%08x:r9", tag);
    zsock_set_identity (dealer, identity);
    assert_int_equal (zsock_connect (dealer, "%s", endpoint), 0);
    assert_int_equal (zstr_send (dealer, "{\"op\":\"durable.retrieve\",\"req\":7,"
                                         "\"task_id\":4294967296,\"timeout_ms\":0}"),
                      0);
    zpoller_t *poller = zpoller_new (dealer, NULL);
    assert_true (zpoller_wait (poller, 10000) == dealer);
    zpoller_destroy (&poller);
    char *text = zstr_recv (dealer);
    json_t *reply = json_loads (text, 0, NULL);
    assert_non_null (reply);
    zstr_free (&text);
    zsock_destroy (&dealer);
    return reply;
}

//  A request forwarded by a member of another cluster (on a shared host, a dead
//  member's client port can be bound again by another cluster's member while the
//  view still lists it) is refused UNAVAILABLE, not answered from our rings; one
//  forwarded by a member of ours is answered.
static void
test_foreign_forward_refused (void **state)
{
    (void) state;
    cluster_t cluster;
    s_cluster_start (&cluster);
    char name[32];
    snprintf (name, sizeof name, "test-%d", (int) getpid ()); //  the harness's cluster name
    uint32_t ours = zdex_hash_fnv1a (name, strlen (name));
    for (int index = 0; index < MEMBERS; index++) {
        json_t *reply = s_forwarded_retrieve (cluster.members[index].client, ours ^ 1);
        json_t *error = json_object_get (reply, "error");
        assert_string_equal (json_string_value (json_object_get (error, "code")), "UNAVAILABLE");
        assert_string_equal (json_string_value (json_object_get (error, "message")),
                             "forwarded by a member of another cluster; retry");
        json_decref (reply);
        //  Ours: the owner answers from its ring (the id was never issued), the
        //  others that they do not own it; never the refusal.
        reply = s_forwarded_retrieve (cluster.members[index].client, ours);
        error = json_object_get (reply, "error");
        const char *code = json_string_value (json_object_get (error, "code"));
        assert_non_null (code);
        assert_true (streq (code, "STALE_TASK_ID") || streq (code, "UNAVAILABLE"));
        assert_string_not_equal (json_string_value (json_object_get (error, "message")),
                                 "forwarded by a member of another cluster; retry");
        json_decref (reply);
    }
    s_cluster_stop (&cluster);
}

int
main (void)
{
    zsys_init ();
    zsys_handler_set (NULL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown (test_requests_reach_owners, harness_teardown),
        cmocka_unit_test_teardown (test_partial_endpoints, harness_teardown),
        cmocka_unit_test_teardown (test_foreign_forward_refused, harness_teardown),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
