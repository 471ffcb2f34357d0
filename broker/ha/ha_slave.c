/*
 * ha_slave.c - the slave side of replication (RocketMQ's HAClient): one
 * thread, ha-slave, that keeps a connection to the master's HA port.
 *
 * Connect (to haMasterAddress, or the HA address the nameserver gave for
 * the group's master), ask for the master's epoch history (handshake: a
 * local log that diverged from it, or is longer, is cut: ha_role.c records
 * the cut and restarts the broker, the store cuts while opening), report
 * the local CommitLog max offset, then read
 * frames: a frame must start exactly where the received data ends (else the
 * connection is dropped and re-established from the local max offset). The
 * bodies collect in `pending` until whole records are there; those are
 * appended (store_replica_append checks each record) and the new max offset
 * is reported. A report also goes out every haSendHeartbeatInterval; a
 * master silent for haHousekeepingInterval is dropped. Reconnects once a
 * second while the master is away.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "addr.h"
#include "bytes.h"
#include "ha_internal.h"
#include "log.h"
#include "util.h"

enum { READ_BUF = 4 << 20, CONNECT_TIMEOUT_MS = 3000 };

int ha_poll_in(ha_service *ha, int fd, int ms)
{
    struct pollfd p[2];
    int n = 0;
    p[n++] = (struct pollfd){.fd = ha->stop_fd, .events = POLLIN};
    if (fd >= 0)
        p[n++] = (struct pollfd){.fd = fd, .events = POLLIN};
    int r = poll(p, (nfds_t)n, ms);
    if (atomic_load(&ha->stop))
        return -1;
    if (r <= 0 || fd < 0)
        return 0;
    return (p[1].revents & (POLLIN | POLLHUP | POLLERR)) ? 1 : 0;
}

static int connect_to(ha_service *ha, const char *addr, char *err, size_t errlen)
{
    struct sockaddr_storage ss;
    socklen_t sl;
    if (addr_resolve(addr, &ss, &sl, err, errlen) != 0)
        return -1;
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        snprintf(err, errlen, "socket: %s", strerror(errno));
        return -1;
    }
    if (connect(fd, (struct sockaddr *)&ss, sl) != 0 && errno != EINPROGRESS) {
        snprintf(err, errlen, "%s", strerror(errno));
        close(fd);
        return -1;
    }
    struct pollfd p[2] = {{.fd = fd, .events = POLLOUT}, {.fd = ha->stop_fd, .events = POLLIN}};
    int n = poll(p, 2, CONNECT_TIMEOUT_MS);
    int soerr = 0;
    socklen_t el = sizeof soerr;
    if (n <= 0 || !(p[0].revents & POLLOUT) || getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &el) != 0 || soerr) {
        snprintf(err, errlen, "%s", n == 0 ? "connect timed out" : strerror(soerr ? soerr : ECONNREFUSED));
        close(fd);
        return -1;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    int rcvbuf = READ_BUF;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    return fd;
}

/* Blocking send of the 8-byte report (tiny; the socket buffer has room). */
static int report(int fd, int64_t offset)
{
    uint8_t b[HA_REPORT_LEN];
    be64_store(b, (uint64_t)offset);
    size_t done = 0;
    while (done < sizeof b) {
        ssize_t w = send(fd, b + done, sizeof b - done, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            struct pollfd p = {.fd = fd, .events = POLLOUT};
            poll(&p, 1, 1000);
            continue;
        }
        if (w <= 0)
            return -1;
        done += (size_t)w;
    }
    return 0;
}

/* The handshake (ours): asks the master for its max offset and epoch
 * history and compares them with the local log. Returns NULL to go on, or
 * why the session ends (a cut is needed: recorded, the broker restarts). */
static const char *handshake(ha_service *ha, int fd, bytebuf *rbuf)
{
    const broker_config *cfg = &ha->b->cfg;
    if (report(fd, HA_EPOCH_QUERY) != 0)
        return "cannot send the epoch query";
    int64_t deadline = mono_ms() + cfg->ha_housekeeping_interval;
    size_t need = HA_HEADER_LEN;
    while (rbuf->len < need) {
        int64_t left = deadline - mono_ms();
        if (left <= 0)
            return "no answer to the epoch query (a master of an older version?)";
        int r = ha_poll_in(ha, fd, (int)MQ_MIN(left, 1000));
        if (r < 0)
            return "broker stopping";
        if (r == 0)
            continue;
        uint8_t *dst = bytebuf_reserve(rbuf, 64 * 1024);
        ssize_t n = recv(fd, dst, 64 * 1024, MSG_DONTWAIT);
        if (n == 0)
            return "closed by the master during the handshake";
        if (n < 0 && errno != EAGAIN && errno != EINTR)
            return strerror(errno);
        if (n > 0)
            rbuf->len += (size_t)n;
        if (rbuf->len >= HA_HEADER_LEN) {
            if ((int64_t)be64_load(rbuf->data) != HA_EPOCH_QUERY)
                return "the master does not answer the epoch query";
            uint32_t size = be32_load(rbuf->data + 8);
            if (size < 8 || (size - 8) % 16 != 0 || (size - 8) / 16 > HA_EPOCH_MAX_ENTRIES)
                return "bad epoch history from the master";
            need = HA_HEADER_LEN + size;
        }
    }
    const uint8_t *body = rbuf->data + HA_HEADER_LEN;
    size_t size = need - HA_HEADER_LEN;
    int64_t mend = (int64_t)be64_load(body);
    ha_history m = {0};
    for (size_t at = 8; at < size; at += 16)
        ha_history_add(&m, (int64_t)be64_load(body + at), (int64_t)be64_load(body + at + 8));
    memmove(rbuf->data, rbuf->data + need, rbuf->len - need);
    rbuf->len -= need;
    const char *why = NULL;
    int64_t lend = store_commitlog_max_offset(ha->s);
    pthread_mutex_lock(&ha->hist_mu);
    int64_t cut = ha_diverge_point(&ha->hist, lend, &m, mend);
    int64_t mine = ha_history_last(&ha->hist), theirs = ha_history_last(&m);
    bool adopt = cut >= lend && !ha_history_equal(&ha->hist, &m);
    if (adopt) {
        ha_history tmp = ha->hist;
        ha->hist = m;
        m = tmp;
        char err[300];
        if (ha_history_save(cfg->store_path_root_dir, &ha->hist, err, sizeof err) != 0) {
            log_error("HA: cannot save the master's epoch history: %s", err);
            why = "cannot save the epoch history";
        }
    }
    pthread_mutex_unlock(&ha->hist_mu);
    ha_history_free(&m);
    if (why)
        return why;
    if (adopt)
        log_info("HA: took the master's epoch history (its epoch %lld, mine was %lld)", (long long)theirs,
                 (long long)mine);
    if (cut < lend) {
        char what[400];
        if (cut == mend)
            snprintf(what, sizeof what,
                     "slave ahead of its master: local CommitLog ends at %lld, the master's (epoch %lld) at %lld",
                     (long long)lend, (long long)theirs, (long long)mend);
        else
            snprintf(what, sizeof what,
                     "local CommitLog (epoch %lld, end %lld) diverges from the master's (epoch %lld, end %lld) "
                     "at offset %lld",
                     (long long)mine, (long long)lend, (long long)theirs, (long long)mend, (long long)cut);
        ha_request_truncation(ha, cut, what);
        return "the local CommitLog must be cut";
    }
    return NULL;
}

/* One connection's life; returns why it ended. */
static const char *session(ha_service *ha, int fd, bytebuf *rbuf, bytebuf *pending)
{
    const broker_config *cfg = &ha->b->cfg;
    bytebuf_clear(rbuf);
    bytebuf_clear(pending);
    const char *hs = handshake(ha, fd, rbuf);
    if (hs)
        return hs;
    int64_t base = store_commitlog_max_offset(ha->s); /* offset of pending's first byte */
    if (report(fd, base) != 0)
        return "cannot send the offset report";
    int64_t reported = base, last_report = mono_ms(), last_data = mono_ms();
    char err[200];
    for (;;) {
        int64_t now = mono_ms();
        int wait = (int)MQ_MAX(0, cfg->ha_send_heartbeat_interval - (now - last_report));
        int r = ha_poll_in(ha, fd, MQ_MIN(wait, 1000));
        if (r < 0)
            return "broker stopping";
        if (r > 0) {
            uint8_t *dst = bytebuf_reserve(rbuf, 256 * 1024);
            ssize_t n = recv(fd, dst, 256 * 1024, MSG_DONTWAIT);
            if (n == 0)
                return "closed by the master";
            if (n < 0 && errno != EAGAIN && errno != EINTR)
                return strerror(errno);
            if (n > 0) {
                rbuf->len += (size_t)n;
                last_data = mono_ms();
                atomic_fetch_add(&ha->bytes_received, (uint64_t)n);
            }
            /* whole frames -> pending */
            size_t at = 0;
            while (rbuf->len - at >= HA_HEADER_LEN) {
                int64_t off = (int64_t)be64_load(rbuf->data + at);
                uint32_t size = be32_load(rbuf->data + at + 8);
                if (size > (uint32_t)cfg->max_frame_size)
                    return "frame larger than maxFrameSize";
                if (rbuf->len - at < HA_HEADER_LEN + size)
                    break;
                int64_t expect = base + (int64_t)pending->len;
                if (off != expect && expect == 0 && off > 0) /* empty slave, master's log starts later */
                    expect = base = off;                     /* (store_replica_append restarts it there) */
                if (off != expect) {
                    log_error("HA: master sent offset %lld, expected %lld: reconnecting", (long long)off,
                              (long long)expect);
                    return "offset mismatch";
                }
                bytebuf_append(pending, rbuf->data + at + HA_HEADER_LEN, size);
                atomic_store(&ha->master_seen, off + (int64_t)size);
                at += HA_HEADER_LEN + size;
            }
            if (at) {
                memmove(rbuf->data, rbuf->data + at, rbuf->len - at);
                rbuf->len -= at;
            }
            if (pending->len) {
                int64_t used = store_replica_append(ha->s, base, pending->data, (int64_t)pending->len, err,
                                                    sizeof err);
                if (used < 0) {
                    log_error("HA: cannot apply the master's data: %s", err);
                    return "bad data from the master";
                }
                if (used) {
                    memmove(pending->data, pending->data + used, pending->len - (size_t)used);
                    pending->len -= (size_t)used;
                    base += used;
                }
            }
        }
        now = mono_ms();
        if (base != reported || now - last_report >= cfg->ha_send_heartbeat_interval) {
            if (report(fd, base) != 0)
                return "cannot send the offset report";
            reported = base;
            last_report = now;
        }
        if (now - last_data > cfg->ha_housekeeping_interval)
            return "master silent for haHousekeepingInterval";
    }
}

static void *slave_main(void *arg)
{
    ha_service *ha = arg;
    log_set_thread_name("ha-slave");
    bytebuf rbuf, pending;
    bytebuf_init(&rbuf);
    bytebuf_init(&pending);
    char last_err[200] = "";
    while (!atomic_load(&ha->stop)) {
        if (atomic_load(&ha->restart_pending)) { /* a cut is recorded: no more data until the restart */
            ha_poll_in(ha, -1, 1000);
            continue;
        }
        char addr[64];
        pthread_mutex_lock(&ha->master_mu);
        str_copy(addr, sizeof addr, ha->master_ha);
        pthread_mutex_unlock(&ha->master_mu);
        if (!addr[0]) {
            ha_poll_in(ha, -1, 1000);
            continue;
        }
        char err[200];
        int fd = connect_to(ha, addr, err, sizeof err);
        if (fd < 0) {
            if (strcmp(err, last_err) != 0) /* one line per new reason */
                log_warn("HA: cannot connect to master %s: %s (retrying every second)", addr, err);
            str_copy(last_err, sizeof last_err, err);
            ha_poll_in(ha, -1, 1000);
            continue;
        }
        last_err[0] = '\0';
        log_info("HA: connected to master %s, reporting offset %lld", addr,
                 (long long)store_commitlog_max_offset(ha->s));
        atomic_store(&ha->connected, true);
        const char *why = session(ha, fd, &rbuf, &pending);
        atomic_store(&ha->connected, false);
        close(fd);
        log_info("HA: disconnected from master %s: %s", addr, why);
        if (!atomic_load(&ha->stop))
            ha_poll_in(ha, -1, 1000);
    }
    bytebuf_free(&rbuf);
    bytebuf_free(&pending);
    return NULL;
}

int ha_slave_start(ha_service *ha, char *err, size_t errlen)
{
    if (ha->b->cfg.ha_master_address[0]) {
        pthread_mutex_lock(&ha->master_mu);
        str_copy(ha->master_ha, sizeof ha->master_ha, ha->b->cfg.ha_master_address);
        pthread_mutex_unlock(&ha->master_mu);
    }
    if (pthread_create(&ha->slave_thread, NULL, slave_main, ha) != 0) {
        snprintf(err, errlen, "cannot start the HA client thread");
        return -1;
    }
    ha->slave_running = true;
    return 0;
}

void ha_slave_stop(ha_service *ha)
{
    if (ha->slave_running) {
        pthread_join(ha->slave_thread, NULL);
        ha->slave_running = false;
    }
}
