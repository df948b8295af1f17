/* rebal-notify: copy job lines to stdout unchanged and post one ntfy message
 * per account outcome (success, failure, deferral, skip, warnings). */
#include <ctype.h>
#include <math.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "diag.h"
#include "http.h"
#include "jvx.h"
#include "nd.h"
#include "tm.h"

#define ATTEMPTS 3
#define RULE "━━━━━━━━━━"

static const char *synopsis = "[-h] [-t SECONDS] [-w SECONDS] [file ...]";

static const char *url;
static char *token;
static double timeout = 10, window;
static jv batches;		/* account -> {"due", "notes":[...]} */

static double
mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* "$12,345.67", "-$5.00". */
static char *
money(double v, char *buf, size_t n)
{
	char d[64], *dot;
	size_t i, len, o = 0;

	snprintf(d, sizeof d, "%.2f", fabs(v));
	dot = strchr(d, '.');
	len = (size_t)(dot - d);
	if (v < 0 && strcmp(d, "0.00") != 0)
		buf[o++] = '-';
	buf[o++] = '$';
	for (i = 0; i < len && o + 4 < n; i++) {
		if (i > 0 && (len - i) % 3 == 0)
			buf[o++] = ',';
		buf[o++] = d[i];
	}
	snprintf(buf + o, n - o, "%s", dot);
	return buf;
}

/* "2026-11-23 10:49:19 ET" for T (seconds since the epoch). */
static char *
et(double t, char *buf, size_t n)
{
	struct tm tm;

	if (tm_local("America/New_York", (time_t)t, &tm) < 0)
		snprintf(buf, n, "%s", tm_fmt(t, (char[32]){ 0 }));
	else
		strftime(buf, n, "%Y-%m-%d %H:%M:%S ET", &tm);
	return buf;
}

/* "print-rebalance" -> "Print Rebalance". */
static jv
operation(const char *exec)
{
	jv s = jv_string("");
	char w[2] = { 0, 0 };
	int up = 1;

	for (; *exec; exec++) {
		if (*exec == '-' || *exec == '_') {
			w[0] = ' ';
			up = 1;
		} else {
			w[0] = up ? (char)toupper((unsigned char)*exec) : *exec;
			up = 0;
		}
		s = jv_string_append_str(s, w);
	}
	return s;
}

static int
mentions_pdt(const char *s)
{
	return s != NULL && strcasestr(s, "pdt") != NULL;
}

static jv
note(const char *title, const char *tags, const char *prio, jv body)
{
	return JV_OBJECT(jv_string("title"), jv_string(title),
	    jv_string("tags"), jv_string(tags),
	    jv_string("priority"), jv_string(prio),
	    jv_string("body"), body);
}

/* The notes for one job: the outcome, and the warnings if any. */
static jv
notes_for(jv job)
{
	const char *exec = jvx_str(job, "exec"), *status, *strategy, *msg;
	jv acct = jvx_get(job, "account"), plan = jvx_get(job, "plan");
	jv snap = jvx_get(job, "snapshot"), err = jvx_get(job, "error");
	jv warns = jvx_get(plan, "warnings"), out = jv_array(), head, body, op;
	char title[160], buf[64], tbuf[64];
	double v, t;
	int i, n;

	if (exec == NULL)
		exec = "rebalance";
	if (jv_get_kind(warns) != JV_KIND_ARRAY) {
		jv_free(warns);
		warns = jvx_get(job, "warnings");
	}
	status = jvx_str(job, "status");
	if (status == NULL)
		status = "ok";
	strategy = jvx_str(job, "strategy");
	if (strategy == NULL)
		strategy = jvx_str(acct, "strategy");
	msg = jvx_str(err, "message");
	if (msg == NULL)	/* rebal-account's summary line */
		msg = jvx_str(job, "reason");
	op = operation(exec);

	head = jv_string_fmt("Account: %s\nStrategy: %s\nOperation: %s\n"
	    "Time: %s\n", jvx_account(job), strategy ? strategy : "-", exec,
	    et(tm_now(), tbuf, sizeof tbuf));
	body = jv_copy(head);
	if (strcmp(status, "ok") == 0) {
		snprintf(title, sizeof title, "✅ %s Success",
		    jv_string_value(op));
		if (strcmp(exec, "rebalance") == 0) {
			jv ex = jvx_get(job, "executions");
			int trades = 0, working = 0;
			const char *es;
			n = jv_get_kind(ex) == JV_KIND_ARRAY ?
			    jv_array_length(jv_copy(ex)) : 0;
			for (i = 0; i < n; i++) {
				jv e = jv_array_get(jv_copy(ex), i);
				if (jvx_num(e, "filled", &v) && v > 0)
					trades++;
				/* accepted, not filled yet: market-on-close
				 * orders wait for the closing auction */
				es = jvx_str(e, "status");
				if (es != NULL && (strcmp(es, "PreSubmitted") == 0 ||
				    strcmp(es, "Submitted") == 0))
					working++;
				jv_free(e);
			}
			/* a summary line counts its orders instead */
			if (jv_get_kind(ex) != JV_KIND_ARRAY &&
			    jvx_num(job, "orders", &v))
				trades = (int)v;
			jv_free(ex);
			body = jv_string_concat(body, jv_string_fmt(
			    "\nTrades Executed: %d\n", trades));
			if (working > 0)
				body = jv_string_concat(body, jv_string_fmt(
				    "Orders Still Working: %d (not filled yet; "
				    "market-on-close orders fill at the close)\n",
				    working));
			if (jvx_num(snap, "net_liquidation", &v))
				body = jv_string_concat(body, jv_string_fmt(
				    "Portfolio Value: %s\n",
				    money(v, buf, sizeof buf)));
			if (jvx_num(snap, "cash", &v))
				body = jv_string_concat(body, jv_string_fmt(
				    "Cash Balance: %s\n",
				    money(v, buf, sizeof buf)));
		} else if (strcmp(exec, "print-rebalance") == 0) {
			jv orders = jvx_get(plan, "orders");
			body = jv_string_concat(body, jv_string_fmt(
			    "\nProposed Trades: %d\n",
			    jv_get_kind(orders) == JV_KIND_ARRAY ?
			    jv_array_length(jv_copy(orders)) : 0));
			jv_free(orders);
			if (jvx_num(snap, "net_liquidation", &v))
				body = jv_string_concat(body, jv_string_fmt(
				    "Current Value: %s\n",
				    money(v, buf, sizeof buf)));
		} else if (jvx_num(snap, "net_liquidation", &v)) {
			body = jv_string_concat(body, jv_string_fmt(
			    "\nPortfolio Value: %s\n",
			    money(v, buf, sizeof buf)));
			if (jvx_num(snap, "cash", &v))
				body = jv_string_concat(body, jv_string_fmt(
				    "Cash Balance: %s\n",
				    money(v, buf, sizeof buf)));
		}
		out = jv_array_append(out, note(title, "white_check_mark",
		    "default", body));
	} else if (strcmp(status, "failed") == 0) {
		if (mentions_pdt(msg)) {
			body = jv_string_concat(body, jv_string_fmt(
			    "\nReason: %s\n", msg));
			out = jv_array_append(out, note("🛡️ PDT Protection "
			    "Active", "shield,warning", "default", body));
		} else {
			snprintf(title, sizeof title, "❌ %s Failed",
			    jv_string_value(op));
			body = jv_string_concat(body, jv_string_fmt(
			    "\nError: %s\n", msg ? msg : "unknown error"));
			out = jv_array_append(out, note(title, "x", "high",
			    body));
		}
	} else if (strcmp(status, "deferred") == 0) {
		const char *until = jvx_str(plan, "defer_until");
		if (until == NULL)
			until = jvx_str(job, "defer_until");
		body = jv_string_concat(body, jv_string("\n"));
		if (until != NULL)
			body = jv_string_concat(body, jv_string_fmt(
			    "Deferred Until: %s\n", tm_parse(until, &t) == 0 ?
			    et(t, tbuf, sizeof tbuf) : until));
		if (msg != NULL)
			body = jv_string_concat(body, jv_string_fmt(
			    "Reason: %s\n", msg));
		if (mentions_pdt(msg))
			out = jv_array_append(out, note("🗓️ PDT - "
			    "Auto-Scheduled", "calendar,shield", "default",
			    body));
		else {
			snprintf(title, sizeof title, "⏰ %s Deferred",
			    jv_string_value(op));
			out = jv_array_append(out, note(title, "alarm_clock",
			    "default", body));
		}
	} else {
		snprintf(title, sizeof title, "⏭️ %s %s", jv_string_value(op),
		    strcmp(status, "skipped") == 0 ? "Skipped" : status);
		body = jv_string_concat(body, jv_string_fmt("\nReason: %s\n",
		    msg ? msg : "not given"));
		out = jv_array_append(out, note(title, "next_track_button",
		    "default", body));
	}

	n = jv_get_kind(warns) == JV_KIND_ARRAY ?
	    jv_array_length(jv_copy(warns)) : 0;
	if (n > 0) {
		body = jv_string_concat(jv_copy(head), jv_string("\n"));
		for (i = 0; i < n; i++) {
			jv w = jv_array_get(jv_copy(warns), i);
			if (jv_get_kind(w) != JV_KIND_STRING)
				w = jv_dump_string(w, 0);
			if (n > 1)
				body = jv_string_concat(body,
				    jv_string_fmt("%d. ", i + 1));
			body = jv_string_concat(body, w);
			body = jv_string_append_str(body, "\n");
		}
		snprintf(title, sizeof title, "⚠️ %s Warnings",
		    jv_string_value(op));
		out = jv_array_append(out, note(title, "warning", "default",
		    body));
	}
	jv_free(op);
	jv_free(head);
	jv_free(acct);
	jv_free(plan);
	jv_free(snap);
	jv_free(err);
	jv_free(warns);
	return out;
}

/* A header value: as is when ASCII, else an RFC 2047 encoded word (ntfy
 * decodes it). */
static jv
header_text(const char *s)
{
	static const char b64[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const unsigned char *p = (const unsigned char *)s;
	size_t i, n = strlen(s);
	char q[5] = { 0 };
	jv r;

	for (i = 0; i < n && p[i] >= 0x20 && p[i] < 0x7f; i++)
		;
	if (i == n)
		return jv_string(s);
	r = jv_string("=?UTF-8?B?");
	for (i = 0; i < n; i += 3) {
		unsigned v = (unsigned)p[i] << 16 |
		    (i + 1 < n ? (unsigned)p[i + 1] << 8 : 0) |
		    (i + 2 < n ? p[i + 2] : 0);
		q[0] = b64[v >> 18 & 63];
		q[1] = b64[v >> 12 & 63];
		q[2] = i + 1 < n ? b64[v >> 6 & 63] : '=';
		q[3] = i + 2 < n ? b64[v & 63] : '=';
		r = jv_string_append_str(r, q);
	}
	return jv_string_append_str(r, "?=");
}

static void
post(const char *account, jv m)
{
	struct http_req rq = { 0 };
	struct http_res res;
	jv title = header_text(jvx_str(m, "title"));
	jv h1 = jv_string_fmt("Title: %s", jv_string_value(title));
	jv h2 = jv_string_fmt("Tags: %s", jvx_str(m, "tags"));
	jv h3 = jv_string_fmt("Priority: %s", jvx_str(m, "priority"));
	const char *body = jvx_str(m, "body");
	const char *hdr[6];
	char *auth = NULL, what[160], msg[400];
	int k = 0, code;

	hdr[k++] = jv_string_value(h1);
	hdr[k++] = jv_string_value(h2);
	hdr[k++] = jv_string_value(h3);
	hdr[k++] = "Content-Type: text/plain; charset=utf-8";
	if (token != NULL) {
		if (asprintf(&auth, "Authorization: Bearer %s", token) < 0)
			die(EX_SOFTWARE, "asprintf:");
		hdr[k++] = auth;
	}
	hdr[k] = NULL;
	snprintf(what, sizeof what, "notification for %s", account);
	rq.method = "POST";
	rq.url = url;
	rq.headers = hdr;
	rq.body = body;
	rq.len = strlen(body);
	rq.timeout = timeout;
	rq.attempts = ATTEMPTS;
	rq.what = what;
	rq.secret = token;
	http_do(&rq, &res);
	if ((code = http_exit(&res)) != 0)
		warnx("warning: %s not sent: %s", what,
		    http_errmsg(&res, token, msg, sizeof msg));
	http_res_free(&res);
	if (auth != NULL) {
		memset(auth, 0, strlen(auth));
		free(auth);
	}
	jv_free(title);
	jv_free(h1);
	jv_free(h2);
	jv_free(h3);
	jv_free(m);
}

static int
prio_rank(const char *p)
{
	return strcmp(p, "high") == 0 ? 4 : 3;
}

/* One message for an account's batched NOTES (consumed). */
static void
post_batch(const char *account, jv notes)
{
	int i, n = jv_array_length(jv_copy(notes)), hi = 0;
	jv body, tags, m, title;

	if (n == 1) {
		post(account, jv_array_get(notes, 0));
		return;
	}
	body = jv_string("");
	tags = jv_string("");
	for (i = 0; i < n; i++) {
		const char *t;
		char *tok, *save, *dup;
		m = jv_array_get(jv_copy(notes), i);
		if (i > 0)
			body = jv_string_append_str(body, RULE "\n");
		body = jv_string_concat(body, jv_string_fmt("%s\n%s",
		    jvx_str(m, "title"), jvx_str(m, "body")));
		if (prio_rank(jvx_str(m, "priority")) > hi)
			hi = prio_rank(jvx_str(m, "priority"));
		dup = xstrdup(jvx_str(m, "tags"));
		for (tok = strtok_r(dup, ",", &save); tok != NULL;
		    tok = strtok_r(NULL, ",", &save)) {
			jv probe = jv_string_fmt(",%s,", jv_string_value(tags));
			jv needle = jv_string_fmt(",%s,", tok);
			t = strstr(jv_string_value(probe),
			    jv_string_value(needle));
			if (t == NULL) {
				if (jv_string_length_bytes(jv_copy(tags)) > 0)
					tags = jv_string_append_str(tags, ",");
				tags = jv_string_append_str(tags, tok);
			}
			jv_free(probe);
			jv_free(needle);
		}
		free(dup);
		jv_free(m);
	}
	jv_free(notes);
	title = jv_string_fmt("%s Portfolio Rebalancing", account);
	post(account, JV_OBJECT(jv_string("title"), title,
	    jv_string("tags"), tags,
	    jv_string("priority"), jv_string(hi >= 4 ? "high" : "default"),
	    jv_string("body"), body));
}

/* Post the batches due by NOW (all when NOW < 0). */
static void
flush(double now)
{
	jv keys = jv_keys(jv_copy(batches)), b;
	int i, n = jv_array_length(jv_copy(keys));
	double due;

	for (i = 0; i < n; i++) {
		jv k = jv_array_get(jv_copy(keys), i);
		b = jv_object_get(jv_copy(batches), jv_copy(k));
		if (now < 0 || (jvx_num(b, "due", &due) && due <= now)) {
			batches = jv_object_delete(batches, jv_copy(k));
			post_batch(jv_string_value(k), jvx_get(b, "notes"));
		}
		jv_free(b);
		jv_free(k);
	}
	jv_free(keys);
}

/* Seconds until the next batch is due, -1 when none is pending. */
static double
next_due(void)
{
	double best = -1, due;

	jv_object_foreach(batches, k, b) {
		if (jvx_num(b, "due", &due) && (best < 0 || due < best))
			best = due;
		jv_free(k);
		jv_free(b);
	}
	return best < 0 ? -1 : fmax(0, best - mono());
}

/* The note for a spool item that failed as a whole (rebal-spool run -N):
 * the event could not be run for any account (a bad configuration, a full
 * disk, CMD killed...); an empty array for any other record without an
 * account. */
static jv
event_notes(jv job)
{
	jv sp = jvx_get(job, "spool"), err = jvx_get(sp, "error"), op, body;
	const char *state = jvx_str(sp, "state"), *exec = jvx_str(job, "exec");
	const char *id = jvx_str(job, "event_id"), *strategy, *msg;
	char title[160], tbuf[64];
	double v;
	jv out = jv_array();

	if (state == NULL || strcmp(state, "failed") != 0)
		goto done;
	if (id == NULL)
		id = jvx_str(job, "id");
	if (exec == NULL)
		exec = "rebalance";
	strategy = jvx_str(job, "strategy");
	msg = jvx_str(err, "message");
	op = operation(exec);
	body = jv_string_fmt("Event: %s\nStrategy: %s\nOperation: %s\n"
	    "Time: %s\n\n", id ? id : "-", strategy ? strategy : "-", exec,
	    et(tm_now(), tbuf, sizeof tbuf));
	if (jvx_num(sp, "attempt", &v))
		body = jv_string_concat(body, jv_string_fmt("Attempts: %.0f\n",
		    v));
	body = jv_string_concat(body, jv_string_fmt("Error: %s\n",
	    msg ? msg : "unknown error"));
	body = jv_string_concat(body, jv_string("Accounts not run are not "
	    "retried: see rebal-spool ls failed\n"));
	snprintf(title, sizeof title, "❌ %s Event Failed", jv_string_value(op));
	out = jv_array_append(out, note(title, "x", "high", body));
	jv_free(op);
done:
	jv_free(err);
	jv_free(sp);
	return out;
}

static void
process(jv job)
{
	const char *acct = jvx_account(job);
	jv notes, b;
	int i, n;

	if (url == NULL) {
		jv_free(job);
		return;
	}
	if (strcmp(acct, "-") == 0) {
		const char *id = jvx_str(job, "event_id");

		notes = event_notes(job);
		if (jv_array_length(jv_copy(notes)) == 0) {
			jv_free(notes);
			jv_free(job);
			return;
		}
		if (id == NULL)
			id = jvx_str(job, "id");
		acct = id ? id : "event";	/* the key of the message */
	} else
		notes = notes_for(job);
	n = jv_array_length(jv_copy(notes));
	if (window <= 0) {
		for (i = 0; i < n; i++)
			post(acct, jv_array_get(jv_copy(notes), i));
		jv_free(notes);
		jv_free(job);
		return;
	}
	b = jv_object_get(jv_copy(batches), jv_string(acct));
	if (!jv_is_valid(b)) {
		jv_free(b);
		b = JV_OBJECT(jv_string("due"), jv_number(mono() + window),
		    jv_string("notes"), jv_array());
	}
	b = jv_object_set(b, jv_string("notes"),
	    jv_array_concat(jvx_get(b, "notes"), notes));
	batches = jv_object_set(batches, jv_string(acct), b);
	jv_free(job);
}

static int
run(const char *path)
{
	struct nd_in in;
	struct pollfd pfd;
	double wait;
	int r, st = 0;
	jv rec;

	if (nd_open(&in, path) < 0)
		return EX_NOINPUT;
	if (window > 0)		/* so that poll() sees every byte not read */
		setvbuf(in.f, NULL, _IONBF, 0);
	for (;;) {
		if (window > 0 && (wait = next_due()) >= 0) {
			pfd.fd = fileno(in.f);
			pfd.events = POLLIN;
			r = poll(&pfd, 1, (int)ceil(wait * 1000));
			if (r == 0) {
				flush(mono());
				continue;
			}
		}
		if ((r = nd_next(&in, &rec)) == 0)
			break;
		if (fwrite(in.buf, 1, in.len, stdout) != in.len ||
		    putchar('\n') == EOF || fflush(stdout) == EOF)
			die(EX_IOERR, "write error: stdout:");
		if (r < 0)
			st = EX_DATAERR;
		else
			process(rec);
		if (window > 0)
			flush(mono());
	}
	nd_close(&in);
	return st;
}

int
main(int argc, char **argv)
{
	char why[160];
	int c, i, st = 0;

	diag_init(argv[0]);
	while ((c = getopt(argc, argv, "ht:w:")) != -1) {
		switch (c) {
		case 'h':
			usage(synopsis, 1);
		case 't':
			timeout = opt_double('t', optarg, 0.1, 600);
			break;
		case 'w':
			window = opt_double('w', optarg, 0, 86400);
			break;
		default:
			usage(synopsis, 0);
		}
	}
	argc -= optind;
	argv += optind;

	url = getenv("NTFY_URL");
	if (url != NULL && *url == '\0')
		url = NULL;
	if (url == NULL)
		warnx("NTFY_URL is not set: passing records through, "
		    "no notifications");
	else if (http_url_check(url, why, sizeof why) < 0)
		die(EX_CONFIG, "NTFY_URL: %s", why);
	token = secret_get("NTFY_TOKEN");
	batches = jv_object();

	if (argc == 0)
		st = run(NULL);
	for (i = 0; i < argc; i++)
		st = nd_worst(st, run(argv[i]));
	flush(-1);
	jv_free(batches);
	if (token != NULL) {
		memset(token, 0, strlen(token));
		free(token);
	}
	nd_finish();
	return st;
}
