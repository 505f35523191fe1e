//  zdex_procset: CPU time and memory of the processes in one benchmark run.
//
//  A benchmark adds every process it measures (itself, the member or server, the
//  workers) with a role, takes a baseline when the timed run starts and a sample
//  when it ends, just before anything is stopped.  CPU time is utime + stime from
//  /proc/PID/stat (all threads, clock-tick resolution, usually 10 ms), counted from
//  the baseline, so start-up and shutdown are left out.  Peak RSS is VmHWM from
//  /proc/PID/status at the sample, so it does include start-up.  Only Linux /proc
//  is supported; a value that cannot be read is reported as -1 (JSON null).

#ifndef ZDEX_PROCSET_H_INCLUDED
#define ZDEX_PROCSET_H_INCLUDED

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

typedef struct _zdex_procset_t zdex_procset_t;

//  Create an empty set.  Returns NULL when out of memory.  Caller owns.
zdex_procset_t *zdex_procset_new (void);

//  Destroy the set and null the pointer.  Null-safe.  Stops nothing.
void zdex_procset_destroy (zdex_procset_t **self_p);

//  Watch one process: pid 0 means this process.  role is "client", "member" or
//  "worker" (free text; reports group by it), name the program.  Both strings are
//  copied.  Returns 0, or -1 when out of memory.
int zdex_procset_add (zdex_procset_t *self, const char *role, const char *name, pid_t pid);

//  Take the CPU baseline of every process now.
void zdex_procset_start (zdex_procset_t *self);

//  Read CPU time since the baseline and peak RSS of every process now.  Call it
//  while the processes still run.
void zdex_procset_sample (zdex_procset_t *self);

//  CPU seconds since the baseline summed over the processes of `role` (NULL: all),
//  as of the last sample; unreadable processes count 0.
double zdex_procset_cpu_s (zdex_procset_t *self, const char *role);

//  [{"role","name","pid","cpu_s","peak_rss_kb"}, ...] in the order added, as of the
//  last sample.  Caller owns.
json_t *zdex_procset_json (zdex_procset_t *self);

//  One line per process on `out`, for the human table.
void zdex_procset_print (zdex_procset_t *self, FILE *out);

//  CPU time (utime + stime) of pid (0: this process) in microseconds, or -1.
int64_t zdex_procset_cpu_us_of (pid_t pid);

//  A "kB" field of /proc/PID/status such as "VmRSS" or "VmHWM" (pid 0: this
//  process), in kB, or -1.
int64_t zdex_procset_status_kb_of (pid_t pid, const char *field);

#endif
