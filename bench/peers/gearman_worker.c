//  zdex-gearman-worker: the Gearman peer's worker process (libgearman).
//
//  Registers the function "echo" (returns its workload) with one gearmand, on
//  --slots threads, each with its own gearman_worker_st and connection: a
//  Gearman worker connection runs one job at a time, so threads are Gearman's
//  counterpart of zdex-worker's slots.  Each thread waits in gearman_worker_work
//  with a timeout, so a stop request is seen within GW_TIMEOUT_MS.  The main
//  thread waits for SIGINT or SIGTERM with sigwait (blocked in every thread)
//  and then tells the threads to stop.  Prints "zdex-gearman-worker ready" once
//  every thread has registered its function.

#include <libgearman-1.0/gearman.h>

#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GW_FUNCTION   "echo"
#define GW_TIMEOUT_MS 500
#define GW_MAX_SLOTS  1024

typedef struct {
    const char *host;
    long port;
    atomic_bool stop;
    atomic_long registered; //  threads whose function is registered
    atomic_long failed;     //  threads that could not start
} gw_shared_t;

static void *
s_echo (gearman_job_st *job, void *context, size_t *result_size, gearman_return_t *ret_ptr)
{
    (void) context;
    size_t size = gearman_job_workload_size (job);
    //  libgearman frees the result it is given
    void *result = malloc (size ? size : 1);
    if (!result) {
        *ret_ptr = GEARMAN_WORK_FAIL;
        return NULL;
    }
    memcpy (result, gearman_job_workload (job), size);
    *result_size = size;
    *ret_ptr = GEARMAN_SUCCESS;
    return result;
}

static void *
s_slot (void *arg)
{
    gw_shared_t *shared = (gw_shared_t *) arg;
    gearman_worker_st *worker = gearman_worker_create (NULL);
    if (!worker ||
        gearman_worker_add_server (worker, shared->host, (in_port_t) shared->port) !=
            GEARMAN_SUCCESS ||
        gearman_worker_add_function (worker, GW_FUNCTION, 0, s_echo, NULL) != GEARMAN_SUCCESS) {
        fprintf (stderr, "zdex-gearman-worker: cannot set up a worker: %s\n",
                 worker ? gearman_worker_error (worker) : "out of memory");
        atomic_fetch_add (&shared->failed, 1);
        gearman_worker_free (worker);
        return NULL;
    }
    gearman_worker_set_timeout (worker, GW_TIMEOUT_MS);
    bool counted = false;
    long reported = 0;
    while (!atomic_load (&shared->stop)) {
        gearman_return_t ret = gearman_worker_work (worker);
        //  The first round trip (CAN_DO, then GRAB_JOB) means we are registered
        if (!counted && (ret == GEARMAN_SUCCESS || ret == GEARMAN_TIMEOUT ||
                         ret == GEARMAN_IO_WAIT || ret == GEARMAN_NO_JOBS)) {
            counted = true;
            atomic_fetch_add (&shared->registered, 1);
        }
        if (ret == GEARMAN_SUCCESS || ret == GEARMAN_TIMEOUT || ret == GEARMAN_IO_WAIT ||
            ret == GEARMAN_NO_JOBS || ret == GEARMAN_NO_ACTIVE_FDS)
            continue;
        if (reported++ < 5)
            fprintf (stderr, "zdex-gearman-worker: %s\n", gearman_worker_error (worker));
    }
    gearman_worker_free (worker);
    return NULL;
}

int
main (int argc, char *argv[])
{
    static const struct option options[] = {{"port", required_argument, NULL, 'p'},
                                            {"slots", required_argument, NULL, 's'},
                                            {"help", no_argument, NULL, 'h'},
                                            {NULL, 0, NULL, 0}};
    gw_shared_t shared = {.host = "127.0.0.1", .port = 4730};
    long slots = 64;
    int opt;
    while ((opt = getopt_long (argc, argv, "", options, NULL)) != -1) {
        if (opt == 'p')
            shared.port = atol (optarg);
        else if (opt == 's')
            slots = atol (optarg);
        else {
            fprintf (opt == 'h' ? stdout : stderr,
                     "usage: zdex-gearman-worker [--port P] [--slots S]\n"
                     "Runs S threads serving the Gearman function \"echo\" at 127.0.0.1:P\n"
                     "until SIGINT or SIGTERM.\n");
            return opt == 'h' ? 0 : 2;
        }
    }
    if (shared.port < 1 || shared.port > 65535 || slots < 1 || slots > GW_MAX_SLOTS) {
        fprintf (stderr, "zdex-gearman-worker: --port 1..65535, --slots 1..%d\n", GW_MAX_SLOTS);
        return 2;
    }
    //  Threads inherit the mask, so only sigwait below sees the signals
    sigset_t signals;
    sigemptyset (&signals);
    sigaddset (&signals, SIGINT);
    sigaddset (&signals, SIGTERM);
    pthread_sigmask (SIG_BLOCK, &signals, NULL);
    pthread_t threads[GW_MAX_SLOTS];
    long started = 0;
    for (; started < slots; started++)
        if (pthread_create (&threads[started], NULL, s_slot, &shared)) {
            fprintf (stderr, "zdex-gearman-worker: pthread_create: %s\n", strerror (errno));
            break;
        }
    //  Ready once every thread has registered; a SIGTERM meanwhile still stops us
    if (started == slots) {
        struct timespec slice = {0, 10 * 1000 * 1000};
        while (atomic_load (&shared.registered) + atomic_load (&shared.failed) < slots) {
            int signal = sigtimedwait (&signals, NULL, &slice);
            if (signal == SIGINT || signal == SIGTERM) {
                atomic_store (&shared.stop, true);
                break;
            }
        }
        if (!atomic_load (&shared.stop) && atomic_load (&shared.failed) == 0) {
            printf ("zdex-gearman-worker ready\n");
            fflush (stdout);
        }
    }
    if (!atomic_load (&shared.stop) && started == slots && atomic_load (&shared.failed) == 0) {
        int signal = 0;
        sigwait (&signals, &signal);
    }
    atomic_store (&shared.stop, true);
    for (long index = 0; index < started; index++)
        pthread_join (threads[index], NULL);
    return atomic_load (&shared.failed) || started < slots ? 1 : 0;
}
