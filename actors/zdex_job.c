//  zdex_job: the record that carries one task run between threads.

#include "zdex_job.h"

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
    zdex_job_t *self = (zdex_job_t *) calloc (1, sizeof (zdex_job_t));
    if (self) {
        self->executor = strdup (executor);
        self->type = strdup (type);
    }
    if (!self || !self->executor || !self->type) {
        zdex_job_destroy (&self);
        free (payload);
        return NULL;
    }
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
        free (self->executor);
        free (self->type);
        free (self->payload);
        free (self->result);
        free (self);
        *self_p = NULL;
    }
}

void
zdex_job_key (const char *executor, uint64_t task_id, char *buf, size_t size)
{
    snprintf (buf, size, "%" PRIu64 "/%s", task_id, executor);
}
