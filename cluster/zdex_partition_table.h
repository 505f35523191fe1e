//  zdex_partition_table: which member owns each partition, and which members back
//  it up.
//
//  A pure data structure (no sockets, no clock, no randomness): the master computes
//  a new table with zdex_partition_table_update whenever the member list changes,
//  publishes it with zdex_partition_table_to_json, and every other member installs
//  it with zdex_partition_table_from_json.  The same previous table and member list
//  always give the same new table.
//
//  Per partition: an owner, up to max_backups backups (replica 1..n, in order), an
//  epoch and a lost flag.  The epoch is the table version at which the current owner
//  got the partition, so it grows on every ownership change of that partition and
//  keeps growing across masters as long as versions do (see _advance).  The table
//  version grows on every change of any owner, backup or lost flag.
//
//  Member ids returned by the accessors belong to the table and stay valid until
//  the next successful update, from_json or destroy.  Not thread safe.

#ifndef ZDEX_PARTITION_TABLE_H_INCLUDED
#define ZDEX_PARTITION_TABLE_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define ZDEX_PARTITION_TABLE_ID_MAX 1024 //  longest member id, in bytes

typedef struct _zdex_partition_table_t zdex_partition_table_t;

//  Create an empty table (version 0, no owners) for partition_count partitions
//  (>= 1) with at most max_backups backups each.  Caller owns.
zdex_partition_table_t *zdex_partition_table_new (uint32_t partition_count, size_t max_backups);

//  Destroy and null.  Null-safe.
void zdex_partition_table_destroy (zdex_partition_table_t **self_p);

//  Recompute the table for a new member list, ordered oldest first (ids non-empty,
//  distinct, at most ZDEX_PARTITION_TABLE_ID_MAX bytes).  From an empty table:
//  round-robin owners, each owner's backups spread over the other members.  From a
//  previous table:
//  1. a partition whose owner left goes to its first surviving backup; with no
//     surviving replica it goes to the least loaded member and is marked lost;
//  2. primaries are rebalanced to floor or ceil(partition_count / count) each with
//     as few moves as possible, preferring partitions that already changed owner
//     in this update and members that already hold a backup (a promotion plus a
//     demotion); a move to a member without a copy demotes the old owner to
//     backup 1;
//  3. departed backups are gone; missing backups are filled from the members with
//     the fewest backups that hold no replica of the partition, up to
//     min(max_backups, count - 1); extra backups are dropped from the end.
//  When a partition's new owner held no replica of it, backup 1 is the member that
//  has its data (the previous owner, or the backup promoted in step 1), so the new
//  owner knows whom to copy from (with max_backups 0, the previous table says).
//  Returns the number of partitions whose owner changed (0 and no new version when
//  nothing changed), or -1 for an invalid member list (table untouched).
int zdex_partition_table_update (zdex_partition_table_t *self, const char **members_by_age,
                                 size_t count);

//  Install a table published by a master: {"version":V,"partitions":[[epoch,
//  owner, backup1, ...], ...]} plus an optional "lost":[partition, ...] and an
//  optional "moves":[partition, ...] (backup1 of each is its move target).  Strict:
//  duplicate or unknown keys, a wrong partition count, more than max_backups
//  backups, a replica listed twice, an epoch of 0 or above V, or a version older
//  than the installed one are refused.  Returns 0 when installed (the same version
//  again replaces the contents), -1 when refused (table untouched).
int zdex_partition_table_from_json (zdex_partition_table_t *self, const char *text);

//  The table as compact JSON (format above; "lost" only when a flag is set), or
//  NULL while the table is empty.  Caller owns; free with free().
char *zdex_partition_table_to_json (zdex_partition_table_t *self);

//  Make the version at least `version` without changing the contents, so the next
//  change is numbered above every version some other master may have published.
void zdex_partition_table_advance (zdex_partition_table_t *self, uint64_t version);

//  Owner of partition p, or NULL while the table is empty.
const char *zdex_partition_table_owner (zdex_partition_table_t *self, uint32_t p);

//  Number of backups of partition p (at most max_backups; fewer when the cluster
//  has too few members; one more while it moves, the target being backup 0).
size_t zdex_partition_table_backup_count (zdex_partition_table_t *self, uint32_t p);

//  Backup `index` (0 = replica 1) of partition p, or NULL when index >= count.
const char *zdex_partition_table_backup (zdex_partition_table_t *self, uint32_t p, size_t index);

//  Epoch of partition p: the table version at which its owner got it; 0 while empty.
uint64_t zdex_partition_table_epoch (zdex_partition_table_t *self, uint32_t p);

//  True when partition p was given a new owner because no replica survived: its
//  data is gone (report PARTITION_LOST).  Stays set until clear_lost.
bool zdex_partition_table_lost (zdex_partition_table_t *self, uint32_t p);

//  Clear the lost flag of partition p (does not change the version).
void zdex_partition_table_clear_lost (zdex_partition_table_t *self, uint32_t p);

//  Table version: 0 while empty, then +1 per change.
uint64_t zdex_partition_table_version (zdex_partition_table_t *self);

//  Number of partitions member owns (0 for an unknown member).
size_t zdex_partition_table_partitions_owned (zdex_partition_table_t *self, const char *member);

//  Number of partitions running with fewer than max_backups backups (durability
//  bounded by the members available).
size_t zdex_partition_table_underreplicated (zdex_partition_table_t *self);

//  The sizes the table was created with.
uint32_t zdex_partition_table_partition_count (zdex_partition_table_t *self);
size_t zdex_partition_table_max_backups (zdex_partition_table_t *self);

//  Plan moves of primaries so that the `eligible` members (ids of the table's
//  members; the others, members that are leaving, get no primaries) end with
//  floor or ceil(partition_count / eligible) primaries each.  A partition that
//  must move gets a move target: backup 1, one slot above max_backups, inserted
//  or brought to the front (a member that is a backup already holds the data).
//  Its owner stays the owner until complete_move; a target that is no longer
//  wanted is cancelled or replaced.  Returns the number of partitions moving to
//  a new member from this plan (0: balanced or nothing eligible), -1 when out of
//  memory.  Bumps the version when anything changed.
int zdex_partition_table_plan_moves (zdex_partition_table_t *self, const char **eligible,
                                     size_t count);

//  The owner of p reported that the move target holds everything it
//  acknowledged at `epoch`: make the target the owner (new epoch = the new
//  version) and, when keep_old_owner, the old owner backup 1 (trimmed to
//  max_backups); otherwise the old owner (a member leaving) holds nothing after.
//  Returns 1 when done, 0 when the report is stale (no such move at that epoch).
int zdex_partition_table_complete_move (zdex_partition_table_t *self, uint32_t p,
                                        const char *target, uint64_t epoch, bool keep_old_owner);

//  The move target of p (it is backup 0), or NULL when p is not moving.
const char *zdex_partition_table_move_target (zdex_partition_table_t *self, uint32_t p);

//  Number of partitions with a move in progress.
size_t zdex_partition_table_moving (zdex_partition_table_t *self);

//  Hold primaries in place: update() moves a primary only by promoting a backup
//  when its owner left, never to balance load; balance then comes from
//  plan_moves and complete_move, which move the data first.
void zdex_partition_table_set_hold_primaries (zdex_partition_table_t *self, bool hold);

#ifdef __cplusplus
}
#endif

#endif
