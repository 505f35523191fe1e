//  test_deadlines: the timer heap.  Orders by due time, removal from anywhere keeps
//  positions right, pop_due respects now, the timeout clamps, and a randomized run
//  checks every answer against a plain array.

#include "zdex_deadlines.h"

#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>

typedef struct {
    int64_t due;
    size_t position;
    bool in_heap;
    int id;
} t_item_t;

//  xorshift64*: deterministic, seedable from ZDEX_TEST_SEED
static uint64_t
s_random (uint64_t *state)
{
    *state ^= *state >> 12;
    *state ^= *state << 25;
    *state ^= *state >> 27;
    return *state * 2685821657736338717ULL;
}

static uint64_t
s_seed (void)
{
    const char *text = getenv ("ZDEX_TEST_SEED");
    uint64_t seed = text ? strtoull (text, NULL, 0) : 0x5eed5eedULL;
    return seed ? seed : 1;
}

//  Every entry's position points back at it: pop everything in order would be
//  the strong check, this one keeps the heap intact.
static void
s_assert_positions (zdex_deadlines_t *heap, t_item_t *items, size_t count)
{
    size_t in_heap = 0;
    bool *seen = (bool *) calloc (zdex_deadlines_size (heap) + 1, sizeof (bool));
    assert_non_null (seen);
    for (size_t index = 0; index < count; index++) {
        if (items[index].in_heap) {
            in_heap++;
            assert_true (items[index].position < zdex_deadlines_size (heap));
            assert_false (seen[items[index].position]);
            seen[items[index].position] = true;
        } else
            assert_true (items[index].position == ZDEX_DEADLINE_NONE);
    }
    assert_int_equal (in_heap, zdex_deadlines_size (heap));
    free (seen);
}

static void
test_empty (void **state)
{
    (void) state;
    zdex_deadlines_t *heap = zdex_deadlines_new ();
    assert_non_null (heap);
    assert_int_equal (zdex_deadlines_size (heap), 0);
    assert_int_equal (zdex_deadlines_next (heap), -1);
    assert_int_equal (zdex_deadlines_timeout (heap, 1000), -1);
    assert_null (zdex_deadlines_pop_due (heap, INT64_MAX));
    size_t position = ZDEX_DEADLINE_NONE;
    zdex_deadlines_remove (heap, &position); //  no-op
    assert_true (position == ZDEX_DEADLINE_NONE);
    zdex_deadlines_destroy (&heap);
    assert_null (heap);
    zdex_deadlines_destroy (&heap); //  null-safe
}

static void
test_ordering (void **state)
{
    (void) state;
    zdex_deadlines_t *heap = zdex_deadlines_new ();
    int64_t dues[] = {50, 10, 30, 20, 40, 60, 5, 35};
    size_t count = sizeof (dues) / sizeof (dues[0]);
    t_item_t items[8];
    for (size_t index = 0; index < count; index++) {
        items[index] = (t_item_t){dues[index], ZDEX_DEADLINE_NONE, true, (int) index};
        assert_int_equal (
            zdex_deadlines_add (heap, dues[index], &items[index], &items[index].position), 0);
        assert_int_equal (zdex_deadlines_size (heap), index + 1);
    }
    s_assert_positions (heap, items, count);
    assert_int_equal (zdex_deadlines_next (heap), 5);
    int64_t previous = INT64_MIN;
    for (size_t index = 0; index < count; index++) {
        t_item_t *item = (t_item_t *) zdex_deadlines_pop_due (heap, 1000);
        assert_non_null (item);
        assert_true (item->due >= previous);
        assert_true (item->position == ZDEX_DEADLINE_NONE);
        item->in_heap = false;
        previous = item->due;
        s_assert_positions (heap, items, count);
    }
    assert_int_equal (zdex_deadlines_size (heap), 0);
    assert_null (zdex_deadlines_pop_due (heap, 1000));
    zdex_deadlines_destroy (&heap);
}

static void
test_remove_middle (void **state)
{
    (void) state;
    zdex_deadlines_t *heap = zdex_deadlines_new ();
    enum { COUNT = 101 };
    t_item_t items[COUNT];
    //  Dues in a scrambled order (37 is coprime to 101)
    for (int index = 0; index < COUNT; index++) {
        items[index] = (t_item_t){(index * 37) % COUNT, ZDEX_DEADLINE_NONE, true, index};
        assert_int_equal (
            zdex_deadlines_add (heap, items[index].due, &items[index], &items[index].position), 0);
    }
    s_assert_positions (heap, items, COUNT);

    //  Remove the root, the last entry, and a spread from the middle
    size_t root = 0, last = 0;
    for (int index = 0; index < COUNT; index++) {
        if (items[index].position == 0)
            root = (size_t) index;
        if (items[index].position == COUNT - 1)
            last = (size_t) index;
    }
    zdex_deadlines_remove (heap, &items[root].position);
    items[root].in_heap = false;
    s_assert_positions (heap, items, COUNT);
    zdex_deadlines_remove (heap, &items[last].position);
    items[last].in_heap = false;
    s_assert_positions (heap, items, COUNT);
    for (int index = 3; index < COUNT; index += 7) {
        if (!items[index].in_heap)
            continue;
        zdex_deadlines_remove (heap, &items[index].position);
        assert_true (items[index].position == ZDEX_DEADLINE_NONE);
        items[index].in_heap = false;
        s_assert_positions (heap, items, COUNT);
        //  Removing again is a no-op
        zdex_deadlines_remove (heap, &items[index].position);
        s_assert_positions (heap, items, COUNT);
    }
    //  What is left comes out in order, and only what is left
    size_t left = zdex_deadlines_size (heap);
    int64_t previous = INT64_MIN;
    for (size_t popped = 0; popped < left; popped++) {
        t_item_t *item = (t_item_t *) zdex_deadlines_pop_due (heap, INT64_MAX);
        assert_non_null (item);
        assert_true (item->in_heap);
        assert_true (item->due > previous); //  dues are distinct here
        previous = item->due;
        item->in_heap = false;
    }
    assert_int_equal (zdex_deadlines_size (heap), 0);
    s_assert_positions (heap, items, COUNT);
    zdex_deadlines_destroy (&heap);
}

static void
test_pop_due_respects_now (void **state)
{
    (void) state;
    zdex_deadlines_t *heap = zdex_deadlines_new ();
    t_item_t early = {100, ZDEX_DEADLINE_NONE, true, 1};
    t_item_t late = {200, ZDEX_DEADLINE_NONE, true, 2};
    assert_int_equal (zdex_deadlines_add (heap, late.due, &late, &late.position), 0);
    assert_int_equal (zdex_deadlines_add (heap, early.due, &early, &early.position), 0);
    assert_null (zdex_deadlines_pop_due (heap, 99));
    assert_ptr_equal (zdex_deadlines_pop_due (heap, 100), &early); //  due exactly now
    assert_null (zdex_deadlines_pop_due (heap, 150));
    assert_int_equal (zdex_deadlines_size (heap), 1);
    assert_ptr_equal (zdex_deadlines_pop_due (heap, 500), &late);
    assert_null (zdex_deadlines_pop_due (heap, 500));
    assert_true (early.position == ZDEX_DEADLINE_NONE);
    assert_true (late.position == ZDEX_DEADLINE_NONE);
    zdex_deadlines_destroy (&heap);
}

static void
test_timeout (void **state)
{
    (void) state;
    zdex_deadlines_t *heap = zdex_deadlines_new ();
    t_item_t item = {1000, ZDEX_DEADLINE_NONE, true, 1};
    assert_int_equal (zdex_deadlines_timeout (heap, 0), -1);
    assert_int_equal (zdex_deadlines_add (heap, 1000, &item, &item.position), 0);
    assert_int_equal (zdex_deadlines_next (heap), 1000);
    assert_int_equal (zdex_deadlines_timeout (heap, 400), 600);
    assert_int_equal (zdex_deadlines_timeout (heap, 999), 1);
    assert_int_equal (zdex_deadlines_timeout (heap, 1000), 0);
    assert_int_equal (zdex_deadlines_timeout (heap, 5000), 0); //  overdue
    zdex_deadlines_remove (heap, &item.position);

    //  Far futures clamp to INT_MAX, including ones whose difference overflows int64
    assert_int_equal (zdex_deadlines_add (heap, (int64_t) INT_MAX + 5, &item, &item.position), 0);
    assert_int_equal (zdex_deadlines_timeout (heap, 0), INT_MAX);
    assert_int_equal (zdex_deadlines_timeout (heap, 5), INT_MAX);
    assert_int_equal (zdex_deadlines_timeout (heap, 6), INT_MAX - 1);
    zdex_deadlines_remove (heap, &item.position);
    assert_int_equal (zdex_deadlines_add (heap, INT64_MAX, &item, &item.position), 0);
    assert_int_equal (zdex_deadlines_timeout (heap, INT64_MIN), INT_MAX);
    assert_int_equal (zdex_deadlines_timeout (heap, INT64_MAX), 0);
    zdex_deadlines_destroy (&heap);
}

static void
test_size_and_growth (void **state)
{
    (void) state;
    zdex_deadlines_t *heap = zdex_deadlines_new ();
    enum { COUNT = 5000 };
    t_item_t *items = (t_item_t *) calloc (COUNT, sizeof (t_item_t));
    assert_non_null (items);
    for (int index = 0; index < COUNT; index++) {
        items[index] = (t_item_t){COUNT - index, ZDEX_DEADLINE_NONE, true, index};
        assert_int_equal (
            zdex_deadlines_add (heap, items[index].due, &items[index], &items[index].position), 0);
        assert_int_equal (zdex_deadlines_size (heap), (size_t) index + 1);
    }
    assert_int_equal (zdex_deadlines_next (heap), 1);
    //  Remove all but the last few through their positions (the array shrinks)
    for (int index = 0; index < COUNT - 3; index++) {
        zdex_deadlines_remove (heap, &items[index].position);
        items[index].in_heap = false;
        assert_int_equal (zdex_deadlines_size (heap), (size_t) (COUNT - index - 1));
    }
    s_assert_positions (heap, items, COUNT);
    assert_int_equal (zdex_deadlines_next (heap), 1);
    assert_ptr_equal (zdex_deadlines_pop_due (heap, 10), &items[COUNT - 1]);
    assert_ptr_equal (zdex_deadlines_pop_due (heap, 10), &items[COUNT - 2]);
    assert_ptr_equal (zdex_deadlines_pop_due (heap, 10), &items[COUNT - 3]);
    assert_int_equal (zdex_deadlines_size (heap), 0);
    free (items);
    zdex_deadlines_destroy (&heap);
}

static void
test_equal_dues_and_no_position (void **state)
{
    (void) state;
    zdex_deadlines_t *heap = zdex_deadlines_new ();
    t_item_t items[6];
    for (int index = 0; index < 6; index++) {
        items[index] = (t_item_t){7, ZDEX_DEADLINE_NONE, true, index};
        //  Entries without a position can still be popped
        assert_int_equal (
            zdex_deadlines_add (heap, 7, &items[index], index % 2 ? &items[index].position : NULL),
            0);
    }
    int seen = 0;
    t_item_t *item;
    while ((item = (t_item_t *) zdex_deadlines_pop_due (heap, 7))) {
        assert_false (seen & (1 << item->id));
        seen |= 1 << item->id;
    }
    assert_int_equal (seen, 0x3f);
    zdex_deadlines_destroy (&heap);
}

//  Random adds, removes and pops against a plain array of what should be in the heap.
static void
test_randomized (void **state)
{
    (void) state;
    uint64_t random = s_seed ();
    zdex_deadlines_t *heap = zdex_deadlines_new ();
    enum { ITEMS = 500, OPS = 10000 };
    t_item_t items[ITEMS];
    for (int index = 0; index < ITEMS; index++)
        items[index] = (t_item_t){0, ZDEX_DEADLINE_NONE, false, index};
    int64_t now = 0;
    for (int op = 0; op < OPS; op++) {
        t_item_t *item = &items[s_random (&random) % ITEMS];
        unsigned choice = (unsigned) (s_random (&random) % 10);
        if (choice < 5) {
            if (!item->in_heap) {
                //  Small range of dues so that ties are common
                item->due = now + (int64_t) (s_random (&random) % 200) - 20;
                assert_int_equal (zdex_deadlines_add (heap, item->due, item, &item->position), 0);
                item->in_heap = true;
            }
        } else if (choice < 7) {
            zdex_deadlines_remove (heap, &item->position);
            item->in_heap = false;
            assert_true (item->position == ZDEX_DEADLINE_NONE);
        } else {
            now += (int64_t) (s_random (&random) % 30);
            int64_t earliest = INT64_MAX;
            for (int index = 0; index < ITEMS; index++)
                if (items[index].in_heap && items[index].due < earliest)
                    earliest = items[index].due;
            t_item_t *popped = (t_item_t *) zdex_deadlines_pop_due (heap, now);
            if (earliest <= now) {
                assert_non_null (popped);
                assert_true (popped->in_heap);
                assert_true (popped->due == earliest);
                assert_true (popped->position == ZDEX_DEADLINE_NONE);
                popped->in_heap = false;
            } else
                assert_null (popped);
        }
        //  The cheap checks every time, the positions every so often
        int64_t earliest = INT64_MAX;
        size_t count = 0;
        for (int index = 0; index < ITEMS; index++)
            if (items[index].in_heap) {
                count++;
                if (items[index].due < earliest)
                    earliest = items[index].due;
            }
        assert_int_equal (zdex_deadlines_size (heap), count);
        if (count) {
            assert_true (zdex_deadlines_next (heap) == earliest);
            int64_t wait = earliest <= now ? 0 : earliest - now;
            assert_int_equal (zdex_deadlines_timeout (heap, now), wait);
        } else {
            assert_int_equal (zdex_deadlines_next (heap), -1);
            assert_int_equal (zdex_deadlines_timeout (heap, now), -1);
        }
        if (op % 97 == 0)
            s_assert_positions (heap, items, ITEMS);
    }
    s_assert_positions (heap, items, ITEMS);
    //  Drain: everything comes out in due order
    int64_t previous = INT64_MIN;
    t_item_t *item;
    while ((item = (t_item_t *) zdex_deadlines_pop_due (heap, INT64_MAX))) {
        assert_true (item->due >= previous);
        previous = item->due;
        item->in_heap = false;
    }
    s_assert_positions (heap, items, ITEMS);
    zdex_deadlines_destroy (&heap);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_empty),
        cmocka_unit_test (test_ordering),
        cmocka_unit_test (test_remove_middle),
        cmocka_unit_test (test_pop_due_respects_now),
        cmocka_unit_test (test_timeout),
        cmocka_unit_test (test_size_and_growth),
        cmocka_unit_test (test_equal_dues_and_no_position),
        cmocka_unit_test (test_randomized),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
