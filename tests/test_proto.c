//  test_proto: the wire codec.  Every op parses with its defaults; every class of
//  malformed input gets the documented error code, a message naming the field, and
//  the echoed "req" when the frame was an object; reply and worker frames parse
//  back as the JSON they claim to be.

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "zdex_proto.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  ---------------------------------------------------------------------------------
//  Helpers

static zdex_request_t *
s_parse_with (const char *text, const zdex_limits_t *limits)
{
    zdex_error_t error;
    zdex_request_t *request = zdex_request_parse (text, strlen (text), limits, &error);
    if (!request) {
        print_error ("unexpected error %s: %s\n  for %s\n", zdex_code_str (error.code),
                     error.message, text);
        zdex_error_reset (&error);
        fail ();
    }
    return request;
}

static zdex_request_t *
s_parse (const char *text)
{
    return s_parse_with (text, NULL);
}

static void
s_assert_contains (const char *text, const char *fragment)
{
    if (!strstr (text, fragment)) {
        print_error ("'%s' does not contain '%s'\n", text, fragment);
        fail ();
    }
}

//  Parse a frame that must fail with code, a message containing fragment, and
//  expected_req as the echoed req (NULL: none).
static void
s_expect_with (const void *data, size_t size, const zdex_limits_t *limits, zdex_code_t code,
               const char *fragment, const char *expected_req)
{
    zdex_error_t error;
    zdex_request_t *request = zdex_request_parse (data, size, limits, &error);
    if (request) {
        print_error ("frame parsed but should fail with %s: %.*s\n", zdex_code_str (code),
                     (int) (size > 200 ? 200 : size), (const char *) data);
        zdex_request_destroy (&request);
        fail ();
    }
    if (error.code != code) {
        print_error ("expected %s, got %s (%s)\n", zdex_code_str (code), zdex_code_str (error.code),
                     error.message);
        fail ();
    }
    if (fragment)
        s_assert_contains (error.message, fragment);
    if (expected_req) {
        assert_non_null (error.req_text);
        assert_string_equal (error.req_text, expected_req);
    } else
        assert_null (error.req_text);
    zdex_error_reset (&error);
    assert_null (error.req_text);
}

static void
s_expect (const char *text, zdex_code_t code, const char *fragment, const char *expected_req)
{
    s_expect_with (text, strlen (text), NULL, code, fragment, expected_req);
}

//  A NUL-terminated copy of a frame's bytes.
static char *
s_frame_text (zframe_t *frame)
{
    assert_non_null (frame);
    size_t size = zframe_size (frame);
    char *text = (char *) malloc (size + 1);
    assert_non_null (text);
    memcpy (text, zframe_data (frame), size);
    text[size] = 0;
    return text;
}

//  Parse a frame strictly, as a client would; destroys the frame.
static json_t *
s_frame_json (zframe_t **frame_p)
{
    assert_non_null (*frame_p);
    json_error_t parse_error;
    json_t *root = json_loadb ((const char *) zframe_data (*frame_p), zframe_size (*frame_p),
                               JSON_REJECT_DUPLICATES, &parse_error);
    if (!root) {
        char *text = s_frame_text (*frame_p);
        print_error ("frame is not JSON (%s): %s\n", parse_error.text, text);
        free (text);
        fail ();
    }
    zframe_destroy (frame_p);
    return root;
}

//  A string of size copies of c (caller frees).
static char *
s_repeat (char c, size_t size)
{
    char *text = (char *) malloc (size + 1);
    assert_non_null (text);
    memset (text, c, size);
    text[size] = 0;
    return text;
}

//  A submit frame whose payload is depth nested arrays around 0.  The frame's
//  depth is nesting + 3: root, task, the arrays, the scalar.
static char *
s_nested_submit (int nesting, const char *req)
{
    size_t size = 200 + (size_t) nesting * 2 + (req ? strlen (req) : 0);
    char *text = (char *) malloc (size);
    assert_non_null (text);
    int used = snprintf (text, size,
                         "{%s%s%s\"op\":\"durable.submit\",\"task\":{\"type\":\"t\",\"payload\":",
                         req ? "\"req\":" : "", req ? req : "", req ? "," : "");
    for (int index = 0; index < nesting; index++)
        text[used++] = '[';
    text[used++] = '0';
    for (int index = 0; index < nesting; index++)
        text[used++] = ']';
    strcpy (text + used, "}}");
    return text;
}

//  ---------------------------------------------------------------------------------
//  Every op, with defaults

static void
test_submit_defaults (void **state)
{
    (void) state;
    zdex_request_t *request = s_parse ("{\"op\":\"durable.submit\",\"task\":{\"type\":\"echo\"}}");
    assert_int_equal (request->op, ZDEX_OP_DURABLE_SUBMIT);
    assert_non_null (request->root);
    assert_null (request->req_text);
    assert_string_equal (request->executor, "default");
    assert_null (request->key);
    assert_null (request->idempotency_key);
    assert_string_equal (request->task_type, "echo");
    assert_non_null (request->payload);
    assert_true (json_is_null (request->payload));
    assert_int_equal (request->timeout_ms, -1);
    zdex_request_destroy (&request);
    assert_null (request);
    zdex_request_destroy (&request); //  null-safe
}

static void
test_submit_all_fields (void **state)
{
    (void) state;
    zdex_request_t *request =
        s_parse ("{\"req\": {\"n\": [1, 2]}, \"op\":\"durable.submit\",\"executor\":\"jobs\","
                 "\"key\":\"user-7\",\"idempotency_key\":\"once\","
                 "\"task\":{\"payload\":{\"x\":[1,\"two\",null]},\"type\":\"sum\"}}");
    assert_int_equal (request->op, ZDEX_OP_DURABLE_SUBMIT);
    assert_string_equal (request->req_text, "{\"n\":[1,2]}");
    assert_string_equal (request->executor, "jobs");
    assert_string_equal (request->key, "user-7");
    assert_string_equal (request->idempotency_key, "once");
    assert_string_equal (request->task_type, "sum");
    assert_true (json_is_object (request->payload));
    char *payload = zdex_json_text (request->payload);
    assert_string_equal (payload, "{\"x\":[1,\"two\",null]}");
    free (payload);
    zdex_request_destroy (&request);
}

static void
test_execute (void **state)
{
    (void) state;
    zdex_request_t *request = s_parse (
        "{\"op\":\"durable.execute\",\"task\":{\"type\":\"t\",\"payload\":7},\"key\":\"k\"}");
    assert_int_equal (request->op, ZDEX_OP_DURABLE_EXECUTE);
    assert_string_equal (request->executor, "default");
    assert_string_equal (request->key, "k");
    assert_int_equal (json_integer_value (request->payload), 7);
    zdex_request_destroy (&request);
}

static void
test_retrieve_ops (void **state)
{
    (void) state;
    zdex_request_t *request = s_parse ("{\"op\":\"durable.retrieve\",\"task_id\":4294967301}");
    assert_int_equal (request->op, ZDEX_OP_DURABLE_RETRIEVE);
    assert_true (request->task_id == UINT64_C (4294967301));
    assert_int_equal (request->timeout_ms, -1);
    assert_string_equal (request->executor, "default");
    zdex_request_destroy (&request);

    request = s_parse ("{\"op\":\"durable.retrieve\",\"task_id\":0,\"timeout_ms\":0,\"req\":1}");
    assert_int_equal (request->task_id, 0);
    assert_int_equal (request->timeout_ms, 0);
    assert_string_equal (request->req_text, "1");
    zdex_request_destroy (&request);

    request = s_parse ("{\"op\":\"durable.retrieve_and_dispose\",\"executor\":\"e\","
                       "\"task_id\":9223372036854775807,\"timeout_ms\":1500}");
    assert_int_equal (request->op, ZDEX_OP_DURABLE_RETRIEVE_AND_DISPOSE);
    assert_true (request->task_id == UINT64_C (9223372036854775807));
    assert_int_equal (request->timeout_ms, 1500);
    assert_string_equal (request->executor, "e");
    zdex_request_destroy (&request);

    request = s_parse ("{\"op\":\"durable.dispose\",\"task_id\":12}");
    assert_int_equal (request->op, ZDEX_OP_DURABLE_DISPOSE);
    assert_int_equal (request->task_id, 12);
    zdex_request_destroy (&request);
}

static void
test_executor_ops (void **state)
{
    (void) state;
    struct {
        const char *name;
        zdex_op_t op;
    } ops[] = {
        {"durable.shutdown", ZDEX_OP_DURABLE_SHUTDOWN},
        {"durable.shutdown_now", ZDEX_OP_DURABLE_SHUTDOWN_NOW},
        {"durable.status", ZDEX_OP_DURABLE_STATUS},
        {"durable.stats", ZDEX_OP_DURABLE_STATS},
    };
    for (size_t index = 0; index < sizeof (ops) / sizeof (ops[0]); index++) {
        char text[200];
        snprintf (text, sizeof (text), "{\"op\":\"%s\"}", ops[index].name);
        zdex_request_t *request = s_parse (text);
        assert_int_equal (request->op, ops[index].op);
        assert_string_equal (request->executor, "default");
        zdex_request_destroy (&request);

        snprintf (text, sizeof (text), "{\"op\":\"%s\",\"executor\":\"x-1\",\"req\":\"r\"}",
                  ops[index].name);
        request = s_parse (text);
        assert_int_equal (request->op, ops[index].op);
        assert_string_equal (request->executor, "x-1");
        assert_string_equal (request->req_text, "\"r\"");
        zdex_request_destroy (&request);
        assert_string_equal (zdex_op_str (ops[index].op), ops[index].name);
    }
}

static void
test_cluster_ops (void **state)
{
    (void) state;
    zdex_request_t *request = s_parse ("{\"op\":\"cluster.ping\"}");
    assert_int_equal (request->op, ZDEX_OP_CLUSTER_PING);
    assert_string_equal (request->executor, "default");
    zdex_request_destroy (&request);
    request = s_parse ("{\"op\":\"cluster.members\",\"req\":[null]}");
    assert_int_equal (request->op, ZDEX_OP_CLUSTER_MEMBERS);
    assert_string_equal (request->req_text, "[null]");
    zdex_request_destroy (&request);
    request = s_parse ("{\"op\":\"cluster.workers\"}");
    assert_int_equal (request->op, ZDEX_OP_CLUSTER_WORKERS);
    assert_int_equal (request->min_workers, 0);
    assert_int_equal (request->timeout_ms, -1);
    zdex_request_destroy (&request);
    request = s_parse ("{\"op\":\"cluster.workers\",\"min_workers\":3,\"timeout_ms\":50}");
    assert_int_equal (request->min_workers, 3);
    assert_int_equal (request->timeout_ms, 50);
    zdex_request_destroy (&request);
    s_expect ("{\"op\":\"cluster.workers\",\"min_workers\":-1}", ZDEX_BAD_REQUEST, "'min_workers'",
              NULL);
    s_expect ("{\"op\":\"cluster.ping\",\"min_workers\":1}", ZDEX_BAD_REQUEST, "'min_workers'",
              NULL);
    s_expect ("{\"op\":\"cluster.ping\",\"executor\":\"e\"}", ZDEX_BAD_REQUEST, "'executor'", NULL);
}

static void
test_scheduled_ops (void **state)
{
    (void) state;
    //  Any scheduled.* op is recognised and not validated further
    zdex_request_t *request = s_parse (
        "{\"op\":\"scheduled.schedule\",\"scheduler\":\"s\",\"delay_ms\":-5,\"anything\":[1]}");
    assert_int_equal (request->op, ZDEX_OP_SCHEDULED);
    zdex_request_destroy (&request);
    request = s_parse ("{\"op\":\"scheduled.get\",\"handler\":\"urn:x\",\"req\":7}");
    assert_int_equal (request->op, ZDEX_OP_SCHEDULED);
    assert_string_equal (request->req_text, "7");
    zdex_request_destroy (&request);
    s_expect ("{\"op\":\"scheduledx\"}", ZDEX_UNKNOWN_OP, "scheduledx", NULL);
    s_expect ("{\"op\":\"scheduled\"}", ZDEX_UNKNOWN_OP, NULL, NULL);
}

//  ---------------------------------------------------------------------------------
//  Malformed frames

static void
test_not_json (void **state)
{
    (void) state;
    s_expect ("hello", ZDEX_BAD_REQUEST, "invalid JSON", NULL);
    s_expect ("{", ZDEX_BAD_REQUEST, "invalid JSON", NULL);
    s_expect ("{\"op\":\"cluster.ping\"} x", ZDEX_BAD_REQUEST, "invalid JSON", NULL);
    s_expect ("{\"req\":5,\"op\":", ZDEX_BAD_REQUEST, "invalid JSON", NULL);
    s_expect ("", ZDEX_BAD_REQUEST, "empty", NULL);
    s_expect_with (NULL, 0, NULL, ZDEX_BAD_REQUEST, "empty", NULL);
    //  Bytes that are not UTF-8, and an embedded NUL byte
    s_expect ("{\"op\":\"cluster.ping\",\"req\":\"\xff\"}", ZDEX_BAD_REQUEST, NULL, NULL);
    s_expect_with ("{\"op\":\"cluster.ping\"}\0", 22, NULL, ZDEX_BAD_REQUEST, NULL, NULL);
}

static void
test_not_object (void **state)
{
    (void) state;
    s_expect ("[{\"op\":\"cluster.ping\"}]", ZDEX_BAD_REQUEST, "object", NULL);
    s_expect ("[]", ZDEX_BAD_REQUEST, "object", NULL);
    s_expect ("1", ZDEX_BAD_REQUEST, NULL, NULL);
    s_expect ("\"cluster.ping\"", ZDEX_BAD_REQUEST, NULL, NULL);
    s_expect ("null", ZDEX_BAD_REQUEST, NULL, NULL);
}

static void
test_duplicate_key (void **state)
{
    (void) state;
    s_expect ("{\"op\":\"cluster.ping\",\"op\":\"cluster.ping\"}", ZDEX_BAD_REQUEST, "duplicate",
              NULL);
    s_expect ("{\"op\":\"durable.submit\",\"task\":{\"type\":\"t\",\"payload\":{\"a\":1,\"a\":2}}}",
              ZDEX_BAD_REQUEST, "duplicate", NULL);
    s_expect ("{\"req\":1,\"req\":2,\"op\":\"cluster.ping\"}", ZDEX_BAD_REQUEST, "duplicate", NULL);
}

static void
test_depth (void **state)
{
    (void) state;
    char *text = s_nested_submit (61, NULL); //  depth 64: accepted
    zdex_request_t *request = s_parse (text);
    assert_int_equal (zdex_json_depth (request->root, 100), 64);
    zdex_request_destroy (&request);
    free (text);

    text = s_nested_submit (62, "\"deep\""); //  depth 65: rejected, req echoed
    s_expect (text, ZDEX_BAD_REQUEST, "deeper than 64", "\"deep\"");
    free (text);

    //  Far past jansson's own parser limit: still a plain BAD_REQUEST
    text = s_nested_submit (5000, NULL);
    s_expect (text, ZDEX_BAD_REQUEST, NULL, NULL);
    free (text);

    //  A "req" that is itself too deep is not echoed
    char *deep_req = s_repeat ('[', 70);
    char *closing = s_repeat (']', 70);
    size_t size = strlen (deep_req) * 2 + 100;
    char *frame = (char *) malloc (size);
    snprintf (frame, size, "{\"op\":\"cluster.ping\",\"req\":%s%s}", deep_req, closing);
    s_expect (frame, ZDEX_BAD_REQUEST, "deeper", NULL);
    free (frame);
    free (deep_req);
    free (closing);
}

static void
test_json_depth (void **state)
{
    (void) state;
    json_t *value = json_loads ("{\"a\":[1,[2,{}]],\"b\":3}", 0, NULL);
    assert_int_equal (zdex_json_depth (value, 64), 4);
    assert_int_equal (zdex_json_depth (value, 2), 3); //  capped at limit + 1
    assert_int_equal (zdex_json_depth (value, 0), 1);
    json_decref (value);
    value = json_integer (5);
    assert_int_equal (zdex_json_depth (value, 64), 1);
    json_decref (value);
    value = json_array ();
    assert_int_equal (zdex_json_depth (value, 64), 1);
    json_decref (value);
    assert_int_equal (zdex_json_depth (NULL, 64), 0);
}

static void
test_op_field (void **state)
{
    (void) state;
    s_expect ("{}", ZDEX_BAD_REQUEST, "'op'", NULL);
    s_expect ("{\"req\":\"a\"}", ZDEX_BAD_REQUEST, "'op'", "\"a\"");
    s_expect ("{\"op\":5,\"req\":\"a\"}", ZDEX_BAD_REQUEST, "'op'", "\"a\"");
    s_expect ("{\"op\":null}", ZDEX_BAD_REQUEST, "'op'", NULL);
    s_expect ("{\"op\":\"durable.nope\",\"req\":{\"id\":3}}", ZDEX_UNKNOWN_OP, "durable.nope",
              "{\"id\":3}");
    s_expect ("{\"op\":\"\"}", ZDEX_UNKNOWN_OP, NULL, NULL);
    s_expect ("{\"op\":\"DURABLE.SUBMIT\"}", ZDEX_UNKNOWN_OP, NULL, NULL);
    s_expect ("{\"op\":\"durable.submit \"}", ZDEX_UNKNOWN_OP, NULL, NULL);
    s_expect ("{\"op\":\"worker.ready\"}", ZDEX_UNKNOWN_OP, NULL, NULL);
    //  A long op name is cut short in the message
    char *name = s_repeat ('z', 5000);
    size_t size = strlen (name) + 50;
    char *frame = (char *) malloc (size);
    snprintf (frame, size, "{\"op\":\"%s\"}", name);
    s_expect (frame, ZDEX_UNKNOWN_OP, "zzz...", NULL);
    free (frame);
    free (name);
}

static void
test_unknown_field (void **state)
{
    (void) state;
    s_expect ("{\"op\":\"durable.submit\",\"task\":{\"type\":\"t\"},\"bogus\":1,\"req\":2}",
              ZDEX_BAD_REQUEST, "unknown field 'bogus' for op 'durable.submit'", "2");
    s_expect ("{\"op\":\"durable.dispose\",\"task_id\":1,\"timeout_ms\":5}", ZDEX_BAD_REQUEST,
              "'timeout_ms'", NULL);
    s_expect ("{\"op\":\"durable.retrieve\",\"task_id\":1,\"task\":{\"type\":\"t\"}}",
              ZDEX_BAD_REQUEST, "'task'", NULL);
    s_expect ("{\"op\":\"durable.submit\",\"task\":{\"type\":\"t\"},\"task_id\":1}",
              ZDEX_BAD_REQUEST, "'task_id'", NULL);
    s_expect ("{\"op\":\"durable.status\",\"key\":\"k\"}", ZDEX_BAD_REQUEST, "'key'", NULL);
    s_expect ("{\"op\":\"durable.submit\",\"task\":{\"type\":\"t\",\"extra\":1}}", ZDEX_BAD_REQUEST,
              "'task.extra'", NULL);
    s_expect ("{\"op\":\"durable.submit\",\"Task\":{\"type\":\"t\"}}", ZDEX_BAD_REQUEST, "'Task'",
              NULL);
    s_expect ("{\"op\":\"cluster.members\",\"\":1}", ZDEX_BAD_REQUEST, "unknown field ''", NULL);
}

static void
test_wrong_types (void **state)
{
    (void) state;
    s_expect ("{\"op\":\"durable.status\",\"executor\":5}", ZDEX_BAD_REQUEST,
              "field 'executor' must be a non-empty string", NULL);
    s_expect ("{\"op\":\"durable.submit\",\"key\":true,\"task\":{\"type\":\"t\"}}",
              ZDEX_BAD_REQUEST, "'key'", NULL);
    s_expect ("{\"op\":\"durable.submit\",\"idempotency_key\":null,\"task\":{\"type\":\"t\"}}",
              ZDEX_BAD_REQUEST, "'idempotency_key'", NULL);
    s_expect ("{\"op\":\"durable.submit\",\"task\":\"t\",\"req\":\"x\"}", ZDEX_BAD_REQUEST,
              "'task' must be an object", "\"x\"");
    s_expect ("{\"op\":\"durable.submit\",\"task\":[]}", ZDEX_BAD_REQUEST, "'task'", NULL);
    s_expect ("{\"op\":\"durable.submit\",\"task\":{\"type\":5}}", ZDEX_BAD_REQUEST, "'task.type'",
              NULL);
    s_expect ("{\"op\":\"durable.retrieve\",\"task_id\":\"1\"}", ZDEX_BAD_REQUEST,
              "field 'task_id' must be a non-negative integer", NULL);
    s_expect ("{\"op\":\"durable.retrieve\",\"task_id\":1,\"timeout_ms\":\"5\"}", ZDEX_BAD_REQUEST,
              "'timeout_ms'", NULL);
    s_expect ("{\"op\":\"durable.retrieve\",\"task_id\":1,\"timeout_ms\":1.5}", ZDEX_BAD_REQUEST,
              "'timeout_ms'", NULL);
    s_expect ("{\"op\":\"durable.retrieve\",\"task_id\":1,\"timeout_ms\":-1}", ZDEX_BAD_REQUEST,
              "'timeout_ms'", NULL);
    s_expect ("{\"op\":\"durable.retrieve\",\"task_id\":1,\"timeout_ms\":315360000001}",
              ZDEX_BAD_REQUEST, "'timeout_ms'", NULL);
    zdex_request_t *request =
        s_parse ("{\"op\":\"durable.retrieve\",\"task_id\":1,\"timeout_ms\":315360000000}");
    assert_true (request->timeout_ms == INT64_C (315360000000));
    zdex_request_destroy (&request);
}

static void
test_empty_strings (void **state)
{
    (void) state;
    s_expect ("{\"op\":\"durable.stats\",\"executor\":\"\"}", ZDEX_BAD_REQUEST, "'executor'", NULL);
    s_expect ("{\"op\":\"durable.submit\",\"key\":\"\",\"task\":{\"type\":\"t\"}}",
              ZDEX_BAD_REQUEST, "'key'", NULL);
    s_expect ("{\"op\":\"durable.submit\",\"idempotency_key\":\"\",\"task\":{\"type\":\"t\"}}",
              ZDEX_BAD_REQUEST, "'idempotency_key'", NULL);
    s_expect ("{\"op\":\"durable.submit\",\"task\":{\"type\":\"\"}}", ZDEX_BAD_REQUEST,
              "'task.type'", NULL);
}

static void
test_task_id_range (void **state)
{
    (void) state;
    s_expect ("{\"op\":\"durable.retrieve\",\"task_id\":-1,\"req\":\"q\"}", ZDEX_BAD_REQUEST,
              "field 'task_id' must be a non-negative integer", "\"q\"");
    s_expect ("{\"op\":\"durable.dispose\",\"task_id\":1.0}", ZDEX_BAD_REQUEST, "'task_id'", NULL);
    s_expect ("{\"op\":\"durable.dispose\",\"task_id\":1e3}", ZDEX_BAD_REQUEST, "'task_id'", NULL);
    s_expect ("{\"op\":\"durable.dispose\",\"task_id\":null}", ZDEX_BAD_REQUEST, "'task_id'", NULL);
    //  Past the int64 range jansson itself refuses the number
    s_expect ("{\"op\":\"durable.dispose\",\"task_id\":18446744073709551616}", ZDEX_BAD_REQUEST,
              NULL, NULL);
}

static void
test_missing_fields (void **state)
{
    (void) state;
    s_expect ("{\"op\":\"durable.submit\",\"req\":true}", ZDEX_BAD_REQUEST,
              "field 'task' is required", "true");
    s_expect ("{\"op\":\"durable.execute\"}", ZDEX_BAD_REQUEST, "'task'", NULL);
    s_expect ("{\"op\":\"durable.submit\",\"task\":{}}", ZDEX_BAD_REQUEST,
              "field 'task.type' is required", NULL);
    s_expect ("{\"op\":\"durable.submit\",\"task\":{\"payload\":1}}", ZDEX_BAD_REQUEST,
              "'task.type'", NULL);
    s_expect ("{\"op\":\"durable.retrieve\"}", ZDEX_BAD_REQUEST, "field 'task_id' is required",
              NULL);
    s_expect ("{\"op\":\"durable.retrieve_and_dispose\",\"timeout_ms\":0}", ZDEX_BAD_REQUEST,
              "'task_id'", NULL);
    s_expect ("{\"op\":\"durable.dispose\"}", ZDEX_BAD_REQUEST, "'task_id'", NULL);
}

static void
test_nul_in_strings (void **state)
{
    (void) state;
    s_expect ("{\"op\":\"durable.status\",\"executor\":\"a\\u0000b\"}", ZDEX_BAD_REQUEST, NULL,
              NULL);
    s_expect ("{\"op\":\"durable.status\",\"a\\u0000b\":1}", ZDEX_BAD_REQUEST, NULL, NULL);
}

static void
test_too_large_frame (void **state)
{
    (void) state;
    zdex_limits_t limits = {64, 32};
    const char *fits = "{\"op\":\"cluster.ping\",\"req\":\"abcdefghijklmnopqrstuvwxyz01234567\"}";
    assert_int_equal (strlen (fits), 64);
    zdex_request_t *request = s_parse_with (fits, &limits);
    zdex_request_destroy (&request);
    const char *over = "{\"op\":\"cluster.ping\",\"req\":\"abcdefghijklmnopqrstuvwxyz012345678\"}";
    assert_int_equal (strlen (over), 65);
    s_expect_with (over, strlen (over), &limits, ZDEX_TOO_LARGE, "max_frame_bytes", NULL);
    //  Checked before parsing: garbage above the limit is TOO_LARGE too
    char *garbage = s_repeat ('x', 65);
    s_expect_with (garbage, 65, &limits, ZDEX_TOO_LARGE, NULL, NULL);
    free (garbage);
    //  Default limit: 1 MiB
    size_t size = 1024 * 1024 + 1;
    garbage = s_repeat (' ', size);
    s_expect_with (garbage, size, NULL, ZDEX_TOO_LARGE, "1048576", NULL);
    free (garbage);
}

static void
test_too_large_payload (void **state)
{
    (void) state;
    zdex_limits_t limits = {4096, 10};
    //  "12345678" encodes to 10 bytes with its quotes: at the limit
    zdex_request_t *request = s_parse_with (
        "{\"op\":\"durable.submit\",\"task\":{\"type\":\"t\",\"payload\":\"12345678\"}}", &limits);
    zdex_request_destroy (&request);
    const char *over = "{\"req\":[\"p\"],\"op\":\"durable.submit\",\"task\":{\"type\":\"t\","
                       "\"payload\":\"123456789\"}}";
    s_expect_with (over, strlen (over), &limits, ZDEX_TOO_LARGE, "max_payload_bytes", "[\"p\"]");
    //  The compact encoding counts, not the text as sent
    request = s_parse_with ("{\"op\":\"durable.execute\",\"task\":{\"type\":\"t\",\"payload\":"
                            "[ 1 ,  2 ,  3 ,  4 ]}}",
                            &limits);
    zdex_request_destroy (&request);
    over = "{\"op\":\"durable.execute\",\"task\":{\"type\":\"t\",\"payload\":[1,2,3,4,5]}}";
    s_expect_with (over, strlen (over), &limits, ZDEX_TOO_LARGE, NULL, NULL);
}

static void
test_huge_strings (void **state)
{
    (void) state;
    char *name = s_repeat ('n', ZDEX_MAX_NAME_BYTES);
    size_t size = 2 * ZDEX_MAX_NAME_BYTES + 200;
    char *frame = (char *) malloc (size);
    snprintf (frame, size, "{\"op\":\"durable.status\",\"executor\":\"%s\"}", name);
    zdex_request_t *request = s_parse (frame);
    assert_int_equal (strlen (request->executor), ZDEX_MAX_NAME_BYTES);
    zdex_request_destroy (&request);
    free (name);

    name = s_repeat ('n', ZDEX_MAX_NAME_BYTES + 1);
    snprintf (frame, size, "{\"op\":\"durable.status\",\"executor\":\"%s\"}", name);
    s_expect (frame, ZDEX_BAD_REQUEST, "'executor'", NULL);
    snprintf (frame, size, "{\"op\":\"durable.submit\",\"task\":{\"type\":\"%s\"}}", name);
    s_expect (frame, ZDEX_BAD_REQUEST, "'task.type'", NULL);
    free (name);
    free (frame);

    //  A 600 KiB key in a frame under 1 MiB
    name = s_repeat ('k', 600 * 1024);
    size = strlen (name) + 200;
    frame = (char *) malloc (size);
    snprintf (frame, size, "{\"op\":\"durable.submit\",\"key\":\"%s\",\"task\":{\"type\":\"t\"}}",
              name);
    s_expect (frame, ZDEX_BAD_REQUEST, "'key'", NULL);
    //  And a huge unknown field name is cut short in the message
    snprintf (frame, size, "{\"op\":\"cluster.ping\",\"%s\":1}", name);
    s_expect (frame, ZDEX_BAD_REQUEST, "kkk...'", NULL);
    free (frame);
    free (name);

    //  Multi-byte names count bytes and are never cut inside a character
    size = 1000;
    frame = (char *) malloc (size);
    int used = snprintf (frame, size, "{\"op\":\"cluster.ping\",\"");
    for (int index = 0; index < 40; index++)
        used += snprintf (frame + used, size - used, "\xc3\xa9");
    snprintf (frame + used, size - used, "\":1}");
    zdex_error_t error;
    assert_null (zdex_request_parse (frame, strlen (frame), NULL, &error));
    assert_int_equal (error.code, ZDEX_BAD_REQUEST);
    json_t *check = json_string (error.message);
    assert_non_null (check); //  still valid UTF-8
    json_decref (check);
    s_assert_contains (error.message, "\xc3\xa9...'");
    zdex_error_reset (&error);
    free (frame);
}

static void
test_req_echo (void **state)
{
    (void) state;
    //  Any JSON value, compact
    s_expect ("{\"req\": { \"a\" : [ 1 , 2.5 , \"x\\\"y\" ] } , \"op\":\"nope\"}", ZDEX_UNKNOWN_OP,
              NULL, "{\"a\":[1,2.5,\"x\\\"y\"]}");
    s_expect ("{\"op\":\"nope\",\"req\":null}", ZDEX_UNKNOWN_OP, NULL, "null");
    s_expect ("{\"op\":\"nope\",\"req\":\"\\u00e9\"}", ZDEX_UNKNOWN_OP, NULL, "\"\xc3\xa9\"");
    //  Absent when the frame could not be parsed, or was too large to parse
    s_expect ("{\"req\":1,\"op\":\"cluster.ping\",}", ZDEX_BAD_REQUEST, NULL, NULL);
    zdex_limits_t limits = {16, 16};
    const char *big = "{\"req\":1,\"op\":\"cluster.ping\"}";
    s_expect_with (big, strlen (big), &limits, ZDEX_TOO_LARGE, NULL, NULL);
    //  A NULL error pointer is allowed and leaks nothing
    assert_null (zdex_request_parse (big, strlen (big), &limits, NULL));
    const char *bad = "{\"req\":1,\"op\":\"nope\"}";
    assert_null (zdex_request_parse (bad, strlen (bad), NULL, NULL));
}

static void
test_code_and_op_strings (void **state)
{
    (void) state;
    const char *codes[] = {"OK",          "BAD_REQUEST",    "UNKNOWN_OP", "TOO_LARGE",
                           "REJECTED",    "STALE_TASK_ID",  "STALE_TASK", "DUPLICATE_TASK",
                           "TASK_FAILED", "CANCELLED",      "TIMEOUT",    "SPLIT_BRAIN_PROTECTION",
                           "MEMBER_LOST", "PARTITION_LOST", "UNAVAILABLE"};
    for (int code = ZDEX_OK; code <= ZDEX_UNAVAILABLE; code++)
        assert_string_equal (zdex_code_str ((zdex_code_t) code), codes[code]);
    assert_string_equal (zdex_code_str ((zdex_code_t) 99), "UNKNOWN");
    assert_string_equal (zdex_op_str (ZDEX_OP_DURABLE_SUBMIT), "durable.submit");
    assert_string_equal (zdex_op_str (ZDEX_OP_DURABLE_RETRIEVE_AND_DISPOSE),
                         "durable.retrieve_and_dispose");
    assert_string_equal (zdex_op_str (ZDEX_OP_CLUSTER_WORKERS), "cluster.workers");
    assert_string_equal (zdex_op_str (ZDEX_OP_SCHEDULED), "scheduled.*");
    assert_string_equal (zdex_op_str (ZDEX_OP_COUNT), "unknown");
    //  Every named op parses back to itself
    for (int op = 0; op < ZDEX_OP_COUNT; op++) {
        if (op == ZDEX_OP_SCHEDULED)
            continue;
        char frame[200];
        const char *extra = "";
        if (op == ZDEX_OP_DURABLE_SUBMIT || op == ZDEX_OP_DURABLE_EXECUTE)
            extra = ",\"task\":{\"type\":\"t\"}";
        else if (op == ZDEX_OP_DURABLE_RETRIEVE || op == ZDEX_OP_DURABLE_RETRIEVE_AND_DISPOSE ||
                 op == ZDEX_OP_DURABLE_DISPOSE)
            extra = ",\"task_id\":3";
        snprintf (frame, sizeof (frame), "{\"op\":\"%s\"%s}", zdex_op_str ((zdex_op_t) op), extra);
        zdex_request_t *request = s_parse (frame);
        assert_int_equal (request->op, op);
        zdex_request_destroy (&request);
    }
}

//  ---------------------------------------------------------------------------------
//  Replies and JSON helpers

static void
test_reply_ok (void **state)
{
    (void) state;
    zframe_t *frame = zdex_reply_ok (NULL, NULL);
    char *text = s_frame_text (frame);
    assert_string_equal (text, "{\"ok\":true}");
    free (text);
    zframe_destroy (&frame);

    frame = zdex_reply_ok ("{\"id\":[1,2]}", ",\"task_id\":4294967296");
    text = s_frame_text (frame);
    assert_string_equal (text, "{\"req\":{\"id\":[1,2]},\"ok\":true,\"task_id\":4294967296}");
    free (text);
    json_t *root = s_frame_json (&frame);
    assert_null (frame);
    assert_true (json_is_true (json_object_get (root, "ok")));
    assert_true (json_integer_value (json_object_get (root, "task_id")) == INT64_C (4294967296));
    assert_int_equal (json_integer_value (json_array_get (
                          json_object_get (json_object_get (root, "req"), "id"), 1)),
                      2);
    json_decref (root);

    frame = zdex_reply_ok ("\"r\"", ",\"result\":null,\"disposed\":true");
    root = s_frame_json (&frame);
    assert_string_equal (json_string_value (json_object_get (root, "req")), "r");
    assert_true (json_is_null (json_object_get (root, "result")));
    assert_true (json_is_true (json_object_get (root, "disposed")));
    json_decref (root);
}

static void
test_reply_error (void **state)
{
    (void) state;
    zframe_t *frame = zdex_reply_error (NULL, ZDEX_BAD_REQUEST, "invalid JSON", NULL);
    char *text = s_frame_text (frame);
    assert_string_equal (text,
                         "{\"ok\":false,\"error\":{\"code\":\"BAD_REQUEST\",\"message\":\"invalid "
                         "JSON\"}}");
    free (text);
    zframe_destroy (&frame);

    //  Quotes, backslashes, newlines, control characters and non-ASCII survive
    const char *message = "field 'x' said \"hi\"\\ \n\ttab \x01 caf\xc3\xa9 \xe2\x9c\x93 "
                          "\xf0\x9f\x98\x80 end";
    frame = zdex_reply_error ("[1,\"a\"]", ZDEX_TASK_FAILED, message, "\"boom\\n\"");
    json_t *root = s_frame_json (&frame);
    assert_true (json_is_false (json_object_get (root, "ok")));
    assert_int_equal (json_array_size (json_object_get (root, "req")), 2);
    json_t *error = json_object_get (root, "error");
    assert_string_equal (json_string_value (json_object_get (error, "code")), "TASK_FAILED");
    assert_string_equal (json_string_value (json_object_get (error, "message")), message);
    assert_string_equal (json_string_value (json_object_get (error, "cause")), "boom\n");
    assert_int_equal (json_object_size (error), 3);
    json_decref (root);

    //  A structured cause is spliced as is
    frame = zdex_reply_error ("7", ZDEX_TIMEOUT, "timed out", "{\"a\":1}");
    root = s_frame_json (&frame);
    error = json_object_get (root, "error");
    assert_int_equal (json_integer_value (json_object_get (json_object_get (error, "cause"), "a")),
                      1);
    json_decref (root);

    //  Bytes that are not UTF-8 are replaced, so the frame is still JSON
    frame = zdex_reply_error (NULL, ZDEX_BAD_REQUEST, "bad \xff\xc3 byte", NULL);
    root = s_frame_json (&frame);
    assert_string_equal (
        json_string_value (json_object_get (json_object_get (root, "error"), "message")),
        "bad ?? byte");
    json_decref (root);

    //  Every parse error message makes a valid reply
    zdex_error_t parse_error;
    const char *bad = "{\"req\":\"\xc3\",\"op\":1}";
    assert_null (zdex_request_parse (bad, strlen (bad), NULL, &parse_error));
    frame = zdex_reply_error (parse_error.req_text, parse_error.code, parse_error.message, NULL);
    root = s_frame_json (&frame);
    assert_null (json_object_get (root, "req"));
    json_decref (root);
    zdex_error_reset (&parse_error);
}

static void
test_json_helpers (void **state)
{
    (void) state;
    char *text = zdex_json_quote ("plain");
    assert_string_equal (text, "\"plain\"");
    free (text);
    text = zdex_json_quote ("a\"b\\c\nd\x1f/\xc3\xa9");
    assert_string_equal (text, "\"a\\\"b\\\\c\\nd\\u001F/\xc3\xa9\"");
    free (text);
    text = zdex_json_quote ("");
    assert_string_equal (text, "\"\"");
    free (text);
    text = zdex_json_quote ("x\xfe");
    assert_string_equal (text, "\"x?\"");
    free (text);

    text = zdex_json_text (NULL);
    assert_string_equal (text, "null");
    free (text);
    json_t *value = json_pack ("{s:[i,s,b],s:f}", "a", 1, "b", true, "c", 0.5);
    text = zdex_json_text (value);
    assert_string_equal (text, "{\"a\":[1,\"b\",true],\"c\":0.5}");
    free (text);
    json_decref (value);
    value = json_string ("s");
    text = zdex_json_text (value);
    assert_string_equal (text, "\"s\"");
    free (text);
    json_decref (value);

    zdex_error_t error = {ZDEX_BAD_REQUEST, "x", strdup ("1")};
    zdex_error_reset (&error);
    assert_int_equal (error.code, ZDEX_OK);
    assert_null (error.req_text);
    assert_string_equal (error.message, "");
    zdex_error_reset (NULL);
}

//  ---------------------------------------------------------------------------------
//  Worker messages

static zdex_wmsg_t *
s_wmsg (const char *text)
{
    zdex_error_t error;
    zdex_wmsg_t *msg = zdex_wmsg_parse (text, strlen (text), NULL, &error);
    if (!msg) {
        print_error ("unexpected error %s: %s\n  for %s\n", zdex_code_str (error.code),
                     error.message, text);
        zdex_error_reset (&error);
        fail ();
    }
    return msg;
}

static void
s_wmsg_expect (const char *text, zdex_code_t code, const char *fragment)
{
    zdex_error_t error;
    zdex_wmsg_t *msg = zdex_wmsg_parse (text, strlen (text), NULL, &error);
    if (msg) {
        print_error ("worker message parsed but should fail: %s\n", text);
        zdex_wmsg_destroy (&msg);
        fail ();
    }
    if (error.code != code) {
        print_error ("expected %s, got %s (%s) for %s\n", zdex_code_str (code),
                     zdex_code_str (error.code), error.message, text);
        fail ();
    }
    if (fragment)
        s_assert_contains (error.message, fragment);
    assert_null (error.req_text);
    zdex_error_reset (&error);
}

static void
test_wmsg_ready (void **state)
{
    (void) state;
    zdex_wmsg_t *msg = s_wmsg (
        "{\"op\":\"worker.ready\",\"types\":[\"echo\",\"fail\"],\"slots\":4,\"name\":\"w1\"}");
    assert_int_equal (msg->kind, ZDEX_WMSG_READY);
    assert_int_equal (msg->slots, 4);
    assert_string_equal (msg->name, "w1");
    assert_int_equal (zlist_size (msg->types), 2);
    assert_string_equal ((char *) zlist_first (msg->types), "echo");
    assert_string_equal ((char *) zlist_next (msg->types), "fail");
    zdex_wmsg_destroy (&msg);
    assert_null (msg);
    zdex_wmsg_destroy (&msg);

    msg = s_wmsg ("{\"slots\":65536,\"types\":[\"t\"],\"op\":\"worker.ready\"}");
    assert_null (msg->name);
    assert_int_equal (msg->slots, 65536);
    zdex_wmsg_destroy (&msg);
    msg = s_wmsg ("{\"op\":\"worker.ready\",\"types\":[\"t\"],\"slots\":1}");
    assert_false (msg->discover);
    zdex_wmsg_destroy (&msg);
    msg = s_wmsg ("{\"op\":\"worker.ready\",\"types\":[\"t\"],\"slots\":1,\"discover\":true}");
    assert_true (msg->discover);
    zdex_wmsg_destroy (&msg);
    s_wmsg_expect ("{\"op\":\"worker.ready\",\"types\":[\"t\"],\"slots\":1,\"discover\":1}",
                   ZDEX_BAD_REQUEST, "'discover'");

    s_wmsg_expect ("{\"op\":\"worker.ready\",\"types\":[],\"slots\":1}", ZDEX_BAD_REQUEST,
                   "'types'");
    s_wmsg_expect ("{\"op\":\"worker.ready\",\"types\":\"t\",\"slots\":1}", ZDEX_BAD_REQUEST,
                   "'types'");
    s_wmsg_expect ("{\"op\":\"worker.ready\",\"slots\":1}", ZDEX_BAD_REQUEST, "'types'");
    s_wmsg_expect ("{\"op\":\"worker.ready\",\"types\":[\"a\",\"\"],\"slots\":1}", ZDEX_BAD_REQUEST,
                   "types");
    s_wmsg_expect ("{\"op\":\"worker.ready\",\"types\":[\"a\",1],\"slots\":1}", ZDEX_BAD_REQUEST,
                   "types");
    s_wmsg_expect ("{\"op\":\"worker.ready\",\"types\":[\"a\",\"b\",\"a\"],\"slots\":1}",
                   ZDEX_BAD_REQUEST, "twice");
    s_wmsg_expect ("{\"op\":\"worker.ready\",\"types\":[\"a\"],\"slots\":0}", ZDEX_BAD_REQUEST,
                   "'slots'");
    s_wmsg_expect ("{\"op\":\"worker.ready\",\"types\":[\"a\"],\"slots\":65537}", ZDEX_BAD_REQUEST,
                   "'slots'");
    s_wmsg_expect ("{\"op\":\"worker.ready\",\"types\":[\"a\"],\"slots\":2.0}", ZDEX_BAD_REQUEST,
                   "'slots'");
    s_wmsg_expect ("{\"op\":\"worker.ready\",\"types\":[\"a\"]}", ZDEX_BAD_REQUEST,
                   "'slots' is required");
    s_wmsg_expect ("{\"op\":\"worker.ready\",\"types\":[\"a\"],\"slots\":1,\"name\":\"\"}",
                   ZDEX_BAD_REQUEST, "'name'");
    s_wmsg_expect ("{\"op\":\"worker.ready\",\"types\":[\"a\"],\"slots\":1,\"req\":1}",
                   ZDEX_BAD_REQUEST, "unknown field 'req'");

    //  256 types are fine, 257 are not
    char *frame = (char *) malloc (8192);
    for (int count = 256; count <= 257; count++) {
        int used = snprintf (frame, 8192, "{\"op\":\"worker.ready\",\"slots\":1,\"types\":[");
        for (int index = 0; index < count; index++)
            used += snprintf (frame + used, 8192 - used, "%s\"t%d\"", index ? "," : "", index);
        snprintf (frame + used, 8192 - used, "]}");
        if (count == 256) {
            msg = s_wmsg (frame);
            assert_int_equal (zlist_size (msg->types), 256);
            zdex_wmsg_destroy (&msg);
        } else
            s_wmsg_expect (frame, ZDEX_BAD_REQUEST, "'types'");
    }
    free (frame);
}

static void
test_wmsg_result (void **state)
{
    (void) state;
    zdex_wmsg_t *msg = s_wmsg ("{\"op\":\"worker.result\",\"ref\":[\"d\",\"jobs\",4294967297],"
                               "\"attempt\":2,\"ok\":true,\"value\":{\"sum\":3}}");
    assert_int_equal (msg->kind, ZDEX_WMSG_RESULT);
    assert_string_equal (msg->executor, "jobs");
    assert_true (msg->task_id == UINT64_C (4294967297));
    assert_int_equal (msg->attempt, 2);
    assert_true (msg->ok);
    assert_int_equal (json_integer_value (json_object_get (msg->value, "sum")), 3);
    assert_null (msg->error);
    assert_null (msg->state);
    zdex_wmsg_destroy (&msg);

    msg = s_wmsg ("{\"op\":\"worker.result\",\"ref\":[\"d\",\"e\",0],\"attempt\":4294967295,"
                  "\"ok\":true,\"state\":[1]}");
    assert_true (msg->attempt == UINT32_MAX);
    assert_true (json_is_null (msg->value));
    assert_true (json_is_array (msg->state));
    zdex_wmsg_destroy (&msg);

    msg = s_wmsg ("{\"op\":\"worker.result\",\"ok\":false,\"error\":\"boom\","
                  "\"ref\":[\"d\",\"e\",5],\"attempt\":1}");
    assert_false (msg->ok);
    assert_string_equal (msg->error, "boom");
    assert_null (msg->value);
    zdex_wmsg_destroy (&msg);

    const char *bad[][2] = {
        {"{\"op\":\"worker.result\",\"ref\":\"x\",\"attempt\":1,\"ok\":true}", "'ref'"},
        {"{\"op\":\"worker.result\",\"ref\":[\"s\",\"e\",1],\"attempt\":1,\"ok\":true}", "'ref'"},
        {"{\"op\":\"worker.result\",\"ref\":[\"d\",\"\",1],\"attempt\":1,\"ok\":true}", "'ref'"},
        {"{\"op\":\"worker.result\",\"ref\":[\"d\",\"e\",-1],\"attempt\":1,\"ok\":true}", "'ref'"},
        {"{\"op\":\"worker.result\",\"ref\":[\"d\",\"e\",1.5],\"attempt\":1,\"ok\":true}", "'ref'"},
        {"{\"op\":\"worker.result\",\"ref\":[\"d\",\"e\",1,2],\"attempt\":1,\"ok\":true}", "'ref'"},
        {"{\"op\":\"worker.result\",\"ref\":[\"d\",\"e\",1],\"attempt\":0,\"ok\":true}",
         "'attempt'"},
        {"{\"op\":\"worker.result\",\"ref\":[\"d\",\"e\",1],\"attempt\":4294967296,\"ok\":true}",
         "'attempt'"},
        {"{\"op\":\"worker.result\",\"ref\":[\"d\",\"e\",1],\"ok\":true}", "'attempt' is required"},
        {"{\"op\":\"worker.result\",\"attempt\":1,\"ok\":true}", "'ref' is required"},
        {"{\"op\":\"worker.result\",\"ref\":[\"d\",\"e\",1],\"attempt\":1}", "'ok' is required"},
        {"{\"op\":\"worker.result\",\"ref\":[\"d\",\"e\",1],\"attempt\":1,\"ok\":\"yes\"}", "'ok'"},
        {"{\"op\":\"worker.result\",\"ref\":[\"d\",\"e\",1],\"attempt\":1,\"ok\":false,"
         "\"value\":1,\"error\":\"x\"}",
         "'value' is not allowed"},
        {"{\"op\":\"worker.result\",\"ref\":[\"d\",\"e\",1],\"attempt\":1,\"ok\":true,"
         "\"error\":\"x\"}",
         "'error' is not allowed"},
        {"{\"op\":\"worker.result\",\"ref\":[\"d\",\"e\",1],\"attempt\":1,\"ok\":false}",
         "'error' is required"},
        {"{\"op\":\"worker.result\",\"ref\":[\"d\",\"e\",1],\"attempt\":1,\"ok\":false,"
         "\"error\":{}}",
         "'error' must be a string"},
        {"{\"op\":\"worker.result\",\"ref\":[\"d\",\"e\",1],\"attempt\":1,\"ok\":true,"
         "\"extra\":1}",
         "unknown field 'extra'"},
    };
    for (size_t index = 0; index < sizeof (bad) / sizeof (bad[0]); index++)
        s_wmsg_expect (bad[index][0], ZDEX_BAD_REQUEST, bad[index][1]);
}

static void
test_wmsg_other (void **state)
{
    (void) state;
    zdex_wmsg_t *msg = s_wmsg ("{\"op\":\"worker.heartbeat\"}");
    assert_int_equal (msg->kind, ZDEX_WMSG_HEARTBEAT);
    zdex_wmsg_destroy (&msg);
    msg = s_wmsg ("{\"op\":\"worker.bye\"}");
    assert_int_equal (msg->kind, ZDEX_WMSG_BYE);
    zdex_wmsg_destroy (&msg);

    s_wmsg_expect ("{\"op\":\"worker.heartbeat\",\"x\":1}", ZDEX_BAD_REQUEST, "'x'");
    s_wmsg_expect ("{\"op\":\"worker.bye\",\"reason\":\"x\"}", ZDEX_BAD_REQUEST, "'reason'");
    s_wmsg_expect ("{\"op\":\"worker.task\"}", ZDEX_UNKNOWN_OP, "worker.task");
    s_wmsg_expect ("{\"op\":\"durable.submit\"}", ZDEX_UNKNOWN_OP, NULL);
    s_wmsg_expect ("{\"ops\":\"worker.bye\"}", ZDEX_BAD_REQUEST, "'op'");
    s_wmsg_expect ("[\"worker.bye\"]", ZDEX_BAD_REQUEST, "object");
    s_wmsg_expect ("worker.bye", ZDEX_BAD_REQUEST, "invalid JSON");
    s_wmsg_expect ("{\"op\":\"worker.bye\",\"op\":\"worker.bye\"}", ZDEX_BAD_REQUEST, "duplicate");

    zdex_limits_t limits = {10, 10};
    zdex_error_t error;
    const char *text = "{\"op\":\"worker.heartbeat\"}";
    assert_null (zdex_wmsg_parse (text, strlen (text), &limits, &error));
    assert_int_equal (error.code, ZDEX_TOO_LARGE);
    zdex_error_reset (&error);
    assert_null (zdex_wmsg_parse ("{}", 2, NULL, NULL));
}

static void
test_wmsg_task (void **state)
{
    (void) state;
    zframe_t *frame =
        zdex_wmsg_task ("jobs", UINT64_C (4294967296) * 270 + 99, 3, "echo", "{\"n\":1}");
    char *text = s_frame_text (frame);
    assert_string_equal (text, "{\"op\":\"worker.task\",\"ref\":[\"d\",\"jobs\",1159641170019],"
                               "\"attempt\":3,\"type\":\"echo\",\"payload\":{\"n\":1}}");
    free (text);
    zframe_destroy (&frame);

    //  Names that need escaping, a missing payload, the largest attempt
    frame = zdex_wmsg_task ("ex\"ec\n\xc3\xa9", 0, UINT32_MAX, "ty\\pe", NULL);
    json_t *root = s_frame_json (&frame);
    assert_string_equal (json_string_value (json_object_get (root, "op")), "worker.task");
    json_t *ref = json_object_get (root, "ref");
    assert_string_equal (json_string_value (json_array_get (ref, 0)), "d");
    assert_string_equal (json_string_value (json_array_get (ref, 1)), "ex\"ec\n\xc3\xa9");
    assert_int_equal (json_integer_value (json_array_get (ref, 2)), 0);
    assert_true (json_integer_value (json_object_get (root, "attempt")) == UINT32_MAX);
    assert_string_equal (json_string_value (json_object_get (root, "type")), "ty\\pe");
    assert_true (json_is_null (json_object_get (root, "payload")));
    assert_int_equal (json_object_size (root), 5);

    //  The worker echoes ref and attempt; the member parses them back
    json_t *result = json_pack ("{s:s,s:O,s:O,s:b,s:i}", "op", "worker.result", "ref", ref,
                                "attempt", json_object_get (root, "attempt"), "ok", 1, "value", 42);
    char *result_text = json_dumps (result, JSON_COMPACT);
    zdex_wmsg_t *msg = s_wmsg (result_text);
    assert_string_equal (msg->executor, "ex\"ec\n\xc3\xa9");
    assert_int_equal (msg->task_id, 0);
    assert_true (msg->attempt == UINT32_MAX);
    assert_int_equal (json_integer_value (msg->value), 42);
    zdex_wmsg_destroy (&msg);
    free (result_text);
    json_decref (result);
    json_decref (root);
}

static void
test_wmsg_simple (void **state)
{
    (void) state;
    zframe_t *frame = zdex_wmsg_simple ("worker.heartbeat");
    char *text = s_frame_text (frame);
    assert_string_equal (text, "{\"op\":\"worker.heartbeat\"}");
    zdex_wmsg_t *msg = s_wmsg (text);
    assert_int_equal (msg->kind, ZDEX_WMSG_HEARTBEAT);
    zdex_wmsg_destroy (&msg);
    free (text);
    zframe_destroy (&frame);

    frame = zdex_wmsg_simple ("worker.bye");
    text = s_frame_text (frame);
    assert_string_equal (text, "{\"op\":\"worker.bye\"}");
    free (text);
    zframe_destroy (&frame);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_submit_defaults),
        cmocka_unit_test (test_submit_all_fields),
        cmocka_unit_test (test_execute),
        cmocka_unit_test (test_retrieve_ops),
        cmocka_unit_test (test_executor_ops),
        cmocka_unit_test (test_cluster_ops),
        cmocka_unit_test (test_scheduled_ops),
        cmocka_unit_test (test_not_json),
        cmocka_unit_test (test_not_object),
        cmocka_unit_test (test_duplicate_key),
        cmocka_unit_test (test_depth),
        cmocka_unit_test (test_json_depth),
        cmocka_unit_test (test_op_field),
        cmocka_unit_test (test_unknown_field),
        cmocka_unit_test (test_wrong_types),
        cmocka_unit_test (test_empty_strings),
        cmocka_unit_test (test_task_id_range),
        cmocka_unit_test (test_missing_fields),
        cmocka_unit_test (test_nul_in_strings),
        cmocka_unit_test (test_too_large_frame),
        cmocka_unit_test (test_too_large_payload),
        cmocka_unit_test (test_huge_strings),
        cmocka_unit_test (test_req_echo),
        cmocka_unit_test (test_code_and_op_strings),
        cmocka_unit_test (test_reply_ok),
        cmocka_unit_test (test_reply_error),
        cmocka_unit_test (test_json_helpers),
        cmocka_unit_test (test_wmsg_ready),
        cmocka_unit_test (test_wmsg_result),
        cmocka_unit_test (test_wmsg_other),
        cmocka_unit_test (test_wmsg_task),
        cmocka_unit_test (test_wmsg_simple),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
