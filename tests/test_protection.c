//  Unit tests of zdex_protection: op classes by wire name, rules met or not by the
//  member count of the view, the view's own member, and Hazelcast's failure text.

#include "zdex_protection.h"
#include "zdex_proto.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

typedef struct {
    zdex_config_t *config;
    zdex_protection_t *protection;
} fixture_t;

static const char *s_config_text =
    "{\"split_brain_protection\": {"
    "  \"three-writes\": {\"min_cluster_size\": 3, \"protect_on\": \"write\"},"
    "  \"three-reads\": {\"min_cluster_size\": 3, \"protect_on\": \"read\"},"
    "  \"two-both\": {\"min_cluster_size\": 2}}}";

//  A view as zdex_cluster hands it to the broker, listing members m1..m<count>.
static void
s_view (zdex_protection_t *protection, int count)
{
    char text[1024] = "{\"view_version\": 7, \"master\": \"m1\", \"members\": [";
    for (int index = 1; index <= count; index++) {
        size_t used = strlen (text);
        snprintf (text + used, sizeof text - used, "%s{\"id\": \"m%d\", \"age\": %d}",
                  index > 1 ? ", " : "", index, index);
    }
    strcat (text, "]}");
    zdex_protection_set_view (protection, text);
}

static int
s_setup (void **state)
{
    fixture_t *fixture = (fixture_t *) zmalloc (sizeof (fixture_t));
    fixture->config = zdex_config_new ();
    char err[256];
    if (zdex_config_load_string (fixture->config, s_config_text, "test", err, sizeof err) != 0) {
        fprintf (stderr, "%s\n", err);
        return -1;
    }
    fixture->protection = zdex_protection_new (fixture->config, "m1");
    *state = fixture;
    return 0;
}

static int
s_teardown (void **state)
{
    fixture_t *fixture = (fixture_t *) *state;
    zdex_protection_destroy (&fixture->protection);
    assert_null (fixture->protection);
    zdex_config_destroy (&fixture->config);
    free (fixture);
    return 0;
}

static void
test_classes_by_wire_name (void **state)
{
    (void) state;
    const char *reads[] = {"durable.retrieve", "scheduled.get", "scheduled.get_all",
                           "scheduled.status"};
    const char *writes[] = {"durable.submit",
                            "durable.execute",
                            "durable.submit_and_retrieve",
                            "durable.dispose",
                            "durable.retrieve_and_dispose",
                            "durable.shutdown",
                            "durable.shutdown_now",
                            "scheduled.schedule",
                            "scheduled.cancel",
                            "scheduled.dispose",
                            "scheduled.shutdown"};
    const char *unchecked[] = {
        "cluster.ping",    "cluster.members", "cluster.workers", "durable.status", "durable.stats",
        "scheduled.stats", "scheduled.*",     "durable.submitx", "durable.",       "",
        "Durable.submit"};
    for (size_t index = 0; index < sizeof reads / sizeof reads[0]; index++)
        assert_int_equal (zdex_protection_class (reads[index]), ZDEX_PROTECTION_READ);
    for (size_t index = 0; index < sizeof writes / sizeof writes[0]; index++)
        assert_int_equal (zdex_protection_class (writes[index]), ZDEX_PROTECTION_WRITE);
    for (size_t index = 0; index < sizeof unchecked / sizeof unchecked[0]; index++)
        assert_int_equal (zdex_protection_class (unchecked[index]), ZDEX_PROTECTION_UNCHECKED);
    assert_int_equal (zdex_protection_class (NULL), ZDEX_PROTECTION_UNCHECKED);
}

//  The codec's names for the durable ops are the names classed above.
static void
test_codec_names_are_classed (void **state)
{
    (void) state;
    assert_int_equal (zdex_protection_class (zdex_op_str (ZDEX_OP_DURABLE_SUBMIT)),
                      ZDEX_PROTECTION_WRITE);
    assert_int_equal (zdex_protection_class (zdex_op_str (ZDEX_OP_DURABLE_EXECUTE)),
                      ZDEX_PROTECTION_WRITE);
    assert_int_equal (zdex_protection_class (zdex_op_str (ZDEX_OP_DURABLE_RETRIEVE)),
                      ZDEX_PROTECTION_READ);
    assert_int_equal (zdex_protection_class (zdex_op_str (ZDEX_OP_DURABLE_RETRIEVE_AND_DISPOSE)),
                      ZDEX_PROTECTION_WRITE);
    assert_int_equal (zdex_protection_class (zdex_op_str (ZDEX_OP_DURABLE_DISPOSE)),
                      ZDEX_PROTECTION_WRITE);
    assert_int_equal (zdex_protection_class (zdex_op_str (ZDEX_OP_DURABLE_SHUTDOWN)),
                      ZDEX_PROTECTION_WRITE);
    assert_int_equal (zdex_protection_class (zdex_op_str (ZDEX_OP_DURABLE_SHUTDOWN_NOW)),
                      ZDEX_PROTECTION_WRITE);
    assert_int_equal (zdex_protection_class (zdex_op_str (ZDEX_OP_DURABLE_STATUS)),
                      ZDEX_PROTECTION_UNCHECKED);
    assert_int_equal (zdex_protection_class (zdex_op_str (ZDEX_OP_DURABLE_STATS)),
                      ZDEX_PROTECTION_UNCHECKED);
    assert_int_equal (zdex_protection_class (zdex_op_str (ZDEX_OP_CLUSTER_PING)),
                      ZDEX_PROTECTION_UNCHECKED);
}

//  Before any view, and with fewer members than the rule asks for (start-up), a
//  protected op fails with Hazelcast's text.
static void
test_not_met_until_size_reached (void **state)
{
    fixture_t *fixture = (fixture_t *) *state;
    char message[ZDEX_PROTECTION_MESSAGE_MAX];
    assert_int_equal (zdex_protection_member_count (fixture->protection), 0);
    assert_int_equal (zdex_protection_check (fixture->protection, "durable.submit", "two-both",
                                             message, sizeof message),
                      -1);
    assert_string_equal (message, "Split brain protection exception: two-both has failed!");

    s_view (fixture->protection, 2);
    assert_int_equal (zdex_protection_member_count (fixture->protection), 2);
    memset (message, 0, sizeof message);
    assert_int_equal (zdex_protection_check (fixture->protection, "durable.submit", "three-writes",
                                             message, sizeof message),
                      -1);
    assert_string_equal (message, "Split brain protection exception: three-writes has failed!");
    assert_int_equal (zdex_protection_check (fixture->protection, "durable.submit", "two-both",
                                             message, sizeof message),
                      0);

    s_view (fixture->protection, 3);
    assert_int_equal (zdex_protection_check (fixture->protection, "durable.submit", "three-writes",
                                             message, sizeof message),
                      0);
    s_view (fixture->protection, 4);
    assert_int_equal (zdex_protection_check (fixture->protection, "scheduled.schedule",
                                             "three-writes", message, sizeof message),
                      0);
}

//  After the size was reached, the rule follows the view down and up again.
static void
test_follows_the_view (void **state)
{
    fixture_t *fixture = (fixture_t *) *state;
    char message[ZDEX_PROTECTION_MESSAGE_MAX];
    s_view (fixture->protection, 3);
    assert_int_equal (zdex_protection_check (fixture->protection, "durable.execute", "three-writes",
                                             message, sizeof message),
                      0);
    s_view (fixture->protection, 2);
    assert_int_equal (zdex_protection_check (fixture->protection, "durable.execute", "three-writes",
                                             message, sizeof message),
                      -1);
    s_view (fixture->protection, 3);
    assert_int_equal (zdex_protection_check (fixture->protection, "durable.execute", "three-writes",
                                             message, sizeof message),
                      0);
}

//  A write rule lets reads through and a read rule lets writes through; read_write
//  checks both; unchecked ops and ops without a rule always pass.
static void
test_protect_on (void **state)
{
    fixture_t *fixture = (fixture_t *) *state;
    char message[ZDEX_PROTECTION_MESSAGE_MAX];
    zdex_protection_t *protection = fixture->protection;
    s_view (protection, 2);

    assert_int_equal (zdex_protection_check (protection, "durable.retrieve", "three-writes",
                                             message, sizeof message),
                      0);
    assert_int_equal (zdex_protection_check (protection, "durable.dispose", "three-writes", message,
                                             sizeof message),
                      -1);
    assert_int_equal (zdex_protection_check (protection, "durable.retrieve", "three-reads", message,
                                             sizeof message),
                      -1);
    assert_string_equal (message, "Split brain protection exception: three-reads has failed!");
    assert_int_equal (zdex_protection_check (protection, "scheduled.get_all", "three-reads",
                                             message, sizeof message),
                      -1);
    assert_int_equal (zdex_protection_check (protection, "durable.submit", "three-reads", message,
                                             sizeof message),
                      0);

    s_view (protection, 1);
    assert_int_equal (zdex_protection_member_count (protection), 1);
    assert_int_equal (
        zdex_protection_check (protection, "durable.retrieve", "two-both", message, sizeof message),
        -1);
    assert_int_equal (
        zdex_protection_check (protection, "durable.shutdown", "two-both", message, sizeof message),
        -1);
    assert_int_equal (
        zdex_protection_check (protection, "durable.status", "two-both", message, sizeof message),
        0);
    assert_int_equal (
        zdex_protection_check (protection, "scheduled.stats", "two-both", message, sizeof message),
        0);
    assert_int_equal (
        zdex_protection_check (protection, "cluster.members", "two-both", message, sizeof message),
        0);
    assert_int_equal (
        zdex_protection_check (protection, "durable.submit", "", message, sizeof message), 0);
    assert_int_equal (
        zdex_protection_check (protection, "durable.submit", NULL, message, sizeof message), 0);
}

//  A view that leaves this member out (it was removed, and rejoins) counts as no
//  members, however many it lists; so does a view that cannot be read.
static void
test_view_without_us_counts_none (void **state)
{
    fixture_t *fixture = (fixture_t *) *state;
    char message[ZDEX_PROTECTION_MESSAGE_MAX];
    zdex_protection_t *protection = fixture->protection;
    zdex_protection_set_view (
        protection, "{\"members\": [{\"id\": \"m2\"}, {\"id\": \"m3\"}, {\"id\": \"m4\"}]}");
    assert_int_equal (zdex_protection_member_count (protection), 0);
    assert_int_equal (
        zdex_protection_check (protection, "durable.submit", "two-both", message, sizeof message),
        -1);

    s_view (protection, 3);
    assert_int_equal (zdex_protection_member_count (protection), 3);
    const char *unreadable[] = {"{}", "not json", "{\"members\": {}}", "[]",
                                "{\"members\": [{\"id\": \"m1\"}], \"members\": []}"};
    for (size_t index = 0; index < sizeof unreadable / sizeof unreadable[0]; index++) {
        s_view (protection, 3);
        zdex_protection_set_view (protection, unreadable[index]);
        assert_int_equal (zdex_protection_member_count (protection), 0);
    }
    s_view (protection, 3);
    zdex_protection_set_view (protection, NULL);
    assert_int_equal (zdex_protection_member_count (protection), 0);
}

//  A rule the configuration does not define fails closed; the message is cut to
//  the buffer given.
static void
test_unknown_rule_and_short_buffer (void **state)
{
    fixture_t *fixture = (fixture_t *) *state;
    zdex_protection_t *protection = fixture->protection;
    s_view (protection, 4);
    char message[ZDEX_PROTECTION_MESSAGE_MAX];
    assert_int_equal (
        zdex_protection_check (protection, "durable.submit", "nosuchrule", message, sizeof message),
        -1);
    assert_string_equal (message, "Split brain protection exception: nosuchrule has failed!");
    //  An unchecked op does not care.
    assert_int_equal (
        zdex_protection_check (protection, "durable.stats", "nosuchrule", message, sizeof message),
        0);

    s_view (protection, 1);
    char tiny[12];
    assert_int_equal (
        zdex_protection_check (protection, "durable.submit", "two-both", tiny, sizeof tiny), -1);
    assert_string_equal (tiny, "Split brain");
    assert_int_equal (zdex_protection_check (protection, "durable.submit", "two-both", NULL, 0),
                      -1);
}

//  The longest rule name fits ZDEX_PROTECTION_MESSAGE_MAX.
static void
test_longest_rule_name (void **state)
{
    (void) state;
    char name[ZDEX_CONFIG_NAME_MAX];
    memset (name, 'r', sizeof name - 1);
    name[sizeof name - 1] = '\0';
    char text[1024];
    snprintf (text, sizeof text,
              "{\"split_brain_protection\": {\"%s\": {\"min_cluster_size\": 2}}}", name);
    zdex_config_t *config = zdex_config_new ();
    char err[256];
    assert_int_equal (zdex_config_load_string (config, text, "test", err, sizeof err), 0);
    zdex_protection_t *protection = zdex_protection_new (config, "m1");
    char message[ZDEX_PROTECTION_MESSAGE_MAX];
    assert_int_equal (
        zdex_protection_check (protection, "durable.submit", name, message, sizeof message), -1);
    char expected[ZDEX_PROTECTION_MESSAGE_MAX];
    snprintf (expected, sizeof expected, "Split brain protection exception: %s has failed!", name);
    assert_string_equal (message, expected);
    assert_true (strlen (expected) + 1 < sizeof expected);
    zdex_protection_destroy (&protection);
    zdex_config_destroy (&config);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_classes_by_wire_name),
        cmocka_unit_test (test_codec_names_are_classed),
        cmocka_unit_test_setup_teardown (test_not_met_until_size_reached, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_follows_the_view, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_protect_on, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_view_without_us_counts_none, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_unknown_rule_and_short_buffer, s_setup, s_teardown),
        cmocka_unit_test (test_longest_rule_name),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
