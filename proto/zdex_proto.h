//  zdex_proto: the wire codec every member component uses.
//
//  Parses one client request frame into a validated zdex_request_t, parses worker
//  messages, and builds reply frames.  Parsing is strict: json_loadb with
//  JSON_REJECT_DUPLICATES, an object at the top level, nesting no deeper than
//  ZDEX_MAX_DEPTH, no unknown fields for a known op, every field typed and ranged.
//  A request that fails validation yields an error code and a message and changes
//  nothing.  Replies are built by splicing already-serialized JSON text (the echoed
//  `req`, a stored result) so a hot path never re-encodes what it stored.
//
//  Ownership: functions returning pointers say who owns them.  A zdex_request_t owns
//  its parsed JSON tree; the const char * fields point into it and live as long as
//  the request.

#ifndef ZDEX_PROTO_H_INCLUDED
#define ZDEX_PROTO_H_INCLUDED

#include <czmq.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define ZDEX_PROTOCOL_VERSION "0.1.0"
#define ZDEX_MAX_DEPTH        64   //  deepest allowed nesting of any frame
#define ZDEX_MAX_NAME_BYTES   1024 //  executor, key, idempotency_key, type, worker name
#define ZDEX_MAX_MEMBER_ID    64   //  a member id: 1..64 of A-Z a-z 0-9 . _ -
#define ZDEX_MAX_MEMBERS      256  //  entries of scheduled.schedule's "members"
#define ZDEX_MAX_DELAY_MS     INT64_C (315360000000) //  ten years: |delay_ms|, period_ms
#define ZDEX_HANDLER_PREFIX   "urn:zdex:scheduled:"
#define ZDEX_WMSG_BATCH_MAX   1024 //  frames in one worker-protocol message (PROTOCOL.md 12.2)

//  Stable error codes; zdex_code_str gives the wire string.
typedef enum {
    ZDEX_OK = 0,
    ZDEX_BAD_REQUEST,
    ZDEX_UNKNOWN_OP,
    ZDEX_TOO_LARGE,
    ZDEX_REJECTED,
    ZDEX_STALE_TASK_ID,
    ZDEX_STALE_TASK,
    ZDEX_DUPLICATE_TASK,
    ZDEX_TASK_FAILED,
    ZDEX_CANCELLED,
    ZDEX_TIMEOUT,
    ZDEX_SPLIT_BRAIN_PROTECTION,
    ZDEX_MEMBER_LOST,
    ZDEX_PARTITION_LOST,
    ZDEX_UNAVAILABLE
} zdex_code_t;

//  Client operations.
typedef enum {
    ZDEX_OP_DURABLE_SUBMIT = 0,
    ZDEX_OP_DURABLE_EXECUTE,
    ZDEX_OP_DURABLE_RETRIEVE,
    ZDEX_OP_DURABLE_RETRIEVE_AND_DISPOSE,
    ZDEX_OP_DURABLE_DISPOSE,
    ZDEX_OP_DURABLE_SUBMIT_AND_RETRIEVE, //  zdex extension: submit, answered with the result
    ZDEX_OP_DURABLE_SHUTDOWN,
    ZDEX_OP_DURABLE_SHUTDOWN_NOW,
    ZDEX_OP_DURABLE_STATUS,
    ZDEX_OP_DURABLE_STATS,
    ZDEX_OP_CLUSTER_PING,
    ZDEX_OP_CLUSTER_MEMBERS,
    ZDEX_OP_CLUSTER_WORKERS, //  zdex extension: workers connected to this member
    ZDEX_OP_SCHEDULED_SCHEDULE,
    ZDEX_OP_SCHEDULED_GET,
    ZDEX_OP_SCHEDULED_CANCEL,
    ZDEX_OP_SCHEDULED_DISPOSE,
    ZDEX_OP_SCHEDULED_STATUS,
    ZDEX_OP_SCHEDULED_GET_ALL,
    ZDEX_OP_SCHEDULED_SHUTDOWN,
    ZDEX_OP_SCHEDULED_STATS,
    ZDEX_OP_COUNT
} zdex_op_t;

//  True for the scheduled executor's ops ("scheduled.*").
#define ZDEX_OP_IS_SCHEDULED(op)                                                                   \
    ((op) >= ZDEX_OP_SCHEDULED_SCHEDULE && (op) <= ZDEX_OP_SCHEDULED_STATS)

//  A scheduled task's handler, parsed from its URN
//      urn:zdex:scheduled:OWNER:SCHEDULER:NAME
//  OWNER is "partition=" P (decimal 0..2147483647, no sign, no leading zero but in
//  "0") or "member=" M (a member id: 1..64 of A-Z a-z 0-9 . _ -).  SCHEDULER is 1 to
//  1024 bytes of UTF-8 without ':' or control characters (U+0000..U+001F, U+007F);
//  NAME is 1 to 1024 bytes of UTF-8 without control characters (':' allowed: it is
//  the last part).  Formatting a parsed handler gives back the same URN.
typedef struct {
    int32_t partition;     //  >= 0 partition-owned; -1 member-owned
    const char *member;    //  member id when member-owned, else NULL
    const char *scheduler; //  points into owned
    const char *name;      //  points into owned
    char *owned;           //  storage the pointers point into (NULL when zeroed)
} zdex_handler_t;

//  Limits the codec enforces.  Frames above max_frame_bytes get TOO_LARGE (the
//  socket's ZMQ_MAXMSGSIZE is a larger hard cap that drops the connection); a task
//  payload whose compact encoding is above max_payload_bytes gets TOO_LARGE.
typedef struct {
    size_t max_frame_bytes;
    size_t max_payload_bytes;
} zdex_limits_t;

//  A validated client request.  Fields an op does not take keep their defaults.
typedef struct {
    zdex_op_t op;
    json_t *root;                //  owned: the parsed frame; NULL for a durable op read
                                 //  without a tree (zdex_request_root builds it)
    char *req_text;              //  owned: compact encoding of "req", or NULL if absent
    const char *executor;        //  "default" when absent
    const char *key;             //  submit/execute/schedule: NULL when absent
    const char *idempotency_key; //  NULL when absent
    const char *task_type;       //  submit/execute/schedule: task.type
    char *payload_text;          //  submit/execute/schedule: task.payload as compact JSON
                                 //  ("null" if absent; owned, take it by nulling); else NULL
    uint64_t task_id;            //  retrieve/dispose ops
    int64_t timeout_ms;          //  -1 when absent (wait until done)
    int min_workers;             //  cluster.workers: wait until this many (0 when absent)
    int min_members;             //  cluster.members: wait until the view has this many

    //  Scheduled executor.  scheduler and name obey the handler's SCHEDULER and NAME
    //  rules, so that every task they name has a handler.
    const char *scheduler;    //  schedule, get_all, shutdown, stats: "default" when absent
    const char *name;         //  schedule: NULL when absent (the member picks a UUID)
    int64_t delay_ms;         //  schedule: required; -ZDEX_MAX_DELAY_MS..ZDEX_MAX_DELAY_MS
    int64_t period_ms;        //  schedule: 0 when absent (one-shot); 1..ZDEX_MAX_DELAY_MS
    bool auto_dispose;        //  schedule: false when absent; never true with period_ms
    const char *member;       //  schedule: member id, NULL when absent
    json_t *members;          //  schedule: borrowed array of 1..ZDEX_MAX_MEMBERS distinct
                              //  member ids (strings), NULL when absent
    bool all_members;         //  schedule: false when absent.  At most one of key, member,
                              //  members and all_members is set.
    zdex_handler_t handler;   //  get, cancel, dispose, status: the parsed handler (owned,
                              //  freed by zdex_request_destroy)
    const char *handler_text; //  get, cancel, dispose, status: the URN as received
    char *owned;              //  without a tree: the frame, then the names above, each
    size_t frame_size;        //  with a NUL; frame_size: the frame's bytes in owned
} zdex_request_t;

//  An error produced while parsing; req_text is the compact "req" when the frame was
//  an object that carried one (so the error reply can echo it), else NULL.
typedef struct {
    zdex_code_t code;
    char message[256];
    char *req_text; //  owned by the error; free with zdex_error_reset
} zdex_error_t;

//  Length of the well-formed UTF-8 sequence (RFC 3629: no overlong forms, no
//  surrogates, nothing above U+10FFFF) at text, reading at most size > 0 bytes;
//  0 when the bytes there are not one.
size_t zdex_utf8_sequence (const unsigned char *text, size_t size);

//  Wire string of a code, e.g. "BAD_REQUEST".
const char *zdex_code_str (zdex_code_t code);

//  Wire name of an op, e.g. "durable.submit".
const char *zdex_op_str (zdex_op_t op);

//  True when text is a member id: 1..ZDEX_MAX_MEMBER_ID of A-Z a-z 0-9 . _ -.
bool zdex_member_id_valid (const char *text);

//  Parse a handler URN into *out (zeroed first).  Returns 0 (*out owns storage: free
//  with zdex_handler_reset), or -1 with *out zeroed and a human message ("malformed
//  handler: ...") in message[size] (message may be NULL when size is 0).
int zdex_handler_parse (const char *urn, zdex_handler_t *out, char *message, size_t size);

//  Free what a handler owns and zero it.  Null-safe, and safe on a zeroed handler.
void zdex_handler_reset (zdex_handler_t *handler);

//  Format a handler URN: partition >= 0 for a partition-owned task (member is
//  ignored), or partition -1 with the member id for a member-owned one.  Returns the URN
//  (caller owns, free with free()), or NULL when the parts do not make a valid
//  handler (see zdex_handler_t) or memory ran out.
char *zdex_handler_format (int32_t partition, const char *member, const char *scheduler,
                           const char *name);

//  Parse and validate one client request frame.  Returns a new request (caller owns,
//  destroy with zdex_request_destroy), or NULL with *error filled in.  *error is
//  overwritten, not freed: reset it before reusing it.  limits NULL (or a zero
//  field) means the defaults, 1 MiB frames and 512 KiB payloads.
zdex_request_t *zdex_request_parse (const void *data, size_t size, const zdex_limits_t *limits,
                                    zdex_error_t *error);

//  Destroy a request and null the pointer.
void zdex_request_destroy (zdex_request_t **self_p);

//  The request's parsed frame, built from the frame on first use when the request
//  was read without a tree; NULL if out of memory.  Owned by the request.
json_t *zdex_request_root (zdex_request_t *self);

//  Free what an error owns and clear it.
void zdex_error_reset (zdex_error_t *error);

//  json_loadb (data, size, JSON_REJECT_DUPLICATES, error), several times faster on
//  the common shapes: the same tree, or NULL with jansson's own error.
json_t *zdex_json_load (const char *data, size_t size, json_error_t *error);

//  Compact JSON encoding of any value (caller owns the string, free with free()).
//  Returns NULL only on allocation failure.
char *zdex_json_text (const json_t *value);

//  True if data holds exactly one JSON value, written exactly as zdex_json_text
//  would write it (compact, canonical integers, no escape written otherwise, no
//  duplicate key), at most 32 levels deep and with at most 32 keys per object.
//  False means only "not sure": such text may still be valid JSON.
bool zdex_json_is_compact (const char *data, size_t size);

//  Parse data as one JSON value of any type (zdex_json_load takes only objects
//  and arrays), rejecting duplicate keys; NULL if it is not exactly one value.
json_t *zdex_json_value (const char *data, size_t size);

//  Compact JSON encoding of a C string as a JSON string literal, with quotes (caller
//  owns).
char *zdex_json_quote (const char *string);

//  Depth of a JSON value: scalars 1, containers 1 + deepest child.  Stops counting
//  at limit + 1.
int zdex_json_depth (const json_t *value, int limit);

//  A pipe message whose first frame was read with zmq_msg_recv (fast paths for
//  pointer hand-offs), as a zmsg: that frame (closed here) and the rest read from
//  sock.  For the slow commands that follow such fast paths.
zmsg_t *zdex_msg_rest (zmq_msg_t *first, zsock_t *sock);

//  One message from handle (a libzmq socket) into parts, without a zmsg: the hot
//  sockets' messages are parsed where zmq received them.  Does not wait for the
//  first part.  Keeps up to max parts (each initialized here; the caller closes
//  the ones returned) and reads any further parts and drops them.  Returns the
//  parts kept, 0 when nothing is waiting; *whole is false when parts were dropped.
size_t zdex_msg_recv_parts (void *handle, zmq_msg_t *parts, size_t max, bool *whole);

//  The hand-off of an object between a member's threads: a command frame, then a
//  frame holding a pointer whose ownership passes with it (the two frames
//  zsock_send (sock, "sp", ...) would send, without building a zmsg).  handle is
//  a libzmq socket.  Send returns 0, or -1 if libzmq refused (errno set); the
//  receiver reads the command frame itself, then the pointer with
//  zdex_pointer_recv.
int zdex_pointer_send (void *handle, const char *command, void *pointer);
void *zdex_pointer_recv (void *handle);

//  Build a success reply frame: {"req":<req_text>,"ok":true<fields>}.  req_text may
//  be NULL (no "req" key).  fields is NULL or a fragment of members starting with a
//  comma, e.g. ",\"task_id\":4294967296".  Caller owns the frame.
zframe_t *zdex_reply_ok (const char *req_text, const char *fields);

//  As zdex_reply_ok, then "result" with result_text (serialized JSON) as its value:
//  the answer of every retrieve, composed without an intermediate string.
zframe_t *zdex_reply_result (const char *req_text, const char *fields, const char *result_text);

//  Build a success reply frame carrying the members of object (borrowed; a JSON
//  object) after "ok":true.  Caller owns.
zframe_t *zdex_reply_object (const char *req_text, const json_t *object);

//  Build an error reply frame:
//  {"req":<req_text>,"ok":false,"error":{"code":"CODE","message":"<msg>"[,"cause":<cause_text>]}}
//  message is escaped; cause_text is already-serialized JSON or NULL.  Caller owns.
zframe_t *zdex_reply_error (const char *req_text, zdex_code_t code, const char *message,
                            const char *cause_text);

//  As zdex_reply_error, with fields (NULL, or members starting with a comma, as for
//  zdex_reply_ok) after "ok":false, e.g. the task_id of durable.submit_and_retrieve.
zframe_t *zdex_reply_error_fields (const char *req_text, const char *fields, zdex_code_t code,
                                   const char *message, const char *cause_text);

//  ---------------------------------------------------------------------------------
//  Worker protocol (member side).

typedef enum {
    ZDEX_WMSG_READY = 0,
    ZDEX_WMSG_RESULT,
    ZDEX_WMSG_HEARTBEAT,
    ZDEX_WMSG_BYE
} zdex_wmsg_kind_t;

//  The ref the member puts in worker.task is the JSON array ["d", executor, task_id]
//  for a durable task, and ["s", handler URN, run] for a run of a scheduled task
//  (run: 0..2^53); only refs of these shapes are accepted back.
typedef struct {
    zdex_wmsg_kind_t kind;
    json_t *root; //  owned; NULL for a durable worker.result read without a tree
    //  READY
    zlist_t *types;   //  owned list of strdup'ed type names (autofree)
    int slots;        //  >= 1
    const char *name; //  NULL when absent
    bool discover;    //  READY: wants worker.members (the cluster's worker endpoints)
    int batch;        //  READY: worker.task frames it takes in one message (default 1)
    //  RESULT
    bool scheduled;         //  the ref is a scheduled run's (else a durable task's)
    const char *executor;   //  durable ref; NULL for a scheduled one
    uint64_t task_id;       //  durable ref
    zdex_handler_t handler; //  scheduled ref: parsed handler (owned, freed with the message)
    uint64_t run;           //  scheduled ref: the run number
    uint32_t attempt;       //  >= 1
    bool ok;
    //  The value and state as compact JSON, as zdex_json_text writes them: owned,
    //  and a caller may take one by nulling the field (the member stores them).
    char *value_text;  //  ok == true ("null" if absent); NULL when ok == false
    const char *error; //  ok == false
    char *state_text;  //  NULL when absent
    char *owned;       //  what executor and error point into when root is NULL
} zdex_wmsg_t;

//  Parse one frame from a worker.  Returns a new message (caller owns) or NULL with
//  *error filled in.
zdex_wmsg_t *zdex_wmsg_parse (const void *data, size_t size, const zdex_limits_t *limits,
                              zdex_error_t *error);

//  Destroy a worker message and null the pointer.
void zdex_wmsg_destroy (zdex_wmsg_t **self_p);

//  Write value in decimal and a NUL to text, which holds ZDEX_U64_TEXT_MAX bytes;
//  returns the digits written.  The hot path formats task ids and keys for every
//  task: snprintf cost about a thousand instructions a call.
#define ZDEX_U64_TEXT_MAX 21
size_t zdex_u64_text (uint64_t value, char *text);

//  A worker.task frame as members write it, read without a tree: every pointer
//  points into the frame.  zdex_task_view returns -1 for any other frame (another
//  key, a key twice, an escaped key or type, ref, payload or state not compact
//  JSON, attempt not an integer from 1 to 2^32 - 1): read that one with a tree.
typedef struct {
    const char *ref; //  the ref's JSON text, to be sent back as it is
    size_t ref_size;
    const char *attempt; //  the attempt's digits
    size_t attempt_size;
    uint32_t attempt_value;
    const char *type; //  the type's bytes (not NUL-terminated)
    size_t type_size;
    const char *payload; //  JSON text; NULL when absent
    size_t payload_size;
    const char *state; //  JSON text; NULL when absent
    size_t state_size;
} zdex_task_view_t;

int zdex_task_view (const void *data, size_t size, zdex_task_view_t *view);

//  Build a worker.task frame; payload_text is serialized JSON.  Caller owns.
zframe_t *zdex_wmsg_task (const char *executor, uint64_t task_id, uint32_t attempt,
                          const char *type, const char *payload_text);

//  Build a worker.task frame for run `run` of the scheduled task named by urn:
//  {"op":"worker.task","ref":["s",urn,run],"attempt":..,"type":..,"payload":..
//  [,"state":..]}.  payload_text and state_text are serialized JSON (payload NULL:
//  null; state NULL: no "state").  Caller owns.
zframe_t *zdex_wmsg_scheduled_task (const char *urn, uint64_t run, uint32_t attempt,
                                    const char *type, const char *payload_text,
                                    const char *state_text);

//  Build a bodiless worker message frame ("worker.heartbeat", "worker.bye").
zframe_t *zdex_wmsg_simple (const char *op);

#ifdef __cplusplus
}
#endif

#endif
