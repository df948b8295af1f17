// Conformance of ib-sim against an independent TWS client, @stoqey/ib.
//
//   node ib.mjs PORT conformance   the rebalancer's message set, end to end
//                                  (needs test/data/ib-sim/conformance.yaml)
//   node ib.mjs PORT many N        N clients connected at once, then one more
//   node ib.mjs PORT dup ID        a second connection with a client id in use
//   node ib.mjs PORT connectivity  the gateway loses IB and gets it back
//                                  (needs test/data/ib-sim/connectivity.yaml)
//   node ib.mjs PORT order CLIENT ACCOUNT SYMBOL ACTION QTY TYPE [LIMIT [REF]]
//                                  place one order, wait for the status in
//                                  IB_WAIT_STATUS (default Filled)
//
// Prints one "ok - step" / "not ok - step: reason" line per step and exits 1
// when any step failed. Any 505 error, "Underrun" or "Decoding error" event
// (stoqey's field-count checks) fails the run, and so does any awaited reply
// that does not come within IB_DEADLINE_MS (default 5000).
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const { IBApi } = require("@stoqey/ib");

const DEADLINE = Number(process.env.IB_DEADLINE_MS || 5000);
const port = Number(process.argv[2]);
const mode = process.argv[3] || "conformance";
let failed = 0;

function report(ok, name, why) {
  if (!ok) failed++;
  console.log(ok ? `ok - ${name}` : `not ok - ${name}: ${why}`);
}

// One connection with a history of every event, so that a wait never
// misses an event that arrived in the same data chunk as an earlier one.
class Client {
  constructor(id, name = `client ${id}`) {
    this.id = id;
    this.name = name;
    this.hist = [];
    this.waiters = [];
    this.ib = new IBApi({ host: "127.0.0.1", port });
    this.ib.on("error", () => {}); // recorded through "all"
    this.ib.on("all", (ev, args) => this.push(ev, args));
  }

  push(ev, args) {
    const e = { ev, args };
    this.hist.push(e);
    if (ev === "error") {
      const msg = args[0] && args[0].message ? args[0].message : String(args[0]);
      if (args[1] === 505 || /^(Underrun|Decoding error)/.test(msg))
        report(false, `${this.name}: protocol`, `${args[1]} ${msg}`);
    }
    for (const w of [...this.waiters])
      if (w.pred(e)) w.done(e);
  }

  mark() {
    return this.hist.length;
  }

  // The first event from index FROM on that satisfies PRED.
  wait(pred, label, from = 0) {
    for (let i = from; i < this.hist.length; i++)
      if (pred(this.hist[i])) return Promise.resolve(this.hist[i]);
    return new Promise((resolve, reject) => {
      const w = {
        pred,
        done: (e) => {
          clearTimeout(w.t);
          this.waiters.splice(this.waiters.indexOf(w), 1);
          resolve(e);
        },
      };
      w.t = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(w), 1);
        reject(new Error(`no ${label} within ${DEADLINE} ms`));
      }, DEADLINE);
      this.waiters.push(w);
    });
  }

  on(ev, test = () => true, from = 0) {
    return this.wait((e) => e.ev === ev && test(...e.args), ev, from);
  }

  since(from, ev, test = () => true) {
    return this.hist.slice(from).filter((e) => e.ev === ev && test(...e.args))
      .map((e) => e.args);
  }

  errorCode(code, id, from = 0) {
    return this.wait((e) => (e.ev === "error" || e.ev === "info") &&
      (e.ev === "error" ? e.args[1] : e.args[1]) === code &&
      (id === undefined || e.ev === "info" || e.args[2] === id),
    `error ${code}`, from);
  }

  async connect() {
    const from = this.mark();
    this.ib.connect(this.id);
    await this.on("nextValidId", () => true, from);
    await this.on("managedAccounts", () => true, from);
    return this;
  }
}

async function step(name, fn) {
  try {
    await fn();
    report(true, name);
  } catch (e) {
    report(false, name, e.message);
  }
}

function check(cond, what) {
  if (!cond) throw new Error(what);
}

const SPY = { symbol: "SPY", secType: "STK", exchange: "SMART", currency: "USD" };
const QQQ = { symbol: "QQQ", secType: "STK", exchange: "SMART", currency: "USD" };
const DLY = { symbol: "DLY", secType: "STK", exchange: "SMART", currency: "USD" };
const BAD = { symbol: "BAD", secType: "STK", exchange: "SMART", currency: "USD" };

function order(action, qty, type, extra = {}) {
  return {
    action, totalQuantity: qty, orderType: type, tif: "DAY",
    account: "DU111111", orderRef: "rebal:conf:DU111111", transmit: true,
    ...extra,
  };
}

async function conformance() {
  const c = new Client(7);
  let nextId = 0, mktId = 0;

  await step("connect, managed accounts, next valid id", async () => {
    await c.connect();
    const [accts] = (await c.on("managedAccounts")).args;
    check(accts === "DU111111,DU222222", `accounts ${accts}`);
    nextId = (await c.on("nextValidId")).args[0];
    check(nextId >= 1, `next id ${nextId}`);
    await c.wait((e) => e.ev === "info" && e.args[1] === 2104, "2104");
  });

  await step("current time", async () => {
    const from = c.mark();
    c.ib.reqCurrentTime();
    const [t] = (await c.on("currentTime", () => true, from)).args;
    check(t === Date.parse("2026-03-02T15:00:00Z") / 1000, `time ${t}`);
  });

  await step("req ids", async () => {
    const from = c.mark();
    c.ib.reqIds(1);
    const [id] = (await c.on("nextValidId", () => true, from)).args;
    check(id === nextId, `next id ${id} != ${nextId}`);
  });

  await step("positions multi", async () => {
    const from = c.mark();
    c.ib.reqPositionsMulti(11, "DU111111", "");
    await c.on("positionMultiEnd", (r) => r === 11, from);
    const rows = c.since(from, "positionMulti", (r) => r === 11);
    check(rows.length === 1, `${rows.length} rows`);
    const [, acct, , contract, pos, avg] = rows[0];
    check(acct === "DU111111" && contract.symbol === "SPY" &&
      contract.conId === 756733 && pos === 100 && avg === 480.5,
    JSON.stringify(rows[0]));
  });

  await step("positions", async () => {
    const from = c.mark();
    c.ib.reqPositions();
    await c.on("positionEnd", () => true, from);
    const rows = c.since(from, "position");
    check(rows.length === 2, `${rows.length} rows`);
    c.ib.cancelPositions();
  });

  await step("account summary", async () => {
    const from = c.mark();
    c.ib.reqAccountSummary(12, "All",
      "NetLiquidation,TotalCashValue,SettledCash,AvailableFunds,BuyingPower");
    await c.on("accountSummaryEnd", (r) => r === 12, from);
    const rows = c.since(from, "accountSummary", (r) => r === 12);
    check(rows.length === 10, `${rows.length} rows`);
    const nlv = rows.find((r) => r[1] === "DU111111" && r[2] === "NetLiquidation");
    check(nlv && Number(nlv[3]) === 100000 + 100 * 500.02 && nlv[4] === "USD",
      `NetLiquidation ${nlv && nlv[3]}`);
  });

  await step("account updates multi", async () => {
    const from = c.mark();
    c.ib.reqAccountUpdatesMulti(13, "DU111111", "", false);
    await c.on("accountUpdateMultiEnd", (r) => Number(r) === 13, from);
    const rows = c.since(from, "accountUpdateMulti", (r) => r === 13);
    const cash = rows.find((r) => r[3] === "TotalCashValue");
    check(cash && Number(cash[4]) === 100000, "TotalCashValue");
  });

  await step("account updates (single)", async () => {
    const from = c.mark();
    c.ib.reqAccountUpdates(true, "DU222222");
    await c.on("accountDownloadEnd", (a) => a === "DU222222", from);
    check(c.since(from, "updatePortfolio").length === 1, "portfolio rows");
    check(c.since(from, "updateAccountTime").length === 1, "update time");
    c.ib.reqAccountUpdates(false, "DU222222");
  });

  await step("contract details", async () => {
    const from = c.mark();
    c.ib.reqContractDetails(14, SPY);
    await c.on("contractDetailsEnd", (r) => r === 14, from);
    const rows = c.since(from, "contractDetails", (r) => r === 14);
    check(rows.length === 1, `${rows.length} rows`);
    const d = rows[0][1];
    check(d.contract.conId === 756733 && d.minTick === 0.01 &&
      d.timeZoneId === "US/Eastern" && d.contract.primaryExch === "ARCA",
    JSON.stringify(d.contract));
    check(/^20260301:CLOSED;20260302:0930-20260302:1600;/.test(d.liquidHours),
      `liquid hours ${d.liquidHours}`);
    check(/20260302:0400-20260302:2000/.test(d.tradingHours),
      `trading hours ${d.tradingHours}`);
    check(d.stockType === "ETF", d.stockType);
  });

  await step("contract details: unknown symbol is error 200", async () => {
    const from = c.mark();
    c.ib.reqContractDetails(15, { ...SPY, symbol: "NOPE" });
    await c.errorCode(200, 15, from);
  });

  await step("market data type 1 + snapshot (live)", async () => {
    const from = c.mark();
    c.ib.reqMarketDataType(1);
    c.ib.reqMktData(16, SPY, "", true, false);
    await c.on("tickSnapshotEnd", (r) => r === 16, from);
    const ticks = new Map(c.since(from, "tickPrice", (r) => r === 16)
      .map((a) => [a[1], a[2]]));
    check(ticks.get(1) === 500 && ticks.get(2) === 500.05 &&
      ticks.get(4) === 500.02 && ticks.get(9) === 499.5,
    JSON.stringify([...ticks]));
    const [[, type]] = c.since(from, "marketDataType", (r) => r === 16);
    check(type === 1, `type ${type}`);
    check(c.since(from, "tickReqParams", (r) => r === 16).length === 1,
      "tick req params");
  });

  await step("market data type 3 + snapshot (delayed)", async () => {
    const from = c.mark();
    c.ib.reqMarketDataType(3);
    c.ib.reqMktData(17, DLY, "", true, false);
    await c.on("tickSnapshotEnd", (r) => r === 17, from);
    await c.errorCode(10167, 17, from);
    const ticks = new Map(c.since(from, "tickPrice", (r) => r === 17)
      .map((a) => [a[1], a[2]]));
    check(ticks.get(66) === 10 && ticks.get(67) === 10.02 &&
      ticks.get(68) === 10.01 && ticks.get(75) === 9.9,
    JSON.stringify([...ticks]));
    const [[, type]] = c.since(from, "marketDataType", (r) => r === 17);
    check(type === 3, `type ${type}`);
  });

  await step("market data type 3 with live permission gives live", async () => {
    const from = c.mark();
    c.ib.reqMktData(18, SPY, "", true, false);
    await c.on("tickSnapshotEnd", (r) => r === 18, from);
    const [[, type]] = c.since(from, "marketDataType", (r) => r === 18);
    check(type === 1, `type ${type}`);
  });

  await step("live data without permission is error 10089", async () => {
    const from = c.mark();
    c.ib.reqMarketDataType(1);
    c.ib.reqMktData(19, DLY, "", true, false);
    await c.errorCode(10089, 19, from);
  });

  await step("streaming market data and cancel", async () => {
    const from = c.mark();
    c.ib.reqMktData(20, QQQ, "", false, false);
    await c.on("tickPrice", (r, t) => r === 20 && t === 9, from);
    c.ib.cancelMktData(20);
    const f2 = c.mark();
    c.ib.cancelMktData(20);
    await c.errorCode(300, 20, f2);
  });

  // Orders: MKT fills at the ask; LMT rests until a scripted quote change;
  // LMT cancelled; MOC fills at the scripted close.
  await step("MKT order: open order, status, execution, commission", async () => {
    const id = mktId = nextId++;
    const from = c.mark();
    c.ib.placeOrder(id, SPY, order("BUY", 10, "MKT"));
    await c.on("orderStatus", (o, s) => o === id && s === "Filled", from);
    const [, , ex] = (await c.on("execDetails", (r, k, e) => e.orderId === id, from)).args;
    check(ex.price === 500.05 && ex.shares === 10 && ex.side === "BOT" &&
      ex.acctNumber === "DU111111" && ex.orderRef === "rebal:conf:DU111111",
    JSON.stringify(ex));
    const [rep] = (await c.on("commissionReport", (r) => r.execId === ex.execId, from)).args;
    check(rep.commission === 1 && rep.currency === "USD", JSON.stringify(rep));
    const opens = c.since(from, "openOrder", (o) => o === id);
    check(opens.length === 2 && opens[0][3].status === "Submitted" &&
      opens[1][3].status === "Filled", opens.map((o) => o[3].status).join());
    const o = opens[0][2];
    check(o.account === "DU111111" && o.orderRef === "rebal:conf:DU111111" &&
      o.totalQuantity === 10 && o.orderType === "MKT" && o.clientId === 7,
    JSON.stringify(o));
  });

  await step("LMT order rests, fills after a quote change", async () => {
    const id = nextId++;
    const from = c.mark();
    c.ib.placeOrder(id, QQQ, order("BUY", 5, "LMT", { lmtPrice: 419.75 }));
    await c.on("orderStatus", (o, s) => o === id && s === "Submitted", from);
    const [, , filled, remaining, avg] = (await c.on("orderStatus",
      (o, s) => o === id && s === "Filled", from)).args;
    check(filled === 5 && remaining === 0 && avg === 419.6,
      `filled ${filled} remaining ${remaining} avg ${avg}`);
  });

  await step("LMT order cancelled", async () => {
    const id = nextId++;
    const from = c.mark();
    c.ib.placeOrder(id, SPY, order("SELL", 5, "LMT", { lmtPrice: 900 }));
    await c.on("orderStatus", (o, s) => o === id && s === "Submitted", from);
    c.ib.cancelOrder(id);
    await c.on("orderStatus", (o, s) => o === id && s === "Cancelled", from);
    await c.errorCode(202, id, from);
    const f2 = c.mark();
    c.ib.cancelOrder(id);
    await c.errorCode(161, id, f2);
  });

  await step("MOC order fills at the scripted close", async () => {
    const id = nextId++;
    const from = c.mark();
    c.ib.placeOrder(id, SPY, order("BUY", 3, "MOC"));
    await c.on("orderStatus", (o, s) => o === id && s === "PreSubmitted", from);
    const [, , filled, , avg] = (await c.on("orderStatus",
      (o, s) => o === id && s === "Filled", from)).args;
    check(filled === 3 && avg === 501.25, `filled ${filled} avg ${avg}`);
    await c.on("commissionReport", () => true, from);
  });

  await step("positions multi stream sees the fills", async () => {
    const from = c.mark();
    const rows = c.since(0, "positionMulti", (r, a, m, k) => r === 11 &&
      k.symbol === "SPY");
    check(rows.at(-1)[4] === 113, `SPY ${rows.at(-1)[4]}`);
    const q = c.since(0, "positionMulti", (r, a, m, k) => r === 11 &&
      k.symbol === "QQQ");
    check(q.length === 1 && q[0][4] === 5, `QQQ ${JSON.stringify(q)}`);
    const upd = c.since(0, "accountUpdateMulti", (r, a, m, k) => r === 13 &&
      k === "TotalCashValue");
    const cash = 100000 - 10 * 500.05 - 1 - 5 * 419.6 - 1 - 3 * 501.25 - 1;
    check(Math.abs(Number(upd.at(-1)[4]) - cash) < 0.006,
      `cash ${upd.at(-1)[4]} != ${cash}`);
    void from;
  });

  await step("open orders: own; all open orders: every client", async () => {
    const id = nextId++;
    let from = c.mark();
    c.ib.placeOrder(id, SPY, order("BUY", 1, "LMT", { lmtPrice: 100 }));
    await c.on("orderStatus", (o, s) => o === id && s === "Submitted", from);
    from = c.mark();
    c.ib.reqOpenOrders();
    await c.on("openOrderEnd", () => true, from);
    let ids = c.since(from, "openOrder").map((o) => o[0]);
    check(ids.length === 1 && ids[0] === id, `own: ${ids}`);
    from = c.mark();
    c.ib.reqAllOpenOrders();
    await c.on("openOrderEnd", () => true, from);
    const all = c.since(from, "openOrder");
    ids = all.map((o) => `${o[2].clientId}/${o[0]}`).sort();
    check(ids.join() === `3/17,7/${id}`, `all: ${ids}`);
    const foreign = all.find((o) => o[2].clientId === 3)[2];
    check(foreign.orderRef === "manual-trade", foreign.orderRef);
  });

  await step("executions with commission reports", async () => {
    const from = c.mark();
    c.ib.reqExecutions(21, {});
    await c.on("execDetailsEnd", (r) => r === 21, from);
    const ex = c.since(from, "execDetails", (r) => r === 21);
    check(ex.length === 3, `${ex.length} executions`);
    check(c.since(from, "commissionReport").length === 3, "commission reports");
    const f2 = c.mark();
    c.ib.reqExecutions(22, { symbol: "QQQ" });
    await c.on("execDetailsEnd", (r) => r === 22, f2);
    check(c.since(f2, "execDetails", (r) => r === 22).length === 1, "filter");
  });

  await step("order for an account not managed is rejected (321)", async () => {
    const id = nextId++;
    const from = c.mark();
    c.ib.placeOrder(id, SPY, order("BUY", 1, "MKT", { account: "DU999999" }));
    await c.errorCode(321, id, from);
  });

  await step("scripted reject: 201 and Inactive", async () => {
    const id = nextId++;
    const from = c.mark();
    c.ib.placeOrder(id, BAD, order("BUY", 1, "MKT"));
    await c.errorCode(201, id, from);
    await c.on("orderStatus", (o, s) => o === id && s === "Inactive", from);
  });

  await step("reusing the id of a filled order is 103", async () => {
    const from = c.mark();
    c.ib.placeOrder(mktId, SPY, order("BUY", 1, "MKT"));
    await c.errorCode(103, mktId, from);
  });

  await step("next valid id after reconnect", async () => {
    const from = c.mark();
    c.ib.disconnect();
    await c.on("disconnected", () => true, from);
    const c2 = new Client(7, "client 7 again");
    await c2.connect();
    const [id] = (await c2.on("nextValidId")).args;
    check(id === nextId, `next id ${id} != ${nextId}`);
    c2.ib.disconnect();
  });
}

async function many(n) {
  const clients = [];
  await step(`${n} clients connect at once`, async () => {
    for (let i = 1; i <= n; i++) clients.push(new Client(100 + i));
    await Promise.all(clients.map((c) => c.connect()));
  });
  await step(`${n} clients served concurrently`, async () => {
    const marks = clients.map((c) => c.mark());
    clients.forEach((c) => c.ib.reqCurrentTime());
    await Promise.all(clients.map((c, i) => c.on("currentTime", () => true, marks[i])));
    clients.forEach((c, i) => c.ib.reqPositionsMulti(i + 1, "", ""));
    await Promise.all(clients.map((c, i) =>
      c.on("positionMultiEnd", (r) => r === i + 1, marks[i])));
  });
  await step("one more client is turned away", async () => {
    const extra = new Client(100 + n + 1, "extra client");
    extra.ib.connect(extra.id);
    await extra.on("disconnected");
    check(extra.since(0, "nextValidId").length === 0, "it was served");
  });
  clients.forEach((c) => c.ib.disconnect());
}

async function dup(id) {
  const a = new Client(id, "first");
  await step("first connection", () => a.connect());
  await step("second connection with the same id gets 326", async () => {
    const b = new Client(id, "second");
    b.ib.connect(id);
    await b.errorCode(326);
    await b.on("disconnected");
    check(b.since(0, "nextValidId").length === 0, "it was served");
  });
  a.ib.disconnect();
}

// IB's connectivity notices come with id -1: stoqey reports them as "info"
// events (message, code), as from a real gateway, and never as errors.
async function connectivity() {
  const c = new Client(7);
  const info = (code, from) => c.wait((e) => e.ev === "info" &&
    e.args[1] === code, `info ${code}`, from);
  const at = (e) => c.hist.indexOf(e);
  await step("connect", () => c.connect());

  await step("a market data stream", async () => {
    const from = c.mark();
    c.ib.reqMktData(31, SPY, "", false, false);
    await c.on("tickPrice", (r, t, p) => r === 31 && t === 1 && p === 500, from);
  });

  await step("1100: info with IB's text, then the farms are broken", async () => {
    const from = c.mark();
    c.ib.reqIds(1);                 // the scenario cuts IB off
    const [msg] = (await info(1100, from)).args;
    check(msg === "Connectivity between IB and Trader Workstation has been lost.",
      msg);
    await info(2103, from);
    check(c.since(from, "error", (m, code) => code === 1100).length === 0,
      "1100 also reported as an error");
  });

  await step("1102: requests made while IB was lost are answered after it, the stream catches up", async () => {
    const from = c.mark();
    c.ib.reqManagedAccts();         // held; the scenario moves SPY's bid
    c.ib.reqCurrentTime();          // held; the scenario brings IB back
    const back = await info(1102, from);
    check(back.args[0] === "Connectivity between IB and Trader Workstation " +
      "has been restored - data maintained.", back.args[0]);
    const tick = await c.on("tickPrice", (r, t, p) => r === 31 && t === 1 &&
      p === 501, from);
    const accts = await c.on("managedAccounts", () => true, from);
    const time = await c.on("currentTime", () => true, from);
    check(at(tick) > at(back) && at(accts) > at(back) && at(time) > at(back),
      "something came while IB was lost");
    await info(2104, at(back));
  });

  await step("2110, then 1101: the stream is gone and must be requested again", async () => {
    let from = c.mark();
    c.ib.reqIds(1);
    const [msg] = (await info(2110, from)).args;
    check(msg === "Connectivity between Trader Workstation and server is " +
      "broken. It will be restored automatically.", msg);
    from = c.mark();
    c.ib.reqCurrentTime();
    const [lost] = (await info(1101, from)).args;
    check(lost === "Connectivity between IB and Trader Workstation has been " +
      "restored - data lost.", lost);
    await c.on("currentTime", () => true, from);
    from = c.mark();
    c.ib.cancelMktData(31);
    await c.errorCode(300, 31, from);
    c.ib.reqMktData(32, SPY, "", false, false);
    await c.on("tickPrice", (r, t, p) => r === 32 && t === 1 && p === 501, from);
  });
  c.ib.disconnect();
}

async function one(args) {
  const [client, account, symbol, action, qty, type, limit, ref] = args;
  const c = new Client(Number(client));
  const want = process.env.IB_WAIT_STATUS || "Filled";
  await step(`${action} ${qty} ${symbol} ${type} reaches ${want}`, async () => {
    await c.connect();
    const id = (await c.on("nextValidId")).args[0];
    const from = c.mark();
    const extra = { account, orderRef: ref || "rebal:test:" + account };
    if (limit) extra.lmtPrice = Number(limit);
    c.ib.placeOrder(id, { ...SPY, symbol }, order(action, Number(qty), type, extra));
    const [, st, filled, remaining, avg] = (await c.wait((e) =>
      (e.ev === "orderStatus" && e.args[0] === id && e.args[1] === want) ||
      (e.ev === "error" && e.args[2] === id && e.args[1] < 2000 &&
       e.args[1] !== 399), want, from)).args;
    console.log(`status ${st} filled ${filled} remaining ${remaining} avg ${avg}`);
    check(st === want, `got ${st}`);
  });
  c.ib.disconnect();
}

if (!(port > 0)) {
  console.error("usage: node ib.mjs PORT conformance|many N|dup ID|connectivity|order ...");
  process.exit(64);
}
if (mode === "many") await many(Number(process.argv[4] || 32));
else if (mode === "dup") await dup(Number(process.argv[4] || 5));
else if (mode === "order") await one(process.argv.slice(4));
else if (mode === "connectivity") await connectivity();
else await conformance();
console.log(failed ? `FAIL ${failed}` : "PASS");
process.exit(failed ? 1 : 0);
