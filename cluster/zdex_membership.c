//  zdex_membership: the cluster membership actor.
//
//  Role: keeps this member's view of the cluster (who is in it, in join order,
//  and who is master) and the partition table that goes with it.  The oldest
//  member is the master: it admits members, removes silent ones and computes
//  every table.  The order of ages is known to all, so when the master dies the
//  next oldest takes over without an election.
//
//  Sockets:
//  - cluster endpoint: a ROUTER (ROUTER_HANDOVER, so a restarted member's new
//    connection replaces the old one).  Everything a member is told arrives here.
//  - one DEALER per other member of the view, routing id = the cluster's tag and
//    our member id (s_routing_id), connected to that member's cluster endpoint.  Everything we say
//    goes out on these.  SNDTIMEO 0: a dead peer never blocks the actor; what is dropped is
//    repaired by the heartbeat exchange below.
//  - while joining, one DEALER per seed (and per endpoint we were redirected to),
//    with a send queue of two so JOINs to a peer that is not up do not pile up.
//  All DEALERs are polled too: a ROUTER reply (REDIRECT, or a VIEW telling a
//  stranger it is out) comes back on the DEALER that sent the request.
//
//  State machine:
//      JOINING --VIEW listing us--> MEMBER or MASTER
//      JOINING --no seeds, or all seeds are ourselves--> MASTER (one member)
//      MEMBER  --master silent, all older members silent--> MASTER (takeover)
//      MEMBER  --VIEW naming us master (the master left)--> MASTER
//      MEMBER | MASTER --newer VIEW without us--> JOINING (rejoin)
//      any --LEAVE--> LEFT (silent until $TERM)
//  One poll timeout is computed from the next due time (heartbeat or JOIN send,
//  the earliest silence deadline); there are no sleeps.
//
//  Protocol: one JSON object per frame, every one with "type" and "id" (the
//  sender's member id, which must equal the routing id it arrives with on the
//  ROUTER).  Any message from a member of the view counts as life.
//
//  ON TICK (every heartbeat_ms):
//      JOINING: send JOIN {id, incarnation, to, endpoints: {client, worker,
//          cluster, replication}} to every seed that is not ourselves.
//      MEMBER, MASTER: send HEARTBEAT {id, view_version, table_version} to every
//          other member of the view.
//  ON RECV JOIN:
//      1. From ourselves (same incarnation): the seed `to` is us; stop using it.
//         If every seed is us, found a one-member cluster.
//      2. JOINING: remember that a joiner with a larger id exists (see ON SILENCE).
//      3. MEMBER: reply REDIRECT {master, cluster} (the master's cluster endpoint).
//      4. MASTER, id in the view with the same incarnation: a JOIN that crossed
//         our VIEW; send it the VIEW and TABLE again.
//      5. MASTER, id in the view with another incarnation: the member restarted
//         and lost its replicas; remove the old one from the table first.
//      6. MASTER: admit it as the youngest member (age = the new view version),
//         connect a DEALER to it, PUBLISH.
//      There is no separate WELCOME: the VIEW that lists the joiner welcomes it.
//  ON RECV REDIRECT (JOINING): add the master's endpoint to the seeds and send
//      it a JOIN at once.
//  ON RECV VIEW {view_version, master, members: [{id, incarnation, age, client,
//      worker, cluster, replication}]} (members oldest first):
//      1. Accept it if view_version is above ours, or equal and its master is
//         older than ours (two members that both took over: the older wins).
//         While joining, accept it only if it lists us (with our incarnation).
//      2. Listing us: install it (DEALERs to new members, close those to departed
//         ones); we are MASTER if it names us, else MEMBER; tell the parent.
//      3. Not listing us: we were removed; tell the parent and rejoin through the
//         view's members (its master first) and our seeds.
//  ON RECV TABLE {table}: from the master or from the sender of our view (a
//      master that is leaving hands over its last table): install it unless it is
//      older (zdex_partition_table_from_json); tell the parent if it changed.
//  ON RECV HEARTBEAT (MEMBER, MASTER): from a stranger: reply with our VIEW, so it
//      learns it was removed (from any member: the master may be the one that
//      died meanwhile).  MASTER: from a member with an older view or table: send
//      it again.
//  ON RECV LEAVE (MASTER): remove the member at once, PUBLISH.
//  ON SILENCE (no message for timeout_ms):
//      MASTER: remove every silent member, PUBLISH.
//      MEMBER: when the master and every member older than us are silent, take
//          over: remove them, number the view and table above every version seen
//          in heartbeats, become MASTER, PUBLISH.
//      JOINING: if a joiner with a larger id has reached us and no cluster has
//          answered (no VIEW, no REDIRECT) for timeout_ms, found a one-member
//          cluster (the smallest id wins, so members seeded with each other start).
//  PUBLISH (MASTER): recompute the table for the members oldest first, send VIEW
//      then TABLE to every other member, tell the parent.  The lost flags travel
//      in that one table version and are then cleared.
//  ON LEAVE command: MEMBER: send LEAVE to the master.  MASTER: remove ourselves,
//      send VIEW (master = next oldest) and TABLE to the others.  Then close every
//      socket with a linger so those last messages get out, and go silent.
//
//  A master that dies half-way through a broadcast may leave the next master with
//  an older table than some members have; the takeover numbers the new view, table
//  and epochs above every version seen in heartbeats, so they still install it.
//  Not handled: a network partition can leave two masters whose views never meet
//  (each side carries on with its own members); members seeded only with members
//  that are themselves still joining wait (see ON SILENCE for the exception).

#include "zdex_membership.h"
#include "zdex_hash.h"
#include "zdex_partition_table.h"

#include <inttypes.h>
#include <jansson.h>

#define S_MAX_MEMBERS     256
#define S_MAX_TARGETS     16
#define S_ENDPOINT_MAX    256
#define S_REPLICATION_MAX 8192 //  "pub|control" per partition actor, up to 64 of them
#define S_INCARNATION_MAX 64
#define S_FRAME_MAX       (16 * 1024 * 1024)
#define S_BATCH_MAX       256  //  messages per socket per wake-up
#define S_LINGER_MAX      1000 //  ms a leaving member waits for its last messages
#define S_PARTITIONS      271
#define S_TARGET_QUEUE    2     //  JOINs queued to a seed that is not up
#define S_DRAIN_MS        15000 //  longest graceful leave before leaving anyway
#define S_READY_MAX       4096  //  move reports queued for the master

typedef enum { S_FAILED, S_JOINING, S_MEMBER, S_MASTER, S_LEFT } s_state_t;

typedef struct {
    char *id;
    char *incarnation;
    uint64_t age;
    char *client;
    char *worker;
    char *cluster;
    char *replication;
    zsock_t *dealer; //  NULL for ourselves
    int64_t last_seen;
    bool leaving; //  (master) it asked to leave: its primaries move away first
} s_member_t;

typedef struct {
    char *endpoint;
    zsock_t *dealer;
    bool is_self;
} s_target_t;

typedef struct {
    zsock_t *pipe;
    //  Arguments (copies)
    char *id;
    char *cluster_name;
    uint32_t cluster_tag; //  FNV-1a of cluster_name (s_routing_id)
    char *client;
    char *worker;
    char *cluster_bind;
    char *replication;
    char **seeds;
    size_t seed_count;
    int heartbeat_ms;
    int timeout_ms;
    uint32_t partition_count;
    size_t max_backups;
    bool hold_primaries;
    bool rebalance;
    bool verbose;
    //  State
    char incarnation[S_INCARNATION_MAX];
    zsock_t *router;
    char endpoint[S_ENDPOINT_MAX];
    char error[512];
    s_state_t state;
    bool terminated;
    s_member_t **members; //  the view, oldest first, ourselves included
    size_t member_count;
    uint64_t view_version;
    char *master;    //  the view's master
    char *view_from; //  who sent the view we installed last
    uint64_t max_view_seen;
    uint64_t max_table_seen;
    zdex_partition_table_t *table;
    char *table_text; //  the table as last published or installed
    s_target_t targets[S_MAX_TARGETS];
    size_t target_count;
    int64_t last_contact; //  joining: last VIEW or REDIRECT from a cluster
    bool heard_larger_joiner;
    int64_t next_beat;      //  next HEARTBEAT or JOIN round
    int64_t heard_sent;     //  when we last told the parent we heard a member
    int64_t heard_after;    //  no HEARD before (after a stall: what waited is old news)
    bool draining;          //  graceful leave: waiting for our primaries to move
    int64_t drain_deadline; //  leave anyway then
    bool table_dirty;       //  (master) moves completed: publish the table
    json_t *ready_out;      //  [[partition, epoch, target], ...] for the master
} s_self_t;

//  ---------------------------------------------------------------------------------
//  Members, targets, sockets

static void
s_member_destroy (s_member_t **member_p)
{
    s_member_t *member = *member_p;
    if (!member)
        return;
    zsock_destroy (&member->dealer);
    free (member->id);
    free (member->incarnation);
    free (member->client);
    free (member->worker);
    free (member->cluster);
    free (member->replication);
    free (member);
    *member_p = NULL;
}

static s_member_t *
s_member_new (const char *id, const char *incarnation, uint64_t age, const char *client,
              const char *worker, const char *cluster, const char *replication)
{
    s_member_t *member = (s_member_t *) zmalloc (sizeof (s_member_t));
    assert (member);
    member->id = strdup (id);
    member->incarnation = strdup (incarnation);
    member->age = age;
    member->client = strdup (client);
    member->worker = strdup (worker);
    member->cluster = strdup (cluster);
    member->replication = strdup (replication);
    assert (member->id && member->incarnation && member->client && member->worker &&
            member->cluster && member->replication);
    return member;
}

//  A DEALER to another member's cluster endpoint, or NULL if the endpoint is bad.
//  The routing id member `id` has on the others' ROUTERs: the cluster's tag (8 hex
//  digits of the name's FNV-1a), ':', the id, or '#' and the id's hash when that
//  would pass the 255 bytes of a routing id.  With the tag, a member of another
//  cluster with the same id (another cluster on the host got a port one of our
//  dead members had, and our DEALERs still reconnect to it) never takes over our
//  member's routing id on a ROUTER (ROUTER_HANDOVER) and cuts it off.
static void
s_routing_id (s_self_t *self, const char *id, char *out)
{
    zdex_hash_routing_id (out, "", self->cluster_tag, id, "");
}

static zsock_t *
s_dealer_new (s_self_t *self, const char *endpoint, bool target)
{
    zsock_t *dealer = zsock_new (ZMQ_DEALER);
    if (!dealer)
        return NULL;
    char routing_id[256];
    s_routing_id (self, self->id, routing_id);
    zsock_set_identity (dealer, routing_id);
    zsock_set_sndtimeo (dealer, 0);
    zsock_set_maxmsgsize (dealer, S_FRAME_MAX);
    if (target)
        zsock_set_sndhwm (dealer, S_TARGET_QUEUE);
    if (zsock_connect (dealer, "%s", endpoint) != 0)
        zsock_destroy (&dealer);
    return dealer;
}

static void
s_targets_clear (s_self_t *self)
{
    for (size_t index = 0; index < self->target_count; index++) {
        zsock_destroy (&self->targets[index].dealer);
        free (self->targets[index].endpoint);
    }
    self->target_count = 0;
}

static void
s_target_add (s_self_t *self, const char *endpoint)
{
    for (size_t index = 0; index < self->target_count; index++)
        if (streq (self->targets[index].endpoint, endpoint))
            return;
    if (self->target_count == S_MAX_TARGETS)
        return;
    zsock_t *dealer = s_dealer_new (self, endpoint, true);
    if (!dealer) {
        zsys_warning ("zdex_membership %s: cannot connect to seed %s", self->id, endpoint);
        return;
    }
    s_target_t *target = &self->targets[self->target_count++];
    target->endpoint = strdup (endpoint);
    assert (target->endpoint);
    target->dealer = dealer;
    target->is_self = false;
}

static void
s_members_clear (s_self_t *self, int linger)
{
    for (size_t index = 0; index < self->member_count; index++) {
        if (self->members[index]->dealer && linger > 0)
            zsock_set_linger (self->members[index]->dealer, linger);
        s_member_destroy (&self->members[index]);
    }
    self->member_count = 0;
}

static int
s_find (s_self_t *self, const char *id)
{
    for (size_t index = 0; index < self->member_count; index++)
        if (streq (self->members[index]->id, id))
            return (int) index;
    return -1;
}

static void
s_remove_at (s_self_t *self, size_t index)
{
    s_member_destroy (&self->members[index]);
    memmove (self->members + index, self->members + index + 1,
             (self->member_count - index - 1) * sizeof (s_member_t *));
    self->member_count--;
}

static void
s_set_text (char **field_p, const char *text)
{
    free (*field_p);
    *field_p = text ? strdup (text) : NULL;
    assert (!text || *field_p);
}

//  ---------------------------------------------------------------------------------
//  Messages out

static json_t *
s_message (s_self_t *self, const char *type)
{
    json_t *msg = json_object ();
    json_object_set_new (msg, "type", json_string (type));
    json_object_set_new (msg, "id", json_string (self->id));
    json_object_set_new (msg, "cluster_name", json_string (self->cluster_name));
    return msg;
}

//  Send and release msg; a full or unconnected queue drops it (heartbeats repair).
static void
s_send (zsock_t *sock, json_t *msg)
{
    char *text = json_dumps (msg, JSON_COMPACT);
    json_decref (msg);
    if (sock && text)
        zstr_send (sock, text);
    free (text);
}

static void
s_reply (s_self_t *self, zframe_t *identity, json_t *msg)
{
    char *text = json_dumps (msg, JSON_COMPACT);
    json_decref (msg);
    if (identity && text) {
        zframe_t *copy = zframe_dup (identity);
        if (zframe_send (&copy, self->router, ZFRAME_MORE) == 0)
            zstr_send (self->router, text);
        zframe_destroy (&copy);
    }
    free (text);
}

//  The view as sent to members (wire: type, id, incarnations) or to the parent.
static json_t *
s_view_json (s_self_t *self, bool wire)
{
    json_t *view = wire ? s_message (self, "VIEW") : json_object ();
    json_object_set_new (view, "view_version", json_integer ((json_int_t) self->view_version));
    json_object_set_new (view, "master", json_string (self->master ? self->master : ""));
    json_t *members = json_array ();
    for (size_t index = 0; index < self->member_count; index++) {
        s_member_t *member = self->members[index];
        json_t *entry = json_object ();
        json_object_set_new (entry, "id", json_string (member->id));
        if (wire)
            json_object_set_new (entry, "incarnation", json_string (member->incarnation));
        json_object_set_new (entry, "age", json_integer ((json_int_t) member->age));
        json_object_set_new (entry, "client", json_string (member->client));
        json_object_set_new (entry, "worker", json_string (member->worker));
        json_object_set_new (entry, "cluster", json_string (member->cluster));
        json_object_set_new (entry, "replication", json_string (member->replication));
        json_array_append_new (members, entry);
    }
    json_object_set_new (view, "members", members);
    return view;
}

static json_t *
s_table_message (s_self_t *self)
{
    json_error_t error;
    json_t *table = json_loads (self->table_text, 0, &error);
    assert (table);
    json_t *msg = s_message (self, "TABLE");
    json_object_set_new (msg, "table", table);
    return msg;
}

static void
s_send_view_and_table (s_self_t *self, s_member_t *member)
{
    s_send (member->dealer, s_view_json (self, true));
    if (self->table_text)
        s_send (member->dealer, s_table_message (self));
}

static void
s_emit_view (s_self_t *self)
{
    json_t *view = s_view_json (self, false);
    char *text = json_dumps (view, JSON_COMPACT);
    json_decref (view);
    zstr_sendx (self->pipe, "VIEW", text, NULL);
    free (text);
    if (self->verbose)
        zsys_info ("zdex_membership %s: view %" PRIu64 ", master %s, %zu member(s)", self->id,
                   self->view_version, self->master ? self->master : "-", self->member_count);
}

static void
s_emit_table (s_self_t *self)
{
    zstr_sendx (self->pipe, "TABLE", self->table_text, NULL);
    if (self->verbose) {
        size_t thin = zdex_partition_table_underreplicated (self->table);
        if (thin)
            zsys_info ("zdex_membership %s: table %" PRIu64 ": %zu partition(s) with fewer "
                       "than %zu backup(s)",
                       self->id, zdex_partition_table_version (self->table), thin,
                       self->max_backups);
    }
}

//  ---------------------------------------------------------------------------------
//  Master

static uint64_t
s_next_view_version (s_self_t *self)
{
    uint64_t top =
        self->view_version > self->max_view_seen ? self->view_version : self->max_view_seen;
    return top + 1;
}

//  Moves that balance the primaries over the members that stay (rebalance on).
//  With a member leaving and nobody else, nothing can move.
static void
s_plan_moves (s_self_t *self)
{
    if (!self->rebalance)
        return;
    const char *ids[S_MAX_MEMBERS];
    size_t count = 0;
    for (size_t index = 0; index < self->member_count; index++)
        if (!self->members[index]->leaving)
            ids[count++] = self->members[index]->id;
    if (count > 0 && zdex_partition_table_plan_moves (self->table, ids, count) < 0)
        zsys_warning ("zdex_membership %s: out of memory planning moves", self->id);
}

//  Recompute the table for the members, oldest first.
static void
s_update_table (s_self_t *self)
{
    const char *ids[S_MAX_MEMBERS];
    for (size_t index = 0; index < self->member_count; index++)
        ids[index] = self->members[index]->id;
    zdex_partition_table_advance (self->table, self->max_table_seen);
    int rc = zdex_partition_table_update (self->table, ids, self->member_count);
    assert (rc >= 0); //  ids are validated and distinct
    s_plan_moves (self);
}

//  Serialize the table; lost flags go out in this version only.
static bool
s_refresh_table_text (s_self_t *self)
{
    char *text = zdex_partition_table_to_json (self->table);
    assert (text);
    for (uint32_t p = 0; p < self->partition_count; p++)
        zdex_partition_table_clear_lost (self->table, p);
    bool changed = !self->table_text || !streq (text, self->table_text);
    free (self->table_text);
    self->table_text = text;
    return changed;
}

static void
s_broadcast (s_self_t *self)
{
    for (size_t index = 0; index < self->member_count; index++)
        if (self->members[index]->dealer)
            s_send_view_and_table (self, self->members[index]);
}

static void
s_publish (s_self_t *self)
{
    s_update_table (self);
    bool table_changed = s_refresh_table_text (self);
    s_broadcast (self);
    s_emit_view (self);
    if (table_changed)
        s_emit_table (self);
}

//  A table change that is not a view change (moves planned or completed).
static void
s_publish_table (s_self_t *self)
{
    s_plan_moves (self);
    if (!s_refresh_table_text (self))
        return;
    for (size_t index = 0; index < self->member_count; index++)
        if (self->members[index]->dealer)
            s_send (self->members[index]->dealer, s_table_message (self));
    s_emit_table (self);
}

//  An owner reports a move ready (see zdex_replicator): complete it unless
//  stale.  The report must come from the partition's owner.  A member that is
//  leaving is not kept as a backup of what it gave away: it is about to go, and
//  the backups that follow already hold everything (see s_release there).
static void
s_complete_move (s_self_t *self, const char *owner, json_int_t partition, json_int_t epoch,
                 const char *target)
{
    if (partition < 0 || (uint64_t) partition >= self->partition_count || epoch < 1 || !target)
        return;
    const char *current = zdex_partition_table_owner (self->table, (uint32_t) partition);
    if (!current || !streq (current, owner))
        return;
    int index = s_find (self, owner);
    bool keep = index < 0 || !self->members[index]->leaving;
    if (zdex_partition_table_complete_move (self->table, (uint32_t) partition, target,
                                            (uint64_t) epoch, keep) == 1)
        self->table_dirty = true;
}

static void
s_found_cluster (s_self_t *self)
{
    s_targets_clear (self);
    s_members_clear (self, 0);
    zdex_partition_table_destroy (&self->table);
    self->table = zdex_partition_table_new (self->partition_count, self->max_backups);
    assert (self->table);
    zdex_partition_table_set_hold_primaries (self->table, self->hold_primaries);
    zstr_free (&self->table_text);
    self->view_version = s_next_view_version (self);
    self->members = (s_member_t **) realloc (self->members, sizeof (s_member_t *));
    assert (self->members);
    self->members[0] = s_member_new (self->id, self->incarnation, self->view_version, self->client,
                                     self->worker, self->endpoint, self->replication);
    self->member_count = 1;
    s_set_text (&self->master, self->id);
    s_set_text (&self->view_from, self->id);
    self->state = S_MASTER;
    self->next_beat = zclock_mono () + self->heartbeat_ms;
    s_publish (self);
}

//  Remove every member silent for timeout_ms (never ourselves).  Returns how many.
static size_t
s_remove_silent (s_self_t *self, int64_t now)
{
    size_t removed = 0;
    for (size_t index = 0; index < self->member_count;) {
        s_member_t *member = self->members[index];
        if (!streq (member->id, self->id) && now - member->last_seen >= self->timeout_ms) {
            zsys_info ("zdex_membership %s: %s silent for %" PRId64 " ms, removed", self->id,
                       member->id, now - member->last_seen);
            s_remove_at (self, index);
            removed++;
        } else
            index++;
    }
    return removed;
}

static void
s_take_over (s_self_t *self, int64_t now)
{
    zsys_info ("zdex_membership %s: master %s silent, taking over", self->id,
               self->master ? self->master : "-");
    s_remove_silent (self, now);
    self->view_version = s_next_view_version (self);
    s_set_text (&self->master, self->id);
    s_set_text (&self->view_from, self->id);
    self->state = S_MASTER;
    s_publish (self);
}

//  ---------------------------------------------------------------------------------
//  Validation of network input

//  A string field of 1..max bytes (0..max when may_be_empty), else NULL.
static const char *
s_text (json_t *object, const char *key, size_t max, bool may_be_empty)
{
    json_t *value = json_object_get (object, key);
    if (!json_is_string (value))
        return NULL;
    size_t length = json_string_length (value);
    const char *text = json_string_value (value);
    if (length > max || (length == 0 && !may_be_empty) || strlen (text) != length)
        return NULL;
    return text;
}

static bool
s_uint (json_t *object, const char *key, uint64_t *value_p)
{
    json_t *value = json_object_get (object, key);
    if (!json_is_integer (value) || json_integer_value (value) < 0)
        return false;
    *value_p = (uint64_t) json_integer_value (value);
    return true;
}

//  Parse the members of a VIEW (oldest first, distinct ids, ages increasing).
//  Returns a new array and its size, or NULL.
static s_member_t **
s_parse_members (json_t *list, size_t *count_p)
{
    size_t count = json_array_size (list);
    if (!json_is_array (list) || count == 0 || count > S_MAX_MEMBERS)
        return NULL;
    s_member_t **members = (s_member_t **) zmalloc (count * sizeof (s_member_t *));
    assert (members);
    size_t parsed = 0;
    for (; parsed < count; parsed++) {
        json_t *entry = json_array_get (list, parsed);
        const char *id = s_text (entry, "id", ZDEX_MEMBERSHIP_ID_MAX, false);
        const char *incarnation = s_text (entry, "incarnation", S_INCARNATION_MAX - 1, false);
        const char *client = s_text (entry, "client", S_ENDPOINT_MAX - 1, true);
        const char *worker = s_text (entry, "worker", S_ENDPOINT_MAX - 1, true);
        const char *cluster = s_text (entry, "cluster", S_ENDPOINT_MAX - 1, false);
        const char *replication = s_text (entry, "replication", S_REPLICATION_MAX - 1, true);
        uint64_t age;
        if (!json_is_object (entry) || !id || !incarnation || !client || !worker || !cluster ||
            !replication || !s_uint (entry, "age", &age) || age == 0)
            break;
        if (parsed > 0 && age <= members[parsed - 1]->age)
            break;
        bool duplicate = false;
        for (size_t other = 0; other < parsed; other++)
            duplicate = duplicate || streq (members[other]->id, id);
        if (duplicate)
            break;
        members[parsed] = s_member_new (id, incarnation, age, client, worker, cluster, replication);
    }
    if (parsed < count) {
        for (size_t index = 0; index < parsed; index++)
            s_member_destroy (&members[index]);
        free (members);
        return NULL;
    }
    *count_p = count;
    return members;
}

//  ---------------------------------------------------------------------------------
//  Handlers

static void
s_send_join (s_self_t *self, s_target_t *target)
{
    json_t *msg = s_message (self, "JOIN");
    json_object_set_new (msg, "incarnation", json_string (self->incarnation));
    json_object_set_new (msg, "to", json_string (target->endpoint));
    json_t *endpoints = json_object ();
    json_object_set_new (endpoints, "client", json_string (self->client));
    json_object_set_new (endpoints, "worker", json_string (self->worker));
    json_object_set_new (endpoints, "cluster", json_string (self->endpoint));
    json_object_set_new (endpoints, "replication", json_string (self->replication));
    json_object_set_new (msg, "endpoints", endpoints);
    s_send (target->dealer, msg);
}

//  Rejoin through the members of the view that left us out (endpoints, its
//  master first; may be NULL), then our seeds.  Any of them may be the one that
//  admits us: the master of that view may be gone, and so may our seeds.
static void
s_rejoin (s_self_t *self, zlist_t *endpoints)
{
    if (self->view_version > 0)
        zsys_info ("zdex_membership %s: not in view %" PRIu64 ", rejoining", self->id,
                   self->view_version);
    s_members_clear (self, 0);
    zstr_free (&self->master);
    zstr_free (&self->view_from);
    self->state = S_JOINING;
    for (const char *endpoint = endpoints ? (const char *) zlist_first (endpoints) : NULL; endpoint;
         endpoint = (const char *) zlist_next (endpoints))
        if (!streq (endpoint, self->endpoint))
            s_target_add (self, endpoint);
    for (size_t index = 0; index < self->seed_count; index++)
        s_target_add (self, self->seeds[index]);
    self->last_contact = zclock_mono ();
    self->next_beat = self->last_contact; //  JOIN now
}

static void
s_on_join (s_self_t *self, const char *sender, json_t *msg, zframe_t *identity)
{
    const char *incarnation = s_text (msg, "incarnation", S_INCARNATION_MAX - 1, false);
    json_t *endpoints = json_object_get (msg, "endpoints");
    const char *client = s_text (endpoints, "client", S_ENDPOINT_MAX - 1, true);
    const char *worker = s_text (endpoints, "worker", S_ENDPOINT_MAX - 1, true);
    const char *cluster = s_text (endpoints, "cluster", S_ENDPOINT_MAX - 1, false);
    const char *replication = s_text (endpoints, "replication", S_REPLICATION_MAX - 1, true);
    if (!incarnation || !client || !worker || !cluster || !replication)
        return;
    if (streq (sender, self->id)) {
        if (!streq (incarnation, self->incarnation)) {
            zsys_warning ("zdex_membership %s: another member uses this id (%s)", self->id,
                          cluster);
            return;
        }
        const char *to = s_text (msg, "to", S_ENDPOINT_MAX - 1, false);
        bool others = false;
        for (size_t index = 0; index < self->target_count; index++) {
            s_target_t *target = &self->targets[index];
            if (to && streq (target->endpoint, to))
                target->is_self = true;
            others = others || !target->is_self;
        }
        if (self->state == S_JOINING && !others)
            s_found_cluster (self);
        return;
    }
    if (self->state == S_JOINING) {
        if (strcmp (sender, self->id) > 0)
            self->heard_larger_joiner = true;
        return;
    }
    if (self->state == S_MEMBER) {
        int master = self->master ? s_find (self, self->master) : -1;
        if (master >= 0) {
            json_t *reply = s_message (self, "REDIRECT");
            json_object_set_new (reply, "master", json_string (self->master));
            json_object_set_new (reply, "cluster", json_string (self->members[master]->cluster));
            s_reply (self, identity, reply);
        }
        return;
    }
    if (self->state != S_MASTER)
        return;

    int index = s_find (self, sender);
    if (index >= 0 && streq (self->members[index]->incarnation, incarnation)) {
        s_send_view_and_table (self, self->members[index]);
        return;
    }
    if (index >= 0) {
        //  Restarted: its replicas are gone, so fail it over before it rejoins.
        zsys_info ("zdex_membership %s: %s restarted", self->id, sender);
        s_remove_at (self, (size_t) index);
        s_update_table (self);
    }
    zsock_t *dealer =
        self->member_count < S_MAX_MEMBERS ? s_dealer_new (self, cluster, false) : NULL;
    if (dealer) {
        self->view_version = s_next_view_version (self);
        s_member_t *member = s_member_new (sender, incarnation, self->view_version, client, worker,
                                           cluster, replication);
        member->dealer = dealer;
        member->last_seen = zclock_mono ();
        self->members = (s_member_t **) realloc (self->members,
                                                 (self->member_count + 1) * sizeof (s_member_t *));
        assert (self->members);
        self->members[self->member_count++] = member;
        zsys_info ("zdex_membership %s: %s joined (%s)", self->id, sender, cluster);
    } else if (index < 0)
        return; //  nothing changed
    else
        self->view_version = s_next_view_version (self);
    s_publish (self);
}

static void
s_on_redirect (s_self_t *self, json_t *msg)
{
    const char *cluster = s_text (msg, "cluster", S_ENDPOINT_MAX - 1, false);
    if (self->state != S_JOINING || !cluster)
        return;
    self->last_contact = zclock_mono ();
    size_t before = self->target_count;
    s_target_add (self, cluster);
    if (self->target_count > before)
        s_send_join (self, &self->targets[before]);
}

//  Is the VIEW (version, master's age) ahead of ours?
static bool
s_view_wins (s_self_t *self, uint64_t version, uint64_t master_age)
{
    if (version != self->view_version)
        return version > self->view_version;
    int ours = self->master ? s_find (self, self->master) : -1;
    return ours >= 0 && master_age < self->members[ours]->age;
}

static void
s_on_view (s_self_t *self, const char *sender, json_t *msg)
{
    uint64_t version;
    const char *master = s_text (msg, "master", ZDEX_MEMBERSHIP_ID_MAX, false);
    if (!s_uint (msg, "view_version", &version) || version == 0 || !master)
        return;
    size_t count = 0;
    s_member_t **members = s_parse_members (json_object_get (msg, "members"), &count);
    if (!members)
        return;
    int mine = -1, master_index = -1;
    for (size_t index = 0; index < count; index++) {
        if (streq (members[index]->id, self->id) &&
            streq (members[index]->incarnation, self->incarnation))
            mine = (int) index;
        if (streq (members[index]->id, master))
            master_index = (int) index;
    }
    bool accept = master_index >= 0 && self->state != S_LEFT && self->state != S_FAILED;
    if (accept && self->state == S_JOINING)
        accept = mine >= 0 && version > self->view_version;
    else if (accept)
        accept = s_view_wins (self, version, members[master_index]->age);
    if (version > self->max_view_seen)
        self->max_view_seen = version;
    if (!accept) {
        if (self->state == S_JOINING && master_index >= 0) {
            //  A live cluster that has not admitted us yet: join through its master.
            self->last_contact = zclock_mono ();
            s_target_add (self, members[master_index]->cluster);
        }
        for (size_t index = 0; index < count; index++)
            s_member_destroy (&members[index]);
        free (members);
        return;
    }

    if (mine < 0) {
        //  Removed.  Tell the parent with the view that left us out, then rejoin.
        zlist_t *endpoints = zlist_new ();
        assert (endpoints);
        zlist_autofree (endpoints);
        zlist_append (endpoints, members[master_index]->cluster);
        for (size_t index = 0; index < count; index++)
            if ((int) index != master_index)
                zlist_append (endpoints, members[index]->cluster);
        s_members_clear (self, 0);
        free (self->members);
        self->members = members;
        self->member_count = count;
        self->view_version = version;
        s_set_text (&self->master, master);
        s_emit_view (self);
        s_rejoin (self, endpoints);
        zlist_destroy (&endpoints);
        return;
    }

    //  Keep the DEALERs and liveness of members we already know.
    int64_t now = zclock_mono ();
    for (size_t index = 0; index < count; index++) {
        s_member_t *member = members[index];
        member->last_seen = now;
        if ((int) index == mine)
            continue;
        int old = s_find (self, member->id);
        if (old >= 0 && streq (self->members[old]->incarnation, member->incarnation) &&
            streq (self->members[old]->cluster, member->cluster) && self->members[old]->dealer) {
            member->dealer = self->members[old]->dealer;
            member->last_seen = self->members[old]->last_seen;
            self->members[old]->dealer = NULL;
        } else
            member->dealer = s_dealer_new (self, member->cluster, false);
    }
    s_members_clear (self, 0);
    free (self->members);
    self->members = members;
    self->member_count = count;
    self->view_version = version;
    s_set_text (&self->master, master);
    s_set_text (&self->view_from, sender);
    if (self->state == S_JOINING) {
        //  A new life in the cluster: any table version is newer than none.
        s_targets_clear (self);
        zdex_partition_table_destroy (&self->table);
        self->table = zdex_partition_table_new (self->partition_count, self->max_backups);
        assert (self->table);
        zdex_partition_table_set_hold_primaries (self->table, self->hold_primaries);
        zstr_free (&self->table_text);
        self->next_beat = now;
    }
    self->state = streq (master, self->id) ? S_MASTER : S_MEMBER;
    s_emit_view (self);
}

static void
s_on_table (s_self_t *self, const char *sender, json_t *msg)
{
    if (self->state != S_MEMBER && self->state != S_MASTER)
        return;
    if (!(self->master && streq (sender, self->master)) &&
        !(self->view_from && streq (sender, self->view_from)))
        return;
    json_t *table = json_object_get (msg, "table");
    if (!json_is_object (table))
        return;
    char *text = json_dumps (table, JSON_COMPACT);
    if (text && zdex_partition_table_from_json (self->table, text) == 0) {
        uint64_t version = zdex_partition_table_version (self->table);
        if (version > self->max_table_seen)
            self->max_table_seen = version;
        if (!self->table_text || !streq (text, self->table_text)) {
            free (self->table_text);
            self->table_text = text;
            text = NULL;
            s_emit_table (self);
        }
    }
    free (text);
}

static void
s_on_heartbeat (s_self_t *self, const char *sender, json_t *msg, zframe_t *identity)
{
    uint64_t view_version, table_version;
    if (!s_uint (msg, "view_version", &view_version) ||
        !s_uint (msg, "table_version", &table_version))
        return;
    if (view_version > self->max_view_seen)
        self->max_view_seen = view_version;
    if (table_version > self->max_table_seen)
        self->max_table_seen = table_version;
    int index = s_find (self, sender);
    //  A stranger believes it is in the cluster: it was removed while it could
    //  not hear us (a stall, a partition).  Any member tells it, not only the
    //  master: when the master died meanwhile, a removed member that heard from
    //  nobody would take over and run a cluster of its own, answering for
    //  partitions it holds nothing of.
    if (index < 0 && (self->state == S_MEMBER || self->state == S_MASTER)) {
        s_reply (self, identity, s_view_json (self, true)); //  you are out
        return;
    }
    if (self->state != S_MASTER)
        return;
    if (index >= 0 && json_is_true (json_object_get (msg, "leaving")) &&
        !self->members[index]->leaving) {
        zsys_info ("zdex_membership %s: %s is leaving: moving its partitions", self->id, sender);
        self->members[index]->leaving = true;
        self->table_dirty = true;
    }
    if (view_version < self->view_version)
        s_send_view_and_table (self, self->members[index]);
    else if (table_version < zdex_partition_table_version (self->table) && self->table_text)
        s_send (self->members[index]->dealer, s_table_message (self));
}

static void
s_on_ready (s_self_t *self, const char *sender, json_t *msg)
{
    json_t *moves = json_object_get (msg, "moves");
    if (self->state != S_MASTER || s_find (self, sender) < 0 || !json_is_array (moves) ||
        json_array_size (moves) > S_READY_MAX)
        return;
    size_t index;
    json_t *entry;
    json_array_foreach (moves, index, entry) {
        json_t *partition = json_array_get (entry, 0);
        json_t *epoch = json_array_get (entry, 1);
        const char *target = json_string_value (json_array_get (entry, 2));
        if (json_is_array (entry) && json_array_size (entry) == 3 && json_is_integer (partition) &&
            json_is_integer (epoch) && target && strlen (target) <= ZDEX_MEMBERSHIP_ID_MAX)
            s_complete_move (self, sender, json_integer_value (partition),
                             json_integer_value (epoch), target);
    }
}

static void
s_on_leave (s_self_t *self, const char *sender)
{
    int index = s_find (self, sender);
    if (self->state != S_MASTER || index < 0 || streq (sender, self->id))
        return;
    zsys_info ("zdex_membership %s: %s left", self->id, sender);
    s_remove_at (self, (size_t) index);
    self->view_version = s_next_view_version (self);
    s_publish (self);
}

//  One frame of JSON from the ROUTER (identity given) or a DEALER (identity NULL).
static void
s_on_message (s_self_t *self, zframe_t *body, zframe_t *identity)
{
    if (zframe_size (body) > S_FRAME_MAX)
        return;
    json_error_t error;
    json_t *msg = json_loadb ((const char *) zframe_data (body), zframe_size (body),
                              JSON_REJECT_DUPLICATES, &error);
    const char *type = s_text (msg, "type", 16, false);
    const char *sender = s_text (msg, "id", ZDEX_MEMBERSHIP_ID_MAX, false);
    const char *cluster = s_text (msg, "cluster_name", ZDEX_MEMBERSHIP_ID_MAX, false);
    //  Our DEALERs carry the member id in their routing id: a body that claims
    //  another id did not come from that member.  Another cluster's member (a stale seed
    //  whose port this cluster now uses) is a stranger.
    char routing_id[256] = "";
    if (sender && identity)
        s_routing_id (self, sender, routing_id);
    if (!json_is_object (msg) || !type || !sender || !cluster ||
        !streq (cluster, self->cluster_name) ||
        (identity && (zframe_size (identity) != strlen (routing_id) ||
                      memcmp (zframe_data (identity), routing_id, strlen (routing_id)) != 0))) {
        json_decref (msg);
        return;
    }
    int64_t now = zclock_mono ();
    int index = s_find (self, sender);
    if (index >= 0)
        self->members[index]->last_seen = now;
    if (streq (type, "HEARTBEAT"))
        s_on_heartbeat (self, sender, msg, identity);
    else if (streq (type, "JOIN"))
        s_on_join (self, sender, msg, identity);
    else if (streq (type, "VIEW"))
        s_on_view (self, sender, msg);
    else if (streq (type, "TABLE"))
        s_on_table (self, sender, msg);
    else if (streq (type, "REDIRECT"))
        s_on_redirect (self, msg);
    else if (streq (type, "LEAVE"))
        s_on_leave (self, sender);
    else if (streq (type, "READY"))
        s_on_ready (self, sender, msg);
    //  The parent's lease on its partitions (zdex_cluster_not_ready): a member
    //  of the view (as it is now: a VIEW may just have admitted us) spoke, at
    //  `now` by our clock, so a HEARD that waited in the pipe while this
    //  process was paused renews nothing.
    if (!streq (sender, self->id) && s_find (self, sender) >= 0 &&
        (self->state == S_MEMBER || self->state == S_MASTER) && now >= self->heard_after &&
        now - self->heard_sent >= self->heartbeat_ms / 4) {
        self->heard_sent = now;
        char text[24];
        snprintf (text, sizeof text, "%" PRId64, now);
        zstr_sendx (self->pipe, "HEARD", text, NULL);
    }
    json_decref (msg);
}

//  ---------------------------------------------------------------------------------
//  Parent commands

static void
s_leave (s_self_t *self)
{
    int linger = self->timeout_ms < S_LINGER_MAX ? self->timeout_ms : S_LINGER_MAX;
    if (self->state == S_MEMBER) {
        int master = self->master ? s_find (self, self->master) : -1;
        if (master >= 0)
            s_send (self->members[master]->dealer, s_message (self, "LEAVE"));
    } else if (self->state == S_MASTER && self->member_count > 1) {
        //  Hand over: the next oldest becomes master of a view without us.
        int mine = s_find (self, self->id);
        assert (mine >= 0);
        s_remove_at (self, (size_t) mine);
        self->view_version = s_next_view_version (self);
        s_set_text (&self->master, self->members[0]->id);
        s_update_table (self);
        s_refresh_table_text (self);
        s_broadcast (self);
    }
    zsys_info ("zdex_membership %s: leaving", self->id);
    s_members_clear (self, linger);
    s_targets_clear (self);
    self->state = S_LEFT;
}

//  Leave once we own nothing (or no one can take it, or time is up).
static void
s_check_drained (s_self_t *self, int64_t now)
{
    if (!self->draining)
        return;
    bool settled = self->state != S_MEMBER && self->state != S_MASTER;
    if (!settled && zdex_partition_table_partitions_owned (self->table, self->id) == 0)
        settled = true;
    if (!settled && (self->member_count < 2 || !self->rebalance))
        settled = true; //  nobody to move to, or moves are off: backups are promoted
    if (!settled && self->state == S_MASTER) {
        //  Everybody is leaving (a whole cluster stopped at once): nothing can move,
        //  so hand over now; the next master drains to whoever is left.
        int mine = s_find (self, self->id);
        if (mine >= 0 && !self->members[mine]->leaving) {
            self->members[mine]->leaving = true; //  we became master while leaving
            self->table_dirty = true;
        }
        bool anyone = false;
        for (size_t index = 0; index < self->member_count; index++)
            anyone = anyone || !self->members[index]->leaving;
        settled = !anyone;
    }
    if (!settled && now >= self->drain_deadline) {
        zsys_warning ("zdex_membership %s: %zu partition(s) still here after %d ms: "
                      "leaving anyway (their backups are promoted)",
                      self->id, zdex_partition_table_partitions_owned (self->table, self->id),
                      S_DRAIN_MS);
        settled = true;
    }
    if (!settled)
        return;
    self->draining = false;
    if (self->state != S_FAILED && self->state != S_LEFT)
        s_leave (self);
    zstr_send (self->pipe, "DRAINED");
}

//  Graceful leave: the master moves our primaries to the others (we say we are
//  leaving in every heartbeat, so a new master knows too), then we leave.
static void
s_drain (s_self_t *self)
{
    if (self->draining)
        return;
    self->draining = true;
    self->drain_deadline = zclock_mono () + S_DRAIN_MS;
    zsys_info ("zdex_membership %s: leaving gracefully: moving %zu partition(s) first", self->id,
               zdex_partition_table_partitions_owned (self->table, self->id));
    int mine = s_find (self, self->id);
    if (self->state == S_MASTER && mine >= 0) {
        self->members[mine]->leaving = true;
        self->table_dirty = true;
    } else
        self->next_beat = zclock_mono (); //  say it now
    s_check_drained (self, zclock_mono ());
}

static void
s_on_pipe (s_self_t *self)
{
    zmsg_t *msg = zmsg_recv (self->pipe);
    if (!msg) {
        self->terminated = true;
        return;
    }
    char *command = zmsg_popstr (msg);
    if (command && streq (command, "$TERM"))
        self->terminated = true;
    else if (command && streq (command, "ENDPOINT")) {
        if (self->state == S_FAILED)
            zstr_sendx (self->pipe, "ERROR", self->error, NULL);
        else
            zstr_sendx (self->pipe, "ENDPOINT", self->endpoint, NULL);
    } else if (command && streq (command, "LEAVE")) {
        if (self->state != S_FAILED && self->state != S_LEFT)
            s_leave (self);
    } else if (command && streq (command, "DRAIN")) {
        s_drain (self);
    } else if (command && streq (command, "READY")) {
        char *partition = zmsg_popstr (msg);
        char *epoch = zmsg_popstr (msg);
        char *target = zmsg_popstr (msg);
        if (partition && epoch && target) {
            json_int_t p = (json_int_t) strtoll (partition, NULL, 10);
            json_int_t e = (json_int_t) strtoll (epoch, NULL, 10);
            if (self->state == S_MASTER)
                s_complete_move (self, self->id, p, e, target);
            else if (self->state == S_MEMBER && json_array_size (self->ready_out) < S_READY_MAX)
                json_array_append_new (self->ready_out, json_pack ("[I,I,s]", p, e, target));
        }
        zstr_free (&partition);
        zstr_free (&epoch);
        zstr_free (&target);
    } else
        zsys_warning ("zdex_membership: unknown command %s", command ? command : "(null)");
    zstr_free (&command);
    zmsg_destroy (&msg);
}

//  ---------------------------------------------------------------------------------
//  Timers

//  Earliest silence deadline that matters in this state, or -1.  A MEMBER only
//  watches the master and, once the master is silent, the members older than
//  itself: those decide whether it must take over.
static int64_t
s_silence_due (s_self_t *self, int64_t now)
{
    int64_t due = -1;
    if (self->state == S_MASTER) {
        for (size_t index = 0; index < self->member_count; index++)
            if (!streq (self->members[index]->id, self->id)) {
                int64_t when = self->members[index]->last_seen + self->timeout_ms;
                due = due < 0 || when < due ? when : due;
            }
    } else if (self->state == S_MEMBER) {
        int master = self->master ? s_find (self, self->master) : -1;
        if (master >= 0 && self->members[master]->last_seen + self->timeout_ms > now)
            return self->members[master]->last_seen + self->timeout_ms;
        //  The master is silent: wait while a member older than us is not.
        for (size_t index = 0; index < self->member_count; index++) {
            s_member_t *member = self->members[index];
            if (streq (member->id, self->id))
                break;
            int64_t when = member->last_seen + self->timeout_ms;
            if ((int) index != master && when > now)
                due = due < 0 || when < due ? when : due;
        }
        if (due < 0)
            due = now; //  take over now
    } else if (self->state == S_JOINING && self->heard_larger_joiner)
        due = self->last_contact + self->timeout_ms;
    return due;
}

static int64_t
s_due (s_self_t *self, int64_t now)
{
    if (self->state != S_JOINING && self->state != S_MEMBER && self->state != S_MASTER)
        return -1;
    int64_t due = self->next_beat;
    int64_t silence = s_silence_due (self, now);
    if (silence >= 0 && silence < due)
        due = silence;
    return due;
}

static void
s_tick (s_self_t *self, int64_t now)
{
    if (self->state == S_JOINING) {
        if (now >= self->next_beat) {
            for (size_t index = 0; index < self->target_count; index++)
                if (!self->targets[index].is_self)
                    s_send_join (self, &self->targets[index]);
            self->next_beat = now + self->heartbeat_ms;
        }
        if (self->heard_larger_joiner && now - self->last_contact >= self->timeout_ms) {
            zsys_info ("zdex_membership %s: no cluster answered, founding one", self->id);
            s_found_cluster (self);
        }
        return;
    }
    if (self->state != S_MEMBER && self->state != S_MASTER)
        return;
    if (self->state == S_MASTER && self->table_dirty) {
        self->table_dirty = false;
        s_publish_table (self);
    }
    if (json_array_size (self->ready_out) > 0) {
        int master = self->state == S_MEMBER && self->master ? s_find (self, self->master) : -1;
        if (master >= 0) {
            json_t *msg = s_message (self, "READY");
            json_object_set_new (msg, "moves", self->ready_out);
            s_send (self->members[master]->dealer, msg);
            self->ready_out = json_array ();
        } else
            json_array_clear (self->ready_out);
    }
    s_check_drained (self, now);
    if (self->state != S_MEMBER && self->state != S_MASTER)
        return;
    if (now >= self->next_beat) {
        uint64_t table_version = zdex_partition_table_version (self->table);
        for (size_t index = 0; index < self->member_count; index++)
            if (self->members[index]->dealer) {
                json_t *msg = s_message (self, "HEARTBEAT");
                json_object_set_new (msg, "view_version",
                                     json_integer ((json_int_t) self->view_version));
                json_object_set_new (msg, "table_version",
                                     json_integer ((json_int_t) table_version));
                if (self->draining)
                    json_object_set_new (msg, "leaving", json_true ());
                s_send (self->members[index]->dealer, msg);
            }
        self->next_beat = now + self->heartbeat_ms;
    }
    //  After a stall, heartbeats may still wait in the queue: judge silence only
    //  once they are read.
    if (zsock_events (self->router) & ZMQ_POLLIN)
        return;
    if (self->state == S_MASTER) {
        if (s_remove_silent (self, now) > 0) {
            self->view_version = s_next_view_version (self);
            s_publish (self);
        }
    } else if (s_silence_due (self, now) == now)
        s_take_over (self, now);
}

//  ---------------------------------------------------------------------------------
//  Actor

static void
s_self_destroy (s_self_t *self)
{
    s_members_clear (self, 0);
    free (self->members);
    s_targets_clear (self);
    zsock_destroy (&self->router);
    zdex_partition_table_destroy (&self->table);
    free (self->table_text);
    free (self->master);
    free (self->view_from);
    json_decref (self->ready_out);
    for (size_t index = 0; index < self->seed_count; index++)
        free (self->seeds[index]);
    free (self->seeds);
    free (self->id);
    free (self->cluster_name);
    free (self->client);
    free (self->worker);
    free (self->cluster_bind);
    free (self->replication);
}

static char *
s_copy (const char *text)
{
    char *copy = strdup (text ? text : "");
    assert (copy);
    return copy;
}

//  Copy the arguments and bind.  Returns 0, or -1 with self->error set.
static int
s_start (s_self_t *self, const zdex_membership_args_t *args)
{
    self->id = s_copy (args->member_id);
    self->cluster_name = s_copy (args->cluster_name ? args->cluster_name : "zdex");
    self->cluster_tag = zdex_hash_fnv1a (self->cluster_name, strlen (self->cluster_name));
    self->client = s_copy (args->client_endpoint);
    self->worker = s_copy (args->worker_endpoint);
    self->cluster_bind = s_copy (args->cluster_endpoint);
    self->replication = s_copy (args->replication_endpoint);
    self->seed_count = args->seeds ? args->seed_count : 0;
    self->seeds = (char **) zmalloc ((self->seed_count + 1) * sizeof (char *));
    assert (self->seeds);
    for (size_t index = 0; index < self->seed_count; index++)
        self->seeds[index] = s_copy (args->seeds[index]);
    self->heartbeat_ms = args->heartbeat_ms > 0 ? args->heartbeat_ms : ZDEX_MEMBERSHIP_HEARTBEAT_MS;
    self->timeout_ms = args->timeout_ms > 0 ? args->timeout_ms : ZDEX_MEMBERSHIP_TIMEOUT_MS;
    self->partition_count = args->partition_count ? args->partition_count : S_PARTITIONS;
    self->max_backups = args->max_backups;
    self->hold_primaries = args->hold_primaries;
    self->rebalance = args->rebalance && args->hold_primaries;
    self->verbose = args->verbose;
    self->ready_out = json_array ();
    assert (self->ready_out);
    self->state = S_FAILED;

    size_t id_length = strlen (self->id);
    if (id_length == 0 || id_length > ZDEX_MEMBERSHIP_ID_MAX) {
        snprintf (self->error, sizeof (self->error), "member id must be 1..%d bytes",
                  ZDEX_MEMBERSHIP_ID_MAX);
        return -1;
    }
    zuuid_t *uuid = zuuid_new ();
    assert (uuid);
    snprintf (self->incarnation, sizeof (self->incarnation), "%s", zuuid_str (uuid));
    zuuid_destroy (&uuid);
    self->table = zdex_partition_table_new (self->partition_count, self->max_backups);
    assert (self->table);
    zdex_partition_table_set_hold_primaries (self->table, self->hold_primaries);
    self->router = zsock_new (ZMQ_ROUTER);
    assert (self->router);
    zsock_set_router_handover (self->router, 1);
    zsock_set_maxmsgsize (self->router, S_FRAME_MAX);
    if (zsock_bind (self->router, "%s", self->cluster_bind) == -1) {
        snprintf (self->error, sizeof (self->error), "cannot bind cluster endpoint %s: %s",
                  self->cluster_bind, zmq_strerror (zmq_errno ()));
        return -1;
    }
    snprintf (self->endpoint, sizeof (self->endpoint), "%s", zsock_endpoint (self->router));
    self->state = S_JOINING;
    return 0;
}

static void
s_actor (zsock_t *pipe, void *arg)
{
    s_self_t self_data = {0};
    s_self_t *self = &self_data;
    self->pipe = pipe;
    int rc = s_start (self, (const zdex_membership_args_t *) arg);
    zsock_signal (pipe, 0); //  arguments copied: the caller may free them now
    if (rc == 0) {
        if (self->seed_count == 0)
            s_found_cluster (self);
        else
            s_rejoin (self, NULL);
    }
    while (!self->terminated) {
        int64_t now = zclock_mono ();
        int64_t due = s_due (self, now);
        long timeout = due < 0 ? -1 : due <= now ? 0 : (long) (due - now);

        zmq_pollitem_t items[2 + S_MAX_MEMBERS + S_MAX_TARGETS];
        zsock_t *dealers[S_MAX_MEMBERS + S_MAX_TARGETS];
        size_t dealer_count = 0;
        for (size_t index = 0; index < self->member_count; index++)
            if (self->members[index]->dealer)
                dealers[dealer_count++] = self->members[index]->dealer;
        for (size_t index = 0; index < self->target_count; index++)
            dealers[dealer_count++] = self->targets[index].dealer;
        size_t item_count = 0;
        items[item_count++] = (zmq_pollitem_t){zsock_resolve (self->pipe), 0, ZMQ_POLLIN, 0};
        if (self->router)
            items[item_count++] = (zmq_pollitem_t){zsock_resolve (self->router), 0, ZMQ_POLLIN, 0};
        for (size_t index = 0; index < dealer_count; index++)
            items[item_count++] =
                (zmq_pollitem_t){zsock_resolve (dealers[index]), 0, ZMQ_POLLIN, 0};
        int64_t before = zclock_mono ();
        if (zmq_poll (items, (int) item_count, timeout) == -1 && zmq_errno () != EINTR)
            break; //  context terminated
        //  Woken far later than asked: this process was paused (SIGSTOP, a VM
        //  stall) and heard nothing meanwhile.  Judging the others by that silence
        //  would make a stale member remove everyone and run a cluster of its own
        //  (acknowledging writes with no backups); give them a fresh timeout to
        //  speak, in which the current master tells us where we stand.
        //  What waited in our sockets meanwhile was sent before the others may
        //  have removed us: it renews no lease (no HEARD) for a heartbeat, in
        //  which a member that removed us answers our heartbeat with its view.
        int64_t after = zclock_mono ();
        if (timeout >= 0 && after - before > timeout + self->timeout_ms / 2) {
            for (size_t index = 0; index < self->member_count; index++)
                self->members[index]->last_seen = after;
            self->heard_after = after + self->heartbeat_ms;
        }

        //  DEALER input first, into a list: handling a message may close DEALERs.
        zlist_t *inbox = zlist_new ();
        assert (inbox);
        for (size_t index = 0; index < dealer_count; index++)
            for (int count = 0; count < S_BATCH_MAX; count++) {
                if (!(zsock_events (dealers[index]) & ZMQ_POLLIN))
                    break;
                zmsg_t *msg = zmsg_recv (dealers[index]);
                if (msg)
                    zlist_append (inbox, msg);
            }
        for (int count = 0; count < S_BATCH_MAX && !self->terminated; count++) {
            if (!(zsock_events (self->pipe) & ZMQ_POLLIN))
                break;
            s_on_pipe (self);
        }
        for (int count = 0; count < S_BATCH_MAX && self->router && !self->terminated; count++) {
            if (!(zsock_events (self->router) & ZMQ_POLLIN))
                break;
            zmsg_t *msg = zmsg_recv (self->router);
            if (msg && zmsg_size (msg) == 2) {
                zframe_t *identity = zmsg_first (msg);
                s_on_message (self, zmsg_next (msg), identity);
            }
            zmsg_destroy (&msg);
        }
        zmsg_t *msg;
        while ((msg = (zmsg_t *) zlist_pop (inbox))) {
            if (!self->terminated && zmsg_size (msg) == 1)
                s_on_message (self, zmsg_first (msg), NULL);
            zmsg_destroy (&msg);
        }
        zlist_destroy (&inbox);
        if (!self->terminated)
            s_tick (self, zclock_mono ());
    }
    s_self_destroy (self);
}

zactor_t *
zdex_membership_new (const zdex_membership_args_t *args)
{
    assert (args);
    return zactor_new (s_actor, (void *) args);
}
