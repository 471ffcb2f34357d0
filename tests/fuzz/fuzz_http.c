/*
 * fuzz_http.c - the HTTP endpoints' request handlers, called the way
 * common/http_server.c calls them once libmicrohttpd has parsed a request
 * (no socket): the nameserver's (GET /clusters, /topics, /topics/{t}/route,
 * /metrics; nameserver/http.c) and the broker's (GET /metrics;
 * broker/metrics.c).
 *
 * Setup, once: a real nameserver (namesrv_start) with a registered broker
 * and topics, and a real broker (broker_init, store in a temporary folder),
 * both with their metrics endpoint on; their loops never run. The link
 * wraps http_server_start (-Wl,--wrap) to learn each handler and its
 * argument, then starts the real server.
 *
 * Input: first byte picks the handler and the method; the rest up to the
 * first NUL is the (already percent-decoded) path, the remainder the body.
 * Checked: the status is one the handlers document (200, 400, 404, 405), a
 * 405 names its Allow methods, an answer always has a content type and a
 * body (GET /metrics bodies end with a newline).
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "broker.h"
#include "config.h"
#include "fuzz_check.h"
#include "http_server.h"
#include "log.h"
#include "namesrv.h"
#include "util.h"

typedef struct handler {
    http_handler_fn fn;
    void *arg;
} handler;

static handler handlers[4];
static int nhandlers;

http_server *__real_http_server_start(struct ev_loop *loop, int port, int max_connections,
                                      http_handler_fn fn, void *arg, char *err, size_t errlen);

http_server *__wrap_http_server_start(struct ev_loop *loop, int port, int max_connections,
                                      http_handler_fn fn, void *arg, char *err, size_t errlen)
{
    FUZZ_CHECK(nhandlers < 4);
    handlers[nhandlers++] = (handler){fn, arg};
    return __real_http_server_start(loop, port, max_connections, fn, arg, err, errlen);
}

static struct ev_loop *loop;
static namesrv ns;
static broker b;
static char store_dir[64];

static void teardown(void)
{
    namesrv_stop(&ns);
    broker_stop(&b); /* no nameserver to unregister from: breaks at once */
    broker_destroy(&b);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", store_dir);
    if (system(cmd) != 0)
        fprintf(stderr, "fuzz_http: could not remove %s\n", store_dir);
}

static void register_broker(void)
{
    static const char *const names[] = {"TopicA", "orders", "%RETRY%g1", "T_x-1"};
    Mq__TopicConfig tc[4];
    Mq__TopicConfigSerializeWrapper__TopicConfigTableEntry e[4], *ep[4];
    for (int i = 0; i < 4; i++) {
        mq__topic_config__init(&tc[i]);
        tc[i].topicname = (char *)names[i];
        tc[i].readqueuenums = tc[i].writequeuenums = 4;
        tc[i].has_readqueuenums = tc[i].has_writequeuenums = 1;
        tc[i].perm = 6;
        tc[i].has_perm = 1;
        mq__topic_config_serialize_wrapper__topic_config_table_entry__init(&e[i]);
        e[i].key = (char *)names[i];
        e[i].value = &tc[i];
        ep[i] = &e[i];
    }
    Mq__TopicConfigSerializeWrapper w = MQ__TOPIC_CONFIG_SERIALIZE_WRAPPER__INIT;
    w.topicconfigtable = ep;
    w.n_topicconfigtable = 4;
    ns_broker_reg reg = {.cluster = "DefaultCluster",
                         .broker_name = "broker-a",
                         .broker_addr = "127.0.0.1:10911",
                         .ha_addr = "127.0.0.1:10912",
                         .topics = &w,
                         .now_ms = mono_ms()};
    ns_register_result res;
    char err[256];
    FUZZ_CHECK(ns_routes_register(ns.routes, &reg, &res, err, sizeof err) == 0);
}

static void setup(void)
{
    log_set_level(LOG_OFF);
    loop = ev_loop_new(EVFLAG_AUTO);
    char err[512];

    namesrv_config nc;
    FUZZ_CHECK(cfg_defaults(namesrv_config_options, &nc, err, sizeof err) == 0);
    nc.listen_port = 0;
    nc.metrics_port = 0;
    if (namesrv_start(&ns, &nc, loop, err, sizeof err) != 0) {
        fprintf(stderr, "fuzz_http: nameserver: %s\n", err);
        abort();
    }
    register_broker();

    broker_config bc;
    FUZZ_CHECK(cfg_defaults(broker_config_options, &bc, err, sizeof err) == 0);
    snprintf(store_dir, sizeof store_dir, "/tmp/mq-fuzz-http-XXXXXX");
    FUZZ_CHECK(mkdtemp(store_dir) != NULL);
    snprintf(bc.store_path_root_dir, sizeof bc.store_path_root_dir, "%s", store_dir);
    bc.listen_port = 0;
    bc.metrics_port = 0;
    bc.namesrv_addr[0] = '\0';
    if (broker_init(&b, &bc, loop, err, sizeof err) != 0) {
        fprintf(stderr, "fuzz_http: broker: %s\n", err);
        abort();
    }
    atexit(teardown);
    FUZZ_CHECK(nhandlers == 2); /* the nameserver's metrics port, the broker's */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool ready;
    if (!ready) {
        setup();
        ready = true;
    }
    static const char *const methods[] = {"GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "G", ""};
    if (size < 1)
        return 0;
    const handler *h = &handlers[data[0] % nhandlers];
    const char *method = methods[(data[0] >> 1) % (sizeof methods / sizeof methods[0])];
    data++;
    size--;
    const uint8_t *nul = memchr(data, '\0', size);
    size_t path_len = nul ? (size_t)(nul - data) : size;
    char *path = malloc(path_len + 1);
    memcpy(path, data, path_len);
    path[path_len] = '\0';
    size_t body_len = nul ? size - path_len - 1 : 0;
    char *body = malloc(body_len + 1);
    if (body_len)
        memcpy(body, nul + 1, body_len);
    body[body_len] = '\0';

    http_request req = {method, path, body, body_len, NULL};
    http_response resp = {200, "application/json; charset=utf-8", NULL, {0}};
    bytebuf_init(&resp.body);
    h->fn(h->arg, &req, &resp);
    FUZZ_CHECK(resp.status == 200 || resp.status == 400 || resp.status == 404 ||
               resp.status == 405);
    FUZZ_CHECK(resp.content_type != NULL && resp.content_type[0] != '\0');
    FUZZ_CHECK(resp.body.len > 0);
    if (resp.status == 405)
        FUZZ_CHECK(resp.allow != NULL && resp.allow[0] != '\0');
    if (resp.status == 200 && strstr(resp.content_type, "text/plain"))
        FUZZ_CHECK(resp.body.data[resp.body.len - 1] == '\n');
    bytebuf_free(&resp.body);
    free(path);
    free(body);
    return 0;
}
