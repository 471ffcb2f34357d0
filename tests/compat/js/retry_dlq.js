'use strict';
/*
 * retry_dlq.js - consumer failure: ali-ons sends the message back
 * (CONSUMER_SEND_MSG_BACK, delayLevel 0), the broker redelivers it through
 * %RETRY%<group> with reconsumeTimes + 1 after delay level 3 + reconsumeTimes,
 * and after maxReconsumeTimes (2) failures it goes to %DLQ%<group>. A message
 * that fails once is delivered exactly twice and never dead-lettered.
 */
const { assert, log, tolerate, producer, consumer, message, waitFor, invoke, run } = require('./common');

run(async cfg => {
  tolerate(/QUERY_NOT_FOUND|no committed offset/);
  tolerate(/process mq message failed.*planned failure/);
  const seen = { always: [], once: [] };
  const c = await consumer({
    consumerGroup: cfg.group, consumeFromWhere: 'CONSUME_FROM_FIRST_OFFSET', maxReconsumeTimes: 2,
  });
  c.subscribe(cfg.topic, '*', async msg => {
    const kind = msg.keys;
    seen[kind].push({ reconsumeTimes: msg.reconsumeTimes, at: Date.now(), topic: msg.topic, msgId: msg.msgId,
      origin: msg.originMessageId, retryTopic: msg.retryTopic, body: msg.body.toString() });
    if (kind === 'always' || msg.reconsumeTimes === 0)
      throw new Error(`planned failure of ${kind} #${msg.reconsumeTimes}`);
  });
  const p = await producer({ producerGroup: cfg.group + '_P' });
  const ra = await p.send(message(cfg.topic, 'TagR', 'fails always', { keys: 'always' }));
  const ro = await p.send(message(cfg.topic, 'TagR', 'fails once', { keys: 'once' }));
  assert.strictEqual(ra.sendStatus, 'SEND_OK');
  assert.strictEqual(ro.sendStatus, 'SEND_OK');

  const dlq = `%DLQ%${cfg.group}`;
  await waitFor('3 deliveries of "always" and 2 of "once"', () => seen.always.length >= 3 && seen.once.length >= 2);
  await waitFor(`the message in ${dlq}`, async () => {
    const r = await invoke(c, cfg.broker, 30, { topic: dlq, queueId: 0 });
    return r.code === 0 && Number(r.extFields.offset) === 1;
  });
  log('deliveries:', JSON.stringify(seen));
  assert.deepStrictEqual(seen.always.map(s => s.reconsumeTimes), [ 0, 1, 2 ]);
  assert.deepStrictEqual(seen.once.map(s => s.reconsumeTimes), [ 0, 1 ]);
  for (const kind of [ 'always', 'once' ]) {
    const first = seen[kind][0];
    assert.strictEqual(first.msgId, kind === 'always' ? ra.msgId : ro.msgId);
    for (let i = 1; i < seen[kind].length; i++) {
      const s = seen[kind][i];
      // ali-ons puts the original topic back (RETRY_TOPIC property)
      assert.strictEqual(s.retryTopic, cfg.topic, `${kind} #${i}: RETRY_TOPIC`);
      assert.strictEqual(s.topic, cfg.topic, `${kind} #${i}: topic`);
      assert.strictEqual(s.origin, first.msgId, `${kind} #${i}: ORIGIN_MESSAGE_ID`);
      assert.strictEqual(s.body, seen[kind][0].body);
      assert.notStrictEqual(s.msgId, first.msgId, 'a redelivery is a new record');
      // delay level 3 + (reconsumeTimes - 1) of the broker's table
      const gap = s.at - seen[kind][i - 1].at;
      const want = cfg.levelMs[3 + (s.reconsumeTimes - 1) - 1];
      assert(gap >= want, `${kind} #${i}: redelivered after ${gap} ms, level delay ${want} ms`);
    }
  }
  const retry = await invoke(c, cfg.broker, 30, { topic: `%RETRY%${cfg.group}`, queueId: 0 });
  assert.strictEqual(Number(retry.extFields.offset), 3, '3 records went through the retry topic');
  return { dlq: 1, always: seen.always.length, once: seen.once.length, originMsgId: ra.msgId };
});
