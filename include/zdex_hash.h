//  zdex_hash: the key-to-partition function every member and client computes.
//
//  partition = fnv1a32 (UTF-8 bytes of the key) mod partition_count, where fnv1a32
//  starts at 2166136261 and for each byte b does h = (h XOR b) * 16777619 (mod 2^32).
//  It is specified in proto/PROTOCOL.md so that clients in any language can route
//  requests themselves and pick keys that land on a chosen partition.

#ifndef ZDEX_HASH_H_INCLUDED
#define ZDEX_HASH_H_INCLUDED

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

//  32-bit FNV-1a of size bytes.
uint32_t zdex_hash_fnv1a (const void *data, size_t size);

//  Partition of a NUL-terminated key; partition_count must be > 0.
uint32_t zdex_hash_partition (const char *key, uint32_t partition_count);

//  The routing id members of the cluster whose name hashes to tag (FNV-1a) use:
//  prefix, the tag as 8 lowercase hex digits, ':', id, suffix; or, when that
//  would pass the 255 bytes of a ZeroMQ routing id, '#' and the id's FNV-1a as 8
//  hex digits in place of ':' and id.  out must hold 256 bytes.
void zdex_hash_routing_id (char *out, const char *prefix, uint32_t tag, const char *id,
                           const char *suffix);

//  SipHash-2-4 of size bytes under the 128-bit key (k0, k1).
uint64_t zdex_hash_siphash (const void *data, size_t size, uint64_t k0, uint64_t k1);

#ifdef __cplusplus
}
#endif

#endif
