//  zdex_job: the record that carries one task run between threads.

#include "zdex_job.h"
#include "zdex_proto.h"

#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

zdex_job_t *
zdex_job_new (const char *executor, uint64_t task_id, uint32_t attempt, const char *type,
              char *payload)
{
    assert (executor);
    assert (type);
    //  The names live in the record's own block: one allocation, not three.
    size_t executor_size = strlen (executor) + 1, type_size = strlen (type) + 1;
    zdex_job_t *self = (zdex_job_t *) calloc (1, sizeof (zdex_job_t) + executor_size + type_size);
    if (!self) {
        free (payload);
        return NULL;
    }
    char *names = (char *) (self + 1);
    memcpy (names, executor, executor_size);
    memcpy (names + executor_size, type, type_size);
    self->executor = names;
    self->type = names + executor_size;
    self->task_id = task_id;
    self->attempt = attempt;
    self->payload = payload;
    return self;
}

void
zdex_job_destroy (zdex_job_t **self_p)
{
    assert (self_p);
    zdex_job_t *self = *self_p;
    if (self) {
        free (self->payload);
        free (self->result);
        free (self->ref);
        free (self->scheduler);
        free (self->name);
        free (self->state_text);
        free (self);
        *self_p = NULL;
    }
}

void
zdex_job_key (const char *executor, uint64_t task_id, char *buf, size_t size)
{
    //  Five keys a task: snprintf here was a tenth of a member's instructions.
    assert (size > ZDEX_U64_TEXT_MAX);
    size_t used = zdex_u64_text (task_id, buf);
    buf[used++] = '/';
    size_t length = strlen (executor);
    if (length > size - used - 1)
        length = size - used - 1; //  as snprintf: truncated (names are bounded far below)
    memcpy (buf + used, executor, length);
    buf[used + length] = '\0';
}

int
zdex_job_set_scheduled (zdex_job_t *self, const char *ref, const char *scheduler, const char *name,
                        int32_t partition, const char *state_text)
{
    assert (self);
    assert (ref && scheduler && name);
    self->ref = strdup (ref);
    self->scheduler = strdup (scheduler);
    self->name = strdup (name);
    self->state_text = state_text ? strdup (state_text) : NULL;
    self->partition = partition;
    if (!self->ref || !self->scheduler || !self->name || (state_text && !self->state_text))
        return -1;
    return 0;
}

void
zdex_job_scheduler_name (const char *scheduler, char *buf, size_t size)
{
    snprintf (buf, size, "\xffs:%s", scheduler);
}

void
zdex_job_key_of (const zdex_job_t *self, char *buf, size_t size)
{
    if (self->ref)
        snprintf (buf, size, "s/%s", self->ref);
    else
        zdex_job_key (self->executor, self->task_id, buf, size);
}
