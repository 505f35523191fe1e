//  zdex_procset: CPU time and memory of the processes in one benchmark run (see
//  the header).  /proc/PID/stat's second field is the command in parentheses and
//  may itself hold spaces or parentheses, so fields are counted from the last ')'.

#include "zdex_procset.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    char *role;
    char *name;
    pid_t pid;
    int64_t cpu_base_us; //  -1: unreadable at the baseline
    int64_t cpu_us;      //  since the baseline; -1: unreadable
    int64_t peak_rss_kb; //  -1: unreadable
} s_proc_t;

struct _zdex_procset_t {
    s_proc_t *procs;
    size_t count;
};

zdex_procset_t *
zdex_procset_new (void)
{
    return (zdex_procset_t *) calloc (1, sizeof (zdex_procset_t));
}

void
zdex_procset_destroy (zdex_procset_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    zdex_procset_t *self = *self_p;
    for (size_t index = 0; index < self->count; index++) {
        free (self->procs[index].role);
        free (self->procs[index].name);
    }
    free (self->procs);
    free (self);
    *self_p = NULL;
}

int
zdex_procset_add (zdex_procset_t *self, const char *role, const char *name, pid_t pid)
{
    s_proc_t *procs = (s_proc_t *) realloc (self->procs, (self->count + 1) * sizeof (s_proc_t));
    if (!procs)
        return -1;
    self->procs = procs;
    s_proc_t *proc = &procs[self->count];
    proc->role = strdup (role);
    proc->name = strdup (name);
    if (!proc->role || !proc->name) {
        free (proc->role);
        free (proc->name);
        return -1;
    }
    proc->pid = pid;
    proc->cpu_base_us = -1;
    proc->cpu_us = -1;
    proc->peak_rss_kb = -1;
    self->count++;
    return 0;
}

void
zdex_procset_start (zdex_procset_t *self)
{
    for (size_t index = 0; index < self->count; index++)
        self->procs[index].cpu_base_us = zdex_procset_cpu_us_of (self->procs[index].pid);
}

void
zdex_procset_sample (zdex_procset_t *self)
{
    for (size_t index = 0; index < self->count; index++) {
        s_proc_t *proc = &self->procs[index];
        int64_t now = zdex_procset_cpu_us_of (proc->pid);
        proc->cpu_us = now >= 0 && proc->cpu_base_us >= 0 ? now - proc->cpu_base_us : -1;
        proc->peak_rss_kb = zdex_procset_status_kb_of (proc->pid, "VmHWM");
    }
}

double
zdex_procset_cpu_s (zdex_procset_t *self, const char *role)
{
    double total = 0;
    for (size_t index = 0; index < self->count; index++) {
        s_proc_t *proc = &self->procs[index];
        if (proc->cpu_us > 0 && (!role || strcmp (role, proc->role) == 0))
            total += (double) proc->cpu_us / 1e6;
    }
    return total;
}

json_t *
zdex_procset_json (zdex_procset_t *self)
{
    json_t *array = json_array ();
    for (size_t index = 0; array && index < self->count; index++) {
        s_proc_t *proc = &self->procs[index];
        json_t *entry = json_object ();
        json_object_set_new (entry, "role", json_string (proc->role));
        json_object_set_new (entry, "name", json_string (proc->name));
        json_object_set_new (entry, "pid",
                             json_integer (proc->pid ? (json_int_t) proc->pid : getpid ()));
        json_object_set_new (entry, "cpu_s",
                             proc->cpu_us >= 0 ? json_real ((double) proc->cpu_us / 1e6)
                                               : json_null ());
        json_object_set_new (entry, "peak_rss_kb",
                             proc->peak_rss_kb >= 0 ? json_integer (proc->peak_rss_kb)
                                                    : json_null ());
        json_array_append_new (array, entry);
    }
    return array;
}

void
zdex_procset_print (zdex_procset_t *self, FILE *out)
{
    for (size_t index = 0; index < self->count; index++) {
        s_proc_t *proc = &self->procs[index];
        char cpu[32] = "?";
        char rss[32] = "?";
        if (proc->cpu_us >= 0)
            snprintf (cpu, sizeof cpu, "%.2f s", (double) proc->cpu_us / 1e6);
        if (proc->peak_rss_kb >= 0)
            snprintf (rss, sizeof rss, "%.1f MiB", (double) proc->peak_rss_kb / 1024);
        fprintf (out, "  %-8s %-14s pid %-8d cpu %-10s peak rss %s\n", proc->role, proc->name,
                 proc->pid ? (int) proc->pid : (int) getpid (), cpu, rss);
    }
}

int64_t
zdex_procset_cpu_us_of (pid_t pid)
{
    char path[64];
    if (pid)
        snprintf (path, sizeof path, "/proc/%d/stat", (int) pid);
    else
        snprintf (path, sizeof path, "/proc/self/stat");
    FILE *file = fopen (path, "r");
    if (!file)
        return -1;
    char line[1024];
    bool got = fgets (line, sizeof line, file) != NULL;
    fclose (file);
    char *cursor = got ? strrchr (line, ')') : NULL;
    if (!cursor)
        return -1;
    //  After ") ": state is field 3, utime field 14, stime field 15
    unsigned long long utime = 0, stime = 0;
    if (sscanf (cursor + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime,
                &stime) != 2)
        return -1;
    long ticks = sysconf (_SC_CLK_TCK);
    if (ticks <= 0)
        return -1;
    return (int64_t) ((utime + stime) * 1000000ULL / (unsigned long long) ticks);
}

int64_t
zdex_procset_status_kb_of (pid_t pid, const char *field)
{
    char path[64];
    if (pid)
        snprintf (path, sizeof path, "/proc/%d/status", (int) pid);
    else
        snprintf (path, sizeof path, "/proc/self/status");
    FILE *file = fopen (path, "r");
    if (!file)
        return -1;
    size_t length = strlen (field);
    int64_t value = -1;
    char line[256];
    while (fgets (line, sizeof line, file))
        if (strncmp (line, field, length) == 0 && line[length] == ':') {
            long long kb = 0;
            if (sscanf (line + length + 1, "%lld", &kb) == 1)
                value = kb;
            break;
        }
    fclose (file);
    return value;
}
