/* twsm_test: every decoder on frames taken from tws-protocol.md section 4
 * (real captures where the spec has them), every truncation of them (a
 * decode error), extra trailing fields (tolerated), error classes, and the
 * field layout of every encoder against section 3. TAP; exit 1 on failure. */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "twsm.h"
#include "tap.h"

/* A frame from fields separated by '|' ("a|" is "a" and ""). */
static void
frame_of(struct twsf_msg *f, const char *spec)
{
	struct twsf_buf b = {0};
	struct twsf_rd r = {0};
	const char *s, *e;

	twsf_begin(&b);
	for (s = spec;; s = e + 1) {
		e = strchr(s, '|');
		if (e == NULL)
			e = s + strlen(s);
		twsf_raw(&b, s, e - s);
		twsf_raw(&b, "", 1);
		if (*e == '\0')
			break;
	}
	twsf_end(&b);
	twsf_feed(&r, b.p, b.len);
	if (twsf_frame(&r, f) != 1)
		abort();
	twsf_buf_free(&b);
	twsf_rd_free(&r);
}

static int
decode(struct twsm_msg *m, const char *spec)
{
	struct twsf_msg f;

	frame_of(&f, spec);
	return twsm_decode(&f, m);
}

/* The first K fields of SPEC. */
static char *
prefix(const char *spec, int k)
{
	const char *s = spec;
	char *out;
	int i;

	for (i = 0; i < k && s != NULL; i++) {
		s = strchr(s, '|');
		if (s != NULL && i + 1 < k)
			s++;
	}
	if (s == NULL)
		return strdup(spec);
	out = strndup(spec, s - spec);
	return out;
}

static int
nfields(const char *spec)
{
	int n = 1;

	for (; *spec; spec++)
		n += *spec == '|';
	return n;
}

/* SPEC decodes; each shorter prefix (down to the id alone) is a decode
 * error; SPEC plus two extra fields decodes to the same type. */
static void
strict(const char *what, const char *spec)
{
	struct twsm_msg m;
	char buf[160], *p;
	int n = nfields(spec), k, bad = 0;
	enum twsm_type type;

	if (decode(&m, spec) != 0) {
		snprintf(buf, sizeof buf, "%s: decodes (err %s)", what,
		    m.err ? m.err : "-");
		ok(0, buf);
		twsm_msg_free(&m);
		return;
	}
	type = m.type;
	twsm_msg_free(&m);
	for (k = 1; k < n; k++) {
		p = prefix(spec, k);
		if (decode(&m, p) != -1 || m.err == NULL) {
			if (bad++ == 0)
				printf("# %s: %d fields decoded\n", what, k);
		}
		twsm_msg_free(&m);
		free(p);
	}
	snprintf(buf, sizeof buf, "%s: every truncation (1..%d fields) is a "
	    "decode error", what, n - 1);
	ok(bad == 0, buf);
	if (asprintf(&p, "%s|extra|9", spec) < 0)
		abort();
	snprintf(buf, sizeof buf, "%s: extra trailing fields ignored", what);
	ok(decode(&m, p) == 0 && m.type == type, buf);
	twsm_msg_free(&m);
	free(p);
}

static const char ERR_2104[] =
    "4|2|-1|2104|Market data farm connection is OK:usfarm|";
static const char POSITION[] =	/* real capture, server version 173 */
    "61|3|ACCOUNT_ID|265598|AAPL|STK||0.0|||NASDAQ|USD|AAPL|NMS|-110|"
    "201.8829709";
static const char SUMMARY[] =	/* real capture */
    "63|1|9000|ACCOUNT_ID|NetLiquidation|246447.83|USD";
static const char POSITION_MULTI[] =
    "71|1|9001|DU1234567|265598|AAPL|STK||0.0|||NASDAQ|USD|AAPL|NMS|0.5|"
    "150.5|";
static const char UPDATE_MULTI[] =
    "73|1|9002|DU1234567||TotalCashValue|12345.67|USD";
static const char CONTRACT[] =
    "10|5|AAPL|STK||0||SMART|USD|AAPL|NMS|NMS|265598|0.01||"
    "ACTIVETIM,AD,ADJUST,ALERT,LMT,MKT,MOC|SMART,NASDAQ,NYSE|1|0|"
    "APPLE INC|NASDAQ||Technology|Computers|Computers|US/Eastern|"
    "20221229:0400-20221229:2000;20221230:0400-20221230:2000;"
    "20221231:CLOSED|"
    "20221229:0930-20221229:1600;20221230:0930-20221230:1600;"
    "20221231:CLOSED|||1|ISIN|US0378331005|1|||26,26,26||COMMON|1|1|100";
static const char ORDER_STATUS[] =	/* real-derived */
    "3|1|Submitted|0|1|0|2126726143|0|0|100||0";
static const char EXECUTION[] =		/* real-derived */
    "11|1|1|637533641|ES|FUT|20250919|0.0||50|CME|USD|ESU5|ES|"
    "0001f4e5.58bbad52.01.01|20250708 02:35:00 America/New_York|"
    "DU1234567|CME|BOT|1.0|5800.0|2126726143|100|0|1.0|5800.0|||0.0||1";
static const char COMMISSION[] =
    "59|1|0001f4e5.58bbad52.01.01|2.25|USD|1.7976931348623157E308|"
    "1.7976931348623157e+308|";

static void
test_simple(void)
{
	struct twsm_msg m;

	ok(decode(&m, ERR_2104) == 0 && m.type == TWSM_ERROR &&
	    m.u.error.id == -1 && m.u.error.code == 2104 &&
	    strcmp(m.u.error.text,
	    "Market data farm connection is OK:usfarm") == 0 &&
	    *m.u.error.advanced == '\0' && m.u.error.cls == TWSM_INFO,
	    "ERR_MSG 2104 notice: info");
	twsm_msg_free(&m);
	strict("ERR_MSG", ERR_2104);
	ok(decode(&m, "4|2|12|201|Order rejected - reason: no shares|"
	    "{\"x\":1}") == 0 && m.u.error.id == 12 &&
	    m.u.error.cls == TWSM_REQUEST && twsm_err_order_done(201) &&
	    strcmp(m.u.error.advanced, "{\"x\":1}") == 0,
	    "ERR_MSG 201 for order 12: request error, order done");
	twsm_msg_free(&m);

	ok(decode(&m, "15|1|DU111,DU222") == 0 &&
	    m.type == TWSM_MANAGED_ACCTS &&
	    strcmp(m.u.managed.accounts, "DU111,DU222") == 0,
	    "MANAGED_ACCTS");
	twsm_msg_free(&m);
	strict("MANAGED_ACCTS", "15|1|DU111,DU222");
	ok(decode(&m, "9|1|42") == 0 && m.type == TWSM_NEXT_VALID_ID &&
	    m.u.next_id.order_id == 42, "NEXT_VALID_ID");
	twsm_msg_free(&m);
	strict("NEXT_VALID_ID", "9|1|42");
	ok(decode(&m, "49|1|1752606307") == 0 &&
	    m.type == TWSM_CURRENT_TIME &&
	    m.u.current_time.time == 1752606307, "CURRENT_TIME (capture)");
	twsm_msg_free(&m);
	strict("CURRENT_TIME", "49|1|1752606307");
	ok(decode(&m, "9|1|x") == -1 && strcmp(m.err, "orderId") == 0,
	    "malformed int field: decode error naming the field");
	twsm_msg_free(&m);
	ok(decode(&m, "x|1") == -1, "malformed message id: decode error");
	twsm_msg_free(&m);
}

static void
test_account(void)
{
	struct twsm_msg m;
	struct twsm_position *p = &m.u.position;
	struct twsm_value *v = &m.u.value;

	ok(decode(&m, POSITION) == 0 && m.type == TWSM_POSITION &&
	    p->req_id == -1 && strcmp(p->account, "ACCOUNT_ID") == 0 &&
	    p->c.con_id == 265598 && strcmp(p->c.symbol, "AAPL") == 0 &&
	    strcmp(p->c.exchange, "NASDAQ") == 0 &&
	    strcmp(p->c.trading_class, "NMS") == 0 && p->pos == -110 &&
	    p->avg_cost == 201.8829709, "POSITION_DATA (capture)");
	twsm_msg_free(&m);
	strict("POSITION_DATA", POSITION);
	ok(decode(&m, POSITION_MULTI) == 0 && m.type == TWSM_POSITION &&
	    p->req_id == 9001 && strcmp(p->account, "DU1234567") == 0 &&
	    p->pos == 0.5 && p->avg_cost == 150.5 && *p->model_code == '\0',
	    "POSITION_MULTI with a fractional position");
	twsm_msg_free(&m);
	strict("POSITION_MULTI", POSITION_MULTI);
	ok(decode(&m, SUMMARY) == 0 && m.type == TWSM_ACCOUNT_SUMMARY &&
	    v->req_id == 9000 && strcmp(v->tag, "NetLiquidation") == 0 &&
	    strcmp(v->value, "246447.83") == 0 && v->num == 246447.83 &&
	    strcmp(v->currency, "USD") == 0, "ACCOUNT_SUMMARY (capture)");
	twsm_msg_free(&m);
	strict("ACCOUNT_SUMMARY", SUMMARY);
	ok(decode(&m, "63|1|9000|DU1|AccountType|INDIVIDUAL|") == 0 &&
	    isnan(v->num) && *v->currency == '\0',
	    "ACCOUNT_SUMMARY AccountType: text value, no currency");
	twsm_msg_free(&m);
	ok(decode(&m, UPDATE_MULTI) == 0 &&
	    m.type == TWSM_ACCOUNT_UPDATE_MULTI && v->req_id == 9002 &&
	    strcmp(v->account, "DU1234567") == 0 &&
	    strcmp(v->tag, "TotalCashValue") == 0 && v->num == 12345.67,
	    "ACCOUNT_UPDATE_MULTI");
	twsm_msg_free(&m);
	strict("ACCOUNT_UPDATE_MULTI", UPDATE_MULTI);

	ok(decode(&m, "62|1") == 0 && m.type == TWSM_POSITION_END &&
	    m.u.end.req_id == -1, "POSITION_END");
	twsm_msg_free(&m);
	ok(decode(&m, "72|1|9001") == 0 && m.type == TWSM_POSITION_END &&
	    m.u.end.req_id == 9001, "POSITION_MULTI_END");
	twsm_msg_free(&m);
	ok(decode(&m, "64|1|9000") == 0 &&
	    m.type == TWSM_ACCOUNT_SUMMARY_END && m.u.end.req_id == 9000,
	    "ACCOUNT_SUMMARY_END");
	twsm_msg_free(&m);
	ok(decode(&m, "74|1|9002") == 0 &&
	    m.type == TWSM_ACCOUNT_UPDATE_MULTI_END &&
	    m.u.end.req_id == 9002, "ACCOUNT_UPDATE_MULTI_END");
	twsm_msg_free(&m);
	strict("POSITION_END", "62|1");
	strict("POSITION_MULTI_END", "72|1|9001");
	strict("ACCOUNT_SUMMARY_END", "64|1|9000");
	strict("ACCOUNT_UPDATE_MULTI_END", "74|1|9002");
}

static void
test_contract(void)
{
	struct twsm_msg m;
	struct twsm_contract_data *d = &m.u.contract;

	ok(nfields(CONTRACT) == 42, "CONTRACT_DATA frame: 40 + 2 fields");
	ok(decode(&m, CONTRACT) == 0 && m.type == TWSM_CONTRACT_DATA &&
	    d->req_id == 5 && d->c.con_id == 265598 && d->min_tick == 0.01 &&
	    strcmp(d->c.symbol, "AAPL") == 0 &&
	    strcmp(d->c.primary_exchange, "NASDAQ") == 0 &&
	    strcmp(d->time_zone, "US/Eastern") == 0 &&
	    strncmp(d->trading_hours, "20221229:0400-", 14) == 0 &&
	    strncmp(d->liquid_hours, "20221229:0930-", 14) == 0 &&
	    strcmp(d->long_name, "APPLE INC") == 0 && d->nsec_ids == 1 &&
	    d->agg_group == 1 && strcmp(d->market_rule_ids, "26,26,26") == 0 &&
	    strcmp(d->stock_type, "COMMON") == 0 && d->min_size == 1 &&
	    d->suggested_size_increment == 100 && m.f.i == m.f.n,
	    "CONTRACT_DATA: conId, minTick, hours, zone, secIds, tail");
	twsm_msg_free(&m);
	strict("CONTRACT_DATA", CONTRACT);
	ok(decode(&m, "52|1|5") == 0 && m.type == TWSM_CONTRACT_DATA_END &&
	    m.u.end.req_id == 5, "CONTRACT_DATA_END");
	twsm_msg_free(&m);
	strict("CONTRACT_DATA_END", "52|1|5");
}

static void
test_market(void)
{
	struct twsm_msg m;
	struct twsm_tick *t = &m.u.tick;

	ok(decode(&m, "1|6|8|1|150.25|100|0") == 0 &&
	    m.type == TWSM_TICK_PRICE && t->req_id == 8 &&
	    t->tick_type == 1 && t->price == 150.25 && t->size == 100 &&
	    t->attr == 0 && twsm_price_kind(t->tick_type) == TWSM_PX_BID,
	    "TICK_PRICE bid");
	twsm_msg_free(&m);
	strict("TICK_PRICE", "1|6|8|68|150.3|5|2");
	ok(decode(&m, "1|6|8|2|-1|0|0") == 0 && t->price == -1 &&
	    twsm_price_kind(2) == TWSM_PX_ASK, "TICK_PRICE -1: no data");
	twsm_msg_free(&m);
	ok(decode(&m, "1|2|8|75|149.5|0") == 0 && t->price == 149.5 &&
	    t->attr == 0 && twsm_price_kind(75) == TWSM_PX_CLOSE,
	    "TICK_PRICE version 2: no attribute mask");
	twsm_msg_free(&m);
	ok(twsm_price_kind(4) == TWSM_PX_LAST && twsm_price_kind(68) ==
	    TWSM_PX_LAST && twsm_price_kind(66) == TWSM_PX_BID &&
	    twsm_price_kind(67) == TWSM_PX_ASK && twsm_price_kind(9) ==
	    TWSM_PX_CLOSE && twsm_price_kind(0) == TWSM_PX_NONE &&
	    twsm_price_kind(37) == TWSM_PX_NONE, "tick kinds live/delayed");
	ok(decode(&m, "2|6|8|0|300") == 0 && m.type == TWSM_TICK_SIZE &&
	    t->tick_type == 0 && t->size == 300, "TICK_SIZE");
	twsm_msg_free(&m);
	strict("TICK_SIZE", "2|6|8|0|300");
	ok(decode(&m, "46|6|8|45|1752606307") == 0 &&
	    m.type == TWSM_TICK_STRING && m.u.tick_string.tick_type == 45 &&
	    strcmp(m.u.tick_string.value, "1752606307") == 0,
	    "TICK_STRING");
	twsm_msg_free(&m);
	strict("TICK_STRING", "46|6|8|45|1752606307");
	ok(decode(&m, "45|6|8|49|0") == 0 && m.type == TWSM_TICK_GENERIC &&
	    m.u.tick_string.num == 0, "TICK_GENERIC halted = 0");
	twsm_msg_free(&m);
	strict("TICK_GENERIC", "45|6|8|49|0");
	ok(decode(&m, "81|8|0.01|9c0001|3") == 0 &&
	    m.type == TWSM_TICK_REQ_PARAMS && m.u.tick_params.req_id == 8 &&
	    m.u.tick_params.min_tick == 0.01 &&
	    strcmp(m.u.tick_params.bbo_exchange, "9c0001") == 0 &&
	    m.u.tick_params.snapshot_permissions == 3, "TICK_REQ_PARAMS");
	twsm_msg_free(&m);
	strict("TICK_REQ_PARAMS", "81|8|0.01|9c0001|3");
	ok(decode(&m, "58|1|8|3") == 0 && m.type == TWSM_MARKET_DATA_TYPE &&
	    m.u.md_type.req_id == 8 && m.u.md_type.type == 3,
	    "MARKET_DATA_TYPE delayed");
	twsm_msg_free(&m);
	strict("MARKET_DATA_TYPE", "58|1|8|3");
	ok(decode(&m, "57|1|8") == 0 && m.type == TWSM_TICK_SNAPSHOT_END &&
	    m.u.end.req_id == 8, "TICK_SNAPSHOT_END");
	twsm_msg_free(&m);
	strict("TICK_SNAPSHOT_END", "57|1|8");
}

static void
test_orders(void)
{
	struct twsm_msg m;
	struct twsm_order_status *s = &m.u.status;
	struct twsm_execution *e = &m.u.exec;
	struct twsm_commission *c = &m.u.commission;

	ok(decode(&m, ORDER_STATUS) == 0 && m.type == TWSM_ORDER_STATUS &&
	    s->order_id == 1 && strcmp(s->status, "Submitted") == 0 &&
	    s->filled == 0 && s->remaining == 1 && s->perm_id == 2126726143 &&
	    s->client_id == 100 && *s->why_held == '\0' &&
	    !twsm_status_terminal(s->status), "ORDER_STATUS (real-derived)");
	twsm_msg_free(&m);
	strict("ORDER_STATUS", ORDER_STATUS);
	ok(twsm_status_terminal("Filled") && twsm_status_terminal("Cancelled")
	    && twsm_status_terminal("ApiCancelled") &&
	    twsm_status_terminal("Inactive") &&
	    !twsm_status_terminal("PreSubmitted") &&
	    !twsm_status_terminal("PendingCancel"), "terminal statuses");

	ok(nfields(EXECUTION) == 31, "EXECUTION_DATA frame: 31 fields");
	ok(decode(&m, EXECUTION) == 0 && m.type == TWSM_EXECUTION &&
	    e->req_id == 1 && e->order_id == 1 && e->c.con_id == 637533641 &&
	    strcmp(e->c.symbol, "ES") == 0 &&
	    strcmp(e->exec_id, "0001f4e5.58bbad52.01.01") == 0 &&
	    strcmp(e->time, "20250708 02:35:00 America/New_York") == 0 &&
	    strcmp(e->account, "DU1234567") == 0 &&
	    strcmp(e->side, "BOT") == 0 && e->shares == 1 &&
	    e->price == 5800 && e->perm_id == 2126726143 &&
	    e->client_id == 100 && e->cum_qty == 1 && e->avg_price == 5800 &&
	    *e->order_ref == '\0' && e->last_liquidity == 1 &&
	    m.f.i == m.f.n, "EXECUTION_DATA (real-derived)");
	twsm_msg_free(&m);
	strict("EXECUTION_DATA", EXECUTION);
	ok(decode(&m, "55|1|7") == 0 && m.type == TWSM_EXECUTION_END &&
	    m.u.end.req_id == 7, "EXECUTION_DATA_END");
	twsm_msg_free(&m);
	strict("EXECUTION_DATA_END", "55|1|7");
	ok(decode(&m, COMMISSION) == 0 && m.type == TWSM_COMMISSION &&
	    strcmp(c->exec_id, "0001f4e5.58bbad52.01.01") == 0 &&
	    c->commission == 2.25 && strcmp(c->currency, "USD") == 0 &&
	    c->realized_pnl == DBL_MAX && c->yield == DBL_MAX &&
	    c->yield_redemption_date == 0,
	    "COMMISSION_REPORT: DBL_MAX sentinels (Java and Python forms)");
	twsm_msg_free(&m);
	strict("COMMISSION_REPORT", COMMISSION);
	ok(decode(&m, "53|1") == 0 && m.type == TWSM_OPEN_ORDER_END,
	    "OPEN_ORDER_END");
	twsm_msg_free(&m);
	strict("OPEN_ORDER_END", "53|1");
}

/* OPEN_ORDER frames: the 128-field template of section 4.10 and variants
 * that fire each conditional group. */
enum {
	OO_NONE = 1, OO_COMBO = 2, OO_SCALE = 4, OO_HEDGE = 8, OO_DNC = 16,
	OO_ALGO = 32, OO_PEGBENCH = 64, OO_COND = 128,
};

static char oo[8192];

static void
add(const char *s)
{
	if (*oo != '\0')
		strcat(oo, "|");
	strcat(oo, *s ? s : "");
}

static void
addn(int n, const char *s)
{
	while (n-- > 0) {
		strcat(oo, "|");
		strcat(oo, s);
	}
}

static const char *
open_order(int fl)
{
	static const char MAX[] = "1.7976931348623157E308";

	*oo = '\0';
	strcpy(oo, "5|12|265598|AAPL|STK||0|||SMART|USD|AAPL|NMS|BUY|100|");
	strcat(oo, fl & OO_PEGBENCH ? "PEG BENCH" : "LMT");
	strcat(oo, "|150.25|0.0|DAY||DU1234567||0|rebal:e1:DU1234567|7|"
	    "2126726143|1|0|0||||||||||||0||-1|0||||||2147483647|0|0|0||3|0|0||"
	    "0|0||0");			/* ... parentId triggerMethod vol volType */
	add(fl & OO_NONE ? "None" : "");	/* 62 deltaNeutralOrderType */
	addn(1, "");			/* 63 deltaNeutralAuxPrice */
	if (fl & OO_NONE)
		strcat(oo, "|0||||?|0|0|");	/* the real frame's 8 */
	strcat(oo, "|0|0|||||");	/* 64-70 */
	add(fl & OO_COMBO ? "1" : "0");	/* 71 comboLegsCount */
	if (fl & OO_COMBO)
		strcat(oo, "|1|1|BUY|SMART|0|0||-1");
	add(fl & OO_COMBO ? "1" : "0");	/* 72 orderComboLegsCount */
	if (fl & OO_COMBO)
		strcat(oo, "|1.5");
	add(fl & OO_COMBO ? "1" : "0");	/* 73 smartComboRoutingParams */
	if (fl & OO_COMBO)
		strcat(oo, "|NonGuaranteed|1");
	strcat(oo, "|2147483647|2147483647");
	add(fl & OO_SCALE ? "0.05" : "");	/* 76 scalePriceIncrement */
	if (fl & OO_SCALE)
		strcat(oo, "|0|0|0|0|0|0|0");
	add(fl & OO_HEDGE ? "D" : "");	/* 77 hedgeType */
	if (fl & OO_HEDGE)
		strcat(oo, "|0.5");
	strcat(oo, "|0||IB|0");		/* 78-81 */
	add(fl & OO_DNC ? "1" : "0");	/* 82 deltaNeutralContractPresent */
	if (fl & OO_DNC)
		strcat(oo, "|12345|0.5|10.25");
	add(fl & OO_ALGO ? "Adaptive" : "");	/* 83 algoStrategy */
	if (fl & OO_ALGO)
		strcat(oo, "|2|adaptivePriority|Normal|x|y");
	strcat(oo, "|0|0|Submitted");	/* 84-86 */
	addn(9, MAX);			/* 87-95 */
	strcat(oo, "|||||a warning|0|0");	/* 96-102 */
	if (fl & OO_PEGBENCH)
		strcat(oo, "|1|0|0.5|0.1|ISLAND");
	add(fl & OO_COND ? "1" : "0");	/* 103 conditionsCount */
	if (fl & OO_COND)
		strcat(oo, "|1|a|1|150|265598|SMART|0|0|0");
	strcat(oo, "|None");		/* 104 */
	addn(6, MAX);			/* 105-110 */
	strcat(oo, "|0|||||1|0|0|0|||0|||||");	/* 111-127 */
	return oo;
}

static void
test_open_order(void)
{
	static const struct {
		int fl;
		int n;
		const char *what;
	} v[] = {
		{ 0, 128, "OPEN_ORDER template (128 fields)" },
		{ OO_NONE, 136, "OPEN_ORDER real-derived, \"None\" (136)" },
		{ OO_COMBO, 128 + 11, "OPEN_ORDER with combo legs" },
		{ OO_SCALE, 128 + 7, "OPEN_ORDER with scale fields" },
		{ OO_HEDGE, 129, "OPEN_ORDER with a hedge" },
		{ OO_DNC, 131, "OPEN_ORDER with a delta-neutral contract" },
		{ OO_ALGO, 133, "OPEN_ORDER with algo params" },
		{ OO_PEGBENCH, 133, "OPEN_ORDER PEG BENCH" },
		{ OO_NONE | OO_COMBO | OO_SCALE | OO_HEDGE | OO_DNC | OO_ALGO,
		    136 + 11 + 7 + 1 + 3 + 5, "OPEN_ORDER every group" },
	};
	struct twsm_msg m;
	struct twsm_open_order *o = &m.u.order;
	char what[120];
	size_t i;
	int rc;

	for (i = 0; i < sizeof v / sizeof v[0]; i++) {
		open_order(v[i].fl);
		snprintf(what, sizeof what, "%s: field count", v[i].what);
		is_int(nfields(oo), v[i].n, what);
		rc = decode(&m, oo);
		ok(rc == 0 && m.type == TWSM_OPEN_ORDER && o->order_id == 12 &&
		    o->c.con_id == 265598 && strcmp(o->c.symbol, "AAPL") == 0 &&
		    strcmp(o->action, "BUY") == 0 && o->qty == 100 &&
		    o->lmt_price == 150.25 && o->aux_price == 0 &&
		    strcmp(o->tif, "DAY") == 0 &&
		    strcmp(o->account, "DU1234567") == 0 &&
		    strcmp(o->order_ref, "rebal:e1:DU1234567") == 0 &&
		    o->client_id == 7 && o->perm_id == 2126726143 &&
		    o->outside_rth == 1 && o->parent_id == 0 &&
		    strcmp(o->status, "Submitted") == 0 &&
		    strcmp(o->warning_text, "a warning") == 0 &&
		    o->commission == DBL_MAX && !o->partial &&
		    m.f.i == m.f.n, v[i].what);
		if (rc != 0)
			printf("#   err %s at field %d\n", m.err, m.f.i);
		twsm_msg_free(&m);
		strict(v[i].what, oo);
	}
	open_order(OO_COND);
	ok(decode(&m, oo) == 0 && o->partial &&
	    strcmp(o->status, "Submitted") == 0 &&
	    strcmp(o->warning_text, "a warning") == 0,
	    "OPEN_ORDER with conditions: partial, prefix and status valid");
	twsm_msg_free(&m);
}

static void
test_classes(void)
{
	static const struct {
		long long id;
		int code;
		enum twsm_class cls;
	} t[] = {
		{ -1, 2104, TWSM_INFO }, { -1, 2106, TWSM_INFO },
		{ -1, 2158, TWSM_INFO }, { -1, 2103, TWSM_INFO },
		{ -1, 2119, TWSM_INFO }, { 7, 10167, TWSM_INFO },
		{ -1, 1102, TWSM_INFO }, { 12, 399, TWSM_WARNING },
		{ 7, 10090, TWSM_WARNING }, { -1, 1100, TWSM_CONNECTIVITY },
		{ -1, 1101, TWSM_CONNECTIVITY }, { -1, 2110, TWSM_CONNECTIVITY },
		{ -1, 100, TWSM_CONNECTIVITY }, { -1, 326, TWSM_FATAL },
		{ -1, 1300, TWSM_FATAL }, { -1, 504, TWSM_FATAL },
		{ 5, 200, TWSM_REQUEST }, { 12, 201, TWSM_REQUEST },
		{ 12, 202, TWSM_REQUEST }, { 12, 110, TWSM_REQUEST },
		{ 7, 354, TWSM_REQUEST }, { 7, 10089, TWSM_REQUEST },
		{ 12, 10147, TWSM_REQUEST }, { -1, 9999, TWSM_WARNING },
	};
	size_t i;
	int bad = 0;

	for (i = 0; i < sizeof t / sizeof t[0]; i++)
		if (twsm_err_class(t[i].id, t[i].code) != t[i].cls) {
			printf("# code %d id %lld: class %d\n", t[i].code,
			    t[i].id, twsm_err_class(t[i].id, t[i].code));
			bad++;
		}
	ok(bad == 0, "error classes of section 4.2");
	ok(strcmp(twsm_class_name(TWSM_REQUEST), "request error") == 0 &&
	    strcmp(twsm_class_name(TWSM_FATAL), "fatal") == 0,
	    "class names");
	ok(twsm_err_order_done(202) && twsm_err_order_done(161) &&
	    twsm_err_order_done(10148) && !twsm_err_order_done(399) &&
	    !twsm_err_order_done(110), "order-ending error codes");
}

static void
test_unknown(void)
{
	struct twsm_msg m;

	ok(decode(&m, "99|1|x|y") == 0 && m.type == TWSM_UNKNOWN &&
	    m.id == 99, "unknown id 99: skipped, not an error");
	twsm_msg_free(&m);
	ok(decode(&m, "6|2|NetLiquidation|1|USD|DU1") == 0 &&
	    m.type == TWSM_UNKNOWN, "ACCT_VALUE (not used): skipped");
	twsm_msg_free(&m);
	ok(strcmp(twsm_name(5), "OPEN_ORDER") == 0 &&
	    strcmp(twsm_name(99), "msg 99") == 0, "message names");
}

/* Encoders: the frame B as "a|b|c", then emptied. */
static const char *
text(struct twsf_buf *b, int *n)
{
	static char out[4096];
	struct twsf_rd r = {0};
	struct twsf_msg f;
	int i;

	twsf_feed(&r, b->p, b->len);
	*out = '\0';
	*n = -1;
	if (twsf_frame(&r, &f) == 1 && r.len == r.off) {
		for (i = 0; i < f.n; i++) {
			if (i > 0)
				strcat(out, "|");
			strcat(out, f.f[i]);
		}
		*n = f.n;
		twsf_msg_free(&f);
	}
	twsf_rd_free(&r);
	twsf_drop(b, b->len);
	return out;
}

static void
test_encoders(void)
{
	struct twsf_buf b = {0};
	struct twsm_contract aapl = { .con_id = 265598, .symbol = "AAPL",
	    .primary_exchange = "NASDAQ" };
	struct twsm_contract spy = { .symbol = "SPY" };
	struct twsm_order o = { .order_id = 17, .c = aapl, .action = "SELL",
	    .qty = 50, .type = "LMT", .lmt_price = 150.25,
	    .account = "DU1234567", .order_ref = "rebal:e1:DU1234567" };
	struct twsm_exec_filter flt = { .account = "DU1234567" };
	struct twsf_rd r = {0};
	struct twsf_msg f;
	int n;

	twsm_start_api(&b, 7);
	is_str(text(&b, &n), "71|2|7|", "START_API");
	twsm_req_ids(&b);
	is_str(text(&b, &n), "8|1|1", "REQ_IDS");
	twsm_req_current_time(&b);
	is_str(text(&b, &n), "49|1", "REQ_CURRENT_TIME");
	twsm_req_managed_accts(&b);
	is_str(text(&b, &n), "17|1", "REQ_MANAGED_ACCTS");
	twsm_req_market_data_type(&b, 3);
	is_str(text(&b, &n), "59|1|3", "REQ_MARKET_DATA_TYPE");
	twsm_req_positions(&b);
	is_str(text(&b, &n), "61|1", "REQ_POSITIONS");
	twsm_cancel_positions(&b);
	is_str(text(&b, &n), "64|1", "CANCEL_POSITIONS");
	twsm_req_positions_multi(&b, 9001, "DU1234567", NULL);
	is_str(text(&b, &n), "74|1|9001|DU1234567|", "REQ_POSITIONS_MULTI");
	twsm_cancel_positions_multi(&b, 9001);
	is_str(text(&b, &n), "75|1|9001", "CANCEL_POSITIONS_MULTI");
	twsm_req_account_summary(&b, 9000, NULL,
	    "NetLiquidation,TotalCashValue,SettledCash,AvailableFunds,"
	    "BuyingPower");
	is_str(text(&b, &n), "62|1|9000|All|NetLiquidation,TotalCashValue,"
	    "SettledCash,AvailableFunds,BuyingPower", "REQ_ACCOUNT_SUMMARY");
	twsm_cancel_account_summary(&b, 9000);
	is_str(text(&b, &n), "63|1|9000", "CANCEL_ACCOUNT_SUMMARY");
	twsm_req_account_updates_multi(&b, 9002, "DU1234567", NULL, 0);
	is_str(text(&b, &n), "76|1|9002|DU1234567||0",
	    "REQ_ACCOUNT_UPDATES_MULTI");
	twsm_cancel_account_updates_multi(&b, 9002);
	is_str(text(&b, &n), "77|1|9002", "CANCEL_ACCOUNT_UPDATES_MULTI");
	twsm_req_contract_data(&b, 5, &spy);
	is_str(text(&b, &n), "9|8|5|0|SPY|STK||0|||SMART||USD|||0|||",
	    "REQ_CONTRACT_DATA (19 fields)");
	is_int(n, 19, "REQ_CONTRACT_DATA field count");
	twsm_req_mkt_data(&b, 8, &aapl, 1);
	is_str(text(&b, &n), "1|11|8|265598|AAPL|STK||0|||SMART|NASDAQ|USD|||"
	    "0||1|0|", "REQ_MKT_DATA snapshot (20 fields, snapshot #17)");
	is_int(n, 20, "REQ_MKT_DATA field count");
	twsm_req_mkt_data(&b, 9, &aapl, 0);
	is_str(text(&b, &n), "1|11|9|265598|AAPL|STK||0|||SMART|NASDAQ|USD|||"
	    "0||0|0|", "REQ_MKT_DATA streaming");
	twsm_cancel_mkt_data(&b, 9);
	is_str(text(&b, &n), "2|1|9", "CANCEL_MKT_DATA");
	twsm_cancel_order(&b, 17, NULL);
	is_str(text(&b, &n), "4|1|17|", "CANCEL_ORDER with manualOrderCancelTime");
	twsm_req_open_orders(&b);
	is_str(text(&b, &n), "5|1", "REQ_OPEN_ORDERS");
	twsm_req_all_open_orders(&b);
	is_str(text(&b, &n), "16|1", "REQ_ALL_OPEN_ORDERS");
	twsm_req_global_cancel(&b);
	is_str(text(&b, &n), "58|1", "REQ_GLOBAL_CANCEL");
	twsm_req_executions(&b, 7, &flt);
	is_str(text(&b, &n), "7|3|7|0|DU1234567|||||",
	    "REQ_EXECUTIONS (10 fields)");
	twsm_req_executions(&b, 7, NULL);
	is_str(text(&b, &n), "7|3|7|0||||||", "REQ_EXECUTIONS no filter");

	/* PLACE_ORDER: 115 fields (section 3.3). */
	twsm_place_order(&b, &o);
	twsf_feed(&r, b.p, b.len);
	twsf_drop(&b, b.len);
	ok(twsf_frame(&r, &f) == 1, "PLACE_ORDER framed");
	is_int(f.n, 115, "PLACE_ORDER LMT: 115 fields");
	ok(f.n == 115 && strcmp(f.f[0], "3") == 0 &&
	    strcmp(f.f[1], "17") == 0 && strcmp(f.f[2], "265598") == 0 &&
	    strcmp(f.f[3], "AAPL") == 0 && strcmp(f.f[4], "STK") == 0 &&
	    strcmp(f.f[9], "SMART") == 0 && strcmp(f.f[10], "NASDAQ") == 0 &&
	    strcmp(f.f[11], "USD") == 0 && strcmp(f.f[16], "SELL") == 0 &&
	    strcmp(f.f[17], "50") == 0 && strcmp(f.f[18], "LMT") == 0 &&
	    strcmp(f.f[19], "150.25") == 0 && *f.f[20] == '\0' &&
	    strcmp(f.f[21], "DAY") == 0 &&
	    strcmp(f.f[23], "DU1234567") == 0 &&
	    strcmp(f.f[25], "0") == 0 &&
	    strcmp(f.f[26], "rebal:e1:DU1234567") == 0 &&
	    strcmp(f.f[27], "1") == 0 && strcmp(f.f[33], "0") == 0 &&
	    *f.f[42] == '\0' && strcmp(f.f[46], "-1") == 0 &&
	    strcmp(f.f[82], "0") == 0 && strcmp(f.f[85], "0") == 0 &&
	    strcmp(f.f[90], "0") == 0 && *f.f[109] == '\0' &&
	    *f.f[110] == '\0' && strcmp(f.f[112], "0") == 0 &&
	    *f.f[114] == '\0', "PLACE_ORDER LMT fields at their numbers");
	twsf_msg_free(&f);
	o.type = "MKT";
	o.action = "BUY";
	o.qty = 100;
	o.lmt_price = 0;
	twsm_place_order(&b, &o);
	o.type = "MOC";
	o.lmt_price = DBL_MAX;
	o.tif = NULL;
	twsm_place_order(&b, &o);
	twsf_feed(&r, b.p, b.len);
	twsf_buf_free(&b);
	ok(twsf_frame(&r, &f) == 1 && f.n == 115 &&
	    strcmp(f.f[18], "MKT") == 0 && *f.f[19] == '\0' &&
	    strcmp(f.f[17], "100") == 0, "PLACE_ORDER MKT: no limit price");
	twsf_msg_free(&f);
	ok(twsf_frame(&r, &f) == 1 && f.n == 115 &&
	    strcmp(f.f[18], "MOC") == 0 && *f.f[19] == '\0' &&
	    strcmp(f.f[21], "DAY") == 0, "PLACE_ORDER MOC: DAY, no limit");
	twsf_msg_free(&f);
	twsf_rd_free(&r);

	twsm_greeting(&b);
	ok(b.len == 17 && memcmp(b.p, "API\0\0\0\0\011v100..176", 17) == 0,
	    "greeting bytes");
	twsf_buf_free(&b);
}

int
main(void)
{
	test_simple();
	test_account();
	test_contract();
	test_market();
	test_orders();
	test_open_order();
	test_classes();
	test_unknown();
	test_encoders();
	return tap_done();
}
