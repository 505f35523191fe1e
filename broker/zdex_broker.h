//  zdex_broker: a member's main actor: the client front end, the router to the
//  partition actors, and the home of the worker dispatcher.
//
//  Create it with a loaded configuration; it binds the member's endpoints and starts
//  the partition actors.  Then send "ENDPOINTS" on the actor to learn how it went:
//  the reply is either "OK", client endpoint, worker endpoint, cluster endpoint (as
//  bound, with ephemeral ports resolved), or "ERROR", message.  zactor_destroy stops
//  the member: partition actors first, then the dispatcher, then the sockets.

#ifndef ZDEX_BROKER_H_INCLUDED
#define ZDEX_BROKER_H_INCLUDED

#include "zdex_config.h"

#include <czmq.h>

#ifdef __cplusplus
extern "C" {
#endif

//  Start a member.  config is borrowed and must outlive the actor.  Caller owns.
zactor_t *zdex_broker_new (zdex_config_t *config);

#ifdef __cplusplus
}
#endif

#endif
