//  zdex_hash: FNV-1a over the key's bytes, reduced modulo the partition count.
//  FNV-1a is chosen because it is a one-line definition that every language can
//  reproduce exactly; the partition count (271 by default) is prime, which spreads
//  its low-quality low bits well enough.

#include "zdex_hash.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include "zdex_hash_table.h"

#include <assert.h>
#include <endian.h>
#include <pthread.h>
#include <string.h>
#include <sys/random.h>
#include <czmq.h>

uint32_t
zdex_hash_fnv1a (const void *data, size_t size)
{
    const unsigned char *bytes = (const unsigned char *) data;
    uint32_t hash = 2166136261u;
    for (size_t index = 0; index < size; index++) {
        hash ^= bytes[index];
        hash *= 16777619u;
    }
    return hash;
}

uint32_t
zdex_hash_partition (const char *key, uint32_t partition_count)
{
    assert (key);
    assert (partition_count > 0);
    return zdex_hash_fnv1a (key, strlen (key)) % partition_count;
}

//  SipHash (Aumasson and Bernstein).
#define S_ROTL(x, b) (uint64_t) (((x) << (b)) | ((x) >> (64 - (b))))
#define S_SIPROUND                                                                                 \
    do {                                                                                           \
        v0 += v1;                                                                                  \
        v1 = S_ROTL (v1, 13);                                                                      \
        v1 ^= v0;                                                                                  \
        v0 = S_ROTL (v0, 32);                                                                      \
        v2 += v3;                                                                                  \
        v3 = S_ROTL (v3, 16);                                                                      \
        v3 ^= v2;                                                                                  \
        v0 += v3;                                                                                  \
        v3 = S_ROTL (v3, 21);                                                                      \
        v3 ^= v0;                                                                                  \
        v2 += v1;                                                                                  \
        v1 = S_ROTL (v1, 17);                                                                      \
        v1 ^= v2;                                                                                  \
        v2 = S_ROTL (v2, 32);                                                                      \
    } while (0)

//  SipHash-c-d: c rounds per 8-byte word, d rounds to finalize.
static inline uint64_t
s_siphash (const void *data, size_t size, uint64_t k0, uint64_t k1, int c_rounds, int d_rounds)
{
    const uint8_t *bytes = (const uint8_t *) data;
    uint64_t v0 = 0x736f6d6570736575ULL ^ k0;
    uint64_t v1 = 0x646f72616e646f6dULL ^ k1;
    uint64_t v2 = 0x6c7967656e657261ULL ^ k0;
    uint64_t v3 = 0x7465646279746573ULL ^ k1;
    size_t whole = size - size % 8;
    for (size_t offset = 0; offset < whole; offset += 8) {
        uint64_t word;
        memcpy (&word, bytes + offset, sizeof word);
        word = le64toh (word);
        v3 ^= word;
        for (int round = 0; round < c_rounds; round++)
            S_SIPROUND;
        v0 ^= word;
    }
    uint64_t last = (uint64_t) size << 56;
    for (size_t index = whole; index < size; index++)
        last |= (uint64_t) bytes[index] << (8 * (index - whole));
    v3 ^= last;
    for (int round = 0; round < c_rounds; round++)
        S_SIPROUND;
    v0 ^= last;
    v2 ^= 0xff;
    for (int round = 0; round < d_rounds; round++)
        S_SIPROUND;
    return v0 ^ v1 ^ v2 ^ v3;
}

uint64_t
zdex_hash_siphash (const void *data, size_t size, uint64_t k0, uint64_t k1)
{
    return s_siphash (data, size, k0, k1, 2, 4);
}

//  The key of zdex_hash_table's hasher: the one piece of process-wide state in
//  zdex, written once (from getrandom) before any table exists and read-only after,
//  like jansson's own hash seed.  A secret key is what makes the hash unpredictable
//  to a client choosing executor names or keys.
static uint64_t s_table_key[2];
static pthread_once_t s_table_key_once = PTHREAD_ONCE_INIT;

static void
s_table_key_init (void)
{
    if (getrandom (s_table_key, sizeof s_table_key, 0) != sizeof s_table_key) {
        s_table_key[0] = (uint64_t) zclock_usecs ();
        s_table_key[1] = (uint64_t) (uintptr_t) &s_table_key ^ (uint64_t) getpid ();
    }
}

static size_t
s_table_hash (const void *key)
{
    const char *string = (const char *) key;
    //  SipHash-1-3, as Rust's HashMap: still keyed against collisions a client
    //  picks, and at some twenty lookups a task, 2-4 was 9 % of a member's work.
    //  The rounds are the code zdex_hash_siphash's reference vectors test.
    return (size_t) s_siphash (string, strlen (string), s_table_key[0], s_table_key[1], 1, 3);
}

zhashx_t *
zdex_hash_table_new (void)
{
    pthread_once (&s_table_key_once, s_table_key_init);
    zhashx_t *table = zhashx_new ();
    if (table)
        zhashx_set_key_hasher (table, s_table_hash);
    return table;
}

void
zdex_hash_routing_id (char *out, const char *prefix, uint32_t tag, const char *id,
                      const char *suffix)
{
    size_t head = strlen (prefix), length = strlen (id), tail = strlen (suffix);
    assert (head + 9 + 9 + tail < 256); //  prefixes and suffixes are short
    memcpy (out, prefix, head);
    snprintf (out + head, 10, "%08" PRIx32 ":", tag);
    if (head + 9 + length + tail < 256)
        memcpy (out + head + 9, id, length);
    else {
        out[head + 8] = '#';
        snprintf (out + head + 9, 9, "%08" PRIx32, zdex_hash_fnv1a (id, length));
        length = 8;
    }
    memcpy (out + head + 9 + length, suffix, tail + 1);
}
