/*
 * mq/transaction.h - the transactional producer: a message that becomes
 * visible to consumers only if the application's local transaction commits.
 *
 * How a transaction goes (RocketMQ's protocol):
 *   1. mq_transaction_producer_send stores the message on a broker as a
 *      *half message* (sysflag TRANSACTION_PREPARED, properties TRAN_MSG=true
 *      and PGROUP=<group>): stored, but invisible to every consumer.
 *   2. The producer calls the listener's execute callback, on the sending
 *      thread, with the message and its transaction id. The application does
 *      its local work there (e.g. writes an order row) and returns COMMIT,
 *      ROLLBACK or UNKNOWN.
 *   3. The producer reports the outcome to that broker (END_TRANSACTION).
 *      COMMIT makes the message visible in its topic exactly once; ROLLBACK
 *      makes it vanish; UNKNOWN changes nothing yet.
 *   4. A half message still without an outcome after the broker's
 *      transactionTimeOut (6 s by default) - UNKNOWN, a lost report, a
 *      producer that crashed between 1 and 3 - is *checked back*: the broker
 *      sends CHECK_TRANSACTION_STATE to one live member of the producer group
 *      (any member: possibly another process than the sender), whose check
 *      callback looks the transaction up and answers COMMIT, ROLLBACK or
 *      UNKNOWN (asked again at the broker's next check round, up to its
 *      maximum number of checks).
 *
 * Threads
 *   execute runs on the thread that called mq_transaction_producer_send.
 *   check runs on the producer's check threads ("mq-txcheck-N",
 *   check_thread_count of them), never on the I/O thread, so it may block
 *   (query a database, make a blocking send). Both may run concurrently on
 *   several threads (different transactions) and must be thread-safe.
 *
 * Guarantees
 *   - The message is visible to consumers only after a COMMIT reached the
 *     broker, from execute or from check; never after ROLLBACK.
 *   - The check callback must answer from durable local state: it is the
 *     only way a transaction whose sender crashed gets resolved. The same
 *     transaction may be checked more than once (UNKNOWN answers, a lost
 *     report), and a check may arrive while execute is still running for it
 *     (if execute takes longer than transactionTimeOut): answer UNKNOWN
 *     while the local transaction is undecided.
 *   - A member of the group is asked only if the broker knows it from its
 *     heartbeats: a member that only serves check-backs (sends nothing)
 *     calls mq_transaction_producer_announce for its topics.
 *
 * Life cycle: mq_transaction_producer_new -> _start -> (_announce) ->
 * _send from any number of threads -> _shutdown -> _destroy.
 */
#ifndef MQ_MQ_TRANSACTION_H
#define MQ_MQ_TRANSACTION_H

#include <stdbool.h>
#include <stdint.h>

#include "mq/message.h"
#include "mq/mq.h"
#include "mq/producer.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The outcome of a local transaction (RocketMQ LocalTransactionState).
 * Zero is UNKNOWN, so an outcome not yet set is never taken for a decision. */
typedef enum mq_transaction_state {
    MQ_TRANSACTION_UNKNOWN = 0,  /* not decided yet: the broker will check back */
    MQ_TRANSACTION_COMMIT = 1,   /* deliver the message */
    MQ_TRANSACTION_ROLLBACK = 2, /* drop the message */
} mq_transaction_state;

/* "COMMIT", "ROLLBACK", "UNKNOWN" (static strings). */
const char *mq_transaction_state_name(mq_transaction_state s);

/* The application's side of a transaction. */
typedef struct mq_transaction_listener {
    /* Runs the local transaction for msg, on the sending thread, after the
     * half message was stored. transaction_id is the message's unique id
     * (UNIQ_KEY; what mq_message_ext_msg_id returns on the consumer side
     * and to check); send_arg is what the caller passed to
     * mq_transaction_producer_send; arg is the listener's arg. Required. */
    mq_transaction_state (*execute)(const mq_message *msg, const char *transaction_id, void *send_arg,
                                    void *arg);
    /* Says what became of the transaction of msg (the half message as the
     * broker stored it: mq_message_ext_msg_id is the transaction id; topic,
     * keys, tags, body and user properties are the sender's). Runs on a check
     * thread; msg is valid during the call only. Required. */
    mq_transaction_state (*check)(const mq_message_ext *msg, void *arg);
    void *arg;
} mq_transaction_listener;

typedef struct mq_transaction_producer_options {
    mq_producer_options producer; /* the underlying producer's options */
    int check_thread_count;       /* threads running check callbacks (1, as RocketMQ) */
    int check_queue_max;          /* check requests waiting for a check thread; more are
                                     dropped and logged: the broker asks again (2000) */
    bool end_transaction_wait;    /* false (RocketMQ): END_TRANSACTION is oneway, a lost one
                                     is resolved by check-back. true: send waits for the
                                     broker's answer and reports it in end_rc (costs one
                                     more round trip per transaction) */
} mq_transaction_producer_options;

/* Fills o with the defaults above (mq_producer_options_init for producer). */
void mq_transaction_producer_options_init(mq_transaction_producer_options *o);

typedef struct mq_transaction_producer mq_transaction_producer;

/* A transactional producer of group. namesrv_addr and the producer options
 * as for mq_producer_new. listener is copied; execute and check are
 * required. opts may be NULL. Returns MQ_OK with *out, or MQ_EINVAL. */
int mq_transaction_producer_new(const char *group, const char *namesrv_addr,
                                const mq_transaction_producer_options *opts,
                                const mq_transaction_listener *listener, mq_transaction_producer **out,
                                mq_error *err);
/* Starts the I/O thread and the check threads; from now on check-backs of
 * brokers this producer heartbeats to are answered. Returns MQ_OK,
 * MQ_ESTATE (already started or shut down) or an error. */
int mq_transaction_producer_start(mq_transaction_producer *tp, mq_error *err);
/* Makes the brokers of topic know this member (heartbeats to them from now
 * on, as a send to topic would), so that they can check back transactions
 * of the group with it before it sends anything itself. Blocking (route
 * fetch). Returns MQ_OK or the route error. */
int mq_transaction_producer_announce(mq_transaction_producer *tp, const char *topic, mq_error *err);

/* What a transactional send returns. */
typedef struct mq_transaction_send_result {
    mq_send_result send;         /* the half message: ids, queue, half-queue offset */
    mq_transaction_state state;  /* what was reported to the broker */
    bool executed;               /* execute ran (false: the half message's store was not
                                    confirmed - FLUSH_DISK_TIMEOUT etc. - and it was rolled
                                    back without running execute, as RocketMQ does) */
    int end_rc;                  /* MQ_OK: END_TRANSACTION written (end_transaction_wait:
                                    and accepted); otherwise why not - the broker resolves
                                    the transaction by check-back */
    mq_error end_error;          /* when end_rc != MQ_OK */
} mq_transaction_send_result;

/* Sends msg as a half message (blocking, retried like mq_producer_send),
 * runs listener.execute on this thread, then reports its outcome to the
 * broker. Returns MQ_OK with *result (may be NULL) once the half message is
 * stored and the outcome reported (see end_rc), or the send error (execute
 * did not run, nothing was stored). Delay levels are refused (MQ_EINVAL):
 * a transactional message cannot be delayed. Thread-safe. */
int mq_transaction_producer_send(mq_transaction_producer *tp, const mq_message *msg, void *send_arg,
                                 mq_transaction_send_result *result, mq_error *err);

/* The underlying producer, for plain (non-transactional) sends in the same
 * group. Owned by tp. */
mq_producer *mq_transaction_producer_producer(mq_transaction_producer *tp);

/* Counters since start (any thread). */
typedef struct mq_transaction_stats {
    uint64_t sent;            /* half messages stored */
    uint64_t committed;       /* COMMIT reported by send */
    uint64_t rolled_back;     /* ROLLBACK reported by send */
    uint64_t unknown;         /* UNKNOWN left by send */
    uint64_t checks;          /* check-backs received */
    uint64_t checks_answered; /* ... answered (any state) */
    uint64_t checks_dropped;  /* ... dropped: queue full, bad request, other group */
    uint64_t end_failures;    /* END_TRANSACTION that could not be sent */
} mq_transaction_stats;

void mq_transaction_producer_stats(const mq_transaction_producer *tp, mq_transaction_stats *out);

/* Stops answering check-backs (those queued are dropped: the broker asks
 * again), waits for running check callbacks, then shuts the producer down
 * (mq_producer_shutdown). Not while another thread is in a send. Idempotent. */
void mq_transaction_producer_shutdown(mq_transaction_producer *tp);
/* Shuts down if needed and frees. NULL is ignored. */
void mq_transaction_producer_destroy(mq_transaction_producer *tp);

#ifdef __cplusplus
}
#endif

#endif
