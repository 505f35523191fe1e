//  zdex_proto: strict parsing of client requests and worker messages, and
//  construction of reply and worker frames.
//
//  Every byte that reaches a member from the network goes through this file, so
//  it is the one place that decides what a valid frame is.  Parsing is a single
//  pass: json_loadb (duplicate keys rejected, no bare scalars, no NUL), one walk to
//  bound the depth, then one iteration over the top-level object that both rejects
//  unknown fields and type-checks and stores the known ones.  Nothing is copied:
//  the request's strings point into its parsed tree.
//
//  Replies are assembled as bytes, not as jansson trees: the member already holds
//  the serialized pieces (the echoed "req", a stored result, a payload), so a
//  builder measures them, allocates the frame once and copies them in.  Strings
//  that need escaping are encoded by jansson; plain ASCII names (the common case
//  for executors and task types) are copied between quotes without a detour.

#include "zdex_proto.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  Used when the caller passes no limits (or a zero limit): the documented
//  defaults of max_frame_bytes and max_payload_bytes.
#define S_DEFAULT_MAX_FRAME_BYTES   (1024 * 1024)
#define S_DEFAULT_MAX_PAYLOAD_BYTES (512 * 1024)

//  timeout_ms above ten years is surely a mistake, and keeping it far below
//  INT64_MAX lets callers add it to a monotonic clock without overflow.  The same
//  bound holds delay_ms and period_ms.
#define S_MAX_TIMEOUT_MS ZDEX_MAX_DELAY_MS

//  A scheduled run's number travels as a JSON integer: keep it exact in a double.
#define S_MAX_RUN (UINT64_C (1) << 53)

//  Longest piece of a client-supplied name (unknown field, unknown op) quoted in
//  an error message.
#define S_SNIPPET_BYTES 64

#define S_WORKER_MAX_TYPES 256
#define S_WORKER_MAX_SLOTS 65536

//  Fields a client request may carry, as bits.
enum {
    S_FIELD_OP = 1 << 0,
    S_FIELD_REQ = 1 << 1,
    S_FIELD_EXECUTOR = 1 << 2,
    S_FIELD_TASK = 1 << 3,
    S_FIELD_KEY = 1 << 4,
    S_FIELD_IDEMPOTENCY_KEY = 1 << 5,
    S_FIELD_TASK_ID = 1 << 6,
    S_FIELD_TIMEOUT_MS = 1 << 7,
    S_FIELD_MIN_WORKERS = 1 << 8,
    S_FIELD_MIN_MEMBERS = 1 << 9,
    S_FIELD_SCHEDULER = 1 << 10,
    S_FIELD_NAME = 1 << 11,
    S_FIELD_DELAY_MS = 1 << 12,
    S_FIELD_PERIOD_MS = 1 << 13,
    S_FIELD_AUTO_DISPOSE = 1 << 14,
    S_FIELD_MEMBER = 1 << 15,
    S_FIELD_MEMBERS = 1 << 16,
    S_FIELD_ALL_MEMBERS = 1 << 17,
    S_FIELD_HANDLER = 1 << 18
};

#define S_FIELDS_BASE (S_FIELD_OP | S_FIELD_REQ)
#define S_FIELDS_SUBMIT                                                                            \
    (S_FIELDS_BASE | S_FIELD_EXECUTOR | S_FIELD_TASK | S_FIELD_KEY | S_FIELD_IDEMPOTENCY_KEY)
#define S_FIELDS_SUBMIT_AND_RETRIEVE (S_FIELDS_SUBMIT | S_FIELD_TIMEOUT_MS | S_FIELD_AUTO_DISPOSE)
#define S_FIELDS_RETRIEVE            (S_FIELDS_BASE | S_FIELD_EXECUTOR | S_FIELD_TASK_ID | S_FIELD_TIMEOUT_MS)
#define S_FIELDS_DISPOSE             (S_FIELDS_BASE | S_FIELD_EXECUTOR | S_FIELD_TASK_ID)
#define S_FIELDS_EXECUTOR            (S_FIELDS_BASE | S_FIELD_EXECUTOR)
#define S_FIELDS_SCHEDULE                                                                          \
    (S_FIELDS_BASE | S_FIELD_SCHEDULER | S_FIELD_TASK | S_FIELD_NAME | S_FIELD_DELAY_MS |          \
     S_FIELD_PERIOD_MS | S_FIELD_AUTO_DISPOSE | S_FIELD_KEY | S_FIELD_MEMBER | S_FIELD_MEMBERS |   \
     S_FIELD_ALL_MEMBERS)
#define S_FIELDS_HANDLER   (S_FIELDS_BASE | S_FIELD_HANDLER)
#define S_FIELDS_SCHEDULER (S_FIELDS_BASE | S_FIELD_SCHEDULER)

typedef struct {
    const char *name;
    size_t length;
    int bit;
} s_field_t;

#define S_ENTRY(literal, value)                                                                    \
    {                                                                                              \
        literal, sizeof (literal) - 1, value                                                       \
    }

static const s_field_t s_fields[] = {
    S_ENTRY ("op", S_FIELD_OP),
    S_ENTRY ("req", S_FIELD_REQ),
    S_ENTRY ("executor", S_FIELD_EXECUTOR),
    S_ENTRY ("task", S_FIELD_TASK),
    S_ENTRY ("key", S_FIELD_KEY),
    S_ENTRY ("idempotency_key", S_FIELD_IDEMPOTENCY_KEY),
    S_ENTRY ("task_id", S_FIELD_TASK_ID),
    S_ENTRY ("timeout_ms", S_FIELD_TIMEOUT_MS),
    S_ENTRY ("min_workers", S_FIELD_MIN_WORKERS),
    S_ENTRY ("min_members", S_FIELD_MIN_MEMBERS),
    S_ENTRY ("scheduler", S_FIELD_SCHEDULER),
    S_ENTRY ("name", S_FIELD_NAME),
    S_ENTRY ("delay_ms", S_FIELD_DELAY_MS),
    S_ENTRY ("period_ms", S_FIELD_PERIOD_MS),
    S_ENTRY ("auto_dispose", S_FIELD_AUTO_DISPOSE),
    S_ENTRY ("member", S_FIELD_MEMBER),
    S_ENTRY ("members", S_FIELD_MEMBERS),
    S_ENTRY ("all_members", S_FIELD_ALL_MEMBERS),
    S_ENTRY ("handler", S_FIELD_HANDLER),
};

typedef struct {
    const char *name;
    size_t length;
    int allowed;  //  S_FIELD_* bits the op accepts
    int required; //  S_FIELD_* bits it must carry
} s_op_t;

//  Indexed by zdex_op_t.
static const s_op_t s_ops[ZDEX_OP_COUNT] = {
    [ZDEX_OP_DURABLE_SUBMIT] = {"durable.submit", 14, S_FIELDS_SUBMIT, S_FIELD_TASK},
    [ZDEX_OP_DURABLE_EXECUTE] = {"durable.execute", 15, S_FIELDS_SUBMIT, S_FIELD_TASK},
    [ZDEX_OP_DURABLE_RETRIEVE] = {"durable.retrieve", 16, S_FIELDS_RETRIEVE, S_FIELD_TASK_ID},
    [ZDEX_OP_DURABLE_RETRIEVE_AND_DISPOSE] = {"durable.retrieve_and_dispose", 28, S_FIELDS_RETRIEVE,
                                              S_FIELD_TASK_ID},
    [ZDEX_OP_DURABLE_DISPOSE] = {"durable.dispose", 15, S_FIELDS_DISPOSE, S_FIELD_TASK_ID},
    [ZDEX_OP_DURABLE_SUBMIT_AND_RETRIEVE] = {"durable.submit_and_retrieve", 27,
                                             S_FIELDS_SUBMIT_AND_RETRIEVE, S_FIELD_TASK},
    [ZDEX_OP_DURABLE_SHUTDOWN] = {"durable.shutdown", 16, S_FIELDS_EXECUTOR, 0},
    [ZDEX_OP_DURABLE_SHUTDOWN_NOW] = {"durable.shutdown_now", 20, S_FIELDS_EXECUTOR, 0},
    [ZDEX_OP_DURABLE_STATUS] = {"durable.status", 14, S_FIELDS_EXECUTOR, 0},
    [ZDEX_OP_DURABLE_STATS] = {"durable.stats", 13, S_FIELDS_EXECUTOR, 0},
    [ZDEX_OP_CLUSTER_PING] = {"cluster.ping", 12, S_FIELDS_BASE, 0},
    [ZDEX_OP_CLUSTER_MEMBERS] = {"cluster.members", 15,
                                 S_FIELDS_BASE | S_FIELD_MIN_MEMBERS | S_FIELD_TIMEOUT_MS, 0},
    [ZDEX_OP_CLUSTER_WORKERS] = {"cluster.workers", 15,
                                 S_FIELDS_BASE | S_FIELD_MIN_WORKERS | S_FIELD_TIMEOUT_MS, 0},
    [ZDEX_OP_SCHEDULED_SCHEDULE] = {"scheduled.schedule", 18, S_FIELDS_SCHEDULE,
                                    S_FIELD_TASK | S_FIELD_DELAY_MS},
    [ZDEX_OP_SCHEDULED_GET] = {"scheduled.get", 13, S_FIELDS_HANDLER | S_FIELD_TIMEOUT_MS,
                               S_FIELD_HANDLER},
    [ZDEX_OP_SCHEDULED_CANCEL] = {"scheduled.cancel", 16, S_FIELDS_HANDLER, S_FIELD_HANDLER},
    [ZDEX_OP_SCHEDULED_DISPOSE] = {"scheduled.dispose", 17, S_FIELDS_HANDLER, S_FIELD_HANDLER},
    [ZDEX_OP_SCHEDULED_STATUS] = {"scheduled.status", 16, S_FIELDS_HANDLER, S_FIELD_HANDLER},
    [ZDEX_OP_SCHEDULED_GET_ALL] = {"scheduled.get_all", 17, S_FIELDS_SCHEDULER, 0},
    [ZDEX_OP_SCHEDULED_SHUTDOWN] = {"scheduled.shutdown", 18, S_FIELDS_SCHEDULER, 0},
    [ZDEX_OP_SCHEDULED_STATS] = {"scheduled.stats", 15, S_FIELDS_SCHEDULER, 0},
};

static const char *const s_codes[] = {
    [ZDEX_OK] = "OK",
    [ZDEX_BAD_REQUEST] = "BAD_REQUEST",
    [ZDEX_UNKNOWN_OP] = "UNKNOWN_OP",
    [ZDEX_TOO_LARGE] = "TOO_LARGE",
    [ZDEX_REJECTED] = "REJECTED",
    [ZDEX_STALE_TASK_ID] = "STALE_TASK_ID",
    [ZDEX_STALE_TASK] = "STALE_TASK",
    [ZDEX_DUPLICATE_TASK] = "DUPLICATE_TASK",
    [ZDEX_TASK_FAILED] = "TASK_FAILED",
    [ZDEX_CANCELLED] = "CANCELLED",
    [ZDEX_TIMEOUT] = "TIMEOUT",
    [ZDEX_SPLIT_BRAIN_PROTECTION] = "SPLIT_BRAIN_PROTECTION",
    [ZDEX_MEMBER_LOST] = "MEMBER_LOST",
    [ZDEX_PARTITION_LOST] = "PARTITION_LOST",
    [ZDEX_UNAVAILABLE] = "UNAVAILABLE",
};

const char *
zdex_code_str (zdex_code_t code)
{
    if ((int) code < 0 || (size_t) code >= sizeof (s_codes) / sizeof (s_codes[0]))
        return "UNKNOWN";
    return s_codes[code];
}

const char *
zdex_op_str (zdex_op_t op)
{
    if ((int) op < 0 || op >= ZDEX_OP_COUNT)
        return "unknown";
    return s_ops[op].name;
}

//  ---------------------------------------------------------------------------------
//  UTF-8 and error text

//  Length of the valid UTF-8 sequence at text (at most size bytes), or 0 when the
//  bytes there are not one (overlong, surrogate, above U+10FFFF, truncated).
size_t
zdex_utf8_sequence (const unsigned char *text, size_t size)
{
    unsigned char lead = text[0];
    if (lead < 0x80)
        return 1;
    size_t length;
    uint32_t point;
    if (lead >= 0xC2 && lead <= 0xDF) {
        length = 2;
        point = lead & 0x1F;
    } else if (lead >= 0xE0 && lead <= 0xEF) {
        length = 3;
        point = lead & 0x0F;
    } else if (lead >= 0xF0 && lead <= 0xF4) {
        length = 4;
        point = lead & 0x07;
    } else
        return 0;
    if (length > size)
        return 0;
    for (size_t index = 1; index < length; index++) {
        if ((text[index] & 0xC0) != 0x80)
            return 0;
        point = (point << 6) | (text[index] & 0x3F);
    }
    if ((length == 3 && point < 0x800) || (length == 4 && point < 0x10000) || point > 0x10FFFF ||
        (point >= 0xD800 && point <= 0xDFFF))
        return 0;
    return length;
}

//  Copy at most limit bytes of source into target (target_size > limit + 3),
//  cutting on a character boundary and marking a cut with "...", so that a long
//  client-supplied name cannot crowd the rest of an error message out.
static void
s_snippet (char *target, size_t target_size, const char *source, size_t limit)
{
    assert (target_size > limit + 3);
    const unsigned char *bytes = (const unsigned char *) source;
    size_t size = strlen (source);
    size_t used = 0;
    while (used < size) {
        size_t length = zdex_utf8_sequence (bytes + used, size - used);
        if (length == 0 || used + length > limit)
            break;
        used += length;
    }
    memcpy (target, source, used);
    if (used < size) {
        memcpy (target + used, "...", 3);
        used += 3;
    }
    target[used] = 0;
}

//  Fill an error.  A message cut by the buffer is trimmed back to a character
//  boundary so it still encodes as JSON text.
static void s_error_set (zdex_error_t *error, zdex_code_t code, const char *format, ...)
    __attribute__ ((format (printf, 3, 4)));

static void
s_error_set (zdex_error_t *error, zdex_code_t code, const char *format, ...)
{
    error->code = code;
    va_list args;
    va_start (args, format);
    int written = vsnprintf (error->message, sizeof (error->message), format, args);
    va_end (args);
    if (written >= (int) sizeof (error->message)) {
        //  Truncated: drop any partial sequence at the end
        size_t size = strlen (error->message);
        size_t used = 0;
        while (used < size) {
            size_t length =
                zdex_utf8_sequence ((const unsigned char *) error->message + used, size - used);
            if (length == 0)
                break;
            used += length;
        }
        error->message[used] = 0;
    }
}

void
zdex_error_reset (zdex_error_t *error)
{
    if (!error)
        return;
    free (error->req_text);
    error->req_text = NULL;
    error->code = ZDEX_OK;
    error->message[0] = 0;
}

//  ---------------------------------------------------------------------------------
//  JSON text helpers

//  A string jansson accepts: the string itself, or, when it is not valid UTF-8,
//  a copy with each invalid byte replaced by '?'.  Returns NULL only when out of
//  memory.
static json_t *
s_json_string (const char *string)
{
    json_t *value = json_string (string);
    if (value)
        return value;
    size_t size = strlen (string);
    char *clean = (char *) malloc (size + 1);
    if (!clean)
        return NULL;
    const unsigned char *bytes = (const unsigned char *) string;
    size_t used = 0;
    while (used < size) {
        size_t length = zdex_utf8_sequence (bytes + used, size - used);
        if (length == 0) {
            clean[used++] = '?';
            continue;
        }
        memcpy (clean + used, bytes + used, length);
        used += length;
    }
    clean[size] = 0;
    value = json_string (clean);
    free (clean);
    return value;
}

//  A string ready to be spliced into a frame as a JSON string literal.
typedef struct {
    const char *text; //  plain: the bytes to put between quotes
    size_t size;      //  encoded size including the quotes
    json_t *string;   //  when escaping is needed: jansson encodes it
} s_quoted_t;

//  Bytes that JSON lets us copy verbatim inside quotes and that are valid UTF-8
//  on their own.
static bool
s_plain_ascii (const char *text, size_t *size_p)
{
    const unsigned char *bytes = (const unsigned char *) text;
    size_t index = 0;
    for (; bytes[index]; index++) {
        unsigned char byte = bytes[index];
        if (byte < 0x20 || byte >= 0x7F || byte == '"' || byte == '\\')
            return false;
    }
    *size_p = index;
    return true;
}

static int
s_quoted_init (s_quoted_t *self, const char *text)
{
    size_t size;
    self->string = NULL;
    if (!text)
        text = "";
    if (s_plain_ascii (text, &size)) {
        self->text = text;
        self->size = size + 2;
        return 0;
    }
    self->text = NULL;
    self->string = s_json_string (text);
    if (!self->string)
        return -1;
    self->size = json_dumpb (self->string, NULL, 0, JSON_ENCODE_ANY);
    if (self->size == 0) {
        json_decref (self->string);
        self->string = NULL;
        return -1;
    }
    return 0;
}

static char *
s_quoted_write (s_quoted_t *self, char *target)
{
    if (self->string)
        json_dumpb (self->string, target, self->size, JSON_ENCODE_ANY);
    else {
        target[0] = '"';
        memcpy (target + 1, self->text, self->size - 2);
        target[self->size - 1] = '"';
    }
    return target + self->size;
}

static void
s_quoted_release (s_quoted_t *self)
{
    json_decref (self->string);
    self->string = NULL;
}

static char *
s_put (char *target, const char *text, size_t size)
{
    if (size)
        memcpy (target, text, size);
    return target + size;
}

#define S_PUT_LITERAL(target, literal) s_put ((target), (literal), sizeof (literal) - 1)

//  ---------------------------------------------------------------------------------
//  Fast JSON

//  jansson's reader and writer cost about 25,000 and 17,000 instructions for a
//  200-byte frame, most of it per byte, and every task crosses several of them.
//  These handle the common shapes (objects, arrays, strings without \u escapes,
//  integers, true, false, null) in one tight pass and build the same jansson tree
//  or the same bytes; anything else (reals, \u escapes, odd integers, any error)
//  goes back to jansson, so the result, errors included, is always jansson's.

#define S_FAST_MAX_DEPTH 64

//  How many bytes from at are plain inside a JSON string: 0x20..0x7F except '"'
//  and '\\'.  Eight at a time while none of the eight is special (a byte below
//  0x20, a quote or backslash, or a high bit), the way strlen finds a NUL.
static size_t
s_plain_run (const unsigned char *at, const unsigned char *end)
{
    const uint64_t ones = UINT64_C (0x0101010101010101), highs = UINT64_C (0x8080808080808080);
    const unsigned char *start = at;
    while (end - at >= 8) {
        uint64_t word;
        memcpy (&word, at, sizeof word);
        uint64_t quote = word ^ (ones * '"'), slash = word ^ (ones * '\\');
        uint64_t special = ((word - ones * 0x20) & ~word) | ((quote - ones) & ~quote) |
                           ((slash - ones) & ~slash) | word;
        special &= highs;
        if (special) {
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
            //  The lowest flagged byte is the first special one (a borrow only
            //  flags bytes above a special one): no byte loop for the rest.
            at += __builtin_ctzll (special) / 8;
            return (size_t) (at - start);
#else
            break;
#endif
        }
        at += 8;
    }
    while (at < end && *at >= 0x20 && *at < 0x80 && *at != '"' && *at != '\\')
        at++;
    return (size_t) (at - start);
}

typedef struct {
    const char *at;
    const char *end;
    char *scratch; //  unescaped strings
    size_t scratch_size;
} s_reader_t;

static void
s_skip_space (s_reader_t *self)
{
    while (self->at < self->end &&
           (*self->at == ' ' || *self->at == '\n' || *self->at == '\r' || *self->at == '\t'))
        self->at++;
}

//  After a member or an element: 1 if a ',' follows (another one comes), 0 if
//  close does, -1 for anything else; the reader is past it.  Spaces around it
//  are skipped when spaced (the skimmer takes none).
static int
s_separator (s_reader_t *self, char close, bool spaced)
{
    if (spaced)
        s_skip_space (self);
    if (self->at >= self->end)
        return -1;
    char next = *self->at++;
    if (spaced)
        s_skip_space (self);
    return next == ',' ? 1 : next == close ? 0 : -1;
}

//  A string at self->at (past the opening quote); *text_p points into the input
//  when it holds no escape, else into scratch.  Returns -1 for anything jansson
//  must judge.
static int
s_read_string (s_reader_t *self, const char **text_p, size_t *size_p)
{
    const unsigned char *start = (const unsigned char *) self->at;
    const unsigned char *end = (const unsigned char *) self->end;
    const unsigned char *at = start;
    bool escaped = false;
    while (at < end && *at != '"') {
        at += s_plain_run (at, end);
        if (at >= end || *at == '"')
            break;
        if (*at == '\\') {
            escaped = true;
            at += 2;
        } else if (*at < 0x20)
            return -1;
        else if (*at < 0x80)
            at++;
        else {
            size_t length = zdex_utf8_sequence (at, (size_t) (end - at));
            if (length == 0)
                return -1;
            at += length;
        }
    }
    if (at >= end)
        return -1;
    size_t size = (size_t) (at - start);
    self->at = (const char *) at + 1;
    if (!escaped) {
        *text_p = (const char *) start;
        *size_p = size;
        return 0;
    }
    if (size > self->scratch_size) {
        char *scratch = (char *) realloc (self->scratch, size);
        if (!scratch)
            return -1;
        self->scratch = scratch;
        self->scratch_size = size;
    }
    char *out = self->scratch;
    for (const unsigned char *in = start; in < at; in++) {
        if (*in != '\\') {
            *out++ = (char) *in;
            continue;
        }
        switch (*++in) {
        case '"':
            *out++ = '"';
            break;
        case '\\':
            *out++ = '\\';
            break;
        case '/':
            *out++ = '/';
            break;
        case 'b':
            *out++ = '\b';
            break;
        case 'f':
            *out++ = '\f';
            break;
        case 'n':
            *out++ = '\n';
            break;
        case 'r':
            *out++ = '\r';
            break;
        case 't':
            *out++ = '\t';
            break;
        default:
            return -1; //  \u, or not an escape
        }
    }
    *text_p = self->scratch;
    *size_p = (size_t) (out - self->scratch);
    return 0;
}

static json_t *s_read_value (s_reader_t *self, int depth);

static int s_skim_integer (s_reader_t *self);

static json_t *
s_read_integer (s_reader_t *self)
{
    const char *start = self->at;
    if (s_skim_integer (self))
        return NULL; //  leading zeros, "-0", long numbers, reals: jansson's call
    bool negative = *start == '-';
    json_int_t value = 0;
    for (const char *at = start + negative; at < self->at; at++)
        value = value * 10 + (*at - '0');
    return json_integer (negative ? -value : value);
}

static json_t *
s_read_literal (s_reader_t *self, const char *word, size_t size, json_t *value)
{
    if ((size_t) (self->end - self->at) < size || memcmp (self->at, word, size))
        return NULL;
    self->at += size;
    return value;
}

static json_t *
s_read_object (s_reader_t *self, int depth)
{
    json_t *object = json_object ();
    if (!object)
        return NULL;
    s_skip_space (self);
    if (self->at < self->end && *self->at == '}') {
        self->at++;
        return object;
    }
    while (true) {
        s_skip_space (self);
        const char *key;
        size_t key_size;
        if (self->at >= self->end || *self->at++ != '"' || s_read_string (self, &key, &key_size))
            goto failed;
        //  The key may live in scratch, which the value may reuse: copy it first.
        char stack_key[64];
        char *key_copy = key_size < sizeof stack_key ? stack_key : (char *) malloc (key_size + 1);
        if (!key_copy)
            goto failed;
        memcpy (key_copy, key, key_size);
        key_copy[key_size] = 0;
        s_skip_space (self);
        json_t *value = NULL;
        if (self->at < self->end && *self->at++ == ':' &&
            !json_object_getn (object, key_copy, key_size)) {
            s_skip_space (self);
            value = s_read_value (self, depth + 1);
        }
        int rc = value ? json_object_setn_new_nocheck (object, key_copy, key_size, value) : -1;
        if (key_copy != stack_key)
            free (key_copy);
        if (rc)
            goto failed;
        int more = s_separator (self, '}', true);
        if (more == 0)
            return object;
        if (more < 0)
            goto failed;
    }
failed:
    json_decref (object);
    return NULL;
}

static json_t *
s_read_array (s_reader_t *self, int depth)
{
    json_t *array = json_array ();
    if (!array)
        return NULL;
    s_skip_space (self);
    if (self->at < self->end && *self->at == ']') {
        self->at++;
        return array;
    }
    while (true) {
        s_skip_space (self);
        json_t *value = s_read_value (self, depth + 1);
        if (!value || json_array_append_new (array, value))
            goto failed;
        int more = s_separator (self, ']', true);
        if (more == 0)
            return array;
        if (more < 0)
            goto failed;
    }
failed:
    json_decref (array);
    return NULL;
}

static json_t *
s_read_value (s_reader_t *self, int depth)
{
    if (depth > S_FAST_MAX_DEPTH || self->at >= self->end)
        return NULL;
    switch (*self->at) {
    case '{':
        self->at++;
        return s_read_object (self, depth);
    case '[':
        self->at++;
        return s_read_array (self, depth);
    case '"': {
        self->at++;
        const char *text;
        size_t size;
        if (s_read_string (self, &text, &size))
            return NULL;
        return json_stringn_nocheck (text, size);
    }
    case 't':
        return s_read_literal (self, "true", 4, json_true ());
    case 'f':
        return s_read_literal (self, "false", 5, json_false ());
    case 'n':
        return s_read_literal (self, "null", 4, json_null ());
    default:
        return s_read_integer (self);
    }
}

json_t *
zdex_json_load (const char *data, size_t size, json_error_t *error)
{
    s_reader_t reader = {.at = data, .end = data + size};
    json_t *root = NULL;
    s_skip_space (&reader);
    if (data && reader.at < reader.end && (*reader.at == '{' || *reader.at == '['))
        root = s_read_value (&reader, 1);
    free (reader.scratch);
    if (root) {
        s_skip_space (&reader);
        if (reader.at == reader.end)
            return root;
        json_decref (root);
    }
    return json_loadb (data, size, JSON_REJECT_DUPLICATES, error);
}

//  Skimming: is the value at the reader exactly the text zdex_json_text would
//  write for it?  Then the text itself can be kept, and no tree is built or
//  written back: a worker's result, say, is stored as it came.  Anything the
//  writer would write otherwise (spaces, "\/", "\u" escapes, reals, integers the
//  fast reader leaves to jansson), a duplicate key, an escaped key (duplicates
//  are judged on raw bytes), more than S_SKIM_KEYS keys in one object or more
//  than S_SKIM_DEPTH levels: -1, and the caller builds the tree, which judges.

#define S_SKIM_DEPTH 32
#define S_SKIM_KEYS  32

static int s_skim_value (s_reader_t *self, int depth);

//  A string at self->at (past its opening quote), left as it is; *escaped tells
//  whether it holds an escape.
static int
s_skim_string (s_reader_t *self, bool *escaped)
{
    const unsigned char *at = (const unsigned char *) self->at;
    const unsigned char *end = (const unsigned char *) self->end;
    *escaped = false;
    while (true) {
        at += s_plain_run (at, end);
        if (at >= end)
            return -1;
        if (*at == '"')
            break;
        if (*at == '\\') {
            if (end - at < 2 || !strchr ("\"\\bfnrt", at[1]) || at[1] == 0)
                return -1;
            *escaped = true;
            at += 2;
        } else if (*at < 0x80)
            return -1; //  a control character
        else {
            size_t length = zdex_utf8_sequence (at, (size_t) (end - at));
            if (length == 0)
                return -1;
            at += length;
        }
    }
    self->at = (const char *) at + 1;
    return 0;
}

static int
s_skim_integer (s_reader_t *self)
{
    const char *at = self->at;
    bool negative = at < self->end && *at == '-';
    if (negative)
        at++;
    const char *digits = at;
    while (at < self->end && *at >= '0' && *at <= '9' && at - digits < 18)
        at++;
    size_t count = (size_t) (at - digits);
    //  Leading zeros, "-0", long numbers and reals are jansson's to read (and the
    //  writer would not write them back alike).
    if (count == 0 || (*digits == '0' && (count > 1 || negative)) ||
        (at < self->end && ((*at >= '0' && *at <= '9') || *at == '.' || *at == 'e' || *at == 'E')))
        return -1;
    self->at = at;
    return 0;
}

static int
s_skim_object (s_reader_t *self, int depth)
{
    if (self->at < self->end && *self->at == '}') {
        self->at++;
        return 0;
    }
    const char *keys[S_SKIM_KEYS];
    size_t sizes[S_SKIM_KEYS];
    size_t count = 0;
    while (true) {
        bool escaped;
        if (count == S_SKIM_KEYS || self->at >= self->end || *self->at++ != '"')
            return -1;
        const char *key = self->at;
        if (s_skim_string (self, &escaped) || escaped)
            return -1;
        size_t size = (size_t) (self->at - 1 - key);
        for (size_t index = 0; index < count; index++)
            if (sizes[index] == size && memcmp (keys[index], key, size) == 0)
                return -1;
        keys[count] = key;
        sizes[count++] = size;
        if (self->at >= self->end || *self->at++ != ':' || s_skim_value (self, depth + 1))
            return -1;
        int more = s_separator (self, '}', false);
        if (more <= 0)
            return more;
    }
}

static int
s_skim_array (s_reader_t *self, int depth)
{
    if (self->at < self->end && *self->at == ']') {
        self->at++;
        return 0;
    }
    while (true) {
        if (s_skim_value (self, depth + 1))
            return -1;
        int more = s_separator (self, ']', false);
        if (more <= 0)
            return more;
    }
}

static int
s_skim_literal (s_reader_t *self, const char *word, size_t size)
{
    if ((size_t) (self->end - self->at) < size || memcmp (self->at, word, size))
        return -1;
    self->at += size;
    return 0;
}

static int
s_skim_value (s_reader_t *self, int depth)
{
    if (depth > S_SKIM_DEPTH || self->at >= self->end)
        return -1;
    switch (*self->at) {
    case '{':
        self->at++;
        return s_skim_object (self, depth);
    case '[':
        self->at++;
        return s_skim_array (self, depth);
    case '"': {
        self->at++;
        bool escaped;
        return s_skim_string (self, &escaped);
    }
    case 't':
        return s_skim_literal (self, "true", 4);
    case 'f':
        return s_skim_literal (self, "false", 5);
    case 'n':
        return s_skim_literal (self, "null", 4);
    default:
        return s_skim_integer (self);
    }
}

//  A string without escapes at the reader (past its quote): its bytes.
static int
s_fast_plain (s_reader_t *self, const char **text_p, size_t *size_p)
{
    bool escaped;
    const char *start = self->at;
    if (s_skim_string (self, &escaped) || escaped)
        return -1;
    *text_p = start;
    *size_p = (size_t) (self->at - 1 - start);
    return 0;
}

//  A non-negative integer of at most 18 digits.
static int
s_fast_count (s_reader_t *self, uint64_t *value_p)
{
    const char *start = self->at;
    if (self->at >= self->end || *self->at == '-' || s_skim_integer (self))
        return -1;
    uint64_t value = 0;
    for (const char *at = start; at < self->at; at++)
        value = value * 10 + (uint64_t) (*at - '0');
    *value_p = value;
    return 0;
}

static bool
s_fast_char (s_reader_t *self, char expected)
{
    s_skip_space (self);
    if (self->at >= self->end || *self->at != expected)
        return false;
    self->at++;
    s_skip_space (self);
    return true;
}

//  A string (at its opening quote) that is exactly literal.
static bool
s_fast_is (s_reader_t *self, const char *literal)
{
    const char *text;
    size_t size;
    return self->at < self->end && *self->at++ == '"' && s_fast_plain (self, &text, &size) == 0 &&
           size == strlen (literal) && memcmp (text, literal, size) == 0;
}

//  A member's key (without escapes) and its ':', spaces around allowed.
static int
s_fast_key (s_reader_t *self, const char **key_p, size_t *size_p)
{
    if (self->at >= self->end || *self->at++ != '"' || s_fast_plain (self, key_p, size_p) ||
        !s_fast_char (self, ':'))
        return -1;
    return 0;
}

bool
zdex_json_is_compact (const char *data, size_t size)
{
    s_reader_t reader = {.at = data, .end = data + size};
    return data && s_skim_value (&reader, 1) == 0 && reader.at == reader.end;
}

json_t *
zdex_json_value (const char *data, size_t size)
{
    s_reader_t reader = {.at = data, .end = data + size};
    json_t *value = data ? s_read_value (&reader, 1) : NULL;
    free (reader.scratch);
    if (value && reader.at == reader.end)
        return value;
    json_decref (value);
    return data ? json_loadb (data, size, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, NULL) : NULL;
}

#define S_WRITER_LOCAL 256 //  most texts fit: they are written on the stack

//  A growing buffer for the writer: starts in `local`, moves to the heap when a text
//  outgrows it.  Set up with s_writer_init.
typedef struct {
    char *data;
    size_t size;
    size_t allocated;
    char local[S_WRITER_LOCAL];
} s_writer_t;

static void
s_writer_init (s_writer_t *self)
{
    self->data = self->local;
    self->size = 0;
    self->allocated = sizeof self->local;
}

static void
s_writer_fini (s_writer_t *self)
{
    if (self->data != self->local)
        free (self->data);
    s_writer_init (self);
}

static int
s_write (s_writer_t *self, const char *text, size_t size)
{
    if (self->size + size + 1 > self->allocated) {
        size_t allocated = self->allocated;
        while (allocated < self->size + size + 1)
            allocated *= 2;
        bool local = self->data == self->local;
        char *data = (char *) realloc (local ? NULL : self->data, allocated);
        if (!data)
            return -1;
        if (local)
            memcpy (data, self->local, self->size);
        self->data = data;
        self->allocated = allocated;
    }
    memcpy (self->data + self->size, text, size);
    self->size += size;
    return 0;
}

//  The escapes jansson writes for a string; -1 for a string it must write itself
//  (control characters other than the named ones, bytes that are not UTF-8).
static int
s_write_string (s_writer_t *self, const char *text, size_t size)
{
    if (s_write (self, "\"", 1))
        return -1;
    const unsigned char *at = (const unsigned char *) text;
    const unsigned char *end = at + size;
    const unsigned char *run = at;
    while (at < end) {
        at += s_plain_run (at, end);
        if (at >= end)
            break;
        unsigned char byte = *at;
        if (byte >= 0x80) {
            size_t length = zdex_utf8_sequence (at, (size_t) (end - at));
            if (length == 0)
                return -1;
            at += length;
            continue;
        }
        const char *escape;
        switch (byte) {
        case '"':
            escape = "\\\"";
            break;
        case '\\':
            escape = "\\\\";
            break;
        case '\b':
            escape = "\\b";
            break;
        case '\f':
            escape = "\\f";
            break;
        case '\n':
            escape = "\\n";
            break;
        case '\r':
            escape = "\\r";
            break;
        case '\t':
            escape = "\\t";
            break;
        default:
            return -1;
        }
        if (s_write (self, (const char *) run, (size_t) (at - run)) || s_write (self, escape, 2))
            return -1;
        run = ++at;
    }
    return s_write (self, (const char *) run, (size_t) (at - run)) || s_write (self, "\"", 1) ? -1
                                                                                              : 0;
}

static int
s_write_value (s_writer_t *self, const json_t *value, int depth)
{
    if (depth > S_FAST_MAX_DEPTH)
        return -1;
    switch (json_typeof (value)) {
    case JSON_OBJECT: {
        if (s_write (self, "{", 1))
            return -1;
        bool first = true;
        for (void *iter = json_object_iter ((json_t *) value); iter;
             iter = json_object_iter_next ((json_t *) value, iter)) {
            if ((!first && s_write (self, ",", 1)) ||
                s_write_string (self, json_object_iter_key (iter),
                                json_object_iter_key_len (iter)) ||
                s_write (self, ":", 1) ||
                s_write_value (self, json_object_iter_value (iter), depth + 1))
                return -1;
            first = false;
        }
        return s_write (self, "}", 1);
    }
    case JSON_ARRAY: {
        if (s_write (self, "[", 1))
            return -1;
        size_t size = json_array_size (value);
        for (size_t index = 0; index < size; index++)
            if ((index && s_write (self, ",", 1)) ||
                s_write_value (self, json_array_get (value, index), depth + 1))
                return -1;
        return s_write (self, "]", 1);
    }
    case JSON_STRING:
        return s_write_string (self, json_string_value (value), json_string_length (value));
    case JSON_INTEGER: {
        json_int_t number = json_integer_value (value);
        //  Digits from the end; the magnitude as unsigned, so INT64_MIN is fine.
        unsigned long long magnitude =
            number < 0 ? 0ULL - (unsigned long long) number : (unsigned long long) number;
        char digits[24];
        char *start = digits + sizeof digits;
        do
            *--start = (char) ('0' + magnitude % 10);
        while (magnitude /= 10);
        if (number < 0)
            *--start = '-';
        return s_write (self, start, (size_t) (digits + sizeof digits - start));
    }
    case JSON_TRUE:
        return s_write (self, "true", 4);
    case JSON_FALSE:
        return s_write (self, "false", 5);
    case JSON_NULL:
        return s_write (self, "null", 4);
    default:
        return -1; //  reals: jansson's format
    }
}

//  Compact text of value, as json_dumps (value, JSON_COMPACT | JSON_ENCODE_ANY)
//  writes it, in a block of exactly its size; *size_p gets its length.  Exact size
//  matters: callers keep the text as long as the task lives (a stored result is
//  this very block, see zdex_ring.c), and returning the writer's buffer (256 bytes
//  and up) made a stored task with a 100-byte result cost about 195 bytes more;
//  shrinking that buffer with realloc still left about 57, in tails scattered
//  between the stored blocks.  Small texts are written on the stack, so this is
//  one malloc, as with json_dumps.
static char *
s_dump (const json_t *value, size_t *size_p)
{
    s_writer_t writer;
    s_writer_init (&writer);
    if (s_write_value (&writer, value, 1) == 0) {
        char *text = (char *) malloc (writer.size + 1);
        if (text) {
            memcpy (text, writer.data, writer.size);
            text[writer.size] = 0;
            *size_p = writer.size;
        }
        s_writer_fini (&writer);
        return text;
    }
    s_writer_fini (&writer);
    char *text = json_dumps (value, JSON_COMPACT | JSON_ENCODE_ANY);
    *size_p = text ? strlen (text) : 0;
    return text;
}

char *
zdex_json_text (const json_t *value)
{
    if (!value)
        return strdup ("null");
    size_t size;
    return s_dump (value, &size);
}

char *
zdex_json_quote (const char *string)
{
    s_quoted_t quoted;
    if (s_quoted_init (&quoted, string))
        return NULL;
    char *text = (char *) malloc (quoted.size + 1);
    if (text) {
        char *end = s_quoted_write (&quoted, text);
        *end = 0;
    }
    s_quoted_release (&quoted);
    return text;
}

//  Depth of value capped at budget + 1; recursion never goes deeper than that.
static int
s_depth (const json_t *value, int budget)
{
    int deepest = 0;
    if (json_is_array (value)) {
        size_t size = json_array_size (value);
        for (size_t index = 0; index < size; index++) {
            int depth = s_depth (json_array_get (value, index), budget - 1);
            if (depth > deepest)
                deepest = depth;
            if (deepest >= budget)
                return budget + 1;
        }
    } else if (json_is_object (value)) {
        const char *key;
        json_t *member;
        json_object_foreach ((json_t *) value, key, member) {
            int depth = s_depth (member, budget - 1);
            if (depth > deepest)
                deepest = depth;
            if (deepest >= budget)
                return budget + 1;
        }
    }
    return 1 + deepest;
}

int
zdex_json_depth (const json_t *value, int limit)
{
    if (limit < 0)
        limit = 0;
    if (!value)
        return 0;
    return s_depth (value, limit);
}

//  ---------------------------------------------------------------------------------
//  Scheduled task handlers (URNs)

bool
zdex_member_id_valid (const char *text)
{
    if (!text)
        return false;
    size_t length = strspn (text, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                  "0123456789._-");
    return length > 0 && length <= ZDEX_MAX_MEMBER_ID && text[length] == 0;
}

//  Why size bytes at text cannot be a handler's SCHEDULER (colon false) or NAME
//  (colon true), or NULL when they can: 1..ZDEX_MAX_NAME_BYTES bytes of UTF-8
//  without control characters.
static const char *
s_handler_part_error (const char *text, size_t size, bool colon)
{
    if (size == 0)
        return "is empty";
    if (size > ZDEX_MAX_NAME_BYTES)
        return "is longer than 1024 bytes";
    const unsigned char *bytes = (const unsigned char *) text;
    size_t used = 0;
    while (used < size) {
        unsigned char byte = bytes[used];
        if (byte < 0x20 || byte == 0x7F)
            return "holds a control character";
        if (byte == ':' && !colon)
            return "holds ':'";
        size_t length = zdex_utf8_sequence (bytes + used, size - used);
        if (length == 0)
            return "is not valid UTF-8";
        used += length;
    }
    return NULL;
}

//  The partition of "partition=P": 0..INT32_MAX in canonical decimal, or -1.
static int32_t
s_handler_partition (const char *text, size_t size)
{
    if (size == 0 || size > 10 || (text[0] == '0' && size > 1))
        return -1;
    int64_t value = 0;
    for (size_t index = 0; index < size; index++) {
        if (text[index] < '0' || text[index] > '9')
            return -1;
        value = value * 10 + (text[index] - '0');
    }
    return value <= INT32_MAX ? (int32_t) value : -1;
}

static int
s_handler_fail (zdex_handler_t *out, char *message, size_t size, const char *part,
                const char *reason)
{
    zdex_handler_reset (out);
    if (message && size > 0)
        snprintf (message, size, "malformed handler: %s%s%s", part, *part ? " " : "", reason);
    return -1;
}

int
zdex_handler_parse (const char *urn, zdex_handler_t *out, char *message, size_t size)
{
    assert (out);
    memset (out, 0, sizeof *out);
    static const char prefix[] = ZDEX_HANDLER_PREFIX;
    static const char partition_tag[] = "partition=";
    static const char member_tag[] = "member=";
    if (!urn || strncmp (urn, prefix, sizeof prefix - 1) != 0)
        return s_handler_fail (out, message, size, "",
                               "(it must start with \"" ZDEX_HANDLER_PREFIX "\")");
    const char *owner = urn + sizeof prefix - 1;
    const char *owner_end = strchr (owner, ':');
    const char *scheduler = owner_end ? owner_end + 1 : NULL;
    const char *scheduler_end = scheduler ? strchr (scheduler, ':') : NULL;
    if (!scheduler_end)
        return s_handler_fail (out, message, size, "",
                               "(expected " ZDEX_HANDLER_PREFIX "OWNER:SCHEDULER:NAME)");
    const char *name = scheduler_end + 1;
    size_t owner_size = (size_t) (owner_end - owner);
    size_t member_size = 0;
    if (owner_size >= sizeof partition_tag - 1 &&
        memcmp (owner, partition_tag, sizeof partition_tag - 1) == 0) {
        out->partition = s_handler_partition (owner + sizeof partition_tag - 1,
                                              owner_size - (sizeof partition_tag - 1));
        if (out->partition < 0)
            return s_handler_fail (out, message, size, "partition",
                                   "must be a decimal 0..2147483647 without sign or leading zero");
    } else if (owner_size >= sizeof member_tag - 1 &&
               memcmp (owner, member_tag, sizeof member_tag - 1) == 0) {
        out->partition = -1;
        member_size = owner_size - (sizeof member_tag - 1);
        const char *member = owner + sizeof member_tag - 1;
        if (member_size == 0 || member_size > ZDEX_MAX_MEMBER_ID ||
            strspn (member, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                            "0123456789._-") != member_size)
            return s_handler_fail (out, message, size, "member id",
                                   "must be 1 to 64 of A-Z a-z 0-9 . _ -");
    } else
        return s_handler_fail (out, message, size, "owner",
                               "must be \"partition=P\" or \"member=ID\"");
    size_t scheduler_size = (size_t) (scheduler_end - scheduler);
    size_t name_size = strlen (name);
    const char *reason = s_handler_part_error (scheduler, scheduler_size, false);
    if (reason)
        return s_handler_fail (out, message, size, "scheduler", reason);
    if ((reason = s_handler_part_error (name, name_size, true)))
        return s_handler_fail (out, message, size, "name", reason);

    //  One block: [member NUL] scheduler NUL name NUL
    size_t member_room = out->partition < 0 ? member_size + 1 : 0;
    out->owned = (char *) malloc (member_room + scheduler_size + 1 + name_size + 1);
    if (!out->owned)
        return s_handler_fail (out, message, size, "", "(out of memory)");
    char *cursor = out->owned;
    if (out->partition < 0) {
        memcpy (cursor, owner + sizeof member_tag - 1, member_size);
        cursor[member_size] = 0;
        out->member = cursor;
        cursor += member_room;
    }
    memcpy (cursor, scheduler, scheduler_size);
    cursor[scheduler_size] = 0;
    out->scheduler = cursor;
    cursor += scheduler_size + 1;
    memcpy (cursor, name, name_size + 1);
    out->name = cursor;
    return 0;
}

void
zdex_handler_reset (zdex_handler_t *handler)
{
    if (!handler)
        return;
    free (handler->owned);
    memset (handler, 0, sizeof *handler);
}

char *
zdex_handler_format (int32_t partition, const char *member, const char *scheduler, const char *name)
{
    if (partition < -1 || (partition == -1 && !zdex_member_id_valid (member)) || !scheduler ||
        !name || s_handler_part_error (scheduler, strlen (scheduler), false) ||
        s_handler_part_error (name, strlen (name), true))
        return NULL;
    char *urn = partition >= 0
                    ? zsys_sprintf (ZDEX_HANDLER_PREFIX "partition=%" PRId32 ":%s:%s", partition,
                                    scheduler, name)
                    : zsys_sprintf (ZDEX_HANDLER_PREFIX "member=%s:%s:%s", member, scheduler, name);
    return urn;
}

//  ---------------------------------------------------------------------------------
//  Shared parsing steps

static void
s_limits (const zdex_limits_t *limits, size_t *frame_p, size_t *payload_p)
{
    *frame_p =
        limits && limits->max_frame_bytes ? limits->max_frame_bytes : S_DEFAULT_MAX_FRAME_BYTES;
    *payload_p = limits && limits->max_payload_bytes ? limits->max_payload_bytes
                                                     : S_DEFAULT_MAX_PAYLOAD_BYTES;
}

//  Size check and strict parse; returns the top-level object or NULL with the
//  error set.
static json_t *
s_load_object (const void *data, size_t size, size_t max_frame, zdex_error_t *error)
{
    if (size > max_frame) {
        s_error_set (error, ZDEX_TOO_LARGE, "frame of %zu bytes exceeds max_frame_bytes (%zu)",
                     size, max_frame);
        return NULL;
    }
    if (size == 0 || !data) {
        s_error_set (error, ZDEX_BAD_REQUEST, "empty frame: expected a JSON object");
        return NULL;
    }
    json_error_t parse_error;
    json_t *root = zdex_json_load ((const char *) data, size, &parse_error);
    if (!root) {
        s_error_set (error, ZDEX_BAD_REQUEST, "invalid JSON at byte %d: %s", parse_error.position,
                     parse_error.text);
        return NULL;
    }
    if (!json_is_object (root)) {
        s_error_set (error, ZDEX_BAD_REQUEST, "frame must be a JSON object");
        json_decref (root);
        return NULL;
    }
    return root;
}

static bool
s_depth_ok (json_t *root, zdex_error_t *error)
{
    if (zdex_json_depth (root, ZDEX_MAX_DEPTH) > ZDEX_MAX_DEPTH) {
        s_error_set (error, ZDEX_BAD_REQUEST, "frame is nested deeper than %d levels",
                     ZDEX_MAX_DEPTH);
        return false;
    }
    return true;
}

//  The "op" field as a string, or NULL with the error set.
static const char *
s_op_name (json_t *root, size_t *length_p, zdex_error_t *error)
{
    json_t *op = json_object_get (root, "op");
    if (!json_is_string (op)) {
        s_error_set (error, ZDEX_BAD_REQUEST, "field 'op' is required and must be a string");
        return NULL;
    }
    *length_p = json_string_length (op);
    return json_string_value (op);
}

static void
s_unknown_op (const char *name, zdex_error_t *error)
{
    char snippet[S_SNIPPET_BYTES + 4];
    s_snippet (snippet, sizeof (snippet), name, S_SNIPPET_BYTES);
    s_error_set (error, ZDEX_UNKNOWN_OP, "unknown op '%s'", snippet);
}

static void
s_unknown_field (const char *prefix, const char *key, const char *op, zdex_error_t *error)
{
    char snippet[S_SNIPPET_BYTES + 4];
    s_snippet (snippet, sizeof (snippet), key, S_SNIPPET_BYTES);
    s_error_set (error, ZDEX_BAD_REQUEST, "unknown field '%s%s' for op '%s'", prefix, snippet, op);
}

//  A name: a non-empty string of at most ZDEX_MAX_NAME_BYTES bytes without NUL.
static const char *
s_name (json_t *value, const char *field, zdex_error_t *error)
{
    if (json_is_string (value)) {
        size_t length = json_string_length (value);
        const char *text = json_string_value (value);
        if (length > 0 && length <= ZDEX_MAX_NAME_BYTES && memchr (text, 0, length) == NULL)
            return text;
    }
    s_error_set (error, ZDEX_BAD_REQUEST,
                 "field '%s' must be a non-empty string of at most %d bytes", field,
                 ZDEX_MAX_NAME_BYTES);
    return NULL;
}

static int
s_integer (json_t *value, int64_t minimum, int64_t maximum, const char *field, int64_t *result_p,
           zdex_error_t *error)
{
    if (json_is_integer (value)) {
        json_int_t number = json_integer_value (value);
        if (number >= minimum && number <= maximum) {
            *result_p = number;
            return 0;
        }
    }
    if (minimum == 0 && maximum == INT64_MAX)
        s_error_set (error, ZDEX_BAD_REQUEST, "field '%s' must be a non-negative integer", field);
    else
        s_error_set (error, ZDEX_BAD_REQUEST,
                     "field '%s' must be an integer from %" PRId64 " to %" PRId64, field, minimum,
                     maximum);
    return -1;
}

//  task: {"type": name, "payload"?: any}
static int
s_task (json_t *task, zdex_request_t *request, const char *op, size_t max_payload,
        zdex_error_t *error)
{
    if (!json_is_object (task)) {
        s_error_set (error, ZDEX_BAD_REQUEST,
                     "field 'task' must be an object {\"type\": string, \"payload\"?: any}");
        return -1;
    }
    const char *key;
    json_t *value;
    json_t *payload = NULL;
    json_object_foreach (task, key, value) {
        if (strcmp (key, "type") == 0) {
            request->task_type = s_name (value, "task.type", error);
            if (!request->task_type)
                return -1;
        } else if (strcmp (key, "payload") == 0)
            payload = value;
        else {
            s_unknown_field ("task.", key, op, error);
            return -1;
        }
    }
    if (!request->task_type) {
        s_error_set (error, ZDEX_BAD_REQUEST, "field 'task.type' is required");
        return -1;
    }
    size_t size;
    char *text = s_dump (payload ? payload : json_null (), &size);
    if (!text || size > max_payload) {
        free (text);
        s_error_set (error, ZDEX_TOO_LARGE,
                     "task payload is larger than max_payload_bytes (%zu bytes)", max_payload);
        return -1;
    }
    free (request->payload_text);
    request->payload_text = text;
    return 0;
}

static int
s_boolean (json_t *value, const char *field, bool *result_p, zdex_error_t *error)
{
    if (!json_is_boolean (value)) {
        s_error_set (error, ZDEX_BAD_REQUEST, "field '%s' must be true or false", field);
        return -1;
    }
    *result_p = json_is_true (value);
    return 0;
}

//  A scheduler (colon false) or task name (colon true): a name that can be part of
//  a handler URN.
static const char *
s_handler_part (json_t *value, const char *field, bool colon, zdex_error_t *error)
{
    if (json_is_string (value) &&
        !s_handler_part_error (json_string_value (value), json_string_length (value), colon))
        return json_string_value (value);
    s_error_set (error, ZDEX_BAD_REQUEST,
                 "field '%s' must be a string of 1 to %d bytes without %scontrol characters "
                 "(it is part of the task's handler, which it would break)",
                 field, ZDEX_MAX_NAME_BYTES, colon ? "" : "':' or ");
    return NULL;
}

//  members: 1..ZDEX_MAX_MEMBERS distinct member ids.
static int
s_members (json_t *value, zdex_error_t *error)
{
    size_t count = json_array_size (value);
    bool valid = json_is_array (value) && count > 0 && count <= ZDEX_MAX_MEMBERS;
    for (size_t index = 0; valid && index < count; index++) {
        json_t *member = json_array_get (value, index);
        valid = json_is_string (member) && zdex_member_id_valid (json_string_value (member)) &&
                json_string_length (member) == strlen (json_string_value (member));
        for (size_t other = 0; valid && other < index; other++)
            valid = !json_equal (member, json_array_get (value, other));
    }
    if (valid)
        return 0;
    s_error_set (error, ZDEX_BAD_REQUEST,
                 "field 'members' must be an array of 1 to %d distinct member ids "
                 "(1 to %d of A-Z a-z 0-9 . _ -)",
                 ZDEX_MAX_MEMBERS, ZDEX_MAX_MEMBER_ID);
    return -1;
}

//  handler: a string that parses as a handler URN.
static int
s_handler (json_t *value, zdex_request_t *request, zdex_error_t *error)
{
    if (!json_is_string (value) ||
        json_string_length (value) != strlen (json_string_value (value))) {
        s_error_set (error, ZDEX_BAD_REQUEST,
                     "field 'handler' must be a string (a scheduled task's handler)");
        return -1;
    }
    char message[sizeof error->message - 32];
    if (zdex_handler_parse (json_string_value (value), &request->handler, message,
                            sizeof message)) {
        s_error_set (error, ZDEX_BAD_REQUEST, "field 'handler': %s", message);
        return -1;
    }
    request->handler_text = json_string_value (value);
    return 0;
}

//  The checks of scheduled.schedule that span fields.
static int
s_schedule_checks (zdex_request_t *request, int seen, zdex_error_t *error)
{
    if (request->auto_dispose && (seen & S_FIELD_PERIOD_MS)) {
        s_error_set (error, ZDEX_BAD_REQUEST,
                     "fields 'auto_dispose' (true) and 'period_ms' do not go together: only a "
                     "one-shot task is disposed automatically");
        return -1;
    }
    int placements = (request->key != NULL) + (request->member != NULL) +
                     (request->members != NULL) + (request->all_members ? 1 : 0);
    if (placements > 1) {
        s_error_set (error, ZDEX_BAD_REQUEST,
                     "at most one of 'key', 'member', 'members' and 'all_members' may be given");
        return -1;
    }
    return 0;
}

//  The entry of table (count entries) named key, or NULL.
static const s_field_t *
s_entry_lookup (const s_field_t *table, size_t count, const char *key, size_t length)
{
    for (size_t index = 0; index < count; index++)
        if (table[index].length == length && memcmp (table[index].name, key, length) == 0)
            return &table[index];
    return NULL;
}

static const s_field_t *
s_field_lookup (const char *key, size_t length)
{
    return s_entry_lookup (s_fields, sizeof s_fields / sizeof s_fields[0], key, length);
}

static int
s_op_lookup (const char *name, size_t length)
{
    for (int op = 0; op < ZDEX_OP_COUNT; op++)
        if (s_ops[op].length == length && memcmp (s_ops[op].name, name, length) == 0)
            return op;
    return -1;
}

//  Type-check every field of root against op, filling request.
static int
s_request_fields (json_t *root, zdex_request_t *request, size_t max_payload, zdex_error_t *error)
{
    const s_op_t *op = &s_ops[request->op];
    int seen = 0;
    const char *key;
    size_t key_length;
    json_t *value;
    json_object_keylen_foreach (root, key, key_length, value)
    {
        const s_field_t *field = s_field_lookup (key, key_length);
        if (!field || !(op->allowed & field->bit)) {
            s_unknown_field ("", key, op->name, error);
            return -1;
        }
        seen |= field->bit;
        int64_t number;
        switch (field->bit) {
        case S_FIELD_EXECUTOR:
            if (!(request->executor = s_name (value, "executor", error)))
                return -1;
            break;
        case S_FIELD_KEY:
            if (!(request->key = s_name (value, "key", error)))
                return -1;
            break;
        case S_FIELD_IDEMPOTENCY_KEY:
            if (!(request->idempotency_key = s_name (value, "idempotency_key", error)))
                return -1;
            break;
        case S_FIELD_TASK:
            if (s_task (value, request, op->name, max_payload, error))
                return -1;
            break;
        case S_FIELD_TASK_ID:
            if (s_integer (value, 0, INT64_MAX, "task_id", &number, error))
                return -1;
            request->task_id = (uint64_t) number;
            break;
        case S_FIELD_TIMEOUT_MS:
            if (s_integer (value, 0, S_MAX_TIMEOUT_MS, "timeout_ms", &number, error))
                return -1;
            request->timeout_ms = number;
            break;
        case S_FIELD_MIN_WORKERS:
            if (s_integer (value, 0, S_WORKER_MAX_SLOTS, "min_workers", &number, error))
                return -1;
            request->min_workers = (int) number;
            break;
        case S_FIELD_MIN_MEMBERS:
            if (s_integer (value, 0, S_WORKER_MAX_SLOTS, "min_members", &number, error))
                return -1;
            request->min_members = (int) number;
            break;
        case S_FIELD_SCHEDULER:
            if (!(request->scheduler = s_handler_part (value, "scheduler", false, error)))
                return -1;
            break;
        case S_FIELD_NAME:
            if (!(request->name = s_handler_part (value, "name", true, error)))
                return -1;
            break;
        case S_FIELD_DELAY_MS:
            if (s_integer (value, -ZDEX_MAX_DELAY_MS, ZDEX_MAX_DELAY_MS, "delay_ms", &number,
                           error))
                return -1;
            request->delay_ms = number;
            break;
        case S_FIELD_PERIOD_MS:
            if (s_integer (value, 1, ZDEX_MAX_DELAY_MS, "period_ms", &number, error))
                return -1;
            request->period_ms = number;
            break;
        case S_FIELD_AUTO_DISPOSE:
            if (s_boolean (value, "auto_dispose", &request->auto_dispose, error))
                return -1;
            break;
        case S_FIELD_ALL_MEMBERS:
            if (s_boolean (value, "all_members", &request->all_members, error))
                return -1;
            break;
        case S_FIELD_MEMBER:
            if (!json_is_string (value) || !zdex_member_id_valid (json_string_value (value)) ||
                json_string_length (value) != strlen (json_string_value (value))) {
                s_error_set (error, ZDEX_BAD_REQUEST,
                             "field 'member' must be a member id (1 to %d of A-Z a-z 0-9 . _ -)",
                             ZDEX_MAX_MEMBER_ID);
                return -1;
            }
            request->member = json_string_value (value);
            break;
        case S_FIELD_MEMBERS:
            if (s_members (value, error))
                return -1;
            request->members = value;
            break;
        case S_FIELD_HANDLER:
            if (s_handler (value, request, error))
                return -1;
            break;
        default: //  op and req were read before
            break;
        }
    }
    int missing = op->required & ~seen;
    if (missing) {
        for (size_t index = 0; index < sizeof (s_fields) / sizeof (s_fields[0]); index++)
            if (missing & s_fields[index].bit) {
                s_error_set (error, ZDEX_BAD_REQUEST, "field '%s' is required for op '%s'",
                             s_fields[index].name, op->name);
                return -1;
            }
    }
    if (request->op == ZDEX_OP_SCHEDULED_SCHEDULE)
        return s_schedule_checks (request, seen, error);
    return 0;
}

//  The hot path: a durable op (submit, execute, submit_and_retrieve, retrieve,
//  retrieve_and_dispose, dispose) read without a tree.  Returns NULL for anything
//  that is not a well-formed such request whose strings hold no escape, whose
//  numbers the fast reader takes and whose "req" and payload are compact
//  (zdex_json_is_compact); zdex_request_parse then reads it with a tree, so
//  every request gets the same fields and every error the same words.

typedef struct {
    const char *text;
    size_t size;
} s_span_t;

//  A name (executor, key, idempotency key, task type) as s_name takes it.
static int
s_fast_name (s_reader_t *self, s_span_t *span)
{
    if (self->at >= self->end || *self->at++ != '"' ||
        s_fast_plain (self, &span->text, &span->size))
        return -1;
    return span->size > 0 && span->size <= ZDEX_MAX_NAME_BYTES ? 0 : -1;
}

//  A value kept as its text (payload, req).
static int
s_fast_compact (s_reader_t *self, int depth, s_span_t *span)
{
    span->text = self->at;
    if (s_skim_value (self, depth))
        return -1;
    span->size = (size_t) (self->at - span->text);
    return 0;
}

//  Copy span and a NUL to *cursor; returns the copy.
static const char *
s_span_put (char **cursor, s_span_t span)
{
    char *copy = *cursor;
    memcpy (copy, span.text, span.size);
    copy[span.size] = 0;
    *cursor += span.size + 1;
    return copy;
}

//  task: {"type": name, "payload"?: any}
static int
s_fast_task (s_reader_t *self, s_span_t *type, s_span_t *payload)
{
    if (!s_fast_char (self, '{'))
        return -1;
    while (true) {
        const char *key;
        size_t key_size;
        if (s_fast_key (self, &key, &key_size))
            return -1;
        if (key_size == 4 && memcmp (key, "type", 4) == 0 && !type->text) {
            if (s_fast_name (self, type))
                return -1;
        } else if (key_size == 7 && memcmp (key, "payload", 7) == 0 && !payload->text) {
            if (s_fast_compact (self, 3, payload))
                return -1;
        } else
            return -1;
        int more = s_separator (self, '}', true);
        if (more < 0)
            return -1;
        if (more == 0)
            break;
    }
    return type->text ? 0 : -1;
}

static zdex_request_t *
s_request_fast (const char *data, size_t size, size_t max_payload)
{
    s_reader_t reader = {.at = data, .end = data + size};
    s_reader_t *self = &reader;
    int seen = 0;
    int op = -1;
    s_span_t req = {0}, executor = {0}, key = {0}, idempotency_key = {0}, type = {0}, payload = {0};
    uint64_t task_id = 0, timeout_ms = 0;
    bool auto_dispose = false;
    if (!s_fast_char (self, '{'))
        return NULL;
    while (true) {
        const char *name;
        size_t name_size;
        if (s_fast_key (self, &name, &name_size))
            return NULL;
        const s_field_t *field = s_field_lookup (name, name_size);
        if (!field || (seen & field->bit))
            return NULL;
        seen |= field->bit;
        int rc = -1;
        switch (field->bit) {
        case S_FIELD_OP: {
            s_span_t op_name;
            if (self->at < self->end && *self->at++ == '"' &&
                s_fast_plain (self, &op_name.text, &op_name.size) == 0)
                op = s_op_lookup (op_name.text, op_name.size);
            rc = op >= ZDEX_OP_DURABLE_SUBMIT && op <= ZDEX_OP_DURABLE_SUBMIT_AND_RETRIEVE ? 0 : -1;
            break;
        }
        case S_FIELD_REQ:
            rc = s_fast_compact (self, 2, &req);
            break;
        case S_FIELD_EXECUTOR:
            rc = s_fast_name (self, &executor);
            break;
        case S_FIELD_KEY:
            rc = s_fast_name (self, &key);
            break;
        case S_FIELD_IDEMPOTENCY_KEY:
            rc = s_fast_name (self, &idempotency_key);
            break;
        case S_FIELD_TASK:
            rc = s_fast_task (self, &type, &payload);
            break;
        case S_FIELD_TASK_ID:
            rc = s_fast_count (self, &task_id);
            break;
        case S_FIELD_TIMEOUT_MS:
            rc = s_fast_count (self, &timeout_ms) || timeout_ms > S_MAX_TIMEOUT_MS ? -1 : 0;
            break;
        case S_FIELD_AUTO_DISPOSE:
            if (s_skim_literal (self, "true", 4) == 0) {
                auto_dispose = true;
                rc = 0;
            } else
                rc = s_skim_literal (self, "false", 5);
            break;
        default:
            break;
        }
        if (rc)
            return NULL;
        int more = s_separator (self, '}', true);
        if (more < 0)
            return NULL;
        if (more == 0)
            break;
    }
    if (self->at != self->end || op < 0 || (seen & ~s_ops[op].allowed) ||
        (s_ops[op].required & ~seen) || payload.size > max_payload)
        return NULL;

    zdex_request_t *request = (zdex_request_t *) calloc (1, sizeof (zdex_request_t));
    size_t names = executor.size + key.size + idempotency_key.size + type.size + 4;
    char *owned = (char *) malloc (size + names);
    if (request && owned && req.text)
        request->req_text = strndup (req.text, req.size);
    if (request && owned && (seen & S_FIELD_TASK))
        request->payload_text =
            payload.text ? strndup (payload.text, payload.size) : strdup ("null");
    if (!request || !owned || (req.text && !request->req_text) ||
        ((seen & S_FIELD_TASK) && !request->payload_text)) {
        if (request) {
            free (request->req_text);
            free (request->payload_text);
        }
        free (request);
        free (owned);
        return NULL;
    }
    request->op = (zdex_op_t) op;
    request->owned = owned;
    request->frame_size = size;
    memcpy (owned, data, size);
    char *cursor = owned + size;
    request->executor = executor.text ? s_span_put (&cursor, executor) : "default";
    request->key = key.text ? s_span_put (&cursor, key) : NULL;
    request->idempotency_key = idempotency_key.text ? s_span_put (&cursor, idempotency_key) : NULL;
    request->task_type = type.text ? s_span_put (&cursor, type) : NULL;
    request->task_id = task_id;
    request->timeout_ms = (seen & S_FIELD_TIMEOUT_MS) ? (int64_t) timeout_ms : -1;
    request->auto_dispose = auto_dispose;
    request->scheduler = "default";
    return request;
}

//  ---------------------------------------------------------------------------------
//  Client requests

zdex_request_t *
zdex_request_parse (const void *data, size_t size, const zdex_limits_t *limits, zdex_error_t *error)
{
    zdex_error_t scratch;
    if (!error)
        error = &scratch;
    error->code = ZDEX_OK;
    error->message[0] = 0;
    error->req_text = NULL;

    size_t max_frame, max_payload;
    s_limits (limits, &max_frame, &max_payload);
    if (data && size > 0 && size <= max_frame) {
        zdex_request_t *fast = s_request_fast ((const char *) data, size, max_payload);
        if (fast)
            return fast;
    }
    zdex_request_t request = {
        .root = s_load_object (data, size, max_frame, error),
        .executor = "default",
        .timeout_ms = -1,
        .scheduler = "default",
    };
    if (!request.root)
        goto failed;

    //  From here on every error echoes "req", except a "req" too deep to be
    //  echoed: the reply holding it would itself be too deep to accept.
    json_t *req = json_object_get (request.root, "req");
    bool too_deep = !s_depth_ok (request.root, error);
    if (req && (!too_deep || zdex_json_depth (req, ZDEX_MAX_DEPTH - 1) < ZDEX_MAX_DEPTH)) {
        request.req_text = zdex_json_text (req);
        if (!request.req_text) {
            s_error_set (error, ZDEX_BAD_REQUEST, "out of memory");
            goto failed;
        }
    }
    if (too_deep)
        goto failed;

    size_t op_length;
    const char *op_name = s_op_name (request.root, &op_length, error);
    if (!op_name)
        goto failed;
    int op = s_op_lookup (op_name, op_length);
    if (op < 0) {
        s_unknown_op (op_name, error);
        goto failed;
    }
    request.op = (zdex_op_t) op;
    if (s_request_fields (request.root, &request, max_payload, error))
        goto failed;

    zdex_request_t *self = (zdex_request_t *) malloc (sizeof (zdex_request_t));
    if (!self) {
        s_error_set (error, ZDEX_BAD_REQUEST, "out of memory");
        goto failed;
    }
    *self = request;
    return self;

failed:
    zdex_handler_reset (&request.handler);
    json_decref (request.root);
    free (request.payload_text);
    if (error == &scratch)
        free (request.req_text);
    else
        error->req_text = request.req_text;
    return NULL;
}

void
zdex_request_destroy (zdex_request_t **self_p)
{
    assert (self_p);
    zdex_request_t *self = *self_p;
    if (!self)
        return;
    zdex_handler_reset (&self->handler);
    json_decref (self->root);
    free (self->req_text);
    free (self->payload_text);
    free (self->owned);
    free (self);
    *self_p = NULL;
}

json_t *
zdex_request_root (zdex_request_t *self)
{
    assert (self);
    if (!self->root && self->owned) {
        json_error_t error;
        self->root = zdex_json_load (self->owned, self->frame_size, &error);
        assert (!self->root || json_is_object (self->root)); //  it was read once
    }
    return self->root;
}

//  ---------------------------------------------------------------------------------
//  Replies

zframe_t *
zdex_reply_object (const char *req_text, const json_t *object)
{
    assert (json_is_object (object));
    size_t length;
    char *text = s_dump (object, &length);
    assert (text);
    //  Splice the object's members after "ok":true: "{...}" becomes ",...".
    text[0] = ',';
    text[length - 1] = '\0';
    zframe_t *frame = zdex_reply_ok (req_text, length > 2 ? text : NULL);
    free (text);
    return frame;
}

zframe_t *
zdex_reply_ok (const char *req_text, const char *fields)
{
    return zdex_reply_result (req_text, fields, NULL);
}

zframe_t *
zdex_reply_result (const char *req_text, const char *fields, const char *result_text)
{
    static const char req_open[] = "{\"req\":";
    static const char ok_first[] = "{\"ok\":true";
    static const char ok_next[] = ",\"ok\":true";
    static const char result_open[] = ",\"result\":";
    size_t req_size = req_text ? strlen (req_text) : 0;
    size_t fields_size = fields ? strlen (fields) : 0;
    size_t result_size = result_text ? strlen (result_text) : 0;
    size_t size = (req_text ? sizeof (req_open) - 1 + req_size + sizeof (ok_next) - 1
                            : sizeof (ok_first) - 1) +
                  fields_size + (result_text ? sizeof (result_open) - 1 + result_size : 0) + 1;
    zframe_t *frame = zframe_new (NULL, size);
    if (!frame)
        return NULL;
    char *cursor = (char *) zframe_data (frame);
    if (req_text) {
        cursor = S_PUT_LITERAL (cursor, req_open);
        cursor = s_put (cursor, req_text, req_size);
        cursor = S_PUT_LITERAL (cursor, ok_next);
    } else
        cursor = S_PUT_LITERAL (cursor, ok_first);
    cursor = s_put (cursor, fields, fields_size);
    if (result_text) {
        cursor = S_PUT_LITERAL (cursor, result_open);
        cursor = s_put (cursor, result_text, result_size);
    }
    *cursor++ = '}';
    assert (cursor == (char *) zframe_data (frame) + size);
    return frame;
}

zframe_t *
zdex_reply_error (const char *req_text, zdex_code_t code, const char *message,
                  const char *cause_text)
{
    return zdex_reply_error_fields (req_text, NULL, code, message, cause_text);
}

zframe_t *
zdex_reply_error_fields (const char *req_text, const char *fields, zdex_code_t code,
                         const char *message, const char *cause_text)
{
    static const char req_open[] = "{\"req\":";
    static const char ok_first[] = "{\"ok\":false";
    static const char ok_next[] = ",\"ok\":false";
    static const char error_open[] = ",\"error\":{\"code\":\"";
    static const char message_open[] = "\",\"message\":";
    static const char cause_open[] = ",\"cause\":";
    const char *code_text = zdex_code_str (code);
    s_quoted_t quoted;
    if (s_quoted_init (&quoted, message ? message : zdex_code_str (code)))
        return NULL;
    size_t req_size = req_text ? strlen (req_text) : 0;
    size_t fields_size = fields ? strlen (fields) : 0;
    size_t code_size = strlen (code_text);
    size_t cause_size = cause_text ? strlen (cause_text) : 0;
    size_t size = (req_text ? sizeof (req_open) - 1 + req_size + sizeof (ok_next) - 1
                            : sizeof (ok_first) - 1) +
                  fields_size + sizeof (error_open) - 1 + code_size + sizeof (message_open) - 1 +
                  quoted.size + (cause_text ? sizeof (cause_open) - 1 + cause_size : 0) + 2;
    zframe_t *frame = zframe_new (NULL, size);
    if (frame) {
        char *cursor = (char *) zframe_data (frame);
        if (req_text) {
            cursor = S_PUT_LITERAL (cursor, req_open);
            cursor = s_put (cursor, req_text, req_size);
            cursor = S_PUT_LITERAL (cursor, ok_next);
        } else
            cursor = S_PUT_LITERAL (cursor, ok_first);
        if (fields)
            cursor = s_put (cursor, fields, fields_size);
        cursor = S_PUT_LITERAL (cursor, error_open);
        cursor = s_put (cursor, code_text, code_size);
        cursor = S_PUT_LITERAL (cursor, message_open);
        cursor = s_quoted_write (&quoted, cursor);
        if (cause_text) {
            cursor = S_PUT_LITERAL (cursor, cause_open);
            cursor = s_put (cursor, cause_text, cause_size);
        }
        *cursor++ = '}';
        *cursor++ = '}';
        assert (cursor == (char *) zframe_data (frame) + size);
    }
    s_quoted_release (&quoted);
    return frame;
}

//  ---------------------------------------------------------------------------------
//  Worker messages

typedef struct {
    const char *name;
    size_t length;
    zdex_wmsg_kind_t kind;
} s_wop_t;

static const s_wop_t s_wops[] = {
    S_ENTRY ("worker.ready", ZDEX_WMSG_READY),
    S_ENTRY ("worker.result", ZDEX_WMSG_RESULT),
    S_ENTRY ("worker.heartbeat", ZDEX_WMSG_HEARTBEAT),
    S_ENTRY ("worker.bye", ZDEX_WMSG_BYE),
};

static int
s_wmsg_ready (zdex_wmsg_t *self, const char *op, zdex_error_t *error)
{
    const char *key;
    json_t *value;
    json_t *types = NULL;
    bool have_slots = false;
    self->batch = 1;
    json_object_foreach (self->root, key, value) {
        if (strcmp (key, "op") == 0)
            continue;
        if (strcmp (key, "types") == 0)
            types = value;
        else if (strcmp (key, "slots") == 0) {
            int64_t slots;
            if (s_integer (value, 1, S_WORKER_MAX_SLOTS, "slots", &slots, error))
                return -1;
            self->slots = (int) slots;
            have_slots = true;
        } else if (strcmp (key, "name") == 0) {
            if (!(self->name = s_name (value, "name", error)))
                return -1;
        } else if (strcmp (key, "discover") == 0) {
            if (!json_is_boolean (value)) {
                s_error_set (error, ZDEX_BAD_REQUEST, "field 'discover' must be a boolean");
                return -1;
            }
            self->discover = json_is_true (value);
        } else if (strcmp (key, "batch") == 0) {
            int64_t batch;
            if (s_integer (value, 1, ZDEX_WMSG_BATCH_MAX, "batch", &batch, error))
                return -1;
            self->batch = (int) batch;
        } else {
            s_unknown_field ("", key, op, error);
            return -1;
        }
    }
    size_t count = json_array_size (types);
    if (!json_is_array (types) || count == 0 || count > S_WORKER_MAX_TYPES) {
        s_error_set (error, ZDEX_BAD_REQUEST,
                     "field 'types' must be an array of 1 to %d task type names",
                     S_WORKER_MAX_TYPES);
        return -1;
    }
    if (!have_slots) {
        s_error_set (error, ZDEX_BAD_REQUEST, "field 'slots' is required for op '%s'", op);
        return -1;
    }
    for (size_t index = 0; index < count; index++) {
        json_t *type = json_array_get (types, index);
        if (!s_name (type, "types[]", error))
            return -1;
        for (size_t other = 0; other < index; other++)
            if (json_equal (type, json_array_get (types, other))) {
                s_error_set (error, ZDEX_BAD_REQUEST, "field 'types' lists a type twice");
                return -1;
            }
    }
    self->types = zlist_new ();
    if (!self->types) {
        s_error_set (error, ZDEX_BAD_REQUEST, "out of memory");
        return -1;
    }
    zlist_autofree (self->types);
    for (size_t index = 0; index < count; index++)
        if (zlist_append (self->types,
                          (void *) json_string_value (json_array_get (types, index)))) {
            s_error_set (error, ZDEX_BAD_REQUEST, "out of memory");
            return -1;
        }
    return 0;
}

//  ref must be ["d", executor, task_id] or ["s", handler, run], exactly as the
//  member sent it.
static int
s_wmsg_ref (zdex_wmsg_t *self, json_t *ref, zdex_error_t *error)
{
    if (json_is_array (ref) && json_array_size (ref) == 3) {
        json_t *kind = json_array_get (ref, 0);
        json_t *name = json_array_get (ref, 1);
        json_t *number = json_array_get (ref, 2);
        const char *kind_text = json_string_value (kind);
        bool named = json_is_string (name) && json_string_length (name) > 0 &&
                     json_string_length (name) == strlen (json_string_value (name));
        if (kind_text && streq (kind_text, "d") && named &&
            json_string_length (name) <= ZDEX_MAX_NAME_BYTES && json_is_integer (number) &&
            json_integer_value (number) >= 0) {
            self->executor = json_string_value (name);
            self->task_id = (uint64_t) json_integer_value (number);
            return 0;
        }
        if (kind_text && streq (kind_text, "s") && named && json_is_integer (number) &&
            json_integer_value (number) >= 0 &&
            (uint64_t) json_integer_value (number) <= S_MAX_RUN) {
            char message[sizeof error->message - 32];
            if (zdex_handler_parse (json_string_value (name), &self->handler, message,
                                    sizeof message)) {
                s_error_set (error, ZDEX_BAD_REQUEST, "field 'ref': %s", message);
                return -1;
            }
            self->scheduled = true;
            self->run = (uint64_t) json_integer_value (number);
            return 0;
        }
    }
    s_error_set (error, ZDEX_BAD_REQUEST,
                 "field 'ref' must be [\"d\", executor, task_id] or [\"s\", handler, run] as "
                 "sent in worker.task");
    return -1;
}

static int
s_wmsg_result (zdex_wmsg_t *self, const char *op, zdex_error_t *error)
{
    const char *key;
    json_t *value;
    json_t *ok = NULL;
    json_t *result = NULL;
    json_t *failure = NULL;
    json_t *state = NULL;
    bool have_ref = false, have_attempt = false;
    json_object_foreach (self->root, key, value) {
        if (strcmp (key, "op") == 0)
            continue;
        if (strcmp (key, "ref") == 0) {
            if (s_wmsg_ref (self, value, error))
                return -1;
            have_ref = true;
        } else if (strcmp (key, "attempt") == 0) {
            int64_t attempt;
            if (s_integer (value, 1, UINT32_MAX, "attempt", &attempt, error))
                return -1;
            self->attempt = (uint32_t) attempt;
            have_attempt = true;
        } else if (strcmp (key, "ok") == 0) {
            if (!json_is_boolean (value)) {
                s_error_set (error, ZDEX_BAD_REQUEST, "field 'ok' must be true or false");
                return -1;
            }
            ok = value;
        } else if (strcmp (key, "value") == 0)
            result = value;
        else if (strcmp (key, "error") == 0) {
            if (!json_is_string (value)) {
                s_error_set (error, ZDEX_BAD_REQUEST, "field 'error' must be a string");
                return -1;
            }
            failure = value;
        } else if (strcmp (key, "state") == 0)
            state = value;
        else {
            s_unknown_field ("", key, op, error);
            return -1;
        }
    }
    const char *missing = !have_ref ? "ref" : !have_attempt ? "attempt" : !ok ? "ok" : NULL;
    if (missing) {
        s_error_set (error, ZDEX_BAD_REQUEST, "field '%s' is required for op '%s'", missing, op);
        return -1;
    }
    self->ok = json_is_true (ok);
    if (self->ok) {
        if (failure) {
            s_error_set (error, ZDEX_BAD_REQUEST, "field 'error' is not allowed when 'ok' is true");
            return -1;
        }
        self->value_text = zdex_json_text (result ? result : json_null ());
        if (!self->value_text) {
            s_error_set (error, ZDEX_BAD_REQUEST, "field 'value' cannot be encoded");
            return -1;
        }
    } else {
        if (result) {
            s_error_set (error, ZDEX_BAD_REQUEST,
                         "field 'value' is not allowed when 'ok' is false");
            return -1;
        }
        if (!failure) {
            s_error_set (error, ZDEX_BAD_REQUEST, "field 'error' is required when 'ok' is false");
            return -1;
        }
        self->error = json_string_value (failure);
    }
    if (state && !(self->state_text = zdex_json_text (state))) {
        s_error_set (error, ZDEX_BAD_REQUEST, "field 'state' cannot be encoded");
        return -1;
    }
    return 0;
}

static int
s_wmsg_bare (zdex_wmsg_t *self, const char *op, zdex_error_t *error)
{
    const char *key;
    json_t *value;
    json_object_foreach (self->root, key, value) {
        (void) value;
        if (strcmp (key, "op") != 0) {
            s_unknown_field ("", key, op, error);
            return -1;
        }
    }
    return 0;
}

//  The hot path: a durable task's worker.result, read without a tree.  Returns
//  NULL for anything but a well-formed one whose value and state are compact
//  (zdex_json_is_compact), whose strings hold no escape and whose numbers the
//  fast reader takes; zdex_wmsg_parse then reads it as any other message, so
//  every message gets the same fields and every error the same words.
enum {
    S_WF_OP = 1,
    S_WF_REF = 2,
    S_WF_ATTEMPT = 4,
    S_WF_OK = 8,
    S_WF_VALUE = 16,
    S_WF_ERROR = 32,
    S_WF_STATE = 64
};

static const s_field_t s_wmsg_fields[] = {
    S_ENTRY ("op", S_WF_OP),       S_ENTRY ("ref", S_WF_REF),     S_ENTRY ("attempt", S_WF_ATTEMPT),
    S_ENTRY ("ok", S_WF_OK),       S_ENTRY ("value", S_WF_VALUE), S_ENTRY ("error", S_WF_ERROR),
    S_ENTRY ("state", S_WF_STATE),
};

static zdex_wmsg_t *
s_wmsg_fast (const char *data, size_t size)
{
    s_reader_t reader = {.at = data, .end = data + size};
    s_reader_t *self = &reader;
    int seen = 0;
    const char *executor = NULL, *failure = NULL, *value = NULL, *state = NULL;
    size_t executor_size = 0, failure_size = 0, value_size = 0, state_size = 0;
    uint64_t task_id = 0, attempt = 0;
    bool ok = false;
    if (!s_fast_char (self, '{'))
        return NULL;
    while (true) {
        const char *key;
        size_t key_size;
        if (s_fast_key (self, &key, &key_size))
            return NULL;
        const s_field_t *entry = s_entry_lookup (
            s_wmsg_fields, sizeof s_wmsg_fields / sizeof s_wmsg_fields[0], key, key_size);
        int field = entry ? entry->bit : 0;
        if (!field || (seen & field))
            return NULL;
        seen |= field;
        const char *start = self->at;
        switch (field) {
        case S_WF_OP:
            if (!s_fast_is (self, "worker.result"))
                return NULL;
            break;
        case S_WF_REF:
            if (!s_fast_char (self, '[') || s_skim_literal (self, "\"d\"", 3) ||
                !s_fast_char (self, ',') || self->at >= self->end || *self->at++ != '"' ||
                s_fast_plain (self, &executor, &executor_size) || executor_size == 0 ||
                executor_size > ZDEX_MAX_NAME_BYTES || !s_fast_char (self, ',') ||
                s_fast_count (self, &task_id) || !s_fast_char (self, ']'))
                return NULL;
            break;
        case S_WF_ATTEMPT:
            if (s_fast_count (self, &attempt) || attempt < 1 || attempt > UINT32_MAX)
                return NULL;
            break;
        case S_WF_OK:
            if (s_skim_literal (self, "true", 4) == 0)
                ok = true;
            else if (s_skim_literal (self, "false", 5))
                return NULL;
            break;
        case S_WF_ERROR:
            if (self->at >= self->end || *self->at++ != '"' ||
                s_fast_plain (self, &failure, &failure_size))
                return NULL;
            break;
        default: //  value, state
            if (s_skim_value (self, 2))
                return NULL;
            if (field == S_WF_VALUE) {
                value = start;
                value_size = (size_t) (self->at - start);
            } else {
                state = start;
                state_size = (size_t) (self->at - start);
            }
            break;
        }
        int more = s_separator (self, '}', true);
        if (more < 0)
            return NULL;
        if (more == 0)
            break;
    }
    int required = S_WF_OP | S_WF_REF | S_WF_ATTEMPT | S_WF_OK;
    if (self->at != self->end || (seen & required) != required ||
        (ok ? (seen & S_WF_ERROR) != 0 : (seen & (S_WF_VALUE | S_WF_ERROR)) != S_WF_ERROR))
        return NULL;

    zdex_wmsg_t *msg = (zdex_wmsg_t *) calloc (1, sizeof (zdex_wmsg_t));
    char *owned = (char *) malloc (executor_size + failure_size + 2);
    char *value_text = !ok ? NULL : value ? strndup (value, value_size) : strdup ("null");
    char *state_text = state ? strndup (state, state_size) : NULL;
    if (!msg || !owned || (ok && !value_text) || (state && !state_text)) {
        free (msg);
        free (owned);
        free (value_text);
        free (state_text);
        return NULL;
    }
    msg->kind = ZDEX_WMSG_RESULT;
    msg->owned = owned;
    s_span_put (&owned, (s_span_t){executor, executor_size});
    msg->executor = msg->owned;
    if (!ok)
        msg->error = s_span_put (&owned, (s_span_t){failure, failure_size});
    msg->task_id = task_id;
    msg->attempt = (uint32_t) attempt;
    msg->ok = ok;
    msg->value_text = value_text;
    msg->state_text = state_text;
    return msg;
}

zdex_wmsg_t *
zdex_wmsg_parse (const void *data, size_t size, const zdex_limits_t *limits, zdex_error_t *error)
{
    zdex_error_t scratch;
    if (!error)
        error = &scratch;
    error->code = ZDEX_OK;
    error->message[0] = 0;
    error->req_text = NULL;

    size_t max_frame, max_payload;
    s_limits (limits, &max_frame, &max_payload);
    if (data && size > 0 && size <= max_frame) {
        zdex_wmsg_t *fast = s_wmsg_fast ((const char *) data, size);
        if (fast)
            return fast;
    }
    json_t *root = s_load_object (data, size, max_frame, error);
    if (!root)
        goto failed;
    if (!s_depth_ok (root, error))
        goto failed_root;
    size_t op_length;
    const char *op_name = s_op_name (root, &op_length, error);
    if (!op_name)
        goto failed_root;
    const s_wop_t *wop = NULL;
    for (size_t index = 0; index < sizeof (s_wops) / sizeof (s_wops[0]); index++)
        if (s_wops[index].length == op_length &&
            memcmp (s_wops[index].name, op_name, op_length) == 0)
            wop = &s_wops[index];
    if (!wop) {
        s_unknown_op (op_name, error);
        goto failed_root;
    }
    zdex_wmsg_t *self = (zdex_wmsg_t *) calloc (1, sizeof (zdex_wmsg_t));
    if (!self) {
        s_error_set (error, ZDEX_BAD_REQUEST, "out of memory");
        goto failed_root;
    }
    self->kind = wop->kind;
    self->root = root;
    int rc;
    if (wop->kind == ZDEX_WMSG_READY)
        rc = s_wmsg_ready (self, wop->name, error);
    else if (wop->kind == ZDEX_WMSG_RESULT)
        rc = s_wmsg_result (self, wop->name, error);
    else
        rc = s_wmsg_bare (self, wop->name, error);
    if (rc == 0)
        return self;
    zdex_wmsg_destroy (&self);
    goto failed;

failed_root:
    json_decref (root);
failed:
    if (error == &scratch)
        zdex_error_reset (error);
    return NULL;
}

void
zdex_wmsg_destroy (zdex_wmsg_t **self_p)
{
    assert (self_p);
    zdex_wmsg_t *self = *self_p;
    if (!self)
        return;
    zlist_destroy (&self->types);
    zdex_handler_reset (&self->handler);
    json_decref (self->root);
    free (self->value_text);
    free (self->state_text);
    free (self->owned);
    free (self);
    *self_p = NULL;
}

size_t
zdex_u64_text (uint64_t value, char *text)
{
    static const char pairs[] = "00010203040506070809101112131415161718192021222324"
                                "25262728293031323334353637383940414243444546474849"
                                "50515253545556575859606162636465666768697071727374"
                                "75767778798081828384858687888990919293949596979899";
    char digits[ZDEX_U64_TEXT_MAX];
    char *cursor = digits + sizeof digits;
    while (value >= 100) {
        const char *pair = pairs + 2 * (value % 100);
        value /= 100;
        *--cursor = pair[1];
        *--cursor = pair[0];
    }
    if (value >= 10) {
        *--cursor = pairs[2 * value + 1];
        *--cursor = pairs[2 * value];
    } else
        *--cursor = (char) ('0' + value);
    size_t count = (size_t) (digits + sizeof digits - cursor);
    memcpy (text, cursor, count);
    text[count] = '\0';
    return count;
}

enum {
    S_TV_OP = 1,
    S_TV_REF = 2,
    S_TV_ATTEMPT = 4,
    S_TV_TYPE = 8,
    S_TV_PAYLOAD = 16,
    S_TV_STATE = 32
};

static const s_field_t s_task_fields[] = {
    S_ENTRY ("op", S_TV_OP),           S_ENTRY ("ref", S_TV_REF),
    S_ENTRY ("attempt", S_TV_ATTEMPT), S_ENTRY ("type", S_TV_TYPE),
    S_ENTRY ("payload", S_TV_PAYLOAD), S_ENTRY ("state", S_TV_STATE),
};

int
zdex_task_view (const void *data, size_t size, zdex_task_view_t *view)
{
    assert (view);
    *view = (zdex_task_view_t){0};
    s_reader_t reader = {.at = (const char *) data, .end = (const char *) data + size};
    s_reader_t *self = &reader;
    int seen = 0;
    if (!data || !s_fast_char (self, '{'))
        return -1;
    while (true) {
        const char *key;
        size_t key_size, text_size;
        uint64_t attempt;
        if (s_fast_key (self, &key, &key_size))
            return -1;
        const s_field_t *entry = s_entry_lookup (
            s_task_fields, sizeof s_task_fields / sizeof s_task_fields[0], key, key_size);
        int field = entry ? entry->bit : 0;
        if (!field || (seen & field))
            return -1;
        seen |= field;
        const char *start = self->at;
        switch (field) {
        case S_TV_OP:
            if (!s_fast_is (self, "worker.task"))
                return -1;
            break;
        case S_TV_TYPE:
            if (self->at >= self->end || *self->at++ != '"' ||
                s_fast_plain (self, &view->type, &view->type_size))
                return -1;
            break;
        case S_TV_ATTEMPT:
            if (s_fast_count (self, &attempt) || attempt < 1 || attempt > UINT32_MAX)
                return -1;
            view->attempt = start;
            view->attempt_size = (size_t) (self->at - start);
            view->attempt_value = (uint32_t) attempt;
            break;
        default: //  ref, payload, state: compact JSON, kept as text
            if (s_skim_value (self, 2))
                return -1;
            text_size = (size_t) (self->at - start);
            if (field == S_TV_REF) {
                view->ref = start;
                view->ref_size = text_size;
            } else if (field == S_TV_PAYLOAD) {
                view->payload = start;
                view->payload_size = text_size;
            } else {
                view->state = start;
                view->state_size = text_size;
            }
            break;
        }
        int more = s_separator (self, '}', true);
        if (more < 0)
            return -1;
        if (more == 0)
            break;
    }
    int required = S_TV_OP | S_TV_REF | S_TV_ATTEMPT | S_TV_TYPE;
    return self->at == self->end && (seen & required) == required ? 0 : -1;
}

zframe_t *
zdex_wmsg_task (const char *executor, uint64_t task_id, uint32_t attempt, const char *type,
                const char *payload_text)
{
    static const char ref_open[] = "{\"op\":\"worker.task\",\"ref\":[\"d\",";
    static const char attempt_open[] = "],\"attempt\":";
    static const char type_open[] = ",\"type\":";
    static const char payload_open[] = ",\"payload\":";
    assert (executor);
    assert (type);
    if (!payload_text)
        payload_text = "null";
    char task_id_text[ZDEX_U64_TEXT_MAX + 1] = ",", attempt_text[ZDEX_U64_TEXT_MAX];
    size_t task_id_size = 1 + zdex_u64_text (task_id, task_id_text + 1);
    size_t attempt_size = zdex_u64_text (attempt, attempt_text);
    s_quoted_t executor_quoted, type_quoted;
    if (s_quoted_init (&executor_quoted, executor))
        return NULL;
    if (s_quoted_init (&type_quoted, type)) {
        s_quoted_release (&executor_quoted);
        return NULL;
    }
    size_t payload_size = strlen (payload_text);
    size_t size = sizeof (ref_open) - 1 + executor_quoted.size + task_id_size +
                  sizeof (attempt_open) - 1 + attempt_size + sizeof (type_open) - 1 +
                  type_quoted.size + sizeof (payload_open) - 1 + payload_size + 1;
    zframe_t *frame = zframe_new (NULL, size);
    if (frame) {
        char *cursor = (char *) zframe_data (frame);
        cursor = S_PUT_LITERAL (cursor, ref_open);
        cursor = s_quoted_write (&executor_quoted, cursor);
        cursor = s_put (cursor, task_id_text, task_id_size);
        cursor = S_PUT_LITERAL (cursor, attempt_open);
        cursor = s_put (cursor, attempt_text, attempt_size);
        cursor = S_PUT_LITERAL (cursor, type_open);
        cursor = s_quoted_write (&type_quoted, cursor);
        cursor = S_PUT_LITERAL (cursor, payload_open);
        cursor = s_put (cursor, payload_text, payload_size);
        *cursor++ = '}';
        assert (cursor == (char *) zframe_data (frame) + size);
    }
    s_quoted_release (&executor_quoted);
    s_quoted_release (&type_quoted);
    return frame;
}

zframe_t *
zdex_wmsg_scheduled_task (const char *urn, uint64_t run, uint32_t attempt, const char *type,
                          const char *payload_text, const char *state_text)
{
    static const char ref_open[] = "{\"op\":\"worker.task\",\"ref\":[\"s\",";
    static const char attempt_open[] = "],\"attempt\":";
    static const char type_open[] = ",\"type\":";
    static const char payload_open[] = ",\"payload\":";
    static const char state_open[] = ",\"state\":";
    assert (urn);
    assert (type);
    if (!payload_text)
        payload_text = "null";
    char run_text[ZDEX_U64_TEXT_MAX + 1] = ",", attempt_text[ZDEX_U64_TEXT_MAX];
    size_t run_size = 1 + zdex_u64_text (run, run_text + 1);
    size_t attempt_size = zdex_u64_text (attempt, attempt_text);
    s_quoted_t urn_quoted, type_quoted;
    if (s_quoted_init (&urn_quoted, urn))
        return NULL;
    if (s_quoted_init (&type_quoted, type)) {
        s_quoted_release (&urn_quoted);
        return NULL;
    }
    size_t payload_size = strlen (payload_text);
    size_t state_size = state_text ? strlen (state_text) : 0;
    size_t size = sizeof (ref_open) - 1 + urn_quoted.size + run_size + sizeof (attempt_open) - 1 +
                  attempt_size + sizeof (type_open) - 1 + type_quoted.size + sizeof (payload_open) -
                  1 + payload_size + (state_text ? sizeof (state_open) - 1 + state_size : 0) + 1;
    zframe_t *frame = zframe_new (NULL, size);
    if (frame) {
        char *cursor = (char *) zframe_data (frame);
        cursor = S_PUT_LITERAL (cursor, ref_open);
        cursor = s_quoted_write (&urn_quoted, cursor);
        cursor = s_put (cursor, run_text, run_size);
        cursor = S_PUT_LITERAL (cursor, attempt_open);
        cursor = s_put (cursor, attempt_text, attempt_size);
        cursor = S_PUT_LITERAL (cursor, type_open);
        cursor = s_quoted_write (&type_quoted, cursor);
        cursor = S_PUT_LITERAL (cursor, payload_open);
        cursor = s_put (cursor, payload_text, payload_size);
        if (state_text) {
            cursor = S_PUT_LITERAL (cursor, state_open);
            cursor = s_put (cursor, state_text, state_size);
        }
        *cursor++ = '}';
        assert (cursor == (char *) zframe_data (frame) + size);
    }
    s_quoted_release (&urn_quoted);
    s_quoted_release (&type_quoted);
    return frame;
}

zframe_t *
zdex_wmsg_simple (const char *op)
{
    static const char op_open[] = "{\"op\":";
    assert (op);
    s_quoted_t quoted;
    if (s_quoted_init (&quoted, op))
        return NULL;
    size_t size = sizeof (op_open) - 1 + quoted.size + 1;
    zframe_t *frame = zframe_new (NULL, size);
    if (frame) {
        char *cursor = S_PUT_LITERAL ((char *) zframe_data (frame), op_open);
        cursor = s_quoted_write (&quoted, cursor);
        *cursor++ = '}';
    }
    s_quoted_release (&quoted);
    return frame;
}

int
zdex_pointer_send (void *handle, const char *command, void *pointer)
{
    assert (handle && command);
    if (zmq_send (handle, command, strlen (command), ZMQ_SNDMORE) == -1 ||
        zmq_send (handle, &pointer, sizeof pointer, 0) == -1)
        return -1;
    return 0;
}

void *
zdex_pointer_recv (void *handle)
{
    assert (handle);
    zmq_msg_t frame;
    zmq_msg_init (&frame);
    int rc = zmq_msg_recv (&frame, handle, 0);
    //  Only this process's threads write these sockets: anything else is a bug.
    assert (rc == sizeof (void *) && !zmq_msg_more (&frame));
    void *pointer = NULL;
    memcpy (&pointer, zmq_msg_data (&frame), sizeof pointer);
    zmq_msg_close (&frame);
    return pointer;
}

size_t
zdex_msg_recv_parts (void *handle, zmq_msg_t *parts, size_t max, bool *whole)
{
    assert (handle && parts && max > 0 && whole);
    *whole = true;
    zmq_msg_init (&parts[0]);
    if (zmq_msg_recv (&parts[0], handle, ZMQ_DONTWAIT) == -1) {
        zmq_msg_close (&parts[0]);
        return 0;
    }
    size_t count = 1;
    bool more = zmq_msg_more (&parts[0]);
    while (more && count < max) {
        zmq_msg_init (&parts[count]);
        if (zmq_msg_recv (&parts[count], handle, 0) == -1) {
            zmq_msg_close (&parts[count]);
            *whole = false;
            return count;
        }
        more = zmq_msg_more (&parts[count++]);
    }
    while (more) {
        *whole = false;
        zmq_msg_t rest;
        zmq_msg_init (&rest);
        more = zmq_msg_recv (&rest, handle, 0) != -1 && zmq_msg_more (&rest);
        zmq_msg_close (&rest);
    }
    return count;
}

zmsg_t *
zdex_msg_rest (zmq_msg_t *first, zsock_t *sock)
{
    assert (first && sock);
    bool more = zmq_msg_more (first);
    zmsg_t *msg = zmsg_new ();
    assert (msg);
    zmsg_addmem (msg, zmq_msg_data (first), zmq_msg_size (first));
    zmq_msg_close (first);
    while (more) {
        zframe_t *frame = zframe_recv (sock);
        if (!frame)
            break;
        more = zframe_more (frame);
        zmsg_append (msg, &frame);
    }
    return msg;
}
