/* twsm: TWS messages at server version 176 (tws-protocol.md sections 3, 4
 * and 7): incoming frames decoded into struct twsm_msg, a tagged union whose
 * strings point into the frame; outgoing requests encoded into a twsf_buf,
 * one frame per call. Tools normally use lib/tws.h, which calls these. */
#ifndef REBAL_TWSM_H
#define REBAL_TWSM_H

#include "twsf.h"

#define TWSM_VERSION	176	/* the only server version spoken */

/* Incoming message ids (gateway -> client). */
enum {
	TWSM_IN_TICK_PRICE = 1, TWSM_IN_TICK_SIZE = 2, TWSM_IN_ORDER_STATUS = 3,
	TWSM_IN_ERR_MSG = 4, TWSM_IN_OPEN_ORDER = 5, TWSM_IN_NEXT_VALID_ID = 9,
	TWSM_IN_CONTRACT_DATA = 10, TWSM_IN_EXECUTION_DATA = 11,
	TWSM_IN_MANAGED_ACCTS = 15, TWSM_IN_TICK_GENERIC = 45,
	TWSM_IN_TICK_STRING = 46, TWSM_IN_CURRENT_TIME = 49,
	TWSM_IN_CONTRACT_DATA_END = 52, TWSM_IN_OPEN_ORDER_END = 53,
	TWSM_IN_EXECUTION_DATA_END = 55, TWSM_IN_TICK_SNAPSHOT_END = 57,
	TWSM_IN_MARKET_DATA_TYPE = 58, TWSM_IN_COMMISSION_REPORT = 59,
	TWSM_IN_POSITION_DATA = 61, TWSM_IN_POSITION_END = 62,
	TWSM_IN_ACCOUNT_SUMMARY = 63, TWSM_IN_ACCOUNT_SUMMARY_END = 64,
	TWSM_IN_POSITION_MULTI = 71, TWSM_IN_POSITION_MULTI_END = 72,
	TWSM_IN_ACCOUNT_UPDATE_MULTI = 73, TWSM_IN_ACCOUNT_UPDATE_MULTI_END = 74,
	TWSM_IN_TICK_REQ_PARAMS = 81,
};

/* Outgoing message ids (client -> gateway). */
enum {
	TWSM_OUT_REQ_MKT_DATA = 1, TWSM_OUT_CANCEL_MKT_DATA = 2,
	TWSM_OUT_PLACE_ORDER = 3, TWSM_OUT_CANCEL_ORDER = 4,
	TWSM_OUT_REQ_OPEN_ORDERS = 5, TWSM_OUT_REQ_EXECUTIONS = 7,
	TWSM_OUT_REQ_IDS = 8, TWSM_OUT_REQ_CONTRACT_DATA = 9,
	TWSM_OUT_REQ_ALL_OPEN_ORDERS = 16, TWSM_OUT_REQ_MANAGED_ACCTS = 17,
	TWSM_OUT_REQ_CURRENT_TIME = 49, TWSM_OUT_REQ_GLOBAL_CANCEL = 58,
	TWSM_OUT_REQ_MARKET_DATA_TYPE = 59, TWSM_OUT_REQ_POSITIONS = 61,
	TWSM_OUT_REQ_ACCOUNT_SUMMARY = 62, TWSM_OUT_CANCEL_ACCOUNT_SUMMARY = 63,
	TWSM_OUT_CANCEL_POSITIONS = 64, TWSM_OUT_START_API = 71,
	TWSM_OUT_REQ_POSITIONS_MULTI = 74, TWSM_OUT_CANCEL_POSITIONS_MULTI = 75,
	TWSM_OUT_REQ_ACCOUNT_UPDATES_MULTI = 76,
	TWSM_OUT_CANCEL_ACCOUNT_UPDATES_MULTI = 77,
};

/* What a decoded message is. Several wire ids share a shape. */
enum twsm_type {
	TWSM_UNKNOWN,		/* an id this module does not decode: skip it */
	TWSM_ERROR,		/* 4  u.error */
	TWSM_MANAGED_ACCTS,	/* 15 u.managed */
	TWSM_NEXT_VALID_ID,	/* 9  u.next_id */
	TWSM_CURRENT_TIME,	/* 49 u.current_time */
	TWSM_POSITION,		/* 61, 71 u.position (req_id -1 for 61) */
	TWSM_POSITION_END,	/* 62, 72 u.end (req_id -1 for 62) */
	TWSM_ACCOUNT_SUMMARY,	/* 63 u.value */
	TWSM_ACCOUNT_SUMMARY_END,	/* 64 u.end */
	TWSM_ACCOUNT_UPDATE_MULTI,	/* 73 u.value */
	TWSM_ACCOUNT_UPDATE_MULTI_END,	/* 74 u.end */
	TWSM_CONTRACT_DATA,	/* 10 u.contract */
	TWSM_CONTRACT_DATA_END,	/* 52 u.end */
	TWSM_TICK_PRICE,	/* 1  u.tick */
	TWSM_TICK_SIZE,		/* 2  u.tick (price unused) */
	TWSM_TICK_GENERIC,	/* 45 u.tick_string (num holds the value) */
	TWSM_TICK_STRING,	/* 46 u.tick_string */
	TWSM_TICK_REQ_PARAMS,	/* 81 u.tick_params */
	TWSM_TICK_SNAPSHOT_END,	/* 57 u.end */
	TWSM_MARKET_DATA_TYPE,	/* 58 u.md_type */
	TWSM_ORDER_STATUS,	/* 3  u.status */
	TWSM_OPEN_ORDER,	/* 5  u.order */
	TWSM_OPEN_ORDER_END,	/* 53 (no fields) */
	TWSM_EXECUTION,		/* 11 u.exec */
	TWSM_EXECUTION_END,	/* 55 u.end */
	TWSM_COMMISSION,	/* 59 u.commission */
};

/* ERR_MSG classes (tws-protocol.md 4.2). */
enum twsm_class {
	TWSM_INFO,		/* 2100-2169 farm notices, 1102, 10167: log */
	TWSM_WARNING,		/* 399, 10090, unknown codes with id -1: the
				 * request or order goes on */
	TWSM_REQUEST,		/* the request or order named by id failed or
				 * ended (200, 201, 202, 354, 10089, ...) */
	TWSM_CONNECTIVITY,	/* 1100, 1101, 2110, 100: gateway-IB link or
				 * pacing; state may be stale */
	TWSM_FATAL,		/* 326 (client id in use), 500-599, 1300: the
				 * connection is going away */
};

/* A contract as the messages carry it; unset strings are "" (never NULL
 * after decoding). For encoding, NULL sec_type/exchange/currency mean
 * "STK"/"SMART"/"USD" and other NULL strings mean "". */
struct twsm_contract {
	long long con_id;
	const char *symbol, *sec_type, *expiry, *right, *multiplier;
	const char *exchange, *primary_exchange, *currency;
	const char *local_symbol, *trading_class;
	double strike;
};

struct twsm_error {
	long long id;		/* -1, a request id or an order id */
	int code;
	enum twsm_class cls;
	const char *text, *advanced;	/* advancedOrderRejectJson, often "" */
};

struct twsm_position {		/* POSITION_DATA, POSITION_MULTI */
	long long req_id;
	const char *account, *model_code;
	struct twsm_contract c;	/* exchange: the primary listing */
	double pos, avg_cost;
};

struct twsm_value {		/* ACCOUNT_SUMMARY, ACCOUNT_UPDATE_MULTI */
	long long req_id;
	const char *account, *model_code;	/* model_code "" for 63 */
	const char *tag, *value, *currency;
	double num;		/* value as a number, NAN if it is not one */
};

struct twsm_contract_data {
	long long req_id;
	struct twsm_contract c;
	const char *market_name, *order_types, *valid_exchanges, *long_name;
	const char *contract_month, *industry, *category, *subcategory;
	const char *time_zone, *trading_hours, *liquid_hours;
	const char *ev_rule, *under_symbol, *under_sec_type, *market_rule_ids;
	const char *real_expiration_date, *stock_type;
	double min_tick, ev_multiplier;
	double min_size, size_increment, suggested_size_increment;
	long long price_magnifier, under_con_id, agg_group;
	int nsec_ids;		/* (tag, value) pairs, skipped */
};

struct twsm_tick {		/* TICK_PRICE, TICK_SIZE */
	long long req_id;
	int tick_type;
	double price;		/* -1: no data now (market closed) */
	double size;		/* DBL_MAX when unset */
	int attr;		/* 1 canAutoExecute, 2 pastLimit, 4 preOpen */
};

struct twsm_tick_string {	/* TICK_STRING, TICK_GENERIC */
	long long req_id;
	int tick_type;
	const char *value;
	double num;		/* TICK_GENERIC's value; NAN for strings */
};

struct twsm_tick_params {
	long long req_id;
	double min_tick;
	const char *bbo_exchange;
	long long snapshot_permissions;
};

struct twsm_md_type {
	long long req_id;
	int type;		/* 1 live, 2 frozen, 3 delayed, 4 delayed-frozen */
};

struct twsm_order_status {
	long long order_id, perm_id, parent_id, client_id;
	const char *status, *why_held;
	double filled, remaining, avg_fill_price, last_fill_price;
	double mkt_cap_price;
};

struct twsm_open_order {
	long long order_id, client_id, perm_id, parent_id;
	struct twsm_contract c;
	const char *action, *order_type, *tif, *oca_group, *account;
	const char *open_close, *order_ref, *good_after_time, *good_till_date;
	const char *status, *warning_text;
	const char *commission_currency;
	double qty, lmt_price, aux_price;	/* prices DBL_MAX when unset */
	double commission, min_commission, max_commission;	/* DBL_MAX */
	int origin, outside_rth, hidden, what_if;
	/* 1: the order has conditions, whose encoding this module does not
	 * read; every field above is valid (they come before the conditions),
	 * the tail after them is not checked. */
	int partial;
};

struct twsm_execution {
	long long req_id;		/* -1 for live fills */
	long long order_id, perm_id, client_id;
	struct twsm_contract c;
	const char *exec_id, *time, *account, *exec_exchange, *side;
	const char *order_ref, *ev_rule, *model_code;
	double shares, price, cum_qty, avg_price, ev_multiplier;
	int liquidation, last_liquidity;
};

struct twsm_commission {
	const char *exec_id, *currency;
	double commission, realized_pnl, yield;	/* DBL_MAX when unset */
	long long yield_redemption_date;	/* 0 when unset */
};

struct twsm_msg {
	enum twsm_type type;
	int id;			/* the message id on the wire */
	const char *err;	/* after a decode error: what was missing/bad */
	union {
		struct twsm_error error;
		struct { const char *accounts; } managed; /* comma list */
		struct { long long order_id; } next_id;
		struct { long long time; } current_time;	/* epoch */
		struct twsm_position position;
		struct twsm_value value;
		struct twsm_contract_data contract;
		struct twsm_tick tick;
		struct twsm_tick_string tick_string;
		struct twsm_tick_params tick_params;
		struct twsm_md_type md_type;
		struct twsm_order_status status;
		struct twsm_open_order order;
		struct twsm_execution exec;
		struct twsm_commission commission;
		struct { long long req_id; } end;
	} u;
	struct twsf_msg f;	/* the frame; the strings above point into it */
};

/* Decode frame F into M, which takes F over (free M with twsm_msg_free).
 * 0 ok (type TWSM_UNKNOWN for an id not decoded here, and for an empty
 * frame); -1 a field is missing or malformed: M->err names it. Fields after
 * the known layout are ignored. */
int twsm_decode(struct twsf_msg *f, struct twsm_msg *m);
void twsm_msg_free(struct twsm_msg *m);
const char *twsm_name(int in_id);	/* "TICK_PRICE", or "msg 99" */

enum twsm_class twsm_err_class(long long id, int code);
const char *twsm_class_name(enum twsm_class c);	/* "info", "warning",
							 * "request error",
							 * "connectivity",
							 * "fatal" */
/* An order error that means the order is over: 201, 202, 135, 161, 10147,
 * 10148. */
int twsm_err_order_done(int code);
/* ApiCancelled, Cancelled, Filled, Inactive. */
int twsm_status_terminal(const char *status);

/* Tick types by meaning, live and delayed alike. */
enum { TWSM_PX_NONE, TWSM_PX_BID, TWSM_PX_ASK, TWSM_PX_LAST, TWSM_PX_CLOSE };
int twsm_price_kind(int tick_type);	/* 1/66 BID, 2/67 ASK, 4/68 LAST,
					 * 9/75 CLOSE, else NONE */

/* Outgoing. Each call appends one complete frame to B. */
struct twsm_order {
	long long order_id;
	struct twsm_contract c;
	const char *action;	/* "BUY" / "SELL" */
	double qty;
	const char *type;	/* "MKT", "LMT", "MOC" */
	double lmt_price;	/* 0 or DBL_MAX: unset (sent as "") */
	double aux_price;	/* 0 or DBL_MAX: unset */
	const char *tif;	/* NULL: "DAY" */
	const char *account;
	const char *order_ref;
	int outside_rth;
	int what_if;
	int no_transmit;	/* 1 stages the order in TWS only */
};

struct twsm_exec_filter {	/* NULL / 0: no filter on that field */
	long long client_id;
	const char *account, *time, *symbol, *sec_type, *exchange, *side;
};

void twsm_greeting(struct twsf_buf *b);	/* "API\0" + "v100..176" */
void twsm_start_api(struct twsf_buf *b, long long client_id);
void twsm_req_ids(struct twsf_buf *b);
void twsm_req_current_time(struct twsf_buf *b);
void twsm_req_managed_accts(struct twsf_buf *b);
void twsm_req_market_data_type(struct twsf_buf *b, int type);
void twsm_req_positions(struct twsf_buf *b);
void twsm_cancel_positions(struct twsf_buf *b);
void twsm_req_positions_multi(struct twsf_buf *b, long long req_id,
    const char *account, const char *model_code);
void twsm_cancel_positions_multi(struct twsf_buf *b, long long req_id);
void twsm_req_account_summary(struct twsf_buf *b, long long req_id,
    const char *group, const char *tags);
void twsm_cancel_account_summary(struct twsf_buf *b, long long req_id);
void twsm_req_account_updates_multi(struct twsf_buf *b, long long req_id,
    const char *account, const char *model_code, int ledger_and_nlv);
void twsm_cancel_account_updates_multi(struct twsf_buf *b, long long req_id);
void twsm_req_contract_data(struct twsf_buf *b, long long req_id,
    const struct twsm_contract *c);
void twsm_req_mkt_data(struct twsf_buf *b, long long req_id,
    const struct twsm_contract *c, int snapshot);
void twsm_cancel_mkt_data(struct twsf_buf *b, long long req_id);
void twsm_place_order(struct twsf_buf *b, const struct twsm_order *o);
/* manual_time: manualOrderCancelTime, NULL for "" (API cancels). */
void twsm_cancel_order(struct twsf_buf *b, long long order_id,
    const char *manual_time);
void twsm_req_open_orders(struct twsf_buf *b);
void twsm_req_all_open_orders(struct twsf_buf *b);
void twsm_req_executions(struct twsf_buf *b, long long req_id,
    const struct twsm_exec_filter *flt);
/* For simulator tests only: rebal tools never cancel globally. */
void twsm_req_global_cancel(struct twsf_buf *b);

#endif
