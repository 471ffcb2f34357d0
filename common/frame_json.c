/*
 * frame_json.c - RocketMQ's header encodings (JSON, serialize type 0, and the
 * ROCKETMQ binary form, type 1) and its JSON control bodies, mapped onto the
 * protobuf messages our own encoding (type 2) carries, so a handler never
 * knows which encoding a request came in.
 *
 * Headers
 *   The extFields of a request land in the typed oneof member rm_code_lookup()
 *   names for its code: a key sets the member's field of the same name
 *   (RocketMQ's camelCase names, kept by the descriptors); SEND_MESSAGE_V2
 *   and SEND_BATCH_MESSAGE also take the one-letter keys a..n. A value may be
 *   a string, a number or a boolean whatever the field's type (clients send
 *   all three); unknown keys are ignored (AccessKey, Signature, ...). A value
 *   that cannot become its field's type (queueId "abc", an object) leaves the
 *   request without its typed header and puts the reason in remark: the
 *   transport answers that request with the reason and keeps the connection.
 *   Responses carry a status, not the request code, so their extFields are
 *   not mapped (nothing the servers receive needs them). Encoding writes every
 *   present field of the oneof member as a string, as Java's
 *   HashMap<String,String> holds them.
 *
 * Bodies
 *   Parsed with jansson. fastjson's non-standard forms are accepted: when a
 *   strict parse fails, bare object keys ({0:"addr"}) are quoted and objects
 *   used as keys (Map<MessageQueue, V>) become strings holding their JSON,
 *   then the text is parsed again. Map entries accept both a JSON object and
 *   a list of {key, value} objects; a list of messages also accepts an object
 *   whose values are the messages (a Java map, e.g. subscriptionTable); Set
 *   wrappers accept an array. Written with
 *   json.c's writer in its fastjson mode (Map<MessageQueue, V> keys as
 *   objects, as Java's decoders expect).
 *
 * Threads and memory: no state; any thread. Decoded messages and strings come
 * from the caller's arena; jansson's tree is freed before returning.
 */
#include "frame_json.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "json.h"
#include "protocol.h"

/* SendMessageRequestHeaderV2: key 'a' + i is v2_fields[i]. */
static const char *const v2_fields[] = {
    "producerGroup",  "topic",     "defaultTopic", "defaultTopicQueueNums", "queueId",
    "sysFlag",        "bornTimestamp", "flag",     "properties",            "reconsumeTimes",
    "unitMode",       "maxReconsumeTimes", "batch", "brokerName"};
enum { N_V2 = sizeof v2_fields / sizeof v2_fields[0] };

static bool uses_v2_keys(const Mq__RemotingHeader *h)
{
    return !(h->flag & RM_FLAG_RESPONSE) && h->ext_case == MQ__REMOTING_HEADER__EXT_SEND_MESSAGE &&
           (h->code == RC_SEND_MESSAGE_V2 || h->code == RC_SEND_BATCH_MESSAGE);
}

/* ---- scalar values, whatever JSON type they came as ---- */

typedef enum { SV_STR, SV_INT, SV_REAL, SV_BOOL, SV_NULL, SV_OTHER } sv_kind;

typedef struct sval {
    sv_kind kind;
    const char *s; /* SV_STR: n bytes, not necessarily NUL-terminated */
    size_t n;
    long long i;   /* SV_INT, SV_BOOL */
    double d;      /* SV_REAL */
} sval;

static sval sval_json(const json_t *v)
{
    sval r = {SV_OTHER, NULL, 0, 0, 0};
    switch (json_typeof(v)) {
    case JSON_STRING:
        r.kind = SV_STR;
        r.s = json_string_value(v);
        r.n = json_string_length(v);
        break;
    case JSON_INTEGER:
        r.kind = SV_INT;
        r.i = json_integer_value(v);
        break;
    case JSON_REAL:
        r.kind = SV_REAL;
        r.d = json_real_value(v);
        break;
    case JSON_TRUE:
    case JSON_FALSE:
        r.kind = SV_BOOL;
        r.i = json_is_true(v);
        break;
    case JSON_NULL:
        r.kind = SV_NULL;
        break;
    default:
        break;
    }
    return r;
}

static sval sval_str(const char *s, size_t n)
{
    sval r = {SV_STR, s, n, 0, 0};
    return r;
}

static void sval_describe(const sval *v, char *buf, size_t n)
{
    switch (v->kind) {
    case SV_STR:
        snprintf(buf, n, "\"%.*s%s\"", (int)(v->n > 40 ? 40 : v->n), v->s, v->n > 40 ? "..." : "");
        break;
    case SV_INT:
        snprintf(buf, n, "%lld", v->i);
        break;
    case SV_REAL:
        snprintf(buf, n, "%g", v->d);
        break;
    case SV_BOOL:
        snprintf(buf, n, "%s", v->i ? "true" : "false");
        break;
    case SV_NULL:
        snprintf(buf, n, "null");
        break;
    default:
        snprintf(buf, n, "an object or array");
        break;
    }
}

/* A string as a NUL-terminated copy in buf, trimmed; false if too long. */
static bool sval_cstr(const sval *v, char *buf, size_t cap)
{
    const char *s = v->s;
    size_t n = v->n;
    while (n && (*s == ' ' || *s == '\t'))
        s++, n--;
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    if (n == 0 || n >= cap || memchr(s, '\0', n))
        return false;
    memcpy(buf, s, n);
    buf[n] = '\0';
    return true;
}

/* A whole string as a long long (integer) or a double (!integer). */
static bool str_number(const sval *v, bool integer, long long *i, double *d)
{
    char buf[64], *end;
    if (!sval_cstr(v, buf, sizeof buf))
        return false;
    errno = 0;
    if (integer)
        *i = strtoll(buf, &end, 10);
    else
        *d = strtod(buf, &end);
    return errno == 0 && *end == '\0';
}

static bool sval_int(const sval *v, long long *out)
{
    switch (v->kind) {
    case SV_INT:
    case SV_BOOL:
        *out = v->i;
        return true;
    case SV_REAL:
        if (!isfinite(v->d) || v->d != floor(v->d) || fabs(v->d) > 9.2e18)
            return false;
        *out = (long long)v->d;
        return true;
    case SV_STR:
        return str_number(v, true, out, NULL);
    default:
        return false;
    }
}

static bool sval_bool(const sval *v, bool *out)
{
    char buf[8];
    switch (v->kind) {
    case SV_BOOL:
    case SV_INT:
        *out = v->i != 0;
        return true;
    case SV_STR:
        if (!sval_cstr(v, buf, sizeof buf))
            return false;
        if (!strcasecmp(buf, "true") || !strcmp(buf, "1"))
            *out = true;
        else if (!strcasecmp(buf, "false") || !strcmp(buf, "0"))
            *out = false;
        else
            return false;
        return true;
    default:
        return false;
    }
}

static bool sval_double(const sval *v, double *out)
{
    switch (v->kind) {
    case SV_INT:
        *out = (double)v->i;
        return true;
    case SV_REAL:
        *out = v->d;
        return true;
    case SV_STR:
        return str_number(v, false, NULL, out);
    default:
        return false;
    }
}

static char *sval_string(arena *a, const sval *v)
{
    char buf[64];
    switch (v->kind) {
    case SV_STR:
        return arena_strndup(a, v->s, v->n);
    case SV_INT:
        snprintf(buf, sizeof buf, "%lld", v->i);
        break;
    case SV_REAL:
        snprintf(buf, sizeof buf, "%.17g", v->d);
        break;
    case SV_BOOL:
        snprintf(buf, sizeof buf, "%s", v->i ? "true" : "false");
        break;
    default:
        return NULL;
    }
    return arena_strndup(a, buf, strlen(buf));
}

static const char *type_word(ProtobufCType t)
{
    switch (t) {
    case PROTOBUF_C_TYPE_BOOL:
        return "a boolean";
    case PROTOBUF_C_TYPE_FLOAT:
    case PROTOBUF_C_TYPE_DOUBLE:
        return "a number";
    case PROTOBUF_C_TYPE_STRING:
    case PROTOBUF_C_TYPE_BYTES:
        return "a string";
    case PROTOBUF_C_TYPE_ENUM:
        return "an enum name or number";
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        return "a 32-bit integer";
    case PROTOBUF_C_TYPE_MESSAGE:
        return "an object";
    default:
        return "an integer";
    }
}

/* Stores v into slot, a value of field f's type. The error names the field
 * as "<owner><sep><name>" (formatted only on error: this is the hot path). */
static int set_scalar(arena *a, const ProtobufCFieldDescriptor *f, void *slot, const sval *v,
                      const char *owner, const char *sep, const char *name, char *err, size_t errlen)
{
    long long i;
    bool b;
    double d;
    bool ok = false;
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
        if ((ok = sval_int(v, &i) && i >= INT32_MIN && i <= INT32_MAX)) {
            *(int32_t *)slot = (int32_t)i;
        } else if (v->kind == SV_STR && !strcmp(f->name, "language")) { /* a LanguageCode name */
            char name[32];
            int32_t code = sval_cstr(v, name, sizeof name) ? rm_language_code(name) : -1;
            *(int32_t *)slot = code >= 0 ? code : RM_LANGUAGE_OTHER;
            ok = true;
        }
        break;
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        if ((ok = sval_int(v, &i) && i >= 0 && i <= UINT32_MAX))
            *(uint32_t *)slot = (uint32_t)i;
        break;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        if ((ok = sval_int(v, &i)))
            *(int64_t *)slot = i;
        break;
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        if ((ok = sval_int(v, &i) && i >= 0))
            *(uint64_t *)slot = (uint64_t)i;
        break;
    case PROTOBUF_C_TYPE_BOOL:
        if ((ok = sval_bool(v, &b)))
            *(protobuf_c_boolean *)slot = b;
        break;
    case PROTOBUF_C_TYPE_FLOAT:
        if ((ok = sval_double(v, &d)))
            *(float *)slot = (float)d;
        break;
    case PROTOBUF_C_TYPE_DOUBLE:
        if ((ok = sval_double(v, &d)))
            *(double *)slot = d;
        break;
    case PROTOBUF_C_TYPE_ENUM: {
        const ProtobufCEnumDescriptor *ed = f->descriptor;
        char name[128];
        if (v->kind == SV_STR && sval_cstr(v, name, sizeof name)) {
            const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value_by_name(ed, name);
            if (ev) {
                *(int *)slot = ev->value;
                ok = true;
                break;
            }
        }
        if ((ok = sval_int(v, &i) && i >= INT32_MIN && i <= INT32_MAX))
            *(int *)slot = (int)i;
        break;
    }
    case PROTOBUF_C_TYPE_STRING: {
        char *s = sval_string(a, v);
        if ((ok = s != NULL))
            *(char **)slot = s;
        break;
    }
    case PROTOBUF_C_TYPE_BYTES:
        if ((ok = v->kind == SV_STR)) {
            ProtobufCBinaryData *bd = slot;
            bd->data = (uint8_t *)arena_strndup(a, v->s, v->n);
            bd->len = v->n;
        }
        break;
    case PROTOBUF_C_TYPE_MESSAGE:
        break;
    }
    if (!ok) {
        char got[64];
        sval_describe(v, got, sizeof got);
        snprintf(err, errlen, "%s%s%s: expected %s, got %s", owner, sep, name, type_word(f->type), got);
        return -1;
    }
    return 0;
}

static void mark_present(ProtobufCMessage *m, const ProtobufCFieldDescriptor *f)
{
    char *base = (char *)m;
    if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
        *(uint32_t *)(base + f->quantifier_offset) = f->id;
    else if (f->label == PROTOBUF_C_LABEL_OPTIONAL && f->type != PROTOBUF_C_TYPE_STRING &&
             f->type != PROTOBUF_C_TYPE_MESSAGE)
        *(protobuf_c_boolean *)(base + f->quantifier_offset) = 1;
}

static ProtobufCMessage *msg_new(arena *a, const ProtobufCMessageDescriptor *d)
{
    ProtobufCMessage *m = arena_alloc(a, d->sizeof_message);
    protobuf_c_message_init(d, m);
    return m;
}

/* ---- lenient parsing ---- */

/* Skips the JSON string starting at in[i] (a quote); returns the index after it. */
static size_t skip_string(const char *in, size_t n, size_t i)
{
    for (i++; i < n; i++) {
        if (in[i] == '\\')
            i++;
        else if (in[i] == '"')
            return i + 1;
    }
    return n;
}

/* Skips the balanced object or array starting at in[i]; returns the index after it. */
static size_t skip_balanced(const char *in, size_t n, size_t i)
{
    int depth = 0;
    while (i < n) {
        char c = in[i];
        if (c == '"') {
            i = skip_string(in, n, i);
            continue;
        }
        if (c == '{' || c == '[')
            depth++;
        else if ((c == '}' || c == ']') && --depth == 0)
            return i + 1;
        i++;
    }
    return n;
}

/* Rewrites fastjson's object keys that are not strings into strings: a bare
 * token (0, -1, abc) is quoted, an object or array used as a key becomes a
 * string holding its text. Everything else is copied as it is. */
static void fastjson_normalize(const char *in, size_t n, bytebuf *out)
{
    enum { MAXD = 256 };
    bool is_obj[MAXD];
    int depth = 0;
    bool want_key = false;
    size_t i = 0;
    while (i < n) {
        char c = in[i];
        if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
            bytebuf_append(out, &c, 1);
            i++;
            continue;
        }
        if (c == '"') {
            size_t j = skip_string(in, n, i);
            bytebuf_append(out, in + i, j - i);
            i = j;
            want_key = false;
            continue;
        }
        if (want_key && c != '}') {
            size_t j;
            if (c == '{' || c == '[') {
                j = skip_balanced(in, n, i);
            } else {
                j = i;
                while (j < n && in[j] != ':' && in[j] != ',' && in[j] != '}' && in[j] != ' ' &&
                       in[j] != '\t' && in[j] != '\r' && in[j] != '\n')
                    j++;
            }
            json_escape(out, in + i, j - i);
            i = j;
            want_key = false;
            continue;
        }
        switch (c) {
        case '{':
        case '[':
            if (depth < MAXD)
                is_obj[depth] = c == '{';
            depth++;
            want_key = c == '{';
            break;
        case '}':
        case ']':
            if (depth > 0)
                depth--;
            want_key = false;
            break;
        case ',':
            want_key = depth > 0 && depth <= MAXD && is_obj[depth - 1];
            break;
        default:
            break;
        }
        bytebuf_append(out, &c, 1);
        i++;
    }
}

/* Parses standard JSON, or fastjson's with non-string keys. */
static json_t *parse_lenient(const char *data, size_t len, char *err, size_t errlen)
{
    json_error_t je;
    json_t *root = json_loadb(data, len, 0, &je);
    if (root)
        return root;
    bytebuf nb;
    bytebuf_init(&nb);
    fastjson_normalize(data, len, &nb);
    json_error_t je2;
    root = json_loadb((const char *)nb.data, nb.len, 0, &je2);
    bytebuf_free(&nb);
    if (!root)
        snprintf(err, errlen, "invalid JSON at line %d, column %d: %s", je.line, je.column, je.text);
    return root;
}

/* ---- bodies: JSON to protobuf ---- */

static int decode_message(arena *a, const ProtobufCMessageDescriptor *d, json_t *v, ProtobufCMessage **out,
                          char *err, size_t errlen);

/* One value of field f (not repeated) into slot. */
static int decode_value(arena *a, const ProtobufCFieldDescriptor *f, void *slot, json_t *v, const char *owner,
                        char *err, size_t errlen)
{
    if (f->type == PROTOBUF_C_TYPE_MESSAGE)
        return decode_message(a, f->descriptor, v, (ProtobufCMessage **)slot, err, errlen);
    sval sv = sval_json(v);
    return set_scalar(a, f, slot, &sv, owner, ".", f->name, err, errlen);
}

/* A map entry or keyed entry from one member of a JSON object. */
static int decode_entry(arena *a, const ProtobufCMessageDescriptor *ed, const char *key, json_t *val,
                        ProtobufCMessage **out, char *err, size_t errlen)
{
    ProtobufCMessage *e = msg_new(a, ed);
    const ProtobufCFieldDescriptor *kf = &ed->fields[0], *vf = &ed->fields[1];
    char *base = (char *)e;
    if (kf->type == PROTOBUF_C_TYPE_MESSAGE) { /* Map<MessageQueue, V>: the key is the object's JSON */
        json_t *kj = parse_lenient(key, strlen(key), err, errlen);
        if (!kj)
            return -1;
        int rc = decode_message(a, kf->descriptor, kj, (ProtobufCMessage **)(base + kf->offset), err, errlen);
        json_decref(kj);
        if (rc)
            return -1;
    } else {
        sval sk = sval_str(key, strlen(key));
        if (set_scalar(a, kf, base + kf->offset, &sk, ed->short_name, " ", "key", err, errlen))
            return -1;
    }
    mark_present(e, kf);
    if (!json_is_null(val)) {
        if (decode_value(a, vf, base + vf->offset, val, ed->short_name, err, errlen))
            return -1;
        mark_present(e, vf);
    }
    *out = e;
    return 0;
}

static int decode_repeated(arena *a, ProtobufCMessage *m, const ProtobufCFieldDescriptor *f, json_t *v,
                           char *err, size_t errlen)
{
    char *base = (char *)m;
    const ProtobufCMessageDescriptor *ed = f->type == PROTOBUF_C_TYPE_MESSAGE ? f->descriptor : NULL;
    size_t n, sz = json_pb_elem_size(f->type);
    void *arr;
    if (ed && json_is_object(v)) {
        /* A JSON map: one entry per member for a map or keyed-entry list;
         * otherwise a Java map whose values are the messages (subscriptionTable). */
        bool entries = json_pb_map_entry(ed) || json_pb_keyed_entry(ed);
        n = json_object_size(v);
        arr = arena_alloc(a, n ? n * sz : 1);
        size_t i = 0;
        const char *key;
        json_t *val;
        json_object_foreach(v, key, val) {
            ProtobufCMessage **slot = &((ProtobufCMessage **)arr)[i++];
            if (entries ? decode_entry(a, ed, key, val, slot, err, errlen)
                        : decode_message(a, ed, val, slot, err, errlen))
                return -1;
        }
    } else if (json_is_array(v)) {
        n = json_array_size(v);
        arr = arena_alloc(a, n ? n * sz : 1);
        for (size_t i = 0; i < n; i++) {
            json_t *el = json_array_get(v, i);
            if (json_is_null(el)) {
                snprintf(err, errlen, "%s.%s[%zu]: null in a list", m->descriptor->short_name, f->name, i);
                return -1;
            }
            if (decode_value(a, f, (char *)arr + i * sz, el, m->descriptor->short_name, err, errlen))
                return -1;
        }
    } else {
        char got[64];
        sval sv = sval_json(v);
        sval_describe(&sv, got, sizeof got);
        snprintf(err, errlen, "%s.%s: expected a list, got %s", m->descriptor->short_name, f->name,
                 json_is_object(v) ? "an object" : got);
        return -1;
    }
    *(size_t *)(base + f->quantifier_offset) = n;
    *(void **)(base + f->offset) = arr;
    return 0;
}

static int decode_message(arena *a, const ProtobufCMessageDescriptor *d, json_t *v, ProtobufCMessage **out,
                          char *err, size_t errlen)
{
    ProtobufCMessage *m = msg_new(a, d);
    if (json_pb_set_wrapper(d) && json_is_array(v)) { /* a Java Set */
        if (decode_repeated(a, m, &d->fields[0], v, err, errlen))
            return -1;
        *out = m;
        return 0;
    }
    if (!json_is_object(v)) {
        char got[64];
        sval sv = sval_json(v);
        sval_describe(&sv, got, sizeof got);
        snprintf(err, errlen, "%s: expected an object, got %s", d->short_name,
                 json_is_array(v) ? "a list" : got);
        return -1;
    }
    const char *key;
    json_t *val;
    json_object_foreach(v, key, val) {
        const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field_by_name(d, key);
        if (!f || json_is_null(val))
            continue; /* fields we do not keep, and Java's nulls */
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            if (decode_repeated(a, m, f, val, err, errlen))
                return -1;
            continue;
        }
        if (decode_value(a, f, (char *)m + f->offset, val, d->short_name, err, errlen))
            return -1;
        mark_present(m, f);
    }
    *out = m;
    return 0;
}

ProtobufCMessage *frame_json_body_decode(const ProtobufCMessageDescriptor *desc, const uint8_t *data,
                                         size_t len, arena *a, char *err, size_t errlen)
{
    char why[200];
    json_t *root = parse_lenient((const char *)data, len, why, sizeof why);
    if (!root) {
        snprintf(err, errlen, "undecodable %s JSON body (%zu bytes): %s", desc->short_name, len, why);
        return NULL;
    }
    ProtobufCMessage *m = NULL;
    if (decode_message(a, desc, root, &m, why, sizeof why) != 0) {
        snprintf(err, errlen, "bad %s JSON body: %s", desc->short_name, why);
        m = NULL;
    }
    json_decref(root);
    return m;
}

int frame_json_body_encode(const ProtobufCMessage *msg, bytebuf *out, char *err, size_t errlen)
{
    json_writer w;
    json_writer_init(&w, out, false);
    w.fastjson = true;
    json_message(&w, msg);
    if (json_writer_finish(&w) != 0) {
        snprintf(err, errlen, "cannot write %s as JSON", msg->descriptor->short_name);
        return -1;
    }
    return 0;
}

/* ---- headers ---- */

/* The typed member a request's extFields go into: allocated and attached to
 * h, or NULL when the code has none (or h is a response). */
static ProtobufCMessage *ext_begin(arena *a, Mq__RemotingHeader *h)
{
    if (h->flag & RM_FLAG_RESPONSE)
        return NULL;
    const rm_code_info *info = rm_code_lookup(h->code);
    if (!info || info->request_ext == MQ__REMOTING_HEADER__EXT__NOT_SET)
        return NULL;
    const ProtobufCFieldDescriptor *hf =
        protobuf_c_message_descriptor_get_field(&mq__remoting_header__descriptor, (unsigned)info->request_ext);
    if (!hf)
        return NULL;
    ProtobufCMessage *m = msg_new(a, hf->descriptor);
    *(ProtobufCMessage **)((char *)h + hf->offset) = m;
    *(uint32_t *)((char *)h + hf->quantifier_offset) = hf->id;
    return m;
}

/* One extFields entry into the member m (key is NUL-terminated). */
static int ext_set(arena *a, const Mq__RemotingHeader *h, ProtobufCMessage *m, const char *key, const sval *v,
                   char *err, size_t errlen)
{
    const ProtobufCMessageDescriptor *d = m->descriptor;
    const char *name = key;
    if (uses_v2_keys(h) && key[0] >= 'a' && key[0] < 'a' + N_V2 && key[1] == '\0')
        name = v2_fields[key[0] - 'a'];
    const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field_by_name(d, name);
    if (!f || f->label == PROTOBUF_C_LABEL_REPEATED || f->type == PROTOBUF_C_TYPE_MESSAGE ||
        v->kind == SV_NULL)
        return 0;
    if (set_scalar(a, f, (char *)m + f->offset, v, "extFields", ".", key, err, errlen))
        return -1;
    mark_present(m, f);
    return 0;
}

/* A request whose extFields do not fit: no typed header, the reason in
 * remark (the transport answers with it). */
static void ext_reject(arena *a, Mq__RemotingHeader *h, const char *why)
{
    h->ext_case = MQ__REMOTING_HEADER__EXT__NOT_SET;
    h->remark = arena_strndup(a, why, strlen(why));
}

static bool header_int(json_t *root, const char *key, int32_t *out, bool *present)
{
    json_t *v = json_object_get(root, key);
    *present = v && !json_is_null(v);
    if (!*present)
        return true;
    sval sv = sval_json(v);
    long long i;
    if (!sval_int(&sv, &i) || i < INT32_MIN || i > INT32_MAX)
        return false;
    *out = (int32_t)i;
    return true;
}

int frame_json_header_decode(const uint8_t *data, size_t len, arena *a, Mq__RemotingHeader **out,
                             char *err, size_t errlen)
{
    char why[200];
    json_t *root = parse_lenient((const char *)data, len, why, sizeof why);
    if (!root) {
        snprintf(err, errlen, "undecodable JSON header (%zu bytes): %s", len, why);
        return -1;
    }
    int rc = -1;
    if (!json_is_object(root)) {
        snprintf(err, errlen, "JSON header is not an object");
        goto out;
    }
    Mq__RemotingHeader *h = arena_alloc(a, sizeof *h);
    mq__remoting_header__init(h);
    bool present;
    static const struct {
        const char *key;
        size_t value, has;
    } ints[] = {
        {"code", offsetof(Mq__RemotingHeader, code), offsetof(Mq__RemotingHeader, has_code)},
        {"version", offsetof(Mq__RemotingHeader, version), offsetof(Mq__RemotingHeader, has_version)},
        {"opaque", offsetof(Mq__RemotingHeader, opaque), offsetof(Mq__RemotingHeader, has_opaque)},
        {"flag", offsetof(Mq__RemotingHeader, flag), offsetof(Mq__RemotingHeader, has_flag)},
    };
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++) {
        if (!header_int(root, ints[i].key, (int32_t *)((char *)h + ints[i].value), &present)) {
            snprintf(err, errlen, "JSON header: \"%s\" is not a 32-bit integer", ints[i].key);
            goto out;
        }
        *(protobuf_c_boolean *)((char *)h + ints[i].has) = present;
    }
    if (!h->has_code) {
        snprintf(err, errlen, "JSON header without \"code\"");
        goto out;
    }
    json_t *lang = json_object_get(root, "language");
    if (json_is_string(lang)) {
        int32_t code = rm_language_code(json_string_value(lang));
        h->language = code >= 0 ? code : RM_LANGUAGE_OTHER;
        h->has_language = 1;
    } else if (!header_int(root, "language", &h->language, &present)) {
        snprintf(err, errlen, "JSON header: \"language\" is neither a name nor a number");
        goto out;
    } else {
        h->has_language = present;
    }
    json_t *remark = json_object_get(root, "remark");
    if (remark && !json_is_null(remark)) {
        sval sv = sval_json(remark);
        h->remark = sval_string(a, &sv);
    }
    *out = h;
    rc = 0;

    json_t *ext = json_object_get(root, "extFields");
    ProtobufCMessage *m = ext_begin(a, h);
    if (!m || !ext || json_is_null(ext))
        goto out;
    if (!json_is_object(ext)) {
        ext_reject(a, h, "extFields is not an object");
        goto out;
    }
    const char *key;
    json_t *val;
    json_object_foreach(ext, key, val) {
        sval sv = sval_json(val);
        if (ext_set(a, h, m, key, &sv, why, sizeof why) != 0) {
            ext_reject(a, h, why);
            break;
        }
    }
out:
    json_decref(root);
    return rc;
}

/* Writes the present scalar fields of h's oneof member, as strings. */
typedef void (*ext_emit_fn)(void *ctx, const char *key, const char *val, size_t val_len);

static bool ext_present(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f)
{
    const char *base = (const char *)m;
    if (f->label == PROTOBUF_C_LABEL_REPEATED || f->type == PROTOBUF_C_TYPE_MESSAGE)
        return false;
    if (f->type == PROTOBUF_C_TYPE_STRING)
        return *(const char *const *)(base + f->offset) != NULL;
    if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
        return *(const uint32_t *)(base + f->quantifier_offset) == f->id;
    if (f->label == PROTOBUF_C_LABEL_OPTIONAL)
        return *(const protobuf_c_boolean *)(base + f->quantifier_offset) != 0;
    return true;
}

static void ext_each(const Mq__RemotingHeader *h, ext_emit_fn emit, void *ctx)
{
    const ProtobufCMessage *m = rm_header_ext(h);
    if (!m)
        return;
    const ProtobufCMessageDescriptor *d = m->descriptor;
    bool v2 = uses_v2_keys(h);
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        if (!ext_present(m, f))
            continue;
        const char *key = f->name;
        char short_key[2] = {0, 0};
        if (v2)
            for (int k = 0; k < N_V2; k++)
                if (!strcmp(v2_fields[k], f->name)) {
                    short_key[0] = (char)('a' + k);
                    key = short_key;
                }
        const void *p = (const char *)m + f->offset;
        char buf[64];
        const char *val = buf;
        switch (f->type) {
        case PROTOBUF_C_TYPE_INT32:
        case PROTOBUF_C_TYPE_SINT32:
        case PROTOBUF_C_TYPE_SFIXED32:
        case PROTOBUF_C_TYPE_ENUM:
            snprintf(buf, sizeof buf, "%d", *(const int32_t *)p);
            break;
        case PROTOBUF_C_TYPE_UINT32:
        case PROTOBUF_C_TYPE_FIXED32:
            snprintf(buf, sizeof buf, "%u", *(const uint32_t *)p);
            break;
        case PROTOBUF_C_TYPE_INT64:
        case PROTOBUF_C_TYPE_SINT64:
        case PROTOBUF_C_TYPE_SFIXED64:
            snprintf(buf, sizeof buf, "%lld", (long long)*(const int64_t *)p);
            break;
        case PROTOBUF_C_TYPE_UINT64:
        case PROTOBUF_C_TYPE_FIXED64:
            snprintf(buf, sizeof buf, "%llu", (unsigned long long)*(const uint64_t *)p);
            break;
        case PROTOBUF_C_TYPE_BOOL:
            val = *(const protobuf_c_boolean *)p ? "true" : "false";
            break;
        case PROTOBUF_C_TYPE_FLOAT:
            snprintf(buf, sizeof buf, "%.9g", (double)*(const float *)p);
            break;
        case PROTOBUF_C_TYPE_DOUBLE:
            snprintf(buf, sizeof buf, "%.17g", *(const double *)p);
            break;
        case PROTOBUF_C_TYPE_STRING:
            val = *(const char *const *)p;
            break;
        case PROTOBUF_C_TYPE_BYTES: {
            const ProtobufCBinaryData *bd = p;
            emit(ctx, key, (const char *)bd->data, bd->len);
            continue;
        }
        default:
            continue;
        }
        emit(ctx, key, val, strlen(val));
    }
}

static void json_ext_emit(void *ctx, const char *key, const char *val, size_t n)
{
    json_writer *w = ctx;
    json_key(w, key);
    json_string_n(w, val, n);
}

int frame_json_header_encode(const Mq__RemotingHeader *h, bytebuf *out, char *err, size_t errlen)
{
    json_writer w;
    json_writer_init(&w, out, false);
    json_object_begin(&w);
    json_kv_int(&w, "code", h->code);
    const char *lang = rm_language_name(h->language);
    json_kv_string(&w, "language", lang ? lang : "OTHER");
    json_kv_int(&w, "version", h->version);
    json_kv_int(&w, "opaque", h->opaque);
    json_kv_int(&w, "flag", h->flag);
    if (h->remark)
        json_kv_string(&w, "remark", h->remark);
    json_key(&w, "extFields");
    json_object_begin(&w);
    ext_each(h, json_ext_emit, &w);
    json_object_end(&w);
    json_kv_string(&w, "serializeTypeCurrentRPC", "JSON");
    json_object_end(&w);
    if (json_writer_finish(&w) != 0) {
        snprintf(err, errlen, "cannot write the JSON header");
        return -1;
    }
    return 0;
}

/* ---- type 1: ROCKETMQ binary header ---- */

int frame_rmq_header_decode(const uint8_t *data, size_t len, arena *a, Mq__RemotingHeader **out,
                            char *err, size_t errlen)
{
    if (len < 17) {
        snprintf(err, errlen, "ROCKETMQ header too short (%zu bytes)", len);
        return -1;
    }
    Mq__RemotingHeader *h = arena_alloc(a, sizeof *h);
    mq__remoting_header__init(h);
    h->code = (int16_t)be16_load(data);
    h->language = data[2];
    h->version = (int16_t)be16_load(data + 3);
    h->opaque = (int32_t)be32_load(data + 5);
    h->flag = (int32_t)be32_load(data + 9);
    h->has_code = h->has_language = h->has_version = h->has_opaque = h->has_flag = 1;
    size_t pos = 13;
    uint32_t remark_len = be32_load(data + pos);
    pos += 4;
    if (remark_len > len - pos) {
        snprintf(err, errlen, "ROCKETMQ header: remark of %u bytes overruns the header", remark_len);
        return -1;
    }
    if (remark_len)
        h->remark = arena_strndup(a, (const char *)data + pos, remark_len);
    pos += remark_len;
    uint32_t ext_len = 0;
    if (len - pos >= 4) {
        ext_len = be32_load(data + pos);
        pos += 4;
    }
    if (ext_len > len - pos) {
        snprintf(err, errlen, "ROCKETMQ header: extFields of %u bytes overrun the header", ext_len);
        return -1;
    }
    *out = h;
    ProtobufCMessage *m = ext_begin(a, h);
    const uint8_t *p = data + pos, *end = p + ext_len;
    char why[200];
    while (p < end) {
        if (end - p < 2 || (size_t)(end - p - 2) < be16_load(p)) {
            ext_reject(a, h, "extFields: truncated key");
            break;
        }
        size_t klen = be16_load(p);
        const char *key = (const char *)p + 2;
        p += 2 + klen;
        if (end - p < 4 || (size_t)(end - p - 4) < be32_load(p)) {
            ext_reject(a, h, "extFields: truncated value");
            break;
        }
        size_t vlen = be32_load(p);
        sval sv = sval_str((const char *)p + 4, vlen);
        p += 4 + vlen;
        char kbuf[128];
        if (!m || klen == 0 || klen >= sizeof kbuf)
            continue;
        memcpy(kbuf, key, klen);
        kbuf[klen] = '\0';
        if (ext_set(a, h, m, kbuf, &sv, why, sizeof why) != 0) {
            ext_reject(a, h, why);
            break;
        }
    }
    return 0;
}

static void rmq_ext_emit(void *ctx, const char *key, const char *val, size_t n)
{
    bytebuf *out = ctx;
    size_t klen = strlen(key);
    uint8_t *d = bytebuf_reserve(out, 2 + klen + 4);
    be16_store(d, (uint16_t)klen);
    memcpy(d + 2, key, klen);
    be32_store(d + 2 + klen, (uint32_t)n);
    out->len += 2 + klen + 4;
    bytebuf_append(out, val, n);
}

int frame_rmq_header_encode(const Mq__RemotingHeader *h, bytebuf *out, char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    uint8_t *d = bytebuf_reserve(out, 17);
    be16_store(d, (uint16_t)h->code);
    d[2] = (uint8_t)h->language;
    be16_store(d + 3, (uint16_t)h->version);
    be32_store(d + 5, (uint32_t)h->opaque);
    be32_store(d + 9, (uint32_t)h->flag);
    size_t rlen = h->remark ? strlen(h->remark) : 0;
    be32_store(d + 13, (uint32_t)rlen);
    out->len += 17;
    if (rlen)
        bytebuf_append(out, h->remark, rlen);
    size_t at = out->len;
    bytebuf_append_be32(out, 0);
    ext_each(h, rmq_ext_emit, out);
    be32_store(out->data + at, (uint32_t)(out->len - at - 4));
    return 0;
}
