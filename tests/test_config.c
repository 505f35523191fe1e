//  test_config: zdex_config unit tests.
//
//  Each test gets its own temporary directory (mkdtemp) and configuration, and
//  the teardown removes every file it wrote, so tests are independent and leave
//  nothing behind.  Error tests check the whole promise of the error format:
//  the file, the JSON path of the field, and what is wrong.
//
//  The example configs in config/ are found through ZDEX_SOURCE_DIR, else
//  relative to this file's directory.

#include "zdex_config.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

typedef struct {
    char dir[64];
    zlist_t *files; //  paths written, removed at teardown
    zdex_config_t *config;
    char err[1024];
} fixture_t;

static int
s_setup (void **state)
{
    fixture_t *fx = (fixture_t *) calloc (1, sizeof *fx);
    assert_non_null (fx);
    strcpy (fx->dir, "/tmp/zdex-test-config-XXXXXX");
    assert_non_null (mkdtemp (fx->dir));
    fx->files = zlist_new ();
    zlist_autofree (fx->files);
    fx->config = zdex_config_new ();
    assert_non_null (fx->config);
    *state = fx;
    return 0;
}

static int
s_teardown (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    for (char *path = (char *) zlist_first (fx->files); path;
         path = (char *) zlist_next (fx->files))
        unlink (path);
    zlist_destroy (&fx->files);
    rmdir (fx->dir);
    zdex_config_destroy (&fx->config);
    assert_null (fx->config);
    free (fx);
    return 0;
}

//  Writes text to <dir>/<name>; returns the path (owned by the fixture).
static const char *
s_write (fixture_t *fx, const char *name, const char *text)
{
    char path[256];
    snprintf (path, sizeof path, "%s/%s", fx->dir, name);
    FILE *file = fopen (path, "w");
    assert_non_null (file);
    assert_int_equal (fputs (text, file) >= 0, 1);
    assert_int_equal (fclose (file), 0);
    if (!zlist_exists (fx->files, path))
        zlist_append (fx->files, path);
    for (const char *known = (const char *) zlist_first (fx->files); known;
         known = (const char *) zlist_next (fx->files))
        if (streq (known, path))
            return known;
    return NULL;
}

static int
s_load_text (fixture_t *fx, const char *text)
{
    const char *path = s_write (fx, "cfg.json", text);
    fx->err[0] = 0;
    return zdex_config_load (fx->config, path, fx->err, sizeof fx->err);
}

//  Loads text expecting failure; the message must be "<path>: <expected>..."
static void
s_expect_error (fixture_t *fx, const char *text, const char *expected)
{
    const char *path = s_write (fx, "cfg.json", text);
    fx->err[0] = 0;
    if (zdex_config_load (fx->config, path, fx->err, sizeof fx->err) != -1)
        fail_msg ("loaded, expected error '%s' for: %s", expected, text);
    char prefix[1200];
    snprintf (prefix, sizeof prefix, "%s: %s", path, expected);
    if (strncmp (fx->err, prefix, strlen (prefix)) != 0)
        fail_msg ("error '%s'\n  does not start with '%s'", fx->err, prefix);
}

static void
s_source_path (char *out, size_t size, const char *relative)
{
    const char *root = getenv ("ZDEX_SOURCE_DIR");
    if (root && *root) {
        snprintf (out, size, "%s/%s", root, relative);
        return;
    }
    const char *file = __FILE__;
    const char *slash = strrchr (file, '/');
    if (slash)
        snprintf (out, size, "%.*s/../%s", (int) (slash - file), file, relative);
    else
        snprintf (out, size, "../%s", relative);
}

static bool
s_is_hex_id (const char *id)
{
    if (strlen (id) != 10 || strncmp (id, "m-", 2) != 0)
        return false;
    for (const char *cursor = id + 2; *cursor; cursor++)
        if (!strchr ("0123456789abcdef", *cursor))
            return false;
    return true;
}

static void
s_assert_default_member (const zdex_member_config_t *member)
{
    assert_string_equal (member->client_endpoint, "tcp://127.0.0.1:5570");
    assert_string_equal (member->worker_endpoint, "tcp://127.0.0.1:5571");
    assert_string_equal (member->cluster_endpoint, "tcp://127.0.0.1:5572");
    assert_int_equal (member->log_level, ZDEX_LOG_INFO);
    assert_int_equal (member->partition_count, 271);
    assert_int_equal (member->partition_threads, 0);
    assert_int_equal (member->worker_heartbeat_ms, 1000);
    assert_int_equal (member->worker_timeout_ms, 3000);
    assert_int_equal (member->max_frame_bytes, 1024 * 1024);
    assert_int_equal (member->max_payload_bytes, 512 * 1024);
    assert_int_equal (member->max_parked, 100000);
    assert_int_equal (member->max_queued_tasks, 1000000);
    assert_int_equal (member->max_executors, 1024);
    assert_int_equal (member->cluster_heartbeat_ms, 250);
    assert_int_equal (member->cluster_timeout_ms, 1500);
}

static void
s_assert_default_executors (zdex_config_t *config, const char *name)
{
    zdex_durable_config_t durable;
    zdex_config_durable (config, name, &durable);
    assert_int_equal (durable.pool_size, 16);
    assert_int_equal (durable.durability, 1);
    assert_int_equal (durable.capacity, 100);
    assert_true (durable.statistics_enabled);
    assert_string_equal (durable.split_brain_protection, "");

    zdex_scheduled_config_t scheduled;
    zdex_config_scheduled (config, name, &scheduled);
    assert_int_equal (scheduled.pool_size, 16);
    assert_int_equal (scheduled.durability, 1);
    assert_int_equal (scheduled.capacity, 100);
    assert_int_equal (scheduled.capacity_policy, ZDEX_CAPACITY_PER_NODE);
    assert_int_equal (scheduled.merge_policy, ZDEX_MERGE_PUT_IF_ABSENT);
    assert_true (scheduled.statistics_enabled);
    assert_string_equal (scheduled.split_brain_protection, "");
}

//  ---------------------------------------------------------------------------

static void
test_defaults (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    const zdex_member_config_t *member = zdex_config_member (fx->config);
    assert_true (s_is_hex_id (member->member_id));
    s_assert_default_member (member);
    assert_int_equal (zlist_size (zdex_config_seeds (fx->config)), 0);
    s_assert_default_executors (fx->config, "default");
    s_assert_default_executors (fx->config, "anything");
    s_assert_default_executors (fx->config, NULL);
    zdex_protection_config_t rule;
    assert_int_equal (zdex_config_protection (fx->config, "majority", &rule), -1);

    //  Two members started without an id get different ids.
    zdex_config_t *other = zdex_config_new ();
    assert_non_null (other);
    assert_true (s_is_hex_id (zdex_config_member (other)->member_id));
    assert_string_not_equal (zdex_config_member (other)->member_id, member->member_id);
    zdex_config_destroy (&other);
    zdex_config_destroy (&other); //  null-safe
}

static void
test_log_level_parse (void **state)
{
    (void) state;
    assert_int_equal (zdex_config_log_level_parse ("error"), ZDEX_LOG_ERROR);
    assert_int_equal (zdex_config_log_level_parse ("warning"), ZDEX_LOG_WARNING);
    assert_int_equal (zdex_config_log_level_parse ("info"), ZDEX_LOG_INFO);
    assert_int_equal (zdex_config_log_level_parse ("debug"), ZDEX_LOG_DEBUG);
    assert_int_equal (zdex_config_log_level_parse ("INFO"), -1);
    assert_int_equal (zdex_config_log_level_parse ("warn"), -1);
    assert_int_equal (zdex_config_log_level_parse (""), -1);
    assert_int_equal (zdex_config_log_level_parse (NULL), -1);
}

static void
test_full_file (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    const char *text =
        "{\n"
        "  \"member\": {\"id\": \"node-1.a_b\", \"client_endpoint\": \"tcp://0.0.0.0:6000\",\n"
        "             \"worker_endpoint\": \"ipc:///tmp/zdex-w\",\n"
        "             \"cluster_endpoint\": \"inproc://cluster\", \"log_level\": \"debug\",\n"
        "             \"partition_threads\": 8},\n"
        "  \"cluster\": {\"seeds\": [\"tcp://10.0.0.1:5572\", \"tcp://10.0.0.2:5572\"],\n"
        "              \"partition_count\": 1024, \"heartbeat_ms\": 100, \"timeout_ms\": 900},\n"
        "  \"workers\": {\"heartbeat_ms\": 500, \"timeout_ms\": 2000},\n"
        "  \"limits\": {\"max_frame_bytes\": 2097152, \"max_payload_bytes\": 2097152,\n"
        "             \"max_parked\": 5, \"max_queued_tasks\": 6, \"max_executors\": 7},\n"
        "  \"durable_executors\": {\"jobs\": {\"pool_size\": 3, \"durability\": 0,\n"
        "      \"capacity\": 9, \"statistics_enabled\": false,\n"
        "      \"split_brain_protection\": \"quorum\"}},\n"
        "  \"scheduled_executors\": {\"ticks\": {\"pool_size\": 4, \"durability\": 2,\n"
        "      \"capacity\": 0, \"capacity_policy\": \"per_partition\",\n"
        "      \"merge_policy\": \"discard\", \"statistics_enabled\": false,\n"
        "      \"split_brain_protection\": \"quorum\"}},\n"
        "  \"split_brain_protection\": {\"quorum\": {\"min_cluster_size\": 3,\n"
        "      \"protect_on\": \"read\"}}\n"
        "}\n";
    assert_int_equal (s_load_text (fx, text), 0);

    const zdex_member_config_t *member = zdex_config_member (fx->config);
    assert_string_equal (member->member_id, "node-1.a_b");
    assert_string_equal (member->client_endpoint, "tcp://0.0.0.0:6000");
    assert_string_equal (member->worker_endpoint, "ipc:///tmp/zdex-w");
    assert_string_equal (member->cluster_endpoint, "inproc://cluster");
    assert_int_equal (member->log_level, ZDEX_LOG_DEBUG);
    assert_int_equal (member->partition_threads, 8);
    assert_int_equal (member->partition_count, 1024);
    assert_int_equal (member->cluster_heartbeat_ms, 100);
    assert_int_equal (member->cluster_timeout_ms, 900);
    assert_int_equal (member->worker_heartbeat_ms, 500);
    assert_int_equal (member->worker_timeout_ms, 2000);
    assert_int_equal (member->max_frame_bytes, 2097152);
    assert_int_equal (member->max_payload_bytes, 2097152);
    assert_int_equal (member->max_parked, 5);
    assert_int_equal (member->max_queued_tasks, 6);
    assert_int_equal (member->max_executors, 7);

    zlist_t *seeds = zdex_config_seeds (fx->config);
    assert_int_equal (zlist_size (seeds), 2);
    assert_string_equal ((char *) zlist_first (seeds), "tcp://10.0.0.1:5572");
    assert_string_equal ((char *) zlist_next (seeds), "tcp://10.0.0.2:5572");

    zdex_durable_config_t durable;
    zdex_config_durable (fx->config, "jobs", &durable);
    assert_int_equal (durable.pool_size, 3);
    assert_int_equal (durable.durability, 0);
    assert_int_equal (durable.capacity, 9);
    assert_false (durable.statistics_enabled);
    assert_string_equal (durable.split_brain_protection, "quorum");

    zdex_scheduled_config_t scheduled;
    zdex_config_scheduled (fx->config, "ticks", &scheduled);
    assert_int_equal (scheduled.pool_size, 4);
    assert_int_equal (scheduled.durability, 2);
    assert_int_equal (scheduled.capacity, 0);
    assert_int_equal (scheduled.capacity_policy, ZDEX_CAPACITY_PER_PARTITION);
    assert_int_equal (scheduled.merge_policy, ZDEX_MERGE_DISCARD);
    assert_false (scheduled.statistics_enabled);
    assert_string_equal (scheduled.split_brain_protection, "quorum");

    //  Durable and scheduled names are separate namespaces.
    s_assert_default_executors (fx->config, "other");
    zdex_config_scheduled (fx->config, "jobs", &scheduled);
    assert_int_equal (scheduled.capacity, 100);

    zdex_protection_config_t rule;
    assert_int_equal (zdex_config_protection (fx->config, "quorum", &rule), 0);
    assert_string_equal (rule.name, "quorum");
    assert_int_equal (rule.min_cluster_size, 3);
    assert_int_equal (rule.protect_on, ZDEX_PROTECT_READ);
}

static void
test_empty_object_keeps_defaults (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    char id[ZDEX_CONFIG_NAME_MAX];
    strcpy (id, zdex_config_member (fx->config)->member_id);
    assert_int_equal (s_load_text (fx, "{}"), 0);
    assert_int_equal (s_load_text (fx, "{\"member\": {}, \"durable_executors\": {}}"), 0);
    assert_string_equal (zdex_config_member (fx->config)->member_id, id);
    s_assert_default_member (zdex_config_member (fx->config));
    s_assert_default_executors (fx->config, "x");
}

static void
test_resolution (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    const char *text = "{\"durable_executors\": {\n"
                       "  \"jobs-*\":         {\"capacity\": 1000},\n"
                       "  \"jobs-urgent-*\":  {\"capacity\": 5},\n"
                       "  \"jobs-urgent-42\": {\"capacity\": 42},\n"
                       "  \"*-batch\":        {\"capacity\": 7},\n"
                       "  \"a*z\":            {\"capacity\": 26},\n"
                       "  \"ab*ba\":          {\"capacity\": 4},\n"
                       "  \"*\":              {\"pool_size\": 1}\n"
                       "}}";
    assert_int_equal (s_load_text (fx, text), 0);
    zdex_durable_config_t out;

    //  Exact beats every pattern.
    zdex_config_durable (fx->config, "jobs-urgent-42", &out);
    assert_int_equal (out.capacity, 42);
    //  The pattern with the most literal characters wins.
    zdex_config_durable (fx->config, "jobs-urgent-1", &out);
    assert_int_equal (out.capacity, 5);
    zdex_config_durable (fx->config, "jobs-1", &out);
    assert_int_equal (out.capacity, 1000);
    //  The '*' matches the empty run.
    zdex_config_durable (fx->config, "jobs-", &out);
    assert_int_equal (out.capacity, 1000);
    zdex_config_durable (fx->config, "nightly-batch", &out);
    assert_int_equal (out.capacity, 7);
    zdex_config_durable (fx->config, "a-to-z", &out);
    assert_int_equal (out.capacity, 26);
    zdex_config_durable (fx->config, "az", &out);
    assert_int_equal (out.capacity, 26);
    //  Prefix and suffix may not overlap: "ab*ba" does not match "aba".
    zdex_config_durable (fx->config, "abba", &out);
    assert_int_equal (out.capacity, 4);
    zdex_config_durable (fx->config, "aba", &out);
    assert_int_equal (out.capacity, 100);
    assert_int_equal (out.pool_size, 1);
    //  Entries do not stack: "jobs-urgent-*" wins and does not inherit from
    //  "jobs-*" or "*"; omitted fields come from the defaults.
    zdex_config_durable (fx->config, "jobs-urgent-1", &out);
    assert_int_equal (out.pool_size, 16);
    //  "*" is a pattern, so it beats the defaults for names nothing else matches.
    zdex_config_durable (fx->config, "zzz", &out);
    assert_int_equal (out.pool_size, 1);
    assert_int_equal (out.capacity, 100);
    //  Names are case-sensitive.
    zdex_config_durable (fx->config, "JOBS-1", &out);
    assert_int_equal (out.capacity, 100);
}

static void
test_wildcard_tie_first_defined (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    //  "x-*" and "*-y" both have 2 literal characters; the first defined wins.
    assert_int_equal (s_load_text (fx, "{\"scheduled_executors\": {\"x-*\": {\"capacity\": 1},"
                                       " \"*-y\": {\"capacity\": 2}}}"),
                      0);
    zdex_scheduled_config_t out;
    zdex_config_scheduled (fx->config, "x-y", &out);
    assert_int_equal (out.capacity, 1);

    zdex_config_t *reversed = zdex_config_new ();
    assert_non_null (reversed);
    assert_int_equal (
        zdex_config_load_string (reversed,
                                 "{\"scheduled_executors\": {\"*-y\": {\"capacity\": 2},"
                                 " \"x-*\": {\"capacity\": 1}}}",
                                 "reversed.json", fx->err, sizeof fx->err),
        0);
    zdex_config_scheduled (reversed, "x-y", &out);
    assert_int_equal (out.capacity, 2);
    //  A later load that redefines "*-y" keeps its place in the order.
    assert_int_equal (zdex_config_load_string (reversed,
                                               "{\"scheduled_executors\": {\"x-*\": {}, \"*-y\": "
                                               "{\"capacity\": 3}}}",
                                               "again.json", fx->err, sizeof fx->err),
                      0);
    zdex_config_scheduled (reversed, "x-y", &out);
    assert_int_equal (out.capacity, 3);
    zdex_config_destroy (&reversed);
}

static void
test_default_entry_override (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    //  "default" is written after the entry that inherits from it.
    const char *text = "{\"durable_executors\": {\n"
                       "  \"jobs-*\":  {\"capacity\": 1000},\n"
                       "  \"exact\":   {\"durability\": 3},\n"
                       "  \"default\": {\"pool_size\": 4, \"capacity\": 50,\n"
                       "                \"statistics_enabled\": false}\n"
                       "}, \"scheduled_executors\": {\n"
                       "  \"default\": {\"capacity\": 0, \"merge_policy\": \"pass_through\"}\n"
                       "}}";
    assert_int_equal (s_load_text (fx, text), 0);
    zdex_durable_config_t out;
    //  Names matching nothing take the "default" entry.
    zdex_config_durable (fx->config, "other", &out);
    assert_int_equal (out.pool_size, 4);
    assert_int_equal (out.capacity, 50);
    assert_int_equal (out.durability, 1); //  not in "default": built-in
    assert_false (out.statistics_enabled);
    zdex_config_durable (fx->config, "default", &out);
    assert_int_equal (out.pool_size, 4);
    //  Omitted fields of other entries come from the overridden default.
    zdex_config_durable (fx->config, "jobs-9", &out);
    assert_int_equal (out.capacity, 1000);
    assert_int_equal (out.pool_size, 4);
    assert_false (out.statistics_enabled);
    zdex_config_durable (fx->config, "exact", &out);
    assert_int_equal (out.durability, 3);
    assert_int_equal (out.capacity, 50);

    zdex_scheduled_config_t scheduled;
    zdex_config_scheduled (fx->config, "any", &scheduled);
    assert_int_equal (scheduled.capacity, 0);
    assert_int_equal (scheduled.merge_policy, ZDEX_MERGE_PASS_THROUGH);
    assert_int_equal (scheduled.pool_size, 16);

    //  A later file's "default" also reaches entries from the earlier file.
    assert_int_equal (
        s_load_text (fx, "{\"durable_executors\": {\"default\": {\"durability\": 0}}}"), 0);
    zdex_config_durable (fx->config, "jobs-9", &out);
    assert_int_equal (out.durability, 0);
    assert_int_equal (out.pool_size, 4); //  earlier "default" fields are kept
    assert_int_equal (out.capacity, 1000);
}

static void
test_protection_rules (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    const char *text =
        "{\"split_brain_protection\": {\"two\": {},\n"
        "   \"five\": {\"min_cluster_size\": 5, \"protect_on\": \"write\"}},\n"
        " \"durable_executors\": {\"default\": {\"split_brain_protection\": \"two\"},\n"
        "   \"free\": {\"split_brain_protection\": \"\"},\n"
        "   \"strict\": {\"split_brain_protection\": \"five\"}}}";
    assert_int_equal (s_load_text (fx, text), 0);
    zdex_protection_config_t rule;
    assert_int_equal (zdex_config_protection (fx->config, "two", &rule), 0);
    assert_int_equal (rule.min_cluster_size, 2);
    assert_int_equal (rule.protect_on, ZDEX_PROTECT_READ_WRITE);
    assert_int_equal (zdex_config_protection (fx->config, "five", &rule), 0);
    assert_int_equal (rule.min_cluster_size, 5);
    assert_int_equal (rule.protect_on, ZDEX_PROTECT_WRITE);
    assert_int_equal (zdex_config_protection (fx->config, NULL, &rule), -1);

    zdex_durable_config_t out;
    zdex_config_durable (fx->config, "other", &out);
    assert_string_equal (out.split_brain_protection, "two");
    zdex_config_durable (fx->config, "free", &out);
    assert_string_equal (out.split_brain_protection, "");
    zdex_config_durable (fx->config, "strict", &out);
    assert_string_equal (out.split_brain_protection, "five");

    //  A rule from an earlier load may be referenced later; a rule is overlaid
    //  field by field.
    assert_int_equal (s_load_text (fx, "{\"scheduled_executors\": {\"s\": "
                                       "{\"split_brain_protection\": \"five\"}},"
                                       " \"split_brain_protection\": {\"five\": "
                                       "{\"protect_on\": \"read_write\"}}}"),
                      0);
    assert_int_equal (zdex_config_protection (fx->config, "five", &rule), 0);
    assert_int_equal (rule.min_cluster_size, 5);
    assert_int_equal (rule.protect_on, ZDEX_PROTECT_READ_WRITE);
}

//  One line per kind of mistake: the text and the start of the expected message
//  after "<file>: ".
typedef struct {
    const char *text;
    const char *expected;
} error_case_t;

static void
test_errors (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    const error_case_t cases[] = {
        //  Document shape and unknown names
        {"[]", "must be a JSON object"},
        {"{\"bogus\": {}}", "bogus: unknown section"},
        {"{\"member\": []}", "member: must be an object"},
        {"{\"member\": {\"colour\": 1}}", "member.colour: unknown field"},
        {"{\"cluster\": {\"seed\": []}}", "cluster.seed: unknown field"},
        {"{\"workers\": {\"slots\": 1}}", "workers.slots: unknown field"},
        {"{\"limits\": {\"max_bytes\": 1}}", "limits.max_bytes: unknown field"},
        {"{\"durable_executors\": {\"j\": {\"capacty\": 1}}}",
         "durable_executors.j.capacty: unknown field"},
        {"{\"durable_executors\": {\"j\": {\"merge_policy\": \"discard\"}}}",
         "durable_executors.j.merge_policy: unknown field"},
        {"{\"durable_executors\": {\"j\": 5}}", "durable_executors.j: must be an object"},
        {"{\"split_brain_protection\": {\"r\": {\"size\": 2}}}",
         "split_brain_protection.r.size: unknown field"},
        {"{\"split_brain_protection\": {\"r\": true}}",
         "split_brain_protection.r: must be an object"},
        //  Wrong types
        {"{\"member\": {\"partition_threads\": \"2\"}}",
         "member.partition_threads: must be an integer in 0..64"},
        {"{\"member\": {\"id\": 7}}", "member.id: must be a string"},
        {"{\"member\": {\"client_endpoint\": null}}", "member.client_endpoint: must be a string"},
        {"{\"cluster\": {\"partition_count\": 271.0}}",
         "cluster.partition_count: must be an integer in 1..65536"},
        {"{\"cluster\": {\"seeds\": \"tcp://a:1\"}}", "cluster.seeds: must be an array"},
        {"{\"cluster\": {\"seeds\": [\"tcp://a:1\", 2]}}", "cluster.seeds[1]: must be a string"},
        {"{\"durable_executors\": {\"j\": {\"statistics_enabled\": 1}}}",
         "durable_executors.j.statistics_enabled: must be true or false"},
        {"{\"durable_executors\": {\"j\": {\"split_brain_protection\": false}}}",
         "durable_executors.j.split_brain_protection: must be a string"},
        {"{\"durable_executors\": {\"j\": {\"pool_size\": true}}}",
         "durable_executors.j.pool_size: must be an integer > 0"},
        //  Out of range
        {"{\"member\": {\"partition_threads\": -1}}",
         "member.partition_threads: must be an integer in 0..64"},
        {"{\"member\": {\"partition_threads\": 65}}",
         "member.partition_threads: must be an integer in 0..64"},
        {"{\"cluster\": {\"partition_count\": 0}}",
         "cluster.partition_count: must be an integer in 1..65536"},
        {"{\"cluster\": {\"partition_count\": 65537}}",
         "cluster.partition_count: must be an integer in 1..65536"},
        {"{\"cluster\": {\"heartbeat_ms\": 9}}",
         "cluster.heartbeat_ms: must be an integer in 10..600000"},
        {"{\"workers\": {\"heartbeat_ms\": 600001}}",
         "workers.heartbeat_ms: must be an integer in 10..600000"},
        {"{\"workers\": {\"timeout_ms\": 3600001}}",
         "workers.timeout_ms: must be an integer in 1..3600000"},
        {"{\"limits\": {\"max_frame_bytes\": 1023}}",
         "limits.max_frame_bytes: must be an integer in 1024..67108864"},
        {"{\"limits\": {\"max_payload_bytes\": 0}}",
         "limits.max_payload_bytes: must be an integer in 1..67108864"},
        {"{\"limits\": {\"max_parked\": 0}}", "limits.max_parked: must be an integer > 0"},
        {"{\"limits\": {\"max_queued_tasks\": -1}}",
         "limits.max_queued_tasks: must be an integer > 0"},
        {"{\"limits\": {\"max_parked\": 2147483648}}",
         "limits.max_parked: must be an integer <= 2147483647"},
        {"{\"limits\": {\"max_executors\": 65537}}",
         "limits.max_executors: must be an integer in 1..65536"},
        {"{\"durable_executors\": {\"jobs-*\": {\"capacity\": 0}}}",
         "durable_executors.jobs-*.capacity: must be an integer > 0"},
        {"{\"durable_executors\": {\"j\": {\"durability\": -1}}}",
         "durable_executors.j.durability: must be an integer >= 0"},
        {"{\"durable_executors\": {\"j\": {\"pool_size\": 0}}}",
         "durable_executors.j.pool_size: must be an integer > 0"},
        {"{\"scheduled_executors\": {\"s\": {\"capacity\": -1}}}",
         "scheduled_executors.s.capacity: must be an integer >= 0"},
        {"{\"split_brain_protection\": {\"r\": {\"min_cluster_size\": 1}}}",
         "split_brain_protection.r.min_cluster_size: must be an integer >= 2"},
        //  Bad values
        {"{\"member\": {\"id\": \"\"}}", "member.id: must be 1..64 characters"},
        {"{\"member\": {\"id\": \"has space\"}}", "member.id: must be 1..64 characters"},
        {"{\"member\": {\"id\": "
         "\"m12345678901234567890123456789012345678901234567890123456789012345\"}}",
         "member.id: must be 1..64 characters"},
        {"{\"member\": {\"client_endpoint\": \"http://x\"}}",
         "member.client_endpoint: must be an endpoint starting with tcp://"},
        {"{\"member\": {\"worker_endpoint\": \"tcp://\"}}",
         "member.worker_endpoint: must be an endpoint"},
        {"{\"member\": {\"cluster_endpoint\": \"tcp://a b:1\"}}",
         "member.cluster_endpoint: must be an endpoint"},
        {"{\"cluster\": {\"seeds\": [\"tcp://a:1\", \"udp://b:2\"]}}",
         "cluster.seeds[1]: must be an endpoint"},
        //  Bad enums
        {"{\"member\": {\"log_level\": \"loud\"}}",
         "member.log_level: must be one of error, warning, info, debug"},
        {"{\"scheduled_executors\": {\"s\": {\"capacity_policy\": \"per_member\"}}}",
         "scheduled_executors.s.capacity_policy: must be one of per_node, per_partition"},
        {"{\"scheduled_executors\": {\"s\": {\"merge_policy\": \"latest\"}}}",
         "scheduled_executors.s.merge_policy: must be one of put_if_absent, pass_through, "
         "discard"},
        {"{\"split_brain_protection\": {\"r\": {\"protect_on\": \"READ\"}}}",
         "split_brain_protection.r.protect_on: must be one of read, write, read_write"},
        //  Names
        {"{\"durable_executors\": {\"a*b*\": {}}}",
         "durable_executors.a*b*: at most one '*' is allowed in a name"},
        {"{\"scheduled_executors\": {\"**\": {}}}",
         "scheduled_executors.**: at most one '*' is allowed in a name"},
        {"{\"durable_executors\": {\"\": {}}}", "durable_executors: names must not be empty"},
        {"{\"split_brain_protection\": {\"\": {}}}",
         "split_brain_protection: names must not be empty"},
        //  References and cross-field rules
        {"{\"durable_executors\": {\"j\": {\"split_brain_protection\": \"nope\"}}}",
         "durable_executors.j.split_brain_protection: no split_brain_protection rule named "
         "'nope'"},
        {"{\"scheduled_executors\": {\"default\": {\"split_brain_protection\": \"nope\"}}}",
         "scheduled_executors.default.split_brain_protection: no split_brain_protection rule"},
        {"{\"workers\": {\"timeout_ms\": 1000}}",
         "workers.timeout_ms: must be greater than workers.heartbeat_ms (1000)"},
        {"{\"workers\": {\"heartbeat_ms\": 3000}}",
         "workers.heartbeat_ms: must be less than workers.timeout_ms (3000)"},
        {"{\"cluster\": {\"heartbeat_ms\": 500, \"timeout_ms\": 400}}",
         "cluster.timeout_ms: must be greater than cluster.heartbeat_ms (500)"},
        {"{\"limits\": {\"max_payload_bytes\": 1048577}}",
         "limits.max_payload_bytes: must be <= limits.max_frame_bytes (1048576)"},
        {"{\"limits\": {\"max_frame_bytes\": 4096}}",
         "limits.max_frame_bytes: must be >= limits.max_payload_bytes (524288)"},
        //  Syntax
        {"", "line 1, column 0: '[' or '{' expected"},
        {"{\"member\": {\"id\": \"a\",}}", "line 1, column 23: string or '}' expected"},
        {"{} {}", "line 1, column 4: end of file expected"},
    };
    for (size_t index = 0; index < sizeof cases / sizeof cases[0]; index++) {
        //  Each error leaves the configuration as it was.
        s_expect_error (fx, cases[index].text, cases[index].expected);
        s_assert_default_member (zdex_config_member (fx->config));
        s_assert_default_executors (fx->config, "j");
        s_assert_default_executors (fx->config, "jobs-1");
    }
}

static void
test_error_message_exact (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    const char *text = "{\"durable_executors\": {\"jobs-*\": {\"capacity\": 0}}}";
    assert_int_equal (
        zdex_config_load_string (fx->config, text, "cfg.json", fx->err, sizeof fx->err), -1);
    assert_string_equal (fx->err, "cfg.json: durable_executors.jobs-*.capacity: must be an "
                                  "integer > 0");

    //  A short buffer is cut, never overrun; NULL is allowed.
    char tiny[10];
    memset (tiny, 'x', sizeof tiny);
    assert_int_equal (zdex_config_load_string (fx->config, text, "cfg.json", tiny, sizeof tiny),
                      -1);
    assert_string_equal (tiny, "cfg.json:");
    assert_int_equal (zdex_config_load_string (fx->config, text, "cfg.json", NULL, 0), -1);
    assert_int_equal (zdex_config_load_string (fx->config, text, NULL, fx->err, sizeof fx->err),
                      -1);
    assert_string_equal (fx->err, "<string>: durable_executors.jobs-*.capacity: must be an "
                                  "integer > 0");
}

static void
test_duplicate_key (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    s_expect_error (fx,
                    "{\n"
                    "  \"member\": {\n"
                    "    \"id\": \"a\",\n"
                    "    \"id\": \"b\"\n"
                    "  }\n"
                    "}\n",
                    "member.id: duplicate key (line 4, column 8)");
    s_expect_error (fx,
                    "{\"durable_executors\": {\n"
                    "   \"jobs-*\": {\"capacity\": 1},\n"
                    "   \"x\": {\"pool_size\": 1},\n"
                    "   \"jobs-*\": {\"capacity\": 2}}}",
                    "durable_executors.jobs-*: duplicate key (line 4");
    s_expect_error (fx,
                    "{\"cluster\": {\"seeds\": [\"tcp://a:1\", \"tcp://b:1\"],\n"
                    " \"partition_count\": 3, \"partition_count\": 4}}",
                    "cluster.partition_count: duplicate key (line 2");
    s_expect_error (fx, "{\"limits\": {}, \"limits\": {}}", "limits: duplicate key (line 1");
    //  From a string too, with keys holding escapes.
    assert_int_equal (
        zdex_config_load_string (
            fx->config, "{\"durable_executors\": {\"a\\\"b\": {\"capacity\": 1, \"capacity\": 2}}}",
            "str.json", fx->err, sizeof fx->err),
        -1);
    assert_string_equal (fx->err,
                         "str.json: durable_executors.a\"b.capacity: duplicate key (line 1, "
                         "column 57)");
    s_assert_default_member (zdex_config_member (fx->config));
}

static void
test_invalid_json_line (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    s_expect_error (fx,
                    "{\n"
                    "  \"member\": {\n"
                    "    \"log_level\": \"info\"\n"
                    "    \"partition_threads\": 2\n"
                    "  }\n"
                    "}\n",
                    "line 4, column ");
    assert_non_null (strstr (fx->err, "'}' expected"));
}

static void
test_missing_file (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    char path[256];
    snprintf (path, sizeof path, "%s/absent.json", fx->dir);
    assert_int_equal (zdex_config_load (fx->config, path, fx->err, sizeof fx->err), -1);
    assert_int_equal (strncmp (fx->err, path, strlen (path)), 0);
    assert_non_null (strstr (fx->err, "No such file"));
}

static void
test_entry_bounds (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    //  1024 entries fit; the 1025th is refused with the section named.
    size_t size = 64 + 1025 * 32;
    char *text = (char *) malloc (size);
    assert_non_null (text);
    strcpy (text, "{\"durable_executors\": {");
    for (int index = 0; index < 1024; index++)
        snprintf (text + strlen (text), size - strlen (text), "%s\"e%d\": {\"capacity\": %d}",
                  index ? ", " : "", index, index + 1);
    strcat (text, "}}");
    assert_int_equal (s_load_text (fx, text), 0);
    zdex_durable_config_t out;
    zdex_config_durable (fx->config, "e1023", &out);
    assert_int_equal (out.capacity, 1024);

    //  Redefining existing entries does not count against the bound.
    assert_int_equal (s_load_text (fx, "{\"durable_executors\": {\"e5\": {\"pool_size\": 2}}}"), 0);
    zdex_config_durable (fx->config, "e5", &out);
    assert_int_equal (out.capacity, 6);
    assert_int_equal (out.pool_size, 2);

    s_expect_error (fx, "{\"durable_executors\": {\"one-more\": {}}}",
                    "durable_executors: at most 1024 entries are allowed");
    zdex_config_durable (fx->config, "one-more", &out);
    assert_int_equal (out.capacity, 100);

    //  Seeds are bounded too.
    strcpy (text, "{\"cluster\": {\"seeds\": [");
    for (int index = 0; index < 257; index++)
        snprintf (text + strlen (text), size - strlen (text), "%s\"tcp://h:%d\"", index ? ", " : "",
                  index + 1);
    strcat (text, "]}}");
    s_expect_error (fx, text, "cluster.seeds: at most 256 seeds are allowed");
    free (text);

    //  Names longer than 255 bytes cannot be configured.
    char name[300];
    memset (name, 'n', 256);
    name[256] = 0;
    char body[400];
    snprintf (body, sizeof body, "{\"durable_executors\": {\"%s\": {}}}", name);
    s_expect_error (fx, body, "durable_executors.nnnn");
    assert_non_null (strstr (fx->err, "names must be at most 255 bytes"));
}

static void
test_failure_leaves_config_unchanged (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    const char *good = "{\"member\": {\"id\": \"keep\", \"log_level\": \"warning\"},\n"
                       " \"cluster\": {\"seeds\": [\"tcp://s1:1\"], \"partition_count\": 7},\n"
                       " \"durable_executors\": {\"jobs-*\": {\"capacity\": 10}},\n"
                       " \"split_brain_protection\": {\"r\": {\"min_cluster_size\": 3}}}";
    assert_int_equal (s_load_text (fx, good), 0);
    const zdex_member_config_t *member = zdex_config_member (fx->config);
    zdex_member_config_t before = *member;

    //  Everything before the error is valid and would change the config; the
    //  error is the last field, or only found by the whole-file checks.
    const char *bad[] = {
        "{\"member\": {\"id\": \"changed\", \"log_level\": \"debug\"},\n"
        " \"cluster\": {\"seeds\": [\"tcp://s2:1\", \"tcp://s3:1\"], \"partition_count\": 9},\n"
        " \"durable_executors\": {\"jobs-*\": {\"capacity\": 20}, \"new\": {}},\n"
        " \"split_brain_protection\": {\"r\": {\"min_cluster_size\": 4}, \"q\": {}},\n"
        " \"limits\": {\"max_parked\": \"many\"}}",
        "{\"member\": {\"id\": \"changed\"},\n"
        " \"durable_executors\": {\"jobs-*\": {\"capacity\": 20,\n"
        "   \"split_brain_protection\": \"missing\"}}}",
        "{\"member\": {\"id\": \"changed\"}, \"workers\": {\"timeout_ms\": 10}}",
        "{\"member\": {\"id\": \"changed\"}, \"member\": {\"id\": \"again\"}}",
        "{\"member\": {\"id\": \"changed\"}",
    };
    for (size_t index = 0; index < sizeof bad / sizeof bad[0]; index++) {
        assert_int_equal (s_load_text (fx, bad[index]), -1);
        assert_ptr_equal (zdex_config_member (fx->config), member);
        assert_memory_equal (member, &before, sizeof before);
        zlist_t *seeds = zdex_config_seeds (fx->config);
        assert_int_equal (zlist_size (seeds), 1);
        assert_string_equal ((char *) zlist_first (seeds), "tcp://s1:1");
        zdex_durable_config_t out;
        zdex_config_durable (fx->config, "jobs-1", &out);
        assert_int_equal (out.capacity, 10);
        assert_string_equal (out.split_brain_protection, "");
        zdex_protection_config_t rule;
        assert_int_equal (zdex_config_protection (fx->config, "r", &rule), 0);
        assert_int_equal (rule.min_cluster_size, 3);
        assert_int_equal (zdex_config_protection (fx->config, "q", &rule), -1);
    }
    assert_string_equal (member->member_id, "keep");
}

static void
test_two_loads_overlay (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    assert_int_equal (s_load_text (fx, "{\"member\": {\"id\": \"a\", \"partition_threads\": 4},"
                                       " \"cluster\": {\"seeds\": [\"tcp://s1:1\"]},"
                                       " \"durable_executors\": {\"j\": {\"capacity\": 5,"
                                       " \"durability\": 2}}}"),
                      0);
    assert_int_equal (s_load_text (fx, "{\"member\": {\"log_level\": \"error\"},"
                                       " \"cluster\": {\"seeds\": [\"tcp://s2:1\"]},"
                                       " \"durable_executors\": {\"j\": {\"capacity\": 6}}}"),
                      0);
    const zdex_member_config_t *member = zdex_config_member (fx->config);
    assert_string_equal (member->member_id, "a");
    assert_int_equal (member->partition_threads, 4);
    assert_int_equal (member->log_level, ZDEX_LOG_ERROR);
    //  A file's seed list replaces the previous one.
    zlist_t *seeds = zdex_config_seeds (fx->config);
    assert_int_equal (zlist_size (seeds), 1);
    assert_string_equal ((char *) zlist_first (seeds), "tcp://s2:1");
    //  An entry is overlaid field by field.
    zdex_durable_config_t out;
    zdex_config_durable (fx->config, "j", &out);
    assert_int_equal (out.capacity, 6);
    assert_int_equal (out.durability, 2);
    //  Cross-field checks see the merged result: a timeout below the heartbeat
    //  set by the earlier file is refused.
    assert_int_equal (s_load_text (fx, "{\"workers\": {\"heartbeat_ms\": 2000}}"), 0);
    s_expect_error (fx, "{\"workers\": {\"timeout_ms\": 2000}}",
                    "workers.timeout_ms: must be greater than workers.heartbeat_ms (2000)");
}

static void
test_set (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    zdex_config_t *config = fx->config;
    char *err = fx->err;
    size_t errlen = sizeof fx->err;
    assert_int_equal (zdex_config_set (config, "client-endpoint", "tcp://*:7000", err, errlen), 0);
    assert_int_equal (zdex_config_set (config, "worker-endpoint", "ipc:///tmp/w", err, errlen), 0);
    assert_int_equal (zdex_config_set (config, "cluster-endpoint", "inproc://c", err, errlen), 0);
    assert_int_equal (zdex_config_set (config, "member-id", "M_1.x-y", err, errlen), 0);
    assert_int_equal (zdex_config_set (config, "log-level", "warning", err, errlen), 0);
    assert_int_equal (zdex_config_set (config, "partition-count", "65536", err, errlen), 0);
    assert_int_equal (zdex_config_set (config, "partition-threads", "1", err, errlen), 0);
    const zdex_member_config_t *member = zdex_config_member (config);
    assert_string_equal (member->client_endpoint, "tcp://*:7000");
    assert_string_equal (member->worker_endpoint, "ipc:///tmp/w");
    assert_string_equal (member->cluster_endpoint, "inproc://c");
    assert_string_equal (member->member_id, "M_1.x-y");
    assert_int_equal (member->log_level, ZDEX_LOG_WARNING);
    assert_int_equal (member->partition_count, 65536);
    assert_int_equal (member->partition_threads, 1);

    //  Flags given after a file override it.
    assert_int_equal (s_load_text (fx, "{\"cluster\": {\"partition_count\": 13}}"), 0);
    assert_int_equal (member->partition_count, 13);
    assert_int_equal (zdex_config_set (config, "partition-count", "17", err, errlen), 0);
    assert_int_equal (member->partition_count, 17);
}

static void
test_set_errors (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    zdex_config_t *config = fx->config;
    const zdex_member_config_t *member = zdex_config_member (config);
    zdex_member_config_t before = *member;
    const struct {
        const char *flag;
        const char *value;
        const char *expected;
    } cases[] = {
        {"partition-count", "0", "--partition-count: '0' must be an integer in 1..65536"},
        {"partition-count", "65537", "--partition-count: '65537' must be an integer"},
        {"partition-count", "12x", "--partition-count: '12x' must be an integer"},
        {"partition-count", " 12", "--partition-count: ' 12' must be an integer"},
        {"partition-count", "+12", "--partition-count: '+12' must be an integer"},
        {"partition-count", "", "--partition-count: '' must be an integer"},
        {"partition-count", "99999999999999999999999", "--partition-count: '9999"},
        {"partition-threads", "65", "--partition-threads: '65' must be an integer in 0..64"},
        {"partition-threads", "-1", "--partition-threads: '-1' must be an integer"},
        {"client-endpoint", "localhost:5570",
         "--client-endpoint: 'localhost:5570' must be an "
         "endpoint starting with tcp://"},
        {"worker-endpoint", "", "--worker-endpoint: '' must be an endpoint"},
        {"cluster-endpoint", "inproc://", "--cluster-endpoint: 'inproc://' must be an endpoint"},
        {"seed", "tcp:/x", "--seed: 'tcp:/x' must be an endpoint"},
        {"member-id", "a/b", "--member-id: 'a/b' must be 1..64 characters"},
        {"log-level", "verbose",
         "--log-level: 'verbose' must be one of error, warning, info, "
         "debug"},
        {"colour", "red", "unknown flag --colour"},
        {"client_endpoint", "tcp://a:1", "unknown flag --client_endpoint"},
        {"log-level", NULL, "--log-level: needs a value"},
    };
    for (size_t index = 0; index < sizeof cases / sizeof cases[0]; index++) {
        fx->err[0] = 0;
        assert_int_equal (zdex_config_set (config, cases[index].flag, cases[index].value, fx->err,
                                           sizeof fx->err),
                          -1);
        if (strncmp (fx->err, cases[index].expected, strlen (cases[index].expected)) != 0)
            fail_msg ("error '%s'\n  does not start with '%s'", fx->err, cases[index].expected);
        assert_memory_equal (member, &before, sizeof before);
        assert_int_equal (zlist_size (zdex_config_seeds (config)), 0);
    }
    assert_int_equal (zdex_config_set (config, "colour", "red", NULL, 0), -1);
}

static void
test_seeds_appended (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    zdex_config_t *config = fx->config;
    assert_int_equal (s_load_text (fx, "{\"cluster\": {\"seeds\": [\"tcp://10.0.0.1:5572\"]}}"), 0);
    assert_int_equal (
        zdex_config_set (config, "seed", "tcp://10.0.0.2:5572", fx->err, sizeof fx->err), 0);
    assert_int_equal (zdex_config_set (config, "seed", "ipc:///tmp/s3", fx->err, sizeof fx->err),
                      0);
    zlist_t *seeds = zdex_config_seeds (config);
    assert_int_equal (zlist_size (seeds), 3);
    assert_string_equal ((char *) zlist_first (seeds), "tcp://10.0.0.1:5572");
    assert_string_equal ((char *) zlist_next (seeds), "tcp://10.0.0.2:5572");
    assert_string_equal ((char *) zlist_next (seeds), "ipc:///tmp/s3");

    //  The list is bounded: 256 seeds in all.
    for (int index = 3; index < 256; index++) {
        char seed[64];
        snprintf (seed, sizeof seed, "tcp://h:%d", index);
        assert_int_equal (zdex_config_set (config, "seed", seed, fx->err, sizeof fx->err), 0);
    }
    assert_int_equal (zdex_config_set (config, "seed", "tcp://h:1", fx->err, sizeof fx->err), -1);
    assert_string_equal (fx->err, "--seed: at most 256 seeds are allowed");
    assert_int_equal (zlist_size (zdex_config_seeds (config)), 256);
}

static void
test_example_files (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    char path[1024];

    //  zdexd.json spells out every default: loading it changes nothing.
    s_source_path (path, sizeof path, "config/zdexd.json");
    char id[ZDEX_CONFIG_NAME_MAX];
    strcpy (id, zdex_config_member (fx->config)->member_id);
    if (zdex_config_load (fx->config, path, fx->err, sizeof fx->err))
        fail_msg ("%s", fx->err);
    s_assert_default_member (zdex_config_member (fx->config));
    assert_string_equal (zdex_config_member (fx->config)->member_id, id);
    assert_int_equal (zlist_size (zdex_config_seeds (fx->config)), 0);
    s_assert_default_executors (fx->config, "default");
    s_assert_default_executors (fx->config, "jobs-1");

    zdex_config_t *config = zdex_config_new ();
    assert_non_null (config);
    s_source_path (path, sizeof path, "config/example-jobs.json");
    if (zdex_config_load (config, path, fx->err, sizeof fx->err))
        fail_msg ("%s", fx->err);
    const zdex_member_config_t *member = zdex_config_member (config);
    assert_string_equal (member->member_id, "jobs-1");
    assert_int_equal (zlist_size (zdex_config_seeds (config)), 3);

    zdex_durable_config_t durable;
    zdex_config_durable (config, "jobs-nightly", &durable);
    assert_int_equal (durable.capacity, 1000);
    assert_int_equal (durable.pool_size, 32);
    assert_int_equal (durable.durability, 1);
    zdex_config_durable (config, "jobs-critical-payroll", &durable);
    assert_int_equal (durable.durability, 2);
    assert_int_equal (durable.capacity, 200); //  from "default", not from "jobs-*"
    assert_string_equal (durable.split_brain_protection, "majority");
    zdex_config_durable (config, "reports", &durable);
    assert_int_equal (durable.durability, 2);
    assert_int_equal (durable.pool_size, 4);
    assert_int_equal (durable.capacity, 200);
    assert_false (durable.statistics_enabled);
    zdex_config_durable (config, "anything-else", &durable);
    assert_int_equal (durable.capacity, 200);
    assert_int_equal (durable.pool_size, 16);

    zdex_scheduled_config_t scheduled;
    zdex_config_scheduled (config, "nightly-export", &scheduled);
    assert_int_equal (scheduled.capacity, 0);
    assert_int_equal (scheduled.capacity_policy, ZDEX_CAPACITY_PER_PARTITION);
    assert_int_equal (scheduled.merge_policy, ZDEX_MERGE_PASS_THROUGH);
    zdex_config_scheduled (config, "cleanup", &scheduled);
    assert_int_equal (scheduled.pool_size, 2);
    assert_int_equal (scheduled.merge_policy, ZDEX_MERGE_DISCARD);
    assert_string_equal (scheduled.split_brain_protection, "majority");

    zdex_protection_config_t rule;
    assert_int_equal (zdex_config_protection (config, "majority", &rule), 0);
    assert_int_equal (rule.min_cluster_size, 2);
    assert_int_equal (rule.protect_on, ZDEX_PROTECT_WRITE);
    zdex_config_destroy (&config);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown (test_defaults, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_log_level_parse, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_full_file, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_empty_object_keeps_defaults, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_resolution, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_wildcard_tie_first_defined, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_default_entry_override, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_protection_rules, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_errors, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_error_message_exact, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_duplicate_key, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_invalid_json_line, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_missing_file, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_entry_bounds, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_failure_leaves_config_unchanged, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_two_loads_overlay, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_set, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_set_errors, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_seeds_appended, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_example_files, s_setup, s_teardown),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
