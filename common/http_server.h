/*
 * http_server.h - HTTP endpoints of the servers (the nameserver's JSON
 * routes and console, both servers' Prometheus metrics) on GNU
 * libmicrohttpd, driven from the server's libev loop.
 *
 * The library parses requests, enforces limits (head size, connection
 * count, idle timeout) and keeps connections alive; this file runs it
 * without threads of its own: libmicrohttpd's epoll descriptor is watched
 * by the loop and MHD_run() is called from the loop, so handlers run on
 * the loop thread and may read loop-owned state without locks. A handler
 * fills an http_response synchronously (status, content type, body).
 *
 * Requests the library rejects (malformed request line, head over the
 * limit, bad HTTP version) get its 4xx/5xx answers; handlers answer 404
 * and 405 themselves with http_response_error's JSON
 * {"status":404,"error":"..."}. Request bodies (POST) are read up to
 * HTTP_BODY_MAX bytes; larger ones are answered 413.
 */
#ifndef MQ_HTTP_SERVER_H
#define MQ_HTTP_SERVER_H

#include <stdbool.h>
#include <stddef.h>

#include <ev.h>

#include "bytes.h"

#ifdef __cplusplus
extern "C" {
#endif

enum { HTTP_BODY_MAX = 16384 };

typedef struct http_request {
    const char *method;       /* "GET", "HEAD", "POST", ... */
    const char *path;         /* percent-decoded, without the query string */
    const char *body;         /* POST body ("" if none), NUL-terminated */
    size_t body_len;
    void *conn_;              /* internal: the library's connection */
} http_request;

typedef struct http_response {
    int status;               /* 200 unless set */
    const char *content_type; /* static string; default application/json */
    const char *allow;        /* Allow header for 405, or NULL */
    bytebuf body;
} http_response;

/* A query-string argument of the request (decoded), or NULL. */
const char *http_request_arg(const http_request *req, const char *name);

/* Sets a JSON error answer {"status":N,"error":"..."}. */
void http_response_error(http_response *resp, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* 405 for anything but the methods in allow ("GET, HEAD"); true if answered. */
bool http_method_refused(const http_request *req, http_response *resp, const char *allow);

typedef void (*http_handler_fn)(void *arg, const http_request *req, http_response *resp);

typedef struct http_server http_server;

/* Listens on port (0: any free port) of every address and serves each
 * request with fn on loop's thread. Returns NULL with err on failure. */
http_server *http_server_start(struct ev_loop *loop, int port, int max_connections, http_handler_fn fn, void *arg,
                               char *err, size_t errlen);
/* The same without a loop, for programs whose handlers block (mqconsole):
 * the library runs its own listening thread and one thread per connection,
 * so fn runs on those threads, several at once. bind_ip NULL = every
 * address. */
http_server *http_server_start_threaded(const char *bind_ip, int port, int max_connections, http_handler_fn fn,
                                        void *arg, char *err, size_t errlen);
int http_server_port(const http_server *s);
/* Closes the listener and every connection (the loop's thread; any thread
 * for a threaded server, waiting for its handlers). NULL is ignored. */
void http_server_stop(http_server *s);

#ifdef __cplusplus
}
#endif

#endif
