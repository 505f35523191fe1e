//  zdex_replicator: replication of a partition actor's partitions.
//
//  Role per partition (from the table): NONE, PRIMARY or BACKUP.
//      NONE    --table: owner is us--> PRIMARY (rings: none)
//      BACKUP  --table: owner is us--> PRIMARY (rings: the replica's, promoted)
//      PRIMARY --table: owner is another--> BACKUP or NONE (demoted: held items
//              released not ok, parked retrieves answered UNAVAILABLE by the actor)
//      any     --table: we are a backup--> BACKUP (subscribe; a new owner or
//              epoch makes the replica resync by snapshot)
//
//  ON publish (primary): record in the log (stamps epoch and seq), send on PUB.
//  ON hold (primary): keep the item until acks_durable(needed) >= seq.
//  ON RECV ACK (control): update the backup's cumulative ack; release held items.
//  ON RECV FETCH (control): answer with the log's range, or a snapshot of the
//      partition's rings when the range is gone or the epoch differs.
//  ON RECV stream message (SUB or fetch answer), as backup: drop it if its epoch
//      is older than the table's; else apply: APPLIED → ack after the batch; GAP →
//      FETCH the range; NEW_EPOCH / DIVERGED → FETCH from 0 (snapshot).
//  EVERY 200 ms (primary): HEAD on each partition that has backups.
//  EVERY 5 ms while items are held (primary): HEAD on each partition whose
//      oldest held item waits since 10 ms or more and whose stream has been
//      quiet as long: its last message, or the ACK of it, may be lost, and only
//      a HEAD brings that to light (a busy stream shows a loss at the next
//      message).  Again after 20, 40 .. 200 ms while nothing new is published.
//      A backup answers a HEAD it is up to date with by a new ACK.
//
//  Moves (the table names a move target, backup 1, for a partition we own): from
//  the moment we see it, nothing is released until the target acked it too, and
//  the old backup 1 (the heir, promoted if we die mid-move) still must; once the
//  target's ack reaches what we had published when the move began, the target
//  holds everything we ever acknowledged, and move_ready tells the master, which
//  makes the target the owner (then we are demoted like after any move).

#include "zdex_replicator.h"
#include "zdex_hash.h"
#include "zdex_hash_table.h"
#include "zdex_proto.h"

#include <inttypes.h>

#define S_HEAD_MS        200
#define S_FETCH_RETRY_MS 500
#define S_LOG_MESSAGES   4096              //  per partition; older ranges: snapshot
#define S_LOG_BYTES      (4 * 1024 * 1024) //  per partition: 271 x 4 MiB at worst
#define S_MAX_BACKUPS    64
#define S_ENDPOINT_MAX   256
#define S_BATCH_MAX      512
#define S_PAUSE_MS       2000 //  longest wait of a moving partition's new requests
#define S_NUDGE_MS       10   //  a held item this old on a quiet stream: HEAD at once

typedef enum { S_NONE = 0, S_PRIMARY, S_BACKUP } s_role_t;

typedef struct {
    uint64_t seq;
    int needed;
    void *item;
    int64_t since; //  when it was held (a reply held for long is logged once)
} s_held_t;

typedef struct {
    uint32_t partition;
    s_role_t role;
    uint64_t epoch; //  the table's epoch for the partition
    char owner[S_ENDPOINT_MAX];
    //  PRIMARY
    zdex_replica_log_t *log;
    zdex_replica_acks_t *acks;
    zlistx_t *held; //  s_held_t, in seq order
    size_t backups;
    char first_backup[S_ENDPOINT_MAX]; //  the one promoted if we die: it must hold it
    char target[S_ENDPOINT_MAX];       //  move target ("" when not moving); = first_backup
    char heir[S_ENDPOINT_MAX];         //  promoted if we die mid-move (may be "")
    uint64_t move_from;                //  last seq published when the move began
    int64_t ready_at;                  //  when move_ready was last reported (0: not yet)
    int64_t pause_at;                  //  new requests wait since then (0: not paused)
    int64_t published_at;              //  when the last stream message left
    int64_t nudged_at;                 //  when the last early HEAD left
    int64_t nudge_gap;                 //  ms from it to the next (doubles; 0: S_NUDGE_MS)
    //  BACKUP
    zdex_replica_t *replica;
    bool ack_due;
    int64_t acked_at;     //  when we last sent an ACK
    int64_t fetch_until;  //  a fetch is outstanding until then
    int64_t backup_since; //  when we became a backup (0: reported as not live)
    uint64_t received;    //  stream messages received as a backup
    uint64_t fetches;     //  fetches sent as a backup
} s_part_t;

struct _zdex_replicator_t {
    char member_id[S_ENDPOINT_MAX];
    uint32_t cluster_tag; //  zdex_replicator_set_cluster_name
    char tag_text[12];    //  the tag in hex, as our routing ids start
    int actor_index;
    int actor_count;
    uint32_t partition_count;
    zdex_replicator_callbacks_t callbacks;
    zsock_t *pub;
    zsock_t *control;
    zsock_t *sub;
    zdex_waitset_t *waitset; //  the driving loop's, or NULL (zdex_replicator_set_waitset)
    zhashx_t *dealers;       //  control endpoint → DEALER
    zhashx_t *pubs;          //  PUB endpoints the SUB is connected to (value unused)
    char endpoint[2 * S_ENDPOINT_MAX + 2];
    s_part_t *parts; //  partition_count entries; ours are p mod count == index
    zdex_partition_table_t *table;
    json_t *view;
    int64_t next_head;
    int head_ms; //  the HEAD period (S_HEAD_MS but in tests)
    int64_t next_nudge;
    size_t held_total; //  held items, all partitions
    int drop_every;
    uint64_t published;
    //  s_send_acks' batches, S_ACK_SOCKETS x partition_count entries, allocated
    //  once: a block this large, allocated and freed on every pass, made malloc
    //  consolidate its free lists each time.
    zdex_replica_ack_t *ack_batches;
};

static bool
s_ours (zdex_replicator_t *self, uint32_t partition)
{
    return partition % (uint32_t) self->actor_count == (uint32_t) self->actor_index;
}

static zsock_t *
s_bind (const char *host, int type, char *bound)
{
    zsock_t *sock = zsock_new (type);
    assert (sock);
    zsock_set_sndhwm (sock, 0); //  bounded by the log; a drop shows up as a gap
    zsock_set_rcvhwm (sock, 100000);
    zsock_set_linger (sock, 0);
    zsock_set_rcvtimeo (sock, 0);
    zsock_set_sndtimeo (sock, 0);
    if (zsock_bind (sock, "%s:*", host) == -1) {
        zsock_destroy (&sock);
        return NULL;
    }
    char *last = zsock_last_endpoint (sock);
    snprintf (bound, S_ENDPOINT_MAX, "%s", last ? last : "");
    zstr_free (&last);
    return sock;
}

zdex_replicator_t *
zdex_replicator_new (const char *member_id, const char *bind_host, int actor_index, int actor_count,
                     uint32_t partition_count, const zdex_replicator_callbacks_t *callbacks)
{
    assert (member_id && bind_host && callbacks);
    zdex_replicator_t *self = (zdex_replicator_t *) zmalloc (sizeof (zdex_replicator_t));
    assert (self);
    snprintf (self->member_id, sizeof self->member_id, "%s", member_id);
    self->actor_index = actor_index;
    self->actor_count = actor_count;
    self->partition_count = partition_count;
    self->head_ms = S_HEAD_MS;
    self->callbacks = *callbacks;
    char pub[S_ENDPOINT_MAX], control[S_ENDPOINT_MAX];
    self->pub = s_bind (bind_host, ZMQ_PUB, pub);
    self->control = s_bind (bind_host, ZMQ_ROUTER, control);
    self->sub = zsock_new (ZMQ_SUB);
    self->dealers = zdex_hash_table_new ();
    zdex_replicator_set_cluster_name (self, "zdex"); //  the default
    self->pubs = zdex_hash_table_new ();
    self->parts = (s_part_t *) calloc (partition_count, sizeof (s_part_t));
    self->table = zdex_partition_table_new (partition_count, S_MAX_BACKUPS);
    if (!self->pub || !self->control || !self->sub || !self->parts || !self->table) {
        zdex_replicator_destroy (&self);
        return NULL;
    }
    zsock_set_rcvhwm (self->sub, 100000);
    zsock_set_rcvtimeo (self->sub, 0);
    zsock_set_linger (self->sub, 0);
    zsock_set_router_mandatory (self->control, 1);
    zhashx_set_destructor (self->dealers, (zhashx_destructor_fn *) zsock_destroy);
    for (uint32_t partition = 0; partition < partition_count; partition++)
        self->parts[partition].partition = partition;
    snprintf (self->endpoint, sizeof self->endpoint, "%s|%s", pub, control);
    return self;
}

//  Keep in the backlog only what some backup of the table has not acked yet.
static void
s_trim (s_part_t *part)
{
    uint64_t acked = part->backups == 0
                         ? zdex_replica_log_last (part->log)
                         : zdex_replica_acks_durable (part->acks, (int) part->backups);
    zdex_replica_log_trim (part->log, acked);
}

static void
s_release_all (zdex_replicator_t *self, s_part_t *part, bool ok)
{
    if (!part->held)
        return;
    s_held_t *held;
    while ((held = (s_held_t *) zlistx_detach (part->held, NULL))) {
        self->callbacks.release (held->item, ok, self->callbacks.arg);
        free (held);
        self->held_total--;
    }
}

static void
s_part_clear (zdex_replicator_t *self, s_part_t *part)
{
    s_release_all (self, part, false);
    zlistx_destroy (&part->held);
    zdex_replica_log_destroy (&part->log);
    zdex_replica_acks_destroy (&part->acks);
    zdex_replica_destroy (&part->replica);
}

void
zdex_replicator_destroy (zdex_replicator_t **self_p)
{
    assert (self_p);
    zdex_replicator_t *self = *self_p;
    if (self) {
        if (self->parts)
            for (uint32_t partition = 0; partition < self->partition_count; partition++)
                s_part_clear (self, &self->parts[partition]);
        free (self->parts);
        free (self->ack_batches);
        zdex_partition_table_destroy (&self->table);
        json_decref (self->view);
        zhashx_destroy (&self->dealers);
        zhashx_destroy (&self->pubs);
        zsock_destroy (&self->pub);
        zsock_destroy (&self->control);
        zsock_destroy (&self->sub);
        free (self);
        *self_p = NULL;
    }
}

const char *
zdex_replicator_endpoint (zdex_replicator_t *self)
{
    assert (self);
    return self->endpoint;
}

//  The replication endpoints string a member advertises, from the view.
static const char *
s_replication_of (zdex_replicator_t *self, const char *member)
{
    size_t index;
    json_t *entry;
    json_array_foreach (json_object_get (self->view, "members"), index, entry) {
        const char *id = json_string_value (json_object_get (entry, "id"));
        if (id && streq (id, member))
            return json_string_value (json_object_get (entry, "replication"));
    }
    return NULL;
}

//  The DEALER to the control endpoint of the actor owning partition on member.
static zsock_t *
s_control_of (zdex_replicator_t *self, const char *member, uint32_t partition)
{
    const char *replication = s_replication_of (self, member);
    if (!replication || !*replication)
        return NULL;
    //  "pub|control,pub|control,...": entry partition mod count
    size_t count = 1;
    for (const char *c = replication; *c; c++)
        count += *c == ',';
    size_t wanted = partition % count;
    const char *start = replication;
    for (size_t index = 0; index < wanted; index++)
        start = strchr (start, ',') + 1;
    const char *bar = strchr (start, '|');
    const char *end = strchr (start, ',');
    if (!end)
        end = start + strlen (start);
    if (!bar || bar > end)
        return NULL;
    char endpoint[S_ENDPOINT_MAX];
    snprintf (endpoint, sizeof endpoint, "%.*s", (int) (end - bar - 1), bar + 1);
    zsock_t *dealer = (zsock_t *) zhashx_lookup (self->dealers, endpoint);
    if (!dealer) {
        dealer = zsock_new (ZMQ_DEALER);
        assert (dealer);
        char identity[256], suffix[16];
        snprintf (suffix, sizeof suffix, "/%d", self->actor_index);
        zdex_hash_routing_id (identity, "", self->cluster_tag, self->member_id, suffix);
        zsock_set_identity (dealer, identity);
        zsock_set_rcvtimeo (dealer, 0);
        zsock_set_sndtimeo (dealer, 0);
        zsock_set_linger (dealer, 0);
        zsock_set_rcvhwm (dealer, 100000);
        zsock_set_sndhwm (dealer, 100000);
        if (zsock_connect (dealer, "%s", endpoint) != 0) {
            zsock_destroy (&dealer);
            return NULL;
        }
        zhashx_insert (self->dealers, endpoint, dealer);
    }
    return dealer;
}

static void
s_send_control (zdex_replicator_t *self, s_part_t *part, zdex_replica_msg_t *msg)
{
    zsock_t *dealer = s_control_of (self, part->owner, part->partition);
    if (!dealer)
        return;
    zmsg_t *encoded = zdex_replica_encode (msg);
    zdex_waitset_touch (self->waitset, dealer);
    if (encoded && zmsg_send (&encoded, dealer) != 0)
        zmsg_destroy (&encoded);
}

static void
s_fetch (zdex_replicator_t *self, s_part_t *part, uint64_t from)
{
    int64_t now = zclock_mono ();
    if (part->fetch_until > now)
        return;
    part->fetch_until = now + S_FETCH_RETRY_MS;
    part->fetches++;
    zdex_replica_msg_t msg = {.op = ZDEX_REPLICA_FETCH,
                              .partition = part->partition,
                              .epoch = part->epoch,
                              .seq = from,
                              .to_seq = UINT64_MAX};
    s_send_control (self, part, &msg);
}

static void
s_release (zdex_replicator_t *self, s_part_t *part)
{
    s_held_t *held;
    while ((held = (s_held_t *) zlistx_first (part->held))) {
        //  Durability is bounded by the backups there are now: one that died
        //  since the item was held must not keep it (and all behind it) forever.
        int needed = held->needed < (int) part->backups ? held->needed : (int) part->backups;
        if (part->target[0] && needed < 1)
            needed = 1; //  moving: the target must hold whatever is acknowledged
        if (needed > 0 && zdex_replica_acks_durable (part->acks, needed) < held->seq)
            break;
        if (part->heir[0] && zdex_replica_acks_acked (part->acks, part->heir) < held->seq)
            break;
        //  The backup promoted on our death is the first one: whatever the count,
        //  it must be among those holding the change (an executor with less
        //  durability than the partition has backups would otherwise be satisfied
        //  by a backup that is not the one promoted).
        if (needed > 0 && zdex_replica_acks_acked (part->acks, part->first_backup) < held->seq)
            break;
        zlistx_detach (part->held, NULL);
        self->callbacks.release (held->item, true, self->callbacks.arg);
        free (held);
        self->held_total--;
    }
}

//  The topic a partition's stream messages carry on the PUB: the replica topic
//  ('R', partition) and the cluster's tag, so that a SUB still connected to a
//  dead member's port never takes in what another cluster's member, bound there
//  since, publishes for a partition and epoch that happen to match ours.
#define S_STREAM_TOPIC_SIZE (ZDEX_REPLICA_TOPIC_SIZE + 4)

static void
s_stream_topic (zdex_replicator_t *self, uint32_t partition, byte topic[S_STREAM_TOPIC_SIZE])
{
    zdex_replica_topic (partition, topic);
    for (int index = 0; index < 4; index++)
        topic[ZDEX_REPLICA_TOPIC_SIZE + index] = (byte) (self->cluster_tag >> (24 - 8 * index));
}

static void
s_subscribe (zdex_replicator_t *self, uint32_t partition, bool on)
{
    byte topic[S_STREAM_TOPIC_SIZE];
    s_stream_topic (self, partition, topic);
    zmq_setsockopt (zsock_resolve (self->sub), on ? ZMQ_SUBSCRIBE : ZMQ_UNSUBSCRIBE, topic,
                    sizeof topic);
}

static void
s_demote (zdex_replicator_t *self, s_part_t *part)
{
    s_release_all (self, part, false);
    zlistx_destroy (&part->held);
    zdex_replica_log_destroy (&part->log);
    zdex_replica_acks_destroy (&part->acks);
    part->target[0] = '\0';
    part->heir[0] = '\0';
    part->pause_at = 0;
    self->callbacks.demoted (part->partition, self->callbacks.arg);
    part->role = S_NONE;
}

static void
s_set_backups (s_part_t *part, zdex_partition_table_t *table)
{
    const char *target = zdex_partition_table_move_target (table, part->partition);
    if (!target)
        part->target[0] = '\0';
    else if (!streq (target, part->target)) {
        snprintf (part->target, sizeof part->target, "%s", target);
        part->move_from = zdex_replica_log_last (part->log);
        part->ready_at = 0;
        part->pause_at = 0;
    }
    const char *backups[S_MAX_BACKUPS];
    size_t count = zdex_partition_table_backup_count (table, part->partition);
    if (count > S_MAX_BACKUPS)
        count = S_MAX_BACKUPS;
    for (size_t index = 0; index < count; index++)
        backups[index] = zdex_partition_table_backup (table, part->partition, index);
    zdex_replica_acks_set_backups (part->acks, backups, count);
    part->backups = count;
    snprintf (part->first_backup, sizeof part->first_backup, "%s", count ? backups[0] : "");
    snprintf (part->heir, sizeof part->heir, "%s", target && count > 1 ? backups[1] : "");
}

//  The hand-over of a moving partition, in two steps.  Once the target holds
//  what we had when the move began, new requests wait (the actor queues them:
//  zdex_replicator_paused) so that the stream stops growing; once the target
//  acked all of it and nothing is held, tell the master, which makes the target
//  the owner, and the queued requests go to it.  Repeated after a second in case
//  the report was lost; a pause longer than S_PAUSE_MS (a master that does not
//  answer) lets the queued requests through and starts over.
static void
s_check_move (zdex_replicator_t *self, s_part_t *part, int64_t now)
{
    if (part->role != S_PRIMARY || !part->target[0] || !self->callbacks.move_ready) {
        part->pause_at = 0;
        return;
    }
    if (!zdex_replica_acks_heard (part->acks, part->target) ||
        zdex_replica_acks_acked (part->acks, part->target) < part->move_from)
        return;
    if (part->pause_at && now - part->pause_at > S_PAUSE_MS) {
        part->pause_at = 0;
        return;
    }
    if (!part->pause_at)
        part->pause_at = now;
    if (zdex_replica_acks_acked (part->acks, part->target) < zdex_replica_log_last (part->log) ||
        zlistx_size (part->held) > 0)
        return;
    if (part->ready_at && now - part->ready_at < 1000)
        return;
    part->ready_at = now;
    self->callbacks.move_ready (part->partition, part->epoch, part->target, self->callbacks.arg);
}

bool
zdex_replicator_paused (zdex_replicator_t *self, uint32_t partition)
{
    assert (self);
    if (partition >= self->partition_count)
        return false;
    s_part_t *part = &self->parts[partition];
    if (part->pause_at && zclock_mono () - part->pause_at > S_PAUSE_MS)
        s_check_move (self, part, zclock_mono ());
    return part->role == S_PRIMARY && part->target[0] && part->pause_at != 0;
}

static void
s_update_part (zdex_replicator_t *self, s_part_t *part)
{
    zdex_partition_table_t *table = self->table;
    uint32_t partition = part->partition;
    const char *owner = zdex_partition_table_owner (table, partition);
    uint64_t epoch = zdex_partition_table_epoch (table, partition);
    bool backup = false;
    for (size_t index = 0; index < zdex_partition_table_backup_count (table, partition); index++)
        backup |= streq (zdex_partition_table_backup (table, partition, index), self->member_id);
    if (owner && streq (owner, self->member_id)) {
        if (part->role != S_PRIMARY || part->epoch != epoch) {
            zhashx_t *rings = NULL;
            zlistx_t *records = NULL;
            if (part->role == S_BACKUP) {
                s_subscribe (self, partition, false);
                records = zdex_replica_take_records (part->replica);
                rings = zdex_replica_take_rings (part->replica);
                zdex_replica_destroy (&part->replica);
            }
            bool was_primary = part->role == S_PRIMARY;
            if (was_primary)
                s_release_all (self, part, false); //  new epoch: acks start over
            if (!part->log) {
                part->log = zdex_replica_log_new (partition, S_LOG_MESSAGES, S_LOG_BYTES);
                part->acks = zdex_replica_acks_new (epoch);
                part->held = zlistx_new ();
                assert (part->log && part->acks && part->held);
            }
            zdex_replica_log_reset (part->log, epoch, 0);
            zdex_replica_acks_reset (part->acks, epoch);
            part->target[0] = '\0'; //  a move seen at another epoch starts over
            part->role = S_PRIMARY;
            part->epoch = epoch;
            snprintf (part->owner, sizeof part->owner, "%s", owner);
            s_set_backups (part, table);
            //  Primary before the callback, so that what it publishes (the
            //  re-dispatched attempts) goes on the new stream.
            if (!was_primary)
                self->callbacks.promoted (partition, rings, records, self->callbacks.arg);
            else
                zlistx_destroy (&records);
        }
        snprintf (part->owner, sizeof part->owner, "%s", owner);
        s_set_backups (part, table);
        s_release (self, part);
        s_check_move (self, part, zclock_mono ());
        return;
    }
    zlistx_t *seed = NULL;
    if (part->role == S_PRIMARY) {
        //  Moved away and now a backup of the new owner: keep what we had as the
        //  replica until the new owner's snapshot replaces it.  Starting empty
        //  would leave the partition with one real copy (and none if the new
        //  owner died before we resynced).
        if (backup && owner) {
            zhashx_t *rings = self->callbacks.rings (partition, self->callbacks.arg);
            zlistx_t *records = self->callbacks.records (partition, self->callbacks.arg);
            seed = zdex_replica_snapshot (partition, part->epoch, zdex_replica_log_last (part->log),
                                          rings, records);
            zhashx_destroy (&rings);
            zlistx_destroy (&records);
        }
        s_demote (self, part);
    }
    if (backup && owner) {
        if (part->role != S_BACKUP) {
            part->replica = zdex_replica_new (partition);
            assert (part->replica);
            zmsg_t *encoded;
            while (seed && (encoded = (zmsg_t *) zlistx_detach (seed, NULL))) {
                zdex_replica_msg_t msg;
                if (zdex_replica_decode (encoded, &msg) == 0) {
                    zdex_replica_apply (part->replica, &msg);
                    zdex_replica_msg_reset (&msg);
                }
                zmsg_destroy (&encoded);
            }
            s_subscribe (self, partition, true);
            part->role = S_BACKUP;
            part->backup_since = zclock_mono ();
            part->received = 0;
            part->fetches = 0;
        }
        zlistx_destroy (&seed);
        if (!streq (part->owner, owner) || part->epoch != epoch)
            part->fetch_until = 0; //  a new primary: the next HEAD starts a resync
        snprintf (part->owner, sizeof part->owner, "%s", owner);
        part->epoch = epoch;
        return;
    }
    zlistx_destroy (&seed);
    if (part->role == S_BACKUP) {
        s_subscribe (self, partition, false);
        zdex_replica_destroy (&part->replica);
    }
    part->role = S_NONE;
    part->owner[0] = '\0';
    part->epoch = epoch;
}

void
zdex_replicator_update (zdex_replicator_t *self, const char *table_json, const char *view_json)
{
    assert (self);
    json_t *view = json_loads (view_json, JSON_REJECT_DUPLICATES, NULL);
    if (view) {
        json_decref (self->view);
        self->view = view;
    }
    //  Connect the SUB to every other member's PUBs.
    size_t index;
    json_t *entry;
    json_array_foreach (json_object_get (self->view, "members"), index, entry) {
        const char *id = json_string_value (json_object_get (entry, "id"));
        const char *replication = json_string_value (json_object_get (entry, "replication"));
        if (!id || streq (id, self->member_id) || !replication)
            continue;
        char *copy = strdup (replication);
        char *rest = NULL; //  strtok_r: strtok's state is shared by every thread
        for (char *item = strtok_r (copy, ",", &rest); item; item = strtok_r (NULL, ",", &rest)) {
            char *bar = strchr (item, '|');
            if (bar)
                *bar = '\0';
            if (*item && !zhashx_lookup (self->pubs, item) &&
                zsock_connect (self->sub, "%s", item) == 0) {
                zhashx_insert (self->pubs, item, (void *) 1);
                zdex_waitset_touch (self->waitset, self->sub); //  connect takes in commands
            }
        }
        free (copy);
    }
    if (table_json && zdex_partition_table_from_json (self->table, table_json) != 0)
        return;
    if (zdex_partition_table_version (self->table) == 0)
        return;
    for (uint32_t partition = 0; partition < self->partition_count; partition++)
        if (s_ours (self, partition))
            s_update_part (self, &self->parts[partition]);
}

bool
zdex_replicator_is_primary (zdex_replicator_t *self, uint32_t partition)
{
    assert (self);
    return partition < self->partition_count && self->parts[partition].role == S_PRIMARY;
}

uint64_t
zdex_replicator_last_seq (zdex_replicator_t *self, uint32_t partition)
{
    assert (self);
    s_part_t *part = &self->parts[partition];
    return part->role == S_PRIMARY ? zdex_replica_log_last (part->log) : 0;
}

size_t
zdex_replicator_backups (zdex_replicator_t *self, uint32_t partition)
{
    assert (self);
    return partition < self->partition_count ? self->parts[partition].backups : 0;
}

//  A stream message on the PUB: the topic, then the packed frame (CLUSTER.md
//  6.1).  Takes packed unless reuse (then it stays the caller's).
static void
s_publish (zdex_replicator_t *self, uint32_t partition, zframe_t **packed_p, bool reuse)
{
    byte topic[S_STREAM_TOPIC_SIZE];
    s_stream_topic (self, partition, topic);
    if (zmq_send (zsock_resolve (self->pub), topic, sizeof topic, ZMQ_SNDMORE) == -1 ||
        zframe_send (packed_p, self->pub, reuse ? ZFRAME_REUSE : 0) != 0)
        if (!reuse)
            zframe_destroy (packed_p);
}

uint64_t
zdex_replicator_publish (zdex_replicator_t *self, uint32_t partition, zdex_replica_msg_t *msg)
{
    assert (self);
    s_part_t *part = &self->parts[partition];
    if (part->role != S_PRIMARY)
        return 0;
    if (part->backups == 0) {
        //  Nobody applies it and a later backup starts from a snapshot: a single
        //  member spent 7 % of its work encoding records only to drop them.
        zdex_replica_log_skip (part->log, msg);
        self->published++;
        return msg->seq;
    }
    bool kept;
    zframe_t *encoded = zdex_replica_log_append (part->log, msg, &kept);
    if (!encoded)
        return 0;
    self->published++;
    part->published_at = zclock_mono ();
    part->nudge_gap = 0;
    //  The drop is a test hook: lost on the way, repaired by FETCH.
    if (self->drop_every == 0 || self->published % (uint64_t) self->drop_every != 0)
        s_publish (self, partition, &encoded, kept);
    if (!kept)
        zframe_destroy (&encoded);
    return msg->seq;
}

void
zdex_replicator_hold (zdex_replicator_t *self, uint32_t partition, uint64_t seq, int needed,
                      void *item)
{
    assert (self);
    s_part_t *part = &self->parts[partition];
    if (needed > (int) part->backups)
        needed = (int) part->backups; //  durability is bounded by the members there are
    if (part->role != S_PRIMARY || seq == 0) {
        self->callbacks.release (item, part->role == S_PRIMARY, self->callbacks.arg);
        return;
    }
    if (needed <= 0 && zlistx_size (part->held) == 0 && !part->target[0]) {
        self->callbacks.release (item, true, self->callbacks.arg);
        return;
    }
    s_held_t *held = (s_held_t *) zmalloc (sizeof (s_held_t));
    assert (held);
    held->seq = seq;
    held->needed = needed;
    held->item = item;
    held->since = zclock_mono ();
    zlistx_add_end (part->held, held);
    self->held_total++;
    s_release (self, part);
}

size_t
zdex_replicator_sockets (zdex_replicator_t *self, void **sockets, size_t max)
{
    assert (self);
    size_t count = 0;
    if (count < max)
        sockets[count++] = self->control;
    if (count < max)
        sockets[count++] = self->sub;
    zsock_t *dealer = (zsock_t *) zhashx_first (self->dealers);
    while (dealer && count < max) {
        sockets[count++] = dealer;
        dealer = (zsock_t *) zhashx_next (self->dealers);
    }
    return count;
}

static void s_on_decoded (zdex_replicator_t *self, zdex_replica_msg_t *msg);

//  A stream message, from a fetch answer (zmsg) or the SUB (topic and packed).
static void
s_on_stream (zdex_replicator_t *self, zmsg_t *encoded)
{
    zdex_replica_msg_t msg;
    if (zdex_replica_decode (encoded, &msg) == 0)
        s_on_decoded (self, &msg);
}

//  Stream messages on the SUB, read as zmq messages (topic, packed) and decoded
//  where they lie: a zmsg for each was a tenth of a backup's work.  Returns false
//  when none is waiting.
static bool
s_recv_published (zdex_replicator_t *self)
{
    zmq_msg_t parts[2];
    bool whole;
    size_t count = zdex_msg_recv_parts (zsock_resolve (self->sub), parts, 2, &whole);
    if (count == 0)
        return false;
    //  The subscription matched the topic's prefix; the whole topic must be ours.
    zdex_replica_msg_t msg;
    byte topic[S_STREAM_TOPIC_SIZE];
    if (count == 2 && whole && zmq_msg_size (&parts[0]) == S_STREAM_TOPIC_SIZE) {
        const byte *got = (const byte *) zmq_msg_data (&parts[0]);
        uint32_t partition = (uint32_t) got[1] << 24 | (uint32_t) got[2] << 16 |
                             (uint32_t) got[3] << 8 | (uint32_t) got[4];
        s_stream_topic (self, partition, topic);
        if (memcmp (got, topic, S_STREAM_TOPIC_SIZE) == 0 &&
            zdex_replica_decode_packed (got, ZDEX_REPLICA_TOPIC_SIZE,
                                        (const byte *) zmq_msg_data (&parts[1]),
                                        zmq_msg_size (&parts[1]), &msg) == 0)
            s_on_decoded (self, &msg);
    }
    for (size_t index = 0; index < count; index++)
        zmq_msg_close (&parts[index]);
    return true;
}

static void
s_on_decoded (zdex_replicator_t *self, zdex_replica_msg_t *decoded)
{
    zdex_replica_msg_t msg = *decoded;
    if (msg.partition >= self->partition_count) {
        zdex_replica_msg_reset (&msg);
        return;
    }
    s_part_t *part = &self->parts[msg.partition];
    if (part->role != S_BACKUP || msg.epoch < part->epoch) {
        zdex_replica_msg_reset (&msg); //  not ours, or an old primary
        return;
    }
    part->received++;
    zdex_replica_result_t result = zdex_replica_apply (part->replica, &msg);
    switch (result) {
    case ZDEX_REPLICA_DUPLICATE:
        //  Up to date.  ACKs can be lost (or refused by a primary that has not yet
        //  installed the table naming us), so the ack is repeated on the primary's
        //  HEADs, at most every 5 ms: a primary sends an early HEAD when a reply
        //  waits on a quiet stream, and the client waits for this very ack.
        if (msg.op == ZDEX_REPLICA_HEAD && zclock_mono () - part->acked_at >= S_NUDGE_MS / 2)
            part->ack_due = true;
        break;
    case ZDEX_REPLICA_APPLIED:
        part->ack_due = true;
        if (msg.op == ZDEX_REPLICA_SNAPSHOT_END)
            part->fetch_until = 0;
        break;
    case ZDEX_REPLICA_GAP:
        s_fetch (self, part, zdex_replica_applied (part->replica) + 1);
        break;
    case ZDEX_REPLICA_NEW_EPOCH:
    case ZDEX_REPLICA_DIVERGED:
        s_fetch (self, part, 0);
        break;
    default:
        break;
    }
    zdex_replica_msg_reset (&msg);
}

//  The ACKs of one pass travel together: one frame per control socket for all
//  the partitions it serves (CLUSTER.md 6.1), so that a busy stream costs one
//  send and one receive per pass instead of three frames per partition.
#define S_ACK_SOCKETS 16

//  The control socket for a partition's ACK, remembered for the pass: finding
//  it from the view costs more than the ACK itself.  An owner's partition p
//  goes to entry p mod n of its replication string (n entries).
typedef struct {
    const char *owner;
    size_t entries;
    uint32_t residue;
    zsock_t *dealer;
} s_ack_memo_t;

static zsock_t *
s_ack_control (zdex_replicator_t *self, s_part_t *part, s_ack_memo_t *memo, size_t *count_p)
{
    size_t entries = 0;
    for (size_t index = 0; index < *count_p && !entries; index++)
        if (streq (memo[index].owner, part->owner))
            entries = memo[index].entries;
    if (!entries) {
        const char *replication = s_replication_of (self, part->owner);
        if (!replication || !*replication)
            return NULL;
        entries = 1;
        for (const char *c = replication; *c; c++)
            entries += *c == ',';
    }
    uint32_t residue = part->partition % (uint32_t) entries;
    for (size_t index = 0; index < *count_p; index++)
        if (memo[index].residue == residue && streq (memo[index].owner, part->owner))
            return memo[index].dealer;
    zsock_t *dealer = s_control_of (self, part->owner, part->partition);
    if (dealer && *count_p < S_ACK_SOCKETS)
        memo[(*count_p)++] = (s_ack_memo_t){part->owner, entries, residue, dealer};
    return dealer;
}

static void
s_send_acks (zdex_replicator_t *self)
{
    zsock_t *dealers[S_ACK_SOCKETS];
    zdex_replica_ack_t *batches[S_ACK_SOCKETS];
    size_t sizes[S_ACK_SOCKETS];
    size_t count = 0;
    s_ack_memo_t memo[S_ACK_SOCKETS];
    size_t memo_count = 0;
    int64_t now = 0;
    for (uint32_t partition = 0; partition < self->partition_count; partition++) {
        s_part_t *part = &self->parts[partition];
        if (part->role != S_BACKUP || !part->ack_due)
            continue;
        part->ack_due = false;
        if (zdex_replica_state (part->replica) != ZDEX_REPLICA_STATE_LIVE)
            continue;
        if (!now)
            now = zclock_mono ();
        part->acked_at = now;
        zsock_t *dealer = s_ack_control (self, part, memo, &memo_count);
        if (!dealer)
            continue;
        size_t index = 0;
        while (index < count && dealers[index] != dealer)
            index++;
        if (index == count) {
            if (count == S_ACK_SOCKETS) {
                part->ack_due = true; //  next pass (never with the members there are)
                continue;
            }
            if (!self->ack_batches) {
                self->ack_batches = (zdex_replica_ack_t *) malloc (
                    (size_t) S_ACK_SOCKETS * self->partition_count * sizeof (zdex_replica_ack_t));
                assert (self->ack_batches);
            }
            batches[count] = self->ack_batches + count * self->partition_count;
            dealers[count] = dealer;
            sizes[count++] = 0;
        }
        batches[index][sizes[index]++] =
            (zdex_replica_ack_t){.partition = partition,
                                 .epoch = zdex_replica_epoch (part->replica),
                                 .seq = zdex_replica_applied (part->replica)};
    }
    for (size_t index = 0; index < count; index++) {
        zframe_t *frame = zdex_replica_acks_encode (self->member_id, batches[index], sizes[index]);
        zdex_waitset_touch (self->waitset, dealers[index]);
        if (frame && zframe_send (&frame, dealers[index], 0) != 0)
            zframe_destroy (&frame);
    }
}

static void
s_on_ack (zdex_replicator_t *self, s_part_t *part, const char *member, uint64_t epoch, uint64_t seq)
{
    if (zdex_replica_acks_update (part->acks, member, epoch, seq) == 1) {
        s_release (self, part);
        s_trim (part);
        s_check_move (self, part, zclock_mono ());
    }
}

//  A FETCH or ACK from a backup on the control ROUTER.
static void
s_on_control_one (zdex_replicator_t *self, zframe_t *identity, zmsg_t *encoded)
{
    zdex_replica_msg_t msg;
    if (zdex_replica_decode (encoded, &msg) != 0)
        return;
    s_part_t *part = msg.partition < self->partition_count ? &self->parts[msg.partition] : NULL;
    if (part && part->role == S_PRIMARY) {
        if (msg.op == ZDEX_REPLICA_ACK && msg.member)
            s_on_ack (self, part, msg.member, msg.epoch, msg.seq);
        else if (msg.op == ZDEX_REPLICA_FETCH) {
            zlistx_t *answer = zdex_replica_log_fetch (part->log, msg.epoch, msg.seq, msg.to_seq);
            if (!answer) {
                zhashx_t *rings = self->callbacks.rings (msg.partition, self->callbacks.arg);
                zlistx_t *records = self->callbacks.records (msg.partition, self->callbacks.arg);
                answer = zdex_replica_snapshot (msg.partition, part->epoch,
                                                zdex_replica_log_last (part->log), rings, records);
                zhashx_destroy (&rings);
                zlistx_destroy (&records);
            }
            zmsg_t *reply;
            while (answer && (reply = (zmsg_t *) zlistx_detach (answer, NULL))) {
                zframe_t *copy = zframe_dup (identity);
                zmsg_prepend (reply, &copy);
                if (zmsg_send (&reply, self->control) != 0)
                    zmsg_destroy (&reply);
            }
            zdex_waitset_touch (self->waitset, self->control);
            zlistx_destroy (&answer);
        }
    }
    zdex_replica_msg_reset (&msg);
}

//  What arrived on the control ROUTER: a FETCH, an ACK, or a batch of ACKs in
//  one frame (see s_send_acks).
static void
s_on_control (zdex_replicator_t *self, zmsg_t *encoded)
{
    zframe_t *identity = zmsg_pop (encoded);
    if (!identity)
        return;
    //  Only our cluster's DEALERs (their routing ids start with our tag): a
    //  backup of another cluster on this host, reconnecting to a port one of its
    //  dead members had, would otherwise get its ACKs counted for our member of
    //  the same id (replies released with no copy made) and our snapshots.
    if (zframe_size (identity) < 9 || memcmp (zframe_data (identity), self->tag_text, 8) != 0 ||
        (zframe_data (identity)[8] != ':' && zframe_data (identity)[8] != '#')) {
        zframe_destroy (&identity);
        return;
    }
    const char *member;
    size_t count =
        zmsg_size (encoded) == 1 ? zdex_replica_acks_decode (zmsg_first (encoded), &member) : 0;
    for (size_t index = 0; index < count; index++) {
        zdex_replica_ack_t ack;
        zdex_replica_acks_entry (zmsg_first (encoded), index, &ack);
        s_part_t *part = ack.partition < self->partition_count ? &self->parts[ack.partition] : NULL;
        if (part && part->role == S_PRIMARY)
            s_on_ack (self, part, member, ack.epoch, ack.seq);
    }
    if (count == 0)
        s_on_control_one (self, identity, encoded);
    zframe_destroy (&identity);
}

void
zdex_replicator_recv (zdex_replicator_t *self)
{
    assert (self);
    zmsg_t *msg;
    int limit = zdex_waitset_ready (self->waitset, self->control) ? S_BATCH_MAX : 0;
    for (int count = 0; count < limit; count++) {
        if (!(msg = zmsg_recv (self->control))) {
            zdex_waitset_drained (self->waitset, self->control);
            break;
        }
        s_on_control (self, msg);
        zmsg_destroy (&msg);
    }
    limit = zdex_waitset_ready (self->waitset, self->sub) ? S_BATCH_MAX : 0;
    for (int count = 0; count < limit; count++)
        if (!s_recv_published (self)) {
            zdex_waitset_drained (self->waitset, self->sub);
            break;
        }
    zsock_t *dealer = (zsock_t *) zhashx_first (self->dealers);
    while (dealer) {
        limit = zdex_waitset_ready (self->waitset, dealer) ? S_BATCH_MAX : 0;
        for (int count = 0; count < limit; count++) {
            if (!(msg = zmsg_recv (dealer))) {
                zdex_waitset_drained (self->waitset, dealer);
                break;
            }
            s_on_stream (self, msg);
            zmsg_destroy (&msg);
        }
        dealer = (zsock_t *) zhashx_next (self->dealers);
    }
    s_send_acks (self);
}

void
zdex_replicator_set_waitset (zdex_replicator_t *self, zdex_waitset_t *waitset)
{
    assert (self);
    self->waitset = waitset;
}

int
zdex_replicator_timeout (zdex_replicator_t *self)
{
    assert (self);
    int64_t next = self->next_head;
    if (self->held_total > 0 && self->next_nudge < next)
        next = self->next_nudge;
    int64_t left = next - zclock_mono ();
    return left < 0 ? 0 : (int) left;
}

//  A HEAD for partition: the backups learn how far the stream goes.
static void
s_head (zdex_replicator_t *self, s_part_t *part)
{
    zdex_replica_msg_t head = {.op = ZDEX_REPLICA_HEAD,
                               .partition = part->partition,
                               .epoch = zdex_replica_log_epoch (part->log),
                               .seq = zdex_replica_log_last (part->log)};
    zframe_t *packed = zdex_replica_encode_packed (&head);
    if (packed)
        s_publish (self, part->partition, &packed, false);
}

//  The early HEADs (see the top of the file): what a held item waits for was
//  lost when nothing has followed it for S_NUDGE_MS, and the 200 ms HEAD would
//  leave the client waiting that long.
static void
s_nudge (zdex_replicator_t *self, int64_t now)
{
    for (uint32_t partition = 0; partition < self->partition_count; partition++) {
        s_part_t *part = &self->parts[partition];
        if (part->role != S_PRIMARY || part->backups == 0 || zlistx_size (part->held) == 0)
            continue;
        s_held_t *oldest = (s_held_t *) zlistx_first (part->held);
        int64_t gap = part->nudge_gap ? part->nudge_gap : S_NUDGE_MS;
        if (now - oldest->since >= S_NUDGE_MS && now - part->published_at >= S_NUDGE_MS &&
            now - part->nudged_at >= gap) {
            //  A backup that is gone (until the table says so) is not nudged
            //  100 times a second: the gap doubles up to the HEAD period.
            part->nudged_at = now;
            part->nudge_gap = gap * 2 < self->head_ms ? gap * 2 : self->head_ms;
            s_head (self, part);
        }
    }
}

void
zdex_replicator_tick (zdex_replicator_t *self)
{
    assert (self);
    int64_t now = zclock_mono ();
    if (self->held_total > 0 && now >= self->next_nudge) {
        self->next_nudge = now + S_NUDGE_MS / 2;
        s_nudge (self, now);
    }
    if (now < self->next_head)
        return;
    self->next_head = now + self->head_ms;
    for (uint32_t partition = 0; partition < self->partition_count; partition++) {
        s_part_t *part = &self->parts[partition];
        s_held_t *oldest = part->held ? (s_held_t *) zlistx_first (part->held) : NULL;
        if (oldest && oldest->since > 0 && now - oldest->since > 5000) {
            zsys_warning ("replication: partition %" PRIu32 " (epoch %" PRIu64
                          ") has held a reply for %" PRId64 " ms: seq %" PRIu64
                          ", %d of %zu backups needed, durable up to %" PRIu64,
                          partition, part->epoch, now - oldest->since, oldest->seq, oldest->needed,
                          part->backups, zdex_replica_acks_durable (part->acks, oldest->needed));
            oldest->since = 0; //  once
        }
        if (part->role == S_BACKUP && part->replica && part->backup_since > 0 &&
            zdex_replica_state (part->replica) != ZDEX_REPLICA_STATE_LIVE &&
            now - part->backup_since > 5000) {
            zsys_warning ("replication: backup of partition %" PRIu32 " (epoch %" PRIu64
                          ") from %s not live after %" PRId64 " ms: state %d, %" PRIu64
                          " message(s) received, %" PRIu64 " fetch(es) sent, control %s",
                          partition, part->epoch, part->owner, now - part->backup_since,
                          (int) zdex_replica_state (part->replica), part->received, part->fetches,
                          s_control_of (self, part->owner, partition) ? "known" : "unknown");
            part->backup_since = 0; //  once
        }
        s_check_move (self, part, now);
        if (part->role == S_PRIMARY && part->backups > 0)
            s_head (self, part);
    }
}

void
zdex_replicator_set_cluster_name (zdex_replicator_t *self, const char *name)
{
    assert (self);
    assert (name);
    assert (zhashx_size (self->dealers) == 0);
    self->cluster_tag = zdex_hash_fnv1a (name, strlen (name));
    snprintf (self->tag_text, sizeof self->tag_text, "%08" PRIx32, self->cluster_tag);
}

void
zdex_replicator_set_head_ms (zdex_replicator_t *self, int ms)
{
    assert (self);
    assert (ms > 0);
    self->head_ms = ms;
}

void
zdex_replicator_set_drop_every (zdex_replicator_t *self, int n)
{
    assert (self);
    self->drop_every = n;
}
