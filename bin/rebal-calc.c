/*
 * rebal-calc: the orders of one rebalance phase for each job.
 *
 * A pure filter: reads jobs (account, allocations, snapshot), adds "plan"
 * and writes them out. The calculation is that of upstream zehnlabs
 * generation B (reference/upstream.md 3.2) with the fixes of DESIGN 4; see
 * rebal-calc(1) for every rule. It never opens a socket and never reads the
 * clock except to judge the age of quotes.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "diag.h"
#include "jvx.h"
#include "nd.h"
#include "tm.h"

#define SYNOPSIS "[-hMq] [-b slippage] [-d drift] [-F floor] [-k commission] " \
	"[-m minimum] [-o type] [-p phase] [-S seconds] [-u utilisation] [file ...]"

#define PRICE_MAX	1e9	/* a price above this is garbage, not a quote */
#define WEIGHT_EPS	1e-9	/* allowed excess of the sum of the weights */

enum phase { PH_SELL, PH_BUY, PH_ALL };
static const char *phase_name[] = { "sell", "buy", "all" };

static struct {
	enum phase phase;
	double	drift;		/* percentage points */
	double	slip;		/* buy slippage, percent */
	double	floor;		/* cash floor, account currency */
	double	comm;		/* commission margin, percent */
	double	util;		/* utilisation cap, percent of V */
	double	minval;		/* minimum order value, 0 = off */
	double	maxage;		/* seconds, 0 = no check */
	int	sell_lmt;	/* sells as LMT instead of MKT */
	int	moc;		/* every job market-on-close */
	int	quiet;
	double	now;
} opt = { PH_ALL, 0.5, 0.5, 100, 1, 99.5, 0, 300, 0, 0, 0, 0 };

struct sym {
	char	*name;
	int	 target;	/* in the allocations */
	double	 w;		/* target weight (fraction), 0 if none */
	double	 held;		/* shares held, 0 if none */
	int	 quoted;	/* bid, ask, mid valid */
	double	 bid, ask, mid, tick;
	double	 cur;		/* current value at the mid */
};

struct order {
	struct sym *s;
	int	 buy;
	double	 qty;		/* > 0 */
	double	 price;		/* LMT limit; sell: bid; MOC buy: estimate */
	double	 limit;		/* 0 unless a limit order */
	int	 seq;		/* creation order, ties in sorting */
	int	 dropped;
};

struct calc {
	jv	 job;
	enum phase phase;
	struct sym *sym;
	size_t	 nsym;
	struct order *ord;
	size_t	 nord;
	jv	 warn;		/* array of strings */
	double	 V, C, r, wsum;
	int	 moc;
	char	 err[1024];	/* problems with quotes, joined */
};

static void
addwarn(struct calc *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
addwarn(struct calc *c, const char *fmt, ...)
{
	va_list ap;
	char buf[1024];

	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	if (!opt.quiet)
		warnx("%s: %s", jvx_account(c->job), buf);
	c->warn = jv_array_append(c->warn, jv_string(buf));
}

static void
adderr(struct calc *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
adderr(struct calc *c, const char *fmt, ...)
{
	va_list ap;
	size_t n = strlen(c->err);

	if (n > 0 && n + 2 < sizeof c->err) {
		strcpy(c->err + n, "; ");
		n += 2;
	}
	va_start(ap, fmt);
	vsnprintf(c->err + n, sizeof c->err - n, fmt, ap);
	va_end(ap);
}

static struct sym *
sym_find(struct calc *c, const char *name)
{
	size_t i;

	for (i = 0; i < c->nsym; i++)
		if (strcmp(c->sym[i].name, name) == 0)
			return &c->sym[i];
	return NULL;
}

static struct sym *
sym_add(struct calc *c, const char *name)
{
	struct sym *s;

	c->sym = xrealloc(c->sym, (c->nsym + 1) * sizeof *c->sym);
	s = &c->sym[c->nsym++];
	memset(s, 0, sizeof *s);
	s->name = xstrdup(name);
	s->tick = 0.01;
	return s;
}

static struct order *
ord_add(struct calc *c, struct sym *s, int buy, double qty, double price)
{
	struct order *o;

	c->ord = xrealloc(c->ord, (c->nord + 1) * sizeof *c->ord);
	o = &c->ord[c->nord];
	memset(o, 0, sizeof *o);
	o->s = s;
	o->buy = buy;
	o->qty = qty;
	o->price = price;
	o->seq = (int)c->nord++;
	return o;
}

static int
valid_price(double p)
{
	return isfinite(p) && p > 0 && p <= PRICE_MAX;
}

/* The field KEY of Q described for an error message: "null", "0", ... */
static void
describe(jv q, const char *key, char *buf, size_t n)
{
	jv v = jvx_get(q, key);

	if (jv_get_kind(v) == JV_KIND_NUMBER) {
		if (isnan(jv_number_value(v)))
			snprintf(buf, n, "NaN");
		else
			snprintf(buf, n, "%.10g", jv_number_value(v));
	} else
		snprintf(buf, n, "%s", jv_kind_name(jv_get_kind(v)));
	jv_free(v);
}

/*
 * Check the quote of S and fill bid, ask, mid, tick. NEED_ASK: the
 * calculation values S at the mid (a target). A problem is added to c->err.
 */
static void
quote(struct calc *c, jv snap, struct sym *s, int need_ask)
{
	jv quotes = jvx_get(snap, "quotes");
	jv q = jvx_get(quotes, s->name);
	const char *at;
	double t, age, tick;
	char what[64];
	int bad = 0;

	jv_free(quotes);
	if (jv_get_kind(q) != JV_KIND_OBJECT) {
		adderr(c, "%s: no quote", s->name);
		jv_free(q);
		return;
	}
	if (!jvx_num(q, "bid", &s->bid) || !valid_price(s->bid)) {
		describe(q, "bid", what, sizeof what);
		adderr(c, "%s: invalid bid %s", s->name, what);
		bad = 1;
	}
	if (!jvx_num(q, "ask", &s->ask) || !valid_price(s->ask)) {
		if (need_ask) {
			describe(q, "ask", what, sizeof what);
			adderr(c, "%s: invalid ask %s", s->name, what);
			bad = 1;
		}
		s->ask = 0;
	}
	if (opt.maxage > 0 && jvx_bool(q, "delayed", 0)) {
		/* delayed data is minutes old when it arrives ("at") */
		adderr(c, "%s: delayed quote (its age is unknown; -S 0 accepts "
		    "it)", s->name);
		bad = 1;
	} else if (opt.maxage > 0 && jvx_bool(q, "frozen", 0)) {
		/* frozen data is the last value before the close, however
		 * recently it arrived */
		adderr(c, "%s: frozen quote (the last value before the "
		    "close, its age is unknown; -S 0 accepts it)", s->name);
		bad = 1;
	} else if (opt.maxage > 0) {
		if ((at = jvx_str(q, "at")) == NULL)
			at = jvx_str(snap, "at");
		if (at == NULL || tm_parse(at, &t) != 0) {
			adderr(c, "%s: quote has no valid time (at)", s->name);
			bad = 1;
		} else if ((age = opt.now - t) > opt.maxage) {
			adderr(c, "%s: stale quote, %.0f s old (limit %.0f s)",
			    s->name, age, opt.maxage);
			bad = 1;
		}
	}
	if (jvx_num(q, "min_tick", &tick) && tick > 0 && tick < 1000)
		s->tick = tick;
	jv_free(q);
	if (bad) {
		s->bid = s->ask = 0;	/* nothing may use them */
		return;
	}
	if (s->ask > 0) {
		s->mid = (s->bid + s->ask) / 2;
		s->quoted = 1;
	}
}

/* Read and check the job's account, allocations and snapshot. 0 ok. */
static int
load(struct calc *c, char *msg, size_t msgsz)
{
	jv acct = jvx_get(c->job, "account");
	jv alloc = jvx_get(c->job, "allocations");
	jv snap = jvx_get(c->job, "snapshot");
	jv pos = jv_null();
	struct sym *s;
	const char *name, *st;
	double x, rpct = 0;
	int i, n, rc = -1;

	if (jv_get_kind(acct) != JV_KIND_OBJECT || jvx_str(acct, "id") == NULL) {
		snprintf(msg, msgsz, "job has no account id");
		goto out;
	}
	{
		jv v = jvx_get(acct, "cash_reserve_percent");
		int kind = jv_get_kind(v);

		jv_free(v);
		if (kind != JV_KIND_NULL && (!jvx_num(acct,
		    "cash_reserve_percent", &rpct) || rpct < 0 || rpct > 100)) {
			snprintf(msg, msgsz, "account cash_reserve_percent "
			    "is not a number in 0..100");
			goto out;
		}
	}
	c->r = rpct / 100;
	{
		const char *ot = jvx_str(acct, "order_type");

		c->moc = opt.moc || (ot != NULL && strcmp(ot, "moc") == 0);
	}

	if (jv_get_kind(alloc) != JV_KIND_ARRAY || jv_array_length(
	    jv_copy(alloc)) == 0) {
		snprintf(msg, msgsz, "job has no allocations (refusing to "
		    "treat that as an all-cash target)");
		goto out;
	}
	n = jv_array_length(jv_copy(alloc));
	c->wsum = 0;
	for (i = 0; i < n; i++) {
		jv a = jv_array_get(jv_copy(alloc), i);

		name = jvx_str(a, "symbol");
		if (name == NULL || *name == '\0') {
			snprintf(msg, msgsz, "allocation %d has no symbol", i);
			jv_free(a);
			goto out;
		}
		if (!jvx_num(a, "weight", &x) || x < 0 || x > 1) {
			char what[64];

			describe(a, "weight", what, sizeof what);
			snprintf(msg, msgsz, "allocation %s: weight %s outside "
			    "[0,1]", name, what);
			jv_free(a);
			goto out;
		}
		if (sym_find(c, name) != NULL) {
			snprintf(msg, msgsz, "allocation %s: duplicate symbol",
			    name);
			jv_free(a);
			goto out;
		}
		s = sym_add(c, name);
		s->target = 1;
		s->w = x;
		c->wsum += x;
		jv_free(a);
	}
	if (c->wsum > 1 + WEIGHT_EPS) {
		snprintf(msg, msgsz, "allocations sum to %.10g (more than 1)",
		    c->wsum);
		goto out;
	}
	if (!(c->wsum > 0)) {
		snprintf(msg, msgsz, "allocations weigh 0 in all (refusing to "
		    "treat that as an all-cash target)");
		goto out;
	}

	if (jv_get_kind(snap) != JV_KIND_OBJECT) {
		snprintf(msg, msgsz, "job has no snapshot");
		goto out;
	}
	if ((name = jvx_str(snap, "account")) != NULL &&
	    strcmp(name, jvx_str(acct, "id")) != 0) {
		snprintf(msg, msgsz, "the snapshot is of account %s, not %s",
		    name, jvx_str(acct, "id"));
		goto out;
	}
	if (!jvx_num(snap, "net_liquidation", &c->V) || !(c->V > 0)) {
		snprintf(msg, msgsz, "snapshot net_liquidation is not a "
		    "positive number");
		goto out;
	}
	if (c->phase != PH_SELL && !jvx_num(snap, "cash", &c->C)) {
		snprintf(msg, msgsz, "snapshot cash is not a number");
		goto out;
	}
	pos = jvx_get(snap, "positions");
	if (jv_get_kind(pos) != JV_KIND_NULL &&
	    jv_get_kind(pos) != JV_KIND_ARRAY) {
		snprintf(msg, msgsz, "snapshot positions is not an array");
		goto out;
	}
	n = jv_get_kind(pos) == JV_KIND_ARRAY ? jv_array_length(jv_copy(pos)) :
	    0;
	for (i = 0; i < n; i++) {
		jv p = jv_array_get(jv_copy(pos), i);

		name = jvx_str(p, "symbol");
		if (name == NULL || *name == '\0' || !jvx_num(p, "qty", &x)) {
			snprintf(msg, msgsz, "position %d has no symbol or qty",
			    i);
			jv_free(p);
			goto out;
		}
		if (x != 0 && (st = jvx_str(p, "sec_type")) != NULL &&
		    strcmp(st, "STK") != 0) {
			/* an option or future on the symbol is not the stock */
			addwarn(c, "Position %s (%s, %.10g) is not a stock: not "
			    "valued or traded", name, st, x);
		} else if (x != 0) {
			if ((s = sym_find(c, name)) == NULL)
				s = sym_add(c, name);
			else if (s->held != 0) {
				snprintf(msg, msgsz, "position %s: listed "
				    "twice", name);
				jv_free(p);
				goto out;
			}
			s->held = x;
		}
		jv_free(p);
	}

	/*
	 * Quotes: every target with a weight or a holding is valued at the
	 * mid (bid and ask); a non-target holding of a whole share or more
	 * is sold at market (bid). Holdings that are not traded need none.
	 */
	for (i = 0; i < (int)c->nsym; i++) {
		s = &c->sym[i];
		if (s->target && (s->w > 0 || s->held != 0))
			quote(c, snap, s, 1);
		else if (!s->target && s->held >= 1 && c->phase != PH_BUY)
			quote(c, snap, s, 0);
		else if (s->held != 0) {
			/* for the drift only: silent, never traded */
			char save[sizeof c->err];

			memcpy(save, c->err, sizeof save);
			quote(c, snap, s, 1);
			memcpy(c->err, save, sizeof save);
		}
		if (s->quoted)
			s->cur = s->held * s->mid;
		else if (valid_price(s->bid))
			s->cur = s->held * s->bid;
	}
	if (c->err[0] != '\0') {
		snprintf(msg, msgsz, "refusing to trade on bad quotes: %s",
		    c->err);
		goto out;
	}
	rc = 0;
out:
	jv_free(acct);
	jv_free(alloc);
	jv_free(snap);
	jv_free(pos);
	return rc;
}

/* Sells first, most shares first; then buys by target weight descending. */
static int
ord_cmp(const void *a, const void *b)
{
	const struct order *x = a, *y = b;

	if (x->buy != y->buy)
		return x->buy - y->buy;
	if (!x->buy && x->qty != y->qty)
		return x->qty > y->qty ? -1 : 1;
	if (x->buy && x->s->w != y->s->w)
		return x->s->w > y->s->w ? -1 : 1;
	return x->seq - y->seq;
}

static double
buy_cost(struct calc *c)
{
	double t = 0;
	size_t i;

	for (i = 0; i < c->nord; i++)
		if (c->ord[i].buy && !c->ord[i].dropped)
			t += c->ord[i].qty * c->ord[i].price;
	return t;
}

/* Plan the sells and buys from the holdings and the targets. */
static void
plan_orders(struct calc *c)
{
	double avail = c->V * (1 - c->r), tv, diff, tp, n, whole, cur_pct;
	struct order *o;
	struct sym *s;
	size_t i;

	/* holdings that are not in the target */
	for (i = 0; i < c->nsym; i++) {
		s = &c->sym[i];
		if (s->target || s->held == 0)
			continue;
		if (s->held < 0) {
			addwarn(c, "Short position %s (%.10g shares) is not in "
			    "the target and is ignored; close it manually",
			    s->name, s->held);
			continue;
		}
		if (s->held < 1) {
			if (valid_price(s->bid))
				addwarn(c, "Position %s (%.10g shares, $%.2f) "
				    "cannot be liquidated via API (fractional "
				    "share); close it manually", s->name,
				    s->held, s->cur);
			else
				addwarn(c, "Position %s (%.10g shares) cannot be "
				    "liquidated via API (fractional share); "
				    "close it manually", s->name, s->held);
			continue;
		}
		if (c->phase == PH_BUY)
			continue;
		whole = trunc(s->held);
		if (whole != s->held)
			addwarn(c, "Position %s: %.10g fractional shares stay "
			    "after selling %.0f (cannot be sold via API)",
			    s->name, s->held - whole, whole);
		ord_add(c, s, 0, whole, s->bid);
	}

	/* targets */
	for (i = 0; i < c->nsym; i++) {
		s = &c->sym[i];
		if (!s->target || (s->w == 0 && s->held == 0))
			continue;
		if (s->held < 0) {
			addwarn(c, "Short position %s (%.10g shares) in a target "
			    "symbol is not rebalanced; close it manually",
			    s->name, s->held);
			continue;
		}
		tv = avail * s->w;
		diff = tv - s->cur;
		tp = diff > 0 ? s->ask * (1 + opt.slip / 100) : s->bid;
		n = jvx_round_even(diff / tp);
		cur_pct = s->cur / c->V * 100;
		if (fabs(s->w * 100 - cur_pct) < opt.drift)
			continue;
		if (n > 0 && c->phase != PH_SELL) {
			o = ord_add(c, s, 1, n, 0);
			o->price = jvx_round_tick(tp, s->tick, 0);
			if (o->price < s->ask)	/* never below the ask */
				o->price = jvx_round_tick(s->ask, s->tick, 1);
		} else if (n < 0 && c->phase != PH_BUY) {
			whole = trunc(s->held);
			if (-n > whole) {
				addwarn(c, "Sell of %s limited to the %.0f whole "
				    "shares held (computed %.0f)", s->name,
				    whole, -n);
				n = -whole;
			}
			if (n < 0)
				ord_add(c, s, 0, -n, s->bid);
		}
	}
	if (c->nord > 1)
		qsort(c->ord, c->nord, sizeof *c->ord, ord_cmp);
}

static int
cost_desc(const void *a, const void *b)
{
	const struct order *x = *(struct order *const *)a;
	const struct order *y = *(struct order *const *)b;
	double cx = x->qty * x->price, cy = y->qty * y->price;

	if (cx != cy)
		return cx > cy ? -1 : 1;
	return x->seq - y->seq;
}

/*
 * Fit the buys to the cash (upstream 3.2 cash scaling, 3.1 step 10 cash
 * filter), with one running budget: A = (C - floor) / (1 + commission),
 * never above the utilisation cap; scale-up only into cash above the
 * intended cash level (reserve and unallocated weight).
 */
static void
fit_cash(struct calc *c)
{
	double A, cap, cost, fixed, scal, f, fres, keep, Ares, rem, x;
	struct order **sc = NULL;
	size_t i, nsc = 0, nbuy = 0;
	int allheld = 1;
	char held_short[1024] = "";

	for (i = 0; i < c->nord; i++)
		nbuy += c->ord[i].buy;
	if (nbuy == 0)
		return;

	A = c->C < opt.floor ? 0 : (c->C - opt.floor) / (1 + opt.comm / 100);
	for (i = 0; i < c->nsym; i++)
		if (c->sym[i].target && !(c->sym[i].held > 0))
			allheld = 0;
	if (A <= 0 && allheld) {
		addwarn(c, "No cash for buys (cash $%.2f, floor $%.2f): %zu "
		    "buy%s dropped", c->C, opt.floor, nbuy, nbuy > 1 ? "s" : "");
		for (i = 0; i < c->nord; i++)
			if (c->ord[i].buy)
				c->ord[i].dropped = 1;
		return;
	}
	cap = c->V * opt.util / 100;
	cost = buy_cost(c);
	if (cost > cap)
		addwarn(c, "Buys of $%.2f exceed the utilisation cap of $%.2f "
		    "(%.10g%% of net liquidation); cash limited to the cap",
		    cost, cap, opt.util);
	if (A > cap)
		A = cap;

	/* scaling: 1-share buys are fixed, the rest scale around share 1 */
	fixed = scal = 0;
	sc = xmalloc(nbuy * sizeof *sc);
	for (i = 0; i < c->nord; i++) {
		struct order *o = &c->ord[i];

		if (!o->buy)
			continue;
		if (o->qty > 1) {
			scal += o->qty * o->price;
			sc[nsc++] = o;
		} else
			fixed += o->qty * o->price;
	}
	f = scal > 0 ? (A - fixed) / scal : 1.0;
	if (f > 1) {
		/* deploy surplus only above the intended cash level */
		keep = c->V * (1 - (1 - c->r) * c->wsum);
		x = c->C - opt.floor - keep;
		Ares = x > 0 ? x / (1 + opt.comm / 100) : 0;
		if (Ares > A)
			Ares = A;
		fres = (Ares - fixed) / scal;
		if (fres < f)
			f = fres > 1 ? fres : 1;
	}
	if (f != 1)
		for (i = 0; i < nsc; i++) {
			x = floor(1 + (sc[i]->qty - 1) * f);
			sc[i]->qty = x > 1 ? x : 1;
		}
	if (buy_cost(c) > A && nsc > 0) {
		qsort(sc, nsc, sizeof *sc, cost_desc);
		for (i = 0; i < nsc && buy_cost(c) > A; i++)
			if (sc[i]->qty > 1)
				sc[i]->qty--;
	}
	free(sc);

	/* the cash filter: one running budget, by target weight */
	rem = A;
	for (i = 0; i < c->nord; i++) {
		struct order *o = &c->ord[i];
		double oc = o->qty * o->price;

		if (!o->buy)
			continue;
		if (oc <= rem) {
			rem -= oc;
			continue;
		}
		o->dropped = 1;
		if (!(o->s->held > 0))
			addwarn(c, "Missing symbol %s (%.2f%% target allocation) "
			    "could not be purchased. Shortfall: $%.2f",
			    o->s->name, o->s->w * 100, oc - rem);
		else {
			size_t n = strlen(held_short);

			snprintf(held_short + n, sizeof held_short - n,
			    "%s%s (%.2f%% target allocation, shortfall $%.2f)",
			    n ? ", " : "", o->s->name, o->s->w * 100, oc - rem);
		}
	}
	if (held_short[0] != '\0')
		addwarn(c, "Insufficient funds to optimize portfolio: %s",
		    held_short);
}

/* The time of the account state the plan is computed from: the snapshot's
 * "at" (ib-order(1) refuses to trade a plan older than its bound), null
 * when the snapshot has no valid time. */
static jv
as_of(struct calc *c)
{
	jv snap = jvx_get(c->job, "snapshot"), r = jv_null();
	const char *at = jvx_str(snap, "at");
	char buf[32];
	double t;

	if (at != NULL && tm_parse(at, &t) == 0)
		r = jv_string(tm_fmt(t, buf));
	jv_free(snap);
	return r;
}

static jv
build_plan(struct calc *c)
{
	jv orders = jv_array(), drift = jv_array(), o;
	char ref[512];
	const char *ev;
	size_t i;

	if ((ev = jvx_str(c->job, "event_id")) == NULL || *ev == '\0')
		if ((ev = jvx_str(c->job, "id")) == NULL || *ev == '\0')
			ev = "manual";
	snprintf(ref, sizeof ref, "rebal:%s:%s", ev, jvx_account(c->job));

	for (i = 0; i < c->nord; i++) {
		struct order *x = &c->ord[i];
		const char *type;

		if (x->dropped)
			continue;
		if (opt.minval > 0 && x->qty * x->price < opt.minval) {
			addwarn(c, "%s %.0f %s ($%.2f) is below the minimum order "
			    "value of $%.2f; not placed", x->buy ? "BUY" : "SELL",
			    x->qty, x->s->name, x->qty * x->price, opt.minval);
			continue;
		}
		if (c->moc)
			type = "MOC";
		else if (x->buy) {
			type = "LMT";
			x->limit = x->price;
		} else if (opt.sell_lmt) {
			type = "LMT";
			x->limit = jvx_round_tick(x->s->bid * (1 - opt.slip /
			    100), x->s->tick, 0);
			if (x->limit > x->s->bid)	/* never above the bid */
				x->limit = jvx_round_tick(x->s->bid,
				    x->s->tick, -1);
		} else
			type = "MKT";
		o = JV_OBJECT(jv_string("symbol"), jv_string(x->s->name),
		    jv_string("action"), jv_string(x->buy ? "BUY" : "SELL"),
		    jv_string("qty"), jv_number(x->qty),
		    jv_string("type"), jv_string(type));
		if (x->limit > 0)
			o = jv_object_set(o, jv_string("limit"),
			    jv_number(x->limit));
		o = jv_object_set(o, jv_string("tif"), jv_string("DAY"));
		o = jv_object_set(o, jv_string("ref"), jv_string(ref));
		orders = jv_array_append(orders, o);
	}
	for (i = 0; i < c->nsym; i++) {
		struct sym *s = &c->sym[i];
		int valued = s->held == 0 || s->quoted ||
		    valid_price(s->bid);

		drift = jv_array_append(drift, JV_OBJECT(
		    jv_string("symbol"), jv_string(s->name),
		    jv_string("current"), valued ? jv_number(s->cur / c->V) :
		    jv_null(),
		    jv_string("target"), jv_number(s->w)));
	}
	return JV_OBJECT(jv_string("phase"), jv_string(phase_name[c->phase]),
	    jv_string("as_of"), as_of(c),
	    jv_string("orders"), orders,
	    jv_string("drift"), drift,
	    jv_string("warnings"), jv_copy(c->warn));
}

static int
do_job(jv job, void *ctx)
{
	struct calc c;
	const char *st, *ex;
	char msg[1400];
	size_t i;
	int rc = 0;

	(void)ctx;
	/* jobs another tool failed, deferred or skipped pass untouched */
	st = jvx_str(job, "status");
	if (st != NULL && strcmp(st, "ok") != 0) {
		nd_emit(job);
		return 0;
	}
	ex = jvx_str(job, "exec");
	if (ex != NULL && strcmp(ex, "rebalance") != 0 &&
	    strcmp(ex, "print-rebalance") != 0) {
		nd_emit(job);
		return 0;
	}
	memset(&c, 0, sizeof c);
	c.job = job;
	c.warn = jv_array();
	c.phase = ex != NULL && strcmp(ex, "print-rebalance") == 0 ? PH_ALL :
	    opt.phase;
	if (load(&c, msg, sizeof msg) != 0) {
		job = jvx_fail(c.job, EX_DATAERR, "%s", msg);
		rc = EX_FAIL;
	} else {
		plan_orders(&c);
		if (c.phase != PH_SELL)
			fit_cash(&c);
		job = jv_object_set(c.job, jv_string("plan"), build_plan(&c));
	}
	nd_emit(job);
	for (i = 0; i < c.nsym; i++)
		free(c.sym[i].name);
	free(c.sym);
	free(c.ord);
	jv_free(c.warn);
	return rc;
}

int
main(int argc, char *argv[])
{
	int ch, rc;

	diag_init(argv[0]);
	while ((ch = getopt(argc, argv, "b:d:F:hk:Mm:o:p:qS:u:")) != -1)
		switch (ch) {
		case 'b':
			opt.slip = opt_double(ch, optarg, 0, 100);
			break;
		case 'd':
			opt.drift = opt_double(ch, optarg, 0, 100);
			break;
		case 'F':
			opt.floor = opt_double(ch, optarg, 0, 1e12);
			break;
		case 'h':
			usage(SYNOPSIS, 1);
		case 'k':
			opt.comm = opt_double(ch, optarg, 0, 100);
			break;
		case 'M':
			opt.moc = 1;
			break;
		case 'm':
			opt.minval = opt_double(ch, optarg, 0, 1e12);
			break;
		case 'o':
			if (strcmp(optarg, "MKT") == 0)
				opt.sell_lmt = 0;
			else if (strcmp(optarg, "LMT") == 0)
				opt.sell_lmt = 1;
			else
				die(EX_USAGE, "-o: MKT or LMT, not '%s'",
				    optarg);
			break;
		case 'p':
			if (strcmp(optarg, "sell") == 0)
				opt.phase = PH_SELL;
			else if (strcmp(optarg, "buy") == 0)
				opt.phase = PH_BUY;
			else if (strcmp(optarg, "all") == 0)
				opt.phase = PH_ALL;
			else
				die(EX_USAGE, "-p: sell, buy or all, not '%s'",
				    optarg);
			break;
		case 'q':
			opt.quiet = 1;
			break;
		case 'S':
			opt.maxage = opt_double(ch, optarg, 0, 1e9);
			break;
		case 'u':
			opt.util = opt_double(ch, optarg, 0, 100);
			break;
		default:
			usage(SYNOPSIS, 0);
		}
	argc -= optind;
	argv += optind;
	opt.now = tm_now();
	rc = nd_each(argc, argv, do_job, NULL);
	nd_finish();
	return rc;
}
