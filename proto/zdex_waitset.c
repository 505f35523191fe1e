//  zdex_waitset: see zdex_waitset.h.  Each entry remembers whether its socket's
//  descriptor can be trusted (clean) or libzmq must be asked (dirty).  A socket is
//  clean right after ZMQ_EVENTS said it has no input: that call took in all its
//  pending commands, so any new message sends a new command, which makes ZMQ_FD
//  readable.  It stays clean until it is named ready or touched, and is clean
//  again when a read of it fails with EAGAIN (that read took in its commands).

#include "zdex_waitset.h"

#include <errno.h>
#include <poll.h>

typedef struct {
    void *handle; //  libzmq socket
    int fd;
    bool dirty;
    bool ready;
} s_entry_t;

struct _zdex_waitset_t {
    s_entry_t entries[ZDEX_WAITSET_MAX];
    size_t count;
    uint64_t checks;
};

zdex_waitset_t *
zdex_waitset_new (void)
{
    return (zdex_waitset_t *) zmalloc (sizeof (zdex_waitset_t));
}

void
zdex_waitset_destroy (zdex_waitset_t **self_p)
{
    assert (self_p);
    free (*self_p);
    *self_p = NULL;
}

static s_entry_t *
s_find (zdex_waitset_t *self, void *handle)
{
    for (size_t index = 0; index < self->count; index++)
        if (self->entries[index].handle == handle)
            return &self->entries[index];
    return NULL;
}

//  Lay the new set over the old one: a socket that stays keeps what we knew of
//  it, a new one is dirty.  Sets are small (a dozen) and mostly the same each
//  pass, so this is a linear walk that usually finds each entry in place.  The
//  descriptor is asked each time (no system call): a socket destroyed and another
//  made at the same address must not inherit the old one's.
static int
s_update (zdex_waitset_t *self, void **sockets, size_t count)
{
    s_entry_t entries[ZDEX_WAITSET_MAX];
    for (size_t index = 0; index < count; index++) {
        void *handle = zsock_resolve (sockets[index]);
        int fd = -1;
        size_t size = sizeof fd;
        if (zmq_getsockopt (handle, ZMQ_FD, &fd, &size) == -1)
            return -1;
        s_entry_t *old = index < self->count && self->entries[index].handle == handle
                             ? &self->entries[index]
                             : s_find (self, handle);
        if (old && old->fd == fd)
            entries[index] = *old;
        else
            entries[index] = (s_entry_t){.handle = handle, .fd = fd, .dirty = true};
        entries[index].ready = false;
    }
    memcpy (self->entries, entries, count * sizeof (s_entry_t));
    self->count = count;
    return 0;
}

int
zdex_waitset_wait (zdex_waitset_t *self, void **sockets, size_t count, int timeout_ms)
{
    assert (self && (sockets || count == 0) && count <= ZDEX_WAITSET_MAX);
    if (s_update (self, sockets, count) != 0)
        return -1;
    bool any = false;
    for (size_t index = 0; index < count; index++) {
        s_entry_t *entry = &self->entries[index];
        if (!entry->dirty)
            continue;
        uint32_t events = 0;
        size_t size = sizeof events;
        self->checks++;
        if (zmq_getsockopt (entry->handle, ZMQ_EVENTS, &events, &size) == -1)
            return -1;
        if (events & ZMQ_POLLIN)
            entry->ready = any = true;
        else
            entry->dirty = false;
    }
    //  One poll either way: with input found above it only gathers the clean
    //  sockets that fired too, so they are read in this pass, not the next.
    struct pollfd fds[ZDEX_WAITSET_MAX];
    for (size_t index = 0; index < count; index++)
        fds[index] = (struct pollfd){self->entries[index].fd, POLLIN, 0};
    self->checks++;
    int rc = poll (fds, (nfds_t) count, any ? 0 : timeout_ms);
    if (rc == -1 && errno != EINTR)
        return -1;
    for (size_t index = 0; rc > 0 && index < count; index++)
        if (fds[index].revents)
            self->entries[index].ready = any = true;
    //  A ready socket will be read: after that its descriptor says nothing until
    //  libzmq is asked again.
    for (size_t index = 0; index < count; index++)
        if (self->entries[index].ready)
            self->entries[index].dirty = true;
    return any ? 1 : 0;
}

bool
zdex_waitset_ready (zdex_waitset_t *self, void *socket)
{
    if (!self)
        return true;
    s_entry_t *entry = s_find (self, zsock_resolve (socket));
    return !entry || entry->ready;
}

void
zdex_waitset_touch (zdex_waitset_t *self, void *socket)
{
    if (!self)
        return;
    s_entry_t *entry = s_find (self, zsock_resolve (socket));
    if (entry)
        entry->dirty = true;
}

void
zdex_waitset_drained (zdex_waitset_t *self, void *socket)
{
    if (!self || zmq_errno () != EAGAIN)
        return;
    s_entry_t *entry = s_find (self, zsock_resolve (socket));
    if (entry)
        entry->dirty = false;
}

uint64_t
zdex_waitset_checks (zdex_waitset_t *self)
{
    assert (self);
    return self->checks;
}
