/*
 * txn_pending_bench.c - broker memory per pending transaction: sends N half
 * messages (never decided) to a running broker and reports the growth of
 * the broker's RSS and of its pending index (transactionIndexBytes in
 * runtime info), per pending transaction, plus the half-send rate.
 *
 *   txn_pending_bench -n NAMESRV -b BROKER_ADDR -p BROKER_PID [-c COUNT] [-t THREADS] [-s BODY_BYTES]
 *
 * Start the broker with a transactionTimeOut longer than the run so no
 * check-back interferes (e.g. --transactionTimeOut=3600000).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "body.pb-c.h"
#include "instance.h"
#include "message.h"
#include "protocol.h"
#include "util.h"
#include "process.h"

typedef struct job {
    mqc_instance *inst;
    const char *broker;
    long count;
    int body_bytes;
    long ok, failed;
} job;

static long rss_kib(int pid, const char *field)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    long kib = -1;
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, field, strlen(field)))
            kib = atol(line + strlen(field));
    fclose(f);
    return kib;
}

static long long runtime_value(mqc_instance *inst, const char *broker, const char *key)
{
    Mq__RemotingHeader h = MQ__REMOTING_HEADER__INIT;
    h.code = RC_GET_BROKER_RUNTIME_INFO;
    mqc_response r;
    mq_error err = {0};
    if (mqc_invoke_sync(inst, broker, &h, NULL, 0, 10000, &r, &err) != MQ_OK)
        return -1;
    long long v = -1;
    Mq__KVTable *t = mq__kvtable__unpack(NULL, r.body_len, r.body);
    for (size_t i = 0; t && i < t->n_table; i++)
        if (!strcmp(t->table[i]->key, key))
            v = atoll(t->table[i]->value);
    if (t)
        mq__kvtable__free_unpacked(t, NULL);
    mqc_response_free(&r);
    return v;
}

static void *sender(void *arg)
{
    job *j = arg;
    char *body = malloc((size_t)j->body_bytes);
    memset(body, 'x', (size_t)j->body_bytes);
    bytebuf props;
    bytebuf_init(&props);
    for (long i = 0; i < j->count; i++) {
        char uniq[MSG_ID_BUF];
        msg_uniq_id_new(uniq, sizeof uniq);
        bytebuf_clear(&props);
        msg_prop_append(&props, MSG_PROP_UNIQ_KEY, uniq);
        msg_prop_append(&props, MSG_PROP_KEYS, uniq);
        msg_prop_append(&props, MSG_PROP_TRAN_MSG, "true");
        msg_prop_append(&props, MSG_PROP_PGROUP, "bench_tx_group");
        Mq__RemotingHeader h = MQ__REMOTING_HEADER__INIT;
        Mq__SendMessageRequestHeader s = MQ__SEND_MESSAGE_REQUEST_HEADER__INIT;
        h.code = RC_SEND_MESSAGE_V2;
        s.producergroup = (char *)"bench_tx_group";
        s.topic = (char *)"TxnBench";
        s.defaulttopic = (char *)"TBW102";
        s.queueid = (int32_t)(i % 4);
        s.has_queueid = 1;
        s.sysflag = MSG_SYSFLAG_TX_PREPARED;
        s.has_sysflag = 1;
        s.borntimestamp = now_ms();
        s.has_borntimestamp = 1;
        s.properties = (char *)bytebuf_cstr(&props);
        h.ext_case = MQ__REMOTING_HEADER__EXT_SEND_MESSAGE;
        h.send_message = &s;
        mqc_response r;
        mq_error err = {0};
        if (mqc_invoke_sync(j->inst, j->broker, &h, body, (size_t)j->body_bytes, 10000, &r, &err) == MQ_OK) {
            if (r.code == RS_SUCCESS)
                j->ok++;
            else
                j->failed++;
            mqc_response_free(&r);
        } else {
            j->failed++;
        }
    }
    bytebuf_free(&props);
    free(body);
    return NULL;
}

int main(int argc, char **argv)
{
    if (process_version_asked("txn_pending_bench", argc, argv))
        return 0;
    const char *namesrv = NULL, *broker = NULL;
    int pid = 0, threads = 4, body_bytes = 100;
    long count = 200000;
    int opt;
    while ((opt = getopt(argc, argv, "n:b:p:c:t:s:")) != -1) {
        switch (opt) {
        case 'n': namesrv = optarg; break;
        case 'b': broker = optarg; break;
        case 'p': pid = atoi(optarg); break;
        case 'c': count = atol(optarg); break;
        case 't': threads = atoi(optarg); break;
        case 's': body_bytes = atoi(optarg); break;
        default:
            fprintf(stderr, "usage: %s -n NAMESRV -b BROKER_ADDR -p BROKER_PID [-c COUNT] [-t THREADS] [-s BODY_BYTES]\n",
                    argv[0]);
            return 2;
        }
    }
    if (!namesrv || !broker || pid <= 0 || threads < 1 || threads > 64 || count < 1 || body_bytes < 1) {
        fprintf(stderr, "txn_pending_bench: -n, -b and -p are required (see the file's comment)\n");
        return 2;
    }
    mqc_options o;
    mqc_options_default(&o);
    o.namesrv_addr = namesrv;
    mqc_instance *inst;
    mq_error err = {0};
    if (mqc_instance_new(&o, &inst, &err) != MQ_OK) {
        fprintf(stderr, "txn_pending_bench: %s\n", err.message);
        return 1;
    }
    long long pending0 = runtime_value(inst, broker, "transactionHalfPending");
    long long index0 = runtime_value(inst, broker, "transactionIndexBytes");
    long rss0 = rss_kib(pid, "VmRSS:"), anon0 = rss_kib(pid, "RssAnon:");
    job jobs[64];
    pthread_t th[64];
    int64_t t0 = mono_ms();
    for (int i = 0; i < threads; i++) {
        jobs[i] = (job){inst, broker, count / threads + (i < count % threads), body_bytes, 0, 0};
        pthread_create(&th[i], NULL, sender, &jobs[i]);
    }
    long ok = 0, failed = 0;
    for (int i = 0; i < threads; i++) {
        pthread_join(th[i], NULL);
        ok += jobs[i].ok;
        failed += jobs[i].failed;
    }
    int64_t ms = mono_ms() - t0;
    long long pending1 = runtime_value(inst, broker, "transactionHalfPending");
    long long index1 = runtime_value(inst, broker, "transactionIndexBytes");
    long rss1 = rss_kib(pid, "VmRSS:"), anon1 = rss_kib(pid, "RssAnon:");
    long long added = pending1 - pending0;
    printf("half messages sent: %ld ok, %ld failed in %lld ms (%.0f/s, %d threads, %d-byte bodies)\n", ok, failed,
           (long long)ms, ms ? ok * 1000.0 / ms : 0.0, threads, body_bytes);
    printf("pending: %lld -> %lld\n", pending0, pending1);
    printf("broker RSS: %ld KiB -> %ld KiB (+%ld KiB; includes page cache of the mapped CommitLog written)\n", rss0,
           rss1, rss1 - rss0);
    printf("broker anonymous memory (heap, RocksDB memtables): %ld KiB -> %ld KiB = %.1f bytes per pending transaction\n",
           anon0, anon1, added > 0 ? (anon1 - anon0) * 1024.0 / added : 0.0);
    printf("pending index: %lld -> %lld bytes = %.1f bytes per pending transaction\n", index0, index1,
           added > 0 ? (double)(index1 - index0) / added : 0.0);
    mqc_instance_free(inst);
    return failed ? 1 : 0;
}
