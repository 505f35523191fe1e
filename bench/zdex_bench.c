//  zdex-bench: throughput, latency and failover benchmark for zdex.
//
//  Speaks the wire protocol directly (czmq + jansson, never libzdex) on one DEALER
//  connected to the members' client endpoints, so the figures measure the members
//  and their workers rather than the client library.  It keeps `depth` tasks
//  outstanding at all times, pipelined on that socket; every request carries the
//  task's index as "req", and a per-task state array says which reply (submit or
//  retrieve) the task is waiting for, so replies may come back in any order.
//  With several endpoints (not in failover mode, nor with --no-direct) it also
//  keeps one DEALER per endpoint and the partition table of cluster.members, and
//  sends each retrieve straight to its partition's owner (task_id >> 32); keyless
//  submits go on the shared DEALER, and the member that takes one picks a
//  partition it owns, so no request needs forwarding.
//
//  Modes: submit-retrieve sends durable.submit, then on its reply durable.retrieve
//  without timeout_ms (parked until the task is done) and checks that the result
//  equals the payload; the latency runs from the submit send to the retrieve
//  reply.  execute sends durable.execute; the latency runs from send to ack.
//  memory runs submit-retrieve (default 1,000,000 tasks) against a member started
//  with a generated config whose executor capacity holds every result, and
//  reports the member's VmRSS growth per stored task.  failover starts a fresh
//  cluster per repeat, stores results through the members that did not found it,
//  proves with durable.stats that the founder ran every one of those tasks (it
//  owns every primary: CLUSTER.md 5.4), kills the founder with SIGKILL and times
//  how long the survivors take to answer a retrieve of one of them again, and of
//  all of them.  Latencies go into a zdex_hist (log-bucketed, at most 1/16 above
//  the truth).
//
//  CPU time of every process of the run (this one, each zdexd, the workers) is
//  taken from /proc when the first task is sent and when the last one finishes,
//  and the peak RSS (VmHWM) just before the processes are stopped (zdex_procset).
//
//  Without --connect the bench starts its own cluster: --members zdexd processes
//  on loopback (fork/execv, stdout on a pipe from which it reads the ready line,
//  then forwards whatever else the member prints to stderr), each one after the
//  first given --seed <first member's cluster endpoint>, and its zdex-worker
//  processes, each given one member's worker endpoint (they discover the others).
//  It waits until every member lists every member, has every backup assigned and
//  lists every worker, and at the end stops only those pids: SIGTERM, up to 5 s,
//  SIGKILL.  stdout carries exactly one JSON record; everything for humans goes to
//  stderr.

#include "zdex_hist.h"
#include "zdex_procset.h"
#include "zdex_proto.h"

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
#define BENCH_MAX_MEMBERS        16      //  --members bound (and poll items)
#define BENCH_DRAIN_MAX          1024    //  replies read before the clock is checked again
#define BENCH_READY_TIMEOUT_MS   10000   //  zdexd must print its ready line by then
#define BENCH_CLUSTER_TIMEOUT_MS 10000   //  members, backups, workers in place by then
#define BENCH_CLUSTER_POLL_MS    20      //  pause between cluster.members polls
#define BENCH_CONNECT_PROBE_MS   2000    //  --connect: how long to wait for the lists
#define BENCH_CALL_SLICE_MS      100     //  s_call checks the children this often
#define BENCH_STOP_GRACE_MS      5000    //  SIGTERM to SIGKILL
#define BENCH_MAX_ERROR_REPORTS  10      //  detailed error lines before going quiet
#define BENCH_MAX_READ_PER_CALL  65536   //  member stdout forwarded per poll round
#define BENCH_PARTITIONS         271     //  --partition-count given to the zdexd we start
#define BENCH_MAX_PARTITIONS     65536   //  largest partition table routed by
#define BENCH_DIRECT_READY_MS    2000    //  wait for the direct DEALERs to connect
#define BENCH_MEMORY_TASKS       1000000 //  --mode memory: default --tasks
#define BENCH_MEMORY_SECONDS     900     //  --mode memory: default --max-seconds
#define BENCH_MEMORY_SETTLE_MS   1000    //  pause before VmRSS is read, before and after
#define BENCH_FAILOVER_TASKS     1000    //  --failover: default --tasks (per repeat)
#define BENCH_FAILOVER_MEMBERS   3       //  --failover: default --members
#define BENCH_FAILOVER_REPEAT    5       //  --failover: default --repeat
#define BENCH_FAILOVER_SECONDS   300     //  --failover: default --max-seconds
#define BENCH_FAILOVER_LIMIT_MS  30000   //  a failover not over by then is an error
#define BENCH_FAILOVER_RETRY_MS  5       //  pause before a retrieve answered UNAVAILABLE is resent
#define BENCH_FAILOVER_PROBES    8       //  tasks retried while none is answered yet
#define BENCH_DEFAULT_DURABILITY 1       //  zdexd's own default for an executor

//  Per-task state; the index of a task is its "req".
enum { TASK_IDLE = 0, TASK_SUBMIT_SENT, TASK_RETRIEVE_SENT, TASK_DONE, TASK_FAILED };

//  Child process status bits returned by s_check_children.
#define CHILD_MEMBER_DIED 1
#define CHILD_WORKER_DIED 2

//  One zdexd the bench started.  pid 0: never started, or already reaped, so
//  nothing else is ever signalled.
typedef struct {
    pid_t pid;
    int out; //  read end of its stdout, -1 when closed
    char *id;
    char *client_ep;
    char *worker_ep;
    char *cluster_ep;
} bench_member_t;

typedef struct {
    //  Options
    long tasks;
    long depth;
    long payload_bytes;
    const char *executor; //  NULL: field omitted, the member uses "default"
    bool execute_mode;
    bool await_mode;    //  durable.submit_and_retrieve: one request per task
    bool memory_mode;   //  submit-retrieve, plus the VmRSS measurement
    bool failover_mode; //  submit-retrieve, then kill the founder, R times
    bool tasks_set;     //  --tasks given (memory and failover have their own default)
    bool max_seconds_set;
    bool members_set;
    long members;        //  zdexd processes to start
    long durability;     //  backups per partition, written into a generated config
    bool durability_set; //  else the member's default (1)
    long repeat;         //  failover measurements, each on a fresh cluster
    long pool_size;      //  0: the member's default; else written into the config
    long port;           //  0: ephemeral ports; else member i on P+3i, P+3i+1, P+3i+2
    bool cdf;            //  add "latency_cdf" to the record
    const char *connect; //  NULL: start our own members and workers
    char *zdexd_path;
    long workers;
    char *worker_path;
    long slots;
    bool json_only;
    long max_seconds;

    int64_t deadline; //  zclock_usecs () bound for the whole run

    //  Processes we started
    bench_member_t member[BENCH_MAX_MEMBERS];
    pid_t *worker_pids; //  `workers` entries; 0: not started or reaped
    char *client_eps;   //  what the DEALER connects to: a comma-separated list
    long members_seen;  //  --connect: as listed by cluster.members
    long workers_seen;  //  --connect: as listed by cluster.workers
    long slots_seen;    //  sum of their slots
    char *config_path;  //  generated zdexd config, removed once every zdexd has read it
    long capacity;      //  memory mode: ring slots per partition in that config
    zdex_procset_t *procs;
    long call_seq; //  s_call requests, numbered for their string "req"

    //  Memory mode: tasks per partition (from the task_id), to prove no ring
    //  wrapped (a partition with more tasks than `capacity` would overwrite results)
    long *partition_tasks;
    int64_t rss_before_kb;
    int64_t rss_after_kb;

    //  Failover mode: the task ids of the current repeat, and per repeat the time
    //  from the SIGKILL to the first answered retrieve and to the last (-1: the
    //  repeat failed)
    int64_t *task_ids;
    int64_t *failover_first_us;
    int64_t *failover_all_us;
    long failover_done;       //  repeats attempted
    long failover_partitions; //  fewest distinct partitions that a repeat's tasks covered
    long failover_retries;    //  UNAVAILABLE answers, all repeats

    zsock_t *dealer;
    void *handle; //  the DEALER's libzmq socket, for zmq_poll and zmq_msg_recv

    //  Direct routing: one DEALER per endpoint of client_eps and, per partition,
    //  the index of its owner's DEALER (-1: the shared DEALER)
    bool no_direct; //  --no-direct
    zsock_t *direct[BENCH_MAX_MEMBERS];
    void *direct_handle[BENCH_MAX_MEMBERS];
    long direct_count;
    int8_t owner_route[BENCH_MAX_PARTITIONS];
    long partition_count; //  0: no table, everything on the shared DEALER
    long direct_sent;     //  requests sent on a direct DEALER
    //  Reply sockets (0: the shared DEALER, 1 + route: a direct one) that may hold
    //  a reply: sent on, or their ZMQ_FD fired, since a receive last found them
    //  empty.  Only these are read, and the wait polls the sockets' ZMQ_FDs
    //  itself: zmq_poll would ask ZMQ_EVENTS of every socket before and after
    //  waiting, two system calls each, on every reply.
    bool dirty[1 + BENCH_MAX_MEMBERS];

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
    long errors;   //  all repeats
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

//  The middle of `count` sorted values (the mean of the two middle ones if even).
static double
s_median (const int64_t *sorted, long count)
{
    if (count <= 0)
        return 0;
    if (count % 2)
        return (double) sorted[count / 2];
    return ((double) sorted[count / 2 - 1] + (double) sorted[count / 2]) / 2;
}

static int
s_compare_int64 (const void *a, const void *b)
{
    int64_t left = *(const int64_t *) a;
    int64_t right = *(const int64_t *) b;
    return (left > right) - (left < right);
}

//  --------------------------------------------------------------------------
//  Options

static void
s_usage (FILE *out)
{
    fprintf (out,
             "usage: zdex-bench [options]\n"
             "  --tasks N            tasks to run (default 100000; memory mode 1000000;\n"
             "                       failover 1000 per repeat)\n"
             "  --depth D            tasks outstanding at all times (default 100)\n"
             "  --payload-bytes B    payload is a JSON string of B 'x' (default 100)\n"
             "  --executor NAME      durable executor (default: field omitted = \"default\")\n"
             "  --mode M             submit-retrieve (default), submit-and-retrieve (one\n"
             "                       request per task, answered with its result), execute\n"
             "                       or memory\n"
             "  --failover           time a failover: kill the founding member, --repeat times\n"
             "  --repeat R           failover measurements, each on a fresh cluster (default 5)\n"
             "  --members N          zdexd processes to start, as one cluster (default 1;\n"
             "                       failover 3)\n"
             "  --durability D       backups of each partition, in a generated config\n"
             "                       (default: the member's own, 1; at most members - 1)\n"
             "  --connect EP[,EP..]  client endpoints of a running cluster; else start one\n"
             "  --zdexd PATH         member binary (default $ZDEXD, else zdexd next to us)\n"
             "  --workers N          worker processes to start (default 1)\n"
             "  --worker PATH        worker binary (default $ZDEX_WORKER, else zdex-worker)\n"
             "  --slots S            --slots for each worker (default 64)\n"
             "  --pool-size P        executor pool_size in a generated zdexd config\n"
             "                       (default: the member's own, 16)\n"
             "  --port P             member i on 127.0.0.1 ports P+3i, P+3i+1, P+3i+2\n"
             "                       (default: ephemeral)\n"
             "  --no-direct          send every request on the shared DEALER (members\n"
             "                       forward what they do not own), as before direct routing\n"
             "  --cdf                add the latency CDF to the record (\"latency_cdf\")\n"
             "  --max-seconds S      abort with exit 1 after S seconds (default 120;\n"
             "                       memory mode 900; failover 300)\n"
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
        OPT_FAILOVER,
        OPT_REPEAT,
        OPT_MEMBERS,
        OPT_DURABILITY,
        OPT_CONNECT,
        OPT_ZDEXD,
        OPT_WORKERS,
        OPT_WORKER,
        OPT_SLOTS,
        OPT_POOL_SIZE,
        OPT_PORT,
        OPT_NO_DIRECT,
        OPT_CDF,
        OPT_JSON_ONLY,
        OPT_MAX_SECONDS,
        OPT_HELP
    };
    //  In the order of the enum: an option's name is options[opt - OPT_TASKS]
    static const struct option options[] = {
        {"tasks", required_argument, NULL, OPT_TASKS},
        {"depth", required_argument, NULL, OPT_DEPTH},
        {"payload-bytes", required_argument, NULL, OPT_PAYLOAD},
        {"executor", required_argument, NULL, OPT_EXECUTOR},
        {"mode", required_argument, NULL, OPT_MODE},
        {"failover", no_argument, NULL, OPT_FAILOVER},
        {"repeat", required_argument, NULL, OPT_REPEAT},
        {"members", required_argument, NULL, OPT_MEMBERS},
        {"durability", required_argument, NULL, OPT_DURABILITY},
        {"connect", required_argument, NULL, OPT_CONNECT},
        {"zdexd", required_argument, NULL, OPT_ZDEXD},
        {"workers", required_argument, NULL, OPT_WORKERS},
        {"worker", required_argument, NULL, OPT_WORKER},
        {"slots", required_argument, NULL, OPT_SLOTS},
        {"pool-size", required_argument, NULL, OPT_POOL_SIZE},
        {"port", required_argument, NULL, OPT_PORT},
        {"no-direct", no_argument, NULL, OPT_NO_DIRECT},
        {"cdf", no_argument, NULL, OPT_CDF},
        {"json-only", no_argument, NULL, OPT_JSON_ONLY},
        {"max-seconds", required_argument, NULL, OPT_MAX_SECONDS},
        {"help", no_argument, NULL, OPT_HELP},
        {NULL, 0, NULL, 0}};
    const char *zdexd = NULL;
    const char *worker = NULL;
    bool repeat_set = false;
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
            self->await_mode = streq (optarg, "submit-and-retrieve");
            good = self->execute_mode || self->memory_mode || self->await_mode ||
                   streq (optarg, "submit-retrieve");
            break;
        case OPT_FAILOVER:
            self->failover_mode = true;
            break;
        case OPT_REPEAT:
            good = s_parse_long (optarg, 1, 1000, &self->repeat);
            repeat_set = true;
            break;
        case OPT_MEMBERS:
            good = s_parse_long (optarg, 1, BENCH_MAX_MEMBERS, &self->members);
            self->members_set = true;
            break;
        case OPT_DURABILITY:
            good = s_parse_long (optarg, 0, BENCH_MAX_MEMBERS - 1, &self->durability);
            self->durability_set = true;
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
            //  Room for the last member's three ports
            good = s_parse_long (optarg, 1, 65535L - 3 * BENCH_MAX_MEMBERS, &self->port);
            break;
        case OPT_NO_DIRECT:
            self->no_direct = true;
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
    const char *conflict = NULL;
    if (self->connect && self->pool_size)
        conflict = "--pool-size configures the members the bench starts: drop --connect";
    else if (self->connect && (self->members_set || self->durability_set))
        conflict = "--members and --durability describe the cluster the bench starts: drop "
                   "--connect";
    else if (self->connect && self->memory_mode)
        conflict = "--mode memory reads the member's /proc entry, so it starts its own member: "
                   "drop --connect";
    else if (self->failover_mode &&
             (self->connect || self->memory_mode || self->execute_mode || self->await_mode))
        conflict = "--failover kills a member that the bench started, after a submit-retrieve "
                   "run: drop --connect and --mode";
    else if (repeat_set && !self->failover_mode)
        conflict = "--repeat counts failover measurements: add --failover";
    else if (self->memory_mode && self->members_set && self->members != 1)
        conflict = "--mode memory measures one member: drop --members";
    if (conflict) {
        fprintf (stderr, "zdex-bench: %s\n", conflict);
        return -1;
    }
    if (self->failover_mode && !self->members_set)
        self->members = BENCH_FAILOVER_MEMBERS;
    if (self->durability_set && self->durability > self->members - 1) {
        fprintf (stderr,
                 "zdex-bench: --durability %ld needs at least %ld members (--members %ld)\n",
                 self->durability, self->durability + 1, self->members);
        return -1;
    }
    if (!self->durability_set)
        self->durability = BENCH_DEFAULT_DURABILITY;
    if (self->failover_mode && (self->members < 2 || self->durability < 1)) {
        fprintf (stderr, "zdex-bench: --failover needs a backup to promote: --members 2 or more "
                         "and --durability 1 or more\n");
        return -1;
    }
    if (self->memory_mode && !self->tasks_set)
        self->tasks = BENCH_MEMORY_TASKS;
    if (self->memory_mode && !self->max_seconds_set)
        self->max_seconds = BENCH_MEMORY_SECONDS;
    if (self->failover_mode && !self->tasks_set)
        self->tasks = BENCH_FAILOVER_TASKS;
    if (self->failover_mode && !self->max_seconds_set)
        self->max_seconds = BENCH_FAILOVER_SECONDS;
    if (self->failover_mode && !repeat_set)
        self->repeat = BENCH_FAILOVER_REPEAT;
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
s_describe_exit (const char *what, long index, pid_t pid, int status)
{
    if (WIFEXITED (status))
        fprintf (stderr, "zdex-bench: %s %ld (pid %d) exited with status %d\n", what, index + 1,
                 (int) pid, WEXITSTATUS (status));
    else if (WIFSIGNALED (status))
        fprintf (stderr, "zdex-bench: %s %ld (pid %d) killed by signal %d\n", what, index + 1,
                 (int) pid, WTERMSIG (status));
}

//  Reaps *pid if it has exited (then zeroes it); true if it did.
static bool
s_reaped (pid_t *pid, const char *what, long index, bool describe)
{
    if (*pid <= 0)
        return false;
    int status = 0;
    pid_t rc = waitpid (*pid, &status, WNOHANG);
    if (rc == *pid || (rc < 0 && errno == ECHILD)) {
        if (describe && rc == *pid)
            s_describe_exit (what, index, *pid, status);
        *pid = 0;
        return true;
    }
    return false;
}

//  Reaps children that have exited; returns CHILD_* bits for those that did.
static int
s_check_children (bench_t *self)
{
    int died = 0;
    for (long index = 0; index < self->members; index++)
        if (s_reaped (&self->member[index].pid, "zdexd", index, true))
            died |= CHILD_MEMBER_DIED;
    for (long index = 0; self->worker_pids && index < self->workers; index++)
        if (s_reaped (&self->worker_pids[index], "zdex-worker", index, true))
            died |= CHILD_WORKER_DIED;
    return died;
}

//  Passes whatever a zdexd printed on stdout after its ready line on to stderr,
//  so that no member ever blocks on a full pipe.
static void
s_forward_member_output (bench_t *self)
{
    for (long index = 0; index < self->members; index++) {
        bench_member_t *member = &self->member[index];
        size_t total = 0;
        while (member->out >= 0 && total < BENCH_MAX_READ_PER_CALL) {
            char buffer[4096];
            ssize_t size = read (member->out, buffer, sizeof buffer);
            if (size < 0 && errno == EINTR)
                continue;
            if (size < 0 && errno == EAGAIN)
                break;
            if (size <= 0) {
                close (member->out);
                member->out = -1;
                break;
            }
            s_write_stderr (buffer, (size_t) size);
            total += (size_t) size;
        }
    }
}

//  Polls `socket` (may be NULL) and every member's stdout for up to timeout_ms,
//  passing member output on.  Returns 1 when the socket is readable, 0 when not,
//  -1 when the poll failed.
static int
s_wait_io (bench_t *self, void *socket, long timeout_ms)
{
    zmq_pollitem_t items[1 + BENCH_MAX_MEMBERS];
    int count = 0;
    if (socket)
        items[count++] = (zmq_pollitem_t){socket, 0, ZMQ_POLLIN, 0};
    for (long index = 0; index < self->members; index++)
        if (self->member[index].out >= 0)
            items[count++] = (zmq_pollitem_t){NULL, self->member[index].out, ZMQ_POLLIN, 0};
    if (count == 0) {
        zclock_sleep ((int) timeout_ms);
        return 0;
    }
    int rc = zmq_poll (items, count, timeout_ms);
    if (rc < 0) {
        if (errno == EINTR)
            return 0;
        fprintf (stderr, "zdex-bench: poll: %s\n", zmq_strerror (errno));
        return -1;
    }
    bool readable = socket && (items[0].revents & ZMQ_POLLIN);
    for (int index = socket ? 1 : 0; index < count; index++)
        if (items[index].revents) {
            s_forward_member_output (self);
            break;
        }
    return readable ? 1 : 0;
}

//  Stops every process we started, by pid: SIGTERM, then SIGKILL for any still
//  running after BENCH_STOP_GRACE_MS.  The workers go first, so that no member
//  hands a task to a worker on its way out.
static void
s_stop_children (bench_t *self)
{
    pid_t *groups[2][BENCH_MAX_MEMBERS + 1024];
    long sizes[2] = {0, 0};
    for (long index = 0; self->worker_pids && index < self->workers; index++)
        groups[0][sizes[0]++] = &self->worker_pids[index];
    for (long index = 0; index < self->members; index++)
        groups[1][sizes[1]++] = &self->member[index].pid;
    for (int group = 0; group < 2; group++) {
        bool any = false;
        for (long index = 0; index < sizes[group]; index++)
            if (*groups[group][index] > 0) {
                kill (*groups[group][index], SIGTERM);
                any = true;
            }
        int64_t until = zclock_usecs () + BENCH_STOP_GRACE_MS * INT64_C (1000);
        while (any && zclock_usecs () < until) {
            any = false;
            for (long index = 0; index < sizes[group]; index++)
                if (!s_reaped (groups[group][index], "", index, false) && *groups[group][index] > 0)
                    any = true;
            s_forward_member_output (self);
            if (any)
                zclock_sleep (10);
        }
        for (long index = 0; index < sizes[group]; index++) {
            pid_t pid = *groups[group][index];
            if (pid <= 0)
                continue;
            fprintf (stderr,
                     "zdex-bench: %s %ld (pid %d) ignored SIGTERM for %d ms, sending SIGKILL\n",
                     group ? "zdexd" : "zdex-worker", index + 1, (int) pid, BENCH_STOP_GRACE_MS);
            kill (pid, SIGKILL);
            while (waitpid (pid, NULL, 0) < 0 && errno == EINTR)
                ;
            *groups[group][index] = 0;
        }
    }
    for (long index = 0; index < self->members; index++) {
        bench_member_t *member = &self->member[index];
        if (member->out >= 0) {
            s_forward_member_output (self);
            if (member->out >= 0)
                close (member->out);
            member->out = -1;
        }
    }
}

//  Takes member=, client=, worker=, cluster= from `zdexd ready member=.. ..`.
static int
s_parse_ready (bench_member_t *member, char *line)
{
    char *save = NULL;
    for (char *token = strtok_r (line, " \t\r", &save); token;
         token = strtok_r (NULL, " \t\r", &save)) {
        char **field = NULL;
        if (strncmp (token, "member=", 7) == 0)
            field = &member->id;
        else if (strncmp (token, "client=", 7) == 0)
            field = &member->client_ep;
        else if (strncmp (token, "worker=", 7) == 0)
            field = &member->worker_ep;
        else if (strncmp (token, "cluster=", 8) == 0)
            field = &member->cluster_ep;
        if (field) {
            free (*field);
            *field = strdup (strchr (token, '=') + 1);
        }
    }
    if (!member->id || !member->client_ep || !member->worker_ep || !member->cluster_ep ||
        !*member->client_ep || !*member->worker_ep || !*member->cluster_ep) {
        fprintf (stderr, "zdex-bench: zdexd ready line lacks member=, client=, worker= or "
                         "cluster=\n");
        return -1;
    }
    return 0;
}

//  Reads a zdexd's stdout (fd, still blocking, not yet member->out) until the
//  ready line; earlier lines go to stderr.
static int
s_read_ready_line (bench_t *self, bench_member_t *member, int fd)
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
                return s_parse_ready (member, buffer);
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
        //  The members started before this one keep printing too
        s_forward_member_output (self);
        struct pollfd item = {fd, POLLIN, 0};
        int rc = poll (&item, 1, (int) s_min64 ((until - now + 999) / 1000, 100));
        if (rc <= 0)
            continue; //  timeout or EINTR: the checks above decide
        ssize_t size = read (fd, buffer + used, sizeof buffer - used);
        if (size < 0 && errno == EINTR)
            continue;
        if (size <= 0) {
            fprintf (stderr, "zdex-bench: zdexd closed its stdout before the ready line\n");
            return -1;
        }
        used += (size_t) size;
    }
}

//  Memory mode, --pool-size and --durability: writes a zdexd config for the
//  executor, which every member reads.  In memory mode the capacity must hold
//  every result: tasks land on random partitions, so the per-partition count is
//  binomial around N/P with deviation below sqrt(N/P); eight deviations more make
//  a wrap practically impossible, and the run checks it anyway from the task ids.
//  Returns 0 (config_path set), or -1.
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
    if (self->durability_set)
        json_object_set_new (settings, "durability", json_integer (self->durability));
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

//  Starts member `index`: the first founds the cluster, the others join it through
//  the first one's cluster endpoint.
static int
s_start_member (bench_t *self, long index)
{
    bench_member_t *member = &self->member[index];
    //  O_CLOEXEC: no other child may inherit the pipe, or EOF would never come
    int fds[2];
    if (pipe2 (fds, O_CLOEXEC)) {
        fprintf (stderr, "zdex-bench: pipe: %s\n", strerror (errno));
        return -1;
    }
    char endpoints[3][64];
    for (int which = 0; which < 3; which++)
        if (self->port)
            snprintf (endpoints[which], sizeof endpoints[which], "tcp://127.0.0.1:%ld",
                      self->port + 3 * index + which);
        else
            snprintf (endpoints[which], sizeof endpoints[which], "tcp://127.0.0.1:*");
    char partitions[16];
    snprintf (partitions, sizeof partitions, "%d", BENCH_PARTITIONS);
    char *argv[20] = {self->zdexd_path,    "--client-endpoint", endpoints[0],
                      "--worker-endpoint", endpoints[1],        "--cluster-endpoint",
                      endpoints[2],        "--partition-count", partitions};
    int argc = 9;
    //  This run's own cluster name: another run's (or a test's) members seeded
    //  with a port we now use never join us.
    char cluster_name[32];
    snprintf (cluster_name, sizeof cluster_name, "bench-%d", (int) getpid ());
    argv[argc++] = "--cluster-name";
    argv[argc++] = cluster_name;
    if (index > 0) {
        argv[argc++] = "--seed";
        argv[argc++] = self->member[0].cluster_ep;
    }
    if (self->failover_mode) {
        //  The founder keeps every primary, so one SIGKILL fails all of them over.
        argv[argc++] = "--rebalance";
        argv[argc++] = "off";
    }
    if (self->config_path) {
        argv[argc++] = "--config";
        argv[argc++] = self->config_path;
    }
    argv[argc] = NULL;
    pid_t pid = s_spawn (argv, fds[1]);
    close (fds[1]);
    if (pid < 0) {
        close (fds[0]);
        return -1;
    }
    member->pid = pid;
    if (s_read_ready_line (self, member, fds[0])) {
        close (fds[0]);
        return -1;
    }
    fcntl (fds[0], F_SETFL, fcntl (fds[0], F_GETFL) | O_NONBLOCK);
    member->out = fds[0];
    if (!self->json_only)
        fprintf (stderr, "zdex-bench: zdexd %ld pid %d member %s client %s worker %s cluster %s\n",
                 index + 1, (int) pid, member->id, member->client_ep, member->worker_ep,
                 member->cluster_ep);
    return 0;
}

static int
s_start_members (bench_t *self)
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
    int rc = 0;
    for (long index = 0; rc == 0 && index < self->members; index++)
        rc = s_start_member (self, index);
    if (self->config_path) {
        unlink (self->config_path); //  read at start-up, or never
        free (self->config_path);
        self->config_path = NULL;
    }
    return rc;
}

//  Each worker is given one member's worker endpoint, in turn; it learns the
//  others from worker.members.
static int
s_start_workers (bench_t *self)
{
    char slots[32];
    snprintf (slots, sizeof slots, "%ld", self->slots);
    for (long index = 0; index < self->workers; index++) {
        char *argv[] = {
            self->worker_path, "--connect", self->member[index % self->members].worker_ep,
            "--slots",         slots,       NULL};
        //  Worker stdout goes to our stderr: our stdout is the JSON record only
        pid_t pid = s_spawn (argv, STDERR_FILENO);
        if (pid < 0)
            return -1;
        self->worker_pids[index] = pid;
    }
    return 0;
}

//  Forgets the endpoints and ids of the members of a cluster that was stopped.
static void
s_forget_members (bench_t *self)
{
    for (long index = 0; index < BENCH_MAX_MEMBERS; index++) {
        bench_member_t *member = &self->member[index];
        assert (member->pid == 0 && member->out == -1);
        free (member->id);
        free (member->client_ep);
        free (member->worker_ep);
        free (member->cluster_ep);
        member->id = member->client_ep = member->worker_ep = member->cluster_ep = NULL;
    }
}

//  --------------------------------------------------------------------------
//  Sockets

//  Receives one message and keeps its last frame (the JSON; a stray envelope
//  frame before it is dropped).  Returns 0, or -1 with errno (EAGAIN: none).
static int
s_recv_last_frame (void *handle, zmq_msg_t *msg)
{
    if (zmq_msg_recv (msg, handle, ZMQ_DONTWAIT) < 0)
        return -1;
    while (zmq_msg_more (msg))
        if (zmq_msg_recv (msg, handle, 0) < 0)
            return -1;
    return 0;
}

static int
s_send (bench_t *self, const char *data, size_t size)
{
    self->dirty[0] = true; //  a send may take in the socket's commands
    while (zmq_send (self->handle, data, size, 0) < 0) {
        if (errno == EINTR && !zsys_interrupted)
            continue;
        fprintf (stderr, "zdex-bench: send failed: %s\n", zmq_strerror (errno));
        self->fatal = true;
        return -1;
    }
    return 0;
}

//  Closes the direct DEALERs and forgets the table.
static void
s_routes_close (bench_t *self)
{
    for (long index = 0; index < self->direct_count; index++) {
        zsock_destroy (&self->direct[index]);
        self->direct_handle[index] = NULL;
    }
    self->direct_count = 0;
    self->partition_count = 0;
    memset (self->owner_route, -1, sizeof self->owner_route);
}

//  Sends a request about task_id: straight to its partition's owner when the table
//  names a direct DEALER and that DEALER has a connection up, else as s_send.
static int
s_send_task (bench_t *self, int64_t task_id, const char *data, size_t size)
{
    int64_t partition = task_id >> 32;
    int route =
        partition >= 0 && partition < self->partition_count ? self->owner_route[partition] : -1;
    if (route >= 0) {
        self->dirty[1 + route] = true; //  a send may take in the socket's commands
        if (zmq_send (self->direct_handle[route], data, size, ZMQ_DONTWAIT) >= 0) {
            self->direct_sent++;
            return 0;
        }
    }
    return s_send (self, data, size);
}

//  A DEALER connected to every endpoint of a comma-separated list, or NULL.
static zsock_t *
s_dealer_new (const char *endpoints)
{
    zsock_t *dealer = zsock_new (ZMQ_DEALER);
    if (!dealer) {
        fprintf (stderr, "zdex-bench: cannot create DEALER socket\n");
        return NULL;
    }
    //  The window is bounded by --depth; a high-water mark must never block it
    zsock_set_sndhwm (dealer, 0);
    zsock_set_rcvhwm (dealer, 0);
    zsock_set_linger (dealer, 0);
    char *list = strdup (endpoints);
    char *save = NULL;
    int connected = 0;
    for (char *endpoint = list ? strtok_r (list, ",", &save) : NULL; endpoint;
         endpoint = strtok_r (NULL, ",", &save)) {
        if (zsock_connect (dealer, "%s", endpoint)) {
            fprintf (stderr, "zdex-bench: cannot connect to '%s'\n", endpoint);
            connected = -1;
            break;
        }
        connected++;
    }
    free (list);
    if (connected <= 0)
        zsock_destroy (&dealer);
    return dealer;
}

//  Sends one request, {"req":"call-N",<fields>}, on a DEALER of its own connected
//  to `endpoints`, and waits for the answer until `until` while passing member
//  output on.  A separate socket keeps these answers out of the task stream, and
//  lets the caller ask one given member.  Returns the parsed answer (caller owns),
//  or NULL on timeout, interrupt, a member's death, or a socket failure.
static json_t *
s_call (bench_t *self, const char *endpoints, const char *fields, int64_t until)
{
    zsock_t *socket = s_dealer_new (endpoints);
    if (!socket)
        return NULL;
    char expect[32];
    snprintf (expect, sizeof expect, "call-%ld", ++self->call_seq);
    char *text = zsys_sprintf ("{\"req\":\"%s\",%s}", expect, fields);
    void *handle = zsock_resolve (socket);
    json_t *answer = NULL;
    bool failed = !text || zmq_send (handle, text, strlen (text), 0) < 0;
    free (text);
    while (!failed && !answer) {
        if (zsys_interrupted) {
            self->interrupted = true;
            break;
        }
        int64_t now = zclock_usecs ();
        if (now >= until || (s_check_children (self) & CHILD_MEMBER_DIED))
            break;
        int rc = s_wait_io (self, handle,
                            (long) s_min64 ((until - now + 999) / 1000, BENCH_CALL_SLICE_MS));
        if (rc < 0)
            break;
        zmq_msg_t msg;
        zmq_msg_init (&msg);
        while (rc > 0 && !answer && s_recv_last_frame (handle, &msg) == 0) {
            json_error_t error;
            json_t *reply = json_loadb (zmq_msg_data (&msg), zmq_msg_size (&msg),
                                        JSON_REJECT_DUPLICATES, &error);
            json_t *req = json_object_get (reply, "req");
            if (json_is_string (req) && streq (json_string_value (req), expect))
                answer = reply;
            else
                json_decref (reply);
        }
        zmq_msg_close (&msg);
    }
    zsock_destroy (&socket);
    return answer;
}

//  Says what an answer that is not ok carried (or that none came).
static void
s_describe_answer (const char *what, const char *endpoint, json_t *answer)
{
    char *text = answer ? json_dumps (answer, JSON_COMPACT) : NULL;
    fprintf (stderr, "zdex-bench: %s from %s: %.400s\n", what, endpoint, text ? text : "no answer");
    free (text);
}

//  Waits until every member we started lists all of them, has a partition table
//  with every backup assigned (so that no submit is acknowledged without its
//  backup), and lists every worker.  The waits are parked at the members
//  (min_members, min_workers); only the backups are polled.  Returns 0 or -1.
static int
s_wait_for_cluster (bench_t *self)
{
    int64_t started = zclock_usecs ();
    int64_t until = s_min64 (started + BENCH_CLUSTER_TIMEOUT_MS * INT64_C (1000), self->deadline);
    for (long index = 0; index < self->members; index++) {
        const char *endpoint = self->member[index].client_ep;
        long timeout_ms = (long) ((until - zclock_usecs ()) / 1000);
        char fields[160];
        snprintf (fields, sizeof fields,
                  "\"op\":\"cluster.members\",\"min_members\":%ld,\"timeout_ms\":%ld",
                  self->members, timeout_ms > 0 ? timeout_ms : 0);
        json_t *answer = s_call (self, endpoint, fields, until + INT64_C (1000000));
        bool good = json_is_true (json_object_get (answer, "ok"));
        if (!good)
            s_describe_answer ("the members did not all join: cluster.members", endpoint, answer);
        json_decref (answer);
        if (!good)
            return -1;
    }
    //  A single member has nobody to back it up
    for (long index = 0; self->members > 1 && index < self->members; index++) {
        const char *endpoint = self->member[index].client_ep;
        while (true) {
            json_t *answer = s_call (self, endpoint, "\"op\":\"cluster.members\"", until);
            json_t *under = json_object_get (answer, "underreplicated_partitions");
            json_t *version = json_object_get (answer, "table_version");
            bool ready = json_is_true (json_object_get (answer, "ok")) && json_is_integer (under) &&
                         json_integer_value (under) == 0 && json_is_integer (version) &&
                         json_integer_value (version) > 0;
            if (!ready && (!answer || zclock_usecs () + BENCH_CLUSTER_POLL_MS * 1000 >= until)) {
                s_describe_answer ("backups not assigned within the wait: cluster.members",
                                   endpoint, answer);
                json_decref (answer);
                return -1;
            }
            json_decref (answer);
            if (ready)
                break;
            s_wait_io (self, NULL, BENCH_CLUSTER_POLL_MS);
        }
    }
    for (long index = 0; self->workers > 0 && index < self->members; index++) {
        const char *endpoint = self->member[index].client_ep;
        long timeout_ms = (long) ((until - zclock_usecs ()) / 1000);
        char fields[160];
        snprintf (fields, sizeof fields,
                  "\"op\":\"cluster.workers\",\"min_workers\":%ld,\"timeout_ms\":%ld",
                  self->workers, timeout_ms > 0 ? timeout_ms : 0);
        json_t *answer = s_call (self, endpoint, fields, until + INT64_C (1000000));
        bool good = json_is_true (json_object_get (answer, "ok"));
        if (!good)
            s_describe_answer ("not every worker registered: cluster.workers", endpoint, answer);
        json_decref (answer);
        if (!good)
            return -1;
    }
    if (!self->json_only)
        fprintf (stderr,
                 "zdex-bench: %ld member(s) joined, backups assigned, %ld worker(s) listed by "
                 "every member, in %.2f s\n",
                 self->members, self->workers, (double) (zclock_usecs () - started) / 1e6);
    return 0;
}

//  --connect: what the cluster says about itself, for the record only (its
//  members and workers are not ours to wait for).
static void
s_probe_connected (bench_t *self)
{
    int64_t until =
        s_min64 (zclock_usecs () + BENCH_CONNECT_PROBE_MS * INT64_C (1000), self->deadline);
    json_t *answer = s_call (self, self->client_eps, "\"op\":\"cluster.members\"", until);
    json_t *members = json_object_get (answer, "members");
    if (json_is_array (members))
        self->members_seen = (long) json_array_size (members);
    else
        s_describe_answer ("warning: cluster.members", self->client_eps, answer);
    json_decref (answer);
    answer = s_call (self, self->client_eps, "\"op\":\"cluster.workers\"", until);
    json_t *workers = json_object_get (answer, "workers");
    if (json_is_array (workers)) {
        self->workers_seen = (long) json_array_size (workers);
        for (size_t index = 0; index < json_array_size (workers); index++) {
            json_t *slots = json_object_get (json_array_get (workers, index), "slots");
            if (json_is_integer (slots))
                self->slots_seen += (long) json_integer_value (slots);
        }
        if (self->workers_seen == 0)
            fprintf (stderr, "zdex-bench: warning: %s lists no workers; tasks will not run\n",
                     self->client_eps);
    } else
        s_describe_answer ("warning: cluster.workers", self->client_eps, answer);
    json_decref (answer);
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
    json_t *reply = zdex_json_load (data, size, &error); //  the fast reader, as members use
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
                       : self->await_mode   ? "durable.submit_and_retrieve"
                                            : "durable.submit";
    if (!json_is_true (json_object_get (reply, "ok"))) {
        s_error (self, "task %" JSON_INTEGER_FORMAT ": %s: %.*s", index, what, shown, data);
        s_finish (self, (long) index, false, now);
    } else if (submitted && self->execute_mode)
        s_finish (self, (long) index, true, now);
    else if (submitted && !self->await_mode) {
        zdex_hist_record (self->submit_ack, now - self->sent_at[index]);
        json_t *task_id = json_object_get (reply, "task_id");
        if (!json_is_integer (task_id) || json_integer_value (task_id) < 0) {
            s_error (self, "task %" JSON_INTEGER_FORMAT ": %s reply has no task_id: %.*s", index,
                     what, shown, data);
            s_finish (self, (long) index, false, now);
        } else {
            if (self->task_ids)
                self->task_ids[index] = (int64_t) json_integer_value (task_id);
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
                s_send_task (self, json_integer_value (task_id), frame, (size_t) length) == 0)
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

//  Reads the sockets that may hold replies until each is found empty, refilling
//  after every reply so that the window stays at --depth.  At most
//  BENCH_DRAIN_MAX replies per call, so the caller's clock checks still run.
static void
s_drain_replies (bench_t *self)
{
    zmq_msg_t msg;
    zmq_msg_init (&msg);
    bool any = true;
    for (long handled = 0; any && handled < BENCH_DRAIN_MAX && !self->fatal;) {
        any = false;
        for (long index = 0; index <= self->direct_count && !self->fatal; index++) {
            if (!self->dirty[index])
                continue;
            any = true;
            void *handle = index == 0 ? self->handle : self->direct_handle[index - 1];
            if (s_recv_last_frame (handle, &msg) == 0) {
                handled++;
                s_handle_reply (self, zmq_msg_data (&msg), zmq_msg_size (&msg), zclock_usecs ());
                s_refill (self);
            } else if (errno == EAGAIN)
                self->dirty[index] = false;
            else if (errno != EINTR) {
                fprintf (stderr, "zdex-bench: receive failed: %s\n", zmq_strerror (errno));
                self->fatal = true;
            }
        }
    }
    zmq_msg_close (&msg);
}

//  Waits up to timeout_ms for a reply socket's ZMQ_FD or a member's output; marks
//  the sockets whose descriptor fired.  Returns -1 if the poll failed.
static int
s_wait_reply_fds (bench_t *self, long timeout_ms)
{
    struct pollfd fds[2 * BENCH_MAX_MEMBERS + 1];
    int count = 0;
    for (long index = 0; index <= self->direct_count; index++) {
        void *handle = index == 0 ? self->handle : self->direct_handle[index - 1];
        int fd = -1;
        size_t size = sizeof fd;
        if (zmq_getsockopt (handle, ZMQ_FD, &fd, &size) != 0)
            return -1;
        fds[count++] = (struct pollfd){fd, POLLIN, 0};
    }
    int sockets = count;
    for (long index = 0; index < self->members; index++)
        if (self->member[index].out >= 0)
            fds[count++] = (struct pollfd){self->member[index].out, POLLIN, 0};
    if (poll (fds, (nfds_t) count, (int) timeout_ms) < 0)
        return errno == EINTR ? 0 : -1;
    for (int index = 0; index < sockets; index++)
        if (fds[index].revents)
            self->dirty[index] = true;
    for (int index = sockets; index < count; index++)
        if (fds[index].revents) {
            s_forward_member_output (self);
            break;
        }
    return 0;
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
                fprintf (stderr, "zdex-bench: a member is gone, aborting\n");
                self->fatal = true;
                break;
            }
        }
        long timeout = (long) ((s_min64 (next_tick, self->deadline) - now + 999) / 1000);
        bool dirty = false;
        for (long index = 0; index <= self->direct_count; index++)
            dirty |= self->dirty[index];
        if (!dirty && s_wait_reply_fds (self, timeout) < 0) {
            fprintf (stderr, "zdex-bench: poll: %s\n", strerror (errno));
            self->fatal = true;
            break;
        }
        s_drain_replies (self);
        s_refill (self);
    }
    self->finished_at = zclock_usecs ();
    zdex_procset_sample (self->procs);
}

//  Waits `msec` while passing on the members' output; false if interrupted.
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

//  --------------------------------------------------------------------------
//  Failover

//  Asks durable.stats through a survivor.  The founder ran every task of this
//  repeat and no other member ran any: then the founder owned the partitions of
//  all of them (a task runs on its partition's owner), and nothing has changed
//  the table since.  Returns 0, or -1 (the measurement would be meaningless).
static int
s_check_founder_owns (bench_t *self)
{
    char *fields = zsys_sprintf ("\"op\":\"durable.stats\"%s", self->exec_field);
    int64_t until =
        s_min64 (zclock_usecs () + BENCH_CLUSTER_TIMEOUT_MS * INT64_C (1000), self->deadline);
    json_t *answer = fields ? s_call (self, self->member[1].client_ep, fields, until) : NULL;
    free (fields);
    json_t *members = json_object_get (answer, "members");
    bool good = json_is_true (json_object_get (answer, "ok")) && json_is_object (members);
    for (long index = 0; good && index < self->members; index++) {
        json_t *completed =
            json_object_get (json_object_get (members, self->member[index].id), "completed");
        json_int_t count = json_is_integer (completed) ? json_integer_value (completed) : -1;
        //  A member missing from the stats (it did not answer in time) proves nothing
        good = count == (index == 0 ? self->tasks : 0);
    }
    if (!good) {
        s_error (self,
                 "durable.stats does not show the founder %s running all %ld tasks and "
                 "the others none, so the founder's partitions are unknown",
                 self->member[0].id, self->tasks);
        s_describe_answer ("durable.stats", self->member[1].client_ep, answer);
    }
    json_decref (answer);
    return good ? 0 : -1;
}

static void
s_send_retrieve (bench_t *self, long index)
{
    int length = snprintf (self->retrieve_buf, self->retrieve_size,
                           "{\"op\":\"durable.retrieve\",\"req\":%ld,\"task_id\":%" PRId64 "%s}",
                           index, self->task_ids[index], self->exec_field);
    self->state[index] = TASK_RETRIEVE_SENT;
    if (length > 0 && (size_t) length < self->retrieve_size &&
        s_send_task (self, self->task_ids[index], self->retrieve_buf, (size_t) length) == 0)
        self->pending++;
}

//  As s_finish, but the latency of a retrieve after the kill is not a task's
//  latency: the failover times are kept apart.
static void
s_failover_finish (bench_t *self, long index, bool ok, int64_t now)
{
    self->state[index] = ok ? TASK_DONE : TASK_FAILED;
    self->active--;
    if (ok)
        self->completed++;
    else
        self->failed++;
    self->last_done_at = now;
}

//  One reply of the failover phase.  UNAVAILABLE (the owner died, tables are
//  changing) puts the task on the retry queue; the result answers the task.
static void
s_failover_reply (bench_t *self, const char *data, size_t size, int64_t now, int64_t killed_at,
                  long *retry_queue, long *retry_tail)
{
    int shown = (int) (size < 300 ? size : 300);
    json_error_t error;
    json_t *reply = zdex_json_load (data, size, &error); //  the fast reader, as members use
    json_t *req = json_object_get (reply, "req");
    json_int_t index = json_is_integer (req) ? json_integer_value (req) : -1;
    if (index < 0 || index >= self->tasks || self->state[index] != TASK_RETRIEVE_SENT) {
        s_error (self, "failover: reply matches no outstanding retrieve: %.*s", shown, data);
        json_decref (reply);
        return;
    }
    self->pending--;
    const char *code =
        json_string_value (json_object_get (json_object_get (reply, "error"), "code"));
    if (json_is_true (json_object_get (reply, "ok"))) {
        json_t *result = json_object_get (reply, "result");
        bool good =
            json_is_string (result) &&
            json_string_length (result) == (size_t) self->payload_bytes &&
            memcmp (json_string_value (result), self->payload, (size_t) self->payload_bytes) == 0;
        if (!good)
            s_error (self,
                     "failover: task %" JSON_INTEGER_FORMAT ": result is not the payload: %.*s",
                     index, shown, data);
        s_failover_finish (self, (long) index, good, now);
    } else if (code && streq (code, "UNAVAILABLE")) {
        self->state[index] = TASK_IDLE;
        self->sent_at[index] = now + BENCH_FAILOVER_RETRY_MS * INT64_C (1000);
        retry_queue[(*retry_tail)++ % self->tasks] = (long) index;
        self->failover_retries++;
    } else {
        s_error (self,
                 "failover: task %" JSON_INTEGER_FORMAT " (id %" PRId64
                 "): durable.retrieve %.1f ms after the SIGKILL: %.*s",
                 index, self->task_ids[index], (double) (now - killed_at) / 1000, shown, data);
        s_failover_finish (self, (long) index, false, now);
    }
    json_decref (reply);
}

//  Kills the founder and retrieves every task of this repeat through the
//  survivors, BENCH_FAILOVER_PROBES at a time until one is answered, then --depth
//  at a time, until each is answered.  A retrieve
//  sent before the survivors notice the death waits at them and is answered
//  UNAVAILABLE once the founder leaves the view; it is sent again after
//  BENCH_FAILOVER_RETRY_MS, the resolution of the measurement.  Records the time
//  from the SIGKILL to the first and to the last answer.
static void
s_failover (bench_t *self, long repeat, long *retry_queue)
{
    self->failover_first_us[repeat] = -1;
    self->failover_all_us[repeat] = -1;
    bool covered[BENCH_PARTITIONS] = {false};
    long partitions = 0;
    for (long index = 0; index < self->tasks; index++) {
        int64_t partition = self->task_ids[index] >> 32;
        if (partition >= 0 && partition < BENCH_PARTITIONS && !covered[partition]) {
            covered[partition] = true;
            partitions++;
        }
    }
    if (repeat == 0 || partitions < self->failover_partitions)
        self->failover_partitions = partitions;
    if (s_check_founder_owns (self))
        return;

    //  The record's counters describe the run before the kill: kept aside here
    long kept_completed = self->completed;
    long kept_failed = self->failed;
    int64_t kept_last_done_at = self->last_done_at;
    memset (self->state, TASK_IDLE, (size_t) self->tasks);
    self->next = self->active = self->pending = self->completed = self->failed = 0;
    long retry_head = 0;
    long retry_tail = 0;
    bench_member_t *founder = &self->member[0];
    int64_t killed_at = zclock_usecs ();
    kill (founder->pid, SIGKILL);
    while (waitpid (founder->pid, NULL, 0) < 0 && errno == EINTR)
        ;
    founder->pid = 0;
    int64_t limit = s_min64 (killed_at + BENCH_FAILOVER_LIMIT_MS * INT64_C (1000), self->deadline);
    int64_t first = -1;
    int64_t next_check = killed_at;
    while (self->completed + self->failed < self->tasks && !self->fatal) {
        int64_t now = zclock_usecs ();
        if (zsys_interrupted) {
            self->interrupted = true;
            break;
        }
        if (now >= limit) {
            s_error (self, "failover %ld: %ld of %ld tasks unanswered %.1f s after the SIGKILL",
                     repeat + 1, self->tasks - self->completed - self->failed, self->tasks,
                     (double) (now - killed_at) / 1e6);
            break;
        }
        if (now >= next_check) {
            if (s_check_children (self) & CHILD_MEMBER_DIED) {
                fprintf (stderr, "zdex-bench: a surviving member is gone, aborting\n");
                self->fatal = true;
                break;
            }
            next_check = now + BENCH_CALL_SLICE_MS * INT64_C (1000);
        }
        //  Retries are queued in the order they fall due
        while (retry_head < retry_tail && !self->fatal &&
               self->sent_at[retry_queue[retry_head % self->tasks]] <= now)
            s_send_retrieve (self, retry_queue[retry_head++ % self->tasks]);
        //  Until the first answer a few tasks probe, so that the retries do not
        //  load the survivors while they take over
        long window = first < 0 ? s_min64 (self->depth, BENCH_FAILOVER_PROBES) : self->depth;
        while (self->active < window && self->next < self->tasks && !self->fatal) {
            self->active++;
            s_send_retrieve (self, self->next++);
        }
        int64_t wake = s_min64 (limit, s_min64 (next_check, now + 100000));
        if (retry_head < retry_tail)
            wake = s_min64 (wake, self->sent_at[retry_queue[retry_head % self->tasks]]);
        //  Failover mode has no direct DEALERs: everything comes on the shared one
        int rc = s_wait_io (self, self->handle, (long) ((wake - now + 999) / 1000));
        if (rc < 0) {
            self->fatal = true;
            break;
        }
        zmq_msg_t msg;
        zmq_msg_init (&msg);
        while (rc > 0 && s_recv_last_frame (self->handle, &msg) == 0) {
            int64_t at = zclock_usecs ();
            long before = self->completed;
            s_failover_reply (self, zmq_msg_data (&msg), zmq_msg_size (&msg), at, killed_at,
                              retry_queue, &retry_tail);
            if (self->completed > before && first < 0)
                first = at;
        }
        zmq_msg_close (&msg);
    }
    bool all = self->completed == self->tasks;
    long answered = self->completed;
    long failed = self->failed;
    if (all) {
        self->failover_first_us[repeat] = first - killed_at;
        self->failover_all_us[repeat] = self->last_done_at - killed_at;
    }
    self->completed = kept_completed;
    self->failed = kept_failed;
    self->last_done_at = kept_last_done_at;
    if (!self->json_only) {
        if (all)
            fprintf (stderr,
                     "zdex-bench: failover %ld/%ld: the first of %ld tasks (%ld partitions) "
                     "answered %.1f ms after the SIGKILL, all of them %.1f ms after it; %ld "
                     "UNAVAILABLE answers retried so far\n",
                     repeat + 1, self->repeat, self->tasks, partitions,
                     (double) self->failover_first_us[repeat] / 1000,
                     (double) self->failover_all_us[repeat] / 1000, self->failover_retries);
        else
            fprintf (stderr,
                     "zdex-bench: failover %ld/%ld: %ld of %ld tasks answered, %ld failed\n",
                     repeat + 1, self->repeat, answered, self->tasks, failed);
    }
}

//  --------------------------------------------------------------------------
//  Report

static double
s_round1 (double value)
{
    return (double) (int64_t) (value * 10 + (value < 0 ? -0.5 : 0.5)) / 10; //  no libm needed
}

//  {"min","median","max","runs":[...]} in ms over the repeats that succeeded
//  (null when none did); `sorted` gets those values in order.
static json_t *
s_failover_json (bench_t *self, const int64_t *times, int64_t *sorted, long *count)
{
    *count = 0;
    json_t *runs = json_array ();
    for (long index = 0; index < self->failover_done; index++)
        if (times[index] >= 0) {
            sorted[(*count)++] = times[index];
            json_array_append_new (runs, json_real (s_round1 ((double) times[index] / 1000)));
        }
    if (*count == 0) {
        json_decref (runs);
        return json_null ();
    }
    qsort (sorted, (size_t) *count, sizeof *sorted, s_compare_int64);
    return json_pack ("{s:f, s:f, s:f, s:o}", "min", s_round1 ((double) sorted[0] / 1000), "median",
                      s_round1 (s_median (sorted, *count) / 1000), "max",
                      s_round1 ((double) sorted[*count - 1] / 1000), "runs", runs);
}

static void
s_print_failover (const char *label, const int64_t *sorted, long count, long repeats)
{
    if (count == 0) {
        fprintf (stderr, "  %-20s no repeat succeeded\n", label);
        return;
    }
    fprintf (stderr, "  %-20s min %.1f  median %.1f  max %.1f ms (%ld of %ld repeats)\n", label,
             (double) sorted[0] / 1000, s_median (sorted, count) / 1000,
             (double) sorted[count - 1] / 1000, count, repeats);
}

static void
s_report (bench_t *self)
{
    bool all_done = self->completed + self->failed == self->tasks;
    int64_t end = all_done ? self->last_done_at : self->finished_at;
    int64_t elapsed_us = end > self->started_at ? end - self->started_at : 0;
    double elapsed_s = (double) elapsed_us / 1e6;
    double throughput = elapsed_us > 0 ? (double) self->completed / elapsed_s : 0.0;
    throughput = s_round1 (throughput);
    const char *mode = self->memory_mode     ? "memory"
                       : self->execute_mode  ? "execute"
                       : self->await_mode    ? "submit-and-retrieve"
                       : self->failover_mode ? "failover"
                                             : "submit-retrieve";
    double cpu_s = zdex_procset_cpu_s (self->procs, NULL);
    double cpu_per_task_us = self->completed ? cpu_s * 1e6 / (double) self->completed : 0.0;
    cpu_per_task_us = s_round1 (cpu_per_task_us);
    //  Memory: the member's resident growth over the run, per completed task.  A
    //  completed task keeps its result, not its payload, so the user data it holds
    //  is the echoed result (payload_bytes) and the rest is zdex's own overhead.
    bool memory = self->memory_mode && self->rss_before_kb >= 0 && self->rss_after_kb >= 0 &&
                  self->completed > 0;
    double per_task = memory ? (double) (self->rss_after_kb - self->rss_before_kb) * 1024.0 /
                                   (double) self->completed
                             : 0.0;
    per_task = s_round1 (per_task);
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
    long members = self->connect ? self->members_seen : self->members;
    json_t *failover_first = NULL;
    json_t *failover_all = NULL;
    int64_t *sorted_first = NULL;
    int64_t *sorted_all = NULL;
    long first_count = 0;
    long all_count = 0;
    if (self->failover_mode) {
        sorted_first = calloc ((size_t) self->repeat, sizeof *sorted_first);
        sorted_all = calloc ((size_t) self->repeat, sizeof *sorted_all);
        if (sorted_first && sorted_all) {
            failover_first =
                s_failover_json (self, self->failover_first_us, sorted_first, &first_count);
            failover_all = s_failover_json (self, self->failover_all_us, sorted_all, &all_count);
        }
    }

    if (!self->json_only) {
        fprintf (stderr, "\nzdex-bench results\n");
        fprintf (stderr, "  %-20s %s\n", "mode", mode);
        if (self->connect)
            fprintf (stderr, "  %-20s %ld listed by cluster.members at %s (--connect)\n", "members",
                     members, self->client_eps ? self->client_eps : "?");
        else
            fprintf (stderr,
                     "  %-20s %ld started by the bench, durability %ld%s; client "
                     "connected to %s\n",
                     "members", members, self->durability,
                     self->durability_set ? "" : " (the member's default)",
                     self->client_eps ? self->client_eps : "?");
        fprintf (stderr, "  %-20s %s\n", "executor", self->executor ? self->executor : "default");
        fprintf (stderr, "  %-20s %s, %ld requests sent to their partition's owner directly\n",
                 "routing",
                 self->partition_count > 0 ? "direct to owners (retrieves)"
                                           : "shared DEALER only (members forward)",
                 self->direct_sent);
        fprintf (stderr, "  %-20s %ld requested, %ld completed, %ld failed, %ld unfinished%s\n",
                 "tasks", self->tasks, self->completed, self->failed,
                 self->tasks - self->completed - self->failed,
                 self->failover_mode ? " (the last repeat, before the kill)" : "");
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
        if (!self->execute_mode && !self->await_mode)
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
        if (self->failover_mode) {
            fprintf (stderr,
                     "  %-20s SIGKILL of the founder (owner of every primary), %ld tasks over "
                     "at least %ld partitions per repeat, %ld UNAVAILABLE answers retried\n",
                     "failover", self->tasks, self->failover_partitions, self->failover_retries);
            s_print_failover ("  first answer", sorted_first, first_count, self->repeat);
            s_print_failover ("  every answer", sorted_all, all_count, self->repeat);
        }
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
    json_object_set_new (record, "members", json_integer (members));
    json_object_set_new (record, "durability",
                         self->connect ? json_null () : json_integer (self->durability));
    json_object_set_new (record, "elapsed_s", json_real (elapsed_s));
    json_object_set_new (record, "throughput_tasks_per_s", json_real (throughput));
    json_object_set_new (record, "latency_us", zdex_hist_summary (self->latency));
    json_object_set_new (record, "errors", json_integer (self->errors));
    json_object_set_new (record, "cpu_us_per_task", json_real (cpu_per_task_us));
    json_object_set_new (record, "processes", zdex_procset_json (self->procs));
    json_object_set_new (record, "direct_routing", json_boolean (self->partition_count > 0));
    json_object_set_new (record, "direct_requests", json_integer (self->direct_sent));
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
    if (self->failover_mode) {
        json_object_set_new (record, "repeat", json_integer (self->repeat));
        json_object_set_new (record, "failover_ms", failover_first ? failover_first : json_null ());
        json_object_set_new (record, "failover_all_ms", failover_all ? failover_all : json_null ());
        json_object_set_new (record, "failover_partitions",
                             json_integer (self->failover_partitions));
        json_object_set_new (record, "failover_retries", json_integer (self->failover_retries));
    }
    free (sorted_first);
    free (sorted_all);
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
    s_routes_close (self);
    zsock_destroy (&self->dealer);
    if (self->config_path)
        unlink (self->config_path);
    free (self->config_path);
    s_forget_members (self);
    zdex_procset_destroy (&self->procs);
    zdex_hist_destroy (&self->latency);
    zdex_hist_destroy (&self->submit_ack);
    free (self->partition_tasks);
    free (self->task_ids);
    free (self->failover_first_us);
    free (self->failover_all_us);
    free (self->worker_pids);
    free (self->zdexd_path);
    free (self->worker_path);
    free (self->client_eps);
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
    self->members = 1;
    self->repeat = 1;
    self->workers = 1;
    self->slots = 64;
    self->max_seconds = 120;
    for (long index = 0; index < BENCH_MAX_MEMBERS; index++)
        self->member[index].out = -1;
    memset (self->owner_route, -1, sizeof self->owner_route);
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
                       : self->await_mode ? "{\"op\":\"durable.submit_and_retrieve\",\"req\":"
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
    self->worker_pids = calloc ((size_t) self->workers + 1, sizeof *self->worker_pids);
    bool extras = true;
    if (self->memory_mode)
        extras = (self->partition_tasks = calloc (BENCH_PARTITIONS, sizeof (long))) != NULL;
    if (self->failover_mode) {
        self->task_ids = calloc ((size_t) self->tasks, sizeof *self->task_ids);
        self->failover_first_us = calloc ((size_t) self->repeat, sizeof (int64_t));
        self->failover_all_us = calloc ((size_t) self->repeat, sizeof (int64_t));
        extras = self->task_ids && self->failover_first_us && self->failover_all_us;
    }
    if (!extras || !self->exec_field || !self->sendbuf || !self->retrieve_buf || !self->state ||
        !self->sent_at || !self->worker_pids) {
        fprintf (stderr, "zdex-bench: out of memory\n");
        return -1;
    }
    memcpy (self->sendbuf, head, self->submit_head_len);
    return 0;
}

//  Clears what one run left behind, for the next repeat.
static int
s_reset_run (bench_t *self)
{
    memset (self->state, TASK_IDLE, (size_t) self->tasks);
    memset (self->sent_at, 0, (size_t) self->tasks * sizeof *self->sent_at);
    if (self->task_ids)
        memset (self->task_ids, 0, (size_t) self->tasks * sizeof *self->task_ids);
    self->next = self->active = self->pending = self->completed = self->failed = 0;
    self->started_at = self->finished_at = self->last_done_at = 0;
    self->tick_done = 0;
    zdex_hist_destroy (&self->latency);
    zdex_hist_destroy (&self->submit_ack);
    zdex_procset_destroy (&self->procs);
    self->latency = zdex_hist_new ();
    self->submit_ack = zdex_hist_new ();
    self->procs = zdex_procset_new ();
    if (!self->latency || !self->submit_ack || !self->procs) {
        fprintf (stderr, "zdex-bench: out of memory\n");
        return -1;
    }
    return 0;
}

//  Direct routing: one DEALER per endpoint of client_eps, and the partition table
//  as cluster.members reports it, mapped onto them (an owner whose endpoint is
//  not among them stays on the shared DEALER).  Waits, bounded, until each direct
//  DEALER has its connection up (ZMQ_IMMEDIATE: writable only then), so that the
//  timed run does not start on the shared DEALER.  Without a usable table the run
//  simply goes as with --no-direct.  Returns -1 only when interrupted.
static int
s_routes_open (bench_t *self)
{
    s_routes_close (self);
    if (self->no_direct || self->failover_mode || !strchr (self->client_eps, ','))
        return 0;
    int64_t until =
        s_min64 (zclock_usecs () + BENCH_CONNECT_PROBE_MS * INT64_C (1000), self->deadline);
    json_t *answer = s_call (self, self->client_eps, "\"op\":\"cluster.members\"", until);
    until = s_min64 (zclock_usecs () + BENCH_DIRECT_READY_MS * INT64_C (1000), self->deadline);
    json_t *members = json_object_get (answer, "members");
    json_t *owners = json_object_get (answer, "owners");
    json_int_t partitions = json_integer_value (json_object_get (answer, "partition_count"));
    if (!json_is_array (members) || !json_is_array (owners) || partitions < 1 ||
        partitions > BENCH_MAX_PARTITIONS || json_array_size (owners) != (size_t) partitions) {
        s_describe_answer ("warning: no partition table, no direct routing: cluster.members",
                           self->client_eps, answer);
        json_decref (answer);
        return self->interrupted ? -1 : 0;
    }
    char *list = strdup (self->client_eps);
    char *save = NULL;
    for (char *endpoint = list ? strtok_r (list, ",", &save) : NULL;
         endpoint && self->direct_count < BENCH_MAX_MEMBERS;
         endpoint = strtok_r (NULL, ",", &save)) {
        zsock_t *dealer = zsock_new (ZMQ_DEALER);
        if (!dealer)
            break;
        zsock_set_sndhwm (dealer, 0);
        zsock_set_rcvhwm (dealer, 0);
        zsock_set_linger (dealer, 0);
        zsock_set_immediate (dealer, 1);
        if (zsock_connect (dealer, "%s", endpoint)) {
            zsock_destroy (&dealer);
            continue;
        }
        long route = self->direct_count++;
        self->direct[route] = dealer;
        self->direct_handle[route] = zsock_resolve (dealer);
        self->dirty[1 + route] = true;
        //  Which member listens there: its partitions go to this DEALER
        for (size_t member = 0; member < json_array_size (members); member++) {
            const char *client = json_string_value (
                json_object_get (json_array_get (members, member), "client_endpoint"));
            if (!client || !streq (client, endpoint))
                continue;
            for (json_int_t partition = 0; partition < partitions; partition++)
                if (json_integer_value (json_array_get (owners, (size_t) partition)) ==
                    (json_int_t) member)
                    self->owner_route[partition] = (int8_t) route;
        }
    }
    free (list);
    json_decref (answer);
    for (long index = 0; index < self->direct_count; index++) {
        zmq_pollitem_t item = {self->direct_handle[index], 0, ZMQ_POLLOUT, 0};
        while (!zsys_interrupted && zclock_usecs () < until && zmq_poll (&item, 1, 10) == 0)
            ;
    }
    if (zsys_interrupted) {
        self->interrupted = true;
        return -1;
    }
    long routed = 0;
    for (long partition = 0; partition < partitions; partition++)
        routed += self->owner_route[partition] >= 0;
    if (routed == 0) {
        //  No owner listens at an endpoint we were given (spelt differently?)
        fprintf (stderr, "zdex-bench: warning: no partition owner among %s, no direct routing\n",
                 self->client_eps);
        s_routes_close (self);
        return 0;
    }
    self->partition_count = (long) partitions;
    if (!self->json_only)
        fprintf (stderr,
                 "zdex-bench: direct routing: %ld of %ld partitions owned by a member at one of "
                 "%ld endpoints\n",
                 routed, self->partition_count, self->direct_count);
    return 0;
}

//  Starts the cluster (members, then workers), waits until it is whole, and
//  connects the DEALER: to every member, or in failover mode to every member but
//  the founder, so that its death takes none of the DEALER's connections.
static int
s_cluster_up (bench_t *self)
{
    s_forget_members (self);
    if ((self->memory_mode || self->pool_size || self->durability_set) && s_write_config (self))
        return -1;
    if (s_start_members (self) || s_start_workers (self) || s_wait_for_cluster (self))
        return -1;
    for (long index = 0; index < self->members; index++)
        if (zdex_procset_add (self->procs, "member", "zdexd", self->member[index].pid))
            return -1;
    for (long index = 0; index < self->workers; index++)
        if (zdex_procset_add (self->procs, "worker", "zdex-worker", self->worker_pids[index]))
            return -1;
    free (self->client_eps);
    self->client_eps = NULL;
    for (long index = self->failover_mode ? 1 : 0; index < self->members; index++) {
        char *list = self->client_eps
                         ? zsys_sprintf ("%s,%s", self->client_eps, self->member[index].client_ep)
                         : strdup (self->member[index].client_ep);
        free (self->client_eps);
        self->client_eps = list;
        if (!list)
            return -1;
    }
    self->dealer = s_dealer_new (self->client_eps);
    if (!self->dealer)
        return -1;
    self->handle = zsock_resolve (self->dealer);
    if (s_routes_open (self))
        return -1;
    if (!self->json_only)
        fprintf (stderr, "zdex-bench: running %ld tasks at depth %ld through %s\n", self->tasks,
                 self->depth, self->client_eps);
    return 0;
}

static void
s_cluster_down (bench_t *self)
{
    s_routes_close (self);
    zsock_destroy (&self->dealer);
    self->handle = NULL;
    s_stop_children (self);
}

static int
s_setup (bench_t *self)
{
    if (zdex_procset_add (self->procs, "client", "zdex-bench", 0))
        return -1;
    if (!self->connect)
        return s_cluster_up (self);
    self->client_eps = strdup (self->connect);
    self->dealer = self->client_eps ? s_dealer_new (self->client_eps) : NULL;
    if (!self->dealer)
        return -1;
    self->handle = zsock_resolve (self->dealer);
    s_probe_connected (self);
    if (self->interrupted || s_routes_open (self))
        return -1;
    return 0;
}

//  --failover: each repeat on a fresh cluster; the record's run figures are
//  those of the last repeat, before its kill.
static void
s_run_failover (bench_t *self)
{
    long *retry_queue = calloc ((size_t) self->tasks, sizeof *retry_queue);
    if (!retry_queue) {
        fprintf (stderr, "zdex-bench: out of memory\n");
        self->fatal = true;
        return;
    }
    for (long repeat = 0;
         repeat < self->repeat && !self->fatal && !self->interrupted && !self->timed_out;
         repeat++) {
        if (repeat > 0 && s_reset_run (self)) {
            self->fatal = true;
            break;
        }
        if (zdex_procset_add (self->procs, "client", "zdex-bench", 0) || s_cluster_up (self)) {
            if (!zsys_interrupted)
                fprintf (stderr, "zdex-bench: failover %ld: the cluster did not start\n",
                         repeat + 1);
            self->fatal = true;
            s_cluster_down (self);
            break;
        }
        s_run (self);
        self->failover_done = repeat + 1;
        if (self->completed == self->tasks && !self->fatal && !self->interrupted &&
            !self->timed_out)
            s_failover (self, repeat, retry_queue);
        else
            s_error (self, "failover %ld: the tasks did not all complete before the kill",
                     repeat + 1);
        s_cluster_down (self);
    }
    free (retry_queue);
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
    if (self->failover_mode) {
        if (s_prepare (self) == 0) {
            s_run_failover (self);
            if (self->failover_done > 0)
                s_report (self);
            bool clean = self->errors == 0 && self->failover_done == self->repeat &&
                         !self->timed_out && !self->interrupted && !self->fatal;
            exit_code = clean ? 0 : 1;
        }
    } else if (s_prepare (self) == 0 && s_setup (self) == 0) {
        //  The member's footprint once idle, with workers registered and nothing stored
        if (self->memory_mode && s_settle (self, BENCH_MEMORY_SETTLE_MS))
            self->rss_before_kb = zdex_procset_status_kb_of (self->member[0].pid, "VmRSS");
        s_run (self);
        if (self->memory_mode && s_settle (self, BENCH_MEMORY_SETTLE_MS))
            self->rss_after_kb = zdex_procset_status_kb_of (self->member[0].pid, "VmRSS");
        s_report (self);
        bool clean = self->errors == 0 && self->completed == self->tasks && !self->timed_out &&
                     !self->interrupted && !self->fatal;
        exit_code = clean ? 0 : 1;
    }
    s_cluster_down (self);
    s_bench_destroy (&self);
    return exit_code;
}
