/* ib-order: trade a job's plan at IB Gateway: guard it, cancel this client's
 * stale rebal: orders, place sells before buys, wait for the fills with a
 * deadline, survive reconnects without ever placing an order twice, and
 * record the outcome. A dry run unless -x. */
#include <ctype.h>
#include <float.h>
#include <math.h>
#include <poll.h>
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

#define SYNOPSIS "[-ChLvx] [-b percent] [-c clientid] [-E seconds] " \
	"[-H host:port] [-p percent] [-s percent] [-t seconds] [file ...]"

#define CONNECT_WAIT	30	/* s for one connect (326 retries included) */
#define SYNC_WAIT	60	/* s for open orders and executions to come */
#define CANCEL_SHARE	0.1	/* of -t kept for cancelling at the deadline */
#define CANCEL_MAX	10	/* s, at most */
#define COMM_WAIT	2	/* s for late commission reports */
#define MAX_PLACE	10	/* placements of one plan order, at most */
#define MAX_PACING	6	/* pacing violations before giving up */
#define MAX_RECONNECT	10

static struct {
	double buy_cash;	/* -b: buys may use this % of the cash */
	long client;		/* -c, -1: the job's */
	int cancel_only;	/* -C */
	double max_age;		/* -E: oldest plan.as_of traded, s */
	const char *hostport;	/* -H */
	int leave;		/* -L */
	double price_dev;	/* -p: % a limit may be from the quote */
	double order_share;	/* -s: % of net liquidation per order */
	double timeout;		/* -t */
	int verbose;		/* -v */
	int execute;		/* -x */
} opt = { 100, -1, 0, 300, NULL, 0, 5, 100, 300, 0, 0 };

static int nfailed;

enum kind { K_PLAN, K_CANCEL };

enum ost {
	O_NEW,		/* not sent (yet) */
	O_SENT,		/* PLACE_ORDER queued, nothing heard back */
	O_LIVE,		/* the gateway has it */
	O_DONE,		/* terminal */
	O_SKIP,		/* never sent: blocked, or the sells did not fill */
};

struct ord {
	enum kind kind;
	enum ost st;
	char sym[32], action[8], type[8];
	char *ref;
	double qty, limit;	/* limit 0: none */
	long long con_id;
	long long id, old_id, perm, client;
	char status[32];	/* the gateway's last word */
	double filled, avg;	/* from ORDER_STATUS */
	int seen;		/* heard of since the last placement */
	int listed;		/* in the last complete open-orders listing */
	int placed_gen;		/* the sync generation when it was placed */
	int cancel;		/* 0 not asked, 1 sent, 2 answered */
	int adopted, attempts, rejected, ghost;
	int expired;		/* cancelled by us at the deadline */
	char err[600];
};

struct ex {
	char *id, *ref;
	char sym[32];
	long long client, order_id, perm;
	int buy, has_comm;
	double shares, price, comm;
};

/* An open order of the account as the gateway or the snapshot lists it. */
struct bk {
	long long client, id, perm;
	char sym[32], action[8], type[8], status[32];
	char *ref;
	double qty, filled, limit;
	int handled;		/* adopted or to be cancelled by this run */
};

struct run {
	jv job;
	char *acct, *ref, *phase;
	char *hpbuf;
	const char *host, *port;
	long long client, last_id;
	struct tws *t;
	double end, fill_end, rate, slowed;
	struct ord *o;
	int no;
	struct ex *x;
	int nx;
	struct bk *b;
	int nb;
	jv snap_execs;		/* exec_id -> true, or null */
	int collect;		/* keep listed OPEN_ORDERs of the account in b */
	/* A sync is EXECUTIONS(f1), OPEN_ORDERS, EXECUTIONS(f2): the gateway
	 * answers in order, so what comes between the ends of f1 and of the
	 * open orders is one complete listing, whatever was dropped before. */
	int syncing, gen, oo_all, f1_end, listing, have_list;
	long long f1, f2;
	int npacing, nreconnect;
	int offline;		/* 1100/2110: the gateway has lost IB */
	int fail;		/* the connection is gone for good */
	int fail_code;
	char fail_msg[600];
	int timed_out;		/* the fill deadline passed */
	double age, t0;		/* the plan's age (-E) at tws_clock() t0 */
	int refused;		/* committed() failed: fail_msg says why */
};

static void
say(struct run *r, const char *fmt, ...)
{
	va_list ap;
	char buf[1024];

	if (!opt.verbose)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	warnx("%s: %s", r->acct, buf);
}

static void
cpy(char *dst, size_t n, const char *s)
{
	snprintf(dst, n, "%s", s ? s : "");
}

static int
has_prefix(const char *s, const char *p)
{
	return s != NULL && strncmp(s, p, strlen(p)) == 0;
}

static int
live_status(const char *s)
{
	return *s == '\0' || !twsm_status_terminal(s);
}

/* 1 if DIR (SELL/BUY) is this run's business (plan.phase). */
static int
owns_action(struct run *r, const char *action)
{
	if (strcmp(r->phase, "sell") == 0)
		return strcmp(action, "SELL") == 0;
	if (strcmp(r->phase, "buy") == 0)
		return strcmp(action, "BUY") == 0;
	return 1;
}

static void
run_fail(struct run *r, int code, const char *fmt, ...)
{
	va_list ap;

	if (r->fail)
		return;
	r->fail = 1;
	r->fail_code = code;
	va_start(ap, fmt);
	vsnprintf(r->fail_msg, sizeof r->fail_msg, fmt, ap);
	va_end(ap);
}

/* ---------------------------------------------------------------- */
/* The plan, its guards, the snapshot                                */
/* ---------------------------------------------------------------- */

static int
whole(double q)
{
	return isfinite(q) && q > 0 && q <= 1e9 && q == floor(q);
}

/* The quote's SIDE ("bid"/"ask") for SYM from the snapshot, or 0. */
static double
quote(jv snap, const char *sym, const char *side)
{
	jv qs = jvx_get(snap, "quotes"), q = jvx_get(qs, sym);
	double v = 0;

	if (!jvx_num(q, side, &v) || !(v > 0))
		v = 0;
	jv_free(q);
	jv_free(qs);
	return v;
}

static long long
con_id(jv snap, const char *sym)
{
	jv qs = jvx_get(snap, "quotes"), q = jvx_get(qs, sym);
	double v = 0;

	if (!jvx_num(q, "con_id", &v) || !(v > 0))
		v = 0;
	jv_free(q);
	jv_free(qs);
	return (long long)v;
}

static double
held(jv snap, const char *sym)
{
	jv p = jvx_get(snap, "positions");
	double h = 0, q;
	int i, n;

	n = jv_get_kind(p) == JV_KIND_ARRAY ? jv_array_length(jv_copy(p)) : 0;
	for (i = 0; i < n; i++) {
		jv e = jv_array_get(jv_copy(p), i);
		const char *s = jvx_str(e, "symbol");

		const char *st = jvx_str(e, "sec_type");

		/* an option or future on SYM is no share of the stock */
		if (s && strcmp(s, sym) == 0 && jvx_num(e, "qty", &q) &&
		    (st == NULL || strcmp(st, "STK") == 0))
			h += q;
		jv_free(e);
	}
	jv_free(p);
	return h;
}

/* Read plan.orders into r->o. -1 with MSG on a malformed order. */
static int
load_plan(struct run *r, jv plan, char *msg, size_t n)
{
	jv orders = jvx_get(plan, "orders");
	int i, cnt;
	char suffix[300];

	if (jv_get_kind(orders) != JV_KIND_ARRAY) {
		jv_free(orders);
		snprintf(msg, n, "plan.orders is not an array");
		return -1;
	}
	snprintf(suffix, sizeof suffix, ":%s", r->acct);
	cnt = jv_array_length(jv_copy(orders));
	r->o = xmalloc((cnt + 1) * sizeof *r->o);
	memset(r->o, 0, (cnt + 1) * sizeof *r->o);
	for (i = 0; i < cnt; i++) {
		jv e = jv_array_get(jv_copy(orders), i);
		struct ord *o = &r->o[r->no];
		const char *sym = jvx_str(e, "symbol");
		const char *act = jvx_str(e, "action");
		const char *type = jvx_str(e, "type");
		const char *tif = jvx_str(e, "tif");
		const char *ref = jvx_str(e, "ref");
		size_t rl, sl;
		int bad = 1;

		if (sym == NULL || *sym == '\0' || strlen(sym) >= sizeof o->sym)
			snprintf(msg, n, "order %d: bad symbol", i + 1);
		else if (act == NULL || (strcmp(act, "SELL") &&
		    strcmp(act, "BUY")))
			snprintf(msg, n, "order %d (%s): action must be SELL "
			    "or BUY", i + 1, sym);
		else if (!jvx_num(e, "qty", &o->qty) || !whole(o->qty))
			snprintf(msg, n, "order %d (%s %s): quantity is not a "
			    "positive whole number", i + 1, act, sym);
		else if (type == NULL || (strcmp(type, "MKT") &&
		    strcmp(type, "LMT") && strcmp(type, "MOC")))
			snprintf(msg, n, "order %d (%s %s): type must be MKT, "
			    "LMT or MOC", i + 1, act, sym);
		else if (strcmp(type, "LMT") == 0 &&
		    (!jvx_num(e, "limit", &o->limit) || !(o->limit > 0)))
			snprintf(msg, n, "order %d (%s %s): LMT without a "
			    "positive limit", i + 1, act, sym);
		else if (tif != NULL && strcmp(tif, "DAY"))
			snprintf(msg, n, "order %d (%s %s): tif %s (only DAY "
			    "is sent)", i + 1, act, sym, tif);
		else if (!has_prefix(ref, "rebal:") ||
		    (rl = strlen(ref)) < (sl = strlen(suffix)) ||
		    strcmp(ref + rl - sl, suffix) != 0)
			snprintf(msg, n, "order %d (%s %s): reference \"%s\" is "
			    "not rebal:EVENT:%s", i + 1, act, sym,
			    ref ? ref : "", r->acct);
		else if (r->ref != NULL && strcmp(ref, r->ref))
			snprintf(msg, n, "order %d (%s %s): reference %s "
			    "differs from the plan's %s", i + 1, act, sym,
			    ref, r->ref);
		else
			bad = 0;
		if (bad) {
			jv_free(e);
			jv_free(orders);
			return -1;
		}
		o->kind = K_PLAN;
		cpy(o->sym, sizeof o->sym, sym);
		cpy(o->action, sizeof o->action, act);
		cpy(o->type, sizeof o->type, type);
		if (strcmp(type, "LMT"))
			o->limit = 0;
		if (r->ref == NULL)
			r->ref = xstrdup(ref);
		o->ref = xstrdup(ref);
		r->no++;
		jv_free(e);
	}
	jv_free(orders);
	return 0;
}

/* Is PLAN fresh enough to trade (-E)? 0 when it is, its age in *AGE; else
 * the exit status it fails with (65 no valid time or one ahead of the
 * clock, 75 too old), with MSG. Its prices and quantities are of the
 * snapshot it was computed from, which plan.as_of names. */
static int
plan_fresh(jv plan, double *agep, char *msg, size_t n)
{
	const char *at = jvx_str(plan, "as_of");
	double t, age;

	if (at == NULL || tm_parse(at, &t) != 0) {
		snprintf(msg, n, "the plan has no valid time (plan.as_of): the "
		    "age of its prices is unknown");
		return EX_DATAERR;
	}
	*agep = age = tm_now() - t;
	if (age > opt.max_age) {
		snprintf(msg, n, "the plan is %.0f s old (as of %s), older "
		    "than %g s (-E): retry with a fresh snapshot and plan",
		    age, at, opt.max_age);
		return EX_TEMPFAIL;
	}
	if (age < -opt.max_age) {
		snprintf(msg, n, "the plan's time %s is %.0f s ahead of the "
		    "clock", at, -age);
		return EX_DATAERR;
	}
	return 0;
}

/* The pre-trade guards. -1 with MSG naming the first that fails. */
static int
guards(struct run *r, jv snap, char *msg, size_t n)
{
	double nlv, cash, buys = 0, px, side, v;
	const char *sa;
	int i, j;

	if (r->no == 0)
		return 0;
	if (jv_get_kind(snap) != JV_KIND_OBJECT) {
		snprintf(msg, n, "no snapshot to check the plan against");
		return -1;
	}
	sa = jvx_str(snap, "account");
	if (sa == NULL) {
		snprintf(msg, n, "the snapshot names no account");
		return -1;
	}
	if (strcmp(sa, r->acct)) {
		snprintf(msg, n, "the snapshot is of account %s", sa);
		return -1;
	}
	if (!jvx_num(snap, "net_liquidation", &nlv) || !(nlv > 0)) {
		snprintf(msg, n, "the snapshot has no positive net "
		    "liquidation value");
		return -1;
	}
	for (i = 0; i < r->no; i++) {
		struct ord *o = &r->o[i];
		int buy = o->action[0] == 'B';

		side = quote(snap, o->sym, buy ? "ask" : "bid");
		if (side == 0) {
			snprintf(msg, n, "%s %g %s: no %s in the snapshot to "
			    "check the order against", o->action, o->qty,
			    o->sym, buy ? "ask" : "bid");
			return -1;
		}
		o->con_id = con_id(snap, o->sym);
		if (o->limit > 0 && fabs(o->limit - side) / side * 100 >
		    opt.price_dev + 1e-9) {
			snprintf(msg, n, "%s %g %s: limit %g is %.2f%% from the "
			    "%s %g (guard -p %g%%)", o->action, o->qty, o->sym,
			    o->limit, fabs(o->limit - side) / side * 100,
			    buy ? "ask" : "bid", side, opt.price_dev);
			return -1;
		}
		px = o->limit > 0 ? o->limit : side;
		v = o->qty * px;
		if (v > nlv * opt.order_share / 100 + 1e-6) {
			snprintf(msg, n, "%s %g %s: $%.2f is %.1f%% of the net "
			    "liquidation $%.2f (guard -s %g%%)", o->action,
			    o->qty, o->sym, v, v / nlv * 100, nlv,
			    opt.order_share);
			return -1;
		}
		if (buy)
			buys += v;
		else {
			double sells = 0, h = held(snap, o->sym);

			for (j = 0; j < r->no; j++)
				if (strcmp(r->o[j].sym, o->sym) == 0 &&
				    r->o[j].action[0] == 'S')
					sells += r->o[j].qty;
			if (sells > h + 1e-9) {
				snprintf(msg, n, "SELL %g %s: more than the %g "
				    "shares held", sells, o->sym, h);
				return -1;
			}
		}
	}
	if (buys > 0) {
		if (!jvx_num(snap, "cash", &cash)) {
			snprintf(msg, n, "the snapshot has no cash to check "
			    "the buys against");
			return -1;
		}
		if (buys > cash * opt.buy_cash / 100 + 1e-6) {
			snprintf(msg, n, "the buys cost $%.2f, more than %g%% "
			    "of the cash $%.2f (guard -b)", buys, opt.buy_cash,
			    cash);
			return -1;
		}
	}
	return 0;
}

static void
book_add(struct run *r, long long client, long long id, long long perm,
    const char *sym, const char *action, const char *type, double qty,
    double filled, double limit, const char *status, const char *ref)
{
	struct bk *b;
	int i;

	for (i = 0; i < r->nb; i++)
		if (r->b[i].client == client && r->b[i].id == id &&
		    (perm == 0 || r->b[i].perm == 0 || r->b[i].perm == perm))
			break;
	if (i == r->nb) {
		r->b = xrealloc(r->b, (r->nb + 1) * sizeof *r->b);
		b = &r->b[r->nb++];
		memset(b, 0, sizeof *b);
	} else {
		b = &r->b[i];
		free(b->ref);
	}
	b->client = client;
	b->id = id;
	if (perm > 0)
		b->perm = perm;
	cpy(b->sym, sizeof b->sym, sym);
	cpy(b->action, sizeof b->action, action);
	cpy(b->type, sizeof b->type, type);
	if (status != NULL && (*status != '\0' || i == r->nb - 1))
		cpy(b->status, sizeof b->status, status);
	b->ref = xstrdup(ref ? ref : "");
	b->qty = qty;
	if (filled > b->filled)	/* OPEN_ORDER says 0: keep ORDER_STATUS's */
		b->filled = filled;
	b->limit = limit;
}

static struct bk *
book_find(struct run *r, long long client, long long id)
{
	int i;

	for (i = 0; i < r->nb; i++)
		if (r->b[i].client == client && r->b[i].id == id)
			return &r->b[i];
	return NULL;
}

/* The open orders the snapshot saw (for a dry run). */
static void
book_from_snapshot(struct run *r, jv snap)
{
	jv oo = jvx_get(snap, "open_orders");
	int i, n;

	n = jv_get_kind(oo) == JV_KIND_ARRAY ? jv_array_length(jv_copy(oo)) : 0;
	for (i = 0; i < n; i++) {
		jv e = jv_array_get(jv_copy(oo), i);
		double c = 0, id = 0, perm = 0, q = 0, f = 0, l = 0;
		const char *st = jvx_str(e, "status");

		jvx_num(e, "client_id", &c);
		jvx_num(e, "order_id", &id);
		jvx_num(e, "perm_id", &perm);
		jvx_num(e, "qty", &q);
		jvx_num(e, "filled", &f);
		jvx_num(e, "limit", &l);
		book_add(r, (long long)c, (long long)id, (long long)perm,
		    jvx_str(e, "symbol"), jvx_str(e, "action"),
		    jvx_str(e, "type"), q, f, l, st ? st : "",
		    jvx_str(e, "ref"));
		jv_free(e);
	}
	jv_free(oo);
}

static struct ord *
add_ord(struct run *r)
{
	struct ord *o;

	r->o = xrealloc(r->o, (r->no + 1) * sizeof *r->o);
	o = &r->o[r->no++];
	memset(o, 0, sizeof *o);
	return o;
}

/* Sort the book into orders to cancel, orders to adopt in place of a plan
 * order, and orders left alone. */
static void
classify(struct run *r)
{
	int i, j, nplan = r->no;

	for (i = 0; i < r->nb; i++) {
		struct bk *b = &r->b[i];
		struct ord *o = NULL;

		if (!live_status(b->status) || !has_prefix(b->ref, "rebal:"))
			continue;
		if (!opt.cancel_only && strcmp(b->ref, r->ref) == 0)
			for (j = 0; j < nplan; j++)
				if (r->o[j].kind == K_PLAN &&
				    r->o[j].st == O_NEW &&
				    strcmp(r->o[j].sym, b->sym) == 0 &&
				    strcmp(r->o[j].action, b->action) == 0) {
					o = &r->o[j];
					break;
				}
		if (b->client != r->client) {
			if (o != NULL) {
				o->st = O_SKIP;
				snprintf(o->err, sizeof o->err, "already working "
				    "as order %lld of client id %lld (%s %g "
				    "%s); not placed again", b->id, b->client,
				    b->action, b->qty, b->sym);
				warnx("%s: %s %s: %s", r->acct, o->action,
				    o->sym, o->err);
			} else
				warnx("%s: order %lld of client id %lld (%s %g "
				    "%s, %s) is not this client's: left alone",
				    r->acct, b->id, b->client, b->action,
				    b->qty, b->sym, b->ref);
			continue;
		}
		if (o != NULL) {
			b->handled = 1;
			o->st = O_LIVE;
			o->adopted = 1;
			o->id = b->id;
			o->client = b->client;
			o->perm = b->perm;
			o->qty = b->qty;
			o->limit = b->limit;
			cpy(o->type, sizeof o->type, b->type);
			cpy(o->status, sizeof o->status, b->status);
			o->filled = b->filled;
			o->listed = 1;
			warnx("%s: %s %s: order %lld (%s %g, %s) is already "
			    "working: waiting for it instead of placing "
			    "another", r->acct, o->action, o->sym, b->id,
			    b->action, b->qty, b->status);
			continue;
		}
		if (!opt.cancel_only && strcmp(b->ref, r->ref) == 0 &&
		    !owns_action(r, b->action)) {
			say(r, "order %lld (%s %g %s) belongs to another phase "
			    "of this event: left alone", b->id, b->action,
			    b->qty, b->sym);
			continue;
		}
		b->handled = 1;
		o = add_ord(r);
		o->kind = K_CANCEL;
		o->st = O_LIVE;
		o->id = b->id;
		o->client = b->client;
		o->perm = b->perm;
		o->qty = b->qty;
		o->limit = b->limit;
		o->filled = b->filled;
		o->listed = 1;
		cpy(o->sym, sizeof o->sym, b->sym);
		cpy(o->action, sizeof o->action, b->action);
		cpy(o->type, sizeof o->type, b->type);
		cpy(o->status, sizeof o->status, b->status);
		o->ref = xstrdup(b->ref);
	}
}

/* What is left to fill of a working order. */
static double
left(double qty, double filled)
{
	return qty - filled > 0 ? qty - filled : 0;
}

/*
 * After classify: what the account will have working once the plan is
 * placed must fit. The sells of a symbol (the plan's, adopted orders at what
 * is left of them, and every other working sell of the account that stays:
 * other clients', manual ones, another phase's) never exceed the shares
 * held; adopted buys count at what is left of them against the -b share of
 * the cash. -1 with MSG.
 */
static int
committed(struct run *r, jv snap, char *msg, size_t n)
{
	double need, pend, h, px, buys = 0, cash;
	char who[200], adopted[200];
	int i, j, nadopt = 0;
	struct bk *b;

	for (i = 0; i < r->no; i++) {
		struct ord *o = &r->o[i];

		if (o->kind != K_PLAN || (o->st != O_NEW && !o->adopted))
			continue;
		px = o->limit > 0 ? o->limit : quote(snap, o->sym,
		    o->action[0] == 'B' ? "ask" : "bid");
		if (o->action[0] == 'B') {
			buys += (o->adopted ? left(o->qty, o->filled) :
			    o->qty) * px;
			if (o->adopted && nadopt++ == 0)
				snprintf(adopted, sizeof adopted, "order %lld: "
				    "BUY %g %s", o->id, o->qty, o->sym);
			continue;
		}
		for (j = 0; j < i; j++)	/* each symbol once */
			if (r->o[j].kind == K_PLAN && r->o[j].action[0] == 'S' &&
			    (r->o[j].st == O_NEW || r->o[j].adopted) &&
			    strcmp(r->o[j].sym, o->sym) == 0)
				break;
		if (j < i)
			continue;
		need = pend = 0;
		who[0] = '\0';
		for (j = 0; j < r->no; j++) {
			struct ord *p = &r->o[j];

			if (p->kind == K_PLAN && p->action[0] == 'S' &&
			    strcmp(p->sym, o->sym) == 0)
				need += p->adopted ? left(p->qty, p->filled) :
				    p->st == O_NEW ? p->qty : 0;
		}
		for (j = 0; j < r->nb; j++) {
			b = &r->b[j];
			if (b->handled || !live_status(b->status) ||
			    strcmp(b->action, "SELL") || strcmp(b->sym, o->sym))
				continue;
			pend += left(b->qty, b->filled);
			if (who[0] == '\0')
				snprintf(who, sizeof who, "order %lld of "
				    "client id %lld", b->id, b->client);
		}
		h = held(snap, o->sym);
		if (pend > 0 && need + pend > h + 1e-9) {
			snprintf(msg, n, "SELL %g %s: with %g more in the "
			    "account's other working sell orders (%s), more "
			    "than the %g shares held", need, o->sym, pend, who,
			    h);
			return -1;
		}
		if (need > h + 1e-9) {
			snprintf(msg, n, "SELL %g %s: more than the %g shares "
			    "held", need, o->sym, h);
			return -1;
		}
	}
	if (nadopt > 0 && buys > 0) {
		if (!jvx_num(snap, "cash", &cash))
			cash = 0;
		if (buys > cash * opt.buy_cash / 100 + 1e-6) {
			snprintf(msg, n, "the buys cost $%.2f with the working "
			    "orders adopted at their own size (%s%s), more "
			    "than %g%% of the cash $%.2f (guard -b)", buys,
			    adopted, nadopt > 1 ? ", ..." : "", opt.buy_cash,
			    cash);
			return -1;
		}
	}
	return 0;
}

/* ---------------------------------------------------------------- */
/* Gateway events                                                    */
/* ---------------------------------------------------------------- */

static struct ord *
find_ord(struct run *r, long long client, long long id, long long perm)
{
	int i;

	for (i = 0; i < r->no; i++) {
		struct ord *o = &r->o[i];

		if (o->st == O_NEW || o->st == O_SKIP)
			continue;
		if (o->id > 0 && o->client == client && o->id == id)
			return o;
		if (perm > 0 && o->perm == perm)
			return o;
	}
	return NULL;
}

/* An order placed again under a new id turned up after all under its old
 * id: two orders exist. Cancel the old one at once. */
static void
ghost(struct run *r, long long client, long long id, const char *status)
{
	int i;

	if (client != r->client || !live_status(status ? status : ""))
		return;
	for (i = 0; i < r->no; i++) {
		struct ord *o = &r->o[i];

		if (o->old_id > 0 && o->old_id == id && !o->ghost) {
			o->ghost = 1;
			warnx("%s: %s %s: order %lld turned up after it was "
			    "placed again as %lld: cancelling %lld", r->acct,
			    o->action, o->sym, id, o->id, id);
			tws_cancel_order(r->t, id);
		}
	}
}

static void
set_status(struct ord *o, const char *s)
{
	if (s == NULL || *s == '\0')
		return;
	cpy(o->status, sizeof o->status, s);
	if (o->st == O_SENT)
		o->st = O_LIVE;
	if (twsm_status_terminal(s)) {
		o->st = O_DONE;
		if (o->cancel == 1)
			o->cancel = 2;
	}
}

static void
on_status(struct run *r, const struct twsm_order_status *s)
{
	struct ord *o = find_ord(r, s->client_id, s->order_id, s->perm_id);
	struct bk *b;

	if (r->collect && (b = book_find(r, s->client_id, s->order_id)) !=
	    NULL && isfinite(s->filled) && s->filled < DBL_MAX &&
	    s->filled > b->filled)
		b->filled = s->filled;
	if (o == NULL) {
		ghost(r, s->client_id, s->order_id, s->status);
		return;
	}
	o->seen = 1;
	if (s->perm_id > 0)
		o->perm = s->perm_id;
	if (isfinite(s->filled) && s->filled < DBL_MAX &&
	    s->filled >= o->filled) {
		o->filled = s->filled;
		if (s->avg_fill_price > 0 && s->avg_fill_price < DBL_MAX)
			o->avg = s->avg_fill_price;
	}
	set_status(o, s->status);
}

static void
on_open(struct run *r, const struct twsm_open_order *x)
{
	struct ord *o;

	if (strcmp(x->account, r->acct))
		return;
	if (r->collect && r->listing)
		book_add(r, x->client_id, x->order_id, x->perm_id, x->c.symbol,
		    x->action, x->order_type, x->qty, 0,
		    x->lmt_price < DBL_MAX ? x->lmt_price : 0, x->status,
		    x->order_ref);
	if ((o = find_ord(r, x->client_id, x->order_id, x->perm_id)) == NULL) {
		ghost(r, x->client_id, x->order_id, x->status);
		return;
	}
	o->seen = 1;
	if (x->perm_id > 0)
		o->perm = x->perm_id;
	if (r->listing)
		o->listed = 1;
	set_status(o, x->status);
	if (o->st == O_SENT)
		o->st = O_LIVE;
}

static struct ex *
find_ex(struct run *r, const char *id)
{
	int i;

	for (i = 0; i < r->nx; i++)
		if (strcmp(r->x[i].id, id) == 0)
			return &r->x[i];
	return NULL;
}

static void
on_exec(struct run *r, const struct twsm_execution *e)
{
	struct ord *o;
	struct ex *x;

	if (strcmp(e->account, r->acct) || find_ex(r, e->exec_id) != NULL)
		return;
	r->x = xrealloc(r->x, (r->nx + 1) * sizeof *r->x);
	x = &r->x[r->nx++];
	memset(x, 0, sizeof *x);
	x->id = xstrdup(e->exec_id);
	x->ref = xstrdup(e->order_ref);
	cpy(x->sym, sizeof x->sym, e->c.symbol);
	x->client = e->client_id;
	x->order_id = e->order_id;
	x->perm = e->perm_id;
	x->buy = strcmp(e->side, "BOT") == 0 || strcmp(e->side, "BUY") == 0;
	x->shares = e->shares < DBL_MAX ? e->shares : 0;
	x->price = e->price;
	if ((o = find_ord(r, e->client_id, e->order_id, e->perm_id)) != NULL) {
		o->seen = 1;
		if (o->st == O_SENT)
			o->st = O_LIVE;
		say(r, "%s %s: filled %g at %g (%s)", o->action, o->sym,
		    x->shares, x->price, x->id);
	}
}

static void
on_comm(struct run *r, const struct twsm_commission *c)
{
	struct ex *x = find_ex(r, c->exec_id);

	if (x == NULL || x->has_comm || !(c->commission < DBL_MAX))
		return;
	x->has_comm = 1;
	x->comm = c->commission;
}

/* Does execution X belong to order O? */
static int
ex_of(const struct ex *x, const struct ord *o)
{
	if (o->id <= 0 && o->perm <= 0)
		return 0;
	if (o->perm > 0 && x->perm == o->perm)
		return 1;
	return x->client == o->client && o->id > 0 &&
	    (x->order_id == o->id || x->order_id == o->old_id);
}

/* Shares, value and commission of O's executions; *ncomm reports. */
static double
ex_sum(struct run *r, const struct ord *o, double *value, double *comm,
    int *nx, int *ncomm)
{
	double q = 0, v = 0, c = 0;
	int i, k = 0, kc = 0;

	for (i = 0; i < r->nx; i++)
		if (ex_of(&r->x[i], o)) {
			q += r->x[i].shares;
			v += r->x[i].shares * r->x[i].price;
			k++;
			if (r->x[i].has_comm) {
				c += r->x[i].comm;
				kc++;
			}
		}
	if (value)
		*value = v;
	if (comm)
		*comm = c;
	if (nx)
		*nx = k;
	if (ncomm)
		*ncomm = kc;
	return q;
}

static void place(struct run *r, struct ord *o);
static void start_sync(struct run *r, int all);

/* Error 100: a message was dropped, which one is not said. Slow down (once
 * a second: one burst brings several) and ask what the gateway has. */
static void
on_pacing(struct run *r)
{
	double now = tws_clock();

	if (now - r->slowed >= 1) {
		if (++r->npacing > MAX_PACING) {
			run_fail(r, EX_TEMPFAIL, "the gateway kept reporting "
			    "pacing violations (error 100)");
			return;
		}
		r->slowed = now;
		r->rate = fmax(r->rate / 2, 1);
		warnx("%s: gateway pacing violation (error 100): slowing to "
		    "%g messages/s and checking what it got", r->acct,
		    r->rate);
		tws_set_rate(r->t, r->rate, 1);
	}
	/* what has not left yet is asked for again by the sync */
	tws_discard(r->t);
	start_sync(r, r->oo_all);
}

static void
order_error(struct run *r, struct ord *o, const struct twsm_error *e)
{
	switch (e->code) {
	case 202:
		o->seen = 1;
		if (o->cancel != 1 && o->err[0] == '\0')
			snprintf(o->err, sizeof o->err, "%d %s", e->code,
			    e->text);
		set_status(o, "Cancelled");
		o->cancel = 2;
		return;
	case 135:
	case 161:
	case 10147:
	case 10148:
		/* the cancel found nothing to cancel */
		o->cancel = 2;
		if (o->kind == K_CANCEL) {
			if (live_status(o->status))
				cpy(o->status, sizeof o->status, "Cancelled");
			o->st = O_DONE;
		} else if (o->st != O_DONE)
			start_sync(r, r->oo_all);	/* what is it, then? */
		return;
	case 103:
		if (o->kind == K_PLAN && o->st == O_SENT && !o->seen) {
			warnx("%s: %s %s: order id %lld refused as a duplicate: "
			    "placing under a new id", r->acct, o->action,
			    o->sym, o->id);
			r->last_id = o->id;
			place(r, o);
		}
		return;
	}
	if (e->cls == TWSM_REQUEST && (o->st == O_SENT || o->st == O_LIVE) &&
	    o->kind == K_PLAN) {
		o->seen = 1;
		o->rejected = e->code;
		snprintf(o->err, sizeof o->err, "%d %s", e->code, e->text);
		if (live_status(o->status))
			cpy(o->status, sizeof o->status, "Inactive");
		o->st = O_DONE;
		warnx("%s: %s %g %s: rejected: %d %s", r->acct, o->action,
		    o->qty, o->sym, e->code, e->text);
		return;
	}
	warnx("%s: order %lld (%s %s): %s %d: %s", r->acct, o->id, o->action,
	    o->sym, twsm_class_name(e->cls), e->code, e->text);
}

static void
on_error(struct run *r, const struct twsm_error *e)
{
	struct ord *o;

	if (e->id >= 0 && e->id < TWS_REQ_BASE) {
		if ((o = find_ord(r, r->client, e->id, 0)) != NULL)
			order_error(r, o, e);
		else if (e->cls != TWSM_INFO)
			warnx("%s: order %lld: %d %s", r->acct, e->id, e->code,
			    e->text);
		return;
	}
	if (e->id >= TWS_REQ_BASE) {
		if (r->syncing && (e->id == r->f1 || e->id == r->f2))
			run_fail(r, EX_PROTOCOL, "the gateway refused the "
			    "executions request: %d %s", e->code, e->text);
		return;
	}
	switch (e->code) {
	case 100:
		on_pacing(r);
		return;
	case 1100:
	case 2110:
		/* orders neither fill nor cancel until IB is back; the
		 * deadline still runs */
		r->offline = e->code;
		warnx("%s: the gateway lost IB (%d %s): waiting for it",
		    r->acct, e->code, e->text);
		return;
	case 1101:
	case 1102:
		/* what happened meanwhile may not have been said: ask */
		r->offline = 0;
		warnx("%s: IB is back (%d %s): checking the orders", r->acct,
		    e->code, e->text);
		start_sync(r, r->oo_all);
		return;
	}
	if (e->cls != TWSM_INFO)
		warnx("%s: gateway %s %d: %s", r->acct, twsm_class_name(e->cls),
		    e->code, e->text);
}

/* After a sync: what the gateway does not have was never placed (place
 * it again), what it no longer lists open is over. */
static void
reconcile(struct run *r)
{
	int i;

	for (i = 0; i < r->no; i++) {
		struct ord *o = &r->o[i];
		double q;

		if (o->placed_gen == r->gen && o->st != O_DONE)
			continue;	/* placed after the sync began */
		if (o->st == O_SENT && !o->seen) {
			if (o->attempts >= MAX_PLACE) {
				o->st = O_DONE;
				cpy(o->status, sizeof o->status, "Inactive");
				snprintf(o->err, sizeof o->err, "the gateway "
				    "did not take the order after %d attempts",
				    o->attempts);
				continue;
			}
			warnx("%s: %s %g %s: order %lld never reached the "
			    "gateway: placing it again", r->acct, o->action,
			    o->qty, o->sym, o->id);
			place(r, o);
		} else if ((o->st == O_SENT || o->st == O_LIVE) && !o->listed) {
			q = ex_sum(r, o, NULL, NULL, NULL, NULL);
			if (q < o->filled)
				q = o->filled;
			o->filled = q;
			o->st = O_DONE;
			if (o->kind == K_PLAN && q >= o->qty - 1e-9)
				cpy(o->status, sizeof o->status, "Filled");
			else {
				cpy(o->status, sizeof o->status, "Cancelled");
				if (o->kind == K_PLAN && o->err[0] == '\0')
					snprintf(o->err, sizeof o->err, "no "
					    "longer open at the gateway");
			}
			if (o->cancel == 1)
				o->cancel = 2;
		} else if (o->st == O_LIVE && o->cancel == 1) {
			tws_cancel_order(r->t, o->id);
		}
	}
}

static void
on_msg(struct run *r, struct twsm_msg *m)
{
	switch (m->type) {
	case TWSM_ORDER_STATUS:
		on_status(r, &m->u.status);
		break;
	case TWSM_OPEN_ORDER:
		on_open(r, &m->u.order);
		break;
	case TWSM_OPEN_ORDER_END:
		if (r->listing) {
			r->listing = 0;
			r->have_list = 1;
		}
		break;
	case TWSM_EXECUTION:
		on_exec(r, &m->u.exec);
		break;
	case TWSM_EXECUTION_END:
		if (r->syncing && m->u.end.req_id == r->f1) {
			int i;

			r->f1_end = 1;
			r->listing = 1;
			for (i = 0; i < r->no; i++)
				r->o[i].listed = 0;
		} else if (r->syncing && m->u.end.req_id == r->f2) {
			if (r->f1_end && r->have_list) {
				r->syncing = 0;
				reconcile(r);
			} else		/* a part was dropped */
				start_sync(r, r->oo_all);
		}
		break;
	case TWSM_COMMISSION:
		on_comm(r, &m->u.commission);
		break;
	case TWSM_ERROR:
		on_error(r, &m->u.error);
		break;
	default:
		break;
	}
}

/* Ask for the open orders (ALL: of every client) and the account's
 * executions; reconcile when both are answered. */
static void
start_sync(struct run *r, int all)
{
	struct twsm_exec_filter f;

	r->syncing = 1;
	r->gen++;
	r->f1_end = r->listing = r->have_list = 0;
	r->oo_all = all;
	memset(&f, 0, sizeof f);
	f.account = r->acct;
	r->f1 = tws_req_executions(r->t, &f);
	if (all)
		tws_req_all_open_orders(r->t);
	else
		tws_req_open_orders(r->t);
	r->f2 = tws_req_executions(r->t, &f);
}

static long long
next_id(struct run *r)
{
	long long id = tws_order_id(r->t);

	if (id <= r->last_id)
		id = r->last_id + 1;
	r->last_id = id;
	return id;
}

static void
place(struct run *r, struct ord *o)
{
	struct twsm_order w;

	memset(&w, 0, sizeof w);
	w.order_id = next_id(r);
	w.c.con_id = o->con_id;
	w.c.symbol = o->sym;
	w.action = o->action;
	w.qty = o->qty;
	w.type = o->type;
	w.lmt_price = strcmp(o->type, "LMT") == 0 ? o->limit : 0;
	w.tif = "DAY";
	w.account = r->acct;
	w.order_ref = o->ref;
	tws_place_order(r->t, &w);
	if (o->id > 0)
		o->old_id = o->id;
	o->id = w.order_id;
	o->client = r->client;
	o->st = O_SENT;
	o->seen = 0;
	o->placed_gen = r->gen;
	o->attempts++;
	if (o->limit > 0)
		say(r, "placed order %lld: %s %g %s LMT %.10g", o->id,
		    o->action, o->qty, o->sym, o->limit);
	else
		say(r, "placed order %lld: %s %g %s %s", o->id, o->action,
		    o->qty, o->sym, o->type);
}

static void
cancel(struct run *r, struct ord *o)
{
	if (o->cancel != 0 || o->st == O_DONE || o->id <= 0)
		return;
	tws_cancel_order(r->t, o->id);
	o->cancel = 1;
	say(r, "cancelling order %lld (%s %g %s, %s)", o->id, o->action, o->qty,
	    o->sym, o->ref ? o->ref : "");
}

/* Sleep for a reconnect back-off: nothing to wait on but time. */
static void
backoff(double s)
{
	if (s > 0)
		poll(NULL, 0, (int)(s * 1000));
}

static int
reconnect(struct run *r)
{
	struct tws_err e;
	struct tws *t = NULL;
	double now, pause = 0.2;
	char why[256];

	cpy(why, sizeof why, r->t->err.msg);
	tws_close(r->t);
	r->t = NULL;
	if (++r->nreconnect > MAX_RECONNECT) {
		run_fail(r, EX_UNAVAILABLE, "connection lost %d times (%s)",
		    r->nreconnect, why);
		return -1;
	}
	warnx("%s: %s: reconnecting", r->acct, why);
	for (;;) {
		now = tws_clock();
		if (now >= r->end) {
			run_fail(r, EX_TEMPFAIL, "connection lost (%s) and not "
			    "back before the deadline", why);
			return -1;
		}
		t = tws_connect_retry(r->host, r->port, (int)r->client,
		    fmin(r->end, now + CONNECT_WAIT), &e);
		if (t != NULL)
			break;
		if (e.status == EX_PROTOCOL) {
			run_fail(r, e.status, "reconnect: %s", e.msg);
			return -1;
		}
		backoff(fmin(pause, r->end - tws_clock()));
		pause = fmin(pause * 2, 2);
	}
	r->t = t;
	r->offline = 0;		/* the new connection says it again */
	tws_set_rate(t, r->rate, r->rate < TWS_RATE ? 1 : TWS_BURST);
	if (!tws_has_account(t, r->acct)) {
		run_fail(r, EX_CONFIG, "after reconnecting, account %s is not "
		    "managed by the gateway", r->acct);
		return -1;
	}
	start_sync(r, r->oo_all);
	return 0;
}

/* Handle events until COND holds (and no sync is open), UNTIL passes (0),
 * or the connection is gone for good (-1). */
static int
wait_for(struct run *r, int (*cond)(struct run *), double until)
{
	struct twsm_msg *m;
	int rc;

	for (;;) {
		if (r->fail)
			return -1;
		if (!r->syncing && cond(r))
			return 1;
		rc = tws_poll(r->t, until, &m);
		if (rc == 0)
			return 0;
		if (rc < 0) {
			if (r->t->err.status == EX_PROTOCOL) {
				run_fail(r, EX_PROTOCOL, "%s", r->t->err.msg);
				return -1;
			}
			if (reconnect(r) < 0)
				return -1;
			continue;
		}
		on_msg(r, m);
	}
}

static int
c_synced(struct run *r)
{
	(void)r;
	return 1;	/* wait_for checks that no sync is open */
}

static int
c_online(struct run *r)
{
	return !r->offline;
}

static int
c_cancelled(struct run *r)
{
	int i;

	for (i = 0; i < r->no; i++)
		if (r->o[i].cancel == 1 && r->o[i].st != O_DONE)
			return 0;
	return 1;
}

/* An accepted MOC order waits for the closing auction: not for us. */
static int
moc_accepted(const struct ord *o)
{
	return strcmp(o->type, "MOC") == 0 && o->st == O_LIVE &&
	    (strcmp(o->status, "PreSubmitted") == 0 ||
	    strcmp(o->status, "Submitted") == 0);
}

static int
settled(struct run *r, int sells_only)
{
	int i;

	for (i = 0; i < r->no; i++) {
		struct ord *o = &r->o[i];

		if (o->kind == K_PLAN && (o->st == O_SENT || o->st == O_LIVE) &&
		    !moc_accepted(o) && (!sells_only || o->action[0] == 'S'))
			return 0;
	}
	return 1;
}

static int
c_settled(struct run *r)
{
	return settled(r, 0);
}

static int
c_sold(struct run *r)
{
	return settled(r, 1);
}

static int
c_commissions(struct run *r)
{
	int i, j;

	for (i = 0; i < r->nx; i++) {
		if (r->x[i].has_comm)
			continue;
		for (j = 0; j < r->no; j++)
			if (r->o[j].kind == K_PLAN && ex_of(&r->x[i], &r->o[j]))
				return 0;
	}
	return 1;
}

/* Executions the plan did not see (after the snapshot) in a symbol it
 * trades: the positions it was computed from are out of date. */
static int
stale(struct run *r, char *msg, size_t n)
{
	int i, j, k;

	for (i = 0; i < r->nx; i++) {
		struct ex *x = &r->x[i];
		int mine = 0;

		if (jv_get_kind(r->snap_execs) == JV_KIND_OBJECT) {
			if (jv_object_has(jv_copy(r->snap_execs),
			    jv_string(x->id)))
				continue;
		} else if (strcmp(x->ref, r->ref) != 0)
			continue;
		for (k = 0; k < r->no; k++)
			if (r->o[k].kind == K_PLAN && r->o[k].adopted &&
			    ex_of(x, &r->o[k]))
				mine = 1;
		if (mine)
			continue;
		for (j = 0; j < r->no; j++) {
			struct ord *o = &r->o[j];

			/* a buy anywhere spent cash the buys were sized with */
			if (o->kind == K_PLAN && o->st == O_NEW && x->buy &&
			    o->action[0] == 'B' &&
			    jv_get_kind(r->snap_execs) == JV_KIND_OBJECT &&
			    strcmp(o->sym, x->sym) != 0) {
				snprintf(msg, n, "%s was bought after the "
				    "snapshot the plan was computed from "
				    "(execution %s: %g at %g, order %lld of "
				    "client id %lld): the cash the buys were "
				    "sized with is gone; nothing sent; retry "
				    "with a fresh snapshot", x->sym, x->id,
				    x->shares, x->price, x->order_id,
				    x->client);
				return -1;
			}
			if (o->kind != K_PLAN || o->st != O_NEW ||
			    strcmp(o->sym, x->sym) != 0)
				continue;
			if (jv_get_kind(r->snap_execs) != JV_KIND_OBJECT &&
			    (o->action[0] == 'B') != x->buy)
				continue;
			snprintf(msg, n, "%s was %s after the snapshot the "
			    "plan was computed from (execution %s: %g at %g, "
			    "order %lld of client id %lld): nothing sent; "
			    "retry with a fresh snapshot", x->sym,
			    x->buy ? "bought" : "sold", x->id, x->shares,
			    x->price, x->order_id, x->client);
			return -1;
		}
	}
	return 0;
}

/* ---------------------------------------------------------------- */
/* Results                                                           */
/* ---------------------------------------------------------------- */

static jv
num_or_null(int ok, double v)
{
	return ok ? jv_number(v) : jv_null();
}

static jv
entry(struct run *r, const struct ord *o, const char *phase)
{
	double ev, c, q, f, avg;
	int nx, nc;
	const char *st = o->status[0] ? o->status : "Unknown";
	jv e;

	q = ex_sum(r, o, &ev, &c, &nx, &nc);
	f = o->filled > q ? o->filled : q;
	avg = o->avg > 0 && o->filled >= q ? o->avg : q > 0 ? ev / q : 0;
	if (o->st == O_SKIP)
		st = "not_sent";
	else if (!opt.execute || o->st == O_NEW)
		st = opt.execute ? "not_sent" : "dry_run";
	e = JV_OBJECT(jv_string("order_id"), num_or_null(o->id > 0,
	    (double)o->id),
	    jv_string("perm_id"), num_or_null(o->perm > 0, (double)o->perm),
	    jv_string("symbol"), jv_string(o->sym),
	    jv_string("action"), jv_string(o->action),
	    jv_string("qty"), jv_number(o->qty),
	    jv_string("filled"), jv_number(f),
	    jv_string("avg_price"), num_or_null(f > 0 && avg > 0, avg),
	    jv_string("commission"), num_or_null(nc > 0, c));
	e = jv_object_set(e, jv_string("status"), jv_string(st));
	e = jv_object_set(e, jv_string("error"), o->err[0] ?
	    jv_string(o->err) : jv_null());
	e = jv_object_set(e, jv_string("phase"), jv_string(phase));
	if (!opt.execute && o->adopted)
		e = jv_object_set(e, jv_string("error"), jv_string("would wait "
		    "for the working order instead of placing another"));
	e = jv_object_set(e, jv_string("type"), jv_string(o->type));
	e = jv_object_set(e, jv_string("limit"), num_or_null(o->limit > 0,
	    o->limit));
	e = jv_object_set(e, jv_string("ref"), o->ref ? jv_string(o->ref) :
	    jv_null());
	if (o->kind == K_CANCEL || (o->client > 0 && o->client != r->client))
		e = jv_object_set(e, jv_string("client_id"),
		    jv_number((double)o->client));
	return e;
}

static jv
append_entries(struct run *r, jv job)
{
	jv ex = jvx_get(job, "executions");
	int i;

	if (jv_get_kind(ex) != JV_KIND_ARRAY) {
		jv_free(ex);
		ex = jv_array();
	}
	for (i = 0; i < r->no; i++)
		if (r->o[i].kind == K_CANCEL)
			ex = jv_array_append(ex, entry(r, &r->o[i], "cancel"));
	for (i = 0; i < r->no; i++)
		if (r->o[i].kind == K_PLAN)
			ex = jv_array_append(ex, entry(r, &r->o[i], r->phase));
	return jv_object_set(job, jv_string("executions"), ex);
}

/* The job's verdict from the orders: 0 ok, else the code, with MSG. */
static int
verdict(struct run *r, char *msg, size_t n)
{
	size_t len = 0;
	int i, code = 0;

	msg[0] = '\0';
#define ADD(...) do {							\
	if (len < n)							\
		len += snprintf(msg + len, n - len, "%s", len ? "; " : "");	\
	if (len < n)							\
		len += snprintf(msg + len, n - len, __VA_ARGS__);		\
} while (0)
	for (i = 0; i < r->no; i++) {
		struct ord *o = &r->o[i];
		double f = o->filled, q = ex_sum(r, o, NULL, NULL, NULL, NULL);

		if (q > f)
			f = q;
		if (o->kind == K_CANCEL) {
			if (o->st != O_DONE) {
				ADD("cancel of order %lld (%s %g %s) not "
				    "confirmed", o->id, o->action, o->qty,
				    o->sym);
				if (!code)
					code = EX_TEMPFAIL;
			}
			continue;
		}
		if (o->st == O_SKIP && o->err[0]) {
			ADD("%s %s: %s", o->action, o->sym, o->err);
			if (!code)
				code = EX_TEMPFAIL;
		} else if (o->rejected) {
			ADD("%s %g %s rejected: %s (%s)", o->action, o->qty,
			    o->sym, o->err, o->status);
			code = EX_NOPERM;
		} else if (o->st == O_DONE && o->expired &&
		    strcmp(o->status, "Filled")) {
			ADD("%s %g %s filled %g by the deadline of %g s; the "
			    "rest was cancelled", o->action, o->qty, o->sym, f,
			    opt.timeout);
			if (!code)
				code = EX_TEMPFAIL;
		} else if (o->st == O_DONE && strcmp(o->status, "Filled")) {
			ADD("%s %g %s ended %s, filled %g%s%s", o->action,
			    o->qty, o->sym, o->status, f,
			    o->err[0] ? ": " : "", o->err);
			if (!code)
				code = EX_TEMPFAIL;
		} else if (o->st == O_LIVE && moc_accepted(o)) {
			continue;
		} else if (o->st == O_SENT || o->st == O_LIVE) {
			ADD("%s %g %s %s after the deadline of %g s, filled "
			    "%g", o->action, o->qty, o->sym, opt.leave ?
			    "left working" : o->cancel == 1 ?
			    "still working (cancel not confirmed)" :
			    "still working", opt.timeout, f);
			if (!code)
				code = EX_TEMPFAIL;
		}
	}
	if (code && r->offline)
		ADD("the gateway had lost IB (%d) and not got it back",
		    r->offline);
#undef ADD
	if (r->fail) {
		char tmp[1200];

		snprintf(tmp, sizeof tmp, "%s%s%s", r->fail_msg,
		    msg[0] ? "; " : "", msg);
		cpy(msg, n, tmp);
		return r->fail_code;
	}
	if (r->timed_out && code == 0) {
		snprintf(msg, n, "deadline of %g s passed", opt.timeout);
		code = EX_TEMPFAIL;
	}
	return code;
}

/* ---------------------------------------------------------------- */
/* One job                                                           */
/* ---------------------------------------------------------------- */

static void
run_free(struct run *r)
{
	int i;

	if (r->t)
		tws_close(r->t);
	for (i = 0; i < r->no; i++)
		free(r->o[i].ref);
	free(r->o);
	for (i = 0; i < r->nx; i++) {
		free(r->x[i].id);
		free(r->x[i].ref);
	}
	free(r->x);
	for (i = 0; i < r->nb; i++)
		free(r->b[i].ref);
	free(r->b);
	jv_free(r->snap_execs);
	free(r->acct);
	free(r->ref);
	free(r->phase);
	free(r->hpbuf);
}

/* An order that first goes out later than the run's start (the buys once
 * the sells filled) still trades on the plan's prices and cash: not once the
 * plan has grown older than -E. 1 when O is held back for that (skipped,
 * with why: 75, retry with a fresh plan). Only for an order never sent: one
 * sent that the gateway did not list is placed again (reconcile), where a
 * late turn-up of the first is watched for and cancelled (ghost). */
static int
too_old(struct run *r, struct ord *o)
{
	double age = r->age + (tws_clock() - r->t0);

	if (age <= opt.max_age)
		return 0;
	o->st = O_SKIP;
	snprintf(o->err, sizeof o->err, "not placed: the plan is %.0f s old "
	    "by now, older than %g s (-E); retry with a fresh snapshot and "
	    "plan", age, opt.max_age);
	warnx("%s: %s %g %s: %s", r->acct, o->action, o->qty, o->sym, o->err);
	return 1;
}

/* Place every plan order of SIDE ('S' or 'B') still to be sent. */
static int
place_side(struct run *r, char side)
{
	int i, k = 0;

	for (i = 0; i < r->no; i++)
		if (r->o[i].kind == K_PLAN && r->o[i].st == O_NEW &&
		    r->o[i].action[0] == side && !too_old(r, &r->o[i])) {
			place(r, &r->o[i]);
			k++;
		}
	return k;
}

/* Take in what has already arrived, without waiting or reconnecting. */
static void
drain(struct run *r)
{
	struct twsm_msg *m;

	while (!r->fail && r->t != NULL && tws_poll(r->t, tws_clock(), &m) == 1)
		on_msg(r, m);
}

/* Orders go out only while the gateway has IB: one sent while it is cut
 * off could reach IB at any later time, after this run gave up. 1 online,
 * 0 the deadline passed first, -1 the connection is gone. */
static int
online(struct run *r)
{
	int rc;

	drain(r);	/* a 1100 may have come with the last answer */
	if ((rc = wait_for(r, c_online, r->fill_end)) == 0)
		r->timed_out = 1;
	return rc;
}

/* The trading part with a connection: sync, cancel, place, wait. */
static void
trade(struct run *r, jv snap)
{
	char msg[1024];
	int i, rc, sells_ok;

	r->collect = 1;
	start_sync(r, 1);
	rc = wait_for(r, c_synced, fmin(r->fill_end, tws_clock() + SYNC_WAIT));
	r->collect = 0;
	if (rc == 0)
		run_fail(r, EX_TEMPFAIL, "the gateway did not list the open "
		    "orders and executions in time");
	if (rc != 1)
		return;
	classify(r);
	if (committed(r, snap, r->fail_msg, sizeof r->fail_msg) < 0) {
		r->refused = 1;		/* a check: failed as the guards do */
		return;
	}
	for (i = 0; i < r->no; i++)
		if (r->o[i].kind == K_CANCEL)
			cancel(r, &r->o[i]);
	rc = wait_for(r, c_cancelled, r->fill_end);
	if (rc == 0)
		run_fail(r, EX_TEMPFAIL, "the gateway did not confirm the "
		    "cancellation of the earlier orders; nothing placed");
	if (rc != 1 || opt.cancel_only)
		return;
	if (stale(r, msg, sizeof msg) < 0) {
		run_fail(r, EX_TEMPFAIL, "%s", msg);
		return;
	}
	/* sells first; the buys only once every sell filled */
	if (online(r) == 1)
		place_side(r, 'S');
	rc = wait_for(r, c_sold, r->fill_end);
	sells_ok = rc == 1;
	for (i = 0; i < r->no; i++) {
		struct ord *o = &r->o[i];

		if (o->kind == K_PLAN && o->action[0] == 'S' &&
		    !(o->st == O_DONE && strcmp(o->status, "Filled") == 0) &&
		    !moc_accepted(o))
			sells_ok = 0;
	}
	if (sells_ok && online(r) == 1)
		place_side(r, 'B');
	else
		for (i = 0; i < r->no; i++)
			if (r->o[i].kind == K_PLAN && r->o[i].st == O_NEW) {
				r->o[i].st = O_SKIP;
				cpy(r->o[i].err, sizeof r->o[i].err, r->offline ?
				    "not placed while the gateway had lost IB" :
				    "not placed: the sells did not all fill");
			}
	if (rc == 1)
		rc = wait_for(r, c_settled, r->fill_end);
	if (rc == 0) {
		r->timed_out = 1;
		if (!opt.leave)
			for (i = 0; i < r->no; i++)
				if (r->o[i].kind == K_PLAN &&
				    (r->o[i].st == O_LIVE ||
				    r->o[i].st == O_SENT) &&
				    !moc_accepted(&r->o[i])) {
					cancel(r, &r->o[i]);
					r->o[i].expired = 1;
				}
		rc = wait_for(r, c_cancelled, r->end);
	}
	if (rc >= 0 && !c_commissions(r))
		wait_for(r, c_commissions, fmin(r->end, tws_clock() +
		    COMM_WAIT));
	drain(r);
}

/* Would -x have to connect? Only for orders, or for this client's rebal:
 * orders the snapshot lists (or when it lists none at all). */
static int
need_gateway(struct run *r, jv snap)
{
	jv oo = jvx_get(snap, "open_orders");
	int i, ok = jv_get_kind(oo) == JV_KIND_ARRAY;

	jv_free(oo);
	if (r->no > 0 || !ok || opt.cancel_only)
		return 1;
	book_from_snapshot(r, snap);
	for (i = 0; i < r->nb; i++)
		if (r->b[i].client == r->client &&
		    live_status(r->b[i].status) &&
		    has_prefix(r->b[i].ref, "rebal:"))
			return 1;
	return 0;
}

/* "rebal:EVENT:ACCOUNT" as rebal-calc(1) makes it. */
static char *
event_ref(jv job, const char *acct)
{
	const char *ev;
	char buf[600];

	if ((ev = jvx_str(job, "event_id")) == NULL || *ev == '\0')
		if ((ev = jvx_str(job, "id")) == NULL || *ev == '\0')
			ev = "manual";
	snprintf(buf, sizeof buf, "rebal:%s:%s", ev, acct);
	return xstrdup(buf);
}

static int
do_job(jv job, void *ctx)
{
	struct run r;
	struct tws_err e;
	jv acct, plan, snap, ex;
	const char *st, *exec, *type, *tm, *ph;
	char msg[1400], hp[300];
	int code = 0, fresh, live, i, n;

	(void)ctx;
	st = jvx_str(job, "status");
	exec = jvx_str(job, "exec");
	if ((st != NULL && strcmp(st, "ok") != 0) || (!opt.cancel_only &&
	    exec != NULL && strcmp(exec, "rebalance") != 0)) {
		nd_emit(job);
		return 0;
	}
	memset(&r, 0, sizeof r);
	r.snap_execs = jv_null();
	r.acct = xstrdup(jvx_account(job));
	acct = jvx_get(job, "account");
	plan = jvx_get(job, "plan");
	snap = jvx_get(job, "snapshot");
	ph = jvx_str(plan, "phase");
	r.phase = xstrdup(opt.cancel_only ? "cancel" : ph ? ph : "all");

	if (strcmp(r.acct, "-") == 0) {
		job = jvx_fail(job, EX_DATAERR, "the job names no account");
		code = EX_DATAERR;
		goto out;
	}
	type = jvx_str(acct, "type");
	if (type == NULL)
		live = r.acct[0] != 'D';
	else if (strcmp(type, "live") == 0 || strcmp(type, "paper") == 0)
		live = strcmp(type, "live") == 0;
	else {
		job = jvx_fail(job, EX_DATAERR, "account type \"%s\" is "
		    "neither paper nor live", type);
		code = EX_DATAERR;
		goto out;
	}
	if (opt.cancel_only) {
		r.ref = xstrdup("rebal:");
	} else if (jv_get_kind(plan) != JV_KIND_OBJECT) {
		job = jvx_fail(job, EX_DATAERR, "the job has no plan");
		code = EX_DATAERR;
		goto out;
	} else if (load_plan(&r, plan, msg, sizeof msg) < 0 ||
	    guards(&r, snap, msg, sizeof msg) < 0) {
		job = jvx_fail(job, EX_DATAERR, "%s; nothing sent", msg);
		code = EX_DATAERR;
		goto out;
	}
	if (r.ref == NULL)	/* no orders: the ref rebal-calc would give */
		r.ref = event_ref(job, r.acct);
	else if (!opt.cancel_only) {
		char *want = event_ref(job, r.acct);

		/* a later run of this event must know its orders by it */
		if (strcmp(r.ref, want) != 0) {
			job = jvx_fail(job, EX_DATAERR, "reference %s is not this "
			    "job's %s; nothing sent", r.ref, want);
			code = EX_DATAERR;
			free(want);
			goto out;
		}
		free(want);
	}
	if (opt.client >= 0)
		r.client = opt.client;
	else if ((r.client = acct_job_client_id(acct, r.acct)) < 0) {
		job = jvx_fail(job, EX_DATAERR, "account.client_id: not a "
		    "client id (1..%ld); nothing sent", ACCT_CID_MAX);
		code = EX_DATAERR;
		goto out;
	}
	ex = jvx_get(snap, "executions_today");
	if (jv_get_kind(ex) == JV_KIND_ARRAY) {
		n = jv_array_length(jv_copy(ex));
		r.snap_execs = jv_object();
		for (i = 0; i < n; i++) {
			jv x = jv_array_get(jv_copy(ex), i);
			const char *id = jvx_str(x, "exec_id");

			if (id)
				r.snap_execs = jv_object_set(r.snap_execs,
				    jv_string(id), jv_true());
			jv_free(x);
		}
	}
	jv_free(ex);

	/* orders from an old plan would trade on old prices: refused below
	 * (a dry run only warns) */
	r.t0 = tws_clock();
	fresh = opt.cancel_only || r.no == 0 ? 0 : plan_fresh(plan, &r.age,
	    msg, sizeof msg);

	if (!opt.execute) {
		if (fresh != 0)
			warnx("%s: %s (a dry run: nothing is sent anyway)",
			    r.acct, msg);
		/* a dry run: what the snapshot says would be cancelled */
		book_from_snapshot(&r, snap);
		classify(&r);
		if (!opt.cancel_only && committed(&r, snap, msg,
		    sizeof msg) < 0) {
			job = jvx_fail(job, EX_DATAERR, "%s; nothing sent", msg);
			code = EX_DATAERR;
			goto out;
		}
		job = append_entries(&r, job);
		job = jv_object_set(job, jv_string("status"), jv_string("ok"));
		goto out;
	}
	if (live && ((tm = getenv("TRADING_MODE")) == NULL ||
	    strcmp(tm, "live") != 0)) {
		job = jvx_fail(job, EX_NOPERM, "account %s is live: trading it "
		    "needs TRADING_MODE=live; nothing sent", r.acct);
		code = EX_NOPERM;
		goto out;
	}
	if (live != (r.acct[0] != 'D')) {
		job = jvx_fail(job, EX_NOPERM, "account %s is typed %s but its "
		    "id is a %s account's (paper ids start with D); nothing "
		    "sent", r.acct, live ? "live" : "paper",
		    live ? "paper" : "live");
		code = EX_NOPERM;
		goto out;
	}
	if (fresh != 0) {
		job = jvx_fail(job, fresh, "%s; nothing sent", msg);
		code = fresh;
		goto out;
	}
	if (!need_gateway(&r, snap)) {
		job = append_entries(&r, job);
		job = jv_object_set(job, jv_string("status"), jv_string("ok"));
		goto out;
	}
	/* the book was only for need_gateway: the gateway's list counts */
	for (i = 0; i < r.nb; i++)
		free(r.b[i].ref);
	r.nb = 0;
	if (opt.hostport)
		cpy(hp, sizeof hp, opt.hostport);
	else
		snprintf(hp, sizeof hp, "%s:%s",
		    getenv("IB_HOST") && *getenv("IB_HOST") ?
		    getenv("IB_HOST") : "127.0.0.1",
		    getenv("IB_PORT") && *getenv("IB_PORT") ?
		    getenv("IB_PORT") : live ? "4001" : "4002");
	if (tws_hostport(hp, &r.hpbuf, &r.host, &r.port) < 0) {
		job = jvx_fail(job, EX_CONFIG, "bad host:port \"%s\"", hp);
		code = EX_CONFIG;
		goto out;
	}
	r.end = tws_clock() + opt.timeout;
	r.fill_end = r.end - fmin(CANCEL_MAX, opt.timeout * CANCEL_SHARE);
	r.rate = TWS_RATE;
	r.t = tws_connect_retry(r.host, r.port, (int)r.client,
	    fmin(r.end, tws_clock() + CONNECT_WAIT), &e);
	if (r.t == NULL) {
		job = jvx_fail(job, e.status, "%s: %s; nothing sent", hp,
		    e.msg);
		code = e.status;
		goto out;
	}
	if (!tws_has_account(r.t, r.acct)) {
		job = jvx_fail(job, EX_CONFIG, "account %s is not managed by "
		    "the gateway at %s; nothing sent", r.acct, hp);
		code = EX_CONFIG;
		goto out;
	}
	trade(&r, snap);
	tws_close(r.t);	/* before the job goes out (DESIGN 5) */
	r.t = NULL;
	if (r.refused) {
		job = jvx_fail(job, EX_DATAERR, "%s; nothing sent",
		    r.fail_msg);
		code = EX_DATAERR;
		goto out;
	}
	job = append_entries(&r, job);
	if ((code = verdict(&r, msg, sizeof msg)) != 0)
		job = jvx_fail(job, code, "%s", msg);
	else
		job = jv_object_set(job, jv_string("status"), jv_string("ok"));
out:
	jv_free(acct);
	jv_free(plan);
	jv_free(snap);
	run_free(&r);
	nd_emit(job);
	if (code != 0)
		nfailed++;
	return 0;
}

int
main(int argc, char *argv[])
{
	int ch, rc;

	diag_init(argv[0]);
	while ((ch = getopt(argc, argv, "b:Cc:E:H:hLp:s:t:vx")) != -1)
		switch (ch) {
		case 'b':
			opt.buy_cash = opt_double(ch, optarg, 0, 1000);
			break;
		case 'C':
			opt.cancel_only = 1;
			break;
		case 'c':
			/* 0 is IB's special client id: rebal-accounts(1) */
			opt.client = opt_long(ch, optarg, 1, ACCT_CID_MAX);
			break;
		case 'E':
			opt.max_age = opt_double(ch, optarg, 1, 604800);
			break;
		case 'H':
			opt.hostport = optarg;
			break;
		case 'h':
			usage(SYNOPSIS, 1);
		case 'L':
			opt.leave = 1;
			break;
		case 'p':
			opt.price_dev = opt_double(ch, optarg, 0, 100);
			break;
		case 's':
			opt.order_share = opt_double(ch, optarg, 0, 1000);
			break;
		case 't':
			opt.timeout = opt_double(ch, optarg, 0.1, 86400);
			break;
		case 'v':
			opt.verbose = 1;
			break;
		case 'x':
			opt.execute = 1;
			break;
		default:
			usage(SYNOPSIS, 0);
		}
	if (opt.hostport != NULL) {
		char *buf;
		const char *h, *p;

		if (tws_hostport(opt.hostport, &buf, &h, &p) < 0)
			die(EX_USAGE, "-H: expected host:port, not \"%s\"",
			    opt.hostport);
		free(buf);
	}
	rc = nd_each(argc - optind, argv + optind, do_job, NULL);
	nd_finish();
	if (rc)
		return rc;
	return nfailed ? EX_FAIL : 0;
}
