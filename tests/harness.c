//  harness: process control for integration tests.

#include "harness.h"

#include <czmq.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

//  Read one line from fd within timeout_ms.  Returns 0 with the line in buf.
static int
s_read_line (int fd, char *buf, size_t size, int timeout_ms)
{
    size_t used = 0;
    int64_t deadline = zclock_mono () + timeout_ms;
    while (used + 1 < size) {
        int64_t left = deadline - zclock_mono ();
        if (left <= 0)
            return -1;
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        int rc = poll (&pfd, 1, (int) left);
        if (rc < 0 && errno == EINTR)
            continue;
        if (rc <= 0)
            return -1;
        char c;
        ssize_t got = read (fd, &c, 1);
        if (got <= 0)
            return -1;
        if (c == '\n') {
            buf[used] = '\0';
            return 0;
        }
        buf[used++] = c;
    }
    return -1;
}

//  Every process this test started and has not reaped: killed at exit, so a
//  failed assertion (which skips the rest of a test) never leaves one behind.
#define S_MAX_CHILDREN 64
static pid_t s_children[S_MAX_CHILDREN];

static void
s_kill_children (void)
{
    for (int index = 0; index < S_MAX_CHILDREN; index++)
        if (s_children[index] > 0) {
            kill (s_children[index], SIGKILL);
            waitpid (s_children[index], NULL, 0);
            s_children[index] = 0;
        }
}

int
harness_teardown (void **state)
{
    (void) state;
    harness_kill_all ();
    return 0;
}

void
harness_kill_all (void)
{
    s_kill_children ();
}

static void
s_track (pid_t pid, pid_t replace)
{
    static bool registered = false;
    if (!registered) {
        atexit (s_kill_children);
        registered = true;
    }
    for (int index = 0; index < S_MAX_CHILDREN; index++)
        if (s_children[index] == replace) {
            s_children[index] = pid;
            return;
        }
}

//  fork + exec argv with stdout on a pipe; returns pid and the pipe's read end.
static pid_t
s_spawn (char *const argv[], int *out_fd)
{
    int fds[2];
    if (pipe (fds) != 0)
        return -1;
    pid_t pid = fork ();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        //  Die with the test, even when it is killed (a timeout): a member left
        //  behind would answer on a port that a later test's member reuses.
        prctl (PR_SET_PDEATHSIG, SIGKILL);
        dup2 (fds[1], STDOUT_FILENO);
        close (fds[0]);
        close (fds[1]);
        execv (argv[0], argv);
        _exit (127);
    }
    close (fds[1]);
    *out_fd = fds[0];
    s_track (pid, 0);
    return pid;
}

int
harness_member_start (harness_member_t *member, const char *const *extra_args)
{
    const char *zdexd = getenv ("ZDEXD");
    if (!zdexd)
        return -1;
    const char *argv[64] = {zdexd,
                            "--client-endpoint",
                            "tcp://127.0.0.1:*",
                            "--worker-endpoint",
                            "tcp://127.0.0.1:*",
                            "--cluster-endpoint",
                            "tcp://127.0.0.1:*",
                            "--log-level",
                            "warning",
                            "--cluster-name",
                            NULL};
    //  A cluster name of this test process: members of other test runs or
    //  benchmarks on this machine (seeded with ports since reused) never join.
    char cluster_name[32];
    snprintf (cluster_name, sizeof cluster_name, "test-%d", (int) getpid ());
    argv[10] = cluster_name;
    int argc = 11;
    //  The same tests run with partition actor threads (default: none) when the
    //  test is registered with this variable.
    const char *threads = getenv ("ZDEX_TEST_PARTITION_THREADS");
    if (threads) {
        argv[argc++] = "--partition-threads";
        argv[argc++] = threads;
    }
    for (int index = 0; extra_args && extra_args[index] && argc < 63; index++)
        argv[argc++] = extra_args[index];
    argv[argc] = NULL;
    int fd;
    memset (member, 0, sizeof *member);
    member->pid = s_spawn ((char *const *) argv, &fd);
    if (member->pid < 0)
        return -1;
    char line[1024];
    int rc = s_read_line (fd, line, sizeof line, 10000);
    close (fd);
    if (rc == 0 && sscanf (line, "zdexd ready member=%127s client=%255s worker=%255s cluster=%255s",
                           member->member_id, member->client, member->worker, member->cluster) == 4)
        return 0;
    harness_stop (member->pid, SIGKILL, 5000);
    member->pid = -1;
    return -1;
}

pid_t
harness_worker_start (const char *endpoint, int slots, const char *name, const char *count_file)
{
    const char *binary = getenv ("ZDEX_WORKER");
    if (!binary)
        return -1;
    char slots_text[16];
    snprintf (slots_text, sizeof slots_text, "%d", slots);
    //  endpoint may list several members, comma-separated: one --connect each.
    const char *argv[48] = {binary, "--slots", slots_text};
    int argc = 3;
    char endpoints[2048];
    snprintf (endpoints, sizeof endpoints, "%s", endpoint);
    char *rest = NULL;
    for (char *item = strtok_r (endpoints, ",", &rest); item && argc < 40;
         item = strtok_r (NULL, ",", &rest)) {
        argv[argc++] = "--connect";
        argv[argc++] = item;
    }
    if (name) {
        argv[argc++] = "--name";
        argv[argc++] = name;
    }
    if (count_file) {
        argv[argc++] = "--count-file";
        argv[argc++] = count_file;
    }
    argv[argc] = NULL;
    int fd;
    pid_t pid = s_spawn ((char *const *) argv, &fd);
    if (pid < 0)
        return -1;
    char line[256];
    int rc = s_read_line (fd, line, sizeof line, 10000);
    close (fd);
    if (rc != 0 || strncmp (line, "zdex-worker ready", 17) != 0) {
        harness_stop (pid, SIGKILL, 5000);
        return -1;
    }
    return pid;
}

int
harness_stop (pid_t pid, int sig, int timeout_ms)
{
    if (pid <= 0)
        return -1;
    kill (pid, sig);
    int status;
    //  A pidfd becomes readable when the process exits: wait on it, bounded.
    int fd = (int) syscall (SYS_pidfd_open, pid, 0);
    if (fd >= 0) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        int64_t deadline = zclock_mono () + timeout_ms;
        int rc = 0;
        while (rc == 0 && zclock_mono () < deadline) {
            rc = poll (&pfd, 1, (int) (deadline - zclock_mono ()));
            if (rc < 0 && errno == EINTR)
                rc = 0;
        }
        close (fd);
        if (rc > 0 && waitpid (pid, &status, 0) == pid) {
            s_track (0, pid);
            return status;
        }
    } else if (waitpid (pid, &status, 0) == pid) { //  no pidfd: the kernel is too old
        s_track (0, pid);
        return status;
    }
    kill (pid, SIGKILL);
    waitpid (pid, &status, 0);
    s_track (0, pid);
    return -1;
}

//  Ask op (cluster.workers / cluster.members) to wait until its list has at least
//  count entries; 0 when it does, -1 (reply logged) when not within timeout_ms.
static int
s_wait_for (const char *client_endpoint, const char *op, const char *minimum, const char *list,
            int count, int timeout_ms)
{
    zdex_client_t *client = zdex_client_new (client_endpoint);
    if (!client)
        return -1;
    json_t *request =
        json_pack ("{s:s, s:i, s:i}", "op", op, minimum, count, "timeout_ms", timeout_ms);
    json_t *reply = zdex_client_call (client, request, timeout_ms + 5000);
    int rc = -1;
    if (reply && json_is_true (json_object_get (reply, "ok")) &&
        (int) json_array_size (json_object_get (reply, list)) >= count)
        rc = 0;
    else {
        char *text = reply ? json_dumps (reply, JSON_COMPACT) : NULL;
        fprintf (stderr, "harness: waiting for %d %s: %s\n", count, list,
                 text ? text : zdex_client_error_message (client));
        free (text);
    }
    json_decref (reply);
    json_decref (request);
    zdex_client_destroy (&client);
    return rc;
}

int
harness_wait_workers (const char *client_endpoint, int count, int timeout_ms)
{
    return s_wait_for (client_endpoint, "cluster.workers", "min_workers", "workers", count,
                       timeout_ms);
}

int
harness_wait_members (const char *client_endpoint, int count, int timeout_ms)
{
    return s_wait_for (client_endpoint, "cluster.members", "min_members", "members", count,
                       timeout_ms);
}

const char *
harness_tmpdir (void)
{
    static char path[256]; //  one per test process, set once
    if (!path[0]) {
        const char *base = getenv ("TMPDIR") ? getenv ("TMPDIR") : "/tmp";
        snprintf (path, sizeof path, "%s/zdex-test-XXXXXX", base);
        if (!mkdtemp (path))
            path[0] = '\0';
    }
    return path;
}

int
harness_count_lines (const char *path)
{
    FILE *file = fopen (path, "r");
    if (!file)
        return 0;
    int lines = 0;
    int c;
    while ((c = fgetc (file)) != EOF)
        if (c == '\n')
            lines++;
    fclose (file);
    return lines;
}
