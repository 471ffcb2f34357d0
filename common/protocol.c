/*
 * protocol.c - the table of request codes we know, with the typed header
 * each one carries, and the names of response codes, both generated from
 * the code lists in protocol.h (RM_REQUEST_CODES, RM_RESPONSE_CODES). The
 * transport checks a request's header against the table before a handler
 * runs; a JSON header codec uses it to build the typed
 * header from RocketMQ's flat extFields.
 */
#include "protocol.h"

#include <stddef.h>
#include <string.h>

#define EXT_(ext) MQ__REMOTING_HEADER__EXT_##ext
#define CODE_ROW_(name, num, req, resp) {RC_##name, #name, EXT_(req), EXT_(resp)},

static const rm_code_info code_table[] = {RM_REQUEST_CODES(CODE_ROW_)};

#undef CODE_ROW_
#undef EXT_

/* RocketMQ LanguageCode, by value. */
static const char *const language_names[] = {"JAVA", "CPP", "DOTNET", "PYTHON", "DELPHI", "ERLANG", "RUBY",
                                             "OTHER", "HTTP", "GO",  "PHP",    "OMS",    "RUST"};

const char *rm_language_name(int32_t language)
{
    if (language < 0 || (size_t)language >= sizeof language_names / sizeof language_names[0])
        return NULL;
    return language_names[language];
}

int32_t rm_language_code(const char *name)
{
    for (size_t i = 0; i < sizeof language_names / sizeof language_names[0]; i++)
        if (!strcmp(language_names[i], name))
            return (int32_t)i;
    return -1;
}

const rm_code_info *rm_code_lookup(int32_t code)
{
    /* The table is small; a linear scan is cheaper than keeping it sorted by hand. */
    for (size_t i = 0; i < sizeof code_table / sizeof code_table[0]; i++)
        if (code_table[i].code == code)
            return &code_table[i];
    return NULL;
}

const rm_code_info *rm_code_at(int index)
{
    if (index < 0 || (size_t)index >= sizeof code_table / sizeof code_table[0])
        return NULL;
    return &code_table[index];
}

const char *rm_code_name(int32_t code)
{
    const rm_code_info *info = rm_code_lookup(code);
    return info ? info->name : "UNKNOWN";
}

const char *rm_status_name(int32_t status)
{
#define STATUS_CASE_(name, num) \
    case num: return #name;
    switch (status) {
        RM_RESPONSE_CODES(STATUS_CASE_)
    default: return "UNKNOWN";
    }
#undef STATUS_CASE_
}

const ProtobufCMessage *rm_header_ext(const Mq__RemotingHeader *h)
{
    if (!h || h->ext_case == MQ__REMOTING_HEADER__EXT__NOT_SET)
        return NULL;
    const ProtobufCFieldDescriptor *fd =
        protobuf_c_message_descriptor_get_field(&mq__remoting_header__descriptor, (unsigned)h->ext_case);
    if (!fd)
        return NULL;
    return *(const ProtobufCMessage *const *)((const char *)h + fd->offset);
}
