//  zdex_hash: FNV-1a over the key's bytes, reduced modulo the partition count.
//  FNV-1a is chosen because it is a one-line definition that every language can
//  reproduce exactly; the partition count (271 by default) is prime, which spreads
//  its low-quality low bits well enough.

#include "zdex_hash.h"

#include <assert.h>
#include <string.h>

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
