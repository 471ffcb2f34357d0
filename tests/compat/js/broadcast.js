'use strict';
/*
 * broadcast.js - two BROADCASTING consumers of one group (two client
 * instances) each receive every message.
 */
const { assert, log, producer, consumer, message, waitFor, run } = require('./common');

run(async cfg => {
  const members = [];
  for (const name of [ 'b1', 'b2' ]) {
    const got = new Map();
    const c = await consumer({
      consumerGroup: cfg.group, isBroadcast: true, instanceName: name,
      consumeFromWhere: 'CONSUME_FROM_FIRST_OFFSET',
    });
    c.subscribe(cfg.topic, '*', async msg => {
      got.set(msg.keys, (got.get(msg.keys) || 0) + 1);
    });
    members.push({ name, got });
  }
  const p = await producer({ producerGroup: cfg.group + '_P' });
  for (let i = 0; i < cfg.messages; i++) {
    const r = await p.send(message(cfg.topic, 'TagA', `b-${i}`, { keys: `bk-${i}` }));
    assert.strictEqual(r.sendStatus, 'SEND_OK');
  }
  for (const m of members)
    await waitFor(`${m.name} to receive all ${cfg.messages}`, () => m.got.size === cfg.messages);
  for (const m of members)
    for (const [ k, n ] of m.got)
      assert.strictEqual(n, 1, `${m.name} got ${k} ${n} times`);
  log('both broadcasting members got every message once');
  return { members: members.map(m => m.got.size) };
});
