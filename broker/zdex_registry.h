//  zdex_registry: the durable executors a member knows, by name.
//
//  An executor is created on first use with the configuration that matches its
//  name (exact, wildcard, defaults); the number of names is bounded by the
//  member's max_executors so a client cannot grow the member without limit by
//  inventing names.  Each record carries the member-local state the broker and
//  the dispatcher keep for that name: shutdown flags, statistics, and the count of
//  tasks queued and running here.  Owned by the broker thread.

#ifndef ZDEX_REGISTRY_H_INCLUDED
#define ZDEX_REGISTRY_H_INCLUDED

#include "zdex_config.h"

#include <czmq.h>
#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

//  Statistics of one executor on this member (durable.stats).
typedef struct {
    int64_t pending;
    int64_t started;
    int64_t completed;
    int64_t cancelled;
    int64_t total_start_latency_ms;
    int64_t total_execution_time_ms;
    int64_t creation_time_ms; //  wall clock, ms since the epoch
} zdex_stats_t;

typedef struct {
    char *name;                        //  owned (a scheduler's: zdex_job_scheduler_name)
    zdex_durable_config_t config;      //  resolved once, at creation (pool_size only, for
                                       //  a scheduler)
    bool scheduler;                    //  a scheduled executor's record
    zdex_scheduled_config_t scheduled; //  its config, when scheduler
    size_t tasks;                      //  scheduler: tasks held here (per-node capacity)
    bool shutdown;
    zdex_stats_t stats;
    size_t queued;    //  tasks waiting for a worker
    size_t running;   //  tasks at workers (bounded by config.pool_size)
    zhashx_t *queues; //  dispatcher's queues by task type (owned by dispatcher)
} zdex_executor_t;

typedef struct _zdex_registry_t zdex_registry_t;

//  Create a registry resolving configs from config (borrowed, must outlive it).
zdex_registry_t *zdex_registry_new (zdex_config_t *config, size_t max_executors);

//  Destroy and null.  Calls the queue destructor set with set_queue_destructor.
void zdex_registry_destroy (zdex_registry_t **self_p);

//  The executor of that name, created if new.  Returns NULL when the registry is
//  full (max_executors names).  Owned by the registry.
zdex_executor_t *zdex_registry_require (zdex_registry_t *self, const char *name);

//  The record of scheduler `name` (its own name; the record's name is
//  zdex_job_scheduler_name's), created if new.  force creates it beyond
//  max_executors (a promotion brings tasks of a scheduler that must run).  Returns
//  NULL when full and not forced.
zdex_executor_t *zdex_registry_require_scheduler (zdex_registry_t *self, const char *name,
                                                  bool force);

//  The record of scheduler name, or NULL.
zdex_executor_t *zdex_registry_lookup_scheduler (zdex_registry_t *self, const char *name);

//  The executor of that name, or NULL if it was never used here.
zdex_executor_t *zdex_registry_lookup (zdex_registry_t *self, const char *name);

//  Iterate over executors (do not create during iteration).
zdex_executor_t *zdex_registry_first (zdex_registry_t *self);
zdex_executor_t *zdex_registry_next (zdex_registry_t *self);

#ifdef __cplusplus
}
#endif

#endif
