//  zdex-worker: an example worker, also used by the integration and fault tests.
//
//  Task types:
//    echo     returns the payload
//    sleep    payload {"ms": N, ...}: sleeps N ms (0..3600000), returns the payload
//    fail     fails with the payload's "message" string, or "failed"
//    counter  stateful (scheduled tasks): state {"n": k} (absent or null: k = 0)
//             gives the value k + 1 and the new state {"n": k + 1}; with payload
//             {"fail_at": N} the run that reaches N fails ("counter reached N"),
//             which ends a periodic task and shows how far its state got
//  echo and fail are trivial and never block, so they run inline, in the worker's
//  loop (no hand-off to an executor thread); sleep and counter run on the slots.
//  With --count-file PATH, appends "type attempt ref-json" to PATH before each task
//  runs (one write per line, so concurrent slots never interleave), which lets fault
//  tests count how often a task ran.  Prints "zdex-worker ready" once worker.ready
//  is sent.  SIGINT/SIGTERM: sends worker.bye and exits 0.

#include "zdex.h"

#include <czmq.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define S_MAX_SLEEP_MS   3600000
#define S_SLEEP_SLICE_MS 20
#define S_MAX_ENDPOINTS  64

typedef struct {
    zdex_worker_t *worker;
    int count_fd; //  -1: no count file
} s_app_t;

static int
s_echo (const char *type, json_t *payload, json_t **value_p, char **error_p, void *arg)
{
    (void) type;
    (void) error_p;
    (void) arg;
    *value_p = json_incref (payload);
    return 0;
}

static int
s_sleep (const char *type, json_t *payload, json_t **value_p, char **error_p, void *arg)
{
    (void) type;
    s_app_t *app = (s_app_t *) arg;
    json_t *ms = json_object_get (payload, "ms");
    if (!json_is_integer (ms) || json_integer_value (ms) < 0 ||
        json_integer_value (ms) > S_MAX_SLEEP_MS) {
        *error_p = zsys_sprintf ("sleep: payload.ms must be an integer 0..%d", S_MAX_SLEEP_MS);
        return -1;
    }
    //  Sleep in slices so that a stopping worker does not wait for a long task.
    int64_t deadline = zclock_mono () + json_integer_value (ms);
    while (true) {
        int64_t remaining = deadline - zclock_mono ();
        if (remaining <= 0)
            break;
        if (zdex_worker_stopped (app->worker)) {
            *error_p = strdup ("sleep: worker stopping");
            return -1;
        }
        zclock_sleep ((int) (remaining < S_SLEEP_SLICE_MS ? remaining : S_SLEEP_SLICE_MS));
    }
    *value_p = json_incref (payload);
    return 0;
}

static int
s_fail (const char *type, json_t *payload, json_t **value_p, char **error_p, void *arg)
{
    (void) type;
    (void) value_p;
    (void) arg;
    const char *message = json_string_value (json_object_get (payload, "message"));
    *error_p = strdup (message ? message : "failed");
    return -1;
}

static int
s_counter (const char *type, json_t *payload, json_t *state, json_t **value_p, json_t **state_p,
           char **error_p, void *arg)
{
    (void) type;
    (void) arg;
    json_int_t count = 0;
    json_t *fail_at = json_object_get (payload, "fail_at");
    if (state && !json_is_null (state)) {
        json_t *n = json_object_get (state, "n");
        if (!json_is_object (state) || !json_is_integer (n) || json_integer_value (n) < 0 ||
            json_integer_value (n) >= INT64_MAX) {
            *error_p = strdup ("counter: state must be {\"n\": a non-negative integer}");
            return -1;
        }
        count = json_integer_value (n);
    }
    *state_p = json_pack ("{s:I}", "n", count + 1);
    if (json_is_integer (fail_at) && json_integer_value (fail_at) == count + 1) {
        *error_p = zsys_sprintf ("counter reached %" JSON_INTEGER_FORMAT, count + 1);
        return -1;
    }
    *value_p = json_integer (count + 1);
    return 0;
}

static void
s_count (const char *type, int64_t attempt, const char *ref_json, void *arg)
{
    s_app_t *app = (s_app_t *) arg;
    char *line = zsys_sprintf ("%s %" PRId64 " %s\n", type, attempt, ref_json);
    if (!line)
        return;
    size_t size = strlen (line);
    //  O_APPEND and a single write keep lines from concurrent slots whole.
    if (write (app->count_fd, line, size) != (ssize_t) size)
        fprintf (stderr, "zdex-worker: cannot write count file: %s\n", strerror (errno));
    free (line);
}

static void
s_ready (zdex_worker_t *worker, void *arg)
{
    (void) worker;
    (void) arg;
    printf ("zdex-worker ready\n");
    fflush (stdout);
}

static int
s_usage (const char *message, const char *detail)
{
    if (message) {
        fprintf (stderr, "zdex-worker: ");
        fprintf (stderr, message, detail);
        fprintf (stderr, "\n");
    }
    fprintf (message ? stderr : stdout,
             "usage: zdex-worker [OPTIONS]\n"
             "  --connect EP            member worker endpoint; repeatable\n"
             "                          (default " ZDEX_WORKER_DEFAULT_ENDPOINT ")\n"
             "  --slots N               tasks run at once (default 4)\n"
             "  --name NAME             name sent in worker.ready (default zdex-worker-PID)\n"
             "  --count-file PATH       append \"type attempt ref-json\" per task run\n"
             "  --heartbeat MS          heartbeat interval (default 1000)\n"
             "  --heartbeat-timeout MS  member silence taken as loss (default 3000)\n"
             "  --help\n"
             "Task types: echo, sleep ({\"ms\": N}), fail ({\"message\": S}),\n"
             "counter (stateful: returns n+1 and keeps {\"n\": n+1} as its state).\n"
             "echo and fail run inline in the worker's loop and take no slot.\n");
    return message ? 2 : 0;
}

//  Parse an integer option value in [low, high]; returns 0 or -1.
static int
s_parse_int (const char *text, long low, long high, int *value_p)
{
    char *end = NULL;
    errno = 0;
    long value = strtol (text, &end, 10);
    if (errno || end == text || *end != '\0' || value < low || value > high)
        return -1;
    *value_p = (int) value;
    return 0;
}

int
main (int argc, char *argv[])
{
    const char *endpoints[S_MAX_ENDPOINTS];
    int endpoint_count = 0;
    int slots = 4;
    int heartbeat_ms = 1000;
    int timeout_ms = 3000;
    const char *name = NULL;
    const char *count_file = NULL;
    //  stdout carries only the ready line (a supervisor may stop reading it): logs go
    //  to stderr, and a closed output must not kill the worker.
    zsys_set_logstream (stderr);
    signal (SIGPIPE, SIG_IGN);

    for (int index = 1; index < argc; index++) {
        const char *arg = argv[index];
        if (streq (arg, "--help"))
            return s_usage (NULL, NULL);
        if (index + 1 >= argc)
            return s_usage ("unknown option or missing value: '%s'", arg);
        const char *value = argv[++index];
        if (streq (arg, "--connect")) {
            if (endpoint_count == S_MAX_ENDPOINTS)
                return s_usage ("too many endpoints at '%s'", value);
            endpoints[endpoint_count++] = value;
        } else if (streq (arg, "--slots")) {
            if (s_parse_int (value, 1, 4096, &slots))
                return s_usage ("--slots needs an integer 1..4096, not '%s'", value);
        } else if (streq (arg, "--name"))
            name = value;
        else if (streq (arg, "--count-file"))
            count_file = value;
        else if (streq (arg, "--heartbeat")) {
            if (s_parse_int (value, 1, 600000, &heartbeat_ms))
                return s_usage ("--heartbeat needs an integer 1..600000, not '%s'", value);
        } else if (streq (arg, "--heartbeat-timeout")) {
            if (s_parse_int (value, 2, 3600000, &timeout_ms))
                return s_usage ("--heartbeat-timeout needs an integer 2..3600000, not '%s'", value);
        } else
            return s_usage ("unknown option '%s'", arg);
    }
    if (timeout_ms <= heartbeat_ms)
        return s_usage ("%s", "--heartbeat-timeout must be above --heartbeat");
    if (endpoint_count == 0)
        endpoints[endpoint_count++] = ZDEX_WORKER_DEFAULT_ENDPOINT;

    s_app_t app = {NULL, -1};
    if (count_file) {
        app.count_fd = open (count_file, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (app.count_fd < 0) {
            fprintf (stderr, "zdex-worker: cannot open %s: %s\n", count_file, strerror (errno));
            return 1;
        }
    }
    char default_name[64];
    if (!name) {
        snprintf (default_name, sizeof default_name, "zdex-worker-%d", (int) getpid ());
        name = default_name;
    }
    app.worker = zdex_worker_new (name);
    zdex_worker_set_slots (app.worker, slots);
    zdex_worker_set_heartbeat (app.worker, heartbeat_ms, timeout_ms);
    //  Inline: they only copy or read the payload, and touch nothing of app.
    zdex_worker_handle_inline (app.worker, "echo", s_echo, NULL);
    zdex_worker_handle (app.worker, "sleep", s_sleep, &app);
    zdex_worker_handle_inline (app.worker, "fail", s_fail, NULL);
    zdex_worker_handle_stateful (app.worker, "counter", s_counter, &app);
    zdex_worker_set_ready_fn (app.worker, s_ready, &app);
    if (app.count_fd >= 0)
        zdex_worker_set_task_fn (app.worker, s_count, &app);
    int rc = 0;
    for (int index = 0; index < endpoint_count && rc == 0; index++)
        if (zdex_worker_connect (app.worker, endpoints[index])) {
            fprintf (stderr, "zdex-worker: cannot connect to '%s'\n", endpoints[index]);
            rc = 1;
        }
    if (rc == 0 && zdex_worker_run (app.worker))
        rc = 1;
    zdex_worker_destroy (&app.worker);
    if (app.count_fd >= 0)
        close (app.count_fd);
    return rc;
}
