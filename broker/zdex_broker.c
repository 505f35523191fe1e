//  zdex_broker: the member's main actor.
//
//  Role: accepts every client request, validates it (zdex_proto), answers the
//  member-level ops itself (cluster.*, durable.shutdown/status/stats) and routes
//  the partition ops (submit, execute, retrieve, dispose) to the partition actor
//  that owns the partition: by key hash, else by idempotency key hash, else a
//  random partition for a new task; by the id's high 32 bits for an existing one.
//  It also runs the dispatcher, so worker traffic never crosses a thread.
//
//  Sockets:
//  - client endpoint: ROUTER (clients' DEALER or REQ); replies reuse the envelope.
//  - worker endpoint: ROUTER, driven by zdex_dispatcher.
//  - cluster endpoint: bound by the membership actor, through zdex_cluster, which
//    also owns one DEALER per other member for forwarding and fan-out.
//  - collector: inproc PULL where the partitions push replies, dispatches and
//    cancels.  Unbounded, so an actor never blocks on the broker; the pipes into
//    the actors are bounded, so a flood of client requests backs up into TCP.
//    With partition_threads 0 (the default) this thread drives the partitions
//    itself (zdex_partition_call/_job, their replication sockets in our poll):
//    their replies and jobs come through a sink of direct calls instead (sent to
//    the client, handed to the dispatcher, at once), the rest through the
//    collector, drained in the same pass.
//
//  State machine: STARTING (bind, start actors, start membership) → FORMING (no
//  partition table yet: partition ops answer UNAVAILABLE) → SERVING → $TERM →
//  STOPPING (membership stops, actors drain and stop, the collector is drained,
//  the dispatcher frees its jobs).
//
//  Routing in a cluster: a partition op for a partition this member owns goes to
//  the local partition actor; otherwise zdex_cluster forwards it to the owner and
//  relays the answer.  A request that was itself forwarded to us is never
//  forwarded again: if we do not own the partition (tables converging) it gets
//  UNAVAILABLE, which clients retry.  shutdown, shutdown_now and stats apply
//  locally and are fanned out to every member; status is local.
//
//  Scheduled ops: schedule goes to the partition of its key, else of its name (a
//  UUID chosen here when unnamed), or to member bins (actor 0 of the named member;
//  members/all_members fan out to the listed members, this one included); the
//  other task ops follow the handler URN; get_all, shutdown and stats fan out.
//  Per-member capacity is counted here (the actors report tasks that arrive or
//  leave by promotion, demotion, dispose: "COUNT").  Split-brain protection rules
//  are checked by the member the client reached, before routing.

#include "zdex_broker.h"
#include "zdex_cluster.h"
#include "zdex_dispatcher.h"
#include "zdex_hash.h"
#include "zdex_partition.h"
#include "zdex_protection.h"
#include "zdex_proto.h"
#include "zdex_registry.h"
#include "zdex_waitset.h"

#include <inttypes.h>
#include <unistd.h>

#define S_BATCH_MAX    512    //  messages per socket per wake-up
#define S_SOCKET_HWM   100000 //  client and worker ROUTER queues
#define S_ENDPOINT_MAX 256
#define S_MAX_WATCHERS 1024 //  cluster.workers requests waiting for workers

//  A cluster.workers (cluster.members) request waiting until min_workers workers
//  are connected (min_members members are in the view).
typedef struct {
    zmsg_t *envelope;
    char *req_text;
    zdex_op_t op;
    int minimum;
    int64_t deadline; //  zclock_mono ms, or -1
} s_watcher_t;

typedef struct {
    zsock_t *pipe;
    zdex_config_t *config;
    const zdex_member_config_t *member;
    zdex_limits_t limits;
    zsock_t *client;
    zsock_t *worker;
    zdex_cluster_t *cluster;
    zsock_t *collector;
    zdex_waitset_t *waitset; //  what this thread polls: see s_wait
    char client_endpoint[S_ENDPOINT_MAX];
    char worker_endpoint[S_ENDPOINT_MAX];
    char cluster_endpoint[S_ENDPOINT_MAX];
    char error[512];
    zactor_t **actors; //  partition_threads > 0: the partition actors
    int actor_count;
    zdex_partition_t *partitions; //  partition_threads 0: driven by this thread
    int partitions_timeout;       //  its zdex_partition_work timeout
    zdex_registry_t *registry;
    zdex_dispatcher_t *dispatcher;
    zdex_protection_t *protection; //  split-brain protection rules against our view
    bool serving;
    zlistx_t *watchers; //  s_watcher_t *
    uint64_t random_state;
    bool terminated;
    bool leaving; //  LEAVE asked: partitions move away, then "LEFT" to the parent
} s_self_t;

static void
s_watcher_destroy (void **item_p)
{
    s_watcher_t *watcher = (s_watcher_t *) *item_p;
    if (watcher) {
        zmsg_destroy (&watcher->envelope);
        free (watcher->req_text);
        free (watcher);
        *item_p = NULL;
    }
}

static uint32_t
s_random_partition (s_self_t *self)
{
    //  xorshift64: cheap, per member, no shared state.
    uint64_t x = self->random_state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    self->random_state = x;
    return (uint32_t) (x % self->member->partition_count);
}

//  A command and a pointer to the actor of a partition (actor 0 for the member
//  bin, partition -1).
static void
s_to_actor (s_self_t *self, int64_t partition, const char *command, void *pointer)
{
    zactor_t *actor =
        self->actors[partition < 0 ? 0 : (uint32_t) partition % (uint32_t) self->actor_count];
    if (zdex_pointer_send (zsock_resolve (actor), command, pointer) != 0)
        zsys_error ("broker: lost a %s to an actor (%s)", command, zmq_strerror (zmq_errno ()));
}

//  A request for a partition (-1: the member bin), taken over.  When this thread
//  drives the partitions, a direct call (their replies and jobs come back through
//  the sink below, the rest through the collector); else a hand-off to the actor.
static void
s_partition_call (s_self_t *self, int64_t partition, zdex_call_t *call)
{
    if (self->partitions)
        zdex_partition_call (self->partitions, call);
    else
        s_to_actor (self, partition, "CALL", call);
}

//  A finished job, or (drop) a task that will not start, for its partition.
static void
s_partition_job (s_self_t *self, int64_t partition, zdex_job_t *job, bool drop)
{
    if (self->partitions)
        zdex_partition_job (self->partitions, job, drop);
    else
        s_to_actor (self, partition, drop ? "DROP" : "RESULT", job);
}

//  The partitions' sink (partition_threads 0): a reply goes out on the client
//  ROUTER, a job to the dispatcher, at once (deliver may submit, see
//  zdex_dispatcher.h).
static void s_send_reply (s_self_t *self, zmsg_t **envelope_p, zframe_t *frame);
static void s_on_dispatch (s_self_t *self, zdex_job_t *job);

static void
s_sink_reply (void *arg, zmsg_t **envelope_p, zframe_t **frame_p)
{
    zframe_t *frame = *frame_p;
    *frame_p = NULL;
    s_send_reply ((s_self_t *) arg, envelope_p, frame);
}

static void
s_sink_dispatch (void *arg, zdex_job_t **job_p)
{
    zdex_job_t *job = *job_p;
    *job_p = NULL;
    s_on_dispatch ((s_self_t *) arg, job);
}

static void
s_deliver (zdex_job_t *job, void *arg)
{
    s_self_t *self = (s_self_t *) arg;
    int64_t partition = !job->ref ? (int64_t) (job->task_id >> 32) : (int64_t) job->partition;
    s_partition_job (self, partition, job, false);
}

//  Bind a ROUTER and resolve the endpoint it ended up on.
static zsock_t *
s_bind (s_self_t *self, const char *endpoint, char *bound, const char *what)
{
    zsock_t *sock = zsock_new (ZMQ_ROUTER);
    assert (sock);
    zsock_set_sndhwm (sock, S_SOCKET_HWM);
    zsock_set_rcvhwm (sock, S_SOCKET_HWM);
    //  Hard cap: libzmq drops a peer sending a bigger frame.  Below it, frames over
    //  max_frame_bytes get a TOO_LARGE reply.
    zsock_set_maxmsgsize (sock, (int) (self->limits.max_frame_bytes * 4 + 4096));
    zsock_set_linger (sock, 0);
    zsock_set_rcvtimeo (sock, 0);
    if (zsock_bind (sock, "%s", endpoint) == -1) {
        snprintf (self->error, sizeof self->error, "cannot bind %s endpoint %s: %s", what, endpoint,
                  zmq_strerror (zmq_errno ()));
        zsock_destroy (&sock);
        return NULL;
    }
    char *last = zsock_last_endpoint (sock); //  caller owns
    snprintf (bound, S_ENDPOINT_MAX, "%s", last ? last : endpoint);
    zstr_free (&last);
    return sock;
}

//  New table or view: every partition actor follows it (in pipe order, so it
//  applies before any request the broker routes by the same table).
static void
s_on_cluster (const char *table_json, const char *view_json, void *arg)
{
    s_self_t *self = (s_self_t *) arg;
    zdex_protection_set_view (self->protection, view_json);
    //  Workers that discover members learn every member's worker endpoint.
    json_t *view = json_loads (view_json, 0, NULL);
    json_t *endpoints = json_array ();
    size_t index;
    json_t *member;
    json_array_foreach (json_object_get (view, "members"), index, member) {
        json_t *worker = json_object_get (member, "worker");
        if (json_is_string (worker))
            json_array_append (endpoints, worker);
    }
    if (json_array_size (endpoints) > 0)
        zdex_dispatcher_set_members (self->dispatcher, endpoints);
    json_decref (endpoints);
    json_decref (view);
    if (!table_json)
        return;
    if (self->partitions)
        zdex_partition_cluster (self->partitions, table_json, view_json);
    for (int actor = 0; actor < self->actor_count; actor++)
        zstr_sendx (self->actors[actor], "CLUSTER", table_json, view_json, NULL);
}

static int
s_start (s_self_t *self)
{
    const zdex_member_config_t *member = self->member;
    self->waitset = zdex_waitset_new ();
    assert (self->waitset);
    self->client = s_bind (self, member->client_endpoint, self->client_endpoint, "client");
    if (self->client)
        self->worker = s_bind (self, member->worker_endpoint, self->worker_endpoint, "worker");
    if (!self->worker)
        return -1;

    char collector_endpoint[64];
    snprintf (collector_endpoint, sizeof collector_endpoint, "inproc://zdex-collector-%p",
              (void *) self);
    self->collector = zsock_new (ZMQ_PULL);
    assert (self->collector);
    zsock_set_rcvhwm (self->collector, 0);
    zsock_set_rcvtimeo (self->collector, 0);
    int rc = zsock_bind (self->collector, "%s", collector_endpoint);
    assert (rc == 0);

    self->registry = zdex_registry_new (self->config, member->max_executors);
    self->protection = zdex_protection_new (self->config, member->member_id);
    self->dispatcher = zdex_dispatcher_new (self->worker, self->registry, &self->limits,
                                            member->worker_heartbeat_ms, member->worker_timeout_ms,
                                            s_deliver, self);
    zdex_dispatcher_set_waitset (self->dispatcher, self->waitset);
    //  Replication sockets bind on the cluster endpoint's host, on ephemeral ports
    //  that the view advertises.
    char bind_host[S_ENDPOINT_MAX];
    snprintf (bind_host, sizeof bind_host, "%s", member->cluster_endpoint);
    char *colon = strrchr (bind_host, ':');
    if (colon && colon > strstr (bind_host, "://") + 2)
        *colon = '\0';
    const char *drop = getenv ("ZDEX_TEST_DROP_REPLICATION"); //  fault-test hooks
    const char *head = getenv ("ZDEX_TEST_HEAD_MS");
    //  partition_threads 0: one zdex_partition_t for every partition, driven here.
    self->actor_count = member->partition_threads;
    int shares = self->actor_count > 0 ? self->actor_count : 1;
    self->actors = (zactor_t **) calloc ((size_t) shares, sizeof (zactor_t *));
    assert (self->actors);
    char replication[4096] = "";
    for (int index = 0; index < shares; index++) {
        zdex_partition_args_t args = {
            .index = index,
            .partition_count = member->partition_count,
            .output_endpoint = collector_endpoint,
            .max_parked = member->max_parked / (size_t) shares + 1,
            .actor_count = shares,
            .member_id = member->member_id,
            .cluster_name = member->cluster_name,
            .bind_host = bind_host,
            .drop_every = drop ? atoi (drop) : 0,
            .head_ms = head ? atoi (head) : 0,
            .verbose = member->log_level >= ZDEX_LOG_INFO,
        };
        char *endpoint = NULL;
        if (self->actor_count == 0) {
            args.sink = (zdex_partition_sink_t){
                .reply = s_sink_reply, .dispatch = s_sink_dispatch, .arg = self};
            args.waitset = self->waitset;
            self->partitions = zdex_partition_new (&args);
            assert (self->partitions);
            endpoint = strdup (zdex_partition_endpoint (self->partitions));
        } else {
            self->actors[index] = zdex_partition_actor_new (&args);
            assert (self->actors[index]);
            zstr_send (self->actors[index], "ENDPOINT");
            endpoint = zstr_recv (self->actors[index]);
        }
        size_t used = strlen (replication);
        snprintf (replication + used, sizeof replication - used, "%s%s", index ? "," : "",
                  endpoint ? endpoint : "");
        zstr_free (&endpoint);
    }

    zdex_cluster_args_t cluster_args = {
        .member_id = member->member_id,
        .cluster_name = member->cluster_name,
        .cluster_endpoint = member->cluster_endpoint,
        .client_endpoint = self->client_endpoint,
        .worker_endpoint = self->worker_endpoint,
        .replication_endpoint = replication,
        .seeds = zdex_config_seeds (self->config),
        .heartbeat_ms = member->cluster_heartbeat_ms,
        .timeout_ms = member->cluster_timeout_ms,
        .rebalance = member->cluster_rebalance,
        .partition_count = member->partition_count,
        .max_backups = (size_t) zdex_config_max_durability (self->config),
        .max_pending = member->max_parked,
        .client = self->client,
        .waitset = self->waitset,
        .verbose = member->log_level >= ZDEX_LOG_INFO,
    };
    self->cluster =
        zdex_cluster_new (&cluster_args, s_on_cluster, self, self->error, sizeof self->error);
    if (!self->cluster)
        return -1;
    snprintf (self->cluster_endpoint, sizeof self->cluster_endpoint, "%s",
              zdex_cluster_endpoint (self->cluster));
    self->watchers = zlistx_new ();
    assert (self->watchers);
    zlistx_set_destructor (self->watchers, s_watcher_destroy);
    self->serving = true;
    if (member->log_level >= ZDEX_LOG_INFO)
        zsys_info ("member %s serving clients on %s, workers on %s, %" PRIu32
                   " partitions on %d actor thread(s)%s",
                   member->member_id, self->client_endpoint, self->worker_endpoint,
                   member->partition_count, self->actor_count,
                   self->partitions ? " (driven by the broker's thread)" : "");
    return 0;
}

static void
s_send_reply (s_self_t *self, zmsg_t **envelope_p, zframe_t *frame)
{
    zmsg_t *msg = *envelope_p;
    *envelope_p = NULL;
    zmsg_append (msg, &frame);
    //  A client that went away loses its reply; the ROUTER drops it.
    zmsg_send (&msg, self->client);
    zdex_waitset_touch (self->waitset, self->client);
}

static void
s_reply_error (s_self_t *self, zmsg_t **envelope_p, const char *req_text, zdex_code_t code,
               const char *message)
{
    s_send_reply (self, envelope_p, zdex_reply_error (req_text, code, message, NULL));
}

//  Reply {"req":..,"ok":true, <members of object>}; takes ownership of object.
static void
s_reply_object (s_self_t *self, zmsg_t **envelope_p, const char *req_text, json_t *object)
{
    s_send_reply (self, envelope_p, zdex_reply_object (req_text, object));
    json_decref (object);
}

//  ---- Split-brain protection ----------------------------------------------------
//  The member that receives a client's request decides, by its own view: on the
//  minority side of a split that view holds fewer members.  A request forwarded or
//  fanned out by another member was checked there and is not checked again.

//  True, with the request answered SPLIT_BRAIN_PROTECTION, when op (wire name) may
//  not run under rule (a rule name, NULL or "" for none) now.  Scheduled ops call
//  this with their scheduler's zdex_scheduled_config_t.split_brain_protection.
static bool
s_protection_refuses (s_self_t *self, zmsg_t **envelope_p, const char *req_text, const char *op,
                      const char *rule)
{
    char message[ZDEX_PROTECTION_MESSAGE_MAX];
    if (zdex_protection_check (self->protection, op, rule, message, sizeof message) == 0)
        return false;
    s_reply_error (self, envelope_p, req_text, ZDEX_SPLIT_BRAIN_PROTECTION, message);
    return true;
}

//  The same for a durable op, under its executor's rule: the registry's copy of the
//  config when this member knows the executor (no pattern matching per request),
//  else resolved from the configuration (a lookup creates no executor).
static bool
s_protection_refuses_durable (s_self_t *self, zmsg_t **envelope_p, zdex_request_t *request)
{
    const char *op = zdex_op_str (request->op);
    if (strncmp (op, "durable.", 8) != 0 || zdex_protection_class (op) == ZDEX_PROTECTION_UNCHECKED)
        return false;
    zdex_executor_t *executor = zdex_registry_lookup (self->registry, request->executor);
    zdex_durable_config_t resolved;
    if (!executor)
        zdex_config_durable (self->config, request->executor, &resolved);
    const char *rule =
        executor ? executor->config.split_brain_protection : resolved.split_brain_protection;
    return s_protection_refuses (self, envelope_p, request->req_text, op, rule);
}
//  ---- end of split-brain protection ---------------------------------------------

//  What cluster.workers / cluster.members wait for, and their answers.
static size_t
s_watched_count (s_self_t *self, zdex_op_t op)
{
    //  A min_members wait also waits for the moves the new members caused: the
    //  caller wants a cluster that is formed, not one still handing over.
    if (op == ZDEX_OP_CLUSTER_MEMBERS)
        return zdex_cluster_moving (self->cluster) ? 0 : zdex_cluster_member_count (self->cluster);
    return zdex_dispatcher_worker_count (self->dispatcher);
}

static json_t *
s_watched_reply (s_self_t *self, zdex_op_t op)
{
    return op == ZDEX_OP_CLUSTER_MEMBERS
               ? zdex_cluster_members (self->cluster)
               : json_pack ("{s:o}", "workers", zdex_dispatcher_workers (self->dispatcher));
}

static json_t *
s_stats_json (zdex_executor_t *executor)
{
    const zdex_stats_t *stats = &executor->stats;
    return json_pack ("{s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "pending", (json_int_t) stats->pending,
                      "started", (json_int_t) stats->started, "completed",
                      (json_int_t) stats->completed, "cancelled", (json_int_t) stats->cancelled,
                      "total_start_latency_ms", (json_int_t) stats->total_start_latency_ms,
                      "total_execution_time_ms", (json_int_t) stats->total_execution_time_ms,
                      "creation_time_ms", (json_int_t) stats->creation_time_ms);
}

static void
s_member_op (s_self_t *self, zmsg_t **envelope_p, zdex_request_t *request, bool forwarded)
{
    const char *member_id = self->member->member_id;
    const char *req = request->req_text;
    switch (request->op) {
    case ZDEX_OP_CLUSTER_PING:
        s_reply_object (
            self, envelope_p, req,
            json_pack ("{s:s, s:s}", "member_id", member_id, "version", ZDEX_PROTOCOL_VERSION));
        return;
    case ZDEX_OP_CLUSTER_MEMBERS:
    case ZDEX_OP_CLUSTER_WORKERS: {
        bool members = request->op == ZDEX_OP_CLUSTER_MEMBERS;
        int minimum = members ? request->min_members : request->min_workers;
        if ((size_t) minimum <= s_watched_count (self, request->op))
            s_reply_object (self, envelope_p, req, s_watched_reply (self, request->op));
        else if (request->timeout_ms == 0)
            s_reply_error (self, envelope_p, req, ZDEX_TIMEOUT,
                           members ? "fewer members than min_members"
                                   : "fewer workers than min_workers");
        else if (zlistx_size (self->watchers) >= S_MAX_WATCHERS)
            s_reply_error (self, envelope_p, req, ZDEX_REJECTED,
                           "too many cluster.workers/members requests waiting");
        else {
            s_watcher_t *watcher = (s_watcher_t *) zmalloc (sizeof (s_watcher_t));
            assert (watcher);
            watcher->envelope = *envelope_p;
            *envelope_p = NULL;
            watcher->req_text = request->req_text;
            request->req_text = NULL;
            watcher->op = request->op;
            watcher->minimum = minimum;
            watcher->deadline = request->timeout_ms < 0 ? -1 : zclock_mono () + request->timeout_ms;
            zlistx_add_end (self->watchers, watcher);
        }
        return;
    }
    default:
        break;
    }
    //  Executor ops.  status does not create an executor; the others do (bounded).
    zdex_executor_t *executor = zdex_registry_lookup (self->registry, request->executor);
    if (request->op == ZDEX_OP_DURABLE_STATUS) {
        bool shutdown = executor && executor->shutdown;
        bool terminated = shutdown && executor->queued == 0 && executor->running == 0;
        s_reply_object (self, envelope_p, req,
                        json_pack ("{s:b, s:b}", "shutdown", shutdown, "terminated", terminated));
        return;
    }
    if (!executor)
        executor = zdex_registry_require (self->registry, request->executor);
    if (!executor) {
        s_reply_error (self, envelope_p, req, ZDEX_REJECTED,
                       "too many executor names on this member (limits.max_executors)");
        return;
    }
    json_t *reply;
    if (request->op == ZDEX_OP_DURABLE_SHUTDOWN) {
        executor->shutdown = true;
        reply = json_object ();
    } else if (request->op == ZDEX_OP_DURABLE_SHUTDOWN_NOW) {
        executor->shutdown = true;
        json_t *ids = zdex_dispatcher_drain (self->dispatcher, executor);
        size_t index;
        json_t *id;
        json_array_foreach (ids, index, id) {
            uint64_t task_id = (uint64_t) json_integer_value (id);
            zdex_job_t *job = zdex_job_new (executor->name, task_id, 0, "", NULL);
            assert (job);
            s_partition_job (self, (int64_t) (task_id >> 32), job, true);
        }
        reply = json_pack ("{s:o}", "not_started", ids);
    } else {
        assert (request->op == ZDEX_OP_DURABLE_STATS);
        json_t *members = json_object ();
        if (executor->config.statistics_enabled)
            json_object_set_new (members, member_id, s_stats_json (executor));
        reply = json_pack ("{s:o}", "members", members);
    }
    //  These ops apply on every member: a client's request is fanned out, a
    //  member's share is answered here.
    if (forwarded)
        s_reply_object (self, envelope_p, req, reply);
    else
        zdex_cluster_fan_out (self->cluster, envelope_p, request, reply);
}

//  Answer the cluster.workers requests whose condition is met or whose time is up;
//  returns the poll timeout until the nearest remaining deadline (-1: none).
static int
s_watchers_check (s_self_t *self)
{
    if (zlistx_size (self->watchers) == 0)
        return -1;
    int64_t now = zclock_mono ();
    int64_t next = -1;
    s_watcher_t *watcher = (s_watcher_t *) zlistx_first (self->watchers);
    while (watcher) {
        if ((size_t) watcher->minimum <= s_watched_count (self, watcher->op))
            s_reply_object (self, &watcher->envelope, watcher->req_text,
                            s_watched_reply (self, watcher->op));
        else if (watcher->deadline >= 0 && watcher->deadline <= now)
            s_reply_error (self, &watcher->envelope, watcher->req_text, ZDEX_TIMEOUT,
                           watcher->op == ZDEX_OP_CLUSTER_MEMBERS
                               ? "fewer members than min_members within timeout_ms"
                               : "fewer workers than min_workers within timeout_ms");
        else if (watcher->deadline >= 0 && (next < 0 || watcher->deadline < next))
            next = watcher->deadline;
        if (!watcher->envelope)
            zlistx_delete (self->watchers, zlistx_cursor (self->watchers));
        watcher = (s_watcher_t *) zlistx_next (self->watchers);
    }
    return next < 0 ? -1 : (int) (next - now);
}

static void
s_partition_op (s_self_t *self, zmsg_t **envelope_p, zdex_request_t **request_p, bool forwarded)
{
    zdex_request_t *request = *request_p;
    const char *req = request->req_text;
    bool submit = request->op == ZDEX_OP_DURABLE_SUBMIT || request->op == ZDEX_OP_DURABLE_EXECUTE ||
                  request->op == ZDEX_OP_DURABLE_SUBMIT_AND_RETRIEVE;
    uint32_t partition;
    if (!submit)
        partition = (uint32_t) (request->task_id >> 32);
    else if (request->key)
        partition = zdex_hash_partition (request->key, self->member->partition_count);
    else if (request->idempotency_key)
        partition = zdex_hash_partition (request->idempotency_key, self->member->partition_count);
    else {
        //  Keyless: any partition will do, so one of ours (no forwarding, and a
        //  forwarded keyless submit must not be sent on again).
        partition = s_random_partition (self);
        uint32_t owned = zdex_cluster_pick_owned (self->cluster, self->random_state);
        if (owned != UINT32_MAX)
            partition = owned;
    }
    if (!submit && request->task_id >> 32 >= self->member->partition_count) {
        s_reply_error (self, envelope_p, req, ZDEX_STALE_TASK_ID, "task id was never issued");
        return;
    }
    const char *not_ready = zdex_cluster_not_ready (self->cluster);
    if (not_ready) {
        s_reply_error (self, envelope_p, req, ZDEX_UNAVAILABLE, not_ready);
        return;
    }
    if (!zdex_cluster_owns (self->cluster, partition)) {
        if (forwarded)
            s_reply_error (self, envelope_p, req, ZDEX_UNAVAILABLE,
                           "this member does not own the partition (tables changing); retry");
        else
            zdex_cluster_forward (self->cluster, partition, envelope_p, request);
        return;
    }
    uint32_t capacity = 0;
    if (submit) {
        zdex_executor_t *executor = zdex_registry_require (self->registry, request->executor);
        if (!executor) {
            s_reply_error (self, envelope_p, req, ZDEX_REJECTED,
                           "too many executor names on this member (limits.max_executors)");
            return;
        }
        if (executor->shutdown) {
            char message[ZDEX_MAX_NAME_BYTES + 64];
            snprintf (message, sizeof message, "executor '%s' is shut down", executor->name);
            s_reply_error (self, envelope_p, req, ZDEX_REJECTED, message);
            return;
        }
        if (zdex_dispatcher_queued (self->dispatcher) >= self->member->max_queued_tasks) {
            s_reply_error (self, envelope_p, req, ZDEX_REJECTED,
                           "too many tasks waiting for a worker on this member "
                           "(limits.max_queued_tasks)");
            return;
        }
        capacity = (uint32_t) executor->config.capacity;
    }
    //  An executor seen only by the member that owned the partition before us
    //  (promotion) is known here from now on; the ring itself says whether the id
    //  was issued.
    zdex_executor_t *executor = zdex_registry_require (self->registry, request->executor);
    if (!executor) {
        s_reply_error (self, envelope_p, req, ZDEX_REJECTED,
                       "too many executor names on this member (limits.max_executors)");
        return;
    }
    zdex_call_t *call =
        zdex_call_new (envelope_p, request_p, partition, capacity, executor->config.durability);
    s_partition_call (self, partition, call);
}

//  Send a scheduled op to the actor holding its task: the partition's actor, or
//  actor 0 for the member bin.
static void
s_scheduled_call (s_self_t *self, zmsg_t **envelope_p, zdex_request_t **request_p,
                  zdex_executor_t *record, bool member_bin, uint32_t partition)
{
    zdex_request_t *request = *request_p;
    const zdex_scheduled_config_t *config = &record->scheduled;
    zdex_call_t *call = zdex_call_new (envelope_p, request_p, partition,
                                       (uint32_t) config->capacity, config->durability);
    call->member_bin = member_bin;
    call->per_partition = config->capacity_policy == ZDEX_CAPACITY_PER_PARTITION;
    if (request->op == ZDEX_OP_SCHEDULED_SCHEDULE && !call->per_partition) {
        //  Per member: counted here, where every schedule of this member passes;
        //  the actor gives the count back if the task is not added after all.
        call->permit = config->capacity == 0 || record->tasks < (size_t) config->capacity;
        call->reserved = call->permit;
        record->tasks += call->permit;
    }
    s_partition_call (self, member_bin ? -1 : (int64_t) partition, call);
}

//  A member-wide scheduled op (get_all, shutdown, stats): this member's share,
//  fanned out to the others unless the request was itself fanned out to us.
static void
s_scheduled_member_op (s_self_t *self, zmsg_t **envelope_p, zdex_request_t *request,
                       zdex_executor_t *record, bool forwarded)
{
    const char *member_id = self->member->member_id;
    json_t *reply;
    if (request->op == ZDEX_OP_SCHEDULED_SHUTDOWN) {
        record->shutdown = true;
        if (self->partitions)
            zdex_partition_sched_shutdown (self->partitions, request->scheduler);
        for (int index = 0; index < self->actor_count; index++)
            zstr_sendx (self->actors[index], "SCHED_SHUTDOWN", request->scheduler, NULL);
        reply = json_object ();
    } else if (request->op == ZDEX_OP_SCHEDULED_STATS) {
        json_t *members = json_object ();
        if (record->config.statistics_enabled)
            json_object_set_new (members, member_id, s_stats_json (record));
        reply = json_pack ("{s:o}", "members", members);
    } else {
        assert (request->op == ZDEX_OP_SCHEDULED_GET_ALL);
        json_t *urns = json_array ();
        //  Each actor answers on its pipe; it never waits on us, so this is short.
        int shares = self->partitions ? 1 : self->actor_count;
        for (int index = 0; index < shares && !record->shutdown; index++) {
            char *text = NULL;
            if (self->partitions)
                text = zdex_partition_sched_list (self->partitions, request->scheduler);
            else {
                zstr_sendx (self->actors[index], "SCHED_LIST", request->scheduler, NULL);
                text = zstr_recv (self->actors[index]);
            }
            json_t *list = text ? json_loads (text, 0, NULL) : NULL;
            if (json_is_array (list))
                json_array_extend (urns, list);
            json_decref (list);
            zstr_free (&text);
        }
        reply = json_pack ("{s:{s:o}}", "members", member_id, urns);
    }
    assert (reply);
    if (forwarded)
        s_reply_object (self, envelope_p, request->req_text, reply);
    else
        zdex_cluster_fan_out (self->cluster, envelope_p, request, reply);
}

//  A scheduled op for a member's bin: ours, or forwarded to that member, or
//  MEMBER_LOST (with lost_message) when it is not in the view.
static void
s_scheduled_on_member (s_self_t *self, zmsg_t **envelope_p, zdex_request_t **request_p,
                       zdex_executor_t *record, const char *member, const char *lost_message,
                       bool forwarded)
{
    zdex_request_t *request = *request_p;
    if (streq (member, self->member->member_id))
        s_scheduled_call (self, envelope_p, request_p, record, true, 0);
    else if (!zdex_cluster_has_member (self->cluster, member))
        s_reply_error (self, envelope_p, request->req_text, ZDEX_MEMBER_LOST, lost_message);
    else if (forwarded)
        s_reply_error (self, envelope_p, request->req_text, ZDEX_UNAVAILABLE,
                       "the request reached the wrong member; retry");
    else
        zdex_cluster_forward_to (self->cluster, member, envelope_p, request);
}

static void
s_scheduled_op (s_self_t *self, zmsg_t **envelope_p, zdex_request_t **request_p, bool forwarded)
{
    zdex_request_t *request = *request_p;
    const char *req = request->req_text;
    bool schedule = request->op == ZDEX_OP_SCHEDULED_SCHEDULE;
    bool task_op = schedule || request->op == ZDEX_OP_SCHEDULED_GET ||
                   request->op == ZDEX_OP_SCHEDULED_CANCEL ||
                   request->op == ZDEX_OP_SCHEDULED_DISPOSE ||
                   request->op == ZDEX_OP_SCHEDULED_STATUS;
    const char *scheduler = schedule || !task_op ? request->scheduler : request->handler.scheduler;
    zdex_executor_t *record = zdex_registry_require_scheduler (self->registry, scheduler, false);
    if (!record) {
        s_reply_error (self, envelope_p, req, ZDEX_REJECTED,
                       "too many executor and scheduler names on this member "
                       "(limits.max_executors)");
        return;
    }
    if (!forwarded && s_protection_refuses (self, envelope_p, req, zdex_op_str (request->op),
                                            record->scheduled.split_brain_protection))
        return;
    if (!task_op) {
        s_scheduled_member_op (self, envelope_p, request, record, forwarded);
        return;
    }
    if (record->shutdown) {
        s_reply_error (self, envelope_p, req, ZDEX_REJECTED, "Executor is shut down.");
        return;
    }
    const char *not_ready = zdex_cluster_not_ready (self->cluster);
    if (not_ready) {
        s_reply_error (self, envelope_p, req, ZDEX_UNAVAILABLE, not_ready);
        return;
    }
    char message[ZDEX_MAX_NAME_BYTES + 160];
    if (schedule) {
        if (!request->name) {
            //  Unnamed: a UUID, chosen here so that every copy (members) shares it.
            zuuid_t *uuid = zuuid_new ();
            assert (uuid);
            json_object_set_new (request->root, "name", json_string (zuuid_str_canonical (uuid)));
            zuuid_destroy (&uuid);
            request->name = json_string_value (json_object_get (request->root, "name"));
        }
        if (request->members || request->all_members) {
            if (forwarded) {
                s_scheduled_call (self, envelope_p, request_p, record, true, 0);
                return;
            }
            json_t *targets = json_array ();
            if (request->members) {
                size_t index;
                json_t *id;
                json_array_foreach (request->members, index, id) {
                    if (!zdex_cluster_has_member (self->cluster, json_string_value (id))) {
                        snprintf (message, sizeof message, "member %s is not part of this cluster",
                                  json_string_value (id));
                        s_reply_error (self, envelope_p, req, ZDEX_MEMBER_LOST, message);
                        json_decref (targets);
                        return;
                    }
                    json_array_append (targets, id);
                }
            } else {
                json_t *members = zdex_cluster_members (self->cluster);
                size_t index;
                json_t *member;
                json_array_foreach (json_object_get (members, "members"), index, member)
                    json_array_append (targets, json_object_get (member, "id"));
                json_decref (members);
            }
            zdex_cluster_fan_out_to (self->cluster, envelope_p, request,
                                     json_pack ("{s:{}}", "handlers"), targets);
            json_decref (targets);
            return;
        }
        if (request->member) {
            snprintf (message, sizeof message, "member %s is not part of this cluster",
                      request->member);
            s_scheduled_on_member (self, envelope_p, request_p, record, request->member, message,
                                   forwarded);
            return;
        }
    }
    const zdex_handler_t *handler = &request->handler;
    if (!schedule && handler->partition < 0) {
        snprintf (message, sizeof message,
                  "Member with address: %s,  holding this scheduled task is not part of "
                  "this cluster.",
                  handler->member);
        s_scheduled_on_member (self, envelope_p, request_p, record, handler->member, message,
                               forwarded);
        return;
    }
    uint32_t partition;
    if (schedule)
        partition = zdex_hash_partition (request->key ? request->key : request->name,
                                         self->member->partition_count);
    else if ((uint32_t) handler->partition >= self->member->partition_count) {
        snprintf (message, sizeof message, "Task with name %s not found.", handler->name);
        s_reply_error (self, envelope_p, req, ZDEX_STALE_TASK, message);
        return;
    } else
        partition = (uint32_t) handler->partition;
    if (!zdex_cluster_owns (self->cluster, partition)) {
        if (forwarded)
            s_reply_error (self, envelope_p, req, ZDEX_UNAVAILABLE,
                           "this member does not own the partition (tables changing); retry");
        else
            zdex_cluster_forward (self->cluster, partition, envelope_p, request);
        return;
    }
    s_scheduled_call (self, envelope_p, request_p, record, false, partition);
}

static bool
s_on_client (s_self_t *self)
{
    //  Read as zmq messages: the envelope (identity, and REQ's empty frame)
    //  becomes the zmsg a reply goes back on; the body is parsed where it lies.
    zmq_msg_t parts[3];
    bool whole;
    size_t count = zdex_msg_recv_parts (zsock_resolve (self->client), parts, 3, &whole);
    if (count == 0)
        return false;
    //  A DEALER's identity and body, or a REQ's identity, empty frame and body;
    //  anything else has no envelope to answer on.
    bool shaped = whole && count >= 2;
    zmsg_t *msg = NULL;
    if (shaped) {
        msg = zmsg_new ();
        assert (msg);
        for (size_t index = 0; index + 1 < count; index++)
            zmsg_addmem (msg, zmq_msg_data (&parts[index]), zmq_msg_size (&parts[index]));
    }
    zmq_msg_t *body = &parts[count - 1];
    zdex_error_t error = {0};
    zdex_request_t *request = shaped ? zdex_request_parse (zmq_msg_data (body), zmq_msg_size (body),
                                                           &self->limits, &error)
                                     : NULL;
    for (size_t index = 0; index < count; index++)
        zmq_msg_close (&parts[index]);
    if (!shaped)
        return true;
    if (!request) {
        s_reply_error (self, &msg, error.req_text, error.code, error.message);
        zdex_error_reset (&error);
        return true;
    }
    int forwarder = zdex_cluster_forwarder (self->cluster, zmsg_first (msg));
    if (forwarder < 0) {
        s_reply_error (self, &msg, request->req_text, ZDEX_UNAVAILABLE,
                       "forwarded by a member of another cluster; retry");
        zdex_request_destroy (&request);
        return true;
    }
    bool forwarded = forwarder > 0;
    if (!forwarded && s_protection_refuses_durable (self, &msg, request)) {
        zdex_request_destroy (&request);
        return true;
    }
    switch (request->op) {
    case ZDEX_OP_DURABLE_SUBMIT:
    case ZDEX_OP_DURABLE_EXECUTE:
    case ZDEX_OP_DURABLE_SUBMIT_AND_RETRIEVE:
    case ZDEX_OP_DURABLE_RETRIEVE:
    case ZDEX_OP_DURABLE_RETRIEVE_AND_DISPOSE:
    case ZDEX_OP_DURABLE_DISPOSE:
        s_partition_op (self, &msg, &request, forwarded);
        break;
    default:
        if (ZDEX_OP_IS_SCHEDULED (request->op))
            s_scheduled_op (self, &msg, &request, forwarded);
        else
            s_member_op (self, &msg, request, forwarded);
        break;
    }
    zdex_request_destroy (&request);
    zmsg_destroy (&msg);
    return true;
}

//  A job from a partition actor, for the dispatcher.
static void
s_on_dispatch (s_self_t *self, zdex_job_t *job)
{
    //  A promoted partition brings tasks of executors this member may not have
    //  seen yet.
    if (self->terminated)
        zdex_job_destroy (&job);
    else if (job->ref) {
        //  A scheduler's record always exists: it holds the task that runs.
        zdex_registry_require_scheduler (self->registry, job->scheduler, true);
        zdex_dispatcher_submit (self->dispatcher, &job);
    } else if (!zdex_registry_require (self->registry, job->executor)) {
        zsys_error ("member %s: task %" PRIu64 " of executor '%s' cannot run here: "
                    "too many executor names (limits.max_executors)",
                    self->member->member_id, job->task_id, job->executor);
        zdex_job_destroy (&job);
    } else
        zdex_dispatcher_submit (self->dispatcher, &job);
}

//  The collector's two busy commands, REPLY and DISPATCH, are read frame by frame
//  without building a zmsg: a reply's frames move on to the client ROUTER as they
//  are, and DISPATCH is a command and a pointer.
static bool
s_on_collector (s_self_t *self)
{
    void *handle = zsock_resolve (self->collector);
    zmq_msg_t first;
    zmq_msg_init (&first);
    if (zmq_msg_recv (&first, handle, ZMQ_DONTWAIT) == -1) {
        zmq_msg_close (&first);
        return false;
    }
    const char *data = (const char *) zmq_msg_data (&first);
    size_t size = zmq_msg_size (&first);
    bool more = zmq_msg_more (&first);
    if (more && size == 5 && memcmp (data, "REPLY", 5) == 0) {
        zmq_msg_close (&first);
        void *client = zsock_resolve (self->client);
        while (more) {
            zmq_msg_t part;
            zmq_msg_init (&part);
            if (zmq_msg_recv (&part, handle, 0) == -1) {
                zmq_msg_close (&part);
                break;
            }
            more = zmq_msg_more (&part);
            if (zmq_msg_send (&part, client, more ? ZMQ_SNDMORE : 0) == -1)
                zmq_msg_close (&part);
        }
        zdex_waitset_touch (self->waitset, self->client);
        return true;
    }
    if (more && size == 8 && memcmp (data, "DISPATCH", 8) == 0) {
        zmq_msg_close (&first);
        s_on_dispatch (self, (zdex_job_t *) zdex_pointer_recv (handle));
        return true;
    }
    //  Anything else as a zmsg, for the commands below.
    zmsg_t *msg = zdex_msg_rest (&first, self->collector);
    char *command = zmsg_popstr (msg);
    if (streq (command, "COUNT")) {
        char *scheduler = zmsg_popstr (msg);
        char *delta = zmsg_popstr (msg);
        zdex_executor_t *record = zdex_registry_require_scheduler (self->registry, scheduler, true);
        long change = strtol (delta, NULL, 10);
        record->tasks = change < 0 && (size_t) -change > record->tasks
                            ? 0
                            : (size_t) ((long) record->tasks + change);
        zstr_free (&scheduler);
        zstr_free (&delta);
    } else if (streq (command, "REROUTE")) {
        //  A request that reached the actor after its partition moved away.
        zframe_t *pointer = zmsg_pop (msg);
        zdex_call_t *call = NULL;
        assert (pointer && zframe_size (pointer) == sizeof (void *));
        memcpy (&call, zframe_data (pointer), sizeof (void *));
        zframe_destroy (&pointer);
        if (self->terminated || zdex_cluster_owns (self->cluster, call->partition))
            s_reply_error (self, &call->envelope, call->request->req_text, ZDEX_UNAVAILABLE,
                           "this member does not own the partition (tables changing); retry");
        else
            zdex_cluster_forward (self->cluster, call->partition, &call->envelope, call->request);
        zdex_call_destroy (&call);
    } else if (streq (command, "READY")) {
        char *partition = zmsg_popstr (msg);
        char *epoch = zmsg_popstr (msg);
        char *target = zmsg_popstr (msg);
        if (!self->terminated && self->cluster)
            zdex_cluster_move_ready (self->cluster, partition, epoch, target);
        zstr_free (&partition);
        zstr_free (&epoch);
        zstr_free (&target);
    } else if (streq (command, "CANCEL")) {
        char *executor = zmsg_popstr (msg);
        char *id = zmsg_popstr (msg);
        if (!self->terminated)
            zdex_dispatcher_cancel (self->dispatcher, executor, (uint64_t) strtoull (id, NULL, 10));
        zstr_free (&executor);
        zstr_free (&id);
    } else
        assert (false);
    zstr_free (&command);
    zmsg_destroy (&msg);
    return true;
}

static bool
s_on_pipe (s_self_t *self)
{
    zmsg_t *msg = zmsg_recv (self->pipe);
    if (!msg)
        return false;
    char *command = zmsg_popstr (msg);
    if (streq (command, "$TERM"))
        self->terminated = true;
    else if (streq (command, "LEAVE")) {
        //  A graceful leave: keep serving while our partitions move to the
        //  others; the parent hears "LEFT" when they have (or time is up).
        if (self->cluster && !self->leaving)
            zdex_cluster_drain (self->cluster);
        else if (!self->cluster)
            zstr_send (self->pipe, "LEFT");
        self->leaving = true;
    } else if (streq (command, "ENDPOINTS")) {
        if (self->serving)
            zstr_sendx (self->pipe, "OK", self->client_endpoint, self->worker_endpoint,
                        self->cluster_endpoint, NULL);
        else
            zstr_sendx (self->pipe, "ERROR", self->error, NULL);
    }
    zdex_waitset_touch (self->waitset, self->pipe);
    zstr_free (&command);
    zmsg_destroy (&msg);
    return true;
}

//  Handle up to S_BATCH_MAX messages from socket, if the last wait named it ready.
//  Sockets have a zero receive timeout, so a receive on an empty socket returns
//  at once: asking ZMQ_EVENTS before each receive would cost a system call per
//  message.
static void
s_drain (s_self_t *self, zsock_t *socket, bool (*handler) (s_self_t *))
{
    if (!zdex_waitset_ready (self->waitset, socket))
        return;
    for (int count = 0; count < S_BATCH_MAX && !self->terminated; count++)
        if (!handler (self)) {
            zdex_waitset_drained (self->waitset, socket);
            break;
        }
}

//  The smaller of two poll timeouts, where -1 means none.
static int
s_min_timeout (int first, int second)
{
    if (first < 0)
        return second;
    if (second < 0)
        return first;
    return first < second ? first : second;
}

//  Wait until a socket may be readable or timeout_ms passes.  The set of sockets
//  changes as members come and go, so the list is built on each call.  Each
//  module reads only the sockets the waitset names ready, and touches the ones
//  it sends on, so a pass costs system calls for the sockets that had traffic,
//  not for all of them (zdex_waitset.h).
static void
s_wait (s_self_t *self, int timeout_ms)
{
    void *sockets[ZDEX_WAITSET_MAX] = {self->pipe, self->collector, self->worker, self->client};
    size_t count = 4;
    count += zdex_cluster_sockets (self->cluster, sockets + count, ZDEX_WAITSET_MAX - count);
    if (self->partitions)
        count +=
            zdex_partition_sockets (self->partitions, sockets + count, ZDEX_WAITSET_MAX - count);
    zdex_waitset_wait (self->waitset, sockets, count, timeout_ms);
}

static void
s_stop (s_self_t *self)
{
    //  Membership first: LEAVE tells the master, which promotes our partitions'
    //  backups at once instead of after a heartbeat timeout; forwarded requests
    //  still waiting are answered UNAVAILABLE while the client socket is open.
    if (self->cluster)
        zdex_cluster_leave (self->cluster);
    zdex_cluster_destroy (&self->cluster);
    //  Let the last replies (UNAVAILABLE to parked and held requests) leave.
    if (self->client)
        zsock_set_linger (self->client, 500);
    //  Then the actors: they finish what is in their pipes and push the last
    //  replies and jobs to the collector, which is drained so nothing leaks.
    for (int index = 0; index < self->actor_count; index++)
        zactor_destroy (&self->actors[index]);
    free (self->actors);
    zdex_partition_destroy (&self->partitions);
    self->terminated = true;
    if (self->collector)
        while (s_on_collector (self))
            ;
    zdex_dispatcher_destroy (&self->dispatcher);
    zdex_registry_destroy (&self->registry);
    zdex_protection_destroy (&self->protection);
    zlistx_destroy (&self->watchers);
    zsock_destroy (&self->collector);
    zsock_destroy (&self->client);
    zsock_destroy (&self->worker);
    zdex_waitset_destroy (&self->waitset);
}

static void
s_actor (zsock_t *pipe, void *arg)
{
    s_self_t self_data = {0};
    s_self_t *self = &self_data;
    self->pipe = pipe;
    self->config = (zdex_config_t *) arg;
    self->member = zdex_config_member (self->config);
    self->limits.max_frame_bytes = self->member->max_frame_bytes;
    self->limits.max_payload_bytes = self->member->max_payload_bytes;
    self->random_state =
        ((uint64_t) zclock_usecs () << 16) ^ (uint64_t) getpid () ^ 0x9e3779b97f4a7c15ull;
    int rc = s_start (self);
    zsock_signal (pipe, 0);
    if (rc != 0) {
        //  Report the failure when asked, then wait for $TERM.
        while (!self->terminated) {
            s_on_pipe (self);
        }
        s_stop (self);
        return;
    }
    zsock_set_rcvtimeo (pipe, 0);
    int watch_timeout = -1;
    while (!self->terminated) {
        int timeout = s_min_timeout (zdex_dispatcher_timeout (self->dispatcher), watch_timeout);
        timeout = s_min_timeout (timeout, zdex_cluster_timeout (self->cluster));
        if (self->partitions)
            timeout = s_min_timeout (timeout, self->partitions_timeout);
        s_wait (self, timeout);
        s_drain (self, self->pipe, s_on_pipe);
        s_drain (self, self->collector, s_on_collector);
        if (!self->terminated)
            zdex_dispatcher_recv (self->dispatcher);
        if (!self->terminated)
            zdex_cluster_recv (self->cluster);
        s_drain (self, self->client, s_on_client);
        if (!self->terminated && self->partitions) {
            //  What the requests and results above made the partitions push to
            //  the collector (not replies and jobs: those went out at once) is
            //  handed on in this pass, not the next.
            self->partitions_timeout = zdex_partition_work (self->partitions);
            s_drain (self, self->collector, s_on_collector);
        }
        if (!self->terminated && zdex_dispatcher_timeout (self->dispatcher) == 0)
            zdex_dispatcher_tick (self->dispatcher);
        //  The tasks this pass handed each worker leave together.
        if (!self->terminated)
            zdex_dispatcher_flush (self->dispatcher);
        if (!self->terminated && zdex_cluster_timeout (self->cluster) == 0)
            zdex_cluster_tick (self->cluster);
        if (self->leaving && zdex_cluster_drained (self->cluster)) {
            zstr_send (self->pipe, "LEFT");
            zdex_waitset_touch (self->waitset, self->pipe);
            self->leaving = false;
        }
        watch_timeout = s_watchers_check (self);
    }
    s_stop (self);
}

zactor_t *
zdex_broker_new (zdex_config_t *config)
{
    assert (config);
    return zactor_new (s_actor, config);
}
