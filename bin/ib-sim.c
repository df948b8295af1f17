/* ib-sim: a fake IB Gateway on loopback. It speaks the TWS API socket
 * protocol at server version 176 (tws-protocol.md, Appendix A) to up to 32
 * clients from one poll loop, simulates accounts, quotes and orders from a
 * scenario file, injects faults, journals every message as NDJSON and writes
 * the final state on SIGTERM/SIGINT. See ib-sim(1).
 *
 * Sections:
 *   1. model: symbols, accounts, orders, executions, connections
 *   2. clock and market hours
 *   3. scenario: YAML to the model, every error "file:line:" and exit 78
 *   4. journal
 *   5. output: frames with latency, silence and journal entries
 *   6. server messages (encoders)
 *   7. account values and subscription pushes
 *   8. order engine: validation, fills, cancels
 *   9. request handlers (decoders)
 *  10. scripted events
 *  11. connections and the poll loop
 *  12. final state and main
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <float.h>
#include <limits.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <jv.h>

#include "diag.h"
#include "jvx.h"
#include "tm.h"
#include "twsf.h"
#include "yml.h"

#define SERVER_VERSION	176	/* the only dialect spoken */
#define INF		HUGE_VAL

/* ------------------------------------------------------------------ */
/* 1. Model                                                            */
/* ------------------------------------------------------------------ */

/* A price as scripted: a number, null (IB's "no data": -1 and size 0),
 * "nan" (the text NaN on the wire) or "absent" (no tick at all). */
enum { PX_SET, PX_NONE, PX_NAN, PX_ABSENT };
struct px {
	int st;
	double v;
};

enum { MD_LIVE = 1, MD_DELAYED, MD_NONE };		/* permission */
enum { LMT_MARKETABLE, LMT_ALWAYS, LMT_NEVER };		/* limit orders */

struct fills {
	double delay_ms;	/* placement to first fill */
	double step_ms;		/* between partial fills */
	double partial;		/* fraction of the order per fill, (0,1] */
	int steps;		/* most fills per order, 0 = until filled */
	int limit;		/* LMT_* */
};

struct sym {
	char *symbol, *primary, *currency, *tz, *trading, *liquid;
	char *long_name, *stock_type, *trading_class, *reject, *isin;
	long long con_id;
	double min_tick;
	struct px bid, ask, last, close;
	double bid_size, ask_size, last_size, volume;	/* volume < 0: none */
	int md;
	struct fills fills;
};

struct pos {
	struct sym *sym;
	double qty, avg_cost;
};

struct acct {
	char *id, *currency;
	double cash, settled;
	struct pos *pos;
	int npos;
	jv values;		/* scripted account values {tag: value} */
};

enum { OS_PRESUBMITTED, OS_SUBMITTED, OS_FILLED, OS_CANCELLED,
	OS_INACTIVE };
static const char *const os_name[] = { "PreSubmitted", "Submitted",
	"Filled", "Cancelled", "Inactive" };
#define OS_OPEN(s)	((s) == OS_PRESUBMITTED || (s) == OS_SUBMITTED)

struct order {
	long long id, perm;
	int client;
	struct acct *acct;
	struct sym *sym;
	char *exchange, *ref;
	int buy, outside_rth, st;
	char type[8], tif[8];
	double qty, lmt, filled, avg, last_px, commission;
	double due;		/* real ms before which it does not fill */
	int steps;		/* fills so far */
	double moc_at;		/* sim time of its closing auction, 0 none */
	int auction;		/* a scripted auction reached it */
	int held;		/* 399 sent: waits for the session */
	int staged;		/* transmit=0: kept, never worked */
};

struct exec {
	char id[48];
	long long order_id, perm;
	int client;
	struct acct *acct;
	struct sym *sym;
	int buy, liquidity;
	double shares, price, cum, avg, commission, realized, time;
	char *ref;
};

/* Scripted quote change, closing auction or change of the gateway's
 * connectivity to IB. */
enum { NET_NONE, NET_LOST, NET_RESTORED };
struct event {
	double after_ms, at;	/* at: sim time, 0 none */
	char *on;		/* request name that arms it, or NULL */
	int count, seen;
	double armed;		/* real ms it was armed, -1 not yet */
	struct sym *sym;	/* NULL: every symbol (auction only) */
	struct px bid, ask, last, close;
	int set_bid, set_ask, set_last, set_close;
	double volume;
	int auction, fired;
	int net, code;		/* NET_*; its ERR_MSG code (1100, 2110,
				 * 1101, 1102) */
};

/* Hostile output (faults: hostile), what replaces the frames sent. */
enum { H_NONE, H_RANDOM, H_TRUNCATED, H_HUGE, H_SHORT, H_UNKNOWN, H_NONUL,
	H_STALL };
static const char *const h_name[] = { "", "random", "truncated",
	"huge_length", "short_fields", "unknown_ids", "no_nul", "stall", NULL };

/* Connection fault rule. */
struct rule {
	int *conns, nconns;	/* connection numbers, none = every one */
	int client;		/* -1 every client id */
	int refuse, dup;
	long silent_after, disconnect_after, pacing;	/* -1 unset */
	int hostile;		/* H_*, H_NONE unset */
	long hostile_after;
	unsigned long long seed;
};

struct latency {
	char *name;
	double ms;
};

/* Subscriptions held by a connection. */
enum { SUB_POSMULTI, SUB_SUMMARY, SUB_UPDMULTI, SUB_MKT };
struct sub {
	int kind;
	long long req;
	struct acct *acct;	/* NULL: every account */
	char *tags;		/* SUB_SUMMARY */
	int ledger;		/* SUB_UPDMULTI ledgerAndNLV */
	struct sym *sym;	/* SUB_MKT */
	int type;		/* SUB_MKT: effective market data type */
};

enum { CS_GREET, CS_VERSION, CS_START, CS_READY };

struct outq {
	size_t len;
	double due;
	jv j;
};

struct conn {
	int fd, num, state, client;	/* client -1 before START_API */
	struct twsf_rd rd;
	struct twsf_buf out;
	size_t ready;			/* bytes of out released to write */
	struct outq *q;
	int qh, qn, qcap;
	double last_due;
	int closing, dead, silent;
	const char *why;		/* reason of a pending close */
	long msgs;
	/* faults */
	int refuse, dup;
	long silent_after, disconnect_after, pacing;
	int hostile;
	long hostile_after;
	unsigned long long rng;		/* hostile PRNG state */
	double *rate;
	long nrate, rpos;
	/* state */
	int mdtype, positions;
	struct acct *updates;		/* REQ_ACCOUNT_UPDATES account */
	struct sub *subs;
	int nsubs;
	/* requests that came while IB was lost, answered at the restore */
	struct twsf_msg *held;
	int nheld, heldcap;
};

static struct {
	int cap_syms, cap_accts, cap_orders, cap_execs, cap_events, cap_rules,
	    cap_lat, cap_ids, cap_holidays;
	struct sym **syms;
	int nsyms;
	struct acct **accts;
	int naccts;
	struct order **orders;
	int norders;
	struct exec **execs;
	int nexecs;
	struct event *events;
	int nevents;
	struct rule *rules;
	int nrules;
	struct latency *lat;
	int nlat;
	double lat_default;
	struct conn *conns[64];
	int nconns;
	int max_clients, conn_seq;
	int server_version;
	long pacing;
	long long next_id_default;
	struct { int client; long long next; } *ids;
	int nids;
	int master;			/* master API client id, -1 none */
	int offline;			/* 1100 or 2110 while the gateway has
					 * lost IB, else 0 */
	long long perm_seq;
	int exec_seq;
	double per_share, min_commission;
	struct fills fills;
	int md_default;
	char *tz;			/* the gateway's zone */
	char **holidays;
	int nholidays;
	/* clock */
	double clock_base, speed, t0;
	/* files */
	FILE *journal;
	const char *journal_path, *state_path;
	int verbose;
} g;

static double cur_latency;	/* latency of the replies being built */

static void *
grow(void *p, int n, int *cap, size_t size)
{
	if (n < *cap)
		return p;
	*cap = *cap ? *cap * 2 : 8;
	return xrealloc(p, (size_t)*cap * size);
}

#define PUSH(arr, n, cap, v) do {					\
	(arr) = grow((arr), (n), &(cap), sizeof *(arr));		\
	(arr)[(n)++] = (v);						\
} while (0)

/* ------------------------------------------------------------------ */
/* 2. Clock and market hours                                           */
/* ------------------------------------------------------------------ */

/* Real milliseconds since start (monotonic). */
static double
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + ts.tv_nsec / 1e6 - g.t0;
}

/* The simulated wall clock, seconds since the epoch. */
static double
sim_now(void)
{
	return g.clock_base + now_ms() / 1e3 * g.speed;
}

/* Real ms at which the sim clock reaches T (INF when it never will). */
static double
sim_to_ms(double t)
{
	double now = sim_now();

	if (t <= now)
		return now_ms();
	if (g.speed <= 0)
		return INF;
	return now_ms() + (t - now) / g.speed * 1e3;
}

static int
is_holiday(const struct tm *d)
{
	char buf[48];
	int i;

	snprintf(buf, sizeof buf, "%04d-%02d-%02d", d->tm_year + 1900,
	    d->tm_mon + 1, d->tm_mday);
	for (i = 0; i < g.nholidays; i++)
		if (strcmp(g.holidays[i], buf) == 0)
			return 1;
	return 0;
}

/* "HH:MM-HH:MM[,HH:MM-HH:MM...]": 1 when S is such a daily template. */
static int
is_template(const char *s)
{
	int h1, m1, h2, m2, n;

	for (;;) {
		if (sscanf(s, "%2d:%2d-%2d:%2d%n", &h1, &m1, &h2, &m2, &n) != 4 ||
		    n != 11 || h1 > 24 || h2 > 24 || m1 > 59 || m2 > 59 ||
		    (h1 == h2 && m1 == m2))
			return 0;
		s += n;
		if (*s == '\0')
			return 1;
		if (*s++ != ',')
			return 0;
	}
}

/* The IB hours string of a symbol at sim time NOW: a literal IB string as
 * given, or a daily template expanded from the day before NOW for eight days
 * in the symbol's zone, Saturdays, Sundays and holidays CLOSED. The result is
 * freed by the caller; NULL when the symbol has no such hours. */
static char *
hours_at(const char *h, const char *tz, double now)
{
	struct tm lt, day, end;
	char *out;
	size_t cap = 1024, len = 0;
	int d, h1, m1, h2, m2, n;
	const char *s;
	time_t t;

	if (h == NULL)
		return NULL;
	if (!is_template(h))
		return xstrdup(h);
	if (tm_local(tz, (time_t)now, &lt) < 0)
		return NULL;
	out = xmalloc(cap);
	out[0] = '\0';
	for (d = -1; d < 7; d++) {
		memset(&day, 0, sizeof day);
		day.tm_year = lt.tm_year;
		day.tm_mon = lt.tm_mon;
		day.tm_mday = lt.tm_mday + d;
		day.tm_hour = 12;
		t = timegm(&day);
		gmtime_r(&t, &day);
		if (len + 200 > cap)
			out = xrealloc(out, cap *= 2);
		if (day.tm_wday == 0 || day.tm_wday == 6 || is_holiday(&day)) {
			len += sprintf(out + len, "%s%04d%02d%02d:CLOSED",
			    len ? ";" : "", day.tm_year + 1900, day.tm_mon + 1,
			    day.tm_mday);
			continue;
		}
		for (s = h; sscanf(s, "%2d:%2d-%2d:%2d%n", &h1, &m1, &h2, &m2,
		    &n) == 4; s += n + (s[n] == ',')) {
			end = day;
			if (h2 * 60 + m2 <= h1 * 60 + m1) {
				end.tm_mday++;
				t = timegm(&end);
				gmtime_r(&t, &end);
			}
			if (len + 100 > cap)
				out = xrealloc(out, cap *= 2);
			len += sprintf(out + len,
			    "%s%04d%02d%02d:%02d%02d-%04d%02d%02d:%02d%02d",
			    len ? ";" : "", day.tm_year + 1900, day.tm_mon + 1,
			    day.tm_mday, h1, m1, end.tm_year + 1900,
			    end.tm_mon + 1, end.tm_mday, h2, m2);
		}
	}
	return out;
}

/* Session state of hours H (liquid or trading) of S at sim time NOW, as
 * tm_session: 1 open (*close its end), 0 closed (*open the next start, 0 if
 * none), and 1 with *close 0 when the symbol has no such hours. */
static int
session(struct sym *s, const char *h, double now, time_t *open,
    time_t *close)
{
	char *ib = hours_at(h, s->tz, now);
	int r;

	*open = *close = 0;
	if (ib == NULL)
		return 1;
	r = tm_session(ib, s->tz, (time_t)now, open, close);
	free(ib);
	return r < 0 ? 1 : r;
}

/* "yyyymmdd hh:mm:ss ZONE" in the gateway's zone, as IB writes times. */
static char *
ib_time(double t, char *buf, size_t n)
{
	struct tm lt;

	if (tm_local(g.tz, (time_t)t, &lt) < 0)
		gmtime_r(&(time_t){ (time_t)t }, &lt);
	snprintf(buf, n, "%04d%02d%02d %02d:%02d:%02d %s", lt.tm_year + 1900,
	    lt.tm_mon + 1, lt.tm_mday, lt.tm_hour, lt.tm_min, lt.tm_sec, g.tz);
	return buf;
}

/* ------------------------------------------------------------------ */
/* 3. Scenario                                                         */
/* ------------------------------------------------------------------ */

static const char *sc_file = "<builtin>";
static jv sc_lines;

/* Used without -f: one account, one symbol, always open. */
static const char builtin_scenario[] =
    "{\"accounts\":[{\"id\":\"DU1234567\",\"cash\":100000}],"
    "\"symbols\":[{\"symbol\":\"SPY\",\"con_id\":756733,\"bid\":500,"
    "\"ask\":500.05,\"last\":500.02,\"close\":499.5,"
    "\"primary_exchange\":\"ARCA\",\"long_name\":\"SPDR S&P 500 ETF TRUST\","
    "\"stock_type\":\"ETF\"}]}";

static jv
pk(jv path, const char *key)
{
	return jv_array_append(jv_copy(path), jv_string(key));
}

/* PATH (consumed) with index I appended. */
static jv
pi(jv path, int i)
{
	return jv_array_append(path, jv_number(i));
}

/* "file:line: message" and exit 78; PATH is consumed. */
static _Noreturn void __attribute__((format(printf, 2, 3)))
sc_fail(jv path, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	die(EX_CONFIG, "%s:%d: %s", sc_file, yml_line(sc_lines, path), msg);
}

/* sc_fail about KEY (NULL: the element itself) of the element at PATH,
 * which it takes over. Nothing returns, so the caller's PATH would be
 * unreachable and a leak to the sanitizer: it is let go first. */
static _Noreturn void __attribute__((format(printf, 3, 4)))
sc_fail_at(jv path, const char *key, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	jv at = key != NULL ? pk(path, key) : jv_copy(path);

	jv_free(path);
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	sc_fail(at, "%s", msg);
}

static void
sc_keys(jv obj, jv path, const char *const *ok)
{
	const char *const *p;

	if (jv_get_kind(obj) != JV_KIND_OBJECT)
		sc_fail(jv_copy(path), "expected a mapping");
	jv_object_keys_foreach(obj, k) {
		for (p = ok; *p; p++)
			if (strcmp(*p, jv_string_value(k)) == 0)
				break;
		if (*p == NULL)
			sc_fail(jv_array_append(jv_copy(path), k),
			    "unknown key \"%s\"", jv_string_value(k));
		jv_free(k);
	}
}

static int
sc_has(jv obj, const char *key)
{
	return jv_get_kind(obj) == JV_KIND_OBJECT &&
	    jv_object_has(jv_copy(obj), jv_string(key));
}

/* A number in [min,max]: 1 and *out when present and not null. */
static int
sc_num(jv obj, jv path, const char *key, double *out, double min, double max)
{
	jv v = jvx_get(obj, key);
	double d;

	if (jv_get_kind(v) == JV_KIND_NULL) {
		jv_free(v);
		return 0;
	}
	if (jv_get_kind(v) != JV_KIND_NUMBER)
		sc_fail(pk(path, key), "%s: expected a number", key);
	d = jv_number_value(v);
	jv_free(v);
	if (!(d >= min && d <= max))
		sc_fail(pk(path, key), "%s: %g is out of range [%g, %g]", key,
		    d, min, max);
	*out = d;
	return 1;
}

static int
sc_int(jv obj, jv path, const char *key, long long *out, long long min,
    long long max)
{
	double d;

	if (!sc_num(obj, path, key, &d, (double)min, (double)max))
		return 0;
	if (d != floor(d))
		sc_fail(pk(path, key), "%s: expected an integer", key);
	*out = (long long)d;
	return 1;
}

/* A string (a copy), or NULL when absent. */
static char *
sc_str(jv obj, jv path, const char *key)
{
	jv v = jvx_get(obj, key);
	char *s;

	if (jv_get_kind(v) == JV_KIND_NULL) {
		jv_free(v);
		return NULL;
	}
	if (jv_get_kind(v) != JV_KIND_STRING)
		sc_fail(pk(path, key), "%s: expected a string", key);
	s = xstrdup(jv_string_value(v));
	jv_free(v);
	return s;
}

static int
sc_bool(jv obj, jv path, const char *key, int def)
{
	jv v = jvx_get(obj, key);
	int k = jv_get_kind(v);

	jv_free(v);
	if (k == JV_KIND_NULL)
		return def;
	if (k != JV_KIND_TRUE && k != JV_KIND_FALSE)
		sc_fail(pk(path, key), "%s: expected true or false", key);
	return k == JV_KIND_TRUE;
}

/* A price: a number >= 0, null, "nan" or "absent". 1 when the key is there. */
static int
sc_px(jv obj, jv path, const char *key, struct px *px)
{
	jv v;

	if (!sc_has(obj, key))
		return 0;
	v = jvx_get(obj, key);
	px->v = 0;
	if (jv_get_kind(v) == JV_KIND_NULL) {
		px->st = PX_NONE;
	} else if (jv_get_kind(v) == JV_KIND_NUMBER &&
	    jv_number_value(v) >= 0) {
		px->st = PX_SET;
		px->v = jv_number_value(v);
	} else if (jv_get_kind(v) == JV_KIND_STRING &&
	    strcmp(jv_string_value(v), "nan") == 0) {
		px->st = PX_NAN;
	} else if (jv_get_kind(v) == JV_KIND_STRING &&
	    strcmp(jv_string_value(v), "absent") == 0) {
		px->st = PX_ABSENT;
	} else {
		sc_fail(pk(path, key), "%s: expected a price >= 0, null, "
		    "\"nan\" or \"absent\"", key);
	}
	jv_free(v);
	return 1;
}

/* A list (absent: empty). */
static jv
sc_list(jv obj, jv path, const char *key)
{
	jv v = jvx_get(obj, key);

	if (jv_get_kind(v) == JV_KIND_NULL) {
		jv_free(v);
		return jv_array();
	}
	if (jv_get_kind(v) != JV_KIND_ARRAY)
		sc_fail(pk(path, key), "%s: expected a list", key);
	return v;
}

static void
sc_fills(jv obj, jv path, struct fills *f)
{
	static const char *const keys[] = { "delay_ms", "step_ms", "partial",
		"steps", "limit_orders", NULL };
	long long steps;
	char *lim;

	if (jv_get_kind(obj) == JV_KIND_NULL)
		return;
	sc_keys(obj, path, keys);
	sc_num(obj, path, "delay_ms", &f->delay_ms, 0, 1e9);
	sc_num(obj, path, "step_ms", &f->step_ms, 0, 1e9);
	if (sc_num(obj, path, "partial", &f->partial, 0, 1) && f->partial <= 0)
		sc_fail(pk(path, "partial"), "partial: must be above 0");
	if (sc_int(obj, path, "steps", &steps, 0, INT_MAX))
		f->steps = (int)steps;
	if ((lim = sc_str(obj, path, "limit_orders")) != NULL) {
		if (strcmp(lim, "marketable") == 0)
			f->limit = LMT_MARKETABLE;
		else if (strcmp(lim, "always") == 0)
			f->limit = LMT_ALWAYS;
		else if (strcmp(lim, "never") == 0)
			f->limit = LMT_NEVER;
		else
			sc_fail(pk(path, "limit_orders"), "limit_orders: "
			    "expected marketable, always or never");
		free(lim);
	}
}

static int
sc_md(jv obj, jv path, const char *key, int def)
{
	char *s = sc_str(obj, path, key);
	int md = def;

	if (s == NULL)
		return def;
	if (strcmp(s, "live") == 0)
		md = MD_LIVE;
	else if (strcmp(s, "delayed") == 0)
		md = MD_DELAYED;
	else if (strcmp(s, "none") == 0)
		md = MD_NONE;
	else
		sc_fail(pk(path, key), "%s: expected live, delayed or none",
		    key);
	free(s);
	return md;
}

static void
sc_hours(jv obj, jv path, const char *key, const char *tz, char **out)
{
	time_t a, b;

	*out = sc_str(obj, path, key);
	if (*out == NULL || is_template(*out))
		return;
	if (tm_session(*out, tz, 0, &a, &b) < 0)
		sc_fail(pk(path, key), "%s: neither \"HH:MM-HH:MM\" nor an IB "
		    "hours string (20260302:0930-20260302:1600;...)", key);
}

static struct sym *
sym_by_name(const char *name)
{
	int i;

	for (i = 0; i < g.nsyms; i++)
		if (strcmp(g.syms[i]->symbol, name) == 0)
			return g.syms[i];
	return NULL;
}

static struct acct *
acct_by_id(const char *id)
{
	int i;

	for (i = 0; i < g.naccts; i++)
		if (strcmp(g.accts[i]->id, id) == 0)
			return g.accts[i];
	return NULL;
}

static struct sym *
sc_symref(jv obj, jv path, const char *key)
{
	char *name = sc_str(obj, path, key);
	struct sym *s;

	if (name == NULL)
		sc_fail(jv_copy(path), "%s: missing", key);
	if ((s = sym_by_name(name)) == NULL)
		sc_fail(pk(path, key), "%s: \"%s\" is not in symbols", key,
		    name);
	free(name);
	return s;
}

static void
sc_symbol(jv o, jv path)
{
	static const char *const keys[] = { "symbol", "con_id", "bid", "ask",
		"last", "close", "bid_size", "ask_size", "last_size", "volume",
		"min_tick", "primary_exchange", "currency", "time_zone",
		"trading_hours", "liquid_hours", "long_name", "stock_type",
		"trading_class", "market_data", "reject", "isin", "fills",
		NULL };
	struct sym *s = xmalloc(sizeof *s);
	struct tm tm;
	jv f, fp;
	int i;

	memset(s, 0, sizeof *s);
	sc_keys(o, path, keys);
	if ((s->symbol = sc_str(o, path, "symbol")) == NULL)
		sc_fail(jv_copy(path), "symbol: missing");
	if (!sc_int(o, path, "con_id", &s->con_id, 1, (1LL << 53)))
		sc_fail(jv_copy(path), "con_id: missing");
	for (i = 0; i < g.nsyms; i++)
		if (g.syms[i]->con_id == s->con_id)
			sc_fail(pk(path, "con_id"), "con_id: %lld used twice",
			    s->con_id);
	s->bid.st = s->ask.st = s->last.st = s->close.st = PX_ABSENT;
	sc_px(o, path, "bid", &s->bid);
	sc_px(o, path, "ask", &s->ask);
	sc_px(o, path, "last", &s->last);
	sc_px(o, path, "close", &s->close);
	s->bid_size = s->ask_size = s->last_size = 100;
	s->volume = -1;
	sc_num(o, path, "bid_size", &s->bid_size, 0, 1e12);
	sc_num(o, path, "ask_size", &s->ask_size, 0, 1e12);
	sc_num(o, path, "last_size", &s->last_size, 0, 1e12);
	sc_num(o, path, "volume", &s->volume, 0, 1e15);
	s->min_tick = 0.01;
	if (sc_num(o, path, "min_tick", &s->min_tick, 0, 1e6) &&
	    s->min_tick <= 0)
		sc_fail(pk(path, "min_tick"), "min_tick: must be above 0");
	if ((s->primary = sc_str(o, path, "primary_exchange")) == NULL)
		s->primary = xstrdup("NASDAQ");
	if ((s->currency = sc_str(o, path, "currency")) == NULL)
		s->currency = xstrdup("USD");
	if ((s->tz = sc_str(o, path, "time_zone")) == NULL)
		s->tz = xstrdup("US/Eastern");
	if (tm_local(s->tz, 0, &tm) < 0)
		sc_fail(pk(path, "time_zone"), "time_zone: unknown zone \"%s\"",
		    s->tz);
	sc_hours(o, path, "trading_hours", s->tz, &s->trading);
	sc_hours(o, path, "liquid_hours", s->tz, &s->liquid);
	if ((s->long_name = sc_str(o, path, "long_name")) == NULL)
		s->long_name = xstrdup(s->symbol);
	if ((s->stock_type = sc_str(o, path, "stock_type")) == NULL)
		s->stock_type = xstrdup("COMMON");
	if ((s->trading_class = sc_str(o, path, "trading_class")) == NULL)
		s->trading_class = xstrdup(s->symbol);
	s->isin = sc_str(o, path, "isin");
	s->reject = sc_str(o, path, "reject");
	s->md = sc_md(o, path, "market_data", g.md_default);
	s->fills = g.fills;
	f = jvx_get(o, "fills");
	fp = pk(path, "fills");
	sc_fills(f, fp, &s->fills);
	jv_free(f);
	jv_free(fp);
	PUSH(g.syms, g.nsyms, g.cap_syms, s);
	jv_free(path);
}

static const char *const req_names[] = { "START_API", "REQ_IDS",
	"REQ_CURRENT_TIME", "REQ_MANAGED_ACCTS", "REQ_POSITIONS",
	"CANCEL_POSITIONS", "REQ_ACCOUNT_SUMMARY", "CANCEL_ACCOUNT_SUMMARY",
	"REQ_ACCOUNT_UPDATES", "REQ_ACCOUNT_UPDATES_MULTI",
	"CANCEL_ACCOUNT_UPDATES_MULTI", "REQ_POSITIONS_MULTI",
	"CANCEL_POSITIONS_MULTI", "REQ_MARKET_DATA_TYPE", "REQ_MKT_DATA",
	"CANCEL_MKT_DATA", "REQ_CONTRACT_DATA", "PLACE_ORDER", "CANCEL_ORDER",
	"REQ_OPEN_ORDERS", "REQ_ALL_OPEN_ORDERS", "REQ_AUTO_OPEN_ORDERS",
	"REQ_GLOBAL_CANCEL", "REQ_EXECUTIONS", NULL };

static int
req_known(const char *name)
{
	const char *const *p;

	for (p = req_names; *p; p++)
		if (strcmp(*p, name) == 0)
			return 1;
	return 0;
}

static void
sc_account(jv o, jv path)
{
	static const char *const keys[] = { "id", "cash", "settled_cash",
		"currency", "positions", "values", NULL };
	static const char *const pkeys[] = { "symbol", "qty", "avg_cost",
		NULL };
	struct acct *a = xmalloc(sizeof *a);
	jv list, pp;
	int j;

	memset(a, 0, sizeof *a);
	sc_keys(o, path, keys);
	if ((a->id = sc_str(o, path, "id")) == NULL || *a->id == '\0' ||
	    strchr(a->id, ','))
		sc_fail(jv_copy(path), "id: missing, or not a plain account id");
	if (acct_by_id(a->id) != NULL)
		sc_fail(pk(path, "id"), "id: account %s listed twice", a->id);
	if (!sc_num(o, path, "cash", &a->cash, -1e15, 1e15))
		sc_fail(jv_copy(path), "cash: missing");
	a->settled = a->cash;
	sc_num(o, path, "settled_cash", &a->settled, -1e15, 1e15);
	if ((a->currency = sc_str(o, path, "currency")) == NULL)
		a->currency = xstrdup("USD");
	a->values = jvx_get(o, "values");
	if (jv_get_kind(a->values) == JV_KIND_NULL) {
		jv_free(a->values);
		a->values = jv_object();
	} else if (jv_get_kind(a->values) != JV_KIND_OBJECT) {
		sc_fail(pk(path, "values"), "values: expected a mapping of "
		    "account tags to values");
	}
	jv_object_foreach(a->values, k, v) {
		if (jv_get_kind(v) != JV_KIND_NUMBER &&
		    jv_get_kind(v) != JV_KIND_STRING)
			sc_fail(jv_array_append(pk(path, "values"), k),
			    "values: expected a number or a string");
		jv_free(k);
		jv_free(v);
	}
	list = sc_list(o, path, "positions");
	jv_array_foreach(list, i, e) {
		struct pos ps;

		pp = pi(pk(path, "positions"), i);
		sc_keys(e, pp, pkeys);
		ps.sym = sc_symref(e, pp, "symbol");
		if (!sc_num(e, pp, "qty", &ps.qty, -1e12, 1e12))
			sc_fail(jv_copy(pp), "qty: missing");
		ps.avg_cost = 0;
		sc_num(e, pp, "avg_cost", &ps.avg_cost, 0, 1e12);
		for (j = 0; j < a->npos; j++)
			if (a->pos[j].sym == ps.sym)
				sc_fail(jv_copy(pp), "%s listed twice",
				    ps.sym->symbol);
		a->pos = xrealloc(a->pos, (size_t)(a->npos + 1) * sizeof ps);
		a->pos[a->npos++] = ps;
		jv_free(pp);
		jv_free(e);
	}
	jv_free(list);
	PUSH(g.accts, g.naccts, g.cap_accts, a);
	jv_free(path);
}

static long long next_id_for(int client);
static void next_id_seen(int client, long long id);

static struct acct *
sc_acctref(jv o, jv path)
{
	char *id = sc_str(o, path, "account");
	struct acct *a;

	if (id == NULL) {
		if (g.naccts == 1)
			return g.accts[0];
		sc_fail(jv_copy(path), "account: missing (there are several)");
	}
	if ((a = acct_by_id(id)) == NULL)
		sc_fail(pk(path, "account"), "account: \"%s\" is not in "
		    "accounts", id);
	free(id);
	return a;
}

static int
sc_action(jv o, jv path)
{
	char *s = sc_str(o, path, "action");
	int buy;

	if (s == NULL || (strcmp(s, "BUY") && strcmp(s, "SELL")))
		sc_fail(pk(path, "action"), "action: expected BUY or SELL");
	buy = s[0] == 'B';
	free(s);
	return buy;
}

static void
sc_order(jv o, jv path)
{
	static const char *const keys[] = { "client_id", "order_id",
		"perm_id", "account", "symbol", "action", "qty", "type", "limit",
		"tif", "ref", "status", "filled", "outside_rth", NULL };
	struct order *od = xmalloc(sizeof *od);
	long long v;
	char *s;
	int i;

	memset(od, 0, sizeof *od);
	sc_keys(o, path, keys);
	od->client = 0;
	if (sc_int(o, path, "client_id", &v, 0, INT_MAX))
		od->client = (int)v;
	od->acct = sc_acctref(o, path);
	od->sym = sc_symref(o, path, "symbol");
	od->buy = sc_action(o, path);
	if (!sc_num(o, path, "qty", &od->qty, 0, 1e12) || od->qty <= 0)
		sc_fail(jv_copy(path), "qty: missing or not above 0");
	s = sc_str(o, path, "type");
	snprintf(od->type, sizeof od->type, "%s", s ? s : "LMT");
	free(s);
	if (strcmp(od->type, "MKT") && strcmp(od->type, "LMT") &&
	    strcmp(od->type, "MOC"))
		sc_fail(pk(path, "type"), "type: expected MKT, LMT or MOC");
	od->lmt = NAN;
	if (sc_num(o, path, "limit", &od->lmt, 0, 1e12) !=
	    (strcmp(od->type, "LMT") == 0))
		sc_fail(jv_copy(path), "limit: needed with LMT, and only there");
	s = sc_str(o, path, "tif");
	snprintf(od->tif, sizeof od->tif, "%s", s ? s : "DAY");
	free(s);
	if ((od->ref = sc_str(o, path, "ref")) == NULL)
		od->ref = xstrdup("");
	od->exchange = xstrdup("SMART");
	od->st = OS_SUBMITTED;
	if ((s = sc_str(o, path, "status")) != NULL) {
		for (i = 0; i < 5; i++)
			if (strcmp(s, os_name[i]) == 0)
				od->st = i;
		if (strcmp(s, os_name[od->st]))
			sc_fail(pk(path, "status"), "status: expected "
			    "PreSubmitted, Submitted, Filled, Cancelled or "
			    "Inactive");
		free(s);
	}
	sc_num(o, path, "filled", &od->filled, 0, od->qty);
	od->outside_rth = sc_bool(o, path, "outside_rth", 0);
	if (sc_int(o, path, "order_id", &v, 1, INT_MAX))
		od->id = v;
	else
		od->id = next_id_for(od->client);
	for (i = 0; i < g.norders; i++)
		if (g.orders[i]->client == od->client &&
		    g.orders[i]->id == od->id)
			sc_fail(pk(path, "order_id"), "order_id: %lld used twice "
			    "by client %d", od->id, od->client);
	next_id_seen(od->client, od->id);
	if (sc_int(o, path, "perm_id", &v, 1, INT_MAX))
		od->perm = v;
	if (od->perm > g.perm_seq)
		g.perm_seq = od->perm;
	PUSH(g.orders, g.norders, g.cap_orders, od);
	jv_free(path);
}

static void
sc_exec(jv o, jv path)
{
	static const char *const keys[] = { "client_id", "order_id",
		"perm_id", "account", "symbol", "action", "qty", "price", "time",
		"ref", "commission", "exec_id", NULL };
	struct exec *e = xmalloc(sizeof *e);
	long long v;
	char *s;

	memset(e, 0, sizeof *e);
	sc_keys(o, path, keys);
	if (sc_int(o, path, "client_id", &v, 0, INT_MAX))
		e->client = (int)v;
	if (sc_int(o, path, "order_id", &v, 0, INT_MAX))
		e->order_id = v;
	if (sc_int(o, path, "perm_id", &v, 0, INT_MAX))
		e->perm = v;
	e->acct = sc_acctref(o, path);
	e->sym = sc_symref(o, path, "symbol");
	e->buy = sc_action(o, path);
	if (!sc_num(o, path, "qty", &e->shares, 0, 1e12) || e->shares <= 0)
		sc_fail(jv_copy(path), "qty: missing or not above 0");
	if (!sc_num(o, path, "price", &e->price, 0, 1e12))
		sc_fail(jv_copy(path), "price: missing");
	e->cum = e->shares;
	e->avg = e->price;
	e->time = g.clock_base;
	if ((s = sc_str(o, path, "time")) != NULL) {
		if (tm_parse(s, &e->time) < 0)
			sc_fail(pk(path, "time"), "time: not an RFC 3339 time");
		free(s);
	}
	if ((e->ref = sc_str(o, path, "ref")) == NULL)
		e->ref = xstrdup("");
	e->commission = fmax(g.min_commission, g.per_share * e->shares);
	sc_num(o, path, "commission", &e->commission, 0, 1e9);
	e->realized = DBL_MAX;
	e->liquidity = 1;
	if ((s = sc_str(o, path, "exec_id")) != NULL) {
		snprintf(e->id, sizeof e->id, "%s", s);
		free(s);
	} else {
		snprintf(e->id, sizeof e->id, "0000%04x.%08llx.01.01",
		    ++g.exec_seq, (unsigned long long)e->perm);
	}
	PUSH(g.execs, g.nexecs, g.cap_execs, e);
	jv_free(path);
}

static void
sc_event(jv o, jv path)
{
	static const char *const keys[] = { "after_ms", "at", "on", "count",
		"symbol", "bid", "ask", "last", "close", "volume", "auction",
		"connectivity", "code", NULL };
	struct event ev;
	long long v;
	char *s;

	memset(&ev, 0, sizeof ev);
	sc_keys(o, path, keys);
	ev.armed = 0;
	ev.count = 1;
	sc_num(o, path, "after_ms", &ev.after_ms, 0, 1e12);
	if ((s = sc_str(o, path, "at")) != NULL) {
		if (tm_parse(s, &ev.at) < 0)
			sc_fail(pk(path, "at"), "at: not an RFC 3339 time");
		free(s);
		if (sc_has(o, "after_ms") || sc_has(o, "on"))
			sc_fail(jv_copy(path), "at: not with after_ms or on");
	}
	if ((ev.on = sc_str(o, path, "on")) != NULL) {
		if (!req_known(ev.on))
			sc_fail(pk(path, "on"), "on: unknown request \"%s\"",
			    ev.on);
		ev.armed = -1;
	}
	if (sc_int(o, path, "count", &v, 1, INT_MAX))
		ev.count = (int)v;
	if (sc_has(o, "symbol"))
		ev.sym = sc_symref(o, path, "symbol");
	ev.set_bid = sc_px(o, path, "bid", &ev.bid);
	ev.set_ask = sc_px(o, path, "ask", &ev.ask);
	ev.set_last = sc_px(o, path, "last", &ev.last);
	ev.set_close = sc_px(o, path, "close", &ev.close);
	ev.volume = -1;
	sc_num(o, path, "volume", &ev.volume, 0, 1e15);
	ev.auction = sc_bool(o, path, "auction", 0);
	if ((s = sc_str(o, path, "connectivity")) != NULL) {
		char bad[64];

		if (strcmp(s, "lost") == 0)
			ev.net = NET_LOST;
		else if (strcmp(s, "restored") == 0)
			ev.net = NET_RESTORED;
		snprintf(bad, sizeof bad, "%s", s);
		free(s);
		if (ev.net == NET_NONE)
			sc_fail_at(path, "connectivity", "connectivity: "
			    "\"%s\" is not lost or restored", bad);
		if (ev.sym != NULL || ev.auction)
			sc_fail_at(path, NULL, "connectivity: not with a "
			    "symbol or an auction");
		ev.code = ev.net == NET_LOST ? 1100 : 1102;
	}
	if (sc_int(o, path, "code", &v, 0, INT_MAX)) {
		if (ev.net == NET_NONE)
			sc_fail_at(path, "code", "code: only with "
			    "connectivity");
		if (ev.net == NET_LOST ? v != 1100 && v != 2110 :
		    v != 1101 && v != 1102)
			sc_fail_at(path, "code", "code: %s is %s, not %lld",
			    ev.net == NET_LOST ? "lost" : "restored",
			    ev.net == NET_LOST ? "1100 or 2110" :
			    "1101 or 1102", v);
		ev.code = (int)v;
	}
	if (ev.sym == NULL && (ev.set_bid || ev.set_ask || ev.set_last ||
	    ev.set_close || ev.volume >= 0))
		sc_fail_at(path, NULL, "symbol: needed for a quote change");
	if (!ev.auction && ev.sym == NULL && ev.net == NET_NONE)
		sc_fail_at(path, NULL, "an event needs a symbol, auction or "
		    "connectivity");
	PUSH(g.events, g.nevents, g.cap_events, ev);
	jv_free(path);
}

static void
sc_rule(jv o, jv path)
{
	static const char *const keys[] = { "connection", "client_id",
		"not_logged_in", "duplicate_client_id", "silent_after",
		"disconnect_after", "pacing", "hostile", "hostile_after", "seed",
		NULL };
	struct rule r;
	long long v;
	char *h;
	jv c;

	memset(&r, 0, sizeof r);
	sc_keys(o, path, keys);
	c = jvx_get(o, "connection");
	if (jv_get_kind(c) == JV_KIND_NUMBER)
		c = jv_array_append(jv_array(), c);
	if (jv_get_kind(c) == JV_KIND_ARRAY) {
		jv_array_foreach(c, i, n) {
			double d = jv_get_kind(n) == JV_KIND_NUMBER ?
			    jv_number_value(n) : 0;

			jv_free(n);
			if (d < 1 || d != floor(d) || d > INT_MAX)
				sc_fail(pk(path, "connection"), "connection: "
				    "expected connection numbers from 1");
			r.conns = xrealloc(r.conns, (size_t)(r.nconns + 1) *
			    sizeof *r.conns);
			r.conns[r.nconns++] = (int)d;
		}
	} else if (jv_get_kind(c) != JV_KIND_NULL) {
		sc_fail(pk(path, "connection"), "connection: expected a number "
		    "or a list of numbers");
	}
	jv_free(c);
	r.client = -1;
	if (sc_int(o, path, "client_id", &v, INT_MIN, INT_MAX))
		r.client = (int)v;
	r.refuse = sc_bool(o, path, "not_logged_in", 0);
	r.dup = sc_bool(o, path, "duplicate_client_id", 0);
	r.silent_after = r.disconnect_after = r.pacing = -1;
	if (sc_int(o, path, "silent_after", &v, 0, LONG_MAX))
		r.silent_after = (long)v;
	if (sc_int(o, path, "disconnect_after", &v, 1, LONG_MAX))
		r.disconnect_after = (long)v;
	if (sc_int(o, path, "pacing", &v, 0, 100000))
		r.pacing = (long)v;
	if ((h = sc_str(o, path, "hostile")) != NULL) {
		for (r.hostile = H_RANDOM; h_name[r.hostile] != NULL;
		    r.hostile++)
			if (strcmp(h, h_name[r.hostile]) == 0)
				break;
		free(h);
		if (h_name[r.hostile] == NULL)
			sc_fail(pk(path, "hostile"), "hostile: expected random, "
			    "truncated, huge_length, short_fields, unknown_ids, "
			    "no_nul or stall");
	}
	if (sc_int(o, path, "hostile_after", &v, 0, LONG_MAX))
		r.hostile_after = (long)v;
	if (sc_int(o, path, "seed", &v, 0, 1LL << 53))
		r.seed = (unsigned long long)v;
	if (r.hostile == H_NONE && (sc_has(o, "hostile_after") ||
	    sc_has(o, "seed")))
		sc_fail(jv_copy(path), "hostile_after and seed need hostile");
	if (r.client >= 0 && (r.refuse || r.silent_after == 0))
		sc_fail(jv_copy(path), "client_id: not_logged_in and "
		    "silent_after 0 act before the client id is known");
	if (r.client >= 0 && r.hostile != H_NONE && r.hostile_after == 0)
		sc_fail(jv_copy(path), "client_id: hostile_after 0 acts "
		    "before the client id is known");
	PUSH(g.rules, g.nrules, g.cap_rules, r);
	jv_free(path);
}

static void
sc_clock(jv o, jv path)
{
	static const char *const keys[] = { "at", "offset", "speed", NULL };
	char *at;
	double off = 0;

	g.clock_base = tm_now();
	g.speed = 1;
	if (jv_get_kind(o) == JV_KIND_NULL)
		return;
	sc_keys(o, path, keys);
	if ((at = sc_str(o, path, "at")) != NULL) {
		if (tm_parse(at, &g.clock_base) < 0)
			sc_fail(pk(path, "at"), "at: not an RFC 3339 time");
		if (sc_has(o, "offset"))
			sc_fail(pk(path, "offset"), "offset: not with at");
		g.speed = 0;
		free(at);
	}
	if (sc_num(o, path, "offset", &off, -1e10, 1e10))
		g.clock_base += off;
	sc_num(o, path, "speed", &g.speed, 0, 1e6);
}

static void
sc_latency(jv o, jv path)
{
	struct latency l;

	if (jv_get_kind(o) == JV_KIND_NULL)
		return;
	if (jv_get_kind(o) == JV_KIND_NUMBER) {
		if (!(jv_number_value(o) >= 0 && jv_number_value(o) <= 1e9))
			sc_fail(jv_copy(path), "latency_ms: out of range");
		g.lat_default = jv_number_value(o);
		return;
	}
	if (jv_get_kind(o) != JV_KIND_OBJECT)
		sc_fail(jv_copy(path), "latency_ms: expected a number or a "
		    "mapping of request names to numbers");
	jv_object_foreach(o, k, v) {
		const char *name = jv_string_value(k);

		if (jv_get_kind(v) != JV_KIND_NUMBER ||
		    !(jv_number_value(v) >= 0 && jv_number_value(v) <= 1e9))
			sc_fail(jv_array_append(jv_copy(path), k),
			    "latency_ms: expected milliseconds");
		if (strcmp(name, "default") == 0) {
			g.lat_default = jv_number_value(v);
		} else if (!req_known(name)) {
			sc_fail(jv_array_append(jv_copy(path), k),
			    "latency_ms: unknown request \"%s\"", name);
		} else {
			l.name = xstrdup(name);
			l.ms = jv_number_value(v);
			PUSH(g.lat, g.nlat, g.cap_lat, l);
		}
		jv_free(k);
		jv_free(v);
	}
}

static void
sc_commission(jv o, jv path)
{
	static const char *const keys[] = { "per_share", "min", NULL };

	g.per_share = 0.005;
	g.min_commission = 1.0;
	if (jv_get_kind(o) == JV_KIND_NULL)
		return;
	sc_keys(o, path, keys);
	sc_num(o, path, "per_share", &g.per_share, 0, 1e6);
	sc_num(o, path, "min", &g.min_commission, 0, 1e9);
}

/* Load the scenario at PATH (NULL: the built-in one) into g. */
static void
scenario_load(const char *path)
{
	static const char *const keys[] = { "server_version", "time_zone",
		"clock", "latency_ms", "pacing", "max_clients", "next_order_id",
		"master_client_id", "market_data", "commission", "fills",
		"holidays", "accounts", "symbols", "orders", "executions",
		"events", "faults", NULL };
	jv sc, root = jv_array(), list, v;
	long long n;
	struct tm tm;

	if (path != NULL) {
		sc_file = path;
		sc = yml_load(path, &sc_lines);
		if (!jv_is_valid(sc)) {
			v = jv_invalid_get_msg(sc);
			die(EX_CONFIG, "%s", jv_get_kind(v) == JV_KIND_STRING ?
			    jv_string_value(v) : "cannot load the scenario");
		}
	} else {
		sc = jv_parse(builtin_scenario);
		sc_lines = jv_null();
	}
	if (jv_get_kind(sc) == JV_KIND_NULL) {
		jv_free(sc);
		sc = jv_object();
	}
	sc_keys(sc, root, keys);

	g.server_version = SERVER_VERSION;
	if (sc_int(sc, root, "server_version", &n, 100, 1000))
		g.server_version = (int)n;
	if ((g.tz = sc_str(sc, root, "time_zone")) == NULL)
		g.tz = xstrdup("America/New_York");
	if (tm_local(g.tz, 0, &tm) < 0)
		sc_fail(pk(root, "time_zone"), "time_zone: unknown zone \"%s\"",
		    g.tz);
	v = jvx_get(sc, "clock");
	list = pk(root, "clock");
	sc_clock(v, list);
	jv_free(v);
	jv_free(list);
	v = jvx_get(sc, "latency_ms");
	list = pk(root, "latency_ms");
	sc_latency(v, list);
	jv_free(v);
	jv_free(list);
	g.pacing = 50;
	if (sc_int(sc, root, "pacing", &n, 0, 100000))
		g.pacing = (long)n;
	g.max_clients = 32;
	if (sc_int(sc, root, "max_clients", &n, 1, 64))
		g.max_clients = (int)n;
	g.next_id_default = 1;
	sc_int(sc, root, "next_order_id", &g.next_id_default, 1, INT_MAX);
	g.master = -1;
	if (sc_int(sc, root, "master_client_id", &n, 0, INT_MAX))
		g.master = (int)n;
	g.md_default = sc_md(sc, root, "market_data", MD_LIVE);
	v = jvx_get(sc, "commission");
	list = pk(root, "commission");
	sc_commission(v, list);
	jv_free(v);
	jv_free(list);
	g.fills.partial = 1;
	v = jvx_get(sc, "fills");
	list = pk(root, "fills");
	sc_fills(v, list, &g.fills);
	jv_free(v);
	jv_free(list);

	list = sc_list(sc, root, "holidays");
	jv_array_foreach(list, i, e) {
		int y, mo, d, k;

		if (jv_get_kind(e) != JV_KIND_STRING ||
		    sscanf(jv_string_value(e), "%4d-%2d-%2d%n", &y, &mo, &d,
		    &k) != 3 || k != 10)
			sc_fail(pi(pk(root, "holidays"), i), "holidays: "
			    "expected YYYY-MM-DD");
		PUSH(g.holidays, g.nholidays, g.cap_holidays,
		    xstrdup(jv_string_value(e)));
		jv_free(e);
	}
	jv_free(list);

	list = sc_list(sc, root, "symbols");
	jv_array_foreach(list, i, e) {
		sc_symbol(e, pi(pk(root, "symbols"), i));
		jv_free(e);
	}
	jv_free(list);
	list = sc_list(sc, root, "accounts");
	jv_array_foreach(list, i, e) {
		sc_account(e, pi(pk(root, "accounts"), i));
		jv_free(e);
	}
	jv_free(list);
	if (g.naccts == 0)
		sc_fail(pk(root, "accounts"), "accounts: at least one needed");
	g.perm_seq = 1000000000;
	list = sc_list(sc, root, "orders");
	jv_array_foreach(list, i, e) {
		sc_order(e, pi(pk(root, "orders"), i));
		jv_free(e);
	}
	jv_free(list);
	list = sc_list(sc, root, "executions");
	jv_array_foreach(list, i, e) {
		sc_exec(e, pi(pk(root, "executions"), i));
		jv_free(e);
	}
	jv_free(list);
	list = sc_list(sc, root, "events");
	jv_array_foreach(list, i, e) {
		sc_event(e, pi(pk(root, "events"), i));
		jv_free(e);
	}
	jv_free(list);
	list = sc_list(sc, root, "faults");
	jv_array_foreach(list, i, e) {
		sc_rule(e, pi(pk(root, "faults"), i));
		jv_free(e);
	}
	jv_free(list);
	jv_free(root);
	jv_free(sc);
	for (n = 0; n < g.norders; n++) {
		if (g.orders[n]->perm == 0)
			g.orders[n]->perm = ++g.perm_seq;
		if (g.orders[n]->st == OS_FILLED)
			g.orders[n]->filled = g.orders[n]->qty;
	}
}

/* Next order id per client id, kept across reconnects. */
static long long
next_id_for(int client)
{
	int i;

	for (i = 0; i < g.nids; i++)
		if (g.ids[i].client == client)
			return g.ids[i].next;
	return g.next_id_default;
}

static void
next_id_seen(int client, long long id)
{
	int i;

	for (i = 0; i < g.nids; i++)
		if (g.ids[i].client == client)
			break;
	if (i == g.nids) {
		g.ids = grow(g.ids, g.nids, &g.cap_ids, sizeof *g.ids);
		g.ids[g.nids].client = client;
		g.ids[g.nids++].next = g.next_id_default;
	}
	if (id >= g.ids[i].next)
		g.ids[i].next = id + 1;
}

/* ------------------------------------------------------------------ */
/* 4. Journal                                                          */
/* ------------------------------------------------------------------ */

/* The head of a journal entry: t, conn, client_id, dir, msg (in this
 * order; t is filled when the entry is written). */
static jv
jhead(struct conn *c, const char *dir, const char *msg)
{
	jv j = jv_object();

	j = jv_object_set(j, jv_string("t"), jv_null());
	j = jv_object_set(j, jv_string("conn"), jv_number(c ? c->num : 0));
	j = jv_object_set(j, jv_string("client_id"), c && c->client >= 0 ?
	    jv_number(c->client) : jv_null());
	j = jv_object_set(j, jv_string("dir"), jv_string(dir));
	return jv_object_set(j, jv_string("msg"), jv_string(msg));
}

static void
journal(jv j)
{
	char t[32];

	if (g.journal == NULL) {
		jv_free(j);
		return;
	}
	j = jv_object_set(j, jv_string("t"), jv_string(tm_fmt(sim_now(), t)));
	jv_dumpf(j, g.journal, 0);
	putc('\n', g.journal);
	if (fflush(g.journal) == EOF || ferror(g.journal))
		die(EX_IOERR, "%s:", g.journal_path);
}

/* An event line: connect, close, refusals. */
static void
journal_event(struct conn *c, const char *what, const char *why)
{
	jv j = jhead(c, "event", what);

	if (why != NULL)
		j = jv_object_set(j, jv_string("reason"), jv_string(why));
	journal(j);
	if (g.verbose)
		warnx("conn %d (client %d): %s%s%s", c->num, c->client, what,
		    why ? ": " : "", why ? why : "");
}

/* ------------------------------------------------------------------ */
/* 5. Output: frames released after their latency, journaled on release */
/* ------------------------------------------------------------------ */

struct om {
	struct conn *c;
	size_t start;
	jv j;
	int drop;
};

static void
om_begin(struct om *o, struct conn *c, int id, const char *name)
{
	o->c = c;
	o->drop = c->silent || c->dead;
	o->start = c->out.len;
	o->j = jhead(c, "out", name);
	twsf_begin(&c->out);
	twsf_int(&c->out, id);
}

/* Fields: KEY names the field in the journal, NULL leaves it out. */
static void
om_s(struct om *o, const char *key, const char *s)
{
	twsf_str(&o->c->out, s);
	if (key != NULL)
		o->j = jv_object_set(o->j, jv_string(key), jv_string(s ? s :
		    ""));
}

static void
om_i(struct om *o, const char *key, long long v)
{
	twsf_int(&o->c->out, v);
	if (key != NULL)
		o->j = jv_object_set(o->j, jv_string(key), jv_number(v));
}

/* A double; DBL_MAX goes out as the sentinel text, NAN as "". */
static void
om_d(struct om *o, const char *key, double v)
{
	if (isnan(v))
		twsf_str(&o->c->out, "");
	else
		twsf_dbl(&o->c->out, v);
	if (key != NULL)
		o->j = jv_object_set(o->j, jv_string(key), isnan(v) ||
		    v == DBL_MAX ? jv_null() : jv_number(v));
}

/* A decimal quantity. */
static void
om_q(struct om *o, const char *key, double v)
{
	twsf_dec(&o->c->out, v);
	if (key != NULL)
		o->j = jv_object_set(o->j, jv_string(key), jv_number(v));
}

/* Several constant fields, none journaled: each char of KINDS is one field,
 * 'e' empty, '0', '1', '3' those digits, '-' -1, 'M' INT_MAX, 'D' DBL_MAX. */
static void
om_pad(struct om *o, const char *kinds)
{
	for (; *kinds; kinds++)
		switch (*kinds) {
		case 'e':
			twsf_str(&o->c->out, "");
			break;
		case '0':
			twsf_str(&o->c->out, "0");
			break;
		case 'M':
			twsf_str(&o->c->out, "2147483647");
			break;
		case 'D':
			twsf_str(&o->c->out, "1.7976931348623157E308");
			break;
		case '1':
			twsf_str(&o->c->out, "1");
			break;
		case '3':
			twsf_str(&o->c->out, "3");
			break;
		case '-':
			twsf_str(&o->c->out, "-1");
			break;
		}
}

/* Hostile output: the frame just built, c->out.p[start..len), is replaced
 * by garbage of the connection's kind. The random kinds draw on splitmix64
 * seeded from the scenario, so a run is reproducible. */
static unsigned long long
h_rand(struct conn *c)
{
	unsigned long long z = (c->rng += 0x9E3779B97F4A7C15ULL);

	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
	return z ^ (z >> 31);
}

static void
h_len(struct conn *c, size_t start, unsigned long n)
{
	unsigned char *p = (unsigned char *)c->out.p + start;

	p[0] = n >> 24 & 0xff;
	p[1] = n >> 16 & 0xff;
	p[2] = n >> 8 & 0xff;
	p[3] = n & 0xff;
}

/* Random frames: mostly an id the client decodes, then random bytes (NULs
 * and digits frequent, so that fields come and go); now and then bytes
 * with no framing at all. */
static void
h_random(struct conn *c)
{
	static const int ids[] = { 1, 2, 3, 4, 5, 9, 10, 11, 15, 45, 46, 49,
		52, 53, 55, 57, 58, 59, 61, 62, 63, 64, 71, 72, 73, 74, 81 };
	unsigned long long r;
	char b, num[16];
	int k, n, i;

	for (k = 1 + (int)(h_rand(c) % 3); k > 0; k--) {
		if (h_rand(c) % 16 == 0) {
			for (n = 1 + (int)(h_rand(c) % 64); n > 0; n--) {
				b = (char)(h_rand(c) & 0xff);
				twsf_raw(&c->out, &b, 1);
			}
			continue;
		}
		twsf_begin(&c->out);
		if (h_rand(c) % 2) {
			snprintf(num, sizeof num, "%d", ids[h_rand(c) %
			    (sizeof ids / sizeof ids[0])]);
			twsf_str(&c->out, num);
		}
		n = (int)(h_rand(c) % 257);
		for (i = 0; i < n; i++) {
			r = h_rand(c);
			if (r % 8 == 0)
				b = '\0';
			else if (r % 8 < 3)
				b = (char)('0' + (r >> 8) % 10);
			else
				b = (char)(1 + (r >> 8) % 255);
			twsf_raw(&c->out, &b, 1);
		}
		twsf_end(&c->out);
	}
}

static void
hostile(struct om *o)
{
	static const unsigned long huge[] = { 0x1000001, 0x1000000,
		0x7fffffff, 0x80000000, 0xffffffff };	/* seed 0: 16 MiB */
	struct conn *c = o->c;
	char *body = c->out.p + o->start + 4, *p, *q, id[16];
	size_t n = c->out.len - o->start - 4, k, nf;
	unsigned long long r;
	unsigned long hl = 0;
	jv was = jv_object_get(jv_copy(o->j), jv_string("msg"));

	switch (c->hostile) {
	case H_RANDOM:
		c->out.len = o->start;
		h_random(c);
		break;
	case H_TRUNCATED:
		c->out.len = o->start + 4 + n / 2;
		c->closing = 1;
		c->silent = 1;
		c->why = "hostile: truncated";
		break;
	case H_STALL:
		c->out.len = o->start + 4 + n / 2;
		c->silent = 1;
		break;
	case H_HUGE:
		r = h_rand(c) % 6;
		hl = r < 5 ? huge[r] : 0x1000000 + (unsigned long)(h_rand(c) %
		    0xff000000ULL);
		h_len(c, o->start, hl);
		c->silent = 1;
		break;
	case H_SHORT:
		/* Half the fields (rounded down), the message id first. */
		for (nf = 0, k = 0; k < n; k++)
			nf += body[k] == '\0';
		for (nf /= 2, k = 0; nf > 0; k++)
			nf -= body[k] == '\0';
		c->out.len = o->start + 4 + k;
		h_len(c, o->start, (unsigned long)k);
		break;
	case H_UNKNOWN:
		/* No TWS message has id 0 or an id from 200 to 1000000. */
		r = h_rand(c);
		snprintf(id, sizeof id, "%llu", r % 8 == 0 ? 0ULL :
		    200 + (r >> 3) % 999801);
		k = strlen(body) + 1;
		p = xmalloc(n - k + 1);
		memcpy(p, body + k, n - k);
		c->out.len = o->start + 4;
		twsf_raw(&c->out, id, strlen(id) + 1);
		twsf_raw(&c->out, p, n - k);
		free(p);
		h_len(c, o->start, (unsigned long)(c->out.len - o->start - 4));
		break;
	case H_NONUL:
		/* The message id, then every other field without its NUL. */
		p = q = body + strlen(body) + 1;
		for (; p < body + n; p++)
			if (*p != '\0')
				*q++ = *p;
		c->out.len = (size_t)(q - c->out.p);
		h_len(c, o->start, (unsigned long)(q - body));
		break;
	}
	jv_free(o->j);
	o->j = jhead(c, "out", "HOSTILE");
	o->j = jv_object_set(o->j, jv_string("mode"),
	    jv_string(h_name[c->hostile]));
	o->j = jv_object_set(o->j, jv_string("was"), was);
	o->j = jv_object_set(o->j, jv_string("bytes"),
	    jv_number((double)(c->out.len - o->start)));
	if (hl != 0)
		o->j = jv_object_set(o->j, jv_string("length"),
		    jv_number((double)hl));
}

static void
om_end(struct om *o)
{
	struct conn *c = o->c;
	struct outq *e;
	double due;

	twsf_end(&c->out);
	if (o->drop) {
		c->out.len = o->start;
		jv_free(o->j);
		return;
	}
	if (c->hostile != H_NONE && c->msgs >= c->hostile_after)
		hostile(o);
	due = now_ms() + cur_latency;
	if (due < c->last_due)
		due = c->last_due;
	c->last_due = due;
	if (c->qn == c->qcap) {
		c->qcap = c->qcap ? c->qcap * 2 : 16;
		c->q = xrealloc(c->q, (size_t)c->qcap * sizeof *c->q);
	}
	e = &c->q[c->qn++];
	e->len = c->out.len - o->start;
	e->due = due;
	e->j = o->j;
}

/* Release the frames that are due; returns the earliest pending due time. */
static double
conn_release(struct conn *c)
{
	double now = now_ms();

	while (c->qh < c->qn && c->q[c->qh].due <= now) {
		c->ready += c->q[c->qh].len;
		journal(c->q[c->qh].j);
		c->qh++;
	}
	if (c->qh == c->qn) {
		c->qh = c->qn = 0;
		return INF;
	}
	return c->q[c->qh].due;
}

/* ------------------------------------------------------------------ */
/* 6. Server messages (tws-protocol.md section 4, server version 176)  */
/* ------------------------------------------------------------------ */

static void
m_err(struct conn *c, long long id, int code, const char *fmt, ...)
{
	struct om o;
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	om_begin(&o, c, 4, "ERR_MSG");
	twsf_str(&c->out, "2");
	om_i(&o, "id", id);
	om_i(&o, "code", code);
	om_s(&o, "text", msg);
	om_s(&o, NULL, "");
	om_end(&o);
}

static void
m_simple(struct conn *c, int id, const char *name, const char *key,
    long long v)
{
	struct om o;

	om_begin(&o, c, id, name);
	twsf_str(&c->out, "1");
	if (key != NULL)
		om_i(&o, key, v);
	om_end(&o);
}

static void
m_managed(struct conn *c)
{
	struct om o;
	char *list;
	size_t n = 1;
	int i;

	for (i = 0; i < g.naccts; i++)
		n += strlen(g.accts[i]->id) + 1;
	list = xmalloc(n);
	list[0] = '\0';
	for (i = 0; i < g.naccts; i++) {
		if (i)
			strcat(list, ",");
		strcat(list, g.accts[i]->id);
	}
	om_begin(&o, c, 15, "MANAGED_ACCTS");
	twsf_str(&c->out, "1");
	om_s(&o, "accounts", list);
	om_end(&o);
	free(list);
}

/* The contract run shared by POSITION, POSITION_MULTI and friends:
 * conId, symbol, secType, lastTradeDate, strike, right, multiplier,
 * exchange, currency, localSymbol, tradingClass. */
static void
m_contract(struct om *o, struct sym *s, const char *exchange)
{
	om_i(o, "con_id", s->con_id);
	om_s(o, "symbol", s->symbol);
	om_s(o, NULL, "STK");
	om_pad(o, "e0ee");
	om_s(o, NULL, exchange);
	om_s(o, NULL, s->currency);
	om_s(o, NULL, s->symbol);
	om_s(o, NULL, s->trading_class);
}

static void
m_position(struct conn *c, struct acct *a, struct pos *p)
{
	struct om o;

	om_begin(&o, c, 61, "POSITION_DATA");
	twsf_str(&c->out, "3");
	om_s(&o, "account", a->id);
	m_contract(&o, p->sym, p->sym->primary);
	om_q(&o, "qty", p->qty);
	om_d(&o, "avg_cost", p->avg_cost);
	om_end(&o);
}

static void
m_position_multi(struct conn *c, long long req, struct acct *a,
    struct pos *p)
{
	struct om o;

	om_begin(&o, c, 71, "POSITION_MULTI");
	twsf_str(&c->out, "1");
	om_i(&o, "req_id", req);
	om_s(&o, "account", a->id);
	m_contract(&o, p->sym, p->sym->primary);
	om_q(&o, "qty", p->qty);
	om_d(&o, "avg_cost", p->avg_cost);
	om_s(&o, NULL, "");
	om_end(&o);
}

static void
m_summary(struct conn *c, long long req, struct acct *a, const char *tag,
    const char *value, const char *ccy)
{
	struct om o;

	om_begin(&o, c, 63, "ACCOUNT_SUMMARY");
	twsf_str(&c->out, "1");
	om_i(&o, "req_id", req);
	om_s(&o, "account", a->id);
	om_s(&o, "tag", tag);
	om_s(&o, "value", value);
	om_s(&o, "currency", ccy);
	om_end(&o);
}

static void
m_update_multi(struct conn *c, long long req, struct acct *a,
    const char *key, const char *value, const char *ccy)
{
	struct om o;

	om_begin(&o, c, 73, "ACCOUNT_UPDATE_MULTI");
	twsf_str(&c->out, "1");
	om_i(&o, "req_id", req);
	om_s(&o, "account", a->id);
	om_s(&o, NULL, "");
	om_s(&o, "key", key);
	om_s(&o, "value", value);
	om_s(&o, "currency", ccy);
	om_end(&o);
}

static void
m_acct_value(struct conn *c, struct acct *a, const char *key,
    const char *value, const char *ccy)
{
	struct om o;

	om_begin(&o, c, 6, "ACCT_VALUE");
	twsf_str(&c->out, "2");
	om_s(&o, "key", key);
	om_s(&o, "value", value);
	om_s(&o, "currency", ccy);
	om_s(&o, "account", a->id);
	om_end(&o);
}

static double mark(struct sym *s);

static void
m_portfolio(struct conn *c, struct acct *a, struct pos *p)
{
	struct om o;
	double m = mark(p->sym);

	om_begin(&o, c, 7, "PORTFOLIO_VALUE");
	twsf_str(&c->out, "8");
	om_i(&o, "con_id", p->sym->con_id);
	om_s(&o, "symbol", p->sym->symbol);
	om_s(&o, NULL, "STK");
	om_pad(&o, "e0ee");
	om_s(&o, NULL, p->sym->primary);
	om_s(&o, NULL, p->sym->currency);
	om_s(&o, NULL, p->sym->symbol);
	om_s(&o, NULL, p->sym->trading_class);
	om_q(&o, "qty", p->qty);
	om_d(&o, "market_price", m);
	om_d(&o, "market_value", p->qty * m);
	om_d(&o, "avg_cost", p->avg_cost);
	om_d(&o, NULL, (m - p->avg_cost) * p->qty);
	om_d(&o, NULL, 0);
	om_s(&o, "account", a->id);
	om_end(&o);
}

static void
m_contract_data(struct conn *c, long long req, struct sym *s,
    const char *exchange)
{
	struct om o;
	char *trading = hours_at(s->trading, s->tz, sim_now());
	char *liquid = hours_at(s->liquid, s->tz, sim_now());
	char valid[128];

	snprintf(valid, sizeof valid, "SMART,%s", s->primary);
	om_begin(&o, c, 10, "CONTRACT_DATA");
	om_i(&o, "req_id", req);
	om_s(&o, "symbol", s->symbol);
	om_s(&o, NULL, "STK");
	om_pad(&o, "e0e");
	om_s(&o, "exchange", exchange);
	om_s(&o, "currency", s->currency);
	om_s(&o, NULL, s->symbol);
	om_s(&o, NULL, s->trading_class);
	om_s(&o, NULL, s->trading_class);
	om_i(&o, "con_id", s->con_id);
	om_d(&o, "min_tick", s->min_tick);
	om_s(&o, NULL, "");
	om_s(&o, NULL, "ACTIVETIM,AD,ALERT,ALLOC,AVGCOST,BASKET,DAY,GAT,GTC,"
	    "GTD,IOC,LIT,LMT,LOC,MIT,MKT,MOC,MTL,NONALGO,OCA,OPG,REL,STP,"
	    "STPLMT,TRAIL,TRAILLIT,TRAILLMT,WHATIF");
	om_s(&o, NULL, valid);
	om_s(&o, NULL, "1");
	om_s(&o, NULL, "0");
	om_s(&o, "long_name", s->long_name);
	om_s(&o, "primary_exchange", s->primary);
	om_pad(&o, "eeee");
	om_s(&o, "time_zone", s->tz);
	om_s(&o, "trading_hours", trading ? trading : "");
	om_s(&o, "liquid_hours", liquid ? liquid : "");
	om_pad(&o, "ee");
	if (s->isin != NULL) {
		om_s(&o, NULL, "1");
		om_s(&o, NULL, "ISIN");
		om_s(&o, NULL, s->isin);
	} else {
		om_s(&o, NULL, "0");
	}
	om_s(&o, NULL, "1");
	om_pad(&o, "ee");
	om_s(&o, NULL, "26");
	om_s(&o, NULL, "");
	om_s(&o, NULL, s->stock_type);
	om_s(&o, NULL, "1");
	om_s(&o, NULL, "1");
	om_s(&o, NULL, "100");
	om_end(&o);
	free(trading);
	free(liquid);
}

static void
m_tick_price(struct conn *c, long long req, int tick, struct px px,
    double size)
{
	struct om o;

	om_begin(&o, c, 1, "TICK_PRICE");
	twsf_str(&c->out, "6");
	om_i(&o, "req_id", req);
	om_i(&o, "tick", tick);
	switch (px.st) {
	case PX_SET:
		om_d(&o, "price", px.v);
		om_q(&o, "size", size);
		break;
	case PX_NAN:
		twsf_str(&c->out, "NaN");
		o.j = jv_object_set(o.j, jv_string("price"), jv_string("NaN"));
		om_q(&o, "size", 0);
		break;
	default:
		om_d(&o, "price", -1);
		om_q(&o, "size", 0);
	}
	om_s(&o, NULL, "0");
	om_end(&o);
}

static void
m_tick_size(struct conn *c, long long req, int tick, double size)
{
	struct om o;

	om_begin(&o, c, 2, "TICK_SIZE");
	twsf_str(&c->out, "6");
	om_i(&o, "req_id", req);
	om_i(&o, "tick", tick);
	om_q(&o, "size", size);
	om_end(&o);
}

static void
m_tick_req_params(struct conn *c, long long req, struct sym *s)
{
	struct om o;

	om_begin(&o, c, 81, "TICK_REQ_PARAMS");
	om_i(&o, "req_id", req);
	om_d(&o, "min_tick", s->min_tick);
	om_s(&o, NULL, "9c0001");
	om_s(&o, NULL, "3");
	om_end(&o);
}

static void
m_md_type(struct conn *c, long long req, int type)
{
	struct om o;

	om_begin(&o, c, 58, "MARKET_DATA_TYPE");
	twsf_str(&c->out, "1");
	om_i(&o, "req_id", req);
	om_i(&o, "type", type);
	om_end(&o);
}

static void
m_open_order(struct conn *c, struct order *od)
{
	struct om o;
	struct sym *s = od->sym;

	om_begin(&o, c, 5, "OPEN_ORDER");
	om_i(&o, "order_id", od->id);
	om_i(&o, "con_id", s->con_id);
	om_s(&o, "symbol", s->symbol);
	om_s(&o, NULL, "STK");
	om_pad(&o, "e0ee");
	om_s(&o, NULL, od->exchange);
	om_s(&o, NULL, s->currency);
	om_s(&o, NULL, s->symbol);
	om_s(&o, NULL, s->trading_class);
	om_s(&o, "action", od->buy ? "BUY" : "SELL");
	om_q(&o, "qty", od->qty);
	om_s(&o, "type", od->type);
	om_d(&o, "limit", od->lmt);
	om_s(&o, NULL, "0");
	om_s(&o, "tif", od->tif);
	om_s(&o, NULL, "");
	om_s(&o, "account", od->acct->id);
	om_pad(&o, "e0");
	om_s(&o, "ref", od->ref);
	om_i(&o, "client", od->client);
	om_i(&o, "perm_id", od->perm);
	om_i(&o, NULL, od->outside_rth);
	/* #27 hidden .. #61 volatilityType */
	om_pad(&o, "00eeeeeeeeeee0e-0eeeeeM000e300e00e0");
	/* #62 deltaNeutralOrderType .. #85 whatIf */
	om_pad(&o, "ee00eeeee000MMee0e");
	om_s(&o, NULL, "IB");
	om_pad(&o, "00e00");
	om_s(&o, "status", os_name[od->st]);
	om_pad(&o, "DDDDDDDDD");
	om_d(&o, NULL, od->st == OS_FILLED ? od->commission : NAN);
	om_pad(&o, "eee");
	om_s(&o, NULL, "");
	/* #101 randomizeSize .. #127 midOffsetAtHalf */
	om_pad(&o, "000");
	om_s(&o, NULL, "None");
	om_pad(&o, "DDDDDD0eeee1000ee0eeeee");
	om_end(&o);
}

static void
m_order_status(struct conn *c, struct order *od, const char *status)
{
	struct om o;

	om_begin(&o, c, 3, "ORDER_STATUS");
	om_i(&o, "order_id", od->id);
	om_s(&o, "status", status);
	om_q(&o, "filled", od->filled);
	om_q(&o, "remaining", od->qty - od->filled);
	om_d(&o, "avg_price", od->filled > 0 ? od->avg : 0);
	om_i(&o, "perm_id", od->perm);
	om_s(&o, NULL, "0");
	om_d(&o, "last_price", od->filled > 0 ? od->last_px : 0);
	om_i(&o, "client", od->client);
	om_s(&o, NULL, "");
	om_s(&o, NULL, "0");
	om_end(&o);
}

static void
m_execution(struct conn *c, long long req, struct exec *e)
{
	struct om o;
	char t[64];

	om_begin(&o, c, 11, "EXECUTION_DATA");
	om_i(&o, "req_id", req);
	om_i(&o, "order_id", e->order_id);
	m_contract(&o, e->sym, e->sym->primary);
	om_s(&o, "exec_id", e->id);
	om_s(&o, "time", ib_time(e->time, t, sizeof t));
	om_s(&o, "account", e->acct->id);
	om_s(&o, NULL, e->sym->primary);
	om_s(&o, "side", e->buy ? "BOT" : "SLD");
	om_q(&o, "shares", e->shares);
	om_d(&o, "price", e->price);
	om_i(&o, "perm_id", e->perm);
	om_i(&o, "client", e->client);
	om_s(&o, NULL, "0");
	om_q(&o, "cum_qty", e->cum);
	om_d(&o, "avg_price", e->avg);
	om_s(&o, "ref", e->ref);
	om_pad(&o, "eee");
	om_i(&o, NULL, e->liquidity);
	om_end(&o);
}

static void
m_commission(struct conn *c, struct exec *e)
{
	struct om o;

	om_begin(&o, c, 59, "COMMISSION_REPORT");
	twsf_str(&c->out, "1");
	om_s(&o, "exec_id", e->id);
	om_d(&o, "commission", e->commission);
	om_s(&o, "currency", e->sym->currency);
	om_d(&o, "realized_pnl", e->realized);
	om_pad(&o, "De");
	om_end(&o);
}

/* ------------------------------------------------------------------ */
/* 7. Account values and subscription pushes                          */
/* ------------------------------------------------------------------ */

static int
px_ok(struct px p)
{
	return p.st == PX_SET && p.v > 0;
}

/* The price positions are valued at: last, else the mid, else the close. */
static double
mark(struct sym *s)
{
	if (px_ok(s->last))
		return s->last.v;
	if (px_ok(s->bid) && px_ok(s->ask))
		return (s->bid.v + s->ask.v) / 2;
	if (px_ok(s->close))
		return s->close.v;
	return 0;
}

static double
acct_gross(struct acct *a)
{
	double v = 0;
	int i;

	for (i = 0; i < a->npos; i++)
		v += fabs(a->pos[i].qty * mark(a->pos[i].sym));
	return v;
}

static double
acct_nlv(struct acct *a)
{
	double v = a->cash;
	int i;

	for (i = 0; i < a->npos; i++)
		v += a->pos[i].qty * mark(a->pos[i].sym);
	return v;
}

/* Tag TAG of account A as IB writes it: 1 and BUF, *CCY; 0 unknown. The
 * scenario's values override; a cash account: no margin, funds = cash. */
static int
acct_value(struct acct *a, const char *tag, char *buf, size_t n,
    const char **ccy)
{
	static const char *const cash_tags[] = { "TotalCashValue",
		"CashBalance", "BuyingPower", "AvailableFunds",
		"ExcessLiquidity", "FullAvailableFunds", "FullExcessLiquidity",
		"LookAheadAvailableFunds", "LookAheadExcessLiquidity", "SMA",
		NULL };
	static const char *const nlv_tags[] = { "NetLiquidation",
		"EquityWithLoanValue", "PreviousDayEquityWithLoanValue",
		"ReqTEquity", NULL };
	static const char *const zero_tags[] = { "AccruedCash",
		"InitMarginReq", "MaintMarginReq", "FullInitMarginReq",
		"FullMaintMarginReq", "LookAheadInitMarginReq",
		"LookAheadMaintMarginReq", "ReqTMargin", NULL };
	const char *const *p;
	jv v = jvx_get(a->values, tag);
	double nlv;

	*ccy = a->currency;
	if (jv_get_kind(v) == JV_KIND_STRING) {
		snprintf(buf, n, "%s", jv_string_value(v));
		jv_free(v);
		return 1;
	}
	if (jv_get_kind(v) == JV_KIND_NUMBER) {
		snprintf(buf, n, "%.2f", jv_number_value(v));
		jv_free(v);
		return 1;
	}
	jv_free(v);
	for (p = cash_tags; *p; p++)
		if (strcmp(*p, tag) == 0) {
			snprintf(buf, n, "%.2f", a->cash);
			return 1;
		}
	for (p = nlv_tags; *p; p++)
		if (strcmp(*p, tag) == 0) {
			snprintf(buf, n, "%.2f", acct_nlv(a));
			return 1;
		}
	for (p = zero_tags; *p; p++)
		if (strcmp(*p, tag) == 0) {
			snprintf(buf, n, "0.00");
			return 1;
		}
	if (strcmp(tag, "SettledCash") == 0) {
		snprintf(buf, n, "%.2f", a->settled);
		return 1;
	}
	if (strcmp(tag, "GrossPositionValue") == 0) {
		snprintf(buf, n, "%.2f", acct_gross(a));
		return 1;
	}
	if (strcmp(tag, "Cushion") == 0) {
		nlv = acct_nlv(a);
		snprintf(buf, n, "%.4f", nlv > 0 ? a->cash / nlv : 0);
		*ccy = "";
		return 1;
	}
	*ccy = "";
	if (strcmp(tag, "AccountType") == 0) {
		snprintf(buf, n, "INDIVIDUAL");
		return 1;
	}
	if (strcmp(tag, "AccountCode") == 0) {
		snprintf(buf, n, "%s", a->id);
		return 1;
	}
	if (strcmp(tag, "Currency") == 0) {
		snprintf(buf, n, "%s", a->currency);
		*ccy = a->currency;
		return 1;
	}
	if (strcmp(tag, "DayTradesRemaining") == 0 ||
	    strcmp(tag, "LookAheadNextChange") == 0 ||
	    strcmp(tag, "Leverage") == 0 || strcmp(tag, "HighestSeverity") == 0) {
		snprintf(buf, n, "%s", tag[0] == 'D' ? "-1" : "0");
		return 1;
	}
	return 0;
}

/* The keys of an account-updates stream (multi or not). */
static const char *const upd_keys[] = { "AccountCode", "AccountType",
	"CashBalance", "Currency", "NetLiquidation", "TotalCashValue",
	"SettledCash", "AvailableFunds", "BuyingPower", "EquityWithLoanValue",
	"GrossPositionValue", "ExcessLiquidity", "InitMarginReq",
	"MaintMarginReq", "DayTradesRemaining", NULL };
static const char *const ledger_keys[] = { "CashBalance", "NetLiquidation",
	"TotalCashValue", NULL };

/* Call FN for each key of an account-updates stream of A: the fixed keys
 * (or the ledger ones) and the scenario's extra values. */
static void
each_update(struct acct *a, int ledger, void (*fn)(struct acct *,
    const char *, void *), void *arg)
{
	const char *const *keys = ledger ? ledger_keys : upd_keys, *const *p;

	for (p = keys; *p; p++)
		fn(a, *p, arg);
	if (ledger)
		return;
	jv_object_keys_foreach(a->values, k) {
		for (p = keys; *p; p++)
			if (strcmp(*p, jv_string_value(k)) == 0)
				break;
		if (*p == NULL)
			fn(a, jv_string_value(k), arg);
		jv_free(k);
	}
}

struct upd_arg {
	struct conn *c;
	long long req;
	int multi;
};

static void
send_update(struct acct *a, const char *key, void *arg)
{
	struct upd_arg *u = arg;
	const char *ccy;
	char val[64];

	if (!acct_value(a, key, val, sizeof val, &ccy))
		return;
	if (u->multi)
		m_update_multi(u->c, u->req, a, key, val, ccy);
	else
		m_acct_value(u->c, a, key, val, ccy);
}

/* Rows of an account-summary request for A and the comma list TAGS. */
static void
send_summary(struct conn *c, long long req, struct acct *a, const char *tags)
{
	char *list = xstrdup(tags), *tag, *save = NULL, val[64];
	const char *ccy;

	for (tag = strtok_r(list, ",", &save); tag;
	    tag = strtok_r(NULL, ",", &save))
		if (acct_value(a, tag, val, sizeof val, &ccy))
			m_summary(c, req, a, tag, val, ccy);
	free(list);
}

static void
send_acct_updates(struct conn *c, struct acct *a, struct pos *only)
{
	struct upd_arg u = { c, 0, 0 };
	struct tm lt;
	char hm[8];
	int i;

	each_update(a, 0, send_update, &u);
	for (i = 0; i < a->npos; i++)
		if (only == NULL || only == &a->pos[i])
			m_portfolio(c, a, &a->pos[i]);
	if (tm_local(g.tz, (time_t)sim_now(), &lt) < 0)
		memset(&lt, 0, sizeof lt);
	snprintf(hm, sizeof hm, "%02d:%02d", lt.tm_hour, lt.tm_min);
	{
		struct om o;

		om_begin(&o, c, 8, "ACCT_UPDATE_TIME");
		twsf_str(&c->out, "1");
		om_s(&o, "time", hm);
		om_end(&o);
	}
}

static struct pos *
pos_get(struct acct *a, struct sym *s)
{
	int i;

	for (i = 0; i < a->npos; i++)
		if (a->pos[i].sym == s)
			return &a->pos[i];
	a->pos = xrealloc(a->pos, (size_t)(a->npos + 1) * sizeof *a->pos);
	a->pos[a->npos].sym = s;
	a->pos[a->npos].qty = 0;
	a->pos[a->npos].avg_cost = 0;
	return &a->pos[a->npos++];
}

/* After a fill in A of the position P: every subscription that shows it. */
static void
push_account(struct acct *a, struct pos *p)
{
	struct upd_arg u;
	struct sub *s;
	int i, j;

	cur_latency = g.lat_default;
	for (i = 0; i < g.nconns; i++) {
		struct conn *c = g.conns[i];

		if (c->state != CS_READY || c->dead)
			continue;
		if (c->positions)
			m_position(c, a, p);
		for (j = 0; j < c->nsubs; j++) {
			s = &c->subs[j];
			if (s->acct != NULL && s->acct != a)
				continue;
			switch (s->kind) {
			case SUB_POSMULTI:
				m_position_multi(c, s->req, a, p);
				break;
			case SUB_SUMMARY:
				send_summary(c, s->req, a, s->tags);
				break;
			case SUB_UPDMULTI:
				u.c = c;
				u.req = s->req;
				u.multi = 1;
				each_update(a, s->ledger, send_update, &u);
				break;
			}
		}
		if (c->updates == a)
			send_acct_updates(c, a, p);
	}
}

/* ------------------------------------------------------------------ */
/* 8. Order engine                                                     */
/* ------------------------------------------------------------------ */

/* The connections that hear about order OD: its client's and the master's. */
static int
watchers(struct order *od, struct conn **out)
{
	int i, n = 0;

	for (i = 0; i < g.nconns && n < 2; i++) {
		struct conn *c = g.conns[i];

		if (c->state == CS_READY && !c->dead &&
		    (c->client == od->client ||
		    (g.master >= 0 && c->client == g.master)))
			out[n++] = c;
	}
	return n;
}

/* Is the session open for OD now? LMT with outsideRth works in the trading
 * hours, everything else in the liquid hours. 0: *next the next open. */
static int
order_session(struct order *od, double now, time_t *next)
{
	time_t close;
	const char *h = od->outside_rth && strcmp(od->type, "LMT") == 0 ?
	    od->sym->trading : od->sym->liquid;

	return session(od->sym, h, now, next, &close);
}

static void
local_fmt(struct sym *s, time_t t, char *buf, size_t n)
{
	struct tm lt;

	if (tm_local(s->tz, t, &lt) < 0)
		gmtime_r(&t, &lt);
	snprintf(buf, n, "%04d-%02d-%02d %02d:%02d:%02d %s", lt.tm_year + 1900,
	    lt.tm_mon + 1, lt.tm_mday, lt.tm_hour, lt.tm_min, lt.tm_sec, s->tz);
}

/* Set the fill timing of a new (or scenario) order; 1 when it must wait
 * for a session (*next: the open, 0 when none is listed). */
static int
order_arm(struct order *od, time_t *next)
{
	double now = sim_now();
	time_t open, close, o2, c2;
	int in;

	od->due = now_ms() + od->sym->fills.delay_ms;
	*next = 0;
	if (strcmp(od->type, "MOC") == 0) {
		in = session(od->sym, od->sym->liquid, now, &open, &close);
		od->moc_at = 0;
		if (in && close)
			od->moc_at = (double)close;
		else if (!in && open && session(od->sym, od->sym->liquid,
		    (double)open, &o2, &c2) == 1 && c2)
			od->moc_at = (double)c2;
		*next = open;
		return !in;
	}
	return !order_session(od, now, next);
}

static void
notify_order(struct order *od, const char *status)
{
	struct conn *w[2];
	int i, n = watchers(od, w);

	for (i = 0; i < n; i++) {
		m_open_order(w[i], od);
		m_order_status(w[i], od, status ? status : os_name[od->st]);
	}
}

/* One execution of Q shares of OD at PRICE. */
static void
order_fill(struct order *od, double q, double price)
{
	struct acct *a = od->acct;
	struct pos *p = pos_get(a, od->sym);
	struct exec *e = xmalloc(sizeof *e);
	struct conn *w[2];
	double cum = od->filled + q, dq = od->buy ? q : -q, comm;
	int i, n;

	comm = fmax(g.min_commission, g.per_share * cum) - od->commission;
	if (comm < 0)
		comm = 0;
	memset(e, 0, sizeof *e);
	e->realized = DBL_MAX;
	if (p->qty == 0 || (p->qty > 0) == (dq > 0)) {
		p->avg_cost = (p->avg_cost * fabs(p->qty) + q * price +
		    (od->buy ? comm : -comm)) / (fabs(p->qty) + q);
		p->qty += dq;
	} else {
		double closing = fmin(q, fabs(p->qty));

		e->realized = (price - p->avg_cost) * closing *
		    (p->qty > 0 ? 1 : -1) - comm;
		p->qty += dq;
		if (fabs(p->qty) < 1e-9)
			p->qty = 0;
		else if ((p->qty > 0) == (dq > 0))
			p->avg_cost = price;
	}
	if (od->buy) {
		a->cash -= q * price + comm;
		a->settled -= q * price + comm;
	} else {
		a->cash += q * price - comm;
		a->settled -= comm;	/* sale proceeds settle later */
	}
	od->avg = (od->avg * od->filled + price * q) / cum;
	od->filled = cum;
	od->last_px = price;
	od->commission += comm;
	od->steps++;
	if (od->filled >= od->qty - 1e-9) {
		od->filled = od->qty;
		od->st = OS_FILLED;
	}
	snprintf(e->id, sizeof e->id, "0000%04x.%08llx.01.01", ++g.exec_seq,
	    (unsigned long long)od->perm);
	e->order_id = od->id;
	e->perm = od->perm;
	e->client = od->client;
	e->acct = a;
	e->sym = od->sym;
	e->buy = od->buy;
	e->liquidity = strcmp(od->type, "LMT") == 0 ? 1 : 2;
	e->shares = q;
	e->price = price;
	e->cum = od->filled;
	e->avg = od->avg;
	e->commission = comm;
	e->time = sim_now();
	e->ref = xstrdup(od->ref);
	PUSH(g.execs, g.nexecs, g.cap_execs, e);

	cur_latency = g.lat_default;
	n = watchers(od, w);
	for (i = 0; i < n; i++) {
		m_execution(w[i], -1, e);
		if (od->st == OS_FILLED)
			m_open_order(w[i], od);
		m_order_status(w[i], od, os_name[od->st]);
		m_commission(w[i], e);
	}
	push_account(a, p);
}

/* Give OD its chance to fill now. */
static void
order_try(struct order *od)
{
	struct sym *s = od->sym;
	double now = sim_now(), q, price = 0;
	time_t next;

	if (!OS_OPEN(od->st) || od->staged || od->due > now_ms())
		return;
	if (strcmp(od->type, "MOC") == 0) {
		if (!od->auction && !(od->moc_at > 0 && now >= od->moc_at))
			return;
		if (px_ok(s->close))
			price = s->close.v;
		else if (px_ok(s->last))
			price = s->last.v;
		else
			return;
		order_fill(od, od->qty - od->filled, price);
		return;
	}
	if (!order_session(od, now, &next))
		return;
	if (od->held || od->st == OS_PRESUBMITTED) {
		od->held = 0;
		od->st = OS_SUBMITTED;
		cur_latency = g.lat_default;
		notify_order(od, NULL);
	}
	if (strcmp(od->type, "MKT") == 0) {
		struct px p = od->buy ? s->ask : s->bid;

		if (!px_ok(p))
			return;
		price = p.v;
	} else if (s->fills.limit == LMT_NEVER) {
		return;
	} else if (s->fills.limit == LMT_ALWAYS) {
		price = od->lmt;
	} else if (od->buy && px_ok(s->ask) && s->ask.v <= od->lmt + 1e-9) {
		price = s->ask.v;
	} else if (!od->buy && px_ok(s->bid) && s->bid.v >= od->lmt - 1e-9) {
		price = s->bid.v;
	} else {
		return;
	}
	if (s->fills.steps > 0 && od->steps >= s->fills.steps)
		return;
	q = od->qty - od->filled;
	if (s->fills.partial < 1) {
		double step = od->qty * s->fills.partial;

		if (od->qty == floor(od->qty))
			step = ceil(step - 1e-9);
		if (step < q)
			q = step;
	}
	order_fill(od, q, price);
	od->due = now_ms() + s->fills.step_ms;
}

/* Real ms at which time alone may move OD on (INF: only a quote can). */
static double
order_wake(struct order *od)
{
	double now = now_ms(), t = INF;
	time_t next;

	if (!OS_OPEN(od->st) || od->staged)
		return INF;
	if (od->due > now)
		return od->due;
	if (strcmp(od->type, "MOC") == 0) {
		if (od->moc_at > 0)
			t = sim_to_ms(od->moc_at);
	} else if (!order_session(od, sim_now(), &next) && next) {
		t = sim_to_ms((double)next);
	}
	return t > now ? t : INF;
}

static void
order_cancelled(struct order *od, struct conn *by)
{
	struct conn *w[2];
	int i, n;

	if (by != NULL)
		m_order_status(by, od, "PendingCancel");
	od->st = OS_CANCELLED;
	n = watchers(od, w);
	for (i = 0; i < n; i++) {
		m_order_status(w[i], od, "Cancelled");
		m_err(w[i], od->id, 202, "Order Canceled - reason:");
	}
}

static struct order *
order_find(int client, long long id)
{
	int i;

	for (i = 0; i < g.norders; i++)
		if (g.orders[i]->client == client && g.orders[i]->id == id)
			return g.orders[i];
	return NULL;
}

/* ------------------------------------------------------------------ */
/* 9. Request handlers (tws-protocol.md section 3)                     */
/* ------------------------------------------------------------------ */

/* A request being decoded: fields are read in order; a missing or
 * malformed field marks it bad, and the journal entry grows by name. */
struct rq {
	struct conn *c;
	struct twsf_msg *m;
	jv j;
	int bad, open_end;
};

static const char *
rq_s(struct rq *q, const char *key)
{
	const char *s = twsf_next(q->m);

	if (s == NULL) {
		q->bad |= 1;
		return "";
	}
	if (key != NULL)
		q->j = jv_object_set(q->j, jv_string(key), jv_string(s));
	return s;
}

static long long
rq_i(struct rq *q, const char *key)
{
	const char *s = rq_s(q, NULL);
	long long v = 0;
	char *end;

	if (*s != '\0') {
		errno = 0;
		v = strtoll(s, &end, 10);
		if (*end != '\0' || errno) {
			q->bad |= 2;
			v = 0;
		}
	}
	if (key != NULL)
		q->j = jv_object_set(q->j, jv_string(key), jv_number(v));
	return v;
}

/* A double; "" and the DBL_MAX sentinel are NAN (unset). */
static double
rq_d(struct rq *q, const char *key)
{
	const char *s = rq_s(q, NULL);
	double v = NAN;
	char *end;

	if (*s != '\0') {
		v = strtod(s, &end);
		if (*end != '\0') {
			q->bad |= 2;
			v = NAN;
		} else if (v >= DBL_MAX) {
			v = NAN;
		}
	}
	if (key != NULL)
		q->j = jv_object_set(q->j, jv_string(key), isnan(v) ?
		    jv_null() : jv_number(v));
	return v;
}

static void
rq_skip(struct rq *q, int n)
{
	while (n-- > 0)
		rq_s(q, NULL);
}

/* End of decoding: journal the request; -1 (and ERR 320) when it was bad. */
static int
rq_end(struct rq *q)
{
	int left = twsf_left(q->m);

	if (q->bad) {
		q->j = jv_object_set(q->j, jv_string("error"),
		    jv_string(q->bad & 1 ? "missing fields" :
		    "malformed field"));
		journal(q->j);
		m_err(q->c, -1, 320, "Error reading request: %s",
		    q->bad & 1 ? "too few fields" : "malformed field");
		return -1;
	}
	if (left > 0 && !q->open_end)
		q->j = jv_object_set(q->j, jv_string("extra_fields"),
		    jv_number(left));
	journal(q->j);
	return 0;
}

static int
sub_find(struct conn *c, int kind, long long req)
{
	int i;

	for (i = 0; i < c->nsubs; i++)
		if (c->subs[i].kind == kind && c->subs[i].req == req)
			return i;
	return -1;
}

static void
sub_add(struct conn *c, struct sub s)
{
	int i = sub_find(c, s.kind, s.req);

	if (i >= 0) {
		free(c->subs[i].tags);
		c->subs[i] = s;
		return;
	}
	c->subs = xrealloc(c->subs, (size_t)(c->nsubs + 1) * sizeof s);
	c->subs[c->nsubs++] = s;
}

/* 1 when a subscription was removed. */
static int
sub_del(struct conn *c, int kind, long long req)
{
	int i = sub_find(c, kind, req);

	if (i < 0)
		return 0;
	free(c->subs[i].tags);
	c->subs[i] = c->subs[--c->nsubs];
	return 1;
}

/* Accounts named by a request: "" and "All" are all of them. NULL when
 * unknown; *all set when every account. */
static struct acct *
req_acct(const char *id, int *all)
{
	*all = *id == '\0' || strcmp(id, "All") == 0;
	if (*all)
		return NULL;
	return acct_by_id(id);
}

/* Symbols matching a contract description: up to MAX into OUT. */
static int
match(long long con_id, const char *symbol, const char *sec_type,
    const char *primary, const char *currency, const char *isin,
    struct sym **out, int max)
{
	int i, n = 0;

	if (*sec_type != '\0' && strcmp(sec_type, "STK") != 0)
		return 0;
	for (i = 0; i < g.nsyms && n < max; i++) {
		struct sym *s = g.syms[i];

		if (con_id > 0) {
			if (s->con_id != con_id)
				continue;
		} else if (isin != NULL) {
			if (s->isin == NULL || strcmp(s->isin, isin) != 0)
				continue;
		} else if (strcmp(s->symbol, symbol) != 0 ||
		    (*primary && strcmp(s->primary, primary) != 0)) {
			continue;
		}
		if (*currency && strcmp(s->currency, currency) != 0)
			continue;
		out[n++] = s;
	}
	return n;
}

/* One symbol for an order or market data request, else ERR 200 to ID. */
static struct sym *
resolve(struct conn *c, long long id, long long con_id, const char *symbol,
    const char *sec_type, const char *primary, const char *currency)
{
	struct sym *m[2];
	int n = match(con_id, symbol, sec_type, primary, currency, NULL, m, 2);

	if (n == 1)
		return m[0];
	if (n == 0)
		m_err(c, id, 200, "No security definition has been found for "
		    "the request");
	else
		m_err(c, id, 200, "The contract description specified for %s "
		    "is ambiguous.", symbol);
	return NULL;
}

static void
h_ids(struct rq *q)
{
	rq_skip(q, 1);
	rq_i(q, "num_ids");
	if (rq_end(q) == 0)
		m_simple(q->c, 9, "NEXT_VALID_ID", "order_id",
		    next_id_for(q->c->client));
}

static void
h_time(struct rq *q)
{
	rq_skip(q, 1);
	if (rq_end(q) == 0)
		m_simple(q->c, 49, "CURRENT_TIME", "time",
		    (long long)floor(sim_now()));
}

static void
h_managed(struct rq *q)
{
	rq_skip(q, 1);
	if (rq_end(q) == 0)
		m_managed(q->c);
}

static void
h_positions(struct rq *q)
{
	int i, j;

	rq_skip(q, 1);
	if (rq_end(q) < 0)
		return;
	q->c->positions = 1;
	for (i = 0; i < g.naccts; i++)
		for (j = 0; j < g.accts[i]->npos; j++)
			m_position(q->c, g.accts[i], &g.accts[i]->pos[j]);
	m_simple(q->c, 62, "POSITION_END", NULL, 0);
}

static void
h_cancel_positions(struct rq *q)
{
	rq_skip(q, 1);
	if (rq_end(q) == 0)
		q->c->positions = 0;
}

static void
h_summary(struct rq *q)
{
	struct sub s;
	long long req;
	const char *tags;
	int i;

	memset(&s, 0, sizeof s);
	rq_skip(q, 1);
	req = rq_i(q, "req_id");
	rq_s(q, "group");
	tags = rq_s(q, "tags");
	if (rq_end(q) < 0)
		return;
	for (i = 0; i < g.naccts; i++)
		send_summary(q->c, req, g.accts[i], tags);
	m_simple(q->c, 64, "ACCOUNT_SUMMARY_END", "req_id", req);
	s.kind = SUB_SUMMARY;
	s.req = req;
	s.tags = xstrdup(tags);
	sub_add(q->c, s);
}

static void
h_cancel_summary(struct rq *q)
{
	long long req;

	rq_skip(q, 1);
	req = rq_i(q, "req_id");
	if (rq_end(q) == 0)
		sub_del(q->c, SUB_SUMMARY, req);
}

static void
h_acct_updates(struct rq *q)
{
	struct acct *a;
	const char *id;
	int on, all;

	rq_skip(q, 1);
	on = (int)rq_i(q, "subscribe");
	id = rq_s(q, "account");
	if (rq_end(q) < 0)
		return;
	if (!on) {
		q->c->updates = NULL;
		return;
	}
	a = req_acct(id, &all);
	if (all && g.naccts == 1)
		a = g.accts[0];
	if (a == NULL) {
		m_err(q->c, -1, 321, "Error validating request:-'account' : "
		    "cause - Account \"%s\" is not managed by this login", id);
		return;
	}
	q->c->updates = a;
	send_acct_updates(q->c, a, NULL);
	{
		struct om o;

		om_begin(&o, q->c, 54, "ACCT_DOWNLOAD_END");
		twsf_str(&q->c->out, "1");
		om_s(&o, "account", a->id);
		om_end(&o);
	}
}

static void
h_pos_multi(struct rq *q)
{
	struct sub s;
	struct acct *a;
	long long req;
	const char *id;
	int i, j, all;

	memset(&s, 0, sizeof s);
	rq_skip(q, 1);
	req = rq_i(q, "req_id");
	id = rq_s(q, "account");
	rq_s(q, "model_code");
	if (rq_end(q) < 0)
		return;
	a = req_acct(id, &all);
	if (a == NULL && !all) {
		m_err(q->c, req, 321, "Error validating request:-'account' : "
		    "cause - Account \"%s\" is not managed by this login", id);
		return;
	}
	for (i = 0; i < g.naccts; i++) {
		if (a != NULL && g.accts[i] != a)
			continue;
		for (j = 0; j < g.accts[i]->npos; j++)
			m_position_multi(q->c, req, g.accts[i],
			    &g.accts[i]->pos[j]);
	}
	m_simple(q->c, 72, "POSITION_MULTI_END", "req_id", req);
	s.kind = SUB_POSMULTI;
	s.req = req;
	s.acct = a;
	sub_add(q->c, s);
}

static void
h_upd_multi(struct rq *q)
{
	struct upd_arg u;
	struct sub s;
	struct acct *a;
	long long req;
	const char *id;
	int i, all, ledger;

	memset(&s, 0, sizeof s);
	rq_skip(q, 1);
	req = rq_i(q, "req_id");
	id = rq_s(q, "account");
	rq_s(q, "model_code");
	ledger = (int)rq_i(q, "ledger_and_nlv");
	if (rq_end(q) < 0)
		return;
	a = req_acct(id, &all);
	if (a == NULL && !all) {
		m_err(q->c, req, 321, "Error validating request:-'account' : "
		    "cause - Account \"%s\" is not managed by this login", id);
		return;
	}
	u.c = q->c;
	u.req = req;
	u.multi = 1;
	for (i = 0; i < g.naccts; i++)
		if (a == NULL || g.accts[i] == a)
			each_update(g.accts[i], ledger, send_update, &u);
	m_simple(q->c, 74, "ACCOUNT_UPDATE_MULTI_END", "req_id", req);
	s.kind = SUB_UPDMULTI;
	s.req = req;
	s.acct = a;
	s.ledger = ledger != 0;
	sub_add(q->c, s);
}

static void
h_cancel_sub(struct rq *q, int kind)
{
	long long req;

	rq_skip(q, 1);
	req = rq_i(q, "req_id");
	if (rq_end(q) == 0)
		sub_del(q->c, kind, req);
}

static void
h_cancel_pos_multi(struct rq *q)
{
	h_cancel_sub(q, SUB_POSMULTI);
}

static void
h_cancel_upd_multi(struct rq *q)
{
	h_cancel_sub(q, SUB_UPDMULTI);
}

static void
h_md_type(struct rq *q)
{
	long long t;

	rq_skip(q, 1);
	t = rq_i(q, "type");
	if (rq_end(q) < 0)
		return;
	if (t < 1 || t > 4) {
		m_err(q->c, -1, 321, "Error validating request:-'market data "
		    "type' : cause - %lld is not 1 to 4", t);
		return;
	}
	q->c->mdtype = (int)t;
}

/* Is the trading session of S open now (quotes are live)? */
static int
quotes_live(struct sym *s)
{
	time_t open, close;

	return session(s, s->trading, sim_now(), &open, &close);
}

/* Ticks of S for a request of effective TYPE; MASK: 1 bid, 2 ask, 4 last,
 * 8 close, 16 volume. Outside the trading hours live and delayed bid/ask
 * are -1 (IB's "no data now"); frozen types keep the last values. */
static void
md_ticks(struct conn *c, long long req, struct sym *s, int type, int mask)
{
	int delayed = type >= 3, frozen = type == 2 || type == 4;
	int closed = !frozen && !quotes_live(s);
	struct px none = { PX_NONE, 0 }, p;

	if ((mask & 1) && s->bid.st != PX_ABSENT) {
		p = closed ? none : s->bid;
		m_tick_price(c, req, delayed ? 66 : 1, p, s->bid_size);
	}
	if ((mask & 2) && s->ask.st != PX_ABSENT) {
		p = closed ? none : s->ask;
		m_tick_price(c, req, delayed ? 67 : 2, p, s->ask_size);
	}
	if ((mask & 4) && s->last.st != PX_ABSENT)
		m_tick_price(c, req, delayed ? 68 : 4, s->last, s->last_size);
	if ((mask & 8) && s->close.st != PX_ABSENT)
		m_tick_price(c, req, delayed ? 75 : 9, s->close, 0);
	if ((mask & 16) && s->volume >= 0)
		m_tick_size(c, req, delayed ? 74 : 8, s->volume);
}

static void
h_mkt_data(struct rq *q)
{
	struct conn *c = q->c;
	struct sym *s;
	struct sub sb;
	long long req, con_id, n;
	const char *symbol, *sec_type, *primary, *currency, *generic;
	int snapshot, type, i, lines;

	rq_skip(q, 1);
	req = rq_i(q, "req_id");
	con_id = rq_i(q, "con_id");
	symbol = rq_s(q, "symbol");
	sec_type = rq_s(q, "sec_type");
	rq_skip(q, 4);
	rq_s(q, "exchange");
	primary = rq_s(q, "primary_exchange");
	currency = rq_s(q, "currency");
	rq_skip(q, 2);
	if (strcmp(sec_type, "BAG") == 0) {
		n = rq_i(q, NULL);
		rq_skip(q, n > 0 && n < 1000 ? (int)n * 4 : 0);
	}
	if (rq_i(q, NULL))
		rq_skip(q, 3);
	generic = rq_s(q, "generic_ticks");
	snapshot = (int)rq_i(q, "snapshot");
	snapshot |= (int)rq_i(q, "regulatory_snapshot");
	rq_s(q, NULL);
	if (rq_end(q) < 0)
		return;
	if (snapshot && *generic != '\0') {
		m_err(c, req, 321, "Error validating request:-'bX' : cause - "
		    "Snapshot market data subscription is not applicable to "
		    "generic ticks");
		return;
	}
	if ((s = resolve(c, req, con_id, symbol, sec_type, primary,
	    currency)) == NULL)
		return;
	if (s->md == MD_NONE) {
		m_err(c, req, 354, "Requested market data is not subscribed.");
		return;
	}
	type = c->mdtype;
	if (s->md == MD_DELAYED && type < 3) {
		m_err(c, req, 10089, "Requested market data requires "
		    "additional subscription for API. See link in 'Market Data "
		    "Connections' dialog for more details.Delayed market data "
		    "is available.");
		return;
	}
	if (s->md == MD_LIVE)
		type = (type == 2 || type == 4) && !quotes_live(s) ? 2 : 1;
	else
		type = type == 4 && !quotes_live(s) ? 4 : 3;
	if (!snapshot) {
		for (i = lines = 0; i < c->nsubs; i++)
			lines += c->subs[i].kind == SUB_MKT &&
			    c->subs[i].req != req;
		if (lines >= 100) {
			m_err(c, req, 101, "Max number of tickers has been "
			    "reached");
			return;
		}
	}
	m_tick_req_params(c, req, s);
	m_md_type(c, req, type);
	if (type >= 3)
		m_err(c, req, 10167, "Requested market data is not subscribed. "
		    "Displaying delayed market data.");
	md_ticks(c, req, s, type, 31);
	if (snapshot) {
		m_simple(c, 57, "TICK_SNAPSHOT_END", "req_id", req);
		return;
	}
	memset(&sb, 0, sizeof sb);
	sb.kind = SUB_MKT;
	sb.req = req;
	sb.sym = s;
	sb.type = type;
	sub_add(c, sb);
}

static void
h_cancel_mkt(struct rq *q)
{
	long long req;

	rq_skip(q, 1);
	req = rq_i(q, "req_id");
	if (rq_end(q) == 0 && !sub_del(q->c, SUB_MKT, req))
		m_err(q->c, req, 300, "Can't find EId with tickerId:%lld", req);
}

static void
h_contract(struct rq *q)
{
	struct sym *m[16];
	long long req, con_id;
	const char *symbol, *sec_type, *exchange, *primary, *currency, *idt;
	const char *id;
	int i, n;

	rq_skip(q, 1);
	req = rq_i(q, "req_id");
	con_id = rq_i(q, "con_id");
	symbol = rq_s(q, "symbol");
	sec_type = rq_s(q, "sec_type");
	rq_skip(q, 4);
	exchange = rq_s(q, "exchange");
	primary = rq_s(q, "primary_exchange");
	currency = rq_s(q, "currency");
	rq_skip(q, 3);
	idt = rq_s(q, "sec_id_type");
	id = rq_s(q, "sec_id");
	rq_s(q, NULL);
	if (rq_end(q) < 0)
		return;
	n = match(con_id, symbol, sec_type, primary, currency,
	    strcmp(idt, "ISIN") == 0 && *id ? id : NULL, m, 16);
	if (n == 0) {
		m_err(q->c, req, 200, "No security definition has been found "
		    "for the request");
		return;
	}
	for (i = 0; i < n; i++)
		m_contract_data(q->c, req, m[i], *exchange ? exchange :
		    "SMART");
	m_simple(q->c, 52, "CONTRACT_DATA_END", "req_id", req);
}

/* Fill an order's fields from PLACE_ORDER (section 3.3, 115 fields for a
 * plain order; the conditional groups are skipped as they come). */
struct place {
	long long id, con_id;
	const char *symbol, *sec_type, *exchange, *primary, *currency;
	const char *action, *type, *tif, *account, *ref;
	double qty, lmt;
	int transmit, outside_rth, what_if;
};

static void
place_decode(struct rq *q, struct place *p)
{
	const char *s;
	long long n;
	double d;

	p->id = rq_i(q, "order_id");
	p->con_id = rq_i(q, "con_id");
	p->symbol = rq_s(q, "symbol");
	p->sec_type = rq_s(q, "sec_type");
	rq_skip(q, 4);
	p->exchange = rq_s(q, "exchange");
	p->primary = rq_s(q, "primary_exchange");
	p->currency = rq_s(q, "currency");
	rq_skip(q, 4);				/* #12-#15 */
	p->action = rq_s(q, "action");		/* #16 */
	p->qty = rq_d(q, "qty");
	p->type = rq_s(q, "type");
	p->lmt = rq_d(q, "limit");
	rq_d(q, "aux");
	p->tif = rq_s(q, "tif");
	rq_s(q, NULL);				/* #22 ocaGroup */
	p->account = rq_s(q, "account");
	rq_skip(q, 2);
	p->ref = rq_s(q, "ref");		/* #26 */
	p->transmit = (int)rq_i(q, "transmit");
	rq_i(q, "parent_id");
	rq_skip(q, 4);				/* #29-#32 */
	p->outside_rth = (int)rq_i(q, "outside_rth");	/* #33 */
	rq_skip(q, 31);				/* #34-#64 */
	s = rq_s(q, NULL);			/* #65 deltaNeutralOrderType */
	rq_skip(q, 1);
	if (*s != '\0')
		rq_skip(q, 8);
	rq_skip(q, 6);				/* #67-#72 */
	d = rq_d(q, NULL);			/* #73 scalePriceIncrement */
	if (d > 0)
		rq_skip(q, 7);
	rq_skip(q, 3);				/* #74-#76 */
	if (*rq_s(q, NULL) != '\0')		/* #77 hedgeType */
		rq_skip(q, 1);
	rq_skip(q, 4);				/* #78-#81 */
	if (rq_i(q, NULL))			/* #82 deltaNeutralContract */
		rq_skip(q, 3);
	if (*rq_s(q, NULL) != '\0') {		/* #83 algoStrategy */
		n = rq_i(q, NULL);
		rq_skip(q, n > 0 && n < 1000 ? (int)n * 2 : 0);
	}
	rq_skip(q, 1);				/* #84 algoId */
	p->what_if = (int)rq_i(q, NULL);	/* #85 */
	rq_skip(q, 4);				/* #86-#89 */
	if (strcmp(p->type, "PEG BENCH") == 0 ||
	    strcmp(p->type, "PEGBENCH") == 0)
		rq_skip(q, 5);
	if (rq_i(q, NULL) > 0) {		/* #90 conditions: not decoded */
		q->open_end = 1;
		return;
	}
	rq_skip(q, 24);				/* #91-#114 */
}

static int
off_tick(double px, double tick)
{
	double k = px / tick;

	return fabs(k - floor(k + 0.5)) > 1e-6;
}

static void
h_place(struct rq *q)
{
	struct conn *c = q->c;
	struct place p;
	struct order *od;
	struct acct *a;
	struct sym *s;
	time_t next;
	char when[64];
	long long nxt;
	int all, wait;

	memset(&p, 0, sizeof p);
	place_decode(q, &p);
	if (rq_end(q) < 0)
		return;
	nxt = next_id_for(c->client);
	next_id_seen(c->client, p.id);
	if ((s = resolve(c, p.id, p.con_id, p.symbol, p.sec_type, p.primary,
	    p.currency)) == NULL)
		return;
	if (!(p.qty > 0)) {
		m_err(c, p.id, 434, "The order size cannot be zero.");
		return;
	}
	if (strcmp(p.action, "BUY") && strcmp(p.action, "SELL")) {
		m_err(c, p.id, 321, "Error validating request:-'action' : "
		    "cause - Invalid action \"%s\"", p.action);
		return;
	}
	if (strcmp(p.type, "MKT") && strcmp(p.type, "LMT") &&
	    strcmp(p.type, "MOC")) {
		m_err(c, p.id, 387, "Unsupported order type for this exchange "
		    "and security type.");
		return;
	}
	if (strcmp(p.type, "LMT") == 0 && (isnan(p.lmt) || p.lmt <= 0 ||
	    off_tick(p.lmt, s->min_tick))) {
		m_err(c, p.id, 110, "The price does not conform to the minimum "
		    "price variation for this contract.");
		return;
	}
	if (strcmp(p.type, "MOC") == 0 && strcmp(p.tif, "DAY") != 0) {
		m_err(c, p.id, 113, "Tif should be DAY for MOC and LOC orders");
		return;
	}
	od = order_find(c->client, p.id);
	if (od != NULL && !OS_OPEN(od->st)) {
		m_err(c, p.id, 103, "Duplicate order id");
		return;
	}
	if (*p.account == '\0' && g.naccts > 1) {
		m_err(c, p.id, 435, "You must specify an account.");
		return;
	}
	a = *p.account ? req_acct(p.account, &all) : g.accts[0];
	if (a == NULL) {
		m_err(c, p.id, 321, "Error validating request:-'account' : "
		    "cause - Account \"%s\" is not managed by this login",
		    p.account);
		return;
	}
	if (od != NULL) {			/* modify */
		if (od->sym != s || od->acct != a) {
			m_err(c, p.id, 103, "Duplicate order id");
			return;
		}
		od->qty = p.qty > od->filled ? p.qty : od->qty;
		od->lmt = strcmp(p.type, "LMT") == 0 ? p.lmt : NAN;
		snprintf(od->type, sizeof od->type, "%s", p.type);
		snprintf(od->tif, sizeof od->tif, "%s", p.tif);
		free(od->ref);
		od->ref = xstrdup(p.ref);
		od->buy = p.action[0] == 'B';
		od->outside_rth = p.outside_rth;
		notify_order(od, NULL);
		return;
	}
	if (p.id < nxt) {
		m_err(c, p.id, 103, "Duplicate order id");
		return;
	}
	od = xmalloc(sizeof *od);
	memset(od, 0, sizeof *od);
	od->id = p.id;
	od->perm = ++g.perm_seq;
	od->client = c->client;
	od->acct = a;
	od->sym = s;
	od->exchange = xstrdup(*p.exchange ? p.exchange : "SMART");
	od->ref = xstrdup(p.ref);
	od->buy = p.action[0] == 'B';
	od->outside_rth = p.outside_rth;
	snprintf(od->type, sizeof od->type, "%s", p.type);
	snprintf(od->tif, sizeof od->tif, "%s", *p.tif ? p.tif : "DAY");
	od->qty = p.qty;
	od->lmt = strcmp(p.type, "LMT") == 0 ? p.lmt : NAN;
	PUSH(g.orders, g.norders, g.cap_orders, od);
	if (s->reject != NULL || p.what_if) {
		od->st = OS_INACTIVE;
		m_err(c, p.id, 201, "Order rejected - reason:%s", s->reject ?
		    s->reject : "ib-sim does not simulate what-if orders");
		m_order_status(c, od, "Inactive");
		return;
	}
	wait = order_arm(od, &next);
	od->staged = !p.transmit;
	od->st = wait || od->staged || strcmp(od->type, "MOC") == 0 ?
	    OS_PRESUBMITTED : OS_SUBMITTED;
	od->held = wait;
	notify_order(od, NULL);
	if (wait && !od->staged) {
		if (next)
			local_fmt(s, next, when, sizeof when);
		else
			snprintf(when, sizeof when, "the next session");
		m_err(c, p.id, 399, "Order Message:\n%s %g %s %s.%s\nWarning: "
		    "your order will not be placed at the exchange until %s",
		    p.action, p.qty, s->symbol, s->primary, s->trading_class,
		    when);
	}
}

static void
h_cancel(struct rq *q)
{
	struct order *od;
	long long id;

	rq_skip(q, 1);
	id = rq_i(q, "order_id");
	rq_s(q, "manual_cancel_time");
	if (rq_end(q) < 0)
		return;
	if ((od = order_find(q->c->client, id)) == NULL) {
		m_err(q->c, id, 10147, "OrderId %lld that needs to be "
		    "cancelled is not found.", id);
		return;
	}
	if (!OS_OPEN(od->st)) {
		m_err(q->c, id, 161, "Cancel attempted when order is not in a "
		    "cancellable state.  Order permId =%lld", od->perm);
		return;
	}
	order_cancelled(od, q->c);
}

static void
open_orders(struct conn *c, int all)
{
	int i;

	for (i = 0; i < g.norders; i++) {
		struct order *od = g.orders[i];

		if (!OS_OPEN(od->st) || (!all && od->client != c->client))
			continue;
		m_open_order(c, od);
		m_order_status(c, od, os_name[od->st]);
	}
	m_simple(c, 53, "OPEN_ORDER_END", NULL, 0);
}

static void
h_open_orders(struct rq *q)
{
	rq_skip(q, 1);
	if (rq_end(q) == 0)
		open_orders(q->c, 0);
}

static void
h_all_open_orders(struct rq *q)
{
	rq_skip(q, 1);
	if (rq_end(q) == 0)
		open_orders(q->c, 1);
}

static void
h_auto_open(struct rq *q)
{
	rq_skip(q, 1);
	rq_i(q, "auto_bind");
	if (rq_end(q) == 0 && q->c->client != 0)
		m_err(q->c, -1, 327, "Only the default client (i.e. client id "
		    "0) can bind orders");
}

static void
h_global_cancel(struct rq *q)
{
	int i;

	rq_skip(q, 1);
	if (rq_end(q) < 0)
		return;
	for (i = 0; i < g.norders; i++)
		if (OS_OPEN(g.orders[i]->st))
			order_cancelled(g.orders[i], NULL);
}

/* "yyyymmdd hh:mm:ss [zone]" (zone default: the gateway's) or
 * "yyyymmdd-hh:mm:ss" (UTC). -1 when malformed. */
static int
parse_ib_time(const char *s, double *t)
{
	struct tm tm;
	int y, mo, d, h, mi, se, n = 0;
	char sep;
	time_t u;

	memset(&tm, 0, sizeof tm);
	if (sscanf(s, "%4d%2d%2d%c%2d:%2d:%2d%n", &y, &mo, &d, &sep, &h, &mi,
	    &se, &n) != 7 || (sep != ' ' && sep != '-'))
		return -1;
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = se;
	s += n;
	while (*s == ' ')
		s++;
	if (sep == '-') {
		*t = (double)timegm(&tm);
		return 0;
	}
	if (tm_mkutc(*s ? s : g.tz, &tm, &u) < 0)
		return -1;
	*t = (double)u;
	return 0;
}

static void
h_execs(struct rq *q)
{
	long long req, client;
	const char *acct, *time, *symbol, *sec_type, *exchange, *side;
	double since = 0;
	int i;

	rq_skip(q, 1);
	req = rq_i(q, "req_id");
	client = rq_i(q, "filter_client_id");
	acct = rq_s(q, "account");
	time = rq_s(q, "time");
	symbol = rq_s(q, "symbol");
	sec_type = rq_s(q, "sec_type");
	exchange = rq_s(q, "exchange");
	side = rq_s(q, "side");
	if (rq_end(q) < 0)
		return;
	if (*time && parse_ib_time(time, &since) < 0) {
		m_err(q->c, req, 321, "Error validating request:-'time' : "
		    "cause - Invalid time \"%s\"", time);
		return;
	}
	for (i = 0; i < g.nexecs; i++) {
		struct exec *e = g.execs[i];

		if ((client && e->client != client) ||
		    (*acct && strcmp(acct, e->acct->id)) ||
		    e->time < since ||
		    (*symbol && strcmp(symbol, e->sym->symbol)) ||
		    (*sec_type && strcmp(sec_type, "STK")) ||
		    (*exchange && strcmp(exchange, e->sym->primary) &&
		    strcmp(exchange, "SMART")) ||
		    (*side && (side[0] == 'B') != e->buy))
			continue;
		m_execution(q->c, req, e);
		m_commission(q->c, e);
	}
	m_simple(q->c, 55, "EXECUTION_DATA_END", "req_id", req);
}

/* ------------------------------------------------------------------ */
/* 10. Scripted events                                                 */
/* ------------------------------------------------------------------ */

/* The notices of a change of the gateway's connectivity to IB (CODE 1100,
 * 2110, 1101, 1102; 0: the farm notices of a connection made while IB is
 * there), tws-protocol.md 4.2. */
static void
net_notices(struct conn *c, int code)
{
	switch (code) {
	case 1100:
		m_err(c, -1, 1100, "Connectivity between IB and Trader "
		    "Workstation has been lost.");
		break;
	case 2110:
		m_err(c, -1, 2110, "Connectivity between Trader Workstation "
		    "and server is broken. It will be restored automatically.");
		break;
	case 1101:
		m_err(c, -1, 1101, "Connectivity between IB and Trader "
		    "Workstation has been restored - data lost.");
		break;
	case 1102:
		m_err(c, -1, 1102, "Connectivity between IB and Trader "
		    "Workstation has been restored - data maintained.");
		break;
	}
	if (code == 1100 || code == 2110) {
		m_err(c, -1, 2103, "Market data farm connection is "
		    "broken:usfarm");
		m_err(c, -1, 2105, "HMDS data farm connection is "
		    "broken:ushmds");
		m_err(c, -1, 2157, "Sec-def data farm connection is "
		    "broken:secdefnj");
	} else {
		m_err(c, -1, 2104, "Market data farm connection is OK:usfarm");
		m_err(c, -1, 2106, "HMDS data farm connection is OK:ushmds");
		m_err(c, -1, 2158, "Sec-def data farm connection is "
		    "OK:secdefnj");
	}
}

static void held_replay(struct conn *c);

/* The gateway loses IB (1100, 2110) or gets it back (1101, 1102). */
static void
net_change(struct event *ev)
{
	struct sub *sb;
	int i, k;

	cur_latency = g.lat_default;
	g.offline = ev->net == NET_LOST ? ev->code : 0;
	for (i = 0; i < g.nconns; i++) {
		struct conn *c = g.conns[i];

		if (c->state != CS_READY || c->dead)
			continue;
		net_notices(c, ev->code);
		if (ev->code == 1101) {
			/* data lost: every subscription is gone */
			for (k = 0; k < c->nsubs; k++)
				free(c->subs[k].tags);
			c->nsubs = 0;
			c->positions = 0;
			c->updates = NULL;
		} else if (ev->code == 1102) {
			/* data maintained: the streams catch up */
			for (k = 0; k < c->nsubs; k++) {
				sb = &c->subs[k];
				if (sb->kind == SUB_MKT)
					md_ticks(c, sb->req, sb->sym,
					    sb->type, 31);
			}
		}
	}
	/* then the requests that waited, once every client knows */
	for (i = 0; i < g.nconns && ev->net == NET_RESTORED; i++)
		if (g.conns[i]->state == CS_READY && !g.conns[i]->dead)
			held_replay(g.conns[i]);
}

static void
px_journal(jv *j, const char *key, int set, struct px p)
{
	if (!set)
		return;
	*j = jv_object_set(*j, jv_string(key), p.st == PX_SET ?
	    jv_number(p.v) : p.st == PX_NAN ? jv_string("nan") :
	    p.st == PX_ABSENT ? jv_string("absent") : jv_null());
}

static void
event_fire(struct event *ev, int index)
{
	struct sym *s = ev->sym;
	jv j = jhead(NULL, "event", ev->net ? "CONNECTIVITY" :
	    ev->auction ? "AUCTION" : "QUOTE");
	int i, k, mask = 0;

	ev->fired = 1;
	j = jv_object_set(j, jv_string("event"), jv_number(index));
	if (ev->net) {
		j = jv_object_set(j, jv_string("state"),
		    jv_string(ev->net == NET_LOST ? "lost" : "restored"));
		j = jv_object_set(j, jv_string("code"), jv_number(ev->code));
		journal(j);
		net_change(ev);
		return;
	}
	if (s != NULL)
		j = jv_object_set(j, jv_string("symbol"),
		    jv_string(s->symbol));
	px_journal(&j, "bid", ev->set_bid, ev->bid);
	px_journal(&j, "ask", ev->set_ask, ev->ask);
	px_journal(&j, "last", ev->set_last, ev->last);
	px_journal(&j, "close", ev->set_close, ev->close);
	journal(j);
	if (s != NULL) {
		if (ev->set_bid) {
			s->bid = ev->bid;
			mask |= 1;
		}
		if (ev->set_ask) {
			s->ask = ev->ask;
			mask |= 2;
		}
		if (ev->set_last) {
			s->last = ev->last;
			mask |= 4;
		}
		if (ev->set_close) {
			s->close = ev->close;
			mask |= 8;
		}
		if (ev->volume >= 0) {
			s->volume = ev->volume;
			mask |= 16;
		}
		cur_latency = g.lat_default;
		/* while IB is lost no tick comes (1102 catches up) */
		for (i = 0; i < g.nconns && !g.offline; i++) {
			struct conn *c = g.conns[i];

			if (c->state != CS_READY || c->dead)
				continue;
			for (k = 0; k < c->nsubs; k++)
				if (c->subs[k].kind == SUB_MKT &&
				    c->subs[k].sym == s && mask)
					md_ticks(c, c->subs[k].req, s,
					    c->subs[k].type, mask);
		}
	}
	if (ev->auction)
		for (i = 0; i < g.norders; i++)
			if (OS_OPEN(g.orders[i]->st) &&
			    strcmp(g.orders[i]->type, "MOC") == 0 &&
			    (s == NULL || g.orders[i]->sym == s))
				g.orders[i]->auction = 1;
}

/* A request named NAME arrived: arm the events waiting on it. */
static void
events_arm(const char *name)
{
	int i;

	for (i = 0; i < g.nevents; i++) {
		struct event *ev = &g.events[i];

		if (ev->on != NULL && ev->armed < 0 &&
		    strcmp(ev->on, name) == 0 && ++ev->seen >= ev->count)
			ev->armed = now_ms();
	}
}

static double
event_due(struct event *ev)
{
	if (ev->fired)
		return INF;
	if (ev->at > 0)
		return sim_to_ms(ev->at);
	if (ev->armed < 0)
		return INF;
	return ev->armed + ev->after_ms;
}

/* Fire due events, then give every open order its chance. */
static void
engine(void)
{
	int i;

	for (i = 0; i < g.nevents; i++)
		if (!g.events[i].fired && event_due(&g.events[i]) <= now_ms())
			event_fire(&g.events[i], i);
	/* while IB is lost nothing fills and no order moves on */
	for (i = 0; i < g.norders && !g.offline; i++)
		order_try(g.orders[i]);
}

/* Real ms of the next thing time alone will do. */
static double
engine_wake(void)
{
	double t = INF, w;
	int i;

	for (i = 0; i < g.nevents; i++)
		if ((w = event_due(&g.events[i])) < t)
			t = w;
	for (i = 0; i < g.norders && !g.offline; i++)
		if ((w = order_wake(g.orders[i])) < t)
			t = w;
	return t;
}

/* ------------------------------------------------------------------ */
/* 11. Connections and the poll loop                                   */
/* ------------------------------------------------------------------ */

static volatile sig_atomic_t stop;

static void
on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static double
latency_for(const char *name)
{
	int i;

	for (i = 0; i < g.nlat; i++)
		if (strcmp(g.lat[i].name, name) == 0)
			return g.lat[i].ms;
	return g.lat_default;
}

static void held_drop(struct conn *c);

static void
conn_close(struct conn *c, const char *why)
{
	if (c->dead)
		return;
	held_drop(c);
	journal_event(c, "CLOSE", why);
	close(c->fd);
	c->fd = -1;
	c->dead = 1;
}

static void
conn_free(struct conn *c)
{
	int i;

	for (i = c->qh; i < c->qn; i++)
		jv_free(c->q[i].j);
	for (i = 0; i < c->nsubs; i++)
		free(c->subs[i].tags);
	for (i = 0; i < c->nheld; i++)
		twsf_msg_free(&c->held[i]);
	free(c->held);
	free(c->subs);
	free(c->q);
	free(c->rate);
	twsf_rd_free(&c->rd);
	twsf_buf_free(&c->out);
	free(c);
}

static int
rule_hits(struct rule *r, int num)
{
	int i;

	if (r->nconns == 0)
		return 1;
	for (i = 0; i < r->nconns; i++)
		if (r->conns[i] == num)
			return 1;
	return 0;
}

/* Apply the fault rules: those for any client id at accept (BYID 0), those
 * naming this client id at START_API (BYID 1). */
static void
rules_apply(struct conn *c, int byid)
{
	int i;

	for (i = 0; i < g.nrules; i++) {
		struct rule *r = &g.rules[i];

		if (!rule_hits(r, c->num) ||
		    (byid ? r->client != c->client : r->client >= 0))
			continue;
		c->refuse |= r->refuse;
		c->dup |= r->dup;
		if (r->silent_after >= 0)
			c->silent_after = r->silent_after;
		if (r->disconnect_after >= 0)
			c->disconnect_after = r->disconnect_after;
		if (r->pacing >= 0)
			c->pacing = r->pacing;
		if (r->hostile != H_NONE) {
			c->hostile = r->hostile;
			c->hostile_after = r->hostile_after;
			c->rng = r->seed;	/* the same bytes every time */
		}
	}
}

/* Over the pacing limit: more than c->pacing messages in the last second. */
static int
paced_out(struct conn *c)
{
	double now = now_ms();

	if (c->pacing <= 0)
		return 0;
	if (c->nrate != c->pacing) {
		free(c->rate);
		c->rate = xmalloc((size_t)c->pacing * sizeof *c->rate);
		for (c->rpos = 0; c->rpos < c->pacing; c->rpos++)
			c->rate[c->rpos] = -INF;
		c->nrate = c->pacing;
		c->rpos = 0;
	}
	if (now - c->rate[c->rpos] < 1000)
		return 1;
	c->rate[c->rpos] = now;
	c->rpos = (c->rpos + 1) % c->nrate;
	return 0;
}

static void
h_start(struct rq *q)
{
	struct conn *c = q->c;
	long long id;
	int i;

	rq_skip(q, 1);
	id = rq_i(q, "client_id");
	rq_s(q, "capabilities");
	if (rq_end(q) < 0) {
		c->closing = 1;
		c->why = "bad START_API";
		return;
	}
	if (c->state != CS_START)
		return;
	c->client = (int)id;
	rules_apply(c, 1);
	for (i = 0; i < g.nconns; i++)
		if (g.conns[i] != c && g.conns[i]->state == CS_READY &&
		    !g.conns[i]->dead && g.conns[i]->client == c->client)
			c->dup = 1;
	if (c->dup) {
		m_err(c, -1, 326, "Unable to connect as the client id is already "
		    "in use. Retry with a unique client id.");
		c->closing = 1;
		c->why = "duplicate client id";
		return;
	}
	c->state = CS_READY;
	m_managed(c);
	m_simple(c, 9, "NEXT_VALID_ID", "order_id", next_id_for(c->client));
	net_notices(c, g.offline);	/* farm notices, or IB is lost */
}

static const struct handler {
	int id;
	const char *name;
	void (*fn)(struct rq *);
} handlers[] = {
	{ 1, "REQ_MKT_DATA", h_mkt_data },
	{ 2, "CANCEL_MKT_DATA", h_cancel_mkt },
	{ 3, "PLACE_ORDER", h_place },
	{ 4, "CANCEL_ORDER", h_cancel },
	{ 5, "REQ_OPEN_ORDERS", h_open_orders },
	{ 6, "REQ_ACCOUNT_UPDATES", h_acct_updates },
	{ 7, "REQ_EXECUTIONS", h_execs },
	{ 8, "REQ_IDS", h_ids },
	{ 9, "REQ_CONTRACT_DATA", h_contract },
	{ 15, "REQ_AUTO_OPEN_ORDERS", h_auto_open },
	{ 16, "REQ_ALL_OPEN_ORDERS", h_all_open_orders },
	{ 17, "REQ_MANAGED_ACCTS", h_managed },
	{ 49, "REQ_CURRENT_TIME", h_time },
	{ 58, "REQ_GLOBAL_CANCEL", h_global_cancel },
	{ 59, "REQ_MARKET_DATA_TYPE", h_md_type },
	{ 61, "REQ_POSITIONS", h_positions },
	{ 62, "REQ_ACCOUNT_SUMMARY", h_summary },
	{ 63, "CANCEL_ACCOUNT_SUMMARY", h_cancel_summary },
	{ 64, "CANCEL_POSITIONS", h_cancel_positions },
	{ 71, "START_API", h_start },
	{ 74, "REQ_POSITIONS_MULTI", h_pos_multi },
	{ 75, "CANCEL_POSITIONS_MULTI", h_cancel_pos_multi },
	{ 76, "REQ_ACCOUNT_UPDATES_MULTI", h_upd_multi },
	{ 77, "CANCEL_ACCOUNT_UPDATES_MULTI", h_cancel_upd_multi },
};

/* The handler of frame M (NULL: unknown); *ID its message id, -1 when the
 * first field is not a number. */
static const struct handler *
handler_of(const struct twsf_msg *m, long long *id)
{
	size_t i;
	char *end;

	*id = -1;
	if (m->n > 0) {
		*id = strtoll(m->f[0], &end, 10);
		if (*end != '\0' || end == m->f[0])
			*id = -1;
	}
	for (i = 0; i < sizeof handlers / sizeof handlers[0]; i++)
		if (handlers[i].id == *id)
			return &handlers[i];
	return NULL;
}

/* Decode and answer a request; Q holds its journal head. */
static void
answer(struct rq *q, const struct handler *h, long long id)
{
	cur_latency = latency_for(h ? h->name : "");
	if (h == NULL) {
		q->j = jv_object_set(q->j, jv_string("id"), jv_number(id));
		journal(q->j);
		m_err(q->c, -1, 320, "Error reading request: ib-sim does not "
		    "handle message id %lld", id);
	} else {
		h->fn(q);
	}
}

/* The connection goes away with requests still held: they are dropped. */
static void
held_drop(struct conn *c)
{
	const struct handler *h;
	long long id;
	jv j;
	int i;

	for (i = 0; i < c->nheld; i++) {
		h = handler_of(&c->held[i], &id);
		j = jhead(c, "in", h ? h->name : "UNKNOWN");
		j = jv_object_set(j, jv_string("nfields"),
		    jv_number(c->held[i].n));
		j = jv_object_set(j, jv_string("dropped"),
		    jv_string("offline"));
		journal(j);
		twsf_msg_free(&c->held[i]);
	}
	c->nheld = 0;
}

/* IB is back: answer what came while it was lost, in order. */
static void
held_replay(struct conn *c)
{
	const struct handler *h;
	struct rq q;
	long long id;
	int i, n = c->nheld;

	if (c->closing) {	/* going away: nobody to answer */
		held_drop(c);
		return;
	}
	c->nheld = 0;
	for (i = 0; i < n; i++) {
		struct twsf_msg *m = &c->held[i];

		h = handler_of(m, &id);
		memset(&q, 0, sizeof q);
		q.c = c;
		q.m = m;
		q.j = jhead(c, "in", h ? h->name : "UNKNOWN");
		q.j = jv_object_set(q.j, jv_string("nfields"), jv_number(m->n));
		q.j = jv_object_set(q.j, jv_string("held"), jv_true());
		m->i = 1;
		answer(&q, h, id);
		twsf_msg_free(m);
	}
}

/* One framed request. */
static void
request(struct conn *c, struct twsf_msg *m)
{
	const struct handler *h;
	struct rq q;
	long long id;
	jv j;

	h = handler_of(m, &id);
	c->msgs++;
	memset(&q, 0, sizeof q);
	q.c = c;
	q.m = m;
	q.j = jhead(c, "in", h ? h->name : "UNKNOWN");
	q.j = jv_object_set(q.j, jv_string("nfields"), jv_number(m->n));
	m->i = 1;
	if (c->state == CS_START && id != 71) {
		journal(q.j);
		c->closing = 1;
		c->silent = 1;
		c->why = "request before START_API";
		return;
	}
	if (c->silent || paced_out(c)) {
		q.j = jv_object_set(q.j, jv_string("dropped"),
		    jv_string(c->silent ? "silent" : "pacing"));
		journal(q.j);
		if (!c->silent)
			m_err(c, -1, 100, "Max rate of messages per second has "
			    "been exceeded:max=%ld", c->pacing);
		return;
	}
	if (g.offline && id != 71) {
		/* IB is lost: kept (M taken over) until it is back */
		jv_free(q.j);
		j = jhead(c, "event", "HELD");
		j = jv_object_set(j, jv_string("request"),
		    jv_string(h ? h->name : "UNKNOWN"));
		journal(j);
		if (c->nheld == c->heldcap) {
			c->heldcap = c->heldcap ? c->heldcap * 2 : 8;
			c->held = xrealloc(c->held, (size_t)c->heldcap *
			    sizeof *c->held);
		}
		c->held[c->nheld++] = *m;
		m->f = NULL;
		m->n = m->i = 0;
	} else {
		answer(&q, h, id);
	}
	if (h != NULL)
		events_arm(h->name);
	if (c->silent_after >= 0 && c->msgs >= c->silent_after)
		c->silent = 1;
	if (c->disconnect_after > 0 && c->msgs >= c->disconnect_after &&
	    !c->closing) {
		c->closing = 1;
		c->why = "disconnect_after";
	}
}

/* The greeting's version frame: "v<min>..<max>" or "v<n>", options after a
 * space ignored. Reply min(max, server version); close when impossible. */
static void
handshake(struct conn *c, struct twsf_msg *m)
{
	const char *v = m->n > 0 ? m->f[0] : "";
	long lo = 0, hi = 0;
	char *end;
	jv j = jhead(c, "in", "HANDSHAKE");
	struct om o;
	char t[64];
	int nego;

	j = jv_object_set(j, jv_string("versions"), jv_string(v));
	journal(j);
	if (*v == 'v') {
		lo = strtol(v + 1, &end, 10);
		hi = lo;
		if (end[0] == '.' && end[1] == '.')
			hi = strtol(end + 2, &end, 10);
		if (*end != '\0' && *end != ' ')
			lo = 0;
	}
	if (lo < 100 || hi < lo || lo > g.server_version) {
		conn_close(c, "bad version range");
		return;
	}
	nego = hi < g.server_version ? (int)hi : g.server_version;
	cur_latency = g.lat_default;
	om_begin(&o, c, nego, "SERVER_VERSION");
	o.j = jv_object_set(o.j, jv_string("version"), jv_number(nego));
	om_s(&o, "time", ib_time(sim_now(), t, sizeof t));
	om_end(&o);
	c->state = CS_START;
	if (nego != SERVER_VERSION) {
		c->closing = 1;
		c->silent = 1;
		c->why = "server version below 176";
	}
}

static void
conn_input(struct conn *c)
{
	struct twsf_msg m;
	char api[4];
	int r;

	while (!c->dead && !c->closing) {
		if (c->state == CS_GREET) {
			if (!twsf_take(&c->rd, api, 4))
				return;
			if (memcmp(api, "API", 4) != 0) {
				conn_close(c, "no API greeting");
				return;
			}
			c->state = CS_VERSION;
			continue;
		}
		if ((r = twsf_frame(&c->rd, &m)) == 0)
			return;
		if (r < 0) {
			conn_close(c, "frame over 16 MiB");
			return;
		}
		if (c->state == CS_VERSION)
			handshake(c, &m);
		else
			request(c, &m);
		twsf_msg_free(&m);
	}
}

static void
conn_read(struct conn *c)
{
	ssize_t n;
	int i;

	/* Read until the socket is empty (a few times at most), so that the
	 * end of a client that sent its last requests and closed is seen in
	 * the same round: it no longer counts against max_clients when the
	 * account's next tool connects. */
	for (i = 0; i < 8 && !c->dead; i++) {
		n = twsf_read(&c->rd, c->fd);
		if (n == 0) {
			conn_close(c, "closed by the client");
		} else if (n < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK &&
			    errno != EINTR)
				conn_close(c, strerror(errno));
			return;
		} else if (c->closing) {
			c->rd.off = c->rd.len;	/* input after the end: dropped */
		} else {
			conn_input(c);
		}
	}
}

/* Write what is due; returns the real ms when more becomes due. */
static double
conn_flush(struct conn *c)
{
	double next;
	ssize_t n;

	if (c->dead)
		return INF;
	next = conn_release(c);
	while (c->ready > 0) {
		n = send(c->fd, c->out.p, c->ready, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				conn_close(c, strerror(errno));
			break;
		}
		twsf_drop(&c->out, (size_t)n);
		c->ready -= (size_t)n;
	}
	if (!c->dead && c->closing && c->ready == 0 && c->qn == 0)
		conn_close(c, c->why);
	return next;
}

static void
conn_accept(int lfd)
{
	struct conn *c;
	int fd, one = 1;

	while ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK |
	    SOCK_CLOEXEC)) >= 0) {
		c = xmalloc(sizeof *c);
		memset(c, 0, sizeof *c);
		c->fd = fd;
		c->num = ++g.conn_seq;
		c->client = -1;
		c->mdtype = 1;
		c->silent_after = c->disconnect_after = -1;
		c->pacing = g.pacing;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		rules_apply(c, 0);
		journal_event(c, "CONNECT", NULL);
		if (g.nconns >= g.max_clients || c->refuse) {
			conn_close(c, c->refuse ? "not logged in" :
			    "too many clients");
			conn_free(c);
			continue;
		}
		if (c->silent_after == 0)
			c->silent = 1;
		g.conns[g.nconns++] = c;
	}
	if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
	    errno != ECONNABORTED)
		warnx("accept:");
}

static void
sweep(void)
{
	int i, n = 0;

	for (i = 0; i < g.nconns; i++) {
		if (g.conns[i]->dead)
			conn_free(g.conns[i]);
		else
			g.conns[n++] = g.conns[i];
	}
	g.nconns = n;
}

static int
listen_on(long port)
{
	struct sockaddr_in sa;
	socklen_t len = sizeof sa;
	int fd, one = 1;

	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0)) < 0)
		die(EX_OSERR, "socket:");
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	memset(&sa, 0, sizeof sa);
	sa.sin_family = AF_INET;
	sa.sin_port = htons((unsigned short)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0)
		die(EX_UNAVAILABLE, "bind 127.0.0.1:%ld:", port);
	if (listen(fd, 64) < 0)
		die(EX_OSERR, "listen:");
	if (getsockname(fd, (struct sockaddr *)&sa, &len) < 0)
		die(EX_OSERR, "getsockname:");
	printf("%d\n", ntohs(sa.sin_port));
	if (fflush(stdout) == EOF || ferror(stdout))
		die(EX_IOERR, "stdout:");
	return fd;
}

static void
serve(int lfd)
{
	struct pollfd fds[1 + 64];
	struct timespec ts, *tsp;
	sigset_t none;
	double wake, t;
	int i, n, nc;

	sigemptyset(&none);
	while (!stop) {
		engine();
		wake = engine_wake();
		for (i = 0; i < g.nconns; i++)
			if ((t = conn_flush(g.conns[i])) < wake)
				wake = t;
		sweep();
		fds[0].fd = lfd;
		fds[0].events = POLLIN;
		nc = g.nconns;
		for (i = 0; i < nc; i++) {
			fds[1 + i].fd = g.conns[i]->fd;
			fds[1 + i].events = POLLIN |
			    (g.conns[i]->ready ? POLLOUT : 0);
			fds[1 + i].revents = 0;
		}
		tsp = NULL;
		if (wake < INF) {
			t = wake - now_ms();
			if (t < 0)
				t = 0;
			ts.tv_sec = (time_t)(t / 1e3);
			ts.tv_nsec = (long)((t - ts.tv_sec * 1e3) * 1e6);
			if (ts.tv_nsec > 999999999)
				ts.tv_nsec = 999999999;
			tsp = &ts;
		}
		n = ppoll(fds, (nfds_t)(1 + nc), tsp, &none);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			die(EX_OSERR, "poll:");
		}
		for (i = 0; i < nc; i++)
			if (fds[1 + i].revents & (POLLIN | POLLHUP | POLLERR))
				conn_read(g.conns[i]);
		/* a client that closed in this round no longer counts against
		 * max_clients: an account's next tool often connects in the
		 * same round as its previous one closes */
		sweep();
		if (fds[0].revents & POLLIN)
			conn_accept(lfd);
	}
}

/* ------------------------------------------------------------------ */
/* 12. Final state and main                                            */
/* ------------------------------------------------------------------ */

static jv
money(double v)
{
	return jv_number(round(v * 100) / 100);
}

static jv
state_json(void)
{
	jv st = jv_object(), list = jv_array(), ps, x;
	char t[32];
	int i, k;

	st = jv_object_set(st, jv_string("at"), jv_string(tm_fmt(sim_now(),
	    t)));
	for (i = 0; i < g.naccts; i++) {
		struct acct *a = g.accts[i];

		ps = jv_array();
		for (k = 0; k < a->npos; k++) {
			if (a->pos[k].qty == 0)
				continue;
			x = jv_object();
			x = jv_object_set(x, jv_string("symbol"),
			    jv_string(a->pos[k].sym->symbol));
			x = jv_object_set(x, jv_string("con_id"),
			    jv_number((double)a->pos[k].sym->con_id));
			x = jv_object_set(x, jv_string("qty"),
			    jv_number(a->pos[k].qty));
			x = jv_object_set(x, jv_string("avg_cost"),
			    jv_number(round(a->pos[k].avg_cost * 1e6) / 1e6));
			ps = jv_array_append(ps, x);
		}
		x = jv_object();
		x = jv_object_set(x, jv_string("id"), jv_string(a->id));
		x = jv_object_set(x, jv_string("cash"), money(a->cash));
		x = jv_object_set(x, jv_string("settled_cash"),
		    money(a->settled));
		x = jv_object_set(x, jv_string("net_liquidation"),
		    money(acct_nlv(a)));
		x = jv_object_set(x, jv_string("positions"), ps);
		list = jv_array_append(list, x);
	}
	st = jv_object_set(st, jv_string("accounts"), list);
	list = jv_array();
	for (i = 0; i < g.norders; i++) {
		struct order *od = g.orders[i];

		x = jv_object();
		x = jv_object_set(x, jv_string("order_id"),
		    jv_number((double)od->id));
		x = jv_object_set(x, jv_string("perm_id"),
		    jv_number((double)od->perm));
		x = jv_object_set(x, jv_string("client_id"),
		    jv_number(od->client));
		x = jv_object_set(x, jv_string("account"),
		    jv_string(od->acct->id));
		x = jv_object_set(x, jv_string("symbol"),
		    jv_string(od->sym->symbol));
		x = jv_object_set(x, jv_string("action"),
		    jv_string(od->buy ? "BUY" : "SELL"));
		x = jv_object_set(x, jv_string("qty"), jv_number(od->qty));
		x = jv_object_set(x, jv_string("type"), jv_string(od->type));
		x = jv_object_set(x, jv_string("limit"), isnan(od->lmt) ?
		    jv_null() : jv_number(od->lmt));
		x = jv_object_set(x, jv_string("tif"), jv_string(od->tif));
		x = jv_object_set(x, jv_string("ref"), jv_string(od->ref));
		x = jv_object_set(x, jv_string("status"),
		    jv_string(os_name[od->st]));
		x = jv_object_set(x, jv_string("filled"),
		    jv_number(od->filled));
		x = jv_object_set(x, jv_string("avg_price"), od->filled > 0 ?
		    jv_number(round(od->avg * 1e6) / 1e6) : jv_null());
		x = jv_object_set(x, jv_string("commission"),
		    money(od->commission));
		list = jv_array_append(list, x);
	}
	st = jv_object_set(st, jv_string("orders"), list);
	list = jv_array();
	for (i = 0; i < g.nexecs; i++) {
		struct exec *e = g.execs[i];

		x = jv_object();
		x = jv_object_set(x, jv_string("exec_id"), jv_string(e->id));
		x = jv_object_set(x, jv_string("order_id"),
		    jv_number((double)e->order_id));
		x = jv_object_set(x, jv_string("perm_id"),
		    jv_number((double)e->perm));
		x = jv_object_set(x, jv_string("client_id"),
		    jv_number(e->client));
		x = jv_object_set(x, jv_string("account"),
		    jv_string(e->acct->id));
		x = jv_object_set(x, jv_string("symbol"),
		    jv_string(e->sym->symbol));
		x = jv_object_set(x, jv_string("action"),
		    jv_string(e->buy ? "BUY" : "SELL"));
		x = jv_object_set(x, jv_string("qty"), jv_number(e->shares));
		x = jv_object_set(x, jv_string("price"), jv_number(e->price));
		x = jv_object_set(x, jv_string("time"),
		    jv_string(tm_fmt(e->time, t)));
		x = jv_object_set(x, jv_string("ref"), jv_string(e->ref));
		x = jv_object_set(x, jv_string("commission"),
		    money(e->commission));
		list = jv_array_append(list, x);
	}
	return jv_object_set(st, jv_string("executions"), list);
}

static void
state_write(const char *path)
{
	FILE *f;

	if ((f = fopen(path, "w")) == NULL)
		die(EX_IOERR, "%s:", path);
	jv_dumpf(state_json(), f, 0);
	putc('\n', f);
	if (fflush(f) == EOF || ferror(f) || fclose(f) == EOF)
		die(EX_IOERR, "%s:", path);
}

int
main(int argc, char **argv)
{
	static const char synopsis[] =
	    "[-hv] [-f scenario.yaml] [-j journal] [-o state] [-p port]";
	const char *scenario = NULL;
	struct sigaction sa;
	struct timespec ts;
	sigset_t block;
	long port = 0;
	time_t next;
	int ch, lfd, i;

	diag_init(argv[0]);
	while ((ch = getopt(argc, argv, "f:hj:o:p:v")) != -1) {
		switch (ch) {
		case 'f':
			scenario = optarg;
			break;
		case 'h':
			usage(synopsis, 1);
		case 'j':
			g.journal_path = optarg;
			break;
		case 'o':
			g.state_path = optarg;
			break;
		case 'p':
			port = opt_long('p', optarg, 0, 65535);
			break;
		case 'v':
			g.verbose = 1;
			break;
		default:
			usage(synopsis, 0);
		}
	}
	if (optind != argc)
		usage(synopsis, 0);

	clock_gettime(CLOCK_MONOTONIC, &ts);
	g.t0 = (double)ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
	scenario_load(scenario);
	if (g.journal_path != NULL &&
	    (g.journal = fopen(g.journal_path, "w")) == NULL)
		die(EX_IOERR, "%s:", g.journal_path);

	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigprocmask(SIG_BLOCK, &block, NULL);
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	for (i = 0; i < g.norders; i++)
		if (OS_OPEN(g.orders[i]->st))
			g.orders[i]->held = order_arm(g.orders[i], &next);
	lfd = listen_on(port);
	serve(lfd);

	close(lfd);
	for (i = 0; i < g.nconns; i++)
		conn_close(g.conns[i], "ib-sim stopped");
	sweep();
	if (g.state_path != NULL)
		state_write(g.state_path);
	if (g.journal != NULL && fclose(g.journal) == EOF)
		die(EX_IOERR, "%s:", g.journal_path);
	return 0;
}
