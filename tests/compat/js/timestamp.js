'use strict';
/*
 * timestamp.js - a new group with CONSUME_FROM_TIMESTAMP starts each queue at
 * the first message stored at or after its consumeTimestamp
 * (SEARCH_OFFSET_BY_TIMESTAMP). Batch "before" is sent, then we wait for the
 * next whole second T (ali-ons' timestamps have second precision), then batch
 * "after": a group starting from T gets exactly the "after" batch.
 */
const { assert, log, tolerate, producer, consumer, message, waitFor, invoke, run } = require('./common');
const utils = require('ali-ons/lib/utils');

run(async cfg => {
  tolerate(/QUERY_NOT_FOUND|no committed offset/);
  const p = await producer({ producerGroup: cfg.group + '_P' });
  const send = async prefix => {
    for (let i = 0; i < cfg.messages; i++)
      assert.strictEqual((await p.send(message(cfg.topic, 'T', prefix, { keys: `${prefix}-${i}` }))).sendStatus, 'SEND_OK');
  };
  await send('before');
  const t = Math.floor(Date.now() / 1000) * 1000 + 1000; // the next whole second
  await waitFor('the next whole second', () => Date.now() >= t);
  await send('after');

  // SEARCH_OFFSET_BY_TIMESTAMP itself: T falls between the batches in every queue
  let fromT = 0;
  for (let q = 0; q < cfg.queues; q++) {
    const r = await invoke(p, cfg.broker, 29, { topic: cfg.topic, queueId: q, timestamp: t });
    assert.strictEqual(r.code, 0, `SEARCH_OFFSET_BY_TIMESTAMP: ${r.code} ${r.remark}`);
    const max = await invoke(p, cfg.broker, 30, { topic: cfg.topic, queueId: q });
    fromT += Number(max.extFields.offset) - Number(r.extFields.offset);
    const e = await invoke(p, cfg.broker, 32, { topic: cfg.topic, queueId: q });
    assert.strictEqual(e.code, 0, `GET_EARLIEST_MSG_STORETIME: ${e.code} ${e.remark}`);
    assert(Number(e.extFields.timestamp) < t, 'earliest store time is before T');
  }
  assert.strictEqual(fromT, cfg.messages, 'offsets found by time count the "after" batch');

  const got = [];
  const c = await consumer({
    consumerGroup: cfg.group, consumeFromWhere: 'CONSUME_FROM_TIMESTAMP',
    consumeTimestamp: utils.timeMillisToHumanString(t),
  });
  c.subscribe(cfg.topic, '*', async msg => { got.push(msg.keys); });
  await waitFor('the "after" batch', () => got.filter(k => k.startsWith('after')).length >= cfg.messages);
  assert.deepStrictEqual(got.filter(k => k.startsWith('before')), [], 'messages stored before T were consumed');
  assert.strictEqual(got.length, cfg.messages);
  log(`consumed ${got.length} messages stored after ${new Date(t).toISOString()}`);
  return { consumed: got.length };
});
