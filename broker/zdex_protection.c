//  zdex_protection: split-brain protection rules checked against this member's view.
//
//  The member count is taken when a view is installed, not asked of zdex_cluster
//  per request: the broker is told of every view, and a view that leaves this
//  member out (it was removed and is rejoining) must count as none, which only the
//  view's member list tells.

#include "zdex_protection.h"

#include <jansson.h>
#include <string.h>

struct _zdex_protection_t {
    zdex_config_t *config; //  borrowed
    char *member_id;       //  owned
    size_t member_count;   //  in the current view; 0 when it does not list us
};

//  Classes by wire name; any other name is unchecked.
typedef struct {
    const char *op;
    zdex_protection_class_t class_;
} s_op_class_t;

static const s_op_class_t s_op_classes[] = {
    {"durable.retrieve", ZDEX_PROTECTION_READ},
    {"scheduled.get", ZDEX_PROTECTION_READ},
    {"scheduled.get_all", ZDEX_PROTECTION_READ},
    {"scheduled.status", ZDEX_PROTECTION_READ},
    {"durable.submit", ZDEX_PROTECTION_WRITE},
    {"durable.execute", ZDEX_PROTECTION_WRITE},
    {"durable.submit_and_retrieve", ZDEX_PROTECTION_WRITE},
    {"durable.dispose", ZDEX_PROTECTION_WRITE},
    {"durable.retrieve_and_dispose", ZDEX_PROTECTION_WRITE},
    {"durable.shutdown", ZDEX_PROTECTION_WRITE},
    {"durable.shutdown_now", ZDEX_PROTECTION_WRITE},
    {"scheduled.schedule", ZDEX_PROTECTION_WRITE},
    {"scheduled.cancel", ZDEX_PROTECTION_WRITE},
    {"scheduled.dispose", ZDEX_PROTECTION_WRITE},
    {"scheduled.shutdown", ZDEX_PROTECTION_WRITE},
};

zdex_protection_t *
zdex_protection_new (zdex_config_t *config, const char *member_id)
{
    assert (config);
    assert (member_id);
    zdex_protection_t *self = (zdex_protection_t *) zmalloc (sizeof (zdex_protection_t));
    assert (self);
    self->config = config;
    self->member_id = strdup (member_id);
    assert (self->member_id);
    return self;
}

void
zdex_protection_destroy (zdex_protection_t **self_p)
{
    assert (self_p);
    zdex_protection_t *self = *self_p;
    if (self) {
        free (self->member_id);
        free (self);
        *self_p = NULL;
    }
}

void
zdex_protection_set_view (zdex_protection_t *self, const char *view_json)
{
    assert (self);
    size_t count = 0;
    bool listed = false;
    json_t *view = view_json ? json_loads (view_json, JSON_REJECT_DUPLICATES, NULL) : NULL;
    json_t *members = json_object_get (view, "members");
    if (json_is_array (members)) {
        count = json_array_size (members);
        size_t index;
        json_t *member;
        json_array_foreach (members, index, member) {
            const char *id = json_string_value (json_object_get (member, "id"));
            if (id && streq (id, self->member_id))
                listed = true;
        }
    }
    json_decref (view);
    self->member_count = listed ? count : 0;
}

size_t
zdex_protection_member_count (zdex_protection_t *self)
{
    assert (self);
    return self->member_count;
}

zdex_protection_class_t
zdex_protection_class (const char *op)
{
    if (!op)
        return ZDEX_PROTECTION_UNCHECKED;
    for (size_t index = 0; index < sizeof s_op_classes / sizeof s_op_classes[0]; index++)
        if (streq (s_op_classes[index].op, op))
            return s_op_classes[index].class_;
    return ZDEX_PROTECTION_UNCHECKED;
}

int
zdex_protection_check (zdex_protection_t *self, const char *op, const char *rule, char *message,
                       size_t size)
{
    assert (self);
    assert (message || size == 0);
    if (!rule || !*rule)
        return 0;
    zdex_protection_class_t class_ = zdex_protection_class (op);
    if (class_ == ZDEX_PROTECTION_UNCHECKED)
        return 0;
    zdex_protection_config_t config;
    if (zdex_config_protection (self->config, rule, &config) == 0) {
        zdex_protect_on_t own =
            class_ == ZDEX_PROTECTION_READ ? ZDEX_PROTECT_READ : ZDEX_PROTECT_WRITE;
        bool applies = config.protect_on == own || config.protect_on == ZDEX_PROTECT_READ_WRITE;
        if (!applies || self->member_count >= (size_t) config.min_cluster_size)
            return 0;
    }
    if (size > 0)
        snprintf (message, size, "Split brain protection exception: %s has failed!", rule);
    return -1;
}
