/* twsm: TWS message codecs at server version 176 (tws-protocol.md 3, 4). */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "twsm.h"

/* Decoding: every reader below returns -1 from the decoder with m->err set
 * to the field's name when the field is missing or malformed. */
#define F	(&m->f)
#define FAIL(name)	do { m->err = (name); return -1; } while (0)
#define STR(x, name)	do { if (twsf_get_str(F, &(x)) == -1) FAIL(name); } while (0)
#define INT(x, name)	do { long long v_; \
	if (twsf_get_int(F, &v_) == -1) { FAIL(name); } (x) = v_; } while (0)
#define INTMAX(x, name)	do { long long v_; \
	if (twsf_get_int_max(F, &v_) == -1) { FAIL(name); } (x) = v_; } while (0)
#define DBL(x, name)	do { if (twsf_get_dbl(F, &(x)) == -1) FAIL(name); } while (0)
#define DBLMAX(x, name)	do { if (twsf_get_dbl_max(F, &(x)) == -1) FAIL(name); } while (0)
#define DEC(x, name)	do { if (twsf_get_dec(F, &(x)) == -1) FAIL(name); } while (0)
#define BOOL(x, name)	do { if (twsf_get_bool(F, &(x)) == -1) FAIL(name); } while (0)
#define SKIP(n, name)	do { if (twsf_skip(F, (n)) == -1) FAIL(name); } while (0)
/* A field that must be there but whose value is not kept. */
#define ANY(name)	SKIP(1, name)
#define VERSION()	ANY("version")
#define CALL(expr)	do { if ((expr) == -1) return -1; } while (0)

static double
num_or_nan(const char *s)
{
	char *end;
	double v;

	if (*s == '\0')
		return NAN;
	v = strtod(s, &end);
	return *end == '\0' ? v : NAN;
}

/* conId, symbol, secType, lastTradeDate, strike, right, multiplier,
 * exchange, currency, localSymbol, tradingClass: POSITION, POSITION_MULTI,
 * EXECUTION_DATA and OPEN_ORDER share this run. */
static int
contract11(struct twsm_msg *m, struct twsm_contract *c)
{
	INT(c->con_id, "conId");
	STR(c->symbol, "symbol");
	STR(c->sec_type, "secType");
	STR(c->expiry, "lastTradeDateOrContractMonth");
	DBL(c->strike, "strike");
	STR(c->right, "right");
	STR(c->multiplier, "multiplier");
	STR(c->exchange, "exchange");
	STR(c->currency, "currency");
	STR(c->local_symbol, "localSymbol");
	STR(c->trading_class, "tradingClass");
	c->primary_exchange = "";
	return 0;
}

static int
dec_error(struct twsm_msg *m)
{
	struct twsm_error *e = &m->u.error;
	long long code;

	VERSION();
	INT(e->id, "id");
	INT(code, "errorCode");
	STR(e->text, "errorString");
	STR(e->advanced, "advancedOrderRejectJson");
	e->code = code;
	e->cls = twsm_err_class(e->id, e->code);
	return 0;
}

static int
dec_position(struct twsm_msg *m)
{
	struct twsm_position *p = &m->u.position;

	VERSION();
	p->req_id = -1;
	p->model_code = "";
	if (m->id == TWSM_IN_POSITION_MULTI)
		INT(p->req_id, "reqId");
	STR(p->account, "account");
	CALL(contract11(m, &p->c));
	DEC(p->pos, "position");
	DBL(p->avg_cost, "avgCost");
	if (m->id == TWSM_IN_POSITION_MULTI)
		STR(p->model_code, "modelCode");
	return 0;
}

static int
dec_value(struct twsm_msg *m)
{
	struct twsm_value *v = &m->u.value;

	VERSION();
	INT(v->req_id, "reqId");
	STR(v->account, "account");
	v->model_code = "";
	if (m->id == TWSM_IN_ACCOUNT_UPDATE_MULTI)
		STR(v->model_code, "modelCode");
	STR(v->tag, "tag");
	STR(v->value, "value");
	STR(v->currency, "currency");
	v->num = num_or_nan(v->value);
	return 0;
}

static int
dec_end(struct twsm_msg *m)
{
	VERSION();
	m->u.end.req_id = -1;
	if (m->id != TWSM_IN_POSITION_END && m->id != TWSM_IN_OPEN_ORDER_END)
		INT(m->u.end.req_id, "reqId");
	return 0;
}

static int
dec_contract(struct twsm_msg *m)
{
	struct twsm_contract_data *d = &m->u.contract;
	struct twsm_contract *c = &d->c;
	long long n;

	INT(d->req_id, "reqId");
	STR(c->symbol, "symbol");
	STR(c->sec_type, "secType");
	STR(c->expiry, "lastTradeDateOrContractMonth");
	DBL(c->strike, "strike");
	STR(c->right, "right");
	STR(c->exchange, "exchange");
	STR(c->currency, "currency");
	STR(c->local_symbol, "localSymbol");
	STR(d->market_name, "marketName");
	STR(c->trading_class, "tradingClass");
	INT(c->con_id, "conId");
	DBL(d->min_tick, "minTick");
	STR(c->multiplier, "multiplier");
	STR(d->order_types, "orderTypes");
	STR(d->valid_exchanges, "validExchanges");
	INT(d->price_magnifier, "priceMagnifier");
	INT(d->under_con_id, "underConId");
	STR(d->long_name, "longName");
	STR(c->primary_exchange, "primaryExchange");
	STR(d->contract_month, "contractMonth");
	STR(d->industry, "industry");
	STR(d->category, "category");
	STR(d->subcategory, "subcategory");
	STR(d->time_zone, "timeZoneId");
	STR(d->trading_hours, "tradingHours");
	STR(d->liquid_hours, "liquidHours");
	STR(d->ev_rule, "evRule");
	DBL(d->ev_multiplier, "evMultiplier");
	INT(n, "secIdListCount");
	if (n < 0 || n > 1000)
		FAIL("secIdListCount");
	d->nsec_ids = n;
	SKIP(2 * (int)n, "secIdList");
	INT(d->agg_group, "aggGroup");
	STR(d->under_symbol, "underSymbol");
	STR(d->under_sec_type, "underSecType");
	STR(d->market_rule_ids, "marketRuleIds");
	STR(d->real_expiration_date, "realExpirationDate");
	STR(d->stock_type, "stockType");
	DEC(d->min_size, "minSize");
	DEC(d->size_increment, "sizeIncrement");
	DEC(d->suggested_size_increment, "suggestedSizeIncrement");
	return 0;
}

static int
dec_tick(struct twsm_msg *m)
{
	struct twsm_tick *t = &m->u.tick;
	long long v, type, attr = 0;

	INT(v, "version");
	INT(t->req_id, "tickerId");
	INT(type, "tickType");
	t->tick_type = type;
	t->price = 0;
	t->size = DBL_MAX;
	if (m->id == TWSM_IN_TICK_SIZE) {
		DEC(t->size, "size");
	} else {
		DBL(t->price, "price");
		if (v >= 2)
			DEC(t->size, "size");
		if (v >= 3)
			INT(attr, "attrMask");
	}
	t->attr = attr;
	return 0;
}

static int
dec_tick_string(struct twsm_msg *m)
{
	struct twsm_tick_string *t = &m->u.tick_string;
	long long type;

	VERSION();
	INT(t->req_id, "tickerId");
	INT(type, "tickType");
	t->tick_type = type;
	STR(t->value, "value");
	t->num = NAN;
	if (m->id == TWSM_IN_TICK_GENERIC) {
		t->num = num_or_nan(t->value);
		if (isnan(t->num))
			FAIL("value");
	}
	return 0;
}

static int
dec_tick_params(struct twsm_msg *m)
{
	struct twsm_tick_params *t = &m->u.tick_params;

	INT(t->req_id, "tickerId");
	DBL(t->min_tick, "minTick");
	STR(t->bbo_exchange, "bboExchange");
	INT(t->snapshot_permissions, "snapshotPermissions");
	return 0;
}

static int
dec_md_type(struct twsm_msg *m)
{
	long long type;

	VERSION();
	INT(m->u.md_type.req_id, "reqId");
	INT(type, "marketDataType");
	m->u.md_type.type = type;
	return 0;
}

static int
dec_status(struct twsm_msg *m)
{
	struct twsm_order_status *s = &m->u.status;

	INT(s->order_id, "orderId");
	STR(s->status, "status");
	DEC(s->filled, "filled");
	DEC(s->remaining, "remaining");
	DBL(s->avg_fill_price, "avgFillPrice");
	INT(s->perm_id, "permId");
	INT(s->parent_id, "parentId");
	DBL(s->last_fill_price, "lastFillPrice");
	INT(s->client_id, "clientId");
	STR(s->why_held, "whyHeld");
	DBL(s->mkt_cap_price, "mktCapPrice");
	return 0;
}

/* OPEN_ORDER at 176: the official decoder order (tws-protocol.md 4.10),
 * with every conditional group. */
static int
dec_order(struct twsm_msg *m)
{
	struct twsm_open_order *o = &m->u.order;
	const char *s;
	long long n, origin;
	double d;
	int b;

	INT(o->order_id, "orderId");
	CALL(contract11(m, &o->c));
	STR(o->action, "action");
	DEC(o->qty, "totalQuantity");
	STR(o->order_type, "orderType");
	DBLMAX(o->lmt_price, "lmtPrice");
	DBLMAX(o->aux_price, "auxPrice");
	STR(o->tif, "tif");
	STR(o->oca_group, "ocaGroup");
	STR(o->account, "account");
	STR(o->open_close, "openClose");
	INT(origin, "origin");
	o->origin = origin;
	STR(o->order_ref, "orderRef");
	INT(o->client_id, "clientId");
	INT(o->perm_id, "permId");
	BOOL(o->outside_rth, "outsideRth");
	BOOL(o->hidden, "hidden");
	ANY("discretionaryAmt");
	STR(o->good_after_time, "goodAfterTime");
	ANY("sharesAllocation");
	SKIP(4, "faGroup..faProfile");	/* faProfile: only below 177 */
	ANY("modelCode");
	STR(o->good_till_date, "goodTillDate");
	/* rule80A percentOffset settlingFirm shortSaleSlot designatedLocation
	 * exemptCode auctionStrategy startingPrice stockRefPrice delta
	 * stockRangeLower stockRangeUpper displaySize blockOrder sweepToFill
	 * allOrNone minQty ocaType eTradeOnly firmQuoteOnly nbboPriceCap */
	SKIP(21, "rule80A..nbboPriceCap");
	INT(o->parent_id, "parentId");
	SKIP(2, "triggerMethod..volatility");
	ANY("volatilityType");
	STR(s, "deltaNeutralOrderType");
	ANY("deltaNeutralAuxPrice");
	if (*s != '\0')		/* real gateways send "None": 8 more */
		SKIP(8, "deltaNeutral fields");
	SKIP(2, "continuousUpdate..referencePriceType");
	SKIP(2, "trailStopPrice..trailingPercent");
	SKIP(2, "basisPoints..basisPointsType");
	ANY("comboLegsDescrip");
	INT(n, "comboLegsCount");
	if (n < 0 || n > 1000)
		FAIL("comboLegsCount");
	SKIP(8 * (int)n, "comboLegs");
	INT(n, "orderComboLegsCount");
	if (n < 0 || n > 1000)
		FAIL("orderComboLegsCount");
	SKIP((int)n, "orderComboLegs");
	INT(n, "smartComboRoutingParamsCount");
	if (n < 0 || n > 1000)
		FAIL("smartComboRoutingParamsCount");
	SKIP(2 * (int)n, "smartComboRoutingParams");
	SKIP(2, "scaleInitLevelSize..scaleSubsLevelSize");
	DBLMAX(d, "scalePriceIncrement");
	if (d != DBL_MAX && d > 0)
		SKIP(7, "scale fields");
	STR(s, "hedgeType");
	if (*s != '\0')
		ANY("hedgeParam");
	ANY("optOutSmartRouting");
	SKIP(2, "clearingAccount..clearingIntent");
	ANY("notHeld");
	BOOL(b, "deltaNeutralContractPresent");
	if (b)
		SKIP(3, "deltaNeutralContract");
	STR(s, "algoStrategy");
	if (*s != '\0') {
		INT(n, "algoParamsCount");
		if (n < 0 || n > 1000)
			FAIL("algoParamsCount");
		SKIP(2 * (int)n, "algoParams");
	}
	ANY("solicited");
	BOOL(o->what_if, "whatIf");
	STR(o->status, "status");
	SKIP(9, "margin fields");
	DBLMAX(o->commission, "commission");
	DBLMAX(o->min_commission, "minCommission");
	DBLMAX(o->max_commission, "maxCommission");
	STR(o->commission_currency, "commissionCurrency");
	STR(o->warning_text, "warningText");
	SKIP(2, "randomizeSize..randomizePrice");
	if (strcmp(o->order_type, "PEG BENCH") == 0 ||
	    strcmp(o->order_type, "PEGBENCH") == 0)
		SKIP(5, "PEG BENCH fields");
	INT(n, "conditionsCount");
	if (n > 0) {
		/* Condition encodings are not read; the tail is unknown. */
		o->partial = 1;
		return 0;
	}
	/* adjustedOrderType triggerPrice trailStopPrice lmtPriceOffset
	 * adjustedStopPrice adjustedStopLimitPrice adjustedTrailingAmount
	 * adjustableTrailingUnit, softDollarTier name value displayName,
	 * cashQty dontUseAutoPriceForHedge isOmsContainer
	 * discretionaryUpToLimitPrice usePriceMgmtAlgo duration postToAts
	 * autoCancelParent, minTradeQty minCompeteSize
	 * competeAgainstBestOffset midOffsetAtWhole midOffsetAtHalf */
	SKIP(24, "adjustedOrderType..midOffsetAtHalf");
	return 0;
}

static int
dec_exec(struct twsm_msg *m)
{
	struct twsm_execution *e = &m->u.exec;
	long long v;

	INT(e->req_id, "reqId");
	INT(e->order_id, "orderId");
	CALL(contract11(m, &e->c));
	STR(e->exec_id, "execId");
	STR(e->time, "time");
	STR(e->account, "acctNumber");
	STR(e->exec_exchange, "exchange");
	STR(e->side, "side");
	DEC(e->shares, "shares");
	DBL(e->price, "price");
	INT(e->perm_id, "permId");
	INT(e->client_id, "clientId");
	INT(v, "liquidation");
	e->liquidation = v;
	DEC(e->cum_qty, "cumQty");
	DBL(e->avg_price, "avgPrice");
	STR(e->order_ref, "orderRef");
	STR(e->ev_rule, "evRule");
	DBLMAX(e->ev_multiplier, "evMultiplier");
	STR(e->model_code, "modelCode");
	INT(v, "lastLiquidity");
	e->last_liquidity = v;
	return 0;
}

static int
dec_commission(struct twsm_msg *m)
{
	struct twsm_commission *c = &m->u.commission;

	VERSION();
	STR(c->exec_id, "execId");
	DBLMAX(c->commission, "commission");
	STR(c->currency, "currency");
	DBLMAX(c->realized_pnl, "realizedPNL");
	DBLMAX(c->yield, "yield");
	INTMAX(c->yield_redemption_date, "yieldRedemptionDate");
	if (c->yield_redemption_date == TWSF_UNSET_INT)
		c->yield_redemption_date = 0;
	return 0;
}

static const struct {
	int id;
	enum twsm_type type;
	const char *name;
	int (*dec)(struct twsm_msg *);
} table[] = {
	{ TWSM_IN_TICK_PRICE, TWSM_TICK_PRICE, "TICK_PRICE", dec_tick },
	{ TWSM_IN_TICK_SIZE, TWSM_TICK_SIZE, "TICK_SIZE", dec_tick },
	{ TWSM_IN_ORDER_STATUS, TWSM_ORDER_STATUS, "ORDER_STATUS", dec_status },
	{ TWSM_IN_ERR_MSG, TWSM_ERROR, "ERR_MSG", dec_error },
	{ TWSM_IN_OPEN_ORDER, TWSM_OPEN_ORDER, "OPEN_ORDER", dec_order },
	{ 6, TWSM_UNKNOWN, "ACCT_VALUE", NULL },
	{ 7, TWSM_UNKNOWN, "PORTFOLIO_VALUE", NULL },
	{ 8, TWSM_UNKNOWN, "ACCT_UPDATE_TIME", NULL },
	{ TWSM_IN_NEXT_VALID_ID, TWSM_NEXT_VALID_ID, "NEXT_VALID_ID", NULL },
	{ TWSM_IN_CONTRACT_DATA, TWSM_CONTRACT_DATA, "CONTRACT_DATA",
	    dec_contract },
	{ TWSM_IN_EXECUTION_DATA, TWSM_EXECUTION, "EXECUTION_DATA", dec_exec },
	{ TWSM_IN_MANAGED_ACCTS, TWSM_MANAGED_ACCTS, "MANAGED_ACCTS", NULL },
	{ TWSM_IN_TICK_GENERIC, TWSM_TICK_GENERIC, "TICK_GENERIC",
	    dec_tick_string },
	{ TWSM_IN_TICK_STRING, TWSM_TICK_STRING, "TICK_STRING",
	    dec_tick_string },
	{ TWSM_IN_CURRENT_TIME, TWSM_CURRENT_TIME, "CURRENT_TIME", NULL },
	{ TWSM_IN_CONTRACT_DATA_END, TWSM_CONTRACT_DATA_END,
	    "CONTRACT_DATA_END", dec_end },
	{ TWSM_IN_OPEN_ORDER_END, TWSM_OPEN_ORDER_END, "OPEN_ORDER_END",
	    dec_end },
	{ 54, TWSM_UNKNOWN, "ACCT_DOWNLOAD_END", NULL },
	{ TWSM_IN_EXECUTION_DATA_END, TWSM_EXECUTION_END,
	    "EXECUTION_DATA_END", dec_end },
	{ TWSM_IN_TICK_SNAPSHOT_END, TWSM_TICK_SNAPSHOT_END,
	    "TICK_SNAPSHOT_END", dec_end },
	{ TWSM_IN_MARKET_DATA_TYPE, TWSM_MARKET_DATA_TYPE, "MARKET_DATA_TYPE",
	    dec_md_type },
	{ TWSM_IN_COMMISSION_REPORT, TWSM_COMMISSION, "COMMISSION_REPORT",
	    dec_commission },
	{ TWSM_IN_POSITION_DATA, TWSM_POSITION, "POSITION_DATA",
	    dec_position },
	{ TWSM_IN_POSITION_END, TWSM_POSITION_END, "POSITION_END", dec_end },
	{ TWSM_IN_ACCOUNT_SUMMARY, TWSM_ACCOUNT_SUMMARY, "ACCOUNT_SUMMARY",
	    dec_value },
	{ TWSM_IN_ACCOUNT_SUMMARY_END, TWSM_ACCOUNT_SUMMARY_END,
	    "ACCOUNT_SUMMARY_END", dec_end },
	{ TWSM_IN_POSITION_MULTI, TWSM_POSITION, "POSITION_MULTI",
	    dec_position },
	{ TWSM_IN_POSITION_MULTI_END, TWSM_POSITION_END, "POSITION_MULTI_END",
	    dec_end },
	{ TWSM_IN_ACCOUNT_UPDATE_MULTI, TWSM_ACCOUNT_UPDATE_MULTI,
	    "ACCOUNT_UPDATE_MULTI", dec_value },
	{ TWSM_IN_ACCOUNT_UPDATE_MULTI_END, TWSM_ACCOUNT_UPDATE_MULTI_END,
	    "ACCOUNT_UPDATE_MULTI_END", dec_end },
	{ TWSM_IN_TICK_REQ_PARAMS, TWSM_TICK_REQ_PARAMS, "TICK_REQ_PARAMS",
	    dec_tick_params },
};

static int
dec_simple(struct twsm_msg *m)
{
	VERSION();
	switch (m->type) {
	case TWSM_NEXT_VALID_ID:
		INT(m->u.next_id.order_id, "orderId");
		break;
	case TWSM_MANAGED_ACCTS:
		STR(m->u.managed.accounts, "accountsList");
		break;
	default:	/* TWSM_CURRENT_TIME */
		INT(m->u.current_time.time, "time");
		break;
	}
	return 0;
}

const char *
twsm_name(int id)
{
	static char buf[32];
	size_t i;

	for (i = 0; i < sizeof table / sizeof table[0]; i++)
		if (table[i].id == id)
			return table[i].name;
	snprintf(buf, sizeof buf, "msg %d", id);
	return buf;
}

int
twsm_decode(struct twsf_msg *f, struct twsm_msg *m)
{
	long long id;
	size_t i;

	memset(m, 0, sizeof *m);
	m->f = *f;
	f->f = NULL;
	f->n = f->i = 0;
	m->f.i = 0;
	m->type = TWSM_UNKNOWN;
	m->id = -1;
	if (m->f.n == 0)
		return 0;
	if (twsf_get_int(&m->f, &id) == -1 || id < 0 || id > 1000000) {
		m->err = "message id";
		return -1;
	}
	m->id = id;
	for (i = 0; i < sizeof table / sizeof table[0]; i++) {
		if (table[i].id != id)
			continue;
		m->type = table[i].type;
		if (m->type == TWSM_UNKNOWN)
			return 0;
		return table[i].dec ? table[i].dec(m) : dec_simple(m);
	}
	return 0;
}

void
twsm_msg_free(struct twsm_msg *m)
{
	twsf_msg_free(&m->f);
	memset(m, 0, sizeof *m);
}

enum twsm_class
twsm_err_class(long long id, int code)
{
	switch (code) {
	case 326:
	case 1300:
		return TWSM_FATAL;
	case 100:
	case 1100:
	case 1101:
	case 2110:
		return TWSM_CONNECTIVITY;
	case 1102:
	case 10167:
		return TWSM_INFO;
	case 399:
	case 10090:
		return TWSM_WARNING;
	}
	if (code >= 500 && code <= 599)
		return TWSM_FATAL;
	if (code >= 2100 && code <= 2169)
		return TWSM_INFO;
	return id < 0 ? TWSM_WARNING : TWSM_REQUEST;
}

const char *
twsm_class_name(enum twsm_class c)
{
	switch (c) {
	case TWSM_INFO:
		return "info";
	case TWSM_WARNING:
		return "warning";
	case TWSM_REQUEST:
		return "request error";
	case TWSM_CONNECTIVITY:
		return "connectivity";
	default:
		return "fatal";
	}
}

int
twsm_err_order_done(int code)
{
	return code == 201 || code == 202 || code == 135 || code == 161 ||
	    code == 10147 || code == 10148;
}

int
twsm_status_terminal(const char *s)
{
	return s != NULL && (strcmp(s, "ApiCancelled") == 0 ||
	    strcmp(s, "Cancelled") == 0 || strcmp(s, "Filled") == 0 ||
	    strcmp(s, "Inactive") == 0);
}

int
twsm_price_kind(int t)
{
	switch (t) {
	case 1: case 66:
		return TWSM_PX_BID;
	case 2: case 67:
		return TWSM_PX_ASK;
	case 4: case 68:
		return TWSM_PX_LAST;
	case 9: case 75:
		return TWSM_PX_CLOSE;
	}
	return TWSM_PX_NONE;
}

/* Encoding. */

static const char *
or(const char *s, const char *dflt)
{
	return s != NULL ? s : dflt;
}

static void
head(struct twsf_buf *b, int id, int version)
{
	twsf_begin(b);
	twsf_int(b, id);
	if (version > 0)
		twsf_int(b, version);
}

/* conId symbol secType lastTradeDate strike right multiplier exchange
 * primaryExchange currency localSymbol tradingClass */
static void
enc_contract(struct twsf_buf *b, const struct twsm_contract *c)
{
	twsf_int(b, c->con_id);
	twsf_str(b, c->symbol);
	twsf_str(b, or(c->sec_type, "STK"));
	twsf_str(b, c->expiry);
	twsf_dbl(b, c->strike);
	twsf_str(b, c->right);
	twsf_str(b, c->multiplier);
	twsf_str(b, or(c->exchange, "SMART"));
	twsf_str(b, c->primary_exchange);
	twsf_str(b, or(c->currency, "USD"));
	twsf_str(b, c->local_symbol);
	twsf_str(b, c->trading_class);
}

static void
only_version(struct twsf_buf *b, int id, int version)
{
	head(b, id, version);
	twsf_end(b);
}

static void
with_req(struct twsf_buf *b, int id, long long req_id)
{
	head(b, id, 1);
	twsf_int(b, req_id);
	twsf_end(b);
}

void
twsm_greeting(struct twsf_buf *b)
{
	twsf_raw(b, "API", 4);	/* with its NUL */
	twsf_begin(b);
	twsf_raw(b, "v100..176", 9);
	twsf_end(b);
}

void
twsm_start_api(struct twsf_buf *b, long long client_id)
{
	head(b, TWSM_OUT_START_API, 2);
	twsf_int(b, client_id);
	twsf_str(b, "");	/* optionalCapabilities */
	twsf_end(b);
}

void
twsm_req_ids(struct twsf_buf *b)
{
	head(b, TWSM_OUT_REQ_IDS, 1);
	twsf_int(b, 1);		/* numIds, ignored by the gateway */
	twsf_end(b);
}

void
twsm_req_current_time(struct twsf_buf *b)
{
	only_version(b, TWSM_OUT_REQ_CURRENT_TIME, 1);
}

void
twsm_req_managed_accts(struct twsf_buf *b)
{
	only_version(b, TWSM_OUT_REQ_MANAGED_ACCTS, 1);
}

void
twsm_req_market_data_type(struct twsf_buf *b, int type)
{
	head(b, TWSM_OUT_REQ_MARKET_DATA_TYPE, 1);
	twsf_int(b, type);
	twsf_end(b);
}

void
twsm_req_positions(struct twsf_buf *b)
{
	only_version(b, TWSM_OUT_REQ_POSITIONS, 1);
}

void
twsm_cancel_positions(struct twsf_buf *b)
{
	only_version(b, TWSM_OUT_CANCEL_POSITIONS, 1);
}

void
twsm_req_positions_multi(struct twsf_buf *b, long long req_id,
    const char *account, const char *model_code)
{
	head(b, TWSM_OUT_REQ_POSITIONS_MULTI, 1);
	twsf_int(b, req_id);
	twsf_str(b, account);
	twsf_str(b, model_code);
	twsf_end(b);
}

void
twsm_cancel_positions_multi(struct twsf_buf *b, long long req_id)
{
	with_req(b, TWSM_OUT_CANCEL_POSITIONS_MULTI, req_id);
}

void
twsm_req_account_summary(struct twsf_buf *b, long long req_id,
    const char *group, const char *tags)
{
	head(b, TWSM_OUT_REQ_ACCOUNT_SUMMARY, 1);
	twsf_int(b, req_id);
	twsf_str(b, or(group, "All"));
	twsf_str(b, tags);
	twsf_end(b);
}

void
twsm_cancel_account_summary(struct twsf_buf *b, long long req_id)
{
	with_req(b, TWSM_OUT_CANCEL_ACCOUNT_SUMMARY, req_id);
}

void
twsm_req_account_updates_multi(struct twsf_buf *b, long long req_id,
    const char *account, const char *model_code, int ledger_and_nlv)
{
	head(b, TWSM_OUT_REQ_ACCOUNT_UPDATES_MULTI, 1);
	twsf_int(b, req_id);
	twsf_str(b, account);
	twsf_str(b, model_code);
	twsf_bool(b, ledger_and_nlv);
	twsf_end(b);
}

void
twsm_cancel_account_updates_multi(struct twsf_buf *b, long long req_id)
{
	with_req(b, TWSM_OUT_CANCEL_ACCOUNT_UPDATES_MULTI, req_id);
}

void
twsm_req_contract_data(struct twsf_buf *b, long long req_id,
    const struct twsm_contract *c)
{
	head(b, TWSM_OUT_REQ_CONTRACT_DATA, 8);
	twsf_int(b, req_id);
	enc_contract(b, c);
	twsf_bool(b, 0);	/* includeExpired */
	twsf_str(b, "");	/* secIdType */
	twsf_str(b, "");	/* secId */
	twsf_str(b, "");	/* issuerId */
	twsf_end(b);
}

void
twsm_req_mkt_data(struct twsf_buf *b, long long req_id,
    const struct twsm_contract *c, int snapshot)
{
	head(b, TWSM_OUT_REQ_MKT_DATA, 11);
	twsf_int(b, req_id);
	enc_contract(b, c);
	twsf_bool(b, 0);	/* deltaNeutralContract present */
	twsf_str(b, "");	/* genericTickList: empty for snapshots */
	twsf_bool(b, snapshot);
	twsf_bool(b, 0);	/* regulatorySnapshot: never (paid) */
	twsf_str(b, "");	/* mktDataOptions */
	twsf_end(b);
}

void
twsm_cancel_mkt_data(struct twsf_buf *b, long long req_id)
{
	with_req(b, TWSM_OUT_CANCEL_MKT_DATA, req_id);
}

static void
price(struct twsf_buf *b, double v)
{
	if (v == 0 || v == DBL_MAX)
		twsf_str(b, "");
	else
		twsf_dbl(b, v);
}

/* PLACE_ORDER: the 115 fields of tws-protocol.md 3.3, no version field. */
void
twsm_place_order(struct twsf_buf *b, const struct twsm_order *o)
{
	int i;

	head(b, TWSM_OUT_PLACE_ORDER, 0);
	twsf_int(b, o->order_id);			/* 1 */
	enc_contract(b, &o->c);				/* 2-13 */
	twsf_str(b, "");	/* 14 secIdType */
	twsf_str(b, "");	/* 15 secId */
	twsf_str(b, o->action);				/* 16 */
	twsf_dec(b, o->qty);				/* 17 */
	twsf_str(b, o->type);				/* 18 */
	price(b, o->lmt_price);				/* 19 */
	price(b, o->aux_price);				/* 20 */
	twsf_str(b, or(o->tif, "DAY"));			/* 21 */
	twsf_str(b, "");	/* 22 ocaGroup */
	twsf_str(b, o->account);			/* 23 */
	twsf_str(b, "");	/* 24 openClose */
	twsf_int(b, 0);		/* 25 origin: customer */
	twsf_str(b, o->order_ref);			/* 26 */
	twsf_bool(b, !o->no_transmit);			/* 27 transmit */
	twsf_int(b, 0);		/* 28 parentId */
	twsf_bool(b, 0);	/* 29 blockOrder */
	twsf_bool(b, 0);	/* 30 sweepToFill */
	twsf_int(b, 0);		/* 31 displaySize */
	twsf_int(b, 0);		/* 32 triggerMethod */
	twsf_bool(b, o->outside_rth);			/* 33 */
	twsf_bool(b, 0);	/* 34 hidden */
	twsf_str(b, "");	/* 35 sharesAllocation */
	twsf_int(b, 0);		/* 36 discretionaryAmt */
	for (i = 37; i <= 43; i++)	/* goodAfterTime goodTillDate faGroup
					 * faMethod faPercentage faProfile
					 * modelCode */
		twsf_str(b, "");
	twsf_int(b, 0);		/* 44 shortSaleSlot */
	twsf_str(b, "");	/* 45 designatedLocation */
	twsf_int(b, -1);	/* 46 exemptCode */
	twsf_int(b, 0);		/* 47 ocaType */
	twsf_str(b, "");	/* 48 rule80A */
	twsf_str(b, "");	/* 49 settlingFirm */
	twsf_bool(b, 0);	/* 50 allOrNone */
	twsf_str(b, "");	/* 51 minQty */
	twsf_str(b, "");	/* 52 percentOffset */
	twsf_bool(b, 0);	/* 53 eTradeOnly */
	twsf_bool(b, 0);	/* 54 firmQuoteOnly */
	twsf_str(b, "");	/* 55 nbboPriceCap */
	twsf_int(b, 0);		/* 56 auctionStrategy */
	for (i = 57; i <= 61; i++)	/* startingPrice stockRefPrice delta
					 * stockRangeLower stockRangeUpper */
		twsf_str(b, "");
	twsf_bool(b, 0);	/* 62 overridePercentageConstraints */
	for (i = 63; i <= 66; i++)	/* volatility volatilityType
					 * deltaNeutralOrderType
					 * deltaNeutralAuxPrice */
		twsf_str(b, "");
	twsf_bool(b, 0);	/* 67 continuousUpdate */
	for (i = 68; i <= 77; i++)	/* referencePriceType trailStopPrice
					 * trailingPercent scaleInitLevelSize
					 * scaleSubsLevelSize scalePriceIncrement
					 * scaleTable activeStartTime
					 * activeStopTime hedgeType */
		twsf_str(b, "");
	twsf_bool(b, 0);	/* 78 optOutSmartRouting */
	twsf_str(b, "");	/* 79 clearingAccount */
	twsf_str(b, "");	/* 80 clearingIntent */
	twsf_bool(b, 0);	/* 81 notHeld */
	twsf_bool(b, 0);	/* 82 deltaNeutralContract present */
	twsf_str(b, "");	/* 83 algoStrategy */
	twsf_str(b, "");	/* 84 algoId */
	twsf_bool(b, o->what_if);			/* 85 */
	twsf_str(b, "");	/* 86 orderMiscOptions */
	twsf_bool(b, 0);	/* 87 solicited */
	twsf_bool(b, 0);	/* 88 randomizeSize */
	twsf_bool(b, 0);	/* 89 randomizePrice */
	twsf_int(b, 0);		/* 90 conditions count */
	for (i = 91; i <= 96; i++)	/* adjustedOrderType triggerPrice
					 * lmtPriceOffset adjustedStopPrice
					 * adjustedStopLimitPrice
					 * adjustedTrailingAmount */
		twsf_str(b, "");
	twsf_int(b, 0);		/* 97 adjustableTrailingUnit */
	for (i = 98; i <= 105; i++)	/* extOperator softDollarTier name,
					 * value cashQty mifid2DecisionMaker
					 * mifid2DecisionAlgo
					 * mifid2ExecutionTrader
					 * mifid2ExecutionAlgo */
		twsf_str(b, "");
	twsf_bool(b, 0);	/* 106 dontUseAutoPriceForHedge */
	twsf_bool(b, 0);	/* 107 isOmsContainer */
	twsf_bool(b, 0);	/* 108 discretionaryUpToLimitPrice */
	twsf_str(b, "");	/* 109 usePriceMgmtAlgo */
	twsf_str(b, "");	/* 110 duration */
	twsf_str(b, "");	/* 111 postToAts */
	twsf_bool(b, 0);	/* 112 autoCancelParent */
	twsf_str(b, "");	/* 113 advancedErrorOverride */
	twsf_str(b, "");	/* 114 manualOrderTime */
	twsf_end(b);
}

void
twsm_cancel_order(struct twsf_buf *b, long long order_id,
    const char *manual_time)
{
	head(b, TWSM_OUT_CANCEL_ORDER, 1);
	twsf_int(b, order_id);
	twsf_str(b, manual_time);
	twsf_end(b);
}

void
twsm_req_open_orders(struct twsf_buf *b)
{
	only_version(b, TWSM_OUT_REQ_OPEN_ORDERS, 1);
}

void
twsm_req_all_open_orders(struct twsf_buf *b)
{
	only_version(b, TWSM_OUT_REQ_ALL_OPEN_ORDERS, 1);
}

void
twsm_req_executions(struct twsf_buf *b, long long req_id,
    const struct twsm_exec_filter *flt)
{
	static const struct twsm_exec_filter none;

	if (flt == NULL)
		flt = &none;
	head(b, TWSM_OUT_REQ_EXECUTIONS, 3);
	twsf_int(b, req_id);
	twsf_int(b, flt->client_id);
	twsf_str(b, flt->account);
	twsf_str(b, flt->time);
	twsf_str(b, flt->symbol);
	twsf_str(b, flt->sec_type);
	twsf_str(b, flt->exchange);
	twsf_str(b, flt->side);
	twsf_end(b);
}

void
twsm_req_global_cancel(struct twsf_buf *b)
{
	only_version(b, TWSM_OUT_REQ_GLOBAL_CANCEL, 1);
}
