//  zdex_waitset: which sockets it names ready, which it asks libzmq about, and
//  the case touch exists for (a message whose descriptor stays quiet).

#include "zdex_waitset.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#define S_PAIRS 8

typedef struct {
    zsock_t *push[S_PAIRS];
    zsock_t *pull[S_PAIRS];
    zdex_waitset_t *waitset;
} s_fixture_t;

static int
s_setup (void **state)
{
    //  Names never used before: a closed socket's inproc name is released only
    //  when libzmq's reaper gets to it.
    static int generation = 0;
    generation++;
    s_fixture_t *fixture = (s_fixture_t *) zmalloc (sizeof (s_fixture_t));
    assert_non_null (fixture);
    for (int index = 0; index < S_PAIRS; index++) {
        char endpoint[64];
        snprintf (endpoint, sizeof endpoint, "inproc://test-waitset-%d-%d", generation, index);
        fixture->pull[index] = zsock_new_pull (endpoint);
        fixture->push[index] = zsock_new_push (endpoint);
        assert_non_null (fixture->pull[index]);
        assert_non_null (fixture->push[index]);
        zsock_set_rcvtimeo (fixture->pull[index], 0);
    }
    fixture->waitset = zdex_waitset_new ();
    assert_non_null (fixture->waitset);
    *state = fixture;
    return 0;
}

static int
s_teardown (void **state)
{
    s_fixture_t *fixture = (s_fixture_t *) *state;
    for (int index = 0; index < S_PAIRS; index++) {
        zsock_destroy (&fixture->push[index]);
        zsock_destroy (&fixture->pull[index]);
    }
    zdex_waitset_destroy (&fixture->waitset);
    assert_null (fixture->waitset);
    free (fixture);
    return 0;
}

//  What a member's loop does with a ready socket: read it until EAGAIN.
static int
s_drain (zsock_t *pull)
{
    int count = 0;
    char *text;
    while ((text = zstr_recv (pull))) {
        zstr_free (&text);
        count++;
    }
    return count;
}

//  libzmq takes in pull's pending commands without our reading the message,
//  as a send on the same socket may: its descriptor then stays quiet.
static void
s_hide (zsock_t *pull)
{
    assert_true (zsock_events (pull) & ZMQ_POLLIN);
}

static void
test_ready_when_a_message_comes (void **state)
{
    s_fixture_t *fixture = (s_fixture_t *) *state;
    void *sockets[1] = {fixture->pull[0]};
    assert_int_equal (zdex_waitset_wait (fixture->waitset, sockets, 1, 0), 0);
    assert_false (zdex_waitset_ready (fixture->waitset, fixture->pull[0]));
    zstr_send (fixture->push[0], "one");
    assert_int_equal (zdex_waitset_wait (fixture->waitset, sockets, 1, 5000), 1);
    assert_true (zdex_waitset_ready (fixture->waitset, fixture->pull[0]));
    assert_int_equal (s_drain (fixture->pull[0]), 1);
    assert_int_equal (zdex_waitset_wait (fixture->waitset, sockets, 1, 0), 0);
    assert_false (zdex_waitset_ready (fixture->waitset, fixture->pull[0]));
}

//  Only the sockets that were ready or touched are asked; the others cost a
//  slot in the one poll.
static void
test_quiet_sockets_are_not_asked (void **state)
{
    s_fixture_t *fixture = (s_fixture_t *) *state;
    void *sockets[S_PAIRS];
    for (int index = 0; index < S_PAIRS; index++)
        sockets[index] = fixture->pull[index];
    uint64_t before = zdex_waitset_checks (fixture->waitset);
    assert_int_equal (zdex_waitset_wait (fixture->waitset, sockets, S_PAIRS, 0), 0);
    //  New: each asked once, then the poll.
    assert_int_equal (zdex_waitset_checks (fixture->waitset) - before, S_PAIRS + 1);
    before = zdex_waitset_checks (fixture->waitset);
    assert_int_equal (zdex_waitset_wait (fixture->waitset, sockets, S_PAIRS, 0), 0);
    assert_int_equal (zdex_waitset_checks (fixture->waitset) - before, 1);
    zdex_waitset_touch (fixture->waitset, fixture->pull[3]);
    before = zdex_waitset_checks (fixture->waitset);
    assert_int_equal (zdex_waitset_wait (fixture->waitset, sockets, S_PAIRS, 0), 0);
    assert_int_equal (zdex_waitset_checks (fixture->waitset) - before, 2);
    //  A message on a quiet socket is seen by its descriptor alone.
    zstr_send (fixture->push[5], "five");
    before = zdex_waitset_checks (fixture->waitset);
    assert_int_equal (zdex_waitset_wait (fixture->waitset, sockets, S_PAIRS, 5000), 1);
    assert_int_equal (zdex_waitset_checks (fixture->waitset) - before, 1);
    for (int index = 0; index < S_PAIRS; index++)
        assert_int_equal (zdex_waitset_ready (fixture->waitset, fixture->pull[index]), index == 5);
    assert_int_equal (s_drain (fixture->pull[5]), 1);
    //  Read, so asked at the next wait; then quiet again.
    before = zdex_waitset_checks (fixture->waitset);
    assert_int_equal (zdex_waitset_wait (fixture->waitset, sockets, S_PAIRS, 0), 0);
    assert_int_equal (zdex_waitset_checks (fixture->waitset) - before, 2);
}

//  The hazard touch covers: a message whose announcing command was taken in by
//  something other than a read.  Untouched, the wait cannot see it.
static void
test_touch_finds_a_hidden_message (void **state)
{
    s_fixture_t *fixture = (s_fixture_t *) *state;
    void *sockets[1] = {fixture->pull[0]};
    assert_int_equal (zdex_waitset_wait (fixture->waitset, sockets, 1, 0), 0);
    zstr_send (fixture->push[0], "hidden");
    s_hide (fixture->pull[0]);
    assert_int_equal (zdex_waitset_wait (fixture->waitset, sockets, 1, 20), 0);
    zdex_waitset_touch (fixture->waitset, fixture->pull[0]);
    assert_int_equal (zdex_waitset_wait (fixture->waitset, sockets, 1, 0), 1);
    assert_true (zdex_waitset_ready (fixture->waitset, fixture->pull[0]));
    assert_int_equal (s_drain (fixture->pull[0]), 1);
}

//  A socket that joins the set is asked, whatever its descriptor says; one that
//  leaves is forgotten (and counts as ready: the owner reads it itself).
static void
test_new_sockets_are_asked (void **state)
{
    s_fixture_t *fixture = (s_fixture_t *) *state;
    void *one[1] = {fixture->pull[0]};
    assert_int_equal (zdex_waitset_wait (fixture->waitset, one, 1, 0), 0);
    zstr_send (fixture->push[1], "waiting");
    s_hide (fixture->pull[1]);
    void *two[2] = {fixture->pull[0], fixture->pull[1]};
    assert_int_equal (zdex_waitset_wait (fixture->waitset, two, 2, 0), 1);
    assert_false (zdex_waitset_ready (fixture->waitset, fixture->pull[0]));
    assert_true (zdex_waitset_ready (fixture->waitset, fixture->pull[1]));
    assert_int_equal (s_drain (fixture->pull[1]), 1);
    assert_int_equal (zdex_waitset_wait (fixture->waitset, one, 1, 0), 0);
    assert_true (zdex_waitset_ready (fixture->waitset, fixture->pull[1]));
}

//  A socket read until EAGAIN is trusted again; one whose last read did not end
//  so is still asked.
static void
test_drained_sockets_are_not_asked (void **state)
{
    s_fixture_t *fixture = (s_fixture_t *) *state;
    void *sockets[2] = {fixture->pull[0], fixture->pull[1]};
    assert_int_equal (zdex_waitset_wait (fixture->waitset, sockets, 2, 0), 0);
    zstr_send (fixture->push[0], "zero");
    zstr_send (fixture->push[1], "one");
    zstr_send (fixture->push[1], "two");
    assert_int_equal (zdex_waitset_wait (fixture->waitset, sockets, 2, 5000), 1);
    //  Both may be named at once, or pull[1] one wait later: collect both.
    if (!zdex_waitset_ready (fixture->waitset, fixture->pull[1]))
        assert_int_equal (zdex_waitset_wait (fixture->waitset, sockets, 2, 5000), 1);
    assert_true (zdex_waitset_ready (fixture->waitset, fixture->pull[1]));
    assert_int_equal (s_drain (fixture->pull[0]), 1); //  ends in EAGAIN
    zdex_waitset_drained (fixture->waitset, fixture->pull[0]);
    char *text = zstr_recv (fixture->pull[1]); //  one of two: not dry
    assert_non_null (text);
    zstr_free (&text);
    errno = EINTR;
    zdex_waitset_drained (fixture->waitset, fixture->pull[1]); //  not after EAGAIN: ignored
    uint64_t before = zdex_waitset_checks (fixture->waitset);
    assert_int_equal (zdex_waitset_wait (fixture->waitset, sockets, 2, 0), 1);
    assert_int_equal (zdex_waitset_checks (fixture->waitset) - before, 2);
    assert_false (zdex_waitset_ready (fixture->waitset, fixture->pull[0]));
    assert_true (zdex_waitset_ready (fixture->waitset, fixture->pull[1]));
    assert_int_equal (s_drain (fixture->pull[1]), 1);
}

static void
test_no_waitset_means_always_ready (void **state)
{
    s_fixture_t *fixture = (s_fixture_t *) *state;
    assert_true (zdex_waitset_ready (NULL, fixture->pull[0]));
    zdex_waitset_touch (NULL, fixture->pull[0]);
    //  And a socket the last wait did not have is the owner's to read.
    assert_true (zdex_waitset_ready (fixture->waitset, fixture->pull[2]));
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown (test_ready_when_a_message_comes, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_quiet_sockets_are_not_asked, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_touch_finds_a_hidden_message, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_new_sockets_are_asked, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_drained_sockets_are_not_asked, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_no_waitset_means_always_ready, s_setup, s_teardown),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
