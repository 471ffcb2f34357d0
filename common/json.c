/*
 * json.c - see json.h. The writer keeps one small state per open container
 * (object or array, anything written yet) so it can place commas and
 * newlines; the protobuf renderer walks descriptors, never generated code,
 * so every message in proto/ renders without per-type code.
 */
#include "json.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "protocol.h"

/* ---- writer ---- */

void json_writer_init(json_writer *w, bytebuf *out, bool pretty)
{
    memset(w, 0, sizeof *w);
    w->out = out;
    w->pretty = pretty;
}

int json_writer_finish(json_writer *w)
{
    if (w->depth != 0 || w->after_key)
        w->error = true;
    if (w->pretty && !w->error)
        bytebuf_append(w->out, "\n", 1);
    return w->error ? -1 : 0;
}

static void newline_indent(json_writer *w)
{
    if (!w->pretty)
        return;
    bytebuf_append(w->out, "\n", 1);
    for (int i = 0; i < w->depth; i++)
        bytebuf_append(w->out, "  ", 2);
}

/* Before any value: separator and position checks. */
static bool before_value(json_writer *w)
{
    if (w->error)
        return false;
    if (w->after_key) {
        w->after_key = false;
        return true;
    }
    if (w->depth > 0) {
        if (w->is_object[w->depth - 1]) { /* a value without a key */
            w->error = true;
            return false;
        }
        if (w->has_items[w->depth - 1])
            bytebuf_append(w->out, ",", 1);
        w->has_items[w->depth - 1] = true;
        newline_indent(w);
    }
    return true;
}

static void open_container(json_writer *w, bool object)
{
    if (!before_value(w))
        return;
    if (w->depth >= JSON_MAX_DEPTH) {
        w->error = true;
        return;
    }
    bytebuf_append(w->out, object ? "{" : "[", 1);
    w->is_object[w->depth] = object;
    w->has_items[w->depth] = false;
    w->depth++;
}

static void close_container(json_writer *w, bool object)
{
    if (w->error)
        return;
    if (w->depth == 0 || w->is_object[w->depth - 1] != object || w->after_key) {
        w->error = true;
        return;
    }
    bool had = w->has_items[w->depth - 1];
    w->depth--;
    if (had)
        newline_indent(w);
    bytebuf_append(w->out, object ? "}" : "]", 1);
}

void json_object_begin(json_writer *w) { open_container(w, true); }
void json_object_end(json_writer *w) { close_container(w, true); }
void json_array_begin(json_writer *w) { open_container(w, false); }
void json_array_end(json_writer *w) { close_container(w, false); }

/* Before a key: position checks and separator. */
static bool before_key(json_writer *w)
{
    if (w->error)
        return false;
    if (w->depth == 0 || !w->is_object[w->depth - 1] || w->after_key) {
        w->error = true;
        return false;
    }
    if (w->has_items[w->depth - 1])
        bytebuf_append(w->out, ",", 1);
    w->has_items[w->depth - 1] = true;
    newline_indent(w);
    return true;
}

void json_key_n(json_writer *w, const char *key, size_t n)
{
    if (!before_key(w))
        return;
    json_escape(w->out, key ? key : "", key ? n : 0);
    bytebuf_append(w->out, w->pretty ? ": " : ":", w->pretty ? 2 : 1);
    w->after_key = true;
}

void json_key(json_writer *w, const char *key) { json_key_n(w, key, key ? strlen(key) : 0); }

/* Length of the valid UTF-8 sequence at p (at most n bytes), 0 if invalid. */
static size_t utf8_seq(const unsigned char *p, size_t n)
{
    unsigned char c = p[0];
    size_t len;
    uint32_t cp;
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
        cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (p[i] & 0x3F);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
        (cp >= 0xD800 && cp <= 0xDFFF))
        return 0; /* overlong, out of range, or a surrogate */
    return len;
}

void json_escape(bytebuf *out, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)s;
    bytebuf_append(out, "\"", 1);
    size_t run = 0; /* start of bytes copied as they are */
    size_t i = 0;
    while (i < n) {
        unsigned char c = p[i];
        const char *esc = NULL;
        char u[6];
        size_t esc_len = 2, adv = 1;
        switch (c) {
        case '"': esc = "\\\""; break;
        case '\\': esc = "\\\\"; break;
        case '\n': esc = "\\n"; break;
        case '\r': esc = "\\r"; break;
        case '\t': esc = "\\t"; break;
        case '\b': esc = "\\b"; break;
        case '\f': esc = "\\f"; break;
        default:
            if (c < 0x20 || c == 0x7f) {
                u[0] = '\\', u[1] = 'u', u[2] = '0', u[3] = '0', u[4] = hex[c >> 4], u[5] = hex[c & 15];
                esc = u;
                esc_len = 6;
            } else if (c >= 0x80) {
                adv = utf8_seq(p + i, n - i);
                if (adv == 0) {
                    esc = "\xEF\xBF\xBD"; /* U+FFFD for a byte that is not UTF-8 */
                    esc_len = 3;
                    adv = 1;
                }
            }
        }
        if (esc) {
            bytebuf_append(out, p + run, i - run);
            bytebuf_append(out, esc, esc_len);
            i += adv;
            run = i;
        } else {
            i += adv;
        }
    }
    bytebuf_append(out, p + run, n - run);
    bytebuf_append(out, "\"", 1);
}

void json_string_n(json_writer *w, const char *s, size_t n)
{
    if (!before_value(w))
        return;
    if (!s)
        bytebuf_append(w->out, "null", 4);
    else
        json_escape(w->out, s, n);
}

void json_str(json_writer *w, const char *s) { json_string_n(w, s, s ? strlen(s) : 0); }

void json_int(json_writer *w, int64_t v)
{
    if (before_value(w))
        bytebuf_printf(w->out, "%lld", (long long)v);
}

void json_uint(json_writer *w, uint64_t v)
{
    if (before_value(w))
        bytebuf_printf(w->out, "%llu", (unsigned long long)v);
}

void json_double(json_writer *w, double v)
{
    if (!before_value(w))
        return;
    if (!isfinite(v))
        bytebuf_append(w->out, "null", 4);
    else
        bytebuf_printf(w->out, "%.17g", v);
}

void json_bool(json_writer *w, bool v)
{
    if (before_value(w))
        bytebuf_append_str(w->out, v ? "true" : "false");
}

void json_nil(json_writer *w)
{
    if (before_value(w))
        bytebuf_append(w->out, "null", 4);
}

void json_kv_string(json_writer *w, const char *key, const char *s)
{
    json_key(w, key);
    json_str(w, s);
}

void json_kv_int(json_writer *w, const char *key, int64_t v)
{
    json_key(w, key);
    json_int(w, v);
}

void json_kv_bool(json_writer *w, const char *key, bool v)
{
    json_key(w, key);
    json_bool(w, v);
}

/* ---- protobuf renderer ---- */

static void base64(json_writer *w, const uint8_t *p, size_t n)
{
    static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    if (!before_value(w))
        return;
    bytebuf_append(w->out, "\"", 1);
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)p[i + 1] << 8;
        if (i + 2 < n)
            v |= p[i + 2];
        char q[4] = {tbl[(v >> 18) & 63], tbl[(v >> 12) & 63], i + 1 < n ? tbl[(v >> 6) & 63] : '=',
                     i + 2 < n ? tbl[v & 63] : '='};
        bytebuf_append(w->out, q, 4);
    }
    bytebuf_append(w->out, "\"", 1);
}

size_t json_pb_elem_size(ProtobufCType t)
{
    switch (t) {
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        return 8;
    case PROTOBUF_C_TYPE_DOUBLE:
        return sizeof(double);
    case PROTOBUF_C_TYPE_FLOAT:
        return sizeof(float);
    case PROTOBUF_C_TYPE_BOOL:
        return sizeof(protobuf_c_boolean);
    case PROTOBUF_C_TYPE_STRING:
    case PROTOBUF_C_TYPE_MESSAGE:
        return sizeof(void *);
    case PROTOBUF_C_TYPE_BYTES:
        return sizeof(ProtobufCBinaryData);
    default:
        return 4; /* 32-bit ints and enums */
    }
}

/* Writes the scalar, string, bytes or message at p as a value. */
static void write_value(json_writer *w, const ProtobufCFieldDescriptor *f, const void *p)
{
    if (w->fastjson && f->type == PROTOBUF_C_TYPE_INT32 && !strcmp(f->name, "language") &&
        rm_language_name(*(const int32_t *)p)) { /* Java's LanguageCode enum: its name */
        json_str(w, rm_language_name(*(const int32_t *)p));
        return;
    }
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
        json_int(w, *(const int32_t *)p);
        break;
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        json_uint(w, *(const uint32_t *)p);
        break;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        json_int(w, *(const int64_t *)p);
        break;
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        json_uint(w, *(const uint64_t *)p);
        break;
    case PROTOBUF_C_TYPE_FLOAT:
        json_double(w, *(const float *)p);
        break;
    case PROTOBUF_C_TYPE_DOUBLE:
        json_double(w, *(const double *)p);
        break;
    case PROTOBUF_C_TYPE_BOOL:
        json_bool(w, *(const protobuf_c_boolean *)p != 0);
        break;
    case PROTOBUF_C_TYPE_ENUM: {
        int v = *(const int *)p;
        const ProtobufCEnumValue *ev =
            protobuf_c_enum_descriptor_get_value((const ProtobufCEnumDescriptor *)f->descriptor, v);
        if (ev)
            json_str(w, ev->name);
        else
            json_int(w, v);
        break;
    }
    case PROTOBUF_C_TYPE_STRING:
        json_str(w, *(char *const *)p);
        break;
    case PROTOBUF_C_TYPE_BYTES: {
        const ProtobufCBinaryData *b = p;
        base64(w, b->data, b->len);
        break;
    }
    case PROTOBUF_C_TYPE_MESSAGE: {
        const ProtobufCMessage *m = *(const ProtobufCMessage *const *)p;
        if (m)
            json_message(w, m);
        else
            json_nil(w);
        break;
    }
    }
}

static bool field_present(const ProtobufCMessage *msg, const ProtobufCFieldDescriptor *f)
{
    const char *base = (const char *)msg;
    const void *member = base + f->offset;
    if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
        return *(const uint32_t *)(base + f->quantifier_offset) == f->id;
    if (f->type == PROTOBUF_C_TYPE_STRING || f->type == PROTOBUF_C_TYPE_MESSAGE)
        return *(const void *const *)member != NULL;
    if (f->label == PROTOBUF_C_LABEL_OPTIONAL)
        return *(const protobuf_c_boolean *)(base + f->quantifier_offset) != 0;
    if (f->label == PROTOBUF_C_LABEL_REQUIRED)
        return true;
    /* proto3 without presence: present when not zero */
    size_t sz = f->type == PROTOBUF_C_TYPE_BYTES ? 0 : json_pb_elem_size(f->type);
    if (f->type == PROTOBUF_C_TYPE_BYTES)
        return ((const ProtobufCBinaryData *)member)->len != 0;
    static const char zero[16];
    return memcmp(member, zero, sz) != 0;
}

/* Map entries are generated as repeated XxxEntry{key = 1, value = 2}. */
bool json_pb_map_entry(const ProtobufCMessageDescriptor *d)
{
    size_t n = strlen(d->short_name);
    return n > 5 && !strcmp(d->short_name + n - 5, "Entry") && d->n_fields == 2 &&
           d->fields[0].id == 1 && !strcmp(d->fields[0].name, "key") && d->fields[1].id == 2 &&
           !strcmp(d->fields[1].name, "value");
}

/* RocketMQ writes a Java Set as an array: a "...Set" message with one repeated field. */
bool json_pb_set_wrapper(const ProtobufCMessageDescriptor *d)
{
    size_t n = strlen(d->short_name);
    return n > 3 && !strcmp(d->short_name + n - 3, "Set") && d->n_fields == 1 &&
           d->fields[0].label == PROTOBUF_C_LABEL_REPEATED;
}

bool json_pb_keyed_entry(const ProtobufCMessageDescriptor *d)
{
    return d->n_fields == 2 && d->fields[0].type == PROTOBUF_C_TYPE_MESSAGE &&
           !strcmp(d->fields[0].name, "mq") && d->fields[1].label != PROTOBUF_C_LABEL_REPEATED;
}

/* A list of messages that RocketMQ keeps as a map keyed by the message's
 * first (string) field, e.g. ConsumerConnection.subscriptionTable
 * (Map<topic, SubscriptionData>): a repeated message field named "...Table"
 * that is not an entry list. */
static bool is_keyed_list(const ProtobufCFieldDescriptor *f)
{
    const ProtobufCMessageDescriptor *d = f->descriptor;
    size_t n = strlen(f->name);
    return n > 5 && !strcmp(f->name + n - 5, "Table") && !json_pb_map_entry(d) && !json_pb_keyed_entry(d) &&
           d->n_fields > 0 && d->fields[0].type == PROTOBUF_C_TYPE_STRING &&
           d->fields[0].label != PROTOBUF_C_LABEL_REPEATED;
}

/* fastjson's key for a Map<MessageQueue, V>: the key object itself. */
static void write_object_key(json_writer *w, const ProtobufCMessage *key)
{
    if (!before_key(w))
        return;
    w->after_key = true; /* lets the key object open where a value would */
    if (key)
        json_message(w, key);
    else
        json_nil(w);
    bytebuf_append(w->out, w->pretty ? ": " : ":", w->pretty ? 2 : 1);
    w->after_key = true;
}

static void write_map_key(json_writer *w, const ProtobufCFieldDescriptor *kf, const void *p)
{
    char num[32];
    switch (kf->type) {
    case PROTOBUF_C_TYPE_STRING: {
        const char *s = *(char *const *)p;
        json_key(w, s ? s : "");
        return;
    }
    case PROTOBUF_C_TYPE_BOOL:
        json_key(w, *(const protobuf_c_boolean *)p ? "true" : "false");
        return;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        snprintf(num, sizeof num, "%lld", (long long)*(const int64_t *)p);
        break;
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        snprintf(num, sizeof num, "%llu", (unsigned long long)*(const uint64_t *)p);
        break;
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        snprintf(num, sizeof num, "%u", *(const uint32_t *)p);
        break;
    default:
        snprintf(num, sizeof num, "%d", *(const int32_t *)p);
        break;
    }
    json_key(w, num);
}

static void write_repeated(json_writer *w, const ProtobufCMessage *msg, const ProtobufCFieldDescriptor *f)
{
    const char *base = (const char *)msg;
    size_t n = *(const size_t *)(base + f->quantifier_offset);
    const char *arr = *(const char *const *)(base + f->offset);
    size_t sz = json_pb_elem_size(f->type);
    if (f->type == PROTOBUF_C_TYPE_MESSAGE && w->fastjson && json_pb_keyed_entry(f->descriptor)) {
        const ProtobufCMessageDescriptor *ed = f->descriptor;
        json_object_begin(w);
        for (size_t i = 0; i < n; i++) {
            const ProtobufCMessage *e = ((const ProtobufCMessage *const *)arr)[i];
            const char *eb = (const char *)e;
            write_object_key(w, *(const ProtobufCMessage *const *)(eb + ed->fields[0].offset));
            if (field_present(e, &ed->fields[1]))
                write_value(w, &ed->fields[1], eb + ed->fields[1].offset);
            else
                json_nil(w);
        }
        json_object_end(w);
        return;
    }
    if (f->type == PROTOBUF_C_TYPE_MESSAGE && w->fastjson && is_keyed_list(f)) {
        const ProtobufCFieldDescriptor *kf = &((const ProtobufCMessageDescriptor *)f->descriptor)->fields[0];
        json_object_begin(w);
        for (size_t i = 0; i < n; i++) {
            const ProtobufCMessage *e = ((const ProtobufCMessage *const *)arr)[i];
            const char *k = *(const char *const *)((const char *)e + kf->offset);
            json_key(w, k ? k : "");
            json_message(w, e);
        }
        json_object_end(w);
        return;
    }
    if (f->type == PROTOBUF_C_TYPE_MESSAGE && json_pb_map_entry(f->descriptor)) {
        const ProtobufCMessageDescriptor *ed = f->descriptor;
        json_object_begin(w);
        for (size_t i = 0; i < n; i++) {
            const ProtobufCMessage *e = ((const ProtobufCMessage *const *)arr)[i];
            const char *eb = (const char *)e;
            write_map_key(w, &ed->fields[0], eb + ed->fields[0].offset);
            if (field_present(e, &ed->fields[1]))
                write_value(w, &ed->fields[1], eb + ed->fields[1].offset);
            else if (ed->fields[1].type == PROTOBUF_C_TYPE_MESSAGE)
                json_nil(w);
            else
                write_value(w, &ed->fields[1], eb + ed->fields[1].offset);
        }
        json_object_end(w);
        return;
    }
    json_array_begin(w);
    for (size_t i = 0; i < n; i++)
        write_value(w, f, arr + i * sz);
    json_array_end(w);
}

void json_message(json_writer *w, const ProtobufCMessage *msg)
{
    const ProtobufCMessageDescriptor *d = msg->descriptor;
    if (json_pb_set_wrapper(d)) {
        write_repeated(w, msg, &d->fields[0]);
        return;
    }
    json_object_begin(w);
    for (unsigned i = 0; i < d->n_fields && !w->error; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            json_key(w, f->name);
            write_repeated(w, msg, f);
        } else if (field_present(msg, f)) {
            json_key(w, f->name);
            write_value(w, f, (const char *)msg + f->offset);
        }
    }
    json_object_end(w);
}

int json_from_message(const ProtobufCMessage *msg, bool pretty, bytebuf *out)
{
    json_writer w;
    json_writer_init(&w, out, pretty);
    json_message(&w, msg);
    return json_writer_finish(&w);
}
