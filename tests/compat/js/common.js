'use strict';
/*
 * common.js - what every compatibility scenario shares: the configuration
 * the C++ harness passes (argv[2], JSON), ali-ons producers and consumers
 * pointed at our nameserver, raw RocketMQ remoting commands through ali-ons'
 * own JSON codec, waits with deadlines, and one way to finish.
 *
 * A scenario calls run(async cfg => {...}). It passes when the function
 * returns; it fails (exit status 1, reason on stderr) when it throws, when
 * a client emits an error it did not expect, or when cfg.deadlineMs passes.
 * The harness reads the last stdout line, "RESULT <json>", for its own checks.
 */
const assert = require('assert');
const util = require('util');
const { Producer, Consumer, Message } = require('ali-ons');
const RemotingCommand = require('ali-ons/lib/protocol/command/remoting_command');
const MessageDecoder = require('ali-ons/lib/message/message_decoder');
const MQProducer = require('ali-ons/lib/producer/mq_producer');
const ByteBuffer = require('byte');

const cfg = JSON.parse(process.argv[2] || '{}');
const started = Date.now();
const clients = [];

function log(...args) {
  const ms = String(Date.now() - started).padStart(6);
  console.error(`[${ms} ms]`, ...args);
}

function short(args) {
  const text = util.format(...args);
  return text.length > 300 ? text.slice(0, 300) + '...' : text;
}

// ali-ons logs through this; warnings and errors go to stderr (the test log).
const logger = {
  debug() {},
  info() {},
  warn(...args) { log('ali-ons warn:', short(args)); },
  error(...args) { log('ali-ons error:', short(args)); },
};

// Errors a scenario expects (e.g. QUERY_NOT_FOUND for a new group, which
// ali-ons reports as an error event before falling back to consumeFromWhere).
const tolerated = [
  // A consumer asks for the route of %RETRY%<group> before its first
  // heartbeat, which is what makes the broker create that topic (RocketMQ's
  // brokers behave the same); the next route poll finds it.
  /No topic route info in name server for the topic: %RETRY%/,
];
const unexpected = [];
function tolerate(re) { tolerated.push(re); }
function onClientError(who, err) {
  const text = `${err && err.name}: ${err && err.message}`;
  if (tolerated.some(re => re.test(text))) {
    log(`${who}: tolerated error: ${text}`);
    return;
  }
  log(`${who}: UNEXPECTED error: ${text}`);
  unexpected.push(`${who}: ${text}`);
}

function baseOptions(extra) {
  return Object.assign({
    nameSrv: cfg.namesrv,
    httpclient: {}, // ali-ons asserts one; unused when nameSrv is set
    clientIP: '127.0.0.1',
    logger,
    // Producers and consumers of one process share a client instance, which
    // takes the timers of whichever was created first: the same for all.
    rebalanceInterval: 500,
    persistConsumerOffsetInterval: 500,
    pollNameServerInteval: 500, // finds the %RETRY% route soon after the first heartbeat
  }, extra);
}

// The first client of a process also starts ali-ons' process-wide inner
// producer (group CLIENT_INNER_PRODUCER); its errors count too.
let innerWatched = false;
function watchInner() {
  if (!innerWatched && MQProducer.defaultProducer) {
    innerWatched = true;
    MQProducer.defaultProducer.on('error', err => onClientError('inner producer', err));
  }
}

async function producer(options) {
  const p = new Producer(baseOptions(options));
  p.on('error', err => onClientError('producer', err));
  clients.push(p);
  await p.ready();
  watchInner();
  return p;
}

async function consumer(options) {
  const c = new Consumer(baseOptions(options));
  c.on('error', err => onClientError(`consumer ${options.consumerGroup}`, err));
  clients.push(c);
  await c.ready();
  watchInner();
  return c;
}

async function close(client) {
  const i = clients.indexOf(client);
  if (i >= 0)
    clients.splice(i, 1);
  await client.close();
}

function message(topic, tags, body, props) {
  const m = new Message(topic, tags, body);
  if (props && props.keys)
    m.keys = props.keys.split(" "); // ali-ons takes a list and joins it with spaces
  if (props && props.delayTimeLevel)
    m.delayTimeLevel = props.delayTimeLevel;
  return m;
}

function sleep(ms) { return new Promise(resolve => setTimeout(resolve, ms)); }

// Polls cond() every 5 ms until it is truthy; throws naming what when the
// scenario's deadline or timeoutMs passes first.
async function waitFor(what, cond, timeoutMs) {
  // ends a little before the scenario's deadline, so the failure names what
  const until = Math.min(Date.now() + (timeoutMs || 1e9), started + cfg.deadlineMs - 1000);
  for (;;) {
    const v = await cond();
    if (v)
      return v;
    if (Date.now() >= until)
      throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

// One request through ali-ons' remoting layer (JSON header), e.g. to the
// broker: invoke(cfg.broker, 33, {offset: 123}). Resolves to the response
// RemotingCommand (code, remark, extFields, body).
async function invoke(client, addr, code, header, body) {
  const cmd = RemotingCommand.createRequestCommand(code, header);
  if (body !== undefined)
    cmd.body = Buffer.isBuffer(body) ? body : Buffer.from(JSON.stringify(body));
  return client._mqClient.invoke(addr, cmd, 5000);
}

async function oneway(client, addr, code, header) {
  const cmd = RemotingCommand.createRequestCommand(code, header);
  return client._mqClient.invokeOneway(addr, cmd);
}

// Requests the broker sends to a client (NOTIFY_CONSUMER_IDS_CHANGED,
// CHECK_TRANSACTION_STATE, ...): fn(command, address) for each, as ali-ons'
// transport decoded it (tcp-base wraps it as {id, isResponse, data}).
function onServerRequest(client, fn) {
  client._mqClient.on('request', (entity, addr) => fn(entity.data, addr));
}

// Decodes stored records (pull / view / query answers) with ali-ons' decoder.
function decodeMessages(buf) {
  const bb = ByteBuffer.allocate(buf.length);
  bb.put(buf).flip();
  return MessageDecoder.decodes(bb);
}

// Parses RocketMQ's JSON bodies as fastjson writes them: standard JSON,
// except that a map keyed by an object (e.g. ConsumeStats.offsetTable keyed
// by MessageQueue) has that object as its key. Such keys come back as the
// JSON of the parsed key object with its fields sorted (fastjson's order,
// e.g. {"brokerName":..,"queueId":..,"topic":..}). Throws on anything else.
function parseFastjson(text) {
  let i = 0;
  const ws = () => { while (i < text.length && ' \t\r\n'.includes(text[i])) i++; };
  const fail = what => { throw new Error(`bad JSON at ${i} (${what}): ${text.slice(Math.max(0, i - 40), i + 40)}`); };
  const value = () => {
    ws();
    const ch = text[i];
    if (ch === '{') {
      i++;
      const obj = {};
      ws();
      if (text[i] === '}') { i++; return obj; }
      for (;;) {
        ws();
        const k = value();
        const key = typeof k === 'string' ? k : JSON.stringify(k, Object.keys(k).sort());
        ws();
        if (text[i++] !== ':') fail('expected :');
        obj[key] = value();
        ws();
        const sep = text[i++];
        if (sep === '}') return obj;
        if (sep !== ',') fail('expected , or }');
      }
    }
    if (ch === '[') {
      i++;
      const arr = [];
      ws();
      if (text[i] === ']') { i++; return arr; }
      for (;;) {
        arr.push(value());
        ws();
        const sep = text[i++];
        if (sep === ']') return arr;
        if (sep !== ',') fail('expected , or ]');
      }
    }
    const m = /^("(?:[^"\\]|\\.)*"|-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?|true|false|null)/.exec(text.slice(i));
    if (!m) fail('expected a value');
    i += m[0].length;
    return JSON.parse(m[0]);
  };
  const v = value();
  ws();
  if (i !== text.length) fail('trailing data');
  return v;
}

function run(scenario) {
  const timer = setTimeout(() => {
    log(`FAILED: scenario deadline of ${cfg.deadlineMs} ms passed`);
    process.exit(1);
  }, cfg.deadlineMs);
  (async () => {
    let result;
    try {
      result = await scenario(cfg);
      if (unexpected.length)
        throw new Error(`clients reported errors:\n  ${unexpected.join('\n  ')}`);
      log('scenario passed; closing the clients');
      for (const c of clients.splice(0))
        await c.close();
    } catch (err) {
      log('FAILED:', err && err.stack || err);
      process.exit(1);
    }
    clearTimeout(timer);
    console.log('RESULT ' + JSON.stringify(result === undefined ? {} : result));
    // ali-ons keeps a process-wide inner producer and its timers alive.
    process.exit(0);
  })();
}

module.exports = {
  assert, cfg, log, tolerate, producer, consumer, close, message, waitFor, invoke, oneway,
  onServerRequest, decodeMessages, parseFastjson, run, sleep, Consumer, Message, RemotingCommand, MessageDecoder,
};
