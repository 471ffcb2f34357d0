'use strict';
/*
 * admin.js - the requests RocketMQ's tools and clients send besides send and
 * pull, each as a JSON frame built by ali-ons' RemotingCommand, with the
 * bodies RocketMQ's mqadmin sends, and each answer parsed as fastjson would
 * (parseFastjson accepts object-keyed maps). Covers 12, 17, 21, 28, 31, 32, 33,
 * 38, 41, 42, 200, 201, 202, 203, 208, 215, 222 (with the broker's
 * RESET_CONSUMER_CLIENT_OFFSET push to the online JSON consumer), 105 and an
 * unknown code (REQUEST_CODE_NOT_SUPPORTED, connection kept).
 */
const { assert, log, tolerate, producer, consumer, message, waitFor, invoke, onServerRequest, decodeMessages, parseFastjson,
  run, MessageDecoder } = require('./common');

function ok(r, what) {
  assert.strictEqual(r.code, 0, `${what}: code ${r.code} remark ${r.remark}`);
  return r;
}
function body(r) {
  try {
    return parseFastjson(r.body ? r.body.toString() : '');
  } catch (err) {
    err.message = `answer (code ${r.code}, ${JSON.stringify(r.extFields)}) body: ${err.message}`;
    throw err;
  }
}
const mqKey = (topic, brokerName, queueId) => JSON.stringify({ brokerName, queueId, topic });

run(async cfg => {
  tolerate(/QUERY_NOT_FOUND|no committed offset/);
  const p = await producer({ producerGroup: cfg.group + '_P' });
  const B = cfg.broker;
  const newTopic = cfg.topic + '_NEW';

  // 17 UPDATE_AND_CREATE_TOPIC, then the nameserver route (105) and 21
  ok(await invoke(p, B, 17, {
    topic: newTopic, defaultTopic: 'TBW102', readQueueNums: 2, writeQueueNums: 2, perm: 6,
    topicFilterType: 'SINGLE_TAG', topicSysFlag: 0, order: false,
  }), 'UPDATE_AND_CREATE_TOPIC');
  const route = body(ok(await invoke(p, cfg.namesrv, 105, { topic: newTopic }), 'GET_ROUTEINFO_BY_TOPIC'));
  assert.strictEqual(route.queueDatas.length, 1);
  assert.strictEqual(route.queueDatas[0].brokerName, cfg.brokerName);
  assert.strictEqual(route.queueDatas[0].writeQueueNums, 2);
  assert.strictEqual(route.brokerDatas[0].brokerAddrs['0'], B);
  // 32 on a queue without messages: SUCCESS with -1, as RocketMQ answers
  const none = ok(await invoke(p, B, 32, { topic: newTopic, queueId: 1 }), 'GET_EARLIEST_MSG_STORETIME (empty)');
  assert.strictEqual(Number(none.extFields.timestamp), -1);
  const topics = body(ok(await invoke(p, B, 21, {}), 'GET_ALL_TOPIC_CONFIG'));
  assert.strictEqual(topics.topicConfigTable[newTopic].readQueueNums, 2);
  assert.strictEqual(topics.topicConfigTable[newTopic].perm, 6);
  assert(topics.dataVersion && topics.dataVersion.counter !== undefined, 'dataVersion');

  // 28 GET_BROKER_RUNTIME_INFO: a KVTable of strings
  const rt = body(ok(await invoke(p, B, 28, {}), 'GET_BROKER_RUNTIME_INFO'));
  assert(rt.table && Object.keys(rt.table).length > 0, 'runtime table');
  assert(Object.values(rt.table).every(v => typeof v === 'string'), 'runtime values are strings');

  // some messages with keys for the queries below
  const sent = [];
  for (let i = 0; i < 4; i++) {
    const r = await p.send(message(cfg.topic, 'TagQ', `q-${i}`, { keys: `qkey-${i} shared-qkey` }));
    sent.push(r);
  }

  // 33 VIEW_MESSAGE_BY_ID: by commit-log offset decoded from the offset id
  const off = Number(MessageDecoder.decodeMessageId(sent[1].msgId).offset.toString());
  const view = decodeMessages(ok(await invoke(p, B, 33, { offset: off }), 'VIEW_MESSAGE_BY_ID').body);
  assert.strictEqual(view.length, 1);
  assert.strictEqual(view[0].msgId, sent[1].msgId);
  assert.strictEqual(view[0].body.toString(), 'q-1');

  // 12 QUERY_MESSAGE by key (index), within a time range
  await waitFor('the key index', async () => {
    const q = await invoke(p, B, 12, { topic: cfg.topic, key: 'shared-qkey', maxNum: 32, beginTimestamp: 0,
      endTimestamp: Date.now() + 60000 });
    if (q.code !== 0)
      return false;
    const msgs = decodeMessages(q.body);
    assert(q.extFields.indexLastUpdateTimestamp !== undefined, 'indexLastUpdateTimestamp');
    return msgs.length === 4 && msgs.every(m => m.keys === `${m.body.toString().replace('q-', 'qkey-')} shared-qkey`);
  });

  // 31 GET_MIN_OFFSET
  assert.strictEqual(Number(ok(await invoke(p, B, 31, { topic: cfg.topic, queueId: 0 }), 'GET_MIN_OFFSET').extFields.offset), 0);

  // 200 UPDATE_AND_CREATE_SUBSCRIPTIONGROUP (body as mqadmin updateSubGroup sends it), 201
  ok(await invoke(p, B, 200, {}, {
    groupName: cfg.group, consumeEnable: true, consumeFromMinEnable: true, consumeBroadcastEnable: true,
    retryQueueNums: 1, retryMaxTimes: 5, brokerId: 0, whichBrokerWhenConsumeSlowly: 1,
    notifyConsumerIdsChangedEnable: true,
  }), 'UPDATE_AND_CREATE_SUBSCRIPTIONGROUP');
  const groups = body(ok(await invoke(p, B, 201, {}), 'GET_ALL_SUBSCRIPTIONGROUP_CONFIG'));
  assert.strictEqual(groups.subscriptionGroupTable[cfg.group].retryMaxTimes, 5);

  // a live consumer for 203, 208, 41/42, 38 and the reset push of 222
  const got = [];
  const c = await consumer({ consumerGroup: cfg.group, consumeFromWhere: 'CONSUME_FROM_FIRST_OFFSET' });
  const pushes = [];
  onServerRequest(c, cmd => pushes.push(cmd));
  c.subscribe(cfg.topic, 'TagQ', async msg => { got.push(msg.keys); });
  await waitFor('the 4 messages', () => got.length >= 4);
  const ids = body(ok(await invoke(p, B, 38, { consumerGroup: cfg.group }), 'GET_CONSUMER_LIST_BY_GROUP'));
  assert.deepStrictEqual(ids.consumerIdList, [ c._mqClient.clientId ]);

  const conn = body(ok(await invoke(p, B, 203, { consumerGroup: cfg.group }), 'GET_CONSUMER_CONNECTION_LIST'));
  assert.strictEqual(conn.connectionSet.length, 1);
  assert.strictEqual(conn.connectionSet[0].clientId, c._mqClient.clientId);
  assert.strictEqual(conn.consumeType, 'CONSUME_PASSIVELY');
  assert.strictEqual(conn.messageModel, 'CLUSTERING');
  assert(conn.subscriptionTable[cfg.topic], `subscriptionTable keyed by topic: ${JSON.stringify(conn)}`);
  assert.strictEqual(conn.subscriptionTable[cfg.topic].subString, 'TagQ');
  assert.deepStrictEqual(conn.subscriptionTable[cfg.topic].tagsSet, [ 'TagQ' ]);
  assert.strictEqual(conn.connectionSet[0].language, 'JAVA');
  assert.strictEqual(conn.connectionSet[0].version, 121);

  await waitFor('consume stats with the committed offsets', async () => {
    const st = body(ok(await invoke(p, B, 208, { consumerGroup: cfg.group, topic: cfg.topic }), 'GET_CONSUME_STATS'));
    const e = st.offsetTable[mqKey(cfg.topic, cfg.brokerName, 0)];
    assert(e, `offsetTable keyed by MessageQueue: ${Object.keys(st.offsetTable)}`);
    let lag = 0;
    for (const v of Object.values(st.offsetTable))
      lag += v.brokerOffset - v.consumerOffset;
    return lag === 0;
  });
  const stats = body(ok(await invoke(p, B, 202, { topic: cfg.topic }), 'GET_TOPIC_STATS_INFO'));
  let total = 0;
  for (let q = 0; q < cfg.queues; q++)
    total += stats.offsetTable[mqKey(cfg.topic, cfg.brokerName, q)].maxOffset;
  assert.strictEqual(total, 4, 'topic stats count the messages');

  // 41 / 42 LOCK_BATCH_MQ / UNLOCK_BATCH_MQ
  const mqSet = [ 0, 1 ].map(q => ({ topic: cfg.topic, brokerName: cfg.brokerName, queueId: q }));
  const lock = body(ok(await invoke(p, B, 41, {}, { consumerGroup: cfg.group, clientId: 'lock-client', mqSet }), 'LOCK_BATCH_MQ'));
  assert.strictEqual(lock.lockOKMQSet.length, 2);
  const other = body(ok(await invoke(p, B, 41, {}, { consumerGroup: cfg.group, clientId: 'other', mqSet }), 'LOCK_BATCH_MQ other'));
  assert.strictEqual((other.lockOKMQSet || []).length, 0, 'locked by someone else');
  ok(await invoke(p, B, 42, {}, { consumerGroup: cfg.group, clientId: 'lock-client', mqSet }), 'UNLOCK_BATCH_MQ');

  // 222 INVOKE_BROKER_TO_RESET_OFFSET back to the start: answer body + JSON push to the consumer
  const reset = body(ok(await invoke(p, B, 222, { topic: cfg.topic, group: cfg.group, timestamp: 0, isForce: true }),
    'INVOKE_BROKER_TO_RESET_OFFSET'));
  assert.strictEqual(reset.offsetTable[mqKey(cfg.topic, cfg.brokerName, 0)], 0);
  const push = await waitFor('RESET_CONSUMER_CLIENT_OFFSET pushed to the consumer', () => pushes.find(x => x.code === 220));
  assert.strictEqual(push.extFields.group, cfg.group);
  assert.strictEqual(push.extFields.topic, cfg.topic);
  assert.strictEqual(parseFastjson(push.body.toString()).offsetTable[mqKey(cfg.topic, cfg.brokerName, 0)], 0);

  // 215 DELETE_TOPIC_IN_BROKER
  ok(await invoke(p, B, 215, { topic: newTopic }), 'DELETE_TOPIC_IN_BROKER');
  const after = body(ok(await invoke(p, B, 21, {}), 'GET_ALL_TOPIC_CONFIG'));
  assert(!after.topicConfigTable[newTopic], 'topic deleted');

  // bad input gets an error naming it, and the connection still serves
  const badHb = await invoke(p, B, 34, {}, Buffer.from('{"clientID": "x", "consumerDataSet": [ {"groupName": '));
  assert.strictEqual(badHb.code, 1, `malformed heartbeat answered ${badHb.code}`);
  assert.match(badHb.remark, /heartbeat/);
  const badPull = await invoke(p, B, 11, { consumerGroup: cfg.group, topic: cfg.topic, queueId: 'zero', queueOffset: 0,
    maxMsgNums: 1, sysFlag: 0, commitOffset: 0, suspendTimeoutMillis: 0, subVersion: 0 });
  assert.strictEqual(badPull.code, 1, `pull with queueId "zero" answered ${badPull.code}`);
  assert.match(badPull.remark, /queueId/);

  // an unknown code: REQUEST_CODE_NOT_SUPPORTED, and the connection still serves
  const unknown = await invoke(p, B, 9999, {});
  assert.strictEqual(unknown.code, 3, `unknown code answered ${unknown.code}`);
  ok(await invoke(p, B, 31, { topic: cfg.topic, queueId: 0 }), 'a request after the unknown one');
  log('admin requests answered');
  return { pushes: pushes.map(x => x.code) };
});
