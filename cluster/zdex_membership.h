//  zdex_membership: the cluster membership actor of one member.
//
//  It joins the cluster through seed endpoints (or founds it, with no seeds),
//  heartbeats every other member, and follows the master's views and partition
//  tables; on the master it admits members, removes silent ones and computes the
//  tables; when the master falls silent, the oldest surviving member takes over.
//  The protocol and state machine are described at the top of zdex_membership.c.
//
//  Messages from the actor to its parent, each starting with its type (events can
//  arrive at any time, also before the reply to a command, so dispatch by type).
//  The parent must keep reading them: the pipe queue is bounded, and a full pipe
//  would stall the actor and its heartbeats.
//      "VIEW", json      the view changed: {"view_version":n,"master":id,
//                        "members":[{"id","age","client","worker","cluster",
//                        "replication"}, ...]} oldest first.  A view that does not
//                        list this member means it was removed and is rejoining.
//      "TABLE", json     the partition table changed (zdex_partition_table JSON;
//                        install it with zdex_partition_table_from_json).  A
//                        partition in "lost" lost every replica in this change.
//      "HEARD", ms       a message from another member of the view arrived at
//                        zclock_mono () ms (at most every quarter heartbeat; none
//                        for a heartbeat after a stall of this process): the
//                        parent's lease on its partitions runs from the last one
//                        (a member that hears nobody may have been removed
//                        without knowing it).
//      "ENDPOINT", ep    reply to "ENDPOINT": the bound cluster endpoint
//                        (ephemeral port resolved), or
//      "ERROR", text     reply to "ENDPOINT" when the actor could not start (bad
//                        member id, bind failure); it then only waits for $TERM.
//  Commands from the parent:
//      "ENDPOINT"        as above
//      "LEAVE"           leave gracefully: a member tells the master, which removes
//                        it at once; the master hands the cluster to the next
//                        oldest.  The actor then stays silent until $TERM.
//      "$TERM"           stop (zactor_destroy).  Without LEAVE first this looks
//                        like a crash to the others.

#ifndef ZDEX_MEMBERSHIP_H_INCLUDED
#define ZDEX_MEMBERSHIP_H_INCLUDED

#include <czmq.h>

#ifdef __cplusplus
extern "C" {
#endif

#define ZDEX_MEMBERSHIP_HEARTBEAT_MS 250
#define ZDEX_MEMBERSHIP_TIMEOUT_MS   1500
#define ZDEX_MEMBERSHIP_ID_MAX       255 //  a member id is also a ZeroMQ routing id

//  What the actor is started with.  Copied before zdex_membership_new returns.
typedef struct {
    const char *member_id;            //  1..255 bytes, unique in the cluster
    const char *cluster_name;         //  NULL: "zdex"; every message carries it and a
                                      //  message of another name is dropped, so that
                                      //  clusters sharing a host never merge
    const char *cluster_endpoint;     //  bound as a ROUTER; tcp://127.0.0.1:* works
    const char *client_endpoint;      //  advertised in views as given
    const char *worker_endpoint;      //  advertised in views as given
    const char *replication_endpoint; //  advertised in views as given; NULL = ""
    const char **seeds;               //  cluster endpoints to join through
    size_t seed_count;                //  0: found a one-member cluster
    int heartbeat_ms;                 //  0: ZDEX_MEMBERSHIP_HEARTBEAT_MS
    int timeout_ms;                   //  0: ZDEX_MEMBERSHIP_TIMEOUT_MS
    uint32_t partition_count;         //  0: 271
    size_t max_backups;
    bool verbose;        //  log view changes with zsys_info
    bool hold_primaries; //  see zdex_partition_table_set_hold_primaries
    bool rebalance;      //  with hold_primaries: plan moves (zdex_partition_table_plan_moves)
} zdex_membership_args_t;

//  Start the membership actor.  Caller owns; destroy with zactor_destroy.
zactor_t *zdex_membership_new (const zdex_membership_args_t *args);

#ifdef __cplusplus
}
#endif

#endif
