//  zdex_deadlines: one actor's timers, as a binary min-heap of (due time, item).
//
//  The heap is an array; entry i's children are 2i+1 and 2i+2.  Every move of an
//  entry writes its new index through the entry's position pointer, which is what
//  lets a waiter answered early leave the heap in O(log n) without a search.  Entries
//  with the same due time come out in no particular order.  The array grows by
//  doubling and halves when three quarters empty, so a burst of waiters does not pin
//  its memory.

#include "zdex_deadlines.h"

#include <assert.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>

#define S_MIN_ALLOCATED 16

typedef struct {
    int64_t due;
    void *item;
    size_t *position_p; //  may be NULL: then the entry only leaves by pop_due
} s_entry_t;

struct _zdex_deadlines_t {
    s_entry_t *entries;
    size_t size;
    size_t allocated;
};

zdex_deadlines_t *
zdex_deadlines_new (void)
{
    return (zdex_deadlines_t *) calloc (1, sizeof (zdex_deadlines_t));
}

void
zdex_deadlines_destroy (zdex_deadlines_t **self_p)
{
    assert (self_p);
    zdex_deadlines_t *self = *self_p;
    if (!self)
        return;
    free (self->entries);
    free (self);
    *self_p = NULL;
}

//  Put entry at index and tell its owner.
static void
s_place (zdex_deadlines_t *self, size_t index, s_entry_t entry)
{
    self->entries[index] = entry;
    if (entry.position_p)
        *entry.position_p = index;
}

//  Move the entry at index towards the root until its parent is not later.
static void
s_sift_up (zdex_deadlines_t *self, size_t index)
{
    s_entry_t entry = self->entries[index];
    while (index > 0) {
        size_t parent = (index - 1) / 2;
        if (self->entries[parent].due <= entry.due)
            break;
        s_place (self, index, self->entries[parent]);
        index = parent;
    }
    s_place (self, index, entry);
}

//  Move the entry at index towards the leaves until no child is earlier.
static void
s_sift_down (zdex_deadlines_t *self, size_t index)
{
    s_entry_t entry = self->entries[index];
    while (true) {
        size_t child = 2 * index + 1;
        if (child >= self->size)
            break;
        if (child + 1 < self->size && self->entries[child + 1].due < self->entries[child].due)
            child++;
        if (entry.due <= self->entries[child].due)
            break;
        s_place (self, index, self->entries[child]);
        index = child;
    }
    s_place (self, index, entry);
}

//  Take the entry at index out of the heap and return its item.
static void *
s_remove_at (zdex_deadlines_t *self, size_t index)
{
    assert (index < self->size);
    s_entry_t removed = self->entries[index];
    if (removed.position_p)
        *removed.position_p = ZDEX_DEADLINE_NONE;
    self->size--;
    if (index < self->size) {
        //  The last entry fills the hole; it may belong above or below it
        self->entries[index] = self->entries[self->size];
        if (index > 0 && self->entries[index].due < self->entries[(index - 1) / 2].due)
            s_sift_up (self, index);
        else
            s_sift_down (self, index);
    }
    if (self->allocated > S_MIN_ALLOCATED && self->size < self->allocated / 4) {
        s_entry_t *entries =
            (s_entry_t *) realloc (self->entries, self->allocated / 2 * sizeof (s_entry_t));
        if (entries) { //  failing to shrink is harmless
            self->entries = entries;
            self->allocated /= 2;
        }
    }
    return removed.item;
}

int
zdex_deadlines_add (zdex_deadlines_t *self, int64_t due, void *item, size_t *position_p)
{
    assert (self);
    assert (item); //  pop_due answers NULL for "nothing due"
    //  Adding an entry that is still in the heap would leave a dangling entry
    assert (!position_p || *position_p >= self->size ||
            self->entries[*position_p].position_p != position_p);
    if (self->size == self->allocated) {
        size_t allocated = self->allocated ? self->allocated * 2 : S_MIN_ALLOCATED;
        if (allocated > SIZE_MAX / sizeof (s_entry_t))
            return -1;
        s_entry_t *entries = (s_entry_t *) realloc (self->entries, allocated * sizeof (s_entry_t));
        if (!entries)
            return -1;
        self->entries = entries;
        self->allocated = allocated;
    }
    self->entries[self->size] = (s_entry_t){due, item, position_p};
    self->size++;
    s_sift_up (self, self->size - 1);
    return 0;
}

void
zdex_deadlines_remove (zdex_deadlines_t *self, size_t *position_p)
{
    assert (self);
    assert (position_p);
    size_t index = *position_p;
    if (index == ZDEX_DEADLINE_NONE)
        return;
    //  A position that does not point back at itself is a caller bug; leave the
    //  heap intact rather than remove someone else's entry.
    assert (index < self->size && self->entries[index].position_p == position_p);
    if (index >= self->size || self->entries[index].position_p != position_p)
        return;
    s_remove_at (self, index);
}

int64_t
zdex_deadlines_next (zdex_deadlines_t *self)
{
    assert (self);
    return self->size ? self->entries[0].due : -1;
}

void *
zdex_deadlines_pop_due (zdex_deadlines_t *self, int64_t now)
{
    assert (self);
    if (self->size == 0 || self->entries[0].due > now)
        return NULL;
    return s_remove_at (self, 0);
}

int
zdex_deadlines_timeout (zdex_deadlines_t *self, int64_t now)
{
    assert (self);
    if (self->size == 0)
        return -1;
    int64_t due = self->entries[0].due;
    if (due <= now)
        return 0;
    //  due > now, so the unsigned difference is exact even when the signed one overflows
    uint64_t wait = (uint64_t) due - (uint64_t) now;
    return wait > (uint64_t) INT_MAX ? INT_MAX : (int) wait;
}

size_t
zdex_deadlines_size (zdex_deadlines_t *self)
{
    assert (self);
    return self->size;
}
