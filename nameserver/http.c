/*
 * http.c - the nameserver's read-only HTTP endpoint (off unless httpPort
 * is set), served by common/http_server.c (GNU libmicrohttpd) on the
 * nameserver's own loop:
 *
 *   GET /clusters               ClusterInfo    {"brokerAddrTable":{...},"clusterAddrTable":{...}}
 *   GET /topics                 TopicList      {"topicList":[...]}
 *   GET /topics/{topic}/route   TopicRouteData {"queueDatas":[...],"brokerDatas":[...]}
 *   GET /metrics                Prometheus text format (ns_metrics.c)
 *
 * Bodies are the same protobuf messages the TCP queries answer, rendered by
 * common/json.c, so both views always agree. Errors are JSON too:
 * {"status":404,"error":"..."} with 400 (bad topic name), 404 (unknown
 * path or topic), 405 (method other than GET/HEAD); the library answers
 * malformed requests (400), heads over its limit (414/431) and keeps the
 * connection count and idle timeouts bounded.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_server.h"
#include "json.h"
#include "names.h"
#include "namesrv.h"
#include "util.h"

struct ns_http {
    namesrv *ns;
    http_server *server;
};

static void respond_message(http_response *resp, const ProtobufCMessage *m)
{
    json_from_message(m, false, &resp->body);
}

#define NO_SUCH_PATH "no such path: try /clusters, /topics, /topics/{topic}/route or /metrics"

static void on_request(void *arg, const http_request *req, http_response *resp)
{
    struct ns_http *h = arg;
    namesrv *ns = h->ns;
    if (http_method_refused(req, resp, "GET, HEAD"))
        return;
    const char *path = req->path;
    size_t path_len = strlen(path);
    if (path_len > 1 && path[path_len - 1] == '/')
        path_len--; /* "/topics/" is "/topics" */
#define PATH_IS(lit) (path_len == sizeof(lit) - 1 && !memcmp(path, lit, path_len))
    if (PATH_IS("/clusters")) {
        Mq__ClusterInfo *ci;
        ns_routes_cluster_info(ns->routes, &ns->scratch, &ci);
        respond_message(resp, &ci->base);
    } else if (PATH_IS("/topics")) {
        Mq__TopicList *tl;
        ns_routes_topic_list(ns->routes, NULL, &ns->scratch, &tl);
        respond_message(resp, &tl->base);
    } else if (PATH_IS("/metrics")) {
        resp->content_type = "text/plain; version=0.0.4; charset=utf-8";
        ns_metrics_write(ns, &resp->body);
    } else if (path_len > 14 && !memcmp(path, "/topics/", 8) && !memcmp(path + path_len - 6, "/route", 6)) {
        char topic[512], err[256];
        size_t tlen = path_len - 8 - 6;
        if (memchr(path + 8, '/', tlen)) {
            http_response_error(resp, 404, NO_SUCH_PATH);
        } else if (tlen >= sizeof topic) {
            http_response_error(resp, 400, "over-long topic in the path");
        } else {
            memcpy(topic, path + 8, tlen);
            topic[tlen] = '\0';
            Mq__TopicRouteData *rd;
            if (!topic_name_valid(topic, err, sizeof err))
                http_response_error(resp, 400, "%s", err);
            else if (ns_routes_topic_route(ns->routes, topic, &ns->scratch, &rd) == 0)
                respond_message(resp, &rd->base);
            else
                http_response_error(resp, 404, "No topic route info in name server for the topic: %s", topic);
        }
    } else {
        http_response_error(resp, 404, NO_SUCH_PATH);
    }
#undef PATH_IS
    arena_reset(&ns->scratch);
}

struct ns_http *ns_http_start(namesrv *ns, int port, int max_connections, char *err, size_t errlen)
{
    struct ns_http *h = xcalloc(1, sizeof *h);
    h->ns = ns;
    h->server = http_server_start(ns->loop, port, max_connections, on_request, h, err, errlen);
    if (!h->server) {
        free(h);
        return NULL;
    }
    return h;
}

int ns_http_port(const struct ns_http *h) { return http_server_port(h->server); }

void ns_http_stop(struct ns_http *h)
{
    if (!h)
        return;
    http_server_stop(h->server);
    free(h);
}
