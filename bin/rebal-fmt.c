/*
 * rebal-fmt: jobs as human tables: positions with weights, targets against
 * current weights with drift bars, planned orders, executions, warnings, and
 * one summary line per job. Colour only on a terminal, never with NO_COLOR.
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

#define SYNOPSIS "[-hs] [file ...]"
#define BAR	10	/* drift bar half width, one column per point */

static int summary_only;
static const char *c_bold = "", *c_red = "", *c_green = "", *c_yellow = "",
    *c_off = "";

static void
out(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void
out(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	if (vprintf(fmt, ap) < 0)
		die(EX_IOERR, "write error: stdout:");
	va_end(ap);
}

/* X with two decimals and thousands separators: "-12,345.60". */
static const char *
money(double x, char *buf, size_t n)
{
	char tmp[64], *p = tmp, *dot;
	size_t len, i, lead, o = 0;

	if (!isfinite(x)) {
		snprintf(buf, n, "-");
		return buf;
	}
	snprintf(tmp, sizeof tmp, "%.2f", x);
	if (strcmp(tmp, "-0.00") == 0)
		p++;
	if (*p == '-' && o + 1 < n)
		buf[o++] = *p++;
	dot = strchr(p, '.');
	len = dot ? (size_t)(dot - p) : strlen(p);
	lead = len % 3 ? len % 3 : 3;
	for (i = 0; i < len && o + 2 < n; i++) {
		if (i >= lead && (i - lead) % 3 == 0)
			buf[o++] = ',';
		buf[o++] = p[i];
	}
	snprintf(buf + o, n - o, "%s", dot ? dot : "");
	return buf;
}

/* A quantity: integers plain, fractions as they are. */
static const char *
qty(double x, char *buf, size_t n)
{
	snprintf(buf, n, "%.10g", x);
	return buf;
}

static int
num(jv obj, const char *key, double *out)
{
	return jvx_num(obj, key, out);
}

static const char *
str(jv obj, const char *key, const char *def)
{
	const char *s = jvx_str(obj, key);

	return s ? s : def;
}

/* A price for SYM from the snapshot's quotes: mid, else last, close, bid. */
static int
price(jv snap, const char *sym, double *p)
{
	jv quotes = jvx_get(snap, "quotes");
	jv q = jvx_get(quotes, sym);
	double b, a;
	int ok = 1;

	if (num(q, "bid", &b) && num(q, "ask", &a) && b > 0 && a > 0)
		*p = (b + a) / 2;
	else if (!(num(q, "last", p) && *p > 0) &&
	    !(num(q, "close", p) && *p > 0) &&
	    !(num(q, "bid", p) && *p > 0))
		ok = 0;
	jv_free(q);
	jv_free(quotes);
	return ok;
}

/* The price an order is likely to cost: its limit, else bid or ask. */
static int
order_price(jv snap, jv o, double *p)
{
	jv quotes, q;
	const char *act = str(o, "action", "");
	int ok;

	if (num(o, "limit", p) && *p > 0)
		return 1;
	quotes = jvx_get(snap, "quotes");
	q = jvx_get(quotes, str(o, "symbol", ""));
	ok = num(q, strcmp(act, "BUY") == 0 ? "ask" : "bid", p) && *p > 0;
	jv_free(q);
	jv_free(quotes);
	return ok;
}

static int
arrlen(jv a)
{
	return jv_get_kind(a) == JV_KIND_ARRAY ? jv_array_length(jv_copy(a)) : 0;
}

/* The job's account, or the record itself when it is an account record
 * (rebal-accounts without -j). */
static jv
account(jv job, int *bare)
{
	jv acct = jvx_get(job, "account");
	const char *t;

	*bare = 0;
	if (jv_get_kind(acct) != JV_KIND_OBJECT &&
	    (t = jvx_str(job, "type")) != NULL &&
	    (strcmp(t, "paper") == 0 || strcmp(t, "live") == 0)) {
		jv_free(acct);
		*bare = 1;
		return jv_copy(job);
	}
	return acct;
}

static const char *
account_id(jv job, jv acct, int bare)
{
	return bare ? str(acct, "id", "-") : jvx_account(job);
}

static void
header(jv job)
{
	int bare;
	jv acct = account(job, &bare);
	const char *type = str(acct, "type", NULL);
	const char *strat = str(job, "strategy", str(acct, "strategy", NULL));
	const char *ex = str(job, "exec", NULL);
	const char *ev = bare ? NULL : str(job, "event_id", str(job, "id",
	    NULL));

	out("%s%s%s", c_bold, account_id(job, acct, bare), c_off);
	if (type)
		out(" (%s)", type);
	if (strat)
		out("  %s", strat);
	if (ex)
		out("  %s", ex);
	if (ev)
		out("  event %s", ev);
	out("\n");
	jv_free(acct);
}

static void
error_line(jv job)
{
	jv err = jvx_get(job, "error");
	double code;

	if (jv_get_kind(err) == JV_KIND_OBJECT) {
		out("  %sFAILED%s in %s", c_red, c_off, str(err, "tool", "?"));
		if (num(err, "code", &code))
			out(" (%g)", code);
		out(": %s\n", str(err, "message", ""));
	}
	jv_free(err);
}

static void
positions(jv job, jv snap)
{
	jv pos = jvx_get(snap, "positions"), p;
	double V = NAN, cash, q, pr, r;
	char b1[64], b2[64], b3[64];
	int i, n = arrlen(pos);

	num(snap, "net_liquidation", &V);
	out("  net liquidation %s", money(V, b1, sizeof b1));
	if (num(snap, "cash", &cash))
		out("   cash %s", money(cash, b1, sizeof b1));
	{
		jv acct = jvx_get(job, "account");

		if (num(acct, "cash_reserve_percent", &r))
			out("   reserve %.2f%%", r);
		jv_free(acct);
	}
	out("\n");
	out("\n  %sPOSITIONS%s\n", c_bold, c_off);
	out("  %-8s %12s %12s %16s %8s\n", "SYMBOL", "QTY", "PRICE", "VALUE",
	    "WEIGHT");
	for (i = 0; i < n; i++) {
		const char *sym;

		p = jv_array_get(jv_copy(pos), i);
		sym = str(p, "symbol", "?");
		if (!num(p, "qty", &q))
			q = NAN;
		if (price(snap, sym, &pr))
			out("  %-8s %12s %12s %16s %7.2f%%\n", sym,
			    qty(q, b1, sizeof b1), money(pr, b2, sizeof b2),
			    money(q * pr, b3, sizeof b3), q * pr / V * 100);
		else
			out("  %-8s %12s %12s %16s %8s\n", sym,
			    qty(q, b1, sizeof b1), "-", "-", "-");
		jv_free(p);
	}
	if (num(snap, "cash", &cash))
		out("  %-8s %12s %12s %16s %7.2f%%\n", "cash", "", "",
		    money(cash, b1, sizeof b1), cash / V * 100);
	jv_free(pos);
}

/* "[    ######|          ]": one column per percentage point. */
static void
bar(double d, char *buf)
{
	int k = (int)lround(fabs(d)), i;

	memset(buf, ' ', 2 * BAR + 3);
	buf[0] = '[';
	buf[BAR + 1] = '|';
	buf[2 * BAR + 2] = ']';
	buf[2 * BAR + 3] = '\0';
	for (i = 1; i <= k && i <= BAR; i++)
		buf[d < 0 ? BAR + 1 - i : BAR + 1 + i] = '#';
	if (k > BAR)
		buf[d < 0 ? 1 : 2 * BAR + 1] = d < 0 ? '<' : '>';
}

static double
targets(jv drift)
{
	jv d;
	double cur, tgt, max = 0;
	char b[2 * BAR + 4];
	int i, n = arrlen(drift);

	out("\n  %sTARGETS%s\n", c_bold, c_off);
	out("  %-8s %8s %8s %8s  %s\n", "SYMBOL", "TARGET", "CURRENT", "DRIFT",
	    "UNDER | OVER");
	for (i = 0; i < n; i++) {
		d = jv_array_get(jv_copy(drift), i);
		if (!num(d, "target", &tgt))
			tgt = 0;
		if (num(d, "current", &cur)) {
			double pp = (cur - tgt) * 100;

			if (fabs(pp) > max)
				max = fabs(pp);
			bar(pp, b);
			out("  %-8s %7.2f%% %7.2f%% %+8.2f  %s%s%s\n",
			    str(d, "symbol", "?"), tgt * 100, cur * 100, pp,
			    fabs(pp) >= 0.5 ? (pp < 0 ? c_green : c_red) : "",
			    b, fabs(pp) >= 0.5 ? c_off : "");
		} else
			out("  %-8s %7.2f%% %8s %8s\n", str(d, "symbol", "?"),
			    tgt * 100, "-", "-");
		jv_free(d);
	}
	return max;
}

static void
orders(jv plan, jv snap)
{
	jv ords = jvx_get(plan, "orders"), o;
	double q, p, lim;
	char b1[64], b2[64], b3[64], val[80];
	int i, n = arrlen(ords), buy, haslim;

	out("\n  %sORDERS%s (phase %s)\n", c_bold, c_off,
	    str(plan, "phase", "?"));
	if (n == 0)
		out("  none\n");
	for (i = 0; i < n; i++) {
		o = jv_array_get(jv_copy(ords), i);
		buy = strcmp(str(o, "action", ""), "BUY") == 0;
		if (!num(o, "qty", &q))
			q = NAN;
		haslim = num(o, "limit", &lim);
		if (order_price(snap, o, &p))
			snprintf(val, sizeof val, "%s%s", haslim ? "" : "~",
			    money(q * p, b3, sizeof b3));
		else
			snprintf(val, sizeof val, "-");
		out("  %s%-4s%s %-8s %10s %-3s %12s %-3s %17s\n",
		    buy ? c_green : c_red, str(o, "action", "?"), c_off,
		    str(o, "symbol", "?"), qty(q, b1, sizeof b1),
		    str(o, "type", "?"), haslim ? money(lim, b2, sizeof b2) : "",
		    str(o, "tif", ""), val);
		jv_free(o);
	}
	jv_free(ords);
}

static void
executions(jv ex)
{
	jv e;
	double x;
	char b1[64], b2[64], b3[64], b4[64], b5[64];
	int i, n = arrlen(ex);
	const char *err;

	out("\n  %sEXECUTIONS%s\n", c_bold, c_off);
	out("  %-5s %10s %-4s %-8s %10s %10s %12s %10s  %s\n", "PHASE",
	    "ORDER", "SIDE", "SYMBOL", "QTY", "FILLED", "AVG PRICE",
	    "COMMISSION", "STATUS");
	for (i = 0; i < n; i++) {
		e = jv_array_get(jv_copy(ex), i);
		out("  %-5s %10s %-4s %-8s %10s %10s %12s %10s  %s",
		    str(e, "phase", "-"),
		    num(e, "order_id", &x) ? qty(x, b1, sizeof b1) : "-",
		    str(e, "action", "-"), str(e, "symbol", "-"),
		    num(e, "qty", &x) ? qty(x, b2, sizeof b2) : "-",
		    num(e, "filled", &x) ? qty(x, b3, sizeof b3) : "-",
		    num(e, "avg_price", &x) ? money(x, b4, sizeof b4) : "-",
		    num(e, "commission", &x) ? money(x, b5, sizeof b5) : "-",
		    str(e, "status", "-"));
		if ((err = jvx_str(e, "error")) != NULL)
			out(" (%s)", err);
		else {
			jv ev = jvx_get(e, "error");

			if (jv_get_kind(ev) == JV_KIND_OBJECT)
				out(" (%s)", str(ev, "message", "error"));
			jv_free(ev);
		}
		out("\n");
		jv_free(e);
	}
}

/* The one line that sums a job up. */
static void
summary(jv job, jv snap, jv plan, double maxdrift, int havedrift)
{
	jv err = jvx_get(job, "error"), ords, ex, w, o;
	const char *st = str(job, "status", "ok"), *sep = ":";
	const char *acct_strat;
	double V, C, q, p, sv = 0, bv = 0;
	char b1[64], b2[64];
	int i, n, ns = 0, nb = 0, sapprox = 0, bapprox = 0, filled = 0;
	int other = 0;

	{
		int bare;
		jv acct = account(job, &bare);

		acct_strat = str(job, "strategy", str(acct, "strategy", "-"));
		out("%s%s%s %s %s ", c_bold, account_id(job, acct, bare), c_off,
		    acct_strat, str(job, "exec", "-"));
		jv_free(acct);
	}
	out("%s%s%s", strcmp(st, "failed") == 0 ? c_red :
	    strcmp(st, "ok") == 0 ? c_green : c_yellow, st, c_off);
	if (jv_get_kind(err) == JV_KIND_OBJECT) {
		out("%s %s", sep, str(err, "tool", "?"));
		if (num(err, "code", &q))
			out(" %g", q);
		out(": %s", str(err, "message", ""));
		sep = ";";
	}
	{
		const char *du = str(plan, "defer_until",
		    str(job, "defer_until", NULL));

		if (du) {
			out("%s until %s", sep, du);
			sep = ";";
		}
	}
	if (num(snap, "net_liquidation", &V)) {
		out("%s nlv %s", sep, money(V, b1, sizeof b1));
		if (num(snap, "cash", &C))
			out(", cash %s", money(C, b1, sizeof b1));
		sep = ";";
	}
	if (jv_get_kind(plan) == JV_KIND_OBJECT) {
		ords = jvx_get(plan, "orders");
		n = arrlen(ords);
		for (i = 0; i < n; i++) {
			int buy, est;

			o = jv_array_get(jv_copy(ords), i);
			buy = strcmp(str(o, "action", ""), "BUY") == 0;
			est = !num(o, "limit", &p);
			if (!num(o, "qty", &q) || !order_price(snap, o, &p))
				q = p = NAN;
			if (buy) {
				nb++;
				bv += q * p;
				bapprox |= est;
			} else {
				ns++;
				sv += q * p;
				sapprox |= est;
			}
			jv_free(o);
		}
		jv_free(ords);
		out("%s plan %s: %d sell%s", sep, str(plan, "phase", "?"), ns,
		    ns == 1 ? "" : "s");
		if (ns)
			out(" %s%s", sapprox ? "~" : "",
			    money(sv, b1, sizeof b1));
		out(", %d buy%s", nb, nb == 1 ? "" : "s");
		if (nb)
			out(" %s%s", bapprox ? "~" : "",
			    money(bv, b2, sizeof b2));
		sep = ";";
	}
	ex = jvx_get(job, "executions");
	if ((n = arrlen(ex)) > 0) {
		for (i = 0; i < n; i++) {
			o = jv_array_get(jv_copy(ex), i);
			if (strcmp(str(o, "status", ""), "Filled") == 0)
				filled++;
			else
				other++;
			jv_free(o);
		}
		out("%s executions %d filled, %d other", sep, filled, other);
		sep = ";";
	}
	jv_free(ex);
	if (havedrift) {
		out("%s max drift %.2f pp", sep, maxdrift);
		sep = ";";
	}
	w = jvx_get(plan, "warnings");
	if ((n = arrlen(w)) > 0)
		out("%s %s%d warning%s%s", sep, c_yellow, n, n == 1 ? "" : "s",
		    c_off);
	jv_free(w);
	jv_free(err);
	out("\n");
}

static int
do_job(jv job, void *ctx)
{
	jv snap = jvx_get(job, "snapshot");
	jv plan = jvx_get(job, "plan");
	jv drift = jvx_get(plan, "drift");
	jv ex = jvx_get(job, "executions");
	jv w = jvx_get(plan, "warnings");
	double maxd = 0;
	int i, n;

	(void)ctx;
	if (summary_only) {
		/* the drift maximum without the table */
		n = arrlen(drift);
		for (i = 0; i < n; i++) {
			jv d = jv_array_get(jv_copy(drift), i);
			double c, t;

			if (num(d, "current", &c) && num(d, "target", &t) &&
			    fabs(c - t) * 100 > maxd)
				maxd = fabs(c - t) * 100;
			jv_free(d);
		}
	} else {
		header(job);
		error_line(job);
		if (jv_get_kind(snap) == JV_KIND_OBJECT)
			positions(job, snap);
		if (arrlen(drift) > 0)
			maxd = targets(drift);
		if (jv_get_kind(plan) == JV_KIND_OBJECT)
			orders(plan, snap);
		if (arrlen(ex) > 0)
			executions(ex);
		if ((n = arrlen(w)) > 0) {
			out("\n  %sWARNINGS%s\n", c_bold, c_off);
			for (i = 0; i < n; i++) {
				jv s = jv_array_get(jv_copy(w), i);

				out("  %s-%s %s\n", c_yellow, c_off,
				    jv_get_kind(s) == JV_KIND_STRING ?
				    jv_string_value(s) : "?");
				jv_free(s);
			}
		}
		out("\n");
	}
	summary(job, snap, plan, maxd, arrlen(drift) > 0);
	if (!summary_only)
		out("\n");
	if (fflush(stdout) == EOF || ferror(stdout))
		die(EX_IOERR, "write error: stdout:");
	jv_free(w);
	jv_free(ex);
	jv_free(drift);
	jv_free(plan);
	jv_free(snap);
	jv_free(job);
	return 0;
}

int
main(int argc, char *argv[])
{
	const char *nc;
	int ch, rc;

	diag_init(argv[0]);
	while ((ch = getopt(argc, argv, "hs")) != -1)
		switch (ch) {
		case 'h':
			usage(SYNOPSIS, 1);
		case 's':
			summary_only = 1;
			break;
		default:
			usage(SYNOPSIS, 0);
		}
	argc -= optind;
	argv += optind;
	nc = getenv("NO_COLOR");
	if (isatty(STDOUT_FILENO) && (nc == NULL || *nc == '\0')) {
		c_bold = "\033[1m";
		c_red = "\033[31m";
		c_green = "\033[32m";
		c_yellow = "\033[33m";
		c_off = "\033[0m";
	}
	rc = nd_each(argc, argv, do_job, NULL);
	nd_finish();
	return rc;
}
