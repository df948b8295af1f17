// Conformance of ably-sim against the official Ably SDK (npm ably, pinned in
// package-lock.json): connect, attach, receive messages published through the
// SDK's REST client, resume after a dropped socket, a failed resume, history
// with paging. Usage: ABLY_KEY=app.key:secret node ably.mjs PORT
// Prints "ok N - what" per expectation; exits 1 on the first one missed
// within its deadline, 0 when all held.
import Ably from 'ably';

const port = Number(process.argv[2]);
const key = process.env.ABLY_KEY;
if (!port || !key) {
  console.error('usage: ABLY_KEY=key node ably.mjs PORT');
  process.exit(64);
}
const STEP_MS = 10000;
const base = `http://127.0.0.1:${port}`;
const opts = {
  key, endpoint: '127.0.0.1', port, tls: false, useBinaryProtocol: false,
  transports: ['web_socket'],
  realtimeRequestTimeout: 2000, disconnectedRetryTimeout: 300,
  suspendedRetryTimeout: 1000, channelRetryTimeout: 300, logLevel: 0,
};

let n = 0;
function ok(cond, what, detail) {
  n++;
  if (!cond) {
    console.log(`not ok ${n} - ${what}${detail === undefined ? '' : ': ' + JSON.stringify(detail)}`);
    process.exit(1);
  }
  console.log(`ok ${n} - ${what}`);
}
function within(promise, what, ms = STEP_MS) {
  let t;
  return Promise.race([promise, new Promise((_, rej) => {
    t = setTimeout(() => rej(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  })]).finally(() => clearTimeout(t));
}
// Resolve when PRED(value) holds for an event of EMITTER, or at once when
// NOW() already holds.
function until(emitter, events, pred) {
  return new Promise((resolve) => {
    const h = (s) => { if (pred(s)) { emitter.off(h); resolve(s); } };
    emitter.on(events, h);
  });
}
async function fault(body) {
  const r = await fetch(`${base}/_sim/fault`, { method: 'POST', body: JSON.stringify(body) });
  if (r.status !== 200) throw new Error(`fault ${body.fault}: HTTP ${r.status}`);
  return r.json();
}

for (const ev of ['unhandledRejection', 'uncaughtException'])
  process.on(ev, (e) => { console.log(`not ok ${n + 1} - ${e.message || e}`); process.exit(1); });
setTimeout(() => { console.log(`not ok ${n + 1} - overall deadline`); process.exit(1); }, 90000).unref();

const CH = 'conformance:etf blend/1';
const rest = new Ably.Rest(opts);
const rch = rest.channels.get(CH);
const published = [];	// ids in publish order
async function publish(...args) {
  await rch.publish(...args);
}

// 1. connect
const rt = new Ably.Realtime({ ...opts, autoConnect: false });
const connected = within(rt.connection.once('connected'), 'connected');
rt.connect();
await connected;
const id1 = rt.connection.id;
ok(typeof id1 === 'string' && id1.length > 0, 'CONNECTED with a connection id');
ok(typeof rt.connection.key === 'string' && rt.connection.key.length > 0, 'connectionDetails carry a connectionKey');

// 2. attach, subscribe
const ch = rt.channels.get(CH);
const got = [];
const arrived = [];
const changes = [];
ch.on((s) => changes.push(s));
await within(ch.subscribe((m) => { got.push(m); arrived.forEach((f) => f()); }), 'attach');
ok(ch.state === 'attached', 'channel attached');
ok(changes.some((s) => s.current === 'attached' && s.resumed === false), 'first attach is not resumed');
function received(pred, what) {
  return within(new Promise((resolve) => {
    const f = () => { if (pred()) { arrived.splice(arrived.indexOf(f), 1); resolve(); } };
    arrived.push(f);
    f();
  }), what);
}

// 3. messages published through the SDK's REST client arrive
await publish('rebalance', { exec: 'rebalance', eventId: 'e1' });
await publish([{ name: 'text', data: 'plain text' }, { name: 'list', data: [1, 2, 3] }]);
await received(() => got.length >= 3, 'three messages');
ok(got[0].name === 'rebalance' && got[0].data.exec === 'rebalance' && got[0].data.eventId === 'e1',
  'object data arrives decoded', got[0].data);
ok(got[1].data === 'plain text' && got[1].encoding == null, 'string data arrives as is');
ok(Array.isArray(got[2].data) && got[2].data.length === 3, 'array data arrives decoded');
ok(got.every((m) => typeof m.id === 'string' && m.connectionId && m.timestamp > 0),
  'messages carry id, connectionId and timestamp');
ok(new Set(got.map((m) => m.id)).size === 3, 'message ids are distinct');
published.push(...got.map((m) => m.id));

// realtime publish and ping
await within(ch.publish('realtime', 'from the realtime client'), 'realtime publish ACK');
await received(() => got.length >= 4, 'echo of the realtime publish');
ok(got[3].name === 'realtime' && got[3].connectionId === id1, 'own publish echoed with own connectionId');
published.push(got[3].id);
const rtt = await within(rt.connection.ping(), 'ping');
ok(typeof rtt === 'number', 'ping answered (HEARTBEAT id echoed)');

// 4. dropped socket, a message published meanwhile, resume
await fault({ fault: 'refuse', count: -1 });
const down = within(until(rt.connection, 'disconnected', () => true), 'disconnected after drop');
const drop = await fault({ fault: 'drop' });
ok(drop.applied === 1, 'drop fault applied to one transport', drop);
await down;
await publish('outage', 'published while disconnected');
const reattached = within(until(ch, ['attached', 'update'], (s) => s.current === 'attached'), 'reattach');
await fault({ fault: 'clear' });
const ra = await reattached;
ok(rt.connection.id === id1, 'resume keeps the connection id', [id1, rt.connection.id]);
ok(ra.resumed === true, 'reattach after resume reports resumed true', ra);
await received(() => got.some((m) => m.name === 'outage'), 'message missed during the outage');
published.push(got.find((m) => m.name === 'outage').id);
ok(got.filter((m) => m.name === 'outage').length === 1, 'missed message delivered once');
ok(new Set(got.map((m) => m.id)).size === got.length, 'no duplicates after resume');

// 5. a failed resume is reported as not resumed
const countBefore = got.length;
await fault({ fault: 'fail_resume', count: 1 });
const newConn = within(until(rt.connection, ['connected', 'update'], (s) => s.current === 'connected' && s.previous !== 'connected'), 'reconnect');
const notResumed = within(until(ch, ['attached', 'update'], (s) => s.current === 'attached'), 'reattach after failed resume');
await fault({ fault: 'drop' });
const cs = await newConn;
const id2 = rt.connection.id;
ok(id2 && id2 !== id1, 'failed resume gives a new connection id', [id1, id2]);
ok(cs.reason && cs.reason.code === 80008, 'failed resume carries error 80008', cs.reason);
const nr = await notResumed;
ok(nr.resumed === false, 'reattach after a failed resume reports resumed false', nr);
await publish('after', 'after the failed resume');
await received(() => got.some((m) => m.name === 'after'), 'message after the failed resume');
ok(got.length === countBefore + 1, 'nothing replayed on a non-resumed attach');
published.push(got.find((m) => m.name === 'after').id);

// 6. history with paging
async function all(first) {
  const items = [];
  let page = first, pages = 1;
  items.push(...page.items);
  while (page.hasNext()) {
    page = await within(page.next(), 'history next page');
    items.push(...page.items);
    pages++;
  }
  ok(page.isLast(), 'last page says so');
  return { items, pages };
}
let h = await all(await within(ch.history({ limit: 2 }), 'history'));
ok(h.pages === 3, 'six messages, limit 2: three pages', h.pages);
ok(JSON.stringify(h.items.map((m) => m.id)) === JSON.stringify([...published].reverse()),
  'history backwards: newest first, same ids as delivered', h.items.map((m) => m.id));
ok(h.items[h.items.length - 1].data.eventId === 'e1', 'history decodes object data');
h = await all(await within(rch.history({ limit: 4, direction: 'forwards' }), 'REST history forwards'));
ok(JSON.stringify(h.items.map((m) => m.id)) === JSON.stringify(published), 'REST history forwards: oldest first');
ok(h.pages === 2, 'six messages, limit 4: two pages', h.pages);
const t0 = got[0].timestamp, t3 = got[3].timestamp;
h = await all(await within(rch.history({ start: t0, end: t3, direction: 'forwards', limit: 1000 }), 'history window'));
ok(h.items.length >= 4 && h.items.every((m) => m.timestamp >= t0 && m.timestamp <= t3), 'start and end bound the window');
h = await all(await within(ch.history({ untilAttach: true, limit: 2 }), 'history untilAttach'));
ok(JSON.stringify(h.items.map((m) => m.id)) === JSON.stringify(published.slice(0, 5).reverse()),
  'untilAttach: everything before the attach point, nothing after', h.items.map((m) => m.id));

// 7. a bad key fails the connection with 40101
const bad = new Ably.Realtime({ ...opts, key: 'app.wrong:key', autoConnect: false });
const failed = within(bad.connection.once('failed'), 'bad key fails');
bad.connect();
const fs = await failed;
ok(fs.reason && fs.reason.code === 40101, 'bad key: connection failed with 40101', fs.reason);
bad.close();
let restErr;
try { await new Ably.Rest({ ...opts, key: 'app.wrong:key' }).channels.get(CH).history(); } catch (e) { restErr = e; }
ok(restErr && restErr.code === 40101 && restErr.statusCode === 401, 'bad key: REST 401 with 40101', restErr);

// 8. close
const closed = within(rt.connection.once('closed'), 'closed');
rt.close();
await closed;
ok(rt.connection.state === 'closed', 'CLOSE answered with CLOSED');
console.log(`# ${n} expectations held`);
process.exit(0);
