'use strict';
/*
 * delay.js - delay levels (message property DELAY): a message sent with
 * delayTimeLevel N reaches the consumer no earlier than the broker's level N
 * delay (cfg.delayMs) after it was sent, with its topic, tags and keys, and
 * store time - born time >= that delay. A message without a level sent at the
 * same time arrives first.
 */
const { assert, log, tolerate, producer, consumer, message, waitFor, run } = require('./common');

run(async cfg => {
  tolerate(/QUERY_NOT_FOUND|no committed offset/);
  const got = new Map();
  const c = await consumer({ consumerGroup: cfg.group, consumeFromWhere: 'CONSUME_FROM_FIRST_OFFSET' });
  c.subscribe(cfg.topic, '*', async msg => { got.set(msg.keys, { msg, at: Date.now() }); });
  const p = await producer({ producerGroup: cfg.group + '_P' });
  const sentAt = Date.now();
  const rd = await p.send(message(cfg.topic, 'TagD', 'delayed', { keys: 'delayed', delayTimeLevel: cfg.delayLevel }));
  assert.strictEqual(rd.sendStatus, 'SEND_OK');
  const rn = await p.send(message(cfg.topic, 'TagN', 'now', { keys: 'now' }));
  assert.strictEqual(rn.sendStatus, 'SEND_OK');
  await waitFor('the delayed message', () => got.has('delayed') && got.has('now'));
  const d = got.get('delayed');
  const n = got.get('now');
  const waited = d.at - sentAt;
  log(`delayed message after ${waited} ms (level ${cfg.delayLevel} = ${cfg.delayMs} ms)`);
  assert(n.at <= d.at, 'the undelayed message came first');
  assert(waited >= cfg.delayMs, `delivered after ${waited} ms, level delay is ${cfg.delayMs} ms`);
  assert(d.msg.storeTimestamp - d.msg.bornTimestamp >= cfg.delayMs - 2,
    `store - born = ${d.msg.storeTimestamp - d.msg.bornTimestamp} ms`);
  assert.strictEqual(d.msg.topic, cfg.topic);
  assert.strictEqual(d.msg.tags, 'TagD');
  assert.strictEqual(d.msg.body.toString(), 'delayed');
  return { waitedMs: waited };
});
