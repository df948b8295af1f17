/* rebal-gate: decide whether a rebalance job may trade now: market hours,
 * stale events, PDT protection, the market-on-close cut-off. Pure filter. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "diag.h"
#include "jvx.h"
#include "nd.h"
#include "tm.h"

#define SYNOPSIS "[-h] [-A seconds] [-d seconds] [-M minutes] [file ...]"

static double delay = 300;	/* -d: wait after the open */
static double max_age = 0;	/* -A: 0 = the last-close rule */
static double moc_cutoff = 10;	/* -M: minutes before the close */
static int nfailed, ndeferred;

struct mkt {
	int open;		/* every symbol is in a session */
	time_t next_open;	/* latest next open among closed symbols */
	time_t close;		/* earliest close among open symbols */
	time_t last_close;	/* latest end of a session before now */
	time_t next_day_open;	/* the open of the session after this one */
	char sym[64];		/* a closed symbol, for the message */
};

static jv
defer(jv job, time_t until, const char *why)
{
	char at[32];

	tm_fmt((double)until, at);
	warnx("%s: deferred until %s: %s", jvx_account(job), at, why);
	job = jv_object_set(job, jv_string("status"), jv_string("deferred"));
	job = jv_object_set(job, jv_string("defer_until"), jv_string(at));
	return jv_object_set(job, jv_string("reason"), jv_string(why));
}

static jv
skip(jv job, const char *why)
{
	warnx("%s: skipped: %s", jvx_account(job), why);
	job = jv_object_set(job, jv_string("status"), jv_string("skipped"));
	return jv_object_set(job, jv_string("reason"), jv_string(why));
}

/* The symbols the job may trade: targets and held positions. */
static jv
symbols(jv job)
{
	jv out = jv_object(), snap = jvx_get(job, "snapshot");
	jv a = jvx_get(job, "allocations"), p = jvx_get(snap, "positions");
	int i, n;

	n = jv_get_kind(a) == JV_KIND_ARRAY ? jv_array_length(jv_copy(a)) : 0;
	for (i = 0; i < n; i++) {
		jv e = jv_array_get(jv_copy(a), i);
		const char *s = jvx_str(e, "symbol");

		if (s)
			out = jv_object_set(out, jv_string(s), jv_true());
		jv_free(e);
	}
	n = jv_get_kind(p) == JV_KIND_ARRAY ? jv_array_length(jv_copy(p)) : 0;
	for (i = 0; i < n; i++) {
		jv e = jv_array_get(jv_copy(p), i);
		const char *s = jvx_str(e, "symbol");
		double q;

		if (s && jvx_num(e, "qty", &q) && q != 0)
			out = jv_object_set(out, jv_string(s), jv_true());
		jv_free(e);
	}
	jv_free(a);
	jv_free(p);
	jv_free(snap);
	return jv_keys(out);	/* sorted, unique */
}

/* Fill M from the quotes' liquid hours at NOW; -1 with BAD naming the
 * symbol whose hours are missing or malformed. */
static int
market(jv job, time_t now, struct mkt *m, char *bad, size_t badlen)
{
	jv syms = symbols(job), snap = jvx_get(job, "snapshot");
	jv quotes = jvx_get(snap, "quotes");
	int i, n = jv_array_length(jv_copy(syms)), r = 0;

	memset(m, 0, sizeof *m);
	m->open = 1;
	if (n == 0) {
		snprintf(bad, badlen, "no symbols to judge market hours by");
		r = -1;
	}
	for (i = 0; i < n && r == 0; i++) {
		jv s = jv_array_get(jv_copy(syms), i);
		jv q = jvx_get(quotes, jv_string_value(s));
		const char *h = jvx_str(q, "liquid_hours");
		const char *tz = jvx_str(q, "time_zone");
		time_t o = 0, c = 0, o2, c2;
		int st = h && tz ? tm_session(h, tz, now, &o, &c) : -1;

		if (st < 0) {
			snprintf(bad, badlen, "%s: %s", jv_string_value(s),
			    h && tz ? "malformed liquid hours or time zone" :
			    "no liquid hours in the snapshot");
			r = -1;
		} else if (st == 1) {
			if (m->close == 0 || c < m->close)
				m->close = c;
			/* the previous close and the next session's open */
			if (tm_session(h, tz, o - 1, &o2, &c2) == 0 &&
			    c2 > m->last_close)
				m->last_close = c2;
			if (tm_session(h, tz, c, &o2, &c2) == 0 &&
			    o2 > m->next_day_open)
				m->next_day_open = o2;
		} else {
			if (m->open)	/* name the first closed symbol */
				snprintf(m->sym, sizeof m->sym, "%s",
				    jv_string_value(s));
			m->open = 0;
			if (o == 0) {
				snprintf(bad, badlen, "%s: market closed and "
				    "no next session listed",
				    jv_string_value(s));
				r = -1;
			}
			if (o > m->next_open)
				m->next_open = o;
			if (c > m->last_close)
				m->last_close = c;
			if (o > m->next_day_open)
				m->next_day_open = o;
		}
		jv_free(q);
		jv_free(s);
	}
	jv_free(quotes);
	jv_free(snap);
	jv_free(syms);
	return r;
}

/* An execution of another rebal event today (PDT: one rebalance a day). */
static int
traded_today(jv job)
{
	jv snap = jvx_get(job, "snapshot");
	jv ex = jvx_get(snap, "executions_today");
	const char *eid = jvx_str(job, "event_id");
	char own[512];
	int i, n, hit = 0;

	if (eid == NULL)
		eid = jvx_str(job, "id");
	snprintf(own, sizeof own, "rebal:%s:", eid ? eid : "");
	n = jv_get_kind(ex) == JV_KIND_ARRAY ? jv_array_length(jv_copy(ex)) : 0;
	for (i = 0; i < n && !hit; i++) {
		jv e = jv_array_get(jv_copy(ex), i);
		const char *ref = jvx_str(e, "ref");

		if (ref && !strncmp(ref, "rebal:", 6) &&
		    strncmp(ref, own, strlen(own)))
			hit = 1;
		jv_free(e);
	}
	jv_free(ex);
	jv_free(snap);
	return hit;
}

static int
gate(jv job, void *ctx)
{
	const char *st = jvx_str(job, "status");
	const char *exec = jvx_str(job, "exec");
	const char *pub, *ot;
	jv snap, acct;
	double now, tpub;
	struct mkt m;
	char bad[256], why[512], at[32];
	int rc = 0;

	(void)ctx;
	if ((st && strcmp(st, "ok")) || exec == NULL ||
	    strcmp(exec, "rebalance")) {
		nd_emit(job);
		return 0;
	}
	snap = jvx_get(job, "snapshot");
	acct = jvx_get(job, "account");
	if (jv_get_kind(snap) != JV_KIND_OBJECT) {
		job = jvx_fail(job, EX_DATAERR, "no snapshot to judge by");
		rc = EX_FAIL;
		goto out;
	}
	if (!jvx_str(snap, "server_time") ||
	    tm_parse(jvx_str(snap, "server_time"), &now) < 0)
		now = tm_now();
	if (market(job, (time_t)now, &m, bad, sizeof bad) < 0) {
		job = jvx_fail(job, EX_DATAERR, "%s", bad);
		rc = EX_FAIL;
		goto out;
	}
	pub = jvx_str(job, "published_at");
	if (pub == NULL)
		pub = jvx_str(job, "received_at");
	if (pub && tm_parse(pub, &tpub) == 0) {
		if (max_age > 0 && now - tpub > max_age) {
			snprintf(why, sizeof why, "stale event: published %s, "
			    "older than %g s", pub, max_age);
			job = skip(job, why);
			goto out;
		}
		if (max_age <= 0 && m.last_close > 0 &&
		    tpub < (double)m.last_close) {
			snprintf(why, sizeof why, "stale event: published %s, "
			    "before the market close of %s", pub,
			    tm_fmt((double)m.last_close, at));
			job = skip(job, why);
			goto out;
		}
	}
	if (!m.open) {
		snprintf(why, sizeof why, "market closed (%s)", m.sym);
		job = defer(job, m.next_open + (time_t)delay, why);
		rc = EX_TEMPFAIL;
		goto out;
	}
	if (jvx_bool(acct, "pdt_protection", 0) && traded_today(job)) {
		job = defer(job, m.next_day_open + (time_t)delay,
		    "PDT protection: already rebalanced today");
		rc = EX_TEMPFAIL;
		goto out;
	}
	ot = jvx_str(acct, "order_type");
	if (ot && !strcmp(ot, "moc") &&
	    now >= (double)m.close - moc_cutoff * 60) {
		snprintf(why, sizeof why, "past the market-on-close cut-off "
		    "(%g min before %s)", moc_cutoff,
		    tm_fmt((double)m.close, at));
		job = defer(job, m.next_day_open + (time_t)delay, why);
		rc = EX_TEMPFAIL;
		goto out;
	}
	/* the job may trade: say until when (market-on-close waits for it) */
	job = jv_object_set(job, jv_string("market_close"),
	    jv_string(tm_fmt((double)m.close, at)));
out:
	jv_free(snap);
	jv_free(acct);
	nd_emit(job);
	if (rc == EX_FAIL)
		nfailed++;
	else if (rc == EX_TEMPFAIL)
		ndeferred++;
	return 0;
}

int
main(int argc, char **argv)
{
	int c, st;

	diag_init(argv[0]);
	while ((c = getopt(argc, argv, "A:d:hM:")) != -1) {
		switch (c) {
		case 'A':
			max_age = opt_double(c, optarg, 0, 1e9);
			break;
		case 'd':
			delay = opt_double(c, optarg, 0, 86400);
			break;
		case 'h':
			usage(SYNOPSIS, 1);
		case 'M':
			moc_cutoff = opt_double(c, optarg, 0, 600);
			break;
		default:
			usage(SYNOPSIS, 0);
		}
	}
	st = nd_each(argc - optind, argv + optind, gate, NULL);
	nd_finish();
	if (st)
		return st;
	return nfailed ? EX_FAIL : ndeferred ? EX_TEMPFAIL : 0;
}
