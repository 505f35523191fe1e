//  zdex_hist: a log-bucketed latency histogram for the benchmarks (see the header).
//
//  Bucket index of v >= 16: with m the position of v's highest set bit and
//  s = m - 4, the bucket is 16 + 16 * s + (v >> s) - 16, i.e. sixteen buckets per
//  power of two, each 2^s wide.  64-bit values need 16 * 61 buckets.

#include "zdex_hist.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>

#define S_SUB_BITS 4
#define S_SUB      (1 << S_SUB_BITS)
#define S_BUCKETS  (S_SUB * (64 - S_SUB_BITS + 1))

struct _zdex_hist_t {
    uint64_t counts[S_BUCKETS];
    uint64_t total;
    uint64_t max;
    double sum;
};

static size_t
s_index (uint64_t value)
{
    if (value < S_SUB)
        return (size_t) value;
    int msb = 63 - __builtin_clzll (value);
    int shift = msb - S_SUB_BITS;
    return (size_t) (S_SUB + shift * S_SUB + (int) ((value >> shift) - S_SUB));
}

//  Highest value that falls into bucket `index`.
static uint64_t
s_high (size_t index)
{
    if (index < S_SUB)
        return index;
    int shift = (int) (index - S_SUB) / S_SUB;
    uint64_t sub = (index - S_SUB) % S_SUB;
    return ((S_SUB + sub) << shift) + ((UINT64_C (1) << shift) - 1);
}

zdex_hist_t *
zdex_hist_new (void)
{
    return (zdex_hist_t *) calloc (1, sizeof (zdex_hist_t));
}

void
zdex_hist_destroy (zdex_hist_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free (*self_p);
    *self_p = NULL;
}

void
zdex_hist_record (zdex_hist_t *self, int64_t value)
{
    uint64_t v = value > 0 ? (uint64_t) value : 0;
    self->counts[s_index (v)]++;
    self->total++;
    self->sum += (double) v;
    if (v > self->max)
        self->max = v;
}

uint64_t
zdex_hist_count (zdex_hist_t *self)
{
    return self->total;
}

uint64_t
zdex_hist_max (zdex_hist_t *self)
{
    return self->max;
}

double
zdex_hist_mean (zdex_hist_t *self)
{
    return self->total ? self->sum / (double) self->total : 0.0;
}

uint64_t
zdex_hist_percentile (zdex_hist_t *self, unsigned permille)
{
    if (self->total == 0)
        return 0;
    uint64_t target = (self->total * permille + 999) / 1000;
    if (target == 0)
        target = 1;
    uint64_t seen = 0;
    for (size_t index = 0; index < S_BUCKETS; index++) {
        seen += self->counts[index];
        if (seen >= target) {
            uint64_t high = s_high (index);
            return high < self->max ? high : self->max;
        }
    }
    return self->max;
}

json_t *
zdex_hist_summary (zdex_hist_t *self)
{
    static const struct {
        const char *key;
        unsigned permille;
    } points[] = {{"p50", 500}, {"p90", 900}, {"p99", 990}, {"p999", 999}};
    json_t *summary = json_object ();
    for (size_t index = 0; summary && index < sizeof points / sizeof points[0]; index++)
        json_object_set_new (
            summary, points[index].key,
            json_integer ((json_int_t) zdex_hist_percentile (self, points[index].permille)));
    if (summary)
        json_object_set_new (summary, "max", json_integer ((json_int_t) self->max));
    return summary;
}

json_t *
zdex_hist_cdf (zdex_hist_t *self)
{
    json_t *cdf = json_array ();
    uint64_t seen = 0;
    for (size_t index = 0; cdf && index < S_BUCKETS && seen < self->total; index++) {
        if (self->counts[index] == 0)
            continue;
        seen += self->counts[index];
        uint64_t high = s_high (index);
        double fraction = (double) seen / (double) self->total;
        //  Six decimals are plenty for a plot and keep the record short
        fraction = (double) (int64_t) (fraction * 1e6 + 0.5) / 1e6;
        json_array_append_new (
            cdf, json_pack ("[If]", (json_int_t) (high < self->max ? high : self->max), fraction));
    }
    return cdf;
}

void
zdex_hist_print_row (zdex_hist_t *self, FILE *out, const char *label)
{
    fprintf (out,
             "  %-20s %9" PRIu64 " %9" PRIu64 " %9" PRIu64 " %9" PRIu64 " %9" PRIu64 " %9.0f\n",
             label, zdex_hist_percentile (self, 500), zdex_hist_percentile (self, 900),
             zdex_hist_percentile (self, 990), zdex_hist_percentile (self, 999), self->max,
             zdex_hist_mean (self));
}
