/*
 * direct.c - see direct.h.
 *
 * Why: a synchronous call through the instance crosses threads twice (the
 * caller posts to "mq-io", which writes; "mq-io" reads the answer and wakes
 * the caller), two wake-ups of a sleeping CPU per call, and every caller
 * shares the instance's one connection and one I/O thread, so answers wake
 * the callers one at a time. Here the caller writes its request and reads
 * its answer itself, on a connection nobody else uses while it does: one
 * system call out (a sendmsg that never blocks), one in (a recv that sleeps
 * until the answer or the call's deadline, SO_RCVTIMEO), as a blocking Redis
 * client does. Each system call costs about a microsecond here, on the CPU
 * the broker and the other side of a message are waiting for; poll is used
 * only when a send must wait for room, or a recv for what is left of the
 * deadline.
 *
 * The pool: connections per address, taken by a call and given back when it
 * ends, most recently used first (its buffers are warm). It grows to the
 * number of threads calling the same broker at once, which is what lets a
 * broker group-commit the sync sends of many threads in one fsync. Idle
 * connections are closed after IDLE_CLOSE_MS and above IDLE_MAX. These
 * connections carry no heartbeat and receive no requests from the broker:
 * check-backs and notifications still go to the instance's connection,
 * which the heartbeat registers.
 *
 * Failure: a call that fails or times out closes its connection (an answer
 * may still be on its way), so a connection in the pool never holds a stale
 * answer. A pooled connection the broker closed while idle is seen by a
 * poll before use, unless it was given back less than FRESH_MS ago (a
 * connection in steady use skips that system call; a broker that closes it
 * within that window fails the call as one that dies mid-call would). If it
 * fails anyway at the first write, having sent nothing, the call is retried
 * once on a new connection.
 *
 * Threads: any thread may call. The mutex guards the list and the counts;
 * a connection in use belongs to its caller alone (its fd is read under the
 * mutex only by mqc_direct_free, to shut it down and wake the caller).
 */
#define _GNU_SOURCE
#include "direct.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "addr.h"
#include "arena.h"
#include "bytes.h"
#include "frame.h"
#include "instance.h"
#include "util.h"

enum {
    IDLE_CLOSE_MS = 60 * 1000, /* idle connections older than this are closed */
    IDLE_MAX = 256,            /* idle connections kept at most */
    READ_CHUNK = 64 * 1024,    /* bytes asked of each recv */
    IN_KEEP = 256 * 1024,      /* a read buffer above this is freed after its call */
    FRESH_MS = 50,             /* given back less than this ago: used without the poll */
};

typedef struct dconn {
    int fd;                    /* -1 while connecting */
    bool busy;
    char addr[ADDR_TEXT_MAX];
    int64_t idle_since_ms;
    int rcv_ms;                /* the socket's SO_RCVTIMEO, 0 while unset */
    int32_t next_opaque;
    bytebuf out; /* prefix and header of the request */
    bytebuf in;  /* what has arrived of the answer */
    arena a;     /* the answer's decoded header */
} dconn;

struct mqc_direct {
    pthread_mutex_t m;
    pthread_cond_t idle_cv; /* signalled when busy drops to zero while stopping */
    uint32_t max_frame;
    int connect_timeout_ms;
    dconn **conns;  /* idle and busy; the most recently returned last */
    size_t n, cap;
    size_t busy, idle;
    bool stopping;
};

mqc_direct *mqc_direct_new(const rm_options *o)
{
    mqc_direct *d = xcalloc(1, sizeof *d);
    pthread_mutex_init(&d->m, NULL);
    pthread_cond_init(&d->idle_cv, NULL);
    d->max_frame = o->max_frame;
    d->connect_timeout_ms = o->connect_timeout_ms;
    return d;
}

/* Removes conns[i] (order kept: the end stays the most recent). Under m. */
static void remove_at(mqc_direct *d, size_t i)
{
    memmove(&d->conns[i], &d->conns[i + 1], (d->n - i - 1) * sizeof *d->conns);
    d->n--;
}

static void append(mqc_direct *d, dconn *c)
{
    if (d->n == d->cap) {
        d->cap = d->cap ? d->cap * 2 : 16;
        d->conns = xrealloc(d->conns, d->cap * sizeof *d->conns);
    }
    d->conns[d->n++] = c;
}

static size_t index_of(const mqc_direct *d, const dconn *c)
{
    size_t i = 0;
    while (d->conns[i] != c)
        i++;
    return i;
}

static void destroy_conn(dconn *c)
{
    if (c->fd >= 0)
        close(c->fd);
    bytebuf_free(&c->out);
    bytebuf_free(&c->in);
    arena_free(&c->a);
    free(c);
}

void mqc_direct_stop(mqc_direct *d)
{
    pthread_mutex_lock(&d->m);
    d->stopping = true;
    for (size_t i = 0; i < d->n; i++)
        if (d->conns[i]->busy && d->conns[i]->fd >= 0)
            shutdown(d->conns[i]->fd, SHUT_RDWR); /* its caller's recv or poll wakes at once */
    while (d->busy > 0)
        pthread_cond_wait(&d->idle_cv, &d->m);
    pthread_mutex_unlock(&d->m);
}

void mqc_direct_free(mqc_direct *d)
{
    if (!d)
        return;
    mqc_direct_stop(d);
    pthread_mutex_lock(&d->m);
    for (size_t i = 0; i < d->n; i++)
        destroy_conn(d->conns[i]);
    free(d->conns);
    pthread_mutex_unlock(&d->m);
    pthread_cond_destroy(&d->idle_cv);
    pthread_mutex_destroy(&d->m);
    free(d);
}

/* Closes idle connections past their time (under m). */
static void close_expired(mqc_direct *d, int64_t now)
{
    for (size_t i = d->n; i-- > 0;) {
        dconn *c = d->conns[i];
        if (!c->busy && now - c->idle_since_ms > IDLE_CLOSE_MS) {
            remove_at(d, i);
            d->idle--;
            destroy_conn(c);
        }
    }
}

/* An idle connection to addr, marked busy, or a new entry (fd -1, busy) the
 * caller connects. NULL once stopping. */
static dconn *take(mqc_direct *d, const char *addr)
{
    pthread_mutex_lock(&d->m);
    if (d->stopping) {
        pthread_mutex_unlock(&d->m);
        return NULL;
    }
    close_expired(d, mono_ms());
    dconn *c = NULL;
    for (size_t i = d->n; i-- > 0 && !c;)
        if (!d->conns[i]->busy && strcmp(d->conns[i]->addr, addr) == 0)
            c = d->conns[i];
    if (c) {
        d->idle--;
    } else {
        c = xcalloc(1, sizeof *c);
        c->fd = -1;
        c->next_opaque = 1;
        str_copy(c->addr, sizeof c->addr, addr);
        bytebuf_init(&c->out);
        bytebuf_init(&c->in);
        arena_init(&c->a, 1024);
        append(d, c);
    }
    c->busy = true;
    d->busy++;
    pthread_mutex_unlock(&d->m);
    return c;
}

/* Ends a call's use of c: back to the pool (ok) or closed. */
static void give_back(mqc_direct *d, dconn *c, bool ok)
{
    if (ok && c->in.len == 0 && c->in.cap > IN_KEEP) {
        bytebuf_free(&c->in);
        bytebuf_init(&c->in);
    }
    pthread_mutex_lock(&d->m);
    remove_at(d, index_of(d, c));
    c->busy = false;
    d->busy--;
    if (ok && !d->stopping && d->idle < IDLE_MAX) {
        c->idle_since_ms = mono_ms();
        append(d, c);
        d->idle++;
        c = NULL;
    }
    if (d->stopping && d->busy == 0)
        pthread_cond_signal(&d->idle_cv);
    pthread_mutex_unlock(&d->m);
    if (c)
        destroy_conn(c);
}

static int ms_left(int64_t deadline)
{
    int64_t left = deadline - mono_ms();
    return left > 0 ? (int)(left < 1000000 ? left : 1000000) : 0;
}

/* Waits for events on fd until deadline: 1 ready, 0 timed out, -1 error. */
static int wait_fd(int fd, short events, int64_t deadline)
{
    for (;;) {
        struct pollfd p = {fd, events, 0};
        int n = poll(&p, 1, ms_left(deadline));
        if (n > 0)
            return 1;
        if (n == 0)
            return 0;
        if (errno != EINTR)
            return -1;
    }
}

static int open_conn(mqc_direct *d, dconn *c, int64_t deadline, mq_error *err)
{
    struct sockaddr_storage ss;
    socklen_t len;
    char why[160];
    if (addr_resolve(c->addr, &ss, &len, why, sizeof why) != 0) {
        mqc_error_set(err, MQ_ENETWORK, "%s: %s", c->addr, why);
        return MQ_ENETWORK;
    }
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        mqc_error_set(err, MQ_ENETWORK, "%s: socket: %s", c->addr, strerror(errno));
        return MQ_ENETWORK;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    int64_t connect_deadline = mono_ms() + d->connect_timeout_ms;
    if (connect_deadline > deadline)
        connect_deadline = deadline;
    int rc = connect(fd, (struct sockaddr *)&ss, len);
    if (rc != 0 && errno == EINPROGRESS) {
        int w = wait_fd(fd, POLLOUT, connect_deadline);
        int soerr = 0;
        socklen_t sl = sizeof soerr;
        if (w == 0) {
            close(fd);
            mqc_error_set(err, MQ_ETIMEOUT, "%s: connect timed out", c->addr);
            return MQ_ETIMEOUT;
        }
        if (w < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0)
            soerr = errno;
        rc = soerr ? -1 : 0;
        errno = soerr;
    }
    if (rc != 0) {
        int e = errno;
        close(fd);
        mqc_error_set(err, MQ_ENETWORK, "%s: connect: %s", c->addr, strerror(e));
        return MQ_ENETWORK;
    }
    /* Blocking from here on: recv sleeps in the kernel (recv_until); sends
     * say MSG_DONTWAIT. */
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) != 0) {
        int e = errno;
        close(fd);
        mqc_error_set(err, MQ_ENETWORK, "%s: fcntl: %s", c->addr, strerror(e));
        return MQ_ENETWORK;
    }
    pthread_mutex_lock(&d->m);
    c->fd = fd; /* under m: mqc_direct_free reads it */
    pthread_mutex_unlock(&d->m);
    return MQ_OK;
}

/* True if an idle connection is still usable: nothing to read (an EOF, a
 * reset or unexpected bytes would all show as readable). */
static bool still_good(const dconn *c)
{
    struct pollfd p = {c->fd, POLLIN, 0};
    return poll(&p, 1, 0) == 0;
}

enum { AGAIN = 1 };

/* After a send or recv that moved nothing (errno says why): AGAIN once the
 * socket is ready (or the call was interrupted), else the error, in err. */
static int again_or_fail(const dconn *c, short events, int64_t deadline, const char *what,
                         mq_error *err)
{
    if (errno == EINTR)
        return AGAIN;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
        int r = wait_fd(c->fd, events, deadline);
        if (r > 0)
            return AGAIN;
        if (r == 0) {
            mqc_error_set(err, MQ_ETIMEOUT, "%s: timed out", c->addr);
            return MQ_ETIMEOUT;
        }
    }
    mqc_error_set(err, MQ_ENETWORK, "%s: %s: %s", c->addr, what, strerror(errno));
    return MQ_ENETWORK;
}

/* Writes the request; *sent_nothing tells whether a failure left the
 * broker without a byte of it. */
static int write_request(dconn *c, const void *body, size_t body_len, int64_t deadline,
                         bool *sent_nothing, mq_error *err)
{
    struct iovec iov[2] = {{c->out.data, c->out.len}, {(void *)body, body ? body_len : 0}};
    size_t total = c->out.len + iov[1].iov_len, done = 0;
    *sent_nothing = true;
    while (done < total) {
        struct iovec part[2];
        int n = 0;
        size_t skip = done;
        for (int i = 0; i < 2; i++) {
            if (skip >= iov[i].iov_len) {
                skip -= iov[i].iov_len;
                continue;
            }
            part[n].iov_base = (char *)iov[i].iov_base + skip;
            part[n].iov_len = iov[i].iov_len - skip;
            skip = 0;
            n++;
        }
        struct msghdr mh = {.msg_iov = part, .msg_iovlen = (size_t)n};
        ssize_t w = sendmsg(c->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w > 0) {
            done += (size_t)w;
            *sent_nothing = false;
            continue;
        }
        int rc = again_or_fail(c, POLLOUT, deadline, "send", err);
        if (rc != AGAIN)
            return rc;
    }
    return MQ_OK;
}

/* A recv that sleeps until bytes arrive, for at most the time left to
 * deadline (SO_RCVTIMEO; set again only when what is set would outlast the
 * deadline, or is far below the time left). Past the deadline it does not
 * wait. */
static ssize_t recv_until(dconn *c, void *p, size_t n, int64_t deadline)
{
    int left = ms_left(deadline);
    if (left > 0 && (c->rcv_ms == 0 || c->rcv_ms > left || c->rcv_ms < left / 2)) {
        struct timeval tv = {left / 1000, (left % 1000) * 1000};
        if (setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) == 0)
            c->rcv_ms = left;
        else
            left = 0;
    }
    return recv(c->fd, p, n, left > 0 ? 0 : MSG_DONTWAIT);
}

/* Reads frames until the answer to opaque; hands it to on_response. */
static int read_answer(mqc_direct *d, dconn *c, int32_t opaque, int64_t deadline,
                       void (*on_response)(const rm_cmd *, void *), void *arg, mq_error *err)
{
    for (;;) {
        frame_view f;
        frame_status st = frame_parse(c->in.data, c->in.len, d->max_frame, &f);
        if (st == FRAME_OK) {
            char why[160];
            Mq__RemotingHeader *h = NULL;
            arena_reset(&c->a);
            if (frame_header_decode(f.serialize_type, f.header, f.header_len, &c->a, &h, why,
                                    sizeof why) != 0) {
                mqc_error_set(err, MQ_ENETWORK, "%s: bad answer: %s", c->addr, why);
                return MQ_ENETWORK;
            }
            bool mine = (h->flag & RM_FLAG_RESPONSE) && h->opaque == opaque;
            if (mine) {
                rm_cmd cmd = {h, f.body, f.body_len, f.serialize_type};
                on_response(&cmd, arg);
            }
            /* A request from the broker cannot be served here (none is sent
             * to a connection that never sent a heartbeat): skipped. */
            size_t rest = c->in.len - f.frame_bytes;
            memmove(c->in.data, c->in.data + f.frame_bytes, rest);
            c->in.len = rest;
            if (mine)
                return MQ_OK;
            continue;
        }
        if (st != FRAME_NEED_MORE) {
            if (st == FRAME_TOO_BIG)
                mqc_error_set(err, MQ_ENETWORK, "%s: answer of %u bytes exceeds the maximum of %u",
                              c->addr, be32_load(c->in.data), d->max_frame);
            else
                mqc_error_set(err, MQ_ENETWORK, "%s: malformed answer (inconsistent lengths)", c->addr);
            return MQ_ENETWORK;
        }
        uint8_t *p = bytebuf_reserve(&c->in, READ_CHUNK);
        ssize_t n = recv_until(c, p, c->in.cap - c->in.len - 1, deadline);
        if (n > 0) {
            c->in.len += (size_t)n;
            continue;
        }
        if (n == 0) {
            mqc_error_set(err, MQ_ENETWORK, "%s: connection closed", c->addr);
            return MQ_ENETWORK;
        }
        int rc = again_or_fail(c, POLLIN, deadline, "recv", err);
        if (rc != AGAIN)
            return rc;
    }
}

int mqc_direct_call(mqc_direct *d, const char *addr, Mq__RemotingHeader *h, const void *body,
                    size_t body_len, int timeout_ms,
                    void (*on_response)(const rm_cmd *resp, void *arg), void *arg,
                    mq_error *err)
{
    int64_t deadline = mono_ms() + (timeout_ms > 0 ? timeout_ms : 3000);
    for (int attempt = 0;; attempt++) {
        dconn *c = take(d, addr);
        if (!c) {
            mqc_error_set(err, MQ_ESTATE, "client is shut down");
            return MQ_ESTATE;
        }
        bool reused = c->fd >= 0;
        int rc = MQ_OK;
        if (reused && mono_ms() - c->idle_since_ms >= FRESH_MS && !still_good(c)) {
            give_back(d, c, false);
            attempt--; /* not an attempt: try the next idle one or a new one */
            continue;
        }
        if (!reused)
            rc = open_conn(d, c, deadline, err);
        bool sent_nothing = true;
        if (rc == MQ_OK) {
            h->opaque = c->next_opaque++;
            if (c->next_opaque <= 0)
                c->next_opaque = 1;
            h->has_opaque = h->has_code = h->has_flag = 1;
            h->flag = 0;
            if (!h->has_language) {
                h->language = RM_LANGUAGE_OURS;
                h->has_language = 1;
            }
            if (!h->has_version) {
                h->version = RM_VERSION_OURS;
                h->has_version = 1;
            }
            char why[128];
            bytebuf_clear(&c->out);
            if (body_len > d->max_frame ||
                frame_encode(RM_SERIALIZE_PROTOBUF, h, NULL, body_len, &c->out, why, sizeof why) != 0) {
                give_back(d, c, true);
                mqc_error_set(err, MQ_EINVAL, "%s: cannot encode the request: %s", addr,
                              body_len > d->max_frame ? "body over the frame maximum" : why);
                return MQ_EINVAL;
            }
            rc = write_request(c, body, body_len, deadline, &sent_nothing, err);
        }
        if (rc == MQ_OK)
            rc = read_answer(d, c, h->opaque, deadline, on_response, arg, err);
        if (rc != MQ_OK) {
            bool stopping;
            pthread_mutex_lock(&d->m);
            stopping = d->stopping;
            pthread_mutex_unlock(&d->m);
            if (stopping)
                mqc_error_set(err, MQ_ESTATE, "client is shut down");
            give_back(d, c, false);
            if (stopping)
                return MQ_ESTATE;
            if (rc == MQ_ENETWORK && reused && sent_nothing && attempt == 0)
                continue; /* the broker closed it while idle: once more on a new one */
            return rc;
        }
        give_back(d, c, true);
        return MQ_OK;
    }
}
