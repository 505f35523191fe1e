//  test_worker: the worker library against fake members (ROUTER sockets that this
//  test drives by hand), for what a real cluster cannot show on demand: which
//  member endpoints a worker keeps serving as worker.members lists come and go.

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
    zframe_t *worker; //  routing id of the worker's latest connection
    int readies;      //  worker.ready frames received
    int frames;       //  frames of any kind received
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
}

static void
s_fake_fini (s_fake_t *fake)
{
    zframe_destroy (&fake->worker);
    zsock_destroy (&fake->router);
}

//  Read what the worker sent the fake, without waiting.
static void
s_fake_drain (s_fake_t *fake)
{
    while (zsock_events (fake->router) & ZMQ_POLLIN) {
        zmsg_t *msg = zmsg_recv (fake->router);
        assert_non_null (msg);
        zframe_t *id = zmsg_pop (msg);
        char *frame = zmsg_popstr (msg);
        assert_non_null (frame);
        fake->frames++;
        if (strstr (frame, "\"worker.ready\"")) {
            assert_non_null (strstr (frame, "\"discover\":true"));
            fake->readies++;
            zframe_destroy (&fake->worker);
            fake->worker = id;
            id = NULL;
        }
        zstr_free (&frame);
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
//  done (a predicate) holds or `ms` pass; returns whether done held.
typedef bool (s_done_fn) (zdex_worker_t *worker, s_fake_t *a, s_fake_t *b);

static bool
s_converse (zdex_worker_t *worker, s_fake_t *a, s_fake_t *b, bool b_alive, s_done_fn *done,
            int64_t ms)
{
    int64_t deadline = zclock_mono () + ms;
    int64_t next_beat = 0;
    while (true) {
        s_fake_drain (a);
        s_fake_drain (b);
        if (done && done (worker, a, b))
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
s_a_registered (zdex_worker_t *worker, s_fake_t *a, s_fake_t *b)
{
    (void) worker, (void) b;
    return a->readies >= 1;
}

static bool
s_b_registered (zdex_worker_t *worker, s_fake_t *a, s_fake_t *b)
{
    (void) a;
    return b->readies >= 1 && zdex_worker_members (worker) == 2;
}

static bool
s_b_dropped (zdex_worker_t *worker, s_fake_t *a, s_fake_t *b)
{
    (void) a, (void) b;
    return zdex_worker_members (worker) == 1;
}

static bool
s_b_reset (zdex_worker_t *worker, s_fake_t *a, s_fake_t *b)
{
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

//  Fakes a and b up; a worker given only a's endpoint runs in *thread, has
//  registered with a, and learnt b from a's worker.members.
static zdex_worker_t *
s_start (s_fake_t *a, s_fake_t *b, pthread_t *thread)
{
    s_fake_init (a);
    s_fake_init (b);
    zdex_worker_t *worker = zdex_worker_new ("test-worker");
    assert_int_equal (zdex_worker_connect (worker, a->endpoint), 0);
    assert_int_equal (zdex_worker_handle (worker, "echo", s_echo, NULL), 0);
    zdex_worker_set_heartbeat (worker, S_HEARTBEAT_MS, S_TIMEOUT_MS);
    assert_int_equal (zdex_worker_members (worker), 1);
    assert_int_equal (pthread_create (thread, NULL, s_run, worker), 0);
    assert_true (s_converse (worker, a, b, true, s_a_registered, S_WAIT_MS));
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

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_members_come_and_go),
        cmocka_unit_test (test_bad_lists_ignored),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
