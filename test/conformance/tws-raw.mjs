// A raw TWS socket client for tests: speaks the framing (4-byte length,
// NUL-terminated fields) and nothing else, so a test can send exactly the
// bytes it wants and see exactly what comes back.
//
//   node tws-raw.mjs PORT COMMAND...
//
//   greet [VERSIONS]    "API\0" + VERSIONS (default v100..176); wait for the
//                       server's version frame
//   start ID            START_API for client id ID; wait for NEXT_VALID_ID
//   send F,F,...        one frame with these fields ("" fields: ",,")
//   split F,F,...       one frame written a byte at a time
//   many F,..;F,..      several frames in one write
//   wait ID             wait for a frame whose message id is ID
//   expect F,F,...      wait for a frame with exactly these fields
//   err CODE            wait for an ERR_MSG (4) with this code
//   closed              wait for the server to close the connection
//
// Every frame received is printed as a JSON array of strings. Exit 0 when
// all commands ran, 1 when something did not come within IB_DEADLINE_MS
// (default 5000) or the connection closed early.
import net from "node:net";

const DEADLINE = Number(process.env.IB_DEADLINE_MS || 5000);
const [port, ...cmds] = process.argv.slice(2);

const sock = net.connect({ host: "127.0.0.1", port: Number(port) });
sock.setNoDelay(true);
let buf = Buffer.alloc(0), greeted = false, closed = false;
const frames = [];
let waiter = null;

function frame(fields) {
  const body = Buffer.from(fields.map((f) => f + "\0").join(""), "latin1");
  const len = Buffer.alloc(4);
  len.writeUInt32BE(body.length);
  return Buffer.concat([len, body]);
}

function parse() {
  while (buf.length >= 4) {
    const n = buf.readUInt32BE(0);
    if (buf.length < 4 + n) return;
    const f = buf.subarray(4, 4 + n).toString("latin1").split("\0");
    if (f.length && f[f.length - 1] === "") f.pop();
    buf = buf.subarray(4 + n);
    frames.push(f);
    console.log(JSON.stringify(f));
  }
}

function check() {
  if (waiter && waiter.test()) {
    const w = waiter;
    waiter = null;
    clearTimeout(w.t);
    w.resolve();
  }
}

sock.on("data", (d) => {
  buf = Buffer.concat([buf, d]);
  parse();
  check();
});
sock.on("close", () => {
  closed = true;
  check();
  if (waiter) {
    const w = waiter;
    waiter = null;
    clearTimeout(w.t);
    w.reject(new Error("connection closed"));
  }
});
sock.on("error", () => {});

let seen = 0;
function until(test, what) {
  return new Promise((resolve, reject) => {
    waiter = { test, resolve, reject };
    waiter.t = setTimeout(() => {
      waiter = null;
      reject(new Error(`no ${what} within ${DEADLINE} ms`));
    }, DEADLINE);
    check();
    if (waiter && closed) {
      clearTimeout(waiter.t);
      waiter = null;
      reject(new Error("connection closed"));
    }
  });
}

function seek(pred) {
  for (; seen < frames.length; seen++)
    if (pred(frames[seen])) {
      seen++;
      return true;
    }
  return false;
}

const fields = (s) => s.split(",");

async function run() {
  await new Promise((r) => sock.once("connect", r));
  for (const cmd of cmds) {
    const sp = cmd.indexOf(" ");
    const op = sp < 0 ? cmd : cmd.slice(0, sp);
    const arg = sp < 0 ? "" : cmd.slice(sp + 1);
    switch (op) {
    case "greet": {
      const v = Buffer.from(arg || "v100..176", "latin1");
      const len = Buffer.alloc(4);
      len.writeUInt32BE(v.length);
      sock.write(Buffer.concat([Buffer.from("API\0", "latin1"), len, v]));
      await until(() => seek(() => true), "server version");
      greeted = true;
      break;
    }
    case "start":
      sock.write(frame(["71", "2", arg, ""]));
      await until(() => seek((f) => f[0] === "9"), "NEXT_VALID_ID");
      break;
    case "send":
      sock.write(frame(fields(arg)));
      break;
    case "split":
      for (const b of frame(fields(arg))) {
        sock.write(Buffer.from([b]));
        await new Promise((r) => setImmediate(r));
      }
      break;
    case "many":
      sock.write(Buffer.concat(arg.split(";").map((m) => frame(fields(m)))));
      break;
    case "wait":
      await until(() => seek((f) => f[0] === arg), `message ${arg}`);
      break;
    case "expect":
      await until(() => seek((f) => f.join(",") === arg), `frame ${arg}`);
      break;
    case "err":
      await until(() => seek((f) => f[0] === "4" && f[3] === arg), `error ${arg}`);
      break;
    case "closed":
      if (!closed)
        await new Promise((resolve, reject) => {
          const t = setTimeout(() => reject(new Error("still open")), DEADLINE);
          sock.once("close", () => {
            clearTimeout(t);
            resolve();
          });
        });
      break;
    default:
      throw new Error(`unknown command ${op}`);
    }
  }
  void greeted;
}

run().then(() => {
  sock.destroy();
  process.exit(0);
}, (e) => {
  console.error(`tws-raw: ${e.message}`);
  sock.destroy();
  process.exit(1);
});
