// fake_cluster.h - test helper: a fake nameserver and fake brokers, in
// process on loopback, for testing the client library's logic (retries,
// rebalancing, offsets, long polling, send-back) without the real servers.
//
// FakeBroker keeps messages per (topic, queue) as real CommitLog records
// (msg_encode), answers sends, pulls (tag-hash filter, long polling with a
// held reply), offset queries and commits, consumer lists from heartbeats,
// send-backs and queue locks, and records every request it saw. Tests can
// script failures: answer N sends with a status, refuse the next pulls,
// answer the next pull with PULL_OFFSET_MOVED, and so on.
// Handlers run on the broker's loop thread; the recorded state is guarded
// by a mutex so the test thread can read it at any time.
#pragma once

#include <algorithm>
#include <csignal>
#include <pthread.h>
#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "loop_thread.h"

extern "C" {
#include "body.pb-c.h"
#include "message.h"
#include "remoting.h"
#include "subscription.h"
#include "util.h"
}

struct FakeServer {
    LoopThread lt;
    rm_dispatch *d = nullptr;
    rm_server *srv = nullptr;
    int port = 0;

    void listen(int want_port = 0) {
        lt.run([&] {
            // A client that went away must not kill the test with SIGPIPE.
            sigset_t pipe_set;
            sigemptyset(&pipe_set);
            sigaddset(&pipe_set, SIGPIPE);
            pthread_sigmask(SIG_BLOCK, &pipe_set, nullptr);
            srv = rm_server_new(lt.loop(), nullptr, d);
            char err[256];
            if (rm_server_listen(srv, "127.0.0.1", want_port, err, sizeof err) == 0)
                port = rm_server_port(srv);
        });
    }
    void stop() {
        lt.run([&] {
            if (srv)
                rm_server_free(srv);
            srv = nullptr;
        });
    }
    virtual ~FakeServer() {
        stop();
        lt.run([&] { rm_dispatch_free(d); });
    }
    std::string addr() const { return "127.0.0.1:" + std::to_string(port); }
};

// ---------------------------------------------------------------- nameserver

struct FakeRouteQueue {
    std::string broker_name;
    std::string addr;
    int read_queues = 4;
    int write_queues = 4;
    int perm = 6;
};

struct FakeNamesrv : FakeServer {
    std::mutex m;
    std::map<std::string, std::vector<FakeRouteQueue>> routes;
    std::atomic<int> queries{0};

    FakeNamesrv() {
        lt.run([&] {
            d = rm_dispatch_new();
            rm_dispatch_on(d, RC_GET_ROUTEINFO_BY_TOPIC, on_route, this);
        });
        listen();
    }
    // Stop serving before the route table goes: ~FakeServer runs after the
    // members of this class are destroyed, and a query in flight on the loop
    // thread would read a freed map.
    ~FakeNamesrv() override { stop(); }
    void set_route(const std::string &topic, std::vector<FakeRouteQueue> qs) {
        std::lock_guard<std::mutex> g(m);
        routes[topic] = std::move(qs);
    }
    void remove_route(const std::string &topic) {
        std::lock_guard<std::mutex> g(m);
        routes.erase(topic);
    }

    static void on_route(rm_conn *c, const rm_cmd *req, void *arg) {
        FakeNamesrv *self = static_cast<FakeNamesrv *>(arg);
        self->queries++;
        std::string topic = req->hdr->topic && req->hdr->topic->topic ? req->hdr->topic->topic : "";
        std::vector<FakeRouteQueue> qs;
        {
            std::lock_guard<std::mutex> g(self->m);
            auto it = self->routes.find(topic);
            if (it == self->routes.end()) {
                rm_reply_status(c, req, RS_TOPIC_NOT_EXIST, "No topic route info in name server for the topic: %s",
                                topic.c_str());
                return;
            }
            qs = it->second;
        }
        std::vector<Mq__QueueData> qd(qs.size());
        std::vector<Mq__QueueData *> qdp;
        std::vector<Mq__BrokerData> bd(qs.size());
        std::vector<Mq__BrokerData *> bdp;
        std::vector<Mq__BrokerData__BrokerAddrsEntry> ad(qs.size());
        std::vector<Mq__BrokerData__BrokerAddrsEntry *> adp(qs.size());
        for (size_t i = 0; i < qs.size(); i++) {
            mq__queue_data__init(&qd[i]);
            qd[i].brokername = (char *)qs[i].broker_name.c_str();
            qd[i].readqueuenums = qs[i].read_queues;
            qd[i].writequeuenums = qs[i].write_queues;
            qd[i].perm = qs[i].perm;
            qd[i].has_readqueuenums = qd[i].has_writequeuenums = qd[i].has_perm = 1;
            qdp.push_back(&qd[i]);
            mq__broker_data__broker_addrs_entry__init(&ad[i]);
            ad[i].key = 0;
            ad[i].has_key = 1;
            ad[i].value = (char *)qs[i].addr.c_str();
            adp[i] = &ad[i];
            mq__broker_data__init(&bd[i]);
            bd[i].cluster = (char *)"DefaultCluster";
            bd[i].brokername = (char *)qs[i].broker_name.c_str();
            bd[i].n_brokeraddrs = 1;
            bd[i].brokeraddrs = &adp[i];
            bdp.push_back(&bd[i]);
        }
        Mq__TopicRouteData rd = MQ__TOPIC_ROUTE_DATA__INIT;
        rd.n_queuedatas = qdp.size();
        rd.queuedatas = qdp.data();
        rd.n_brokerdatas = bdp.size();
        rd.brokerdatas = bdp.data();
        Mq__RemotingHeader h = MQ__REMOTING_HEADER__INIT;
        h.code = RS_SUCCESS;
        rm_reply_msg(c, req, &h, &rd.base);
    }
};

// ---------------------------------------------------------------- broker

struct RecordedSend {
    int32_t code;   // 310 or 320
    bool oneway;
    std::string group, topic, default_topic, properties, broker_name;
    int32_t queue_id, default_queue_nums, flag, sysflag;
    int64_t born_ms;
    bool batch;
    std::string body;
};

struct RecordedPull {
    std::string group, topic, subscription, expression_type;
    int32_t queue_id, max_nums, sysflag;
    int64_t offset, commit_offset, suspend_ms;
};

struct RecordedSendBack {
    int64_t offset;
    std::string group, origin_msg_id, origin_topic;
    int32_t delay_level, max_reconsume_times;
};

struct StoredMsg {
    std::vector<uint8_t> record;
    int64_t store_ms;
    int64_t tag_code;
};

struct HeldPull {
    rm_reply_to to;
    std::string topic, subscription, expr_type;
    int32_t queue_id, max_nums;
    int64_t offset;
    ev_timer timer;
    struct FakeBroker *broker;
};

struct FakeBroker : FakeServer {
    std::string name;
    std::mutex m;
    // scripted behaviour
    std::atomic<int> send_status{RS_SUCCESS};   // answer every send with this (0 = store)
    std::atomic<int> send_status_times{0};      // ... this many times, then store (0 = always)
    std::atomic<int> fail_pulls{0};             // answer the next N pulls SYSTEM_ERROR
    std::atomic<int> offset_moved_to{-1};       // next pull answers PULL_OFFSET_MOVED to this
    std::atomic<int> send_back_status{RS_SUCCESS};
    std::atomic<bool> silent_sends{false};      // never answer sends
    std::map<std::string, std::vector<std::string>> consumer_list_override; // group -> ids
    // state
    std::map<std::pair<std::string, int>, std::vector<StoredMsg>> queues;
    std::map<std::string, int64_t> offsets;     // group@topic@qid -> offset
    std::map<std::string, std::set<std::string>> groups; // group -> client ids (from heartbeats)
    std::map<std::string, std::string> locks;   // group@topic@qid -> client id
    std::vector<HeldPull *> held;
    int64_t commit_log = 0;
    // records
    std::vector<RecordedSend> sends;
    std::vector<RecordedPull> pulls;
    std::vector<RecordedSendBack> send_backs;
    std::vector<std::pair<std::string, int64_t>> offset_updates; // key, offset
    std::vector<std::string> heartbeats;        // client ids
    std::vector<std::string> heartbeat_producer_groups;
    std::vector<Mq__HeartbeatData *> heartbeat_bodies;
    std::vector<std::string> unregisters;       // client ids
    std::atomic<int> lock_requests{0}, unlock_requests{0};
    std::vector<std::pair<std::string, std::string>> conns_by_client; // client id -> peer
    std::map<std::string, rm_conn *> client_conns;

    explicit FakeBroker(const std::string &broker_name, int want_port = 0) : name(broker_name) {
        lt.run([&] {
            d = rm_dispatch_new();
            rm_dispatch_on(d, RC_SEND_MESSAGE_V2, on_send, this);
            rm_dispatch_on(d, RC_SEND_BATCH_MESSAGE, on_send, this);
            rm_dispatch_on(d, RC_HEART_BEAT, on_heartbeat, this);
            rm_dispatch_on(d, RC_UNREGISTER_CLIENT, on_unregister, this);
            rm_dispatch_on(d, RC_GET_CONSUMER_LIST_BY_GROUP, on_consumer_list, this);
            rm_dispatch_on(d, RC_QUERY_CONSUMER_OFFSET, on_query_offset, this);
            rm_dispatch_on(d, RC_UPDATE_CONSUMER_OFFSET, on_update_offset, this);
            rm_dispatch_on(d, RC_GET_MAX_OFFSET, on_max_offset, this);
            rm_dispatch_on(d, RC_GET_MIN_OFFSET, on_min_offset, this);
            rm_dispatch_on(d, RC_SEARCH_OFFSET_BY_TIMESTAMP, on_search_offset, this);
            rm_dispatch_on(d, RC_PULL_MESSAGE, on_pull, this);
            rm_dispatch_on(d, RC_CONSUMER_SEND_MSG_BACK, on_send_back, this);
            rm_dispatch_on(d, RC_LOCK_BATCH_MQ, on_lock, this);
            rm_dispatch_on(d, RC_UNLOCK_BATCH_MQ, on_unlock, this);
        });
        listen(want_port);
    }
    ~FakeBroker() override {
        lt.run([&] {
            for (HeldPull *h : held) {
                ev_timer_stop(lt.loop(), &h->timer);
                rm_reply_to_drop(&h->to);
                delete h;
            }
            held.clear();
            for (auto *hb : heartbeat_bodies)
                mq__heartbeat_data__free_unpacked(hb, nullptr);
        });
        stop(); // before the members go (see ~FakeNamesrv)
    }

    static std::string key(const std::string &g, const std::string &t, int q) {
        return g + "@" + t + "@" + std::to_string(q);
    }

    // ---- test controls (any thread) ----

    // Stores a message as if a producer sent it; wakes held pulls.
    int64_t add_message(const std::string &topic, int qid, const std::string &body,
                        const std::string &tags = "", const std::string &keys = "",
                        const std::string &extra_props = "", int reconsume = 0) {
        int64_t off = -1;
        lt.run([&] {
            std::string props;
            if (!tags.empty())
                props += std::string("TAGS\x01", 5) + tags;
            if (!keys.empty())
                props += (props.empty() ? "" : "\x02") + std::string("KEYS\x01", 5) + keys;
            char uniq[MSG_ID_BUF];
            msg_uniq_id_new(uniq, sizeof uniq);
            props += (props.empty() ? "" : "\x02") + std::string("UNIQ_KEY\x01", 9) + uniq;
            if (!extra_props.empty())
                props += "\x02" + extra_props;
            off = store(topic, qid, body, props, 0, now_ms(), reconsume);
        });
        return off;
    }
    size_t queue_size(const std::string &topic, int qid) {
        std::lock_guard<std::mutex> g(m);
        auto it = queues.find({topic, qid});
        return it == queues.end() ? 0 : it->second.size();
    }
    void set_offset(const std::string &group, const std::string &topic, int qid, int64_t off) {
        std::lock_guard<std::mutex> g(m);
        offsets[key(group, topic, qid)] = off;
    }
    int64_t offset_of(const std::string &group, const std::string &topic, int qid) {
        std::lock_guard<std::mutex> g(m);
        auto it = offsets.find(key(group, topic, qid));
        return it == offsets.end() ? -1 : it->second;
    }
    // Tells every consumer of group that the group changed (NOTIFY_CONSUMER_IDS_CHANGED).
    void notify_group(const std::string &group) {
        lt.run([&] {
            for (auto &kv : client_conns) {
                Mq__RemotingHeader h = MQ__REMOTING_HEADER__INIT;
                Mq__ConsumerGroupRequestHeader cg = MQ__CONSUMER_GROUP_REQUEST_HEADER__INIT;
                h.code = RC_NOTIFY_CONSUMER_IDS_CHANGED;
                h.has_code = 1;
                cg.consumergroup = (char *)group.c_str();
                h.ext_case = MQ__REMOTING_HEADER__EXT_CONSUMER_GROUP;
                h.consumer_group = &cg;
                if (rm_conn_is_open(kv.second))
                    rm_oneway(kv.second, &h, nullptr, 0);
            }
        });
    }
    template <class F> auto with_lock(F f) {
        std::lock_guard<std::mutex> g(m);
        return f();
    }

    // ---- storage (loop thread) ----

    int64_t store(const std::string &topic, int qid, const std::string &body, const std::string &props,
                  int32_t flag, int64_t born_ms, int reconsume = 0) {
        std::lock_guard<std::mutex> g(m);
        auto &q = queues[{topic, qid}];
        msg_record r{};
        r.queue_id = qid;
        r.flag = flag;
        r.queue_offset = (int64_t)q.size();
        r.physical_offset = commit_log;
        r.born_timestamp = born_ms;
        msg_host_set(&r.born_host, "127.0.0.1", 40000);
        r.store_timestamp = now_ms();
        msg_host_set(&r.store_host, "127.0.0.1", port);
        r.reconsume_times = reconsume;
        r.body = (const uint8_t *)body.data();
        r.body_len = (uint32_t)body.size();
        r.body_crc = msg_body_crc(body.data(), body.size());
        r.topic = topic.c_str();
        r.topic_len = (uint32_t)topic.size();
        r.properties = props.data();
        r.properties_len = (uint32_t)props.size();
        StoredMsg sm;
        sm.record.resize(msg_record_size(&r));
        msg_encode(&r, sm.record.data(), sm.record.size());
        sm.store_ms = r.store_timestamp;
        const char *tv;
        size_t tl;
        sm.tag_code = msg_prop_get(props.data(), props.size(), "TAGS", &tv, &tl) ? msg_tag_hash(tv, tl) : 0;
        commit_log += (int64_t)sm.record.size();
        q.push_back(std::move(sm));
        int64_t off = r.queue_offset;
        wake_held(topic, qid);
        return off;
    }

    // ---- handlers ----

    static void on_send(rm_conn *c, const rm_cmd *req, void *arg) {
        FakeBroker *b = static_cast<FakeBroker *>(arg);
        const Mq__SendMessageRequestHeader *sh = req->hdr->send_message;
        RecordedSend rs;
        rs.code = req->hdr->code;
        rs.oneway = (req->hdr->flag & RM_FLAG_ONEWAY) != 0;
        rs.group = sh->producergroup ? sh->producergroup : "";
        rs.topic = sh->topic ? sh->topic : "";
        rs.default_topic = sh->defaulttopic ? sh->defaulttopic : "";
        rs.properties = sh->properties ? sh->properties : "";
        rs.broker_name = sh->brokername ? sh->brokername : "";
        rs.queue_id = sh->queueid;
        rs.default_queue_nums = sh->defaulttopicqueuenums;
        rs.flag = sh->flag;
        rs.sysflag = sh->sysflag;
        rs.born_ms = sh->borntimestamp;
        rs.batch = sh->has_batch && sh->batch;
        rs.body.assign((const char *)req->body, req->body_len);
        {
            std::lock_guard<std::mutex> g(b->m);
            b->sends.push_back(rs);
        }
        if (b->silent_sends)
            return;
        int st = b->send_status;
        if (st != RS_SUCCESS && st != RS_FLUSH_DISK_TIMEOUT) {
            if (b->send_status_times > 0 && --b->send_status_times == 0)
                b->send_status = RS_SUCCESS;
            rm_reply_status(c, req, st, "scripted failure of %s", b->name.c_str());
            return;
        }
        std::string ids;
        int64_t first = -1;
        if (rs.code == RC_SEND_BATCH_MESSAGE) {
            msg_batch_iter it;
            msg_batch_iter_init(&it, req->body, req->body_len);
            msg_batch_item item;
            while (msg_batch_next(&it, &item) == 1) {
                int64_t pos = b->commit_log;
                int64_t off = b->store(rs.topic, rs.queue_id,
                                       std::string((const char *)item.body, item.body_len),
                                       std::string(item.properties, item.properties_len), item.flag, rs.born_ms);
                if (first < 0)
                    first = off;
                msg_host h;
                msg_host_set(&h, "127.0.0.1", b->port);
                char id[MSG_ID_BUF];
                msg_offset_id_encode(&h, pos, id, sizeof id);
                ids += (ids.empty() ? "" : ",") + std::string(id);
            }
        } else {
            int64_t pos = b->commit_log;
            first = b->store(rs.topic, rs.queue_id, rs.body, rs.properties, rs.flag, rs.born_ms);
            msg_host h;
            msg_host_set(&h, "127.0.0.1", b->port);
            char id[MSG_ID_BUF];
            msg_offset_id_encode(&h, pos, id, sizeof id);
            ids = id;
        }
        if (st == RS_FLUSH_DISK_TIMEOUT && b->send_status_times > 0 && --b->send_status_times == 0)
            b->send_status = RS_SUCCESS;
        Mq__RemotingHeader h = MQ__REMOTING_HEADER__INIT;
        Mq__SendMessageResponseHeader r = MQ__SEND_MESSAGE_RESPONSE_HEADER__INIT;
        h.code = st;
        h.has_code = 1;
        r.msgid = (char *)ids.c_str();
        r.queueid = rs.queue_id;
        r.has_queueid = 1;
        r.queueoffset = first;
        r.has_queueoffset = 1;
        h.ext_case = MQ__REMOTING_HEADER__EXT_SEND_MESSAGE_RESPONSE;
        h.send_message_response = &r;
        rm_reply(c, req, &h, nullptr, 0);
    }

    static void on_heartbeat(rm_conn *c, const rm_cmd *req, void *arg) {
        FakeBroker *b = static_cast<FakeBroker *>(arg);
        Mq__HeartbeatData *hb = mq__heartbeat_data__unpack(nullptr, req->body_len, req->body);
        if (!hb) {
            rm_reply_status(c, req, RS_SYSTEM_ERROR, "bad heartbeat body");
            return;
        }
        std::string id = hb->clientid ? hb->clientid : "";
        bool changed = false;
        std::string changed_group;
        {
            std::lock_guard<std::mutex> g(b->m);
            b->heartbeats.push_back(id);
            b->heartbeat_bodies.push_back(hb);
            for (size_t i = 0; i < hb->n_producerdataset; i++)
                b->heartbeat_producer_groups.push_back(hb->producerdataset[i]->groupname);
            for (size_t i = 0; i < hb->n_consumerdataset; i++) {
                std::string grp = hb->consumerdataset[i]->groupname;
                if (b->groups[grp].insert(id).second) {
                    changed = true;
                    changed_group = grp;
                }
            }
            b->client_conns[id] = c;
        }
        rm_reply_status(c, req, RS_SUCCESS, nullptr);
        if (changed)
            b->notify_others(changed_group, id);
    }

    void notify_others(const std::string &group, const std::string &except) {
        std::vector<rm_conn *> targets;
        {
            std::lock_guard<std::mutex> g(m);
            for (auto &id : groups[group])
                if (id != except && client_conns.count(id))
                    targets.push_back(client_conns[id]);
        }
        for (rm_conn *t : targets) {
            if (!rm_conn_is_open(t))
                continue;
            Mq__RemotingHeader h = MQ__REMOTING_HEADER__INIT;
            Mq__ConsumerGroupRequestHeader cg = MQ__CONSUMER_GROUP_REQUEST_HEADER__INIT;
            h.code = RC_NOTIFY_CONSUMER_IDS_CHANGED;
            h.has_code = 1;
            cg.consumergroup = (char *)group.c_str();
            h.ext_case = MQ__REMOTING_HEADER__EXT_CONSUMER_GROUP;
            h.consumer_group = &cg;
            rm_oneway(t, &h, nullptr, 0);
        }
    }

    static void on_unregister(rm_conn *c, const rm_cmd *req, void *arg) {
        FakeBroker *b = static_cast<FakeBroker *>(arg);
        const Mq__UnregisterClientRequestHeader *u = req->hdr->unregister_client;
        std::string id = u->clientid ? u->clientid : "";
        std::string grp = u->consumergroup ? u->consumergroup : "";
        bool removed = false;
        {
            std::lock_guard<std::mutex> g(b->m);
            b->unregisters.push_back(id);
            if (!grp.empty())
                removed = b->groups[grp].erase(id) > 0;
            b->client_conns.erase(id);
        }
        rm_reply_status(c, req, RS_SUCCESS, nullptr);
        if (removed)
            b->notify_others(grp, id);
    }

    // Removes a client as if its heartbeats stopped (no notify).
    void forget_client(const std::string &group, const std::string &id) {
        std::lock_guard<std::mutex> g(m);
        groups[group].erase(id);
    }

    static void on_consumer_list(rm_conn *c, const rm_cmd *req, void *arg) {
        FakeBroker *b = static_cast<FakeBroker *>(arg);
        std::string grp = req->hdr->consumer_group->consumergroup;
        std::vector<std::string> ids;
        {
            std::lock_guard<std::mutex> g(b->m);
            auto it = b->consumer_list_override.find(grp);
            if (it != b->consumer_list_override.end())
                ids = it->second;
            else
                ids.assign(b->groups[grp].begin(), b->groups[grp].end());
        }
        std::vector<char *> p;
        for (auto &s : ids)
            p.push_back((char *)s.c_str());
        Mq__GetConsumerListByGroupResponseBody body = MQ__GET_CONSUMER_LIST_BY_GROUP_RESPONSE_BODY__INIT;
        body.n_consumeridlist = p.size();
        body.consumeridlist = p.data();
        Mq__RemotingHeader h = MQ__REMOTING_HEADER__INIT;
        h.code = RS_SUCCESS;
        rm_reply_msg(c, req, &h, &body.base);
    }

    static void reply_offset(rm_conn *c, const rm_cmd *req, int64_t off) {
        Mq__RemotingHeader h = MQ__REMOTING_HEADER__INIT;
        Mq__OffsetResponseHeader o = MQ__OFFSET_RESPONSE_HEADER__INIT;
        h.code = RS_SUCCESS;
        o.offset = off;
        o.has_offset = 1;
        h.ext_case = MQ__REMOTING_HEADER__EXT_OFFSET_RESPONSE;
        h.offset_response = &o;
        rm_reply(c, req, &h, nullptr, 0);
    }

    static void on_query_offset(rm_conn *c, const rm_cmd *req, void *arg) {
        FakeBroker *b = static_cast<FakeBroker *>(arg);
        const Mq__QueryConsumerOffsetRequestHeader *q = req->hdr->query_consumer_offset;
        int64_t off = b->offset_of(q->consumergroup, q->topic, q->queueid);
        if (off < 0) {
            rm_reply_status(c, req, RS_QUERY_NOT_FOUND, "Not found, V3_0_6_SNAPSHOT maybe this group consumer boot first");
            return;
        }
        reply_offset(c, req, off);
    }

    static void on_update_offset(rm_conn *c, const rm_cmd *req, void *arg) {
        FakeBroker *b = static_cast<FakeBroker *>(arg);
        const Mq__UpdateConsumerOffsetRequestHeader *u = req->hdr->update_consumer_offset;
        {
            std::lock_guard<std::mutex> g(b->m);
            std::string k = key(u->consumergroup, u->topic, u->queueid);
            b->offsets[k] = u->commitoffset;
            b->offset_updates.push_back({k, u->commitoffset});
        }
        rm_reply_status(c, req, RS_SUCCESS, nullptr);
    }

    static void on_max_offset(rm_conn *c, const rm_cmd *req, void *arg) {
        FakeBroker *b = static_cast<FakeBroker *>(arg);
        reply_offset(c, req, (int64_t)b->queue_size(req->hdr->queue->topic, req->hdr->queue->queueid));
    }
    static void on_min_offset(rm_conn *c, const rm_cmd *req, void *arg) {
        (void)arg;
        reply_offset(c, req, 0);
    }
    static void on_search_offset(rm_conn *c, const rm_cmd *req, void *arg) {
        FakeBroker *b = static_cast<FakeBroker *>(arg);
        const Mq__SearchOffsetRequestHeader *s = req->hdr->search_offset;
        int64_t off = 0;
        {
            std::lock_guard<std::mutex> g(b->m);
            auto &q = b->queues[{s->topic, s->queueid}];
            off = (int64_t)q.size();
            for (size_t i = 0; i < q.size(); i++)
                if (q[i].store_ms >= s->timestamp) {
                    off = (int64_t)i;
                    break;
                }
        }
        reply_offset(c, req, off);
    }

    // Records matching sub from offset; returns the body and the next offset.
    bool collect(const std::string &topic, int qid, int64_t offset, int max, const std::string &sub,
                 const std::string &expr_type, std::string &body, int64_t &next, int64_t &maxoff) {
        std::lock_guard<std::mutex> g(m);
        auto &q = queues[{topic, qid}];
        maxoff = (int64_t)q.size();
        mq_subscription s;
        char err[128];
        mq_subscription_parse(sub.c_str(), expr_type.empty() ? nullptr : expr_type.c_str(), &s, err, sizeof err);
        int n = 0;
        int64_t i = offset;
        for (; i < maxoff && n < max; i++) {
            if (!mq_subscription_match_code(&s, q[(size_t)i].tag_code))
                continue;
            body.append((const char *)q[(size_t)i].record.data(), q[(size_t)i].record.size());
            n++;
        }
        mq_subscription_free(&s);
        next = i;
        return n > 0;
    }

    void answer_pull(rm_reply_to *to, int code, const std::string &body, int64_t next, int64_t maxoff) {
        Mq__RemotingHeader h = MQ__REMOTING_HEADER__INIT;
        Mq__PullMessageResponseHeader p = MQ__PULL_MESSAGE_RESPONSE_HEADER__INIT;
        h.code = code;
        h.has_code = 1;
        p.nextbeginoffset = next;
        p.has_nextbeginoffset = 1;
        p.minoffset = 0;
        p.has_minoffset = 1;
        p.maxoffset = maxoff;
        p.has_maxoffset = 1;
        p.suggestwhichbrokerid = 0;
        p.has_suggestwhichbrokerid = 1;
        h.ext_case = MQ__REMOTING_HEADER__EXT_PULL_MESSAGE_RESPONSE;
        h.pull_message_response = &p;
        rm_respond(to, &h, body.data(), body.size());
    }

    static void on_pull(rm_conn *c, const rm_cmd *req, void *arg) {
        FakeBroker *b = static_cast<FakeBroker *>(arg);
        const Mq__PullMessageRequestHeader *p = req->hdr->pull_message;
        RecordedPull rp;
        rp.group = p->consumergroup ? p->consumergroup : "";
        rp.topic = p->topic ? p->topic : "";
        rp.subscription = p->subscription ? p->subscription : "";
        rp.expression_type = p->expressiontype ? p->expressiontype : "";
        rp.queue_id = p->queueid;
        rp.max_nums = p->maxmsgnums;
        rp.sysflag = p->sysflag;
        rp.offset = p->queueoffset;
        rp.commit_offset = p->commitoffset;
        rp.suspend_ms = p->suspendtimeoutmillis;
        {
            std::lock_guard<std::mutex> g(b->m);
            b->pulls.push_back(rp);
            if ((p->sysflag & PULL_FLAG_COMMIT_OFFSET) && p->commitoffset >= 0)
                b->offsets[key(rp.group, rp.topic, rp.queue_id)] = p->commitoffset;
        }
        rm_reply_to to;
        rm_defer(c, req, &to);
        if (b->fail_pulls > 0) {
            b->fail_pulls--;
            rm_respond_status(&to, RS_SYSTEM_ERROR, "scripted pull failure");
            return;
        }
        int moved = b->offset_moved_to.exchange(-1);
        if (moved >= 0) {
            b->answer_pull(&to, RS_PULL_OFFSET_MOVED, "", moved, (int64_t)b->queue_size(rp.topic, rp.queue_id));
            return;
        }
        std::string body;
        int64_t next, maxoff;
        if (b->collect(rp.topic, rp.queue_id, rp.offset, rp.max_nums, rp.subscription, rp.expression_type, body,
                       next, maxoff)) {
            b->answer_pull(&to, RS_SUCCESS, body, next, maxoff);
            return;
        }
        if (next > rp.offset) { // only non-matching messages: skip them
            b->answer_pull(&to, RS_PULL_RETRY_IMMEDIATELY, "", next, maxoff);
            return;
        }
        if (!(p->sysflag & PULL_FLAG_SUSPEND) || p->suspendtimeoutmillis <= 0) {
            b->answer_pull(&to, RS_PULL_NOT_FOUND, "", rp.offset, maxoff);
            return;
        }
        HeldPull *hp = new HeldPull();
        hp->to = to;
        hp->topic = rp.topic;
        hp->subscription = rp.subscription;
        hp->expr_type = rp.expression_type;
        hp->queue_id = rp.queue_id;
        hp->max_nums = rp.max_nums;
        hp->offset = rp.offset;
        hp->broker = b;
        ev_timer_init(&hp->timer, on_hold_timeout, p->suspendtimeoutmillis / 1000.0, 0.);
        hp->timer.data = hp;
        ev_timer_start(b->lt.loop(), &hp->timer);
        b->held.push_back(hp);
    }

    static void on_hold_timeout(struct ev_loop *, ev_timer *w, int) {
        HeldPull *hp = static_cast<HeldPull *>(w->data);
        FakeBroker *b = hp->broker;
        b->held.erase(std::remove(b->held.begin(), b->held.end(), hp), b->held.end());
        b->answer_pull(&hp->to, RS_PULL_NOT_FOUND, "", hp->offset, (int64_t)b->queues[{hp->topic, hp->queue_id}].size());
        delete hp;
    }

    // Called with m held (from store).
    void wake_held(const std::string &topic, int qid) {
        std::vector<HeldPull *> ready;
        for (HeldPull *hp : held)
            if (hp->topic == topic && hp->queue_id == qid)
                ready.push_back(hp);
        if (ready.empty())
            return;
        held.erase(std::remove_if(held.begin(), held.end(),
                                  [&](HeldPull *h) { return std::find(ready.begin(), ready.end(), h) != ready.end(); }),
                   held.end());
        m.unlock();
        for (HeldPull *hp : ready) {
            ev_timer_stop(lt.loop(), &hp->timer);
            std::string body;
            int64_t next, maxoff;
            if (collect(hp->topic, hp->queue_id, hp->offset, hp->max_nums, hp->subscription, hp->expr_type, body,
                        next, maxoff))
                answer_pull(&hp->to, RS_SUCCESS, body, next, maxoff);
            else
                answer_pull(&hp->to, next > hp->offset ? RS_PULL_RETRY_IMMEDIATELY : RS_PULL_NOT_FOUND, "", next,
                            maxoff);
            delete hp;
        }
        m.lock();
    }

    static void on_send_back(rm_conn *c, const rm_cmd *req, void *arg) {
        FakeBroker *b = static_cast<FakeBroker *>(arg);
        const Mq__ConsumerSendMsgBackRequestHeader *s = req->hdr->consumer_send_msg_back;
        RecordedSendBack r;
        r.offset = s->offset;
        r.group = s->group ? s->group : "";
        r.origin_msg_id = s->originmsgid ? s->originmsgid : "";
        r.origin_topic = s->origintopic ? s->origintopic : "";
        r.delay_level = s->delaylevel;
        r.max_reconsume_times = s->has_maxreconsumetimes ? s->maxreconsumetimes : -1; // -1: absent
        {
            std::lock_guard<std::mutex> g(b->m);
            b->send_backs.push_back(r);
        }
        rm_reply_status(c, req, b->send_back_status, b->send_back_status ? "scripted send-back failure" : nullptr);
    }

    static void on_lock(rm_conn *c, const rm_cmd *req, void *arg) {
        FakeBroker *b = static_cast<FakeBroker *>(arg);
        b->lock_requests++;
        Mq__LockBatchRequestBody *body = mq__lock_batch_request_body__unpack(nullptr, req->body_len, req->body);
        std::vector<Mq__MessageQueue *> ok;
        {
            std::lock_guard<std::mutex> g(b->m);
            for (size_t i = 0; i < body->n_mqset; i++) {
                Mq__MessageQueue *q = body->mqset[i];
                std::string k = key(body->consumergroup, q->topic, q->queueid);
                auto it = b->locks.find(k);
                if (it == b->locks.end() || it->second == body->clientid) {
                    b->locks[k] = body->clientid;
                    ok.push_back(q);
                }
            }
        }
        Mq__LockBatchResponseBody resp = MQ__LOCK_BATCH_RESPONSE_BODY__INIT;
        resp.n_lockokmqset = ok.size();
        resp.lockokmqset = ok.data();
        Mq__RemotingHeader h = MQ__REMOTING_HEADER__INIT;
        h.code = RS_SUCCESS;
        rm_reply_msg(c, req, &h, &resp.base);
        mq__lock_batch_request_body__free_unpacked(body, nullptr);
    }

    static void on_unlock(rm_conn *c, const rm_cmd *req, void *arg) {
        FakeBroker *b = static_cast<FakeBroker *>(arg);
        b->unlock_requests++;
        Mq__LockBatchRequestBody *body = mq__lock_batch_request_body__unpack(nullptr, req->body_len, req->body);
        {
            std::lock_guard<std::mutex> g(b->m);
            for (size_t i = 0; i < body->n_mqset; i++) {
                Mq__MessageQueue *q = body->mqset[i];
                std::string k = key(body->consumergroup, q->topic, q->queueid);
                auto it = b->locks.find(k);
                if (it != b->locks.end() && it->second == body->clientid)
                    b->locks.erase(it);
            }
        }
        rm_reply_status(c, req, RS_SUCCESS, nullptr);
        mq__lock_batch_request_body__free_unpacked(body, nullptr);
    }
};

// Property value of a raw property string ("k\x01v\x02..."), or "" if absent.
inline std::string prop_of(const std::string &props, const std::string &key) {
    const char *v;
    size_t n;
    if (msg_prop_get(props.data(), props.size(), key.c_str(), &v, &n))
        return std::string(v, n);
    return "";
}
