//  zdex_protection: split-brain protection, the decision whether an op may run.
//
//  An executor or scheduler may name a rule of the configuration's
//  split_brain_protection section: {min_cluster_size, protect_on read | write |
//  read_write}.  Every client op is classed read, write or unchecked by its wire
//  name (never by its enum value, so new ops need no renumbering here):
//
//    read:      durable.retrieve, scheduled.get, scheduled.get_all, scheduled.status
//    write:     durable.submit, durable.execute, durable.submit_and_retrieve,
//               durable.dispose, durable.retrieve_and_dispose, durable.shutdown,
//               durable.shutdown_now, scheduled.schedule, scheduled.cancel, scheduled.dispose,
//               scheduled.shutdown
//    unchecked: everything else (cluster.*, durable.status, durable.stats,
//               scheduled.stats)
//
//  A read op is checked under read and read_write rules, a write op under write and
//  read_write rules.  A rule is met when this member's current view lists this
//  member and holds at least min_cluster_size members: the minority side of a split
//  sees fewer members, and a member that learnt it was removed (a view that leaves
//  it out) counts as alone until it is admitted again.  Hazelcast counts a rule as
//  not met until the cluster first reached its size; with "members >= min" as the
//  only function that needs no extra state: before the view first held
//  min_cluster_size members it held fewer, and before the first view it holds none.
//
//  Failure: SPLIT_BRAIN_PROTECTION with Hazelcast's text,
//  "Split brain protection exception: <rule> has failed!".
//
//  One instance per member, owned by the broker thread.

#ifndef ZDEX_PROTECTION_H_INCLUDED
#define ZDEX_PROTECTION_H_INCLUDED

#include "zdex_config.h"

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

//  Room for the failure message with the longest rule name.
#define ZDEX_PROTECTION_MESSAGE_MAX (ZDEX_CONFIG_NAME_MAX + 64)

typedef enum {
    ZDEX_PROTECTION_UNCHECKED = 0,
    ZDEX_PROTECTION_READ,
    ZDEX_PROTECTION_WRITE
} zdex_protection_class_t;

typedef struct _zdex_protection_t zdex_protection_t;

//  Create the protection of member member_id, with rules from config (borrowed,
//  must outlive it).  Until the first view it counts no members.  Caller owns.
zdex_protection_t *zdex_protection_new (zdex_config_t *config, const char *member_id);

//  Destroy and null.
void zdex_protection_destroy (zdex_protection_t **self_p);

//  Follow a new view, as zdex_cluster hands it to the broker:
//  {"members": [{"id": ...}, ...], ...}.  A view that does not list this member,
//  or that cannot be read, counts as no members.
void zdex_protection_set_view (zdex_protection_t *self, const char *view_json);

//  Members the rules are checked against (0 when this member is not in its view).
size_t zdex_protection_member_count (zdex_protection_t *self);

//  The class of an op by its wire name, e.g. "durable.submit".
zdex_protection_class_t zdex_protection_class (const char *op);

//  May op (wire name) run under rule (a rule name; NULL or "" means no rule)?
//  Returns 0 if so, or -1 with "Split brain protection exception: <rule> has
//  failed!" in message (size bytes, may be truncated).  A rule name the
//  configuration does not define counts as not met (the configuration refuses such
//  names, so this fails closed rather than unprotected).
int zdex_protection_check (zdex_protection_t *self, const char *op, const char *rule, char *message,
                           size_t size);

#ifdef __cplusplus
}
#endif

#endif
