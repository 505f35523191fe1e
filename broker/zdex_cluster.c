//  zdex_cluster: membership, the partition table, forwarding and fan-out for the
//  broker.
//
//  Sockets: the membership actor's pipe (VIEW / TABLE events), and one DEALER per
//  other member, connected to that member's client endpoint with the identity
//  "zdex-fwd:<our id>", created when first needed and destroyed when the member
//  leaves the view.
//
//  A request sent to a peer carries "req": <pending id>; the peer's answer is
//  matched by it and relayed with the client's own "req".  Pending requests:
//      FORWARD  one client request for a partition the peer owns
//               --answer--> relayed; --peer leaves the view--> UNAVAILABLE
//      FAN-OUT  one share of a member-wide op
//               --answer or peer leaves--> merged; the client is answered when
//               every share is in, or after S_FAN_OUT_MS with what came.

#include "zdex_cluster.h"
#include "zdex_hash.h"
#include "zdex_hash_table.h"
#include "zdex_membership.h"

#include <inttypes.h>

#define S_FAN_OUT_MS 3000 //  Hazelcast's shutdown waits 3 s for the members
#define S_ID_MAX     256

typedef struct {
    char id[S_ID_MAX];
    zsock_t *dealer;
} s_peer_t;

typedef struct {
    zmsg_t *envelope;
    char *req_text;
    zdex_op_t op;
    json_t *reply; //  merged so far
    json_t *error; //  the first member's error (scheduled.schedule answers it)
    size_t waiting;
    int64_t deadline;
} s_fan_out_t;

typedef struct {
    uint64_t id;
    char peer[S_ID_MAX];
    zmsg_t *envelope;     //  FORWARD
    char *req_text;       //  FORWARD
    s_fan_out_t *fan_out; //  FAN-OUT share (not owned)
} s_pending_t;

struct _zdex_cluster_t {
    char member_id[S_ID_MAX];
    char endpoint[S_ID_MAX];
    size_t max_pending;
    zsock_t *client;
    zdex_waitset_t *waitset; //  the broker's (may be NULL)
    zactor_t *membership;
    zdex_partition_table_t *table;
    char *table_text;
    char *view_text;
    json_t *view;
    zhashx_t *peers;   //  id → s_peer_t
    zhashx_t *pending; //  decimal id → s_pending_t
    bool drained;      //  membership finished a graceful leave
    uint32_t *owned;   //  the partitions we own, from the installed table
    uint32_t owned_count;
    zlistx_t *fan_outs;
    uint64_t next_id;
    uint64_t forwarded; //  requests sent on to their partition's owner, since start
    zdex_cluster_table_fn *on_table;
    void *on_table_arg;
    bool verbose;
    //  The lease on our partitions: the view had view_size members when we last
    //  heard from one of the others (heard_at); past lease_ms of silence a
    //  member may have been removed without knowing it (see zdex_cluster_not_ready).
    size_t view_size;
    int64_t heard_at;
    int64_t lease_ms;
    //  The last view left us out (we were removed and are rejoining), or did
    //  and no table came since: ours is from a life in the cluster that ended.
    bool rejoining;
    uint32_t cluster_tag; //  FNV-1a of the cluster name (zdex_hash_routing_id)
    char forward_tag[32]; //  how our forwarders' routing ids start: prefix and tag
};

//  The string value of a JSON value, or "" if it is not a string.
static const char *
s_string (json_t *value)
{
    const char *string = json_string_value (value);
    return string ? string : "";
}

static void
s_peer_destroy (void **item_p)
{
    s_peer_t *peer = (s_peer_t *) *item_p;
    if (peer) {
        zsock_destroy (&peer->dealer);
        free (peer);
        *item_p = NULL;
    }
}

static void
s_pending_destroy (void **item_p)
{
    s_pending_t *pending = (s_pending_t *) *item_p;
    if (pending) {
        zmsg_destroy (&pending->envelope);
        free (pending->req_text);
        free (pending);
        *item_p = NULL;
    }
}

static void
s_fan_out_destroy (void **item_p)
{
    s_fan_out_t *fan_out = (s_fan_out_t *) *item_p;
    if (fan_out) {
        zmsg_destroy (&fan_out->envelope);
        free (fan_out->req_text);
        json_decref (fan_out->reply);
        json_decref (fan_out->error);
        free (fan_out);
        *item_p = NULL;
    }
}

//  Send a reply frame to the client behind envelope (taken).
static void
s_reply (zdex_cluster_t *self, zmsg_t **envelope_p, zframe_t *frame)
{
    zmsg_t *msg = *envelope_p;
    *envelope_p = NULL;
    zmsg_append (msg, &frame);
    zmsg_send (&msg, self->client);
    zdex_waitset_touch (self->waitset, self->client);
}

//  Reply {"req":..,"ok":true, <members of object>}; object is borrowed.
static void
s_reply_object (zdex_cluster_t *self, zmsg_t **envelope_p, const char *req_text, json_t *object)
{
    s_reply (self, envelope_p, zdex_reply_object (req_text, object));
}

static void
s_install_view (zdex_cluster_t *self, const char *text)
{
    json_t *view = json_loads (text, JSON_REJECT_DUPLICATES, NULL);
    if (!json_is_array (json_object_get (view, "members"))) {
        json_decref (view);
        return;
    }
    json_decref (self->view);
    self->view = view;
    size_t was = self->view_size;
    self->view_size = json_array_size (json_object_get (view, "members"));
    if (was <= 1 && self->view_size > 1)
        self->heard_at = zclock_mono (); //  a join, not silence: no lease was needed
    bool listed = false;
    size_t index;
    json_t *member;
    json_array_foreach (json_object_get (view, "members"), index, member)
        listed |= streq (s_string (json_object_get (member, "id")), self->member_id);
    if (!listed)
        self->rejoining = true;
    free (self->view_text);
    self->view_text = strdup (text);
    if (self->on_table)
        self->on_table (self->table_text, self->view_text, self->on_table_arg);
    //  Peers that left: their forwarded requests can no longer be answered.
    zlist_t *gone = zlist_new ();
    zlist_autofree (gone);
    s_peer_t *peer = (s_peer_t *) zhashx_first (self->peers);
    while (peer) {
        bool present = false;
        size_t index;
        json_t *member;
        json_array_foreach (json_object_get (view, "members"), index, member)
            present |= streq (s_string (json_object_get (member, "id")), peer->id);
        if (!present)
            zlist_append (gone, peer->id);
        peer = (s_peer_t *) zhashx_next (self->peers);
    }
    const char *id = (const char *) zlist_first (gone);
    while (id) {
        zlist_t *keys = zlist_new ();
        zlist_autofree (keys);
        s_pending_t *pending = (s_pending_t *) zhashx_first (self->pending);
        while (pending) {
            if (streq (pending->peer, id))
                zlist_append (keys, (void *) zhashx_cursor (self->pending));
            pending = (s_pending_t *) zhashx_next (self->pending);
        }
        const char *key = (const char *) zlist_first (keys);
        while (key) {
            pending = (s_pending_t *) zhashx_lookup (self->pending, key);
            if (pending->fan_out)
                pending->fan_out->waiting--;
            else
                s_reply (self, &pending->envelope,
                         zdex_reply_error (pending->req_text, ZDEX_UNAVAILABLE,
                                           "the owner left the cluster; retry", NULL));
            zhashx_delete (self->pending, key);
            key = (const char *) zlist_next (keys);
        }
        zlist_destroy (&keys);
        zhashx_delete (self->peers, id);
        id = (const char *) zlist_next (gone);
    }
    zlist_destroy (&gone);
    zdex_cluster_tick (self); //  fan-outs that lost their last share
}

static void
s_install_table (zdex_cluster_t *self, const char *text)
{
    if (zdex_partition_table_from_json (self->table, text) != 0)
        return;
    self->owned_count = 0;
    for (uint32_t p = 0; p < zdex_partition_table_partition_count (self->table); p++) {
        const char *owner = zdex_partition_table_owner (self->table, p);
        if (owner && streq (owner, self->member_id))
            self->owned[self->owned_count++] = p;
    }
    size_t under = zdex_partition_table_underreplicated (self->table);
    if (under > 0)
        zsys_warning ("member %s: %zu partition(s) have fewer backups than configured "
                      "(table version %" PRIu64 ")",
                      self->member_id, under, zdex_partition_table_version (self->table));
    free (self->table_text);
    self->table_text = strdup (text);
    self->rejoining = false;
    if (self->on_table)
        self->on_table (self->table_text, self->view_text ? self->view_text : "{}",
                        self->on_table_arg);
}

static bool
s_on_membership (zdex_cluster_t *self)
{
    zmsg_t *msg = zmsg_recv (self->membership);
    if (!msg)
        return false;
    char *type = zmsg_popstr (msg);
    char *body = zmsg_popstr (msg);
    if (type && body && streq (type, "VIEW"))
        s_install_view (self, body);
    else if (type && body && streq (type, "TABLE"))
        s_install_table (self, body);
    else if (type && streq (type, "DRAINED"))
        self->drained = true;
    else if (type && body && streq (type, "HEARD")) {
        //  When the membership actor heard a member, not when we read it.
        int64_t at = strtoll (body, NULL, 10);
        if (at > self->heard_at)
            self->heard_at = at;
    } else if (type && body && (streq (type, "ENDPOINT") || streq (type, "ERROR")))
        snprintf (self->endpoint, sizeof self->endpoint, "%s%s", streq (type, "ERROR") ? "!" : "",
                  body);
    zstr_free (&type);
    zstr_free (&body);
    zmsg_destroy (&msg);
    return true;
}

zdex_cluster_t *
zdex_cluster_new (const zdex_cluster_args_t *args, zdex_cluster_table_fn *on_table, void *arg,
                  char *error, size_t error_size)
{
    assert (args && args->client);
    zdex_cluster_t *self = (zdex_cluster_t *) zmalloc (sizeof (zdex_cluster_t));
    assert (self);
    snprintf (self->member_id, sizeof self->member_id, "%s", args->member_id);
    self->client = args->client;
    self->waitset = args->waitset;
    self->max_pending = args->max_pending;
    self->on_table = on_table;
    self->on_table_arg = arg;
    self->verbose = args->verbose;
    const char *cluster_name = args->cluster_name ? args->cluster_name : "zdex";
    self->cluster_tag = zdex_hash_fnv1a (cluster_name, strlen (cluster_name));
    zdex_hash_routing_id (self->forward_tag, ZDEX_CLUSTER_FORWARD_PREFIX, self->cluster_tag, "",
                          "");
    self->forward_tag[strlen (self->forward_tag) - 1] = '\0'; //  the ':' before the id
    //  The master removes us timeout_ms after our last heartbeat reached it, and
    //  we sent that heartbeat at most a heartbeat before we last heard anyone
    //  (we send one every heartbeat_ms): the lease ends before that, so a process
    //  paused just after it heard the others is not still answering when it is
    //  removed.  The price: a survivor of a 2-member cluster refuses for about a
    //  heartbeat before it drops its dead peer.
    int timeout_ms = args->timeout_ms > 0 ? args->timeout_ms : ZDEX_MEMBERSHIP_TIMEOUT_MS;
    int heartbeat_ms = args->heartbeat_ms > 0 ? args->heartbeat_ms : ZDEX_MEMBERSHIP_HEARTBEAT_MS;
    self->lease_ms = timeout_ms - heartbeat_ms - heartbeat_ms / 10;
    if (self->lease_ms < 2 * heartbeat_ms)
        self->lease_ms = 2 * heartbeat_ms; //  a timeout this close to the heartbeat: best effort
    self->table = zdex_partition_table_new (args->partition_count, args->max_backups);
    self->owned = (uint32_t *) calloc (args->partition_count, sizeof (uint32_t));
    assert (self->owned);
    self->peers = zdex_hash_table_new ();
    self->pending = zdex_hash_table_new ();
    self->fan_outs = zlistx_new ();
    assert (self->table && self->peers && self->pending && self->fan_outs);
    zhashx_set_destructor (self->peers, s_peer_destroy);
    zhashx_set_destructor (self->pending, s_pending_destroy);
    zlistx_set_destructor (self->fan_outs, s_fan_out_destroy);

    const char *seeds[64];
    size_t seed_count = 0;
    const char *seed = (const char *) zlist_first (args->seeds);
    while (seed && seed_count < 64) {
        seeds[seed_count++] = seed;
        seed = (const char *) zlist_next (args->seeds);
    }
    zdex_membership_args_t membership = {
        .member_id = args->member_id,
        .cluster_name = args->cluster_name,
        .cluster_endpoint = args->cluster_endpoint,
        .client_endpoint = args->client_endpoint,
        .worker_endpoint = args->worker_endpoint,
        .replication_endpoint = args->replication_endpoint,
        .seeds = seeds,
        .seed_count = seed_count,
        .heartbeat_ms = args->heartbeat_ms,
        .timeout_ms = args->timeout_ms,
        .partition_count = args->partition_count,
        .max_backups = args->max_backups,
        .verbose = args->verbose,
        //  Primaries move by promotion of a backup (which holds the data), or by
        //  moves that copy the data first (rebalance).
        .hold_primaries = true,
        .rebalance = args->rebalance,
    };
    self->membership = zdex_membership_new (&membership);
    assert (self->membership);
    zstr_send (self->membership, "ENDPOINT");
    //  Events may come before the answer; handle them as they come.
    while (!self->endpoint[0])
        if (!s_on_membership (self))
            break;
    if (!self->endpoint[0] || self->endpoint[0] == '!') {
        snprintf (error, error_size, "cluster: %s",
                  self->endpoint[0] ? self->endpoint + 1 : "membership did not start");
        zdex_cluster_destroy (&self);
        return NULL;
    }
    zsock_set_rcvtimeo (zactor_sock (self->membership), 0);
    return self;
}

void
zdex_cluster_destroy (zdex_cluster_t **self_p)
{
    assert (self_p);
    zdex_cluster_t *self = *self_p;
    if (self) {
        zactor_destroy (&self->membership);
        s_pending_t *pending = (s_pending_t *) zhashx_first (self->pending);
        while (pending) {
            if (!pending->fan_out)
                s_reply (self, &pending->envelope,
                         zdex_reply_error (pending->req_text, ZDEX_UNAVAILABLE,
                                           "member stopping; retry", NULL));
            pending = (s_pending_t *) zhashx_next (self->pending);
        }
        zhashx_destroy (&self->pending);
        zlistx_destroy (&self->fan_outs);
        zhashx_destroy (&self->peers);
        zdex_partition_table_destroy (&self->table);
        free (self->owned);
        json_decref (self->view);
        free (self->table_text);
        free (self->view_text);
        free (self);
        *self_p = NULL;
    }
}

const char *
zdex_cluster_endpoint (zdex_cluster_t *self)
{
    assert (self);
    return self->endpoint;
}

//  The peer's DEALER, created on first use; NULL when the member is not in view.
static s_peer_t *
s_peer (zdex_cluster_t *self, const char *id)
{
    s_peer_t *peer = (s_peer_t *) zhashx_lookup (self->peers, id);
    if (peer)
        return peer;
    const char *endpoint = NULL;
    size_t index;
    json_t *member;
    json_array_foreach (json_object_get (self->view, "members"), index, member)
        if (streq (s_string (json_object_get (member, "id")), id))
            endpoint = json_string_value (json_object_get (member, "client"));
    if (!endpoint)
        return NULL;
    peer = (s_peer_t *) zmalloc (sizeof (s_peer_t));
    assert (peer);
    snprintf (peer->id, sizeof peer->id, "%s", id);
    peer->dealer = zsock_new (ZMQ_DEALER);
    assert (peer->dealer);
    char identity[256];
    zdex_hash_routing_id (identity, ZDEX_CLUSTER_FORWARD_PREFIX, self->cluster_tag, self->member_id,
                          "");
    zsock_set_identity (peer->dealer, identity);
    zsock_set_sndhwm (peer->dealer, 100000);
    zsock_set_rcvhwm (peer->dealer, 100000);
    zsock_set_rcvtimeo (peer->dealer, 0);
    zsock_set_sndtimeo (peer->dealer, 0);
    zsock_set_linger (peer->dealer, 0);
    if (zsock_connect (peer->dealer, "%s", endpoint) != 0) {
        zsock_destroy (&peer->dealer);
        free (peer);
        return NULL;
    }
    zhashx_insert (self->peers, id, peer);
    return peer;
}

//  Send request (its "req" set to a new pending id) to a peer.  Returns the
//  pending record (owned by self->pending) or NULL.
static s_pending_t *
s_send_to_peer (zdex_cluster_t *self, const char *peer_id, zdex_request_t *request)
{
    if (zhashx_size (self->pending) >= self->max_pending)
        return NULL;
    s_peer_t *peer = s_peer (self, peer_id);
    if (!peer)
        return NULL;
    json_t *root = zdex_request_root (request);
    if (!root)
        return NULL;
    uint64_t id = ++self->next_id;
    json_object_set_new (root, "req", json_integer ((json_int_t) id));
    char *text = zdex_json_text (root);
    zdex_waitset_touch (self->waitset, peer->dealer);
    if (!text || zstr_send (peer->dealer, text) != 0) {
        free (text);
        return NULL;
    }
    free (text);
    s_pending_t *pending = (s_pending_t *) zmalloc (sizeof (s_pending_t));
    assert (pending);
    pending->id = id;
    snprintf (pending->peer, sizeof pending->peer, "%s", peer_id);
    char key[24];
    snprintf (key, sizeof key, "%" PRIu64, id);
    zhashx_insert (self->pending, key, pending);
    return pending;
}

void
zdex_cluster_forward (zdex_cluster_t *self, uint32_t partition, zmsg_t **envelope_p,
                      zdex_request_t *request)
{
    assert (self);
    const char *owner = zdex_partition_table_owner (self->table, partition);
    s_pending_t *pending = owner ? s_send_to_peer (self, owner, request) : NULL;
    if (!pending) {
        s_reply (self, envelope_p,
                 zdex_reply_error (request->req_text, ZDEX_UNAVAILABLE,
                                   "the partition's owner cannot be reached; retry", NULL));
        return;
    }
    pending->envelope = *envelope_p;
    *envelope_p = NULL;
    pending->req_text = request->req_text;
    request->req_text = NULL;
    self->forwarded++;
}

//  The code of a wire string (an unknown one: UNAVAILABLE, which clients retry).
static zdex_code_t
s_code_parse (const char *text)
{
    for (int code = ZDEX_BAD_REQUEST; text && code <= ZDEX_UNAVAILABLE; code++)
        if (streq (zdex_code_str ((zdex_code_t) code), text))
            return (zdex_code_t) code;
    return ZDEX_UNAVAILABLE;
}

static void
s_fan_out_finish (zdex_cluster_t *self, s_fan_out_t *fan_out)
{
    if (fan_out->error) {
        json_t *error = fan_out->error;
        s_reply (self, &fan_out->envelope,
                 zdex_reply_error (fan_out->req_text,
                                   s_code_parse (s_string (json_object_get (error, "code"))),
                                   s_string (json_object_get (error, "message")), NULL));
    } else
        s_reply_object (self, &fan_out->envelope, fan_out->req_text, fan_out->reply);
    void *handle = zlistx_find (self->fan_outs, fan_out);
    assert (handle);
    zlistx_delete (self->fan_outs, handle);
}

bool
zdex_cluster_has_member (zdex_cluster_t *self, const char *id)
{
    assert (self);
    size_t index;
    json_t *member;
    json_array_foreach (json_object_get (self->view, "members"), index, member)
        if (streq (s_string (json_object_get (member, "id")), id))
            return true;
    return false;
}

void
zdex_cluster_forward_to (zdex_cluster_t *self, const char *member_id, zmsg_t **envelope_p,
                         zdex_request_t *request)
{
    assert (self);
    s_pending_t *pending = s_send_to_peer (self, member_id, request);
    if (!pending) {
        s_reply (self, envelope_p,
                 zdex_reply_error (request->req_text, ZDEX_UNAVAILABLE,
                                   "the member cannot be reached; retry", NULL));
        return;
    }
    pending->envelope = *envelope_p;
    *envelope_p = NULL;
    pending->req_text = request->req_text;
    request->req_text = NULL;
}

void
zdex_cluster_fan_out (zdex_cluster_t *self, zmsg_t **envelope_p, zdex_request_t *request,
                      json_t *local_reply)
{
    zdex_cluster_fan_out_to (self, envelope_p, request, local_reply, NULL);
}

void
zdex_cluster_fan_out_to (zdex_cluster_t *self, zmsg_t **envelope_p, zdex_request_t *request,
                         json_t *local_reply, json_t *targets)
{
    assert (self);
    s_fan_out_t *fan_out = (s_fan_out_t *) zmalloc (sizeof (s_fan_out_t));
    assert (fan_out);
    fan_out->envelope = *envelope_p;
    *envelope_p = NULL;
    fan_out->req_text = request->req_text;
    request->req_text = NULL;
    fan_out->op = request->op;
    fan_out->reply = local_reply;
    fan_out->deadline = zclock_mono () + S_FAN_OUT_MS;
    zlistx_add_end (self->fan_outs, fan_out);
    size_t index;
    json_t *member;
    json_array_foreach (targets ? targets : json_object_get (self->view, "members"), index,
                        member) {
        const char *id = targets ? json_string_value (member)
                                 : json_string_value (json_object_get (member, "id"));
        if (!id || (!targets && streq (id, self->member_id)))
            continue;
        s_pending_t *pending = s_send_to_peer (self, id, request);
        if (pending) {
            pending->fan_out = fan_out;
            fan_out->waiting++;
        }
    }
    if (fan_out->waiting == 0)
        s_fan_out_finish (self, fan_out);
}

//  Merge one member's answer to a fan-out.
static void
s_fan_out_merge (s_fan_out_t *fan_out, json_t *answer)
{
    if (!json_is_true (json_object_get (answer, "ok"))) {
        json_t *error = json_object_get (answer, "error");
        if (fan_out->op == ZDEX_OP_SCHEDULED_SCHEDULE && !fan_out->error && json_is_object (error))
            fan_out->error = json_incref (error);
        return;
    }
    //  Every member answers with the same shape: objects (stats, get_all's members,
    //  handlers) are merged by key, arrays (not_started) joined.
    const char *key;
    json_t *mine;
    json_object_foreach (fan_out->reply, key, mine) {
        json_t *theirs = json_object_get (answer, key);
        if (json_is_object (mine) && json_is_object (theirs))
            json_object_update (mine, theirs);
        else if (json_is_array (mine) && json_is_array (theirs))
            json_array_extend (mine, theirs);
    }
}

static bool
s_on_peer (zdex_cluster_t *self, s_peer_t *peer)
{
    zframe_t *frame = zframe_recv (peer->dealer);
    if (!frame)
        return false;
    json_t *answer = zdex_json_load ((const char *) zframe_data (frame), zframe_size (frame), NULL);
    zframe_destroy (&frame);
    json_t *req = json_object_get (answer, "req");
    char key[24];
    snprintf (key, sizeof key, "%" JSON_INTEGER_FORMAT, json_integer_value (req));
    s_pending_t *pending =
        json_is_integer (req) ? (s_pending_t *) zhashx_lookup (self->pending, key) : NULL;
    if (pending && streq (pending->peer, peer->id)) {
        if (pending->fan_out) {
            s_fan_out_t *fan_out = pending->fan_out;
            s_fan_out_merge (fan_out, answer);
            fan_out->waiting--;
            zhashx_delete (self->pending, key);
            if (fan_out->waiting == 0)
                s_fan_out_finish (self, fan_out);
        } else {
            //  Relay with the client's own req.
            json_object_del (answer, "req");
            if (pending->req_text)
                json_object_set_new (answer, "req",
                                     json_loads (pending->req_text, JSON_DECODE_ANY, NULL));
            char *text = zdex_json_text (answer);
            s_reply (self, &pending->envelope, zframe_new (text, text ? strlen (text) : 0));
            free (text);
            zhashx_delete (self->pending, key);
        }
    }
    json_decref (answer);
    return true;
}

void
zdex_cluster_recv (zdex_cluster_t *self)
{
    assert (self);
    int limit = zdex_waitset_ready (self->waitset, self->membership) ? 256 : 0;
    for (int count = 0; count < limit; count++)
        if (!s_on_membership (self)) {
            zdex_waitset_drained (self->waitset, self->membership);
            break;
        }
    s_peer_t *peer = (s_peer_t *) zhashx_first (self->peers);
    while (peer) {
        limit = zdex_waitset_ready (self->waitset, peer->dealer) ? 256 : 0;
        for (int count = 0; count < limit; count++)
            if (!s_on_peer (self, peer)) {
                zdex_waitset_drained (self->waitset, peer->dealer);
                break;
            }
        peer = (s_peer_t *) zhashx_next (self->peers);
    }
}

size_t
zdex_cluster_sockets (zdex_cluster_t *self, void **sockets, size_t max)
{
    assert (self);
    size_t count = 0;
    if (count < max)
        sockets[count++] = self->membership;
    s_peer_t *peer = (s_peer_t *) zhashx_first (self->peers);
    while (peer && count < max) {
        sockets[count++] = peer->dealer;
        peer = (s_peer_t *) zhashx_next (self->peers);
    }
    return count;
}

int
zdex_cluster_timeout (zdex_cluster_t *self)
{
    assert (self);
    s_fan_out_t *fan_out = (s_fan_out_t *) zlistx_first (self->fan_outs);
    if (!fan_out)
        return -1;
    int64_t left = fan_out->deadline - zclock_mono ();
    return left < 0 ? 0 : (int) left;
}

void
zdex_cluster_tick (zdex_cluster_t *self)
{
    assert (self);
    int64_t now = zclock_mono ();
    s_fan_out_t *fan_out = (s_fan_out_t *) zlistx_first (self->fan_outs);
    while (fan_out && (fan_out->waiting == 0 || fan_out->deadline <= now)) {
        //  Shares still out are dropped with the fan-out.
        zlist_t *keys = zlist_new ();
        zlist_autofree (keys);
        s_pending_t *pending = (s_pending_t *) zhashx_first (self->pending);
        while (pending) {
            if (pending->fan_out == fan_out)
                zlist_append (keys, (void *) zhashx_cursor (self->pending));
            pending = (s_pending_t *) zhashx_next (self->pending);
        }
        const char *key = (const char *) zlist_first (keys);
        while (key) {
            zhashx_delete (self->pending, key);
            key = (const char *) zlist_next (keys);
        }
        zlist_destroy (&keys);
        s_fan_out_finish (self, fan_out);
        fan_out = (s_fan_out_t *) zlistx_first (self->fan_outs);
    }
}

const char *
zdex_cluster_not_ready (zdex_cluster_t *self)
{
    assert (self);
    if (zdex_partition_table_version (self->table) == 0)
        return "the cluster is forming; retry";
    if (self->rejoining)
        return "this member was removed from the cluster and is rejoining; retry";
    if (self->view_size > 1 && zclock_mono () - self->heard_at > self->lease_ms)
        return "this member has not heard from the cluster lately; retry";
    return NULL;
}

bool
zdex_cluster_owns (zdex_cluster_t *self, uint32_t partition)
{
    assert (self);
    const char *owner = zdex_partition_table_owner (self->table, partition);
    return owner && streq (owner, self->member_id);
}

int
zdex_cluster_forwarder (zdex_cluster_t *self, zframe_t *identity)
{
    assert (self);
    size_t prefix = strlen (ZDEX_CLUSTER_FORWARD_PREFIX);
    if (zframe_size (identity) <= prefix ||
        memcmp (zframe_data (identity), ZDEX_CLUSTER_FORWARD_PREFIX, prefix) != 0)
        return 0;
    //  Ours: our prefix and tag, then ':' and an id or '#' and its hash.
    size_t tag = strlen (self->forward_tag);
    const byte *data = zframe_data (identity);
    return zframe_size (identity) > tag + 1 && memcmp (data, self->forward_tag, tag) == 0 &&
                   (data[tag] == ':' || data[tag] == '#')
               ? 1
               : -1;
}

size_t
zdex_cluster_member_count (zdex_cluster_t *self)
{
    assert (self);
    return json_array_size (json_object_get (self->view, "members"));
}

json_t *
zdex_cluster_members (zdex_cluster_t *self)
{
    assert (self);
    json_t *members = json_array ();
    const char *master = json_string_value (json_object_get (self->view, "master"));
    size_t index;
    json_t *member;
    json_array_foreach (json_object_get (self->view, "members"), index, member) {
        const char *id = json_string_value (json_object_get (member, "id"));
        json_array_append_new (
            members,
            json_pack ("{s:s?, s:O?, s:O?, s:O?, s:O?, s:b, s:I}", "id", id, "client_endpoint",
                       json_object_get (member, "client"), "worker_endpoint",
                       json_object_get (member, "worker"), "cluster_endpoint",
                       json_object_get (member, "cluster"), "replication_endpoint",
                       json_object_get (member, "replication"), "master",
                       master && id && streq (master, id), "partitions",
                       (json_int_t) zdex_partition_table_partitions_owned (self->table, id)));
    }
    //  Owners by partition, as indices into members (-1 while the table has none):
    //  a client that knows them can send each request to its owner directly.
    json_t *owners = json_array ();
    for (uint32_t p = 0; p < zdex_partition_table_partition_count (self->table); p++) {
        const char *owner = zdex_partition_table_owner (self->table, p);
        json_int_t at = -1;
        for (size_t index = 0; owner && index < json_array_size (members); index++)
            if (streq (json_string_value (json_object_get (json_array_get (members, index), "id")),
                       owner))
                at = (json_int_t) index;
        json_array_append_new (owners, json_integer (at));
    }
    //  forwarded_requests shows whether clients reach owners directly.
    return json_pack (
        "{s:o, s:i, s:I, s:I, s:I, s:I, s:o, s:I}", "members", members, "partition_count",
        (int) zdex_partition_table_partition_count (self->table), "table_version",
        (json_int_t) zdex_partition_table_version (self->table), "view_version",
        (json_int_t) json_integer_value (json_object_get (self->view, "view_version")),
        "underreplicated_partitions",
        (json_int_t) zdex_partition_table_underreplicated (self->table), "moving_partitions",
        (json_int_t) zdex_partition_table_moving (self->table), "owners", owners,
        "forwarded_requests", (json_int_t) self->forwarded);
}

void
zdex_cluster_leave (zdex_cluster_t *self)
{
    assert (self);
    zstr_send (self->membership, "LEAVE");
    zdex_waitset_touch (self->waitset, self->membership);
}

size_t
zdex_cluster_moving (zdex_cluster_t *self)
{
    assert (self);
    return zdex_partition_table_moving (self->table);
}

uint32_t
zdex_cluster_pick_owned (zdex_cluster_t *self, uint64_t random)
{
    assert (self);
    return self->owned_count ? self->owned[random % self->owned_count] : UINT32_MAX;
}

void
zdex_cluster_move_ready (zdex_cluster_t *self, const char *partition, const char *epoch,
                         const char *target)
{
    assert (self);
    if (partition && epoch && target) {
        zstr_sendx (self->membership, "READY", partition, epoch, target, NULL);
        zdex_waitset_touch (self->waitset, self->membership);
    }
}

void
zdex_cluster_drain (zdex_cluster_t *self)
{
    assert (self);
    zstr_send (self->membership, "DRAIN");
    zdex_waitset_touch (self->waitset, self->membership);
}

bool
zdex_cluster_drained (zdex_cluster_t *self)
{
    assert (self);
    return self->drained;
}
