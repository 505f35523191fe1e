//  zdex_job: one execution of a durable task, as it travels from the partition
//  actor that stores it to the dispatcher that hands it to a worker, and back to
//  the partition actor with the worker's result.
//
//  The job is moved between threads by pointer, never shared: whoever holds the
//  pointer owns the job.  One allocation carries a task through its whole run, so
//  the hot path allocates nothing else per task.  The dispatcher's bookkeeping
//  fields are meaningful only while the dispatcher owns the job.

#ifndef ZDEX_JOB_H_INCLUDED
#define ZDEX_JOB_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    ZDEX_JOB_QUEUED = 0, //  waiting for a worker slot
    ZDEX_JOB_RUNNING,    //  handed to a worker
    ZDEX_JOB_DONE        //  carries a result back to the partition
} zdex_job_state_t;

typedef struct _zdex_job_t {
    char *executor; //  in the record's own block (not freed on its own)
    uint64_t task_id;
    uint32_t attempt; //  current attempt; results for other attempts are dropped
    char *type;       //  in the record's own block (not freed on its own)
    char *payload;    //  owned JSON text
    //  Result, once DONE
    bool ok;
    char *result; //  owned JSON text: the value, or the failure cause string
    //  A run of a scheduled task (ref != NULL): executor is the scheduler's registry
    //  name (zdex_job_scheduler_name), task_id the run number, ref the task's
    //  handler URN, state the task's state JSON text (NULL: none).
    char *ref;         //  owned
    char *scheduler;   //  owned: the scheduler's own name
    char *name;        //  owned: the task's name
    int32_t partition; //  the task's partition, or -1 (member bin)
    char *state_text;  //  owned: state handed to the worker; the new state after
    //  Dispatcher bookkeeping
    zdex_job_state_t state;
    bool cancelled;    //  disposed while running: drop the result
    int64_t queued_at; //  zclock_mono ms
    int64_t started_at;
    void *worker; //  the dispatcher's worker record while RUNNING
    void *queue;  //  the dispatcher's queue while QUEUED
    void *handle; //  position in that queue
} zdex_job_t;

//  Create a job; copies executor and type, takes ownership of payload.  Caller
//  owns the job.  Returns NULL when out of memory (payload is then freed).
zdex_job_t *zdex_job_new (const char *executor, uint64_t task_id, uint32_t attempt,
                          const char *type, char *payload);

//  Destroy and null.
void zdex_job_destroy (zdex_job_t **self_p);

//  Make job a run of a scheduled task (see the fields); copies the strings.
//  Returns 0, or -1 when out of memory.
int zdex_job_set_scheduled (zdex_job_t *self, const char *ref, const char *scheduler,
                            const char *name, int32_t partition, const char *state_text);

//  The dispatcher's registry name of a scheduler: a byte no JSON name can hold
//  (0xFF is never valid UTF-8) before "s:", so that it cannot meet an executor.
//  buf gets at most size bytes, NUL-ended.
void zdex_job_scheduler_name (const char *scheduler, char *buf, size_t size);

//  Key naming the job's task in the dispatcher: zdex_job_key for a durable task,
//  "s/<ref>" for a scheduled one.
void zdex_job_key_of (const zdex_job_t *self, char *buf, size_t size);

//  Longest key either function writes (URNs hold two names).
#define ZDEX_JOB_KEY_MAX 2200

//  Key naming the task across executors: "<task_id>/<executor>" in buf (NUL-ended,
//  truncated to size).  Used for the dispatcher's maps.
void zdex_job_key (const char *executor, uint64_t task_id, char *buf, size_t size);

#ifdef __cplusplus
}
#endif

#endif
