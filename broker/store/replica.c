/*
 * replica.c - the store's side of master/slave replication (store.h,
 * "replication"): the narrow API broker/ha/ uses, and nothing else.
 *
 * Master: store_replica_read hands out committed CommitLog bytes from a
 * physical offset, as a pointer into the mapped segment held by a pin (the
 * HA connection writes them to the socket without copying).
 * Slave: store_replica_append takes bytes copied from the master's log,
 * checks each record (magic, size, body CRC, PHYSICALOFFSET = its offset)
 * or the segment's closing blank marker, and appends the whole records at
 * exactly the end of the local log (cl_append_raw); a record cut by the
 * transfer is left for the next call. The dispatcher then builds
 * ConsumeQueues and indexes from them as from any put, so a slave's queues
 * and offsets are the master's.
 *
 * Threads: any for reads; one thread at a time appends, and never while
 * puts happen (a slave refuses sends). Invariant: a slave's log is a prefix
 * of its master's, byte for byte.
 */
#include <stdio.h>
#include <string.h>

#include "bytes.h"
#include "commitlog.h"
#include "log.h"
#include "store.h"
#include "store_parts.h"
#include "util.h"

int64_t store_replica_read(store *s, int64_t from, int64_t max_len, const uint8_t **data,
                           store_pin *pin)
{
    commitlog *cl = store_read_parts_of(s)->cl;
    int64_t end = cl_max_offset(cl);
    if (from > end || max_len <= 0)
        return STORE_ERR_INVALID;
    if (from < cl_min_offset(cl))
        return STORE_ERR_NOT_FOUND;
    if (from == end)
        return 0;
    if (pin->count == STORE_PIN_MAX)
        return STORE_ERR_FULL;
    mapped_file *f = cl_acquire(cl, from);
    if (!f)
        return STORE_ERR_NOT_FOUND;
    int64_t stop = MQ_MIN(end, f->start + f->size);
    int64_t n = MQ_MIN(stop - from, max_len);
    pin->files[pin->count++] = f;
    *data = f->base + (from - f->start);
    return n;
}

int64_t store_replica_append(store *s, int64_t offset, const uint8_t *data, int64_t len,
                             char *err, size_t errlen)
{
    commitlog *cl = store_read_parts_of(s)->cl;
    int64_t end = cl_max_offset(cl);
    if (end == 0 && offset > 0 && cl_restart_empty_at(cl, offset) == 0) {
        log_info("replica: the empty CommitLog now starts at the master's first offset %lld", (long long)offset);
        end = offset;
    }
    if (offset != end) {
        snprintf(err, errlen, "data at offset %lld but the local CommitLog ends at %lld",
                 (long long)offset, (long long)end);
        return STORE_ERR_INVALID;
    }
    int64_t seg = cl->seg_size;
    int64_t pos = offset, done = 0;
    /* Whole records of one segment at a time. */
    while (done < len) {
        int64_t seg_end = (pos / seg + 1) * seg;
        int64_t take = 0;
        while (done + take < len && pos + take < seg_end) {
            const uint8_t *p = data + done + take;
            int64_t have = len - done - take;
            if (have < 8)
                break;
            uint32_t size = be32_load(p);
            uint32_t magic = be32_load(p + 4);
            if (magic == MSG_MAGIC_BLANK) {
                if ((int64_t)size != seg_end - (pos + take)) {
                    snprintf(err, errlen, "bad end-of-segment marker at offset %lld",
                             (long long)(pos + take));
                    return STORE_ERR_CORRUPT;
                }
            } else if (size == 0 || (int64_t)size > seg_end - (pos + take)) {
                snprintf(err, errlen, "bad record size %u at offset %lld", size,
                         (long long)(pos + take));
                return STORE_ERR_CORRUPT;
            }
            if ((int64_t)size > have)
                break; /* cut by the transfer: wait for the rest */
            if (magic != MSG_MAGIC_BLANK) {
                msg_record r;
                if (cl_check_record(p, size, pos + take, true, &r) != (int)size) {
                    snprintf(err, errlen, "invalid record (magic, CRC or offset) at offset %lld",
                             (long long)(pos + take));
                    return STORE_ERR_CORRUPT;
                }
            }
            take += size;
        }
        if (take == 0)
            break;
        int rc = cl_append_raw(cl, pos, data + done, take);
        if (rc < 0) {
            snprintf(err, errlen, "cannot append %lld bytes at offset %lld: %s", (long long)take,
                     (long long)pos, store_strerror(rc));
            return rc;
        }
        pos += take;
        done += take;
    }
    if (done > 0)
        store_wake_dispatcher(s);
    return done;
}
