//  zdex-floor: the raw-ZeroMQ floor under any durable job system.
//
//  The least work a replicated job queue must do for one job, with nothing else:
//  no storage, no routing, no JSON, no task ids beyond a table index.  zdex's
//  figures are read as ratios against it: what zdex costs on top of the message
//  hops it cannot avoid.
//
//      client --job--> primary --copy--> backup
//                      primary <--ack--- backup
//                      primary --job---> worker
//                      primary <-result- worker
//                      primary --copy--> backup
//                      primary <--ack--- backup
//      client <-result- primary
//
//  One program, forked into processes so that each role has its own CPU account
//  and address space, as in a real deployment: the parent is the client, then one
//  backup, one primary and --workers workers.  Sockets (all TCP on 127.0.0.1):
//    primary ROUTER (client endpoint) <- client DEALER
//    primary ROUTER (worker endpoint) <- worker DEALERs
//    primary DEALER -> backup ROUTER
//  Frames:
//    client -> primary   [req: 8 bytes][payload]     (req empty: status query,
//                        answered [""]["<workers registered>"])
//    primary -> backup   [kind 'T' or 'R', job index: 4 bytes][payload or result]
//    backup -> primary   [the same 5 bytes]  (the ack)
//    worker -> primary   ["READY"][slots as text] once, then [job: 4 bytes][result]
//    primary -> worker   [job: 4 bytes][payload]
//    primary -> client   [req][result]
//  The primary keeps at most `slots` jobs at each worker (credit, as zdex does)
//  and queues the rest in a FIFO; workers are served round robin.  Workers echo
//  the payload on one thread (slots is the credit window, not threads).
//
//  The parent forks every child before it creates a ZeroMQ context (a context
//  must not cross fork).  Each child binds, prints its endpoints on a pipe, and
//  runs until SIGTERM; each also gets PR_SET_PDEATHSIG.  The parent waits until
//  the primary lists the workers, runs the window of `depth` jobs, prints the
//  record (same shape as zdex-bench's) and stops only its own children by pid.
//  --no-backup skips the two backup round trips: the like-for-like floor for a
//  single zdex member, which has no backup to wait for.

#include "zdex_hist.h"
#include "zdex_procset.h"

#include <czmq.h>
#include <jansson.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#define FLOOR_READY_TIMEOUT_MS   10000 //  children must print their endpoints by then
#define FLOOR_WORKERS_TIMEOUT_MS 10000 //  the primary must list the workers by then
#define FLOOR_STOP_GRACE_MS      5000  //  SIGTERM to SIGKILL
#define FLOOR_POLL_MS            500   //  child poll slice, so SIGTERM is seen
#define FLOOR_BATCH              1024  //  messages read from one socket per round
#define FLOOR_MAX_WORKERS        1024
#define FLOOR_MAX_ERROR_REPORTS  10
#define FLOOR_READY              "READY"

typedef struct {
    //  Options
    long tasks;
    long depth;
    long payload_bytes;
    long workers;
    long slots;
    long port; //  0: ephemeral; else client P, worker P+1, backup P+2
    bool backup;
    bool json_only;
    bool cdf;
    long max_seconds;
    int64_t deadline;

    //  children[0] primary, [1] backup (0 with --no-backup), then workers; 0 once
    //  reaped, so nothing else is ever signalled
    pid_t *children;
    long child_count;
    char client_ep[64];
    char worker_ep[64];
    char backup_ep[64];

    zsock_t *dealer;
    void *handle;
    char *payload;
    int64_t *sent_at; //  per task; 0 once answered
    long next;
    long active;
    long completed;
    long errors;
    bool fatal;
    bool timed_out;
    bool interrupted;
    int64_t started_at;
    int64_t last_done_at;
    int64_t finished_at;
    zdex_hist_t *latency;
    zdex_procset_t *procs;
} floor_t;

//  --------------------------------------------------------------------------
//  Small helpers

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
s_put_u32 (uint8_t *out, uint32_t value)
{
    memcpy (out, &value, sizeof value);
}

static uint32_t
s_get_u32 (const void *data)
{
    uint32_t value;
    memcpy (&value, data, sizeof value);
    return value;
}

//  Binds a ROUTER or DEALER-facing socket to `spec` and writes the endpoint it got
//  into `out`.  Returns 0 or -1.
static int
s_bind (zsock_t *sock, const char *spec, char *out, size_t size)
{
    int port = zsock_bind (sock, "%s", spec);
    if (port < 0) {
        fprintf (stderr, "zdex-floor: cannot bind %s: %s\n", spec, zmq_strerror (errno));
        return -1;
    }
    const char *colon = strrchr (spec, ':');
    if (colon && streq (colon, ":*"))
        snprintf (out, size, "%.*s:%d", (int) (colon - spec), spec, port);
    else
        snprintf (out, size, "%s", spec);
    return 0;
}

static zsock_t *
s_socket (int type)
{
    zsock_t *sock = zsock_new (type);
    if (sock) {
        //  Windows are bounded by --depth and the credits; a high-water mark must
        //  never drop or block a message
        zsock_set_sndhwm (sock, 0);
        zsock_set_rcvhwm (sock, 0);
        zsock_set_linger (sock, 0);
    }
    return sock;
}

//  Sends `size` bytes; `more` for every frame but the last.
static int
s_send_bytes (void *handle, const void *data, size_t size, bool more)
{
    while (zmq_send (handle, data, size, more ? ZMQ_SNDMORE : 0) < 0)
        if (errno != EINTR || zsys_interrupted)
            return -1;
    return 0;
}

static int
s_send_msg (void *handle, zmq_msg_t *msg, bool more)
{
    while (zmq_msg_send (msg, handle, more ? ZMQ_SNDMORE : 0) < 0)
        if (errno != EINTR || zsys_interrupted)
            return -1;
    return 0;
}

//  Receives the next frame of a message already started.
static int
s_recv_more (void *handle, zmq_msg_t *msg)
{
    while (zmq_msg_recv (msg, handle, 0) < 0)
        if (errno != EINTR || zsys_interrupted)
            return -1;
    return 0;
}

//  Drops the rest of a message after an unexpected frame.
static void
s_skip_rest (void *handle, zmq_msg_t *msg)
{
    while (zmq_msg_more (msg))
        if (s_recv_more (handle, msg))
            return;
}

//  --------------------------------------------------------------------------
//  Backup: acknowledges every copy at once; keeps nothing (no storage)

static int
s_backup_main (int ready_fd, const char *spec)
{
    zsock_t *router = s_socket (ZMQ_ROUTER);
    char endpoint[64];
    if (!router || s_bind (router, spec, endpoint, sizeof endpoint))
        return 1;
    dprintf (ready_fd, "%s\n", endpoint);
    close (ready_fd);
    void *handle = zsock_resolve (router);
    zmq_msg_t identity, header, body;
    zmq_msg_init (&identity);
    zmq_msg_init (&header);
    zmq_msg_init (&body);
    while (!zsys_interrupted) {
        zmq_pollitem_t item = {handle, 0, ZMQ_POLLIN, 0};
        if (zmq_poll (&item, 1, FLOOR_POLL_MS) <= 0)
            continue;
        for (int count = 0; count < FLOOR_BATCH; count++) {
            if (zmq_msg_recv (&identity, handle, ZMQ_DONTWAIT) < 0)
                break;
            if (!zmq_msg_more (&identity) || s_recv_more (handle, &header))
                continue;
            if (zmq_msg_more (&header)) {
                if (s_recv_more (handle, &body))
                    continue;
                s_skip_rest (handle, &body);
            }
            if (s_send_msg (handle, &identity, true) || s_send_msg (handle, &header, false))
                break;
        }
    }
    zmq_msg_close (&identity);
    zmq_msg_close (&header);
    zmq_msg_close (&body);
    zsock_destroy (&router);
    return 0;
}

//  --------------------------------------------------------------------------
//  Worker: echoes each payload, one job at a time

static int
s_worker_main (const char *endpoint, long slots)
{
    zsock_t *dealer = s_socket (ZMQ_DEALER);
    if (!dealer || zsock_connect (dealer, "%s", endpoint))
        return 1;
    void *handle = zsock_resolve (dealer);
    char text[32];
    snprintf (text, sizeof text, "%ld", slots);
    if (s_send_bytes (handle, FLOOR_READY, strlen (FLOOR_READY), true) ||
        s_send_bytes (handle, text, strlen (text), false))
        return 1;
    zmq_msg_t job, payload;
    zmq_msg_init (&job);
    zmq_msg_init (&payload);
    while (!zsys_interrupted) {
        zmq_pollitem_t item = {handle, 0, ZMQ_POLLIN, 0};
        if (zmq_poll (&item, 1, FLOOR_POLL_MS) <= 0)
            continue;
        for (int count = 0; count < FLOOR_BATCH; count++) {
            if (zmq_msg_recv (&job, handle, ZMQ_DONTWAIT) < 0)
                break;
            if (!zmq_msg_more (&job) || s_recv_more (handle, &payload))
                continue;
            s_skip_rest (handle, &payload);
            //  The result is the payload itself: echo without a copy
            if (s_send_msg (handle, &job, true) || s_send_msg (handle, &payload, false))
                break;
        }
    }
    zmq_msg_close (&job);
    zmq_msg_close (&payload);
    zsock_destroy (&dealer);
    return 0;
}

//  --------------------------------------------------------------------------
//  Primary

typedef struct {
    uint8_t client[256]; //  the client's routing id
    size_t client_size;
    uint8_t req[8];
    zmq_msg_t body; //  payload, then result
    bool in_use;
} s_job_t;

typedef struct {
    uint8_t id[256];
    size_t id_size;
    long credit;
} s_worker_t;

typedef struct {
    void *clients; //  ROUTER
    void *workers; //  ROUTER
    void *backup;  //  DEALER, NULL with --no-backup
    //  Jobs live in separately allocated structs that never move (a zmq_msg_t must
    //  not be copied byte-wise); `free_ids` is a stack of unused indices.
    s_job_t **jobs;
    uint32_t job_count;
    uint32_t *free_ids;
    uint32_t free_count;
    //  Jobs acknowledged by the backup, waiting for worker credit (a ring buffer)
    uint32_t *queue;
    size_t queue_size;
    size_t queue_head;
    size_t queue_used;
    s_worker_t workers_list[FLOOR_MAX_WORKERS];
    size_t worker_count;
    size_t next_worker;
    bool broken; //  out of memory or a socket failed
} s_primary_t;

//  Returns a free job index, growing the table when needed, or UINT32_MAX.
static uint32_t
s_job_new (s_primary_t *self)
{
    if (self->free_count == 0) {
        uint32_t grown = self->job_count ? self->job_count * 2 : 1024;
        s_job_t **jobs = (s_job_t **) realloc (self->jobs, grown * sizeof (s_job_t *));
        if (!jobs)
            return UINT32_MAX;
        self->jobs = jobs;
        uint32_t *free_ids = (uint32_t *) realloc (self->free_ids, grown * sizeof (uint32_t));
        if (!free_ids)
            return UINT32_MAX;
        self->free_ids = free_ids;
        for (uint32_t index = self->job_count; index < grown; index++) {
            self->jobs[index] = (s_job_t *) calloc (1, sizeof (s_job_t));
            if (!self->jobs[index])
                return UINT32_MAX;
            zmq_msg_init (&self->jobs[index]->body);
            self->job_count = index + 1;
            self->free_ids[self->free_count++] = index;
        }
    }
    uint32_t id = self->free_ids[--self->free_count];
    self->jobs[id]->in_use = true;
    return id;
}

static void
s_job_free (s_primary_t *self, uint32_t id)
{
    s_job_t *job = self->jobs[id];
    job->in_use = false;
    zmq_msg_close (&job->body);
    zmq_msg_init (&job->body);
    self->free_ids[self->free_count++] = id;
}

static s_job_t *
s_job_get (s_primary_t *self, const zmq_msg_t *frame)
{
    if (zmq_msg_size ((zmq_msg_t *) frame) != 4)
        return NULL;
    uint32_t id = s_get_u32 (zmq_msg_data ((zmq_msg_t *) frame));
    return id < self->job_count && self->jobs[id]->in_use ? self->jobs[id] : NULL;
}

static int
s_queue_push (s_primary_t *self, uint32_t id)
{
    if (self->queue_used == self->queue_size) {
        size_t grown = self->queue_size ? self->queue_size * 2 : 1024;
        uint32_t *queue = (uint32_t *) malloc (grown * sizeof (uint32_t));
        if (!queue)
            return -1;
        for (size_t index = 0; index < self->queue_used; index++)
            queue[index] = self->queue[(self->queue_head + index) % self->queue_size];
        free (self->queue);
        self->queue = queue;
        self->queue_size = grown;
        self->queue_head = 0;
    }
    self->queue[(self->queue_head + self->queue_used++) % self->queue_size] = id;
    return 0;
}

//  Sends job `id` to `worker`; the payload moves out of the job (no retries here).
static void
s_send_to_worker (s_primary_t *self, s_worker_t *worker, uint32_t id)
{
    uint8_t header[4];
    s_put_u32 (header, id);
    worker->credit--;
    if (s_send_bytes (self->workers, worker->id, worker->id_size, true) ||
        s_send_bytes (self->workers, header, sizeof header, true) ||
        s_send_msg (self->workers, &self->jobs[id]->body, false))
        self->broken = true;
}

//  Next worker with credit, round robin; NULL if none.
static s_worker_t *
s_pick_worker (s_primary_t *self)
{
    for (size_t tried = 0; tried < self->worker_count; tried++) {
        s_worker_t *worker = &self->workers_list[self->next_worker];
        self->next_worker = (self->next_worker + 1) % self->worker_count;
        if (worker->credit > 0)
            return worker;
    }
    return NULL;
}

static void
s_dispatch (s_primary_t *self, uint32_t id)
{
    s_worker_t *worker = self->queue_used ? NULL : s_pick_worker (self);
    if (worker)
        s_send_to_worker (self, worker, id);
    else if (s_queue_push (self, id))
        self->broken = true;
}

static void
s_drain_queue (s_primary_t *self)
{
    s_worker_t *worker;
    while (self->queue_used && (worker = s_pick_worker (self))) {
        uint32_t id = self->queue[self->queue_head];
        self->queue_head = (self->queue_head + 1) % self->queue_size;
        self->queue_used--;
        s_send_to_worker (self, worker, id);
    }
}

//  Sends a copy of the job's body to the backup, tagged with `kind`.
static void
s_send_to_backup (s_primary_t *self, char kind, uint32_t id)
{
    uint8_t header[5] = {(uint8_t) kind};
    s_put_u32 (header + 1, id);
    zmq_msg_t copy;
    zmq_msg_init (&copy);
    zmq_msg_copy (&copy, &self->jobs[id]->body);
    if (s_send_bytes (self->backup, header, sizeof header, true) ||
        s_send_msg (self->backup, &copy, false))
        self->broken = true;
    zmq_msg_close (&copy);
}

static void
s_reply_to_client (s_primary_t *self, uint32_t id)
{
    s_job_t *job = self->jobs[id];
    if (s_send_bytes (self->clients, job->client, job->client_size, true) ||
        s_send_bytes (self->clients, job->req, sizeof job->req, true) ||
        s_send_msg (self->clients, &job->body, false))
        self->broken = true;
    s_job_free (self, id);
}

static void
s_on_client (s_primary_t *self, zmq_msg_t *identity)
{
    zmq_msg_t req;
    zmq_msg_init (&req);
    if (!zmq_msg_more (identity) || s_recv_more (self->clients, &req) || !zmq_msg_more (&req) ||
        zmq_msg_size (identity) > sizeof self->jobs[0]->client) {
        s_skip_rest (self->clients, &req);
        zmq_msg_close (&req);
        return;
    }
    if (zmq_msg_size (&req) == 0) {
        //  Status query: how many workers have said READY
        zmq_msg_t rest;
        zmq_msg_init (&rest);
        if (s_recv_more (self->clients, &rest) == 0)
            s_skip_rest (self->clients, &rest);
        zmq_msg_close (&rest);
        char text[32];
        snprintf (text, sizeof text, "%zu", self->worker_count);
        if (s_send_msg (self->clients, identity, true) ||
            s_send_bytes (self->clients, "", 0, true) ||
            s_send_bytes (self->clients, text, strlen (text), false))
            self->broken = true;
        zmq_msg_close (&req);
        return;
    }
    bool well_formed = zmq_msg_size (&req) == 8;
    uint32_t id = well_formed ? s_job_new (self) : UINT32_MAX;
    if (id == UINT32_MAX) {
        s_skip_rest (self->clients, &req);
        zmq_msg_close (&req);
        if (well_formed)
            self->broken = true; //  out of memory
        return;
    }
    s_job_t *job = self->jobs[id];
    job->client_size = zmq_msg_size (identity);
    memcpy (job->client, zmq_msg_data (identity), job->client_size);
    memcpy (job->req, zmq_msg_data (&req), sizeof job->req);
    zmq_msg_close (&req);
    if (s_recv_more (self->clients, &job->body)) {
        s_job_free (self, id);
        return;
    }
    s_skip_rest (self->clients, &job->body);
    if (self->backup)
        s_send_to_backup (self, 'T', id);
    else
        s_dispatch (self, id);
}

static void
s_on_backup (s_primary_t *self, zmq_msg_t *header)
{
    if (zmq_msg_size (header) != 5) {
        s_skip_rest (self->backup, header);
        return;
    }
    const uint8_t *data = (const uint8_t *) zmq_msg_data (header);
    uint32_t id = s_get_u32 (data + 1);
    if (id >= self->job_count || !self->jobs[id]->in_use)
        return;
    if (data[0] == 'T')
        s_dispatch (self, id);
    else if (data[0] == 'R')
        s_reply_to_client (self, id);
}

static void
s_on_worker (s_primary_t *self, zmq_msg_t *identity)
{
    zmq_msg_t first, second;
    zmq_msg_init (&first);
    zmq_msg_init (&second);
    if (!zmq_msg_more (identity) || s_recv_more (self->workers, &first) || !zmq_msg_more (&first) ||
        s_recv_more (self->workers, &second)) {
        s_skip_rest (self->workers, &first);
        zmq_msg_close (&first);
        zmq_msg_close (&second);
        return;
    }
    s_skip_rest (self->workers, &second);
    size_t id_size = zmq_msg_size (identity);
    s_worker_t *worker = NULL;
    for (size_t index = 0; index < self->worker_count; index++)
        if (self->workers_list[index].id_size == id_size &&
            memcmp (self->workers_list[index].id, zmq_msg_data (identity), id_size) == 0)
            worker = &self->workers_list[index];
    if (zmq_msg_size (&first) == strlen (FLOOR_READY) &&
        memcmp (zmq_msg_data (&first), FLOOR_READY, strlen (FLOOR_READY)) == 0) {
        if (!worker && self->worker_count < FLOOR_MAX_WORKERS && id_size <= sizeof worker->id) {
            worker = &self->workers_list[self->worker_count++];
            worker->id_size = id_size;
            memcpy (worker->id, zmq_msg_data (identity), id_size);
            char text[32] = "";
            size_t size =
                zmq_msg_size (&second) < sizeof text - 1 ? zmq_msg_size (&second) : sizeof text - 1;
            memcpy (text, zmq_msg_data (&second), size);
            worker->credit = atol (text) > 0 ? atol (text) : 1;
        }
    } else if (worker) {
        s_job_t *job = s_job_get (self, &first);
        worker->credit++;
        if (job) {
            uint32_t id = s_get_u32 (zmq_msg_data (&first));
            zmq_msg_close (&job->body);
            zmq_msg_init (&job->body);
            zmq_msg_move (&job->body, &second);
            if (self->backup)
                s_send_to_backup (self, 'R', id);
            else
                s_reply_to_client (self, id);
        }
    }
    zmq_msg_close (&first);
    zmq_msg_close (&second);
    s_drain_queue (self);
}

static int
s_primary_main (int ready_fd, const char *client_spec, const char *worker_spec,
                const char *backup_ep)
{
    s_primary_t *self = (s_primary_t *) calloc (1, sizeof (s_primary_t));
    zsock_t *clients = s_socket (ZMQ_ROUTER);
    zsock_t *workers = s_socket (ZMQ_ROUTER);
    zsock_t *backup = backup_ep ? s_socket (ZMQ_DEALER) : NULL;
    char client_ep[64], worker_ep[64];
    if (!self || !clients || !workers || (backup_ep && !backup) ||
        s_bind (clients, client_spec, client_ep, sizeof client_ep) ||
        s_bind (workers, worker_spec, worker_ep, sizeof worker_ep) ||
        (backup && zsock_connect (backup, "%s", backup_ep)))
        return 1;
    dprintf (ready_fd, "%s %s\n", client_ep, worker_ep);
    close (ready_fd);
    self->clients = zsock_resolve (clients);
    self->workers = zsock_resolve (workers);
    self->backup = backup ? zsock_resolve (backup) : NULL;
    zmq_msg_t msg;
    zmq_msg_init (&msg);
    while (!zsys_interrupted && !self->broken) {
        zmq_pollitem_t items[3] = {{self->clients, 0, ZMQ_POLLIN, 0},
                                   {self->workers, 0, ZMQ_POLLIN, 0},
                                   {self->backup, 0, ZMQ_POLLIN, 0}};
        if (zmq_poll (items, self->backup ? 3 : 2, FLOOR_POLL_MS) <= 0)
            continue;
        //  Results and acks first: they finish jobs and free credit
        for (int count = 0; count < FLOOR_BATCH; count++) {
            if (zmq_msg_recv (&msg, self->workers, ZMQ_DONTWAIT) < 0)
                break;
            s_on_worker (self, &msg);
        }
        for (int count = 0; self->backup && count < FLOOR_BATCH; count++) {
            if (zmq_msg_recv (&msg, self->backup, ZMQ_DONTWAIT) < 0)
                break;
            s_on_backup (self, &msg);
        }
        for (int count = 0; count < FLOOR_BATCH; count++) {
            if (zmq_msg_recv (&msg, self->clients, ZMQ_DONTWAIT) < 0)
                break;
            s_on_client (self, &msg);
        }
    }
    if (self->broken)
        fprintf (stderr, "zdex-floor: primary: out of memory or a send failed\n");
    zmq_msg_close (&msg);
    for (uint32_t index = 0; index < self->job_count; index++) {
        zmq_msg_close (&self->jobs[index]->body);
        free (self->jobs[index]);
    }
    free (self->jobs);
    free (self->free_ids);
    free (self->queue);
    free (self);
    zsock_destroy (&clients);
    zsock_destroy (&workers);
    zsock_destroy (&backup);
    return 0;
}

//  --------------------------------------------------------------------------
//  Processes (parent)

//  Forks.  Returns 0 in the child, the pid in the parent, or -1.  With read_fd, a
//  pipe joins them: the parent gets its read end in *read_fd, the child its write
//  end (for the line that tells where the child listens).
static pid_t
s_fork (int *read_fd)
{
    int fds[2] = {-1, -1};
    if (read_fd && pipe2 (fds, O_CLOEXEC)) {
        fprintf (stderr, "zdex-floor: pipe: %s\n", strerror (errno));
        return -1;
    }
    fflush (stdout);
    fflush (stderr);
    pid_t parent = getpid ();
    pid_t pid = fork ();
    if (pid < 0) {
        fprintf (stderr, "zdex-floor: fork: %s\n", strerror (errno));
        if (read_fd) {
            close (fds[0]);
            close (fds[1]);
        }
        return -1;
    }
    if (pid == 0) {
        //  A floor killed with SIGKILL must not leave its children behind
        prctl (PR_SET_PDEATHSIG, SIGTERM);
        if (getppid () != parent)
            _exit (1);
        if (read_fd) {
            close (fds[0]);
            *read_fd = fds[1]; //  in the child: the write end
        }
        return 0;
    }
    if (read_fd) {
        close (fds[1]);
        *read_fd = fds[0];
    }
    return pid;
}

//  Reads one line from a child's pipe, until the deadline.  Returns 0 or -1.
static int
s_read_line (floor_t *self, int fd, char *line, size_t size)
{
    size_t used = 0;
    int64_t until = zclock_usecs () + FLOOR_READY_TIMEOUT_MS * INT64_C (1000);
    if (until > self->deadline)
        until = self->deadline;
    while (used < size - 1) {
        int64_t now = zclock_usecs ();
        if (now >= until || zsys_interrupted)
            break;
        struct pollfd item = {fd, POLLIN, 0};
        int rc = poll (&item, 1, (int) ((until - now + 999) / 1000));
        if (rc <= 0)
            continue;
        ssize_t got = read (fd, line + used, 1);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            break;
        if (line[used] == '\n') {
            line[used] = 0;
            close (fd);
            return 0;
        }
        used++;
    }
    close (fd);
    fprintf (stderr, "zdex-floor: a child did not report its endpoints\n");
    return -1;
}

static void
s_stop_children (floor_t *self)
{
    for (long index = 0; index < self->child_count; index++)
        if (self->children[index] > 0)
            kill (self->children[index], SIGTERM);
    int64_t until = zclock_usecs () + FLOOR_STOP_GRACE_MS * INT64_C (1000);
    bool any = true;
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
        if (any)
            zclock_sleep (10);
    }
    for (long index = 0; index < self->child_count; index++) {
        pid_t pid = self->children[index];
        if (pid <= 0)
            continue;
        fprintf (stderr, "zdex-floor: child pid %d ignored SIGTERM, sending SIGKILL\n", (int) pid);
        kill (pid, SIGKILL);
        while (waitpid (pid, NULL, 0) < 0 && errno == EINTR)
            ;
        self->children[index] = 0;
    }
}

//  True if a child has exited (it is reaped and described).
static bool
s_child_died (floor_t *self)
{
    bool died = false;
    for (long index = 0; index < self->child_count; index++) {
        pid_t pid = self->children[index];
        int status = 0;
        if (pid > 0 && waitpid (pid, &status, WNOHANG) == pid) {
            fprintf (stderr, "zdex-floor: child pid %d ended (status 0x%x)\n", (int) pid, status);
            self->children[index] = 0;
            died = true;
        }
    }
    return died;
}

//  Forks backup, primary and workers in that order, each told where the previous
//  ones listen.  No ZeroMQ context exists in the parent yet.
static int
s_start_children (floor_t *self)
{
    char spec[3][64];
    for (int index = 0; index < 3; index++)
        if (self->port)
            snprintf (spec[index], sizeof spec[index], "tcp://127.0.0.1:%ld", self->port + index);
        else
            snprintf (spec[index], sizeof spec[index], "tcp://127.0.0.1:*");
    int fd = -1;
    char line[160];
    if (self->backup) {
        pid_t pid = s_fork (&fd);
        if (pid == 0)
            exit (s_backup_main (fd, spec[2]));
        if (pid < 0)
            return -1;
        self->children[1] = pid;
        if (s_read_line (self, fd, line, sizeof line))
            return -1;
        snprintf (self->backup_ep, sizeof self->backup_ep, "%.63s", line);
    }
    pid_t pid = s_fork (&fd);
    if (pid == 0)
        exit (s_primary_main (fd, spec[0], spec[1], self->backup ? self->backup_ep : NULL));
    if (pid < 0)
        return -1;
    self->children[0] = pid;
    if (s_read_line (self, fd, line, sizeof line) ||
        sscanf (line, "%63s %63s", self->client_ep, self->worker_ep) != 2)
        return -1;
    for (long index = 0; index < self->workers; index++) {
        pid = s_fork (NULL);
        if (pid == 0)
            exit (s_worker_main (self->worker_ep, self->slots));
        if (pid < 0)
            return -1;
        self->children[2 + index] = pid;
    }
    return 0;
}

//  --------------------------------------------------------------------------
//  Client (parent)

static void
s_error (floor_t *self, const char *message, long index)
{
    if (self->errors++ < FLOOR_MAX_ERROR_REPORTS)
        fprintf (stderr, "zdex-floor: error: task %ld: %s\n", index, message);
}

//  Asks the primary for its worker count until every worker is listed.
static int
s_wait_for_workers (floor_t *self)
{
    int64_t until = zclock_usecs () + FLOOR_WORKERS_TIMEOUT_MS * INT64_C (1000);
    if (until > self->deadline)
        until = self->deadline;
    long seen = -1;
    while (zclock_usecs () < until && !zsys_interrupted && !s_child_died (self)) {
        if (s_send_bytes (self->handle, "", 0, true) || s_send_bytes (self->handle, "?", 1, false))
            return -1;
        zmq_pollitem_t item = {self->handle, 0, ZMQ_POLLIN, 0};
        if (zmq_poll (&item, 1, 200) > 0) {
            zmsg_t *reply = zmsg_recv (self->dealer);
            char *count =
                reply && zmsg_size (reply) == 2 ? zframe_strdup (zmsg_last (reply)) : NULL;
            seen = count ? atol (count) : -1;
            free (count);
            zmsg_destroy (&reply);
            if (seen >= self->workers)
                return 0;
        }
        zclock_sleep (20);
    }
    fprintf (stderr, "zdex-floor: the primary listed %ld of %ld workers\n", seen, self->workers);
    return -1;
}

static void
s_start_task (floor_t *self, long index)
{
    uint64_t req = (uint64_t) index;
    self->active++;
    self->sent_at[index] = zclock_usecs ();
    if (s_send_bytes (self->handle, &req, sizeof req, true) ||
        s_send_bytes (self->handle, self->payload, (size_t) self->payload_bytes, false))
        self->fatal = true;
}

static void
s_refill (floor_t *self)
{
    while (!self->fatal && self->active < self->depth && self->next < self->tasks)
        s_start_task (self, self->next++);
}

static void
s_on_reply (floor_t *self, zmq_msg_t *req, zmq_msg_t *result, int64_t now)
{
    if (zmq_msg_size (req) == 0)
        return; //  a late answer to a status query
    uint64_t index = UINT64_MAX;
    if (zmq_msg_size (req) == sizeof index)
        memcpy (&index, zmq_msg_data (req), sizeof index);
    if (index >= (uint64_t) self->tasks || self->sent_at[index] == 0) {
        s_error (self, "reply matches no outstanding task", (long) index);
        return;
    }
    self->active--;
    if (zmq_msg_size (result) == (size_t) self->payload_bytes &&
        memcmp (zmq_msg_data (result), self->payload, (size_t) self->payload_bytes) == 0) {
        zdex_hist_record (self->latency, now - self->sent_at[index]);
        self->completed++;
    } else
        s_error (self, "result is not the payload", (long) index);
    self->sent_at[index] = 0;
    self->last_done_at = now;
}

static void
s_run (floor_t *self)
{
    zdex_procset_start (self->procs);
    self->started_at = zclock_usecs ();
    int64_t next_tick = self->started_at + 1000000;
    long tick_done = 0;
    zmq_msg_t req, result;
    zmq_msg_init (&req);
    zmq_msg_init (&result);
    s_refill (self);
    while (self->active > 0 && !self->fatal) {
        int64_t now = zclock_usecs ();
        if (zsys_interrupted) {
            self->interrupted = true;
            break;
        }
        if (now >= self->deadline) {
            fprintf (stderr, "zdex-floor: --max-seconds %ld reached, aborting\n",
                     self->max_seconds);
            self->timed_out = true;
            break;
        }
        if (now >= next_tick) {
            long done = self->completed + self->errors;
            if (!self->json_only)
                fprintf (stderr, "zdex-floor: %6.1fs  done %ld/%ld  %ld tasks/s  errors %ld\n",
                         (double) (now - self->started_at) / 1e6, done, self->tasks,
                         done - tick_done, self->errors);
            tick_done = done;
            next_tick += 1000000;
            if (s_child_died (self)) {
                self->fatal = true;
                break;
            }
        }
        zmq_pollitem_t item = {self->handle, 0, ZMQ_POLLIN, 0};
        int64_t wait_until = next_tick < self->deadline ? next_tick : self->deadline;
        if (zmq_poll (&item, 1, (long) ((wait_until - now + 999) / 1000)) <= 0)
            continue;
        while (zmq_msg_recv (&req, self->handle, ZMQ_DONTWAIT) >= 0) {
            if (!zmq_msg_more (&req) || s_recv_more (self->handle, &result)) {
                s_error (self, "short reply", -1);
                continue;
            }
            s_skip_rest (self->handle, &result);
            s_on_reply (self, &req, &result, zclock_usecs ());
            s_refill (self);
        }
    }
    self->finished_at = zclock_usecs ();
    zdex_procset_sample (self->procs);
    zmq_msg_close (&req);
    zmq_msg_close (&result);
}

//  --------------------------------------------------------------------------
//  Report and options

static void
s_report (floor_t *self)
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
    const char *name = self->backup ? "zdex-floor" : "zdex-floor-nobackup";
    if (!self->json_only) {
        fprintf (stderr, "\nzdex-floor results (%s)\n", self->backup ? "with backup" : "no backup");
        fprintf (stderr, "  %-20s %ld requested, %ld completed\n", "tasks", self->tasks,
                 self->completed);
        fprintf (stderr, "  %-20s %ld\n", "depth", self->depth);
        fprintf (stderr, "  %-20s %ld bytes\n", "payload", self->payload_bytes);
        fprintf (stderr, "  %-20s %ld x %ld slots\n", "workers", self->workers, self->slots);
        fprintf (stderr, "  %-20s %.3f s\n", "elapsed", elapsed_s);
        fprintf (stderr, "  %-20s %.1f tasks/s\n", "throughput", throughput);
        fprintf (stderr, "  %-20s %ld\n", "errors", self->errors);
        fprintf (stderr, "  %-20s %9s %9s %9s %9s %9s %9s\n", "latency (us)", "p50", "p90", "p99",
                 "p99.9", "max", "mean");
        zdex_hist_print_row (self->latency, stderr, "job -> result");
        fprintf (stderr, "  %-20s %.1f us per task (all processes below)\n", "cpu",
                 cpu_per_task_us);
        zdex_procset_print (self->procs, stderr);
        fprintf (stderr, "\n");
    }
    json_t *record = json_object ();
    json_object_set_new (record, "bench", json_string (name));
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

static void
s_usage (FILE *out)
{
    fprintf (out, "usage: zdex-floor [options]\n"
                  "  --tasks N            jobs to run (default 100000)\n"
                  "  --depth D            jobs outstanding at all times (default 100)\n"
                  "  --payload-bytes B    payload of B 'x' bytes (default 100)\n"
                  "  --workers N          worker processes (default 1)\n"
                  "  --slots S            jobs outstanding at each worker (default 64)\n"
                  "  --port P             127.0.0.1 ports P (client), P+1 (workers),\n"
                  "                       P+2 (backup); default: ephemeral\n"
                  "  --no-backup          skip the backup copies and acks\n"
                  "  --cdf                add the latency CDF to the record\n"
                  "  --max-seconds S      abort with exit 1 after S seconds (default 120)\n"
                  "  --json-only          no progress lines or table on stderr\n"
                  "stdout: one JSON record, as zdex-bench's; exit 0 only if every job\n"
                  "came back with its payload\n");
}

static int
s_parse_options (floor_t *self, int argc, char *argv[])
{
    static const struct option options[] = {{"tasks", required_argument, NULL, 't'},
                                            {"depth", required_argument, NULL, 'd'},
                                            {"payload-bytes", required_argument, NULL, 'b'},
                                            {"workers", required_argument, NULL, 'w'},
                                            {"slots", required_argument, NULL, 's'},
                                            {"port", required_argument, NULL, 'p'},
                                            {"no-backup", no_argument, NULL, 'n'},
                                            {"cdf", no_argument, NULL, 'c'},
                                            {"max-seconds", required_argument, NULL, 'm'},
                                            {"json-only", no_argument, NULL, 'j'},
                                            {"help", no_argument, NULL, 'h'},
                                            {NULL, 0, NULL, 0}};
    int opt;
    int index = 0;
    while ((opt = getopt_long (argc, argv, "", options, &index)) != -1) {
        bool good = true;
        switch (opt) {
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
            good = s_parse_long (optarg, 1, FLOOR_MAX_WORKERS, &self->workers);
            break;
        case 's':
            good = s_parse_long (optarg, 1, 1000000L, &self->slots);
            break;
        case 'p':
            good = s_parse_long (optarg, 1, 65533L, &self->port);
            break;
        case 'n':
            self->backup = false;
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
            fprintf (stderr, "zdex-floor: bad value for --%s: '%s'\n", options[index].name, optarg);
            return -1;
        }
    }
    if (optind < argc) {
        fprintf (stderr, "zdex-floor: unexpected argument '%s'\n", argv[optind]);
        return -1;
    }
    return 0;
}

static void
s_floor_destroy (floor_t **self_p)
{
    floor_t *self = *self_p;
    if (!self)
        return;
    zsock_destroy (&self->dealer);
    zdex_hist_destroy (&self->latency);
    zdex_procset_destroy (&self->procs);
    free (self->children);
    free (self->payload);
    free (self->sent_at);
    free (self);
    *self_p = NULL;
}

static floor_t *
s_floor_new (void)
{
    floor_t *self = (floor_t *) calloc (1, sizeof (floor_t));
    if (!self)
        return NULL;
    self->tasks = 100000;
    self->depth = 100;
    self->payload_bytes = 100;
    self->workers = 1;
    self->slots = 64;
    self->backup = true;
    self->max_seconds = 120;
    self->latency = zdex_hist_new ();
    self->procs = zdex_procset_new ();
    if (!self->latency || !self->procs)
        s_floor_destroy (&self);
    return self;
}

int
main (int argc, char *argv[])
{
    floor_t *self = s_floor_new ();
    if (!self)
        return 1;
    int rc = s_parse_options (self, argc, argv);
    if (rc) {
        s_floor_destroy (&self);
        return rc > 0 ? 0 : 2;
    }
    self->deadline = zclock_usecs () + self->max_seconds * INT64_C (1000000);
    self->child_count = 2 + self->workers;
    self->children = (pid_t *) calloc ((size_t) self->child_count, sizeof (pid_t));
    self->payload = (char *) malloc ((size_t) self->payload_bytes + 1);
    self->sent_at = (int64_t *) calloc ((size_t) self->tasks, sizeof (int64_t));
    if (!self->children || !self->payload || !self->sent_at) {
        fprintf (stderr, "zdex-floor: out of memory\n");
        s_floor_destroy (&self);
        return 1;
    }
    memset (self->payload, 'x', (size_t) self->payload_bytes);

    int exit_code = 1;
    if (s_start_children (self) == 0) {
        //  Only now does the parent create its context (and czmq's signal handlers)
        zsys_init ();
        self->dealer = s_socket (ZMQ_DEALER);
        if (self->dealer && zsock_connect (self->dealer, "%s", self->client_ep) == 0) {
            self->handle = zsock_resolve (self->dealer);
            zdex_procset_add (self->procs, "client", "zdex-floor", 0);
            zdex_procset_add (self->procs, "member", "floor-primary", self->children[0]);
            if (self->backup)
                zdex_procset_add (self->procs, "member", "floor-backup", self->children[1]);
            for (long index = 0; index < self->workers; index++)
                zdex_procset_add (self->procs, "worker", "floor-worker", self->children[2 + index]);
            if (s_wait_for_workers (self) == 0) {
                if (!self->json_only)
                    fprintf (stderr,
                             "zdex-floor: primary %s, backup %s, %ld worker(s); %ld jobs at "
                             "depth %ld\n",
                             self->client_ep, self->backup ? self->backup_ep : "none",
                             self->workers, self->tasks, self->depth);
                s_run (self);
                s_report (self);
                exit_code = self->completed == self->tasks && self->errors == 0 && !self->fatal &&
                                    !self->timed_out && !self->interrupted
                                ? 0
                                : 1;
            }
        }
    }
    zsock_destroy (&self->dealer);
    s_stop_children (self);
    s_floor_destroy (&self);
    return exit_code;
}
