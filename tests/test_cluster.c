//  Cluster fault tests: real zdexd members on loopback, members killed with
//  SIGKILL, every acknowledged task checked afterwards.  Workers log each run
//  (--count-file), so re-runs are counted, not guessed.

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

#define MAX_MEMBERS 4

typedef struct {
    harness_member_t members[MAX_MEMBERS];
    int member_count;
    pid_t workers[2];
    char count_file[512];
    char config[512];
} cluster_t;

//  Start count members (the first founds the cluster, the others join through it)
//  with a config giving the default executor `durability` and executor "parked" a
//  large pool, and two workers connected to every member.
static void s_cluster_start_with (cluster_t *cluster, int count, int durability, int slots,
                                  const char *option, const char *value);

static void
s_cluster_start (cluster_t *cluster, int count, int durability, int slots)
{
    s_cluster_start_with (cluster, count, durability, slots, NULL, NULL);
}

//  The same with one more command-line option for every member (NULL: none).
static void
s_cluster_start_with (cluster_t *cluster, int count, int durability, int slots, const char *option,
                      const char *value)
{
    memset (cluster, 0, sizeof *cluster);
    static int serial = 0; //  one directory per cluster of this test process
    serial++;
    snprintf (cluster->config, sizeof cluster->config, "%s/cluster-%d.json", harness_tmpdir (),
              serial);
    snprintf (cluster->count_file, sizeof cluster->count_file, "%s/runs-%d.txt", harness_tmpdir (),
              serial);
    FILE *file = fopen (cluster->config, "w");
    assert_non_null (file);
    fprintf (file,
             "{\"durable_executors\": {\"default\": {\"durability\": %d, \"capacity\": 1000},"
             " \"parked\": {\"durability\": %d, \"pool_size\": 256, \"capacity\": 1000}}}\n",
             durability, durability);
    fclose (file);
    for (int index = 0; index < count; index++) {
        char id[16];
        snprintf (id, sizeof id, "m%d", index + 1);
        const char *args[9] = {"--config", cluster->config, "--member-id", id};
        int argc = 4;
        if (option) {
            args[argc++] = option;
            args[argc++] = value;
        }
        if (index) {
            args[argc++] = "--seed";
            args[argc++] = cluster->members[0].cluster;
        }
        args[argc] = NULL;
        assert_int_equal (harness_member_start (&cluster->members[index], args), 0);
    }
    cluster->member_count = count;
    for (int index = 0; index < count; index++)
        assert_int_equal (harness_wait_members (cluster->members[index].client, count, 10000), 0);
    for (int worker = 0; worker < 2; worker++) {
        char endpoints[2048] = "";
        for (int index = 0; index < count; index++) {
            strcat (endpoints, index ? "," : "");
            strcat (endpoints, cluster->members[index].worker);
        }
        cluster->workers[worker] =
            harness_worker_start (endpoints, slots, worker ? "w2" : "w1", cluster->count_file);
        assert_true (cluster->workers[worker] > 0);
    }
    for (int index = 0; index < count; index++)
        assert_int_equal (harness_wait_workers (cluster->members[index].client, 2, 10000), 0);
}

static void
s_cluster_stop (cluster_t *cluster)
{
    for (int worker = 0; worker < 2; worker++)
        harness_stop (cluster->workers[worker], SIGTERM, 10000);
    for (int index = 0; index < cluster->member_count; index++)
        if (cluster->members[index].pid > 0) {
            int status = harness_stop (cluster->members[index].pid, SIGTERM, 20000);
            assert_true (WIFEXITED (status) && WEXITSTATUS (status) == 0);
        }
}

static void
s_kill (cluster_t *cluster, int index)
{
    assert_int_not_equal (harness_stop (cluster->members[index].pid, SIGKILL, 5000), -1);
    cluster->members[index].pid = -1;
}

//  A client connected to every member still alive.
static zdex_client_t *
s_client (cluster_t *cluster)
{
    zdex_client_t *client = NULL;
    for (int index = 0; index < cluster->member_count; index++)
        if (cluster->members[index].pid > 0) {
            if (!client)
                client = zdex_client_new (cluster->members[index].client);
            else
                zdex_client_connect (client, cluster->members[index].client);
        }
    zdex_client_set_timeout (client, 30000);
    return client;
}

//  How many runs the workers logged for each task id (index by position in ids).
static void
s_runs (cluster_t *cluster, const uint64_t *ids, int count, int *runs)
{
    zhashx_t *index_of = zhashx_new ();
    char key[32];
    for (int index = 0; index < count; index++) {
        runs[index] = 0;
        snprintf (key, sizeof key, "%llu", (unsigned long long) ids[index]);
        zhashx_insert (index_of, key, (void *) (intptr_t) (index + 1));
    }
    FILE *file = fopen (cluster->count_file, "r");
    assert_non_null (file);
    char line[4096];
    while (fgets (line, sizeof line, file)) {
        char *last = strrchr (line, ',');
        if (!last)
            continue;
        snprintf (key, sizeof key, "%llu", strtoull (last + 1, NULL, 10));
        intptr_t position = (intptr_t) zhashx_lookup (index_of, key);
        if (position)
            runs[position - 1]++;
    }
    fclose (file);
    zhashx_destroy (&index_of);
}

//  Every task is retrievable through client and its result is {"i": index};
//  returns how many are not (printing the first failures).
static int
s_lost (zdex_client_t *client, const uint64_t *ids, int count)
{
    int lost = 0;
    for (int index = 0; index < count; index++) {
        json_t *result = NULL;
        if (zdex_client_retrieve (client, NULL, ids[index], 20000, &result, NULL) != 0 ||
            json_integer_value (json_object_get (result, "i")) != index) {
            if (lost++ < 5)
                printf ("# task %d (%llu): %s %s\n", index, (unsigned long long) ids[index],
                        zdex_client_error_code (client) ? zdex_client_error_code (client) : "ok",
                        zdex_client_error_message (client) ? zdex_client_error_message (client)
                                                           : "wrong result");
        }
        json_decref (result);
    }
    return lost;
}

//  No task ran again since runs_before was taken (each ran at least once before).
static void
s_expect_no_reruns (cluster_t *cluster, const uint64_t *ids, int count, const int *runs_before)
{
    int *runs = (int *) calloc ((size_t) count, sizeof (int));
    s_runs (cluster, ids, count, runs);
    for (int index = 0; index < count; index++) {
        assert_true (runs_before[index] >= 1);
        if (runs[index] != runs_before[index])
            fail_msg ("completed task %d ran again", index);
    }
    free (runs);
}

//  3 members, durability 1: acknowledged submits with the oldest member (the owner
//  of a third of the primaries, and the master) killed in the middle; nothing
//  acknowledged is lost.
static void
test_kill_member_under_submits (void **state)
{
    (void) state;
    cluster_t cluster;
    s_cluster_start (&cluster, 3, 1, 16);
    zdex_client_t *client = s_client (&cluster);
    enum { COUNT = 10000, KILL_AT = 5000 };
    uint64_t *ids = (uint64_t *) calloc (COUNT, sizeof (uint64_t));
    int64_t killed_at = 0;
    for (int index = 0; index < COUNT; index++) {
        if (index == KILL_AT) {
            s_kill (&cluster, 0);
            killed_at = zclock_mono ();
            zdex_client_destroy (&client);
            client = s_client (&cluster);
        }
        char key[32];
        snprintf (key, sizeof key, "t-%d", index);
        json_t *payload = json_pack ("{s:i}", "i", index);
        //  The idempotency key lets the library retry through the failover.
        if (zdex_client_submit (client, NULL, "echo", payload, NULL, key, &ids[index]) != 0)
            fail_msg ("submit %d: %s: %s", index, zdex_client_error_code (client),
                      zdex_client_error_message (client));
        json_decref (payload);
    }
    printf ("# submits resumed; %d acknowledged in all\n", COUNT);
    int lost = 0;
    for (int index = 0; index < COUNT; index++) {
        json_t *result = NULL;
        if (zdex_client_retrieve (client, NULL, ids[index], 20000, &result, NULL) != 0 ||
            json_integer_value (json_object_get (result, "i")) != index) {
            lost++;
            printf ("# lost task %d (%llu): %s\n", index, (unsigned long long) ids[index],
                    zdex_client_error_code (client));
        }
        json_decref (result);
    }
    printf ("# failover and recovery took %lld ms in all\n",
            (long long) (zclock_mono () - killed_at));
    int *runs = (int *) calloc (COUNT, sizeof (int));
    s_runs (&cluster, ids, COUNT, runs);
    int never = 0, duplicates = 0;
    for (int index = 0; index < COUNT; index++) {
        never += runs[index] == 0;
        duplicates += runs[index] > 1 ? runs[index] - 1 : 0;
    }
    printf ("# lost %d, never ran %d, duplicate runs %d (tasks running at the killed member)\n",
            lost, never, duplicates);
    assert_int_equal (lost, 0);
    assert_int_equal (never, 0);
    //  Only tasks in flight at the killed member run twice: at most the workers'
    //  slots (2 x 16) plus results on their way back.
    assert_true (duplicates <= 64);
    free (runs);
    free (ids);
    zdex_client_destroy (&client);
    s_cluster_stop (&cluster);
}

//  by_req maps each pipelined request's req to its task index + 1.
static void
s_note_req (zhashx_t *by_req, int64_t req, int index)
{
    assert_true (req > 0);
    char key[32];
    snprintf (key, sizeof key, "%lld", (long long) req);
    zhashx_insert (by_req, key, (void *) (intptr_t) (index + 1));
}

//  The task index of a reply, by its req (which must be one we sent).
static int
s_index_of (zhashx_t *by_req, json_t *reply, int count)
{
    char key[32];
    snprintf (key, sizeof key, "%lld",
              (long long) json_integer_value (json_object_get (reply, "req")));
    intptr_t index = (intptr_t) zhashx_lookup (by_req, key) - 1;
    assert_true (index >= 0 && index < count);
    return (int) index;
}

//  A reply's error code, or NULL.
static const char *
s_code_of (json_t *reply)
{
    return json_string_value (json_object_get (json_object_get (reply, "error"), "code"));
}

//  200 retrieves parked on 2-second tasks at the owner; the owner is killed; every
//  retrieve is answered within failover + task time + 2 s.
static void
test_parked_retrieves_survive_owner_kill (void **state)
{
    (void) state;
    cluster_t cluster;
    s_cluster_start (&cluster, 3, 1, 128);
    //  Keyless submits through m1 go to partitions m1 owns: all of them die with it.
    zdex_client_t *client = zdex_client_new (cluster.members[0].client);
    zdex_client_set_timeout (client, 30000);
    enum { COUNT = 200 };
    uint64_t ids[COUNT];
    json_t *payload = json_pack ("{s:i}", "ms", 2000);
    json_t *request = json_pack ("{s:s}", "op", "cluster.members");
    json_t *members = zdex_client_call (client, request, 5000);
    json_decref (request);
    json_t *owners = json_object_get (members, "owners");
    for (int index = 0; index < COUNT; index++) {
        assert_int_equal (
            zdex_client_submit (client, "parked", "sleep", payload, NULL, NULL, &ids[index]), 0);
        json_t *owner = json_array_get (owners, (size_t) (ids[index] >> 32));
        assert_int_equal (json_integer_value (owner), 0); //  m1, the oldest, is listed first
    }
    json_decref (members);
    //  Park the retrieves through a member that survives.
    zdex_client_t *waiter = zdex_client_new (cluster.members[1].client);
    zhashx_t *by_req = zhashx_new ();
    for (int index = 0; index < COUNT; index++)
        s_note_req (by_req,
                    zdex_client_send (waiter, json_pack ("{s:s, s:s, s:I}", "op",
                                                         "durable.retrieve", "executor", "parked",
                                                         "task_id", (json_int_t) ids[index])),
                    index);
    s_kill (&cluster, 0);
    int64_t killed_at = zclock_mono ();
    //  Pipelined requests are not retried by the library: a pipelining client sends
    //  a retrieve answered UNAVAILABLE again.
    int answered = 0;
    int64_t deadline = killed_at + 15000;
    while (answered < COUNT && zclock_mono () < deadline) {
        json_t *reply = zdex_client_recv (waiter, 1000);
        if (!reply)
            continue;
        int index = s_index_of (by_req, reply, COUNT);
        const char *code = s_code_of (reply);
        if (code && streq (code, "UNAVAILABLE"))
            s_note_req (
                by_req,
                zdex_client_send (waiter, json_pack ("{s:s, s:s, s:I}", "op", "durable.retrieve",
                                                     "executor", "parked", "task_id",
                                                     (json_int_t) ids[index])),
                index);
        else {
            assert_true (json_is_true (json_object_get (reply, "ok")));
            assert_int_equal (
                json_integer_value (json_object_get (json_object_get (reply, "result"), "ms")),
                2000);
            answered++;
        }
        json_decref (reply);
    }
    int64_t took = zclock_mono () - killed_at;
    printf ("# %d of %d parked retrieves answered %lld ms after the owner was killed\n", answered,
            COUNT, (long long) took);
    assert_int_equal (answered, COUNT);
    assert_true (took < 2000 + 2000 + 2000 + 1000);
    zhashx_destroy (&by_req);
    json_decref (payload);
    zdex_client_destroy (&waiter);
    zdex_client_destroy (&client);
    s_cluster_stop (&cluster);
}

//  Send a durable.submit_and_retrieve of a sleep task of executor "parked";
//  by_req maps its req to index + 1.
static void
s_send_sar (zdex_client_t *client, const char *key, const char *once, json_t *payload,
            zhashx_t *by_req, int index)
{
    int64_t req = zdex_client_send (
        client, json_pack ("{s:s, s:s, s:s, s:s, s:{s:s, s:O}}", "op",
                           "durable.submit_and_retrieve", "executor", "parked", "key", key,
                           "idempotency_key", once, "task", "type", "sleep", "payload", payload));
    s_note_req (by_req, req, index);
}

//  durable.submit_and_retrieve through a member that survives, to partitions whose
//  owner is killed while the tasks run: a request answered UNAVAILABLE is sent
//  again with its idempotency_key and is answered from the same task, which the
//  backups held, with its result.
static void
test_submit_and_retrieve_survives_owner_kill (void **state)
{
    (void) state;
    cluster_t cluster;
    s_cluster_start (&cluster, 3, 1, 128);
    zdex_client_t *client = zdex_client_new (cluster.members[1].client);
    zdex_client_set_timeout (client, 30000);
    json_t *request = json_pack ("{s:s}", "op", "cluster.members");
    json_t *members = zdex_client_call (client, request, 5000);
    json_decref (request);
    json_t *owners = json_object_get (members, "owners");
    enum { COUNT = 40 };
    char keys[COUNT][32], once[COUNT][32];
    uint64_t ids[COUNT];
    for (int index = 0, candidate = 0; index < COUNT; candidate++) {
        assert_true (candidate < 100000);
        snprintf (keys[index], sizeof keys[index], "sar-%d", candidate);
        uint32_t partition = zdex_hash_partition (keys[index], 271);
        if (json_integer_value (json_array_get (owners, partition)) == 0) { //  m1's
            snprintf (once[index], sizeof once[index], "sar-once-%d", index);
            index++;
        }
    }
    json_decref (members);
    json_t *payload = json_pack ("{s:i}", "ms", 1500);
    zhashx_t *by_req = zhashx_new ();
    for (int round = 0; round < 2; round++)
        for (int index = 0; index < COUNT; index++) {
            if (round == 1) {
                //  A plain submit with the same keys names the task once the
                //  backup holds it.
                assert_int_equal (zdex_client_submit (client, "parked", "sleep", payload,
                                                      keys[index], once[index], &ids[index]),
                                  0);
                continue;
            }
            s_send_sar (client, keys[index], once[index], payload, by_req, index);
        }
    s_kill (&cluster, 0);
    int answered = 0, retried = 0;
    int64_t deadline = zclock_mono () + 20000;
    while (answered < COUNT && zclock_mono () < deadline) {
        json_t *reply = zdex_client_recv (client, 1000);
        if (!reply)
            continue;
        int index = s_index_of (by_req, reply, COUNT);
        const char *code = s_code_of (reply);
        if (code && streq (code, "UNAVAILABLE")) {
            s_send_sar (client, keys[index], once[index], payload, by_req, index);
            retried++;
        } else {
            if (!json_is_true (json_object_get (reply, "ok")))
                fail_msg ("task %d: %s", index, code ? code : "malformed reply");
            assert_int_equal (json_integer_value (json_object_get (reply, "task_id")),
                              (json_int_t) ids[index]);
            assert_true (json_equal (json_object_get (reply, "result"), payload));
            answered++;
        }
        json_decref (reply);
    }
    printf ("# %d of %d answered after the owner was killed, %d sent again\n", answered, COUNT,
            retried);
    assert_int_equal (answered, COUNT);
    assert_true (retried > 0); //  they waited at the member that was killed
    zhashx_destroy (&by_req);
    json_decref (payload);
    zdex_client_destroy (&client);
    s_cluster_stop (&cluster);
}

//  A client submits 1,000 tasks and goes away; a new client retrieves them all.
//  Replication messages are dropped on the way (every 7th) and repaired by FETCH;
//  then the owner is killed and every result is still there, none run again.
static void
test_new_client_and_repaired_gaps (void **state)
{
    (void) state;
    setenv ("ZDEX_TEST_DROP_REPLICATION", "7", 1);
    cluster_t cluster;
    s_cluster_start (&cluster, 3, 1, 16);
    unsetenv ("ZDEX_TEST_DROP_REPLICATION");
    enum { COUNT = 1000 };
    uint64_t ids[COUNT];
    zdex_client_t *first = s_client (&cluster);
    for (int index = 0; index < COUNT; index++) {
        json_t *payload = json_pack ("{s:i}", "i", index);
        assert_int_equal (
            zdex_client_submit (first, NULL, "echo", payload, NULL, NULL, &ids[index]), 0);
        json_decref (payload);
    }
    zdex_client_destroy (&first);
    zdex_client_t *second = s_client (&cluster);
    for (int index = 0; index < COUNT; index++) {
        json_t *result = NULL;
        assert_int_equal (zdex_client_retrieve (second, NULL, ids[index], 20000, &result, NULL), 0);
        assert_int_equal (json_integer_value (json_object_get (result, "i")), index);
        json_decref (result);
    }
    zdex_client_destroy (&second);
    //  Every result was acknowledged by a backup before the retrieves saw it, gaps
    //  and all: after the owner dies, all are there and none runs again.
    int runs_before[COUNT];
    s_runs (&cluster, ids, COUNT, runs_before);
    s_kill (&cluster, 0);
    zdex_client_t *third = s_client (&cluster);
    assert_int_equal (s_lost (third, ids, COUNT), 0);
    //  At least once before (a worker declared dead under load may have run one
    //  twice), and never again after the kill.
    s_expect_no_reruns (&cluster, ids, COUNT, runs_before);
    zdex_client_destroy (&third);
    s_cluster_stop (&cluster);
}

//  A lost replication message that nothing follows on its partition is repaired
//  at once, not at the next periodic HEAD: the primary sends an early HEAD for a
//  partition whose oldest held reply waits on a quiet stream.  The periodic HEAD
//  comes every 3 s here and every 3rd message is dropped, so one task at a time
//  (each the last message on its partition) would wait up to 3 s for its
//  backup's ACK without the early HEAD; each call here may take 1.5 s.
static void
test_lost_last_message_repaired_early (void **state)
{
    (void) state;
    setenv ("ZDEX_TEST_DROP_REPLICATION", "3", 1);
    setenv ("ZDEX_TEST_HEAD_MS", "3000", 1);
    cluster_t cluster;
    s_cluster_start (&cluster, 2, 1, 16);
    unsetenv ("ZDEX_TEST_DROP_REPLICATION");
    unsetenv ("ZDEX_TEST_HEAD_MS");
    zdex_client_t *client = s_client (&cluster);
    zdex_client_set_timeout (client, 1500);
    enum { COUNT = 60 };
    for (int index = 0; index < COUNT; index++) {
        json_t *payload = json_pack ("{s:i}", "i", index);
        json_t *result = NULL;
        uint64_t id;
        if (zdex_client_submit_and_retrieve (client, NULL, "echo", payload, NULL, NULL, -1, false,
                                             &id, &result) != 0)
            fail_msg ("task %d: %s: %s", index, zdex_client_error_code (client),
                      zdex_client_error_message (client));
        assert_int_equal (json_integer_value (json_object_get (result, "i")), index);
        json_decref (result);
        json_decref (payload);
    }
    zdex_client_destroy (&client);
    s_cluster_stop (&cluster);
}

//  Durability 2 on 4 members survives two kills in sequence.
static void
test_durability_two_survives_two_kills (void **state)
{
    (void) state;
    cluster_t cluster;
    s_cluster_start (&cluster, 4, 2, 16);
    enum { COUNT = 500 };
    uint64_t ids[COUNT];
    zdex_client_t *client = s_client (&cluster);
    for (int index = 0; index < COUNT; index++) {
        json_t *payload = json_pack ("{s:i}", "i", index);
        if (zdex_client_submit (client, NULL, "echo", payload, NULL, NULL, &ids[index]) != 0)
            fail_msg ("submit %d: %s: %s", index, zdex_client_error_code (client),
                      zdex_client_error_message (client));
        json_decref (payload);
    }
    for (int index = 0; index < COUNT; index++)
        assert_int_equal (zdex_client_retrieve (client, NULL, ids[index], 20000, NULL, NULL), 0);
    zdex_client_destroy (&client);
    s_kill (&cluster, 0);
    //  Wait until the survivors' view has dropped it, then kill the next.
    assert_int_equal (harness_wait_members (cluster.members[2].client, 3, 10000), 0);
    client = s_client (&cluster);
    assert_int_equal (zdex_client_retrieve (client, NULL, ids[0], 20000, NULL, NULL), 0);
    zdex_client_destroy (&client);
    s_kill (&cluster, 1);
    client = s_client (&cluster);
    int lost = 0;
    for (int index = 0; index < COUNT; index++) {
        json_t *result = NULL;
        if (zdex_client_retrieve (client, NULL, ids[index], 20000, &result, NULL) != 0 ||
            json_integer_value (json_object_get (result, "i")) != index)
            lost++;
        json_decref (result);
    }
    printf ("# after two kills: %d of %d lost\n", lost, COUNT);
    assert_int_equal (lost, 0);
    zdex_client_destroy (&client);
    s_cluster_stop (&cluster);
}

//  How many primaries each member owns, as cluster.members (asked of `endpoint`)
//  reports them, in view order; returns the number of members listed.
static int
s_primaries (const char *endpoint, int *owned, int max)
{
    zdex_client_t *client = zdex_client_new (endpoint);
    zdex_client_set_timeout (client, 10000);
    json_t *request = json_pack ("{s:s}", "op", "cluster.members");
    json_t *reply = zdex_client_call (client, request, 5000);
    json_decref (request);
    json_t *members = json_object_get (reply, "members");
    int count = (int) json_array_size (members);
    for (int index = 0; index < count && index < max; index++)
        owned[index] = (int) json_integer_value (
            json_object_get (json_array_get (members, index), "partitions"));
    assert_int_equal (json_integer_value (json_object_get (reply, "moving_partitions")), 0);
    json_decref (reply);
    zdex_client_destroy (&client);
    return count;
}

//  A member joins under load and takes its share of the primaries (data moved
//  first), then the oldest leaves with SIGTERM, its primaries moved to the others
//  before it goes: nothing acknowledged is lost, no completed task runs again,
//  and no submit fails while partitions move.  With durability 0 (no backup
//  holds anything) the leave must move the data, not promote a copy.
static void
s_join_and_graceful_leave (int durability)
{
    cluster_t cluster;
    s_cluster_start (&cluster, 2, durability, 16);
    enum { COUNT = 1000 };
    uint64_t ids[COUNT];
    zdex_client_t *client = s_client (&cluster);
    for (int index = 0; index < COUNT; index++) {
        if (index == COUNT / 2) {
            //  A third member joins through the first while submits go on.
            const char *args[] = {"--config", cluster.config, "--member-id",
                                  "m3",       "--seed",       cluster.members[0].cluster,
                                  NULL};
            assert_int_equal (harness_member_start (&cluster.members[2], args), 0);
            cluster.member_count = 3;
        }
        char key[32];
        snprintf (key, sizeof key, "j-%d", index);
        json_t *payload = json_pack ("{s:i}", "i", index);
        if (zdex_client_submit (client, NULL, "echo", payload, NULL, key, &ids[index]) != 0)
            fail_msg ("submit %d: %s", index, zdex_client_error_code (client));
        json_decref (payload);
    }
    //  min_members also waits for the moves to finish.
    for (int index = 0; index < 3; index++)
        assert_int_equal (harness_wait_members (cluster.members[index].client, 3, 10000), 0);
    int owned[4] = {0};
    assert_int_equal (s_primaries (cluster.members[1].client, owned, 4), 3);
    printf ("# after the join: %d / %d / %d primaries\n", owned[0], owned[1], owned[2]);
    for (int index = 0; index < 3; index++)
        assert_true (owned[index] >= 90 && owned[index] <= 91); //  271 over 3
    for (int index = 0; index < COUNT; index++)
        assert_int_equal (zdex_client_retrieve (client, NULL, ids[index], 20000, NULL, NULL), 0);
    zdex_client_destroy (&client);
    int runs_before[COUNT];
    s_runs (&cluster, ids, COUNT, runs_before);
    //  The oldest member (the master, owner of a third of the primaries) leaves
    //  gracefully while a client keeps submitting through the others.
    int64_t left_at = zclock_mono ();
    assert_int_equal (kill (cluster.members[0].pid, SIGTERM), 0);
    zdex_client_t *busy = zdex_client_new (cluster.members[1].client);
    zdex_client_connect (busy, cluster.members[2].client);
    zdex_client_set_timeout (busy, 30000);
    enum { DURING = 300 };
    uint64_t during[DURING];
    for (int index = 0; index < DURING; index++) {
        char key[32];
        snprintf (key, sizeof key, "d-%d", index);
        json_t *payload = json_pack ("{s:i}", "i", COUNT + index);
        if (zdex_client_submit (busy, NULL, "echo", payload, NULL, key, &during[index]) != 0)
            fail_msg ("submit %d during the leave: %s: %s", index, zdex_client_error_code (busy),
                      zdex_client_error_message (busy));
        json_decref (payload);
    }
    int status = harness_stop (cluster.members[0].pid, SIGTERM, 20000);
    assert_true (WIFEXITED (status) && WEXITSTATUS (status) == 0);
    int64_t gone_at = zclock_mono ();
    cluster.members[0].pid = -1;
    assert_int_equal (harness_wait_members (cluster.members[1].client, 2, 10000), 0);
    assert_int_equal (s_primaries (cluster.members[1].client, owned, 4), 2);
    assert_int_equal (owned[0] + owned[1], 271);
    client = s_client (&cluster);
    int lost = 0;
    for (int index = 0; index < COUNT + DURING; index++) {
        json_t *result = NULL;
        uint64_t id = index < COUNT ? ids[index] : during[index - COUNT];
        if (zdex_client_retrieve (client, NULL, id, 20000, &result, NULL) != 0 ||
            json_integer_value (json_object_get (result, "i")) != index)
            lost++;
        json_decref (result);
    }
    printf ("# graceful leave (durability %d): %d of %d lost, member gone %lld ms after SIGTERM, "
            "all answered %lld ms after\n",
            durability, lost, COUNT + DURING, (long long) (gone_at - left_at),
            (long long) (zclock_mono () - left_at));
    assert_int_equal (lost, 0);
    s_expect_no_reruns (&cluster, ids, COUNT, runs_before);
    zdex_client_destroy (&busy);
    zdex_client_destroy (&client);
    s_cluster_stop (&cluster);
}

static void
test_join_and_graceful_leave (void **state)
{
    (void) state;
    s_join_and_graceful_leave (1);
}

//  A whole cluster stopped at once: nobody can take the partitions, so the drain
//  must not wait for its 15 s deadline; every member exits cleanly and soon.
static void
test_whole_cluster_stops_at_once (void **state)
{
    (void) state;
    cluster_t cluster;
    s_cluster_start (&cluster, 3, 1, 4);
    for (int index = 0; index < 3; index++)
        assert_int_equal (kill (cluster.members[index].pid, SIGTERM), 0);
    int64_t started = zclock_mono ();
    for (int index = 0; index < 3; index++) {
        int status = harness_stop (cluster.members[index].pid, SIGTERM, 10000);
        assert_true (WIFEXITED (status) && WEXITSTATUS (status) == 0);
        cluster.members[index].pid = -1;
    }
    int64_t took = zclock_mono () - started;
    printf ("# whole cluster stopped in %lld ms\n", (long long) took);
    assert_true (took < 10000); //  the drain deadline is 15 s
    s_cluster_stop (&cluster);
}

static void
test_graceful_leave_without_backups (void **state)
{
    (void) state;
    s_join_and_graceful_leave (0);
}

//  The owner is paused (SIGSTOP) until its partitions moved, then resumed and
//  sent submits at once: whatever it acknowledges must be held by the cluster
//  (its own stream is refused by the backups, so it can acknowledge nothing alone).
static void
test_paused_owner_acknowledges_nothing (void **state)
{
    (void) state;
    cluster_t cluster;
    s_cluster_start (&cluster, 3, 1, 16);
    kill (cluster.members[0].pid, SIGSTOP);
    //  A submit through the others succeeds once the partitions were promoted.
    zdex_client_t *survivors = zdex_client_new (cluster.members[1].client);
    zdex_client_connect (survivors, cluster.members[2].client);
    zdex_client_set_timeout (survivors, 30000);
    uint64_t id;
    assert_int_equal (zdex_client_submit (survivors, NULL, "echo", NULL, NULL, "probe", &id), 0);
    kill (cluster.members[0].pid, SIGCONT);
    //  Straight to the resumed member, pipelined, no retries.
    enum { COUNT = 200 };
    zdex_client_t *stale = zdex_client_new (cluster.members[0].client);
    for (int index = 0; index < COUNT; index++)
        assert_true (
            zdex_client_send (stale, json_pack ("{s:s, s:{s:s, s:i}}", "op", "durable.submit",
                                                "task", "type", "echo", "payload", index)) > 0);
    int acknowledged = 0, refused = 0, missing = 0;
    for (int count = 0; count < COUNT; count++) {
        json_t *reply = zdex_client_recv (stale, 20000);
        assert_non_null (reply);
        if (json_is_true (json_object_get (reply, "ok"))) {
            acknowledged++;
            uint64_t task_id = (uint64_t) json_integer_value (json_object_get (reply, "task_id"));
            if (zdex_client_retrieve (survivors, NULL, task_id, 20000, NULL, NULL) != 0)
                missing++;
        } else
            refused++;
        json_decref (reply);
    }
    printf ("# resumed owner: %d acknowledged (all held by the cluster: %s), %d refused\n",
            acknowledged, missing ? "NO" : "yes", refused);
    assert_int_equal (missing, 0);
    zdex_client_destroy (&stale);
    zdex_client_destroy (&survivors);
    s_cluster_stop (&cluster);
}

//  How many members the view of the member at endpoint lists (-1: no answer).
static int
s_view_size (const char *endpoint)
{
    zdex_client_t *client = zdex_client_new (endpoint);
    zdex_client_set_timeout (client, 2000);
    json_t *request = json_pack ("{s:s}", "op", "cluster.members");
    json_t *reply = zdex_client_call (client, request, 2000);
    json_decref (request);
    json_t *members = json_object_get (reply, "members");
    int count = json_is_array (members) ? (int) json_array_size (members) : -1;
    json_decref (reply);
    zdex_client_destroy (&client);
    return count;
}

//  A member paused until the master removed it, resumed just as that master is
//  killed: the survivor tells it that it is out (its view is newer), and it
//  rejoins through the survivor.  It used to hear from nobody, take over alone
//  and run a cluster of its own, answering STALE_TASK_ID for tasks it never
//  held.  Every task acknowledged while it was out is retrieved through it.
static void
test_removed_member_rejoins_when_master_dies (void **state)
{
    (void) state;
    cluster_t cluster;
    s_cluster_start (&cluster, 3, 1, 16);
    //  A partition m3 owns: a retrieve through m1 is forwarded to m3 and, with m3
    //  paused, answered only when m1 drops m3 from its view.
    zdex_client_t *watch = zdex_client_new (cluster.members[0].client);
    json_t *request = json_pack ("{s:s}", "op", "cluster.members");
    json_t *members = zdex_client_call (watch, request, 5000);
    json_decref (request);
    json_t *list = json_object_get (members, "members");
    int m3_at = -1;
    for (size_t index = 0; index < json_array_size (list); index++)
        if (streq (json_string_value (json_object_get (json_array_get (list, index), "id")),
                   cluster.members[2].member_id))
            m3_at = (int) index;
    uint32_t partition = 0;
    while (partition < 271 && json_integer_value (json_array_get (
                                  json_object_get (members, "owners"), partition)) != m3_at)
        partition++;
    json_decref (members);
    assert_true (m3_at >= 0 && partition < 271);
    kill (cluster.members[2].pid, SIGSTOP);
    assert_true (
        zdex_client_send (watch, json_pack ("{s:s, s:I, s:i}", "op", "durable.retrieve", "task_id",
                                            (json_int_t) partition << 32, "timeout_ms", 0)) > 0);
    json_t *removed = zdex_client_recv (watch, 15000);
    assert_non_null (removed);
    assert_string_equal (
        json_string_value (json_object_get (json_object_get (removed, "error"), "message")),
        "the owner left the cluster; retry");
    json_decref (removed);
    zdex_client_destroy (&watch);
    assert_int_equal (s_view_size (cluster.members[0].client), 2);
    enum { COUNT = 300 };
    uint64_t ids[COUNT];
    zdex_client_t *client = zdex_client_new (cluster.members[0].client);
    zdex_client_connect (client, cluster.members[1].client);
    zdex_client_set_timeout (client, 30000);
    for (int index = 0; index < COUNT; index++) {
        json_t *payload = json_pack ("{s:i}", "i", index);
        if (zdex_client_submit (client, NULL, "echo", payload, NULL, NULL, &ids[index]) != 0)
            fail_msg ("submit %d: %s", index, zdex_client_error_code (client));
        json_decref (payload);
    }
    for (int index = 0; index < COUNT; index++)
        assert_int_equal (zdex_client_retrieve (client, NULL, ids[index], 20000, NULL, NULL), 0);
    zdex_client_destroy (&client);
    s_kill (&cluster, 0);
    kill (cluster.members[2].pid, SIGCONT);
    //  Through the resumed member only: it must not answer for itself.
    client = zdex_client_new (cluster.members[2].client);
    zdex_client_set_timeout (client, 30000);
    assert_int_equal (s_lost (client, ids, COUNT), 0);
    zdex_client_destroy (&client);
    assert_int_equal (harness_wait_members (cluster.members[2].client, 2, 10000), 0);
    assert_int_equal (s_view_size (cluster.members[1].client), 2);
    s_cluster_stop (&cluster);
}

//  An ACK batch (CLUSTER.md 6.1): 'A', the member id, NUL, then per entry the
//  partition (u32), epoch and seq (u64), big-endian.
static zframe_t *
s_ack_batch (const char *member, uint32_t partition, uint64_t epochs, uint64_t seq)
{
    size_t size = strlen (member) + 1;
    zframe_t *frame = zframe_new (NULL, 1 + size + epochs * 20);
    byte *out = zframe_data (frame);
    *out++ = 'A';
    memcpy (out, member, size);
    out += size;
    for (uint64_t epoch = 1; epoch <= epochs; epoch++, out += 20) {
        uint64_t values[2] = {epoch, seq};
        for (int byte_index = 0; byte_index < 4; byte_index++)
            out[byte_index] = (byte) (partition >> (24 - 8 * byte_index));
        for (int value = 0; value < 2; value++)
            for (int byte_index = 0; byte_index < 8; byte_index++)
                out[4 + 8 * value + byte_index] = (byte) (values[value] >> (56 - 8 * byte_index));
    }
    return frame;
}

//  ACKs from a DEALER of another cluster (on a shared host, a backup of another
//  cluster with our backup's id reconnects to a port a dead member of its own
//  had, which our owner now binds) are dropped: with the backup paused, a submit
//  stays unanswered however many ACKs in its name arrive that way, and is
//  answered once the real backup resumes and acks it.
static void
test_foreign_acks_ignored (void **state)
{
    (void) state;
    cluster_t cluster;
    s_cluster_start (&cluster, 2, 1, 16);
    zdex_client_t *client = zdex_client_new (cluster.members[0].client);
    zdex_client_set_timeout (client, 10000);
    //  Moves are over (s_cluster_start's wait for the members waits for them),
    //  so the table and its epochs hold still.
    json_t *request = json_pack ("{s:s}", "op", "cluster.members");
    json_t *members = zdex_client_call (client, request, 5000);
    json_decref (request);
    assert_non_null (members);
    assert_int_equal (json_integer_value (json_object_get (members, "moving_partitions")), 0);
    //  A key of a partition m1 owns (m2 is its backup: there are two members).
    const char *m1 = cluster.members[0].member_id;
    json_t *list = json_object_get (members, "members");
    int m1_at = -1;
    for (size_t index = 0; index < json_array_size (list); index++)
        if (streq (json_string_value (json_object_get (json_array_get (list, index), "id")), m1))
            m1_at = (int) index;
    assert_true (m1_at >= 0);
    char key[32];
    uint32_t partition = 0;
    for (int candidate = 0;; candidate++) {
        assert_true (candidate < 100000);
        snprintf (key, sizeof key, "foreign-%d", candidate);
        partition = zdex_hash_partition (key, 271);
        if (json_integer_value (json_array_get (json_object_get (members, "owners"), partition)) ==
            m1_at)
            break;
    }
    //  The control endpoint of the actor holding it: entry p mod n of "pub|control,...".
    char replication[4096];
    snprintf (replication, sizeof replication, "%s",
              json_string_value (
                  json_object_get (json_array_get (list, (size_t) m1_at), "replication_endpoint")));
    int actors = 1;
    for (const char *at = replication; *at; at++)
        actors += *at == ',';
    char *entry = replication;
    for (int skip = (int) (partition % (uint32_t) actors); skip > 0; skip--)
        entry = strchr (entry, ',') + 1;
    char *bar = strchr (entry, '|');
    assert_non_null (bar);
    char *end = strchr (bar, ',');
    if (end)
        *end = '\0';
    const char *control = bar + 1;
    uint64_t epochs = (uint64_t) json_integer_value (json_object_get (members, "table_version"));
    json_decref (members);

    kill (cluster.members[1].pid, SIGSTOP);
    int64_t paused_at = zclock_mono ();
    json_t *payload = json_pack ("{s:i}", "i", 1);
    int64_t req = zdex_client_send (client, json_pack ("{s:s, s:s, s:{s:s, s:O}}", "op",
                                                       "durable.submit", "key", key, "task", "type",
                                                       "echo", "payload", payload));
    assert_true (req > 0);
    zsock_t *foreign = zsock_new (ZMQ_DEALER);
    assert_non_null (foreign);
    char identity[300];
    snprintf (identity, sizeof identity, "0badc0de:%s/0", cluster.members[1].member_id);
    zsock_set_identity (foreign, identity);
    assert_int_equal (zsock_connect (foreign, "%s", control), 0);
    zframe_t *batch = s_ack_batch (cluster.members[1].member_id, partition, epochs, 1u << 30);
    assert_int_equal (zframe_send (&batch, foreign, 0), 0);
    //  Well inside the 1,500 ms after which m1 would drop the silent m2 and
    //  release what it holds with fewer copies (CLUSTER.md 15).
    json_t *reply = zdex_client_recv (client, 800);
    if (reply) {
        char *text = json_dumps (reply, JSON_COMPACT);
        fail_msg ("acknowledged while the only backup was paused: %s", text);
    }
    assert_true (zclock_mono () - paused_at < 1250); //  else the check proved nothing
    kill (cluster.members[1].pid, SIGCONT);
    reply = zdex_client_recv (client, 10000);
    assert_non_null (reply);
    assert_true (json_is_true (json_object_get (reply, "ok")));
    json_decref (reply);
    zsock_destroy (&foreign);
    json_decref (payload);
    zdex_client_destroy (&client);
    s_cluster_stop (&cluster);
}

//  A stream message (CLUSTER.md 6.1) as a PUB sends it: the topic (tag: NULL for
//  the bare 5-byte topic, else appended as a u32), then the header and the
//  frames packed as u32 length and bytes.  Here a DISPOSE of sequence.
static void
s_publish_dispose (zsock_t *pub, uint32_t partition, const uint32_t *tag, uint64_t epoch,
                   uint64_t seq, const char *executor, uint32_t sequence)
{
    byte topic[9] = {'R', (byte) (partition >> 24), (byte) (partition >> 16),
                     (byte) (partition >> 8), (byte) partition};
    if (tag)
        for (int index = 0; index < 4; index++)
            topic[5 + index] = (byte) (*tag >> (24 - 8 * index));
    byte packed[256];
    size_t size = 0;
    byte header[18] = {1, 3}; //  version 1, DISPOSE
    for (int index = 0; index < 8; index++) {
        header[2 + index] = (byte) (epoch >> (56 - 8 * index));
        header[10 + index] = (byte) (seq >> (56 - 8 * index));
    }
    byte number[4] = {(byte) (sequence >> 24), (byte) (sequence >> 16), (byte) (sequence >> 8),
                      (byte) sequence};
    const byte *frames[] = {header, (const byte *) executor, number};
    size_t sizes[] = {sizeof header, strlen (executor) + 1, sizeof number};
    for (int frame = 0; frame < 3; frame++) {
        for (int index = 0; index < 4; index++)
            packed[size++] = (byte) (sizes[frame] >> (24 - 8 * index));
        memcpy (packed + size, frames[frame], sizes[frame]);
        size += sizes[frame];
    }
    zmq_send (zsock_resolve (pub), topic, tag ? 9 : 5, ZMQ_SNDMORE);
    zmq_send (zsock_resolve (pub), packed, size, 0);
}

//  Stream messages published by another cluster's member on a port our dead
//  member had (the survivors' SUBs reconnect to it until the view drops it) are
//  never applied.  Rebalancing off, so m1 owns every partition at epoch 1 and a
//  partition's first task is ADD seq 1, RESULT seq 2; durability 2, so m2 backs
//  it up.  m3 is killed, a PUB bound on its stream port sends DISPOSE seq 3 of
//  that task, bare and with another tag, for a second; then m1 is killed, and
//  the promoted m2 must still answer the task's result.
static void
test_foreign_stream_ignored (void **state)
{
    (void) state;
    cluster_t cluster;
    s_cluster_start_with (&cluster, 3, 2, 16, "--rebalance", "off");
    zdex_client_t *client = zdex_client_new (cluster.members[0].client);
    zdex_client_set_timeout (client, 20000);
    json_t *payload = json_pack ("{s:i}", "i", 42);
    uint64_t id;
    assert_int_equal (
        zdex_client_submit (client, NULL, "echo", payload, "foreign-stream", NULL, &id), 0);
    json_t *result = NULL;
    assert_int_equal (zdex_client_retrieve (client, NULL, id, 20000, &result, NULL), 0);
    assert_true (json_equal (result, payload));
    json_decref (result);
    //  m3's stream endpoint: the pub of the first "pub|control" entry.
    json_t *request = json_pack ("{s:s}", "op", "cluster.members");
    json_t *members = zdex_client_call (client, request, 5000);
    json_decref (request);
    zdex_client_destroy (&client);
    char pub_endpoint[256] = "";
    json_t *list = json_object_get (members, "members");
    for (size_t index = 0; index < json_array_size (list); index++) {
        json_t *member = json_array_get (list, index);
        if (streq (json_string_value (json_object_get (member, "id")),
                   cluster.members[2].member_id))
            snprintf (pub_endpoint, sizeof pub_endpoint, "%s",
                      json_string_value (json_object_get (member, "replication_endpoint")));
    }
    json_decref (members);
    char *bar = strchr (pub_endpoint, '|');
    assert_non_null (bar);
    *bar = '\0';
    s_kill (&cluster, 2);
    zsock_t *pub = zsock_new (ZMQ_PUB);
    assert_non_null (pub);
    assert_true (zsock_bind (pub, "%s", pub_endpoint) != -1); //  the port, for tcp
    uint32_t partition = (uint32_t) (id >> 32), other = 0x0badc0de;
    //  Until m2's SUB has reconnected (100 ms apart) and for a while after; well
    //  before the view drops m3 (1,500 ms after its last heartbeat).
    for (int round = 0; round < 20; round++) {
        s_publish_dispose (pub, partition, NULL, 1, 3, "default", (uint32_t) id);
        s_publish_dispose (pub, partition, &other, 1, 3, "default", (uint32_t) id);
        zclock_sleep (50); //  a pace for the publisher: nothing tells it a SUB connected
    }
    zsock_destroy (&pub);
    s_kill (&cluster, 0);
    client = zdex_client_new (cluster.members[1].client);
    zdex_client_set_timeout (client, 30000);
    result = NULL;
    bool disposed = false;
    if (zdex_client_retrieve (client, NULL, id, 20000, &result, &disposed) != 0)
        fail_msg ("task: %s %s", zdex_client_error_code (client),
                  zdex_client_error_message (client));
    if (disposed || !json_equal (result, payload))
        fail_msg ("the promoted backup applied a foreign stream message (disposed: %d)",
                  (int) disposed);
    json_decref (result);
    json_decref (payload);
    zdex_client_destroy (&client);
    s_cluster_stop (&cluster);
}

//  Submits count echo tasks keyed "key-<base+index>" (spread over every partition)
//  with payload {"i": index} and an idempotency key through client; their ids go to
//  ids.
static void
s_submit_keyed (zdex_client_t *client, int base, int count, uint64_t *ids)
{
    for (int index = 0; index < count; index++) {
        char key[32], idempotency[32];
        snprintf (key, sizeof key, "key-%d", base + index);
        snprintf (idempotency, sizeof idempotency, "once-%d", base + index);
        json_t *payload = json_pack ("{s:i}", "i", index);
        //  The idempotency key lets the library retry an UNAVAILABLE answer (tables
        //  still changing after the kill or the join).
        if (zdex_client_submit (client, NULL, "echo", payload, key, idempotency, &ids[index]) != 0)
            fail_msg ("submit %d: %s", index, zdex_client_error_code (client));
        json_decref (payload);
    }
}

//  A worker started with one member's endpoint learns the others from it and serves
//  the tasks of every member; it keeps serving when that very member is killed
//  (the others tell it the new list, and it drops the dead endpoint) and when a
//  new member joins (it connects to the newcomer, which gets primaries).
static void
test_worker_discovers_members (void **state)
{
    (void) state;
    enum { COUNT = 300 };
    cluster_t cluster;
    s_cluster_start (&cluster, 3, 1, 4);
    pid_t solo = harness_worker_start (cluster.members[0].worker, 4, "solo", NULL);
    assert_true (solo > 0);
    //  Two workers of the cluster plus the one that was only told about m1.
    for (int index = 0; index < 3; index++)
        assert_int_equal (harness_wait_workers (cluster.members[index].client, 3, 10000), 0);
    //  From now on only the solo worker runs tasks.
    for (int worker = 0; worker < 2; worker++) {
        assert_int_equal (WEXITSTATUS (harness_stop (cluster.workers[worker], SIGTERM, 10000)), 0);
        cluster.workers[worker] = -1;
    }
    uint64_t ids[COUNT];
    zdex_client_t *client = s_client (&cluster);
    zdex_client_set_timeout (client, 30000);
    s_submit_keyed (client, 0, COUNT, ids);
    assert_int_equal (s_lost (client, ids, COUNT), 0);
    zdex_client_destroy (&client);

    //  The member the worker was given dies.
    s_kill (&cluster, 0);
    assert_int_equal (harness_wait_members (cluster.members[1].client, 2, 10000), 0);
    client = s_client (&cluster);
    s_submit_keyed (client, COUNT, COUNT, ids);
    assert_int_equal (s_lost (client, ids, COUNT), 0);
    zdex_client_destroy (&client);

    //  A member joins through a survivor; the worker registers there too, and the
    //  newcomer's share of primaries is served.
    const char *args[] = {"--config", cluster.config, "--member-id",
                          "m4",       "--seed",       cluster.members[1].cluster,
                          NULL};
    assert_int_equal (harness_member_start (&cluster.members[3], args), 0);
    cluster.member_count = 4;
    for (int index = 1; index < 4; index++)
        assert_int_equal (harness_wait_members (cluster.members[index].client, 3, 10000), 0);
    assert_int_equal (harness_wait_workers (cluster.members[3].client, 1, 10000), 0);
    int owned[4];
    assert_int_equal (s_primaries (cluster.members[3].client, owned, 4), 3);
    printf ("# primaries after the join: %d / %d / %d\n", owned[0], owned[1], owned[2]);
    for (int index = 0; index < 3; index++)
        assert_true (owned[index] > 0);
    client = s_client (&cluster);
    s_submit_keyed (client, 2 * COUNT, COUNT, ids);
    assert_int_equal (s_lost (client, ids, COUNT), 0);
    zdex_client_destroy (&client);
    assert_int_equal (WEXITSTATUS (harness_stop (solo, SIGTERM, 10000)), 0);
    s_cluster_stop (&cluster);
}

int
main (void)
{
    zsys_init ();
    zsys_handler_set (NULL);
    //  ZDEX_TEST_FILTER=test_name (a glob) runs only the tests it matches.
    if (getenv ("ZDEX_TEST_FILTER"))
        cmocka_set_test_filter (getenv ("ZDEX_TEST_FILTER"));
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown (test_new_client_and_repaired_gaps, harness_teardown),
        cmocka_unit_test_teardown (test_lost_last_message_repaired_early, harness_teardown),
        cmocka_unit_test_teardown (test_kill_member_under_submits, harness_teardown),
        cmocka_unit_test_teardown (test_parked_retrieves_survive_owner_kill, harness_teardown),
        cmocka_unit_test_teardown (test_submit_and_retrieve_survives_owner_kill, harness_teardown),
        cmocka_unit_test_teardown (test_durability_two_survives_two_kills, harness_teardown),
        cmocka_unit_test_teardown (test_join_and_graceful_leave, harness_teardown),
        cmocka_unit_test_teardown (test_graceful_leave_without_backups, harness_teardown),
        cmocka_unit_test_teardown (test_whole_cluster_stops_at_once, harness_teardown),
        cmocka_unit_test_teardown (test_paused_owner_acknowledges_nothing, harness_teardown),
        cmocka_unit_test_teardown (test_removed_member_rejoins_when_master_dies, harness_teardown),
        cmocka_unit_test_teardown (test_foreign_acks_ignored, harness_teardown),
        cmocka_unit_test_teardown (test_foreign_stream_ignored, harness_teardown),
        cmocka_unit_test_teardown (test_worker_discovers_members, harness_teardown),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
