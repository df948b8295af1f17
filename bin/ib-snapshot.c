/* ib-snapshot: add the account's state at IB Gateway to each job: positions,
 * balances, contract details and quotes of every held and target symbol, open
 * orders of all clients, today's executions, the gateway's clock. */
#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "acct.h"
#include "diag.h"
#include "jvx.h"
#include "nd.h"
#include "tm.h"
#include "tws.h"

#define SYNOPSIS "[-h] [-a account] [-c clientid] [-H host:port] [-m type] " \
	"[-r seconds] [-t seconds] [file ...]"
#define REUSE_SECS	3600	/* contract details of an earlier snapshot this
				 * recent are taken over, not asked again */

static const char *opt_account, *opt_hostport;
static long opt_client = -1;
static int md_type = 1;
static double timeout = 30, retry_gap = 1;
static int nfailed, fail_code, nrecords;

struct sym {
	char *name;
	long long cd_req, md_req;
	int cd_done, md_done, tries, delayed;
	int frozen;		/* type 2 or 4: last values from before the
				 * close, not a current price */
	int have_cd;		/* con_id and the rest from contract details */
	double bid, ask, last, close, at, retry_at;
	double min_tick;
	long long con_id;	/* a position's until the details come */
	long long md_con;	/* the con_id the quote was asked for */
	char *primary, *tz, *liquid, *trading;
};

struct snap {
	const char *account;
	struct tws *t;
	struct sym *s;
	int ns;
	long long pos_req, acct_req, exec_req;
	int pos_done, acct_done, time_done, oo_done, exec_done;
	int md_fallback;	/* switched to delayed data */
	int offline;		/* 1100/2110: the gateway has lost IB */
	double server_time;
	jv positions;		/* array */
	jv values;		/* tag -> {currency -> value} */
	jv orders;		/* "client:order_id" -> order */
	jv execs;		/* exec_id -> execution */
	jv warnings;
	jv prev;		/* quotes of the job's recent snapshot, or null */
	int fail;		/* exit-status code of the failure */
	char err[512];
};

static int
failf(struct snap *s, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int
failf(struct snap *s, int code, const char *fmt, ...)
{
	va_list ap;

	if (s->fail)
		return -1;
	s->fail = code;
	va_start(ap, fmt);
	vsnprintf(s->err, sizeof s->err, fmt, ap);
	va_end(ap);
	return -1;
}

static struct sym *
sym_find(struct snap *s, const char *name)
{
	int i;

	for (i = 0; i < s->ns; i++)
		if (!strcmp(s->s[i].name, name))
			return &s->s[i];
	return NULL;
}

static struct twsm_contract
contract_of(const struct sym *y)
{
	struct twsm_contract c;

	memset(&c, 0, sizeof c);
	c.symbol = y->name;
	c.con_id = y->con_id;
	c.primary_exchange = y->primary;
	return c;
}

static void
md_request(struct snap *s, struct sym *y)
{
	struct twsm_contract c = contract_of(y);

	if (y->md_req != 0 && y->md_con != y->con_id)
		y->bid = y->ask = y->last = y->close = NAN;	/* another contract */
	y->md_done = 0;
	y->tries++;
	y->md_con = y->con_id;
	y->md_req = tws_req_mkt_data(s->t, &c, 1);
}

/* Y's contract details from the job's earlier snapshot (the first one of
 * the pipeline, taken minutes ago): 1 when it holds them. */
static int
reuse_details(struct snap *s, struct sym *y)
{
	jv q = jvx_get(s->prev, y->name);
	const char *tz = jvx_str(q, "time_zone"), *lh = jvx_str(q,
	    "liquid_hours"), *th = jvx_str(q, "trading_hours");
	double id, tick;
	int ok;

	ok = jvx_num(q, "con_id", &id) && id >= 1 && id < 9e15 &&
	    jvx_num(q, "min_tick", &tick) && tick > 0 && tz && lh && th;
	if (ok) {
		y->con_id = (long long)id;
		y->min_tick = tick;
		y->tz = xstrdup(tz);
		y->liquid = xstrdup(lh);
		y->trading = xstrdup(th);
		y->have_cd = y->cd_done = 1;
	}
	jv_free(q);
	return ok;
}

/* A symbol to price: its contract details, from the job's recent snapshot
 * or requested now; the quote at once when the details are known. */
static struct sym *
sym_add(struct snap *s, const char *name)
{
	struct sym *y;
	struct twsm_contract c;

	if ((y = sym_find(s, name)) != NULL)
		return y;
	s->s = xrealloc(s->s, (size_t)(s->ns + 1) * sizeof *s->s);
	y = &s->s[s->ns++];
	memset(y, 0, sizeof *y);
	y->name = xstrdup(name);
	y->bid = y->ask = y->last = y->close = NAN;
	if (reuse_details(s, y)) {
		md_request(s, y);
		return y;
	}
	c = contract_of(y);
	y->cd_req = tws_req_contract_data(s->t, &c);
	return y;
}

static struct sym *
sym_by_req(struct snap *s, long long req, int md)
{
	int i;

	if (req <= 0)
		return NULL;	/* not asked yet */
	for (i = 0; i < s->ns; i++)
		if ((md ? s->s[i].md_req : s->s[i].cd_req) == req)
			return &s->s[i];
	return NULL;
}

static int
quote_ok(const struct sym *y)
{
	return isfinite(y->bid) && y->bid > 0 && isfinite(y->ask) &&
	    y->ask > 0 && y->ask >= y->bid;
}

static const char *
side_action(const char *side)
{
	if (!strcmp(side, "BOT"))
		return "BUY";
	if (!strcmp(side, "SLD"))
		return "SELL";
	return side;
}

static jv
num_or_null(double v)
{
	return isfinite(v) && v != DBL_MAX ? jv_number(v) : jv_null();
}

static void
on_order(struct snap *s, const struct twsm_open_order *o)
{
	char key[64];
	jv e;

	if (strcmp(o->account, s->account))
		return;
	snprintf(key, sizeof key, "%lld:%lld", o->client_id, o->order_id);
	e = JV_OBJECT(jv_string("order_id"), jv_number((double)o->order_id),
	    jv_string("perm_id"), jv_number((double)o->perm_id),
	    jv_string("client_id"), jv_number((double)o->client_id),
	    jv_string("symbol"), jv_string(o->c.symbol),
	    jv_string("action"), jv_string(o->action),
	    jv_string("qty"), num_or_null(o->qty),
	    jv_string("filled"), jv_number(0),
	    jv_string("type"), jv_string(o->order_type));
	e = jv_object_set(e, jv_string("limit"), num_or_null(o->lmt_price));
	e = jv_object_set(e, jv_string("tif"), jv_string(o->tif));
	e = jv_object_set(e, jv_string("status"), jv_string(o->status));
	e = jv_object_set(e, jv_string("ref"), jv_string(o->order_ref));
	/* keep a fill count an ORDER_STATUS already gave */
	if (jv_object_has(jv_copy(s->orders), jv_string(key))) {
		jv old = jv_object_get(jv_copy(s->orders), jv_string(key));

		e = jv_object_set(e, jv_string("filled"),
		    jvx_get(old, "filled"));
		jv_free(old);
	}
	s->orders = jv_object_set(s->orders, jv_string(key), e);
}

static void
on_status(struct snap *s, const struct twsm_order_status *o)
{
	char key[64];
	jv e;

	snprintf(key, sizeof key, "%lld:%lld", o->client_id, o->order_id);
	if (!jv_object_has(jv_copy(s->orders), jv_string(key)))
		return;		/* another account's, or not yet described */
	e = jv_object_get(jv_copy(s->orders), jv_string(key));
	e = jv_object_set(e, jv_string("status"), jv_string(o->status));
	e = jv_object_set(e, jv_string("filled"), jv_number(o->filled));
	s->orders = jv_object_set(s->orders, jv_string(key), e);
}

static void
on_exec(struct snap *s, const struct twsm_execution *x)
{
	char at[32];
	jv e;
	double t;

	if (strcmp(x->account, s->account))
		return;
	/* "20261120 15:30:01 US/Eastern" or "20261120-20:30:01": keep as is
	 * when it is not RFC 3339-convertible */
	e = JV_OBJECT(jv_string("exec_id"), jv_string(x->exec_id),
	    jv_string("order_id"), jv_number((double)x->order_id),
	    jv_string("perm_id"), jv_number((double)x->perm_id),
	    jv_string("client_id"), jv_number((double)x->client_id),
	    jv_string("symbol"), jv_string(x->c.symbol),
	    jv_string("action"), jv_string(side_action(x->side)),
	    jv_string("qty"), jv_number(x->shares),
	    jv_string("price"), jv_number(x->price));
	if (tm_parse(x->time, &t) == 0)
		e = jv_object_set(e, jv_string("time"),
		    jv_string(tm_fmt(t, at)));
	else
		e = jv_object_set(e, jv_string("time"), jv_string(x->time));
	e = jv_object_set(e, jv_string("ref"), jv_string(x->order_ref));
	s->execs = jv_object_set(s->execs, jv_string(x->exec_id), e);
}

static void
on_value(struct snap *s, const struct twsm_value *v)
{
	jv tag;

	if (v->req_id != s->acct_req || strcmp(v->account, s->account) ||
	    !isfinite(v->num))
		return;
	tag = jv_object_get(jv_copy(s->values), jv_string(v->tag));
	if (!jv_is_valid(tag)) {
		jv_free(tag);
		tag = jv_object();
	}
	tag = jv_object_set(tag, jv_string(v->currency), jv_number(v->num));
	s->values = jv_object_set(s->values, jv_string(v->tag), tag);
}

/* An account value: the BASE row, else USD, else the only one. */
static jv
value(struct snap *s, const char *tag)
{
	jv t = jvx_get(s->values, tag), v = jv_null();
	const char *pref[] = { "BASE", "USD", "" };
	size_t i;

	if (jv_get_kind(t) != JV_KIND_OBJECT) {
		jv_free(t);
		return jv_null();
	}
	for (i = 0; i < sizeof pref / sizeof pref[0]; i++) {
		jv_free(v);
		v = jvx_get(t, pref[i]);
		if (jv_get_kind(v) == JV_KIND_NUMBER)
			break;
	}
	if (jv_get_kind(v) != JV_KIND_NUMBER && jv_object_length(jv_copy(t))
	    == 1) {
		jv_free(v);
		v = jv_array_get(jv_keys(jv_copy(t)), 0);
		v = jv_object_get(jv_copy(t), v);
	}
	jv_free(t);
	return v;
}

/* The currency of TAG's rows when none is USD (a non-USD base currency):
 * into CCY, 1; else 0. */
static int
foreign(struct snap *s, const char *tag, char *ccy, size_t n)
{
	jv t = jvx_get(s->values, tag);
	int r = 0;

	if (jv_get_kind(t) == JV_KIND_OBJECT &&
	    !jv_object_has(jv_copy(t), jv_string("USD"))) {
		jv_object_keys_foreach(t, k) {
			const char *c = jv_string_value(k);

			if (!r && *c != '\0' && strcmp(c, "BASE") != 0) {
				snprintf(ccy, n, "%s", c);
				r = 1;
			}
			jv_free(k);
		}
	}
	jv_free(t);
	return r;
}

static void
warn_once(struct snap *s, const char *msg)
{
	jv w = jv_string(msg);
	int i, n = jv_array_length(jv_copy(s->warnings));

	for (i = 0; i < n; i++)
		if (jv_equal(jv_array_get(jv_copy(s->warnings), i),
		    jv_copy(w))) {
			jv_free(w);
			return;
		}
	warnx("%s: %s", s->account, msg);
	s->warnings = jv_array_append(s->warnings, w);
}

/* The account's state: its requests, sent at once. */
static void
ask_account(struct snap *s)
{
	struct twsm_exec_filter flt;

	tws_req_current_time(s->t);
	s->pos_req = tws_req_positions_multi(s->t, s->account, "");
	s->acct_req = tws_req_account_updates_multi(s->t, s->account, "", 0);
	tws_req_all_open_orders(s->t);
	memset(&flt, 0, sizeof flt);
	flt.account = s->account;
	s->exec_req = tws_req_executions(s->t, &flt);
}

/* IB is back after the gateway lost it (1101, 1102): what came before may
 * be out of date (fills are reported late), and with 1101 what was in
 * flight is lost. Start over; contract details that came are kept. */
static void
ask_again(struct snap *s)
{
	struct twsm_contract c;
	int i;

	if (!s->pos_done)
		tws_cancel_positions_multi(s->t, s->pos_req);
	if (!s->acct_done)
		tws_cancel_account_updates_multi(s->t, s->acct_req);
	s->pos_done = s->acct_done = s->time_done = s->oo_done = 0;
	s->exec_done = 0;
	jv_free(s->positions);
	jv_free(s->values);
	jv_free(s->orders);
	jv_free(s->execs);
	s->positions = jv_array();
	s->values = jv_object();
	s->orders = jv_object();
	s->execs = jv_object();
	ask_account(s);
	for (i = 0; i < s->ns; i++) {
		struct sym *y = &s->s[i];

		if (!y->cd_done) {
			c = contract_of(y);
			y->cd_req = tws_req_contract_data(s->t, &c);
			continue;
		}
		y->bid = y->ask = y->last = y->close = NAN;
		md_request(s, y);
	}
}

static int
on_error(struct snap *s, const struct twsm_error *e)
{
	struct sym *y;
	char msg[400];

	switch (e->code) {
	case 1100:
	case 2110:
		/* nothing is sure until IB is back: wait (the deadline runs) */
		if (!s->offline)
			warnx("%s: the gateway lost IB (%d %s): waiting for it",
			    s->account, e->code, e->text);
		s->offline = e->code;
		return 0;
	case 1101:
	case 1102:
		warnx("%s: IB is back (%d %s): asking again", s->account,
		    e->code, e->text);
		s->offline = 0;
		ask_again(s);
		return 0;
	}
	if (e->cls == TWSM_INFO)
		return 0;
	if ((y = sym_by_req(s, e->id, 0)) != NULL && !y->cd_done) {
		if (e->code == 200)
			return failf(s, EX_DATAERR, "unknown symbol %s: %s",
			    y->name, e->text);
		return failf(s, EX_PROTOCOL, "contract details of %s: %d %s",
		    y->name, e->code, e->text);
	}
	if ((y = sym_by_req(s, e->id, 1)) != NULL) {
		if ((e->code == 354 || e->code == 10089 || e->code == 10168) &&
		    md_type < 3 && !s->md_fallback) {
			snprintf(msg, sizeof msg, "no live market data (%d): "
			    "using delayed%s data", e->code,
			    md_type == 2 ? " frozen" : "");
			warn_once(s, msg);
			s->md_fallback = 1;
		}
		if (e->code == 354 || e->code == 10089 || e->code == 10168 ||
		    e->code == 10167) {
			if (s->md_fallback && e->code != 10167) {
				/* frozen asked for: delayed frozen (4) */
				tws_req_market_data_type(s->t,
				    md_type == 2 ? 4 : 3);
				y->delayed = 1;
				md_request(s, y);
			}
			return 0;
		}
		if (e->cls == TWSM_WARNING)
			return 0;
		/* no data for the symbol: let the retry logic decide */
		snprintf(msg, sizeof msg, "%s: market data error %d: %s",
		    y->name, e->code, e->text);
		warn_once(s, msg);
		y->md_done = 1;
		y->retry_at = tws_clock() + retry_gap;
		return 0;
	}
	if (e->id == s->pos_req || e->id == s->acct_req || e->id == s->exec_req)
		return failf(s, e->code == 321 ? EX_CONFIG : EX_PROTOCOL,
		    "gateway refused a request: %d %s", e->code, e->text);
	if (e->code == 100)
		return failf(s, EX_TEMPFAIL, "pacing violation: %s", e->text);
	if (e->cls == TWSM_FATAL)
		return failf(s, EX_UNAVAILABLE, "gateway: %d %s", e->code,
		    e->text);
	if (e->cls == TWSM_WARNING || e->id < 0)
		warnx("%s: gateway %s %d: %s", s->account,
		    twsm_class_name(e->cls), e->code, e->text);
	return 0;
}

static void
on_contract(struct snap *s, const struct twsm_contract_data *d)
{
	struct sym *y = sym_by_req(s, d->req_id, 0);

	if (y == NULL || y->have_cd)
		return;		/* the first match is kept */
	y->have_cd = 1;
	y->con_id = d->c.con_id;
	y->min_tick = d->min_tick;
	free(y->primary);
	y->primary = xstrdup(d->c.primary_exchange);
	y->tz = xstrdup(d->time_zone);
	y->liquid = xstrdup(d->liquid_hours);
	y->trading = xstrdup(d->trading_hours);
}

static void
on_tick(struct snap *s, const struct twsm_tick *k)
{
	struct sym *y = sym_by_req(s, k->req_id, 1);
	double p = k->price;

	if (y == NULL)
		return;
	if (!(p > 0) || p == DBL_MAX)
		p = NAN;	/* -1: no data now */
	switch (twsm_price_kind(k->tick_type)) {
	case TWSM_PX_BID:
		y->bid = p;
		break;
	case TWSM_PX_ASK:
		y->ask = p;
		break;
	case TWSM_PX_LAST:
		y->last = p;
		break;
	case TWSM_PX_CLOSE:
		y->close = p;
		break;
	}
	if (k->tick_type >= 66)
		y->delayed = 1;
	y->at = tm_now();
}

static int
finished(struct snap *s)
{
	int i;

	if (s->offline || !s->pos_done || !s->acct_done || !s->time_done ||
	    !s->oo_done || !s->exec_done)
		return 0;
	for (i = 0; i < s->ns; i++)
		if (!s->s[i].cd_done || !s->s[i].md_done ||
		    !quote_ok(&s->s[i]))
			return 0;
	return 1;
}

static int
dispatch(struct snap *s, struct twsm_msg *m)
{
	struct sym *y;

	switch (m->type) {
	case TWSM_ERROR:
		return on_error(s, &m->u.error);
	case TWSM_CURRENT_TIME:
		s->server_time = (double)m->u.current_time.time;
		s->time_done = 1;
		break;
	case TWSM_POSITION:
		if (m->u.position.req_id == s->pos_req &&
		    !strcmp(m->u.position.account, s->account) &&
		    m->u.position.pos != 0) {
			const struct twsm_position *p = &m->u.position;

			s->positions = jv_array_append(s->positions, JV_OBJECT(
			    jv_string("symbol"), jv_string(p->c.symbol),
			    jv_string("con_id"), jv_number((double)p->c.con_id),
			    jv_string("sec_type"), jv_string(p->c.sec_type),
			    jv_string("currency"), jv_string(p->c.currency),
			    jv_string("qty"), jv_number(p->pos),
			    jv_string("avg_cost"), jv_number(p->avg_cost)));
			if (!strcmp(p->c.sec_type, "STK") &&
			    !(y = sym_add(s, p->c.symbol))->cd_done &&
			    y->md_req == 0 && p->c.con_id > 0) {
				/* the held contract's quote now, beside its
				 * details (asked again if they name another) */
				y->con_id = p->c.con_id;
				free(y->primary);
				y->primary = xstrdup(p->c.exchange ?
				    p->c.exchange : "");
				md_request(s, y);
			}
		}
		break;
	case TWSM_POSITION_END:
		if (m->u.end.req_id == s->pos_req && !s->pos_done) {
			s->pos_done = 1;
			tws_cancel_positions_multi(s->t, s->pos_req);
		}
		break;
	case TWSM_ACCOUNT_UPDATE_MULTI:
		on_value(s, &m->u.value);
		break;
	case TWSM_ACCOUNT_UPDATE_MULTI_END:
		if (m->u.end.req_id == s->acct_req && !s->acct_done) {
			s->acct_done = 1;
			tws_cancel_account_updates_multi(s->t, s->acct_req);
		}
		break;
	case TWSM_CONTRACT_DATA:
		on_contract(s, &m->u.contract);
		break;
	case TWSM_CONTRACT_DATA_END:
		if ((y = sym_by_req(s, m->u.end.req_id, 0)) != NULL &&
		    !y->cd_done) {
			y->cd_done = 1;
			if (!y->have_cd || y->con_id == 0)
				return failf(s, EX_DATAERR, "unknown symbol %s",
				    y->name);
			if (y->md_req == 0 || y->md_con != y->con_id)
				md_request(s, y);
		}
		break;
	case TWSM_TICK_PRICE:
		on_tick(s, &m->u.tick);
		break;
	case TWSM_TICK_SNAPSHOT_END:
		if ((y = sym_by_req(s, m->u.end.req_id, 1)) != NULL) {
			y->md_done = 1;
			y->retry_at = tws_clock() + retry_gap;
		}
		break;
	case TWSM_MARKET_DATA_TYPE:
		if ((y = sym_by_req(s, m->u.md_type.req_id, 1)) == NULL)
			break;
		if (m->u.md_type.type >= 3)
			y->delayed = 1;
		/* frozen (2) and delayed-frozen (4): kept, never cleared by a
		 * later request, like delayed: the ticks may mix */
		if (m->u.md_type.type == 2 || m->u.md_type.type == 4)
			y->frozen = 1;
		break;
	case TWSM_OPEN_ORDER:
		on_order(s, &m->u.order);
		break;
	case TWSM_ORDER_STATUS:
		on_status(s, &m->u.status);
		break;
	case TWSM_OPEN_ORDER_END:
		s->oo_done = 1;
		break;
	case TWSM_EXECUTION:
		if (m->u.exec.req_id == s->exec_req)
			on_exec(s, &m->u.exec);
		break;
	case TWSM_EXECUTION_END:
		if (m->u.end.req_id == s->exec_req)
			s->exec_done = 1;
		break;
	default:
		break;
	}
	return 0;
}

/* Re-request the quotes still missing whose retry time has come; the
 * earliest pending retry time lowers *WAKE. */
static void
retry_quotes(struct snap *s, double now, double *wake)
{
	int i;

	for (i = 0; i < s->ns; i++) {
		struct sym *y = &s->s[i];

		if (!y->cd_done || !y->md_done || quote_ok(y))
			continue;
		if (y->retry_at <= now)
			md_request(s, y);
		else if (y->retry_at < *wake)
			*wake = y->retry_at;
	}
}

static jv
snapshot_jv(struct snap *s)
{
	char at[32];
	jv q = jv_object(), snap, o;
	int i;

	for (i = 0; i < s->ns; i++) {
		struct sym *y = &s->s[i];

		o = JV_OBJECT(jv_string("bid"), num_or_null(y->bid),
		    jv_string("ask"), num_or_null(y->ask),
		    jv_string("last"), num_or_null(y->last),
		    jv_string("close"), num_or_null(y->close),
		    jv_string("at"), jv_string(tm_fmt(y->at, at)),
		    jv_string("con_id"), jv_number((double)y->con_id),
		    jv_string("min_tick"), num_or_null(y->min_tick > 0 ?
		    y->min_tick : NAN));
		o = jv_object_set(o, jv_string("time_zone"),
		    jv_string(y->tz ? y->tz : ""));
		o = jv_object_set(o, jv_string("liquid_hours"),
		    jv_string(y->liquid ? y->liquid : ""));
		o = jv_object_set(o, jv_string("trading_hours"),
		    jv_string(y->trading ? y->trading : ""));
		o = jv_object_set(o, jv_string("delayed"),
		    jv_bool(y->delayed));
		o = jv_object_set(o, jv_string("frozen"),
		    jv_bool(y->frozen));
		q = jv_object_set(q, jv_string(y->name), o);
	}
	snap = JV_OBJECT(jv_string("at"), jv_string(tm_fmt(tm_now(), at)),
	    jv_string("server_time"), jv_string(tm_fmt(s->server_time, at)),
	    jv_string("account"), jv_string(s->account),
	    jv_string("net_liquidation"), value(s, "NetLiquidation"),
	    jv_string("cash"), jv_null(),
	    jv_string("settled_cash"), value(s, "SettledCash"),
	    jv_string("available_funds"), value(s, "AvailableFunds"));
	o = value(s, "TotalCashValue");
	if (jv_get_kind(o) != JV_KIND_NUMBER) {
		jv_free(o);
		o = value(s, "CashBalance");
	}
	snap = jv_object_set(snap, jv_string("cash"), o);
	snap = jv_object_set(snap, jv_string("positions"),
	    jv_copy(s->positions));
	snap = jv_object_set(snap, jv_string("quotes"), q);
	o = jv_array();
	jv_object_foreach(s->orders, k, v) {
		jv_free(k);
		o = jv_array_append(o, v);
	}
	snap = jv_object_set(snap, jv_string("open_orders"), o);
	o = jv_array();
	jv_object_foreach(s->execs, k, v) {
		jv_free(k);
		o = jv_array_append(o, v);
	}
	snap = jv_object_set(snap, jv_string("executions_today"), o);
	if (jv_array_length(jv_copy(s->warnings)) > 0)
		snap = jv_object_set(snap, jv_string("warnings"),
		    jv_copy(s->warnings));
	return snap;
}

static void
snap_free(struct snap *s)
{
	int i;

	for (i = 0; i < s->ns; i++) {
		free(s->s[i].name);
		free(s->s[i].primary);
		free(s->s[i].tz);
		free(s->s[i].liquid);
		free(s->s[i].trading);
	}
	free(s->s);
	jv_free(s->positions);
	jv_free(s->values);
	jv_free(s->orders);
	jv_free(s->execs);
	jv_free(s->warnings);
	jv_free(s->prev);
}

/* The reason a job cannot be completed, once the deadline passed. */
static void
deadline_reason(struct snap *s)
{
	int i;

	if (s->offline) {
		failf(s, EX_TEMPFAIL, "the gateway lost IB (%d) and did not get "
		    "it back within %g s", s->offline, timeout);
		return;
	}
	for (i = 0; i < s->ns; i++) {
		struct sym *y = &s->s[i];

		if (y->cd_done && !quote_ok(y)) {
			failf(s, EX_TEMPFAIL, "no valid bid/ask for %s after "
			    "%d requests (bid %g, ask %g)", y->name, y->tries,
			    y->bid, y->ask);
			return;
		}
		if (!y->cd_done) {
			failf(s, EX_TEMPFAIL, "no contract details for %s",
			    y->name);
			return;
		}
	}
	failf(s, EX_TEMPFAIL, "gateway timed out after %g s", timeout);
}

/* The quotes of JOB's snapshot of ACCOUNT when it is under REUSE_SECS old
 * (the one before the sells, in a rebalance), else null. */
static jv
recent_quotes(jv job, const char *account)
{
	jv snap = jvx_get(job, "snapshot"), q = jv_null();
	const char *at = jvx_str(snap, "at"), *a = jvx_str(snap, "account");
	double t;

	if (at && a && !strcmp(a, account) && tm_parse(at, &t) == 0 &&
	    fabs(tm_now() - t) <= REUSE_SECS) {
		q = jvx_get(snap, "quotes");
		if (jv_get_kind(q) != JV_KIND_OBJECT) {
			jv_free(q);
			q = jv_null();
		}
	}
	jv_free(snap);
	return q;
}

static jv
take(jv job)
{
	struct snap s;
	struct tws_err e;
	struct twsm_msg *m;
	jv acct = jvx_get(job, "account"), al;
	const char *type, *host, *port;
	char *hpbuf = NULL, hp[300], ccy[32];
	double client, dl, wake, now;
	int i, n, r;

	memset(&s, 0, sizeof s);
	s.account = opt_account ? opt_account : jvx_account(job);
	if (!strcmp(s.account, "-")) {
		jv_free(acct);
		return jvx_fail(job, EX_DATAERR, "the job names no account");
	}
	if (opt_client >= 0)
		client = (double)opt_client;
	else if ((client = (double)acct_job_client_id(acct, s.account)) < 0) {
		jv_free(acct);
		return jvx_fail(job, EX_DATAERR, "account.client_id: not a "
		    "client id (1..%ld)", ACCT_CID_MAX);
	}
	type = jvx_str(acct, "type");
	if (opt_hostport)
		snprintf(hp, sizeof hp, "%s", opt_hostport);
	else
		snprintf(hp, sizeof hp, "%s:%s", getenv("IB_HOST") &&
		    *getenv("IB_HOST") ? getenv("IB_HOST") : "127.0.0.1",
		    getenv("IB_PORT") && *getenv("IB_PORT") ?
		    getenv("IB_PORT") : type && !strcmp(type, "live") ?
		    "4001" : "4002");
	jv_free(acct);
	if (tws_hostport(hp, &hpbuf, &host, &port) < 0) {
		free(hpbuf);
		return jvx_fail(job, EX_CONFIG, "bad host:port '%s'", hp);
	}
	dl = tws_clock() + timeout;
	s.t = tws_connect_retry(host, port, (int)client, dl, &e);
	free(hpbuf);
	if (s.t == NULL)
		return jvx_fail(job, e.status, "%s", e.msg);
	if (!tws_has_account(s.t, s.account)) {
		tws_close(s.t);
		return jvx_fail(job, EX_CONFIG, "account %s is not managed by "
		    "the gateway at %s", s.account, hp);
	}
	s.positions = jv_array();
	s.values = jv_object();
	s.orders = jv_object();
	s.execs = jv_object();
	s.warnings = jv_array();
	s.prev = recent_quotes(job, s.account);

	/* everything at once; the connection paces the sends */
	tws_req_market_data_type(s.t, md_type);
	ask_account(&s);
	al = jvx_get(job, "allocations");
	n = jv_get_kind(al) == JV_KIND_ARRAY ? jv_array_length(jv_copy(al)) : 0;
	for (i = 0; i < n; i++) {
		jv a = jv_array_get(jv_copy(al), i);
		const char *sym = jvx_str(a, "symbol");

		if (sym)
			sym_add(&s, sym);
		jv_free(a);
	}
	jv_free(al);

	while (!s.fail && !finished(&s)) {
		now = tws_clock();
		if (now >= dl) {
			deadline_reason(&s);
			break;
		}
		wake = dl;
		if (!s.offline)
			retry_quotes(&s, now, &wake);
		r = tws_poll(s.t, wake, &m);
		if (r < 0)
			failf(&s, s.t->err.status, "%s", s.t->err.msg);
		else if (r > 0)
			dispatch(&s, m);
	}
	/* quotes are of SMART/USD stocks: the money must be in USD too */
	if (!s.fail && (foreign(&s, "NetLiquidation", ccy, sizeof ccy) ||
	    foreign(&s, "TotalCashValue", ccy, sizeof ccy)))
		failf(&s, EX_CONFIG, "the account's values are in %s, not USD: "
		    "orders of US stocks are sized in USD, and currencies are "
		    "not converted", ccy);
	/* disconnect before writing the job (DESIGN 5) */
	tws_close(s.t);
	if (s.fail)
		job = jvx_fail(job, s.fail, "%s", s.err);
	else
		job = jv_object_set(job, jv_string("snapshot"),
		    snapshot_jv(&s));
	snap_free(&s);
	return job;
}

static int
one(jv job, void *ctx)
{
	const char *st = jvx_str(job, "status");
	jv err;
	double code;

	(void)ctx;
	nrecords++;
	if (st && strcmp(st, "ok")) {
		nd_emit(job);	/* a job that failed upstream passes */
		return 0;
	}
	job = take(job);
	st = jvx_str(job, "status");
	if (st && !strcmp(st, "failed")) {
		err = jvx_get(job, "error");
		if (jvx_num(err, "code", &code)) {
			if (nfailed == 0)
				fail_code = (int)code;
			else if (fail_code != (int)code)
				fail_code = EX_FAIL;
		}
		jv_free(err);
		nfailed++;
	}
	nd_emit(job);
	return 0;
}

int
main(int argc, char **argv)
{
	int c, st;

	diag_init(argv[0]);
	while ((c = getopt(argc, argv, "a:c:hH:m:r:t:")) != -1) {
		switch (c) {
		case 'a':
			opt_account = optarg;
			break;
		case 'c':
			opt_client = opt_long(c, optarg, 1, ACCT_CID_MAX);
			break;
		case 'h':
			usage(SYNOPSIS, 1);
		case 'H':
			opt_hostport = optarg;
			break;
		case 'm':
			md_type = (int)opt_long(c, optarg, 1, 4);
			break;
		case 'r':
			retry_gap = opt_double(c, optarg, 0.01, 60);
			break;
		case 't':
			timeout = opt_double(c, optarg, 0.1, 3600);
			break;
		default:
			usage(SYNOPSIS, 0);
		}
	}
	argc -= optind;
	argv += optind;
	st = opt_account && argc == 0 && isatty(0) ? 0 :
	    nd_each(argc, argv, one, NULL);
	if (opt_account && argc == 0 && nrecords == 0 && st == 0)
		/* no input: a bare record for the account */
		one(JV_OBJECT(jv_string("account"), JV_OBJECT(jv_string("id"),
		    jv_string(opt_account))), NULL);
	nd_finish();
	if (st)
		return st;
	return nfailed ? fail_code : 0;
}
