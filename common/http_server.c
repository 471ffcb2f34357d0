/*
 * http_server.c - libmicrohttpd driven from a libev loop (http_server.h).
 *
 * Loop mode owns one MHD daemon in epoll mode with no thread of its own: an ev_io
 * watches the daemon's epoll descriptor and an ev_timer its next timeout;
 * both call MHD_run(), which accepts, reads, calls on_request and writes,
 * all on the loop thread. Threaded mode (mqconsole) lets the library run
 * its own threads instead. A request's state (its POST body so far) lives
 * in the connection's con_cls slot from the first call of on_request to
 * the completion callback, which frees it.
 */
#include "http_server.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <microhttpd.h>

#include "json.h"
#include "util.h"

enum {
    HTTP_MEMORY_LIMIT = 16384, /* per connection: request head and read buffer */
    HTTP_IDLE_TIMEOUT_S = 10,
};

struct http_server {
    struct MHD_Daemon *d;
    struct ev_loop *loop;
    ev_io io;
    ev_timer timer;
    int port;
    http_handler_fn fn;
    void *arg;
};

typedef struct req_state {
    bytebuf body;
    bool too_big;
} req_state;

const char *http_request_arg(const http_request *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn_, MHD_GET_ARGUMENT_KIND, name);
}

void http_response_error(http_response *resp, int status, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    resp->status = status;
    resp->content_type = "application/json; charset=utf-8";
    bytebuf_clear(&resp->body);
    json_writer w;
    json_writer_init(&w, &resp->body, false);
    json_object_begin(&w);
    json_kv_int(&w, "status", status);
    json_kv_string(&w, "error", msg);
    json_object_end(&w);
    json_writer_finish(&w);
}

bool http_method_refused(const http_request *req, http_response *resp, const char *allow)
{
    size_t n = strlen(req->method);
    for (const char *p = allow; n > 0 && (p = strstr(p, req->method)) != NULL; p += n)
        if ((p == allow || p[-1] == ' ') && (p[n] == ',' || p[n] == '\0'))
            return false;
    http_response_error(resp, 405, "method %s is not served here (allowed: %s)", req->method, allow);
    resp->allow = allow;
    return true;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                  const char *version, const char *upload, size_t *upload_size, void **con_cls)
{
    (void)version;
    http_server *s = cls;
    req_state *st = *con_cls;
    if (!st) { /* the head is in: wait for the body (if any) */
        st = xcalloc(1, sizeof *st);
        bytebuf_init(&st->body);
        *con_cls = st;
        return MHD_YES;
    }
    if (*upload_size) {
        if (st->body.len + *upload_size > HTTP_BODY_MAX)
            st->too_big = true;
        else
            bytebuf_append(&st->body, upload, *upload_size);
        *upload_size = 0;
        return MHD_YES;
    }
    http_request req = {method, url, bytebuf_cstr(&st->body), st->body.len, conn};
    http_response resp = {200, "application/json; charset=utf-8", NULL, {0}};
    bytebuf_init(&resp.body);
    if (st->too_big)
        http_response_error(&resp, 413, "request body over %d bytes", HTTP_BODY_MAX);
    else
        s->fn(s->arg, &req, &resp);
    struct MHD_Response *r = MHD_create_response_from_buffer(resp.body.len, resp.body.data, MHD_RESPMEM_MUST_COPY);
    enum MHD_Result ret = MHD_NO;
    if (r) {
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, resp.content_type);
        if (resp.allow)
            MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, resp.allow);
        ret = MHD_queue_response(conn, (unsigned)resp.status, r);
        MHD_destroy_response(r);
    }
    bytebuf_free(&resp.body);
    return ret;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls, enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)conn;
    (void)toe;
    req_state *st = *con_cls;
    if (st) {
        bytebuf_free(&st->body);
        free(st);
        *con_cls = NULL;
    }
}

/* Lets the library do all it can now, then re-arms its timeout. */
static void run(http_server *s)
{
    MHD_run(s->d);
    MHD_UNSIGNED_LONG_LONG ms;
    ev_timer_stop(s->loop, &s->timer);
    if (MHD_get_timeout(s->d, &ms) == MHD_YES) {
        ev_timer_set(&s->timer, (double)ms / 1000.0, 0.);
        ev_timer_start(s->loop, &s->timer);
    }
}

static void on_io(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop;
    (void)revents;
    run(w->data);
}

static void on_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    run(w->data);
}

/* Starts the daemon with flags; NULL with err on failure. */
static http_server *start(unsigned flags, const char *bind_ip, int port, int max_connections, http_handler_fn fn,
                          void *arg, char *err, size_t errlen)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_ANY);
    if (bind_ip && inet_pton(AF_INET, bind_ip, &sa.sin_addr) != 1) {
        snprintf(err, errlen, "'%s' is not an IPv4 address to listen on", bind_ip);
        return NULL;
    }
    http_server *s = xcalloc(1, sizeof *s);
    s->fn = fn;
    s->arg = arg;
    s->d = MHD_start_daemon(flags, (uint16_t)port, NULL, NULL, on_request, s, MHD_OPTION_SOCK_ADDR, &sa,
                            MHD_OPTION_CONNECTION_LIMIT, (unsigned)(max_connections > 0 ? max_connections : 64),
                            MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)HTTP_MEMORY_LIMIT,
                            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)HTTP_IDLE_TIMEOUT_S,
                            MHD_OPTION_LISTENING_ADDRESS_REUSE, (unsigned)1,
                            MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL, MHD_OPTION_END);
    if (!s->d) {
        snprintf(err, errlen, "cannot listen for HTTP on port %d (in use, or no permission)", port);
        free(s);
        return NULL;
    }
    const union MHD_DaemonInfo *p = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
    s->port = p ? p->port : port;
    return s;
}

http_server *http_server_start_threaded(const char *bind_ip, int port, int max_connections, http_handler_fn fn,
                                        void *arg, char *err, size_t errlen)
{
    return start(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION, bind_ip, port, max_connections, fn,
                 arg, err, errlen);
}

http_server *http_server_start(struct ev_loop *loop, int port, int max_connections, http_handler_fn fn, void *arg,
                               char *err, size_t errlen)
{
    http_server *s = start(MHD_USE_EPOLL, NULL, port, max_connections, fn, arg, err, errlen);
    if (!s)
        return NULL;
    s->loop = loop;
    const union MHD_DaemonInfo *fd = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_EPOLL_FD);
    if (!fd) {
        snprintf(err, errlen, "libmicrohttpd gave no epoll descriptor");
        MHD_stop_daemon(s->d);
        free(s);
        return NULL;
    }
    ev_io_init(&s->io, on_io, fd->epoll_fd, EV_READ);
    s->io.data = s;
    ev_io_start(loop, &s->io);
    ev_timer_init(&s->timer, on_timer, 0., 0.);
    s->timer.data = s;
    run(s);
    return s;
}

int http_server_port(const http_server *s) { return s->port; }

void http_server_stop(http_server *s)
{
    if (!s)
        return;
    if (s->loop) {
        ev_io_stop(s->loop, &s->io);
        ev_timer_stop(s->loop, &s->timer);
    }
    MHD_stop_daemon(s->d);
    free(s);
}
