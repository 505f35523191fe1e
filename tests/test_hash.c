//  test_hash: the key-to-partition function.  Clients in other languages must
//  reproduce it exactly, so it is pinned to the published FNV-1a test vectors and
//  to a few partitions computed independently.

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "zdex_hash.h"
#include "zdex_hash_table.h"

#include <stdio.h>
#include <string.h>

static void
test_fnv1a_vectors (void **state)
{
    (void) state;
    assert_int_equal (zdex_hash_fnv1a ("", 0), 0x811c9dc5u);
    assert_int_equal (zdex_hash_fnv1a (NULL, 0), 0x811c9dc5u);
    assert_int_equal (zdex_hash_fnv1a ("a", 1), 0xe40c292cu);
    assert_int_equal (zdex_hash_fnv1a ("foobar", 6), 0xbf9cf968u);
    //  More of the reference vectors (Fowler/Noll/Vo test suite)
    assert_int_equal (zdex_hash_fnv1a ("b", 1), 0xe70c2de5u);
    assert_int_equal (zdex_hash_fnv1a ("foo", 3), 0xa9f37ed7u);
    //  Only size bytes are hashed, and embedded NUL bytes count
    assert_int_equal (zdex_hash_fnv1a ("foobarbaz", 6), 0xbf9cf968u);
    assert_int_not_equal (zdex_hash_fnv1a ("a\0b", 3), zdex_hash_fnv1a ("ab", 2));
}

static void
test_partition_definition (void **state)
{
    (void) state;
    const char *keys[] = {"", "a", "foobar", "user-42", "caf\xc3\xa9", "order:2024:17"};
    uint32_t counts[] = {1, 2, 7, 271, 1000, 65536};
    for (size_t key = 0; key < sizeof (keys) / sizeof (keys[0]); key++)
        for (size_t count = 0; count < sizeof (counts) / sizeof (counts[0]); count++) {
            uint32_t partition = zdex_hash_partition (keys[key], counts[count]);
            assert_true (partition < counts[count]);
            assert_int_equal (partition,
                              zdex_hash_fnv1a (keys[key], strlen (keys[key])) % counts[count]);
        }
    //  Values a client in another language can check against
    assert_int_equal (zdex_hash_partition ("", 271), 0x811c9dc5u % 271);
    assert_int_equal (zdex_hash_partition ("a", 271), 0xe40c292cu % 271);
    assert_int_equal (zdex_hash_partition ("foobar", 271), 0xbf9cf968u % 271);
    assert_int_equal (zdex_hash_partition ("foobar", 271), 117);
    assert_int_equal (zdex_hash_partition ("a", 271), 101);
    assert_int_equal (zdex_hash_partition ("", 271), 199);
    assert_int_equal (zdex_hash_partition ("user-42", 271), 17);
    assert_int_equal (zdex_hash_partition ("anything", 1), 0);
}

static void
test_partition_spread (void **state)
{
    (void) state;
    //  Every partition of the default table is reachable with ordinary keys, and
    //  no partition gets a grossly unfair share.
    uint32_t hits[271] = {0};
    char key[32];
    for (int index = 0; index < 271 * 100; index++) {
        snprintf (key, sizeof (key), "key-%d", index);
        uint32_t partition = zdex_hash_partition (key, 271);
        assert_true (partition < 271);
        hits[partition]++;
    }
    for (int partition = 0; partition < 271; partition++) {
        assert_true (hits[partition] > 30);
        assert_true (hits[partition] < 300);
    }
}

static void
test_stability (void **state)
{
    (void) state;
    //  Same input, same output, whatever else was hashed in between
    uint32_t first = zdex_hash_partition ("stable-key", 271);
    for (int index = 0; index < 1000; index++) {
        char key[32];
        snprintf (key, sizeof (key), "noise-%d", index);
        zdex_hash_partition (key, 271);
        assert_int_equal (zdex_hash_partition ("stable-key", 271), first);
    }
    char copy[] = "stable-key";
    assert_int_equal (zdex_hash_partition (copy, 271), first);
}

static void
test_siphash_vectors (void **state)
{
    (void) state;
    //  Reference vectors: key 00..0f, message 00..n-1
    uint8_t message[16];
    for (int index = 0; index < 16; index++)
        message[index] = (uint8_t) index;
    uint64_t k0 = 0x0706050403020100ULL, k1 = 0x0f0e0d0c0b0a0908ULL;
    assert_true (zdex_hash_siphash (message, 0, k0, k1) == 0x726fdb47dd0e0e31ULL);
    assert_true (zdex_hash_siphash (message, 1, k0, k1) == 0x74f839c593dc67fdULL);
    assert_true (zdex_hash_siphash (message, 8, k0, k1) == 0x93f5f5799a932462ULL);
    assert_true (zdex_hash_siphash (message, 15, k0, k1) == 0xa129ca6149be45e5ULL);
    assert_true (zdex_hash_siphash (message, 16, k0, k1) == 0x3f2acc7f57c29bdbULL);
}

//  Names built from blocks "BA" and "C`" all share one czmq default hash; a
//  default zhashx aborts out of memory after a few dozen.  zdex_hash_table takes
//  1,024 of them (an executor-name limit's worth) and finds each again.
static void
test_hash_table_colliding_names (void **state)
{
    (void) state;
    zhashx_t *table = zdex_hash_table_new ();
    assert_non_null (table);
    for (int index = 0; index < 1024; index++) {
        char key[32] = "";
        for (int block = 0; block < 10; block++)
            strcat (key, (index >> block) & 1 ? "BA" : "C`");
        assert_int_equal (zhashx_insert (table, key, (void *) (intptr_t) (index + 1)), 0);
    }
    for (int index = 0; index < 1024; index++) {
        char key[32] = "";
        for (int block = 0; block < 10; block++)
            strcat (key, (index >> block) & 1 ? "BA" : "C`");
        assert_int_equal ((intptr_t) zhashx_lookup (table, key), index + 1);
    }
    zhashx_destroy (&table);
}

//  A member's routing id: prefix, tag, ':' and id, suffix; the id's hash when
//  the whole would pass 255 bytes.
static void
test_routing_id (void **state)
{
    (void) state;
    char out[256];
    zdex_hash_routing_id (out, "zdex-fwd:", 0x0badc0de, "m1", "");
    assert_string_equal (out, "zdex-fwd:0badc0de:m1");
    zdex_hash_routing_id (out, "", 0xff, "m2", "/3");
    assert_string_equal (out, "000000ff:m2/3");
    char id[256];
    memset (id, 'x', 250);
    id[250] = '\0';
    zdex_hash_routing_id (out, "", 1, id, "/0");
    char expected[64];
    snprintf (expected, sizeof expected, "00000001#%08x/0", (unsigned) zdex_hash_fnv1a (id, 250));
    assert_string_equal (out, expected);
    id[244] = '\0'; //  9 + 244 + 2 = 255 bytes: still fits
    zdex_hash_routing_id (out, "", 1, id, "/0");
    assert_int_equal (strlen (out), 255);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_hash_table_colliding_names),
        cmocka_unit_test (test_siphash_vectors),
        cmocka_unit_test (test_fnv1a_vectors),
        cmocka_unit_test (test_routing_id),
        cmocka_unit_test (test_partition_definition),
        cmocka_unit_test (test_partition_spread),
        cmocka_unit_test (test_stability),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
