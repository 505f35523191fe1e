//  zdex-gearman-bench: the Gearman peer's client (libgearman), zdex-bench's
//  workload on gearmand.
//
//  Each task is a foreground job of the function "echo" whose workload is
//  payload_bytes 'x'; the client keeps `depth` jobs outstanding with the tasks
//  API in non-blocking mode (gearman_client_add_task, gearman_client_run_tasks,
//  gearman_client_wait) and checks that each result equals the workload.  The
//  latency runs from adding the task to its complete callback.  Each job gets
//  its own unique id (a per-run prefix and the task index), so gearmand never
//  coalesces two of them.
//
//  The run script (bench/peers/run-gearman.sh) starts gearmand and the worker and
//  passes their pids, so their CPU time and peak RSS land in the record
//  (zdex_procset) next to this process's.  Before the timed run the client polls
//  gearmand's admin "status" command until the echo function has the expected
//  number of idle workers.  stdout carries one JSON record in zdex-bench's shape.

#include "zdex_hist.h"
#include "zdex_procset.h"

#include <libgearman-1.0/gearman.h>

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define GB_FUNCTION          "echo"
#define GB_WAIT_MS           200 //  gearman_client_wait slice, so deadlines are seen
#define GB_WORKERS_TIMEOUT_S 10  //  the workers must be idle at gearmand by then
#define GB_MAX_ERROR_REPORTS 10
#define GB_MAX_PIDS          64

typedef struct _gb_bench_t gb_bench_t;

//  One per task; a task's context points here, and the index is its offset
typedef struct {
    gb_bench_t *bench;
    int64_t sent_at; //  0: not outstanding
} gb_task_t;

struct _gb_bench_t {
    long tasks;
    long depth;
    long payload_bytes;
    long port;
    long workers; //  worker processes, and their threads (slots): for the record
    long slots;
    long max_seconds;
    bool json_only;
    bool cdf;
    pid_t server_pid;
    pid_t worker_pids[GB_MAX_PIDS];
    long worker_pid_count;

    gearman_client_st *client;
    char *payload;
    char prefix[32]; //  unique-id prefix of this run
    gb_task_t *refs;
    long next;
    long active;
    long completed;
    long errors;
    long wait_timeouts; //  gearman_client_wait rounds that saw nothing
    int64_t started_at;
    int64_t last_done_at;
    int64_t finished_at;
    zdex_hist_t *latency;
    zdex_procset_t *procs;
};

static int64_t
s_now_us (void)
{
    struct timespec now;
    clock_gettime (CLOCK_MONOTONIC, &now);
    return (int64_t) now.tv_sec * 1000000 + now.tv_nsec / 1000;
}

static void
s_error (gb_bench_t *self, const char *what, long index)
{
    if (self->errors++ < GB_MAX_ERROR_REPORTS)
        fprintf (stderr, "zdex-gearman-bench: error: task %ld: %s\n", index, what);
}

static gearman_return_t
s_on_complete (gearman_task_st *task)
{
    gb_task_t *ref = (gb_task_t *) gearman_task_context (task);
    gb_bench_t *self = ref->bench;
    long index = (long) (ref - self->refs);
    int64_t now = s_now_us ();
    if (ref->sent_at == 0)
        return GEARMAN_SUCCESS;
    self->active--;
    if (gearman_task_data_size (task) == (size_t) self->payload_bytes &&
        memcmp (gearman_task_data (task), self->payload, (size_t) self->payload_bytes) == 0) {
        zdex_hist_record (self->latency, now - ref->sent_at);
        self->completed++;
    } else
        s_error (self, "result is not the payload", index);
    ref->sent_at = 0;
    self->last_done_at = now;
    return GEARMAN_SUCCESS;
}

static gearman_return_t
s_on_fail (gearman_task_st *task)
{
    gb_task_t *ref = (gb_task_t *) gearman_task_context (task);
    gb_bench_t *self = ref->bench;
    if (ref->sent_at) {
        self->active--;
        ref->sent_at = 0;
        s_error (self, "job failed", (long) (ref - self->refs));
    }
    return GEARMAN_SUCCESS;
}

static int
s_add_task (gb_bench_t *self, long index)
{
    char unique[64];
    snprintf (unique, sizeof unique, "%s-%ld", self->prefix, index);
    gearman_return_t ret;
    self->refs[index].sent_at = s_now_us ();
    gearman_task_st *task =
        gearman_client_add_task (self->client, NULL, &self->refs[index], GB_FUNCTION, unique,
                                 self->payload, (size_t) self->payload_bytes, &ret);
    if (!task || ret != GEARMAN_SUCCESS) {
        fprintf (stderr, "zdex-gearman-bench: add_task: %s\n", gearman_client_error (self->client));
        self->refs[index].sent_at = 0;
        return -1;
    }
    self->active++;
    return 0;
}

//  Asks gearmand's admin "status" for the echo function's available workers,
//  until at least `want` are there.  Returns 0 or -1.
static int
s_wait_for_workers (gb_bench_t *self, long want)
{
    int64_t until = s_now_us () + GB_WORKERS_TIMEOUT_S * INT64_C (1000000);
    long seen = -1;
    while (s_now_us () < until) {
        int fd = socket (AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = htons (self->port)};
        address.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
        char reply[4096];
        size_t used = 0;
        if (fd >= 0 && connect (fd, (struct sockaddr *) &address, sizeof address) == 0 &&
            write (fd, "status\n", 7) == 7) {
            //  The answer ends with a line holding a single '.'
            while (used < sizeof reply - 1) {
                struct pollfd item = {fd, POLLIN, 0};
                if (poll (&item, 1, 1000) <= 0)
                    break;
                ssize_t size = read (fd, reply + used, sizeof reply - 1 - used);
                if (size <= 0)
                    break;
                used += (size_t) size;
                reply[used] = 0;
                if (strncmp (reply, ".\n", 2) == 0 || strstr (reply, "\n.\n"))
                    break;
            }
        }
        if (fd >= 0)
            close (fd);
        reply[used] = 0;
        //  Lines: FUNCTION \t TOTAL \t RUNNING \t AVAILABLE_WORKERS
        for (char *line = reply; line && *line;) {
            char name[64];
            long total, running, available;
            if (sscanf (line, "%63s %ld %ld %ld", name, &total, &running, &available) == 4 &&
                strcmp (name, GB_FUNCTION) == 0)
                seen = available;
            line = strchr (line, '\n');
            if (line)
                line++;
        }
        if (seen >= want)
            return 0;
        usleep (20 * 1000);
    }
    fprintf (stderr, "zdex-gearman-bench: gearmand lists %ld of %ld echo workers\n", seen, want);
    return -1;
}

static void
s_run (gb_bench_t *self)
{
    zdex_procset_start (self->procs);
    self->started_at = s_now_us ();
    int64_t deadline = self->started_at + self->max_seconds * INT64_C (1000000);
    int64_t next_tick = self->started_at + 1000000;
    long tick_done = 0;
    while (true) {
        while (self->active < self->depth && self->next < self->tasks)
            if (s_add_task (self, self->next++)) {
                self->finished_at = s_now_us ();
                zdex_procset_sample (self->procs);
                return;
            }
        if (self->active == 0)
            break;
        //  run_tasks can return IO_WAIT with replies still in libgearman's buffer;
        //  waiting on the socket then would stall until the wait times out.  So
        //  wait only after a round that finished nothing.
        long finished = self->completed + self->errors;
        gearman_return_t ret = gearman_client_run_tasks (self->client);
        if (ret == GEARMAN_IO_WAIT && self->completed + self->errors == finished) {
            ret = gearman_client_wait (self->client);
            if (ret == GEARMAN_TIMEOUT) {
                self->wait_timeouts++;
                ret = GEARMAN_SUCCESS;
            }
        } else if (ret == GEARMAN_IO_WAIT)
            ret = GEARMAN_SUCCESS;
        if (ret != GEARMAN_SUCCESS) {
            fprintf (stderr, "zdex-gearman-bench: %s\n", gearman_client_error (self->client));
            break;
        }
        int64_t now = s_now_us ();
        if (now >= deadline) {
            fprintf (stderr, "zdex-gearman-bench: --max-seconds %ld reached, aborting\n",
                     self->max_seconds);
            break;
        }
        if (now >= next_tick) {
            long done = self->completed + self->errors;
            if (!self->json_only)
                fprintf (stderr,
                         "zdex-gearman-bench: %6.1fs  done %ld/%ld  %ld tasks/s  errors %ld\n",
                         (double) (now - self->started_at) / 1e6, done, self->tasks,
                         done - tick_done, self->errors);
            tick_done = done;
            next_tick += 1000000;
        }
    }
    self->finished_at = s_now_us ();
    zdex_procset_sample (self->procs);
}

static void
s_report (gb_bench_t *self)
{
    bool all_done = self->completed + self->errors >= self->tasks;
    int64_t end = all_done ? self->last_done_at : self->finished_at;
    double elapsed_s = end > self->started_at ? (double) (end - self->started_at) / 1e6 : 0.0;
    double throughput = elapsed_s > 0 ? (double) self->completed / elapsed_s : 0.0;
    throughput = (double) (int64_t) (throughput * 10 + 0.5) / 10;
    double cpu_per_task_us =
        self->completed ? zdex_procset_cpu_s (self->procs, NULL) * 1e6 / (double) self->completed
                        : 0.0;
    cpu_per_task_us = (double) (int64_t) (cpu_per_task_us * 10 + 0.5) / 10;
    if (!self->json_only) {
        fprintf (stderr, "\nzdex-gearman-bench results\n");
        fprintf (stderr, "  %-20s %ld requested, %ld completed\n", "tasks", self->tasks,
                 self->completed);
        fprintf (stderr, "  %-20s %ld\n", "depth", self->depth);
        fprintf (stderr, "  %-20s %ld bytes\n", "payload", self->payload_bytes);
        fprintf (stderr, "  %-20s %ld x %ld threads\n", "workers", self->workers, self->slots);
        fprintf (stderr, "  %-20s %.3f s\n", "elapsed", elapsed_s);
        fprintf (stderr, "  %-20s %.1f tasks/s\n", "throughput", throughput);
        fprintf (stderr, "  %-20s %ld\n", "errors", self->errors);
        fprintf (stderr, "  %-20s %ld of %d ms\n", "idle waits", self->wait_timeouts, GB_WAIT_MS);
        fprintf (stderr, "  %-20s %9s %9s %9s %9s %9s %9s\n", "latency (us)", "p50", "p90", "p99",
                 "p99.9", "max", "mean");
        zdex_hist_print_row (self->latency, stderr, "submit -> result");
        fprintf (stderr, "  %-20s %.1f us per task (all processes below)\n", "cpu",
                 cpu_per_task_us);
        zdex_procset_print (self->procs, stderr);
        fprintf (stderr, "\n");
    }
    json_t *record = json_object ();
    json_object_set_new (record, "bench", json_string ("gearman"));
    json_object_set_new (record, "mode", json_string ("submit-retrieve"));
    json_object_set_new (record, "tasks", json_integer (self->tasks));
    json_object_set_new (record, "depth", json_integer (self->depth));
    json_object_set_new (record, "payload_bytes", json_integer (self->payload_bytes));
    json_object_set_new (record, "workers", json_integer (self->workers));
    json_object_set_new (record, "slots", json_integer (self->slots));
    json_object_set_new (record, "elapsed_s", json_real (elapsed_s));
    json_object_set_new (record, "throughput_tasks_per_s", json_real (throughput));
    json_object_set_new (record, "latency_us", zdex_hist_summary (self->latency));
    json_object_set_new (record, "errors", json_integer (self->errors));
    json_object_set_new (record, "cpu_us_per_task", json_real (cpu_per_task_us));
    json_object_set_new (record, "processes", zdex_procset_json (self->procs));
    if (self->cdf)
        json_object_set_new (record, "latency_cdf", zdex_hist_cdf (self->latency));
    char *text = json_dumps (record, JSON_COMPACT | JSON_REAL_PRECISION (12));
    if (text)
        printf ("%s\n", text);
    fflush (stdout);
    free (text);
    json_decref (record);
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

static void
s_usage (FILE *out)
{
    fprintf (out, "usage: zdex-gearman-bench --port P [options]\n"
                  "  --port P             gearmand on 127.0.0.1:P (required)\n"
                  "  --tasks N            jobs (default 100000)\n"
                  "  --depth D            jobs outstanding at all times (default 100)\n"
                  "  --payload-bytes B    workload of B 'x' bytes (default 100)\n"
                  "  --workers N          worker processes running (default 1; for the record)\n"
                  "  --slots S            threads per worker process (default 64; the run waits\n"
                  "                       for N x S idle echo workers)\n"
                  "  --server-pid PID     gearmand's pid, measured as the member\n"
                  "  --worker-pid PID     a worker's pid, measured (repeatable)\n"
                  "  --cdf                add the latency CDF to the record\n"
                  "  --max-seconds S      abort after S seconds (default 120)\n"
                  "  --json-only          no progress lines or table on stderr\n");
}

static int
s_parse_options (gb_bench_t *self, int argc, char *argv[])
{
    static const struct option options[] = {{"port", required_argument, NULL, 'p'},
                                            {"tasks", required_argument, NULL, 't'},
                                            {"depth", required_argument, NULL, 'd'},
                                            {"payload-bytes", required_argument, NULL, 'b'},
                                            {"workers", required_argument, NULL, 'w'},
                                            {"slots", required_argument, NULL, 's'},
                                            {"server-pid", required_argument, NULL, 'S'},
                                            {"worker-pid", required_argument, NULL, 'W'},
                                            {"cdf", no_argument, NULL, 'c'},
                                            {"max-seconds", required_argument, NULL, 'm'},
                                            {"json-only", no_argument, NULL, 'j'},
                                            {"help", no_argument, NULL, 'h'},
                                            {NULL, 0, NULL, 0}};
    int opt;
    int index = 0;
    long pid;
    while ((opt = getopt_long (argc, argv, "", options, &index)) != -1) {
        bool good = true;
        switch (opt) {
        case 'p':
            good = s_parse_long (optarg, 1, 65535, &self->port);
            break;
        case 't':
            good = s_parse_long (optarg, 1, 1000000000L, &self->tasks);
            break;
        case 'd':
            good = s_parse_long (optarg, 1, 1000000L, &self->depth);
            break;
        case 'b':
            good = s_parse_long (optarg, 0, 64L * 1024 * 1024, &self->payload_bytes);
            break;
        case 'w':
            good = s_parse_long (optarg, 1, 1024, &self->workers);
            break;
        case 's':
            good = s_parse_long (optarg, 1, 1024, &self->slots);
            break;
        case 'S':
            good = s_parse_long (optarg, 1, INT32_MAX, &pid);
            self->server_pid = (pid_t) pid;
            break;
        case 'W':
            good =
                self->worker_pid_count < GB_MAX_PIDS && s_parse_long (optarg, 1, INT32_MAX, &pid);
            if (good)
                self->worker_pids[self->worker_pid_count++] = (pid_t) pid;
            break;
        case 'c':
            self->cdf = true;
            break;
        case 'm':
            good = s_parse_long (optarg, 1, 86400L * 365, &self->max_seconds);
            break;
        case 'j':
            self->json_only = true;
            break;
        case 'h':
            s_usage (stdout);
            return 1;
        default:
            s_usage (stderr);
            return -1;
        }
        if (!good) {
            fprintf (stderr, "zdex-gearman-bench: bad value for --%s: '%s'\n", options[index].name,
                     optarg);
            return -1;
        }
    }
    if (optind < argc || self->port == 0) {
        s_usage (stderr);
        return -1;
    }
    return 0;
}

int
main (int argc, char *argv[])
{
    gb_bench_t bench = {.tasks = 100000,
                        .depth = 100,
                        .payload_bytes = 100,
                        .workers = 1,
                        .slots = 64,
                        .max_seconds = 120};
    gb_bench_t *self = &bench;
    int rc = s_parse_options (self, argc, argv);
    if (rc)
        return rc > 0 ? 0 : 2;
    signal (SIGPIPE, SIG_IGN);
    snprintf (self->prefix, sizeof self->prefix, "zb%d-%lld", (int) getpid (),
              (long long) s_now_us ());
    self->payload = (char *) malloc ((size_t) self->payload_bytes + 1);
    self->refs = (gb_task_t *) calloc ((size_t) self->tasks, sizeof (gb_task_t));
    self->latency = zdex_hist_new ();
    self->procs = zdex_procset_new ();
    self->client = gearman_client_create (NULL);
    int exit_code = 1;
    if (!self->payload || !self->refs || !self->latency || !self->procs || !self->client) {
        fprintf (stderr, "zdex-gearman-bench: out of memory\n");
        goto done;
    }
    memset (self->payload, 'x', (size_t) self->payload_bytes);
    for (long index = 0; index < self->tasks; index++)
        self->refs[index].bench = self;
    zdex_procset_add (self->procs, "client", "gearman-bench", 0);
    if (self->server_pid)
        zdex_procset_add (self->procs, "member", "gearmand", self->server_pid);
    for (long index = 0; index < self->worker_pid_count; index++)
        zdex_procset_add (self->procs, "worker", "gearman-worker", self->worker_pids[index]);
    if (gearman_client_add_server (self->client, "127.0.0.1", (in_port_t) self->port) !=
        GEARMAN_SUCCESS) {
        fprintf (stderr, "zdex-gearman-bench: %s\n", gearman_client_error (self->client));
        goto done;
    }
    //  FREE_TASKS: a task is freed right after its complete or fail callback
    gearman_client_add_options (self->client,
                                GEARMAN_CLIENT_NON_BLOCKING | GEARMAN_CLIENT_FREE_TASKS);
    gearman_client_set_timeout (self->client, GB_WAIT_MS);
    gearman_client_set_complete_fn (self->client, s_on_complete);
    gearman_client_set_fail_fn (self->client, s_on_fail);
    if (s_wait_for_workers (self, self->workers * self->slots))
        goto done;
    if (!self->json_only)
        fprintf (stderr, "zdex-gearman-bench: gearmand 127.0.0.1:%ld; %ld jobs at depth %ld\n",
                 self->port, self->tasks, self->depth);
    s_run (self);
    s_report (self);
    exit_code = self->completed == self->tasks && self->errors == 0 ? 0 : 1;
done:
    gearman_client_free (self->client);
    zdex_hist_destroy (&self->latency);
    zdex_procset_destroy (&self->procs);
    free (self->payload);
    free (self->refs);
    return exit_code;
}
