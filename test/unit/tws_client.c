/* tws_client PORT SECONDS: the requests ib-snapshot and ib-order make, sent
 * through lib/tws with one deadline, for the hostile gateway tests
 * (test/hostile.bats): connect as client 11, current time, account
 * summary, positions, account updates, contract details and a quote
 * snapshot of SPY, all open orders, executions, and a MKT order waited on
 * until it is filled. Exit 0 when every answer came, else the library's
 * status with its message on stderr: 69 closed, 74 socket error, 75 the
 * deadline passed, 76 protocol error. Error messages are shown, not
 * acted on. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diag.h"
#include "tws.h"

#define ACCT	"DU1234567"

enum { W_TIME = 1, W_SUMMARY = 2, W_POS = 4, W_UPD = 8, W_CONTRACT = 16,
	W_QUOTE = 32, W_OPEN = 64, W_EXEC = 128, W_FILL = 256, W_ALL = 511 };

int
main(int argc, char **argv)
{
	struct twsm_contract c = { .symbol = "SPY" };
	struct twsm_order o = { .c = { .symbol = "SPY" }, .action = "BUY",
	    .qty = 1, .type = "MKT", .account = ACCT,
	    .order_ref = "rebal:hostile:" ACCT };
	struct twsm_exec_filter flt = { .account = ACCT };
	struct twsm_msg *m;
	struct tws_err e;
	struct tws *t;
	long long rs, rp, ru, rc, rq, re, oid;
	double dl;
	int got = 0, rv;

	if (argc != 3) {
		fprintf(stderr, "usage: tws_client PORT SECONDS\n");
		return 64;
	}
	dl = tws_clock() + atof(argv[2]);
	if ((t = tws_connect("127.0.0.1", argv[1], 11, dl, &e)) == NULL) {
		fprintf(stderr, "tws_client: connect: %s\n", e.msg);
		return e.status;
	}
	tws_req_current_time(t);
	rs = tws_req_account_summary(t, "All", "NetLiquidation");
	rp = tws_req_positions_multi(t, ACCT, "");
	ru = tws_req_account_updates_multi(t, ACCT, "", 0);
	rc = tws_req_contract_data(t, &c);
	rq = tws_req_mkt_data(t, &c, 1);
	tws_req_all_open_orders(t);
	re = tws_req_executions(t, &flt);
	oid = tws_place_order(t, &o);
	while (got != W_ALL) {
		rv = tws_poll(t, dl, &m);
		if (rv == 0) {
			fprintf(stderr, "tws_client: deadline (have %#x)\n", got);
			tws_close(t);
			return EX_TEMPFAIL;
		}
		if (rv < 0) {
			rv = t->err.status;
			fprintf(stderr, "tws_client: %d: %s\n", rv, t->err.msg);
			tws_close(t);
			return rv;
		}
		switch (m->type) {
		case TWSM_ERROR:
			fprintf(stderr, "tws_client: error %lld %d: %s\n",
			    m->u.error.id, m->u.error.code, m->u.error.text);
			break;
		case TWSM_CURRENT_TIME:
			got |= W_TIME;
			break;
		case TWSM_ACCOUNT_SUMMARY_END:
			got |= m->u.end.req_id == rs ? W_SUMMARY : 0;
			break;
		case TWSM_POSITION_END:
			got |= m->u.end.req_id == rp ? W_POS : 0;
			break;
		case TWSM_ACCOUNT_UPDATE_MULTI_END:
			got |= m->u.end.req_id == ru ? W_UPD : 0;
			break;
		case TWSM_CONTRACT_DATA_END:
			got |= m->u.end.req_id == rc ? W_CONTRACT : 0;
			break;
		case TWSM_TICK_SNAPSHOT_END:
			got |= m->u.end.req_id == rq ? W_QUOTE : 0;
			break;
		case TWSM_OPEN_ORDER_END:
			got |= W_OPEN;
			break;
		case TWSM_EXECUTION_END:
			got |= m->u.end.req_id == re ? W_EXEC : 0;
			break;
		case TWSM_ORDER_STATUS:
			if (m->u.status.order_id == oid &&
			    strcmp(m->u.status.status, "Filled") == 0)
				got |= W_FILL;
			break;
		default:
			break;
		}
	}
	tws_close(t);
	return 0;
}
