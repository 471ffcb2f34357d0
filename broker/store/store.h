/*
 * store.h - the broker's message store: the only interface the broker's
 * request handlers and services use to put, read, query and index messages.
 *
 * What is behind it (see docs/STORE.md): one append-only CommitLog of
 * memory-mapped segment files holding every message of every topic in
 * RocketMQ's record layout; a ConsumeQueue per (topic, queue) of 20-byte
 * entries built asynchronously by a dispatcher thread; a RocksDB database
 * holding the message-key index and the queue registry;
 * a flush service (async, or sync with group commit); a checkpoint; and a
 * cleaner enforcing retention and disk-space limits.
 *
 * Threads. Every function below may be called from any thread unless its
 * comment says otherwise; none of them blocks on disk I/O unless its comment
 * says "blocks". The store runs its own named threads: store-alloc (creates
 * the next CommitLog segment ahead of time), store-flush and store-flushwd
 * (flush and flush deadlines), store-dispatch (builds ConsumeQueue and index
 * entries), store-ckpt (flushes ConsumeQueues, writes the checkpoint) and
 * store-clean (retention, disk space). Callbacks registered here run on those
 * threads and must be quick and must not call back into blocking store APIs.
 *
 * Memory. Records returned by reads point INTO the mapped CommitLog; they
 * stay valid as long as the store_pin that came with them is held. Release
 * every pin (from any thread) before store_close().
 *
 * Return values: 0 (or a count) on success, a negative STORE_ERR_* or
 * -store_put_status on failure; out-parameters are filled on success.
 */
#ifndef MQ_STORE_H
#define MQ_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "message.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct store store;

/* Longest topic name the store accepts (topics name ConsumeQueue directories). */
#define STORE_TOPIC_MAX 255

/* ---- errors --------------------------------------------------------------- */

enum {
    STORE_ERR_INVALID = -100,  /* bad argument */
    STORE_ERR_NOT_FOUND = -101,
    STORE_ERR_IO = -102,       /* an I/O call failed (see the log / err text) */
    STORE_ERR_LOCKED = -103,   /* another process holds the store's lock file */
    STORE_ERR_CORRUPT = -104,  /* on-disk data that cannot be repaired */
    STORE_ERR_CLOSED = -105,   /* the store is shutting down */
    STORE_ERR_KV = -106,       /* RocksDB returned an error */
    STORE_ERR_FULL = -107,     /* a caller-sized array was too small */
};

/* Text for STORE_ERR_* codes. */
const char *store_strerror(int code);

/* ---- configuration -------------------------------------------------------- */

typedef enum store_flush_disk_type {
    STORE_ASYNC_FLUSH = 0,
    STORE_SYNC_FLUSH = 1,
} store_flush_disk_type;

/* Fault injection at the file layer: every flush (msync/fdatasync) and every
 * file creation of the store goes through these hooks when set, so tests can
 * slow a flush down (sleep in the hook) or fail it (return -EIO) without a
 * special build. Called from store threads; must be thread-safe. */
typedef struct store_io_hooks {
    void *arg;
    /* Before flushing a file; return 0 to go on or a negative errno to fail. */
    int (*before_flush)(void *arg, const char *path);
    /* Before creating a data file of size bytes; same convention. */
    int (*before_create)(void *arg, const char *path, int64_t size);
} store_io_hooks;

/* Queue offsets [from, to) of (topic, queue_id) removed with a segment. */
typedef struct store_lost_range {
    const char *topic;
    int32_t queue_id;
    int64_t from, to;
} store_lost_range;

/* Field names follow RocketMQ's broker.conf keys in snake case
 * (mapedFileSizeCommitLog -> maped_file_size_commit_log). */
typedef struct store_config {
    char store_path_root_dir[512];          /* storePathRootDir ("./store"): lock, abort, checkpoint */
    /* Where the parts live ("" = under the root, RocketMQ's layout): the
     * CommitLog segments (storePathCommitLog, <root>/commitlog), the
     * ConsumeQueue files (storePathConsumeQueue, <root>/consumequeue) and
     * the key-index RocksDB (storePathIndex, <root>/kv). Each may be on
     * another disk; the disk-space guard watches the CommitLog's and the
     * ConsumeQueues' filesystems. */
    char store_path_commit_log[512];
    char store_path_consume_queue[512];
    char store_path_index[512];
    int64_t maped_file_size_commit_log;     /* 1 GiB; >= 64 KiB, multiple of 4 KiB */
    int64_t maped_file_size_consume_queue;  /* 300000 * 20 bytes; multiple of 20 */
    store_flush_disk_type flush_disk_type;  /* ASYNC_FLUSH */
    int32_t flush_interval_commit_log;      /* ms, 500 */
    int32_t flush_commit_log_least_pages;   /* 4 (pages of 4 KiB) */
    int32_t flush_commit_log_thorough_interval; /* ms, 10000 */
    int32_t sync_flush_timeout;             /* ms, 5000 */
    int32_t flush_interval_consume_queue;   /* ms, 1000: CQ flush + checkpoint */
    int32_t max_message_size;               /* 4 MiB: body limit; record limit + 64 KiB */
    int32_t file_reserved_time;             /* hours, 72 */
    char delete_when[64];                   /* "04"; hours separated by ';' */
    int32_t disk_max_used_space_ratio;      /* %, 75: delete expired files at once */
    int32_t disk_space_clean_forcibly_ratio; /* %, 85: delete even unexpired files */
    int32_t disk_space_warning_level_ratio; /* %, 90: refuse writes (DISK_FULL) */
    bool clean_file_forcibly_enable;        /* false (RocketMQ: true); see cleaner.h */
    int32_t clean_resource_interval;        /* ms, 10000: cleaner period */
    int32_t delete_commit_log_files_max;    /* segments deleted per round, 10 */
    bool message_index_enable;              /* true: KEYS and UNIQ_KEY index */
    /* false: every put wakes a sleeping dispatcher at once. true: the caller
     * promises to call store_wake_dispatcher() soon after its puts (the
     * broker does it once per event-loop turn), saving a futex wake per
     * message under load. */
    bool defer_dispatch_wake;
    char message_delay_level[256];          /* "1s 5s 10s 30s 1m ... 2h" */
    msg_host store_host;                    /* brokerIP1:listenPort, in records and ids */

    /* Disk use of the partition holding path (the CommitLog's folder, then
     * the ConsumeQueues' if elsewhere), in percent (0..100), or a negative
     * value on error. NULL = statvfs(). Tests inject a full disk. */
    double (*disk_usage)(void *arg, const char *path);
    void *disk_usage_arg;
    /* Wall clock for retention decisions (file age, deleteWhen hour).
     * NULL = now_ms(). Tests move time forward. */
    int64_t (*clock_ms)(void *arg);
    void *clock_arg;
    store_io_hooks io_hooks;
    /* Called on the store-clean thread after an unexpired CommitLog segment
     * was deleted for space (clean_file_forcibly_enable): for each queue
     * that lost entries, the queue offsets [from, to) that went with it, so
     * the broker can count what each consumer group had not consumed. The
     * arrays are valid during the call only. NULL: none. */
    void (*on_forced_delete)(void *arg, const char *segment, const struct store_lost_range *lost,
                             size_t n);
    void *on_forced_delete_arg;
    /* Replication (broker/ha/): cut the CommitLog at this record boundary
     * while opening (a log that diverged from its new master's, or is ahead
     * of it), with the ConsumeQueues; -1 (store_config_init): no cut.
     * on_truncate is called for each whole record cut, before the cut
     * (single-threaded, inside store_open). */
    int64_t truncate_to;
    void (*on_truncate)(void *arg, const msg_record *r);
    void *on_truncate_arg;
} store_config;

/* Fills c with RocketMQ's defaults (see each field). */
void store_config_init(store_config *c);

/* Parses a messageDelayLevel string ("500ms 1s 5s 1m 2h 1d") into delays in ms.
 * Returns the number of levels (<= cap) or -1 with a bad token. */
int store_delay_levels_parse(const char *spec, int64_t *levels_ms, int cap);

/* ---- open / close --------------------------------------------------------- */

/* Opens (creating if needed) the store under cfg->store_path_root_dir:
 * takes the lock file (a second process gets STORE_ERR_LOCKED), loads and
 * recovers the CommitLog, ConsumeQueues and indexes (fast after a clean stop,
 * tail verification and redo after a crash), and starts the store threads.
 * Blocks for the duration of recovery. On failure returns a negative code and
 * writes a one-line reason into err (errlen bytes). cfg is copied. */
int store_open(const store_config *cfg, store **out, char *err, size_t errlen);

/* Clean shutdown: refuses new puts, lets the dispatcher catch up, flushes
 * everything, writes the checkpoint, removes the abort file and releases the
 * lock. Pending flush waiters are completed (flushed, or FLUSH_DISK_TIMEOUT).
 * Blocks. All pins must have been released. NULL is a no-op. */
void store_close(store *s);

/* ---- put ------------------------------------------------------------------ */

/* RocketMQ's PutMessageStatus (plus DISK_FULL / IO_ERROR, which the broker
 * answers with SERVICE_NOT_AVAILABLE and the store's remark), as one table:
 * X(enum suffix, value, RocketMQ's name, broker response code). The enum,
 * store_put_status_name and the broker's response-code mapping
 * (processor_send.c) are generated from it; the response codes are RS_*
 * names that only the broker expands. */
#define STORE_PUT_STATUS_TABLE(X)                                                     \
    X(OK, 0, "PUT_OK", RS_SUCCESS)                                                    \
    X(FLUSH_DISK_TIMEOUT, 1, "FLUSH_DISK_TIMEOUT", RS_FLUSH_DISK_TIMEOUT)             \
    X(FLUSH_SLAVE_TIMEOUT, 2, "FLUSH_SLAVE_TIMEOUT", RS_FLUSH_SLAVE_TIMEOUT)          \
    X(SLAVE_NOT_AVAILABLE, 3, "SLAVE_NOT_AVAILABLE", RS_SLAVE_NOT_AVAILABLE)          \
    X(SERVICE_NOT_AVAILABLE, 4, "SERVICE_NOT_AVAILABLE", RS_SERVICE_NOT_AVAILABLE)    \
    X(CREATE_MAPPED_FILE_FAILED, 5, "CREATE_MAPEDFILE_FAILED", RS_SYSTEM_ERROR)       \
    X(MESSAGE_ILLEGAL, 6, "MESSAGE_ILLEGAL", RS_MESSAGE_ILLEGAL)                      \
    X(PROPERTIES_SIZE_EXCEEDED, 7, "PROPERTIES_SIZE_EXCEEDED", RS_MESSAGE_ILLEGAL)    \
    X(OS_PAGECACHE_BUSY, 8, "OS_PAGECACHE_BUSY", RS_SYSTEM_BUSY)                      \
    X(DISK_FULL, 9, "DISK_FULL", RS_SERVICE_NOT_AVAILABLE)                            \
    X(IO_ERROR, 10, "IO_ERROR", RS_SERVICE_NOT_AVAILABLE)                             \
    X(UNKNOWN_ERROR, 11, "UNKNOWN_ERROR", RS_SYSTEM_ERROR)
/* FLUSH_SLAVE_TIMEOUT, SLAVE_NOT_AVAILABLE: reserved for replication;
 * SERVICE_NOT_AVAILABLE: store closing; MESSAGE_ILLEGAL: empty or too big,
 * bad topic, bad queue id; OS_PAGECACHE_BUSY: reserved; DISK_FULL: disk use
 * above the warning ratio; IO_ERROR: a flush failed, restart needed. */

#define STORE_PUT_ENUM_(name, value, text, code) STORE_PUT_##name = value,
typedef enum store_put_status { STORE_PUT_STATUS_TABLE(STORE_PUT_ENUM_) } store_put_status;
#undef STORE_PUT_ENUM_

/* RocketMQ's name of a status ("PUT_OK", "FLUSH_DISK_TIMEOUT", ...). */
const char *store_put_status_name(store_put_status st);

typedef struct store_put_result {
    store_put_status status;
    int64_t physical_offset;  /* CommitLog offset of the (first) record */
    int32_t wrote_bytes;      /* bytes of all records written */
    int64_t queue_offset;     /* queue offset of the (first) record */
    int32_t msg_count;        /* records written */
    int64_t store_timestamp;  /* of the (first) record */
    char offset_msg_id[MSG_ID_BUF]; /* of the (first) record */
    char remark[160];         /* why, when status != OK */
} store_put_result;

/* Appends one message. The store is the one authority on what a valid
 * record is (the broker checks only its policy): it refuses with
 * MESSAGE_ILLEGAL / PROPERTIES_SIZE_EXCEEDED and a remark. It computes the
 * body CRC (body_crc is ignored). The caller fills in msg: topic (letters, digits,
 * %|_- ; <= 255 bytes), queue_id (>= 0), body (1..maxMessageSize bytes), flag, sysflag (transaction type,
 * compression; host bits are derived), born_timestamp, born_host,
 * reconsume_times, prepared_transaction_offset, body, properties, and
 * store_timestamp (0 = now, taken inside the append lock; a non-zero value is
 * kept, for re-puts that must keep an earlier store time). Everything else
 * is assigned by the store; msg is not modified and its buffers are copied
 * into the log before return. PREPARED and ROLLBACK transaction types get
 * queue offset 0 and no ConsumeQueue entry. Never blocks on disk I/O: the
 * record is durable only once store_flushed_offset() >= physical_offset +
 * wrote_bytes (see store_wait_flushed). Returns 0 or -res->status. */
int store_put(store *s, const msg_record *msg, store_put_result *res);

/* Appends n messages as consecutive records in one step (one lock, one
 * segment: a batch never straddles a segment), each with its own queue
 * offset. The batch is visible to readers all at once. If phys_offsets is not
 * NULL it receives each record's CommitLog offset (n entries). res describes
 * the first record, wrote_bytes covers all. */
int store_put_batch(store *s, const msg_record *msgs, size_t n, store_put_result *res,
                    int64_t *phys_offsets);

/* store_put_batch for a caller that calls store_flush_now or
 * store_write_deferred before it answers the put or returns to its event
 * loop (the broker's SYNC_FLUSH sends, answered after the loop turn's
 * group commit): the records may stay in the CommitLog's staging buffer
 * until then, so the puts of one loop turn reach the file in one write.
 * Readers, the dispatcher and replication see them only once written. Any
 * other put writes them too, in order, before its own records, and so does
 * store_wait_flushed of an offset not yet written. */
int store_put_batch_deferred(store *s, const msg_record *msgs, size_t n, store_put_result *res,
                             int64_t *phys_offsets);
/* Writes what deferred puts left staged (one pwrite). Any thread. */
void store_write_deferred(store *s);

/* Durability. status is STORE_PUT_OK once the CommitLog is flushed up to the
 * requested offset, or STORE_PUT_FLUSH_DISK_TIMEOUT after sync_flush_timeout
 * ms (or at once after a flush I/O error, or at shutdown). */
typedef void (*store_flush_cb)(void *arg, store_put_status status);

/* Registers cb to run once the CommitLog is durable up to end_offset
 * (physical_offset + wrote_bytes of a put). Non-blocking. cb runs exactly
 * once, on the store-flush or store-flushwd thread (or the thread of a
 * store_flush_now whose flush covers it). Returns 0 when
 * registered, 1 when end_offset is already durable (cb is NOT called), or a
 * negative code (cb not called). Works under both flush types: under
 * ASYNC_FLUSH a registration triggers a flush at once. */
int store_wait_flushed(store *s, int64_t end_offset, store_flush_cb cb, void *arg);

/* Group commit on the caller's thread: writes what deferred puts staged;
 * then, if end_offset is not durable yet, msyncs everything written so far (one msync for every put before the
 * call, whoever made it) and completes the registered waiters it covers.
 * Returns 0 when end_offset is durable, STORE_ERR_IO after a flush error
 * (the store then refuses writes until restart), STORE_ERR_INVALID if
 * end_offset is past the written end. Blocks for the msync and has no
 * timeout: the broker calls it at the end of an event-loop turn for every
 * SYNC_FLUSH send of the turn, as Redis's appendfsync always does, trading
 * a loop stalled by a stuck disk for two thread hand-offs per send. */
int store_flush_now(store *s, int64_t end_offset);

/* Blocks until the CommitLog is durable up to end_offset or the sync flush
 * timeout passes. Returns STORE_PUT_OK or STORE_PUT_FLUSH_DISK_TIMEOUT. For
 * threads that may block (services, tools, tests), never the event loop. */
store_put_status store_wait_flushed_blocking(store *s, int64_t end_offset);

/* Whether a message's properties ask the producer's answer to wait for
 * durability under SYNC_FLUSH: true unless WAIT is "false" (any case). The
 * one parser of WAIT, shared by store_put_wait and the broker's sends. */
bool store_wait_requested(const char *props, size_t plen);

/* store_put (or store_put_batch) and, under SYNC_FLUSH, wait for durability
 * unless the (first) message has property WAIT=false; res->status becomes
 * FLUSH_DISK_TIMEOUT if the wait timed out (the record is stored anyway, as in
 * RocketMQ). Blocks. */
int store_put_wait(store *s, const msg_record *msg, store_put_result *res);
int store_put_batch_wait(store *s, const msg_record *msgs, size_t n, store_put_result *res,
                         int64_t *phys_offsets);

/* Wakes the dispatcher if it sleeps (see defer_dispatch_wake). Any thread;
 * cheap when it is awake. */
void store_wake_dispatcher(store *s);
/* Dispatches what is written on the calling thread instead, when that is
 * at most max_bytes and the dispatcher is not in a round: the ConsumeQueue
 * entries, index entries and arrival notifications of a few small puts
 * cost no thread hand-off (the broker's loop, at the end of a turn with
 * no SYNC_FLUSH commit). Returns true if everything written is
 * dispatched; false: call store_wake_dispatcher. */
bool store_dispatch_inline(store *s, int64_t max_bytes);

/* ---- arrival notifications ---------------------------------------------- */

/* Called on the store-dispatch thread after each dispatch round, once per
 * (topic, queue) that received entries in the round, with the queue's new max
 * offset (next offset to be written). The broker uses it to wake held pulls.
 * Set once before traffic; NULL clears, and once that returns no round
 * is still calling the old listener (it waits for a round in progress). */
typedef void (*store_arrival_cb)(void *arg, const char *topic, int32_t queue_id,
                                 int64_t max_offset);
void store_set_arrival_listener(store *s, store_arrival_cb cb, void *arg);

/* ---- dispatch sinks --------------------------------------------------------- */

/* A consumer of the dispatcher's record stream (see docs/STORE.md,
 * "Dispatch"). The store's own ConsumeQueue and key-index sinks are built
 * in; a service (schedule, timer, transaction) adds its own. Both callbacks
 * run on the store-dispatch thread only (and during recovery's redo, on the
 * thread in store_open, for the built-in sinks).
 *  on_record(arg, r): one record, in CommitLog order; r->physical_offset is
 *    its offset, r->total_size its length, the pointers in r are into the
 *    dispatcher's read buffer and valid during the call only. Returns 0, or < 0 to stop
 *    the round (the dispatcher retries from this record a second later and
 *    the record is handed to every sink again, so it must be idempotent).
 *    Must not block on anything but its own I/O (puts wait for nobody, but
 *    consumers wait for the round).
 *  on_round_end(arg, upto): every record below `upto` has been handed over;
 *    flush per-round work here. Runs before `upto` is published as the
 *    dispatched offset. May be NULL.
 * A sink added after store_open sees the records dispatched from then on
 * (not recovery's redo nor the log before): a service that needs history
 * reads it from the CommitLog itself. */
typedef struct store_sink {
    const char *name;
    void *arg;
    int (*on_record)(void *arg, const msg_record *r);
    int (*on_round_end)(void *arg, int64_t upto);
} store_sink;

/* Appends a sink (copied) after the built-in ones. Call before traffic, from
 * one thread; sinks cannot be removed (they live as long as the store).
 * Returns 0 or STORE_ERR_FULL (at most 6 extra sinks). */
int store_add_sink(store *s, const store_sink *sink);

/* ---- reads ---------------------------------------------------------------- */

/* References to mapped CommitLog segments, keeping them mapped until
 * released. Zero-initialise (or store_pin_init) before first use. */
#define STORE_PIN_MAX 8
typedef struct store_pin {
    struct mapped_file *files[STORE_PIN_MAX];
    int count;
} store_pin;

void store_pin_init(store_pin *pin);
/* Drops every reference held by pin; any thread; idempotent. */
void store_pin_release(store_pin *pin);

/* One stored record: data points into the mapped CommitLog. */
typedef struct store_record_ref {
    const uint8_t *data;
    uint32_t size;
    int64_t queue_offset;
    int64_t physical_offset;
    int64_t tag_code;
} store_record_ref;

/* RocketMQ's GetMessageStatus: X(enum suffix, value, name); the enum and
 * store_get_status_name are generated from this table. */
#define STORE_GET_STATUS_TABLE(X)                                 \
    X(FOUND, 0, "FOUND")                                          \
    X(NO_MATCHED_MESSAGE, 1, "NO_MATCHED_MESSAGE")                \
    X(MESSAGE_WAS_REMOVING, 2, "MESSAGE_WAS_REMOVING")            \
    X(OFFSET_FOUND_NULL, 3, "OFFSET_FOUND_NULL")                  \
    X(OFFSET_OVERFLOW_BADLY, 4, "OFFSET_OVERFLOW_BADLY")          \
    X(OFFSET_OVERFLOW_ONE, 5, "OFFSET_OVERFLOW_ONE")              \
    X(OFFSET_TOO_SMALL, 6, "OFFSET_TOO_SMALL")                    \
    X(NO_MATCHED_LOGIC_QUEUE, 7, "NO_MATCHED_LOGIC_QUEUE")        \
    X(NO_MESSAGE_IN_QUEUE, 8, "NO_MESSAGE_IN_QUEUE")

#define STORE_GET_ENUM_(name, value, text) STORE_GET_##name = value,
typedef enum store_get_status { STORE_GET_STATUS_TABLE(STORE_GET_ENUM_) } store_get_status;
#undef STORE_GET_ENUM_

const char *store_get_status_name(store_get_status st);

/* Filters: return true to keep. cq_filter sees the ConsumeQueue tag code
 * (tag hash, or delivery time for SCHEDULE_TOPIC_XXXX); record_filter the
 * whole record (e.g. SQL92 over properties). Run on the caller's thread. */
typedef bool (*store_cq_filter)(void *arg, int64_t tag_code);
typedef bool (*store_record_filter)(void *arg, const uint8_t *record, uint32_t size);

typedef struct store_get_request {
    const char *topic;
    int32_t queue_id;
    int64_t offset;       /* queue offset to start at */
    int32_t max_count;    /* records wanted (<= capacity of the records array) */
    int32_t max_bytes;    /* 0 = 256 KiB; the first record is always returned */
    store_cq_filter cq_filter;         /* NULL = all */
    store_record_filter record_filter; /* NULL = all */
    void *filter_arg;
} store_get_request;

typedef struct store_get_result {
    store_get_status status;
    int64_t next_begin_offset; /* where the next pull should start */
    int64_t min_offset;        /* queue's min offset */
    int64_t max_offset;        /* queue's max offset (next to be written) */
    int32_t count;             /* records[0..count) are filled */
    int64_t total_bytes;
    store_pin pin;             /* holds records' segments; release after use */
} store_get_result;

/* Reads up to req->max_count records of a queue starting at req->offset into
 * records[] (caller's array of req->max_count entries), skipping filtered-out
 * entries (next_begin_offset steps past them). Never blocks on the writer;
 * may page-fault on cold data. res->pin must be released by the caller (any
 * thread) once the records have been sent. */
int store_get_messages(store *s, const store_get_request *req, store_record_ref *records,
                       store_get_result *res);

/* Reads the record at a CommitLog offset (from an offset msg id or an index
 * query), validating that a record really starts there. The segment is
 * added to pin (STORE_ERR_FULL if the pin is full). */
int store_read_record(store *s, int64_t physical_offset, store_record_ref *out,
                      store_pin *pin);

/* Min and max (next to write) offsets of a queue; 0 and 0 for an unknown
 * queue, as RocketMQ answers. */
void store_queue_offsets(store *s, const char *topic, int32_t queue_id, int64_t *min_offset,
                         int64_t *max_offset);

/* Store timestamp of the record at a queue offset. */
int store_offset_store_time(store *s, const char *topic, int32_t queue_id, int64_t offset,
                            int64_t *store_ms);

/* Store time of the queue's earliest / latest available record. */
int store_earliest_message_time(store *s, const char *topic, int32_t queue_id,
                                int64_t *store_ms);
int store_queue_last_store_time(store *s, const char *topic, int32_t queue_id,
                                int64_t *store_ms);
/* Store time of the first record in the CommitLog. */
int store_commitlog_earliest_time(store *s, int64_t *store_ms);

typedef enum store_boundary {
    STORE_BOUNDARY_LOWER = 0, /* first offset with store time >= ts */
    STORE_BOUNDARY_UPPER = 1, /* last offset with store time <= ts */
} store_boundary;

/* Queue offset by store time (SEARCH_OFFSET_BY_TIMESTAMP, reset by time).
 * LOWER: first offset whose store time >= ts; ts after the last record gives
 * the max offset (nothing to consume), ts before the first gives the min.
 * UPPER: last offset whose store time <= ts; ts before the first record gives
 * the min offset, after the last gives max - 1. An empty or unknown queue
 * gives its max offset (0). Binary search over the ConsumeQueue reading store
 * times from the CommitLog: O(log n) record reads, no write cost. */
int store_search_offset_by_time(store *s, const char *topic, int32_t queue_id, int64_t ts,
                                store_boundary boundary, int64_t *offset);

/* CommitLog offsets: first available byte, end of written data, end of
 * durable data, end of dispatched data (visible in ConsumeQueues). */
int64_t store_commitlog_min_offset(store *s);
int64_t store_commitlog_max_offset(store *s);
int64_t store_flushed_offset(store *s);
int64_t store_dispatched_offset(store *s);

/* Queue ids of a topic (ascending) into ids; returns how many exist (may
 * exceed cap: only cap are written). */
int store_list_queues(store *s, const char *topic, int32_t *ids, int cap);

/* Calls cb for every (topic, queue) with its min/max offsets; return false
 * from cb to stop. Holds a read lock on the queue table meanwhile. */
typedef bool (*store_queue_cb)(void *arg, const char *topic, int32_t queue_id,
                               int64_t min_offset, int64_t max_offset);
void store_foreach_queue(store *s, store_queue_cb cb, void *arg);

/* Deletes a topic's ConsumeQueues and resets its queue offsets (later puts
 * start again at 0). CommitLog records stay until retention removes them. */
int store_delete_topic(store *s, const char *topic);

/* ---- key index ------------------------------------------------------------ */

/* CommitLog offsets of records of topic whose KEYS contain key (or whose
 * UNIQ_KEY equals it), stored within [begin_ms, end_ms], newest first, at
 * most cap. Exact key match (no hash collisions). Returns the count found.
 * Records dispatched a moment ago may not be visible yet. */
int store_query_by_key(store *s, const char *topic, const char *key, int64_t begin_ms,
                       int64_t end_ms, int64_t *phys_offsets, int cap);
/* Same for a unique id (UNIQ_KEY), any store time. */
int store_query_by_uniq_key(store *s, const char *topic, const char *uniq_key,
                            int64_t *phys_offsets, int cap);

/* ---- delay levels --------------------------------------------------------- */

/* Number of configured delay levels (18 by default). */
int store_delay_level_count(store *s);
/* Delivery time of a message stored at store_ms with the given delay level
 * (clamped to [1, count]); what the ConsumeQueue of SCHEDULE_TOPIC_XXXX holds
 * in its tag field. */
int64_t store_deliver_time(store *s, int level, int64_t store_ms);

/* ---- retention and health ------------------------------------------------- */

/* Runs one cleaner round now on the calling thread (disk ratio check, expired
 * / forced CommitLog deletion, ConsumeQueue and index cleanup), using the
 * configured clock and disk-usage functions. Returns the number of CommitLog
 * segments deleted. Blocks (file deletion). */
int store_clean_now(store *s);

/* Deletes expired CommitLog segments now regardless of deleteWhen (as
 * `mqadmin deleteExpiredCommitLog`). Returns segments deleted. Blocks. */
int store_delete_expired_now(store *s);

typedef struct store_stats {
    int64_t put_msgs, put_bytes, put_refused;
    int64_t commitlog_min_offset, commitlog_max_offset;
    int64_t flushed_offset, dispatched_offset, dispatch_lag_bytes;
    int64_t fsync_count;         /* flush rounds that synced something */
    int64_t fsync_msgs;          /* messages made durable by those rounds */
    double msgs_per_fsync;
    int64_t flush_timeouts;      /* waiters answered FLUSH_DISK_TIMEOUT */
    int64_t flush_errors;
    int64_t flush_max_us;        /* slowest flush round */
    bool flush_watchdog_parked;  /* the flush-timeout watchdog sleeps until a waiter comes */
    double disk_used_ratio;      /* last reading, percent */
    bool disk_full;              /* writes refused for space */
    bool io_error;               /* writes refused after a flush error */
    int64_t segments;            /* CommitLog segment files */
    int64_t segments_deleted;
    int64_t queues;              /* ConsumeQueues */
    int64_t index_keys;          /* key index entries written since open */
} store_stats;

void store_get_stats(store *s, store_stats *out);

/* ---- replication (replica.c; used by broker/ha) ---------------------------- */

/* Master: up to max_len committed CommitLog bytes from physical offset
 * `from`, never past the end of from's segment (call again for the next):
 * *data points into the mapped log and stays valid while pin is held (the
 * segment is added to it). Returns the byte count (0: nothing past `from`
 * yet), STORE_ERR_NOT_FOUND below the min offset, STORE_ERR_INVALID past
 * the max offset, STORE_ERR_FULL if the pin is full. Any thread. */
int64_t store_replica_read(store *s, int64_t from, int64_t max_len, const uint8_t **data,
                           store_pin *pin);

/* Slave: appends bytes copied from the master's CommitLog, which start at
 * `offset` = store_commitlog_max_offset() (else STORE_ERR_INVALID; a log
 * never written starts at `offset`, a segment start, when the master's first
 * segments are gone). Every
 * record is checked (magic, size, body CRC, physical offset; STORE_ERR_CORRUPT
 * with a reason in err); whole records are appended and dispatched like puts
 * (ConsumeQueues, indexes). Returns the bytes consumed: a record cut at the
 * end of data is not consumed (pass it again with the rest). One thread at a
 * time, and no puts meanwhile (a slave refuses sends). */
int64_t store_replica_append(store *s, int64_t offset, const uint8_t *data, int64_t len,
                             char *err, size_t errlen);

#ifdef __cplusplus
}
#endif

#endif
