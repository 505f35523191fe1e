//  zdex_partition_table: the partition → (owner, backups, epoch) map.
//
//  Replicas are stored as indices into the table's member list (the ids the table
//  refers to), so an update works in three arrays of small integers: owner[p],
//  backups[p][0..max_backups) and the backup count.  An update maps the previous
//  table's members onto the new list by id, builds the new assignment in scratch
//  arrays, and only then compares it with the old one and swaps it in, so a
//  refused update or an out-of-memory failure leaves the table as it was.
//
//  Why the steps are in this order: promotion first, because the first surviving
//  backup is the replica that has the data; rebalancing next, because a move to a
//  member that is a backup turns into a promotion plus a demotion and keeps every
//  replica in place; filling backups last, so that it sees the final owners.
//  Everything iterates partitions in ascending order and breaks ties on the oldest
//  member, which is what makes the result deterministic.

#include "zdex_partition_table.h"

#include <assert.h>
#include <inttypes.h>
#include <jansson.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#define S_NONE ((uint32_t) -1) //  no member
//  Backup slots per partition: max_backups, plus one for a move target.
#define S_STRIDE(self) ((self)->max_backups + 1)

typedef struct {
    uint64_t epoch;
    uint32_t owner;        //  index into members, S_NONE while empty
    uint32_t backup_count; //  the move target included
    bool lost;
    bool moving; //  backup 1 is a move target: it becomes owner once it holds the data
} s_partition_t;

struct _zdex_partition_table_t {
    bool hold_primaries; //  no rebalancing: primaries move only by promotion
    uint32_t partition_count;
    size_t max_backups;
    uint64_t version;
    char **members; //  ids the table refers to
    uint32_t member_count;
    s_partition_t *partitions;
    uint32_t *backups; //  partition_count * S_STRIDE member indices
};

//  A table under construction: same shape, members borrowed.
typedef struct {
    const char **members;
    uint32_t member_count;
    s_partition_t *partitions;
    uint32_t *backups;
    bool *changed; //  owner changed in this update
} s_draft_t;

zdex_partition_table_t *
zdex_partition_table_new (uint32_t partition_count, size_t max_backups)
{
    assert (partition_count > 0);
    zdex_partition_table_t *self =
        (zdex_partition_table_t *) calloc (1, sizeof (zdex_partition_table_t));
    if (!self)
        return NULL;
    self->partition_count = partition_count;
    self->max_backups = max_backups;
    self->partitions = (s_partition_t *) calloc (partition_count, sizeof (s_partition_t));
    self->backups =
        (uint32_t *) calloc ((size_t) partition_count * S_STRIDE (self), sizeof (uint32_t));
    if (!self->partitions || !self->backups) {
        zdex_partition_table_destroy (&self);
        return NULL;
    }
    for (uint32_t p = 0; p < partition_count; p++)
        self->partitions[p].owner = S_NONE;
    return self;
}

static void
s_free_members (char **members, uint32_t count)
{
    if (members)
        for (uint32_t index = 0; index < count; index++)
            free (members[index]);
    free (members);
}

void
zdex_partition_table_destroy (zdex_partition_table_t **self_p)
{
    assert (self_p);
    zdex_partition_table_t *self = *self_p;
    if (!self)
        return;
    s_free_members (self->members, self->member_count);
    free (self->partitions);
    free (self->backups);
    free (self);
    *self_p = NULL;
}

//  ---------------------------------------------------------------------------------
//  Helpers on arrays of member indices

static uint32_t *
s_backups_of (uint32_t *backups, size_t max_backups, uint32_t p)
{
    return backups + (size_t) p * max_backups;
}

static bool
s_holds (const s_partition_t *partition, const uint32_t *backups, uint32_t member)
{
    if (partition->owner == member)
        return true;
    for (uint32_t index = 0; index < partition->backup_count; index++)
        if (backups[index] == member)
            return true;
    return false;
}

static bool
s_valid_id (const char *id)
{
    return id && *id && strlen (id) <= ZDEX_PARTITION_TABLE_ID_MAX;
}

//  Index of id in members, or S_NONE.  Member lists are short (a cluster), so a
//  linear search beats the bookkeeping of a hash table here.
static uint32_t
s_find (const char *const *members, uint32_t count, const char *id)
{
    for (uint32_t index = 0; index < count; index++)
        if (strcmp (members[index], id) == 0)
            return index;
    return S_NONE;
}

//  ---------------------------------------------------------------------------------
//  Update steps, each on the draft

//  First table: owner p mod n; the k-th partition of an owner has its backups at
//  offsets 1 + (k + i) mod (n - 1), so the partitions of any one member are backed
//  up evenly by all the others and a dead member's load spreads on promotion.
static void
s_round_robin (s_draft_t *draft, zdex_partition_table_t *self, uint32_t target)
{
    uint32_t n = draft->member_count;
    for (uint32_t p = 0; p < self->partition_count; p++) {
        s_partition_t *partition = &draft->partitions[p];
        uint32_t *backups = s_backups_of (draft->backups, S_STRIDE (self), p);
        uint32_t owner = p % n;
        uint32_t k = p / n;
        partition->owner = owner;
        for (uint32_t index = 0; index < target; index++)
            backups[index] = (owner + 1 + (k + index) % (n - 1)) % n;
        partition->backup_count = target;
        draft->changed[p] = true;
    }
}

//  Step 1: map the old replicas onto the new member list and promote.
static void
s_promote (s_draft_t *draft, zdex_partition_table_t *self, uint32_t *loads)
{
    uint32_t *remap =
        (uint32_t *) calloc (self->member_count ? self->member_count : 1, sizeof (uint32_t));
    assert (remap);
    for (uint32_t index = 0; index < self->member_count; index++)
        remap[index] = s_find (draft->members, draft->member_count, self->members[index]);

    for (uint32_t p = 0; p < self->partition_count; p++) {
        const s_partition_t *old = &self->partitions[p];
        const uint32_t *old_backups = s_backups_of (self->backups, S_STRIDE (self), p);
        s_partition_t *partition = &draft->partitions[p];
        uint32_t *backups = s_backups_of (draft->backups, S_STRIDE (self), p);
        *partition = *old;
        partition->owner = old->owner == S_NONE ? S_NONE : remap[old->owner];
        partition->backup_count = 0;
        partition->moving = false;
        //  A move target may not hold the data yet, and the owner never waited
        //  for it alone (see zdex_replicator): promote it only when it is the
        //  last replica.
        uint32_t heir = S_NONE;
        if (partition->owner == S_NONE)
            for (uint32_t index = old->moving ? 1 : 0; index < old->backup_count && heir == S_NONE;
                 index++)
                heir = remap[old_backups[index]];
        if (partition->owner == S_NONE && heir == S_NONE && old->moving)
            heir = remap[old_backups[0]];
        if (heir != S_NONE) {
            partition->owner = heir;
            draft->changed[p] = true;
        }
        for (uint32_t index = 0; index < old->backup_count; index++) {
            uint32_t member = remap[old_backups[index]];
            if (member == S_NONE || member == partition->owner)
                continue;
            if (index == 0 && old->moving && !draft->changed[p])
                partition->moving = true; //  owner and target both still here
            backups[partition->backup_count++] = member;
        }
        if (partition->owner != S_NONE)
            loads[partition->owner]++;
    }
    free (remap);

    //  No replica left: the data is gone; give it to the least loaded member.
    for (uint32_t p = 0; p < self->partition_count; p++) {
        s_partition_t *partition = &draft->partitions[p];
        if (partition->owner != S_NONE)
            continue;
        uint32_t best = 0;
        for (uint32_t member = 1; member < draft->member_count; member++)
            if (loads[member] < loads[best])
                best = member;
        partition->owner = best;
        partition->lost = true;
        draft->changed[p] = true;
        loads[best]++;
    }
}

//  Make `to` the owner of p.  If `to` was a backup it swaps places with the old
//  owner; otherwise the old owner becomes backup 1 (it has the data).
static void
s_move (s_draft_t *draft, size_t max_backups, uint32_t p, uint32_t to, uint32_t *loads)
{
    s_partition_t *partition = &draft->partitions[p];
    uint32_t *backups = s_backups_of (draft->backups, max_backups + 1, p);
    partition->moving = false;
    uint32_t from = partition->owner;
    loads[from]--;
    loads[to]++;
    partition->owner = to;
    draft->changed[p] = true;
    for (uint32_t index = 0; index < partition->backup_count; index++)
        if (backups[index] == to) {
            backups[index] = from;
            return;
        }
    if (max_backups == 0)
        return;
    uint32_t keep = partition->backup_count < max_backups ? partition->backup_count
                                                          : (uint32_t) max_backups - 1;
    memmove (backups + 1, backups, keep * sizeof (uint32_t));
    backups[0] = from;
    partition->backup_count = keep + 1;
}

//  Step 2: every member ends with floor or ceil(partitions / members) primaries.
//  The members holding the most keep the ceil quotas, which makes the number of
//  moves the minimum (the sum of the excesses).  Candidates are taken in order of
//  cost: a partition that already changed owner, to a backup (no extra ownership
//  change, data in place); any partition to a backup; a changed partition to any
//  member; any partition to any member.
static void
s_rebalance (s_draft_t *draft, zdex_partition_table_t *self, uint32_t *loads)
{
    uint32_t n = draft->member_count;
    uint32_t floor_quota = self->partition_count / n;
    uint32_t ceil_count = self->partition_count % n;
    uint32_t *quotas = (uint32_t *) calloc (n, sizeof (uint32_t));
    bool *taken = (bool *) calloc (n, sizeof (bool));
    assert (quotas && taken);
    //  Selection by repeated scan: n is small and this runs once per view change.
    for (uint32_t rank = 0; rank < n; rank++) {
        uint32_t best = S_NONE;
        for (uint32_t member = 0; member < n; member++)
            if (!taken[member] && (best == S_NONE || loads[member] > loads[best]))
                best = member;
        taken[best] = true;
        quotas[best] = floor_quota + (rank < ceil_count ? 1 : 0);
    }
    free (taken);

    for (int pass = 0; pass < 4; pass++) {
        bool changed_only = pass == 0 || pass == 2;
        bool to_backup = pass < 2;
        for (uint32_t p = 0; p < self->partition_count; p++) {
            s_partition_t *partition = &draft->partitions[p];
            uint32_t owner = partition->owner;
            if (loads[owner] <= quotas[owner] || (changed_only && !draft->changed[p]))
                continue;
            uint32_t to = S_NONE;
            if (to_backup) {
                uint32_t *backups = s_backups_of (draft->backups, S_STRIDE (self), p);
                for (uint32_t index = 0; index < partition->backup_count && to == S_NONE; index++)
                    if (loads[backups[index]] < quotas[backups[index]])
                        to = backups[index];
            } else {
                //  The member furthest below its quota.
                uint32_t best_gap = 0;
                for (uint32_t member = 0; member < n; member++)
                    if (loads[member] < quotas[member] &&
                        quotas[member] - loads[member] > best_gap) {
                        best_gap = quotas[member] - loads[member];
                        to = member;
                    }
            }
            if (to != S_NONE)
                s_move (draft, self->max_backups, p, to, loads);
        }
    }
    free (quotas);
}

//  Backups a partition should have: `target`, plus its move target, which also
//  leaves one member fewer for the others (owner and target are distinct, n >= 2).
static uint32_t
s_backups_wanted (const s_partition_t *partition, uint32_t target, uint32_t n)
{
    if (!partition->moving)
        return target;
    return (target < n - 2 ? target : n - 2) + 1;
}

//  Step 3: trim to the target, then fill from the members with the fewest backups.
static void
s_fill_backups (s_draft_t *draft, zdex_partition_table_t *self, uint32_t target)
{
    uint32_t n = draft->member_count;
    uint32_t *backup_loads = (uint32_t *) calloc (n, sizeof (uint32_t));
    assert (backup_loads);
    for (uint32_t p = 0; p < self->partition_count; p++) {
        s_partition_t *partition = &draft->partitions[p];
        uint32_t *backups = s_backups_of (draft->backups, S_STRIDE (self), p);
        uint32_t want = s_backups_wanted (partition, target, n);
        if (partition->backup_count > want)
            partition->backup_count = want;
        for (uint32_t index = 0; index < partition->backup_count; index++)
            backup_loads[backups[index]]++;
    }
    for (uint32_t p = 0; p < self->partition_count; p++) {
        s_partition_t *partition = &draft->partitions[p];
        uint32_t *backups = s_backups_of (draft->backups, S_STRIDE (self), p);
        uint32_t want = s_backups_wanted (partition, target, n);
        while (partition->backup_count < want) {
            uint32_t best = S_NONE;
            for (uint32_t member = 0; member < n; member++)
                if (!s_holds (partition, backups, member) &&
                    (best == S_NONE || backup_loads[member] < backup_loads[best]))
                    best = member;
            assert (best != S_NONE); //  target <= n - 1
            backups[partition->backup_count++] = best;
            backup_loads[best]++;
        }
    }
    free (backup_loads);
}

//  ---------------------------------------------------------------------------------

//  Replace the table's members and replicas with the draft's, numbering every
//  changed owner's epoch with the new version.  Returns owners changed, or -1
//  (out of memory, table untouched).
static int
s_commit (zdex_partition_table_t *self, s_draft_t *draft)
{
    int owners_changed = 0;
    bool any_change = false;
    for (uint32_t p = 0; p < self->partition_count; p++) {
        const s_partition_t *old = &self->partitions[p];
        const uint32_t *old_backups = s_backups_of (self->backups, S_STRIDE (self), p);
        s_partition_t *partition = &draft->partitions[p];
        const uint32_t *backups = s_backups_of (draft->backups, S_STRIDE (self), p);
        bool owner_changed = old->owner == S_NONE || strcmp (self->members[old->owner],
                                                             draft->members[partition->owner]) != 0;
        draft->changed[p] = owner_changed;
        if (owner_changed)
            owners_changed++;
        if (owner_changed || old->lost != partition->lost || old->moving != partition->moving ||
            old->backup_count != partition->backup_count)
            any_change = true;
        for (uint32_t index = 0; index < partition->backup_count && !any_change; index++)
            if (strcmp (self->members[old_backups[index]], draft->members[backups[index]]) != 0)
                any_change = true;
    }
    if (!any_change)
        return 0;

    char **members = (char **) calloc (draft->member_count, sizeof (char *));
    if (!members)
        return -1;
    for (uint32_t index = 0; index < draft->member_count; index++) {
        members[index] = strdup (draft->members[index]);
        if (!members[index]) {
            s_free_members (members, draft->member_count);
            return -1;
        }
    }
    self->version++;
    for (uint32_t p = 0; p < self->partition_count; p++)
        if (draft->changed[p])
            draft->partitions[p].epoch = self->version;
    s_free_members (self->members, self->member_count);
    self->members = members;
    self->member_count = draft->member_count;
    memcpy (self->partitions, draft->partitions, self->partition_count * sizeof (s_partition_t));
    memcpy (self->backups, draft->backups,
            (size_t) self->partition_count * S_STRIDE (self) * sizeof (uint32_t));
    return owners_changed;
}

int
zdex_partition_table_update (zdex_partition_table_t *self, const char **members_by_age,
                             size_t count)
{
    assert (self);
    if (!members_by_age || count == 0 || count > INT32_MAX)
        return -1;
    for (size_t index = 0; index < count; index++) {
        if (!s_valid_id (members_by_age[index]))
            return -1;
        if (s_find (members_by_age, (uint32_t) index, members_by_age[index]) != S_NONE)
            return -1;
    }
    uint32_t n = (uint32_t) count;
    uint32_t target = (uint32_t) (self->max_backups < n - 1 ? self->max_backups : n - 1);
    s_draft_t draft = {members_by_age, n, NULL, NULL, NULL};
    draft.partitions = (s_partition_t *) calloc (self->partition_count, sizeof (s_partition_t));
    draft.backups =
        (uint32_t *) calloc ((size_t) self->partition_count * S_STRIDE (self), sizeof (uint32_t));
    draft.changed = (bool *) calloc (self->partition_count, sizeof (bool));
    uint32_t *loads = (uint32_t *) calloc (n, sizeof (uint32_t));
    int rc = -1;
    if (draft.partitions && draft.backups && draft.changed && loads) {
        if (self->member_count == 0)
            s_round_robin (&draft, self, target);
        else {
            s_promote (&draft, self, loads);
            if (!self->hold_primaries)
                s_rebalance (&draft, self, loads);
        }
        s_fill_backups (&draft, self, target);
        rc = s_commit (self, &draft);
    }
    free (draft.partitions);
    free (draft.backups);
    free (draft.changed);
    free (loads);
    return rc;
}

//  ---------------------------------------------------------------------------------
//  Moves: a primary changes member only once the member it goes to holds the data

static uint32_t s_intern (char ***members_p, uint32_t *count_p, const char *id);

//  Make `to` the move target of p (backup 1), or cancel the move when `to` is the
//  owner.  A member that already is a backup is moved to the front; otherwise it
//  is inserted there, one slot above max_backups.
static void
s_set_target (zdex_partition_table_t *self, uint32_t p, uint32_t to)
{
    s_partition_t *partition = &self->partitions[p];
    uint32_t *backups = s_backups_of (self->backups, S_STRIDE (self), p);
    if (partition->moving) {
        memmove (backups, backups + 1, (partition->backup_count - 1) * sizeof (uint32_t));
        partition->backup_count--;
        partition->moving = false;
    }
    if (to == partition->owner)
        return;
    uint32_t at = partition->backup_count;
    for (uint32_t index = 0; index < partition->backup_count; index++)
        if (backups[index] == to)
            at = index;
    if (at == partition->backup_count)
        partition->backup_count++;
    memmove (backups + 1, backups, at * sizeof (uint32_t));
    backups[0] = to;
    partition->moving = true;
}

int
zdex_partition_table_plan_moves (zdex_partition_table_t *self, const char **eligible, size_t count)
{
    assert (self);
    if (self->member_count == 0)
        return 0;
    //  A member that joined holds nothing yet, so an update may have left it out
    //  of the member list; it can still be a target.
    for (size_t index = 0; index < count; index++)
        if (s_valid_id (eligible[index]) &&
            s_intern (&self->members, &self->member_count, eligible[index]) == S_NONE)
            return -1;
    bool *ok = (bool *) calloc (self->member_count, sizeof (bool));
    uint32_t *loads = (uint32_t *) calloc (self->member_count, sizeof (uint32_t));
    uint32_t *quotas = (uint32_t *) calloc (self->member_count, sizeof (uint32_t));
    bool *taken = (bool *) calloc (self->member_count, sizeof (bool));
    uint32_t *dest = (uint32_t *) calloc (self->partition_count, sizeof (uint32_t));
    int planned = -1;
    if (!ok || !loads || !quotas || !taken || !dest)
        goto done;
    uint32_t n = 0;
    for (size_t index = 0; index < count; index++) {
        uint32_t member =
            s_valid_id (eligible[index])
                ? s_find ((const char *const *) self->members, self->member_count, eligible[index])
                : S_NONE;
        if (member != S_NONE && !ok[member]) {
            ok[member] = true;
            n++;
        }
    }
    planned = 0;
    if (n == 0)
        goto done;
    //  Where each partition is going: its target while it moves, else its owner.
    for (uint32_t p = 0; p < self->partition_count; p++) {
        s_partition_t *partition = &self->partitions[p];
        dest[p] = partition->moving ? s_backups_of (self->backups, S_STRIDE (self), p)[0]
                                    : partition->owner;
        if (ok[dest[p]])
            loads[dest[p]]++;
    }
    //  The most loaded eligible members keep the ceil quotas: fewest moves.
    for (uint32_t rank = 0; rank < n; rank++) {
        uint32_t best = S_NONE;
        for (uint32_t member = 0; member < self->member_count; member++)
            if (ok[member] && !taken[member] && (best == S_NONE || loads[member] > loads[best]))
                best = member;
        taken[best] = true;
        quotas[best] = self->partition_count / n + (rank < self->partition_count % n ? 1 : 0);
    }
    bool any = false;
    for (uint32_t p = 0; p < self->partition_count; p++) {
        s_partition_t *partition = &self->partitions[p];
        uint32_t from = dest[p];
        if (ok[from] && loads[from] <= quotas[from])
            continue;
        //  Cheapest first: back to the owner (cancel), then a member that is a
        //  backup (it holds the data already), then the one furthest below quota.
        uint32_t to = S_NONE;
        uint32_t *backups = s_backups_of (self->backups, S_STRIDE (self), p);
        if (partition->moving && ok[partition->owner] &&
            loads[partition->owner] < quotas[partition->owner])
            to = partition->owner;
        for (uint32_t index = partition->moving; index < partition->backup_count && to == S_NONE;
             index++)
            if (ok[backups[index]] && loads[backups[index]] < quotas[backups[index]])
                to = backups[index];
        uint32_t best_gap = 0;
        if (to == S_NONE)
            for (uint32_t member = 0; member < self->member_count; member++)
                if (ok[member] && loads[member] < quotas[member] &&
                    quotas[member] - loads[member] > best_gap) {
                    best_gap = quotas[member] - loads[member];
                    to = member;
                }
        if (to == S_NONE)
            continue; //  cannot happen while the quotas sum to partition_count
        if (ok[from])
            loads[from]--;
        loads[to]++;
        s_set_target (self, p, to);
        any = true;
        if (to != partition->owner)
            planned++;
    }
    if (any)
        self->version++;
done:
    free (ok);
    free (loads);
    free (quotas);
    free (taken);
    free (dest);
    return planned;
}

int
zdex_partition_table_complete_move (zdex_partition_table_t *self, uint32_t p, const char *target,
                                    uint64_t epoch, bool keep_old_owner)
{
    assert (self);
    if (p >= self->partition_count || !target)
        return 0;
    s_partition_t *partition = &self->partitions[p];
    uint32_t *backups = s_backups_of (self->backups, S_STRIDE (self), p);
    if (!partition->moving || partition->epoch != epoch ||
        strcmp (self->members[backups[0]], target) != 0)
        return 0;
    //  The old owner becomes backup 1: it has everything, and the backups that
    //  follow keep their order.
    uint32_t from = partition->owner;
    partition->owner = backups[0];
    backups[0] = from;
    partition->moving = false;
    if (!keep_old_owner) {
        memmove (backups, backups + 1, (partition->backup_count - 1) * sizeof (uint32_t));
        partition->backup_count--;
    }
    if (partition->backup_count > self->max_backups)
        partition->backup_count = (uint32_t) self->max_backups;
    self->version++;
    partition->epoch = self->version;
    return 1;
}

const char *
zdex_partition_table_move_target (zdex_partition_table_t *self, uint32_t p)
{
    assert (self);
    assert (p < self->partition_count);
    if (!self->partitions[p].moving)
        return NULL;
    return self->members[s_backups_of (self->backups, S_STRIDE (self), p)[0]];
}

size_t
zdex_partition_table_moving (zdex_partition_table_t *self)
{
    assert (self);
    size_t count = 0;
    for (uint32_t p = 0; p < self->partition_count; p++)
        count += self->partitions[p].moving;
    return count;
}

void
zdex_partition_table_set_hold_primaries (zdex_partition_table_t *self, bool hold)
{
    assert (self);
    self->hold_primaries = hold;
}

//  ---------------------------------------------------------------------------------
//  JSON

char *
zdex_partition_table_to_json (zdex_partition_table_t *self)
{
    assert (self);
    if (self->member_count == 0)
        return NULL;
    json_t *partitions = json_array ();
    json_t *lost = json_array ();
    json_t *moves = json_array ();
    for (uint32_t p = 0; p < self->partition_count; p++) {
        const s_partition_t *partition = &self->partitions[p];
        const uint32_t *backups = s_backups_of (self->backups, S_STRIDE (self), p);
        json_t *entry = json_array ();
        json_array_append_new (entry, json_integer ((json_int_t) partition->epoch));
        json_array_append_new (entry, json_string (self->members[partition->owner]));
        for (uint32_t index = 0; index < partition->backup_count; index++)
            json_array_append_new (entry, json_string (self->members[backups[index]]));
        json_array_append_new (partitions, entry);
        if (partition->lost)
            json_array_append_new (lost, json_integer (p));
        if (partition->moving)
            json_array_append_new (moves, json_integer (p));
    }
    json_t *root = json_object ();
    json_object_set_new (root, "version", json_integer ((json_int_t) self->version));
    json_object_set_new (root, "partitions", partitions);
    if (json_array_size (lost) > 0)
        json_object_set_new (root, "lost", lost);
    else
        json_decref (lost);
    if (json_array_size (moves) > 0)
        json_object_set_new (root, "moves", moves);
    else
        json_decref (moves);
    char *text = json_dumps (root, JSON_COMPACT);
    json_decref (root);
    return text;
}

//  Index of id in a growing member list, appending it when new; S_NONE when out
//  of memory.
static uint32_t
s_intern (char ***members_p, uint32_t *count_p, const char *id)
{
    uint32_t index = s_find ((const char *const *) *members_p, *count_p, id);
    if (index != S_NONE)
        return index;
    char **members = (char **) realloc (*members_p, (*count_p + 1) * sizeof (char *));
    if (!members)
        return S_NONE;
    *members_p = members;
    members[*count_p] = strdup (id);
    if (!members[*count_p])
        return S_NONE;
    return (*count_p)++;
}

//  Parse one [epoch, owner, backup...] entry into partition/backups.
static int
s_parse_entry (zdex_partition_table_t *self, json_t *entry, uint64_t version, char ***members_p,
               uint32_t *count_p, s_partition_t *partition, uint32_t *backups)
{
    size_t size = json_array_size (entry);
    if (!json_is_array (entry) || size < 2 || size - 2 > self->max_backups + 1)
        return -1;
    json_t *epoch = json_array_get (entry, 0);
    if (!json_is_integer (epoch) || json_integer_value (epoch) < 1 ||
        (uint64_t) json_integer_value (epoch) > version)
        return -1;
    partition->epoch = (uint64_t) json_integer_value (epoch);
    partition->backup_count = 0;
    partition->lost = false;
    partition->moving = false;
    for (size_t index = 1; index < size; index++) {
        json_t *id = json_array_get (entry, index);
        if (!json_is_string (id) || !s_valid_id (json_string_value (id)) ||
            strlen (json_string_value (id)) != json_string_length (id))
            return -1;
        uint32_t member = s_intern (members_p, count_p, json_string_value (id));
        if (member == S_NONE)
            return -1;
        if (index == 1)
            partition->owner = member;
        else if (s_holds (partition, backups, member))
            return -1; //  a member holds two replicas
        else
            backups[partition->backup_count++] = member;
    }
    return 0;
}

static int
s_parse (zdex_partition_table_t *self, json_t *root, char ***members_p, uint32_t *count_p,
         s_partition_t *partitions, uint32_t *backups, uint64_t *version_p)
{
    if (!json_is_object (root))
        return -1;
    const char *key;
    json_t *value;
    json_object_foreach (root, key, value) {
        if (strcmp (key, "version") != 0 && strcmp (key, "partitions") != 0 &&
            strcmp (key, "lost") != 0 && strcmp (key, "moves") != 0)
            return -1;
    }
    json_t *version = json_object_get (root, "version");
    json_t *entries = json_object_get (root, "partitions");
    json_t *lost = json_object_get (root, "lost");
    if (!json_is_integer (version) || json_integer_value (version) < 1 ||
        (uint64_t) json_integer_value (version) < self->version)
        return -1;
    *version_p = (uint64_t) json_integer_value (version);
    if (!json_is_array (entries) || json_array_size (entries) != self->partition_count)
        return -1;
    for (uint32_t p = 0; p < self->partition_count; p++)
        if (s_parse_entry (self, json_array_get (entries, p), *version_p, members_p, count_p,
                           &partitions[p], s_backups_of (backups, S_STRIDE (self), p)) != 0)
            return -1;
    if (lost) {
        if (!json_is_array (lost))
            return -1;
        size_t index;
        json_array_foreach (lost, index, value) {
            if (!json_is_integer (value) || json_integer_value (value) < 0 ||
                json_integer_value (value) >= (json_int_t) self->partition_count ||
                partitions[json_integer_value (value)].lost)
                return -1;
            partitions[json_integer_value (value)].lost = true;
        }
    }
    json_t *moves = json_object_get (root, "moves");
    if (moves) {
        if (!json_is_array (moves))
            return -1;
        size_t index;
        json_array_foreach (moves, index, value) {
            if (!json_is_integer (value) || json_integer_value (value) < 0 ||
                json_integer_value (value) >= (json_int_t) self->partition_count ||
                partitions[json_integer_value (value)].moving ||
                partitions[json_integer_value (value)].backup_count == 0)
                return -1;
            partitions[json_integer_value (value)].moving = true;
        }
    }
    //  Only a partition that moves has a slot above max_backups.
    for (uint32_t p = 0; p < self->partition_count; p++)
        if (partitions[p].backup_count > self->max_backups + partitions[p].moving)
            return -1;
    return 0;
}

int
zdex_partition_table_from_json (zdex_partition_table_t *self, const char *text)
{
    assert (self);
    if (!text)
        return -1;
    json_error_t error;
    json_t *root = json_loadb (text, strlen (text), JSON_REJECT_DUPLICATES, &error);
    if (!root)
        return -1;
    char **members = NULL;
    uint32_t member_count = 0;
    uint64_t version = 0;
    s_partition_t *partitions =
        (s_partition_t *) calloc (self->partition_count, sizeof (s_partition_t));
    uint32_t *backups =
        (uint32_t *) calloc ((size_t) self->partition_count * S_STRIDE (self), sizeof (uint32_t));
    int rc = -1;
    if (partitions && backups &&
        s_parse (self, root, &members, &member_count, partitions, backups, &version) == 0) {
        s_free_members (self->members, self->member_count);
        self->members = members;
        self->member_count = member_count;
        members = NULL;
        free (self->partitions);
        self->partitions = partitions;
        partitions = NULL;
        free (self->backups);
        self->backups = backups;
        backups = NULL;
        self->version = version;
        rc = 0;
    }
    s_free_members (members, member_count);
    free (partitions);
    free (backups);
    json_decref (root);
    return rc;
}

//  ---------------------------------------------------------------------------------
//  Accessors

void
zdex_partition_table_advance (zdex_partition_table_t *self, uint64_t version)
{
    assert (self);
    if (version > self->version)
        self->version = version;
}

const char *
zdex_partition_table_owner (zdex_partition_table_t *self, uint32_t p)
{
    assert (self);
    assert (p < self->partition_count);
    uint32_t owner = self->partitions[p].owner;
    return owner == S_NONE ? NULL : self->members[owner];
}

size_t
zdex_partition_table_backup_count (zdex_partition_table_t *self, uint32_t p)
{
    assert (self);
    assert (p < self->partition_count);
    return self->partitions[p].backup_count;
}

const char *
zdex_partition_table_backup (zdex_partition_table_t *self, uint32_t p, size_t index)
{
    assert (self);
    assert (p < self->partition_count);
    if (index >= self->partitions[p].backup_count)
        return NULL;
    return self->members[s_backups_of (self->backups, S_STRIDE (self), p)[index]];
}

uint64_t
zdex_partition_table_epoch (zdex_partition_table_t *self, uint32_t p)
{
    assert (self);
    assert (p < self->partition_count);
    return self->partitions[p].epoch;
}

bool
zdex_partition_table_lost (zdex_partition_table_t *self, uint32_t p)
{
    assert (self);
    assert (p < self->partition_count);
    return self->partitions[p].lost;
}

void
zdex_partition_table_clear_lost (zdex_partition_table_t *self, uint32_t p)
{
    assert (self);
    assert (p < self->partition_count);
    self->partitions[p].lost = false;
}

uint64_t
zdex_partition_table_version (zdex_partition_table_t *self)
{
    assert (self);
    return self->version;
}

size_t
zdex_partition_table_partitions_owned (zdex_partition_table_t *self, const char *member)
{
    assert (self);
    if (!member)
        return 0;
    uint32_t index = s_find ((const char *const *) self->members, self->member_count, member);
    size_t owned = 0;
    if (index != S_NONE)
        for (uint32_t p = 0; p < self->partition_count; p++)
            if (self->partitions[p].owner == index)
                owned++;
    return owned;
}

size_t
zdex_partition_table_underreplicated (zdex_partition_table_t *self)
{
    assert (self);
    size_t count = 0;
    for (uint32_t p = 0; p < self->partition_count; p++)
        if (self->partitions[p].backup_count - self->partitions[p].moving < self->max_backups)
            count++;
    return count;
}

uint32_t
zdex_partition_table_partition_count (zdex_partition_table_t *self)
{
    assert (self);
    return self->partition_count;
}

size_t
zdex_partition_table_max_backups (zdex_partition_table_t *self)
{
    assert (self);
    return self->max_backups;
}
