//  test_worker: the worker library against fake members (ROUTER sockets that this
//  test drives by hand), for what a real cluster cannot show on demand: which
//  member endpoints a worker keeps serving as worker.members lists come and go,
//  and which thread runs a task and whether it takes a slot (inline handlers).

#include <czmq.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "zdex_worker.h"

#define S_HEARTBEAT_MS 100
#define S_TIMEOUT_MS   300
#define S_WAIT_MS      5000 //  bound of every wait for an event

//  A fake member: a ROUTER on a loopback port and the routing id of the worker's
//  DEALER once it registered.
typedef struct {
    zsock_t *router;
    char endpoint[64];
    zframe_t *worker;    //  routing id of the worker's latest connection
    int readies;         //  worker.ready frames received
    int frames;          //  frames of any kind received
    zlist_t *results;    //  worker.result frames received and not taken yet
    int result_messages; //  messages that held at least one worker.result
} s_fake_t;

static void
s_fake_init (s_fake_t *fake)
{
    memset (fake, 0, sizeof *fake);
    fake->router = zsock_new (ZMQ_ROUTER);
    assert_non_null (fake->router);
    int port = zsock_bind (fake->router, "tcp://127.0.0.1:*");
    assert_true (port > 0);
    snprintf (fake->endpoint, sizeof fake->endpoint, "tcp://127.0.0.1:%d", port);
    fake->results = zlist_new ();
    assert_non_null (fake->results);
}

static void
s_fake_fini (s_fake_t *fake)
{
    char *result;
    while ((result = (char *) zlist_pop (fake->results)))
        zstr_free (&result);
    zlist_destroy (&fake->results);
    zframe_destroy (&fake->worker);
    zsock_destroy (&fake->router);
}

//  Read what the worker sent the fake, without waiting.  A message is the
//  worker's routing id and one or more frames, each one worker message.
static void
s_fake_drain (s_fake_t *fake)
{
    while (zsock_events (fake->router) & ZMQ_POLLIN) {
        zmsg_t *msg = zmsg_recv (fake->router);
        assert_non_null (msg);
        zframe_t *id = zmsg_pop (msg);
        assert_true (zmsg_size (msg) >= 1);
        char *frame;
        bool has_result = false;
        while ((frame = zmsg_popstr (msg))) {
            fake->frames++;
            if (strstr (frame, "\"worker.ready\"")) {
                assert_non_null (strstr (frame, "\"discover\":true"));
                assert_non_null (strstr (frame, "\"batch\":"));
                fake->readies++;
                zframe_destroy (&fake->worker);
                fake->worker = zframe_dup (id);
            } else if (strstr (frame, "\"op\":\"worker.result\"")) {
                assert_int_equal (zlist_append (fake->results, frame), 0);
                frame = NULL;
                has_result = true;
            }
            zstr_free (&frame);
        }
        fake->result_messages += has_result;
        zframe_destroy (&id);
        zmsg_destroy (&msg);
    }
}

static void
s_fake_send (s_fake_t *fake, const char *frame)
{
    assert_non_null (fake->worker);
    zframe_t *id = zframe_dup (fake->worker);
    assert_int_equal (zframe_send (&id, fake->router, ZFRAME_MORE), 0);
    assert_int_equal (zstr_send (fake->router, frame), 0);
}

static void
s_fake_members (s_fake_t *fake, const char *first, const char *second)
{
    char frame[256];
    if (second)
        snprintf (frame, sizeof frame, "{\"op\":\"worker.members\",\"endpoints\":[\"%s\",\"%s\"]}",
                  first, second);
    else
        snprintf (frame, sizeof frame, "{\"op\":\"worker.members\",\"endpoints\":[\"%s\"]}", first);
    s_fake_send (fake, frame);
}

//  The test's side of the dialogue: both fakes read what arrives; `a` always
//  heartbeats the worker (a live member), `b` only while b_alive.  Runs until
//  done (a predicate, given arg) holds or `ms` pass; returns whether done held.
typedef bool (s_done_fn) (zdex_worker_t *worker, s_fake_t *a, s_fake_t *b, void *arg);

static bool
s_converse_with (zdex_worker_t *worker, s_fake_t *a, s_fake_t *b, bool b_alive, s_done_fn *done,
                 void *arg, int64_t ms)
{
    int64_t deadline = zclock_mono () + ms;
    int64_t next_beat = 0;
    while (true) {
        s_fake_drain (a);
        s_fake_drain (b);
        if (done && done (worker, a, b, arg))
            return true;
        int64_t now = zclock_mono ();
        if (now >= deadline)
            return false;
        if (now >= next_beat) {
            if (a->worker)
                s_fake_send (a, "{\"op\":\"worker.heartbeat\"}");
            if (b_alive && b->worker)
                s_fake_send (b, "{\"op\":\"worker.heartbeat\"}");
            next_beat = now + S_HEARTBEAT_MS;
        }
        zmq_pollitem_t items[] = {{zsock_resolve (a->router), 0, ZMQ_POLLIN, 0},
                                  {zsock_resolve (b->router), 0, ZMQ_POLLIN, 0}};
        int64_t wait = next_beat - now < deadline - now ? next_beat - now : deadline - now;
        zmq_poll (items, 2, (long) wait);
    }
}

static bool
s_converse (zdex_worker_t *worker, s_fake_t *a, s_fake_t *b, bool b_alive, s_done_fn *done,
            int64_t ms)
{
    return s_converse_with (worker, a, b, b_alive, done, NULL, ms);
}

static bool
s_a_registered (zdex_worker_t *worker, s_fake_t *a, s_fake_t *b, void *arg)
{
    (void) arg;
    (void) worker, (void) b;
    return a->readies >= 1;
}

static bool
s_b_registered (zdex_worker_t *worker, s_fake_t *a, s_fake_t *b, void *arg)
{
    (void) arg;
    (void) a;
    return b->readies >= 1 && zdex_worker_members (worker) == 2;
}

static bool
s_b_dropped (zdex_worker_t *worker, s_fake_t *a, s_fake_t *b, void *arg)
{
    (void) arg;
    (void) a, (void) b;
    return zdex_worker_members (worker) == 1;
}

static bool
s_b_reset (zdex_worker_t *worker, s_fake_t *a, s_fake_t *b, void *arg)
{
    (void) arg;
    (void) worker, (void) a;
    return b->readies >= 2;
}

static int
s_echo (const char *type, json_t *payload, json_t **value_p, char **error_p, void *arg)
{
    (void) type, (void) error_p, (void) arg;
    *value_p = json_incref (payload);
    return 0;
}

static void *
s_run (void *arg)
{
    zdex_worker_run ((zdex_worker_t *) arg);
    return NULL;
}

//  Fakes a and b up; worker (its handlers set), given only a's endpoint, runs in
//  *thread and has registered with a.
static void
s_launch (zdex_worker_t *worker, s_fake_t *a, s_fake_t *b, pthread_t *thread)
{
    s_fake_init (a);
    s_fake_init (b);
    assert_int_equal (zdex_worker_connect (worker, a->endpoint), 0);
    zdex_worker_set_heartbeat (worker, S_HEARTBEAT_MS, S_TIMEOUT_MS);
    assert_int_equal (zdex_worker_members (worker), 1);
    assert_int_equal (pthread_create (thread, NULL, s_run, worker), 0);
    assert_true (s_converse (worker, a, b, true, s_a_registered, S_WAIT_MS));
}

//  As s_launch, for a worker with an echo handler that has also learnt b from a's
//  worker.members.
static zdex_worker_t *
s_start (s_fake_t *a, s_fake_t *b, pthread_t *thread)
{
    zdex_worker_t *worker = zdex_worker_new ("test-worker");
    assert_int_equal (zdex_worker_handle (worker, "echo", s_echo, NULL), 0);
    s_launch (worker, a, b, thread);
    s_fake_members (a, a->endpoint, b->endpoint);
    assert_true (s_converse (worker, a, b, true, s_b_registered, S_WAIT_MS));
    return worker;
}

static void
s_stop (zdex_worker_t **worker_p, s_fake_t *a, s_fake_t *b, pthread_t thread)
{
    zdex_worker_stop (*worker_p);
    assert_int_equal (pthread_join (thread, NULL), 0);
    zdex_worker_destroy (worker_p);
    s_fake_fini (a);
    s_fake_fini (b);
}

//  Started with member a's endpoint, the worker learns b from a's worker.members.
//  A later list without b does not drop b while b still talks to the worker (lists
//  from different members cross while the view changes); once b is also silent
//  for the timeout it is dropped for good: no more heartbeats or reconnects reach
//  its port.  A list that names b again brings it back.  A silent member that is
//  still listed is reconnected, never dropped.
static void
test_members_come_and_go (void **state)
{
    (void) state;
    s_fake_t a, b;
    pthread_t thread;
    zdex_worker_t *worker = s_start (&a, &b, &thread);

    //  Left out of a list but alive: kept, on the same connection.
    s_fake_members (&a, a.endpoint, NULL);
    assert_false (s_converse (worker, &a, &b, true, s_b_dropped, 4 * S_TIMEOUT_MS));
    assert_int_equal (b.readies, 1);

    //  Left out and silent: dropped.  Nothing reaches b afterwards, although a
    //  kept member would get heartbeats and a re-registration in this window.
    assert_true (s_converse (worker, &a, &b, false, s_b_dropped, S_WAIT_MS));
    s_fake_drain (&b);
    int frames = b.frames;
    assert_false (s_converse (worker, &a, &b, false, NULL, 4 * S_TIMEOUT_MS));
    assert_int_equal (b.frames, frames);
    assert_int_equal (zdex_worker_members (worker), 1);

    //  Listed again: served again.
    b.readies = 0;
    s_fake_members (&a, a.endpoint, b.endpoint);
    assert_true (s_converse (worker, &a, &b, false, s_b_registered, S_WAIT_MS));
    //  Listed and silent: the worker reconnects (a second worker.ready), keeps it.
    assert_true (s_converse (worker, &a, &b, false, s_b_reset, S_WAIT_MS));
    assert_int_equal (zdex_worker_members (worker), 2);

    s_stop (&worker, &a, &b, thread);
}

//  A malformed or empty list changes nothing.
static void
test_bad_lists_ignored (void **state)
{
    (void) state;
    s_fake_t a, b;
    pthread_t thread;
    zdex_worker_t *worker = s_start (&a, &b, &thread);
    s_fake_send (&a, "{\"op\":\"worker.members\",\"endpoints\":[]}");
    s_fake_send (&a, "{\"op\":\"worker.members\",\"endpoints\":\"tcp://x\"}");
    s_fake_send (&a, "{\"op\":\"worker.members\"}");
    //  b silent: were it unlisted, it would be dropped within the timeout.
    assert_true (s_converse (worker, &a, &b, false, s_b_reset, S_WAIT_MS));
    assert_int_equal (zdex_worker_members (worker), 2);
    s_stop (&worker, &a, &b, thread);
}

//  What the handlers of the inline tests saw, shared with the test thread: which
//  threads ran them, and a gate that holds the "block" handler.
typedef struct {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    pthread_t loop; //  the thread that runs zdex_worker_run
    int inline_runs;
    int inline_off_loop; //  inline runs in another thread than loop
    int executor_runs;
    int executor_on_loop;
    int observed;         //  observer calls
    int observed_off_run; //  handler runs not in the thread of the latest observer call
    pthread_t last_handler;
    bool blocked; //  the block handler waits for released
    bool released;
} s_probe_t;

static void
s_probe_init (s_probe_t *probe)
{
    memset (probe, 0, sizeof *probe);
    pthread_mutex_init (&probe->lock, NULL);
    pthread_cond_init (&probe->cond, NULL);
}

static void
s_probe_fini (s_probe_t *probe)
{
    pthread_cond_destroy (&probe->cond);
    pthread_mutex_destroy (&probe->lock);
}

//  Types named "...-inline" are registered inline, the others on executors.
static void
s_probe_ran (s_probe_t *probe, const char *type)
{
    pthread_mutex_lock (&probe->lock);
    bool on_loop = pthread_equal (pthread_self (), probe->loop);
    if (strstr (type, "-inline")) {
        probe->inline_runs++;
        probe->inline_off_loop += !on_loop;
    } else {
        probe->executor_runs++;
        probe->executor_on_loop += on_loop;
    }
    if (!pthread_equal (pthread_self (), probe->last_handler))
        probe->observed_off_run++;
    pthread_mutex_unlock (&probe->lock);
}

static void
s_probe_observe (const char *type, int64_t attempt, const char *ref_json, void *arg)
{
    (void) type, (void) attempt, (void) ref_json;
    s_probe_t *probe = (s_probe_t *) arg;
    pthread_mutex_lock (&probe->lock);
    probe->observed++;
    probe->last_handler = pthread_self ();
    pthread_mutex_unlock (&probe->lock);
}

static int
s_probe_echo (const char *type, json_t *payload, json_t **value_p, char **error_p, void *arg)
{
    (void) error_p;
    s_probe_ran ((s_probe_t *) arg, type);
    *value_p = json_incref (payload);
    return 0;
}

static int
s_probe_fail (const char *type, json_t *payload, json_t **value_p, char **error_p, void *arg)
{
    (void) value_p;
    s_probe_ran ((s_probe_t *) arg, type);
    *error_p = strdup (json_string_value (json_object_get (payload, "message")));
    return -1;
}

//  Stateful: value n + 1 and state {"n": n + 1} from state {"n": n}.
static int
s_probe_count (const char *type, json_t *payload, json_t *state, json_t **value_p, json_t **state_p,
               char **error_p, void *arg)
{
    (void) payload, (void) error_p;
    s_probe_ran ((s_probe_t *) arg, type);
    json_int_t n = json_integer_value (json_object_get (state, "n"));
    *value_p = json_integer (n + 1);
    *state_p = json_pack ("{s:I}", "n", n + 1);
    return 0;
}

//  Holds its slot until the test releases it (bounded, should the test fail).
static int
s_probe_block (const char *type, json_t *payload, json_t **value_p, char **error_p, void *arg)
{
    s_probe_t *probe = (s_probe_t *) arg;
    s_probe_ran (probe, type);
    struct timespec deadline;
    clock_gettime (CLOCK_REALTIME, &deadline);
    deadline.tv_sec += 2 * S_WAIT_MS / 1000;
    pthread_mutex_lock (&probe->lock);
    probe->blocked = true;
    int rc = 0;
    while (!probe->released && rc == 0)
        rc = pthread_cond_timedwait (&probe->cond, &probe->lock, &deadline);
    bool released = probe->released;
    pthread_mutex_unlock (&probe->lock);
    if (!released) {
        *error_p = strdup ("never released");
        return -1;
    }
    *value_p = json_incref (payload);
    return 0;
}

static void
s_fake_task (s_fake_t *fake, const char *ref, int attempt, const char *type, const char *payload,
             const char *state)
{
    char *frame = zsys_sprintf (
        "{\"op\":\"worker.task\",\"ref\":%s,\"attempt\":%d,\"type\":\"%s\",\"payload\":%s%s%s}",
        ref, attempt, type, payload, state ? ",\"state\":" : "", state ? state : "");
    assert_non_null (frame);
    s_fake_send (fake, frame);
    zstr_free (&frame);
}

static bool
s_results_in (zdex_worker_t *worker, s_fake_t *a, s_fake_t *b, void *arg)
{
    (void) worker, (void) b;
    return zlist_size (a->results) >= *(size_t *) arg;
}

static bool
s_blocked (zdex_worker_t *worker, s_fake_t *a, s_fake_t *b, void *arg)
{
    (void) worker, (void) a, (void) b;
    s_probe_t *probe = (s_probe_t *) arg;
    pthread_mutex_lock (&probe->lock);
    bool blocked = probe->blocked;
    pthread_mutex_unlock (&probe->lock);
    return blocked;
}

//  Wait for the next worker.result a gets; the caller owns it.
static char *
s_next_result (zdex_worker_t *worker, s_fake_t *a, s_fake_t *b)
{
    size_t count = 1;
    assert_true (s_converse_with (worker, a, b, true, s_results_in, &count, S_WAIT_MS));
    return (char *) zlist_pop (a->results);
}

//  A worker with each test handler twice, inline and on executors, and the probe
//  as observer; launched with the probe knowing the run loop's thread.
static zdex_worker_t *
s_start_probed (s_probe_t *probe, s_fake_t *a, s_fake_t *b, pthread_t *thread)
{
    s_probe_init (probe);
    zdex_worker_t *worker = zdex_worker_new ("test-worker");
    zdex_worker_set_slots (worker, 1);
    zdex_worker_set_max_result (worker, 200);
    zdex_worker_set_task_fn (worker, s_probe_observe, probe);
    assert_int_equal (zdex_worker_handle (worker, "echo", s_probe_echo, probe), 0);
    assert_int_equal (zdex_worker_handle (worker, "fail", s_probe_fail, probe), 0);
    assert_int_equal (zdex_worker_handle_stateful (worker, "count", s_probe_count, probe), 0);
    assert_int_equal (zdex_worker_handle (worker, "block", s_probe_block, probe), 0);
    assert_int_equal (zdex_worker_handle_inline (worker, "echo-inline", s_probe_echo, probe), 0);
    assert_int_equal (zdex_worker_handle_inline (worker, "fail-inline", s_probe_fail, probe), 0);
    assert_int_equal (
        zdex_worker_handle_stateful_inline (worker, "count-inline", s_probe_count, probe), 0);
    s_launch (worker, a, b, thread);
    pthread_mutex_lock (&probe->lock);
    probe->loop = *thread;
    pthread_mutex_unlock (&probe->lock);
    return worker;
}

//  An inline handler runs in the thread of zdex_worker_run (plain handlers in
//  others) and its task gets the very bytes the executor path sends: ref and
//  attempt echoed, value, error, state, the max_result failure.  The observer runs
//  before each handler in the handler's thread, and every task counts as done.
static void
test_inline_same_results (void **state)
{
    (void) state;
    s_fake_t a, b;
    pthread_t thread;
    s_probe_t probe;
    zdex_worker_t *worker = s_start_probed (&probe, &a, &b, &thread);
    char big[301];
    memset (big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    char *big_payload = zsys_sprintf ("\"%s\"", big);
    struct {
        const char *type;
        const char *payload;
        const char *state;
        const char *expected; //  NULL: only compared between both paths
    } cases[] = {
        {"echo", "{\"n\":[1,\"\\u00e9\"]}", NULL,
         "{\"op\":\"worker.result\",\"ref\":[\"t\",\"\\\"q\\\"\",7],\"attempt\":3,\"ok\":true,"
         "\"value\":{\"n\":[1,\"\xc3\xa9\"]}}"},
        {"fail", "{\"message\":\"boom\"}", NULL,
         "{\"op\":\"worker.result\",\"ref\":[\"t\",\"\\\"q\\\"\",7],\"attempt\":3,\"ok\":false,"
         "\"error\":\"boom\"}"},
        {"count", "null", "{\"n\":4}",
         "{\"op\":\"worker.result\",\"ref\":[\"t\",\"\\\"q\\\"\",7],\"attempt\":3,\"ok\":true,"
         "\"value\":5,\"state\":{\"n\":5}}"},
        {"echo", big_payload, NULL, NULL},
    };
    const char *ref = "[\"t\",\"\\\"q\\\"\",7]";
    size_t count = sizeof cases / sizeof cases[0];
    for (size_t index = 0; index < count; index++) {
        char *inline_type = zsys_sprintf ("%s-inline", cases[index].type);
        s_fake_task (&a, ref, 3, cases[index].type, cases[index].payload, cases[index].state);
        char *on_executor = s_next_result (worker, &a, &b);
        s_fake_task (&a, ref, 3, inline_type, cases[index].payload, cases[index].state);
        char *on_loop = s_next_result (worker, &a, &b);
        assert_string_equal (on_loop, on_executor);
        if (cases[index].expected)
            assert_string_equal (on_loop, cases[index].expected);
        else
            assert_non_null (strstr (on_loop, "\"ok\":false,\"error\":\"result too large"));
        zstr_free (&inline_type);
        zstr_free (&on_executor);
        zstr_free (&on_loop);
    }
    //  A task read without a tree (compact, as members write it) and the same
    //  task read with one (a payload with spaces) get the same bytes back.
    const char *spaced[][2] = {
        {"{\"n\":[1,\"x\"]}", "{ \"n\" : [1, \"x\"] }"},
        {"[true,null,{}]", "[ true , null , { } ]"},
    };
    for (size_t index = 0; index < sizeof spaced / sizeof spaced[0]; index++) {
        s_fake_task (&a, ref, 3, "echo-inline", spaced[index][0], "{\"n\":1}");
        char *viewed = s_next_result (worker, &a, &b);
        s_fake_task (&a, ref, 3, "echo-inline", spaced[index][1], "{ \"n\": 1 }");
        char *parsed = s_next_result (worker, &a, &b);
        assert_string_equal (viewed, parsed);
        char *expected = zsys_sprintf ("{\"op\":\"worker.result\",\"ref\":%s,\"attempt\":3,"
                                       "\"ok\":true,\"value\":%s}",
                                       ref, spaced[index][0]);
        assert_string_equal (viewed, expected);
        zstr_free (&expected);
        zstr_free (&viewed);
        zstr_free (&parsed);
    }
    //  A type written with escapes still runs inline.
    s_fake_send (&a, "{\"op\":\"worker.task\",\"ref\":1,\"type\":\"echo-\\u0069nline\","
                     "\"payload\":2}");
    char *escaped = s_next_result (worker, &a, &b);
    assert_string_equal (escaped, "{\"op\":\"worker.result\",\"ref\":1,\"ok\":true,\"value\":2}");
    zstr_free (&escaped);
    //  Only the task's own "type" counts, not one nested in its ref.
    s_fake_send (&a, "{\"op\":\"worker.task\",\"ref\":{\"type\":\"echo\",\"a\":[\"]\\\\\"]},"
                     "\"type\":\"echo-inline\",\"payload\":3}");
    s_fake_send (&a, "{\"op\":\"worker.task\",\"ref\":[{\"type\":\"echo-inline\"}],"
                     "\"type\":\"echo\",\"payload\":4}");
    size_t nested = 2;
    assert_true (s_converse_with (worker, &a, &b, true, s_results_in, &nested, S_WAIT_MS));
    char *first = (char *) zlist_pop (a.results);
    char *second = (char *) zlist_pop (a.results);
    assert_string_equal (first, "{\"op\":\"worker.result\",\"ref\":{\"type\":\"echo\",\"a\":"
                                "[\"]\\\\\"]},\"ok\":true,\"value\":3}");
    assert_string_equal (second, "{\"op\":\"worker.result\",\"ref\":[{\"type\":\"echo-inline\"}],"
                                 "\"ok\":true,\"value\":4}");
    zstr_free (&first);
    zstr_free (&second);

    pthread_mutex_lock (&probe.lock);
    assert_int_equal (probe.inline_runs, (int) count + 2 + 4);
    assert_int_equal (probe.inline_off_loop, 0);
    assert_int_equal (probe.executor_runs, (int) count + 1);
    assert_int_equal (probe.executor_on_loop, 0);
    assert_int_equal (probe.observed, 2 * (int) count + 3 + 4);
    assert_int_equal (probe.observed_off_run, 0);
    pthread_mutex_unlock (&probe.lock);
    assert_int_equal (zdex_worker_tasks_done (worker), 2 * count + 3 + 4);
    zstr_free (&big_payload);
    s_stop (&worker, &a, &b, thread);
    s_probe_fini (&probe);
}

//  Inline tasks take no slot: with the only slot held by a blocked handler, every
//  inline task is answered; the blocked task's result comes once it is released.
static void
test_inline_needs_no_slot (void **state)
{
    (void) state;
    s_fake_t a, b;
    pthread_t thread;
    s_probe_t probe;
    zdex_worker_t *worker = s_start_probed (&probe, &a, &b, &thread);
    s_fake_task (&a, "[\"b\",0]", 1, "block", "\"held\"", NULL);
    assert_true (s_converse_with (worker, &a, &b, true, s_blocked, &probe, S_WAIT_MS));
    size_t tasks = 20;
    for (size_t index = 0; index < tasks; index++) {
        char ref[32];
        snprintf (ref, sizeof ref, "[\"i\",%zu]", index);
        s_fake_task (&a, ref, 1, "echo-inline", "{\"k\":1}", NULL);
    }
    assert_true (s_converse_with (worker, &a, &b, true, s_results_in, &tasks, S_WAIT_MS));
    for (size_t index = 0; index < tasks; index++) {
        char *result = (char *) zlist_pop (a.results);
        char expected[128];
        snprintf (expected, sizeof expected,
                  "{\"op\":\"worker.result\",\"ref\":[\"i\",%zu],\"attempt\":1,\"ok\":true,"
                  "\"value\":{\"k\":1}}",
                  index);
        assert_string_equal (result, expected);
        zstr_free (&result);
    }
    pthread_mutex_lock (&probe.lock);
    assert_true (probe.blocked);
    probe.released = true;
    pthread_cond_broadcast (&probe.cond);
    pthread_mutex_unlock (&probe.lock);
    char *released = s_next_result (worker, &a, &b);
    assert_string_equal (released, "{\"op\":\"worker.result\",\"ref\":[\"b\",0],\"attempt\":1,"
                                   "\"ok\":true,\"value\":\"held\"}");
    zstr_free (&released);
    assert_int_equal (zdex_worker_tasks_done (worker), tasks + 1);
    s_stop (&worker, &a, &b, thread);
    s_probe_fini (&probe);
}

//  A member may send several tasks in one message, a frame each: the worker runs
//  every one, and answers the inline ones it ran in one pass with one message.
static void
test_batch_in_and_out (void **state)
{
    (void) state;
    s_fake_t a, b;
    pthread_t thread;
    s_probe_t probe;
    zdex_worker_t *worker = s_start_probed (&probe, &a, &b, &thread);
    size_t tasks = 10;
    zmsg_t *batch = zmsg_new ();
    zmsg_append (batch, &(zframe_t *){zframe_dup (a.worker)});
    for (size_t index = 0; index < tasks; index++)
        zmsg_addstrf (batch,
                      "{\"op\":\"worker.task\",\"ref\":[\"i\",%zu],\"attempt\":1,"
                      "\"type\":\"echo-inline\",\"payload\":%zu}",
                      index, index);
    int before = a.result_messages;
    assert_int_equal (zmsg_send (&batch, a.router), 0);
    assert_true (s_converse_with (worker, &a, &b, true, s_results_in, &tasks, S_WAIT_MS));
    assert_int_equal (a.result_messages - before, 1);
    for (size_t index = 0; index < tasks; index++) {
        char *result = (char *) zlist_pop (a.results);
        char expected[128];
        snprintf (expected, sizeof expected,
                  "{\"op\":\"worker.result\",\"ref\":[\"i\",%zu],\"attempt\":1,\"ok\":true,"
                  "\"value\":%zu}",
                  index, index);
        assert_string_equal (result, expected);
        zstr_free (&result);
    }
    //  Tasks for executors in one message, with a heartbeat among them.
    batch = zmsg_new ();
    zmsg_append (batch, &(zframe_t *){zframe_dup (a.worker)});
    zmsg_addstr (batch, "{\"op\":\"worker.task\",\"ref\":1,\"type\":\"echo\",\"payload\":1}");
    zmsg_addstr (batch, "{\"op\":\"worker.heartbeat\"}");
    zmsg_addstr (batch, "{\"op\":\"worker.task\",\"ref\":2,\"type\":\"echo\",\"payload\":2}");
    assert_int_equal (zmsg_send (&batch, a.router), 0);
    size_t two = 2;
    assert_true (s_converse_with (worker, &a, &b, true, s_results_in, &two, S_WAIT_MS));
    char *first = (char *) zlist_pop (a.results);
    char *second = (char *) zlist_pop (a.results);
    assert_true (strstr (first, "\"ref\":1,") || strstr (second, "\"ref\":1,"));
    assert_true (strstr (first, "\"ref\":2,") || strstr (second, "\"ref\":2,"));
    zstr_free (&first);
    zstr_free (&second);
    assert_int_equal (zdex_worker_tasks_done (worker), tasks + 2);
    s_stop (&worker, &a, &b, thread);
    s_probe_fini (&probe);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_members_come_and_go),  cmocka_unit_test (test_bad_lists_ignored),
        cmocka_unit_test (test_batch_in_and_out),     cmocka_unit_test (test_inline_same_results),
        cmocka_unit_test (test_inline_needs_no_slot),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
