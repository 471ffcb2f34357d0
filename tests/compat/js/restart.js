'use strict';
/*
 * restart.js - a consumer restart resumes from the offsets it committed.
 * Run twice by the harness (cfg.phase "first", then "second", with the
 * broker restarted in between). Each phase sends cfg.messages messages with
 * keys "<phase>-i" and consumes as the same group with
 * CONSUME_FROM_FIRST_OFFSET: if the committed offsets were lost, the second
 * phase would replay the first phase's messages before its own (same queues,
 * earlier offsets), and the check fails.
 */
const { assert, log, tolerate, producer, consumer, close, message, waitFor, invoke, run } = require('./common');

run(async cfg => {
  tolerate(/QUERY_NOT_FOUND|no committed offset/); // a new group, or its retry queue
  const p = await producer({ producerGroup: cfg.group + '_P' });
  for (let i = 0; i < cfg.messages; i++)
    assert.strictEqual((await p.send(message(cfg.topic, 'T', `${cfg.phase}-${i}`, { keys: `${cfg.phase}-${i}` }))).sendStatus, 'SEND_OK');
  const got = [];
  const c = await consumer({ consumerGroup: cfg.group, consumeFromWhere: 'CONSUME_FROM_FIRST_OFFSET' });
  c.subscribe(cfg.topic, '*', async msg => { got.push(msg.keys); });
  await waitFor(`${cfg.messages} messages of phase ${cfg.phase}`,
    () => got.filter(k => k.startsWith(cfg.phase)).length >= cfg.messages);
  const stale = got.filter(k => !k.startsWith(cfg.phase));
  assert.deepStrictEqual(stale, [], 'messages of the earlier phase were consumed again');
  assert.strictEqual(got.length, cfg.messages, `got ${got.length}`);
  // close() commits the offsets (UPDATE_CONSUMER_OFFSET) and unregisters
  await close(c);
  let committed = 0;
  for (let q = 0; q < cfg.queues; q++) {
    const r = await invoke(p, cfg.broker, 14, { topic: cfg.topic, consumerGroup: cfg.group, queueId: q });
    assert.strictEqual(r.code, 0, `QUERY_CONSUMER_OFFSET queue ${q}: ${r.code} ${r.remark}`);
    committed += Number(r.extFields.offset);
  }
  const expected = cfg.messages * (cfg.phase === 'first' ? 1 : 2);
  assert.strictEqual(committed, expected, 'committed offsets cover what was consumed');
  log(`phase ${cfg.phase}: consumed ${got.length}, committed ${committed}`);
  return { consumed: got.length, committed };
});
