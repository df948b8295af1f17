// How the official Ably SDK (npm ably) reacts to each ably-sim fault: the
// reaction the protocol prescribes must be the one the SDK shows.
// Usage: ABLY_KEY=app.key:secret node ably-faults.mjs PORT FAULT
// Prints "ok - FAULT: reaction" and exits 0, or "not ok ..." and exits 1.
import Ably from 'ably';

const port = Number(process.argv[2]);
const which = process.argv[3];
const key = process.env.ABLY_KEY;
const STEP_MS = 10000;
const opts = {
  key, endpoint: '127.0.0.1', port, tls: false, useBinaryProtocol: false,
  transports: ['web_socket'], autoConnect: false,
  realtimeRequestTimeout: 1000, disconnectedRetryTimeout: 300,
  suspendedRetryTimeout: 1000, channelRetryTimeout: 300, logLevel: 0,
  // maxIdleInterval 500 ms: the SDK's idle timer is 1.5 s
  transportParams: { heartbeatInterval: 500 },
};

function done(cond, what, detail) {
  console.log(`${cond ? 'ok' : 'not ok'} - ${which}: ${what}${cond || detail === undefined ? '' : ': ' + JSON.stringify(detail)}`);
  process.exit(cond ? 0 : 1);
}
for (const ev of ['unhandledRejection', 'uncaughtException'])
  process.on(ev, (e) => done(false, e.message || String(e)));
function within(promise, what) {
  let t;
  return Promise.race([promise, new Promise((_, rej) => {
    t = setTimeout(() => rej(new Error(`timed out: ${what}`)), STEP_MS);
  })]).finally(() => clearTimeout(t));
}
function until(emitter, events, pred, what) {
  return within(new Promise((resolve) => {
    const h = (s) => { if (pred(s)) { emitter.off(h); resolve(s); } };
    emitter.on(events, h);
  }), what);
}
async function fault(body) {
  const r = await fetch(`http://127.0.0.1:${port}/_sim/fault`, { method: 'POST', body: JSON.stringify(body) });
  const j = await r.json();
  if (r.status !== 200 || j.applied < 1) throw new Error(`fault ${body.fault} not applied: ${JSON.stringify(j)}`);
}

const rt = new Ably.Realtime(opts);
const up = until(rt.connection, 'connected', () => true, 'connected');
rt.connect();
await up;
const id = rt.connection.id;
const ch = rt.channels.get('faults');
await within(ch.attach(), 'attach');
const got = [];
await ch.subscribe((m) => got.push(m.name));
const rest = new Ably.Rest(opts);

switch (which) {
case 'disconnected': {
  const d = until(rt.connection, 'disconnected', () => true, 'disconnected');
  const a = until(ch, ['attached', 'update'], (s) => s.current === 'attached', 'reattached');
  await fault({ fault: 'disconnected', code: 80003, status: 503 });
  const ds = await d;
  const as = await a;
  done(ds.reason?.code === 80003 && rt.connection.id === id && as.resumed === true,
    'DISCONNECTED → immediate reconnect with resume, channel resumed', [ds.reason?.code, as.resumed]);
  break;
}
case 'silent': {
  const d = until(rt.connection, 'disconnected', () => true, 'idle timeout');
  const a = until(ch, ['attached', 'update'], (s) => s.current === 'attached', 'reattached');
  await fault({ fault: 'silent' });
  await rest.channels.get('faults').publish('while-silent', 'x');
  const ds = await d;
  const as = await a;
  await until(ch, 'attached', () => got.includes('while-silent'), 'replay').catch(() => {});
  done(rt.connection.id === id && as.resumed === true && got.includes('while-silent'),
    'no traffic → idle timeout, resume, the message sent while silent replayed', [ds.reason?.code, as.resumed, got]);
  break;
}
case 'detached': {
  const a = until(ch, 'attaching', () => true, 're-attach');
  const b = until(ch, 'attached', () => true, 'attached again');
  await fault({ fault: 'detached' });
  const as = await a;
  await b;
  done(as.reason?.code === 90001 && ch.state === 'attached', 'server DETACHED → immediate re-attach', as.reason);
  break;
}
case 'attached': {
  const u = until(ch, 'update', () => true, 'update');
  await fault({ fault: 'attached' });
  const us = await u;
  done(us.resumed === false && us.reason?.code === 90003, 'unsolicited ATTACHED → update, resumed false', us);
  break;
}
case 'channel_error': {
  const f = until(ch, 'failed', () => true, 'channel failed');
  await fault({ fault: 'channel_error' });
  const fs = await f;
  done(fs.reason?.code === 40160 && rt.connection.state === 'connected', 'channel ERROR → channel failed, connection stays', fs.reason);
  break;
}
case 'error': {
  const f = until(rt.connection, 'failed', () => true, 'connection failed');
  await fault({ fault: 'error', code: 50000, status: 500 });
  const fs = await f;
  done(fs.reason?.code === 50000, 'connection ERROR → failed', fs.reason);
  break;
}
case 'update': {
  const u = until(rt.connection, 'update', () => true, 'connection update');
  await fault({ fault: 'update' });
  const us = await u;
  done(rt.connection.state === 'connected' && rt.connection.id === id && us.previous === 'connected',
    'CONNECTED while connected → update event, same connection');
  break;
}
case 'close': case 'drop': {
  const a = until(ch, ['attached', 'update'], (s) => s.current === 'attached', 'reattached');
  await fault({ fault: which });
  const as = await a;
  done(rt.connection.id === id && as.resumed === true, 'transport lost → resume, channel resumed', as);
  break;
}
case 'expire': {
  const c = until(rt.connection, 'connected', () => true, 'new connection');
  const a = until(ch, ['attached', 'update'], (s) => s.current === 'attached', 'reattached');
  await fault({ fault: 'expire' });
  await fault({ fault: 'drop' });
  const cs = await c;
  const as = await a;
  done(rt.connection.id !== id && cs.reason?.code === 80008 && as.resumed === false,
    'state expired → new connection id, 80008, channel not resumed', [cs.reason, as.resumed]);
  break;
}
default:
  done(false, 'unknown fault');
}
