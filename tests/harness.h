//  harness: start and stop real zdexd and zdex-worker processes for integration
//  tests.  Binaries come from the environment (ZDEXD, ZDEX_WORKER, set by ctest).
//  Every member binds ephemeral loopback ports and reports them on its ready line;
//  every wait is bounded; only processes started here are signalled, by pid.

#ifndef HARNESS_H_INCLUDED
#define HARNESS_H_INCLUDED

#include <jansson.h>
#include <stdbool.h>
#include <sys/types.h>

#include "zdex.h"

typedef struct {
    pid_t pid;
    char member_id[128];
    char client[256];
    char worker[256];
    char cluster[256];
} harness_member_t;

//  Start zdexd with ephemeral endpoints plus extra arguments (NULL-terminated list,
//  may be NULL).  Waits up to 10 s for its ready line.  Returns 0 or -1.
int harness_member_start (harness_member_t *member, const char *const *extra_args);

//  Start zdex-worker connected to endpoint (or to several, comma-separated) with slots; count_file
//  may be NULL. Waits up to 10 s for its ready line.  Returns the pid or -1.
pid_t harness_worker_start (const char *endpoint, int slots, const char *name,
                            const char *count_file);

//  Send sig to pid (started here) and wait up to timeout_ms for it to exit.
//  Returns its wait status, or -1 if it did not exit in time (it is then killed).
int harness_stop (pid_t pid, int sig, int timeout_ms);

//  Wait (bounded) until the member reports at least count workers.  Returns 0 or -1.
int harness_wait_workers (const char *client_endpoint, int count, int timeout_ms);

//  Wait (bounded) until the member's view has at least count members.  Returns 0
//  or -1.
int harness_wait_members (const char *client_endpoint, int count, int timeout_ms);

//  SIGKILL and reap every process started here that is still running (a test's
//  teardown, so that a failed test leaves nothing behind for the next one).
void harness_kill_all (void);

//  A cmocka teardown that only does harness_kill_all: whatever a failed test left
//  running must not reach the next test's members through a reused port.
int harness_teardown (void **state);

//  A scratch directory for this test run (created on first use, under TMPDIR).
const char *harness_tmpdir (void);

//  Lines in a file (0 if absent).
int harness_count_lines (const char *path);

#endif
