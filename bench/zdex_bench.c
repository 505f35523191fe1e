//  zdex-bench: throughput and latency benchmark for one zdex member.
//
//  Speaks the wire protocol directly (czmq + jansson, never libzdex) on one DEALER
//  connected to a member's client endpoint, so the figures measure the member and
//  its workers rather than the client library.  It keeps `depth` tasks outstanding
//  at all times, pipelined on that one socket; every request carries the task's
//  index as "req", and a per-task state array says which reply (submit or
//  retrieve) the task is waiting for, so replies may come back in any order.
//
//  Modes: submit-retrieve sends durable.submit, then on its reply durable.retrieve
//  without timeout_ms (parked until the task is done) and checks that the result
//  equals the payload; the latency runs from the submit send to the retrieve
//  reply.  execute sends durable.execute; the latency runs from send to ack.
//  memory runs submit-retrieve (default 1,000,000 tasks) against a member started
//  with a generated config whose executor capacity holds every result, and
//  reports the member's VmRSS growth per stored task.  Latencies go into a
//  zdex_hist (log-bucketed, at most 1/16 above the truth).
//
//  CPU time of every process of the run (this one, zdexd, the workers) is taken
//  from /proc when the first task is sent and when the last one finishes, and the
//  peak RSS (VmHWM) just before the processes are stopped (zdex_procset).
//
//  Without --connect the bench starts its own zdexd (fork/execv, stdout on a pipe
//  from which it reads the ready line, then forwards whatever else the member
//  prints to stderr) and its zdex-worker processes, waits until cluster.workers
//  lists them, and at the end stops only those pids: SIGTERM, up to 5 s, SIGKILL.
//  stdout carries exactly one JSON record; everything for humans goes to stderr.

#include "zdex_hist.h"
#include "zdex_procset.h"

#include <czmq.h>
#include <jansson.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#define BENCH_TASK_TYPE          "echo"
#define BENCH_READY_TIMEOUT_MS   10000   //  zdexd must print its ready line by then
#define BENCH_WORKERS_TIMEOUT_MS 10000   //  workers must be listed by then
#define BENCH_WORKERS_POLL_MS    20      //  pause between cluster.workers polls
#define BENCH_CONNECT_PROBE_MS   2000    //  --connect: how long to wait for the worker list
#define BENCH_STOP_GRACE_MS      5000    //  SIGTERM to SIGKILL
#define BENCH_MAX_ERROR_REPORTS  10      //  detailed error lines before going quiet
#define BENCH_MAX_READ_PER_CALL  65536   //  member stdout forwarded per poll round
#define BENCH_PARTITIONS         271     //  --partition-count given to the zdexd we start
#define BENCH_MEMORY_TASKS       1000000 //  --mode memory: default --tasks
#define BENCH_MEMORY_SECONDS     900     //  --mode memory: default --max-seconds
#define BENCH_MEMORY_SETTLE_MS   1000    //  pause before VmRSS is read, before and after

//  Per-task state; the index of a task is its "req".
enum { TASK_IDLE = 0, TASK_SUBMIT_SENT, TASK_RETRIEVE_SENT, TASK_DONE, TASK_FAILED };

//  Child process status bits returned by s_check_children.
#define CHILD_MEMBER_DIED 1
#define CHILD_WORKER_DIED 2

typedef struct {
    //  Options
    long tasks;
    long depth;
    long payload_bytes;
    const char *executor; //  NULL: field omitted, the member uses "default"
    bool execute_mode;
    bool memory_mode; //  submit-retrieve, plus the VmRSS measurement
    bool tasks_set;   //  --tasks given (memory mode has its own default)
    bool max_seconds_set;
    long pool_size;      //  0: the member's default; else written into the config
    long port;           //  0: ephemeral ports; else client P, worker P+1, cluster P+2
    bool cdf;            //  add "latency_cdf" to the record
    const char *connect; //  NULL: start our own member and workers
    char *zdexd_path;
    long workers;
    char *worker_path;
    long slots;
    bool json_only;
    long max_seconds;

    int64_t deadline; //  zclock_usecs () bound for the whole run

    //  Processes we started: children[0] is zdexd, then the workers.  A pid of 0
    //  means never started or already reaped, so nothing else is ever signalled.
    pid_t *children;
    long child_count;
    int member_out; //  read end of zdexd's stdout, -1 when closed
    char *member_id;
    char *client_ep;
    char *worker_ep;
    long workers_seen; //  as listed by cluster.workers
    long slots_seen;   //  sum of their slots
    char *config_path; //  generated zdexd config, removed once zdexd has read it
    long capacity;     //  memory mode: ring slots per partition in that config
    zdex_procset_t *procs;

    //  Memory mode: tasks per partition (from the task_id), to prove no ring
    //  wrapped (a partition with more tasks than `capacity` would overwrite results)
    long *partition_tasks;
    int64_t rss_before_kb;
    int64_t rss_after_kb;

    zsock_t *dealer;
    void *handle; //  the DEALER's libzmq socket, for zmq_poll and zmq_msg_recv
    long probe_seq;

    //  Request text built once: a hot path that re-encoded the payload with jansson
    //  would measure the bench, not the member.
    char *exec_field; //  ",\"executor\":\"name\"" or ""
    char *payload;    //  payload_bytes 'x' characters, to compare results with
    char *submit_tail;
    size_t submit_tail_len;
    char *sendbuf; //  submit (or execute) head, then index and tail per request
    size_t submit_head_len;
    char *retrieve_buf; //  room for one durable.retrieve
    size_t retrieve_size;

    //  Per-task bookkeeping, indexed by req
    uint8_t *state;
    int64_t *sent_at;
    long next;      //  next task index to start
    long active;    //  tasks started and not finished
    long pending;   //  requests sent whose reply has not come back
    long completed; //  finished and checked
    long failed;
    long errors;
    long reported; //  error lines printed so far
    bool fatal;    //  socket failure or member death: stop now
    bool timed_out;
    bool interrupted;

    zdex_hist_t *latency;
    zdex_hist_t *submit_ack; //  submit-retrieve mode: submit send to its reply
    int64_t started_at;
    int64_t finished_at;
    int64_t last_done_at;
    int64_t tick_at;
    long tick_done;
} bench_t;

//  --------------------------------------------------------------------------
//  Small helpers

static int64_t
s_min64 (int64_t a, int64_t b)
{
    return a < b ? a : b;
}

static void
s_write_stderr (const char *data, size_t size)
{
    while (size > 0) {
        ssize_t rc = write (STDERR_FILENO, data, size);
        if (rc < 0 && errno == EINTR)
            continue;
        if (rc <= 0)
            return;
        data += rc;
        size -= (size_t) rc;
    }
}

//  Counts one error and describes the first few on stderr.
static void
s_error (bench_t *self, const char *format, ...)
{
    self->errors++;
    if (self->reported++ >= BENCH_MAX_ERROR_REPORTS) {
        if (self->reported == BENCH_MAX_ERROR_REPORTS + 1)
            fprintf (stderr, "zdex-bench: further errors are counted, not shown\n");
        return;
    }
    va_list args;
    va_start (args, format);
    fprintf (stderr, "zdex-bench: error: ");
    vfprintf (stderr, format, args);
    fprintf (stderr, "\n");
    va_end (args);
}

static bool
s_parse_long (const char *text, long min, long max, long *out)
{
    char *end = NULL;
    errno = 0;
    long value = strtol (text, &end, 10);
    if (errno || end == text || *end || value < min || value > max)
        return false;
    *out = value;
    return true;
}

//  Path of `name` in the directory holding this binary.  Caller owns.
static char *
s_sibling_path (const char *argv0, const char *name)
{
    char exe[PATH_MAX];
    ssize_t len = readlink ("/proc/self/exe", exe, sizeof exe - 1);
    if (len > 0)
        exe[len] = 0;
    else
        snprintf (exe, sizeof exe, "%s", argv0);
    char *slash = strrchr (exe, '/');
    if (slash)
        return zsys_sprintf ("%.*s/%s", (int) (slash - exe), exe, name);
    return zsys_sprintf ("./%s", name);
}

//  Path from the environment variable if set and non-empty, else next to us.
static char *
s_default_path (const char *env, const char *argv0, const char *name)
{
    const char *value = getenv (env);
    if (value && *value)
        return strdup (value);
    return s_sibling_path (argv0, name);
}

//  --------------------------------------------------------------------------
//  Options

static void
s_usage (FILE *out)
{
    fprintf (out,
             "usage: zdex-bench [options]\n"
             "  --tasks N            tasks to run (default 100000; memory mode 1000000)\n"
             "  --depth D            tasks outstanding at all times (default 100)\n"
             "  --payload-bytes B    payload is a JSON string of B 'x' (default 100)\n"
             "  --executor NAME      durable executor (default: field omitted = \"default\")\n"
             "  --mode M             submit-retrieve (default), execute or memory\n"
             "  --connect EP         client endpoint of a running member; else start one\n"
             "  --zdexd PATH         member binary (default $ZDEXD, else zdexd next to us)\n"
             "  --workers N          worker processes to start (default 1)\n"
             "  --worker PATH        worker binary (default $ZDEX_WORKER, else zdex-worker)\n"
             "  --slots S            --slots for each worker (default 64)\n"
             "  --pool-size P        executor pool_size in a generated zdexd config\n"
             "                       (default: the member's own, 16)\n"
             "  --port P             zdexd on 127.0.0.1 ports P, P+1, P+2 (default: ephemeral)\n"
             "  --cdf                add the latency CDF to the record (\"latency_cdf\")\n"
             "  --max-seconds S      abort with exit 1 after S seconds (default 120;\n"
             "                       memory mode 900)\n"
             "  --json-only          no progress lines or table on stderr\n"
             "  --help               this text\n"
             "stdout: one JSON record; exit 0 only if every task completed without error\n");
}

//  Returns 0 to run, 1 after --help, -1 on a usage error.
static int
s_parse_options (bench_t *self, int argc, char *argv[])
{
    enum {
        OPT_TASKS = 256,
        OPT_DEPTH,
        OPT_PAYLOAD,
        OPT_EXECUTOR,
        OPT_MODE,
        OPT_CONNECT,
        OPT_ZDEXD,
        OPT_WORKERS,
        OPT_WORKER,
        OPT_SLOTS,
        OPT_POOL_SIZE,
        OPT_PORT,
        OPT_CDF,
        OPT_JSON_ONLY,
        OPT_MAX_SECONDS,
        OPT_HELP
    };
    static const struct option options[] = {
        {"tasks", required_argument, NULL, OPT_TASKS},
        {"depth", required_argument, NULL, OPT_DEPTH},
        {"payload-bytes", required_argument, NULL, OPT_PAYLOAD},
        {"executor", required_argument, NULL, OPT_EXECUTOR},
        {"mode", required_argument, NULL, OPT_MODE},
        {"connect", required_argument, NULL, OPT_CONNECT},
        {"zdexd", required_argument, NULL, OPT_ZDEXD},
        {"workers", required_argument, NULL, OPT_WORKERS},
        {"worker", required_argument, NULL, OPT_WORKER},
        {"slots", required_argument, NULL, OPT_SLOTS},
        {"pool-size", required_argument, NULL, OPT_POOL_SIZE},
        {"port", required_argument, NULL, OPT_PORT},
        {"cdf", no_argument, NULL, OPT_CDF},
        {"json-only", no_argument, NULL, OPT_JSON_ONLY},
        {"max-seconds", required_argument, NULL, OPT_MAX_SECONDS},
        {"help", no_argument, NULL, OPT_HELP},
        {NULL, 0, NULL, 0}};
    const char *zdexd = NULL;
    const char *worker = NULL;
    int opt;
    while ((opt = getopt_long (argc, argv, "", options, NULL)) != -1) {
        bool good = true;
        switch (opt) {
        case OPT_TASKS:
            good = s_parse_long (optarg, 1, 1000000000L, &self->tasks);
            self->tasks_set = true;
            break;
        case OPT_DEPTH:
            good = s_parse_long (optarg, 1, 1000000L, &self->depth);
            break;
        case OPT_PAYLOAD:
            good = s_parse_long (optarg, 0, 64L * 1024 * 1024, &self->payload_bytes);
            break;
        case OPT_EXECUTOR:
            self->executor = optarg;
            good = *optarg != 0;
            break;
        case OPT_MODE:
            self->execute_mode = streq (optarg, "execute");
            self->memory_mode = streq (optarg, "memory");
            good = self->execute_mode || self->memory_mode || streq (optarg, "submit-retrieve");
            break;
        case OPT_CONNECT:
            self->connect = optarg;
            good = *optarg != 0;
            break;
        case OPT_ZDEXD:
            zdexd = optarg;
            break;
        case OPT_WORKERS:
            good = s_parse_long (optarg, 0, 1024, &self->workers);
            break;
        case OPT_WORKER:
            worker = optarg;
            break;
        case OPT_SLOTS:
            good = s_parse_long (optarg, 1, 1000000L, &self->slots);
            break;
        case OPT_POOL_SIZE:
            good = s_parse_long (optarg, 1, 1000000L, &self->pool_size);
            break;
        case OPT_PORT:
            good = s_parse_long (optarg, 1, 65533L, &self->port);
            break;
        case OPT_CDF:
            self->cdf = true;
            break;
        case OPT_JSON_ONLY:
            self->json_only = true;
            break;
        case OPT_MAX_SECONDS:
            good = s_parse_long (optarg, 1, 86400L * 365, &self->max_seconds);
            self->max_seconds_set = true;
            break;
        case OPT_HELP:
            s_usage (stdout);
            return 1;
        default:
            s_usage (stderr);
            return -1;
        }
        if (!good) {
            fprintf (stderr, "zdex-bench: bad value for --%s: '%s'\n",
                     options[opt - OPT_TASKS].name, optarg);
            return -1;
        }
    }
    if (optind < argc) {
        fprintf (stderr, "zdex-bench: unexpected argument '%s'\n", argv[optind]);
        s_usage (stderr);
        return -1;
    }
    if (self->pool_size && self->connect) {
        fprintf (stderr, "zdex-bench: --pool-size configures a member the bench starts: "
                         "drop --connect\n");
        return -1;
    }
    if (self->memory_mode && self->connect) {
        fprintf (stderr, "zdex-bench: --mode memory reads the member's /proc entry, so it "
                         "starts its own member: drop --connect\n");
        return -1;
    }
    if (self->memory_mode && !self->tasks_set)
        self->tasks = BENCH_MEMORY_TASKS;
    if (self->memory_mode && !self->max_seconds_set)
        self->max_seconds = BENCH_MEMORY_SECONDS;
    self->zdexd_path = zdexd ? strdup (zdexd) : s_default_path ("ZDEXD", argv[0], "zdexd");
    self->worker_path =
        worker ? strdup (worker) : s_default_path ("ZDEX_WORKER", argv[0], "zdex-worker");
    return 0;
}

//  --------------------------------------------------------------------------
//  Processes

//  Starts argv[0] with argv; the child's stdout becomes out_fd.  Returns the pid
//  or -1.  Between fork and execv the child only makes async-signal-safe calls.
static pid_t
s_spawn (char *const argv[], int out_fd)
{
    pid_t parent = getpid ();
    pid_t pid = fork ();
    if (pid < 0) {
        fprintf (stderr, "zdex-bench: fork: %s\n", strerror (errno));
        return -1;
    }
    if (pid == 0) {
        if (out_fd != STDOUT_FILENO && dup2 (out_fd, STDOUT_FILENO) < 0)
            _exit (127);
        //  A bench killed with SIGKILL must not leave members and workers behind
        prctl (PR_SET_PDEATHSIG, SIGTERM);
        if (getppid () != parent)
            _exit (127);
        execv (argv[0], argv);
        static const char message[] = "zdex-bench: execv failed in child\n";
        ssize_t rc = write (STDERR_FILENO, message, sizeof message - 1);
        (void) rc;
        _exit (127);
    }
    return pid;
}

static void
s_describe_exit (const char *what, pid_t pid, int status)
{
    if (WIFEXITED (status))
        fprintf (stderr, "zdex-bench: %s (pid %d) exited with status %d\n", what, (int) pid,
                 WEXITSTATUS (status));
    else if (WIFSIGNALED (status))
        fprintf (stderr, "zdex-bench: %s (pid %d) killed by signal %d\n", what, (int) pid,
                 WTERMSIG (status));
}

//  Reaps children that have exited; returns CHILD_* bits for those that did.
static int
s_check_children (bench_t *self)
{
    int died = 0;
    for (long index = 0; index < self->child_count; index++) {
        pid_t pid = self->children[index];
        if (pid <= 0)
            continue;
        int status = 0;
        pid_t rc = waitpid (pid, &status, WNOHANG);
        if (rc == pid || (rc < 0 && errno == ECHILD)) {
            self->children[index] = 0;
            s_describe_exit (index == 0 ? "zdexd" : "zdex-worker", pid, status);
            died |= index == 0 ? CHILD_MEMBER_DIED : CHILD_WORKER_DIED;
        }
    }
    return died;
}

//  Passes whatever zdexd printed on stdout after its ready line on to stderr, so
//  the member never blocks on a full pipe.
static void
s_forward_member_output (bench_t *self)
{
    size_t total = 0;
    while (self->member_out >= 0 && total < BENCH_MAX_READ_PER_CALL) {
        char buffer[4096];
        ssize_t size = read (self->member_out, buffer, sizeof buffer);
        if (size < 0 && errno == EINTR)
            continue;
        if (size < 0 && errno == EAGAIN)
            return;
        if (size <= 0) {
            close (self->member_out);
            self->member_out = -1;
            return;
        }
        s_write_stderr (buffer, (size_t) size);
        total += (size_t) size;
    }
}

//  Stops every process we started, by pid: SIGTERM, then SIGKILL for any still
//  running after BENCH_STOP_GRACE_MS.
static void
s_stop_children (bench_t *self)
{
    bool any = false;
    for (long index = 0; index < self->child_count; index++)
        if (self->children[index] > 0) {
            kill (self->children[index], SIGTERM);
            any = true;
        }
    int64_t until = zclock_usecs () + BENCH_STOP_GRACE_MS * INT64_C (1000);
    while (any && zclock_usecs () < until) {
        any = false;
        for (long index = 0; index < self->child_count; index++) {
            pid_t pid = self->children[index];
            if (pid <= 0)
                continue;
            pid_t rc = waitpid (pid, NULL, WNOHANG);
            if (rc == pid || (rc < 0 && errno == ECHILD))
                self->children[index] = 0;
            else
                any = true;
        }
        s_forward_member_output (self);
        if (any)
            zclock_sleep (10);
    }
    for (long index = 0; index < self->child_count; index++) {
        pid_t pid = self->children[index];
        if (pid <= 0)
            continue;
        fprintf (stderr, "zdex-bench: %s (pid %d) ignored SIGTERM for %d ms, sending SIGKILL\n",
                 index == 0 ? "zdexd" : "zdex-worker", (int) pid, BENCH_STOP_GRACE_MS);
        kill (pid, SIGKILL);
        while (waitpid (pid, NULL, 0) < 0 && errno == EINTR)
            ;
        self->children[index] = 0;
    }
    if (self->member_out >= 0) {
        s_forward_member_output (self);
        if (self->member_out >= 0)
            close (self->member_out);
        self->member_out = -1;
    }
}

//  Takes member=, client=, worker= from `zdexd ready member=.. client=.. ..`.
static int
s_parse_ready (bench_t *self, char *line)
{
    char *save = NULL;
    for (char *token = strtok_r (line, " \t\r", &save); token;
         token = strtok_r (NULL, " \t\r", &save)) {
        char **field = NULL;
        if (strncmp (token, "member=", 7) == 0)
            field = &self->member_id;
        else if (strncmp (token, "client=", 7) == 0)
            field = &self->client_ep;
        else if (strncmp (token, "worker=", 7) == 0)
            field = &self->worker_ep;
        if (field) {
            free (*field);
            *field = strdup (token + 7);
        }
    }
    if (!self->client_ep || !self->worker_ep || !*self->client_ep || !*self->worker_ep) {
        fprintf (stderr, "zdex-bench: zdexd ready line lacks client= or worker=\n");
        return -1;
    }
    return 0;
}

//  Reads zdexd's stdout until the ready line; earlier lines go to stderr.
static int
s_read_ready_line (bench_t *self)
{
    char buffer[4096];
    size_t used = 0;
    int64_t started = zclock_usecs ();
    int64_t until = s_min64 (started + BENCH_READY_TIMEOUT_MS * INT64_C (1000), self->deadline);
    while (true) {
        char *newline;
        while ((newline = memchr (buffer, '\n', used))) {
            *newline = 0;
            size_t line_size = (size_t) (newline + 1 - buffer);
            if (strncmp (buffer, "zdexd ready ", 12) == 0) {
                s_write_stderr (newline + 1, used - line_size);
                return s_parse_ready (self, buffer);
            }
            fprintf (stderr, "%s\n", buffer);
            used -= line_size;
            memmove (buffer, newline + 1, used);
        }
        if (used == sizeof buffer) {
            fprintf (stderr, "zdex-bench: zdexd printed a line longer than %zu bytes\n",
                     sizeof buffer);
            return -1;
        }
        if (zsys_interrupted) {
            self->interrupted = true;
            return -1;
        }
        int64_t now = zclock_usecs ();
        if (now >= until) {
            fprintf (stderr, "zdex-bench: no ready line from zdexd within %.1f s\n",
                     (double) (now - started) / 1e6);
            return -1;
        }
        struct pollfd item = {self->member_out, POLLIN, 0};
        int rc = poll (&item, 1, (int) ((until - now + 999) / 1000));
        if (rc <= 0)
            continue; //  timeout or EINTR: the checks above decide
        ssize_t size = read (self->member_out, buffer + used, sizeof buffer - used);
        if (size < 0 && errno == EINTR)
            continue;
        if (size <= 0) {
            fprintf (stderr, "zdex-bench: zdexd closed its stdout before the ready line\n");
            return -1;
        }
        used += (size_t) size;
    }
}

//  Memory mode and --pool-size: writes a zdexd config for the executor.  In memory
//  mode the capacity must hold every result: tasks land on random partitions, so
//  the per-partition count is binomial around N/P with deviation below sqrt(N/P);
//  eight deviations more make a wrap practically impossible, and the run checks it
//  anyway from the task ids.  Returns 0 (config_path set), or -1.
static int
s_write_config (bench_t *self)
{
    json_t *settings = json_object ();
    if (self->memory_mode) {
        long mean = (self->tasks + BENCH_PARTITIONS - 1) / BENCH_PARTITIONS;
        long deviation = 1;
        while (deviation * deviation < mean)
            deviation++;
        self->capacity = mean + 8 * deviation + 16;
        json_object_set_new (settings, "capacity", json_integer (self->capacity));
    }
    if (self->pool_size)
        json_object_set_new (settings, "pool_size", json_integer (self->pool_size));
    json_t *config = json_pack ("{s:{s:o}}", "durable_executors",
                                self->executor ? self->executor : "default", settings);
    char *text = config ? json_dumps (config, JSON_COMPACT) : NULL;
    json_decref (config);
    const char *tmpdir = getenv ("TMPDIR");
    self->config_path =
        zsys_sprintf ("%s/zdex-bench-config.XXXXXX.json", tmpdir && *tmpdir ? tmpdir : "/tmp");
    int fd = text && self->config_path ? mkstemps (self->config_path, 5) : -1;
    bool good = fd >= 0 && write (fd, text, strlen (text)) == (ssize_t) strlen (text);
    if (fd >= 0)
        close (fd);
    if (!good) {
        fprintf (stderr, "zdex-bench: cannot write the zdexd config '%s': %s\n",
                 self->config_path ? self->config_path : "?", strerror (errno));
        if (fd >= 0)
            unlink (self->config_path);
        free (self->config_path);
        self->config_path = NULL;
    } else if (!self->json_only)
        fprintf (stderr, "zdex-bench: zdexd config %s\n", text);
    free (text);
    return good ? 0 : -1;
}

static int
s_start_member (bench_t *self)
{
    //  Both binaries are checked before anything starts
    if (access (self->zdexd_path, X_OK)) {
        fprintf (stderr, "zdex-bench: cannot run zdexd '%s': %s (set --zdexd or ZDEXD)\n",
                 self->zdexd_path, strerror (errno));
        return -1;
    }
    if (self->workers > 0 && access (self->worker_path, X_OK)) {
        fprintf (stderr,
                 "zdex-bench: cannot run zdex-worker '%s': %s (set --worker or ZDEX_WORKER)\n",
                 self->worker_path, strerror (errno));
        return -1;
    }
    //  O_CLOEXEC: workers must not inherit the pipe, or EOF would never come
    int fds[2];
    if (pipe2 (fds, O_CLOEXEC)) {
        fprintf (stderr, "zdex-bench: pipe: %s\n", strerror (errno));
        return -1;
    }
    char endpoints[3][64];
    for (int index = 0; index < 3; index++)
        if (self->port)
            snprintf (endpoints[index], sizeof endpoints[index], "tcp://127.0.0.1:%ld",
                      self->port + index);
        else
            snprintf (endpoints[index], sizeof endpoints[index], "tcp://127.0.0.1:*");
    char partitions[16];
    snprintf (partitions, sizeof partitions, "%d", BENCH_PARTITIONS);
    char *argv[] = {self->zdexd_path,  "--client-endpoint",
                    endpoints[0],      "--worker-endpoint",
                    endpoints[1],      "--cluster-endpoint",
                    endpoints[2],      "--partition-count",
                    partitions,        self->config_path ? "--config" : NULL,
                    self->config_path, NULL};
    pid_t pid = s_spawn (argv, fds[1]);
    close (fds[1]);
    if (pid < 0) {
        close (fds[0]);
        return -1;
    }
    self->children[0] = pid;
    self->member_out = fds[0];
    int ready = s_read_ready_line (self);
    if (self->config_path) {
        unlink (self->config_path); //  read at start-up, or never
        free (self->config_path);
        self->config_path = NULL;
    }
    if (ready)
        return -1;
    fcntl (self->member_out, F_SETFL, fcntl (self->member_out, F_GETFL) | O_NONBLOCK);
    if (!self->json_only)
        fprintf (stderr, "zdex-bench: zdexd pid %d member %s client %s worker %s\n", (int) pid,
                 self->member_id ? self->member_id : "?", self->client_ep, self->worker_ep);
    return 0;
}

static int
s_start_workers (bench_t *self)
{
    char slots[32];
    snprintf (slots, sizeof slots, "%ld", self->slots);
    char *argv[] = {self->worker_path, "--connect", self->worker_ep, "--slots", slots, NULL};
    for (long index = 0; index < self->workers; index++) {
        //  Worker stdout goes to our stderr: our stdout is the JSON record only
        pid_t pid = s_spawn (argv, STDERR_FILENO);
        if (pid < 0)
            return -1;
        self->children[1 + index] = pid;
    }
    return 0;
}

//  --------------------------------------------------------------------------
//  Socket

//  Receives one message and keeps its last frame (the JSON; a stray envelope
//  frame before it is dropped).  Returns 0, or -1 with errno (EAGAIN: none).
static int
s_recv_last_frame (bench_t *self, zmq_msg_t *msg)
{
    if (zmq_msg_recv (msg, self->handle, ZMQ_DONTWAIT) < 0)
        return -1;
    while (zmq_msg_more (msg))
        if (zmq_msg_recv (msg, self->handle, 0) < 0)
            return -1;
    return 0;
}

static int
s_send (bench_t *self, const char *data, size_t size)
{
    while (zmq_send (self->handle, data, size, 0) < 0) {
        if (errno == EINTR && !zsys_interrupted)
            continue;
        fprintf (stderr, "zdex-bench: send failed: %s\n", zmq_strerror (errno));
        self->fatal = true;
        return -1;
    }
    return 0;
}

static int
s_open_dealer (bench_t *self)
{
    self->dealer = zsock_new (ZMQ_DEALER);
    if (!self->dealer) {
        fprintf (stderr, "zdex-bench: cannot create DEALER socket\n");
        return -1;
    }
    //  The window is bounded by --depth; a high-water mark must never block it
    zsock_set_sndhwm (self->dealer, 0);
    zsock_set_rcvhwm (self->dealer, 0);
    zsock_set_linger (self->dealer, 0);
    if (zsock_connect (self->dealer, "%s", self->client_ep)) {
        fprintf (stderr, "zdex-bench: cannot connect to '%s'\n", self->client_ep);
        return -1;
    }
    self->handle = zsock_resolve (self->dealer);
    return 0;
}

//  Asks cluster.workers and waits for its answer until `until`.  Probes carry a
//  string req so that a late answer is told apart from task replies.  Returns 0
//  with workers_seen and slots_seen set, -1 on error reply, timeout or interrupt.
static int
s_probe_workers (bench_t *self, int64_t until, bool quiet)
{
    char expect[32];
    snprintf (expect, sizeof expect, "probe-%ld", ++self->probe_seq);
    char frame[96];
    int size =
        snprintf (frame, sizeof frame, "{\"op\":\"cluster.workers\",\"req\":\"%s\"}", expect);
    if (s_send (self, frame, (size_t) size))
        return -1;
    while (!zsys_interrupted) {
        int64_t now = zclock_usecs ();
        if (now >= until)
            return -1;
        zmq_pollitem_t items[2] = {{self->handle, 0, ZMQ_POLLIN, 0},
                                   {NULL, self->member_out, ZMQ_POLLIN, 0}};
        int rc =
            zmq_poll (items, self->member_out >= 0 ? 2 : 1, (long) ((until - now + 999) / 1000));
        if (rc < 0 && errno != EINTR) {
            fprintf (stderr, "zdex-bench: poll: %s\n", zmq_strerror (errno));
            return -1;
        }
        if (rc <= 0)
            continue;
        if (self->member_out >= 0 && items[1].revents)
            s_forward_member_output (self);
        if (!(items[0].revents & ZMQ_POLLIN))
            continue;
        zmq_msg_t msg;
        zmq_msg_init (&msg);
        while (s_recv_last_frame (self, &msg) == 0) {
            json_error_t error;
            json_t *reply = json_loadb (zmq_msg_data (&msg), zmq_msg_size (&msg),
                                        JSON_REJECT_DUPLICATES, &error);
            json_t *req = json_object_get (reply, "req");
            if (!json_is_string (req) || !streq (json_string_value (req), expect)) {
                json_decref (reply); //  a late answer to an earlier probe
                continue;
            }
            int result = -1;
            json_t *workers = json_object_get (reply, "workers");
            if (json_is_true (json_object_get (reply, "ok")) && json_is_array (workers)) {
                self->workers_seen = (long) json_array_size (workers);
                self->slots_seen = 0;
                for (size_t index = 0; index < json_array_size (workers); index++) {
                    json_t *slots = json_object_get (json_array_get (workers, index), "slots");
                    if (json_is_integer (slots))
                        self->slots_seen += (long) json_integer_value (slots);
                }
                result = 0;
            } else if (!quiet)
                fprintf (stderr, "zdex-bench: cluster.workers answered: %.*s\n",
                         (int) (zmq_msg_size (&msg) < 400 ? zmq_msg_size (&msg) : 400),
                         (const char *) zmq_msg_data (&msg));
            json_decref (reply);
            zmq_msg_close (&msg);
            return result;
        }
        zmq_msg_close (&msg);
    }
    self->interrupted = true;
    return -1;
}

//  Polls cluster.workers until it lists our workers, for at most 10 s.
static int
s_wait_for_workers (bench_t *self)
{
    int64_t started = zclock_usecs ();
    int64_t until = s_min64 (started + BENCH_WORKERS_TIMEOUT_MS * INT64_C (1000), self->deadline);
    bool quiet = false;
    while (true) {
        int rc = s_probe_workers (self, until, quiet);
        if (rc == 0 && self->workers_seen >= self->workers)
            return 0;
        if (rc != 0)
            quiet = true; //  say it once, not fifty times a second
        if (s_check_children (self))
            return -1;
        if (zsys_interrupted) {
            self->interrupted = true;
            return -1;
        }
        if (zclock_usecs () + BENCH_WORKERS_POLL_MS * INT64_C (1000) > until) {
            fprintf (stderr, "zdex-bench: cluster.workers listed %ld of %ld workers after %.1f s\n",
                     self->workers_seen, self->workers, (double) (zclock_usecs () - started) / 1e6);
            return -1;
        }
        zclock_sleep (BENCH_WORKERS_POLL_MS);
        s_forward_member_output (self);
    }
}

//  --------------------------------------------------------------------------
//  Tasks

static void
s_finish (bench_t *self, long index, bool ok, int64_t now)
{
    self->state[index] = ok ? TASK_DONE : TASK_FAILED;
    self->active--;
    if (ok) {
        self->completed++;
        zdex_hist_record (self->latency, now - self->sent_at[index]);
    } else
        self->failed++;
    self->last_done_at = now;
}

static void
s_start_task (bench_t *self, long index)
{
    char *cursor = self->sendbuf + self->submit_head_len;
    cursor += sprintf (cursor, "%ld", index);
    memcpy (cursor, self->submit_tail, self->submit_tail_len);
    cursor += self->submit_tail_len;
    self->state[index] = TASK_SUBMIT_SENT;
    self->active++;
    self->sent_at[index] = zclock_usecs ();
    if (s_send (self, self->sendbuf, (size_t) (cursor - self->sendbuf)) == 0)
        self->pending++;
}

static void
s_refill (bench_t *self)
{
    while (!self->fatal && self->active < self->depth && self->next < self->tasks)
        s_start_task (self, self->next++);
}

static void
s_handle_reply (bench_t *self, const char *data, size_t size, int64_t now)
{
    int shown = (int) (size < 300 ? size : 300);
    json_error_t error;
    json_t *reply = json_loadb (data, size, JSON_REJECT_DUPLICATES, &error);
    json_t *req = json_object_get (reply, "req");
    if (json_is_string (req)) {
        json_decref (reply); //  a late cluster.workers answer
        return;
    }
    self->pending--;
    if (!json_is_object (reply)) {
        s_error (self, "unparseable reply (%s): %.*s", error.text, shown, data);
        json_decref (reply);
        return;
    }
    json_int_t index = json_is_integer (req) ? json_integer_value (req) : -1;
    if (index < 0 || index >= self->tasks ||
        (self->state[index] != TASK_SUBMIT_SENT && self->state[index] != TASK_RETRIEVE_SENT)) {
        //  Its task (if any) stays outstanding; the run ends once nothing is pending
        s_error (self, "reply matches no outstanding request: %.*s", shown, data);
        json_decref (reply);
        return;
    }
    bool submitted = self->state[index] == TASK_SUBMIT_SENT;
    const char *what = !submitted           ? "durable.retrieve"
                       : self->execute_mode ? "durable.execute"
                                            : "durable.submit";
    if (!json_is_true (json_object_get (reply, "ok"))) {
        s_error (self, "task %" JSON_INTEGER_FORMAT ": %s: %.*s", index, what, shown, data);
        s_finish (self, (long) index, false, now);
    } else if (submitted && self->execute_mode)
        s_finish (self, (long) index, true, now);
    else if (submitted) {
        zdex_hist_record (self->submit_ack, now - self->sent_at[index]);
        json_t *task_id = json_object_get (reply, "task_id");
        if (!json_is_integer (task_id) || json_integer_value (task_id) < 0) {
            s_error (self, "task %" JSON_INTEGER_FORMAT ": %s reply has no task_id: %.*s", index,
                     what, shown, data);
            s_finish (self, (long) index, false, now);
        } else {
            if (self->partition_tasks) {
                json_int_t partition = json_integer_value (task_id) >> 32;
                if (partition < BENCH_PARTITIONS)
                    self->partition_tasks[partition]++;
            }
            char *frame = self->retrieve_buf;
            int length = snprintf (frame, self->retrieve_size,
                                   "{\"op\":\"durable.retrieve\",\"req\":%" JSON_INTEGER_FORMAT
                                   ",\"task_id\":%" JSON_INTEGER_FORMAT "%s}",
                                   index, json_integer_value (task_id), self->exec_field);
            self->state[index] = TASK_RETRIEVE_SENT;
            if (length > 0 && (size_t) length < self->retrieve_size &&
                s_send (self, frame, (size_t) length) == 0)
                self->pending++;
            else
                s_finish (self, (long) index, false, now);
        }
    } else {
        json_t *result = json_object_get (reply, "result");
        bool good =
            json_is_string (result) && !json_is_true (json_object_get (reply, "disposed")) &&
            json_string_length (result) == (size_t) self->payload_bytes &&
            memcmp (json_string_value (result), self->payload, (size_t) self->payload_bytes) == 0;
        if (!good)
            s_error (self, "task %" JSON_INTEGER_FORMAT ": result is not the payload: %.*s", index,
                     shown, data);
        s_finish (self, (long) index, good, now);
    }
    json_decref (reply);
}

static void
s_drain_replies (bench_t *self)
{
    zmq_msg_t msg;
    zmq_msg_init (&msg);
    //  Refill after every reply, not per batch, so the window stays at --depth
    while (s_recv_last_frame (self, &msg) == 0) {
        s_handle_reply (self, zmq_msg_data (&msg), zmq_msg_size (&msg), zclock_usecs ());
        s_refill (self);
    }
    if (errno != EAGAIN && errno != EINTR) {
        fprintf (stderr, "zdex-bench: receive failed: %s\n", zmq_strerror (errno));
        self->fatal = true;
    }
    zmq_msg_close (&msg);
}

static void
s_progress (bench_t *self, int64_t now)
{
    long done = self->completed + self->failed;
    double interval = (double) (now - self->tick_at) / 1e6;
    double rate = interval > 0 ? (double) (done - self->tick_done) / interval : 0;
    if (!self->json_only)
        fprintf (stderr,
                 "zdex-bench: %6.1fs  done %ld/%ld  %.0f tasks/s  outstanding %ld  errors %ld\n",
                 (double) (now - self->started_at) / 1e6, done, self->tasks, rate, self->active,
                 self->errors);
    self->tick_at = now;
    self->tick_done = done;
}

static void
s_run (bench_t *self)
{
    zdex_procset_start (self->procs);
    self->started_at = zclock_usecs ();
    self->tick_at = self->started_at;
    int64_t next_tick = self->started_at + 1000000;
    s_refill (self);
    while (self->completed + self->failed < self->tasks && !self->fatal) {
        if (self->pending <= 0) {
            fprintf (stderr, "zdex-bench: nothing outstanding but %ld tasks unfinished\n",
                     self->tasks - self->completed - self->failed);
            break;
        }
        if (zsys_interrupted) {
            fprintf (stderr, "zdex-bench: interrupted\n");
            self->interrupted = true;
            break;
        }
        int64_t now = zclock_usecs ();
        if (now >= self->deadline) {
            fprintf (stderr, "zdex-bench: --max-seconds %ld reached, aborting\n",
                     self->max_seconds);
            self->timed_out = true;
            break;
        }
        if (now >= next_tick) {
            s_progress (self, now);
            while (next_tick <= now)
                next_tick += 1000000;
            int died = s_check_children (self);
            if (died & CHILD_MEMBER_DIED) {
                fprintf (stderr, "zdex-bench: the member is gone, aborting\n");
                self->fatal = true;
                break;
            }
        }
        zmq_pollitem_t items[2] = {{self->handle, 0, ZMQ_POLLIN, 0},
                                   {NULL, self->member_out, ZMQ_POLLIN, 0}};
        long timeout = (long) ((s_min64 (next_tick, self->deadline) - now + 999) / 1000);
        int rc = zmq_poll (items, self->member_out >= 0 ? 2 : 1, timeout);
        if (rc < 0) {
            if (errno == EINTR)
                continue;
            fprintf (stderr, "zdex-bench: poll: %s\n", zmq_strerror (errno));
            self->fatal = true;
            break;
        }
        if (items[0].revents & ZMQ_POLLIN)
            s_drain_replies (self);
        if (self->member_out >= 0 && items[1].revents)
            s_forward_member_output (self);
        s_refill (self);
    }
    self->finished_at = zclock_usecs ();
    zdex_procset_sample (self->procs);
}

//  Waits `msec` while passing on the member's output; false if interrupted.
static bool
s_settle (bench_t *self, int msec)
{
    int64_t until = zclock_usecs () + msec * INT64_C (1000);
    while (!zsys_interrupted && zclock_usecs () < until) {
        zclock_sleep (10);
        s_forward_member_output (self);
    }
    return !zsys_interrupted;
}

//  --------------------------------------------------------------------------
//  Report

static void
s_report (bench_t *self)
{
    bool all_done = self->completed + self->failed == self->tasks;
    int64_t end = all_done ? self->last_done_at : self->finished_at;
    int64_t elapsed_us = end > self->started_at ? end - self->started_at : 0;
    double elapsed_s = (double) elapsed_us / 1e6;
    double throughput = elapsed_us > 0 ? (double) self->completed / elapsed_s : 0.0;
    throughput = (double) (int64_t) (throughput * 10 + 0.5) / 10; //  no libm needed
    const char *mode = self->memory_mode    ? "memory"
                       : self->execute_mode ? "execute"
                                            : "submit-retrieve";
    double cpu_s = zdex_procset_cpu_s (self->procs, NULL);
    double cpu_per_task_us = self->completed ? cpu_s * 1e6 / (double) self->completed : 0.0;
    cpu_per_task_us = (double) (int64_t) (cpu_per_task_us * 10 + 0.5) / 10;
    //  Memory: the member's resident growth over the run, per completed task.  A
    //  completed task keeps its result, not its payload, so the user data it holds
    //  is the echoed result (payload_bytes) and the rest is zdex's own overhead.
    bool memory = self->memory_mode && self->rss_before_kb >= 0 && self->rss_after_kb >= 0 &&
                  self->completed > 0;
    double per_task = memory ? (double) (self->rss_after_kb - self->rss_before_kb) * 1024.0 /
                                   (double) self->completed
                             : 0.0;
    per_task = (double) (int64_t) (per_task * 10 + (per_task < 0 ? -0.5 : 0.5)) / 10;
    long fullest = 0;
    for (long index = 0; self->partition_tasks && index < BENCH_PARTITIONS; index++)
        if (self->partition_tasks[index] > fullest)
            fullest = self->partition_tasks[index];
    if (self->memory_mode && fullest > self->capacity)
        s_error (self,
                 "a partition got %ld tasks, more than its capacity %ld: early results were "
                 "overwritten, so the memory figure undercounts",
                 fullest, self->capacity);
    long workers = self->connect ? self->workers_seen : self->workers;
    long slots = self->connect ? (self->workers_seen ? self->slots_seen / self->workers_seen : 0)
                               : self->slots;

    if (!self->json_only) {
        fprintf (stderr, "\nzdex-bench results\n");
        fprintf (stderr, "  %-20s %s\n", "mode", mode);
        fprintf (stderr, "  %-20s %s at %s (%s)\n", "member",
                 self->member_id ? self->member_id : "?", self->client_ep,
                 self->connect ? "--connect" : "started by the bench");
        fprintf (stderr, "  %-20s %s\n", "executor", self->executor ? self->executor : "default");
        fprintf (stderr, "  %-20s %ld requested, %ld completed, %ld failed, %ld unfinished\n",
                 "tasks", self->tasks, self->completed, self->failed,
                 self->tasks - self->completed - self->failed);
        fprintf (stderr, "  %-20s %ld\n", "depth", self->depth);
        fprintf (stderr, "  %-20s %ld bytes\n", "payload", self->payload_bytes);
        fprintf (stderr, "  %-20s %ld x %ld slots%s\n", "workers", workers, slots,
                 self->connect ? " (as listed by cluster.workers; slots averaged)" : "");
        fprintf (stderr, "  %-20s %.3f s\n", "elapsed", elapsed_s);
        fprintf (stderr, "  %-20s %.1f tasks/s\n", "throughput", throughput);
        fprintf (stderr, "  %-20s %ld\n", "errors", self->errors);
        fprintf (stderr, "  %-20s %9s %9s %9s %9s %9s %9s\n", "latency (us)", "p50", "p90", "p99",
                 "p99.9", "max", "mean");
        zdex_hist_print_row (self->latency, stderr,
                             self->execute_mode ? "execute -> ack" : "submit -> result");
        if (!self->execute_mode)
            zdex_hist_print_row (self->submit_ack, stderr, "submit -> task_id");
        fprintf (stderr, "  %-20s %.1f us per task (all processes below)\n", "cpu",
                 cpu_per_task_us);
        zdex_procset_print (self->procs, stderr);
        if (memory)
            fprintf (stderr,
                     "  %-20s member VmRSS %" PRId64 " kB before, %" PRId64
                     " kB after: %.1f bytes per task, %.1f beyond the %ld-byte result\n"
                     "  %-20s capacity %ld per partition, fullest partition %ld tasks\n",
                     "memory", self->rss_before_kb, self->rss_after_kb, per_task,
                     per_task - (double) self->payload_bytes, self->payload_bytes, "",
                     self->capacity, fullest);
        fprintf (stderr, "\n");
    }

    //  Built key by key: jansson keeps insertion order, which is the documented order
    json_t *record = json_object ();
    json_object_set_new (record, "bench", json_string ("zdex"));
    json_object_set_new (record, "mode", json_string (mode));
    json_object_set_new (record, "tasks", json_integer (self->tasks));
    json_object_set_new (record, "depth", json_integer (self->depth));
    json_object_set_new (record, "payload_bytes", json_integer (self->payload_bytes));
    json_object_set_new (record, "workers", json_integer (workers));
    json_object_set_new (record, "slots", json_integer (slots));
    json_object_set_new (record, "elapsed_s", json_real (elapsed_s));
    json_object_set_new (record, "throughput_tasks_per_s", json_real (throughput));
    json_object_set_new (record, "latency_us", zdex_hist_summary (self->latency));
    json_object_set_new (record, "errors", json_integer (self->errors));
    json_object_set_new (record, "cpu_us_per_task", json_real (cpu_per_task_us));
    json_object_set_new (record, "processes", zdex_procset_json (self->procs));
    if (self->memory_mode) {
        json_object_set_new (record, "bytes_per_task_beyond_payload",
                             memory ? json_real (per_task - (double) self->payload_bytes)
                                    : json_null ());
        json_t *detail = json_object ();
        json_object_set_new (detail, "member_rss_before_kb", json_integer (self->rss_before_kb));
        json_object_set_new (detail, "member_rss_after_kb", json_integer (self->rss_after_kb));
        json_object_set_new (detail, "rss_bytes_per_task",
                             memory ? json_real (per_task) : json_null ());
        json_object_set_new (detail, "stored_result_bytes", json_integer (self->payload_bytes));
        json_object_set_new (detail, "partitions", json_integer (BENCH_PARTITIONS));
        json_object_set_new (detail, "capacity_per_partition", json_integer (self->capacity));
        json_object_set_new (detail, "fullest_partition_tasks", json_integer (fullest));
        json_object_set_new (record, "memory", detail);
    }
    if (self->cdf)
        json_object_set_new (record, "latency_cdf", zdex_hist_cdf (self->latency));
    char *text = record ? json_dumps (record, JSON_COMPACT | JSON_REAL_PRECISION (12)) : NULL;
    if (text) {
        fprintf (stdout, "%s\n", text);
        fflush (stdout);
    } else
        fprintf (stderr, "zdex-bench: cannot encode the JSON record\n");
    free (text);
    json_decref (record);
}

//  --------------------------------------------------------------------------
//  Setup and teardown

static void
s_bench_destroy (bench_t **self_p)
{
    bench_t *self = *self_p;
    if (!self)
        return;
    zsock_destroy (&self->dealer);
    if (self->config_path)
        unlink (self->config_path);
    free (self->config_path);
    zdex_procset_destroy (&self->procs);
    zdex_hist_destroy (&self->latency);
    zdex_hist_destroy (&self->submit_ack);
    free (self->partition_tasks);
    free (self->children);
    free (self->zdexd_path);
    free (self->worker_path);
    free (self->member_id);
    free (self->client_ep);
    free (self->worker_ep);
    free (self->exec_field);
    free (self->payload);
    free (self->submit_tail);
    free (self->sendbuf);
    free (self->retrieve_buf);
    free (self->state);
    free (self->sent_at);
    free (self);
    *self_p = NULL;
}

static bench_t *
s_bench_new (void)
{
    bench_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->tasks = 100000;
    self->depth = 100;
    self->payload_bytes = 100;
    self->workers = 1;
    self->slots = 64;
    self->max_seconds = 120;
    self->member_out = -1;
    self->rss_before_kb = -1;
    self->rss_after_kb = -1;
    self->latency = zdex_hist_new ();
    self->submit_ack = zdex_hist_new ();
    self->procs = zdex_procset_new ();
    if (!self->latency || !self->submit_ack || !self->procs)
        s_bench_destroy (&self);
    return self;
}

//  Builds the request text and the per-task arrays.
static int
s_prepare (bench_t *self)
{
    if (self->executor) {
        json_t *name = json_string (self->executor);
        char *encoded = name ? json_dumps (name, JSON_ENCODE_ANY) : NULL;
        json_decref (name);
        if (!encoded) {
            fprintf (stderr, "zdex-bench: --executor is not valid UTF-8\n");
            return -1;
        }
        self->exec_field = zsys_sprintf (",\"executor\":%s", encoded);
        free (encoded);
    } else
        self->exec_field = strdup ("");
    self->payload = malloc ((size_t) self->payload_bytes + 1);
    if (self->payload) {
        memset (self->payload, 'x', (size_t) self->payload_bytes);
        self->payload[self->payload_bytes] = 0;
    }
    const char *head = self->execute_mode ? "{\"op\":\"durable.execute\",\"req\":"
                                          : "{\"op\":\"durable.submit\",\"req\":";
    self->submit_head_len = strlen (head);
    if (self->payload)
        self->submit_tail =
            zsys_sprintf ("%s,\"task\":{\"type\":\"" BENCH_TASK_TYPE "\",\"payload\":\"%s\"}}",
                          self->exec_field, self->payload);
    if (self->submit_tail) {
        self->submit_tail_len = strlen (self->submit_tail);
        self->sendbuf = malloc (self->submit_head_len + 24 + self->submit_tail_len);
    }
    //  {"op":"durable.retrieve","req":N,"task_id":N<exec_field>} with 20-digit numbers
    self->retrieve_size = 128 + (self->exec_field ? strlen (self->exec_field) : 0);
    self->retrieve_buf = malloc (self->retrieve_size);
    self->state = calloc ((size_t) self->tasks, sizeof *self->state);
    self->sent_at = calloc ((size_t) self->tasks, sizeof *self->sent_at);
    self->child_count = self->connect ? 0 : 1 + self->workers;
    self->children = calloc ((size_t) self->child_count + 1, sizeof *self->children);
    if (self->memory_mode)
        self->partition_tasks = calloc (BENCH_PARTITIONS, sizeof *self->partition_tasks);
    if ((self->memory_mode && !self->partition_tasks) || !self->exec_field || !self->sendbuf ||
        !self->retrieve_buf || !self->state || !self->sent_at || !self->children) {
        fprintf (stderr, "zdex-bench: out of memory\n");
        return -1;
    }
    memcpy (self->sendbuf, head, self->submit_head_len);
    return 0;
}

static int
s_setup (bench_t *self)
{
    if (zdex_procset_add (self->procs, "client", "zdex-bench", 0))
        return -1;
    if (self->connect) {
        self->client_ep = strdup (self->connect);
        if (!self->client_ep || s_open_dealer (self))
            return -1;
        //  Informational only: the member's workers are not ours to wait for
        int64_t until =
            s_min64 (zclock_usecs () + BENCH_CONNECT_PROBE_MS * INT64_C (1000), self->deadline);
        if (s_probe_workers (self, until, false))
            fprintf (stderr, "zdex-bench: warning: no cluster.workers answer from %s\n",
                     self->client_ep);
        else if (self->workers_seen == 0)
            fprintf (stderr, "zdex-bench: warning: %s lists no workers; tasks will not run\n",
                     self->client_ep);
        return self->interrupted ? -1 : 0;
    }
    if ((self->memory_mode || self->pool_size) && s_write_config (self))
        return -1;
    if (s_start_member (self) || s_open_dealer (self) || s_start_workers (self) ||
        s_wait_for_workers (self))
        return -1;
    if (zdex_procset_add (self->procs, "member", "zdexd", self->children[0]))
        return -1;
    for (long index = 0; index < self->workers; index++)
        if (zdex_procset_add (self->procs, "worker", "zdex-worker", self->children[1 + index]))
            return -1;
    if (!self->json_only)
        fprintf (stderr, "zdex-bench: %ld worker(s) registered; running %ld tasks at depth %ld\n",
                 self->workers_seen, self->tasks, self->depth);
    return 0;
}

int
main (int argc, char *argv[])
{
    bench_t *self = s_bench_new ();
    if (!self)
        return 1;
    int rc = s_parse_options (self, argc, argv);
    if (rc) {
        s_bench_destroy (&self);
        return rc > 0 ? 0 : 2;
    }
    //  Installs czmq's SIGINT/SIGTERM handlers, which set zsys_interrupted
    zsys_init ();
    self->deadline = zclock_usecs () + self->max_seconds * INT64_C (1000000);

    int exit_code = 1;
    if (s_prepare (self) == 0 && s_setup (self) == 0) {
        //  The member's footprint once idle, with workers registered and nothing stored
        if (self->memory_mode && s_settle (self, BENCH_MEMORY_SETTLE_MS))
            self->rss_before_kb = zdex_procset_status_kb_of (self->children[0], "VmRSS");
        s_run (self);
        if (self->memory_mode && s_settle (self, BENCH_MEMORY_SETTLE_MS))
            self->rss_after_kb = zdex_procset_status_kb_of (self->children[0], "VmRSS");
        s_report (self);
        bool clean = self->errors == 0 && self->completed == self->tasks && !self->timed_out &&
                     !self->interrupted && !self->fatal;
        exit_code = clean ? 0 : 1;
    }
    zsock_destroy (&self->dealer);
    s_stop_children (self);
    s_bench_destroy (&self);
    return exit_code;
}
