//  zdex_hist: a log-bucketed latency histogram for the benchmarks.
//
//  Values (microseconds, or any non-negative integer) below 16 are kept exactly;
//  above, each power of two is split into 16 linear sub-buckets, so a reported
//  percentile (the highest value of its bucket, capped at the observed maximum) is
//  at most 1/16 above the truth.  The array is fixed (976 counters, 8 KiB): no
//  allocation on the hot path, and recording is a few instructions.
//
//  bench/peers/bullmq_bench.js implements the same buckets, so every record in a
//  run is computed the same way.

#ifndef ZDEX_HIST_H_INCLUDED
#define ZDEX_HIST_H_INCLUDED

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>

typedef struct _zdex_hist_t zdex_hist_t;

//  Create an empty histogram.  Returns NULL when out of memory.  Caller owns.
zdex_hist_t *zdex_hist_new (void);

//  Destroy the histogram and null the pointer.  Null-safe.
void zdex_hist_destroy (zdex_hist_t **self_p);

//  Record one value; negative values count as 0.
void zdex_hist_record (zdex_hist_t *self, int64_t value);

//  Number of values recorded.
uint64_t zdex_hist_count (zdex_hist_t *self);

//  Largest value recorded (exact), 0 when empty.
uint64_t zdex_hist_max (zdex_hist_t *self);

//  Mean of the values recorded (exact), 0 when empty.
double zdex_hist_mean (zdex_hist_t *self);

//  Value at or below which `permille`/1000 of the values lie, as the highest value
//  of its bucket capped at the maximum; 0 when empty.
uint64_t zdex_hist_percentile (zdex_hist_t *self, unsigned permille);

//  {"p50":..,"p90":..,"p99":..,"p999":..,"max":..} in that order.  Caller owns.
json_t *zdex_hist_summary (zdex_hist_t *self);

//  The cumulative distribution as [[value, fraction], ...]: one pair per non-empty
//  bucket, value the bucket's highest value capped at the maximum, fraction the
//  share of values at or below it (the last is 1).  Caller owns.
json_t *zdex_hist_cdf (zdex_hist_t *self);

//  Print one table row to `out`: label, p50, p90, p99, p99.9, max, mean.
void zdex_hist_print_row (zdex_hist_t *self, FILE *out, const char *label);

#endif
