//  zdex_config: a member's configuration.
//
//  A load never half-applies: the file is parsed into a copy of the current
//  configuration, cross-field rules and protection references are checked on the
//  copy, and only then is the copy swapped in.  A file therefore overlays earlier
//  loads field by field, and a bad file leaves the running configuration intact.
//
//  Executor and scheduler entries keep a mask of the fields they set instead of
//  fully resolved values.  Resolution happens at lookup (built-in defaults, then
//  the "default" entry, then the entry that matches), so an entry that omits a
//  field inherits the "default" entry's value whether "default" was written before
//  it, after it, or in a later file.
//
//  Error messages follow one shape, "<file>: <json path>: <what is wrong>", so an
//  operator can find the line without reading our code.  jansson reports syntax
//  errors with a line and column; for a duplicate key it names only the key, so
//  we rescan the text up to the error position to recover the full path.

#include "zdex_config.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_MAX_ENTRIES   1024 //  per durable_executors / scheduled_executors
#define S_MAX_RULES     1024 //  split-brain protection rules
#define S_MAX_SEEDS     256
#define S_MEMBER_ID_MAX 64
#define S_PATH_MAX      (2 * ZDEX_CONFIG_NAME_MAX + 64)
#define S_SCAN_DEPTH    64         //  path recovery for duplicate keys stops here
#define S_FILE_MAX      (64 << 20) //  we rescan at most this much of a file

//  Ranges not spelt out in the header (see config/README.md).
#define S_PARTITIONS_MAX 65536
#define S_THREADS_MAX    64
#define S_HEARTBEAT_MIN  10
#define S_HEARTBEAT_MAX  600000
#define S_TIMEOUT_MAX    3600000
#define S_FRAME_MIN      1024
#define S_FRAME_MAX      (64 << 20)
#define S_EXECUTORS_MAX  65536
#define S_DEFAULT_ENTRY  "default"

//  Bits of s_entry_t.mask: which fields an entry sets itself.
#define S_SET_POOL_SIZE       (1u << 0)
#define S_SET_DURABILITY      (1u << 1)
#define S_SET_CAPACITY        (1u << 2)
#define S_SET_STATISTICS      (1u << 3)
#define S_SET_PROTECTION      (1u << 4)
#define S_SET_CAPACITY_POLICY (1u << 5)
#define S_SET_MERGE_POLICY    (1u << 6)

//  The union of durable and scheduled settings, so both kinds share one parser
//  and one resolver.
typedef struct {
    int pool_size;
    int durability;
    int capacity;
    bool statistics_enabled;
    zdex_capacity_policy_t capacity_policy;
    zdex_merge_policy_t merge_policy;
    char split_brain_protection[ZDEX_CONFIG_NAME_MAX];
} s_settings_t;

typedef struct {
    char name[ZDEX_CONFIG_NAME_MAX]; //  exact name, pattern, or "default"
    unsigned mask;
    s_settings_t settings;
} s_entry_t;

//  Entries in the order they were first defined (ties between patterns go to
//  the earlier one).
typedef struct {
    s_entry_t *entries;
    size_t count;
    size_t alloc;
} s_table_t;

struct _zdex_config_t {
    zdex_member_config_t member;
    zlist_t *seeds; //  of strings, autofree
    s_table_t durable;
    s_table_t scheduled;
    zdex_protection_config_t *rules;
    size_t rule_count;
    size_t rule_alloc;
};

//  State of one load: where errors go, and which cross-checked fields the file
//  itself set (the error names the field the operator wrote).
typedef struct {
    const char *origin;
    char *err;
    size_t errlen;
    zdex_config_t *cfg; //  the copy being filled
    bool set_worker_heartbeat;
    bool set_worker_timeout;
    bool set_cluster_heartbeat;
    bool set_cluster_timeout;
    bool set_frame;
    bool set_payload;
} s_ctx_t;

static const char *const s_log_levels[] = {"error", "warning", "info", "debug"};

static void
s_settings_defaults (s_settings_t *settings)
{
    memset (settings, 0, sizeof *settings);
    settings->pool_size = 16;
    settings->durability = 1;
    settings->capacity = 100;
    settings->statistics_enabled = true;
    settings->capacity_policy = ZDEX_CAPACITY_PER_NODE;
    settings->merge_policy = ZDEX_MERGE_PUT_IF_ABSENT;
}

static void
s_member_defaults (zdex_member_config_t *member)
{
    memset (member, 0, sizeof *member);
    //  Random so members started without an id are very unlikely to collide;
    //  zuuid reads the system's random source, where randof would share rand()'s
    //  process-wide (and by default unseeded) state.
    zuuid_t *uuid = zuuid_new ();
    const char *hex = uuid ? zuuid_str (uuid) : "00000000";
    snprintf (member->member_id, sizeof member->member_id, "m-%.8s", hex);
    for (char *cursor = member->member_id; *cursor; cursor++)
        *cursor = (char) tolower ((unsigned char) *cursor);
    zuuid_destroy (&uuid);
    strcpy (member->client_endpoint, "tcp://127.0.0.1:5570");
    strcpy (member->worker_endpoint, "tcp://127.0.0.1:5571");
    strcpy (member->cluster_endpoint, "tcp://127.0.0.1:5572");
    member->log_level = ZDEX_LOG_INFO;
    member->partition_count = 271;
    member->partition_threads = 0;
    member->worker_heartbeat_ms = 1000;
    member->worker_timeout_ms = 3000;
    member->max_frame_bytes = 1024 * 1024;
    member->max_payload_bytes = 512 * 1024;
    member->max_parked = 100000;
    member->max_queued_tasks = 1000000;
    member->max_executors = 1024;
    member->cluster_heartbeat_ms = 250;
    snprintf (member->cluster_name, sizeof member->cluster_name, "zdex");
    member->cluster_timeout_ms = 1500;
    member->cluster_rebalance = true;
}

//  ---------------------------------------------------------------------------
//  Error reporting

static void
s_message (char *err, size_t errlen, const char *format, ...)
{
    if (!err || errlen == 0)
        return;
    va_list args;
    va_start (args, format);
    vsnprintf (err, errlen, format, args);
    va_end (args);
}

//  Writes "<origin>: <path>: <what>" (or "<origin>: <what>" without a path) and
//  returns -1 so callers can `return s_fail (...)`.
static int
s_fail (s_ctx_t *ctx, const char *path, const char *format, ...)
{
    char what[512];
    va_list args;
    va_start (args, format);
    vsnprintf (what, sizeof what, format, args);
    va_end (args);
    if (path)
        s_message (ctx->err, ctx->errlen, "%s: %s: %s", ctx->origin, path, what);
    else
        s_message (ctx->err, ctx->errlen, "%s: %s", ctx->origin, what);
    return -1;
}

//  Describes an integer range the way an operator reads it.
static void
s_range_text (char *text, size_t size, long long min, long long max)
{
    if (max == INT_MAX && min == 1)
        snprintf (text, size, "must be an integer > 0");
    else if (max == INT_MAX)
        snprintf (text, size, "must be an integer >= %lld", min);
    else
        snprintf (text, size, "must be an integer in %lld..%lld", min, max);
}

//  Writes "<parent>.<key>"; a very long unknown key is cut, which still lets the
//  operator find it.
static void
s_join (char *out, size_t size, const char *parent, const char *key)
{
    int written = snprintf (out, size, "%s.%s", parent, key);
    if (written < 0)
        *out = 0;
}

//  ---------------------------------------------------------------------------
//  Value checks shared by the file parser and zdex_config_set

static bool
s_endpoint_valid (const char *endpoint)
{
    const char *const prefixes[] = {"tcp://", "ipc://", "inproc://"};
    size_t prefix_len = 0;
    for (size_t index = 0; index < sizeof prefixes / sizeof prefixes[0]; index++)
        if (strncmp (endpoint, prefixes[index], strlen (prefixes[index])) == 0)
            prefix_len = strlen (prefixes[index]);
    if (prefix_len == 0 || endpoint[prefix_len] == 0)
        return false;
    //  Whitespace or control characters are always a quoting mistake.
    for (const char *cursor = endpoint; *cursor; cursor++)
        if ((unsigned char) *cursor <= ' ' || *cursor == 0x7f)
            return false;
    return true;
}

#define S_ENDPOINT_RULE                                                                            \
    "must be an endpoint starting with tcp://, ipc:// or inproc://, at most 255 bytes"

//  Returns 0 if endpoint fits ZDEX_CONFIG_NAME_MAX and is well formed.
static int
s_check_endpoint (const char *endpoint)
{
    return strlen (endpoint) < ZDEX_CONFIG_NAME_MAX && s_endpoint_valid (endpoint) ? 0 : -1;
}

#define S_MEMBER_ID_RULE "must be 1..64 characters of A-Z a-z 0-9 . _ -"

static int
s_check_member_id (const char *id)
{
    size_t length = strlen (id);
    if (length < 1 || length > S_MEMBER_ID_MAX)
        return -1;
    for (const char *cursor = id; *cursor; cursor++)
        if (!isalnum ((unsigned char) *cursor) && *cursor != '.' && *cursor != '_' &&
            *cursor != '-')
            return -1;
    return 0;
}

static int
s_enum_parse (const char *name, const char *const *names, size_t count)
{
    for (size_t index = 0; index < count; index++)
        if (streq (name, names[index]))
            return (int) index;
    return -1;
}

//  ---------------------------------------------------------------------------
//  Tables

static s_entry_t *
s_table_find (s_table_t *table, const char *name)
{
    for (size_t index = 0; index < table->count; index++)
        if (streq (table->entries[index].name, name))
            return &table->entries[index];
    return NULL;
}

//  Appends an empty entry; NULL when out of memory.
static s_entry_t *
s_table_append (s_table_t *table, const char *name)
{
    if (table->count == table->alloc) {
        size_t alloc = table->alloc ? table->alloc * 2 : 8;
        s_entry_t *entries = (s_entry_t *) realloc (table->entries, alloc * sizeof *entries);
        if (!entries)
            return NULL;
        table->entries = entries;
        table->alloc = alloc;
    }
    s_entry_t *entry = &table->entries[table->count++];
    memset (entry, 0, sizeof *entry);
    snprintf (entry->name, sizeof entry->name, "%s", name);
    return entry;
}

static int
s_table_copy (s_table_t *dest, const s_table_t *source)
{
    memset (dest, 0, sizeof *dest);
    if (source->count == 0)
        return 0;
    dest->entries = (s_entry_t *) malloc (source->count * sizeof *dest->entries);
    if (!dest->entries)
        return -1;
    memcpy (dest->entries, source->entries, source->count * sizeof *dest->entries);
    dest->count = dest->alloc = source->count;
    return 0;
}

static bool
s_pattern_matches (const char *pattern, const char *name)
{
    const char *star = strchr (pattern, '*');
    if (!star)
        return false;
    size_t prefix = (size_t) (star - pattern);
    size_t suffix = strlen (star + 1);
    size_t length = strlen (name);
    //  The prefix and the suffix must not overlap: "ab*ba" does not match "aba".
    return length >= prefix + suffix && strncmp (name, pattern, prefix) == 0 &&
           strcmp (name + length - suffix, star + 1) == 0;
}

static void
s_overlay (s_settings_t *out, const s_entry_t *entry)
{
    const s_settings_t *from = &entry->settings;
    if (entry->mask & S_SET_POOL_SIZE)
        out->pool_size = from->pool_size;
    if (entry->mask & S_SET_DURABILITY)
        out->durability = from->durability;
    if (entry->mask & S_SET_CAPACITY)
        out->capacity = from->capacity;
    if (entry->mask & S_SET_STATISTICS)
        out->statistics_enabled = from->statistics_enabled;
    if (entry->mask & S_SET_PROTECTION)
        memcpy (out->split_brain_protection, from->split_brain_protection,
                sizeof out->split_brain_protection);
    if (entry->mask & S_SET_CAPACITY_POLICY)
        out->capacity_policy = from->capacity_policy;
    if (entry->mask & S_SET_MERGE_POLICY)
        out->merge_policy = from->merge_policy;
}

//  Built-in defaults, then the "default" entry, then the exact entry or else the
//  matching pattern with the most literal characters (first defined on a tie).
static void
s_resolve (s_table_t *table, const char *name, s_settings_t *out)
{
    s_settings_defaults (out);
    s_entry_t *fallback = s_table_find (table, S_DEFAULT_ENTRY);
    if (fallback)
        s_overlay (out, fallback);

    s_entry_t *match = s_table_find (table, name);
    if (!match) {
        size_t best_literals = 0;
        for (size_t index = 0; index < table->count; index++) {
            s_entry_t *entry = &table->entries[index];
            if (!s_pattern_matches (entry->name, name))
                continue;
            size_t literals = strlen (entry->name) - 1;
            if (!match || literals > best_literals) {
                match = entry;
                best_literals = literals;
            }
        }
    }
    if (match && match != fallback)
        s_overlay (out, match);
}

static zdex_protection_config_t *
s_rule_find (zdex_config_t *self, const char *name)
{
    for (size_t index = 0; index < self->rule_count; index++)
        if (streq (self->rules[index].name, name))
            return &self->rules[index];
    return NULL;
}

//  ---------------------------------------------------------------------------
//  Copy and swap

static void
s_config_free (zdex_config_t *self)
{
    zlist_destroy (&self->seeds);
    free (self->durable.entries);
    free (self->scheduled.entries);
    free (self->rules);
}

static zdex_config_t *
s_config_clone (zdex_config_t *self)
{
    zdex_config_t *copy = (zdex_config_t *) calloc (1, sizeof *copy);
    if (!copy)
        return NULL;
    copy->member = self->member;
    copy->seeds = zlist_dup (self->seeds);
    bool ok = copy->seeds != NULL;
    if (ok)
        ok = s_table_copy (&copy->durable, &self->durable) == 0 &&
             s_table_copy (&copy->scheduled, &self->scheduled) == 0;
    if (ok && self->rule_count) {
        copy->rules = (zdex_protection_config_t *) malloc (self->rule_count * sizeof *copy->rules);
        ok = copy->rules != NULL;
        if (ok) {
            memcpy (copy->rules, self->rules, self->rule_count * sizeof *copy->rules);
            copy->rule_count = copy->rule_alloc = self->rule_count;
        }
    }
    if (!ok) {
        s_config_free (copy);
        free (copy);
        return NULL;
    }
    return copy;
}

//  ---------------------------------------------------------------------------
//  Typed field readers: each returns 0, or -1 with the error written

static int
s_read_int (s_ctx_t *ctx, json_t *value, const char *path, long long min, long long max,
            long long *out)
{
    if (json_is_integer (value)) {
        long long number = (long long) json_integer_value (value);
        if (number >= min && number <= max) {
            *out = number;
            return 0;
        }
        if (number > max && max == INT_MAX)
            return s_fail (ctx, path, "must be an integer <= %d", INT_MAX);
    }
    char text[128];
    s_range_text (text, sizeof text, min, max);
    return s_fail (ctx, path, "%s", text);
}

static int
s_read_bool (s_ctx_t *ctx, json_t *value, const char *path, bool *out)
{
    if (!json_is_boolean (value))
        return s_fail (ctx, path, "must be true or false");
    *out = json_is_true (value);
    return 0;
}

static int
s_read_string (s_ctx_t *ctx, json_t *value, const char *path, const char **out)
{
    if (!json_is_string (value))
        return s_fail (ctx, path, "must be a string");
    *out = json_string_value (value);
    return 0;
}

static int
s_read_enum (s_ctx_t *ctx, json_t *value, const char *path, const char *const *names, size_t count,
             int *out)
{
    int index =
        json_is_string (value) ? s_enum_parse (json_string_value (value), names, count) : -1;
    if (index < 0) {
        char list[256] = "";
        for (size_t name = 0; name < count; name++) {
            size_t used = strlen (list);
            snprintf (list + used, sizeof list - used, "%s%s", name ? ", " : "", names[name]);
        }
        return s_fail (ctx, path, "must be one of %s", list);
    }
    *out = index;
    return 0;
}

static int
s_read_endpoint (s_ctx_t *ctx, json_t *value, const char *path, char *out)
{
    const char *text = "";
    if (s_read_string (ctx, value, path, &text))
        return -1;
    if (s_check_endpoint (text))
        return s_fail (ctx, path, S_ENDPOINT_RULE);
    snprintf (out, ZDEX_CONFIG_NAME_MAX, "%s", text);
    return 0;
}

//  ---------------------------------------------------------------------------
//  Sections

static int
s_parse_member (s_ctx_t *ctx, json_t *section)
{
    zdex_member_config_t *member = &ctx->cfg->member;
    const char *key;
    json_t *value;
    json_object_foreach (section, key, value) {
        char path[S_PATH_MAX];
        snprintf (path, sizeof path, "member.%s", key);
        long long number = 0;
        int level = 0;
        const char *text = "";
        if (streq (key, "id")) {
            if (s_read_string (ctx, value, path, &text))
                return -1;
            if (s_check_member_id (text))
                return s_fail (ctx, path, S_MEMBER_ID_RULE);
            snprintf (member->member_id, sizeof member->member_id, "%s", text);
        } else if (streq (key, "client_endpoint")) {
            if (s_read_endpoint (ctx, value, path, member->client_endpoint))
                return -1;
        } else if (streq (key, "worker_endpoint")) {
            if (s_read_endpoint (ctx, value, path, member->worker_endpoint))
                return -1;
        } else if (streq (key, "cluster_endpoint")) {
            if (s_read_endpoint (ctx, value, path, member->cluster_endpoint))
                return -1;
        } else if (streq (key, "log_level")) {
            if (s_read_enum (ctx, value, path, s_log_levels, 4, &level))
                return -1;
            member->log_level = (zdex_log_level_t) level;
        } else if (streq (key, "partition_threads")) {
            if (s_read_int (ctx, value, path, 0, S_THREADS_MAX, &number))
                return -1;
            member->partition_threads = (int) number;
        } else
            return s_fail (ctx, path, "unknown field");
    }
    return 0;
}

static int
s_parse_seeds (s_ctx_t *ctx, json_t *value)
{
    const char *path = "cluster.seeds";
    if (!json_is_array (value))
        return s_fail (ctx, path, "must be an array of endpoints");
    if (json_array_size (value) > S_MAX_SEEDS)
        return s_fail (ctx, path, "at most %d seeds are allowed", S_MAX_SEEDS);
    zlist_t *seeds = zlist_new ();
    if (!seeds)
        return s_fail (ctx, path, "out of memory");
    zlist_autofree (seeds);
    size_t index;
    json_t *item;
    json_array_foreach (value, index, item) {
        char item_path[S_PATH_MAX];
        char endpoint[ZDEX_CONFIG_NAME_MAX];
        snprintf (item_path, sizeof item_path, "%s[%zu]", path, index);
        int rc = s_read_endpoint (ctx, item, item_path, endpoint);
        if (rc == 0 && zlist_append (seeds, endpoint))
            rc = s_fail (ctx, path, "out of memory");
        if (rc) {
            zlist_destroy (&seeds);
            return -1;
        }
    }
    //  A file's list replaces the current one; --seed flags append to it.
    zlist_destroy (&ctx->cfg->seeds);
    ctx->cfg->seeds = seeds;
    return 0;
}

static int
s_parse_cluster (s_ctx_t *ctx, json_t *section)
{
    zdex_member_config_t *member = &ctx->cfg->member;
    const char *key;
    json_t *value;
    json_object_foreach (section, key, value) {
        char path[S_PATH_MAX];
        snprintf (path, sizeof path, "cluster.%s", key);
        long long number = 0;
        if (streq (key, "seeds")) {
            if (s_parse_seeds (ctx, value))
                return -1;
        } else if (streq (key, "partition_count")) {
            if (s_read_int (ctx, value, path, 1, S_PARTITIONS_MAX, &number))
                return -1;
            member->partition_count = (uint32_t) number;
        } else if (streq (key, "heartbeat_ms")) {
            if (s_read_int (ctx, value, path, S_HEARTBEAT_MIN, S_HEARTBEAT_MAX, &number))
                return -1;
            member->cluster_heartbeat_ms = (int) number;
            ctx->set_cluster_heartbeat = true;
        } else if (streq (key, "timeout_ms")) {
            if (s_read_int (ctx, value, path, 1, S_TIMEOUT_MAX, &number))
                return -1;
            member->cluster_timeout_ms = (int) number;
            ctx->set_cluster_timeout = true;
        } else if (streq (key, "rebalance")) {
            if (!json_is_boolean (value))
                return s_fail (ctx, path, "must be true or false");
            member->cluster_rebalance = json_is_true (value);
        } else if (streq (key, "name")) {
            if (!json_is_string (value) || s_check_member_id (json_string_value (value)))
                return s_fail (ctx, path, "%s", S_MEMBER_ID_RULE);
            snprintf (member->cluster_name, sizeof member->cluster_name, "%s",
                      json_string_value (value));
        } else
            return s_fail (ctx, path, "unknown field");
    }
    return 0;
}

static int
s_parse_workers (s_ctx_t *ctx, json_t *section)
{
    zdex_member_config_t *member = &ctx->cfg->member;
    const char *key;
    json_t *value;
    json_object_foreach (section, key, value) {
        char path[S_PATH_MAX];
        snprintf (path, sizeof path, "workers.%s", key);
        long long number = 0;
        if (streq (key, "heartbeat_ms")) {
            if (s_read_int (ctx, value, path, S_HEARTBEAT_MIN, S_HEARTBEAT_MAX, &number))
                return -1;
            member->worker_heartbeat_ms = (int) number;
            ctx->set_worker_heartbeat = true;
        } else if (streq (key, "timeout_ms")) {
            if (s_read_int (ctx, value, path, 1, S_TIMEOUT_MAX, &number))
                return -1;
            member->worker_timeout_ms = (int) number;
            ctx->set_worker_timeout = true;
        } else
            return s_fail (ctx, path, "unknown field");
    }
    return 0;
}

static int
s_parse_limits (s_ctx_t *ctx, json_t *section)
{
    zdex_member_config_t *member = &ctx->cfg->member;
    const char *key;
    json_t *value;
    json_object_foreach (section, key, value) {
        char path[S_PATH_MAX];
        snprintf (path, sizeof path, "limits.%s", key);
        long long number = 0;
        if (streq (key, "max_frame_bytes")) {
            if (s_read_int (ctx, value, path, S_FRAME_MIN, S_FRAME_MAX, &number))
                return -1;
            member->max_frame_bytes = (size_t) number;
            ctx->set_frame = true;
        } else if (streq (key, "max_payload_bytes")) {
            if (s_read_int (ctx, value, path, 1, S_FRAME_MAX, &number))
                return -1;
            member->max_payload_bytes = (size_t) number;
            ctx->set_payload = true;
        } else if (streq (key, "max_parked")) {
            if (s_read_int (ctx, value, path, 1, INT_MAX, &number))
                return -1;
            member->max_parked = (size_t) number;
        } else if (streq (key, "max_queued_tasks")) {
            if (s_read_int (ctx, value, path, 1, INT_MAX, &number))
                return -1;
            member->max_queued_tasks = (size_t) number;
        } else if (streq (key, "max_executors")) {
            if (s_read_int (ctx, value, path, 1, S_EXECUTORS_MAX, &number))
                return -1;
            member->max_executors = (size_t) number;
        } else
            return s_fail (ctx, path, "unknown field");
    }
    return 0;
}

//  Checks a key naming an executor, scheduler or rule; path is the section.
static int
s_check_entry_name (s_ctx_t *ctx, const char *section, const char *name, bool pattern)
{
    char path[S_PATH_MAX];
    snprintf (path, sizeof path, "%s.%s", section, name);
    if (*name == 0)
        return s_fail (ctx, section, "names must not be empty");
    if (strlen (name) >= ZDEX_CONFIG_NAME_MAX)
        return s_fail (ctx, path, "names must be at most %d bytes", ZDEX_CONFIG_NAME_MAX - 1);
    if (pattern) {
        const char *star = strchr (name, '*');
        if (star && strchr (star + 1, '*'))
            return s_fail (ctx, path, "at most one '*' is allowed in a name");
    }
    return 0;
}

static const char *const s_capacity_policies[] = {"per_node", "per_partition"};
static const char *const s_merge_policies[] = {"put_if_absent", "pass_through", "discard"};

static int
s_parse_entry_field (s_ctx_t *ctx, const char *key, json_t *value, const char *path, bool scheduled,
                     s_entry_t *entry)
{
    s_settings_t *settings = &entry->settings;
    long long number = 0;
    int choice = 0;
    const char *text = "";
    if (streq (key, "pool_size")) {
        if (s_read_int (ctx, value, path, 1, INT_MAX, &number))
            return -1;
        settings->pool_size = (int) number;
        entry->mask |= S_SET_POOL_SIZE;
    } else if (streq (key, "durability")) {
        if (s_read_int (ctx, value, path, 0, INT_MAX, &number))
            return -1;
        settings->durability = (int) number;
        entry->mask |= S_SET_DURABILITY;
    } else if (streq (key, "capacity")) {
        //  Scheduled: 0 = unlimited.  Durable: a ring of 0 slots is meaningless.
        if (s_read_int (ctx, value, path, scheduled ? 0 : 1, INT_MAX, &number))
            return -1;
        settings->capacity = (int) number;
        entry->mask |= S_SET_CAPACITY;
    } else if (streq (key, "statistics_enabled")) {
        if (s_read_bool (ctx, value, path, &settings->statistics_enabled))
            return -1;
        entry->mask |= S_SET_STATISTICS;
    } else if (streq (key, "split_brain_protection")) {
        //  "" means none, so an entry can opt out of the default's rule.  Whether
        //  a named rule exists is checked once the whole file is read.
        if (s_read_string (ctx, value, path, &text))
            return -1;
        if (strlen (text) >= ZDEX_CONFIG_NAME_MAX)
            return s_fail (ctx, path, "must be at most %d bytes", ZDEX_CONFIG_NAME_MAX - 1);
        snprintf (settings->split_brain_protection, sizeof settings->split_brain_protection, "%s",
                  text);
        entry->mask |= S_SET_PROTECTION;
    } else if (scheduled && streq (key, "capacity_policy")) {
        if (s_read_enum (ctx, value, path, s_capacity_policies, 2, &choice))
            return -1;
        settings->capacity_policy = (zdex_capacity_policy_t) choice;
        entry->mask |= S_SET_CAPACITY_POLICY;
    } else if (scheduled && streq (key, "merge_policy")) {
        if (s_read_enum (ctx, value, path, s_merge_policies, 3, &choice))
            return -1;
        settings->merge_policy = (zdex_merge_policy_t) choice;
        entry->mask |= S_SET_MERGE_POLICY;
    } else
        return s_fail (ctx, path, "unknown field");
    return 0;
}

static int
s_parse_executors (s_ctx_t *ctx, json_t *section, const char *section_name, s_table_t *table,
                   bool scheduled)
{
    const char *name;
    json_t *body;
    json_object_foreach (section, name, body) {
        if (s_check_entry_name (ctx, section_name, name, true))
            return -1;
        char path[S_PATH_MAX];
        snprintf (path, sizeof path, "%s.%s", section_name, name);
        if (!json_is_object (body))
            return s_fail (ctx, path, "must be an object");

        //  An entry already defined by an earlier load is overlaid field by field
        //  and keeps its place in the tie-break order.
        s_entry_t entry;
        s_entry_t *existing = s_table_find (table, name);
        if (existing)
            entry = *existing;
        else {
            memset (&entry, 0, sizeof entry);
            snprintf (entry.name, sizeof entry.name, "%s", name);
        }
        const char *key;
        json_t *value;
        json_object_foreach (body, key, value) {
            char field_path[S_PATH_MAX];
            s_join (field_path, sizeof field_path, path, key);
            if (s_parse_entry_field (ctx, key, value, field_path, scheduled, &entry))
                return -1;
        }
        if (!existing) {
            if (table->count >= S_MAX_ENTRIES)
                return s_fail (ctx, section_name, "at most %d entries are allowed", S_MAX_ENTRIES);
            existing = s_table_append (table, name);
            if (!existing)
                return s_fail (ctx, path, "out of memory");
        }
        *existing = entry;
    }
    return 0;
}

static const char *const s_protect_on[] = {"read", "write", "read_write"};

static int
s_parse_rules (s_ctx_t *ctx, json_t *section)
{
    const char *section_name = "split_brain_protection";
    zdex_config_t *cfg = ctx->cfg;
    const char *name;
    json_t *body;
    json_object_foreach (section, name, body) {
        if (s_check_entry_name (ctx, section_name, name, false))
            return -1;
        char path[S_PATH_MAX];
        snprintf (path, sizeof path, "%s.%s", section_name, name);
        if (!json_is_object (body))
            return s_fail (ctx, path, "must be an object");

        zdex_protection_config_t rule;
        zdex_protection_config_t *existing = s_rule_find (cfg, name);
        if (existing)
            rule = *existing;
        else {
            //  Hazelcast's defaults: two members, both reads and writes.
            memset (&rule, 0, sizeof rule);
            snprintf (rule.name, sizeof rule.name, "%s", name);
            rule.min_cluster_size = 2;
            rule.protect_on = ZDEX_PROTECT_READ_WRITE;
        }
        const char *key;
        json_t *value;
        json_object_foreach (body, key, value) {
            char field_path[S_PATH_MAX];
            s_join (field_path, sizeof field_path, path, key);
            long long number = 0;
            int choice = 0;
            if (streq (key, "min_cluster_size")) {
                if (s_read_int (ctx, value, field_path, 2, INT_MAX, &number))
                    return -1;
                rule.min_cluster_size = (int) number;
            } else if (streq (key, "protect_on")) {
                if (s_read_enum (ctx, value, field_path, s_protect_on, 3, &choice))
                    return -1;
                rule.protect_on = (zdex_protect_on_t) (choice + 1);
            } else
                return s_fail (ctx, field_path, "unknown field");
        }
        if (!existing) {
            if (cfg->rule_count >= S_MAX_RULES)
                return s_fail (ctx, section_name, "at most %d rules are allowed", S_MAX_RULES);
            if (cfg->rule_count == cfg->rule_alloc) {
                size_t alloc = cfg->rule_alloc ? cfg->rule_alloc * 2 : 4;
                zdex_protection_config_t *rules =
                    (zdex_protection_config_t *) realloc (cfg->rules, alloc * sizeof *rules);
                if (!rules)
                    return s_fail (ctx, path, "out of memory");
                cfg->rules = rules;
                cfg->rule_alloc = alloc;
            }
            existing = &cfg->rules[cfg->rule_count++];
        }
        *existing = rule;
    }
    return 0;
}

//  ---------------------------------------------------------------------------
//  Whole-configuration checks, run on the merged copy

static int
s_check_timeouts (s_ctx_t *ctx, const char *section, int heartbeat, int timeout, bool set_timeout)
{
    if (timeout > heartbeat)
        return 0;
    char path[S_PATH_MAX];
    if (set_timeout) {
        snprintf (path, sizeof path, "%s.timeout_ms", section);
        return s_fail (ctx, path, "must be greater than %s.heartbeat_ms (%d)", section, heartbeat);
    }
    snprintf (path, sizeof path, "%s.heartbeat_ms", section);
    return s_fail (ctx, path, "must be less than %s.timeout_ms (%d)", section, timeout);
}

static int
s_check_table_rules (s_ctx_t *ctx, s_table_t *table, const char *section)
{
    for (size_t index = 0; index < table->count; index++) {
        s_entry_t *entry = &table->entries[index];
        const char *rule = entry->settings.split_brain_protection;
        if ((entry->mask & S_SET_PROTECTION) && *rule && !s_rule_find (ctx->cfg, rule)) {
            char path[S_PATH_MAX];
            snprintf (path, sizeof path, "%s.%s.split_brain_protection", section, entry->name);
            return s_fail (ctx, path, "no split_brain_protection rule named '%s' is defined", rule);
        }
    }
    return 0;
}

static int
s_check_whole (s_ctx_t *ctx)
{
    zdex_member_config_t *member = &ctx->cfg->member;
    if (s_check_timeouts (ctx, "workers", member->worker_heartbeat_ms, member->worker_timeout_ms,
                          ctx->set_worker_timeout || !ctx->set_worker_heartbeat) ||
        s_check_timeouts (ctx, "cluster", member->cluster_heartbeat_ms, member->cluster_timeout_ms,
                          ctx->set_cluster_timeout || !ctx->set_cluster_heartbeat))
        return -1;
    if (member->max_payload_bytes > member->max_frame_bytes) {
        if (ctx->set_payload || !ctx->set_frame)
            return s_fail (ctx, "limits.max_payload_bytes",
                           "must be <= limits.max_frame_bytes (%zu)", member->max_frame_bytes);
        return s_fail (ctx, "limits.max_frame_bytes", "must be >= limits.max_payload_bytes (%zu)",
                       member->max_payload_bytes);
    }
    if (s_check_table_rules (ctx, &ctx->cfg->durable, "durable_executors") ||
        s_check_table_rules (ctx, &ctx->cfg->scheduled, "scheduled_executors"))
        return -1;
    return 0;
}

//  ---------------------------------------------------------------------------
//  Duplicate-key path recovery

//  Rescans JSON text up to offset (where jansson stopped) and writes the path
//  of the key being read there, e.g. "durable_executors.jobs-*.capacity".  The
//  text before offset was accepted by jansson, so a light tokenizer suffices.
static void
s_path_at (const char *text, size_t length, size_t offset, char *path, size_t size)
{
    struct {
        bool is_object;
        size_t index;
        char key[ZDEX_CONFIG_NAME_MAX];
    } frames[S_SCAN_DEPTH];
    int depth = 0; //  may exceed S_SCAN_DEPTH; deeper frames are not kept
    bool expect_key = false;
    if (offset > length)
        offset = length;
    size_t cursor = 0;
    while (cursor < offset) {
        char ch = text[cursor++];
        if (ch == '{' || ch == '[') {
            if (depth < S_SCAN_DEPTH) {
                frames[depth].is_object = ch == '{';
                frames[depth].index = 0;
                frames[depth].key[0] = 0;
            }
            depth++;
            expect_key = ch == '{';
        } else if (ch == '}' || ch == ']') {
            if (depth > 0)
                depth--;
            expect_key = false;
        } else if (ch == ',') {
            bool in_object = depth > 0 && depth <= S_SCAN_DEPTH && frames[depth - 1].is_object;
            if (depth > 0 && depth <= S_SCAN_DEPTH && !in_object)
                frames[depth - 1].index++;
            expect_key = in_object;
        } else if (ch == ':')
            expect_key = false;
        else if (ch == '"') {
            char key[ZDEX_CONFIG_NAME_MAX];
            size_t used = 0;
            while (cursor < length && text[cursor] != '"') {
                if (text[cursor] == '\\' && cursor + 1 < length)
                    cursor++;
                if (used + 1 < sizeof key)
                    key[used++] = text[cursor];
                cursor++;
            }
            cursor++; //  closing quote
            key[used] = 0;
            if (expect_key && depth > 0 && depth <= S_SCAN_DEPTH)
                memcpy (frames[depth - 1].key, key, used + 1);
        }
    }
    path[0] = 0;
    int kept = depth < S_SCAN_DEPTH ? depth : S_SCAN_DEPTH;
    for (int level = 0; level < kept; level++) {
        size_t used = strlen (path);
        if (frames[level].is_object)
            snprintf (path + used, size - used, "%s%s", level ? "." : "", frames[level].key);
        else
            snprintf (path + used, size - used, "[%zu]", frames[level].index);
    }
}

//  Reads at most S_FILE_MAX bytes of a file; caller frees.  NULL on failure.
static char *
s_read_file (const char *path, size_t *length_p)
{
    FILE *file = fopen (path, "rb");
    if (!file)
        return NULL;
    size_t alloc = 4096, length = 0;
    char *text = (char *) malloc (alloc);
    while (text) {
        length += fread (text + length, 1, alloc - length, file);
        if (length < alloc || alloc >= S_FILE_MAX)
            break;
        char *bigger = (char *) realloc (text, alloc * 2);
        if (!bigger) {
            free (text);
            text = NULL;
        } else {
            text = bigger;
            alloc *= 2;
        }
    }
    fclose (file);
    *length_p = length;
    return text;
}

//  Formats a jansson error.  text is the document when we have it in memory,
//  NULL to reread it from origin (only needed for duplicate keys).
static void
s_json_error (const json_error_t *error, const char *origin, const char *text, char *err,
              size_t errlen)
{
    if (error->line < 1) {
        //  Not a syntax error (file unreadable, say): jansson's text says what.
        s_message (err, errlen, "%s: %s", origin, error->text);
        return;
    }
    if (json_error_code (error) == json_error_duplicate_key) {
        size_t length = 0;
        char *owned = NULL;
        if (text)
            length = strlen (text);
        else
            text = owned = s_read_file (origin, &length);
        char path[S_PATH_MAX] = "";
        if (text)
            s_path_at (text, length, (size_t) error->position, path, sizeof path);
        free (owned);
        if (*path) {
            s_message (err, errlen, "%s: %s: duplicate key (line %d, column %d)", origin, path,
                       error->line, error->column);
            return;
        }
    }
    s_message (err, errlen, "%s: line %d, column %d: %s", origin, error->line, error->column,
               error->text);
}

//  ---------------------------------------------------------------------------
//  Loading

static int
s_parse_root (s_ctx_t *ctx, json_t *root)
{
    if (!json_is_object (root))
        return s_fail (ctx, NULL, "must be a JSON object");
    const char *section;
    json_t *body;
    json_object_foreach (root, section, body) {
        bool known =
            streq (section, "member") || streq (section, "cluster") || streq (section, "workers") ||
            streq (section, "limits") || streq (section, "durable_executors") ||
            streq (section, "scheduled_executors") || streq (section, "split_brain_protection");
        int rc;
        if (!known)
            rc = s_fail (ctx, section, "unknown section");
        else if (!json_is_object (body))
            rc = s_fail (ctx, section, "must be an object");
        else if (streq (section, "member"))
            rc = s_parse_member (ctx, body);
        else if (streq (section, "cluster"))
            rc = s_parse_cluster (ctx, body);
        else if (streq (section, "workers"))
            rc = s_parse_workers (ctx, body);
        else if (streq (section, "limits"))
            rc = s_parse_limits (ctx, body);
        else if (streq (section, "durable_executors"))
            rc = s_parse_executors (ctx, body, section, &ctx->cfg->durable, false);
        else if (streq (section, "scheduled_executors"))
            rc = s_parse_executors (ctx, body, section, &ctx->cfg->scheduled, true);
        else
            rc = s_parse_rules (ctx, body);
        if (rc)
            return -1;
    }
    return 0;
}

static int
s_load_json (zdex_config_t *self, json_t *root, const char *origin, char *err, size_t errlen)
{
    zdex_config_t *copy = s_config_clone (self);
    if (!copy) {
        s_message (err, errlen, "%s: out of memory", origin);
        return -1;
    }
    s_ctx_t ctx = {.origin = origin, .err = err, .errlen = errlen, .cfg = copy};
    int rc = s_parse_root (&ctx, root);
    if (rc == 0)
        rc = s_check_whole (&ctx);

    if (rc == 0) {
        //  Swap contents, so pointers callers hold to self stay valid.
        zdex_config_t old = *self;
        *self = *copy;
        *copy = old;
    }
    s_config_free (copy);
    free (copy);
    return rc;
}

//  ---------------------------------------------------------------------------
//  Public API

zdex_config_t *
zdex_config_new (void)
{
    zdex_config_t *self = (zdex_config_t *) calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->seeds = zlist_new ();
    if (!self->seeds) {
        free (self);
        return NULL;
    }
    zlist_autofree (self->seeds);
    s_member_defaults (&self->member);
    return self;
}

void
zdex_config_destroy (zdex_config_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        s_config_free (*self_p);
        free (*self_p);
        *self_p = NULL;
    }
}

int
zdex_config_load (zdex_config_t *self, const char *path, char *err, size_t errlen)
{
    assert (self);
    assert (path);
    json_error_t error;
    json_t *root = json_load_file (path, JSON_REJECT_DUPLICATES, &error);
    if (!root) {
        s_json_error (&error, path, NULL, err, errlen);
        return -1;
    }
    int rc = s_load_json (self, root, path, err, errlen);
    json_decref (root);
    return rc;
}

int
zdex_config_load_string (zdex_config_t *self, const char *text, const char *origin, char *err,
                         size_t errlen)
{
    assert (self);
    assert (text);
    if (!origin)
        origin = "<string>";
    json_error_t error;
    json_t *root = json_loads (text, JSON_REJECT_DUPLICATES, &error);
    if (!root) {
        s_json_error (&error, origin, text, err, errlen);
        return -1;
    }
    int rc = s_load_json (self, root, origin, err, errlen);
    json_decref (root);
    return rc;
}

//  Strict decimal: no sign other than '-', no spaces, no trailing characters.
static int
s_flag_int (const char *value, long long min, long long max, long long *out)
{
    if (!(isdigit ((unsigned char) value[0]) ||
          (value[0] == '-' && isdigit ((unsigned char) value[1]))))
        return -1;
    errno = 0;
    char *end;
    long long number = strtoll (value, &end, 10);
    if (errno || *end || number < min || number > max)
        return -1;
    *out = number;
    return 0;
}

int
zdex_config_set (zdex_config_t *self, const char *flag, const char *value, char *err, size_t errlen)
{
    assert (self);
    assert (flag);
    if (!value) {
        s_message (err, errlen, "--%s: needs a value", flag);
        return -1;
    }
    zdex_member_config_t *member = &self->member;
    long long number = 0;
    char *endpoint = NULL;
    if (streq (flag, "client-endpoint"))
        endpoint = member->client_endpoint;
    else if (streq (flag, "worker-endpoint"))
        endpoint = member->worker_endpoint;
    else if (streq (flag, "cluster-endpoint"))
        endpoint = member->cluster_endpoint;

    if (endpoint || streq (flag, "seed")) {
        if (s_check_endpoint (value)) {
            s_message (err, errlen, "--%s: '%s' %s", flag, value, S_ENDPOINT_RULE);
            return -1;
        }
        if (endpoint)
            snprintf (endpoint, ZDEX_CONFIG_NAME_MAX, "%s", value);
        else if (zlist_size (self->seeds) >= S_MAX_SEEDS) {
            s_message (err, errlen, "--seed: at most %d seeds are allowed", S_MAX_SEEDS);
            return -1;
        } else if (zlist_append (self->seeds, (void *) value)) {
            s_message (err, errlen, "--seed: out of memory");
            return -1;
        }
    } else if (streq (flag, "rebalance")) {
        if (!streq (value, "on") && !streq (value, "off")) {
            s_message (err, errlen, "--rebalance: '%s' must be on or off", value);
            return -1;
        }
        member->cluster_rebalance = streq (value, "on");
    } else if (streq (flag, "cluster-name")) {
        if (s_check_member_id (value)) {
            s_message (err, errlen, "--cluster-name: '%s' %s", value, S_MEMBER_ID_RULE);
            return -1;
        }
        snprintf (member->cluster_name, sizeof member->cluster_name, "%s", value);
    } else if (streq (flag, "member-id")) {
        if (s_check_member_id (value)) {
            s_message (err, errlen, "--member-id: '%s' %s", value, S_MEMBER_ID_RULE);
            return -1;
        }
        snprintf (member->member_id, sizeof member->member_id, "%s", value);
    } else if (streq (flag, "log-level")) {
        int level = zdex_config_log_level_parse (value);
        if (level < 0) {
            s_message (err, errlen, "--log-level: '%s' must be one of error, warning, info, debug",
                       value);
            return -1;
        }
        member->log_level = (zdex_log_level_t) level;
    } else if (streq (flag, "partition-count")) {
        if (s_flag_int (value, 1, S_PARTITIONS_MAX, &number)) {
            s_message (err, errlen, "--partition-count: '%s' must be an integer in 1..%d", value,
                       S_PARTITIONS_MAX);
            return -1;
        }
        member->partition_count = (uint32_t) number;
    } else if (streq (flag, "partition-threads")) {
        if (s_flag_int (value, 0, S_THREADS_MAX, &number)) {
            s_message (err, errlen, "--partition-threads: '%s' must be an integer in 0..%d", value,
                       S_THREADS_MAX);
            return -1;
        }
        member->partition_threads = (int) number;
    } else {
        s_message (err, errlen, "unknown flag --%s", flag);
        return -1;
    }
    return 0;
}

const zdex_member_config_t *
zdex_config_member (zdex_config_t *self)
{
    assert (self);
    return &self->member;
}

zlist_t *
zdex_config_seeds (zdex_config_t *self)
{
    assert (self);
    return self->seeds;
}

int
zdex_config_max_durability (zdex_config_t *self)
{
    assert (self);
    s_settings_t settings;
    s_resolve (&self->durable, S_DEFAULT_ENTRY, &settings);
    int most = settings.durability;
    for (size_t index = 0; index < self->durable.count; index++) {
        s_resolve (&self->durable, self->durable.entries[index].name, &settings);
        if (settings.durability > most)
            most = settings.durability;
    }
    s_resolve (&self->scheduled, S_DEFAULT_ENTRY, &settings);
    if (settings.durability > most)
        most = settings.durability;
    for (size_t index = 0; index < self->scheduled.count; index++) {
        s_resolve (&self->scheduled, self->scheduled.entries[index].name, &settings);
        if (settings.durability > most)
            most = settings.durability;
    }
    return most;
}

void
zdex_config_durable (zdex_config_t *self, const char *name, zdex_durable_config_t *out)
{
    assert (self);
    assert (out);
    s_settings_t settings;
    s_resolve (&self->durable, name ? name : S_DEFAULT_ENTRY, &settings);
    memset (out, 0, sizeof *out);
    out->pool_size = settings.pool_size;
    out->durability = settings.durability;
    out->capacity = settings.capacity;
    out->statistics_enabled = settings.statistics_enabled;
    memcpy (out->split_brain_protection, settings.split_brain_protection,
            sizeof out->split_brain_protection);
}

void
zdex_config_scheduled (zdex_config_t *self, const char *name, zdex_scheduled_config_t *out)
{
    assert (self);
    assert (out);
    s_settings_t settings;
    s_resolve (&self->scheduled, name ? name : S_DEFAULT_ENTRY, &settings);
    memset (out, 0, sizeof *out);
    out->pool_size = settings.pool_size;
    out->durability = settings.durability;
    out->capacity = settings.capacity;
    out->capacity_policy = settings.capacity_policy;
    out->merge_policy = settings.merge_policy;
    out->statistics_enabled = settings.statistics_enabled;
    memcpy (out->split_brain_protection, settings.split_brain_protection,
            sizeof out->split_brain_protection);
}

int
zdex_config_protection (zdex_config_t *self, const char *name, zdex_protection_config_t *out)
{
    assert (self);
    assert (out);
    zdex_protection_config_t *rule = name ? s_rule_find (self, name) : NULL;
    if (!rule)
        return -1;
    *out = *rule;
    return 0;
}

int
zdex_config_log_level_parse (const char *name)
{
    if (!name)
        return -1;
    return s_enum_parse (name, s_log_levels, sizeof s_log_levels / sizeof s_log_levels[0]);
}
