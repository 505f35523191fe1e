//  zdex_registry: executor records by name, created on first use, bounded.

#include "zdex_hash_table.h"
#include "zdex_registry.h"
#include "zdex_job.h"
#include "zdex_proto.h"

struct _zdex_registry_t {
    zdex_config_t *config;
    size_t max_executors;
    zhashx_t *executors; //  name → zdex_executor_t
    //  The executor found last: a task's path looks its executor up about seven
    //  times, nearly always the same one, and records are never removed, so a
    //  name compare saves a keyed hash each time.
    zdex_executor_t *last;
};

//  The executor stored under key, or NULL.
static zdex_executor_t *
s_find (zdex_registry_t *self, const char *key)
{
    if (self->last && strcmp (self->last->name, key) == 0)
        return self->last;
    zdex_executor_t *executor = (zdex_executor_t *) zhashx_lookup (self->executors, key);
    if (executor)
        self->last = executor;
    return executor;
}

static void
s_executor_destroy (void **item_p)
{
    zdex_executor_t *executor = (zdex_executor_t *) *item_p;
    if (executor) {
        //  The dispatcher empties its queues before the registry goes.
        zhashx_destroy (&executor->queues);
        free (executor->name);
        free (executor);
        *item_p = NULL;
    }
}

zdex_registry_t *
zdex_registry_new (zdex_config_t *config, size_t max_executors)
{
    assert (config);
    zdex_registry_t *self = (zdex_registry_t *) zmalloc (sizeof (zdex_registry_t));
    assert (self);
    self->config = config;
    self->max_executors = max_executors;
    self->executors = zdex_hash_table_new ();
    assert (self->executors);
    zhashx_set_destructor (self->executors, s_executor_destroy);
    return self;
}

void
zdex_registry_destroy (zdex_registry_t **self_p)
{
    assert (self_p);
    zdex_registry_t *self = *self_p;
    if (self) {
        zhashx_destroy (&self->executors);
        free (self);
        *self_p = NULL;
    }
}

zdex_executor_t *
zdex_registry_require (zdex_registry_t *self, const char *name)
{
    assert (self);
    zdex_executor_t *executor = s_find (self, name);
    if (executor)
        return executor;
    if (zhashx_size (self->executors) >= self->max_executors)
        return NULL;
    executor = (zdex_executor_t *) zmalloc (sizeof (zdex_executor_t));
    assert (executor);
    executor->name = strdup (name);
    assert (executor->name);
    zdex_config_durable (self->config, name, &executor->config);
    executor->stats.creation_time_ms = zclock_time ();
    executor->queues = zdex_hash_table_new ();
    assert (executor->queues);
    zhashx_insert (self->executors, name, executor);
    return executor;
}

zdex_executor_t *
zdex_registry_lookup (zdex_registry_t *self, const char *name)
{
    assert (self);
    return s_find (self, name);
}

zdex_executor_t *
zdex_registry_first (zdex_registry_t *self)
{
    assert (self);
    return (zdex_executor_t *) zhashx_first (self->executors);
}

zdex_executor_t *
zdex_registry_next (zdex_registry_t *self)
{
    assert (self);
    return (zdex_executor_t *) zhashx_next (self->executors);
}

zdex_executor_t *
zdex_registry_require_scheduler (zdex_registry_t *self, const char *name, bool force)
{
    assert (self);
    char key[ZDEX_MAX_NAME_BYTES + 8];
    zdex_job_scheduler_name (name, key, sizeof key);
    zdex_executor_t *executor = s_find (self, key);
    if (executor)
        return executor;
    if (!force && zhashx_size (self->executors) >= self->max_executors)
        return NULL;
    executor = (zdex_executor_t *) zmalloc (sizeof (zdex_executor_t));
    assert (executor);
    executor->name = strdup (key);
    assert (executor->name);
    executor->scheduler = true;
    zdex_config_scheduled (self->config, name, &executor->scheduled);
    zdex_config_durable (self->config, name, &executor->config);
    executor->config.pool_size = executor->scheduled.pool_size;
    executor->config.statistics_enabled = executor->scheduled.statistics_enabled;
    executor->stats.creation_time_ms = zclock_time ();
    executor->queues = zdex_hash_table_new ();
    assert (executor->queues);
    zhashx_insert (self->executors, key, executor);
    return executor;
}

zdex_executor_t *
zdex_registry_lookup_scheduler (zdex_registry_t *self, const char *name)
{
    assert (self);
    char key[ZDEX_MAX_NAME_BYTES + 8];
    zdex_job_scheduler_name (name, key, sizeof key);
    return s_find (self, key);
}
