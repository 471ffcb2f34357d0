'use strict';
/*
 * clustering.js - two CLUSTERING consumers of one group share the queues
 * (GET_CONSUMER_LIST_BY_GROUP + ali-ons' even allocation): once both see
 * each other, their queue sets are disjoint and cover the topic, and every
 * message sent afterwards is consumed by exactly one of them. The first
 * member gets the broker's NOTIFY_CONSUMER_IDS_CHANGED (40) as a JSON request
 * when the second joins.
 */
const { assert, log, tolerate, producer, consumer, message, waitFor, invoke, onServerRequest, run } = require('./common');

run(async cfg => {
  tolerate(/QUERY_NOT_FOUND|no committed offset/);
  const members = [];
  for (const name of [ 'c1', 'c2' ]) {
    const c = await consumer({
      consumerGroup: cfg.group, instanceName: name, consumeFromWhere: 'CONSUME_FROM_FIRST_OFFSET',
    });
    const m = { name, c, got: [], pushes: [] };
    onServerRequest(c, cmd => m.pushes.push(cmd));
    c.subscribe(cfg.topic, '*', async msg => { m.got.push(msg.keys); });
    members.push(m);
  }
  const queuesOf = m => [ ...m.c.processQueueTable.values() ]
    .filter(v => v.messageQueue.topic === cfg.topic).map(v => v.messageQueue.queueId).sort();
  await waitFor('both members listed by the broker', async () => {
    const r = await invoke(members[0].c, cfg.broker, 38, { consumerGroup: cfg.group });
    return r.code === 0 && JSON.parse(r.body.toString()).consumerIdList.length === 2;
  });
  await waitFor('a rebalance that splits the queues', () => {
    const a = queuesOf(members[0]);
    const b = queuesOf(members[1]);
    return a.length > 0 && b.length > 0 && a.length + b.length === cfg.queues &&
      a.every(q => !b.includes(q));
  });
  const notify = await waitFor('NOTIFY_CONSUMER_IDS_CHANGED at the first member',
    () => members[0].pushes.find(x => x.code === 40));
  assert.strictEqual(notify.extFields.consumerGroup, cfg.group);
  log(`queues: c1 ${queuesOf(members[0])}, c2 ${queuesOf(members[1])}`);
  const p = await producer({ producerGroup: cfg.group + '_P' });
  for (let i = 0; i < cfg.messages; i++)
    assert.strictEqual((await p.send(message(cfg.topic, 'T', `m-${i}`, { keys: `ck-${i}` }))).sendStatus, 'SEND_OK');
  await waitFor('every message consumed', () => members[0].got.length + members[1].got.length >= cfg.messages);
  const all = members[0].got.concat(members[1].got);
  assert.strictEqual(new Set(all).size, cfg.messages, 'each message once');
  assert.strictEqual(all.length, cfg.messages, 'no duplicates');
  assert(members.every(m => m.got.length > 0), 'both members consumed');
  return { c1: members[0].got.length, c2: members[1].got.length };
});
