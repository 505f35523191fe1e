//  zdex_waitset: waits on a changing set of libzmq sockets with as few system calls
//  as libzmq's edge-triggered ZMQ_FD allows.
//
//  zmq_poll, and the receive-everything loop it stands for, ask every socket for
//  ZMQ_EVENTS on every pass; on a socket with no pending commands that is a poll()
//  and a getpid() inside libzmq.  A member polls ten or more sockets, so at low load
//  most of its system calls were these checks (about 25 per pass, for the one or
//  two sockets that had anything).  The waitset asks ZMQ_EVENTS only of a socket
//  whose descriptor cannot be trusted: one that was read or written since its last
//  check.  Any other socket has no pending commands, so its ZMQ_FD fires on
//  anything new, and one poll() over all descriptors covers it.
//
//  The rule the owner keeps: read only the sockets zdex_waitset_ready names, and
//  call zdex_waitset_touch for every send on a socket in the set, next to the send
//  (a send may take in the command that announced a message, and its descriptor
//  then stays quiet).
//  A socket named ready counts as touched.  A NULL waitset means "every socket is
//  ready", so code shared with loops that do not use one needs no second path.

#ifndef ZDEX_WAITSET_H_INCLUDED
#define ZDEX_WAITSET_H_INCLUDED

#include <czmq.h>
#include <stdbool.h>

typedef struct _zdex_waitset_t zdex_waitset_t;

#define ZDEX_WAITSET_MAX 64 //  sockets in one wait

zdex_waitset_t *zdex_waitset_new (void);
void zdex_waitset_destroy (zdex_waitset_t **self_p);

//  Wait until a socket of sockets[0..count) may have a message, or timeout_ms
//  passes (-1: no limit).  Sockets are zsock_t or libzmq handles; the set may
//  differ from call to call (a new socket is checked first).  Returns 1 when some
//  socket is ready, 0 when none is (timeout, or a signal), -1 on error (errno).
int zdex_waitset_wait (zdex_waitset_t *self, void **sockets, size_t count, int timeout_ms);

//  True if the last wait named socket ready (may have input: read it until it
//  says EAGAIN), or it was not in that wait's set, or self is NULL.
bool zdex_waitset_ready (zdex_waitset_t *self, void *socket);

//  The socket was used since the last wait in a way that may have taken in its
//  pending commands (a send, a read that stopped before EAGAIN): the next wait
//  asks libzmq about it.  NULL self, or a socket not in the set: nothing.
void zdex_waitset_touch (zdex_waitset_t *self, void *socket);

//  A read of socket just failed with EAGAIN (checked here: nothing happens
//  otherwise): libzmq took in its pending commands on the way, so its descriptor
//  can be trusted again until the next touch.  Saves asking about a socket that
//  was read dry.  NULL self, or a socket not in the set: nothing.
void zdex_waitset_drained (zdex_waitset_t *self, void *socket);

//  System calls the waitset itself made or caused (ZMQ_EVENTS checks and polls),
//  for tests and the benchmark's notes.
uint64_t zdex_waitset_checks (zdex_waitset_t *self);

#endif
