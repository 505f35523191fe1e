//  zdex: command-line client of a zdex cluster.
//
//  Each command sends one request through zdex_client_call and prints the reply as
//  one line of compact JSON on stdout.  An ok:false reply or a client-side failure
//  also prints "zdex: CODE: message" on stderr and exits 1; a usage error exits 2.
//  Options may come before or after the command; "--" ends the options.  dispose and
//  status act on a scheduled task when their argument is a handler ("urn:..."), on
//  the durable executor otherwise.

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
    "  --scheduler NAME    scheduled executor (default \"default\")\n"
    "  --timeout MS        client-side wait for the reply (default: forever; a request\n"
    "                      with --timeout-ms T waits at least T+5000 ms)\n"
    "  --help              show this help\n"
    "\n"
    "Commands:\n"
    "  submit TYPE [PAYLOAD_JSON] [--key K] [--idempotency-key K]\n"
    "                      durable.submit; prints {\"task_id\":...}\n"
    "  execute TYPE [PAYLOAD_JSON] [--key K] [--idempotency-key K]\n"
    "                      durable.execute (no id, result not kept)\n"
    "  submit-and-retrieve TYPE [PAYLOAD_JSON] [--key K] [--idempotency-key K]\n"
    "                      [--timeout-ms N]\n"
    "                      durable.submit_and_retrieve: one request, answered with\n"
    "                      {\"task_id\":..,\"result\":..}; waits until done without --timeout-ms\n"
    "  retrieve TASK_ID [--timeout-ms N]\n"
    "                      durable.retrieve; waits until done without --timeout-ms\n"
    "  retrieve-and-dispose TASK_ID [--timeout-ms N]\n"
    "                      durable.retrieve_and_dispose\n"
    "  dispose TASK_ID     durable.dispose\n"
    "  shutdown            durable.shutdown\n"
    "  shutdown-now        durable.shutdown_now; prints {\"not_started\":[...]}\n"
    "  status              durable.status; prints {\"shutdown\":..,\"terminated\":..}\n"
    "  stats               durable.stats\n"
    "  schedule TYPE [PAYLOAD_JSON] [--delay MS] [--period MS] [--name N]\n"
    "           [--key K | --member ID | --members ID,ID,.. | --all-members]\n"
    "           [--auto-dispose]\n"
    "                      scheduled.schedule (--scheduler); first run after --delay\n"
    "                      (default 0, negative: at once), then every --period ms;\n"
    "                      prints {\"handler\":URN} or {\"handlers\":{ID:URN,..}}\n"
    "  get HANDLER [--timeout-ms N]\n"
    "                      scheduled.get; waits until done without --timeout-ms\n"
    "  cancel HANDLER      scheduled.cancel; prints {\"cancelled\":..}\n"
    "  dispose HANDLER     scheduled.dispose (HANDLER: \"urn:...\")\n"
    "  status HANDLER      scheduled.status (HANDLER: \"urn:...\")\n"
    "  get-all             scheduled.get_all (--scheduler); prints {\"members\":{ID:[URN,..]}}\n"
    "  scheduler-shutdown  scheduled.shutdown (--scheduler)\n"
    "  scheduler-stats     scheduled.stats (--scheduler)\n"
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
    const char *scheduler;
    int64_t timeout; //  -1: not given
    const char *key;
    const char *idempotency_key;
    int64_t timeout_ms; //  -1: not given
    //  schedule
    int64_t delay;
    bool period_given;
    int64_t period;
    const char *name;
    const char *member;
    const char *members; //  comma-separated
    bool all_members;
    bool auto_dispose;
    bool schedule_options; //  any of the above was given
    const char *args[4];   //  command and its positional arguments
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

//  Parse a decimal integer in [-INT64_MAX, INT64_MAX]; returns 0 or -1.
static int
s_parse_signed (const char *text, int64_t *value_p)
{
    bool negative = *text == '-';
    int64_t magnitude;
    if (s_parse_count (text + negative, &magnitude))
        return -1;
    *value_p = negative ? -magnitude : magnitude;
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
        //  Flags take no value
        if (streq (arg, "--all-members") || streq (arg, "--auto-dispose")) {
            if (streq (arg, "--all-members"))
                options->all_members = true;
            else
                options->auto_dispose = true;
            options->schedule_options = true;
            continue;
        }
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
        else if (streq (name, "--scheduler"))
            options->scheduler = value;
        else if (streq (name, "--name") || streq (name, "--member") || streq (name, "--members")) {
            *(streq (name, "--name")     ? &options->name
              : streq (name, "--member") ? &options->member
                                         : &options->members) = value;
            options->schedule_options = true;
        } else if (streq (name, "--delay")) {
            if (s_parse_signed (value, &options->delay))
                return s_usage_error ("--delay needs a number of ms, not '%s'", value);
            options->schedule_options = true;
        } else if (streq (name, "--period")) {
            if (s_parse_count (value, &options->period))
                return s_usage_error ("--period needs a number of ms, not '%s'", value);
            options->period_given = true;
            options->schedule_options = true;
        } else if (streq (name, "--key"))
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
    S_TAKES_TASK = 2,       //  TYPE [PAYLOAD] --key --idempotency-key
    S_TAKES_TASK_ID = 4,    //  TASK_ID
    S_TAKES_TIMEOUT = 8,    //  --timeout-ms
    S_TAKES_JSON = 16,      //  raw request
    S_TAKES_SCHEDULER = 32, //  --scheduler
    S_TAKES_SCHEDULE = 64,  //  TYPE [PAYLOAD] --key and the schedule options
    S_TAKES_HANDLER = 128,  //  HANDLER
    S_TAKES_URN = 256       //  chosen only when its argument starts with "urn:"
} s_takes_t;

typedef struct {
    const char *name;
    const char *op;
    int min_args;
    int max_args;
    int takes;
} s_command_t;

//  Commands sharing a name are tried in order; the first that fits is used.
static const s_command_t s_commands[] = {
    {"submit", "durable.submit", 1, 2, S_TAKES_EXECUTOR | S_TAKES_TASK},
    {"execute", "durable.execute", 1, 2, S_TAKES_EXECUTOR | S_TAKES_TASK},
    {"submit-and-retrieve", "durable.submit_and_retrieve", 1, 2,
     S_TAKES_EXECUTOR | S_TAKES_TASK | S_TAKES_TIMEOUT},
    {"retrieve", "durable.retrieve", 1, 1, S_TAKES_EXECUTOR | S_TAKES_TASK_ID | S_TAKES_TIMEOUT},
    {"retrieve-and-dispose", "durable.retrieve_and_dispose", 1, 1,
     S_TAKES_EXECUTOR | S_TAKES_TASK_ID | S_TAKES_TIMEOUT},
    {"dispose", "scheduled.dispose", 1, 1, S_TAKES_HANDLER | S_TAKES_URN},
    {"dispose", "durable.dispose", 1, 1, S_TAKES_EXECUTOR | S_TAKES_TASK_ID},
    {"shutdown", "durable.shutdown", 0, 0, S_TAKES_EXECUTOR},
    {"shutdown-now", "durable.shutdown_now", 0, 0, S_TAKES_EXECUTOR},
    {"status", "scheduled.status", 1, 1, S_TAKES_HANDLER | S_TAKES_URN},
    {"status", "durable.status", 0, 0, S_TAKES_EXECUTOR},
    {"stats", "durable.stats", 0, 0, S_TAKES_EXECUTOR},
    {"schedule", "scheduled.schedule", 1, 2, S_TAKES_SCHEDULER | S_TAKES_SCHEDULE},
    {"get", "scheduled.get", 1, 1, S_TAKES_HANDLER | S_TAKES_TIMEOUT},
    {"cancel", "scheduled.cancel", 1, 1, S_TAKES_HANDLER},
    {"get-all", "scheduled.get_all", 0, 0, S_TAKES_SCHEDULER},
    {"scheduler-shutdown", "scheduled.shutdown", 0, 0, S_TAKES_SCHEDULER},
    {"scheduler-stats", "scheduled.stats", 0, 0, S_TAKES_SCHEDULER},
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

//  The fields of scheduled.schedule besides task and key; returns 0 or a usage exit
//  code.
static int
s_schedule_fields (const s_options_t *options, json_t *request)
{
    json_object_set_new (request, "delay_ms", json_integer (options->delay));
    if (options->period_given)
        json_object_set_new (request, "period_ms", json_integer (options->period));
    if (options->auto_dispose)
        json_object_set_new (request, "auto_dispose", json_true ());
    if (options->all_members)
        json_object_set_new (request, "all_members", json_true ());
    int rc = 0;
    if (options->name)
        rc = s_set_string (request, "name", options->name);
    if (rc == 0 && options->member)
        rc = s_set_string (request, "member", options->member);
    if (rc == 0 && options->members) {
        //  ID,ID,...: the member validates the ids; empty ones are our usage error
        json_t *members = json_array ();
        json_object_set_new (request, "members", members);
        const char *item = options->members;
        while (rc == 0) {
            const char *comma = strchr (item, ',');
            size_t length = comma ? (size_t) (comma - item) : strlen (item);
            json_t *member = length ? json_stringn (item, length) : NULL;
            if (!member)
                rc = s_usage_error ("--members needs member ids separated by commas, not '%s'",
                                    options->members);
            else
                json_array_append_new (members, member);
            if (!comma)
                break;
            item = comma + 1;
        }
    }
    return rc;
}

//  The command called name that fits its arguments, or NULL when none has that
//  name.  A command marked S_TAKES_URN fits only a first argument starting with
//  "urn:"; when none fits, the last one of that name is used (its argument check
//  then reports the error).
static const s_command_t *
s_command_find (const char *name, const s_options_t *options)
{
    const s_command_t *found = NULL;
    for (size_t index = 0; index < sizeof s_commands / sizeof s_commands[0]; index++) {
        const s_command_t *command = &s_commands[index];
        if (!streq (name, command->name))
            continue;
        found = command;
        if (!(command->takes & S_TAKES_URN) ||
            (options->arg_count > 1 && strncmp (options->args[1], "urn:", 4) == 0))
            break;
    }
    return found;
}

//  Build the request of a command; returns 0 or a usage exit code.
static int
s_build (const s_command_t *command, const s_options_t *options, json_t **request_p)
{
    const char *const *args = options->args + 1;
    int arg_count = options->arg_count - 1;
    if (arg_count < command->min_args || arg_count > command->max_args)
        return s_usage_error ("wrong number of arguments for '%s'", command->name);
    if (options->key && !(command->takes & (S_TAKES_TASK | S_TAKES_SCHEDULE)))
        return s_usage_error ("--key does not apply to '%s'", command->name);
    if (options->idempotency_key && !(command->takes & S_TAKES_TASK))
        return s_usage_error ("--idempotency-key does not apply to '%s'", command->name);
    if (options->schedule_options && !(command->takes & S_TAKES_SCHEDULE))
        return s_usage_error ("--delay, --period, --name, --member, --members, --all-members "
                              "and --auto-dispose apply to 'schedule' only, not '%s'",
                              command->name);
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
    if (rc == 0 && (command->takes & S_TAKES_SCHEDULER))
        rc = s_set_string (request, "scheduler", options->scheduler);
    if (rc == 0 && (command->takes & S_TAKES_HANDLER))
        rc = s_set_string (request, "handler", args[0]);
    if (rc == 0 && (command->takes & S_TAKES_SCHEDULE))
        rc = s_schedule_fields (options, request);
    if (rc == 0 && (command->takes & (S_TAKES_TASK | S_TAKES_SCHEDULE))) {
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
        if (rc == 0 && options->idempotency_key && (command->takes & S_TAKES_TASK))
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
    options.scheduler = "default";
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

    const s_command_t *command = s_command_find (options.args[0], &options);
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
