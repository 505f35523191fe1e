//  test_partition_table: assignment, failover and publication of the partition
//  table.  Balance and replica placement for 1..7 members, promotion of backup 1
//  when an owner dies (and nothing else touched), minimal movement on join, no
//  loss with two backups through two kills, the lost flag when every replica is
//  gone, the JSON round trip and its strictness, and determinism.

#include "zdex_partition_table.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define T_PARTITIONS 271

static const char *t_names[] = {"m0", "m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8", "m9"};

//  Invariants every table must hold for the given members: every partition owned
//  by a member, no member twice on a partition, backups = min(max, n - 1),
//  primaries within one of each other.
static void
s_assert_valid (zdex_partition_table_t *table, const char **members, size_t count)
{
    uint32_t partitions = zdex_partition_table_partition_count (table);
    size_t max_backups = zdex_partition_table_max_backups (table);
    size_t want = max_backups < count - 1 ? max_backups : count - 1;
    for (uint32_t p = 0; p < partitions; p++) {
        const char *replicas[16];
        size_t replica_count = 0;
        replicas[replica_count++] = zdex_partition_table_owner (table, p);
        assert_int_equal (zdex_partition_table_backup_count (table, p), want);
        for (size_t index = 0; index < want; index++)
            replicas[replica_count++] = zdex_partition_table_backup (table, p, index);
        assert_null (zdex_partition_table_backup (table, p, want));
        for (size_t index = 0; index < replica_count; index++) {
            assert_non_null (replicas[index]);
            bool member = false;
            for (size_t other = 0; other < count; other++)
                member = member || strcmp (replicas[index], members[other]) == 0;
            assert_true (member);
            for (size_t other = 0; other < index; other++)
                assert_string_not_equal (replicas[index], replicas[other]);
        }
        assert_true (zdex_partition_table_epoch (table, p) >= 1);
        assert_true (zdex_partition_table_epoch (table, p) <= zdex_partition_table_version (table));
    }
    size_t low = SIZE_MAX, high = 0, total = 0;
    for (size_t index = 0; index < count; index++) {
        size_t owned = zdex_partition_table_partitions_owned (table, members[index]);
        low = owned < low ? owned : low;
        high = owned > high ? owned : high;
        total += owned;
    }
    assert_int_equal (total, partitions);
    assert_true (high - low <= 1);
}

//  A copy of owners and epochs to compare against after an update.
typedef struct {
    char owner[T_PARTITIONS][8];
    char backup1[T_PARTITIONS][8];
    uint64_t epoch[T_PARTITIONS];
} t_snapshot_t;

static void
s_snapshot (zdex_partition_table_t *table, t_snapshot_t *snapshot)
{
    for (uint32_t p = 0; p < T_PARTITIONS; p++) {
        snprintf (snapshot->owner[p], 8, "%s", zdex_partition_table_owner (table, p));
        const char *backup = zdex_partition_table_backup (table, p, 0);
        snprintf (snapshot->backup1[p], 8, "%s", backup ? backup : "");
        snapshot->epoch[p] = zdex_partition_table_epoch (table, p);
    }
}

static void
test_balance_and_placement (void **state)
{
    (void) state;
    for (size_t max_backups = 0; max_backups <= 3; max_backups++)
        for (size_t count = 1; count <= 7; count++) {
            zdex_partition_table_t *table = zdex_partition_table_new (T_PARTITIONS, max_backups);
            assert_non_null (table);
            assert_null (zdex_partition_table_owner (table, 0));
            assert_null (zdex_partition_table_to_json (table));
            assert_int_equal (zdex_partition_table_update (table, t_names, count), T_PARTITIONS);
            assert_int_equal (zdex_partition_table_version (table), 1);
            s_assert_valid (table, t_names, count);
            size_t want = max_backups < count - 1 ? max_backups : count - 1;
            assert_int_equal (zdex_partition_table_underreplicated (table),
                              want < max_backups ? T_PARTITIONS : 0);
            //  The same list again changes nothing.
            assert_int_equal (zdex_partition_table_update (table, t_names, count), 0);
            assert_int_equal (zdex_partition_table_version (table), 1);
            zdex_partition_table_destroy (&table);
            assert_null (table);
        }
    zdex_partition_table_t *none = NULL;
    zdex_partition_table_destroy (&none);
}

static void
test_grow_and_shrink_one_by_one (void **state)
{
    (void) state;
    //  Members join one at a time, then leave oldest first: every table valid.
    zdex_partition_table_t *table = zdex_partition_table_new (T_PARTITIONS, 2);
    for (size_t count = 1; count <= 7; count++) {
        uint64_t before = zdex_partition_table_version (table);
        int moved = zdex_partition_table_update (table, t_names, count);
        assert_true (moved > 0);
        assert_int_equal (zdex_partition_table_version (table), before + 1);
        s_assert_valid (table, t_names, count);
    }
    for (size_t first = 1; first < 7; first++) {
        assert_true (zdex_partition_table_update (table, t_names + first, 7 - first) > 0);
        s_assert_valid (table, t_names + first, 7 - first);
        for (uint32_t p = 0; p < T_PARTITIONS; p++)
            assert_false (zdex_partition_table_lost (table, p));
    }
    zdex_partition_table_destroy (&table);
}

static void
test_kill_promotes_backup_one (void **state)
{
    (void) state;
    for (size_t max_backups = 1; max_backups <= 3; max_backups++)
        for (size_t count = 3; count <= 7; count++) {
            zdex_partition_table_t *table = zdex_partition_table_new (T_PARTITIONS, max_backups);
            zdex_partition_table_update (table, t_names, count);
            t_snapshot_t *before = (t_snapshot_t *) malloc (sizeof (t_snapshot_t));
            s_snapshot (table, before);
            uint64_t version = zdex_partition_table_version (table);

            //  Kill the member in the middle.
            const char *survivors[8];
            size_t survivor_count = 0;
            size_t victim = count / 2;
            for (size_t index = 0; index < count; index++)
                if (index != victim)
                    survivors[survivor_count++] = t_names[index];
            int moved = zdex_partition_table_update (table, survivors, survivor_count);
            assert_int_equal (zdex_partition_table_version (table), version + 1);
            s_assert_valid (table, survivors, survivor_count);

            size_t victim_owned = 0, others_moved = 0;
            for (uint32_t p = 0; p < T_PARTITIONS; p++) {
                const char *owner = zdex_partition_table_owner (table, p);
                if (strcmp (before->owner[p], t_names[victim]) == 0) {
                    victim_owned++;
                    assert_string_equal (owner, before->backup1[p]);
                    assert_int_equal (zdex_partition_table_epoch (table, p), version + 1);
                } else if (strcmp (owner, before->owner[p]) != 0) {
                    //  Only to restore the balance, and then to its backup.
                    others_moved++;
                    assert_string_equal (owner, before->backup1[p]);
                    assert_int_equal (zdex_partition_table_epoch (table, p), version + 1);
                } else
                    assert_int_equal (zdex_partition_table_epoch (table, p), before->epoch[p]);
                assert_false (zdex_partition_table_lost (table, p));
            }
            assert_int_equal ((size_t) moved, victim_owned + others_moved);
            //  Backups spread each member's partitions over all the others, so the
            //  promotions are already balanced: nothing else moves.
            assert_int_equal (others_moved, 0);
            free (before);
            zdex_partition_table_destroy (&table);
        }
}

static void
test_join_moves_little (void **state)
{
    (void) state;
    for (size_t max_backups = 0; max_backups <= 2; max_backups++)
        for (size_t count = 1; count < 7; count++) {
            zdex_partition_table_t *table = zdex_partition_table_new (T_PARTITIONS, max_backups);
            zdex_partition_table_update (table, t_names, count);
            t_snapshot_t *before = (t_snapshot_t *) malloc (sizeof (t_snapshot_t));
            s_snapshot (table, before);
            int moved = zdex_partition_table_update (table, t_names, count + 1);
            s_assert_valid (table, t_names, count + 1);
            size_t ceil_share = (T_PARTITIONS + count) / (count + 1);
            assert_true (moved > 0 && (size_t) moved <= ceil_share);
            //  Every move goes to the new member; nobody else's primaries shuffle.
            size_t counted = 0;
            for (uint32_t p = 0; p < T_PARTITIONS; p++)
                if (strcmp (zdex_partition_table_owner (table, p), before->owner[p]) != 0) {
                    counted++;
                    assert_string_equal (zdex_partition_table_owner (table, p), t_names[count]);
                    if (max_backups > 0)
                        assert_string_equal (zdex_partition_table_backup (table, p, 0),
                                             before->owner[p]);
                }
            assert_int_equal (counted, (size_t) moved);
            free (before);
            zdex_partition_table_destroy (&table);
        }
}

static void
test_more_members_than_partitions (void **state)
{
    (void) state;
    for (uint32_t partitions = 1; partitions <= 4; partitions++) {
        zdex_partition_table_t *table = zdex_partition_table_new (partitions, 2);
        for (size_t count = 1; count <= 9; count++) {
            assert_true (zdex_partition_table_update (table, t_names, count) >= 0);
            s_assert_valid (table, t_names, count);
        }
        for (size_t first = 1; first < 9; first++) {
            assert_true (zdex_partition_table_update (table, t_names + first, 9 - first) >= 0);
            s_assert_valid (table, t_names + first, 9 - first);
        }
        zdex_partition_table_destroy (&table);
    }
}

static void
test_two_kills_lose_nothing (void **state)
{
    (void) state;
    zdex_partition_table_t *table = zdex_partition_table_new (T_PARTITIONS, 2);
    const char *four[] = {"a", "b", "c", "d"};
    const char *three[] = {"a", "c", "d"};
    const char *two[] = {"c", "d"};
    zdex_partition_table_update (table, four, 4);
    s_assert_valid (table, four, 4);
    assert_int_equal (zdex_partition_table_underreplicated (table), 0);
    zdex_partition_table_update (table, three, 3);
    s_assert_valid (table, three, 3);
    zdex_partition_table_update (table, two, 2);
    s_assert_valid (table, two, 2);
    for (uint32_t p = 0; p < T_PARTITIONS; p++)
        assert_false (zdex_partition_table_lost (table, p));
    //  Two members cannot hold three replicas: durability is bounded and said so.
    assert_int_equal (zdex_partition_table_underreplicated (table), T_PARTITIONS);
    zdex_partition_table_destroy (&table);
}

static void
test_all_replicas_gone_is_lost (void **state)
{
    (void) state;
    zdex_partition_table_t *table = zdex_partition_table_new (T_PARTITIONS, 1);
    const char *three[] = {"a", "b", "c"};
    const char *one[] = {"c"};
    zdex_partition_table_update (table, three, 3);
    //  a and b die at once: partitions whose owner and backup were a and b are lost.
    size_t expect_lost = 0;
    for (uint32_t p = 0; p < T_PARTITIONS; p++)
        if (strcmp (zdex_partition_table_owner (table, p), "c") != 0 &&
            strcmp (zdex_partition_table_backup (table, p, 0), "c") != 0)
            expect_lost++;
    assert_true (expect_lost > 0);
    uint64_t version = zdex_partition_table_version (table);
    int kept = (int) zdex_partition_table_partitions_owned (table, "c");
    assert_int_equal (zdex_partition_table_update (table, one, 1), T_PARTITIONS - kept);
    s_assert_valid (table, one, 1);
    size_t lost = 0;
    for (uint32_t p = 0; p < T_PARTITIONS; p++)
        if (zdex_partition_table_lost (table, p)) {
            lost++;
            assert_int_equal (zdex_partition_table_epoch (table, p), version + 1);
        }
    assert_int_equal (lost, expect_lost);

    //  The flag is sticky across updates and travels in JSON until cleared.
    const char *two[] = {"c", "d"};
    zdex_partition_table_update (table, two, 2);
    char *text = zdex_partition_table_to_json (table);
    assert_non_null (strstr (text, "\"lost\":["));
    zdex_partition_table_t *copy = zdex_partition_table_new (T_PARTITIONS, 1);
    assert_int_equal (zdex_partition_table_from_json (copy, text), 0);
    size_t copied = 0;
    for (uint32_t p = 0; p < T_PARTITIONS; p++)
        copied += zdex_partition_table_lost (copy, p);
    assert_int_equal (copied, expect_lost);
    free (text);
    for (uint32_t p = 0; p < T_PARTITIONS; p++)
        zdex_partition_table_clear_lost (table, p);
    text = zdex_partition_table_to_json (table);
    assert_null (strstr (text, "lost"));
    free (text);
    zdex_partition_table_destroy (&copy);
    zdex_partition_table_destroy (&table);
}

static void
test_json_round_trip (void **state)
{
    (void) state;
    zdex_partition_table_t *table = zdex_partition_table_new (T_PARTITIONS, 2);
    const char *five[] = {"alpha", "beta", "gamma", "delta", "epsilon"};
    const char *four[] = {"alpha", "gamma", "delta", "epsilon"};
    zdex_partition_table_update (table, five, 5);
    zdex_partition_table_update (table, four, 4);
    char *text = zdex_partition_table_to_json (table);
    assert_non_null (text);
    assert_int_equal (strncmp (text, "{\"version\":2,\"partitions\":[[", 28), 0);

    zdex_partition_table_t *copy = zdex_partition_table_new (T_PARTITIONS, 2);
    assert_int_equal (zdex_partition_table_from_json (copy, text), 0);
    assert_int_equal (zdex_partition_table_version (copy), 2);
    for (uint32_t p = 0; p < T_PARTITIONS; p++) {
        assert_string_equal (zdex_partition_table_owner (copy, p),
                             zdex_partition_table_owner (table, p));
        assert_int_equal (zdex_partition_table_epoch (copy, p),
                          zdex_partition_table_epoch (table, p));
        assert_int_equal (zdex_partition_table_backup_count (copy, p),
                          zdex_partition_table_backup_count (table, p));
        for (size_t index = 0; index < zdex_partition_table_backup_count (copy, p); index++)
            assert_string_equal (zdex_partition_table_backup (copy, p, index),
                                 zdex_partition_table_backup (table, p, index));
    }
    char *again = zdex_partition_table_to_json (copy);
    assert_string_equal (again, text);
    free (again);
    //  The same version again is accepted (a resend).
    assert_int_equal (zdex_partition_table_from_json (copy, text), 0);

    //  An installed table updates like the one it came from.
    const char *three[] = {"alpha", "delta", "epsilon"};
    assert_int_equal (zdex_partition_table_update (table, three, 3),
                      zdex_partition_table_update (copy, three, 3));
    char *left = zdex_partition_table_to_json (table);
    char *right = zdex_partition_table_to_json (copy);
    assert_string_equal (left, right);
    free (left);
    free (right);

    //  A newer master numbers above what it has seen.
    zdex_partition_table_advance (copy, 10);
    const char *two[] = {"delta", "epsilon"};
    zdex_partition_table_update (copy, two, 2);
    assert_int_equal (zdex_partition_table_version (copy), 11);
    free (text);
    zdex_partition_table_destroy (&copy);
    zdex_partition_table_destroy (&table);
}

static void
test_json_rejects (void **state)
{
    (void) state;
    zdex_partition_table_t *table = zdex_partition_table_new (2, 1);
    const char *valid = "{\"version\":3,\"partitions\":[[3,\"a\",\"b\"],[1,\"b\"]]}";
    assert_int_equal (zdex_partition_table_from_json (table, valid), 0);
    assert_string_equal (zdex_partition_table_owner (table, 0), "a");
    assert_string_equal (zdex_partition_table_backup (table, 0, 0), "b");
    assert_int_equal (zdex_partition_table_backup_count (table, 1), 0);

    const char *bad[] = {
        "",
        "null",
        "[]",
        "{\"version\":4}",
        "{\"partitions\":[[1,\"a\"],[1,\"b\"]]}",
        "{\"version\":4,\"partitions\":[[1,\"a\"],[1,\"b\"]],\"extra\":1}",
        "{\"version\":4,\"version\":4,\"partitions\":[[1,\"a\"],[1,\"b\"]]}",
        "{\"version\":4,\"partitions\":[[1,\"a\"]]}",
        "{\"version\":4,\"partitions\":[[1,\"a\"],[1,\"b\"],[1,\"c\"]]}",
        "{\"version\":4,\"partitions\":[[1,\"a\"],[1]]}",
        "{\"version\":4,\"partitions\":[[1,\"a\"],[]]}",
        "{\"version\":4,\"partitions\":[[1,\"a\"],{}]}",
        "{\"version\":4,\"partitions\":[[1,\"a\"],[1,\"\"]]}",
        "{\"version\":4,\"partitions\":[[1,\"a\"],[1,7]]}",
        "{\"version\":4,\"partitions\":[[1,\"a\"],[\"1\",\"b\"]]}",
        "{\"version\":4,\"partitions\":[[0,\"a\"],[1,\"b\"]]}",
        "{\"version\":4,\"partitions\":[[5,\"a\"],[1,\"b\"]]}",
        "{\"version\":4,\"partitions\":[[-1,\"a\"],[1,\"b\"]]}",
        "{\"version\":4,\"partitions\":[[1,\"a\",\"a\"],[1,\"b\"]]}",
        "{\"version\":4,\"partitions\":[[1,\"a\",\"b\",\"c\"],[1,\"b\"]]}",
        "{\"version\":4,\"partitions\":[[1,\"a\"],[1,\"b\"]],\"lost\":[2]}",
        "{\"version\":4,\"partitions\":[[1,\"a\"],[1,\"b\"]],\"lost\":[0,0]}",
        "{\"version\":4,\"partitions\":[[1,\"a\"],[1,\"b\"]],\"lost\":0}",
        "{\"version\":4,\"partitions\":[[1,\"a\"],[1,\"b\\u0000c\"]]}",
        "{\"version\":0,\"partitions\":[[1,\"a\"],[1,\"b\"]]}",
        "{\"version\":-4,\"partitions\":[[1,\"a\"],[1,\"b\"]]}",
        "{\"version\":2,\"partitions\":[[1,\"a\"],[1,\"b\"]]}", //  older than 3
        "{\"version\":4.0,\"partitions\":[[1,\"a\"],[1,\"b\"]]}",
        "{\"version\":4,\"partitions\":[[1,\"a\"],[1,\"b\"]]",
    };
    for (size_t index = 0; index < sizeof (bad) / sizeof (bad[0]); index++) {
        if (zdex_partition_table_from_json (table, bad[index]) != -1)
            fail_msg ("accepted: %s", bad[index]);
        //  Untouched.
        assert_int_equal (zdex_partition_table_version (table), 3);
        assert_string_equal (zdex_partition_table_owner (table, 0), "a");
    }
    assert_int_equal (zdex_partition_table_from_json (table, NULL), -1);
    assert_int_equal (
        zdex_partition_table_from_json (
            table, "{\"version\":4,\"partitions\":[[4,\"c\"],[1,\"b\"]],\"lost\":[0]}"),
        0);
    assert_true (zdex_partition_table_lost (table, 0));
    assert_false (zdex_partition_table_lost (table, 1));

    //  Invalid member lists leave the table alone.
    const char *duplicate[] = {"a", "a"};
    const char *empty[] = {"a", ""};
    const char *null_id[] = {"a", NULL};
    assert_int_equal (zdex_partition_table_update (table, duplicate, 2), -1);
    assert_int_equal (zdex_partition_table_update (table, empty, 2), -1);
    assert_int_equal (zdex_partition_table_update (table, null_id, 2), -1);
    assert_int_equal (zdex_partition_table_update (table, duplicate, 0), -1);
    assert_int_equal (zdex_partition_table_update (table, NULL, 1), -1);
    assert_int_equal (zdex_partition_table_version (table), 4);
    zdex_partition_table_destroy (&table);
}

//  xorshift64*: deterministic, seedable from ZDEX_TEST_SEED
static uint64_t
s_random (uint64_t *state)
{
    *state ^= *state >> 12;
    *state ^= *state << 25;
    *state ^= *state >> 27;
    return *state * 2685821657736338717ULL;
}

static void
test_determinism_and_random_churn (void **state)
{
    (void) state;
    const char *text = getenv ("ZDEX_TEST_SEED");
    uint64_t seed = text ? strtoull (text, NULL, 0) : 0x5eed5eedULL;
    uint64_t random_state = seed ? seed : 1;
    zdex_partition_table_t *left = zdex_partition_table_new (T_PARTITIONS, 2);
    zdex_partition_table_t *right = zdex_partition_table_new (T_PARTITIONS, 2);
    //  A random membership history (joins, deaths, several at once) applied to two
    //  tables gives identical tables, valid at every step, and epochs never go back.
    bool present[10] = {true, false};
    uint64_t epochs[T_PARTITIONS] = {0};
    for (int step = 0; step < 200; step++) {
        const char *members[10];
        size_t count = 0;
        for (size_t index = 0; index < 10; index++)
            if (present[index])
                members[count++] = t_names[index];
        if (count == 0) {
            present[s_random (&random_state) % 10] = true;
            continue;
        }
        int moved_left = zdex_partition_table_update (left, members, count);
        int moved_right = zdex_partition_table_update (right, members, count);
        assert_int_equal (moved_left, moved_right);
        assert_true (moved_left >= 0);
        s_assert_valid (left, members, count);
        char *left_text = zdex_partition_table_to_json (left);
        char *right_text = zdex_partition_table_to_json (right);
        assert_string_equal (left_text, right_text);
        free (left_text);
        free (right_text);
        for (uint32_t p = 0; p < T_PARTITIONS; p++) {
            assert_true (zdex_partition_table_epoch (left, p) >= epochs[p]);
            epochs[p] = zdex_partition_table_epoch (left, p);
        }
        //  Flip one or two members.
        int flips = 1 + (int) (s_random (&random_state) % 2);
        for (int flip = 0; flip < flips; flip++) {
            size_t index = s_random (&random_state) % 10;
            present[index] = !present[index];
        }
    }
    zdex_partition_table_destroy (&left);
    zdex_partition_table_destroy (&right);
}

//  Complete every move the table plans, as the owners would report them.
static int
s_complete_all (zdex_partition_table_t *table, bool keep_old_owner)
{
    int completed = 0;
    for (uint32_t p = 0; p < zdex_partition_table_partition_count (table); p++) {
        const char *target = zdex_partition_table_move_target (table, p);
        if (target) {
            char copy[64];
            snprintf (copy, sizeof copy, "%s", target);
            completed += zdex_partition_table_complete_move (
                table, p, copy, zdex_partition_table_epoch (table, p), keep_old_owner);
        }
    }
    return completed;
}

//  Primaries held in place move by plan + complete: a joiner gets its share only
//  once each owner reports, the target is backup 1 (one slot above max_backups
//  when it held no copy), the old owner becomes backup 1 after, owners and epochs
//  change only on completion, stale reports are refused, a move whose owner dies
//  promotes a real backup (the target only as the last replica), and members
//  that leave are drained of every primary.
static void
test_moves (void **state)
{
    (void) state;
    zdex_partition_table_t *table = zdex_partition_table_new (T_PARTITIONS, 1);
    zdex_partition_table_set_hold_primaries (table, true);
    const char *one[] = {"m0"};
    const char *two[] = {"m0", "m1"};
    const char *three[] = {"m0", "m1", "m2"};
    assert_true (zdex_partition_table_update (table, one, 1) >= 0);
    assert_int_equal (zdex_partition_table_update (table, two, 2), 0); //  held: m1 backs up
    assert_int_equal (zdex_partition_table_partitions_owned (table, "m0"), T_PARTITIONS);
    assert_int_equal (zdex_partition_table_plan_moves (table, two, 2), T_PARTITIONS / 2);
    assert_int_equal (zdex_partition_table_moving (table), T_PARTITIONS / 2);
    assert_int_equal (zdex_partition_table_plan_moves (table, two, 2), 0); //  stable
    uint64_t version = zdex_partition_table_version (table);
    for (uint32_t p = 0; p < T_PARTITIONS; p++) {
        const char *target = zdex_partition_table_move_target (table, p);
        assert_string_equal (zdex_partition_table_owner (table, p), "m0");
        if (target) {
            assert_string_equal (target, "m1"); //  it was the backup: brought to the front
            assert_string_equal (zdex_partition_table_backup (table, p, 0), "m1");
            assert_int_equal (zdex_partition_table_complete_move (
                                  table, p, "m1", zdex_partition_table_epoch (table, p) + 1, true),
                              0); //  stale epoch
            assert_int_equal (zdex_partition_table_complete_move (
                                  table, p, "m0", zdex_partition_table_epoch (table, p), true),
                              0); //  not the target
        }
    }
    //  The published form carries the moves.
    char *text = zdex_partition_table_to_json (table);
    zdex_partition_table_t *copy = zdex_partition_table_new (T_PARTITIONS, 1);
    assert_int_equal (zdex_partition_table_from_json (copy, text), 0);
    assert_int_equal (zdex_partition_table_moving (copy), T_PARTITIONS / 2);
    free (text);
    assert_int_equal (s_complete_all (table, true), T_PARTITIONS / 2);
    assert_true (zdex_partition_table_version (table) > version);
    s_assert_valid (table, two, 2);
    for (uint32_t p = 0; p < T_PARTITIONS; p++)
        if (strcmp (zdex_partition_table_owner (table, p), "m1") == 0) {
            assert_string_equal (zdex_partition_table_backup (table, p, 0), "m0");
            assert_true (zdex_partition_table_epoch (table, p) > version);
        }

    //  A third member held no copy: it is inserted above max_backups.
    assert_int_equal (zdex_partition_table_update (table, three, 3), 0);
    int planned = zdex_partition_table_plan_moves (table, three, 3);
    assert_int_equal (planned, T_PARTITIONS / 3);
    uint32_t moving = 0;
    for (uint32_t p = 0; p < T_PARTITIONS; p++)
        if (zdex_partition_table_move_target (table, p)) {
            assert_string_equal (zdex_partition_table_move_target (table, p), "m2");
            assert_int_equal (zdex_partition_table_backup_count (table, p), 2);
            if (moving++ == 0) {
                //  Its owner dies before the move completes: the real backup is
                //  promoted, not the target that may not hold the data yet.
                text = zdex_partition_table_to_json (table);
                assert_int_equal (zdex_partition_table_from_json (copy, text), 0);
                free (text);
                const char *owner = zdex_partition_table_owner (table, p);
                const char *backup = zdex_partition_table_backup (table, p, 1);
                const char *survivors[2];
                size_t count = 0;
                for (size_t index = 0; index < 3; index++)
                    if (strcmp (three[index], owner) != 0)
                        survivors[count++] = three[index];
                char heir[8];
                snprintf (heir, sizeof heir, "%s", backup);
                zdex_partition_table_set_hold_primaries (copy, true);
                assert_true (zdex_partition_table_update (copy, survivors, 2) > 0);
                assert_string_equal (zdex_partition_table_owner (copy, p), heir);
                assert_null (zdex_partition_table_move_target (copy, p));
            }
        }
    //  A stable table round-trips with its extra slot and passes validity after.
    assert_int_equal (s_complete_all (table, true), planned);
    s_assert_valid (table, three, 3);

    //  m0 leaves: planning without it drains every primary it owns.
    const char *stay[] = {"m1", "m2"};
    size_t drained = zdex_partition_table_partitions_owned (table, "m0");
    bool was_m0[T_PARTITIONS];
    for (uint32_t p = 0; p < T_PARTITIONS; p++)
        was_m0[p] = strcmp (zdex_partition_table_owner (table, p), "m0") == 0;
    planned = zdex_partition_table_plan_moves (table, stay, 2);
    assert_true (planned >= (int) drained && drained > 0);
    assert_int_equal (s_complete_all (table, false), planned);
    for (uint32_t p = 0; p < T_PARTITIONS; p++)
        if (was_m0[p]) //  the leaver keeps no copy of what it gave away
            for (size_t index = 0; index < zdex_partition_table_backup_count (table, p); index++)
                assert_string_not_equal (zdex_partition_table_backup (table, p, index), "m0");
    assert_int_equal (zdex_partition_table_partitions_owned (table, "m0"), 0);
    assert_int_equal (zdex_partition_table_moving (table), 0);

    //  Durability 0: the target takes the one slot there is, and it goes after.
    zdex_partition_table_t *bare = zdex_partition_table_new (T_PARTITIONS, 0);
    zdex_partition_table_set_hold_primaries (bare, true);
    assert_true (zdex_partition_table_update (bare, one, 1) >= 0);
    assert_int_equal (zdex_partition_table_update (bare, two, 2), 0);
    assert_int_equal (zdex_partition_table_plan_moves (bare, two, 2), T_PARTITIONS / 2);
    text = zdex_partition_table_to_json (bare);
    zdex_partition_table_t *bare_copy = zdex_partition_table_new (T_PARTITIONS, 0);
    assert_int_equal (zdex_partition_table_from_json (bare_copy, text), 0);
    free (text);
    assert_int_equal (s_complete_all (bare, true), T_PARTITIONS / 2);
    s_assert_valid (bare, two, 2);
    zdex_partition_table_destroy (&bare_copy);
    zdex_partition_table_destroy (&bare);
    zdex_partition_table_destroy (&copy);
    zdex_partition_table_destroy (&table);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_balance_and_placement),
        cmocka_unit_test (test_grow_and_shrink_one_by_one),
        cmocka_unit_test (test_kill_promotes_backup_one),
        cmocka_unit_test (test_join_moves_little),
        cmocka_unit_test (test_more_members_than_partitions),
        cmocka_unit_test (test_two_kills_lose_nothing),
        cmocka_unit_test (test_all_replicas_gone_is_lost),
        cmocka_unit_test (test_json_round_trip),
        cmocka_unit_test (test_json_rejects),
        cmocka_unit_test (test_determinism_and_random_churn),
        cmocka_unit_test (test_moves),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
