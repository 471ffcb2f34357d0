'use strict';
/*
 * transaction.js - transactional messages with check-back. ali-ons has no
 * transactional producer API, but it sends half messages (property TRAN_MSG
 * sets the PREPARED sysFlag) and hands server requests to 'request'
 * listeners, so the rest is done as a RocketMQ transactional producer does it,
 * with ali-ons' JSON remoting: END_TRANSACTION (37, oneway) after the local
 * transaction, and an answer to the broker's CHECK_TRANSACTION_STATE (39).
 * The topic has one queue, so committed messages arrive in decision order and
 * a wrongly committed message would show up before the final marker.
 */
const { assert, log, tolerate, producer, consumer, message, waitFor, oneway, onServerRequest, decodeMessages, run,
  MessageDecoder } = require('./common');

const COMMIT = 8;
const ROLLBACK = 12;

run(async cfg => {
  tolerate(/QUERY_NOT_FOUND|no committed offset/);
  const pg = cfg.group + '_TXP';
  const got = [];
  const c = await consumer({ consumerGroup: cfg.group, consumeFromWhere: 'CONSUME_FROM_FIRST_OFFSET' });
  c.subscribe(cfg.topic, '*', async msg => { got.push(msg.keys); });

  const p = await producer({ producerGroup: pg });
  const half = async key => {
    const m = message(cfg.topic, 'TagT', `tx ${key}`, { keys: key });
    m.properties.TRAN_MSG = 'true';
    m.properties.PGROUP = pg;
    const r = await p.send(m);
    assert.strictEqual(r.sendStatus, 'SEND_OK', `half ${key}: ${r.sendStatus}`);
    return r;
  };
  const end = (r, decision, fromCheck) => oneway(p, cfg.broker, 37, {
    producerGroup: pg,
    tranStateTableOffset: r.queueOffset,
    commitLogOffset: Number(MessageDecoder.decodeMessageId(r.msgId).offset.toString()),
    commitOrRollback: decision,
    fromTransactionCheck: fromCheck,
    msgId: r.msgId,
  });

  const checks = [];
  const answers = { 'check-commit': COMMIT, 'check-rollback': ROLLBACK };
  onServerRequest(p, (cmd, addr) => {
    if (cmd.code !== 39)
      return;
    const body = decodeMessages(cmd.body || Buffer.alloc(0));
    const key = body.length ? body[0].keys : undefined;
    log(`CHECK_TRANSACTION_STATE from ${addr} for ${key}: ${JSON.stringify(cmd.extFields)}`);
    checks.push({ key, ext: cmd.extFields, topic: body.length ? body[0].topic : undefined });
    const decision = answers[key];
    if (decision === undefined)
      return;
    end({ queueOffset: Number(cmd.extFields.tranStateTableOffset), msgId: cmd.extFields.offsetMsgId },
      decision, true).catch(err => log('END_TRANSACTION failed:', err));
  });

  const r1 = await half('commit');
  await end(r1, COMMIT, false);
  const r2 = await half('rollback');
  await end(r2, ROLLBACK, false);
  const r3 = await half('check-commit');
  const r4 = await half('check-rollback');
  await waitFor('check-backs for both undecided half messages',
    () => [ 'check-commit', 'check-rollback' ].every(k => checks.some(x => x.key === k)));
  await waitFor('the committed messages', () => got.includes('commit') && got.includes('check-commit'));
  // A marker sent on the same connection after the last decision.
  assert.strictEqual((await p.send(message(cfg.topic, 'TagT', 'marker', { keys: 'marker' }))).sendStatus, 'SEND_OK');
  await waitFor('the marker', () => got.includes('marker'));
  assert.deepStrictEqual(got, [ 'commit', 'check-commit', 'marker' ], 'consumed in decision order, no rollback');

  for (const [ key, r ] of [ [ 'check-commit', r3 ], [ 'check-rollback', r4 ] ]) {
    const ch = checks.find(x => x.key === key);
    assert.strictEqual(ch.ext.offsetMsgId, r.msgId, `${key}: offsetMsgId`);
    assert.strictEqual(Number(ch.ext.tranStateTableOffset), r.queueOffset, `${key}: tranStateTableOffset`);
    assert.strictEqual(Number(ch.ext.commitLogOffset),
      Number(MessageDecoder.decodeMessageId(r.msgId).offset.toString()), `${key}: commitLogOffset`);
    assert.strictEqual(ch.topic, cfg.topic, `${key}: the checked record carries the real topic`);
  }
  assert(checks.every(x => x.key === 'check-commit' || x.key === 'check-rollback'),
    'decided half messages were not checked');
  return { checks: checks.length, consumed: got };
});
