//  zdex_config: a member's configuration, loaded from a JSON file and overridden by
//  command-line flags.
//
//  Defaults follow Hazelcast: durable executor pool_size 16, durability 1, capacity
//  100, statistics_enabled true; 271 partitions.  Executor and scheduler settings are
//  found by exact name, then by wildcard pattern ("jobs-*": one '*' matching any run
//  of characters; the pattern with the most literal characters wins), then the
//  defaults.  Every validation error names the file and the field, e.g.
//  "zdexd.json: durable_executors.jobs-*.capacity: must be an integer > 0".
//
//  The file format is documented in config/README.md; config/zdexd.json is the
//  annotated default.

#ifndef ZDEX_CONFIG_H_INCLUDED
#define ZDEX_CONFIG_H_INCLUDED

#include <czmq.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define ZDEX_CONFIG_NAME_MAX 256

typedef struct _zdex_config_t zdex_config_t;

//  Log levels, lowest is quietest.
typedef enum {
    ZDEX_LOG_ERROR = 0,
    ZDEX_LOG_WARNING,
    ZDEX_LOG_INFO,
    ZDEX_LOG_DEBUG
} zdex_log_level_t;

//  Settings of one member process.
typedef struct {
    char member_id[ZDEX_CONFIG_NAME_MAX];        //  default: "m-" + 8 random hex digits
    char client_endpoint[ZDEX_CONFIG_NAME_MAX];  //  default tcp://127.0.0.1:5570
    char worker_endpoint[ZDEX_CONFIG_NAME_MAX];  //  default tcp://127.0.0.1:5571
    char cluster_endpoint[ZDEX_CONFIG_NAME_MAX]; //  default tcp://127.0.0.1:5572
    zdex_log_level_t log_level;                  //  default info
    uint32_t partition_count;                    //  default 271, 1..65536
    int partition_threads;                       //  partition actor threads, 0..64, default 0:
                                                 //  the broker's thread drives the partitions
    int worker_heartbeat_ms;                     //  default 1000, 10..600000
    int worker_timeout_ms;                       //  default 3000, > worker_heartbeat_ms
    size_t max_frame_bytes;                      //  default 1 MiB (1024..64 MiB)
    size_t max_payload_bytes;                    //  default 512 KiB (<= max_frame_bytes)
    size_t max_parked;                           //  parked retrieves per member, default 100000
    size_t max_queued_tasks;  //  tasks waiting for a worker per member, default 1000000
    size_t max_executors;     //  executor + scheduler names per member, default 1024
    int cluster_heartbeat_ms; //  default 250 (issue 3)
    int cluster_timeout_ms;   //  default 1500 (issue 3)
    bool cluster_rebalance;   //  default true: primaries move (data first) to balance
    char cluster_name[ZDEX_CONFIG_NAME_MAX]; //  default "zdex": members of other names are
                                             //  strangers (never joined, never heard)
} zdex_member_config_t;

//  Settings of one durable executor name.
typedef struct {
    int pool_size;  //  > 0, default 16
    int durability; //  >= 0, default 1
    int capacity;   //  > 0, default 100
    bool statistics_enabled;
    char split_brain_protection[ZDEX_CONFIG_NAME_MAX]; //  "" when none
} zdex_durable_config_t;

typedef enum { ZDEX_CAPACITY_PER_NODE = 0, ZDEX_CAPACITY_PER_PARTITION } zdex_capacity_policy_t;

typedef enum {
    ZDEX_MERGE_PUT_IF_ABSENT = 0,
    ZDEX_MERGE_PASS_THROUGH,
    ZDEX_MERGE_DISCARD
} zdex_merge_policy_t;

//  Settings of one scheduled executor name.
typedef struct {
    int pool_size;                          //  > 0, default 16
    int durability;                         //  >= 0, default 1
    int capacity;                           //  >= 0 (0 = unlimited), default 100
    zdex_capacity_policy_t capacity_policy; //  default per_node
    zdex_merge_policy_t merge_policy;       //  default put_if_absent
    bool statistics_enabled;
    char split_brain_protection[ZDEX_CONFIG_NAME_MAX];
} zdex_scheduled_config_t;

typedef enum {
    ZDEX_PROTECT_READ = 1,
    ZDEX_PROTECT_WRITE = 2,
    ZDEX_PROTECT_READ_WRITE = 3
} zdex_protect_on_t;

//  A named split-brain protection rule.
typedef struct {
    char name[ZDEX_CONFIG_NAME_MAX];
    int min_cluster_size; //  >= 2
    zdex_protect_on_t protect_on;
} zdex_protection_config_t;

//  Create a configuration holding the defaults.  Caller owns.
zdex_config_t *zdex_config_new (void);

//  Destroy and null.
void zdex_config_destroy (zdex_config_t **self_p);

//  Load a JSON file over the current settings.  Returns 0, or -1 with a message
//  naming the file and the field in err (errlen bytes).  On failure self is
//  unchanged.
int zdex_config_load (zdex_config_t *self, const char *path, char *err, size_t errlen);

//  Same as load, from a string; origin names it in messages.
int zdex_config_load_string (zdex_config_t *self, const char *text, const char *origin, char *err,
                             size_t errlen);

//  Override one member setting by its flag name (without dashes):
//  "client-endpoint", "worker-endpoint", "cluster-endpoint", "member-id",
//  "log-level", "seed" (appends), "partition-count", "partition-threads".  Returns 0,
//  or -1 with a message in err.
int zdex_config_set (zdex_config_t *self, const char *flag, const char *value, char *err,
                     size_t errlen);

//  Member settings (owned by self; valid until the next load/set/destroy).
const zdex_member_config_t *zdex_config_member (zdex_config_t *self);

//  Seed endpoints, in order (owned by self).
zlist_t *zdex_config_seeds (zdex_config_t *self);

//  Settings for a durable executor name, resolved exact, wildcard, default.  Returns
//  a copy in *out.
void zdex_config_durable (zdex_config_t *self, const char *name, zdex_durable_config_t *out);

//  The highest durability any durable or scheduled executor entry (or the defaults)
//  asks for: how many backups each partition keeps.
int zdex_config_max_durability (zdex_config_t *self);

//  Settings for a scheduled executor name, resolved exact, wildcard, default.
void zdex_config_scheduled (zdex_config_t *self, const char *name, zdex_scheduled_config_t *out);

//  A split-brain protection rule by name; returns 0 and fills *out, or -1 if unknown.
int zdex_config_protection (zdex_config_t *self, const char *name, zdex_protection_config_t *out);

//  Parse a log level name ("error", "warning", "info", "debug"); -1 if unknown.
int zdex_config_log_level_parse (const char *name);

#ifdef __cplusplus
}
#endif

#endif
