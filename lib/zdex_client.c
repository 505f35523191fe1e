//  zdex_client: one DEALER socket to the members' client endpoints, with a pipelined
//  API and synchronous wrappers on top of it.
//
//  Request numbers ("req") come from two counters so that a late reply can always be
//  told apart: pipelined requests get positive integers, synchronous calls negative
//  ones.  A synchronous call waits for the reply carrying its own req; replies to
//  pipelined requests that arrive meanwhile go to a FIFO stash that zdex_client_recv
//  drains first; a reply carrying a negative req that nobody waits for belongs to a
//  call that gave up (CLIENT_TIMEOUT) and is dropped.
//
//  Every wait is a zmq_poll of at most S_POLL_SLICE_MS, so a SIGINT/SIGTERM (czmq's
//  handler sets zsys_interrupted) ends any call promptly, whichever thread the
//  signal was delivered to.  ZMQ_IMMEDIATE is on: a request goes only to a member
//  whose connection is up (the send waits for one, within the call's deadline), so
//  with several endpoints a member that died does not swallow requests queued for
//  it while its port is retried; a client may still be created before the cluster
//  is up.
//
//  Direct routing: with two or more endpoints, the client also keeps one DEALER per
//  endpoint (ZMQ_IMMEDIATE too) and the cluster's partition table as cluster.members
//  reports it (`owners`).  A request whose partition the client can compute (a
//  submit or execute with a key or idempotency_key, a request naming a task_id)
//  goes straight to the owner's DEALER when the owner's endpoint is one the client
//  was given and its connection is up; anything else, and any request that DEALER
//  cannot take at once, goes on the shared DEALER as before.  Members still forward
//  what they do not own, so a stale table costs a hop, never a wrong answer; the
//  client sends only to members it was told about, as before.  The table is asked
//  for on the shared DEALER (a string req with a reserved prefix, answered
//  wherever it lands and never shown to the caller): when the client first needs
//  it, after an UNAVAILABLE answer, a client timeout or a direct send that found
//  no connection, and every S_TABLE_REFRESH_MS, at most once per
//  S_TABLE_INTERVAL_MS.  A client given one endpoint keeps none of this.

#include "zdex_client.h"
#include "zdex_hash.h"
#include "zdex_proto.h"

#include <czmq.h>
#include <errno.h>
#include <stdarg.h>
#include <string.h>

#define S_POLL_SLICE_MS 100
#define S_LINGER_MS     1000
#define S_HWM           100000 //  messages queued each way; pipelines are deep

#define S_MAX_ROUTES        32    //  endpoints that get a DEALER of their own
#define S_MAX_PARTITIONS    65536 //  largest partition_count accepted in a table
#define S_MAX_TABLE_MEMBERS 65536 //  largest member list accepted in a table
#define S_TABLE_INTERVAL_MS 500   //  at most one cluster.members per interval
#define S_TABLE_ANSWER_MS   2000  //  an unanswered cluster.members is asked again after
#define S_TABLE_REFRESH_MS  10000 //  a table is asked for again after this long
#define S_TABLE_REQ_PREFIX  "zdex-client-table:"

//  One endpoint the caller gave, with its direct DEALER (created once the client
//  has two endpoints).
typedef struct {
    char *endpoint;
    zsock_t *dealer;
    void *handle; //  libzmq socket of dealer, NULL when none
} s_route_t;

struct _zdex_client_t {
    zsock_t *dealer;
    void *handle;          //  libzmq socket of dealer
    int64_t timeout_ms;    //  client-side wait of sync calls, -1 = forever
    int64_t next_req;      //  last pipelined req issued (positive)
    int64_t next_sync_req; //  last sync req issued (negative)
    size_t outstanding;    //  pipelined requests not yet returned by recv
    zlistx_t *stash;       //  json_t * replies to pipelined requests, FIFO
    char error_code[64];   //  "" when no error
    char *error_message;   //  NULL when no error
    json_t *error_cause;   //  NULL when none

    //  Direct routing (see the top of this file)
    s_route_t routes[S_MAX_ROUTES];
    size_t route_count;
    bool routing;             //  two or more endpoints: direct DEALERs exist
    int16_t *owner_route;     //  per partition, index into routes or -1
    uint32_t partition_count; //  0: no table
    int64_t table_at;         //  when the table was installed
    int64_t table_asked_at;   //  when cluster.members was last sent
    uint64_t table_seq;       //  number of the last cluster.members sent
    bool table_asked;         //  one was ever sent
    bool table_waiting;       //  its answer has not come
    bool table_stale;         //  an answer suggested the table changed
    size_t next_poll;         //  first socket to read on the next receive (fairness)
};

//  Receive outcome of s_recv_one.
typedef enum {
    S_RECV_OK = 0,
    S_RECV_TIMEOUT,
    S_RECV_FAILED //  interrupted or socket error; error recorded
} s_recv_status_t;

static void
s_json_destructor (void **item_p)
{
    json_decref ((json_t *) *item_p);
    *item_p = NULL;
}

static void
s_error_clear (zdex_client_t *self)
{
    self->error_code[0] = '\0';
    zstr_free (&self->error_message);
    json_decref (self->error_cause);
    self->error_cause = NULL;
}

//  Record an error.  cause is borrowed (the client takes its own reference).
static void
s_error_set (zdex_client_t *self, const char *code, json_t *cause, const char *format, ...)
{
    s_error_clear (self);
    snprintf (self->error_code, sizeof self->error_code, "%s", code);
    va_list args;
    va_start (args, format);
    self->error_message = zsys_vprintf (format, args);
    va_end (args);
    self->error_cause = json_incref (cause);
}

//  Absolute monotonic deadline for a wait of wait_ms (-1: none).
static int64_t
s_deadline (int64_t wait_ms)
{
    return wait_ms < 0 ? -1 : zclock_mono () + wait_ms;
}

//  Poll slice until deadline: 0 when it has passed.
static long
s_slice (int64_t deadline)
{
    if (deadline < 0)
        return S_POLL_SLICE_MS;
    int64_t remaining = deadline - zclock_mono ();
    if (remaining <= 0)
        return 0;
    return remaining < S_POLL_SLICE_MS ? (long) remaining : S_POLL_SLICE_MS;
}

//  The client-side wait for a request: the client timeout, extended to T + grace
//  for a request that carries "timeout_ms": T.
static int64_t
s_wait_for (zdex_client_t *self, json_t *request)
{
    json_t *timeout = json_object_get (request, "timeout_ms");
    if (!json_is_integer (timeout) || json_integer_value (timeout) < 0)
        return self->timeout_ms;
    int64_t server_ms = json_integer_value (timeout);
    if (server_ms > INT64_MAX / 2)
        return -1;
    int64_t wait_ms = server_ms + ZDEX_CLIENT_GRACE_MS;
    if (self->timeout_ms < 0)
        return wait_ms;
    return self->timeout_ms > wait_ms ? self->timeout_ms : wait_ms;
}

//  ---------------------------------------------------------------------------------
//  Direct routing

//  Create the direct DEALER of a route.  A route without one is simply not used.
static void
s_route_open (s_route_t *route)
{
    route->dealer = zsock_new (ZMQ_DEALER);
    if (!route->dealer)
        return;
    zsock_set_linger (route->dealer, S_LINGER_MS);
    zsock_set_immediate (route->dealer, 1);
    zsock_set_sndhwm (route->dealer, S_HWM);
    zsock_set_rcvhwm (route->dealer, S_HWM);
    if (zsock_connect (route->dealer, "%s", route->endpoint) == 0)
        route->handle = zsock_resolve (route->dealer);
    else
        zsock_destroy (&route->dealer);
}

//  Send cluster.members on the shared DEALER if the table is missing, stale or old
//  and the rate allows.  Never waits: with no connection up yet it is asked again
//  with the next request.
static void
s_table_ask (zdex_client_t *self)
{
    int64_t now = zclock_mono ();
    bool needed = self->partition_count == 0 || self->table_stale ||
                  now - self->table_at >= S_TABLE_REFRESH_MS;
    if (!needed)
        return;
    if (self->table_asked &&
        (now - self->table_asked_at < S_TABLE_INTERVAL_MS ||
         (self->table_waiting && now - self->table_asked_at < S_TABLE_ANSWER_MS)))
        return;
    char text[96];
    int size =
        snprintf (text, sizeof text,
                  "{\"op\":\"cluster.members\",\"req\":\"" S_TABLE_REQ_PREFIX "%" PRIu64 "\"}",
                  self->table_seq + 1);
    if (zmq_send (self->handle, text, (size_t) size, ZMQ_DONTWAIT) >= 0) {
        self->table_seq++;
        self->table_asked = true;
        self->table_asked_at = now;
        self->table_waiting = true;
        self->table_stale = false;
    }
}

//  Install the table of a cluster.members answer (borrowed), if it is well formed;
//  otherwise keep the one we have.  Only members whose client endpoint the caller
//  gave us are routed to.
static void
s_table_install (zdex_client_t *self, json_t *reply)
{
    json_t *members = json_object_get (reply, "members");
    json_t *owners = json_object_get (reply, "owners");
    json_t *count = json_object_get (reply, "partition_count");
    if (!json_is_true (json_object_get (reply, "ok")) || !json_is_array (members) ||
        !json_is_array (owners) || !json_is_integer (count) || json_integer_value (count) < 1 ||
        json_integer_value (count) > S_MAX_PARTITIONS ||
        json_array_size (owners) != (size_t) json_integer_value (count) ||
        json_array_size (members) > S_MAX_TABLE_MEMBERS)
        return;
    size_t member_count = json_array_size (members);
    int16_t *route_of = (int16_t *) malloc ((member_count + 1) * sizeof (int16_t));
    uint32_t partitions = (uint32_t) json_integer_value (count);
    int16_t *owner_route = (int16_t *) malloc (partitions * sizeof (int16_t));
    if (!route_of || !owner_route) {
        free (route_of);
        free (owner_route);
        return;
    }
    for (size_t index = 0; index < member_count; index++) {
        const char *endpoint = json_string_value (
            json_object_get (json_array_get (members, index), "client_endpoint"));
        route_of[index] = -1;
        for (size_t route = 0; endpoint && route < self->route_count; route++)
            if (self->routes[route].handle && streq (self->routes[route].endpoint, endpoint))
                route_of[index] = (int16_t) route;
    }
    bool complete = true;
    for (uint32_t partition = 0; partition < partitions; partition++) {
        json_t *owner = json_array_get (owners, partition);
        json_int_t at = json_is_integer (owner) ? json_integer_value (owner) : -1;
        complete &= at >= 0 && (size_t) at < member_count;
        owner_route[partition] = at >= 0 && (size_t) at < member_count ? route_of[at] : -1;
    }
    free (route_of);
    free (self->owner_route);
    self->owner_route = owner_route;
    self->partition_count = partitions;
    self->table_at = zclock_mono ();
    //  A cluster still forming has partitions without owners: ask again soon.
    self->table_stale = !complete;
}

//  Look at a reply before anyone else does: a table answer is installed and
//  consumed (returns true); an UNAVAILABLE answer marks the table stale.
static bool
s_note_reply (zdex_client_t *self, json_t *reply)
{
    json_t *req = json_object_get (reply, "req");
    if (self->table_seq > 0 && json_is_string (req) &&
        strncmp (json_string_value (req), S_TABLE_REQ_PREFIX, strlen (S_TABLE_REQ_PREFIX)) == 0) {
        char current[64];
        snprintf (current, sizeof current, S_TABLE_REQ_PREFIX "%" PRIu64, self->table_seq);
        if (streq (json_string_value (req), current)) {
            self->table_waiting = false;
            s_table_install (self, reply);
        }
        return true;
    }
    if (self->routing && json_is_false (json_object_get (reply, "ok"))) {
        const char *code =
            json_string_value (json_object_get (json_object_get (reply, "error"), "code"));
        if (code && streq (code, "UNAVAILABLE"))
            self->table_stale = true;
    }
    return false;
}

//  The partition of a request, by the rules every member applies (PROTOCOL.md 4.4
//  and 8).  Returns false when the request does not name one (a keyless submit:
//  the receiving member picks a partition it owns; not a partition op).
static bool
s_partition_of (zdex_client_t *self, json_t *request, uint32_t *partition_p)
{
    const char *op = json_string_value (json_object_get (request, "op"));
    if (!op)
        return false;
    if (streq (op, "durable.submit") || streq (op, "durable.execute") ||
        streq (op, "durable.submit_and_retrieve")) {
        json_t *key = json_object_get (request, "key");
        if (!key)
            key = json_object_get (request, "idempotency_key");
        if (!json_is_string (key))
            return false;
        *partition_p = zdex_hash_fnv1a (json_string_value (key), json_string_length (key)) %
                       self->partition_count;
        return true;
    }
    if (streq (op, "durable.retrieve") || streq (op, "durable.retrieve_and_dispose") ||
        streq (op, "durable.dispose")) {
        json_t *task_id = json_object_get (request, "task_id");
        if (!json_is_integer (task_id) || json_integer_value (task_id) < 0)
            return false;
        uint64_t partition = (uint64_t) json_integer_value (task_id) >> 32;
        if (partition >= self->partition_count)
            return false;
        *partition_p = (uint32_t) partition;
        return true;
    }
    return false;
}

//  The direct DEALER of the request's partition owner, or NULL (use the shared one).
static void *
s_direct_handle (zdex_client_t *self, json_t *request)
{
    if (!self->routing)
        return NULL;
    s_table_ask (self);
    uint32_t partition;
    if (self->partition_count == 0 || !s_partition_of (self, request, &partition))
        return NULL;
    int16_t route = self->owner_route[partition];
    return route >= 0 ? self->routes[route].handle : NULL;
}

//  Encode and queue one request, waiting for room in the send queue until deadline.
//  request is borrowed.  Returns 0, or -1 with the error recorded.
static int
s_send (zdex_client_t *self, json_t *request, int64_t deadline)
{
    char *text = json_dumps (request, JSON_COMPACT);
    if (!text) {
        s_error_set (self, ZDEX_CLIENT_IO, NULL, "cannot encode request");
        return -1;
    }
    size_t size = strlen (text);
    int rc = -1;
    void *direct = s_direct_handle (self, request);
    if (direct) {
        if (zmq_send (direct, text, size, ZMQ_DONTWAIT) >= 0) {
            free (text);
            return 0;
        }
        //  No connection to the owner (it died, or is not up yet) or its queue is
        //  full: the shared DEALER takes it, and the table is asked for again.
        self->table_stale = true;
    }
    while (true) {
        if (zsys_interrupted) {
            s_error_set (self, ZDEX_CLIENT_IO, NULL, "interrupted");
            break;
        }
        if (zmq_send (self->handle, text, size, ZMQ_DONTWAIT) >= 0) {
            rc = 0;
            break;
        }
        if (errno != EAGAIN && errno != EINTR) {
            s_error_set (self, ZDEX_CLIENT_IO, NULL, "send failed: %s", zmq_strerror (errno));
            break;
        }
        long slice = s_slice (deadline);
        if (slice == 0) {
            s_error_set (self, ZDEX_CLIENT_TIMEOUT, NULL, "send queue full");
            break;
        }
        zmq_pollitem_t item = {self->handle, 0, ZMQ_POLLOUT, 0};
        if (zmq_poll (&item, 1, slice) < 0 && errno != EINTR) {
            s_error_set (self, ZDEX_CLIENT_IO, NULL, "poll failed: %s", zmq_strerror (errno));
            break;
        }
    }
    free (text);
    return rc;
}

//  Read one message from handle without waiting and parse its last frame.  Returns
//  1 with *reply_p set (NULL when it was not a JSON object), 0 when none is
//  waiting, -1 on a socket error (errno set).
static int
s_read (void *handle, json_t **reply_p)
{
    zmq_msg_t msg;
    zmq_msg_init (&msg);
    if (zmq_msg_recv (&msg, handle, ZMQ_DONTWAIT) < 0) {
        int error = errno;
        zmq_msg_close (&msg);
        errno = error;
        return error == EAGAIN || error == EINTR ? 0 : -1;
    }
    //  A reply is one frame; should more come, the last one is the body.
    while (zmq_msg_more (&msg)) {
        zmq_msg_close (&msg);
        zmq_msg_init (&msg);
        if (zmq_msg_recv (&msg, handle, 0) < 0)
            break;
    }
    json_error_t error;
    json_t *reply =
        zdex_json_load ((const char *) zmq_msg_data (&msg), zmq_msg_size (&msg), &error);
    zmq_msg_close (&msg);
    if (!json_is_object (reply)) {
        json_decref (reply);
        reply = NULL;
    }
    *reply_p = reply;
    return 1;
}

//  Receive the next well-formed reply from the sockets (not the stash), waiting
//  until deadline.  Frames that are not a JSON object, and table answers, are
//  dropped.  The shared DEALER and the direct ones are read in turn.
static s_recv_status_t
s_recv_one (zdex_client_t *self, int64_t deadline, json_t **reply_p)
{
    zmq_pollitem_t items[1 + S_MAX_ROUTES];
    while (true) {
        if (zsys_interrupted) {
            s_error_set (self, ZDEX_CLIENT_IO, NULL, "interrupted");
            return S_RECV_FAILED;
        }
        size_t count = 0;
        items[count++] = (zmq_pollitem_t){self->handle, 0, ZMQ_POLLIN, 0};
        for (size_t route = 0; self->routing && route < self->route_count; route++)
            if (self->routes[route].handle)
                items[count++] = (zmq_pollitem_t){self->routes[route].handle, 0, ZMQ_POLLIN, 0};
        bool got = false;
        for (size_t turn = 0; turn < count && !got; turn++) {
            size_t at = (self->next_poll + turn) % count;
            json_t *reply = NULL;
            int rc = s_read (items[at].socket, &reply);
            if (rc < 0) {
                s_error_set (self, ZDEX_CLIENT_IO, NULL, "receive failed: %s",
                             zmq_strerror (errno));
                return S_RECV_FAILED;
            }
            if (rc == 0)
                continue;
            self->next_poll = (at + 1) % count;
            got = true;
            if (!reply || s_note_reply (self, reply)) {
                json_decref (reply);
                continue;
            }
            *reply_p = reply;
            return S_RECV_OK;
        }
        if (got)
            continue;
        long slice = s_slice (deadline);
        if (slice == 0)
            return S_RECV_TIMEOUT;
        if (zmq_poll (items, (int) count, slice) < 0 && errno != EINTR) {
            s_error_set (self, ZDEX_CLIENT_IO, NULL, "poll failed: %s", zmq_strerror (errno));
            return S_RECV_FAILED;
        }
    }
}

//  True for the req of a synchronous call (ours, negative).
static bool
s_is_sync_req (json_t *req)
{
    return json_is_integer (req) && json_integer_value (req) < 0;
}

//  Wait until deadline for the reply whose "req" equals req, stashing replies to
//  pipelined requests.  Returns the reply (caller owns) or NULL, error recorded.
static json_t *
s_wait_reply (zdex_client_t *self, json_t *req, int64_t deadline, int64_t wait_ms)
{
    while (true) {
        json_t *reply = NULL;
        s_recv_status_t status = s_recv_one (self, deadline, &reply);
        if (status == S_RECV_TIMEOUT) {
            self->table_stale = true; //  perhaps the member it went to died
            s_error_set (self, ZDEX_CLIENT_TIMEOUT, NULL, "no reply within %" PRId64 " ms",
                         wait_ms);
            return NULL;
        }
        if (status != S_RECV_OK)
            return NULL;
        json_t *reply_req = json_object_get (reply, "req");
        if (reply_req && json_equal (reply_req, req))
            return reply;
        if (!reply_req && self->outstanding == zlistx_size (self->stash))
            //  A reply without req answers a frame the member could not parse; with
            //  no pipelined reply still due, it can only be ours.
            return reply;
        if (s_is_sync_req (reply_req))
            json_decref (reply); //  late reply to an abandoned call
        else
            zlistx_add_end (self->stash, reply);
    }
}

//  Send request (borrowed; its "req" is req) and wait wait_ms for the reply.
static json_t *
s_exchange (zdex_client_t *self, json_t *request, json_t *req, int64_t wait_ms)
{
    int64_t deadline = s_deadline (wait_ms);
    if (s_send (self, request, deadline))
        return NULL;
    return s_wait_reply (self, req, deadline, wait_ms);
}

//  Record the error of an ok:false (or malformed) reply.  Returns 0 when ok.
static int
s_check_reply (zdex_client_t *self, json_t *reply)
{
    json_t *ok = json_object_get (reply, "ok");
    if (json_is_true (ok))
        return 0;
    json_t *error = json_object_get (reply, "error");
    const char *code = json_string_value (json_object_get (error, "code"));
    const char *message = json_string_value (json_object_get (error, "message"));
    if (!json_is_false (ok) || !code)
        s_error_set (self, ZDEX_CLIENT_IO, NULL, "malformed reply");
    else
        s_error_set (self, code, json_object_get (error, "cause"), "%s", message ? message : "");
    return -1;
}

//  Run one synchronous op: takes ownership of request (NULL: allocation or argument
//  failure already recorded), adds a sync req, returns the ok reply (caller owns) or
//  NULL with the error recorded.
//  True when an ok:false reply says UNAVAILABLE and request may be sent again:
//  anything whose second copy cannot do harm if the first one landed (see
//  ZDEX_CLIENT_RETRY_MS).
static bool
s_retryable (json_t *request, json_t *reply)
{
    const char *code =
        json_string_value (json_object_get (json_object_get (reply, "error"), "code"));
    if (!code || !streq (code, "UNAVAILABLE"))
        return false;
    const char *op = json_string_value (json_object_get (request, "op"));
    if (!op)
        return true;
    if (streq (op, "durable.submit") || streq (op, "durable.execute") ||
        streq (op, "durable.submit_and_retrieve"))
        return json_object_get (request, "idempotency_key") != NULL;
    if (strncmp (op, "scheduled.", 10) == 0)
        return streq (op, "scheduled.get") || streq (op, "scheduled.cancel") ||
               streq (op, "scheduled.status") || streq (op, "scheduled.get_all") ||
               streq (op, "scheduled.stats");
    return true;
}

//  Send request and wait for its reply, sending it again (with a new req) while
//  the cluster answers UNAVAILABLE (an owner died, tables are changing), with a
//  growing pause, for at most ZDEX_CLIENT_RETRY_MS.  Returns the last reply.
static json_t *
s_exchange_retrying (zdex_client_t *self, json_t *request, int64_t wait_ms)
{
    int64_t give_up = zclock_mono () + ZDEX_CLIENT_RETRY_MS;
    int pause = 20;
    while (true) {
        json_t *req = json_object_get (request, "req");
        json_t *reply = s_exchange (self, request, req, wait_ms);
        if (!reply || !s_retryable (request, reply) || zclock_mono () + pause > give_up ||
            zsys_interrupted)
            return reply;
        json_decref (reply);
        zmq_poll (NULL, 0, pause); //  back off before asking again
        pause = pause < 500 ? pause * 2 : 500;
        json_object_set_new (request, "req", json_integer (--self->next_sync_req));
    }
}

//  As s_request, but any reply is returned, ok or not (NULL only when none came,
//  with the error recorded): the caller checks it.
static json_t *
s_request_any (zdex_client_t *self, json_t *request)
{
    if (!request)
        return NULL;
    json_t *req = json_integer (--self->next_sync_req);
    json_object_set_new (request, "req", req);
    json_t *reply = s_exchange_retrying (self, request, s_wait_for (self, request));
    json_decref (request);
    return reply;
}

static json_t *
s_request (zdex_client_t *self, json_t *request)
{
    json_t *reply = s_request_any (self, request);
    if (reply && s_check_reply (self, reply)) {
        json_decref (reply);
        reply = NULL;
    }
    return reply;
}

//  Set a string field, failing on invalid UTF-8.  string NULL: field left out.
static int
s_set_string (zdex_client_t *self, json_t *object, const char *field, const char *string)
{
    if (!string)
        return 0;
    if (json_object_set_new (object, field, json_string (string)) == 0)
        return 0;
    s_error_set (self, "BAD_REQUEST", NULL, "%s is not valid UTF-8", field);
    return -1;
}

//  New request {"op":op[,"executor":executor]}, or NULL with the error recorded.
static json_t *
s_new_request (zdex_client_t *self, const char *op, const char *executor)
{
    s_error_clear (self);
    json_t *request = json_object ();
    if (!request || json_object_set_new (request, "op", json_string (op)) ||
        s_set_string (self, request, "executor", executor)) {
        if (!self->error_code[0])
            s_error_set (self, ZDEX_CLIENT_IO, NULL, "out of memory");
        json_decref (request);
        return NULL;
    }
    return request;
}

//  Add "task_id"; ids are JSON integers, so they stop at INT64_MAX.
static json_t *
s_with_task_id (zdex_client_t *self, json_t *request, uint64_t task_id)
{
    if (!request)
        return NULL;
    if (task_id > (uint64_t) INT64_MAX) {
        s_error_set (self, "BAD_REQUEST", NULL, "task_id out of range");
        json_decref (request);
        return NULL;
    }
    json_object_set_new (request, "task_id", json_integer ((json_int_t) task_id));
    return request;
}

static json_t *
s_submit_request (zdex_client_t *self, const char *op, const char *executor, const char *type,
                  json_t *payload, const char *key, const char *idempotency_key)
{
    assert (type);
    json_t *request = s_new_request (self, op, executor);
    if (!request)
        return NULL;
    json_t *task = json_object ();
    json_object_set_new (request, "task", task);
    if (s_set_string (self, task, "type", type) || s_set_string (self, request, "key", key) ||
        s_set_string (self, request, "idempotency_key", idempotency_key)) {
        json_decref (request);
        return NULL;
    }
    if (payload)
        json_object_set (task, "payload", payload);
    return request;
}

//  ---------------------------------------------------------------------------------

zdex_client_t *
zdex_client_new (const char *endpoints)
{
    zdex_client_t *self = (zdex_client_t *) zmalloc (sizeof (zdex_client_t));
    assert (self);
    self->timeout_ms = -1;
    self->stash = zlistx_new ();
    assert (self->stash);
    zlistx_set_destructor (self->stash, s_json_destructor);
    self->dealer = zsock_new (ZMQ_DEALER);
    if (!self->dealer) {
        zdex_client_destroy (&self);
        return NULL;
    }
    self->handle = zsock_resolve (self->dealer);
    zsock_set_linger (self->dealer, S_LINGER_MS);
    zsock_set_immediate (self->dealer, 1);
    zsock_set_sndhwm (self->dealer, S_HWM);
    zsock_set_rcvhwm (self->dealer, S_HWM);

    char *list = strdup (endpoints ? endpoints : ZDEX_CLIENT_DEFAULT_ENDPOINT);
    assert (list);
    int connected = 0;
    int rc = 0;
    char *saveptr = NULL;
    for (char *item = strtok_r (list, ",", &saveptr); item && rc == 0;
         item = strtok_r (NULL, ",", &saveptr)) {
        while (*item == ' ' || *item == '\t')
            item++;
        size_t length = strlen (item);
        while (length > 0 && (item[length - 1] == ' ' || item[length - 1] == '\t'))
            item[--length] = '\0';
        if (length == 0)
            continue;
        rc = zdex_client_connect (self, item);
        connected++;
    }
    free (list);
    if (rc || connected == 0)
        zdex_client_destroy (&self);
    return self;
}

void
zdex_client_destroy (zdex_client_t **self_p)
{
    assert (self_p);
    zdex_client_t *self = *self_p;
    if (!self)
        return;
    zsock_destroy (&self->dealer);
    for (size_t route = 0; route < self->route_count; route++) {
        zsock_destroy (&self->routes[route].dealer);
        free (self->routes[route].endpoint);
    }
    free (self->owner_route);
    zlistx_destroy (&self->stash);
    s_error_clear (self);
    free (self);
    *self_p = NULL;
}

int
zdex_client_connect (zdex_client_t *self, const char *endpoint)
{
    assert (self);
    assert (endpoint);
    if (zsock_connect (self->dealer, "%s", endpoint))
        return -1;
    for (size_t route = 0; route < self->route_count; route++)
        if (streq (self->routes[route].endpoint, endpoint))
            return 0;
    if (self->route_count == S_MAX_ROUTES)
        return 0; //  reached through the shared DEALER only
    s_route_t *route = &self->routes[self->route_count++];
    route->endpoint = strdup (endpoint);
    assert (route->endpoint);
    if (self->route_count == 2) {
        //  A second member: from now on requests may go to their owners directly.
        self->routing = true;
        s_route_open (&self->routes[0]);
    }
    if (self->routing)
        s_route_open (route);
    self->table_stale = true; //  the table's owners may include the new member
    return 0;
}

void
zdex_client_set_timeout (zdex_client_t *self, int64_t timeout_ms)
{
    assert (self);
    self->timeout_ms = timeout_ms < 0 ? -1 : timeout_ms;
}

int64_t
zdex_client_timeout (zdex_client_t *self)
{
    assert (self);
    return self->timeout_ms;
}

int64_t
zdex_client_send (zdex_client_t *self, json_t *request)
{
    assert (self);
    s_error_clear (self);
    if (!json_is_object (request)) {
        json_decref (request);
        s_error_set (self, "BAD_REQUEST", NULL, "request is not a JSON object");
        return -1;
    }
    int64_t req = ++self->next_req;
    json_object_set_new (request, "req", json_integer (req));
    int rc = s_send (self, request, s_deadline (self->timeout_ms));
    json_decref (request);
    if (rc)
        return -1;
    self->outstanding++;
    return req;
}

json_t *
zdex_client_recv (zdex_client_t *self, int timeout_ms)
{
    assert (self);
    s_error_clear (self);
    json_t *reply = (json_t *) zlistx_first (self->stash);
    if (reply) {
        zlistx_detach_cur (self->stash);
    } else {
        int64_t deadline = s_deadline (timeout_ms);
        while (true) {
            if (s_recv_one (self, deadline, &reply) != S_RECV_OK)
                return NULL;
            if (!s_is_sync_req (json_object_get (reply, "req")))
                break;
            json_decref (reply); //  late reply to an abandoned call
        }
    }
    if (self->outstanding > 0)
        self->outstanding--;
    return reply;
}

size_t
zdex_client_outstanding (zdex_client_t *self)
{
    assert (self);
    return self->outstanding;
}

int
zdex_client_submit (zdex_client_t *self, const char *executor, const char *type, json_t *payload,
                    const char *key, const char *idempotency_key, uint64_t *task_id_p)
{
    assert (self);
    json_t *reply = s_request (self, s_submit_request (self, "durable.submit", executor, type,
                                                       payload, key, idempotency_key));
    if (!reply)
        return -1;
    json_t *task_id = json_object_get (reply, "task_id");
    int rc = 0;
    if (!json_is_integer (task_id) || json_integer_value (task_id) < 0) {
        s_error_set (self, ZDEX_CLIENT_IO, NULL, "malformed reply: no task_id");
        rc = -1;
    } else if (task_id_p)
        *task_id_p = (uint64_t) json_integer_value (task_id);
    json_decref (reply);
    return rc;
}

int
zdex_client_execute (zdex_client_t *self, const char *executor, const char *type, json_t *payload,
                     const char *key, const char *idempotency_key)
{
    assert (self);
    json_t *reply = s_request (self, s_submit_request (self, "durable.execute", executor, type,
                                                       payload, key, idempotency_key));
    json_decref (reply);
    return reply ? 0 : -1;
}

int
zdex_client_submit_and_retrieve (zdex_client_t *self, const char *executor, const char *type,
                                 json_t *payload, const char *key, const char *idempotency_key,
                                 int64_t timeout_ms, bool auto_dispose, uint64_t *task_id_p,
                                 json_t **result_p)
{
    assert (self);
    json_t *request = s_submit_request (self, "durable.submit_and_retrieve", executor, type,
                                        payload, key, idempotency_key);
    if (!request)
        return -1;
    if (timeout_ms >= 0)
        json_object_set_new (request, "timeout_ms", json_integer (timeout_ms));
    if (auto_dispose)
        json_object_set_new (request, "auto_dispose", json_true ());
    json_t *reply = s_request_any (self, request);
    if (!reply)
        return -1;
    //  The id comes with failures too (TASK_FAILED, TIMEOUT): the task exists.
    json_t *task_id = json_object_get (reply, "task_id");
    if (task_id_p && json_is_integer (task_id) && json_integer_value (task_id) >= 0)
        *task_id_p = (uint64_t) json_integer_value (task_id);
    int rc = s_check_reply (self, reply);
    if (rc == 0 && result_p) {
        json_t *result = json_object_get (reply, "result");
        *result_p = result ? json_incref (result) : json_null ();
    }
    json_decref (reply);
    return rc;
}

static int
s_retrieve (zdex_client_t *self, const char *op, const char *executor, uint64_t task_id,
            int64_t timeout_ms, json_t **result_p, bool *disposed_p)
{
    json_t *request = s_with_task_id (self, s_new_request (self, op, executor), task_id);
    if (request && timeout_ms >= 0)
        json_object_set_new (request, "timeout_ms", json_integer (timeout_ms));
    json_t *reply = s_request (self, request);
    if (!reply)
        return -1;
    json_t *result = json_object_get (reply, "result");
    if (result_p)
        *result_p = result ? json_incref (result) : json_null ();
    if (disposed_p)
        *disposed_p = json_is_true (json_object_get (reply, "disposed"));
    json_decref (reply);
    return 0;
}

int
zdex_client_retrieve (zdex_client_t *self, const char *executor, uint64_t task_id,
                      int64_t timeout_ms, json_t **result_p, bool *disposed_p)
{
    assert (self);
    return s_retrieve (self, "durable.retrieve", executor, task_id, timeout_ms, result_p,
                       disposed_p);
}

int
zdex_client_retrieve_and_dispose (zdex_client_t *self, const char *executor, uint64_t task_id,
                                  int64_t timeout_ms, json_t **result_p, bool *disposed_p)
{
    assert (self);
    return s_retrieve (self, "durable.retrieve_and_dispose", executor, task_id, timeout_ms,
                       result_p, disposed_p);
}

int
zdex_client_dispose (zdex_client_t *self, const char *executor, uint64_t task_id)
{
    assert (self);
    json_t *reply = s_request (
        self, s_with_task_id (self, s_new_request (self, "durable.dispose", executor), task_id));
    json_decref (reply);
    return reply ? 0 : -1;
}

int
zdex_client_shutdown (zdex_client_t *self, const char *executor)
{
    assert (self);
    json_t *reply = s_request (self, s_new_request (self, "durable.shutdown", executor));
    json_decref (reply);
    return reply ? 0 : -1;
}

int
zdex_client_shutdown_now (zdex_client_t *self, const char *executor, json_t **not_started_p)
{
    assert (self);
    json_t *reply = s_request (self, s_new_request (self, "durable.shutdown_now", executor));
    if (!reply)
        return -1;
    json_t *not_started = json_object_get (reply, "not_started");
    if (not_started_p)
        *not_started_p = json_is_array (not_started) ? json_incref (not_started) : json_array ();
    json_decref (reply);
    return 0;
}

int
zdex_client_status (zdex_client_t *self, const char *executor, bool *shutdown_p, bool *terminated_p)
{
    assert (self);
    json_t *reply = s_request (self, s_new_request (self, "durable.status", executor));
    if (!reply)
        return -1;
    if (shutdown_p)
        *shutdown_p = json_is_true (json_object_get (reply, "shutdown"));
    if (terminated_p)
        *terminated_p = json_is_true (json_object_get (reply, "terminated"));
    json_decref (reply);
    return 0;
}

int
zdex_client_stats (zdex_client_t *self, const char *executor, json_t **stats_p)
{
    assert (self);
    json_t *reply = s_request (self, s_new_request (self, "durable.stats", executor));
    if (!reply)
        return -1;
    if (stats_p)
        *stats_p = reply;
    else
        json_decref (reply);
    return 0;
}

//  New scheduled request {"op":op,"handler":handler}, or NULL with the error
//  recorded.
static json_t *
s_handler_request (zdex_client_t *self, const char *op, const char *handler)
{
    assert (handler);
    json_t *request = s_new_request (self, op, NULL);
    if (request && s_set_string (self, request, "handler", handler)) {
        json_decref (request);
        request = NULL;
    }
    return request;
}

//  New scheduled request {"op":op[,"scheduler":scheduler]}, or NULL with the error
//  recorded.
static json_t *
s_scheduler_request (zdex_client_t *self, const char *op, const char *scheduler)
{
    json_t *request = s_new_request (self, op, NULL);
    if (request && s_set_string (self, request, "scheduler", scheduler)) {
        json_decref (request);
        request = NULL;
    }
    return request;
}

static json_t *
s_schedule_request (zdex_client_t *self, const char *type, json_t *payload,
                    const zdex_schedule_options_t *options)
{
    assert (type);
    static const zdex_schedule_options_t defaults = {0};
    if (!options)
        options = &defaults;
    json_t *request = s_scheduler_request (self, "scheduled.schedule", options->scheduler);
    if (!request)
        return NULL;
    json_t *task = json_object ();
    json_object_set_new (request, "task", task);
    json_object_set_new (request, "delay_ms", json_integer (options->delay_ms));
    if (options->period_ms != 0)
        json_object_set_new (request, "period_ms", json_integer (options->period_ms));
    if (options->auto_dispose)
        json_object_set_new (request, "auto_dispose", json_true ());
    if (options->all_members)
        json_object_set_new (request, "all_members", json_true ());
    if (options->members)
        json_object_set (request, "members", options->members);
    if (payload)
        json_object_set (task, "payload", payload);
    if (s_set_string (self, task, "type", type) ||
        s_set_string (self, request, "name", options->name) ||
        s_set_string (self, request, "key", options->key) ||
        s_set_string (self, request, "member", options->member)) {
        json_decref (request);
        return NULL;
    }
    return request;
}

int
zdex_client_schedule (zdex_client_t *self, const char *type, json_t *payload,
                      const zdex_schedule_options_t *options, char **handler_p, json_t **handlers_p)
{
    assert (self);
    if (handler_p)
        *handler_p = NULL;
    if (handlers_p)
        *handlers_p = NULL;
    json_t *reply = s_request (self, s_schedule_request (self, type, payload, options));
    if (!reply)
        return -1;
    json_t *handler = json_object_get (reply, "handler");
    json_t *handlers = json_object_get (reply, "handlers");
    int rc = 0;
    if (json_is_string (handler) && !handlers) {
        if (handler_p) {
            *handler_p = strdup (json_string_value (handler));
            assert (*handler_p);
        }
    } else if (json_is_object (handlers) && !handler) {
        if (handlers_p)
            *handlers_p = json_incref (handlers);
    } else {
        s_error_set (self, ZDEX_CLIENT_IO, NULL, "malformed reply: no handler or handlers");
        rc = -1;
    }
    json_decref (reply);
    return rc;
}

int
zdex_client_scheduled_get (zdex_client_t *self, const char *handler, int64_t timeout_ms,
                           json_t **result_p)
{
    assert (self);
    json_t *request = s_handler_request (self, "scheduled.get", handler);
    if (request && timeout_ms >= 0)
        json_object_set_new (request, "timeout_ms", json_integer (timeout_ms));
    json_t *reply = s_request (self, request);
    if (!reply)
        return -1;
    if (result_p) {
        json_t *result = json_object_get (reply, "result");
        *result_p = result ? json_incref (result) : json_null ();
    }
    json_decref (reply);
    return 0;
}

int
zdex_client_scheduled_cancel (zdex_client_t *self, const char *handler, bool *cancelled_p)
{
    assert (self);
    json_t *reply = s_request (self, s_handler_request (self, "scheduled.cancel", handler));
    if (!reply)
        return -1;
    if (cancelled_p)
        *cancelled_p = json_is_true (json_object_get (reply, "cancelled"));
    json_decref (reply);
    return 0;
}

int
zdex_client_scheduled_dispose (zdex_client_t *self, const char *handler)
{
    assert (self);
    json_t *reply = s_request (self, s_handler_request (self, "scheduled.dispose", handler));
    json_decref (reply);
    return reply ? 0 : -1;
}

int
zdex_client_scheduled_status (zdex_client_t *self, const char *handler, json_t **status_p)
{
    assert (self);
    json_t *reply = s_request (self, s_handler_request (self, "scheduled.status", handler));
    if (!reply)
        return -1;
    if (status_p)
        *status_p = reply;
    else
        json_decref (reply);
    return 0;
}

int
zdex_client_scheduled_get_all (zdex_client_t *self, const char *scheduler, json_t **members_p)
{
    assert (self);
    json_t *reply = s_request (self, s_scheduler_request (self, "scheduled.get_all", scheduler));
    if (!reply)
        return -1;
    json_t *members = json_object_get (reply, "members");
    int rc = 0;
    if (!json_is_object (members)) {
        s_error_set (self, ZDEX_CLIENT_IO, NULL, "malformed reply: no members");
        rc = -1;
    } else if (members_p)
        *members_p = json_incref (members);
    json_decref (reply);
    return rc;
}

int
zdex_client_scheduled_shutdown (zdex_client_t *self, const char *scheduler)
{
    assert (self);
    json_t *reply = s_request (self, s_scheduler_request (self, "scheduled.shutdown", scheduler));
    json_decref (reply);
    return reply ? 0 : -1;
}

int
zdex_client_scheduled_stats (zdex_client_t *self, const char *scheduler, json_t **stats_p)
{
    assert (self);
    json_t *reply = s_request (self, s_scheduler_request (self, "scheduled.stats", scheduler));
    if (!reply)
        return -1;
    if (stats_p)
        *stats_p = reply;
    else
        json_decref (reply);
    return 0;
}

int
zdex_client_ping (zdex_client_t *self, json_t **reply_p)
{
    assert (self);
    json_t *reply = s_request (self, s_new_request (self, "cluster.ping", NULL));
    if (!reply)
        return -1;
    if (reply_p)
        *reply_p = reply;
    else
        json_decref (reply);
    return 0;
}

json_t *
zdex_client_call (zdex_client_t *self, json_t *request, int64_t timeout_ms)
{
    assert (self);
    s_error_clear (self);
    if (!json_is_object (request)) {
        s_error_set (self, "BAD_REQUEST", NULL, "request is not a JSON object");
        return NULL;
    }
    //  A shallow copy: only the top-level "req" may change.
    json_t *copy = json_copy (request);
    if (!copy) {
        s_error_set (self, ZDEX_CLIENT_IO, NULL, "out of memory");
        return NULL;
    }
    json_t *req = json_object_get (copy, "req");
    json_t *reply;
    if (req) //  the caller's own req: sent once, as it is
        reply =
            s_exchange (self, copy, req, timeout_ms >= 0 ? timeout_ms : s_wait_for (self, copy));
    else {
        json_object_set_new (copy, "req", json_integer (--self->next_sync_req));
        reply = s_exchange_retrying (self, copy,
                                     timeout_ms >= 0 ? timeout_ms : s_wait_for (self, copy));
    }
    json_decref (copy);
    if (reply)
        s_check_reply (self, reply);
    return reply;
}

const char *
zdex_client_error_code (zdex_client_t *self)
{
    assert (self);
    return self->error_code[0] ? self->error_code : NULL;
}

const char *
zdex_client_error_message (zdex_client_t *self)
{
    assert (self);
    return self->error_message;
}

json_t *
zdex_client_error_cause (zdex_client_t *self)
{
    assert (self);
    return self->error_cause;
}
