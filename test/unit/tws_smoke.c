/* tws_smoke PORT: the tws client library against a running ib-sim (its
 * built-in scenario: account DU1234567, symbol SPY, always open), through
 * every request a rebal tool makes: the same calls ib-snapshot and ib-order
 * use. Any decode error, request error or missing reply fails. TAP. */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tws.h"
#include "tap.h"

#define ACCT	"DU1234567"

static struct tws *t;
static const char *port;

/* Poll until a message of TYPE whose request/order id is ID (-2: any) comes;
 * every other message is shown. NULL on a request error for ID, a fatal
 * error, a timeout or a broken connection. */
static struct twsm_msg *
wait_for(enum twsm_type type, long long id)
{
	struct twsm_msg *m;
	double dl = tws_clock() + 10;
	long long mid;
	int rc;

	for (;;) {
		rc = tws_poll(t, dl, &m);
		if (rc == 0) {
			printf("#   timeout waiting for type %d id %lld\n", type,
			    id);
			return NULL;
		}
		if (rc < 0) {
			printf("#   %d: %s\n", t->err.status, t->err.msg);
			return NULL;
		}
		if (m->type == TWSM_ERROR) {
			printf("#   ERR id %lld code %d (%s): %s\n",
			    m->u.error.id, m->u.error.code,
			    twsm_class_name(m->u.error.cls), m->u.error.text);
			if (m->u.error.cls == TWSM_FATAL ||
			    (m->u.error.cls == TWSM_REQUEST &&
			    m->u.error.id == id && type != TWSM_ERROR))
				return NULL;
		}
		if (m->type != type)
			continue;
		switch (type) {
		case TWSM_POSITION:
			mid = m->u.position.req_id;
			break;
		case TWSM_POSITION_END:
		case TWSM_ACCOUNT_SUMMARY_END:
		case TWSM_ACCOUNT_UPDATE_MULTI_END: case TWSM_CONTRACT_DATA_END:
		case TWSM_TICK_SNAPSHOT_END: case TWSM_EXECUTION_END:
			mid = m->u.end.req_id;
			break;
		case TWSM_ACCOUNT_SUMMARY: case TWSM_ACCOUNT_UPDATE_MULTI:
			mid = m->u.value.req_id;
			break;
		case TWSM_CONTRACT_DATA:
			mid = m->u.contract.req_id;
			break;
		case TWSM_ORDER_STATUS:
			mid = m->u.status.order_id;
			break;
		case TWSM_OPEN_ORDER:
			mid = m->u.order.order_id;
			break;
		case TWSM_EXECUTION:
			mid = m->u.exec.order_id;
			break;
		case TWSM_ERROR:
			mid = m->u.error.id;
			break;
		default:
			mid = -2;
			break;
		}
		if (id == -2 || mid == id)
			return m;
	}
}

static void
account(void)
{
	struct twsm_msg *m;
	long long r;
	int net = 0;
	double dl;

	tws_req_current_time(t);
	m = wait_for(TWSM_CURRENT_TIME, -2);
	ok(m != NULL && m->u.current_time.time > 1500000000, "CURRENT_TIME");

	r = tws_req_account_summary(t, "All", "NetLiquidation,TotalCashValue,"
	    "SettledCash,AvailableFunds,BuyingPower");
	dl = tws_clock() + 10;
	while (tws_poll(t, dl, &m) == 1) {
		if (m->type == TWSM_ACCOUNT_SUMMARY && m->u.value.req_id == r &&
		    strcmp(m->u.value.tag, "NetLiquidation") == 0 &&
		    strcmp(m->u.value.account, ACCT) == 0 && m->u.value.num > 0)
			net = 1;
		if (m->type == TWSM_ACCOUNT_SUMMARY_END && m->u.end.req_id == r)
			break;
	}
	ok(net && m->type == TWSM_ACCOUNT_SUMMARY_END,
	    "ACCOUNT_SUMMARY NetLiquidation, then END");
	tws_cancel_account_summary(t, r);

	r = tws_req_positions_multi(t, ACCT, "");
	ok(wait_for(TWSM_POSITION_END, r) != NULL, "POSITION_MULTI_END");
	tws_cancel_positions_multi(t, r);

	r = tws_req_account_updates_multi(t, ACCT, "", 0);
	ok(wait_for(TWSM_ACCOUNT_UPDATE_MULTI_END, r) != NULL,
	    "ACCOUNT_UPDATE_MULTI rows and END");
	tws_cancel_account_updates_multi(t, r);
}

static long long spy_con;
static double spy_tick, spy_ask;

static void
contract_and_quote(void)
{
	struct twsm_contract c = { .symbol = "SPY" };
	struct twsm_msg *m;
	long long r;
	int bid = 0, ask = 0;
	double dl;

	r = tws_req_contract_data(t, &c);
	m = wait_for(TWSM_CONTRACT_DATA, r);
	ok(m != NULL && m->u.contract.c.con_id > 0 &&
	    m->u.contract.min_tick > 0 && *m->u.contract.time_zone &&
	    strcmp(m->u.contract.c.symbol, "SPY") == 0,
	    "CONTRACT_DATA SPY: conId, min tick, zone");
	if (m != NULL) {
		spy_con = m->u.contract.c.con_id;
		spy_tick = m->u.contract.min_tick;
	}
	ok(wait_for(TWSM_CONTRACT_DATA_END, r) != NULL, "CONTRACT_DATA_END");

	tws_req_market_data_type(t, 3);
	c.con_id = spy_con;
	r = tws_req_mkt_data(t, &c, 1);
	dl = tws_clock() + 10;
	for (;;) {
		int rc = tws_poll(t, dl, &m);

		if (rc != 1)
			break;
		if (m->type == TWSM_TICK_PRICE && m->u.tick.req_id == r) {
			if (twsm_price_kind(m->u.tick.tick_type) == TWSM_PX_BID)
				bid = m->u.tick.price > 0;
			if (twsm_price_kind(m->u.tick.tick_type) ==
			    TWSM_PX_ASK) {
				ask = m->u.tick.price > 0;
				spy_ask = m->u.tick.price;
			}
		}
		if (m->type == TWSM_TICK_SNAPSHOT_END && m->u.end.req_id == r)
			break;
	}
	ok(bid && ask, "snapshot: bid and ask, then TICK_SNAPSHOT_END");
}

static void
orders(void)
{
	struct twsm_order o = { .c = { .con_id = spy_con, .symbol = "SPY" },
	    .action = "BUY", .qty = 2, .type = "MKT", .account = ACCT,
	    .order_ref = "rebal:smoke:" ACCT };
	struct twsm_exec_filter flt = { .account = ACCT };
	struct twsm_msg *m;
	long long id, lid, r;
	int filled = 0, cancelled = 0, seen = 0, execs = 0, comm = 0;
	char exec_id[64] = "";
	double dl;

	id = tws_place_order(t, &o);
	dl = tws_clock() + 10;
	while (!(filled && comm) && tws_poll(t, dl, &m) == 1) {
		if (m->type == TWSM_ORDER_STATUS && m->u.status.order_id == id &&
		    strcmp(m->u.status.status, "Filled") == 0 &&
		    m->u.status.remaining == 0 && m->u.status.filled == 2)
			filled = 1;
		if (m->type == TWSM_EXECUTION && m->u.exec.order_id == id &&
		    m->u.exec.req_id == -1 &&
		    strcmp(m->u.exec.order_ref, o.order_ref) == 0)
			snprintf(exec_id, sizeof exec_id, "%s",
			    m->u.exec.exec_id);
		if (m->type == TWSM_COMMISSION && *exec_id &&
		    strcmp(m->u.commission.exec_id, exec_id) == 0)
			comm = 1;
		if (m->type == TWSM_ERROR)
			printf("#   ERR %lld %d %s\n", m->u.error.id,
			    m->u.error.code, m->u.error.text);
	}
	ok(filled, "MKT order: ORDER_STATUS Filled 2");
	ok(*exec_id && comm, "EXECUTION_DATA (reqId -1) and its "
	    "COMMISSION_REPORT");

	o.type = "LMT";
	o.qty = 1;
	o.lmt_price = floor(spy_ask * 0.5 / spy_tick) * spy_tick;
	lid = tws_place_order(t, &o);
	m = wait_for(TWSM_OPEN_ORDER, lid);
	ok(m != NULL && strcmp(m->u.order.order_type, "LMT") == 0 &&
	    fabs(m->u.order.lmt_price - o.lmt_price) < 1e-9 &&
	    strcmp(m->u.order.order_ref, o.order_ref) == 0 &&
	    !twsm_status_terminal(m->u.order.status),
	    "LMT order far below the ask rests");

	tws_req_open_orders(t);
	dl = tws_clock() + 10;
	while (tws_poll(t, dl, &m) == 1 && m->type != TWSM_OPEN_ORDER_END)
		if (m->type == TWSM_OPEN_ORDER && m->u.order.order_id == lid)
			seen = 1;
	ok(seen, "REQ_OPEN_ORDERS lists it, then OPEN_ORDER_END");

	tws_cancel_order(t, lid);
	dl = tws_clock() + 10;
	while (cancelled != 3 && tws_poll(t, dl, &m) == 1) {
		if (m->type == TWSM_ORDER_STATUS && m->u.status.order_id == lid
		    && strcmp(m->u.status.status, "Cancelled") == 0)
			cancelled |= 1;
		if (m->type == TWSM_ERROR && m->u.error.id == lid &&
		    m->u.error.code == 202 && twsm_err_order_done(202))
			cancelled |= 2;
	}
	ok(cancelled == 3, "CANCEL_ORDER: Cancelled and 202");

	o.type = "MOC";
	o.lmt_price = 0;
	id = tws_place_order(t, &o);
	m = wait_for(TWSM_ORDER_STATUS, id);
	ok(m != NULL && !twsm_status_terminal(m->u.status.status),
	    "MOC order accepted");
	tws_cancel_order(t, id);
	m = wait_for(TWSM_ERROR, id);
	ok(m != NULL && m->u.error.code == 202, "MOC cancelled");

	r = tws_req_executions(t, &flt);
	dl = tws_clock() + 10;
	comm = 0;
	while (tws_poll(t, dl, &m) == 1) {
		if (m->type == TWSM_EXECUTION && m->u.exec.req_id == r &&
		    strcmp(m->u.exec.exec_id, exec_id) == 0)
			execs++;
		if (m->type == TWSM_COMMISSION &&
		    strcmp(m->u.commission.exec_id, exec_id) == 0)
			comm++;
		if (m->type == TWSM_EXECUTION_END && m->u.end.req_id == r)
			break;
	}
	ok(execs == 1 && comm == 1, "REQ_EXECUTIONS: the fill, its "
	    "commission, EXECUTION_DATA_END");

	tws_req_all_open_orders(t);
	ok(wait_for(TWSM_OPEN_ORDER_END, -2) != NULL, "REQ_ALL_OPEN_ORDERS");
	tws_req_ids(t);
	ok(wait_for(TWSM_NEXT_VALID_ID, -2) != NULL &&
	    t->next_order_id > id, "REQ_IDS: NEXT_VALID_ID");
}

int
main(int argc, char **argv)
{
	struct tws_err e;
	struct tws *t2;

	if (argc != 2) {
		fprintf(stderr, "usage: tws_smoke PORT\n");
		return 64;
	}
	port = argv[1];
	t = tws_connect_retry("127.0.0.1", port, 11, tws_clock() + 10, &e);
	if (!ok(t != NULL, "connect to ib-sim")) {
		printf("#   %d %s\n", e.status, e.msg);
		return tap_done();
	}
	ok(t->server_version == 176 && tws_has_account(t, ACCT) &&
	    t->next_order_id > 0, "version 176, managed account, next id");
	t2 = tws_connect("127.0.0.1", port, 11, tws_clock() + 10, &e);
	ok(t2 == NULL && e.code == 326 && e.status == 75,
	    "a second connection with the same client id: 326");
	tws_close(t2);
	account();
	contract_and_quote();
	orders();
	ok(tws_flush(t, tws_clock() + 10) == 1, "flush");
	tws_close(t);
	return tap_done();
}
