/*
 * message.h - RocketMQ's message formats, shared by the broker's store and the
 * client library: the CommitLog record (byte for byte as RocketMQ writes it),
 * the property string, tag and index-key hashes (Java String.hashCode), the
 * two kinds of message id, and the batch body of SEND_BATCH_MESSAGE.
 *
 * Everything here is pure (no I/O, no global state) except the unique-id
 * generator, which keeps one process-wide counter like RocketMQ's
 * MessageClientIDSetter. All integers on disk and on the wire are big-endian.
 *
 * A msg_record is both the input of msg_encode() and the output of
 * msg_decode(): after decoding, its pointers (topic, body, properties) point
 * INTO the decoded buffer, so the record must outlive the view. Nothing is
 * allocated or copied by the decoder.
 *
 * Record layout (IPv4 hosts; an IPv6 host field is 20 bytes instead of 8):
 *   0 TOTALSIZE 4 | 4 MAGIC 4 | 8 BODYCRC 4 | 12 QUEUEID 4 | 16 FLAG 4 |
 *  20 QUEUEOFFSET 8 | 28 PHYSICALOFFSET 8 | 36 SYSFLAG 4 | 40 BORNTIMESTAMP 8 |
 *  48 BORNHOST 8 | 56 STORETIMESTAMP 8 | 64 STOREHOST 8 | 72 RECONSUMETIMES 4 |
 *  76 PREPAREDTRANSACTIONOFFSET 8 | 84 BODYLEN 4 + body | TOPICLEN 1 (V1) or
 *  2 (V2) + topic | PROPLEN 2 + properties
 */
#ifndef MQ_MESSAGE_H
#define MQ_MESSAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bytes.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- magic codes and sizes ---------------------------------------------- */

#define MSG_MAGIC_V1 0xDAA320A7u    /* 1-byte topic length */
#define MSG_MAGIC_V2 0xDAA320ABu    /* 2-byte topic length (topic > 127 bytes) */
#define MSG_MAGIC_BLANK 0xCBD43194u /* end-of-file marker of a CommitLog segment */
#define MSG_BLANK_LEN 8             /* TOTALSIZE + MAGIC of the end-of-file marker */

#define MSG_FIXED_LEN_V4 88 /* fixed part with IPv4 born and store hosts */
#define MSG_TOPIC_MAX_V1 127
#define MSG_PROPERTIES_MAX 32767

/* Offsets of fixed fields that never move (they precede the host fields). */
#define MSG_POS_TOTALSIZE 0
#define MSG_POS_MAGIC 4
#define MSG_POS_BODYCRC 8
#define MSG_POS_QUEUEID 12
#define MSG_POS_FLAG 16
#define MSG_POS_QUEUEOFFSET 20
#define MSG_POS_PHYSICALOFFSET 28
#define MSG_POS_SYSFLAG 36
#define MSG_POS_BORNTIMESTAMP 40
#define MSG_POS_BORNHOST 48

/* ---- sysflag bits (RocketMQ MessageSysFlag) ------------------------------ */

#define MSG_SYSFLAG_COMPRESSED 0x1
#define MSG_SYSFLAG_MULTI_TAGS 0x2
#define MSG_SYSFLAG_TX_NOT 0x0
#define MSG_SYSFLAG_TX_PREPARED 0x4
#define MSG_SYSFLAG_TX_COMMIT 0x8
#define MSG_SYSFLAG_TX_ROLLBACK 0xC
#define MSG_SYSFLAG_TX_MASK 0xC
#define MSG_SYSFLAG_BORNHOST_V6 0x10
#define MSG_SYSFLAG_STOREHOST_V6 0x20
#define MSG_SYSFLAG_NEED_UNWRAP 0x40
#define MSG_SYSFLAG_INNER_BATCH 0x80
#define MSG_SYSFLAG_COMPRESSION_MASK 0x700 /* 1 LZ4, 2 ZSTD, 3 ZLIB (5.x) */

static inline int32_t msg_tx_type(int32_t sysflag) { return sysflag & MSG_SYSFLAG_TX_MASK; }

/* ---- property names (RocketMQ MessageConst) ------------------------------ */

#define MSG_PROP_KEYS "KEYS"
#define MSG_PROP_TAGS "TAGS"
#define MSG_PROP_WAIT "WAIT"
#define MSG_PROP_DELAY "DELAY"
#define MSG_PROP_RETRY_TOPIC "RETRY_TOPIC"
#define MSG_PROP_REAL_TOPIC "REAL_TOPIC"
#define MSG_PROP_REAL_QID "REAL_QID"
#define MSG_PROP_TRAN_MSG "TRAN_MSG"
#define MSG_PROP_PGROUP "PGROUP"
#define MSG_PROP_MIN_OFFSET "MIN_OFFSET"
#define MSG_PROP_MAX_OFFSET "MAX_OFFSET"
#define MSG_PROP_BUYER_ID "BUYER_ID"
#define MSG_PROP_ORIGIN_MESSAGE_ID "ORIGIN_MESSAGE_ID"
#define MSG_PROP_TRANSFER_FLAG "TRANSFER_FLAG"
#define MSG_PROP_CORRECTION_FLAG "CORRECTION_FLAG"
#define MSG_PROP_MQ2_FLAG "MQ2_FLAG"
#define MSG_PROP_RECONSUME_TIME "RECONSUME_TIME"
#define MSG_PROP_MSG_REGION "MSG_REGION"
#define MSG_PROP_TRACE_SWITCH "TRACE_ON"
#define MSG_PROP_UNIQ_KEY "UNIQ_KEY"
#define MSG_PROP_MAX_RECONSUME_TIMES "MAX_RECONSUME_TIMES"
#define MSG_PROP_CONSUME_START_TIME "CONSUME_START_TIME"
#define MSG_PROP_CHECK_IMMUNITY_TIME "CHECK_IMMUNITY_TIME_IN_SECONDS"
#define MSG_PROP_TRAN_PREPARED_QUEUE_OFFSET "TRAN_PREPARED_QUEUE_OFFSET"
#define MSG_PROP_TRANSACTION_CHECK_TIMES "TRANSACTION_CHECK_TIMES"
#define MSG_PROP_TRANSACTION_ID "__transactionId__"
#define MSG_PROP_INSTANCE_ID "INSTANCE_ID"
#define MSG_PROP_CORRELATION_ID "CORRELATION_ID"
#define MSG_PROP_REPLY_TO_CLIENT "REPLY_TO_CLIENT"
#define MSG_PROP_MESSAGE_TTL "TTL"
#define MSG_PROP_CLUSTER "CLUSTER"
#define MSG_PROP_MSG_TYPE "MSG_TYPE"
#define MSG_PROP_SHARDING_KEY "__SHARDINGKEY"
#define MSG_PROP_TIMER_DELIVER_MS "TIMER_DELIVER_MS"
#define MSG_PROP_TIMER_DELAY_SEC "TIMER_DELAY_SEC"
#define MSG_PROP_TIMER_DELAY_MS "TIMER_DELAY_MS"
#define MSG_PROP_TIMER_OUT_MS "TIMER_OUT_MS"
#define MSG_PROP_TIMER_ENQUEUE_MS "TIMER_ENQUEUE_MS"
#define MSG_PROP_TIMER_DEQUEUE_MS "TIMER_DEQUEUE_MS"
#define MSG_PROP_TIMER_ROLL_TIMES "TIMER_ROLL_TIMES"
#define MSG_PROP_TIMER_DEL_UNIQKEY "TIMER_DEL_UNIQKEY"
#define MSG_PROP_DLQ_ORIGIN_TOPIC "DLQ_ORIGIN_TOPIC"
#define MSG_PROP_DLQ_ORIGIN_MESSAGE_ID "DLQ_ORIGIN_MESSAGE_ID"
#define MSG_PROP_INNER_NUM "INNER_NUM"
#define MSG_PROP_INNER_BASE "INNER_BASE"

#define MSG_NAME_VALUE_SEPARATOR '\x01'
#define MSG_PROPERTY_SEPARATOR '\x02'
#define MSG_KEY_SEPARATOR ' '

/* System topics the store knows about. */
#define MSG_TOPIC_SCHEDULE "SCHEDULE_TOPIC_XXXX"
#define MSG_TOPIC_TRANS_HALF "RMQ_SYS_TRANS_HALF_TOPIC"
#define MSG_TOPIC_TRANS_OP_HALF "RMQ_SYS_TRANS_OP_HALF_TOPIC"

/* ---- records -------------------------------------------------------------- */

/* A born or store host: IPv4 (4 address bytes used) or IPv6 (16). */
typedef struct msg_host {
    uint8_t addr[16];
    int32_t port;
    bool ipv6;
} msg_host;

/* Fills *h from a numeric address ("10.0.0.1", "::1") and a port.
 * Returns 0, or -1 if the address does not parse. */
int msg_host_set(msg_host *h, const char *ip, int32_t port);
/* Writes "ip:port" (IPv6 as "[addr]:port") into out; returns its length. */
int msg_host_format(const msg_host *h, char *out, size_t cap);

/* Every field of a CommitLog record. As decoder output the pointers refer
 * into the decoded bytes; as encoder input they refer to the caller's data.
 * sysflag's host bits are derived from born_host/store_host on encode. */
typedef struct msg_record {
    uint32_t total_size; /* decode only; encode computes it */
    uint32_t magic;      /* decode only; encode picks V1 or V2 */
    uint32_t body_crc;   /* encode writes it as given (see msg_body_crc) */
    int32_t queue_id;
    int32_t flag;
    int64_t queue_offset;
    int64_t physical_offset;
    int32_t sysflag;
    int64_t born_timestamp;
    msg_host born_host;
    int64_t store_timestamp;
    msg_host store_host;
    int32_t reconsume_times;
    int64_t prepared_transaction_offset;
    const uint8_t *body;
    uint32_t body_len;
    const char *topic;
    uint32_t topic_len;
    const char *properties;
    uint32_t properties_len;
} msg_record;

/* Decoder / encoder results, one list: the MSG_ enum and msg_strerror's
 * texts come from it. Columns: name, value, text. */
#define MSG_RESULTS(X) \
    X(OK, 0, "ok") \
    X(BLANK, 1, "end-of-file blank marker") /* total_size = bytes it covers */ \
    X(ERR_TRUNCATED, -1, "record truncated") /* buffer shorter than the record says */ \
    X(ERR_MAGIC, -2, "bad magic code") \
    X(ERR_LENGTH, -3, "inconsistent record lengths") /* inner lengths vs TOTALSIZE */ \
    X(ERR_CRC, -4, "body CRC mismatch") \
    X(ERR_TOO_LARGE, -5, "field too large for the record format") \
    X(ERR_NO_SPACE, -6, "destination buffer too small") \
    X(ERR_INVALID, -7, "invalid argument") /* e.g. separator inside a key */

#define MSG_RESULT_ENUM_(name, value, text) MSG_##name = value,
enum { MSG_RESULTS(MSG_RESULT_ENUM_) };
#undef MSG_RESULT_ENUM_

/* Human-readable text of a MSG_* code. */
const char *msg_strerror(int code);

/* RocketMQ body CRC: CRC-32 (zlib's polynomial, common/crc.h) of the body, top bit cleared. */
uint32_t msg_body_crc(const void *body, size_t len);

/* Byte size of r encoded (depends on host families and lengths only). */
size_t msg_record_size(const msg_record *r);

/* Encodes r into dst (cap bytes). Returns the record size, or MSG_ERR_NO_SPACE /
 * MSG_ERR_TOO_LARGE (topic > 32767, properties > 32767). TOTALSIZE is written
 * last, after a compiler barrier, so a process killed in the middle of
 * encoding into a mapped file leaves TOTALSIZE zero, which recovery treats as
 * the end of the log. */
int msg_encode(const msg_record *r, void *dst, size_t cap);

/* Decodes the record at buf (len bytes available). Returns MSG_OK with *out
 * filled, MSG_BLANK for an end-of-file marker, or a negative MSG_ERR_*.
 * verify_crc also checks the body CRC. Never reads past buf + len. */
int msg_decode(const void *buf, size_t len, bool verify_crc, msg_record *out);

/* Reads only the store timestamp of a complete record (any host families). */
int64_t msg_peek_store_timestamp(const void *record);
/* Offset of STORETIMESTAMP inside a record with the given sysflag. */
size_t msg_store_timestamp_pos(int32_t sysflag);

/* Writes the 8-byte end-of-file marker covering blank_len bytes. */
void msg_encode_blank(void *dst, uint32_t blank_len);

/* ---- properties ----------------------------------------------------------- */

/* Finds key in a property string; sets *val and *vlen (not NUL-terminated).
 * Accepts strings with and without a trailing separator. */
bool msg_prop_get(const char *props, size_t len, const char *key, const char **val,
                  size_t *vlen);

/* Iterates key/value pairs: for (size_t it = 0; msg_prop_next(p, n, &it, ...);) */
bool msg_prop_next(const char *props, size_t len, size_t *it, const char **key, size_t *klen,
                   const char **val, size_t *vlen);

/* Appends key=value to a property string under construction in b, separated
 * from earlier pairs by \x02 (no trailing separator, like RocketMQ 4.9).
 * Returns MSG_ERR_INVALID if key or value contains \x01 or \x02 or the key
 * is empty. Does not check for an existing key (use msg_prop_set). */
int msg_prop_append(bytebuf *b, const char *key, const char *value);
int msg_prop_appendn(bytebuf *b, const char *key, size_t klen, const char *value, size_t vlen);

/* Removes every pair named key from the string in b (in place). Returns the
 * number of pairs removed. */
int msg_prop_remove(bytebuf *b, const char *key);

/* Replaces (or adds) key=value in b. */
int msg_prop_set(bytebuf *b, const char *key, const char *value);

/* ---- hashes --------------------------------------------------------------- */

/* Java String.hashCode of a UTF-8 string, computed over its UTF-16 code units
 * (astral characters count as surrogate pairs; malformed bytes as U+FFFD). */
int32_t msg_java_hash(const char *utf8, size_t len);
/* Continues a Java hash over more UTF-8 bytes (h starts at 0). */
int32_t msg_java_hash_update(int32_t h, const char *utf8, size_t len);

/* ConsumeQueue tag code: hash of the TAGS value sign-extended; 0 without tag. */
int64_t msg_tag_hash(const char *tags, size_t len);

/* IndexFile key hash of topic + "#" + key: |hashCode|, and 0 where Java's
 * Math.abs overflows (Integer.MIN_VALUE). */
int32_t msg_index_key_hash(const char *topic, size_t tlen, const char *key, size_t klen);

/* ---- message ids ---------------------------------------------------------- */

#define MSG_OFFSET_ID_LEN_V4 32
#define MSG_OFFSET_ID_LEN_V6 56
#define MSG_ID_BUF 57 /* room for the longest id plus NUL */

/* Offset message id: store host address + port (int32) + CommitLog offset,
 * uppercase hex. Writes a NUL-terminated id into out (cap >= 57 always
 * enough); returns its length or MSG_ERR_NO_SPACE. */
int msg_offset_id_encode(const msg_host *store_host, int64_t offset, char *out, size_t cap);
/* Parses a 32- or 56-char offset id (either case). Returns 0 or MSG_ERR_INVALID. */
int msg_offset_id_decode(const char *id, size_t len, msg_host *host, int64_t *offset);

/* Unique client id generator (RocketMQ MessageClientIDSetter): fixed prefix
 * ip (4 or 16 bytes) + pid low 16 bits + a per-process 4-byte hash, then
 * milliseconds since the start of the current month (local time, int32) and
 * a 16-bit counter. 32 hex chars for IPv4, 56 for IPv6. */
typedef struct msg_uniq_gen {
    char prefix[45];          /* hex of ip + pid + hash */
    size_t prefix_len;
    int64_t month_start_ms;   /* guarded by the generator's lock */
    int64_t next_month_ms;
    uint32_t counter;         /* atomic */
    int lock;                 /* spin lock word for month roll-over */
} msg_uniq_gen;

/* Sets up a generator with explicit identity (tests, or a caller that knows
 * its address). ip_len is 4 or 16. */
void msg_uniq_gen_init(msg_uniq_gen *g, const uint8_t *ip, size_t ip_len, uint16_t pid,
                       uint32_t hash);
/* Writes the next id for wall time now_ms into out (cap >= 57). Thread-safe.
 * Returns the id length. */
int msg_uniq_gen_next(msg_uniq_gen *g, int64_t now_ms, char *out, size_t cap);
/* The process-wide generator (first non-loopback IPv4 of the host, the pid,
 * a random hash), initialised on first use; thread-safe. */
int msg_uniq_id_new(char *out, size_t cap);
/* Decodes the address and the approximate creation time (ms) from a unique
 * id made in the current or the previous month relative to now. */
int msg_uniq_id_decode(const char *id, size_t len, msg_host *ip, int64_t now, int64_t *born_ms);

/* ---- batch body (SEND_BATCH_MESSAGE) -------------------------------------- */

/* One message inside a batch body: TOTALSIZE(4) MAGIC(4, 0) BODYCRC(4, 0)
 * FLAG(4) BODYLEN(4)+body PROPLEN(2)+properties. */
typedef struct msg_batch_item {
    int32_t flag;
    const uint8_t *body;
    uint32_t body_len;
    const char *properties;
    uint32_t properties_len;
} msg_batch_item;

#define MSG_BATCH_ITEM_FIXED 22

/* Appends the batch encoding of items to out. Returns 0 or MSG_ERR_TOO_LARGE. */
int msg_batch_encode(bytebuf *out, const msg_batch_item *items, size_t n);

typedef struct msg_batch_iter {
    const uint8_t *p;
    const uint8_t *end;
} msg_batch_iter;

void msg_batch_iter_init(msg_batch_iter *it, const void *buf, size_t len);
/* Returns 1 with *out filled (pointers into the buffer), 0 at the clean end,
 * or a negative MSG_ERR_* for malformed input (the iterator then stays at the
 * bad item). */
int msg_batch_next(msg_batch_iter *it, msg_batch_item *out);

#ifdef __cplusplus
}
#endif

#endif
