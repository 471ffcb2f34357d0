/*
 * admin_ha.c - mq/admin_ha.h: HA_STATE, HA_PROMOTE and HA_FENCE (our request
 * codes 50010-50012) to one broker, on the admin handle's runtime.
 */
#include "mq/admin_ha.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin_internal.h"
#include "body.pb-c.h"
#include "protocol.h"
#include "util.h"

static int call_state(mq_admin *a, const char *addr, int32_t code, const ProtobufCMessage *body, const char *what,
                      mq_ha_state *out, mq_error *err)
{
    if (!addr || !*addr) {
        mqc_error_set(err, MQ_EINVAL, "%s: a broker address is required", what);
        return MQ_EINVAL;
    }
    size_t len = body ? protobuf_c_message_get_packed_size(body) : 0;
    uint8_t *buf = xmalloc(len ? len : 1);
    if (body)
        protobuf_c_message_pack(body, buf);
    Mq__RemotingHeader h = MQ__REMOTING_HEADER__INIT;
    h.code = code;
    mqc_response r;
    int rc = admin_call(a, addr, &h, buf, len, what, &r, err);
    free(buf);
    if (rc != MQ_OK)
        return rc;
    Mq__HaState *st = (Mq__HaState *)protobuf_c_message_unpack(&mq__ha_state__descriptor, NULL, r.body_len, r.body);
    mqc_response_free(&r);
    if (!st) {
        mqc_error_set(err, MQ_ENETWORK, "%s: undecodable answer", what);
        return MQ_ENETWORK;
    }
    memset(out, 0, sizeof *out);
    str_copy(out->broker_name, sizeof out->broker_name, st->brokername ? st->brokername : "");
    out->broker_id = st->brokerid;
    str_copy(out->role, sizeof out->role, st->role ? st->role : "");
    out->epoch = st->epoch;
    out->max_offset = st->maxoffset;
    out->fenced = st->fenced;
    mq__ha_state__free_unpacked(st, NULL);
    return MQ_OK;
}

int mq_admin_ha_state(mq_admin *a, const char *broker_addr, mq_ha_state *out, mq_error *err)
{
    char what[160];
    snprintf(what, sizeof what, "replication state of %s", broker_addr ? broker_addr : "");
    return call_state(a, broker_addr, RC_HA_STATE, NULL, what, out, err);
}

int mq_admin_ha_promote(mq_admin *a, const char *broker_addr, int64_t epoch, const char *role, mq_ha_state *out,
                        mq_error *err)
{
    Mq__HaPromote p = MQ__HA_PROMOTE__INIT;
    p.epoch = epoch, p.has_epoch = 1;
    p.role = (char *)role;
    char what[160];
    snprintf(what, sizeof what, "promotion of %s", broker_addr ? broker_addr : "");
    return call_state(a, broker_addr, RC_HA_PROMOTE, &p.base, what, out, err);
}

int mq_admin_ha_fence(mq_admin *a, const char *broker_addr, int64_t epoch, const char *master_addr,
                      int64_t slave_id, mq_ha_state *out, mq_error *err)
{
    Mq__HaFence f = MQ__HA_FENCE__INIT;
    f.epoch = epoch, f.has_epoch = 1;
    f.masteraddr = (char *)master_addr;
    f.slavebrokerid = slave_id, f.has_slavebrokerid = slave_id > 0;
    char what[160];
    snprintf(what, sizeof what, "fencing of %s", broker_addr ? broker_addr : "");
    return call_state(a, broker_addr, RC_HA_FENCE, &f.base, what, out, err);
}
