//  Hostile input: 1,000 malformed frames of many kinds, pipelined on one DEALER.
//  Each gets a typed error (BAD_REQUEST, UNKNOWN_OP or TOO_LARGE), nothing changes,
//  and the member still answers cluster.ping.

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

#define KINDS 16

//  Build malformed frame number index (caller owns).
static zframe_t *
s_bad_frame (int index)
{
    char text[512];
    switch (index % KINDS) {
    case 0:
        return zframe_new ("not json at all", 15);
    case 1:
        return zframe_new ("[1,2,3]", 7);
    case 2:
        return zframe_new ("{\"op\":\"durable.submit\",\"op\":\"durable.submit\"}", 45);
    case 3: {
        //  70 levels deep inside a payload.
        char deep[256] = "{\"op\":\"durable.submit\",\"task\":{\"type\":\"echo\",\"payload\":";
        for (int level = 0; level < 70; level++)
            strcat (deep, "[");
        for (int level = 0; level < 70; level++)
            strcat (deep, "]");
        strcat (deep, "}}");
        return zframe_new (deep, strlen (deep));
    }
    case 4: {
        //  Far deeper than jansson's own limit.
        size_t size = 100000;
        zframe_t *frame = zframe_new (NULL, size);
        memset (zframe_data (frame), '[', size);
        return frame;
    }
    case 5: {
        //  A 2 MiB string: over the 1 MiB frame limit.
        size_t size = 2 * 1024 * 1024;
        zframe_t *frame = zframe_new (NULL, size);
        char *data = (char *) zframe_data (frame);
        memcpy (data, "{\"op\":\"cluster.ping\",\"x\":\"", 26);
        memset (data + 26, 'a', size - 28);
        memcpy (data + size - 2, "\"}", 2);
        return frame;
    }
    case 6:
        snprintf (text, sizeof text, "{\"op\":\"durable.explode\",\"req\":%d}", index);
        break;
    case 7:
        snprintf (text, sizeof text,
                  "{\"op\":\"durable.submit\",\"task\":{\"type\":\"echo\"},"
                  "\"bogus\":1,\"req\":%d}",
                  index);
        break;
    case 8:
        snprintf (text, sizeof text, "{\"op\":\"durable.retrieve\",\"task_id\":\"12\",\"req\":%d}",
                  index);
        break;
    case 9:
        snprintf (text, sizeof text, "{\"op\":\"durable.retrieve\",\"task_id\":-1,\"req\":%d}",
                  index);
        break;
    case 10:
        snprintf (text, sizeof text, "{\"op\":\"durable.retrieve\",\"task_id\":1.5,\"req\":%d}",
                  index);
        break;
    case 11:
        snprintf (text, sizeof text,
                  "{\"op\":\"durable.submit\",\"executor\":\"\","
                  "\"task\":{\"type\":\"echo\"},\"req\":%d}",
                  index);
        break;
    case 12:
        snprintf (text, sizeof text,
                  "{\"op\":\"durable.submit\",\"task\":{\"payload\":1},\"req\":%d}", index);
        break;
    case 13:
        snprintf (text, sizeof text, "{\"op\":42,\"req\":%d}", index);
        break;
    case 14:
        return zframe_new ("", 0);
    default:
        snprintf (text, sizeof text,
                  "{\"op\":\"durable.retrieve\",\"task_id\":1,"
                  "\"timeout_ms\":-5,\"req\":%d}",
                  index);
        break;
    }
    return zframe_new (text, strlen (text));
}

static void
test_malformed_frames (void **state)
{
    (void) state;
    harness_member_t member;
    assert_int_equal (harness_member_start (&member, NULL), 0);
    zsock_t *dealer = zsock_new_dealer (member.client);
    assert_non_null (dealer);
    zsock_set_rcvtimeo (dealer, 20000);
    enum { COUNT = 1000 };
    int codes[3] = {0, 0, 0};
    for (int index = 0; index < COUNT; index++) {
        zframe_t *frame = s_bad_frame (index);
        assert_int_equal (zframe_send (&frame, dealer, 0), 0);
    }
    for (int count = 0; count < COUNT; count++) {
        char *text = zstr_recv (dealer);
        assert_non_null (text);
        json_error_t error;
        json_t *reply = json_loads (text, JSON_REJECT_DUPLICATES, &error);
        assert_non_null (reply);
        assert_true (json_is_false (json_object_get (reply, "ok")));
        const char *code =
            json_string_value (json_object_get (json_object_get (reply, "error"), "code"));
        assert_non_null (code);
        assert_non_null (
            json_string_value (json_object_get (json_object_get (reply, "error"), "message")));
        if (streq (code, "BAD_REQUEST"))
            codes[0]++;
        else if (streq (code, "UNKNOWN_OP"))
            codes[1]++;
        else if (streq (code, "TOO_LARGE"))
            codes[2]++;
        else
            fail_msg ("unexpected code %s", code);
        json_decref (reply);
        zstr_free (&text);
    }
    printf ("# BAD_REQUEST %d, UNKNOWN_OP %d, TOO_LARGE %d\n", codes[0], codes[1], codes[2]);
    assert_true (codes[0] > 0 && codes[1] > 0 && codes[2] > 0);

    //  Nothing was stored: the default executor never saw a valid submit.
    zdex_client_t *client = zdex_client_new (member.client);
    zdex_client_set_timeout (client, 10000);
    json_t *reply = NULL;
    assert_int_equal (zdex_client_ping (client, &reply), 0);
    json_decref (reply);
    bool shutdown = true;
    assert_int_equal (zdex_client_status (client, NULL, &shutdown, NULL), 0);
    assert_false (shutdown);
    json_t *stats = NULL;
    assert_int_equal (zdex_client_stats (client, NULL, &stats), 0);
    json_t *mine = json_object_get (json_object_get (stats, "members"), member.member_id);
    assert_int_equal (json_integer_value (json_object_get (mine, "pending")), 0);
    json_decref (stats);
    zdex_client_destroy (&client);
    zsock_destroy (&dealer);
    int status = harness_stop (member.pid, SIGTERM, 20000);
    assert_true (WIFEXITED (status) && WEXITSTATUS (status) == 0);
}

int
main (void)
{
    zsys_init ();
    zsys_handler_set (NULL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_malformed_frames),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
