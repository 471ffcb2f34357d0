/*
 * ha_master.c - the master side of replication (RocketMQ's AcceptSocketService
 * and HAConnection): a listener thread and one thread per slave.
 *
 * ha-accept: accepts slaves on haListenPort and reaps finished connection
 * threads. ha-conn (one per slave): waits for the slave's first offset
 * report, then streams the CommitLog from there: a 12-byte header and up to
 * haTransferBatchSize bytes written straight from the mapped segment (the
 * pin keeps it mapped until written), an empty frame every
 * haSendHeartbeatInterval when idle. It wakes on new data (eventfd poked by
 * ha_master_notify), on the slave's reports (which it records as acks) and
 * once a second. A connection silent for haHousekeepingInterval is dropped.
 *
 * Handshake (ours): a slave's first report may be HA_EPOCH_QUERY instead of
 * an offset; it is answered with one frame holding this master's max offset
 * and epoch history (send_epochs), from which the slave decides whether its
 * log must be cut (ha_slave.c) before it reports its real offset.
 *
 * Invariant: an ack counts (ha_on_ack) only if it is a report the master can
 * vouch for: at most its own max offset. A slave ahead of its master that
 * skipped the handshake is refused, never counted for SYNC_MASTER.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "addr.h"
#include "bytes.h"
#include "ha_internal.h"
#include "log.h"
#include "util.h"

static void drain_fd(int fd)
{
    uint64_t v;
    while (read(fd, &v, sizeof v) > 0) {
    }
}

void ha_master_notify(ha_service *ha)
{
    pthread_mutex_lock(&ha->conns_mu);
    for (ha_conn *c = ha->conns; c; c = c->next) {
        if (!atomic_exchange(&c->wake_pending, true)) {
            uint64_t one = 1;
            ssize_t w = write(c->wake_fd, &one, sizeof one);
            (void)w;
        }
    }
    pthread_mutex_unlock(&ha->conns_mu);
}

int ha_master_slaves(ha_service *ha, int64_t *best_ack, char *list, size_t cap)
{
    int n = 0;
    size_t used = 0;
    *best_ack = -1;
    if (cap)
        list[0] = '\0';
    pthread_mutex_lock(&ha->conns_mu);
    for (ha_conn *c = ha->conns; c; c = c->next) {
        if (atomic_load(&c->done))
            continue;
        int64_t a = atomic_load(&c->acked);
        n++;
        if (a > *best_ack)
            *best_ack = a;
        if (used < cap) {
            int k = snprintf(list + used, cap - used, "%s%s:%lld", used ? ";" : "", c->peer, (long long)a);
            used += k > 0 ? (size_t)k : 0;
        }
    }
    pthread_mutex_unlock(&ha->conns_mu);
    return n;
}

/* ---- one slave ---- */

typedef struct conn_io {
    uint8_t header[HA_HEADER_LEN];
    const uint8_t *data;
    int64_t len;          /* body bytes of the frame in flight */
    int64_t sent;         /* of header + body */
    bool active;
    store_pin pin;
} conn_io;

/* Writes what it can of the frame in flight; returns 1 done, 0 would block,
 * -1 error. */
static int write_frame(ha_conn *c, conn_io *io)
{
    while (io->sent < HA_HEADER_LEN + io->len) {
        struct iovec iov[2];
        int n = 0;
        if (io->sent < HA_HEADER_LEN) {
            iov[n].iov_base = io->header + io->sent;
            iov[n].iov_len = (size_t)(HA_HEADER_LEN - io->sent);
            n++;
            if (io->len > 0) {
                iov[n].iov_base = (void *)io->data;
                iov[n].iov_len = (size_t)io->len;
                n++;
            }
        } else {
            int64_t off = io->sent - HA_HEADER_LEN;
            iov[n].iov_base = (void *)(io->data + off);
            iov[n].iov_len = (size_t)(io->len - off);
            n++;
        }
        struct msghdr mh = {.msg_iov = iov, .msg_iovlen = (size_t)n};
        ssize_t w = sendmsg(c->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return 0;
            return -1;
        }
        io->sent += w;
    }
    return 1;
}

/* Answers the handshake's HA_EPOCH_QUERY: one frame (offset HA_EPOCH_QUERY)
 * with this master's max offset and epoch history. Before any data, so the
 * socket buffer is empty: a short blocking write. */
static int send_epochs(ha_conn *c)
{
    ha_service *ha = c->ha;
    pthread_mutex_lock(&ha->hist_mu);
    size_t n = ha->hist.n;
    size_t len = HA_HEADER_LEN + 8 + 16 * n;
    uint8_t *buf = xmalloc(len);
    int64_t max = store_commitlog_max_offset(ha->s); /* after the history: a promotion's epoch start <= it */
    be64_store(buf, (uint64_t)HA_EPOCH_QUERY);
    be32_store(buf + 8, (uint32_t)(8 + 16 * n));
    be64_store(buf + HA_HEADER_LEN, (uint64_t)max);
    for (size_t i = 0; i < n; i++) {
        be64_store(buf + HA_HEADER_LEN + 8 + 16 * i, (uint64_t)ha->hist.e[i].epoch);
        be64_store(buf + HA_HEADER_LEN + 16 + 16 * i, (uint64_t)ha->hist.e[i].start);
    }
    pthread_mutex_unlock(&ha->hist_mu);
    size_t done = 0;
    int64_t deadline = mono_ms() + 5000;
    while (done < len && mono_ms() < deadline) {
        ssize_t w = send(c->fd, buf + done, len - done, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w > 0) {
            done += (size_t)w;
            continue;
        }
        if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
            break;
        struct pollfd p = {.fd = c->fd, .events = POLLOUT};
        poll(&p, 1, 200);
    }
    free(buf);
    if (done == len)
        log_info("HA: slave %s asked for the epoch history: %zu epochs, max offset %lld", c->peer, n, (long long)max);
    return done == len ? 0 : -1;
}

static void *conn_main(void *arg)
{
    ha_conn *c = arg;
    ha_service *ha = c->ha;
    const broker_config *cfg = &ha->b->cfg;
    log_set_thread_name("ha-conn");
    log_info("HA: slave %s connected", c->peer);
    uint8_t rbuf[4096];
    size_t rlen = 0;
    int64_t next = -1; /* next CommitLog offset to send, -1 until the first report */
    int64_t last_read = mono_ms(), last_write = mono_ms();
    conn_io io = {0};
    store_pin_init(&io.pin);
    const char *why = "closed by the slave";
    while (!atomic_load(&ha->stop)) {
        /* 1. produce and write frames until the socket would block (or a
         * burst is out: then look at the slave's reports before going on) */
        int frames = 0;
        bool more = false;
        for (;; frames++) {
            if (frames == 64) {
                more = true;
                break;
            }
            if (!io.active && next >= 0) {
                store_pin_release(&io.pin);
                const uint8_t *data = NULL;
                int64_t n = store_replica_read(ha->s, next, cfg->ha_transfer_batch_size, &data, &io.pin);
                if (n < 0) {
                    why = n == STORE_ERR_NOT_FOUND ? "the slave's offset is below the master's retained CommitLog"
                                                   : "cannot read the CommitLog";
                    goto out;
                }
                if (n == 0 && mono_ms() - last_write < cfg->ha_send_heartbeat_interval)
                    break;
                be64_store(io.header, (uint64_t)next);
                be32_store(io.header + 8, (uint32_t)n);
                io.data = data;
                io.len = n;
                io.sent = 0;
                io.active = true;
            }
            if (!io.active)
                break;
            int w = write_frame(c, &io);
            if (w < 0) {
                why = "write failed";
                goto out;
            }
            if (w == 0)
                break;
            next += io.len;
            io.active = false;
            last_write = mono_ms();
        }
        if (!io.active) /* a frame in flight keeps its segment pinned */
            store_pin_release(&io.pin);
        /* 2. wait for input, room to write, new data or a tick */
        struct pollfd p[3] = {
            {.fd = c->fd, .events = (short)(POLLIN | (io.active ? POLLOUT : 0))},
            {.fd = c->wake_fd, .events = POLLIN},
            {.fd = ha->stop_fd, .events = POLLIN},
        };
        int pr = poll(p, 3, more ? 0 : 1000);
        if (pr < 0 && errno != EINTR) {
            why = "poll failed";
            goto out;
        }
        if (p[1].revents & POLLIN) { /* drain, then re-arm: a poke after the drain writes again */
            drain_fd(c->wake_fd);
            atomic_store(&c->wake_pending, false);
        }
        if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
            ssize_t r = recv(c->fd, rbuf + rlen, sizeof rbuf - rlen, MSG_DONTWAIT);
            if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
                goto out;
            }
            if (r > 0) {
                rlen += (size_t)r;
                last_read = mono_ms();
                /* RocketMQ reads the last complete report only */
                size_t whole = rlen - rlen % HA_REPORT_LEN;
                if (whole) {
                    int64_t off = (int64_t)be64_load(rbuf + whole - HA_REPORT_LEN);
                    memmove(rbuf, rbuf + whole, rlen - whole);
                    rlen -= whole;
                    int64_t max = store_commitlog_max_offset(ha->s);
                    if (off == HA_EPOCH_QUERY) {
                        if (next >= 0) {
                            why = "epoch query after the transfer started";
                            goto out;
                        }
                        if (send_epochs(c) != 0) {
                            why = "cannot send the epoch history";
                            goto out;
                        }
                        continue;
                    }
                    if (off < 0 || off > max) {
                        log_error("HA: slave %s reports offset %lld past this master's CommitLog end %lld "
                                  "(the master lost an unflushed tail?); refusing it: its store must be "
                                  "rebuilt or the master's tail recovered",
                                  c->peer, (long long)off, (long long)max);
                        why = "slave ahead of master";
                        goto out;
                    }
                    if (next < 0) {
                        int64_t min = store_commitlog_min_offset(ha->s);
                        next = off == 0 && min > 0 ? min : off;
                        log_info("HA: slave %s starts at offset %lld (master at %lld)", c->peer,
                                 (long long)next, (long long)max);
                    }
                    atomic_store(&c->acked, off);
                    ha_on_ack(ha, off);
                }
            }
        }
        if (mono_ms() - last_read > ha->b->cfg.ha_housekeeping_interval) {
            why = "no report within haHousekeepingInterval";
            goto out;
        }
    }
    why = "broker stopping";
out:
    store_pin_release(&io.pin);
    log_info("HA: slave %s disconnected: %s", c->peer, why);
    close(c->fd);
    c->fd = -1;
    atomic_store(&c->done, true);
    return NULL;
}

/* ---- listener ---- */

static void reap(ha_service *ha, bool all)
{
    pthread_mutex_lock(&ha->conns_mu);
    ha_conn **link = &ha->conns;
    ha_conn *dead = NULL;
    while (*link) {
        ha_conn *c = *link;
        if (all || atomic_load(&c->done)) {
            *link = c->next;
            c->next = dead;
            dead = c;
        } else {
            link = &c->next;
        }
    }
    pthread_mutex_unlock(&ha->conns_mu);
    while (dead) {
        ha_conn *c = dead;
        dead = c->next;
        pthread_join(c->thread, NULL);
        close(c->wake_fd);
        free(c);
    }
}

static void *accept_main(void *arg)
{
    ha_service *ha = arg;
    log_set_thread_name("ha-accept");
    while (!atomic_load(&ha->stop)) {
        struct pollfd p[2] = {{.fd = ha->listen_fd, .events = POLLIN}, {.fd = ha->stop_fd, .events = POLLIN}};
        int pr = poll(p, 2, 1000);
        reap(ha, false);
        if (pr <= 0 || !(p[0].revents & POLLIN))
            continue;
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        int fd = accept4(ha->listen_fd, (struct sockaddr *)&ss, &sl, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (fd < 0)
            continue;
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        int sndbuf = 1 << 20; /* RocketMQ's master side buffer */
        setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
        ha_conn *c = xcalloc(1, sizeof *c);
        c->ha = ha;
        c->fd = fd;
        c->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        atomic_init(&c->acked, -1);
        addr_format((struct sockaddr *)&ss, c->peer, sizeof c->peer);
        if (c->wake_fd < 0 || pthread_create(&c->thread, NULL, conn_main, c) != 0) {
            log_error("HA: cannot serve slave %s: %s", c->peer, strerror(errno));
            if (c->wake_fd >= 0)
                close(c->wake_fd);
            close(fd);
            free(c);
            continue;
        }
        pthread_mutex_lock(&ha->conns_mu);
        c->next = ha->conns;
        ha->conns = c;
        pthread_mutex_unlock(&ha->conns_mu);
    }
    return NULL;
}

int ha_master_start(ha_service *ha, char *err, size_t errlen)
{
    const broker_config *cfg = &ha->b->cfg;
    int port = cfg->ha_listen_port;
    if (port < 0) /* RocketMQ: listenPort + 1; a test broker on any free port takes any free HA port */
        port = cfg->listen_port == 0 ? 0 : cfg->listen_port + 1;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(err, errlen, "HA socket: %s", strerror(errno));
        return -1;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port), .sin_addr.s_addr = INADDR_ANY};
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(fd, 64) != 0) {
        snprintf(err, errlen, "cannot listen on haListenPort %d: %s", port, strerror(errno));
        close(fd);
        return -1;
    }
    socklen_t sl = sizeof sa;
    getsockname(fd, (struct sockaddr *)&sa, &sl);
    ha->listen_fd = fd;
    ha->port = ntohs(sa.sin_port);
    if (pthread_create(&ha->accept_thread, NULL, accept_main, ha) != 0) {
        snprintf(err, errlen, "cannot start the HA listener thread");
        close(fd);
        ha->listen_fd = -1;
        return -1;
    }
    ha->accept_running = true;
    log_info("HA: accepting slaves on port %d", ha->port);
    return 0;
}

void ha_master_stop(ha_service *ha)
{
    if (ha->accept_running) {
        pthread_join(ha->accept_thread, NULL);
        ha->accept_running = false;
    }
    reap(ha, true); /* each conn thread sees stop_fd and exits */
    if (ha->listen_fd >= 0)
        close(ha->listen_fd);
    ha->listen_fd = -1;
}
