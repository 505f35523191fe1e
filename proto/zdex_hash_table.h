//  zdex_hash_table: czmq hash tables that are safe for keys a client chooses.
//
//  czmq's default string hash is public and unkeyed: a client that sends names
//  which all collide makes a zhashx grow its table until the process runs out of
//  memory.  Every table keyed by something from the network (executor names, task
//  keys, worker identities, task types) is made here instead, with SipHash-1-3
//  under a random key chosen once per process.

#ifndef ZDEX_HASH_TABLE_H_INCLUDED
#define ZDEX_HASH_TABLE_H_INCLUDED

#include <czmq.h>

#ifdef __cplusplus
extern "C" {
#endif

//  A new zhashx with string keys hashed by keyed SipHash.  Caller owns.
zhashx_t *zdex_hash_table_new (void);

#ifdef __cplusplus
}
#endif

#endif
