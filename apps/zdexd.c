//  zdexd: one zdex member.
//
//  Loads the configuration (defaults, then --config FILE, then flags), starts the
//  broker actor, prints one "zdexd ready ..." line on stdout with the endpoints it
//  bound (so scripts and tests can use ephemeral ports), and runs until SIGINT or
//  SIGTERM, then stops cleanly.

#include "zdex_broker.h"
#include "zdex_config.h"
#include "zdex_proto.h"

#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <stdio.h>

static void
s_usage (FILE *stream)
{
    fprintf (stream,
             "usage: zdexd [options]\n"
             "Runs one zdex member (durable executor) until SIGINT or SIGTERM.\n"
             "\n"
             "  --config FILE             JSON configuration (see config/README.md)\n"
             "  --client-endpoint EP      where clients connect (default tcp://127.0.0.1:5570)\n"
             "  --worker-endpoint EP      where workers connect (default tcp://127.0.0.1:5571)\n"
             "  --cluster-endpoint EP     where members talk (default tcp://127.0.0.1:5572)\n"
             "  --seed EP                 cluster endpoint of a member to join (repeatable)\n"
             "  --member-id ID            this member's id (default: random m-xxxxxxxx)\n"
             "  --cluster-name NAME       only members of this cluster name meet (default zdex)\n"
             "  --rebalance on|off        move primaries to members that join (default on)\n"
             "  --log-level LEVEL         error, warning, info (default) or debug\n"
             "  --partition-count N       partitions in the cluster (default 271)\n"
             "  --partition-threads N     partition actor threads (default 0: the broker's)\n"
             "  --version                 print the protocol version and exit\n"
             "  --help                    this text\n"
             "\n"
             "Flags override the file.  An endpoint may use port '*' for an ephemeral port;\n"
             "the line 'zdexd ready member=ID client=EP worker=EP cluster=EP' on stdout\n"
             "tells where the member listens.\n");
}

int
main (int argc, char *argv[])
{
    static const struct option options[] = {{"config", required_argument, NULL, 'c'},
                                            {"client-endpoint", required_argument, NULL, 1},
                                            {"worker-endpoint", required_argument, NULL, 1},
                                            {"cluster-endpoint", required_argument, NULL, 1},
                                            {"seed", required_argument, NULL, 1},
                                            {"member-id", required_argument, NULL, 1},
                                            {"cluster-name", required_argument, NULL, 1},
                                            {"rebalance", required_argument, NULL, 1},
                                            {"log-level", required_argument, NULL, 1},
                                            {"partition-count", required_argument, NULL, 1},
                                            {"partition-threads", required_argument, NULL, 1},
                                            {"version", no_argument, NULL, 'v'},
                                            {"help", no_argument, NULL, 'h'},
                                            {NULL, 0, NULL, 0}};

    //  SIGINT and SIGTERM are blocked before any thread exists, so every thread
    //  inherits the mask and the main thread alone takes them, with sigwait.
    //  (Left to the default, the kernel may hand the signal to a partition or
    //  libzmq thread and the main thread never wakes.)
    sigset_t stop_signals;
    sigemptyset (&stop_signals);
    sigaddset (&stop_signals, SIGINT);
    sigaddset (&stop_signals, SIGTERM);
    pthread_sigmask (SIG_BLOCK, &stop_signals, NULL);

    zsys_set_logident ("zdexd");
    //  stdout carries only the ready line (scripts may stop reading it); logs go to
    //  stderr, and a closed stdout is an error to ignore, not a reason to die.
    zsys_set_logstream (stderr);
    signal (SIGPIPE, SIG_IGN);
    zdex_config_t *config = zdex_config_new ();
    char err[512];
    //  First pass: the file, so that flags override it whatever their order.
    int index = 0;
    int option;
    while ((option = getopt_long (argc, argv, "", options, &index)) != -1) {
        if (option == 'h') {
            s_usage (stdout);
            zdex_config_destroy (&config);
            return 0;
        }
        if (option == 'v') {
            printf ("zdexd %s\n", ZDEX_PROTOCOL_VERSION);
            zdex_config_destroy (&config);
            return 0;
        }
        if (option == '?') {
            s_usage (stderr);
            zdex_config_destroy (&config);
            return 2;
        }
        if (option == 'c' && zdex_config_load (config, optarg, err, sizeof err) != 0) {
            fprintf (stderr, "zdexd: %s\n", err);
            zdex_config_destroy (&config);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf (stderr, "zdexd: unexpected argument '%s'\n", argv[optind]);
        zdex_config_destroy (&config);
        return 2;
    }
    optind = 1;
    while ((option = getopt_long (argc, argv, "", options, &index)) != -1) {
        if (option == 1 &&
            zdex_config_set (config, options[index].name, optarg, err, sizeof err) != 0) {
            fprintf (stderr, "zdexd: --%s: %s\n", options[index].name, err);
            zdex_config_destroy (&config);
            return 2;
        }
    }

    zactor_t *broker = zdex_broker_new (config);
    zstr_send (broker, "ENDPOINTS");
    char *status = NULL, *client = NULL, *worker = NULL, *cluster = NULL;
    zstr_recvx (broker, &status, &client, &worker, &cluster, NULL);
    int rc = 0;
    if (!status || !streq (status, "OK")) {
        fprintf (stderr, "zdexd: %s\n", client ? client : "member did not start");
        rc = 1;
    } else {
        printf ("zdexd ready member=%s client=%s worker=%s cluster=%s\n",
                zdex_config_member (config)->member_id, client, worker, cluster);
        fflush (stdout);
        int signal_number = 0;
        sigwait (&stop_signals, &signal_number);
        zsys_info ("member %s stopping (%s)", zdex_config_member (config)->member_id,
                   strsignal (signal_number));
        //  Graceful leave: the member keeps serving while its partitions move to
        //  the others (bounded by the membership's own deadline; this wait is
        //  only a backstop).
        zstr_send (broker, "LEAVE");
        zpoller_t *poller = zpoller_new (zactor_sock (broker), NULL);
        if (poller && zpoller_wait (poller, 20000)) {
            char *left = zstr_recv (broker);
            zstr_free (&left);
        }
        zpoller_destroy (&poller);
    }
    zstr_free (&status);
    zstr_free (&client);
    zstr_free (&worker);
    zstr_free (&cluster);
    zactor_destroy (&broker);
    zdex_config_destroy (&config);
    return rc;
}
