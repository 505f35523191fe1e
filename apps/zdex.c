//  zdex: command-line client of a zdex cluster.
//
//  Each command sends one request through zdex_client_call and prints the reply as
//  one line of compact JSON on stdout.  An ok:false reply or a client-side failure
//  also prints "zdex: CODE: message" on stderr and exits 1; a usage error exits 2.
//  Options may come before or after the command; "--" ends the options.

#include "zdex.h"

#include <czmq.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_EXIT_ERROR 1
#define S_EXIT_USAGE 2

static const char *s_usage_text =
    "usage: zdex [OPTIONS] COMMAND [ARGS]\n"
    "\n"
    "Options:\n"
    "  --connect EP        member client endpoint(s), comma-separated\n"
    "                      (default $ZDEX_CONNECT, else " ZDEX_CLIENT_DEFAULT_ENDPOINT ")\n"
    "  --executor NAME     durable executor (default \"default\")\n"
    "  --timeout MS        client-side wait for the reply (default: forever; a request\n"
    "                      with --timeout-ms T waits at least T+5000 ms)\n"
    "  --help              show this help\n"
    "\n"
    "Commands:\n"
    "  submit TYPE [PAYLOAD_JSON] [--key K] [--idempotency-key K]\n"
    "                      durable.submit; prints {\"task_id\":...}\n"
    "  execute TYPE [PAYLOAD_JSON] [--key K] [--idempotency-key K]\n"
    "                      durable.execute (no id, result not kept)\n"
    "  retrieve TASK_ID [--timeout-ms N]\n"
    "                      durable.retrieve; waits until done without --timeout-ms\n"
    "  retrieve-and-dispose TASK_ID [--timeout-ms N]\n"
    "                      durable.retrieve_and_dispose\n"
    "  dispose TASK_ID     durable.dispose\n"
    "  shutdown            durable.shutdown\n"
    "  shutdown-now        durable.shutdown_now; prints {\"not_started\":[...]}\n"
    "  status              durable.status; prints {\"shutdown\":..,\"terminated\":..}\n"
    "  stats               durable.stats\n"
    "  ping                cluster.ping\n"
    "  members             cluster.members\n"
    "  workers             cluster.workers\n"
    "  call JSON           send JSON (an object with \"op\") as is\n"
    "\n"
    "Prints the reply as one line of JSON.  On an error reply or a client failure,\n"
    "also prints \"zdex: CODE: message\" on stderr and exits 1; usage errors exit 2.\n";

//  Parsed command line.
typedef struct {
    const char *connect;
    const char *executor;
    int64_t timeout; //  -1: not given
    const char *key;
    const char *idempotency_key;
    int64_t timeout_ms;  //  -1: not given
    const char *args[4]; //  command and its positional arguments
    int arg_count;
} s_options_t;

static int
s_usage_error (const char *format, const char *detail)
{
    fprintf (stderr, "zdex: ");
    fprintf (stderr, format, detail);
    fprintf (stderr, "\nTry 'zdex --help'.\n");
    return S_EXIT_USAGE;
}

//  Parse a decimal integer in [0, INT64_MAX]; returns 0 or -1.
static int
s_parse_count (const char *text, int64_t *value_p)
{
    if (*text < '0' || *text > '9')
        return -1;
    char *end = NULL;
    errno = 0;
    long long value = strtoll (text, &end, 10);
    if (errno || *end != '\0' || value < 0)
        return -1;
    *value_p = (int64_t) value;
    return 0;
}

//  Fill options from argv; returns 0, a usage exit code, or -1 for --help.
static int
s_parse (int argc, char *argv[], s_options_t *options)
{
    bool options_done = false;
    for (int index = 1; index < argc; index++) {
        const char *arg = argv[index];
        if (options_done || strncmp (arg, "--", 2) != 0) {
            if (options->arg_count == 4)
                return s_usage_error ("too many arguments at '%s'", arg);
            options->args[options->arg_count++] = arg;
            continue;
        }
        if (streq (arg, "--")) {
            options_done = true;
            continue;
        }
        if (streq (arg, "--help"))
            return -1;
        //  --name VALUE or --name=VALUE
        char name[32];
        const char *value = NULL;
        const char *equals = strchr (arg, '=');
        size_t length = equals ? (size_t) (equals - arg) : strlen (arg);
        if (length >= sizeof name)
            return s_usage_error ("unknown option '%s'", arg);
        memcpy (name, arg, length);
        name[length] = '\0';
        if (equals)
            value = equals + 1;
        else if (index + 1 < argc)
            value = argv[++index];
        else
            return s_usage_error ("option '%s' needs a value", arg);

        if (streq (name, "--connect"))
            options->connect = value;
        else if (streq (name, "--executor"))
            options->executor = value;
        else if (streq (name, "--key"))
            options->key = value;
        else if (streq (name, "--idempotency-key"))
            options->idempotency_key = value;
        else if (streq (name, "--timeout")) {
            if (s_parse_count (value, &options->timeout))
                return s_usage_error ("--timeout needs a number of ms >= 0, not '%s'", value);
        } else if (streq (name, "--timeout-ms")) {
            if (s_parse_count (value, &options->timeout_ms))
                return s_usage_error ("--timeout-ms needs a number of ms >= 0, not '%s'", value);
        } else
            return s_usage_error ("unknown option '%s'", name);
    }
    return 0;
}

//  Command table: name, op, positional arguments accepted (min..max), and which
//  command options apply.
typedef enum {
    S_TAKES_EXECUTOR = 1,
    S_TAKES_TASK = 2,    //  TYPE [PAYLOAD] --key --idempotency-key
    S_TAKES_TASK_ID = 4, //  TASK_ID
    S_TAKES_TIMEOUT = 8, //  --timeout-ms
    S_TAKES_JSON = 16    //  raw request
} s_takes_t;

typedef struct {
    const char *name;
    const char *op;
    int min_args;
    int max_args;
    int takes;
} s_command_t;

static const s_command_t s_commands[] = {
    {"submit", "durable.submit", 1, 2, S_TAKES_EXECUTOR | S_TAKES_TASK},
    {"execute", "durable.execute", 1, 2, S_TAKES_EXECUTOR | S_TAKES_TASK},
    {"retrieve", "durable.retrieve", 1, 1, S_TAKES_EXECUTOR | S_TAKES_TASK_ID | S_TAKES_TIMEOUT},
    {"retrieve-and-dispose", "durable.retrieve_and_dispose", 1, 1,
     S_TAKES_EXECUTOR | S_TAKES_TASK_ID | S_TAKES_TIMEOUT},
    {"dispose", "durable.dispose", 1, 1, S_TAKES_EXECUTOR | S_TAKES_TASK_ID},
    {"shutdown", "durable.shutdown", 0, 0, S_TAKES_EXECUTOR},
    {"shutdown-now", "durable.shutdown_now", 0, 0, S_TAKES_EXECUTOR},
    {"status", "durable.status", 0, 0, S_TAKES_EXECUTOR},
    {"stats", "durable.stats", 0, 0, S_TAKES_EXECUTOR},
    {"ping", "cluster.ping", 0, 0, 0},
    {"members", "cluster.members", 0, 0, 0},
    {"workers", "cluster.workers", 0, 0, 0},
    {"call", NULL, 1, 1, S_TAKES_JSON},
};

//  Set a string field; names must be valid UTF-8.
static int
s_set_string (json_t *request, const char *field, const char *value)
{
    if (json_object_set_new (request, field, json_string (value)) == 0)
        return 0;
    return s_usage_error ("%s is not valid UTF-8", field);
}

//  Build the request of a command; returns 0 or a usage exit code.
static int
s_build (const s_command_t *command, const s_options_t *options, json_t **request_p)
{
    const char *const *args = options->args + 1;
    int arg_count = options->arg_count - 1;
    if (arg_count < command->min_args || arg_count > command->max_args)
        return s_usage_error ("wrong number of arguments for '%s'", command->name);
    if ((options->key || options->idempotency_key) && !(command->takes & S_TAKES_TASK))
        return s_usage_error ("--key and --idempotency-key do not apply to '%s'", command->name);
    if (options->timeout_ms >= 0 && !(command->takes & S_TAKES_TIMEOUT))
        return s_usage_error ("--timeout-ms does not apply to '%s'", command->name);

    if (command->takes & S_TAKES_JSON) {
        json_error_t error;
        json_t *request = json_loads (args[0], JSON_REJECT_DUPLICATES, &error);
        if (!json_is_object (request)) {
            json_decref (request);
            return s_usage_error ("JSON must be an object: '%s'", args[0]);
        }
        *request_p = request;
        return 0;
    }
    json_t *request = json_object ();
    json_object_set_new (request, "op", json_string (command->op));
    int rc = 0;
    if (command->takes & S_TAKES_EXECUTOR)
        rc = s_set_string (request, "executor", options->executor);
    if (rc == 0 && (command->takes & S_TAKES_TASK)) {
        json_t *task = json_object ();
        json_object_set_new (request, "task", task);
        rc = s_set_string (task, "type", args[0]);
        if (rc == 0 && arg_count > 1) {
            json_error_t error;
            json_t *payload =
                json_loads (args[1], JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &error);
            if (payload)
                json_object_set_new (task, "payload", payload);
            else
                rc = s_usage_error ("invalid PAYLOAD_JSON: %s", error.text);
        }
        if (rc == 0 && options->key)
            rc = s_set_string (request, "key", options->key);
        if (rc == 0 && options->idempotency_key)
            rc = s_set_string (request, "idempotency_key", options->idempotency_key);
    }
    if (rc == 0 && (command->takes & S_TAKES_TASK_ID)) {
        int64_t task_id;
        if (s_parse_count (args[0], &task_id))
            rc = s_usage_error ("TASK_ID must be an integer >= 0, not '%s'", args[0]);
        else
            json_object_set_new (request, "task_id", json_integer (task_id));
    }
    if (rc == 0 && options->timeout_ms >= 0)
        json_object_set_new (request, "timeout_ms", json_integer (options->timeout_ms));
    if (rc)
        json_decref (request);
    else
        *request_p = request;
    return rc;
}

int
main (int argc, char *argv[])
{
    s_options_t options = {0};
    options.connect = getenv ("ZDEX_CONNECT");
    if (!options.connect || !*options.connect)
        options.connect = ZDEX_CLIENT_DEFAULT_ENDPOINT;
    options.executor = "default";
    options.timeout = -1;
    options.timeout_ms = -1;
    int rc = s_parse (argc, argv, &options);
    if (rc == -1) {
        fputs (s_usage_text, stdout);
        return 0;
    }
    if (rc)
        return rc;
    if (options.arg_count == 0)
        return s_usage_error ("%s", "no command given");

    const s_command_t *command = NULL;
    for (size_t index = 0; index < sizeof s_commands / sizeof s_commands[0]; index++)
        if (streq (options.args[0], s_commands[index].name))
            command = &s_commands[index];
    if (!command)
        return s_usage_error ("unknown command '%s'", options.args[0]);
    json_t *request = NULL;
    rc = s_build (command, &options, &request);
    if (rc)
        return rc;

    zdex_client_t *client = zdex_client_new (options.connect);
    if (!client) {
        json_decref (request);
        fprintf (stderr, "zdex: %s: cannot connect to '%s'\n", ZDEX_CLIENT_IO, options.connect);
        return S_EXIT_ERROR;
    }
    zdex_client_set_timeout (client, options.timeout);
    //  The client numbers requests itself; show "req" only when the user set one.
    bool user_req = json_object_get (request, "req") != NULL;
    json_t *reply = zdex_client_call (client, request, -1);
    json_decref (request);
    if (reply && !user_req)
        json_object_del (reply, "req");
    if (reply) {
        char *text = json_dumps (reply, JSON_COMPACT);
        if (text)
            puts (text);
        free (text);
        fflush (stdout);
        json_decref (reply);
    }
    rc = 0;
    if (zdex_client_error_code (client)) {
        fprintf (stderr, "zdex: %s: %s\n", zdex_client_error_code (client),
                 zdex_client_error_message (client));
        rc = S_EXIT_ERROR;
    }
    zdex_client_destroy (&client);
    return rc;
}
