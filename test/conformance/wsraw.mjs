// A raw WebSocket client on node's net module, for testing ably-sim at the
// frame level: it shows fragments, close frames, dropped sockets and refused
// handshakes that an SDK hides. Usage:
//   ABLY_KEY=k node wsraw.mjs PORT STEP...
// Steps run in order; each wait has a deadline of 5 s (exit 1 on a miss):
//   connect:QUERY        open a transport: GET /?QUERY ({key} and {ckey}
//                        are replaced by $ABLY_KEY and the last connectionKey,
//                        {serial} by the last channelSerial seen, URL-encoded)
//   expect:ACTION        wait for the next frame with that action
//   send:JSON            send a text frame (placeholders as for connect)
//   fault:JSON           POST /_sim/fault
//   publish:CHANNEL:JSON REST publish with $ABLY_KEY
//   closed               wait for a close frame or the end of the socket
//   refused              the handshake must not succeed
//   ping                 wait for a WebSocket ping
//   quiet:MS             no frame at all for MS milliseconds
//   unfinished           wait for a text fragment without its end
// Every event is printed as one JSON line on stdout:
//   {"http":101} {"frame":{...},"fragments":N} {"close":CODE} {"end":true}
//   {"ping":true} {"fault":{...}} {"published":STATUS}
// and for what ably-sim's hostile faults send: JSON that is not an object
// {"json":VALUE,"fragments":N} (expect:-3), a text frame that is not JSON
// (or not UTF-8) {"text":HEX,"bytes":N,"fragments":N} (expect:-1), a binary
// frame {"binary":HEX,"bytes":N} (expect:-2), an unfinished one
// {"unfinished":HEX,"bytes":N} (HEX: the bytes, the first 4096 of them).
import net from 'node:net';
import crypto from 'node:crypto';

const port = Number(process.argv[2]);
const steps = process.argv.slice(3);
const key = process.env.ABLY_KEY || '';
const WAIT = 5000;
const out = (o) => process.stdout.write(JSON.stringify(o) + '\n');

let sock = null, buf = Buffer.alloc(0), upgraded = false, status = 0;
let frames = [], seen = 0, closed = false, pings = 0, text = [], nfrag = 0;
let lastKey = '', lastSerial = '';
let wake = () => {};

function fail(why) {
  out({ fail: why });
  process.exit(1);
}
function subst(s, enc) {
  const e = enc ? encodeURIComponent : (x) => x;
  return s.replaceAll('{key}', e(key)).replaceAll('{ckey}', e(lastKey)).replaceAll('{serial}', e(lastSerial));
}
function send(opcode, payload) {
  const mask = crypto.randomBytes(4);
  const n = payload.length;
  const head = n < 126 ? Buffer.from([0x80 | opcode, 0x80 | n])
    : Buffer.from([0x80 | opcode, 0x80 | 126, n >> 8, n & 255]);
  const body = Buffer.from(payload);
  for (let i = 0; i < n; i++) body[i] ^= mask[i & 3];
  sock.write(Buffer.concat([head, mask, body]));
}
function parse() {
  if (!upgraded) {
    const i = buf.indexOf('\r\n\r\n');
    if (i < 0) return;
    status = Number(buf.subarray(0, i).toString().split(' ')[1]);
    out({ http: status });
    buf = buf.subarray(i + 4);
    if (status !== 101) { sock.destroy(); closed = true; return; }
    upgraded = true;
  }
  for (;;) {
    if (buf.length < 2) return;
    const fin = buf[0] & 0x80, op = buf[0] & 15;
    let len = buf[1] & 127, off = 2;
    if (len === 126) { if (buf.length < 4) return; len = buf.readUInt16BE(2); off = 4; }
    else if (len === 127) { if (buf.length < 10) return; len = Number(buf.readBigUInt64BE(2)); off = 10; }
    if (buf.length < off + len) return;
    const payload = buf.subarray(off, off + len);
    buf = buf.subarray(off + len);
    if (op === 1 || op === 0) {
      text.push(payload);
      nfrag++;
      if (fin) {
        const all = Buffer.concat(text);
        let f;
        try {
          f = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(all));
        } catch {
          out({ text: all.subarray(0, 4096).toString('hex'), bytes: all.length, fragments: nfrag });
          frames.push({ action: -1 });
          text = []; nfrag = 0;
          continue;
        }
        if (f === null || typeof f !== 'object' || Array.isArray(f)) {
          out({ json: f, fragments: nfrag });
          f = { action: -3 };
        } else
          out({ frame: f, fragments: nfrag });
        if (f.action === 4 && f.connectionDetails) lastKey = f.connectionDetails.connectionKey;
        if (f.channelSerial) lastSerial = f.channelSerial;
        frames.push(f);
        text = []; nfrag = 0;
      }
    } else if (op === 2) {
      out({ binary: payload.subarray(0, 4096).toString('hex'), bytes: payload.length });
      frames.push({ action: -2 });
    } else if (op === 8) {
      out({ close: len >= 2 ? payload.readUInt16BE(0) : null });
      closed = true;
      try { send(8, payload.subarray(0, 2)); } catch {}
      sock.end();
    } else if (op === 9) {
      out({ ping: true });
      pings++;
      send(10, payload);
    }
  }
}
function connect(query) {
  if (sock) sock.destroy();
  buf = Buffer.alloc(0); upgraded = false; closed = false; status = 0; frames = []; seen = 0;
  const me = sock = net.connect(port, '127.0.0.1');
  sock.on('connect', () => {
    me.write(`GET /?${subst(query, true)} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n` +
      'Upgrade: websocket\r\nConnection: Upgrade\r\n' +
      `Sec-WebSocket-Key: ${crypto.randomBytes(16).toString('base64')}\r\n` +
      'Sec-WebSocket-Version: 13\r\n\r\n');
  });
  sock.on('data', (d) => { if (me !== sock) return; buf = Buffer.concat([buf, d]); parse(); wake(); });
  sock.on('close', () => { if (me !== sock) return; if (!closed) out({ end: true }); closed = true; wake(); });
  sock.on('error', () => {});
}
function waitFor(cond, what, ms = WAIT) {
  return new Promise((resolve) => {
    const t = setTimeout(() => fail(what), ms);
    wake = () => { if (cond()) { clearTimeout(t); wake = () => {}; resolve(); } };
    wake();
  });
}
async function post(path, body, auth) {
  const headers = { 'content-type': 'application/json' };
  if (auth) headers.authorization = 'Basic ' + Buffer.from(key).toString('base64');
  const r = await fetch(`http://127.0.0.1:${port}${path}`, { method: 'POST', headers, body });
  return { status: r.status, body: await r.json() };
}

for (const step of steps) {
  const i = step.indexOf(':');
  const verb = i < 0 ? step : step.slice(0, i), arg = i < 0 ? '' : step.slice(i + 1);
  switch (verb) {
  case 'connect': connect(arg); break;
  case 'expect': {
    const a = Number(arg);
    await waitFor(() => {
      while (seen < frames.length) if (frames[seen++].action === a) return true;
      return false;
    }, step);
    break;
  }
  case 'send': send(1, Buffer.from(subst(arg, false))); break;
  case 'fault': { const r = await post('/_sim/fault', arg, false); out({ fault: r.body }); break; }
  case 'publish': {
    const j = arg.indexOf(':');
    const r = await post(`/channels/${encodeURIComponent(arg.slice(0, j))}/messages`, arg.slice(j + 1), true);
    out({ published: r.status });
    break;
  }
  case 'closed': await waitFor(() => closed, step); break;
  case 'unfinished': {
    await waitFor(() => text.length > 0, step);
    const all = Buffer.concat(text);
    out({ unfinished: all.subarray(0, 4096).toString('hex'), bytes: all.length });
    break;
  }
  case 'refused': await waitFor(() => closed && !upgraded, step); break;
  case 'ping': { const p = pings; await waitFor(() => pings > p, step); break; }
  case 'quiet': {
    const n = frames.length;
    await new Promise((r) => setTimeout(r, Number(arg)));
    if (frames.length !== n) fail(step);
    break;
  }
  default: fail(`unknown step ${step}`);
  }
}
if (sock) sock.destroy();
process.exit(0);
