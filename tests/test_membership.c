//  test_membership: membership actors in one process on loopback ephemeral ports.
//  Three members converge on one view and one table; the master crashes and the
//  next oldest takes over within timeout_ms + 1 s; a fourth member joins through a
//  non-master (redirect) and gets its share; LEAVE removes members (and hands over
//  the master role) without waiting for the timeout; a restarted member is failed
//  over and readmitted; members seeded with themselves or with each other start.
//  Every wait is bounded; nothing sleeps.

#include "zdex_hash.h"
#include "zdex_membership.h"
#include "zdex_partition_table.h"

#include <inttypes.h>
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

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#define T_PARTITIONS  271
#define T_HEARTBEAT   250
#define T_TIMEOUT     1500
#define T_WAIT        10000 //  ms any convergence may take in these tests
#define T_MAX_MEMBERS 8

typedef struct {
    zactor_t *actor;
    char id[32];
    char endpoint[256];
    uint64_t view_version;
    char master[32];
    char members[T_MAX_MEMBERS][32];
    uint64_t ages[T_MAX_MEMBERS];
    size_t member_count;
    char *table; //  last TABLE event
    uint64_t table_version;
    size_t views_seen;
    size_t heard; //  HEARD events: another member of the view spoke
} t_member_t;

//  ---------------------------------------------------------------------------------
//  Events

static void
s_on_view (t_member_t *member, const char *text)
{
    json_error_t error;
    json_t *view = json_loads (text, JSON_REJECT_DUPLICATES, &error);
    assert_non_null (view);
    member->view_version = (uint64_t) json_integer_value (json_object_get (view, "view_version"));
    snprintf (member->master, sizeof (member->master), "%s",
              json_string_value (json_object_get (view, "master")));
    json_t *members = json_object_get (view, "members");
    assert_true (json_array_size (members) <= T_MAX_MEMBERS);
    member->member_count = json_array_size (members);
    for (size_t index = 0; index < member->member_count; index++) {
        json_t *entry = json_array_get (members, index);
        snprintf (member->members[index], sizeof (member->members[index]), "%s",
                  json_string_value (json_object_get (entry, "id")));
        member->ages[index] = (uint64_t) json_integer_value (json_object_get (entry, "age"));
        //  Endpoints travel as given.
        assert_non_null (json_string_value (json_object_get (entry, "client")));
        assert_non_null (json_string_value (json_object_get (entry, "replication")));
        assert_null (json_object_get (entry, "incarnation"));
    }
    member->views_seen++;
    json_decref (view);
}

static void
s_on_table (t_member_t *member, const char *text)
{
    zdex_partition_table_t *table = zdex_partition_table_new (T_PARTITIONS, 1);
    assert_int_equal (zdex_partition_table_from_json (table, text), 0);
    assert_true (zdex_partition_table_version (table) > member->table_version);
    member->table_version = zdex_partition_table_version (table);
    free (member->table);
    member->table = strdup (text);
    zdex_partition_table_destroy (&table);
}

//  Handle one message from a member's actor.
static void
s_on_event (t_member_t *member)
{
    zmsg_t *msg = zmsg_recv (member->actor);
    assert_non_null (msg);
    char *type = zmsg_popstr (msg);
    char *body = zmsg_popstr (msg);
    assert_non_null (type);
    if (streq (type, "VIEW"))
        s_on_view (member, body);
    else if (streq (type, "TABLE"))
        s_on_table (member, body);
    else if (streq (type, "ENDPOINT"))
        snprintf (member->endpoint, sizeof (member->endpoint), "%s", body);
    else if (streq (type, "ERROR"))
        snprintf (member->endpoint, sizeof (member->endpoint), "ERROR %s", body);
    else if (streq (type, "HEARD"))
        member->heard++;
    else
        fail_msg ("unexpected event %s", type);
    zstr_free (&type);
    zstr_free (&body);
    zmsg_destroy (&msg);
}

typedef bool (t_condition_fn) (t_member_t **members, size_t count, void *arg);

//  Handle events of the given members until condition holds; false after timeout.
static bool
s_wait (t_member_t **members, size_t count, int timeout_ms, t_condition_fn *condition, void *arg)
{
    int64_t deadline = zclock_mono () + timeout_ms;
    zpoller_t *poller = zpoller_new (NULL);
    for (size_t index = 0; index < count; index++)
        zpoller_add (poller, members[index]->actor);
    bool done = condition (members, count, arg);
    while (!done) {
        int64_t left = deadline - zclock_mono ();
        if (left <= 0)
            break;
        void *which = zpoller_wait (poller, (int) left);
        for (size_t index = 0; index < count; index++)
            if (which == members[index]->actor)
                s_on_event (members[index]);
        done = condition (members, count, arg);
    }
    zpoller_destroy (&poller);
    return done;
}

static bool
s_has_endpoint (t_member_t **members, size_t count, void *arg)
{
    (void) arg;
    for (size_t index = 0; index < count; index++)
        if (!members[index]->endpoint[0])
            return false;
    return true;
}

//  Every member sees exactly `expect` (ids oldest first, master first), the same
//  view version and the same table.
static bool
s_converged (t_member_t **members, size_t count, void *arg)
{
    const char **expect = (const char **) arg;
    //  The table must be the one for this view, not the one before it.
    if (!members[0]->table)
        return false;
    zdex_partition_table_t *table = zdex_partition_table_new (T_PARTITIONS, 1);
    assert_int_equal (zdex_partition_table_from_json (table, members[0]->table), 0);
    size_t owned = 0;
    for (size_t index = 0; index < count; index++)
        owned += zdex_partition_table_partitions_owned (table, expect[index]);
    zdex_partition_table_destroy (&table);
    if (owned != T_PARTITIONS)
        return false;
    for (size_t index = 0; index < count; index++) {
        t_member_t *member = members[index];
        if (!member->table || member->view_version != members[0]->view_version ||
            member->table_version != members[0]->table_version ||
            !streq (member->table, members[0]->table) || member->member_count != count ||
            !streq (member->master, expect[0]))
            return false;
        for (size_t other = 0; other < count; other++)
            if (!streq (member->members[other], expect[other]))
                return false;
    }
    return true;
}

//  ---------------------------------------------------------------------------------
//  Set-up

static t_member_t *
s_member_new_in (const char *cluster, const char *id, const char *bind, const char **seeds,
                 size_t seed_count, int timeout_ms)
{
    t_member_t *member = (t_member_t *) calloc (1, sizeof (t_member_t));
    assert_non_null (member);
    snprintf (member->id, sizeof (member->id), "%s", id);
    char client[64], worker[64], replication[64];
    snprintf (client, sizeof (client), "tcp://127.0.0.1:1/%s", id);
    snprintf (worker, sizeof (worker), "tcp://127.0.0.1:2/%s", id);
    snprintf (replication, sizeof (replication), "tcp://127.0.0.1:3/%s", id);
    zdex_membership_args_t args = {
        .member_id = id,
        .cluster_name = cluster,
        .cluster_endpoint = bind ? bind : "tcp://127.0.0.1:*",
        .client_endpoint = client,
        .worker_endpoint = worker,
        .replication_endpoint = replication,
        .seeds = seeds,
        .seed_count = seed_count,
        .heartbeat_ms = T_HEARTBEAT,
        .timeout_ms = timeout_ms,
        .partition_count = T_PARTITIONS,
        .max_backups = 1,
    };
    member->actor = zdex_membership_new (&args);
    assert_non_null (member->actor);
    zstr_send (member->actor, "ENDPOINT");
    assert_true (s_wait (&member, 1, T_WAIT, s_has_endpoint, NULL));
    return member;
}

static t_member_t *
s_member_new (const char *id, const char *bind, const char **seeds, size_t seed_count,
              int timeout_ms)
{
    return s_member_new_in (NULL, id, bind, seeds, seed_count, timeout_ms);
}

static void
s_member_destroy (t_member_t **member_p)
{
    t_member_t *member = *member_p;
    if (!member)
        return;
    zactor_destroy (&member->actor);
    free (member->table);
    free (member);
    *member_p = NULL;
}

//  Owners in a member's last table: all among `ids`, balanced within one.
static void
s_assert_table (t_member_t *member, const char **ids, size_t count)
{
    zdex_partition_table_t *table = zdex_partition_table_new (T_PARTITIONS, 1);
    assert_int_equal (zdex_partition_table_from_json (table, member->table), 0);
    size_t low = T_PARTITIONS, high = 0, total = 0;
    for (size_t index = 0; index < count; index++) {
        size_t owned = zdex_partition_table_partitions_owned (table, ids[index]);
        low = owned < low ? owned : low;
        high = owned > high ? owned : high;
        total += owned;
    }
    assert_int_equal (total, T_PARTITIONS);
    assert_true (high - low <= 1);
    for (uint32_t p = 0; p < T_PARTITIONS; p++) {
        assert_int_equal (zdex_partition_table_backup_count (table, p), count > 1 ? 1 : 0);
        assert_false (zdex_partition_table_lost (table, p));
    }
    zdex_partition_table_destroy (&table);
}

//  Start count members: the first without seeds, the others seeded with it.
static void
s_cluster_new (t_member_t **members, size_t count, const char **ids, int timeout_ms)
{
    members[0] = s_member_new (ids[0], NULL, NULL, 0, timeout_ms);
    const char *seed = members[0]->endpoint;
    //  One at a time, so the join order (the ages) is the order of ids.
    for (size_t index = 1; index < count; index++) {
        members[index] = s_member_new (ids[index], NULL, &seed, 1, timeout_ms);
        assert_true (s_wait (members, index + 1, T_WAIT, s_converged, ids));
    }
    assert_true (s_wait (members, count, T_WAIT, s_converged, ids));
}

//  A loopback endpoint with a port that was free a moment ago.  A plain socket,
//  because its close is synchronous (a ZeroMQ listener closes in the background).
static void
s_free_endpoint (char *endpoint, size_t size)
{
    int fd = socket (AF_INET, SOCK_STREAM, 0);
    assert_true (fd >= 0);
    struct sockaddr_in address = {0};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
    socklen_t length = sizeof (address);
    assert_int_equal (bind (fd, (struct sockaddr *) &address, sizeof (address)), 0);
    assert_int_equal (getsockname (fd, (struct sockaddr *) &address, &length), 0);
    snprintf (endpoint, size, "tcp://127.0.0.1:%u", (unsigned) ntohs (address.sin_port));
    close (fd);
}

//  ---------------------------------------------------------------------------------
//  Tests

static bool
s_all_heard (t_member_t **members, size_t count, void *arg)
{
    (void) arg;
    for (size_t index = 0; index < count; index++)
        if (members[index]->heard == 0)
            return false;
    return true;
}

static void
test_three_converge (void **state)
{
    (void) state;
    t_member_t *members[3];
    const char *ids[] = {"one", "two", "three"};
    s_cluster_new (members, 3, ids, T_TIMEOUT);
    for (size_t index = 0; index < 3; index++) {
        assert_int_equal (strncmp (members[index]->endpoint, "tcp://127.0.0.1:", 16), 0);
        //  Ages follow join order.
        assert_true (members[index]->ages[0] < members[index]->ages[1]);
        assert_true (members[index]->ages[1] < members[index]->ages[2]);
        s_assert_table (members[index], ids, 3);
    }
    //  Each tells its parent that the others speak (the broker's lease).
    assert_true (s_wait (members, 3, T_WAIT, s_all_heard, NULL));
    for (size_t index = 0; index < 3; index++)
        s_member_destroy (&members[index]);
}

static void
test_master_crash_then_join (void **state)
{
    (void) state;
    t_member_t *members[4];
    const char *ids[] = {"m1", "m2", "m3", "m4"};
    s_cluster_new (members, 3, ids, T_TIMEOUT);
    uint64_t view_version = members[1]->view_version;
    char dead_endpoint[256];
    snprintf (dead_endpoint, sizeof (dead_endpoint), "%s", members[0]->endpoint);

    //  Crash the master: no LEAVE.
    int64_t crashed = zclock_mono ();
    s_member_destroy (&members[0]);
    const char *survivors[] = {"m2", "m3"};
    assert_true (s_wait (members + 1, 2, T_TIMEOUT + 1000, s_converged, survivors));
    int64_t elapsed = zclock_mono () - crashed;
    printf ("    failover after %" PRId64 " ms\n", elapsed);
    assert_true (elapsed <= T_TIMEOUT + 1000);
    assert_true (members[1]->view_version > view_version);
    s_assert_table (members[1], survivors, 2);

    //  A fourth joins through the dead seed and a non-master (redirected).
    const char *seeds[] = {dead_endpoint, members[2]->endpoint};
    members[3] = s_member_new ("m4", NULL, seeds, 2, T_TIMEOUT);
    const char *four[] = {"m2", "m3", "m4"};
    assert_true (s_wait (members + 1, 3, T_WAIT, s_converged, four));
    for (size_t index = 1; index < 4; index++)
        s_assert_table (members[index], four, 3);
    for (size_t index = 1; index < 4; index++)
        s_member_destroy (&members[index]);
}

static void
test_leave (void **state)
{
    (void) state;
    t_member_t *members[3];
    const char *ids[] = {"l1", "l2", "l3"};
    //  A long timeout, so that being removed before it proves LEAVE did it (with
    //  room for slow runs under valgrind).
    int timeout_ms = 10 * T_TIMEOUT;
    s_cluster_new (members, 3, ids, timeout_ms);

    //  A member leaves: removed at once, not after the timeout.
    int64_t started = zclock_mono ();
    zstr_send (members[2]->actor, "LEAVE");
    const char *two[] = {"l1", "l2"};
    assert_true (s_wait (members, 2, timeout_ms, s_converged, two));
    int64_t elapsed = zclock_mono () - started;
    printf ("    member left after %" PRId64 " ms\n", elapsed);
    assert_true (elapsed < timeout_ms);
    s_assert_table (members[0], two, 2);
    s_member_destroy (&members[2]);

    //  The master leaves: the next oldest takes over at once.
    started = zclock_mono ();
    zstr_send (members[0]->actor, "LEAVE");
    const char *one[] = {"l2"};
    assert_true (s_wait (members + 1, 1, timeout_ms, s_converged, one));
    elapsed = zclock_mono () - started;
    printf ("    master handed over after %" PRId64 " ms\n", elapsed);
    assert_true (elapsed < timeout_ms);
    s_assert_table (members[1], one, 1);
    s_member_destroy (&members[0]);
    s_member_destroy (&members[1]);
}

static void
test_restart_same_id (void **state)
{
    (void) state;
    t_member_t *members[3];
    const char *ids[] = {"r1", "r2", "r3"};
    s_cluster_new (members, 3, ids, T_TIMEOUT);
    uint64_t old_age = members[0]->ages[1];
    //  r2 crashes and comes back (new incarnation) before anyone notices.
    s_member_destroy (&members[1]);
    const char *seed = members[0]->endpoint;
    members[1] = s_member_new ("r2", NULL, &seed, 1, T_TIMEOUT);
    const char *order[] = {"r1", "r3", "r2"};
    t_member_t *ordered[] = {members[0], members[2], members[1]};
    assert_true (s_wait (ordered, 3, T_WAIT, s_converged, order));
    assert_true (members[0]->ages[2] > old_age);
    s_assert_table (members[0], order, 3);
    for (size_t index = 0; index < 3; index++)
        s_member_destroy (&members[index]);
}

static void
test_self_and_mutual_seeds (void **state)
{
    (void) state;
    //  Seeded with itself only: founds the cluster.
    char endpoint[256];
    s_free_endpoint (endpoint, sizeof (endpoint));
    const char *self_seed = endpoint;
    t_member_t *alone = s_member_new ("alone", endpoint, &self_seed, 1, T_TIMEOUT);
    const char *just[] = {"alone"};
    assert_true (s_wait (&alone, 1, T_WAIT, s_converged, just));
    s_member_destroy (&alone);

    //  Two members seeded with both: the smaller id founds it, the other joins.
    char first[256], second[256];
    s_free_endpoint (first, sizeof (first));
    s_free_endpoint (second, sizeof (second));
    const char *seeds[] = {first, second};
    t_member_t *members[2];
    members[1] = s_member_new ("b", second, seeds, 2, T_TIMEOUT);
    members[0] = s_member_new ("a", first, seeds, 2, T_TIMEOUT);
    const char *order[] = {"a", "b"};
    assert_true (s_wait (members, 2, T_WAIT, s_converged, order));
    s_member_destroy (&members[0]);
    s_member_destroy (&members[1]);
}

static bool
s_never (t_member_t **members, size_t count, void *arg)
{
    (void) members;
    (void) count;
    (void) arg;
    return false;
}

//  A member of another cluster name, seeded with one of ours (as a stale process
//  whose seed port got reused), never joins, and ours never hears it.
static void
test_other_cluster_name (void **state)
{
    (void) state;
    t_member_t *members[2];
    const char *ids[] = {"n1", "n2"};
    s_cluster_new (members, 2, ids, T_TIMEOUT);
    const char *seed = members[0]->endpoint;
    t_member_t *stranger = s_member_new_in ("other", "n3", NULL, &seed, 1, T_TIMEOUT);
    //  Three heartbeat timeouts: long enough for any join to have happened.
    int64_t until = zclock_mono () + 3 * T_TIMEOUT;
    while (zclock_mono () < until) {
        s_wait (members, 2, 100, s_never, NULL);
        s_wait (&stranger, 1, 100, s_never, NULL);
    }
    for (size_t index = 0; index < 2; index++) {
        assert_int_equal (members[index]->member_count, 2);
        for (size_t entry = 0; entry < members[index]->member_count; entry++)
            assert_string_not_equal (members[index]->members[entry], "n3");
    }
    //  The stranger, never admitted, founds its own one-member cluster.
    assert_true (stranger->member_count <= 1);
    s_member_destroy (&stranger);
    for (size_t index = 0; index < 2; index++)
        s_member_destroy (&members[index]);
}

//  A DEALER connected to endpoint with routing id `identity`.
static zsock_t *
s_ghost_new (const char *endpoint, const char *identity)
{
    zsock_t *ghost = zsock_new (ZMQ_DEALER);
    assert_non_null (ghost);
    zsock_set_identity (ghost, identity);
    assert_int_equal (zsock_connect (ghost, "%s", endpoint), 0);
    return ghost;
}

//  The answer to a HEARTBEAT of member "ghost" (in no view) sent on ghost, or
//  NULL after wait_ms.
static json_t *
s_stranger_heartbeat (zsock_t *ghost, int wait_ms)
{
    assert_int_equal (zstr_send (ghost,
                                 "{\"type\":\"HEARTBEAT\",\"id\":\"ghost\",\"view_version\":0,"
                                 "\"table_version\":0,\"cluster_name\":\"zdex\"}"),
                      0);
    zpoller_t *poller = zpoller_new (ghost, NULL);
    json_t *answer = NULL;
    if (zpoller_wait (poller, wait_ms) == ghost) {
        char *text = zstr_recv (ghost);
        answer = text ? json_loads (text, 0, NULL) : NULL;
        assert_non_null (answer);
        zstr_free (&text);
    }
    zpoller_destroy (&poller);
    return answer;
}

static void
test_strangers_and_garbage (void **state)
{
    (void) state;
    t_member_t *members[2];
    const char *ids[] = {"g1", "g2"};
    s_cluster_new (members, 2, ids, T_TIMEOUT);
    uint64_t view_version = members[0]->view_version;
    uint64_t table_version = members[0]->table_version;
    //  A member's routing id is the cluster's tag, ':' and its id.
    char ghost_id[32];
    snprintf (ghost_id, sizeof ghost_id, "%08" PRIx32 ":ghost", zdex_hash_fnv1a ("zdex", 4));

    zsock_t *ghost = s_ghost_new (members[0]->endpoint, ghost_id);
    const char *garbage[] = {
        "",
        "not json",
        "[]",
        "{\"type\":\"HEARTBEAT\"}",
        "{\"type\":\"NOPE\",\"id\":\"ghost\"}",
        "{\"type\":\"JOIN\",\"id\":\"ghost\",\"incarnation\":\"x\"}",
        "{\"type\":\"JOIN\",\"id\":\"ghost\",\"incarnation\":\"x\",\"endpoints\":{"
        "\"client\":\"\",\"worker\":\"\",\"cluster\":\"bogus\",\"replication\":\"\"}}",
        "{\"type\":\"VIEW\",\"id\":\"ghost\",\"view_version\":99,\"master\":\"ghost\","
        "\"members\":[{\"id\":\"ghost\"}]}",
        "{\"type\":\"TABLE\",\"id\":\"ghost\",\"table\":{\"version\":99}}",
        "{\"type\":\"LEAVE\",\"id\":\"g2\",\"id\":\"g2\"}",
        "{\"type\":\"LEAVE\",\"id\":\"g2\"}", //  not from g2
        "{\"type\":\"HEARTBEAT\",\"id\":\"g1\",\"view_version\":0,\"table_version\":0}",
        "{\"type\":\"HEARTBEAT\",\"id\":\"g2\",\"view_version\":-1,\"table_version\":0}",
    };
    for (size_t index = 0; index < sizeof (garbage) / sizeof (garbage[0]); index++)
        assert_int_equal (zstr_send (ghost, garbage[index]), 0);
    //  Two frames where one is expected.
    assert_int_equal (zstr_sendx (ghost, "{}", "{}", NULL), 0);

    //  A heartbeat from a stranger is answered with the view it is not in (on the
    //  same connection: the garbage was read before it).
    json_t *view = s_stranger_heartbeat (ghost, T_WAIT);
    zsock_destroy (&ghost);
    assert_non_null (view);
    assert_string_equal (json_string_value (json_object_get (view, "type")), "VIEW");
    assert_string_equal (json_string_value (json_object_get (view, "master")), "g1");
    assert_int_equal (json_array_size (json_object_get (view, "members")), 2);
    json_decref (view);
    //  So is one to a member that is not the master: the master may be the one
    //  that died while the stranger could not hear (see the stranger rule).
    ghost = s_ghost_new (members[1]->endpoint, ghost_id);
    view = s_stranger_heartbeat (ghost, T_WAIT);
    zsock_destroy (&ghost);
    assert_non_null (view);
    assert_string_equal (json_string_value (json_object_get (view, "type")), "VIEW");
    assert_string_equal (json_string_value (json_object_get (view, "id")), "g2");
    assert_string_equal (json_string_value (json_object_get (view, "master")), "g1");
    json_decref (view);
    //  The same heartbeat on a routing id without the tag (a member of another
    //  cluster with the same id would have it) is dropped: no answer.
    ghost = s_ghost_new (members[1]->endpoint, "ghost");
    assert_null (s_stranger_heartbeat (ghost, 1000));
    zsock_destroy (&ghost);

    //  Nothing changed: both still agree on the same view and table.
    assert_true (s_wait (members, 2, T_WAIT, s_converged, ids));
    assert_int_equal (members[0]->view_version, view_version);
    assert_int_equal (members[1]->view_version, view_version);
    assert_int_equal (members[0]->table_version, table_version);
    s_member_destroy (&members[0]);
    s_member_destroy (&members[1]);
}

static void
test_bad_arguments (void **state)
{
    (void) state;
    t_member_t *bad = s_member_new ("", NULL, NULL, 0, T_TIMEOUT);
    assert_int_equal (strncmp (bad->endpoint, "ERROR ", 6), 0);
    s_member_destroy (&bad);
    t_member_t *good = s_member_new ("g", NULL, NULL, 0, T_TIMEOUT);
    t_member_t *clash = s_member_new ("h", good->endpoint, NULL, 0, T_TIMEOUT);
    assert_int_equal (strncmp (clash->endpoint, "ERROR cannot bind", 17), 0);
    s_member_destroy (&clash);
    s_member_destroy (&good);
}

int
main (void)
{
    zsys_init ();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_three_converge),
        cmocka_unit_test (test_master_crash_then_join),
        cmocka_unit_test (test_leave),
        cmocka_unit_test (test_restart_same_id),
        cmocka_unit_test (test_self_and_mutual_seeds),
        cmocka_unit_test (test_other_cluster_name),
        cmocka_unit_test (test_strangers_and_garbage),
        cmocka_unit_test (test_bad_arguments),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
