'use strict';
/*
 * raw_send.js - the send requests ali-ons does not use, as RocketMQ's Java
 * client sends them, through ali-ons' JSON remoting: SEND_MESSAGE (10, full
 * header names) with a client-set UNIQ_KEY, and SEND_BATCH_MESSAGE (320,
 * one-letter keys, RocketMQ's batch body). Each answer's msgId is the offset
 * id of the stored record (comma-separated for a batch), the UNIQ_KEY stays
 * on the message, QUERY_MESSAGE finds it by unique key, and a push consumer
 * receives all of them with their tags and keys. A send to a topic nobody
 * created (defaultTopic TBW102) creates it, as the Java producer expects.
 */
const { assert, log, tolerate, producer, consumer, waitFor, invoke, decodeMessages, run,
  MessageDecoder } = require('./common');

const props = kv => Object.entries(kv).map(([ k, v ]) => `${k}\u0001${v}\u0002`).join('');

// RocketMQ's MessageDecoder.encodeMessages: per message TOTALSIZE MAGIC(0)
// BODYCRC(0) FLAG BODYLEN body PROPLEN props.
function batchBody(items) {
  const parts = items.map(it => {
    const body = Buffer.from(it.body);
    const p = Buffer.from(props(it.props));
    const b = Buffer.alloc(4 + 4 + 4 + 4 + 4 + body.length + 2 + p.length);
    let o = 0;
    o = b.writeInt32BE(b.length, o);
    o = b.writeInt32BE(0, o);
    o = b.writeInt32BE(0, o);
    o = b.writeInt32BE(0, o);
    o = b.writeInt32BE(body.length, o);
    o += body.copy(b, o);
    o = b.writeInt16BE(p.length, o);
    p.copy(b, o);
    return b;
  });
  return Buffer.concat(parts);
}

run(async cfg => {
  tolerate(/QUERY_NOT_FOUND|no committed offset/);
  const p = await producer({ producerGroup: cfg.group + '_P' });
  const uniq = '7F0000010000000000000000000000AA'; // a client id, as MessageClientIDSetter makes them
  const one = await invoke(p, cfg.broker, 10, {
    producerGroup: cfg.group + '_P', topic: cfg.topic, defaultTopic: 'TBW102', defaultTopicQueueNums: 4,
    queueId: 0, sysFlag: 0, bornTimestamp: Date.now(), flag: 0,
    properties: props({ TAGS: 'TagS', KEYS: 'single', UNIQ_KEY: uniq, WAIT: 'true' }),
    reconsumeTimes: 0, unitMode: false, batch: false,
  }, Buffer.from('single body'));
  assert.strictEqual(one.code, 0, `SEND_MESSAGE: ${one.code} ${one.remark}`);
  assert.strictEqual(one.extFields.queueId, '0');
  assert.strictEqual(MessageDecoder.decodeMessageId(one.extFields.msgId).address, cfg.broker);

  const batch = await invoke(p, cfg.broker, 320, {
    a: cfg.group + '_P', b: cfg.topic, c: 'TBW102', d: 4, e: 1, f: 0, g: Date.now(), h: 0,
    i: props({ WAIT: 'true' }), j: 0, k: false, m: true,
  }, batchBody([ 0, 1, 2 ].map(i => ({ body: `batch ${i}`, props: { TAGS: 'TagB', KEYS: `batch-${i}`, UNIQ_KEY: uniq.slice(0, 30) + `B${i}` } }))));
  assert.strictEqual(batch.code, 0, `SEND_BATCH_MESSAGE: ${batch.code} ${batch.remark}`);
  const ids = batch.extFields.msgId.split(',');
  assert.strictEqual(ids.length, 3, `batch msgId ${batch.extFields.msgId}`);
  assert.strictEqual(Number(batch.extFields.queueOffset), 0, 'first offset of the batch');

  // the stored records behind the offset ids
  for (const [ i, id ] of [ one.extFields.msgId ].concat(ids).entries()) {
    const off = Number(MessageDecoder.decodeMessageId(id).offset.toString());
    const v = await invoke(p, cfg.broker, 33, { offset: off });
    assert.strictEqual(v.code, 0, `VIEW_MESSAGE_BY_ID ${id}: ${v.code} ${v.remark}`);
    const m = decodeMessages(v.body)[0];
    assert.strictEqual(m.msgId, id);
    assert.strictEqual(m.keys, i === 0 ? 'single' : `batch-${i - 1}`);
    assert(m.properties.UNIQ_KEY, 'UNIQ_KEY kept');
  }
  // by unique key (mqadmin queryMsgByUniqueKey: QUERY_MESSAGE with _UNIQUE_KEY_QUERY)
  await waitFor('QUERY_MESSAGE by unique key', async () => {
    const q = await invoke(p, cfg.broker, 12, { topic: cfg.topic, key: uniq, maxNum: 32, beginTimestamp: 0,
      endTimestamp: Date.now() + 60000, _UNIQUE_KEY_QUERY: true });
    if (q.code !== 0)
      return false;
    const found = decodeMessages(q.body);
    return found.length === 1 && found[0].msgId === one.extFields.msgId;
  });

  // A topic nobody created: the Java producer sends with defaultTopic TBW102
  // (whose route it got instead) and the broker creates the topic
  // (autoCreateTopicEnable) with defaultTopicQueueNums queues and registers it.
  const fresh = cfg.topic + '_AUTO';
  const auto = await invoke(p, cfg.broker, 310, {
    a: cfg.group + '_P', b: fresh, c: 'TBW102', d: 3, e: 2, f: 0, g: Date.now(), h: 0,
    i: props({ TAGS: 'TagA', KEYS: 'auto' }), j: 0, k: false, m: false,
  }, Buffer.from('auto-created'));
  assert.strictEqual(auto.code, 0, `SEND_MESSAGE_V2 to a new topic: ${auto.code} ${auto.remark}`);
  const tbw = await invoke(p, cfg.namesrv, 105, { topic: 'TBW102' });
  assert.strictEqual(tbw.code, 0, `route of TBW102: ${tbw.code} ${tbw.remark}`);
  await waitFor(`the route of ${fresh}`, async () => {
    const r = await invoke(p, cfg.namesrv, 105, { topic: fresh });
    return r.code === 0 && JSON.parse(r.body.toString()).queueDatas[0].writeQueueNums === 3;
  });

  const got = new Map();
  const c = await consumer({ consumerGroup: cfg.group, consumeFromWhere: 'CONSUME_FROM_FIRST_OFFSET' });
  c.subscribe(cfg.topic, '*', async msg => { got.set(msg.keys, msg); });
  await waitFor('the 4 messages', () => got.size >= 4);
  assert.strictEqual(got.get('single').tags, 'TagS');
  assert.strictEqual(got.get('batch-2').body.toString(), 'batch 2');
  assert.strictEqual(got.get('batch-2').msgId, ids[2]);
  log(`sent 1 + 3 messages with ${one.extFields.msgId} and ${batch.extFields.msgId}`);
  return { single: one.extFields.msgId, batch: ids };
});
