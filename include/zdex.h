//  zdex: public API of libzdex, a distributed durable task executor on ZeroMQ.
//
//  Clients submit tasks and retrieve results through zdex_client; workers run tasks
//  through zdex_worker; zdex_hash is the key-to-partition function, for clients that
//  want to pick keys landing on a chosen partition.  The wire protocol these speak
//  is proto/PROTOCOL.md.

#ifndef ZDEX_H_INCLUDED
#define ZDEX_H_INCLUDED

#define ZDEX_VERSION_MAJOR 0
#define ZDEX_VERSION_MINOR 1
#define ZDEX_VERSION_PATCH 0

#define ZDEX_VERSION_STRING "0.1.0"

//  A version as one comparable number, e.g. 100 for 0.1.0.
#define ZDEX_MAKE_VERSION(major, minor, patch) (10000 * (major) + 100 * (minor) + (patch))
//  This library's version as one number.
#define ZDEX_VERSION ZDEX_MAKE_VERSION (ZDEX_VERSION_MAJOR, ZDEX_VERSION_MINOR, ZDEX_VERSION_PATCH)

#include "zdex_hash.h"
#include "zdex_client.h"
#include "zdex_worker.h"

#endif
