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
#include <malloc.h>
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
    assert_non_null (zdex_request_root (request));
    assert_null (request->req_text);
    assert_string_equal (request->executor, "default");
    assert_null (request->key);
    assert_null (request->idempotency_key);
    assert_string_equal (request->task_type, "echo");
    assert_string_equal (request->payload_text, "null");
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
    assert_string_equal (request->payload_text, "{\"x\":[1,\"two\",null]}");
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
    assert_string_equal (request->payload_text, "7");
    zdex_request_destroy (&request);
}

//  durable.submit_and_retrieve: submit's fields, retrieve's timeout_ms, and
//  auto_dispose; nothing else.
static void
test_submit_and_retrieve (void **state)
{
    (void) state;
    zdex_request_t *request =
        s_parse ("{\"op\":\"durable.submit_and_retrieve\",\"task\":{\"type\":\"t\"}}");
    assert_int_equal (request->op, ZDEX_OP_DURABLE_SUBMIT_AND_RETRIEVE);
    assert_string_equal (request->executor, "default");
    assert_int_equal (request->timeout_ms, -1);
    assert_false (request->auto_dispose);
    assert_null (request->key);
    zdex_request_destroy (&request);

    request = s_parse ("{\"op\":\"durable.submit_and_retrieve\",\"executor\":\"e\",\"key\":\"k\","
                       "\"idempotency_key\":\"i\",\"task\":{\"type\":\"t\",\"payload\":[1]},"
                       "\"timeout_ms\":250,\"auto_dispose\":true,\"req\":\"r\"}");
    assert_string_equal (request->executor, "e");
    assert_string_equal (request->key, "k");
    assert_string_equal (request->idempotency_key, "i");
    assert_string_equal (request->task_type, "t");
    assert_int_equal (request->payload_text[0], '[');
    assert_int_equal (request->timeout_ms, 250);
    assert_true (request->auto_dispose);
    zdex_request_destroy (&request);

    s_expect ("{\"op\":\"durable.submit_and_retrieve\"}", ZDEX_BAD_REQUEST,
              "field 'task' is required", NULL);
    s_expect (
        "{\"op\":\"durable.submit_and_retrieve\",\"task\":{\"type\":\"t\"},\"timeout_ms\":-1}",
        ZDEX_BAD_REQUEST, "'timeout_ms'", NULL);
    s_expect ("{\"op\":\"durable.submit_and_retrieve\",\"task\":{\"type\":\"t\"},"
              "\"auto_dispose\":1}",
              ZDEX_BAD_REQUEST, "'auto_dispose'", NULL);
    s_expect ("{\"op\":\"durable.submit_and_retrieve\",\"task\":{\"type\":\"t\"},\"task_id\":1}",
              ZDEX_BAD_REQUEST, "'task_id'", NULL);
    //  Plain submit takes neither timeout_ms nor auto_dispose.
    s_expect ("{\"op\":\"durable.submit\",\"task\":{\"type\":\"t\"},\"timeout_ms\":1}",
              ZDEX_BAD_REQUEST, "'timeout_ms'", NULL);
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
    s_expect ("{\"op\":\"scheduledx\"}", ZDEX_UNKNOWN_OP, "scheduledx", NULL);
    s_expect ("{\"op\":\"scheduled\"}", ZDEX_UNKNOWN_OP, NULL, NULL);
    s_expect ("{\"op\":\"scheduled.\",\"req\":1}", ZDEX_UNKNOWN_OP, NULL, "1");
    s_expect ("{\"op\":\"scheduled.nope\"}", ZDEX_UNKNOWN_OP, "scheduled.nope", NULL);
    s_expect ("{\"op\":\"scheduled.Get\",\"handler\":\"x\"}", ZDEX_UNKNOWN_OP, NULL, NULL);
}

//  A handler that parses, for frames built below.
#define S_URN "urn:zdex:scheduled:partition=17:jobs:nightly:report"

static void
test_schedule_defaults (void **state)
{
    (void) state;
    zdex_request_t *request =
        s_parse ("{\"op\":\"scheduled.schedule\",\"task\":{\"type\":\"t\"},\"delay_ms\":0}");
    assert_int_equal (request->op, ZDEX_OP_SCHEDULED_SCHEDULE);
    assert_string_equal (request->scheduler, "default");
    assert_string_equal (request->executor, "default");
    assert_null (request->name);
    assert_null (request->key);
    assert_null (request->member);
    assert_null (request->members);
    assert_false (request->all_members);
    assert_false (request->auto_dispose);
    assert_int_equal (request->delay_ms, 0);
    assert_int_equal (request->period_ms, 0);
    assert_string_equal (request->task_type, "t");
    assert_string_equal (request->payload_text, "null");
    assert_int_equal (request->timeout_ms, -1);
    assert_null (request->handler_text);
    assert_null (request->handler.owned);
    assert_null (request->handler.name);
    zdex_request_destroy (&request);
}

static void
test_schedule_all_fields (void **state)
{
    (void) state;
    //  A name with ':' and UTF-8, fixed rate, one member, the largest delay
    zdex_request_t *request =
        s_parse ("{\"req\":\"r\",\"op\":\"scheduled.schedule\",\"scheduler\":\"pl\\u00e4ne\","
                 "\"name\":\"a:b: c\\u00e9\",\"task\":{\"type\":\"counter\",\"payload\":[1]},"
                 "\"delay_ms\":315360000000,\"period_ms\":315360000000,\"member\":\"m-1a2b.c_d\"}");
    assert_string_equal (request->req_text, "\"r\"");
    assert_string_equal (request->scheduler, "pl\xc3\xa4ne");
    assert_string_equal (request->name, "a:b: c\xc3\xa9");
    assert_string_equal (request->task_type, "counter");
    assert_int_equal (request->payload_text[0], '[');
    assert_true (request->delay_ms == INT64_C (315360000000));
    assert_true (request->period_ms == INT64_C (315360000000));
    assert_string_equal (request->member, "m-1a2b.c_d");
    zdex_request_destroy (&request);

    //  Negative delay (run now), smallest period, key placement, all_members false
    request = s_parse ("{\"op\":\"scheduled.schedule\",\"task\":{\"type\":\"t\"},"
                       "\"delay_ms\":-315360000000,\"period_ms\":1,\"key\":\"k\","
                       "\"all_members\":false,\"auto_dispose\":false}");
    assert_true (request->delay_ms == -INT64_C (315360000000));
    assert_int_equal (request->period_ms, 1);
    assert_string_equal (request->key, "k");
    assert_false (request->all_members);
    assert_false (request->auto_dispose);
    zdex_request_destroy (&request);

    //  members, one-shot auto_dispose
    request = s_parse ("{\"op\":\"scheduled.schedule\",\"task\":{\"type\":\"t\"},\"delay_ms\":5,"
                       "\"members\":[\"m-1\",\"m-2\",\"M.3\"],\"auto_dispose\":true}");
    assert_true (json_is_array (request->members));
    assert_int_equal (json_array_size (request->members), 3);
    assert_string_equal (json_string_value (json_array_get (request->members, 2)), "M.3");
    assert_true (request->auto_dispose);
    zdex_request_destroy (&request);

    request = s_parse ("{\"op\":\"scheduled.schedule\",\"task\":{\"type\":\"t\"},\"delay_ms\":5,"
                       "\"all_members\":true,\"name\":\"n\"}");
    assert_true (request->all_members);
    assert_string_equal (request->name, "n");
    zdex_request_destroy (&request);

    //  Names of exactly 1024 bytes; 256 members; the longest member id
    char *long_name = s_repeat ('n', 1024);
    char *long_member = s_repeat ('m', 64);
    size_t size = 8192 + 2048;
    char *frame = (char *) malloc (size);
    assert_non_null (frame);
    int used = snprintf (frame, size,
                         "{\"op\":\"scheduled.schedule\",\"task\":{\"type\":\"t\"},\"delay_ms\":1,"
                         "\"name\":\"%s\",\"scheduler\":\"%s\",\"members\":[\"%s\"",
                         long_name, long_name, long_member);
    for (int index = 1; index < 256; index++)
        used += snprintf (frame + used, size - (size_t) used, ",\"m%d\"", index);
    snprintf (frame + used, size - (size_t) used, "]}");
    request = s_parse (frame);
    assert_int_equal (strlen (request->name), 1024);
    assert_int_equal (strlen (request->scheduler), 1024);
    assert_int_equal (json_array_size (request->members), 256);
    zdex_request_destroy (&request);
    free (frame);
    free (long_name);
    free (long_member);
}

static void
test_schedule_invalid (void **state)
{
    (void) state;
#define S_SCHEDULE "{\"op\":\"scheduled.schedule\",\"task\":{\"type\":\"t\"},\"delay_ms\":0,"
    const char *bad[][2] = {
        {"{\"op\":\"scheduled.schedule\",\"delay_ms\":0}", "'task' is required"},
        {"{\"op\":\"scheduled.schedule\",\"task\":{\"type\":\"t\"}}", "'delay_ms' is required"},
        {"{\"op\":\"scheduled.schedule\",\"task\":{},\"delay_ms\":0}", "'task.type' is required"},
        {"{\"op\":\"scheduled.schedule\",\"task\":{\"type\":\"\"},\"delay_ms\":0}", "'task.type'"},
        {"{\"op\":\"scheduled.schedule\",\"task\":{\"type\":\"t\",\"x\":1},\"delay_ms\":0}",
         "'task.x'"},
        {"{\"op\":\"scheduled.schedule\",\"task\":\"t\",\"delay_ms\":0}", "'task'"},
        {"{\"op\":\"scheduled.schedule\",\"task\":{\"type\":\"t\"},\"delay_ms\":315360000001}",
         "'delay_ms'"},
        {"{\"op\":\"scheduled.schedule\",\"task\":{\"type\":\"t\"},\"delay_ms\":-315360000001}",
         "'delay_ms'"},
        {"{\"op\":\"scheduled.schedule\",\"task\":{\"type\":\"t\"},\"delay_ms\":1.5}",
         "'delay_ms'"},
        {"{\"op\":\"scheduled.schedule\",\"task\":{\"type\":\"t\"},\"delay_ms\":\"1\"}",
         "'delay_ms'"},
        {"{\"op\":\"scheduled.schedule\",\"task\":{\"type\":\"t\"},\"delay_ms\":null}",
         "'delay_ms'"},
        {S_SCHEDULE "\"period_ms\":0}", "'period_ms'"},
        {S_SCHEDULE "\"period_ms\":-1}", "'period_ms'"},
        {S_SCHEDULE "\"period_ms\":315360000001}", "'period_ms'"},
        {S_SCHEDULE "\"period_ms\":1e3}", "'period_ms'"},
        {S_SCHEDULE "\"auto_dispose\":\"yes\"}", "'auto_dispose'"},
        {S_SCHEDULE "\"auto_dispose\":1}", "'auto_dispose'"},
        {S_SCHEDULE "\"auto_dispose\":true,\"period_ms\":10}", "do not go together"},
        {S_SCHEDULE "\"period_ms\":10,\"auto_dispose\":true}", "do not go together"},
        {S_SCHEDULE "\"name\":\"\"}", "'name'"},
        {S_SCHEDULE "\"name\":7}", "'name'"},
        {S_SCHEDULE "\"name\":\"a\\u0001b\"}", "handler"},
        {S_SCHEDULE "\"name\":\"a\\nb\"}", "'name'"},
        {S_SCHEDULE "\"name\":\"a\\u007fb\"}", "'name'"},
        {S_SCHEDULE "\"scheduler\":\"a:b\"}", "'scheduler'"},
        {S_SCHEDULE "\"scheduler\":\"\"}", "'scheduler'"},
        {S_SCHEDULE "\"scheduler\":\"a\\tb\"}", "'scheduler'"},
        {S_SCHEDULE "\"scheduler\":[]}", "'scheduler'"},
        {S_SCHEDULE "\"key\":\"\"}", "'key'"},
        {S_SCHEDULE "\"key\":1}", "'key'"},
        {S_SCHEDULE "\"member\":\"\"}", "'member'"},
        {S_SCHEDULE "\"member\":\"m 1\"}", "'member'"},
        {S_SCHEDULE "\"member\":\"m:1\"}", "'member'"},
        {S_SCHEDULE "\"member\":\"m\\u00e9\"}", "'member'"},
        {S_SCHEDULE "\"member\":[\"m\"]}", "'member'"},
        {S_SCHEDULE "\"members\":[]}", "'members'"},
        {S_SCHEDULE "\"members\":\"m\"}", "'members'"},
        {S_SCHEDULE "\"members\":[\"a\",\"b\",\"a\"]}", "distinct"},
        {S_SCHEDULE "\"members\":[1]}", "'members'"},
        {S_SCHEDULE "\"members\":[\"\"]}", "'members'"},
        {S_SCHEDULE "\"members\":[\"a/b\"]}", "'members'"},
        {S_SCHEDULE "\"members\":null}", "'members'"},
        {S_SCHEDULE "\"all_members\":1}", "'all_members'"},
        {S_SCHEDULE "\"all_members\":null}", "'all_members'"},
        {S_SCHEDULE "\"key\":\"k\",\"member\":\"m\"}", "at most one"},
        {S_SCHEDULE "\"member\":\"m\",\"members\":[\"m\"]}", "at most one"},
        {S_SCHEDULE "\"members\":[\"m\"],\"all_members\":true}", "at most one"},
        {S_SCHEDULE "\"key\":\"k\",\"all_members\":true}", "at most one"},
        {S_SCHEDULE "\"executor\":\"e\"}", "unknown field 'executor'"},
        {S_SCHEDULE "\"idempotency_key\":\"i\"}", "unknown field 'idempotency_key'"},
        {S_SCHEDULE "\"handler\":\"" S_URN "\"}", "unknown field 'handler'"},
        {S_SCHEDULE "\"timeout_ms\":1}", "unknown field 'timeout_ms'"},
        {S_SCHEDULE "\"period\":1}", "unknown field 'period'"},
    };
    for (size_t index = 0; index < sizeof (bad) / sizeof (bad[0]); index++)
        s_expect (bad[index][0], ZDEX_BAD_REQUEST, bad[index][1], NULL);
    s_expect ("{\"req\":[3],"
              "\"op\":\"scheduled.schedule\",\"task\":{\"type\":\"t\"},"
              "\"delay_ms\":0,\"key\":\"k\",\"members\":[\"m\"]}",
              ZDEX_BAD_REQUEST, "at most one", "[3]");

    //  all_members false counts as absent
    zdex_request_t *request = s_parse (S_SCHEDULE "\"key\":\"k\",\"all_members\":false}");
    assert_string_equal (request->key, "k");
    zdex_request_destroy (&request);
    request = s_parse (S_SCHEDULE "\"auto_dispose\":false,\"period_ms\":10}");
    assert_int_equal (request->period_ms, 10);
    zdex_request_destroy (&request);

    //  Too long: name and scheduler of 1025 bytes, a member id of 65, 257 members
    char *long_name = s_repeat ('n', 1025);
    char *long_member = s_repeat ('m', 65);
    char frame[8192];
    snprintf (frame, sizeof frame, S_SCHEDULE "\"name\":\"%s\"}", long_name);
    s_expect (frame, ZDEX_BAD_REQUEST, "'name'", NULL);
    snprintf (frame, sizeof frame, S_SCHEDULE "\"scheduler\":\"%s\"}", long_name);
    s_expect (frame, ZDEX_BAD_REQUEST, "'scheduler'", NULL);
    snprintf (frame, sizeof frame, S_SCHEDULE "\"member\":\"%s\"}", long_member);
    s_expect (frame, ZDEX_BAD_REQUEST, "'member'", NULL);
    snprintf (frame, sizeof frame, S_SCHEDULE "\"members\":[\"%s\"]}", long_member);
    s_expect (frame, ZDEX_BAD_REQUEST, "'members'", NULL);
    int used = snprintf (frame, sizeof frame, S_SCHEDULE "\"members\":[\"m0\"");
    for (int index = 1; index < 257; index++)
        used += snprintf (frame + used, sizeof frame - (size_t) used, ",\"m%d\"", index);
    snprintf (frame + used, sizeof frame - (size_t) used, "]}");
    s_expect (frame, ZDEX_BAD_REQUEST, "'members'", NULL);
    free (long_name);
    free (long_member);

    //  The payload limit holds as for durable.submit
    zdex_limits_t limits = {4096, 16};
    const char *big = "{\"op\":\"scheduled.schedule\",\"delay_ms\":0,"
                      "\"task\":{\"type\":\"t\",\"payload\":\"0123456789abcdef\"}}";
    s_expect_with (big, strlen (big), &limits, ZDEX_TOO_LARGE, "max_payload_bytes", NULL);
    const char *fits = "{\"op\":\"scheduled.schedule\",\"delay_ms\":0,"
                       "\"task\":{\"type\":\"t\",\"payload\":\"0123456789abcd\"}}";
    request = s_parse_with (fits, &limits);
    zdex_request_destroy (&request);
#undef S_SCHEDULE
}

static void
test_scheduled_handler_ops (void **state)
{
    (void) state;
    zdex_request_t *request =
        s_parse ("{\"op\":\"scheduled.get\",\"handler\":\"" S_URN "\",\"req\":7}");
    assert_int_equal (request->op, ZDEX_OP_SCHEDULED_GET);
    assert_string_equal (request->req_text, "7");
    assert_string_equal (request->handler_text, S_URN);
    assert_int_equal (request->handler.partition, 17);
    assert_null (request->handler.member);
    assert_string_equal (request->handler.scheduler, "jobs");
    assert_string_equal (request->handler.name, "nightly:report");
    assert_int_equal (request->timeout_ms, -1);
    assert_string_equal (request->scheduler, "default"); //  untouched: the handler names it
    zdex_request_destroy (&request);

    request = s_parse ("{\"op\":\"scheduled.get\",\"timeout_ms\":0,"
                       "\"handler\":\"urn:zdex:scheduled:member=m-9:s:n\"}");
    assert_int_equal (request->timeout_ms, 0);
    assert_int_equal (request->handler.partition, -1);
    assert_string_equal (request->handler.member, "m-9");
    zdex_request_destroy (&request);
    request = s_parse ("{\"op\":\"scheduled.get\",\"timeout_ms\":315360000000,"
                       "\"handler\":\"" S_URN "\"}");
    assert_true (request->timeout_ms == INT64_C (315360000000));
    zdex_request_destroy (&request);

    struct {
        const char *name;
        zdex_op_t op;
    } ops[] = {
        {"scheduled.cancel", ZDEX_OP_SCHEDULED_CANCEL},
        {"scheduled.dispose", ZDEX_OP_SCHEDULED_DISPOSE},
        {"scheduled.status", ZDEX_OP_SCHEDULED_STATUS},
        {"scheduled.get", ZDEX_OP_SCHEDULED_GET},
    };
    for (size_t index = 0; index < sizeof (ops) / sizeof (ops[0]); index++) {
        char frame[512];
        snprintf (frame, sizeof frame, "{\"op\":\"%s\",\"handler\":\"" S_URN "\"}",
                  ops[index].name);
        request = s_parse (frame);
        assert_int_equal (request->op, ops[index].op);
        assert_string_equal (request->handler.name, "nightly:report");
        zdex_request_destroy (&request);

        snprintf (frame, sizeof frame, "{\"op\":\"%s\"}", ops[index].name);
        s_expect (frame, ZDEX_BAD_REQUEST, "'handler' is required", NULL);
        snprintf (frame, sizeof frame, "{\"op\":\"%s\",\"handler\":5}", ops[index].name);
        s_expect (frame, ZDEX_BAD_REQUEST, "'handler'", NULL);
        snprintf (frame, sizeof frame, "{\"op\":\"%s\",\"handler\":\"urn:x\",\"req\":1}",
                  ops[index].name);
        s_expect (frame, ZDEX_BAD_REQUEST, "malformed handler", "1");
        snprintf (frame, sizeof frame,
                  "{\"op\":\"%s\",\"handler\":\"urn:zdex:scheduled:partition=01:s:n\"}",
                  ops[index].name);
        s_expect (frame, ZDEX_BAD_REQUEST, "malformed handler", NULL);
        //  A field rejected after the handler was parsed frees it (ASan checks)
        snprintf (frame, sizeof frame,
                  "{\"op\":\"%s\",\"handler\":\"" S_URN "\",\"executor\":\"e\"}", ops[index].name);
        s_expect (frame, ZDEX_BAD_REQUEST, "unknown field 'executor'", NULL);
        snprintf (frame, sizeof frame,
                  "{\"op\":\"%s\",\"handler\":\"" S_URN "\",\"scheduler\":\"s\"}", ops[index].name);
        s_expect (frame, ZDEX_BAD_REQUEST, "unknown field 'scheduler'", NULL);
        if (ops[index].op != ZDEX_OP_SCHEDULED_GET) {
            snprintf (frame, sizeof frame,
                      "{\"op\":\"%s\",\"handler\":\"" S_URN "\",\"timeout_ms\":1}",
                      ops[index].name);
            s_expect (frame, ZDEX_BAD_REQUEST, "unknown field 'timeout_ms'", NULL);
        }
    }
    s_expect ("{\"op\":\"scheduled.get\",\"handler\":\"" S_URN "\",\"timeout_ms\":-1}",
              ZDEX_BAD_REQUEST, "'timeout_ms'", NULL);
    s_expect ("{\"op\":\"scheduled.get\",\"handler\":\"" S_URN "\",\"timeout_ms\":315360000001}",
              ZDEX_BAD_REQUEST, "'timeout_ms'", NULL);
    s_expect ("{\"op\":\"scheduled.get\",\"timeout_ms\":\"1\",\"handler\":\"" S_URN "\"}",
              ZDEX_BAD_REQUEST, "'timeout_ms'", NULL);
}

static void
test_scheduler_ops (void **state)
{
    (void) state;
    struct {
        const char *name;
        zdex_op_t op;
    } ops[] = {
        {"scheduled.get_all", ZDEX_OP_SCHEDULED_GET_ALL},
        {"scheduled.shutdown", ZDEX_OP_SCHEDULED_SHUTDOWN},
        {"scheduled.stats", ZDEX_OP_SCHEDULED_STATS},
    };
    for (size_t index = 0; index < sizeof (ops) / sizeof (ops[0]); index++) {
        char frame[512];
        snprintf (frame, sizeof frame, "{\"op\":\"%s\"}", ops[index].name);
        zdex_request_t *request = s_parse (frame);
        assert_int_equal (request->op, ops[index].op);
        assert_string_equal (request->scheduler, "default");
        zdex_request_destroy (&request);
        snprintf (frame, sizeof frame, "{\"op\":\"%s\",\"scheduler\":\"s-1\",\"req\":null}",
                  ops[index].name);
        request = s_parse (frame);
        assert_string_equal (request->scheduler, "s-1");
        assert_string_equal (request->req_text, "null");
        zdex_request_destroy (&request);

        snprintf (frame, sizeof frame, "{\"op\":\"%s\",\"scheduler\":\"a:b\"}", ops[index].name);
        s_expect (frame, ZDEX_BAD_REQUEST, "'scheduler'", NULL);
        snprintf (frame, sizeof frame, "{\"op\":\"%s\",\"scheduler\":\"\"}", ops[index].name);
        s_expect (frame, ZDEX_BAD_REQUEST, "'scheduler'", NULL);
        snprintf (frame, sizeof frame, "{\"op\":\"%s\",\"executor\":\"e\"}", ops[index].name);
        s_expect (frame, ZDEX_BAD_REQUEST, "unknown field 'executor'", NULL);
        snprintf (frame, sizeof frame, "{\"op\":\"%s\",\"handler\":\"" S_URN "\"}",
                  ops[index].name);
        s_expect (frame, ZDEX_BAD_REQUEST, "unknown field 'handler'", NULL);
        snprintf (frame, sizeof frame, "{\"op\":\"%s\",\"name\":\"n\"}", ops[index].name);
        s_expect (frame, ZDEX_BAD_REQUEST, "unknown field 'name'", NULL);
    }
}

//  Parse urn, check it formats back to itself, return the handler.
static void
s_handler_round_trip (const char *urn, zdex_handler_t *handler)
{
    char message[256];
    if (zdex_handler_parse (urn, handler, message, sizeof message)) {
        print_error ("handler '%s' did not parse: %s\n", urn, message);
        fail ();
    }
    char *text = zdex_handler_format (handler->partition, handler->member, handler->scheduler,
                                      handler->name);
    assert_non_null (text);
    assert_string_equal (text, urn);
    free (text);
}

static void
test_handler_parse (void **state)
{
    (void) state;
    zdex_handler_t handler;
    s_handler_round_trip ("urn:zdex:scheduled:partition=0:default:n", &handler);
    assert_int_equal (handler.partition, 0);
    assert_null (handler.member);
    assert_string_equal (handler.scheduler, "default");
    assert_string_equal (handler.name, "n");
    assert_non_null (handler.owned);
    zdex_handler_reset (&handler);
    assert_null (handler.owned);
    assert_null (handler.name);
    assert_null (handler.scheduler);
    assert_int_equal (handler.partition, 0);
    zdex_handler_reset (&handler); //  twice is fine
    zdex_handler_reset (NULL);

    s_handler_round_trip ("urn:zdex:scheduled:partition=2147483647:s:a:b:c", &handler);
    assert_int_equal (handler.partition, INT32_MAX);
    assert_string_equal (handler.name, "a:b:c");
    zdex_handler_reset (&handler);

    s_handler_round_trip ("urn:zdex:scheduled:partition=1:s:::", &handler);
    assert_string_equal (handler.scheduler, "s");
    assert_string_equal (handler.name, "::");
    zdex_handler_reset (&handler);

    s_handler_round_trip ("urn:zdex:scheduled:member=m-1a2b3c4d:jobs:nightly", &handler);
    assert_int_equal (handler.partition, -1);
    assert_string_equal (handler.member, "m-1a2b3c4d");
    assert_string_equal (handler.scheduler, "jobs");
    assert_string_equal (handler.name, "nightly");
    zdex_handler_reset (&handler);

    //  UTF-8 (2, 3 and 4 byte sequences), spaces, '=', quotes and backslashes
    s_handler_round_trip ("urn:zdex:scheduled:partition=17:plan\xc3\xa9 x=1:"
                          "t\xc3\xa2"
                          "che \xe2\x82\xac:\xf0\x9f\x98\x80 \"q\" \\",
                          &handler);
    assert_int_equal (handler.partition, 17);
    assert_string_equal (handler.scheduler, "plan\xc3\xa9 x=1");
    assert_string_equal (handler.name, "t\xc3\xa2"
                                       "che \xe2\x82\xac:\xf0\x9f\x98\x80 \"q\" \\");
    zdex_handler_reset (&handler);

    //  The longest parts: a 64-character member id, 1024-byte scheduler and name
    char *member = s_repeat ('M', 64);
    char *scheduler = s_repeat ('s', 1024);
    char *name = s_repeat (':', 1024);
    char *urn = zsys_sprintf (ZDEX_HANDLER_PREFIX "member=%s:%s:%s", member, scheduler, name);
    s_handler_round_trip (urn, &handler);
    assert_string_equal (handler.member, member);
    assert_string_equal (handler.scheduler, scheduler);
    assert_string_equal (handler.name, name);
    zdex_handler_reset (&handler);
    free (urn);
    member[0] = '.';
    member[1] = '_';
    member[2] = '-';
    member[3] = '9';
    urn = zsys_sprintf (ZDEX_HANDLER_PREFIX "member=%s:s:n", member);
    s_handler_round_trip (urn, &handler);
    zdex_handler_reset (&handler);
    free (urn);
    free (member);
    free (scheduler);
    free (name);

    //  A message buffer is optional
    assert_int_equal (zdex_handler_parse ("urn:zdex:scheduled:partition=3:s:n", &handler, NULL, 0),
                      0);
    assert_int_equal (handler.partition, 3);
    zdex_handler_reset (&handler);
}

static void
test_handler_malformed (void **state)
{
    (void) state;
    const char *bad[][2] = {
        {"", "start with"},
        {"urn:zdex:scheduled", "start with"},
        {"URN:zdex:scheduled:partition=0:s:n", "start with"},
        {"urn:zdex:durable:partition=0:s:n", "start with"},
        {" urn:zdex:scheduled:partition=0:s:n", "start with"},
        {"urn:zdex:scheduled:", "OWNER:SCHEDULER:NAME"},
        {"urn:zdex:scheduled:partition=0", "OWNER:SCHEDULER:NAME"},
        {"urn:zdex:scheduled:partition=0:s", "OWNER:SCHEDULER:NAME"},
        {"urn:zdex:scheduled:partition=0:s:", "name is empty"},
        {"urn:zdex:scheduled:partition=0::n", "scheduler is empty"},
        {"urn:zdex:scheduled::s:n", "owner"},
        {"urn:zdex:scheduled:partition=:s:n", "partition"},
        {"urn:zdex:scheduled:partition=01:s:n", "leading zero"},
        {"urn:zdex:scheduled:partition=00:s:n", "partition"},
        {"urn:zdex:scheduled:partition=-1:s:n", "partition"},
        {"urn:zdex:scheduled:partition=+1:s:n", "partition"},
        {"urn:zdex:scheduled:partition= 1:s:n", "partition"},
        {"urn:zdex:scheduled:partition=1a:s:n", "partition"},
        {"urn:zdex:scheduled:partition=0x1:s:n", "partition"},
        {"urn:zdex:scheduled:partition=2147483648:s:n", "partition"},
        {"urn:zdex:scheduled:partition=99999999999:s:n", "partition"},
        {"urn:zdex:scheduled:Partition=0:s:n", "owner"},
        {"urn:zdex:scheduled:partition0:s:n", "owner"},
        {"urn:zdex:scheduled:owner=x:s:n", "owner"},
        {"urn:zdex:scheduled:member=:s:n", "member id"},
        {"urn:zdex:scheduled:member=a b:s:n", "member id"},
        {"urn:zdex:scheduled:member=a/b:s:n", "member id"},
        {"urn:zdex:scheduled:member=\xc3\xa9:s:n", "member id"},
        {"urn:zdex:scheduled:member=m-1a2b3c4d-m-1a2b3c4d-m-1a2b3c4d-m-1a2b3c4d-m-1a2b3c4d-"
         "m-1a2b3c4d:s:n",
         "member id"},
        {"urn:zdex:scheduled:partition=0:s\x01:n", "scheduler holds a control character"},
        {"urn:zdex:scheduled:partition=0:s\x7f:n", "scheduler holds a control character"},
        {"urn:zdex:scheduled:partition=0:s:a\nb", "name holds a control character"},
        {"urn:zdex:scheduled:partition=0:s:\x1f", "name holds a control character"},
        {"urn:zdex:scheduled:partition=0:s:\xff", "name is not valid UTF-8"},
        {"urn:zdex:scheduled:partition=0:s:\xc0\xaf", "name is not valid UTF-8"},
        {"urn:zdex:scheduled:partition=0:s:\xe2\x82", "name is not valid UTF-8"},
        {"urn:zdex:scheduled:partition=0:s:\xed\xa0\x80", "name is not valid UTF-8"},
        {"urn:zdex:scheduled:partition=0:\xf5\x80\x80\x80:n", "scheduler is not valid UTF-8"},
    };
    for (size_t index = 0; index < sizeof (bad) / sizeof (bad[0]); index++) {
        zdex_handler_t handler;
        memset (&handler, 0x5a, sizeof handler);
        char message[256];
        if (zdex_handler_parse (bad[index][0], &handler, message, sizeof message) == 0) {
            print_error ("handler '%s' parsed but is malformed\n", bad[index][0]);
            fail ();
        }
        assert_int_equal (strncmp (message, "malformed handler: ", 19), 0);
        s_assert_contains (message, bad[index][1]);
        assert_null (handler.owned);
        assert_null (handler.member);
        assert_null (handler.scheduler);
        assert_null (handler.name);
        assert_int_equal (handler.partition, 0);
        //  A small message buffer is cut, a missing one is fine
        char small[8];
        assert_int_equal (zdex_handler_parse (bad[index][0], &handler, small, sizeof small), -1);
        assert_int_equal (strlen (small), sizeof small - 1);
        assert_int_equal (zdex_handler_parse (bad[index][0], &handler, NULL, 0), -1);
    }
    //  Parts above 1024 bytes
    char *long_part = s_repeat ('x', 1025);
    char *urn = zsys_sprintf (ZDEX_HANDLER_PREFIX "partition=0:s:%s", long_part);
    zdex_handler_t handler;
    char message[256];
    assert_int_equal (zdex_handler_parse (urn, &handler, message, sizeof message), -1);
    s_assert_contains (message, "name is longer than 1024 bytes");
    free (urn);
    urn = zsys_sprintf (ZDEX_HANDLER_PREFIX "partition=0:%s:n", long_part);
    assert_int_equal (zdex_handler_parse (urn, &handler, message, sizeof message), -1);
    s_assert_contains (message, "scheduler is longer than 1024 bytes");
    free (urn);
    free (long_part);
    assert_int_equal (zdex_handler_parse (NULL, &handler, message, sizeof message), -1);
}

static void
test_handler_format (void **state)
{
    (void) state;
    char *urn = zdex_handler_format (5, NULL, "s", "n");
    assert_string_equal (urn, "urn:zdex:scheduled:partition=5:s:n");
    free (urn);
    urn = zdex_handler_format (INT32_MAX, "ignored", "default", "a:b");
    assert_string_equal (urn, "urn:zdex:scheduled:partition=2147483647:default:a:b");
    free (urn);
    urn = zdex_handler_format (-1, "m-1", "s", "x:y");
    assert_string_equal (urn, "urn:zdex:scheduled:member=m-1:s:x:y");
    free (urn);

    assert_null (zdex_handler_format (-2, "m", "s", "n"));
    assert_null (zdex_handler_format (INT32_MIN, NULL, "s", "n"));
    assert_null (zdex_handler_format (-1, NULL, "s", "n"));
    assert_null (zdex_handler_format (-1, "", "s", "n"));
    assert_null (zdex_handler_format (-1, "a b", "s", "n"));
    assert_null (zdex_handler_format (0, NULL, NULL, "n"));
    assert_null (zdex_handler_format (0, NULL, "s", NULL));
    assert_null (zdex_handler_format (0, NULL, "", "n"));
    assert_null (zdex_handler_format (0, NULL, "s", ""));
    assert_null (zdex_handler_format (0, NULL, "a:b", "n"));
    assert_null (zdex_handler_format (0, NULL, "s", "a\tb"));
    assert_null (zdex_handler_format (0, NULL, "s", "\xff"));
    char *long_name = s_repeat ('n', 1025);
    assert_null (zdex_handler_format (0, NULL, "s", long_name));
    assert_null (zdex_handler_format (0, NULL, long_name, "n"));
    long_name[1024] = 0;
    urn = zdex_handler_format (0, NULL, long_name, long_name);
    assert_non_null (urn);
    free (urn);
    free (long_name);

    assert_true (zdex_member_id_valid ("m-1a2b3c4d"));
    assert_true (zdex_member_id_valid ("A.z_0-9"));
    assert_false (zdex_member_id_valid (NULL));
    assert_false (zdex_member_id_valid (""));
    assert_false (zdex_member_id_valid ("m 1"));
    assert_false (zdex_member_id_valid ("m:1"));
    char *id = s_repeat ('i', 64);
    assert_true (zdex_member_id_valid (id));
    free (id);
    id = s_repeat ('i', 65);
    assert_false (zdex_member_id_valid (id));
    free (id);
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
s_assert_same_text (const char *a, const char *b)
{
    if (a || b) {
        assert_non_null (a);
        assert_non_null (b);
        assert_string_equal (a, b);
    }
}

//  The durable ops are read without a tree when they can be (root NULL until
//  zdex_request_root builds it), and give exactly the fields the tree gives: the
//  same frame with its "op" key escaped ("\u006fp") takes the tree path.
static void
test_request_fast (void **state)
{
    (void) state;
    const char *frames[] = {
        "{\"op\":\"durable.submit\",\"task\":{\"type\":\"echo\",\"payload\":{\"a\":[1,\"x\"]}}}",
        "{\"op\":\"durable.submit_and_retrieve\", \"executor\":\"jobs\",\"key\":\"k1\","
        "\"idempotency_key\":\"i1\",\"task\":{\"payload\":\"abc\",\"type\":\"t\"},"
        "\"timeout_ms\":250,\"auto_dispose\":true,\"req\":{\"n\":[1,2]}}",
        "{\"op\":\"durable.retrieve\",\"task_id\":123456789012345,\"timeout_ms\":0,\"req\":7}",
        "{\"op\":\"durable.retrieve_and_dispose\",\"task_id\":0,\"executor\":\"e\"}",
        "{\"op\":\"durable.dispose\",\"task_id\":5}",
        "{\"op\":\"durable.execute\",\"task\":{\"type\":\"t\"}}",
        "{\"op\":\"durable.submit_and_retrieve\",\"task\":{\"type\":\"t\"},\"auto_dispose\":false}",
    };
    for (size_t index = 0; index < sizeof frames / sizeof frames[0]; index++) {
        const char *text = frames[index];
        char tree_text[512];
        snprintf (tree_text, sizeof tree_text, "{\"\\u006fp\"%s", text + 5);
        zdex_request_t *fast = s_parse (text);
        zdex_request_t *tree = s_parse (tree_text);
        assert_null (fast->root);
        assert_non_null (tree->root);
        assert_int_equal (fast->op, tree->op);
        assert_string_equal (fast->executor, tree->executor);
        s_assert_same_text (fast->key, tree->key);
        s_assert_same_text (fast->idempotency_key, tree->idempotency_key);
        s_assert_same_text (fast->task_type, tree->task_type);
        s_assert_same_text (fast->payload_text, tree->payload_text);
        s_assert_same_text (fast->req_text, tree->req_text);
        assert_true (fast->task_id == tree->task_id);
        assert_true (fast->timeout_ms == tree->timeout_ms);
        assert_int_equal (fast->auto_dispose, tree->auto_dispose);
        assert_string_equal (fast->scheduler, tree->scheduler);
        assert_true (json_equal (zdex_request_root (fast), tree->root));
        zdex_request_destroy (&fast);
        zdex_request_destroy (&tree);
    }
    //  Shapes the fast reader leaves alone still get the tree's words
    s_expect ("{\"op\":\"durable.submit\",\"task\":{\"type\":\"t\"},\"task_id\":1,\"req\":1}",
              ZDEX_BAD_REQUEST, "task_id", "1");
    s_expect ("{\"op\":\"durable.retrieve\",\"req\":[1]}", ZDEX_BAD_REQUEST, "'task_id'", "[1]");
    s_expect ("{\"op\":\"durable.submit\",\"task\":{\"type\":\"t\",\"type\":\"u\"}}",
              ZDEX_BAD_REQUEST, "", NULL);
    s_expect ("{\"op\":\"durable.submit\",\"task\":{\"type\":\"\"}}", ZDEX_BAD_REQUEST,
              "'task.type'", NULL);
    s_expect ("{\"op\":\"durable.retrieve\",\"task_id\":1,\"timeout_ms\":315360000001}",
              ZDEX_BAD_REQUEST, "'timeout_ms'", NULL);
    zdex_limits_t limits = {.max_payload_bytes = 4};
    s_expect_with ("{\"op\":\"durable.submit\",\"task\":{\"type\":\"t\",\"payload\":\"abc\"}}", 59,
                   &limits, ZDEX_TOO_LARGE, "max_payload_bytes", NULL);
    zdex_request_t *request = s_parse_with (
        "{\"op\":\"durable.submit\",\"task\":{\"type\":\"t\",\"payload\":\"ab\"}}", &limits);
    assert_null (request->root);
    assert_string_equal (request->payload_text, "\"ab\"");
    zdex_request_destroy (&request);
}

static void
test_depth (void **state)
{
    (void) state;
    char *text = s_nested_submit (61, NULL); //  depth 64: accepted
    zdex_request_t *request = s_parse (text);
    assert_int_equal (zdex_json_depth (zdex_request_root (request), 100), 64);
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
    assert_string_equal (zdex_op_str (ZDEX_OP_DURABLE_SUBMIT_AND_RETRIEVE),
                         "durable.submit_and_retrieve");
    const char *scheduled[] = {"scheduled.schedule", "scheduled.get",    "scheduled.cancel",
                               "scheduled.dispose",  "scheduled.status", "scheduled.get_all",
                               "scheduled.shutdown", "scheduled.stats"};
    for (int op = ZDEX_OP_SCHEDULED_SCHEDULE; op <= ZDEX_OP_SCHEDULED_STATS; op++) {
        assert_string_equal (zdex_op_str ((zdex_op_t) op),
                             scheduled[op - ZDEX_OP_SCHEDULED_SCHEDULE]);
        assert_true (ZDEX_OP_IS_SCHEDULED (op));
    }
    assert_false (ZDEX_OP_IS_SCHEDULED (ZDEX_OP_CLUSTER_WORKERS));
    assert_false (ZDEX_OP_IS_SCHEDULED (ZDEX_OP_COUNT));
    assert_false (ZDEX_OP_IS_SCHEDULED (ZDEX_OP_DURABLE_SUBMIT));
    assert_int_equal (ZDEX_OP_SCHEDULED_STATS + 1, ZDEX_OP_COUNT);
    assert_string_equal (zdex_op_str (ZDEX_OP_COUNT), "unknown");
    //  Every named op parses back to itself
    for (int op = 0; op < ZDEX_OP_COUNT; op++) {
        char frame[200];
        const char *extra = "";
        if (op == ZDEX_OP_DURABLE_SUBMIT || op == ZDEX_OP_DURABLE_EXECUTE ||
            op == ZDEX_OP_DURABLE_SUBMIT_AND_RETRIEVE)
            extra = ",\"task\":{\"type\":\"t\"}";
        else if (op == ZDEX_OP_DURABLE_RETRIEVE || op == ZDEX_OP_DURABLE_RETRIEVE_AND_DISPOSE ||
                 op == ZDEX_OP_DURABLE_DISPOSE)
            extra = ",\"task_id\":3";
        else if (op == ZDEX_OP_SCHEDULED_SCHEDULE)
            extra = ",\"task\":{\"type\":\"t\"},\"delay_ms\":0";
        else if (op >= ZDEX_OP_SCHEDULED_GET && op <= ZDEX_OP_SCHEDULED_STATUS)
            extra = ",\"handler\":\"urn:zdex:scheduled:partition=0:default:n\"";
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

    //  A result after the fields, with and without req and fields.
    frame = zdex_reply_result ("7", ",\"task_id\":5", "{\"w\":[1]}");
    text = s_frame_text (frame);
    assert_string_equal (text, "{\"req\":7,\"ok\":true,\"task_id\":5,\"result\":{\"w\":[1]}}");
    free (text);
    zframe_destroy (&frame);
    frame = zdex_reply_result (NULL, NULL, "null");
    text = s_frame_text (frame);
    assert_string_equal (text, "{\"ok\":true,\"result\":null}");
    free (text);
    zframe_destroy (&frame);
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

    //  Fields go after "ok":false (durable.submit_and_retrieve's task_id)
    frame = zdex_reply_error_fields ("\"r\"", ",\"task_id\":12", ZDEX_TIMEOUT, "late", NULL);
    text = s_frame_text (frame);
    assert_string_equal (text, "{\"req\":\"r\",\"ok\":false,\"task_id\":12,\"error\":{\"code\":"
                               "\"TIMEOUT\",\"message\":\"late\"}}");
    free (text);
    zframe_destroy (&frame);
    frame = zdex_reply_error_fields (NULL, "", ZDEX_TASK_FAILED, "task failed", "\"x\"");
    text = s_frame_text (frame);
    assert_string_equal (text, "{\"ok\":false,\"error\":{\"code\":\"TASK_FAILED\",\"message\":"
                               "\"task failed\",\"cause\":\"x\"}}");
    free (text);
    zframe_destroy (&frame);

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
    //  A stored result is this block: it must be sized to its text, not to the
    //  writer's 256-byte buffer (a regression that cost about 195 bytes per task).
    char hundred[101];
    memset (hundred, 'x', 100);
    hundred[100] = 0;
    value = json_string (hundred);
    text = zdex_json_text (value);
    assert_int_equal (strlen (text), 102);
    assert_true (malloc_usable_size (text) < 128);
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
    msg = s_wmsg ("{\"op\":\"worker.ready\",\"types\":[\"t\"],\"slots\":1}");
    assert_int_equal (msg->batch, 1);
    zdex_wmsg_destroy (&msg);
    msg = s_wmsg ("{\"op\":\"worker.ready\",\"types\":[\"t\"],\"slots\":1,\"batch\":1024}");
    assert_int_equal (msg->batch, 1024);
    zdex_wmsg_destroy (&msg);
    s_wmsg_expect ("{\"op\":\"worker.ready\",\"types\":[\"t\"],\"slots\":1,\"batch\":0}",
                   ZDEX_BAD_REQUEST, "'batch'");
    s_wmsg_expect ("{\"op\":\"worker.ready\",\"types\":[\"t\"],\"slots\":1,\"batch\":1025}",
                   ZDEX_BAD_REQUEST, "'batch'");
    s_wmsg_expect ("{\"op\":\"worker.ready\",\"types\":[\"t\"],\"slots\":1,\"batch\":true}",
                   ZDEX_BAD_REQUEST, "'batch'");

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

//  zdex_json_is_compact says yes only where zdex_json_text writes the same bytes,
//  which is what lets a member keep a worker's result text as it came.
static void
test_json_is_compact (void **state)
{
    (void) state;
    const char *compact[] = {
        "{\"a\":1,\"b\":[true,false,null,\"x\\\"y\\n\\\\\\t\"],\"c\":{},\"d\":[]}",
        "[]",
        "{}",
        "\"\xc3\xa9\"",
        "-12",
        "0",
        "123456789012345678",
        "\"\"",
        "null",
        "[[[[1]]]]",
        "{\"k\":{\"k\":{\"k\":\"\\b\\f\\r\"}}}",
        "\"~\x7f\"",
    };
    for (size_t index = 0; index < sizeof compact / sizeof compact[0]; index++) {
        const char *text = compact[index];
        if (!zdex_json_is_compact (text, strlen (text)))
            fail_msg ("not compact: %s", text);
        json_t *value = json_loads (text, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, NULL);
        assert_non_null (value);
        char *written = zdex_json_text (value);
        assert_string_equal (written, text);
        free (written);
        json_decref (value);
    }
    char deep[80] = "", wide[400] = "{";
    for (int level = 0; level < 33; level++)
        strcat (deep, "[");
    for (int level = 0; level < 33; level++)
        strcat (deep, "]");
    for (int key = 0; key < 33; key++)
        sprintf (wide + strlen (wide), "%s\"k%d\":%d", key ? "," : "", key, key);
    strcat (wide, "}");
    const char *other[] = {
        "{\"a\": 1}",
        " 1",
        "1 ",
        "{\"a\":1,\"a\":2}",
        "\"\\/\"",
        "\"\\u0041\"",
        "1.5",
        "1e3",
        "-0",
        "01",
        "1234567890123456789",
        "{\"a\\\"\":1}",
        "[1,]",
        "{",
        "\"\x01\"",
        "\"\xff\"",
        "1 2",
        "",
        "tru",
        "[1 ]",
        deep,
        wide,
    };
    for (size_t index = 0; index < sizeof other / sizeof other[0]; index++)
        if (zdex_json_is_compact (other[index], strlen (other[index])))
            fail_msg ("compact: %s", other[index]);
    //  One level less and one key less are fine
    deep[32] = 0;
    memset (deep + 32, ']', 32);
    deep[64] = 0;
    assert_true (zdex_json_is_compact (deep + 1, 62));
    assert_true (zdex_json_is_compact (deep, 64));
}

//  A durable worker.result is read without a tree when it can be (root NULL),
//  and gives exactly the fields the tree gives: the same text spaced out takes
//  the tree path.
static void
test_wmsg_result_fast (void **state)
{
    (void) state;
    const char *values[] = {"1", "\"x\"", "{\"sum\":[1,2,{\"a\":null}]}", "[]", "true"};
    const char *tails[] = {"", ",\"state\":{\"n\":1}"};
    for (size_t index = 0; index < sizeof values / sizeof values[0]; index++)
        for (size_t tail = 0; tail < 2; tail++)
            for (int ok = 0; ok < 2; ok++) {
                char fast[256], tree[512];
                json_t *value = json_loads (values[index], JSON_DECODE_ANY, NULL);
                char *spaced = json_dumps (value, JSON_INDENT (2) | JSON_ENCODE_ANY);
                //  Spaces at the top are fine for the fast reader; an escaped key
                //  is not, so the second text ("r\u0065f" is "ref") takes the tree.
                const char *head = "{\"op\":\"worker.result\", \"ref\" : [\"d\",\"jobs\", "
                                   "123456789012],\"attempt\":7,";
                const char *head_tree = "{\"op\":\"worker.result\",\"r\\u0065f\":[\"d\",\"jobs\","
                                        "123456789012],\"attempt\":7,";
                if (ok) {
                    snprintf (fast, sizeof fast, "%s\"ok\":true,\"value\":%s%s}", head,
                              values[index], tails[tail]);
                    snprintf (tree, sizeof tree, "%s\"ok\":true,\"value\":%s%s}", head_tree, spaced,
                              tails[tail]);
                } else {
                    snprintf (fast, sizeof fast, "%s\"ok\":false,\"error\":\"boom\"%s}", head,
                              tails[tail]);
                    snprintf (tree, sizeof tree, "%s\"ok\":false,\"error\":\"boom\\/\"%s}",
                              head_tree, tails[tail]);
                }
                free (spaced);
                json_decref (value);
                zdex_wmsg_t *a = s_wmsg (fast);
                zdex_wmsg_t *b = s_wmsg (tree);
                assert_null (a->root);
                assert_non_null (b->root);
                assert_int_equal (a->kind, ZDEX_WMSG_RESULT);
                assert_int_equal (a->kind, b->kind);
                assert_false (a->scheduled);
                assert_string_equal (a->executor, b->executor);
                assert_true (a->task_id == UINT64_C (123456789012) && b->task_id == a->task_id);
                assert_int_equal (a->attempt, 7);
                assert_int_equal (b->attempt, 7);
                assert_int_equal (a->ok, ok);
                assert_int_equal (b->ok, ok);
                if (ok) {
                    assert_string_equal (a->value_text, values[index]);
                    assert_string_equal (b->value_text, values[index]);
                    assert_null (a->error);
                } else {
                    assert_null (a->value_text);
                    assert_null (b->value_text);
                    assert_string_equal (a->error, "boom");
                    assert_string_equal (b->error, "boom/");
                }
                if (tail) {
                    assert_string_equal (a->state_text, "{\"n\":1}");
                    assert_string_equal (b->state_text, "{\"n\":1}");
                } else {
                    assert_null (a->state_text);
                    assert_null (b->state_text);
                }
                zdex_wmsg_destroy (&a);
                zdex_wmsg_destroy (&b);
            }
    //  Shapes the fast reader leaves alone still get the tree's words
    s_wmsg_expect ("{\"op\":\"worker.result\",\"ref\":[\"d\",\"e\",1],\"attempt\":1,\"ok\":true,"
                   "\"error\":\"x\"}",
                   ZDEX_BAD_REQUEST, "'error' is not allowed");
    s_wmsg_expect ("{\"op\":\"worker.result\",\"ref\":[\"d\",\"e\",1],\"attempt\":1,\"ok\":true,"
                   "\"ok\":true}",
                   ZDEX_BAD_REQUEST, "");
    s_wmsg_expect ("{\"op\":\"worker.result\",\"ref\":[\"d\",\"e\",1],\"attempt\":1,\"ok\":false,"
                   "\"value\":1,\"error\":\"x\"}",
                   ZDEX_BAD_REQUEST, "'value' is not allowed");
    s_wmsg_expect ("{\"op\":\"worker.result\",\"ref\":[\"d\",\"e\",1],\"attempt\":1,\"ok\":true,"
                   "\"value\":1,\"extra\":1}",
                   ZDEX_BAD_REQUEST, "extra");
    s_wmsg_expect ("{\"op\":\"worker.result\",\"ref\":[\"d\",\"e\",1],\"attempt\":1,\"ok\":true,"
                   "\"value\":{\"a\":1,\"a\":2}}",
                   ZDEX_BAD_REQUEST, "");
    s_wmsg_expect ("{\"op\":\"worker.result\",\"ref\":[\"d\",\"e\",1],\"attempt\":1,\"ok\":true}x",
                   ZDEX_BAD_REQUEST, "");
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
    assert_string_equal (msg->value_text, "{\"sum\":3}");
    assert_null (msg->error);
    assert_null (msg->state_text);
    zdex_wmsg_destroy (&msg);

    msg = s_wmsg ("{\"op\":\"worker.result\",\"ref\":[\"d\",\"e\",0],\"attempt\":4294967295,"
                  "\"ok\":true,\"state\":[1]}");
    assert_true (msg->attempt == UINT32_MAX);
    assert_string_equal (msg->value_text, "null");
    assert_string_equal (msg->state_text, "[1]");
    zdex_wmsg_destroy (&msg);

    msg = s_wmsg ("{\"op\":\"worker.result\",\"ok\":false,\"error\":\"boom\","
                  "\"ref\":[\"d\",\"e\",5],\"attempt\":1}");
    assert_false (msg->ok);
    assert_string_equal (msg->error, "boom");
    assert_null (msg->value_text);
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
    assert_string_equal (msg->value_text, "42");
    zdex_wmsg_destroy (&msg);
    free (result_text);
    json_decref (result);
    json_decref (root);
}

//  zdex_task_view reads the task frames members write, and leaves anything else
//  to the tree.
static void
test_task_view (void **state)
{
    (void) state;
    zframe_t *frame = zdex_wmsg_task ("jobs", UINT64_C (4294967297), 2, "sum", "{\"a\":[1]}");
    zdex_task_view_t view;
    assert_int_equal (zdex_task_view (zframe_data (frame), zframe_size (frame), &view), 0);
    assert_int_equal (view.ref_size, strlen ("[\"d\",\"jobs\",4294967297]"));
    assert_memory_equal (view.ref, "[\"d\",\"jobs\",4294967297]", view.ref_size);
    assert_int_equal (view.attempt_value, 2);
    assert_memory_equal (view.attempt, "2", view.attempt_size);
    assert_memory_equal (view.type, "sum", view.type_size);
    assert_memory_equal (view.payload, "{\"a\":[1]}", view.payload_size);
    assert_null (view.state);
    zframe_destroy (&frame);

    frame = zdex_wmsg_scheduled_task ("urn:zdex:scheduled:partition=3:s:n", 7, UINT32_MAX, "c",
                                      NULL, "{\"n\":3}");
    assert_int_equal (zdex_task_view (zframe_data (frame), zframe_size (frame), &view), 0);
    assert_true (view.attempt_value == UINT32_MAX);
    assert_memory_equal (view.payload, "null", view.payload_size);
    assert_memory_equal (view.state, "{\"n\":3}", view.state_size);
    zframe_destroy (&frame);

    const char *other[] = {
        "{\"op\":\"worker.task\",\"ref\":1,\"type\":\"t\"}",                     //  no attempt
        "{\"op\":\"worker.task\",\"ref\":1,\"attempt\":0,\"type\":\"t\"}",       //  attempt 0
        "{\"op\":\"worker.task\",\"ref\":1,\"attempt\":1,\"type\":\"\\u0074\"}", //  escaped type
        "{\"op\":\"worker.task\",\"ref\":1,\"attempt\":1,\"type\":\"t\",\"payload\":{\"a\": 1}}",
        "{\"op\":\"worker.task\",\"ref\":1,\"attempt\":1,\"type\":\"t\",\"x\":1}",
        "{\"op\":\"worker.task\",\"ref\":1,\"attempt\":1,\"type\":\"t\",\"type\":\"u\"}",
        "{\"op\":\"worker.result\",\"ref\":1,\"attempt\":1,\"type\":\"t\"}",
        "{\"op\":\"worker.task\",\"ref\":1,\"attempt\":1,\"type\":\"t\"} x",
    };
    for (size_t index = 0; index < sizeof other / sizeof other[0]; index++)
        if (zdex_task_view (other[index], strlen (other[index]), &view) == 0)
            fail_msg ("viewed: %s", other[index]);
    assert_int_equal (zdex_task_view ("{\"op\":\"worker.task\", \"ref\" : 1 ,\"attempt\":1,"
                                      "\"type\":\"t\"}",
                                      55, &view),
                      0);

    //  Any one value, by the fast reader or jansson
    const char *values[] = {"1", "\"x\"", "[1,{\"a\":null}]", "1.5", " true ", "\"\\u00e9\""};
    for (size_t index = 0; index < sizeof values / sizeof values[0]; index++) {
        json_t *value = zdex_json_value (values[index], strlen (values[index]));
        json_t *expected = json_loads (values[index], JSON_DECODE_ANY, NULL);
        assert_non_null (value);
        assert_true (json_equal (value, expected));
        json_decref (value);
        json_decref (expected);
    }
    assert_null (zdex_json_value ("1 2", 3));
    assert_null (zdex_json_value ("{\"a\":1,\"a\":2}", 13));
}

static void
test_wmsg_scheduled (void **state)
{
    (void) state;
    zframe_t *frame = zdex_wmsg_scheduled_task ("urn:zdex:scheduled:partition=3:s:n", 7, 2,
                                                "counter", "{\"a\":1}", "{\"n\":3}");
    char *text = s_frame_text (frame);
    assert_string_equal (text, "{\"op\":\"worker.task\",\"ref\":[\"s\","
                               "\"urn:zdex:scheduled:partition=3:s:n\",7],\"attempt\":2,"
                               "\"type\":\"counter\",\"payload\":{\"a\":1},\"state\":{\"n\":3}}");
    free (text);
    zframe_destroy (&frame);

    //  No payload, no state; a name that needs escaping; the largest run and attempt
    const char *urn = "urn:zdex:scheduled:member=m-1:s\xc3\xa9:a:\"b\"\\";
    frame = zdex_wmsg_scheduled_task (urn, UINT64_C (1) << 53, UINT32_MAX, "t\"", NULL, NULL);
    json_t *root = s_frame_json (&frame);
    assert_int_equal (json_object_size (root), 5);
    assert_null (json_object_get (root, "state"));
    assert_true (json_is_null (json_object_get (root, "payload")));
    assert_string_equal (json_string_value (json_object_get (root, "type")), "t\"");
    json_t *ref = json_object_get (root, "ref");
    assert_string_equal (json_string_value (json_array_get (ref, 0)), "s");
    assert_string_equal (json_string_value (json_array_get (ref, 1)), urn);
    assert_true (json_integer_value (json_array_get (ref, 2)) == (json_int_t) 1 << 53);

    //  The worker echoes ref and attempt, with a new state; the member parses them back
    json_t *result =
        json_pack ("{s:s,s:O,s:O,s:b,s:i,s:{s:i}}", "op", "worker.result", "ref", ref, "attempt",
                   json_object_get (root, "attempt"), "ok", 1, "value", 4, "state", "n", 4);
    char *result_text = json_dumps (result, JSON_COMPACT);
    zdex_wmsg_t *msg = s_wmsg (result_text);
    assert_true (msg->scheduled);
    assert_null (msg->executor);
    assert_int_equal (msg->handler.partition, -1);
    assert_string_equal (msg->handler.member, "m-1");
    assert_string_equal (msg->handler.scheduler, "s\xc3\xa9");
    assert_string_equal (msg->handler.name, "a:\"b\"\\");
    assert_true (msg->run == UINT64_C (1) << 53);
    assert_true (msg->attempt == UINT32_MAX);
    assert_true (msg->ok);
    assert_string_equal (msg->value_text, "4");
    assert_string_equal (msg->state_text, "{\"n\":4}");
    zdex_wmsg_destroy (&msg);
    free (result_text);
    json_decref (result);
    json_decref (root);

    msg = s_wmsg ("{\"op\":\"worker.result\",\"ref\":[\"s\",\"" S_URN "\",0],\"attempt\":1,"
                  "\"ok\":false,\"error\":\"boom\",\"state\":null}");
    assert_true (msg->scheduled);
    assert_int_equal (msg->handler.partition, 17);
    assert_string_equal (msg->handler.name, "nightly:report");
    assert_int_equal (msg->run, 0);
    assert_false (msg->ok);
    assert_string_equal (msg->error, "boom");
    assert_string_equal (msg->state_text, "null");
    zdex_wmsg_destroy (&msg);

    //  A durable ref leaves the scheduled fields zero
    msg = s_wmsg ("{\"op\":\"worker.result\",\"ref\":[\"d\",\"e\",1],\"attempt\":1,\"ok\":true}");
    assert_false (msg->scheduled);
    assert_null (msg->handler.owned);
    assert_int_equal (msg->run, 0);
    zdex_wmsg_destroy (&msg);

    const char *bad[][2] = {
        {"{\"op\":\"worker.result\",\"ref\":[\"s\",\"" S_URN "\",9007199254740993],"
         "\"attempt\":1,\"ok\":true}",
         "'ref'"},
        {"{\"op\":\"worker.result\",\"ref\":[\"s\",\"" S_URN "\",-1],\"attempt\":1,\"ok\":true}",
         "'ref'"},
        {"{\"op\":\"worker.result\",\"ref\":[\"s\",\"" S_URN "\",1.0],\"attempt\":1,\"ok\":true}",
         "'ref'"},
        {"{\"op\":\"worker.result\",\"ref\":[\"s\",\"" S_URN "\"],\"attempt\":1,\"ok\":true}",
         "'ref'"},
        {"{\"op\":\"worker.result\",\"ref\":[\"s\",\"" S_URN "\",1,2],\"attempt\":1,\"ok\":true}",
         "'ref'"},
        {"{\"op\":\"worker.result\",\"ref\":[\"s\",\"urn:x\",1],\"attempt\":1,\"ok\":true}",
         "malformed handler"},
        {"{\"op\":\"worker.result\",\"ref\":[\"s\",\"\",1],\"attempt\":1,\"ok\":true}", "'ref'"},
        {"{\"op\":\"worker.result\",\"ref\":[\"s\",5,1],\"attempt\":1,\"ok\":true}", "'ref'"},
        {"{\"op\":\"worker.result\",\"ref\":[\"x\",\"" S_URN "\",1],\"attempt\":1,\"ok\":true}",
         "'ref'"},
        {"{\"op\":\"worker.result\",\"ref\":[\"d\",\"" S_URN "\",1.5],\"attempt\":1,\"ok\":true}",
         "'ref'"},
        {"{\"op\":\"worker.result\",\"ref\":{\"s\":1},\"attempt\":1,\"ok\":true}", "'ref'"},
        //  Fails after the handler was parsed: freed with the message (ASan checks)
        {"{\"op\":\"worker.result\",\"ref\":[\"s\",\"" S_URN "\",1],\"attempt\":0,\"ok\":true}",
         "'attempt'"},
    };
    for (size_t index = 0; index < sizeof (bad) / sizeof (bad[0]); index++)
        s_wmsg_expect (bad[index][0], ZDEX_BAD_REQUEST, bad[index][1]);
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

//  zdex_u64_text writes what printf's PRIu64 does, at each digit count's edges.
static void
test_u64_text (void **state)
{
    (void) state;
    const uint64_t values[] = {
        0,         1,           9,           10,           11,
        99,        100,         101,         999,          1000,
        12345,     4294967295u, 4294967296u, 73014444032u, 10000000000000000000u,
        UINT64_MAX};
    for (size_t index = 0; index < sizeof values / sizeof values[0]; index++) {
        char expected[32], text[ZDEX_U64_TEXT_MAX];
        int size = snprintf (expected, sizeof expected, "%" PRIu64, values[index]);
        memset (text, 'x', sizeof text);
        assert_int_equal (zdex_u64_text (values[index], text), (size_t) size);
        assert_string_equal (text, expected);
    }
    char text[ZDEX_U64_TEXT_MAX];
    assert_int_equal (zdex_u64_text (UINT64_MAX, text), ZDEX_U64_TEXT_MAX - 1);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_u64_text),
        cmocka_unit_test (test_submit_defaults),
        cmocka_unit_test (test_submit_all_fields),
        cmocka_unit_test (test_execute),
        cmocka_unit_test (test_submit_and_retrieve),
        cmocka_unit_test (test_retrieve_ops),
        cmocka_unit_test (test_executor_ops),
        cmocka_unit_test (test_cluster_ops),
        cmocka_unit_test (test_scheduled_ops),
        cmocka_unit_test (test_schedule_defaults),
        cmocka_unit_test (test_schedule_all_fields),
        cmocka_unit_test (test_schedule_invalid),
        cmocka_unit_test (test_scheduled_handler_ops),
        cmocka_unit_test (test_scheduler_ops),
        cmocka_unit_test (test_handler_parse),
        cmocka_unit_test (test_handler_malformed),
        cmocka_unit_test (test_handler_format),
        cmocka_unit_test (test_not_json),
        cmocka_unit_test (test_not_object),
        cmocka_unit_test (test_duplicate_key),
        cmocka_unit_test (test_request_fast),
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
        cmocka_unit_test (test_json_is_compact),
        cmocka_unit_test (test_wmsg_result),
        cmocka_unit_test (test_wmsg_result_fast),
        cmocka_unit_test (test_wmsg_other),
        cmocka_unit_test (test_wmsg_task),
        cmocka_unit_test (test_task_view),
        cmocka_unit_test (test_wmsg_scheduled),
        cmocka_unit_test (test_wmsg_simple),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
