/*
 * http.c - the nameserver's read-only HTTP/JSON endpoint for ops consoles,
 * on the nameserver's own loop (off unless httpPort is set):
 *
 *   GET /clusters               ClusterInfo    {"brokerAddrTable":{...},"clusterAddrTable":{...}}
 *   GET /topics                 TopicList      {"topicList":[...]}
 *   GET /topics/{topic}/route   TopicRouteData {"queueDatas":[...],"brokerDatas":[...]}
 *
 * Bodies are the same protobuf messages the TCP queries answer, rendered by
 * common/json.c, so both views always agree. Errors are JSON too:
 * {"status":404,"error":"..."} with 400 (malformed request or topic name),
 * 404 (unknown path or topic), 405 (method other than GET/HEAD), 431
 * (request head over 8 KiB), 503 (too many connections).
 *
 * One request per connection (the answer says "Connection: close"). Each
 * connection has a fixed buffer, a deadline (5 s) and the endpoint a
 * connection limit, so a slow or hostile client costs bounded memory and
 * never blocks the loop.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "json.h"
#include "log.h"
#include "names.h"
#include "namesrv.h"
#include "util.h"

enum {
    HTTP_HEAD_MAX = 8192,
    HTTP_DEADLINE_MS = 5000,
};

typedef struct http_conn http_conn;

struct ns_http {
    namesrv *ns;
    int fd;
    int port;
    int max_conns;
    int nconns;
    ev_io accept_io;
    http_conn *conns;
};

struct http_conn {
    struct ns_http *h;
    int fd;
    ev_io io;
    ev_timer deadline;
    char in[HTTP_HEAD_MAX + 1];
    size_t in_len;
    bytebuf out;
    size_t out_off;
    http_conn *prev, *next;
};

static void conn_close(http_conn *c)
{
    struct ns_http *h = c->h;
    ev_io_stop(h->ns->loop, &c->io);
    ev_timer_stop(h->ns->loop, &c->deadline);
    close(c->fd);
    bytebuf_free(&c->out);
    if (c->prev)
        c->prev->next = c->next;
    else
        h->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    h->nconns--;
    free(c);
}

static const char *status_text(int status)
{
    switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 431: return "Request Header Fields Too Large";
    case 503: return "Service Unavailable";
    default: return "Error";
    }
}

static void on_writable(struct ev_loop *loop, ev_io *w, int revents);

/* Queues a whole answer and switches the connection to writing. */
static void respond(http_conn *c, int status, const bytebuf *body, bool head_only)
{
    bytebuf_clear(&c->out);
    bytebuf_printf(&c->out,
                   "HTTP/1.1 %d %s\r\nContent-Type: application/json; charset=utf-8\r\n"
                   "Content-Length: %zu\r\nConnection: close\r\n%s\r\n",
                   status, status_text(status), body->len,
                   status == 405 ? "Allow: GET, HEAD\r\n" : "");
    if (!head_only)
        bytebuf_append(&c->out, body->data, body->len);
    c->out_off = 0;
    struct ev_loop *loop = c->h->ns->loop;
    ev_io_stop(loop, &c->io);
    ev_io_set(&c->io, c->fd, EV_WRITE);
    ev_io_start(loop, &c->io);
    on_writable(loop, &c->io, EV_WRITE);
}

static void respond_error(http_conn *c, int status, const char *msg, bool head_only)
{
    bytebuf body;
    bytebuf_init(&body);
    json_writer w;
    json_writer_init(&w, &body, false);
    json_object_begin(&w);
    json_kv_int(&w, "status", status);
    json_kv_string(&w, "error", msg);
    json_object_end(&w);
    json_writer_finish(&w);
    respond(c, status, &body, head_only);
    bytebuf_free(&body);
}

static void respond_message(http_conn *c, const ProtobufCMessage *m, bool head_only)
{
    bytebuf body;
    bytebuf_init(&body);
    json_from_message(m, false, &body);
    respond(c, 200, &body, head_only);
    bytebuf_free(&body);
}

/* Decodes %XX escapes of s[0..n) into out (cap bytes). Returns 0 or -1. */
static int url_decode(const char *s, size_t n, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (ch == '%') {
            if (i + 2 >= n || !isxdigit((unsigned char)s[i + 1]) || !isxdigit((unsigned char)s[i + 2]))
                return -1;
            char hex[3] = {s[i + 1], s[i + 2], 0};
            long v = strtol(hex, NULL, 16);
            if (v == 0)
                return -1;
            ch = (char)v;
            i += 2;
        }
        if (o + 1 >= cap)
            return -1;
        out[o++] = ch;
    }
    out[o] = '\0';
    return 0;
}

static void route_request(http_conn *c, const char *method, const char *path, size_t path_len)
{
    namesrv *ns = c->h->ns;
    bool head = !strcmp(method, "HEAD");
    if (strcmp(method, "GET") != 0 && !head) {
        respond_error(c, 405, "only GET is served", false);
        return;
    }
    const char *q = memchr(path, '?', path_len);
    if (q)
        path_len = (size_t)(q - path);
    if (path_len > 1 && path[path_len - 1] == '/')
        path_len--; /* "/topics/" is "/topics" */
#define PATH_IS(lit) (path_len == sizeof(lit) - 1 && !memcmp(path, lit, path_len))
    if (PATH_IS("/clusters")) {
        Mq__ClusterInfo *ci;
        ns_routes_cluster_info(ns->routes, &ns->scratch, &ci);
        respond_message(c, &ci->base, head);
    } else if (PATH_IS("/topics")) {
        Mq__TopicList *tl;
        ns_routes_topic_list(ns->routes, NULL, &ns->scratch, &tl);
        respond_message(c, &tl->base, head);
    } else if (path_len > 14 && !memcmp(path, "/topics/", 8) &&
               !memcmp(path + path_len - 6, "/route", 6)) {
        char topic[512], err[256], msg[640];
        size_t tlen = path_len - 8 - 6;
        if (memchr(path + 8, '/', tlen)) {
            respond_error(c, 404, "no such path: try /clusters, /topics or /topics/{topic}/route", head);
        } else if (url_decode(path + 8, tlen, topic, sizeof topic) != 0) {
            respond_error(c, 400, "bad percent-encoding or over-long topic in the path", head);
        } else if (!topic_name_valid(topic, err, sizeof err)) {
            respond_error(c, 400, err, head);
        } else {
            Mq__TopicRouteData *rd;
            if (ns_routes_topic_route(ns->routes, topic, &ns->scratch, &rd) == 0) {
                respond_message(c, &rd->base, head);
            } else {
                snprintf(msg, sizeof msg, "No topic route info in name server for the topic: %s", topic);
                respond_error(c, 404, msg, head);
            }
        }
    } else {
        respond_error(c, 404, "no such path: try /clusters, /topics or /topics/{topic}/route", head);
    }
#undef PATH_IS
    arena_reset(&ns->scratch);
}

/* A whole request head is in c->in: parse the request line and answer. */
static void handle_head(http_conn *c)
{
    char *line_end = strstr(c->in, "\r\n");
    char *sp1 = memchr(c->in, ' ', (size_t)(line_end - c->in));
    char *sp2 = sp1 ? memchr(sp1 + 1, ' ', (size_t)(line_end - sp1 - 1)) : NULL;
    if (!sp1 || !sp2 || sp1 == c->in || sp2 == sp1 + 1 || sp1[1] != '/' ||
        strncmp(sp2 + 1, "HTTP/1.", 7) != 0) {
        respond_error(c, 400, "malformed request line", false);
        return;
    }
    *sp1 = '\0';
    route_request(c, c->in, sp1 + 1, (size_t)(sp2 - sp1 - 1));
}

static void on_writable(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop;
    (void)revents;
    http_conn *c = w->data;
    while (c->out_off < c->out.len) {
        ssize_t n = send(c->fd, c->out.data + c->out_off, c->out.len - c->out_off, MSG_NOSIGNAL);
        if (n > 0) {
            c->out_off += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        break; /* peer gone */
    }
    conn_close(c);
}

static void on_readable(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop;
    (void)revents;
    http_conn *c = w->data;
    for (;;) {
        ssize_t n = recv(c->fd, c->in + c->in_len, HTTP_HEAD_MAX - c->in_len, 0);
        if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK)) {
            conn_close(c);
            return;
        }
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return; /* wait for more */
        }
        size_t old = c->in_len;
        c->in_len += (size_t)n;
        c->in[c->in_len] = '\0';
        if (memchr(c->in + old, '\0', (size_t)n)) {
            respond_error(c, 400, "NUL byte in request", false);
            return;
        }
        if (strstr(c->in + (old > 3 ? old - 3 : 0), "\r\n\r\n")) {
            handle_head(c);
            return;
        }
        if (c->in_len >= HTTP_HEAD_MAX) {
            respond_error(c, 431, "request head over 8192 bytes", false);
            return;
        }
    }
}

static void on_deadline(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    conn_close(w->data);
}

static void on_accept(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)revents;
    struct ns_http *h = w->data;
    for (int i = 0; i < 64; i++) {
        int fd = accept4(h->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                log_warn("HTTP accept on port %d failed: %s", h->port, strerror(errno));
            return;
        }
        http_conn *c = xcalloc(1, sizeof *c);
        c->h = h;
        c->fd = fd;
        bytebuf_init(&c->out);
        c->next = h->conns;
        if (h->conns)
            h->conns->prev = c;
        h->conns = c;
        h->nconns++;
        ev_io_init(&c->io, on_readable, fd, EV_READ);
        c->io.data = c;
        ev_timer_init(&c->deadline, on_deadline, HTTP_DEADLINE_MS / 1000.0, 0.);
        c->deadline.data = c;
        ev_timer_start(loop, &c->deadline);
        if (h->nconns > h->max_conns) {
            respond_error(c, 503, "too many HTTP connections", false);
            continue;
        }
        ev_io_start(loop, &c->io);
    }
}

struct ns_http *ns_http_start(namesrv *ns, int port, int max_connections, char *err, size_t errlen)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(err, errlen, "HTTP socket: %s", strerror(errno));
        return NULL;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_ANY);
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(fd, 128) != 0) {
        snprintf(err, errlen, "cannot listen for HTTP on port %d: %s", port, strerror(errno));
        close(fd);
        return NULL;
    }
    socklen_t len = sizeof sa;
    getsockname(fd, (struct sockaddr *)&sa, &len);
    struct ns_http *h = xcalloc(1, sizeof *h);
    h->ns = ns;
    h->fd = fd;
    h->port = ntohs(sa.sin_port);
    h->max_conns = max_connections > 0 ? max_connections : 64;
    ev_io_init(&h->accept_io, on_accept, fd, EV_READ);
    h->accept_io.data = h;
    ev_io_start(ns->loop, &h->accept_io);
    return h;
}

int ns_http_port(const struct ns_http *h) { return h->port; }

void ns_http_stop(struct ns_http *h)
{
    if (!h)
        return;
    ev_io_stop(h->ns->loop, &h->accept_io);
    close(h->fd);
    while (h->conns)
        conn_close(h->conns);
    free(h);
}
