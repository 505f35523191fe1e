//  zdex_deadlines: one actor's timers, as a binary min-heap of (due time, item).
//
//  One structure per actor instead of one zloop timer per waiter or task: adding,
//  removing and popping are O(log n) and the actor's poll timeout is next() - now.
//  Each entry records where its position lives (a size_t the caller embeds in its
//  item), so an entry can be removed in O(log n) when its waiter is answered early.
//  Times are zclock_mono() milliseconds.  Not thread safe; owned by one actor.

#ifndef ZDEX_DEADLINES_H_INCLUDED
#define ZDEX_DEADLINES_H_INCLUDED

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define ZDEX_DEADLINE_NONE ((size_t) -1) //  a position value meaning "not in the heap"

typedef struct _zdex_deadlines_t zdex_deadlines_t;

//  Create an empty heap.  Caller owns.
zdex_deadlines_t *zdex_deadlines_new (void);

//  Destroy and null.  Items are not touched.
void zdex_deadlines_destroy (zdex_deadlines_t **self_p);

//  Add item due at `due`.  *position_p is kept up to date while the entry is in the
//  heap and set to ZDEX_DEADLINE_NONE when it leaves.  Returns 0, or -1 when out of
//  memory.
int zdex_deadlines_add (zdex_deadlines_t *self, int64_t due, void *item, size_t *position_p);

//  Remove the entry whose position is *position_p (no-op if ZDEX_DEADLINE_NONE).
void zdex_deadlines_remove (zdex_deadlines_t *self, size_t *position_p);

//  Earliest due time, or -1 when empty.
int64_t zdex_deadlines_next (zdex_deadlines_t *self);

//  Pop and return the earliest item if it is due at or before now, else NULL.
void *zdex_deadlines_pop_due (zdex_deadlines_t *self, int64_t now);

//  Milliseconds until the earliest due time (0 if overdue), or -1 when empty: the
//  value to hand to zpoller_wait.
int zdex_deadlines_timeout (zdex_deadlines_t *self, int64_t now);

//  Number of entries.
size_t zdex_deadlines_size (zdex_deadlines_t *self);

#ifdef __cplusplus
}
#endif

#endif
