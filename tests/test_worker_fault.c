//  Fault test: a worker is killed with SIGKILL in the middle of a task; the task
//  completes on another worker with the next attempt number, and nothing else runs
//  twice.

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

static void
test_kill_worker_mid_task (void **state)
{
    (void) state;
    harness_member_t member;
    assert_int_equal (harness_member_start (&member, NULL), 0);
    char count_a[512], count_b[512];
    snprintf (count_a, sizeof count_a, "%s/a.txt", harness_tmpdir ());
    snprintf (count_b, sizeof count_b, "%s/b.txt", harness_tmpdir ());
    pid_t worker_a = harness_worker_start (member.worker, 1, "a", count_a);
    pid_t worker_b = harness_worker_start (member.worker, 1, "b", count_b);
    assert_true (worker_a > 0 && worker_b > 0);
    assert_int_equal (harness_wait_workers (member.client, 2, 10000), 0);

    zdex_client_t *client = zdex_client_new (member.client);
    zdex_client_set_timeout (client, 30000);
    //  Two 1.5 s tasks: one on each worker.
    uint64_t ids[2];
    json_t *payload = json_pack ("{s:i}", "ms", 1500);
    for (int index = 0; index < 2; index++)
        assert_int_equal (
            zdex_client_submit (client, NULL, "sleep", payload, NULL, NULL, &ids[index]), 0);
    //  Wait (bounded) until both run: the member says so in cluster.workers.
    json_t *request = json_pack ("{s:s}", "op", "cluster.workers");
    int running = 0;
    for (int round = 0; round < 200 && running < 2; round++) {
        //  A short member-side wait between rounds, not a sleep.
        zdex_client_retrieve (client, NULL, ids[0], 10, NULL, NULL);
        json_t *reply = zdex_client_call (client, request, 5000);
        assert_non_null (reply);
        running = 0;
        size_t index;
        json_t *worker;
        json_array_foreach (json_object_get (reply, "workers"), index, worker)
            running += (int) json_integer_value (json_object_get (worker, "running"));
        json_decref (reply);
    }
    assert_int_equal (running, 2);
    json_decref (request);

    //  Kill worker a mid-task.  Its task goes to b once a is declared dead (3 s of
    //  silence) and b has finished its own.
    int64_t killed_at = zclock_mono ();
    assert_int_not_equal (harness_stop (worker_a, SIGKILL, 5000), -1);
    for (int index = 0; index < 2; index++) {
        json_t *result = NULL;
        assert_int_equal (zdex_client_retrieve (client, NULL, ids[index], 20000, &result, NULL), 0);
        assert_true (json_equal (result, payload));
        json_decref (result);
    }
    int64_t recovered_in = zclock_mono () - killed_at;
    printf ("# task of the killed worker answered %lld ms after the kill\n",
            (long long) recovered_in);
    assert_true (recovered_in < 15000);
    //  Workers log each run as it starts: a started one task (attempt 1) and died;
    //  b ran its own (attempt 1) and a's again as attempt 2.
    assert_int_equal (harness_count_lines (count_a), 1);
    assert_int_equal (harness_count_lines (count_b), 2);
    FILE *file = fopen (count_b, "r");
    char line[1024];
    int attempts_2 = 0;
    while (fgets (line, sizeof line, file))
        if (strncmp (line, "sleep 2 ", 8) == 0)
            attempts_2++;
    fclose (file);
    assert_int_equal (attempts_2, 1);

    json_decref (payload);
    zdex_client_destroy (&client);
    assert_int_equal (WEXITSTATUS (harness_stop (worker_b, SIGTERM, 10000)), 0);
    int status = harness_stop (member.pid, SIGTERM, 20000);
    assert_true (WIFEXITED (status) && WEXITSTATUS (status) == 0);
}

int
main (void)
{
    zsys_init ();
    zsys_handler_set (NULL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_kill_worker_mid_task),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
